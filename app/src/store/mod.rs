//! The node's database (redb). One write transaction per block, committed in ABCI `Commit`;
//! everything else reads consistent snapshots ([`Reader`], in `read.rs`), which implement the
//! core's [`StateView`](crate::chain::view::StateView).
//!
//! Tables and their keys are the state schema of ADR 0001 plus derived, non-consensus indexes
//! (blocks, receipts, tx locations) that serve JSON-RPC. Block and transaction records are
//! stored in their binary codec ([`BlockRecord::encode`], ADR 0005). Decoding failures are
//! [`StoreError::Corrupt`]: the node stops rather than diverge.

use std::path::Path;

use alloy_primitives::{Address, B256, Bytes};
use parley_types::{BlockRecord, StateDiff, StateKey, TxRecord};
use redb::{ReadableDatabase as _, ReadableTable, ReadableTableMetadata as _, TableDefinition};

use crate::chain::evm::Executed;
use crate::chain::genesis::Params;
use crate::chain::overlay::Notice;
use crate::chain::view::StoreError;

mod read;

pub use read::{HistoryError, Reader, StateAt};

/// State entries: `StateKey::encode()` → `StateValue::encode()` / `ChainMeta::encode()`.
const STATE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("state");
/// Contract code by keccak256 hash.
const CODE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("code");
/// Executed L2 blocks ([`BlockRecord::encode`]) by number.
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
/// L2 block hash → number.
const BLOCK_NUMBERS: TableDefinition<&[u8], u64> = TableDefinition::new("block_numbers");
/// Transaction hash → [`TxRecord::encode`] (the tx, where it is, its receipt).
const TXS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("txs");
/// Canonical state diff bytes by block number (ADR 0001).
const DIFFS: TableDefinition<u64, &[u8]> = TableDefinition::new("diffs");
/// Node bookkeeping: last committed height and app hash, genesis parameters, history floor.
const INFO: TableDefinition<&str, &[u8]> = TableDefinition::new("info");
/// (slot, chunk u32 big-endian ‖ prover) → the proof bytes of a recorded transition, on chains
/// that aggregate epochs: local to the node (not state, not in the app hash), kept until the
/// epoch settles. (`proofs.v2`: v1 had no chunk.)
const PROOFS: TableDefinition<(u64, &[u8]), &[u8]> = TableDefinition::new("proofs.v2");

/// Protocol message hash → [`MessageResult::encode`]: how each message a block carried ended
/// (local to the node, like [`TXS`]; not state, not in the app hash). `parleyd msg` reads it to
/// tell "executed" from "refused at its turn" and from "its nonce went to another message".
const MESSAGES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("messages");

/// The second part of a [`PROOFS`] key.
pub(crate) fn proof_key(chunk: u32, prover: Address) -> [u8; 24] {
    let mut k = [0u8; 24];
    k[..4].copy_from_slice(&chunk.to_be_bytes());
    k[4..].copy_from_slice(prover.as_slice());
    k
}
/// INFO key of the database layout version (u32 big-endian).
const SCHEMA_KEY: &str = "schema";
/// Version of the database layout: 2 = binary block and tx records (ADR 0005); 3 = the
/// CometBFT chain id in INFO and the seed commitments of ADR 0009. A node refuses
/// a data directory of another version with a message saying to re-sync; bump it with any
/// change to a table's key or value encoding.
pub const SCHEMA_VERSION: u32 = 3;
/// Changesets (DESIGN §2 "History"): (height, state key) → the entry's value *before* that
/// height's block, `0x00` if it did not exist, else `0x01 ‖ value`.
const CHANGESETS: TableDefinition<(u64, &[u8]), &[u8]> = TableDefinition::new("changesets");
/// History index: (state key, height) for every height whose block changed the key.
const HISTORY: TableDefinition<(&[u8], u64), ()> = TableDefinition::new("history");
/// Most heights pruned from history in one commit, so a lowered retention catches up
/// gradually instead of stalling a block.
const PRUNE_PER_COMMIT: u64 = 16;

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
    /// The CometBFT chain id (InitChain only): vote-extension signatures cover it.
    pub chain_id: Option<String>,
    /// Proof bytes of the transitions the block recorded, (slot, chunk, prover, proof): kept
    /// beside state, never hashed, for the aggregator of the slot's epoch ([`Reader::proof`]).
    pub proofs: Vec<(u64, u32, Address, Vec<u8>)>,
    /// Drop the kept proofs of slots below this one (their epochs are settled).
    pub proofs_below: Option<u64>,
    /// How each protocol message of the block ended, by message hash.
    pub messages: Vec<(B256, MessageResult)>,
}

