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

pub(crate) fn take_b256(buf: &mut &[u8], what: &'static str) -> Result<B256> {
    Ok(B256::from_slice(take(buf, 32, what)?))
}

pub(crate) fn take_u16(buf: &mut &[u8], what: &'static str) -> Result<u16> {
    let n = take(buf, 2, what)?;
    Ok(u16::from_be_bytes([n[0], n[1]]))
}

pub(crate) fn take_u32(buf: &mut &[u8], what: &'static str) -> Result<u32> {
    let n = take(buf, 4, what)?;
    Ok(u32::from_be_bytes([n[0], n[1], n[2], n[3]]))
}

fn take_flag(buf: &mut &[u8], what: &'static str) -> Result<bool> {
    match take(buf, 1, what)?[0] {
        0 => Ok(false),
        1 => Ok(true),
        tag => Err(DecodeError::Tag { what, tag }),
    }
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

/// A verified block proof of one chunk of a slot: what its prover claims that part of the
/// slot's diff did to the proof tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// The submitter, bound into the proof's public inputs.
    pub prover: Address,
    /// Which chunk of the slot's diff it proves (0 for a slot of one chunk).
    pub chunk: u32,
    /// Proof-tree root before the chunk's entries.
    pub pre_root: B256,
    /// Proof-tree root after them.
    pub post_root: B256,
    /// Height of the block that included the proof.
    pub height: u64,
    /// Zero for a `Proof` sent within the window; for a fallback `RevealProof`, the sender's
    /// stake snapshotted at its commit (at least `min_fallback_stake`, so never zero), which
    /// weighs its share of the fallback reward.
    pub stake: U256,
}

impl Transition {
    /// Whether it came through the permissionless fallback (DESIGN §3.9).
    pub fn is_fallback(&self) -> bool {
        !self.stake.is_zero()
    }
}

/// A fallback prover's `CommitProof` in the slot's current fallback round (DESIGN §3.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    /// The committing prover.
    pub prover: Address,
    /// The chunk it commits a proof of.
    pub chunk: u32,
    /// `keccak256(proof ‖ prover)`: the reveal must match it.
    pub hash: B256,
    /// The prover's stake when it committed (its weight in the reward).
    pub stake: U256,
    /// Set once it revealed a proof matching `hash` (valid or not); a commit still unset when
    /// the round closes is fined.
    pub revealed: bool,
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
    /// How many chunks consensus cut the slot's diff into (ADR 0016): `⌈entries /
    /// block_capacity⌉`, at least 1. The slot is proven when transitions of chunks `0 ..
    /// chunks` chain one after the other from the previous slot's proven root.
    pub chunks: u32,
    /// Verified transitions, one per (chunk, prover), in inclusion order.
    pub transitions: Vec<Transition>,
    /// Fallback rounds opened so far (0: none).
    pub round: u32,
    /// Last height of the open fallback round's reveal phase; 0 when no round is open. The
    /// round's commit phase is the `commit_window` heights after the height that opened it,
    /// its reveal phase the `reveal_proof_window` heights after that.
    pub round_end: u64,
    /// Bounty (wei, owed by the proving pot to the fallback provers) from rounds that proved
    /// nothing; the part that grows with time is computed from the height.
    pub bounty: U256,
    /// The open round's commits, one per (chunk, prover), in inclusion order.
    pub commits: Vec<Commit>,
    /// Drawn provers slashed when the window ended without a `Proof` of theirs in it, in
    /// draw order: the unburned part of each slash went to the proving pot, which owes it to
    /// the slot's fallback provers when the slot settles.
    pub missed: Vec<Missed>,
}

/// A drawn prover slashed at the end of its window ([`ProofSlot::missed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Missed {
    /// The prover.
    pub prover: Address,
    /// The slash's unburned part (wei), held by the proving pot for the fallback provers.
    pub kept: U256,
}

