//! The node's database (redb). One write transaction per block, committed in ABCI `Commit`;
//! everything else reads consistent snapshots.
//!
//! Tables and their keys are the state schema of ADR 0001 plus derived, non-consensus indexes
//! (blocks, receipts, tx locations) that serve JSON-RPC. Consensus-critical decoding failures
//! are [`StoreError::Corrupt`]: the node stops rather than diverge.

use std::path::Path;

use alloy_primitives::{Address, B256, Bytes, U256};
use parley_types::{ChainMeta, StateDiff, StateKey, StateValue};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use crate::exec::{BlockRecord, TxRecord};
use crate::genesis::Params;

/// State entries: `StateKey::encode()` → `StateValue::encode()` / `ChainMeta::encode()`.
const STATE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("state");
/// Contract code by keccak256 hash.
const CODE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("code");
/// Executed L2 blocks (JSON [`BlockRecord`]) by number.
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
/// L2 block hash → number.
const BLOCK_NUMBERS: TableDefinition<&[u8], u64> = TableDefinition::new("block_numbers");
/// Transaction hash → JSON [`TxRecord`] (the tx, where it is, its receipt).
const TXS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("txs");
/// Canonical state diff bytes by block number (ADR 0001).
const DIFFS: TableDefinition<u64, &[u8]> = TableDefinition::new("diffs");
/// Node bookkeeping: last committed height and app hash, genesis parameters, history floor.
const INFO: TableDefinition<&str, &[u8]> = TableDefinition::new("info");
/// Changesets (DESIGN §2 "History"): (height, state key) → the entry's value *before* that
/// height's block, `0x00` if it did not exist, else `0x01 ‖ value`.
const CHANGESETS: TableDefinition<(u64, &[u8]), &[u8]> = TableDefinition::new("changesets");
/// History index: (state key, height) for every height whose block changed the key.
const HISTORY: TableDefinition<(&[u8], u64), ()> = TableDefinition::new("history");
/// Most heights pruned from history in one commit, so a lowered retention catches up
/// gradually instead of stalling a block.
const PRUNE_PER_COMMIT: u64 = 16;

/// A storage failure. Fatal for consensus paths.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database engine failed.
    #[error("database: {0}")]
    Db(String),
    /// Bytes in the database do not decode.
    #[error("database is corrupt: {0}")]
    Corrupt(String),
}

macro_rules! db_err {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { StoreError::Db(e.to_string()) }
        }
    )*};
}
db_err!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

