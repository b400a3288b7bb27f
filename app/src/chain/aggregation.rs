//! Epoch aggregation in consensus (DESIGN §3.14, §4 "Aggregation"; ADR 0015 part 2).
//!
//! - [`on_executed`], [`on_proven`]: as slots execute and are proven, their epoch's record
//!   collects the base fees they put in the pot, counts the block proofs (chunks, ADR 0016)
//!   its slots need (at most `agg_capacity`: [`diff_room`] shrinks a block's diff to the
//!   chunks left, and [`epoch_full`] holds the rest of a full epoch's slots empty) and, in
//!   (slot, chunk) order, each proven chunk with the transition that proved it.
//! - [`end_block`]: an epoch closes at the end of the first height at or after its last slot
//!   at which none of its slots awaits a proof. With blocks, an aggregator is drawn like a
//!   prover (own draw domain) and owes an `Aggregate` within `agg_window` heights; without
//!   any, nothing is due. At the window's end a drawn aggregator without one is slashed
//!   `slash_missed` (its reputation decays) and the epoch opens to every prover with
//!   `min_fallback_stake`.
//! - [`apply_aggregate`]: an `Aggregate{epoch, proof}` is verified against the statement the
//!   chain computes — the epoch's first `pre_root`, last `post_root`, and `epoch_commitment`
//!   over its blocks' public inputs with the **sender's address** — so a copied aggregate
//!   fails for its copier and fines it. A valid one records the commitment (what the bridge
//!   attests) and pays its sender `agg_share_bps` of the epoch's base fees, plus the kept part
//!   of a missed aggregator's slash, from the pot.

use alloy_primitives::{Address, B256, U256, keccak256};
use parley_types::{
    Epoch, EpochBlock, EpochCursor, EpochState, Missed, REPUTATION_ONE, StateKey, Transition,
};

use crate::chain::assignment;
use crate::chain::genesis::{AggregationParams, Params, ProvingParams};
use crate::chain::ledger::{Ledger, LedgerError};
use crate::chain::overlay::{Notice, Overlay};
use crate::chain::proving::{self, ProofCheck};
use crate::chain::seed;
use crate::chain::view::{StateView, StoreError};

/// Domain of the aggregator draw (never the same pick as a slot's).
const EPOCH_DRAW_DOMAIN: &[u8] = b"parley/draw-epoch/v1";

/// Epochs looked at per height at most (closing and window ends), so a long stall costs a
/// bounded amount of work per block.
const EPOCHS_PER_HEIGHT: u64 = 64;

/// What an epoch proof is checked against: all of it comes from the chain.
#[derive(Debug, Clone, Copy)]
pub struct EpochStatement<'a> {
    /// L2 chain id (in every block's `pi_hash`).
    pub chain_id: u64,
    /// The aggregation circuit's capacity (`agg_capacity`).
    pub capacity: u64,
    /// The submitter, bound in `epoch_commitment`.
    pub aggregator: Address,
    /// The epoch's proven blocks, in slot order (at least one).
    pub blocks: &'a [EpochBlock],
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn agg_params(params: &Params) -> Option<(&ProvingParams, &AggregationParams)> {
    let p = params.protocol.proving.as_ref()?;
    Some((p, p.aggregation.as_ref()?))
}

/// The epoch of `slot` (slots count from 1).
pub fn epoch_of(a: &AggregationParams, slot: u64) -> u64 {
    slot.saturating_sub(1) / a.epoch_slots
}

/// The last slot of epoch `e`.
pub fn last_slot(a: &AggregationParams, e: u64) -> u64 {
    e.saturating_add(1).saturating_mul(a.epoch_slots)
}

/// Epoch `e`'s record, once any of its slots executed with a non-empty diff or it closed.
pub fn epoch<V: StateView>(o: &mut Overlay<'_, V>, e: u64) -> Result<Option<Epoch>, StoreError> {
    o.app(&StateKey::Epoch(e))?
        .map(|b| Epoch::decode(&b).map_err(|x| corrupt("epoch", x)))
        .transpose()
}

fn set_epoch<V: StateView>(o: &mut Overlay<'_, V>, e: u64, v: &Epoch) {
    o.put_app(StateKey::Epoch(e), Some(v.encode()));
}

/// How far epochs have come (all zero before the first one closes).
pub fn cursor<V: StateView>(o: &mut Overlay<'_, V>) -> Result<EpochCursor, StoreError> {
    Ok(o.app(&StateKey::EpochCursor)?
        .map(|b| EpochCursor::decode(&b).map_err(|x| corrupt("epoch cursor", x)))
        .transpose()?
        .unwrap_or_default())
}

/// Slot `slot` executed with a non-empty diff of `chunks` chunks and put `to_pot` of base
/// fees in the pot: each chunk counts against its epoch's `agg_capacity`.
pub fn on_executed<V: StateView>(
    o: &mut Overlay<'_, V>,
    params: &Params,
    slot: u64,
    chunks: u64,
    to_pot: U256,
) -> Result<(), StoreError> {
    let Some((_, a)) = agg_params(params) else {
        return Ok(());
    };
    let e = epoch_of(a, slot);
    let mut v = epoch(o, e)?.unwrap_or_default();
    v.fees = v.fees.saturating_add(to_pot);
    v.needing = v.needing.saturating_add(chunks);
    if v.needing > a.agg_capacity {
        // Execution holds a full epoch's slots (see [`epoch_full`]); more would make an
        // epoch no aggregate can hold.
        return Err(corrupt(
            "epoch",
            format!("slot {slot} needs a proof in epoch {e}, which is already full"),
        ));
    }
    set_epoch(o, e, &v);
    Ok(())
}

