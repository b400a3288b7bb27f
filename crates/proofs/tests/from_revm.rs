//! Block proofs over diffs produced by the real node: `parley-app` executes transfers, a
//! contract deployment and a contract call in revm through its ABCI state machine, records the
//! canonical diffs (ADR 0001), and the circuit proves the Poseidon root transitions they imply.

use alloy_primitives::{Address, B256, Bytes, U256, hex};
use parley_app::app::{App, Verdict};
use parley_app::devtx::{self, Fees, Kind};
use parley_app::genesis::{AppGenesis, Params};
use parley_app::storage::Store;
use parley_proofs::circuit::{block_shape, mock_check};
use parley_proofs::types::{DiffEntry, StateDiff, StateKey};
use parley_proofs::{
    BlockHeader, BlockProver, BlockWitness, Halo2BlockProver, ProofError, ProofTree,
};
use std::collections::BTreeSet;

const CHAIN_ID: u64 = 424_242;
/// Stores 32 bytes of calldata in slot 0 and logs them (same contract as the app's harness).
const INIT_CODE: &str = "601d80600b6000396000f33615601757600035806000556000526\
                         0aa60206000a1005b60006000fd";

struct Chain {
    _dir: tempfile::TempDir,
    app: App,
    height: u64,
}

impl Chain {
    fn new(funded: &[Address]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let app = App::new(
            Store::open(&dir.path().join("db")).expect("db"),
            Address::repeat_byte(0xbb),
        )
        .expect("app");
        let g = AppGenesis::funded(
            Params {
                chain_id: CHAIN_ID,
                ..Params::default()
            },
            funded.iter().copied(),
            U256::from(10u128.pow(22)),
        );
        app.init_chain(&serde_json::to_vec(&g).expect("json"), 1)
            .expect("genesis");
        Self {
            _dir: dir,
            app,
            height: 0,
        }
    }

    /// Runs one height with `txs` through CheckTx, Prepare/ProcessProposal, FinalizeBlock and
    /// Commit; returns the block's recorded diff and hash.
    fn block(&mut self, txs: &[Bytes]) -> (StateDiff, B256) {
        for t in txs {
            self.app
                .check_tx(t, false)
                .expect("check")
                .expect("tx accepted");
        }
        self.height += 1;
        let (h, time) = (self.height, 1_700_000_000 + self.height);
        let proposal = self
            .app
            .prepare_proposal(h, time, txs, 4 << 20)
            .expect("prepare");
        let cometbft_hash = B256::with_last_byte(h as u8);
        assert_eq!(
            self.app
                .process_proposal(h, time, cometbft_hash, &proposal)
                .expect("process"),
            Verdict::Accept
        );
        let f = self
            .app
            .finalize_block(h, time, cometbft_hash, &proposal)
            .expect("finalize");
        assert_eq!(f.block.2, txs.len(), "every tx executed");
        self.app.commit().expect("commit");
        let r = self.app.store().reader().expect("reader");
        (r.diff(h).expect("read").expect("diff recorded"), f.block.1)
    }

    fn genesis_diff(&self) -> StateDiff {
        let r = self.app.store().reader().expect("reader");
        r.diff(0).expect("read").expect("genesis diff recorded")
    }
}

fn header(slot: u64, commitment: B256) -> BlockHeader {
    BlockHeader {
        chain_id: CHAIN_ID,
        slot,
        block_commitment: commitment,
        prover_address: Address::repeat_byte(0x77),
    }
}

