//! The validators' attestation of epochs for L1 (DESIGN §6, docs/bridge.md, ADR 0017), on a
//! chain whose genesis configures `params.protocol.bridge`.
//!
//! - [`end_block`]: once the oldest unattested epoch is done on L2 (aggregated, or closed
//!   without blocks), its digest is fixed in state ([`parley_types::bridge::BridgeState`]'s
//!   `pending`): the epoch's roots and `epoch_commitment`, the withdrawal root, the L1 queue's
//!   rolling hash, and the hash of the validator set that will sign the next epoch (the
//!   registry moved by [`ledger::plan_validator_changes`]: at most a third of the power).
//! - ExtendVote ([`own_vote`]): a validator whose bridge key is in the signing set appends a
//!   [`BridgeVote`] (the key's signature of the pending digest) to its vote extension, after
//!   the seed part ([`split`]).
//! - VerifyVoteExtension ([`check_vote`]): a bridge vote must be for the pending epoch and
//!   recover to the sender's registered bridge key, which must be in the signing set.
//! - PrepareProposal ([`collect`]): the proposer carries the valid bridge votes of its last
//!   commit as an [`Attest`] (after any seed reveals) once they hold more than two thirds of
//!   the signing set's power; ProcessProposal checks the same ([`check_attest`]).
//! - FinalizeBlock ([`apply`]): records the attestation
//!   ([`parley_types::bridge::AttestationRecord`], what the relayer posts), moves to the next
//!   epoch, and applies the planned validator-power changes: the CometBFT validator set
//!   changes only here (DESIGN §6), and the new set signs the next epoch.
//!
//! - After each block's transactions ([`after_transactions`]): the withdrawal contract's
//!   `Withdrawal` logs ([`crate::chain::predeploys::WITHDRAWALS`]) become the block's epoch's
//!   next withdrawals ([`parley_types::bridge::WithdrawalEntry`]), and the contract's balance
//!   is burned. The epoch's digest carries the root of its withdrawals' keccak tree.
//!
//! - The L1 queue's deposits and forced transactions: [`crate::chain::l1queue`]; the digest
//!   carries the queue position at the epoch's end.
//!
//! A validator leaving with an attestation signed that epoch last: its bond is held until
//! L1 finalizes it ([`crate::chain::l1queue::hold_bond`]).
//!
//! Pure functions of (overlay, parameters, height, message), like the rest of the core.

use alloy_primitives::{Address, B256, U256, keccak256};
use parley_types::bridge::{
    AttestationRecord, BridgeSignature, BridgeState, EpochAttestation, PendingAttestation,
    Withdrawal, WithdrawalEntry, enough_power, epoch_digest, validator_set_hash, withdrawal_root,
};
use parley_types::{EpochState, StateKey, TxRecord};

use crate::chain::aggregation;
use crate::chain::genesis::Params;
use crate::chain::ledger::{self, Ledger, ValidatorUpdate};
use crate::chain::overlay::Overlay;
use crate::chain::seed;
use crate::chain::view::{StateView, StoreError};

/// First byte of a [`BridgeVote`].
pub const VOTE_TAG: u8 = 0xb1;
/// Length of an encoded [`BridgeVote`]: tag, epoch, signature.
pub const VOTE_BYTES: usize = 1 + 8 + 65;

/// The secp256k1 group order's half: signatures with a larger `s` are refused (low-s).
const HALF_N: U256 = U256::from_be_slice(&[
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
]);

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// A validator's bridge signature of an epoch digest, as its vote extension carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BridgeVote {
    /// The epoch signed.
    pub epoch: u64,
    /// `r ‖ s ‖ v` over its digest.
    pub signature: BridgeSignature,
}

impl BridgeVote {
    /// `0xb1 ‖ epoch u64 ‖ r ‖ s ‖ v`: [`VOTE_BYTES`] bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(VOTE_BYTES);
        v.push(VOTE_TAG);
        v.extend_from_slice(&self.epoch.to_be_bytes());
        v.extend_from_slice(&self.signature);
        v
    }

    /// Decodes [`Self::encode`]'s output.
    pub fn decode(b: &[u8]) -> Result<Self, BridgeError> {
        if b.len() != VOTE_BYTES || b[0] != VOTE_TAG {
            return Err(BridgeError::Malformed);
        }
        Ok(Self {
            epoch: u64::from_be_bytes(b[1..9].try_into().expect("8 bytes")),
            signature: b[9..].try_into().expect("65 bytes"),
        })
    }
}

