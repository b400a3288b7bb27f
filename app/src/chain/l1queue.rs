//! The L1 queue on L2 (DESIGN §6, docs/bridge.md "L1 → L2", ADR 0017): the deposits and
//! forced transactions the Rollup contract queues on L1 reach L2 only with the signatures of
//! more than two thirds of the signing set's power.
//!
//! - Each validator's node watches the Rollup's `QueueEntry` events to a configured L1
//!   finality depth ([`L1View`], filled by `crate::l1watch`; node-local, never consensus).
//! - ExtendVote ([`own_vote`]): a validator in the signing set appends a [`QueueVote`] to its
//!   vote extension (after the seed part and any epoch vote, [`crate::chain::bridge::split`]):
//!   its bridge key's signature of "I have seen the first `count` entries, final at L1 block
//!   `l1_block`, with rolling hash R, and the Rollup had finalized `finalized_epochs` epochs
//!   there" ([`parley_types::bridge::queue_digest`]). `count` goes one batch ([`batch_len`])
//!   past what the chain consumed.
//! - VerifyVoteExtension ([`check_vote`]): the vote is the sender's registered bridge key's,
//!   in the signing set, and its count is within one batch of what the chain consumed. The
//!   rolling hash cannot be checked there (it needs the entries).
//! - PrepareProposal ([`collect`]): the proposer keeps the votes of its last commit whose
//!   rolling hash matches its own view, and carries them with the entries they cover as a
//!   [`QueueBatch`] once votes holding more than two thirds of the power reach past the
//!   consumed count or past the epochs the chain knows final on L1 (a batch may then carry no
//!   entries).
//! - ProcessProposal ([`check_batch`]): the entries start at the consumed count, fit one batch,
//!   and every carried vote's signature recovers to its set member over the rolling hash the
//!   carried entries give at its count; the batch consumes up to the highest count that votes
//!   holding more than two thirds of the power reach ([`QueueBatch`] carries no entry past the
//!   highest vote). An invented, changed, reordered or skipped entry changes the rolling hash
//!   and no honest signature matches it.
//! - FinalizeBlock ([`apply`]): first in the L2 block (after the protocol messages, before
//!   the forced transactions and the block's own), in queue order: a deposit credits its L2
//!   recipient's balance; a forced transaction joins the forced queue (the same queue
//!   `ForceInclude` feeds, so it runs in this block's forced section within `forced_gas`), or
//!   is dropped if L2 would refuse it (malformed, another chain, gas limit over `forced_gas`):
//!   consumed either way, since L1 cannot judge it. A deposit that does not fit the block's
//!   diff or proof-index room stops the batch there; the rest waits for a later block. Nothing
//!   is consumed while backpressure holds the block's transactions.
//!   The highest finalized-epoch count that votes of more than two thirds reach becomes the
//!   chain's `l1_finalized` (the `finalized` tag), and the bonds held for those epochs start
//!   unbonding ([`hold_bond`]).
//! - The queue position at the end of each epoch ([`position_at_end`]) goes into the epoch's
//!   digest (`l1_queue_rolling_hash`, `l1_queue_count`), which L1 checks against its own
//!   rolling hash at that count.
//!
//! Pure functions of (overlay, parameters, height, message) like the rest of the core, except
//! [`own_vote`] and [`collect`], which read the node's own view.

use alloy_primitives::{Address, B256, U256};
use parley_types::bridge::{
    BridgeSignature, L1Observation, QueueEntry, QueuePosition, QueueState, enough_power,
    queue_digest, roll,
};
use parley_types::{AccountLeaf, KECCAK_EMPTY, StateKey};

use crate::chain::bridge::{self, BridgeError};
use crate::chain::genesis::Params;
use crate::chain::ledger::Ledger;
use crate::chain::overlay::Overlay;
use crate::chain::seed;
use crate::chain::tx::SenderMemo;
use crate::chain::view::{StateView, StoreError};

/// First byte of a [`QueueVote`].
pub const VOTE_TAG: u8 = 0xb2;
/// Length of an encoded [`QueueVote`]: tag, count, L1 block, rolling hash, finalized
/// epochs, signature.
pub const VOTE_BYTES: usize = 1 + 8 + 8 + 32 + 8 + 65;
/// Most entries one block consumes (and one vote reaches past the consumed count).
pub const MAX_BATCH: u64 = 32;
/// Most bytes of entries one batch carries, unless it is a single entry.
pub const MAX_BATCH_BYTES: usize = 256 * 1024;
/// The largest forced transaction L2 takes from the queue (the Rollup's `maxForcedTxBytes`
/// must not be larger, or such an entry could never be carried and L1 finalization would
/// stop at it).
pub const MAX_FORCED_BYTES: usize = 128 * 1024;

const KIND_DEPOSIT: u8 = 0;
const KIND_FORCED: u8 = 1;

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// A validator's signed view of L1, as its vote extension carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueVote {
    /// What it saw.
    pub seen: L1Observation,
    /// The bridge key's `r ‖ s ‖ v` over [`queue_digest`].
    pub signature: BridgeSignature,
}

