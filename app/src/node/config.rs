//! `parleyd`'s configuration: `<home>/config/parleyd.toml`, every key overridable by the
//! environment variable `PARLEY_<KEY>` (upper case). Loopback defaults. A bad value exits
//! with a message naming the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use alloy_primitives::Address;
use serde::{Deserialize, Serialize};

/// The node configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where CometBFT's `proxy_app` connects (ABCI socket server).
    pub abci_addr: SocketAddr,
    /// Ethereum JSON-RPC listen address.
    pub rpc_addr: SocketAddr,
    /// This node's CometBFT RPC, used to broadcast transactions.
    pub cometbft_rpc: String,
    /// Prometheus metrics listen address.
    pub metrics_addr: SocketAddr,
    /// The live web view's listen address (DESIGN §7: slots, provers, epochs, blocks and
    /// transactions, updated as blocks commit); an empty string turns it off. It serves a
    /// page, a read-only subset of the JSON-RPC methods and a stream of new heads; keep it
    /// on loopback and reach it through an SSH tunnel, or put it behind a proxy you trust.
    #[serde(with = "optional_addr")]
    pub web_addr: Option<SocketAddr>,
    /// Database folder, relative to the home folder unless absolute.
    pub db_dir: PathBuf,
    /// Receives the priority fees of L2 blocks this node proposes.
    pub fee_recipient: Address,
    /// CometBFT's validator key file, relative to the home folder unless absolute (the home
    /// is shared with CometBFT). A validator's parleyd derives its seed secrets from it
    /// (ADR 0009); a node without the file sends empty vote extensions.
    pub priv_validator_key_file: PathBuf,
    /// `tracing` filter (e.g. `info`, `parley_app=debug`).
    pub log_level: String,
    /// `text` or `json`.
    pub log_format: String,
    /// Blocks of state history kept for reads at past blocks (`eth_call`, `eth_getBalance`…
    /// at a block number); older history is pruned. 0 keeps everything (an archive node).
    pub history_retention: u64,
    /// JSON-RPC: largest request body, in bytes.
    pub rpc_max_request_bytes: u32,
    /// JSON-RPC: largest response body, in bytes.
    pub rpc_max_response_bytes: u32,
    /// JSON-RPC: most calls in one batch.
    pub rpc_max_batch: u32,
    /// JSON-RPC: most open connections (HTTP and WebSocket).
    pub rpc_max_connections: u32,
    /// JSON-RPC: most subscriptions on one WebSocket connection.
    pub rpc_max_subscriptions: u32,
    /// Gas cap of `eth_call` and `eth_estimateGas` (the block gas limit caps it too).
    pub rpc_gas_cap: u64,
    /// Wall-clock limit of one `eth_call` / `eth_estimateGas`, in milliseconds.
    pub rpc_call_timeout_ms: u64,
    /// Most blocks one `eth_getLogs` (or log filter poll) may scan.
    pub rpc_max_log_blocks: u64,
    /// Most logs one `eth_getLogs` may return.
    pub rpc_max_logs: u64,
    /// Origins allowed by CORS for browser dApps: `*`, or a comma-separated list.
    pub rpc_cors: String,
    /// The built-in sequencer's secp256k1 private key (32 bytes hex); empty: off. It must be
    /// a registered sequencer with a ledger balance to bid from.
    pub sequencer_key: String,
    /// The built-in sequencer bids this share of its block's tips, in basis points (at least
    /// `min_bid`).
    pub sequencer_bid_share_bps: u64,
    /// The built-in sequencer bids `min_bid` for slots it has no transaction for, so that
    /// slots stay auctioned (off: it bids only with transactions to offer).
    pub sequencer_bid_empty: bool,
    /// gRPC ProverService listen address, for this node's prover workers (DESIGN §5); an
    /// empty string turns the service off.
    #[serde(with = "optional_addr")]
    pub prover_grpc_addr: Option<SocketAddr>,
    /// The trusted setup block proofs are checked with (DESIGN §4, ADR 0014): `dev` for the
    /// seeded development setup (anyone can forge proofs with it: localnets only), or the path
    /// of a ceremony's powers-of-tau file (relative to the home folder unless absolute), which
    /// must hash to what genesis pins. Empty: not chosen, and a chain that proves stops the
    /// node, naming this key. A missing or damaged file stops the node at start-up.
    pub srs: String,
    /// This validator's bridge key, a secp256k1 private key (32 bytes hex) whose address is
    /// the `bridge_key` registered with its validator entry: it signs each epoch's digest
    /// for L1 in the node's vote extensions (DESIGN §6). Empty: the node signs nothing (its
    /// power does not count toward an epoch's attestation). Keep it as secret as the
    /// validator key: with two thirds of the power's bridge keys, L1 accepts any epoch.
    pub bridge_key: String,
    /// An L1 JSON-RPC URL (a bridge chain's validators): the node watches the Rollup's queue
    /// there and votes L1 deposits and forced transactions into L2 (DESIGN §6). Empty: the
    /// node does not watch L1, and its power does not count toward letting entries in.
    pub l1_rpc: String,
    /// L1 blocks below the head before a queue entry counts (a reorganisation deeper than
    /// this makes the node stop voting on the queue until restarted).
    pub l1_finality_depth: u64,
    /// Milliseconds between the L1 watcher's polls.
    pub l1_poll_ms: u64,
    /// First L1 block the watcher reads: the Rollup's deployment block, or any block before.
    pub l1_start_block: u64,
}

