//! An aggregation tree, for epochs whose block proofs one layer-1 circuit cannot aggregate
//! within the machine's memory (a flat layer 1 of 8 proofs runs at k = 22, which does not fit
//! 24 GiB; docs/proofs.md).
//!
//! - A **leaf** ([`LeafAggregator`]) aggregates a run of up to `c` block proofs with the same
//!   chain constraints as a flat layer 1 (flags that start at 1 and never rise again, each real
//!   block starting at the previous one's post root), and exposes, instead of a commitment,
//!   what the root needs to compute one: `[accumulator (12), first_pre_root, last_post_root,
//!   count, f_1·pi_hash_1, …, f_c·pi_hash_c]`.
//! - The **root** ([`RootAggregator`]) aggregates up to `m` leaf proofs (their accumulators
//!   folded into its own) and constrains: leaf flags that start at 1 and never rise again;
//!   each real leaf starting at the previous one's post root; a leaf followed by a real leaf
//!   is full (`count = c`), so the real blocks are one contiguous run; and
//!   `epoch_commitment = Poseidon(EPOCH_DOMAIN, Σ g_i·count_i, aggregator, g_i·pi_{i,j}…)`.
//!   That is [`super::epoch_commitment`] of the same blocks at capacity `m·c`, bit for bit:
//!   the root's 15 instances are a flat layer 1's, so the compression circuit, the L1
//!   verifier, and what nodes and the Rollup check do not change.
//!
//! Both vks are constants of the circuit above them (`VerifierUniversality::None`), as in the
//! flat layers. [`TreeAggregator`] proves an epoch through both (the worker, through
//! [`super::EpochProver`]); a node checks the root's proof with [`super::EpochVerifier`], made
//! from the verifying keys alone ([`root_vk`]), exactly as it checks a flat layer 1's.

use super::{
    ACC_LIMBS, AggregationCircuit, AggregationConfigParams, AssignedValue, Bn256,
    CircuitBuilderStage, CircuitExt, Context, EPOCH_NUM_INSTANCES, EpochPublicInputs, Fr, G1Affine,
    GateInstructions, MultiPhaseThreadBreakPoints, ParamsKZG, ProofError, ProtocolCheck,
    ProvingKey, QuantumCell, RangeInstructions, Result, SHPLONK, Snark, VerifyingKey,
    aggregation_protocol, assign_epoch_witness, chain_constraints, check_block_chain, check_pinned,
    commitment_constraint, flags_of, keygen, keygen_vk_of, pinned_aggregation, prove_padded,
    read_pk, write_pk,
};
use crate::{
    circuit::BLOCK_NUM_INSTANCES,
    params::load_srs,
    prover::{Halo2BlockProver, vk_hash},
};
use alloy_primitives::{Address, B256};
use snark_verifier_sdk::{
    halo2::gen_dummy_snark_from_vk,
    snark_verifier::{
        system::halo2::{Config, compile},
        verifier::plonk::PlonkProtocol,
    },
};

/// Instances of a leaf proof of capacity `c`: the accumulator, `first_pre_root`,
/// `last_post_root`, `count`, and the `c` masked `pi_hash`es.
pub const fn leaf_num_instances(c: usize) -> usize {
    ACC_LIMBS + 3 + c
}

/// The snark-verifier protocol of a leaf vk of capacity `c`.
fn leaf_protocol(
    params: &ParamsKZG<Bn256>,
    vk: &VerifyingKey<G1Affine>,
    c: usize,
) -> PlonkProtocol<G1Affine> {
    compile(
        params,
        vk,
        Config::kzg()
            .with_num_instance(vec![leaf_num_instances(c)])
            .with_accumulator_indices(AggregationCircuit::accumulator_indices()),
    )
}

/// The keys of one layer of the tree, and what proving with them needs.
struct Keys {
    params: ParamsKZG<Bn256>,
    config: AggregationConfigParams,
    pk: ProvingKey<G1Affine>,
    break_points: MultiPhaseThreadBreakPoints,
}

impl Keys {
    /// Keygen at degree `k` of the circuit `build` makes (from dummy inputs) for a config.
    fn setup(
        k: u32,
        build: impl Fn(&ParamsKZG<Bn256>, AggregationConfigParams) -> AggregationCircuit,
    ) -> Result<Self> {
        let params = load_srs(k)?;
        let (config, pk, break_points) = keygen(&params, k, None, |config| build(&params, config))?;
        Ok(Self {
            params,
            config,
            pk,
            break_points,
        })
    }

    /// Proves the circuit `build` makes from `snarks` padded to `capacity`.
    fn prove(
        &self,
        capacity: usize,
        snarks: Vec<Snark>,
        build: impl FnOnce(&ParamsKZG<Bn256>, AggregationConfigParams, Vec<Snark>) -> AggregationCircuit,
    ) -> Result<(Vec<Fr>, Vec<u8>)> {
        prove_padded(
            &self.params,
            &self.pk,
            &self.break_points,
            capacity,
            snarks,
            |padded| build(&self.params, self.config, padded),
        )
    }

    fn vk(&self) -> &VerifyingKey<G1Affine> {
        self.pk.get_vk()
    }

    /// This layer in a tree key cache file ([`write_pk`]).
    fn write_to(&self, w: &mut dyn std::io::Write, capacity: usize) -> std::io::Result<()> {
        write_pk(w, capacity, &self.config, &self.break_points, &self.pk)
    }

    /// Reads [`Keys::write_to`]'s layer for `capacity` blocks at `k`.
    fn read_from(
        r: &mut impl std::io::Read,
        path: &std::path::Path,
        capacity: usize,
        k: u32,
    ) -> Result<Self> {
        let (config, break_points, pk) = read_pk(r, path, capacity, k)?;
        Ok(Self {
            params: load_srs(k)?,
            config,
            pk,
            break_points,
        })
    }
}

const TREE_PK_MAGIC: &[u8] = b"PARLEY-ETK-1\n";

/// Keys of a leaf: up to `capacity` block proofs of one block circuit.
pub struct LeafAggregator {
    capacity: usize,
    block_check: ProtocolCheck,
    keys: Keys,
}

