//! parley-prover, the prover operator's worker (DESIGN §5): dials a node's gRPC
//! ProverService, authenticates by signing the node's challenge with the prover key, and acts
//! on the tasks the node streams: `Select` (DESIGN §3.3: sign the slot's highest bid),
//! `Heartbeat`, `Prove` (§3.8: fetch the slot's witness, prove it with the block circuit —
//! at most `jobs` proofs at once, beside the stream — and submit a signed `Proof`), `Fallback`
//! (§3.9: commit, then reveal) and `Aggregate` (§3.14: aggregate an epoch's block proofs for
//! this prover's address, one aggregation at a time, and submit a signed `Aggregate`).
//!
//! Invariants:
//! - the worker reconciles with chain state before acting: it never submits for a slot that is
//!   already selected, whose window has passed, or to which it is not assigned;
//! - a task it already holds (same `task_id`) is ignored when delivered again;
//! - every call to the node has a timeout; a lost connection is retried with exponential
//!   backoff, and the node re-delivers the tasks still due;
//! - a proof in progress keeps running when its stream closes (a node restart): the next
//!   stream names it as running, so the node gives it to no other worker of the key; a job
//!   that fails (its submission found the node gone) is tried again in place, submitting the
//!   proof already made, and after its last attempt stays named until its re-delivery
//!   ([`Jobs`]);
//! - one process proves a slot once: the slot's jobs (its window task, its fallback rounds, a
//!   retry) take turns on the slot's proof cell, and a proof not used is left there for the
//!   next ([`Proving::hold`]);
//! - the block-circuit keys are made as soon as the first stream names the chain's capacity,
//!   and a worker whose keys are not the ones genesis pins stops ([`Refused`]);
//! - one process numbers its own messages ([`Nonces`]), so tasks acting at once never sign the
//!   same nonce; many processes may share one key: a nonce refusal makes one refetch the
//!   nonce and retry once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, B256, U256};
use alloy_signer_local::PrivateKeySigner;
use eyre::{WrapErr as _, bail, eyre};
use parley_app::chain::msg::{self, Action};
use parley_app::prover_service::{SESSION_HEADER, auth};
use parley_proofs::aggregation::{EpochProver, EpochShape};
use parley_proofs::encoding::fr_to_b256;
use parley_proofs::keycache::KeySource;
use parley_proofs::{BlockProver as _, BlockWitness, Halo2BlockProver};
use parley_proto::prover::v1 as pb;
use pb::prover_service_client::ProverServiceClient;
use tonic::transport::{Channel, Endpoint};

/// CheckTx code of a nonce below the sender's next one (`LedgerError::Nonce`, chain/ledger.rs).
pub const CODE_NONCE_STALE: u32 = 40;
/// CheckTx code of a nonce too far ahead.
pub const CODE_NONCE_AHEAD: u32 = 41;
/// CheckTx code of a `Select` for a slot already selected.
pub const CODE_ALREADY_SELECTED: u32 = 57;
/// How often, and how long apart, a `ProveTask` asks for a witness the node does not have yet.
const WITNESS_TRIES: u32 = 60;
const WITNESS_RETRY: Duration = Duration::from_millis(500);

/// Submissions of one proof before the task is given up.
const SUBMIT_ATTEMPTS: u32 = 3;

/// CheckTx code of a `Proof` for a slot that awaits none.
pub const CODE_NO_PROOF_DUE: u32 = 67;
/// CheckTx code of a `Proof` for a slot already proven.
pub const CODE_ALREADY_PROVEN: u32 = 68;
/// CheckTx code of a second `Proof` of this prover for a slot.
pub const CODE_DUPLICATE_TRANSITION: u32 = 69;
/// CheckTx code of a `Proof` after the slot's window (the fallback takes it from there).
pub const CODE_WINDOW_OVER: u32 = 72;
/// CheckTx code of a `CommitProof` or `RevealProof` outside its phase.
pub const CODE_FALLBACK_PHASE: u32 = 73;
/// CheckTx code of an `Aggregate` for an epoch that is not due.
pub const CODE_EPOCH_NOT_DUE: u32 = 79;
/// CheckTx code of an `Aggregate` for an epoch already aggregated.
pub const CODE_ALREADY_AGGREGATED: u32 = 80;
/// CheckTx code of an `Aggregate` from another than the drawn aggregator within its window.
pub const CODE_NOT_AGGREGATOR: u32 = 81;

/// What the worker needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The node's ProverService, e.g. `http://127.0.0.1:9090`.
    pub node: String,
    /// The chain the worker signs for (checked against the node's).
    pub chain_id: u64,
    /// The prover key.
    pub key: PrivateKeySigner,
    /// Most tasks held at once (0: no limit).
    pub capacity: u32,
    /// Limit of every unary call and of opening the stream.
    pub call_timeout: Duration,
    /// First reconnect delay; doubles up to `backoff_max`.
    pub backoff_min: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// Block proofs computed at once (each uses every core halo2 is given; several processes
    /// may share one key instead).
    pub jobs: usize,
    /// Where proving keys are cached, named by the verifying key's hash (None: made by keygen
    /// at every start).
    pub keys_dir: Option<std::path::PathBuf>,
    /// Take epoch aggregation tasks (and make the aggregation keys, gigabytes, when the chain
    /// aggregates). A proving-only worker sets it false; the node then gives aggregation to
    /// the prover's other workers.
    pub aggregate: bool,
}

impl Config {
    /// Defaults for everything but the node, chain and key.
    pub fn new(node: impl Into<String>, chain_id: u64, key: PrivateKeySigner) -> Self {
        Self {
            node: node.into(),
            chain_id,
            key,
            capacity: 0,
            call_timeout: Duration::from_secs(10),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            jobs: 1,
            keys_dir: None,
            aggregate: true,
        }
    }
}

/// The trusted setup `--srs` names (ADR 0014): `dev` (the seeded setup, localnets only), or a
/// ceremony's powers-of-tau file that must hash to `pinned` (`--srs-hash`, the hash the
/// chain's genesis pins). Anything missing, damaged or unpinned is refused, so the worker
/// never starts with a setup it was not explicitly given.
pub fn trusted_setup(srs: &str, pinned: Option<B256>) -> eyre::Result<parley_proofs::params::Srs> {
    use parley_proofs::params::{Ceremony, Srs};
    match (srs.trim(), pinned) {
        ("", _) => bail!(
            "no trusted setup: pass --srs dev (localnet) or --srs <ceremony file> with \
             --srs-hash <the hash genesis pins>"
        ),
        ("dev", None) => Ok(Srs::Dev),
        ("dev", Some(_)) => bail!("--srs-hash pins a ceremony file; --srs dev takes none"),
        (path, None) => bail!(
            "--srs {path}: a ceremony file needs --srs-hash (the keccak256 genesis pins: `srs` in \
             the RPC `parley_getProtocolParams`), so a damaged or foreign file is refused"
        ),
        (path, Some(pin)) => Ok(Srs::Ceremony(std::sync::Arc::new(
            Ceremony::load(std::path::Path::new(path), Some(pin))
                .map_err(|e| eyre!("--srs: {e}"))?,
        ))),
    }
}

/// Reads a hex private key (`0x` optional, surrounding whitespace ignored).
pub fn parse_key(text: &str) -> eyre::Result<PrivateKeySigner> {
    let t = text.trim();
    let t = t.strip_prefix("0x").unwrap_or(t);
    let bytes = hex::decode(t).map_err(|_| eyre!("the prover key is not hex"))?;
    let b =
        B256::try_from(bytes.as_slice()).map_err(|_| eyre!("the prover key is not 32 bytes"))?;
    PrivateKeySigner::from_bytes(&b).map_err(|e| eyre!("invalid prover key: {e}"))
}

/// What became of a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A message was handed to the mempool: its hash.
    Submitted(B256),
    /// Nothing to do any more, and why.
    Skipped(String),
}

/// A connection to the node.
#[derive(Debug, Clone)]
pub struct Node {
    client: ProverServiceClient<Channel>,
    timeout: Duration,
}

/// An open task stream.
#[derive(Debug)]
pub struct Subscribed {
    pub stream: tonic::Streaming<pb::Task>,
    /// The session id that Report names.
    pub session: String,
    /// The chain's block-circuit capacity (0: it takes no block proofs) and the hash of the
    /// verifying key genesis pins for it.
    pub block_capacity: u64,
    pub block_vk_hash: Vec<u8>,
    /// The block circuit's index bits (ADR 0021).
    pub proof_index_bits: u32,
}

/// The index bits a node sent: 0 (a node before ADR 0021) means the whole depth.
pub fn index_bits(sent: u32) -> u32 {
    if sent == 0 {
        parley_proofs::FULL_INDEX_BITS
    } else {
        sent
    }
}

/// A call that did not reach the node or got no answer in time (the node is down or
/// restarting): the one kind of failure a job is tried again for.
#[derive(Debug)]
pub struct Unreachable(String);

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unreachable {}

/// This worker must not prove on this chain: its block-circuit keys are not the ones genesis
/// pins (another trusted setup or another version), or its key cache is damaged. [`run`]
/// stops with it.
#[derive(Debug)]
pub struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Whether `e` (or what it wraps) is [`Unreachable`].
pub fn unreachable(e: &eyre::Report) -> bool {
    e.chain().any(|c| c.is::<Unreachable>())
}

