//! Benchmark figures (release build), printed as plain lines:
//! `cargo run --release -p parley-proofs --bin parley-proofs -- bench <what>` with `<what>` one
//! of `cells`, `tree`, `block <transfers>`, `agg <blocks>`, `agg-tree <blocks> <leaf capacity> [<leaves per middle node>]`, `srs [k...]`, `keys [capacity...]`, `all`. Peak memory is the process's VmHWM, so run
//! one block size per process for a clean figure.
#![allow(clippy::print_stdout)]
// Benchmarks measure wall-clock time by definition; nothing here reaches consensus code.
#![allow(clippy::disallowed_methods)]

use crate::{
    circuit::{
        BlockWitness, DEFAULT_INDEX_BITS, FULL_INDEX_BITS, HashBackend, block_shape,
        block_shape_for,
    },
    poseidon::{R_F, R_P, RATE, SPEC, T},
    prover::{BlockProver, Halo2BlockProver},
    tree::ProofTree,
    vectors::{StateModel, addr},
};
use halo2_base::{
    gates::{RangeInstructions, circuit::builder::BaseCircuitBuilder},
    halo2_proofs::halo2curves::bn256::Fr,
    poseidon::hasher::{PoseidonHasher, spec::OptimizedPoseidonSpec},
};
use std::time::Instant;

type BoxErr = Box<dyn std::error::Error>;

/// Peak resident memory of this process in MiB (Linux VmHWM).
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn cells_of<const TT: usize, const RR: usize>(
    spec: OptimizedPoseidonSpec<Fr, TT, RR>,
    n: usize,
) -> usize {
    let mut b = BaseCircuitBuilder::<Fr>::new(false)
        .use_k(12)
        .use_lookup_bits(8);
    let range = b.range_chip();
    let ctx = b.main(0);
    let mut h = PoseidonHasher::<Fr, TT, RR>::new(spec);
    h.initialize_consts(ctx, range.gate());
    let inputs = ctx.assign_witnesses((0..n as u64).map(Fr::from));
    let before = ctx.advice.len();
    let _ = h.hash_fix_len_array(ctx, range.gate(), &inputs);
    ctx.advice.len() - before
}

fn native_us<F: FnMut()>(iters: u32, mut f: F) -> f64 {
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    t.elapsed().as_secs_f64() * 1e6 / f64::from(iters)
}

/// Cells per Poseidon hash for t=3 / t=4, native µs, cells per diff entry.
pub fn cells() -> Result<(), BoxErr> {
    let t3 = OptimizedPoseidonSpec::<Fr, 3, 2>::new::<8, 57, 0>();
    for n in [2usize, 7, 8] {
        println!(
            "poseidon cells for {n} inputs: t=3 {} | t=4 {}",
            cells_of(t3.clone(), n),
            cells_of(SPEC.clone(), n)
        );
    }
    let (a, b) = (Fr::from(1), Fr::from(2));
    let us4 = native_us(20_000, || {
        std::hint::black_box(crate::poseidon::hash2(a, b));
    });
    let us3 = native_us(5_000, || {
        let mut h =
            snark_verifier_sdk::snark_verifier::util::hash::Poseidon::<Fr, Fr, 3, 2>::from_spec(
                &snark_verifier_sdk::NativeLoader,
                t3.clone(),
            );
        h.update(&[a, b]);
        std::hint::black_box(h.squeeze());
    });
    println!(
        "native 2->1 hash: t=4 (ours) {us4:.1} us | t=3 (snark-verifier, incl. spec clone) {us3:.1} us"
    );
    for (backend, bits) in [
        (HashBackend::FlexGate, FULL_INDEX_BITS),
        (HashBackend::Chip, FULL_INDEX_BITS),
        (HashBackend::Chip, DEFAULT_INDEX_BITS),
    ] {
        let s1 = block_shape_for(1, backend, bits)?;
        let s4 = block_shape_for(4, backend, bits)?;
        let per_entry = (s4.flex_cells - s1.flex_cells) / 3;
        let perms = (s4.permutations - s1.permutations) / 3;
        let per_proof = s1.permutations - perms;
        let chip_per_entry =
            perms * crate::poseidon_chip::ROWS_PER_PERM * crate::poseidon_chip::COLUMNS_PER_LANE;
        println!(
            "block circuit ({backend:?}, {bits} index bits): flex-gate cells per entry = {per_entry}, chip permutations per entry = {perms} ({chip_per_entry} chip cells) and per proof = {per_proof}, cells per entry in all = {}",
            per_entry + chip_per_entry
        );
    }
    println!(
        "poseidon chip: {} rows x {} advice columns = {} cells per permutation, gate degree 4",
        crate::poseidon_chip::ROWS_PER_PERM,
        crate::poseidon_chip::COLUMNS_PER_LANE,
        crate::poseidon_chip::ROWS_PER_PERM * crate::poseidon_chip::COLUMNS_PER_LANE
    );
    let _ = block_shape;
    println!("poseidon params: t={T} rate={RATE} R_F={R_F} R_P={R_P}");
    Ok(())
}

