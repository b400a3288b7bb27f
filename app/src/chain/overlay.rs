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
//!   assigned to inserted entries in key order: freed indices first (top of the freed-index
//!   stack), then fresh ones; indices the block frees are pushed at the end (ADR 0011).
//! - The proof tree's capacity (ADR 0011): a block may insert at most its *index room*
//!   ([`Overlay::set_index_room`]) entries. [`Overlay::commit_tx_within_room`] commits a
//!   transaction only if the block's inserts stay within it, and [`Overlay::insert_fits`]
//!   tells a protocol handler whether one more insert does.
//! - The block circuit's capacity (DESIGN §3.7): a block's diff may hold at most its *diff
//!   room* (`max_diff_entries`, [`Overlay::set_diff_room`]) entries, so that every block can
//!   be proven; [`Overlay::commit_tx_within_room`] refuses a transaction that would take
//!   [`Overlay::diff_bound`] past it.
//!
//! Invariants: reads of a key see the block's last write to it; a created or self-destructed
//! account's committed storage reads as empty and is deleted at the end; EIP-161: an empty
//! account is not stored. Maps are `BTreeMap`s, so nothing here depends on hash order.

use std::collections::{BTreeMap, BTreeSet};

use alloy_primitives::{Address, B256, Bytes, U256};
use parley_types::{
    AccountLeaf, ChainMeta, DiffEntry, KECCAK_EMPTY, LeafValue, StateDiff, StateKey, StateValue,
    decode_free_index, encode_free_index,
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
    /// What the protocol handlers noted, in order ([`Notice`]).
    pub notices: Vec<Notice>,
}

/// Something a protocol handler reports about a block besides its writes, for the node's
/// metrics and its local records: not state, not part of any hash. (A penalty's effect on
/// stake is in the writes; its reason is not.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A prover drawn for `slot` had no on-time proof when the slot settled: `amount` of its
    /// stake was taken (`slash_missed`).
    ProverSlashed {
        /// The prover.
        prover: Address,
        /// The slot it missed.
        slot: u64,
        /// Wei taken.
        amount: U256,
    },
    /// A verified transition for `slot` was recorded from `prover`'s `proof`. On a chain that
    /// aggregates epochs the node keeps the proof bytes beside state (never hashed) until the
    /// slot's epoch settles, for the epoch's aggregator ([`crate::store::BlockWrites`]).
    TransitionProof {
        /// The prover bound in the proof.
        prover: Address,
        /// The slot.
        slot: u64,
        /// The chunk.
        chunk: u32,
        /// The proof bytes, as the message carried them.
        proof: Vec<u8>,
    },
    /// Epochs below `epoch` are settled (aggregated or empty): the node may drop the proofs of
    /// their slots, which are below `first_slot`.
    EpochsSettled {
        /// The first slot of the oldest epoch not settled.
        first_slot: u64,
    },
    /// A fallback commit for `slot` had no valid matching reveal when its round closed:
    /// `amount` of the committer's stake was burned.
    CommitFined {
        /// The committer.
        prover: Address,
        /// The slot.
        slot: u64,
        /// Wei taken.
        amount: U256,
    },
}

/// The proof-index allocator's state at the start of a block (ADR 0011): from chain meta.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProofIndices {
    /// The next fresh index ([`ChainMeta::next_proof_index`]).
    pub next: u64,
    /// Depth of the freed-index stack ([`ChainMeta::free_proof_indices`]).
    pub free: u64,
}

impl ProofIndices {
    /// The allocator's state recorded in `meta`.
    pub fn of(meta: &ChainMeta) -> Self {
        Self {
            next: meta.next_proof_index,
            free: meta.free_proof_indices,
        }
    }
}

/// A transaction (or protocol action) refused because the block's inserts would exceed the
/// proof tree's capacity (ADR 0011).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "proof tree full: this block may insert {room} entries, this would make {inserts} (ADR 0011)"
)]
pub struct ProofTreeFull {
    /// Inserts the block may make (freed indices plus fresh ones left).
    pub room: u64,
    /// The block's inserts had it been committed.
    pub inserts: u64,
}