async fn call<T>(
    timeout: Duration,
    what: &str,
    f: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> eyre::Result<T> {
    match tokio::time::timeout(timeout, f).await {
        Ok(Ok(r)) => Ok(r.into_inner()),
        Ok(Err(s)) if s.code() == tonic::Code::Unavailable => Err(eyre::Report::new(Unreachable(
            format!("{what}: {} ({:?})", s.message(), s.code()),
        ))),
        Ok(Err(s)) => Err(eyre!("{what}: {} ({:?})", s.message(), s.code())),
        Err(_) => Err(eyre::Report::new(Unreachable(format!(
            "{what}: timed out after {}s",
            timeout.as_secs()
        )))),
    }
}

fn req<T>(m: T, timeout: Duration) -> tonic::Request<T> {
    let mut r = tonic::Request::new(m);
    r.set_timeout(timeout);
    r
}

impl Node {
    /// Dials the node (lazily: the first call connects), with HTTP/2 keepalive so a vanished
    /// node is noticed on an idle stream.
    pub fn dial(url: &str, timeout: Duration) -> eyre::Result<Self> {
        let ep = Endpoint::from_shared(url.to_string())
            .wrap_err_with(|| format!("bad node URL {url}"))?
            .connect_timeout(timeout)
            .http2_keep_alive_interval(Duration::from_secs(15))
            .keep_alive_timeout(Duration::from_secs(10))
            .keep_alive_while_idle(true);
        Ok(Self {
            client: ProverServiceClient::new(ep.connect_lazy()),
            timeout,
        })
    }

    /// A slot's auction and assignment.
    pub async fn slot(&self, slot: u64) -> eyre::Result<pb::GetSlotResponse> {
        let mut c = self.client.clone();
        call(
            self.timeout,
            "GetSlot",
            c.get_slot(req(pb::GetSlotRequest { slot }, self.timeout)),
        )
        .await
    }

    /// An address's account.
    pub async fn account(&self, a: Address) -> eyre::Result<pb::GetAccountResponse> {
        let mut c = self.client.clone();
        call(
            self.timeout,
            "GetAccount",
            c.get_account(req(
                pb::GetAccountRequest {
                    address: a.to_vec(),
                },
                self.timeout,
            )),
        )
        .await
    }

    /// Submits a signed message.
    pub async fn submit(&self, raw: Vec<u8>) -> eyre::Result<pb::SubmitResponse> {
        let mut c = self.client.clone();
        call(
            self.timeout,
            "Submit",
            c.submit(req(pb::SubmitRequest { message: raw }, self.timeout)),
        )
        .await
    }

    /// Authenticates as `key` and opens the task stream, naming the tasks this process still
    /// runs from an earlier stream.
    pub async fn subscribe(
        &self,
        key: &PrivateKeySigner,
        chain_id: u64,
        capacity: u32,
        running: Vec<String>,
        aggregate: bool,
    ) -> eyre::Result<Subscribed> {
        let mut c = self.client.clone();
        let ch = call(
            self.timeout,
            "Challenge",
            c.challenge(req(
                pb::ChallengeRequest {
                    prover: key.address().to_vec(),
                },
                self.timeout,
            )),
        )
        .await?;
        if ch.chain_id != chain_id {
            bail!(
                "the node serves chain {}, this worker is configured for chain {chain_id}",
                ch.chain_id
            );
        }
        let signature = auth::sign(key, chain_id, &ch.challenge).to_vec();
        let r = pb::SubscribeRequest {
            prover: key.address().to_vec(),
            challenge: ch.challenge,
            signature,
            capacity,
            running,
            no_aggregation: !aggregate,
        };
        // No grpc-timeout on the stream itself: only opening it is bounded.
        let resp = tokio::time::timeout(self.timeout, c.subscribe(tonic::Request::new(r)))
            .await
            .map_err(|_| eyre!("Subscribe: timed out"))?
            .map_err(|s| eyre!("Subscribe: {} ({:?})", s.message(), s.code()))?;
        let session = resp
            .metadata()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        Ok(Subscribed {
            stream: resp.into_inner(),
            session,
            block_capacity: ch.block_capacity,
            block_vk_hash: ch.block_vk_hash,
            proof_index_bits: index_bits(ch.proof_index_bits),
        })
    }

    /// The witness of chunk `chunk` of a slot awaiting its proof.
    pub async fn witness(&self, slot: u64, chunk: u32) -> eyre::Result<pb::GetWitnessResponse> {
        let mut c = self.client.clone();
        call(
            self.timeout,
            "GetWitness",
            c.get_witness(req(pb::GetWitnessRequest { slot, chunk }, self.timeout)),
        )
        .await
    }

    /// Where a slot's proving stands, with the transitions and commits of chunk `chunk`.
    pub async fn proof_slot(
        &self,
        slot: u64,
        chunk: u32,
    ) -> eyre::Result<pb::GetProofSlotResponse> {
        let mut c = self.client.clone();
        call(
            self.timeout,
            "GetProofSlot",
            c.get_proof_slot(req(pb::GetProofSlotRequest { slot, chunk }, self.timeout)),
        )
        .await
    }

    /// An epoch's aggregation: its state, blocks and proofs.
    pub async fn epoch(&self, epoch: u64) -> eyre::Result<pb::GetEpochResponse> {
        let mut c = self.client.clone();
        call(
            self.timeout,
            "GetEpoch",
            c.get_epoch(req(pb::GetEpochRequest { epoch }, self.timeout)),
        )
        .await
    }

    /// Tells the node what this worker holds (best effort).
    pub async fn report(&self, r: pb::ReportRequest) -> eyre::Result<()> {
        let mut c = self.client.clone();
        call(self.timeout, "Report", c.report(req(r, self.timeout))).await?;
        Ok(())
    }
}

/// The protocol nonces of one worker process. A message the worker submitted waits in the
/// mempool while the chain's (committed) nonce still says its nonce is next, so a second
/// message signed with the chain's nonce would take the same one and one of them would be
/// dropped. Submissions are therefore serialized and numbered locally: the next nonce is the
/// chain's, or one past the last this worker submitted if that is ahead. If the chain's nonce
/// stays where it is for [`NONCE_RESYNC_HEIGHTS`] heights while the worker is ahead of it (a
/// message was dropped, e.g. a `Proof` evicted from the mempool when its window closed), the
/// worker starts again from the chain's nonce. The clock is the chain's nonce not moving,
/// not the worker's last submission: a worker sending a `Select` every height would
/// otherwise never resync, and every later message would wait behind the gap.
#[derive(Debug, Clone, Default)]
pub struct Nonces(std::sync::Arc<tokio::sync::Mutex<Option<LocalNonce>>>);

/// The next nonce this process signs, the chain's nonce when last seen, and the height since
/// which the chain's nonce has been that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalNonce {
    next: u64,
    chain: u64,
    since: u64,
}

/// The nonce to sign with, given what this process numbered (`local`) and the chain's
/// account nonce at `height` (see [`Nonces`]).
pub fn next_nonce(local: Option<LocalNonce>, chain: u64, height: u64) -> u64 {
    match local {
        Some(l) if l.next > chain => {
            let stalled = chain == l.chain && height > l.since.saturating_add(NONCE_RESYNC_HEIGHTS);
            if stalled { chain } else { l.next }
        }
        _ => chain,
    }
}

/// What this process remembers after a message signed with `nonce` was accepted, the chain's
/// nonce being `chain` at `height`.
pub fn after_submit(local: Option<LocalNonce>, nonce: u64, chain: u64, height: u64) -> LocalNonce {
    // The clock restarts when the chain's nonce moved, or when this message starts a new run
    // from the chain's nonce.
    let since = match local {
        Some(l) if l.chain == chain && nonce != chain => l.since,
        _ => height,
    };
    LocalNonce {
        next: nonce + 1,
        chain,
        since,
    }
}

/// Heights after which a local nonce ahead of the chain's is given up.
pub const NONCE_RESYNC_HEIGHTS: u64 = 8;

/// Signs `action` with the next protocol nonce and submits it (see [`Nonces`]); on a nonce
/// refusal (another process of the same key) refetches and retries once.
pub async fn send(
    node: &Node,
    key: &PrivateKeySigner,
    chain_id: u64,
    action: &Action,
    nonces: &Nonces,
) -> eyre::Result<(pb::SubmitResponse, B256)> {
    let mut local = nonces.0.lock().await;
    for attempt in 0..2 {
        let acc = node.account(key.address()).await?;
        if acc.chain_id != chain_id {
            bail!("the node serves chain {}, not {chain_id}", acc.chain_id);
        }
        let nonce = next_nonce(*local, acc.nonce, acc.height);
        let raw = msg::sign(key, chain_id, nonce, action);
        let r = node.submit(raw).await?;
        let hash = B256::try_from(r.tx_hash.as_slice()).unwrap_or_default();
        match r.code {
            0 => {
                *local = Some(after_submit(*local, nonce, acc.nonce, acc.height));
                return Ok((r, hash));
            }
            CODE_NONCE_STALE | CODE_NONCE_AHEAD if attempt == 0 => {
                tracing::info!(target: "parley::prover", nonce, log = %r.log,
                    "nonce refused (another process of this key?); refetching");
                *local = None;
            }
            _ => return Ok((r, hash)),
        }
    }
    bail!("refused twice for its nonce")
}

fn bid_of(t: &pb::SelectTask) -> eyre::Result<(Address, B256, U256)> {
    Ok((
        Address::try_from(t.sequencer.as_slice())
            .map_err(|_| eyre!("sequencer is not 20 bytes"))?,
        B256::try_from(t.block_commitment.as_slice())
            .map_err(|_| eyre!("commitment is not 32 bytes"))?,
        U256::try_from_be_slice(&t.amount).ok_or_else(|| eyre!("amount is over 32 bytes"))?,
    ))
}

/// Acts on a `HeartbeatTask`: signs `Heartbeat` and submits it with the next nonce
/// ([`send`]). Two workers of one key may both send one; the second costs only its fee.
pub async fn heartbeat(
    node: &Node,
    key: &PrivateKeySigner,
    chain_id: u64,
    nonces: &Nonces,
) -> eyre::Result<Outcome> {
    let (r, hash) = send(node, key, chain_id, &Action::Heartbeat, nonces).await?;
    match r.code {
        0 => Ok(Outcome::Submitted(hash)),
        code => bail!("Heartbeat refused (code {code}): {}", r.log),
    }
}

/// Acts on a `SelectTask` after reconciling with the chain: skips a slot that is selected,
/// whose window has passed or that is not assigned to `key`; signs the chain's highest bid
/// with the current protocol nonce and submits it; on a nonce refusal refetches the nonce and
/// retries once.
pub async fn select(
    node: &Node,
    key: &PrivateKeySigner,
    chain_id: u64,
    task: &pb::SelectTask,
    nonces: &Nonces,
) -> eyre::Result<Outcome> {
    let me = key.address();
    let s = node.slot(task.slot).await?;
    if s.selected {
        return Ok(Outcome::Skipped("slot already selected".into()));
    }
    if s.height.saturating_add(1) > s.select_last_height {
        return Ok(Outcome::Skipped(format!(
            "select window ended at height {}",
            s.select_last_height
        )));
    }
    if !s.assigned.iter().any(|p| p.as_slice() == me.as_slice()) {
        return Ok(Outcome::Skipped("not assigned to this prover".into()));
    }
    let Some(top) = s.highest else {
        return Ok(Outcome::Skipped("slot has no bid".into()));
    };
    let chain = pb::SelectTask {
        slot: task.slot,
        deadline_height: task.deadline_height,
        sequencer: top.sequencer,
        block_commitment: top.block_commitment,
        amount: top.amount,
    };
    let (sequencer, commitment, amount) = bid_of(&chain)?;
    if bid_of(task)? != (sequencer, commitment, amount) {
        tracing::warn!(target: "parley::prover", slot = task.slot, %sequencer, %amount,
            "the task's bid differs from the chain's highest; selecting the chain's");
    }
    let action = Action::Select {
        slot: task.slot,
        sequencer,
        commitment,
        amount,
    };
    let (r, hash) = send(node, key, chain_id, &action, nonces).await?;
    match r.code {
        0 => Ok(Outcome::Submitted(hash)),
        CODE_ALREADY_SELECTED => Ok(Outcome::Skipped("slot already selected".into())),
        code => bail!(
            "Select for slot {} refused (code {code}): {}",
            task.slot,
            r.log
        ),
    }
}

/// The block prover of a worker: keys for one circuit capacity, made in the background as
/// soon as a stream tells the chain's capacity ([`Proving::warm`]; keygen takes seconds to
/// minutes) and shared by the worker's concurrent jobs, which a semaphore bounds to
/// [`Config::jobs`].
#[derive(Clone)]
pub struct Proving {
    keys: Arc<tokio::sync::Mutex<Option<Arc<Halo2BlockProver>>>>,
    jobs: Arc<tokio::sync::Semaphore>,
    /// Per (slot, chunk), the proof this process made and has not used yet, behind a lock that a job
    /// holds while it proves, submits, commits or reveals the slot ([`Proving::hold`]). A
    /// second job of the slot (its fallback round while the window's job still submits, or
    /// the next round) waits for the first and takes its proof instead of proving again. A
    /// proof is put back when it came too late for the window (the fallback takes the same
    /// proof: it is bound to this prover's address), when its round ended before it was
    /// revealed, or when the node went away (the re-delivered task submits it).
    slots: Arc<std::sync::Mutex<BTreeMap<(u64, u32), SlotCell>>>,
    /// Why this worker must not prove at all ([`Refused`]).
    refused: Arc<tokio::sync::watch::Sender<Option<String>>>,
    /// Block proofs this process computed.
    made: Arc<std::sync::atomic::AtomicU64>,
    /// The proving-key cache ([`parley_proofs::keycache`]).
    keys_dir: Option<std::path::PathBuf>,
    /// The aggregation circuit's keys, made at the first aggregation task.
    agg_keys: Arc<tokio::sync::Mutex<Option<Arc<EpochProver>>>>,
    /// Held by an aggregation job throughout (one aggregation at a time per process: it
    /// takes every core and gigabytes), with the aggregates made and not used yet, by epoch
    /// (an aggregate is bound to this prover's address, so one refused within the drawn
    /// aggregator's window is still good after it).
    aggregates: Arc<tokio::sync::Mutex<BTreeMap<u64, Vec<u8>>>>,
    /// The compression circuit's keys (the proof L1 verifies), made at the first aggregate
    /// this worker lands on a chain that takes L1 proofs.
    l1_keys: Arc<tokio::sync::Mutex<Option<Arc<parley_proofs::aggregation::EpochCompressor>>>>,
}