/// Native tree throughput: batches of 1,000 and 10,000 inserted/updated leaves.
pub fn tree() -> Result<(), BoxErr> {
    for n in [1_000u64, 10_000] {
        let mut m = StateModel::new();
        let g = m.genesis(n);
        let mut t = ProofTree::new();
        let t0 = Instant::now();
        t.apply_diff_batch(&g)?;
        let ins = t0.elapsed().as_secs_f64();
        // an update batch touching every leaf once (transfers between all of them)
        let d = m.transfers(n, n, 7, addr(999_999));
        let t0 = Instant::now();
        t.apply_diff_batch(&d)?;
        let upd = t0.elapsed().as_secs_f64();
        let mut t2 = ProofTree::new();
        t2.apply_diff_batch(&g)?;
        let t0 = Instant::now();
        t2.apply_diff(&d)?;
        let seq = t0.elapsed().as_secs_f64();
        println!(
            "tree batch of {n} inserts: {:.0} leaves/s | batch update of {} leaves: {:.0} leaves/s | sequential (with paths) {:.0} leaves/s",
            n as f64 / ins,
            d.0.len(),
            d.0.len() as f64 / upd,
            d.0.len() as f64 / seq
        );
    }
    Ok(())
}

/// A proof tree over a funded genesis (at least 64 accounts) and the diff of one block of
/// `transfers` transfers on it.
fn transfer_block(transfers: u64) -> Result<(ProofTree, crate::types::StateDiff), BoxErr> {
    let pool = 64.max(transfers);
    let mut m = StateModel::new();
    let g = m.genesis(pool);
    let mut t = ProofTree::new();
    t.apply_diff_batch(&g)?;
    let d = m.transfers(transfers, pool, 11, addr(999_999));
    Ok((t, d))
}

/// The header the benchmarks prove blocks under.
fn bench_header() -> crate::circuit::BlockHeader {
    crate::circuit::BlockHeader {
        chain_id: 1,
        slot: 1,
        chunk_index: 0,
        chunk_count: 1,
        block_commitment: alloy_primitives::B256::repeat_byte(1),
        prover_address: addr(77),
    }
}

/// One block proof of `transfers` transfers: keygen, prove, verify, memory; the circuit opens
/// `bits` bits of each index (ADR 0021) and holds `capacity` entries (default: the block's
/// touched leaves; more pads the block).
pub fn block(
    transfers: u64,
    backend: HashBackend,
    bits: u32,
    capacity: Option<usize>,
) -> Result<(), BoxErr> {
    let (mut t, d) = transfer_block(transfers)?;
    let leaves = d.0.len();
    let cap = capacity.unwrap_or(leaves).max(leaves);
    let t0 = Instant::now();
    let prover = Halo2BlockProver::setup_shape(block_shape_for(cap, backend, bits)?)?;
    let keygen = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let w = BlockWitness::build(&mut t, bench_header(), &d, cap)?;
    let wit = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let p = prover.prove_unchecked(&w)?;
    let prove = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    prover.verify(&w.public, &p)?;
    let verify = t0.elapsed().as_secs_f64();
    let s = prover.shape();
    println!(
        "block of {transfers} transfers ({backend:?}, {bits} index bits): {leaves} touched leaves, capacity {cap}, k={} flex cols={} chip lanes={} cells={} | keygen {keygen:.1}s witness {wit:.2}s prove {prove:.1}s ({:.3} s/leaf) verify {:.1}ms | proof {} B | peak RSS {:.0} MiB",
        s.k(),
        s.params.base.num_advice_per_phase.iter().sum::<usize>(),
        s.params.lanes,
        s.advice_cells,
        prove / leaves as f64,
        verify * 1e3,
        p.bytes.len(),
        peak_rss_mib()
    );
    println!(
        "RESULT backend={backend:?} bits={bits} transfers={transfers} leaves={leaves} capacity={cap} prove_s={prove:.3} s_per_leaf={:.5} peak_mib={:.0}",
        prove / leaves as f64,
        peak_rss_mib()
    );
    Ok(())
}

