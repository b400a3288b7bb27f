//! The block circuit (KZG/BN254): halo2-base's flex gate for the glue, and every Poseidon
//! permutation in the custom-gate chip of [`crate::poseidon_chip`] (ADR 0010; the flex-gate
//! Poseidon of ADR 0003 remains as [`HashBackend::FlexGate`] for benchmarks).
//!
//! Statement, for public instances `[pre_root, post_root, pi_hash]`: there is a diff
//! `e_1..e_n` (n ≤ capacity) and a header `(chain_id, slot, chunk_index, chunk_count,
//! block_commitment, prover_address)` such that
//! 1. starting from `pre_root`, for each entry in order, `leaf_hash(old)` opens at `index` under
//!    the running root and writing `leaf_hash(new)` there gives the next running root; the last
//!    running root is `post_root`;
//! 2. the entries hash to `diff_hash` (ADR 0003 chain, `n` included);
//! 3. `pi_hash = Poseidon(PI_DOMAIN_V2, chain_id, slot, chunk_index, chunk_count, diff_hash,
//!    block_commitment_hi, block_commitment_lo, prover_address)`.
//!
//! A slot's diff larger than one circuit is proven in chunks (DESIGN §3.12, ADR 0016): each
//! chunk is such a statement over its part of the diff, and `pi_hash` binds which part of
//! how many it is, so a proof of one chunk never stands for another or for a whole block.
//!
//! Unused capacity slots carry `is_real = 0`: they neither move the root nor enter the diff
//! hash. Every flag is constrained boolean; the index is decomposed into exactly
//! `index_bits` bits; a storage value's three unused value cells are zero.
//!
//! With `index_bits = b < 32` (ADR 0021, the chain's `proof_index_bits`) every index is below
//! `2^b`, so every path ends in the same `32 − b` levels whose siblings are empty subtrees.
//! Entries are opened and written along their lowest `b` levels under a running subtree root
//! (the node at height `b` above leaf 0); the prover's pre-state subtree root is hashed up the
//! empty top to `pre_root` once, and the last running subtree root is hashed up once more to
//! give `post_root`. The statement above is unchanged.

use crate::{
    diff_hash::diff_domain,
    encoding::{fr_address, fr_b256, fr_from_be_bytes, key_fields, value_fields},
    error::{ProofError, Result},
    poseidon::{RATE, SPEC, T},
    poseidon_chip::{
        BlockCircuitParams, COLUMNS_PER_LANE, FlexPoseidonCircuit, PoseidonTable, ROWS_PER_PERM,
    },
    tree::{MerklePath, PROOF_TREE_DEPTH, ProofTree},
    types::StateDiff,
};
use alloy_primitives::{Address, B256};
use halo2_base::{
    AssignedValue, Context, QuantumCell,
    gates::{
        GateChip, GateInstructions, RangeChip, RangeInstructions,
        circuit::{BaseCircuitParams, CircuitBuilderStage, builder::BaseCircuitBuilder},
        flex_gate::MultiPhaseThreadBreakPoints,
    },
    halo2_proofs::halo2curves::{bn256::Fr, ff::PrimeField},
    poseidon::hasher::PoseidonHasher,
    virtual_region::copy_constraints::SharedCopyConstraintManager,
};

/// Lookup table bits of the flex-gate block circuit (only its var-len Poseidon uses a range
/// check; the chip backend has no lookup).
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
/// Index bits of a circuit that opens every entry along its whole path: the depth of the
/// tree (the circuit before ADR 0021, and of a chain whose genesis does not say otherwise).
pub const FULL_INDEX_BITS: u32 = PROOF_TREE_DEPTH as u32;
/// Index bits `parleyd genesis-app-state` proposes for a new chain (ADR 0021): indices below
/// 2^24 (16,777,216 leaves), the top 8 levels hashed once per proof, 16 of an entry's 73
/// permutations saved.
pub const DEFAULT_INDEX_BITS: u32 = 24;
/// The fewest index bits a circuit may open (a tree of 2^8 leaves; below, the top path
/// would dominate every proof).
pub const MIN_INDEX_BITS: u32 = 8;

