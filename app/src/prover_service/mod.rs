//! The gRPC ProverService (DESIGN §5, `proto/parley/prover/v1/service.proto`): prover workers
//! authenticate with a signed challenge ([`auth`]), receive their tasks as a stream recomputed
//! on every commit ([`tasks`]), read the slot and account state they reconcile with, and submit
//! signed protocol messages, which the node broadcasts through CometBFT like
//! `parley_sendMessage`.
//!
//! Not consensus: everything here reads committed state and the clock (challenge expiry,
//! timeouts) and never writes state. Every unary call has a server-side timeout; a task stream
//! ends cleanly when the client goes away, when it stalls, or when the node shuts down.

pub mod auth;
pub mod tasks;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use alloy_primitives::{Address, keccak256};
use futures::future::BoxFuture;
use parley_proto::prover::v1 as pb;
use pb::prover_service_server::{ProverService, ProverServiceServer};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::app::{App, Event};
use crate::chain::auction;
use crate::chain::genesis::Params;
use crate::chain::ledger::Ledger;
use crate::chain::msg;
use crate::chain::overlay::Overlay;
use crate::chain::proving::ProofCheck as _;
use crate::rpc::BroadcastError;
use crate::store::Reader;

/// Response metadata key of a subscription's session id (what `Report` names).
pub const SESSION_HEADER: &str = "x-parley-session";

/// Limits of the service.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Server-side limit of every unary call (and of opening a stream).
    pub call_timeout: Duration,
    /// How long a challenge stays valid.
    pub challenge_ttl: Duration,
    /// Most outstanding challenges.
    pub max_challenges: usize,
    /// Most open task streams.
    pub max_sessions: usize,
    /// Tasks buffered per stream before it counts as stalled.
    pub stream_buffer: usize,
    /// A stream whose client takes no task for this long is closed.
    pub stall_timeout: Duration,
    /// A new stream is given proving tasks no other stream holds only once it has been open
    /// this long. A prover's workers that lost their streams together (a node restart)
    /// reconnect within moments of each other, each naming the proofs it still runs
    /// (`SubscribeRequest.running`); the wait lets the one still running a proof claim it
    /// before an idle one is given it and computes it a second time.
    pub share_after: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(10),
            challenge_ttl: Duration::from_secs(30),
            max_challenges: 4096,
            max_sessions: 1024,
            stream_buffer: 64,
            stall_timeout: Duration::from_secs(30),
            share_after: Duration::from_secs(2),
        }
    }
}

/// Hands a signed message to the network. The node's is its CometBFT RPC
/// ([`crate::rpc::broadcast_tx`]); tests without CometBFT put their own.
pub trait Broadcast: Send + Sync + 'static {
    /// Broadcasts `raw`.
    fn broadcast(&self, raw: Vec<u8>) -> BoxFuture<'static, Result<(), BroadcastError>>;
}

/// [`Broadcast`] through this node's CometBFT RPC.
#[derive(Debug, Clone)]
pub struct CometBft(pub tendermint_rpc::HttpClient);

impl Broadcast for CometBft {
    fn broadcast(&self, raw: Vec<u8>) -> BoxFuture<'static, Result<(), BroadcastError>> {
        let client = self.0.clone();
        Box::pin(async move { crate::rpc::broadcast_tx(&client, &raw).await })
    }
}

/// What `Report` tells about a session.
#[derive(Debug, Clone, Default)]
struct Session {
    prover: Address,
    capacity: u32,
    in_progress: Vec<String>,
    done: Vec<String>,
    /// When the stream opened ([`Settings::share_after`]).
    opened: Option<Instant>,
    /// The worker takes no aggregation tasks (`SubscribeRequest.no_aggregation`).
    no_aggregation: bool,
}

/// What a proving task's stream claims: its slot's chunk (`prove/<slot>/<chunk>` and every
/// `fallback/<slot>/<chunk>/<round>` claim `slot/<slot>/<chunk>`), so one worker of a prover
/// gets all of a chunk's proving tasks, and a slot's chunks go to different workers: a proof it made too late for the window, or too late for a round's
/// commit phase, is kept by that worker process and committed in the next round instead of
/// being proved again by another one. An aggregation (`aggregate/<epoch>`) claims
/// `epoch/<epoch>`: one worker of a prover aggregates an epoch. `None`: not a proving task.
pub fn slot_claim(task_id: &str) -> Option<String> {
    let mut parts = task_id.split('/');
    match (parts.next(), parts.next()) {
        (Some("prove" | "fallback"), Some(slot)) => {
            Some(format!("slot/{slot}/{}", parts.next().unwrap_or("0")))
        }
        (Some("aggregate"), Some(epoch)) => Some(format!("epoch/{epoch}")),
        _ => None,
    }
}

