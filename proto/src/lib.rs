//! Parley's protobuf wire types, generated at build time from the `.proto` files beside this
//! crate (protox compiles them in pure Rust, prost generates the types).
//!
//! - [`protocol::v1`]: the protocol messages validators, sequencers, provers and users send to
//!   the app-chain (DESIGN §3). Their canonical form and signing digest are defined in
//!   `parley/protocol/v1/messages.proto` and implemented in `parley-app`'s `chain::msg`.
//!
//! The gRPC ProverService (DESIGN §5) joins them with the prover network.

/// Protocol messages.
pub mod protocol {
    /// Version 1 of the protocol messages.
    #[allow(
        missing_docs,
        clippy::doc_markdown,
        clippy::derive_partial_eq_without_eq
    )]
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/parley.protocol.v1.rs"));
    }
}