/// Version tag that starts the public-input hash: ASCII `parley.block.v2` (v2 added the
/// chunk index and count, ADR 0016). A later version (bridge: L1-queue position, withdrawal
/// root) appends fields and bumps the tag.
pub fn pi_domain_v2() -> Fr {
    fr_from_be_bytes(b"parley.block.v2")
}

/// The block-level data a proof is bound to besides the roots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockHeader {
    /// L2 chain id.
    pub chain_id: u64,
    /// Slot of the block.
    pub slot: u64,
    /// Which part of the slot's diff the proof covers (0-based, below `chunk_count`).
    pub chunk_index: u32,
    /// How many parts consensus cut the slot's diff into (1 for a diff one circuit holds).
    pub chunk_count: u32,
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
    /// Fields of the public-input hash, in order (version 2).
    pub fn pi_fields(&self) -> Vec<Fr> {
        let (bc_hi, bc_lo) = fr_b256(&self.header.block_commitment);
        vec![
            pi_domain_v2(),
            Fr::from(self.header.chain_id),
            Fr::from(self.header.slot),
            Fr::from(u64::from(self.header.chunk_index)),
            Fr::from(u64::from(self.header.chunk_count)),
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
            chunk_index: 0,
            chunk_count: 1,
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

/// How the block circuit computes Poseidon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum HashBackend {
    /// The dedicated chip with custom gates ([`crate::poseidon_chip`], ADR 0010): the circuit
    /// every node and prover uses.
    #[default]
    Chip,
    /// halo2-base's flex-gate `PoseidonHasher` (the circuit before ADR 0010), kept so the
    /// benchmark can measure both in one run.
    FlexGate,
}

/// Hashing for [`synthesize_block`], by backend.
enum Hasher {
    Flex {
        range: RangeChip<Fr>,
        poseidon: Box<PoseidonHasher<Fr, T, RATE>>,
    },
    Chip {
        table: PoseidonTable,
        /// Constants `2^64` (initial capacity), 1 (padding) and 0.
        cap: AssignedValue<Fr>,
        one: AssignedValue<Fr>,
        zero: AssignedValue<Fr>,
    },
}

impl Hasher {
    /// Poseidon of a fixed-length list (the sponge of [`crate::poseidon::hash`]).
    fn hash(
        &mut self,
        ctx: &mut Context<Fr>,
        gate: &GateChip<Fr>,
        inputs: &[AssignedValue<Fr>],
    ) -> AssignedValue<Fr> {
        match self {
            Self::Flex { range, poseidon } => {
                poseidon.hash_fix_len_array(ctx, range.gate(), inputs)
            }
            Self::Chip {
                table,
                cap,
                one,
                zero,
            } => {
                let mut blocks: Vec<[Option<AssignedValue<Fr>>; RATE]> = inputs
                    .chunks(RATE)
                    .map(|c| std::array::from_fn(|i| c.get(i).copied()))
                    .collect();
                if inputs.len().is_multiple_of(RATE) {
                    blocks.push([None; RATE]);
                }
                // padding: a 1 right after the last input
                let last = blocks.last_mut().expect("at least one block");
                if let Some(slot) = last.iter_mut().find(|x| x.is_none()) {
                    *slot = Some(*one);
                }
                sponge(table, *cap, *zero, ctx, gate, &blocks)
            }
        }
    }

    /// Leaf hash input: Poseidon of `inputs[..7]` for an account (`is_acc = 1`) or of
    /// `inputs[..6]` for a storage slot (`is_acc = 0`).
    fn leaf(
        &mut self,
        ctx: &mut Context<Fr>,
        gate: &GateChip<Fr>,
        inputs: [AssignedValue<Fr>; 7],
        is_acc: AssignedValue<Fr>,
    ) -> AssignedValue<Fr> {
        match self {
            Self::Flex { range, poseidon } => {
                let len = gate.add(ctx, is_acc, QuantumCell::Constant(Fr::from(6)));
                poseidon.hash_var_len_array(ctx, range, &inputs, len)
            }
            Self::Chip {
                table,
                cap,
                one,
                zero,
            } => {
                // 7 inputs: [.. in6, 1, 0] in the third block; 6 inputs: a third block [1, 0, 0]
                let p0 = gate.select(ctx, inputs[6], *one, is_acc);
                let blocks = [
                    [Some(inputs[0]), Some(inputs[1]), Some(inputs[2])],
                    [Some(inputs[3]), Some(inputs[4]), Some(inputs[5])],
                    [Some(p0), Some(is_acc), None],
                ];
                sponge(table, *cap, *zero, ctx, gate, &blocks)
            }
        }
    }
}

/// The chip backend's sponge: absorb each block (`None` = nothing added) into the state that
/// starts at `(cap, 0, 0, 0)` and permute; output state[1].
fn sponge(
    table: &mut PoseidonTable,
    cap: AssignedValue<Fr>,
    zero: AssignedValue<Fr>,
    ctx: &mut Context<Fr>,
    gate: &GateChip<Fr>,
    blocks: &[[Option<AssignedValue<Fr>>; RATE]],
) -> AssignedValue<Fr> {
    {
        let mut state: Option<[AssignedValue<Fr>; T]> = None;
        for block in blocks {
            let input: [AssignedValue<Fr>; T] = match state {
                // the initial state is (2^64, 0, 0, 0): absorbing is a copy
                None => std::array::from_fn(|i| {
                    if i == 0 {
                        cap
                    } else {
                        block[i - 1].unwrap_or(zero)
                    }
                }),
                Some(prev) => std::array::from_fn(|i| match (i, i.checked_sub(1)) {
                    (0, _) => prev[0],
                    (_, Some(j)) => match block[j] {
                        Some(v) => gate.add(ctx, prev[i], v),
                        None => prev[i],
                    },
                    _ => unreachable!("i > 0 here"),
                }),
            };
            state = Some(table.permute(ctx, input));
        }
        state.expect("at least one block")[1]
    }
}

/// A flag of one capacity slot, for [`RawFlag`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flag {
    /// `is_real`.
    IsReal,
    /// `is_account`.
    IsAccount,
    /// The old value exists.
    OldExists,
    /// The new value exists.
    NewExists,
}

