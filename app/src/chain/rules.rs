//! The block rules: what a proposal must be for every honest validator to accept it
//! (ProcessProposal), and what FinalizeBlock executes when a decided block breaks them.
//!
//! A proposal may start with the seed openings of the reveal height before it
//! ([`crate::chain::seed`]; whether it must is a rule on state, checked by the app). Then it
//! carries signed protocol messages ([`crate::chain::msg`]) first, each valid
//! statelessly, none twice, at most `max_messages_per_kind` of each kind; then, last, exactly
//! one L2 block built by the proposer when nobody won the slot, and none when somebody did
//! (the winner's revealed block executes instead); and no raw user transactions. Its header is bound to chain state ([`header`]: chain id, number = height,
//! parent = last block, timestamp = CometBFT block time, base fee and gas limit), it holds at
//! most `max_block_txs` transactions, each passes the stateless rules ([`crate::chain::tx`])
//! and appears once, and `tx_root` commits to them. The block gas limit is enforced per
//! transaction at execution (Ethereum's rule), not on the sum of gas limits.
//!
//! Pure functions of (proposal, height, time, parameters, chain meta); the sender memo only
//! saves signature recoveries.

use alloy_primitives::{Address, B256, Bytes};
use parley_types::ChainMeta;

use std::collections::BTreeMap;

use crate::chain::block::{L2Block, L2Header, Message, tx_root};
use crate::chain::genesis::Params;
use crate::chain::msg::{self, Kind, SignedMsg};
use crate::chain::seed::SeedReveals;
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

/// A proposal that follows the rules, decoded.
#[derive(Debug, Clone)]
pub struct Proposal {
    /// The signed protocol messages, in block order (they execute first).
    pub messages: Vec<SignedMsg>,
    /// The proposer's L2 block (header and transactions): present exactly when slot `height`
    /// was not auctioned.
    pub block: Option<(L2Header, Vec<SignedTx>)>,
    /// The seed openings the proposal starts with, if any (whether it must carry them is a
    /// rule on state: [`crate::chain::seed::check_reveals`]).
    pub seed: Option<SeedReveals>,
    /// The epoch attestation the proposal carries after the seed openings, if any (checked
    /// on state: [`crate::chain::bridge::check_attest`]).
    pub attest: Option<crate::chain::bridge::Attest>,
    /// The L1 queue batch after the attestation, if any (checked on state:
    /// [`crate::chain::l1queue::check_batch`]).
    pub l1_queue: Option<crate::chain::l1queue::QueueBatch>,
    /// What the batch does, once checked on state (nothing until then).
    pub l1_queue_effect: crate::chain::l1queue::Effect,
}

/// Checks a proposal's transactions at `height`: signed protocol messages first (each valid
/// statelessly, none twice, at most `max_messages_per_kind` of a kind), then, when slot
/// `height` was not `auctioned`, exactly one L2 block, last, and that block's rules; when it
/// was, no L2 block at all (the winner's reveal is the block, DESIGN §3.5).
pub fn check_proposal(
    txs: &[Bytes],
    height: u64,
    time_secs: u64,
    params: &Params,
    meta: &ChainMeta,
    senders: &impl SenderMemo,
    auctioned: bool,
) -> Result<Proposal, String> {
    // Seed openings, if any, come first; then classify, so the reason names what is wrong.
    let (seed, txs) = match txs.first().map(|t| Message::decode(t)) {
        Some(Ok(Message::Seed(r))) => (Some(r), &txs[1..]),
        _ => (None, txs),
    };
    // Then the epoch attestation, if any.
    let (attest, txs) = match txs.first().map(|t| Message::decode(t)) {
        Some(Ok(Message::Attest(a))) => (Some(a), &txs[1..]),
        _ => (None, txs),
    };
    // Then the L1 queue batch, if any.
    let (l1_queue, txs) = match txs.first().map(|t| Message::decode(t)) {
        Some(Ok(Message::L1Queue(b))) => (Some(b), &txs[1..]),
        _ => (None, txs),
    };
    let mut block = None;
    for (i, raw) in txs.iter().enumerate() {
        if msg::is_signed_message(raw) {
            if block.is_some() {
                return Err(format!(
                    "tx {i}: protocol messages must precede the L2 block"
                ));
            }
            continue;
        }
        match Message::decode(raw) {
            Ok(Message::ProposerBlock(b)) if block.is_none() => block = Some(b),
            Ok(Message::ProposerBlock(_)) => return Err(format!("tx {i}: second L2 block")),
            Ok(Message::Seed(_)) => {
                return Err(format!("tx {i}: seed reveals anywhere but first"));
            }
            Ok(Message::Attest(_)) => {
                return Err(format!(
                    "tx {i}: an attestation anywhere but first (after any seed reveals)"
                ));
            }
            Ok(Message::L1Queue(_)) => {
                return Err(format!(
                    "tx {i}: L1 queue entries anywhere but first (after any seed reveals and attestation)"
                ));
            }
            Err(e) => {
                return Err(format!(
                    "tx {i}: {e} (raw user transactions travel inside L2 blocks)"
                ));
            }
        }
    }
    if auctioned {
        if block.is_some() {
            return Err(format!(
                "slot {height} was auctioned: its block is the winner's, not the proposer's"
            ));
        }
        return Ok(Proposal {
            messages: check_messages(txs, params)?,
            block: None,
            seed,
            attest,
            l1_queue,
            l1_queue_effect: Default::default(),
        });
    }
    let block = block.ok_or_else(|| {
        format!("proposal has no L2 block, but slot {height} had no winning bid (the proposer builds it)")
    })?;
    let messages = check_messages(&txs[..txs.len() - 1], params)?;
    let signed = validate_block(&block, height, time_secs, params, meta, senders)?;
    Ok(Proposal {
        messages,
        block: Some((block.header, signed)),
        seed,
        attest,
        l1_queue,
        l1_queue_effect: Default::default(),
    })
}

/// The stateless rules for a proposal's protocol messages.
pub fn check_messages(raw: &[Bytes], params: &Params) -> Result<Vec<SignedMsg>, String> {
    let mut per_kind: BTreeMap<Kind, u64> = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, tx) in raw.iter().enumerate() {
        if !msg::is_signed_message(tx) {
            return Err(match Message::decode(tx) {
                Ok(Message::ProposerBlock(_)) => format!("tx {i}: second L2 block"),
                Ok(Message::Seed(_)) => format!("tx {i}: seed reveals anywhere but first"),
                Ok(Message::Attest(_)) => {
                    format!("tx {i}: an attestation anywhere but first (after any seed reveals)")
                }
                Ok(Message::L1Queue(_)) => format!(
                    "tx {i}: L1 queue entries anywhere but first (after any seed reveals and attestation)"
                ),
                Err(e) => format!("tx {i}: {e} (raw user transactions travel inside L2 blocks)"),
            });
        }
        let m = msg::decode(tx, params.chain_id).map_err(|e| format!("tx {i}: {e}"))?;
        if !seen.insert(m.hash) {
            return Err(format!("tx {i}: duplicate message {}", m.hash));
        }
        let n = per_kind.entry(m.action.kind()).or_default();
        *n += 1;
        if *n > params.protocol.max_messages_per_kind {
            return Err(format!(
                "tx {i}: more than {} {} messages",
                params.protocol.max_messages_per_kind,
                m.action.kind().name()
            ));
        }
        out.push(m);
    }
    Ok(out)
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
