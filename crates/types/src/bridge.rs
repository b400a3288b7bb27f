//! The L1 bridge's encodings (docs/bridge.md "Encodings", ADR 0017): what validators sign for
//! an epoch, the validator-set hash, the L1 queue's entries and rolling hash, and the epoch's
//! withdrawal tree. The Rollup contract (`l1-bridge/contracts/src/Rollup.sol`) computes the
//! same bytes; both are checked against one committed vector file
//! (`l1-bridge/contracts/test/vectors/bridge.json`, written and checked by
//! `l1-bridge/tests/vectors.rs`).
//!
//! Every function here is pure and consensus-critical once the attestation reaches consensus:
//! a change is a protocol change and moves the vectors.

use alloy_primitives::{Address, B256, U256, keccak256};

/// Most members a validator set posted to L1 may have (the contract's loop bound).
pub const MAX_VALIDATORS: usize = 128;

/// Domain tags: keccak256 of their ASCII names.
pub fn tag(name: &str) -> B256 {
    keccak256(name.as_bytes())
}

/// Tag of the epoch digest.
pub const EPOCH_TAG: &str = "parley.bridge.epoch.v1";
/// Tag of the validator-set hash.
pub const VALSET_TAG: &str = "parley.bridge.valset.v1";
/// Tag of a deposit queue entry.
pub const DEPOSIT_TAG: &str = "parley.bridge.deposit.v1";
/// Tag of a forced-transaction queue entry.
pub const FORCED_TAG: &str = "parley.bridge.forced.v1";
/// Tag of a withdrawal leaf.
pub const WITHDRAWAL_TAG: &str = "parley.bridge.withdrawal.v1";
/// Tag of a validator's signed view of the L1 queue ([`queue_digest`]); never an epoch
/// digest, so L1 cannot be given one for the other.
pub const QUEUE_TAG: &str = "parley.bridge.queue.v1";

/// `abi.encode` of 32-byte words: their concatenation.
fn words(ws: &[[u8; 32]]) -> Vec<u8> {
    ws.concat()
}

fn w_u256(v: U256) -> [u8; 32] {
    v.to_be_bytes::<32>()
}

fn w_u64(v: u64) -> [u8; 32] {
    w_u256(U256::from(v))
}

fn w_addr(a: &Address) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(a.as_slice());
    w
}

/// What an epoch's attestation says (DESIGN §6): the fields of [`epoch_digest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EpochAttestation {
    /// The L1 chain's id.
    pub l1_chain_id: u64,
    /// The Rollup contract's address on L1.
    pub rollup: Address,
    /// This chain's id.
    pub l2_chain_id: u64,
    /// The epoch number.
    pub epoch: u64,
    /// Poseidon proof root before the epoch's first block (a field element, big-endian).
    pub first_pre_root: B256,
    /// Poseidon proof root after its last block.
    pub last_post_root: B256,
    /// The aggregation's `epoch_commitment` (zero for an epoch without proven blocks).
    pub epoch_commitment: B256,
    /// Root of the epoch's withdrawal tree ([`withdrawal_root`]).
    pub withdrawal_root: B256,
    /// The L1 queue's rolling hash after the last entry the chain consumed by the epoch's end.
    pub l1_queue_rolling_hash: B256,
    /// How many queue entries the chain consumed by the epoch's end: the position of
    /// `l1_queue_rolling_hash`. Not signed (the hash binds it: the contract checks its own
    /// rolling hash at this position); the relayer passes it as `queueCount`.
    pub l1_queue_count: u64,
    /// [`validator_set_hash`] of the set that signs the next epoch.
    pub next_validator_set_hash: B256,
}

/// The digest each validator's bridge key signs for an epoch:
/// `keccak256(abi.encode(EPOCH_TAG, l1_chain_id, rollup, l2_chain_id, epoch, first_pre_root,
/// last_post_root, epoch_commitment, withdrawal_root, l1_queue_rolling_hash,
/// next_validator_set_hash))`.
pub fn epoch_digest(a: &EpochAttestation) -> B256 {
    keccak256(words(&[
        tag(EPOCH_TAG).0,
        w_u64(a.l1_chain_id),
        w_addr(&a.rollup),
        w_u64(a.l2_chain_id),
        w_u64(a.epoch),
        a.first_pre_root.0,
        a.last_post_root.0,
        a.epoch_commitment.0,
        a.withdrawal_root.0,
        a.l1_queue_rolling_hash.0,
        a.next_validator_set_hash.0,
    ]))
}

