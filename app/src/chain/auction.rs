//! The slot auction (DESIGN §3 steps 2–7): sealed bids, the assigned prover's `Select`, the
//! winner's `Reveal`, the withhold rule, forced inclusion, and which L2 block a height
//! executes.
//!
//! Timeline of slot `s` (slot `s` executes its L2 block at height `s`):
//!
//! ```text
//!  s-bid_horizon .. s-bid_close        bids (escrowed when included; a sequencer may replace
//!                                      its own bid only with a higher one)
//!  s-bid_close+1 .. +select_window     the assigned prover's Select of the highest bid; at the
//!                                      end of the last height the app selects it itself
//!  selection .. s                      the winner's Reveal (a penalized deadline: at least
//!                                      min_penalty_window heights)
//!  s                                   execution: forced transactions, then the revealed
//!                                      block; or, if the winner did not reveal, an empty
//!                                      block and the withhold rule; or, if nobody bid, the
//!                                      CometBFT proposer's block
//! ```
//!
//! Every state transition here is a pure function of (overlay, parameters, height, message)
//! that checks everything before its first write; `LedgerError` says why a message is refused.

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use parley_types::{
    BidEntry, RevealedBlock, Selection, SlotEntry, SlotState, StateKey, decode_forced,
    encode_forced,
};

use crate::chain::assignment;
use crate::chain::genesis::{Params, ProtocolParams};
use crate::chain::ledger::{Ledger, LedgerError};
use crate::chain::overlay::Overlay;
use crate::chain::tx::{self, SenderMemo, SignedTx};
use crate::chain::view::{StateView, StoreError};

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// `keccak256(chain_id u64 ‖ slot u64 ‖ builder ‖ gas_limit u64 ‖ tx hash*)`, all big-endian
/// (DESIGN §3.2): what a sealed bid commits to. Parent hash, number, timestamp and base fee
/// are not in it: they are unknown while earlier slots are open, and bound at execution.
pub fn commitment(
    chain_id: u64,
    slot: u64,
    builder: Address,
    gas_limit: u64,
    tx_hashes: impl IntoIterator<Item = B256>,
) -> B256 {
    let mut buf = Vec::with_capacity(36 + 32 * 64);
    buf.extend_from_slice(&chain_id.to_be_bytes());
    buf.extend_from_slice(&slot.to_be_bytes());
    buf.extend_from_slice(builder.as_slice());
    buf.extend_from_slice(&gas_limit.to_be_bytes());
    for h in tx_hashes {
        buf.extend_from_slice(h.as_slice());
    }
    keccak256(buf)
}

/// The heights at which bids for `slot` are included: `slot - bid_horizon ..= slot - bid_close`
/// (empty for slots too early to have a close).
pub fn bid_heights(q: &ProtocolParams, slot: u64) -> std::ops::RangeInclusive<u64> {
    match slot.checked_sub(q.bid_close) {
        Some(close) => slot.saturating_sub(q.bid_horizon)..=close,
        #[allow(clippy::reversed_empty_ranges)]
        None => 1..=0,
    }
}

/// The heights at which the assigned prover's `Select` for `slot` is taken (empty for slots
/// too early to have a close).
pub fn select_heights(q: &ProtocolParams, slot: u64) -> std::ops::RangeInclusive<u64> {
    match slot.checked_sub(q.bid_close) {
        Some(close) => close + 1..=close + q.select_window,
        #[allow(clippy::reversed_empty_ranges)]
        None => 1..=0,
    }
}

/// The slot whose select window ends at `height` (the app selects it at the end of `height`
/// if no `Select` came).
fn slot_selected_by_app_at(q: &ProtocolParams, height: u64) -> Option<u64> {
    (height + q.bid_close)
        .checked_sub(q.select_window)
        .filter(|s| *s >= q.bid_close)
}

/// Typed access to the auction entries.
pub fn slot<V: StateView>(o: &mut Overlay<'_, V>, s: u64) -> Result<Option<SlotEntry>, StoreError> {
    o.app(&StateKey::Slot(s))?
        .map(|b| SlotEntry::decode(&b).map_err(|e| corrupt("slot", e)))
        .transpose()
}