/// The leaf's constraints over its inputs' `[pre, post, pi_hash]` with one flag per input:
/// [`chain_constraints`], then `[first_pre_root, last_post_root, count, f_i·pi_hash_i…]`.
pub(crate) fn leaf_constraints(
    ctx: &mut Context<Fr>,
    gate: &impl GateInstructions<Fr>,
    blocks: &[Vec<AssignedValue<Fr>>],
    flags: &[AssignedValue<Fr>],
) -> Vec<AssignedValue<Fr>> {
    let chain = chain_constraints(ctx, gate, blocks, flags);
    let mut out = vec![chain.first_pre, chain.last_post, chain.count];
    for (b, f) in blocks.iter().zip(flags) {
        out.push(gate.mul(ctx, b[2], *f));
    }
    out
}

fn build_leaf(
    stage: CircuitBuilderStage,
    config: AggregationConfigParams,
    params: &ParamsKZG<Bn256>,
    snarks: Vec<Snark>,
    count: usize,
) -> AggregationCircuit {
    let capacity = snarks.len();
    let mut agg = pinned_aggregation(stage, config, params, snarks);
    let blocks = agg.previous_instances().clone();
    let range = agg.builder.range_chip();
    let ctx = agg.builder.main(0);
    let flags = ctx.assign_witnesses(flags_of(capacity, count));
    let out = leaf_constraints(ctx, range.gate(), &blocks, &flags);
    agg.builder.assigned_instances[0].extend(out);
    agg
}

/// The leaf circuit keygen builds, per configuration: `capacity` dummy proofs of the block
/// vk, all counted real (keys do not depend on witness values).
fn leaf_for_keygen(
    block_params: &ParamsKZG<Bn256>,
    block_vk: &VerifyingKey<G1Affine>,
    capacity: usize,
) -> impl Fn(&ParamsKZG<Bn256>, AggregationConfigParams) -> AggregationCircuit {
    let dummy =
        gen_dummy_snark_from_vk::<SHPLONK>(block_params, block_vk, vec![BLOCK_NUM_INSTANCES], None);
    move |params, config| {
        let inputs = vec![dummy.clone(); capacity];
        build_leaf(
            CircuitBuilderStage::Keygen,
            config,
            params,
            inputs,
            capacity,
        )
    }
}

/// The root circuit keygen builds, per configuration: `children` dummy proofs of `child`,
/// all counted real.
fn root_for_keygen(
    child: Child<'_>,
    children: usize,
) -> impl Fn(&ParamsKZG<Bn256>, AggregationConfigParams) -> AggregationCircuit {
    let dummy = child.dummy();
    let c = child.capacity;
    move |params, config| {
        let inputs = vec![dummy.clone(); children];
        let stage = CircuitBuilderStage::Keygen;
        build_root(stage, config, params, inputs, children, &Address::ZERO, c)
    }
}

/// The root's verifying key (with its SRS and shape) for a tree of `shape` over the block
/// circuit `(block_params, block_vk)`, made from verifying keys alone, layer by layer (no
/// proving key: what a node needs). The same key [`TreeAggregator::setup`] makes.
pub(crate) fn root_vk(
    block_params: &ParamsKZG<Bn256>,
    block_vk: &VerifyingKey<G1Affine>,
    shape: &TreeShape,
) -> Result<(
    ParamsKZG<Bn256>,
    AggregationConfigParams,
    VerifyingKey<G1Affine>,
)> {
    shape.check()?;
    let vk_of =
        |k: u32,
         build: &dyn Fn(&ParamsKZG<Bn256>, AggregationConfigParams) -> AggregationCircuit| {
            let params = load_srs(k)?;
            let (config, vk, _) = keygen_vk_of(&params, k, None, |config| build(&params, config))?;
            Ok::<_, ProofError>((params, config, vk))
        };
    let (leaf_params, _, leaf_vk) = vk_of(
        shape.leaf_k,
        &leaf_for_keygen(block_params, block_vk, shape.leaf_capacity),
    )?;
    let mut child = (leaf_params, leaf_vk, shape.leaf_capacity);
    if let Some(m) = shape.middle {
        let below = Child {
            params: &child.0,
            vk: &child.1,
            capacity: child.2,
        };
        let (params, _, vk) = vk_of(m.k, &middle_for_keygen(below, m.leaves))?;
        child = (params, vk, m.leaves * shape.leaf_capacity);
    }
    let below = Child {
        params: &child.0,
        vk: &child.1,
        capacity: child.2,
    };
    vk_of(shape.k, &root_for_keygen(below, shape.children))
}

impl LeafAggregator {
    /// Keygen for leaves of up to `capacity` proofs of `block`'s circuit, at degree `k`.
    pub fn setup(block: &Halo2BlockProver, capacity: usize, k: u32) -> Result<Self> {
        if capacity == 0 {
            return Err(ProofError::Empty(
                "a leaf aggregates at least one block proof",
            ));
        }
        let keys = Keys::setup(k, leaf_for_keygen(block.params(), block.vk(), capacity))?;
        Ok(Self {
            capacity,
            block_check: ProtocolCheck::block(block),
            keys,
        })
    }

    /// Circuit configuration (degree, columns).
    pub fn config(&self) -> AggregationConfigParams {
        self.keys.config
    }

    /// Stable hash of the leaf vk.
    pub fn vk_hash(&self) -> B256 {
        vk_hash(self.keys.vk())
    }

    /// What the layer above needs of this one.
    pub fn as_child(&self) -> Child<'_> {
        Child {
            params: &self.keys.params,
            vk: self.keys.vk(),
            capacity: self.capacity,
        }
    }

    /// Aggregates a run of `1..=capacity` consecutive block proofs (slot order). Refuses,
    /// before proving, a proof of another block circuit and a broken root chain.
    pub fn aggregate(&self, snarks: Vec<Snark>) -> Result<Snark> {
        let count = snarks.len();
        if count == 0 || count > self.capacity {
            return Err(ProofError::Invalid(format!(
                "a leaf of capacity {} aggregates 1..={} block proofs, got {count}",
                self.capacity, self.capacity
            )));
        }
        for (i, snark) in snarks.iter().enumerate() {
            self.block_check.check(i, snark)?;
        }
        check_block_chain(&snarks)?;
        let (instances, proof) =
            self.keys
                .prove(self.capacity, snarks, |params, config, padded| {
                    build_leaf(CircuitBuilderStage::Prover, config, params, padded, count)
                })?;
        Ok(Snark::new(
            leaf_protocol(&self.keys.params, self.keys.vk(), self.capacity),
            vec![instances],
            proof,
        ))
    }
}

