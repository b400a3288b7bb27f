//! The L1 bridge's Rust side (DESIGN §6, docs/bridge.md, ADR 0017): the `parley-bridge`
//! relayer and the checks of the Solidity contracts against `parley_types::bridge`.
//!
//! The encodings L2 and L1 share live in `parley_types::bridge`; this crate's tests check the
//! Solidity contracts in `contracts/` against them through a committed vector file.
//!
//! The relayer (docs/operators/relayer.md):
//! - [`deploy`] puts the verifier and the Rollup on L1 at the address parleyd's genesis names,
//!   with the genesis proof root and signing set parleyd serves;
//! - [`relay`] posts each attested epoch to `Rollup.finalizeEpoch`, in order. It is untrusted:
//!   the contract checks everything it posts, and anyone may post.
//!
//! Invariant: the relayer never has two different `finalizeEpoch` transactions live. Each is
//! written to the state file ([`state`]) before it is broadcast, and only same-nonce
//! replacements follow it until a receipt is found, also across restarts and L1 outages.

pub mod abi;
pub mod attestation;
pub mod deploy;
pub mod l1;
pub mod relay;
pub mod state;
