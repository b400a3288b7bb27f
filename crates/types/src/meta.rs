//! The chain bookkeeping entry stored under [`crate::StateKey::Meta`].

use alloy_primitives::B256;
use serde::{Deserialize, Serialize};

use crate::{DecodeError, Result, take, take_u64};

const VERSION: u8 = 0x01;

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
    /// The next free proof-tree leaf index (ADR 0001: never reused).
    pub next_proof_index: u64,
}

impl ChainMeta {
    /// Canonical bytes: `0x01 ‖ next_base_fee u64 ‖ number u64 ‖ hash ‖ receipts_root ‖
    /// timestamp u64 ‖ next_proof_index u64`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(97);
        v.push(VERSION);
        v.extend_from_slice(&self.next_base_fee.to_be_bytes());
        v.extend_from_slice(&self.last_block_number.to_be_bytes());
        v.extend_from_slice(self.last_block_hash.as_slice());
        v.extend_from_slice(self.last_receipts_root.as_slice());
        v.extend_from_slice(&self.last_timestamp.to_be_bytes());
        v.extend_from_slice(&self.next_proof_index.to_be_bytes());
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
        };
        assert_eq!(ChainMeta::decode(&m.encode()), Ok(m));
        assert_eq!(
            ChainMeta::decode(&m.encode()[..50]),
            Err(DecodeError::Length {
                what: "last receipts root",
                expected: 32,
                got: 1
            })
        );
    }
}
