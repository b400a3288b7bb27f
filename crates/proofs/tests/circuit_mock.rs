//! Block circuit soundness with halo2's MockProver: the honest witness passes, and every
//! tampering the issue lists fails.

mod common;

use alloy_primitives::U256;
use common::*;
use parley_proofs::{
    BlockPublicInputs, DEFAULT_INDEX_BITS, FULL_INDEX_BITS, Fr, ProofError, ProofTree,
    circuit::{BlockCircuitShape, HashBackend, block_shape, block_shape_for, mock_check},
    diff_hash::diff_hash,
    encoding::value_fields,
    types::LeafValue,
    vectors::addr,
};
use std::sync::LazyLock;

const CAP: usize = 5;
/// The circuit a new chain pins (ADR 0021: 24 index bits, the top 8 levels once per proof):
/// every soundness test below runs against it.
static SHAPE: LazyLock<BlockCircuitShape> =
    LazyLock::new(|| block_shape_for(CAP, HashBackend::Chip, DEFAULT_INDEX_BITS).expect("shape"));
/// The circuit that opens whole paths (a chain whose genesis pins no index bits).
static FULL: LazyLock<BlockCircuitShape> = LazyLock::new(|| block_shape(CAP).expect("shape"));

fn fails(w: &parley_proofs::BlockWitness, inst: &[Fr]) {
    let r = mock_check(&SHAPE, w, inst);
    assert!(
        matches!(r, Err(ProofError::Invalid(_))),
        "expected failure, got {r:?}"
    );
}

#[test]
fn honest_transfer_and_contract_blocks_pass() {
    let (mut m, mut t) = genesis();
    let d = transfer_diff(&mut m);
    let w = witness(&mut t, 1, &d, CAP);
    mock_check(&SHAPE, &w, &w.public.instances()).expect("transfer block passes");
    let d2 = contract_diff(&mut m);
    assert_eq!(d2.0.len(), 5, "{d2:?}");
    let w2 = witness(&mut t, 2, &d2, CAP);
    assert_eq!(w2.public.pre_root, w.public.post_root);
    mock_check(&SHAPE, &w2, &w2.public.instances()).expect("contract block passes");
    // deleting a slot (value set to zero) and updating another
    let d3 = m.contract_call(
        addr(2),
        addr(5000),
        coinbase(),
        &[(U256::from(1), U256::ZERO), (U256::from(2), U256::from(10))],
    );
    assert!(d3.0.iter().any(|e| e.new.is_none()), "{d3:?}");
    let w3 = witness(&mut t, 3, &d3, CAP);
    mock_check(&SHAPE, &w3, &w3.public.instances()).expect("delete block passes");
}

#[test]
fn empty_block_passes_with_equal_roots() {
    let (_m, mut t) = genesis();
    let w = witness(&mut t, 1, &Default::default(), CAP);
    assert_eq!(w.public.pre_root, w.public.post_root);
    mock_check(&FULL, &w, &w.public.instances()).expect("empty block passes");
    // The 24-bit circuit takes the pre-state's subtree root from the first real entry's path
    // (ADR 0021): a witness without entries only proves the empty tree. The chain never asks
    // for one (an empty diff has no chunk).
    fails(&w, &w.public.instances());
    let w = witness(&mut ProofTree::new(), 1, &Default::default(), CAP);
    mock_check(&SHAPE, &w, &w.public.instances()).expect("empty block on the empty tree");
}

#[test]
fn wrong_post_root_fails() {
    let (mut m, mut t) = genesis();
    let d = transfer_diff(&mut m);
    let w = witness(&mut t, 1, &d, CAP);
    let mut inst = w.public.instances();
    inst[1] += Fr::one();
    fails(&w, &inst);
    // post_root of "no change" (pre_root) is wrong too
    let mut inst = w.public.instances();
    inst[1] = w.public.pre_root;
    fails(&w, &inst);
}