/// A worker's proving loop: the block circuit of `capacity` entries (keys made first, not
/// timed), one block of `transfers` transfers padded to it, proven again and again for
/// `seconds`. `scripts/bench-workers.sh` runs it pinned to one core, once alone and twice side
/// by side, for proofs per minute with one and two workers.
pub fn prove_loop(capacity: usize, transfers: u64, seconds: f64) -> Result<(), BoxErr> {
    let (mut t, d) = transfer_block(transfers)?;
    if d.0.len() > capacity {
        return Err(format!(
            "{transfers} transfers touch {} leaves, over the capacity {capacity}",
            d.0.len()
        )
        .into());
    }
    let prover = Halo2BlockProver::setup(capacity)?;
    let w = BlockWitness::build(&mut t, bench_header(), &d, capacity)?;
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    let t0 = Instant::now();
    let mut proofs = 0u64;
    while t0.elapsed().as_secs_f64() < seconds {
        let p = prover.prove_unchecked(&w)?;
        if proofs == 0 {
            prover.verify(&w.public, &p)?;
        }
        proofs += 1;
    }
    let el = t0.elapsed().as_secs_f64();
    println!(
        "RESULT prove_loop capacity={capacity} leaves={} rayon_threads={threads} proofs={proofs} seconds={el:.1} per_min={:.2} s_per_proof={:.2} peak_mib={:.0}",
        d.0.len(),
        proofs as f64 * 60.0 / el,
        el / proofs.max(1) as f64,
        peak_rss_mib()
    );
    Ok(())
}

/// Aggregation of `n` one-transfer block proofs, then the compression layer: keygen, prove,
/// verify, EVM gas on anvil, verifier size. `PARLEY_AGG_K` / `PARLEY_COMPRESS_K` override the
/// degrees (defaults: `layer1_degree(n)` and `DEFAULT_COMPRESS_K`, ADR 0019).
/// `n` block proofs of a capacity-3 block circuit, one transfer each, chained from one genesis:
/// the prover, the snarks, and the seconds they took.
fn epoch_blocks(
    n: usize,
) -> Result<(Halo2BlockProver, Vec<snark_verifier_sdk::Snark>, f64), BoxErr> {
    let cap = 3;
    let prover = Halo2BlockProver::setup(cap)?;
    let mut m = StateModel::new();
    let g = m.genesis(8);
    let mut t = ProofTree::new();
    t.apply_diff_batch(&g)?;
    let mut snarks = Vec::new();
    let t0 = Instant::now();
    for slot in 1..=n as u64 {
        let d = m.transfers(1, 8, slot, addr(999));
        let header = crate::circuit::BlockHeader {
            chain_id: 1,
            slot,
            chunk_index: 0,
            chunk_count: 1,
            block_commitment: alloy_primitives::B256::repeat_byte(slot as u8),
            prover_address: addr(77),
        };
        let w = BlockWitness::build(&mut t, header, &d, cap)?;
        let p = prover.prove(&w)?;
        snarks.push(prover.to_snark(&w.public, &p));
    }
    Ok((prover, snarks, t0.elapsed().as_secs_f64()))
}