/// An adversarial witness value for one flag of one slot, which the typed [`BlockWitness`]
/// cannot express (soundness tests: a non-boolean flag must be refused by the circuit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawFlag {
    /// Capacity slot.
    pub entry: usize,
    /// Which flag.
    pub flag: Flag,
    /// The value witnessed instead of 0/1.
    pub value: Fr,
}

/// Witness a flag and constrain it boolean.
fn bit(
    ctx: &mut Context<Fr>,
    gate: &GateChip<Fr>,
    b: bool,
    raw: Option<&RawFlag>,
    at: (usize, Flag),
) -> AssignedValue<Fr> {
    let value = match raw {
        Some(r) if (r.entry, r.flag) == at => r.value,
        _ => Fr::from(u64::from(b)),
    };
    let v = ctx.load_witness(value);
    gate.assert_bit(ctx, v);
    v
}

/// Leaf hash of a (possibly absent) value, uniform over both kinds: Poseidon of
/// `[kind, address, a2..a6]` with length 7 (account) or 6 (storage), selected to 0 if absent.
#[allow(clippy::too_many_arguments)]
fn leaf(
    ctx: &mut Context<Fr>,
    gate: &GateChip<Fr>,
    hasher: &mut Hasher,
    kind: AssignedValue<Fr>,
    is_acc: AssignedValue<Fr>,
    address: AssignedValue<Fr>,
    slot: [AssignedValue<Fr>; 2],
    value: &Option<[Fr; 5]>,
    raw: Option<&RawFlag>,
    at: (usize, Flag),
) -> AssignedValue<Fr> {
    let exists = bit(ctx, gate, value.is_some(), raw, at);
    let v = ctx.assign_witnesses(value.unwrap_or([Fr::zero(); 5]));
    // a storage value has two fields: the other three are pinned to zero, so a storage leaf
    // has exactly one witness per value
    for x in [v[2], v[3], v[4]] {
        let unused = gate.mul_not(ctx, is_acc, x);
        gate.assert_is_const(ctx, &unused, &Fr::zero());
    }
    let a2 = gate.select(ctx, v[0], slot[0], is_acc);
    let a3 = gate.select(ctx, v[1], slot[1], is_acc);
    let a4 = gate.select(ctx, v[2], v[0], is_acc);
    let a5 = gate.select(ctx, v[3], v[1], is_acc);
    let h = hasher.leaf(ctx, gate, [kind, address, a2, a3, a4, a5, v[4]], is_acc);
    gate.mul(ctx, h, exists)
}