/// Writes slot `s`'s auction entry.
pub fn set_slot<V: StateView>(o: &mut Overlay<'_, V>, s: u64, e: &SlotEntry) {
    o.put_app(StateKey::Slot(s), Some(e.encode()));
}

/// The block revealed for `s`, if any.
pub fn revealed<V: StateView>(
    o: &mut Overlay<'_, V>,
    s: u64,
) -> Result<Option<RevealedBlock>, StoreError> {
    o.app(&StateKey::Reveal(s))?
        .map(|b| RevealedBlock::decode(&b).map_err(|e| corrupt("revealed block", e)))
        .transpose()
}

/// Whether height `h` executes an auctioned block (a winner was selected for slot `h`: its
/// revealed block, or an empty one if it withholds) rather than the proposer's. Known from the
/// state before the height: the selection ends `bid_close - select_window` heights earlier.
pub fn is_auctioned<V: StateView>(o: &mut Overlay<'_, V>, h: u64) -> Result<bool, StoreError> {
    Ok(slot(o, h)?.is_some_and(|e| e.selected.is_some()))
}

/// `Bid{slot, commitment, amount}` from `who` at `height`; `budget` is what its ledger balance
/// holds beyond the message fee. Returns the wei taken from the balance (the whole amount, or
/// the difference to the bid it replaces).
#[allow(clippy::too_many_arguments)]
pub fn bid<V: StateView>(
    l: &mut Ledger<'_, '_, V>,
    q: &ProtocolParams,
    height: u64,
    who: Address,
    s: u64,
    commitment: B256,
    amount: U256,
    budget: U256,
) -> Result<Result<U256, LedgerError>, StoreError> {
    let open = bid_heights(q, s);
    if open.is_empty() || height > *open.end() {
        return Ok(Err(LedgerError::BidClosed {
            slot: s,
            close: s.saturating_sub(q.bid_close),
        }));
    }
    if height < *open.start() {
        return Ok(Err(LedgerError::BidTooEarly {
            slot: s,
            opens: *open.start(),
        }));
    }
    if amount < q.min_bid {
        return Ok(Err(LedgerError::BelowMinBid {
            got: amount,
            min: q.min_bid,
        }));
    }
    match l.sequencer(who)? {
        Some(e) if e.bond >= q.min_sequencer_bond => {}
        _ => return Ok(Err(LedgerError::NotRegistered("sequencer"))),
    }
    let mut entry = slot(l.overlay(), s)?.unwrap_or(SlotEntry {
        next_order: 0,
        bids: Vec::new(),
        selected: None,
        state: SlotState::Open,
    });
    let old = entry.bids.iter().position(|b| b.sequencer == who);
    let spend = match old {
        Some(i) if amount <= entry.bids[i].amount => {
            return Ok(Err(LedgerError::BidNotHigher {
                have: entry.bids[i].amount,
                got: amount,
            }));
        }
        Some(i) => amount - entry.bids[i].amount,
        None => amount,
    };
    if spend > budget {
        return Ok(Err(LedgerError::LedgerFunds {
            have: budget,
            need: spend,
        }));
    }
    let Some(next_order) = entry.next_order.checked_add(1) else {
        return Ok(Err(LedgerError::Overflow));
    };
    let new = BidEntry {
        sequencer: who,
        commitment,
        amount,
        order: entry.next_order,
    };
    match old {
        // A replacement counts as included now (it goes behind equal bids placed before).
        Some(i) => {
            entry.bids.remove(i);
            entry.bids.push(new);
        }
        None => entry.bids.push(new),
    }
    entry.next_order = next_order;
    set_slot(l.overlay(), s, &entry);
    Ok(Ok(spend))
}

/// Selects the winner of `s` (the highest bid), refunding every other bid to its sequencer.
fn select_winner<V: StateView>(
    l: &mut Ledger<'_, '_, V>,
    s: u64,
    mut entry: SlotEntry,
    by: Selection,
) -> Result<(), StoreError> {
    let winner = *entry.highest().expect("selecting a slot with bids");
    for b in &entry.bids {
        if b.order != winner.order {
            l.credit(b.sequencer, b.amount)?;
        }
    }
    entry.bids = vec![winner];
    entry.selected = Some(by);
    set_slot(l.overlay(), s, &entry);
    Ok(())
}

