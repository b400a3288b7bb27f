//! The node's live web view (DESIGN §7), on its own port (`web_addr`, loopback by default).
//!
//! It serves three things and nothing else:
//! - the page (`/`, `/app.js`, `/style.css`), compiled into the binary from `assets/`;
//! - `POST /rpc`: a **read-only** subset of the node's own JSON-RPC methods
//!   ([`READ_METHODS`]), called in-process on the very [`Methods`] the JSON-RPC port serves,
//!   so the page shows exactly what any client of the node reads, under the same limits;
//! - `GET /events`: server-sent events, one `head` event per committed block, fed by the
//!   node's own `eth_subscribe("newHeads")` subscription.
//!
//! The page never writes: transaction submission, protocol messages, filters and
//! `eth_call` stay on the JSON-RPC port. Nothing here is consensus.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt as _;
use jsonrpsee::server::Methods;
use serde_json::value::RawValue;
use tokio::sync::Semaphore;

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

/// The JSON-RPC methods the page may call: reads whose cost is bounded by the JSON-RPC
/// limits. Everything that writes (transactions, protocol messages, filters) or runs code
/// (`eth_call`, `eth_estimateGas`) is refused here with an error naming the JSON-RPC port.
pub const READ_METHODS: &[&str] = &[
    "eth_chainId",
    "net_version",
    "web3_clientVersion",
    "eth_blockNumber",
    "eth_gasPrice",
    "eth_getBalance",
    "eth_getTransactionCount",
    "eth_getCode",
    "eth_getBlockByNumber",
    "eth_getBlockByHash",
    "eth_getTransactionByHash",
    "eth_getTransactionReceipt",
    "parley_getLedger",
    "parley_getMessage",
    "parley_getRoles",
    "parley_getRegistry",
    "parley_getSchedule",
    "parley_getPot",
    "parley_getProofChain",
    "parley_getProofSlot",
    "parley_getSlot",
    "parley_getTransactionStage",
    "parley_getEpoch",
    "parley_getSeed",
    "parley_getBridge",
    "parley_getWithdrawals",
    "parley_getAttestation",
    "parley_getProtocolParams",
];

/// JSON-RPC error code of a method the web view does not serve (as for an unknown method).
pub const NOT_SERVED_CODE: i32 = -32601;

/// Bounds of the web port, taken from the JSON-RPC limits where they mean the same thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body, in bytes.
    pub max_request_bytes: usize,
    /// Largest response body (a whole batch), in bytes.
    pub max_response_bytes: usize,
    /// Most calls in one batch.
    pub max_batch: usize,
    /// Most `/events` streams open at once (each holds one subscription).
    pub max_streams: usize,
}

impl Limits {
    /// The web port's bounds from the JSON-RPC port's.
    pub fn from_rpc(rpc: &crate::node::config::RpcLimits) -> Self {
        Self {
            max_request_bytes: rpc.max_request_bytes as usize,
            max_response_bytes: rpc.max_response_bytes as usize,
            max_batch: rpc.max_batch as usize,
            max_streams: 64,
        }
    }
}

#[derive(Clone)]
struct Web {
    methods: Methods,
    limits: Limits,
    streams: Arc<Semaphore>,
}

/// Binds `addr` and serves the web view on the current tokio runtime; returns the bound
/// address (a port of 0 picks a free one).
pub async fn spawn(methods: Methods, addr: SocketAddr, limits: Limits) -> eyre::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| eyre::eyre!("web_addr {addr}: {e}"))?;
    let local = listener.local_addr()?;
    let router = router(methods, limits);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(target: "parley::web", error = %e, "web view stopped");
        }
    });
    Ok(local)
}

