//! The running node: its configuration ([`config`]), its Prometheus metrics ([`metrics`]) and
//! the wiring in [`run`] — logging, metrics, the database, the ABCI server (its own threads,
//! one per CometBFT connection) and the JSON-RPC server (tokio).
//!
//! [`run`] sits on top of every other room. `config` and `metrics` are leaves: the ABCI glue,
//! the app and JSON-RPC record metrics and read their limits through them, and they depend on
//! nothing in the node.

pub mod config;
pub mod metrics;
pub mod validator_key;

use crate::abci::Abci;
use crate::app::App;
use crate::store::Store;
use config::Config;

/// The trusted setup the config key `srs` names. A ceremony file is read (and hashed) now,
/// so a missing or damaged one stops the node before it opens anything; genesis's pin is
/// compared when the chain's parameters are known ([`crate::verifier::check_srs`]).
fn trusted_setup(srs: &str) -> eyre::Result<parley_proofs::params::Srs> {
    use parley_proofs::params::{Ceremony, Srs};
    Ok(match srs.trim() {
        "" => Srs::Unset(
            "config key `srs` is not set: this chain proves blocks, so the node must be told \
             which trusted setup to use (`dev` on a localnet, else the ceremony file genesis \
             pins)"
                .into(),
        ),
        "dev" => {
            tracing::warn!(
                "srs = \"dev\": block proofs are checked with the seeded development setup, \
                 whose secret is public (localnets only)"
            );
            Srs::Dev
        }
        path => {
            let c = Ceremony::load(std::path::Path::new(path), None)
                .map_err(|e| eyre::eyre!("key `srs`: {e}"))?;
            tracing::info!(path, k = c.k(), hash = %c.hash(), "trusted setup: ceremony file read");
            Srs::Ceremony(std::sync::Arc::new(c))
        }
    })
}

/// Runs the node until SIGINT/SIGTERM.
pub fn run(cfg: Config) -> eyre::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&cfg.log_level)
        .map_err(|e| eyre::eyre!("key `log_level`: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    if cfg.log_format == "json" {
        builder.json().init();
    } else {
        builder.with_ansi(false).init();
    }
    metrics::install(cfg.metrics_addr)?;
    parley_proofs::params::select(trusted_setup(&cfg.srs)?)
        .map_err(|e| eyre::eyre!("key `srs`: {e}"))?;

    let store = Store::open(&cfg.db_dir.join("parley.redb"))?.with_retention(cfg.history_retention);
    let app = App::new(store, cfg.fee_recipient)?;
    // A chain that proves: build the block verifier now, so a node whose circuit does not
    // match the vk genesis pins stops here rather than at the first proof.
    if let Some(v) = app.verifier() {
        v.warm()
            .map_err(|e| eyre::eyre!("cannot verify this chain's block proofs: {e}"))?;
        tracing::info!("block-proof verifier ready");
        v.warm_epoch();
    }
    let key = validator_key::load(&cfg.priv_validator_key_file)?;
    match &key {
        Some(_) => {
            tracing::info!(file = %cfg.priv_validator_key_file.display(), "validator key loaded: vote extensions carry this node's seed commitments")
        }
        None => {
            tracing::warn!(file = %cfg.priv_validator_key_file.display(), "no validator key: this node's vote extensions are empty (a registered validator's precommits are then refused at reveal heights)")
        }
    }
    app.set_validator_key(key);
    if cfg.bridge_key.is_empty() {
        if app.params().is_some_and(|p| p.protocol.bridge.is_some()) {
            tracing::warn!(
                "no bridge_key: this node's vote extensions carry no epoch signatures for L1"
            );
        }
        app.set_bridge_key(None);
    } else {
        let k = crate::sequencer::parse_named_key("bridge_key", &cfg.bridge_key)?;
        tracing::info!(bridge_key = %k.address(), "bridge key loaded: vote extensions sign pending epoch digests");
        app.set_bridge_key(Some(k));
    }

    let server = tendermint_abci::ServerBuilder::new(1 << 20)
        .bind(cfg.abci_addr, Abci::new(app.clone()))
        .map_err(|e| eyre::eyre!("abci_addr {}: {e}", cfg.abci_addr))?;
    tracing::info!(addr = %cfg.abci_addr, "ABCI server listening");
    std::thread::Builder::new()
        .name("abci".into())
        .spawn(move || {
            if let Err(e) = server.listen() {
                tracing::error!(error = %e, "ABCI server stopped");
                std::process::exit(71);
            }
        })?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let sequencer = if cfg.sequencer_key.is_empty() {
        None
    } else {
        Some(crate::sequencer::Settings {
            key: crate::sequencer::parse_key(&cfg.sequencer_key)?,
            bid_share_bps: cfg.sequencer_bid_share_bps,
            bid_empty: cfg.sequencer_bid_empty,
            cometbft_rpc: cfg.cometbft_rpc.clone(),
        })
    };
    let watcher = crate::l1watch::Settings {
        url: cfg.l1_rpc.trim().to_owned(),
        finality_depth: cfg.l1_finality_depth,
        poll: std::time::Duration::from_millis(cfg.l1_poll_ms.max(100)),
        start_block: cfg.l1_start_block,
    };
    rt.block_on(async move {
        // The genesis (known only after InitChain on a fresh node) says whether there is
        // a bridge to watch.
        tokio::spawn(crate::l1watch::start(app.clone(), watcher));
        if let Some(s) = sequencer {
            let app = app.clone();
            tokio::spawn(async move {
                if let Err(e) = crate::sequencer::run(app, s).await {
                    tracing::error!(target: "parley::sequencer", error = %e, "built-in sequencer stopped");
                }
            });
        } else {
            // SIGUSR1 drains a built-in sequencer; on a node without one it must not stop
            // the process (the signal's default action).
            let mut usr1 =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())?;
            tokio::spawn(async move {
                while usr1.recv().await.is_some() {
                    tracing::info!(target: "parley::sequencer", "SIGUSR1: this node runs no built-in sequencer; nothing to drain");
                }
            });
        }
        let limits = cfg.rpc_limits();
        let methods = crate::rpc::methods(app.clone(), &cfg.cometbft_rpc, limits.clone())?;
        let (addr, handle) = crate::rpc::start(methods.clone(), cfg.rpc_addr, &limits).await?;
        tracing::info!(%addr, "Ethereum JSON-RPC listening");
        if let Some(addr) = cfg.web_addr {
            let addr =
                crate::web::spawn(methods, addr, crate::web::Limits::from_rpc(&limits)).await?;
            tracing::info!(%addr, "web view listening");
        }
        tracing::info!(addr = %cfg.metrics_addr, "metrics listening");
        let (stop_provers, stopped) = tokio::sync::watch::channel(false);
        if let Some(addr) = cfg.prover_grpc_addr {
            let (addr, _) =
                crate::prover_service::spawn(app.clone(), addr, &cfg.cometbft_rpc, stopped).await?;
            tracing::info!(%addr, "ProverService gRPC listening");
        }
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
        let _ = stop_provers.send(true);
        let _ = handle.stop();
        Ok::<_, eyre::Report>(())
    })
}