#[test]
fn changed_diff_entry_fails() {
    let (mut m, mut t) = genesis();
    let d = transfer_diff(&mut m);
    let w = witness(&mut t, 1, &d, CAP);
    // (a) the prover's witness changes the receiver's new balance, the verifier expects the
    //     honest diff's commitment and roots
    let mut bad = w.clone();
    let mut v = bad.entries[1].new.expect("receiver has a new value");
    v[2] += Fr::one();
    bad.entries[1].new = Some(v);
    fails(&bad, &w.public.instances());
    // (b) the verifier's diff differs in one entry (diff_hash moves): honest witness fails
    let mut d_other = d.clone();
    if let Some(LeafValue::Account(a)) = d_other.0[1].new.as_mut() {
        a.balance += U256::from(1);
    }
    let public = BlockPublicInputs {
        diff_hash: diff_hash(&d_other).expect("hash"),
        ..w.public
    };
    fails(&w, &public.instances());
    // (c) the prover drops an entry (marks it padding)
    let mut dropped = w.clone();
    dropped.entries[2].is_real = false;
    fails(&dropped, &w.public.instances());
    // (d) the prover changes an index
    let mut moved = w.clone();
    moved.entries[0].index += 1;
    fails(&moved, &w.public.instances());
    // sanity: value_fields is what the witness holds
    assert_eq!(w.entries[0].new, d.0[0].new.as_ref().map(value_fields));
}

#[test]
fn leaf_opened_under_stale_root_fails() {
    let (mut m, mut t) = genesis();
    let before = t.clone();
    let d = transfer_diff(&mut m);
    let w = witness(&mut t, 1, &d, CAP);
    // entry 1's path taken under the block's pre-root instead of the running root
    let mut stale = w.clone();
    stale.entries[1].path = before.path(d.0[1].index).expect("path");
    assert_ne!(stale.entries[1].path, w.entries[1].path);
    fails(&stale, &w.public.instances());
    // the whole block proven from an older pre_root (the empty tree)
    let mut inst = w.public.instances();
    inst[0] = parley_proofs::tree::empty_root();
    fails(&w, &inst);
}

#[test]
fn different_header_fields_fail() {
    let (mut m, mut t) = genesis();
    let d = transfer_diff(&mut m);
    let w = witness(&mut t, 1, &d, CAP);
    let mut p = w.public;
    p.header.prover_address = addr(78);
    fails(&w, &p.instances());
    let mut p = w.public;
    p.header.chain_id += 1;
    fails(&w, &p.instances());
    let mut p = w.public;
    p.header.slot += 1;
    fails(&w, &p.instances());
    let mut p = w.public;
    p.header.block_commitment = alloy_primitives::B256::repeat_byte(0xee);
    fails(&w, &p.instances()); // The chunk a proof covers, and of how many (ADR 0016): the same entries proven as
    // chunk 0 of 1 stand for no other chunk, nor for chunk 0 of a longer diff.
    let mut p = w.public;
    p.header.chunk_index = 1;
    p.header.chunk_count = 2;
    fails(&w, &p.instances());
    let mut p = w.public;
    p.header.chunk_count = 2;
    fails(&w, &p.instances());
}

#[test]
fn public_inputs_swapped_between_blocks_fail() {
    let (mut m, mut t) = genesis();
    let d1 = transfer_diff(&mut m);
    let w1 = witness(&mut t, 1, &d1, CAP);
    let d2 = contract_diff(&mut m);
    let w2 = witness(&mut t, 2, &d2, CAP);
    fails(&w1, &w2.public.instances());
    fails(&w2, &w1.public.instances());
}

#[test]
fn capacity_and_index_limits_are_errors() {
    let (mut m, mut t) = genesis();
    let d = m.transfers(8, 8, 3, coinbase());
    assert!(d.0.len() > CAP);
    let r = parley_proofs::BlockWitness::build(&mut t, header(1), &d, CAP);
    assert!(
        matches!(r, Err(ProofError::CapacityExceeded { .. })),
        "{r:?}"
    );
    // a chain-meta key is not in the proof tree; an account key with a storage value is not
    // a leaf; an index beyond depth 32 does not fit
    use parley_proofs::types::{DiffEntry, StateDiff, StateKey};
    let meta = StateDiff(vec![DiffEntry {
        key: StateKey::Meta,
        index: 0,
        old: None,
        new: Some(LeafValue::Storage(U256::from(1))),
    }]);
    assert!(matches!(diff_hash(&meta), Err(ProofError::KindMismatch(0))));
    let mixed = StateDiff(vec![DiffEntry {
        key: StateKey::Account(addr(1)),
        index: 100,
        old: None,
        new: Some(LeafValue::Storage(U256::from(1))),
    }]);
    assert!(matches!(
        parley_proofs::BlockWitness::build(&mut t, header(1), &mixed, CAP),
        Err(ProofError::KindMismatch(0))
    ));
    let far = StateDiff(vec![DiffEntry {
        key: StateKey::Storage(addr(1), U256::from(3)),
        index: 1 << 32,
        old: None,
        new: Some(LeafValue::Storage(U256::from(1))),
    }]);
    assert!(matches!(
        parley_proofs::BlockWitness::build(&mut t, header(1), &far, CAP),
        Err(ProofError::IndexOutOfRange(_))
    ));
}

