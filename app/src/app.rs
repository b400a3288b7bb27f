//! The application: the state a node keeps between ABCI calls, and one method per call that
//! runs it through the rooms. ABCI glue ([`crate::abci`]) and JSON-RPC ([`crate::rpc`]) call
//! in here; the work happens in
//!
//! - [`crate::chain`], the deterministic core: genesis state, block rules, execution;
//! - [`crate::mempool`]: admission and the proposer's block builder;
//! - [`crate::store`]: the database, read as snapshots and written once per block.
//!
//! What [`App`] owns: the store, the app-hash tree of committed state (plus the staged block
//! between FinalizeBlock and Commit), the proposal ProcessProposal accepted (so FinalizeBlock
//! of the same block does not check it again), the genesis parameters, the mempool's sender
//! cache and pending transactions, the `BLOCKHASH` ring and the event stream.
//!
//! Canonical state changes happen only in [`App::finalize_block`] (computed, staged) and
//! [`App::commit`] (persisted in one redb transaction). CheckTx, PrepareProposal and
//! ProcessProposal only read the last committed snapshot.

use std::sync::{Arc, Mutex, OnceLock};

use alloy_consensus::Transaction as _;
use alloy_primitives::{Address, B256, Bytes};
use parley_types::{MerkleProof, MerkleTree, StateKey};

use crate::chain::auction;
use crate::chain::block::Message;
use crate::chain::evm::{self, ExecError};
use crate::chain::genesis::{AppGenesis, Params};
use crate::chain::ledger::{self, Ledger, LedgerError, ValidatorUpdate};
use crate::chain::msg::{self, SignedMsg};
use crate::chain::overlay::{Notice, Overlay};
use crate::chain::rules::{self, Proposal, Verdict};
use crate::chain::seed::{self, LastCommit};
use crate::chain::tx::{self, SignedTx, TxError};
use crate::chain::view::{BlockHashes, StoreError, WithHashes};
use crate::mempool::{PendingNonces, SenderCache, admission, builder};
use crate::node::metrics as m;
use crate::store::{BlockWrites, Store};
use crate::verifier::Verifier;

/// Fatal errors: the node stops rather than diverge.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Storage failed or is corrupt.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Execution hit a non-transaction failure.
    #[error(transparent)]
    Exec(#[from] ExecError),
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
    proposal: Proposal,
}

struct Inner {
    store: Store,
    validated: Mutex<Option<Validated>>,
    params: Mutex<Option<Params>>,
    /// The CometBFT chain id (None before InitChain): vote-extension signatures cover it.
    chain_id: Mutex<Option<String>>,
    /// This node's CometBFT private key seed, when it can sign as a validator: its vote
    /// extensions carry its seed commitments and openings (ADR 0009).
    validator_key: Mutex<Option<[u8; 32]>>,
    /// This validator's bridge key (DESIGN §6): signs pending epoch digests in its vote
    /// extensions. `None`: its extensions carry no bridge vote.
    bridge_key: Mutex<Option<alloy_signer_local::PrivateKeySigner>>,
    /// What this node's L1 watcher has seen of the Rollup's queue (`crate::l1watch`): its
    /// queue votes and the batches it proposes come from it. Empty without a watcher.
    l1_view: Arc<std::sync::RwLock<crate::chain::l1queue::L1View>>,
    consensus: Mutex<Consensus>,
    senders: SenderCache,
    pending: PendingNonces,
    fee_recipient: Address,
    /// The last 256 committed L2 block hashes: `BLOCKHASH` is answered from memory.
    hashes: Mutex<BlockHashes>,
    /// Committed blocks and admitted transactions, for subscriptions and filters.
    events: tokio::sync::broadcast::Sender<Event>,
    /// Block-proof checking, once the genesis says proving is on (set at startup or InitChain).
    verifier: OnceLock<Arc<Verifier>>,
    /// Whether InitChain builds the epoch verifier ahead of the first `Aggregate` (on unless
    /// [`App::set_epoch_warm`] turned it off).
    epoch_warm: std::sync::atomic::AtomicBool,
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

/// The result of FinalizeBlock that CometBFT needs.
#[derive(Debug)]
pub struct Finalized {
    /// App hash after the block.
    pub app_hash: B256,
    /// One result per CometBFT tx: (code, log).
    pub tx_results: Vec<(u32, String)>,
    /// The executed L2 block's number, hash, tx count and skipped count.
    pub block: (u64, B256, usize, usize),
    /// Validator-set changes for CometBFT (epoch boundaries only).
    pub validator_updates: Vec<ValidatorUpdate>,
}

/// The CometBFT chain id [`App::init_chain`] records (in-process tests and benches; a node
/// gets its chain id from CometBFT's InitChain).
pub const TEST_CHAIN_ID: &str = "parley-test";

/// A message's result code and log: 0 when it executed, else why it was refused at its turn
/// (with or without a fine).
fn message_outcome(o: &Result<ledger::Applied, LedgerError>) -> (u32, String) {
    match o {
        Ok(ledger::Applied {
            rejected: Some(e), ..
        }) => (e.code(), e.to_string()),
        Ok(_) => (0, String::new()),
        Err(e) => (e.code(), e.to_string()),
    }
}

/// Result code of the txs of a decided block that broke the proposal rules (executed empty).
pub const RULE_BREAKING_CODE: u32 = 20;

/// How far past a sender's next protocol nonce the mempool accepts messages.
pub const MAX_MESSAGE_NONCE_AHEAD: u64 = 16;

/// What CheckTx admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    /// The EVM transaction hash, or the message's keccak256.
    pub hash: B256,
    /// Gas the mempool accounts for (0 for protocol messages).
    pub gas_wanted: u64,
}

