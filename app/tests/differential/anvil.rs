//! The reference node: an anvil process on a free loopback port, driven over JSON-RPC
//! ([`super::client::Rpc`]; `Anvil` derefs to it).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::client::Rpc;

/// A running anvil, killed on drop.
pub struct Anvil {
    child: Child,
    rpc: Rpc,
    log: PathBuf,
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
            rpc: Rpc::new("anvil", "127.0.0.1", port),
            log,
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
            anvil.rpc.reset();
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
}

impl std::ops::Deref for Anvil {
    type Target = Rpc;

    fn deref(&self) -> &Rpc {
        &self.rpc
    }
}

impl std::ops::DerefMut for Anvil {
    fn deref_mut(&mut self) -> &mut Rpc {
        &mut self.rpc
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
