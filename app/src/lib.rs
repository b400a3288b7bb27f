//! `parleyd`: Parley's node — the ABCI 2.0 application that CometBFT drives, the Ethereum
//! JSON-RPC that dApps use, and the metrics operators scrape.
//!
//! Rooms (see docs/ARCHITECTURE.md), each depending only on those listed after it:
//! - [`node`] wires a running node together; its [`node::config`] and [`node::metrics`] are
//!   leaves every room may use;
//! - [`abci`] is the ABCI glue: converts requests and dispatches to [`app::App`];
//! - [`rpc`] serves Ethereum JSON-RPC over the store, the core and the mempool;
//! - [`app`] owns the node's state between calls and runs each call through the rooms below;
//! - [`mempool`] admits user transactions and builds the proposer's block;
//! - [`store`] is the redb database, written once per block in Commit; its snapshots
//!   implement the core's state view;
//! - [`chain`] is the deterministic core: genesis, block rules, transactions, the block
//!   overlay and revm execution — no I/O.
//!
//! [`devtx`] signs transactions for tests, benchmarks and load generators; [`operator`] signs
//! and sends protocol messages for `parleyd msg`.
//!
//! Invariants: canonical state changes only in FinalizeBlock (computed) and Commit
//! (persisted); nothing FinalizeBlock reaches iterates a hash map, reads the clock or uses
//! floats; a user's bad transaction is a result code, never a panic.

pub mod abci;
pub mod app;
pub mod chain;
pub mod devtx;
pub mod l1watch;
pub mod mempool;
pub mod node;
pub mod operator;
pub mod prover_service;
pub mod rpc;
pub mod sequencer;
pub mod store;
pub mod verifier;
pub mod web;
pub mod witness;

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