/// Keys of the root: up to `children` proofs of the layer below (leaves, or middle nodes),
/// for epochs of up to `children × child capacity` blocks. Its proofs carry the flat layer 1's
/// statement.
pub struct RootAggregator {
    children: usize,
    child_capacity: usize,
    child_check: ProtocolCheck,
    keys: Keys,
}

/// What a middle node and the root both constrain of their children's statements
/// `[first_pre_root, last_post_root, count, pi_hash_1, …, pi_hash_c]` (accumulators left out)
/// with one flag per child: [`chain_constraints`] over the children, and that a child followed
/// by a real child is full (`count = c`), so that the real blocks are one run and their
/// `pi_hash`es sit where the flat commitment has them. Returns the chain, the blocks' total
/// count, and each child's `pi_hash`es with its flag beside each.
struct Joined {
    first_pre: AssignedValue<Fr>,
    last_post: AssignedValue<Fr>,
    total: AssignedValue<Fr>,
    pi_hashes: Vec<AssignedValue<Fr>>,
    pi_flags: Vec<AssignedValue<Fr>>,
}

fn join_constraints(
    ctx: &mut Context<Fr>,
    gate: &impl GateInstructions<Fr>,
    children: &[Vec<AssignedValue<Fr>>],
    flags: &[AssignedValue<Fr>],
    c: usize,
) -> Joined {
    let chain = chain_constraints(ctx, gate, children, flags);
    // g_{i+1}·(count_i − c) = 0.
    let full = Fr::from(c as u64);
    for i in 0..children.len() - 1 {
        let short = gate.sub(ctx, children[i][2], QuantumCell::Constant(full));
        let short = gate.mul(ctx, short, flags[i + 1]);
        gate.assert_is_const(ctx, &short, &Fr::zero());
    }
    let counts: Vec<_> = children.iter().map(|l| l[2]).collect();
    let total = gate.inner_product(ctx, counts, flags.iter().copied().map(QuantumCell::from));
    let mut pi_hashes = Vec::with_capacity(children.len() * c);
    let mut pi_flags = Vec::with_capacity(children.len() * c);
    for (l, g) in children.iter().zip(flags) {
        for j in 0..c {
            pi_hashes.push(l[3 + j]);
            pi_flags.push(*g);
        }
    }
    Joined {
        first_pre: chain.first_pre,
        last_post: chain.last_post,
        total,
        pi_hashes,
        pi_flags,
    }
}

/// The root's constraints over its children's statements (leaves, or middle nodes, of
/// capacity `c` blocks each) with one flag per child and the aggregator: returns the flat
/// layer 1's `[first_pre_root, last_post_root, epoch_commitment]` at capacity
/// `children × c`.
pub(crate) fn root_constraints(
    ctx: &mut Context<Fr>,
    gate: &impl GateInstructions<Fr>,
    children: &[Vec<AssignedValue<Fr>>],
    flags: &[AssignedValue<Fr>],
    aggregator: AssignedValue<Fr>,
    c: usize,
) -> [AssignedValue<Fr>; 3] {
    let j = join_constraints(ctx, gate, children, flags, c);
    let commitment =
        commitment_constraint(ctx, gate, j.total, aggregator, &j.pi_hashes, &j.pi_flags);
    [j.first_pre, j.last_post, commitment]
}

/// A middle node's constraints over its children's statements (leaves of capacity `c`):
/// [`join_constraints`], then a leaf-shaped statement of capacity `children × c` for the
/// layer above: `[first_pre_root, last_post_root, count, g_i·pi_hash_{i,j}…]`.
pub(crate) fn middle_constraints(
    ctx: &mut Context<Fr>,
    gate: &impl GateInstructions<Fr>,
    children: &[Vec<AssignedValue<Fr>>],
    flags: &[AssignedValue<Fr>],
    c: usize,
) -> Vec<AssignedValue<Fr>> {
    let j = join_constraints(ctx, gate, children, flags, c);
    let mut out = vec![j.first_pre, j.last_post, j.total];
    for (pi, g) in j.pi_hashes.iter().zip(&j.pi_flags) {
        out.push(gate.mul(ctx, *pi, *g));
    }
    out
}

/// The statements of an aggregation circuit's inputs without their accumulators.
fn child_statements(agg: &AggregationCircuit) -> Vec<Vec<AssignedValue<Fr>>> {
    agg.previous_instances()
        .iter()
        .map(|l| l[ACC_LIMBS..].to_vec())
        .collect()
}

fn build_middle(
    stage: CircuitBuilderStage,
    config: AggregationConfigParams,
    params: &ParamsKZG<Bn256>,
    snarks: Vec<Snark>,
    count: usize,
    child_capacity: usize,
) -> AggregationCircuit {
    let m = snarks.len();
    let mut agg = pinned_aggregation(stage, config, params, snarks);
    let children = child_statements(&agg);
    let range = agg.builder.range_chip();
    let ctx = agg.builder.main(0);
    let flags = ctx.assign_witnesses(flags_of(m, count));
    let out = middle_constraints(ctx, range.gate(), &children, &flags, child_capacity);
    agg.builder.assigned_instances[0].extend(out);
    agg
}

/// What a layer above needs of the layer below it: its parameters and verifying key (a
/// constant of the circuit above), and how many blocks one of its proofs holds at most.
#[derive(Clone, Copy)]
pub struct Child<'a> {
    params: &'a ParamsKZG<Bn256>,
    vk: &'a VerifyingKey<G1Affine>,
    capacity: usize,
}

impl Child<'_> {
    fn protocol(&self) -> PlonkProtocol<G1Affine> {
        leaf_protocol(self.params, self.vk, self.capacity)
    }

    fn check(&self) -> ProtocolCheck {
        ProtocolCheck::of(&self.protocol(), leaf_num_instances(self.capacity))
    }

    /// A dummy proof of this circuit (keygen's input for the layer above).
    fn dummy(&self) -> Snark {
        gen_dummy_snark_from_vk::<SHPLONK>(
            self.params,
            self.vk,
            vec![leaf_num_instances(self.capacity)],
            AggregationCircuit::accumulator_indices(),
        )
    }
}

