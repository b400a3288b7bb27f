//! EVM side: compile the generated Solidity verifier offline with solcjs (standard JSON),
//! deploy it to a local anvil and call it over JSON-RPC.
//!
//! Tools are found, in order: `$SOLC` (an executable answering `--standard-json`, such as the
//! project's `.tools/bin/solc` shim), `$SOLCJS` (a directory of the npm `solc` module, run
//! through `node`), `<workspace>/.tools/bin/solc`, `solc` on PATH; `$ANVIL_BIN`,
//! `<workspace>/.tools/bin/anvil`, `anvil` on PATH. Nothing is downloaded.
//!
//! The JSON-RPC client is a minimal HTTP/1.1 client over `std::net` with timeouts: anvil is a
//! local child process, and this keeps the crate free of an async stack.

use crate::error::{ProofError, Result};
use serde_json::{Value, json};
use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

fn tool_err(tool: &'static str, reason: impl Into<String>) -> ProofError {
    ProofError::Tool {
        tool,
        reason: reason.into(),
    }
}

fn workspace_tool(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../.tools/bin")
        .join(name)
}

/// Compile Solidity source (one contract) to creation bytecode with solc standard JSON,
/// without the optimizer.
pub fn compile_solidity(source: &str) -> Result<Vec<u8>> {
    compile_solidity_with(source, false)
}

