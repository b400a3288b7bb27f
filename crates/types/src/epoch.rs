//! State of epoch aggregation (DESIGN §3.14, §4 "Aggregation"; ADR 0015): which epochs are
//! closed, the proven blocks each one aggregates, the aggregator drawn for it and what became
//! of the duty.
//!
//! Epoch `e` is the slots `e·epoch_slots + 1 ..= (e + 1)·epoch_slots`. It **closes** at the
//! first height at or after its last slot at which none of its slots awaits a proof; then an
//! aggregator is drawn. Its blocks are the slots that needed a proof, in slot order, each with
//! the transition that proved it, so that every validator computes the same
//! `epoch_commitment` without a Poseidon tree.
//!
//! Values are `0x01 (version) ‖ fields`, fixed width, big-endian, like the other protocol
//! values; decoding refuses another version, a short input, an unknown state and trailing
//! bytes.

use alloy_primitives::{Address, B256, U256};
use serde::{Deserialize, Serialize};

use crate::protocol::{end, version};
use crate::proving::{take_b256, take_u16, take_u32};
use crate::{DecodeError, Missed, Result, take, take_u64, take_u256};

const VERSION: u8 = 0x01;

fn take_address(buf: &mut &[u8], what: &'static str) -> Result<Address> {
    Ok(Address::from_slice(take(buf, 20, what)?))
}

/// How far epochs have come (the singleton [`crate::StateKey::EpochCursor`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EpochCursor {
    /// The oldest epoch not closed yet.
    pub next_to_close: u64,
    /// The oldest closed epoch whose aggregation is still due (`== next_to_close` when none
    /// is): end-of-block work looks at `oldest_due .. next_to_close` only.
    pub oldest_due: u64,
}

impl EpochCursor {
    /// `0x01 ‖ next_to_close ‖ oldest_due`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(17);
        v.push(VERSION);
        v.extend_from_slice(&self.next_to_close.to_be_bytes());
        v.extend_from_slice(&self.oldest_due.to_be_bytes());
        v
    }

    /// Decodes [`Self::encode`]'s output.
    pub fn decode(mut bytes: &[u8]) -> Result<Self> {
        let b = &mut bytes;
        version(b, "epoch cursor version")?;
        let out = Self {
            next_to_close: take_u64(b, "next epoch to close")?,
            oldest_due: take_u64(b, "oldest due epoch")?,
        };
        end(b, "epoch cursor")?;
        Ok(out)
    }
}

/// A proven chunk of an epoch's slot (a whole slot when it has one chunk): what its block
/// proof's public inputs were. An aggregate takes one input per chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochBlock {
    /// The slot.
    pub slot: u64,
    /// Which chunk of the slot's diff.
    pub chunk: u32,
    /// How many chunks the slot's diff has.
    pub chunks: u32,
    /// The L2 block it executed (its diff gives the proof's `diff_hash`).
    pub block_number: u64,
    /// Its block commitment.
    pub commitment: B256,
    /// The prover of the transition that proved it (bound in that proof's `pi_hash`).
    pub prover: Address,
    /// Proof-tree root before the chunk.
    pub pre_root: B256,
    /// Proof-tree root after it.
    pub post_root: B256,
}

/// Where an epoch's aggregation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EpochState {
    /// Slots of the epoch are still executing or awaiting proofs.
    Collecting,
    /// Closed, with blocks: the drawn aggregator's window, then (after it) anyone's.
    Due,
    /// A valid `Aggregate` was included.
    Aggregated,
    /// Closed with no block to aggregate (no slot changed state): nothing is due.
    Empty,
}

impl EpochState {
    /// Its name on the wire (RPC, gRPC): `collecting`, `due`, `aggregated`, `empty`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Collecting => "collecting",
            Self::Due => "due",
            Self::Aggregated => "aggregated",
            Self::Empty => "empty",
        }
    }

    fn tag(self) -> u8 {
        match self {
            Self::Collecting => 0,
            Self::Due => 1,
            Self::Aggregated => 2,
            Self::Empty => 3,
        }
    }

    fn from_tag(tag: u8) -> Result<Self> {
        Ok(match tag {
            0 => Self::Collecting,
            1 => Self::Due,
            2 => Self::Aggregated,
            3 => Self::Empty,
            tag => {
                return Err(DecodeError::Tag {
                    what: "epoch state",
                    tag,
                });
            }
        })
    }
}