/// A proof of a slot for this worker's address: pre-root, post-root, proof bytes.
type MadeProof = (B256, B256, Vec<u8>);

/// A chunk's lock and the proof it keeps.
type SlotCell = Arc<tokio::sync::Mutex<Option<MadeProof>>>;

/// A chunk's proof, held by one job at a time: take it, or put one back for the next job.
pub type HeldProof = tokio::sync::OwnedMutexGuard<Option<MadeProof>>;

/// Chunks whose cells are kept when no job uses them (the oldest are dropped first).
const MADE_PROOFS_KEPT: usize = 64;

impl std::fmt::Debug for Proving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proving").finish_non_exhaustive()
    }
}

impl Proving {
    /// At most `jobs` proofs at once.
    pub fn new(jobs: usize) -> Self {
        Self {
            keys: Arc::default(),
            jobs: Arc::new(tokio::sync::Semaphore::new(jobs.max(1))),
            slots: Arc::default(),
            refused: Arc::new(tokio::sync::watch::Sender::new(None)),
            made: Arc::default(),
            keys_dir: None,
            agg_keys: Arc::default(),
            aggregates: Arc::default(),
            l1_keys: Arc::default(),
        }
    }

    /// Reads and writes proving keys in `dir` (None: keygen at every start).
    pub fn with_keys_dir(mut self, dir: Option<std::path::PathBuf>) -> Self {
        self.keys_dir = dir;
        self
    }

    /// Where `prover`'s aggregates awaiting their L1 proof are kept (none without a keys
    /// directory).
    fn pending_l1(&self, chain_id: u64, prover: Address) -> Option<PendingL1> {
        self.keys_dir
            .as_deref()
            .map(|d| PendingL1::new(d, chain_id, prover))
    }

    /// Block proofs this process computed so far (a proof reused for another submission is
    /// counted once).
    pub fn proofs_made(&self) -> u64 {
        self.made.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether a job holds the proof cell of the slot's chunk now.
    pub fn holds(&self, slot: u64, chunk: u32) -> bool {
        let m = self.slots.lock().expect("proof cells lock");
        m.get(&(slot, chunk)).is_some_and(|c| c.try_lock().is_err())
    }

    /// Whether the block-circuit keys are made.
    pub fn keys_ready(&self) -> bool {
        self.keys.try_lock().is_ok_and(|k| k.is_some())
    }

    /// The proof cell of chunk `chunk` of the slot, locked for the caller: waits while
    /// another job of this process proves or submits that chunk. The cells no job uses are
    /// dropped, oldest first, past [`MADE_PROOFS_KEPT`].
    pub async fn hold(&self, slot: u64, chunk: u32) -> HeldProof {
        let cell = {
            let mut m = self.slots.lock().expect("proof cells lock");
            let cell = m.entry((slot, chunk)).or_default().clone();
            if m.len() > MADE_PROOFS_KEPT {
                let idle: Vec<(u64, u32)> = m
                    .iter()
                    .filter(|(s, c)| **s != (slot, chunk) && Arc::strong_count(c) == 1)
                    .map(|(s, _)| *s)
                    .take(m.len() - MADE_PROOFS_KEPT)
                    .collect();
                for s in idle {
                    m.remove(&s);
                }
            }
            cell
        };
        cell.lock_owned().await
    }

    /// Starts making the keys for `capacity` on a blocking thread, unless made or being made,
    /// so the first task does not wait for keygen; then compares them with the chain's pin
    /// (`pinned`), recording a mismatch for [`Proving::refused`]. Jobs that need the keys
    /// meanwhile wait for this keygen.
    pub fn warm(&self, capacity: usize, bits: u32, pinned: Vec<u8>) {
        let this = self.clone();
        tokio::spawn(async move {
            let refuse = |why: String| {
                tracing::error!(target: "parley::prover", error = %why, "refusing to prove");
                this.refused.send_replace(Some(why));
            };
            match this.keys(capacity, bits, &pinned).await {
                Ok(keys) => {
                    if let Err(e) = same_keys(keys.vk_hash(), &pinned) {
                        refuse(e.to_string());
                    } else {
                        tracing::info!(target: "parley::prover", capacity, vk = %keys.vk_hash(), "block-circuit keys ready; they match the chain's");
                    }
                }
                Err(e)
                    if matches!(
                        e.downcast_ref::<parley_proofs::ProofError>(),
                        Some(parley_proofs::ProofError::DamagedCache { .. })
                    ) =>
                {
                    refuse(format!("{e:#}"))
                }
                Err(e) => {
                    tracing::warn!(target: "parley::prover", error = %e, "keygen failed; retried at the first task")
                }
            }
        });
    }

    /// Why this worker must not prove ([`Refused`]), once known.
    pub fn refused(&self) -> Option<String> {
        self.refused.borrow().clone()
    }

    /// The keys for `capacity` and `bits` index bits: made once, read from the key cache when
    /// it holds the keys of the verifying key the chain pins (`pinned`), else made by keygen
    /// and cached.
    async fn keys(
        &self,
        capacity: usize,
        bits: u32,
        pinned: &[u8],
    ) -> eyre::Result<Arc<Halo2BlockProver>> {
        let mut k = self.keys.lock().await;
        if let Some(p) = k.as_ref()
            && p.capacity() == capacity
            && p.shape().index_bits == bits
        {
            return Ok(p.clone());
        }
        let dir = self.keys_dir.clone();
        let pinned = B256::try_from(pinned).ok();
        tracing::info!(target: "parley::prover", capacity, bits, cache = ?dir, "loading or making block-circuit keys");
        let p = progress(
            "block-circuit keys",
            &format!("capacity {capacity}, {bits} index bits"),
            tokio::task::spawn_blocking(move || {
                #[allow(clippy::disallowed_methods)] // the log's duration, not consensus
                let started = std::time::Instant::now();
                let (p, source) = match (dir, pinned) {
                    (Some(dir), Some(vk)) => {
                        Halo2BlockProver::setup_cached(capacity, bits, vk, &dir)?
                    }
                    _ => (
                        Halo2BlockProver::setup_for(capacity, bits)?,
                        KeySource::Keygen,
                    ),
                };
                tracing::info!(target: "parley::prover", capacity, ?source,
                ms = started.elapsed().as_millis() as u64, "block-circuit keys ready");
                Ok::<_, parley_proofs::ProofError>(p)
            }),
        )
        .await
        .map_err(|e| eyre!("keygen task: {e}"))?
        .map_err(|e| eyre::Report::new(e).wrap_err("block-circuit keys"))?;
        let p = Arc::new(p);
        *k = Some(p.clone());
        Ok(p)
    }
}

impl Proving {
    /// On a chain that aggregates epochs (the node answers `GetEpoch`), starts making the
    /// aggregation keys now, unless made or being made, so the first aggregation task (with
    /// a window of its own) does not pay for minutes of keygen. Best effort: a failure is
    /// logged and the keys are made at the first task.
    pub fn warm_aggregation(&self, node: Node) {
        if self.agg_keys.try_lock().is_ok_and(|k| k.is_some()) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let warmed = async {
                let epoch = match node.epoch(0).await {
                    Ok(e) => e,
                    Err(e) if e.to_string().contains("does not aggregate") => return Ok(()),
                    Err(e) => return Err(e),
                };
                let block = this.epoch_block_keys(&epoch).await?;
                this.agg_keys(block, epoch_shape(&epoch)?, &epoch.agg_vk_hash)
                    .await
                    .map(|_| ())
            };
            if let Err(e) = warmed.await {
                tracing::warn!(target: "parley::prover", error = %e, "aggregation keys not made ahead; made at the first aggregation task");
            }
        });
    }

    /// The block-circuit keys an epoch's proofs were made with (its capacity, index bits and
    /// pinned vk, as `GetEpoch` names them), refused when they hash otherwise.
    async fn epoch_block_keys(
        &self,
        epoch: &pb::GetEpochResponse,
    ) -> eyre::Result<Arc<Halo2BlockProver>> {
        let capacity =
            usize::try_from(epoch.block_capacity).map_err(|_| eyre!("capacity over usize"))?;
        let block = self
            .keys(
                capacity,
                index_bits(epoch.proof_index_bits),
                &epoch.block_vk_hash,
            )
            .await?;
        same_keys(block.vk_hash(), &epoch.block_vk_hash)?;
        Ok(block)
    }

    /// The aggregation keys this process holds, if made.
    async fn agg_keys_held(&self) -> Option<Arc<EpochProver>> {
        self.agg_keys.lock().await.clone()
    }

    /// The aggregation keys of `shape` (a flat layer 1 or a tree) over `block`'s keys: read
    /// from the key cache when it holds the keys the chain pins (`pinned`), else made once
    /// (keygen, minutes) and cached; then compared with the pin.
    async fn agg_keys(
        &self,
        block: Arc<Halo2BlockProver>,
        shape: EpochShape,
        pinned: &[u8],
    ) -> eyre::Result<Arc<EpochProver>> {
        let mut slot = self.agg_keys.lock().await;
        if let Some(a) = slot.as_ref()
            && a.shape() == shape
        {
            return Ok(a.clone());
        }
        let dir = self.keys_dir.clone();
        let pin = B256::try_from(pinned).ok();
        let (capacity, k) = (shape.capacity(), shape.k());
        tracing::info!(target: "parley::prover", ?shape, cache = ?dir, "loading or making aggregation-circuit keys");
        let a = progress(
            "aggregation keys",
            &format!("capacity {capacity}, k {k}"),
            tokio::task::spawn_blocking(move || {
            #[allow(clippy::disallowed_methods)] // the log's duration, not consensus
            let started = std::time::Instant::now();
            let (a, source) = match (dir, pin) {
                (Some(dir), Some(vk)) => EpochProver::setup_cached(&block, &shape, vk, &dir)?,
                _ => (EpochProver::setup(&block, &shape)?, KeySource::Keygen),
            };
            tracing::info!(target: "parley::prover", ?shape, ?source,
                ms = started.elapsed().as_millis() as u64, vk = %a.vk_hash(), "aggregation keys ready");
            Ok::<_, parley_proofs::ProofError>(a)
        }),
    )
        .await
        .map_err(|e| eyre!("aggregation keygen task: {e}"))?
        .map_err(|e| eyre::Report::new(e).wrap_err("aggregation-circuit keys"))?;
        if a.vk_hash().as_slice() != pinned {
            bail!(
                "this worker's aggregation circuit ({shape:?}) hashes to {}, \
                 the chain pins 0x{}: another trusted setup or parley-prover version; not \
                 aggregating",
                a.vk_hash(),
                hex::encode(pinned)
            );
        }
        let a = Arc::new(a);
        *slot = Some(a.clone());
        Ok(a)
    }
}

