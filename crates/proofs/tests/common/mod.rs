//! Shared scenario builders for the integration tests.
#![allow(dead_code)]

use alloy_primitives::{Address, B256, U256};
use parley_proofs::{
    BlockHeader, BlockWitness, ProofTree,
    types::StateDiff,
    vectors::{StateModel, addr},
};

pub fn coinbase() -> Address {
    addr(999)
}

pub fn header(slot: u64) -> BlockHeader {
    BlockHeader {
        chain_id: 4242,
        slot,
        chunk_index: 0,
        chunk_count: 1,
        block_commitment: B256::repeat_byte(slot as u8 + 1),
        prover_address: addr(77),
    }
}

/// A state with 8 funded accounts, its tree, and the model.
pub fn genesis() -> (StateModel, ProofTree) {
    let mut m = StateModel::new();
    let g = m.genesis(8);
    let mut t = ProofTree::new();
    t.apply_diff_batch(&g).expect("genesis applies");
    (m, t)
}

/// One transfer block: sender, receiver, coinbase (3 entries, coinbase inserted).
pub fn transfer_diff(m: &mut StateModel) -> StateDiff {
    let d = m.transfers(1, 8, 1, coinbase());
    assert_eq!(d.0.len(), 3, "{d:?}");
    d
}

/// A contract call writing two storage slots (contract account + slots inserted).
pub fn contract_diff(m: &mut StateModel) -> StateDiff {
    m.contract_call(
        addr(1),
        addr(5000),
        coinbase(),
        &[
            (U256::from(1), U256::from(7)),
            (U256::from(2), U256::from(9)),
        ],
    )
}

pub fn witness(t: &mut ProofTree, slot: u64, d: &StateDiff, cap: usize) -> BlockWitness {
    BlockWitness::build(t, header(slot), d, cap).expect("witness builds")
}
