//! The block overlay (DESIGN §2 "Block overlay"): one write layer per block over committed
//! state, through which every transaction and every protocol handler writes, in block order.
//!
//! - Each EVM transaction is executed against the overlay (it is revm's [`revm::Database`])
//!   and its finalized state is committed into the overlay when it finishes
//!   ([`revm::DatabaseCommit`]), with revm's flags read *for that transaction only*. Nothing
//!   infers "changed" from journal flags across transactions: revm resets them when a later
//!   transaction touches the same account or slot, which loses writes.
//! - Protocol handlers read and write non-EVM entries ([`Overlay::app`],
//!   [`Overlay::put_app`]) through the same layer, so a block's order of EVM and protocol
//!   effects is the order it defines.
//! - [`Overlay::finish`] derives the block's writes, its canonical state diff and the new code
//!   once, at the end, by comparing the overlay with committed state; proof-tree indices are
//!   assigned to inserted entries in key order.
//!
//! Invariants: reads of a key see the block's last write to it; a created or self-destructed
//! account's committed storage reads as empty and is deleted at the end; EIP-161: an empty
//! account is not stored. Maps are `BTreeMap`s, so nothing here depends on hash order.

use std::collections::{BTreeMap, BTreeSet};

use alloy_primitives::{Address, B256, Bytes, U256};
use parley_types::{
    AccountLeaf, DiffEntry, KECCAK_EMPTY, LeafValue, StateDiff, StateKey, StateValue,
};
use revm::state::{AccountInfo, Bytecode};

use crate::chain::view::{StateView, StoreError};

/// What a block wrote, derived by [`Overlay::finish`].
#[derive(Debug, Default)]
pub struct Changes {
    /// Canonical diff of the EVM entries.
    pub diff: StateDiff,
    /// Every entry to write (`None` deletes), EVM and app entries, in key order.
    pub writes: Vec<(StateKey, Option<Vec<u8>>)>,
    /// Code first deployed by this block.
    pub code: Vec<(B256, Bytes)>,
}

/// One block's writes over committed state `V`.
pub struct Overlay<'a, V> {
    base: &'a V,
    /// Committed values read so far (each key is read from the database once per block).
    read: BTreeMap<StateKey, Option<StateValue>>,
    /// EVM entries this block wrote; `None` deletes.
    evm: BTreeMap<StateKey, Option<LeafValue>>,
    /// Accounts whose committed storage this block wiped (created or self-destructed).
    wiped: BTreeSet<Address>,
    /// Non-EVM entries this block wrote, encoded; `None` deletes.
    app: BTreeMap<StateKey, Option<Vec<u8>>>,
    /// Code deployed by this block.
    code: BTreeMap<B256, Bytes>,
    /// Analysed bytecode, so a contract is analysed once per block.
    analysed: BTreeMap<B256, Bytecode>,
}

// Mutation testing: a Debug body that prints nothing is an equivalent mutant (diagnostics only).
impl<V> std::fmt::Debug for Overlay<'_, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overlay")
            .field("evm_writes", &self.evm.len())
            .field("app_writes", &self.app.len())
            .field("wiped", &self.wiped.len())
            .finish()
    }
}

fn storage_range(a: Address) -> std::ops::RangeInclusive<StateKey> {
    StateKey::Storage(a, U256::ZERO)..=StateKey::Storage(a, U256::MAX)
}

impl<'a, V: StateView> Overlay<'a, V> {
    /// An empty overlay over `base`.
    pub fn new(base: &'a V) -> Self {
        Self {
            base,
            read: BTreeMap::new(),
            evm: BTreeMap::new(),
            wiped: BTreeSet::new(),
            app: BTreeMap::new(),
            code: BTreeMap::new(),
            analysed: BTreeMap::new(),
        }
    }

