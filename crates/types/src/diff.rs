//! The per-block state diff (ADR 0001, "The state diff").

use serde::{Deserialize, Serialize};

use crate::{DecodeError, LeafValue, Result, StateKey, take, take_u64};

const VERSION: u8 = 0x01;

/// One changed entry of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffEntry {
    /// The entry's key (never [`StateKey::Meta`]).
    pub key: StateKey,
    /// The entry's proof-tree leaf index (fresh for an insert).
    pub index: u64,
    /// Value before the block; `None` if the entry did not exist.
    pub old: Option<LeafValue>,
    /// Value after the block; `None` if the block deleted it.
    pub new: Option<LeafValue>,
}

/// The entries a block changed, sorted by key, each key once, `old != new`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateDiff(pub Vec<DiffEntry>);

/// Why a diff is not canonical.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DiffError {
    /// Bytes do not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Keys are not strictly increasing at this position.
    #[error("diff entry {0} is out of order or repeats a key")]
    Order(usize),
    /// An entry with `old == new`, a meta key, or a value of the wrong kind.
    #[error("diff entry {0} is not a change of an EVM entry")]
    Entry(usize),
}

/// How many chunks a diff of `entries` entries is cut into for block circuits of `capacity`
/// entries (DESIGN §3.12, ADR 0016): `⌈entries / capacity⌉`, and 0 for an empty diff (which
/// needs no proof). `capacity` must be positive (genesis checks it).
pub fn chunk_count(entries: usize, capacity: u64) -> u64 {
    let capacity = capacity.max(1);
    (entries as u64).div_ceil(capacity)
}

impl StateDiff {
    /// Chunk `index` of the diff cut every `capacity` entries, in canonical order: entries
    /// `index·capacity ..< min((index + 1)·capacity, len)`. Empty past the last chunk.
    pub fn chunk(&self, index: u64, capacity: u64) -> StateDiff {
        let capacity = usize::try_from(capacity.max(1)).unwrap_or(usize::MAX);
        let start = usize::try_from(index)
            .ok()
            .and_then(|i| i.checked_mul(capacity))
            .unwrap_or(usize::MAX)
            .min(self.0.len());
        let end = start.saturating_add(capacity).min(self.0.len());
        StateDiff(self.0[start..end].to_vec())
    }

    /// Checks the canonical-form rules.
    pub fn validate(&self) -> Result<(), DiffError> {
        for (i, e) in self.0.iter().enumerate() {
            let account = matches!(e.key, StateKey::Account(_));
            let kind_ok = |v: &Option<LeafValue>| match v {
                None => true,
                Some(LeafValue::Account(_)) => account,
                Some(LeafValue::Storage(_)) => !account,
            };
            if !e.key.is_evm() || e.old == e.new || !kind_ok(&e.old) || !kind_ok(&e.new) {
                return Err(DiffError::Entry(i));
            }
            if i > 0 && self.0[i - 1].key >= e.key {
                return Err(DiffError::Order(i));
            }
        }
        Ok(())
    }

