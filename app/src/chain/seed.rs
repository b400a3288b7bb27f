//! The prover draw's seed from the validators' commit-reveal randomness, carried in CometBFT
//! vote extensions (ADR 0009; it replaces the block-hash seed of ADR 0007).
//!
//! Every `epoch_heights` heights comes a **reveal height** `h` (epoch `e = h / epoch_heights`).
//! There, each registered validator's vote extension ([`Extension`]) *opens* the secret it
//! committed to at an earlier reveal height and *commits* to its secret of epoch `e`, a
//! keccak of its private consensus key, the chain id and `e` ([`secret`]): nobody else can
//! compute it, and the validator cannot change it once committed. VerifyVoteExtension
//! ([`check_extension`]) refuses an extension that does not open the stored commitment, so a
//! precommit at a reveal height counts only with a valid opening.
//!
//! The proposer of `h + 1` (the **inclusion height**) puts, first in its proposal, a
//! [`SeedReveals`] with the extensions and extension signatures of the registered validators
//! whose precommit is in the block's last commit, in address order ([`collect`]).
//! ProcessProposal and FinalizeBlock check that the entries are such signers, each a valid
//! extension signed with the validator's registered ed25519 key over CometBFT's
//! vote-extension sign bytes, and that together they hold more than 2/3 of the registered
//! power the commit lists ([`check_reveals`]); then FinalizeBlock stores each new commitment
//! and mixes the openings into the seed ([`apply`]). The draws of the following heights use
//! that seed; nothing else moves it.
//!
//! What is left to choose: the proposer of the inclusion height chooses which openings to
//! carry, as long as they hold more than 2/3 of the power; a validator may withhold its own
//! opening by not precommitting. ADR 0009 counts the seeds this leaves. Carrying fewer than
//! all is allowed because CometBFT lets precommits that arrive after the commit into the last
//! commit without the app verifying their extensions (cometbft#2523): an honest proposer must
//! be able to leave out an invalid one. Validators that are not registered (a chain whose genesis does not
//! register its CometBFT validators) take no part; their extensions must only be small.

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, keccak256};
use parley_types::{SeedCommit, StateKey, ValidatorEntry};
use sha2::Digest as _;

use crate::chain::genesis::Params;
use crate::chain::overlay::Overlay;
use crate::chain::view::{StateView, StoreError};

/// Version byte of an [`Extension`].
pub const EXTENSION_VERSION: u8 = 1;
/// The largest seed part of an extension (an [`Extension`] with an opening is 73 bytes).
pub const MAX_SEED_BYTES: usize = 73;
/// The largest extension accepted from anyone: a seed part, an epoch vote and a queue vote
/// ([`crate::chain::bridge::split`]).
pub const MAX_EXTENSION_BYTES: usize =
    MAX_SEED_BYTES + crate::chain::bridge::VOTE_BYTES + crate::chain::l1queue::VOTE_BYTES;
const SECRET_DOMAIN: &[u8] = b"parley/seed-secret/v1";
const COMMIT_DOMAIN: &[u8] = b"parley/seed-commit/v1";
const MIX_DOMAIN: &[u8] = b"parley/seed/v2";

/// A validator's vote extension at a reveal height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension {
    /// The epoch of the reveal height (`height / epoch_heights`).
    pub epoch: u64,
    /// [`commitment`] of the validator's secret of `epoch`.
    pub commit: B256,
    /// The secret its stored commitment opens to; absent only when nothing is stored (its
    /// first reveal height as a registered validator).
    pub reveal: Option<B256>,
}

