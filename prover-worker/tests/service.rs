//! The ProverService end to end, in process: a real tonic server on a port-0 TCP listener over
//! the harness's `App` (driven through heights without CometBFT), a real tonic client and the
//! worker library. Authentication is refused for a wrong key, a reused challenge and an
//! unregistered prover; the assigned prover receives the `SelectTask` of a slot with bids when
//! its select window opens; the worker reconciles, signs and submits the `Select`, which the
//! chain accepts; the task is then cancelled, and the stream ends cleanly on shutdown.

#[path = "../../app/tests/common/mod.rs"]
mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy_primitives::{Address, B256, Bytes, U256};
use common::{CHAIN_ID, Net};
use futures::future::BoxFuture;
use parley_app::chain::auction;
use parley_app::chain::genesis::{AppGenesis, GenesisBond, GenesisLedger, Params};
use parley_app::chain::msg::{self, Action};
use parley_app::chain::overlay::Overlay;
use parley_app::prover_service::{self, Broadcast, Service, Settings, auth};
use parley_app::rpc::BroadcastError;
use parley_proto::prover::v1 as pb;
use parley_types::Selection;
use pb::prover_service_client::ProverServiceClient;

const ETH: u128 = 1_000_000_000_000_000_000;
const SLOT: u64 = 20;

/// Collects what the service would hand to CometBFT.
#[derive(Default)]
struct Collect(Mutex<Vec<Vec<u8>>>);

/// The [`Broadcast`] handle of a [`Collect`].
struct Sink(Arc<Collect>);

impl Broadcast for Sink {
    fn broadcast(&self, raw: Vec<u8>) -> BoxFuture<'static, Result<(), BroadcastError>> {
        self.0.0.lock().expect("lock").push(raw);
        Box::pin(async { Ok(()) })
    }
}

fn net() -> Net {
    net_with(Params {
        chain_id: CHAIN_ID,
        ..Params::default()
    })
}

fn net_with(params: Params) -> Net {
    net_of(params, &[1])
}

/// `provers`: key indices registered as provers with 1 ETH each (and 10 ETH in the ledger).
fn net_of(params: Params, provers: &[usize]) -> Net {
    let keys = parley_app::dev_accounts(5).expect("dev keys");
    let mut g = AppGenesis::funded(
        params,
        keys.iter().map(|k| k.address()),
        U256::from(1_000 * ETH),
    );
    // Key 0 bids as a sequencer, key 1 is the only prover (so it is drawn for every slot).
    g.sequencers = vec![GenesisBond {
        address: keys[0].address(),
        amount: U256::from(ETH),
    }];
    // Both pay message fees from their ledger balance.
    g.ledger = std::iter::once(0)
        .chain(provers.iter().copied())
        .map(|i| GenesisLedger {
            address: keys[i].address(),
            balance: U256::from(10 * ETH),
        })
        .collect();
    g.provers = provers
        .iter()
        .map(|i| GenesisBond {
            address: keys[*i].address(),
            amount: U256::from(ETH),
        })
        .collect();
    let app_state = serde_json::to_vec(&g).expect("json");
    Net::with_genesis(1, keys, &app_state)
}

async fn connect(url: &str) -> ProverServiceClient<tonic::transport::Channel> {
    let ch = tonic::transport::Endpoint::from_shared(url.to_string())
        .expect("url")
        .connect()
        .await
        .expect("connects");
    ProverServiceClient::new(ch)
}

async fn next(stream: &mut tonic::Streaming<pb::Task>) -> Option<pb::Task> {
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("a task within 10 s")
        .expect("stream ok")
}

async fn challenge(
    c: &mut ProverServiceClient<tonic::transport::Channel>,
    who: Address,
) -> Vec<u8> {
    c.challenge(pb::ChallengeRequest {
        prover: who.to_vec(),
    })
    .await
    .expect("challenge")
    .into_inner()
    .challenge
}

/// A ProverService over node 0's app on a port-0 listener: its URL, what it broadcast, the
/// stop signal and the server task.
/// The node's ProverService on a local port, with the default settings except that a new
/// stream shares proving tasks at once (see [`serve_with`]).
async fn serve(
    net: &Net,
) -> (
    String,
    Arc<Collect>,
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
) {
    serve_with(
        net,
        Settings {
            share_after: Duration::ZERO,
            ..Settings::default()
        },
    )
    .await
}