/// An optional listen address written as a string, `""` for none (TOML has no null).
mod optional_addr {
    use std::net::SocketAddr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(a: &Option<SocketAddr>, s: S) -> Result<S::Ok, S::Error> {
        match a {
            Some(a) => s.serialize_str(&a.to_string()),
            None => s.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
        let text = String::deserialize(d)?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        text.trim()
            .parse()
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            abci_addr: ([127, 0, 0, 1], 26658).into(),
            rpc_addr: ([127, 0, 0, 1], 8545).into(),
            cometbft_rpc: "http://127.0.0.1:26657".into(),
            metrics_addr: ([127, 0, 0, 1], 9100).into(),
            web_addr: Some(([127, 0, 0, 1], 8700).into()),
            db_dir: "data/parley".into(),
            fee_recipient: Address::ZERO,
            priv_validator_key_file: "config/priv_validator_key.json".into(),
            log_level: "info".into(),
            log_format: "text".into(),
            history_retention: 0,
            rpc_max_request_bytes: 8 * 1024 * 1024,
            rpc_max_response_bytes: 64 * 1024 * 1024,
            rpc_max_batch: 1000,
            rpc_max_connections: 1024,
            rpc_max_subscriptions: 64,
            rpc_gas_cap: 50_000_000,
            rpc_call_timeout_ms: 5_000,
            rpc_max_log_blocks: 10_000,
            rpc_max_logs: 20_000,
            rpc_cors: "*".into(),
            sequencer_key: String::new(),
            sequencer_bid_share_bps: 5_000,
            sequencer_bid_empty: false,
            prover_grpc_addr: Some(([127, 0, 0, 1], 9090).into()),
            srs: String::new(),
            bridge_key: String::new(),
            l1_rpc: String::new(),
            l1_finality_depth: 64,
            l1_poll_ms: 2_000,
            l1_start_block: 0,
        }
    }
}

/// Keys of [`Config`], for environment overrides, each with whether its override is an
/// integer (the environment only carries strings).
const KEYS: &[(&str, bool)] = &[
    ("abci_addr", false),
    ("rpc_addr", false),
    ("cometbft_rpc", false),
    ("metrics_addr", false),
    ("web_addr", false),
    ("db_dir", false),
    ("fee_recipient", false),
    ("priv_validator_key_file", false),
    ("log_level", false),
    ("log_format", false),
    ("history_retention", true),
    ("rpc_max_request_bytes", true),
    ("rpc_max_response_bytes", true),
    ("rpc_max_batch", true),
    ("rpc_max_connections", true),
    ("rpc_max_subscriptions", true),
    ("rpc_gas_cap", true),
    ("rpc_call_timeout_ms", true),
    ("rpc_max_log_blocks", true),
    ("rpc_max_logs", true),
    ("rpc_cors", false),
    ("sequencer_key", false),
    ("sequencer_bid_share_bps", true),
    ("sequencer_bid_empty", false),
    ("prover_grpc_addr", false),
    ("srs", false),
    ("bridge_key", false),
    ("l1_rpc", false),
    ("l1_finality_depth", true),
    ("l1_poll_ms", true),
    ("l1_start_block", true),
];

/// Keys whose environment override is `true` or `false` (anything else stays a string and is
/// refused by the type check, naming the key).
const BOOL_KEYS: &[&str] = &["sequencer_bid_empty"];

