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
//! Parley runs in-process: each block is built here (so its grouping and order are exactly the
//! generator's) and goes through ProcessProposal (must accept), FinalizeBlock and Commit. anvil
//! (`--no-mining --order fifo --hardfork prague`) gets the same timestamp, coinbase, base fee
//! and gas limit, the same raw transactions in the same order, then `evm_mine`; the test checks
//! it mined exactly those transactions in that order.
//!
//! After every block, for every address that either side says changed (anvil's
//! `debug_traceBlockByNumber` prestate diff, Parley's state diff), balance, nonce, code and each
//! storage slot named by either side must be equal; every receipt (status, gas used, cumulative
//! gas, effective gas price, logs, contract address) and the block's gas used must be equal.
//! Slots holding `BLOCKHASH(n - 1)` are compared with each chain's own hash of block n - 1;
//! BLOCKHASH is only used from block 2 on, because Parley's genesis block hash is zero (anvil's
//! is not), so BLOCKHASH(0) differs by design and storing it would even cost different gas.
//! PREVRANDAO is never read by the contracts: anvil 1.7.1 has no way to set it
//! (`anvil_setNextBlockPrevRandao` does not exist there; each block's mixHash is random).
//!
//! Needs anvil: `$ANVIL_BIN` or `<repo>/.tools/bin/anvil` (`bash scripts/tools.sh`); the test
//! fails, it does not skip, when anvil is missing.
//!
//! Knobs: `PARLEY_DIFF_BLOCKS` (default 200), `PARLEY_DIFF_SEED` (default 1),
//! `PARLEY_DIFF_VERBOSE=1` (print every receipt's outcome), `PARLEY_DIFF_KEEP_GOING=1` (report
//! every divergent block and fail at the end, instead of failing at the first; after a
//! divergent block anvil's diverging entries are set to Parley's values with `anvil_set*`, so
//! each later block's findings are its own rather than echoes). The long run:
//!
//! ```text
//! PARLEY_DIFF_BLOCKS=5000 cargo test --release -p parley-app --test differential -- --nocapture
//! ```

#[path = "differential/anvil.rs"]
mod anvil;
#[path = "differential/asm.rs"]
mod asm;
#[path = "differential/blocks.rs"]
mod blocks;

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use parley_app::app::{App, Verdict};
use parley_app::block::{L2Block, L2Header, Message, tx_root};
use parley_app::genesis::{AppGenesis, Params};
use parley_app::storage::{Reader, Store};
use parley_types::{KECCAK_EMPTY, StateKey};
use serde_json::{Value, json};

use crate::anvil::Anvil;
use crate::blocks::{CHAIN_ID, GenBlock, T0};

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

#[test]
fn parley_matches_anvil() {
    let blocks = env_u64("PARLEY_DIFF_BLOCKS", 200);
    let seed = env_u64("PARLEY_DIFF_SEED", 1);
    let keep_going = std::env::var("PARLEY_DIFF_KEEP_GOING").is_ok_and(|v| v != "0");
    run(seed, blocks, keep_going);
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

// ---- the run ----

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
            )
            .expect("process_proposal");
        assert_eq!(
            verdict,
            Verdict::Accept,
            "seed {seed} block {}: Parley rejected the block",
            b.number
        );
        self.app
            .finalize_block(b.number, b.timestamp, cometbft_hash, &[msg])
            .expect("finalize_block");
        self.app.commit().expect("commit");
        base_fee
    }
}

/// What anvil mined for one block.
struct Mined {
    hash: B256,
    gas_used: u64,
    receipts: Vec<Value>,
    /// Address → slots anvil's prestate diff names (an address with no slots still counts).
    touched: BTreeMap<Address, BTreeSet<U256>>,
}