async fn serve_with(
    net: &Net,
    settings: Settings,
) -> (
    String,
    Arc<Collect>,
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
) {
    let sent = Arc::new(Collect::default());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let service = Service::new(
        net.nodes[0].app.clone(),
        Arc::new(Sink(sent.clone())),
        stopped,
        settings,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let server = tokio::spawn(prover_service::serve(service, listener));
    (url, sent, stop, server)
}

type Outcomes =
    tokio::sync::mpsc::UnboundedReceiver<(String, Result<parley_prover::Outcome, String>)>;

/// A real worker session for `key` against `url` (it authenticates on its own); each task's
/// outcome arrives on the receiver.
fn spawn_worker(
    url: &str,
    key: &alloy_signer_local::PrivateKeySigner,
) -> (tokio::task::JoinHandle<eyre::Result<()>>, Outcomes) {
    spawn_worker_with(url, key, parley_prover::Proving::new(1))
}

/// [`spawn_worker`] with the test's own handle on the worker's [`parley_prover::Proving`].
fn spawn_worker_with(
    url: &str,
    key: &alloy_signer_local::PrivateKeySigner,
    proving: parley_prover::Proving,
) -> (tokio::task::JoinHandle<eyre::Result<()>>, Outcomes) {
    let cfg = parley_prover::Config::new(url.to_string(), CHAIN_ID, key.clone());
    let (outcomes_tx, outcomes) = tokio::sync::mpsc::unbounded_channel();
    let worker = tokio::spawn(async move {
        let node = parley_prover::Node::dial(&cfg.node, cfg.call_timeout).expect("dials");
        let mut held = parley_prover::Held::default();
        let mut report = move |id: &str, o: &eyre::Result<parley_prover::Outcome>| {
            let _ = outcomes_tx.send((
                id.to_string(),
                o.as_ref().map_err(|e| e.to_string()).cloned(),
            ));
        };
        parley_prover::session(
            &cfg,
            &node,
            &mut held,
            &proving,
            &mut parley_prover::Jobs::default(),
            &mut report,
        )
        .await
    });
    (worker, outcomes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assigned_prover_gets_its_select_task_and_the_worker_selects() {
    let mut net = net();
    let seq = net.keys[0].clone();
    let prover = net.keys[1].clone();
    let stranger = net.keys[2].clone();

    // The server, over node 0's app, on a port-0 listener.
    let (url, sent, stop, server) = serve(&net).await;
    let mut c = connect(&url).await;

    // Authentication: a wrong key, a reused challenge, an unregistered prover are refused.
    let ch = challenge(&mut c, prover.address()).await;
    let wrong = c
        .subscribe(pb::SubscribeRequest {
            prover: prover.address().to_vec(),
            signature: auth::sign(&stranger, CHAIN_ID, &ch).to_vec(),
            challenge: ch.clone(),
            capacity: 0,
            running: vec![],
            no_aggregation: false,
        })
        .await
        .expect_err("wrong key");
    assert_eq!(wrong.code(), tonic::Code::Unauthenticated);
    let reused = c
        .subscribe(pb::SubscribeRequest {
            prover: prover.address().to_vec(),
            signature: auth::sign(&prover, CHAIN_ID, &ch).to_vec(),
            challenge: ch,
            capacity: 0,
            running: vec![],
            no_aggregation: false,
        })
        .await
        .expect_err("reused challenge");
    assert_eq!(reused.code(), tonic::Code::Unauthenticated);
    let ch = challenge(&mut c, stranger.address()).await;
    let unregistered = c
        .subscribe(pb::SubscribeRequest {
            prover: stranger.address().to_vec(),
            signature: auth::sign(&stranger, CHAIN_ID, &ch).to_vec(),
            challenge: ch,
            capacity: 0,
            running: vec![],
            no_aggregation: false,
        })
        .await
        .expect_err("not a prover");
    assert_eq!(unregistered.code(), tonic::Code::PermissionDenied);
    // Submit refuses anything that is not a signed protocol message.
    let junk = c
        .submit(pb::SubmitRequest {
            message: vec![0x02, 0x01],
        })
        .await
        .expect_err("not a message");
    assert_eq!(junk.code(), tonic::Code::InvalidArgument);

    // The prover subscribes before there is anything to do.
    let ch = challenge(&mut c, prover.address()).await;
    let resp = c
        .subscribe(pb::SubscribeRequest {
            prover: prover.address().to_vec(),
            signature: auth::sign(&prover, CHAIN_ID, &ch).to_vec(),
            challenge: ch,
            capacity: 4,
            running: vec![],
            no_aggregation: false,
        })
        .await
        .expect("authenticated");
    assert!(
        resp.metadata()
            .get(prover_service::SESSION_HEADER)
            .is_some()
    );
    let mut stream = resp.into_inner();

    // Bids for SLOT are taken at heights SLOT-16 ..= SLOT-8; two bids, the second higher.
    let q = net.nodes[0].app.params().expect("params").protocol;
    let bids = auction::bid_heights(&q, SLOT);
    while net.height + 1 < *bids.start() {
        net.step();
    }
    let commitment = B256::repeat_byte(0xc0);
    for (nonce, amount) in [(0u64, 2 * ETH / 1000), (1, 3 * ETH / 1000)] {
        let raw = msg::sign(
            &seq,
            CHAIN_ID,
            nonce,
            &Action::Bid {
                slot: SLOT,
                commitment,
                amount: U256::from(amount),
            },
        );
        net.submit(Bytes::from(raw)).expect("bid admitted");
        net.step();
        assert!(
            net.last_results.iter().all(|(code, _)| *code == 0),
            "{:?}",
            net.last_results
        );
    }

    // Run a real worker alongside (it authenticates on its own and acts on the task).
    let (worker, mut outcomes) = spawn_worker(&url, &prover);

    // Up to the close: no task yet. At the commit of the close height the window opens.
    let close = *bids.end();
    while net.height < close {
        net.step();
    }
    let task = next(&mut stream).await.expect("a task");
    assert_eq!(task.task_id, format!("select/{SLOT}"));
    assert_eq!(task.height, close);
    let window = auction::select_heights(&q, SLOT);
    assert_eq!(task.deadline_height, *window.end());
    let Some(pb::task::Kind::Select(t)) = task.kind else {
        panic!("expected a SelectTask, got {task:?}");
    };
    assert_eq!(t.slot, SLOT);
    assert_eq!(t.sequencer, seq.address().to_vec());
    assert_eq!(t.block_commitment, commitment.to_vec());
    assert_eq!(U256::from_be_slice(&t.amount), U256::from(3 * ETH / 1000));

    // The worker reconciled, signed and submitted the Select.
    let (id, outcome) = tokio::time::timeout(Duration::from_secs(10), outcomes.recv())
        .await
        .expect("the worker acts within 10 s")
        .expect("an outcome");
    assert_eq!(id, format!("select/{SLOT}"));
    let hash = match outcome {
        Ok(parley_prover::Outcome::Submitted(h)) => h,
        other => panic!("expected a submission, got {other:?}"),
    };
    let raws = std::mem::take(&mut *sent.0.lock().expect("lock"));
    assert_eq!(raws.len(), 1);
    let m = msg::decode(&raws[0], CHAIN_ID).expect("a valid signed message");
    assert_eq!(m.hash, hash);
    assert_eq!(m.sender, prover.address());

    // The chain takes it; the stream cancels the task (the slot is selected).
    net.submit(Bytes::from(raws[0].clone())).expect("admitted");
    net.step();
    assert!(
        net.last_results.iter().all(|(code, _)| *code == 0),
        "{:?}",
        net.last_results
    );
    let reader = net.reader();
    let mut o = Overlay::new(&reader);
    let entry = auction::slot(&mut o, SLOT).expect("reads").expect("slot");
    assert_eq!(entry.selected, Some(Selection::Prover(prover.address())));
    let cancel = next(&mut stream).await.expect("a cancellation");
    match cancel.kind {
        Some(pb::task::Kind::Cancel(c)) => assert_eq!(c.task_id, format!("select/{SLOT}")),
        other => panic!("expected a Cancel, got {other:?}"),
    }

    // Shutdown ends the streams cleanly (end of stream, not an error) and the server.
    stop.send(true).expect("signal");
    assert!(next(&mut stream).await.is_none(), "clean end of stream");
    let ended = tokio::time::timeout(Duration::from_secs(10), worker)
        .await
        .expect("the worker's session ends")
        .expect("no panic");
    assert!(ended.is_ok(), "{ended:?}");
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops")
        .expect("no panic")
        .expect("no error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_worker_gets_the_same_task_id_again() {
    let mut net = net();
    let seq = net.keys[0].clone();
    let prover = net.keys[1].clone();
    let (url, _sent, _stop, _server) = serve(&net).await;
    let mut c = connect(&url).await;

    let q = net.nodes[0].app.params().expect("params").protocol;
    while net.height + 1 < *auction::bid_heights(&q, SLOT).start() {
        net.step();
    }
    let bid = Action::Bid {
        slot: SLOT,
        commitment: B256::repeat_byte(1),
        amount: U256::from(ETH / 1000),
    };
    net.submit(Bytes::from(msg::sign(&seq, CHAIN_ID, 0, &bid)))
        .expect("bid");
    while net.height < *auction::bid_heights(&q, SLOT).end() {
        net.step();
    }
    let mut ids = Vec::new();
    for _ in 0..2 {
        let ch = challenge(&mut c, prover.address()).await;
        let mut s = c
            .subscribe(pb::SubscribeRequest {
                prover: prover.address().to_vec(),
                signature: auth::sign(&prover, CHAIN_ID, &ch).to_vec(),
                challenge: ch,
                capacity: 0,
                running: vec![],
                no_aggregation: false,
            })
            .await
            .expect("authenticated")
            .into_inner();
        ids.push(next(&mut s).await.expect("task").task_id);
    }
    assert_eq!(ids[0], ids[1]);
    // The reads a worker reconciles with.
    let slot = c
        .get_slot(pb::GetSlotRequest { slot: SLOT })
        .await
        .expect("slot")
        .into_inner();
    assert!(!slot.selected);
    assert_eq!(slot.assigned, vec![prover.address().to_vec()]);
    assert_eq!(slot.bids, 1);
    let acc = c
        .get_account(pb::GetAccountRequest {
            address: prover.address().to_vec(),
        })
        .await
        .expect("account")
        .into_inner();
    assert!(acc.prover);
    assert_eq!(acc.chain_id, CHAIN_ID);
    assert_eq!(acc.nonce, 0);
}

/// The worker keeps its prover active: once half of `heartbeat_grace` has passed, the stream
/// carries a `HeartbeatTask`; the worker signs and submits `Heartbeat`, the chain records it,
/// and the next duty carries the new height in its id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_keeps_its_prover_active_with_heartbeats() {
    let mut params = Params {
        chain_id: CHAIN_ID,
        ..Params::default()
    };
    params.protocol.heartbeat_grace = 20;
    let mut net = net_with(params);
    let prover = net.keys[1].clone();
    let (url, sent, _stop, _server) = serve(&net).await;
    let (_worker, mut outcomes) = spawn_worker(&url, &prover);
    let last = |net: &Net| {
        net.reader()
            .app_entry(&parley_types::StateKey::Prover(prover.address()))
            .expect("read")
            .map(|b| parley_types::ProverEntry::decode(&b).expect("decodes"))
            .expect("registered")
            .last_heartbeat
    };
    let genesis_beat = last(&net);
    // Give the worker time to subscribe before the due height's commit.
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Due after the commit of height last + 9 (a Heartbeat then lands at last + 10).
    while net.height + 2 < genesis_beat + 10 {
        net.step();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        sent.0.lock().expect("lock").is_empty(),
        "nothing due before half the grace"
    );
    net.step();
    let (id, outcome) = tokio::time::timeout(Duration::from_secs(10), outcomes.recv())
        .await
        .expect("the worker acts within 10 s")
        .expect("an outcome");
    assert_eq!(id, format!("heartbeat/{genesis_beat}"));
    assert!(
        matches!(outcome, Ok(parley_prover::Outcome::Submitted(_))),
        "{outcome:?}"
    );
    let raws = std::mem::take(&mut *sent.0.lock().expect("lock"));
    assert_eq!(raws.len(), 1);
    let m = msg::decode(&raws[0], CHAIN_ID).expect("a valid signed message");
    assert_eq!(m.action, Action::Heartbeat);
    assert_eq!(m.sender, prover.address());
    net.submit(Bytes::from(raws[0].clone())).expect("admitted");
    net.step();
    assert_eq!(last(&net), net.height, "the chain recorded the heartbeat");
}

/// The vk hash of the block circuit of `capacity` entries and the index bits a new chain
/// pins (ADR 0021; keygen on a blocking thread).
async fn vk_hash_of(capacity: usize) -> B256 {
    tokio::task::spawn_blocking(move || {
        parley_proofs::BlockVerifier::setup_for(capacity, parley_proofs::DEFAULT_INDEX_BITS)
            .expect("verifier")
            .vk_hash()
    })
    .await
    .expect("keygen")
}

/// Fallback parameters under which a drawn prover that missed its window (1 ETH staked, 0.1
/// ETH slashed as a no-show when the window ends) still has `min_fallback_stake` and may take
/// part in its own slot's fallback rounds.
fn own_fallback() -> parley_app::chain::genesis::FallbackParams {
    parley_app::chain::genesis::FallbackParams {
        min_fallback_stake: U256::from(ETH / 2),
        ..Default::default()
    }
}

/// Proving for a block circuit of `capacity` entries whose vk hashes to `vk_hash`.
/// A chain proving with a block circuit of `capacity` entries ([`proving_params`]).
fn proving_chain(
    capacity: usize,
    vk_hash: B256,
    proof_window: u64,
    fallback: parley_app::chain::genesis::FallbackParams,
) -> Params {
    Params {
        chain_id: CHAIN_ID,
        protocol: parley_app::chain::genesis::ProtocolParams {
            max_diff_entries: capacity as u64,
            proving: Some(proving_params(capacity, vk_hash, proof_window, fallback)),
            ..Default::default()
        },
        ..Params::default()
    }
}

fn proving_params(
    capacity: usize,
    vk_hash: B256,
    proof_window: u64,
    fallback: parley_app::chain::genesis::FallbackParams,
) -> parley_app::chain::genesis::ProvingParams {
    parley_app::chain::genesis::ProvingParams {
        block_capacity: capacity as u64,
        max_chunks: 1,
        block_vk_hash: vk_hash,
        proof_index_bits: parley_proofs::DEFAULT_INDEX_BITS,
        srs: parley_app::chain::genesis::SrsPin::Dev,
        proof_window,
        prover_fee_share_bps: 5_000,
        invalid_proof_fine: U256::from(ETH / 10),
        rep_up: 10_000,
        max_unproven_slots: 8,
        fallback,
        aggregation: None,
    }
}

/// The proving path end to end, in process: a slot whose diff needs a proof is streamed to
/// the assigned prover as a `ProveTask`; the worker fetches the witness from the node's
/// witness service over gRPC, binds it to its own address, proves it with real halo2 keys and
/// submits a signed `Proof`; the chain verifies it and the slot is proven.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_proves_its_slot_from_the_nodes_witness() {
    const CAPACITY: usize = 6;
    let vk_hash = vk_hash_of(CAPACITY).await;
    let mut net = net_with(proving_chain(CAPACITY, vk_hash, 40, Default::default()));
    let user = net.keys[3].clone();
    let prover = net.keys[1].clone();
    // Slot 10 (drawn at height 2: the only prover) carries a transfer.
    while net.height < 9 {
        net.step();
    }
    net.transfer(&user, 0, Address::repeat_byte(0x51), 5);
    net.step();
    let slot = 10;
    let (url, sent, stop, server) = serve(&net).await;
    let (worker, mut outcomes) = spawn_worker(&url, &prover);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Keygen and one proof at capacity 6 take seconds. The worker reports the task done only
    // once its transition is on chain, so the chain goes on meanwhile: every message the
    // service broadcast enters the next block. On a loaded machine the proof can take longer
    // than the window's 40 steps, so the chain holds two heights before the window's end
    // until the proof is in (a real chain sizes its window for proving time).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    let mut proofs = 0;
    let outcome = loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker proves within 180 s"
        );
        for raw in std::mem::take(&mut *sent.0.lock().expect("lock")) {
            if matches!(
                msg::decode(&raw, CHAIN_ID).map(|m| m.action),
                Ok(Action::Proof { slot: s, .. }) if s == slot
            ) {
                proofs += 1;
            }
            net.submit(Bytes::from(raw)).expect("admitted");
        }
        if proofs > 0 || net.height + 2 < slot + 40 {
            net.step();
        }
        if let Ok((id, outcome)) = outcomes.try_recv()
            && id == format!("prove/{slot}/0")
        {
            break outcome;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        matches!(outcome, Ok(parley_prover::Outcome::Submitted(_))),
        "{outcome:?}"
    );
    assert_eq!(proofs, 1, "one Proof, included at the first submission");
    let chain = net
        .reader()
        .app_entry(&parley_types::StateKey::ProofChain)
        .expect("read")
        .map(|b| parley_types::ProofChain::decode(&b).expect("decodes"))
        .expect("proving on");
    assert_eq!(chain.proven_slot, slot, "the worker's proof chained");
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    worker.abort();
}

/// The fallback path end to end, in process: the prover drawn for a slot sends nothing; when
/// its window ends, a worker of the other prover gets a `FallbackTask`, proves the slot from
/// the node's witness, commits `keccak256(proof ‖ address)` in the commit phase, waits for the
/// reveal phase and reveals; the slot is proven when the round closes, the worker's prover is
/// paid and the absent one slashed.
/// The proving task ids a stream delivers until it has been quiet for `quiet`.
async fn proving_tasks(stream: &mut tonic::Streaming<pb::Task>, quiet: Duration) -> Vec<String> {
    let mut ids = Vec::new();
    while let Ok(Ok(Some(t))) = tokio::time::timeout(quiet, stream.message()).await {
        if matches!(t.kind, Some(pb::task::Kind::Prove(_))) {
            ids.push(t.task_id);
        }
    }
    ids.sort();
    ids
}

/// A proving chain (window 60) at height 11 whose slots 10 and 11 each hold a transfer from
/// the returned user, awaiting proofs by the returned prover.
fn two_slots_to_prove(
    capacity: usize,
    vk_hash: B256,
) -> (
    Net,
    alloy_signer_local::PrivateKeySigner,
    alloy_signer_local::PrivateKeySigner,
) {
    let mut net = net_with(proving_chain(capacity, vk_hash, 60, Default::default()));
    let user = net.keys[3].clone();
    let prover = net.keys[1].clone();
    while net.height < 9 {
        net.step();
    }
    for nonce in 0..2 {
        net.transfer(&user, nonce, Address::repeat_byte(0x51), 5);
        net.step();
    }
    (net, user, prover)
}

/// A prover's workers share its proofs (DESIGN §5: many workers per prover key): with two
/// task streams open for one prover, each `prove/<slot>` task goes to exactly one of them —
/// a new one to the stream holding fewer — and when a stream closes, the tasks it held go to
/// the other stream at the next height.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provers_workers_share_its_proof_tasks() {
    const CAPACITY: usize = 6;
    let vk_hash = vk_hash_of(CAPACITY).await;
    let (mut net, user, prover) = two_slots_to_prove(CAPACITY, vk_hash);
    let (url, _sent, _stop, _server) = serve(&net).await;
    let mut c = connect(&url).await;
    let mut streams = Vec::new();
    for _ in 0..2 {
        streams.push(subscribe_as(&mut c, &prover, vec![]).await);
    }
    let quiet = Duration::from_millis(1500);
    let first = proving_tasks(&mut streams[0], quiet).await;
    let second = proving_tasks(&mut streams[1], quiet).await;
    assert_eq!(
        first,
        vec!["prove/10/0", "prove/11/0"],
        "the first stream took both"
    );
    assert!(second.is_empty(), "and the second none of them: {second:?}");

    net.transfer(&user, 2, Address::repeat_byte(0x51), 5);
    net.step();
    assert_eq!(
        proving_tasks(&mut streams[1], quiet).await,
        vec!["prove/12/0"],
        "a new task goes to the stream holding fewer"
    );
    assert!(proving_tasks(&mut streams[0], quiet).await.is_empty());

    drop(streams.remove(0));
    tokio::time::sleep(Duration::from_millis(300)).await;
    net.step();
    assert_eq!(
        proving_tasks(&mut streams[0], quiet).await,
        vec!["prove/10/0", "prove/11/0"],
        "the closed stream's tasks go to the other one"
    );
}

