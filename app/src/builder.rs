//! The proposer's block builder (DESIGN §3.5): packs mempool transactions into one L2 block
//! by fee priority, keeping each sender's nonces consecutive from its committed nonce.

use std::collections::{BTreeMap, BinaryHeap, VecDeque};

use alloy_consensus::Transaction as _;
use alloy_primitives::Address;

use crate::exec::SignedTx;
use crate::genesis::Params;
use crate::storage::{Reader, StoreError};

/// A sender's next transaction, ordered by tip then by hash (a deterministic tie-break).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Head {
    tip: u128,
    hash: std::cmp::Reverse<alloy_primitives::B256>,
    from: Address,
}

/// Chooses and orders transactions for a block with base fee `base_fee`, within the block gas
/// limit, the tx-count limit and `byte_budget` bytes.
pub fn select(
    reader: &Reader,
    params: &Params,
    base_fee: u64,
    candidates: Vec<SignedTx>,
    byte_budget: u64,
) -> Result<Vec<SignedTx>, StoreError> {
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
        let mut next = reader.account(from)?.map_or(0, |(a, _)| a.nonce);
        let mut q = VecDeque::new();
        for (nonce, tx) in txs {
            if nonce != next {
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
    let mut out = Vec::new();
    let (mut gas, mut bytes) = (0u64, 0u64);
    while let Some(head) = heap.pop() {
        if out.len() as u64 >= params.max_block_txs {
            break;
        }
        let q = queues.get_mut(&head.from).expect("every head has a queue");
        let tx = q.pop_front().expect("a head's queue is non-empty");
        let tx_gas = tx.envelope.gas_limit();
        let tx_bytes = tx.raw.len() as u64 + 4;
        if gas.saturating_add(tx_gas) > params.block_gas_limit
            || bytes.saturating_add(tx_bytes) > byte_budget
        {
            // This sender's later nonces cannot follow it in this block: drop the queue.
            q.clear();
            continue;
        }
        gas += tx_gas;
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
