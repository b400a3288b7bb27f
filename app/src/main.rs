//! `parleyd` — see the library crate for what it is. This file parses the command line,
//! installs logging and hands over.
#![allow(clippy::print_stdout)] // the CLI prints what it was asked for

use std::path::PathBuf;

use alloy_primitives::U256;
use clap::{Parser, Subcommand};
use parley_app::chain::genesis::{AppGenesis, Params};
use parley_app::node::config::Config;

#[derive(Parser)]
#[command(
    name = "parleyd",
    version,
    about = "Parley node: ABCI app, Ethereum JSON-RPC, metrics"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write a default config to <home>/config/parleyd.toml.
    Init {
        /// Node home folder (may be the CometBFT home).
        #[arg(long)]
        home: PathBuf,
        /// Name used in logs.
        #[arg(long, default_value = "parley")]
        moniker: String,
        /// Overwrite an existing config.
        #[arg(long)]
        force: bool,
    },
    /// Print a genesis `app_state` with prefunded dev accounts and the predeploys
    /// (Multicall3-compatible aggregator, deterministic CREATE2 deployer).
    GenesisAppState {
        /// EIP-155 chain id.
        #[arg(long, default_value_t = 424_242)]
        chain_id: u64,
        /// Number of dev accounts from the standard test mnemonic.
        #[arg(long, default_value_t = 10)]
        dev_accounts: u32,
        /// Balance of each (wei).
        #[arg(long, default_value = "1000000000000000000000000")]
        balance_wei: U256,
        /// Leave the predeployed contracts out.
        #[arg(long)]
        no_predeploys: bool,
    },
    /// Run the node.
    Start {
        /// Node home folder.
        #[arg(long)]
        home: PathBuf,
    },
}

fn main() -> eyre::Result<()> {
    match Cli::parse().cmd {
        Cmd::Init {
            home,
            moniker,
            force,
        } => {
            let file = Config::write_default(&home, &Config::default(), force)?;
            println!("wrote {} for {moniker}", file.display());
            Ok(())
        }
        Cmd::GenesisAppState {
            chain_id,
            dev_accounts,
            balance_wei,
            no_predeploys,
        } => {
            let mut g = AppGenesis::funded(
                Params {
                    chain_id,
                    ..Params::default()
                },
                parley_app::dev_accounts(dev_accounts)?
                    .iter()
                    .map(|s| s.address()),
                balance_wei,
            );
            if !no_predeploys {
                g = g.with_predeploys();
            }
            g.validate()?;
            println!("{}", serde_json::to_string_pretty(&g)?);
            Ok(())
        }
        Cmd::Start { home } => {
            let cfg = Config::load(&home, |k| std::env::var(k).ok())?;
            parley_app::node::run(cfg)
        }
    }
}
