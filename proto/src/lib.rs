//! Protobuf definitions of the gRPC ProverService (DESIGN §5) and the crate generated from
//! them with tonic/protox. Filled by the prover-network issue; empty today.
