//! State of the proof chain (DESIGN §3.8 and §3.11): which slots await a block proof, the
//! transitions provers submitted for them, and how far proven state reaches.
//!
//! Validators never compute a Poseidon root. A verified `Proof` is recorded as a
//! [`Transition`] `(prover, pre_root, post_root)` of its slot; a slot is **proven** when one of
//! its transitions starts at the proven root of the previous slot that needed a proof (genesis
//! holds the initial root). Slots with an empty diff need no proof and never appear here.
//!
//! Values are `0x01 (version) ‖ fields`, fixed width, big-endian, like the other protocol
//! values; decoding refuses another version, a short input and trailing bytes. Roots are the
//! BN254 field elements as 32-byte big-endian integers.

use alloy_primitives::{Address, B256, U256};
use serde::{Deserialize, Serialize};

use crate::protocol::{end, version};
use crate::{DecodeError, Result, take, take_u64, take_u256};

const VERSION: u8 = 0x01;

fn take_b256(buf: &mut &[u8], what: &'static str) -> Result<B256> {
    Ok(B256::from_slice(take(buf, 32, what)?))
}

/// Where proven state stands (the singleton [`crate::StateKey::ProofChain`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProofChain {
    /// The last proven slot that needed a proof (0: none yet, `proven_root` is genesis's).
    pub proven_slot: u64,
    /// The proof-tree root after `proven_slot` (at first the genesis proof root).
    pub proven_root: B256,
    /// The oldest slot awaiting its proof (0: none).
    pub head: u64,
    /// The newest slot that needed a proof (0: none yet): the next one links after it.
    pub tail: u64,
    /// How many slots await their proof.
    pub unproven: u64,
}

impl ProofChain {
    /// `0x01 ‖ proven_slot ‖ proven_root ‖ head ‖ tail ‖ unproven`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(65);
        v.push(VERSION);
        v.extend_from_slice(&self.proven_slot.to_be_bytes());
        v.extend_from_slice(self.proven_root.as_slice());
        v.extend_from_slice(&self.head.to_be_bytes());
        v.extend_from_slice(&self.tail.to_be_bytes());
        v.extend_from_slice(&self.unproven.to_be_bytes());
        v
    }

    /// Decodes [`Self::encode`]'s output.
    pub fn decode(mut bytes: &[u8]) -> Result<Self> {
        let b = &mut bytes;
        version(b, "proof chain version")?;
        let out = Self {
            proven_slot: take_u64(b, "proven slot")?,
            proven_root: take_b256(b, "proven root")?,
            head: take_u64(b, "unproven head")?,
            tail: take_u64(b, "unproven tail")?,
            unproven: take_u64(b, "unproven count")?,
        };
        end(b, "proof chain")?;
        Ok(out)
    }
}

/// A verified block proof of a slot: what its prover claims the slot did to the proof tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// The submitter, bound into the proof's public inputs.
    pub prover: Address,
    /// Proof-tree root before the slot's diff.
    pub pre_root: B256,
    /// Proof-tree root after it.
    pub post_root: B256,
    /// Height of the block that included the proof.
    pub height: u64,
}

/// A slot whose L2 block changed EVM state, so that its diff needs a block proof
/// ([`crate::StateKey::ProofSlot`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofSlot {
    /// The L2 block the slot executed (its diff is that block's).
    pub block_number: u64,
    /// The block commitment the proof binds: the winning bid's, or for a block the
    /// CometBFT proposer built, the L2 block hash.
    pub commitment: B256,
    /// The last height at which the assigned prover's proof is on time.
    pub window_end: u64,
    /// Wei of the slot's base fees the proving pot owes its on-time prover(s).
    pub fee_share: U256,
    /// The next slot that needed a proof (0 until one executes).
    pub next: u64,
    /// Set once a transition chains.
    pub proven: bool,
    /// Verified transitions, one per prover, in inclusion order.
    pub transitions: Vec<Transition>,
}

