//! Block proofs in consensus (DESIGN §3.8 and §3.11): which slots await a proof, the
//! transitions verified proofs record, and when a slot counts as proven and its prover(s) are
//! paid.
//!
//! - [`on_executed`]: a slot whose L2 block changed EVM state (a non-empty diff) starts to
//!   await its proof; it is linked after the previous such slot, in slot order.
//! - [`apply_proof`]: a `Proof{slot, pre_root, post_root, proof}` from a registered prover —
//!   within the slot's window one of its assigned provers; a slot nobody was drawn for, or one
//!   past its window, is open to all — is verified against the statement the chain computes itself — `chain_id`, slot, the slot's
//!   block commitment, the slot's `diff_hash`, the **sender's address**, and the two roots the
//!   message claims — and recorded as a [`Transition`]. A proof that does not verify fines its
//!   sender. Proofs arrive in any order.
//! - [`advance`]: the oldest unproven slot is proven once one of its transitions starts at the
//!   proven root; proving moves on through later slots whose transitions were already there.
//!   A transition from another root never chains and earns nothing.
//!
//! Validators never compute a Poseidon *tree* here: the genesis proof root is computed once at
//! InitChain, and a proof's `diff_hash` is a Poseidon chain over the slot's diff, which the
//! node computes in the background ([`ProofCheck::diff_hash`]).
//!
//! Money (DESIGN §3 "Money"): the winning bid stays in escrow from execution until the slot is
//! proven; then each assigned prover whose transition chains and was included within
//! `proof_window` gets 1/k of the bid plus 1/k of the slot's `prover_fee_share_bps` of base
//! fees from the pot, and `rep_up` reputation (a slot nobody was drawn for pays the prover
//! whose transition chained, if on time). Shares of provers that were late or absent go to
//! the proving pot. Not yet here (the fallback issue): the two-step permissionless fallback at
//! the window's end, `slash_missed`, bounties. Until then a slot past its window is open to
//! any registered prover in one step, unpaid, so that proving never stalls.

use alloy_primitives::{Address, B256, Bytes, U256};
use parley_types::{
    ProofChain, ProofSlot, REPUTATION_ONE, SlotState, StateDiff, StateKey, Transition,
};

use crate::chain::assignment;
use crate::chain::auction;
use crate::chain::genesis::Params;
use crate::chain::ledger::{Ledger, LedgerError};
use crate::chain::overlay::Overlay;
use crate::chain::view::{StateView, StoreError};

/// What a block proof is checked against: everything but the roots comes from the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Statement {
    /// L2 chain id.
    pub chain_id: u64,
    /// The slot.
    pub slot: u64,
    /// The slot's block commitment ([`ProofSlot::commitment`]).
    pub commitment: B256,
    /// `diff_hash` of the slot's diff.
    pub diff_hash: B256,
    /// The submitter: a proof made for another address does not verify.
    pub prover: Address,
    /// The claimed proof-tree root before the diff.
    pub pre_root: B256,
    /// The claimed root after it.
    pub post_root: B256,
}

/// The node's proof checking, as the core sees it. Deterministic: every validator gets the
/// same answer for the same statement and bytes.
pub trait ProofCheck: std::fmt::Debug {
    /// `diff_hash` of L2 block `number`'s diff (committed in an earlier height).
    fn diff_hash(&self, number: u64) -> Result<B256, StoreError>;
    /// `Ok(Ok(()))` when `proof` proves `statement` with the block circuit pinned in genesis,
    /// `Ok(Err(why))` when it does not; the outer `Err` when the node cannot verify at all
    /// (fatal: no validator may fine a prover for its own missing setup).
    fn verify(&self, statement: &Statement, proof: &[u8])
    -> Result<Result<(), String>, StoreError>;
}

/// A `Proof` message's content.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    /// The slot.
    pub slot: u64,
    /// Claimed root before.
    pub pre_root: B256,
    /// Claimed root after.
    pub post_root: B256,
    /// Proof bytes.
    pub proof: &'a Bytes,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// The proof root of the genesis state, whose diff inserts every genesis entry.
pub fn genesis_proof_root(diff: &StateDiff) -> B256 {
    let mut tree = parley_proofs::ProofTree::new();
    let root = tree
        .apply_diff_batch(diff)
        .expect("a genesis diff only inserts entries of matching kinds");
    parley_proofs::encoding::fr_to_b256(&root)
}

/// The proof chain, when the genesis enables proving.
pub fn chain<V: StateView>(o: &mut Overlay<'_, V>) -> Result<Option<ProofChain>, StoreError> {
    o.app(&StateKey::ProofChain)?
        .map(|b| ProofChain::decode(&b).map_err(|e| corrupt("proof chain", e)))
        .transpose()
}

/// Slot `s`'s proof record, if it needed a proof.
pub fn proof_slot<V: StateView>(
    o: &mut Overlay<'_, V>,
    s: u64,
) -> Result<Option<ProofSlot>, StoreError> {
    o.app(&StateKey::ProofSlot(s))?
        .map(|b| ProofSlot::decode(&b).map_err(|e| corrupt("proof slot", e)))
        .transpose()
}