impl Proving {
    /// The compression keys over `agg`'s circuit at `k`: read from the key cache when it holds
    /// the keys the chain pins (`pinned`), else made (keygen: minutes and gigabytes) and
    /// cached; then compared with the pin.
    async fn l1_keys(
        &self,
        agg: Arc<EpochProver>,
        k: u32,
        pinned: &[u8],
    ) -> eyre::Result<Arc<parley_proofs::aggregation::EpochCompressor>> {
        let mut slot = self.l1_keys.lock().await;
        if let Some(c) = slot.as_ref()
            && c.vk_hash().as_slice() == pinned
        {
            return Ok(c.clone());
        }
        let dir = self.keys_dir.clone();
        let pin = B256::try_from(pinned).ok();
        tracing::info!(target: "parley::prover", k, cache = ?dir, "loading or making compression-circuit keys (the L1 proof)");
        let c = progress(
            "compression keys",
            &format!("k {k}"),
            tokio::task::spawn_blocking(move || {
            #[allow(clippy::disallowed_methods)] // the log's duration, not consensus
            let started = std::time::Instant::now();
            use parley_proofs::aggregation::EpochCompressor;
            let (c, source) = match (dir, pin) {
                (Some(dir), Some(vk)) => EpochCompressor::setup_cached(agg.params(), agg.vk(), k, vk, &dir)?,
                _ => (EpochCompressor::setup_for(agg.params(), agg.vk(), k)?, KeySource::Keygen),
            };
            tracing::info!(target: "parley::prover", k, ?source, ms = started.elapsed().as_millis() as u64,
                vk = %c.vk_hash(), "compression keys ready");
            Ok::<_, parley_proofs::ProofError>(c)
        }),
    )
        .await
        .map_err(|e| eyre!("compression keygen task: {e}"))?
        .map_err(|e| eyre::Report::new(e).wrap_err("compression-circuit keys"))?;
        if c.vk_hash().as_slice() != pinned {
            bail!(
                "this worker's compression circuit (k = {k}) hashes to {}, the chain pins 0x{}: \
                 another trusted setup or parley-prover version; not compressing",
                c.vk_hash(),
                hex::encode(pinned)
            );
        }
        let c = Arc::new(c);
        *slot = Some(c.clone());
        Ok(c)
    }
}

/// The aggregation circuit the chain pins, from its `GetEpoch` answer: a flat layer 1, or a
/// tree when `leaf_capacity` is set (ADR 0020).
fn epoch_shape(epoch: &pb::GetEpochResponse) -> eyre::Result<EpochShape> {
    let n = |x: u64| usize::try_from(x).map_err(|_| eyre!("capacity over usize"));
    let capacity = n(epoch.capacity)?;
    if epoch.leaf_capacity == 0 {
        return Ok(EpochShape::Flat {
            capacity,
            k: epoch.agg_k,
        });
    }
    let c = n(epoch.leaf_capacity)?;
    let middle = (epoch.middle_leaves > 0)
        .then(|| {
            n(epoch.middle_leaves).map(|leaves| parley_proofs::aggregation::tree::MiddleShape {
                leaves,
                k: epoch.middle_k,
            })
        })
        .transpose()?;
    let child = c.saturating_mul(middle.map_or(1, |m| m.leaves));
    if child == 0 || capacity % child != 0 {
        bail!("the node's aggregation tree has inputs of {child} blocks for epochs of {capacity}");
    }
    Ok(EpochShape::Tree(
        parley_proofs::aggregation::tree::TreeShape {
            leaf_capacity: c,
            leaf_k: epoch.leaf_k,
            middle,
            children: capacity / child,
            k: epoch.agg_k,
        },
    ))
}

/// This worker's aggregates that landed and whose L1 proof it has not seen on chain yet, kept
/// on disk (`<keys dir>/aggregates/<chain id>-<address>-<epoch>.bin`) so that a restart between
/// the aggregate landing and its `EpochProof` does not lose them: nobody else holds those
/// bytes, and without an L1 proof the epoch could never finalize on L1 (ADR 0018). Files are
/// written before the `Aggregate` is sent and removed once the chain holds the epoch's L1
/// proof or another prover's aggregate landed. Best effort: a disk error is logged, never
/// fatal.
#[derive(Debug, Clone)]
pub struct PendingL1 {
    dir: std::path::PathBuf,
    prefix: String,
}

impl PendingL1 {
    /// The store of `prover`'s aggregates on chain `chain_id` under `keys_dir`.
    pub fn new(keys_dir: &std::path::Path, chain_id: u64, prover: Address) -> Self {
        Self {
            dir: keys_dir.join("aggregates"),
            prefix: format!("{chain_id}-{prover:x}-"),
        }
    }

    fn path(&self, epoch: u64) -> std::path::PathBuf {
        self.dir.join(format!("{}{epoch}.bin", self.prefix))
    }

    /// Keeps `bytes` as epoch `epoch`'s aggregate (through a temporary file and a rename).
    pub fn put(&self, epoch: u64, bytes: &[u8]) {
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&self.dir)?;
            let tmp = self.path(epoch).with_extension("tmp");
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(&tmp, self.path(epoch))
        };
        if let Err(e) = write() {
            tracing::warn!(target: "parley::prover", epoch, error = %e, "aggregate not kept on disk: a restart before its L1 proof would lose it");
        }
    }

    /// Epoch `epoch`'s aggregate, if kept.
    pub fn get(&self, epoch: u64) -> Option<Vec<u8>> {
        std::fs::read(self.path(epoch)).ok()
    }

    /// Forgets epoch `epoch`'s aggregate.
    pub fn remove(&self, epoch: u64) {
        match std::fs::remove_file(self.path(epoch)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(target: "parley::prover", epoch, error = %e, "cannot remove a kept aggregate")
            }
        }
    }

    /// The epochs whose aggregates are kept, oldest first.
    pub fn epochs(&self) -> Vec<u64> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut v: Vec<u64> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_prefix(&self.prefix)?
                    .strip_suffix(".bin")?
                    .parse()
                    .ok()
            })
            .collect();
        v.sort_unstable();
        v
    }
}

/// After a restart: for each aggregate this worker kept (see [`PendingL1`]) whose epoch the
/// chain holds as aggregated by this worker without an L1 proof, makes and sends the L1
/// proof, as it would have when the aggregate landed; the others are forgotten. Runs under
/// the aggregation lock (one heavy proof at a time).
pub async fn recover_l1_proofs(
    node: &Node,
    key: &PrivateKeySigner,
    chain_id: u64,
    proving: &Proving,
    nonces: &Nonces,
) -> eyre::Result<()> {
    let Some(pending) = proving.pending_l1(chain_id, key.address()) else {
        return Ok(());
    };
    for e in pending.epochs() {
        let _held = proving.aggregates.lock().await;
        let epoch = node.epoch(e).await?;
        let ours = epoch.state == "aggregated"
            && epoch.aggregated_by.as_slice() == key.address().as_slice();
        if !ours || epoch.l1_k == 0 || epoch.l1_proof {
            pending.remove(e);
            continue;
        }
        let Some(bytes) = pending.get(e) else {
            continue;
        };
        tracing::info!(target: "parley::prover", epoch = e, "an aggregate of this worker landed without its L1 proof (restarted since): compressing it now");
        match compress(node, key, chain_id, (e, &epoch), &bytes, proving, nonces).await {
            Ok(o) => {
                tracing::info!(target: "parley::prover", epoch = e, outcome = ?o, "L1 proof");
                pending.remove(e);
            }
            Err(err) => {
                tracing::warn!(target: "parley::prover", epoch = e, error = %err, "no L1 proof from this worker")
            }
        }
    }
    Ok(())
}

/// CheckTx code of an `EpochProof` for an epoch whose L1 proof the chain holds.
pub const CODE_L1_PROOF_HELD: u32 = 89;

/// After this worker's aggregate of epoch `e` landed (`layer1`: its bytes), on a chain that
/// takes L1 proofs (`epoch.l1_k > 0`): compresses it into the proof L1 verifies, checks it
/// natively, and submits a signed `EpochProof`. Anyone's valid proof already held is success.
pub async fn compress(
    node: &Node,
    key: &PrivateKeySigner,
    chain_id: u64,
    (e, epoch): (u64, &pb::GetEpochResponse),
    layer1: &[u8],
    proving: &Proving,
    nonces: &Nonces,
) -> eyre::Result<Outcome> {
    if epoch.l1_k == 0 {
        return Ok(Outcome::Skipped("this chain takes no L1 proofs".into()));
    }
    if epoch.l1_proof {
        return Ok(Outcome::Skipped(format!(
            "the chain holds epoch {e}'s L1 proof"
        )));
    }
    let fr = |b: &[u8], what: &str| {
        B256::try_from(b)
            .ok()
            .and_then(|x| parley_proofs::encoding::fr_from_b256(&x))
            .ok_or_else(|| eyre!("epoch {e}: {what} is not a 32-byte field element"))
    };
    let (Some(first), Some(last)) = (epoch.blocks.first(), epoch.blocks.last()) else {
        bail!("aggregated epoch {e} has no blocks");
    };
    let public = parley_proofs::aggregation::EpochPublicInputs {
        first_pre_root: fr(&first.pre_root, "first pre_root")?,
        last_post_root: fr(&last.post_root, "last post_root")?,
        epoch_commitment: fr(&epoch.commitment, "commitment")?,
    };
    let agg = match proving.agg_keys_held().await {
        Some(a) => a,
        None => {
            // After a restart (recover_l1_proofs): the keys the chain pins, from the cache.
            let block = proving.epoch_block_keys(epoch).await?;
            proving
                .agg_keys(block, epoch_shape(epoch)?, &epoch.agg_vk_hash)
                .await?
        }
    };
    let compressor = proving
        .l1_keys(agg.clone(), epoch.l1_k, &epoch.l1_vk_hash)
        .await?;
    let snark = agg.snark_from_bytes(&public, layer1)?;
    let permit = proving
        .jobs
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| eyre!("job slots closed: {e}"))?;
    tracing::info!(target: "parley::prover", epoch = e, "compressing the aggregate into the L1 proof");
    let (bytes, took) = progress(
        "compression",
        &format!("epoch {e}"),
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            #[allow(clippy::disallowed_methods)] // the log's duration, not consensus
            let started = std::time::Instant::now();
            let proof = compressor.compress(snark)?;
            compressor.verify(&proof)?;
            Ok::<_, parley_proofs::ProofError>((proof.to_bytes(), started.elapsed()))
        }),
    )
    .await
    .map_err(|err| eyre!("compression task: {err}"))?
    .map_err(|err| eyre!("compressing epoch {e}: {err}"))?;
    tracing::info!(target: "parley::prover", epoch = e, ms = took.as_millis() as u64, bytes = bytes.len(), "L1 proof made");
    let action = Action::EpochProof {
        epoch: e,
        proof: bytes.into(),
    };
    for _attempt in 0..SUBMIT_ATTEMPTS {
        let (r, hash) = send(node, key, chain_id, &action, nonces).await?;
        match r.code {
            0 => {}
            CODE_L1_PROOF_HELD => return Ok(Outcome::Skipped(r.log)),
            code => bail!("EpochProof for epoch {e} refused (code {code}): {}", r.log),
        }
        let sent_at = node.epoch(e).await?.height;
        loop {
            tokio::time::sleep(WITNESS_RETRY).await;
            let now = node.epoch(e).await?;
            if now.l1_proof {
                return Ok(Outcome::Submitted(hash));
            }
            if now.height > sent_at.saturating_add(NONCE_RESYNC_HEIGHTS + 1) {
                tracing::warn!(target: "parley::prover", epoch = e, tx = %hash,
                    "EpochProof not included; submitting again");
                break;
            }
        }
    }
    bail!("EpochProof for epoch {e} was not included after {SUBMIT_ATTEMPTS} submissions")
}

