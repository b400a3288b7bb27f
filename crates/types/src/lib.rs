//! Parley's state schema, shared by the node (`parleyd`), the provers and the proofs crate.
//!
//! What lives here is consensus-critical and versioned (docs/adr/0001-state-commitments.md):
//!
//! - [`StateKey`] / [`StateValue`]: the byte encodings of every committed state entry;
//! - [`StateDiff`]: the per-block list of changed entries, in canonical (key) order, that links
//!   the fast app hash to the Poseidon proof tree;
//! - [`MerkleTree`]: the keccak256 compact sparse Merkle tree whose root is the app hash;
//! - [`ChainMeta`]: the chain bookkeeping entry (base fee, last block, proof-index counter and
//!   freed-index stack depth; the capacity rule of ADR 0011 is [`PROOF_INDEX_CAPACITY`]);
//! - [`LedgerAccount`], [`SequencerEntry`], [`ProverEntry`], [`ValidatorEntry`], [`Pot`]: the
//!   protocol ledger and registries (DESIGN §3), in the app hash but outside the EVM state;
//! - [`bridge`]: the L1 bridge's encodings (epoch digest, validator-set hash, L1 queue,
//!   withdrawal tree), shared with the Rollup contract;
//! - [`BlockRecord`] / [`TxRecord`]: what a node stores about executed blocks and transactions
//!   for JSON-RPC, in a versioned binary codec (not consensus state, but the node's schema).
//!
//! Invariants: encodings are deterministic and versioned (first byte); the app hash is a
//! function of the set of entries only (not of insertion order or batching); the diff never
//! holds a key twice nor an entry whose old and new values are equal.

pub mod bridge;
mod diff;
mod epoch;
mod keys;
mod meta;
mod proof_index;
mod protocol;
mod proving;
mod records;
mod smt;
mod values;

pub use diff::{DiffEntry, StateDiff, chunk_count};
pub use epoch::{Epoch, EpochBlock, EpochCursor, EpochState};
pub use keys::StateKey;
pub use meta::ChainMeta;
pub use proof_index::{
    PROOF_INDEX_CAPACITY, PROOF_TREE_DEPTH, decode_free_index, encode_free_index,
};
pub use protocol::{
    Assignment, BidEntry, Earnings, LedgerAccount, Pot, ProverEntry, REPUTATION_ONE, RevealedBlock,
    Role, SeedCommit, Selection, SequencerEntry, SlotEntry, SlotState, ValidatorEntry,
    decode_amount, decode_forced, encode_amount, encode_forced,
};
pub use proving::{Commit, Missed, ProofChain, ProofSlot, Transition};
pub use records::{
    BlockRecord, RECORD_VERSION, RecordError, RecordReceipt, RecordResult, TxRecord,
};
pub use smt::{EMPTY_ROOT, MerkleProof, MerkleTree};
pub use values::{AccountLeaf, KECCAK_EMPTY, LeafValue, StateValue};

/// Errors decoding state bytes. Any of these on bytes read from our own database means the
/// database is corrupt or from an incompatible version: the node must stop.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended before the encoding did.
    #[error("{what}: expected {expected} bytes, got {got}")]
    Length {
        /// What was being decoded.
        what: &'static str,
        /// Bytes the encoding needs.
        expected: usize,
        /// Bytes available.
        got: usize,
    },
    /// An unknown tag or version byte.
    #[error("{what}: unknown tag {tag:#04x}")]
    Tag {
        /// What was being decoded.
        what: &'static str,
        /// The byte found.
        tag: u8,
    },
}

/// Result alias for decoding.
pub type Result<T, E = DecodeError> = core::result::Result<T, E>;

/// Splits `n` bytes off the front of `buf`.
pub(crate) fn take<'a>(buf: &mut &'a [u8], n: usize, what: &'static str) -> Result<&'a [u8]> {
    if buf.len() < n {
        return Err(DecodeError::Length {
            what,
            expected: n,
            got: buf.len(),
        });
    }
    let (head, tail) = buf.split_at(n);
    *buf = tail;
    Ok(head)
}

pub(crate) fn take_u64(buf: &mut &[u8], what: &'static str) -> Result<u64> {
    let b = take(buf, 8, what)?;
    Ok(u64::from_be_bytes(
        b.try_into().expect("take returned 8 bytes"),
    ))
}

pub(crate) fn take_u256(buf: &mut &[u8], what: &'static str) -> Result<alloy_primitives::U256> {
    Ok(alloy_primitives::U256::from_be_slice(take(buf, 32, what)?))
}