/// Publishes the task streams' gauges (`parley_prover_workers*`).
fn session_metrics(sessions: &BTreeMap<String, Session>) {
    let busy = sessions
        .values()
        .filter(|s| !s.in_progress.is_empty())
        .count();
    let in_progress = sessions.values().map(|s| s.in_progress.len()).sum();
    crate::node::metrics::prover_workers(sessions.len(), busy, in_progress);
}

/// The service (cheap to clone: shared state behind `Arc`s).
#[derive(Clone)]
pub struct Service {
    app: App,
    broadcaster: Arc<dyn Broadcast>,
    challenges: Arc<auth::Challenges>,
    sessions: Arc<Mutex<BTreeMap<String, Session>>>,
    /// Which of a prover's task streams holds each slot it has proving tasks for
    /// ([`slot_claim`]): a prover's workers share its proofs instead of each proving every
    /// one ([`Self::share`]).
    claims: Arc<Mutex<BTreeMap<(Address, String), String>>>,
    shutdown: watch::Receiver<bool>,
    settings: Settings,
    /// The witness service, started on first use (or by [`spawn`] when genesis is known).
    witnesses: Arc<std::sync::OnceLock<Arc<crate::witness::WitnessService>>>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

// The clock is read for challenge expiry, the expiry shown to workers and a new stream's
// wait before it shares proving tasks: never consensus.
#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

#[allow(clippy::disallowed_methods)]
fn unix_ms_after(d: Duration) -> u64 {
    (SystemTime::now() + d)
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn random<const N: usize>() -> Result<[u8; N], Status> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| Status::internal(format!("no randomness: {e}")))?;
    Ok(b)
}

fn address(b: &[u8], what: &str) -> Result<Address, Status> {
    Address::try_from(b).map_err(|_| Status::invalid_argument(format!("{what}: must be 20 bytes")))
}

fn internal(e: impl std::fmt::Display) -> Status {
    tracing::error!(target: "parley::prover_service", error = %e, "storage error");
    Status::internal(format!("internal error: {e}"))
}

/// A proto task from a computed one.
pub fn to_proto(t: &tasks::Task, height: u64) -> pb::Task {
    let kind = match &t.kind {
        tasks::TaskKind::Select {
            slot,
            sequencer,
            commitment,
            amount,
        } => pb::task::Kind::Select(pb::SelectTask {
            slot: *slot,
            deadline_height: t.deadline_height,
            sequencer: sequencer.to_vec(),
            block_commitment: commitment.to_vec(),
            amount: amount.to_be_bytes::<32>().to_vec(),
        }),
        tasks::TaskKind::Prove {
            slot,
            block_number,
            chunk,
            chunks,
        } => pb::task::Kind::Prove(pb::ProveTask {
            slot: *slot,
            block_number: *block_number,
            chunk: *chunk,
            chunks: *chunks,
        }),
        tasks::TaskKind::Fallback {
            slot,
            block_number,
            chunk,
            chunks,
            round,
            commit_end,
            committed,
        } => pb::task::Kind::Fallback(pb::FallbackTask {
            slot: *slot,
            block_number: *block_number,
            round: *round,
            commit_end: *commit_end,
            committed: *committed,
            chunk: *chunk,
            chunks: *chunks,
        }),
        tasks::TaskKind::Aggregate { epoch, blocks } => {
            pb::task::Kind::Aggregate(pb::AggregateTask {
                epoch: *epoch,
                blocks: *blocks,
            })
        }
        tasks::TaskKind::Heartbeat { last } => pb::task::Kind::Heartbeat(pb::HeartbeatTask {
            last_heartbeat: *last,
        }),
    };
    pb::Task {
        task_id: t.id.clone(),
        deadline_height: t.deadline_height,
        height,
        kind: Some(kind),
    }
}

