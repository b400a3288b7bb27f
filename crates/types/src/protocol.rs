//! Values of the protocol ledger and the registries (DESIGN §3 "Registries and the protocol
//! ledger"): state in the app hash, outside the EVM state and the proof tree.
//!
//! Every value is `0x01 (version) ‖ fields`, fixed width, big-endian; amounts are 32-byte wei.
//! Decoding refuses another version, a short input and trailing bytes.

use alloy_primitives::{Address, B256, U256};
use serde::{Deserialize, Serialize};

use crate::{DecodeError, Result, take, take_u64, take_u256};

const VERSION: u8 = 0x01;

/// A role an address can bond for. The discriminant is its byte in keys and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Role {
    /// Builds L2 blocks and bids for slots.
    Sequencer = 1,
    /// Is drawn for slots and proves them.
    Prover = 2,
    /// Runs a CometBFT validator and attests epochs for L1.
    Validator = 3,
}

impl Role {
    /// The role with discriminant `b`.
    pub fn from_u8(b: u8) -> Result<Self> {
        match b {
            1 => Ok(Self::Sequencer),
            2 => Ok(Self::Prover),
            3 => Ok(Self::Validator),
            tag => Err(DecodeError::Tag { what: "role", tag }),
        }
    }

    /// Lower-case name, as the RPC and the docs spell it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sequencer => "sequencer",
            Self::Prover => "prover",
            Self::Validator => "validator",
        }
    }
}

/// Reads the version byte of a protocol value (shared with [`crate::proving`]).
pub(crate) fn version(buf: &mut &[u8], what: &'static str) -> Result<()> {
    let v = take(buf, 1, what)?[0];
    if v != VERSION {
        return Err(DecodeError::Tag { what, tag: v });
    }
    Ok(())
}

/// Refuses bytes left after a protocol value.
pub(crate) fn end(buf: &[u8], what: &'static str) -> Result<()> {
    if buf.is_empty() {
        Ok(())
    } else {
        Err(DecodeError::Length {
            what,
            expected: 0,
            got: buf.len(),
        })
    }
}

fn take_bool(buf: &mut &[u8], what: &'static str) -> Result<bool> {
    match take(buf, 1, what)?[0] {
        0 => Ok(false),
        1 => Ok(true),
        tag => Err(DecodeError::Tag { what, tag }),
    }
}

/// An address's protocol-ledger account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LedgerAccount {
    /// Wei held in the ledger (funded from the EVM, released bonds, rewards).
    pub balance: U256,
    /// Protocol messages of this address executed so far: the nonce its next message carries.
    pub nonce: u64,
}

impl LedgerAccount {
    /// `0x01 ‖ balance ‖ nonce u64`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(41);
        v.push(VERSION);
        v.extend_from_slice(&self.balance.to_be_bytes::<32>());
        v.extend_from_slice(&self.nonce.to_be_bytes());
        v
    }

    /// Decodes [`Self::encode`]'s output.
    pub fn decode(mut bytes: &[u8]) -> Result<Self> {
        let b = &mut bytes;
        version(b, "ledger account version")?;
        let v = Self {
            balance: take_u256(b, "ledger balance")?,
            nonce: take_u64(b, "protocol nonce")?,
        };
        end(b, "ledger account")?;
        Ok(v)
    }

    /// Whether the entry holds nothing worth storing (it is then deleted).
    pub fn is_empty(&self) -> bool {
        self.balance.is_zero() && self.nonce == 0
    }
}

/// A registered sequencer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequencerEntry {
    /// Bond in wei: fined when the sequencer withholds a won block.
    pub bond: U256,
    /// Height at which it registered.
    pub since: u64,
}

impl SequencerEntry {
    /// `0x01 ‖ bond ‖ since u64`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(41);
        v.push(VERSION);
        v.extend_from_slice(&self.bond.to_be_bytes::<32>());
        v.extend_from_slice(&self.since.to_be_bytes());
        v
    }

    /// Decodes [`Self::encode`]'s output.
    pub fn decode(mut bytes: &[u8]) -> Result<Self> {
        let b = &mut bytes;
        version(b, "sequencer entry version")?;
        let v = Self {
            bond: take_u256(b, "sequencer bond")?,
            since: take_u64(b, "sequencer since")?,
        };
        end(b, "sequencer entry")?;
        Ok(v)
    }
}

