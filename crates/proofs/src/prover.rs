//! Keys, proving and verification of block proofs, behind the [`BlockProver`] trait.

use crate::{
    circuit::{
        BLOCK_NUM_INSTANCES, BlockCircuitShape, BlockPublicInputs, BlockWitness, FULL_INDEX_BITS,
        HashBackend, block_circuit, block_shape_for, block_shape_with,
    },
    error::{ProofError, Result},
    params::load_srs,
};
use alloy_primitives::B256;
use halo2_base::{
    gates::{circuit::CircuitBuilderStage, flex_gate::MultiPhaseThreadBreakPoints},
    halo2_proofs::{
        SerdeFormat,
        halo2curves::{
            bn256::{Bn256, Fr, G1Affine},
            ff::PrimeField,
        },
        plonk::{
            Circuit, ProvingKey, VerifyingKey, create_proof, keygen_pk, keygen_vk, verify_proof,
        },
        poly::{
            VerificationStrategy,
            commitment::ParamsProver,
            kzg::{
                commitment::{KZGCommitmentScheme, ParamsKZG},
                multiopen::{ProverSHPLONK, VerifierSHPLONK},
                strategy::AccumulatorStrategy,
            },
        },
    },
};
use sha3::{Digest, Keccak256};
use snark_verifier_sdk::{
    NativeLoader, Snark,
    halo2::{POSEIDON_SPEC, PoseidonTranscript},
    snark_verifier::system::halo2::{Config, compile},
};

/// A block proof: SHPLONK/KZG over BN254 with a Poseidon transcript (so that the aggregation
/// circuit can re-verify it cheaply).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockProof {
    /// Capacity of the circuit that produced it.
    pub capacity: usize,
    /// Proof bytes.
    pub bytes: Vec<u8>,
}

/// A block prover: a zkEVM circuit could implement this later with the same statement.
pub trait BlockProver {
    /// Maximum diff entries one proof holds.
    fn capacity(&self) -> usize;
    /// Prove a witness (built by [`BlockWitness::build`]).
    fn prove(&self, witness: &BlockWitness) -> Result<BlockProof>;
    /// Verify a proof against the public inputs the verifier computed itself.
    fn verify(&self, public: &BlockPublicInputs, proof: &BlockProof) -> Result<()>;
    /// Stable hash of the verifying key (pinned in genesis).
    fn vk_hash(&self) -> B256;
}

/// The halo2 implementation of [`BlockProver`] for one capacity.
pub struct Halo2BlockProver {
    shape: BlockCircuitShape,
    params: ParamsKZG<Bn256>,
    pk: ProvingKey<G1Affine>,
    break_points: MultiPhaseThreadBreakPoints,
}

impl std::fmt::Debug for Halo2BlockProver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Halo2BlockProver")
            .field("shape", &self.shape)
            .finish_non_exhaustive()
    }
}

/// Stable hash of a verifying key: keccak256(`parley.vk.v1` ‖ vk bytes (RawBytes) ‖
/// transcript_repr (which hashes the pinned constraint system)).
pub fn vk_hash(vk: &VerifyingKey<G1Affine>) -> B256 {
    let mut h = Keccak256::new();
    h.update(b"parley.vk.v1");
    h.update(vk.to_bytes(SerdeFormat::RawBytes));
    h.update(vk.transcript_repr().to_repr());
    B256::from_slice(&h.finalize())
}

impl Halo2BlockProver {
    /// Keys for `capacity` entries, with the SRS from the on-disk cache.
    pub fn setup(capacity: usize) -> Result<Self> {
        Self::setup_backend(capacity, HashBackend::Chip)
    }

    /// Keys for `capacity` entries of a given Poseidon backend (the flex-gate one is for
    /// benchmarks).
    pub fn setup_backend(capacity: usize, backend: HashBackend) -> Result<Self> {
        Self::setup_shape(block_shape_with(capacity, backend)?)
    }

    /// Keys for `capacity` entries whose indices fit `index_bits` bits (ADR 0021): the circuit
    /// a chain pins with `proof_index_bits`.
    pub fn setup_for(capacity: usize, index_bits: u32) -> Result<Self> {
        Self::setup_shape(block_shape_for(capacity, HashBackend::Chip, index_bits)?)
    }