/// The parts of a vote extension: `seed ‖ [epoch vote] ‖ [queue vote]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts<'a> {
    /// The seed part: 0, 41 or 73 bytes ([`seed::Extension`]).
    pub seed: &'a [u8],
    /// The epoch vote ([`BridgeVote`], [`VOTE_BYTES`]), if any.
    pub epoch: Option<&'a [u8]>,
    /// The L1 queue vote ([`crate::chain::l1queue::QueueVote`]), if any.
    pub queue: Option<&'a [u8]>,
}

/// Splits a vote extension by its length: the seed part's three lengths and the votes'
/// lengths (74 and 122) add up to twelve different totals, so the length alone says which
/// parts are there (a unit test checks it). Any other length is all seed part, which the
/// seed rule then refuses.
pub fn split(extension: &[u8]) -> Parts<'_> {
    use crate::chain::l1queue::VOTE_BYTES as QUEUE_BYTES;
    for (epoch, queue) in [(false, false), (true, false), (false, true), (true, true)] {
        let tail = usize::from(epoch) * VOTE_BYTES + usize::from(queue) * QUEUE_BYTES;
        if let Some(n @ (0 | 41 | 73)) = extension.len().checked_sub(tail) {
            let (seed, rest) = extension.split_at(n);
            let (e, q) = rest.split_at(if epoch { VOTE_BYTES } else { 0 });
            return Parts {
                seed,
                epoch: epoch.then_some(e),
                queue: queue.then_some(q),
            };
        }
    }
    Parts {
        seed: extension,
        epoch: None,
        queue: None,
    }
}

/// Why a bridge vote or an [`Attest`] is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BridgeError {
    /// Not a well-formed bridge vote.
    #[error("malformed bridge vote")]
    Malformed,
    /// The chain has no bridge.
    #[error("this chain has no bridge: a vote extension carries no bridge vote")]
    NoBridge,
    /// No epoch digest is pending, or another epoch's is.
    #[error("bridge vote for epoch {got}, but the pending epoch is {pending:?}")]
    Epoch {
        /// The epoch whose digest is pending, if any.
        pending: Option<u64>,
        /// The vote's.
        got: u64,
    },
    /// The signature is not a low-s secp256k1 signature, or recovers to nobody.
    #[error("bridge signature does not recover (high s, bad v or invalid)")]
    Signature,
    /// It recovers to another key than the sender's registered bridge key.
    #[error("bridge signature by {got}, but the validator's bridge key is {want:?}")]
    WrongKey {
        /// The key the validator registered (none: not a registered validator).
        want: Option<Address>,
        /// Who signed.
        got: Address,
    },
    /// The signer is not in the epoch's signing set.
    #[error("bridge key {0} is not in the signing set of the pending epoch")]
    NotInSet(Address),
    /// A queue vote's count is not within one batch past what the chain consumed.
    #[error(
        "queue vote for count {got}, but the chain consumed {consumed} (a vote reaches 1..=32 entries past it)"
    )]
    QueueCount {
        /// Entries the chain consumed.
        consumed: u64,
        /// The vote's count.
        got: u64,
    },
}

/// The bridge's state; `None` on a chain without a bridge.
pub fn state<V: StateView>(o: &mut Overlay<'_, V>) -> Result<Option<BridgeState>, StoreError> {
    o.app(&StateKey::Bridge)?
        .map(|b| BridgeState::decode(&b).map_err(|e| corrupt("bridge state", e)))
        .transpose()
}

fn set_state<V: StateView>(o: &mut Overlay<'_, V>, s: &BridgeState) {
    o.put_app(StateKey::Bridge, Some(s.encode()));
}

