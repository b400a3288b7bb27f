//! A Poseidon permutation chip with custom gates, beside halo2-base's flex gate.
//!
//! Same permutation as [`crate::poseidon`] (t = 4, R_F = 8, R_P = 56, the Grain constants of
//! halo2-base's spec), computed in its plain form: each round adds the round constants, applies
//! `x^5` to every element (full round) or to the first (partial round), and multiplies by the
//! MDS matrix. The optimized form that halo2-base and the native code run is the same function
//! (checked by [`tests`] on random states and by every test vector through the block circuit).
//!
//! # Layout (ADR 0010)
//!
//! A *lane* is 8 advice columns: the state `s0..s3` and four helper cells `a0..a3`. One
//! permutation takes [`ROWS_PER_PERM`] = 37 rows of a lane:
//!
//! | rows | gate | what the row holds |
//! |---|---|---|
//! | 0..4 | `full` | state before a full round; `a_k = (s_k + c_k)^2` |
//! | 4..32 | `partial2` | state before two partial rounds; `a0 = (s0 + c0)^2`, `a1` = first element after the first round, `a2 = (a1 + c'0)^2` |
//! | 32..36 | `full` | as above |
//! | 36 | none | the output state |
//!
//! The round constants live in shared fixed columns (`c0..c3` for the row's round, `c'0..c'3`
//! for the second partial round); every lane places permutation `i` at the same rows, so the
//! selectors and constants are shared by all lanes. The highest gate degree is 4
//! (selector · a² · x), the same as the flex gate with its range lookup, so the chip does not
//! enlarge the quotient domain.
//!
//! # Wiring to the flex gate
//!
//! [`PoseidonTable::permute`] is called while the block circuit is built: it computes the
//! permutation natively, loads the four output elements into the flex-gate context as
//! witnesses, and records the input and output cells. When the circuit is synthesized, the
//! flex-gate region is assigned first (so halo2-base knows where each virtual cell landed), then
//! [`PoseidonTable::assign`] lays out every permutation and copy-constrains its first row to the
//! recorded input cells and its last row to the recorded output cells. Unused slots of the last
//! block of rows hold permutations of the zero state, which satisfy the gates and are wired to
//! nothing.

use crate::poseidon::T;
use halo2_base::{
    AssignedValue, Context,
    gates::{
        circuit::{BaseCircuitParams, BaseConfig, builder::BaseCircuitBuilder},
        flex_gate::MultiPhaseThreadBreakPoints,
    },
    halo2_proofs::{
        circuit::{Layouter, Region, SimpleFloorPlanner, Value},
        halo2curves::bn256::Fr,
        plonk::{
            Advice, Circuit, Column, ConstraintSystem, Error as PlonkError, Expression, Fixed,
            Selector,
        },
        poly::Rotation,
    },
    virtual_region::copy_constraints::SharedCopyConstraintManager,
};
use poseidon_primitives::poseidon::primitives::Spec;
use std::sync::LazyLock;

/// Full rounds.
const R_F: usize = 8;
/// Partial rounds.
const R_P: usize = 56;
/// Rows one permutation takes in a lane (4 + 28 + 4 gate rows and the output row).
pub const ROWS_PER_PERM: usize = R_F / 2 + R_P / 2 + R_F / 2 + 1;
/// Advice columns per lane.
pub const COLUMNS_PER_LANE: usize = 2 * T;

/// Spec marker for poseidon-primitives' constant generation with our parameters (the same
/// Grain LFSR that halo2-base's `OptimizedPoseidonSpec::new::<8, 56, 0>` starts from).
#[derive(Debug)]
struct Params;

impl Spec<Fr, T, 3> for Params {
    fn full_rounds() -> usize {
        R_F
    }
    fn partial_rounds() -> usize {
        R_P
    }
    fn sbox(val: Fr) -> Fr {
        pow5(val)
    }
    fn secure_mds() -> usize {
        0
    }
}

/// Plain round constants (one row of `T` per round) and the MDS matrix.
struct PlainSpec {
    rc: Vec<[Fr; T]>,
    mds: [[Fr; T]; T],
}

static PLAIN: LazyLock<PlainSpec> = LazyLock::new(|| {
    let (rc, mds, _) = Params::constants();
    PlainSpec { rc, mds }
});

