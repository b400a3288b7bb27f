//! `parley-prover`: parses its flags and environment, installs logging and runs the worker
//! (see the library).

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use eyre::{WrapErr as _, eyre};

/// A prover worker for a Parley node's gRPC ProverService.
#[derive(Debug, Parser)]
#[command(name = "parley-prover", version)]
struct Args {
    /// The node's ProverService URL.
    #[arg(
        long,
        env = "PARLEY_PROVER_NODE",
        default_value = "http://127.0.0.1:9090"
    )]
    node: String,
    /// The chain id to sign for (must match the node's).
    #[arg(long, env = "PARLEY_PROVER_CHAIN_ID")]
    chain_id: u64,
    /// A file holding the hex prover key. Without it the key is read from the environment
    /// variable PARLEY_PROVER_KEY (never from a flag, which `ps` would show).
    #[arg(long, env = "PARLEY_PROVER_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// Most tasks held at once (0: no limit).
    #[arg(long, env = "PARLEY_PROVER_CAPACITY", default_value_t = 0)]
    capacity: u32,
    /// Block proofs computed at once by this process.
    #[arg(long, env = "PARLEY_PROVER_JOBS", default_value_t = 1)]
    jobs: usize,
    /// Limit of every call to the node, in milliseconds.
    #[arg(long, env = "PARLEY_PROVER_CALL_TIMEOUT_MS", default_value_t = 10_000)]
    call_timeout_ms: u64,
    /// Longest delay between reconnects, in milliseconds.
    #[arg(long, env = "PARLEY_PROVER_BACKOFF_MAX_MS", default_value_t = 30_000)]
    backoff_max_ms: u64,
    /// The trusted setup (ADR 0014): `dev` for the seeded development setup (localnets only:
    /// anyone can forge proofs with it), or the path of the ceremony's powers-of-tau file the
    /// chain pins. Required.
    #[arg(long, env = "PARLEY_PROVER_SRS", default_value = "")]
    srs: String,
    /// With a ceremony file: the keccak256 the chain's genesis pins (`srs` in
    /// `parley_getProtocolParams`). A file that hashes otherwise is refused.
    #[arg(long, env = "PARLEY_PROVER_SRS_HASH")]
    srs_hash: Option<alloy_primitives::B256>,
    /// Where proving keys are cached (named by the hash of the verifying key genesis pins),
    /// so a restarted worker reads its keys instead of making them again. Default:
    /// `<PARLEY_PARAMS_DIR>/keys`.
    #[arg(long, env = "PARLEY_PROVER_KEYS_DIR")]
    keys_dir: Option<PathBuf>,
    /// Take no epoch aggregation tasks and make no aggregation keys (gigabytes): a
    /// proving-only worker. The node gives the prover's aggregations to its other workers.
    #[arg(long, env = "PARLEY_PROVER_NO_AGGREGATION")]
    no_aggregation: bool,
    /// tracing filter.
    #[arg(long, env = "PARLEY_PROVER_LOG", default_value = "info")]
    log_level: String,
    /// `text` or `json`.
    #[arg(long, env = "PARLEY_PROVER_LOG_FORMAT", default_value = "text")]
    log_format: String,
}

fn main() -> eyre::Result<()> {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log_level)
        .map_err(|e| eyre!("--log-level: {e}"))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match args.log_format.as_str() {
        "json" => builder.json().init(),
        "text" => builder.with_ansi(false).init(),
        other => eyre::bail!("--log-format: expected `text` or `json`, got {other:?}"),
    }
    let srs = parley_prover::trusted_setup(&args.srs, args.srs_hash)?;
    if matches!(srs, parley_proofs::params::Srs::Dev) {
        tracing::warn!(
            "--srs dev: proving with the seeded development setup, whose secret is public"
        );
    }
    parley_proofs::params::select(srs).map_err(|e| eyre!("--srs: {e}"))?;
    let key_text = match &args.key_file {
        Some(p) => {
            std::fs::read_to_string(p).wrap_err_with(|| format!("--key-file {}", p.display()))?
        }
        None => std::env::var("PARLEY_PROVER_KEY")
            .map_err(|_| eyre!("no prover key: set --key-file or PARLEY_PROVER_KEY"))?,
    };
    let key = parley_prover::parse_key(&key_text)?;
    let mut cfg = parley_prover::Config::new(args.node, args.chain_id, key);
    cfg.capacity = args.capacity;
    cfg.jobs = args.jobs;
    cfg.aggregate = !args.no_aggregation;
    cfg.keys_dir = Some(
        args.keys_dir
            .unwrap_or_else(|| parley_proofs::params::params_dir().join("keys")),
    );
    cfg.call_timeout = Duration::from_millis(args.call_timeout_ms.max(1));
    cfg.backoff_max = Duration::from_millis(args.backoff_max_ms.max(1));
    tracing::info!(prover = %cfg.key.address(), node = %cfg.node, chain_id = cfg.chain_id, "parley-prover starting");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let r = rt.block_on(async move {
        let shutdown = async {
            let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
            match term {
                Ok(mut t) => {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = t.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
            tracing::info!("shutting down");
        };
        parley_prover::run(cfg, shutdown).await
    });
    // A proof or keygen on a blocking thread cannot be cancelled and would hold the exit for
    // minutes: stop without waiting for it (its work is lost either way).
    rt.shutdown_timeout(Duration::from_secs(1));
    r
}