/// Epoch `e`'s attestation record, once attested.
pub fn attestation<V: StateView>(
    o: &mut Overlay<'_, V>,
    e: u64,
) -> Result<Option<AttestationRecord>, StoreError> {
    o.app(&StateKey::Attestation(e))?
        .map(|b| AttestationRecord::decode(&b).map_err(|x| corrupt("attestation", x)))
        .transpose()
}

/// The address a 65-byte `r ‖ s ‖ v` signature of `digest` recovers to; `None` unless `v`
/// is 27 or 28 and `s` is in the lower half (as the Rollup contract requires).
pub fn recover(digest: &B256, sig: &BridgeSignature) -> Option<Address> {
    let r = U256::from_be_slice(&sig[..32]);
    let s = U256::from_be_slice(&sig[32..64]);
    let parity = match sig[64] {
        27 => false,
        28 => true,
        _ => return None,
    };
    if s > HALF_N || s.is_zero() || r.is_zero() {
        return None;
    }
    alloy_primitives::Signature::new(r, s, parity)
        .recover_address_from_prehash(digest)
        .ok()
}

/// `signer`'s signature of `digest` as the contract takes it (low-s, `v` 27 or 28).
pub fn sign(
    signer: &alloy_signer_local::PrivateKeySigner,
    digest: &B256,
) -> Result<BridgeSignature, alloy_signer::Error> {
    use alloy_signer::SignerSync as _;
    let sig = signer.sign_hash_sync(digest)?;
    let mut out = [0u8; 65];
    out[..32].copy_from_slice(&sig.r().to_be_bytes::<32>());
    out[32..64].copy_from_slice(&sig.s().to_be_bytes::<32>());
    out[64] = 27 + u8::from(sig.v());
    Ok(out)
}

/// `keccak256("Withdrawal(address,address,uint256)")`: the withdrawal contract's event.
pub fn withdrawal_topic() -> B256 {
    keccak256("Withdrawal(address,address,uint256)")
}

/// Epoch `e`'s withdrawals, in index order.
pub fn withdrawals<V: StateView>(
    o: &mut Overlay<'_, V>,
    e: u64,
) -> Result<Vec<WithdrawalEntry>, StoreError> {
    o.app_range(StateKey::withdrawals_of(e))?
        .into_iter()
        .map(|(_, v)| WithdrawalEntry::decode(&v).map_err(|x| corrupt("withdrawal", x)))
        .collect()
}

/// After block `height`'s transactions, on a chain with a bridge: records the withdrawal
/// contract's `Withdrawal` logs of the executed transactions, in order, as the next
/// withdrawals of the block's epoch, and burns the contract's balance (what it received is
/// now owed on L1). A log that is not the contract's own event shape is an invariant failure:
/// only the contract's code emits logs at its address.
pub fn after_transactions<V: StateView>(
    o: &mut Overlay<'_, V>,
    params: &Params,
    height: u64,
    executed: &[TxRecord],
) -> Result<(), StoreError> {
    let Some(a) = params
        .protocol
        .bridge
        .and(params.protocol.proving.as_ref())
        .and_then(|p| p.aggregation.as_ref())
    else {
        return Ok(());
    };
    let w = crate::chain::predeploys::WITHDRAWALS;
    let topic = withdrawal_topic();
    let e = aggregation::epoch_of(a, height);
    let mut next = o.app_range(StateKey::withdrawals_of(e))?.len() as u64;
    for tx in executed.iter().filter(|t| t.receipt.success) {
        for log in tx.receipt.logs.iter().filter(|l| l.address == w) {
            let t = log.data.topics();
            let (Some(t0), Some(sender), Some(to), 32) =
                (t.first(), t.get(1), t.get(2), log.data.data.len())
            else {
                return Err(corrupt(
                    "withdrawal log",
                    format!("malformed in tx {}", tx.hash),
                ));
            };
            if *t0 != topic {
                return Err(corrupt(
                    "withdrawal log",
                    format!("unknown event in tx {}", tx.hash),
                ));
            }
            let entry = WithdrawalEntry {
                sender: Address::from_word(*sender),
                withdrawal: Withdrawal {
                    l1_recipient: Address::from_word(*to),
                    amount: U256::from_be_slice(&log.data.data),
                },
                block: height,
            };
            o.put_app(
                StateKey::Withdrawal {
                    epoch: e,
                    index: next,
                },
                Some(entry.encode()),
            );
            next += 1;
        }
    }
    if let Some(acc) = o.account(w)?
        && !acc.balance.is_zero()
    {
        o.set_account(
            w,
            parley_types::AccountLeaf {
                balance: U256::ZERO,
                ..acc
            },
        );
    }
    Ok(())
}

