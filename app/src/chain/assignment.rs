//! Per-slot prover assignment (DESIGN §3.1): a deterministic draw, weighted by stake ×
//! reputation and without replacement, over the provers active at the draw, fixed `lookahead`
//! heights before the slot and stored with each prover's stake at the draw.
//!
//! - [`draw`]: the pure draw from a seed — the same inputs give the same provers on every
//!   node; each pick lands on a prover with probability proportional to its weight among
//!   those not yet picked.
//! - [`end_block`]: every height draws the slot `lookahead` heights ahead with the current
//!   seed, which only the validators' commit-reveal openings move ([`crate::chain::seed`],
//!   ADR 0009: a proposer cannot grind it by trying blocks, as it could the block-hash seed
//!   of ADR 0007).
//!
//! The draw for a slot is written once, when it is made; nothing rewrites it, so later stake
//! or heartbeat changes affect later draws only.

use alloy_primitives::{Address, B256, U256, keccak256};
use parley_types::{Assignment, ProverEntry, StateKey};

use crate::chain::genesis::Params;
use crate::chain::overlay::Overlay;
use crate::chain::seed;
use crate::chain::view::{StateView, StoreError};

/// Domain tag of one pick.
const PICK_DOMAIN: &[u8] = b"parley/draw/v1";

/// A prover as the draw sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Its address.
    pub address: Address,
    /// Stake (wei) at the draw.
    pub stake: U256,
    /// Reputation in millionths.
    pub reputation: u64,
}

impl Candidate {
    /// The draw weight: stake × reputation (saturating; a stake needs more than 2^236 wei to
    /// reach it).
    pub fn weight(&self) -> U256 {
        self.stake.saturating_mul(U256::from(self.reputation))
    }
}

