//! Parley's protobuf wire types, generated at build time from the `.proto` files beside this
//! crate (protox compiles them in pure Rust, prost generates the types).
//!
//! - [`protocol::v1`]: the protocol messages validators, sequencers, provers and users send to
//!   the app-chain (DESIGN §3). Their canonical form and signing digest are defined in
//!   `parley/protocol/v1/messages.proto` and implemented in `parley-app`'s `chain::msg`.
//!
//! - [`prover::v1`]: the gRPC ProverService (DESIGN §5) between a node and its prover
//!   workers (`parley/prover/v1/service.proto`): challenge-signed authentication, the task
//!   stream, submission of signed messages, and the reads a worker reconciles with. Its
//!   tonic client and server are generated here; the server lives in `parley-app`'s
//!   `prover_service`, the client in `parley-prover`.

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

/// The gRPC ProverService.
pub mod prover {
    /// Version 1 of the ProverService.
    #[allow(
        missing_docs,
        clippy::doc_markdown,
        clippy::derive_partial_eq_without_eq,
        clippy::default_trait_access,
        clippy::too_many_lines
    )]
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/parley.prover.v1.rs"));
    }
}