/// A transaction's effects would take the block's diff past its room (`max_diff_entries`, or
/// less when its epoch has fewer chunks left): the block could not be proven, or its epoch not
/// aggregated (DESIGN §3.7, ADR 0016).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "block diff full: this block holds {room} diff entries (max_diff_entries, or what its epoch has left), this would make up to {entries}"
)]
pub struct DiffFull {
    /// Entries the block's diff may hold.
    pub room: u64,
    /// The bound on the block's entries had it been committed.
    pub entries: u64,
    /// The bound before it: 0 means the transaction alone does not fit this block.
    pub before: u64,
}

/// Why a transaction's effects were not committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// The proof tree's index room (ADR 0011).
    ProofTree(ProofTreeFull),
    /// The block's diff room (`max_diff_entries`).
    Diff(DiffFull),
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
    /// How many entries this block may insert (ADR 0011); unbounded unless set.
    index_room: u64,
    /// Entries the block's diff may hold ([`Self::set_diff_room`]).
    diff_room: u64,
    /// Noted by protocol handlers ([`Notice`]).
    notices: Vec<Notice>,
}

// Mutation testing: a Debug body that prints nothing is an equivalent mutant (diagnostics only).
impl<V> std::fmt::Debug for Overlay<'_, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overlay")
            .field("evm_writes", &self.evm.len())
            .field("app_writes", &self.app.len())
            .field("wiped", &self.wiped.len())
            .field("index_room", &self.index_room)
            .field("diff_room", &self.diff_room)
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
            index_room: u64::MAX,
            diff_room: u64::MAX,
            notices: Vec::new(),
        }
    }

    /// Bounds the entries this block's diff may hold: `max_diff_entries`, and on a chain that
    /// aggregates, what its epoch has left (`aggregation::diff_room`). An overlay that is not a
    /// block's leaves it unbounded.
    pub fn set_diff_room(&mut self, room: u64) {
        self.diff_room = room;
    }

    /// Whether a protocol handler may write EVM entry `key` without taking the block's diff
    /// past its diff room: a key the block already wrote adds no entry.
    pub fn write_fits(&mut self, key: &StateKey) -> Result<bool, StoreError> {
        if self.evm.contains_key(key) {
            return Ok(true);
        }
        Ok(self.diff_bound()?.saturating_add(1) <= self.diff_room)
    }

    /// An upper bound on the entries of the block's diff so far: every EVM key written, plus
    /// the committed storage of every account the block wiped (deleted at the end).
    pub fn diff_bound(&mut self) -> Result<u64, StoreError> {
        let mut n = u64::try_from(self.evm.len()).unwrap_or(u64::MAX);
        for a in &self.wiped {
            let slots = self.base.storage_slots(*a)?.len();
            n = n.saturating_add(u64::try_from(slots).unwrap_or(u64::MAX));
        }
        Ok(n)
    }

    /// Bounds the entries this block may insert (ADR 0011): [`ChainMeta::proof_index_room`]
    /// of the committed meta. An overlay that is not a block's (queries, simulations) leaves
    /// it unbounded.
    pub fn set_index_room(&mut self, room: u64) {
        self.index_room = room;
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

    /// The non-EVM entries this block wrote so far (`None`: deleted), in key order: unit
    /// tests fold them into an in-memory base between "blocks".
    #[cfg(test)]
    pub(crate) fn app_writes(&self) -> Vec<(StateKey, Option<Vec<u8>>)> {
        self.app.iter().map(|(k, v)| (*k, v.clone())).collect()
    }

    /// What protocol handlers noted so far (unit tests).
    #[cfg(test)]
    pub(crate) fn noted(&self) -> &[Notice] {
        &self.notices
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

    /// The entries this block inserts so far: written with a value, absent from committed
    /// state (what [`Self::finish`] gives an index). Exact, and linear in the block's writes:
    /// the capacity checks call it only when the cheap bound `evm_writes()` is above the room.
    pub fn inserts(&mut self) -> Result<u64, StoreError> {
        let written: Vec<StateKey> = self
            .evm
            .iter()
            .filter(|(_, v)| v.is_some())
            .map(|(k, _)| *k)
            .collect();
        let mut n = 0u64;
        for k in written {
            if self.committed(&k)?.is_none() {
                n = n.saturating_add(1);
            }
        }
        Ok(n)
    }

    /// Whether writing a value to the EVM entry `key` now keeps the block's inserts within
    /// its index room (ADR 0011). Writing to an entry that exists, or that the block already
    /// inserted, always fits.
    pub fn insert_fits(&mut self, key: &StateKey) -> Result<bool, StoreError> {
        if self.committed(key)?.is_some() || self.evm.get(key).is_some_and(Option::is_some) {
            return Ok(true);
        }
        // Every insert is a written key, so `evm_writes() + 1` bounds the inserts after it.
        let bound = u64::try_from(self.evm.len())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        if bound <= self.index_room {
            return Ok(true);
        }
        Ok(self.inserts()?.saturating_add(1) <= self.index_room)
    }

    /// Commits one finished transaction's state if the block's inserts stay within its index
    /// room (ADR 0011) and its diff within its diff room (`max_diff_entries`); otherwise leaves
    /// the overlay as it was and says why. Cheap while the block's writes plus the
    /// transaction's cannot exceed either room and nothing was wiped: only then are the
    /// inserts and the diff bound counted exactly, on a copy.
    pub fn commit_tx_within_room(
        &mut self,
        state: revm::state::EvmState,
    ) -> Result<Result<(), Full>, StoreError> {
        // Entries the transaction can write: each account and each of its slots. (A sum, so
        // the hash map's order does not matter.)
        let touched = state.values().fold(0u64, |n, a| {
            let slots = u64::try_from(a.storage.len()).unwrap_or(u64::MAX);
            n.saturating_add(1).saturating_add(slots)
        });
        let bound = u64::try_from(self.evm.len())
            .unwrap_or(u64::MAX)
            .saturating_add(touched);
        if bound <= self.index_room && bound <= self.diff_room && self.wiped.is_empty() {
            self.commit_tx(state);
            return Ok(Ok(()));
        }
        let before = self.diff_bound()?;
        let saved = (
            self.evm.clone(),
            self.wiped.clone(),
            self.code.clone(),
            self.analysed.clone(),
        );
        self.commit_tx(state);
        let inserts = self.inserts()?;
        let full = if inserts > self.index_room {
            Some(Full::ProofTree(ProofTreeFull {
                room: self.index_room,
                inserts,
            }))
        } else {
            let entries = self.diff_bound()?;
            (entries > self.diff_room).then_some(Full::Diff(DiffFull {
                room: self.diff_room,
                entries,
                before,
            }))
        };
        match full {
            None => Ok(Ok(())),
            Some(full) => {
                (self.evm, self.wiped, self.code, self.analysed) = saved;
                Ok(Err(full))
            }
        }
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

    /// How many entries the block's diff holds: the EVM entries whose value differs from
    /// committed state. Same comparison as [`Self::finish`], without consuming anything.
    pub fn diff_len(&mut self) -> Result<u64, StoreError> {
        let mut finals: BTreeMap<StateKey, Option<LeafValue>> = BTreeMap::new();
        for a in self.wiped.clone() {
            for slot in self.base.storage_slots(a)? {
                finals.insert(StateKey::Storage(a, slot), None);
            }
        }
        finals.extend(self.evm.iter().map(|(k, v)| (*k, *v)));
        let mut n = 0u64;
        for (k, new) in finals {
            if self.committed(&k)?.map(|o| o.leaf) != new {
                n += 1;
            }
        }
        Ok(n)
    }

    /// The entries this block's diff may hold ([`Self::set_diff_room`]).
    pub fn diff_room(&self) -> u64 {
        self.diff_room
    }

    /// Position `pos` of the committed freed-index stack; each is below `next`.
    fn free_index_at(&mut self, pos: u64, next: u64) -> Result<u64, StoreError> {
        let bytes = self.app(&StateKey::FreeProofIndex(pos))?.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "freed proof-index stack: position {pos} is missing"
            ))
        })?;
        let i = decode_free_index(&bytes)
            .map_err(|e| StoreError::Corrupt(format!("freed proof index {pos}: {e}")))?;
        if i >= next {
            return Err(StoreError::Corrupt(format!(
                "freed proof index {pos} is {i}, never handed out (next is {next})"
            )));
        }
        Ok(i)
    }

    /// Notes `n` for the node (metrics); it changes no state.
    pub fn notice(&mut self, n: Notice) {
        self.notices.push(n);
    }

    /// Derives the block's writes, canonical diff and new code by comparing the overlay with
    /// committed state, and assigns proof-tree indices (ADR 0011). `indices` is the allocator
    /// at the start of the block; each inserted entry, in key order, takes the top of the
    /// freed-index stack while it has one, then the next fresh index, which must stay below
    /// `capacity`; the indices of deleted entries are pushed afterwards, so they are reused
    /// from the next block on. Returns the allocator after the block; the stack's entries are
    /// among the writes.
    ///
    /// An insert beyond `capacity` is an error: the capacity checks during the block
    /// ([`Self::commit_tx_within_room`], [`Self::insert_fits`] with the room of `indices`)
    /// refuse it before it gets here.
    pub fn finish(
        &mut self,
        indices: ProofIndices,
        capacity: u64,
    ) -> Result<(Changes, ProofIndices), StoreError> {
        let mut finals: BTreeMap<StateKey, Option<LeafValue>> = BTreeMap::new();
        for a in std::mem::take(&mut self.wiped) {
            for slot in self.base.storage_slots(a)? {
                finals.insert(StateKey::Storage(a, slot), None);
            }
        }
        finals.extend(std::mem::take(&mut self.evm));

        let mut next = indices.next;
        let mut popped = 0u64;
        let mut freed: Vec<u64> = Vec::new();
        let mut diff = Vec::with_capacity(finals.len());
        let mut evm_writes = Vec::with_capacity(finals.len());
        for (key, new) in finals {
            let old = self.committed(&key)?;
            if old.map(|o| o.leaf) == new {
                continue;
            }
            let index = match old {
                Some(o) => {
                    if new.is_none() {
                        freed.push(o.proof_index);
                    }
                    o.proof_index
                }
                None if popped < indices.free => {
                    // Positions free-1, free-2, …: the top of the stack first.
                    let pos = indices.free - 1 - popped;
                    popped += 1;
                    self.free_index_at(pos, indices.next)?
                }
                None => {
                    if next >= capacity {
                        return Err(StoreError::Corrupt(format!(
                            "insert of {key:?} past the proof tree's capacity {capacity}: the \
                             capacity rule should have refused it (ADR 0011)"
                        )));
                    }
                    let i = next;
                    next += 1;
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
        // The freed-index stack: the popped positions are replaced by this block's freed
        // indices (in key order), and what is left above them is deleted.
        let base = indices.free - popped;
        let mut top = base;
        for i in freed {
            self.app
                .insert(StateKey::FreeProofIndex(top), Some(encode_free_index(i)));
            top = top
                .checked_add(1)
                .ok_or_else(|| StoreError::Corrupt("freed proof-index stack overflows".into()))?;
        }
        for pos in top..indices.free {
            self.app.insert(StateKey::FreeProofIndex(pos), None);
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
        Ok((
            Changes {
                diff,
                writes,
                code,
                notices: std::mem::take(&mut self.notices),
            },
            ProofIndices { next, free: top },
        ))
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
        let (changes, after) = o
            .finish(ProofIndices { next: 3, free: 0 }, 8)
            .expect("finish");
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
        assert_eq!(after, ProofIndices { next: 4, free: 0 });
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
        let (changes, after) = o
            .finish(ProofIndices { next: 3, free: 0 }, 8)
            .expect("finish");
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
        // Their indices 1 and 2 go on the freed-index stack, in key order.
        assert_eq!(after, ProofIndices { next: 3, free: 2 });
        let stack: Vec<_> = changes
            .writes
            .iter()
            .filter(|(k, _)| matches!(k, StateKey::FreeProofIndex(_)))
            .cloned()
            .collect();
        assert_eq!(
            stack,
            vec![
                (StateKey::FreeProofIndex(0), Some(encode_free_index(1))),
                (StateKey::FreeProofIndex(1), Some(encode_free_index(2))),
            ]
        );
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

    /// Writes a block's changes into the in-memory committed state, as Commit would.
    fn apply(m: &mut Mem, c: &Changes) {
        for (k, v) in &c.writes {
            match (k.is_evm(), v) {
                (true, Some(b)) => {
                    let v =
                        StateValue::decode(b, matches!(k, StateKey::Account(_))).expect("decodes");
                    m.evm.insert(*k, v);
                }
                (true, None) => {
                    m.evm.remove(k);
                }
                (false, Some(b)) => {
                    m.app.insert(*k, b.clone());
                }
                (false, None) => {
                    m.app.remove(k);
                }
            }
        }
    }

    /// The committed freed-index stack, bottom first.
    fn stack(m: &Mem, depth: u64) -> Vec<u64> {
        (0..depth)
            .map(|p| {
                let b = m
                    .app
                    .get(&StateKey::FreeProofIndex(p))
                    .expect("every position below the depth exists");
                decode_free_index(b).expect("decodes")
            })
            .collect()
    }

    fn index_of(c: &Changes, key: StateKey) -> u64 {
        c.diff
            .0
            .iter()
            .find(|e| e.key == key)
            .expect("in the diff")
            .index
    }

    /// ADR 0011's same-block rule: the circuit opens a block's entries in key order under the
    /// running root, and an insert expects an empty leaf; so an index freed by a deletion is
    /// not handed to an insert of the same block (here one sorted *before* the deletion,
    /// whose leaf would still be occupied), only to one of the next block.
    #[test]
    fn an_index_freed_in_a_block_is_reused_only_from_the_next_block() {
        let mut m = committed(); // account a: 0, slot 3: 1, slot 9: 2
        let a = Address::repeat_byte(1);
        let (s4, s9) = (
            StateKey::Storage(a, U256::from(4)),
            StateKey::Storage(a, U256::from(9)),
        );
        let mut o = Overlay::new(&m);
        o.set_storage(a, U256::from(9), U256::ZERO);
        o.set_storage(a, U256::from(4), U256::from(44));
        let (c, after) = o
            .finish(ProofIndices { next: 3, free: 0 }, 8)
            .expect("finish");
        assert_eq!(index_of(&c, s9), 2, "the deletion frees index 2");
        assert_eq!(index_of(&c, s4), 3, "not index 2: a fresh one");
        assert_eq!(after, ProofIndices { next: 4, free: 1 });
        apply(&mut m, &c);
        assert_eq!(stack(&m, 1), vec![2]);

        // The next block's insert takes it; the stack empties.
        let mut o = Overlay::new(&m);
        let b = Address::repeat_byte(7);
        o.set_account(b, acct(1));
        let (c, after) = o.finish(after, 8).expect("finish");
        assert_eq!(index_of(&c, StateKey::Account(b)), 2);
        assert_eq!(after, ProofIndices { next: 4, free: 0 });
        assert!(c.writes.contains(&(StateKey::FreeProofIndex(0), None)));
        apply(&mut m, &c);
        assert!(
            m.app
                .keys()
                .all(|k| !matches!(k, StateKey::FreeProofIndex(_)))
        );
    }

    /// At capacity, an index the block itself frees does not make room for an insert of the
    /// same block: the room is fixed at the block's start.
    #[test]
    fn a_same_block_deletion_makes_no_room() {
        let m = committed();
        let a = Address::repeat_byte(1);
        let mut o = Overlay::new(&m);
        o.set_index_room(0);
        o.set_storage(a, U256::from(9), U256::ZERO);
        assert!(
            !o.insert_fits(&StateKey::Storage(a, U256::from(4)))
                .expect("read")
        );
        // Rewriting an existing entry, or the deleted one (an update: it keeps its index),
        // always fits.
        assert!(
            o.insert_fits(&StateKey::Storage(a, U256::from(3)))
                .expect("read")
        );
        assert!(
            o.insert_fits(&StateKey::Storage(a, U256::from(9)))
                .expect("read")
        );
        o.set_storage(a, U256::from(9), U256::from(5));
        let (c, after) = o
            .finish(ProofIndices { next: 3, free: 0 }, 3)
            .expect("finish");
        assert_eq!(index_of(&c, StateKey::Storage(a, U256::from(9))), 2);
        assert_eq!(after, ProofIndices { next: 3, free: 0 });
    }

    /// Inserts take the top of the stack first (in key order), then fresh indices; the
    /// indices a block frees go on top after its pops.
    #[test]
    fn inserts_pop_the_stack_top_first_then_take_fresh_indices() {
        let mut m = Mem::default();
        // Occupied 0..=3 by accounts 0x10..=0x13; freed 7, 5 (top 5); next 8.
        for i in 0..4u8 {
            m.evm.insert(
                StateKey::Account(Address::repeat_byte(0x10 + i)),
                StateValue {
                    leaf: LeafValue::Account(acct(1)),
                    proof_index: u64::from(i),
                },
            );
        }
        m.app
            .insert(StateKey::FreeProofIndex(0), encode_free_index(7));
        m.app
            .insert(StateKey::FreeProofIndex(1), encode_free_index(5));
        let mut o = Overlay::new(&m);
        for b in [0x31u8, 0x32, 0x33] {
            o.set_account(Address::repeat_byte(b), acct(2));
        }
        o.set_account(
            Address::repeat_byte(0x11),
            AccountLeaf {
                nonce: 0,
                balance: U256::ZERO,
                code_hash: KECCAK_EMPTY,
            },
        );
        let (c, after) = o
            .finish(ProofIndices { next: 8, free: 2 }, 16)
            .expect("finish");
        let idx = |b: u8| index_of(&c, StateKey::Account(Address::repeat_byte(b)));
        assert_eq!((idx(0x31), idx(0x32), idx(0x33)), (5, 7, 8));
        assert_eq!(idx(0x11), 1);
        assert_eq!(after, ProofIndices { next: 9, free: 1 });
        apply(&mut m, &c);
        assert_eq!(stack(&m, 1), vec![1]);
        assert!(!m.app.contains_key(&StateKey::FreeProofIndex(1)));
    }

    /// The backstop: `finish` never hands out an index at or past the capacity, and a damaged
    /// stack is an error, not a silent duplicate.
    #[test]
    fn finish_refuses_an_index_past_capacity_or_a_damaged_stack() {
        let m = committed();
        let mut o = Overlay::new(&m);
        o.set_account(Address::repeat_byte(7), acct(1));
        assert!(matches!(
            o.finish(ProofIndices { next: 3, free: 0 }, 3),
            Err(StoreError::Corrupt(_))
        ));
        // A stack depth with no entry behind it.
        let mut o = Overlay::new(&m);
        o.set_account(Address::repeat_byte(7), acct(1));
        assert!(matches!(
            o.finish(ProofIndices { next: 3, free: 1 }, 8),
            Err(StoreError::Corrupt(_))
        ));
        // A stacked index never handed out.
        let mut m = committed();
        m.app
            .insert(StateKey::FreeProofIndex(0), encode_free_index(3));
        let mut o = Overlay::new(&m);
        o.set_account(Address::repeat_byte(7), acct(1));
        assert!(matches!(
            o.finish(ProofIndices { next: 3, free: 1 }, 8),
            Err(StoreError::Corrupt(_))
        ));
    }

    /// One transaction's finished state: each account touched (nonce 1, balance 1) with the
    /// given slots changed from zero to the given values.
    fn tx_state(writes: &[(Address, &[(u64, u64)])]) -> revm::state::EvmState {
        let mut st = revm::state::EvmState::default();
        for (addr, slots) in writes {
            let mut acc = revm::state::Account::from(AccountInfo {
                balance: U256::from(1),
                nonce: 1,
                code_hash: KECCAK_EMPTY,
                ..Default::default()
            });
            acc.mark_touch();
            for (s, v) in *slots {
                acc.storage.insert(
                    U256::from(*s),
                    revm::state::EvmStorageSlot::new_changed(
                        U256::ZERO,
                        U256::from(*v),
                        revm::state::TransactionId::ZERO,
                    ),
                );
            }
            st.insert(*addr, acc);
        }
        st
    }

    /// A transaction is committed only if the block's inserts stay within the room; a refused
    /// one leaves the overlay exactly as it was, and later ones that fit still commit.
    #[test]
    fn commit_within_room_refuses_whole_transactions() {
        let m = committed(); // account a with slots 3 and 9
        let (a, b, c, d) = (
            Address::repeat_byte(1),
            Address::repeat_byte(2),
            Address::repeat_byte(3),
            Address::repeat_byte(4),
        );
        let mut o = Overlay::new(&m);
        o.set_index_room(2);
        // Three inserts (account b and two slots): refused, nothing written.
        assert_eq!(
            o.commit_tx_within_room(tx_state(&[(b, &[(1, 1), (2, 2)])]))
                .expect("store"),
            Err(Full::ProofTree(ProofTreeFull {
                room: 2,
                inserts: 3
            }))
        );
        assert_eq!(o.evm_writes(), 0);
        assert_eq!(o.account(b).expect("read"), None);
        // The diff room (max_diff_entries) the same way: three entries do not fit two.
        let mut dr = Overlay::new(&m);
        dr.set_diff_room(2);
        assert_eq!(
            dr.commit_tx_within_room(tx_state(&[(b, &[(1, 1), (2, 2)])]))
                .expect("store"),
            Err(Full::Diff(DiffFull {
                room: 2,
                entries: 3,
                before: 0
            }))
        );
        assert_eq!(dr.evm_writes(), 0);
        dr.set_diff_room(3);
        assert_eq!(
            dr.commit_tx_within_room(tx_state(&[(b, &[(1, 1), (2, 2)])]))
                .expect("store"),
            Ok(())
        );
        assert_eq!(dr.diff_bound().expect("read"), 3);
        assert!(
            dr.write_fits(&StateKey::Account(b)).expect("read"),
            "a key already written adds no entry"
        );
        assert!(
            !dr.write_fits(&StateKey::Account(Address::repeat_byte(0x99)))
                .expect("read"),
            "a fourth entry does not fit"
        );
        // Account a and slot 3 exist: one insert (slot 5).
        o.commit_tx_within_room(tx_state(&[(a, &[(3, 7), (5, 8)])]))
            .expect("store")
            .expect("fits");
        o.commit_tx_within_room(tx_state(&[(c, &[])]))
            .expect("store")
            .expect("fits: two inserts, the room");
        assert_eq!(o.inserts().expect("read"), 2);
        let before = o.evm_writes();
        assert!(
            o.commit_tx_within_room(tx_state(&[(d, &[])]))
                .expect("store")
                .is_err()
        );
        assert_eq!(o.evm_writes(), before);
        // Updates still fit.
        o.commit_tx_within_room(tx_state(&[(a, &[(9, 1)])]))
            .expect("store")
            .expect("fits");
        let (changes, after) = o
            .finish(ProofIndices { next: 3, free: 0 }, 5)
            .expect("finish within the capacity");
        assert_eq!(after, ProofIndices { next: 5, free: 0 });
        assert_eq!(changes.diff.0.iter().filter(|e| e.old.is_none()).count(), 2);
    }

    proptest::proptest! {
        /// Random blocks of inserts, updates and deletions (through `insert_fits` as protocol
        /// handlers do, and through `commit_tx_within_room` as transactions do) against a tiny
        /// capacity: an insert never gets an index that is occupied, freed in the same block,
        /// given twice, or at or past the capacity; every index below `next` is either
        /// occupied or on the stack, exactly once (none leaks); a refusal happens only when
        /// the block's inserts have reached its room.
        #[test]
        fn indices_are_never_shared_never_leak_and_stay_below_capacity(
            capacity in 1u64..10,
            blocks in proptest::collection::vec(
                proptest::collection::vec((0u64..12, 0u8..3), 0..10),
                1..14,
            ),
        ) {
            let a = Address::repeat_byte(1);
            let mut m = Mem::default();
            let mut ix = ProofIndices::default();
            for (n, ops) in blocks.into_iter().enumerate() {
                let meta = ChainMeta {
                    next_proof_index: ix.next,
                    free_proof_indices: ix.free,
                    ..ChainMeta::default()
                };
                let room = meta.proof_index_room(capacity);
                let occupied: BTreeSet<u64> = m.evm.values().map(|v| v.proof_index).collect();
                let mut o = Overlay::new(&m);
                o.set_index_room(room);
                let value = U256::from(n as u64 + 1);
                for (slot, op) in ops {
                    let key = StateKey::Storage(a, U256::from(slot));
                    match op {
                        0 => o.set_storage(a, U256::from(slot), U256::ZERO),
                        1 => {
                            if o.insert_fits(&key).expect("read") {
                                o.set_storage(a, U256::from(slot), value);
                            } else {
                                proptest::prop_assert_eq!(o.inserts().expect("read"), room);
                            }
                        }
                        _ => {
                            let before = (o.evm_writes(), o.inserts().expect("read"));
                            let st = tx_state(&[(a, &[(slot, n as u64 + 1)])]);
                            if let Err(full) = o.commit_tx_within_room(st).expect("store") {
                                let Full::ProofTree(full) = full else {
                                    panic!("no diff room is set here: {full:?}")
                                };
                                proptest::prop_assert!(full.inserts > room);
                                proptest::prop_assert_eq!(
                                    (o.evm_writes(), o.inserts().expect("read")),
                                    before
                                );
                            }
                        }
                    }
                    proptest::prop_assert!(o.inserts().expect("read") <= room);
                }
                let (c, after) = o.finish(ix, capacity).expect("within the room, finish succeeds");
                let mut seen = BTreeSet::new();
                for e in &c.diff.0 {
                    proptest::prop_assert!(seen.insert(e.index), "index {} twice in a diff", e.index);
                    if e.old.is_none() {
                        proptest::prop_assert!(e.index < capacity);
                        proptest::prop_assert!(!occupied.contains(&e.index), "insert at occupied {}", e.index);
                    }
                }
                apply(&mut m, &c);
                ix = after;
                // Occupied and stacked indices partition 0..next.
                let mut all: Vec<u64> = m.evm.values().map(|v| v.proof_index).collect();
                all.extend(stack(&m, ix.free));
                all.sort_unstable();
                proptest::prop_assert_eq!(all, (0..ix.next).collect::<Vec<u64>>());
                proptest::prop_assert!(ix.next <= capacity);
                let stacked = m.app.keys().filter(|k| matches!(k, StateKey::FreeProofIndex(_))).count();
                proptest::prop_assert_eq!(stacked as u64, ix.free);
            }
        }
    }
}
