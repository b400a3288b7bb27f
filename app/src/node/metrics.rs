//! Prometheus metrics (base units; each described where it is registered). Served on the
//! loopback `metrics_addr`.

use std::net::SocketAddr;
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};

/// Installs the exporter and describes every metric.
pub fn install(addr: SocketAddr) -> eyre::Result<()> {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()
        .map_err(|e| eyre::eyre!("metrics_addr {addr}: {e}"))?;
    describe_gauge!(
        "parley_height",
        "Last committed CometBFT height (= L2 block number)."
    );
    describe_counter!(
        "parley_l2_txs_total",
        "L2 transactions executed (with a receipt)."
    );
    describe_counter!(
        "parley_l2_txs_skipped_total",
        "L2 transactions skipped as invalid at execution."
    );
    describe_counter!(
        "parley_l2_gas_used_total",
        "Gas used by executed L2 transactions."
    );
    describe_histogram!("parley_block_txs", "Transactions per executed L2 block.");
    describe_histogram!(
        "parley_block_txs_skipped",
        "Transactions per executed L2 block skipped because an earlier slot executed them (a revealed block built before it knew)."
    );
    describe_histogram!(
        "parley_proposal_txs",
        "Transactions this node packed into its proposals."
    );
    describe_counter!(
        "parley_proposals_rejected_total",
        "Proposals this node rejected in ProcessProposal."
    );
    describe_histogram!(
        "parley_abci_seconds",
        "Time spent in an ABCI call, by method (seconds)."
    );
    describe_counter!("parley_checktx_total", "CheckTx results by outcome.");
    describe_counter!(
        "parley_messages_total",
        "Protocol messages executed, by outcome (applied, or refused at their turn)."
    );
    describe_counter!(
        "parley_slots_total",
        "Executed slots by outcome: auctioned (the winner's revealed block), withheld (the winner did not reveal: empty block, escrow split, bond fined), proposer (no bids: the CometBFT proposer's block)."
    );
    describe_counter!(
        "parley_selects_missed_total",
        "Slots whose assigned prover sent no Select in the window (the app selected the highest bid)."
    );
    describe_gauge!(
        "parley_winning_bid_wei",
        "The last selected winning bid, in wei."
    );
    describe_counter!(
        "parley_validator_updates_total",
        "Validator power changes returned to CometBFT at epoch boundaries."
    );
    describe_counter!(
        "parley_rpc_requests_total",
        "Ethereum JSON-RPC requests by method."
    );
    describe_counter!(
        "parley_proofs_total",
        "Block proofs in executed blocks by outcome: verified (a transition recorded) or invalid (the sender fined)."
    );
    describe_counter!(
        "parley_fallback_reveals_total",
        "RevealProof messages in executed blocks by outcome: verified (a fallback transition recorded) or invalid (the sender fined)."
    );
    describe_counter!(
        "parley_aggregates_total",
        "Epoch aggregates (Aggregate messages) in executed blocks by outcome: verified (the epoch aggregated) or invalid (the sender fined)."
    );
    describe_counter!(
        "parley_fallback_rounds_total",
        "Fallback rounds opened: a slot's assigned prover missed its window, or no transition chained (DESIGN 3.9)."
    );
    describe_histogram!(
        "parley_proof_latency_heights",
        "Heights from a slot's execution to the height that proved it (its transition chained)."
    );
    describe_counter!(
        "parley_slots_proven_total",
        "Slots proven, by path: window (the drawn prover's Proof) or fallback (a RevealProof)."
    );
    describe_gauge!(
        "parley_unproven_slots",
        "Slots with a non-empty diff awaiting their block proof (backpressure holds at max_unproven_slots)."
    );
    describe_gauge!(
        "parley_max_unproven_slots",
        "The chain's max_unproven_slots: the unproven slots at which backpressure holds (with proving on)."
    );
    describe_gauge!(
        "parley_proven_slot",
        "The last slot proven on the app-chain (0 before the first)."
    );
    describe_histogram!(
        "parley_witness_seconds_per_leaf",
        "Witness service: seconds of proof-tree update and witness building per touched leaf, per block."
    );
    describe_counter!(
        "parley_witness_leaves_total",
        "Witness service: proof-tree leaves updated."
    );
    describe_gauge!(
        "parley_prover_workers",
        "Prover workers with an open task stream to this node's ProverService."
    );
    describe_gauge!(
        "parley_prover_workers_busy",
        "Connected prover workers whose last report lists a task in progress (a proof running)."
    );
    describe_gauge!(
        "parley_prover_tasks_in_progress",
        "Tasks the connected prover workers last reported in progress."
    );
    describe_counter!(
        "parley_prover_penalties_total",
        "Prover penalties in executed blocks, by reason: missed_window (slash_missed: a drawn prover sent no Proof by its window's end, or its slot settled without its on-time proof), invalid_proof (a Proof or RevealProof that did not verify), unrevealed_commit (a fallback commit without a valid matching reveal when its round closed), invalid_aggregate (an Aggregate that did not verify; a drawn aggregator's missed window counts as missed_window), invalid_l1_proof (an EpochProof that did not verify)."
    );
    describe_counter!(
        "parley_prover_penalties_gwei_total",
        "Stake taken from provers by those penalties, by reason, in gwei (whole wei amounts would overflow a counter)."
    );
    describe_gauge!(
        "parley_backpressure",
        "1 while backpressure holds (unproven slots at max_unproven_slots: no L2 transactions execute), else 0."
    );
    describe_gauge!(
        "parley_epoch_full",
        "1 while the next slot's epoch holds agg_capacity slots that need a proof (its remaining slots execute no L2 transactions), else 0."
    );
    describe_gauge!(
        "parley_bridge_attested_epochs",
        "Epochs the validators have attested for L1 (the chain's bridge state: the oldest epoch not attested yet); on a chain with a bridge."
    );
    describe_gauge!(
        "parley_bridge_l1_finalized_epochs",
        "Epochs the Rollup has finalized on L1 (its nextEpoch() at the last final L1 block this node's L1 watcher read); on a node with l1_rpc."
    );
    describe_gauge!(
        "parley_bridge_l1_block",
        "The last final L1 block this node's L1 watcher has read (a block number)."
    );
    describe_counter!(
        "parley_bridge_l1_watch_errors_total",
        "Polls of this node's L1 watcher that failed (L1 unreachable, or a queue inconsistent with the Rollup's events)."
    );
    zero_counters();
    Ok(())
}