impl QueueVote {
    /// `0xb2 ‖ count u64 ‖ l1_block u64 ‖ rolling ‖ finalized_epochs u64 ‖ r ‖ s ‖ v`:
    /// [`VOTE_BYTES`] bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(VOTE_BYTES);
        v.push(VOTE_TAG);
        v.extend_from_slice(&self.seen.count.to_be_bytes());
        v.extend_from_slice(&self.seen.l1_block.to_be_bytes());
        v.extend_from_slice(self.seen.rolling.as_slice());
        v.extend_from_slice(&self.seen.finalized_epochs.to_be_bytes());
        v.extend_from_slice(&self.signature);
        v
    }

    /// Decodes [`Self::encode`]'s output.
    pub fn decode(b: &[u8]) -> Result<Self, BridgeError> {
        if b.len() != VOTE_BYTES || b[0] != VOTE_TAG {
            return Err(BridgeError::Malformed);
        }
        let u = |at: usize| u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"));
        Ok(Self {
            seen: L1Observation {
                count: u(1),
                l1_block: u(9),
                rolling: B256::from_slice(&b[17..49]),
                finalized_epochs: u(49),
            },
            signature: b[57..].try_into().expect("65 bytes"),
        })
    }
}

/// What this node has seen of the L1 queue (its watcher's view; not consensus).
#[derive(Debug, Clone)]
pub struct L1View {
    entries: Vec<QueueEntry>,
    /// `rolling[i]`: the rolling hash after the first `i` entries.
    rolling: Vec<B256>,
    l1_block: u64,
    finalized_epochs: u64,
    error: Option<String>,
}

impl Default for L1View {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            rolling: vec![B256::ZERO],
            l1_block: 0,
            finalized_epochs: 0,
            error: None,
        }
    }
}

impl L1View {
    /// Appends the next entry, checking its position and the rolling hash the contract
    /// emitted with it against our own.
    pub fn push(&mut self, e: QueueEntry, emitted_rolling: B256) -> Result<(), String> {
        let n = self.len();
        if e.index() != n {
            return Err(format!("queue entry {} where entry {n} was due", e.index()));
        }
        let last = *self.rolling.last().expect("R_0 is always there");
        let r = roll(last, e.hash());
        if r != emitted_rolling {
            return Err(format!(
                "queue entry {n}: the contract's rolling hash {emitted_rolling} is not ours {r}"
            ));
        }
        self.entries.push(e);
        self.rolling.push(r);
        Ok(())
    }