/// Why a validator set cannot be posted to L1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidatorSetError {
    /// No members, or more than [`MAX_VALIDATORS`].
    #[error("a validator set on L1 has 1..={MAX_VALIDATORS} members, not {0}")]
    Size(usize),
    /// Addresses not strictly ascending (unsorted or a duplicate).
    #[error("validator addresses must be strictly ascending: {0} is not above the one before")]
    Order(Address),
    /// A member without power.
    #[error("validator {0} has no power")]
    ZeroPower(Address),
    /// The zero address (ecrecover's answer for an invalid signature) as a member.
    #[error("the zero address cannot be a validator's bridge key")]
    ZeroAddress,
}

/// `keccak256(abi.encode(VALSET_TAG, n, a_1, p_1, …, a_n, p_n))` of a set given as
/// `(address, power)` pairs in strictly ascending address order.
pub fn validator_set_hash(set: &[(Address, u64)]) -> Result<B256, ValidatorSetError> {
    if set.is_empty() || set.len() > MAX_VALIDATORS {
        return Err(ValidatorSetError::Size(set.len()));
    }
    let mut ws = Vec::with_capacity(2 + 2 * set.len());
    ws.push(tag(VALSET_TAG).0);
    ws.push(w_u64(set.len() as u64));
    let mut prev: Option<Address> = None;
    for (a, p) in set {
        if *a == Address::ZERO {
            return Err(ValidatorSetError::ZeroAddress);
        }
        if prev.is_some_and(|q| q >= *a) {
            return Err(ValidatorSetError::Order(*a));
        }
        if *p == 0 {
            return Err(ValidatorSetError::ZeroPower(*a));
        }
        prev = Some(*a);
        ws.push(w_addr(a));
        ws.push(w_u64(*p));
    }
    Ok(keccak256(words(&ws)))
}

/// Whether `signed` power out of `total` is enough to finalize on L1: more than two thirds
/// (`3·signed > 2·total`, CometBFT's commit rule).
pub fn enough_power(signed: u128, total: u128) -> bool {
    signed.saturating_mul(3) > total.saturating_mul(2)
}

/// One entry of the L1 queue, as the Rollup contract's `QueueEntry` event tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueEntry {
    /// `deposit(l2_recipient)` with `amount` wei.
    Deposit {
        /// Position in the queue.
        index: u64,
        /// The L1 account that paid.
        sender: Address,
        /// Who is credited on L2.
        l2_recipient: Address,
        /// Wei.
        amount: U256,
    },
    /// `forceTransaction(raw_tx)`.
    Forced {
        /// Position in the queue.
        index: u64,
        /// The L1 account that posted it.
        sender: Address,
        /// The signed L2 transaction, as posted.
        raw_tx: Vec<u8>,
    },
}

impl QueueEntry {
    /// The entry's position in the queue.
    pub fn index(&self) -> u64 {
        match self {
            Self::Deposit { index, .. } | Self::Forced { index, .. } => *index,
        }
    }

    /// The entry's hash (docs/bridge.md "L1 queue").
    pub fn hash(&self) -> B256 {
        match self {
            Self::Deposit {
                index,
                sender,
                l2_recipient,
                amount,
            } => keccak256(words(&[
                tag(DEPOSIT_TAG).0,
                w_u64(*index),
                w_addr(sender),
                w_addr(l2_recipient),
                w_u256(*amount),
            ])),
            Self::Forced {
                index,
                sender,
                raw_tx,
            } => keccak256(words(&[
                tag(FORCED_TAG).0,
                w_u64(*index),
                w_addr(sender),
                keccak256(raw_tx).0,
            ])),
        }
    }
}

/// The rolling hash after one more entry: `keccak256(abi.encode(previous, entry_hash))`. The
/// queue's hash before its first entry is zero.
pub fn roll(previous: B256, entry_hash: B256) -> B256 {
    keccak256(words(&[previous.0, entry_hash.0]))
}

/// What a validator's L1 watcher saw, final at L1 block `l1_block`: the first `count` queue
/// entries, with rolling hash `rolling`, and the Rollup's `nextEpoch()` (`finalized_epochs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct L1Observation {
    /// Queue entries seen.
    pub count: u64,
    /// The L1 block they are final at.
    pub l1_block: u64,
    /// The rolling hash after them.
    pub rolling: B256,
    /// Epochs the Rollup had finalized at that block.
    pub finalized_epochs: u64,
}

