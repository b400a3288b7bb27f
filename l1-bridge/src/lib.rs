//! The L1 bridge's Rust side (DESIGN §6, docs/bridge.md, ADR 0017).
//!
//! The encodings L2 and L1 share live in `parley_types::bridge`; this crate's tests check the
//! Solidity contracts in `contracts/` against them through a committed vector file. The
//! relayer that deploys the contracts and posts attested epochs is not built yet.