    /// Entries seen.
    pub fn len(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Whether no entry was seen.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The rolling hash after the first `count` entries, if seen.
    pub fn rolling_at(&self, count: u64) -> Option<B256> {
        self.rolling.get(usize::try_from(count).ok()?).copied()
    }

    /// Entries `from .. to` (clamped to what was seen).
    pub fn entries(&self, from: u64, to: u64) -> &[QueueEntry] {
        let n = self.entries.len();
        let a = usize::try_from(from).unwrap_or(n).min(n);
        let b = usize::try_from(to).unwrap_or(n).min(n).max(a);
        &self.entries[a..b]
    }

    /// The L1 block up to which the view is complete (final at the configured depth).
    pub fn l1_block(&self) -> u64 {
        self.l1_block
    }

    /// Marks the view complete up to L1 block `b` and clears any error.
    pub fn set_l1_block(&mut self, b: u64) {
        self.l1_block = b;
        self.error = None;
    }

    /// Epochs the Rollup had finalized at [`Self::l1_block`] (its `nextEpoch()`): epochs
    /// `0 .. finalized_epochs` are final on L1.
    pub fn finalized_epochs(&self) -> u64 {
        self.finalized_epochs
    }

    /// Records the Rollup's `nextEpoch()` at the view's L1 block (it never goes back).
    pub fn set_finalized_epochs(&mut self, n: u64) {
        self.finalized_epochs = self.finalized_epochs.max(n);
    }

    /// The watcher's last error, if its view is stale or inconsistent.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Records a watcher error (the view stops voting while its entries disagree with L1).
    pub fn set_error(&mut self, e: String) {
        self.error = Some(e);
    }
}

/// The bytes an entry takes in a batch.
fn entry_bytes(e: &QueueEntry) -> usize {
    match e {
        QueueEntry::Deposit { .. } => 1 + 20 + 20 + 32,
        QueueEntry::Forced { raw_tx, .. } => 1 + 20 + 4 + raw_tx.len(),
    }
}

/// How many of `entries` (those after the consumed count, in order) one batch takes: at
/// least one, at most [`MAX_BATCH`], and no more than [`MAX_BATCH_BYTES`] unless one entry.
pub fn batch_len(entries: &[QueueEntry]) -> usize {
    let mut bytes = 0usize;
    let mut n = 0usize;
    for e in entries.iter().take(MAX_BATCH as usize) {
        bytes = bytes.saturating_add(entry_bytes(e));
        if n > 0 && bytes > MAX_BATCH_BYTES {
            break;
        }
        n += 1;
    }
    n
}

/// The chain's consumption of the queue; zeros on a chain whose bridge has consumed nothing.
pub fn state<V: StateView>(o: &mut Overlay<'_, V>) -> Result<QueueState, StoreError> {
    o.app(&StateKey::L1Queue)?
        .map(|b| QueueState::decode(&b).map_err(|e| corrupt("l1 queue state", e)))
        .transpose()
        .map(Option::unwrap_or_default)
}

/// Where the queue stood at the end of epoch `e`'s last block: its mark when a block of the
/// epoch consumed entries, otherwise where the last attested epoch ended (epochs are
/// attested in order, so that is `e − 1`'s end once `e`'s digest is fixed).
pub fn position_at_end<V: StateView>(
    o: &mut Overlay<'_, V>,
    e: u64,
) -> Result<QueuePosition, StoreError> {
    match o.app(&StateKey::QueueMark(e))? {
        Some(b) => QueuePosition::decode(&b).map_err(|x| corrupt("queue mark", x)),
        None => Ok(state(o)?.attested),
    }
}

/// On an epoch's attestation: its queue position becomes the attested one, and its mark is
/// no longer needed.
pub fn on_attested<V: StateView>(
    o: &mut Overlay<'_, V>,
    e: u64,
    at: QueuePosition,
) -> Result<(), StoreError> {
    let mut q = state(o)?;
    q.attested = at;
    o.put_app(StateKey::L1Queue, Some(q.encode()));
    o.put_app(StateKey::QueueMark(e), None);
    Ok(())
}

fn digest(params: &Params, b: &crate::chain::genesis::BridgeParams, seen: &L1Observation) -> B256 {
    queue_digest(b.l1_chain_id, &b.rollup, params.chain_id, seen)
}

/// ExtendVote: this node's L1 vote, when its view agrees with what the chain consumed and
/// reaches past it, or has seen more epochs finalized on L1 than the chain knows, and
/// `signer`'s key is in the signing set.
pub fn own_vote<V: StateView>(
    o: &mut Overlay<'_, V>,
    params: &Params,
    view: &L1View,
    signer: &alloy_signer_local::PrivateKeySigner,
) -> Result<Option<QueueVote>, StoreError> {
    let Some(b) = params.protocol.bridge else {
        return Ok(None);
    };
    let Some(st) = bridge::state(o)? else {
        return Ok(None);
    };
    if view.error().is_some() || !st.set.iter().any(|(a, _)| *a == signer.address()) {
        return Ok(None);
    }
    let q = state(o)?;
    let consumed = q.consumed.count;
    if view.len() < consumed
        || (view.len() == consumed && view.finalized_epochs() <= q.l1_finalized)
    {
        return Ok(None);
    }
    if view.rolling_at(consumed) != Some(q.consumed.rolling) {
        tracing::error!(target: "parley::bridge", consumed, chain = %q.consumed.rolling,
            "this node's view of the L1 queue disagrees with what the chain consumed; no queue vote");
        return Ok(None);
    }
    let count = consumed + batch_len(view.entries(consumed, view.len())) as u64;
    let mut vote = QueueVote {
        seen: L1Observation {
            count,
            l1_block: view.l1_block(),
            rolling: view.rolling_at(count).expect("count is within the view"),
            finalized_epochs: view.finalized_epochs(),
        },
        signature: [0; 65],
    };
    match bridge::sign(signer, &digest(params, &b, &vote.seen)) {
        Ok(s) => {
            vote.signature = s;
            Ok(Some(vote))
        }
        Err(e) => {
            tracing::error!(target: "parley::bridge", error = %e, "could not sign the queue vote");
            Ok(None)
        }
    }
}

/// VerifyVoteExtension's rule for the queue part of `validator`'s extension (consensus
/// address), on committed state.
pub fn check_vote<V: StateView>(
    o: &mut Overlay<'_, V>,
    params: &Params,
    validator: Address,
    part: Option<&[u8]>,
) -> Result<Result<(), BridgeError>, StoreError> {
    let Some(part) = part else {
        return Ok(Ok(()));
    };
    let (Some(b), Some(st)) = (params.protocol.bridge, bridge::state(o)?) else {
        return Ok(Err(BridgeError::NoBridge));
    };
    let vote = match QueueVote::decode(part) {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    let consumed = state(o)?.consumed.count;
    if vote.seen.count < consumed || vote.seen.count - consumed > MAX_BATCH {
        return Ok(Err(BridgeError::QueueCount {
            consumed,
            got: vote.seen.count,
        }));
    }
    let Some(who) = bridge::recover(&digest(params, &b, &vote.seen), &vote.signature) else {
        return Ok(Err(BridgeError::Signature));
    };
    if !st.set.iter().any(|(a, _)| *a == who) {
        return Ok(Err(BridgeError::NotInSet(who)));
    }
    let want = bridge::bridge_key_of(o, validator)?;
    Ok(if want == Some(who) {
        Ok(())
    } else {
        Err(BridgeError::WrongKey { want, got: who })
    })
}

/// One vote as a [`QueueBatch`] carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchVote {
    /// The signer's index in the signing set.
    pub index: u16,
    /// Its count.
    pub count: u64,
    /// Its L1 block.
    pub l1_block: u64,
    /// Its finalized epochs.
    pub finalized_epochs: u64,
    /// Its signature (the rolling hash is the batch's at `count`).
    pub signature: BridgeSignature,
}

/// What a checked [`QueueBatch`] does: the queue count it consumes up to, and the epochs
/// final on L1 it records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Effect {
    /// Consume entries up to this count.
    pub to: u64,
    /// Epochs final on L1 from now on.
    pub finalized: u64,
}

