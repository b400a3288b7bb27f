//! The revm adapter: executing an L2 block over the block overlay — receipts, the block and
//! transaction records, the state writes, the canonical state diff and the next chain meta. A
//! pure function of (committed state, parameters, chain meta, block, senders).
//!
//! Rules (documented in docs/protocol.md):
//! - transactions run in block order over one block overlay ([`crate::chain::overlay`]): each is
//!   committed into it when it finishes, so later txs see earlier writes, and the block's
//!   writes and diff are derived once, at the end;
//! - a transaction fits while its gas limit is at most the block gas limit minus the gas used
//!   so far (Ethereum's rule); one that does not fit is skipped like an invalid one;
//! - a transaction that is *invalid* against the state at its turn (nonce mismatch, cannot pay
//!   `gas_limit × max_fee + value`, fee cap below the base fee, …) is skipped: no receipt, no
//!   state change, and it stays in the sender's mempool if it can still be valid later;
//! - a transaction that runs and reverts or halts gets a receipt with status 0 and pays gas;
//! - the base fee share of gas leaves the EVM (revm's London rules) and is paid into the
//!   protocol's proving pot, less the burned share ([`ledger::credit_base_fees`]); the priority
//!   fee goes to the block's builder; the next base fee follows EIP-1559 with elasticity 2 and
//!   a floor;
//! - the height's protocol messages run first, through the same overlay ([`ledger::apply`]);
//! - the proof tree's capacity (ADR 0011): a block inserts at most
//!   [`ChainMeta::proof_index_room`] entries; a transaction whose effects would take the
//!   block's inserts past it is skipped ([`Skip::ProofTreeFull`]: no receipt, no state
//!   change, it stays pending), the block stays valid;
//! - the block circuit's capacity (DESIGN §3.7): a transaction whose effects would take the
//!   block's diff past `max_diff_entries` is skipped the same way ([`Skip::DiffFull`]), so
//!   every executed block fits one block proof.

use alloy_consensus::Transaction as _;
use alloy_eips::Typed2718 as _;
use alloy_primitives::{B256, Bloom, Bytes, U256, keccak256};
use parley_types::{
    BlockRecord, ChainMeta, RecordReceipt, StateDiff, StateKey, TxRecord, encode_forced,
};
use revm::context::{BlockEnv, CfgEnv, TxEnv};
use revm::context_interface::ContextTr as _;
use revm::context_interface::result::{EVMError, ExecutionResult};
use revm::{Context, ExecuteEvm, MainBuilder, MainContext};

use crate::chain::SPEC;
use crate::chain::auction::{self, Source};
use crate::chain::block::{L2Header, tx_root};
use crate::chain::genesis::Params;
use crate::chain::msg::SignedMsg;
use crate::chain::overlay::{DiffFull, Full, Overlay, ProofIndices, ProofTreeFull};
use crate::chain::seed::{self, SeedReveals};
use crate::chain::tx::{SenderMemo, SignedTx};
use crate::chain::view::{StateView, StoreError};
use crate::chain::{assignment, ledger, proving, rules};

/// The outcome of executing one block, before commit.
#[derive(Debug)]
pub struct Executed {
    /// The record for JSON-RPC (its `state_root` is filled in once the app hash is known).
    pub record: BlockRecord,
    /// The executed transactions with receipts.
    pub txs: Vec<TxRecord>,
    /// Canonical diff of EVM entries.
    pub diff: StateDiff,
    /// Every state entry to write (EVM entries and meta), in key order.
    pub writes: Vec<(StateKey, Option<Vec<u8>>)>,
    /// New code.
    pub code: Vec<(B256, Bytes)>,
    /// Hashes of transactions that were skipped as invalid.
    pub skipped: Vec<B256>,
    /// Each protocol message's outcome, in block order.
    pub messages: Vec<Result<ledger::Applied, ledger::LedgerError>>,
    /// Validator-set changes for CometBFT (only at epoch boundaries).
    pub validator_updates: Vec<ledger::ValidatorUpdate>,
    /// What the protocol handlers noted (penalties), for metrics.
    pub notices: Vec<crate::chain::overlay::Notice>,
}

