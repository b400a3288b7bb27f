//! parley-prover, the prover operator's worker: dials a node's ProverService, proves assigned
//! and fallback-open slots in parallel and submits signed results (DESIGN §5). Filled by the
//! prover-network issue; the proving library it will call is crates/proofs.