/// One epoch's aggregation ([`crate::StateKey::Epoch`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Epoch {
    /// Where it stands.
    pub state: EpochState,
    /// Base fees the epoch's slots put in the proving pot (wei): the aggregator's pay is
    /// `agg_share_bps` of it.
    pub fees: U256,
    /// Block proofs the epoch's slots need: one per chunk of every slot that executed with
    /// a non-empty diff (at most `agg_capacity`). At `agg_capacity` the epoch is full: its
    /// later slots carry no L2 transactions.
    pub needing: u64,
    /// The proven chunks, in (slot, chunk) order.
    pub blocks: Vec<EpochBlock>,
    /// Height at which it closed (0 while collecting).
    pub closed_at: u64,
    /// The aggregator drawn when it closed, with its stake at the draw (none: nobody was
    /// active, and the epoch is open to every staked prover at once).
    pub aggregator: Option<(Address, U256)>,
    /// The last height at which the drawn aggregator's `Aggregate` is its own duty; after it,
    /// any prover with `min_fallback_stake` may aggregate.
    pub window_end: u64,
    /// The drawn aggregator, slashed when its window ended without its `Aggregate`.
    pub missed: Option<Missed>,
    /// Who aggregated it (zero until then).
    pub aggregated_by: Address,
    /// The `epoch_commitment` of the accepted aggregate (zero until then): the value the
    /// bridge's attestation signs.
    pub commitment: B256,
    /// Height of the block that included the accepted aggregate (0 until then).
    pub aggregated_at: u64,
}

impl Default for Epoch {
    fn default() -> Self {
        Self {
            state: EpochState::Collecting,
            fees: U256::ZERO,
            needing: 0,
            blocks: Vec::new(),
            closed_at: 0,
            aggregator: None,
            window_end: 0,
            missed: None,
            aggregated_by: Address::ZERO,
            commitment: B256::ZERO,
            aggregated_at: 0,
        }
    }
}