/// The revm transaction environment of a signed tx.
pub fn tx_env(tx: &SignedTx) -> TxEnv {
    let e = &tx.envelope;
    TxEnv {
        tx_type: e.ty(),
        caller: tx.from,
        gas_limit: e.gas_limit(),
        gas_price: e.max_fee_per_gas(),
        kind: e.kind(),
        value: e.value(),
        data: e.input().clone(),
        nonce: e.nonce(),
        chain_id: e.chain_id(),
        access_list: e.access_list().cloned().unwrap_or_default(),
        gas_priority_fee: e.max_priority_fee_per_gas(),
        ..Default::default()
    }
}

/// revm configuration for this chain.
pub fn cfg_env(params: &Params) -> CfgEnv {
    let mut cfg = CfgEnv::new_with_spec(SPEC);
    cfg.chain_id = params.chain_id;
    cfg
}

/// revm block environment of an L2 header.
pub fn block_env(h: &L2Header, prevrandao: B256) -> BlockEnv {
    BlockEnv {
        number: U256::from(h.number),
        beneficiary: h.builder,
        timestamp: U256::from(h.timestamp),
        gas_limit: h.gas_limit,
        basefee: h.base_fee,
        // Post-merge DIFFICULTY reads PREVRANDAO; the field is unused (deleting it is an
        // equivalent mutant: its default is also zero).
        difficulty: U256::ZERO,
        prevrandao: Some(prevrandao),
        ..Default::default()
    }
}

/// EIP-1559 base fee of the next block (elasticity 2, max change 1/8), floored.
pub fn next_base_fee(base_fee: u64, gas_used: u64, gas_limit: u64, floor: u64) -> u64 {
    let target = (gas_limit / 2).max(1);
    let bf = u128::from(base_fee);
    let next = if gas_used > target {
        let delta = (bf * u128::from(gas_used - target) / u128::from(target) / 8).max(1);
        bf.saturating_add(delta)
    } else {
        let delta = bf * u128::from(target - gas_used) / u128::from(target) / 8;
        bf.saturating_sub(delta)
    };
    u64::try_from(next).unwrap_or(u64::MAX).max(floor)
}

/// Fatal execution failure (storage or an invariant): the node must stop.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// revm reported a failure that is not the transaction's fault.
    #[error("evm: {0}")]
    Evm(String),
}

/// Why a transaction did not execute in a block: it stays pending and may fit a later one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// Its gas limit exceeds the gas left in the block.
    NoRoom {
        /// Gas left when it came up.
        gas_left: u64,
    },
    /// Invalid against the state at its turn (nonce, balance, fee cap below the base fee, …).
    Invalid(String),
    /// Its effects would take the block's inserts past the proof tree's capacity (ADR 0011);
    /// it may fit a later block, once deletions free indices.
    ProofTreeFull(ProofTreeFull),
    /// Its effects would take the block's diff past `max_diff_entries` (the block circuit's
    /// capacity): it may fit a later block.
    DiffFull(DiffFull),
}

/// Executes one block's transactions in order over a block overlay, enforcing Ethereum's
/// block gas rule. Used by FinalizeBlock ([`execute_block`]) and by the proposer's builder,
/// which runs the same executor on a throwaway overlay to pick what fits.
pub struct BlockExecutor<'a, V: StateView> {
    evm: revm::MainnetEvm<revm::handler::MainnetContext<Overlay<'a, V>>>,
    gas_limit: u64,
    gas_used: u64,
}

// Mutation testing: a Debug body that prints nothing is an equivalent mutant (diagnostics only).
impl<V: StateView> std::fmt::Debug for BlockExecutor<'_, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockExecutor")
            .field("gas_limit", &self.gas_limit)
            .field("gas_used", &self.gas_used)
            .finish()
    }
}

impl<'a, V: StateView> BlockExecutor<'a, V> {
    /// An executor for `header` over committed state `view`, whose block may insert
    /// `index_room` entries into the proof tree ([`ChainMeta::proof_index_room`], ADR 0011).
    pub fn new(
        view: &'a V,
        params: &Params,
        header: &L2Header,
        prevrandao: B256,
        index_room: u64,
    ) -> Self {
        let mut overlay = Overlay::new(view);
        overlay.set_index_room(index_room);
        overlay.set_diff_room(params.protocol.max_diff_entries);
        let evm = Context::mainnet()
            .with_db(overlay)
            .with_cfg(cfg_env(params))
            .with_block(block_env(header, prevrandao))
            .build_mainnet();
        Self {
            evm,
            gas_limit: header.gas_limit,
            gas_used: 0,
        }
    }

