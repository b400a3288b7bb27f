//! Native Poseidon over BN254 `Fr`, bit-for-bit the sponge of `halo2-base`'s in-circuit
//! `PoseidonHasher` (ADR 0003): width `T = 4`, rate 3, `R_F = 8`, `R_P = 56`, the Grain-LFSR
//! constants of `OptimizedPoseidonSpec`, capacity initialised to `2^64`, inputs absorbed in
//! chunks of 3 with `1‖0…` padding (an extra permutation when the length is a multiple of 3),
//! output = state[1].

use halo2_base::halo2_proofs::halo2curves::ff::PrimeField;
use halo2_base::{
    halo2_proofs::halo2curves::bn256::Fr, poseidon::hasher::spec::OptimizedPoseidonSpec,
};
use std::sync::LazyLock;

/// Poseidon state width.
pub const T: usize = 4;
/// Sponge rate.
pub const RATE: usize = 3;
/// Full rounds.
pub const R_F: usize = 8;
/// Partial rounds (t = 4, BN254, 128-bit security).
pub const R_P: usize = 56;

/// The spec shared by native and circuit code.
pub static SPEC: LazyLock<OptimizedPoseidonSpec<Fr, T, RATE>> =
    LazyLock::new(OptimizedPoseidonSpec::new::<R_F, R_P, 0>);

fn sbox(x: Fr, c: Fr) -> Fr {
    let x2 = x.square();
    let x4 = x2.square();
    x * x4 + c
}

fn apply_mds(s: &mut [Fr; T], mds: &[[Fr; T]; T]) {
    let mut out = [Fr::zero(); T];
    for (o, row) in out.iter_mut().zip(mds.iter()) {
        let mut acc = Fr::zero();
        for (a, b) in row.iter().zip(s.iter()) {
            acc += *a * *b;
        }
        *o = acc;
    }
    *s = out;
}

/// One Poseidon permutation with `inputs` (fewer than `T`) absorbed into the rate part.
fn permutation(s: &mut [Fr; T], inputs: &[Fr], spec: &OptimizedPoseidonSpec<Fr, T, RATE>) {
    debug_assert!(inputs.len() < T);
    let r_f = spec.r_f() / 2;
    let mds = spec.mds_matrices().mds().as_ref();
    let pre_sparse_mds = spec.mds_matrices().pre_sparse_mds().as_ref();
    let sparse = spec.mds_matrices().sparse_matrices();
    let start = spec.constants().start();

    // absorb with the first round's pre-constants, padding 1 right after the inputs
    let pre = &start[0];
    s[0] += pre[0];
    for i in 1..T {
        if i <= inputs.len() {
            s[i] += inputs[i - 1] + pre[i];
        } else if i == inputs.len() + 1 {
            s[i] += Fr::one() + pre[i];
        } else {
            s[i] += pre[i];
        }
    }
    for consts in start.iter().skip(1).take(r_f - 1) {
        for (x, c) in s.iter_mut().zip(consts.iter()) {
            *x = sbox(*x, *c);
        }
        apply_mds(s, mds);
    }
    let last = start.last().expect("spec has full rounds");
    for (x, c) in s.iter_mut().zip(last.iter()) {
        *x = sbox(*x, *c);
    }
    apply_mds(s, pre_sparse_mds);

    for (c, m) in spec.constants().partial().iter().zip(sparse.iter()) {
        s[0] = sbox(s[0], *c);
        let row = m.row();
        let col_hat = m.col_hat();
        let mut first = Fr::zero();
        for (a, b) in row.iter().zip(s.iter()) {
            first += *a * *b;
        }
        let s0 = s[0];
        for i in 1..T {
            s[i] += col_hat[i - 1] * s0;
        }
        s[0] = first;
    }

    for consts in spec.constants().end().iter() {
        for (x, c) in s.iter_mut().zip(consts.iter()) {
            *x = sbox(*x, *c);
        }
        apply_mds(s, mds);
    }
    for x in s.iter_mut() {
        *x = sbox(*x, Fr::zero());
    }
    apply_mds(s, mds);
}

/// Poseidon hash of a fixed-length list (the sponge of `hash_fix_len_array`).
pub fn hash(inputs: &[Fr]) -> Fr {
    let spec = &*SPEC;
    let mut s = [Fr::zero(); T];
    s[0] = Fr::from_u128(1u128 << 64);
    for chunk in inputs.chunks(RATE) {
        permutation(&mut s, chunk, spec);
    }
    if inputs.len().is_multiple_of(RATE) {
        permutation(&mut s, &[], spec);
    }
    s[1]
}

/// `node = Poseidon(left, right)`: one permutation at t = 4.
pub fn hash2(left: Fr, right: Fr) -> Fr {
    hash(&[left, right])
}

#[cfg(test)]
mod tests {
    use super::*;
    use halo2_base::halo2_proofs::halo2curves::ff::Field;
    use rand::{SeedableRng, rngs::StdRng};
    use snark_verifier_sdk::{NativeLoader, snark_verifier::util::hash::Poseidon};

    /// Our permutation agrees with snark-verifier's native Poseidon on random inputs of every
    /// length we use.
    #[test]
    fn matches_snark_verifier_native_poseidon() {
        let mut rng = StdRng::seed_from_u64(7);
        for len in 0..12 {
            let inputs: Vec<Fr> = (0..len).map(|_| Fr::random(&mut rng)).collect();
            let mut h = Poseidon::<Fr, Fr, T, RATE>::from_spec(&NativeLoader, SPEC.clone());
            h.update(&inputs);
            assert_eq!(h.squeeze(), hash(&inputs), "len {len}");
        }
    }
}