    /// Keys for a shape, with the SRS from the on-disk cache.
    pub fn setup_shape(shape: BlockCircuitShape) -> Result<Self> {
        let params = load_srs(shape.k())?;
        Self::setup_with(shape, params)
    }

    /// Keys for a shape with given parameters (k must match).
    pub fn setup_with(shape: BlockCircuitShape, params: ParamsKZG<Bn256>) -> Result<Self> {
        let w = BlockWitness::dummy(shape.capacity);
        let circuit = block_circuit(CircuitBuilderStage::Keygen, &shape, Default::default(), &w);
        let vk = keygen_vk(&params, &circuit).map_err(|e| ProofError::Halo2(e.to_string()))?;
        let pk = keygen_pk(&params, vk, &circuit).map_err(|e| ProofError::Halo2(e.to_string()))?;
        let break_points = circuit.break_points();
        Ok(Self {
            shape,
            params,
            pk,
            break_points,
        })
    }

    /// Keys read back from a cache ([`crate::keycache`]).
    pub(crate) fn from_parts(
        shape: BlockCircuitShape,
        params: ParamsKZG<Bn256>,
        pk: ProvingKey<G1Affine>,
        break_points: MultiPhaseThreadBreakPoints,
    ) -> Self {
        Self {
            shape,
            params,
            pk,
            break_points,
        }
    }

    /// Proving key.
    pub fn pk(&self) -> &ProvingKey<G1Affine> {
        &self.pk
    }

    /// Flex-gate break points from keygen (needed to prove).
    pub fn break_points(&self) -> &MultiPhaseThreadBreakPoints {
        &self.break_points
    }

    /// Circuit shape.
    pub fn shape(&self) -> &BlockCircuitShape {
        &self.shape
    }

    /// KZG parameters (downsized to this circuit's k).
    pub fn params(&self) -> &ParamsKZG<Bn256> {
        &self.params
    }

    /// Verifying key.
    pub fn vk(&self) -> &VerifyingKey<G1Affine> {
        self.pk.get_vk()
    }

    /// Prove without the self-check (a bad witness gives a proof that does not verify).
    pub fn prove_unchecked(&self, witness: &BlockWitness) -> Result<BlockProof> {
        if witness.capacity() != self.shape.capacity {
            return Err(ProofError::CapacityExceeded {
                entries: witness.capacity(),
                capacity: self.shape.capacity,
            });
        }
        // an index the circuit cannot open would only give a proof that does not verify
        let bits = self.shape.index_bits;
        if let Some((position, e)) = witness
            .entries
            .iter()
            .enumerate()
            .find(|(_, e)| e.is_real && e.index >> bits != 0)
        {
            return Err(ProofError::IndexBeyondCircuit {
                position,
                index: e.index,
                bits,
            });
        }
        let circuit = block_circuit(
            CircuitBuilderStage::Prover,
            &self.shape,
            self.break_points.clone(),
            witness,
        );
        let instances = witness.public.instances();
        let bytes = prove_poseidon(&self.params, &self.pk, circuit, &instances)?;
        Ok(BlockProof {
            capacity: self.shape.capacity,
            bytes,
        })
    }

    /// The proof as a snark-verifier `Snark` (input of the aggregation circuit).
    pub fn to_snark(&self, public: &BlockPublicInputs, proof: &BlockProof) -> Snark {
        let protocol = compile(
            &self.params,
            self.pk.get_vk(),
            Config::kzg().with_num_instance(vec![BLOCK_NUM_INSTANCES]),
        );
        Snark::new(protocol, vec![public.instances()], proof.bytes.clone())
    }
}

impl BlockProver for Halo2BlockProver {
    fn capacity(&self) -> usize {
        self.shape.capacity
    }

    fn prove(&self, witness: &BlockWitness) -> Result<BlockProof> {
        let proof = self.prove_unchecked(witness)?;
        self.verify(&witness.public, &proof)?;
        Ok(proof)
    }

    fn verify(&self, public: &BlockPublicInputs, proof: &BlockProof) -> Result<()> {
        if proof.capacity != self.shape.capacity {
            return Err(ProofError::Invalid(format!(
                "proof for capacity {}, verifier for {}",
                proof.capacity, self.shape.capacity
            )));
        }
        verify_poseidon(
            &self.params,
            self.pk.get_vk(),
            &public.instances(),
            &proof.bytes,
        )
    }