/// Natively, before proving a node (`what`) of `children` inputs of `c` blocks each over
/// `snarks`: `1..=children` of them, each of the expected circuit (`check`), their roots
/// chain, and one followed by another is full.
fn check_children(
    what: &str,
    children: usize,
    c: usize,
    check: &ProtocolCheck,
    snarks: &[Snark],
) -> Result<()> {
    let count = snarks.len();
    if count == 0 || count > children {
        return Err(ProofError::Invalid(format!(
            "{what} of {children} inputs aggregates 1..={children} proofs, got {count}"
        )));
    }
    for (i, snark) in snarks.iter().enumerate() {
        check.check(i, snark)?;
    }
    let full = Fr::from(c as u64);
    for (i, pair) in snarks.windows(2).enumerate() {
        let (a, b) = (&pair[0].instances[0], &pair[1].instances[0]);
        if a[ACC_LIMBS + 1] != b[ACC_LIMBS] {
            return Err(ProofError::BrokenChain(i));
        }
        if a[ACC_LIMBS + 2] != full {
            return Err(ProofError::Invalid(format!(
                "input {i} is not full and another follows it"
            )));
        }
    }
    Ok(())
}

/// Keys of a middle node: up to `children` proofs of the layer below (leaves), exposing a
/// leaf-shaped statement of `children × c` blocks for the root. A tree of 16 blocks is 4
/// leaves of 4 under 2 middle nodes under a root of 2: every circuit the size of the 8-block
/// tree's.
pub struct MiddleAggregator {
    children: usize,
    child_capacity: usize,
    child_check: ProtocolCheck,
    keys: Keys,
}

/// The middle circuit keygen builds, per configuration.
fn middle_for_keygen(
    child: Child<'_>,
    children: usize,
) -> impl Fn(&ParamsKZG<Bn256>, AggregationConfigParams) -> AggregationCircuit {
    let dummy = child.dummy();
    let c = child.capacity;
    move |params, config| {
        let inputs = vec![dummy.clone(); children];
        build_middle(
            CircuitBuilderStage::Keygen,
            config,
            params,
            inputs,
            children,
            c,
        )
    }
}

impl MiddleAggregator {
    /// Keygen for a middle node over up to `children` proofs of `child`, at degree `k`.
    pub fn setup(child: Child<'_>, children: usize, k: u32) -> Result<Self> {
        if children < 2 {
            return Err(ProofError::Invalid(
                "a middle node aggregates at least 2 inputs".into(),
            ));
        }
        let keys = Keys::setup(k, middle_for_keygen(child, children))?;
        Ok(Self {
            children,
            child_capacity: child.capacity,
            child_check: child.check(),
            keys,
        })
    }

    /// What the root needs of this layer.
    pub fn as_child(&self) -> Child<'_> {
        Child {
            params: &self.keys.params,
            vk: self.keys.vk(),
            capacity: self.children * self.child_capacity,
        }
    }

    /// Stable hash of the middle vk.
    pub fn vk_hash(&self) -> B256 {
        vk_hash(self.keys.vk())
    }

    /// Circuit configuration (degree, columns).
    pub fn config(&self) -> AggregationConfigParams {
        self.keys.config
    }

    /// Aggregates a run of `1..=children` leaf proofs (slot order). Refuses, before proving,
    /// a proof of another circuit, a broken chain, and a leaf that is not full but followed
    /// by another.
    pub fn aggregate(&self, snarks: Vec<Snark>) -> Result<Snark> {
        let count = snarks.len();
        let (n, c) = (self.children, self.child_capacity);
        check_children("a middle node", n, c, &self.child_check, &snarks)?;
        let (instances, proof) =
            self.keys
                .prove(self.children, snarks, |params, config, padded| {
                    build_middle(
                        CircuitBuilderStage::Prover,
                        config,
                        params,
                        padded,
                        count,
                        c,
                    )
                })?;
        Ok(Snark::new(
            self.as_child().protocol(),
            vec![instances],
            proof,
        ))
    }
}

fn build_root(
    stage: CircuitBuilderStage,
    config: AggregationConfigParams,
    params: &ParamsKZG<Bn256>,
    snarks: Vec<Snark>,
    count: usize,
    aggregator: &Address,
    child_capacity: usize,
) -> AggregationCircuit {
    let m = snarks.len();
    let mut agg = pinned_aggregation(stage, config, params, snarks);
    let children = child_statements(&agg);
    let range = agg.builder.range_chip();
    let ctx = agg.builder.main(0);
    let (flags, aggregator) = assign_epoch_witness(ctx, m, count, aggregator);
    let out = root_constraints(
        ctx,
        range.gate(),
        &children,
        &flags,
        aggregator,
        child_capacity,
    );
    agg.builder.assigned_instances[0].extend(out);
    agg
}

impl RootAggregator {
    /// Keygen for a root over up to `children` proofs of `child`'s circuit, at degree `k`.
    pub fn setup(child: Child<'_>, children: usize, k: u32) -> Result<Self> {
        if children == 0 {
            return Err(ProofError::Empty("a root aggregates at least one input"));
        }
        let keys = Keys::setup(k, root_for_keygen(child, children))?;
        Ok(Self {
            children,
            child_capacity: child.capacity,
            child_check: child.check(),
            keys,
        })
    }

    /// Circuit configuration (degree, columns).
    pub fn config(&self) -> AggregationConfigParams {
        self.keys.config
    }

    /// KZG parameters of the root circuit.
    pub fn params(&self) -> &ParamsKZG<Bn256> {
        &self.keys.params
    }

    /// Verifying key of the root circuit (the compression circuit's input).
    pub fn vk(&self) -> &VerifyingKey<G1Affine> {
        self.keys.vk()
    }

    /// Stable hash of the root vk.
    pub fn vk_hash(&self) -> B256 {
        vk_hash(self.keys.vk())
    }

    /// The most blocks an epoch proof of these keys aggregates.
    pub fn capacity(&self) -> usize {
        self.children * self.child_capacity
    }

    /// Aggregates the epoch's proofs of the layer below (slot order, `1..=children` of them)
    /// for `aggregator`. Refuses, before proving, a proof of another circuit, a broken chain
    /// between them, and one that is not full but followed by another.
    pub fn aggregate(&self, aggregator: &Address, snarks: Vec<Snark>) -> Result<Snark> {
        let count = snarks.len();
        let (n, c) = (self.children, self.child_capacity);
        check_children("a root", n, c, &self.child_check, &snarks)?;
        let (instances, proof) =
            self.keys
                .prove(self.children, snarks, |params, config, padded| {
                    let stage = CircuitBuilderStage::Prover;
                    build_root(stage, config, params, padded, count, aggregator, c)
                })?;
        debug_assert_eq!(instances.len(), EPOCH_NUM_INSTANCES);
        Ok(Snark::new(
            aggregation_protocol(&self.keys.params, self.keys.vk()),
            vec![instances],
            proof,
        ))
    }
}

