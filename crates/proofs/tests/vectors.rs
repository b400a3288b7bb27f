//! `tests/vectors/proof_tree.json`: Poseidon hashes, updates → roots, diff → canonical bytes
//! and `diff_hash`, checked by the native code and by the block circuit (MockProver).
//! Regenerate (a breaking change of the proof schema!) with `PARLEY_WRITE_VECTORS=1`: that run
//! rewrites the file and then fails, so it never passes silently; unset the variable and rerun.
//! Any value other than `1`, `0` or empty is an error.

mod common;

use alloy_primitives::U256;
use common::*;
use parley_proofs::{
    BlockPublicInputs, BlockWitness, Fr, ProofTree,
    circuit::{block_shape, mock_check},
    diff_hash::diff_hash,
    encoding::{entry_leaf_hashes, fr_from_be32, fr_to_hex},
    poseidon,
    types::StateDiff,
    vectors::{StateModel, addr},
};
use serde_json::{Value, json};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/proof_tree.json");
const CAP: usize = 5;

fn hex_fr(v: &Value) -> Fr {
    let s = v.as_str().expect("hex string");
    let b = hex::decode(s.trim_start_matches("0x")).expect("hex");
    fr_from_be32(&b.try_into().expect("32 bytes")).expect("canonical")
}

fn generate() -> Value {
    let hashes: Vec<Value> = (0..8u64)
        .map(|n| {
            let inputs: Vec<Fr> = (0..n).map(|i| Fr::from(i + 1)).collect();
            json!({
                "inputs": inputs.iter().map(fr_to_hex).collect::<Vec<_>>(),
                "output": fr_to_hex(&poseidon::hash(&inputs)),
            })
        })
        .collect();
    let mut m = StateModel::new();
    let mut t = ProofTree::new();
    let mut diffs: Vec<StateDiff> = vec![m.genesis(8)];
    let mut blocks = Vec::new();
    let push = |t: &mut ProofTree, d: &StateDiff| {
        let pre = t.root();
        t.apply_diff(d).expect("applies");
        json!({
            "diff": d,
            "canonical_bytes": format!("0x{}", hex::encode(d.encode())),
            "leaf_hashes": d.0.iter().map(|e| {
                let (o, n) = entry_leaf_hashes(e).expect("kinds");
                [fr_to_hex(&o), fr_to_hex(&n)]
            }).collect::<Vec<_>>(),
            "diff_hash": fr_to_hex(&diff_hash(d).expect("hash")),
            "pre_root": fr_to_hex(&pre),
            "post_root": fr_to_hex(&t.root()),
        })
    };
    diffs.push(m.transfers(1, 8, 1, coinbase()));
    diffs.push(m.contract_call(
        addr(1),
        addr(5000),
        coinbase(),
        &[
            (U256::from(1), U256::from(7)),
            (U256::from(2), U256::from(9)),
        ],
    ));
    diffs.push(m.contract_call(
        addr(2),
        addr(5000),
        coinbase(),
        &[(U256::from(1), U256::ZERO), (U256::from(2), U256::from(10))],
    ));
    diffs.push(StateDiff::default());
    for d in &diffs {
        blocks.push(push(&mut t, d));
    }
    json!({
        "version": 1,
        "description": "Parley proof tree (ADR 0001/0003): Poseidon t=4 rate=3 R_F=8 R_P=56 (halo2-base OptimizedPoseidonSpec, capacity 2^64, 1-then-0 padding); dense depth-32 tree, empty leaf 0; blocks applied in order from the empty tree. Field elements are 32-byte big-endian hex.",
        "poseidon_hashes": hashes,
        "empty_root": fr_to_hex(&parley_proofs::tree::empty_root()),
        "blocks": blocks,
    })
}

/// Whether this run rewrites the vector file: only `PARLEY_WRITE_VECTORS=1`.
fn write_vectors() -> bool {
    match std::env::var("PARLEY_WRITE_VECTORS") {
        Err(std::env::VarError::NotPresent) => false,
        Ok(v) if v == "1" => true,
        Ok(v) if v.is_empty() || v == "0" => false,
        Ok(v) => {
            panic!("PARLEY_WRITE_VECTORS={v:?}: set it to 1 to rewrite the vectors, or unset it")
        }
        Err(e) => panic!("PARLEY_WRITE_VECTORS: {e}"),
    }
}

#[test]
fn native_code_matches_vectors() {
    let fresh = generate();
    if write_vectors() {
        std::fs::write(
            PATH,
            serde_json::to_string_pretty(&fresh).expect("json") + "\n",
        )
        .expect("write vectors");
        panic!("vectors rewritten; unset PARLEY_WRITE_VECTORS and rerun");
    }
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(PATH).expect("vectors file exists"))
            .expect("vectors parse");
    // recompute from the stored diffs, not from the generator, so the file is the contract
    for h in stored["poseidon_hashes"].as_array().expect("hashes") {
        let inputs: Vec<Fr> = h["inputs"]
            .as_array()
            .expect("inputs")
            .iter()
            .map(hex_fr)
            .collect();
        assert_eq!(poseidon::hash(&inputs), hex_fr(&h["output"]));
    }
    assert_eq!(
        parley_proofs::tree::empty_root(),
        hex_fr(&stored["empty_root"])
    );
    let mut seq = ProofTree::new();
    let mut batch = ProofTree::new();
    for b in stored["blocks"].as_array().expect("blocks") {
        let d: StateDiff = serde_json::from_value(b["diff"].clone()).expect("diff");
        assert_eq!(
            format!("0x{}", hex::encode(d.encode())),
            b["canonical_bytes"].as_str().expect("bytes")
        );
        assert_eq!(diff_hash(&d).expect("hash"), hex_fr(&b["diff_hash"]));
        assert_eq!(seq.root(), hex_fr(&b["pre_root"]));
        seq.apply_diff(&d).expect("sequential");
        batch.apply_diff_batch(&d).expect("batch");
        assert_eq!(seq.root(), hex_fr(&b["post_root"]));
        assert_eq!(batch.root(), seq.root());
    }
    assert_eq!(stored, fresh, "generator and stored vectors differ");
}

#[test]
fn circuit_matches_vectors() {
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(PATH).expect("vectors file exists"))
            .expect("vectors parse");
    let shape = block_shape(CAP).expect("shape");
    let mut t = ProofTree::new();
    for (i, b) in stored["blocks"]
        .as_array()
        .expect("blocks")
        .iter()
        .enumerate()
    {
        let d: StateDiff = serde_json::from_value(b["diff"].clone()).expect("diff");
        if d.0.len() > CAP {
            t.apply_diff(&d).expect("applies");
            continue;
        }
        let w = BlockWitness::build(&mut t, header(i as u64), &d, CAP).expect("witness");
        let public = BlockPublicInputs {
            header: header(i as u64),
            pre_root: hex_fr(&b["pre_root"]),
            post_root: hex_fr(&b["post_root"]),
            diff_hash: hex_fr(&b["diff_hash"]),
        };
        mock_check(&shape, &w, &public.instances()).unwrap_or_else(|e| panic!("block {i}: {e}"));
    }
}