/// The block snarks of an epoch from the node's `GetEpoch` answer: each block's public
/// inputs rebuilt from what the chain recorded, with the proof that proved it.
pub fn epoch_snarks(
    block: &Halo2BlockProver,
    chain_id: u64,
    epoch: &pb::GetEpochResponse,
) -> eyre::Result<Vec<parley_proofs::Snark>> {
    let b32 = |b: &[u8], what: &str| {
        B256::try_from(b).map_err(|_| eyre!("{what}: {} bytes, not 32", b.len()))
    };
    let fr = |b: &[u8], what: &str| {
        parley_proofs::encoding::fr_from_b256(&b32(b, what)?)
            .ok_or_else(|| eyre!("{what} is not a field element"))
    };
    let mut out = Vec::with_capacity(epoch.blocks.len());
    for b in &epoch.blocks {
        if b.proof.is_empty() {
            bail!(
                "the node no longer keeps the proof of chunk {} of slot {}",
                b.chunk,
                b.slot
            );
        }
        let prover = Address::try_from(b.prover.as_slice())
            .map_err(|_| eyre!("slot {}: prover is not 20 bytes", b.slot))?;
        let public = parley_proofs::BlockPublicInputs {
            header: parley_proofs::BlockHeader {
                chain_id,
                slot: b.slot,
                chunk_index: b.chunk,
                chunk_count: b.chunks,
                block_commitment: b32(&b.block_commitment, "block commitment")?,
                prover_address: prover,
            },
            pre_root: fr(&b.pre_root, "pre_root")?,
            post_root: fr(&b.post_root, "post_root")?,
            diff_hash: fr(&b.diff_hash, "diff_hash")?,
        };
        let proof = parley_proofs::BlockProof {
            capacity: block.capacity(),
            bytes: b.proof.clone(),
        };
        out.push(block.to_snark(&public, &proof));
    }
    Ok(out)
}

/// Acts on an `AggregateTask` (DESIGN §3.14): reads the epoch from the node, aggregates its
/// block proofs for `key`'s address (the aggregation keys are made at the first task) and
/// submits a signed `Aggregate`, again if it is not included. Skips an epoch that is not due
/// (aggregated by anyone meanwhile). One aggregation runs at a time per process; an
/// aggregate made and not included is kept for the epoch's next task.
pub async fn aggregate(
    node: &Node,
    key: &PrivateKeySigner,
    chain_id: u64,
    task: &pb::AggregateTask,
    proving: &Proving,
    nonces: &Nonces,
) -> eyre::Result<Outcome> {
    let me = key.address();
    let e = task.epoch;
    let not_due = |r: &pb::GetEpochResponse| r.state != "due";
    if not_due(&node.epoch(e).await?) {
        return Ok(Outcome::Skipped(
            "epoch not due (aggregated, or not closed)".into(),
        ));
    }
    let mut made = proving.aggregates.lock().await;
    let epoch = node.epoch(e).await?;
    if not_due(&epoch) {
        made.remove(&e);
        return Ok(Outcome::Skipped(
            "epoch not due (aggregated, or not closed)".into(),
        ));
    }
    let proof = match made.remove(&e) {
        Some(p) => p,
        None => {
            let block = proving.epoch_block_keys(&epoch).await?;
            let shape = epoch_shape(&epoch)?;
            let capacity = shape.capacity();
            if matches!(shape, EpochShape::Tree(_)) {
                // A tree exists because memory is short: its keys and the compression's held
                // together peaked at 21.2 GiB on an 8-block epoch. The compression keys are
                // read back from the key cache (seconds) when the aggregate lands.
                proving.l1_keys.lock().await.take();
            }
            let agg = proving
                .agg_keys(block.clone(), shape, &epoch.agg_vk_hash)
                .await?;
            let snarks = epoch_snarks(&block, chain_id, &epoch)?;
            let permit = proving
                .jobs
                .clone()
                .acquire_owned()
                .await
                .map_err(|e| eyre!("job slots closed: {e}"))?;
            tracing::info!(target: "parley::prover", epoch = e, blocks = snarks.len(), capacity, "aggregating");
            let (bytes, took) = progress(
                "aggregation",
                &format!("epoch {e}"),
                tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    #[allow(clippy::disallowed_methods)] // the log's duration, not consensus
                    let started = std::time::Instant::now();
                    let snark = agg.aggregate(&me, snarks)?;
                    parley_proofs::aggregation::encode_epoch_snark(&snark)
                        .map(|b| (b, started.elapsed()))
                }),
            )
            .await
            .map_err(|e| eyre!("aggregation task: {e}"))?
            .map_err(|err| eyre!("aggregating epoch {e}: {err}"))?;
            tracing::info!(target: "parley::prover", epoch = e, ms = took.as_millis() as u64, "aggregated");
            bytes
        }
    };
    let pending = proving.pending_l1(chain_id, me);
    if epoch.l1_k > 0
        && let Some(p) = &pending
    {
        p.put(e, &proof);
    }
    let action = Action::Aggregate {
        epoch: e,
        proof: proof.clone().into(),
    };
    let benign = [
        CODE_EPOCH_NOT_DUE,
        CODE_ALREADY_AGGREGATED,
        CODE_NOT_AGGREGATOR,
    ];
    for _attempt in 0..SUBMIT_ATTEMPTS {
        let (r, hash) = match send(node, key, chain_id, &action, nonces).await {
            Ok(x) => x,
            Err(err) => {
                made.insert(e, proof);
                return Err(err);
            }
        };
        match r.code {
            0 => {}
            code if benign.contains(&code) => {
                // Another's aggregate may have landed; or the drawn window is not ours: kept
                // for the open phase (the aggregate is bound to this address).
                if !not_due(&node.epoch(e).await?) {
                    made.insert(e, proof);
                }
                return Ok(Outcome::Skipped(r.log));
            }
            code => bail!("Aggregate for epoch {e} refused (code {code}): {}", r.log),
        }
        let sent_at = node.epoch(e).await?.height;
        loop {
            tokio::time::sleep(WITNESS_RETRY).await;
            let now = match node.epoch(e).await {
                Ok(x) => x,
                Err(err) => {
                    made.insert(e, proof);
                    return Err(err);
                }
            };
            if now.state == "aggregated" {
                if now.aggregated_by.as_slice() != me.as_slice() {
                    if let Some(p) = &pending {
                        p.remove(e);
                    }
                    return Ok(Outcome::Skipped(
                        "another prover's aggregate was included first".into(),
                    ));
                }
                // Ours landed: on a chain that takes L1 proofs, the proof L1 verifies is made
                // from it here, where the layer-1 bytes are (a failure does not undo the
                // aggregate; another prover may still send one).
                if now.l1_k > 0 {
                    match compress(node, key, chain_id, (e, &now), &proof, proving, nonces).await {
                        Ok(o) => {
                            tracing::info!(target: "parley::prover", epoch = e, outcome = ?o, "L1 proof");
                            if let Some(p) = &pending {
                                p.remove(e);
                            }
                        }
                        Err(err) => {
                            tracing::warn!(target: "parley::prover", epoch = e, error = %err, "no L1 proof from this worker")
                        }
                    }
                }
                return Ok(Outcome::Submitted(hash));
            }
            if not_due(&now) {
                return Ok(Outcome::Skipped(format!("epoch {e} is {}", now.state)));
            }
            if now.height > sent_at.saturating_add(NONCE_RESYNC_HEIGHTS + 1) {
                tracing::warn!(target: "parley::prover", epoch = e, tx = %hash,
                    "Aggregate not included; submitting again");
                break;
            }
        }
    }
    made.insert(e, proof);
    bail!("Aggregate for epoch {e} was not included after {SUBMIT_ATTEMPTS} submissions")
}

/// A proof of chunk `chunk` of `chunks` of slot `slot` for `key`'s address: the node's
/// witness (asked again for a while when the node's witness service has not reached the slot
/// yet), bound to the address and proved on a blocking thread (at most [`Config::jobs`] at
/// once). `Err(reason)` inside when there is nothing to prove.
async fn make_proof(
    node: &Node,
    me: Address,
    chain_id: u64,
    (slot, chunk, chunks): (u64, u32, u32),
    proving: &Proving,
) -> eyre::Result<Result<(B256, B256, Vec<u8>), String>> {
    let mut tries = 0;
    let w = loop {
        match node.witness(slot, chunk).await {
            Ok(w) => break w,
            Err(e) if tries < WITNESS_TRIES => {
                tries += 1;
                tracing::debug!(target: "parley::prover", slot, error = %e, "no witness yet");
                tokio::time::sleep(WITNESS_RETRY).await;
            }
            Err(e) => return Ok(Err(format!("no witness: {e}"))),
        }
    };
    let witness = BlockWitness::decode(&w.witness)
        .map_err(|e| eyre!("witness of slot {slot}: {e}"))?
        .for_prover(me);
    let h = &witness.public.header;
    if h.slot != slot || h.chain_id != chain_id || h.chunk_index != chunk || h.chunk_count != chunks
    {
        bail!("the node's witness is for another slot, chunk or chain");
    }
    let capacity = usize::try_from(w.capacity).map_err(|_| eyre!("capacity over usize"))?;
    let keys = proving
        .keys(capacity, index_bits(w.proof_index_bits), &w.vk_hash)
        .await?;
    // A proof under other keys would be refused and fined: do not make it.
    same_keys(keys.vk_hash(), &w.vk_hash)?;
    let permit = proving
        .jobs
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| eyre!("job slots closed: {e}"))?;
    let public = witness.public;
    tracing::info!(target: "parley::prover", slot, chunk, chunks, capacity, "proving");
    let proof = progress(
        "block proof",
        &format!("slot {slot} chunk {chunk}"),
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            #[allow(clippy::disallowed_methods)] // the log's duration, not consensus
            let started = std::time::Instant::now();
            keys.prove(&witness).map(|p| (p, started.elapsed()))
        }),
    )
    .await
    .map_err(|e| eyre!("proving task: {e}"))?
    .map_err(|e| eyre!("proving chunk {chunk} of slot {slot}: {e}"))?;
    let (proof, took) = proof;
    proving
        .made
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    tracing::info!(target: "parley::prover", slot, chunk, ms = took.as_millis() as u64, "proved");
    Ok(Ok((
        fr_to_b256(&public.pre_root),
        fr_to_b256(&public.post_root),
        proof.bytes,
    )))
}

/// Refuses to prove with a block-circuit key (`ours`) other than the one the chain pins
/// (`pinned`, from `GetWitness`): the chain would refuse every such proof and fine its sender.
pub fn same_keys(ours: B256, pinned: &[u8]) -> eyre::Result<()> {
    if ours.as_slice() == pinned {
        return Ok(());
    }
    let pinned = hex::encode(pinned);
    bail!(
        "this worker's block-circuit key hashes to {ours}, the chain pins 0x{pinned}: another \
         trusted setup (--srs) or another parley-prover version; not proving"
    )
}

fn has(list: &[Vec<u8>], a: Address) -> bool {
    list.iter().any(|p| p.as_slice() == a.as_slice())
}