/// The limits of the public JSON-RPC port (DESIGN §7 "Limits"), from [`Config`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcLimits {
    /// Largest request body, in bytes.
    pub max_request_bytes: u32,
    /// Largest response body, in bytes.
    pub max_response_bytes: u32,
    /// Most calls in one batch.
    pub max_batch: u32,
    /// Most open connections.
    pub max_connections: u32,
    /// Most subscriptions per WebSocket connection.
    pub max_subscriptions: u32,
    /// Gas cap of simulated calls.
    pub gas_cap: u64,
    /// Wall-clock limit of one simulated call.
    pub call_timeout: std::time::Duration,
    /// Most blocks one log query scans.
    pub max_log_blocks: u64,
    /// Most logs one query returns.
    pub max_logs: u64,
    /// CORS origins (`*` or a list).
    pub cors: Vec<String>,
}

impl Default for RpcLimits {
    fn default() -> Self {
        Config::default().rpc_limits()
    }
}

impl Config {
    /// The JSON-RPC limits this config sets.
    pub fn rpc_limits(&self) -> RpcLimits {
        RpcLimits {
            max_request_bytes: self.rpc_max_request_bytes,
            max_response_bytes: self.rpc_max_response_bytes,
            max_batch: self.rpc_max_batch,
            max_connections: self.rpc_max_connections,
            max_subscriptions: self.rpc_max_subscriptions,
            gas_cap: self.rpc_gas_cap,
            call_timeout: std::time::Duration::from_millis(self.rpc_call_timeout_ms),
            max_log_blocks: self.rpc_max_log_blocks.max(1),
            max_logs: self.rpc_max_logs,
            cors: self
                .rpc_cors
                .split(',')
                .map(|o| o.trim().to_string())
                .filter(|o| !o.is_empty())
                .collect(),
        }
    }
}

/// The config file of a home folder.
pub fn path(home: &Path) -> PathBuf {
    home.join("config").join("parleyd.toml")
}

impl Config {
    /// Loads `<home>/config/parleyd.toml` and applies `PARLEY_*` overrides from `env`.
    pub fn load(home: &Path, env: impl Fn(&str) -> Option<String>) -> eyre::Result<Self> {
        let file = path(home);
        let text = std::fs::read_to_string(&file).map_err(|e| {
            eyre::eyre!(
                "{}: {e} (run `parleyd init --home {}`)",
                file.display(),
                home.display()
            )
        })?;
        let mut table: toml::Table =
            toml::from_str(&text).map_err(|e| eyre::eyre!("{}: {e}", file.display()))?;
        for &(key, integer) in KEYS {
            if let Some(v) = env(&format!("PARLEY_{}", key.to_uppercase())) {
                let value = if integer {
                    toml::Value::Integer(v.trim().parse().map_err(|e| {
                        eyre::eyre!(
                            "environment PARLEY_{}: key `{key}`: {e}",
                            key.to_uppercase()
                        )
                    })?)
                } else if matches!(v.trim(), "true" | "false") && BOOL_KEYS.contains(&key) {
                    toml::Value::Boolean(v.trim() == "true")
                } else {
                    toml::Value::String(v)
                };
                table.insert(key.into(), value);
            }
        }
        for (key, value) in &table {
            if !KEYS.iter().any(|(k, _)| k == key) {
                eyre::bail!("{}: unknown key `{key}`", file.display());
            }
            // Deserialize each key alone so that an error names it.
            let mut one = toml::Table::new();
            one.insert(key.clone(), value.clone());
            let defaults = toml::Table::try_from(Self::default()).expect("defaults serialize");
            let mut merged = defaults;
            merged.extend(one);
            merged
                .try_into::<Self>()
                .map_err(|e| eyre::eyre!("{}: key `{key}`: {}", file.display(), e.message()))?;
        }
        let defaults = toml::Table::try_from(Self::default()).expect("defaults serialize");
        let mut merged = defaults;
        merged.extend(table);
        let mut cfg: Self = merged
            .try_into()
            .map_err(|e: toml::de::Error| eyre::eyre!("{}: {}", file.display(), e.message()))?;
        if cfg.db_dir.is_relative() {
            cfg.db_dir = home.join(&cfg.db_dir);
        }
        if cfg.priv_validator_key_file.is_relative() {
            cfg.priv_validator_key_file = home.join(&cfg.priv_validator_key_file);
        }
        let srs = cfg.srs.trim();
        if !srs.is_empty() && srs != "dev" && Path::new(srs).is_relative() {
            cfg.srs = home.join(srs).to_string_lossy().into_owned();
        }
        if !matches!(cfg.log_format.as_str(), "text" | "json") {
            eyre::bail!(
                "{}: key `log_format`: expected `text` or `json`",
                file.display()
            );
        }
        Ok(cfg)
    }

