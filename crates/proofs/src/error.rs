//! Errors of the proofs crate.

use std::path::PathBuf;

/// Everything that can go wrong while building witnesses, proving, verifying or handling
/// parameters. A proof that does not verify is an `Err(ProofError::Invalid)`, never a panic.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// A diff entry's index does not fit the depth-32 proof tree.
    #[error("proof index {0} does not fit a depth-{depth} tree", depth = crate::tree::PROOF_TREE_DEPTH)]
    IndexOutOfRange(u64),
    /// A block circuit asked to open a number of index bits outside
    /// `MIN_INDEX_BITS..=FULL_INDEX_BITS` (ADR 0021).
    #[error("a block circuit opens 8..=32 index bits, not {0}")]
    IndexBits(u32),
    /// A diff entry's index is at or past the `2^bits` leaves the block circuit opens (the
    /// chain's index capacity, ADR 0021).
    #[error(
        "diff entry {position}: proof index {index} does not fit the circuit's {bits} index bits"
    )]
    IndexBeyondCircuit {
        /// position of the entry in the witness
        position: usize,
        /// its proof index
        index: u64,
        /// the circuit's index bits
        bits: u32,
    },
    /// A diff entry's `old` value does not match the leaf currently stored at its index.
    #[error("diff entry {position} (index {index}): old value does not match the proof tree")]
    OldValueMismatch {
        /// position of the entry in the diff
        position: usize,
        /// its proof index
        index: u64,
    },
    /// The same proof index appears twice in one diff.
    #[error("proof index {0} appears twice in one diff")]
    DuplicateIndex(u64),
    /// A diff entry whose key kind and value kind disagree (account key with a storage value),
    /// or whose key is not an EVM key (chain meta).
    #[error("diff entry {0}: not an EVM key, or key kind and value kind differ")]
    KindMismatch(usize),
    /// The diff has more entries than the circuit capacity.
    #[error("diff has {entries} entries, circuit capacity is {capacity}")]
    CapacityExceeded {
        /// entries in the diff
        entries: usize,
        /// capacity of the circuit
        capacity: usize,
    },
    /// The proof did not verify against the given public inputs.
    #[error("proof does not verify: {0}")]
    Invalid(String),
    /// The epoch's block proofs do not chain (block k's post_root != block k+1's pre_root).
    #[error("epoch chain broken between block {0} and block {next}", next = .0 + 1)]
    BrokenChain(usize),
    /// Block proof `.0` of an epoch carries another verifying key than the aggregator's block
    /// circuit (another circuit, capacity or setup).
    #[error("block proof {0} was not made with the block circuit's verifying key")]
    WrongVk(usize),
    /// An empty list was given where at least one item is needed.
    #[error("{0}")]
    Empty(&'static str),
    /// A cached parameter / key file is damaged (bad magic, checksum or truncated).
    #[error("damaged cache file {path}: {reason}; delete it to regenerate")]
    DamagedCache {
        /// the file
        path: PathBuf,
        /// what is wrong
        reason: String,
    },
    /// The trusted setup this process was told to use is missing, damaged, not the pinned
    /// one, or was never chosen (ADR 0014).
    #[error("trusted setup: {0}")]
    Setup(String),
    /// The layer-1 circuit needs more columns in the compression circuit than its pinned shape
    /// at this degree has (ADR 0019): give layer 1 a higher degree (fewer columns).
    #[error(
        "the compression circuit at k = {k} has (advice, lookup, fixed) = {pinned:?} columns, but verifying this layer-1 circuit needs {needed:?}: raise the layer-1 degree (--agg-k) so it has fewer columns"
    )]
    CompressionTooSmall {
        /// compression degree
        k: u32,
        /// columns needed
        needed: (usize, usize, usize),
        /// columns pinned
        pinned: (usize, usize, usize),
    },
    /// halo2 synthesis / keygen / proving failed.
    #[error("halo2: {0}")]
    Halo2(String),
    /// An external tool (solc, anvil) is missing or failed.
    #[error("tool {tool}: {reason}")]
    Tool {
        /// tool name
        tool: &'static str,
        /// what went wrong
        reason: String,
    },
    /// An EVM call reverted or failed.
    #[error("evm: {0}")]
    Evm(String),
    /// I/O.
    #[error("io error on {path}: {source}")]
    Io {
        /// the path involved
        path: PathBuf,
        /// the error
        #[source]
        source: std::io::Error,
    },
    /// Malformed JSON (test vectors, tool output).
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

/// Result alias of this crate.
pub type Result<T, E = ProofError> = std::result::Result<T, E>;

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ProofError {
    let path = path.into();
    move |source| ProofError::Io { path, source }
}