/// The default degree of a root over `children` inputs: 21 up to 2, one more per doubling
/// (a root of 2 leaves of 4 has 7 advice columns at k = 21, and fits the compression
/// circuit's pinned shape; docs/proofs.md).
pub fn root_degree(children: usize) -> u32 {
    super::layer1_degree(children) + 1
}

/// The shape of an aggregation tree: leaves of `leaf_capacity` block proofs at degree
/// `leaf_k`; optionally a middle layer of nodes over `middle.leaves` leaves each; and a root
/// over `children` inputs (leaves, or middle nodes) at degree `k`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeShape {
    /// Block proofs per leaf.
    pub leaf_capacity: usize,
    /// Degree of the leaf circuit.
    pub leaf_k: u32,
    /// The middle layer, if any.
    pub middle: Option<MiddleShape>,
    /// Inputs of the root: leaves, or middle nodes.
    pub children: usize,
    /// Degree of the root circuit.
    pub k: u32,
}

/// A middle layer of a [`TreeShape`]: nodes over `leaves` leaves each, at degree `k`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MiddleShape {
    /// Leaves per middle node.
    pub leaves: usize,
    /// Degree of the middle circuit.
    pub k: u32,
}

impl TreeShape {
    /// Block proofs per input of the root.
    pub fn child_capacity(&self) -> usize {
        self.leaf_capacity
            .saturating_mul(self.middle.map_or(1, |m| m.leaves))
    }

    /// Block proofs per epoch proof, at most.
    pub fn capacity(&self) -> usize {
        self.children.saturating_mul(self.child_capacity())
    }

    fn check(&self) -> Result<()> {
        let middle_ok = self.middle.is_none_or(|m| m.leaves >= 2);
        if self.leaf_capacity == 0 || self.children < 2 || !middle_ok {
            return Err(ProofError::Invalid(format!(
                "an aggregation tree joins at least 2 inputs per node over leaves of at least 1 block proof, got {self:?}"
            )));
        }
        Ok(())
    }
}

/// The keys of a whole tree: leaves, the middle layer if any, and the root.
/// [`TreeAggregator::aggregate`] proves an epoch's block proofs into one snark with the flat
/// layer 1's 15 instances.
pub struct TreeAggregator {
    shape: TreeShape,
    leaf: LeafAggregator,
    middle: Option<MiddleAggregator>,
    root: RootAggregator,
}

impl std::fmt::Debug for TreeAggregator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreeAggregator")
            .field("shape", &self.shape)
            .finish_non_exhaustive()
    }
}

impl TreeAggregator {
    /// Keygen of every layer of `shape` over `block`'s circuit.
    pub fn setup(block: &Halo2BlockProver, shape: &TreeShape) -> Result<Self> {
        shape.check()?;
        let leaf = LeafAggregator::setup(block, shape.leaf_capacity, shape.leaf_k)?;
        let middle = match shape.middle {
            None => None,
            Some(m) => Some(MiddleAggregator::setup(leaf.as_child(), m.leaves, m.k)?),
        };
        let child = middle.as_ref().map_or(leaf.as_child(), |m| m.as_child());
        let root = RootAggregator::setup(child, shape.children, shape.k)?;
        Ok(Self {
            shape: *shape,
            leaf,
            middle,
            root,
        })
    }

    /// The keys of `shape` whose root's verifying key hashes to `vk_hash` (the one genesis
    /// pins): read from the cache in `dir` when there ([`crate::keycache::epoch_pk_path`] of
    /// the root's hash), else made by [`Self::setup`] and, when the root hashes to `vk_hash`,
    /// written there, so a restarted worker is ready in seconds instead of minutes. A damaged
    /// file, or one holding other keys, is [`ProofError::DamagedCache`], never used.
    pub fn setup_cached(
        block: &Halo2BlockProver,
        shape: &TreeShape,
        vk_hash: B256,
        dir: &std::path::Path,
    ) -> Result<(Self, crate::keycache::KeySource)> {
        let path = crate::keycache::epoch_pk_path(dir, vk_hash);
        if path.exists() {
            return Ok((
                Self::read_cached(block, shape, &path, vk_hash)?,
                crate::keycache::KeySource::Cache,
            ));
        }
        let t = Self::setup(block, shape)?;
        if t.root.vk_hash() == vk_hash {
            t.write_cache(dir)?;
        }
        Ok((t, crate::keycache::KeySource::Keygen))
    }

    /// Writes every layer's keys to the cache in `dir`: `PARLEY-ETK-1\n` ‖ keccak256(body) ‖
    /// body, body = the leaf's, the middle node's if any, and the root's layer
    /// ([`Keys::write_to`]). The file's path.
    pub fn write_cache(&self, dir: &std::path::Path) -> Result<std::path::PathBuf> {
        let path = crate::keycache::epoch_pk_path(dir, self.root.vk_hash());
        crate::keycache::write_checked(&path, TREE_PK_MAGIC, |w| {
            self.leaf.keys.write_to(w, self.leaf.capacity)?;
            if let Some(m) = &self.middle {
                m.keys.write_to(w, m.as_child().capacity)?;
            }
            self.root.keys.write_to(w, self.root.capacity())
        })?;
        Ok(path)
    }

    fn read_cached(
        block: &Halo2BlockProver,
        shape: &TreeShape,
        path: &std::path::Path,
        pin: B256,
    ) -> Result<Self> {
        shape.check()?;
        let mut r = crate::keycache::open_checked(path, TREE_PK_MAGIC)?;
        let leaf = LeafAggregator {
            capacity: shape.leaf_capacity,
            block_check: ProtocolCheck::block(block),
            keys: Keys::read_from(&mut r, path, shape.leaf_capacity, shape.leaf_k)?,
        };
        let middle = match shape.middle {
            None => None,
            Some(m) => Some(MiddleAggregator {
                children: m.leaves,
                child_capacity: shape.leaf_capacity,
                child_check: leaf.as_child().check(),
                keys: Keys::read_from(&mut r, path, m.leaves * shape.leaf_capacity, m.k)?,
            }),
        };
        let child = middle.as_ref().map_or(leaf.as_child(), |m| m.as_child());
        let root = RootAggregator {
            children: shape.children,
            child_capacity: child.capacity,
            child_check: child.check(),
            keys: Keys::read_from(&mut r, path, shape.capacity(), shape.k)?,
        };
        check_pinned(path, root.vk(), pin)?;
        Ok(Self {
            shape: *shape,
            leaf,
            middle,
            root,
        })
    }