/// The root over a node at height `low` above leaf 0 whose siblings on the way up are all
/// empty subtrees: the top of every path when indices are below `2^low`.
fn top_path(
    ctx: &mut Context<Fr>,
    gate: &GateChip<Fr>,
    hasher: &mut Hasher,
    node: AssignedValue<Fr>,
    low: usize,
) -> AssignedValue<Fr> {
    let zeros = crate::tree::zeros();
    let mut cur = node;
    for z in &zeros[low..PROOF_TREE_DEPTH] {
        let z = ctx.load_constant(*z);
        cur = hasher.hash(ctx, gate, &[cur, z]);
    }
    cur
}

/// The pre-state's node at height `low` above leaf 0, as the prover's hint: the first real
/// entry's old leaf hashed up its path's first `low` siblings, or the empty subtree when
/// there is none. The circuit does not trust it: it hashes it up to `pre_root`.
fn pre_subtree(w: &BlockWitness, low: usize) -> Fr {
    let Some(e) = w.entries.iter().find(|e| e.is_real) else {
        return crate::tree::zeros()[low];
    };
    let mut cur = e.old.map_or(Fr::zero(), |v| native_leaf(e, &v));
    for (level, sib) in e.path.iter().take(low).enumerate() {
        cur = if (e.index >> level) & 1 == 1 {
            crate::poseidon::hash2(*sib, cur)
        } else {
            crate::poseidon::hash2(cur, *sib)
        };
    }
    cur
}

/// Native leaf hash of a witness entry's value: the inputs the circuit's `leaf` hashes.
fn native_leaf(e: &EntryWitness, v: &[Fr; 5]) -> Fr {
    if e.is_account {
        crate::poseidon::hash(&[Fr::one(), e.address, v[0], v[1], v[2], v[3], v[4]])
    } else {
        crate::poseidon::hash(&[Fr::from(2), e.address, e.slot[0], e.slot[1], v[0], v[1]])
    }
}

