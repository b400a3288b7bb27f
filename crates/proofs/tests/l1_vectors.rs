//! The L1 side of the proof tree: generator and checker of the Solidity Poseidon's constants
//! (`l1-bridge/contracts/src/PoseidonT4.sol`, the block between its `BEGIN GENERATED` and
//! `END GENERATED` lines) and of the forge test vectors
//! (`l1-bridge/contracts/test/vectors/poseidon.json`, read by `test/ProofTree.t.sol`).
//!
//! The Solidity permutation is the plain one (round constants added to the state, `x^5`, the
//! full MDS matrix) with one rewrite: in a partial round only element 0 keeps its round
//! constant; the constants of elements 1..3 are carried forward through the MDS into the next
//! round, ending in the first full round after the partial rounds. The constants come from the
//! Grain generator halo2-base's `OptimizedPoseidonSpec` starts from (poseidon-primitives, as
//! `poseidon_chip` takes them), and this file checks, before writing or comparing anything,
//! that the folded permutation equals `poseidon_chip::permute_native` and that the sponge over
//! it equals `poseidon::hash` (the optimized spec) bit for bit.
//!
//! `PARLEY_WRITE_L1_VECTORS=1` rewrites both files and then fails on purpose (unset it and
//! rerun); without it the test fails when either file differs from what it would write, so a
//! change on either side breaks CI. Any value other than `1`, `0` or empty is an error.

use alloy_primitives::{Address, B256, U256, keccak256};
use halo2_base::halo2_proofs::halo2curves::ff::{Field, PrimeField};
use parley_proofs::{
    Fr, PROOF_TREE_DEPTH, ProofTree,
    encoding::{fr_from_be32, fr_to_be_bytes, fr_to_hex, leaf_fields, leaf_hash},
    poseidon::{self, R_F, R_P, RATE, T},
    poseidon_chip::permute_native,
    types::{AccountLeaf, LeafValue, StateDiff, StateKey},
    vectors::{StateModel, addr},
};
use poseidon_primitives::poseidon::primitives::Spec;
use rand::{SeedableRng, rngs::StdRng};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const SOL_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../l1-bridge/contracts/src/PoseidonT4.sol"
);
const PROOF_TREE_SOL_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../l1-bridge/contracts/src/ProofTree.sol"
);
const JSON_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../l1-bridge/contracts/test/vectors/poseidon.json"
);
const PROOF_TREE_JSON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/proof_tree.json");

const BEGIN: &str = "    // BEGIN GENERATED";
const END: &str = "    // END GENERATED";

/// Number of words of the folded round-constant table.
const TABLE_WORDS: usize = R_F * T + R_P;

// ---------------------------------------------------------------------------------------------
// The plain spec and the folded form the Solidity code runs

/// Spec marker: the Grain LFSR with our parameters (what `OptimizedPoseidonSpec::new::<8, 56, 0>`
/// and `poseidon_chip` start from).
#[derive(Debug)]
struct Params;