fn cancel(id: String, reason: &str, height: u64) -> pb::Task {
    pb::Task {
        task_id: id.clone(),
        deadline_height: height,
        height,
        kind: Some(pb::task::Kind::Cancel(pb::Cancel {
            task_id: id,
            reason: reason.into(),
        })),
    }
}

impl Service {
    /// The service over `app`, broadcasting with `broadcaster`, ending its streams when
    /// `shutdown` turns true (or its sender is dropped).
    pub fn new(
        app: App,
        broadcaster: Arc<dyn Broadcast>,
        shutdown: watch::Receiver<bool>,
        settings: Settings,
    ) -> Self {
        Self {
            app,
            broadcaster,
            challenges: Arc::new(auth::Challenges::new(
                settings.challenge_ttl,
                settings.max_challenges,
            )),
            sessions: Arc::default(),
            claims: Arc::default(),
            shutdown,
            settings,
            witnesses: Arc::default(),
        }
    }

    /// Starts the witness service now if the chain proves (a node that serves provers keeps
    /// its proof tree current from start-up).
    pub fn start_witnesses(&self) {
        if let Some(params) = self.app.params()
            && let Some(proving) = params.protocol.proving
        {
            self.witnesses.get_or_init(|| {
                Arc::new(crate::witness::WitnessService::start(
                    self.app.store().clone(),
                    params.chain_id,
                    proving,
                    self.app.subscribe(),
                ))
            });
        }
    }

    fn params(&self) -> Result<Params, Status> {
        self.app
            .params()
            .ok_or_else(|| Status::unavailable("chain not initialised yet"))
    }

    fn reader(&self) -> Result<Reader, Status> {
        self.app.store().reader().map_err(internal)
    }

    /// The tasks of `prover` at the last committed height.
    fn due(&self, prover: Address) -> Result<(u64, Vec<tasks::Task>), Status> {
        let params = self.params()?;
        let reader = self.reader()?;
        let height = reader.last_commit().map_err(internal)?.0;
        let mut o = Overlay::new(&reader);
        let t = tasks::tasks(&mut o, &params.protocol, height, prover).map_err(internal)?;
        Ok((height, t))
    }

    fn no_aggregation(&self, session: &str) -> bool {
        self.sessions
            .lock()
            .expect("sessions lock")
            .get(session)
            .is_some_and(|s| s.no_aggregation)
    }

    fn capacity(&self, session: &str) -> u32 {
        self.sessions
            .lock()
            .expect("sessions lock")
            .get(session)
            .map(|s| s.capacity)
            .unwrap_or(0)
    }

    /// The due tasks `session` of `prover` should hold. Proving tasks (`Prove`, `Fallback`)
    /// take seconds of CPU each, so each chunk's go to one of the prover's open streams: the
    /// one that already holds one of them, else the stream holding the fewest chunks (ties:
    /// whichever asks first); a slot's chunks thus spread over the streams. Other streams leave it out; when its stream closes it goes to another
    /// one at the next height. A stream open for less than [`Settings::share_after`] takes
    /// only the tasks it holds or declared running when it subscribed. `Select` and
    /// `Heartbeat` go to every stream (cheap, and the chain takes one of each). An epoch's
    /// `Aggregate` is shared like a slot's proving tasks (claim `epoch/<epoch>`).
    fn share(
        &self,
        prover: Address,
        session: &str,
        held: &BTreeMap<String, u64>,
        due: Vec<tasks::Task>,
    ) -> Vec<tasks::Task> {
        let mut claims = self.claims.lock().expect("claims lock");
        // The prover's open streams, and whether each is still too new to share.
        let live: Vec<(String, bool)> = {
            let t = now();
            self.sessions
                .lock()
                .expect("sessions lock")
                .iter()
                .filter(|(_, s)| s.prover == prover)
                .map(|(id, s)| {
                    let young = s.opened.is_some_and(|o| {
                        t.saturating_duration_since(o) < self.settings.share_after
                    });
                    (id.clone(), young)
                })
                .collect()
        };
        let young = live.iter().any(|(id, y)| *y && id == session);
        let load = |claims: &BTreeMap<(Address, String), String>, who: &str| {
            claims
                .iter()
                .filter(|((p, _), holder)| *p == prover && holder.as_str() == who)
                .count()
        };
        due.into_iter()
            .filter(|t| {
                let Some(claim) = slot_claim(&t.id) else {
                    return true;
                };
                let key = (prover, claim);
                match claims.get(&key) {
                    Some(holder) if holder == session => return true,
                    Some(holder) if live.iter().any(|(id, _)| id == holder) => return false,
                    _ => {}
                }
                if held.contains_key(&t.id) {
                    // Held before another stream of the prover opened: keep it.
                    claims.insert(key, session.to_string());
                    return true;
                }
                if young {
                    return false;
                }
                let mine = load(&claims, session);
                // Streams too new to share do not count: they take nothing yet.
                if live
                    .iter()
                    .filter(|(other, young)| !young && other.as_str() != session)
                    .any(|(other, _)| load(&claims, other) < mine)
                {
                    return false;
                }
                claims.insert(key, session.to_string());
                true
            })
            .collect()
    }