    /// The tree's shape.
    pub fn shape(&self) -> &TreeShape {
        &self.shape
    }

    /// The root's keys (what the compression circuit verifies).
    pub fn root(&self) -> &RootAggregator {
        &self.root
    }

    /// Aggregates the epoch's block proofs (slot order, `1..=capacity` of them) for
    /// `aggregator`: runs of `leaf_capacity` into leaves, runs of leaves into middle nodes if
    /// any, and those into the root. Refuses, before any proving, a count outside
    /// `1..=capacity` and a broken root chain; each leaf refuses a proof of another block
    /// circuit.
    pub fn aggregate(&self, aggregator: &Address, snarks: Vec<Snark>) -> Result<Snark> {
        let count = snarks.len();
        if count == 0 || count > self.shape.capacity() {
            return Err(ProofError::Invalid(format!(
                "an aggregation tree of {} blocks aggregates 1..={} block proofs, got {count}",
                self.shape.capacity(),
                self.shape.capacity()
            )));
        }
        check_block_chain(&snarks)?;
        let mut layer = snarks
            .chunks(self.shape.leaf_capacity)
            .map(|run| self.leaf.aggregate(run.to_vec()))
            .collect::<Result<Vec<_>>>()?;
        if let (Some(m), Some(shape)) = (&self.middle, self.shape.middle) {
            layer = layer
                .chunks(shape.leaves)
                .map(|run| m.aggregate(run.to_vec()))
                .collect::<Result<Vec<_>>>()?;
        }
        self.root.aggregate(aggregator, layer)
    }
}

