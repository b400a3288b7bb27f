//! Epoch aggregation: one `AggregationCircuit` (snark-verifier-sdk, SHPLONK) over the block
//! proofs of an epoch, plus Parley's epoch constraints.
//!
//! Public instances of an epoch proof (15 field elements):
//! `[accumulator limbs (12), first_pre_root, last_post_root, epoch_commitment]` with
//! `epoch_commitment = Poseidon(EPOCH_DOMAIN, n, pi_hash_1, …, pi_hash_n)`.
//! In circuit: every block proof verifies (KZG accumulator, checked by the final pairing), the
//! block vk is a constant of the circuit, and block k's `post_root` equals block k+1's
//! `pre_root` (copy constraints). Empty slots change no state, so they have no block proof and
//! the roots chain across them.

use crate::{
    circuit::BLOCK_NUM_INSTANCES,
    encoding::fr_from_be_bytes,
    error::{ProofError, Result},
    params::load_srs,
    poseidon::{RATE, SPEC, T},
    prover::{Halo2BlockProver, prove_poseidon, vk_hash},
};
use alloy_primitives::B256;
use halo2_base::{
    AssignedValue, Context,
    gates::{
        GateInstructions, RangeInstructions, circuit::CircuitBuilderStage,
        flex_gate::MultiPhaseThreadBreakPoints,
    },
    halo2_proofs::{
        halo2curves::bn256::{Bn256, Fr, G1Affine},
        plonk::{ProvingKey, VerifyingKey, create_proof, keygen_pk, keygen_vk},
        poly::{
            commitment::ParamsProver,
            kzg::{
                commitment::{KZGCommitmentScheme, ParamsKZG},
                multiopen::ProverSHPLONK,
            },
        },
        transcript::TranscriptWriterBuffer,
    },
    poseidon::hasher::PoseidonHasher,
};
use snark_verifier_sdk::{
    CircuitExt, NativeLoader, PlonkVerifier, SHPLONK, Snark,
    evm::gen_evm_verifier_sol_code,
    halo2::{
        POSEIDON_SPEC, PoseidonTranscript,
        aggregation::{AggregationCircuit, AggregationConfigParams, VerifierUniversality},
        gen_dummy_snark_from_vk,
    },
    snark_verifier::{
        system::halo2::{Config, compile, transcript::evm::EvmTranscript},
        verifier::{SnarkVerifier, plonk::PlonkProtocol},
    },
};

/// Number of accumulator limbs at the start of the instances.
pub const ACC_LIMBS: usize = 12;
/// Instances of an epoch proof (either layer): accumulator limbs and the 3-element statement.
pub const EPOCH_NUM_INSTANCES: usize = ACC_LIMBS + 3;
/// Default aggregation circuit degree (layer 1).
pub const DEFAULT_AGG_K: u32 = 20;
/// Default compression circuit degree.
pub const DEFAULT_COMPRESS_K: u32 = 21;

/// Domain tag of the epoch commitment: ASCII `parley.epoch.v1`.
pub fn epoch_domain() -> Fr {
    fr_from_be_bytes(b"parley.epoch.v1")
}

/// Native epoch commitment over the blocks' `pi_hash`es, in slot order.
pub fn epoch_commitment(pi_hashes: &[Fr]) -> Fr {
    let mut v = vec![epoch_domain(), Fr::from(pi_hashes.len() as u64)];
    v.extend_from_slice(pi_hashes);
    crate::poseidon::hash(&v)
}

