//! The block circuit (halo2-base flex gate, KZG/BN254).
//!
//! Statement, for public instances `[pre_root, post_root, pi_hash]`: there is a diff
//! `e_1..e_n` (n ≤ capacity) and a header `(chain_id, slot, block_commitment, prover_address)`
//! such that
//! 1. starting from `pre_root`, for each entry in order, `leaf_hash(old)` opens at `index` under
//!    the running root and writing `leaf_hash(new)` there gives the next running root; the last
//!    running root is `post_root`;
//! 2. the entries hash to `diff_hash` (ADR 0003 chain, `n` included);
//! 3. `pi_hash = Poseidon(PI_DOMAIN_V1, chain_id, slot, diff_hash, block_commitment_hi,
//!    block_commitment_lo, prover_address)`.
//!
//! Unused capacity slots carry `is_real = 0`: they neither move the root nor enter the diff
//! hash. Every flag is constrained boolean; the index is decomposed into exactly 32 bits.

use crate::{
    diff_hash::diff_domain,
    encoding::{fr_address, fr_b256, fr_from_be_bytes, key_fields, value_fields},
    error::{ProofError, Result},
    poseidon::{RATE, SPEC, T},
    tree::{MerklePath, PROOF_TREE_DEPTH, ProofTree},
    types::StateDiff,
};
use alloy_primitives::{Address, B256};
use halo2_base::{
    AssignedValue, Context,
    gates::{
        GateInstructions, RangeChip, RangeInstructions,
        circuit::{BaseCircuitParams, CircuitBuilderStage, builder::BaseCircuitBuilder},
        flex_gate::MultiPhaseThreadBreakPoints,
    },
    halo2_proofs::halo2curves::bn256::Fr,
    poseidon::hasher::PoseidonHasher,
};

/// Lookup table bits of the block circuit (only the Poseidon var-len hash uses a range check).
pub const BLOCK_LOOKUP_BITS: usize = 8;
/// Rows kept free for blinding.
pub const MINIMUM_ROWS: usize = 20;
/// Smallest circuit degree.
pub const MIN_K: u32 = 12;
/// Largest block circuit degree: beyond 2^20 rows a bigger block gets more columns instead
/// (the shipped SRS is k = 20, and more columns cost less memory than more rows).
pub const MAX_K: u32 = 20;
/// Target number of advice columns when choosing the degree from the capacity.
pub const TARGET_ADVICE_COLUMNS: usize = 16;
/// Number of public instances of a block proof.
pub const BLOCK_NUM_INSTANCES: usize = 3;

/// Version tag that starts the public-input hash: ASCII `parley.block.v1`. A later version
/// (bridge: L1-queue position, withdrawal root) appends fields and bumps the tag.
pub fn pi_domain_v1() -> Fr {
    fr_from_be_bytes(b"parley.block.v1")
}

/// The block-level data a proof is bound to besides the roots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockHeader {
    /// L2 chain id.
    pub chain_id: u64,
    /// Slot of the block.
    pub slot: u64,
    /// Commitment of the revealed block (hash of tx list + header fields).
    pub block_commitment: B256,
    /// The prover the proof is bound to.
    pub prover_address: Address,
}

/// Everything a verifier needs to check a block proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockPublicInputs {
    /// Header fields.
    pub header: BlockHeader,
    /// Proof-tree root before the block.
    pub pre_root: Fr,
    /// Proof-tree root after the block.
    pub post_root: Fr,
    /// `diff_hash` of the block's diff.
    pub diff_hash: Fr,
}

impl BlockPublicInputs {
    /// Fields of the public-input hash, in order (version 1).
    pub fn pi_fields(&self) -> Vec<Fr> {
        let (bc_hi, bc_lo) = fr_b256(&self.header.block_commitment);
        vec![
            pi_domain_v1(),
            Fr::from(self.header.chain_id),
            Fr::from(self.header.slot),
            self.diff_hash,
            bc_hi,
            bc_lo,
            fr_address(&self.header.prover_address),
        ]
    }

    /// `pi_hash`.
    pub fn pi_hash(&self) -> Fr {
        crate::poseidon::hash(&self.pi_fields())
    }

