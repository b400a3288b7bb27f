//! State keys and their byte encoding (ADR 0001, "The state").

use alloy_primitives::{Address, U256, keccak256};
use serde::{Deserialize, Serialize};

use crate::{DecodeError, Result, take, take_u256};

const TAG_META: u8 = 0x00;
const TAG_ACCOUNT: u8 = 0x01;
const TAG_STORAGE: u8 = 0x02;

/// The key of one committed state entry. The derived order is the canonical order of a
/// [`crate::StateDiff`] and matches the order of the encoded bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateKey {
    /// The chain bookkeeping entry ([`crate::ChainMeta`]). Not EVM state: never in a diff.
    Meta,
    /// An account's nonce, balance and code hash.
    Account(Address),
    /// One storage slot of a contract.
    Storage(Address, U256),
}

impl StateKey {
    /// Canonical bytes: `0x00 ‖ "meta"`, `0x01 ‖ address`, `0x02 ‖ address ‖ slot`.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Meta => vec![TAG_META, b'm', b'e', b't', b'a'],
            Self::Account(a) => {
                let mut v = Vec::with_capacity(21);
                v.push(TAG_ACCOUNT);
                v.extend_from_slice(a.as_slice());
                v
            }
            Self::Storage(a, slot) => {
                let mut v = Vec::with_capacity(53);
                v.push(TAG_STORAGE);
                v.extend_from_slice(a.as_slice());
                v.extend_from_slice(&slot.to_be_bytes::<32>());
                v
            }
        }
    }

    /// Decodes one key from the front of `buf`, advancing it.
    pub fn decode_from(buf: &mut &[u8]) -> Result<Self> {
        let tag = take(buf, 1, "state key tag")?[0];
        match tag {
            TAG_META => {
                let name = take(buf, 4, "meta key")?;
                if name != b"meta" {
                    return Err(DecodeError::Tag {
                        what: "meta key",
                        tag: name[0],
                    });
                }
                Ok(Self::Meta)
            }
            TAG_ACCOUNT => Ok(Self::Account(Address::from_slice(take(
                buf, 20, "address",
            )?))),
            TAG_STORAGE => {
                let a = Address::from_slice(take(buf, 20, "address")?);
                Ok(Self::Storage(a, take_u256(buf, "storage slot")?))
            }
            tag => Err(DecodeError::Tag {
                what: "state key",
                tag,
            }),
        }
    }

    /// Decodes exactly one key.
    pub fn decode(mut bytes: &[u8]) -> Result<Self> {
        let k = Self::decode_from(&mut bytes)?;
        if !bytes.is_empty() {
            return Err(DecodeError::Length {
                what: "state key",
                expected: 0,
                got: bytes.len(),
            });
        }
        Ok(k)
    }

    /// The key's path in the app-hash tree: `keccak256(encode())`.
    pub fn path(&self) -> alloy_primitives::B256 {
        keccak256(self.encode())
    }

    /// Whether this entry belongs to the EVM state (and so to diffs and the proof tree).
    pub fn is_evm(&self) -> bool {
        !matches!(self, Self::Meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn roundtrip_and_order(a in any::<[u8; 20]>(), b in any::<[u8; 20]>(), s in any::<[u8; 32]>(), t in any::<[u8; 32]>()) {
            let keys = [
                StateKey::Meta,
                StateKey::Account(Address::from(a)),
                StateKey::Account(Address::from(b)),
                StateKey::Storage(Address::from(a), U256::from_be_bytes(s)),
                StateKey::Storage(Address::from(b), U256::from_be_bytes(t)),
            ];
            for x in &keys {
                prop_assert_eq!(StateKey::decode(&x.encode()).expect("decodes"), *x);
                for y in &keys {
                    // The derived order is the byte order of the encodings.
                    prop_assert_eq!(x.cmp(y), x.encode().cmp(&y.encode()));
                }
            }
        }
    }

    #[test]
    fn rejects_garbage() {
        assert!(StateKey::decode(&[0x07]).is_err());
        assert!(StateKey::decode(&[0x01, 1, 2]).is_err());
        let mut k = StateKey::Account(Address::ZERO).encode();
        k.push(0);
        assert!(StateKey::decode(&k).is_err());
    }
}