/// In-circuit epoch constraints over the block proofs' instances `[pre, post, pi_hash]`:
/// chain the roots and return `[first_pre_root, last_post_root, epoch_commitment]`.
pub fn epoch_constraints(
    ctx: &mut Context<Fr>,
    gate: &impl GateInstructions<Fr>,
    blocks: &[Vec<AssignedValue<Fr>>],
) -> [AssignedValue<Fr>; 3] {
    assert!(
        !blocks.is_empty(),
        "an epoch proof aggregates at least one block"
    );
    for pair in blocks.windows(2) {
        ctx.constrain_equal(&pair[0][1], &pair[1][0]);
    }
    let mut hasher = PoseidonHasher::<Fr, T, RATE>::new(SPEC.clone());
    hasher.initialize_consts(ctx, gate);
    let mut inputs = vec![
        ctx.load_constant(epoch_domain()),
        ctx.load_constant(Fr::from(blocks.len() as u64)),
    ];
    inputs.extend(blocks.iter().map(|b| b[2]));
    let commitment = hasher.hash_fix_len_array(ctx, gate, &inputs);
    let last = blocks.last().expect("non-empty");
    [blocks[0][0], last[1], commitment]
}

/// Public statement of an epoch proof (without the accumulator).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpochPublicInputs {
    /// pre_root of the first block.
    pub first_pre_root: Fr,
    /// post_root of the last block.
    pub last_post_root: Fr,
    /// [`epoch_commitment`] of the blocks.
    pub epoch_commitment: Fr,
}

/// An epoch proof (keccak transcript, verifiable by the generated EVM verifier).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochProof {
    /// All 15 instances (accumulator limbs first).
    pub instances: Vec<Fr>,
    /// Proof bytes.
    pub proof: Vec<u8>,
}

impl EpochProof {
    /// The statement part of the instances.
    pub fn public(&self) -> EpochPublicInputs {
        EpochPublicInputs {
            first_pre_root: self.instances[ACC_LIMBS],
            last_post_root: self.instances[ACC_LIMBS + 1],
            epoch_commitment: self.instances[ACC_LIMBS + 2],
        }
    }

    /// ABI calldata for the EVM verifier (instances as 32-byte words, then the proof).
    pub fn calldata(&self) -> Vec<u8> {
        snark_verifier_sdk::snark_verifier::loader::evm::encode_calldata(
            std::slice::from_ref(&self.instances),
            &self.proof,
        )
    }
}

/// The verification protocol (a vk compiled for snark-verifier) that every snark handed to an
/// aggregation layer must carry unchanged: the block circuit's for layer 1, the layer-1
/// circuit's for the compression layer.
///
/// A `Snark` brings its own protocol; the aggregation circuits pin the inner vk as constants,
/// so a proof of another circuit (or the same circuit at another capacity) could never give a
/// verifying proof, but without this check it would cost a full aggregation (minutes) to find
/// out, and the error would not say which input was at fault.
#[derive(Clone, Debug)]
pub struct ProtocolCheck {
    /// Canonical bytes (JSON) of the expected protocol: every field compared, not a subset.
    expected: Vec<u8>,
    /// Instances of the one instance column.
    width: usize,
}

impl ProtocolCheck {
    /// The protocol of `block`'s verifying key.
    pub fn block(block: &Halo2BlockProver) -> Self {
        let protocol = compile(
            block.params(),
            block.vk(),
            Config::kzg().with_num_instance(vec![BLOCK_NUM_INSTANCES]),
        );
        Self {
            expected: serde_json::to_vec(&protocol).expect("a protocol serializes"),
            width: BLOCK_NUM_INSTANCES,
        }
    }

    /// The protocol of a layer-1 aggregator's verifying key.
    pub fn epoch(inner: &EpochAggregator) -> Self {
        let protocol = aggregation_protocol(inner.params(), inner.vk());
        Self {
            expected: serde_json::to_vec(&protocol).expect("a protocol serializes"),
            width: EPOCH_NUM_INSTANCES,
        }
    }

    /// `Ok` when `snark` (input `index`) was made with the expected vk and has one instance
    /// column of the expected width.
    pub fn check(&self, index: usize, snark: &Snark) -> Result<()> {
        let got = serde_json::to_vec(&snark.protocol).expect("a protocol serializes");
        let shape_ok = snark.instances.len() == 1 && snark.instances[0].len() == self.width;
        if got == self.expected && shape_ok {
            Ok(())
        } else {
            Err(ProofError::WrongVk(index))
        }
    }
}