/// What a validator's bridge key signs about L1 in its vote extension:
/// `keccak256(abi.encode(QUEUE_TAG, l1_chain_id, rollup, l2_chain_id, count, l1_block,
/// rolling, finalized_epochs))`.
pub fn queue_digest(
    l1_chain_id: u64,
    rollup: &Address,
    l2_chain_id: u64,
    seen: &L1Observation,
) -> B256 {
    keccak256(words(&[
        tag(QUEUE_TAG).0,
        w_u64(l1_chain_id),
        w_addr(rollup),
        w_u64(l2_chain_id),
        w_u64(seen.count),
        w_u64(seen.l1_block),
        seen.rolling.0,
        w_u64(seen.finalized_epochs),
    ]))
}

/// A position in the L1 queue: `count` entries and the rolling hash after them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueuePosition {
    /// Entries up to this position.
    pub count: u64,
    /// The rolling hash after them ([`roll`]; zero for none).
    pub rolling: B256,
}

impl QueuePosition {
    /// `0x01 ‖ count u64 ‖ rolling`: the value of [`crate::StateKey::QueueMark`].
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(41);
        v.push(VALUE_VERSION);
        v.extend_from_slice(&self.count.to_be_bytes());
        v.extend_from_slice(self.rolling.as_slice());
        v
    }

    /// Decodes [`Self::encode`]'s output.
    pub fn decode(mut bytes: &[u8]) -> crate::Result<Self> {
        let b = &mut bytes;
        crate::protocol::version(b, "queue position version")?;
        let p = take_position(b)?;
        crate::protocol::end(b, "queue position")?;
        Ok(p)
    }
}

fn take_position(b: &mut &[u8]) -> crate::Result<QueuePosition> {
    Ok(QueuePosition {
        count: crate::take_u64(b, "queue count")?,
        rolling: crate::proving::take_b256(b, "queue rolling hash")?,
    })
}

/// How far the chain has consumed the L1 queue (the singleton [`crate::StateKey::L1Queue`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueState {
    /// Entries consumed so far (deposits credited, forced transactions queued or dropped).
    pub consumed: QueuePosition,
    /// The position the last attested epoch ended at (the start for the next epoch's digest
    /// when that epoch consumes nothing).
    pub attested: QueuePosition,
    /// Epochs final on L1, as votes of more than two thirds of the power saw the Rollup's
    /// `nextEpoch()`: epochs `0 .. l1_finalized` are final.
    pub l1_finalized: u64,
}

impl QueueState {
    /// `0x01 ‖ consumed (count u64 ‖ rolling) ‖ attested (count u64 ‖ rolling) ‖
    /// l1_finalized u64`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(89);
        v.push(VALUE_VERSION);
        for p in [self.consumed, self.attested] {
            v.extend_from_slice(&p.count.to_be_bytes());
            v.extend_from_slice(p.rolling.as_slice());
        }
        v.extend_from_slice(&self.l1_finalized.to_be_bytes());
        v
    }

    /// Decodes [`Self::encode`]'s output.
    pub fn decode(mut bytes: &[u8]) -> crate::Result<Self> {
        let b = &mut bytes;
        crate::protocol::version(b, "queue state version")?;
        let consumed = take_position(b)?;
        let attested = take_position(b)?;
        let l1_finalized = crate::take_u64(b, "l1 finalized epochs")?;
        crate::protocol::end(b, "queue state")?;
        Ok(Self {
            consumed,
            attested,
            l1_finalized,
        })
    }
}

/// One withdrawal recorded on L2 in an epoch, claimable on L1 once the epoch is finalized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Withdrawal {
    /// Who is paid on L1.
    pub l1_recipient: Address,
    /// Wei.
    pub amount: U256,
}

/// The leaf of the `index`-th withdrawal of `epoch`.
pub fn withdrawal_leaf(l2_chain_id: u64, epoch: u64, index: u64, w: &Withdrawal) -> B256 {
    keccak256(words(&[
        tag(WITHDRAWAL_TAG).0,
        w_u64(l2_chain_id),
        w_u64(epoch),
        w_u64(index),
        w_addr(&w.l1_recipient),
        w_u256(w.amount),
    ]))
}

fn node(l: &B256, r: &B256) -> B256 {
    keccak256(words(&[l.0, r.0]))
}

/// Depth of the withdrawal tree of `n` leaves: `⌈log2 n⌉` (0 for zero or one leaf).
fn depth(n: usize) -> u32 {
    if n <= 1 {
        0
    } else {
        usize::BITS - (n - 1).leading_zeros()
    }
}