/// A slot's chunks (ADR 0016) are separate proving tasks spread over a prover's task streams:
/// with block circuits of 2 entries and up to 4 chunks a slot, a transfer's slot (3 entries
/// or more) is cut into chunks, each `prove/<slot>/<chunk>` goes to exactly one of the two
/// streams and both streams get some; `GetWitness{slot, chunk}` serves each chunk's witness
/// (its header naming the chunk and the count, each chunk starting where the one before
/// ended) and nothing past the last chunk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slots_chunks_go_to_different_workers() {
    const CAPACITY: usize = 2;
    let vk_hash = vk_hash_of(CAPACITY).await;
    let mut params = proving_chain(CAPACITY, vk_hash, 60, Default::default());
    params.protocol.max_diff_entries = 4 * CAPACITY as u64;
    params
        .protocol
        .proving
        .as_mut()
        .expect("proving")
        .max_chunks = 4;
    let mut net = net_with(params);
    let user = net.keys[3].clone();
    let prover = net.keys[1].clone();
    while net.height < 9 {
        net.step();
    }
    let (url, _sent, _stop, _server) = serve(&net).await;
    let mut c = connect(&url).await;
    let mut streams = Vec::new();
    for _ in 0..2 {
        streams.push(subscribe_as(&mut c, &prover, vec![]).await);
    }
    let quiet = Duration::from_millis(1500);
    net.transfer(&user, 0, Address::repeat_byte(0x51), 5);
    net.step();
    let slot = net.height;
    let chunks = net
        .reader()
        .app_entry(&parley_types::StateKey::ProofSlot(slot))
        .expect("read")
        .map(|b| parley_types::ProofSlot::decode(&b).expect("decodes").chunks)
        .expect("the slot awaits a proof");
    assert!(
        chunks >= 2,
        "a transfer's diff is cut into {chunks} chunk(s)"
    );
    let a = proving_tasks(&mut streams[0], quiet).await;
    let b = proving_tasks(&mut streams[1], quiet).await;
    assert!(
        !a.is_empty() && !b.is_empty(),
        "both streams prove a part: {a:?} {b:?}"
    );
    let mut all: Vec<String> = a.iter().chain(&b).cloned().collect();
    all.sort();
    let want: Vec<String> = (0..chunks).map(|c| format!("prove/{slot}/{c}")).collect();
    assert_eq!(all, want, "every chunk once, to one stream");

    let mut post = None;
    for chunk in 0..chunks {
        // The node's witness service catches up in the background.
        let mut tries = 0;
        let w = loop {
            match c.get_witness(pb::GetWitnessRequest { slot, chunk }).await {
                Ok(w) => break w.into_inner(),
                Err(e) if tries < 100 => {
                    assert_eq!(e.code(), tonic::Code::Unavailable, "{e}");
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("chunk {chunk}'s witness: {e}"),
            }
        };
        let w = parley_proofs::BlockWitness::decode(&w.witness).expect("decodes");
        let h = w.public.header;
        assert_eq!(
            (h.slot, h.chunk_index, h.chunk_count),
            (slot, chunk, chunks)
        );
        if let Some(p) = post {
            assert_eq!(
                w.public.pre_root, p,
                "chunk {chunk} starts where the last ended"
            );
        }
        post = Some(w.public.post_root);
    }
    assert!(
        c.get_witness(pb::GetWitnessRequest {
            slot,
            chunk: chunks
        })
        .await
        .is_err(),
        "no witness past the last chunk"
    );
}