impl Spec<Fr, T, RATE> for Params {
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

fn pow5(x: Fr) -> Fr {
    let x2 = x.square();
    x2.square() * x
}

fn mix(m: &[[Fr; T]; T], s: &[Fr; T]) -> [Fr; T] {
    let mut out = [Fr::zero(); T];
    for (o, row) in out.iter_mut().zip(m.iter()) {
        for (a, b) in row.iter().zip(s.iter()) {
            *o += *a * *b;
        }
    }
    out
}

/// The Solidity constants: the MDS matrix and the folded round-constant table
/// (`R_F/2` full rounds × `T`, `R_P` partial rounds × 1, `R_F/2` full rounds × `T`).
struct L1Spec {
    mds: [[Fr; T]; T],
    table: Vec<Fr>,
}

fn l1_spec() -> L1Spec {
    let (rc, mds, _) = Params::constants();
    assert_eq!(rc.len(), R_F + R_P);
    let half = R_F / 2;
    let mut table = Vec::with_capacity(TABLE_WORDS);
    for row in &rc[..half] {
        table.extend_from_slice(row);
    }
    // Partial round r adds e = rc[r] + carry; keep e[0], push (0, e[1], e[2], e[3]) through
    // the MDS into the next round (the S-box leaves elements 1..3 alone, the MDS is linear).
    let mut carry = [Fr::zero(); T];
    for row in &rc[half..half + R_P] {
        let mut e = [Fr::zero(); T];
        for k in 0..T {
            e[k] = row[k] + carry[k];
        }
        table.push(e[0]);
        e[0] = Fr::zero();
        carry = mix(&mds, &e);
    }
    for (i, row) in rc[half + R_P..].iter().enumerate() {
        for k in 0..T {
            table.push(if i == 0 { row[k] + carry[k] } else { row[k] });
        }
    }
    assert_eq!(table.len(), TABLE_WORDS);
    L1Spec { mds, table }
}

/// The permutation exactly as `PoseidonT4.sol` runs it.
fn permute_l1(spec: &L1Spec, mut s: [Fr; T]) -> [Fr; T] {
    let half = R_F / 2;
    let mut c = spec.table.iter();
    let full = |s: &mut [Fr; T], c: &mut std::slice::Iter<'_, Fr>| {
        for x in s.iter_mut() {
            *x = pow5(*x + c.next().expect("table word"));
        }
        *s = mix(&spec.mds, s);
    };
    for _ in 0..half {
        full(&mut s, &mut c);
    }
    for _ in 0..R_P {
        s[0] = pow5(s[0] + c.next().expect("table word"));
        s = mix(&spec.mds, &s);
    }
    for _ in 0..half {
        full(&mut s, &mut c);
    }
    assert!(c.next().is_none(), "table fully used");
    s
}