fn pow5(x: Fr) -> Fr {
    let x2 = x.square();
    x2.square() * x
}

fn mds_mul(m: &[[Fr; T]; T], v: &[Fr; T]) -> [Fr; T] {
    let mut out = [Fr::zero(); T];
    for (o, row) in out.iter_mut().zip(m.iter()) {
        for (a, b) in row.iter().zip(v.iter()) {
            *o += *a * *b;
        }
    }
    out
}

/// The cells of one permutation, row by row: `(state, helpers)`.
type Trace = Vec<([Fr; T], [Fr; T])>;

/// The plain permutation, returning every row of the chip's layout.
fn trace(input: [Fr; T]) -> Trace {
    let spec = &*PLAIN;
    let mut rows = Vec::with_capacity(ROWS_PER_PERM);
    let mut s = input;
    let full = |s: &mut [Fr; T], round: usize, rows: &mut Trace| {
        let mut x = *s;
        let mut a = [Fr::zero(); T];
        for k in 0..T {
            x[k] += spec.rc[round][k];
            a[k] = x[k].square();
        }
        rows.push((*s, a));
        let mut y = [Fr::zero(); T];
        for k in 0..T {
            y[k] = a[k].square() * x[k];
        }
        *s = mds_mul(&spec.mds, &y);
    };
    for r in 0..R_F / 2 {
        full(&mut s, r, &mut rows);
    }
    for i in 0..R_P / 2 {
        let r = R_F / 2 + 2 * i;
        let mut x = s;
        for (xk, c) in x.iter_mut().zip(spec.rc[r].iter()) {
            *xk += c;
        }
        let a0 = x[0].square();
        x[0] = a0.square() * x[0];
        let mut y = mds_mul(&spec.mds, &x);
        let a1 = y[0];
        for (yk, c) in y.iter_mut().zip(spec.rc[r + 1].iter()) {
            *yk += c;
        }
        let a2 = y[0].square();
        y[0] = a2.square() * y[0];
        rows.push((s, [a0, a1, a2, Fr::zero()]));
        s = mds_mul(&spec.mds, &y);
    }
    for r in R_F / 2 + R_P..R_F + R_P {
        full(&mut s, r, &mut rows);
    }
    rows.push((s, [Fr::zero(); T]));
    debug_assert_eq!(rows.len(), ROWS_PER_PERM);
    rows
}

/// The permutation, natively (plain form).
pub fn permute_native(input: [Fr; T]) -> [Fr; T] {
    trace(input).last().expect("a trace has an output row").0
}

/// Round constants of row `row` of a permutation: `(c, c')` (zero where the row has no gate).
fn row_constants(row: usize) -> ([Fr; T], [Fr; T]) {
    let spec = &*PLAIN;
    let zero = [Fr::zero(); T];
    let half = R_F / 2;
    let partial_rows = R_P / 2;
    if row < half {
        (spec.rc[row], zero)
    } else if row < half + partial_rows {
        let r = half + 2 * (row - half);
        (spec.rc[r], spec.rc[r + 1])
    } else if row < half + partial_rows + half {
        (spec.rc[row + R_P - partial_rows], zero)
    } else {
        (zero, zero)
    }
}

/// Columns and selectors of the chip.
#[derive(Clone, Debug)]
pub struct PoseidonChipConfig {
    /// Per lane: state columns then helper columns.
    lanes: Vec<[Column<Advice>; COLUMNS_PER_LANE]>,
    /// Round constants of the row's (first) round.
    c: [Column<Fixed>; T],
    /// Round constants of the second partial round of a `partial2` row.
    c2: [Column<Fixed>; T],
    q_full: Selector,
    q_partial2: Selector,
}

