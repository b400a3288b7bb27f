//! Real keygen / prove / verify of block proofs at a small capacity (KZG, SHPLONK).

mod common;

use common::*;
use parley_proofs::{BlockProver, Fr, Halo2BlockProver, ProofError, aggregation::ProtocolCheck};

const CAP: usize = 3;

#[test]
fn real_block_proofs_are_sound() {
    let prover = Halo2BlockProver::setup(CAP).expect("setup");
    let (mut m, mut t) = genesis();
    let before = t.clone();
    let d1 = transfer_diff(&mut m);
    let w1 = witness(&mut t, 1, &d1, CAP);
    let p1 = prover.prove(&w1).expect("honest proof");
    prover
        .verify(&w1.public, &p1)
        .expect("honest proof verifies");

    let d2 = m.transfers(1, 8, 2, coinbase());
    let w2 = witness(&mut t, 2, &d2, CAP);
    let p2 = prover.prove(&w2).expect("second proof");
    prover.verify(&w2.public, &p2).expect("second verifies");

    let invalid =
        |r: Result<(), ProofError>| assert!(matches!(r, Err(ProofError::Invalid(_))), "{r:?}");
    // wrong post_root
    let mut p = w1.public;
    p.post_root += Fr::one();
    invalid(prover.verify(&p, &p1));
    // different prover address at verification
    let mut p = w1.public;
    p.header.prover_address = parley_proofs::vectors::addr(78);
    invalid(prover.verify(&p, &p1));
    // public inputs swapped between the two blocks
    invalid(prover.verify(&w2.public, &p1));
    invalid(prover.verify(&w1.public, &p2));
    // stale pre_root
    let mut p = w2.public;
    p.pre_root = before.root();
    invalid(prover.verify(&p, &p2));
    // one diff entry changed in the prover's witness: its proof fails against the honest inputs
    let mut bad = w1.clone();
    let mut v = bad.entries[0].new.expect("value");
    v[1] += Fr::one();
    bad.entries[0].new = Some(v);
    let pb = prover
        .prove_unchecked(&bad)
        .expect("proving itself succeeds");
    invalid(prover.verify(&w1.public, &pb));
    // prove() self-checks: the same bad witness is refused as an invalid proof
    invalid(prover.prove(&bad).map(|_| ()));
    // corrupted proof bytes: in the middle (a field element) and truncated
    let mut pc = p1.clone();
    let mid = pc.bytes.len() / 2;
    pc.bytes[mid] ^= 1;
    invalid(prover.verify(&w1.public, &pc));
    let mut short = p1.clone();
    short.bytes.truncate(short.bytes.len() - 1);
    invalid(prover.verify(&w1.public, &short));
    // a proof claiming another capacity
    let other = parley_proofs::BlockProof {
        capacity: CAP + 1,
        ..p1.clone()
    };
    invalid(prover.verify(&w1.public, &other));

    // vk pinning: a second keygen gives the same hash
    let again = Halo2BlockProver::setup(CAP).expect("setup again");
    assert_eq!(prover.vk_hash(), again.vk_hash());
    assert_ne!(prover.vk_hash(), alloy_primitives::B256::ZERO);

    // The aggregator's vk check (run by `EpochAggregator::aggregate` before proving): this
    // prover's snarks pass; a valid proof of the same diff made by a prover of another capacity
    // (another vk) is refused with `WrongVk` naming its position.
    let check = ProtocolCheck::block(&prover);
    let own = prover.to_snark(&w1.public, &p1);
    check.check(0, &own).expect("a proof of this vk passes");
    check
        .check(1, &again.to_snark(&w2.public, &p2))
        .expect("a second keygen of the same circuit is the same vk");
    let wider = Halo2BlockProver::setup(CAP + 1).expect("setup at another capacity");
    assert_ne!(wider.vk_hash(), prover.vk_hash());
    let (mut m3, mut t3) = genesis();
    let d3 = transfer_diff(&mut m3);
    let w3 = witness(&mut t3, 1, &d3, CAP + 1);
    let p3 = wider.prove(&w3).expect("a valid proof under its own vk");
    let foreign = wider.to_snark(&w3.public, &p3);
    assert!(matches!(
        check.check(3, &foreign),
        Err(ProofError::WrongVk(3))
    ));
    // the same vk but a snark with an extra instance is refused too
    let mut extra = own.clone();
    extra.instances[0].push(Fr::one());
    assert!(matches!(
        check.check(0, &extra),
        Err(ProofError::WrongVk(0))
    ));
}

/// The circuit of a chain with 24 index bits (ADR 0021), with real keys: an honest block
/// proves and verifies with the same public inputs as under whole paths, the proof does not
/// verify under the whole-path key (another circuit, another vk), and a witness with an index
/// past 2^24 is refused before proving.
#[test]
fn real_proofs_with_the_top_levels_once() {
    use parley_proofs::DEFAULT_INDEX_BITS;
    let prover = Halo2BlockProver::setup_for(CAP, DEFAULT_INDEX_BITS).expect("setup");
    assert_eq!(prover.shape().index_bits, DEFAULT_INDEX_BITS);
    let verifier =
        parley_proofs::BlockVerifier::setup_for(CAP, DEFAULT_INDEX_BITS).expect("verifier");
    assert_eq!(verifier.vk_hash(), prover.vk_hash());
    let full = parley_proofs::BlockVerifier::setup(CAP).expect("whole-path verifier");
    assert_ne!(full.vk_hash(), prover.vk_hash());

    let (mut m, mut t) = genesis();
    let d = transfer_diff(&mut m);
    let w = witness(&mut t, 1, &d, CAP);
    let p = prover.prove(&w).expect("honest proof");
    verifier
        .verify(&w.public, &p.bytes)
        .expect("the node's verifier takes it");
    assert!(matches!(
        full.verify(&w.public, &p.bytes),
        Err(ProofError::Invalid(_))
    ));
    let mut wrong = w.public;
    wrong.post_root += Fr::one();
    assert!(matches!(
        verifier.verify(&wrong, &p.bytes),
        Err(ProofError::Invalid(_))
    ));

    let mut far = w.clone();
    far.entries[1].index += 1 << DEFAULT_INDEX_BITS;
    assert!(matches!(
        prover.prove_unchecked(&far),
        Err(ProofError::IndexBeyondCircuit {
            position: 1,
            bits: DEFAULT_INDEX_BITS,
            ..
        })
    ));
}
