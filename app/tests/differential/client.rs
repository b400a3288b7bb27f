//! A minimal blocking JSON-RPC client over HTTP/1.1 (keep-alive, Content-Length or chunked
//! responses), for anvil and for a Parley node's JSON-RPC.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};

/// Calls per HTTP request in [`Rpc::batch`] (Parley's default `rpc_max_batch` is 1000).
const MAX_BATCH: usize = 500;

/// A JSON-RPC endpoint at `http://host:port/`.
pub struct Rpc {
    /// For messages: "anvil", "node0 (http://127.0.0.1:8545)".
    pub name: String,
    host: String,
    port: u16,
    conn: Option<BufReader<TcpStream>>,
    next_id: u64,
}

impl Rpc {
    pub fn new(name: impl Into<String>, host: &str, port: u16) -> Self {
        Self {
            name: name.into(),
            host: host.to_string(),
            port,
            conn: None,
            next_id: 1,
        }
    }

    /// `http://host:port` (a trailing `/` is allowed; no other path).
    pub fn from_url(name: &str, url: &str) -> Self {
        let rest = url
            .trim()
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("{name}: {url:?} is not an http:// URL"));
        let rest = rest.trim_end_matches('/');
        let (host, port) = rest
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("{name}: {url:?} has no port"));
        let port = port
            .parse()
            .unwrap_or_else(|e| panic!("{name}: port of {url:?}: {e}"));
        Self::new(format!("{name} ({url})"), host, port)
    }

    /// Forgets the kept-alive connection (the next call opens a new one).
    pub fn reset(&mut self) {
        self.conn = None;
    }

    fn connect(&mut self) -> std::io::Result<&mut BufReader<TcpStream>> {
        if self.conn.is_none() {
            let s = TcpStream::connect((self.host.as_str(), self.port))?;
            s.set_read_timeout(Some(Duration::from_secs(120)))?;
            s.set_nodelay(true)?;
            self.conn = Some(BufReader::new(s));
        }
        Ok(self.conn.as_mut().expect("just connected"))
    }

    /// One HTTP POST of `body`; returns the response body.
    fn post(&mut self, body: &[u8]) -> std::io::Result<Vec<u8>> {
        let host = format!("{}:{}", self.host, self.port);
        let conn = self.connect()?;
        let head = format!(
            "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        );
        let s = conn.get_mut();
        s.write_all(head.as_bytes())?;
        s.write_all(body)?;
        s.flush()?;
        let mut status = String::new();
        conn.read_line(&mut status)?;
        if status.is_empty() {
            return Err(std::io::Error::other("connection closed"));
        }
        let mut len: Option<usize> = None;
        let mut chunked = false;
        let mut close = false;
        loop {
            let mut line = String::new();
            conn.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                len = v.trim().parse().ok();
            } else if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            } else if lower.starts_with("connection:") && lower.contains("close") {
                close = true;
            }
        }
        let mut out = Vec::new();
        if chunked {
            loop {
                let mut size = String::new();
                conn.read_line(&mut size)?;
                let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                    .map_err(std::io::Error::other)?;
                let mut chunk = vec![0u8; n + 2];
                conn.read_exact(&mut chunk)?;
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&chunk[..n]);
            }
        } else if let Some(n) = len {
            out.resize(n, 0);
            conn.read_exact(&mut out)?;
        } else {
            conn.read_to_end(&mut out)?;
            close = true;
        }
        if close {
            self.conn = None;
        }
        if !status.contains(" 200") {
            return Err(std::io::Error::other(format!(
                "HTTP {}: {}",
                status.trim(),
                String::from_utf8_lossy(&out)
            )));
        }
        Ok(out)
    }

    fn post_json(&mut self, body: &Value) -> Result<Value, String> {
        let bytes = serde_json::to_vec(body).expect("json serializes");
        let resp = match self.post(&bytes) {
            Ok(r) => r,
            Err(_) => {
                // A stale keep-alive connection: retry once on a fresh one.
                self.conn = None;
                self.post(&bytes)
                    .map_err(|e| format!("{} HTTP: {e}", self.name))?
            }
        };
        serde_json::from_slice(&resp).map_err(|e| format!("{} sent bad JSON: {e}", self.name))
    }

    fn result(v: Value) -> Result<Value, String> {
        if let Some(e) = v.get("error") {
            return Err(e.to_string());
        }
        v.get("result")
            .cloned()
            .ok_or_else(|| format!("no result in {v}"))
    }

    /// A call that may fail.
    pub fn try_call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        let v = self
            .post_json(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))?;
        Self::result(v)
    }

    /// A call that must succeed.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.try_call(method, params.clone())
            .unwrap_or_else(|e| panic!("{} {method}({params}) failed: {e}", self.name))
    }

    /// JSON-RPC batches (at most [`MAX_BATCH`] calls each) of calls that must all succeed;
    /// results in call order.
    pub fn batch(&mut self, calls: &[(&str, Value)]) -> Vec<Value> {
        let mut out = Vec::with_capacity(calls.len());
        for chunk in calls.chunks(MAX_BATCH) {
            out.extend(self.one_batch(chunk));
        }
        out
    }

    fn one_batch(&mut self, calls: &[(&str, Value)]) -> Vec<Value> {
        let first = self.next_id;
        let body: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(i, (m, p))| json!({"jsonrpc": "2.0", "id": first + i as u64, "method": m, "params": p}))
            .collect();
        self.next_id += calls.len() as u64;
        let resp = self
            .post_json(&Value::Array(body))
            .unwrap_or_else(|e| panic!("{} batch failed: {e}", self.name));
        let items = resp
            .as_array()
            .unwrap_or_else(|| panic!("{} batch answer is not an array: {resp}", self.name));
        let mut out = vec![Value::Null; calls.len()];
        for item in items {
            let id = item
                .get("id")
                .and_then(Value::as_u64)
                .unwrap_or_else(|| panic!("{}: batch item without id: {item}", self.name));
            let i = (id - first) as usize;
            out[i] = Self::result(item.clone()).unwrap_or_else(|e| {
                panic!("{} {}({}) failed: {e}", self.name, calls[i].0, calls[i].1)
            });
        }
        out
    }
}