/// The epoch statement a root (or flat layer-1) snark carries.
pub fn statement(snark: &Snark) -> Option<EpochPublicInputs> {
    let i = snark.instances.first()?;
    (i.len() == EPOCH_NUM_INSTANCES).then(|| EpochPublicInputs {
        first_pre_root: i[ACC_LIMBS],
        last_post_root: i[ACC_LIMBS + 1],
        epoch_commitment: i[ACC_LIMBS + 2],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregation::{epoch_commitment, epoch_domain};
    use crate::encoding::fr_address;
    use halo2_base::{gates::circuit::builder::BaseCircuitBuilder, halo2_proofs::dev::MockProver};

    const A: Address = Address::repeat_byte(0xa1);
    const B: Address = Address::repeat_byte(0xb2);
    const K: u32 = 12;

    fn bits(v: &[u64]) -> Vec<Fr> {
        v.iter().map(|x| Fr::from(*x)).collect()
    }

    fn run(b: BaseCircuitBuilder<Fr>, claimed: [Fr; 3]) -> bool {
        MockProver::run(K, &b, vec![claimed.to_vec()])
            .expect("mock runs")
            .verify()
            .is_ok()
    }

    fn builder() -> BaseCircuitBuilder<Fr> {
        BaseCircuitBuilder::<Fr>::new(false)
            .use_k(K as usize)
            .use_lookup_bits(8)
            .use_instance_columns(1)
    }

    /// Leaves of `c` over `blocks` (`[pre, post, pi_hash]`, `leaf_flags` one per block) and the
    /// root over them (`root_flags` one per leaf), in one MockProver circuit: whether `claimed`
    /// is accepted as the root's statement.
    fn tree(
        blocks: &[[Fr; 3]],
        c: usize,
        leaf_flags: &[Fr],
        root_flags: &[Fr],
        aggregator: &Address,
        claimed: [Fr; 3],
    ) -> bool {
        let mut b = builder();
        let range = b.range_chip();
        let ctx = b.main(0);
        let mut leaves = Vec::new();
        for (run, flags) in blocks.chunks(c).zip(leaf_flags.chunks(c)) {
            let assigned: Vec<Vec<_>> = run.iter().map(|x| ctx.assign_witnesses(*x)).collect();
            let flags = ctx.assign_witnesses(flags.iter().copied());
            leaves.push(leaf_constraints(ctx, range.gate(), &assigned, &flags));
        }
        let flags = ctx.assign_witnesses(root_flags.iter().copied());
        let aggregator = ctx.load_witness(fr_address(aggregator));
        let out = root_constraints(ctx, range.gate(), &leaves, &flags, aggregator, c);
        b.assigned_instances = vec![out.to_vec()];
        b.calculate_params(Some(10));
        run(b, claimed)
    }

    /// The root alone over raw leaf statements `[pre, post, count, pi_hashes…]`, as a
    /// dishonest prover could assign them past the leaf circuit.
    fn root(leaves: &[Vec<Fr>], flags: &[Fr], c: usize, claimed: [Fr; 3]) -> bool {
        let mut b = builder();
        let range = b.range_chip();
        let ctx = b.main(0);
        let leaves: Vec<Vec<_>> = leaves
            .iter()
            .map(|l| ctx.assign_witnesses(l.iter().copied()))
            .collect();
        let flags = ctx.assign_witnesses(flags.iter().copied());
        let aggregator = ctx.load_witness(fr_address(&A));
        let out = root_constraints(ctx, range.gate(), &leaves, &flags, aggregator, c);
        b.assigned_instances = vec![out.to_vec()];
        b.calculate_params(Some(10));
        run(b, claimed)
    }

    /// The statement the root's constraints compute from raw leaf statements and flags
    /// (aggregator `A`), whatever the flags are.
    fn computed(leaves: &[Vec<Fr>], flags: &[Fr], c: usize) -> [Fr; 3] {
        let mut last = Fr::zero();
        let mut total = Fr::zero();
        let mut v = vec![epoch_domain(), Fr::zero(), fr_address(&A)];
        for (i, l) in leaves.iter().enumerate() {
            let next = flags.get(i + 1).copied().unwrap_or(Fr::zero());
            last += (flags[i] - next) * l[1];
            total += flags[i] * l[2];
            v.extend((0..c).map(|j| l[3 + j] * flags[i]));
        }
        v[1] = total;
        [leaves[0][0], last, crate::poseidon::hash(&v)]
    }

    fn r(i: u64) -> Fr {
        Fr::from(1000 + i)
    }

    fn pi(i: u64) -> Fr {
        Fr::from(70 + i)
    }

    /// `n` chained blocks padded (as `aggregate` pads: copies of the last) to `cap`.
    fn chained(n: u64, cap: usize) -> Vec<[Fr; 3]> {
        let mut v: Vec<[Fr; 3]> = (0..n).map(|i| [r(i), r(i + 1), pi(i)]).collect();
        let last = *v.last().expect("n >= 1");
        v.resize(cap, last);
        v
    }

    /// For every count of real blocks, 2 leaves of 2 prove exactly the flat layer 1's
    /// statement at capacity 4 (padding inside a leaf, and a whole padding leaf).
    #[test]
    fn the_root_proves_the_flat_epoch_statement_for_every_count() {
        let (c, m) = (2usize, 2usize);
        for n in 1..=(c * m) as u64 {
            let blocks = chained(n, c * m);
            // Real leaves: the full ones, then the rest; padding leaves copy the last real
            // leaf (its blocks and flags), as `RootAggregator::aggregate` pads.
            let real_leaves = (n as usize).div_ceil(c);
            let mut leaf_flags = bits(
                &(0..c * m)
                    .map(|i| u64::from(i < n as usize))
                    .collect::<Vec<_>>(),
            );
            let mut padded = blocks.clone();
            for l in real_leaves..m {
                for j in 0..c {
                    padded[l * c + j] = blocks[(real_leaves - 1) * c + j];
                    leaf_flags[l * c + j] = leaf_flags[(real_leaves - 1) * c + j];
                }
            }
            let root_flags = bits(
                &(0..m)
                    .map(|i| u64::from(i < real_leaves))
                    .collect::<Vec<_>>(),
            );
            let pis: Vec<Fr> = (0..n).map(pi).collect();
            let flat = epoch_commitment(&A, c * m, &pis).expect("1..=4 blocks");
            let claimed = [r(0), r(n), flat];
            assert!(
                tree(&padded, c, &leaf_flags, &root_flags, &A, claimed),
                "n = {n}"
            );
            // the same statement for another aggregator is not proven
            assert!(
                !tree(&padded, c, &leaf_flags, &root_flags, &B, claimed),
                "n = {n}"
            );
            // nor another end root, nor a commitment of one block fewer
            assert!(!tree(
                &padded,
                c,
                &leaf_flags,
                &root_flags,
                &A,
                [r(0), r(n + 1), flat]
            ));
            if n > 1 {
                let fewer = epoch_commitment(&A, c * m, &pis[..n as usize - 1]).expect("fewer");
                assert!(!tree(
                    &padded,
                    c,
                    &leaf_flags,
                    &root_flags,
                    &A,
                    [r(0), r(n), fewer]
                ));
            }
        }
    }

    /// A short leaf followed by a real leaf would leave a hole in the commitment's run of
    /// pi_hashes (`[p0, 0, p1, p2]` instead of `[p0, p1, p2, 0]`): refused, even though the
    /// roots chain and the claim is what the constraints would compute without the check.
    #[test]
    fn a_short_leaf_cannot_be_followed_by_a_real_one() {
        let c = 2;
        let short = vec![r(0), r(1), Fr::from(1), pi(0), Fr::zero()];
        let next = vec![r(1), r(3), Fr::from(2), pi(1), pi(2)];
        let mut v = vec![epoch_domain(), Fr::from(3), fr_address(&A)];
        v.extend([pi(0), Fr::zero(), pi(1), pi(2)]);
        let holed = crate::poseidon::hash(&v);
        assert!(!root(
            &[short.clone(), next.clone()],
            &bits(&[1, 1]),
            c,
            [r(0), r(3), holed]
        ));
        // the same leaves, full, are accepted with the flat commitment
        let full = vec![r(0), r(1), Fr::from(2), pi(0), pi(3)];
        let flat = epoch_commitment(&A, 4, &[pi(0), pi(3), pi(1), pi(2)]).expect("4 of 4");
        assert!(root(&[full, next], &bits(&[1, 1]), c, [r(0), r(3), flat]));
    }

    /// Leaves must chain (the second starts at the first's post root), and the leaf flags
    /// follow the flat rules: bits, starting at 1, never rising again.
    #[test]
    fn leaves_chain_and_their_flags_follow_the_flat_rules() {
        let c = 1;
        let a = vec![r(0), r(1), Fr::from(1), pi(0)];
        let b = vec![r(1), r(2), Fr::from(1), pi(1)];
        let stray = vec![r(5), r(6), Fr::from(1), pi(1)];
        let both = epoch_commitment(&A, 2, &[pi(0), pi(1)]).expect("2 of 2");
        assert!(root(
            &[a.clone(), b.clone()],
            &bits(&[1, 1]),
            c,
            [r(0), r(2), both]
        ));
        assert!(!root(
            &[a.clone(), stray],
            &bits(&[1, 1]),
            c,
            [r(0), r(6), both]
        ));
        let one = epoch_commitment(&A, 2, &[pi(0)]).expect("1 of 2");
        assert!(root(
            &[a.clone(), b.clone()],
            &bits(&[1, 0]),
            c,
            [r(0), r(1), one]
        ));
        // Flags that break the rules, each with the statement the constraints compute from
        // them (so only the flag checks can refuse): a first leaf switched off, a non-bit.
        for flags in [bits(&[0, 1]), vec![Fr::one(), Fr::from(2)]] {
            let claimed = computed(&[a.clone(), b.clone()], &flags, c);
            assert!(
                !root(&[a.clone(), b.clone()], &flags, c, claimed),
                "{flags:?}"
            );
        }
        // the helper agrees with the circuit on honest flags
        let honest = bits(&[1, 1]);
        assert!(root(
            &[a.clone(), b.clone()],
            &honest,
            c,
            computed(&[a, b], &honest, c)
        ));
    }

    /// Flags of `count` real inputs among `cap`.
    fn first(cap: usize, count: usize) -> Vec<Fr> {
        (0..cap).map(|i| Fr::from(u64::from(i < count))).collect()
    }

    /// `n` chained blocks through leaves of `c`, middle nodes of `ml` leaves and a root of
    /// `mr` middle nodes, each layer padded as the aggregators pad (copies of its last real
    /// input, switched off by flags), in one MockProver circuit: whether `claimed` is accepted
    /// as the root's statement for `aggregator`.
    fn three_levels(
        n: u64,
        (c, ml, mr): (usize, usize, usize),
        aggregator: &Address,
        claimed: [Fr; 3],
    ) -> bool {
        type Leaf = (Vec<[Fr; 3]>, Vec<Fr>);
        let blocks: Vec<[Fr; 3]> = (0..n).map(|i| [r(i), r(i + 1), pi(i)]).collect();
        let leaves: Vec<Leaf> = blocks
            .chunks(c)
            .map(|run| {
                let mut b = run.to_vec();
                b.resize(c, *run.last().expect("non-empty"));
                (b, first(c, run.len()))
            })
            .collect();
        let mut middles: Vec<(Vec<Leaf>, Vec<Fr>)> = leaves
            .chunks(ml)
            .map(|run| {
                let mut l = run.to_vec();
                l.resize(ml, run.last().expect("non-empty").clone());
                (l, first(ml, run.len()))
            })
            .collect();
        let root_flags = first(mr, middles.len());
        let last = middles.last().expect("n >= 1").clone();
        middles.resize(mr, last);
        let mut b = builder();
        let range = b.range_chip();
        let ctx = b.main(0);
        let mut outs = Vec::new();
        for (ls, mf) in &middles {
            let mut leaf_outs = Vec::new();
            for (bl, lf) in ls {
                let assigned: Vec<Vec<_>> = bl.iter().map(|x| ctx.assign_witnesses(*x)).collect();
                let flags = ctx.assign_witnesses(lf.iter().copied());
                leaf_outs.push(leaf_constraints(ctx, range.gate(), &assigned, &flags));
            }
            let flags = ctx.assign_witnesses(mf.iter().copied());
            outs.push(middle_constraints(ctx, range.gate(), &leaf_outs, &flags, c));
        }
        let flags = ctx.assign_witnesses(root_flags);
        let aggregator = ctx.load_witness(fr_address(aggregator));
        let out = root_constraints(ctx, range.gate(), &outs, &flags, aggregator, c * ml);
        b.assigned_instances = vec![out.to_vec()];
        b.calculate_params(Some(10));
        run(b, claimed)
    }

    /// With a middle layer (2 middle nodes of 2 leaves of 2), for every count of real blocks
    /// the root proves exactly the flat layer 1's statement at capacity 8, and not another
    /// aggregator's or another end root.
    #[test]
    fn a_middle_layer_keeps_the_flat_epoch_statement_for_every_count() {
        let shape = (2usize, 2usize, 2usize);
        for n in 1..=8u64 {
            let pis: Vec<Fr> = (0..n).map(pi).collect();
            let flat = epoch_commitment(&A, 8, &pis).expect("1..=8 blocks");
            assert!(three_levels(n, shape, &A, [r(0), r(n), flat]), "n = {n}");
            assert!(!three_levels(n, shape, &B, [r(0), r(n), flat]), "n = {n}");
            assert!(
                !three_levels(n, shape, &A, [r(0), r(n + 1), flat]),
                "n = {n}"
            );
        }
    }

    /// A middle node over raw leaf statements: whether `claimed` (its leaf-shaped output) is
    /// accepted.
    fn middle(leaves: &[Vec<Fr>], flags: &[Fr], c: usize, claimed: Vec<Fr>) -> bool {
        let mut b = builder();
        let range = b.range_chip();
        let ctx = b.main(0);
        let leaves: Vec<Vec<_>> = leaves
            .iter()
            .map(|l| ctx.assign_witnesses(l.iter().copied()))
            .collect();
        let flags = ctx.assign_witnesses(flags.iter().copied());
        let out = middle_constraints(ctx, range.gate(), &leaves, &flags, c);
        b.assigned_instances = vec![out];
        b.calculate_params(Some(10));
        MockProver::run(K, &b, vec![claimed])
            .expect("mock runs")
            .verify()
            .is_ok()
    }

    /// In a middle node too, a short leaf followed by a real one is refused (its output would
    /// hold a hole), the same leaves full are accepted, and a padding leaf's pi_hashes are
    /// masked out of the output.
    #[test]
    fn a_middle_node_refuses_a_short_leaf_before_a_real_one() {
        let c = 2;
        let short = vec![r(0), r(1), Fr::from(1), pi(0), Fr::zero()];
        let full = vec![r(0), r(1), Fr::from(2), pi(0), pi(3)];
        let next = vec![r(1), r(3), Fr::from(2), pi(1), pi(2)];
        let holed = vec![r(0), r(3), Fr::from(3), pi(0), Fr::zero(), pi(1), pi(2)];
        assert!(!middle(&[short, next.clone()], &bits(&[1, 1]), c, holed));
        let both = vec![r(0), r(3), Fr::from(4), pi(0), pi(3), pi(1), pi(2)];
        assert!(middle(
            &[full.clone(), next.clone()],
            &bits(&[1, 1]),
            c,
            both.clone()
        ));
        // the second leaf as padding: its pi_hashes masked, its count left out
        let one = vec![
            r(0),
            r(1),
            Fr::from(2),
            pi(0),
            pi(3),
            Fr::zero(),
            Fr::zero(),
        ];
        assert!(middle(
            &[full.clone(), next.clone()],
            &bits(&[1, 0]),
            c,
            one
        ));
        assert!(!middle(&[full, next], &bits(&[1, 0]), c, both));
    }

    #[test]
    fn a_tree_joins_at_least_two_inputs_per_node() {
        let shape = |leaf_capacity, middle: Option<usize>, children| TreeShape {
            leaf_capacity,
            leaf_k: 20,
            middle: middle.map(|leaves| MiddleShape { leaves, k: 21 }),
            children,
            k: 21,
        };
        assert!(shape(4, None, 2).check().is_ok());
        assert_eq!(shape(4, Some(2), 2).capacity(), 16);
        for bad in [shape(4, None, 1), shape(0, None, 2), shape(4, Some(1), 2)] {
            assert!(
                matches!(bad.check(), Err(ProofError::Invalid(_))),
                "{bad:?}"
            );
        }
        assert_eq!((root_degree(2), root_degree(4)), (21, 22));
    }
}
