//! Epoch aggregation: one `AggregationCircuit` (snark-verifier-sdk, SHPLONK) over the block
//! proofs of an epoch, plus Parley's epoch constraints (ADR 0015).
//!
//! An aggregation circuit has a fixed **capacity** `n` (the epoch's slot count: at most that
//! many slots need a proof) and aggregates `count` block proofs, `1 ≤ count ≤ n`; the unused
//! inputs repeat the last real proof and are switched off by flags.
//!
//! Public instances of an epoch proof (15 field elements):
//! `[accumulator limbs (12), first_pre_root, last_post_root, epoch_commitment]` with
//! `epoch_commitment = Poseidon(EPOCH_DOMAIN, count, aggregator, f_1·pi_hash_1, …,
//! f_n·pi_hash_n)` (flags `f_i`, 1 for the `count` real proofs, 0 for padding).
//! In circuit: every input proof verifies (KZG accumulator, checked by the final pairing), the
//! block vk is a constant of the circuit; the flags are bits, start at 1 and never rise again;
//! a real block's `pre_root` equals the previous block's `post_root`; `last_post_root` is the
//! last real block's. Binding the aggregator's address makes a copied aggregate worthless to
//! anyone else (the chain computes the commitment with the submitter's address). Empty slots
//! change no state, so they have no block proof and the roots chain across them.

pub mod tree;