/// End of every block: fixes the digest of the oldest unattested epoch once it is done on
/// L2 and nothing is pending.
pub fn end_block<V: StateView>(
    o: &mut Overlay<'_, V>,
    params: &Params,
    height: u64,
) -> Result<(), StoreError> {
    let Some(b) = params.protocol.bridge else {
        return Ok(());
    };
    let mut st = state(o)?.ok_or_else(|| corrupt("bridge state", "missing"))?;
    if st.pending.is_some() {
        return Ok(());
    }
    let e = st.next_epoch;
    let Some(ep) = aggregation::epoch(o, e)? else {
        return Ok(());
    };
    let (first_pre_root, last_post_root, epoch_commitment) = match ep.state {
        EpochState::Aggregated => {
            // The statement the epoch's L1 proof proves: the digest signs exactly it.
            let l1 = aggregation::l1_statement(e, &ep)?;
            if l1.first_pre_root != st.root {
                return Err(corrupt(
                    "bridge",
                    format!(
                        "epoch {e} starts at proof root {}, but the last attested epoch ended at {}",
                        l1.first_pre_root, st.root
                    ),
                ));
            }
            (l1.first_pre_root, l1.last_post_root, l1.epoch_commitment)
        }
        EpochState::Empty => (st.root, st.root, B256::ZERO),
        EpochState::Collecting | EpochState::Due => return Ok(()),
    };
    let validators = Ledger::new(o).validators()?;
    let plan = ledger::plan_validator_changes(&params.protocol, &validators);
    let mut next_set: Vec<(Address, u64)> = validators
        .iter()
        .map(|(op, v)| {
            let power = plan
                .iter()
                .find(|(p, _)| p == op)
                .map_or(v.power, |(_, p)| *p);
            (v.bridge_key, power)
        })
        .filter(|(_, p)| *p > 0)
        .collect();
    next_set.sort_by_key(|(a, _)| *a);
    let next_validator_set_hash = validator_set_hash(&next_set)
        .map_err(|e| corrupt("bridge", format!("the next signing set: {e}")))?;
    let queue = crate::chain::l1queue::position_at_end(o, e)?;
    let ws: Vec<Withdrawal> = withdrawals(o, e)?
        .into_iter()
        .map(|w| w.withdrawal)
        .collect();
    st.pending = Some(PendingAttestation {
        attestation: EpochAttestation {
            l1_chain_id: b.l1_chain_id,
            rollup: b.rollup,
            l2_chain_id: params.chain_id,
            epoch: e,
            first_pre_root,
            last_post_root,
            epoch_commitment,
            withdrawal_root: withdrawal_root(params.chain_id, e, &ws),
            l1_queue_rolling_hash: queue.rolling,
            l1_queue_count: queue.count,
            next_validator_set_hash,
        },
        since: height,
        plan,
        next_set,
    });
    set_state(o, &st);
    Ok(())
}

/// ExtendVote: this node's bridge vote, when a digest is pending and `signer`'s key is in
/// its signing set.
pub fn own_vote<V: StateView>(
    o: &mut Overlay<'_, V>,
    signer: &alloy_signer_local::PrivateKeySigner,
) -> Result<Option<BridgeVote>, StoreError> {
    let Some(st) = state(o)? else {
        return Ok(None);
    };
    let Some(p) = &st.pending else {
        return Ok(None);
    };
    if !st.set.iter().any(|(a, _)| *a == signer.address()) {
        return Ok(None);
    }
    let digest = epoch_digest(&p.attestation);
    match sign(signer, &digest) {
        Ok(signature) => Ok(Some(BridgeVote {
            epoch: p.attestation.epoch,
            signature,
        })),
        Err(e) => {
            tracing::error!(target: "parley::bridge", error = %e, "could not sign the epoch digest; the vote carries no bridge signature");
            Ok(None)
        }
    }
}

