//! `diff_hash`: the Poseidon commitment to a block's state diff (ADR 0003).
//!
//! ```text
//! acc_0     = DIFF_DOMAIN
//! acc_{i+1} = Poseidon(acc_i, kind, address, slot_hi, slot_lo, index, old_leaf_hash, new_leaf_hash)
//! diff_hash = Poseidon(acc_n, n)
//! ```
//! `old_leaf_hash` / `new_leaf_hash` are the proof-tree leaf hashes (0 for an absent value), so
//! the commitment binds every field of every entry, its key and its index, in diff order.

use crate::{
    encoding::{fr_from_be_bytes, key_fields},
    error::{ProofError, Result},
    poseidon::hash,
    tree::entry_hashes,
    types::StateDiff,
};
use halo2_base::halo2_proofs::halo2curves::bn256::Fr;

/// Domain tag that starts the chain: the ASCII bytes `parley.diff.v1` as an integer.
pub fn diff_domain() -> Fr {
    fr_from_be_bytes(b"parley.diff.v1")
}

/// One chain step.
pub fn diff_chain_step(acc: Fr, key: [Fr; 4], index: u64, old: Fr, new: Fr) -> Fr {
    hash(&[
        acc,
        key[0],
        key[1],
        key[2],
        key[3],
        Fr::from(index),
        old,
        new,
    ])
}

/// The diff commitment. Fails only on an entry whose key and value kinds differ.
pub fn diff_hash(diff: &StateDiff) -> Result<Fr> {
    let mut acc = diff_domain();
    for (pos, e) in diff.0.iter().enumerate() {
        let (old, new) = entry_hashes(pos, e)?;
        let key = key_fields(&e.key).ok_or(ProofError::KindMismatch(pos))?;
        acc = diff_chain_step(acc, key, e.index, old, new);
    }
    Ok(hash(&[acc, Fr::from(diff.0.len() as u64)]))
}