/// Draws up to `k` distinct provers for `slot` from `candidates` (in any order: they are
/// sorted by address first), each pick proportional to weight among those left. Pick `i` uses
/// `keccak256("parley/draw/v1" ‖ seed ‖ slot ‖ i) mod (remaining total weight)`; the modulo
/// bias is below total/2^256. Candidates of weight 0 are never drawn.
pub fn draw(seed: B256, slot: u64, candidates: &[Candidate], k: usize) -> Vec<Candidate> {
    let mut pool: Vec<Candidate> = candidates
        .iter()
        .copied()
        .filter(|c| !c.weight().is_zero())
        .collect();
    pool.sort_by_key(|c| c.address);
    pool.dedup_by_key(|c| c.address);
    let mut total = pool
        .iter()
        .fold(U256::ZERO, |acc, c| acc.saturating_add(c.weight()));
    let mut out = Vec::with_capacity(k.min(pool.len()));
    for i in 0..k {
        // `total` never exceeds the weights left (it is their saturating sum less what was
        // picked), so an empty pool has a zero total, and a zero total ends the draw.
        if total.is_zero() {
            break;
        }
        let mut buf = Vec::with_capacity(PICK_DOMAIN.len() + 48);
        buf.extend_from_slice(PICK_DOMAIN);
        buf.extend_from_slice(seed.as_slice());
        buf.extend_from_slice(&slot.to_be_bytes());
        buf.extend_from_slice(&(i as u64).to_be_bytes());
        let mut r = U256::from_be_bytes(keccak256(buf).0) % total;
        // Walk the cumulative weights: the pick is the first prover whose weight covers `r`.
        let at = pool
            .iter()
            .position(|c| {
                let w = c.weight();
                if r < w {
                    return true;
                }
                r -= w;
                false
            })
            .expect("r < total ≤ the weights left, so some prover covers it");
        let picked = pool.remove(at);
        total = total.saturating_sub(picked.weight());
        out.push(picked);
    }
    out
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// The provers drawn for `slot`, if the draw was made.
pub fn assigned<V: StateView>(
    o: &mut Overlay<'_, V>,
    slot: u64,
) -> Result<Option<Assignment>, StoreError> {
    o.app(&StateKey::Assignment(slot))?
        .map(|b| Assignment::decode(&b).map_err(|e| corrupt("assignment", e)))
        .transpose()
}

/// Every registered prover active at `height` (a heartbeat within `heartbeat_grace`).
pub fn active_provers<V: StateView>(
    o: &mut Overlay<'_, V>,
    params: &Params,
    height: u64,
) -> Result<Vec<Candidate>, StoreError> {
    let range = StateKey::Prover(Address::ZERO)..=StateKey::Prover(Address::repeat_byte(0xff));
    let mut out = Vec::new();
    for (k, v) in o.app_range(range)? {
        let StateKey::Prover(address) = k else {
            return Err(corrupt("prover range", format!("{k:?}")));
        };
        let p = ProverEntry::decode(&v).map_err(|e| corrupt("prover", e))?;
        if p.is_active(height, params.protocol.heartbeat_grace) {
            out.push(Candidate {
                address,
                stake: p.stake,
                reputation: p.reputation,
            });
        }
    }
    Ok(out)
}

/// What every height does for assignment, after the ledger: draws slot `height +
/// lookahead` from the provers active now, with the current seed ([`seed::current`]). A slot
/// with no active prover gets an empty assignment (the fallback opens for it).
pub fn end_block<V: StateView>(
    o: &mut Overlay<'_, V>,
    params: &Params,
    height: u64,
) -> Result<(), StoreError> {
    let q = &params.protocol;
    let seed = seed::current(o)?;
    let slot = height.saturating_add(q.lookahead);
    if assigned(o, slot)?.is_some() {
        // Drawn already (never rewritten).
        return Ok(());
    }
    let picked = draw(
        seed,
        slot,
        &active_provers(o, params, height)?,
        usize::try_from(q.provers_per_slot).unwrap_or(usize::MAX),
    );
    let a = Assignment {
        provers: picked.iter().map(|c| (c.address, c.stake)).collect(),
    };
    o.put_app(StateKey::Assignment(slot), Some(a.encode()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn c(i: u8, stake: u64, rep: u64) -> Candidate {
        Candidate {
            address: Address::repeat_byte(i),
            stake: U256::from(stake),
            reputation: rep,
        }
    }

    #[test]
    fn draws_without_replacement_and_never_a_zero_weight() {
        let cands = [c(1, 10, 1), c(2, 0, 5), c(3, 5, 0), c(4, 1, 1)];
        for s in 0..200u64 {
            let d = draw(B256::repeat_byte(9), s, &cands, 3);
            // Only 1 and 4 have weight: at most two, distinct.
            assert!(d.len() == 2, "{d:?}");
            assert_ne!(d[0].address, d[1].address);
            assert!(d.iter().all(|x| !x.weight().is_zero()));
        }
        assert!(draw(B256::ZERO, 1, &[], 1).is_empty());
        assert!(draw(B256::ZERO, 1, &cands, 0).is_empty());
    }

    #[test]
    fn the_draw_depends_on_seed_and_slot_not_on_input_order() {
        let cands: Vec<Candidate> = (1..=8).map(|i| c(i, 100, 1_000_000)).collect();
        let mut rev = cands.clone();
        rev.reverse();
        let a = draw(B256::repeat_byte(1), 5, &cands, 3);
        assert_eq!(a, draw(B256::repeat_byte(1), 5, &rev, 3));
        // Across seeds and slots the first pick varies (8 equal weights).
        let firsts: std::collections::BTreeSet<Address> = (0..64u64)
            .map(|s| draw(B256::repeat_byte(2), s, &cands, 1)[0].address)
            .collect();
        assert!(firsts.len() >= 6, "{firsts:?}");
        assert_ne!(
            (0..16u64)
                .map(|s| draw(B256::repeat_byte(3), s, &cands, 1)[0].address)
                .collect::<Vec<_>>(),
            (0..16u64)
                .map(|s| draw(B256::repeat_byte(4), s, &cands, 1)[0].address)
                .collect::<Vec<_>>()
        );
    }

    /// The cumulative walk's edges: with two provers of weight 1 (r is 0 or 1), each is drawn
    /// first for some slots; taking `r == w` as inside the first would never draw the second.
    #[test]
    fn the_last_unit_of_weight_belongs_to_the_next_prover() {
        let cands = [c(1, 1, 1), c(2, 1, 1)];
        let firsts: std::collections::BTreeSet<Address> = (0..64u64)
            .map(|s| draw(B256::repeat_byte(5), s, &cands, 1)[0].address)
            .collect();
        assert_eq!(firsts.len(), 2, "{firsts:?}");
    }

    /// Selection frequencies converge to the weights: over 20,000 slots, each prover's share
    /// of first picks is within 2 percentage points of its weight share.
    #[test]
    fn frequencies_converge_to_stake_times_reputation() {
        let cands = [
            c(1, 10, 1_000_000),
            c(2, 30, 1_000_000),
            c(3, 40, 500_000),
            c(4, 40, 1_000_000),
        ];
        let total: f64 = cands.iter().map(|x| x.weight().to::<u128>() as f64).sum();
        let n = 20_000u64;
        let mut counts = [0u64; 4];
        for s in 0..n {
            let d = draw(B256::repeat_byte(7), s, &cands, 1);
            let i = cands
                .iter()
                .position(|x| x.address == d[0].address)
                .expect("a candidate");
            counts[i] += 1;
        }
        for (i, x) in cands.iter().enumerate() {
            let want = x.weight().to::<u128>() as f64 / total;
            let got = counts[i] as f64 / n as f64;
            assert!(
                (got - want).abs() < 0.02,
                "prover {i}: {got:.3} of picks, weight share {want:.3}"
            );
        }
    }

    proptest! {
        /// Any pool, any k: distinct picks from the pool, min(k, weighted members) of them.
        #[test]
        fn picks_are_distinct_members(
            ws in proptest::collection::vec((0u64..1000, 0u64..2_000_000), 0..12),
            k in 0usize..6, seed in any::<[u8; 32]>(), slot in any::<u64>(),
        ) {
            let cands: Vec<Candidate> = ws.iter().enumerate().map(|(i, (s, r))| c(i as u8 + 1, *s, *r)).collect();
            let d = draw(B256::from(seed), slot, &cands, k);
            let weighted = cands.iter().filter(|x| !x.weight().is_zero()).count();
            prop_assert_eq!(d.len(), k.min(weighted));
            let set: std::collections::BTreeSet<Address> = d.iter().map(|x| x.address).collect();
            prop_assert_eq!(set.len(), d.len());
            for x in &d {
                prop_assert!(cands.contains(x));
            }
        }
    }
}