/// Submits `action` and waits until `landed` holds for the slot's state; submits again (up to
/// [`SUBMIT_ATTEMPTS`] times) when it does not within [`NONCE_RESYNC_HEIGHTS`] heights (a
/// message dropped in a nonce race). `Ok(Err(log))`: refused with one of `benign`, or the
/// phase that takes it is over (`closed`: the next block cannot include it).
#[allow(clippy::too_many_arguments)]
async fn submit_until(
    node: &Node,
    key: &PrivateKeySigner,
    chain_id: u64,
    (slot, chunk): (u64, u32),
    action: &Action,
    nonces: &Nonces,
    benign: &[u32],
    landed: impl Fn(&pb::GetProofSlotResponse) -> bool,
    closed: impl Fn(&pb::GetProofSlotResponse) -> bool,
) -> eyre::Result<Result<B256, String>> {
    let kind = action.kind().name();
    for _attempt in 0..SUBMIT_ATTEMPTS {
        let (r, hash) = send(node, key, chain_id, action, nonces).await?;
        match r.code {
            0 => {}
            code if benign.contains(&code) => return Ok(Err(r.log)),
            code => bail!("{kind} for slot {slot} refused (code {code}): {}", r.log),
        }
        let sent_at = node.proof_slot(slot, chunk).await?.height;
        loop {
            tokio::time::sleep(WITNESS_RETRY).await;
            let s = node.proof_slot(slot, chunk).await?;
            if landed(&s) {
                return Ok(Ok(hash));
            }
            if closed(&s) {
                return Ok(Err(format!(
                    "{kind} not included before its phase closed at height {}",
                    s.height
                )));
            }
            if s.height > sent_at.saturating_add(NONCE_RESYNC_HEIGHTS + 1) {
                tracing::warn!(target: "parley::prover", slot, chunk, tx = %hash, kind,
                    "not included; submitting again");
                break;
            }
        }
    }
    bail!("{kind} for slot {slot} was not included after {SUBMIT_ATTEMPTS} submissions")
}

/// Acts on a `ProveTask`: fetches the witness of the task's chunk from the node (none: the
/// slot is proven or no longer awaits a proof), proves it for `key`'s address
/// ([`make_proof`]) and submits a signed `Proof` of that chunk, again if it is not included; a
/// slot proven meanwhile, a chunk already holding this prover's transition, or a window
/// closed is skipped. The job holds the chunk's proof cell ([`Proving::hold`]) throughout,
/// and puts the proof back when it was not used.
pub async fn prove(
    node: &Node,
    key: &PrivateKeySigner,
    chain_id: u64,
    task: &pb::ProveTask,
    proving: &Proving,
    nonces: &Nonces,
) -> eyre::Result<Outcome> {
    let me = key.address();
    let done = move |s: &pb::GetProofSlotResponse| s.proven || has(&s.transitions, me);
    // The next block cannot include a `Proof` in the window any more.
    let window_over = |s: &pb::GetProofSlotResponse| s.round > 0 || s.height >= s.window_end;
    let skip = |s: &pb::GetProofSlotResponse| !s.needs_proof || done(s);
    let (slot, chunk) = (task.slot, task.chunk);
    if skip(&node.proof_slot(slot, chunk).await?) {
        return Ok(Outcome::Skipped(
            "slot proven, holding this prover's transition, or needing no proof".into(),
        ));
    }
    let mut cell = proving.hold(slot, chunk).await;
    // Another job of this process may have had the chunk meanwhile.
    if skip(&node.proof_slot(slot, chunk).await?) {
        return Ok(Outcome::Skipped(
            "slot proven, holding this prover's transition, or needing no proof".into(),
        ));
    }
    // A proof made before and not used (the node went away) is submitted as it is.
    let (pre_root, post_root, proof) = match cell.take() {
        Some(p) => p,
        None => match make_proof(node, me, chain_id, (slot, chunk, task.chunks), proving).await? {
            Ok(p) => p,
            Err(why) => return Ok(Outcome::Skipped(why)),
        },
    };
    let action = Action::Proof {
        slot,
        chunk,
        pre_root,
        post_root,
        proof: proof.clone().into(),
    };
    let benign = [
        CODE_NO_PROOF_DUE,
        CODE_ALREADY_PROVEN,
        CODE_DUPLICATE_TRANSITION,
        CODE_WINDOW_OVER,
    ];
    let submitted = match submit_until(
        node,
        key,
        chain_id,
        (slot, chunk),
        &action,
        nonces,
        &benign,
        done,
        window_over,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            // The node went away: kept for the next attempt or delivery of the task.
            if unreachable(&e) {
                *cell = Some((pre_root, post_root, proof));
            }
            return Err(e);
        }
    };
    Ok(match submitted {
        Ok(hash) => Outcome::Submitted(hash),
        Err(log) => {
            // Too late for the window: the slot's fallback round can use this proof.
            if node.proof_slot(slot, chunk).await.is_ok_and(|s| !done(&s)) {
                *cell = Some((pre_root, post_root, proof));
            }
            Outcome::Skipped(log)
        }
    })
}

/// Waits until the node has committed height `h`.
async fn wait_height(
    node: &Node,
    (slot, chunk): (u64, u32),
    h: u64,
) -> eyre::Result<pb::GetProofSlotResponse> {
    loop {
        let s = node.proof_slot(slot, chunk).await?;
        if s.height >= h {
            return Ok(s);
        }
        tokio::time::sleep(WITNESS_RETRY).await;
    }
}

/// Acts on a `FallbackTask` (DESIGN §3.9): proves the task's chunk of the slot for `key`'s
/// address, sends `CommitProof{slot, chunk, keccak256(proof ‖ address)}` while the round's
/// commit phase lasts, waits
/// for the reveal phase and sends the matching `RevealProof`. Skips a slot proven meanwhile,
/// a round that is over or other than the task's, and a commit this process did not make
/// (another process of the same key committed: it holds the proof; halo2 proofs are
/// randomized, so this one could not match the hash). A process that dies between its
/// commit and its reveal leaves the commit to be fined.
///
/// The job holds the slot's proof cell ([`Proving::hold`]) throughout: it takes the proof an
/// earlier job of this process made (the window's job that came too late, the last round's,
/// or its own attempt before the node went away, which may have committed already) and puts
/// it back unless it was revealed or the slot needs it no more.
pub async fn fallback(
    node: &Node,
    key: &PrivateKeySigner,
    chain_id: u64,
    task: &pb::FallbackTask,
    proving: &Proving,
    nonces: &Nonces,
) -> eyre::Result<Outcome> {
    let me = key.address();
    let (slot, chunk) = (task.slot, task.chunk);
    let over = |s: &pb::GetProofSlotResponse| {
        !s.needs_proof || s.proven || has(&s.transitions, me) || s.round != task.round
    };
    let over_why = "slot proven, holding this prover's transition, or the round is over";
    if over(&node.proof_slot(slot, chunk).await?) {
        return Ok(Outcome::Skipped(over_why.into()));
    }
    let mut cell = proving.hold(slot, chunk).await;
    let state = node.proof_slot(slot, chunk).await?;
    if over(&state) {
        return Ok(Outcome::Skipped(over_why.into()));
    }
    let committed = has(&state.committed, me);
    let made = match cell.take() {
        Some(p) => p,
        None if committed => {
            return Ok(Outcome::Skipped(
                "this key committed from another process, which holds the proof".into(),
            ));
        }
        None => match make_proof(node, me, chain_id, (slot, chunk, task.chunks), proving).await? {
            Ok(p) => p,
            Err(why) => return Ok(Outcome::Skipped(why)),
        },
    };
    let r = commit_and_reveal(node, key, chain_id, task, nonces, &made, committed).await;
    // Not revealed: kept for this task's next attempt or the slot's next round.
    let revealed = matches!(r, Ok(Outcome::Submitted(_)));
    let needed = match node.proof_slot(slot, chunk).await {
        Ok(s) => s.needs_proof && !s.proven && !has(&s.transitions, me),
        Err(_) => true,
    };
    if !revealed && needed {
        *cell = Some(made);
    }
    r
}

/// [`fallback`]'s two steps with a proof made: the commit (unless `committed` in this round
/// already) and, in the reveal phase, the reveal.
async fn commit_and_reveal(
    node: &Node,
    key: &PrivateKeySigner,
    chain_id: u64,
    task: &pb::FallbackTask,
    nonces: &Nonces,
    made: &MadeProof,
    committed: bool,
) -> eyre::Result<Outcome> {
    let me = key.address();
    let (slot, chunk) = (task.slot, task.chunk);
    let (pre_root, post_root, proof) = made.clone();
    let over = |s: &pb::GetProofSlotResponse| {
        !s.needs_proof || s.proven || has(&s.transitions, me) || s.round != task.round
    };
    let benign = [
        CODE_NO_PROOF_DUE,
        CODE_ALREADY_PROVEN,
        CODE_DUPLICATE_TRANSITION,
        CODE_FALLBACK_PHASE,
    ];
    if !committed {
        // Proving may outlast the commit phase: then the proof waits for the next round.
        let now = node.proof_slot(slot, chunk).await?;
        if over(&now) || now.height >= task.commit_end {
            return Ok(Outcome::Skipped(
                "the commit phase ended while proving; the proof is kept for the next round".into(),
            ));
        }
        let hash = parley_app::chain::proving::commit_hash(&proof, me);
        let commit = Action::CommitProof { slot, chunk, hash };
        let landed = move |s: &pb::GetProofSlotResponse| has(&s.committed, me) || s.proven;
        let closed = |s: &pb::GetProofSlotResponse| over(s) || s.height >= task.commit_end;
        if let Err(log) = submit_until(
            node,
            key,
            chain_id,
            (slot, chunk),
            &commit,
            nonces,
            &benign,
            landed,
            closed,
        )
        .await?
        {
            return Ok(Outcome::Skipped(format!("commit not taken: {log}")));
        }
        tracing::info!(target: "parley::prover", slot, chunk, round = task.round, commit_end = task.commit_end, "committed; waiting for the reveal phase");
    }
    // Reveals are taken from height commit_end + 1: the next block after commit_end commits.
    let state = wait_height(node, (slot, chunk), task.commit_end).await?;
    if over(&state) {
        return Ok(Outcome::Skipped(
            "slot proven or round over before the reveal".into(),
        ));
    }
    let reveal = Action::RevealProof {
        slot,
        chunk,
        pre_root,
        post_root,
        proof: proof.into(),
    };
    let revealed = move |s: &pb::GetProofSlotResponse| {
        s.proven || has(&s.transitions, me) || has(&s.revealed, me)
    };
    let closed = |s: &pb::GetProofSlotResponse| s.round != task.round || s.height >= s.round_end;
    Ok(
        match submit_until(
            node,
            key,
            chain_id,
            (slot, chunk),
            &reveal,
            nonces,
            &benign,
            revealed,
            closed,
        )
        .await?
        {
            Ok(hash) => Outcome::Submitted(hash),
            Err(log) => Outcome::Skipped(format!("reveal not taken: {log}")),
        },
    )
}

/// The tasks a worker holds or finished (id → deadline height), so that a re-delivered task is
/// ignored; entries are dropped once their deadline is behind the chain.
#[derive(Debug, Default)]
pub struct Held {
    tasks: BTreeMap<String, u64>,
}

impl Held {
    /// Records `id`; false if it was already held (a re-delivery).
    pub fn take(&mut self, id: &str, deadline: u64) -> bool {
        if self.tasks.contains_key(id) {
            return false;
        }
        self.tasks.insert(id.to_string(), deadline);
        true
    }

    /// The deadline of a held task.
    pub fn deadline(&self, id: &str) -> Option<u64> {
        self.tasks.get(id).copied()
    }

    /// Forgets `id` (cancelled).
    pub fn cancel(&mut self, id: &str) {
        self.tasks.remove(id);
    }