    /// Forgets `session`'s claims on slots it holds no task of any more (done, cancelled, or
    /// not delivered for lack of capacity), so they count against nobody.
    fn release(&self, prover: Address, session: &str, held: &BTreeMap<String, u64>) {
        let kept: std::collections::BTreeSet<String> =
            held.keys().filter_map(|id| slot_claim(id)).collect();
        self.claims
            .lock()
            .expect("claims lock")
            .retain(|(p, claim), holder| {
                *p != prover || holder.as_str() != session || kept.contains(claim)
            });
    }

    /// Feeds one stream: the due tasks now, then on every commit the new ones and the
    /// cancellations, until the client leaves, stalls, or the node shuts down. A stream whose
    /// worker takes no aggregation never gets an `Aggregate` task.
    async fn feed(
        self,
        session: String,
        prover: Address,
        mut events: broadcast::Receiver<Event>,
        tx: mpsc::Sender<Result<pb::Task, Status>>,
    ) {
        let mut shutdown = self.shutdown.clone();
        let mut held = BTreeMap::new();
        loop {
            let (height, mut due) = match self.due(prover) {
                Ok(d) => d,
                Err(s) => {
                    let _ = tx.send(Err(s)).await;
                    break;
                }
            };
            if self.no_aggregation(&session) {
                due.retain(|t| !matches!(t.kind, tasks::TaskKind::Aggregate { .. }));
            }
            let all: std::collections::BTreeSet<String> =
                due.iter().map(|t| t.id.clone()).collect();
            let due = self.share(prover, &session, &held, due);
            let mut d = tasks::delta(&mut held, due, height, self.capacity(&session));
            // Still due, but no longer this stream's: another worker holds it.
            for (id, why) in &mut d.cancel {
                if all.contains(id) {
                    *why = tasks::CANCEL_MOVED;
                }
            }
            self.release(prover, &session, &held);
            let out = d
                .cancel
                .into_iter()
                .map(|(id, why)| cancel(id, why, height))
                .chain(d.send.iter().map(|t| to_proto(t, height)));
            let mut gone = false;
            for t in out {
                tracing::debug!(target: "parley::prover_service", %prover, task = %t.task_id, height, "task");
                match tokio::time::timeout(self.settings.stall_timeout, tx.send(Ok(t))).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => gone = true,
                    Err(_) => {
                        tracing::warn!(target: "parley::prover_service", %prover, %session, "task stream stalled; closing it");
                        gone = true;
                    }
                }
                if gone {
                    break;
                }
            }
            if gone {
                break;
            }
            // Wait for the next commit.
            let next = loop {
                tokio::select! {
                    r = shutdown.changed() => {
                        if r.is_err() || *shutdown.borrow() { break false; }
                    }
                    () = tx.closed() => break false,
                    ev = events.recv() => match ev {
                        Ok(Event::Block(_)) | Err(broadcast::error::RecvError::Lagged(_)) => break true,
                        Ok(_) => {}
                        Err(broadcast::error::RecvError::Closed) => break false,
                    },
                }
            };
            if !next {
                break;
            }
        }
        {
            let mut sessions = self.sessions.lock().expect("sessions lock");
            sessions.remove(&session);
            session_metrics(&sessions);
        }
        // Its proving tasks go to the prover's other streams at their next height.
        self.claims
            .lock()
            .expect("claims lock")
            .retain(|_, holder| *holder != session);
        tracing::info!(target: "parley::prover_service", %prover, %session, "task stream closed");
    }
}

