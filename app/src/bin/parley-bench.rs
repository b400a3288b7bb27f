//! `parley-bench`: throughput benchmark of DESIGN §8 (not a test).
//!
//! - `ceiling`: the raw in-process ceiling — revm executing signed ETH transfers with
//!   signature recovery on one core (decode + recover + execute + diff), transfers/s.
//! - `tps`: end-to-end — funds fresh accounts from the dev accounts, pre-signs transfers,
//!   submits them through Ethereum JSON-RPC (concurrent `eth_sendRawTransaction`, spread over the
//!   nodes), watches blocks for inclusion and counts receipts; prints TPS, p50/p99 latency to
//!   receipt, and the ratio to the ceiling measured in the same run.
#![allow(clippy::print_stdout)] // a benchmark prints its figures
#![allow(clippy::disallowed_methods)] // a benchmark measures wall-clock time; it is no part of consensus
#![allow(clippy::disallowed_types)] // …and may use any collection

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_signer_local::PrivateKeySigner;
use clap::{Parser, Subcommand};
use eyre::{Result, eyre};
use jsonrpsee::core::client::ClientT;
use jsonrpsee::core::params::BatchRequestBuilder;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::rpc_params;
use parley_app::app::App;
use parley_app::chain::genesis::{AppGenesis, Params};
use parley_app::devtx;
use parley_app::store::Store;

#[derive(Parser)]
#[command(name = "parley-bench", about = "Parley throughput benchmark")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// In-process revm + ecrecover ceiling on one core.
    Ceiling {
        /// Transfers to execute.
        #[arg(long, default_value_t = 20_000)]
        txs: usize,
    },
    /// Time to open a node over a large state: genesis with `accounts` funded accounts,
    /// then the start-up that rebuilds and checks the app-hash tree.
    Startup {
        /// Funded accounts in the state.
        #[arg(long, default_value_t = 1_000_000)]
        accounts: usize,
    },
    /// End-to-end TPS against running nodes (and the ceiling, measured first).
    Tps {
        /// Comma-separated JSON-RPC URLs of the nodes.
        #[arg(
            long,
            default_value = "http://127.0.0.1:8545,http://127.0.0.1:8546,http://127.0.0.1:8547,http://127.0.0.1:8548"
        )]
        rpc: String,
        /// Fresh sender accounts.
        #[arg(long, default_value_t = 2_000)]
        senders: usize,
        /// Transfers per sender (at most 64: the mempool's nonce window).
        #[arg(long, default_value_t = 10)]
        per_sender: usize,
        /// `eth_sendRawTransaction` requests in flight per node.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Give up waiting for inclusion after this many seconds.
        #[arg(long, default_value_t = 180)]
        timeout_secs: u64,
        /// Chain id.
        #[arg(long, default_value_t = 424_242)]
        chain_id: u64,
        /// Transfers for the in-process ceiling.
        #[arg(long, default_value_t = 20_000)]
        ceiling_txs: usize,
    },
}

fn keys(n: usize, salt: &str) -> Vec<PrivateKeySigner> {
    (0..n)
        .map(|i| {
            let k = keccak256(format!("parley-bench/{salt}/{i}"));
            PrivateKeySigner::from_bytes(&k)
                .expect("a keccak output is a valid key with overwhelming probability")
        })
        .collect()
}