    /// Forgets tasks whose deadline is below `height`.
    pub fn prune(&mut self, height: u64) {
        self.tasks.retain(|_, d| *d >= height);
    }

    /// The ids held.
    pub fn ids(&self) -> Vec<String> {
        self.tasks.keys().cloned().collect()
    }
}

fn finished(
    id: &str,
    outcome: &eyre::Result<Outcome>,
    on_outcome: &mut (dyn FnMut(&str, &eyre::Result<Outcome>) + Send),
) {
    match outcome {
        Ok(Outcome::Submitted(h)) => {
            tracing::info!(target: "parley::prover", task = %id, tx = %h, "submitted")
        }
        Ok(Outcome::Skipped(why)) => {
            tracing::info!(target: "parley::prover", task = %id, reason = %why, "skipped")
        }
        Err(e) => {
            tracing::warn!(target: "parley::prover", task = %id, error = %e, "task failed")
        }
    }
    on_outcome(id, outcome);
}

/// The proving jobs of a worker process. They outlive the stream that delivered them: a proof
/// keeps running when its stream closes (a node restart), the next stream names it as running
/// (`SubscribeRequest.running`), and whichever stream is open when it ends takes its outcome.
/// A job that fails because the node could not be reached ([`Unreachable`]: it may be
/// restarting) is tried again in place ([`JOB_ATTEMPTS`]); a failed one is named too, until
/// its deadline, so that its re-delivery comes back to this process, which may hold its proof
/// already.
#[derive(Debug)]
pub struct Jobs {
    done_tx: tokio::sync::mpsc::UnboundedSender<(String, eyre::Result<Outcome>)>,
    done_rx: tokio::sync::mpsc::UnboundedReceiver<(String, eyre::Result<Outcome>)>,
    running: std::collections::BTreeSet<String>,
    /// Failed jobs, by id: their deadline height.
    failed: BTreeMap<String, u64>,
}

/// Attempts of one proving job before it is reported failed, the first retry after
/// [`JOB_RETRY`], each next one after twice as long (2 + 4 + 8 + 16 s: a node restart).
pub const JOB_ATTEMPTS: u32 = 5;
const JOB_RETRY: Duration = Duration::from_secs(2);

impl Default for Jobs {
    fn default() -> Self {
        let (done_tx, done_rx) = tokio::sync::mpsc::unbounded_channel();
        Self {
            done_tx,
            done_rx,
            running: std::collections::BTreeSet::new(),
            failed: BTreeMap::new(),
        }
    }
}

impl Jobs {
    /// What a new stream names as this process's: the jobs running now and the failed ones
    /// whose deadline has not passed.
    pub fn running(&self) -> Vec<String> {
        self.running
            .iter()
            .chain(self.failed.keys())
            .cloned()
            .collect()
    }
}

/// Takes a task's outcome: logged and shown to `on_outcome`. A failed task is let go, so that
/// its next delivery (the node re-delivers what is still due on a new stream) runs it again;
/// a proof that was made but not submitted waits in [`Proving`] for that run.
fn settle(
    held: &mut Held,
    jobs: &mut Jobs,
    id: &str,
    outcome: &eyre::Result<Outcome>,
    on_outcome: &mut (dyn FnMut(&str, &eyre::Result<Outcome>) + Send),
) {
    finished(id, outcome, on_outcome);
    jobs.running.remove(id);
    if outcome.is_err() {
        if let Some(deadline) = held.deadline(id) {
            jobs.failed.insert(id.to_string(), deadline);
        }
        held.cancel(id);
    }
}

/// A proving task, run beside the stream.
enum Job {
    Prove(pb::ProveTask),
    Fallback(pb::FallbackTask),
    Aggregate(pb::AggregateTask),
}