/// The tree's levels from the leaves (padded with zeros to `2^depth`) up to the root.
fn levels(leaves: &[B256]) -> Vec<Vec<B256>> {
    let d = depth(leaves.len());
    let mut level = leaves.to_vec();
    level.resize(1usize << d, B256::ZERO);
    let mut out = vec![level];
    for _ in 0..d {
        let prev = out.last().expect("at least the leaves");
        let next = prev.chunks(2).map(|p| node(&p[0], &p[1])).collect();
        out.push(next);
    }
    out
}

/// The withdrawal root of an epoch's withdrawals in execution order; zero when there are none.
pub fn withdrawal_root(l2_chain_id: u64, epoch: u64, ws: &[Withdrawal]) -> B256 {
    WithdrawalTree::new(l2_chain_id, epoch, ws).root()
}

/// The siblings from leaf `index` up to the root (what a claim on L1 gives); `None` when
/// `index` is not a withdrawal of the list. (Builds the whole tree: for many paths, build a
/// [`WithdrawalTree`] once.)
pub fn withdrawal_path(
    l2_chain_id: u64,
    epoch: u64,
    ws: &[Withdrawal],
    index: usize,
) -> Option<Vec<B256>> {
    WithdrawalTree::new(l2_chain_id, epoch, ws).path(index)
}

/// An epoch's withdrawal tree, built once: its root and every leaf's path.
#[derive(Debug, Clone)]
pub struct WithdrawalTree {
    levels: Vec<Vec<B256>>,
    n: usize,
}

impl WithdrawalTree {
    /// The tree of `ws` (execution order) of `epoch`.
    pub fn new(l2_chain_id: u64, epoch: u64, ws: &[Withdrawal]) -> Self {
        let leaves: Vec<B256> = ws
            .iter()
            .enumerate()
            .map(|(i, w)| withdrawal_leaf(l2_chain_id, epoch, i as u64, w))
            .collect();
        Self {
            levels: if ws.is_empty() {
                Vec::new()
            } else {
                levels(&leaves)
            },
            n: ws.len(),
        }
    }

    /// [`withdrawal_root`].
    pub fn root(&self) -> B256 {
        self.levels
            .last()
            .and_then(|l| l.first())
            .copied()
            .unwrap_or(B256::ZERO)
    }

    /// [`withdrawal_path`] of leaf `index`.
    pub fn path(&self, index: usize) -> Option<Vec<B256>> {
        if index >= self.n {
            return None;
        }
        let mut i = index;
        let mut path = Vec::with_capacity(self.levels.len().saturating_sub(1));
        for level in &self.levels[..self.levels.len() - 1] {
            path.push(level[i ^ 1]);
            i >>= 1;
        }
        Some(path)
    }
}

/// The root a claim's leaf and path give (what the contract recomputes).
pub fn root_from_withdrawal_path(leaf: B256, index: u64, path: &[B256]) -> B256 {
    let mut h = leaf;
    for (j, s) in path.iter().enumerate() {
        h = if (index >> j) & 1 == 1 {
            node(s, &h)
        } else {
            node(&h, s)
        };
    }
    h
}

const VALUE_VERSION: u8 = 0x01;

fn put_set(v: &mut Vec<u8>, set: &[(Address, u64)]) {
    let n = u16::try_from(set.len()).expect("a validator set has at most 65,535 members");
    v.extend_from_slice(&n.to_be_bytes());
    for (a, p) in set {
        v.extend_from_slice(a.as_slice());
        v.extend_from_slice(&p.to_be_bytes());
    }
}

fn take_set(b: &mut &[u8], what: &'static str) -> crate::Result<Vec<(Address, u64)>> {
    let n = crate::proving::take_u16(b, what)?;
    let mut out = Vec::with_capacity(usize::from(n).min(MAX_VALIDATORS));
    for _ in 0..n {
        let a = Address::from_slice(crate::take(b, 20, what)?);
        out.push((a, crate::take_u64(b, what)?));
    }
    Ok(out)
}

fn put_attestation(v: &mut Vec<u8>, a: &EpochAttestation) {
    v.extend_from_slice(&a.l1_chain_id.to_be_bytes());
    v.extend_from_slice(a.rollup.as_slice());
    v.extend_from_slice(&a.l2_chain_id.to_be_bytes());
    v.extend_from_slice(&a.epoch.to_be_bytes());
    v.extend_from_slice(&a.l1_queue_count.to_be_bytes());
    for h in [
        a.first_pre_root,
        a.last_post_root,
        a.epoch_commitment,
        a.withdrawal_root,
        a.l1_queue_rolling_hash,
        a.next_validator_set_hash,
    ] {
        v.extend_from_slice(h.as_slice());
    }
}

