//! Differential test: Parley's execution against anvil (Foundry 1.7.1, the reference EVM node),
//! block by block, over seeded blocks of *dependent* transactions (DESIGN §2, "Block overlay").
//!
//! A seeded generator ([`blocks`]) produces blocks of signed transactions from several senders
//! (consecutive nonces, legacy / EIP-2930 / EIP-1559, with and without access lists) against
//! hand-assembled script contracts ([`asm`]): SSTORE/SLOAD of the same slots across the
//! transactions of one block (one writes, a later one only reads), transient storage, CREATE and
//! CREATE2 (re-creation, collisions, constructors that self-destruct or revert or deploy no code),
//! SELFDESTRUCT in the creating transaction and in a later one (EIP-6780), value transfers to
//! fresh and to destroyed addresses, reverts / INVALID / out-of-gas in nested calls and at the
//! top, LOG0..LOG4, environment opcodes, BLOCKHASH and the precompiles 0x01..0x09.
//!
//! Two modes, one comparison:
//!
//! - **In-process** (`parley_matches_anvil`): each block is built here (so its grouping and
//!   order are exactly the generator's) and goes through ProcessProposal (must accept),
//!   FinalizeBlock and Commit of an in-process `App`.
//! - **Localnet** (`localnet_matches_anvil`, ignored unless asked for; [`localnet`]): the same
//!   generator's blocks are *batches* sent with `eth_sendRawTransaction` to a running localnet
//!   (each sender pinned to one node, its transactions in nonce order); the localnet's proposers
//!   decide the real grouping and order. Every localnet block from 1 on (empty ones and other
//!   clients' transactions too) is read back (`eth_getBlockByNumber` with full transactions)
//!   and replayed on anvil with that grouping, order and header (timestamp, miner, base fee,
//!   gas limit), so block numbers line up. anvil's genesis is the localnet's: every entry of
//!   `parley_getStateDiff(0)` (dev accounts, predeploys) is set on it and compared before block 1.
//!   Parley's side is read over the node's JSON-RPC at that block number (receipts, state at a
//!   past block, `parley_getStateDiff`); the diff itself must name exactly the entries whose
//!   value differs between the node's state at n - 1 and at n, with those values.
//!
//! In both, anvil (`--no-mining --order fifo --hardfork prague`) gets the block's timestamp,
//! coinbase, base fee and gas limit and its raw transactions in order, then `evm_mine`; the test
//! checks it mined exactly those transactions in that order. Then, for every address that
//! either side says changed (anvil's `debug_traceBlockByNumber` prestate diff, Parley's state
//! diff), balance, nonce, code and each storage slot named by either side must be equal; every
//! receipt (status, gas used, cumulative gas, effective gas price, logs, contract address,
//! position) and the block's gas used must be equal.
//! Slots holding `BLOCKHASH(n - 1)` are compared with each chain's own hash of block n - 1;
//! BLOCKHASH is only used from block 2 on, because Parley's genesis block hash is zero (anvil's
//! is not), so BLOCKHASH(0) differs by design and storing it would even cost different gas. On
//! a localnet the generator only knows a lower bound of the block a transaction lands in, so it
//! asks BLOCKHASH of "future" blocks a million blocks ahead (zero on both chains).
//! PREVRANDAO is never read by the contracts: anvil 1.7.1 has no way to set it
//! (`anvil_setNextBlockPrevRandao` does not exist there; each block's mixHash is random).
//!
//! Needs anvil: `$ANVIL_BIN` or `<repo>/.tools/bin/anvil` (`bash scripts/tools.sh`); the test
//! fails, it does not skip, when anvil is missing.
//!
//! Knobs: `PARLEY_DIFF_BLOCKS` (in-process blocks, default 200), `PARLEY_DIFF_SEED` (default 1),
//! `PARLEY_DIFF_VERBOSE=1` (print every receipt's outcome), `PARLEY_DIFF_KEEP_GOING=1` (report
//! every divergent block and fail at the end, instead of failing at the first; after a
//! divergent block anvil's diverging entries are set to Parley's values with `anvil_set*`, so
//! each later block's findings are its own rather than echoes). Localnet mode:
//! `PARLEY_DIFF_RPC` (comma-separated JSON-RPC URLs of the nodes, the first is read; required),
//! `PARLEY_DIFF_BATCHES` (generated batches, default 60), `PARLEY_DIFF_IN_FLIGHT` (batches
//! sent before the earlier ones are fully included, default 2: the next batch goes out while the
//! previous may still be pending, so blocks mix batches), `PARLEY_DIFF_TIMEOUT` (seconds without
//! any of the test's transactions being included before it fails naming the missing ones,
//! default 60). The long runs:
//!
//! ```text
//! PARLEY_DIFF_BLOCKS=5000 cargo test --release -p parley-app --test differential -- --nocapture
//!
//! localnet/localnet.sh up
//! PARLEY_DIFF_RPC=http://127.0.0.1:8545,http://127.0.0.1:8546,http://127.0.0.1:8547,http://127.0.0.1:8548 \
//!   PARLEY_DIFF_BATCHES=300 cargo test --release -p parley-app --test differential \
//!   -- --ignored --exact localnet_matches_anvil --nocapture
//! localnet/localnet.sh down
//! ```