/// Why CheckTx refused: the response code (codespace `parley`) and a log for the sender.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{log}")]
pub struct Refusal {
    /// The code.
    pub code: u32,
    /// What is wrong, in words.
    pub log: String,
}

impl Refusal {
    fn new(code: u32, why: impl std::fmt::Display) -> Self {
        Self {
            code,
            log: why.to_string(),
        }
    }
}

impl From<TxError> for Refusal {
    fn from(e: TxError) -> Self {
        Self::new(e.code(), e)
    }
}

impl App {
    /// Opens the app on `store`, rebuilding the app-hash tree and checking it against the last
    /// committed app hash.
    pub fn new(store: Store, fee_recipient: Address) -> Result<Self> {
        let reader = store.reader()?;
        let (height, app_hash) = reader.last_commit()?;
        let params = reader.params()?;
        let chain_id = reader.cometbft_chain_id()?;
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
        let app = Self {
            inner: Arc::new(Inner {
                store,
                validated: Mutex::new(None),
                params: Mutex::new(params),
                chain_id: Mutex::new(chain_id),
                validator_key: Mutex::new(None),
                bridge_key: Mutex::new(None),
                l1_view: Arc::default(),
                consensus: Mutex::new(Consensus { tree, staged: None }),
                senders: SenderCache::default(),
                pending: PendingNonces::default(),
                fee_recipient,
                hashes: Mutex::new(hashes),
                events: tokio::sync::broadcast::channel(EVENT_BUFFER).0,
                verifier: OnceLock::new(),
                epoch_warm: std::sync::atomic::AtomicBool::new(true),
            }),
        };
        app.start_verifier();
        Ok(app)
    }