fn take_attestation(b: &mut &[u8]) -> crate::Result<EpochAttestation> {
    use crate::proving::take_b256;
    Ok(EpochAttestation {
        l1_chain_id: crate::take_u64(b, "l1 chain id")?,
        rollup: Address::from_slice(crate::take(b, 20, "rollup")?),
        l2_chain_id: crate::take_u64(b, "l2 chain id")?,
        epoch: crate::take_u64(b, "epoch")?,
        l1_queue_count: crate::take_u64(b, "l1 queue count")?,
        first_pre_root: take_b256(b, "first pre root")?,
        last_post_root: take_b256(b, "last post root")?,
        epoch_commitment: take_b256(b, "epoch commitment")?,
        withdrawal_root: take_b256(b, "withdrawal root")?,
        l1_queue_rolling_hash: take_b256(b, "l1 queue rolling hash")?,
        next_validator_set_hash: take_b256(b, "next validator set hash")?,
    })
}

/// An epoch whose digest the validators are signing: fixed at the end of the first height
/// at which the epoch is done on L2 (aggregated, or closed empty) and every earlier epoch is
/// attested, so every validator signs the same bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAttestation {
    /// What is signed ([`epoch_digest`]).
    pub attestation: EpochAttestation,
    /// Height whose end fixed it.
    pub since: u64,
    /// The validator-power changes that take effect with the attestation, `(operator,
    /// new power)` in operator order (DESIGN §6: only at an attested boundary, at most a third
    /// of the power per epoch).
    pub plan: Vec<(Address, u64)>,
    /// The set after them, as `(bridge key, power)` in ascending key order: it signs the next
    /// epoch, and its [`validator_set_hash`] is `attestation.next_validator_set_hash`.
    pub next_set: Vec<(Address, u64)>,
}

/// Where the bridge's attestation stands (the singleton [`crate::StateKey::Bridge`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BridgeState {
    /// The oldest epoch not attested yet.
    pub next_epoch: u64,
    /// The proof root the next epoch starts at: the last attested epoch's `last_post_root`
    /// (the genesis proof root before the first).
    pub root: B256,
    /// Who signs `next_epoch`: `(bridge key, power)` in ascending key order; the set the
    /// Rollup contract holds (or will, once the previous epoch is finalized on L1).
    pub set: Vec<(Address, u64)>,
    /// `next_epoch`'s digest, once fixed.
    pub pending: Option<PendingAttestation>,
}

impl BridgeState {
    /// `0x01 ‖ next_epoch ‖ root ‖ set ‖ 0 | (1 ‖ attestation ‖ since ‖ plan ‖ next_set)`, where a
    /// set or plan is `n u16 ‖ (address ‖ u64)*`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![VALUE_VERSION];
        v.extend_from_slice(&self.next_epoch.to_be_bytes());
        v.extend_from_slice(self.root.as_slice());
        put_set(&mut v, &self.set);
        match &self.pending {
            None => v.push(0),
            Some(p) => {
                v.push(1);
                put_attestation(&mut v, &p.attestation);
                v.extend_from_slice(&p.since.to_be_bytes());
                put_set(&mut v, &p.plan);
                put_set(&mut v, &p.next_set);
            }
        }
        v
    }

    /// Decodes [`Self::encode`]'s output.
    pub fn decode(mut bytes: &[u8]) -> crate::Result<Self> {
        let b = &mut bytes;
        crate::protocol::version(b, "bridge state version")?;
        let next_epoch = crate::take_u64(b, "next epoch")?;
        let root = crate::proving::take_b256(b, "bridge root")?;
        let set = take_set(b, "signing set")?;
        let pending = match crate::take(b, 1, "pending flag")?[0] {
            0 => None,
            1 => Some(PendingAttestation {
                attestation: take_attestation(b)?,
                since: crate::take_u64(b, "pending since")?,
                plan: take_set(b, "power plan")?,
                next_set: take_set(b, "next set")?,
            }),
            tag => {
                return Err(crate::DecodeError::Tag {
                    what: "pending flag",
                    tag,
                });
            }
        };
        crate::protocol::end(b, "bridge state")?;
        Ok(Self {
            next_epoch,
            root,
            set,
            pending,
        })
    }
}

/// A withdrawal to L1 as the chain recorded it (the value of [`crate::StateKey::Withdrawal`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WithdrawalEntry {
    /// Who paid it on L2 (`msg.sender` of the withdrawal contract's `withdraw`).
    pub sender: Address,
    /// Who is paid on L1, and how much (wei).
    pub withdrawal: Withdrawal,
    /// The L2 block that made it.
    pub block: u64,
}