/// `Select{slot, sequencer, commitment, amount}` from `who` at `height`.
#[allow(clippy::too_many_arguments)]
pub fn select<V: StateView>(
    l: &mut Ledger<'_, '_, V>,
    q: &ProtocolParams,
    height: u64,
    who: Address,
    s: u64,
    sequencer: Address,
    commitment: B256,
    amount: U256,
) -> Result<Result<(), LedgerError>, StoreError> {
    let window = select_heights(q, s);
    if !window.contains(&height) {
        return Ok(Err(LedgerError::SelectWindow {
            slot: s,
            first: *window.start(),
            last: *window.end(),
        }));
    }
    let assigned = assignment::assigned(l.overlay(), s)?.unwrap_or_default();
    if !assigned.provers.iter().any(|(p, _)| *p == who) {
        return Ok(Err(LedgerError::NotAssigned(s)));
    }
    let Some(entry) = slot(l.overlay(), s)?.filter(|e| !e.bids.is_empty()) else {
        return Ok(Err(LedgerError::NoBids(s)));
    };
    if entry.selected.is_some() {
        return Ok(Err(LedgerError::AlreadySelected(s)));
    }
    let top = *entry.highest().expect("non-empty");
    if (top.sequencer, top.commitment, top.amount) != (sequencer, commitment, amount) {
        return Ok(Err(LedgerError::NotHighest {
            slot: s,
            sequencer: top.sequencer,
            amount: top.amount,
        }));
    }
    select_winner(l, s, entry, Selection::Prover(who))?;
    Ok(Ok(()))
}

/// `Reveal{slot, gas_limit, txs}` from `who` at `height`: the winner's block, checked against
/// its commitment, kept until the slot executes.
pub fn reveal<V: StateView>(
    l: &mut Ledger<'_, '_, V>,
    params: &Params,
    height: u64,
    who: Address,
    s: u64,
    gas_limit: u64,
    txs: &[Bytes],
) -> Result<Result<(), LedgerError>, StoreError> {
    let Some(mut entry) = slot(l.overlay(), s)? else {
        return Ok(Err(LedgerError::NotWinner(s)));
    };
    let Some(winner) = entry.winner().copied() else {
        return Ok(Err(LedgerError::NotWinner(s)));
    };
    if winner.sequencer != who {
        return Ok(Err(LedgerError::NotWinner(s)));
    }
    if entry.state != SlotState::Open || height > s {
        return Ok(Err(LedgerError::RevealClosed(s)));
    }
    if gas_limit > params.block_gas_limit {
        return Ok(Err(LedgerError::RevealGasLimit {
            got: gas_limit,
            max: params.block_gas_limit,
        }));
    }
    if txs.len() as u64 > params.max_block_txs {
        return Ok(Err(LedgerError::RevealTooManyTxs {
            got: txs.len() as u64,
            max: params.max_block_txs,
        }));
    }
    let got = commitment(
        params.chain_id,
        s,
        who,
        gas_limit,
        txs.iter().map(keccak256),
    );
    if got != winner.commitment {
        return Ok(Err(LedgerError::CommitmentMismatch {
            expected: winner.commitment,
            got,
        }));
    }
    let block = RevealedBlock {
        gas_limit,
        txs: txs.to_vec(),
    };
    l.overlay()
        .put_app(StateKey::Reveal(s), Some(block.encode()));
    entry.state = SlotState::Revealed;
    set_slot(l.overlay(), s, &entry);
    Ok(Ok(()))
}

/// `ForceInclude{tx}` at `height`: a valid transaction (stateless rules, gas limit within
/// `forced_gas`) joins the forced queue; the next executed L2 block starts with it.
pub fn force_include<V: StateView>(
    l: &mut Ledger<'_, '_, V>,
    params: &Params,
    height: u64,
    raw: &[u8],
    senders: &impl SenderMemo,
) -> Result<Result<(), LedgerError>, StoreError> {
    let tx = match tx::decode(raw, params, senders) {
        Ok(t) => t,
        Err(e) => return Ok(Err(LedgerError::ForcedInvalid(e.to_string()))),
    };
    use alloy_consensus::Transaction as _;
    if tx.envelope.gas_limit() > params.protocol.forced_gas {
        return Ok(Err(LedgerError::ForcedInvalid(format!(
            "gas limit {} exceeds forced_gas {}",
            tx.envelope.gas_limit(),
            params.protocol.forced_gas
        ))));
    }
    let at_height = StateKey::Forced { height, index: 0 }..=StateKey::Forced {
        height,
        index: u32::MAX,
    };
    let index = u32::try_from(l.overlay().app_range(at_height)?.len())
        .map_err(|_| corrupt("forced queue", "more than 2^32 entries at one height"))?;
    l.overlay()
        .put_app(StateKey::Forced { height, index }, Some(encode_forced(raw)));
    Ok(Ok(()))
}