/// How one protocol message ended in the block that carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageResult {
    /// The height of the block that carried it.
    pub height: u64,
    /// Its result code: 0 executed; otherwise refused at its turn (the CheckTx codes of
    /// docs/protocol.md), with or without a fine.
    pub code: u32,
    /// Why it was refused (empty when executed).
    pub log: String,
}

impl MessageResult {
    /// `height` u64 big-endian ‖ `code` u32 big-endian ‖ `log` UTF-8.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(12 + self.log.len());
        b.extend_from_slice(&self.height.to_be_bytes());
        b.extend_from_slice(&self.code.to_be_bytes());
        b.extend_from_slice(self.log.as_bytes());
        b
    }

    /// The inverse of [`MessageResult::encode`].
    pub fn decode(b: &[u8]) -> Result<Self> {
        if b.len() < 12 {
            return Err(corrupt(format!("message result of {} bytes", b.len())));
        }
        let (h, rest) = b.split_at(8);
        let (c, log) = rest.split_at(4);
        Ok(Self {
            height: u64::from_be_bytes(h.try_into().map_err(corrupt)?),
            code: u32::from_be_bytes(c.try_into().map_err(corrupt)?),
            log: String::from_utf8(log.to_vec()).map_err(corrupt)?,
        })
    }
}

