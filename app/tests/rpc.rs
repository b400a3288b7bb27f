//! JSON-RPC over the in-process harness: reads at past blocks, filters, block receipts,
//! state overrides, the limits of the public port and CORS, through a real HTTP server
//! (jsonrpsee) and a real HTTP client. Clients people use (cast, viem, ethers) are driven
//! against the localnet by tests/e2e.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;

use alloy_primitives::{Address, B256, Bytes, U64, U256};
use common::*;
use jsonrpsee::core::client::{BatchResponse, ClientT};
use jsonrpsee::core::params::BatchRequestBuilder;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::rpc_params;
use parley_app::node::config::RpcLimits;
use serde_json::{Value, json};

async fn serve(net: &Net, limits: RpcLimits) -> (SocketAddr, HttpClient) {
    let app = net.nodes[0].app.clone();
    // CometBFT is only needed to submit transactions, which these tests do in-process.
    let (addr, handle) = parley_app::rpc::serve(
        app,
        ([127, 0, 0, 1], 0).into(),
        "http://127.0.0.1:9",
        limits,
    )
    .await
    .expect("serves");
    std::mem::forget(handle); // runs until the test process exits
    let client = HttpClientBuilder::default()
        .build(format!("http://{addr}"))
        .expect("client");
    (addr, client)
}

async fn call<T: serde::de::DeserializeOwned>(
    c: &HttpClient,
    method: &str,
    params: jsonrpsee::core::params::ArrayParams,
) -> T {
    c.request(method, params)
        .await
        .unwrap_or_else(|e| panic!("{method}: {e}"))
}

async fn call_err(
    c: &HttpClient,
    method: &str,
    params: jsonrpsee::core::params::ArrayParams,
) -> String {
    match c.request::<Value, _>(method, params).await {
        Ok(v) => panic!("{method} should fail, got {v}"),
        Err(e) => e.to_string(),
    }
}

/// Runtime returning `BALANCE(ADDRESS)` as one word.
const SELF_BALANCE: &str = "30315f5260205ff3";
/// Runtime returning storage slot 0 as one word.
const SLOT0: &str = "5f545f5260205ff3";
/// Runtime that hashes a word in a loop forever (slow per unit of gas, so it meets the
/// wall-clock limit before the gas cap).
const LOOP: &str = "5b60205f20505f56";

