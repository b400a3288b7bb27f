//! ADR 0011: proof-tree index reuse and the capacity rule, end to end. Freed indices are
//! reused from the next block on (never in the block that frees them); at capacity, a
//! transaction whose inserts do not fit is skipped (it stays pending), a forced one keeps its
//! place in the queue, and a `Withdraw` that would create an account is refused (code 65),
//! while everything that inserts nothing still executes.

mod common;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_signer_local::PrivateKeySigner;
use common::*;
use parley_app::chain::block::{L2Header, tx_root};
use parley_app::chain::evm::{BlockInput, Executed, execute_block_with_capacity};
use parley_app::chain::genesis::{AppGenesis, GenesisLedger, Params};
use parley_app::chain::ledger::LedgerError;
use parley_app::chain::msg::{self, Action};
use parley_app::chain::tx;
use parley_app::mempool::SenderCache;
use parley_types::{ChainMeta, StateKey, decode_free_index, encode_forced};

/// Runtime: `SSTORE(calldata word 0, calldata word 1)`; the init code returns it.
const KV_INIT: &str = "6008600c60003960086000f3\
                       6020356000355500";

fn put(k: &PrivateKeySigner, nonce: u64, c: Address, slot: u64, value: u64) -> Bytes {
    let mut data = U256::from(slot).to_be_bytes::<32>().to_vec();
    data.extend_from_slice(&U256::from(value).to_be_bytes::<32>());
    call(k, nonce, c, 0, data)
}

fn index(net: &Net, key: StateKey) -> u64 {
    net.reader()
        .entry(&key)
        .expect("read")
        .expect("exists")
        .proof_index
}

fn stack_top(net: &Net, meta: &ChainMeta) -> Option<u64> {
    let top = meta.free_proof_indices.checked_sub(1)?;
    let b = net
        .reader()
        .app_entry(&StateKey::FreeProofIndex(top))
        .expect("read")
        .expect("every position below the depth exists");
    Some(decode_free_index(&b).expect("decodes"))
}

/// The same-block subtlety (ADR 0011): block N deletes slot A and inserts slot B, which sorts
/// before A, so the circuit opens B's leaf while A's is still occupied: B must not get A's
/// index. A's index goes on the freed stack and the next block's insert takes it.
#[test]
fn an_index_freed_by_a_block_is_reused_from_the_next_block_on() {
    let mut net = Net::new(2);
    let k = net.keys[0].clone();
    let c = create(&mut net, &k, 0, KV_INIT);
    net.submit(put(&k, 1, c, 9, 1)).expect("write A");
    net.step();
    let (slot_a, slot_b, slot_c) = (
        StateKey::Storage(c, U256::from(9)),
        StateKey::Storage(c, U256::from(4)),
        StateKey::Storage(c, U256::from(7)),
    );
    let a_index = index(&net, slot_a);
    let before = net.reader().meta().expect("meta");

    // Block N: delete A, insert B (B < A in key order).
    net.submit(put(&k, 2, c, 9, 0)).expect("delete A");
    net.submit(put(&k, 3, c, 4, 1)).expect("insert B");
    net.step();
    let diff = net.reader().diff(net.height).expect("read").expect("diff");
    let entry = |key| diff.0.iter().find(|e| e.key == key).expect("in the diff");
    assert_eq!(entry(slot_a).index, a_index);
    assert_eq!(entry(slot_a).new, None, "A deleted");
    assert_eq!(entry(slot_b).old, None, "B inserted");
    assert_ne!(
        entry(slot_b).index,
        a_index,
        "not the index freed in the same block"
    );
    assert!(
        diff.0.iter().position(|e| e.key == slot_b) < diff.0.iter().position(|e| e.key == slot_a)
    );
    let after = net.reader().meta().expect("meta");
    assert_eq!(after.free_proof_indices, before.free_proof_indices + 1);
    assert_eq!(stack_top(&net, &after), Some(a_index));

    // Block N+1: the insert takes A's old index.
    net.submit(put(&k, 4, c, 7, 1)).expect("insert C");
    net.step();
    assert_eq!(index(&net, slot_c), a_index);
    let last = net.reader().meta().expect("meta");
    assert_eq!(last.free_proof_indices, before.free_proof_indices);
    assert_eq!(
        last.next_proof_index, after.next_proof_index,
        "no fresh index spent"
    );
}

