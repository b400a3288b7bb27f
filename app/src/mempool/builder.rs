//! The proposer's block builder (DESIGN §3.5): packs mempool transactions into one L2 block
//! by fee priority, keeping each sender's nonces consecutive from its committed nonce, and
//! packing by the gas transactions actually use (it executes them on a throwaway overlay with
//! the core's [`BlockExecutor`]). The header is the one the block rules expect
//! ([`rules::header`]).

use std::collections::{BTreeMap, BinaryHeap, VecDeque};

use alloy_consensus::Transaction as _;
use alloy_primitives::{Address, B256};
use parley_types::{ChainMeta, LeafValue, StateKey, StateValue};

use crate::chain::block::{L2Block, L2Header, tx_root};
use crate::chain::evm::{BlockExecutor, ExecError};
use crate::chain::genesis::Params;
use crate::chain::rules;
use crate::chain::tx::SignedTx;
use crate::chain::view::{StateView, StoreError};

/// The least gas any transaction needs: the builder stops once less than this is left.
const MIN_TX_GAS: u64 = 21_000;

/// Bytes of a proposal's envelope besides the transactions: magic, version, kind, header and
/// list prefixes.
const ENVELOPE_OVERHEAD: u64 = 512;

/// The proposer's L2 block at `height`: `candidates` (decoded mempool transactions) packed by
/// [`select`] under the header the rules expect, within `max_tx_bytes` of proposal.
#[allow(clippy::too_many_arguments)]
pub fn build<V: StateView>(
    view: &V,
    params: &Params,
    meta: &ChainMeta,
    height: u64,
    time_secs: u64,
    builder: Address,
    candidates: Vec<SignedTx>,
    max_tx_bytes: u64,
) -> Result<L2Block, ExecError> {
    let mut header = rules::header(params, meta, height, time_secs, builder);
    let budget = max_tx_bytes.saturating_sub(ENVELOPE_OVERHEAD);
    let txs = select(view, params, &header, candidates, budget)?;
    header.tx_root = tx_root(txs.iter().map(|t| t.hash));
    Ok(L2Block {
        header,
        txs: txs.into_iter().map(|t| t.raw).collect(),
    })
}

/// A sender's next transaction, ordered by tip then by hash (a deterministic tie-break).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Head {
    tip: u128,
    hash: std::cmp::Reverse<alloy_primitives::B256>,
    from: Address,
}

/// Chooses and orders transactions for the block `header` (its `tx_root` is ignored), within
/// the block gas limit, the tx-count limit and `byte_budget` bytes. Candidates are *executed*
/// in order on a throwaway overlay over `view` with the same executor FinalizeBlock uses, so
/// a transaction is packed by the gas it uses, not by its gas limit, and one that is invalid
/// at its turn (or does not fit) is left out together with its sender's later nonces.
pub fn select<V: StateView>(
    view: &V,
    params: &Params,
    header: &L2Header,
    candidates: Vec<SignedTx>,
    byte_budget: u64,
) -> Result<Vec<SignedTx>, ExecError> {
    let base_fee = header.base_fee;
    // Group by sender, sorted by nonce, starting at the committed nonce with no gaps.
    let mut by_sender: BTreeMap<Address, BTreeMap<u64, SignedTx>> = BTreeMap::new();
    for tx in candidates {
        // A fee cap below the base fee cannot be included in this block.
        if tx.envelope.max_fee_per_gas() < u128::from(base_fee) {
            continue;
        }
        by_sender
            .entry(tx.from)
            .or_default()
            .entry(tx.envelope.nonce())
            .or_insert(tx);
    }
    let mut queues: BTreeMap<Address, VecDeque<SignedTx>> = BTreeMap::new();
    for (from, txs) in by_sender {
        let mut next = match view.entry(&StateKey::Account(from))? {
            Some(StateValue {
                leaf: LeafValue::Account(a),
                ..
            }) => a.nonce,
            _ => 0,
        };
        let mut q = VecDeque::new();
        for (nonce, tx) in txs {
            if nonce != next {
                // (`<=` here is an equivalent mutant: inside `nonce != next` it means `<`.)
                if nonce < next {
                    continue; // already executed; recheck will drop it
                }
                break; // gap
            }
            q.push_back(tx);
            next += 1;
        }
        if !q.is_empty() {
            queues.insert(from, q);
        }
    }
    let tip = |tx: &SignedTx| tx.envelope.effective_tip_per_gas(base_fee).unwrap_or(0);
    let mut heap: BinaryHeap<Head> = queues
        .iter()
        .filter_map(|(from, q)| {
            q.front().map(|tx| Head {
                tip: tip(tx),
                hash: std::cmp::Reverse(tx.hash),
                from: *from,
            })
        })
        .collect();
    // The proof tree's room for inserts (ADR 0011), from the committed chain meta, so a
    // transaction that execution would skip for the capacity is left out here too.
    let meta = match view.app_entry(&StateKey::Meta)? {
        Some(b) => {
            ChainMeta::decode(&b).map_err(|e| StoreError::Corrupt(format!("chain meta: {e}")))?
        }
        None => ChainMeta::default(),
    };
    // The proposal's CometBFT hash (prevrandao) is not known yet: simulate with zero. A
    // transaction whose gas depends on it may still be skipped at execution.
    let mut exec = BlockExecutor::new(
        view,
        params,
        header,
        B256::ZERO,
        meta.proof_index_room(params.proof_index_capacity()),
    );
    // The diff room execution will give the block (its epoch's chunks left, ADR 0016), as
    // far as committed state tells now; the header's number is its slot.
    let room = crate::chain::aggregation::diff_room(exec.overlay(), params, header.number)?;
    exec.overlay().set_diff_room(room);
    let mut out = Vec::new();
    let mut bytes = 0u64;
    while let Some(head) = heap.pop() {
        // The gas test is an early exit only: with less than MIN_TX_GAS left every remaining
        // candidate fails `apply` with NoRoom anyway, so `<` turned into `==` is an
        // equivalent mutant (same block, more work).
        if out.len() as u64 >= params.max_block_txs
            || header.gas_limit.saturating_sub(exec.gas_used()) < MIN_TX_GAS
        {
            break;
        }
        let q = queues.get_mut(&head.from).expect("every head has a queue");
        let tx = q.pop_front().expect("a head's queue is non-empty");
        let tx_bytes = tx.raw.len() as u64 + 4;
        if bytes.saturating_add(tx_bytes) > byte_budget || exec.apply(&tx)?.is_err() {
            // This sender's later nonces cannot follow it in this block: drop the queue.
            q.clear();
            continue;
        }
        bytes += tx_bytes;
        out.push(tx);
        if let Some(next) = q.front() {
            heap.push(Head {
                tip: tip(next),
                hash: std::cmp::Reverse(next.hash),
                from: head.from,
            });
        }
    }
    Ok(out)
}