use crate::{
    circuit::BLOCK_NUM_INSTANCES,
    encoding::{fr_address, fr_from_be_bytes},
    error::{ProofError, Result},
    params::load_srs,
    poseidon::{RATE, SPEC, T},
    prover::{BlockVerifier, Halo2BlockProver, prove_poseidon, vk_hash},
};
use alloy_primitives::{Address, B256};
use halo2_base::{
    AssignedValue, Context, QuantumCell,
    gates::{
        GateInstructions, RangeInstructions, circuit::CircuitBuilderStage,
        flex_gate::MultiPhaseThreadBreakPoints,
    },
    halo2_proofs::{
        SerdeFormat,
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
        gen_dummy_snark_from_protocol, gen_dummy_snark_from_vk,
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
/// Default compression circuit degree: at k = 22 the pinned shape is 2 advice columns, and the
/// L1 verification costs 381k gas (ADR 0019).
pub const DEFAULT_COMPRESS_K: u32 = 22;

/// The layer-1 degree for epochs of up to `capacity` block proofs (ADR 0019): 20 up to 2, one
/// more per doubling (21 up to 4, 22 up to 8, …), so that layer 1 keeps about 10 advice columns
/// and its verification fits the compression circuit's pinned shape at [`DEFAULT_COMPRESS_K`].
pub fn layer1_degree(capacity: usize) -> u32 {
    let doublings = capacity.max(2).next_power_of_two().trailing_zeros();
    DEFAULT_AGG_K + doublings - 1
}

/// Advice cells the compression circuit has, whatever the epoch (ADR 0019): its advice columns
/// are `COMPRESSION_ADVICE_CELLS / 2^k` (2 at k = 22, 4 at k = 21), so that its verifying key,
/// and with it the L1 verifier's gas, depend on `k` alone and not on the epoch's capacity. A
/// layer-1 circuit whose verification needs more cells is refused at setup
/// ([`ProofError::CompressionTooSmall`]); raise the layer-1 degree so that it has fewer columns.
pub const COMPRESSION_ADVICE_CELLS: u64 = 1 << 23;

/// The pinned compression shape at degree `k` (ADR 0019): advice columns from
/// [`COMPRESSION_ADVICE_CELLS`], one lookup column per four advice columns (at least one), one
/// fixed column, lookup table of `k − 1` bits.
pub fn compression_shape(k: u32) -> AggregationConfigParams {
    let num_advice = COMPRESSION_ADVICE_CELLS.div_ceil(1u64 << k).max(1) as usize;
    AggregationConfigParams {
        degree: k,
        num_advice,
        num_lookup_advice: num_advice.div_ceil(4),
        num_fixed: 1,
        lookup_bits: k as usize - 1,
    }
}

/// Domain tag of the epoch commitment: ASCII `parley.epoch.v1`.
pub fn epoch_domain() -> Fr {
    fr_from_be_bytes(b"parley.epoch.v1")
}

/// Native epoch commitment over the real blocks' `pi_hash`es, in slot order, for an
/// aggregation circuit of `capacity` blocks whose proof `aggregator` submits. `None` when
/// there are no blocks or more than `capacity`.
pub fn epoch_commitment(aggregator: &Address, capacity: usize, pi_hashes: &[Fr]) -> Option<Fr> {
    if pi_hashes.is_empty() || pi_hashes.len() > capacity {
        return None;
    }
    let mut v = vec![
        epoch_domain(),
        Fr::from(pi_hashes.len() as u64),
        fr_address(aggregator),
    ];
    v.extend_from_slice(pi_hashes);
    v.resize(capacity + 3, Fr::zero());
    Some(crate::poseidon::hash(&v))
}

/// The epoch witness besides the block proofs: one flag per input (`count` ones, then zeros)
/// and the aggregator's address. Assigned with no constraint; [`epoch_constraints`] constrains
/// them.
pub fn assign_epoch_witness(
    ctx: &mut Context<Fr>,
    capacity: usize,
    count: usize,
    aggregator: &Address,
) -> (Vec<AssignedValue<Fr>>, AssignedValue<Fr>) {
    let flags = ctx.assign_witnesses(flags_of(capacity, count));
    let aggregator = ctx.load_witness(fr_address(aggregator));
    (flags, aggregator)
}

/// One flag per input: `count` ones, then zeros.
pub(crate) fn flags_of(capacity: usize, count: usize) -> impl Iterator<Item = Fr> {
    (0..capacity).map(move |i| Fr::from(u64::from(i < count)))
}

/// In-circuit epoch constraints over the input proofs' instances `[pre, post, pi_hash]`, with
/// one flag per input and the aggregator (see the module doc): returns `[first_pre_root,
/// last_post_root, epoch_commitment]`.
pub fn epoch_constraints(
    ctx: &mut Context<Fr>,
    gate: &impl GateInstructions<Fr>,
    blocks: &[Vec<AssignedValue<Fr>>],
    flags: &[AssignedValue<Fr>],
    aggregator: AssignedValue<Fr>,
) -> [AssignedValue<Fr>; 3] {
    let chain = chain_constraints(ctx, gate, blocks, flags);
    let pi_hashes: Vec<_> = blocks.iter().map(|b| b[2]).collect();
    let commitment = commitment_constraint(ctx, gate, chain.count, aggregator, &pi_hashes, flags);
    [chain.first_pre, chain.last_post, commitment]
}

/// What [`chain_constraints`] leaves of a run of block proofs.
pub(crate) struct Chain {
    /// `pre_root` of the first block.
    pub(crate) first_pre: AssignedValue<Fr>,
    /// `post_root` of the last real block.
    pub(crate) last_post: AssignedValue<Fr>,
    /// The number of real blocks.
    pub(crate) count: AssignedValue<Fr>,
}

/// The chain part of the epoch constraints over inputs `[pre, post, …]`: the flags are bits,
/// start at 1 and never rise again; a real input starts where the previous one ended. Returns
/// the first `pre`, the last real input's `post`, and the count of real inputs. (The cells are
/// assigned in the order the layer-1 circuit has always used: its verifying key, pinned in
/// genesis files, does not move.)
pub(crate) fn chain_constraints(
    ctx: &mut Context<Fr>,
    gate: &impl GateInstructions<Fr>,
    blocks: &[Vec<AssignedValue<Fr>>],
    flags: &[AssignedValue<Fr>],
) -> Chain {
    assert!(
        !blocks.is_empty() && flags.len() == blocks.len(),
        "an epoch proof aggregates at least one block, one flag per block"
    );
    for f in flags {
        gate.assert_bit(ctx, *f);
    }
    // The first input is real, and a real input never follows padding: f_{i+1} = f_{i+1}·f_i.
    gate.assert_is_const(ctx, &flags[0], &Fr::one());
    for i in 0..blocks.len() - 1 {
        let both = gate.mul(ctx, flags[i + 1], flags[i]);
        ctx.constrain_equal(&both, &flags[i + 1]);
        // A real block starts where the previous one ended: f_{i+1}·(post_i − pre_{i+1}) = 0.
        let gap = gate.sub(ctx, blocks[i][1], blocks[i + 1][0]);
        let gap = gate.mul(ctx, gap, flags[i + 1]);
        gate.assert_is_const(ctx, &gap, &Fr::zero());
    }
    // The last real block is the one whose flag is followed by 0: selector f_i − f_{i+1}.
    let mut selectors = Vec::with_capacity(flags.len());
    for i in 0..flags.len() {
        selectors.push(match flags.get(i + 1) {
            Some(next) => gate.sub(ctx, flags[i], *next),
            None => flags[i],
        });
    }
    let posts: Vec<_> = blocks.iter().map(|b| b[1]).collect();
    let last_post = gate.inner_product(ctx, posts, selectors.into_iter().map(QuantumCell::from));
    let count = gate.sum(ctx, flags.iter().copied());
    Chain {
        first_pre: blocks[0][0],
        last_post,
        count,
    }
}

/// `Poseidon(EPOCH_DOMAIN, count, aggregator, f_1·pi_1, …, f_n·pi_n)` in circuit
/// ([`epoch_commitment`]): each `pi_hashes[i]` masked by `flags[i]`.
pub(crate) fn commitment_constraint(
    ctx: &mut Context<Fr>,
    gate: &impl GateInstructions<Fr>,
    count: AssignedValue<Fr>,
    aggregator: AssignedValue<Fr>,
    pi_hashes: &[AssignedValue<Fr>],
    flags: &[AssignedValue<Fr>],
) -> AssignedValue<Fr> {
    let mut hasher = PoseidonHasher::<Fr, T, RATE>::new(SPEC.clone());
    hasher.initialize_consts(ctx, gate);
    let mut inputs = vec![ctx.load_constant(epoch_domain()), count, aggregator];
    for (pi, f) in pi_hashes.iter().zip(flags) {
        inputs.push(gate.mul(ctx, *pi, *f));
    }
    hasher.hash_fix_len_array(ctx, gate, &inputs)
}

/// Public statement of an epoch proof (without the accumulator).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpochPublicInputs {
    /// pre_root of the first block.
    pub first_pre_root: Fr,
    /// post_root of the last block.
    pub last_post_root: Fr,
    /// [`epoch_commitment`] of the blocks and the aggregator.
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

    /// `accumulator limbs (12 × 32-byte big-endian) ‖ proof`: the wire form of an epoch proof
    /// (the `EpochProof` message, `parley_getEpochProof`, the relayer's `--proof-dir` files).
    /// The statement instances are left out: every reader computes them itself.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ACC_LIMBS * 32 + self.proof.len());
        for x in &self.instances[..ACC_LIMBS] {
            out.extend_from_slice(&crate::encoding::fr_to_be_bytes(x));
        }
        out.extend_from_slice(&self.proof);
        out
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
        Self::of(&protocol, BLOCK_NUM_INSTANCES)
    }

    /// Inputs made with exactly `protocol`, with one instance column of `width`.
    pub fn of(protocol: &PlonkProtocol<G1Affine>, width: usize) -> Self {
        Self {
            expected: serde_json::to_vec(protocol).expect("a protocol serializes"),
            width,
        }
    }

    /// The protocol of a layer-1 aggregator's verifying key.
    pub fn epoch(inner: &EpochAggregator) -> Self {
        Self::aggregation(inner.params(), inner.vk())
    }

    /// The protocol of an aggregation verifying key whose proofs carry the epoch statement
    /// (a layer-1 aggregator, or the root of an aggregation tree).
    pub fn aggregation(params: &ParamsKZG<Bn256>, vk: &VerifyingKey<G1Affine>) -> Self {
        Self::of(&aggregation_protocol(params, vk), EPOCH_NUM_INSTANCES)
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

/// The circuit whose proof carries an epoch's statement (what genesis pins as the
/// aggregation circuit): one flat layer 1, or an aggregation tree's root (ADR 0020). Both
/// proofs have the same 15 instances and are checked, and compressed, the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpochShape {
    /// One layer-1 circuit over up to `capacity` block proofs, at degree `k`.
    Flat {
        /// Block proofs per epoch proof, at most.
        capacity: usize,
        /// Degree of the layer-1 circuit.
        k: u32,
    },
    /// Leaves of block proofs under a root ([`tree::TreeShape`]).
    Tree(tree::TreeShape),
}

impl EpochShape {
    /// Block proofs per epoch proof, at most.
    pub fn capacity(&self) -> usize {
        match self {
            Self::Flat { capacity, .. } => *capacity,
            Self::Tree(t) => t.capacity(),
        }
    }

    /// Degree of the circuit whose proof carries the statement (layer 1, or the root).
    pub fn k(&self) -> u32 {
        match self {
            Self::Flat { k, .. } => *k,
            Self::Tree(t) => t.k,
        }
    }
}

/// The proving keys of an [`EpochShape`]: what a worker aggregates an epoch with.
#[derive(Debug)]
pub enum EpochProver {
    /// A flat layer 1 (each variant boxed: key handles are kilobytes, and differ in size).
    Flat(Box<EpochAggregator>),
    /// An aggregation tree.
    Tree(Box<tree::TreeAggregator>),
}

impl EpochProver {
    /// Keygen for `shape` over `block`'s circuit.
    pub fn setup(block: &Halo2BlockProver, shape: &EpochShape) -> Result<Self> {
        Ok(match shape {
            EpochShape::Flat { capacity, k } => {
                Self::Flat(Box::new(EpochAggregator::setup(block, *capacity, *k)?))
            }
            EpochShape::Tree(t) => Self::Tree(Box::new(tree::TreeAggregator::setup(block, t)?)),
        })
    }

    /// The keys for `shape` whose verifying key hashes to `vk_hash`, read from the key cache
    /// in `dir` when there, else made and cached ([`EpochAggregator::setup_cached`],
    /// [`tree::TreeAggregator::setup_cached`]).
    pub fn setup_cached(
        block: &Halo2BlockProver,
        shape: &EpochShape,
        vk_hash: B256,
        dir: &std::path::Path,
    ) -> Result<(Self, crate::keycache::KeySource)> {
        match shape {
            EpochShape::Flat { capacity, k } => {
                EpochAggregator::setup_cached(block, *capacity, *k, vk_hash, dir)
                    .map(|(a, s)| (Self::Flat(Box::new(a)), s))
            }
            EpochShape::Tree(t) => tree::TreeAggregator::setup_cached(block, t, vk_hash, dir)
                .map(|(a, s)| (Self::Tree(Box::new(a)), s)),
        }
    }

    /// The shape these keys prove.
    pub fn shape(&self) -> EpochShape {
        match self {
            Self::Flat(a) => EpochShape::Flat {
                capacity: a.capacity,
                k: a.config.degree,
            },
            Self::Tree(t) => EpochShape::Tree(*t.shape()),
        }
    }

    /// KZG parameters of the circuit whose proof carries the statement.
    pub fn params(&self) -> &ParamsKZG<Bn256> {
        match self {
            Self::Flat(a) => a.params(),
            Self::Tree(t) => t.root().params(),
        }
    }

    /// Verifying key of the circuit whose proof carries the statement (what genesis pins and
    /// the compression circuit verifies).
    pub fn vk(&self) -> &VerifyingKey<G1Affine> {
        match self {
            Self::Flat(a) => a.vk(),
            Self::Tree(t) => t.root().vk(),
        }
    }

    /// Stable hash of [`Self::vk`].
    pub fn vk_hash(&self) -> B256 {
        vk_hash(self.vk())
    }

    /// Aggregates the epoch's block proofs (slot order) for `aggregator`.
    pub fn aggregate(&self, aggregator: &Address, snarks: Vec<Snark>) -> Result<Snark> {
        match self {
            Self::Flat(a) => a.aggregate(aggregator, snarks),
            Self::Tree(t) => t.aggregate(aggregator, snarks),
        }
    }

    /// The epoch snark of these keys from its wire bytes ([`encode_epoch_snark`]) and the
    /// statement the chain recorded: the input [`EpochCompressor::compress`] takes. Nothing is
    /// verified here.
    pub fn snark_from_bytes(&self, public: &EpochPublicInputs, bytes: &[u8]) -> Result<Snark> {
        epoch_snark_from_bytes(self.params(), self.vk(), public, bytes)
    }
}

/// The epoch snark of the aggregation circuit `(params, vk)` from its wire bytes and the
/// statement.
fn epoch_snark_from_bytes(
    params: &ParamsKZG<Bn256>,
    vk: &VerifyingKey<G1Affine>,
    public: &EpochPublicInputs,
    bytes: &[u8],
) -> Result<Snark> {
    let (mut instances, proof) = decode_epoch_snark(bytes).ok_or_else(|| {
        ProofError::Invalid("not an epoch proof: accumulator limbs, then the proof".into())
    })?;
    instances.extend([
        public.first_pre_root,
        public.last_post_root,
        public.epoch_commitment,
    ]);
    Ok(Snark::new(
        aggregation_protocol(params, vk),
        vec![instances],
        proof.to_vec(),
    ))
}

/// Keys of the epoch aggregation circuit (layer 1) for up to `capacity` block proofs of one
/// block circuit. Its proof uses a Poseidon transcript: it is the input of
/// [`EpochCompressor`], whose proof is the one L1 verifies.
pub struct EpochAggregator {
    capacity: usize,
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
            .field("capacity", &self.capacity)
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

/// The layer-1 circuit over `snarks` (already padded to the capacity), of which the first
/// `count` are real, aggregated by `aggregator`.
fn build(
    stage: CircuitBuilderStage,
    config: AggregationConfigParams,
    params: &ParamsKZG<Bn256>,
    snarks: Vec<Snark>,
    count: usize,
    aggregator: &Address,
) -> AggregationCircuit {
    let capacity = snarks.len();
    let mut agg = pinned_aggregation(stage, config, params, snarks);
    let blocks = agg.previous_instances().clone();
    let range = agg.builder.range_chip();
    let ctx = agg.builder.main(0);
    let (flags, aggregator) = assign_epoch_witness(ctx, capacity, count, aggregator);
    let out = epoch_constraints(ctx, range.gate(), &blocks, &flags, aggregator);
    agg.builder.assigned_instances[0].extend(out);
    agg
}

/// The layer-1 circuit keygen builds, per configuration: `capacity` dummy proofs of the
/// block vk, all counted real (keys do not depend on witness values).
fn layer1_for_keygen<'p>(
    params: &'p ParamsKZG<Bn256>,
    block_params: &ParamsKZG<Bn256>,
    block_vk: &VerifyingKey<G1Affine>,
    capacity: usize,
) -> impl Fn(AggregationConfigParams) -> AggregationCircuit + 'p {
    let dummy =
        gen_dummy_snark_from_vk::<SHPLONK>(block_params, block_vk, vec![BLOCK_NUM_INSTANCES], None);
    move |config| {
        build(
            CircuitBuilderStage::Keygen,
            config,
            params,
            vec![dummy.clone(); capacity],
            capacity,
            &Address::ZERO,
        )
    }
}