/// Registers the counters (with the labels the alerts and the dashboard use) at zero, so that
/// they are exported from the start and `increase()` sees their first event.
fn zero_counters() {
    for name in [
        "parley_l2_txs_total",
        "parley_l2_txs_skipped_total",
        "parley_l2_gas_used_total",
        "parley_proposals_rejected_total",
        "parley_selects_missed_total",
        "parley_validator_updates_total",
        "parley_fallback_rounds_total",
        "parley_bridge_l1_watch_errors_total",
    ] {
        counter!(name).increment(0);
    }
    for outcome in ["auctioned", "withheld", "proposer"] {
        counter!("parley_slots_total", "outcome" => outcome).increment(0);
    }
    for outcome in ["verified", "invalid"] {
        counter!("parley_proofs_total", "outcome" => outcome).increment(0);
        counter!("parley_fallback_reveals_total", "outcome" => outcome).increment(0);
        counter!("parley_aggregates_total", "outcome" => outcome).increment(0);
    }
    for path in ["window", "fallback"] {
        counter!("parley_slots_proven_total", "path" => path).increment(0);
    }
    for reason in [
        "missed_window",
        "invalid_proof",
        "unrevealed_commit",
        "invalid_aggregate",
        "invalid_l1_proof",
    ] {
        counter!("parley_prover_penalties_total", "reason" => reason).increment(0);
        counter!("parley_prover_penalties_gwei_total", "reason" => reason).increment(0);
    }
}

/// After FinalizeBlock.
pub fn block_executed(txs: usize, skipped: usize, gas: u64) {
    counter!("parley_l2_txs_total").increment(txs as u64);
    counter!("parley_l2_txs_skipped_total").increment(skipped as u64);
    counter!("parley_l2_gas_used_total").increment(gas);
    histogram!("parley_block_txs").record(txs as f64);
    histogram!("parley_block_txs_skipped").record(skipped as f64);
}

/// A protocol message executed (`ok`) or refused at its turn.
pub fn message(kind: &'static str, ok: bool) {
    counter!("parley_messages_total", "kind" => kind, "outcome" => if ok { "applied" } else { "refused" })
        .increment(1);
}

/// What a height's slot became: `auctioned` (the winner's block executed), `withheld` (the
/// winner did not reveal), `proposer` (nobody bid).
pub fn slot(outcome: &'static str) {
    counter!("parley_slots_total", "outcome" => outcome).increment(1);
}

/// A slot's winner chosen by the app because no `Select` arrived in the window.
pub fn select_missed() {
    counter!("parley_selects_missed_total").increment(1);
}

/// A slot's winning bid, when its winner is chosen.
pub fn winning_bid(wei: f64) {
    gauge!("parley_winning_bid_wei").set(wei);
}

/// Validator power changes returned from FinalizeBlock.
pub fn validator_updates(n: usize) {
    counter!("parley_validator_updates_total").increment(n as u64);
}

/// A block proof executed: `verified` or `invalid`.
pub fn proof(outcome: &'static str) {
    counter!("parley_proofs_total", "outcome" => outcome).increment(1);
}