/// Queue entries and the votes that let them in, as a proposal carries them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueBatch {
    /// Queue index of the first entry: the chain's consumed count.
    pub first: u64,
    /// Entries `first ..`, in queue order.
    pub entries: Vec<QueueEntry>,
    /// The votes, signer indices strictly ascending.
    pub votes: Vec<BatchVote>,
}

fn take<'a>(buf: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], String> {
    if buf.len() < n {
        return Err(format!("queue batch: {what} truncated"));
    }
    let (a, b) = buf.split_at(n);
    *buf = b;
    Ok(a)
}

fn take_u64(buf: &mut &[u8], what: &str) -> Result<u64, String> {
    Ok(u64::from_be_bytes(
        take(buf, 8, what)?.try_into().expect("8 bytes"),
    ))
}

fn take_u16(buf: &mut &[u8], what: &str) -> Result<u16, String> {
    Ok(u16::from_be_bytes(
        take(buf, 2, what)?.try_into().expect("2 bytes"),
    ))
}

impl QueueBatch {
    /// `first u64 ‖ n u16 ‖ entry* ‖ m u16 ‖ (index u16 ‖ count u64 ‖ l1_block u64 ‖
    /// finalized_epochs u64 ‖ sig 65)*`,
    /// an entry `0 ‖ sender ‖ l2_recipient ‖ amount u256` (deposit) or `1 ‖ sender ‖ len u32 ‖
    /// raw` (forced); entry indices follow from `first`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.first.to_be_bytes());
        let n = u16::try_from(self.entries.len()).expect("a batch has at most MAX_BATCH entries");
        out.extend_from_slice(&n.to_be_bytes());
        for e in &self.entries {
            match e {
                QueueEntry::Deposit {
                    sender,
                    l2_recipient,
                    amount,
                    ..
                } => {
                    out.push(KIND_DEPOSIT);
                    out.extend_from_slice(sender.as_slice());
                    out.extend_from_slice(l2_recipient.as_slice());
                    out.extend_from_slice(&amount.to_be_bytes::<32>());
                }
                QueueEntry::Forced { sender, raw_tx, .. } => {
                    out.push(KIND_FORCED);
                    out.extend_from_slice(sender.as_slice());
                    let len = u32::try_from(raw_tx.len()).expect("forced txs are small");
                    out.extend_from_slice(&len.to_be_bytes());
                    out.extend_from_slice(raw_tx);
                }
            }
        }
        let m = u16::try_from(self.votes.len()).expect("one vote per set member");
        out.extend_from_slice(&m.to_be_bytes());
        for v in &self.votes {
            out.extend_from_slice(&v.index.to_be_bytes());
            out.extend_from_slice(&v.count.to_be_bytes());
            out.extend_from_slice(&v.l1_block.to_be_bytes());
            out.extend_from_slice(&v.finalized_epochs.to_be_bytes());
            out.extend_from_slice(&v.signature);
        }
    }

    /// Decodes [`Self::encode`]'s output from the front of `buf` (the sizes bounded before
    /// anything is allocated for them).
    pub fn decode(buf: &mut &[u8]) -> Result<Self, String> {
        let first = take_u64(buf, "first index")?;
        let n = take_u16(buf, "entry count")?;
        if u64::from(n) > MAX_BATCH {
            return Err(format!("queue batch: {n} entries, at most {MAX_BATCH}"));
        }
        let mut entries = Vec::with_capacity(usize::from(n));
        for i in 0..u64::from(n) {
            let index = first
                .checked_add(i)
                .ok_or_else(|| "queue batch: index overflow".to_string())?;
            let kind = take(buf, 1, "entry kind")?[0];
            let sender = Address::from_slice(take(buf, 20, "sender")?);
            entries.push(match kind {
                KIND_DEPOSIT => QueueEntry::Deposit {
                    index,
                    sender,
                    l2_recipient: Address::from_slice(take(buf, 20, "recipient")?),
                    amount: U256::from_be_slice(take(buf, 32, "amount")?),
                },
                KIND_FORCED => {
                    let len = u32::from_be_bytes(take(buf, 4, "length")?.try_into().expect("4"));
                    let len = usize::try_from(len).unwrap_or(usize::MAX);
                    if len > MAX_FORCED_BYTES {
                        return Err(format!(
                            "queue batch: a forced transaction of {len} bytes, at most {MAX_FORCED_BYTES}"
                        ));
                    }
                    QueueEntry::Forced {
                        index,
                        sender,
                        raw_tx: take(buf, len, "forced transaction")?.to_vec(),
                    }
                }
                k => return Err(format!("queue batch: unknown entry kind {k}")),
            });
        }
        let m = take_u16(buf, "vote count")?;
        if usize::from(m) > parley_types::bridge::MAX_VALIDATORS {
            return Err(format!("queue batch: {m} votes"));
        }
        let mut votes = Vec::with_capacity(usize::from(m));
        for _ in 0..m {
            votes.push(BatchVote {
                index: take_u16(buf, "vote index")?,
                count: take_u64(buf, "vote count")?,
                l1_block: take_u64(buf, "vote l1 block")?,
                finalized_epochs: take_u64(buf, "vote finalized epochs")?,
                signature: take(buf, 65, "vote signature")?
                    .try_into()
                    .expect("65 bytes"),
            });
        }
        Ok(Self {
            first,
            entries,
            votes,
        })
    }
}