    /// Gas used by the transactions executed so far.
    pub fn gas_used(&self) -> u64 {
        self.gas_used
    }

    /// Runs `tx` and commits it into the overlay, or says why it was skipped (state
    /// unchanged). A transaction fits while its gas limit is at most the gas left in the
    /// block (Ethereum's rule), so a large limit cannot reserve the block while paying for
    /// little; and while the block's inserts with its effects stay within the proof tree's
    /// capacity (ADR 0011). `Err` is fatal (storage, or revm failing for a reason that is not
    /// the tx's).
    pub fn apply(&mut self, tx: &SignedTx) -> Result<Result<ExecutionResult, Skip>, ExecError> {
        let gas_left = self.gas_limit.saturating_sub(self.gas_used);
        if tx.envelope.gas_limit() > gas_left {
            return Ok(Err(Skip::NoRoom { gas_left }));
        }
        // Executed without committing, so the capacity rule can still refuse its effects.
        match self.evm.transact(tx_env(tx)) {
            Ok(out) => {
                match self.evm.db_mut().commit_tx_within_room(out.state)? {
                    Ok(()) => {}
                    Err(Full::ProofTree(full)) => return Ok(Err(Skip::ProofTreeFull(full))),
                    Err(Full::Diff(full)) => return Ok(Err(Skip::DiffFull(full))),
                }
                let result = out.result;
                self.gas_used = self
                    .gas_used
                    .checked_add(result.tx_gas_used())
                    .expect("gas used stays below the block gas limit");
                Ok(Ok(result))
            }
            Err(EVMError::Transaction(e)) => Ok(Err(Skip::Invalid(e.to_string()))),
            Err(EVMError::Header(e)) => Err(ExecError::Evm(format!("header: {e}"))),
            Err(EVMError::Database(e)) => Err(e.into()),
            Err(e) => Err(ExecError::Evm(e.to_string())),
        }
    }

    /// Sets the block the remaining transactions execute in (its environment and gas limit):
    /// an auctioned block's header is known only after the height's messages.
    pub fn set_header(&mut self, header: &L2Header, prevrandao: B256) {
        self.evm.ctx.block = block_env(header, prevrandao);
        self.gas_limit = header.gas_limit;
    }

    /// The overlay, for protocol handlers and to derive the block's writes.
    pub fn overlay(&mut self) -> &mut Overlay<'a, V> {
        self.evm.db_mut()
    }
}

/// The L2 block a height carries in its proposal: the proposer's, when slot `height` was not
/// auctioned; none when it was (the block then comes from the winner's reveal, or is empty).
#[derive(Debug, Clone, Copy)]
pub struct BlockInput<'a> {
    /// The CometBFT height (= the slot = the L2 block number).
    pub height: u64,
    /// The CometBFT block time, in seconds.
    pub time_secs: u64,
    /// The proposer-built block (header and decoded transactions), if the proposal has one.
    pub proposer: Option<(&'a L2Header, &'a [SignedTx])>,
    /// The seed openings the proposal starts with, already checked against the rules
    /// ([`seed::check_reveals`]); applied before anything else.
    pub seed: Option<&'a SeedReveals>,
    /// The epoch attestation after them, already checked
    /// ([`crate::chain::bridge::check_attest`]); applied right after the seed.
    pub attest: Option<&'a crate::chain::bridge::Attest>,
    /// The L1 queue batch and what it does, already checked on committed state
    /// ([`crate::chain::l1queue::check_batch`]); consumed first in the L2 block.
    pub l1_queue: Option<(
        &'a crate::chain::l1queue::QueueBatch,
        crate::chain::l1queue::Effect,
    )>,
    /// Checks `Proof` messages (FinalizeBlock passes the node's verifier; `None` takes every
    /// proof as valid, which only block building and benchmarks may do).
    pub proofs: Option<&'a dyn proving::ProofCheck>,
}