/// The sponge exactly as `PoseidonT4.hash` runs it: full chunks of 3, then the 0..2 left over
/// with a `1` right after them (a lone `1` in element 1 when the length is a multiple of 3).
fn hash_l1(spec: &L1Spec, inputs: &[Fr]) -> Fr {
    let mut s = [Fr::zero(); T];
    s[0] = Fr::from_u128(1u128 << 64);
    let mut chunks = inputs.chunks_exact(RATE);
    for chunk in &mut chunks {
        for (k, x) in chunk.iter().enumerate() {
            s[k + 1] += x;
        }
        s = permute_l1(spec, s);
    }
    let rest = chunks.remainder();
    for (k, x) in rest.iter().enumerate() {
        s[k + 1] += x;
    }
    s[rest.len() + 1] += Fr::one();
    permute_l1(spec, s)[1]
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn modulus() -> U256 {
    U256::from_be_bytes(fr_to_be_bytes(&-Fr::one())) + U256::from(1u64)
}

fn fr_of_u256(v: U256) -> Fr {
    fr_from_be32(&v.to_be_bytes::<32>()).expect("below r")
}

fn hex32(v: U256) -> String {
    format!("0x{}", hex::encode(v.to_be_bytes::<32>()))
}

fn hex_fr(v: &Value) -> Fr {
    let s = v.as_str().expect("hex string");
    let b = hex::decode(s.trim_start_matches("0x")).expect("hex");
    fr_from_be32(&b.try_into().expect("32 bytes")).expect("canonical")
}

fn random_fr(rng: &mut StdRng) -> Fr {
    Fr::random(rng)
}

/// Whether this run rewrites the files: only `PARLEY_WRITE_L1_VECTORS=1`.
fn write_mode() -> bool {
    match std::env::var("PARLEY_WRITE_L1_VECTORS") {
        Err(std::env::VarError::NotPresent) => false,
        Ok(v) if v == "1" => true,
        Ok(v) if v.is_empty() || v == "0" => false,
        Ok(v) => panic!(
            "PARLEY_WRITE_L1_VECTORS={v:?}: set it to 1 to rewrite the L1 vectors, or unset it"
        ),
        Err(e) => panic!("PARLEY_WRITE_L1_VECTORS: {e}"),
    }
}

// ---------------------------------------------------------------------------------------------
// PoseidonT4.sol's generated block

fn sol_word(x: &Fr) -> String {
    fr_to_hex(x)
}

fn generated_block(spec: &L1Spec) -> String {
    let mut out = String::new();
    out.push_str(
        "    // BEGIN GENERATED by crates/proofs/tests/l1_vectors.rs (PARLEY_WRITE_L1_VECTORS=1).\n",
    );
    out.push_str(
        "    // Do not edit: the test fails when this block differs from the Rust spec.\n\n",
    );
    out.push_str("    /// The BN254 scalar field modulus r.\n");
    out.push_str(&format!(
        "    uint256 internal constant R = {};\n\n",
        hex32(modulus())
    ));
    out.push_str(
        "    // The MDS matrix: element i of the output is the sum over j of M_ij times element j.\n",
    );
    for (i, row) in spec.mds.iter().enumerate() {
        for (j, m) in row.iter().enumerate() {
            out.push_str(&format!(
                "    uint256 private constant M{i}{j} = {};\n",
                sol_word(m)
            ));
        }
    }
    out.push_str(&format!(
        "\n    // Round constants, {TABLE_WORDS} big-endian words: {} full rounds x {T}, {R_P} partial\n    \
         // rounds x 1 (element 0; the other elements' constants are carried forward through\n    \
         // the MDS), {} full rounds x {T}.\n",
        R_F / 2,
        R_F / 2
    ));
    out.push_str("    bytes private constant RC =\n");
    for (i, w) in spec.table.iter().enumerate() {
        let h = hex::encode(fr_to_be_bytes(w));
        let end = if i + 1 == spec.table.len() { ";" } else { "" };
        out.push_str(&format!("        hex\"{h}\"{end}\n"));
    }
    out.push_str(END);
    out.push('\n');
    out
}

/// Split the Solidity file at the generated block: `(before, block, after)`.
fn split_sol(text: &str) -> (String, String, String) {
    let b = text
        .find(BEGIN)
        .expect("PoseidonT4.sol has a BEGIN GENERATED line");
    let e = text
        .find(END)
        .expect("PoseidonT4.sol has an END GENERATED line");
    let e_end = e + text[e..].find('\n').map_or(text.len() - e, |n| n + 1);
    (
        text[..b].to_string(),
        text[b..e_end].to_string(),
        text[e_end..].to_string(),
    )
}

// ---------------------------------------------------------------------------------------------
// poseidon.json

fn hash_vector(inputs: &[Fr]) -> Value {
    json!({
        "inputs": inputs.iter().map(fr_to_hex).collect::<Vec<_>>(),
        "output": fr_to_hex(&poseidon::hash(inputs)),
    })
}

fn account_json(a: &Address, v: &AccountLeaf) -> Value {
    let key = StateKey::Account(*a);
    let value = LeafValue::Account(*v);
    json!({
        "address": format!("{a:#x}"),
        "nonce": v.nonce,
        "balance": hex32(v.balance),
        "code_hash": format!("{:#x}", v.code_hash),
        "fields": leaf_fields(&key, &value).expect("account").iter().map(fr_to_hex).collect::<Vec<_>>(),
        "leaf": fr_to_hex(&leaf_hash(&key, Some(&value)).expect("account")),
    })
}

/// The live entries of a tree built by applying `diffs` in order: key bytes → (key, index, value).
type Live = BTreeMap<Vec<u8>, (StateKey, u64, LeafValue)>;

fn replay(diffs: &[StateDiff]) -> (ProofTree, Live) {
    let mut t = ProofTree::new();
    let mut live = Live::new();
    for d in diffs {
        t.apply_diff(d).expect("diff applies");
        for e in &d.0 {
            match e.new {
                Some(v) => {
                    live.insert(e.key.encode(), (e.key, e.index, v));
                }
                None => {
                    live.remove(&e.key.encode());
                }
            }
        }
    }
    (t, live)
}

/// One path vector per live account of `live` (in key order), checked against `tree`.
fn paths_json(tree: &ProofTree, live: &Live, description: &str) -> Value {
    let root = tree.root();
    let mut accounts = Vec::new();
    let mut storage_leaves = 0usize;
    for (key, index, value) in live.values() {
        let (StateKey::Account(a), LeafValue::Account(v)) = (key, value) else {
            storage_leaves += 1;
            continue;
        };
        let path = tree.path(*index).expect("index in range");
        let leaf = leaf_hash(key, Some(value)).expect("account");
        assert_eq!(tree.leaf(*index), leaf, "tree holds the account's leaf");
        assert_eq!(
            parley_proofs::tree::root_from_path(*index, leaf, &path),
            root
        );
        let mut j = account_json(a, v);
        j["index"] = json!(index);
        j["siblings"] = json!(path.iter().map(fr_to_hex).collect::<Vec<_>>());
        accounts.push(j);
    }
    assert!(storage_leaves > 0, "the tree holds storage leaves too");
    json!({
        "description": description,
        "root": fr_to_hex(&root),
        "leaf_count": tree.len(),
        "storage_leaf_count": storage_leaves,
        "account_count": accounts.len(),
        "accounts": accounts,
    })
}

fn eth(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u64))
}