impl ProofSlot {
    /// `0x01 ‖ block_number ‖ commitment ‖ window_end ‖ fee_share ‖ next ‖ proven u8 ‖
    /// chunks u32 ‖ count u32 ‖ (prover ‖ chunk u32 ‖ pre_root ‖ post_root ‖ height ‖ stake)* ‖
    /// round u32 ‖ round_end u64 ‖ bounty ‖ count u32 ‖ (prover ‖ chunk u32 ‖ hash ‖ stake ‖
    /// revealed u8)* ‖ count u16 ‖ (prover ‖ kept)*`. (Transitions and commits count in u32:
    /// with 64 chunks, up to 1,024 commits per chunk and round already exceed u16.)
    pub fn encode(&self) -> Vec<u8> {
        let mut v =
            Vec::with_capacity(150 + 128 * self.transitions.len() + 89 * self.commits.len());
        v.push(VERSION);
        v.extend_from_slice(&self.block_number.to_be_bytes());
        v.extend_from_slice(self.commitment.as_slice());
        v.extend_from_slice(&self.window_end.to_be_bytes());
        v.extend_from_slice(&self.fee_share.to_be_bytes::<32>());
        v.extend_from_slice(&self.next.to_be_bytes());
        v.push(u8::from(self.proven));
        v.extend_from_slice(&self.chunks.to_be_bytes());
        let n = u32::try_from(self.transitions.len())
            .expect("transitions are capped per message kind and chunk, far below u32");
        v.extend_from_slice(&n.to_be_bytes());
        for t in &self.transitions {
            v.extend_from_slice(t.prover.as_slice());
            v.extend_from_slice(&t.chunk.to_be_bytes());
            v.extend_from_slice(t.pre_root.as_slice());
            v.extend_from_slice(t.post_root.as_slice());
            v.extend_from_slice(&t.height.to_be_bytes());
            v.extend_from_slice(&t.stake.to_be_bytes::<32>());
        }
        v.extend_from_slice(&self.round.to_be_bytes());
        v.extend_from_slice(&self.round_end.to_be_bytes());
        v.extend_from_slice(&self.bounty.to_be_bytes::<32>());
        let n = u32::try_from(self.commits.len())
            .expect("commits are capped per chunk and round (max_commits · max_chunks)");
        v.extend_from_slice(&n.to_be_bytes());
        for c in &self.commits {
            v.extend_from_slice(c.prover.as_slice());
            v.extend_from_slice(&c.chunk.to_be_bytes());
            v.extend_from_slice(c.hash.as_slice());
            v.extend_from_slice(&c.stake.to_be_bytes::<32>());
            v.push(u8::from(c.revealed));
        }
        let n = u16::try_from(self.missed.len()).expect("drawn provers are capped below u16");
        v.extend_from_slice(&n.to_be_bytes());
        for m in &self.missed {
            v.extend_from_slice(m.prover.as_slice());
            v.extend_from_slice(&m.kept.to_be_bytes::<32>());
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
        let proven = take_flag(b, "proven flag")?;
        let chunks = take_u32(b, "chunk count")?;
        let n = take_u32(b, "transition count")?;
        let mut transitions = Vec::with_capacity((n as usize).min(1024));
        for _ in 0..n {
            transitions.push(Transition {
                prover: Address::from_slice(take(b, 20, "transition prover")?),
                chunk: take_u32(b, "transition chunk")?,
                pre_root: take_b256(b, "transition pre_root")?,
                post_root: take_b256(b, "transition post_root")?,
                height: take_u64(b, "transition height")?,
                stake: take_u256(b, "transition stake")?,
            });
        }
        let round = take_u32(b, "fallback round")?;
        let round_end = take_u64(b, "fallback round end")?;
        let bounty = take_u256(b, "bounty")?;
        let n = take_u32(b, "commit count")?;
        let mut commits = Vec::with_capacity((n as usize).min(1024));
        for _ in 0..n {
            commits.push(Commit {
                prover: Address::from_slice(take(b, 20, "commit prover")?),
                chunk: take_u32(b, "commit chunk")?,
                hash: take_b256(b, "commit hash")?,
                stake: take_u256(b, "commit stake")?,
                revealed: take_flag(b, "commit revealed flag")?,
            });
        }
        let n = take_u16(b, "missed count")?;
        let mut missed = Vec::with_capacity(usize::from(n).min(1024));
        for _ in 0..n {
            missed.push(Missed {
                prover: Address::from_slice(take(b, 20, "missed prover")?),
                kept: take_u256(b, "missed kept slash")?,
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
            chunks,
            transitions,
            round,
            round_end,
            bounty,
            commits,
            missed,
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
            ts in proptest::collection::vec((any::<[u8; 20]>(), b256(), b256(), any::<u64>(), any::<[u8; 32]>(), any::<u32>()), 0..4),
            chunks in any::<u32>(),
            fb in (any::<u32>(), any::<u64>(), any::<[u8; 32]>()),
            cs in proptest::collection::vec((any::<[u8; 20]>(), b256(), any::<[u8; 32]>(), any::<bool>(), any::<u32>()), 0..4),
            ms in proptest::collection::vec((any::<[u8; 20]>(), any::<[u8; 32]>()), 0..3),
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
                chunks,
                transitions: ts
                    .iter()
                    .map(|(p, a, b, h, st, ch)| Transition {
                        prover: Address::from(*p),
                        chunk: *ch,
                        pre_root: *a,
                        post_root: *b,
                        height: *h,
                        stake: U256::from_be_bytes(*st),
                    })
                    .collect(),
                round: fb.0,
                round_end: fb.1,
                bounty: U256::from_be_bytes(fb.2),
                commits: cs
                    .iter()
                    .map(|(p, h, st, r, ch)| Commit {
                        prover: Address::from(*p),
                        chunk: *ch,
                        hash: *h,
                        stake: U256::from_be_bytes(*st),
                        revealed: *r,
                    })
                    .collect(),
                missed: ms
                    .iter()
                    .map(|(p, k)| Missed {
                        prover: Address::from(*p),
                        kept: U256::from_be_bytes(*k),
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
            if !cs.is_empty() {
                // The last commit's revealed flag, before the missed list.
                let mut revealed = se.clone();
                let at = se.len() - 2 - 52 * ms.len() - 1;
                revealed[at] = 2;
                prop_assert!(ProofSlot::decode(&revealed).is_err());
            }
        }
    }
}
