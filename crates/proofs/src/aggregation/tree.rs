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
//! flat layers. Only the proving side is built here (the benchmark `parley-proofs bench
//! agg-tree`); the worker, genesis pins and node verifiers still use the flat layer 1.

use super::{
    ACC_LIMBS, AggregationCircuit, AggregationConfigParams, AssignedValue, Bn256,
    CircuitBuilderStage, CircuitExt, Context, EPOCH_NUM_INSTANCES, EpochPublicInputs, Fr, G1Affine,
    GateInstructions, MultiPhaseThreadBreakPoints, ParamsKZG, ProofError, ProtocolCheck,
    ProvingKey, QuantumCell, RangeInstructions, Result, SHPLONK, Snark, VerifyingKey,
    aggregation_protocol, assign_epoch_witness, chain_constraints, check_block_chain,
    commitment_constraint, flags_of, keygen, pinned_aggregation, prove_padded,
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
}

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

impl LeafAggregator {
    /// Keygen for leaves of up to `capacity` proofs of `block`'s circuit, at degree `k`.
    pub fn setup(block: &Halo2BlockProver, capacity: usize, k: u32) -> Result<Self> {
        if capacity == 0 {
            return Err(ProofError::Empty(
                "a leaf aggregates at least one block proof",
            ));
        }
        let dummy = gen_dummy_snark_from_vk::<SHPLONK>(
            block.params(),
            block.vk(),
            vec![BLOCK_NUM_INSTANCES],
            None,
        );
        let keys = Keys::setup(k, |params, config| {
            let inputs = vec![dummy.clone(); capacity];
            build_leaf(
                CircuitBuilderStage::Keygen,
                config,
                params,
                inputs,
                capacity,
            )
        })?;
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

/// Keys of the root: up to `leaves` leaf proofs of one [`LeafAggregator`], for epochs of up
/// to `leaves × leaf capacity` blocks. Its proofs carry the flat layer 1's statement.
pub struct RootAggregator {
    leaves: usize,
    leaf_capacity: usize,
    leaf_check: ProtocolCheck,
    keys: Keys,
}

/// The root's constraints over its leaves' statements `[first_pre_root, last_post_root,
/// count, pi_hash_1, …, pi_hash_c]` (accumulators left out) with one flag per leaf and the
/// aggregator: returns the flat layer 1's `[first_pre_root, last_post_root,
/// epoch_commitment]` at capacity `leaves × c`.
pub(crate) fn root_constraints(
    ctx: &mut Context<Fr>,
    gate: &impl GateInstructions<Fr>,
    leaves: &[Vec<AssignedValue<Fr>>],
    flags: &[AssignedValue<Fr>],
    aggregator: AssignedValue<Fr>,
    c: usize,
) -> [AssignedValue<Fr>; 3] {
    let chain = chain_constraints(ctx, gate, leaves, flags);
    // A leaf followed by a real leaf is full, g_{i+1}·(count_i − c) = 0, so that the real
    // blocks are one run and their pi_hashes sit where the flat commitment has them.
    let full = Fr::from(c as u64);
    for i in 0..leaves.len() - 1 {
        let short = gate.sub(ctx, leaves[i][2], QuantumCell::Constant(full));
        let short = gate.mul(ctx, short, flags[i + 1]);
        gate.assert_is_const(ctx, &short, &Fr::zero());
    }
    let counts: Vec<_> = leaves.iter().map(|l| l[2]).collect();
    let total = gate.inner_product(ctx, counts, flags.iter().copied().map(QuantumCell::from));
    let mut pi_hashes = Vec::with_capacity(leaves.len() * c);
    let mut pi_flags = Vec::with_capacity(leaves.len() * c);
    for (l, g) in leaves.iter().zip(flags) {
        for j in 0..c {
            pi_hashes.push(l[3 + j]);
            pi_flags.push(*g);
        }
    }
    let commitment = commitment_constraint(ctx, gate, total, aggregator, &pi_hashes, &pi_flags);
    [chain.first_pre, chain.last_post, commitment]
}

fn build_root(
    stage: CircuitBuilderStage,
    config: AggregationConfigParams,
    params: &ParamsKZG<Bn256>,
    snarks: Vec<Snark>,
    count: usize,
    aggregator: &Address,
    leaf_capacity: usize,
) -> AggregationCircuit {
    let m = snarks.len();
    let mut agg = pinned_aggregation(stage, config, params, snarks);
    let leaves: Vec<Vec<_>> = agg
        .previous_instances()
        .iter()
        .map(|l| l[ACC_LIMBS..].to_vec())
        .collect();
    let range = agg.builder.range_chip();
    let ctx = agg.builder.main(0);
    let (flags, aggregator) = assign_epoch_witness(ctx, m, count, aggregator);
    let out = root_constraints(
        ctx,
        range.gate(),
        &leaves,
        &flags,
        aggregator,
        leaf_capacity,
    );
    agg.builder.assigned_instances[0].extend(out);
    agg
}

impl RootAggregator {
    /// Keygen for a root over up to `leaves` proofs of `leaf`'s circuit, at degree `k`.
    pub fn setup(leaf: &LeafAggregator, leaves: usize, k: u32) -> Result<Self> {
        if leaves == 0 {
            return Err(ProofError::Empty("a root aggregates at least one leaf"));
        }
        let c = leaf.capacity;
        let dummy = gen_dummy_snark_from_vk::<SHPLONK>(
            &leaf.keys.params,
            leaf.keys.vk(),
            vec![leaf_num_instances(c)],
            AggregationCircuit::accumulator_indices(),
        );
        let keys = Keys::setup(k, |params, config| {
            let inputs = vec![dummy.clone(); leaves];
            let stage = CircuitBuilderStage::Keygen;
            build_root(stage, config, params, inputs, leaves, &Address::ZERO, c)
        })?;
        let leaf_protocol = leaf_protocol(&leaf.keys.params, leaf.keys.vk(), c);
        Ok(Self {
            leaves,
            leaf_capacity: c,
            leaf_check: ProtocolCheck::of(&leaf_protocol, leaf_num_instances(c)),
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
        self.leaves * self.leaf_capacity
    }

    /// Aggregates the epoch's leaf proofs (slot order, `1..=leaves` of them) for
    /// `aggregator`. Refuses, before proving, a proof of another leaf circuit, a broken chain
    /// between leaves, and a leaf that is not full but followed by another.
    pub fn aggregate(&self, aggregator: &Address, snarks: Vec<Snark>) -> Result<Snark> {
        let count = snarks.len();
        if count == 0 || count > self.leaves {
            return Err(ProofError::Invalid(format!(
                "a root of {} leaves aggregates 1..={} leaf proofs, got {count}",
                self.leaves, self.leaves
            )));
        }
        for (i, snark) in snarks.iter().enumerate() {
            self.leaf_check.check(i, snark)?;
        }
        let full = Fr::from(self.leaf_capacity as u64);
        for (i, pair) in snarks.windows(2).enumerate() {
            let (a, b) = (&pair[0].instances[0], &pair[1].instances[0]);
            if a[ACC_LIMBS + 1] != b[ACC_LIMBS] {
                return Err(ProofError::BrokenChain(i));
            }
            if a[ACC_LIMBS + 2] != full {
                return Err(ProofError::Invalid(format!(
                    "leaf {i} is not full and another follows it"
                )));
            }
        }
        let c = self.leaf_capacity;
        let (instances, proof) =
            self.keys
                .prove(self.leaves, snarks, |params, config, padded| {
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
}
