//! The application state machine behind the ABCI glue ([`crate::abci`]).
//!
//! Canonical state changes happen only in [`App::finalize_block`] (computed, staged) and
//! [`App::commit`] (persisted in one redb transaction). CheckTx, PrepareProposal and
//! ProcessProposal only read the last committed snapshot.

use std::sync::{Arc, Mutex};

use alloy_consensus::Transaction as _;
use alloy_primitives::{Address, B256, Bytes};
use parley_types::{
    AccountLeaf, ChainMeta, DiffEntry, KECCAK_EMPTY, LeafValue, MerkleTree, StateDiff, StateKey,
    StateValue,
};

use crate::block::{L2Block, L2Header, Message, tx_root};
use crate::exec::{self, BlockRecord, SignedTx};
use crate::genesis::{AppGenesis, Params};
use crate::metrics as m;
use crate::overlay::{BlockHashes, WithHashes};
use crate::storage::{BlockWrites, Store, StoreError};
use crate::txcheck::{self, PendingNonces, SenderCache, TxError};

/// Fatal errors: the node stops rather than diverge.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Storage failed or is corrupt.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Execution hit a non-transaction failure.
    #[error(transparent)]
    Exec(#[from] exec::ExecError),
    /// The genesis is invalid.
    #[error("invalid genesis: {0}")]
    Genesis(String),
    /// An ABCI call arrived out of protocol order.
    #[error("protocol violation: {0}")]
    Protocol(String),
}

/// Result alias.
pub type Result<T, E = AppError> = std::result::Result<T, E>;

/// Block-level state owned by the consensus connection.
#[derive(Debug)]
struct Consensus {
    /// App-hash tree of the committed state plus, between FinalizeBlock and Commit, the staged
    /// block.
    tree: MerkleTree,
    /// Writes of the finalized, not yet committed block.
    staged: Option<BlockWrites>,
}

/// A proposal that passed ProcessProposal, kept so FinalizeBlock of the same block does not
/// decode and validate it again (keyed by the CometBFT block hash and height).
#[derive(Debug)]
struct Validated {
    cometbft_hash: B256,
    height: u64,
    header: L2Header,
    txs: Vec<SignedTx>,
}

struct Inner {
    store: Store,
    validated: Mutex<Option<Validated>>,
    params: Mutex<Option<Params>>,
    consensus: Mutex<Consensus>,
    senders: SenderCache,
    pending: PendingNonces,
    fee_recipient: Address,
    /// The last 256 committed L2 block hashes: `BLOCKHASH` is answered from memory.
    hashes: Mutex<BlockHashes>,
    /// Committed blocks and admitted transactions, for subscriptions and filters.
    events: tokio::sync::broadcast::Sender<Event>,
}

/// What the node tells JSON-RPC subscribers and filters. Not consensus: a slow listener
/// misses events (it lags) rather than slowing the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// L2 block with this number was committed.
    Block(u64),
    /// This node's mempool admitted a transaction with this hash.
    PendingTx(B256),
}

/// Events buffered per listener before it lags.
const EVENT_BUFFER: usize = 4096;

/// The application. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("App")
    }
}

/// Outcome of a ProcessProposal check.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The proposal follows the rules.
    Accept,
    /// It does not, and why.
    Reject(String),
}

/// The result of FinalizeBlock that CometBFT needs.
#[derive(Debug)]
pub struct Finalized {
    /// App hash after the block.
    pub app_hash: B256,
    /// One result per CometBFT tx: (code, log).
    pub tx_results: Vec<(u32, String)>,
    /// The executed L2 block's number, hash, tx count and skipped count.
    pub block: (u64, B256, usize, usize),
}