#[path = "differential/anvil.rs"]
mod anvil;
#[path = "differential/asm.rs"]
mod asm;
#[path = "differential/blocks.rs"]
mod blocks;
#[path = "differential/client.rs"]
mod client;
#[path = "differential/localnet.rs"]
mod localnet;

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use parley_app::app::App;
use parley_app::chain::block::{L2Block, L2Header, Message, tx_root};
use parley_app::chain::genesis::{AppGenesis, Params};
use parley_app::chain::rules::Verdict;
use parley_app::store::{Reader, Store};
use parley_types::{KECCAK_EMPTY, StateKey};
use serde_json::{Value, json};

use crate::anvil::Anvil;
use crate::blocks::{CHAIN_ID, GenBlock, GenTx, T0};
use crate::client::Rpc;

/// Genesis balance of every sender on both chains.
const BALANCE: u128 = 1_000_000_000_000_000_000_000_000;
/// Senders.
const SENDERS: u32 = 6;

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{name}={v:?} is not a number: {e}")),
        Err(_) => default,
    }
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v != "0")
}

#[test]
fn parley_matches_anvil() {
    let blocks = env_u64("PARLEY_DIFF_BLOCKS", 200);
    let seed = env_u64("PARLEY_DIFF_SEED", 1);
    run(seed, blocks, env_flag("PARLEY_DIFF_KEEP_GOING"));
}

#[test]
#[ignore = "needs a running localnet: PARLEY_DIFF_RPC=http://127.0.0.1:8545 (tests/e2e/run.sh)"]
fn localnet_matches_anvil() {
    let urls: Vec<String> = std::env::var("PARLEY_DIFF_RPC")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(String::from)
        .collect();
    assert!(
        !urls.is_empty(),
        "set PARLEY_DIFF_RPC to the localnet's JSON-RPC URLs (comma-separated, the first is \
         read), e.g. http://127.0.0.1:8545 after `localnet/localnet.sh up`"
    );
    let batches = env_u64("PARLEY_DIFF_BATCHES", 60);
    let seed = env_u64("PARLEY_DIFF_SEED", 1);
    let in_flight = env_u64("PARLEY_DIFF_IN_FLIGHT", 2);
    let timeout = env_u64("PARLEY_DIFF_TIMEOUT", 60);
    localnet::run(
        &urls,
        seed,
        batches,
        usize::try_from(in_flight).expect("PARLEY_DIFF_IN_FLIGHT"),
        timeout,
        env_flag("PARLEY_DIFF_KEEP_GOING"),
    );
}

// ---- JSON helpers ----

fn hex_u256(v: &Value) -> U256 {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("expected a hex string, got {v}"));
    let h = s.trim_start_matches("0x");
    if h.is_empty() {
        return U256::ZERO;
    }
    U256::from_str_radix(h, 16).unwrap_or_else(|e| panic!("bad hex {s}: {e}"))
}

fn hex_u64(v: &Value) -> u64 {
    u64::try_from(hex_u256(v)).unwrap_or_else(|_| panic!("{v} does not fit u64"))
}

fn hex_bytes(v: &Value) -> Bytes {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("expected hex bytes, got {v}"));
    Bytes::from_str(s).unwrap_or_else(|e| panic!("bad hex bytes {s}: {e}"))
}