fn generate_json() -> Value {
    let r = modulus();
    let mut rng = StdRng::seed_from_u64(0x1_7a71e7);

    // Poseidon over 0..=8 inputs: small, random, near r (r-1, r-2, ...), and mixed.
    let mut hashes = Vec::new();
    for n in 0..=8u64 {
        let small: Vec<Fr> = (0..n).map(|i| Fr::from(i + 1)).collect();
        let random: Vec<Fr> = (0..n).map(|_| random_fr(&mut rng)).collect();
        let near_r: Vec<Fr> = (0..n).map(|i| -Fr::from(i + 1)).collect();
        let mixed: Vec<Fr> = (0..n)
            .map(|i| match i % 3 {
                0 => Fr::zero(),
                1 => -Fr::one(),
                _ => fr_of_u256(U256::from(1u64) << 253),
            })
            .collect();
        for v in [small, random, near_r, mixed] {
            if n == 0 && !hashes.is_empty() {
                break;
            }
            hashes.push(hash_vector(&v));
        }
    }

    // hash2: the node hash of the tree.
    let pairs: Vec<(Fr, Fr)> = vec![
        (Fr::zero(), Fr::zero()),
        (Fr::one(), Fr::from(2u64)),
        (Fr::from(2u64), Fr::one()),
        (-Fr::one(), -Fr::one()),
        (-Fr::one(), Fr::zero()),
        (Fr::zero(), -Fr::from(2u64)),
        (random_fr(&mut rng), random_fr(&mut rng)),
        (random_fr(&mut rng), random_fr(&mut rng)),
        (random_fr(&mut rng), random_fr(&mut rng)),
    ];
    let hash2: Vec<Value> = pairs
        .iter()
        .map(|(l, rr)| {
            json!({
                "left": fr_to_hex(l),
                "right": fr_to_hex(rr),
                "output": fr_to_hex(&poseidon::hash2(*l, *rr)),
            })
        })
        .collect();

    // Account leaves, including the extremes of every field.
    let leaves_in: Vec<(Address, AccountLeaf)> = vec![
        (
            addr(0),
            AccountLeaf {
                nonce: 0,
                balance: eth(1000),
                code_hash: parley_proofs::vectors::empty_code_hash(),
            },
        ),
        (
            Address::ZERO,
            AccountLeaf {
                nonce: 0,
                balance: U256::ZERO,
                code_hash: B256::ZERO,
            },
        ),
        (
            Address::repeat_byte(0xff),
            AccountLeaf {
                nonce: u64::MAX,
                balance: U256::MAX,
                code_hash: B256::repeat_byte(0xff),
            },
        ),
        (
            addr(7),
            AccountLeaf {
                nonce: 1,
                balance: U256::from(1u64) << 128,
                code_hash: keccak256(b"parley test contract"),
            },
        ),
        (
            addr(8),
            AccountLeaf {
                nonce: 42,
                balance: (U256::from(1u64) << 128) - U256::from(1u64),
                code_hash: B256::from(U256::from(1u64)),
            },
        ),
    ];
    let account_leaves: Vec<Value> = leaves_in.iter().map(|(a, v)| account_json(a, v)).collect();

    // Reused: proof_tree.json's Poseidon hashes, empty root, account leaves and final root.
    let stored: Value = serde_json::from_str(
        &std::fs::read_to_string(PROOF_TREE_JSON).expect("proof_tree.json exists"),
    )
    .expect("proof_tree.json parses");
    let pt_hashes = stored["poseidon_hashes"].clone();
    let mut pt_diffs = Vec::new();
    let mut pt_leaves = Vec::new();
    for b in stored["blocks"].as_array().expect("blocks") {
        let d: StateDiff = serde_json::from_value(b["diff"].clone()).expect("diff");
        for (e, lh) in
            d.0.iter()
                .zip(b["leaf_hashes"].as_array().expect("leaf hashes"))
        {
            if let (StateKey::Account(a), Some(LeafValue::Account(v))) = (&e.key, &e.new) {
                let j = account_json(a, v);
                assert_eq!(j["leaf"], lh[1], "proof_tree.json leaf hash");
                pt_leaves.push(j);
            }
        }
        pt_diffs.push(d);
    }
    let (pt_tree, pt_live) = replay(&pt_diffs);
    let pt_root = stored["blocks"]
        .as_array()
        .and_then(|b| b.last())
        .map(|b| b["post_root"].clone())
        .expect("a last block");
    assert_eq!(json!(fr_to_hex(&pt_tree.root())), pt_root);

    // A larger state: 16 funded accounts, transfer blocks with fresh receivers, contract calls
    // writing and deleting storage, then accounts at indices with high bits set.
    let coinbase = addr(999);
    let mut m = StateModel::new();
    let mut diffs = vec![m.genesis(16)];
    diffs.push(m.transfers(12, 16, 1, coinbase));
    diffs.push(m.contract_call(
        addr(3),
        addr(5000),
        coinbase,
        &[
            (U256::from(1u64), U256::from(7u64)),
            (U256::from(2u64), U256::MAX),
            (U256::MAX, U256::from(3u64)),
        ],
    ));
    diffs.push(m.transfers(12, 16, 2, coinbase));
    diffs.push(m.contract_call(
        addr(4),
        addr(5000),
        coinbase,
        &[
            (U256::from(1u64), U256::ZERO),
            (U256::from(5u64), U256::from(9u64)),
        ],
    ));
    diffs.push(m.contract_call(
        addr(5),
        addr(5001),
        coinbase,
        &[(U256::from(1u64), U256::from(11u64))],
    ));
    let (mut big, mut big_live) = replay(&diffs);
    assert_eq!(big.len(), big_live.len());
    let high: [(u64, Address, AccountLeaf); 4] = [
        (
            (1u64 << PROOF_TREE_DEPTH) - 1,
            Address::repeat_byte(0xff),
            AccountLeaf {
                nonce: u64::MAX,
                balance: U256::MAX,
                code_hash: B256::repeat_byte(0xff),
            },
        ),
        (
            1u64 << (PROOF_TREE_DEPTH - 1),
            addr(2_000_001),
            AccountLeaf {
                nonce: 3,
                balance: eth(5),
                code_hash: parley_proofs::vectors::empty_code_hash(),
            },
        ),
        (
            (1u64 << (PROOF_TREE_DEPTH - 1)) - 1,
            addr(2_000_002),
            AccountLeaf {
                nonce: 0,
                balance: U256::from(1u64),
                code_hash: parley_proofs::vectors::empty_code_hash(),
            },
        ),
        (
            0x1234_5679,
            addr(2_000_003),
            AccountLeaf {
                nonce: 9,
                balance: eth(1) + U256::from(12345u64),
                code_hash: keccak256(b"another contract"),
            },
        ),
    ];
    for (index, a, v) in high {
        let key = StateKey::Account(a);
        let value = LeafValue::Account(v);
        big.set_leaf(index, leaf_hash(&key, Some(&value)).expect("account"))
            .expect("index in range");
        big_live.insert(key.encode(), (key, index, value));
    }

    json!({
        "version": 1,
        "description": "Parley L1 Poseidon and proof-tree vectors, generated by crates/proofs/tests/l1_vectors.rs from the native code (Poseidon t=4 rate=3 R_F=8 R_P=56, halo2-base spec, capacity 2^64, 1-then-0 padding; dense depth-32 tree, node = hash2(left, right)). 256-bit values are 32-byte big-endian hex; fields are the account leaf's field list [1, address, nonce, balance_hi, balance_lo, code_hash_hi, code_hash_lo].",
        "modulus": hex32(r),
        "depth": PROOF_TREE_DEPTH,
        "hash_count": hashes.len(),
        "hash": hashes,
        "hash2_count": hash2.len(),
        "hash2": hash2,
        "account_leaves_count": account_leaves.len(),
        "account_leaves": account_leaves,
        "proof_tree_json": {
            "description": "Copied from crates/proofs/tests/vectors/proof_tree.json (checked equal by l1_vectors.rs): its Poseidon hashes, its empty root, the account leaves its diffs write, and the paths of every account of the tree its blocks leave (root = its last post_root).",
            "hash_count": pt_hashes.as_array().expect("hashes").len(),
            "hash": pt_hashes,
            "empty_root": stored["empty_root"].clone(),
            "account_leaves_count": pt_leaves.len(),
            "account_leaves": pt_leaves,
        },
        "tree_count": 2,
        "trees": [
            paths_json(&pt_tree, &pt_live, "the state proof_tree.json's blocks leave"),
            paths_json(&big, &big_live, "16 funded accounts, 2 blocks of 12 transfers, 3 contract calls writing and deleting storage, and 4 accounts set at indices 2^32-1, 2^31, 2^31-1 and 0x12345679"),
        ],
    })
}

