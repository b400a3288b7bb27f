//! Deterministic state model and realistic diffs (transfers, contract storage writes,
//! inserts and deletions) for test vectors, tests and benchmarks.
//!
//! [`StateModel`] hands out indices the simple way: an inserted entry takes the next fresh
//! `proof_index` in the diff's key order, a deleted entry's index is not reused, updates keep
//! their index. That is one valid assignment, not the chain's rule (ADR 0011 reuses freed
//! indices from the next block on); the circuit and the tree accept any index below 2^32
//! whose leaf is empty on insert, so the vectors hold either way. Diffs are sorted by key
//! bytes with no key twice.

use crate::types::{AccountLeaf, DiffEntry, KECCAK_EMPTY, LeafValue, StateDiff, StateKey};
use alloy_primitives::{Address, B256, U256, keccak256};
use std::collections::BTreeMap;

/// An in-memory state that produces ADR-0001 diffs.
#[derive(Clone, Debug, Default)]
pub struct StateModel {
    entries: BTreeMap<Vec<u8>, (StateKey, u64, LeafValue)>,
    next_index: u64,
}

/// Deterministic address number `i`.
pub fn addr(i: u64) -> Address {
    Address::from_slice(&keccak256(i.to_be_bytes())[12..])
}

/// Code hash of an EOA (keccak256 of empty code).
pub fn empty_code_hash() -> B256 {
    KECCAK_EMPTY
}

fn acct(nonce: u64, balance: U256, code_hash: B256) -> LeafValue {
    LeafValue::Account(AccountLeaf {
        nonce,
        balance,
        code_hash,
    })
}

impl StateModel {
    /// Empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Current value of a key.
    pub fn get(&self, key: &StateKey) -> Option<&LeafValue> {
        self.entries.get(&key.encode()).map(|(_, _, v)| v)
    }

    /// Next free proof index.
    pub fn next_index(&self) -> u64 {
        self.next_index
    }

    /// Turn a set of writes (`None` = delete) into a diff against the current state and
    /// apply it. Writes that do not change anything are dropped.
    pub fn commit(
        &mut self,
        writes: BTreeMap<Vec<u8>, (StateKey, Option<LeafValue>)>,
    ) -> StateDiff {
        let mut out = Vec::new();
        for (kb, (key, new)) in writes {
            let cur = self.entries.get(&kb).map(|(_, i, v)| (*i, *v));
            let old = cur.map(|(_, v)| v);
            if old == new {
                continue;
            }
            let index = match (cur, new) {
                (Some((i, _)), Some(_)) => i,
                (Some((i, _)), None) => i,
                (None, _) => {
                    let i = self.next_index;
                    self.next_index += 1;
                    i
                }
            };
            match new {
                Some(v) => {
                    self.entries.insert(kb, (key, index, v));
                }
                None => {
                    self.entries.remove(&kb);
                }
            }
            out.push(DiffEntry {
                key,
                index,
                old,
                new,
            });
        }
        StateDiff(out)
    }

    fn account(&self, a: Address) -> (u64, U256, B256) {
        match self.get(&StateKey::Account(a)) {
            Some(LeafValue::Account(a)) => (a.nonce, a.balance, a.code_hash),
            _ => (0, U256::ZERO, empty_code_hash()),
        }
    }

    /// Genesis: fund accounts `addr(0..n)` with 1000 ETH each.
    pub fn genesis(&mut self, n: u64) -> StateDiff {
        let mut w = BTreeMap::new();
        for i in 0..n {
            let a = addr(i);
            let k = StateKey::Account(a);
            let v = acct(
                0,
                U256::from(1000u64) * U256::from(10u64).pow(U256::from(18u64)),
                empty_code_hash(),
            );
            w.insert(k.encode(), (k, Some(v)));
        }
        self.commit(w)
    }

    /// A block of `n` ETH transfers between the funded accounts `addr(0..pool)`, each paying
    /// 21000 gas × 1 gwei to `coinbase`; some receivers are fresh accounts (inserts).
    pub fn transfers(&mut self, n: u64, pool: u64, seed: u64, coinbase: Address) -> StateDiff {
        let mut w: BTreeMap<Vec<u8>, (StateKey, Option<LeafValue>)> = BTreeMap::new();
        let get = |w: &BTreeMap<Vec<u8>, (StateKey, Option<LeafValue>)>, a: Address| {
            let k = StateKey::Account(a);
            match w.get(&k.encode()) {
                Some((_, Some(LeafValue::Account(a)))) => (a.nonce, a.balance, a.code_hash),
                _ => self.account(a),
            }
        };
        let fee = U256::from(21_000u64 * 1_000_000_000u64);
        for t in 0..n {
            let r = u64::from_be_bytes(
                keccak256([seed.to_be_bytes(), t.to_be_bytes()].concat())[..8]
                    .try_into()
                    .expect("8 bytes"),
            );
            let from = addr(r % pool.max(1));
            // every 4th transfer goes to a fresh account
            let to = if t % 4 == 3 {
                addr(1_000_000 + seed * 100_000 + t)
            } else {
                addr((r >> 20) % pool.max(1))
            };
            let value = U256::from(1_000_000u64 + (r & 0xffff));
            let (n0, b0, c0) = get(&w, from);
            if b0 < value + fee {
                continue;
            }
            let from_v = acct(n0 + 1, b0 - value - fee, c0);
            w.insert(
                StateKey::Account(from).encode(),
                (StateKey::Account(from), Some(from_v)),
            );
            let (n1, b1, c1) = get(&w, to);
            let to_v = acct(n1, b1 + value, c1);
            w.insert(
                StateKey::Account(to).encode(),
                (StateKey::Account(to), Some(to_v)),
            );
            let (n2, b2, c2) = get(&w, coinbase);
            let cb = acct(n2, b2 + fee, c2);
            w.insert(
                StateKey::Account(coinbase).encode(),
                (StateKey::Account(coinbase), Some(cb)),
            );
        }
        self.commit(w)
    }

    /// A contract call from `caller` to `contract`: the caller pays, the contract's storage
    /// slots `slots` are written with `values` (zero deletes), the contract account is created
    /// with code on first use.
    pub fn contract_call(
        &mut self,
        caller: Address,
        contract: Address,
        coinbase: Address,
        writes: &[(U256, U256)],
    ) -> StateDiff {
        let mut w = BTreeMap::new();
        let fee = U256::from(50_000u64 * 1_000_000_000u64);
        let (n0, b0, c0) = self.account(caller);
        let caller_v = acct(n0 + 1, b0 - fee, c0);
        w.insert(
            StateKey::Account(caller).encode(),
            (StateKey::Account(caller), Some(caller_v)),
        );
        let (cn, cbal, _) = self.account(contract);
        let code = acct(cn.max(1), cbal, keccak256(b"parley test contract"));
        w.insert(
            StateKey::Account(contract).encode(),
            (StateKey::Account(contract), Some(code)),
        );
        let (n2, b2, c2) = self.account(coinbase);
        let cb = acct(n2, b2 + fee, c2);
        w.insert(
            StateKey::Account(coinbase).encode(),
            (StateKey::Account(coinbase), Some(cb)),
        );
        for (slot, value) in writes {
            let k = StateKey::Storage(contract, *slot);
            let v = (*value != U256::ZERO).then_some(LeafValue::Storage(*value));
            w.insert(k.encode(), (k, v));
        }
        self.commit(w)
    }
}
