//! The localnet mode: the generator's blocks become batches sent to a running localnet's
//! JSON-RPC; every localnet block is replayed on anvil with the localnet's grouping, order and
//! header, and compared with what the node reports (see the test's header comment).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use parley_types::KECCAK_EMPTY;
use serde_json::{Value, json};

use crate::anvil::Anvil;
use crate::blocks::{CHAIN_ID, Gen, GenTx};
use crate::client::Rpc;
use crate::{
    AccState, Checker, ParleyBlock, Rcpt, Replay, SENDERS, Touched, address, b256, compare_state,
    hex_bytes, hex_u64, hex_u256, read_states,
};

/// "Future" BLOCKHASH arguments are this far ahead of the generator's block number.
const FUTURE: u64 = 1_000_000;

#[allow(clippy::disallowed_methods)] // test timing only
fn now() -> Instant {
    Instant::now()
}

/// Parley's state diff (`parley_getStateDiff`) as touched entries.
fn diff_touched(diff: &Value) -> Touched {
    let mut out = Touched::new();
    for acc in diff["accounts"].as_array().expect("diff accounts") {
        let slots = out
            .entry(address(acc["address"].as_str().expect("address")))
            .or_default();
        for s in acc["storage"].as_array().expect("diff storage") {
            slots.insert(hex_u256(&s["slot"]));
        }
    }
    out
}

/// The localnet, the generator's transactions in flight, and the replay position.
struct Net {
    nodes: Vec<Rpc>,
    checker: Checker,
    /// Next localnet block to replay.
    next: u64,
    /// Our transactions by hash (sent, not yet seen in a block), with their batch.
    pending: BTreeMap<B256, (GenTx, u64)>,
    /// Builders seen so far.
    miners: BTreeSet<Address>,
    /// Blocks without transactions; transactions not generated here.
    empty: u64,
    foreign: u64,
    /// Most of our transactions in one block; blocks holding transactions of two batches.
    max_ours: usize,
    mixed: u64,
    /// The blocks each batch's transactions landed in.
    landed: BTreeMap<u64, BTreeSet<u64>>,
    seed: u64,
    timeout: Duration,
}

impl Net {
    fn node(&mut self) -> &mut Rpc {
        &mut self.nodes[0]
    }

    fn head(&mut self) -> u64 {
        hex_u64(&self.node().call("eth_blockNumber", json!([])))
    }

    /// Batches with transactions not yet included.
    fn in_flight(&self) -> usize {
        self.pending
            .values()
            .map(|(_, b)| *b)
            .collect::<BTreeSet<_>>()
            .len()
    }