/// The queued forced transactions, oldest first: (key, raw bytes).
pub fn forced_queue<V: StateView>(
    o: &mut Overlay<'_, V>,
) -> Result<Vec<(StateKey, Vec<u8>)>, StoreError> {
    o.app_range(StateKey::forced_all())?
        .into_iter()
        .map(|(k, v)| {
            decode_forced(&v)
                .map(|raw| (k, raw))
                .map_err(|e| corrupt("forced tx", e))
        })
        .collect()
}

/// What height `h` executes as its L2 block, decided after the height's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Nobody won slot `h`: the CometBFT proposer's block.
    Proposer,
    /// The winner revealed: its block, built by `builder`.
    Revealed {
        /// The winning sequencer (receives the tips).
        builder: Address,
        /// The revealed block.
        block: RevealedBlock,
    },
    /// The winner did not reveal: an empty block (forced transactions only).
    Withheld,
}

/// Which block height `h` executes (see [`Source`]). Removes the revealed block from state.
pub fn source<V: StateView>(o: &mut Overlay<'_, V>, h: u64) -> Result<Source, StoreError> {
    let Some(entry) = slot(o, h)? else {
        return Ok(Source::Proposer);
    };
    let Some(winner) = entry.winner().copied() else {
        return Ok(Source::Proposer);
    };
    match entry.state {
        SlotState::Revealed => {
            let block = revealed(o, h)?
                .ok_or_else(|| corrupt("slot", format!("slot {h} revealed without a block")))?;
            o.put_app(StateKey::Reveal(h), None);
            Ok(Source::Revealed {
                builder: winner.sequencer,
                block,
            })
        }
        SlotState::Open => Ok(Source::Withheld),
        other => Err(corrupt(
            "slot",
            format!("slot {h} is {} before its execution", other.name()),
        )),
    }
}

/// Splits `amount` between the slot's assigned provers (equal shares, the remainder to the
/// first); with no assigned prover it goes to the proving pot. Returns what was paid.
fn pay_assigned<V: StateView>(
    l: &mut Ledger<'_, '_, V>,
    s: u64,
    amount: U256,
) -> Result<(), StoreError> {
    let provers = assignment::assigned(l.overlay(), s)?
        .unwrap_or_default()
        .provers;
    if provers.is_empty() {
        let mut pot = l.pot()?;
        pot.proving_pot = pot
            .proving_pot
            .checked_add(amount)
            .ok_or_else(|| corrupt("pot", "proving pot overflows"))?;
        l.set_pot(pot);
        return Ok(());
    }
    let k = U256::from(provers.len());
    let share = amount / k;
    let rest = amount - share * k;
    for (i, (p, _)) in provers.iter().enumerate() {
        let pay = if i == 0 { share + rest } else { share };
        if !pay.is_zero() {
            l.pay(*p, pay)?;
        }
    }
    Ok(())
}