/// The registered bridge key of the validator whose node has consensus address `validator`.
pub(crate) fn bridge_key_of<V: StateView>(
    o: &mut Overlay<'_, V>,
    validator: Address,
) -> Result<Option<Address>, StoreError> {
    Ok(Ledger::new(o)
        .validators()?
        .into_iter()
        .find(|(_, v)| seed::consensus_address(&v.consensus_key) == validator)
        .map(|(_, v)| v.bridge_key))
}

/// Checks one bridge vote against the pending digest; returns its signer's index in the set.
fn check_signature(st: &BridgeState, vote: &BridgeVote) -> Result<(usize, Address), BridgeError> {
    let Some(p) = &st.pending else {
        return Err(BridgeError::Epoch {
            pending: None,
            got: vote.epoch,
        });
    };
    if p.attestation.epoch != vote.epoch {
        return Err(BridgeError::Epoch {
            pending: Some(p.attestation.epoch),
            got: vote.epoch,
        });
    }
    let who =
        recover(&epoch_digest(&p.attestation), &vote.signature).ok_or(BridgeError::Signature)?;
    let i = st
        .set
        .iter()
        .position(|(a, _)| *a == who)
        .ok_or(BridgeError::NotInSet(who))?;
    Ok((i, who))
}

/// VerifyVoteExtension's rule for the bridge part of `validator`'s extension (consensus
/// address), on committed state.
pub fn check_vote<V: StateView>(
    o: &mut Overlay<'_, V>,
    validator: Address,
    part: Option<&[u8]>,
) -> Result<Result<(), BridgeError>, StoreError> {
    let Some(part) = part else {
        return Ok(Ok(()));
    };
    let Some(st) = state(o)? else {
        return Ok(Err(BridgeError::NoBridge));
    };
    let vote = match BridgeVote::decode(part) {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    let who = match check_signature(&st, &vote) {
        Ok((_, who)) => who,
        Err(e) => return Ok(Err(e)),
    };
    let want = bridge_key_of(o, validator)?;
    Ok(if want == Some(who) {
        Ok(())
    } else {
        Err(BridgeError::WrongKey { want, got: who })
    })
}

/// An epoch's signatures as a proposal carries them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attest {
    /// The attested epoch (the pending one).
    pub epoch: u64,
    /// `(index in the signing set, signature)`, indices strictly ascending.
    pub signatures: Vec<(u16, BridgeSignature)>,
}

impl Attest {
    /// `epoch u64 ‖ n u16 ‖ (index u16 ‖ signature 65)*`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.epoch.to_be_bytes());
        let n = u16::try_from(self.signatures.len()).expect("at most one per set member");
        out.extend_from_slice(&n.to_be_bytes());
        for (i, s) in &self.signatures {
            out.extend_from_slice(&i.to_be_bytes());
            out.extend_from_slice(s);
        }
    }

    /// Decodes [`Self::encode`]'s output from the front of `buf`.
    pub fn decode(buf: &mut &[u8]) -> Result<Self, String> {
        fn take<'a>(buf: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], String> {
            if buf.len() < n {
                return Err(format!("attestation: {what} truncated"));
            }
            let (a, b) = buf.split_at(n);
            *buf = b;
            Ok(a)
        }
        let epoch = u64::from_be_bytes(take(buf, 8, "epoch")?.try_into().expect("8 bytes"));
        let n = u16::from_be_bytes(take(buf, 2, "count")?.try_into().expect("2 bytes"));
        if usize::from(n) > parley_types::bridge::MAX_VALIDATORS {
            return Err(format!("attestation: {n} signatures"));
        }
        let mut signatures = Vec::with_capacity(usize::from(n));
        for _ in 0..n {
            let i = u16::from_be_bytes(take(buf, 2, "index")?.try_into().expect("2 bytes"));
            let s: BridgeSignature = take(buf, 65, "signature")?.try_into().expect("65 bytes");
            signatures.push((i, s));
        }
        Ok(Self { epoch, signatures })
    }
}