/// Keys of the epoch aggregation circuit (layer 1) for `n_blocks` block proofs of one block
/// circuit. Its proof uses a Poseidon transcript: it is the input of [`EpochCompressor`], whose
/// proof is the one L1 verifies.
pub struct EpochAggregator {
    n_blocks: usize,
    params: ParamsKZG<Bn256>,
    block_params: ParamsKZG<Bn256>,
    block_vk: VerifyingKey<G1Affine>,
    block_vk_check: ProtocolCheck,
    config: AggregationConfigParams,
    pk: ProvingKey<G1Affine>,
    break_points: MultiPhaseThreadBreakPoints,
}

impl std::fmt::Debug for EpochAggregator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochAggregator")
            .field("n_blocks", &self.n_blocks)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// An SHPLONK aggregation circuit over `snarks` whose verifying keys are constants.
fn pinned_aggregation(
    stage: CircuitBuilderStage,
    config: AggregationConfigParams,
    params: &ParamsKZG<Bn256>,
    snarks: Vec<Snark>,
) -> AggregationCircuit {
    AggregationCircuit::new::<SHPLONK>(stage, config, params, snarks, VerifierUniversality::None)
}

fn build(
    stage: CircuitBuilderStage,
    config: AggregationConfigParams,
    params: &ParamsKZG<Bn256>,
    snarks: Vec<Snark>,
) -> AggregationCircuit {
    let mut agg = pinned_aggregation(stage, config, params, snarks);
    let blocks = agg.previous_instances().clone();
    let range = agg.builder.range_chip();
    let out = epoch_constraints(agg.builder.main(0), range.gate(), &blocks);
    agg.builder.assigned_instances[0].extend(out);
    agg
}

/// Keygen of an aggregation circuit built by `build` from dummy snarks.
fn keygen(
    params: &ParamsKZG<Bn256>,
    k: u32,
    build: impl Fn(AggregationConfigParams) -> AggregationCircuit,
) -> Result<(
    AggregationConfigParams,
    ProvingKey<G1Affine>,
    MultiPhaseThreadBreakPoints,
)> {
    let config = AggregationConfigParams {
        degree: k,
        lookup_bits: k as usize - 1,
        ..Default::default()
    };
    let mut circuit = build(config);
    let config = circuit.calculate_params(Some(20));
    let vk = keygen_vk(params, &circuit).map_err(|e| ProofError::Halo2(e.to_string()))?;
    let pk = keygen_pk(params, vk, &circuit).map_err(|e| ProofError::Halo2(e.to_string()))?;
    Ok((config, pk, circuit.break_points()))
}

/// The snark-verifier protocol of an aggregation vk (15 instances, accumulator first).
fn aggregation_protocol(
    params: &ParamsKZG<Bn256>,
    vk: &VerifyingKey<G1Affine>,
) -> PlonkProtocol<G1Affine> {
    compile(
        params,
        vk,
        Config::kzg()
            .with_num_instance(vec![EPOCH_NUM_INSTANCES])
            .with_accumulator_indices(AggregationCircuit::accumulator_indices()),
    )
}

/// Full native verification of an aggregation proof (its own proof and the pairing on the
/// accumulator its instances carry), with the transcript `T`.
fn verify_aggregation<'a, TR>(
    params: &ParamsKZG<Bn256>,
    vk: &VerifyingKey<G1Affine>,
    instances: &[Fr],
    transcript: &mut TR,
) -> Result<()>
where
    TR: snark_verifier_sdk::snark_verifier::util::transcript::TranscriptRead<G1Affine, NativeLoader>,
    'a: 'a,
{
    let protocol = aggregation_protocol(params, vk);
    let dk = (params.get_g()[0], params.g2(), params.s_g2()).into();
    let instances = vec![instances.to_vec()];
    let inner = PlonkVerifier::<SHPLONK>::read_proof(&dk, &protocol, &instances, transcript)
        .map_err(|e| ProofError::Invalid(format!("{e:?}")))?;
    PlonkVerifier::<SHPLONK>::verify(&dk, &protocol, &instances, &inner)
        .map_err(|e| ProofError::Invalid(format!("{e:?}")))
}