/// The entries slot `slot`'s L2 block may write (its diff room): `max_diff_entries`, and on a
/// chain that aggregates at most what the chunks its epoch has left hold, `(agg_capacity −
/// needing) · block_capacity` (ADR 0016), so that no epoch needs more proofs than one aggregate
/// takes.
pub fn diff_room<V: StateView>(
    o: &mut Overlay<'_, V>,
    params: &Params,
    slot: u64,
) -> Result<u64, StoreError> {
    let max = params.protocol.max_diff_entries;
    let Some((p, a)) = agg_params(params) else {
        return Ok(max);
    };
    let needing = epoch(o, epoch_of(a, slot))?.map_or(0, |v| v.needing);
    let left = a.agg_capacity.saturating_sub(needing);
    Ok(max.min(left.saturating_mul(p.block_capacity)))
}

/// The most entries any block's diff may hold: `max_diff_entries`, and on a chain that
/// aggregates at most what a whole epoch's chunks hold (`agg_capacity · block_capacity`). A
/// transaction whose effects alone exceed it fits no block.
pub fn max_room(params: &Params) -> u64 {
    let max = params.protocol.max_diff_entries;
    match agg_params(params) {
        Some((p, a)) => max.min(a.agg_capacity.saturating_mul(p.block_capacity)),
        None => max,
    }
}

/// Whether slot `slot`'s epoch already holds `agg_capacity` chunks that need a proof: then the
/// slot must not change EVM state (its L2 block executes no transactions, `Fund`/`Withdraw`
/// are refused), so that every epoch fits one aggregate.
pub fn epoch_full<V: StateView>(
    o: &mut Overlay<'_, V>,
    params: &Params,
    slot: u64,
) -> Result<bool, StoreError> {
    let Some((_, a)) = agg_params(params) else {
        return Ok(false);
    };
    Ok(epoch(o, epoch_of(a, slot))?.is_some_and(|v| v.needing >= a.agg_capacity))
}

/// Slot `slot` (L2 block `block_number`, block commitment `commitment`) was proven by the
/// transitions `chained`, one per chunk in chunk order: they join its epoch's blocks (slots
/// are proven in slot order).
pub fn on_proven<V: StateView>(
    o: &mut Overlay<'_, V>,
    params: &Params,
    slot: u64,
    block_number: u64,
    commitment: B256,
    chained: &[Transition],
) -> Result<(), StoreError> {
    let Some((_, a)) = agg_params(params) else {
        return Ok(());
    };
    let e = epoch_of(a, slot);
    let mut v = epoch(o, e)?.unwrap_or_default();
    if v.state != EpochState::Collecting {
        return Err(corrupt(
            "epoch",
            format!("slot {slot} proven after its epoch {e} closed"),
        ));
    }
    let chunks = u32::try_from(chained.len())
        .map_err(|_| corrupt("epoch", format!("slot {slot}: chunk count overflows u32")))?;
    for t in chained {
        v.blocks.push(EpochBlock {
            slot,
            chunk: t.chunk,
            chunks,
            block_number,
            commitment,
            prover: t.prover,
            pre_root: t.pre_root,
            post_root: t.post_root,
        });
    }
    set_epoch(o, e, &v);
    Ok(())
}

/// The aggregator of epoch `e`: one pick from the active provers, weighted like a slot's.
fn draw_aggregator<V: StateView>(
    o: &mut Overlay<'_, V>,
    params: &Params,
    e: u64,
    height: u64,
) -> Result<Option<(Address, U256)>, StoreError> {
    let s = seed::current(o)?;
    let mut domained = Vec::with_capacity(EPOCH_DRAW_DOMAIN.len() + 32);
    domained.extend_from_slice(EPOCH_DRAW_DOMAIN);
    domained.extend_from_slice(s.as_slice());
    let picked = assignment::draw(
        keccak256(domained),
        e,
        &assignment::active_provers(o, params, height)?,
        1,
    );
    Ok(picked.first().map(|c| (c.address, c.stake)))
}

/// What epoch aggregation does at the end of every height, after proving: closes the epochs
/// that are complete and proven (drawing their aggregators), slashes a drawn aggregator whose
/// window ends now without its aggregate, and moves the cursor past settled epochs.
pub fn end_block<V: StateView>(
    o: &mut Overlay<'_, V>,
    params: &Params,
    height: u64,
) -> Result<(), StoreError> {
    let Some((p, a)) = agg_params(params) else {
        return Ok(());
    };
    let before = cursor(o)?;
    let mut c = before;
    // The oldest slot still awaiting a proof (0: none): an epoch ending before it is proven.
    let head = proving::chain(o)?.map_or(0, |x| x.head);
    for _ in 0..EPOCHS_PER_HEIGHT {
        let e = c.next_to_close;
        let last = last_slot(a, e);
        if height < last || (head != 0 && head <= last) {
            break;
        }
        let mut v = epoch(o, e)?.unwrap_or_default();
        v.closed_at = height;
        if v.blocks.is_empty() {
            v.state = EpochState::Empty;
        } else {
            v.state = EpochState::Due;
            v.aggregator = draw_aggregator(o, params, e, height)?;
            v.window_end = height.saturating_add(a.agg_window);
        }
        set_epoch(o, e, &v);
        c.next_to_close = e.saturating_add(1);
    }
    let mut l = Ledger::new(o);
    let mut e = c.oldest_due;
    let end = c
        .next_to_close
        .min(c.oldest_due.saturating_add(EPOCHS_PER_HEIGHT));
    while e < end {
        let mut v = epoch(l.overlay(), e)?
            .ok_or_else(|| corrupt("epoch", format!("closed epoch {e} missing")))?;
        if v.state == EpochState::Due
            && height == v.window_end
            && v.missed.is_none()
            && let Some((who, _)) = v.aggregator
        {
            let (burn, kept) = proving::penalize_miss(&mut l, &p.fallback, who, e, height)?;
            proving::hold_slash(&mut l, burn, kept)?;
            v.missed = Some(Missed { prover: who, kept });
            set_epoch(l.overlay(), e, &v);
        }
        if c.oldest_due == e && v.state != EpochState::Due {
            c.oldest_due = e.saturating_add(1);
        }
        e += 1;
    }
    if c != before {
        l.overlay().put_app(StateKey::EpochCursor, Some(c.encode()));
    }
    if c.oldest_due != before.oldest_due {
        l.overlay().notice(Notice::EpochsSettled {
            first_slot: c.oldest_due.saturating_mul(a.epoch_slots).saturating_add(1),
        });
    }
    Ok(())
}

