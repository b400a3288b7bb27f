//! `parley-proofs`: Parley's proof tree, state-diff commitment, block circuit, epoch
//! aggregation and EVM verifier (DESIGN §2 "Two commitments, one state", §4; ADR 0001, 0003).
//!
//! What this crate guarantees:
//! - [`tree::ProofTree`] is the dense, index-addressed depth-32 Poseidon/BN254 tree of ADR 0001;
//!   its root is a function of the set of (index, leaf) pairs, so sequential and batched
//!   updates agree and two honest provers derive the same post-root from the same diff.
//! - [`diff_hash::diff_hash`] is the Poseidon chain commitment of ADR 0003; the native code and
//!   the circuit compute it bit for bit (checked by `tests/vectors/proof_tree.json`).
//! - A block proof verifies only for public instances `[pre_root, post_root, pi_hash]` where
//!   `post_root` is the update of `pre_root` by a diff hashing to `diff_hash`, and `pi_hash`
//!   binds `chain_id, slot, diff_hash, block_commitment, prover_address`. What the crate does
//!   **not** prove: that the diff is what executing the block's transactions produces — that
//!   is attested by the validators' BFT re-execution (see `docs/proofs.md`).
//! - An epoch aggregation proof verifies only if every block proof verifies and the roots
//!   chain (block k's post_root = block k+1's pre_root), enforced in the circuit; the
//!   compression proof that L1 verifies verifies only if that aggregation proof does, and
//!   carries its statement unchanged, in a shape that does not depend on the epoch size.
//! - The Poseidon chip ([`poseidon_chip`]) computes exactly [`poseidon::hash`]'s permutation;
//!   every permutation it proves is wired to the flex-gate cells that use it.
//! - The SRS is deterministic (test/localnet only), cached on disk with a checksum; a damaged
//!   cache is an error, never silently used.

pub mod aggregation;
pub mod bench;
pub mod circuit;
pub mod diff_hash;
pub mod encoding;
pub mod error;
pub mod evm;
pub mod keycache;
pub mod params;
pub mod poseidon;
pub mod poseidon_chip;
pub mod prover;
pub mod tree;
pub mod types;
pub mod vectors;
pub mod witness_codec;

pub use circuit::{
    BlockHeader, BlockPublicInputs, BlockWitness, DEFAULT_INDEX_BITS, FULL_INDEX_BITS,
    MIN_INDEX_BITS,
};
pub use error::{ProofError, Result};
pub use halo2_base::halo2_proofs::halo2curves::bn256::Fr;
pub use prover::{BlockProof, BlockProver, BlockVerifier, Halo2BlockProver, vk_hash};
/// A proof with its protocol and instances: the input of the aggregation circuit.
pub use snark_verifier_sdk::Snark;
pub use tree::{PROOF_TREE_DEPTH, ProofTree};