/// Reputation is fixed-point with this many units for 1.0 (DESIGN §3 "Reputation").
pub const REPUTATION_ONE: u64 = 1_000_000;

/// A registered prover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProverEntry {
    /// Stake in wei: weighs the draw and is slashed for missed proofs.
    pub stake: U256,
    /// Reputation in millionths ([`REPUTATION_ONE`] = 1.0).
    pub reputation: u64,
    /// Height of its last heartbeat (or of its registration).
    pub last_heartbeat: u64,
}

impl ProverEntry {
    /// `0x01 ‖ stake ‖ reputation u64 ‖ last_heartbeat u64`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(49);
        v.push(VERSION);
        v.extend_from_slice(&self.stake.to_be_bytes::<32>());
        v.extend_from_slice(&self.reputation.to_be_bytes());
        v.extend_from_slice(&self.last_heartbeat.to_be_bytes());
        v
    }

    /// Decodes [`Self::encode`]'s output.
    pub fn decode(mut bytes: &[u8]) -> Result<Self> {
        let b = &mut bytes;
        version(b, "prover entry version")?;
        let v = Self {
            stake: take_u256(b, "prover stake")?,
            reputation: take_u64(b, "prover reputation")?,
            last_heartbeat: take_u64(b, "prover heartbeat")?,
        };
        end(b, "prover entry")?;
        Ok(v)
    }

    /// Whether the prover counts as active at `height`: it sent a heartbeat (or registered)
    /// within the last `grace` heights (DESIGN §3.10).
    pub fn is_active(&self, height: u64, grace: u64) -> bool {
        height.saturating_sub(self.last_heartbeat) <= grace
    }
}

/// A registered validator, keyed by its operator address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorEntry {
    /// Bond in wei; its voting power is `bond / power_unit`.
    pub bond: U256,
    /// The CometBFT ed25519 public key of its node.
    pub consensus_key: [u8; 32],
    /// The address of its secp256k1 bridge key (signs epochs for L1).
    pub bridge_key: Address,
    /// Voting power CometBFT has been told (0: not in the set). Changes only at epoch
    /// boundaries, by at most a third of the total power per epoch (DESIGN §6).
    pub power: u64,
    /// The operator asked to leave: its power goes to 0 at a coming boundary, then the bond
    /// is released after the unbonding delay.
    pub leaving: bool,
}

impl ValidatorEntry {
    /// `0x01 ‖ bond ‖ consensus_key ‖ bridge_key ‖ power u64 ‖ leaving u8`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(94);
        v.push(VERSION);
        v.extend_from_slice(&self.bond.to_be_bytes::<32>());
        v.extend_from_slice(&self.consensus_key);
        v.extend_from_slice(self.bridge_key.as_slice());
        v.extend_from_slice(&self.power.to_be_bytes());
        v.push(u8::from(self.leaving));
        v
    }

    /// Decodes [`Self::encode`]'s output.
    pub fn decode(mut bytes: &[u8]) -> Result<Self> {
        let b = &mut bytes;
        version(b, "validator entry version")?;
        let v = Self {
            bond: take_u256(b, "validator bond")?,
            consensus_key: take(b, 32, "consensus key")?
                .try_into()
                .expect("take returned 32 bytes"),
            bridge_key: Address::from_slice(take(b, 20, "bridge key")?),
            power: take_u64(b, "validator power")?,
            leaving: take_bool(b, "validator leaving")?,
        };
        end(b, "validator entry")?;
        Ok(v)
    }
}

/// The protocol's own balances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Pot {
    /// Base fees (less the burned share) and message fees, paid out to provers.
    pub proving_pot: U256,
    /// Everything burned so far (the base-fee burn share, withheld escrow, fines).
    pub burned: U256,
}

impl Pot {
    /// `0x01 ‖ proving_pot ‖ burned`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(65);
        v.push(VERSION);
        v.extend_from_slice(&self.proving_pot.to_be_bytes::<32>());
        v.extend_from_slice(&self.burned.to_be_bytes::<32>());
        v
    }

    /// Decodes [`Self::encode`]'s output.
    pub fn decode(mut bytes: &[u8]) -> Result<Self> {
        let b = &mut bytes;
        version(b, "pot version")?;
        let v = Self {
            proving_pot: take_u256(b, "proving pot")?,
            burned: take_u256(b, "burned")?,
        };
        end(b, "pot")?;
        Ok(v)
    }
}