fn address(s: &str) -> Address {
    Address::from_str(s).unwrap_or_else(|e| panic!("bad address {s}: {e}"))
}

fn b256(v: &Value) -> B256 {
    B256::from(hex_u256(v))
}

// ---- one block, both sides ----

/// Touched entries: address → slots (an address with no slots still counts).
type Touched = BTreeMap<Address, BTreeSet<U256>>;

/// A block as anvil is asked to mine it: header inputs and the transactions in order.
struct Replay {
    number: u64,
    timestamp: u64,
    coinbase: Address,
    base_fee: u64,
    gas_limit: u64,
    txs: Vec<GenTx>,
}

/// The compared fields of a receipt, from either side.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rcpt {
    block: u64,
    index: u64,
    success: bool,
    gas_used: u64,
    cumulative: u64,
    price: U256,
    contract: Option<Address>,
    logs: Vec<(Address, Vec<B256>, Bytes)>,
}

impl Rcpt {
    /// From an `eth_getTransactionReceipt` object.
    fn from_json(a: &Value) -> Self {
        Self {
            block: hex_u64(&a["blockNumber"]),
            index: hex_u64(&a["transactionIndex"]),
            success: hex_u64(&a["status"]) == 1,
            gas_used: hex_u64(&a["gasUsed"]),
            cumulative: hex_u64(&a["cumulativeGasUsed"]),
            price: hex_u256(&a["effectiveGasPrice"]),
            contract: a["contractAddress"].as_str().map(address),
            logs: a["logs"]
                .as_array()
                .expect("logs")
                .iter()
                .map(|l| {
                    (
                        address(l["address"].as_str().expect("log address")),
                        l["topics"]
                            .as_array()
                            .expect("topics")
                            .iter()
                            .map(b256)
                            .collect(),
                        hex_bytes(&l["data"]),
                    )
                })
                .collect(),
        }
    }
}

/// One account on one side: balance, nonce, code and the values of the compared slots.
struct AccState {
    balance: U256,
    nonce: u64,
    code: Bytes,
    slots: Vec<U256>,
}

/// Reads `union`'s accounts and slots at `block` (a number or tag) over JSON-RPC.
fn read_states(rpc: &mut Rpc, union: &Touched, block: &str) -> Vec<AccState> {
    let mut calls: Vec<(&str, Value)> = Vec::new();
    for (a, slots) in union {
        let a = a.to_string();
        calls.push(("eth_getBalance", json!([a, block])));
        calls.push(("eth_getTransactionCount", json!([a, block])));
        calls.push(("eth_getCode", json!([a, block])));
        for s in slots {
            calls.push(("eth_getStorageAt", json!([a, format!("{s:#x}"), block])));
        }
    }
    let answers = rpc.batch(&calls);
    let mut it = answers.iter();
    let mut next = || it.next().expect("one answer per call");
    union
        .values()
        .map(|slots| AccState {
            balance: hex_u256(next()),
            nonce: hex_u64(next()),
            code: hex_bytes(next()),
            slots: slots.iter().map(|_| hex_u256(next())).collect(),
        })
        .collect()
}

/// Parley's side of one block.
struct ParleyBlock {
    hash: B256,
    gas_used: u64,
    /// One per transaction of the block (`None`: Parley has no receipt for it).
    receipts: Vec<Option<Rcpt>>,
    /// Parley's state diff of the block.
    touched: Touched,
}

/// What anvil mined for one block.
struct Mined {
    hash: B256,
    gas_used: u64,
    receipts: Vec<Value>,
    /// anvil's prestate diff.
    touched: Touched,
}