impl BlockWrites {
    /// An executed block's writes at `height`, whose app hash is now known (it is the block
    /// record's state root).
    pub fn executed(executed: Executed, height: u64, app_hash: B256) -> Self {
        let Executed {
            mut record,
            txs,
            diff,
            writes,
            code,
            skipped: _,
            messages: _,
            validator_updates: _,
            notices,
        } = executed;
        record.state_root = app_hash;
        let mut proofs = Vec::new();
        let mut proofs_below = None;
        for n in notices {
            match n {
                Notice::TransitionProof {
                    prover,
                    slot,
                    chunk,
                    proof,
                } => proofs.push((slot, chunk, prover, proof)),
                Notice::EpochsSettled { first_slot } => proofs_below = Some(first_slot),
                Notice::ProverSlashed { .. } | Notice::CommitFined { .. } => {}
            }
        }
        Self {
            height,
            app_hash,
            state: writes,
            code,
            block: Some((record, txs, diff)),
            params: None,
            chain_id: None,
            proofs,
            proofs_below,
            messages: Vec::new(),
        }
    }
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
        tx.open_table(CHANGESETS)?;
        tx.open_table(HISTORY)?;
        tx.open_table(PROOFS)?;
        tx.open_table(MESSAGES)?;
        {
            let mut info = tx.open_table(INFO)?;
            let found = info
                .get(SCHEMA_KEY)?
                .map(|v| v.value().to_vec())
                .map(|b| <[u8; 4]>::try_from(b.as_slice()).map(u32::from_be_bytes));
            let written_before = tx.open_table(BLOCKS)?.len()? > 0;
            match found {
                Some(Ok(SCHEMA_VERSION)) => {}
                None if !written_before => {
                    info.insert(SCHEMA_KEY, SCHEMA_VERSION.to_be_bytes().as_slice())?;
                }
                other => {
                    let found = match other {
                        Some(Ok(v)) => format!("schema {v}"),
                        Some(Err(_)) => "an unreadable schema entry".to_string(),
                        None => "schema 1 (JSON records, before ADR 0005)".to_string(),
                    };
                    return Err(StoreError::Db(format!(
                        "{}: written by another parleyd version ({found}); this version reads \
                         schema {SCHEMA_VERSION} and does not migrate: move the data \
                         directory away and let the node re-sync from its peers",
                        path.display()
                    )));
                }
            }
        }
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
                tx.open_table(BLOCKS)?
                    .insert(block.number, block.encode().as_slice())?;
                tx.open_table(BLOCK_NUMBERS)?
                    .insert(block.hash.as_slice(), block.number)?;
                let mut txs = tx.open_table(TXS)?;
                for t in txs_written {
                    txs.insert(t.hash.as_slice(), t.encode().as_slice())?;
                }
                tx.open_table(DIFFS)?
                    .insert(block.number, diff.encode().as_slice())?;
            }
            let mut proofs = tx.open_table(PROOFS)?;
            if let Some(below) = w.proofs_below {
                let dropped: Vec<(u64, Vec<u8>)> = proofs
                    .range((0u64, [].as_slice())..(below, [].as_slice()))?
                    .map(|item| item.map(|(k, _)| (k.value().0, k.value().1.to_vec())))
                    .collect::<Result<_, _>>()?;
                for (slot, prover) in dropped {
                    proofs.remove((slot, prover.as_slice()))?;
                }
            }
            for (slot, chunk, prover, proof) in &w.proofs {
                proofs.insert(
                    (*slot, proof_key(*chunk, *prover).as_slice()),
                    proof.as_slice(),
                )?;
            }
            let mut messages = tx.open_table(MESSAGES)?;
            for (hash, r) in &w.messages {
                messages.insert(hash.as_slice(), r.encode().as_slice())?;
            }
            let mut info = tx.open_table(INFO)?;
            info.insert("height", w.height.to_be_bytes().as_slice())?;
            info.insert("app_hash", w.app_hash.as_slice())?;
            if let Some(p) = &w.params {
                info.insert("params", serde_json::to_vec(p).map_err(corrupt)?.as_slice())?;
            }
            if let Some(id) = &w.chain_id {
                info.insert("cometbft_chain_id", id.as_bytes())?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Recorded transitions' proofs are kept beside state, read back by (slot, chunk, prover), and
    /// dropped below the slot a commit names (their epochs settled); state and the app hash
    /// are not touched by them.
    #[test]
    fn kept_proofs_are_read_back_and_dropped_once_their_epochs_settle() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("parley.redb")).expect("opens");
        let (a, b) = (Address::repeat_byte(1), Address::repeat_byte(2));
        store
            .commit(&BlockWrites {
                height: 1,
                app_hash: B256::repeat_byte(9),
                proofs: vec![
                    (3, 0, a, vec![3, 3]),
                    (3, 0, b, vec![4]),
                    (3, 1, a, vec![6]),
                    (5, 0, a, vec![5]),
                ],
                ..BlockWrites::default()
            })
            .expect("commits");
        let r = store.reader().expect("reader");
        assert_eq!(r.proof(3, 0, a).expect("reads"), Some(vec![3, 3]));
        assert_eq!(r.proof(3, 0, b).expect("reads"), Some(vec![4]));
        assert_eq!(r.proof(3, 1, a).expect("reads"), Some(vec![6]));
        assert_eq!(r.proof(3, 1, b).expect("reads"), None);
        assert_eq!(r.proof(4, 0, a).expect("reads"), None);
        drop(r);
        store
            .commit(&BlockWrites {
                height: 2,
                app_hash: B256::repeat_byte(9),
                proofs: vec![(9, 0, b, vec![9])],
                proofs_below: Some(5),
                ..BlockWrites::default()
            })
            .expect("commits");
        let r = store.reader().expect("reader");
        assert_eq!(r.proof(3, 0, a).expect("reads"), None);
        assert_eq!(r.proof(3, 0, b).expect("reads"), None);
        assert_eq!(r.proof(3, 1, a).expect("reads"), None);
        assert_eq!(r.proof(5, 0, a).expect("reads"), Some(vec![5]));
        assert_eq!(r.proof(9, 0, b).expect("reads"), Some(vec![9]));
        assert_eq!(r.last_commit().expect("reads").1, B256::repeat_byte(9));
    }

    /// A message record reads back as written; bytes too short for one, or a log that is not
    /// UTF-8, read as corruption.
    #[test]
    fn message_results_round_trip_and_reject_foreign_bytes() {
        let r = MessageResult {
            height: 7,
            code: 42,
            log: "ledger balance 0 wei does not cover 1".into(),
        };
        assert_eq!(MessageResult::decode(&r.encode()).expect("decodes"), r);
        assert!(matches!(
            MessageResult::decode(&[0; 11]),
            Err(StoreError::Corrupt(_))
        ));
        let mut bad = r.encode();
        bad.push(0xff);
        assert!(matches!(
            MessageResult::decode(&bad),
            Err(StoreError::Corrupt(_))
        ));
    }

    /// Record bytes that are not this version's encoding — a data directory written with the
    /// JSON records of earlier builds, or damage — read as corruption, never as a wrong value
    /// or a panic, and reading them changes nothing.
    #[test]
    fn foreign_record_bytes_read_as_corrupt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("parley.redb")).expect("opens");
        let hash = B256::repeat_byte(7);
        let json = br#"{"number":1,"hash":"0x07"}"#;
        let w = store.db.begin_write().expect("write");
        w.open_table(BLOCKS)
            .expect("blocks")
            .insert(1, json.as_slice())
            .expect("insert");
        w.open_table(BLOCKS)
            .expect("blocks")
            .insert(2, [1u8, 0, 0].as_slice())
            .expect("insert");
        w.open_table(TXS)
            .expect("txs")
            .insert(hash.as_slice(), json.as_slice())
            .expect("insert");
        w.commit().expect("commit");
        for _ in 0..2 {
            let r = store.reader().expect("reader");
            let e = r.block(1).expect_err("JSON is not a record");
            assert!(
                matches!(&e, StoreError::Corrupt(m) if m.contains("unsupported version 0x7b")),
                "{e}"
            );
            let e = r.block(2).expect_err("truncated");
            assert!(
                matches!(&e, StoreError::Corrupt(m) if m.contains("truncated")),
                "{e}"
            );
            let e = r.tx(&hash).expect_err("JSON is not a record");
            assert!(matches!(e, StoreError::Corrupt(_)), "{e}");
            assert_eq!(r.block(3).expect("absent is fine"), None);
        }
    }

    /// A data directory of another layout version is refused at open with a message that says
    /// what to do; one without a version entry is refused only when it already holds blocks
    /// (written before the version entry existed), and a fresh one gets the entry.
    #[test]
    fn another_schema_version_is_refused_at_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("parley.redb");
        let set = |version: Option<u32>, with_block: bool| {
            let db = redb::Database::create(&path).expect("opens");
            let w = db.begin_write().expect("write");
            {
                let mut info = w.open_table(INFO).expect("info");
                match version {
                    Some(v) => info.insert(SCHEMA_KEY, v.to_be_bytes().as_slice()),
                    None => info.remove(SCHEMA_KEY),
                }
                .expect("write schema");
                if with_block {
                    w.open_table(BLOCKS)
                        .expect("blocks")
                        .insert(1, br#"{"number":1}"#.as_slice())
                        .expect("insert");
                }
            }
            w.commit().expect("commit");
        };
        set(Some(SCHEMA_VERSION), false);
        Store::open(&path).expect("this version opens");
        set(Some(SCHEMA_VERSION + 1), false);
        let e = Store::open(&path).expect_err("a newer layout");
        assert!(
            e.to_string()
                .contains(&format!("schema {}", SCHEMA_VERSION + 1))
                && e.to_string().contains("re-sync"),
            "{e}"
        );
        set(None, true);
        let e = Store::open(&path).expect_err("blocks written before the version entry");
        assert!(e.to_string().contains("JSON records"), "{e}");
        let fresh = dir.path().join("fresh.redb");
        drop(Store::open(&fresh).expect("fresh"));
        let store = Store::open(&fresh).expect("reopens");
        let r = store.db.begin_read().expect("read");
        let v = r
            .open_table(INFO)
            .expect("info")
            .get(SCHEMA_KEY)
            .expect("get")
            .map(|v| v.value().to_vec());
        assert_eq!(v, Some(SCHEMA_VERSION.to_be_bytes().to_vec()));
    }
}