/// A diff whose only defect is one stale `old` value (the entry's value one block earlier):
/// the honest diff is accepted by the same tree, the tampered one is canonical, and building
/// its witness fails on exactly that entry, leaving the tree untouched.
#[test]
fn stale_old_value_is_refused() {
    let (mut m, mut t) = genesis();
    let d1 = transfer_diff(&mut m);
    t.apply_diff(&d1).expect("block 1 applies");
    let d2 = m.transfers(1, 8, 2, coinbase());
    t.apply_diff(&d2).expect("block 2 applies");
    let d3 = m.transfers(1, 8, 3, coinbase());
    t.check_diff(&d3)
        .expect("the honest block 3 matches the tree");
    // The coinbase earns a fee in every block: in block 3 its `old` must be its value after
    // block 2; put its value before block 2 instead.
    let key = parley_proofs::types::StateKey::Account(coinbase());
    let pos =
        d3.0.iter()
            .position(|e| e.key == key)
            .expect("coinbase in block 3");
    let before_block2 =
        d2.0.iter()
            .find(|e| e.key == key)
            .expect("coinbase in block 2")
            .old;
    assert!(
        before_block2.is_some(),
        "the coinbase existed before block 2"
    );
    let mut stale = d3.clone();
    stale.0[pos].old = before_block2;
    assert_ne!(stale.0[pos].old, d3.0[pos].old);
    assert_eq!(
        stale.validate(),
        Ok(()),
        "the tampered diff is still canonical"
    );
    let root = t.root();
    let r = parley_proofs::BlockWitness::build(&mut t, header(3), &stale, CAP).map(|w| w.public);
    assert!(
        matches!(r, Err(ProofError::OldValueMismatch { position, index })
            if position == pos && index == d3.0[pos].index),
        "{r:?}"
    );
    assert_eq!(t.root(), root, "a refused diff leaves the tree unchanged");
    witness(&mut t, 3, &d3, CAP);
}

/// Witnesses the typed API cannot express are refused by the constraints themselves: a flag
/// that is not 0/1 (each of the four per-entry flags, on a real entry and on padding). The
/// same hook with the honest values passes, so the failures come from the values.
#[test]
fn non_boolean_flags_fail() {
    use parley_proofs::circuit::{Flag, RawFlag, mock_check_raw};
    let (mut m, mut t) = genesis();
    let d = transfer_diff(&mut m);
    let w = witness(&mut t, 1, &d, CAP);
    let inst = w.public.instances();
    let honest = |entry: usize, flag: Flag| -> Fr {
        let e = &w.entries[entry];
        Fr::from(u64::from(match flag {
            Flag::IsReal => e.is_real,
            Flag::IsAccount => e.is_account,
            Flag::OldExists => e.old.is_some(),
            Flag::NewExists => e.new.is_some(),
        }))
    };
    for entry in [0, CAP - 1] {
        for flag in [
            Flag::IsReal,
            Flag::IsAccount,
            Flag::OldExists,
            Flag::NewExists,
        ] {
            let same = RawFlag {
                entry,
                flag,
                value: honest(entry, flag),
            };
            mock_check_raw(&SHAPE, &w, &inst, Some(same))
                .unwrap_or_else(|e| panic!("honest value through the hook: {e}"));
            for value in [Fr::from(2), -Fr::one()] {
                let raw = RawFlag { entry, flag, value };
                let r = mock_check_raw(&SHAPE, &w, &inst, Some(raw));
                assert!(
                    matches!(r, Err(ProofError::Invalid(_))),
                    "{flag:?} = {value:?} at entry {entry} accepted: {r:?}"
                );
            }
        }
    }
}

/// An index at or above 2^32 whose low 32 bits name the right leaf, with `diff_hash`
/// recomputed natively for that index (the native hash takes any u64), fails: the circuit
/// decomposes the index into exactly 32 bits.
#[test]
fn index_beyond_depth_with_matching_diff_hash_fails() {
    let (mut m, mut t) = genesis();
    let d = transfer_diff(&mut m);
    let mut w = witness(&mut t, 1, &d, CAP);
    let mut far = d.clone();
    far.0[0].index += 1 << 32;
    w.entries[0].index = far.0[0].index;
    w.public.diff_hash = diff_hash(&far).expect("native diff_hash takes any u64 index");
    fails(&w, &w.public.instances());
}