/// Whether backpressure holds (DESIGN §3.13): proving is on and `max_unproven_slots` slots
/// with a non-empty diff await their proof. Then the height's L2 block executes no
/// transactions, and no message may change EVM state, so no further slot needs a proof.
pub fn backpressure<V: StateView>(
    o: &mut Overlay<'_, V>,
    params: &Params,
) -> Result<bool, StoreError> {
    let Some(p) = &params.protocol.proving else {
        return Ok(false);
    };
    Ok(chain(o)?.is_some_and(|c| c.unproven >= p.max_unproven_slots))
}

/// The newest L2 block whose state is proven (what JSON-RPC calls `safe`): the block before
/// the oldest slot awaiting its proof, or `latest` when none awaits one. `None` on a chain
/// without proving.
pub fn proven_block<V: StateView>(view: &V, latest: u64) -> Result<Option<u64>, StoreError> {
    let mut o = Overlay::new(view);
    let Some(c) = chain(&mut o)? else {
        return Ok(None);
    };
    if c.head == 0 {
        return Ok(Some(latest));
    }
    let head = proof_slot(&mut o, c.head)?
        .ok_or_else(|| corrupt("proof slot", format!("head {} missing", c.head)))?;
    Ok(Some(head.block_number.saturating_sub(1)))
}

fn set_proof_slot<V: StateView>(o: &mut Overlay<'_, V>, s: u64, e: &ProofSlot) {
    o.put_app(StateKey::ProofSlot(s), Some(e.encode()));
}

fn set_chain<V: StateView>(o: &mut Overlay<'_, V>, c: &ProofChain) {
    o.put_app(StateKey::ProofChain, Some(c.encode()));
}

/// Slot `height` executed L2 block `block_number`: when its diff is non-empty and proving is
/// on, it awaits a proof of `commitment`, and `base_fees_to_pot` (what its base fees put in
/// the pot) sets the fee share its prover(s) will be paid.
pub fn on_executed<V: StateView>(
    o: &mut Overlay<'_, V>,
    params: &Params,
    height: u64,
    block_number: u64,
    commitment: B256,
    empty_diff: bool,
    base_fees_to_pot: U256,
) -> Result<(), StoreError> {
    let Some(p) = &params.protocol.proving else {
        return Ok(());
    };
    if empty_diff {
        return Ok(());
    }
    let mut c = chain(o)?.ok_or_else(|| corrupt("proof chain", "missing with proving on"))?;
    let fee_share = base_fees_to_pot * U256::from(p.prover_fee_share_bps) / U256::from(10_000u64);
    if c.tail != 0 {
        let mut prev = proof_slot(o, c.tail)?
            .ok_or_else(|| corrupt("proof slot", format!("tail {} missing", c.tail)))?;
        prev.next = height;
        set_proof_slot(o, c.tail, &prev);
    }
    set_proof_slot(
        o,
        height,
        &ProofSlot {
            block_number,
            commitment,
            window_end: height.saturating_add(p.proof_window),
            fee_share,
            next: 0,
            proven: false,
            transitions: Vec::new(),
        },
    );
    c.tail = height;
    if c.head == 0 {
        c.head = height;
    }
    c.unproven = c
        .unproven
        .checked_add(1)
        .ok_or_else(|| corrupt("proof chain", "unproven count overflows"))?;
    set_chain(o, &c);
    Ok(())
}

/// A `Proof` from `who` at `height`. `Err`: refused, nothing changed. `Ok(Some(e))`: the
/// proof does not verify and `who` was fined (the message still pays its fee). `Ok(None)`: a
/// transition was recorded, and proving advanced as far as it chains.
///
/// `check: None` (block building, admission) takes the proof as valid.
pub fn apply_proof<V: StateView>(
    l: &mut Ledger<'_, '_, V>,
    params: &Params,
    height: u64,
    who: Address,
    claim: Claim<'_>,
    check: Option<&dyn ProofCheck>,
) -> Result<Result<Option<LedgerError>, LedgerError>, StoreError> {
    let Some(p) = &params.protocol.proving else {
        return Ok(Err(LedgerError::ProvingDisabled));
    };
    let s = claim.slot;
    if l.prover(who)?.is_none() {
        return Ok(Err(LedgerError::NotRegistered("prover")));
    }
    let Some(mut entry) = proof_slot(l.overlay(), s)? else {
        return Ok(Err(LedgerError::NoProofDue(s)));
    };
    if entry.proven {
        return Ok(Err(LedgerError::AlreadyProven(s)));
    }
    if entry.transitions.iter().any(|t| t.prover == who) {
        return Ok(Err(LedgerError::DuplicateTransition(s)));
    }
    // Within the window only the slot's assigned provers may prove it; a slot nobody was
    // drawn for, or one past its window, is open to every registered prover.
    let assigned = assignment::assigned(l.overlay(), s)?.unwrap_or_default();
    if height <= entry.window_end
        && !assigned.provers.is_empty()
        && !assigned.provers.iter().any(|(a, _)| *a == who)
    {
        return Ok(Err(LedgerError::NotAssigned(s)));
    }
    if let Some(check) = check {
        let statement = Statement {
            chain_id: params.chain_id,
            slot: s,
            commitment: entry.commitment,
            diff_hash: check.diff_hash(entry.block_number)?,
            prover: who,
            pre_root: claim.pre_root,
            post_root: claim.post_root,
        };
        if let Err(reason) = check.verify(&statement, claim.proof)? {
            let fined = l.fine_prover(who, p.invalid_proof_fine, height)?;
            let mut pot = l.pot()?;
            pot.burned = pot
                .burned
                .checked_add(fined)
                .ok_or_else(|| corrupt("pot", "burned total overflows"))?;
            l.set_pot(pot);
            return Ok(Ok(Some(LedgerError::InvalidProof {
                slot: s,
                fined,
                reason,
            })));
        }
    }
    entry.transitions.push(Transition {
        prover: who,
        pre_root: claim.pre_root,
        post_root: claim.post_root,
        height,
    });
    set_proof_slot(l.overlay(), s, &entry);
    advance(l, params)?;
    Ok(Ok(None))
}