/// A slot's fallback rounds go to the worker that held its window task: that process keeps a
/// proof it made too late for the window (or for a round's commit phase) and commits it,
/// where another worker would have to prove the slot again. The load run that found this:
/// one slot proved 7 times by a 2 × 2 localnet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slots_fallback_rounds_go_to_the_worker_that_held_it() {
    const CAPACITY: usize = 6;
    let vk_hash = vk_hash_of(CAPACITY).await;
    let mut net = net_with(proving_chain(CAPACITY, vk_hash, 6, own_fallback()));
    let user = net.keys[3].clone();
    let prover = net.keys[1].clone();
    while net.height < 9 {
        net.step();
    }
    let (url, _sent, _stop, _server) = serve(&net).await;
    let mut c = connect(&url).await;
    let mut first = subscribe_as(&mut c, &prover, vec![]).await;
    let mut second = subscribe_as(&mut c, &prover, vec![]).await;
    let quiet = Duration::from_millis(700);
    net.transfer(&user, 0, Address::repeat_byte(0x51), 5);
    net.step();
    let slot = net.height;
    let (a, _) = proving_and_cancelled(&mut first, quiet).await;
    let (b, _) = proving_and_cancelled(&mut second, quiet).await;
    let want = vec![format!("prove/{slot}/0")];
    let (holder, other) = match (a == want, b == want) {
        (true, false) => (&mut first, &mut second),
        (false, true) => (&mut second, &mut first),
        _ => panic!("prove/{slot} should go to exactly one stream: {a:?} {b:?}"),
    };
    // The window (6 heights) passes without a proof: the first fallback round opens.
    let mut fallback = Vec::new();
    let mut elsewhere = Vec::new();
    for _ in 0..10 {
        net.step();
        while let Ok(Ok(Some(t))) = tokio::time::timeout(quiet, holder.message()).await {
            if matches!(t.kind, Some(pb::task::Kind::Fallback(_))) {
                fallback.push(t.task_id);
            }
        }
        while let Ok(Ok(Some(t))) = tokio::time::timeout(quiet, other.message()).await {
            if matches!(t.kind, Some(pb::task::Kind::Fallback(_))) {
                elsewhere.push(t.task_id);
            }
        }
        if !fallback.is_empty() || !elsewhere.is_empty() {
            break;
        }
    }
    assert_eq!(
        fallback,
        vec![format!("fallback/{slot}/0/1")],
        "the round goes to the stream that held prove/{slot} (elsewhere: {elsewhere:?})"
    );
    assert!(elsewhere.is_empty(), "{elsewhere:?}");
}