/// Transfers/s of decode + recover + revm execution + diff for `n` transfers, one thread.
fn ceiling(n: usize) -> Result<f64> {
    let senders = keys(n.div_ceil(50), "ceiling");
    let params = Params {
        chain_id: 424_242,
        max_block_txs: 1_000_000,
        block_gas_limit: 21_000 * 1_000_000,
        ..Params::default()
    };
    let genesis = AppGenesis::funded(
        params.clone(),
        senders.iter().map(|k| k.address()),
        U256::from(10u128.pow(24)),
    );
    let dir = tempfile::tempdir()?;
    let app = App::new(
        Store::open(&dir.path().join("db"))?,
        Address::repeat_byte(0xee),
    )?;
    app.init_chain(&serde_json::to_vec(&genesis)?, 1)?;
    let mut raws = Vec::with_capacity(n);
    for i in 0..n {
        let k = &senders[i % senders.len()];
        raws.push(devtx::transfer(
            k,
            params.chain_id,
            (i / senders.len()) as u64,
            Address::with_last_byte((i % 250) as u8 + 1),
            U256::from(1),
        ));
    }
    let reader = app.store().reader()?;
    let meta = reader.meta()?;
    // A fresh sender cache: every signature is recovered inside the timed region.
    let cache = parley_app::mempool::SenderCache::default();
    let start = Instant::now();
    let txs: Vec<_> = raws
        .iter()
        .map(|r| parley_app::chain::tx::decode(r, &params, &cache).map_err(|e| eyre!("{e}")))
        .collect::<Result<_>>()?;
    let header = parley_app::chain::block::L2Header {
        chain_id: params.chain_id,
        number: 1,
        parent_hash: meta.last_block_hash,
        timestamp: 1,
        builder: Address::repeat_byte(0xee),
        base_fee: meta.next_base_fee,
        gas_limit: params.block_gas_limit,
        tx_root: B256::ZERO,
    };
    let input = parley_app::chain::evm::BlockInput {
        height: 1,
        time_secs: 1,
        proposer: Some((&header, &txs)),
        seed: None,
        attest: None,
        l1_queue: None,
        proofs: None,
    };
    let executed = parley_app::chain::evm::execute_block(
        &reader,
        &params,
        &meta,
        input,
        &[],
        B256::ZERO,
        &cache,
    )?;
    let secs = start.elapsed().as_secs_f64();
    if executed.txs.len() != n {
        eyre::bail!(
            "ceiling run executed {} of {n} transfers",
            executed.txs.len()
        );
    }
    Ok(n as f64 / secs)
}

