//! Bad input changes nothing: arbitrary bytes, and valid transactions and blocks with bytes
//! flipped, given to every decoder the node exposes (EIP-2718 transactions in CheckTx and in
//! `eth_sendRawTransaction`'s decoder, protocol messages in ProcessProposal, state keys, values
//! and diffs, stored records) get a clear error — never a panic — and leave the app hash and
//! the mempool bookkeeping as they were.

mod common;

use alloy_primitives::{Address, B256, Bytes, U256};
use common::*;
use parley_app::chain::block::Message;
use parley_app::chain::rules::Verdict;
use parley_app::chain::seed::LastCommit;
use parley_app::devtx;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Bytes that are either arbitrary or a valid encoding with a few bytes changed (which reaches
/// deeper into the decoders than random noise does).
fn mangled(valid: Vec<Bytes>) -> impl Strategy<Value = Vec<u8>> {
    let n = valid.len();
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..600),
        (
            0..n,
            proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
            any::<u8>()
        )
            .prop_map(move |(i, edits, cut)| {
                let mut b = valid[i].to_vec();
                for (at, x) in edits {
                    let len = b.len();
                    b[at % len] ^= x | 1;
                }
                if cut % 4 == 0 {
                    b.truncate(b.len().saturating_sub(usize::from(cut) % 8 + 1));
                }
                b
            }),
    ]
}

#[test]
fn check_tx_and_process_proposal_refuse_garbage_without_changing_anything() {
    let mut net = Net::new(1);
    let k = net.keys[0].clone();
    net.transfer(&k, 0, Address::repeat_byte(1), 5);
    net.step();
    let before = net.nodes[0].app.info().expect("info");
    let nonce_before = net.nodes[0].app.pending().next_nonce(&k.address(), 1);
    let valid_tx = devtx::transfer(&k, CHAIN_ID, 1, Address::repeat_byte(2), U256::from(1));
    let h = net.height + 1;
    let valid_block = net.nodes[0]
        .app
        .prepare_proposal(
            h,
            net.time(h),
            std::slice::from_ref(&valid_tx),
            1 << 20,
            &LastCommit::default(),
        )
        .expect("prepare")
        .remove(0);
    let app = net.nodes[0].app.clone();

    runner(512)
        .run(
            &mangled(vec![valid_tx.clone(), valid_block.clone()]),
            |bytes| {
                // CheckTx: a clear error (or, rarely, a still-valid tx whose flipped bits were
                // in a field that stays valid), never a panic.
                if let Err(e) = app.check_tx(&bytes, false).expect("no fatal error") {
                    prop_assert!(e.code() > 0 && !e.to_string().is_empty());
                }
                let _ = Message::decode(&bytes);
                let v = app
                    .process_proposal(
                        h,
                        net.time(h),
                        B256::ZERO,
                        &[Bytes::from(bytes.clone())],
                        &LastCommit::default(),
                    )
                    .expect("no fatal error");
                if bytes != valid_block.to_vec() {
                    prop_assert!(
                        matches!(v, Verdict::Reject(_)) || Message::decode(&bytes).is_ok()
                    );
                }
                Ok(())
            },
        )
        .expect("no input breaks the node");
    assert_eq!(
        net.nodes[0].app.info().expect("info"),
        before,
        "nothing committed"
    );
    // Garbage admitted nothing for the funded sender (a mangled valid tx may have kept its
    // sender and nonce; anything admitted for it is at nonce 1 only).
    assert!(net.nodes[0].app.pending().next_nonce(&k.address(), 1) <= nonce_before + 1);
    // And the chain still runs.
    net.transfer(&k, 1, Address::repeat_byte(3), 7);
    net.step();
    assert_eq!(net.balance(Address::repeat_byte(3)), U256::from(7));
}