    /// The proof's public instances `[pre_root, post_root, pi_hash]`.
    pub fn instances(&self) -> Vec<Fr> {
        vec![self.pre_root, self.post_root, self.pi_hash()]
    }
}

/// Witness of one capacity slot.
#[derive(Clone, Debug, PartialEq)]
pub struct EntryWitness {
    /// 1 for a diff entry, 0 for padding.
    pub is_real: bool,
    /// Account (true) or storage slot.
    pub is_account: bool,
    /// Address as a field element.
    pub address: Fr,
    /// Storage slot halves (0 for an account).
    pub slot: [Fr; 2],
    /// Leaf index.
    pub index: u64,
    /// Old value fields, `None` if absent.
    pub old: Option<[Fr; 5]>,
    /// New value fields, `None` if absent.
    pub new: Option<[Fr; 5]>,
    /// Siblings under the running root.
    pub path: MerklePath,
}

impl EntryWitness {
    /// A padding slot.
    pub fn padding() -> Self {
        Self {
            is_real: false,
            is_account: true,
            address: Fr::zero(),
            slot: [Fr::zero(); 2],
            index: 0,
            old: None,
            new: None,
            path: [Fr::zero(); PROOF_TREE_DEPTH],
        }
    }
}

/// Full witness of a block proof.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockWitness {
    /// Public inputs the witness claims.
    pub public: BlockPublicInputs,
    /// Exactly `capacity` slots.
    pub entries: Vec<EntryWitness>,
}

impl BlockWitness {
    /// Build the witness by applying `diff` to `tree` (which must be at the block's pre-state;
    /// it is at the post-state afterwards).
    pub fn build(
        tree: &mut ProofTree,
        header: BlockHeader,
        diff: &StateDiff,
        capacity: usize,
    ) -> Result<Self> {
        if diff.0.len() > capacity {
            return Err(ProofError::CapacityExceeded {
                entries: diff.0.len(),
                capacity,
            });
        }
        let diff_hash = crate::diff_hash::diff_hash(diff)?;
        let pre_root = tree.root();
        let updates = tree.apply_diff(diff)?;
        let mut entries = Vec::with_capacity(capacity);
        for (pos, (e, u)) in diff.0.iter().zip(updates).enumerate() {
            let k = key_fields(&e.key).ok_or(ProofError::KindMismatch(pos))?;
            entries.push(EntryWitness {
                is_real: true,
                is_account: matches!(e.key, crate::types::StateKey::Account(_)),
                address: k[1],
                slot: [k[2], k[3]],
                index: e.index,
                old: e.old.as_ref().map(value_fields),
                new: e.new.as_ref().map(value_fields),
                path: u.path,
            });
        }
        entries.resize(capacity, EntryWitness::padding());
        let public = BlockPublicInputs {
            header,
            pre_root,
            post_root: tree.root(),
            diff_hash,
        };
        Ok(Self { public, entries })
    }

    /// An all-padding witness of the given capacity (keygen).
    pub fn dummy(capacity: usize) -> Self {
        let header = BlockHeader {
            chain_id: 0,
            slot: 0,
            block_commitment: B256::ZERO,
            prover_address: Address::ZERO,
        };
        let root = crate::tree::empty_root();
        let public = BlockPublicInputs {
            header,
            pre_root: root,
            post_root: root,
            diff_hash: crate::diff_hash::diff_hash(&StateDiff::default())
                .expect("empty diff hashes"),
        };
        Self {
            public,
            entries: vec![EntryWitness::padding(); capacity],
        }
    }

    /// Capacity (number of slots).
    pub fn capacity(&self) -> usize {
        self.entries.len()
    }
}

struct Chips<'a> {
    range: &'a RangeChip<Fr>,
    hasher: &'a PoseidonHasher<Fr, T, RATE>,
}