/// An `Aggregate{epoch, proof}` from `who` at `height`. `Err`: refused, nothing changed.
/// `Ok(Some(e))`: it does not verify and `who` was fined `invalid_proof_fine` (burned).
/// `Ok(None)`: the epoch is aggregated and `who` paid.
///
/// Within the window only the drawn aggregator may send it; after the window (or when nobody
/// was drawn) any registered prover with `min_fallback_stake`. `check: None` (block building,
/// admission) takes the proof as valid and records a zero commitment.
pub fn apply_aggregate<V: StateView>(
    l: &mut Ledger<'_, '_, V>,
    params: &Params,
    height: u64,
    who: Address,
    e: u64,
    proof: &[u8],
    check: Option<&dyn ProofCheck>,
) -> Result<Result<Option<LedgerError>, LedgerError>, StoreError> {
    let Some((p, a)) = agg_params(params) else {
        return Ok(Err(LedgerError::AggregationDisabled));
    };
    let prover = l.prover(who)?;
    let Some(mut v) = epoch(l.overlay(), e)? else {
        return Ok(Err(LedgerError::EpochNotDue(e)));
    };
    match v.state {
        EpochState::Due => {}
        EpochState::Aggregated => return Ok(Err(LedgerError::AlreadyAggregated(e))),
        EpochState::Collecting | EpochState::Empty => {
            return Ok(Err(LedgerError::EpochNotDue(e)));
        }
    }
    match v.aggregator {
        // The drawn aggregator may aggregate within its window even after it unbonded: its
        // stake stays slashable for the window, so it must be able to meet it.
        Some((drawn, _)) if height <= v.window_end => {
            if drawn != who {
                return Ok(Err(LedgerError::NotAggregator(e)));
            }
        }
        _ => {
            let Some(prover) = prover else {
                return Ok(Err(LedgerError::NotRegistered("prover")));
            };
            if prover.stake < p.fallback.min_fallback_stake {
                return Ok(Err(LedgerError::FallbackStake {
                    have: prover.stake,
                    need: p.fallback.min_fallback_stake,
                }));
            }
        }
    }
    let commitment = match check {
        None => B256::ZERO,
        Some(check) => {
            let st = EpochStatement {
                chain_id: params.chain_id,
                capacity: a.agg_capacity,
                aggregator: who,
                blocks: &v.blocks,
            };
            match check.verify_epoch(&st, proof)? {
                Ok(c) => c,
                Err(reason) => {
                    let fined = proving::burn_fine(l, who, p.invalid_proof_fine, height)?;
                    return Ok(Ok(Some(LedgerError::InvalidAggregate {
                        epoch: e,
                        fined,
                        reason,
                    })));
                }
            }
        }
    };
    // Pay: the share of the epoch's base fees, and a missed aggregator's kept slash unless
    // the late sender is that aggregator itself; never more than the pot holds.
    let share = v.fees.saturating_mul(U256::from(a.agg_share_bps)) / U256::from(10_000u64);
    let held = v
        .missed
        .filter(|m| m.prover != who)
        .map_or(U256::ZERO, |m| m.kept);
    let mut pot = l.pot()?;
    let paid = share.saturating_add(held).min(pot.proving_pot);
    pot.proving_pot -= paid;
    l.set_pot(pot);
    l.pay(who, paid)?;
    if let Some(mut entry) = l.prover(who)? {
        entry.reputation = entry
            .reputation
            .saturating_add(p.rep_up)
            .min(REPUTATION_ONE);
        l.overlay()
            .put_app(StateKey::Prover(who), Some(entry.encode()));
    }
    v.state = EpochState::Aggregated;
    v.aggregated_by = who;
    v.commitment = commitment;
    v.aggregated_at = height;
    set_epoch(l.overlay(), e, &v);
    Ok(Ok(None))
}

/// The statement of an epoch's L1 proof, as the chain recorded it when the epoch aggregated:
/// the public instances after the accumulator, in the verifier's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct L1Statement {
    /// `pre_root` of the epoch's first proven block.
    pub first_pre_root: B256,
    /// `post_root` of its last.
    pub last_post_root: B256,
    /// The accepted aggregate's `epoch_commitment`.
    pub epoch_commitment: B256,
}

/// The statement of aggregated epoch `v`'s L1 proof.
pub fn l1_statement(e: u64, v: &Epoch) -> Result<L1Statement, StoreError> {
    match (v.blocks.first(), v.blocks.last()) {
        (Some(first), Some(last)) => Ok(L1Statement {
            first_pre_root: first.pre_root,
            last_post_root: last.post_root,
            epoch_commitment: v.commitment,
        }),
        _ => Err(corrupt(
            "epoch",
            format!("aggregated epoch {e} has no blocks"),
        )),
    }
}

/// The verified L1 proof the chain holds for epoch `e`, if any.
pub fn l1_proof<V: StateView>(
    o: &mut Overlay<'_, V>,
    e: u64,
) -> Result<Option<Vec<u8>>, StoreError> {
    o.app(&StateKey::L1Proof(e))
}