    /// Replays blocks as they come until at most `max` batches are in flight; fails when
    /// none of our transactions is included for `timeout`.
    fn wait_in_flight(&mut self, max: usize) {
        let mut deadline = now() + self.timeout;
        while self.in_flight() > max {
            let head = self.head();
            if head >= self.next {
                let before = self.pending.len();
                self.replay_to(head);
                if self.pending.len() < before {
                    deadline = now() + self.timeout;
                }
                continue;
            }
            if now() > deadline {
                self.stuck(head);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Fails naming the transactions that do not get included.
    fn stuck(&mut self, head: u64) -> ! {
        let mut msg = format!(
            "seed {}: {} sent transactions were not included, and none of ours was for {} s \
             (localnet head {head}):\n",
            self.seed,
            self.pending.len(),
            self.timeout.as_secs()
        );
        let missing: Vec<(GenTx, u64)> = self.pending.values().cloned().collect();
        for (t, batch) in missing {
            let a = t.from.to_string();
            let got = self.node().batch(&[
                ("eth_getTransactionByHash", json!([t.hash.to_string()])),
                ("eth_getTransactionCount", json!([a, "latest"])),
            ]);
            let state = if got[0].is_null() {
                "unknown to node0"
            } else {
                "pending on node0"
            };
            msg.push_str(&format!(
                "  batch {batch}: {} from {a} (account nonce {}): {state}: {}\n",
                t.hash,
                hex_u64(&got[1]),
                t.what
            ));
        }
        panic!("{msg}");
    }

    /// Replays and compares every block up to `head`.
    fn replay_to(&mut self, head: u64) {
        while self.next <= head {
            let n = self.next;
            self.replay(n);
            self.next += 1;
        }
    }

    fn replay(&mut self, n: u64) {
        let tag = format!("{n:#x}");
        let answers = self.node().batch(&[
            ("eth_getBlockByNumber", json!([tag, true])),
            ("eth_getBlockReceipts", json!([tag])),
            ("parley_getStateDiff", json!([tag])),
        ]);
        let (block, receipts, diff) = (&answers[0], &answers[1], &answers[2]);
        assert!(
            block.is_object() && receipts.is_array() && diff.is_object(),
            "node0 has no block {n} (block {block}, receipts {receipts}, diff {diff})"
        );
        let mut txs = Vec::new();
        let mut ours = 0;
        let mut batches = BTreeSet::new();
        for t in block["transactions"].as_array().expect("full transactions") {
            let hash = b256(&t["hash"]);
            if let Some((g, batch)) = self.pending.remove(&hash) {
                ours += 1;
                self.landed.entry(batch).or_default().insert(n);
                batches.insert(batch);
                txs.push(g);
            } else {
                self.foreign += 1;
                txs.push(foreign_tx(t));
            }
        }
        self.max_ours = self.max_ours.max(ours);
        self.mixed += u64::from(batches.len() > 1);
        if txs.is_empty() {
            self.empty += 1;
        }
        let receipts = receipts.as_array().expect("receipts");
        let hashes: Vec<B256> = receipts
            .iter()
            .map(|r| b256(&r["transactionHash"]))
            .collect();
        assert_eq!(
            hashes,
            txs.iter().map(|t| t.hash).collect::<Vec<_>>(),
            "node0: block {n}'s receipts (eth_getBlockReceipts) are not its transactions' \
             (eth_getBlockByNumber), in order"
        );
        let receipts: Vec<Option<Rcpt>> =
            receipts.iter().map(|r| Some(Rcpt::from_json(r))).collect();
        let miner = address(block["miner"].as_str().expect("miner"));
        self.miners.insert(miner);
        let replay = Replay {
            number: n,
            timestamp: hex_u64(&block["timestamp"]),
            coinbase: miner,
            base_fee: hex_u64(&block["baseFeePerGas"]),
            gas_limit: hex_u64(&block["gasLimit"]),
            txs,
        };
        let parley = ParleyBlock {
            hash: b256(&block["hash"]),
            gas_used: hex_u64(&block["gasUsed"]),
            receipts,
            touched: diff_touched(diff),
        };
        let node = &mut self.nodes[0];
        let before = format!("{:#x}", n - 1);
        self.checker.check(&replay, parley, |union| {
            let post = read_states(node, union, &tag);
            let pre = read_states(node, union, &before);
            let findings = diff_findings(diff, union, &pre, &post);
            (post, findings)
        });
    }
}

/// `parley_getStateDiff(n)` against the node's own state at n - 1 (`pre`) and n (`post`), for
/// every address and slot of `union` (which holds every entry of the diff): an entry is in the
/// diff exactly when its value changed, with those values before and after.
fn diff_findings(
    diff: &Value,
    union: &Touched,
    pre: &[AccState],
    post: &[AccState],
) -> Vec<String> {
    let mut by_address: BTreeMap<Address, &Value> = BTreeMap::new();
    for acc in diff["accounts"].as_array().expect("diff accounts") {
        by_address.insert(address(acc["address"].as_str().expect("address")), acc);
    }
    // An account's fields as the diff shows them: null when it does not exist (EIP-161 empty).
    let fields = |s: &AccState| {
        let empty = s.nonce == 0 && s.balance.is_zero() && s.code.is_empty();
        (!empty).then(|| {
            let code_hash = if s.code.is_empty() {
                KECCAK_EMPTY
            } else {
                keccak256(&s.code)
            };
            (s.nonce, s.balance, code_hash)
        })
    };
    let from_json = |v: &Value| {
        v.is_object().then(|| {
            (
                hex_u64(&v["nonce"]),
                hex_u256(&v["balance"]),
                b256(&v["codeHash"]),
            )
        })
    };
    let mut out = Vec::new();
    for (((a, slots), p), q) in union.iter().zip(pre).zip(post) {
        let entry = by_address.get(a);
        let (was, is) = (fields(p), fields(q));
        match entry.map(|e| &e["account"]).filter(|v| !v.is_null()) {
            None if was != is => out.push(format!(
                "parley_getStateDiff misses account {a}, which changed from {was:?} to {is:?}"
            )),
            Some(acc) => {
                let (b, f) = (from_json(&acc["before"]), from_json(&acc["after"]));
                if (b, f) != (was, is) {
                    out.push(format!(
                        "parley_getStateDiff says account {a} went from {b:?} to {f:?}; the \
                         node's state says {was:?} to {is:?}"
                    ));
                }
                let code = acc.get("code").map(hex_bytes);
                let new_code = (p.code != q.code && !q.code.is_empty()).then(|| q.code.clone());
                if code != new_code {
                    out.push(format!(
                        "parley_getStateDiff code of {a}: {code:?}, the node's state: {new_code:?}"
                    ));
                }
            }
            None => {}
        }
        let listed: BTreeMap<U256, (U256, U256)> = entry
            .and_then(|e| e["storage"].as_array())
            .into_iter()
            .flatten()
            .map(|s| {
                (
                    hex_u256(&s["slot"]),
                    (hex_u256(&s["before"]), hex_u256(&s["after"])),
                )
            })
            .collect();
        for ((s, x), y) in slots.iter().zip(&p.slots).zip(&q.slots) {
            match listed.get(s) {
                None if x != y => out.push(format!(
                    "parley_getStateDiff misses slot {s:#x} of {a}, which changed from {x:#x} to \
                     {y:#x}"
                )),
                Some(&(b, f)) if (b, f) != (*x, *y) => out.push(format!(
                    "parley_getStateDiff says slot {s:#x} of {a} went from {b:#x} to {f:#x}; \
                     the node's state says {x:#x} to {y:#x}"
                )),
                _ => {}
            }
        }
    }
    out
}

/// A transaction this test did not generate (another client's), re-encoded from its JSON.
fn foreign_tx(t: &Value) -> GenTx {
    let tx: alloy_rpc_types_eth::Transaction = serde_json::from_value(t.clone())
        .unwrap_or_else(|e| panic!("node0 sent a transaction object alloy cannot read: {e}: {t}"));
    let raw = Bytes::from(tx.inner.inner().encoded_2718());
    let hash = b256(&t["hash"]);
    assert_eq!(
        keccak256(&raw),
        hash,
        "re-encoding transaction {hash} from its JSON gives other bytes"
    );
    GenTx {
        raw,
        hash,
        from: tx.inner.signer(),
        what: "not generated by this test (another client's)".into(),
    }
}

/// Sets anvil's state to the localnet's genesis (`parley_getStateDiff(0)`); returns what it set.
fn seed_anvil(anvil: &mut Anvil, genesis: &Value) -> Touched {
    let mut calls: Vec<(&str, Value)> = Vec::new();
    for acc in genesis["accounts"].as_array().expect("genesis accounts") {
        let a = acc["address"].as_str().expect("address").to_string();
        let after = &acc["account"]["after"];
        assert!(
            after.is_object(),
            "genesis entry of {a} has no account after genesis: {acc}"
        );
        calls.push(("anvil_setBalance", json!([a, after["balance"]])));
        calls.push(("anvil_setNonce", json!([a, after["nonce"]])));
        if let Some(code) = acc["account"].get("code") {
            assert_eq!(
                keccak256(hex_bytes(code)),
                b256(&after["codeHash"]),
                "genesis code of {a} does not hash to its code hash"
            );
            calls.push(("anvil_setCode", json!([a, code])));
        }
        for s in acc["storage"].as_array().expect("storage") {
            calls.push(("anvil_setStorageAt", json!([a, s["slot"], s["after"]])));
        }
    }
    anvil.batch(&calls);
    diff_touched(genesis)
}

/// Sends `batches` generated batches, at most `in_flight` of them not yet fully included.
pub fn run(
    urls: &[String],
    seed: u64,
    batches: u64,
    in_flight: usize,
    timeout_s: u64,
    keep_going: bool,
) {
    assert!(in_flight >= 1, "PARLEY_DIFF_IN_FLIGHT must be at least 1");
    let started = now();
    let timeout = Duration::from_secs(timeout_s);
    let mut nodes: Vec<Rpc> = urls
        .iter()
        .enumerate()
        .map(|(i, u)| Rpc::from_url(&format!("node{i}"), u))
        .collect();
    let node0 = &mut nodes[0];
    let chain_id = hex_u64(&node0.call("eth_chainId", json!([])));
    assert_eq!(
        chain_id, CHAIN_ID,
        "the localnet's chain id: the generator signs for {CHAIN_ID}"
    );
    let g0 = node0.call("eth_getBlockByNumber", json!(["0x0", false]));
    assert!(g0.is_object(), "node0 has no block 0: {g0}");
    let deadline = now() + timeout;
    let b1 = loop {
        let b = node0.call("eth_getBlockByNumber", json!(["0x1", false]));
        if b.is_object() {
            break b;
        }
        assert!(
            now() < deadline,
            "the localnet made no block 1 in {timeout_s} s"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let genesis = node0.call("parley_getStateDiff", json!(["0x0"]));
    assert!(
        genesis.is_object(),
        "parley_getStateDiff(0) answered {genesis}: the node has no genesis diff"
    );

    // anvil, from the localnet's genesis (its own dev account 0 is one of the localnet's).
    let anvil_dir = tempfile::tempdir().expect("tempdir");
    let mut anvil = Anvil::start(
        anvil_dir.path(),
        chain_id,
        hex_u64(&g0["gasLimit"]),
        hex_u64(&g0["baseFeePerGas"]),
        hex_u64(&b1["timestamp"]),
    );
    let mut seeded = seed_anvil(&mut anvil, &genesis);
    let dev0 = parley_app::dev_accounts(1).expect("dev key")[0].address();
    if let std::collections::btree_map::Entry::Vacant(e) = seeded.entry(dev0) {
        anvil.call("anvil_setBalance", json!([dev0.to_string(), "0x0"]));
        e.insert(BTreeSet::new());
    }
    // The genesis, compared like a block: the localnet at 0 against anvil before block 1.
    let pstates = read_states(node0, &seeded, "0x0");
    let astates = read_states(&mut anvil, &seeded, "latest");
    let g_replay = Replay {
        number: 0,
        timestamp: 0,
        coinbase: Address::ZERO,
        base_fee: 0,
        gas_limit: 0,
        txs: vec![],
    };
    let mut report = crate::Report {
        seed,
        block: &g_replay,
        lines: Vec::new(),
        fixes: Vec::new(),
    };
    let n_genesis = compare_state(
        &mut report,
        &seeded,
        &seeded,
        &seeded,
        &pstates,
        &astates,
        &[],
        &[],
    );
    assert!(
        report.lines.is_empty(),
        "anvil's genesis differs from the localnet's:\n{}",
        report.lines.join("\n")
    );

    let mut checker = Checker::new(seed, keep_going, anvil, b256(&g0["hash"]));
    let first_url = urls[0].clone();
    checker.reproduce = Box::new(move |n| {
        format!(
            "  the localnet decided the grouping: block {n} can be inspected on {first_url} \
             (parley_getStateDiff, eth_getBlockByNumber); a rerun with PARLEY_DIFF_SEED={seed} \
             sends the same transactions but may group them differently\n"
        )
    });
    let mut net = Net {
        nodes,
        checker,
        next: 1,
        pending: BTreeMap::new(),
        miners: BTreeSet::new(),
        empty: 0,
        foreign: 0,
        max_ours: 0,
        mixed: 0,
        landed: BTreeMap::new(),
        seed,
        timeout,
    };

    // The senders: the first dev accounts, from their nonces on the localnet.
    let keys = parley_app::dev_accounts(SENDERS).expect("dev keys");
    let mut nonces = Vec::new();
    for k in &keys {
        let a = k.address().to_string();
        let got = net.node().batch(&[
            ("eth_getTransactionCount", json!([a, "latest"])),
            ("eth_getTransactionCount", json!([a, "pending"])),
        ]);
        let (latest, pending) = (hex_u64(&got[0]), hex_u64(&got[1]));
        assert_eq!(
            latest, pending,
            "sender {a} has transactions pending on the localnet; the test needs its senders \
             to itself"
        );
        nonces.push(latest);
    }
    let senders: Vec<Address> = keys.iter().map(|k| k.address()).collect();
    let mut generator = Gen::with_nonces(seed, keys, nonces);
    generator.future = FUTURE;

    let mut sent = 0usize;
    let first_block = net.head() + 1;
    for batch in 0..batches {
        net.wait_in_flight(in_flight - 1);
        let head = net.head();
        net.replay_to(head);
        generator.add_coinbases(net.miners.iter().copied());
        generator.set_number(head + 1);
        let b = generator.block();
        for (i, t) in b.txs.iter().enumerate() {
            // Each sender through one node, in nonce order.
            let k = senders.iter().position(|s| *s == t.from).expect("a sender");
            let node = k % net.nodes.len();
            let rpc = &mut net.nodes[node];
            let h = rpc
                .try_call("eth_sendRawTransaction", json!([t.raw.to_string()]))
                .unwrap_or_else(|e| {
                    panic!(
                        "seed {seed} batch {batch} tx {i} ({}): {} refused it: {e}",
                        t.what, rpc.name
                    )
                });
            assert_eq!(b256(&h), t.hash, "the node's tx hash");
            net.pending.insert(t.hash, (t.clone(), batch));
        }
        sent += b.txs.len();
    }
    net.wait_in_flight(0);
    let spread = net.landed.values().filter(|b| b.len() > 1).count();
    let head = net.head();
    net.replay_to(head);
    eprintln!(
        "differential (localnet): seed {seed}: {batches} batches of {sent} generated \
         transactions sent from block {first_block}; replayed blocks 1..={head}: {}; {} foreign \
         transactions, {} blocks without transactions, at most {} of ours in one block, {spread} \
         batches split over several blocks, {} blocks mixing two batches ({in_flight} in flight); \
         {n_genesis} genesis accounts; {} builders; in {:.1} s; {} divergent blocks",
        net.checker.summary(),
        net.foreign,
        net.empty,
        net.max_ours,
        net.mixed,
        net.miners.len(),
        started.elapsed().as_secs_f64(),
        net.checker.bad_blocks
    );
    net.checker.finish();
}