impl EpochAggregator {
    /// Keygen for epochs of `n_blocks` block proofs made by `block`, at degree `k`.
    pub fn setup(block: &Halo2BlockProver, n_blocks: usize, k: u32) -> Result<Self> {
        if n_blocks == 0 {
            return Err(ProofError::Empty(
                "an epoch aggregates at least one block proof",
            ));
        }
        let params = load_srs(k)?;
        let block_params = block.params().clone();
        let dummy = gen_dummy_snark_from_vk::<SHPLONK>(
            &block_params,
            block.vk(),
            vec![BLOCK_NUM_INSTANCES],
            None,
        );
        let (config, pk, break_points) = keygen(&params, k, |config| {
            build(
                CircuitBuilderStage::Keygen,
                config,
                &params,
                vec![dummy.clone(); n_blocks],
            )
        })?;
        Ok(Self {
            n_blocks,
            params,
            block_params,
            block_vk: block.vk().clone(),
            block_vk_check: ProtocolCheck::block(block),
            config,
            pk,
            break_points,
        })
    }

    /// Circuit configuration (degree, columns).
    pub fn config(&self) -> AggregationConfigParams {
        self.config
    }

    /// Verifying key of the aggregation circuit.
    pub fn vk(&self) -> &VerifyingKey<G1Affine> {
        self.pk.get_vk()
    }

    /// KZG parameters of the aggregation circuit.
    pub fn params(&self) -> &ParamsKZG<Bn256> {
        &self.params
    }

    /// Stable hash of the aggregation vk.
    pub fn vk_hash(&self) -> B256 {
        vk_hash(self.pk.get_vk())
    }

    /// Number of instances of an epoch proof.
    pub fn num_instances(&self) -> usize {
        EPOCH_NUM_INSTANCES
    }

    /// Aggregate the epoch's block proofs (slot order). Refuses, before proving, a block proof
    /// made with another verifying key ([`ProofError::WrongVk`]) and a broken root chain (the
    /// circuit would not be satisfiable in either case: the block vk is a constant of it).
    pub fn aggregate(&self, snarks: Vec<Snark>) -> Result<Snark> {
        if snarks.len() != self.n_blocks {
            return Err(ProofError::Invalid(format!(
                "aggregator built for {} blocks, got {}",
                self.n_blocks,
                snarks.len()
            )));
        }
        for (i, snark) in snarks.iter().enumerate() {
            self.block_vk_check.check(i, snark)?;
        }
        for (i, pair) in snarks.windows(2).enumerate() {
            if pair[0].instances[0][1] != pair[1].instances[0][0] {
                return Err(ProofError::BrokenChain(i));
            }
        }
        self.aggregate_unchecked(snarks)
    }

    /// Aggregate without the native chain check (tests: the circuit must refuse).
    pub fn aggregate_unchecked(&self, snarks: Vec<Snark>) -> Result<Snark> {
        let mut circuit = build(
            CircuitBuilderStage::Prover,
            self.config,
            &self.params,
            snarks,
        );
        circuit.set_break_points(self.break_points.clone());
        let instances = circuit.instances().pop().expect("one instance column");
        let proof = prove_poseidon(&self.params, &self.pk, circuit, &instances)?;
        Ok(Snark::new(
            aggregation_protocol(&self.params, self.pk.get_vk()),
            vec![instances],
            proof,
        ))
    }