fn anvil_block(anvil: &mut Anvil, seed: u64, b: &Replay) -> Mined {
    anvil.batch(&[
        ("evm_setNextBlockTimestamp", json!([b.timestamp])),
        (
            "anvil_setNextBlockBaseFeePerGas",
            json!([format!("{:#x}", b.base_fee)]),
        ),
        ("anvil_setCoinbase", json!([b.coinbase.to_string()])),
        (
            "evm_setBlockGasLimit",
            json!([format!("{:#x}", b.gas_limit)]),
        ),
    ]);
    // One by one, in order: the FIFO pool orders by arrival.
    for (i, t) in b.txs.iter().enumerate() {
        let h = anvil
            .try_call("eth_sendRawTransaction", json!([t.raw.to_string()]))
            .unwrap_or_else(|e| {
                panic!(
                    "seed {seed} block {} tx {i} ({}): anvil refused it: {e}",
                    b.number, t.what
                )
            });
        assert_eq!(b256(&h), t.hash, "anvil's tx hash");
    }
    anvil.call("evm_mine", json!([]));
    let n = format!("{:#x}", b.number);
    let block = anvil.call("eth_getBlockByNumber", json!([n, false]));
    assert_eq!(
        hex_u64(&block["number"]),
        b.number,
        "anvil mined another block number"
    );
    let mined: Vec<B256> = block["transactions"]
        .as_array()
        .expect("transactions")
        .iter()
        .map(b256)
        .collect();
    let ours: Vec<B256> = b.txs.iter().map(|t| t.hash).collect();
    assert_eq!(
        mined,
        ours,
        "seed {seed} block {}: anvil did not mine exactly our transactions in our order \
         (pool left: {})",
        b.number,
        anvil.call("txpool_content", json!([]))
    );
    assert_eq!(
        hex_u64(&block["baseFeePerGas"]),
        b.base_fee,
        "anvil's base fee"
    );
    assert_eq!(
        hex_u64(&block["timestamp"]),
        b.timestamp,
        "anvil's timestamp"
    );
    assert_eq!(address(block["miner"].as_str().expect("miner")), b.coinbase);
    let receipts = anvil.batch(
        &b.txs
            .iter()
            .map(|t| ("eth_getTransactionReceipt", json!([t.hash.to_string()])))
            .collect::<Vec<_>>(),
    );
    let trace = anvil.call(
        "debug_traceBlockByNumber",
        json!([n, {"tracer": "prestateTracer", "tracerConfig": {"diffMode": true}}]),
    );
    let mut touched = Touched::new();
    for item in trace.as_array().expect("trace array") {
        let r = &item["result"];
        for side in ["pre", "post"] {
            let Some(accounts) = r[side].as_object() else {
                continue;
            };
            for (a, acc) in accounts {
                let slots = touched.entry(address(a)).or_default();
                if let Some(st) = acc["storage"].as_object() {
                    for k in st.keys() {
                        slots.insert(hex_u256(&Value::String(k.clone())));
                    }
                }
            }
        }
    }
    Mined {
        hash: b256(&block["hash"]),
        gas_used: hex_u64(&block["gasUsed"]),
        receipts,
        touched,
    }
}

/// Formats divergences of one block.
struct Report<'a> {
    seed: u64,
    block: &'a Replay,
    lines: Vec<String>,
    /// anvil calls that set the diverging entries to Parley's values (`KEEP_GOING` resync).
    fixes: Vec<(&'static str, Value)>,
}

impl Report<'_> {
    fn tx(
        &mut self,
        i: usize,
        what: &str,
        parley: impl std::fmt::Debug,
        anvil: impl std::fmt::Debug,
    ) {
        let t = &self.block.txs[i];
        self.lines.push(format!(
            "seed {} block {} tx {i} {} ({}): {what}: parley {parley:?} != anvil {anvil:?}",
            self.seed, self.block.number, t.hash, t.what
        ));
    }

    fn state(&mut self, what: String, parley: impl std::fmt::Debug, anvil: impl std::fmt::Debug) {
        self.lines.push(format!(
            "seed {} block {}: {what}: parley {parley:?} != anvil {anvil:?}",
            self.seed, self.block.number
        ));
    }
}

