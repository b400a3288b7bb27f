//! The `parley-bridge` binary against a real anvil and the real Rollup contract, with a fake
//! parleyd serving attestations signed by keys this test holds.
//!
//! Checks, in one L1 history: deploy refuses a key whose Rollup would not land where genesis
//! says, then deploys; two empty epochs finalized in order with a gas report; a restart with
//! a broadcast-then-mined transaction in the state file reports it and posts nothing new; a
//! restart with a signed-but-lost transaction broadcasts the same one again; a second relayer
//! that finds the epoch already being finalized counts it a success and sends nothing; a
//! relayer that is not designated waits `relaySlot` L1 blocks; an L1 outage is retried; an
//! epoch that changes state waits for its L1 proof, then takes it from parleyd.
//!
//! Needs anvil and forge from `scripts/tools.sh` (`.tools/bin`); fails if they are missing.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy_primitives::{Address, B256, U64};
use alloy_provider::{Provider as _, RootProvider};
use alloy_signer::SignerSync as _;
use alloy_signer_local::PrivateKeySigner;
use jsonrpsee::server::{RpcModule, ServerBuilder, ServerHandle};
use parley_types::bridge::{EpochAttestation, epoch_digest, validator_set_hash};
use serde_json::{Value, json};

const L1_CHAIN: u64 = 31337;
const L2_CHAIN: u64 = 1337;
const RELAY_SLOT: u64 = 3;
/// anvil's first three dev keys: deployer, relayer A, relayer B.
const DEPLOYER: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const KEY_A: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const KEY_B: &str = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn tool(name: &str) -> PathBuf {
    let p = repo().join(".tools/bin").join(name);
    assert!(
        p.exists(),
        "{} is missing: run scripts/tools.sh (it installs anvil and forge)",
        p.display()
    );
    p
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The fake parleyd: genesis params, the genesis set, and the attestations served so far.
struct FakeParleyd {
    rollup: Address,
    root: B256,
    set: Vec<(Address, u64)>,
    keys: Vec<PrivateKeySigner>,
    served: Arc<Mutex<Vec<Value>>>,
    /// `parley_getEpochProof` answers by epoch (absent: `null`).
    proofs: Arc<Mutex<std::collections::BTreeMap<u64, Value>>>,
}

impl FakeParleyd {
    /// An empty epoch `e`, signed by every validator.
    fn attest(&self, e: u64) {
        self.attest_roots(e, self.root, B256::ZERO);
    }

    /// Epoch `e` moving the root from `self.root` to `post` with `commitment`, signed by
    /// every validator.
    fn attest_roots(&self, e: u64, post: B256, commitment: B256) {
        let a = EpochAttestation {
            l1_chain_id: L1_CHAIN,
            rollup: self.rollup,
            l2_chain_id: L2_CHAIN,
            epoch: e,
            first_pre_root: self.root,
            last_post_root: post,
            epoch_commitment: commitment,
            next_validator_set_hash: validator_set_hash(&self.set).unwrap(),
            ..Default::default()
        };
        let digest = epoch_digest(&a);
        let sigs: Vec<Value> = self
            .set
            .iter()
            .enumerate()
            .map(|(i, (addr, _))| {
                let k = self.keys.iter().find(|k| k.address() == *addr).unwrap();
                let s = k.sign_hash_sync(&digest).unwrap();
                json!({
                    "index": i,
                    "signer": addr,
                    "r": B256::from(s.r().to_be_bytes::<32>()),
                    "s": B256::from(s.s().to_be_bytes::<32>()),
                    "v": 27 + u8::from(s.v()),
                })
            })
            .collect();
        let rec = json!({
            "attestation": {
                "l1ChainId": U64::from(L1_CHAIN),
                "rollup": self.rollup,
                "l2ChainId": U64::from(L2_CHAIN),
                "epoch": U64::from(e),
                "firstPreRoot": a.first_pre_root,
                "lastPostRoot": a.last_post_root,
                "epochCommitment": a.epoch_commitment,
                "withdrawalRoot": B256::ZERO,
                "l1QueueRollingHash": B256::ZERO,
                "l1QueueCount": U64::ZERO,
                "nextValidatorSetHash": a.next_validator_set_hash,
                "digest": digest,
            },
            "set": self.set_json(),
            "signatures": sigs,
            "signedPower": U64::from(30u64),
            "totalPower": U64::from(30u64),
            "height": U64::from(10 + e),
        });
        let mut s = self.served.lock().unwrap();
        assert_eq!(s.len() as u64, e, "attest epochs in order");
        s.push(rec);
    }

    fn set_json(&self) -> Value {
        json!({
            "signers": self.set.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
            "powers": self.set.iter().map(|(_, p)| U64::from(*p)).collect::<Vec<_>>(),
            "hash": validator_set_hash(&self.set).unwrap(),
        })
    }

    async fn serve(self: &Arc<Self>) -> (SocketAddr, ServerHandle) {
        let mut m = RpcModule::new(self.clone());
        m.register_method("parley_getProtocolParams", |_, me, _| {
            json!({"chain_id": L2_CHAIN, "protocol": {"bridge": {"l1_chain_id": L1_CHAIN, "rollup": me.rollup}}})
        })
        .unwrap();
        m.register_method("parley_getBridge", |_, me, _| {
            json!({"nextEpoch": "0x0", "root": me.root, "set": me.set_json(), "pending": null})
        })
        .unwrap();
        m.register_method("parley_getAttestation", |p, me, _| {
            let (e,): (U64,) = p.parse().unwrap();
            me.served
                .lock()
                .unwrap()
                .get(e.to::<usize>())
                .cloned()
                .unwrap_or(Value::Null)
        })
        .unwrap();
        m.register_method("parley_getEpochProof", |p, me, _| {
            let (e,): (U64,) = p.parse().unwrap();
            me.proofs
                .lock()
                .unwrap()
                .get(&e.to::<u64>())
                .cloned()
                .unwrap_or(Value::Null)
        })
        .unwrap();
        let server = ServerBuilder::default().build("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        (addr, server.start(m))
    }
}

/// A TCP proxy to anvil that can be switched off (connections dropped): an L1 outage.
async fn proxy(to: SocketAddr, up: Arc<AtomicBool>) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut c, _)) = l.accept().await else {
                return;
            };
            if !up.load(Ordering::SeqCst) {
                drop(c);
                continue;
            }
            tokio::spawn(async move {
                if let Ok(mut s) = tokio::net::TcpStream::connect(to).await {
                    let _ = tokio::io::copy_bidirectional(&mut c, &mut s).await;
                }
            });
        }
    });
    addr
}