fn router(methods: Methods, limits: Limits) -> Router {
    let web = Web {
        methods,
        limits,
        streams: Arc::new(Semaphore::new(limits.max_streams)),
    };
    Router::new()
        .route(
            "/",
            get(|| async { page("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/app.js",
            get(|| async { page("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/style.css",
            get(|| async { page("text/css; charset=utf-8", STYLE_CSS) }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/rpc", post(rpc))
        .route("/events", get(events))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                "not found: this port serves the web view (/), /rpc and /events\n",
            )
        })
        .layer(DefaultBodyLimit::max(limits.max_request_bytes))
        .with_state(web)
}

/// A static asset, with headers that keep the page to its own origin.
fn page(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (HeaderName::from_static("referrer-policy"), "no-referrer"),
        ],
        body,
    )
        .into_response()
}

fn json(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A JSON-RPC error object for `id` (null when the request had none we could read).
fn rpc_error(id: Option<&RawValue>, code: i32, message: &str) -> Box<RawValue> {
    let id: serde_json::Value = id
        .and_then(|i| serde_json::from_str(i.get()).ok())
        .unwrap_or(serde_json::Value::Null);
    serde_json::value::to_raw_value(&serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {"code": code, "message": message},
    }))
    .expect("a JSON value serializes")
}

/// What the allow-list needs of a request before the node parses it properly.
#[derive(serde::Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    method: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    id: Option<&'a RawValue>,
}

impl Web {
    /// One call: refused unless its method is a read, else answered by the node's methods.
    async fn call(&self, request: &str) -> Box<RawValue> {
        let head: Head<'_> = match serde_json::from_str(request) {
            Ok(h) => h,
            Err(e) => return rpc_error(None, -32700, &format!("parse error: {e}")),
        };
        let Some(method) = head.method.as_deref() else {
            return rpc_error(head.id, -32600, "invalid request: no method");
        };
        if !READ_METHODS.contains(&method) {
            return rpc_error(
                head.id,
                NOT_SERVED_CODE,
                &format!(
                    "{method} is not served by the web view, which only reads; use the node's JSON-RPC port (rpc_addr)"
                ),
            );
        }
        match self.methods.raw_json_request(request, 1).await {
            Ok((response, _)) => response,
            Err(e) => rpc_error(head.id, -32600, &format!("invalid request: {e}")),
        }
    }
}

/// `POST /rpc`: one call or a batch, each checked against [`READ_METHODS`].
async fn rpc(State(web): State<Web>, body: Bytes) -> Response {
    let Ok(text) = std::str::from_utf8(&body) else {
        return json(rpc_error(None, -32700, "parse error: the body is not UTF-8").to_string());
    };
    if !text.trim_start().starts_with('[') {
        return json(web.call(text).await.to_string());
    }
    let calls: Vec<Box<RawValue>> = match serde_json::from_str(text) {
        Ok(c) => c,
        Err(e) => return json(rpc_error(None, -32700, &format!("parse error: {e}")).to_string()),
    };
    if calls.is_empty() || calls.len() > web.limits.max_batch {
        let msg = format!(
            "a batch holds 1 to {} calls; this one has {}",
            web.limits.max_batch,
            calls.len()
        );
        return json(rpc_error(None, -32600, &msg).to_string());
    }
    let mut out = String::from("[");
    for (i, c) in calls.iter().enumerate() {
        let r = web.call(c.get()).await;
        if out.len() + r.get().len() + 2 > web.limits.max_response_bytes {
            let msg = format!(
                "the batch's answer exceeds {} bytes; ask for less at a time",
                web.limits.max_response_bytes
            );
            return json(rpc_error(None, -32600, &msg).to_string());
        }
        if i > 0 {
            out.push(',');
        }
        out.push_str(r.get());
    }
    out.push(']');
    json(out)
}

/// `GET /events`: the latest head at once, then one `head` event per committed block.
async fn events(State(web): State<Web>) -> Response {
    let Ok(permit) = web.streams.clone().try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many live views are open on this node; close one and reload\n",
        )
            .into_response();
    };
    // A viewer that cannot keep up is dropped by the node's pub-sub, never buffered forever.
    let sub = match web
        .methods
        .subscribe("eth_subscribe", ["newHeads"], 64)
        .await
    {
        Ok(s) => s,
        Err(e) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("cannot follow new heads: {e}\n"),
            )
                .into_response();
        }
    };
    let latest: Option<serde_json::Value> = web
        .methods
        .call("eth_getBlockByNumber", ("latest", false))
        .await
        .ok();
    let first = futures::stream::iter(latest.map(|b| Ok::<_, Infallible>(head_event(&b))));
    let rest = futures::stream::unfold((sub, permit), |(mut sub, permit)| async move {
        match sub.next::<serde_json::Value>().await {
            Some(Ok((head, _))) => Some((Ok(head_event(&head)), (sub, permit))),
            _ => None,
        }
    });
    Sse::new(first.chain(rest))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The fields of a head the page uses (a whole block header is more than it needs).