/// An address's protocol income and penalties, summed since genesis (bookkeeping beside the
/// ledger: it moves no value). `earned` counts what the protocol paid into the address's
/// ledger account as a prover or aggregator (bids, fee shares, fallback shares, bounties,
/// kept slashes), not refunds; `fined` counts what was taken from its bonds or stakes (as a
/// sequencer or a prover), burned or passed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Earnings {
    /// Wei paid to the address by the protocol.
    pub earned: U256,
    /// Wei taken from the address's bonds and stakes.
    pub fined: U256,
}

impl Earnings {
    /// `0x01 ‖ earned ‖ fined`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(65);
        v.push(VERSION);
        v.extend_from_slice(&self.earned.to_be_bytes::<32>());
        v.extend_from_slice(&self.fined.to_be_bytes::<32>());
        v
    }

    /// Decodes [`Self::encode`]'s output.
    pub fn decode(mut bytes: &[u8]) -> Result<Self> {
        let b = &mut bytes;
        version(b, "earnings version")?;
        let v = Self {
            earned: take_u256(b, "earned")?,
            fined: take_u256(b, "fined")?,
        };
        end(b, "earnings")?;
        Ok(v)
    }
}

/// A validator's commitment to its next seed contribution (ADR 0009): the epoch whose
/// secret it committed to, and `keccak256("parley/seed-commit/v1" ‖ secret)`. Its next
/// vote extension at a reveal height must open it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedCommit {
    /// The epoch of the committed secret.
    pub epoch: u64,
    /// The commitment.
    pub hash: B256,
}

impl SeedCommit {
    /// `0x01 ‖ epoch u64 ‖ hash`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(41);
        v.push(VERSION);
        v.extend_from_slice(&self.epoch.to_be_bytes());
        v.extend_from_slice(self.hash.as_slice());
        v
    }

    /// Decodes [`Self::encode`]'s output.
    pub fn decode(mut bytes: &[u8]) -> Result<Self> {
        let b = &mut bytes;
        version(b, "seed commit version")?;
        let epoch = take_u64(b, "seed commit epoch")?;
        let hash = B256::from_slice(take(b, 32, "seed commit hash")?);
        end(b, "seed commit")?;
        Ok(Self { epoch, hash })
    }
}

/// The provers drawn for one slot, with the stake each had at the draw (rewards and slashes
/// use this snapshot, DESIGN §3).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Assignment {
    /// (prover, stake at the draw), in draw order.
    pub provers: Vec<(Address, U256)>,
}

impl Assignment {
    /// `0x01 ‖ count u8 ‖ (address ‖ stake)*`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(2 + 52 * self.provers.len());
        v.push(VERSION);
        v.push(u8::try_from(self.provers.len()).expect("at most 255 provers per slot"));
        for (a, s) in &self.provers {
            v.extend_from_slice(a.as_slice());
            v.extend_from_slice(&s.to_be_bytes::<32>());
        }
        v
    }

    /// Decodes [`Self::encode`]'s output.
    pub fn decode(mut bytes: &[u8]) -> Result<Self> {
        let b = &mut bytes;
        version(b, "assignment version")?;
        let n = take(b, 1, "assignment count")?[0];
        let mut provers = Vec::with_capacity(usize::from(n));
        for _ in 0..n {
            let a = Address::from_slice(take(b, 20, "assigned prover")?);
            provers.push((a, take_u256(b, "assigned stake")?));
        }
        end(b, "assignment")?;
        Ok(Self { provers })
    }
}

/// One escrowed bid of a slot's sealed-bid auction (DESIGN §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BidEntry {
    /// The bidding sequencer (one bid per sequencer and slot; a higher one replaces it).
    pub sequencer: Address,
    /// `keccak256(chain_id, slot, builder, gas_limit, ordered tx hashes)` of its block.
    pub commitment: B256,
    /// Wei escrowed from the sequencer's ledger balance.
    pub amount: U256,
    /// Inclusion order among the slot's bids (ties go to the lowest).
    pub order: u32,
}

/// Who chose a slot's winning bid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    /// The assigned prover, with a `Select` message.
    Prover(Address),
    /// The app at the end of the select window (no `Select` arrived; no one is penalized).
    App,
}