/// Executes one height on top of committed state `view`: the protocol `messages` in order
/// ([`ledger::apply`]); then the height's L2 block ([`auction::source`]: the proposer's, the
/// winner's revealed block, or an empty one for a withheld slot), starting with the L1
/// queue's entries ([`crate::chain::l1queue::apply`]) and the queued
/// forced transactions (up to `forced_gas`), each transaction running against the block
/// overlay and committed into it when it finishes, until the block's writes reach
/// `max_diff_entries`; then the slot's settlement, the base fees to the pot,
/// [`ledger::end_block`], the auction's and the assignment's end of block. The writes and the
/// diff are derived from the overlay at the end, so the order of all effects is the block's.
/// The proof tree has [`Params::proof_index_capacity`] leaves (ADR 0011, ADR 0021).
#[allow(clippy::too_many_arguments)]
pub fn execute_block<V: StateView>(
    view: &V,
    params: &Params,
    meta: &ChainMeta,
    input: BlockInput<'_>,
    messages: &[SignedMsg],
    prevrandao: B256,
    senders: &impl SenderMemo,
) -> Result<Executed, ExecError> {
    execute_block_with_capacity(
        view,
        params,
        meta,
        input,
        messages,
        prevrandao,
        senders,
        params.proof_index_capacity(),
    )
}