/// Keys 0–2 hold EVM balances; key 3 holds only a ledger balance (no EVM account).
fn genesis() -> (Net, Params) {
    let keys = parley_app::dev_accounts(4).expect("dev keys");
    let params = Params {
        chain_id: CHAIN_ID,
        ..Params::default()
    };
    let mut g = AppGenesis::funded(
        params.clone(),
        keys[..3].iter().map(|k| k.address()),
        U256::from(10u128.pow(24)),
    );
    g.ledger = vec![GenesisLedger {
        address: keys[3].address(),
        balance: U256::from(10u128.pow(20)),
    }];
    let net = Net::with_genesis(1, keys, &serde_json::to_vec(&g).expect("json"));
    (net, params)
}

/// Executes height 1 over the genesis state with a proof tree of `capacity` leaves.
fn execute(
    net: &Net,
    params: &Params,
    txs: &[Bytes],
    messages: &[Vec<u8>],
    capacity: u64,
) -> (Executed, ChainMeta) {
    let reader = net.reader();
    let meta = reader.meta().expect("meta");
    let cache = SenderCache::default();
    let txs: Vec<_> = txs
        .iter()
        .map(|r| tx::decode(r, params, &cache).expect("valid tx"))
        .collect();
    let messages: Vec<_> = messages
        .iter()
        .map(|m| msg::decode(m, CHAIN_ID).expect("valid message"))
        .collect();
    let header = L2Header {
        chain_id: CHAIN_ID,
        number: 1,
        parent_hash: meta.last_block_hash,
        timestamp: T0 + 1,
        // An existing account: its tips insert nothing.
        builder: net.keys[2].address(),
        base_fee: meta.next_base_fee,
        gas_limit: params.block_gas_limit,
        tx_root: tx_root(txs.iter().map(|t| t.hash)),
    };
    let input = BlockInput {
        height: 1,
        time_secs: T0 + 1,
        proposer: Some((&header, &txs)),
        seed: None,
        attest: None,
        l1_queue: None,
        proofs: None,
    };
    let executed = execute_block_with_capacity(
        &reader,
        params,
        &meta,
        input,
        &messages,
        B256::ZERO,
        &cache,
        capacity,
    )
    .expect("executes");
    let new_meta = executed
        .writes
        .iter()
        .find(|(k, _)| *k == StateKey::Meta)
        .and_then(|(_, v)| v.as_deref())
        .map(|b| ChainMeta::decode(b).expect("decodes"))
        .expect("meta written");
    (executed, new_meta)
}

fn inserted(e: &Executed) -> Vec<(StateKey, u64)> {
    e.diff
        .0
        .iter()
        .filter(|d| d.old.is_none())
        .map(|d| (d.key, d.index))
        .collect()
}