/// The highest value above `above` that `votes` (value, power) holding more than two thirds
/// of `total` reach; `None` if none does.
fn supported(above: u64, votes: &[(u64, u64)], total: u128) -> Option<u64> {
    let mut values: Vec<u64> = votes
        .iter()
        .map(|(c, _)| *c)
        .filter(|c| *c > above)
        .collect();
    values.sort_unstable();
    values.dedup();
    values.into_iter().rev().find(|n| {
        let power: u128 = votes
            .iter()
            .filter(|(c, _)| c >= n)
            .map(|(_, p)| u128::from(*p))
            .sum();
        enough_power(power, total)
    })
}

/// What votes (`(count, finalized, power)`) let in above the chain's `q`.
fn effect_of(q: &QueueState, votes: &[(u64, u64, u64)], total: u128) -> Option<Effect> {
    let counts: Vec<(u64, u64)> = votes.iter().map(|(c, _, p)| (*c, *p)).collect();
    let finals: Vec<(u64, u64)> = votes.iter().map(|(_, f, p)| (*f, *p)).collect();
    let to = supported(q.consumed.count, &counts, total);
    let finalized = supported(q.l1_finalized, &finals, total);
    if to.is_none() && finalized.is_none() {
        return None;
    }
    Some(Effect {
        to: to.unwrap_or(q.consumed.count),
        finalized: finalized.unwrap_or(q.l1_finalized),
    })
}

/// PrepareProposal: a batch from `commit`'s L1 votes that agree with this node's `view`,
/// when they let at least one entry in or record more epochs final on L1.
pub fn collect<V: StateView>(
    o: &mut Overlay<'_, V>,
    params: &Params,
    view: &L1View,
    commit: &seed::LastCommit,
) -> Result<Option<QueueBatch>, StoreError> {
    let Some(b) = params.protocol.bridge else {
        return Ok(None);
    };
    let Some(st) = bridge::state(o)? else {
        return Ok(None);
    };
    let q = state(o)?;
    let first = q.consumed.count;
    if view.len() < first || view.rolling_at(first) != Some(q.consumed.rolling) {
        return Ok(None);
    }
    // The longest batch this view can carry from here: votes past it cannot be checked.
    let reach = first + batch_len(view.entries(first, view.len())) as u64;
    let mut found: std::collections::BTreeMap<usize, BatchVote> = Default::default();
    for cv in commit.votes.iter().filter(|v| v.signed) {
        let Some(part) = bridge::split(&cv.extension).queue else {
            continue;
        };
        let Ok(v) = QueueVote::decode(part) else {
            continue;
        };
        let c = v.seen.count;
        if c < first || c > reach || view.rolling_at(c) != Some(v.seen.rolling) {
            continue;
        }
        let Some(who) = bridge::recover(&digest(params, &b, &v.seen), &v.signature) else {
            continue;
        };
        if let Some(i) = st.set.iter().position(|(a, _)| *a == who) {
            found.entry(i).or_insert(BatchVote {
                index: u16::try_from(i).expect("sets have at most 128 members"),
                count: c,
                l1_block: v.seen.l1_block,
                finalized_epochs: v.seen.finalized_epochs,
                signature: v.signature,
            });
        }
    }
    let total: u128 = st.set.iter().map(|(_, p)| u128::from(*p)).sum();
    let powered: Vec<(u64, u64, u64)> = found
        .iter()
        .map(|(i, v)| (v.count, v.finalized_epochs, st.set[*i].1))
        .collect();
    let Some(effect) = effect_of(&q, &powered, total) else {
        return Ok(None);
    };
    // Only the votes that reach what the batch does are needed; the entries go up to the
    // highest count among them.
    let votes: Vec<BatchVote> = found
        .into_values()
        .filter(|v| {
            (effect.to > first && v.count >= effect.to)
                || (effect.finalized > q.l1_finalized && v.finalized_epochs >= effect.finalized)
        })
        .collect();
    let top = votes.iter().map(|v| v.count).max().unwrap_or(first);
    Ok(Some(QueueBatch {
        first,
        entries: view.entries(first, top).to_vec(),
        votes,
    }))
}

