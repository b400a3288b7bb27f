//! The protocol ledger and the registries (DESIGN §3 "Registries and the protocol ledger",
//! "Money"; §6 for validator-set changes): one state transition per message kind, applied
//! through the block overlay in block order, plus what every block does at its end.
//!
//! - [`apply`]: a signed message at its turn. It either takes effect whole (fee paid, nonce
//!   advanced, action done) or is refused with a [`LedgerError`] and changes nothing: every
//!   check runs before the first write.
//! - [`credit_base_fees`]: a block's EIP-1559 base fees (burned by the EVM) go to the proving
//!   pot, less the `base_fee_burn_bps` share, which is counted as burned.
//! - [`end_block`]: releases the bonds and stakes whose unbonding delay is over, and at an epoch
//!   boundary moves the CometBFT validator set toward the registry, by at most a third of the
//!   total voting power per epoch.
//!
//! Money moves only between these places, so `EVM balances + ledger balances + bonds + stakes
//! + unbonding + proving pot + burned` is constant (the conservation property test in
//! `app/tests/ledger.rs`). Value enters the ledger only through `Fund` and leaves only
//! through `Withdraw`.
//!
//! Pure functions of (overlay, parameters, height, message): no clock, no I/O, no hash order.

use alloy_primitives::{Address, B256, U256};
use parley_types::{
    AccountLeaf, Earnings, KECCAK_EMPTY, LedgerAccount, Pot, ProverEntry, REPUTATION_ONE, Role,
    SequencerEntry, StateKey, ValidatorEntry, decode_amount, encode_amount,
};

use crate::chain::auction;
use crate::chain::genesis::{Params, ProtocolParams};
use crate::chain::msg::{Action, SignedMsg};
use crate::chain::overlay::Overlay;
use crate::chain::proving;
use crate::chain::view::{StateView, StoreError};