fn compare_receipts(r: &mut Report<'_>, parley: &ParleyBlock, mined: &Mined) {
    let number = r.block.number;
    if parley.gas_used != mined.gas_used {
        r.state("block gas used".into(), parley.gas_used, mined.gas_used);
    }
    for (i, a) in mined.receipts.iter().enumerate() {
        let a = Rcpt::from_json(a);
        let Some(p) = &parley.receipts[i] else {
            r.tx(i, "executed", "skipped as invalid (no receipt)", "included");
            continue;
        };
        if (p.block, p.index) != (number, i as u64) || (a.block, a.index) != (number, i as u64) {
            r.tx(i, "position", (p.block, p.index), (a.block, a.index));
        }
        if p.success != a.success {
            r.tx(i, "status", p.success, a.success);
        }
        if p.gas_used != a.gas_used {
            r.tx(i, "gasUsed", p.gas_used, a.gas_used);
        }
        if p.cumulative != a.cumulative {
            r.tx(i, "cumulativeGasUsed", p.cumulative, a.cumulative);
        }
        if p.price != a.price {
            r.tx(i, "effectiveGasPrice", p.price, a.price);
        }
        if p.contract != a.contract {
            r.tx(
                i,
                "contractAddress",
                format!("{:?} (status {})", p.contract, p.success),
                format!("{:?} (status {})", a.contract, a.success),
            );
        }
        if p.logs != a.logs {
            r.tx(i, "logs", &p.logs, &a.logs);
        }
    }
}

/// Compares `union` (the union of both sides' touched sets) account by account; returns the
/// number of accounts compared.
#[allow(clippy::too_many_arguments)]
fn compare_state(
    r: &mut Report<'_>,
    union: &Touched,
    ptouched: &Touched,
    atouched: &Touched,
    pstates: &[AccState],
    astates: &[AccState],
    parley_hashes: &[B256],
    anvil_hashes: &[B256],
) -> usize {
    let bh_lo = asm::bh_base();
    let bh_hi = bh_lo + U256::from(u64::MAX);
    let named = |a: &Address, s: Option<&U256>| {
        let on = |t: &Touched| match s {
            None => t.contains_key(a),
            Some(s) => t.get(a).is_some_and(|x| x.contains(s)),
        };
        match (on(atouched), on(ptouched)) {
            (true, true) => "both",
            (true, false) => "anvil only",
            (false, true) => "parley only",
            (false, false) => "neither",
        }
    };
    for (((a, slots), p), x) in union.iter().zip(pstates).zip(astates) {
        let who = format!("account {a} (named by {})", named(a, None));
        let at = a.to_string();
        if p.balance != x.balance {
            r.state(format!("{who} balance"), p.balance, x.balance);
            r.fixes
                .push(("anvil_setBalance", json!([at, format!("{:#x}", p.balance)])));
        }
        if p.nonce != x.nonce {
            r.state(format!("{who} nonce"), p.nonce, x.nonce);
            r.fixes
                .push(("anvil_setNonce", json!([at, format!("{:#x}", p.nonce)])));
        }
        if p.code != x.code {
            r.fixes
                .push(("anvil_setCode", json!([at, p.code.to_string()])));
            r.state(
                format!("{who} code"),
                format!("{} bytes, hash {}", p.code.len(), keccak256(&p.code)),
                format!("{} bytes, hash {}", x.code.len(), keccak256(&x.code)),
            );
        }
        for ((s, pv), v) in slots.iter().zip(&p.slots).zip(&x.slots) {
            let (pv, v) = (*pv, *v);
            let named = named(a, Some(s));
            if (bh_lo..bh_hi).contains(s) {
                // BLOCKHASH(k) at BH_BASE + k: each chain against its own hash of block k.
                let k = usize::try_from(*s - bh_lo).expect("block number");
                let own_anvil = B256::from(v);
                assert!(
                    v.is_zero() || own_anvil == anvil_hashes[k],
                    "harness: anvil's BLOCKHASH({k}) slot of {a} holds {own_anvil}, its block \
                     hash is {}",
                    anvil_hashes[k]
                );
                let want = if v.is_zero() {
                    B256::ZERO
                } else {
                    parley_hashes[k]
                };
                if B256::from(pv) != want {
                    let fixed = if pv.is_zero() {
                        B256::ZERO
                    } else {
                        anvil_hashes[k]
                    };
                    r.fixes.push((
                        "anvil_setStorageAt",
                        json!([at, format!("{s:#x}"), fixed.to_string()]),
                    ));
                    r.state(
                        format!("account {a} slot {s:#x} = BLOCKHASH({k}) (named by {named})"),
                        B256::from(pv),
                        format!("{own_anvil} (Parley's own hash of block {k}: {want})"),
                    );
                }
            } else if pv != v {
                r.state(format!("account {a} slot {s:#x} (named by {named})"), pv, v);
                r.fixes.push((
                    "anvil_setStorageAt",
                    json!([at, format!("{s:#x}"), B256::from(pv).to_string()]),
                ));
            }
        }
    }
    union.len()
}