impl WithdrawalEntry {
    /// `0x01 ‖ sender ‖ l1_recipient ‖ amount u256 ‖ block u64`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(81);
        v.push(VALUE_VERSION);
        v.extend_from_slice(self.sender.as_slice());
        v.extend_from_slice(self.withdrawal.l1_recipient.as_slice());
        v.extend_from_slice(&self.withdrawal.amount.to_be_bytes::<32>());
        v.extend_from_slice(&self.block.to_be_bytes());
        v
    }

    /// Decodes [`Self::encode`]'s output.
    pub fn decode(mut bytes: &[u8]) -> crate::Result<Self> {
        let b = &mut bytes;
        crate::protocol::version(b, "withdrawal version")?;
        let sender = Address::from_slice(crate::take(b, 20, "withdrawal sender")?);
        let l1_recipient = Address::from_slice(crate::take(b, 20, "l1 recipient")?);
        let amount = crate::take_u256(b, "withdrawal amount")?;
        let block = crate::take_u64(b, "withdrawal block")?;
        crate::protocol::end(b, "withdrawal")?;
        Ok(Self {
            sender,
            withdrawal: Withdrawal {
                l1_recipient,
                amount,
            },
            block,
        })
    }
}

/// A bridge key's 65-byte signature `r ‖ s ‖ v` over an epoch digest.
pub type BridgeSignature = [u8; 65];

/// An attested epoch as the chain recorded it: everything `finalizeEpoch` needs but the proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationRecord {
    /// What was signed.
    pub attestation: EpochAttestation,
    /// The set that signed it (`(bridge key, power)`, ascending).
    pub set: Vec<(Address, u64)>,
    /// Signatures as `(index in set, signature)`, indices ascending.
    pub signatures: Vec<(u16, BridgeSignature)>,
    /// Height of the block that carried them.
    pub height: u64,
}