/// Tasks read from a stream until it is quiet: the proving tasks' ids and the cancelled ids.
async fn proving_and_cancelled(
    stream: &mut tonic::Streaming<pb::Task>,
    quiet: Duration,
) -> (Vec<String>, Vec<String>) {
    let (mut prove, mut cancel) = (Vec::new(), Vec::new());
    while let Ok(Ok(Some(t))) = tokio::time::timeout(quiet, stream.message()).await {
        match t.kind {
            Some(pb::task::Kind::Prove(_)) => prove.push(t.task_id),
            Some(pb::task::Kind::Cancel(c)) => cancel.push(c.task_id),
            _ => {}
        }
    }
    prove.sort();
    cancel.sort();
    (prove, cancel)
}

/// Opens a task stream for `key`, naming the tasks it still runs.
async fn subscribe_as(
    c: &mut ProverServiceClient<tonic::transport::Channel>,
    key: &alloy_signer_local::PrivateKeySigner,
    running: Vec<String>,
) -> tonic::Streaming<pb::Task> {
    let ch = challenge(c, key.address()).await;
    c.subscribe(pb::SubscribeRequest {
        prover: key.address().to_vec(),
        signature: auth::sign(key, CHAIN_ID, &ch).to_vec(),
        challenge: ch,
        capacity: 0,
        running,
        no_aggregation: false,
    })
    .await
    .expect("authenticated")
    .into_inner()
}

