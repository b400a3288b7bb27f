//! From what parleyd serves (`parley_getAttestation`, docs/bridge.md) to the arguments of
//! `Rollup.finalizeEpoch`. Pure: no I/O.

use alloy_primitives::{Address, B256, Bytes, U64, U256};
use alloy_sol_types::SolCall as _;
use eyre::{Result, bail, eyre};
use serde::Deserialize;

use crate::abi::{EpochHeader, Rollup, Sig};

/// Number of accumulator limbs before the proof (the first 12 public instances).
pub const ACC_LIMBS: usize = 12;

/// BN254 scalar field modulus `r`: every public instance must be below it.
pub const BN254_R: U256 = U256::from_be_bytes([
    0x30, 0x64, 0x4e, 0x72, 0xe1, 0x31, 0xa0, 0x29, 0xb8, 0x50, 0x45, 0xb6, 0x81, 0x81, 0x58, 0x5d,
    0x28, 0x33, 0xe8, 0x48, 0x79, 0xb9, 0x70, 0x91, 0x43, 0xe1, 0xf5, 0x93, 0xf0, 0x00, 0x00, 0x01,
]);

/// `parley_getAttestation(epoch)`'s result (only the fields the relayer uses).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttestationRecord {
    /// The digest's fields.
    pub attestation: Digest,
    /// The signing set, as `finalizeEpoch` takes it.
    pub set: SignerSet,
    /// The signatures, in ascending member order.
    pub signatures: Vec<SignatureJson>,
}

/// An epoch digest's fields as parleyd shows them.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Digest {
    /// The L1 chain the digest is for.
    pub l1_chain_id: U64,
    /// The Rollup address the digest is for.
    pub rollup: Address,
    /// The epoch.
    pub epoch: U64,
    /// Proof root before the epoch.
    pub first_pre_root: B256,
    /// Proof root after the epoch.
    pub last_post_root: B256,
    /// The aggregate's `epoch_commitment` (zero for an empty epoch).
    pub epoch_commitment: B256,
    /// Root of the epoch's withdrawals.
    pub withdrawal_root: B256,
    /// The L1 queue's rolling hash after the entries the epoch consumed.
    pub l1_queue_rolling_hash: B256,
    /// How many L1 queue entries the chain consumed by the epoch's end. Older parleyd
    /// versions do not serve it: then 0 (the empty queue).
    #[serde(default)]
    pub l1_queue_count: Option<U64>,
    /// Hash of the set that signs the next epoch.
    pub next_validator_set_hash: B256,
}

/// A bridge signing set.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignerSet {
    /// Members, ascending.
    pub signers: Vec<Address>,
    /// Their powers.
    pub powers: Vec<U64>,
}

/// One signature of an attestation.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureJson {
    /// The signer's index in the set.
    pub index: u16,
    /// `r`.
    pub r: B256,
    /// `s` (low-s).
    pub s: B256,
    /// `v`, 27 or 28.
    pub v: u8,
}

/// An epoch proof as L1 takes it: the accumulator limbs and the proof bytes. For an epoch
/// without a state change, [`EpochProof::none`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EpochProof {
    /// The 12 accumulator limbs (public instances 0..11).
    pub accumulator: [U256; ACC_LIMBS],
    /// The proof bytes the verifier takes after the 15 instances.
    pub proof: Bytes,
}

impl EpochProof {
    /// No proof: zero limbs, empty bytes (an epoch whose roots are equal).
    pub fn none() -> Self {
        Self::default()
    }