impl Chips<'_> {
    fn h(&self, ctx: &mut Context<Fr>, inputs: &[AssignedValue<Fr>]) -> AssignedValue<Fr> {
        self.hasher
            .hash_fix_len_array(ctx, self.range.gate(), inputs)
    }

    fn bit(&self, ctx: &mut Context<Fr>, b: bool) -> AssignedValue<Fr> {
        let v = ctx.load_witness(Fr::from(u64::from(b)));
        self.range.gate().assert_bit(ctx, v);
        v
    }

    /// Leaf hash of a (possibly absent) value, uniform over both kinds: a var-len Poseidon of
    /// `[kind, address, a2..a6]` with length 7 (account) or 6 (storage), selected to 0 if absent.
    fn leaf(
        &self,
        ctx: &mut Context<Fr>,
        kind: AssignedValue<Fr>,
        is_acc: AssignedValue<Fr>,
        address: AssignedValue<Fr>,
        slot: [AssignedValue<Fr>; 2],
        value: &Option<[Fr; 5]>,
    ) -> AssignedValue<Fr> {
        let gate = self.range.gate();
        let exists = self.bit(ctx, value.is_some());
        let v = ctx.assign_witnesses(value.unwrap_or([Fr::zero(); 5]));
        let a2 = gate.select(ctx, v[0], slot[0], is_acc);
        let a3 = gate.select(ctx, v[1], slot[1], is_acc);
        let a4 = gate.select(ctx, v[2], v[0], is_acc);
        let a5 = gate.select(ctx, v[3], v[1], is_acc);
        let len = gate.add(ctx, is_acc, halo2_base::QuantumCell::Constant(Fr::from(6)));
        let inputs = [kind, address, a2, a3, a4, a5, v[4]];
        let h = self
            .hasher
            .hash_var_len_array(ctx, self.range, &inputs, len);
        gate.mul(ctx, h, exists)
    }
}

/// Add the block circuit's constraints for `w` to `builder` and set its public instances.
pub fn synthesize_block(builder: &mut BaseCircuitBuilder<Fr>, w: &BlockWitness) {
    let range = builder.range_chip();
    let ctx = builder.main(0);
    let gate = range.gate();
    let mut hasher = PoseidonHasher::<Fr, T, RATE>::new(SPEC.clone());
    hasher.initialize_consts(ctx, gate);
    let chips = Chips {
        range: &range,
        hasher: &hasher,
    };

    let pre_root = ctx.load_witness(w.public.pre_root);
    let mut root = pre_root;
    let mut acc = ctx.load_constant(diff_domain());
    let mut count = ctx.load_zero();

    for e in &w.entries {
        let is_real = chips.bit(ctx, e.is_real);
        let is_acc = chips.bit(ctx, e.is_account);
        // kind = 2 - is_account
        let kind = gate.sub(ctx, halo2_base::QuantumCell::Constant(Fr::from(2)), is_acc);
        let address = ctx.load_witness(e.address);
        let slot = [ctx.load_witness(e.slot[0]), ctx.load_witness(e.slot[1])];
        // an account key has slot (0, 0)
        for s in slot {
            let z = gate.mul(ctx, s, is_acc);
            gate.assert_is_const(ctx, &z, &Fr::zero());
        }
        let index = ctx.load_witness(Fr::from(e.index));
        let bits = gate.num_to_bits(ctx, index, PROOF_TREE_DEPTH);

        let old_leaf = chips.leaf(ctx, kind, is_acc, address, slot, &e.old);
        let new_leaf = chips.leaf(ctx, kind, is_acc, address, slot, &e.new);

        let mut cur_old = old_leaf;
        let mut cur_new = new_leaf;
        for (bit, sib) in bits.iter().zip(e.path.iter()) {
            let sib = ctx.load_witness(*sib);
            // bit = 1: current node is the right child
            let l_old = gate.select(ctx, sib, cur_old, *bit);
            let s_old = gate.add(ctx, sib, cur_old);
            let r_old = gate.sub(ctx, s_old, l_old);
            cur_old = chips.h(ctx, &[l_old, r_old]);
            let l_new = gate.select(ctx, sib, cur_new, *bit);
            let s_new = gate.add(ctx, sib, cur_new);
            let r_new = gate.sub(ctx, s_new, l_new);
            cur_new = chips.h(ctx, &[l_new, r_new]);
        }
        // the old leaf must open under the running root (only for real entries)
        let opened = gate.select(ctx, cur_old, root, is_real);
        ctx.constrain_equal(&opened, &root);
        root = gate.select(ctx, cur_new, root, is_real);

        let step = chips.h(
            ctx,
            &[
                acc, kind, address, slot[0], slot[1], index, old_leaf, new_leaf,
            ],
        );
        acc = gate.select(ctx, step, acc, is_real);
        count = gate.add(ctx, count, is_real);
    }
    let diff_hash = chips.h(ctx, &[acc, count]);

    let (bc_hi, bc_lo) = fr_b256(&w.public.header.block_commitment);
    let header = [
        Fr::from(w.public.header.chain_id),
        Fr::from(w.public.header.slot),
        bc_hi,
        bc_lo,
        fr_address(&w.public.header.prover_address),
    ];
    let header = ctx.assign_witnesses(header);
    let domain = ctx.load_constant(pi_domain_v1());
    let pi_hash = chips.h(
        ctx,
        &[
            domain, header[0], header[1], diff_hash, header[2], header[3], header[4],
        ],
    );

    builder.assigned_instances = vec![vec![pre_root, root, pi_hash]];
}