#[test]
fn revm_diffs_prove_and_tampering_fails() {
    let keys = parley_app::dev_accounts(3).expect("keys");
    let addresses: Vec<Address> = keys.iter().map(|k| k.address()).collect();
    let mut chain = Chain::new(&addresses);
    let mut tree = ProofTree::new();
    tree.apply_diff_batch(&chain.genesis_diff())
        .expect("genesis diff applies");

    // Block 1: two transfers (2 senders, 1 fresh receiver, 1 existing receiver, the builder).
    let fresh = Address::repeat_byte(0x42);
    let (d1, c1) = chain.block(&[
        devtx::transfer(&keys[0], CHAIN_ID, 0, fresh, U256::from(5)),
        devtx::transfer(&keys[1], CHAIN_ID, 0, keys[2].address(), U256::from(6)),
    ]);
    assert!(
        d1.0.iter()
            .any(|e| e.key == StateKey::Account(fresh) && e.old.is_none()),
        "insert recorded"
    );
    // Block 2: contract deployment (code hash + nonce); block 3: a call writing a storage slot.
    let code: Bytes = hex::decode(INIT_CODE).expect("hex").into();
    let contract = keys[2].address().create(0);
    let (d2, c2) = chain.block(&[devtx::sign(
        &keys[2],
        Kind::DynamicFee,
        CHAIN_ID,
        0,
        None,
        U256::ZERO,
        code,
        200_000,
        Fees::default(),
    )]);
    let (d3, c3) = chain.block(&[devtx::sign(
        &keys[2],
        Kind::Legacy,
        CHAIN_ID,
        1,
        Some(contract),
        U256::ZERO,
        Bytes::from(vec![9u8; 32]),
        200_000,
        Fees::default(),
    )]);
    assert!(
        d3.0.iter()
            .any(|e| matches!(e.key, StateKey::Storage(a, _) if a == contract)),
        "storage write recorded"
    );

    let cap = [&d1, &d2, &d3]
        .iter()
        .map(|d| d.0.len())
        .max()
        .expect("three diffs");
    let shape = block_shape(cap).expect("shape");
    let mut witnesses = vec![];
    for (slot, (d, c)) in [(&d1, c1), (&d2, c2), (&d3, c3)].into_iter().enumerate() {
        let w =
            BlockWitness::build(&mut tree, header(slot as u64 + 1, c), d, cap).expect("witness");
        mock_check(&shape, &w, &w.public.instances())
            .expect("honest revm diff satisfies the circuit");
        witnesses.push(w);
    }
    // Roots chain block to block. The witnesses were built one after another on one tree, so
    // their pre/post roots agree by construction; compare them with roots computed apart:
    // (a) a second tree replaying genesis and each recorded diff with the batch update, and
    // (b) a third tree built from the node's committed state after the last block: every
    //     entry the test touched, with the value and proof index the node stored (not the
    //     diffs'), so a diff that misses or misstates a change shows here.
    let mut replay = ProofTree::new();
    replay
        .apply_diff_batch(&chain.genesis_diff())
        .expect("genesis replays");
    for (i, (w, d)) in witnesses.iter().zip([&d1, &d2, &d3]).enumerate() {
        assert_eq!(w.public.pre_root, replay.root(), "block {} pre_root", i + 1);
        replay.apply_diff_batch(d).expect("diff replays");
        assert_eq!(
            w.public.post_root,
            replay.root(),
            "block {} post_root",
            i + 1
        );
    }
    let mut keys: BTreeSet<StateKey> = [fresh, contract, Address::repeat_byte(0xbb)]
        .into_iter()
        .chain(addresses.iter().copied())
        .map(StateKey::Account)
        .collect();
    keys.insert(StateKey::Storage(contract, U256::ZERO));
    for d in [&chain.genesis_diff(), &d1, &d2, &d3] {
        keys.extend(d.0.iter().map(|e| e.key));
    }
    let reader = chain.app.store().reader().expect("reader");
    let state = StateDiff(
        keys.into_iter()
            .filter_map(|key| {
                reader.entry(&key).expect("read").map(|v| DiffEntry {
                    key,
                    index: v.proof_index,
                    old: None,
                    new: Some(v.leaf),
                })
            })
            .collect(),
    );
    assert!(
        state
            .0
            .iter()
            .any(|e| e.key == StateKey::Storage(contract, U256::ZERO)),
        "the contract's slot 0 is stored"
    );
    let mut from_state = ProofTree::new();
    from_state
        .apply_diff_batch(&state)
        .expect("the node's state is a set of distinct leaves");
    assert_eq!(
        witnesses[2].public.post_root,
        from_state.root(),
        "the last proven root is the root of the node's committed state"
    );

    // Tampering with the executed diff (a storage value) breaks the proof statement.
    let mut bad = witnesses[2].clone();
    let slot_entry = bad
        .entries
        .iter_mut()
        .find(|e| e.is_real && !e.is_account)
        .expect("storage entry");
    let mut v = slot_entry.new.expect("written value");
    v[1] += parley_proofs::Fr::one(); // the low 128 bits of the stored word
    slot_entry.new = Some(v);
    let r = mock_check(&shape, &bad, &witnesses[2].public.instances());
    assert!(
        matches!(r, Err(ProofError::Invalid(_))),
        "tampered diff must fail: {r:?}"
    );

    // Real keygen/prove/verify on the transfer block.
    let prover = Halo2BlockProver::setup(cap).expect("setup");
    let proof = prover.prove(&witnesses[0]).expect("prove");
    prover
        .verify(&witnesses[0].public, &proof)
        .expect("verifies");
    let r = prover.verify(&witnesses[1].public, &proof);
    assert!(
        matches!(r, Err(ProofError::Invalid(_))),
        "not valid for another block: {r:?}"
    );
}