    /// Splits `limbs (12 × 32-byte big-endian) ‖ proof` (the layout of
    /// `parley_proofs::aggregation::encode_epoch_snark`), refusing a non-canonical limb or an
    /// empty proof.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() <= ACC_LIMBS * 32 {
            bail!(
                "an epoch proof is 12 accumulator limbs of 32 bytes, then the proof: {} bytes is too short",
                bytes.len()
            );
        }
        let (limbs, proof) = bytes.split_at(ACC_LIMBS * 32);
        let mut accumulator = [U256::ZERO; ACC_LIMBS];
        for (i, c) in limbs.chunks_exact(32).enumerate() {
            let x = U256::from_be_slice(c);
            if x >= BN254_R {
                bail!("accumulator limb {i} is not below the BN254 scalar modulus");
            }
            accumulator[i] = x;
        }
        Ok(Self {
            accumulator,
            proof: Bytes::copy_from_slice(proof),
        })
    }
}

impl AttestationRecord {
    /// The epoch.
    pub fn epoch(&self) -> u64 {
        self.attestation.epoch.to::<u64>()
    }

    /// Whether the epoch claims no state change, so it may go to L1 without a proof.
    pub fn is_empty_epoch(&self) -> bool {
        self.attestation.first_pre_root == self.attestation.last_post_root
    }

    /// Checks that the attestation is for this L1 chain and Rollup: signatures over another
    /// deployment's digest would only make the contract revert.
    pub fn check_target(&self, l1_chain_id: u64, rollup: Address) -> Result<()> {
        let a = &self.attestation;
        if a.l1_chain_id.to::<u64>() != l1_chain_id || a.rollup != rollup {
            bail!(
                "epoch {}'s attestation is for L1 chain {} and Rollup {}, not chain {l1_chain_id} and {rollup}",
                self.epoch(),
                a.l1_chain_id,
                a.rollup
            );
        }
        Ok(())
    }

    /// `finalizeEpoch`'s arguments: the header (with `queueCount` as parleyd serves it, 0
    /// when it does not), the set, the signatures in the order given, the proof.
    pub fn finalize_call(&self, proof: &EpochProof) -> Result<Rollup::finalizeEpochCall> {
        let a = &self.attestation;
        if self.set.signers.len() != self.set.powers.len() {
            return Err(eyre!(
                "epoch {}: {} signers but {} powers",
                self.epoch(),
                self.set.signers.len(),
                self.set.powers.len()
            ));
        }
        if !self.is_empty_epoch() && proof.proof.is_empty() {
            bail!(
                "epoch {} changes the state root: it needs its epoch proof",
                self.epoch()
            );
        }
        Ok(Rollup::finalizeEpochCall {
            h: EpochHeader {
                epoch: self.epoch(),
                firstPreRoot: a.first_pre_root,
                lastPostRoot: a.last_post_root,
                epochCommitment: a.epoch_commitment,
                withdrawalRoot: a.withdrawal_root,
                queueRollingHash: a.l1_queue_rolling_hash,
                queueCount: a.l1_queue_count.map_or(0, |c| c.to::<u64>()),
                nextValidatorSetHash: a.next_validator_set_hash,
            },
            signers: self.set.signers.clone(),
            powers: self
                .set
                .powers
                .iter()
                .map(|p| U256::from(p.to::<u64>()))
                .collect(),
            sigs: self
                .signatures
                .iter()
                .map(|s| Sig {
                    signerIndex: U256::from(s.index),
                    r: s.r,
                    s: s.s,
                    v: s.v,
                })
                .collect(),
            accumulator: proof.accumulator,
            proof: proof.proof.clone(),
        })
    }
}

/// The calldata of `call`.
pub fn calldata(call: &Rollup::finalizeEpochCall) -> Bytes {
    Bytes::from(call.abi_encode())
}

#[cfg(test)]
mod tests {
    use super::*;

    const R1: &str = "0x0000000000000000000000000000000000000000000000000000000000000011";
    const R2: &str = "0x0000000000000000000000000000000000000000000000000000000000000022";