impl App {
    /// Opens the app on `store`, rebuilding the app-hash tree and checking it against the last
    /// committed app hash.
    pub fn new(store: Store, fee_recipient: Address) -> Result<Self> {
        let reader = store.reader()?;
        let (height, app_hash) = reader.last_commit()?;
        let params = reader.params()?;
        let tree = MerkleTree::from_leaves(reader.tree_leaves()?);
        if params.is_some() && tree.root() != app_hash {
            return Err(StoreError::Corrupt(format!(
                "state at height {height} hashes to {}, but {app_hash} was committed",
                tree.root()
            ))
            .into());
        }
        let mut hashes = BlockHashes::default();
        if params.is_some() {
            let last = reader.meta()?.last_block_number;
            let first = last.saturating_sub(BlockHashes::DEPTH as u64 - 1);
            for n in first..=last {
                if let Some(b) = reader.block(n)? {
                    hashes.push(n, b.hash);
                }
            }
        }
        tracing::info!(height, %app_hash, entries = tree.len(), "state loaded");
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                validated: Mutex::new(None),
                params: Mutex::new(params),
                consensus: Mutex::new(Consensus { tree, staged: None }),
                senders: SenderCache::default(),
                pending: PendingNonces::default(),
                fee_recipient,
                hashes: Mutex::new(hashes),
                events: tokio::sync::broadcast::channel(EVENT_BUFFER).0,
            }),
        })
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Genesis parameters (None before InitChain).
    pub fn params(&self) -> Option<Params> {
        self.inner.params.lock().expect("params lock").clone()
    }

    fn params_or_err(&self) -> Result<Params> {
        self.params()
            .ok_or_else(|| AppError::Protocol("chain not initialised".into()))
    }

    /// Listens to committed blocks and admitted transactions.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// Mempool bookkeeping for `eth_getTransactionCount(pending)`.
    pub fn pending(&self) -> &PendingNonces {
        &self.inner.pending
    }

    /// Stateless decoding with the shared sender cache.
    pub fn decode_tx(&self, raw: &[u8], params: &Params) -> Result<SignedTx, TxError> {
        if Message::is_protocol(raw) {
            return Err(TxError::Protocol("submit user transactions only".into()));
        }
        txcheck::decode(raw, params, &self.inner.senders)
    }

    /// Last committed (height, app hash).
    pub fn info(&self) -> Result<(u64, B256)> {
        Ok(self.inner.store.reader()?.last_commit()?)
    }

    /// InitChain: writes the genesis state as block 0 and returns the app hash.
    pub fn init_chain(&self, app_state: &[u8], initial_height: u64) -> Result<B256> {
        let genesis =
            AppGenesis::from_json(app_state).map_err(|e| AppError::Genesis(e.to_string()))?;
        let mut entries: std::collections::BTreeMap<StateKey, LeafValue> = Default::default();
        let mut code = Vec::new();
        for a in &genesis.accounts {
            let code_hash = if a.code.is_empty() {
                KECCAK_EMPTY
            } else {
                alloy_primitives::keccak256(&a.code)
            };
            if !a.code.is_empty() {
                code.push((code_hash, a.code.clone()));
            }
            let leaf = AccountLeaf {
                nonce: a.nonce,
                balance: a.balance,
                code_hash,
            };
            if !leaf.is_empty() {
                entries.insert(StateKey::Account(a.address), LeafValue::Account(leaf));
            }
            for (slot, v) in &a.storage {
                if !v.is_zero() {
                    entries.insert(StateKey::Storage(a.address, *slot), LeafValue::Storage(*v));
                }
            }
        }
        let mut diff = Vec::new();
        let mut writes = Vec::new();
        for (i, (key, leaf)) in entries.into_iter().enumerate() {
            let index = i as u64;
            diff.push(DiffEntry {
                key,
                index,
                old: None,
                new: Some(leaf),
            });
            writes.push((
                key,
                Some(
                    StateValue {
                        leaf,
                        proof_index: index,
                    }
                    .encode(),
                ),
            ));
        }
        let genesis_number = initial_height.saturating_sub(1);
        let meta = ChainMeta {
            next_base_fee: genesis.params.initial_base_fee,
            last_block_number: genesis_number,
            last_block_hash: B256::ZERO,
            last_receipts_root: B256::ZERO,
            last_timestamp: 0,
            next_proof_index: diff.len() as u64,
        };
        writes.insert(0, (StateKey::Meta, Some(meta.encode())));
        let mut tree = MerkleTree::new();
        let app_hash = tree.update(
            writes
                .iter()
                .map(|(k, v)| (k.path(), v.as_ref().map(alloy_primitives::keccak256))),
        );
        let reader = self.inner.store.reader()?;
        if let Some(params) = reader.params()? {
            // CometBFT repeats InitChain after a crash before the first block: accept the very
            // same genesis again (same parameters, same state) and answer the same app hash.
            let (height, stored) = reader.last_commit()?;
            if params == genesis.params && height == genesis_number && stored == app_hash {
                tracing::info!(%app_hash, "InitChain repeated before the first block");
                return Ok(app_hash);
            }
            return Err(AppError::Protocol(format!(
                "InitChain on a database already at height {height} with app hash {stored}; \
                 this genesis gives {app_hash} at height {genesis_number}"
            )));
        }
        let record = BlockRecord {
            number: genesis_number,
            hash: B256::ZERO,
            parent_hash: B256::ZERO,
            timestamp: 0,
            builder: Address::ZERO,
            base_fee: genesis.params.initial_base_fee,
            gas_limit: genesis.params.block_gas_limit,
            gas_used: 0,
            tx_root: tx_root([]),
            receipts_root: B256::ZERO,
            logs_bloom: Default::default(),
            state_root: app_hash,
            tx_hashes: vec![],
            tx_fees: vec![],
        };
        self.inner.store.commit(&BlockWrites {
            height: genesis_number,
            app_hash,
            state: writes,
            code,
            block: Some((record, vec![], StateDiff(diff))),
            params: Some(genesis.params.clone()),
        })?;
        *self.inner.params.lock().expect("params lock") = Some(genesis.params);
        let mut c = self.inner.consensus.lock().expect("consensus lock");
        c.tree = tree;
        c.staged = None;
        tracing::info!(%app_hash, accounts = genesis.accounts.len(), "genesis written");
        Ok(app_hash)
    }

    /// CheckTx: `recheck` is true when CometBFT re-validates after a commit.
    pub fn check_tx(&self, raw: &[u8], recheck: bool) -> Result<Result<SignedTx, TxError>> {
        let params = self.params_or_err()?;
        let tx = match self.decode_tx(raw, &params) {
            Ok(tx) => tx,
            Err(e) => return Ok(Err(e)),
        };
        let reader = self.inner.store.reader()?;
        let verdict = txcheck::check_state(&tx, &reader, &self.inner.pending)?;
        let nonce = tx.envelope.nonce();
        match &verdict {
            Ok(()) if !recheck => {
                self.inner.pending.add(&tx);
                // Nobody listening is fine: the send only fails without receivers.
                let _ = self.inner.events.send(Event::PendingTx(tx.hash));
            }
            Ok(()) => {}
            Err(_) => self.inner.pending.remove(tx.from, nonce),
        }
        Ok(verdict.map(|()| tx))
    }

    /// PrepareProposal: builds the proposer's L2 block from mempool transactions.
    pub fn prepare_proposal(
        &self,
        height: u64,
        time_secs: u64,
        mempool_txs: &[Bytes],
        max_tx_bytes: u64,
    ) -> Result<Vec<Bytes>> {
        let params = self.params_or_err()?;
        let reader = self.inner.store.reader()?;
        let meta = reader.meta()?;
        let mut candidates = Vec::with_capacity(mempool_txs.len());
        for raw in mempool_txs {
            if let Ok(tx) = self.decode_tx(raw, &params) {
                candidates.push(tx);
            }
        }
        // Envelope overhead: magic, version, kind, header and list prefixes.
        let budget = max_tx_bytes.saturating_sub(512);
        let mut header = L2Header {
            chain_id: params.chain_id,
            number: height,
            parent_hash: meta.last_block_hash,
            timestamp: time_secs,
            builder: self.inner.fee_recipient,
            base_fee: meta.next_base_fee,
            gas_limit: params.block_gas_limit,
            tx_root: B256::ZERO,
        };
        let hashes = self.inner.hashes.lock().expect("hashes lock").clone();
        let view = WithHashes {
            view: &reader,
            hashes: &hashes,
        };
        let txs = crate::builder::select(&view, &params, &header, candidates, budget)?;
        header.tx_root = tx_root(txs.iter().map(|t| t.hash));
        let block = L2Block {
            header,
            txs: txs.into_iter().map(|t| t.raw).collect(),
        };
        m::proposal_txs(block.txs.len());
        Ok(vec![Bytes::from(Message::ProposerBlock(block).encode())])
    }

    /// Checks an L2 block against the rules at `height`; returns its decoded transactions.
    fn validate_block(
        &self,
        block: &L2Block,
        height: u64,
        time_secs: u64,
        params: &Params,
        meta: &ChainMeta,
    ) -> std::result::Result<Vec<SignedTx>, String> {
        let h = &block.header;
        if h.chain_id != params.chain_id {
            return Err(format!("chain id {} != {}", h.chain_id, params.chain_id));
        }
        if h.number != height {
            return Err(format!("block number {} != height {height}", h.number));
        }
        if h.parent_hash != meta.last_block_hash {
            return Err(format!(
                "parent hash {} != {}",
                h.parent_hash, meta.last_block_hash
            ));
        }
        if h.timestamp != time_secs {
            return Err(format!(
                "timestamp {} != block time {time_secs}",
                h.timestamp
            ));
        }
        if h.base_fee != meta.next_base_fee {
            return Err(format!("base fee {} != {}", h.base_fee, meta.next_base_fee));
        }
        if h.gas_limit != params.block_gas_limit {
            return Err(format!(
                "gas limit {} != {}",
                h.gas_limit, params.block_gas_limit
            ));
        }
        if block.txs.len() as u64 > params.max_block_txs {
            return Err(format!(
                "{} txs > max {}",
                block.txs.len(),
                params.max_block_txs
            ));
        }
        let mut txs = Vec::with_capacity(block.txs.len());
        let mut seen = std::collections::BTreeSet::new();
        for (i, raw) in block.txs.iter().enumerate() {
            let tx = self
                .decode_tx(raw, params)
                .map_err(|e| format!("tx {i}: {e}"))?;
            if !seen.insert(tx.hash) {
                return Err(format!("tx {i}: duplicate {}", tx.hash));
            }
            txs.push(tx);
        }
        // The block gas limit is enforced per transaction at execution (Ethereum's rule:
        // a tx fits while its gas limit is at most the gas left), not on the sum of limits.
        if h.tx_root != tx_root(txs.iter().map(|t| t.hash)) {
            return Err("tx root does not match the transactions".into());
        }
        Ok(txs)
    }

    /// Finds the single proposer block of a proposal (and no raw user txs).
    fn the_block(txs: &[Bytes]) -> std::result::Result<L2Block, String> {
        let mut block = None;
        for (i, raw) in txs.iter().enumerate() {
            match Message::decode(raw) {
                Ok(Message::ProposerBlock(b)) if block.is_none() => block = Some(b),
                Ok(Message::ProposerBlock(_)) => return Err(format!("tx {i}: second L2 block")),
                Err(e) => {
                    return Err(format!(
                        "tx {i}: {e} (raw user transactions travel inside L2 blocks)"
                    ));
                }
            }
        }
        block.ok_or_else(|| "proposal has no L2 block".into())
    }

    /// ProcessProposal.
    pub fn process_proposal(
        &self,
        height: u64,
        time_secs: u64,
        cometbft_hash: B256,
        txs: &[Bytes],
    ) -> Result<Verdict> {
        let params = self.params_or_err()?;
        let meta = self.inner.store.reader()?.meta()?;
        let verdict = Self::the_block(txs).and_then(|b| {
            self.validate_block(&b, height, time_secs, &params, &meta)
                .map(|s| (b.header, s))
        });
        Ok(match verdict {
            Ok((header, txs)) => {
                *self.inner.validated.lock().expect("validated lock") = Some(Validated {
                    cometbft_hash,
                    height,
                    header,
                    txs,
                });
                Verdict::Accept
            }
            Err(why) => {
                tracing::warn!(height, reason = %why, "rejecting proposal");
                m::proposal_rejected();
                Verdict::Reject(why)
            }
        })
    }

    /// FinalizeBlock: executes the height's L2 block on top of committed state and stages the
    /// writes for Commit.
    pub fn finalize_block(
        &self,
        height: u64,
        time_secs: u64,
        block_hash: B256,
        txs: &[Bytes],
    ) -> Result<Finalized> {
        let params = self.params_or_err()?;
        let reader = self.inner.store.reader()?;
        let meta = reader.meta()?;
        let cached = self
            .inner
            .validated
            .lock()
            .expect("validated lock")
            .take()
            .filter(|v| v.cometbft_hash == block_hash && v.height == height)
            .map(|v| (v.header, v.txs));
        let validated = match cached {
            Some(v) => Ok(v),
            None => Self::the_block(txs).and_then(|b| {
                self.validate_block(&b, height, time_secs, &params, &meta)
                    .map(|s| (b.header, s))
            }),
        };
        let (header, signed) = match validated {
            Ok(x) => x,
            Err(why) => {
                // Only reachable if more than a third of the voting power is faulty: execute
                // an empty block so that every honest node still agrees.
                tracing::error!(height, reason = %why, "decided block breaks the rules; executing it empty");
                let header = L2Header {
                    chain_id: params.chain_id,
                    number: height,
                    parent_hash: meta.last_block_hash,
                    timestamp: time_secs,
                    builder: Address::ZERO,
                    base_fee: meta.next_base_fee,
                    gas_limit: params.block_gas_limit,
                    tx_root: tx_root([]),
                };
                (header, Vec::new())
            }
        };
        let hashes = self.inner.hashes.lock().expect("hashes lock").clone();
        let view = WithHashes {
            view: &reader,
            hashes: &hashes,
        };
        let executed = exec::execute_block(&view, &params, &meta, &header, &signed, block_hash)?;
        let mut c = self.inner.consensus.lock().expect("consensus lock");
        if c.staged.is_some() {
            return Err(AppError::Protocol(
                "FinalizeBlock twice without Commit".into(),
            ));
        }
        let app_hash = c.tree.update(
            executed
                .writes
                .iter()
                .map(|(k, v)| (k.path(), v.as_ref().map(alloy_primitives::keccak256))),
        );
        let number = executed.record.number;
        let hash = executed.record.hash;
        let n_txs = executed.txs.len();
        let n_skipped = executed.skipped.len();
        m::block_executed(n_txs, n_skipped, executed.record.gas_used);
        c.staged = Some(executed.into_writes(height, app_hash));
        let tx_results = txs.iter().map(|_| (0, String::new())).collect();
        Ok(Finalized {
            app_hash,
            tx_results,
            block: (number, hash, n_txs, n_skipped),
        })
    }

    /// Commit: persists the staged block.
    pub fn commit(&self) -> Result<u64> {
        let mut c = self.inner.consensus.lock().expect("consensus lock");
        let staged = c
            .staged
            .take()
            .ok_or_else(|| AppError::Protocol("Commit without FinalizeBlock".into()))?;
        self.inner.store.commit(&staged)?;
        drop(c);
        if let Some((block, _, _)) = &staged.block {
            self.inner
                .hashes
                .lock()
                .expect("hashes lock")
                .push(block.number, block.hash);
            let _ = self.inner.events.send(Event::Block(block.number));
        }
        let reader = self.inner.store.reader()?;
        self.inner.pending.prune(|a| {
            reader
                .account(*a)
                .ok()
                .flatten()
                .map_or(0, |(acc, _)| acc.nonce)
        });
        m::committed(staged.height);
        Ok(staged.height)
    }

    /// ABCI Query: `/params`, `/meta`, `/proof/<hex key>` (value and app-hash proof).
    pub fn query(&self, path: &str) -> Result<std::result::Result<Vec<u8>, String>> {
        let reader = self.inner.store.reader()?;
        Ok(match path {
            "/params" => Ok(serde_json::to_vec(&reader.params()?).expect("params serialize")),
            "/meta" => Ok(serde_json::to_vec(&reader.meta()?).expect("meta serializes")),
            p if p.starts_with("/proof/") => {
                let key = hex::decode(p.trim_start_matches("/proof/").trim_start_matches("0x"))
                    .map_err(|e| e.to_string())
                    .and_then(|b| StateKey::decode(&b).map_err(|e| e.to_string()));
                match key {
                    Err(e) => Err(format!("bad key: {e}")),
                    Ok(key) => {
                        let c = self.inner.consensus.lock().expect("consensus lock");
                        if c.staged.is_some() {
                            return Ok(Err("a block is being committed; retry".into()));
                        }
                        let proof = c.tree.prove(&key.path());
                        let value = match key {
                            StateKey::Meta => None,
                            _ => reader.entry(&key)?.map(|v| Bytes::from(v.encode())),
                        };
                        Ok(serde_json::to_vec(&serde_json::json!({
                            "app_hash": c.tree.root(),
                            "key": Bytes::from(key.encode()),
                            "value": value,
                            "siblings": proof.siblings,
                            "terminal": proof.terminal,
                        }))
                        .expect("proof serializes"))
                    }
                }
            }
            other => Err(format!(
                "unknown query path {other:?}; known: /params, /meta, /proof/<key hex>"
            )),
        })
    }
}
