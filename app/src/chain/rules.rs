//! The block rules: what a proposal must be for every honest validator to accept it
//! (ProcessProposal), and what FinalizeBlock executes when a decided block breaks them.
//!
//! A proposal carries exactly one protocol message, the proposer's L2 block, and no raw user
//! transactions. Its header is bound to chain state ([`header`]: chain id, number = height,
//! parent = last block, timestamp = CometBFT block time, base fee and gas limit), it holds at
//! most `max_block_txs` transactions, each passes the stateless rules ([`crate::chain::tx`])
//! and appears once, and `tx_root` commits to them. The block gas limit is enforced per
//! transaction at execution (Ethereum's rule), not on the sum of gas limits.
//!
//! Pure functions of (proposal, height, time, parameters, chain meta); the sender memo only
//! saves signature recoveries.

use alloy_primitives::{Address, B256, Bytes};
use parley_types::ChainMeta;

use crate::chain::block::{L2Block, L2Header, Message, tx_root};
use crate::chain::genesis::Params;
use crate::chain::tx::{self, SenderMemo, SignedTx};

/// Outcome of a ProcessProposal check.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The proposal follows the rules.
    Accept,
    /// It does not, and why.
    Reject(String),
}

/// The header the rules expect at `height` for a block built by `builder`, with a zero
/// `tx_root` for the builder to fill in.
pub fn header(
    params: &Params,
    meta: &ChainMeta,
    height: u64,
    time_secs: u64,
    builder: Address,
) -> L2Header {
    L2Header {
        chain_id: params.chain_id,
        number: height,
        parent_hash: meta.last_block_hash,
        timestamp: time_secs,
        builder,
        base_fee: meta.next_base_fee,
        gas_limit: params.block_gas_limit,
        tx_root: B256::ZERO,
    }
}

/// The empty block FinalizeBlock executes in place of a decided block that breaks the rules
/// (only reachable if more than a third of the voting power is faulty), so that every honest
/// node still agrees.
pub fn empty_block(params: &Params, meta: &ChainMeta, height: u64, time_secs: u64) -> L2Header {
    L2Header {
        tx_root: tx_root([]),
        ..header(params, meta, height, time_secs, Address::ZERO)
    }
}

/// Checks a proposal's transactions at `height`: its single L2 block and that block's rules.
/// Returns the block's header and decoded transactions.
pub fn check_proposal(
    txs: &[Bytes],
    height: u64,
    time_secs: u64,
    params: &Params,
    meta: &ChainMeta,
    senders: &impl SenderMemo,
) -> Result<(L2Header, Vec<SignedTx>), String> {
    let block = the_block(txs)?;
    let signed = validate_block(&block, height, time_secs, params, meta, senders)?;
    Ok((block.header, signed))
}

/// Finds the single proposer block of a proposal (and no raw user txs).
fn the_block(txs: &[Bytes]) -> Result<L2Block, String> {
    let mut block = None;
    for (i, raw) in txs.iter().enumerate() {
        match Message::decode(raw) {
            Ok(Message::ProposerBlock(b)) if block.is_none() => block = Some(b),
            Ok(Message::ProposerBlock(_)) => return Err(format!("tx {i}: second L2 block")),
            Err(e) => {
                return Err(format!(
                    "tx {i}: {e} (raw user transactions travel inside L2 blocks)"
                ));
            }
        }
    }
    block.ok_or_else(|| "proposal has no L2 block".into())
}

/// Checks an L2 block against the rules at `height`; returns its decoded transactions.
fn validate_block(
    block: &L2Block,
    height: u64,
    time_secs: u64,
    params: &Params,
    meta: &ChainMeta,
    senders: &impl SenderMemo,
) -> Result<Vec<SignedTx>, String> {
    let h = &block.header;
    if h.chain_id != params.chain_id {
        return Err(format!("chain id {} != {}", h.chain_id, params.chain_id));
    }
    if h.number != height {
        return Err(format!("block number {} != height {height}", h.number));
    }
    if h.parent_hash != meta.last_block_hash {
        return Err(format!(
            "parent hash {} != {}",
            h.parent_hash, meta.last_block_hash
        ));
    }
    if h.timestamp != time_secs {
        return Err(format!(
            "timestamp {} != block time {time_secs}",
            h.timestamp
        ));
    }
    if h.base_fee != meta.next_base_fee {
        return Err(format!("base fee {} != {}", h.base_fee, meta.next_base_fee));
    }
    if h.gas_limit != params.block_gas_limit {
        return Err(format!(
            "gas limit {} != {}",
            h.gas_limit, params.block_gas_limit
        ));
    }
    if block.txs.len() as u64 > params.max_block_txs {
        return Err(format!(
            "{} txs > max {}",
            block.txs.len(),
            params.max_block_txs
        ));
    }
    let mut txs = Vec::with_capacity(block.txs.len());
    let mut seen = std::collections::BTreeSet::new();
    for (i, raw) in block.txs.iter().enumerate() {
        let tx = tx::decode(raw, params, senders).map_err(|e| format!("tx {i}: {e}"))?;
        if !seen.insert(tx.hash) {
            return Err(format!("tx {i}: duplicate {}", tx.hash));
        }
        txs.push(tx);
    }
    // The block gas limit is enforced per transaction at execution (Ethereum's rule:
    // a tx fits while its gas limit is at most the gas left), not on the sum of limits.
    if h.tx_root != tx_root(txs.iter().map(|t| t.hash)) {
        return Err("tx root does not match the transactions".into());
    }
    Ok(txs)
}
