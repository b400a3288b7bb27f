//! `parley-bridge`: deploys Parley's L1 contracts and relays attested epochs to them
//! (docs/operators/relayer.md). Logs go to stderr; stdout carries one JSON line per event
//! (deployment, finalization, epoch found finalized by another relayer).

use std::path::PathBuf;
use std::time::Duration;

use alloy_primitives::Address;
use alloy_signer_local::PrivateKeySigner;
use clap::{Args, Parser, Subcommand};
use eyre::{Result, WrapErr as _, bail};
use parley_bridge::{deploy, relay};

#[derive(Debug, Parser)]
#[command(
    name = "parley-bridge",
    version,
    about = "Deploys Parley's Rollup on L1 and relays attested epochs to it"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Deploy the verifier and the Rollup at the address parleyd's genesis names.
    Deploy(DeployArgs),
    /// Post each attested epoch to the Rollup, in order.
    Relay(RelayArgs),
}

#[derive(Debug, Args)]
struct Common {
    /// L1 JSON-RPC URL.
    #[arg(
        long,
        env = "PARLEY_RELAYER_L1_RPC",
        default_value = "http://127.0.0.1:18545"
    )]
    l1_rpc: String,
    /// parleyd's eth JSON-RPC URL (serves the parley_ namespace).
    #[arg(
        long,
        env = "PARLEY_RELAYER_PARLEYD_RPC",
        default_value = "http://127.0.0.1:8545"
    )]
    parleyd_rpc: String,
    /// Hex private key that signs and pays L1 transactions (prefer the env variable).
    #[arg(long, env = "PARLEY_RELAYER_KEY", hide_env_values = true)]
    key: String,
    /// How often to poll L1 and parleyd, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    poll_ms: u64,
}

#[derive(Debug, Args)]
struct DeployArgs {
    #[command(flatten)]
    common: Common,
    /// Forge's artifact JSON of the Rollup (`<out>/Rollup.sol/Rollup.json`).
    #[arg(long)]
    artifact: PathBuf,
    /// Deploy a stand-in verifier that refuses every proof (only empty epochs finalize).
    #[arg(long, group = "verifier")]
    verifier_stand_in: bool,
    /// File with the verifier's creation code (hex).
    #[arg(long, group = "verifier")]
    verifier_bytecode: Option<PathBuf>,
    /// File with the verifier's runtime code (hex), deployed as is.
    #[arg(long, group = "verifier")]
    verifier_runtime: Option<PathBuf>,
    /// A verifier already deployed on L1.
    #[arg(long, group = "verifier")]
    verifier_address: Option<Address>,
    /// forceDelay: seconds within which L2 must consume an L1 queue entry.
    #[arg(long, default_value_t = 86_400)]
    force_delay: u64,
    /// escapeDelay: seconds without a finalization before enforced mode.
    #[arg(long, default_value_t = 604_800)]
    escape_delay: u64,
    /// relaySlot: L1 blocks each epoch's designated relayer has before anyone posts.
    #[arg(long, default_value_t = 20)]
    relay_slot: u64,
    /// maxForcedTxBytes: largest forced transaction.
    #[arg(long, default_value_t = 131_072)]
    max_forced_tx_bytes: u64,
}

#[derive(Debug, Args)]
struct RelayArgs {
    #[command(flatten)]
    common: Common,
    /// Relayer rotation: epoch e's designated relayer is relayers[e % n]. Default: only self.
    #[arg(long, value_delimiter = ',')]
    relayers: Vec<Address>,
    /// Directory of the state file (in-flight transaction) and the gas report (gas.jsonl).
    #[arg(long, env = "PARLEY_RELAYER_STATE_DIR")]
    state_dir: PathBuf,
    /// Directory of epoch proofs for L1: `<epoch>.hex`, 12 accumulator limbs then the proof.
    #[arg(long)]
    proof_dir: Option<PathBuf>,
    /// Post everything postable now, wait for the receipts, then exit.
    #[arg(long)]
    once: bool,
    /// L1 blocks to wait for a receipt before replacing the transaction (same nonce, higher
    /// fees); 0: never replace.
    #[arg(long, default_value_t = 12)]
    replace_after: u64,
}

fn key(hex: &str) -> Result<PrivateKeySigner> {
    hex.trim()
        .parse()
        .wrap_err("--key / PARLEY_RELAYER_KEY is not a hex private key")
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match Cli::parse().cmd {
        Cmd::Deploy(a) => {
            let verifier = match (
                a.verifier_stand_in,
                a.verifier_bytecode,
                a.verifier_runtime,
                a.verifier_address,
            ) {
                (true, None, None, None) => deploy::VerifierSource::StandIn,
                (false, Some(p), None, None) => deploy::VerifierSource::Creation(p),
                (false, None, Some(p), None) => deploy::VerifierSource::Runtime(p),
                (false, None, None, Some(at)) => deploy::VerifierSource::At(at),
                _ => bail!(
                    "give one verifier: --verifier-stand-in, --verifier-bytecode, --verifier-runtime or --verifier-address"
                ),
            };
            let out = deploy::deploy(&deploy::DeployConfig {
                l1_url: a.common.l1_rpc,
                parleyd_url: a.common.parleyd_rpc,
                key: key(&a.common.key)?,
                artifact: a.artifact,
                verifier,
                force_delay: a.force_delay,
                escape_delay: a.escape_delay,
                relay_slot: a.relay_slot,
                max_forced_tx_bytes: a.max_forced_tx_bytes,
                poll: Duration::from_millis(a.common.poll_ms.min(1000)),
            })
            .await?;
            relay::emit(&out);
        }
        Cmd::Relay(a) => {
            let n = relay::run(relay::RelayConfig {
                l1_url: a.common.l1_rpc,
                parleyd_url: a.common.parleyd_rpc,
                key: key(&a.common.key)?,
                relayers: a.relayers,
                state_dir: a.state_dir,
                proof_dir: a.proof_dir,
                once: a.once,
                poll: Duration::from_millis(a.common.poll_ms),
                replace_after: a.replace_after,
            })
            .await?;
            tracing::info!(epochs = n, "relayer done");
        }
    }
    Ok(())
}