/// PrepareProposal: the valid bridge votes of `commit` as an [`Attest`], when a digest is
/// pending and they hold more than two thirds of the signing set's power.
pub fn collect<V: StateView>(
    o: &mut Overlay<'_, V>,
    commit: &seed::LastCommit,
) -> Result<Option<Attest>, StoreError> {
    let Some(st) = state(o)? else {
        return Ok(None);
    };
    let Some(p) = &st.pending else {
        return Ok(None);
    };
    let mut found: std::collections::BTreeMap<usize, BridgeSignature> = Default::default();
    for v in commit.votes.iter().filter(|v| v.signed) {
        let Some(part) = split(&v.extension).epoch else {
            continue;
        };
        let Ok(vote) = BridgeVote::decode(part) else {
            continue;
        };
        if let Ok((i, _)) = check_signature(&st, &vote) {
            found.entry(i).or_insert(vote.signature);
        }
    }
    let signed: u128 = found.keys().map(|i| u128::from(st.set[*i].1)).sum();
    let total: u128 = st.set.iter().map(|(_, p)| u128::from(*p)).sum();
    if !enough_power(signed, total) {
        return Ok(None);
    }
    Ok(Some(Attest {
        epoch: p.attestation.epoch,
        signatures: found
            .into_iter()
            .map(|(i, s)| (u16::try_from(i).expect("sets have at most 128 members"), s))
            .collect(),
    }))
}

/// ProcessProposal's (and FinalizeBlock's) rule for an [`Attest`]: for the pending epoch,
/// indices strictly ascending inside the set, each signature that member's, more than two
/// thirds of the set's power.
pub fn check_attest<V: StateView>(
    o: &mut Overlay<'_, V>,
    a: &Attest,
) -> Result<Result<(), String>, StoreError> {
    let Some(st) = state(o)? else {
        return Ok(Err(
            "this chain has no bridge: a proposal carries no attestation".into(),
        ));
    };
    let Some(p) = &st.pending else {
        return Ok(Err(format!(
            "attestation of epoch {}, but no epoch digest is pending",
            a.epoch
        )));
    };
    if p.attestation.epoch != a.epoch {
        return Ok(Err(format!(
            "attestation of epoch {}, but epoch {} is pending",
            a.epoch, p.attestation.epoch
        )));
    }
    let digest = epoch_digest(&p.attestation);
    let mut last: Option<u16> = None;
    let mut signed: u128 = 0;
    for (i, s) in &a.signatures {
        if last.is_some_and(|l| l >= *i) {
            return Ok(Err(format!(
                "attestation: signer index {i} is not above the one before"
            )));
        }
        last = Some(*i);
        let Some((who, power)) = st.set.get(usize::from(*i)) else {
            return Ok(Err(format!(
                "attestation: signer index {i} is outside the set of {}",
                st.set.len()
            )));
        };
        if recover(&digest, s) != Some(*who) {
            return Ok(Err(format!(
                "attestation: the signature at index {i} is not {who}'s"
            )));
        }
        signed += u128::from(*power);
    }
    let total: u128 = st.set.iter().map(|(_, p)| u128::from(*p)).sum();
    Ok(if enough_power(signed, total) {
        Ok(())
    } else {
        Err(format!(
            "attestation: {signed} of {total} power signed; more than two thirds needed"
        ))
    })
}