fn head_event(head: &serde_json::Value) -> Event {
    let small = serde_json::json!({
        "number": head.get("number"),
        "hash": head.get("hash"),
        "timestamp": head.get("timestamp"),
        "gasUsed": head.get("gasUsed"),
        "miner": head.get("miner"),
    });
    Event::default().event("head").data(small.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn methods() -> Methods {
        let mut m = jsonrpsee::RpcModule::new(());
        m.register_method("eth_blockNumber", |_, _, _| "0x2a")
            .expect("registers");
        m.register_method("eth_sendRawTransaction", |_, _, _| "0xsent")
            .expect("registers");
        m.into()
    }

    fn web(max_batch: usize) -> Web {
        let limits = Limits {
            max_request_bytes: 1 << 20,
            max_response_bytes: 1 << 20,
            max_batch,
            max_streams: 1,
        };
        Web {
            methods: methods(),
            limits,
            streams: Arc::new(Semaphore::new(1)),
        }
    }

    async fn body(r: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20)
            .await
            .expect("body");
        serde_json::from_slice(&bytes).expect("JSON")
    }

    #[tokio::test]
    async fn reads_pass_and_writes_are_refused_naming_the_rpc_port() {
        let w = web(10);
        let ok = body(
            rpc(
                State(w.clone()),
                Bytes::from_static(br#"{"jsonrpc":"2.0","id":7,"method":"eth_blockNumber"}"#),
            )
            .await,
        )
        .await;
        assert_eq!(ok["result"], "0x2a");
        assert_eq!(ok["id"], 7);
        let refused = body(
            rpc(
                State(w),
                Bytes::from_static(
                    br#"{"jsonrpc":"2.0","id":8,"method":"eth_sendRawTransaction","params":["0x00"]}"#,
                ),
            )
            .await,
        )
        .await;
        assert_eq!(refused["id"], 8);
        assert_eq!(refused["error"]["code"], NOT_SERVED_CODE);
        let msg = refused["error"]["message"].as_str().expect("message");
        assert!(msg.contains("rpc_addr"), "{msg}");
        assert!(refused.get("result").is_none());
    }

    #[tokio::test]
    async fn batches_are_checked_call_by_call_and_bounded() {
        let w = web(2);
        let both = body(
            rpc(
                State(w.clone()),
                Bytes::from_static(
                    br#"[{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"},{"jsonrpc":"2.0","id":2,"method":"eth_sendRawTransaction","params":["0x00"]}]"#,
                ),
            )
            .await,
        )
        .await;
        assert_eq!(both[0]["result"], "0x2a");
        assert_eq!(both[1]["error"]["code"], NOT_SERVED_CODE);
        let long = body(
            rpc(
                State(w.clone()),
                Bytes::from_static(
                    br#"[{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"},{"jsonrpc":"2.0","id":2,"method":"eth_blockNumber"},{"jsonrpc":"2.0","id":3,"method":"eth_blockNumber"}]"#,
                ),
            )
            .await,
        )
        .await;
        assert_eq!(long["error"]["code"], -32600, "{long}");
        let empty = body(rpc(State(w), Bytes::from_static(b"[]")).await).await;
        assert_eq!(empty["error"]["code"], -32600);
    }

    #[tokio::test]
    async fn garbage_gets_a_parse_error() {
        for junk in [&b"\xff\xfe"[..], b"{", b"nonsense", b"[1,"] {
            let r = body(rpc(State(web(10)), Bytes::copy_from_slice(junk)).await).await;
            assert_eq!(r["error"]["code"], -32700, "{r}");
        }
        let r = body(rpc(State(web(10)), Bytes::from_static(br#"{"id":1}"#)).await).await;
        assert_eq!(r["error"]["code"], -32600, "{r}");
    }

    #[test]
    fn every_allowed_method_is_a_read() {
        for m in READ_METHODS {
            assert!(
                m.starts_with("eth_get")
                    || m.starts_with("parley_get")
                    || matches!(
                        *m,
                        "eth_chainId"
                            | "net_version"
                            | "web3_clientVersion"
                            | "eth_blockNumber"
                            | "eth_gasPrice"
                    ),
                "{m} is not a read"
            );
            assert!(!m.contains("Filter"), "{m} keeps state on the node");
        }
    }
}
