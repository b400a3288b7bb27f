//! `parleyd`: Parley's node — the ABCI 2.0 application that CometBFT drives, the Ethereum
//! JSON-RPC that dApps use, and the metrics operators scrape.
//!
//! Layout (see docs/ARCHITECTURE.md):
//! - [`abci`] converts ABCI requests and dispatches to [`app::App`], the state machine;
//! - [`exec`] executes an L2 block in revm and derives receipts, writes and the state diff;
//! - [`overlay`] is the block overlay every transaction and protocol handler writes through;
//! - [`builder`] packs mempool transactions into the proposer's L2 block;
//! - [`txcheck`] admits user transactions (CheckTx, JSON-RPC);
//! - [`storage`] is the redb database, written once per block in Commit;
//! - [`rpc`] serves Ethereum JSON-RPC; [`metrics`] Prometheus; [`config`] and [`genesis`]
//!   the node config and the chain's genesis; [`predeploys`] the contracts every chain has
//!   from genesis (Multicall3-compatible aggregator, CREATE2 deployer).
//!
//! Invariants: canonical state changes only in FinalizeBlock (computed) and Commit
//! (persisted); nothing FinalizeBlock reaches iterates a hash map, reads the clock or uses
//! floats; a user's bad transaction is a result code, never a panic.

pub mod abci;
pub mod app;
pub mod block;
pub mod builder;
pub mod config;
pub mod devtx;
pub mod exec;
pub mod genesis;
pub mod metrics;
pub mod node;
pub mod overlay;
pub mod predeploys;
pub mod rpc;
pub mod storage;
pub mod txcheck;

/// The standard test mnemonic of Foundry/Hardhat, used for localnet dev accounts.
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";

/// The first `n` dev accounts (m/44'/60'/0'/0/i) of [`DEV_MNEMONIC`].
pub fn dev_accounts(n: u32) -> eyre::Result<Vec<alloy_signer_local::PrivateKeySigner>> {
    (0..n)
        .map(|i| {
            alloy_signer_local::MnemonicBuilder::english()
                .phrase(DEV_MNEMONIC)
                .index(i)
                .map_err(|e| eyre::eyre!("{e}"))?
                .build()
                .map_err(|e| eyre::eyre!("{e}"))
        })
        .collect()
}