/// Mangled signed protocol messages (bit flips, truncations, junk after the envelope) to
/// CheckTx and inside proposals: a clear refusal code or a message from some other sender,
/// never a panic; executed in a block, nothing moves for the original sender.
#[test]
fn mangled_protocol_messages_are_refused_without_changing_anything() {
    use parley_app::chain::msg::{self, Action};
    let mut net = Net::new(1);
    let k = net.keys[0].clone();
    let fund = Bytes::from(msg::sign(
        &k,
        CHAIN_ID,
        0,
        &Action::Fund(U256::from(10u64.pow(18))),
    ));
    net.submit(fund).expect("fund");
    net.step();
    let ledger = |net: &Net| {
        net.reader()
            .app_entry(&parley_types::StateKey::Ledger(k.address()))
            .expect("read")
    };
    let before = ledger(&net);
    let valid = Bytes::from(msg::sign(&k, CHAIN_ID, 1, &Action::Withdraw(U256::from(5))));
    let app = net.nodes[0].app.clone();
    let h = net.height + 1;
    let block = app
        .prepare_proposal(h, net.time(h), &[], 1 << 20, &LastCommit::default())
        .expect("prepare")
        .remove(0);
    runner(512)
        .run(&mangled(vec![valid.clone()]), |bytes| {
            if bytes == valid.to_vec() {
                return Ok(());
            }
            match app.check(&bytes, false).expect("no fatal error") {
                Err(r) => prop_assert!(r.code > 0 && !r.log.is_empty()),
                // A flip inside the signature or body that still decodes recovers another
                // sender (who has no ledger account, so its message cannot execute).
                Ok(_) => {
                    let m = msg::decode(&bytes, CHAIN_ID).expect("admitted decodes");
                    prop_assert_ne!(m.sender, k.address());
                }
            }
            let v = app
                .process_proposal(
                    h,
                    net.time(h),
                    B256::ZERO,
                    &[Bytes::from(bytes.clone()), block.clone()],
                    &LastCommit::default(),
                )
                .expect("no fatal error");
            if msg::decode(&bytes, CHAIN_ID).is_err() {
                prop_assert!(matches!(v, Verdict::Reject(_)));
            }
            Ok(())
        })
        .expect("no input breaks the node");
    // A proposer that includes mangled copies anyway: refused at their turn, nothing moves.
    let copies: Vec<Bytes> = (0..8usize)
        .map(|i| {
            let mut b = valid.to_vec();
            let at = b.len() - 1 - i;
            b[at] ^= 0x01;
            Bytes::from(b)
        })
        .filter(|b| msg::decode(b, CHAIN_ID).is_ok())
        .collect();
    assert!(
        !copies.is_empty(),
        "flipping v always gives a decodable copy"
    );
    net.height += 1;
    let mut txs = copies;
    txs.push(block);
    net.decide(txs);
    assert!(
        net.last_results[..net.last_results.len() - 1]
            .iter()
            .all(|(c, _)| *c != 0)
    );
    assert_eq!(ledger(&net), before, "the sender's ledger moved");
}

#[test]
fn state_decoders_refuse_garbage() {
    use parley_types::{ChainMeta, StateDiff, StateKey, StateValue};
    runner(2048)
        .run(&proptest::collection::vec(any::<u8>(), 0..300), |bytes| {
            // Each either decodes to something that re-encodes to the same bytes, or errors.
            if let Ok(k) = StateKey::decode(&bytes) {
                prop_assert_eq!(k.encode(), bytes.clone());
            }
            for account in [true, false] {
                if let Ok(v) = StateValue::decode(&bytes, account) {
                    prop_assert_eq!(v.encode(), bytes.clone());
                }
            }
            if let Ok(d) = StateDiff::decode(&bytes) {
                prop_assert_eq!(d.encode(), bytes.clone());
            }
            if let Ok(m) = ChainMeta::decode(&bytes) {
                prop_assert_eq!(m.encode(), bytes.clone());
            }
            Ok(())
        })
        .expect("decoders are total");
}