/// Keygen of an aggregation circuit built by `build` from dummy snarks.
fn keygen(
    params: &ParamsKZG<Bn256>,
    k: u32,
    pin: Option<AggregationConfigParams>,
    build: impl Fn(AggregationConfigParams) -> AggregationCircuit,
) -> Result<(
    AggregationConfigParams,
    ProvingKey<G1Affine>,
    MultiPhaseThreadBreakPoints,
)> {
    let (config, vk, circuit) = keygen_vk_of(params, k, pin, build)?;
    let pk = keygen_pk(params, vk, &circuit).map_err(|e| ProofError::Halo2(e.to_string()))?;
    Ok((config, pk, circuit.break_points()))
}

/// The verifying key alone (what a verifier needs: no proving key is made). The shape is the
/// one the circuit needs at degree `k`, or `pin` when given (refused if the circuit needs more).
fn keygen_vk_of(
    params: &ParamsKZG<Bn256>,
    k: u32,
    pin: Option<AggregationConfigParams>,
    build: impl Fn(AggregationConfigParams) -> AggregationCircuit,
) -> Result<(
    AggregationConfigParams,
    VerifyingKey<G1Affine>,
    AggregationCircuit,
)> {
    let config = AggregationConfigParams {
        degree: k,
        lookup_bits: k as usize - 1,
        ..Default::default()
    };
    let mut circuit = build(config);
    let needed = circuit.calculate_params(Some(20));
    let config = match pin {
        None => needed,
        Some(pin) => {
            if needed.num_advice > pin.num_advice
                || needed.num_lookup_advice > pin.num_lookup_advice
                || needed.num_fixed > pin.num_fixed
            {
                return Err(ProofError::CompressionTooSmall {
                    k,
                    needed: (
                        needed.num_advice,
                        needed.num_lookup_advice,
                        needed.num_fixed,
                    ),
                    pinned: (pin.num_advice, pin.num_lookup_advice, pin.num_fixed),
                });
            }
            circuit.set_params(pin);
            pin
        }
    };
    let vk = keygen_vk(params, &circuit).map_err(|e| ProofError::Halo2(e.to_string()))?;
    Ok((config, vk, circuit))
}

/// What verifying needs of an SRS: its degree, its first G1 point and the two G2 points. The
/// vk-only verifiers keep this instead of the whole setup (2^k points twice: 512 MiB at
/// k = 22), since every node holds them for as long as it runs.
fn verifier_params(params: &ParamsKZG<Bn256>) -> ParamsKZG<Bn256> {
    use halo2_base::halo2_proofs::poly::commitment::Params;
    params.from_parts(
        params.k(),
        vec![params.get_g()[0]],
        Some(Vec::new()),
        params.g2(),
        params.s_g2(),
    )
}

/// An aggregation verifying key reduced to what checking a proof needs: the SRS's three
/// points, the compiled protocol, the key's hash, and its bytes (for the cache file and the
/// Solidity verifier). A halo2 `VerifyingKey` also holds FFT tables for every size from 2^k to
/// its extended domain (gigabytes at k = 21 and 22), which a node would otherwise hold for as
/// long as it runs.
struct VkOnly {
    params: ParamsKZG<Bn256>,
    config: AggregationConfigParams,
    protocol: PlonkProtocol<G1Affine>,
    hash: B256,
    bytes: Vec<u8>,
}

impl VkOnly {
    fn new(
        params: &ParamsKZG<Bn256>,
        config: AggregationConfigParams,
        vk: &VerifyingKey<G1Affine>,
    ) -> Self {
        Self {
            params: verifier_params(params),
            config,
            protocol: aggregation_protocol(params, vk),
            hash: vk_hash(vk),
            bytes: vk.to_bytes(SerdeFormat::RawBytes),
        }
    }

