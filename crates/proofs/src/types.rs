//! The state diff as the proofs crate reads it (ADR 0001, "The state diff"): the shared
//! `parley-types` definitions, re-exported so that callers can name them from here.

pub use parley_types::{AccountLeaf, DiffEntry, KECCAK_EMPTY, LeafValue, StateDiff, StateKey};