#[tokio::test(flavor = "multi_thread")]
async fn reads_filters_receipts_and_overrides() {
    let mut net = Net::new(1);
    let (_, c) = serve(&net, RpcLimits::default()).await;
    let k = net.keys[0].clone();
    let to = Address::repeat_byte(0x31);
    let block_filter: U256 = call(&c, "eth_newBlockFilter", rpc_params![]).await;
    let log_filter: U256 = call(
        &c,
        "eth_newFilter",
        rpc_params![json!({"fromBlock": "earliest", "topics": [format!("{:#x}", B256::with_last_byte(0xbb))]})],
    )
    .await;
    let rw = create(&mut net, &k, 0, RW_INIT);
    net.step();
    let mut hashes = vec![];
    for i in 1..=5u64 {
        net.transfer(&k, i * 2 - 1, to, i);
        net.submit(call_tx(&k, i * 2, rw)).expect("read call");
        net.step();
        hashes.push(
            net.reader()
                .block(net.height)
                .expect("read")
                .expect("block")
                .hash,
        );
    }
    // Past balances by number and by hash; a block beyond the head is not found.
    for (i, h) in (2..=6u64).enumerate() {
        let want = U256::from((1..=i as u64 + 1).sum::<u64>());
        let b: U256 = call(&c, "eth_getBalance", rpc_params![to, U64::from(h)]).await;
        assert_eq!(b, want, "balance at {h}");
        let b: U256 = call(
            &c,
            "eth_getBalance",
            rpc_params![to, json!({"blockHash": hashes[i]})],
        )
        .await;
        assert_eq!(b, want, "balance at {}", hashes[i]);
    }
    let e = call_err(&c, "eth_getBalance", rpc_params![to, U64::from(99)]).await;
    assert!(e.contains("not found"), "{e}");
    let nonce: U64 = call(
        &c,
        "eth_getTransactionCount",
        rpc_params![k.address(), U64::from(3)],
    )
    .await;
    assert_eq!(nonce, U64::from(5));

    // Trailing optional parameters may be left out, as viem and ethers do.
    let b: U256 = call(&c, "eth_getBalance", rpc_params![to]).await;
    assert_eq!(b, U256::from(15));
    let _: Bytes = call(&c, "eth_call", rpc_params![json!({"to": rw})]).await;
    let g: U64 = call(
        &c,
        "eth_estimateGas",
        rpc_params![json!({"from": k.address(), "to": to, "value": "0x1"})],
    )
    .await;
    assert_eq!(g, U64::from(21_000));
    let latest: Value = call(&c, "eth_getBlockByNumber", rpc_params!["latest"]).await;
    assert_eq!(latest["hash"], json!(hashes[4]));
    let e = call_err(&c, "eth_getBalance", rpc_params![to, "latest", 1]).await;
    assert!(e.contains("at most 2 parameters"), "{e}");

    // Filters: every new block hash once, then nothing; the read calls' logs.
    let changes: Vec<B256> = call(&c, "eth_getFilterChanges", rpc_params![block_filter]).await;
    assert_eq!(changes.len(), 6);
    assert_eq!(&changes[1..], &hashes[..]);
    let again: Vec<B256> = call(&c, "eth_getFilterChanges", rpc_params![block_filter]).await;
    assert!(again.is_empty());
    let logs: Vec<Value> = call(&c, "eth_getFilterChanges", rpc_params![log_filter]).await;
    assert_eq!(logs.len(), 5, "{logs:?}");
    let all: Vec<Value> = call(&c, "eth_getFilterLogs", rpc_params![log_filter]).await;
    assert_eq!(all.len(), 5);
    assert!(call::<bool>(&c, "eth_uninstallFilter", rpc_params![log_filter]).await);
    let e = call_err(&c, "eth_getFilterChanges", rpc_params![log_filter]).await;
    assert!(e.contains("filter not found"), "{e}");

    // Block receipts: one per transaction, in order.
    let receipts: Vec<Value> = call(&c, "eth_getBlockReceipts", rpc_params![U64::from(3)]).await;
    let block: Value = call(&c, "eth_getBlockByNumber", rpc_params![U64::from(3), false]).await;
    let txs: Vec<Value> = serde_json::from_value(block["transactions"].clone()).expect("hashes");
    assert_eq!(receipts.len(), txs.len());
    for (r, h) in receipts.iter().zip(&txs) {
        assert_eq!(&r["transactionHash"], h);
    }
    let by_index: Value = call(
        &c,
        "eth_getTransactionByBlockNumberAndIndex",
        rpc_params![U64::from(3), U64::from(1)],
    )
    .await;
    assert_eq!(by_index["hash"], txs[1]);

    // State overrides: code, balance and a storage diff, seen by eth_call only.
    let who = Address::repeat_byte(0x77);
    let out: Bytes = call(
        &c,
        "eth_call",
        rpc_params![
            json!({"to": who}),
            "latest",
            json!({ who.to_string(): {"code": format!("0x{SELF_BALANCE}"), "balance": "0x1234"} })
        ],
    )
    .await;
    assert_eq!(U256::from_be_slice(&out), U256::from(0x1234));
    let out: Bytes = call(
        &c,
        "eth_call",
        rpc_params![
            json!({"to": rw}),
            "latest",
            json!({ rw.to_string(): {"code": format!("0x{SLOT0}"), "stateDiff": {format!("{:#x}", B256::ZERO): format!("{:#x}", B256::with_last_byte(9))}} })
        ],
    )
    .await;
    assert_eq!(U256::from_be_slice(&out), U256::from(9));
    let e = call_err(
        &c,
        "eth_call",
        rpc_params![
            json!({"to": rw}),
            "latest",
            json!({ rw.to_string(): {"state": {}, "stateDiff": {}} })
        ],
    )
    .await;
    assert!(e.contains("not both"), "{e}");
    let code: Bytes = call(&c, "eth_getCode", rpc_params![who, "latest"]).await;
    assert!(code.is_empty(), "overrides never reach the state");
}

fn call_tx(k: &alloy_signer_local::PrivateKeySigner, nonce: u64, to: Address) -> Bytes {
    common::call(k, nonce, to, 0, vec![])
}

