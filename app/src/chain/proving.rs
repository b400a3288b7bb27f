//! Block proofs in consensus (DESIGN §3.8, §3.11 and §3.12): which slots await a proof, the
//! transitions verified proofs record, and when a slot counts as proven and its prover(s) are
//! paid.
//!
//! - [`on_executed`]: a slot whose L2 block changed EVM state (a non-empty diff) starts to
//!   await its proof; it is linked after the previous such slot, in slot order. Its diff is
//!   cut every `block_capacity` entries into chunks (ADR 0016), each proven on its own.
//! - [`apply_proof`]: a `Proof{slot, chunk, pre_root, post_root, proof}` from a registered
//!   prover — within the slot's window, one of its assigned provers, or anyone for a slot
//!   nobody was drawn for — is verified against the statement the chain computes itself
//!   (`chain_id`, slot, the chunk's index and the slot's chunk count, the slot's block
//!   commitment, the chunk's `diff_hash`, the **sender's address**, and the two roots the
//!   message claims) and recorded as a [`Transition`] of that chunk. A proof that does not
//!   verify fines its sender. Proofs arrive in any order. After the window a `Proof` is
//!   refused: the fallback takes over.
//! - [`advance`]: the oldest unproven slot is proven once its transitions chain through every
//!   chunk from the proven root ([`chained`]); proving moves on through later slots whose
//!   transitions were already there. A transition from another root never chains and earns
//!   nothing. A slot waits while its fallback round is open, and, with several drawn provers,
//!   until its window ends unless all of them have a transition of every chunk.
//! - The two-step permissionless fallback (DESIGN §3.9, [`end_block`], [`commit_proof`],
//!   [`reveal_proof`]): a round opens at the end of the window when some chunk of the slot
//!   has no transition, or as soon as it is the oldest unproven slot and its transitions do
//!   not chain (the window over, or every drawn prover's one transition of each chunk used).
//!   Staked provers send `CommitProof{slot, chunk, keccak256(proof ‖ address)}` during
//!   `commit_window`, then the matching `RevealProof` during `reveal_proof_window`. When the
//!   round closes, unrevealed commits are fined, the slot is settled if its transitions now
//!   chain, and otherwise a new round opens with the bounty raised.
//!
//! Validators never compute a Poseidon *tree* here: the genesis proof root is computed once at
//! InitChain, and a chunk's `diff_hash` is a Poseidon chain over its entries, which the node
//! computes in the background ([`ProofCheck::diff_hashes`]).
//!
//! Money (`settle`; DESIGN §3 "Money"): the winning bid stays in escrow from execution until
//! the slot is proven. Then the bid and the slot's `prover_fee_share_bps` of base fees (owed
//! by the pot) are cut into one share per drawn prover, and each share into one part per
//! chunk: an on-time prover gets the part of every chunk it proved and `rep_up` for each;
//! one that missed a chunk is slashed `slash_missed` once (part burned) and its reputation
//! decays, even if another proved, and the parts it missed go to the fallback provers whose
//! reveals of those chunks chained, with the unburned slash and the bounty, pro rata by their
//! committed stake. A drawn prover without a `Proof` of every chunk in its window is slashed
//! when the window ends, proven or not (`slash_no_shows`; the pot holds the unburned part for
//! the fallback provers). What nobody earned stays in the pot. Fines for invalid proofs and
//! unrevealed commits are burned.

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use parley_types::{
    Commit, Missed, ProofChain, ProofSlot, REPUTATION_ONE, SlotState, StateDiff, StateKey,
    Transition,
};

use crate::chain::assignment;
use crate::chain::auction;
use crate::chain::genesis::{FallbackParams, Params};
use crate::chain::ledger::{Ledger, LedgerError};
use crate::chain::overlay::{Notice, Overlay};
use crate::chain::view::{StateView, StoreError};