    /// Writes the default config (with `overrides` applied) to a home folder.
    pub fn write_default(home: &Path, cfg: &Self, force: bool) -> eyre::Result<PathBuf> {
        let file = path(home);
        if file.exists() && !force {
            eyre::bail!("{} exists (use --force to overwrite)", file.display());
        }
        std::fs::create_dir_all(file.parent().expect("config path has a parent"))?;
        let text = format!(
            "# parleyd configuration. Every key can be overridden by PARLEY_<KEY> (upper case).\n{}",
            toml::to_string_pretty(cfg)?
        );
        std::fs::write(&file, text)?;
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_override_and_errors_name_the_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        Config::write_default(dir.path(), &Config::default(), false).expect("writes");
        assert!(Config::write_default(dir.path(), &Config::default(), false).is_err());
        let cfg = Config::load(dir.path(), |_| None).expect("loads");
        assert_eq!(cfg.rpc_addr, Config::default().rpc_addr);
        assert_eq!(cfg.db_dir, dir.path().join("data/parley"));

        let cfg = Config::load(dir.path(), |k| {
            (k == "PARLEY_RPC_ADDR").then(|| "127.0.0.1:9999".into())
        })
        .expect("loads");
        assert_eq!(cfg.rpc_addr.port(), 9999);

        let err = Config::load(dir.path(), |k| {
            (k == "PARLEY_RPC_ADDR").then(|| "nonsense".into())
        })
        .expect_err("bad address");
        assert!(err.to_string().contains("rpc_addr"), "{err}");
        let err = Config::load(dir.path(), |k| {
            (k == "PARLEY_FEE_RECIPIENT").then(|| "0x12".into())
        })
        .expect_err("bad address");
        assert!(err.to_string().contains("fee_recipient"), "{err}");
        let cfg = Config::load(dir.path(), |k| {
            (k == "PARLEY_HISTORY_RETENTION").then(|| "128".into())
        })
        .expect("loads");
        assert_eq!(cfg.history_retention, 128);
        let err = Config::load(dir.path(), |k| {
            (k == "PARLEY_HISTORY_RETENTION").then(|| "-1".into())
        })
        .expect_err("negative retention");
        assert!(err.to_string().contains("history_retention"), "{err}");

        assert_eq!(cfg.prover_grpc_addr, Config::default().prover_grpc_addr);
        let cfg = Config::load(dir.path(), |k| {
            (k == "PARLEY_PROVER_GRPC_ADDR").then(String::new)
        })
        .expect("loads");
        assert_eq!(
            cfg.prover_grpc_addr, None,
            "an empty address turns the service off"
        );
        let err = Config::load(dir.path(), |k| {
            (k == "PARLEY_PROVER_GRPC_ADDR").then(|| "nowhere".into())
        })
        .expect_err("bad address");
        assert!(err.to_string().contains("prover_grpc_addr"), "{err}");
        let cfg = Config::load(dir.path(), |k| (k == "PARLEY_WEB_ADDR").then(String::new))
            .expect("loads");
        assert_eq!(
            cfg.web_addr, None,
            "an empty address turns the web view off"
        );
        let err = Config::load(dir.path(), |k| {
            (k == "PARLEY_WEB_ADDR").then(|| "0.0.0.0".into())
        })
        .expect_err("no port");
        assert!(err.to_string().contains("web_addr"), "{err}");

        // The built-in sequencer's switches.
        assert!(!cfg.sequencer_bid_empty);
        let cfg = Config::load(dir.path(), |k| match k {
            "PARLEY_SEQUENCER_BID_EMPTY" => Some("true".into()),
            "PARLEY_SEQUENCER_BID_SHARE_BPS" => Some("8000".into()),
            _ => None,
        })
        .expect("loads");
        assert!(cfg.sequencer_bid_empty);
        assert_eq!(cfg.sequencer_bid_share_bps, 8000);
        let err = Config::load(dir.path(), |k| {
            (k == "PARLEY_SEQUENCER_BID_EMPTY").then(|| "yes".into())
        })
        .expect_err("not a bool");
        assert!(err.to_string().contains("sequencer_bid_empty"), "{err}");
    }
}