    /// Canonical bytes: `0x01 ‖ count u32 ‖ (key ‖ index u64 ‖ opt(old) ‖ opt(new))*`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(5 + self.0.len() * 140);
        out.push(VERSION);
        let count = u32::try_from(self.0.len()).expect("a block changes fewer than 2^32 entries");
        out.extend_from_slice(&count.to_be_bytes());
        for e in &self.0 {
            out.extend_from_slice(&e.key.encode());
            out.extend_from_slice(&e.index.to_be_bytes());
            for v in [&e.old, &e.new] {
                match v {
                    None => out.push(0),
                    Some(v) => {
                        out.push(1);
                        v.encode_into(&mut out);
                    }
                }
            }
        }
        out
    }

    /// Decodes and validates canonical bytes.
    pub fn decode(mut bytes: &[u8]) -> Result<Self, DiffError> {
        let buf = &mut bytes;
        let version = take(buf, 1, "diff version")?[0];
        if version != VERSION {
            return Err(DecodeError::Tag {
                what: "diff version",
                tag: version,
            }
            .into());
        }
        let count = u32::from_be_bytes(take(buf, 4, "diff count")?.try_into().expect("4 bytes"));
        // Bound the allocation by what the input can hold (≥ 23 bytes an entry).
        let mut entries = Vec::with_capacity((count as usize).min(buf.len() / 23));
        for _ in 0..count {
            let key = StateKey::decode_from(buf)?;
            let index = take_u64(buf, "diff index")?;
            let account = matches!(key, StateKey::Account(_));
            let mut opt = || -> Result<Option<LeafValue>> {
                match take(buf, 1, "diff presence")?[0] {
                    0 => Ok(None),
                    1 => Ok(Some(LeafValue::decode_from(buf, account)?)),
                    tag => Err(DecodeError::Tag {
                        what: "diff presence",
                        tag,
                    }),
                }
            };
            let old = opt()?;
            let new = opt()?;
            entries.push(DiffEntry {
                key,
                index,
                old,
                new,
            });
        }
        if !buf.is_empty() {
            return Err(DecodeError::Length {
                what: "diff",
                expected: 0,
                got: buf.len(),
            }
            .into());
        }
        let diff = Self(entries);
        diff.validate()?;
        Ok(diff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AccountLeaf;
    use alloy_primitives::{Address, B256, U256};

    fn acc(n: u64) -> LeafValue {
        LeafValue::Account(AccountLeaf {
            nonce: n,
            balance: U256::from(n * 10),
            code_hash: B256::ZERO,
        })
    }

    /// Chunks (ADR 0016): consecutive runs of `capacity` entries in canonical order, the last
    /// one shorter; together they are the diff, and past the last there is nothing.
    #[test]
    fn a_diff_is_cut_every_capacity_entries() {
        let d = StateDiff(
            (0..7u64)
                .map(|i| DiffEntry {
                    key: StateKey::Account(Address::with_last_byte(i as u8)),
                    index: i,
                    old: None,
                    new: Some(acc(i + 1)),
                })
                .collect(),
        );
        assert_eq!(chunk_count(0, 3), 0, "an empty diff needs no proof");
        assert_eq!(chunk_count(1, 3), 1);
        assert_eq!(chunk_count(6, 3), 2);
        assert_eq!(chunk_count(7, 3), 3);
        let parts: Vec<StateDiff> = (0..chunk_count(d.0.len(), 3))
            .map(|i| d.chunk(i, 3))
            .collect();
        assert_eq!(
            parts.iter().map(|p| p.0.len()).collect::<Vec<_>>(),
            vec![3, 3, 1]
        );
        assert_eq!(
            parts.iter().flat_map(|p| p.0.clone()).collect::<Vec<_>>(),
            d.0
        );
        assert!(d.chunk(3, 3).0.is_empty());
        assert!(d.chunk(u64::MAX, 3).0.is_empty());
        assert_eq!(d.chunk(0, 100), d, "a diff one circuit holds is one chunk");
    }

    #[test]
    fn roundtrip_and_validation() {
        let a = Address::repeat_byte(1);
        let d = StateDiff(vec![
            DiffEntry {
                key: StateKey::Account(a),
                index: 0,
                old: Some(acc(1)),
                new: Some(acc(2)),
            },
            DiffEntry {
                key: StateKey::Storage(a, U256::from(3)),
                index: 7,
                old: None,
                new: Some(LeafValue::Storage(U256::from(9))),
            },
        ]);
        assert_eq!(StateDiff::decode(&d.encode()).expect("decodes"), d);

        let mut swapped = d.clone();
        swapped.0.swap(0, 1);
        assert_eq!(swapped.validate(), Err(DiffError::Order(1)));
        let mut noop = d.clone();
        noop.0[0].new = noop.0[0].old;
        assert_eq!(noop.validate(), Err(DiffError::Entry(0)));
        let mut wrong_kind = d.clone();
        wrong_kind.0[1].new = Some(acc(5));
        assert_eq!(wrong_kind.validate(), Err(DiffError::Entry(1)));
        let mut meta = d.clone();
        meta.0.insert(
            0,
            DiffEntry {
                key: StateKey::Meta,
                index: 0,
                old: None,
                // a storage-kind value, so only the "not an EVM entry" rule can refuse it (an
                // account value would also break the kind rule: the mutant `is_evm -> true`
                // survived that version of this check)
                new: Some(LeafValue::Storage(U256::from(1))),
            },
        );
        assert_eq!(meta.validate(), Err(DiffError::Entry(0)));
        assert!(!StateKey::Meta.is_evm());
        assert!(StateKey::Account(a).is_evm() && StateKey::Storage(a, U256::ZERO).is_evm());
        let mut bytes = d.encode();
        bytes.push(0);
        assert_eq!(
            StateDiff::decode(&bytes),
            Err(DiffError::Decode(DecodeError::Length {
                what: "diff",
                expected: 0,
                got: 1
            }))
        );
        // A count of 2^32 - 1 with no entries behind it: refused without a huge allocation.
        assert_eq!(
            StateDiff::decode(&[1, 0xff, 0xff, 0xff, 0xff]),
            Err(DiffError::Decode(DecodeError::Length {
                what: "state key tag",
                expected: 1,
                got: 0
            }))
        );
        let mut version = d.encode();
        version[0] = 2;
        assert_eq!(
            StateDiff::decode(&version),
            Err(DiffError::Decode(DecodeError::Tag {
                what: "diff version",
                tag: 2
            }))
        );
        // Canonical-form rules hold on decode too: swapped entries do not decode.
        assert_eq!(
            StateDiff::decode(&swapped.encode()),
            Err(DiffError::Order(1))
        );
    }
}