/// An `EpochProof{epoch, proof}` from `who` at `height`: the proof L1 verifies for an
/// aggregated epoch (the compression layer). `Err`: refused, nothing changed. `Ok(Some(e))`:
/// it does not verify and `who` was fined `invalid_proof_fine` (burned). `Ok(None)`: the chain
/// keeps it for the relayers (`parley_getEpochProof`).
///
/// Any registered prover may send it: it is a deterministic function of the accepted
/// aggregate, so there is nothing to draw or pay; the first that verifies is kept.
/// `check: None` (block building, admission) takes the proof as valid.
pub fn apply_epoch_proof<V: StateView>(
    l: &mut Ledger<'_, '_, V>,
    params: &Params,
    height: u64,
    who: Address,
    e: u64,
    proof: &[u8],
    check: Option<&dyn ProofCheck>,
) -> Result<Result<Option<LedgerError>, LedgerError>, StoreError> {
    let Some((p, a)) = agg_params(params) else {
        return Ok(Err(LedgerError::L1ProofDisabled));
    };
    if a.l1_proof.is_none() {
        return Ok(Err(LedgerError::L1ProofDisabled));
    }
    if l.prover(who)?.is_none() {
        return Ok(Err(LedgerError::NotRegistered("prover")));
    }
    let v = match epoch(l.overlay(), e)? {
        Some(v) if v.state == EpochState::Aggregated => v,
        _ => return Ok(Err(LedgerError::L1ProofNotDue(e))),
    };
    if l1_proof(l.overlay(), e)?.is_some() {
        return Ok(Err(LedgerError::L1ProofHeld(e)));
    }
    if let Some(check) = check {
        let st = l1_statement(e, &v)?;
        if let Err(reason) = check.verify_l1(&st, proof)? {
            let fined = proving::burn_fine(l, who, p.invalid_proof_fine, height)?;
            return Ok(Ok(Some(LedgerError::InvalidL1Proof {
                epoch: e,
                fined,
                reason,
            })));
        }
    }
    l.overlay()
        .put_app(StateKey::L1Proof(e), Some(proof.to_vec()));
    Ok(Ok(None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::genesis::{FallbackParams, ProtocolParams, SrsPin};
    use crate::chain::view::AppOnly;
    use parley_types::{Pot, ProofChain, ProverEntry};

    const ME: Address = Address::repeat_byte(0x11);
    const OTHER: Address = Address::repeat_byte(0x22);
    const POOR: Address = Address::repeat_byte(0x33);
    const WINDOW: u64 = 6;
    const SLASH: u64 = 1_000;
    const FINE: u64 = 100;

    fn params() -> Params {
        Params {
            protocol: ProtocolParams {
                heartbeat_grace: 1_000_000,
                proving: Some(ProvingParams {
                    block_capacity: 8,
                    max_chunks: 1,
                    block_vk_hash: B256::ZERO,
                    proof_index_bits: 32,
                    srs: SrsPin::Dev,
                    proof_window: 6,
                    prover_fee_share_bps: 0,
                    invalid_proof_fine: U256::from(FINE),
                    rep_up: 10_000,
                    max_unproven_slots: 8,
                    fallback: FallbackParams {
                        min_fallback_stake: U256::from(500),
                        slash_missed: U256::from(SLASH),
                        slash_burn_bps: 5_000,
                        ..FallbackParams::default()
                    },
                    aggregation: Some(AggregationParams {
                        epoch_slots: 4,
                        agg_capacity: 3,
                        agg_k: 20,
                        agg_vk_hash: B256::ZERO,
                        agg_window: WINDOW,
                        agg_share_bps: 5_000,
                        l1_proof: None,
                        tree: None,
                    }),
                }),
                ..ProtocolParams::default()
            },
            ..Params::default()
        }
    }

    /// The proofs a test accepts: `keccak256(aggregator ‖ slots)` for exactly that
    /// aggregator, so a proof is bound to its sender as the real circuit binds it.
    #[derive(Debug)]
    struct Fake;

    fn proof_for(who: Address, blocks: &[EpochBlock]) -> Vec<u8> {
        let mut b = who.to_vec();
        for x in blocks {
            b.extend_from_slice(&x.slot.to_be_bytes());
        }
        keccak256(b).to_vec()
    }

    impl ProofCheck for Fake {
        fn diff_hashes(&self, _: u64) -> Result<Vec<B256>, StoreError> {
            Ok(vec![B256::ZERO])
        }
        fn verify(
            &self,
            _: &proving::Statement,
            _: &[u8],
        ) -> Result<Result<(), String>, StoreError> {
            Ok(Err("no block proofs here".into()))
        }
        fn verify_epoch(
            &self,
            st: &EpochStatement<'_>,
            proof: &[u8],
        ) -> Result<Result<B256, String>, StoreError> {
            Ok(if proof == proof_for(st.aggregator, st.blocks) {
                Ok(keccak256(proof))
            } else {
                Err("not this sender's epoch proof".into())
            })
        }
        fn verify_l1(
            &self,
            st: &L1Statement,
            proof: &[u8],
        ) -> Result<Result<(), String>, StoreError> {
            Ok(if proof == l1_proof_for(st) {
                Ok(())
            } else {
                Err("not this statement's L1 proof".into())
            })
        }
    }

    /// The L1 proofs a test accepts: `keccak256(statement)`, so a proof of one epoch's
    /// statement fails for any other.
    fn l1_proof_for(st: &L1Statement) -> Vec<u8> {
        let mut b = st.first_pre_root.to_vec();
        b.extend_from_slice(st.last_post_root.as_slice());
        b.extend_from_slice(st.epoch_commitment.as_slice());
        keccak256(b).to_vec()
    }

    fn block(slot: u64, pre: u8, post: u8) -> EpochBlock {
        EpochBlock {
            slot,
            chunk: 0,
            chunks: 1,
            block_number: slot,
            commitment: B256::repeat_byte(slot as u8),
            prover: OTHER,
            pre_root: B256::repeat_byte(pre),
            post_root: B256::repeat_byte(post),
        }
    }

    /// Provers ME (stake 10,000, so nearly always drawn), OTHER (1,000) and POOR (100, below
    /// the fallback stake); every slot proven; a pot of 10,000; epoch 0 (slots 1..=4) holds
    /// slots 2 and 3 with 2,000 wei of base fees.
    fn state() -> AppOnly {
        let mut v = AppOnly::default();
        for (a, stake) in [(ME, 10_000u64), (OTHER, 1_000), (POOR, 100)] {
            v.0.insert(
                StateKey::Prover(a),
                ProverEntry {
                    stake: U256::from(stake),
                    reputation: 500_000,
                    last_heartbeat: 0,
                }
                .encode(),
            );
        }
        v.0.insert(
            StateKey::Pot,
            Pot {
                proving_pot: U256::from(10_000),
                burned: U256::ZERO,
            }
            .encode(),
        );
        v.0.insert(StateKey::ProofChain, ProofChain::default().encode());
        v.0.insert(
            StateKey::Epoch(0),
            Epoch {
                fees: U256::from(2_000),
                blocks: vec![block(2, 1, 2), block(3, 2, 3)],
                ..Epoch::default()
            }
            .encode(),
        );
        v
    }

    /// Runs `f` on an overlay of `v` and commits what it wrote back into `v`.
    fn with<T>(
        v: &mut AppOnly,
        f: impl FnOnce(&mut Overlay<'_, AppOnly>) -> Result<T, StoreError>,
    ) -> T {
        let base = v.clone();
        let mut o = Overlay::new(&base);
        let out = f(&mut o).expect("no store error");
        for (k, val) in o.app_writes() {
            match val {
                Some(b) => v.0.insert(k, b),
                None => v.0.remove(&k),
            };
        }
        out
    }

    fn read_epoch(v: &mut AppOnly, e: u64) -> Epoch {
        with(v, |o| epoch(o, e)).expect("epoch recorded")
    }

    fn send(
        v: &mut AppOnly,
        who: Address,
        e: u64,
        proof: &[u8],
        height: u64,
    ) -> Result<Option<LedgerError>, LedgerError> {
        with(v, |o| {
            let mut l = Ledger::new(o);
            apply_aggregate(&mut l, &params(), height, who, e, proof, Some(&Fake))
        })
    }

    fn stake(v: &mut AppOnly, who: Address) -> U256 {
        with(v, |o| Ledger::new(o).prover(who)).map_or(U256::ZERO, |p| p.stake)
    }

    fn balance(v: &mut AppOnly, who: Address) -> U256 {
        with(v, |o| Ledger::new(o).account(who)).balance
    }

    fn pot(v: &mut AppOnly) -> Pot {
        with(v, |o| Ledger::new(o).pot())
    }

    fn end(v: &mut AppOnly, height: u64) {
        with(v, |o| end_block(o, &params(), height));
    }

    /// The node keeps block proofs for aggregators until their epoch settles: the block
    /// that moves the oldest due epoch past an aggregated (or empty) one says from which slot
    /// on they are still needed; one that moves nothing says nothing.
    #[test]
    fn a_settled_epoch_releases_its_slots_proofs() {
        let mut v = state();
        let settled = |v: &mut AppOnly, height| -> Vec<Notice> {
            with(v, |o| {
                end_block(o, &params(), height)?;
                Ok(o.noted().to_vec())
            })
        };
        assert!(
            settled(&mut v, 5).is_empty(),
            "closing epoch 0 settles nothing"
        );
        let e = read_epoch(&mut v, 0);
        let (drawn, _) = e.aggregator.expect("drawn");
        assert_eq!(
            send(&mut v, drawn, 0, &proof_for(drawn, &e.blocks), 6),
            Ok(None)
        );
        assert_eq!(
            settled(&mut v, 7),
            vec![Notice::EpochsSettled { first_slot: 5 }]
        );
        // Epoch 1 (slots 5 to 8) closes empty at 8, which settles it at once; nothing at 9.
        assert_eq!(
            settled(&mut v, 8),
            vec![Notice::EpochsSettled { first_slot: 9 }]
        );
        assert!(settled(&mut v, 9).is_empty());
    }

    #[test]
    fn an_epoch_closes_once_complete_and_proven_and_its_drawn_aggregator_is_paid() {
        let mut v = state();
        let blocks = read_epoch(&mut v, 0).blocks;
        // Slot 4 is the epoch's last: nothing closes before it, nor while a slot of the
        // epoch awaits a proof.
        end(&mut v, 3);
        assert_eq!(read_epoch(&mut v, 0).state, EpochState::Collecting);
        v.0.insert(
            StateKey::ProofChain,
            ProofChain {
                head: 4,
                tail: 4,
                unproven: 1,
                ..ProofChain::default()
            }
            .encode(),
        );
        end(&mut v, 4);
        assert_eq!(read_epoch(&mut v, 0).state, EpochState::Collecting);
        assert!(matches!(
            send(&mut v, ME, 0, &proof_for(ME, &blocks), 4),
            Err(LedgerError::EpochNotDue(0))
        ));
        v.0.insert(StateKey::ProofChain, ProofChain::default().encode());
        end(&mut v, 5);
        let e = read_epoch(&mut v, 0);
        assert_eq!(e.state, EpochState::Due);
        assert_eq!(e.closed_at, 5);
        assert_eq!(e.window_end, 5 + WINDOW);
        let (drawn, _) = e.aggregator.expect("an active prover is drawn");
        let other = if drawn == ME { OTHER } else { ME };
        // Within the window: another prover is refused, even with a proof of its own.
        assert!(matches!(
            send(&mut v, other, 0, &proof_for(other, &blocks), 6),
            Err(LedgerError::NotAggregator(0))
        ));
        // The drawn aggregator's invalid proof is fined and changes nothing else.
        let before = stake(&mut v, drawn);
        let r = send(&mut v, drawn, 0, &proof_for(other, &blocks), 6);
        assert!(
            matches!(r, Ok(Some(LedgerError::InvalidAggregate { epoch: 0, .. }))),
            "{r:?}"
        );
        assert_eq!(stake(&mut v, drawn), before - U256::from(FINE));
        assert_eq!(pot(&mut v).burned, U256::from(FINE));
        assert_eq!(read_epoch(&mut v, 0).state, EpochState::Due);
        // Its valid one aggregates the epoch and pays half the epoch's base fees.
        let proof = proof_for(drawn, &blocks);
        assert_eq!(send(&mut v, drawn, 0, &proof, 7), Ok(None));
        let e = read_epoch(&mut v, 0);
        assert_eq!(e.state, EpochState::Aggregated);
        assert_eq!(e.aggregated_by, drawn);
        assert_eq!(e.aggregated_at, 7);
        assert_eq!(e.commitment, keccak256(&proof));
        assert_eq!(balance(&mut v, drawn), U256::from(1_000));
        assert_eq!(pot(&mut v).proving_pot, U256::from(9_000));
        assert!(matches!(
            send(&mut v, drawn, 0, &proof, 8),
            Err(LedgerError::AlreadyAggregated(0))
        ));
        // Its window ending later penalizes nobody; the cursor moves past the epoch, and
        // past epoch 1 (slots 5..=8, none of which needed a proof), closed empty meanwhile.
        end(&mut v, 5 + WINDOW);
        assert_eq!(read_epoch(&mut v, 0).missed, None);
        assert_eq!(read_epoch(&mut v, 1).state, EpochState::Empty);
        let c = with(&mut v, cursor);
        assert_eq!((c.next_to_close, c.oldest_due), (2, 2));
    }

    /// The drawn aggregator that has left the prover registry since the draw (unbonded)
    /// still aggregates within its window and is paid: its stake stays slashable for that
    /// window, so it must be able to meet it. A stranger is still refused.
    #[test]
    fn a_drawn_aggregator_that_unbonded_still_aggregates_in_its_window() {
        let mut v = state();
        end(&mut v, 5);
        let e = read_epoch(&mut v, 0);
        let (drawn, _) = e.aggregator.expect("drawn");
        v.0.remove(&StateKey::Prover(drawn));
        assert_eq!(stake(&mut v, drawn), U256::ZERO, "no longer registered");
        let stranger = Address::repeat_byte(0x99);
        assert!(matches!(
            send(&mut v, stranger, 0, &proof_for(stranger, &e.blocks), 6),
            Err(LedgerError::NotAggregator(0))
        ));
        assert_eq!(
            send(&mut v, drawn, 0, &proof_for(drawn, &e.blocks), 6),
            Ok(None)
        );
        assert_eq!(read_epoch(&mut v, 0).state, EpochState::Aggregated);
        assert_eq!(balance(&mut v, drawn), U256::from(1_000));
        // After the window a non-registered sender is refused as before.
        let mut w = state();
        end(&mut w, 5);
        w.0.remove(&StateKey::Prover(drawn));
        assert!(matches!(
            send(
                &mut w,
                drawn,
                0,
                &proof_for(drawn, &e.blocks),
                5 + WINDOW + 1
            ),
            Err(LedgerError::NotRegistered("prover"))
        ));
    }

    fn send_l1(
        v: &mut AppOnly,
        params: &Params,
        who: Address,
        e: u64,
        proof: &[u8],
        height: u64,
    ) -> Result<Option<LedgerError>, LedgerError> {
        with(v, |o| {
            let mut l = Ledger::new(o);
            apply_epoch_proof(&mut l, params, height, who, e, proof, Some(&Fake))
        })
    }

    #[test]
    fn an_aggregated_epoch_keeps_the_first_l1_proof_that_verifies_its_recorded_statement() {
        let mut with_l1 = params();
        if let Some(a) = with_l1
            .protocol
            .proving
            .as_mut()
            .and_then(|p| p.aggregation.as_mut())
        {
            a.l1_proof = Some(crate::chain::genesis::L1ProofParams {
                k: 21,
                vk_hash: B256::repeat_byte(7),
            });
        }
        let mut v = state();
        let blocks = read_epoch(&mut v, 0).blocks;
        end(&mut v, 5);
        let (drawn, _) = read_epoch(&mut v, 0).aggregator.expect("drawn");
        let other = if drawn == ME { OTHER } else { ME };
        let stranger = Address::repeat_byte(0x99);
        // Not aggregated yet: there is no statement to prove.
        let junk = vec![1u8; 64];
        assert!(matches!(
            send_l1(&mut v, &with_l1, other, 0, &junk, 6),
            Err(LedgerError::L1ProofNotDue(0))
        ));
        assert_eq!(
            send(&mut v, drawn, 0, &proof_for(drawn, &blocks), 7),
            Ok(None)
        );
        let rec = read_epoch(&mut v, 0);
        let st = l1_statement(0, &rec).expect("statement");
        assert_eq!(st.first_pre_root, blocks[0].pre_root);
        assert_eq!(st.last_post_root, blocks[blocks.len() - 1].post_root);
        assert_eq!(st.epoch_commitment, rec.commitment);
        let good = l1_proof_for(&st);
        // A chain without the compression circuit refuses it; so does it from a non-prover.
        assert!(matches!(
            send_l1(&mut v, &params(), other, 0, &good, 8),
            Err(LedgerError::L1ProofDisabled)
        ));
        assert!(matches!(
            send_l1(&mut v, &with_l1, stranger, 0, &good, 8),
            Err(LedgerError::NotRegistered("prover"))
        ));
        // A proof of another statement (another epoch's roots) is fined and not kept.
        let wrong = l1_proof_for(&L1Statement {
            last_post_root: B256::repeat_byte(0xee),
            ..st
        });
        let before = stake(&mut v, other);
        let r = send_l1(&mut v, &with_l1, other, 0, &wrong, 8);
        assert!(
            matches!(r, Ok(Some(LedgerError::InvalidL1Proof { epoch: 0, .. }))),
            "{r:?}"
        );
        assert_eq!(stake(&mut v, other), before - U256::from(FINE));
        assert_eq!(with(&mut v, |o| l1_proof(o, 0)), None);
        // Any registered prover's valid proof is kept (not only the aggregator's); a second
        // is refused and changes nothing.
        assert_eq!(send_l1(&mut v, &with_l1, other, 0, &good, 9), Ok(None));
        assert_eq!(with(&mut v, |o| l1_proof(o, 0)), Some(good.clone()));
        assert!(matches!(
            send_l1(&mut v, &with_l1, drawn, 0, &good, 10),
            Err(LedgerError::L1ProofHeld(0))
        ));
        // An epoch that closed empty owes no L1 proof.
        end(&mut v, 5 + WINDOW);
        assert_eq!(read_epoch(&mut v, 1).state, EpochState::Empty);
        assert!(matches!(
            send_l1(&mut v, &with_l1, other, 1, &good, 5 + WINDOW + 1),
            Err(LedgerError::L1ProofNotDue(1))
        ));
    }

    #[test]
    fn a_missed_window_slashes_the_aggregator_and_opens_the_epoch_to_staked_provers() {
        let mut v = state();
        let blocks = read_epoch(&mut v, 0).blocks;
        end(&mut v, 4);
        let e = read_epoch(&mut v, 0);
        let (drawn, _) = e.aggregator.expect("drawn");
        let other = if drawn == ME { OTHER } else { ME };
        let before = stake(&mut v, drawn);
        for h in 5..4 + WINDOW {
            end(&mut v, h);
        }
        assert_eq!(
            read_epoch(&mut v, 0).missed,
            None,
            "not before the window's end"
        );
        end(&mut v, 4 + WINDOW);
        let e = read_epoch(&mut v, 0);
        let kept = U256::from(SLASH / 2);
        assert_eq!(
            e.missed,
            Some(Missed {
                prover: drawn,
                kept
            })
        );
        assert_eq!(stake(&mut v, drawn), before - U256::from(SLASH));
        let p = pot(&mut v);
        assert_eq!(p.burned, U256::from(SLASH / 2));
        assert_eq!(p.proving_pot, U256::from(10_000) + kept);
        // After the window: a prover below min_fallback_stake is refused...
        assert!(matches!(
            send(&mut v, POOR, 0, &proof_for(POOR, &blocks), 11),
            Err(LedgerError::FallbackStake { .. })
        ));
        // ...a copy of someone else's aggregate fines its sender (the statement carries the
        // sender's address)...
        let r = send(&mut v, other, 0, &proof_for(drawn, &blocks), 11);
        assert!(
            matches!(r, Ok(Some(LedgerError::InvalidAggregate { .. }))),
            "{r:?}"
        );
        // ...and a staked prover's own aggregate takes the fee share and the kept slash.
        let paid_before = balance(&mut v, other);
        assert_eq!(
            send(&mut v, other, 0, &proof_for(other, &blocks), 12),
            Ok(None)
        );
        assert_eq!(
            balance(&mut v, other) - paid_before,
            U256::from(1_000) + kept
        );
        assert_eq!(
            pot(&mut v).proving_pot,
            U256::from(10_000) - U256::from(1_000)
        );
        // The window's end is not seen again: no second slash.
        end(&mut v, 5 + WINDOW);
        assert_eq!(stake(&mut v, drawn), before - U256::from(SLASH));
    }

    #[test]
    fn an_epoch_without_proven_slots_owes_nothing() {
        let mut v = state();
        end(&mut v, 4);
        end(&mut v, 8);
        let e = read_epoch(&mut v, 1);
        assert_eq!(e.state, EpochState::Empty);
        assert_eq!(e.aggregator, None);
        assert!(matches!(
            send(&mut v, ME, 1, &[1], 9),
            Err(LedgerError::EpochNotDue(1))
        ));
        // Epoch 0 (due) holds the cursor's oldest_due; epoch 1 closed behind it.
        let c = with(&mut v, cursor);
        assert_eq!((c.next_to_close, c.oldest_due), (2, 0));
    }

    #[test]
    fn an_epoch_holds_at_most_agg_capacity_chunks_that_need_a_proof() {
        let mut v = AppOnly::default();
        let mut p = params();
        p.protocol.max_diff_entries = 40;
        // Epoch 1 is slots 5..=8, capacity 3 chunks of 8 entries.
        let full = |v: &mut AppOnly, p: &Params, slot: u64| {
            let mut o = Overlay::new(&*v);
            epoch_full(&mut o, p, slot).expect("reads")
        };
        let room = |v: &mut AppOnly, p: &Params, slot: u64| {
            let mut o = Overlay::new(&*v);
            diff_room(&mut o, p, slot).expect("reads")
        };
        assert!(!full(&mut v, &p, 5));
        assert_eq!(
            room(&mut v, &p, 5),
            24,
            "three chunks of 8 (below max_diff_entries)"
        );
        with(&mut v, |o| on_executed(o, &p, 5, 2, U256::from(1)));
        assert_eq!(room(&mut v, &p, 6), 8, "one chunk left");
        assert!(
            !full(&mut v, &p, 6),
            "two of three: the epoch still takes one"
        );
        with(&mut v, |o| on_executed(o, &p, 6, 1, U256::from(2)));
        let e1 = read_epoch(&mut v, 1);
        assert_eq!((e1.needing, e1.fees), (3, U256::from(3)));
        assert!(full(&mut v, &p, 7), "the epoch's later slots are held");
        assert_eq!(room(&mut v, &p, 7), 0);
        assert!(!full(&mut v, &p, 9), "the next epoch starts empty");
        assert_eq!(room(&mut v, &p, 9), 24);
        assert_eq!(
            max_room(&p),
            24,
            "no block holds more than a whole epoch's chunks"
        );
        assert!(!full(&mut v, &p, 4), "the epoch before is another epoch");
        // Execution never goes past the capacity: one more chunk would be an invariant failure.
        let mut o = Overlay::new(&v);
        assert!(matches!(
            on_executed(&mut o, &p, 8, 1, U256::ZERO),
            Err(StoreError::Corrupt(_))
        ));
        // Without aggregation the room is max_diff_entries.
        p.protocol
            .proving
            .as_mut()
            .expect("proving params")
            .aggregation = None;
        assert_eq!(room(&mut v, &p, 7), 40);
        assert_eq!(max_room(&p), 40);
    }

    #[test]
    fn proven_slots_join_their_epoch_in_order_and_never_after_it_closed() {
        let mut v = AppOnly::default();
        let p = params();
        let t = |chunk: u32, pre: u8, post: u8| Transition {
            prover: ME,
            chunk,
            pre_root: B256::repeat_byte(pre),
            post_root: B256::repeat_byte(post),
            height: 0,
            stake: U256::ZERO,
        };
        with(&mut v, |o| {
            on_executed(o, &p, 5, 1, U256::from(7))?;
            on_proven(o, &p, 5, 5, B256::ZERO, &[t(0, 1, 2)])?;
            on_proven(o, &p, 8, 8, B256::ZERO, &[t(0, 2, 5), t(1, 5, 3)])?;
            on_proven(o, &p, 9, 9, B256::ZERO, &[t(0, 3, 4)])
        });
        let e1 = read_epoch(&mut v, 1);
        assert_eq!(e1.fees, U256::from(7));
        // One input per chunk, in (slot, chunk) order, each knowing its slot's chunk count.
        assert_eq!(
            e1.blocks
                .iter()
                .map(|b| (b.slot, b.chunk, b.chunks, b.post_root))
                .collect::<Vec<_>>(),
            vec![
                (5, 0, 1, B256::repeat_byte(2)),
                (8, 0, 2, B256::repeat_byte(5)),
                (8, 1, 2, B256::repeat_byte(3))
            ]
        );
        assert_eq!(read_epoch(&mut v, 2).blocks.len(), 1);
        let mut closed = e1;
        closed.state = EpochState::Due;
        v.0.insert(StateKey::Epoch(1), closed.encode());
        let base = v.clone();
        let mut o = Overlay::new(&base);
        assert!(on_proven(&mut o, &p, 6, 6, B256::ZERO, &[t(0, 9, 9)]).is_err());
    }

    /// A tree (ADR 0020) splits `agg_capacity` into 2..=8 leaves of `leaf_capacity`, whose
    /// circuit has a degree in range; its shape is what nodes and workers build; and a flat
    /// chain's parameters serialize without the key, so existing genesis files stay the same.
    #[test]
    fn a_tree_splits_agg_capacity_into_two_to_eight_leaves() {
        use crate::chain::genesis::{AggMiddleParams, AggTreeParams, AppGenesis};
        use parley_proofs::aggregation::{
            EpochShape,
            tree::{MiddleShape, TreeShape},
        };
        // (leaf capacity, leaf k, (middle leaves, middle k))
        type Tree = Option<(u64, u32, Option<(u64, u32)>)>;
        let with = |cap: u64, tree: Tree| {
            let mut p = params();
            p.protocol.max_diff_entries = 8;
            let a = p
                .protocol
                .proving
                .as_mut()
                .and_then(|p| p.aggregation.as_mut())
                .expect("aggregation params");
            a.epoch_slots = 64;
            a.agg_capacity = cap;
            a.tree = tree.map(|(leaf_capacity, leaf_k, middle)| AggTreeParams {
                leaf_capacity,
                leaf_k,
                middle: middle.map(|(leaves, k)| AggMiddleParams { leaves, k }),
            });
            AppGenesis::funded(p, [ME], U256::from(5))
                .validate()
                .map_err(|e| e.to_string())
        };
        with(8, None).expect("flat");
        with(8, Some((4, 21, None))).expect("2 leaves of 4");
        with(64, Some((8, 22, None))).expect("8 leaves of 8");
        with(16, Some((4, 21, Some((2, 21))))).expect("2 middle nodes of 2 leaves of 4");
        for (cap, leaf, why) in [
            (8, 3, "3 does not divide 8"),
            (8, 8, "one leaf is no tree"),
            (8, 0, "empty leaves"),
            (18, 2, "9 leaves"),
        ] {
            let err = with(cap, Some((leaf, 21, None))).expect_err(why);
            assert!(err.contains("tree.leaf_capacity"), "{why}: {err}");
        }
        let err = with(8, Some((4, 17, None))).expect_err("leaf k below 18");
        assert!(err.contains("tree.leaf_k"), "{err}");
        // 8 blocks as 2 middle nodes of 2 leaves of 4 leaves one root input.
        let err = with(8, Some((4, 21, Some((2, 21))))).expect_err("one root input");
        assert!(err.contains("tree.leaf_capacity"), "{err}");
        let err = with(16, Some((4, 21, Some((1, 21))))).expect_err("a middle of 1 leaf");
        assert!(err.contains("tree.middle.leaves"), "{err}");
        let err = with(16, Some((4, 21, Some((2, 27))))).expect_err("middle k above 26");
        assert!(err.contains("tree.middle.k"), "{err}");

        let mut a = params()
            .protocol
            .proving
            .and_then(|p| p.aggregation)
            .expect("aggregation params");
        assert_eq!(a.shape(), EpochShape::Flat { capacity: 3, k: 20 });
        let json = serde_json::to_value(&a).expect("serializes");
        assert!(json.get("tree").is_none(), "{json}");
        a.agg_capacity = 8;
        a.agg_k = 21;
        a.tree = Some(AggTreeParams {
            leaf_capacity: 4,
            leaf_k: 21,
            middle: None,
        });
        assert_eq!(
            a.shape(),
            EpochShape::Tree(TreeShape {
                leaf_capacity: 4,
                leaf_k: 21,
                middle: None,
                children: 2,
                k: 21
            })
        );
        // 16 blocks: 2 middle nodes of 2 leaves of 4.
        a.agg_capacity = 16;
        a.tree = Some(AggTreeParams {
            leaf_capacity: 4,
            leaf_k: 21,
            middle: Some(AggMiddleParams { leaves: 2, k: 21 }),
        });
        assert_eq!(
            a.shape(),
            EpochShape::Tree(TreeShape {
                leaf_capacity: 4,
                leaf_k: 21,
                middle: Some(MiddleShape { leaves: 2, k: 21 }),
                children: 2,
                k: 21
            })
        );
        assert_eq!(a.shape().capacity(), 16);
        let json = serde_json::to_value(&a).expect("serializes");
        assert_eq!(json["tree"]["leaf_capacity"], 4, "{json}");
    }
}