    fn vk_hash(&self) -> B256 {
        vk_hash(self.pk.get_vk())
    }
}

/// What a validator needs to check block proofs of one capacity: the verifying key (built
/// from the circuit, never read from a peer) and the SRS it was built with. Cheaper than
/// [`Halo2BlockProver`]: no proving key.
pub struct BlockVerifier {
    capacity: usize,
    params: ParamsKZG<Bn256>,
    vk: VerifyingKey<G1Affine>,
}

impl std::fmt::Debug for BlockVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockVerifier")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl BlockVerifier {
    /// The verifier of the chip circuit of `capacity` entries, with the SRS from the on-disk
    /// cache.
    pub fn setup(capacity: usize) -> Result<Self> {
        Self::setup_for(capacity, FULL_INDEX_BITS)
    }

    /// The verifier of the chip circuit of `capacity` entries whose indices fit `index_bits`
    /// bits (ADR 0021).
    pub fn setup_for(capacity: usize, index_bits: u32) -> Result<Self> {
        let shape = block_shape_for(capacity, HashBackend::Chip, index_bits)?;
        let params = load_srs(shape.k())?;
        let w = BlockWitness::dummy(shape.capacity);
        let circuit = block_circuit(CircuitBuilderStage::Keygen, &shape, Default::default(), &w);
        let vk = keygen_vk(&params, &circuit).map_err(|e| ProofError::Halo2(e.to_string()))?;
        Ok(Self {
            capacity,
            params,
            vk,
        })
    }

    /// Entries per proof.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// KZG parameters of the block circuit.
    pub fn params(&self) -> &ParamsKZG<Bn256> {
        &self.params
    }

    /// Verifying key of the block circuit.
    pub fn vk(&self) -> &VerifyingKey<G1Affine> {
        &self.vk
    }

    /// [`vk_hash`] of its key (what genesis pins).
    pub fn vk_hash(&self) -> B256 {
        vk_hash(&self.vk)
    }

    /// Checks `proof` (the bytes of a [`BlockProof`] of this capacity) against public inputs
    /// the caller computed itself.
    pub fn verify(&self, public: &BlockPublicInputs, proof: &[u8]) -> Result<()> {
        verify_poseidon(&self.params, &self.vk, &public.instances(), proof)
    }
}

/// SHPLONK proof with the Poseidon transcript of snark-verifier-sdk (one instance column).
pub fn prove_poseidon<C: Circuit<Fr>>(
    params: &ParamsKZG<Bn256>,
    pk: &ProvingKey<G1Affine>,
    circuit: C,
    instances: &[Fr],
) -> Result<Vec<u8>> {
    let mut transcript =
        PoseidonTranscript::<NativeLoader, Vec<u8>>::from_spec(vec![], POSEIDON_SPEC.clone());
    create_proof::<KZGCommitmentScheme<Bn256>, ProverSHPLONK<'_, Bn256>, _, _, _, _>(
        params,
        pk,
        &[circuit],
        &[&[instances]],
        rand::rngs::OsRng,
        &mut transcript,
    )
    .map_err(|e| ProofError::Halo2(e.to_string()))?;
    Ok(transcript.finalize())
}

/// Verify a [`prove_poseidon`] proof.
pub fn verify_poseidon(
    params: &ParamsKZG<Bn256>,
    vk: &VerifyingKey<G1Affine>,
    instances: &[Fr],
    proof: &[u8],
) -> Result<()> {
    let mut transcript =
        PoseidonTranscript::<NativeLoader, &[u8]>::from_spec(proof, POSEIDON_SPEC.clone());
    let strategy = verify_proof::<_, VerifierSHPLONK<'_, Bn256>, _, _, _>(
        params.verifier_params(),
        vk,
        AccumulatorStrategy::new(params.verifier_params()),
        &[&[instances]],
        &mut transcript,
    )
    .map_err(|e| ProofError::Invalid(e.to_string()))?;
    if VerificationStrategy::<_, VerifierSHPLONK<'_, Bn256>>::finalize(strategy) {
        Ok(())
    } else {
        Err(ProofError::Invalid("pairing check failed".into()))
    }
}