/// A node restart closes every stream of a prover's workers at once, and they reconnect
/// within moments of each other. The one still running a proof names it when it subscribes
/// (`SubscribeRequest.running`) and keeps it: a stream that was given that task meanwhile is
/// told it is no longer its, and a stream too new to share (`Settings::share_after`) is given
/// no task that no stream holds, so the idle worker does not start the same proof again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_worker_keeps_the_proof_it_still_runs() {
    const CAPACITY: usize = 6;
    let grace = Duration::from_millis(1500);
    let vk_hash = vk_hash_of(CAPACITY).await;
    let (mut net, user, prover) = two_slots_to_prove(CAPACITY, vk_hash);
    let (url, _sent, _stop, _server) = serve_with(
        &net,
        Settings {
            share_after: grace,
            ..Settings::default()
        },
    )
    .await;
    let mut c = connect(&url).await;
    let quiet = Duration::from_millis(700);
    // A new stream takes no unheld proving task until it is `grace` old.
    let mut first = subscribe_as(&mut c, &prover, vec![]).await;
    let (got, _) = proving_and_cancelled(&mut first, quiet).await;
    assert!(got.is_empty(), "a new stream shares nothing yet: {got:?}");
    tokio::time::sleep(grace).await;
    net.step();
    let (got, _) = proving_and_cancelled(&mut first, quiet).await;
    assert_eq!(got, vec!["prove/10/0", "prove/11/0"], "then it takes both");
    // A worker reconnecting while it still runs prove/10 keeps it, at once.
    let mut second = subscribe_as(&mut c, &prover, vec!["prove/10/0".to_string()]).await;
    let (got, _) = proving_and_cancelled(&mut second, quiet).await;
    assert_eq!(got, vec!["prove/10/0"], "the task it runs is its own again");
    net.step();
    let (got, cancelled) = proving_and_cancelled(&mut first, quiet).await;
    assert!(got.is_empty(), "{got:?}");
    assert_eq!(
        cancelled,
        vec!["prove/10/0"],
        "the stream given prove/10 meanwhile is told it is no longer its"
    );
    // A third stream, too new to share, is given none of the tasks; a new task goes to one
    // of the two older streams at once.
    let mut third = subscribe_as(&mut c, &prover, vec![]).await;
    net.transfer(&user, 2, Address::repeat_byte(0x51), 5);
    net.step();
    let slot = format!("prove/{}/0", net.height);
    let (a, _) = proving_and_cancelled(&mut first, quiet).await;
    let (b, _) = proving_and_cancelled(&mut second, quiet).await;
    let (young, _) = proving_and_cancelled(&mut third, quiet).await;
    assert!(young.is_empty(), "the new stream took {young:?}");
    let mut new: Vec<String> = a.into_iter().chain(b).collect();
    new.sort();
    assert_eq!(new, vec![slot], "one older stream takes the new task");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_proves_a_missed_slot_through_the_fallback() {
    const CAPACITY: usize = 6;
    let vk_hash = vk_hash_of(CAPACITY).await;
    let fallback = parley_app::chain::genesis::FallbackParams::default();
    let mut net = net_of(
        proving_chain(CAPACITY, vk_hash, 6, fallback.clone()),
        &[1, 2],
    );
    let user = net.keys[3].clone();
    while net.height < 9 {
        net.step();
    }
    net.transfer(&user, 0, Address::repeat_byte(0x51), 5);
    net.step();
    let slot = 10;
    let drawn = net
        .reader()
        .app_entry(&parley_types::StateKey::Assignment(slot))
        .expect("read")
        .map(|b| {
            parley_types::Assignment::decode(&b)
                .expect("decodes")
                .provers
        })
        .expect("slot 10 was drawn");
    assert_eq!(drawn.len(), 1);
    let absent = drawn[0].0;
    let worker_key = [1, 2]
        .map(|i| net.keys[i].clone())
        .into_iter()
        .find(|k| k.address() != absent)
        .expect("the other prover");
    let ledger = |net: &Net, a: Address| {
        net.reader()
            .app_entry(&parley_types::StateKey::Ledger(a))
            .expect("read")
            .map(|b| {
                parley_types::LedgerAccount::decode(&b)
                    .expect("decodes")
                    .balance
            })
            .unwrap_or_default()
    };
    let before = ledger(&net, worker_key.address());
    let (url, sent, stop, server) = serve(&net).await;
    let (worker, mut outcomes) = spawn_worker(&url, &worker_key);
    // The window ends at 16; the round takes commits at 17 ..= 24 and reveals at 25 ..= 32.
    let commit_end = 16 + fallback.commit_window;
    let round_end = commit_end + fallback.reveal_proof_window;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    let (mut commits, mut reveals) = (0, 0);
    let mut outcome = None;
    while net.height < round_end || outcome.is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the fallback completes within 240 s"
        );
        for raw in std::mem::take(&mut *sent.0.lock().expect("lock")) {
            match msg::decode(&raw, CHAIN_ID).map(|m| m.action) {
                Ok(Action::CommitProof { slot: s, .. }) if s == slot => commits += 1,
                Ok(Action::RevealProof { slot: s, .. }) if s == slot => reveals += 1,
                Ok(Action::Proof { slot: s, .. }) if s == slot => {
                    panic!("a Proof after the window instead of the fallback")
                }
                _ => {}
            }
            net.submit(Bytes::from(raw)).expect("admitted");
        }
        // Keygen and the proof take seconds: hold the chain in the commit phase until the
        // worker's commit is in (a real chain's commit phase is sized for proving time).
        let waiting_for_commit = net.height > 16 && commits == 0;
        if !waiting_for_commit && net.height < round_end + 2 {
            net.step();
        }
        if let Ok((id, o)) = outcomes.try_recv()
            && id == format!("fallback/{slot}/0/1")
        {
            outcome = Some(o);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let outcome = outcome.expect("finished");
    assert!(
        matches!(outcome, Ok(parley_prover::Outcome::Submitted(_))),
        "{outcome:?}"
    );
    assert_eq!((commits, reveals), (1, 1));
    step_until_proven(&mut net, slot, round_end);
    let e = net
        .reader()
        .app_entry(&parley_types::StateKey::ProofSlot(slot))
        .expect("read")
        .map(|b| parley_types::ProofSlot::decode(&b).expect("decodes"))
        .expect("slot");
    assert!(e.proven);
    assert_eq!(e.transitions[0].prover, worker_key.address());
    assert!(e.transitions[0].is_fallback());
    let fee = parley_app::chain::genesis::ProtocolParams::default().message_fee;
    let kept = fallback.slash_missed
        - fallback.slash_missed * U256::from(fallback.slash_burn_bps) / U256::from(10_000u64);
    assert_eq!(
        ledger(&net, worker_key.address()),
        before - fee - fee + e.fee_share + kept,
        "two message fees paid; the fee share and the kept slash earned"
    );
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    worker.abort();
}