impl Extension {
    /// `0x01 ‖ epoch u64 ‖ commit ‖ [reveal]`: 41 or 73 bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(MAX_SEED_BYTES);
        v.push(EXTENSION_VERSION);
        v.extend_from_slice(&self.epoch.to_be_bytes());
        v.extend_from_slice(self.commit.as_slice());
        if let Some(r) = self.reveal {
            v.extend_from_slice(r.as_slice());
        }
        v
    }

    /// Decodes [`Self::encode`]'s output; any other length or version is refused.
    pub fn decode(b: &[u8]) -> Result<Self, SeedError> {
        if b.first() != Some(&EXTENSION_VERSION) {
            return Err(SeedError::Malformed("unknown version"));
        }
        if b.len() != 41 && b.len() != 73 {
            return Err(SeedError::Malformed("length is neither 41 nor 73 bytes"));
        }
        let epoch = u64::from_be_bytes(b[1..9].try_into().expect("8 bytes"));
        Ok(Self {
            epoch,
            commit: B256::from_slice(&b[9..41]),
            reveal: (b.len() == 73).then(|| B256::from_slice(&b[41..73])),
        })
    }
}

/// Why an extension or a [`SeedReveals`] is refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SeedError {
    /// Not a well-formed extension.
    #[error("malformed seed extension: {0}")]
    Malformed(&'static str),
    /// Anything but an empty extension away from a reveal height.
    #[error("height {0} is not a reveal height: the vote extension must be empty")]
    NotRevealHeight(u64),
    /// The extension names another epoch.
    #[error("extension for epoch {got}, but height {height} is in epoch {want}")]
    Epoch {
        /// The height.
        height: u64,
        /// Its epoch.
        want: u64,
        /// The extension's.
        got: u64,
    },
    /// A commitment is stored and the extension does not open it.
    #[error("the extension does not open the validator's commitment of epoch {0}")]
    Opening(u64),
    /// Nothing is stored, yet the extension reveals.
    #[error("the validator has no stored commitment to open")]
    NothingToOpen,
    /// Bigger than any extension this protocol writes.
    #[error("vote extension of {0} bytes (at most {MAX_EXTENSION_BYTES})")]
    TooLarge(usize),
    /// The extension's bridge part is refused (VerifyVoteExtension checks both parts).
    #[error("{0}")]
    Bridge(#[from] crate::chain::bridge::BridgeError),
}

/// One validator's signed extension, as the proposer carries it into the block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The validator's CometBFT consensus address.
    pub validator: Address,
    /// Its vote extension.
    pub extension: Vec<u8>,
    /// Its ed25519 signature over [`sign_bytes`] of the extension.
    pub signature: [u8; 64],
}

/// The openings and new commitments of one reveal height, first in the proposal of the
/// height after it ([`crate::chain::block::Message::Seed`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SeedReveals {
    /// One entry per registered validator in the last commit, in address order.
    pub entries: Vec<Entry>,
}

impl SeedReveals {
    /// `count u16 ‖ (address ‖ length u16 ‖ extension ‖ signature)*`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let n = u16::try_from(self.entries.len()).expect("at most 65,535 validators");
        out.extend_from_slice(&n.to_be_bytes());
        for e in &self.entries {
            out.extend_from_slice(e.validator.as_slice());
            let len = u16::try_from(e.extension.len())
                .expect("extensions are at most MAX_EXTENSION_BYTES bytes");
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&e.extension);
            out.extend_from_slice(&e.signature);
        }
    }

    /// Decodes [`Self::encode`]'s output from the front of `buf`, advancing it.
    pub fn decode(buf: &mut &[u8]) -> Result<Self, String> {
        fn take<'a>(buf: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], String> {
            if buf.len() < n {
                return Err(format!("seed reveals: {what} truncated"));
            }
            let (a, b) = buf.split_at(n);
            *buf = b;
            Ok(a)
        }
        let n = u16::from_be_bytes(take(buf, 2, "count")?.try_into().expect("2 bytes"));
        let mut entries = Vec::with_capacity(usize::from(n).min(1024));
        for _ in 0..n {
            let validator = Address::from_slice(take(buf, 20, "address")?);
            let len = u16::from_be_bytes(
                take(buf, 2, "extension length")?
                    .try_into()
                    .expect("2 bytes"),
            );
            if usize::from(len) > MAX_EXTENSION_BYTES {
                return Err(format!("seed reveals: extension of {len} bytes"));
            }
            let extension = take(buf, usize::from(len), "extension")?.to_vec();
            let signature = take(buf, 64, "signature")?.try_into().expect("64 bytes");
            entries.push(Entry {
                validator,
                extension,
                signature,
            });
        }
        Ok(Self { entries })
    }
}