    fn verify<TR>(&self, instances: &[Fr], transcript: &mut TR) -> Result<()>
    where
        TR: snark_verifier_sdk::snark_verifier::util::transcript::TranscriptRead<
                G1Affine,
                NativeLoader,
            >,
    {
        verify_with_protocol(&self.params, &self.protocol, instances, transcript)
    }

    /// The key itself, decoded again from its bytes (for the Solidity verifier only).
    fn vk(&self) -> VerifyingKey<G1Affine> {
        VerifyingKey::<G1Affine>::read::<_, AggregationCircuit>(
            &mut self.bytes.as_slice(),
            SerdeFormat::RawBytesUnchecked,
            self.config,
        )
        .expect("bytes this process wrote from a key decode")
    }
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
    verify_with_protocol(
        params,
        &aggregation_protocol(params, vk),
        instances,
        transcript,
    )
}

/// [`verify_aggregation`] with the protocol already compiled.
fn verify_with_protocol<TR>(
    params: &ParamsKZG<Bn256>,
    protocol: &PlonkProtocol<G1Affine>,
    instances: &[Fr],
    transcript: &mut TR,
) -> Result<()>
where
    TR: snark_verifier_sdk::snark_verifier::util::transcript::TranscriptRead<G1Affine, NativeLoader>,
{
    let dk = (params.get_g()[0], params.g2(), params.s_g2()).into();
    let instances = vec![instances.to_vec()];
    let inner = PlonkVerifier::<SHPLONK>::read_proof(&dk, protocol, &instances, transcript)
        .map_err(|e| ProofError::Invalid(format!("{e:?}")))?;
    PlonkVerifier::<SHPLONK>::verify(&dk, protocol, &instances, &inner)
        .map_err(|e| ProofError::Invalid(format!("{e:?}")))
}

impl EpochAggregator {
    /// Keygen for epochs of up to `capacity` block proofs made by `block`, at degree `k`.
    pub fn setup(block: &Halo2BlockProver, capacity: usize, k: u32) -> Result<Self> {
        if capacity == 0 {
            return Err(ProofError::Empty(
                "an epoch aggregates at least one block proof",
            ));
        }
        let params = load_srs(k)?;
        let block_params = block.params().clone();
        let (config, pk, break_points) = keygen(
            &params,
            k,
            None,
            layer1_for_keygen(&params, &block_params, block.vk(), capacity),
        )?;
        Ok(Self {
            capacity,
            params,
            block_params,
            block_vk: block.vk().clone(),
            block_vk_check: ProtocolCheck::block(block),
            config,
            pk,
            break_points,
        })
    }

    /// The keys for `capacity` proofs of `block`'s circuit at `k` whose verifying key hashes
    /// to `vk_hash` (the one genesis pins): read from the cache in `dir` when there
    /// ([`crate::keycache::epoch_pk_path`]), else made by [`Self::setup`] and, when they hash
    /// to `vk_hash`, written there, so a restarted worker is ready in seconds instead of
    /// minutes (DESIGN §4). A cache file that is damaged or holds other keys is
    /// [`ProofError::DamagedCache`], never used; keys that hash otherwise are returned
    /// uncached, for the caller to refuse.
    pub fn setup_cached(
        block: &Halo2BlockProver,
        capacity: usize,
        k: u32,
        vk_hash: B256,
        dir: &std::path::Path,
    ) -> Result<(Self, crate::keycache::KeySource)> {
        let path = crate::keycache::epoch_pk_path(dir, vk_hash);
        if path.exists() {
            return Ok((
                Self::read_cached(block, &path, capacity, k, vk_hash)?,
                crate::keycache::KeySource::Cache,
            ));
        }
        let a = Self::setup(block, capacity, k)?;
        if a.vk_hash() == vk_hash {
            a.write_cache(dir)?;
        }
        Ok((a, crate::keycache::KeySource::Keygen))
    }

    /// Writes these keys to the cache in `dir`: `PARLEY-EPK-1\n` ‖ keccak256(body) ‖ body,
    /// body = the epoch verifier file's head (capacity, degree, config) ‖ the flex gate's
    /// break points (as the block key cache writes them) ‖ the proving key (halo2 `RawBytes`).
    /// The file's path.
    pub fn write_cache(&self, dir: &std::path::Path) -> Result<std::path::PathBuf> {
        let path = crate::keycache::epoch_pk_path(dir, self.vk_hash());
        crate::keycache::write_checked(&path, EPOCH_PK_MAGIC, |w| {
            write_pk(w, self.capacity, &self.config, &self.break_points, &self.pk)
        })?;
        Ok(path)
    }