/// Every JSON-RPC method name the node registers, read from the RPC sources so a method added
/// later is fuzzed without editing this list.
fn rpc_method_names() -> Vec<String> {
    let src = [
        include_str!("../src/rpc/mod.rs"),
        include_str!("../src/rpc/pubsub.rs"),
    ];
    let mut names: Vec<String> = src
        .iter()
        .flat_map(|s| s.split('"').skip(1).step_by(2))
        .filter(|s| {
            let (ns, rest) = s.split_once('_').unwrap_or(("", ""));
            ["eth", "net", "web3", "parley", "txpool", "debug"].contains(&ns)
                && !rest.is_empty()
                && rest.chars().all(|c| c.is_ascii_alphanumeric())
        })
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Arbitrary JSON shaped like RPC parameters: block tags and hex quantities at the edges,
/// addresses and hashes, call and filter objects with the field names the methods read.
fn json_param() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{Value, json};
    const FIELDS: &[&str] = &[
        "from",
        "to",
        "data",
        "input",
        "value",
        "gas",
        "gasPrice",
        "maxFeePerGas",
        "maxPriorityFeePerGas",
        "nonce",
        "blockHash",
        "blockNumber",
        "fromBlock",
        "toBlock",
        "address",
        "topics",
        "requireCanonical",
        "balance",
        "code",
        "state",
        "stateDiff",
        "accessList",
        "type",
        "chainId",
    ];
    const TAGS: &[&str] = &[
        "latest",
        "pending",
        "earliest",
        "safe",
        "finalized",
        "0x0",
        "0x1",
        "0x",
        "0x00",
        "0xzz",
        "-0x1",
        "0xffffffffffffffff",
        "0x10000000000000000",
        "0x7fffffffffffffff",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        proptest::sample::select(TAGS).prop_map(|s| json!(s)),
        "[0-9a-f]{40}".prop_map(|s| json!(format!("0x{s}"))),
        "[0-9a-f]{64}".prop_map(|s| json!(format!("0x{s}"))),
        "[0-9a-fA-FxX]{0,90}".prop_map(|s| json!(format!("0x{s}"))),
        ".{0,24}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec((proptest::sample::select(FIELDS), inner), 0..6).prop_map(
                |kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            ),
        ]
    })
}

/// POSTs `body` to the server; returns the HTTP status and the body, or `None` when the
/// connection closed without an answer.
fn post(addr: std::net::SocketAddr, body: &[u8]) -> Option<(u16, Vec<u8>)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connects");
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout");
    let head = format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    let split = out.windows(4).position(|w| w == b"\r\n\r\n")?;
    let status = std::str::from_utf8(&out[..split])
        .ok()?
        .split(' ')
        .nth(1)?
        .parse()
        .ok()?;
    let body = out[split + 4..].to_vec();
    // jsonrpsee answers with a content length; a chunked body would start with its size line
    Some((status, body))
}