/// What a block proof of one chunk is checked against: everything but the roots comes from
/// the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Statement {
    /// L2 chain id.
    pub chain_id: u64,
    /// The slot.
    pub slot: u64,
    /// The chunk of the slot's diff.
    pub chunk: u32,
    /// How many chunks the slot's diff has ([`ProofSlot::chunks`]).
    pub chunks: u32,
    /// The slot's block commitment ([`ProofSlot::commitment`]).
    pub commitment: B256,
    /// `diff_hash` of the chunk's entries.
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
    /// `diff_hash` of each chunk of L2 block `number`'s diff (committed in an earlier height),
    /// cut every `block_capacity` entries (ADR 0016): one value per chunk, none for an empty
    /// diff.
    fn diff_hashes(&self, number: u64) -> Result<Vec<B256>, StoreError>;
    /// `Ok(Ok(()))` when `proof` proves `statement` with the block circuit pinned in genesis,
    /// `Ok(Err(why))` when it does not; the outer `Err` when the node cannot verify at all
    /// (fatal: no validator may fine a prover for its own missing setup).
    fn verify(&self, statement: &Statement, proof: &[u8])
    -> Result<Result<(), String>, StoreError>;
    /// `Ok(Ok(epoch_commitment))` when `proof` proves the epoch `statement` describes with
    /// the aggregation circuit pinned in genesis, `Ok(Err(why))` when it does not; the outer
    /// `Err` when the node cannot verify at all (fatal).
    fn verify_epoch(
        &self,
        statement: &crate::chain::aggregation::EpochStatement<'_>,
        proof: &[u8],
    ) -> Result<Result<B256, String>, StoreError>;
    /// `Ok(Ok(()))` when `proof` (accumulator limbs, then the proof) is a proof of the
    /// compression circuit genesis pins for exactly `statement`, `Ok(Err(why))` when it is
    /// not; the outer `Err` when the node cannot verify at all (fatal).
    fn verify_l1(
        &self,
        statement: &crate::chain::aggregation::L1Statement,
        proof: &[u8],
    ) -> Result<Result<(), String>, StoreError>;
}

/// A `Proof` message's content.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    /// The slot.
    pub slot: u64,
    /// The chunk.
    pub chunk: u32,
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