    fn read_cached(
        block: &Halo2BlockProver,
        path: &std::path::Path,
        capacity: usize,
        k: u32,
        pin: B256,
    ) -> Result<Self> {
        let mut r = crate::keycache::open_checked(path, EPOCH_PK_MAGIC)?;
        let (config, break_points, pk) = read_pk(&mut r, path, capacity, k)?;
        check_pinned(path, pk.get_vk(), pin)?;
        Ok(Self {
            capacity,
            params: load_srs(k)?,
            block_params: block.params().clone(),
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

    /// How many block proofs an epoch proof of these keys aggregates at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Aggregate the epoch's block proofs (slot order, `1..=capacity` of them) for
    /// `aggregator`. Refuses, before proving, a block proof made with another verifying key
    /// ([`ProofError::WrongVk`]) and a broken root chain (the circuit would not be satisfiable
    /// in either case: the block vk is a constant of it).
    pub fn aggregate(&self, aggregator: &Address, snarks: Vec<Snark>) -> Result<Snark> {
        self.check_count(snarks.len())?;
        for (i, snark) in snarks.iter().enumerate() {
            self.block_vk_check.check(i, snark)?;
        }
        check_block_chain(&snarks)?;
        self.aggregate_unchecked(aggregator, snarks)
    }

    fn check_count(&self, count: usize) -> Result<()> {
        if count == 0 {
            return Err(ProofError::Empty(
                "an epoch aggregates at least one block proof",
            ));
        }
        if count > self.capacity {
            return Err(ProofError::Invalid(format!(
                "aggregator built for at most {} blocks, got {count}",
                self.capacity
            )));
        }
        Ok(())
    }

    /// The layer-1 snark of this aggregator's circuit from its wire bytes
    /// ([`encode_epoch_snark`]) and the statement the chain recorded: the input
    /// [`EpochCompressor::compress`] takes. Nothing is verified here; the compressor's keys
    /// check the protocol and the compression proof fails for a wrong statement.
    pub fn snark_from_bytes(&self, public: &EpochPublicInputs, bytes: &[u8]) -> Result<Snark> {
        epoch_snark_from_bytes(&self.params, self.pk.get_vk(), public, bytes)
    }

    /// Aggregate without the native checks (tests: the circuit must refuse). Pads `snarks`
    /// to the capacity with copies of the last one, switched off by their flags.
    pub fn aggregate_unchecked(&self, aggregator: &Address, snarks: Vec<Snark>) -> Result<Snark> {
        let count = snarks.len();
        self.check_count(count)?;
        let (instances, proof) = prove_padded(
            &self.params,
            &self.pk,
            &self.break_points,
            self.capacity,
            snarks,
            |padded| {
                build(
                    CircuitBuilderStage::Prover,
                    self.config,
                    &self.params,
                    padded,
                    count,
                    aggregator,
                )
            },
        )?;
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

/// Natively, before minutes of proving: each block proof starts where the previous one ended
/// (`BrokenChain(i)` names the first pair that does not).
fn check_block_chain(snarks: &[Snark]) -> Result<()> {
    for (i, pair) in snarks.windows(2).enumerate() {
        if pair[0].instances[0][1] != pair[1].instances[0][0] {
            return Err(ProofError::BrokenChain(i));
        }
    }
    Ok(())
}

/// Pads `snarks` to `capacity` with copies of the last one (switched off by the circuit's
/// flags), builds the prover's circuit from them with `build`, and proves it with a Poseidon
/// transcript (for the layer above): the instances and the proof.
fn prove_padded(
    params: &ParamsKZG<Bn256>,
    pk: &ProvingKey<G1Affine>,
    break_points: &MultiPhaseThreadBreakPoints,
    capacity: usize,
    snarks: Vec<Snark>,
    build: impl FnOnce(Vec<Snark>) -> AggregationCircuit,
) -> Result<(Vec<Fr>, Vec<u8>)> {
    let last = snarks
        .last()
        .cloned()
        .ok_or(ProofError::Empty("an aggregation has at least one input"))?;
    let mut padded = snarks;
    padded.resize(capacity, last);
    let mut circuit = build(padded);
    circuit.set_break_points(break_points.clone());
    let instances = circuit.instances().pop().expect("one instance column");
    let proof = prove_poseidon(params, pk, circuit, &instances)?;
    Ok((instances, proof))
}

/// Bytes of a layer-1 epoch proof as the chain carries it (`Aggregate.proof`): the
/// [`ACC_LIMBS`] accumulator limbs (32-byte big-endian each), then the proof. The statement
/// (the last three instances) is not carried: every verifier computes it from the chain.
pub fn encode_epoch_snark(snark: &Snark) -> Result<Vec<u8>> {
    let instances = snark
        .instances
        .first()
        .filter(|i| i.len() == EPOCH_NUM_INSTANCES)
        .ok_or(ProofError::Empty(
            "an epoch snark has one column of 15 instances",
        ))?;
    let mut out = Vec::with_capacity(ACC_LIMBS * 32 + snark.proof.len());
    for x in &instances[..ACC_LIMBS] {
        out.extend_from_slice(&crate::encoding::fr_to_be_bytes(x));
    }
    out.extend_from_slice(&snark.proof);
    Ok(out)
}

/// Splits [`encode_epoch_snark`]'s bytes into the accumulator limbs and the proof; `None`
/// when too short or a limb is not a canonical field element.
pub fn decode_epoch_snark(bytes: &[u8]) -> Option<(Vec<Fr>, &[u8])> {
    if bytes.len() <= ACC_LIMBS * 32 {
        return None;
    }
    let (limbs, proof) = bytes.split_at(ACC_LIMBS * 32);
    let limbs = limbs
        .chunks_exact(32)
        .map(|c| crate::encoding::fr_from_be32(c.try_into().expect("chunks of 32")))
        .collect::<Option<Vec<_>>>()?;
    Some((limbs, proof))
}

/// Verification of layer-1 epoch proofs with the verifying key alone: what a node needs to
/// check an `Aggregate` (no proving key, which takes minutes and gigabytes to make).
pub struct EpochVerifier {
    capacity: usize,
    key: VkOnly,
}

const EPOCH_VK_MAGIC: &[u8] = b"PARLEY-EVK-1\n";
const EPOCH_PK_MAGIC: &[u8] = b"PARLEY-EPK-1\n";

/// Writes `capacity u64 ‖ degree u32 ‖ num_advice ‖ num_lookup_advice ‖ num_fixed ‖
/// lookup_bits (u64 each)`: the head of both epoch key cache files.
fn write_head(
    w: &mut dyn std::io::Write,
    capacity: usize,
    c: &AggregationConfigParams,
) -> std::io::Result<()> {
    w.write_all(&(capacity as u64).to_be_bytes())?;
    w.write_all(&c.degree.to_be_bytes())?;
    for n in [
        c.num_advice,
        c.num_lookup_advice,
        c.num_fixed,
        c.lookup_bits,
    ] {
        w.write_all(&(n as u64).to_be_bytes())?;
    }
    Ok(())
}

/// Reads [`write_head`]'s output and checks it is for `capacity` blocks at `k`.
fn read_head(
    r: &mut impl std::io::Read,
    path: &std::path::Path,
    capacity: usize,
    k: u32,
) -> Result<AggregationConfigParams> {
    use crate::keycache::{read_u32, read_u64};
    let damaged = |reason: String| ProofError::DamagedCache {
        path: path.to_path_buf(),
        reason,
    };
    let undecodable = |e: std::io::Error| damaged(format!("undecodable: {e}"));
    let file_capacity = read_u64(r).map_err(undecodable)?;
    let degree = read_u32(r).map_err(undecodable)?;
    if file_capacity != capacity as u64 || degree != k {
        return Err(damaged(format!(
            "holds the keys of {file_capacity} blocks at k = {degree}, expected {capacity} at k = {k}"
        )));
    }
    let mut n = [0usize; 4];
    for x in &mut n {
        // Column counts and lookup bits of a k ≤ 26 circuit: anything larger is damage.
        let v = read_u64(r).map_err(undecodable)?;
        *x = usize::try_from(v)
            .ok()
            .filter(|v| *v < 1 << 16)
            .ok_or_else(|| damaged(format!("implausible aggregation config value {v}")))?;
    }
    Ok(AggregationConfigParams {
        degree,
        num_advice: n[0],
        num_lookup_advice: n[1],
        num_fixed: n[2],
        lookup_bits: n[3],
    })
}

/// One aggregation circuit's proving keys as the key cache files hold them: [`write_head`]
/// (`capacity` blocks) ‖ the flex gate's break points (as the block key cache writes them) ‖
/// the proving key (halo2 `RawBytes`). The flat layer 1's, the compression's and each layer
/// of a tree's.
fn write_pk(
    w: &mut dyn std::io::Write,
    capacity: usize,
    config: &AggregationConfigParams,
    break_points: &MultiPhaseThreadBreakPoints,
    pk: &ProvingKey<G1Affine>,
) -> std::io::Result<()> {
    write_head(w, capacity, config)?;
    crate::keycache::write_break_points(w, break_points)?;
    let mut w = w;
    pk.write(&mut w, SerdeFormat::RawBytes)
}

/// Reads [`write_pk`]'s keys for `capacity` blocks at `k` from the file at `path` (for its
/// errors).
fn read_pk(
    r: &mut impl std::io::Read,
    path: &std::path::Path,
    capacity: usize,
    k: u32,
) -> Result<(
    AggregationConfigParams,
    MultiPhaseThreadBreakPoints,
    ProvingKey<G1Affine>,
)> {
    let undecodable = |e: std::io::Error| ProofError::DamagedCache {
        path: path.to_path_buf(),
        reason: format!("undecodable: {e}"),
    };
    let config = read_head(r, path, capacity, k)?;
    let break_points = crate::keycache::read_break_points(r).map_err(undecodable)?;
    // The checksum guarantees these are the bytes written from keys in memory.
    let pk = ProvingKey::<G1Affine>::read::<_, AggregationCircuit>(
        r,
        SerdeFormat::RawBytesUnchecked,
        config,
    )
    .map_err(undecodable)?;
    Ok((config, break_points, pk))
}

/// `Ok` when the keys read from `path` are the ones pinned: their verifying key hashes to `pin`.
fn check_pinned(path: &std::path::Path, vk: &VerifyingKey<G1Affine>, pin: B256) -> Result<()> {
    let found = vk_hash(vk);
    if found != pin {
        return Err(ProofError::DamagedCache {
            path: path.to_path_buf(),
            reason: format!("holds the keys of vk {found}, not {pin}"),
        });
    }
    Ok(())
}

/// Writes a verifying-key cache file: `magic` ‖ keccak256(body) ‖ body, body = [`write_head`]
/// ‖ the verifying key (halo2 `RawBytes`). The epoch and the compression verifiers share it.
fn write_vk_file(
    path: &std::path::Path,
    magic: &[u8],
    capacity: usize,
    config: &AggregationConfigParams,
    vk_bytes: &[u8],
) -> Result<()> {
    crate::keycache::write_checked(path, magic, |w| {
        write_head(w, capacity, config)?;
        w.write_all(vk_bytes)
    })
}

/// Reads [`write_vk_file`]'s file for `capacity` at `k` and checks that its key hashes to
/// `pin`; anything else is [`ProofError::DamagedCache`].
fn read_vk_file(
    path: &std::path::Path,
    magic: &[u8],
    capacity: usize,
    k: u32,
    pin: B256,
) -> Result<VkOnly> {
    let damaged = |reason: String| ProofError::DamagedCache {
        path: path.to_path_buf(),
        reason,
    };
    let mut r = crate::keycache::open_checked(path, magic)?;
    let config = read_head(&mut r, path, capacity, k)?;
    // The checksum guarantees these are the bytes written from a key in memory.
    let vk = VerifyingKey::<G1Affine>::read::<_, AggregationCircuit>(
        &mut r,
        SerdeFormat::RawBytesUnchecked,
        config,
    )
    .map_err(|e| damaged(format!("undecodable: {e}")))?;
    let key = VkOnly::new(&load_srs(k)?, config, &vk);
    if key.hash != pin {
        return Err(damaged(format!(
            "holds the verifier of vk {}, not {pin}",
            key.hash
        )));
    }
    Ok(key)
}

impl std::fmt::Debug for EpochVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochVerifier")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl EpochVerifier {
    /// The verifying key of the aggregation circuit for up to `capacity` proofs of `block`'s
    /// circuit at degree `k`: the same key [`EpochAggregator::setup`] makes.
    pub fn setup(block: &BlockVerifier, capacity: usize, k: u32) -> Result<Self> {
        Self::setup_shape(block, &EpochShape::Flat { capacity, k })
    }

    /// The verifying key of the circuit of `shape` over `block`'s circuit whose proof carries
    /// the statement (layer 1, or a tree's root): the same key [`EpochProver::setup`] makes.
    pub fn setup_shape(block: &BlockVerifier, shape: &EpochShape) -> Result<Self> {
        let capacity = shape.capacity();
        if capacity == 0 {
            return Err(ProofError::Empty(
                "an epoch aggregates at least one block proof",
            ));
        }
        let (params, config, vk) = match shape {
            EpochShape::Flat { k, .. } => {
                let params = load_srs(*k)?;
                let (config, vk, _) = keygen_vk_of(
                    &params,
                    *k,
                    None,
                    layer1_for_keygen(&params, block.params(), block.vk(), capacity),
                )?;
                (params, config, vk)
            }
            EpochShape::Tree(t) => tree::root_vk(block.params(), block.vk(), t)?,
        };
        Ok(Self {
            capacity,
            key: VkOnly::new(&params, config, &vk),
        })
    }

    /// The epoch verifier whose key hashes to `vk_hash` (the one genesis pins): read from the
    /// cache in `dir` when there ([`crate::keycache::epoch_vk_path`]), else made by
    /// [`Self::setup`] and, when it hashes to `vk_hash`, written there. A cache file that is
    /// damaged or holds another key is [`ProofError::DamagedCache`], never used.
    pub fn setup_cached(
        block: &BlockVerifier,
        shape: &EpochShape,
        vk_hash: B256,
        dir: &std::path::Path,
    ) -> Result<(Self, crate::keycache::KeySource)> {
        let path = crate::keycache::epoch_vk_path(dir, vk_hash);
        if path.exists() {
            return Ok((
                Self::read_cached(&path, shape.capacity(), shape.k(), vk_hash)?,
                crate::keycache::KeySource::Cache,
            ));
        }
        let v = Self::setup_shape(block, shape)?;
        if v.vk_hash() == vk_hash {
            v.write_cache(dir)?;
        }
        Ok((v, crate::keycache::KeySource::Keygen))
    }

    /// Writes this verifier's key to the cache in `dir`; the file's path.
    pub fn write_cache(&self, dir: &std::path::Path) -> Result<std::path::PathBuf> {
        let path = crate::keycache::epoch_vk_path(dir, self.vk_hash());
        write_vk_file(
            &path,
            EPOCH_VK_MAGIC,
            self.capacity,
            &self.key.config,
            &self.key.bytes,
        )?;
        Ok(path)
    }

    fn read_cached(path: &std::path::Path, capacity: usize, k: u32, pin: B256) -> Result<Self> {
        Ok(Self {
            capacity,
            key: read_vk_file(path, EPOCH_VK_MAGIC, capacity, k, pin)?,
        })
    }

    /// Block proofs per epoch proof, at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Stable hash of the aggregation vk (what genesis pins).
    pub fn vk_hash(&self) -> B256 {
        self.key.hash
    }

    /// Checks `bytes` ([`encode_epoch_snark`]) against the statement the caller computed
    /// itself: the proof and the pairing on the accumulator it carries. Bytes from the network
    /// are anyone's: whatever they hold gives `Err(ProofError::Invalid)`, never a panic.
    pub fn verify(&self, public: &EpochPublicInputs, bytes: &[u8]) -> Result<()> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.verify_unguarded(public, bytes)
        }))
        .unwrap_or_else(|_| {
            Err(ProofError::Invalid(
                "the verifier panicked on these bytes".into(),
            ))
        })
    }

