//! Bad input changes nothing: arbitrary bytes, and valid transactions and blocks with bytes
//! flipped, given to every decoder the node exposes (EIP-2718 transactions in CheckTx and in
//! `eth_sendRawTransaction`'s decoder, protocol messages in ProcessProposal, state keys, values
//! and diffs, stored records) get a clear error — never a panic — and leave the app hash and
//! the mempool bookkeeping as they were.

mod common;

use alloy_primitives::{Address, B256, Bytes, U256};
use common::*;
use parley_app::app::Verdict;
use parley_app::block::Message;
use parley_app::devtx;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Bytes that are either arbitrary or a valid encoding with a few bytes changed (which reaches
/// deeper into the decoders than random noise does).
fn mangled(valid: Vec<Bytes>) -> impl Strategy<Value = Vec<u8>> {
    let n = valid.len();
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..600),
        (
            0..n,
            proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
            any::<u8>()
        )
            .prop_map(move |(i, edits, cut)| {
                let mut b = valid[i].to_vec();
                for (at, x) in edits {
                    let len = b.len();
                    b[at % len] ^= x | 1;
                }
                if cut % 4 == 0 {
                    b.truncate(b.len().saturating_sub(usize::from(cut) % 8 + 1));
                }
                b
            }),
    ]
}

#[test]
fn check_tx_and_process_proposal_refuse_garbage_without_changing_anything() {
    let mut net = Net::new(1);
    let k = net.keys[0].clone();
    net.transfer(&k, 0, Address::repeat_byte(1), 5);
    net.step();
    let before = net.nodes[0].app.info().expect("info");
    let nonce_before = net.nodes[0].app.pending().next_nonce(&k.address(), 1);
    let valid_tx = devtx::transfer(&k, CHAIN_ID, 1, Address::repeat_byte(2), U256::from(1));
    let h = net.height + 1;
    let valid_block = net.nodes[0]
        .app
        .prepare_proposal(h, net.time(h), std::slice::from_ref(&valid_tx), 1 << 20)
        .expect("prepare")
        .remove(0);
    let app = net.nodes[0].app.clone();

    runner(512)
        .run(
            &mangled(vec![valid_tx.clone(), valid_block.clone()]),
            |bytes| {
                // CheckTx: a clear error (or, rarely, a still-valid tx whose flipped bits were
                // in a field that stays valid), never a panic.
                if let Err(e) = app.check_tx(&bytes, false).expect("no fatal error") {
                    prop_assert!(e.code() > 0 && !e.to_string().is_empty());
                }
                let _ = Message::decode(&bytes);
                let v = app
                    .process_proposal(h, net.time(h), B256::ZERO, &[Bytes::from(bytes.clone())])
                    .expect("no fatal error");
                if bytes != valid_block.to_vec() {
                    prop_assert!(
                        matches!(v, Verdict::Reject(_)) || Message::decode(&bytes).is_ok()
                    );
                }
                Ok(())
            },
        )
        .expect("no input breaks the node");
    assert_eq!(
        net.nodes[0].app.info().expect("info"),
        before,
        "nothing committed"
    );
    // Garbage admitted nothing for the funded sender (a mangled valid tx may have kept its
    // sender and nonce; anything admitted for it is at nonce 1 only).
    assert!(net.nodes[0].app.pending().next_nonce(&k.address(), 1) <= nonce_before + 1);
    // And the chain still runs.
    net.transfer(&k, 1, Address::repeat_byte(3), 7);
    net.step();
    assert_eq!(net.balance(Address::repeat_byte(3)), U256::from(7));
}

#[test]
fn state_decoders_refuse_garbage() {
    use parley_types::{ChainMeta, StateDiff, StateKey, StateValue};
    runner(2048)
        .run(&proptest::collection::vec(any::<u8>(), 0..300), |bytes| {
            // Each either decodes to something that re-encodes to the same bytes, or errors.
            if let Ok(k) = StateKey::decode(&bytes) {
                prop_assert_eq!(k.encode(), bytes.clone());
            }
            for account in [true, false] {
                if let Ok(v) = StateValue::decode(&bytes, account) {
                    prop_assert_eq!(v.encode(), bytes.clone());
                }
            }
            if let Ok(d) = StateDiff::decode(&bytes) {
                prop_assert_eq!(d.encode(), bytes.clone());
            }
            if let Ok(m) = ChainMeta::decode(&bytes) {
                prop_assert_eq!(m.encode(), bytes.clone());
            }
            Ok(())
        })
        .expect("decoders are total");
}
