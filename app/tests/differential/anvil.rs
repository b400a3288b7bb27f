//! The reference node: an anvil process on a free loopback port, driven over JSON-RPC with a
//! minimal blocking HTTP/1.1 client (keep-alive, Content-Length or chunked responses).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// A running anvil, killed on drop.
pub struct Anvil {
    child: Child,
    port: u16,
    conn: Option<BufReader<TcpStream>>,
    log: PathBuf,
    next_id: u64,
}

/// Where the anvil binary is: `$ANVIL_BIN`, else `<repo>/.tools/bin/anvil`.
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("ANVIL_BIN") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(".tools")
        .join("bin")
        .join("anvil")
}

impl Anvil {
    /// Starts anvil for `chain_id` with a genesis at `timestamp`; waits until it answers.
    pub fn start(dir: &Path, chain_id: u64, gas_limit: u64, base_fee: u64, timestamp: u64) -> Self {
        let bin = binary();
        assert!(
            bin.is_file(),
            "anvil not found at {} (set ANVIL_BIN or run `bash scripts/tools.sh` to install \
             Foundry's anvil into <repo>/.tools/bin): the differential test needs it",
            bin.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let log = dir.join("anvil.log");
        let out = std::fs::File::create(&log).expect("anvil log file");
        let err = out.try_clone().expect("anvil log file");
        let child = Command::new(&bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--no-mining", "--order", "fifo", "--hardfork", "prague"])
            .args(["--chain-id", &chain_id.to_string()])
            .args(["--gas-limit", &gas_limit.to_string()])
            .args(["--base-fee", &base_fee.to_string()])
            .args(["--timestamp", &timestamp.to_string()])
            .args(["--accounts", "1", "--disable-default-create2-deployer"])
            .arg("--disable-min-priority-fee")
            .args(["--prune-history", "64"])
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut anvil = Self {
            child,
            port,
            conn: None,
            log,
            next_id: 1,
        };
        for _ in 0..300 {
            if let Ok(Some(status)) = anvil.child.try_wait() {
                panic!(
                    "anvil exited at start ({status}); its log:\n{}",
                    anvil.log_text()
                );
            }
            if anvil.try_call("eth_chainId", json!([])).is_ok() {
                return anvil;
            }
            anvil.conn = None;
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "anvil did not answer on port {port} within 30 s; its log:\n{}",
            anvil.log_text()
        );
    }

    /// anvil's output so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn connect(&mut self) -> std::io::Result<&mut BufReader<TcpStream>> {
        if self.conn.is_none() {
            let s = TcpStream::connect(("127.0.0.1", self.port))?;
            s.set_read_timeout(Some(Duration::from_secs(120)))?;
            s.set_nodelay(true)?;
            self.conn = Some(BufReader::new(s));
        }
        Ok(self.conn.as_mut().expect("just connected"))
    }

    /// One HTTP POST of `body`; returns the response body.
    fn post(&mut self, body: &[u8]) -> std::io::Result<Vec<u8>> {
        let port = self.port;
        let conn = self.connect()?;
        let head = format!(
            "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
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
                self.post(&bytes).map_err(|e| format!("anvil HTTP: {e}"))?
            }
        };
        serde_json::from_slice(&resp).map_err(|e| format!("anvil sent bad JSON: {e}"))
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
            .unwrap_or_else(|e| panic!("anvil {method}({params}) failed: {e}"))
    }

    /// A JSON-RPC batch of calls that must all succeed; results in call order.
    pub fn batch(&mut self, calls: &[(&str, Value)]) -> Vec<Value> {
        if calls.is_empty() {
            return vec![];
        }
        let first = self.next_id;
        let body: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(i, (m, p))| json!({"jsonrpc": "2.0", "id": first + i as u64, "method": m, "params": p}))
            .collect();
        self.next_id += calls.len() as u64;
        let resp = self
            .post_json(&Value::Array(body))
            .unwrap_or_else(|e| panic!("anvil batch failed: {e}"));
        let items = resp
            .as_array()
            .unwrap_or_else(|| panic!("anvil batch answer is not an array: {resp}"));
        let mut out = vec![Value::Null; calls.len()];
        for item in items {
            let id = item
                .get("id")
                .and_then(Value::as_u64)
                .unwrap_or_else(|| panic!("batch item without id: {item}"));
            let i = (id - first) as usize;
            out[i] = Self::result(item.clone())
                .unwrap_or_else(|e| panic!("anvil {}({}) failed: {e}", calls[i].0, calls[i].1));
        }
        out
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