/// A storage value's three unused value cells are pinned to zero: a witness that puts
/// anything there (the leaf hash would not change) is refused.
#[test]
fn storage_value_unused_cells_are_pinned() {
    let (mut m, mut t) = genesis();
    let d = contract_diff(&mut m);
    let w = witness(&mut t, 1, &d, CAP);
    mock_check(&SHAPE, &w, &w.public.instances()).expect("honest contract block passes");
    let slot = w
        .entries
        .iter()
        .position(|e| e.is_real && !e.is_account && e.new.is_some())
        .expect("a storage write");
    for cell in 2..5 {
        let mut bad = w.clone();
        bad.entries[slot].new.as_mut().expect("new value")[cell] = Fr::from(5);
        fails(&bad, &bad.public.instances());
    }
}

/// Both circuits prove the same statement: the honest witnesses of three blocks pass both with
/// the same instances, and the 24-bit circuit has 16 permutations fewer per entry.
#[test]
fn whole_path_and_top_once_circuits_prove_the_same_blocks() {
    assert_eq!(FULL.index_bits, FULL_INDEX_BITS);
    assert_eq!(SHAPE.index_bits, DEFAULT_INDEX_BITS);
    let saved = 2 * (FULL_INDEX_BITS - DEFAULT_INDEX_BITS) as usize;
    // per entry 2·8 fewer, per proof 2·8 more (pre- and post-state top)
    assert_eq!(FULL.permutations - SHAPE.permutations, CAP * saved - saved);
    let (mut m, mut t) = genesis();
    for (slot, d) in [
        (1, transfer_diff(&mut m)),
        (2, contract_diff(&mut m)),
        (3, m.transfers(2, 8, 4, coinbase())),
    ] {
        let w = witness(&mut t, slot, &d, CAP);
        let inst = w.public.instances();
        mock_check(&FULL, &w, &inst).expect("whole paths");
        mock_check(&SHAPE, &w, &inst).expect("top once");
        let mut bad = inst.clone();
        bad[1] += Fr::one();
        assert!(mock_check(&FULL, &w, &bad).is_err());
        fails(&w, &bad);
    }
}

/// An entry at or past 2^24 cannot be proven by the 24-bit circuit, whatever the witness:
/// an insert there (honest native witness, valid for the whole-path circuit) fails, and so
/// does an index whose low 24 bits name the right leaf with `diff_hash` recomputed for it.
#[test]
fn index_beyond_the_circuits_bits_fails() {
    use parley_proofs::types::{DiffEntry, StateDiff, StateKey};
    let (_m, mut t) = genesis();
    let beyond = 1u64 << DEFAULT_INDEX_BITS;
    let d = StateDiff(vec![DiffEntry {
        key: StateKey::Storage(addr(1), U256::from(3)),
        index: beyond + 5,
        old: None,
        new: Some(LeafValue::Storage(U256::from(1))),
    }]);
    let w = witness(&mut t, 1, &d, CAP);
    mock_check(&FULL, &w, &w.public.instances()).expect("the whole-path circuit opens it");
    fails(&w, &w.public.instances());

    let (mut m, mut t) = genesis();
    let d = transfer_diff(&mut m);
    let mut w = witness(&mut t, 1, &d, CAP);
    let mut far = d.clone();
    far.0[0].index += beyond;
    w.entries[0].index = far.0[0].index;
    w.public.diff_hash = diff_hash(&far).expect("native diff_hash takes any u64 index");
    fails(&w, &w.public.instances());
}

/// A pre-state holding a leaf at or past 2^24 is not a state the 24-bit circuit proves
/// anything from, even for a block that only touches low indices: its top levels are not
/// empty, and no subtree root hashes up to its root.
#[test]
fn pre_state_with_a_leaf_past_the_bits_fails() {
    use parley_proofs::types::{DiffEntry, StateDiff, StateKey};
    let (mut m, mut t) = genesis();
    let high = StateDiff(vec![DiffEntry {
        key: StateKey::Storage(addr(1), U256::from(3)),
        index: (1u64 << DEFAULT_INDEX_BITS) + 1,
        old: None,
        new: Some(LeafValue::Storage(U256::from(1))),
    }]);
    t.apply_diff(&high)
        .expect("native tree holds any index below 2^32");
    let d = transfer_diff(&mut m);
    let w = witness(&mut t, 1, &d, CAP);
    mock_check(&FULL, &w, &w.public.instances()).expect("the whole-path circuit proves it");
    fails(&w, &w.public.instances());
}