/// ProcessProposal's (and FinalizeBlock's) rule for a [`QueueBatch`], on committed state:
/// returns what it does.
pub fn check_batch<V: StateView>(
    o: &mut Overlay<'_, V>,
    params: &Params,
    batch: &QueueBatch,
) -> Result<Result<Effect, String>, StoreError> {
    let (Some(b), Some(st)) = (params.protocol.bridge, bridge::state(o)?) else {
        return Ok(Err(
            "this chain has no bridge: a proposal carries no L1 queue entries".into(),
        ));
    };
    let q = state(o)?;
    let first = q.consumed.count;
    if batch.first != first {
        return Ok(Err(format!(
            "queue batch starts at entry {}, but the chain consumed {first}",
            batch.first
        )));
    }
    let len = batch.entries.len();
    if batch_len(&batch.entries) != len {
        return Ok(Err(format!(
            "queue batch of {len} entries is not one batch (at most {MAX_BATCH} entries, {MAX_BATCH_BYTES} bytes unless one)"
        )));
    }
    let mut rolling = Vec::with_capacity(len + 1);
    rolling.push(q.consumed.rolling);
    for e in &batch.entries {
        let last = *rolling.last().expect("starts with one");
        rolling.push(roll(last, e.hash()));
    }
    let mut last: Option<u16> = None;
    let mut powered = Vec::with_capacity(batch.votes.len());
    let mut top = first;
    for v in &batch.votes {
        if last.is_some_and(|l| l >= v.index) {
            return Ok(Err(format!(
                "queue batch: signer index {} is not above the one before",
                v.index
            )));
        }
        last = Some(v.index);
        let Some((who, power)) = st.set.get(usize::from(v.index)) else {
            return Ok(Err(format!(
                "queue batch: signer index {} is outside the set of {}",
                v.index,
                st.set.len()
            )));
        };
        if v.count < first || v.count > first + len as u64 {
            return Ok(Err(format!(
                "queue batch: a vote for count {} outside the batch's {first}..={}",
                v.count,
                first + len as u64
            )));
        }
        let seen = L1Observation {
            count: v.count,
            l1_block: v.l1_block,
            rolling: rolling[(v.count - first) as usize],
            finalized_epochs: v.finalized_epochs,
        };
        if bridge::recover(&digest(params, &b, &seen), &v.signature) != Some(*who) {
            return Ok(Err(format!(
                "queue batch: the vote at index {} is not {who}'s over these entries",
                v.index
            )));
        }
        top = top.max(v.count);
        powered.push((v.count, v.finalized_epochs, *power));
    }
    if top != first + len as u64 {
        return Ok(Err(format!(
            "queue batch carries entries up to {}, but no vote reaches past {top}",
            first + len as u64
        )));
    }
    let total: u128 = st.set.iter().map(|(_, p)| u128::from(*p)).sum();
    Ok(effect_of(&q, &powered, total).ok_or_else(|| {
        "queue batch: no new count or finalized epoch is signed by more than two thirds of the power"
            .to_string()
    }))
}

/// FinalizeBlock, first in the L2 block: consumes the batch's entries up to `effect.to`
/// (module docs), unless `held` (backpressure) or a deposit does not fit the block's room;
/// records `effect.finalized` and starts unbonding the bonds it frees ([`hold_bond`]).
#[allow(clippy::too_many_arguments)]
pub fn apply<V: StateView>(
    o: &mut Overlay<'_, V>,
    params: &Params,
    height: u64,
    batch: &QueueBatch,
    effect: Effect,
    held: bool,
    senders: &impl SenderMemo,
) -> Result<u64, StoreError> {
    let mut q = state(o)?;
    if batch.first != q.consumed.count {
        return Err(corrupt(
            "queue batch",
            "checked against another consumed count",
        ));
    }
    let mut done = 0u64;
    let take = if held {
        0
    } else {
        usize::try_from(effect.to.saturating_sub(batch.first)).unwrap_or(usize::MAX)
    };
    for e in batch.entries.iter().take(take) {
        match e {
            QueueEntry::Deposit {
                l2_recipient,
                amount,
                ..
            } => {
                let key = StateKey::Account(*l2_recipient);
                if !o.write_fits(&key)? || !o.insert_fits(&key)? {
                    tracing::debug!(target: "parley::bridge", index = e.index(), "deposit waits: the block's diff or proof-index room is full");
                    break;
                }
                let acc = o.account(*l2_recipient)?.unwrap_or(AccountLeaf {
                    nonce: 0,
                    balance: U256::ZERO,
                    code_hash: KECCAK_EMPTY,
                });
                // L1's ether supply bounds every sum of deposits far below 2^256.
                let balance = acc.balance.saturating_add(*amount);
                o.set_account(*l2_recipient, AccountLeaf { balance, ..acc });
            }
            QueueEntry::Forced { raw_tx, .. } => {
                let mut l = Ledger::new(o);
                if let Err(why) =
                    crate::chain::auction::force_include(&mut l, params, height, raw_tx, senders)?
                {
                    tracing::info!(target: "parley::bridge", index = e.index(), reason = %why, "forced transaction from L1 dropped");
                }
            }
        }
        q.consumed = QueuePosition {
            count: e.index() + 1,
            rolling: roll(q.consumed.rolling, e.hash()),
        };
        done += 1;
    }
    if done > 0
        && let Some(a) = params
            .protocol
            .proving
            .as_ref()
            .and_then(|p| p.aggregation.as_ref())
    {
        let e = crate::chain::aggregation::epoch_of(a, height);
        o.put_app(StateKey::QueueMark(e), Some(q.consumed.encode()));
    }
    let finalized = effect.finalized > q.l1_finalized;
    if finalized {
        q.l1_finalized = effect.finalized;
        release_bonds(o, height, q.l1_finalized)?;
        prune_l1_proofs(o, q.l1_finalized)?;
    }
    if done > 0 || finalized {
        o.put_app(StateKey::L1Queue, Some(q.encode()));
    }
    Ok(done)
}