/// Takes a proving task (unless already held) and runs it on its own tokio task; its outcome
/// comes back on `done`.
#[allow(clippy::too_many_arguments)]
fn spawn_job(
    cfg: &Config,
    node: &Node,
    held: &mut Held,
    proving: &Proving,
    nonces: &Nonces,
    jobs: &mut Jobs,
    id: String,
    deadline: u64,
    job: Job,
) -> bool {
    if !held.take(&id, deadline) {
        tracing::debug!(target: "parley::prover", task = %id, "already held");
        return false;
    }
    jobs.failed.remove(&id);
    match &job {
        Job::Prove(t) => {
            tracing::info!(target: "parley::prover", task = %id, slot = t.slot, chunk = t.chunk, chunks = t.chunks, deadline, "prove task")
        }
        Job::Fallback(t) => {
            tracing::info!(target: "parley::prover", task = %id, slot = t.slot, chunk = t.chunk, chunks = t.chunks, round = t.round, commit_end = t.commit_end, "fallback task")
        }
        Job::Aggregate(t) => {
            tracing::info!(target: "parley::prover", task = %id, epoch = t.epoch, blocks = t.blocks, deadline, "aggregate task")
        }
    }
    let (node, key, chain_id, proving, nonces, done) = (
        node.clone(),
        cfg.key.clone(),
        cfg.chain_id,
        proving.clone(),
        nonces.clone(),
        jobs.done_tx.clone(),
    );
    jobs.running.insert(id.clone());
    tokio::spawn(async move {
        let mut attempt = 1;
        let outcome = loop {
            let outcome = match &job {
                Job::Prove(t) => prove(&node, &key, chain_id, t, &proving, &nonces).await,
                Job::Fallback(t) => fallback(&node, &key, chain_id, t, &proving, &nonces).await,
                Job::Aggregate(t) => aggregate(&node, &key, chain_id, t, &proving, &nonces).await,
            };
            match outcome {
                // Only when the node could not be reached (it may be restarting). Each attempt
                // reconciles with the chain first, and a proof already made is kept in
                // `proving` and submitted as it is.
                Err(e) if attempt < JOB_ATTEMPTS && unreachable(&e) => {
                    let wait = JOB_RETRY * 2u32.pow(attempt - 1);
                    tracing::warn!(target: "parley::prover", task = %id, attempt, error = %e,
                        retry_in_ms = wait.as_millis() as u64, "task failed; trying again");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                outcome => break outcome,
            }
        };
        let _ = done.send((id, outcome));
    });
    true
}

/// How often a long computation (keygen, a proof, an aggregation, a compression) logs that
/// it is still running.
const PROGRESS_EVERY: Duration = Duration::from_secs(15);

/// How long the last computation of each kind took in this process: the estimate progress
/// lines show.
static LAST_TOOK: std::sync::Mutex<BTreeMap<&'static str, Duration>> =
    std::sync::Mutex::new(BTreeMap::new());

/// Awaits `task`, a long computation of kind `what` (for `subject`), logging every
/// [`PROGRESS_EVERY`] how long it has run and, once a computation of its kind has finished in
/// this process, that one's duration as the estimate. Minutes of keygen or proving otherwise
/// look like a hung worker.
async fn progress<T>(
    what: &'static str,
    subject: &str,
    task: tokio::task::JoinHandle<T>,
) -> Result<T, tokio::task::JoinError> {
    #[allow(clippy::disallowed_methods)] // the log's duration, not consensus
    let started = std::time::Instant::now();
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    tick.tick().await; // the first tick is immediate
    tokio::pin!(task);
    loop {
        tokio::select! {
            r = &mut task => {
                LAST_TOOK
                    .lock()
                    .expect("progress estimates lock")
                    .insert(what, started.elapsed());
                return r;
            }
            _ = tick.tick() => {
                let secs = started.elapsed().as_secs();
                let last = LAST_TOOK
                    .lock()
                    .expect("progress estimates lock")
                    .get(what)
                    .map(Duration::as_secs)
                    .filter(|s| *s > 0);
                match last {
                    Some(last) => tracing::info!(target: "parley::prover", what, subject, secs,
                        last_secs = last, estimate_pct = (secs * 100 / last).min(99),
                        "still working"),
                    None => tracing::info!(target: "parley::prover", what, subject, secs,
                        "still working (the first of its kind here: no estimate yet)"),
                }
            }
        }
    }
}

/// Tells the node what this worker is busy with (DESIGN §5: workers report progress and
/// capacity): the proofs running now, and the other tasks it holds (handled, kept until
/// their deadline so a re-delivery is not run twice). Best effort: a failed report is logged.
async fn report_progress(
    cfg: &Config,
    node: &Node,
    session: &str,
    held: &Held,
    running: &std::collections::BTreeSet<String>,
) {
    if session.is_empty() {
        return;
    }
    let r = pb::ReportRequest {
        session: session.to_string(),
        capacity: cfg.capacity,
        in_progress: running.iter().cloned().collect(),
        done: held
            .ids()
            .into_iter()
            .filter(|id| !running.contains(id))
            .collect(),
    };
    if let Err(e) = node.report(r).await {
        tracing::debug!(target: "parley::prover", error = %e, "report failed");
    }
}

/// One session: authenticate, then act on tasks until the stream ends (Ok) or fails (Err).
/// Proofs run beside the stream (a proof takes seconds; a Select must not wait for it) as
/// `jobs`, which outlive the session. `on_outcome` sees each task's result (tests, metrics).
pub async fn session(
    cfg: &Config,
    node: &Node,
    held: &mut Held,
    proving: &Proving,
    jobs: &mut Jobs,
    on_outcome: &mut (dyn FnMut(&str, &eyre::Result<Outcome>) + Send),
) -> eyre::Result<()> {
    // Jobs that ended between streams: a failed one must be let go before its re-delivery.
    while let Ok((id, outcome)) = jobs.done_rx.try_recv() {
        settle(held, jobs, &id, &outcome, on_outcome);
    }
    let Subscribed {
        mut stream,
        session,
        block_capacity,
        block_vk_hash,
        proof_index_bits,
    } = node
        .subscribe(
            &cfg.key,
            cfg.chain_id,
            cfg.capacity,
            jobs.running(),
            cfg.aggregate,
        )
        .await?;
    tracing::info!(target: "parley::prover", node = %cfg.node, prover = %cfg.key.address(), %session,
        running = jobs.running.len(), "subscribed");
    if block_capacity > 0 {
        let capacity =
            usize::try_from(block_capacity).map_err(|_| eyre!("block capacity over usize"))?;
        proving.warm(capacity, proof_index_bits, block_vk_hash);
        if cfg.aggregate {
            proving.warm_aggregation(node.clone());
        }
    }
    let nonces = Nonces::default();
    if cfg.aggregate {
        let (node, key, proving, nonces) = (
            node.clone(),
            cfg.key.clone(),
            proving.clone(),
            nonces.clone(),
        );
        let chain_id = cfg.chain_id;
        tokio::spawn(async move {
            if let Err(e) = recover_l1_proofs(&node, &key, chain_id, &proving, &nonces).await {
                tracing::warn!(target: "parley::prover", error = %e, "kept aggregates not checked; checked again at the next subscription");
            }
        });
    }
    let mut refused = proving.refused.subscribe();
    loop {
        if let Some(why) = proving.refused() {
            return Err(Refused(why).into());
        }
        let message = tokio::select! {
            m = stream.message() => m,
            Ok(()) = refused.changed() => continue,
            Some((id, outcome)) = jobs.done_rx.recv() => {
                settle(held, jobs, &id, &outcome, on_outcome);
                report_progress(cfg, node, &session, held, &jobs.running).await;
                continue;
            }
        };
        let task = match message {
            Ok(Some(t)) => t,
            Ok(None) => {
                tracing::info!(target: "parley::prover", "the node closed the task stream");
                return Ok(());
            }
            Err(s) => bail!("task stream: {} ({:?})", s.message(), s.code()),
        };
        held.prune(task.height.saturating_add(1));
        jobs.failed.retain(|_, d| *d > task.height);
        let id = task.task_id.clone();
        let job = match task.kind {
            Some(pb::task::Kind::Cancel(c)) => {
                tracing::info!(target: "parley::prover", task = %c.task_id, reason = %c.reason, "cancelled");
                held.cancel(&c.task_id);
                jobs.failed.remove(&c.task_id);
                continue;
            }
            Some(pb::task::Kind::Select(t)) => {
                if !held.take(&id, task.deadline_height) {
                    tracing::debug!(target: "parley::prover", task = %id, "already held");
                    continue;
                }
                tracing::info!(target: "parley::prover", task = %id, slot = t.slot, deadline = t.deadline_height, "select task");
                let outcome = select(node, &cfg.key, cfg.chain_id, &t, &nonces).await;
                settle(held, jobs, &id, &outcome, on_outcome);
                report_progress(cfg, node, &session, held, &jobs.running).await;
                continue;
            }
            Some(pb::task::Kind::Heartbeat(t)) => {
                if !held.take(&id, task.deadline_height) {
                    tracing::debug!(target: "parley::prover", task = %id, "already held");
                    continue;
                }
                tracing::info!(target: "parley::prover", task = %id, last = t.last_heartbeat, "heartbeat task");
                let outcome = heartbeat(node, &cfg.key, cfg.chain_id, &nonces).await;
                settle(held, jobs, &id, &outcome, on_outcome);
                report_progress(cfg, node, &session, held, &jobs.running).await;
                continue;
            }
            // Proving tasks run beside the stream.
            Some(pb::task::Kind::Prove(t)) => Job::Prove(t),
            Some(pb::task::Kind::Fallback(t)) => Job::Fallback(t),
            Some(pb::task::Kind::Aggregate(t)) => Job::Aggregate(t),
            None => {
                tracing::warn!(target: "parley::prover", task = %id, "task of a kind this worker does not know; ignored");
                continue;
            }
        };
        if spawn_job(
            cfg,
            node,
            held,
            proving,
            &nonces,
            jobs,
            id.clone(),
            task.deadline_height,
            job,
        ) {
            report_progress(cfg, node, &session, held, &jobs.running).await;
        }
    }
}

/// Runs the worker until `shutdown` resolves: sessions one after the other, with exponential
/// backoff between failed ones (reset after a session that got going); stops with an error
/// when its keys are not the chain's ([`Refused`]).
pub async fn run(cfg: Config, shutdown: impl Future<Output = ()>) -> eyre::Result<()> {
    let node = Node::dial(&cfg.node, cfg.call_timeout)?;
    let mut held = Held::default();
    let mut jobs = Jobs::default();
    let proving = Proving::new(cfg.jobs).with_keys_dir(cfg.keys_dir.clone());
    let mut backoff = cfg.backoff_min;
    let mut ignore = |_: &str, _: &eyre::Result<Outcome>| {};
    tokio::pin!(shutdown);
    loop {
        let r = tokio::select! {
            () = &mut shutdown => return Ok(()),
            r = session(&cfg, &node, &mut held, &proving, &mut jobs, &mut ignore) => r,
        };
        match r {
            Ok(()) => backoff = cfg.backoff_min,
            Err(e) if e.is::<Refused>() => return Err(e),
            Err(e) => {
                tracing::warn!(target: "parley::prover", error = %e, retry_in_ms = backoff.as_millis() as u64, "session failed");
            }
        }
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(cfg.backoff_max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kept aggregates survive the process (they are files), are listed per chain and
    /// prover, oldest epoch first, and are gone once removed.
    #[test]
    fn kept_aggregates_are_per_chain_and_prover_and_survive_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let me = Address::repeat_byte(0x11);
        let a = PendingL1::new(dir.path(), 7, me);
        a.put(12, b"twelve");
        a.put(3, b"three");
        PendingL1::new(dir.path(), 8, me).put(5, b"another chain");
        PendingL1::new(dir.path(), 7, Address::repeat_byte(0x22)).put(6, b"another prover");
        // a new process: the same files
        let b = PendingL1::new(dir.path(), 7, me);
        assert_eq!(b.epochs(), vec![3, 12]);
        assert_eq!(b.get(12).as_deref(), Some(&b"twelve"[..]));
        b.put(12, b"made again");
        assert_eq!(b.get(12).as_deref(), Some(&b"made again"[..]));
        b.remove(3);
        b.remove(3);
        assert_eq!(b.epochs(), vec![12]);
        assert_eq!(b.get(3), None);
        assert_eq!(PendingL1::new(dir.path(), 8, me).epochs(), vec![5]);
        // no directory yet: nothing kept
        assert!(
            PendingL1::new(&dir.path().join("none"), 7, me)
                .epochs()
                .is_empty()
        );
    }

    #[test]
    fn the_trusted_setup_is_explicit_and_pinned() {
        use parley_proofs::params::{Srs, generate_srs, write_ceremony_file};
        let said = |r: eyre::Result<Srs>, what: &str| {
            let e = r.expect_err(what).to_string();
            assert!(e.contains(what), "{e} should say {what}");
        };
        said(trusted_setup("", None), "no trusted setup");
        assert!(matches!(trusted_setup("dev", None), Ok(Srs::Dev)));
        said(trusted_setup("dev", Some(B256::ZERO)), "takes none");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.srs");
        let hash = write_ceremony_file(&path, &generate_srs(4)).expect("write");
        let p = path.to_str().expect("utf-8 path");
        said(trusted_setup(p, None), "needs --srs-hash");
        assert!(matches!(trusted_setup(p, Some(hash)), Ok(Srs::Ceremony(_))));
        said(trusted_setup(p, Some(B256::ZERO)), "the pinned hash is");
        let missing = dir.path().join("none.srs");
        said(
            trusted_setup(missing.to_str().expect("utf-8"), Some(hash)),
            "cannot read",
        );
    }

    #[test]
    fn a_dropped_message_stops_blocking_the_nonces_after_the_chain_stalls() {
        // Messages 5, 6, 7 accepted at heights 100..102 while the chain says 5.
        let mut l = None;
        for (h, n) in [(100, 5), (101, 6), (102, 7)] {
            assert_eq!(next_nonce(l, 5, h), n);
            l = Some(after_submit(l, n, 5, h));
        }
        // Message 5 was dropped. A Select every height keeps being numbered ahead (8, 9, ...)
        // until the chain has sat at 5 for NONCE_RESYNC_HEIGHTS heights; then it fills the gap.
        let mut h = 103;
        let mut n = 8;
        while h <= 100 + NONCE_RESYNC_HEIGHTS {
            assert_eq!(next_nonce(l, 5, h), n, "height {h}");
            l = Some(after_submit(l, n, 5, h));
            h += 1;
            n += 1;
        }
        assert_eq!(next_nonce(l, 5, h), 5, "resynced at height {h}");
        l = Some(after_submit(l, 5, 5, h));
        assert_eq!(next_nonce(l, 5, h + 1), 6);
        // A chain that moves (messages landing) restarts the clock: no resync while it moves.
        let mut l = None;
        for h in 0..3 * NONCE_RESYNC_HEIGHTS {
            let chain = h / 2;
            let n = next_nonce(l, chain, h);
            assert_eq!(n, h, "height {h}: numbered on, never reset");
            l = Some(after_submit(l, n, chain, h));
        }
    }

    #[tokio::test]
    async fn only_an_unreachable_node_makes_a_job_try_again() {
        let t = Duration::from_millis(50);
        let down = call::<()>(t, "GetAccount", async {
            Err(tonic::Status::unavailable("tcp connect error"))
        })
        .await
        .expect_err("unavailable");
        assert!(
            unreachable(&down.wrap_err("proving slot 6")),
            "wrapped or not"
        );
        let slow = call::<()>(t, "GetAccount", std::future::pending())
            .await
            .expect_err("times out");
        assert!(unreachable(&slow));
        let refused = call::<()>(t, "Submit", async {
            Err(tonic::Status::invalid_argument("not a signed message"))
        })
        .await
        .expect_err("refused");
        assert!(!unreachable(&refused));
        assert!(!unreachable(&eyre!(
            "Proof for slot 6 was not included after 3 submissions"
        )));
    }

    #[test]
    fn a_worker_proves_only_with_the_keys_the_chain_pins() {
        let ours = B256::repeat_byte(0xa4);
        assert!(same_keys(ours, ours.as_slice()).is_ok());
        let e = same_keys(ours, B256::repeat_byte(0x82).as_slice())
            .expect_err("another setup's key")
            .to_string();
        assert!(
            e.contains("0x8282") && e.contains("--srs") && e.contains("not proving"),
            "{e}"
        );
        // A node that sends no pin (an older node) is not trusted blindly either.
        assert!(same_keys(ours, &[]).is_err());
    }

    #[tokio::test]
    async fn a_slots_jobs_take_turns_and_pass_on_an_unused_proof() {
        let proving = Proving::new(1);
        let made = (B256::repeat_byte(1), B256::repeat_byte(2), vec![7u8; 3]);
        let mut first = proving.hold(5, 0).await;
        assert!(proving.holds(5, 0));
        // Another slot does not wait for slot 5.
        let other = tokio::time::timeout(Duration::from_secs(1), proving.hold(6, 0))
            .await
            .expect("slot 6 is free");
        drop(other);
        // The slot's second job waits for the first, then takes the proof it left.
        let second = {
            let p = proving.clone();
            tokio::spawn(async move { p.hold(5, 0).await.take() })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !second.is_finished(),
            "waits while the first job holds the slot"
        );
        *first = Some(made.clone());
        drop(first);
        assert_eq!(second.await.expect("joins"), Some(made));
        // Taken: the next job finds nothing and proves.
        assert_eq!(proving.hold(5, 0).await.take(), None);
        assert!(!proving.holds(5, 0));
    }

    #[tokio::test]
    async fn idle_proof_cells_are_dropped_oldest_first_but_never_a_held_one() {
        let proving = Proving::new(1);
        let held = proving.hold(0, 0).await;
        for slot in 1..=(MADE_PROOFS_KEPT as u64 + 10) {
            *proving.hold(slot, 0).await = Some((B256::ZERO, B256::ZERO, vec![slot as u8]));
        }
        let m = proving.slots.lock().expect("lock");
        assert_eq!(m.len(), MADE_PROOFS_KEPT);
        assert!(m.contains_key(&(0, 0)), "slot 0 is held by a job");
        assert!(m.contains_key(&(MADE_PROOFS_KEPT as u64 + 10, 0)));
        assert!(!m.contains_key(&(1, 0)), "the oldest idle cells went first");
        drop(m);
        drop(held);
    }

    #[test]
    fn keys_parse_with_or_without_0x() {
        let k = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
        let a = parse_key(k).expect("parses");
        assert_eq!(parse_key(&k[2..]).expect("parses").address(), a.address());
        assert_eq!(
            parse_key(&format!("  {k}\n")).expect("parses").address(),
            a.address()
        );
        assert!(parse_key("0x12").is_err());
        assert!(parse_key("zz").is_err());
    }

    #[test]
    fn held_tasks_are_taken_once_until_cancelled_or_past_deadline() {
        let mut h = Held::default();
        assert!(h.take("select/10", 4));
        assert!(!h.take("select/10", 4), "a re-delivery is ignored");
        h.cancel("select/10");
        assert!(h.take("select/10", 4));
        h.prune(4);
        assert!(!h.take("select/10", 4));
        h.prune(5);
        assert_eq!(h.ids(), Vec::<String>::new());
    }
}