/// Where a slot's auction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum SlotState {
    /// Taking bids, or selected and waiting for the reveal.
    Open = 0,
    /// The winner revealed its block; it executes at the slot's height.
    Revealed = 1,
    /// Executed with a non-empty diff: the winning escrow waits for the slot's proof.
    Executed = 2,
    /// Executed with an empty diff: the winning escrow went to the assigned prover(s).
    Settled = 3,
    /// The winner did not reveal in time: the slot executed empty, the escrow was split and
    /// the sequencer's bond fined.
    Withheld = 4,
}

impl SlotState {
    fn from_u8(b: u8) -> Result<Self> {
        Ok(match b {
            0 => Self::Open,
            1 => Self::Revealed,
            2 => Self::Executed,
            3 => Self::Settled,
            4 => Self::Withheld,
            tag => {
                return Err(DecodeError::Tag {
                    what: "slot state",
                    tag,
                });
            }
        })
    }

    /// Lower-case name (RPC, logs).
    pub fn name(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Revealed => "revealed",
            Self::Executed => "executed",
            Self::Settled => "settled",
            Self::Withheld => "withheld",
        }
    }
}

/// One slot's auction (DESIGN §3 steps 2–5). Before the selection `bids` holds every open bid;
/// after it, only the winner (the others were refunded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotEntry {
    /// The `order` the next bid gets.
    pub next_order: u32,
    /// The escrowed bids, in inclusion order.
    pub bids: Vec<BidEntry>,
    /// Set once the winner is chosen (then `bids` is exactly the winner).
    pub selected: Option<Selection>,
    /// What became of the slot.
    pub state: SlotState,
}

impl SlotEntry {
    /// The highest bid (ties: the earliest included), if any.
    pub fn highest(&self) -> Option<&BidEntry> {
        self.bids
            .iter()
            .min_by(|a, b| b.amount.cmp(&a.amount).then(a.order.cmp(&b.order)))
    }

    /// The winning bid, once selected.
    pub fn winner(&self) -> Option<&BidEntry> {
        self.selected.and(self.bids.first())
    }

    /// Wei this entry holds in escrow (every bid while open or awaiting its proof; nothing
    /// once settled or withheld).
    pub fn escrow(&self) -> U256 {
        match self.state {
            SlotState::Open | SlotState::Revealed | SlotState::Executed => self
                .bids
                .iter()
                .map(|b| b.amount)
                .fold(U256::ZERO, |a, b| a.saturating_add(b)),
            SlotState::Settled | SlotState::Withheld => U256::ZERO,
        }
    }

    /// `0x01 ‖ next_order u32 ‖ count u32 ‖ (sequencer ‖ commitment ‖ amount ‖ order u32)* ‖
    /// selection u8 (0 none, 1 prover, 2 app) [‖ prover] ‖ state u8`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(32 + 88 * self.bids.len());
        v.push(VERSION);
        v.extend_from_slice(&self.next_order.to_be_bytes());
        let n = u32::try_from(self.bids.len()).expect("bids per slot fit u32");
        v.extend_from_slice(&n.to_be_bytes());
        for b in &self.bids {
            v.extend_from_slice(b.sequencer.as_slice());
            v.extend_from_slice(b.commitment.as_slice());
            v.extend_from_slice(&b.amount.to_be_bytes::<32>());
            v.extend_from_slice(&b.order.to_be_bytes());
        }
        match self.selected {
            None => v.push(0),
            Some(Selection::Prover(p)) => {
                v.push(1);
                v.extend_from_slice(p.as_slice());
            }
            Some(Selection::App) => v.push(2),
        }
        v.push(self.state as u8);
        v
    }

    /// Decodes [`Self::encode`]'s output.
    pub fn decode(mut bytes: &[u8]) -> Result<Self> {
        let b = &mut bytes;
        version(b, "slot entry version")?;
        let next_order = take_u32(b, "slot next order")?;
        let n = take_u32(b, "slot bid count")?;
        // Each bid is 88 bytes: a count the input cannot hold is refused before allocating.
        if (n as usize).saturating_mul(88) > b.len() {
            return Err(DecodeError::Length {
                what: "slot bids",
                expected: (n as usize).saturating_mul(88),
                got: b.len(),
            });
        }
        let mut bids = Vec::with_capacity(n as usize);
        for _ in 0..n {
            bids.push(BidEntry {
                sequencer: Address::from_slice(take(b, 20, "bid sequencer")?),
                commitment: B256::from_slice(take(b, 32, "bid commitment")?),
                amount: take_u256(b, "bid amount")?,
                order: take_u32(b, "bid order")?,
            });
        }
        let selected = match take(b, 1, "slot selection")?[0] {
            0 => None,
            1 => Some(Selection::Prover(Address::from_slice(take(
                b,
                20,
                "selecting prover",
            )?))),
            2 => Some(Selection::App),
            tag => {
                return Err(DecodeError::Tag {
                    what: "slot selection",
                    tag,
                });
            }
        };
        let state = SlotState::from_u8(take(b, 1, "slot state")?[0])?;
        end(b, "slot entry")?;
        Ok(Self {
            next_order,
            bids,
            selected,
            state,
        })
    }
}