/// On a chain with a bridge, a leaving validator's bond waits for L1 to finalize `epoch`,
/// the last epoch it signed (DESIGN §6), before its unbonding (due at `release`) counts.
pub fn hold_bond<V: StateView>(
    o: &mut Overlay<'_, V>,
    epoch: u64,
    owner: Address,
    release: u64,
    amount: U256,
) -> Result<(), StoreError> {
    let key = StateKey::HeldBond { epoch, owner };
    let have = match o.app(&key)? {
        Some(b) => decode_held(&b)?.1,
        None => U256::ZERO,
    };
    let total = have
        .checked_add(amount)
        .ok_or_else(|| corrupt("held bond", "amount overflows"))?;
    let mut v = Vec::with_capacity(41);
    v.push(1);
    v.extend_from_slice(&release.to_be_bytes());
    v.extend_from_slice(&total.to_be_bytes::<32>());
    o.put_app(key, Some(v));
    Ok(())
}

fn decode_held(b: &[u8]) -> Result<(u64, U256), StoreError> {
    match b {
        [1, rest @ ..] if rest.len() == 40 => Ok((
            u64::from_be_bytes(rest[..8].try_into().expect("8 bytes")),
            U256::from_be_slice(&rest[8..]),
        )),
        _ => Err(corrupt("held bond", "malformed value")),
    }
}

/// The bonds held for epochs L1 has now finalized (`0 .. finalized`) start unbonding: due
/// at their planned release height, or now if that has passed.
fn release_bonds<V: StateView>(
    o: &mut Overlay<'_, V>,
    height: u64,
    finalized: u64,
) -> Result<(), StoreError> {
    let Some(last) = finalized.checked_sub(1) else {
        return Ok(());
    };
    let range = StateKey::HeldBond {
        epoch: 0,
        owner: Address::ZERO,
    }..=StateKey::HeldBond {
        epoch: last,
        owner: Address::repeat_byte(0xff),
    };
    for (key, value) in o.app_range(range)? {
        let StateKey::HeldBond { owner, .. } = key else {
            return Err(corrupt("held bond", format!("{key:?} in the held range")));
        };
        let (release, amount) = decode_held(&value)?;
        o.put_app(key, None);
        Ledger::new(o).add_unbonding(
            release.max(height),
            owner,
            parley_types::Role::Validator,
            amount,
        )?;
    }
    Ok(())
}