/// Add the block circuit's constraints for `w` to `builder` (flex gate, and `table` for the
/// chip backend) and set its public instances. Returns the chip's permutation table (empty for
/// the flex-gate backend).
pub fn synthesize_block(
    builder: &mut BaseCircuitBuilder<Fr>,
    backend: HashBackend,
    index_bits: u32,
    w: &BlockWitness,
    raw: Option<&RawFlag>,
) -> PoseidonTable {
    let low = index_bits as usize;
    let gate = GateChip::<Fr>::default();
    let mut hasher = match backend {
        HashBackend::FlexGate => {
            let range = builder.range_chip();
            let ctx = builder.main(0);
            let mut poseidon = PoseidonHasher::<Fr, T, RATE>::new(SPEC.clone());
            poseidon.initialize_consts(ctx, range.gate());
            Hasher::Flex {
                range,
                poseidon: Box::new(poseidon),
            }
        }
        HashBackend::Chip => {
            let ctx = builder.main(0);
            Hasher::Chip {
                table: PoseidonTable::default(),
                cap: ctx.load_constant(Fr::from_u128(1u128 << 64)),
                one: ctx.load_constant(Fr::one()),
                zero: ctx.load_zero(),
            }
        }
    };
    let ctx = builder.main(0);

    let pre_root = ctx.load_witness(w.public.pre_root);
    // With fewer index bits than levels, the running root is the node at height `low` above
    // leaf 0 (the subtree that holds every index); the levels above it are hashed once, at
    // the end, for the pre- and the post-state (ADR 0021).
    let mut root = if low == PROOF_TREE_DEPTH {
        pre_root
    } else {
        let sub = ctx.load_witness(pre_subtree(w, low));
        let top = top_path(ctx, &gate, &mut hasher, sub, low);
        ctx.constrain_equal(&top, &pre_root);
        sub
    };
    let mut acc = ctx.load_constant(diff_domain());
    let mut count = ctx.load_zero();

    for (i, e) in w.entries.iter().enumerate() {
        let is_real = bit(ctx, &gate, e.is_real, raw, (i, Flag::IsReal));
        let is_acc = bit(ctx, &gate, e.is_account, raw, (i, Flag::IsAccount));
        // kind = 2 - is_account
        let kind = gate.sub(ctx, QuantumCell::Constant(Fr::from(2)), is_acc);
        let address = ctx.load_witness(e.address);
        let slot = [ctx.load_witness(e.slot[0]), ctx.load_witness(e.slot[1])];
        // an account key has slot (0, 0)
        for s in slot {
            let z = gate.mul(ctx, s, is_acc);
            gate.assert_is_const(ctx, &z, &Fr::zero());
        }
        let index = ctx.load_witness(Fr::from(e.index));
        let bits = gate.num_to_bits(ctx, index, low);

        let [old_leaf, new_leaf] =
            [(&e.old, Flag::OldExists), (&e.new, Flag::NewExists)].map(|(value, flag)| {
                leaf(
                    ctx,
                    &gate,
                    &mut hasher,
                    kind,
                    is_acc,
                    address,
                    slot,
                    value,
                    raw,
                    (i, flag),
                )
            });

        let mut cur_old = old_leaf;
        let mut cur_new = new_leaf;
        for (bit, sib) in bits.iter().zip(e.path.iter()) {
            let sib = ctx.load_witness(*sib);
            // bit = 1: current node is the right child
            let l_old = gate.select(ctx, sib, cur_old, *bit);
            let s_old = gate.add(ctx, sib, cur_old);
            let r_old = gate.sub(ctx, s_old, l_old);
            cur_old = hasher.hash(ctx, &gate, &[l_old, r_old]);
            let l_new = gate.select(ctx, sib, cur_new, *bit);
            let s_new = gate.add(ctx, sib, cur_new);
            let r_new = gate.sub(ctx, s_new, l_new);
            cur_new = hasher.hash(ctx, &gate, &[l_new, r_new]);
        }
        // the old leaf must open under the running root (only for real entries)
        let opened = gate.select(ctx, cur_old, root, is_real);
        ctx.constrain_equal(&opened, &root);
        root = gate.select(ctx, cur_new, root, is_real);

        let step = hasher.hash(
            ctx,
            &gate,
            &[
                acc, kind, address, slot[0], slot[1], index, old_leaf, new_leaf,
            ],
        );
        acc = gate.select(ctx, step, acc, is_real);
        count = gate.add(ctx, count, is_real);
    }
    let diff_hash = hasher.hash(ctx, &gate, &[acc, count]);
    let post_root = if low == PROOF_TREE_DEPTH {
        root
    } else {
        top_path(ctx, &gate, &mut hasher, root, low)
    };

    let (bc_hi, bc_lo) = fr_b256(&w.public.header.block_commitment);
    let header = [
        Fr::from(w.public.header.chain_id),
        Fr::from(w.public.header.slot),
        Fr::from(u64::from(w.public.header.chunk_index)),
        Fr::from(u64::from(w.public.header.chunk_count)),
        bc_hi,
        bc_lo,
        fr_address(&w.public.header.prover_address),
    ];
    let header = ctx.assign_witnesses(header);
    let domain = ctx.load_constant(pi_domain_v2());
    let pi_hash = hasher.hash(
        ctx,
        &gate,
        &[
            domain, header[0], header[1], header[2], header[3], diff_hash, header[4], header[5],
            header[6],
        ],
    );

    builder.assigned_instances = vec![vec![pre_root, post_root, pi_hash]];
    match hasher {
        Hasher::Chip { table, .. } => table,
        Hasher::Flex { .. } => PoseidonTable::default(),
    }
}