/// Result alias.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Why a state read at a past height failed.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The height is older than the retained history.
    #[error(
        "state at block {height} is pruned: this node keeps state from block {oldest} on (history_retention)"
    )]
    Pruned {
        /// Requested height.
        height: u64,
        /// Oldest readable height.
        oldest: u64,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<redb::StorageError> for HistoryError {
    fn from(e: redb::StorageError) -> Self {
        Self::Store(e.into())
    }
}

impl From<redb::TableError> for HistoryError {
    fn from(e: redb::TableError) -> Self {
        Self::Store(e.into())
    }
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// Everything one block writes, applied atomically by [`Store::commit`].
#[derive(Debug, Default)]
pub struct BlockWrites {
    /// Height being committed.
    pub height: u64,
    /// App hash after the block.
    pub app_hash: B256,
    /// State entries written (`None` deletes), in key order.
    pub state: Vec<(StateKey, Option<Vec<u8>>)>,
    /// New contract code.
    pub code: Vec<(B256, Bytes)>,
    /// The executed L2 block, if the height carried one.
    pub block: Option<(BlockRecord, Vec<TxRecord>, StateDiff)>,
    /// Genesis parameters (InitChain only).
    pub params: Option<Params>,
}

/// The database handle. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: std::sync::Arc<redb::Database>,
    /// Heights of history kept behind the last commit (0: all of it, an archive node).
    retention: u64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

impl Store {
    /// Opens or creates the database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Db(format!("{}: {e}", dir.display())))?;
        }
        let db = redb::Database::create(path)?;
        let store = Self {
            db: std::sync::Arc::new(db),
            retention: 0,
        };
        // Create the tables so that readers never see them missing.
        let tx = store.db.begin_write()?;
        tx.open_table(STATE)?;
        tx.open_table(CODE)?;
        tx.open_table(BLOCKS)?;
        tx.open_table(BLOCK_NUMBERS)?;
        tx.open_table(TXS)?;
        tx.open_table(DIFFS)?;
        tx.open_table(INFO)?;
        tx.open_table(CHANGESETS)?;
        tx.open_table(HISTORY)?;
        tx.commit()?;
        Ok(store)
    }

    /// Keeps the state history of the last `blocks` heights (0 keeps all: an archive node).
    /// Older history is pruned a few heights per commit.
    pub fn with_retention(mut self, blocks: u64) -> Self {
        self.retention = blocks;
        self
    }

    /// A consistent snapshot of the last commit.
    pub fn reader(&self) -> Result<Reader> {
        Ok(Reader {
            tx: self.db.begin_read()?,
        })
    }

    /// Writes one block atomically and durably.
    pub fn commit(&self, w: &BlockWrites) -> Result<()> {
        let mut tx = self.db.begin_write()?;
        tx.set_durability(redb::Durability::Immediate)?;
        {
            let mut state = tx.open_table(STATE)?;
            let mut changesets = tx.open_table(CHANGESETS)?;
            let mut history = tx.open_table(HISTORY)?;
            for (k, v) in &w.state {
                let key = k.encode();
                let old = match v {
                    Some(v) => state.insert(key.as_slice(), v.as_slice())?,
                    None => state.remove(key.as_slice())?,
                };
                let mut before =
                    Vec::with_capacity(1 + old.as_ref().map_or(0, |g| g.value().len()));
                match old {
                    Some(g) => {
                        before.push(1);
                        before.extend_from_slice(g.value());
                    }
                    None => before.push(0),
                }
                changesets.insert((w.height, key.as_slice()), before.as_slice())?;
                history.insert((key.as_slice(), w.height), ())?;
            }
            if self.retention > 0 {
                prune(
                    &mut tx.open_table(INFO)?,
                    &mut changesets,
                    &mut history,
                    w.height,
                    self.retention,
                )?;
            }
            let mut code = tx.open_table(CODE)?;
            for (h, c) in &w.code {
                code.insert(h.as_slice(), c.as_ref())?;
            }
            if let Some((block, txs_written, diff)) = &w.block {
                let json = serde_json::to_vec(block).map_err(corrupt)?;
                tx.open_table(BLOCKS)?
                    .insert(block.number, json.as_slice())?;
                tx.open_table(BLOCK_NUMBERS)?
                    .insert(block.hash.as_slice(), block.number)?;
                let mut txs = tx.open_table(TXS)?;
                for t in txs_written {
                    let json = serde_json::to_vec(t).map_err(corrupt)?;
                    txs.insert(t.hash.as_slice(), json.as_slice())?;
                }
                tx.open_table(DIFFS)?
                    .insert(block.number, diff.encode().as_slice())?;
            }
            let mut info = tx.open_table(INFO)?;
            info.insert("height", w.height.to_be_bytes().as_slice())?;
            info.insert("app_hash", w.app_hash.as_slice())?;
            if let Some(p) = &w.params {
                info.insert("params", serde_json::to_vec(p).map_err(corrupt)?.as_slice())?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

/// Drops the history of heights more than `retention` behind `height` (at most
/// [`PRUNE_PER_COMMIT`] of them), and records the new floor.
fn prune(
    info: &mut redb::Table<&str, &[u8]>,
    changesets: &mut redb::Table<(u64, &[u8]), &[u8]>,
    history: &mut redb::Table<(&[u8], u64), ()>,
    height: u64,
    retention: u64,
) -> Result<()> {
    let floor = history_floor(info)?;
    // Keep the changesets of heights above `height - retention`: the state at
    // `height - retention` and later stays readable.
    let target = height
        .saturating_add(1)
        .saturating_sub(retention)
        .max(floor);
    let until = target.min(floor.saturating_add(PRUNE_PER_COMMIT));
    for h in floor..until {
        let keys: Vec<Vec<u8>> = changesets
            .range((h, [].as_slice())..(h + 1, [].as_slice()))?
            .map(|item| item.map(|(k, _)| k.value().1.to_vec()))
            .collect::<Result<_, _>>()?;
        for k in keys {
            changesets.remove((h, k.as_slice()))?;
            history.remove((k.as_slice(), h))?;
        }
    }
    if until > floor {
        info.insert("history_floor", until.to_be_bytes().as_slice())?;
    }
    Ok(())
}

/// The lowest height whose changeset is still kept.
fn history_floor(info: &impl ReadableTable<&'static str, &'static [u8]>) -> Result<u64> {
    Ok(match info.get("history_floor")? {
        Some(g) => u64::from_be_bytes(g.value().try_into().map_err(corrupt)?),
        None => 0,
    })
}

/// Decodes a changeset value: `0x00` absent, `0x01 ‖ bytes` present.
fn decode_before(bytes: &[u8]) -> Result<Option<Vec<u8>>> {
    match bytes.split_first() {
        Some((0, [])) => Ok(None),
        Some((1, v)) => Ok(Some(v.to_vec())),
        _ => Err(corrupt("malformed changeset value")),
    }
}

/// A read snapshot.
pub struct Reader {
    tx: redb::ReadTransaction,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reader")
    }
}

impl Reader {
    fn state_raw(&self, key: &StateKey) -> Result<Option<Vec<u8>>> {
        let t = self.tx.open_table(STATE)?;
        Ok(t.get(key.encode().as_slice())?.map(|g| g.value().to_vec()))
    }

    /// An account or storage entry.
    pub fn entry(&self, key: &StateKey) -> Result<Option<StateValue>> {
        self.state_raw(key)?
            .map(|b| StateValue::decode(&b, matches!(key, StateKey::Account(_))).map_err(corrupt))
            .transpose()
    }

    /// A storage slot's value (zero if absent).
    pub fn storage(&self, address: Address, slot: U256) -> Result<U256> {
        Ok(match self.entry(&StateKey::Storage(address, slot))? {
            Some(StateValue {
                leaf: parley_types::LeafValue::Storage(v),
                ..
            }) => v,
            Some(_) => return Err(corrupt("storage entry holds an account")),
            None => U256::ZERO,
        })
    }

    /// An account's fields, if it exists.
    pub fn account(&self, address: Address) -> Result<Option<(parley_types::AccountLeaf, u64)>> {
        match self.entry(&StateKey::Account(address))? {
            Some(StateValue {
                leaf: parley_types::LeafValue::Account(a),
                proof_index,
            }) => Ok(Some((a, proof_index))),
            Some(_) => Err(corrupt("account entry holds a storage value")),
            None => Ok(None),
        }
    }

    /// Contract code by hash.
    pub fn code(&self, hash: &B256) -> Result<Option<Bytes>> {
        let t = self.tx.open_table(CODE)?;
        Ok(t.get(hash.as_slice())?
            .map(|g| Bytes::copy_from_slice(g.value())))
    }

    /// The raw bytes of a non-EVM entry.
    pub fn app_entry(&self, key: &StateKey) -> Result<Option<Vec<u8>>> {
        self.state_raw(key)
    }

    /// Chain meta; default before genesis.
    pub fn meta(&self) -> Result<ChainMeta> {
        self.state_raw(&StateKey::Meta)?
            .map(|b| ChainMeta::decode(&b).map_err(corrupt))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    /// Last committed height and app hash (0 and empty before InitChain).
    pub fn last_commit(&self) -> Result<(u64, B256)> {
        let t = self.tx.open_table(INFO)?;
        let height = match t.get("height")? {
            Some(g) => u64::from_be_bytes(g.value().try_into().map_err(corrupt)?),
            None => 0,
        };
        let hash = match t.get("app_hash")? {
            Some(g) => B256::try_from(g.value()).map_err(corrupt)?,
            None => B256::ZERO,
        };
        Ok((height, hash))
    }

    /// Genesis parameters, once InitChain has run.
    pub fn params(&self) -> Result<Option<Params>> {
        let t = self.tx.open_table(INFO)?;
        t.get("params")?
            .map(|g| serde_json::from_slice(g.value()).map_err(corrupt))
            .transpose()
    }

    /// An executed L2 block.
    pub fn block(&self, number: u64) -> Result<Option<BlockRecord>> {
        let t = self.tx.open_table(BLOCKS)?;
        t.get(number)?
            .map(|g| serde_json::from_slice(g.value()).map_err(corrupt))
            .transpose()
    }

    /// Number of the L2 block with this hash.
    pub fn block_number(&self, hash: &B256) -> Result<Option<u64>> {
        let t = self.tx.open_table(BLOCK_NUMBERS)?;
        Ok(t.get(hash.as_slice())?.map(|g| g.value()))
    }

    /// An included transaction and its receipt.
    pub fn tx(&self, hash: &B256) -> Result<Option<TxRecord>> {
        let t = self.tx.open_table(TXS)?;
        t.get(hash.as_slice())?
            .map(|g| serde_json::from_slice(g.value()).map_err(corrupt))
            .transpose()
    }

    /// The canonical diff bytes of a block.
    pub fn diff(&self, number: u64) -> Result<Option<StateDiff>> {
        let t = self.tx.open_table(DIFFS)?;
        t.get(number)?
            .map(|g| StateDiff::decode(g.value()).map_err(corrupt))
            .transpose()
    }

    /// Every committed storage slot of `address`, in slot order (a key-range scan).
    pub fn storage_slots(&self, address: Address) -> Result<Vec<U256>> {
        let t = self.tx.open_table(STATE)?;
        let lo = StateKey::Storage(address, U256::ZERO).encode();
        let hi = StateKey::Storage(address, U256::MAX).encode();
        let mut out = Vec::new();
        for item in t.range(lo.as_slice()..=hi.as_slice())? {
            let (k, _) = item?;
            match StateKey::decode(k.value()).map_err(corrupt)? {
                StateKey::Storage(_, slot) => out.push(slot),
                other => return Err(corrupt(format!("{other:?} inside a storage range"))),
            }
        }
        Ok(out)
    }

    /// The raw value of a state entry as it was after block `height` (the state *at* that
    /// block): the value before the first later change, else the current one.
    /// Errors name the retained range when `height` is older than the kept history.
    pub fn entry_raw_at(
        &self,
        key: &StateKey,
        height: u64,
    ) -> Result<Option<Vec<u8>>, HistoryError> {
        let (last, _) = self.last_commit()?;
        if height >= last {
            return Ok(self.state_raw(key)?);
        }
        let floor = history_floor(&self.tx.open_table(INFO)?)?;
        // The state after `height` needs every change from `height + 1` on.
        if height.saturating_add(1) < floor {
            return Err(HistoryError::Pruned {
                height,
                oldest: floor.saturating_sub(1),
            });
        }
        let k = key.encode();
        let history = self.tx.open_table(HISTORY)?;
        let next = history
            .range((k.as_slice(), height + 1)..=(k.as_slice(), u64::MAX))?
            .next()
            .transpose()?
            .map(|(g, _)| g.value().1);
        match next {
            None => Ok(self.state_raw(key)?),
            Some(h) => {
                let changesets = self.tx.open_table(CHANGESETS)?;
                let v = changesets.get((h, k.as_slice()))?.ok_or_else(|| {
                    corrupt(format!("history names height {h} without a changeset"))
                })?;
                Ok(decode_before(v.value())?)
            }
        }
    }

    /// A view of the state as it was after block `height`, for reads and calls at a past
    /// block; refused when that history is pruned.
    pub fn state_at(&self, height: u64) -> Result<StateAt<'_>, HistoryError> {
        let (last, _) = self.last_commit()?;
        if height >= last {
            // The latest state: plain reads, no history lookups.
            return Ok(StateAt {
                reader: self,
                height: None,
            });
        }
        let oldest = self.oldest_state()?;
        if height < oldest {
            return Err(HistoryError::Pruned { height, oldest });
        }
        Ok(StateAt {
            reader: self,
            height: Some(height),
        })
    }

    /// The oldest height whose state can still be read (0 on an archive node).
    pub fn oldest_state(&self) -> Result<u64> {
        Ok(history_floor(&self.tx.open_table(INFO)?)?.saturating_sub(1))
    }

    /// Every state entry as (path, keccak256(value)), to rebuild the app-hash tree.
    pub fn tree_leaves(&self) -> Result<Vec<(B256, B256)>> {
        let t = self.tx.open_table(STATE)?;
        let mut out =
            Vec::with_capacity(usize::try_from(redb::ReadableTableMetadata::len(&t)?).unwrap_or(0));
        for item in t.iter()? {
            let (k, v) = item?;
            out.push((
                alloy_primitives::keccak256(k.value()),
                alloy_primitives::keccak256(v.value()),
            ));
        }
        Ok(out)
    }
}

impl crate::overlay::StateView for Reader {
    fn entry(&self, key: &StateKey) -> Result<Option<StateValue>> {
        Reader::entry(self, key)
    }
    fn app_entry(&self, key: &StateKey) -> Result<Option<Vec<u8>>> {
        Reader::app_entry(self, key)
    }
    fn storage_slots(&self, address: Address) -> Result<Vec<U256>> {
        Reader::storage_slots(self, address)
    }
    fn code(&self, hash: &B256) -> Result<Option<Bytes>> {
        Reader::code(self, hash)
    }
    /// From the block table (off the consensus path, which uses the in-memory ring).
    fn block_hash(&self, number: u64) -> Result<B256> {
        Ok(self.block(number)?.map(|b| b.hash).unwrap_or_default())
    }
}

/// The state as it was after one block, read through the changesets and history index.
#[derive(Debug)]
pub struct StateAt<'a> {
    reader: &'a Reader,
    /// `None`: the latest state of this snapshot.
    height: Option<u64>,
}

impl StateAt<'_> {
    fn raw(&self, key: &StateKey) -> Result<Option<Vec<u8>>> {
        let Some(height) = self.height else {
            return self.reader.state_raw(key);
        };
        self.reader.entry_raw_at(key, height).map_err(|e| match e {
            HistoryError::Store(e) => e,
            // `state_at` checked the floor on this same snapshot.
            e @ HistoryError::Pruned { .. } => corrupt(e),
        })
    }
}

impl crate::overlay::StateView for StateAt<'_> {
    fn entry(&self, key: &StateKey) -> Result<Option<StateValue>> {
        self.raw(key)?
            .map(|b| StateValue::decode(&b, matches!(key, StateKey::Account(_))).map_err(corrupt))
            .transpose()
    }
    fn app_entry(&self, key: &StateKey) -> Result<Option<Vec<u8>>> {
        self.raw(key)
    }
    /// Only block execution enumerates storage (to delete a destroyed account's slots), and
    /// nothing executes a block on past state.
    fn storage_slots(&self, _address: Address) -> Result<Vec<U256>> {
        Err(StoreError::Db(
            "storage enumeration at a past block is not supported".into(),
        ))
    }
    fn code(&self, hash: &B256) -> Result<Option<Bytes>> {
        // Code is stored by hash and never deleted.
        self.reader.code(hash)
    }
    fn block_hash(&self, number: u64) -> Result<B256> {
        Ok(self
            .reader
            .block(number)?
            .map(|b| b.hash)
            .unwrap_or_default())
    }
}
