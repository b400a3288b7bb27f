//! Versioned state values (ADR 0001, "The state").

use alloy_primitives::{B256, U256};
use serde::{Deserialize, Serialize};

use crate::{DecodeError, Result, take, take_u64, take_u256};

/// Encoding version of account and storage values.
const VERSION: u8 = 0x01;

/// keccak256 of empty code: the `code_hash` of an account without code.
pub const KECCAK_EMPTY: B256 =
    alloy_primitives::b256!("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");

/// An account's fields as the EVM sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountLeaf {
    /// Transaction count (or contract creations, for a contract).
    pub nonce: u64,
    /// Balance in wei.
    pub balance: U256,
    /// keccak256 of the account's code ([`KECCAK_EMPTY`] if none).
    pub code_hash: B256,
}

impl AccountLeaf {
    /// Empty in the EIP-161 sense: such an account is not stored.
    pub fn is_empty(&self) -> bool {
        self.nonce == 0 && self.balance.is_zero() && self.code_hash == KECCAK_EMPTY
    }
}

/// The EVM-visible value of an entry: what a diff carries and what the proof tree hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeafValue {
    /// An account.
    Account(AccountLeaf),
    /// A storage slot's (non-zero) value.
    Storage(U256),
}

impl LeafValue {
    /// Appends the diff encoding (without the presence byte): account
    /// `nonce u64 ‖ balance u256 ‖ code_hash`, storage `value u256`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Self::Account(a) => {
                out.extend_from_slice(&a.nonce.to_be_bytes());
                out.extend_from_slice(&a.balance.to_be_bytes::<32>());
                out.extend_from_slice(a.code_hash.as_slice());
            }
            Self::Storage(v) => out.extend_from_slice(&v.to_be_bytes::<32>()),
        }
    }

    /// Decodes a value of the kind implied by its key (`account == true` for account keys).
    pub fn decode_from(buf: &mut &[u8], account: bool) -> Result<Self> {
        if account {
            let nonce = take_u64(buf, "account nonce")?;
            let balance = take_u256(buf, "account balance")?;
            let code_hash = B256::from_slice(take(buf, 32, "account code hash")?);
            Ok(Self::Account(AccountLeaf {
                nonce,
                balance,
                code_hash,
            }))
        } else {
            Ok(Self::Storage(take_u256(buf, "storage value")?))
        }
    }
}

/// A stored account or storage value: the EVM value plus its proof-tree leaf index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateValue {
    /// What the EVM sees.
    pub leaf: LeafValue,
    /// Leaf position in the Poseidon proof tree, assigned on insert (ADR 0001).
    pub proof_index: u64,
}

impl StateValue {
    /// Canonical bytes: `0x01 ‖ leaf ‖ proof_index u64`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(81);
        v.push(VERSION);
        self.leaf.encode_into(&mut v);
        v.extend_from_slice(&self.proof_index.to_be_bytes());
        v
    }

    /// Decodes a value stored under an account (`account == true`) or storage key.
    pub fn decode(mut bytes: &[u8], account: bool) -> Result<Self> {
        let version = take(&mut bytes, 1, "state value version")?[0];
        if version != VERSION {
            return Err(DecodeError::Tag {
                what: "state value version",
                tag: version,
            });
        }
        let leaf = LeafValue::decode_from(&mut bytes, account)?;
        let proof_index = take_u64(&mut bytes, "proof index")?;
        if !bytes.is_empty() {
            return Err(DecodeError::Length {
                what: "state value",
                expected: 0,
                got: bytes.len(),
            });
        }
        Ok(Self { leaf, proof_index })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn roundtrip(nonce in any::<u64>(), bal in any::<[u8; 32]>(), ch in any::<[u8; 32]>(), idx in any::<u64>()) {
            let acc = StateValue {
                leaf: LeafValue::Account(AccountLeaf { nonce, balance: U256::from_be_bytes(bal), code_hash: B256::from(ch) }),
                proof_index: idx,
            };
            let bytes = acc.encode();
            prop_assert_eq!(bytes.len(), 81);
            prop_assert_eq!(StateValue::decode(&bytes, true).expect("decodes"), acc);
            let st = StateValue { leaf: LeafValue::Storage(U256::from_be_bytes(bal)), proof_index: idx };
            prop_assert_eq!(st.encode().len(), 41);
            prop_assert_eq!(StateValue::decode(&st.encode(), false).expect("decodes"), st);
            // The wrong kind never decodes silently.
            prop_assert_eq!(
                StateValue::decode(&st.encode(), true),
                Err(DecodeError::Length { what: "account code hash", expected: 32, got: 0 })
            );
            // ...and an account value read as a storage value has bytes left over.
            prop_assert_eq!(
                StateValue::decode(&bytes, false),
                Err(DecodeError::Length { what: "state value", expected: 0, got: 40 })
            );
        }
    }

    #[test]
    fn empty_in_the_eip161_sense_needs_all_three() {
        let empty = AccountLeaf {
            nonce: 0,
            balance: U256::ZERO,
            code_hash: KECCAK_EMPTY,
        };
        assert!(empty.is_empty());
        assert!(!AccountLeaf { nonce: 1, ..empty }.is_empty());
        assert!(
            !AccountLeaf {
                balance: U256::from(1),
                ..empty
            }
            .is_empty()
        );
        assert!(
            !AccountLeaf {
                code_hash: B256::ZERO,
                ..empty
            }
            .is_empty()
        );
    }

    #[test]
    fn empty_code_hash_is_keccak_of_nothing() {
        assert_eq!(alloy_primitives::keccak256([]), KECCAK_EMPTY);
    }
}