/// [`execute_block`] with a proof tree of `capacity` leaves: the chain always uses
/// [`Params::proof_index_capacity`]; tests use a handful of leaves to reach the capacity rule.
#[allow(clippy::too_many_arguments)]
pub fn execute_block_with_capacity<V: StateView>(
    view: &V,
    params: &Params,
    meta: &ChainMeta,
    input: BlockInput<'_>,
    messages: &[SignedMsg],
    prevrandao: B256,
    senders: &impl SenderMemo,
    capacity: u64,
) -> Result<Executed, ExecError> {
    let height = input.height;
    let provisional = match input.proposer {
        Some((h, _)) => h.clone(),
        None => rules::empty_block(params, meta, height, input.time_secs),
    };
    let mut exec = BlockExecutor::new(
        view,
        params,
        &provisional,
        prevrandao,
        meta.proof_index_room(capacity),
    );
    // On a chain that aggregates, the block's diff must also fit the chunks its epoch has
    // left (ADR 0016): known before any message or transaction runs.
    let room = crate::chain::aggregation::diff_room(exec.overlay(), params, height)?;
    exec.overlay().set_diff_room(room);
    if let Some(r) = input.seed {
        seed::apply(exec.overlay(), r)?;
    }
    let mut validator_updates = match input.attest {
        Some(a) => crate::chain::bridge::apply(exec.overlay(), params, height, a)?,
        None => Vec::new(),
    };
    let mut outcomes = Vec::with_capacity(messages.len());
    for m in messages {
        let outcome = ledger::apply(exec.overlay(), params, height, m, input.proofs)?;
        if let Err(why) = &outcome {
            tracing::debug!(msg = %m.hash, reason = %why, "protocol message refused");
        }
        outcomes.push(outcome);
    }
    // Which block this height executes, now that the height's reveals are in.
    let source = auction::source(exec.overlay(), height)?;
    let mut skipped = Vec::new();
    let (header, txs): (L2Header, Vec<SignedTx>) = match (&source, input.proposer) {
        (Source::Proposer, Some((h, txs))) => (h.clone(), txs.to_vec()),
        (Source::Revealed { builder, block }, None) => {
            let header = L2Header {
                builder: *builder,
                gas_limit: block.gas_limit,
                tx_root: tx_root(block.txs.iter().map(keccak256)),
                ..provisional.clone()
            };
            let mut txs = Vec::with_capacity(block.txs.len());
            for raw in &block.txs {
                match auction::decode_for_execution(raw, params, senders) {
                    Ok(t) => txs.push(t),
                    Err(hash) => skipped.push(hash),
                }
            }
            (header, txs)
        }
        (Source::Withheld, None) => (provisional.clone(), Vec::new()),
        (source, proposer) => {
            return Err(ExecError::Evm(format!(
                "height {height}: slot source {source:?} with a proposer block: {}",
                proposer.is_some()
            )));
        }
    };
    exec.set_header(&header, prevrandao);
    let hash = header.hash();
    let mut executed: Vec<TxRecord> = Vec::with_capacity(txs.len());
    let mut log_index = 0u64;
    let mut block_bloom = Bloom::default();
    // Forced transactions first, in queue order, within their gas budget; those that do not
    // fit wait for the next block, the rest leave the queue (executed or skipped; one skipped
    // for the proof tree's capacity is put back, below).
    let mut forced = Vec::new();
    let mut forced_keys = Vec::new();
    let mut forced_gas = 0u64;
    // Backpressure (DESIGN §3.13): too many slots await their proof, or this slot's epoch is
    // full, so this one executes no transactions; forced ones keep their place in the queue, the rest stay pending.
    let held = proving::backpressure(exec.overlay(), params, height)?;
    if held {
        skipped.extend(txs.iter().map(|t| t.hash));
    }
    let txs = if held { Vec::new() } else { txs };
    // The L1 queue's entries first: deposits credited, forced transactions queued (they run
    // just below, in the forced section).
    if let Some((batch, effect)) = input.l1_queue {
        crate::chain::l1queue::apply(exec.overlay(), params, height, batch, effect, held, senders)?;
    }
    let queue = if held {
        Vec::new()
    } else {
        auction::forced_queue(exec.overlay())?
    };
    for (key, raw) in queue {
        match auction::decode_for_execution(&raw, params, senders) {
            Ok(tx) => {
                let g = tx.envelope.gas_limit();
                if forced_gas.saturating_add(g) > params.protocol.forced_gas {
                    break;
                }
                forced_gas += g;
                forced.push(tx);
                forced_keys.push(key);
            }
            Err(h) => skipped.push(h),
        }
        exec.overlay().put_app(key, None);
    }
    let max_writes = usize::try_from(exec.overlay().diff_room()).unwrap_or(usize::MAX);
    for (i, tx) in forced.iter().chain(txs.iter()).enumerate() {
        // A full block takes no more transactions (a cheap early skip; the exact rule is the
        // executor's: a transaction whose effects would take the diff past
        // the diff room is skipped and stays pending).
        if i >= forced.len() && exec.overlay().evm_writes() >= max_writes {
            skipped.push(tx.hash);
            continue;
        }
        let result = match exec.apply(tx)? {
            Ok(r) => r,
            Err(why) => {
                tracing::debug!(tx = %tx.hash, reason = ?why, "skipping transaction");
                // A forced transaction refused only for a capacity keeps its place in the
                // queue (ADR 0011): it is not invalid, and it was paid for — unless its
                // effects alone exceed what any block may hold (`aggregation::max_room`). A
                // block whose epoch has few chunks left holds less than that: a later one
                // (at worst the next epoch's first) holds it.
                let retry = match &why {
                    Skip::ProofTreeFull(_) => true,
                    Skip::DiffFull(full) => {
                        full.before > 0
                            || full.entries <= crate::chain::aggregation::max_room(params)
                    }
                    Skip::NoRoom { .. } | Skip::Invalid(_) => false,
                };
                if let (true, Some(key)) = (retry, forced_keys.get(i)) {
                    exec.overlay().put_app(*key, Some(encode_forced(&tx.raw)));
                }
                skipped.push(tx.hash);
                continue;
            }
        };
        let gas_used = result.tx_gas_used();
        let success = result.is_success();
        // As on Ethereum, a creation's receipt names the address even when it reverted.
        let contract_address = tx
            .envelope
            .kind()
            .is_create()
            .then(|| tx.from.create(tx.envelope.nonce()));
        let logs = match result {
            ExecutionResult::Success { logs, .. } => logs,
            _ => Vec::new(),
        };
        let mut bloom = Bloom::default();
        for l in &logs {
            bloom.accrue_log(l);
        }
        block_bloom.accrue_bloom(&bloom);
        let effective_gas_price = tx.envelope.effective_gas_price(Some(header.base_fee));
        let n_logs = logs.len() as u64;
        let receipt = RecordReceipt {
            success,
            gas_used,
            cumulative_gas_used: exec.gas_used(),
            effective_gas_price,
            contract_address,
            logs,
            logs_bloom: bloom,
        };
        executed.push(TxRecord {
            hash: tx.hash,
            from: tx.from,
            raw: tx.raw.clone(),
            block_number: header.number,
            block_hash: hash,
            block_timestamp: header.timestamp,
            index: u32::try_from(executed.len()).expect("block tx count fits u32"),
            first_log_index: log_index,
            receipt,
        });
        log_index += n_logs;
    }
    // Withdrawals to L1 made by this block, and the withdrawal contract's balance burned.
    crate::chain::bridge::after_transactions(exec.overlay(), params, height, &executed)?;
    let diff_len = exec.overlay().diff_len()?;
    let empty_diff = diff_len == 0;
    // What a proof of this slot binds: the winning bid's commitment, or the block hash of a
    // block no bid committed to.
    let commitment = match &source {
        Source::Revealed { .. } => auction::slot(exec.overlay(), height)?
            .and_then(|e| e.winner().map(|w| w.commitment))
            .unwrap_or(hash),
        Source::Proposer | Source::Withheld => hash,
    };
    auction::settle(exec.overlay(), params, height, &source, empty_diff)?;
    let cumulative = exec.gas_used();
    // The EVM burns the base fee; the protocol pays it into the proving pot.
    let base_fees = U256::from(header.base_fee) * U256::from(cumulative);
    let to_pot = ledger::credit_base_fees(exec.overlay(), params, base_fees)?;
    proving::on_executed(
        exec.overlay(),
        params,
        height,
        header.number,
        commitment,
        diff_len,
        to_pot,
    )?;
    validator_updates.extend(ledger::end_block(exec.overlay(), params, header.number)?);
    auction::end_block(exec.overlay(), params, header.number)?;
    assignment::end_block(exec.overlay(), params, header.number)?;
    proving::end_block(exec.overlay(), params, header.number)?;
    crate::chain::aggregation::end_block(exec.overlay(), params, header.number)?;
    crate::chain::bridge::end_block(exec.overlay(), params, header.number)?;

    let receipts_root = receipts_root(&executed);
    let (changes, indices) = exec.overlay().finish(ProofIndices::of(meta), capacity)?;
    let new_meta = ChainMeta {
        next_base_fee: next_base_fee(
            header.base_fee,
            cumulative,
            header.gas_limit,
            params.min_base_fee,
        ),
        last_block_number: header.number,
        last_block_hash: hash,
        last_receipts_root: receipts_root,
        last_timestamp: header.timestamp,
        next_proof_index: indices.next,
        free_proof_indices: indices.free,
    };
    let mut writes = changes.writes;
    // Meta sorts first (tag 0x00): keep `writes` in key order.
    debug_assert!(writes.first().is_none_or(|(k, _)| *k > StateKey::Meta));
    writes.insert(0, (StateKey::Meta, Some(new_meta.encode())));

    let record = BlockRecord {
        number: header.number,
        hash,
        parent_hash: header.parent_hash,
        timestamp: header.timestamp,
        builder: header.builder,
        base_fee: header.base_fee,
        gas_limit: header.gas_limit,
        gas_used: cumulative,
        tx_root: header.tx_root,
        receipts_root,
        logs_bloom: block_bloom,
        state_root: B256::ZERO,
        tx_hashes: executed.iter().map(|t| t.hash).collect(),
        tx_fees: executed
            .iter()
            .map(|t| (t.receipt.effective_gas_price, t.receipt.gas_used))
            .collect(),
    };
    Ok(Executed {
        record,
        txs: executed,
        diff: changes.diff,
        writes,
        code: changes.code,
        skipped,
        messages: outcomes,
        validator_updates,
        notices: changes.notices,
    })
}

