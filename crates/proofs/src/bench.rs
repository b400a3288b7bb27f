//! Benchmark figures (release build), printed as plain lines:
//! `cargo run --release -p parley-proofs --bin parley-proofs -- bench <what>` with `<what>` one
//! of `cells`, `tree`, `block <transfers>`, `agg <blocks>`, `all`. Peak memory is the process's VmHWM, so run
//! one block size per process for a clean figure.
#![allow(clippy::print_stdout)]
// Benchmarks measure wall-clock time by definition; nothing here reaches consensus code.
#![allow(clippy::disallowed_methods)]

use crate::{
    circuit::{BlockWitness, block_shape},
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
    let s1 = block_shape(1)?;
    let s4 = block_shape(4)?;
    let per_entry = (s4.advice_cells - s1.advice_cells) / 3;
    println!(
        "block circuit advice cells: capacity 1 = {}, capacity 4 = {}, per entry = {per_entry}, fixed overhead = {}",
        s1.advice_cells,
        s4.advice_cells,
        s1.advice_cells - per_entry
    );
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

/// One block proof of `transfers` transfers: keygen, prove, verify, memory.
pub fn block(transfers: u64) -> Result<(), BoxErr> {
    let pool = 64.max(transfers);
    let mut m = StateModel::new();
    let g = m.genesis(pool);
    let mut t = ProofTree::new();
    t.apply_diff_batch(&g)?;
    let d = m.transfers(transfers, pool, 11, addr(999_999));
    let cap = d.0.len();
    let t0 = Instant::now();
    let prover = Halo2BlockProver::setup(cap)?;
    let keygen = t0.elapsed().as_secs_f64();
    let header = crate::circuit::BlockHeader {
        chain_id: 1,
        slot: 1,
        block_commitment: alloy_primitives::B256::repeat_byte(1),
        prover_address: addr(77),
    };
    let t0 = Instant::now();
    let w = BlockWitness::build(&mut t, header, &d, cap)?;
    let wit = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let p = prover.prove_unchecked(&w)?;
    let prove = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    prover.verify(&w.public, &p)?;
    let verify = t0.elapsed().as_secs_f64();
    let s = prover.shape();
    println!(
        "block of {transfers} transfers: {cap} touched leaves, k={} advice cols={} cells={} | keygen {keygen:.1}s witness {wit:.2}s prove {prove:.1}s ({:.3} s/leaf) verify {:.1}ms | proof {} B | peak RSS {:.0} MiB",
        s.params.k,
        s.params.num_advice_per_phase.iter().sum::<usize>(),
        s.advice_cells,
        prove / cap as f64,
        verify * 1e3,
        p.bytes.len(),
        peak_rss_mib()
    );
    Ok(())
}

/// Aggregation of `n` one-transfer block proofs: keygen, prove, verify, EVM gas on anvil.
pub fn agg(n: usize) -> Result<(), BoxErr> {
    use crate::aggregation::{DEFAULT_AGG_K, EpochAggregator};
    let cap = 3;
    let prover = Halo2BlockProver::setup(cap)?;
    let mut m = StateModel::new();
    let g = m.genesis(8);
    let mut t = ProofTree::new();
    t.apply_diff_batch(&g)?;
    let mut snarks = Vec::new();
    for slot in 1..=n as u64 {
        let d = m.transfers(1, 8, slot, addr(999));
        let header = crate::circuit::BlockHeader {
            chain_id: 1,
            slot,
            block_commitment: alloy_primitives::B256::repeat_byte(slot as u8),
            prover_address: addr(77),
        };
        let w = BlockWitness::build(&mut t, header, &d, cap)?;
        let p = prover.prove(&w)?;
        snarks.push(prover.to_snark(&w.public, &p));
    }
    let t0 = Instant::now();
    let a = EpochAggregator::setup(&prover, n, DEFAULT_AGG_K)?;
    let keygen = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let e = a.aggregate(snarks)?;
    let prove = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    a.verify(&e)?;
    let verify = t0.elapsed().as_secs_f64();
    let code = crate::evm::compile_solidity(&a.solidity_verifier())?;
    let anvil = crate::evm::Anvil::spawn()?;
    let addr = anvil.deploy(&code)?;
    let gas = anvil.transact(&addr, &e.calldata())?;
    println!(
        "aggregation of {n} block proofs: k={} advice={} | keygen {keygen:.1}s prove {prove:.1}s verify {:.1}ms | proof {} B | EVM verify tx gas {gas} | creation code {} B | peak RSS {:.0} MiB",
        a.config().degree,
        a.config().num_advice,
        verify * 1e3,
        e.proof.len(),
        code.len(),
        peak_rss_mib()
    );
    Ok(())
}

/// Run the named benchmarks.
pub fn run(what: &[String]) -> Result<(), BoxErr> {
    match what.first().map(String::as_str) {
        Some("cells") => cells(),
        Some("tree") => tree(),
        Some("block") => {
            let n = what.get(1).map(|s| s.parse()).transpose()?.unwrap_or(10);
            block(n)
        }
        Some("agg") => {
            let n = what.get(1).map(|s| s.parse()).transpose()?.unwrap_or(2);
            agg(n)
        }
        Some("all") | None => {
            cells()?;
            tree()?;
            block(10)
        }
        Some(other) => Err(format!("unknown bench {other}").into()),
    }
}
