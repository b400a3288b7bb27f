//! State keys and their byte encoding (ADR 0001, "The state").

use alloy_primitives::{Address, U256, keccak256};
use serde::{Deserialize, Serialize};

use crate::{DecodeError, Result, take, take_u256};

const TAG_META: u8 = 0x00;
const TAG_ACCOUNT: u8 = 0x01;
const TAG_STORAGE: u8 = 0x02;
const TAG_LEDGER: u8 = 0x10;
const TAG_SEQUENCER: u8 = 0x11;
const TAG_PROVER: u8 = 0x12;
const TAG_VALIDATOR: u8 = 0x13;
const TAG_POT: u8 = 0x14;
const TAG_UNBONDING: u8 = 0x15;
const TAG_SEED: u8 = 0x16;
const TAG_ASSIGNMENT: u8 = 0x17;
const TAG_SLOT: u8 = 0x18;
const TAG_REVEAL: u8 = 0x19;
const TAG_FORCED: u8 = 0x1a;
const TAG_SEED_COMMIT: u8 = 0x1b;
const TAG_FREE_PROOF_INDEX: u8 = 0x1c;
const TAG_PROOF_CHAIN: u8 = 0x1d;
const TAG_PROOF_SLOT: u8 = 0x1e;
const TAG_EPOCH_CURSOR: u8 = 0x1f;
const TAG_EPOCH: u8 = 0x20;
const TAG_BRIDGE: u8 = 0x21;
const TAG_ATTESTATION: u8 = 0x22;
const TAG_WITHDRAWAL: u8 = 0x23;
const TAG_L1_QUEUE: u8 = 0x24;
const TAG_QUEUE_MARK: u8 = 0x25;
const TAG_HELD_BOND: u8 = 0x26;
const TAG_L1_PROOF: u8 = 0x27;
const TAG_EARNINGS: u8 = 0x28;