    fn verify_unguarded(&self, public: &EpochPublicInputs, bytes: &[u8]) -> Result<()> {
        let (mut instances, proof) = decode_epoch_snark(bytes).ok_or_else(|| {
            ProofError::Invalid("not an epoch proof: accumulator limbs, then the proof".into())
        })?;
        instances.extend([
            public.first_pre_root,
            public.last_post_root,
            public.epoch_commitment,
        ]);
        let mut transcript =
            PoseidonTranscript::<NativeLoader, &[u8]>::from_spec(proof, POSEIDON_SPEC.clone());
        self.key.verify(&instances, &mut transcript)
    }
}

/// The compression layer (ADR 0010): one aggregation circuit over exactly one layer-1 epoch
/// snark, whose keccak-transcript proof L1 verifies. It always verifies one aggregation proof,
/// in the shape pinned for its degree ([`compression_shape`], ADR 0019), so its verifier, and
/// L1's gas (381k at k = 22), are the same whatever the epoch (docs/proofs.md).
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
        Self::setup_for(inner.params(), inner.vk(), k)
    }

    /// Keygen of the compression circuit for the epoch snarks of the aggregation circuit with
    /// these parameters and verifying key (a layer-1 aggregator's, or an aggregation tree's
    /// root, [`tree::RootAggregator`]), at degree `k`.
    pub fn setup_for(
        inner_params: &ParamsKZG<Bn256>,
        inner_vk: &VerifyingKey<G1Affine>,
        k: u32,
    ) -> Result<Self> {
        let params = load_srs(k)?;
        let dummy = gen_dummy_snark_from_vk::<SHPLONK>(
            inner_params,
            inner_vk,
            vec![EPOCH_NUM_INSTANCES],
            AggregationCircuit::accumulator_indices(),
        );
        let (config, pk, break_points) =
            keygen(&params, k, Some(compression_shape(k)), |config| {
                build_compression(CircuitBuilderStage::Keygen, config, &params, dummy.clone())
            })?;
        Ok(Self {
            params,
            inner_check: ProtocolCheck::aggregation(inner_params, inner_vk),
            config,
            pk,
            break_points,
        })
    }

    /// The compression keys over the epoch snarks of `(inner_params, inner_vk)` at `k` whose
    /// verifying key hashes to `vk_hash` (the one genesis pins): read from the cache in `dir`
    /// when there ([`crate::keycache::l1_pk_path`]), else made by [`Self::setup_for`] and,
    /// when they hash to `vk_hash`, written there. A damaged file, or one holding other keys,
    /// is [`ProofError::DamagedCache`], never used.
    pub fn setup_cached(
        inner_params: &ParamsKZG<Bn256>,
        inner_vk: &VerifyingKey<G1Affine>,
        k: u32,
        vk_hash: B256,
        dir: &std::path::Path,
    ) -> Result<(Self, crate::keycache::KeySource)> {
        let path = crate::keycache::l1_pk_path(dir, vk_hash);
        if path.exists() {
            let mut r = crate::keycache::open_checked(&path, L1_PK_MAGIC)?;
            let (config, break_points, pk) = read_pk(&mut r, &path, 1, k)?;
            check_pinned(&path, pk.get_vk(), vk_hash)?;
            return Ok((
                Self {
                    params: load_srs(k)?,
                    inner_check: ProtocolCheck::aggregation(inner_params, inner_vk),
                    config,
                    pk,
                    break_points,
                },
                crate::keycache::KeySource::Cache,
            ));
        }
        let c = Self::setup_for(inner_params, inner_vk, k)?;
        if c.vk_hash() == vk_hash {
            c.write_cache(dir)?;
        }
        Ok((c, crate::keycache::KeySource::Keygen))
    }

    /// Writes these keys to the cache in `dir` (the flat layer 1's layout, capacity 1, under
    /// `PARLEY-L1PK-1\n`); the file's path.
    pub fn write_cache(&self, dir: &std::path::Path) -> Result<std::path::PathBuf> {
        let path = crate::keycache::l1_pk_path(dir, self.vk_hash());
        crate::keycache::write_checked(&path, L1_PK_MAGIC, |w| {
            write_pk(w, 1, &self.config, &self.break_points, &self.pk)
        })?;
        Ok(path)
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

/// Verification of the compression proof (the one L1 verifies) with its verifying key alone:
/// what a node needs to check an `EpochProof` message before the chain stores it for the
/// relayers. It checks exactly what the generated EVM verifier checks (the proof over the keccak
/// transcript and the pairing on the accumulator it carries), natively.
pub struct CompressionVerifier {
    key: VkOnly,
}

const L1_VK_MAGIC: &[u8] = b"PARLEY-L1VK-1\n";
const L1_PK_MAGIC: &[u8] = b"PARLEY-L1PK-1\n";

impl std::fmt::Debug for CompressionVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompressionVerifier")
            .field("config", &self.key.config)
            .finish_non_exhaustive()
    }
}