/// A validator's vote in the last commit, as the app is told it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitVote {
    /// The CometBFT consensus address.
    pub address: Address,
    /// Its voting power.
    pub power: u64,
    /// Whether its precommit for the block is in the commit (CometBFT's `BLOCK_ID_FLAG_COMMIT`).
    pub signed: bool,
    /// Its vote extension (PrepareProposal only; CometBFT does not pass extensions to
    /// ProcessProposal or FinalizeBlock).
    pub extension: Vec<u8>,
    /// The extension's signature (PrepareProposal only).
    pub signature: Vec<u8>,
}

/// The last commit of a height: the round it was decided in and every validator's vote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LastCommit {
    /// The round of the commit (extension signatures cover it).
    pub round: i32,
    /// One vote per validator of the committed height's set.
    pub votes: Vec<CommitVote>,
}

/// Whether `height` is a reveal height.
pub fn is_reveal_height(params: &Params, height: u64) -> bool {
    height > 0 && height.is_multiple_of(params.protocol.epoch_heights)
}

/// Whether `height` must carry the openings of the reveal height before it.
pub fn is_inclusion_height(params: &Params, height: u64) -> bool {
    // Height 0 is never a reveal height, so height 1 is never an inclusion height.
    height
        .checked_sub(1)
        .is_some_and(|r| is_reveal_height(params, r))
}

/// A validator's secret of `epoch`: `keccak256("parley/seed-secret/v1" ‖ private key seed ‖
/// chain id ‖ epoch)`.
pub fn secret(key_seed: &[u8; 32], chain_id: &str, epoch: u64) -> B256 {
    let mut b = Vec::with_capacity(SECRET_DOMAIN.len() + 32 + chain_id.len() + 8);
    b.extend_from_slice(SECRET_DOMAIN);
    b.extend_from_slice(key_seed);
    b.extend_from_slice(chain_id.as_bytes());
    b.extend_from_slice(&epoch.to_be_bytes());
    keccak256(b)
}

/// The commitment to a secret: `keccak256("parley/seed-commit/v1" ‖ secret)`.
pub fn commitment(secret: B256) -> B256 {
    let mut b = Vec::with_capacity(COMMIT_DOMAIN.len() + 32);
    b.extend_from_slice(COMMIT_DOMAIN);
    b.extend_from_slice(secret.as_slice());
    keccak256(b)
}

/// CometBFT's consensus address of an ed25519 key: the first 20 bytes of its SHA-256.
pub fn consensus_address(key: &[u8; 32]) -> Address {
    Address::from_slice(&sha2::Sha256::digest(key)[..20])
}