// ---------------------------------------------------------------------------------------------
// Tests

/// The folded permutation is the plain one, and its sponge is `poseidon::hash`.
#[test]
fn folded_permutation_matches_native() {
    let spec = l1_spec();
    let mut rng = StdRng::seed_from_u64(11);
    for _ in 0..32 {
        let s = [0; T].map(|_| random_fr(&mut rng));
        assert_eq!(permute_l1(&spec, s), permute_native(s));
    }
    for len in 0..=13 {
        for _ in 0..4 {
            let inputs: Vec<Fr> = (0..len).map(|_| random_fr(&mut rng)).collect();
            assert_eq!(
                hash_l1(&spec, &inputs),
                poseidon::hash(&inputs),
                "len {len}"
            );
        }
    }
    let l = random_fr(&mut rng);
    assert_eq!(hash_l1(&spec, &[l, -l]), poseidon::hash2(l, -l));
}

/// Every hash of the JSON file, recomputed with the folded sponge, matches.
#[test]
fn folded_sponge_matches_every_vector() {
    let spec = l1_spec();
    let v = generate_json();
    for h in v["hash"]
        .as_array()
        .expect("hash")
        .iter()
        .chain(v["proof_tree_json"]["hash"].as_array().expect("pt hash"))
    {
        let inputs: Vec<Fr> = h["inputs"]
            .as_array()
            .expect("inputs")
            .iter()
            .map(hex_fr)
            .collect();
        assert_eq!(hash_l1(&spec, &inputs), hex_fr(&h["output"]));
    }
    for h in v["hash2"].as_array().expect("hash2") {
        assert_eq!(
            hash_l1(&spec, &[hex_fr(&h["left"]), hex_fr(&h["right"])]),
            hex_fr(&h["output"])
        );
    }
    for a in v["account_leaves"].as_array().expect("leaves") {
        let f: Vec<Fr> = a["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .map(hex_fr)
            .collect();
        assert_eq!(hash_l1(&spec, &f), hex_fr(&a["leaf"]));
    }
}

/// `PoseidonT4.sol`'s generated block and `poseidon.json` are what this file generates.
#[test]
fn l1_files_match_generator() {
    let spec = l1_spec();
    let block = generated_block(&spec);
    let json = serde_json::to_string_pretty(&generate_json()).expect("json") + "\n";
    let sol = std::fs::read_to_string(SOL_PATH).expect("PoseidonT4.sol exists");
    let (before, stored_block, after) = split_sol(&sol);
    let proof_tree_sol = std::fs::read_to_string(PROOF_TREE_SOL_PATH).expect("ProofTree.sol");
    assert!(
        proof_tree_sol.contains(&format!(
            "uint256 internal constant DEPTH = {PROOF_TREE_DEPTH};"
        )),
        "ProofTree.sol's DEPTH is PROOF_TREE_DEPTH ({PROOF_TREE_DEPTH})"
    );
    if write_mode() {
        std::fs::write(SOL_PATH, format!("{before}{block}{after}")).expect("write sol");
        std::fs::write(JSON_PATH, json).expect("write json");
        panic!("L1 vectors rewritten; unset PARLEY_WRITE_L1_VECTORS and rerun");
    }
    assert!(
        stored_block == block,
        "PoseidonT4.sol's generated block differs from the Rust spec; run with PARLEY_WRITE_L1_VECTORS=1"
    );
    let stored_json = std::fs::read_to_string(JSON_PATH).expect("poseidon.json exists");
    assert!(
        stored_json == json,
        "poseidon.json differs from the native code; run with PARLEY_WRITE_L1_VECTORS=1"
    );
}