/// Circuit shape of a capacity: degree and column counts.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct BlockCircuitShape {
    /// Diff entries the circuit holds.
    pub capacity: usize,
    /// halo2-base configuration (k, columns).
    pub params: BaseCircuitParams,
    /// Total advice cells (flex gate).
    pub advice_cells: usize,
}

/// Build a builder for a witness at a stage.
pub fn block_builder(
    stage: CircuitBuilderStage,
    params: Option<(&BaseCircuitParams, MultiPhaseThreadBreakPoints)>,
    w: &BlockWitness,
) -> BaseCircuitBuilder<Fr> {
    let mut b = match (stage, params) {
        (CircuitBuilderStage::Prover, Some((p, bp))) => BaseCircuitBuilder::prover(p.clone(), bp),
        (stage, Some((p, _))) => BaseCircuitBuilder::from_stage(stage).use_params(p.clone()),
        (stage, None) => BaseCircuitBuilder::from_stage(stage)
            .use_k(MIN_K as usize)
            .use_lookup_bits(BLOCK_LOOKUP_BITS)
            .use_instance_columns(1),
    };
    synthesize_block(&mut b, w);
    b
}

/// Choose the circuit degree and columns for a capacity: the smallest `k` in
/// [`MIN_K`]..=[`MAX_K`] whose rows hold the circuit in at most [`TARGET_ADVICE_COLUMNS`]
/// advice columns; at [`MAX_K`] the column count grows with the capacity.
pub fn block_shape(capacity: usize) -> Result<BlockCircuitShape> {
    let w = BlockWitness::dummy(capacity);
    let b = block_builder(CircuitBuilderStage::Keygen, None, &w);
    let cells: usize = b.statistics().gate.total_advice_per_phase.iter().sum();
    let mut k = MIN_K;
    while k < MAX_K && (1usize << k).saturating_sub(MINIMUM_ROWS) * TARGET_ADVICE_COLUMNS < cells {
        k += 1;
    }
    let mut b = BaseCircuitBuilder::from_stage(CircuitBuilderStage::Keygen)
        .use_k(k as usize)
        .use_lookup_bits(BLOCK_LOOKUP_BITS)
        .use_instance_columns(1);
    synthesize_block(&mut b, &w);
    let params = b.calculate_params(Some(MINIMUM_ROWS));
    Ok(BlockCircuitShape {
        capacity,
        params,
        advice_cells: cells,
    })
}

/// Run halo2's `MockProver` on a witness against claimed instances. `Err` lists the failed
/// constraints (a test helper; the real verifier is [`crate::prover::BlockProver::verify`]).
pub fn mock_check(shape: &BlockCircuitShape, w: &BlockWitness, instances: &[Fr]) -> Result<()> {
    use halo2_base::halo2_proofs::dev::MockProver;
    let circuit = block_builder(
        CircuitBuilderStage::Mock,
        Some((&shape.params, Default::default())),
        w,
    );
    let prover = MockProver::run(shape.params.k as u32, &circuit, vec![instances.to_vec()])
        .map_err(|e| ProofError::Halo2(e.to_string()))?;
    prover.verify().map_err(|errs| {
        ProofError::Invalid(format!(
            "{} constraint failures, first: {:?}",
            errs.len(),
            errs.first()
        ))
    })
}