/// Settles slot `h` after its execution: a revealed block with an empty diff pays its bid to
/// the assigned prover(s) now (nothing to prove); a non-empty one keeps the escrow for the
/// proof; a withheld one splits the escrow (`withhold_prover_share_bps` to the prover(s), the
/// rest burned) and fines the sequencer's bond (or, if it already left, its unbonding stake).
pub fn settle<V: StateView>(
    o: &mut Overlay<'_, V>,
    params: &Params,
    h: u64,
    source: &Source,
    empty_diff: bool,
) -> Result<(), StoreError> {
    let q = &params.protocol;
    let mut l = Ledger::new(o);
    let Some(mut entry) = slot(l.overlay(), h)? else {
        return Ok(());
    };
    let Some(winner) = entry.winner().copied() else {
        return Ok(());
    };
    match source {
        Source::Proposer => return Ok(()),
        Source::Revealed { .. } if empty_diff => {
            pay_assigned(&mut l, h, winner.amount)?;
            entry.state = SlotState::Settled;
        }
        Source::Revealed { .. } => entry.state = SlotState::Executed,
        Source::Withheld => {
            let to_prover =
                winner.amount * U256::from(q.withhold_prover_share_bps) / U256::from(10_000u64);
            pay_assigned(&mut l, h, to_prover)?;
            let fine = l.fine_sequencer(winner.sequencer, q.withhold_fine, h)?;
            let mut pot = l.pot()?;
            pot.burned = pot
                .burned
                .checked_add(winner.amount - to_prover)
                .and_then(|b| b.checked_add(fine))
                .ok_or_else(|| corrupt("pot", "burned total overflows"))?;
            l.set_pot(pot);
            entry.state = SlotState::Withheld;
        }
    }
    set_slot(l.overlay(), h, &entry);
    Ok(())
}

/// What the auction does at the end of every height: the app selects the highest bid of the
/// slot whose select window ends now, if the assigned prover did not (no penalty: a proposer
/// may have censored its `Select`).
pub fn end_block<V: StateView>(
    o: &mut Overlay<'_, V>,
    params: &Params,
    height: u64,
) -> Result<(), StoreError> {
    let Some(s) = slot_selected_by_app_at(&params.protocol, height) else {
        return Ok(());
    };
    let mut l = Ledger::new(o);
    if let Some(entry) = slot(l.overlay(), s)?
        && entry.selected.is_none()
        && !entry.bids.is_empty()
    {
        select_winner(&mut l, s, entry, Selection::App)?;
    }
    Ok(())
}

/// Decodes a revealed or forced transaction for execution; one that fails the stateless rules
/// is skipped (by hash) rather than halting anything.
pub fn decode_for_execution(
    raw: &[u8],
    params: &Params,
    senders: &impl SenderMemo,
) -> Result<SignedTx, B256> {
    tx::decode(raw, params, senders).map_err(|_| keccak256(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q() -> ProtocolParams {
        ProtocolParams {
            bid_close: 8,
            bid_horizon: 16,
            select_window: 2,
            ..ProtocolParams::default()
        }
    }

    #[test]
    fn the_windows_of_a_slot_follow_each_other() {
        let q = q();
        assert_eq!(bid_heights(&q, 100), 84..=92);
        assert_eq!(select_heights(&q, 100), 93..=94);
        assert_eq!(select_heights(&q, 8), 1..=2);
        assert!(select_heights(&q, 7).is_empty());
        assert_eq!(slot_selected_by_app_at(&q, 94), Some(100));
        // Early slots: bids open at 0, and a slot before the first close has no bids.
        assert_eq!(bid_heights(&q, 8), 0..=0);
        assert!(bid_heights(&q, 7).is_empty());
        assert_eq!(slot_selected_by_app_at(&q, 1), None);
        assert_eq!(slot_selected_by_app_at(&q, 2), Some(8));
    }

    #[test]
    fn the_commitment_covers_every_field() {
        let base = commitment(1, 2, Address::repeat_byte(3), 4, [B256::repeat_byte(5)]);
        assert_ne!(
            base,
            commitment(9, 2, Address::repeat_byte(3), 4, [B256::repeat_byte(5)])
        );
        assert_ne!(
            base,
            commitment(1, 9, Address::repeat_byte(3), 4, [B256::repeat_byte(5)])
        );
        assert_ne!(
            base,
            commitment(1, 2, Address::repeat_byte(9), 4, [B256::repeat_byte(5)])
        );
        assert_ne!(
            base,
            commitment(1, 2, Address::repeat_byte(3), 9, [B256::repeat_byte(5)])
        );
        assert_ne!(
            base,
            commitment(1, 2, Address::repeat_byte(3), 4, [B256::repeat_byte(9)])
        );
        assert_ne!(base, commitment(1, 2, Address::repeat_byte(3), 4, []));
        // Order matters.
        let (a, b) = (B256::repeat_byte(1), B256::repeat_byte(2));
        assert_ne!(
            commitment(1, 2, Address::ZERO, 4, [a, b]),
            commitment(1, 2, Address::ZERO, 4, [b, a])
        );
    }
}