/// Outcome counts (from anvil's receipts), printed at the end.
#[derive(Default)]
struct Stats {
    ok: usize,
    logs: usize,
    created: usize,
}

/// Mines each block on anvil, compares it with Parley's, keeps the counts and the verdict.
struct Checker {
    seed: u64,
    keep_going: bool,
    verbose: bool,
    anvil: Anvil,
    /// Each chain's block hashes by number, from genesis.
    parley_hashes: Vec<B256>,
    anvil_hashes: Vec<B256>,
    blocks: u64,
    txs: usize,
    accounts: usize,
    bad_blocks: u64,
    stats: Stats,
    first_bad: Option<String>,
    /// How to reproduce a divergence of block n (for the message).
    reproduce: Box<dyn Fn(u64) -> String>,
}

impl Checker {
    fn new(seed: u64, keep_going: bool, mut anvil: Anvil, parley_genesis: B256) -> Self {
        let genesis = anvil.call("eth_getBlockByNumber", json!(["0x0", false]));
        Self {
            seed,
            keep_going,
            verbose: env_flag("PARLEY_DIFF_VERBOSE"),
            anvil_hashes: vec![b256(&genesis["hash"])],
            anvil,
            parley_hashes: vec![parley_genesis],
            blocks: 0,
            txs: 0,
            accounts: 0,
            bad_blocks: 0,
            stats: Stats::default(),
            first_bad: None,
            reproduce: Box::new(|_| String::new()),
        }
    }

    /// Mines `b` on anvil and compares it with Parley's `parley` block; `read_parley` reads
    /// Parley's accounts and slots after the block, and may add findings of its own.
    fn check(
        &mut self,
        b: &Replay,
        parley: ParleyBlock,
        read_parley: impl FnOnce(&Touched) -> (Vec<AccState>, Vec<String>),
    ) {
        let seed = self.seed;
        assert_eq!(
            self.parley_hashes.len() as u64,
            b.number,
            "harness: blocks must be checked in order from 1"
        );
        assert_eq!(
            parley.receipts.len(),
            b.txs.len(),
            "one receipt slot per tx"
        );
        let mined = anvil_block(&mut self.anvil, seed, b);
        self.parley_hashes.push(parley.hash);
        self.anvil_hashes.push(mined.hash);

        let mut report = Report {
            seed,
            block: b,
            lines: Vec::new(),
            fixes: Vec::new(),
        };
        compare_receipts(&mut report, &parley, &mined);
        let mut union = mined.touched.clone();
        for (a, slots) in &parley.touched {
            union.entry(*a).or_default().extend(slots.iter().copied());
        }
        let (pstates, findings) = read_parley(&union);
        for f in findings {
            report
                .lines
                .push(format!("seed {seed} block {}: {f}", b.number));
        }
        let astates = read_states(&mut self.anvil, &union, &format!("{:#x}", b.number));
        self.accounts += compare_state(
            &mut report,
            &union,
            &parley.touched,
            &mined.touched,
            &pstates,
            &astates,
            &self.parley_hashes,
            &self.anvil_hashes,
        );
        self.blocks += 1;
        self.txs += b.txs.len();
        for (i, a) in mined.receipts.iter().enumerate() {
            let ok = hex_u64(&a["status"]) == 1;
            let logs = a["logs"].as_array().map_or(0, Vec::len);
            self.stats.ok += usize::from(ok);
            self.stats.logs += logs;
            self.stats.created += usize::from(ok && a["contractAddress"].is_string());
            if self.verbose {
                eprintln!(
                    "block {} tx {i}: status {} gas {} logs {logs}: {}",
                    b.number,
                    u8::from(ok),
                    hex_u64(&a["gasUsed"]),
                    b.txs[i].what
                );
            }
        }
        if report.lines.is_empty() {
            return;
        }
        self.bad_blocks += 1;
        let mut msg = format!(
            "DIVERGENCE: seed {seed} block {} ({} txs, {} findings):\n",
            b.number,
            b.txs.len(),
            report.lines.len()
        );
        for l in report.lines.iter().take(60) {
            msg.push_str("  ");
            msg.push_str(l);
            msg.push('\n');
        }
        msg.push_str("  the block's transactions:\n");
        for (i, t) in b.txs.iter().enumerate() {
            msg.push_str(&format!("    {i}: {} from {} {}\n", t.hash, t.from, t.what));
        }
        msg.push_str(&(self.reproduce)(b.number));
        if !self.keep_going {
            panic!("{msg}");
        }
        eprintln!("{msg}");
        self.first_bad.get_or_insert(msg);
        // Start the next block from equal states, so that its findings are its own.
        assert!(
            !report
                .lines
                .iter()
                .any(|l| l.contains("skipped as invalid")),
            "Parley skipped a transaction anvil executed: later nonces cannot line up\n{}",
            report.lines.join("\n")
        );
        self.anvil.batch(&report.fixes);
    }

