//! Slow suite (run by `crates/proofs/ci.sh`): aggregate two real block proofs, verify natively,
//! compress the aggregation proof into the fixed-shape proof L1 verifies, then compile the
//! generated Solidity verifier with solcjs, deploy it to anvil and verify the epoch proof on
//! chain; a corrupted proof and a changed public input revert.
#![allow(clippy::print_stdout, clippy::disallowed_methods)]

mod common;

use common::*;
use parley_proofs::{
    BlockProver, BlockVerifier, Fr, Halo2BlockProver, ProofError,
    aggregation::{
        ACC_LIMBS, CompressionVerifier, DEFAULT_AGG_K, DEFAULT_COMPRESS_K, EpochAggregator,
        EpochCompressor, EpochPublicInputs, EpochShape, EpochVerifier, compression_shape,
        encode_epoch_snark, epoch_commitment,
    },
    evm::{Anvil, compile_solidity},
};
use std::time::Instant;

const CAP: usize = 3;

fn flat(capacity: usize, k: u32) -> EpochShape {
    EpochShape::Flat { capacity, k }
}

#[test]
#[ignore = "slow: aggregation (k=20) + anvil; run by crates/proofs/ci.sh"]
fn epoch_aggregation_verifies_on_anvil() {
    let prover = Halo2BlockProver::setup(CAP).expect("block setup");
    let (mut m, mut t) = genesis();
    let mut publics = Vec::new();
    let mut snarks = Vec::new();
    for slot in 1..=2u64 {
        let d = m.transfers(1, 8, slot, coinbase());
        let w = witness(&mut t, slot, &d, CAP);
        let p = prover.prove(&w).expect("block proof");
        snarks.push(prover.to_snark(&w.public, &p));
        publics.push(w.public);
    }

    let env_k = |name: &str, default: u32| {
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let k = env_k("PARLEY_AGG_K", DEFAULT_AGG_K);
    let t0 = Instant::now();
    // An epoch of capacity 2, full: padding (fewer blocks than the capacity) is covered by
    // the MockProver tests of the epoch constraints; one more aggregation proof here would
    // cost CI about 5 minutes.
    let made = EpochAggregator::setup(&prover, 2, k).expect("aggregation keygen");
    let aggregator = alloy_primitives::Address::repeat_byte(0xa9);
    println!(
        "aggregation keygen k={k}: {:.1}s, config {:?}",
        t0.elapsed().as_secs_f64(),
        made.config()
    );

    // A worker's key cache: the keys are written, dropped, and read back; every proof below is
    // made with the keys read from the file, and verified with keys made without it.
    let keys_dir = std::env::temp_dir().join(format!("parley-epoch-pk-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&keys_dir);
    let pin = made.vk_hash();
    let t0 = Instant::now();
    let pk_path = made.write_cache(&keys_dir).expect("writes the key cache");
    let written = t0.elapsed().as_secs_f64();
    drop(made);
    let t0 = Instant::now();
    let (agg, source) =
        EpochAggregator::setup_cached(&prover, 2, k, pin, &keys_dir).expect("reads the keys");
    println!(
        "aggregation keys: written in {written:.1}s ({} MB), read back in {:.1}s",
        std::fs::metadata(&pk_path).map_or(0, |m| m.len() >> 20),
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(source, parley_proofs::keycache::KeySource::Cache);
    assert_eq!(agg.vk_hash(), pin);
    // A flipped bit, or a file for another capacity or degree, is damage: refused, not made
    // over (the size makes a copy per case too slow: the header is enough to reach each check).
    {
        use std::io::{Read, Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&pk_path)
            .expect("opens the key file");
        let at = f.metadata().expect("size").len() / 2;
        let mut b = [0u8; 1];
        f.seek(SeekFrom::Start(at)).expect("seek");
        f.read_exact(&mut b).expect("read");
        f.seek(SeekFrom::Start(at)).expect("seek");
        f.write_all(&[b[0] ^ 1]).expect("flip");
        let r = EpochAggregator::setup_cached(&prover, 2, k, pin, &keys_dir);
        assert!(
            matches!(&r, Err(ProofError::DamagedCache { reason, .. }) if reason.contains("checksum")),
            "{:?}",
            r.map(|_| ())
        );
        f.seek(SeekFrom::Start(at)).expect("seek");
        f.write_all(&b).expect("restore");
    }
    for (cap, kk) in [(3, k), (2, k + 1)] {
        let r = EpochAggregator::setup_cached(&prover, cap, kk, pin, &keys_dir);
        assert!(
            matches!(&r, Err(ProofError::DamagedCache { reason, .. }) if reason.contains("expected")),
            "capacity {cap}, k {kk}: {:?}",
            r.map(|_| ())
        );
    }
    let _ = std::fs::remove_dir_all(&keys_dir);

    // no block, or more than the capacity, is refused before proving
    assert!(matches!(
        agg.aggregate(&aggregator, Vec::new()),
        Err(ProofError::Empty(_))
    ));
    let r = agg.aggregate(&aggregator, vec![snarks[0].clone(); 3]);
    assert!(
        matches!(r, Err(ProofError::Invalid(ref m)) if m.contains("at most 2")),
        "{r:?}"
    );

    // non-contiguous chain refused (natively; the in-circuit check is below)
    let broken = vec![snarks[1].clone(), snarks[0].clone()];
    assert!(matches!(
        agg.aggregate(&aggregator, broken),
        Err(ProofError::BrokenChain(0))
    ));

    // a valid block proof made with another vk (a prover of another capacity) is refused
    // before proving, naming its position
    let wider = Halo2BlockProver::setup(CAP + 1).expect("block setup at another capacity");
    let (mut m2, mut t2) = genesis();
    let d = m2.transfers(1, 8, 1, coinbase());
    let w = witness(&mut t2, 1, &d, CAP + 1);
    let p = wider.prove(&w).expect("a valid proof under its own vk");
    let foreign_block = wider.to_snark(&w.public, &p);
    let foreign = vec![snarks[0].clone(), foreign_block.clone()];
    let r = agg.aggregate(&aggregator, foreign);
    assert!(matches!(r, Err(ProofError::WrongVk(1))), "{r:?}");

    let t0 = Instant::now();
    let layer1 = agg
        .aggregate(&aggregator, snarks.clone())
        .expect("aggregate");
    println!(
        "aggregation proof (2 blocks): {:.1}s, {} bytes",
        t0.elapsed().as_secs_f64(),
        layer1.proof.len()
    );
    agg.verify(&layer1)
        .expect("layer-1 epoch proof verifies natively");
    let statement = |inst: &[Fr]| (inst[ACC_LIMBS], inst[ACC_LIMBS + 1], inst[ACC_LIMBS + 2]);
    let pis: Vec<Fr> = publics.iter().map(|p| p.pi_hash()).collect();
    let expected = (
        publics[0].pre_root,
        publics[1].post_root,
        epoch_commitment(&aggregator, 2, &pis).expect("2 of 2 blocks"),
    );
    assert_eq!(statement(&layer1.instances[0]), expected);

    // a copied aggregate: the statement the chain computes for another submitter (the same
    // blocks, its own address in epoch_commitment) is not what the proof proves
    let mut copied = layer1.clone();
    copied.instances[0][ACC_LIMBS + 2] =
        epoch_commitment(&alloy_primitives::Address::repeat_byte(0xb7), 2, &pis)
            .expect("2 of 2 blocks");
    let r = agg.verify(&copied);
    assert!(matches!(r, Err(ProofError::Invalid(_))), "{r:?}");

    // What a node checks an `Aggregate` with: the verifying key alone, made without the
    // proving key, must be the aggregator's; it verifies the bytes the chain carries against
    // the statement it computes itself, and refuses a copy and malformed bytes.
    let t0 = Instant::now();
    let block_verifier = BlockVerifier::setup(CAP).expect("block verifier");
    let verifier = EpochVerifier::setup(&block_verifier, 2, k).expect("epoch verifier");
    println!(
        "epoch verifier keygen (vk only) k={k}: {:.1}s",
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(verifier.vk_hash(), agg.vk_hash());
    let carried = encode_epoch_snark(&layer1).expect("a layer-1 snark encodes");
    let public = EpochPublicInputs {
        first_pre_root: expected.0,
        last_post_root: expected.1,
        epoch_commitment: expected.2,
    };
    verifier
        .verify(&public, &carried)
        .expect("the carried bytes verify against the computed statement");
    let copier = EpochPublicInputs {
        epoch_commitment: copied.instances[0][ACC_LIMBS + 2],
        ..public
    };
    let r = verifier.verify(&copier, &carried);
    assert!(matches!(r, Err(ProofError::Invalid(_))), "{r:?}");
    for bad in [
        carried[..ACC_LIMBS * 32].to_vec(),
        carried[..carried.len() - 1].to_vec(),
        vec![0xff; carried.len()],
    ] {
        let r = verifier.verify(&public, &bad);
        assert!(matches!(r, Err(ProofError::Invalid(_))), "{r:?}");
    }

    // The node's key cache: a written key reads back as the same key and verifies the same
    // bytes; a flipped bit or a pin of another key is refused as damage, never used.
    let dir = std::env::temp_dir().join(format!("parley-epoch-vk-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = verifier.write_cache(&dir).expect("writes the cache");
    let t0 = Instant::now();
    let (read, source) =
        EpochVerifier::setup_cached(&block_verifier, &flat(2, k), agg.vk_hash(), &dir)
            .expect("reads");
    println!(
        "epoch verifier from the cache: {:.2}s",
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(source, parley_proofs::keycache::KeySource::Cache);
    assert_eq!(read.vk_hash(), agg.vk_hash());
    read.verify(&public, &carried)
        .expect("the cached key verifies the carried bytes");
    assert!(matches!(
        read.verify(&copier, &carried),
        Err(ProofError::Invalid(_))
    ));
    let good = std::fs::read(&path).expect("read");
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    std::fs::write(&path, &bad).expect("write");
    let r = EpochVerifier::setup_cached(&block_verifier, &flat(2, k), agg.vk_hash(), &dir);
    assert!(
        matches!(&r, Err(ProofError::DamagedCache { reason, .. }) if reason.contains("checksum")),
        "{:?}",
        r.map(|_| ())
    );
    std::fs::write(&path, &good).expect("write");
    let r = EpochVerifier::setup_cached(&block_verifier, &flat(3, k), agg.vk_hash(), &dir);
    assert!(
        matches!(&r, Err(ProofError::DamagedCache { .. })),
        "another capacity: {:?}",
        r.map(|_| ())
    );
    let _ = std::fs::remove_dir_all(&dir);

    // a changed public input fails natively
    let mut changed1 = layer1.clone();
    changed1.instances[0][ACC_LIMBS + 1] += Fr::one();
    let r = agg.verify(&changed1);
    assert!(matches!(r, Err(ProofError::Invalid(_))), "{r:?}");

    // the in-circuit chain check: without the native check, proving a broken chain succeeds
    // (the prover does not check constraints) and gives a proof that does not verify, since
    // the copy constraint between block 1's post_root and block 2's pre_root fails
    let broken = agg
        .aggregate_unchecked(&aggregator, vec![snarks[1].clone(), snarks[0].clone()])
        .expect("proving a broken chain without the native check");
    let r = agg.verify(&broken);
    assert!(
        matches!(r, Err(ProofError::Invalid(_))),
        "a broken chain must not verify: {r:?}"
    );

    // the compression layer: one fixed-shape proof over the layer-1 proof, verified on L1
    let t0 = Instant::now();
    let ck = env_k("PARLEY_COMPRESS_K", DEFAULT_COMPRESS_K);
    let made = EpochCompressor::setup(&agg, ck).expect("compression keygen");
    println!(
        "compression keygen: {:.1}s, config {:?}",
        t0.elapsed().as_secs_f64(),
        made.config()
    );
    // The worker's key cache again: the compression proof below is made with keys read back.
    let l1_dir = std::env::temp_dir().join(format!("parley-l1-pk-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&l1_dir);
    let l1_pin = made.vk_hash();
    made.write_cache(&l1_dir)
        .expect("writes the compression keys");
    drop(made);
    let t0 = Instant::now();
    let (compressor, source) =
        EpochCompressor::setup_cached(agg.params(), agg.vk(), ck, l1_pin, &l1_dir)
            .expect("reads the compression keys");
    println!(
        "compression keys read back in {:.1}s",
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(source, parley_proofs::keycache::KeySource::Cache);
    assert_eq!(compressor.vk_hash(), l1_pin);
    let r = EpochCompressor::setup_cached(agg.params(), agg.vk(), ck + 1, l1_pin, &l1_dir);
    assert!(
        matches!(&r, Err(ProofError::DamagedCache { reason, .. }) if reason.contains("expected")),
        "another degree: {:?}",
        r.map(|_| ())
    );
    let _ = std::fs::remove_dir_all(&l1_dir);
    // Its shape is the pinned one of its degree, not the one this layer 1 needs (ADR 0019): the
    // L1 verifier does not depend on the epoch's capacity.
    let shape = compression_shape(env_k("PARLEY_COMPRESS_K", DEFAULT_COMPRESS_K));
    let got = compressor.config();
    assert_eq!(
        (
            got.degree,
            got.num_advice,
            got.num_lookup_advice,
            got.num_fixed,
            got.lookup_bits
        ),
        (
            shape.degree,
            shape.num_advice,
            shape.num_lookup_advice,
            shape.num_fixed,
            shape.lookup_bits
        )
    );
    // a snark of another circuit (a block proof) is refused before proving
    let r = compressor.compress(foreign_block);
    assert!(matches!(r, Err(ProofError::WrongVk(0))), "{r:?}");
    // The worker compresses what the chain carried: the layer-1 bytes and the statement the
    // chain recorded, rebuilt into a snark of the aggregator's protocol.
    let rebuilt = agg
        .snark_from_bytes(&public, &carried)
        .expect("the carried bytes rebuild a snark");
    assert_eq!(rebuilt.instances, layer1.instances);
    assert_eq!(rebuilt.proof, layer1.proof);
    let t0 = Instant::now();
    let epoch = compressor.compress(rebuilt).expect("compress");
    println!(
        "compression proof: {:.1}s, {} bytes",
        t0.elapsed().as_secs_f64(),
        epoch.proof.len()
    );
    let t0 = Instant::now();
    compressor
        .verify(&epoch)
        .expect("epoch proof verifies natively");
    println!("native epoch verify: {:.3}s", t0.elapsed().as_secs_f64());
    let public = epoch.public();
    assert_eq!(
        (
            public.first_pre_root,
            public.last_post_root,
            public.epoch_commitment
        ),
        expected
    );

    // a changed public input fails natively
    let mut changed = epoch.clone();
    changed.instances[ACC_LIMBS + 1] += Fr::one();
    let r = compressor.verify(&changed);
    assert!(matches!(r, Err(ProofError::Invalid(_))), "{r:?}");

    // What a node checks an `EpochProof` message with: the compression vk alone, made from
    // the layer-1 verifying key; the same key as the prover's, the same Solidity, the wire
    // bytes verify against the recorded statement and nothing else does.
    let k_c = env_k("PARLEY_COMPRESS_K", DEFAULT_COMPRESS_K);
    let t0 = Instant::now();
    let l1 = CompressionVerifier::setup(&verifier, k_c).expect("compression verifier");
    println!(
        "compression verifier (vk only): {:.1}s",
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(l1.vk_hash(), compressor.vk_hash());
    let wire = epoch.to_bytes();
    l1.verify(&public, &wire)
        .expect("the wire bytes verify against the recorded statement");
    assert!(matches!(
        l1.verify(&copier, &wire),
        Err(ProofError::Invalid(_))
    ));
    for bad in [
        wire[..wire.len() - 1].to_vec(),
        wire[..ACC_LIMBS * 32].to_vec(),
        vec![0xff; wire.len()],
        carried.clone(),
    ] {
        assert!(matches!(
            l1.verify(&public, &bad),
            Err(ProofError::Invalid(_))
        ));
    }
    let dir = std::env::temp_dir().join(format!("parley-l1-vk-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    l1.write_cache(&dir).expect("writes the cache");
    let (read, source) = CompressionVerifier::setup_cached(&verifier, k_c, l1.vk_hash(), &dir)
        .expect("reads the cache");
    assert_eq!(source, parley_proofs::keycache::KeySource::Cache);
    read.verify(&public, &wire)
        .expect("the cached key verifies the wire bytes");
    let _ = std::fs::remove_dir_all(&dir);

    let sol = compressor.solidity_verifier();
    assert_eq!(
        l1.solidity_verifier(),
        sol,
        "the vk-only verifier writes the same contract"
    );
    let t0 = Instant::now();
    let code = compile_solidity(&sol).expect("solc compiles the verifier");
    println!(
        "solc: {:.1}s, creation code {} bytes",
        t0.elapsed().as_secs_f64(),
        code.len()
    );
    // anvil enforces EIP-170 here (24,576 bytes), as Ethereum does
    let anvil = Anvil::spawn().expect("anvil starts");
    let addr = anvil
        .deploy(&code)
        .expect("the verifier deploys under the EIP-170 code-size limit");
    let runtime = anvil.code_size(&addr).expect("eth_getCode");
    assert!(runtime <= 24_576, "runtime code {runtime} B");
    let calldata = epoch.calldata();
    anvil.call(&addr, &calldata).expect("eth_call verifies");
    let gas = anvil
        .transact(&addr, &calldata)
        .expect("verify tx succeeds");
    println!(
        "EVM verify gas (tx total): {gas}, calldata {} bytes, runtime code {runtime} bytes",
        calldata.len()
    );
    // The target, at the default degree (k = 22 measured 381,198 gas; k = 21 costs
    // ~442k, see docs/proofs.md): the receipt's gasUsed of a call that only verifies.
    if k_c == DEFAULT_COMPRESS_K {
        assert!(gas <= 400_000, "gas {gas}");
    }

    // A layer 1 with more columns than the pinned compression shape verifies (4 proofs at
    // k = 20: 19 advice columns, against ~10 at capacity 2) is refused at setup, with the
    // remedy in the error, instead of silently getting a larger L1 verifier.
    let wide = EpochVerifier::setup(&block_verifier, 4, 20).expect("a 4-proof layer 1 at k = 20");
    let r = CompressionVerifier::setup(&wide, DEFAULT_COMPRESS_K);
    assert!(
        matches!(r, Err(ProofError::CompressionTooSmall { .. })),
        "{r:?}"
    );

    // A revert, not any error (a dead anvil also gives `Err(Evm)`): anvil answers a failed
    // eth_call with "execution reverted", a mined failing tx gives "transaction reverted".
    let reverted = |r: Result<_, ProofError>, what: &str| match r {
        Err(ProofError::Evm(m)) if m.contains("reverted") => {}
        other => panic!("{what} must revert, got {other:?}"),
    };
    let mut corrupted = epoch.clone();
    let mid = corrupted.proof.len() / 2;
    corrupted.proof[mid] ^= 1;
    reverted(
        anvil.call(&addr, &corrupted.calldata()).map(|_| ()),
        "corrupted proof",
    );
    reverted(
        anvil.call(&addr, &changed.calldata()).map(|_| ()),
        "changed public input",
    );
    reverted(
        anvil.transact(&addr, &changed.calldata()).map(|_| ()),
        "changed public input (tx)",
    );
    // ...while the honest calldata still verifies on the same node.
    anvil
        .call(&addr, &calldata)
        .expect("honest proof still verifies");

    // Pinned for the bridge (DESIGN §6): the generated verifier reads each public instance
    // modulo the BN254 scalar modulus r, so the instance `first_pre_root + r` (a different
    // 256-bit word naming the same field element) verifies too. The Rollup contract must
    // therefore check every instance < r itself; if this assertion ever fails, the verifier
    // started refusing non-canonical instances and that check becomes redundant, not wrong.
    let r_modulus = alloy_primitives::U256::from_str_radix(
        "30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001",
        16,
    )
    .expect("r parses");
    let at = ACC_LIMBS * 32;
    let x = alloy_primitives::U256::from_be_slice(&calldata[at..at + 32]);
    assert!(x < r_modulus);
    let mut shifted = calldata.clone();
    shifted[at..at + 32].copy_from_slice(&(x + r_modulus).to_be_bytes::<32>());
    anvil
        .call(&addr, &shifted)
        .expect("the generated verifier accepts first_pre_root + r (it reduces modulo r)");
}