/// Proves slots from the oldest unproven one on while one of its transitions starts at the
/// proven root, settling each.
pub fn advance<V: StateView>(l: &mut Ledger<'_, '_, V>, params: &Params) -> Result<(), StoreError> {
    let Some(mut c) = chain(l.overlay())? else {
        return Ok(());
    };
    while c.head != 0 {
        let s = c.head;
        let mut entry = proof_slot(l.overlay(), s)?
            .ok_or_else(|| corrupt("proof slot", format!("head {s} missing")))?;
        let Some(t) = entry
            .transitions
            .iter()
            .find(|t| t.pre_root == c.proven_root)
            .copied()
        else {
            break;
        };
        entry.proven = true;
        set_proof_slot(l.overlay(), s, &entry);
        settle(l, params, s, &entry, &t)?;
        c.proven_slot = s;
        c.proven_root = t.post_root;
        c.head = entry.next;
        if c.head == 0 {
            c.tail = 0;
        }
        c.unproven = c
            .unproven
            .checked_sub(1)
            .ok_or_else(|| corrupt("proof chain", "unproven count underflows"))?;
    }
    set_chain(l.overlay(), &c);
    Ok(())
}

/// Pays a proven slot: each assigned prover whose transition matches the chaining one and was
/// included within the window gets its 1/k share of the bid and of the fee share, and
/// reputation; the rest of the bid goes to the pot (the fee share not paid stays there).
fn settle<V: StateView>(
    l: &mut Ledger<'_, '_, V>,
    params: &Params,
    s: u64,
    entry: &ProofSlot,
    chained: &Transition,
) -> Result<(), StoreError> {
    let p = params
        .protocol
        .proving
        .as_ref()
        .expect("only a chain with proving has proof slots");
    let provers = assignment::assigned(l.overlay(), s)?
        .unwrap_or_default()
        .provers;
    let mut slot_entry = auction::slot(l.overlay(), s)?;
    let bid = match &slot_entry {
        Some(e) if e.state == SlotState::Executed => e.winner().map_or(U256::ZERO, |w| w.amount),
        _ => U256::ZERO,
    };
    let mut pot = l.pot()?;
    // The fee share is owed from the pot; never more than the pot holds.
    let fees = entry.fee_share.min(pot.proving_pot);
    // A slot nobody was drawn for pays the prover whose transition chained, if on time.
    let payees: Vec<Address> = if provers.is_empty() {
        vec![chained.prover]
    } else {
        provers.iter().map(|(a, _)| *a).collect()
    };
    let k = U256::from(payees.len());
    let (bid_each, fee_each) = (bid / k, fees / k);
    let mut paid_bid = U256::ZERO;
    let mut paid_fees = U256::ZERO;
    for a in &payees {
        let on_time = entry.transitions.iter().any(|t| {
            t.prover == *a
                && t.pre_root == chained.pre_root
                && t.post_root == chained.post_root
                && t.height <= entry.window_end
        });
        if !on_time {
            continue;
        }
        l.credit(*a, bid_each + fee_each)?;
        paid_bid += bid_each;
        paid_fees += fee_each;
        if let Some(mut e) = l.prover(*a)? {
            e.reputation = e.reputation.saturating_add(p.rep_up).min(REPUTATION_ONE);
            l.overlay().put_app(StateKey::Prover(*a), Some(e.encode()));
        }
    }
    pot.proving_pot = (pot.proving_pot - paid_fees)
        .checked_add(bid - paid_bid)
        .ok_or_else(|| corrupt("pot", "proving pot overflows"))?;
    l.set_pot(pot);
    if let Some(e) = slot_entry.as_mut()
        && e.state == SlotState::Executed
    {
        e.state = SlotState::Settled;
        auction::set_slot(l.overlay(), s, e);
    }
    Ok(())
}