/// At capacity a transaction that inserts is skipped (counted with the skipped ones; the
/// block stays valid), a `Withdraw` that would create an account is refused with code 65,
/// and transactions that insert nothing still run. One leaf more lets exactly one insert in.
#[test]
fn a_full_proof_tree_skips_inserting_transactions_and_refuses_a_creating_withdraw() {
    let (net, params) = genesis();
    let [k0, k1, k2, k3] = [0, 1, 2, 3].map(|i| net.keys[i].clone());
    let genesis_meta = net.reader().meta().expect("meta");
    let full = genesis_meta.next_proof_index;
    let (x, y) = (Address::repeat_byte(0x51), Address::repeat_byte(0x52));
    let to_existing = devtx_transfer(&k0, 0, k1.address());
    let to_x = devtx_transfer(&k0, 1, x);
    let to_y = devtx_transfer(&k1, 0, y);
    let also_existing = devtx_transfer(&k2, 0, k1.address());
    let withdraw = msg::sign(&k3, CHAIN_ID, 0, &Action::Withdraw(U256::from(1000)));
    let txs = [
        to_existing.clone(),
        to_x.clone(),
        to_y.clone(),
        also_existing.clone(),
    ];

    // No leaf left: both inserting transfers are skipped, the withdraw refused.
    let (e, meta) = execute(&net, &params, &txs, std::slice::from_ref(&withdraw), full);
    assert_eq!(e.messages.len(), 1);
    let refused = e.messages[0].clone().expect_err("refused");
    assert_eq!(refused, LedgerError::ProofTreeFull);
    assert_eq!(refused.code(), 65);
    let hashes: Vec<B256> = e.txs.iter().map(|t| t.hash).collect();
    assert_eq!(
        hashes,
        vec![keccak256(&to_existing), keccak256(&also_existing)]
    );
    assert_eq!(e.skipped, vec![keccak256(&to_x), keccak256(&to_y)]);
    assert_eq!(e.record.tx_hashes.len(), 2);
    assert!(inserted(&e).is_empty());
    assert_eq!(meta.next_proof_index, full);
    assert_eq!(meta.free_proof_indices, 0);

    // One leaf: the message runs first and takes it; both transfers are skipped.
    let (e, meta) = execute(
        &net,
        &params,
        &txs,
        std::slice::from_ref(&withdraw),
        full + 1,
    );
    assert!(e.messages[0].is_ok());
    assert_eq!(inserted(&e), vec![(StateKey::Account(k3.address()), full)]);
    assert_eq!(e.skipped, vec![keccak256(&to_x), keccak256(&to_y)]);
    assert_eq!(meta.next_proof_index, full + 1);

    // One leaf, no message: the first inserting transfer takes it, the second is skipped.
    let (e, meta) = execute(&net, &params, &txs, &[], full + 1);
    assert_eq!(e.txs.len(), 3);
    assert_eq!(e.skipped, vec![keccak256(&to_y)]);
    assert_eq!(inserted(&e), vec![(StateKey::Account(x), full)]);
    assert_eq!(meta.next_proof_index, full + 1);

    // The chain's capacity: everything runs.
    let (e, _) = execute(&net, &params, &txs, &[], parley_types::PROOF_INDEX_CAPACITY);
    assert!(e.skipped.is_empty());
    assert_eq!(inserted(&e).len(), 2);
}

/// A forced transaction refused only for the capacity keeps its place in the forced queue
/// (it was paid for and is not invalid); one that inserts nothing runs and leaves it.
#[test]
fn a_forced_transaction_refused_for_capacity_stays_queued() {
    let (net, params) = genesis();
    let [k0, k1, k3] = [0, 1, 3].map(|i| net.keys[i].clone());
    let full = net.reader().meta().expect("meta").next_proof_index;
    let inserting = devtx_transfer(&k0, 0, Address::repeat_byte(0x61));
    let updating = devtx_transfer(&k1, 0, k0.address());
    let messages = [
        msg::sign(&k3, CHAIN_ID, 0, &Action::ForceInclude(inserting.clone())),
        msg::sign(&k3, CHAIN_ID, 1, &Action::ForceInclude(updating.clone())),
    ];
    let (e, _) = execute(&net, &params, &[], &messages, full);
    assert!(e.messages.iter().all(Result::is_ok));
    let hashes: Vec<B256> = e.txs.iter().map(|t| t.hash).collect();
    assert_eq!(hashes, vec![keccak256(&updating)]);
    assert_eq!(e.skipped, vec![keccak256(&inserting)]);
    let queued: Vec<_> = e
        .writes
        .iter()
        .filter(|(k, _)| matches!(k, StateKey::Forced { .. }))
        .cloned()
        .collect();
    assert_eq!(
        queued,
        vec![
            (
                StateKey::Forced {
                    height: 1,
                    index: 0
                },
                Some(encode_forced(&inserting))
            ),
            (
                StateKey::Forced {
                    height: 1,
                    index: 1
                },
                None
            ),
        ]
    );
}

fn devtx_transfer(k: &PrivateKeySigner, nonce: u64, to: Address) -> Bytes {
    parley_app::devtx::transfer(k, CHAIN_ID, nonce, to, U256::from(1))
}