/// FinalizeBlock: records a checked [`Attest`] and moves on (module docs). Returns the
/// validator-power changes for CometBFT.
pub fn apply<V: StateView>(
    o: &mut Overlay<'_, V>,
    params: &Params,
    height: u64,
    a: &Attest,
) -> Result<Vec<ValidatorUpdate>, StoreError> {
    let mut st = state(o)?.ok_or_else(|| corrupt("bridge state", "missing"))?;
    let p = st
        .pending
        .take()
        .ok_or_else(|| corrupt("bridge", "an attestation applied with nothing pending"))?;
    let record = AttestationRecord {
        attestation: p.attestation,
        set: std::mem::take(&mut st.set),
        signatures: a.signatures.clone(),
        height,
    };
    o.put_app(StateKey::Attestation(a.epoch), Some(record.encode()));
    st.next_epoch = a.epoch.saturating_add(1);
    st.root = p.attestation.last_post_root;
    st.set = p.next_set;
    set_state(o, &st);
    crate::chain::l1queue::on_attested(
        o,
        a.epoch,
        parley_types::bridge::QueuePosition {
            count: p.attestation.l1_queue_count,
            rolling: p.attestation.l1_queue_rolling_hash,
        },
    )?;
    let mut l = Ledger::new(o);
    // A validator leaving here signed this epoch last: its bond waits for L1 to finalize it.
    ledger::apply_power_plan(&mut l, &params.protocol, height, &p.plan, Some(a.epoch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extension_splits_by_length_alone() {
        use crate::chain::l1queue::VOTE_BYTES as Q;
        let mut totals = std::collections::BTreeSet::new();
        for seed_len in [0usize, 41, 73] {
            for (e, q) in [(false, false), (true, false), (false, true), (true, true)] {
                let mut ext = vec![1u8; seed_len];
                ext.extend(std::iter::repeat_n(VOTE_TAG, usize::from(e) * VOTE_BYTES));
                ext.extend(std::iter::repeat_n(0xb2, usize::from(q) * Q));
                assert!(
                    totals.insert(ext.len()),
                    "two layouts of {} bytes",
                    ext.len()
                );
                let p = split(&ext);
                assert_eq!(p.seed.len(), seed_len);
                assert_eq!(p.epoch.map(<[u8]>::len), e.then_some(VOTE_BYTES));
                assert_eq!(p.queue.map(<[u8]>::len), q.then_some(Q));
                assert!(p.epoch.is_none_or(|v| v.iter().all(|b| *b == VOTE_TAG)));
                assert!(p.queue.is_none_or(|v| v.iter().all(|b| *b == 0xb2)));
            }
        }
        assert_eq!(totals.len(), 12);
        // Any other length is all seed part (and fails the seed rule there).
        let odd = vec![0u8; VOTE_BYTES + 1];
        assert_eq!(split(&odd).seed.len(), VOTE_BYTES + 1);
        assert_eq!(split(&odd).epoch, None);
    }

    #[test]
    fn a_vote_round_trips_and_garbage_is_refused() {
        let v = BridgeVote {
            epoch: 9,
            signature: [3u8; 65],
        };
        assert_eq!(BridgeVote::decode(&v.encode()), Ok(v));
        let mut bad = v.encode();
        bad[0] = 0;
        assert_eq!(BridgeVote::decode(&bad), Err(BridgeError::Malformed));
        assert_eq!(
            BridgeVote::decode(&v.encode()[1..]),
            Err(BridgeError::Malformed)
        );
    }

    #[test]
    fn only_low_s_signatures_with_v_27_or_28_recover() {
        let signer =
            alloy_signer_local::PrivateKeySigner::from_bytes(&B256::repeat_byte(7)).expect("a key");
        let d = B256::repeat_byte(1);
        let sig = sign(&signer, &d).expect("signs");
        assert_eq!(recover(&d, &sig), Some(signer.address()));
        assert_ne!(recover(&B256::repeat_byte(2), &sig), Some(signer.address()));
        // The malleated twin (n − s, flipped v) is the same signature to ecrecover: refused.
        let n = U256::from_str_radix(
            "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
            16,
        )
        .expect("the order");
        let s = U256::from_be_slice(&sig[32..64]);
        let mut twin = sig;
        twin[32..64].copy_from_slice(&(n - s).to_be_bytes::<32>());
        twin[64] = if sig[64] == 27 { 28 } else { 27 };
        assert_eq!(recover(&d, &twin), None);
        let mut bad_v = sig;
        bad_v[64] = 0;
        assert_eq!(recover(&d, &bad_v), None);
    }

    #[test]
    fn an_attest_round_trips_and_refuses_truncation() {
        let a = Attest {
            epoch: 4,
            signatures: vec![(0, [1u8; 65]), (2, [2u8; 65])],
        };
        let mut b = Vec::new();
        a.encode(&mut b);
        let mut s = b.as_slice();
        assert_eq!(Attest::decode(&mut s), Ok(a));
        assert!(s.is_empty());
        let mut short = &b[..b.len() - 1];
        assert!(Attest::decode(&mut short).is_err());
    }
}