impl PoseidonChipConfig {
    /// Configure `lanes` lanes (at least one).
    pub fn configure(meta: &mut ConstraintSystem<Fr>, lanes: usize) -> Self {
        assert!(lanes > 0, "a Poseidon chip needs at least one lane");
        let lanes: Vec<[Column<Advice>; COLUMNS_PER_LANE]> = (0..lanes)
            .map(|_| {
                let cols: [Column<Advice>; COLUMNS_PER_LANE] =
                    std::array::from_fn(|_| meta.advice_column());
                // inputs and outputs are copied to and from the flex gate
                for col in &cols[..T] {
                    meta.enable_equality(*col);
                }
                cols
            })
            .collect();
        let c: [Column<Fixed>; T] = std::array::from_fn(|_| meta.fixed_column());
        let c2: [Column<Fixed>; T] = std::array::from_fn(|_| meta.fixed_column());
        let q_full = meta.selector();
        let q_partial2 = meta.selector();
        let mds = PLAIN.mds;
        let lin = |row: &[Fr; T], v: &[Expression<Fr>; T]| -> Expression<Fr> {
            let mut acc = Expression::Constant(Fr::zero());
            for (m, e) in row.iter().zip(v.iter()) {
                acc = acc + Expression::Constant(*m) * e.clone();
            }
            acc
        };

        for lane in &lanes {
            meta.create_gate("poseidon full round", |meta| {
                let q = meta.query_selector(q_full);
                let s: [Expression<Fr>; T] =
                    std::array::from_fn(|k| meta.query_advice(lane[k], Rotation::cur()));
                let a: [Expression<Fr>; T] =
                    std::array::from_fn(|k| meta.query_advice(lane[T + k], Rotation::cur()));
                let next: [Expression<Fr>; T] =
                    std::array::from_fn(|k| meta.query_advice(lane[k], Rotation::next()));
                let c: [Expression<Fr>; T] =
                    std::array::from_fn(|k| meta.query_fixed(c[k], Rotation::cur()));
                let x: [Expression<Fr>; T] = std::array::from_fn(|k| s[k].clone() + c[k].clone());
                let y: [Expression<Fr>; T] =
                    std::array::from_fn(|k| a[k].clone() * a[k].clone() * x[k].clone());
                let mut out = Vec::with_capacity(2 * T);
                for k in 0..T {
                    out.push(q.clone() * (a[k].clone() - x[k].clone() * x[k].clone()));
                }
                for j in 0..T {
                    out.push(q.clone() * (next[j].clone() - lin(&mds[j], &y)));
                }
                out
            });
            meta.create_gate("poseidon two partial rounds", |meta| {
                let q = meta.query_selector(q_partial2);
                let s: [Expression<Fr>; T] =
                    std::array::from_fn(|k| meta.query_advice(lane[k], Rotation::cur()));
                let a0 = meta.query_advice(lane[T], Rotation::cur());
                let a1 = meta.query_advice(lane[T + 1], Rotation::cur());
                let a2 = meta.query_advice(lane[T + 2], Rotation::cur());
                let next: [Expression<Fr>; T] =
                    std::array::from_fn(|k| meta.query_advice(lane[k], Rotation::next()));
                let c: [Expression<Fr>; T] =
                    std::array::from_fn(|k| meta.query_fixed(c[k], Rotation::cur()));
                let c2: [Expression<Fr>; T] =
                    std::array::from_fn(|k| meta.query_fixed(c2[k], Rotation::cur()));
                // first partial round: x = s + c, x0 -> x0^5, y = M x
                let x0 = s[0].clone() + c[0].clone();
                let mut x: [Expression<Fr>; T] =
                    std::array::from_fn(|k| s[k].clone() + c[k].clone());
                x[0] = a0.clone() * a0.clone() * x0.clone();
                let y: [Expression<Fr>; T] = std::array::from_fn(|j| lin(&mds[j], &x));
                // second: z = y + c' with y0 held in a1, z0 -> z0^5, next = M z
                let z0 = a1.clone() + c2[0].clone();
                let mut z: [Expression<Fr>; T] =
                    std::array::from_fn(|k| y[k].clone() + c2[k].clone());
                z[0] = a2.clone() * a2.clone() * z0.clone();
                let mut out = vec![
                    q.clone() * (a0 - x0.clone() * x0),
                    q.clone() * (a1 - y[0].clone()),
                    q.clone() * (a2 - z0.clone() * z0),
                ];
                for j in 0..T {
                    out.push(q.clone() * (next[j].clone() - lin(&mds[j], &z)));
                }
                out
            });
        }
        Self {
            lanes,
            c,
            c2,
            q_full,
            q_partial2,
        }
    }

    /// Number of lanes.
    pub fn num_lanes(&self) -> usize {
        self.lanes.len()
    }
}