type TaskStream = Pin<Box<dyn Stream<Item = Result<pb::Task, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl ProverService for Service {
    async fn challenge(
        &self,
        req: Request<pb::ChallengeRequest>,
    ) -> Result<Response<pb::ChallengeResponse>, Status> {
        let prover = address(&req.get_ref().prover, "prover")?;
        let params = self.params()?;
        let height = self.reader()?.last_commit().map_err(internal)?.0;
        let challenge = random::<{ auth::CHALLENGE_BYTES }>()?;
        self.challenges
            .issue(prover, challenge, now())
            .map_err(|e| Status::resource_exhausted(e.to_string()))?;
        let (block_capacity, block_vk_hash, proof_index_bits) = match &params.protocol.proving {
            Some(p) => (
                p.block_capacity,
                p.block_vk_hash.to_vec(),
                p.proof_index_bits,
            ),
            None => (0, Vec::new(), 0),
        };
        Ok(Response::new(pb::ChallengeResponse {
            challenge: challenge.to_vec(),
            expires_at_unix_ms: unix_ms_after(self.challenges.ttl()),
            chain_id: params.chain_id,
            height,
            block_capacity,
            block_vk_hash,
            proof_index_bits,
        }))
    }

    type SubscribeStream = TaskStream;

    async fn subscribe(
        &self,
        req: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let r = req.into_inner();
        let prover = address(&r.prover, "prover")?;
        let params = self.params()?;
        if let Err(e) =
            self.challenges
                .authenticate(params.chain_id, prover, &r.challenge, &r.signature, now())
        {
            tracing::info!(target: "parley::prover_service", %prover, error = %e, "authentication refused");
            return Err(Status::unauthenticated(e.to_string()));
        }
        {
            let reader = self.reader()?;
            let mut o = Overlay::new(&reader);
            if Ledger::new(&mut o)
                .prover(prover)
                .map_err(internal)?
                .is_none()
            {
                return Err(Status::permission_denied(format!(
                    "{prover} is not a registered prover"
                )));
            }
        }
        let session = hex::encode(random::<16>()?);
        // What the worker still runs from an earlier stream stays its own: its claims move
        // here, also from another stream that was given them meanwhile (that one is told at
        // its next height that the task is no longer its).
        let running: Vec<String> = r
            .running
            .into_iter()
            .filter(|id| id.len() <= 128)
            .take(1024)
            .collect();
        {
            let mut s = self.sessions.lock().expect("sessions lock");
            if s.len() >= self.settings.max_sessions {
                return Err(Status::resource_exhausted("too many task streams"));
            }
            s.insert(
                session.clone(),
                Session {
                    prover,
                    capacity: r.capacity,
                    in_progress: running.clone(),
                    opened: Some(now()),
                    no_aggregation: r.no_aggregation,
                    ..Session::default()
                },
            );
            session_metrics(&s);
        }
        {
            let mut claims = self.claims.lock().expect("claims lock");
            for claim in running.iter().filter_map(|id| slot_claim(id)) {
                claims.insert((prover, claim), session.clone());
            }
        }
        // Subscribe before the first computation so that no commit falls between.
        let events = self.app.subscribe();
        let (tx, rx) = mpsc::channel(self.settings.stream_buffer.max(1));
        tokio::spawn(self.clone().feed(session.clone(), prover, events, tx));
        tracing::info!(target: "parley::prover_service", %prover, %session, capacity = r.capacity, "worker subscribed");
        let mut resp = Response::new(
            Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)) as Self::SubscribeStream
        );
        resp.metadata_mut().insert(
            SESSION_HEADER,
            session
                .parse()
                .map_err(|_| Status::internal("session id is not ASCII"))?,
        );
        Ok(resp)
    }

    async fn submit(
        &self,
        req: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        let raw = req.into_inner().message;
        if !msg::is_signed_message(&raw) {
            return Err(Status::invalid_argument(
                "not a signed protocol message (PRLY v1 kind 2)",
            ));
        }
        let hash = keccak256(&raw);
        let refused = |code: u32, log: String| {
            Ok(Response::new(pb::SubmitResponse {
                tx_hash: hash.to_vec(),
                code,
                log,
            }))
        };
        match self.app.check_message(&raw, false) {
            Err(e) => return Err(internal(e)),
            Ok(Err(r)) => return refused(r.code, r.log),
            Ok(Ok(_)) => {}
        }
        match self.broadcaster.broadcast(raw).await {
            Ok(()) => refused(0, String::new()),
            Err(BroadcastError::AlreadyKnown) => refused(0, "already known".into()),
            Err(BroadcastError::Refused { code, log }) => refused(code, log),
            Err(BroadcastError::Failed(e)) => Err(Status::unavailable(e)),
        }
    }

    async fn report(
        &self,
        req: Request<pb::ReportRequest>,
    ) -> Result<Response<pb::ReportResponse>, Status> {
        let r = req.into_inner();
        let mut sessions = self.sessions.lock().expect("sessions lock");
        let s = sessions
            .get_mut(&r.session)
            .ok_or_else(|| Status::not_found("no such session (the stream closed)"))?;
        s.capacity = r.capacity;
        s.in_progress = r.in_progress.into_iter().take(1024).collect();
        s.done = r.done.into_iter().take(1024).collect();
        tracing::debug!(target: "parley::prover_service", prover = %s.prover, session = %r.session,
            capacity = s.capacity, in_progress = s.in_progress.len(), done = s.done.len(), "report");
        session_metrics(&sessions);
        Ok(Response::new(pb::ReportResponse {}))
    }

    async fn get_slot(
        &self,
        req: Request<pb::GetSlotRequest>,
    ) -> Result<Response<pb::GetSlotResponse>, Status> {
        let s = req.get_ref().slot;
        let params = self.params()?;
        let reader = self.reader()?;
        let height = reader.last_commit().map_err(internal)?.0;
        let mut o = Overlay::new(&reader);
        let entry = auction::slot(&mut o, s).map_err(internal)?;
        let assigned = crate::chain::assignment::assigned(&mut o, s)
            .map_err(internal)?
            .unwrap_or_default();
        let window = auction::select_heights(&params.protocol, s);
        let highest = entry.as_ref().and_then(|e| e.highest().copied());
        Ok(Response::new(pb::GetSlotResponse {
            height,
            selected: entry.as_ref().is_some_and(|e| e.selected.is_some()),
            highest: highest.map(|b| pb::Bid {
                sequencer: b.sequencer.to_vec(),
                block_commitment: b.commitment.to_vec(),
                amount: b.amount.to_be_bytes::<32>().to_vec(),
            }),
            bids: entry
                .as_ref()
                .map(|e| u32::try_from(e.bids.len()).unwrap_or(u32::MAX))
                .unwrap_or(0),
            assigned: assigned.provers.iter().map(|(p, _)| p.to_vec()).collect(),
            select_first_height: *window.start(),
            select_last_height: *window.end(),
        }))
    }

    async fn get_witness(
        &self,
        req: Request<pb::GetWitnessRequest>,
    ) -> Result<Response<pb::GetWitnessResponse>, Status> {
        let (slot, chunk) = (req.get_ref().slot, req.get_ref().chunk);
        let params = self.params()?;
        let Some(proving) = params.protocol.proving.clone() else {
            return Err(Status::failed_precondition(
                "this chain takes no block proofs",
            ));
        };
        let service = self.witnesses.get_or_init(|| {
            Arc::new(crate::witness::WitnessService::start(
                self.app.store().clone(),
                params.chain_id,
                proving.clone(),
                self.app.subscribe(),
            ))
        });
        if let Some(why) = service.failed() {
            return Err(Status::internal(format!("witness service stopped: {why}")));
        }
        let height = self.reader()?.last_commit().map_err(internal)?.0;
        match service.witness(slot, chunk) {
            Some(witness) => Ok(Response::new(pb::GetWitnessResponse {
                height,
                witness,
                capacity: proving.block_capacity,
                vk_hash: proving.block_vk_hash.to_vec(),
                proof_index_bits: proving.proof_index_bits,
            })),
            None => Err(Status::unavailable(format!(
                "no witness for chunk {chunk} of slot {slot}: not awaiting a proof, no such chunk, or the witness service is at block {:?}",
                service.progress().applied_through
            ))),
        }
    }

    async fn get_proof_slot(
        &self,
        req: Request<pb::GetProofSlotRequest>,
    ) -> Result<Response<pb::GetProofSlotResponse>, Status> {
        let (slot, chunk) = (req.get_ref().slot, req.get_ref().chunk);
        let reader = self.reader()?;
        let height = reader.last_commit().map_err(internal)?.0;
        let entry = crate::chain::proving::proof_slot(&mut Overlay::new(&reader), slot)
            .map_err(internal)?;
        Ok(Response::new(match entry {
            None => pb::GetProofSlotResponse {
                height,
                ..Default::default()
            },
            Some(e) => pb::GetProofSlotResponse {
                height,
                needs_proof: true,
                proven: e.proven,
                window_end: e.window_end,
                transitions: e
                    .transitions
                    .iter()
                    .filter(|t| t.chunk == chunk)
                    .map(|t| t.prover.to_vec())
                    .collect(),
                round: if e.round_end == 0 { 0 } else { e.round },
                round_end: e.round_end,
                committed: e
                    .commits
                    .iter()
                    .filter(|c| c.chunk == chunk)
                    .map(|c| c.prover.to_vec())
                    .collect(),
                revealed: e
                    .commits
                    .iter()
                    .filter(|c| c.chunk == chunk && c.revealed)
                    .map(|c| c.prover.to_vec())
                    .collect(),
                chunks: e.chunks,
            },
        }))
    }

    async fn get_epoch(
        &self,
        req: Request<pb::GetEpochRequest>,
    ) -> Result<Response<pb::GetEpochResponse>, Status> {
        let e = req.get_ref().epoch;
        let params = self.params()?;
        let Some(proving) = params.protocol.proving.as_ref() else {
            return Err(Status::failed_precondition(
                "this chain takes no block proofs",
            ));
        };
        if proving.aggregation.is_none() {
            return Err(Status::failed_precondition(
                "this chain does not aggregate epochs",
            ));
        }
        let store = self.app.store().clone();
        let verifier = self.app.verifier().cloned();
        // Reading proofs and hashing diffs is blocking work.
        tokio::task::spawn_blocking(move || {
            let reader = store.reader().map_err(internal)?;
            let height = reader.last_commit().map_err(internal)?.0;
            let record = crate::chain::aggregation::epoch(&mut Overlay::new(&reader), e)
                .map_err(internal)?;
            let proving = params.protocol.proving.as_ref().expect("checked above");
            let agg = proving.aggregation.as_ref().expect("checked above");
            let mut r = pb::GetEpochResponse {
                height,
                state: "unknown".into(),
                capacity: agg.agg_capacity,
                agg_k: agg.agg_k,
                agg_vk_hash: agg.agg_vk_hash.to_vec(),
                block_capacity: proving.block_capacity,
                block_vk_hash: proving.block_vk_hash.to_vec(),
                l1_k: agg.l1_proof.map_or(0, |l| l.k),
                l1_vk_hash: agg.l1_proof.map(|l| l.vk_hash.to_vec()).unwrap_or_default(),
                leaf_capacity: agg.tree.map_or(0, |t| t.leaf_capacity),
                leaf_k: agg.tree.map_or(0, |t| t.leaf_k),
                middle_leaves: agg.tree.and_then(|t| t.middle).map_or(0, |m| m.leaves),
                middle_k: agg.tree.and_then(|t| t.middle).map_or(0, |m| m.k),
                proof_index_bits: proving.proof_index_bits,
                ..Default::default()
            };
            let Some(v) = record else {
                return Ok(r);
            };
            r.l1_proof = crate::chain::aggregation::l1_proof(&mut Overlay::new(&reader), e)
                .map_err(internal)?
                .is_some();
            r.state = v.state.name().into();
            r.aggregator = v.aggregator.map(|(a, _)| a.to_vec()).unwrap_or_default();
            r.window_end = v.window_end;
            if v.state == parley_types::EpochState::Aggregated {
                r.aggregated_by = v.aggregated_by.to_vec();
                r.commitment = v.commitment.to_vec();
            }
            for b in &v.blocks {
                let proof = reader.proof(b.slot, b.chunk, b.prover).map_err(internal)?;
                // The verifier's cache holds it when the block was proven recently.
                let hashes = match &verifier {
                    Some(v) => v.diff_hashes(b.block_number),
                    None => crate::verifier::diff_hash_of(
                        &store,
                        b.block_number,
                        proving.block_capacity,
                    ),
                }
                .map_err(internal)?;
                let diff_hash = hashes.get(b.chunk as usize).copied().ok_or_else(|| {
                    internal(format!("slot {}: no chunk {} in its diff", b.slot, b.chunk))
                })?;
                r.blocks.push(pb::EpochBlock {
                    slot: b.slot,
                    chunk: b.chunk,
                    chunks: b.chunks,
                    block_number: b.block_number,
                    block_commitment: b.commitment.to_vec(),
                    pre_root: b.pre_root.to_vec(),
                    post_root: b.post_root.to_vec(),
                    diff_hash: diff_hash.to_vec(),
                    prover: b.prover.to_vec(),
                    proof: proof.unwrap_or_default(),
                });
            }
            Ok(r)
        })
        .await
        .map_err(internal)?
        .map(Response::new)
    }

    async fn get_account(
        &self,
        req: Request<pb::GetAccountRequest>,
    ) -> Result<Response<pb::GetAccountResponse>, Status> {
        let a = address(&req.get_ref().address, "address")?;
        let params = self.params()?;
        let reader = self.reader()?;
        let height = reader.last_commit().map_err(internal)?.0;
        let mut o = Overlay::new(&reader);
        let mut l = Ledger::new(&mut o);
        let acc = l.account(a).map_err(internal)?;
        let prover = l.prover(a).map_err(internal)?.is_some();
        Ok(Response::new(pb::GetAccountResponse {
            height,
            nonce: acc.nonce,
            balance: acc.balance.to_be_bytes::<32>().to_vec(),
            prover,
            chain_id: params.chain_id,
        }))
    }
}