/// The block circuit: flex gate plus, for the chip backend, the Poseidon chip.
pub type BlockCircuit = FlexPoseidonCircuit;

/// Circuit shape of a capacity: degree and column counts.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct BlockCircuitShape {
    /// Diff entries the circuit holds.
    pub capacity: usize,
    /// How Poseidon is computed.
    pub backend: HashBackend,
    /// Flex-gate parameters and chip lanes.
    pub params: BlockCircuitParams,
    /// Flex-gate advice cells.
    pub flex_cells: usize,
    /// Poseidon permutations in the chip (0 for the flex-gate backend).
    pub permutations: usize,
    /// Advice cells in all: flex gate plus the chip's rows × columns.
    pub advice_cells: usize,
    /// Low bits of a leaf index the circuit opens per entry (ADR 0021): every index is below
    /// `2^index_bits`, and the tree's top `PROOF_TREE_DEPTH − index_bits` levels, whose
    /// siblings are then empty subtrees, are hashed once per proof instead of once per entry.
    #[serde(default = "full_index_bits")]
    pub index_bits: u32,
}

fn full_index_bits() -> u32 {
    FULL_INDEX_BITS
}

impl BlockCircuitShape {
    /// Circuit degree.
    pub fn k(&self) -> u32 {
        self.params.base.k as u32
    }
}

fn new_builder(
    stage: CircuitBuilderStage,
    backend: HashBackend,
    base: Option<(&BaseCircuitParams, MultiPhaseThreadBreakPoints)>,
    k: u32,
    copy: &SharedCopyConstraintManager<Fr>,
) -> BaseCircuitBuilder<Fr> {
    let b = match (stage, base) {
        (CircuitBuilderStage::Prover, Some((p, bp))) => BaseCircuitBuilder::prover(p.clone(), bp),
        (stage, Some((p, _))) => BaseCircuitBuilder::from_stage(stage).use_params(p.clone()),
        (stage, None) => {
            let b = BaseCircuitBuilder::from_stage(stage)
                .use_k(k as usize)
                .use_instance_columns(1);
            match backend {
                HashBackend::FlexGate => b.use_lookup_bits(BLOCK_LOOKUP_BITS),
                HashBackend::Chip => b,
            }
        }
    };
    b.use_copy_manager(copy.clone())
}

/// Build the block circuit for a witness at a stage (`break_points` from keygen when proving).
pub fn block_circuit(
    stage: CircuitBuilderStage,
    shape: &BlockCircuitShape,
    break_points: MultiPhaseThreadBreakPoints,
    w: &BlockWitness,
) -> BlockCircuit {
    block_circuit_raw(stage, shape, break_points, w, None)
}

fn block_circuit_raw(
    stage: CircuitBuilderStage,
    shape: &BlockCircuitShape,
    break_points: MultiPhaseThreadBreakPoints,
    w: &BlockWitness,
    raw: Option<&RawFlag>,
) -> BlockCircuit {
    let copy = SharedCopyConstraintManager::default();
    let mut builder = new_builder(
        stage,
        shape.backend,
        Some((&shape.params.base, break_points)),
        shape.k(),
        &copy,
    );
    let table = synthesize_block(&mut builder, shape.backend, shape.index_bits, w, raw);
    FlexPoseidonCircuit::new(builder, table, shape.params.clone(), copy)
}

/// Choose the circuit degree and columns for a capacity with the chip backend.
pub fn block_shape(capacity: usize) -> Result<BlockCircuitShape> {
    block_shape_with(capacity, HashBackend::Chip)
}