/// A degree from the environment variable `name`, else `default`.
fn env_k(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Layer 1 of `n` block proofs at `layer1_degree(n)` (`PARLEY_AGG_K`), then the compression
/// and its EVM verification: `bench agg N`.
pub fn agg(n: usize) -> Result<(), BoxErr> {
    use crate::aggregation::{EpochAggregator, layer1_degree};
    let (prover, snarks, blocks) = epoch_blocks(n)?;
    let t0 = Instant::now();
    let a = EpochAggregator::setup(&prover, n, env_k("PARLEY_AGG_K", layer1_degree(n)))?;
    let keygen = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let e = a.aggregate(&addr(78), snarks)?;
    let prove = t0.elapsed().as_secs_f64();
    let rss_layer1 = peak_rss_mib();
    println!(
        "layer 1, {n} block proofs: k={} advice={} lookup={} | block proofs {blocks:.1}s keygen {keygen:.1}s prove {prove:.1}s | peak RSS so far {rss_layer1:.0} MiB",
        a.config().degree,
        a.config().num_advice,
        a.config().num_lookup_advice,
    );
    compress_and_verify(n, a.params(), a.vk(), e, prove)
}

/// An aggregation tree (`crate::aggregation::tree`) over `n` block proofs in leaves of `c`,
/// with a middle layer of nodes over `m` leaves each when `m` is given: the leaves at
/// `layer1_degree(c)` (`PARLEY_LEAF_K`), the middle nodes at `root_degree(m)`
/// (`PARLEY_MIDDLE_K`), the root at `root_degree(its inputs)` (`PARLEY_ROOT_K`), then the same
/// compression and EVM verification as `agg`. Each layer's proving keys are dropped once the
/// next layer's are made. Checks that the root's statement is the flat epoch commitment of the
/// same blocks: `bench agg-tree N C [M]`.
pub fn agg_tree(n: usize, c: usize, m: Option<usize>) -> Result<(), BoxErr> {
    use crate::aggregation::{
        epoch_commitment, layer1_degree,
        tree::{LeafAggregator, MiddleAggregator, RootAggregator, root_degree, statement},
    };
    if c == 0 || n == 0 || m.is_some_and(|m| m < 2) {
        return Err(
            "agg-tree N C [M]: N blocks in leaves of C, M leaves per middle node (at least 2)"
                .into(),
        );
    }
    let (prover, snarks, blocks) = epoch_blocks(n)?;
    let pi_hashes: Vec<Fr> = snarks.iter().map(|s| s.instances[0][2]).collect();
    let (first_pre, last_post) = (snarks[0].instances[0][0], snarks[n - 1].instances[0][1]);
    let times = |v: &[f64]| {
        v.iter()
            .map(|s| format!("{s:.1}s"))
            .collect::<Vec<_>>()
            .join(" + ")
    };
    let t0 = Instant::now();
    let leaf = LeafAggregator::setup(&prover, c, env_k("PARLEY_LEAF_K", layer1_degree(c)))?;
    let leaf_keygen = t0.elapsed().as_secs_f64();
    let mut layer = Vec::new();
    let mut proving = Vec::new();
    for run in snarks.chunks(c) {
        let t0 = Instant::now();
        layer.push(leaf.aggregate(run.to_vec())?);
        proving.push(t0.elapsed().as_secs_f64());
    }
    println!(
        "leaves: {} of up to {c} block proofs: k={} advice={} lookup={} | block proofs {blocks:.1}s keygen {leaf_keygen:.1}s prove {} | peak RSS so far {:.0} MiB",
        layer.len(),
        leaf.config().degree,
        leaf.config().num_advice,
        leaf.config().num_lookup_advice,
        times(&proving),
        peak_rss_mib()
    );
    let mut layers: f64 = proving.iter().sum();
    let middle = match m {
        None => None,
        Some(m) => {
            let t0 = Instant::now();
            let mid = MiddleAggregator::setup(
                leaf.as_child(),
                m,
                env_k("PARLEY_MIDDLE_K", root_degree(m)),
            )?;
            let keygen = t0.elapsed().as_secs_f64();
            let mut proving = Vec::new();
            let mut next = Vec::new();
            for run in layer.chunks(m) {
                let t0 = Instant::now();
                next.push(mid.aggregate(run.to_vec())?);
                proving.push(t0.elapsed().as_secs_f64());
            }
            println!(
                "middle nodes: {} of up to {m} leaves: k={} advice={} lookup={} | keygen {keygen:.1}s prove {} | peak RSS so far {:.0} MiB",
                next.len(),
                mid.config().degree,
                mid.config().num_advice,
                mid.config().num_lookup_advice,
                times(&proving),
                peak_rss_mib()
            );
            layers += proving.iter().sum::<f64>();
            layer = next;
            Some(mid)
        }
    };
    let children = layer.len();
    let t0 = Instant::now();
    let root = {
        let child = middle.as_ref().map_or(leaf.as_child(), |m| m.as_child());
        RootAggregator::setup(
            child,
            children,
            env_k("PARLEY_ROOT_K", root_degree(children)),
        )?
    };
    let root_keygen = t0.elapsed().as_secs_f64();
    // The lower layers' proving keys are not needed any more: the root holds what checks them.
    drop(middle);
    drop(leaf);
    let t0 = Instant::now();
    let e = root.aggregate(&addr(78), layer)?;
    let root_prove = t0.elapsed().as_secs_f64();
    let got = statement(&e).ok_or("the root snark has no epoch statement")?;
    let want = epoch_commitment(&addr(78), root.capacity(), &pi_hashes)
        .ok_or("no epoch commitment for these blocks")?;
    if got.epoch_commitment != want
        || got.first_pre_root != first_pre
        || got.last_post_root != last_post
    {
        return Err(format!(
            "the root's statement {got:?} is not the flat layer 1's (pre {first_pre:?}, post {last_post:?}, commitment {want:?})"
        )
        .into());
    }
    println!(
        "root: {children} inputs: k={} advice={} lookup={} | keygen {root_keygen:.1}s prove {root_prove:.1}s | statement = the flat epoch commitment at capacity {} | peak RSS so far {:.0} MiB",
        root.config().degree,
        root.config().num_advice,
        root.config().num_lookup_advice,
        root.capacity(),
        peak_rss_mib()
    );
    compress_and_verify(n, root.params(), root.vk(), e, layers + root_prove)
}

/// The compression of an epoch snark of the aggregation circuit (`params`, `vk`) at
/// `PARLEY_COMPRESS_K` (default 22), its native and EVM verification, and the figures, with
/// `layer1_s` the seconds the layers below took to prove.
fn compress_and_verify(
    n: usize,
    params: &halo2_base::halo2_proofs::poly::kzg::commitment::ParamsKZG<
        halo2_base::halo2_proofs::halo2curves::bn256::Bn256,
    >,
    vk: &halo2_base::halo2_proofs::plonk::VerifyingKey<
        halo2_base::halo2_proofs::halo2curves::bn256::G1Affine,
    >,
    e: snark_verifier_sdk::Snark,
    layer1_s: f64,
) -> Result<(), BoxErr> {
    use crate::aggregation::{DEFAULT_COMPRESS_K, EpochCompressor};
    let t0 = Instant::now();
    let c = EpochCompressor::setup_for(params, vk, env_k("PARLEY_COMPRESS_K", DEFAULT_COMPRESS_K))?;
    let ckeygen = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let proof = c.compress(e)?;
    let cprove = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    c.verify(&proof)?;
    let verify = t0.elapsed().as_secs_f64();
    let sol = c.solidity_verifier();
    if let Some(dir) = std::env::var_os("PARLEY_BENCH_OUT") {
        std::fs::write(
            std::path::Path::new(&dir).join(format!("compression_verifier_{n}.sol")),
            &sol,
        )?;
    }
    let code = crate::evm::compile_solidity(&sol)?;
    let anvil = crate::evm::Anvil::spawn_unlimited()?;
    let vaddr = anvil.deploy(&code)?;
    let runtime = anvil.code_size(&vaddr)?;
    let gas = anvil.transact(&vaddr, &proof.calldata())?;
    match crate::evm::compile_solidity_with(&sol, true) {
        Ok(opt) => {
            let oaddr = anvil.deploy(&opt)?;
            println!(
                "with the solc optimizer: runtime code {} B, EVM verify tx gas {}",
                anvil.code_size(&oaddr)?,
                anvil.transact(&oaddr, &proof.calldata())?
            );
        }
        Err(e) => println!("solc optimizer failed on the verifier: {e}"),
    }
    println!(
        "compression: k={} advice={} lookup={} | keygen {ckeygen:.1}s prove {cprove:.1}s verify {:.1}ms | proof {} B, calldata {} B | EVM verify tx gas {gas} | creation code {} B, runtime code {runtime} B | peak RSS {:.0} MiB",
        c.config().degree,
        c.config().num_advice,
        c.config().num_lookup_advice,
        verify * 1e3,
        proof.proof.len(),
        proof.calldata().len(),
        code.len(),
        peak_rss_mib()
    );
    println!(
        "RESULT epoch={n} layer1_prove_s={layer1_s:.1} compress_prove_s={cprove:.1} gas={gas} runtime_bytes={runtime} peak_mib={:.0}",
        peak_rss_mib()
    );
    Ok(())
}

/// The flex-gate block circuit, the chip circuit opening whole paths, and the chip circuit
/// with the top levels hashed once per proof (ADR 0021), side by side, each size and circuit
/// in its own process (so peak memory is that proof's): `compare [transfers…]` (default 10
/// 100). `PARLEY_COMPARE_FLEX=0` leaves the flex gate out (it needs ~100 GiB at 1,000).
pub fn compare(sizes: &[String]) -> Result<(), BoxErr> {
    let sizes: Vec<u64> = if sizes.is_empty() {
        vec![10, 100]
    } else {
        sizes.iter().map(|s| s.parse()).collect::<Result<_, _>>()?
    };
    let flex = std::env::var("PARLEY_COMPARE_FLEX").map_or(true, |v| v != "0");
    let run = |n: u64, backend: &str, bits: u32| run_block(n, backend, bits, None);
    for n in sizes {
        let (full_s, full_leaf, full_mib) = run(n, "chip", FULL_INDEX_BITS)?;
        let (top_s, top_leaf, top_mib) = run(n, "chip", DEFAULT_INDEX_BITS)?;
        println!(
            "COMPARE transfers={n}: chip, whole paths {full_s:.1}s ({full_leaf:.3} s/leaf, {full_mib:.0} MiB) | chip, {DEFAULT_INDEX_BITS} index bits {top_s:.1}s ({top_leaf:.3} s/leaf, {top_mib:.0} MiB) | speed-up {:.2}x, memory ratio {:.2}",
            full_s / top_s,
            top_mib / full_mib
        );
        if flex {
            let (flex_s, flex_leaf, flex_mib) = run(n, "flex", FULL_INDEX_BITS)?;
            println!(
                "COMPARE transfers={n}: flex gate {flex_s:.1}s ({flex_leaf:.3} s/leaf, {flex_mib:.0} MiB) | chip, {DEFAULT_INDEX_BITS} index bits {top_s:.1}s | speed-up {:.2}x, memory ratio {:.2}",
                flex_s / top_s,
                top_mib / flex_mib
            );
        }
    }
    Ok(())
}

/// `bench block` in a child process (so its peak memory is that proof's): prove seconds,
/// seconds per touched leaf, peak MiB.
fn run_block(
    n: u64,
    backend: &str,
    bits: u32,
    capacity: Option<usize>,
) -> Result<(f64, f64, f64), BoxErr> {
    let exe = std::env::current_exe()?;
    let mut args = vec![
        "bench".to_string(),
        "block".into(),
        n.to_string(),
        backend.into(),
        bits.to_string(),
    ];
    args.extend(capacity.map(|c| c.to_string()));
    let out = std::process::Command::new(&exe)
        .args(&args)
        .stderr(std::process::Stdio::inherit())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    if !out.status.success() {
        return Err(format!("bench {} failed: {}", args.join(" "), out.status).into());
    }
    let line = text
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .ok_or("no RESULT line")?;
    let field = |name: &str| -> Result<f64, BoxErr> {
        let v = line
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .ok_or_else(|| format!("no {name} in {line}"))?;
        Ok(v.parse()?)
    };
    Ok((field("prove_s")?, field("s_per_leaf")?, field("peak_mib")?))
}

/// Full circuits: for each index-bits value, the largest capacity whose chip circuit has
/// degree `k` and `lanes` lanes, filled with a block of transfers (the most whose touched
/// leaves fit), proven in its own process. `fill [k] [lanes]` (default 20 3: the circuit of
/// a 1,000-transfer block with whole paths). Seconds per leaf of a full circuit is what a
/// chain that sizes `block_capacity` to its circuit pays.
pub fn fill(args: &[String]) -> Result<(), BoxErr> {
    let k: u32 = args.first().map(|s| s.parse()).transpose()?.unwrap_or(20);
    let lanes: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(3);
    let usable = (1usize << k) - crate::circuit::MINIMUM_ROWS - 1;
    let perms = lanes * (usable / crate::poseidon_chip::ROWS_PER_PERM);
    let mut results = Vec::new();
    for bits in [FULL_INDEX_BITS, DEFAULT_INDEX_BITS] {
        let s1 = block_shape_for(1, HashBackend::Chip, bits)?;
        let s2 = block_shape_for(2, HashBackend::Chip, bits)?;
        let per_entry = s2.permutations - s1.permutations;
        let per_proof = s1.permutations - per_entry;
        let mut cap = (perms - per_proof) / per_entry;
        // the flex gate's columns may push the degree: step down until the shape is k/lanes
        loop {
            let s = block_shape_for(cap, HashBackend::Chip, bits)?;
            if s.k() <= k && s.params.lanes <= lanes {
                break;
            }
            cap -= 1;
        }
        // the most transfers whose block touches at most `cap` leaves
        let (mut lo, mut hi) = (1u64, cap as u64);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if transfer_block(mid)?.1.0.len() <= cap {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        println!(
            "FILL {bits} index bits: k = {k}, {lanes} lanes hold {cap} entries ({per_entry} permutations each, {per_proof} per proof); {lo} transfers fill it"
        );
        let (secs, per_leaf, mib) = run_block(lo, "chip", bits, Some(cap))?;
        results.push((bits, cap, secs, per_leaf, mib));
    }
    if let [(b0, c0, s0, l0, m0), (b1, c1, s1, l1, m1)] = results[..] {
        println!(
            "FILL k={k} lanes={lanes}: {b0} bits, capacity {c0}: {s0:.1}s ({l0:.3} s/leaf, {m0:.0} MiB) | {b1} bits, capacity {c1}: {s1:.1}s ({l1:.3} s/leaf, {m1:.0} MiB) | per leaf {:.2}x faster, {:.2}x the entries per proof",
            l0 / l1,
            c1 as f64 / c0 as f64
        );
    }
    Ok(())
}

/// Generating the development SRS for each `k`: [`crate::params::generate_srs_seeded`] against
/// halo2's `ParamsKZG::setup` with the same seed, in this run, checking that both give the same
/// bytes, with the ratio.
pub fn srs(ks: &[String]) -> Result<(), BoxErr> {
    use halo2_base::halo2_proofs::{
        SerdeFormat, halo2curves::bn256::Bn256, poly::kzg::commitment::ParamsKZG,
    };
    use rand::SeedableRng;
    let bytes = |p: &ParamsKZG<Bn256>| -> Result<Vec<u8>, BoxErr> {
        let mut v = Vec::new();
        p.write_custom(&mut v, SerdeFormat::RawBytes)?;
        Ok(v)
    };
    let ks: Vec<u32> = if ks.is_empty() {
        vec![14, 16, 18]
    } else {
        ks.iter().map(|k| k.parse()).collect::<Result<_, _>>()?
    };
    for k in ks {
        let t = Instant::now();
        let ours = crate::params::generate_srs(k);
        let ours_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let halo2 = ParamsKZG::<Bn256>::setup(
            k,
            rand_chacha::ChaCha20Rng::from_seed(crate::params::SRS_SEED),
        );
        let halo2_s = t.elapsed().as_secs_f64();
        let same = bytes(&ours)? == bytes(&halo2)?;
        println!(
            "srs k={k}: table {ours_s:.2} s, halo2 setup {halo2_s:.2} s, ratio {:.1}x, same bytes: {same}",
            halo2_s / ours_s
        );
        if !same {
            return Err(format!("k = {k}: the two setups differ").into());
        }
    }
    Ok(())
}

/// A worker's start: keygen of the block circuit for each capacity against reading the same
/// keys from the key cache ([`crate::keycache`]), in this run, with the ratio and the file's
/// size. The cache is a fresh temporary directory (the SRS comes from the usual cache).
pub fn keys(caps: &[String]) -> Result<(), BoxErr> {
    use crate::BlockProver as _;
    use crate::keycache::{KeySource, key_path};
    let caps: Vec<usize> = if caps.is_empty() {
        vec![16, 64]
    } else {
        caps.iter().map(|c| c.parse()).collect::<Result<_, _>>()?
    };
    let dir = std::env::temp_dir().join(format!("parley-bench-keys-{}", std::process::id()));
    for cap in caps {
        let _ = std::fs::remove_dir_all(&dir);
        // The SRS is loaded outside the timings.
        let vk = crate::BlockVerifier::setup(cap)?.vk_hash();
        let t = Instant::now();
        let (made, src) =
            crate::Halo2BlockProver::setup_cached(cap, crate::circuit::FULL_INDEX_BITS, vk, &dir)?;
        let keygen_s = t.elapsed().as_secs_f64();
        assert_eq!(src, KeySource::Keygen);
        let mib = std::fs::metadata(key_path(&dir, vk))?.len() as f64 / (1 << 20) as f64;
        drop(made);
        let t = Instant::now();
        let (read, src) =
            crate::Halo2BlockProver::setup_cached(cap, crate::circuit::FULL_INDEX_BITS, vk, &dir)?;
        let read_s = t.elapsed().as_secs_f64();
        if src != KeySource::Cache || read.vk_hash() != vk {
            return Err(format!("capacity {cap}: the cache was not read back").into());
        }
        println!(
            "keys capacity={cap} (k={}): keygen + write {keygen_s:.2} s, read {read_s:.2} s, ratio {:.1}x, file {mib:.0} MiB",
            read.shape().k(),
            keygen_s / read_s
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Run the named benchmarks.
pub fn run(what: &[String]) -> Result<(), BoxErr> {
    match what.first().map(String::as_str) {
        Some("cells") => cells(),
        Some("tree") => tree(),
        Some("block") => {
            let n = what.get(1).map(|s| s.parse()).transpose()?.unwrap_or(10);
            let backend = match what.get(2).map(String::as_str) {
                None | Some("chip") => HashBackend::Chip,
                Some("flex") => HashBackend::FlexGate,
                Some(other) => return Err(format!("unknown backend {other} (chip|flex)").into()),
            };
            let bits = what
                .get(3)
                .map(|s| s.parse())
                .transpose()?
                .unwrap_or(FULL_INDEX_BITS);
            let cap = what.get(4).map(|s| s.parse()).transpose()?;
            block(n, backend, bits, cap)
        }
        Some("compare") => compare(&what[1..]),
        Some("fill") => fill(&what[1..]),
        Some("srs") => srs(&what[1..]),
        Some("keys") => keys(&what[1..]),
        Some("prove-loop") => {
            let cap = what.get(1).map(|s| s.parse()).transpose()?.unwrap_or(16);
            let transfers = what.get(2).map(|s| s.parse()).transpose()?.unwrap_or(4);
            let seconds = what.get(3).map(|s| s.parse()).transpose()?.unwrap_or(60.0);
            prove_loop(cap, transfers, seconds)
        }
        Some("agg") => {
            let n = what.get(1).map(|s| s.parse()).transpose()?.unwrap_or(2);
            agg(n)
        }
        Some("agg-tree") => {
            let n = what.get(1).map(|s| s.parse()).transpose()?.unwrap_or(8);
            let c = what.get(2).map(|s| s.parse()).transpose()?.unwrap_or(4);
            let m = what.get(3).map(|s| s.parse()).transpose()?;
            agg_tree(n, c, m)
        }
        Some("all") | None => {
            cells()?;
            tree()?;
            block(10, HashBackend::Chip, DEFAULT_INDEX_BITS, None)
        }
        Some(other) => Err(format!("unknown bench {other}").into()),
    }
}