/// The key of one committed state entry. The derived order is the canonical order of a
/// [`crate::StateDiff`] and matches the order of the encoded bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateKey {
    /// The chain bookkeeping entry ([`crate::ChainMeta`]). Not EVM state: never in a diff.
    Meta,
    /// An account's nonce, balance and code hash.
    Account(Address),
    /// One storage slot of a contract.
    Storage(Address, U256),
    /// An address's protocol-ledger account ([`crate::LedgerAccount`]): balance and protocol
    /// nonce. Not EVM state (DESIGN §3 "Registries and the protocol ledger").
    Ledger(Address),
    /// A registered sequencer ([`crate::SequencerEntry`]).
    Sequencer(Address),
    /// A registered prover ([`crate::ProverEntry`]).
    Prover(Address),
    /// A registered validator ([`crate::ValidatorEntry`]), keyed by its operator address.
    Validator(Address),
    /// The protocol's own balances ([`crate::Pot`]): the proving pot and the burned total.
    Pot,
    /// A bond or stake on its way back to its owner's ledger balance (a 32-byte amount),
    /// released in the first block at or after `release` height. Keyed by height first, so
    /// the entries due by a height are one range.
    Unbonding {
        /// First height at which the amount is released.
        release: u64,
        /// Whose bond or stake it is.
        owner: Address,
        /// Which role it was bonded for.
        role: crate::Role,
    },
    /// The running randomness beacon the prover draws use (32 bytes, versioned; ADR 0007).
    Seed,
    /// The provers drawn for a slot ([`crate::Assignment`]), fixed `lookahead` heights ahead.
    Assignment(u64),
    /// A slot's auction ([`crate::SlotEntry`]): its escrowed bids, the selection and what
    /// became of the slot.
    Slot(u64),
    /// The block the winner of a slot revealed ([`crate::RevealedBlock`]), kept from its
    /// reveal until the slot executes.
    Reveal(u64),
    /// A transaction forced in with `ForceInclude` (its raw bytes, versioned), queued by the
    /// height and position of the message; the next executed L2 block starts with it.
    Forced {
        /// Height of the block that included the `ForceInclude`.
        height: u64,
        /// The message's position among that block's transactions.
        index: u32,
    },
    /// A validator's committed seed contribution ([`crate::SeedCommit`]), keyed by its
    /// CometBFT consensus address (the first 20 bytes of SHA-256 of its ed25519 key).
    SeedCommit(Address),
    /// Position `p` of the freed proof-index stack: a proof-tree index freed by a deletion
    /// in an earlier block, waiting to be reused (versioned u64, ADR 0011). Positions
    /// `0 .. ChainMeta::free_proof_indices` exist; the top is the highest.
    FreeProofIndex(u64),
    /// Where proven state stands ([`crate::ProofChain`]); written only on a chain whose
    /// genesis enables proving.
    ProofChain,
    /// A slot that needs a block proof ([`crate::ProofSlot`]): kept from its execution on.
    ProofSlot(u64),
    /// Which epochs are closed and aggregated ([`crate::EpochCursor`]); written only on a
    /// chain whose genesis enables epoch aggregation.
    EpochCursor,
    /// An epoch's proven blocks and its aggregation duty ([`crate::Epoch`]).
    Epoch(u64),
    /// Where the L1 bridge's attestation stands ([`crate::bridge::BridgeState`]); written
    /// only on a chain whose genesis configures the bridge.
    Bridge,
    /// An epoch's attestation as the chain recorded it ([`crate::bridge::AttestationRecord`]):
    /// what the relayer posts to L1.
    Attestation(u64),
    /// The `index`-th withdrawal to L1 made in an epoch
    /// ([`crate::bridge::WithdrawalEntry`]), numbered in execution order: the leaves of the
    /// epoch's withdrawal tree.
    Withdrawal {
        /// The epoch of the block that made it.
        epoch: u64,
        /// Its position in the epoch.
        index: u64,
    },
    /// How far the chain has consumed the L1 queue ([`crate::bridge::QueueState`]); written
    /// only on a chain whose genesis configures the bridge.
    L1Queue,
    /// Where the L1 queue stood at the end of the last block of an epoch that consumed
    /// entries ([`crate::bridge::QueuePosition`]), kept until the epoch is attested.
    QueueMark(u64),
    /// A leaving validator's bond on a chain with a bridge, held until L1 finalizes the last
    /// epoch it signed (`epoch`); then it starts unbonding (value: release height u64 ‖
    /// amount u256, versioned).
    HeldBond {
        /// The last epoch the validator signed.
        epoch: u64,
        /// The validator's operator.
        owner: Address,
    },
    /// The verified proof L1 verifies for an aggregated epoch (the compression layer): the
    /// `EpochProof` message's bytes (accumulator limbs, then the proof), kept for relayers.
    L1Proof(u64),
    /// What an address has earned from the protocol and been fined, in total
    /// ([`crate::Earnings`]): the record operators and the web view read. Bookkeeping only:
    /// the wei themselves are in the ledger, the bonds and the pot.
    Earnings(Address),
}