/// `keccak256` over `(success ‖ cumulative gas ‖ keccak(logs))` of every receipt.
fn receipts_root(txs: &[TxRecord]) -> B256 {
    let mut buf = Vec::with_capacity(txs.len() * 41);
    for r in txs.iter().map(|t| &t.receipt) {
        buf.push(u8::from(r.success));
        buf.extend_from_slice(&r.cumulative_gas_used.to_be_bytes());
        let mut logs = Vec::new();
        for l in &r.logs {
            logs.extend_from_slice(l.address.as_slice());
            for t in l.topics() {
                logs.extend_from_slice(t.as_slice());
            }
            logs.extend_from_slice(&l.data.data);
        }
        buf.extend_from_slice(keccak256(logs).as_slice());
    }
    keccak256(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_fee_follows_eip1559() {
        // At target: unchanged. Full: +12.5 %. Empty: −12.5 %. Never below the floor.
        assert_eq!(next_base_fee(800, 50, 100, 1), 800);
        assert_eq!(next_base_fee(800, 100, 100, 1), 900);
        assert_eq!(next_base_fee(800, 0, 100, 1), 700);
        assert_eq!(next_base_fee(8, 0, 100, 8), 8);
        assert_eq!(next_base_fee(1, 100, 100, 1), 2);
    }
}