/// Why a message is refused at its turn. Each has its own result code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// The nonce is not the sender's next.
    #[error("protocol nonce {got}, expected {expected}")]
    Nonce {
        /// The sender's next nonce.
        expected: u64,
        /// What the message carries.
        got: u64,
    },
    /// The ledger balance does not cover the amount and the fee.
    #[error("ledger balance {have} wei does not cover {need} wei (amount plus message fee)")]
    LedgerFunds {
        /// What the sender has in the ledger.
        have: U256,
        /// What the message needs.
        need: U256,
    },
    /// The EVM balance does not cover a `Fund`.
    #[error("EVM balance {have} wei does not cover the {need} wei to fund")]
    EvmFunds {
        /// The sender's EVM balance.
        have: U256,
        /// The amount.
        need: U256,
    },
    /// The resulting bond or stake is below the role's minimum.
    #[error("{role} bond of {got} wei is below the minimum {min} wei")]
    BelowMinimum {
        /// The role.
        role: &'static str,
        /// The bond after this message.
        got: U256,
        /// The minimum.
        min: U256,
    },
    /// The sender does not hold the role the message needs.
    #[error("sender is not a registered {0}")]
    NotRegistered(&'static str),
    /// A validator that is leaving cannot bond more until it has left.
    #[error("validator is leaving; bond again after its bond is released")]
    Leaving,
    /// A validator's keys are fixed at registration.
    #[error("{0} differs from the one registered")]
    KeyMismatch(&'static str),
    /// Another validator uses this consensus key.
    #[error("consensus key is registered by validator {0}")]
    KeyTaken(Address),
    /// On a chain with a bridge: another validator registered this bridge key (L1 counts
    /// each key once).
    #[error("bridge key is registered by validator {0}")]
    BridgeKeyTaken(Address),
    /// On a chain with a bridge: the registry holds as many validators as a validator set on
    /// L1 may have.
    #[error("the validator registry is full: {0} validators, the most a set on L1 may hold")]
    TooManyValidators(usize),
    /// On a chain with a bridge: the zero address cannot sign for L1.
    #[error("the bridge key must not be the zero address")]
    ZeroBridgeKey,
    /// An amount would overflow 256 bits.
    #[error("amount overflows")]
    Overflow,
    /// A bid after its slot's bids closed.
    #[error("bids for slot {slot} closed at height {close}")]
    BidClosed {
        /// The slot.
        slot: u64,
        /// The last height that took its bids.
        close: u64,
    },
    /// A bid before its slot's bids opened.
    #[error("bids for slot {slot} open at height {opens}")]
    BidTooEarly {
        /// The slot.
        slot: u64,
        /// The first height that takes its bids.
        opens: u64,
    },
    /// A bid below `min_bid`.
    #[error("bid of {got} wei is below min_bid {min} wei")]
    BelowMinBid {
        /// The bid.
        got: U256,
        /// The minimum.
        min: U256,
    },
    /// A sequencer may replace its bid only with a higher one.
    #[error("a replacing bid must exceed the sequencer's bid of {have} wei (got {got})")]
    BidNotHigher {
        /// Its current bid.
        have: U256,
        /// The new one.
        got: U256,
    },
    /// A `Select` outside its slot's select window.
    #[error("select for slot {slot} is taken at heights {first}..={last}")]
    SelectWindow {
        /// The slot.
        slot: u64,
        /// First height of the window.
        first: u64,
        /// Last height of the window.
        last: u64,
    },
    /// A `Select` from a prover the slot did not draw.
    #[error("sender is not a prover assigned to slot {0}")]
    NotAssigned(u64),
    /// A `Select` for a slot without bids.
    #[error("slot {0} has no bids")]
    NoBids(u64),
    /// A second `Select`.
    #[error("slot {0} is already selected")]
    AlreadySelected(u64),
    /// A `Select` of anything but the highest bid (ties: the earliest).
    #[error("slot {slot}'s highest bid is {amount} wei from {sequencer}")]
    NotHighest {
        /// The slot.
        slot: u64,
        /// The highest bid's sequencer.
        sequencer: Address,
        /// Its amount.
        amount: U256,
    },
    /// A `Reveal` from anyone but the slot's selected winner.
    #[error("sender is not the selected winner of slot {0}")]
    NotWinner(u64),
    /// A second `Reveal`, or one after the slot executed.
    #[error("slot {0} no longer takes a reveal")]
    RevealClosed(u64),
    /// The revealed block does not match the winning bid's commitment.
    #[error("revealed block commits to {got}, the winning bid to {expected}")]
    CommitmentMismatch {
        /// The bid's commitment.
        expected: B256,
        /// The reveal's.
        got: B256,
    },
    /// The revealed gas limit is above the chain's.
    #[error("revealed gas limit {got} exceeds the block gas limit {max}")]
    RevealGasLimit {
        /// The reveal's.
        got: u64,
        /// The chain's.
        max: u64,
    },
    /// The revealed block holds more than `max_block_txs`.
    #[error("revealed block holds {got} transactions, max {max}")]
    RevealTooManyTxs {
        /// The reveal's.
        got: u64,
        /// The chain's.
        max: u64,
    },
    /// A `ForceInclude` whose transaction fails the rules.
    #[error("forced transaction refused: {0}")]
    ForcedInvalid(String),
    /// A `Withdraw` to an address without an EVM account would insert one, and the block's
    /// inserts have reached the proof tree's capacity (ADR 0011).
    #[error("proof tree full: no free proof index for a new EVM account (ADR 0011)")]
    ProofTreeFull,
    /// A `Fund` or `Withdraw` (both change EVM state) while backpressure holds.
    #[error(
        "backpressure: max_unproven_slots slots await their proof, or this epoch already holds agg_capacity slots that need one; EVM state is frozen until proofs catch up or the next epoch begins"
    )]
    Backpressure,
    /// A `Proof` on a chain whose genesis does not enable proving.
    #[error("this chain takes no block proofs (genesis has no params.protocol.proving)")]
    ProvingDisabled,
    /// A `Proof` for a slot that did not execute, or whose diff was empty.
    #[error("slot {0} awaits no proof (not executed yet, or its diff was empty)")]
    NoProofDue(u64),
    /// A `Proof` for a slot already proven.
    #[error("slot {0} is already proven")]
    AlreadyProven(u64),
    /// A second `Proof` of the same prover for the same chunk of a slot.
    #[error("sender already has a transition for chunk {chunk} of slot {slot}")]
    DuplicateTransition {
        /// The slot.
        slot: u64,
        /// The chunk.
        chunk: u32,
    },
    /// A `Proof`, `CommitProof` or `RevealProof` naming a chunk the slot's diff does not have.
    #[error("slot {slot}'s diff has {chunks} chunk(s): there is no chunk {chunk}")]
    NoSuchChunk {
        /// The slot.
        slot: u64,
        /// The chunk named.
        chunk: u32,
        /// How many the slot has.
        chunks: u32,
    },
    /// A `Proof` that does not verify: applied (fee paid, nonce used) and its sender fined
    /// `invalid_proof_fine` from its stake, but no transition is recorded.
    #[error("invalid proof for slot {slot}, sender fined {fined} wei: {reason}")]
    InvalidProof {
        /// The slot.
        slot: u64,
        /// What was taken from the sender's stake (burned).
        fined: U256,
        /// Why it does not verify.
        reason: String,
    },
    /// A `Fund` or `Withdraw` in a block whose diff is already at its room (`max_diff_entries`,
    /// or on a chain that aggregates what its epoch's chunks left hold): it may go into a
    /// later block.
    #[error(
        "this block's diff is full (max_diff_entries, or the chunks its epoch has left); send it again for a later block"
    )]
    DiffFull,
    /// A `Proof` after the slot's window (or once its fallback opened): late proofs go
    /// through `CommitProof`/`RevealProof` like anyone's.
    #[error(
        "slot {0}'s proof window is over: prove it through the fallback (CommitProof, then RevealProof)"
    )]
    WindowOver(u64),
    /// A `CommitProof` or `RevealProof` outside its phase of an open fallback round.
    #[error("slot {slot} is not in a fallback {phase} phase{}", next.map_or(String::new(), |h| format!(" (the next starts after height {h})")))]
    FallbackPhase {
        /// The slot.
        slot: u64,
        /// `commit` or `reveal`.
        phase: &'static str,
        /// When the round is open but the phase is not yet: the height it follows.
        next: Option<u64>,
    },
    /// A `CommitProof` from a prover whose stake is below `min_fallback_stake`.
    #[error("stake {have} wei is below min_fallback_stake {need} wei")]
    FallbackStake {
        /// The sender's stake.
        have: U256,
        /// The minimum.
        need: U256,
    },
    /// A second `CommitProof` in the same round, or the round's commits are full.
    #[error("slot {slot}'s fallback round takes no more commits from this sender: {why}")]
    CommitRefused {
        /// The slot.
        slot: u64,
        /// Already committed, or the round is full.
        why: &'static str,
    },
    /// An `Aggregate` on a chain whose genesis does not enable epoch aggregation.
    #[error(
        "this chain takes no epoch aggregates (genesis has no params.protocol.proving.aggregation)"
    )]
    AggregationDisabled,
    /// An `Aggregate` for an epoch that has not closed, or closed with nothing to aggregate.
    #[error("epoch {0} owes no aggregate (not closed yet, or no slot of it needed a proof)")]
    EpochNotDue(u64),
    /// An `Aggregate` for an epoch already aggregated.
    #[error("epoch {0} is already aggregated")]
    AlreadyAggregated(u64),
    /// An `Aggregate` within the window from another prover than the drawn aggregator.
    #[error("epoch {0}'s aggregate is its drawn aggregator's until its window ends")]
    NotAggregator(u64),
    /// An `Aggregate` that does not verify: applied (fee paid, nonce used) and its sender
    /// fined `invalid_proof_fine` from its stake.
    #[error("invalid aggregate for epoch {epoch}, sender fined {fined} wei: {reason}")]
    InvalidAggregate {
        /// The epoch.
        epoch: u64,
        /// What was taken from the sender's stake (burned).
        fined: U256,
        /// Why it does not verify.
        reason: String,
    },
    /// An `EpochProof` on a chain whose genesis pins no compression circuit.
    #[error(
        "this chain takes no L1 epoch proofs (genesis has no params.protocol.proving.aggregation.l1_proof)"
    )]
    L1ProofDisabled,
    /// An `EpochProof` for an epoch that is not aggregated (yet, or ever: an empty epoch
    /// needs no proof on L1).
    #[error("epoch {0} is not aggregated: its L1 proof compresses the accepted aggregate")]
    L1ProofNotDue(u64),
    /// An `EpochProof` for an epoch whose L1 proof the chain already holds.
    #[error("the chain already holds epoch {0}'s L1 proof")]
    L1ProofHeld(u64),
    /// An `EpochProof` that does not verify: applied (fee paid, nonce used) and its sender
    /// fined `invalid_proof_fine` from its stake.
    #[error("invalid L1 proof for epoch {epoch}, sender fined {fined} wei: {reason}")]
    InvalidL1Proof {
        /// The epoch.
        epoch: u64,
        /// What was taken from the sender's stake (burned).
        fined: U256,
        /// Why it does not verify.
        reason: String,
    },
    /// A `RevealProof` without a commit of the sender in this round, already revealed, or
    /// whose `keccak256(proof ‖ sender)` is not the committed hash.
    #[error("slot {slot}: {why}")]
    RevealRefused {
        /// The slot.
        slot: u64,
        /// What does not match.
        why: &'static str,
    },
}

