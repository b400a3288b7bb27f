//! Worker authentication (DESIGN §5): the node hands out a random challenge per prover
//! address, remembers it for a short time, and accepts it once. The worker proves it holds the
//! prover key by signing
//!
//! ```text
//! keccak256("parley/prover-auth/v1" ‖ chain_id u64 big-endian ‖ challenge)
//! ```
//!
//! as a 65-byte `r ‖ s ‖ v` signature. The chain id keeps a signature for one chain from
//! opening a session on another; the challenge's single use and expiry keep a captured
//! signature from being replayed. The domain tag differs from the protocol messages'
//! (`parley/message/v1`), so an auth signature is never a valid message and vice versa.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256, Signature, U256, keccak256};

/// Domain tag of the authentication digest.
pub const AUTH_DOMAIN: &[u8] = b"parley/prover-auth/v1";

/// Bytes of a challenge.
pub const CHALLENGE_BYTES: usize = 32;

/// Why a worker is not let in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The challenge was never issued, already used, or issued for another prover.
    #[error("unknown or already used challenge")]
    UnknownChallenge,
    /// The challenge is too old.
    #[error("challenge expired")]
    Expired,
    /// The signature is not 65 bytes, or does not recover.
    #[error("malformed signature: {0}")]
    BadSignature(&'static str),
    /// The signature recovers to someone else.
    #[error("signature is by {got}, not by the prover {prover}")]
    WrongSigner {
        /// Who asked.
        prover: Address,
        /// Who signed.
        got: Address,
    },
    /// Too many challenges outstanding; try again shortly.
    #[error("too many outstanding challenges")]
    Busy,
}

/// The digest a worker signs (see the module docs).
pub fn digest(chain_id: u64, challenge: &[u8]) -> B256 {
    let mut buf = Vec::with_capacity(AUTH_DOMAIN.len() + 8 + challenge.len());
    buf.extend_from_slice(AUTH_DOMAIN);
    buf.extend_from_slice(&chain_id.to_be_bytes());
    buf.extend_from_slice(challenge);
    keccak256(buf)
}

/// Signs a challenge with the prover key (the worker's side).
pub fn sign(
    key: &alloy_signer_local::PrivateKeySigner,
    chain_id: u64,
    challenge: &[u8],
) -> [u8; 65] {
    use alloy_signer::SignerSync as _;
    let sig = key
        .sign_hash_sync(&digest(chain_id, challenge))
        .expect("signing a 32-byte digest with a local key cannot fail");
    crate::chain::msg::signature_bytes(&sig)
}

/// The address that signed `challenge` with `signature` (`v` as 0/1 or 27/28).
pub fn recover(chain_id: u64, challenge: &[u8], signature: &[u8]) -> Result<Address, AuthError> {
    let sig: [u8; 65] = signature
        .try_into()
        .map_err(|_| AuthError::BadSignature("must be 65 bytes r ‖ s ‖ v"))?;
    let parity = match sig[64] {
        0 | 27 => false,
        1 | 28 => true,
        _ => return Err(AuthError::BadSignature("v must be 0, 1, 27 or 28")),
    };
    let r = U256::from_be_slice(&sig[..32]);
    let s = U256::from_be_slice(&sig[32..64]);
    Signature::new(r, s, parity)
        .recover_address_from_prehash(&digest(chain_id, challenge))
        .map_err(|_| AuthError::BadSignature("does not recover to a public key"))
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    prover: Address,
    expires: Instant,
}

/// The challenges handed out and not yet used: bounded, each accepted at most once.
#[derive(Debug)]
pub struct Challenges {
    pending: Mutex<BTreeMap<[u8; CHALLENGE_BYTES], Pending>>,
    ttl: Duration,
    max: usize,
}

impl Challenges {
    /// At most `max` outstanding challenges, each valid for `ttl`.
    pub fn new(ttl: Duration, max: usize) -> Self {
        Self {
            pending: Mutex::new(BTreeMap::new()),
            ttl,
            max: max.max(1),
        }
    }

    /// How long a challenge stays valid.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Remembers `challenge` (random bytes the caller drew) for `prover` until `now + ttl`.
    /// Drops expired challenges first; refuses when `max` are still outstanding.
    pub fn issue(
        &self,
        prover: Address,
        challenge: [u8; CHALLENGE_BYTES],
        now: Instant,
    ) -> Result<(), AuthError> {
        let mut p = self.pending.lock().expect("challenge lock");
        if p.len() >= self.max {
            p.retain(|_, c| c.expires > now);
        }
        if p.len() >= self.max {
            return Err(AuthError::Busy);
        }
        p.insert(
            challenge,
            Pending {
                prover,
                expires: now + self.ttl,
            },
        );
        Ok(())
    }

    /// Checks a subscription: the challenge was issued for `prover`, is not expired, and
    /// `signature` over it recovers to `prover`. The challenge is used up either way.
    pub fn authenticate(
        &self,
        chain_id: u64,
        prover: Address,
        challenge: &[u8],
        signature: &[u8],
        now: Instant,
    ) -> Result<(), AuthError> {
        let key: [u8; CHALLENGE_BYTES] = challenge
            .try_into()
            .map_err(|_| AuthError::UnknownChallenge)?;
        let Some(c) = self.pending.lock().expect("challenge lock").remove(&key) else {
            return Err(AuthError::UnknownChallenge);
        };
        if c.prover != prover {
            return Err(AuthError::UnknownChallenge);
        }
        if now >= c.expires {
            return Err(AuthError::Expired);
        }
        let got = recover(chain_id, challenge, signature)?;
        if got != prover {
            return Err(AuthError::WrongSigner { prover, got });
        }
        Ok(())
    }