/// Sends every raw tx as its own `eth_sendRawTransaction`, `concurrency` requests in flight,
/// and returns each outcome with the time its request was sent.
async fn send_all(
    client: &HttpClient,
    raws: Vec<Bytes>,
    concurrency: usize,
) -> Vec<(std::result::Result<B256, String>, Instant)> {
    use futures::StreamExt;
    futures::stream::iter(raws)
        .map(|raw| {
            let client = client.clone();
            async move {
                let at = Instant::now();
                let r: std::result::Result<B256, _> = client
                    .request("eth_sendRawTransaction", rpc_params![raw])
                    .await;
                (r.map_err(|e| e.to_string()), at)
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await
}

async fn block_number(c: &HttpClient) -> Result<u64> {
    let n: U256 = c.request("eth_blockNumber", rpc_params![]).await?;
    Ok(n.to::<u64>())
}

#[derive(serde::Deserialize)]
struct BlockTxs {
    transactions: Vec<B256>,
}

/// Waits until all `hashes` are included in blocks after `from`, recording when each was
/// first seen in a block.
async fn watch(
    c: &HttpClient,
    from: u64,
    hashes: &[B256],
    timeout: Duration,
) -> Result<BTreeMap<B256, Instant>> {
    let want: std::collections::BTreeSet<B256> = hashes.iter().copied().collect();
    let mut seen = BTreeMap::new();
    let mut next = from + 1;
    let deadline = Instant::now() + timeout;
    while seen.len() < want.len() && Instant::now() < deadline {
        let head = block_number(c).await?;
        while next <= head {
            let b: Option<BlockTxs> = c
                .request(
                    "eth_getBlockByNumber",
                    rpc_params![format!("{next:#x}"), false],
                )
                .await?;
            let now = Instant::now();
            for h in b.map(|b| b.transactions).unwrap_or_default() {
                if want.contains(&h) {
                    seen.entry(h).or_insert(now);
                }
            }
            next += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(seen)
}

async fn count_receipts(c: &HttpClient, hashes: &[B256]) -> Result<usize> {
    let mut ok = 0;
    for chunk in hashes.chunks(500) {
        let mut b = BatchRequestBuilder::new();
        for h in chunk {
            b.insert("eth_getTransactionReceipt", rpc_params![h])?;
        }
        let res = c.batch_request::<Option<serde_json::Value>>(b).await?;
        ok += res
            .into_iter()
            .filter(|r| matches!(r, Ok(Some(v)) if v.get("status").and_then(|s| s.as_str()) == Some("0x1")))
            .count();
    }
    Ok(ok)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

async fn tps(
    rpc: &str,
    senders: usize,
    per_sender: usize,
    concurrency: usize,
    timeout: Duration,
    chain_id: u64,
    ceiling_tps: f64,
) -> Result<()> {
    if per_sender > 64 {
        eyre::bail!("--per-sender is at most 64 (the mempool nonce window)");
    }
    let clients: Vec<HttpClient> = rpc
        .split(',')
        .map(|u| {
            HttpClientBuilder::default()
                .request_timeout(Duration::from_secs(60))
                .max_request_size(64 << 20)
                .max_response_size(64 << 20)
                .build(u)
        })
        .collect::<std::result::Result<_, _>>()?;
    let dev = parley_app::dev_accounts(10)?;
    // Fresh keys per run (salted with the chain head), so reruns never reuse used nonces.
    let salt = format!("tps-{}", block_number(&clients[0]).await?);
    let fresh = keys(senders, &salt);

    // 1. Fund the fresh senders from the dev accounts (not timed).
    let per_dev = senders.div_ceil(dev.len());
    let mut dev_nonce = BTreeMap::new();
    for d in &dev {
        let n: U256 = clients[0]
            .request(
                "eth_getTransactionCount",
                rpc_params![d.address(), "pending"],
            )
            .await?;
        dev_nonce.insert(d.address(), n.to::<u64>());
    }
    let amount = U256::from(10u128.pow(18));
    // Wave w funds, from every dev account, its next 60 recipients: the mempool accepts at
    // most 64 nonces ahead of an account's committed nonce.
    let mut waves: Vec<Vec<Bytes>> = vec![];
    for (j, k) in fresh.iter().enumerate() {
        let d = &dev[(j / per_dev).min(dev.len() - 1)];
        let n = dev_nonce
            .get_mut(&d.address())
            .expect("every dev account has a nonce");
        let wave = (j % per_dev) / 60;
        if waves.len() <= wave {
            waves.push(vec![]);
        }
        waves[wave].push(devtx::transfer(d, chain_id, *n, k.address(), amount));
        *n += 1;
    }
    println!("funding {senders} senders in {} waves...", waves.len());
    for wave in waves {
        let from = block_number(&clients[0]).await?;
        let mut hs = vec![];
        for (r, _) in send_all(&clients[0], wave, 64).await {
            hs.push(r.map_err(|e| eyre!("funding tx refused: {e}"))?);
        }
        let seen = watch(&clients[0], from, &hs, timeout).await?;
        if seen.len() != hs.len() {
            eyre::bail!("funding: only {}/{} included", seen.len(), hs.len());
        }
    }
    println!("funded");

    // 2. Pre-sign the load (not timed).
    let mut per_node: Vec<Vec<Bytes>> = vec![vec![]; clients.len()];
    for (j, k) in fresh.iter().enumerate() {
        for n in 0..per_sender {
            let to = fresh[(j + 1) % fresh.len()].address();
            per_node[j % clients.len()].push(devtx::transfer(
                k,
                chain_id,
                n as u64,
                to,
                U256::from(1),
            ));
        }
    }
    let total: usize = per_node.iter().map(Vec::len).sum();

    // 3. Submit (concurrently, one task per node) while watching blocks.
    let hashes: Vec<B256> = per_node.iter().flatten().map(keccak256).collect();
    let from = block_number(&clients[0]).await?;
    let watcher = {
        let (c, hashes) = (clients[0].clone(), hashes.clone());
        tokio::spawn(async move { watch(&c, from, &hashes, timeout).await })
    };
    let start = Instant::now();
    let mut tasks = vec![];
    for (i, raws) in per_node.into_iter().enumerate() {
        let c = clients[i].clone();
        tasks.push(tokio::spawn(async move {
            Ok::<_, eyre::Report>(send_all(&c, raws, concurrency).await)
        }));
    }
    let mut submitted = vec![];
    let mut refused = 0usize;
    let mut first_refusal = None;
    for t in tasks {
        for (r, at) in t.await?? {
            match r {
                Ok(h) => submitted.push((h, at)),
                Err(e) => {
                    refused += 1;
                    first_refusal.get_or_insert(e);
                }
            }
        }
    }
    let submit_secs = start.elapsed().as_secs_f64();
    let seen = watcher.await??;
    let receipts = count_receipts(&clients[0], &hashes).await?;
    let end = seen.values().max().copied().unwrap_or(start);
    let secs = end.duration_since(start).as_secs_f64();
    let mut lat: Vec<f64> = submitted
        .iter()
        .filter_map(|(h, at)| seen.get(h).map(|s| s.duration_since(*at).as_secs_f64()))
        .collect();
    lat.sort_by(f64::total_cmp);
    let tps = receipts as f64 / secs;
    println!(
        "submitted        {} of {total} transfers in {submit_secs:.2} s ({refused} refused{})",
        submitted.len(),
        first_refusal
            .map(|e| format!(", first: {e}"))
            .unwrap_or_default()
    );
    println!(
        "included         {} (receipts with status 1: {receipts}) in {secs:.2} s",
        seen.len()
    );
    println!("end-to-end TPS   {tps:.0}");
    println!("latency p50      {:.3} s", percentile(&lat, 0.50));
    println!("latency p99      {:.3} s", percentile(&lat, 0.99));
    println!(
        "ceiling          {ceiling_tps:.0} transfers/s (in-process revm + ecrecover, one core, same run)"
    );
    println!(
        "ratio            {:.1} % of the ceiling",
        100.0 * tps / ceiling_tps
    );
    Ok(())
}

/// Writes a genesis of `n` funded accounts, then times reopening the node (App::new reads
/// every state entry and rebuilds the app-hash tree to check it against the stored hash).
fn startup(n: usize) -> Result<(f64, f64)> {
    let genesis = AppGenesis::funded(
        Params::default(),
        (0..n as u64).map(|i| Address::left_padding_from(&i.to_be_bytes())),
        U256::from(1u64),
    );
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("db");
    let start = Instant::now();
    let app = App::new(Store::open(&path)?, Address::ZERO)?;
    app.init_chain(&serde_json::to_vec(&genesis)?, 1)?;
    drop(app);
    let written = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let app = App::new(Store::open(&path)?, Address::ZERO)?;
    let opened = start.elapsed().as_secs_f64();
    drop(app);
    Ok((written, opened))
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Startup { accounts } => {
            let (written, opened) = startup(accounts)?;
            println!("genesis          {accounts} accounts written in {written:.1} s");
            println!("startup          {opened:.2} s to open the node and check the app hash");
            Ok(())
        }
        Cmd::Ceiling { txs } => {
            let c = ceiling(txs)?;
            println!("ceiling          {c:.0} transfers/s ({txs} transfers, one core)");
            Ok(())
        }
        Cmd::Tps {
            rpc,
            senders,
            per_sender,
            concurrency,
            timeout_secs,
            chain_id,
            ceiling_txs,
        } => {
            let c = ceiling(ceiling_txs)?;
            println!("ceiling          {c:.0} transfers/s ({ceiling_txs} transfers, one core)");
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            rt.block_on(tps(
                &rpc,
                senders,
                per_sender,
                concurrency,
                Duration::from_secs(timeout_secs),
                chain_id,
                c,
            ))
        }
    }
}