    /// Native verification of a layer-1 epoch snark: its proof and the pairing on the
    /// accumulator it carries.
    pub fn verify(&self, snark: &Snark) -> Result<()> {
        let instances = snark
            .instances
            .first()
            .ok_or(ProofError::Empty("an epoch snark has one instance column"))?;
        let mut transcript = PoseidonTranscript::<NativeLoader, &[u8]>::from_spec(
            snark.proof.as_slice(),
            POSEIDON_SPEC.clone(),
        );
        verify_aggregation(&self.params, self.pk.get_vk(), instances, &mut transcript)
    }

    /// The block circuit's parameters (for checks by callers).
    pub fn block_params(&self) -> &ParamsKZG<Bn256> {
        &self.block_params
    }

    /// The block circuit's vk this aggregator accepts.
    pub fn block_vk(&self) -> &VerifyingKey<G1Affine> {
        &self.block_vk
    }
}

/// The compression layer (ADR 0010): one aggregation circuit over exactly one layer-1 epoch
/// snark, whose keccak-transcript proof L1 verifies. It always verifies one aggregation proof,
/// so its size grows only with layer 1's column count, not with one verifier per block: at
/// k = 21 the L1 verify costs 442k gas for 2-block epochs and 504k for 4 (docs/proofs.md).
///
/// Public instances, the same 15 as a layer-1 proof: the accumulator limbs of the combined
/// accumulator (layer 1's folded in), then layer 1's `first_pre_root`, `last_post_root`,
/// `epoch_commitment`, copied from the verified snark's instances. The layer-1 vk is a
/// constant of this circuit (`VerifierUniversality::None`): a snark of any other circuit
/// cannot verify, and [`EpochCompressor::compress`] refuses it natively before proving.
pub struct EpochCompressor {
    params: ParamsKZG<Bn256>,
    inner_check: ProtocolCheck,
    config: AggregationConfigParams,
    pk: ProvingKey<G1Affine>,
    break_points: MultiPhaseThreadBreakPoints,
}

impl std::fmt::Debug for EpochCompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochCompressor")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn build_compression(
    stage: CircuitBuilderStage,
    config: AggregationConfigParams,
    params: &ParamsKZG<Bn256>,
    snark: Snark,
) -> AggregationCircuit {
    let mut agg = pinned_aggregation(stage, config, params, vec![snark]);
    let statement = agg.previous_instances()[0][ACC_LIMBS..EPOCH_NUM_INSTANCES].to_vec();
    agg.builder.assigned_instances[0].extend(statement);
    agg
}

impl EpochCompressor {
    /// Keygen of the compression circuit for `inner`'s epoch snarks, at degree `k`.
    pub fn setup(inner: &EpochAggregator, k: u32) -> Result<Self> {
        let params = load_srs(k)?;
        let dummy = gen_dummy_snark_from_vk::<SHPLONK>(
            inner.params(),
            inner.vk(),
            vec![EPOCH_NUM_INSTANCES],
            AggregationCircuit::accumulator_indices(),
        );
        let (config, pk, break_points) = keygen(&params, k, |config| {
            build_compression(CircuitBuilderStage::Keygen, config, &params, dummy.clone())
        })?;
        Ok(Self {
            params,
            inner_check: ProtocolCheck::epoch(inner),
            config,
            pk,
            break_points,
        })
    }

    /// Circuit configuration (degree, columns).
    pub fn config(&self) -> AggregationConfigParams {
        self.config
    }

    /// Verifying key of the compression circuit (the one L1's verifier is generated from).
    pub fn vk(&self) -> &VerifyingKey<G1Affine> {
        self.pk.get_vk()
    }

    /// Stable hash of the compression vk.
    pub fn vk_hash(&self) -> B256 {
        vk_hash(self.pk.get_vk())
    }