/// The block a slot's winner revealed: the gas limit and transactions its commitment covers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RevealedBlock {
    /// The block's gas limit (at most the chain's).
    pub gas_limit: u64,
    /// Signed EIP-2718 transactions, in execution order.
    pub txs: Vec<alloy_primitives::Bytes>,
}

impl RevealedBlock {
    /// `0x01 ‖ gas_limit u64 ‖ count u32 ‖ (len u32 ‖ bytes)*`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(13 + self.txs.iter().map(|t| 4 + t.len()).sum::<usize>());
        v.push(VERSION);
        v.extend_from_slice(&self.gas_limit.to_be_bytes());
        let n = u32::try_from(self.txs.len()).expect("txs per block fit u32");
        v.extend_from_slice(&n.to_be_bytes());
        for t in &self.txs {
            let len = u32::try_from(t.len()).expect("a transaction fits u32 bytes");
            v.extend_from_slice(&len.to_be_bytes());
            v.extend_from_slice(t);
        }
        v
    }

    /// Decodes [`Self::encode`]'s output.
    pub fn decode(mut bytes: &[u8]) -> Result<Self> {
        let b = &mut bytes;
        version(b, "revealed block version")?;
        let gas_limit = take_u64(b, "revealed gas limit")?;
        let n = take_u32(b, "revealed tx count")?;
        let mut txs = Vec::with_capacity((n as usize).min(b.len() / 4));
        for _ in 0..n {
            let len = take_u32(b, "revealed tx length")? as usize;
            txs.push(alloy_primitives::Bytes::copy_from_slice(take(
                b,
                len,
                "revealed tx",
            )?));
        }
        end(b, "revealed block")?;
        Ok(Self { gas_limit, txs })
    }
}

/// `0x01 ‖ raw tx`: the value of a queued forced transaction.
pub fn encode_forced(raw: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(1 + raw.len());
    v.push(VERSION);
    v.extend_from_slice(raw);
    v
}

/// Decodes [`encode_forced`]'s output.
pub fn decode_forced(mut bytes: &[u8]) -> Result<Vec<u8>> {
    let b = &mut bytes;
    version(b, "forced tx version")?;
    if b.is_empty() {
        return Err(DecodeError::Length {
            what: "forced tx",
            expected: 1,
            got: 0,
        });
    }
    Ok(b.to_vec())
}

fn take_u32(buf: &mut &[u8], what: &'static str) -> Result<u32> {
    Ok(u32::from_be_bytes(
        take(buf, 4, what)?
            .try_into()
            .expect("take returned 4 bytes"),
    ))
}

/// `0x01 ‖ amount`: the value of an unbonding entry.
pub fn encode_amount(amount: U256) -> Vec<u8> {
    let mut v = Vec::with_capacity(33);
    v.push(VERSION);
    v.extend_from_slice(&amount.to_be_bytes::<32>());
    v
}