/// [`compile_solidity`] with the optimizer on or off. (Measured on the 2-block epoch
/// aggregation verifier of 30.9 KB: solcjs ran out of wasm memory with the Yul optimizer;
/// the compression verifier is smaller.)
pub fn compile_solidity_with(source: &str, optimize: bool) -> Result<Vec<u8>> {
    let input = json!({
        "language": "Solidity",
        "sources": { "Verifier.sol": { "content": source } },
        "settings": {
            "optimizer": { "enabled": optimize, "runs": 1 },
            "outputSelection": { "*": { "*": ["evm.bytecode.object"] } }
        }
    })
    .to_string();
    let mut cmd = if let Some(s) = std::env::var_os("SOLC") {
        let mut c = Command::new(s);
        c.arg("--standard-json");
        c
    } else if let Some(dir) = std::env::var_os("SOLCJS") {
        let mut c = Command::new("node");
        c.arg("-e")
            .arg(
                "const solc=require(process.argv[1]);let s='';process.stdin.on('data',d=>s+=d);\
                 process.stdin.on('end',()=>process.stdout.write(solc.compile(s)));",
            )
            .arg(dir);
        c
    } else {
        let shim = workspace_tool("solc");
        let mut c = Command::new(if shim.exists() {
            shim
        } else {
            PathBuf::from("solc")
        });
        c.arg("--standard-json");
        c
    };
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| tool_err("solc", format!("cannot start ({e}); set SOLC or SOLCJS")))?;
    child
        .stdin
        .take()
        .ok_or_else(|| tool_err("solc", "no stdin"))?
        .write_all(input.as_bytes())
        .map_err(|e| tool_err("solc", e.to_string()))?;
    let out = child
        .wait_with_output()
        .map_err(|e| tool_err("solc", e.to_string()))?;
    if !out.status.success() {
        return Err(tool_err(
            "solc",
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    let v: Value = serde_json::from_slice(&out.stdout)?;
    if let Some(errs) = v["errors"].as_array() {
        let fatal: Vec<_> = errs
            .iter()
            .filter(|e| e["severity"] == "error")
            .map(|e| e["formattedMessage"].to_string())
            .collect();
        if !fatal.is_empty() {
            return Err(tool_err("solc", fatal.join("\n")));
        }
    }
    let contracts = v["contracts"]["Verifier.sol"]
        .as_object()
        .ok_or_else(|| tool_err("solc", "no contract in output"))?;
    let (_, c) = contracts
        .iter()
        .next()
        .ok_or_else(|| tool_err("solc", "no contract in output"))?;
    let hexcode = c["evm"]["bytecode"]["object"]
        .as_str()
        .ok_or_else(|| tool_err("solc", "no bytecode in output"))?;
    hex::decode(hexcode).map_err(|e| tool_err("solc", e.to_string()))
}

/// A local anvil child process, killed on drop.
pub struct Anvil {
    child: Child,
    port: u16,
}

impl std::fmt::Debug for Anvil {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Anvil").field("port", &self.port).finish()
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Anvil {
    /// Start anvil on a free loopback port, enforcing EIP-170's 24,576-byte code-size limit as
    /// Ethereum does (the compression verifier fits it).
    pub fn spawn() -> Result<Self> {
        Self::spawn_with(true)
    }

    /// Start anvil without the code-size limit (for measuring verifiers that do not fit).
    pub fn spawn_unlimited() -> Result<Self> {
        Self::spawn_with(false)
    }

    #[allow(clippy::disallowed_methods)] // a start-up timeout for a local tool, not consensus
    fn spawn_with(code_size_limit: bool) -> Result<Self> {
        let bin = std::env::var_os("ANVIL_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let local = workspace_tool("anvil");
                if local.exists() {
                    local
                } else {
                    PathBuf::from("anvil")
                }
            });
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| tool_err("anvil", e.to_string()))?
            .port();
        let mut cmd = Command::new(&bin);
        cmd.args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--gas-limit", "100000000", "--silent"]);
        if !code_size_limit {
            cmd.arg("--disable-code-size-limit");
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                tool_err(
                    "anvil",
                    format!("cannot start {} ({e}); set ANVIL_BIN", bin.display()),
                )
            })?;
        let anvil = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if anvil.rpc("eth_chainId", json!([])).is_ok() {
                return Ok(anvil);
            }
            if Instant::now() > deadline {
                return Err(tool_err("anvil", "did not answer within 20 s"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One JSON-RPC call. A JSON-RPC error (e.g. a revert) is `Err(ProofError::Evm)`.
    pub fn rpc(&self, method: &str, params: Value) -> Result<Value> {
        let body =
            json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
        let mut s = TcpStream::connect(("127.0.0.1", self.port))
            .map_err(|e| ProofError::Evm(format!("connect: {e}")))?;
        s.set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(|e| ProofError::Evm(e.to_string()))?;
        s.set_write_timeout(Some(Duration::from_secs(60)))
            .map_err(|e| ProofError::Evm(e.to_string()))?;
        let req = format!(
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
            body.len(),
            body
        );
        s.write_all(req.as_bytes())
            .map_err(|e| ProofError::Evm(format!("write: {e}")))?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)
            .map_err(|e| ProofError::Evm(format!("read: {e}")))?;
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| ProofError::Evm("malformed HTTP response".into()))?;
        let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
        let mut payload = raw[split + 4..].to_vec();
        if head.contains("transfer-encoding: chunked") {
            payload = dechunk(&payload)?;
        }
        let v: Value = serde_json::from_slice(&payload)?;
        if let Some(err) = v.get("error") {
            return Err(ProofError::Evm(err.to_string()));
        }
        Ok(v["result"].clone())
    }

    fn sender(&self) -> Result<String> {
        let accts = self.rpc("eth_accounts", json!([]))?;
        accts[0]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ProofError::Evm("no accounts".into()))
    }

    fn send_and_wait(&self, tx: Value) -> Result<Value> {
        let hash = self.rpc("eth_sendTransaction", json!([tx]))?;
        for _ in 0..100 {
            let r = self.rpc("eth_getTransactionReceipt", json!([hash]))?;
            if !r.is_null() {
                return Ok(r);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(ProofError::Evm("no receipt".into()))
    }

    /// Deploy creation code; returns the contract address.
    pub fn deploy(&self, code: &[u8]) -> Result<String> {
        let from = self.sender()?;
        let r = self.send_and_wait(json!({
            "from": from, "data": format!("0x{}", hex::encode(code)), "gas": "0x4000000"
        }))?;
        if r["status"] != "0x1" {
            return Err(ProofError::Evm(format!("deployment failed: {r}")));
        }
        r["contractAddress"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ProofError::Evm("no contract address".into()))
    }

    /// Size in bytes of the runtime code deployed at `addr` (`eth_getCode`).
    pub fn code_size(&self, addr: &str) -> Result<usize> {
        let code = self.rpc("eth_getCode", json!([addr, "latest"]))?;
        let hex_code = code
            .as_str()
            .ok_or_else(|| ProofError::Evm(format!("eth_getCode answered {code}")))?;
        Ok(hex_code.trim_start_matches("0x").len() / 2)
    }

    /// `eth_call`: `Ok` if the call succeeds, `Err(Evm)` if it reverts.
    pub fn call(&self, to: &str, data: &[u8]) -> Result<Value> {
        let from = self.sender()?;
        self.rpc(
            "eth_call",
            json!([{ "from": from, "to": to, "data": format!("0x{}", hex::encode(data)), "gas": "0x4000000" }, "latest"]),
        )
    }

    /// Send a transaction calling `to` with `data`; returns the gas used by the mined,
    /// successful transaction (intrinsic + calldata + execution), or `Err` if it reverted.
    pub fn transact(&self, to: &str, data: &[u8]) -> Result<u64> {
        let from = self.sender()?;
        let r = self.send_and_wait(json!({
            "from": from, "to": to, "data": format!("0x{}", hex::encode(data)), "gas": "0x1000000"
        }))?;
        if r["status"] != "0x1" {
            return Err(ProofError::Evm(format!(
                "transaction reverted: {}",
                r["transactionHash"]
            )));
        }
        let g = r["gasUsed"]
            .as_str()
            .ok_or_else(|| ProofError::Evm("no gasUsed".into()))?;
        u64::from_str_radix(g.trim_start_matches("0x"), 16)
            .map_err(|e| ProofError::Evm(e.to_string()))
    }
}

fn dechunk(mut b: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| ProofError::Evm("bad chunk".into()))?;
        let size_str = String::from_utf8_lossy(&b[..line_end]);
        let size = usize::from_str_radix(size_str.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|e| ProofError::Evm(format!("bad chunk size: {e}")))?;
        b = &b[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if b.len() < size {
            return Err(ProofError::Evm("truncated chunk".into()));
        }
        out.extend_from_slice(&b[..size]);
        b = &b[(size + 2).min(b.len())..];
    }
}