/// A fallback `RevealProof` executed: `verified` or `invalid`.
pub fn fallback_reveal(outcome: &'static str) {
    counter!("parley_fallback_reveals_total", "outcome" => outcome).increment(1);
}

/// An `Aggregate` executed: `verified` or `invalid`.
pub fn aggregate(outcome: &'static str) {
    counter!("parley_aggregates_total", "outcome" => outcome).increment(1);
}

/// A fallback round opened.
pub fn fallback_round() {
    counter!("parley_fallback_rounds_total").increment(1);
}

/// A slot was proven, within its window or through the fallback, `heights` after it executed.
pub fn slot_proven(path: &'static str, heights: u64) {
    counter!("parley_slots_proven_total", "path" => path).increment(1);
    histogram!("parley_proof_latency_heights").record(heights as f64);
}

/// Whether the next slot's epoch holds `agg_capacity` slots that need a proof.
pub fn epoch_full(full: bool) {
    gauge!("parley_epoch_full").set(if full { 1.0 } else { 0.0 });
}

/// Where proving stands after a height: unproven slots, the limit `max` where backpressure
/// holds, the last proven slot, and whether backpressure holds.
pub fn proof_chain(unproven: u64, max: u64, proven_slot: u64, held: bool) {
    gauge!("parley_unproven_slots").set(unproven as f64);
    gauge!("parley_max_unproven_slots").set(max as f64);
    gauge!("parley_proven_slot").set(proven_slot as f64);
    gauge!("parley_backpressure").set(if held { 1.0 } else { 0.0 });
}

/// The bridge's state after a height: `attested` epochs (the oldest not attested yet).
pub fn bridge_attested(attested: u64) {
    gauge!("parley_bridge_attested_epochs").set(attested as f64);
}

/// The L1 watcher read up to final L1 block `l1_block`, where the Rollup had finalized
/// `finalized` epochs (`None` while the watcher catches up and did not ask).
pub fn bridge_l1(finalized: Option<u64>, l1_block: u64) {
    if let Some(f) = finalized {
        gauge!("parley_bridge_l1_finalized_epochs").set(f as f64);
    }
    gauge!("parley_bridge_l1_block").set(l1_block as f64);
}

/// A failed poll of the L1 watcher.
pub fn bridge_l1_error() {
    counter!("parley_bridge_l1_watch_errors_total").increment(1);
}

/// The ProverService's task streams: open, busy (a task in progress), tasks in progress.
pub fn prover_workers(connected: usize, busy: usize, in_progress: usize) {
    gauge!("parley_prover_workers").set(connected as f64);
    gauge!("parley_prover_workers_busy").set(busy as f64);
    gauge!("parley_prover_tasks_in_progress").set(in_progress as f64);
}

/// A prover penalized in an executed block (`reason` as described at registration), losing
/// `wei` of stake.
pub fn prover_penalty(reason: &'static str, wei: alloy_primitives::U256) {
    counter!("parley_prover_penalties_total", "reason" => reason).increment(1);
    let gwei = wei / alloy_primitives::U256::from(1_000_000_000u64);
    counter!("parley_prover_penalties_gwei_total", "reason" => reason)
        .increment(u64::try_from(gwei).unwrap_or(u64::MAX));
}

/// The witness service applied a block of `leaves` touched leaves in `secs`.
pub fn witness_block(leaves: usize, secs: f64) {
    counter!("parley_witness_leaves_total").increment(leaves as u64);
    histogram!("parley_witness_seconds_per_leaf").record(secs / leaves.max(1) as f64);
}

/// After Commit.
pub fn committed(height: u64) {
    gauge!("parley_height").set(height as f64);
}

/// After PrepareProposal.
pub fn proposal_txs(n: usize) {
    histogram!("parley_proposal_txs").record(n as f64);
}

/// A rejected proposal.
pub fn proposal_rejected() {
    counter!("parley_proposals_rejected_total").increment(1);
}

/// Times one ABCI call for `parley_abci_seconds`. The only wall-clock read in the node: it
/// feeds a metric and never state.
#[derive(Debug)]
pub struct AbciTimer(std::time::Instant);

impl AbciTimer {
    /// Starts timing.
    #[allow(clippy::disallowed_methods)] // metrics only
    pub fn start() -> Self {
        Self(std::time::Instant::now())
    }

    /// Records the elapsed time under `method`.
    pub fn record(self, method: &'static str) {
        let d: Duration = self.0.elapsed();
        histogram!("parley_abci_seconds", "method" => method).record(d.as_secs_f64());
    }
}

/// A CheckTx outcome (`ok` or an error code).
pub fn checktx(outcome: &'static str) {
    counter!("parley_checktx_total", "outcome" => outcome).increment(1);
}

/// One JSON-RPC request.
pub fn rpc(method: &'static str) {
    counter!("parley_rpc_requests_total", "method" => method).increment(1);
}