    fn committed(&mut self, key: &StateKey) -> Result<Option<StateValue>, StoreError> {
        if let Some(v) = self.read.get(key) {
            return Ok(*v);
        }
        let v = self.base.entry(key)?;
        self.read.insert(*key, v);
        Ok(v)
    }

    /// The current value of an EVM entry.
    pub fn leaf(&mut self, key: &StateKey) -> Result<Option<LeafValue>, StoreError> {
        if let Some(v) = self.evm.get(key) {
            return Ok(*v);
        }
        if let StateKey::Storage(a, _) = key
            && self.wiped.contains(a)
        {
            return Ok(None);
        }
        Ok(self.committed(key)?.map(|v| v.leaf))
    }

    /// The current fields of an account.
    pub fn account(&mut self, address: Address) -> Result<Option<AccountLeaf>, StoreError> {
        match self.leaf(&StateKey::Account(address))? {
            Some(LeafValue::Account(a)) => Ok(Some(a)),
            Some(LeafValue::Storage(_)) => Err(StoreError::Corrupt(format!(
                "account entry of {address} holds a storage value"
            ))),
            None => Ok(None),
        }
    }

    /// The current value of a storage slot (zero if absent).
    pub fn storage(&mut self, address: Address, slot: U256) -> Result<U256, StoreError> {
        match self.leaf(&StateKey::Storage(address, slot))? {
            Some(LeafValue::Storage(v)) => Ok(v),
            Some(LeafValue::Account(_)) => Err(StoreError::Corrupt(format!(
                "storage entry {address}/{slot} holds an account"
            ))),
            None => Ok(U256::ZERO),
        }
    }

    /// Writes an account (an empty one is deleted, EIP-161).
    pub fn set_account(&mut self, address: Address, account: AccountLeaf) {
        let v = (!account.is_empty()).then_some(LeafValue::Account(account));
        self.evm.insert(StateKey::Account(address), v);
    }

    /// Writes a storage slot (zero deletes it).
    pub fn set_storage(&mut self, address: Address, slot: U256, value: U256) {
        let v = (!value.is_zero()).then_some(LeafValue::Storage(value));
        self.evm.insert(StateKey::Storage(address, slot), v);
    }

    /// Deletes every storage slot of `address`, committed or written by this block.
    pub fn wipe_storage(&mut self, address: Address) {
        self.wiped.insert(address);
        let written: Vec<StateKey> = self
            .evm
            .range(storage_range(address))
            .map(|(k, _)| *k)
            .collect();
        for k in written {
            self.evm.remove(&k);
        }
    }