    /// Whether InitChain starts building the epoch verifier in the background (default on:
    /// a node then verifies the first `Aggregate` without waiting minutes for the key).
    /// In-process tests turn it off: without it the key is built at the first `Aggregate`,
    /// and a test that never sends one spends neither the minutes nor the gigabytes.
    pub fn set_epoch_warm(&self, on: bool) {
        self.inner
            .epoch_warm
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Sets up block-proof checking when the genesis enables proving.
    fn start_verifier(&self) {
        if let Some(p) = self.params().and_then(|p| p.protocol.proving) {
            let store = self.inner.store.clone();
            self.inner
                .verifier
                .get_or_init(|| Arc::new(Verifier::new(store, p)));
        }
    }

    /// The block-proof checker, when proving is on.
    pub fn verifier(&self) -> Option<&Arc<Verifier>> {
        self.inner.verifier.get()
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

    /// Sets the CometBFT private key seed this node signs votes with (its
    /// `priv_validator_key.json`); without one, its vote extensions are empty.
    pub fn set_validator_key(&self, key_seed: Option<[u8; 32]>) {
        *self.inner.validator_key.lock().expect("key lock") = key_seed;
    }

    /// Sets this validator's bridge key (config `bridge_key`); without one, its vote
    /// extensions carry no bridge vote.
    pub fn set_bridge_key(&self, key: Option<alloy_signer_local::PrivateKeySigner>) {
        *self.inner.bridge_key.lock().expect("bridge key lock") = key;
    }

    /// This node's view of the L1 queue, which its L1 watcher fills (tests fill it by hand).
    pub fn l1_view(&self) -> Arc<std::sync::RwLock<crate::chain::l1queue::L1View>> {
        self.inner.l1_view.clone()
    }

    /// The CometBFT chain id recorded at InitChain.
    pub fn chain_id(&self) -> Option<String> {
        self.inner.chain_id.lock().expect("chain id lock").clone()
    }

    fn chain_id_or_err(&self) -> Result<String> {
        self.chain_id()
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

    /// The core's stateless transaction rules, with this node's sender cache.
    pub fn decode_tx(&self, raw: &[u8], params: &Params) -> Result<SignedTx, TxError> {
        tx::decode(raw, params, &self.inner.senders)
    }

    /// Last committed (height, app hash).
    pub fn info(&self) -> Result<(u64, B256)> {
        Ok(self.inner.store.reader()?.last_commit()?)
    }

    /// InitChain without a CometBFT validator list (tests, benches): see
    /// [`Self::init_chain_with`].
    pub fn init_chain(&self, app_state: &[u8], initial_height: u64) -> Result<B256> {
        self.init_chain_with(
            app_state,
            initial_height,
            &[],
            TEST_CHAIN_ID,
            initial_height,
        )
        .map(|(h, _)| h)
    }

    /// InitChain: writes the genesis state as block `initial_height - 1` and returns the app
    /// hash and the validator set to answer CometBFT with. `cometbft_validators` are the
    /// CometBFT genesis validators (ed25519 key, power). When the app genesis registers
    /// validators, CometBFT's list must be empty (the registry's set is answered) or the very
    /// same set; when it registers none, CometBFT's set stands and the registry does not
    /// manage it. `chain_id` is CometBFT's (vote-extension signatures cover it), and vote
    /// extensions must be on from the initial height (`vote_extensions_enable_height`): the
    /// prover draw's seed comes from them (ADR 0009).
    pub fn init_chain_with(
        &self,
        app_state: &[u8],
        initial_height: u64,
        cometbft_validators: &[([u8; 32], u64)],
        chain_id: &str,
        vote_extensions_enable_height: u64,
    ) -> Result<(B256, Vec<ValidatorUpdate>)> {
        let genesis =
            AppGenesis::from_json(app_state).map_err(|e| AppError::Genesis(e.to_string()))?;
        if vote_extensions_enable_height == 0 || vote_extensions_enable_height > initial_height {
            return Err(AppError::Genesis(format!(
                "consensus_params.abci.vote_extensions_enable_height is \
                 {vote_extensions_enable_height}; Parley needs vote extensions from the \
                 initial height {initial_height} on (the prover draw's seed travels in them, \
                 ADR 0009): set it to \"{initial_height}\" in CometBFT's genesis.json"
            )));
        }
        let registered = genesis.validator_set();
        let answer = match (registered.is_empty(), cometbft_validators.is_empty()) {
            (true, _) => Vec::new(),
            (false, true) => registered
                .iter()
                .map(|(k, p)| ValidatorUpdate {
                    consensus_key: *k,
                    power: *p,
                })
                .collect(),
            (false, false) => {
                let mut theirs = cometbft_validators.to_vec();
                theirs.sort_unstable();
                let mut ours = registered.clone();
                ours.sort_unstable();
                if theirs != ours {
                    return Err(AppError::Genesis(format!(
                        "app_state.validators ({} with powers {:?}) are not the CometBFT \
                         genesis validators ({} with powers {:?}); power is bond / \
                         power_unit",
                        ours.len(),
                        ours.iter().map(|v| v.1).collect::<Vec<_>>(),
                        theirs.len(),
                        theirs.iter().map(|v| v.1).collect::<Vec<_>>()
                    )));
                }
                Vec::new()
            }
        };
        // DESIGN §3 "Deadlines and censorship": a penalized deadline must span more heights
        // than there are validators, so an honest proposer falls inside it.
        let validators = registered.len().max(cometbft_validators.len()) as u64;
        let window = genesis.params.protocol.min_penalty_window;
        if window <= validators {
            return Err(AppError::Genesis(format!(
                "params.protocol.min_penalty_window ({window}) must exceed the number of \
                 validators ({validators})"
            )));
        }
        let app_hash = self.write_genesis(&genesis, initial_height, chain_id)?;
        Ok((app_hash, answer))
    }

    fn write_genesis(
        &self,
        genesis: &AppGenesis,
        initial_height: u64,
        chain_id: &str,
    ) -> Result<B256> {
        let genesis_number = initial_height.saturating_sub(1);
        let state = genesis.state(initial_height);
        let app_hash = state.app_hash;
        let reader = self.inner.store.reader()?;
        if let Some(params) = reader.params()? {
            // CometBFT repeats InitChain after a crash before the first block: accept the very
            // same genesis again (same parameters, same state) and answer the same app hash.
            let (height, stored) = reader.last_commit()?;
            if params == genesis.params
                && height == genesis_number
                && stored == app_hash
                && reader.cometbft_chain_id()?.as_deref() == Some(chain_id)
            {
                tracing::info!(%app_hash, "InitChain repeated before the first block");
                return Ok(app_hash);
            }
            return Err(AppError::Protocol(format!(
                "InitChain on a database already at height {height} with app hash {stored}; \
                 this genesis gives {app_hash} at height {genesis_number}"
            )));
        }
        self.inner.store.commit(&BlockWrites {
            height: genesis_number,
            app_hash,
            state: state.writes,
            code: state.code,
            block: Some((state.record, vec![], state.diff)),
            params: Some(genesis.params.clone()),
            chain_id: Some(chain_id.to_string()),
            ..BlockWrites::default()
        })?;
        *self.inner.params.lock().expect("params lock") = Some(genesis.params.clone());
        *self.inner.chain_id.lock().expect("chain id lock") = Some(chain_id.to_string());
        self.start_verifier();
        // A genesis whose pinned block circuit this node cannot build stops the node now.
        if let Some(v) = self.verifier() {
            v.warm()?;
            if self
                .inner
                .epoch_warm
                .load(std::sync::atomic::Ordering::Relaxed)
            {
                v.warm_epoch();
            }
        }
        let mut c = self.inner.consensus.lock().expect("consensus lock");
        c.tree = state.tree;
        c.staged = None;
        tracing::info!(%app_hash, accounts = genesis.accounts.len(), "genesis written");
        Ok(app_hash)
    }

    /// CheckTx for anything CometBFT hands the mempool: a signed protocol message
    /// ([`Self::check_message`]) or an EVM transaction ([`Self::check_tx`]).
    pub fn check(&self, raw: &[u8], recheck: bool) -> Result<Result<Admitted, Refusal>> {
        if msg::is_signed_message(raw) {
            return Ok(self.check_message(raw, recheck)?.map(|m| Admitted {
                hash: m.hash,
                gas_wanted: 0,
            }));
        }
        Ok(self
            .check_tx(raw, recheck)?
            .map(|tx| Admitted {
                hash: tx.hash,
                gas_wanted: tx.envelope.gas_limit(),
            })
            .map_err(Refusal::from))
    }

    /// CheckTx of a signed protocol message: the stateless rules, then its nonce against the
    /// sender's ledger account. The sender's next message is run on a throwaway overlay of
    /// committed state (refused now means refused at execution); a later nonce, up to
    /// [`MAX_MESSAGE_NONCE_AHEAD`] ahead, waits in the mempool for the ones before it.
    pub fn check_message(&self, raw: &[u8], _recheck: bool) -> Result<Result<SignedMsg, Refusal>> {
        let params = self.params_or_err()?;
        let m = match msg::decode(raw, params.chain_id) {
            Ok(m) => m,
            Err(e) => return Ok(Err(Refusal::new(e.code(), e))),
        };
        let reader = self.inner.store.reader()?;
        let mut overlay = Overlay::new(&reader);
        // The proof tree's room, as the next block has it (ADR 0011: a `Withdraw` that
        // would create an account in a full tree is refused).
        overlay.set_index_room(
            reader
                .meta()?
                .proof_index_room(params.proof_index_capacity()),
        );
        let next = Ledger::new(&mut overlay).account(m.sender)?.nonce;
        if m.nonce < next || m.nonce >= next.saturating_add(MAX_MESSAGE_NONCE_AHEAD) {
            let e = LedgerError::Nonce {
                expected: next,
                got: m.nonce,
            };
            return Ok(Err(Refusal::new(e.code(), e)));
        }
        if m.nonce == next {
            let height = reader.last_commit()?.0.saturating_add(1);
            if let Err(e) = ledger::apply(&mut overlay, &params, height, &m, None)? {
                return Ok(Err(Refusal::new(e.code(), e)));
            }
        }
        Ok(Ok(m))
    }

    /// CheckTx of an EVM transaction: `recheck` is true when CometBFT re-validates after a
    /// commit.
    pub fn check_tx(&self, raw: &[u8], recheck: bool) -> Result<Result<SignedTx, TxError>> {
        let params = self.params_or_err()?;
        let tx = match self.decode_tx(raw, &params) {
            Ok(tx) => tx,
            Err(e) => return Ok(Err(e)),
        };
        let reader = self.inner.store.reader()?;
        let verdict = admission::check_state(&tx, &reader, &self.inner.pending)?;
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

    /// PrepareProposal: the seed openings of `last_commit` at an inclusion height, then the
    /// mempool's protocol messages, then (when nobody won the slot) the proposer's L2 block
    /// from mempool transactions.
    pub fn prepare_proposal(
        &self,
        height: u64,
        time_secs: u64,
        mempool_txs: &[Bytes],
        max_tx_bytes: u64,
        last_commit: &LastCommit,
    ) -> Result<Vec<Bytes>> {
        let params = self.params_or_err()?;
        let reader = self.inner.store.reader()?;
        let meta = reader.meta()?;
        let auctioned = Self::auctioned(&reader, height)?;
        let mut out = Vec::new();
        let chain_id = self.chain_id_or_err()?;
        if let Some(r) = seed::collect(
            &mut Overlay::new(&reader),
            &params,
            height,
            &chain_id,
            last_commit,
        )? {
            out.push(Bytes::from(Message::Seed(r).encode()));
        }
        if let Some(a) = crate::chain::bridge::collect(&mut Overlay::new(&reader), last_commit)? {
            out.push(Bytes::from(Message::Attest(a).encode()));
        }
        let batch = {
            let view = self.inner.l1_view.read().expect("l1 view lock");
            crate::chain::l1queue::collect(&mut Overlay::new(&reader), &params, &view, last_commit)?
        };
        if let Some(b) = batch {
            let m = Message::L1Queue(b).encode();
            // A batch is at most ~270 KiB; a block too small for it leaves it to a later one.
            if (m.len() as u64) <= max_tx_bytes / 2 {
                out.push(Bytes::from(m));
            } else {
                tracing::warn!(target: "parley::bridge", bytes = m.len(), max_tx_bytes, "L1 queue batch left out: the block's byte budget is too small");
            }
        }
        let seed_bytes: u64 = out.iter().map(|m| m.len() as u64).sum();
        let max_tx_bytes = max_tx_bytes.saturating_sub(seed_bytes);
        let messages = self.pick_messages(
            &reader,
            &params,
            height,
            mempool_txs,
            max_tx_bytes,
            auctioned,
        )?;
        if auctioned {
            // The winner's reveal is the block: the proposal carries messages only.
            out.extend(messages);
            return Ok(out);
        }
        let message_bytes: u64 = messages.iter().map(|m| m.len() as u64).sum();
        let candidates = mempool_txs
            .iter()
            .filter(|raw| !msg::is_signed_message(raw))
            .filter_map(|raw| self.decode_tx(raw, &params).ok())
            .collect();
        let hashes = self.inner.hashes.lock().expect("hashes lock").clone();
        let view = WithHashes {
            view: &reader,
            hashes: &hashes,
        };
        let block = builder::build(
            &view,
            &params,
            &meta,
            height,
            time_secs,
            self.inner.fee_recipient,
            candidates,
            max_tx_bytes.saturating_sub(message_bytes),
        )?;
        m::proposal_txs(block.txs.len());
        out.extend(messages);
        out.push(Bytes::from(Message::ProposerBlock(block).encode()));
        Ok(out)
    }

    /// The block rules ([`rules::check_proposal`]) with this node's sender cache, and the
    /// seed rule ([`seed::check_reveals`]) against `last_commit` on committed state.
    #[allow(clippy::too_many_arguments)]
    fn check_proposal(
        &self,
        reader: &crate::store::Reader,
        txs: &[Bytes],
        height: u64,
        time_secs: u64,
        params: &Params,
        meta: &parley_types::ChainMeta,
        auctioned: bool,
        last_commit: &LastCommit,
    ) -> Result<Result<Proposal, String>> {
        let mut proposal = match rules::check_proposal(
            txs,
            height,
            time_secs,
            params,
            meta,
            &self.inner.senders,
            auctioned,
        ) {
            Ok(p) => p,
            Err(why) => return Ok(Err(why)),
        };
        let chain_id = self.chain_id_or_err()?;
        if let Err(why) = seed::check_reveals(
            &mut Overlay::new(reader),
            params,
            height,
            &chain_id,
            last_commit,
            proposal.seed.as_ref(),
        )? {
            return Ok(Err(why));
        }
        if let Some(a) = &proposal.attest
            && let Err(why) = crate::chain::bridge::check_attest(&mut Overlay::new(reader), a)?
        {
            return Ok(Err(why));
        }
        if let Some(b) = &proposal.l1_queue {
            match crate::chain::l1queue::check_batch(&mut Overlay::new(reader), params, b)? {
                Ok(effect) => proposal.l1_queue_effect = effect,
                Err(why) => return Ok(Err(why)),
            }
        }
        Ok(Ok(proposal))
    }

    /// ExtendVote at `height`: this validator's seed extension (empty away from reveal
    /// heights, or when the node has no validator key), then its bridge vote when an epoch
    /// digest is pending and the node has a bridge key in the signing set, then its L1 queue
    /// vote when its watcher has seen entries the chain has not consumed.
    pub fn extend_vote(&self, height: u64) -> Result<Vec<u8>> {
        let Some(key) = *self.inner.validator_key.lock().expect("key lock") else {
            return Ok(Vec::new());
        };
        let params = self.params_or_err()?;
        let chain_id = self.chain_id_or_err()?;
        let reader = self.inner.store.reader()?;
        let mut out =
            seed::own_extension(&mut Overlay::new(&reader), &params, height, &key, &chain_id)?;
        let signer = self
            .inner
            .bridge_key
            .lock()
            .expect("bridge key lock")
            .clone();
        if let Some(signer) = signer {
            if let Some(v) = crate::chain::bridge::own_vote(&mut Overlay::new(&reader), &signer)? {
                out.extend_from_slice(&v.encode());
            }
            let view = self.inner.l1_view.read().expect("l1 view lock");
            if let Some(v) = crate::chain::l1queue::own_vote(
                &mut Overlay::new(&reader),
                &params,
                &view,
                &signer,
            )? {
                out.extend_from_slice(&v.encode());
            }
        }
        Ok(out)
    }

    /// VerifyVoteExtension: `validator`'s extension at `height` against the seed rule
    /// ([`seed::check_extension`]).
    pub fn verify_vote_extension(
        &self,
        height: u64,
        validator: Address,
        extension: &[u8],
    ) -> Result<Result<(), seed::SeedError>> {
        let params = self.params_or_err()?;
        let reader = self.inner.store.reader()?;
        if let Err(why) = seed::check_extension(
            &mut Overlay::new(&reader),
            &params,
            height,
            validator,
            extension,
        )? {
            return Ok(Err(why));
        }
        let parts = crate::chain::bridge::split(extension);
        if let Err(why) =
            crate::chain::bridge::check_vote(&mut Overlay::new(&reader), validator, parts.epoch)?
        {
            return Ok(Err(why.into()));
        }
        Ok(crate::chain::l1queue::check_vote(
            &mut Overlay::new(&reader),
            &params,
            validator,
            parts.queue,
        )?
        .map_err(seed::SeedError::from))
    }

    /// Whether slot `height` was auctioned (a winner was selected), from committed state.
    fn auctioned(reader: &crate::store::Reader, height: u64) -> Result<bool> {
        Ok(auction::is_auctioned(&mut Overlay::new(reader), height)?)
    }

    /// The protocol messages of a proposal: those of the mempool, in its order, that execute
    /// (run on a throwaway overlay in that order, so a sender's nonces chain), within the
    /// per-kind cap and half the byte budget (the rest is the L2 block's; all of it when the
    /// slot was auctioned and the proposal carries no block).
    fn pick_messages(
        &self,
        reader: &crate::store::Reader,
        params: &Params,
        height: u64,
        mempool_txs: &[Bytes],
        max_tx_bytes: u64,
        auctioned: bool,
    ) -> Result<Vec<Bytes>> {
        let mut overlay = Overlay::new(reader);
        overlay.set_index_room(
            reader
                .meta()?
                .proof_index_room(params.proof_index_capacity()),
        );
        let mut per_kind = std::collections::BTreeMap::new();
        let budget = if auctioned {
            max_tx_bytes
        } else {
            max_tx_bytes / 2
        };
        let mut used = 0u64;
        let mut out = Vec::new();
        // Nonces chain in mempool order only if the mempool holds them in order; a second
        // pass picks up a sender's later message that arrived before an earlier one.
        let mut left: Vec<&Bytes> = mempool_txs
            .iter()
            .filter(|r| msg::is_signed_message(r))
            .collect();
        for _pass in 0..2 {
            let mut again = Vec::new();
            for raw in left {
                let Ok(m) = msg::decode(raw, params.chain_id) else {
                    continue;
                };
                let n = per_kind.entry(m.action.kind()).or_insert(0u64);
                if *n >= params.protocol.max_messages_per_kind || used + raw.len() as u64 > budget {
                    continue;
                }
                match ledger::apply(&mut overlay, params, height, &m, None)? {
                    Ok(_) => {
                        *n += 1;
                        used += raw.len() as u64;
                        out.push(raw.clone());
                    }
                    Err(LedgerError::Nonce { expected, got }) if got > expected => {
                        again.push(raw);
                    }
                    Err(_) => {}
                }
            }
            left = again;
        }
        Ok(out)
    }

    /// ProcessProposal: checks the proposal against the block rules and keeps the decoded
    /// block for FinalizeBlock.
    pub fn process_proposal(
        &self,
        height: u64,
        time_secs: u64,
        cometbft_hash: B256,
        txs: &[Bytes],
        last_commit: &LastCommit,
    ) -> Result<Verdict> {
        let params = self.params_or_err()?;
        let reader = self.inner.store.reader()?;
        let meta = reader.meta()?;
        let auctioned = Self::auctioned(&reader, height)?;
        let checked = self.check_proposal(
            &reader,
            txs,
            height,
            time_secs,
            &params,
            &meta,
            auctioned,
            last_commit,
        )?;
        Ok(match checked {
            Ok(proposal) => {
                *self.inner.validated.lock().expect("validated lock") = Some(Validated {
                    cometbft_hash,
                    height,
                    proposal,
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
        last_commit: &LastCommit,
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
            .map(|v| v.proposal);
        let auctioned = Self::auctioned(&reader, height)?;
        let checked = match cached {
            Some(v) => Ok(v),
            None => self.check_proposal(
                &reader,
                txs,
                height,
                time_secs,
                &params,
                &meta,
                auctioned,
                last_commit,
            )?,
        };
        let (proposal, broke) = match checked {
            Ok(p) => (p, false),
            Err(why) => {
                tracing::error!(height, reason = %why, "decided block breaks the rules; executing it empty");
                // No messages and no proposer block; an auctioned slot still executes what
                // its winner revealed before (or is withheld).
                let empty = Proposal {
                    messages: Vec::new(),
                    seed: None,
                    attest: None,
                    l1_queue: None,
                    l1_queue_effect: Default::default(),
                    block: (!auctioned).then(|| {
                        (
                            rules::empty_block(&params, &meta, height, time_secs),
                            vec![],
                        )
                    }),
                };
                (empty, true)
            }
        };
        let hashes = self.inner.hashes.lock().expect("hashes lock").clone();
        let view = WithHashes {
            view: &reader,
            hashes: &hashes,
        };
        let input = evm::BlockInput {
            height,
            time_secs,
            proposer: proposal.block.as_ref().map(|(h, txs)| (h, txs.as_slice())),
            seed: proposal.seed.as_ref(),
            attest: proposal.attest.as_ref(),
            l1_queue: proposal
                .l1_queue
                .as_ref()
                .map(|b| (b, proposal.l1_queue_effect)),
            proofs: self
                .verifier()
                .map(|v| v.as_ref() as &dyn crate::chain::proving::ProofCheck),
        };
        let executed = evm::execute_block(
            &view,
            &params,
            &meta,
            input,
            &proposal.messages,
            block_hash,
            &self.inner.senders,
        )?;
        let mut c = self.inner.consensus.lock().expect("consensus lock");
        if let Some(old) = c.staged.take() {
            // CometBFT runs FinalizeBlock of an uncommitted height again when its consensus
            // connection restarts (it crashed between FinalizeBlock and Commit while this
            // process lived on): the handshake reported the last committed height, so the
            // staged block is dropped and the height executed afresh. Any other height is a
            // protocol violation, and the staged block stays.
            if old.height != height {
                let msg = format!(
                    "FinalizeBlock at height {height} while height {} waits for Commit",
                    old.height
                );
                c.staged = Some(old);
                return Err(AppError::Protocol(msg));
            }
            self.unstage(&mut c, &reader, &old)?;
            tracing::warn!(
                height,
                "FinalizeBlock again without Commit (consensus connection restarted): the staged block is dropped"
            );
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
        // One result per CometBFT tx: each message's outcome, then the L2 block. A block
        // executed empty because it broke the rules reports its txs as refused.
        // Each message's code and log, once: its tx result and its record (`parley_getMessage`).
        let outcomes: Vec<(u32, String)> = executed.messages.iter().map(message_outcome).collect();
        let tx_results: Vec<(u32, String)> = if broke {
            txs.iter()
                .map(|_| (RULE_BREAKING_CODE, "block broke the proposal rules".into()))
                .collect()
        } else {
            // The seed openings and the epoch attestation, when the proposal starts with them.
            proposal
                .seed
                .iter()
                .map(|_| (0, String::new()))
                .chain(proposal.attest.iter().map(|_| (0, String::new())))
                .chain(proposal.l1_queue.iter().map(|_| (0, String::new())))
                .chain(outcomes.iter().cloned())
                // The proposer's L2 block, when the proposal carries one.
                .chain(proposal.block.iter().map(|_| (0, String::new())))
                .collect()
        };
        for (o, msg) in executed.messages.iter().zip(&proposal.messages) {
            m::message(msg.action.kind().name(), o.is_ok());
            if let Ok(a) = o {
                let outcome = if a.rejected.is_some() {
                    "invalid"
                } else {
                    "verified"
                };
                match msg.action.kind() {
                    msg::Kind::Proof => m::proof(outcome),
                    msg::Kind::RevealProof => m::fallback_reveal(outcome),
                    msg::Kind::Aggregate => m::aggregate(outcome),
                    _ => {}
                }
                match &a.rejected {
                    Some(LedgerError::InvalidProof { fined, .. }) => {
                        m::prover_penalty("invalid_proof", *fined)
                    }
                    Some(LedgerError::InvalidAggregate { fined, .. }) => {
                        m::prover_penalty("invalid_aggregate", *fined)
                    }
                    Some(LedgerError::InvalidL1Proof { fined, .. }) => {
                        m::prover_penalty("invalid_l1_proof", *fined)
                    }
                    _ => {}
                }
            }
        }
        for n in &executed.notices {
            match n {
                Notice::ProverSlashed { amount, .. } => m::prover_penalty("missed_window", *amount),
                Notice::CommitFined { amount, .. } => {
                    m::prover_penalty("unrevealed_commit", *amount)
                }
                Notice::TransitionProof { .. } | Notice::EpochsSettled { .. } => {}
            }
        }
        Self::proof_slot_metrics(&reader, height, &executed.writes);
        // Every height (not only those that change it), so the gauges exist after a restart.
        if let Some(p) = &params.protocol.proving
            && let Some(v) = Self::after_block(&reader, &executed.writes, &StateKey::ProofChain)
            && let Ok(c) = parley_types::ProofChain::decode(&v)
        {
            m::proof_chain(
                c.unproven,
                p.max_unproven_slots,
                c.proven_slot,
                c.unproven >= p.max_unproven_slots,
            );
        }
        if params.protocol.bridge.is_some()
            && let Some(v) = Self::after_block(&reader, &executed.writes, &StateKey::Bridge)
            && let Ok(b) = parley_types::bridge::BridgeState::decode(&v)
        {
            m::bridge_attested(b.next_epoch);
        }
        if let Some(a) = params
            .protocol
            .proving
            .as_ref()
            .and_then(|p| p.aggregation.as_ref())
        {
            // The next slot's epoch as this block leaves it.
            let e = crate::chain::aggregation::epoch_of(a, height.saturating_add(1));
            let bytes = match executed
                .writes
                .iter()
                .find(|(k, _)| *k == StateKey::Epoch(e))
            {
                Some((_, v)) => v.clone(),
                None => reader.app_entry(&StateKey::Epoch(e)).ok().flatten(),
            };
            let needing = bytes
                .and_then(|b| parley_types::Epoch::decode(&b).ok())
                .map_or(0, |v| v.needing);
            m::epoch_full(needing >= a.agg_capacity);
        }
        Self::slot_metrics(&params, height, &executed.writes);
        let validator_updates = executed.validator_updates.clone();
        m::validator_updates(validator_updates.len());
        // How each message ended, by its hash, for `parley_getMessage` (a block that broke the
        // rules executed none of them, and records none).
        let messages = if broke {
            Vec::new()
        } else {
            proposal
                .messages
                .iter()
                .zip(outcomes)
                .map(|(msg, (code, log))| {
                    (msg.hash, crate::store::MessageResult { height, code, log })
                })
                .collect()
        };
        let mut staged = BlockWrites::executed(executed, height, app_hash);
        staged.messages = messages;
        c.staged = Some(staged);
        Ok(Finalized {
            app_hash,
            tx_results,
            block: (number, hash, n_txs, n_skipped),
            validator_updates,
        })
    }

    /// `key`'s value as a height leaves it: its write, or else the committed value (metrics).
    fn after_block(
        reader: &crate::store::Reader,
        writes: &[(StateKey, Option<Vec<u8>>)],
        key: &StateKey,
    ) -> Option<Vec<u8>> {
        match writes.iter().find(|(k, _)| k == key) {
            Some((_, v)) => v.clone(),
            None => reader.app_entry(key).ok().flatten(),
        }
    }

    /// Metrics of proving from a height's writes, against the committed values before them:
    /// fallback rounds opened, and slots proven within the window or through the fallback.
    fn proof_slot_metrics(
        reader: &crate::store::Reader,
        height: u64,
        writes: &[(StateKey, Option<Vec<u8>>)],
    ) {
        for (k, v) in writes {
            let (StateKey::ProofSlot(slot), Some(v)) = (k, v) else {
                continue;
            };
            let Ok(new) = parley_types::ProofSlot::decode(v) else {
                continue;
            };
            let old = reader
                .app_entry(k)
                .ok()
                .flatten()
                .and_then(|b| parley_types::ProofSlot::decode(&b).ok());
            let (round, proven) = old.map_or((0, false), |o| (o.round, o.proven));
            if new.round > round {
                m::fallback_round();
            }
            if new.proven && !proven {
                let path = if new.transitions.iter().any(|t| t.is_fallback()) {
                    "fallback"
                } else {
                    "window"
                };
                // Slot s executes at height s (slot_heights = 1).
                m::slot_proven(path, height.saturating_sub(*slot));
            }
        }
    }

    /// Metrics of the auction from a height's writes: what slot `height` became and the
    /// selection made in it.
    fn slot_metrics(params: &Params, height: u64, writes: &[(StateKey, Option<Vec<u8>>)]) {
        let mut executed_here = false;
        for (k, v) in writes {
            let (StateKey::Slot(s), Some(v)) = (k, v) else {
                continue;
            };
            let Ok(e) = parley_types::SlotEntry::decode(v) else {
                continue;
            };
            if *s == height {
                executed_here = true;
                m::slot(match e.state {
                    parley_types::SlotState::Withheld => "withheld",
                    _ => "auctioned",
                });
            }
            let q = &params.protocol;
            let selected_now = (height + q.bid_close).checked_sub(q.select_window) == Some(*s)
                || e.selected
                    .is_some_and(|sel| matches!(sel, parley_types::Selection::Prover(_)))
                    && e.state == parley_types::SlotState::Open;
            if selected_now && let Some(w) = e.winner() {
                if e.selected == Some(parley_types::Selection::App) {
                    m::select_missed();
                }
                m::winning_bid(f64::from(w.amount));
            }
        }
        if !executed_here {
            m::slot("proposer");
        }
    }

    /// Takes a staged, uncommitted block's writes back out of the app-hash tree, which then
    /// again hashes to the committed state read by `reader`.
    fn unstage(
        &self,
        c: &mut Consensus,
        reader: &crate::store::Reader,
        staged: &BlockWrites,
    ) -> Result<()> {
        let committed = staged
            .state
            .iter()
            .map(|(k, _)| {
                Ok((
                    k.path(),
                    reader.app_entry(k)?.map(alloy_primitives::keccak256),
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let root = c.tree.update(committed);
        let (height, app_hash) = reader.last_commit()?;
        if root != app_hash {
            return Err(StoreError::Corrupt(format!(
                "dropping the staged block left the tree at {root}, not height {height}'s {app_hash}"
            ))
            .into());
        }
        Ok(())
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
        if let (Some((block, _, diff)), Some(v)) = (&staged.block, self.verifier())
            && !diff.0.is_empty()
        {
            v.committed(block.number);
        }
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

    /// The committed app hash and a Merkle proof of `key` under it, or `None` while a
    /// finalized block waits for Commit (the tree then holds uncommitted state).
    pub fn prove(&self, key: &StateKey) -> Option<(B256, MerkleProof)> {
        let c = self.inner.consensus.lock().expect("consensus lock");
        if c.staged.is_some() {
            return None;
        }
        Some((c.tree.root(), c.tree.prove(&key.path())))
    }
}