impl Epoch {
    /// `0x01 ‖ state u8 ‖ fees ‖ needing ‖ count u16 ‖ (slot ‖ chunk u32 ‖ chunks u32 ‖
    /// block_number ‖ commitment ‖ prover ‖ pre_root ‖ post_root)* ‖ closed_at ‖ has_aggregator u8 [‖ address ‖ stake] ‖
    /// window_end ‖ has_missed u8 [‖ prover ‖ kept] ‖ aggregated_by ‖ commitment ‖
    /// aggregated_at`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(200 + 140 * self.blocks.len());
        v.push(VERSION);
        v.push(self.state.tag());
        v.extend_from_slice(&self.fees.to_be_bytes::<32>());
        v.extend_from_slice(&self.needing.to_be_bytes());
        let n = u16::try_from(self.blocks.len()).expect("agg_capacity is validated below u16");
        v.extend_from_slice(&n.to_be_bytes());
        for b in &self.blocks {
            v.extend_from_slice(&b.slot.to_be_bytes());
            v.extend_from_slice(&b.chunk.to_be_bytes());
            v.extend_from_slice(&b.chunks.to_be_bytes());
            v.extend_from_slice(&b.block_number.to_be_bytes());
            v.extend_from_slice(b.commitment.as_slice());
            v.extend_from_slice(b.prover.as_slice());
            v.extend_from_slice(b.pre_root.as_slice());
            v.extend_from_slice(b.post_root.as_slice());
        }
        v.extend_from_slice(&self.closed_at.to_be_bytes());
        match &self.aggregator {
            Some((a, stake)) => {
                v.push(1);
                v.extend_from_slice(a.as_slice());
                v.extend_from_slice(&stake.to_be_bytes::<32>());
            }
            None => v.push(0),
        }
        v.extend_from_slice(&self.window_end.to_be_bytes());
        match &self.missed {
            Some(m) => {
                v.push(1);
                v.extend_from_slice(m.prover.as_slice());
                v.extend_from_slice(&m.kept.to_be_bytes::<32>());
            }
            None => v.push(0),
        }
        v.extend_from_slice(self.aggregated_by.as_slice());
        v.extend_from_slice(self.commitment.as_slice());
        v.extend_from_slice(&self.aggregated_at.to_be_bytes());
        v
    }

    /// Decodes [`Self::encode`]'s output.
    pub fn decode(mut bytes: &[u8]) -> Result<Self> {
        let b = &mut bytes;
        version(b, "epoch version")?;
        let state = EpochState::from_tag(take(b, 1, "epoch state")?[0])?;
        let fees = take_u256(b, "epoch fees")?;
        let needing = take_u64(b, "epoch slots needing a proof")?;
        let n = take_u16(b, "epoch block count")?;
        let mut blocks = Vec::with_capacity(usize::from(n).min(1024));
        for _ in 0..n {
            blocks.push(EpochBlock {
                slot: take_u64(b, "epoch block slot")?,
                chunk: take_u32(b, "epoch block chunk")?,
                chunks: take_u32(b, "epoch block chunk count")?,
                block_number: take_u64(b, "epoch block number")?,
                commitment: take_b256(b, "epoch block commitment")?,
                prover: take_address(b, "epoch block prover")?,
                pre_root: take_b256(b, "epoch block pre_root")?,
                post_root: take_b256(b, "epoch block post_root")?,
            });
        }
        let closed_at = take_u64(b, "epoch closed at")?;
        let aggregator = match take(b, 1, "epoch aggregator flag")?[0] {
            0 => None,
            1 => Some((
                take_address(b, "epoch aggregator")?,
                take_u256(b, "epoch aggregator stake")?,
            )),
            tag => {
                return Err(DecodeError::Tag {
                    what: "epoch aggregator flag",
                    tag,
                });
            }
        };
        let window_end = take_u64(b, "epoch window end")?;
        let missed = match take(b, 1, "epoch missed flag")?[0] {
            0 => None,
            1 => Some(Missed {
                prover: take_address(b, "epoch missed aggregator")?,
                kept: take_u256(b, "epoch missed kept slash")?,
            }),
            tag => {
                return Err(DecodeError::Tag {
                    what: "epoch missed flag",
                    tag,
                });
            }
        };
        let out = Self {
            state,
            fees,
            needing,
            blocks,
            closed_at,
            aggregator,
            window_end,
            missed,
            aggregated_by: take_address(b, "epoch aggregated by")?,
            commitment: take_b256(b, "epoch commitment")?,
            aggregated_at: take_u64(b, "epoch aggregated at")?,
        };
        end(b, "epoch")?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn b256() -> impl Strategy<Value = B256> {
        any::<[u8; 32]>().prop_map(B256::from)
    }

    fn state() -> impl Strategy<Value = EpochState> {
        prop_oneof![
            Just(EpochState::Collecting),
            Just(EpochState::Due),
            Just(EpochState::Aggregated),
            Just(EpochState::Empty),
        ]
    }

    proptest! {
        #[test]
        fn epoch_values_roundtrip_and_refuse_damage(
            cursor in (any::<u64>(), any::<u64>()),
            st in state(),
            fees in any::<[u8; 32]>(),
            needing in any::<u64>(),
            blocks in proptest::collection::vec(
                (any::<u64>(), any::<u64>(), b256(), any::<[u8; 20]>(), b256(), b256(), any::<(u32, u32)>()), 0..4),
            closed_at in any::<u64>(),
            aggregator in proptest::option::of((any::<[u8; 20]>(), any::<[u8; 32]>())),
            window_end in any::<u64>(),
            missed in proptest::option::of((any::<[u8; 20]>(), any::<[u8; 32]>())),
            done in (any::<[u8; 20]>(), b256(), any::<u64>()),
            cut in any::<prop::sample::Index>(),
        ) {
            let c = EpochCursor { next_to_close: cursor.0, oldest_due: cursor.1 };
            let e = Epoch {
                state: st,
                fees: U256::from_be_bytes(fees),
                needing,
                blocks: blocks
                    .iter()
                    .map(|(s, n, c, p, a, b, ch)| EpochBlock {
                        slot: *s,
                        chunk: ch.0,
                        chunks: ch.1,
                        block_number: *n,
                        commitment: *c,
                        prover: Address::from(*p),
                        pre_root: *a,
                        post_root: *b,
                    })
                    .collect(),
                closed_at,
                aggregator: aggregator.map(|(a, s)| (Address::from(a), U256::from_be_bytes(s))),
                window_end,
                missed: missed.map(|(a, k)| Missed {
                    prover: Address::from(a),
                    kept: U256::from_be_bytes(k),
                }),
                aggregated_by: Address::from(done.0),
                commitment: done.1,
                aggregated_at: done.2,
            };
            let (ce, ee) = (c.encode(), e.encode());
            prop_assert_eq!(EpochCursor::decode(&ce).expect("roundtrip"), c);
            prop_assert_eq!(Epoch::decode(&ee).expect("roundtrip"), e.clone());
            // Truncated, extended, of another version or of an unknown state: refused.
            prop_assert!(EpochCursor::decode(&ce[..cut.index(ce.len())]).is_err());
            prop_assert!(Epoch::decode(&ee[..cut.index(ee.len())]).is_err());
            let mut longer = ee.clone();
            longer.push(0);
            prop_assert!(Epoch::decode(&longer).is_err());
            let mut v2 = ee.clone();
            v2[0] = 2;
            prop_assert!(Epoch::decode(&v2).is_err());
            let mut bad_state = ee.clone();
            bad_state[1] = 4;
            prop_assert!(Epoch::decode(&bad_state).is_err());
            // The aggregator flag, right after closed_at.
            let mut flag = ee.clone();
            flag[1 + 1 + 32 + 8 + 2 + 140 * e.blocks.len() + 8] = 2;
            prop_assert!(Epoch::decode(&flag).is_err());
        }
    }
}