fn step_until_proven(net: &mut Net, slot: u64, by: u64) {
    while net.height < by {
        net.step();
    }
    let proven = net
        .reader()
        .app_entry(&parley_types::StateKey::ProofChain)
        .expect("read")
        .map(|b| {
            parley_types::ProofChain::decode(&b)
                .expect("decodes")
                .proven_slot
        });
    assert_eq!(proven, Some(slot), "proven when the round closed");
}

/// A worker makes its block-circuit keys when it subscribes, before any proving task, and
/// caches them under the pinned vk hash. One whose key cache is damaged, or whose keys are
/// not the ones genesis pins, stops with [`parley_prover::Refused`], naming why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_makes_its_keys_at_start_and_stops_on_a_damaged_cache_or_foreign_keys() {
    const CAPACITY: usize = 6;
    let vk_hash = vk_hash_of(CAPACITY).await;
    let net = net_with(proving_chain(CAPACITY, vk_hash, 6, Default::default()));
    let prover = net.keys[1].clone();
    let (url, _sent, _stop, _server) = serve(&net).await;
    let keys = tempfile::tempdir().expect("tempdir");
    let proving = parley_prover::Proving::new(1).with_keys_dir(Some(keys.path().into()));
    let (worker, mut outcomes) = spawn_worker_with(&url, &prover, proving.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while !proving.keys_ready() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "keys made within 120 s of subscribing"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(outcomes.try_recv().is_err(), "no task was given");
    assert_eq!(proving.proofs_made(), 0);
    assert!(proving.refused().is_none());
    assert!(
        !worker.is_finished(),
        "the worker goes on with the chain's keys"
    );
    worker.abort();
    // The keys were cached under the pinned vk hash, for the next start.
    let cached = parley_proofs::keycache::key_path(keys.path(), vk_hash);
    assert!(cached.exists(), "{} written", cached.display());

    // A damaged cache file: the next worker stops, naming it, instead of proving.
    let mut bytes = std::fs::read(&cached).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&cached, &bytes).expect("write");
    let proving = parley_prover::Proving::new(1).with_keys_dir(Some(keys.path().into()));
    let (worker, _outcomes) = spawn_worker_with(&url, &prover, proving);
    let e = tokio::time::timeout(Duration::from_secs(30), worker)
        .await
        .expect("the session stops by itself")
        .expect("joins")
        .expect_err("refused");
    assert!(e.is::<parley_prover::Refused>(), "{e:?}");
    assert!(
        e.to_string().contains("damaged cache file") && e.to_string().contains("checksum"),
        "{e}"
    );

    // Keys the chain does not pin (another --srs: a node refuses such a genesis, so the
    // mismatch is the worker's): its session stops by itself with the reason, which run()
    // returns.
    let other = B256::repeat_byte(0x77);
    let proving = parley_prover::Proving::new(1);
    proving.warm(CAPACITY, parley_proofs::DEFAULT_INDEX_BITS, other.to_vec());
    while proving.refused().is_none() {
        assert!(tokio::time::Instant::now() < deadline, "keys compared");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (worker, _outcomes) = spawn_worker_with(&url, &prover, proving);
    let r = tokio::time::timeout(Duration::from_secs(30), worker)
        .await
        .expect("the session stops by itself")
        .expect("joins");
    let e = r.expect_err("refused");
    assert!(e.is::<parley_prover::Refused>(), "{e:?}");
    let why = e.to_string();
    assert!(
        why.contains(&vk_hash.to_string()) && why.contains(&hex::encode(other)),
        "names its key and the pinned one: {why}"
    );
}