impl CompressionVerifier {
    /// The verifying key of the compression circuit over `inner`'s epoch snarks at degree
    /// `k`: the same key [`EpochCompressor::setup`] makes from the matching aggregator.
    pub fn setup(inner: &EpochVerifier, k: u32) -> Result<Self> {
        let params = load_srs(k)?;
        let dummy = gen_dummy_snark_from_protocol::<SHPLONK>(inner.key.protocol.clone());
        let (config, vk, _) = keygen_vk_of(&params, k, Some(compression_shape(k)), |config| {
            build_compression(CircuitBuilderStage::Keygen, config, &params, dummy.clone())
        })?;
        Ok(Self {
            key: VkOnly::new(&params, config, &vk),
        })
    }

    /// The verifier whose key hashes to `vk_hash` (the one genesis pins): read from the cache
    /// in `dir` when there ([`crate::keycache::l1_vk_path`]), else made by [`Self::setup`] and,
    /// when it hashes to `vk_hash`, written there. A damaged file or one holding another key
    /// is [`ProofError::DamagedCache`], never used.
    pub fn setup_cached(
        inner: &EpochVerifier,
        k: u32,
        vk_hash: B256,
        dir: &std::path::Path,
    ) -> Result<(Self, crate::keycache::KeySource)> {
        let path = crate::keycache::l1_vk_path(dir, vk_hash);
        if path.exists() {
            return Ok((
                Self::read_cached(&path, k, vk_hash)?,
                crate::keycache::KeySource::Cache,
            ));
        }
        let v = Self::setup(inner, k)?;
        if v.vk_hash() == vk_hash {
            v.write_cache(dir)?;
        }
        Ok((v, crate::keycache::KeySource::Keygen))
    }

    /// Writes this verifier's key to the cache in `dir`; the file's path.
    pub fn write_cache(&self, dir: &std::path::Path) -> Result<std::path::PathBuf> {
        let path = crate::keycache::l1_vk_path(dir, self.vk_hash());
        // The compression layer always verifies exactly one layer-1 snark.
        write_vk_file(&path, L1_VK_MAGIC, 1, &self.key.config, &self.key.bytes)?;
        Ok(path)
    }

    fn read_cached(path: &std::path::Path, k: u32, pin: B256) -> Result<Self> {
        Ok(Self {
            key: read_vk_file(path, L1_VK_MAGIC, 1, k, pin)?,
        })
    }

    /// Circuit configuration (degree, columns).
    pub fn config(&self) -> AggregationConfigParams {
        self.key.config
    }

    /// Stable hash of the compression vk (what genesis pins).
    pub fn vk_hash(&self) -> B256 {
        self.key.hash
    }