/// What a validator signs for its vote extension: CometBFT's `CanonicalVoteExtension`
/// (extension, height, round, chain id), length-delimited protobuf.
pub fn sign_bytes(chain_id: &str, height: u64, round: i32, extension: &[u8]) -> Vec<u8> {
    use prost::Message as _;
    tendermint_proto::v0_38::types::CanonicalVoteExtension {
        extension: extension.to_vec(),
        height: i64::try_from(height).unwrap_or(i64::MAX),
        round: i64::from(round),
        chain_id: chain_id.to_string(),
    }
    .encode_length_delimited_to_vec()
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// The registered validators by consensus address, with their ed25519 keys.
pub fn registered<V: StateView>(
    o: &mut Overlay<'_, V>,
) -> Result<BTreeMap<Address, [u8; 32]>, StoreError> {
    let range =
        StateKey::Validator(Address::ZERO)..=StateKey::Validator(Address::repeat_byte(0xff));
    let mut out = BTreeMap::new();
    for (_, v) in o.app_range(range)? {
        let e = ValidatorEntry::decode(&v).map_err(|e| corrupt("validator", e))?;
        out.insert(consensus_address(&e.consensus_key), e.consensus_key);
    }
    Ok(out)
}

/// A validator's stored commitment.
pub fn stored_commit<V: StateView>(
    o: &mut Overlay<'_, V>,
    validator: Address,
) -> Result<Option<SeedCommit>, StoreError> {
    o.app(&StateKey::SeedCommit(validator))?
        .map(|b| SeedCommit::decode(&b).map_err(|e| corrupt("seed commit", e)))
        .transpose()
}

/// VerifyVoteExtension's rule for `validator`'s extension at `height`, on state committed
/// at `height − 1`: a registered validator's extension is empty away from reveal heights,
/// and at a reveal height names the epoch and opens the stored commitment (or reveals
/// nothing when none is stored). An unregistered validator's extension only has to be
/// small. `Ok(Err(_))` is a refusal.
pub fn check_extension<V: StateView>(
    o: &mut Overlay<'_, V>,
    params: &Params,
    height: u64,
    validator: Address,
    bytes: &[u8],
) -> Result<Result<Option<Extension>, SeedError>, StoreError> {
    if bytes.len() > MAX_EXTENSION_BYTES {
        return Ok(Err(SeedError::TooLarge(bytes.len())));
    }
    if !registered(o)?.contains_key(&validator) {
        return Ok(Ok(None));
    }
    check_registered_extension(o, params, height, validator, bytes)
}

/// [`check_extension`] for a validator already known to be registered (the size checked
/// too), so callers holding the registry do not rebuild it per entry.
fn check_registered_extension<V: StateView>(
    o: &mut Overlay<'_, V>,
    params: &Params,
    height: u64,
    validator: Address,
    bytes: &[u8],
) -> Result<Result<Option<Extension>, SeedError>, StoreError> {
    if bytes.len() > MAX_EXTENSION_BYTES {
        return Ok(Err(SeedError::TooLarge(bytes.len())));
    }
    // The bridge vote after the seed part is the bridge's to check.
    let bytes = crate::chain::bridge::split(bytes).seed;
    if !is_reveal_height(params, height) {
        return Ok(if bytes.is_empty() {
            Ok(None)
        } else {
            Err(SeedError::NotRevealHeight(height))
        });
    }
    let ext = match Extension::decode(bytes) {
        Ok(e) => e,
        Err(e) => return Ok(Err(e)),
    };
    let want = height / params.protocol.epoch_heights;
    if ext.epoch != want {
        return Ok(Err(SeedError::Epoch {
            height,
            want,
            got: ext.epoch,
        }));
    }
    Ok(match (stored_commit(o, validator)?, ext.reveal) {
        (Some(c), Some(r)) if commitment(r) == c.hash => Ok(Some(ext)),
        (Some(c), _) => Err(SeedError::Opening(c.epoch)),
        (None, Some(_)) => Err(SeedError::NothingToOpen),
        (None, None) => Ok(Some(ext)),
    })
}

/// ExtendVote: this validator's extension at `height` (empty away from reveal heights),
/// from its private key seed, on state committed at `height − 1`.
pub fn own_extension<V: StateView>(
    o: &mut Overlay<'_, V>,
    params: &Params,
    height: u64,
    key_seed: &[u8; 32],
    chain_id: &str,
) -> Result<Vec<u8>, StoreError> {
    if !is_reveal_height(params, height) {
        return Ok(Vec::new());
    }
    let public = ed25519_consensus::SigningKey::from(*key_seed)
        .verification_key()
        .to_bytes();
    let me = consensus_address(&public);
    let epoch = height / params.protocol.epoch_heights;
    let reveal = stored_commit(o, me)?.map(|c| secret(key_seed, chain_id, c.epoch));
    Ok(Extension {
        epoch,
        commit: commitment(secret(key_seed, chain_id, epoch)),
        reveal,
    }
    .encode())
}

/// A registered validator of a last commit: address, consensus key, power, and whether its
/// precommit is in the commit.
type RegisteredVote = (Address, [u8; 32], u64, bool);

/// The registered validators of `commit`, in address order, each once.
fn registered_votes<V: StateView>(
    o: &mut Overlay<'_, V>,
    commit: &LastCommit,
) -> Result<Vec<RegisteredVote>, StoreError> {
    let registered = registered(o)?;
    let mut out: Vec<RegisteredVote> = commit
        .votes
        .iter()
        .filter_map(|v| {
            registered
                .get(&v.address)
                .map(|k| (v.address, *k, v.power, v.signed))
        })
        .collect();
    out.sort_by_key(|(a, ..)| *a);
    out.dedup_by_key(|(a, ..)| *a);
    Ok(out)
}

/// Whether `entry` is a valid extension of `reveal_height` signed by `key` in `round`.
fn entry_ok<V: StateView>(
    o: &mut Overlay<'_, V>,
    params: &Params,
    reveal_height: u64,
    chain_id: &str,
    round: i32,
    key: &[u8; 32],
    e: &Entry,
) -> Result<Result<(), String>, StoreError> {
    // Callers pass registered validators only (their key came from the registry).
    if let Err(why) =
        check_registered_extension(o, params, reveal_height, e.validator, &e.extension)?
    {
        return Ok(Err(format!("seed reveal of {}: {why}", e.validator)));
    }
    let msg = sign_bytes(chain_id, reveal_height, round, &e.extension);
    let ok = ed25519_consensus::VerificationKey::try_from(*key)
        .map(|k| {
            k.verify(&ed25519_consensus::Signature::from(e.signature), &msg)
                .is_ok()
        })
        .unwrap_or(false);
    Ok(if ok {
        Ok(())
    } else {
        Err(format!(
            "seed reveal of {}: the extension signature does not verify",
            e.validator
        ))
    })
}

/// PrepareProposal: the [`SeedReveals`] the proposal at `height` must start with: the
/// extension of every registered signer of its last commit that passes the rule of
/// [`check_reveals`]; `None` away from inclusion heights or when the commit has no registered
/// validator. A signer whose extension does not pass is left out and logged: CometBFT adds
/// precommits that arrive after the commit without asking the app to verify their extensions
/// (cometbft#2523), and carrying an invalid one would get every proposal refused. The
/// precommits that made the commit were verified, so what is left carries more than 2/3 of
/// the power.
pub fn collect<V: StateView>(
    o: &mut Overlay<'_, V>,
    params: &Params,
    height: u64,
    chain_id: &str,
    commit: &LastCommit,
) -> Result<Option<SeedReveals>, StoreError> {
    if !is_inclusion_height(params, height) {
        return Ok(None);
    }
    let votes = registered_votes(o, commit)?;
    if votes.is_empty() {
        return Ok(None);
    }
    let mut entries = Vec::new();
    for (address, key, _, signed) in votes {
        if !signed {
            continue;
        }
        let Some(v) = commit.votes.iter().find(|v| v.address == address) else {
            continue;
        };
        let Ok(signature) = <[u8; 64]>::try_from(v.signature.as_slice()) else {
            tracing::warn!(validator = %address, "last commit: an extension signature is not 64 bytes; left out");
            continue;
        };
        let e = Entry {
            validator: address,
            extension: v.extension.clone(),
            signature,
        };
        match entry_ok(o, params, height - 1, chain_id, commit.round, &key, &e)? {
            Ok(()) => entries.push(e),
            Err(why) => {
                tracing::warn!(validator = %address, reason = %why, "last commit: an extension fails the seed rule; left out")
            }
        }
    }
    Ok(Some(SeedReveals { entries }))
}

/// The rule for `got`, the [`SeedReveals`] a proposal at `height` carries. At an inclusion
/// height whose last commit lists registered validators: present, its entries registered
/// signers of that commit (precommit in it), in address order, each once, each a valid
/// extension of the reveal height (on this state) signed by that validator's registered key,
/// together holding more than 2/3 of the registered voting power the commit lists. Nothing at
/// any other height. `Ok(Err(why))` is a refusal.
pub fn check_reveals<V: StateView>(
    o: &mut Overlay<'_, V>,
    params: &Params,
    height: u64,
    chain_id: &str,
    commit: &LastCommit,
    got: Option<&SeedReveals>,
) -> Result<Result<(), String>, StoreError> {
    let votes = if is_inclusion_height(params, height) {
        registered_votes(o, commit)?
    } else {
        Vec::new()
    };
    let got = match (votes.is_empty(), got) {
        (true, None) => return Ok(Ok(())),
        (true, Some(_)) => {
            return Ok(Err(format!(
                "height {height} carries seed reveals but needs none"
            )));
        }
        (false, None) => {
            return Ok(Err(format!(
                "height {height} must start with the seed reveals of height {}",
                height - 1
            )));
        }
        (false, Some(g)) => g,
    };
    let total: u128 = votes.iter().map(|(_, _, p, _)| u128::from(*p)).sum();
    let mut carried: u128 = 0;
    let mut last: Option<Address> = None;
    for e in &got.entries {
        if last.is_some_and(|l| l >= e.validator) {
            return Ok(Err(format!(
                "seed reveals: {} out of address order or twice",
                e.validator
            )));
        }
        last = Some(e.validator);
        let Some((_, key, power, signed)) = votes.iter().find(|(a, ..)| *a == e.validator) else {
            return Ok(Err(format!(
                "seed reveals: {} is not a registered validator of the last commit",
                e.validator
            )));
        };
        if !signed {
            return Ok(Err(format!(
                "seed reveals: {}'s precommit is not in the last commit",
                e.validator
            )));
        }
        if let Err(why) = entry_ok(o, params, height - 1, chain_id, commit.round, key, e)? {
            return Ok(Err(why));
        }
        carried += u128::from(*power);
    }
    if carried * 3 <= total * 2 {
        return Ok(Err(format!(
            "seed reveals carry {carried} of {total} registered voting power; more than 2/3 is needed"
        )));
    }
    Ok(Ok(()))
}

/// The current seed (zero before the first inclusion height).
pub fn current<V: StateView>(o: &mut Overlay<'_, V>) -> Result<B256, StoreError> {
    match o.app(&StateKey::Seed)? {
        None => Ok(B256::ZERO),
        Some(b) if b.len() == 33 && b[0] == 1 => Ok(B256::from_slice(&b[1..])),
        Some(b) => Err(corrupt("seed", format!("{} bytes", b.len()))),
    }
}

/// The next seed: `keccak256("parley/seed/v2" ‖ seed ‖ (validator ‖ opening)*)` over the
/// openings in address order.
pub fn mix(seed: B256, openings: &[(Address, B256)]) -> B256 {
    let mut b = Vec::with_capacity(MIX_DOMAIN.len() + 32 + 52 * openings.len());
    b.extend_from_slice(MIX_DOMAIN);
    b.extend_from_slice(seed.as_slice());
    for (a, r) in openings {
        b.extend_from_slice(a.as_slice());
        b.extend_from_slice(r.as_slice());
    }
    keccak256(b)
}

/// FinalizeBlock, first of an inclusion height whose proposal passed [`check_reveals`]:
/// stores every entry's new commitment and mixes the openings into the seed.
pub fn apply<V: StateView>(
    o: &mut Overlay<'_, V>,
    reveals: &SeedReveals,
) -> Result<(), StoreError> {
    let mut openings = Vec::new();
    for e in &reveals.entries {
        // The seed part only: a bridge vote may follow it (chain::bridge::split).
        let ext = Extension::decode(crate::chain::bridge::split(&e.extension).seed)
            .map_err(|why| corrupt("a checked seed extension", why))?;
        if let Some(r) = ext.reveal {
            openings.push((e.validator, r));
        }
        let c = SeedCommit {
            epoch: ext.epoch,
            hash: ext.commit,
        };
        o.put_app(StateKey::SeedCommit(e.validator), Some(c.encode()));
    }
    let seed = mix(current(o)?, &openings);
    let mut v = Vec::with_capacity(33);
    v.push(1);
    v.extend_from_slice(seed.as_slice());
    o.put_app(StateKey::Seed, Some(v));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_roundtrip_and_refuse_other_shapes() {
        let e = Extension {
            epoch: 7,
            commit: B256::repeat_byte(1),
            reveal: Some(B256::repeat_byte(2)),
        };
        assert_eq!(Extension::decode(&e.encode()), Ok(e));
        let first = Extension { reveal: None, ..e };
        assert_eq!(first.encode().len(), 41);
        assert_eq!(Extension::decode(&first.encode()), Ok(first));
        let mut other = e.encode();
        other[0] = 2;
        assert!(Extension::decode(&other).is_err());
        assert!(Extension::decode(&e.encode()[..72]).is_err());
        assert!(Extension::decode(&[]).is_err());
    }

    #[test]
    fn reveals_roundtrip_and_refuse_truncation() {
        let r = SeedReveals {
            entries: vec![
                Entry {
                    validator: Address::repeat_byte(1),
                    extension: vec![1; 41],
                    signature: [3; 64],
                },
                Entry {
                    validator: Address::repeat_byte(2),
                    extension: vec![1; 73],
                    signature: [4; 64],
                },
            ],
        };
        let mut b = Vec::new();
        r.encode(&mut b);
        let mut s = b.as_slice();
        assert_eq!(SeedReveals::decode(&mut s), Ok(r));
        assert!(s.is_empty());
        for cut in 0..b.len() {
            assert!(SeedReveals::decode(&mut &b[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn secrets_commitments_and_mixes_move_with_every_input() {
        let k = [5u8; 32];
        let s = secret(&k, "c", 1);
        assert_ne!(s, secret(&[6; 32], "c", 1));
        assert_ne!(s, secret(&k, "d", 1));
        assert_ne!(s, secret(&k, "c", 2));
        assert_ne!(commitment(s), s);
        let a = Address::repeat_byte(1);
        let m = mix(B256::ZERO, &[(a, s)]);
        assert_ne!(m, mix(B256::repeat_byte(1), &[(a, s)]));
        assert_ne!(m, mix(B256::ZERO, &[(Address::repeat_byte(2), s)]));
        assert_ne!(m, mix(B256::ZERO, &[]));
        assert_eq!(m, mix(B256::ZERO, &[(a, s)]));
    }

    /// The address CometBFT shows for a key (`cometbft show-validator` / the
    /// `priv_validator_key.json` of a localnet node): SHA-256, first 20 bytes.
    #[test]
    fn consensus_address_is_cometbfts() {
        // The all-zero key's SHA-256 starts 66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925.
        assert_eq!(
            consensus_address(&[0; 32]),
            "0x66687aadf862bd776c8fc18b8e9f8e2008971485"
                .parse::<Address>()
                .expect("hex")
        );
    }

    #[test]
    fn reveal_and_inclusion_heights() {
        let mut p = Params::default();
        p.protocol.epoch_heights = 4;
        let reveal: Vec<u64> = (0..13).filter(|h| is_reveal_height(&p, *h)).collect();
        assert_eq!(reveal, vec![4, 8, 12]);
        let incl: Vec<u64> = (0..13).filter(|h| is_inclusion_height(&p, *h)).collect();
        assert_eq!(incl, vec![5, 9]);
    }

    /// A seed entry that is not `0x01 ‖ 32 bytes` is corrupt state, an error (fatal to the
    /// node), never read as some seed.
    #[test]
    fn a_damaged_seed_entry_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::store::Store::open(&dir.path().join("db")).expect("opens");
        let mut good = vec![1u8];
        good.extend_from_slice(&[7; 32]);
        for (value, ok) in [
            (good.clone(), true),
            (vec![1u8; 32], false),
            (vec![1u8; 34], false),
            ([&[2u8][..], &good[1..]].concat(), false),
        ] {
            store
                .commit(&crate::store::BlockWrites {
                    state: vec![(StateKey::Seed, Some(value.clone()))],
                    ..Default::default()
                })
                .expect("writes");
            let reader = store.reader().expect("reader");
            let got = current(&mut Overlay::new(&reader));
            assert_eq!(got.is_ok(), ok, "{value:?}: {got:?}");
            if ok {
                assert_eq!(got.expect("ok"), B256::repeat_byte(7));
            }
        }
    }
}