/// Whether backpressure holds for slot `slot` (DESIGN §3.13): proving is on and either
/// `max_unproven_slots` slots with a non-empty diff await their proof, or the slot's epoch
/// already holds `agg_capacity` of them. Then the slot's L2 block executes no transactions,
/// and no message may change EVM state, so no further slot needs a proof.
pub fn backpressure<V: StateView>(
    o: &mut Overlay<'_, V>,
    params: &Params,
    slot: u64,
) -> Result<bool, StoreError> {
    let Some(p) = &params.protocol.proving else {
        return Ok(false);
    };
    Ok(
        chain(o)?.is_some_and(|c| c.unproven >= p.max_unproven_slots)
            || crate::chain::aggregation::epoch_full(o, params, slot)?,
    )
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

/// Slot `height` executed L2 block `block_number` with a diff of `diff_len` entries: when the
/// diff is non-empty and proving is on, it awaits a proof of `commitment` for each of its
/// `⌈diff_len / block_capacity⌉` chunks (ADR 0016), and `base_fees_to_pot` (what its base fees
/// put in the pot) sets the fee share its prover(s) will be paid.
pub fn on_executed<V: StateView>(
    o: &mut Overlay<'_, V>,
    params: &Params,
    height: u64,
    block_number: u64,
    commitment: B256,
    diff_len: u64,
    base_fees_to_pot: U256,
) -> Result<(), StoreError> {
    let Some(p) = &params.protocol.proving else {
        return Ok(());
    };
    if diff_len == 0 {
        return Ok(());
    }
    let chunks = parley_types::chunk_count(
        usize::try_from(diff_len).map_err(|e| corrupt("proof slot", e))?,
        p.block_capacity,
    );
    // Execution bounds the diff by `max_diff_entries ≤ max_chunks · block_capacity`.
    if chunks > p.max_chunks {
        return Err(corrupt(
            "proof slot",
            format!("slot {height}: {chunks} chunks, more than max_chunks"),
        ));
    }
    let chunks = u32::try_from(chunks).map_err(|e| corrupt("proof slot", e))?;
    crate::chain::aggregation::on_executed(o, params, height, u64::from(chunks), base_fees_to_pot)?;
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
            chunks,
            transitions: Vec::new(),
            round: 0,
            round_end: 0,
            bounty: U256::ZERO,
            commits: Vec::new(),
            missed: Vec::new(),
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

/// Where a slot's fallback round stands at a height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No round is open.
    Closed,
    /// Provers send `CommitProof`.
    Commit,
    /// Provers send `RevealProof`.
    Reveal,
}

/// The phase of `entry`'s fallback round at `height`: a round opened at the end of height
/// `o` takes commits at `o + 1 ..= o + commit_window` and reveals after that up to
/// `round_end`.
pub fn phase(f: &FallbackParams, entry: &ProofSlot, height: u64) -> Phase {
    if entry.round_end == 0 || height > entry.round_end {
        Phase::Closed
    } else if height > entry.round_end.saturating_sub(f.reveal_proof_window) {
        Phase::Reveal
    } else {
        Phase::Commit
    }
}

/// The slot's bounty at `height`: `bounty_step` per round that proved nothing, and per
/// `bounty_interval` heights past the proof window.
pub fn bounty_at(f: &FallbackParams, entry: &ProofSlot, height: u64) -> U256 {
    let intervals = height.saturating_sub(entry.window_end) / f.bounty_interval;
    entry
        .bounty
        .saturating_add(f.bounty_step.saturating_mul(U256::from(intervals)))
}

/// Verifies `claim` from `who` for slot `entry`; `Some` when it does not verify, after fining
/// `who` `invalid_proof_fine` (burned).
fn verify_or_fine<V: StateView>(
    l: &mut Ledger<'_, '_, V>,
    params: &Params,
    height: u64,
    who: Address,
    entry: &ProofSlot,
    claim: &Claim<'_>,
    check: Option<&dyn ProofCheck>,
) -> Result<Option<LedgerError>, StoreError> {
    let Some(check) = check else {
        return Ok(None);
    };
    let hashes = check.diff_hashes(entry.block_number)?;
    if hashes.len() != entry.chunks as usize {
        return Err(corrupt(
            "proof slot",
            format!(
                "slot {}: {} chunk diff hashes for {} chunks",
                claim.slot,
                hashes.len(),
                entry.chunks
            ),
        ));
    }
    let statement = Statement {
        chain_id: params.chain_id,
        slot: claim.slot,
        chunk: claim.chunk,
        chunks: entry.chunks,
        commitment: entry.commitment,
        diff_hash: hashes[claim.chunk as usize],
        prover: who,
        pre_root: claim.pre_root,
        post_root: claim.post_root,
    };
    let Err(reason) = check.verify(&statement, claim.proof)? else {
        return Ok(None);
    };
    let fine = params
        .protocol
        .proving
        .as_ref()
        .expect("only a chain with proving verifies proofs")
        .invalid_proof_fine;
    let fined = burn_fine(l, who, fine, height)?;
    Ok(Some(LedgerError::InvalidProof {
        slot: claim.slot,
        fined,
        reason,
    }))
}

/// Takes up to `fine` from `who`'s stake (or unbonding stake) and burns it.
pub(crate) fn burn_fine<V: StateView>(
    l: &mut Ledger<'_, '_, V>,
    who: Address,
    fine: U256,
    height: u64,
) -> Result<U256, StoreError> {
    let fined = l.fine_prover(who, fine, height)?;
    let mut pot = l.pot()?;
    pot.burned = pot
        .burned
        .checked_add(fined)
        .ok_or_else(|| corrupt("pot", "burned total overflows"))?;
    l.set_pot(pot);
    Ok(fined)
}

/// A slot that awaits a proof of `chunk` from `who` and can take one at all: `Err` the
/// refusal. `drawn`: `who` was drawn for the slot, which lets it prove it even after it
/// unbonded (DESIGN §3: a leaving prover's stake stays slashable through every window it was
/// drawn for, so it must be able to meet them); anyone else must be a registered prover.
fn open_slot<V: StateView>(
    l: &mut Ledger<'_, '_, V>,
    s: u64,
    chunk: u32,
    who: Address,
    drawn: bool,
) -> Result<Result<ProofSlot, LedgerError>, StoreError> {
    if !drawn && l.prover(who)?.is_none() {
        return Ok(Err(LedgerError::NotRegistered("prover")));
    }
    let Some(entry) = proof_slot(l.overlay(), s)? else {
        return Ok(Err(LedgerError::NoProofDue(s)));
    };
    if entry.proven {
        return Ok(Err(LedgerError::AlreadyProven(s)));
    }
    if chunk >= entry.chunks {
        return Ok(Err(LedgerError::NoSuchChunk {
            slot: s,
            chunk,
            chunks: entry.chunks,
        }));
    }
    if entry
        .transitions
        .iter()
        .any(|t| t.prover == who && t.chunk == chunk)
    {
        return Ok(Err(LedgerError::DuplicateTransition { slot: s, chunk }));
    }
    Ok(Ok(entry))
}

/// Records a verified transition and proves as far as it chains.
fn record<V: StateView>(
    l: &mut Ledger<'_, '_, V>,
    params: &Params,
    height: u64,
    mut entry: ProofSlot,
    t: Transition,
    s: u64,
) -> Result<(), StoreError> {
    entry.transitions.push(t);
    set_proof_slot(l.overlay(), s, &entry);
    advance(l, params, height)
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
    if params.protocol.proving.is_none() {
        return Ok(Err(LedgerError::ProvingDisabled));
    }
    let s = claim.slot;
    let assigned = assignment::assigned(l.overlay(), s)?.unwrap_or_default();
    let drawn = assigned.provers.iter().any(|(a, _)| *a == who);
    let entry = match open_slot(l, s, claim.chunk, who, drawn)? {
        Ok(e) => e,
        Err(e) => return Ok(Err(e)),
    };
    // A `Proof` belongs to the window; after it (or once a fallback round opened early) the
    // slot is proven through the two-step fallback, the late assigned prover included.
    if height > entry.window_end || entry.round > 0 {
        return Ok(Err(LedgerError::WindowOver(s)));
    }
    // Within the window only the slot's assigned provers may prove it; a slot nobody was
    // drawn for is open to every registered prover.
    if !assigned.provers.is_empty() && !drawn {
        return Ok(Err(LedgerError::NotAssigned(s)));
    }
    if let Some(invalid) = verify_or_fine(l, params, height, who, &entry, &claim, check)? {
        return Ok(Ok(Some(invalid)));
    }
    let t = Transition {
        prover: who,
        chunk: claim.chunk,
        pre_root: claim.pre_root,
        post_root: claim.post_root,
        height,
        stake: U256::ZERO,
    };
    record(l, params, height, entry, t, s)?;
    keep_proof(l, params, who, s, claim.chunk, claim.proof);
    Ok(Ok(None))
}

/// Notes a recorded transition's proof bytes for the node's local proof store, on a chain
/// that aggregates epochs (nobody needs them otherwise).
fn keep_proof<V: StateView>(
    l: &mut Ledger<'_, '_, V>,
    params: &Params,
    prover: Address,
    slot: u64,
    chunk: u32,
    proof: &[u8],
) {
    if params
        .protocol
        .proving
        .as_ref()
        .is_some_and(|p| p.aggregation.is_some())
    {
        l.overlay().notice(Notice::TransitionProof {
            prover,
            slot,
            chunk,
            proof: proof.to_vec(),
        });
    }
}

/// What a fallback prover commits to: `keccak256(proof ‖ prover)`.
pub fn commit_hash(proof: &[u8], prover: Address) -> B256 {
    let mut buf = Vec::with_capacity(proof.len() + 20);
    buf.extend_from_slice(proof);
    buf.extend_from_slice(prover.as_slice());
    keccak256(buf)
}

/// A `CommitProof{slot, chunk, hash}` from `who` at `height` (DESIGN §3.9): during the commit
/// phase of the slot's open fallback round, from a registered prover with at least
/// `min_fallback_stake` and no transition for that chunk yet, once per chunk and round, up to
/// `max_commits` per chunk. Its stake is snapshotted now; it weighs the prover's share.
#[allow(clippy::too_many_arguments)]
pub fn commit_proof<V: StateView>(
    l: &mut Ledger<'_, '_, V>,
    params: &Params,
    height: u64,
    who: Address,
    s: u64,
    chunk: u32,
    hash: B256,
) -> Result<Result<(), LedgerError>, StoreError> {
    let Some(p) = &params.protocol.proving else {
        return Ok(Err(LedgerError::ProvingDisabled));
    };
    let f = &p.fallback;
    let mut entry = match open_slot(l, s, chunk, who, false)? {
        Ok(e) => e,
        Err(e) => return Ok(Err(e)),
    };
    if phase(f, &entry, height) != Phase::Commit {
        return Ok(Err(LedgerError::FallbackPhase {
            slot: s,
            phase: "commit",
            next: None,
        }));
    }
    let stake = l.prover(who)?.map_or(U256::ZERO, |e| e.stake);
    if stake < f.min_fallback_stake {
        return Ok(Err(LedgerError::FallbackStake {
            have: stake,
            need: f.min_fallback_stake,
        }));
    }
    if entry
        .commits
        .iter()
        .any(|c| c.prover == who && c.chunk == chunk)
    {
        return Ok(Err(LedgerError::CommitRefused {
            slot: s,
            why: "it already committed to this chunk in this round",
        }));
    }
    if entry.commits.iter().filter(|c| c.chunk == chunk).count() as u64 >= f.max_commits {
        return Ok(Err(LedgerError::CommitRefused {
            slot: s,
            why: "the round holds max_commits commits for this chunk",
        }));
    }
    entry.commits.push(Commit {
        prover: who,
        chunk,
        hash,
        stake,
        revealed: false,
    });
    set_proof_slot(l.overlay(), s, &entry);
    Ok(Ok(()))
}

/// A `RevealProof` from `who` at `height`: during the reveal phase, the proof whose
/// `keccak256(proof ‖ who)` `who` committed in this round. Verified like a `Proof`; a valid
/// one is recorded as a fallback transition weighted by the committed stake, an invalid one
/// fines `who` (`Ok(Some(_))`). A reveal that does not match its commit is refused, so the
/// commit stays unrevealed and is fined when the round closes.
pub fn reveal_proof<V: StateView>(
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
    let f = &p.fallback;
    let s = claim.slot;
    let mut entry = match open_slot(l, s, claim.chunk, who, false)? {
        Ok(e) => e,
        Err(e) => return Ok(Err(e)),
    };
    if phase(f, &entry, height) != Phase::Reveal {
        let next = (phase(f, &entry, height) == Phase::Commit)
            .then(|| entry.round_end.saturating_sub(f.reveal_proof_window));
        return Ok(Err(LedgerError::FallbackPhase {
            slot: s,
            phase: "reveal",
            next,
        }));
    }
    let refuse = |why| Ok(Err(LedgerError::RevealRefused { slot: s, why }));
    let Some(i) = entry
        .commits
        .iter()
        .position(|c| c.prover == who && c.chunk == claim.chunk)
    else {
        return refuse("the sender has no commit for this chunk in this fallback round");
    };
    if entry.commits[i].revealed {
        return refuse("the sender already revealed in this round");
    }
    if commit_hash(claim.proof, who) != entry.commits[i].hash {
        return refuse("keccak256(proof ‖ sender) is not the committed hash");
    }
    entry.commits[i].revealed = true;
    let stake = entry.commits[i].stake;
    if let Some(invalid) = verify_or_fine(l, params, height, who, &entry, &claim, check)? {
        set_proof_slot(l.overlay(), s, &entry);
        return Ok(Ok(Some(invalid)));
    }
    let t = Transition {
        prover: who,
        chunk: claim.chunk,
        pre_root: claim.pre_root,
        post_root: claim.post_root,
        height,
        stake,
    };
    record(l, params, height, entry, t, s)?;
    keep_proof(l, params, who, s, claim.chunk, claim.proof);
    Ok(Ok(None))
}

/// What proving does at the end of every height (DESIGN §3.9), over the unproven slots in
/// slot order (at most `max_unproven_slots`):
/// 1. a fallback round whose reveal phase ends now closes: commits left unrevealed are fined
///    `invalid_proof_fine` (burned);
/// 2. proving advances through what now chains: a slot proven in the fallback is settled
///    once, with every reveal of the round, and one waiting for its window's end is settled
///    when the window ends;
/// 3. a round opens where one is due ([`FallbackParams`]); a round after the first raises the
///    slot's bounty by `bounty_step`.
pub fn end_block<V: StateView>(
    o: &mut Overlay<'_, V>,
    params: &Params,
    height: u64,
) -> Result<(), StoreError> {
    let Some(p) = &params.protocol.proving else {
        return Ok(());
    };
    let f = &p.fallback;
    let mut l = Ledger::new(o);
    let unproven = |l: &mut Ledger<'_, '_, V>| -> Result<Vec<(u64, ProofSlot)>, StoreError> {
        let Some(c) = chain(l.overlay())? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut s = c.head;
        while s != 0 {
            if out.len() as u64 >= c.unproven {
                return Err(corrupt("proof chain", "more linked slots than unproven"));
            }
            let e = proof_slot(l.overlay(), s)?
                .ok_or_else(|| corrupt("proof slot", format!("unproven slot {s} missing")))?;
            let next = e.next;
            out.push((s, e));
            s = next;
        }
        Ok(out)
    };
    for (s, mut entry) in unproven(&mut l)? {
        if entry.round_end != 0 && height >= entry.round_end {
            for cm in entry.commits.iter().filter(|c| !c.revealed) {
                let amount = burn_fine(&mut l, cm.prover, p.invalid_proof_fine, height)?;
                l.overlay().notice(Notice::CommitFined {
                    prover: cm.prover,
                    slot: s,
                    amount,
                });
            }
            entry.round_end = 0;
            entry.commits.clear();
            set_proof_slot(l.overlay(), s, &entry);
        }
    }
    advance(&mut l, params, height)?;
    let slots = unproven(&mut l)?;
    let head = slots.first().map_or(0, |(s, _)| *s);
    for (s, mut entry) in slots {
        if height == entry.window_end {
            slash_no_shows(&mut l, params, s, &mut entry, height)?;
        }
        if entry.round_end == 0 && round_due(&mut l, &entry, s, s == head, height)? {
            if entry.round > 0 {
                entry.bounty = entry.bounty.saturating_add(f.bounty_step);
            }
            entry.round = entry
                .round
                .checked_add(1)
                .ok_or_else(|| corrupt("proof slot", "fallback round overflows"))?;
            entry.round_end = height
                .saturating_add(f.commit_window)
                .saturating_add(f.reveal_proof_window);
            set_proof_slot(l.overlay(), s, &entry);
        }
    }
    Ok(())
}

/// At the end of an unproven slot's window: each drawn prover that has not sent a `Proof` of
/// every chunk of the slot in the window is penalized now, once for the slot, whether or not the slot is ever proven — `slash_missed`
/// from its stake (`slash_burn_bps` of it burned, the rest to the proving pot) and reputation
/// `× rep_decay` — and recorded in [`ProofSlot::missed`], so that settling the slot does not
/// penalize it again and owes the kept part to the fallback provers. A drawn prover whose
/// in-window transition turns out not to chain is judged when the slot settles.
fn slash_no_shows<V: StateView>(
    l: &mut Ledger<'_, '_, V>,
    params: &Params,
    s: u64,
    entry: &mut ProofSlot,
    height: u64,
) -> Result<(), StoreError> {
    let f = &params
        .protocol
        .proving
        .as_ref()
        .expect("only a chain with proving has proof slots")
        .fallback;
    let drawn = assignment::assigned(l.overlay(), s)?
        .unwrap_or_default()
        .provers;
    let mut burned = U256::ZERO;
    let mut kept = U256::ZERO;
    for (a, _) in drawn {
        let window_end = entry.window_end;
        let showed = every_chunk(entry, |t| {
            t.prover == a && !t.is_fallback() && t.height <= window_end
        });
        if showed || entry.missed.iter().any(|m| m.prover == a) {
            continue;
        }
        let (burn, keep) = penalize_miss(l, f, a, s, height)?;
        burned += burn;
        kept += keep;
        entry.missed.push(Missed {
            prover: a,
            kept: keep,
        });
    }
    if burned.is_zero() && kept.is_zero() && entry.missed.is_empty() {
        return Ok(());
    }
    hold_slash(l, burned, kept)?;
    set_proof_slot(l.overlay(), s, entry);
    Ok(())
}

/// Moves the parts of a miss's slash ([`penalize_miss`]): `burn` to the burned total, `kept`
/// into the proving pot, which owes it to whoever proves (or aggregates) in the miss's place.
pub(crate) fn hold_slash<V: StateView>(
    l: &mut Ledger<'_, '_, V>,
    burn: U256,
    kept: U256,
) -> Result<(), StoreError> {
    let mut pot = l.pot()?;
    pot.proving_pot = pot
        .proving_pot
        .checked_add(kept)
        .ok_or_else(|| corrupt("pot", "proving pot overflows"))?;
    pot.burned = pot
        .burned
        .checked_add(burn)
        .ok_or_else(|| corrupt("pot", "burned total overflows"))?;
    l.set_pot(pot);
    Ok(())
}

/// A drawn prover's miss of slot `s`: `slash_missed` from its stake and its reputation
/// decayed. Returns what was taken split into the part to burn (`slash_burn_bps`) and the
/// part kept for the fallback provers; the caller moves both.
pub(crate) fn penalize_miss<V: StateView>(
    l: &mut Ledger<'_, '_, V>,
    f: &FallbackParams,
    a: Address,
    s: u64,
    height: u64,
) -> Result<(U256, U256), StoreError> {
    let slashed = l.fine_prover(a, f.slash_missed, height)?;
    l.overlay().notice(Notice::ProverSlashed {
        prover: a,
        slot: s,
        amount: slashed,
    });
    reputation(l, a, |r| {
        let decayed = u128::from(r) * u128::from(f.rep_decay) / u128::from(REPUTATION_ONE);
        u64::try_from(decayed).unwrap_or(u64::MAX).max(f.rep_min)
    })?;
    let burn = slashed * U256::from(f.slash_burn_bps) / U256::from(10_000u64);
    Ok((burn, slashed - burn))
}

/// Whether unproven slot `s` (no round open) needs a fallback round at the end of `height`:
/// its window is over and some chunk has no transition, or it is the oldest unproven slot (so
/// its transitions do not chain through every chunk) and either its window is over or every
/// assigned prover has used its one transition of every chunk.
fn round_due<V: StateView>(
    l: &mut Ledger<'_, '_, V>,
    entry: &ProofSlot,
    s: u64,
    is_head: bool,
    height: u64,
) -> Result<bool, StoreError> {
    let over = height >= entry.window_end;
    if over && (!every_chunk(entry, |_| true) || is_head) {
        return Ok(true);
    }
    if !is_head || entry.transitions.is_empty() {
        return Ok(false);
    }
    let provers = assignment::assigned(l.overlay(), s)?
        .unwrap_or_default()
        .provers;
    Ok(!provers.is_empty()
        && provers
            .iter()
            .all(|(a, _)| every_chunk(entry, |t| t.prover == *a)))
}

/// Whether every chunk of `entry` has a transition `ok` accepts.
fn every_chunk(entry: &ProofSlot, mut ok: impl FnMut(&Transition) -> bool) -> bool {
    (0..entry.chunks).all(|c| entry.transitions.iter().any(|t| t.chunk == c && ok(t)))
}

/// The transitions of `entry` that chain from `root`: one of chunk 0 starting at `root`, then
/// one of chunk 1 starting where it ended, and so on, as far as they go. The slot is proven
/// when this reaches its last chunk. (Two valid proofs of a chunk from the same root end at
/// the same root, so the first found is as good as any.)
pub fn chained(entry: &ProofSlot, root: B256) -> Vec<Transition> {
    let mut out = Vec::with_capacity(entry.chunks as usize);
    let mut at = root;
    for c in 0..entry.chunks {
        let Some(t) = entry
            .transitions
            .iter()
            .find(|t| t.chunk == c && t.pre_root == at)
        else {
            break;
        };
        at = t.post_root;
        out.push(*t);
    }
    out
}

/// Proves slots from the oldest unproven one on while its transitions chain through every
/// chunk from the proven root ([`chained`]), settling each at `height`. A slot whose fallback
/// round is open waits for the round to close ([`end_block`]), so that every reveal of the
/// round shares its reward; a slot some drawn prover has not sent every chunk for yet waits
/// for its window's end.
pub fn advance<V: StateView>(
    l: &mut Ledger<'_, '_, V>,
    params: &Params,
    height: u64,
) -> Result<(), StoreError> {
    let Some(mut c) = chain(l.overlay())? else {
        return Ok(());
    };
    while c.head != 0 {
        let s = c.head;
        let mut entry = proof_slot(l.overlay(), s)?
            .ok_or_else(|| corrupt("proof slot", format!("head {s} missing")))?;
        if entry.round_end != 0 {
            break;
        }
        // With several drawn provers, a slot waits for the window's end unless every one of
        // them has a transition: each is judged on time or missed only then.
        if height < entry.window_end {
            let drawn = assignment::assigned(l.overlay(), s)?
                .unwrap_or_default()
                .provers;
            if !drawn
                .iter()
                .all(|(a, _)| every_chunk(&entry, |t| t.prover == *a))
            {
                break;
            }
        }
        let chain = chained(&entry, c.proven_root);
        let Some(last) = chain.last().copied() else {
            break;
        };
        if chain.len() != entry.chunks as usize {
            break;
        }
        entry.proven = true;
        set_proof_slot(l.overlay(), s, &entry);
        settle(l, params, s, &entry, &chain, height)?;
        crate::chain::aggregation::on_proven(
            l.overlay(),
            params,
            s,
            entry.block_number,
            entry.commitment,
            &chain,
        )?;
        c.proven_slot = s;
        c.proven_root = last.post_root;
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

/// Pays a proven slot at `height` (DESIGN §3 "Money", §3.9), proven by `chain` (one
/// transition per chunk, in chunk order).
///
/// The bid and the fee share are cut into k shares (k drawn provers; one share when nobody
/// was drawn, owed to the prover whose in-window transition chained), and each share into one
/// part per chunk (ADR 0016). Each drawn prover gets the part of every chunk for which its
/// own in-window `Proof` matches the chaining transition, and `rep_up` for each. One that
/// missed any chunk is penalized once for the slot, even if another proved: `slash_missed`
/// from its stake (`slash_burn_bps` of it burned) and reputation `× rep_decay` (not below
/// `rep_min`). The parts it missed go to the fallback provers whose reveals of that chunk
/// match the chaining transition, pro rata by their committed stake, together with the kept
/// slash and the bounty in equal parts per chunk that has such provers (they gain `rep_up`
/// too). Whatever nobody
/// earned (and the rounding of the cuts) stays in the proving pot; the fee share and the
/// bounty are paid from the pot and never exceed it. Commits left unrevealed were fined when
/// their round closed.
fn settle<V: StateView>(
    l: &mut Ledger<'_, '_, V>,
    params: &Params,
    s: u64,
    entry: &ProofSlot,
    chain: &[Transition],
    height: u64,
) -> Result<(), StoreError> {
    let p = params
        .protocol
        .proving
        .as_ref()
        .expect("only a chain with proving has proof slots");
    let f = &p.fallback;
    let drawn: Vec<Address> = assignment::assigned(l.overlay(), s)?
        .unwrap_or_default()
        .provers
        .iter()
        .map(|(a, _)| *a)
        .collect();
    let mut slot_entry = auction::slot(l.overlay(), s)?;
    let bid = match &slot_entry {
        Some(e) if e.state == SlotState::Executed => e.winner().map_or(U256::ZERO, |w| w.amount),
        _ => U256::ZERO,
    };
    let pot_before = l.pot()?;
    let fees = entry.fee_share.min(pot_before.proving_pot);
    let bounty = bounty_at(f, entry, height).min(pot_before.proving_pot - fees);
    let matches = |t: &Transition| {
        chain.get(t.chunk as usize).is_some_and(|c| {
            t.chunk == c.chunk && t.pre_root == c.pre_root && t.post_root == c.post_root
        })
    };
    let on_time = |a: Address, chunk: u32| {
        entry.transitions.iter().any(|t| {
            t.prover == a
                && t.chunk == chunk
                && !t.is_fallback()
                && matches(t)
                && t.height <= entry.window_end
        })
    };
    // Who is owed a share: the drawn provers, or, for a slot nobody was drawn for, the
    // prover of the chaining transition of each chunk when it came within the window.
    let n = U256::from(chain.len());
    let owed: Vec<Option<Address>> = if drawn.is_empty() {
        vec![None]
    } else {
        drawn.iter().copied().map(Some).collect()
    };
    let k = U256::from(owed.len());
    let part = (bid / k + fees / k) / n;
    let mut credited = U256::ZERO;
    let mut pools = vec![U256::ZERO; chain.len()];
    // The chunks some owed prover did not prove on time: only their fallback provers proved
    // in someone's place.
    let mut needed = vec![false; chain.len()];
    let mut kept_slash = U256::ZERO;
    let mut burned = U256::ZERO;
    // Slashes taken when the window ended: the pot holds their kept part already, and pays
    // it out below as far as it can after the fee share and the bounty.
    let held: U256 = entry.missed.iter().map(|m| m.kept).sum();
    let held = held.min(pot_before.proving_pot - fees - bounty);
    for a in &owed {
        let mut missed_any = false;
        for (i, c) in chain.iter().enumerate() {
            let who = a.unwrap_or(c.prover);
            if on_time(who, c.chunk) {
                l.pay(who, part)?;
                credited += part;
                reputation(l, who, |r| r.saturating_add(p.rep_up).min(REPUTATION_ONE))?;
            } else {
                pools[i] += part;
                needed[i] = true;
                missed_any = true;
            }
        }
        if let Some(a) = a
            && missed_any
            && !entry.missed.iter().any(|m| m.prover == *a)
        {
            let (burn, keep) = penalize_miss(l, f, *a, s, height)?;
            burned += burn;
            kept_slash += keep;
        }
    }
    // Per chunk that an owed prover missed, the fallback provers whose reveals match the
    // chaining transition share the chunk's pool by committed stake; the kept slash and the
    // bounty go in equal parts to the missed chunks that have such provers (they proved in
    // the missing prover's place). A reveal of a chunk proven on time earns nothing. Without
    // any, the pools and the slash stay in the pot and the bounty is not paid.
    let mut rounds = Vec::with_capacity(chain.len());
    for (i, c) in chain.iter().enumerate() {
        if !needed[i] {
            rounds.push((Vec::new(), U256::ZERO));
            continue;
        }
        let fallback: Vec<Transition> = entry
            .transitions
            .iter()
            .filter(|t| t.chunk == c.chunk && t.is_fallback() && matches(t))
            .copied()
            .collect();
        let weight = fallback
            .iter()
            .try_fold(U256::ZERO, |acc, t| acc.checked_add(t.stake))
            .ok_or_else(|| corrupt("proof slot", "fallback stakes overflow"))?;
        rounds.push((fallback, weight));
    }
    let helped = rounds.iter().filter(|(_, w)| !w.is_zero()).count();
    let extra = if helped == 0 {
        U256::ZERO
    } else {
        (kept_slash + held + bounty) / U256::from(helped)
    };
    for (i, (fallback, weight)) in rounds.iter().enumerate() {
        if weight.is_zero() {
            continue;
        }
        let total = pools[i] + extra;
        for t in fallback {
            let share = total
                .checked_mul(t.stake)
                .map(|x| x / *weight)
                .ok_or_else(|| corrupt("proof slot", "fallback share overflows"))?;
            l.pay(t.prover, share)?;
            credited += share;
            reputation(l, t.prover, |r| {
                r.saturating_add(p.rep_up).min(REPUTATION_ONE)
            })?;
        }
    }
    // The pot receives the bid and the kept slash and pays every credit above (the fee share,
    // the bounty and the slashes it held since the window's end were capped by what it held).
    let mut pot = l.pot()?;
    pot.proving_pot = pot
        .proving_pot
        .checked_add(bid)
        .and_then(|x| x.checked_add(kept_slash))
        .and_then(|x| x.checked_sub(credited))
        .ok_or_else(|| corrupt("pot", "proving pot out of range when settling a slot"))?;
    pot.burned = pot
        .burned
        .checked_add(burned)
        .ok_or_else(|| corrupt("pot", "burned total overflows"))?;
    l.set_pot(pot);
    if let Some(e) = slot_entry.as_mut()
        && e.state == SlotState::Executed
    {
        e.state = SlotState::Settled;
        auction::set_slot(l.overlay(), s, e);
    }
    Ok(())
}

/// Sets a registered prover's reputation to `f(reputation)`; a prover that left has none.
fn reputation<V: StateView>(
    l: &mut Ledger<'_, '_, V>,
    a: Address,
    f: impl FnOnce(u64) -> u64,
) -> Result<(), StoreError> {
    if let Some(mut e) = l.prover(a)? {
        e.reputation = f(e.reputation);
        l.overlay().put_app(StateKey::Prover(a), Some(e.encode()));
    }
    Ok(())
}