impl AttestationRecord {
    /// `0x01 ‖ attestation ‖ set ‖ n u16 ‖ (index u16 ‖ signature 65)* ‖ height`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![VALUE_VERSION];
        put_attestation(&mut v, &self.attestation);
        put_set(&mut v, &self.set);
        let n = u16::try_from(self.signatures.len()).expect("at most one signature per member");
        v.extend_from_slice(&n.to_be_bytes());
        for (i, s) in &self.signatures {
            v.extend_from_slice(&i.to_be_bytes());
            v.extend_from_slice(s);
        }
        v.extend_from_slice(&self.height.to_be_bytes());
        v
    }

    /// Decodes [`Self::encode`]'s output.
    pub fn decode(mut bytes: &[u8]) -> crate::Result<Self> {
        let b = &mut bytes;
        crate::protocol::version(b, "attestation version")?;
        let attestation = take_attestation(b)?;
        let set = take_set(b, "signing set")?;
        let n = crate::proving::take_u16(b, "signature count")?;
        let mut signatures = Vec::with_capacity(usize::from(n).min(MAX_VALIDATORS));
        for _ in 0..n {
            let i = crate::proving::take_u16(b, "signer index")?;
            let s: BridgeSignature = crate::take(b, 65, "signature")?
                .try_into()
                .expect("take returned 65 bytes");
            signatures.push((i, s));
        }
        let height = crate::take_u64(b, "attestation height")?;
        crate::protocol::end(b, "attestation")?;
        Ok(Self {
            attestation,
            set,
            signatures,
            height,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn a(n: u8) -> Address {
        Address::repeat_byte(n)
    }

    #[test]
    fn bridge_values_round_trip_and_refuse_trailing_bytes() {
        let att = EpochAttestation {
            l1_chain_id: 1,
            rollup: a(9),
            l2_chain_id: 2,
            epoch: 3,
            first_pre_root: B256::repeat_byte(1),
            last_post_root: B256::repeat_byte(2),
            epoch_commitment: B256::repeat_byte(3),
            withdrawal_root: B256::repeat_byte(4),
            l1_queue_rolling_hash: B256::repeat_byte(5),
            l1_queue_count: 11,
            next_validator_set_hash: B256::repeat_byte(6),
        };
        let q = QueueState {
            consumed: QueuePosition {
                count: 9,
                rolling: B256::repeat_byte(7),
            },
            attested: QueuePosition {
                count: 4,
                rolling: B256::repeat_byte(8),
            },
            l1_finalized: 3,
        };
        assert_eq!(QueueState::decode(&q.encode()), Ok(q));
        assert_eq!(QueuePosition::decode(&q.consumed.encode()), Ok(q.consumed));
        let mut long = q.encode();
        long.push(0);
        assert!(QueueState::decode(&long).is_err());
        let mut long = q.attested.encode();
        long.push(0);
        assert!(QueuePosition::decode(&long).is_err());
        let states = [
            BridgeState::default(),
            BridgeState {
                next_epoch: 7,
                root: B256::repeat_byte(0x42),
                set: vec![(a(1), 10), (a(2), 20)],
                pending: Some(PendingAttestation {
                    attestation: att,
                    since: 99,
                    plan: vec![(a(3), 0)],
                    next_set: vec![(a(1), 10)],
                }),
            },
        ];
        for st in states {
            let mut b = st.encode();
            assert_eq!(BridgeState::decode(&b).expect("decodes"), st);
            b.push(0);
            assert!(BridgeState::decode(&b).is_err());
        }
        let rec = AttestationRecord {
            attestation: att,
            set: vec![(a(1), 10), (a(2), 20)],
            signatures: vec![(0, [7u8; 65]), (1, [8u8; 65])],
            height: 42,
        };
        let mut b = rec.encode();
        assert_eq!(AttestationRecord::decode(&b).expect("decodes"), rec);
        b.pop();
        assert!(AttestationRecord::decode(&b).is_err());
        let w = WithdrawalEntry {
            sender: a(1),
            withdrawal: Withdrawal {
                l1_recipient: a(2),
                amount: U256::MAX,
            },
            block: 7,
        };
        let mut b = w.encode();
        assert_eq!(WithdrawalEntry::decode(&b).expect("decodes"), w);
        b.push(0);
        assert!(WithdrawalEntry::decode(&b).is_err());
    }

    #[test]
    fn the_digest_moves_with_every_field() {
        let base = EpochAttestation {
            l1_chain_id: 31337,
            rollup: a(1),
            l2_chain_id: 424242,
            epoch: 3,
            ..Default::default()
        };
        let d0 = epoch_digest(&base);
        let mut variants = Vec::new();
        let mut v = base;
        v.l1_chain_id += 1;
        variants.push(v);
        let mut v = base;
        v.rollup = a(2);
        variants.push(v);
        let mut v = base;
        v.l2_chain_id += 1;
        variants.push(v);
        let mut v = base;
        v.epoch += 1;
        variants.push(v);
        for f in 0..6 {
            let mut v = base;
            let field = match f {
                0 => &mut v.first_pre_root,
                1 => &mut v.last_post_root,
                2 => &mut v.epoch_commitment,
                3 => &mut v.withdrawal_root,
                4 => &mut v.l1_queue_rolling_hash,
                _ => &mut v.next_validator_set_hash,
            };
            *field = B256::with_last_byte(1);
            variants.push(v);
        }
        for v in variants {
            assert_ne!(epoch_digest(&v), d0, "{v:?}");
        }
        // The queue count is bound through the rolling hash, not signed itself.
        let mut v = base;
        v.l1_queue_count = 5;
        assert_eq!(epoch_digest(&v), d0);
    }

    #[test]
    fn the_queue_digest_moves_with_every_field_and_is_never_an_epoch_digest() {
        let r = a(1);
        let o = L1Observation {
            count: 3,
            l1_block: 100,
            rolling: B256::repeat_byte(9),
            finalized_epochs: 2,
        };
        let d0 = queue_digest(31337, &r, 424242, &o);
        let moved = [
            L1Observation { count: 4, ..o },
            L1Observation { l1_block: 101, ..o },
            L1Observation {
                rolling: B256::repeat_byte(8),
                ..o
            },
            L1Observation {
                finalized_epochs: 3,
                ..o
            },
        ];
        for d in moved
            .iter()
            .map(|m| queue_digest(31337, &r, 424242, m))
            .chain([
                queue_digest(31338, &r, 424242, &o),
                queue_digest(31337, &a(2), 424242, &o),
                queue_digest(31337, &r, 424243, &o),
            ])
        {
            assert_ne!(d, d0);
        }
        assert_ne!(tag(QUEUE_TAG), tag(EPOCH_TAG));
    }

    #[test]
    fn a_validator_set_must_be_ascending_powered_and_bounded() {
        assert_eq!(validator_set_hash(&[]), Err(ValidatorSetError::Size(0)));
        assert_eq!(
            validator_set_hash(&[(a(2), 1), (a(1), 1)]),
            Err(ValidatorSetError::Order(a(1)))
        );
        assert_eq!(
            validator_set_hash(&[(a(1), 1), (a(1), 1)]),
            Err(ValidatorSetError::Order(a(1)))
        );
        assert_eq!(
            validator_set_hash(&[(a(1), 0)]),
            Err(ValidatorSetError::ZeroPower(a(1)))
        );
        assert_eq!(
            validator_set_hash(&[(Address::ZERO, 1), (a(1), 1)]),
            Err(ValidatorSetError::ZeroAddress)
        );
        let big: Vec<(Address, u64)> = (0..=MAX_VALIDATORS)
            .map(|i| (Address::left_padding_from(&(i as u64 + 1).to_be_bytes()), 1))
            .collect();
        assert_eq!(
            validator_set_hash(&big),
            Err(ValidatorSetError::Size(MAX_VALIDATORS + 1))
        );
        let one = validator_set_hash(&[(a(1), 1)]).expect("valid");
        assert_ne!(one, validator_set_hash(&[(a(1), 2)]).expect("valid"));
        assert_ne!(one, validator_set_hash(&[(a(2), 1)]).expect("valid"));
    }

    #[test]
    fn more_than_two_thirds_is_enough() {
        assert!(!enough_power(2, 3));
        assert!(enough_power(3, 4));
        assert!(!enough_power(0, 0));
        assert!(enough_power(67, 100));
        assert!(!enough_power(66, 99));
    }

    #[test]
    fn no_withdrawals_root_is_zero_and_one_is_its_leaf() {
        assert_eq!(withdrawal_root(1, 2, &[]), B256::ZERO);
        let w = Withdrawal {
            l1_recipient: a(7),
            amount: U256::from(5),
        };
        assert_eq!(withdrawal_root(1, 2, &[w]), withdrawal_leaf(1, 2, 0, &w));
        assert_eq!(withdrawal_path(1, 2, &[w], 0), Some(vec![]));
        assert_eq!(withdrawal_path(1, 2, &[w], 1), None);
    }

    proptest! {
        #[test]
        fn every_withdrawal_path_leads_to_the_root_and_only_for_its_leaf(
            amounts in proptest::collection::vec(1u64..1_000_000, 1..20),
            epoch in 0u64..1000,
        ) {
            let ws: Vec<Withdrawal> = amounts
                .iter()
                .enumerate()
                .map(|(i, x)| Withdrawal { l1_recipient: a(i as u8 + 1), amount: U256::from(*x) })
                .collect();
            let root = withdrawal_root(9, epoch, &ws);
            for (i, w) in ws.iter().enumerate() {
                let path = withdrawal_path(9, epoch, &ws, i).expect("in range");
                prop_assert_eq!(path.len() as u32, depth(ws.len()));
                let leaf = withdrawal_leaf(9, epoch, i as u64, w);
                prop_assert_eq!(root_from_withdrawal_path(leaf, i as u64, &path), root);
                // Another amount, another epoch, or another index does not reach the root.
                let more = Withdrawal { amount: w.amount + U256::from(1), ..*w };
                prop_assert_ne!(
                    root_from_withdrawal_path(withdrawal_leaf(9, epoch, i as u64, &more), i as u64, &path),
                    root
                );
                prop_assert_ne!(
                    root_from_withdrawal_path(withdrawal_leaf(9, epoch + 1, i as u64, w), i as u64, &path),
                    root
                );
                if ws.len() > 1 {
                    let j = (i + 1) % ws.len();
                    prop_assert_ne!(
                        root_from_withdrawal_path(withdrawal_leaf(9, epoch, j as u64, w), j as u64, &path),
                        root
                    );
                }
            }
        }

        #[test]
        fn the_rolling_hash_depends_on_every_entry_and_its_order(
            amounts in proptest::collection::vec(1u64..1_000_000, 2..10),
        ) {
            let entries: Vec<QueueEntry> = amounts
                .iter()
                .enumerate()
                .map(|(i, x)| QueueEntry::Deposit {
                    index: i as u64,
                    sender: a(1),
                    l2_recipient: a(2),
                    amount: U256::from(*x),
                })
                .collect();
            let fold = |es: &[QueueEntry]| es.iter().fold(B256::ZERO, |r, e| roll(r, e.hash()));
            let all = fold(&entries);
            let mut swapped = entries.clone();
            swapped.swap(0, 1);
            prop_assert_ne!(fold(&swapped), all);
            prop_assert_ne!(fold(&entries[1..]), all);
            prop_assert_ne!(fold(&entries[..entries.len() - 1]), all);
        }
    }
}