impl LedgerError {
    /// The result code (codespace `parley`).
    pub fn code(&self) -> u32 {
        match self {
            LedgerError::Nonce { expected, got } if got > expected => 41,
            LedgerError::Nonce { .. } => 40,
            LedgerError::LedgerFunds { .. } => 42,
            LedgerError::EvmFunds { .. } => 43,
            LedgerError::BelowMinimum { .. } => 44,
            LedgerError::NotRegistered(_) => 45,
            LedgerError::Leaving => 46,
            LedgerError::KeyMismatch(_) => 47,
            LedgerError::KeyTaken(_) => 48,
            LedgerError::Overflow => 49,
            LedgerError::BidClosed { .. } => 50,
            LedgerError::BidTooEarly { .. } => 51,
            LedgerError::BelowMinBid { .. } => 52,
            LedgerError::BidNotHigher { .. } => 53,
            LedgerError::SelectWindow { .. } => 54,
            LedgerError::NotAssigned(_) => 55,
            LedgerError::NoBids(_) => 56,
            LedgerError::AlreadySelected(_) => 57,
            LedgerError::NotHighest { .. } => 58,
            LedgerError::NotWinner(_) => 59,
            LedgerError::RevealClosed(_) => 60,
            LedgerError::CommitmentMismatch { .. } => 61,
            LedgerError::RevealGasLimit { .. } => 62,
            LedgerError::RevealTooManyTxs { .. } => 63,
            LedgerError::ForcedInvalid(_) => 64,
            LedgerError::ProofTreeFull => 65,
            LedgerError::ProvingDisabled => 66,
            LedgerError::NoProofDue(_) => 67,
            LedgerError::AlreadyProven(_) => 68,
            LedgerError::DuplicateTransition { .. } => 69,
            LedgerError::InvalidProof { .. } => 70,
            LedgerError::Backpressure => 71,
            LedgerError::WindowOver(_) => 72,
            LedgerError::FallbackPhase { .. } => 73,
            LedgerError::FallbackStake { .. } => 74,
            LedgerError::CommitRefused { .. } => 75,
            LedgerError::RevealRefused { .. } => 76,
            LedgerError::DiffFull => 77,
            LedgerError::AggregationDisabled => 78,
            LedgerError::EpochNotDue(_) => 79,
            LedgerError::AlreadyAggregated(_) => 80,
            LedgerError::NotAggregator(_) => 81,
            LedgerError::InvalidAggregate { .. } => 82,
            LedgerError::NoSuchChunk { .. } => 83,
            LedgerError::BridgeKeyTaken(_) => 84,
            LedgerError::TooManyValidators(_) => 85,
            LedgerError::ZeroBridgeKey => 86,
            LedgerError::L1ProofDisabled => 87,
            LedgerError::L1ProofNotDue(_) => 88,
            LedgerError::L1ProofHeld(_) => 89,
            LedgerError::InvalidL1Proof { .. } => 90,
        }
    }
}