/// Every RPC method gets arbitrary parameters, and the port gets arbitrary bodies: each
/// request is answered with a JSON-RPC result or a JSON-RPC error that is not an internal
/// error, nothing panics, the node's state and mempool do not move, and it still answers.
#[test]
fn rpc_refuses_garbage_params_and_bodies() {
    use serde_json::{Value, json};
    use std::sync::atomic::{AtomicUsize, Ordering};
    static PANICS: AtomicUsize = AtomicUsize::new(0);
    let default_hook = std::panic::take_hook();
    // Count panics on the server's threads only (tokio workers and its blocking pool), so a
    // failing test elsewhere in this binary is not blamed on the RPC server.
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some("tokio-runtime-worker") {
            PANICS.fetch_add(1, Ordering::SeqCst);
        }
        default_hook(info);
    }));

    let mut net = Net::new(1);
    let k = net.keys[0].clone();
    let rw = create(&mut net, &k, 0, RW_INIT);
    net.submit(call(&k, 1, rw, 0, vec![7u8; 32]))
        .expect("admitted");
    net.step();
    // one pending transaction, so the pending views have something to read
    let pending_tx = net
        .submit(call(&k, 2, rw, 0, vec![8u8; 32]))
        .expect("admitted");
    let app = net.nodes[0].app.clone();
    let before = app.info().expect("info");
    let next_nonce = app.pending().next_nonce(&k.address(), 2);
    assert_eq!(next_nonce, 3);

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let addr = rt.block_on(async {
        let (addr, handle) = parley_app::rpc::serve(
            app.clone(),
            ([127, 0, 0, 1], 0).into(),
            "http://127.0.0.1:9",
            parley_app::node::config::RpcLimits::default(),
        )
        .await
        .expect("serves");
        std::mem::forget(handle);
        addr
    });
    let methods = rpc_method_names();
    assert!(methods.len() >= 30, "method names found: {methods:?}");

    let answered = |status: u16, body: &[u8]| -> Result<Value, TestCaseError> {
        let v: Value = serde_json::from_slice(body).map_err(|e| {
            TestCaseError::fail(format!(
                "status {status}: not JSON ({e}): {}",
                String::from_utf8_lossy(body)
            ))
        })?;
        let one = |v: &Value| -> Result<(), TestCaseError> {
            let ok = v.get("result").is_some()
                || v["error"]["code"].as_i64().is_some_and(|c| c != -32603)
                    && v["error"]["message"]
                        .as_str()
                        .is_some_and(|m| !m.is_empty());
            prop_assert!(ok, "not a result or a clear error: {}", v);
            Ok(())
        };
        match &v {
            Value::Array(items) => items.iter().try_for_each(one)?,
            other => one(other)?,
        }
        Ok(v)
    };

    let cases = std::env::var("PARLEY_RPC_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1500);
    let request = (
        proptest::sample::select(methods.clone()),
        prop_oneof![
            4 => proptest::collection::vec(json_param(), 0..4).prop_map(Value::Array),
            1 => json_param(),
        ],
    );
    runner(cases)
        .run(&request, |(method, params)| {
            let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
            let (status, reply) = post(addr, body.to_string().as_bytes())
                .ok_or_else(|| TestCaseError::fail(format!("no answer to {body}")))?;
            answered(status, &reply)?;
            Ok(())
        })
        .expect("every method answers garbage parameters with a clear error");

    let valid = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": [format!("{:#x}", k.address()), "latest"]})
        .to_string()
        .into_bytes();
    runner(cases / 3)
        .run(&mangled(vec![Bytes::from(valid)]), |bytes| {
            let (status, reply) = post(addr, &bytes)
                .ok_or_else(|| TestCaseError::fail("no answer to a garbage body"))?;
            // A JSON-RPC notification (a request without an id) gets no answer, by the spec.
            let notification = serde_json::from_slice::<Value>(&bytes)
                .is_ok_and(|v| v.is_object() && v.get("id").is_none());
            if notification && (reply.is_empty() || reply == b"null") {
                return Ok(());
            }
            // Anything else gets a result or a parse / invalid-request error.
            answered(status, &reply)?;
            Ok(())
        })
        .expect("the port answers garbage bodies with a clear error");

    assert_eq!(
        PANICS.load(Ordering::SeqCst),
        0,
        "a request panicked the node"
    );
    assert_eq!(app.info().expect("info"), before, "state moved");
    assert_eq!(
        app.pending().next_nonce(&k.address(), 2),
        next_nonce,
        "mempool moved"
    );
    assert!(
        app.pending().get(&pending_tx).is_some(),
        "pending tx dropped"
    );
    let (_, reply) = post(
        addr,
        br#"{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}"#,
    )
    .expect("still answers");
    let v: Value = serde_json::from_slice(&reply).expect("json");
    assert_eq!(v["result"], json!(format!("{:#x}", before.0)));
}