/// Configuration of a flex gate with a Poseidon chip: the flex gate's parameters and the
/// chip's lanes (0: no chip).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct BlockCircuitParams {
    /// halo2-base configuration (k, columns).
    pub base: BaseCircuitParams,
    /// Poseidon chip lanes of [`COLUMNS_PER_LANE`] advice columns each.
    pub lanes: usize,
}

/// halo2 configuration of a [`FlexPoseidonCircuit`].
#[derive(Clone, Debug)]
pub struct FlexPoseidonConfig {
    base: BaseConfig<Fr>,
    chip: Option<PoseidonChipConfig>,
}

/// A halo2-base flex-gate circuit plus the permutations it asked the chip for.
pub struct FlexPoseidonCircuit {
    builder: BaseCircuitBuilder<Fr>,
    table: PoseidonTable,
    params: BlockCircuitParams,
    copy: SharedCopyConstraintManager<Fr>,
}

impl FlexPoseidonCircuit {
    /// Wrap a built flex-gate circuit and its table. `copy` must be the builder's copy manager
    /// (`BaseCircuitBuilder::use_copy_manager`).
    pub fn new(
        builder: BaseCircuitBuilder<Fr>,
        table: PoseidonTable,
        params: BlockCircuitParams,
        copy: SharedCopyConstraintManager<Fr>,
    ) -> Self {
        Self {
            builder,
            table,
            params,
            copy,
        }
    }

    /// Flex-gate break points (from keygen, needed to prove).
    pub fn break_points(&self) -> MultiPhaseThreadBreakPoints {
        self.builder.break_points()
    }
}

impl Circuit<Fr> for FlexPoseidonCircuit {
    type Config = FlexPoseidonConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = BlockCircuitParams;

    fn params(&self) -> Self::Params {
        self.params.clone()
    }

    fn without_witnesses(&self) -> Self {
        unimplemented!("keys come from a dummy witness, never from a witness-free circuit")
    }

    fn configure_with_params(
        meta: &mut ConstraintSystem<Fr>,
        params: Self::Params,
    ) -> Self::Config {
        let base = BaseConfig::configure(meta, params.base);
        let chip = (params.lanes > 0).then(|| PoseidonChipConfig::configure(meta, params.lanes));
        FlexPoseidonConfig { base, chip }
    }

    fn configure(_: &mut ConstraintSystem<Fr>) -> Self::Config {
        unreachable!("configured with params")
    }

    fn synthesize(
        &self,
        config: Self::Config,
        mut layouter: impl Layouter<Fr>,
    ) -> Result<(), PlonkError> {
        // flex gate first: the chip's copy constraints need the positions of its cells
        self.builder
            .synthesize(config.base, layouter.namespace(|| "flex gate"))?;
        if let Some(chip) = &config.chip {
            let copy = (!self.builder.witness_gen_only()).then_some(&self.copy);
            layouter.assign_region(
                || "poseidon chip",
                |mut region| {
                    self.table.assign(chip, &mut region, copy);
                    Ok(())
                },
            )?;
        } else {
            assert!(
                self.table.is_empty(),
                "permutations recorded for a circuit configured without the chip"
            );
        }
        Ok(())
    }
}

/// One recorded permutation: flex-gate cells of its input and output.
#[derive(Clone, Debug)]
struct PermRecord {
    input: [AssignedValue<Fr>; T],
    output: [AssignedValue<Fr>; T],
}

/// The permutations a circuit asked for, in order.
#[derive(Clone, Debug, Default)]
pub struct PoseidonTable {
    perms: Vec<PermRecord>,
    /// Test-only fault injection: `(permutation, row, column, value)` overrides a chip cell.
    #[cfg(test)]
    faults: Vec<(usize, usize, usize, Fr)>,
}

impl PoseidonTable {
    /// Permute `input` (flex-gate cells): computes the output natively, loads it into `ctx` as
    /// witnesses and records both so that [`Self::assign`] can prove the relation.
    pub fn permute(
        &mut self,
        ctx: &mut Context<Fr>,
        input: [AssignedValue<Fr>; T],
    ) -> [AssignedValue<Fr>; T] {
        let out = permute_native(input.map(|v| *v.value()));
        let output: [AssignedValue<Fr>; T] = std::array::from_fn(|k| ctx.load_witness(out[k]));
        self.perms.push(PermRecord { input, output });
        output
    }

