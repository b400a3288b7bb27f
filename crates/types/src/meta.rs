//! The chain bookkeeping entry stored under [`crate::StateKey::Meta`].

use alloy_primitives::B256;
use serde::{Deserialize, Serialize};

use crate::{DecodeError, Result, take, take_u64};

/// Version 2 added `free_proof_indices` (ADR 0011).
const VERSION: u8 = 0x02;

/// Chain bookkeeping that execution depends on. Part of the app hash, not of the EVM state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ChainMeta {
    /// Base fee per gas (wei) that the next L2 block must use (EIP-1559).
    pub next_base_fee: u64,
    /// Number of the last executed L2 block (its CometBFT height); 0 before the first.
    pub last_block_number: u64,
    /// Hash of the last executed L2 block (the parent of the next); zero before the first.
    pub last_block_hash: B256,
    /// Receipts root of the last executed L2 block.
    pub last_receipts_root: B256,
    /// Timestamp (seconds) of the last executed L2 block.
    pub last_timestamp: u64,
    /// The next fresh proof-tree leaf index: every index below it has been handed out once
    /// (ADR 0001), and it never exceeds [`crate::PROOF_INDEX_CAPACITY`] (ADR 0011).
    pub next_proof_index: u64,
    /// Depth of the freed-index stack: indices freed by deletions in earlier blocks, waiting
    /// to be reused, stored at [`crate::StateKey::FreeProofIndex`]`(0 .. depth)` (ADR 0011).
    pub free_proof_indices: u64,
}

impl ChainMeta {
    /// How many entries the next block may insert into the proof tree when it has
    /// `capacity` leaves: the freed indices plus the fresh ones left (ADR 0011).
    pub fn proof_index_room(&self, capacity: u64) -> u64 {
        capacity
            .saturating_sub(self.next_proof_index)
            .saturating_add(self.free_proof_indices)
    }

    /// Canonical bytes: `0x02 ‖ next_base_fee u64 ‖ number u64 ‖ hash ‖ receipts_root ‖
    /// timestamp u64 ‖ next_proof_index u64 ‖ free_proof_indices u64`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(105);
        v.push(VERSION);
        v.extend_from_slice(&self.next_base_fee.to_be_bytes());
        v.extend_from_slice(&self.last_block_number.to_be_bytes());
        v.extend_from_slice(self.last_block_hash.as_slice());
        v.extend_from_slice(self.last_receipts_root.as_slice());
        v.extend_from_slice(&self.last_timestamp.to_be_bytes());
        v.extend_from_slice(&self.next_proof_index.to_be_bytes());
        v.extend_from_slice(&self.free_proof_indices.to_be_bytes());
        v
    }

    /// Decodes [`Self::encode`]'s output.
    pub fn decode(mut bytes: &[u8]) -> Result<Self> {
        let b = &mut bytes;
        let version = take(b, 1, "meta version")?[0];
        if version != VERSION {
            return Err(DecodeError::Tag {
                what: "meta version",
                tag: version,
            });
        }
        let meta = Self {
            next_base_fee: take_u64(b, "next base fee")?,
            last_block_number: take_u64(b, "last block number")?,
            last_block_hash: B256::from_slice(take(b, 32, "last block hash")?),
            last_receipts_root: B256::from_slice(take(b, 32, "last receipts root")?),
            last_timestamp: take_u64(b, "last timestamp")?,
            next_proof_index: take_u64(b, "next proof index")?,
            free_proof_indices: take_u64(b, "free proof indices")?,
        };
        if !b.is_empty() {
            return Err(DecodeError::Length {
                what: "meta",
                expected: 0,
                got: b.len(),
            });
        }
        Ok(meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let m = ChainMeta {
            next_base_fee: 7,
            last_block_number: 9,
            last_block_hash: B256::repeat_byte(3),
            last_receipts_root: B256::repeat_byte(4),
            last_timestamp: 11,
            next_proof_index: 12,
            free_proof_indices: 13,
        };
        assert_eq!(m.encode().len(), 105);
        assert_eq!(ChainMeta::decode(&m.encode()), Ok(m));
        // Version 1 (without the freed-index count) is refused, not misread.
        let mut v1 = m.encode();
        v1[0] = 0x01;
        v1.truncate(97);
        assert_eq!(
            ChainMeta::decode(&v1),
            Err(DecodeError::Tag {
                what: "meta version",
                tag: 0x01
            })
        );
        assert_eq!(
            ChainMeta::decode(&m.encode()[..50]),
            Err(DecodeError::Length {
                what: "last receipts root",
                expected: 32,
                got: 1
            })
        );
    }

    #[test]
    fn room_is_freed_plus_fresh_left() {
        let m = |next, free| ChainMeta {
            next_proof_index: next,
            free_proof_indices: free,
            ..ChainMeta::default()
        };
        assert_eq!(m(0, 0).proof_index_room(4), 4);
        assert_eq!(m(4, 0).proof_index_room(4), 0);
        assert_eq!(m(4, 2).proof_index_room(4), 2);
        assert_eq!(m(3, 2).proof_index_room(4), 3);
        // Never below zero, never wraps.
        assert_eq!(m(9, 0).proof_index_room(4), 0);
        assert_eq!(m(0, u64::MAX).proof_index_room(4), u64::MAX);
        assert_eq!(
            m(0, 0).proof_index_room(crate::PROOF_INDEX_CAPACITY),
            1 << 32
        );
    }
}