/// Every limit of the public port answers a clear error naming its key, and a node flooded
/// with expensive calls still answers cheap ones.
#[tokio::test(flavor = "multi_thread")]
async fn limits_are_enforced_and_cheap_calls_survive_a_flood() {
    let mut net = Net::new(1);
    let limits = RpcLimits {
        max_batch: 3,
        max_log_blocks: 4,
        max_logs: 2,
        call_timeout: std::time::Duration::from_millis(200),
        gas_cap: 1_000_000_000,
        cors: vec!["https://dapp.example".into()],
        ..RpcLimits::default()
    };
    let (addr, c) = serve(&net, limits).await;
    // Subscriptions need a WebSocket: over HTTP a clear -32601, not a bare internal error.
    for m in ["eth_subscribe", "eth_unsubscribe"] {
        let e = call_err(&c, m, rpc_params!["newHeads"]).await;
        assert!(
            e.contains("MethodNotFound")
                && e.contains(&format!("{m} needs a WebSocket connection")),
            "{e}"
        );
    }
    let k = net.keys[1].clone();
    let rw = create(&mut net, &k, 0, RW_INIT);
    net.step();
    for i in 1..=6u64 {
        net.submit(call_tx(&k, i, rw)).expect("read call");
        net.step();
    }

    let mut batch = BatchRequestBuilder::new();
    for _ in 0..4 {
        batch
            .insert("eth_blockNumber", rpc_params![])
            .expect("params");
    }
    let e = c
        .batch_request::<U64>(batch)
        .await
        .map(|r: BatchResponse<U64>| r.len());
    assert!(
        e.is_err(),
        "a batch of 4 over the limit of 3 is refused: {e:?}"
    );
    let mut batch = BatchRequestBuilder::new();
    for _ in 0..3 {
        batch
            .insert("eth_blockNumber", rpc_params![])
            .expect("params");
    }
    assert_eq!(c.batch_request::<U64>(batch).await.expect("3 fit").len(), 3);

    let e = call_err(
        &c,
        "eth_getLogs",
        rpc_params![json!({"fromBlock": "0x0", "toBlock": "0x6"})],
    )
    .await;
    assert!(e.contains("rpc_max_log_blocks"), "{e}");
    let e = call_err(
        &c,
        "eth_getLogs",
        rpc_params![json!({"fromBlock": "0x2", "toBlock": "0x5"})],
    )
    .await;
    assert!(e.contains("rpc_max_logs"), "{e}");
    let two: Vec<Value> = call(
        &c,
        "eth_getLogs",
        rpc_params![json!({"fromBlock": "0x2", "toBlock": "0x3"})],
    )
    .await;
    assert_eq!(two.len(), 2);

    // An endless loop with a huge gas cap hits the wall-clock limit.
    let looping = json!({ Address::repeat_byte(0x10).to_string(): {"code": format!("0x{LOOP}")} });
    let e = call_err(
        &c,
        "eth_call",
        rpc_params![
            json!({"to": Address::repeat_byte(0x10)}),
            "latest",
            looping.clone()
        ],
    )
    .await;
    assert!(e.contains("rpc_call_timeout_ms"), "{e}");

    // A flood of such calls occupies the blocking pool, not the async workers.
    let mut flood = vec![];
    for _ in 0..8 {
        let c = c.clone();
        let looping = looping.clone();
        flood.push(tokio::spawn(async move {
            let _ = c
                .request::<Value, _>(
                    "eth_call",
                    rpc_params![json!({"to": Address::repeat_byte(0x10)}), "latest", looping],
                )
                .await;
        }));
    }
    for _ in 0..20 {
        let n: U64 = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            c.request("eth_blockNumber", rpc_params![]),
        )
        .await
        .expect("eth_blockNumber answers during the flood")
        .expect("ok");
        assert_eq!(n, U64::from(7));
    }
    for f in flood {
        f.await.expect("joins");
    }

    // CORS: the configured origin is allowed, another is not.
    let preflight = |origin: &str| {
        let mut s = std::net::TcpStream::connect(addr).expect("connects");
        write!(
            s,
            "OPTIONS / HTTP/1.1\r\nHost: {addr}\r\nOrigin: {origin}\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\nConnection: close\r\n\r\n"
        )
        .expect("writes");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("reads");
        out.to_ascii_lowercase()
    };
    let ok = preflight("https://dapp.example");
    assert!(
        ok.contains("access-control-allow-origin: https://dapp.example"),
        "{ok}"
    );
    let other = preflight("https://evil.example");
    assert!(!other.contains("access-control-allow-origin"), "{other}");
}

/// `parley_getTransactionStage`: unknown → pending (this node's mempool) → sequenced, with the
/// executing block, its builder and how its slot was filled.
#[tokio::test(flavor = "multi_thread")]
async fn transaction_stages() {
    let mut net = Net::new(1);
    let (_, c) = serve(&net, RpcLimits::default()).await;
    let k = net.keys[0].clone();
    let stage = |v: &Value| v["stage"].as_str().expect("stage").to_string();
    let unknown: Value = call(
        &c,
        "parley_getTransactionStage",
        rpc_params![B256::repeat_byte(1)],
    )
    .await;
    assert_eq!(stage(&unknown), "unknown");
    assert!(unknown["blockNumber"].is_null());
    let hash = net.transfer(&k, 0, Address::repeat_byte(0x31), 1);
    let pending: Value = call(&c, "parley_getTransactionStage", rpc_params![hash]).await;
    assert_eq!(stage(&pending), "pending");
    net.step();
    let done: Value = call(&c, "parley_getTransactionStage", rpc_params![hash]).await;
    assert_eq!(stage(&done), "sequenced");
    let record = net.reader().block(1).expect("read").expect("block");
    assert_eq!(done["blockNumber"], json!("0x1"));
    assert_eq!(done["blockHash"], json!(record.hash));
    assert_eq!(done["builder"], json!(record.builder));
    assert_eq!(done["slotState"], json!("proposer"));
}