fn anvil_block(anvil: &mut Anvil, seed: u64, b: &GenBlock, base_fee: u64, gas_limit: u64) -> Mined {
    anvil.batch(&[
        ("evm_setNextBlockTimestamp", json!([b.timestamp])),
        (
            "anvil_setNextBlockBaseFeePerGas",
            json!([format!("{base_fee:#x}")]),
        ),
        ("anvil_setCoinbase", json!([b.coinbase.to_string()])),
        ("evm_setBlockGasLimit", json!([format!("{gas_limit:#x}")])),
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
        base_fee,
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
    let mut touched: BTreeMap<Address, BTreeSet<U256>> = BTreeMap::new();
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
    block: &'a GenBlock,
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

fn compare_receipts(r: &mut Report<'_>, reader: &Reader, mined: &Mined, base_fee: u64) {
    let number = r.block.number;
    let record = reader.block(number).expect("read").expect("parley block");
    if record.gas_used != mined.gas_used {
        r.state("block gas used".into(), record.gas_used, mined.gas_used);
    }
    for (i, t) in r.block.txs.clone().iter().enumerate() {
        let a = &mined.receipts[i];
        let Some(p) = reader.tx(&t.hash).expect("read") else {
            r.tx(i, "executed", "skipped as invalid (no record)", "included");
            continue;
        };
        if p.block_number != number || p.index as usize != i {
            r.tx(i, "position", (p.block_number, p.index), (number, i));
        }
        let p = p.receipt;
        let status = hex_u64(&a["status"]) == 1;
        if p.success != status {
            r.tx(i, "status", p.success, status);
        }
        let gas = hex_u64(&a["gasUsed"]);
        if p.gas_used != gas {
            r.tx(i, "gasUsed", p.gas_used, gas);
        }
        let cumulative = hex_u64(&a["cumulativeGasUsed"]);
        if p.cumulative_gas_used != cumulative {
            r.tx(i, "cumulativeGasUsed", p.cumulative_gas_used, cumulative);
        }
        let price = hex_u256(&a["effectiveGasPrice"]);
        if U256::from(p.effective_gas_price) != price {
            r.tx(i, "effectiveGasPrice", p.effective_gas_price, price);
        }
        let ca = a["contractAddress"].as_str().map(address);
        if p.contract_address != ca {
            r.tx(
                i,
                "contractAddress",
                format!("{:?} (status {})", p.contract_address, p.success),
                format!("{ca:?} (status {status})"),
            );
        }
        let alogs = a["logs"].as_array().expect("logs");
        let plogs: Vec<(Address, Vec<B256>, Bytes)> = p
            .logs
            .iter()
            .map(|l| (l.address, l.topics().to_vec(), l.data.data.clone()))
            .collect();
        let alogs: Vec<(Address, Vec<B256>, Bytes)> = alogs
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
            .collect();
        if plogs != alogs {
            r.tx(i, "logs", plogs, alogs);
        }
    }
    let _ = base_fee;
}

/// Parley's diff: address → slots (an account entry alone gives an empty set).
fn parley_touched(reader: &Reader, number: u64) -> BTreeMap<Address, BTreeSet<U256>> {
    let mut out: BTreeMap<Address, BTreeSet<U256>> = BTreeMap::new();
    let diff = reader
        .diff(number)
        .expect("read")
        .unwrap_or_else(|| panic!("Parley has no diff for block {number}"));
    for e in &diff.0 {
        match e.key {
            StateKey::Account(a) => {
                out.entry(a).or_default();
            }
            StateKey::Storage(a, s) => {
                out.entry(a).or_default().insert(s);
            }
            StateKey::Meta => {}
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn compare_state(
    r: &mut Report<'_>,
    reader: &Reader,
    anvil: &mut Anvil,
    mined: &Mined,
    parley_hashes: &[B256],
    anvil_hashes: &[B256],
) -> usize {
    let number = r.block.number;
    let n = format!("{number:#x}");
    let ptouched = parley_touched(reader, number);
    let mut union = mined.touched.clone();
    for (a, slots) in &ptouched {
        union.entry(*a).or_default().extend(slots.iter().copied());
    }
    let mut calls: Vec<(&str, Value)> = Vec::new();
    for (a, slots) in &union {
        let a = a.to_string();
        calls.push(("eth_getBalance", json!([a, n])));
        calls.push(("eth_getTransactionCount", json!([a, n])));
        calls.push(("eth_getCode", json!([a, n])));
        for s in slots {
            calls.push(("eth_getStorageAt", json!([a, format!("{s:#x}"), n])));
        }
    }
    let answers = anvil.batch(&calls);
    let mut it = answers.iter();
    let bh_lo = asm::bh_base();
    let bh_hi = bh_lo + U256::from(u64::MAX);
    let side = |a: &Address| match (mined.touched.contains_key(a), ptouched.contains_key(a)) {
        (true, true) => "both",
        (true, false) => "anvil only",
        (false, true) => "parley only",
        (false, false) => "neither",
    };
    for (a, slots) in &union {
        let (balance, nonce, code) = (
            hex_u256(it.next().expect("answer")),
            hex_u64(it.next().expect("answer")),
            hex_bytes(it.next().expect("answer")),
        );
        let (p_nonce, p_balance, p_code) = match reader.account(*a).expect("read") {
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
        let who = format!("account {a} (named by {})", side(a));
        let at = a.to_string();
        if p_balance != balance {
            r.state(format!("{who} balance"), p_balance, balance);
            r.fixes
                .push(("anvil_setBalance", json!([at, format!("{p_balance:#x}")])));
        }
        if p_nonce != nonce {
            r.state(format!("{who} nonce"), p_nonce, nonce);
            r.fixes
                .push(("anvil_setNonce", json!([at, format!("{p_nonce:#x}")])));
        }
        if p_code != code {
            r.fixes
                .push(("anvil_setCode", json!([at, p_code.to_string()])));
            r.state(
                format!("{who} code"),
                format!("{} bytes, hash {}", p_code.len(), keccak256(&p_code)),
                format!("{} bytes, hash {}", code.len(), keccak256(&code)),
            );
        }
        for s in slots {
            let v = hex_u256(it.next().expect("answer"));
            let pv = reader.storage(*a, *s).expect("read");
            let named = match (
                mined.touched.get(a).is_some_and(|x| x.contains(s)),
                ptouched.get(a).is_some_and(|x| x.contains(s)),
            ) {
                (true, true) => "both",
                (true, false) => "anvil only",
                (false, true) => "parley only",
                (false, false) => "neither",
            };
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
    let genesis = anvil.call("eth_getBlockByNumber", json!(["0x0", false]));
    let mut anvil_hashes = vec![b256(&genesis["hash"])];
    let mut parley_hashes = vec![
        parley
            .reader()
            .block(0)
            .expect("read")
            .expect("genesis")
            .hash,
    ];

    let mut generator = blocks::Gen::new(seed, keys);
    let (mut n_txs, mut n_accounts, mut bad_blocks) = (0usize, 0usize, 0u64);
    let mut stats = Stats::default();
    let verbose = std::env::var("PARLEY_DIFF_VERBOSE").is_ok_and(|v| v != "0");
    let mut first_bad: Option<String> = None;
    for _ in 0..n_blocks {
        let b = generator.block();
        let base_fee = parley.execute(seed, &b);
        let mined = anvil_block(&mut anvil, seed, &b, base_fee, params.block_gas_limit);
        let reader = parley.reader();
        parley_hashes.push(reader.block(b.number).expect("read").expect("block").hash);
        anvil_hashes.push(mined.hash);

        let mut report = Report {
            seed,
            block: &b,
            lines: Vec::new(),
            fixes: Vec::new(),
        };
        compare_receipts(&mut report, &reader, &mined, base_fee);
        n_accounts += compare_state(
            &mut report,
            &reader,
            &mut anvil,
            &mined,
            &parley_hashes,
            &anvil_hashes,
        );
        n_txs += b.txs.len();
        for (i, a) in mined.receipts.iter().enumerate() {
            let ok = hex_u64(&a["status"]) == 1;
            let logs = a["logs"].as_array().map_or(0, Vec::len);
            stats.ok += usize::from(ok);
            stats.logs += logs;
            stats.created += usize::from(ok && a["contractAddress"].is_string());
            if verbose {
                eprintln!(
                    "block {} tx {i}: status {} gas {} logs {logs}: {}",
                    b.number,
                    u8::from(ok),
                    hex_u64(&a["gasUsed"]),
                    b.txs[i].what
                );
            }
        }
        if !report.lines.is_empty() {
            bad_blocks += 1;
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
            msg.push_str(&format!(
                "  reproduce: PARLEY_DIFF_SEED={seed} PARLEY_DIFF_BLOCKS={} cargo test --release \
                 -p parley-app --test differential -- --nocapture\n",
                b.number
            ));
            if !keep_going {
                panic!("{msg}");
            }
            eprintln!("{msg}");
            first_bad.get_or_insert(msg);
            // Start the next block from equal states, so that its findings are its own.
            assert!(
                !report
                    .lines
                    .iter()
                    .any(|l| l.contains("skipped as invalid")),
                "Parley skipped a transaction anvil executed: later nonces cannot line up\n{}",
                report.lines.join("\n")
            );
            anvil.batch(&report.fixes);
        }
    }
    eprintln!(
        "differential: seed {seed}: {n_blocks} blocks, {n_txs} transactions ({} succeeded, {} \
         failed; {} logs; {} contracts created by transactions), {n_accounts} account \
         comparisons against anvil in {:.1} s; {bad_blocks} divergent blocks",
        stats.ok,
        n_txs - stats.ok,
        stats.logs,
        stats.created,
        started.elapsed().as_secs_f64()
    );
    if let Some(msg) = first_bad {
        panic!("{bad_blocks} divergent blocks; the first:\n{msg}");
    }
}