/// Decodes [`encode_amount`]'s output.
pub fn decode_amount(mut bytes: &[u8]) -> Result<U256> {
    let b = &mut bytes;
    version(b, "amount version")?;
    let v = take_u256(b, "amount")?;
    end(b, "amount")?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn u256() -> impl Strategy<Value = U256> {
        any::<[u8; 32]>().prop_map(U256::from_be_bytes)
    }

    proptest! {
        #[test]
        fn values_roundtrip_and_refuse_damage(
            bal in u256(), nonce in any::<u64>(), since in any::<u64>(), rep in any::<u64>(),
            key in any::<[u8; 32]>(), bridge in any::<[u8; 20]>(), power in any::<u64>(), leaving in any::<bool>(),
            cut in 0usize..40,
        ) {
            let encodings = [
                LedgerAccount { balance: bal, nonce }.encode(),
                SequencerEntry { bond: bal, since }.encode(),
                ProverEntry { stake: bal, reputation: rep, last_heartbeat: since }.encode(),
                ValidatorEntry { bond: bal, consensus_key: key, bridge_key: Address::from(bridge), power, leaving }.encode(),
                Pot { proving_pot: bal, burned: U256::from(nonce) }.encode(),
                encode_amount(bal),
                Assignment { provers: vec![(Address::from(bridge), bal), (Address::ZERO, U256::from(since))] }.encode(),
                SeedCommit { epoch: since, hash: B256::from(key) }.encode(),
                Earnings { earned: bal, fined: U256::from(since) }.encode(),
            ];
            prop_assert_eq!(LedgerAccount::decode(&encodings[0]), Ok(LedgerAccount { balance: bal, nonce }));
            prop_assert_eq!(SequencerEntry::decode(&encodings[1]), Ok(SequencerEntry { bond: bal, since }));
            prop_assert_eq!(ProverEntry::decode(&encodings[2]), Ok(ProverEntry { stake: bal, reputation: rep, last_heartbeat: since }));
            prop_assert_eq!(
                ValidatorEntry::decode(&encodings[3]),
                Ok(ValidatorEntry { bond: bal, consensus_key: key, bridge_key: Address::from(bridge), power, leaving })
            );
            prop_assert_eq!(Pot::decode(&encodings[4]), Ok(Pot { proving_pot: bal, burned: U256::from(nonce) }));
            prop_assert_eq!(decode_amount(&encodings[5]), Ok(bal));
            prop_assert_eq!(
                Assignment::decode(&encodings[6]),
                Ok(Assignment { provers: vec![(Address::from(bridge), bal), (Address::ZERO, U256::from(since))] })
            );
            prop_assert_eq!(SeedCommit::decode(&encodings[7]), Ok(SeedCommit { epoch: since, hash: B256::from(key) }));
            prop_assert_eq!(Earnings::decode(&encodings[8]), Ok(Earnings { earned: bal, fined: U256::from(since) }));
            let decoders: [fn(&[u8]) -> bool; 9] = [
                |b| LedgerAccount::decode(b).is_ok(),
                |b| SequencerEntry::decode(b).is_ok(),
                |b| ProverEntry::decode(b).is_ok(),
                |b| ValidatorEntry::decode(b).is_ok(),
                |b| Pot::decode(b).is_ok(),
                |b| decode_amount(b).is_ok(),
                |b| Assignment::decode(b).is_ok(),
                |b| SeedCommit::decode(b).is_ok(),
                |b| Earnings::decode(b).is_ok(),
            ];
            for (bytes, ok) in encodings.iter().zip(decoders) {
                // Truncated, extended or of another version: refused.
                let n = cut.min(bytes.len() - 1);
                prop_assert!(!ok(&bytes[..n]));
                let mut longer = bytes.clone();
                longer.push(0);
                prop_assert!(!ok(&longer));
                let mut other = bytes.clone();
                other[0] = 2;
                prop_assert!(!ok(&other));
            }
        }
    }

    fn slot_entry() -> impl Strategy<Value = SlotEntry> {
        let bid = (any::<[u8; 20]>(), any::<[u8; 32]>(), u256(), any::<u32>()).prop_map(
            |(s, c, amount, order)| BidEntry {
                sequencer: Address::from(s),
                commitment: B256::from(c),
                amount,
                order,
            },
        );
        let selection = prop_oneof![
            Just(None),
            Just(Some(Selection::App)),
            any::<[u8; 20]>().prop_map(|a| Some(Selection::Prover(Address::from(a)))),
        ];
        (
            any::<u32>(),
            proptest::collection::vec(bid, 0..4),
            selection,
            0u8..5,
        )
            .prop_map(|(next_order, bids, selected, state)| SlotEntry {
                next_order,
                bids,
                selected,
                state: SlotState::from_u8(state).expect("0..5 are states"),
            })
    }

    proptest! {
        #[test]
        fn auction_values_roundtrip_and_refuse_damage(
            e in slot_entry(),
            gas_limit in any::<u64>(),
            txs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..40), 0..4),
            cut in 0usize..200,
        ) {
            let enc = e.encode();
            prop_assert_eq!(SlotEntry::decode(&enc), Ok(e.clone()));
            let r = RevealedBlock { gas_limit, txs: txs.iter().map(|t| alloy_primitives::Bytes::from(t.clone())).collect() };
            let renc = r.encode();
            prop_assert_eq!(RevealedBlock::decode(&renc), Ok(r));
            let fenc = encode_forced(&[7, 8, 9]);
            prop_assert_eq!(decode_forced(&fenc), Ok(vec![7, 8, 9]));
            for (bytes, ok) in [
                (enc, (|b: &[u8]| SlotEntry::decode(b).is_ok()) as fn(&[u8]) -> bool),
                (renc, |b: &[u8]| RevealedBlock::decode(b).is_ok()),
            ] {
                let n = cut.min(bytes.len() - 1);
                prop_assert!(!ok(&bytes[..n]));
                let mut longer = bytes.clone();
                longer.push(0);
                prop_assert!(!ok(&longer));
                let mut other = bytes.clone();
                other[0] = 2;
                prop_assert!(!ok(&other));
            }
        }
    }

    #[test]
    fn the_highest_bid_wins_and_ties_go_to_the_earliest() {
        let bid = |s: u8, amount: u64, order: u32| BidEntry {
            sequencer: Address::repeat_byte(s),
            commitment: B256::repeat_byte(s),
            amount: U256::from(amount),
            order,
        };
        let mut e = SlotEntry {
            next_order: 4,
            bids: vec![bid(1, 5, 0), bid(2, 9, 2), bid(3, 9, 1), bid(4, 3, 3)],
            selected: None,
            state: SlotState::Open,
        };
        assert_eq!(
            e.highest().map(|b| b.sequencer),
            Some(Address::repeat_byte(3))
        );
        assert_eq!(e.winner(), None);
        assert_eq!(e.escrow(), U256::from(26));
        e.bids = vec![bid(3, 9, 1)];
        e.selected = Some(Selection::App);
        assert_eq!(e.winner().map(|b| b.amount), Some(U256::from(9)));
        e.state = SlotState::Executed;
        assert_eq!(e.escrow(), U256::from(9));
        e.state = SlotState::Settled;
        assert_eq!(e.escrow(), U256::ZERO);
        e.state = SlotState::Withheld;
        assert_eq!(e.escrow(), U256::ZERO);
    }

    #[test]
    fn a_bid_count_larger_than_the_input_is_refused_before_allocating() {
        let mut b = vec![VERSION];
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            SlotEntry::decode(&b),
            Err(DecodeError::Length {
                what: "slot bids",
                ..
            })
        ));
        assert!(decode_forced(&[VERSION]).is_err());
    }

    #[test]
    fn a_leaving_flag_other_than_0_or_1_is_refused() {
        let mut b = ValidatorEntry {
            bond: U256::from(1),
            consensus_key: [7; 32],
            bridge_key: Address::repeat_byte(1),
            power: 1,
            leaving: true,
        }
        .encode();
        *b.last_mut().expect("non-empty") = 2;
        assert_eq!(
            ValidatorEntry::decode(&b),
            Err(DecodeError::Tag {
                what: "validator leaving",
                tag: 2
            })
        );
    }

    #[test]
    fn activity_is_a_heartbeat_within_the_grace() {
        let p = ProverEntry {
            stake: U256::from(1),
            reputation: REPUTATION_ONE,
            last_heartbeat: 100,
        };
        assert!(p.is_active(100, 10));
        assert!(p.is_active(110, 10));
        assert!(!p.is_active(111, 10));
        // A heartbeat "from the future" (registered this block) is active.
        assert!(p.is_active(50, 0));
    }

    #[test]
    fn ledger_account_is_empty_only_with_nothing_in_it() {
        assert!(LedgerAccount::default().is_empty());
        assert!(
            !LedgerAccount {
                nonce: 1,
                ..Default::default()
            }
            .is_empty()
        );
        assert!(
            !LedgerAccount {
                balance: U256::from(1),
                ..Default::default()
            }
            .is_empty()
        );
    }
}