impl ProofSlot {
    /// `0x01 ‖ block_number ‖ commitment ‖ window_end ‖ fee_share ‖ next ‖ proven u8 ‖
    /// count u16 ‖ (prover ‖ pre_root ‖ post_root ‖ height)*`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(94 + 92 * self.transitions.len());
        v.push(VERSION);
        v.extend_from_slice(&self.block_number.to_be_bytes());
        v.extend_from_slice(self.commitment.as_slice());
        v.extend_from_slice(&self.window_end.to_be_bytes());
        v.extend_from_slice(&self.fee_share.to_be_bytes::<32>());
        v.extend_from_slice(&self.next.to_be_bytes());
        v.push(u8::from(self.proven));
        let n = u16::try_from(self.transitions.len()).expect("one transition per prover fits u16");
        v.extend_from_slice(&n.to_be_bytes());
        for t in &self.transitions {
            v.extend_from_slice(t.prover.as_slice());
            v.extend_from_slice(t.pre_root.as_slice());
            v.extend_from_slice(t.post_root.as_slice());
            v.extend_from_slice(&t.height.to_be_bytes());
        }
        v
    }

    /// Decodes [`Self::encode`]'s output.
    pub fn decode(mut bytes: &[u8]) -> Result<Self> {
        let b = &mut bytes;
        version(b, "proof slot version")?;
        let block_number = take_u64(b, "proof slot block")?;
        let commitment = take_b256(b, "proof slot commitment")?;
        let window_end = take_u64(b, "proof window end")?;
        let fee_share = take_u256(b, "proof fee share")?;
        let next = take_u64(b, "next proof slot")?;
        let proven = match take(b, 1, "proven flag")?[0] {
            0 => false,
            1 => true,
            tag => {
                return Err(DecodeError::Tag {
                    what: "proven flag",
                    tag,
                });
            }
        };
        let n = take(b, 2, "transition count")?;
        let n = u16::from_be_bytes([n[0], n[1]]);
        let mut transitions = Vec::with_capacity(usize::from(n).min(1024));
        for _ in 0..n {
            transitions.push(Transition {
                prover: Address::from_slice(take(b, 20, "transition prover")?),
                pre_root: take_b256(b, "transition pre_root")?,
                post_root: take_b256(b, "transition post_root")?,
                height: take_u64(b, "transition height")?,
            });
        }
        end(b, "proof slot")?;
        Ok(Self {
            block_number,
            commitment,
            window_end,
            fee_share,
            next,
            proven,
            transitions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn b256() -> impl Strategy<Value = B256> {
        any::<[u8; 32]>().prop_map(B256::from)
    }

    proptest! {
        #[test]
        fn proving_values_roundtrip_and_refuse_damage(
            chain in (any::<u64>(), b256(), any::<u64>(), any::<u64>(), any::<u64>()),
            slot in (any::<u64>(), b256(), any::<u64>(), any::<[u8; 32]>(), any::<u64>(), any::<bool>()),
            ts in proptest::collection::vec((any::<[u8; 20]>(), b256(), b256(), any::<u64>()), 0..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let c = ProofChain {
                proven_slot: chain.0,
                proven_root: chain.1,
                head: chain.2,
                tail: chain.3,
                unproven: chain.4,
            };
            let s = ProofSlot {
                block_number: slot.0,
                commitment: slot.1,
                window_end: slot.2,
                fee_share: U256::from_be_bytes(slot.3),
                next: slot.4,
                proven: slot.5,
                transitions: ts
                    .iter()
                    .map(|(p, a, b, h)| Transition {
                        prover: Address::from(*p),
                        pre_root: *a,
                        post_root: *b,
                        height: *h,
                    })
                    .collect(),
            };
            let (ce, se) = (c.encode(), s.encode());
            prop_assert_eq!(ProofChain::decode(&ce).expect("roundtrip"), c);
            prop_assert_eq!(ProofSlot::decode(&se).expect("roundtrip"), s);
            // Truncated, extended or of another version: refused.
            prop_assert!(ProofChain::decode(&ce[..cut.index(ce.len())]).is_err());
            prop_assert!(ProofSlot::decode(&se[..cut.index(se.len())]).is_err());
            let mut longer = se.clone();
            longer.push(0);
            prop_assert!(ProofSlot::decode(&longer).is_err());
            let mut v2 = ce.clone();
            v2[0] = 2;
            prop_assert!(ProofChain::decode(&v2).is_err());
            let mut flag = se.clone();
            flag[1 + 8 + 32 + 8 + 32 + 8] = 2;
            prop_assert!(ProofSlot::decode(&flag).is_err());
        }
    }
}