impl StateKey {
    /// Canonical bytes: `0x00 ‖ "meta"`, `0x01 ‖ address`, `0x02 ‖ address ‖ slot`;
    /// protocol entries `0x10 ‖ address` (ledger), `0x11`/`0x12`/`0x13 ‖ address` (sequencer,
    /// prover, validator), `0x14` (pot), `0x15 ‖ release u64 ‖ owner ‖ role u8` (unbonding),
    /// `0x16` (seed), `0x17`/`0x18`/`0x19 ‖ slot u64` (assignment, slot auction, revealed
    /// block), `0x1a ‖ height u64 ‖ index u32` (forced transaction), `0x1b ‖ consensus
    /// address` (a validator's seed commitment), `0x1c ‖ position u64` (freed proof index),
    /// `0x1d` (proof chain), `0x1e ‖ slot u64` (a slot that needs a proof), `0x1f` (epoch
    /// cursor), `0x20 ‖ epoch u64` (an epoch's aggregation), `0x21` (bridge state), `0x22 ‖
    /// epoch u64` (an epoch's attestation), `0x23 ‖ epoch u64 ‖ index u64` (a withdrawal),
    /// `0x24` (the L1 queue's consumption), `0x25 ‖ epoch u64` (the queue at an epoch's end),
    /// `0x26 ‖ epoch u64 ‖ owner` (a bond held until L1 finalizes the epoch), `0x27 ‖ epoch
    /// u64` (an epoch's verified L1 proof), `0x28 ‖ address` (an address's earnings and
    /// fines).
    pub fn encode(&self) -> Vec<u8> {
        let tagged = |tag: u8, a: &Address| {
            let mut v = Vec::with_capacity(21);
            v.push(tag);
            v.extend_from_slice(a.as_slice());
            v
        };
        match self {
            Self::Meta => vec![TAG_META, b'm', b'e', b't', b'a'],
            Self::Account(a) => {
                let mut v = Vec::with_capacity(21);
                v.push(TAG_ACCOUNT);
                v.extend_from_slice(a.as_slice());
                v
            }
            Self::Storage(a, slot) => {
                let mut v = Vec::with_capacity(53);
                v.push(TAG_STORAGE);
                v.extend_from_slice(a.as_slice());
                v.extend_from_slice(&slot.to_be_bytes::<32>());
                v
            }
            Self::Ledger(a) => tagged(TAG_LEDGER, a),
            Self::Sequencer(a) => tagged(TAG_SEQUENCER, a),
            Self::Prover(a) => tagged(TAG_PROVER, a),
            Self::Validator(a) => tagged(TAG_VALIDATOR, a),
            Self::Pot => vec![TAG_POT],
            Self::Unbonding {
                release,
                owner,
                role,
            } => {
                let mut v = Vec::with_capacity(30);
                v.push(TAG_UNBONDING);
                v.extend_from_slice(&release.to_be_bytes());
                v.extend_from_slice(owner.as_slice());
                v.push(*role as u8);
                v
            }
            Self::Seed => vec![TAG_SEED],
            Self::Assignment(slot) => tagged_u64(TAG_ASSIGNMENT, *slot),
            Self::Slot(slot) => tagged_u64(TAG_SLOT, *slot),
            Self::Reveal(slot) => tagged_u64(TAG_REVEAL, *slot),
            Self::Forced { height, index } => {
                let mut v = tagged_u64(TAG_FORCED, *height);
                v.extend_from_slice(&index.to_be_bytes());
                v
            }
            Self::SeedCommit(a) => tagged(TAG_SEED_COMMIT, a),
            Self::FreeProofIndex(p) => tagged_u64(TAG_FREE_PROOF_INDEX, *p),
            Self::ProofChain => vec![TAG_PROOF_CHAIN],
            Self::ProofSlot(slot) => tagged_u64(TAG_PROOF_SLOT, *slot),
            Self::EpochCursor => vec![TAG_EPOCH_CURSOR],
            Self::Epoch(e) => tagged_u64(TAG_EPOCH, *e),
            Self::Bridge => vec![TAG_BRIDGE],
            Self::Attestation(e) => tagged_u64(TAG_ATTESTATION, *e),
            Self::L1Queue => vec![TAG_L1_QUEUE],
            Self::QueueMark(e) => tagged_u64(TAG_QUEUE_MARK, *e),
            Self::HeldBond { epoch, owner } => {
                let mut v = tagged_u64(TAG_HELD_BOND, *epoch);
                v.extend_from_slice(owner.as_slice());
                v
            }
            Self::L1Proof(e) => tagged_u64(TAG_L1_PROOF, *e),
            Self::Earnings(a) => tagged(TAG_EARNINGS, a),
            Self::Withdrawal { epoch, index } => {
                let mut v = tagged_u64(TAG_WITHDRAWAL, *epoch);
                v.extend_from_slice(&index.to_be_bytes());
                v
            }
        }
    }