    /// Challenges outstanding (including expired ones not yet dropped).
    pub fn len(&self) -> usize {
        self.pending.lock().expect("challenge lock").len()
    }

    /// Whether none is outstanding.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_signer_local::PrivateKeySigner;

    const CHAIN: u64 = 424_242;

    fn key(i: u8) -> PrivateKeySigner {
        PrivateKeySigner::from_bytes(&B256::repeat_byte(i)).expect("valid key")
    }

    #[allow(clippy::disallowed_methods)] // tests only: a base instant to add to
    fn t0() -> Instant {
        Instant::now()
    }

    #[test]
    fn the_digest_binds_domain_chain_and_challenge() {
        let c = [7u8; 32];
        let mut manual = AUTH_DOMAIN.to_vec();
        manual.extend_from_slice(&CHAIN.to_be_bytes());
        manual.extend_from_slice(&c);
        assert_eq!(digest(CHAIN, &c), keccak256(manual));
        assert_ne!(digest(CHAIN, &c), digest(CHAIN + 1, &c));
        assert_ne!(digest(CHAIN, &c), digest(CHAIN, &[8u8; 32]));
    }

    #[test]
    fn a_signed_challenge_recovers_to_its_signer() {
        let k = key(1);
        let c = [9u8; 32];
        let sig = sign(&k, CHAIN, &c);
        assert_eq!(recover(CHAIN, &c, &sig), Ok(k.address()));
        // v as 27/28 is accepted too.
        let mut eth = sig;
        eth[64] += 27;
        assert_eq!(recover(CHAIN, &c, &eth), Ok(k.address()));
        // Another chain's digest recovers to someone else.
        assert_ne!(recover(CHAIN + 1, &c, &sig), Ok(k.address()));
        assert!(matches!(
            recover(CHAIN, &c, &sig[..64]),
            Err(AuthError::BadSignature(_))
        ));
        let mut bad_v = sig;
        bad_v[64] = 5;
        assert!(matches!(
            recover(CHAIN, &c, &bad_v),
            Err(AuthError::BadSignature(_))
        ));
    }

    #[test]
    fn a_challenge_is_accepted_once_for_its_prover_with_its_key() {
        let ch = Challenges::new(Duration::from_secs(30), 16);
        let (me, other) = (key(1), key(2));
        let now = t0();
        let c = [1u8; 32];
        ch.issue(me.address(), c, now).expect("issued");
        // Signed by the wrong key: refused, and the challenge is spent.
        let wrong = sign(&other, CHAIN, &c);
        assert_eq!(
            ch.authenticate(CHAIN, me.address(), &c, &wrong, now),
            Err(AuthError::WrongSigner {
                prover: me.address(),
                got: other.address()
            })
        );
        let right = sign(&me, CHAIN, &c);
        assert_eq!(
            ch.authenticate(CHAIN, me.address(), &c, &right, now),
            Err(AuthError::UnknownChallenge),
            "a challenge is spent by its first use"
        );

        // Fresh challenge: accepted once, then reuse is refused.
        let c = [2u8; 32];
        ch.issue(me.address(), c, now).expect("issued");
        let right = sign(&me, CHAIN, &c);
        assert_eq!(
            ch.authenticate(CHAIN, me.address(), &c, &right, now),
            Ok(())
        );
        assert_eq!(
            ch.authenticate(CHAIN, me.address(), &c, &right, now),
            Err(AuthError::UnknownChallenge)
        );

        // Issued for another prover: refused even with a valid signature by the claimant.
        let c = [3u8; 32];
        ch.issue(other.address(), c, now).expect("issued");
        let sig = sign(&me, CHAIN, &c);
        assert_eq!(
            ch.authenticate(CHAIN, me.address(), &c, &sig, now),
            Err(AuthError::UnknownChallenge)
        );
        // Never issued.
        assert_eq!(
            ch.authenticate(CHAIN, me.address(), &[4u8; 32], &sig, now),
            Err(AuthError::UnknownChallenge)
        );
        assert!(ch.is_empty());
    }

    #[test]
    fn an_expired_challenge_is_refused() {
        let ch = Challenges::new(Duration::from_secs(30), 16);
        let me = key(1);
        let now = t0();
        let c = [5u8; 32];
        ch.issue(me.address(), c, now).expect("issued");
        let sig = sign(&me, CHAIN, &c);
        assert_eq!(
            ch.authenticate(CHAIN, me.address(), &c, &sig, now + Duration::from_secs(30)),
            Err(AuthError::Expired)
        );
    }

    #[test]
    fn outstanding_challenges_are_bounded_and_expired_ones_make_room() {
        let ch = Challenges::new(Duration::from_secs(30), 2);
        let a = Address::repeat_byte(1);
        let now = t0();
        ch.issue(a, [1; 32], now).expect("issued");
        ch.issue(a, [2; 32], now).expect("issued");
        assert_eq!(ch.issue(a, [3; 32], now), Err(AuthError::Busy));
        let later = now + Duration::from_secs(31);
        ch.issue(a, [3; 32], later).expect("expired ones dropped");
        assert_eq!(ch.len(), 1);
    }
}