/// A handler's outcome where an invalid proof is applied as a penalty: `Ok(Some(e))` keeps
/// the message applied (fee paid, sender fined) and records `e` in `rejected`; `Err` refuses.
fn penalized(
    outcome: Result<Option<LedgerError>, LedgerError>,
    rejected: &mut Option<LedgerError>,
) -> Result<(), LedgerError> {
    let invalid = outcome?;
    if invalid.is_some() {
        *rejected = invalid;
    }
    Ok(())
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// Typed reads and writes of the protocol entries through the overlay.
pub struct Ledger<'o, 'a, V> {
    o: &'o mut Overlay<'a, V>,
}

impl<'o, 'a, V: StateView> Ledger<'o, 'a, V> {
    /// Protocol access to `overlay`.
    pub fn new(o: &'o mut Overlay<'a, V>) -> Self {
        Self { o }
    }

    /// An address's ledger account (default if it has none).
    pub fn account(&mut self, a: Address) -> Result<LedgerAccount, StoreError> {
        self.o
            .app(&StateKey::Ledger(a))?
            .map(|b| LedgerAccount::decode(&b).map_err(|e| corrupt("ledger account", e)))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    /// The overlay under this ledger view.
    pub fn overlay(&mut self) -> &mut Overlay<'a, V> {
        self.o
    }

    /// Adds `amount` to `a`'s ledger balance (a refund or a payment from elsewhere in the
    /// ledger: the caller takes it from somewhere).
    pub fn credit(&mut self, a: Address, amount: U256) -> Result<(), StoreError> {
        let mut acc = self.account(a)?;
        acc.balance = acc
            .balance
            .checked_add(amount)
            .ok_or_else(|| corrupt("ledger", "balance overflows"))?;
        self.set_account(a, acc);
        Ok(())
    }

    /// Pays `amount` of protocol income into `a`'s ledger balance (the caller takes it from
    /// the pot or an escrow) and adds it to `a`'s [`Earnings`]. Refunds go through
    /// [`Self::credit`] instead: they are not income.
    pub fn pay(&mut self, a: Address, amount: U256) -> Result<(), StoreError> {
        if amount.is_zero() {
            return Ok(());
        }
        self.credit(a, amount)?;
        self.add_earnings(a, amount, U256::ZERO)
    }

    /// `a`'s earnings and fines so far (zero if it has none).
    pub fn earnings(&mut self, a: Address) -> Result<Earnings, StoreError> {
        self.o
            .app(&StateKey::Earnings(a))?
            .map(|b| Earnings::decode(&b).map_err(|e| corrupt("earnings", e)))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    fn add_earnings(&mut self, a: Address, earned: U256, fined: U256) -> Result<(), StoreError> {
        if earned.is_zero() && fined.is_zero() {
            return Ok(());
        }
        let mut e = self.earnings(a)?;
        // Totals of wei that exist: they cannot pass the supply, so saturating is exact.
        e.earned = e.earned.saturating_add(earned);
        e.fined = e.fined.saturating_add(fined);
        self.o.put_app(StateKey::Earnings(a), Some(e.encode()));
        Ok(())
    }

    /// Takes up to `fine` from a sequencer's bond, or, if it has left, from its bond on the
    /// way out (unbonding after `height`); returns what was taken (the caller burns it).
    pub fn fine_sequencer(
        &mut self,
        who: Address,
        fine: U256,
        height: u64,
    ) -> Result<U256, StoreError> {
        if let Some(e) = self.sequencer(who)? {
            let taken = fine.min(e.bond);
            let entry = SequencerEntry {
                bond: e.bond - taken,
                ..e
            };
            self.o
                .put_app(StateKey::Sequencer(who), Some(entry.encode()));
            self.add_earnings(who, U256::ZERO, taken)?;
            return Ok(taken);
        }
        let taken = self.fine_unbonding(who, Role::Sequencer, fine, height)?;
        self.add_earnings(who, U256::ZERO, taken)?;
        Ok(taken)
    }

    /// Takes up to `fine` from a prover's stake, or, if it has left, from its stake on the way
    /// out (stake stays slashable while it unbonds); returns what was taken (the caller burns
    /// or pays it).
    pub fn fine_prover(
        &mut self,
        who: Address,
        fine: U256,
        height: u64,
    ) -> Result<U256, StoreError> {
        if let Some(e) = self.prover(who)? {
            let taken = fine.min(e.stake);
            let entry = ProverEntry {
                stake: e.stake - taken,
                ..e
            };
            self.o.put_app(StateKey::Prover(who), Some(entry.encode()));
            self.add_earnings(who, U256::ZERO, taken)?;
            return Ok(taken);
        }
        let taken = self.fine_unbonding(who, Role::Prover, fine, height)?;
        self.add_earnings(who, U256::ZERO, taken)?;
        Ok(taken)
    }

    /// Takes up to `fine` from `who`'s first `role` amount still unbonding after `height`.
    fn fine_unbonding(
        &mut self,
        who: Address,
        role: Role,
        fine: U256,
        height: u64,
    ) -> Result<U256, StoreError> {
        let later = StateKey::Unbonding {
            release: height.saturating_add(1),
            owner: Address::ZERO,
            role: Role::Sequencer,
        }..=StateKey::Unbonding {
            release: u64::MAX,
            owner: Address::repeat_byte(0xff),
            role: Role::Validator,
        };
        for (key, bytes) in self.o.app_range(later)? {
            let StateKey::Unbonding { owner, role: r, .. } = key else {
                return Err(corrupt("unbonding range", format!("{key:?}")));
            };
            if owner != who || r != role {
                continue;
            }
            let have = decode_amount(&bytes).map_err(|e| corrupt("unbonding", e))?;
            let taken = fine.min(have);
            let left = (have > taken).then(|| encode_amount(have - taken));
            self.o.put_app(key, left);
            return Ok(taken);
        }
        Ok(U256::ZERO)
    }

    fn set_account(&mut self, a: Address, acc: LedgerAccount) {
        let v = (!acc.is_empty()).then(|| acc.encode());
        self.o.put_app(StateKey::Ledger(a), v);
    }

    /// A registered sequencer.
    pub fn sequencer(&mut self, a: Address) -> Result<Option<SequencerEntry>, StoreError> {
        self.o
            .app(&StateKey::Sequencer(a))?
            .map(|b| SequencerEntry::decode(&b).map_err(|e| corrupt("sequencer", e)))
            .transpose()
    }

    /// A registered prover.
    pub fn prover(&mut self, a: Address) -> Result<Option<ProverEntry>, StoreError> {
        self.o
            .app(&StateKey::Prover(a))?
            .map(|b| ProverEntry::decode(&b).map_err(|e| corrupt("prover", e)))
            .transpose()
    }

    /// A registered validator.
    pub fn validator(&mut self, a: Address) -> Result<Option<ValidatorEntry>, StoreError> {
        self.o
            .app(&StateKey::Validator(a))?
            .map(|b| ValidatorEntry::decode(&b).map_err(|e| corrupt("validator", e)))
            .transpose()
    }

    /// Every registered validator, by operator address.
    pub fn validators(&mut self) -> Result<Vec<(Address, ValidatorEntry)>, StoreError> {
        let range =
            StateKey::Validator(Address::ZERO)..=StateKey::Validator(Address::repeat_byte(0xff));
        self.o
            .app_range(range)?
            .into_iter()
            .map(|(k, b)| match k {
                StateKey::Validator(a) => ValidatorEntry::decode(&b)
                    .map(|v| (a, v))
                    .map_err(|e| corrupt("validator", e)),
                other => Err(corrupt("validator range", format!("{other:?}"))),
            })
            .collect()
    }

    /// The protocol's pot and burned total.
    pub fn pot(&mut self) -> Result<Pot, StoreError> {
        self.o
            .app(&StateKey::Pot)?
            .map(|b| Pot::decode(&b).map_err(|e| corrupt("pot", e)))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    /// Writes the pot.
    pub fn set_pot(&mut self, pot: Pot) {
        self.o.put_app(StateKey::Pot, Some(pot.encode()));
    }

    /// Adds `amount` to the unbonding entry (release, owner, role).
    pub(crate) fn add_unbonding(
        &mut self,
        release: u64,
        owner: Address,
        role: Role,
        amount: U256,
    ) -> Result<(), StoreError> {
        let key = StateKey::Unbonding {
            release,
            owner,
            role,
        };
        let have = self
            .o
            .app(&key)?
            .map(|b| decode_amount(&b).map_err(|e| corrupt("unbonding", e)))
            .transpose()?
            .unwrap_or_default();
        let total = have
            .checked_add(amount)
            .ok_or_else(|| corrupt("unbonding", "amount overflows"))?;
        self.o.put_app(key, Some(encode_amount(total)));
        Ok(())
    }
}

/// No sender memo: forced transactions are few per block, their senders are recovered each
/// time.
struct NoMemo;

impl crate::chain::tx::SenderMemo for NoMemo {
    fn get(&self, _: &B256) -> Option<Address> {
        None
    }
    fn insert(&self, _: B256, _: Address) {}
}

/// What a message did, for its result event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The fee it paid into the proving pot.
    pub fee: U256,
    /// Set when the message took effect as a penalty rather than as asked (a `Proof` that
    /// does not verify: fee paid, sender fined, nothing recorded); its result code reports it.
    pub rejected: Option<LedgerError>,
}

fn add(a: U256, b: U256) -> Result<U256, LedgerError> {
    a.checked_add(b).ok_or(LedgerError::Overflow)
}

/// Applies `msg` at `height` through the overlay: all of it, or nothing (see the module docs).
/// The inner `Err` is the message's refusal; the outer one a storage failure (fatal).
///
/// `proofs` checks a `Proof`'s statement; `None` (block building, mempool admission: both on
/// throwaway state) takes every proof as valid, so only FinalizeBlock decides on fines.
pub fn apply<V: StateView>(
    o: &mut Overlay<'_, V>,
    params: &Params,
    height: u64,
    msg: &SignedMsg,
    proofs: Option<&dyn proving::ProofCheck>,
) -> Result<Result<Applied, LedgerError>, StoreError> {
    let q = &params.protocol;
    let fee = q.message_fee;
    let who = msg.sender;
    let mut l = Ledger::new(o);
    let mut acc = l.account(who)?;
    if msg.nonce != acc.nonce {
        return Ok(Err(LedgerError::Nonce {
            expected: acc.nonce,
            got: msg.nonce,
        }));
    }
    // `spend`: what leaves the ledger balance besides the fee. Checked before any write.
    let spend = match &msg.action {
        Action::Withdraw(a)
        | Action::BondSequencer(a)
        | Action::StakeProver(a)
        | Action::BondValidator { amount: a, .. } => *a,
        // A bid's escrow depends on the bid it replaces: its arm checks it against what is
        // left after the fee.
        Action::Fund(_)
        | Action::Unbond(_)
        | Action::Heartbeat
        | Action::Bid { .. }
        | Action::Select { .. }
        | Action::Reveal { .. }
        | Action::ForceInclude(_)
        | Action::Aggregate { .. }
        | Action::EpochProof { .. }
        | Action::Proof { .. }
        | Action::CommitProof { .. }
        | Action::RevealProof { .. } => U256::ZERO,
    };
    let funded = match &msg.action {
        Action::Fund(a) => *a,
        _ => U256::ZERO,
    };
    let have = match add(acc.balance, funded) {
        Ok(h) => h,
        Err(e) => return Ok(Err(e)),
    };
    let need = match add(spend, fee) {
        Ok(n) => n,
        Err(e) => return Ok(Err(e)),
    };
    if have < need {
        return Ok(Err(LedgerError::LedgerFunds { have, need }));
    }
    if l.pot()?.proving_pot.checked_add(fee).is_none() {
        return Ok(Err(LedgerError::Overflow));
    }

    // The action's own checks and its writes (each arm checks everything before writing).
    let mut escrowed = U256::ZERO;
    let mut rejected = None;
    let frozen = matches!(msg.action, Action::Fund(_) | Action::Withdraw(_))
        && proving::backpressure(l.o, params, height)?;
    // `Fund` and `Withdraw` each write the sender's EVM account: one diff entry.
    let diff_full = matches!(msg.action, Action::Fund(_) | Action::Withdraw(_))
        && !l.o.write_fits(&StateKey::Account(who))?;
    let done = match &msg.action {
        _ if frozen => Err(LedgerError::Backpressure),
        _ if diff_full => Err(LedgerError::DiffFull),
        Action::Fund(a) => match l.o.account(who)? {
            Some(e) if e.balance >= *a => {
                let balance = e.balance - *a;
                l.o.set_account(who, AccountLeaf { balance, ..e });
                Ok(())
            }
            other => Err(LedgerError::EvmFunds {
                have: other.map_or(U256::ZERO, |e| e.balance),
                need: *a,
            }),
        },
        Action::Withdraw(a) => {
            let evm = l.o.account(who)?.unwrap_or(AccountLeaf {
                nonce: 0,
                balance: U256::ZERO,
                code_hash: KECCAK_EMPTY,
            });
            match evm.balance.checked_add(*a) {
                None => Err(LedgerError::Overflow),
                // Creating the account takes a proof index (ADR 0011).
                Some(_) if !l.o.insert_fits(&StateKey::Account(who))? => {
                    Err(LedgerError::ProofTreeFull)
                }
                Some(balance) => {
                    l.o.set_account(who, AccountLeaf { balance, ..evm });
                    Ok(())
                }
            }
        }
        Action::BondSequencer(a) => {
            let e = l.sequencer(who)?.unwrap_or(SequencerEntry {
                bond: U256::ZERO,
                since: height,
            });
            let bond = match add(e.bond, *a) {
                Ok(b) => b,
                Err(e) => return Ok(Err(e)),
            };
            if bond < q.min_sequencer_bond {
                Err(LedgerError::BelowMinimum {
                    role: "sequencer",
                    got: bond,
                    min: q.min_sequencer_bond,
                })
            } else {
                l.o.put_app(
                    StateKey::Sequencer(who),
                    Some(SequencerEntry { bond, ..e }.encode()),
                );
                Ok(())
            }
        }
        Action::StakeProver(a) => {
            let e = l.prover(who)?.unwrap_or(ProverEntry {
                stake: U256::ZERO,
                reputation: REPUTATION_ONE,
                last_heartbeat: height,
            });
            let stake = match add(e.stake, *a) {
                Ok(s) => s,
                Err(e) => return Ok(Err(e)),
            };
            if stake < q.min_prover_stake {
                Err(LedgerError::BelowMinimum {
                    role: "prover",
                    got: stake,
                    min: q.min_prover_stake,
                })
            } else {
                // A signed message from the prover is as good as a heartbeat.
                let entry = ProverEntry {
                    stake,
                    last_heartbeat: height,
                    ..e
                };
                l.o.put_app(StateKey::Prover(who), Some(entry.encode()));
                Ok(())
            }
        }
        Action::BondValidator {
            amount,
            consensus_key,
            bridge_key,
        } => match bond_validator(&mut l, q, who, *amount, *consensus_key, *bridge_key)? {
            Ok(entry) => {
                l.o.put_app(StateKey::Validator(who), Some(entry.encode()));
                Ok(())
            }
            Err(e) => Err(e),
        },
        Action::Unbond(role) => unbond(&mut l, q, height, who, *role)?,
        Action::Heartbeat => match l.prover(who)? {
            None => Err(LedgerError::NotRegistered("prover")),
            Some(e) => {
                let entry = ProverEntry {
                    last_heartbeat: height,
                    ..e
                };
                l.o.put_app(StateKey::Prover(who), Some(entry.encode()));
                Ok(())
            }
        },
        Action::Bid {
            slot,
            commitment,
            amount,
        } => auction::bid(
            &mut l,
            q,
            height,
            who,
            *slot,
            *commitment,
            *amount,
            have - need,
        )?
        .map(|spent| escrowed = spent),
        Action::Select {
            slot,
            sequencer,
            commitment,
            amount,
        } => auction::select(
            &mut l,
            q,
            height,
            who,
            *slot,
            *sequencer,
            *commitment,
            *amount,
        )?,
        Action::Reveal {
            slot,
            gas_limit,
            txs,
        } => auction::reveal(&mut l, params, height, who, *slot, *gas_limit, txs)?,
        Action::ForceInclude(raw) => auction::force_include(&mut l, params, height, raw, &NoMemo)?,
        Action::Proof {
            slot,
            chunk,
            pre_root,
            post_root,
            proof,
        }
        | Action::RevealProof {
            slot,
            chunk,
            pre_root,
            post_root,
            proof,
        } => {
            let claim = proving::Claim {
                slot: *slot,
                chunk: *chunk,
                pre_root: *pre_root,
                post_root: *post_root,
                proof,
            };
            let outcome = if matches!(msg.action, Action::Proof { .. }) {
                proving::apply_proof(&mut l, params, height, who, claim, proofs)?
            } else {
                proving::reveal_proof(&mut l, params, height, who, claim, proofs)?
            };
            penalized(outcome, &mut rejected)
        }
        Action::CommitProof { slot, chunk, hash } => {
            proving::commit_proof(&mut l, params, height, who, *slot, *chunk, *hash)?
        }
        Action::Aggregate { epoch, proof } => penalized(
            crate::chain::aggregation::apply_aggregate(
                &mut l, params, height, who, *epoch, proof, proofs,
            )?,
            &mut rejected,
        ),
        Action::EpochProof { epoch, proof } => penalized(
            crate::chain::aggregation::apply_epoch_proof(
                &mut l, params, height, who, *epoch, proof, proofs,
            )?,
            &mut rejected,
        ),
    };
    if let Err(e) = done {
        return Ok(Err(e));
    }
    // The fee and the fixed spend were checked against `have`; a bid's escrow against what
    // they left.
    // What the action itself paid the sender (a proof's reward) stays its own.
    let credited = l
        .account(who)?
        .balance
        .checked_sub(acc.balance)
        .ok_or_else(|| corrupt("ledger", "an action took from its sender's ledger balance"))?;
    acc.balance = (have - need - escrowed)
        .checked_add(credited)
        .ok_or_else(|| corrupt("ledger", "balance overflows"))?;
    acc.nonce = acc
        .nonce
        .checked_add(1)
        .ok_or_else(|| corrupt("ledger", "protocol nonce overflows"))?;
    l.set_account(who, acc);
    // Read again: the action may have moved the pot (a proof's rewards and fine).
    let mut pot = l.pot()?;
    pot.proving_pot = pot
        .proving_pot
        .checked_add(fee)
        .ok_or_else(|| corrupt("pot", "proving pot overflows"))?;
    l.set_pot(pot);
    Ok(Ok(Applied { fee, rejected }))
}

fn bond_validator<V: StateView>(
    l: &mut Ledger<'_, '_, V>,
    q: &ProtocolParams,
    who: Address,
    amount: U256,
    consensus_key: [u8; 32],
    bridge_key: Address,
) -> Result<Result<ValidatorEntry, LedgerError>, StoreError> {
    let entry = match l.validator(who)? {
        Some(e) => {
            if e.leaving {
                return Ok(Err(LedgerError::Leaving));
            }
            if e.consensus_key != consensus_key {
                return Ok(Err(LedgerError::KeyMismatch("consensus key")));
            }
            if e.bridge_key != bridge_key {
                return Ok(Err(LedgerError::KeyMismatch("bridge key")));
            }
            e
        }
        None => {
            if let Some((other, _)) = l
                .validators()?
                .into_iter()
                .find(|(_, v)| v.consensus_key == consensus_key)
            {
                return Ok(Err(LedgerError::KeyTaken(other)));
            }
            // With a bridge, every member of the set L1 holds signs with its own nonzero
            // key, and the set stays within what the Rollup takes.
            if q.bridge.is_some() {
                let all = l.validators()?;
                if bridge_key == Address::ZERO {
                    return Ok(Err(LedgerError::ZeroBridgeKey));
                }
                if let Some((other, _)) = all.iter().find(|(_, v)| v.bridge_key == bridge_key) {
                    return Ok(Err(LedgerError::BridgeKeyTaken(*other)));
                }
                if all.len() >= parley_types::bridge::MAX_VALIDATORS {
                    return Ok(Err(LedgerError::TooManyValidators(all.len())));
                }
            }
            ValidatorEntry {
                bond: U256::ZERO,
                consensus_key,
                bridge_key,
                power: 0,
                leaving: false,
            }
        }
    };
    let bond = match add(entry.bond, amount) {
        Ok(b) => b,
        Err(e) => return Ok(Err(e)),
    };
    if bond < q.min_validator_bond {
        return Ok(Err(LedgerError::BelowMinimum {
            role: "validator",
            got: bond,
            min: q.min_validator_bond,
        }));
    }
    Ok(Ok(ValidatorEntry { bond, ..entry }))
}

fn unbond<V: StateView>(
    l: &mut Ledger<'_, '_, V>,
    q: &ProtocolParams,
    height: u64,
    who: Address,
    role: Role,
) -> Result<Result<(), LedgerError>, StoreError> {
    let release = height.saturating_add(q.unbonding_delay);
    match role {
        Role::Sequencer => {
            let Some(e) = l.sequencer(who)? else {
                return Ok(Err(LedgerError::NotRegistered("sequencer")));
            };
            l.o.put_app(StateKey::Sequencer(who), None);
            l.add_unbonding(release, who, role, e.bond)?;
        }
        Role::Prover => {
            let Some(e) = l.prover(who)? else {
                return Ok(Err(LedgerError::NotRegistered("prover")));
            };
            l.o.put_app(StateKey::Prover(who), None);
            l.add_unbonding(release, who, role, e.stake)?;
        }
        Role::Validator => {
            let Some(e) = l.validator(who)? else {
                return Ok(Err(LedgerError::NotRegistered("validator")));
            };
            if e.leaving {
                return Ok(Err(LedgerError::Leaving));
            }
            // Its power leaves the set at the coming epoch boundaries; the bond is scheduled
            // for release once the power is 0 ([`end_block`]).
            let entry = ValidatorEntry { leaving: true, ..e };
            l.o.put_app(StateKey::Validator(who), Some(entry.encode()));
        }
    }
    Ok(Ok(()))
}

/// Credits a block's base fees (`base_fee × gas used`, burned by the EVM) to the proving pot,
/// less the burned share.
/// Returns what reached the pot.
pub fn credit_base_fees<V: StateView>(
    o: &mut Overlay<'_, V>,
    params: &Params,
    base_fees: U256,
) -> Result<U256, StoreError> {
    if base_fees.is_zero() {
        return Ok(U256::ZERO);
    }
    let mut l = Ledger::new(o);
    let mut pot = l.pot()?;
    let burn = base_fees * U256::from(params.protocol.base_fee_burn_bps) / U256::from(10_000u64);
    pot.burned = pot
        .burned
        .checked_add(burn)
        .ok_or_else(|| corrupt("pot", "burned total overflows"))?;
    pot.proving_pot = pot
        .proving_pot
        .checked_add(base_fees - burn)
        .ok_or_else(|| corrupt("pot", "proving pot overflows"))?;
    l.set_pot(pot);
    Ok(base_fees - burn)
}

/// A change of one validator's CometBFT voting power (0 removes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidatorUpdate {
    /// The node's ed25519 public key.
    pub consensus_key: [u8; 32],
    /// Its new power.
    pub power: u64,
}

/// What every block does after its messages and transactions: releases due unbondings and,
/// at an epoch boundary (`height % epoch_heights == 0`), the validator-set changes to return
/// to CometBFT.
pub fn end_block<V: StateView>(
    o: &mut Overlay<'_, V>,
    params: &Params,
    height: u64,
) -> Result<Vec<ValidatorUpdate>, StoreError> {
    let q = &params.protocol;
    let mut l = Ledger::new(o);
    for (key, bytes) in l.o.app_range(StateKey::unbonding_due(height))? {
        let StateKey::Unbonding { owner, .. } = key else {
            return Err(corrupt("unbonding range", format!("{key:?}")));
        };
        let amount = decode_amount(&bytes).map_err(|e| corrupt("unbonding", e))?;
        let mut acc = l.account(owner)?;
        acc.balance = acc
            .balance
            .checked_add(amount)
            .ok_or_else(|| corrupt("ledger", "balance overflows"))?;
        l.set_account(owner, acc);
        l.o.put_app(key, None);
    }
    // With a bridge, the set changes only with an epoch's attestation (chain::bridge).
    if q.bridge.is_some() || !height.is_multiple_of(q.epoch_heights) {
        return Ok(Vec::new());
    }
    let validators = l.validators()?;
    let plan = plan_validator_changes(q, &validators);
    apply_power_plan(&mut l, q, height, &plan, None)
}

/// Applies a plan of [`plan_validator_changes`] at `height`: each named validator's power
/// becomes the planned one; a leaving validator at 0 leaves the registry and its bond starts
/// unbonding. Returns the updates for CometBFT. A plan that names an operator no longer
/// registered is an invariant failure.
pub fn apply_power_plan<V: StateView>(
    l: &mut Ledger<'_, '_, V>,
    q: &ProtocolParams,
    height: u64,
    plan: &[(Address, u64)],
    hold_until_final: Option<u64>,
) -> Result<Vec<ValidatorUpdate>, StoreError> {
    let mut updates = Vec::with_capacity(plan.len());
    for &(operator, power) in plan {
        let e = &l.validator(operator)?.ok_or_else(|| {
            corrupt(
                "validator plan",
                format!("{operator} is planned but not registered"),
            )
        })?;
        updates.push(ValidatorUpdate {
            consensus_key: e.consensus_key,
            power,
        });
        if power == 0 && e.leaving {
            l.o.put_app(StateKey::Validator(operator), None);
            let release = height.saturating_add(q.unbonding_delay);
            match hold_until_final {
                // With the bridge: held until L1 finalizes the last epoch it signed.
                Some(epoch) => {
                    crate::chain::l1queue::hold_bond(l.o, epoch, operator, release, e.bond)?;
                }
                None => l.add_unbonding(release, operator, Role::Validator, e.bond)?,
            }
        } else {
            let entry = ValidatorEntry { power, ..*e };
            l.o.put_app(StateKey::Validator(operator), Some(entry.encode()));
        }
    }
    Ok(updates)
}

/// The power changes one epoch boundary makes: each validator moves toward its target (0 if
/// leaving, else `bond / power_unit`), in operator order, while the sum of the changes stays
/// within a third of the current total power (a large change spreads over several epochs).
/// The set never becomes empty, and a registry that holds no power (a chain whose genesis
/// registered no validators) changes nothing: it cannot know CometBFT's set.
pub fn plan_validator_changes(
    q: &ProtocolParams,
    validators: &[(Address, ValidatorEntry)],
) -> Vec<(Address, u64)> {
    let total: u64 = validators.iter().map(|(_, v)| v.power).sum();
    if total == 0 {
        return Vec::new();
    }
    let mut budget = total / 3;
    let mut remaining = total;
    let mut out = Vec::new();
    for (a, v) in validators {
        if budget == 0 {
            break;
        }
        let target = if v.leaving { 0 } else { q.power_of(v.bond) };
        let new = if target > v.power {
            v.power + (target - v.power).min(budget)
        } else if target < v.power {
            // Keep at least one unit of power somewhere in the set.
            let floor = v.power.saturating_sub(remaining.saturating_sub(1));
            let step = (v.power - target).min(budget);
            (v.power - step).max(floor)
        } else {
            continue;
        };
        if new == v.power {
            continue;
        }
        budget -= new.abs_diff(v.power);
        remaining = remaining - v.power + new;
        out.push((*a, new));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn q() -> ProtocolParams {
        ProtocolParams {
            power_unit: U256::from(10),
            ..ProtocolParams::default()
        }
    }

    fn v(bond: u64, power: u64, leaving: bool) -> ValidatorEntry {
        ValidatorEntry {
            bond: U256::from(bond),
            consensus_key: [0; 32],
            bridge_key: Address::ZERO,
            power,
            leaving,
        }
    }

    #[test]
    fn a_joining_validator_ramps_up_within_a_third_per_epoch() {
        // Four validators of power 10 (total 40, budget 13) and a newcomer bonding for 30.
        let mut set: Vec<(Address, ValidatorEntry)> = (1..=4)
            .map(|i| (Address::repeat_byte(i), v(100, 10, false)))
            .collect();
        set.push((Address::repeat_byte(9), v(300, 0, false)));
        let plan = plan_validator_changes(&q(), &set);
        assert_eq!(plan, vec![(Address::repeat_byte(9), 13)]);
        set[4].1.power = 13;
        // Next epoch: total 53, budget 17: reaches its target of 30.
        assert_eq!(
            plan_validator_changes(&q(), &set),
            vec![(Address::repeat_byte(9), 30)]
        );
    }

    #[test]
    fn leaving_goes_to_zero_but_never_empties_the_set() {
        let set = vec![
            (Address::repeat_byte(1), v(100, 10, true)),
            (Address::repeat_byte(2), v(100, 10, false)),
            (Address::repeat_byte(3), v(100, 10, false)),
            (Address::repeat_byte(4), v(100, 10, false)),
        ];
        assert_eq!(
            plan_validator_changes(&q(), &set),
            vec![(Address::repeat_byte(1), 0)]
        );
        // A lone validator that leaves keeps its last unit of power.
        let lone = vec![(Address::repeat_byte(1), v(100, 3, true))];
        assert_eq!(
            plan_validator_changes(&q(), &lone),
            vec![(Address::repeat_byte(1), 2)]
        );
        let last = vec![(Address::repeat_byte(1), v(100, 1, true))];
        assert_eq!(plan_validator_changes(&q(), &last), vec![]);
    }

    #[test]
    fn a_registry_without_power_changes_nothing() {
        let set = vec![(Address::repeat_byte(1), v(100, 0, false))];
        assert_eq!(plan_validator_changes(&q(), &set), vec![]);
    }

    proptest! {
        /// Whatever the registry, one boundary changes at most a third of the total power,
        /// moves each validator only toward its target, and leaves some power in the set.
        #[test]
        fn a_boundary_changes_at_most_a_third(
            entries in proptest::collection::vec((0u64..1_000, 0u64..100, any::<bool>()), 1..12),
        ) {
            let set: Vec<(Address, ValidatorEntry)> = entries
                .iter()
                .enumerate()
                .map(|(i, (bond, power, leaving))| (Address::repeat_byte(i as u8 + 1), v(*bond, *power, *leaving)))
                .collect();
            let total: u64 = set.iter().map(|(_, v)| v.power).sum();
            let plan = plan_validator_changes(&q(), &set);
            let mut moved = 0u64;
            let mut after = total;
            for (a, new) in &plan {
                let (_, e) = set.iter().find(|(b, _)| b == a).expect("planned for a member");
                let target = if e.leaving { 0 } else { q().power_of(e.bond) };
                prop_assert!(*new != e.power);
                prop_assert!(e.power.min(target) <= *new && *new <= e.power.max(target));
                moved += new.abs_diff(e.power);
                after = after - e.power + new;
            }
            prop_assert!(moved <= total / 3, "moved {} of {}", moved, total);
            if total > 0 {
                prop_assert!(after > 0);
            } else {
                prop_assert!(plan.is_empty());
            }
        }
    }
}