    /// "N blocks, M transactions (…), K account comparisons".
    fn summary(&self) -> String {
        format!(
            "{} blocks, {} transactions ({} succeeded, {} failed; {} logs; {} contracts created \
             by transactions), {} account comparisons against anvil",
            self.blocks,
            self.txs,
            self.stats.ok,
            self.txs - self.stats.ok,
            self.stats.logs,
            self.stats.created,
            self.accounts
        )
    }

    /// Fails if any block diverged (`KEEP_GOING`).
    fn finish(self) {
        if let Some(msg) = self.first_bad {
            panic!("{} divergent blocks; the first:\n{msg}", self.bad_blocks);
        }
    }
}

// ---- in-process ----

struct Parley {
    _dir: tempfile::TempDir,
    app: App,
    params: Params,
}

impl Parley {
    fn start(addrs: &[Address]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("parley.redb")).expect("store opens");
        let app = App::new(store, Address::repeat_byte(0xcb)).expect("app starts");
        let params = Params {
            chain_id: CHAIN_ID,
            ..Params::default()
        };
        let genesis =
            AppGenesis::funded(params.clone(), addrs.iter().copied(), U256::from(BALANCE));
        app.init_chain(&serde_json::to_vec(&genesis).expect("genesis json"), 1)
            .expect("init_chain");
        Self {
            _dir: dir,
            app,
            params,
        }
    }

    fn reader(&self) -> Reader {
        self.app.store().reader().expect("reader")
    }

    /// Proposes, finalizes and commits `b`; returns the header's base fee.
    fn execute(&self, seed: u64, b: &GenBlock) -> u64 {
        let meta = self.reader().meta().expect("meta");
        let header = L2Header {
            chain_id: self.params.chain_id,
            number: b.number,
            parent_hash: meta.last_block_hash,
            timestamp: b.timestamp,
            builder: b.coinbase,
            base_fee: meta.next_base_fee,
            gas_limit: self.params.block_gas_limit,
            tx_root: tx_root(b.txs.iter().map(|t| t.hash)),
        };
        let base_fee = header.base_fee;
        let msg = Bytes::from(
            Message::ProposerBlock(L2Block {
                header,
                txs: b.txs.iter().map(|t| t.raw.clone()).collect(),
            })
            .encode(),
        );
        // The CometBFT block hash, which exec uses as PREVRANDAO (unread by the contracts).
        let cometbft_hash = keccak256([seed.to_be_bytes(), b.number.to_be_bytes()].concat());
        let verdict = self
            .app
            .process_proposal(
                b.number,
                b.timestamp,
                cometbft_hash,
                std::slice::from_ref(&msg),
                &Default::default(),
            )
            .expect("process_proposal");
        assert_eq!(
            verdict,
            Verdict::Accept,
            "seed {seed} block {}: Parley rejected the block",
            b.number
        );
        self.app
            .finalize_block(
                b.number,
                b.timestamp,
                cometbft_hash,
                &[msg],
                &Default::default(),
            )
            .expect("finalize_block");
        self.app.commit().expect("commit");
        base_fee
    }
}