    /// Checks `bytes` ([`EpochProof::to_bytes`]: accumulator limbs, then the proof) against the
    /// statement the caller computed itself. Bytes from the network are anyone's: whatever they
    /// hold gives `Err(ProofError::Invalid)`, never a panic.
    pub fn verify(&self, public: &EpochPublicInputs, bytes: &[u8]) -> Result<()> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let (mut instances, proof) = decode_epoch_snark(bytes).ok_or_else(|| {
                ProofError::Invalid("not an epoch proof: accumulator limbs, then the proof".into())
            })?;
            instances.extend([
                public.first_pre_root,
                public.last_post_root,
                public.epoch_commitment,
            ]);
            let mut transcript =
                EvmTranscript::<G1Affine, NativeLoader, &[u8], Vec<u8>>::new(proof);
            self.key.verify(&instances, &mut transcript)
        }))
        .unwrap_or_else(|_| {
            Err(ProofError::Invalid(
                "the verifier panicked on these bytes".into(),
            ))
        })
    }

    /// Solidity source of the EVM verifier (pragma 0.8.19): the same contract
    /// [`EpochCompressor::solidity_verifier`] writes, made from the verifying key alone.
    pub fn solidity_verifier(&self) -> String {
        gen_evm_verifier_sol_code::<AggregationCircuit, SHPLONK>(
            &self.key.params,
            &self.key.vk(),
            vec![EPOCH_NUM_INSTANCES],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use halo2_base::{gates::circuit::builder::BaseCircuitBuilder, halo2_proofs::dev::MockProver};

    /// The epoch constraints alone (without the snark verifier around them) on MockProver, for
    /// inputs `blocks` with the given flag values and aggregator: whether `claimed` is
    /// accepted as `[first_pre_root, last_post_root, epoch_commitment]`. The flags go in as
    /// raw field elements, past the typed API, as a dishonest prover could assign them.
    fn check(blocks: &[[Fr; 3]], flags: &[Fr], aggregator: &Address, claimed: [Fr; 3]) -> bool {
        let mut b = BaseCircuitBuilder::<Fr>::new(false)
            .use_k(10)
            .use_lookup_bits(8)
            .use_instance_columns(1);
        let range = b.range_chip();
        let ctx = b.main(0);
        let assigned: Vec<Vec<_>> = blocks.iter().map(|x| ctx.assign_witnesses(*x)).collect();
        let flags = ctx.assign_witnesses(flags.iter().copied());
        let aggregator = ctx.load_witness(fr_address(aggregator));
        let out = epoch_constraints(ctx, range.gate(), &assigned, &flags, aggregator);
        b.assigned_instances = vec![out.to_vec()];
        b.calculate_params(Some(10));
        MockProver::run(10, &b, vec![claimed.to_vec()])
            .expect("mock runs")
            .verify()
            .is_ok()
    }

    fn bits(v: &[u64]) -> Vec<Fr> {
        v.iter().map(|x| Fr::from(*x)).collect()
    }

    const A: Address = Address::repeat_byte(0xa1);
    const B: Address = Address::repeat_byte(0xb2);

    #[test]
    fn a_full_epoch_chains_and_commits_to_its_blocks_and_aggregator() {
        let r = |i: u64| Fr::from(1000 + i);
        let pis = [Fr::from(7), Fr::from(8), Fr::from(9)];
        let good = [
            [r(0), r(1), pis[0]],
            [r(1), r(2), pis[1]],
            [r(2), r(3), pis[2]],
        ];
        let all = bits(&[1, 1, 1]);
        let commitment = |a: &Address, p: &[Fr]| epoch_commitment(a, 3, p).expect("1..=3 blocks");
        let claimed = [r(0), r(3), commitment(&A, &pis)];
        assert!(check(&good, &all, &A, claimed));
        // block 1's post_root != block 2's pre_root
        let mut broken = good;
        broken[2][0] = r(5);
        assert!(!check(&broken, &all, &A, claimed));
        // wrong commitment (order of blocks swapped)
        let swapped = [r(0), r(3), commitment(&A, &[pis[1], pis[0], pis[2]])];
        assert!(!check(&good, &all, &A, swapped));
        // wrong end root
        assert!(!check(&good, &all, &A, [r(0), r(2), commitment(&A, &pis)]));
        // another aggregator: the statement the chain computes for a copier is not proven
        assert!(!check(&good, &all, &B, claimed));
        assert_ne!(commitment(&A, &pis), commitment(&B, &pis));
    }

    #[test]
    fn padding_is_switched_off_and_cannot_be_forged_by_flags() {
        let r = |i: u64| Fr::from(1000 + i);
        let pis = [Fr::from(7), Fr::from(8)];
        // Two real blocks and one padding input (a copy of the last real one, as
        // `aggregate` pads): the padding neither chains nor enters the commitment.
        let padded = [
            [r(0), r(1), pis[0]],
            [r(1), r(2), pis[1]],
            [r(1), r(2), pis[1]],
        ];
        let two = epoch_commitment(&A, 3, &pis).expect("2 of 3");
        assert!(check(&padded, &bits(&[1, 1, 0]), &A, [r(0), r(2), two]));
        // the commitment binds the count: claiming the padding as a third block fails
        let three = epoch_commitment(&A, 3, &[pis[0], pis[1], pis[1]]).expect("3 of 3");
        assert!(!check(&padded, &bits(&[1, 1, 0]), &A, [r(0), r(2), three]));
        // ... and as real, the copy does not chain (its pre_root is block 1's)
        assert!(!check(&padded, &bits(&[1, 1, 1]), &A, [r(0), r(2), three]));
        // a wrong last_post_root: the padding's post_root is not the epoch's end unless it
        // equals the last real block's
        assert!(!check(&padded, &bits(&[1, 1, 0]), &A, [r(0), r(1), two]));
    }

    /// The outputs the constraints compute from raw flag values, whatever they are: a claim
    /// built this way isolates the flag checks (without them it would be accepted).
    fn computed(blocks: &[[Fr; 3]], flags: &[Fr], aggregator: &Address) -> [Fr; 3] {
        let mut last = Fr::zero();
        for (i, b) in blocks.iter().enumerate() {
            let next = flags.get(i + 1).copied().unwrap_or(Fr::zero());
            last += (flags[i] - next) * b[1];
        }
        let count: Fr = flags.iter().copied().sum();
        let mut v = vec![epoch_domain(), count, fr_address(aggregator)];
        v.extend(blocks.iter().zip(flags).map(|(b, f)| b[2] * f));
        [blocks[0][0], last, crate::poseidon::hash(&v)]
    }

    #[test]
    fn flags_must_be_bits_that_start_at_one_and_never_rise() {
        let r = |i: u64| Fr::from(1000 + i);
        // Block 1 is not part of the chain from block 0, but block 2 chains from it.
        let blocks = [
            [r(0), r(1), Fr::from(7)],
            [r(5), r(6), Fr::from(8)],
            [r(6), r(7), Fr::from(9)],
        ];
        // the helper agrees with the circuit on honest flags
        let honest = bits(&[1, 0, 0]);
        assert!(check(&blocks, &honest, &A, computed(&blocks, &honest, &A)));
        assert_eq!(
            computed(&blocks, &honest, &A)[2],
            epoch_commitment(&A, 3, &[Fr::from(7)]).expect("1 of 3")
        );
        // a real block after padding (skipping block 1's broken link)
        let rising = bits(&[1, 0, 1]);
        assert!(!check(&blocks, &rising, &A, computed(&blocks, &rising, &A)));
        // no real block at all (0, 0, 0 are bits and never rise)
        let none = bits(&[0, 0, 0]);
        assert!(!check(&blocks, &none, &A, computed(&blocks, &none, &A)));
        // a non-bit: 2 on block 1 of a chain passes the monotone check (f_2 = 0) and the
        // chain check (block 1 does chain), and would claim 3 blocks ending at 2·r2 − r1
        let chained = [
            [r(0), r(1), Fr::from(7)],
            [r(1), r(2), Fr::from(8)],
            [r(2), r(3), Fr::from(9)],
        ];
        let two = [Fr::one(), Fr::from(2), Fr::zero()];
        assert!(!check(&chained, &two, &A, computed(&chained, &two, &A)));
    }

    #[test]
    fn layer1_degree_rises_once_per_doubling_past_two() {
        let k: Vec<u32> = [1, 2, 3, 4, 5, 8, 9, 16, 64]
            .iter()
            .map(|&c| layer1_degree(c))
            .collect();
        assert_eq!(k, [20, 20, 21, 21, 22, 22, 23, 23, 25]);
    }

    #[test]
    fn compression_shape_depends_on_the_degree_alone() {
        let cols = |k| {
            let s = compression_shape(k);
            (
                s.degree,
                s.num_advice,
                s.num_lookup_advice,
                s.num_fixed,
                s.lookup_bits,
            )
        };
        // k = 22: the 2 advice and 1 lookup column a 2-proof layer 1 needs (bench agg 2)
        assert_eq!(cols(22), (22, 2, 1, 1, 21));
        assert_eq!(cols(21), (21, 4, 1, 1, 20));
        assert_eq!(cols(20), (20, 8, 2, 1, 19));
        assert_eq!(cols(24), (24, 1, 1, 1, 23));
    }

    #[test]
    fn the_native_commitment_refuses_no_blocks_and_too_many() {
        assert!(epoch_commitment(&A, 2, &[]).is_none());
        assert!(epoch_commitment(&A, 2, &[Fr::one(); 3]).is_none());
        // zero padding is part of the hash: the same blocks under another capacity differ
        assert_ne!(
            epoch_commitment(&A, 2, &[Fr::one()]),
            epoch_commitment(&A, 3, &[Fr::one()])
        );
    }
}