    /// Decodes one key from the front of `buf`, advancing it.
    pub fn decode_from(buf: &mut &[u8]) -> Result<Self> {
        let tag = take(buf, 1, "state key tag")?[0];
        match tag {
            TAG_META => {
                let name = take(buf, 4, "meta key")?;
                if name != b"meta" {
                    return Err(DecodeError::Tag {
                        what: "meta key",
                        tag: name[0],
                    });
                }
                Ok(Self::Meta)
            }
            TAG_ACCOUNT => Ok(Self::Account(Address::from_slice(take(
                buf, 20, "address",
            )?))),
            TAG_STORAGE => {
                let a = Address::from_slice(take(buf, 20, "address")?);
                Ok(Self::Storage(a, take_u256(buf, "storage slot")?))
            }
            TAG_LEDGER => Ok(Self::Ledger(take_address(buf)?)),
            TAG_SEQUENCER => Ok(Self::Sequencer(take_address(buf)?)),
            TAG_PROVER => Ok(Self::Prover(take_address(buf)?)),
            TAG_VALIDATOR => Ok(Self::Validator(take_address(buf)?)),
            TAG_POT => Ok(Self::Pot),
            TAG_SEED_COMMIT => Ok(Self::SeedCommit(take_address(buf)?)),
            TAG_SEED => Ok(Self::Seed),
            TAG_PROOF_CHAIN => Ok(Self::ProofChain),
            TAG_PROOF_SLOT => Ok(Self::ProofSlot(crate::take_u64(buf, "slot")?)),
            TAG_EPOCH_CURSOR => Ok(Self::EpochCursor),
            TAG_EPOCH => Ok(Self::Epoch(crate::take_u64(buf, "epoch")?)),
            TAG_BRIDGE => Ok(Self::Bridge),
            TAG_ATTESTATION => Ok(Self::Attestation(crate::take_u64(buf, "epoch")?)),
            TAG_L1_QUEUE => Ok(Self::L1Queue),
            TAG_QUEUE_MARK => Ok(Self::QueueMark(crate::take_u64(buf, "epoch")?)),
            TAG_HELD_BOND => Ok(Self::HeldBond {
                epoch: crate::take_u64(buf, "epoch")?,
                owner: take_address(buf)?,
            }),
            TAG_L1_PROOF => Ok(Self::L1Proof(crate::take_u64(buf, "epoch")?)),
            TAG_EARNINGS => Ok(Self::Earnings(take_address(buf)?)),
            TAG_WITHDRAWAL => Ok(Self::Withdrawal {
                epoch: crate::take_u64(buf, "withdrawal epoch")?,
                index: crate::take_u64(buf, "withdrawal index")?,
            }),
            TAG_ASSIGNMENT => Ok(Self::Assignment(crate::take_u64(buf, "slot")?)),
            TAG_SLOT => Ok(Self::Slot(crate::take_u64(buf, "slot")?)),
            TAG_REVEAL => Ok(Self::Reveal(crate::take_u64(buf, "slot")?)),
            TAG_FREE_PROOF_INDEX => Ok(Self::FreeProofIndex(crate::take_u64(
                buf,
                "free index position",
            )?)),
            TAG_FORCED => {
                let height = crate::take_u64(buf, "forced height")?;
                let index = take(buf, 4, "forced index")?;
                Ok(Self::Forced {
                    height,
                    index: u32::from_be_bytes(index.try_into().expect("take returned 4 bytes")),
                })
            }
            TAG_UNBONDING => {
                let release = crate::take_u64(buf, "unbonding release height")?;
                let owner = take_address(buf)?;
                let role = crate::Role::from_u8(take(buf, 1, "role")?[0])?;
                Ok(Self::Unbonding {
                    release,
                    owner,
                    role,
                })
            }
            tag => Err(DecodeError::Tag {
                what: "state key",
                tag,
            }),
        }
    }

    /// Decodes exactly one key.
    pub fn decode(mut bytes: &[u8]) -> Result<Self> {
        let k = Self::decode_from(&mut bytes)?;
        if !bytes.is_empty() {
            return Err(DecodeError::Length {
                what: "state key",
                expected: 0,
                got: bytes.len(),
            });
        }
        Ok(k)
    }

    /// The key's path in the app-hash tree: `keccak256(encode())`.
    pub fn path(&self) -> alloy_primitives::B256 {
        keccak256(self.encode())
    }

    /// Whether this entry belongs to the EVM state (and so to diffs and the proof tree).
    pub fn is_evm(&self) -> bool {
        matches!(self, Self::Account(_) | Self::Storage(..))
    }

    /// The range of epoch `epoch`'s withdrawals, in index order.
    pub fn withdrawals_of(epoch: u64) -> std::ops::RangeInclusive<Self> {
        Self::Withdrawal { epoch, index: 0 }..=Self::Withdrawal {
            epoch,
            index: u64::MAX,
        }
    }

    /// The range of every queued forced transaction, oldest first.
    pub fn forced_all() -> std::ops::RangeInclusive<Self> {
        Self::Forced {
            height: 0,
            index: 0,
        }..=Self::Forced {
            height: u64::MAX,
            index: u32::MAX,
        }
    }

    /// The range of every unbonding entry released at or before `height`, in release order.
    pub fn unbonding_due(height: u64) -> std::ops::RangeInclusive<Self> {
        let first = Self::Unbonding {
            release: 0,
            owner: Address::ZERO,
            role: crate::Role::Sequencer,
        };
        let last = Self::Unbonding {
            release: height,
            owner: Address::repeat_byte(0xff),
            role: crate::Role::Validator,
        };
        first..=last
    }
}