/// Parley's block `b` as the in-process store has it.
fn parley_block(reader: &Reader, b: &Replay) -> ParleyBlock {
    let record = reader.block(b.number).expect("read").expect("parley block");
    let receipts = b
        .txs
        .iter()
        .map(|t| {
            reader.tx(&t.hash).expect("read").map(|p| Rcpt {
                block: p.block_number,
                index: p.index as u64,
                success: p.receipt.success,
                gas_used: p.receipt.gas_used,
                cumulative: p.receipt.cumulative_gas_used,
                price: U256::from(p.receipt.effective_gas_price),
                contract: p.receipt.contract_address,
                logs: p
                    .receipt
                    .logs
                    .iter()
                    .map(|l| (l.address, l.topics().to_vec(), l.data.data.clone()))
                    .collect(),
            })
        })
        .collect();
    let mut touched = Touched::new();
    let diff = reader
        .diff(b.number)
        .expect("read")
        .unwrap_or_else(|| panic!("Parley has no diff for block {}", b.number));
    for e in &diff.0 {
        match e.key {
            StateKey::Account(a) => {
                touched.entry(a).or_default();
            }
            StateKey::Storage(a, s) => {
                touched.entry(a).or_default().insert(s);
            }
            // Diffs hold EVM entries only.
            _ => {}
        }
    }
    ParleyBlock {
        hash: record.hash,
        gas_used: record.gas_used,
        receipts,
        touched,
    }
}

/// Parley's accounts and slots in `union`, from the in-process store (latest state).
fn parley_states(reader: &Reader, union: &Touched) -> Vec<AccState> {
    union
        .iter()
        .map(|(a, slots)| {
            let (nonce, balance, code) = match reader.account(*a).expect("read") {
                Some((acc, _)) => {
                    let code = if acc.code_hash == KECCAK_EMPTY {
                        Bytes::new()
                    } else {
                        reader
                            .code(&acc.code_hash)
                            .expect("read")
                            .unwrap_or_else(|| panic!("Parley lost the code of {a}"))
                    };
                    (acc.nonce, acc.balance, code)
                }
                None => (0, U256::ZERO, Bytes::new()),
            };
            AccState {
                balance,
                nonce,
                code,
                slots: slots
                    .iter()
                    .map(|s| reader.storage(*a, *s).expect("read"))
                    .collect(),
            }
        })
        .collect()
}

fn run(seed: u64, n_blocks: u64, keep_going: bool) {
    #[allow(clippy::disallowed_methods)] // test timing only
    let started = std::time::Instant::now();
    let keys = parley_app::dev_accounts(SENDERS).expect("dev keys");
    let addrs: Vec<Address> = keys.iter().map(|k| k.address()).collect();
    let parley = Parley::start(&addrs);
    let params = parley.params.clone();

    let anvil_dir = tempfile::tempdir().expect("tempdir");
    let mut anvil = Anvil::start(
        anvil_dir.path(),
        CHAIN_ID,
        params.block_gas_limit,
        params.initial_base_fee,
        T0,
    );
    anvil.batch(
        &addrs
            .iter()
            .map(|a| {
                (
                    "anvil_setBalance",
                    json!([a.to_string(), format!("{:#x}", U256::from(BALANCE))]),
                )
            })
            .collect::<Vec<_>>(),
    );
    let parley_genesis = parley
        .reader()
        .block(0)
        .expect("read")
        .expect("genesis")
        .hash;
    let mut checker = Checker::new(seed, keep_going, anvil, parley_genesis);
    checker.reproduce = Box::new(move |n| {
        format!(
            "  reproduce: PARLEY_DIFF_SEED={seed} PARLEY_DIFF_BLOCKS={n} cargo test --release \
             -p parley-app --test differential -- --nocapture\n"
        )
    });

    let mut generator = blocks::Gen::new(seed, keys);
    for _ in 0..n_blocks {
        let b = generator.block();
        let base_fee = parley.execute(seed, &b);
        let replay = Replay {
            number: b.number,
            timestamp: b.timestamp,
            coinbase: b.coinbase,
            base_fee,
            gas_limit: params.block_gas_limit,
            txs: b.txs,
        };
        let reader = parley.reader();
        let pb = parley_block(&reader, &replay);
        checker.check(&replay, pb, |union| (parley_states(&reader, union), vec![]));
    }
    eprintln!(
        "differential: seed {seed}: {} in {:.1} s; {} divergent blocks",
        checker.summary(),
        started.elapsed().as_secs_f64(),
        checker.bad_blocks
    );
    checker.finish();
}