/// Serves `service` on `listener` until `shutdown` turns true; the open task streams end
/// cleanly first (they watch the same signal).
pub async fn serve(
    service: Service,
    listener: tokio::net::TcpListener,
) -> Result<(), tonic::transport::Error> {
    let mut shutdown = service.shutdown.clone();
    let timeout = service.settings.call_timeout;
    tonic::transport::Server::builder()
        .timeout(timeout)
        .http2_keepalive_interval(Some(Duration::from_secs(20)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .add_service(ProverServiceServer::new(service))
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            async move {
                while !*shutdown.borrow() {
                    if shutdown.changed().await.is_err() {
                        break;
                    }
                }
            },
        )
        .await
}

/// Binds `addr` and serves the ProverService over `app`, broadcasting through the CometBFT RPC
/// at `cometbft_url`, until `shutdown`. Returns the bound address and the server task.
pub async fn spawn(
    app: App,
    addr: SocketAddr,
    cometbft_url: &str,
    shutdown: watch::Receiver<bool>,
) -> eyre::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let cometbft = crate::rpc::cometbft_client(cometbft_url)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| eyre::eyre!("prover_grpc_addr {addr}: {e}"))?;
    let local = listener.local_addr()?;
    let service = Service::new(
        app,
        Arc::new(CometBft(cometbft)),
        shutdown,
        Settings::default(),
    );
    service.start_witnesses();
    let handle = tokio::spawn(async move {
        if let Err(e) = serve(service, listener).await {
            tracing::error!(target: "parley::prover_service", error = %e, "ProverService stopped");
        }
    });
    Ok((local, handle))
}

#[cfg(test)]
mod tests {
    use super::slot_claim;

    #[test]
    fn a_slots_proving_tasks_share_one_claim() {
        assert_eq!(slot_claim("prove/12/0").as_deref(), Some("slot/12/0"));
        assert_eq!(slot_claim("fallback/12/0/3").as_deref(), Some("slot/12/0"));
        assert_eq!(slot_claim("fallback/13/0/1").as_deref(), Some("slot/13/0"));
        assert_eq!(slot_claim("prove/12/1").as_deref(), Some("slot/12/1"));
        assert_eq!(slot_claim("fallback/12/1/2").as_deref(), Some("slot/12/1"));
        assert_eq!(slot_claim("select/12"), None);
        assert_eq!(slot_claim("heartbeat/12"), None);
        assert_eq!(slot_claim("prove"), None);
    }
}