/// Choose the circuit degree and columns for a capacity: the smallest `k` in
/// [`MIN_K`]..=[`MAX_K`] whose rows hold the circuit in at most [`TARGET_ADVICE_COLUMNS`]
/// advice columns (flex gate plus chip lanes); at [`MAX_K`] the column count grows with the
/// capacity.
pub fn block_shape_with(capacity: usize, backend: HashBackend) -> Result<BlockCircuitShape> {
    block_shape_for(capacity, backend, FULL_INDEX_BITS)
}

/// [`block_shape_with`] for a circuit that opens `index_bits` bits of each index (ADR 0021):
/// [`MIN_INDEX_BITS`]..=[`FULL_INDEX_BITS`].
pub fn block_shape_for(
    capacity: usize,
    backend: HashBackend,
    index_bits: u32,
) -> Result<BlockCircuitShape> {
    if !(MIN_INDEX_BITS..=FULL_INDEX_BITS).contains(&index_bits) {
        return Err(ProofError::IndexBits(index_bits));
    }
    let w = BlockWitness::dummy(capacity);
    let copy = SharedCopyConstraintManager::default();
    let mut b = new_builder(CircuitBuilderStage::Keygen, backend, None, MIN_K, &copy);
    let table = synthesize_block(&mut b, backend, index_bits, &w, None);
    let flex_cells: usize = b.statistics().gate.total_advice_per_phase.iter().sum();
    let permutations = table.len();
    let columns = |k: u32| {
        let usable = (1usize << k) - MINIMUM_ROWS - 1;
        let lanes = match backend {
            HashBackend::FlexGate => 0,
            HashBackend::Chip => permutations.div_ceil(usable / ROWS_PER_PERM).max(1),
        };
        (
            flex_cells.div_ceil(usable) + lanes * COLUMNS_PER_LANE,
            lanes,
        )
    };
    let mut k = MIN_K;
    while k < MAX_K && columns(k).0 > TARGET_ADVICE_COLUMNS {
        k += 1;
    }
    let lanes = columns(k).1;
    let copy = SharedCopyConstraintManager::default();
    let mut b = new_builder(CircuitBuilderStage::Keygen, backend, None, k, &copy);
    let table = synthesize_block(&mut b, backend, index_bits, &w, None);
    let base = b.calculate_params(Some(MINIMUM_ROWS));
    let chip_cells = if lanes == 0 {
        0
    } else {
        table.rows(lanes) * lanes * COLUMNS_PER_LANE
    };
    Ok(BlockCircuitShape {
        capacity,
        backend,
        params: BlockCircuitParams { base, lanes },
        flex_cells,
        permutations,
        advice_cells: flex_cells + chip_cells,
        index_bits,
    })
}

/// Run halo2's `MockProver` on a witness against claimed instances. `Err` lists the failed
/// constraints (a test helper; the real verifier is [`crate::prover::BlockProver::verify`]).
pub fn mock_check(shape: &BlockCircuitShape, w: &BlockWitness, instances: &[Fr]) -> Result<()> {
    mock_check_raw(shape, w, instances, None)
}

/// [`mock_check`] with one flag witnessed as an arbitrary field element.
pub fn mock_check_raw(
    shape: &BlockCircuitShape,
    w: &BlockWitness,
    instances: &[Fr],
    raw: Option<RawFlag>,
) -> Result<()> {
    use halo2_base::halo2_proofs::dev::MockProver;
    let circuit = block_circuit_raw(
        CircuitBuilderStage::Mock,
        shape,
        Default::default(),
        w,
        raw.as_ref(),
    );
    let prover = MockProver::run(shape.k(), &circuit, vec![instances.to_vec()])
        .map_err(|e| ProofError::Halo2(e.to_string()))?;
    prover.verify().map_err(|errs| {
        ProofError::Invalid(format!(
            "{} constraint failures, first: {:?}",
            errs.len(),
            errs.first()
        ))
    })
}