fn tagged_u64(tag: u8, n: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(13);
    v.push(tag);
    v.extend_from_slice(&n.to_be_bytes());
    v
}

fn take_address(buf: &mut &[u8]) -> Result<Address> {
    Ok(Address::from_slice(take(buf, 20, "address")?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn roundtrip_and_order(a in any::<[u8; 20]>(), b in any::<[u8; 20]>(), s in any::<[u8; 32]>(), t in any::<[u8; 32]>(), h in any::<u64>(), g in any::<u64>()) {
            let (a, b) = (Address::from(a), Address::from(b));
            let keys = [
                StateKey::Meta,
                StateKey::Account(a),
                StateKey::Account(b),
                StateKey::Storage(a, U256::from_be_bytes(s)),
                StateKey::Storage(b, U256::from_be_bytes(t)),
                StateKey::Ledger(a),
                StateKey::Ledger(b),
                StateKey::Sequencer(a),
                StateKey::Prover(b),
                StateKey::Validator(a),
                StateKey::Pot,
                StateKey::Unbonding { release: h, owner: a, role: crate::Role::Prover },
                StateKey::Unbonding { release: g, owner: b, role: crate::Role::Sequencer },
                StateKey::Unbonding { release: h, owner: a, role: crate::Role::Validator },
                StateKey::Seed,
                StateKey::Assignment(h),
                StateKey::Assignment(g),
                StateKey::Slot(h),
                StateKey::Slot(g),
                StateKey::Reveal(h),
                StateKey::Forced { height: h, index: (g >> 32) as u32 },
                StateKey::Forced { height: g, index: h as u32 },
                StateKey::SeedCommit(a),
                StateKey::SeedCommit(b),
                StateKey::FreeProofIndex(h),
                StateKey::FreeProofIndex(g),
                StateKey::ProofChain,
                StateKey::ProofSlot(h),
                StateKey::ProofSlot(g),
                StateKey::EpochCursor,
                StateKey::Epoch(h),
                StateKey::Epoch(g),
                StateKey::Bridge,
                StateKey::Attestation(h),
                StateKey::Attestation(g),
                StateKey::Withdrawal { epoch: h, index: g },
                StateKey::Withdrawal { epoch: g, index: h },
                StateKey::L1Queue,
                StateKey::QueueMark(h),
                StateKey::QueueMark(g),
                StateKey::HeldBond { epoch: h, owner: a },
                StateKey::HeldBond { epoch: g, owner: b },
                StateKey::L1Proof(h),
                StateKey::L1Proof(g),
                StateKey::Earnings(a),
                StateKey::Earnings(b),
            ];
            for x in &keys {
                prop_assert_eq!(StateKey::decode(&x.encode()).expect("decodes"), *x);
                for y in &keys {
                    // The derived order is the byte order of the encodings.
                    prop_assert_eq!(x.cmp(y), x.encode().cmp(&y.encode()));
                }
            }
        }
    }

    /// A slot that shares all but its last `n` bytes with `base`: many such slots have long
    /// common prefixes, where a byte-order or width mistake in the encoding would show.
    fn near(base: [u8; 32], n: usize, tail: [u8; 32]) -> U256 {
        let mut b = base;
        b[32 - n..].copy_from_slice(&tail[32 - n..]);
        U256::from_be_bytes(b)
    }

    proptest! {
        /// The storage keys of one address sort by slot number (as U256, not by any byte
        /// string of it), both in the derived order and in the encoded bytes; so a diff over
        /// them is canonical exactly in slot order.
        #[test]
        fn storage_keys_of_one_address_ordered_by_slot(
            a in any::<[u8; 20]>(),
            base in any::<[u8; 32]>(),
            picks in proptest::collection::vec((0usize..=32, any::<[u8; 32]>()), 1..24),
            small in proptest::collection::vec(any::<u64>(), 0..6),
        ) {
            let address = Address::from(a);
            let mut slots: Vec<U256> = picks.iter().map(|(n, t)| near(base, *n, *t)).collect();
            slots.extend(small.iter().map(|s| U256::from(*s)));
            // Width boundaries: 0, 255/256, 2^64 - 1 / 2^64, the largest slot.
            slots.extend([
                U256::ZERO,
                U256::from(255u64),
                U256::from(256u64),
                U256::from(u64::MAX),
                U256::from(u64::MAX) + U256::from(1u64),
                U256::MAX,
            ]);
            slots.sort_unstable();
            slots.dedup();
            let keys: Vec<StateKey> = slots.iter().map(|s| StateKey::Storage(address, *s)).collect();
            for w in keys.windows(2) {
                prop_assert!(w[0] < w[1], "{:?} !< {:?}", w[0], w[1]);
                prop_assert!(w[0].encode() < w[1].encode(), "encoding of {:?} !< {:?}", w[0], w[1]);
            }
            // The account entry precedes all of its slots.
            prop_assert!(StateKey::Account(address) < keys[0]);
            prop_assert!(StateKey::Account(address).encode() < keys[0].encode());

            let entry = |key: StateKey, i: usize| crate::DiffEntry {
                key,
                index: i as u64,
                old: None,
                new: Some(crate::LeafValue::Storage(U256::from(i + 1))),
            };
            let diff = crate::StateDiff(keys.iter().enumerate().map(|(i, k)| entry(*k, i)).collect());
            prop_assert_eq!(diff.validate(), Ok(()));
            prop_assert_eq!(crate::StateDiff::decode(&diff.encode()), Ok(diff.clone()));
            // Two neighbouring slots out of order is not canonical.
            for i in 1..keys.len() {
                let mut swapped = diff.clone();
                swapped.0.swap(i - 1, i);
                prop_assert_eq!(swapped.validate(), Err(crate::diff::DiffError::Order(i)));
            }
        }
    }

    proptest! {
        /// `unbonding_due(h)` holds exactly the entries released at or before `h`, whatever
        /// their owner and role.
        #[test]
        fn unbonding_due_is_release_at_or_before(h in 0u64..u64::MAX, r in any::<u64>(), o in any::<[u8; 20]>(), role in 1u8..=3) {
            let role = crate::Role::from_u8(role).expect("valid role");
            let k = StateKey::Unbonding { release: r, owner: Address::from(o), role };
            prop_assert_eq!(StateKey::unbonding_due(h).contains(&k), r <= h);
            prop_assert!(!StateKey::unbonding_due(h).contains(&StateKey::Pot));
            prop_assert!(!StateKey::unbonding_due(h).contains(&StateKey::Ledger(Address::from(o))));
        }
    }

    #[test]
    fn only_accounts_and_storage_are_evm_state() {
        let a = Address::repeat_byte(3);
        for k in [
            StateKey::Meta,
            StateKey::Ledger(a),
            StateKey::Sequencer(a),
            StateKey::Prover(a),
            StateKey::Validator(a),
            StateKey::Pot,
            StateKey::Unbonding {
                release: 1,
                owner: a,
                role: crate::Role::Prover,
            },
            StateKey::FreeProofIndex(0),
            StateKey::ProofChain,
            StateKey::ProofSlot(1),
            StateKey::Earnings(a),
        ] {
            assert!(!k.is_evm(), "{k:?}");
        }
        assert!(StateKey::Account(a).is_evm());
        assert!(StateKey::Storage(a, U256::ZERO).is_evm());
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(
            StateKey::decode(&[0x07]),
            Err(DecodeError::Tag {
                what: "state key",
                tag: 0x07
            })
        );
        assert_eq!(
            StateKey::decode(&[0x01, 1, 2]),
            Err(DecodeError::Length {
                what: "address",
                expected: 20,
                got: 2
            })
        );
        assert_eq!(
            StateKey::decode(&[
                0x15, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0, 0, 9
            ]),
            Err(DecodeError::Tag {
                what: "role",
                tag: 9
            })
        );
        assert_eq!(
            StateKey::decode(b"\x00mexa"),
            Err(DecodeError::Tag {
                what: "meta key",
                tag: b'm'
            })
        );
        let mut k = StateKey::Account(Address::ZERO).encode();
        k.push(0);
        assert_eq!(
            StateKey::decode(&k),
            Err(DecodeError::Length {
                what: "state key",
                expected: 0,
                got: 1
            })
        );
        // Every key survives the round trip, the meta key included.
        for key in [
            StateKey::Meta,
            StateKey::Account(Address::repeat_byte(9)),
            StateKey::Storage(Address::repeat_byte(9), U256::MAX),
        ] {
            assert_eq!(StateKey::decode(&key.encode()), Ok(key));
        }
    }
}