    /// Compress a layer-1 epoch snark into the proof L1 verifies. Refuses, before proving, a
    /// snark of another circuit ([`ProofError::WrongVk`]).
    pub fn compress(&self, snark: Snark) -> Result<EpochProof> {
        self.inner_check.check(0, &snark)?;
        let mut circuit = build_compression(
            CircuitBuilderStage::Prover,
            self.config,
            &self.params,
            snark,
        );
        circuit.set_break_points(self.break_points.clone());
        let instances = circuit.instances().pop().expect("one instance column");
        let mut transcript =
            <EvmTranscript<G1Affine, NativeLoader, Vec<u8>, Vec<u8>> as TranscriptWriterBuffer<
                Vec<u8>,
                G1Affine,
                _,
            >>::init(Vec::new());
        create_proof::<KZGCommitmentScheme<Bn256>, ProverSHPLONK<'_, Bn256>, _, _, _, _>(
            &self.params,
            &self.pk,
            &[circuit],
            &[&[&instances]],
            rand::rngs::OsRng,
            &mut transcript,
        )
        .map_err(|e| ProofError::Halo2(e.to_string()))?;
        Ok(EpochProof {
            instances,
            proof: transcript.finalize(),
        })
    }

    /// Native verification, exactly what the EVM verifier checks: the proof and the pairing
    /// on the accumulator it carries.
    pub fn verify(&self, proof: &EpochProof) -> Result<()> {
        let mut transcript =
            EvmTranscript::<G1Affine, NativeLoader, &[u8], Vec<u8>>::new(proof.proof.as_slice());
        verify_aggregation(
            &self.params,
            self.pk.get_vk(),
            &proof.instances,
            &mut transcript,
        )
    }

    /// Solidity source of the EVM verifier (pragma 0.8.19).
    pub fn solidity_verifier(&self) -> String {
        gen_evm_verifier_sol_code::<AggregationCircuit, SHPLONK>(
            &self.params,
            self.pk.get_vk(),
            vec![EPOCH_NUM_INSTANCES],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use halo2_base::{gates::circuit::builder::BaseCircuitBuilder, halo2_proofs::dev::MockProver};

    /// The epoch constraints alone (without the snark verifier around them), on MockProver:
    /// a contiguous chain passes with the native commitment, a broken one fails.
    fn check(blocks: &[[Fr; 3]], claimed: [Fr; 3]) -> bool {
        let mut b = BaseCircuitBuilder::<Fr>::new(false)
            .use_k(10)
            .use_lookup_bits(8)
            .use_instance_columns(1);
        let range = b.range_chip();
        let ctx = b.main(0);
        let assigned: Vec<Vec<_>> = blocks.iter().map(|x| ctx.assign_witnesses(*x)).collect();
        let out = epoch_constraints(ctx, range.gate(), &assigned);
        b.assigned_instances = vec![out.to_vec()];
        b.calculate_params(Some(10));
        MockProver::run(10, &b, vec![claimed.to_vec()])
            .expect("mock runs")
            .verify()
            .is_ok()
    }

    #[test]
    fn epoch_chain_is_enforced_in_circuit() {
        let r = |i: u64| Fr::from(1000 + i);
        let pis = [Fr::from(7), Fr::from(8), Fr::from(9)];
        let good = [
            [r(0), r(1), pis[0]],
            [r(1), r(2), pis[1]],
            [r(2), r(3), pis[2]],
        ];
        let claimed = [r(0), r(3), epoch_commitment(&pis)];
        assert!(check(&good, claimed));
        // block 1's post_root != block 2's pre_root
        let mut broken = good;
        broken[2][0] = r(5);
        assert!(!check(&broken, claimed));
        // wrong commitment (order of blocks swapped)
        assert!(!check(
            &good,
            [r(0), r(3), epoch_commitment(&[pis[1], pis[0], pis[2]])]
        ));
        // wrong end root
        assert!(!check(&good, [r(0), r(2), epoch_commitment(&pis)]));
    }
}