/// The L1 proofs of epochs L1 has now finalized (`0 .. finalized`) are no longer needed by
/// any relayer: dropped from state (ADR 0018).
fn prune_l1_proofs<V: StateView>(o: &mut Overlay<'_, V>, finalized: u64) -> Result<(), StoreError> {
    let Some(last) = finalized.checked_sub(1) else {
        return Ok(());
    };
    for (key, _) in o.app_range(StateKey::L1Proof(0)..=StateKey::L1Proof(last))? {
        o.put_app(key, None);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deposit(index: u64, amount: u64) -> QueueEntry {
        QueueEntry::Deposit {
            index,
            sender: Address::repeat_byte(1),
            l2_recipient: Address::repeat_byte(2),
            amount: U256::from(amount),
        }
    }

    #[test]
    fn a_vote_and_a_batch_round_trip_and_garbage_is_refused() {
        let v = QueueVote {
            seen: L1Observation {
                count: 3,
                l1_block: 99,
                rolling: B256::repeat_byte(4),
                finalized_epochs: 2,
            },
            signature: [5; 65],
        };
        assert_eq!(QueueVote::decode(&v.encode()), Ok(v));
        assert_eq!(
            QueueVote::decode(&v.encode()[1..]),
            Err(BridgeError::Malformed)
        );
        let b = QueueBatch {
            first: 7,
            entries: vec![
                deposit(7, 10),
                QueueEntry::Forced {
                    index: 8,
                    sender: Address::repeat_byte(3),
                    raw_tx: vec![0xaa; 100],
                },
            ],
            votes: vec![BatchVote {
                index: 1,
                count: 9,
                l1_block: 4,
                finalized_epochs: 1,
                signature: [6; 65],
            }],
        };
        let mut buf = Vec::new();
        b.encode(&mut buf);
        let mut s = buf.as_slice();
        assert_eq!(QueueBatch::decode(&mut s), Ok(b));
        assert!(s.is_empty());
        for cut in [1, 10, buf.len() - 1] {
            let mut short = &buf[..cut];
            assert!(QueueBatch::decode(&mut short).is_err(), "cut at {cut}");
        }
        // A forced transaction longer than L2 takes is refused before it is read.
        let mut big = Vec::new();
        big.extend_from_slice(&0u64.to_be_bytes());
        big.extend_from_slice(&1u16.to_be_bytes());
        big.push(KIND_FORCED);
        big.extend_from_slice(&[0; 20]);
        big.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(QueueBatch::decode(&mut big.as_slice()).is_err());
    }

    #[test]
    fn l1_proofs_of_epochs_l1_finalized_are_pruned_and_later_ones_kept() {
        let mut base = crate::chain::view::AppOnly::default();
        for e in [0u64, 2, 3, 7] {
            base.0.insert(StateKey::L1Proof(e), vec![e as u8; 4]);
        }
        base.0.insert(StateKey::QueueMark(1), vec![9]);
        let mut o = Overlay::new(&base);
        prune_l1_proofs(&mut o, 0).expect("nothing finalized");
        assert!(o.app_writes().is_empty());
        prune_l1_proofs(&mut o, 3).expect("prunes");
        assert_eq!(o.app(&StateKey::L1Proof(0)).expect("read"), None);
        assert_eq!(o.app(&StateKey::L1Proof(2)).expect("read"), None);
        assert_eq!(
            o.app(&StateKey::L1Proof(3)).expect("read"),
            Some(vec![3; 4])
        );
        assert_eq!(
            o.app(&StateKey::L1Proof(7)).expect("read"),
            Some(vec![7; 4])
        );
        assert_eq!(o.app(&StateKey::QueueMark(1)).expect("read"), Some(vec![9]));
    }

    #[test]
    fn a_batch_takes_at_least_one_entry_and_stops_at_its_limits() {
        let many: Vec<QueueEntry> = (0..100).map(|i| deposit(i, 1)).collect();
        assert_eq!(batch_len(&many), MAX_BATCH as usize);
        assert_eq!(batch_len(&many[..3]), 3);
        assert_eq!(batch_len(&[]), 0);
        let big = |i| QueueEntry::Forced {
            index: i,
            sender: Address::ZERO,
            raw_tx: vec![0; MAX_FORCED_BYTES],
        };
        // Two of the largest forced transactions fit 256 KiB only one at a time.
        assert_eq!(batch_len(&[big(0), big(1)]), 1);
        assert_eq!(batch_len(&[deposit(0, 1), big(1), big(2)]), 2);
    }

    #[test]
    fn the_view_checks_positions_and_the_contracts_rolling_hash() {
        let mut v = L1View::default();
        let e0 = deposit(0, 5);
        let r1 = roll(B256::ZERO, e0.hash());
        assert!(v.push(deposit(1, 5), r1).is_err(), "out of order");
        assert!(
            v.push(e0.clone(), B256::repeat_byte(1)).is_err(),
            "wrong hash"
        );
        v.push(e0, r1).expect("in order");
        assert_eq!(v.len(), 1);
        assert_eq!(v.rolling_at(0), Some(B256::ZERO));
        assert_eq!(v.rolling_at(1), Some(r1));
        assert_eq!(v.rolling_at(2), None);
        assert_eq!(v.entries(0, 9).len(), 1);
        assert!(v.entries(5, 1).is_empty());
    }

    #[test]
    fn support_is_the_highest_count_more_than_two_thirds_reach() {
        // Four members of 10: counts 5, 5, 3 and 9.
        let votes = [(5, 10), (5, 10), (3, 10), (9, 10)];
        // 5 is reached by three (30 of 40); 9 by one; 3 by all.
        assert_eq!(supported(0, &votes, 40), Some(5));
        assert_eq!(supported(5, &votes, 40), None);
        assert_eq!(supported(0, &votes[..2], 40), None);
    }

    #[test]
    fn a_batch_moves_the_queue_the_l1_finality_or_both() {
        let q = QueueState {
            consumed: QueuePosition {
                count: 2,
                rolling: B256::ZERO,
            },
            l1_finalized: 1,
            ..QueueState::default()
        };
        // (count, finalized, power): three of four reach count 4, all four finality 3.
        let votes = [(4, 3, 10), (4, 3, 10), (5, 3, 10), (2, 3, 10)];
        assert_eq!(
            effect_of(&q, &votes, 40),
            Some(Effect {
                to: 4,
                finalized: 3
            })
        );
        // Nothing new: no batch.
        let stale = [(2, 1, 10), (2, 1, 10), (2, 1, 10), (2, 1, 10)];
        assert_eq!(effect_of(&q, &stale, 40), None);
        // Finality only.
        let fin = [(2, 2, 10), (2, 2, 10), (2, 2, 10), (2, 0, 10)];
        assert_eq!(
            effect_of(&q, &fin, 40),
            Some(Effect {
                to: 2,
                finalized: 2
            })
        );
    }
}
