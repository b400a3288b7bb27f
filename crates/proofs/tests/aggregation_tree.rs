//! Slow suite (run by `crates/proofs/ci.sh` with `PARLEY_PROOFS_SLOW=1`): an aggregation tree
//! (ADR 0020) as a worker and a node use it. The smallest tree, 2 leaves of 1 block proof
//! (leaves at k = 20, the root at k = 21): its keys made through the worker's key cache and
//! read back; the node's verifier made from verifying keys alone hashes to the same root key;
//! an epoch of 2 blocks aggregated with the read keys carries the flat epoch statement and
//! passes the node's check, and fails it under another statement; a damaged cache file and a
//! file for another shape are refused, not used.
#![allow(clippy::print_stdout, clippy::disallowed_methods)]

mod common;

use common::*;
use parley_proofs::{
    BlockProver, BlockVerifier, Fr, Halo2BlockProver, ProofError,
    aggregation::{
        EpochProver, EpochShape, EpochVerifier, encode_epoch_snark, epoch_commitment,
        tree::{TreeShape, statement},
    },
    keycache::KeySource,
};
use std::time::Instant;

const CAP: usize = 3;

#[test]
#[ignore = "slow: tree keygen (k = 20 and 21) and three aggregation proofs; run by crates/proofs/ci.sh"]
fn a_tree_through_the_key_cache_proves_what_a_node_checks() {
    let prover = Halo2BlockProver::setup(CAP).expect("block setup");
    let (mut m, mut t) = genesis();
    let mut snarks = Vec::new();
    for slot in 1..=2u64 {
        let d = m.transfers(1, 8, slot, coinbase());
        let w = witness(&mut t, slot, &d, CAP);
        let p = prover.prove(&w).expect("block proof");
        snarks.push(prover.to_snark(&w.public, &p));
    }
    let tree = TreeShape {
        leaf_capacity: 1,
        leaf_k: 20,
        middle: None,
        children: 2,
        k: 21,
    };
    let shape = EpochShape::Tree(tree);

    // The node's side: verifying keys alone, layer by layer.
    let t0 = Instant::now();
    let block_verifier = BlockVerifier::setup(CAP).expect("block verifier");
    let verifier = EpochVerifier::setup_shape(&block_verifier, &shape).expect("tree verifier");
    println!(
        "node: tree verifier from verifying keys in {:.1}s, root vk {}",
        t0.elapsed().as_secs_f64(),
        verifier.vk_hash()
    );
    let pin = verifier.vk_hash();

    // The worker's side: keygen through the cache, then the keys read back from it.
    let dir = std::env::temp_dir().join(format!("parley-tree-pk-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let t0 = Instant::now();
    let (made, source) = EpochProver::setup_cached(&prover, &shape, pin, &dir).expect("keygen");
    println!(
        "worker: tree keygen {:.1}s ({source:?})",
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(source, KeySource::Keygen);
    assert_eq!(made.vk_hash(), pin, "the worker's root key is the node's");
    assert_eq!(made.shape(), shape);
    drop(made);
    let t0 = Instant::now();
    let (keys, source) = EpochProver::setup_cached(&prover, &shape, pin, &dir).expect("reads");
    println!(
        "worker: tree keys read back in {:.1}s",
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(source, KeySource::Cache);
    assert_eq!(keys.vk_hash(), pin);
    let path = parley_proofs::keycache::epoch_pk_path(&dir, pin);
    {
        use std::io::{Read, Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .expect("opens the key file");
        let at = f.metadata().expect("size").len() / 2;
        let mut b = [0u8; 1];
        f.seek(SeekFrom::Start(at)).expect("seek");
        f.read_exact(&mut b).expect("read");
        f.seek(SeekFrom::Start(at)).expect("seek");
        f.write_all(&[b[0] ^ 1]).expect("flip");
        let r = EpochProver::setup_cached(&prover, &shape, pin, &dir);
        assert!(
            matches!(&r, Err(ProofError::DamagedCache { reason, .. }) if reason.contains("checksum")),
            "{:?}",
            r.map(|_| ())
        );
        f.seek(SeekFrom::Start(at)).expect("seek");
        f.write_all(&b).expect("restore");
    }
    let other = EpochShape::Tree(TreeShape { leaf_k: 21, ..tree });
    let r = EpochProver::setup_cached(&prover, &other, pin, &dir);
    assert!(
        matches!(&r, Err(ProofError::DamagedCache { reason, .. }) if reason.contains("expected")),
        "another leaf degree: {:?}",
        r.map(|_| ())
    );
    let _ = std::fs::remove_dir_all(&dir);

    // An epoch of 2 blocks with the keys read from the file: the flat statement, checked by
    // the node's verifier; under another commitment it fails.
    let aggregator = alloy_primitives::Address::repeat_byte(0xa9);
    let pis: Vec<Fr> = snarks.iter().map(|s| s.instances[0][2]).collect();
    let t0 = Instant::now();
    let e = keys
        .aggregate(&aggregator, snarks.clone())
        .expect("tree aggregation");
    println!(
        "worker: 2 leaves and the root proved in {:.1}s",
        t0.elapsed().as_secs_f64()
    );
    let st = statement(&e).expect("an epoch statement");
    assert_eq!(st.first_pre_root, snarks[0].instances[0][0]);
    assert_eq!(st.last_post_root, snarks[1].instances[0][1]);
    assert_eq!(
        Some(st.epoch_commitment),
        epoch_commitment(&aggregator, 2, &pis),
        "the root proves the flat layer 1's commitment"
    );
    let bytes = encode_epoch_snark(&e).expect("encodes");
    verifier.verify(&st, &bytes).expect("the node accepts it");
    let mut forged = st;
    forged.epoch_commitment = epoch_commitment(&aggregator, 2, &pis[..1]).expect("one block");
    assert!(
        verifier.verify(&forged, &bytes).is_err(),
        "another statement"
    );
    // Blocks out of order are refused before any proving.
    let r = keys.aggregate(&aggregator, vec![snarks[1].clone(), snarks[0].clone()]);
    assert!(
        matches!(r, Err(ProofError::BrokenChain(0))),
        "{:?}",
        r.map(|_| ())
    );
}
