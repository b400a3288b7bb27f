//! Shared test vectors (ADR 0001): `updates → app hash` and `diff → canonical bytes`.
//!
//! The JSON files are the contract with other implementations (the proofs crate, future
//! clients). This test recomputes every vector from its inputs and compares; set
//! `PARLEY_BLESS=1` to rewrite the files after a deliberate, announced schema change. A blessed
//! run rewrites the files and then fails, so it can never pass silently; unset the variable and
//! rerun to check the new files. Any value other than `1`, `0` or empty is an error.

use std::path::PathBuf;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use parley_types::{
    AccountLeaf, DiffEntry, LeafValue, MerkleTree, StateDiff, StateKey, StateValue,
};
use serde_json::{Value, json};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn account(n: u64) -> LeafValue {
    LeafValue::Account(AccountLeaf {
        nonce: n,
        balance: U256::from(n) * U256::from(10u64).pow(U256::from(18)),
        code_hash: if n.is_multiple_of(2) {
            parley_types::KECCAK_EMPTY
        } else {
            keccak256(n.to_be_bytes())
        },
    })
}

/// Batches of (key, Option<value>) with deterministic contents.
fn batches() -> Vec<Vec<(StateKey, Option<StateValue>)>> {
    let a = |i: u8| Address::repeat_byte(i);
    let v = |leaf, proof_index| Some(StateValue { leaf, proof_index });
    vec![
        vec![(StateKey::Account(a(1)), v(account(1), 0))],
        vec![
            (StateKey::Account(a(2)), v(account(2), 1)),
            (
                StateKey::Storage(a(2), U256::from(0)),
                v(LeafValue::Storage(U256::from(7)), 2),
            ),
            (
                StateKey::Storage(a(2), U256::MAX),
                v(LeafValue::Storage(U256::from(8)), 3),
            ),
        ],
        vec![
            (StateKey::Account(a(1)), v(account(3), 0)),
            (StateKey::Storage(a(2), U256::from(0)), None),
            (StateKey::Account(a(9)), v(account(9), 4)),
        ],
        (10u8..40)
            .map(|i| {
                (
                    StateKey::Account(a(i)),
                    v(account(u64::from(i)), u64::from(i)),
                )
            })
            .collect(),
        (10u8..40)
            .step_by(2)
            .map(|i| (StateKey::Account(a(i)), None))
            .collect(),
    ]
}

fn diffs() -> Vec<StateDiff> {
    let a = Address::repeat_byte(0xab);
    vec![
        StateDiff(vec![]),
        StateDiff(vec![
            DiffEntry {
                key: StateKey::Account(a),
                index: 5,
                old: Some(account(1)),
                new: Some(account(2)),
            },
            DiffEntry {
                key: StateKey::Storage(a, U256::from(1)),
                index: 9,
                old: None,
                new: Some(LeafValue::Storage(U256::from(3))),
            },
            DiffEntry {
                key: StateKey::Storage(a, U256::from(2)),
                index: 6,
                old: Some(LeafValue::Storage(U256::from(4))),
                new: None,
            },
        ]),
    ]
}

fn compute() -> (Value, Value) {
    let mut tree = MerkleTree::new();
    let mut app = vec![];
    for batch in batches() {
        let root = tree.update(
            batch
                .iter()
                .map(|(k, v)| (k.path(), v.map(|v| keccak256(v.encode())))),
        );
        app.push(json!({
            "updates": batch.iter().map(|(k, v)| json!({
                "key": Bytes::from(k.encode()),
                "value": v.map(|v| Bytes::from(v.encode())),
            })).collect::<Vec<_>>(),
            "app_hash": root,
        }));
    }
    let diff: Vec<_> = diffs()
        .iter()
        .map(|d| json!({ "diff": d, "bytes": Bytes::from(d.encode()) }))
        .collect();
    (
        json!({ "description": "app-hash tree (ADR 0001): apply each batch in order; app_hash is the root after it", "batches": app }),
        json!({ "description": "state diff (ADR 0001) and its canonical bytes", "vectors": diff }),
    )
}

/// Whether this run rewrites the vector files: only `PARLEY_BLESS=1`.
fn bless() -> bool {
    match std::env::var("PARLEY_BLESS") {
        Err(std::env::VarError::NotPresent) => false,
        Ok(v) if v == "1" => true,
        Ok(v) if v.is_empty() || v == "0" => false,
        Ok(v) => panic!("PARLEY_BLESS={v:?}: set it to 1 to rewrite the vectors, or unset it"),
        Err(e) => panic!("PARLEY_BLESS: {e}"),
    }
}

#[test]
fn vectors_match() {
    let (app, diff) = compute();
    let files = [("app_hash.json", app), ("diff.json", diff)];
    if bless() {
        for (name, value) in &files {
            let text = serde_json::to_string_pretty(value).expect("serializes") + "\n";
            std::fs::write(dir().join(name), text).expect("writes vectors");
        }
        panic!("vectors rewritten; unset PARLEY_BLESS and rerun");
    }
    for (name, value) in files {
        let path = dir().join(name);
        let stored =
            std::fs::read_to_string(&path).expect("vector file exists (PARLEY_BLESS=1 writes it)");
        // Compare values, not text: serde_json's key order depends on a cargo feature
        // (`preserve_order`) that other workspace crates may switch on.
        let stored: Value = serde_json::from_str(&stored).expect("vector file is JSON");
        assert_eq!(
            stored, value,
            "{name} changed: a breaking change to the state schema"
        );
    }
    // The stored diffs decode back to themselves.
    for d in diffs() {
        assert_eq!(StateDiff::decode(&d.encode()).expect("decodes"), d);
    }
    // An empty batch list gives the empty root.
    assert_eq!(MerkleTree::new().root(), B256::ZERO);
}