    fn record(first: &str, last: &str, queue_count: Option<&str>) -> AttestationRecord {
        let mut att = serde_json::json!({
            "l1ChainId": "0x7a69",
            "rollup": "0x00000000000000000000000000000000000000aa",
            "l2ChainId": "0x539",
            "epoch": "0x3",
            "firstPreRoot": first,
            "lastPostRoot": last,
            "epochCommitment": R2,
            "withdrawalRoot": R1,
            "l1QueueRollingHash": R2,
            "nextValidatorSetHash": R1,
            "digest": R1,
        });
        if let Some(c) = queue_count {
            att["l1QueueCount"] = serde_json::json!(c);
        }
        serde_json::from_value(serde_json::json!({
            "attestation": att,
            "set": {
                "signers": ["0x0000000000000000000000000000000000000001",
                            "0x0000000000000000000000000000000000000002"],
                "powers": ["0xa", "0x14"],
                "hash": R1,
            },
            "signatures": [
                {"index": 1, "signer": "0x0000000000000000000000000000000000000002",
                 "r": R1, "s": R2, "v": 28}
            ],
            "signedPower": "0x14",
            "totalPower": "0x1e",
            "height": "0x9",
        }))
        .expect("well-formed attestation JSON")
    }

    #[test]
    fn an_empty_epoch_goes_without_proof_and_queue_count_defaults_to_zero() {
        let rec = record(R1, R1, None);
        assert!(rec.is_empty_epoch());
        let call = rec.finalize_call(&EpochProof::none()).expect("empty epoch");
        assert_eq!(call.h.epoch, 3);
        assert_eq!(call.h.queueCount, 0);
        assert_eq!(call.h.firstPreRoot, call.h.lastPostRoot);
        assert_eq!(call.h.queueRollingHash, R2.parse::<B256>().expect("hex"));
        assert_eq!(call.powers, vec![U256::from(10u64), U256::from(20u64)]);
        assert_eq!(call.sigs.len(), 1);
        assert_eq!(call.sigs[0].signerIndex, U256::from(1u64));
        assert_eq!(call.sigs[0].v, 28);
        assert_eq!(call.accumulator, [U256::ZERO; 12]);
        assert!(call.proof.is_empty());
        // The calldata round-trips through the ABI and starts with finalizeEpoch's selector.
        let data = calldata(&call);
        assert_eq!(data[..4], Rollup::finalizeEpochCall::SELECTOR);
        let back = Rollup::finalizeEpochCall::abi_decode(&data).expect("decodes");
        assert_eq!(back.h, call.h);
    }

    #[test]
    fn the_queue_count_is_used_when_served() {
        let rec = record(R1, R1, Some("0x5"));
        let call = rec.finalize_call(&EpochProof::none()).expect("empty epoch");
        assert_eq!(call.h.queueCount, 5);
    }

    #[test]
    fn a_state_change_needs_a_proof() {
        let rec = record(R1, R2, None);
        assert!(!rec.is_empty_epoch());
        assert!(rec.finalize_call(&EpochProof::none()).is_err());
        let mut bytes = vec![0u8; 12 * 32];
        bytes[31] = 7; // limb 0 = 7
        bytes.extend_from_slice(&[0xab; 5]);
        let proof = EpochProof::from_bytes(&bytes).expect("canonical limbs");
        assert_eq!(proof.accumulator[0], U256::from(7u64));
        let call = rec.finalize_call(&proof).expect("with proof");
        assert_eq!(call.proof.as_ref(), &[0xab; 5]);
    }

    #[test]
    fn a_non_canonical_limb_or_a_missing_proof_is_refused() {
        let mut bytes = vec![0xffu8; 12 * 32];
        bytes.push(1);
        assert!(EpochProof::from_bytes(&bytes).is_err());
        assert!(EpochProof::from_bytes(&[0u8; 12 * 32]).is_err());
    }

    #[test]
    fn an_attestation_for_another_rollup_is_refused() {
        let rec = record(R1, R1, None);
        let rollup: Address = "0x00000000000000000000000000000000000000aa"
            .parse()
            .expect("address");
        assert!(rec.check_target(31337, rollup).is_ok());
        assert!(rec.check_target(1, rollup).is_err());
        assert!(rec.check_target(31337, Address::ZERO).is_err());
    }
}