/// A proof that misses its window is the fallback's proof: the round's task, delivered while
/// the window's job of the same worker still proves, waits for that job and commits its
/// proof. The slot is proven through the fallback with one proof computed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_proof_serves_the_fallback_round_without_proving_again() {
    const CAPACITY: usize = 6;
    let vk_hash = vk_hash_of(CAPACITY).await;
    let fallback = own_fallback();
    let mut net = net_with(proving_chain(CAPACITY, vk_hash, 6, fallback.clone()));
    let user = net.keys[3].clone();
    let prover = net.keys[1].clone();
    while net.height < 9 {
        net.step();
    }
    let (url, sent, stop, server) = serve(&net).await;
    let proving = parley_prover::Proving::new(1);
    let (worker, mut outcomes) = spawn_worker_with(&url, &prover, proving.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    while !proving.keys_ready() {
        assert!(tokio::time::Instant::now() < deadline, "keys made");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    net.transfer(&user, 0, Address::repeat_byte(0x51), 5);
    net.step();
    let slot = net.height;
    let window_end = slot + 6;
    // The window's job takes the slot; the chain then runs past the window while it proves.
    while !proving.holds(slot, 0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "prove/{slot} started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(proving.proofs_made(), 0, "still proving");
    while net.height <= window_end {
        net.step();
    }
    let commit_end = window_end + fallback.commit_window;
    let round_end = commit_end + fallback.reveal_proof_window;
    let (mut commits, mut reveals, mut window_proof) = (0, 0, None);
    let mut done = std::collections::BTreeMap::new();
    let finished = |done: &std::collections::BTreeMap<String, _>| {
        done.contains_key(&format!("prove/{slot}/0"))
            && done.contains_key(&format!("fallback/{slot}/0/1"))
    };
    while net.height < round_end || !finished(&done) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the fallback completes within 240 s (outcomes: {done:?})"
        );
        for raw in std::mem::take(&mut *sent.0.lock().expect("lock")) {
            match msg::decode(&raw, CHAIN_ID).map(|m| m.action) {
                Ok(Action::CommitProof { slot: s, .. }) if s == slot => commits += 1,
                Ok(Action::RevealProof { slot: s, proof, .. }) if s == slot => {
                    reveals += 1;
                    if let Some(p) = &window_proof {
                        assert_eq!(p, &proof, "the window's proof is the one revealed");
                    }
                }
                Ok(Action::Proof { slot: s, proof, .. }) if s == slot => window_proof = Some(proof),
                _ => {}
            }
            net.submit(Bytes::from(raw)).expect("admitted");
        }
        while let Ok((id, o)) = outcomes.try_recv() {
            done.insert(id, o);
        }
        // Hold the chain in the commit phase until the worker's commit is in.
        let waiting_for_commit = net.height > window_end && commits == 0;
        if !waiting_for_commit && net.height < round_end + 2 {
            net.step();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let window_job = done.get(&format!("prove/{slot}/0"));
    assert!(
        matches!(window_job, Some(Ok(parley_prover::Outcome::Skipped(_)))),
        "the window's job came too late: {window_job:?}"
    );
    let round = &done[&format!("fallback/{slot}/0/1")];
    assert!(
        matches!(round, Ok(parley_prover::Outcome::Submitted(_))),
        "{round:?}"
    );
    assert_eq!((commits, reveals), (1, 1));
    step_until_proven(&mut net, slot, round_end);
    assert_eq!(proving.proofs_made(), 1, "one proof served both tasks");
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    worker.abort();
}