struct Ctx {
    l1_url: String,
    l2_url: String,
    l1: RootProvider,
    rollup: Address,
    dir: tempfile::TempDir,
}

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Out {
    fn events(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

fn bin() -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_parley-bridge"));
    c.env("RUST_LOG", "info").kill_on_drop(true);
    c
}

impl Ctx {
    fn state(&self, who: &str) -> PathBuf {
        self.dir.path().join(who)
    }

    fn relay_cmd(
        &self,
        key: &str,
        who: &str,
        extra: &[&str],
        l1_url: Option<&str>,
    ) -> tokio::process::Command {
        let mut c = bin();
        c.args([
            "relay",
            "--l1-rpc",
            l1_url.unwrap_or(&self.l1_url),
            "--parleyd-rpc",
            &self.l2_url,
        ])
        .arg("--state-dir")
        .arg(self.state(who))
        .args(["--poll-ms", "100"])
        .args(extra)
        .env("PARLEY_RELAYER_KEY", key);
        c
    }

    async fn relay_once(&self, key: &str, who: &str, extra: &[&str]) -> Out {
        let mut args = vec!["--once"];
        args.extend_from_slice(extra);
        run(self.relay_cmd(key, who, &args, None)).await
    }

    async fn rpc(&self, method: &'static str, params: Value) -> Value {
        self.l1.raw_request(method.into(), params).await.unwrap()
    }

    async fn next_epoch(&self) -> u64 {
        let out = self
            .l1
            .call(
                alloy_rpc_types_eth::TransactionRequest::default()
                    .to(self.rollup)
                    .input(
                        alloy_primitives::Bytes::from(
                            alloy_primitives::keccak256("nextEpoch()")[..4].to_vec(),
                        )
                        .into(),
                    ),
            )
            .await
            .unwrap();
        alloy_primitives::U256::from_be_slice(&out).to::<u64>()
    }

    async fn nonce(&self, key: &str) -> u64 {
        let a = key.parse::<PrivateKeySigner>().unwrap().address();
        self.l1.get_transaction_count(a).pending().await.unwrap()
    }

    fn in_flight(&self, who: &str) -> Option<Value> {
        let s = std::fs::read(self.state(who).join("relayer-state.json")).ok()?;
        let v: Value = serde_json::from_slice(&s).ok()?;
        v.get("inFlight").cloned()
    }

    /// Starts a looping relayer and waits until it has a transaction in flight, then kills it.
    async fn crash_with_in_flight(&self, key: &str, who: &str, epoch: u64) -> Value {
        let mut child = self
            .relay_cmd(key, who, &[], None)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut f = None;
        for _ in 0..100 {
            if let Some(v) = self.in_flight(who)
                && v["epoch"] == json!(epoch)
            {
                f = Some(v);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Give it time to broadcast after writing the state.
        tokio::time::sleep(Duration::from_millis(500)).await;
        child.kill().await.unwrap();
        f.expect("the relayer put a transaction in flight")
    }
}

async fn run(mut c: tokio::process::Command) -> Out {
    let o = tokio::time::timeout(Duration::from_secs(60), c.output())
        .await
        .expect("parley-bridge finished within 60 s")
        .unwrap();
    let out = Out {
        ok: o.status.success(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    if !out.ok {
        println!("stdout:\n{}\nstderr:\n{}", out.stdout, out.stderr);
    }
    out
}

fn finalized(out: &Out) -> Vec<u64> {
    out.events()
        .iter()
        .filter(|e| e["event"] == "finalized")
        .map(|e| {
            assert!(e["gasUsed"].as_u64().unwrap() > 21_000, "gas reported: {e}");
            e["epoch"].as_u64().unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn relayer_against_anvil() {
    let anvil = tool("anvil");
    let forge = tool("forge");
    let dir = tempfile::tempdir().unwrap();

    // The Rollup's artifact, built outside the repository.
    let build = tokio::process::Command::new(&forge)
        .current_dir(repo().join("l1-bridge/contracts"))
        .args(["build", "--skip", "test", "--out"])
        .arg(dir.path().join("out"))
        .arg("--cache-path")
        .arg(dir.path().join("cache"))
        .output()
        .await
        .unwrap();
    assert!(
        build.status.success(),
        "forge build: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    let artifact = dir.path().join("out/Rollup.sol/Rollup.json");

    // L1.
    let port = free_port();
    let _anvil = tokio::process::Command::new(&anvil)
        .args([
            "--port",
            &port.to_string(),
            "--chain-id",
            &L1_CHAIN.to_string(),
            "--silent",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let l1_url = format!("http://127.0.0.1:{port}");
    let l1 = RootProvider::new_http(l1_url.parse().unwrap());
    for i in 0.. {
        if l1.get_chain_id().await.is_ok() {
            break;
        }
        assert!(i < 100, "anvil did not start on port {port}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The fake parleyd: 3 validators, genesis names the deployer's second contract.
    let deployer: PrivateKeySigner = DEPLOYER.parse().unwrap();
    let rollup = deployer.address().create(1);
    let keys: Vec<PrivateKeySigner> = (1u8..=3)
        .map(|i| PrivateKeySigner::from_bytes(&B256::repeat_byte(0x40 + i)).unwrap())
        .collect();
    let mut set: Vec<(Address, u64)> = keys.iter().map(|k| (k.address(), 10)).collect();
    set.sort();
    let fake = Arc::new(FakeParleyd {
        rollup,
        root: B256::with_last_byte(0x2a),
        set,
        keys,
        served: Arc::default(),
        proofs: Arc::default(),
    });
    let (l2_addr, _server) = fake.serve().await;
    let cx = Ctx {
        l2_url: format!("http://{l2_addr}"),
        l1_url,
        l1,
        rollup,
        dir,
    };

    // Deploy: a key whose Rollup would land elsewhere is refused before sending anything.
    let deploy = |key: &str| {
        let mut c = bin();
        c.args([
            "deploy",
            "--l1-rpc",
            &cx.l1_url,
            "--parleyd-rpc",
            &cx.l2_url,
            "--verifier-stand-in",
        ])
        .arg("--artifact")
        .arg(&artifact)
        .args(["--relay-slot", &RELAY_SLOT.to_string()])
        .env("PARLEY_RELAYER_KEY", key);
        c
    };
    let out = run(deploy(KEY_B)).await;
    assert!(
        !out.ok && out.stderr.contains("refusing to deploy"),
        "{}",
        out.stderr
    );
    assert_eq!(
        cx.nonce(KEY_B).await,
        0,
        "a refused deployment sends nothing"
    );
    let out = run(deploy(DEPLOYER)).await;
    assert!(out.ok, "deploy failed");
    let d = &out.events()[0];
    assert_eq!(
        d["rollup"].as_str().unwrap().parse::<Address>().unwrap(),
        rollup
    );
    println!("deploy: {d}");

    // Nothing attested: --once exits at once without sending.
    let out = cx.relay_once(KEY_A, "a", &[]).await;
    assert!(out.ok && finalized(&out).is_empty());

    // Two empty epochs, in order, with a gas report.
    fake.attest(0);
    fake.attest(1);
    let out = cx.relay_once(KEY_A, "a", &[]).await;
    assert!(out.ok);
    assert_eq!(finalized(&out), vec![0, 1]);
    assert_eq!(cx.next_epoch().await, 2);
    let gas = std::fs::read_to_string(cx.state("a").join("gas.jsonl")).unwrap();
    assert_eq!(gas.lines().count(), 2);
    println!("gas report:\n{gas}");
    assert_eq!(cx.nonce(KEY_A).await, 2);

    // Restart 1: crashed after broadcasting; the transaction is mined while it is down. The
    // restarted relayer finds the receipt, reports it, and posts nothing more.
    fake.attest(2);
    cx.rpc("evm_setAutomine", json!([false])).await;
    let f = cx.crash_with_in_flight(KEY_A, "a", 2).await;
    cx.rpc("evm_mine", json!([])).await;
    let out = cx.relay_once(KEY_A, "a", &[]).await;
    assert!(out.ok);
    assert_eq!(finalized(&out), vec![2]);
    let e = out.events();
    assert_eq!(e[0]["txHash"], f["txs"][0]["hash"]);
    assert_eq!(cx.next_epoch().await, 3);
    assert_eq!(cx.nonce(KEY_A).await, 3, "one transaction for epoch 2");
    assert!(cx.in_flight("a").is_none());

    // Restart 2: signed and written, but the L1 node lost it. The restarted relayer
    // broadcasts the very same transaction again (same hash, same nonce).
    fake.attest(3);
    let f = cx.crash_with_in_flight(KEY_A, "a", 3).await;
    cx.rpc("anvil_dropAllTransactions", json!([])).await;
    cx.rpc("evm_setAutomine", json!([true])).await;
    assert_eq!(cx.nonce(KEY_A).await, 3, "the transaction is gone from L1");
    let out = cx.relay_once(KEY_A, "a", &[]).await;
    assert!(out.ok);
    assert_eq!(finalized(&out), vec![3]);
    assert_eq!(out.events()[0]["txHash"], f["txs"][0]["hash"]);
    assert_eq!(cx.nonce(KEY_A).await, 4);
    assert_eq!(cx.next_epoch().await, 4);

    // A second relayer: A's posting of epoch 4 is in the mempool; B (designated: its own
    // list) simulates on the pending block, finds it finalized, counts it, sends nothing.
    fake.attest(4);
    cx.rpc("evm_setAutomine", json!([false])).await;
    cx.crash_with_in_flight(KEY_A, "a", 4).await;
    let out = cx.relay_once(KEY_B, "b", &[]).await;
    assert!(out.ok);
    assert!(
        out.events()
            .iter()
            .any(|e| e["event"] == "alreadyFinalized" && e["epoch"] == 4),
        "B counted epoch 4 as finalized: {}\n{}",
        out.stdout,
        out.stderr
    );
    assert_eq!(cx.nonce(KEY_B).await, 0, "B sent nothing");
    cx.rpc("evm_mine", json!([])).await;
    cx.rpc("evm_setAutomine", json!([true])).await;
    assert_eq!(cx.next_epoch().await, 5);

    // The rotation A, B: epoch 5 is B's. A waits RELAY_SLOT L1 blocks from when it first
    // saw it postable (remembered across runs), then posts. (A's first run also reports its
    // epoch-4 transaction, mined meanwhile.)
    fake.attest(5);
    let a = cx
        .relay_once(
            KEY_A,
            "a",
            &["--relayers", &format!("{},{}", addr(KEY_A), addr(KEY_B))],
        )
        .await;
    assert!(a.ok);
    assert_eq!(finalized(&a), vec![4]);
    assert_eq!(cx.next_epoch().await, 5, "A waits for B's slot");
    cx.rpc("anvil_mine", json!([RELAY_SLOT])).await;
    let a = cx
        .relay_once(
            KEY_A,
            "a",
            &["--relayers", &format!("{},{}", addr(KEY_A), addr(KEY_B))],
        )
        .await;
    assert!(a.ok);
    assert_eq!(finalized(&a), vec![5]);
    assert_eq!(cx.next_epoch().await, 6);

    // An L1 outage: the relayer starts while L1 is unreachable, retries, and posts once L1
    // is back.
    fake.attest(6);
    let up = Arc::new(AtomicBool::new(false));
    let via = proxy(format!("127.0.0.1:{port}").parse().unwrap(), up.clone()).await;
    let url = format!("http://{via}");
    let child = cx
        .relay_cmd(KEY_A, "a", &["--once"], Some(&url))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    up.store(true, Ordering::SeqCst);
    let o = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("the relayer recovered from the outage")
        .unwrap();
    let out = Out {
        ok: o.status.success(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    assert!(out.ok, "{}", out.stderr);
    assert!(
        out.stderr.contains("retrying"),
        "the outage was logged: {}",
        out.stderr
    );
    assert_eq!(finalized(&out), vec![6]);
    assert_eq!(cx.next_epoch().await, 7);
    let gas = std::fs::read_to_string(cx.state("a").join("gas.jsonl")).unwrap();
    assert_eq!(gas.lines().count(), 7, "each epoch reported once:\n{gas}");

    // An epoch that changes the root needs its L1 proof: while parleyd holds none (and there
    // is no --proof-dir) the relayer sends nothing and says why.
    let post = B256::with_last_byte(0x2b);
    fake.attest_roots(7, post, B256::with_last_byte(0x77));
    let out = cx.relay_once(KEY_A, "a", &[]).await;
    assert!(out.ok && finalized(&out).is_empty());
    assert!(
        out.stderr
            .contains("neither parleyd nor --proof-dir has its L1 proof"),
        "{}",
        out.stderr
    );
    assert_eq!(cx.nonce(KEY_A).await, 7, "nothing sent without a proof");
    // parleyd serves one: the relayer takes it and simulates finalizeEpoch with it, which
    // this deployment's stand-in verifier refuses; still nothing is sent.
    let mut bytes = vec![0u8; 12 * 32];
    bytes.extend_from_slice(&[0xab; 100]);
    fake.proofs.lock().unwrap().insert(
        7,
        json!({"epoch": "0x7", "firstPreRoot": fake.root, "lastPostRoot": post,
               "epochCommitment": B256::with_last_byte(0x77),
               "proof": alloy_primitives::Bytes::from(bytes)}),
    );
    let out = cx.relay_once(KEY_A, "a", &[]).await;
    assert!(
        !out.ok && out.stderr.contains("InvalidProof"),
        "the proof from parleyd reached the verifier: {}",
        out.stderr
    );
    assert_eq!(
        cx.nonce(KEY_A).await,
        7,
        "a refused simulation sends nothing"
    );
    // A malformed proof from parleyd (a non-canonical accumulator limb) is refused before
    // any simulation.
    fake.proofs.lock().unwrap().insert(
        7,
        json!({"epoch": "0x7", "proof": alloy_primitives::Bytes::from(vec![0xff; 12 * 32 + 8])}),
    );
    let out = cx.relay_once(KEY_A, "a", &[]).await;
    assert!(
        !out.ok && out.stderr.contains("BN254"),
        "a malformed proof refused: {}",
        out.stderr
    );
    assert_eq!(cx.next_epoch().await, 7);
}

fn addr(key: &str) -> Address {
    key.parse::<PrivateKeySigner>().unwrap().address()
}
