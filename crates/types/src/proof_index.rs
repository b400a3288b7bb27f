//! Proof-tree index capacity and the freed-index stack (ADR 0011).
//!
//! Every account and storage entry holds a `proof_index`, its leaf in the depth
//! [`PROOF_TREE_DEPTH`] Poseidon proof tree (ADR 0001). The tree has [`PROOF_INDEX_CAPACITY`]
//! leaves, so an index is below it. An insert takes a freed index first — the top of the
//! freed-index stack, whose depth is [`crate::ChainMeta::free_proof_indices`] and whose
//! position `p` is the entry [`crate::StateKey::FreeProofIndex`]`(p)` — and otherwise the
//! next fresh one ([`crate::ChainMeta::next_proof_index`]). An index freed by a block is pushed
//! at the end of that block, so it is reusable from the next block on.

use crate::{DecodeError, Result, take, take_u64};

/// Depth of the Poseidon proof tree: the block circuit decomposes a leaf index into exactly
/// this many bits. (The proofs crate's `PROOF_TREE_DEPTH` is this constant.)
pub const PROOF_TREE_DEPTH: usize = 32;

/// Leaves in the proof tree, `2^PROOF_TREE_DEPTH`: every `proof_index` is below this.
pub const PROOF_INDEX_CAPACITY: u64 = 1 << PROOF_TREE_DEPTH;

const VERSION: u8 = 0x01;

/// The value of a freed-index stack entry: `0x01 ‖ index u64 BE`.
pub fn encode_free_index(index: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(9);
    v.push(VERSION);
    v.extend_from_slice(&index.to_be_bytes());
    v
}

/// Decodes [`encode_free_index`]'s output.
pub fn decode_free_index(mut bytes: &[u8]) -> Result<u64> {
    let b = &mut bytes;
    let version = take(b, 1, "free index version")?[0];
    if version != VERSION {
        return Err(DecodeError::Tag {
            what: "free index version",
            tag: version,
        });
    }
    let index = take_u64(b, "free index")?;
    if !b.is_empty() {
        return Err(DecodeError::Length {
            what: "free index",
            expected: 0,
            got: b.len(),
        });
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn capacity_is_two_to_the_depth() {
        assert_eq!(PROOF_INDEX_CAPACITY, 4_294_967_296);
        // The largest index fits exactly `PROOF_TREE_DEPTH` bits.
        assert_eq!((PROOF_INDEX_CAPACITY - 1) >> PROOF_TREE_DEPTH, 0);
    }

    proptest! {
        #[test]
        fn free_index_roundtrip_and_damage(i in any::<u64>(), cut in 0usize..9) {
            let b = encode_free_index(i);
            prop_assert_eq!(b.len(), 9);
            prop_assert_eq!(decode_free_index(&b), Ok(i));
            prop_assert!(decode_free_index(&b[..cut]).is_err());
            let mut long = b.clone();
            long.push(0);
            prop_assert_eq!(
                decode_free_index(&long),
                Err(DecodeError::Length { what: "free index", expected: 0, got: 1 })
            );
            let mut v2 = b;
            v2[0] = 2;
            prop_assert_eq!(
                decode_free_index(&v2),
                Err(DecodeError::Tag { what: "free index version", tag: 2 })
            );
        }
    }
}