    /// The current bytes of a non-EVM entry (chain meta, protocol state).
    pub fn app(&mut self, key: &StateKey) -> Result<Option<Vec<u8>>, StoreError> {
        debug_assert!(!key.is_evm(), "EVM entries go through leaf()");
        match self.app.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.base.app_entry(key),
        }
    }

    /// Every non-EVM entry in `range` as this block sees it (committed entries with the
    /// block's writes and deletions applied), in key order.
    pub fn app_range(
        &mut self,
        range: std::ops::RangeInclusive<StateKey>,
    ) -> Result<Vec<(StateKey, Vec<u8>)>, StoreError> {
        let mut merged: BTreeMap<StateKey, Option<Vec<u8>>> = self
            .base
            .app_entries(range.clone())?
            .into_iter()
            .map(|(k, v)| (k, Some(v)))
            .collect();
        for (k, v) in self.app.range(range) {
            merged.insert(*k, v.clone());
        }
        Ok(merged
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect())
    }

    /// Writes a non-EVM entry (`None` deletes it).
    pub fn put_app(&mut self, key: StateKey, value: Option<Vec<u8>>) {
        debug_assert!(
            !key.is_evm(),
            "EVM entries go through set_account/set_storage"
        );
        self.app.insert(key, value);
    }

    /// Records code deployed by this block.
    pub fn put_code(&mut self, hash: B256, code: Bytes) {
        self.code.entry(hash).or_insert(code);
    }

    /// Commits one finished transaction's state (revm's per-transaction flags).
    pub fn commit_tx(&mut self, state: revm::state::EvmState) {
        // revm hands a hash map: sort it so the order of effects is canonical.
        let sorted: BTreeMap<Address, revm::state::Account> = state.into_iter().collect();
        for (address, account) in sorted {
            if !account.is_touched() {
                continue;
            }
            if account.is_selfdestructed() {
                self.wipe_storage(address);
                self.evm.insert(StateKey::Account(address), None);
                continue;
            }
            if account.is_created() {
                self.wipe_storage(address);
            }
            let info = &account.info;
            if let Some(c) = &info.code
                && info.code_hash != KECCAK_EMPTY
                && !c.is_empty()
            {
                self.put_code(info.code_hash, c.original_bytes());
                self.analysed
                    .entry(info.code_hash)
                    .or_insert_with(|| c.clone());
            }
            self.set_account(
                address,
                AccountLeaf {
                    nonce: info.nonce,
                    balance: info.balance,
                    code_hash: info.code_hash,
                },
            );
            for (slot, value) in &account.storage {
                if value.is_changed() {
                    self.set_storage(address, *slot, value.present_value);
                }
            }
        }
    }

    /// EVM entries written so far (at least the block's diff entries: a write back to the
    /// committed value counts too). What `max_diff_entries` bounds.
    pub fn evm_writes(&self) -> usize {
        self.evm.len()
    }

    /// Whether the EVM state differs from committed state (the block's diff is not empty).
    /// Same comparison as [`Self::finish`], without consuming anything.
    pub fn evm_changed(&mut self) -> Result<bool, StoreError> {
        let mut finals: BTreeMap<StateKey, Option<LeafValue>> = BTreeMap::new();
        for a in self.wiped.clone() {
            for slot in self.base.storage_slots(a)? {
                finals.insert(StateKey::Storage(a, slot), None);
            }
        }
        finals.extend(self.evm.iter().map(|(k, v)| (*k, *v)));
        for (k, new) in finals {
            if self.committed(&k)?.map(|o| o.leaf) != new {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Derives the block's writes, canonical diff and new code by comparing the overlay with
    /// committed state. `next_proof_index` is the first free proof-tree index; the returned
    /// value is the next free one after this block's inserts.
    pub fn finish(&mut self, next_proof_index: u64) -> Result<(Changes, u64), StoreError> {
        let mut finals: BTreeMap<StateKey, Option<LeafValue>> = BTreeMap::new();
        for a in std::mem::take(&mut self.wiped) {
            for slot in self.base.storage_slots(a)? {
                finals.insert(StateKey::Storage(a, slot), None);
            }
        }
        finals.extend(std::mem::take(&mut self.evm));

        let mut next = next_proof_index;
        let mut diff = Vec::with_capacity(finals.len());
        let mut evm_writes = Vec::with_capacity(finals.len());
        for (key, new) in finals {
            let old = self.committed(&key)?;
            if old.map(|o| o.leaf) == new {
                continue;
            }
            let index = match old {
                Some(o) => o.proof_index,
                None => {
                    let i = next;
                    next = next.checked_add(1).expect("proof index space is 2^64");
                    i
                }
            };
            diff.push(DiffEntry {
                key,
                index,
                old: old.map(|o| o.leaf),
                new,
            });
            evm_writes.push((
                key,
                new.map(|leaf| {
                    StateValue {
                        leaf,
                        proof_index: index,
                    }
                    .encode()
                }),
            ));
        }
        // Merge the app entries in: both lists are in key order. (`<=` below is an equivalent
        // mutant: an app key never equals an EVM key.)
        let mut writes = Vec::with_capacity(evm_writes.len() + self.app.len());
        let mut app = std::mem::take(&mut self.app).into_iter().peekable();
        for w in evm_writes {
            while app.peek().is_some_and(|(k, _)| *k < w.0) {
                writes.extend(app.next());
            }
            writes.push(w);
        }
        writes.extend(app);
        let mut code = Vec::with_capacity(self.code.len());
        for (h, c) in std::mem::take(&mut self.code) {
            if self.base.code(&h)?.is_none() {
                code.push((h, c));
            }
        }
        let diff = StateDiff(diff);
        if let Err(e) = diff.validate() {
            return Err(StoreError::Corrupt(format!(
                "the overlay produced a non-canonical diff: {e}"
            )));
        }
        Ok((Changes { diff, writes, code }, next))
    }
}

impl<V: StateView> revm::Database for Overlay<'_, V> {
    type Error = StoreError;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, StoreError> {
        Ok(self.account(address)?.map(|a| AccountInfo {
            balance: a.balance,
            nonce: a.nonce,
            code_hash: a.code_hash,
            code: None,
            ..Default::default()
        }))
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, StoreError> {
        if code_hash == KECCAK_EMPTY {
            return Ok(Bytecode::default());
        }
        if let Some(c) = self.analysed.get(&code_hash) {
            return Ok(c.clone());
        }
        let raw = match self.code.get(&code_hash) {
            Some(c) => c.clone(),
            None => self
                .base
                .code(&code_hash)?
                .ok_or_else(|| StoreError::Corrupt(format!("missing code {code_hash}")))?,
        };
        let c = Bytecode::new_raw(raw);
        self.analysed.insert(code_hash, c.clone());
        Ok(c)
    }

    fn storage(&mut self, address: Address, index: U256) -> Result<U256, StoreError> {
        Overlay::storage(self, address, index)
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, StoreError> {
        self.base.block_hash(number)
    }
}

impl<V: StateView> revm::DatabaseCommit for Overlay<'_, V> {
    fn commit(&mut self, changes: revm::state::EvmState) {
        self.commit_tx(changes);
    }
}

impl revm::database_interface::DBErrorMarker for StoreError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Committed state in memory: EVM entries with proof indices, app entries as bytes.
    #[derive(Default)]
    struct Mem {
        evm: BTreeMap<StateKey, StateValue>,
        app: BTreeMap<StateKey, Vec<u8>>,
    }

    impl StateView for Mem {
        fn entry(&self, key: &StateKey) -> Result<Option<StateValue>, StoreError> {
            Ok(self.evm.get(key).copied())
        }
        fn app_entry(&self, key: &StateKey) -> Result<Option<Vec<u8>>, StoreError> {
            Ok(self.app.get(key).cloned())
        }
        fn storage_slots(&self, address: Address) -> Result<Vec<U256>, StoreError> {
            Ok(self
                .evm
                .range(storage_range(address))
                .filter_map(|(k, _)| match k {
                    StateKey::Storage(_, s) => Some(*s),
                    _ => None,
                })
                .collect())
        }
        fn app_entries(
            &self,
            range: std::ops::RangeInclusive<StateKey>,
        ) -> Result<Vec<(StateKey, Vec<u8>)>, StoreError> {
            Ok(self
                .app
                .range(range)
                .map(|(k, v)| (*k, v.clone()))
                .collect())
        }
        fn code(&self, _hash: &B256) -> Result<Option<Bytes>, StoreError> {
            Ok(None)
        }
        fn block_hash(&self, _number: u64) -> Result<B256, StoreError> {
            Ok(B256::ZERO)
        }
    }

    fn acct(balance: u64) -> AccountLeaf {
        AccountLeaf {
            nonce: 1,
            balance: U256::from(balance),
            code_hash: KECCAK_EMPTY,
        }
    }

    fn committed() -> Mem {
        let a = Address::repeat_byte(1);
        let mut m = Mem::default();
        m.evm.insert(
            StateKey::Account(a),
            StateValue {
                leaf: LeafValue::Account(acct(5)),
                proof_index: 0,
            },
        );
        for (i, s) in [3u64, 9].into_iter().enumerate() {
            m.evm.insert(
                StateKey::Storage(a, U256::from(s)),
                StateValue {
                    leaf: LeafValue::Storage(U256::from(s * 10)),
                    proof_index: i as u64 + 1,
                },
            );
        }
        m.app.insert(StateKey::Pot, vec![1]);
        m.app.insert(StateKey::Ledger(a), vec![2]);
        m
    }

    /// `writes` come out in key order, EVM and app entries merged (the store and the meta
    /// insertion rely on it), whatever order the block wrote them in.
    #[test]
    fn finish_merges_writes_in_key_order() {
        let m = committed();
        let mut o = Overlay::new(&m);
        let (a, b) = (Address::repeat_byte(1), Address::repeat_byte(2));
        o.put_app(StateKey::Pot, Some(vec![7]));
        o.set_account(b, acct(1));
        o.put_app(StateKey::Ledger(b), Some(vec![8]));
        o.set_storage(a, U256::from(3), U256::from(31));
        o.put_app(StateKey::Meta, Some(vec![9]));
        let (changes, next) = o.finish(3).expect("finish");
        let keys: Vec<StateKey> = changes.writes.iter().map(|(k, _)| *k).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(
            keys,
            vec![
                StateKey::Meta,
                StateKey::Account(b),
                StateKey::Storage(a, U256::from(3)),
                StateKey::Ledger(b),
                StateKey::Pot,
            ]
        );
        // The diff holds the EVM entries only; the inserted account takes the next index.
        assert_eq!(changes.diff.0.len(), 2);
        assert_eq!(next, 4);
    }

    /// Wiping an account's storage hides every committed slot from reads in the block and
    /// deletes them all at the end, together with slots the block itself wrote before.
    #[test]
    fn wiped_storage_reads_empty_and_is_deleted() {
        let m = committed();
        let a = Address::repeat_byte(1);
        let mut o = Overlay::new(&m);
        o.set_storage(a, U256::from(4), U256::from(44));
        assert_eq!(o.storage(a, U256::from(3)).expect("read"), U256::from(30));
        o.wipe_storage(a);
        for s in [3u64, 4, 9] {
            assert_eq!(o.storage(a, U256::from(s)).expect("read"), U256::ZERO);
        }
        let (changes, _) = o.finish(3).expect("finish");
        let deleted: Vec<StateKey> = changes
            .writes
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| *k)
            .collect();
        assert_eq!(
            deleted,
            vec![
                StateKey::Storage(a, U256::from(3)),
                StateKey::Storage(a, U256::from(9))
            ]
        );
        assert!(changes.diff.0.iter().all(|e| e.new.is_none()));
    }

    /// App entries read through the overlay: the block's write, else the committed value;
    /// a deletion reads as absent and hides the entry from ranges.
    #[test]
    fn app_entries_read_the_blocks_writes_first() {
        let m = committed();
        let a = Address::repeat_byte(1);
        let mut o = Overlay::new(&m);
        assert_eq!(o.app(&StateKey::Pot).expect("read"), Some(vec![1]));
        assert_eq!(o.app(&StateKey::Validator(a)).expect("read"), None);
        o.put_app(StateKey::Pot, Some(vec![3]));
        o.put_app(StateKey::Ledger(a), None);
        o.put_app(StateKey::Ledger(Address::repeat_byte(2)), Some(vec![4]));
        assert_eq!(o.app(&StateKey::Pot).expect("read"), Some(vec![3]));
        assert_eq!(o.app(&StateKey::Ledger(a)).expect("read"), None);
        let ledgers = o
            .app_range(
                StateKey::Ledger(Address::ZERO)..=StateKey::Ledger(Address::repeat_byte(0xff)),
            )
            .expect("range");
        assert_eq!(
            ledgers,
            vec![(StateKey::Ledger(Address::repeat_byte(2)), vec![4])]
        );
    }
}