    /// Record a permutation whose output the caller claims (tests of the copy constraints).
    #[cfg(test)]
    fn permute_claiming(
        &mut self,
        ctx: &mut Context<Fr>,
        input: [AssignedValue<Fr>; T],
        claimed: [Fr; T],
    ) -> [AssignedValue<Fr>; T] {
        let output: [AssignedValue<Fr>; T] = std::array::from_fn(|k| ctx.load_witness(claimed[k]));
        self.perms.push(PermRecord { input, output });
        output
    }

    /// Permutations recorded.
    pub fn len(&self) -> usize {
        self.perms.len()
    }

    /// No permutation recorded.
    pub fn is_empty(&self) -> bool {
        self.perms.is_empty()
    }

    /// Lay out every permutation in `region` and, unless `copy` is `None` (witness generation
    /// only), copy-constrain inputs and outputs to the flex-gate cells. Must run after the
    /// flex-gate region is assigned.
    pub fn assign(
        &self,
        config: &PoseidonChipConfig,
        region: &mut Region<'_, Fr>,
        copy: Option<&SharedCopyConstraintManager<Fr>>,
    ) {
        let lanes = config.num_lanes();
        let blocks = self.perms.len().div_ceil(lanes).max(1);
        let zero_trace = trace([Fr::zero(); T]);
        let copies = copy.map(|c| c.lock().expect("copy manager lock"));
        for block in 0..blocks {
            let base = block * ROWS_PER_PERM;
            for row in 0..ROWS_PER_PERM {
                let (c, c2) = row_constants(row);
                for k in 0..T {
                    region.assign_fixed(config.c[k], base + row, c[k]);
                    region.assign_fixed(config.c2[k], base + row, c2[k]);
                }
                if row < R_F / 2 || (R_F / 2 + R_P / 2..ROWS_PER_PERM - 1).contains(&row) {
                    config
                        .q_full
                        .enable(region, base + row)
                        .expect("selector in range");
                } else if row < ROWS_PER_PERM - 1 {
                    config
                        .q_partial2
                        .enable(region, base + row)
                        .expect("selector in range");
                }
            }
            for (lane, cols) in config.lanes.iter().enumerate() {
                let record = self.perms.get(block * lanes + lane);
                #[allow(unused_mut)]
                let mut rows = match record {
                    Some(r) => trace(r.input.map(|v| *v.value())),
                    None => zero_trace.clone(),
                };
                #[cfg(test)]
                for &(p, row, col, v) in &self.faults {
                    if p == block * lanes + lane {
                        if col < T {
                            rows[row].0[col] = v;
                        } else {
                            rows[row].1[col - T] = v;
                        }
                    }
                }
                for (row, (s, a)) in rows.iter().enumerate() {
                    for k in 0..T {
                        let cell = region.assign_advice(cols[k], base + row, Value::known(s[k]));
                        region.assign_advice(cols[T + k], base + row, Value::known(a[k]));
                        if let (Some(record), Some(copies)) = (record, copies.as_ref()) {
                            let bound = if row == 0 {
                                Some(record.input[k])
                            } else if row == ROWS_PER_PERM - 1 {
                                Some(record.output[k])
                            } else {
                                None
                            };
                            if let Some(v) = bound {
                                let ctx_cell = v.cell.expect("flex-gate cell has a position");
                                let other = copies
                                    .assigned_advices
                                    .get(&ctx_cell)
                                    .expect("flex-gate region is assigned before the chip");
                                region.constrain_equal(cell.cell(), *other);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Rows the table needs with `lanes` lanes.
    pub fn rows(&self, lanes: usize) -> usize {
        self.perms.len().div_ceil(lanes).max(1) * ROWS_PER_PERM
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use halo2_base::halo2_proofs::halo2curves::ff::{Field, PrimeField};
    use rand::{SeedableRng, rngs::StdRng};

    /// The plain permutation is the one halo2-base's optimized spec computes: the sponge built
    /// on it gives [`crate::poseidon::hash`] for every input length the circuits use.
    #[test]
    fn plain_permutation_matches_optimized_hash() {
        let mut rng = StdRng::seed_from_u64(11);
        for len in 0..10 {
            let inputs: Vec<Fr> = (0..len).map(|_| Fr::random(&mut rng)).collect();
            let mut s = [Fr::zero(); T];
            s[0] = Fr::from_u128(1u128 << 64);
            let mut chunks: Vec<&[Fr]> = inputs.chunks(3).collect();
            if len % 3 == 0 {
                chunks.push(&[]);
            }
            for chunk in chunks {
                for (i, v) in chunk.iter().enumerate() {
                    s[1 + i] += *v;
                }
                if chunk.len() < 3 {
                    s[1 + chunk.len()] += Fr::one();
                }
                s = permute_native(s);
            }
            assert_eq!(s[1], crate::poseidon::hash(&inputs), "len {len}");
        }
    }

    use halo2_base::{
        gates::circuit::{CircuitBuilderStage, builder::BaseCircuitBuilder},
        halo2_proofs::dev::MockProver,
    };

    const K: u32 = 10;

    /// A flex gate loading three random states, permuting them in the chip (two lanes, so one
    /// lane holds a padding permutation) and exposing the outputs' first elements.
    fn circuit(
        claim: Option<[Fr; T]>,
        faults: Vec<(usize, usize, usize, Fr)>,
    ) -> (FlexPoseidonCircuit, Vec<Fr>) {
        let mut rng = StdRng::seed_from_u64(5);
        let copy = SharedCopyConstraintManager::default();
        let mut b = BaseCircuitBuilder::<Fr>::from_stage(CircuitBuilderStage::Mock)
            .use_k(K as usize)
            .use_instance_columns(1)
            .use_copy_manager(copy.clone());
        let mut table = PoseidonTable::default();
        let ctx = b.main(0);
        let mut outs = Vec::new();
        let mut public = Vec::new();
        for i in 0..3 {
            let input: [Fr; T] = std::array::from_fn(|_| Fr::random(&mut rng));
            let cells: [AssignedValue<Fr>; T] = std::array::from_fn(|k| ctx.load_witness(input[k]));
            let out = match (i, claim) {
                (1, Some(c)) => table.permute_claiming(ctx, cells, c),
                _ => table.permute(ctx, cells),
            };
            public.push(permute_native(input)[0]);
            outs.push(out[0]);
        }
        b.assigned_instances = vec![outs];
        let base = b.calculate_params(Some(20));
        table.faults = faults;
        let params = BlockCircuitParams { base, lanes: 2 };
        (FlexPoseidonCircuit::new(b, table, params, copy), public)
    }

    fn mock(c: &FlexPoseidonCircuit, public: Vec<Fr>) -> Result<(), usize> {
        MockProver::run(K, c, vec![public])
            .expect("mock prover runs")
            .verify()
            .map_err(|e| e.len())
    }

    /// Honest permutations pass and give the native outputs.
    #[test]
    fn chip_proves_native_permutations() {
        let (c, public) = circuit(None, vec![]);
        mock(&c, public).expect("honest chip passes");
    }

    /// A claimed output that is not the permutation of the input is refused by the copy
    /// constraint between the flex gate and the chip's output row.
    #[test]
    fn wrong_claimed_output_fails() {
        let (c, mut public) = circuit(Some([Fr::from(7); T]), vec![]);
        public[1] = Fr::from(7);
        assert!(mock(&c, public).is_err());
    }

    /// Every kind of chip cell is constrained: changing the input row (copy to the flex gate),
    /// a full-round helper, a partial-round helper, a middle state or the output row fails.
    #[test]
    fn tampered_chip_cells_fail() {
        for (row, col) in [
            (0, 2),
            (1, T + 3),
            (10, T),
            (10, T + 1),
            (10, T + 2),
            (20, 3),
            (36, 1),
            (36, 0),
        ] {
            let (c, public) = circuit(None, vec![(2, row, col, Fr::from(99))]);
            assert!(
                mock(&c, public).is_err(),
                "row {row} col {col} is unconstrained"
            );
        }
    }

    /// Row constants cover every round exactly once.
    #[test]
    fn row_constants_cover_all_rounds() {
        let spec = &*PLAIN;
        let mut seen = Vec::new();
        for row in 0..ROWS_PER_PERM - 1 {
            let (c, c2) = row_constants(row);
            seen.push(c);
            if (R_F / 2..R_F / 2 + R_P / 2).contains(&row) {
                seen.push(c2);
            }
        }
        assert_eq!(seen, spec.rc);
    }
}
