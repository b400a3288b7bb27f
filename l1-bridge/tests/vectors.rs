//! The bridge's cross-implementation vectors: `l1-bridge/contracts/test/vectors/bridge.json`
//! is what `parley_types::bridge` computes for fixed inputs, and the forge tests
//! (`test/Vectors.t.sol`) check that the Rollup contract computes the same bytes.
//!
//! This test fails when the committed file differs from what Rust computes today, so an
//! encoding cannot change on one side only. To rewrite the file after a deliberate change:
//! `PARLEY_WRITE_L1_VECTORS=1 cargo test -p parley-bridge --test vectors` (that run then fails,
//! so the rewritten file is looked at before it is committed).

use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use parley_types::bridge::{
    EpochAttestation, QueueEntry, Withdrawal, epoch_digest, roll, validator_set_hash,
    withdrawal_path, withdrawal_root,
};
use serde_json::{Value, json};

/// Deterministic 32-byte values for vectors: keccak of a label.
fn h(label: &str) -> B256 {
    keccak256(label.as_bytes())
}

/// A deterministic field element (a root): keccak of the label with the top 3 bits cleared,
/// so it is below the BN254 modulus.
fn fe(label: &str) -> B256 {
    let mut b = h(label);
    b.0[0] &= 0x1f;
    b
}

fn addr(label: &str) -> Address {
    Address::from_slice(&h(label)[12..])
}

fn hx(b: impl AsRef<[u8]>) -> String {
    format!("0x{}", hex_lower(b.as_ref()))
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn q(v: impl std::fmt::LowerHex) -> String {
    format!("{v:#x}")
}

fn vectors() -> Value {
    // Epoch digests: a zero-ish one, a typical one, one with extreme values.
    let digests: Vec<Value> = [
        EpochAttestation {
            l1_chain_id: 31337,
            rollup: addr("rollup"),
            l2_chain_id: 424242,
            epoch: 0,
            ..Default::default()
        },
        EpochAttestation {
            l1_chain_id: 1,
            rollup: addr("rollup-2"),
            l2_chain_id: 424242,
            epoch: 17,
            first_pre_root: fe("pre"),
            last_post_root: fe("post"),
            epoch_commitment: fe("commitment"),
            withdrawal_root: h("withdrawals"),
            l1_queue_rolling_hash: h("queue"),
            l1_queue_count: 3,
            next_validator_set_hash: h("valset"),
        },
        EpochAttestation {
            l1_chain_id: u64::MAX,
            rollup: Address::repeat_byte(0xff),
            l2_chain_id: u64::MAX,
            epoch: u64::MAX,
            first_pre_root: fe("a"),
            last_post_root: fe("b"),
            epoch_commitment: fe("c"),
            withdrawal_root: B256::repeat_byte(0xff),
            l1_queue_rolling_hash: B256::repeat_byte(0xee),
            l1_queue_count: u64::MAX,
            next_validator_set_hash: B256::repeat_byte(0xdd),
        },
    ]
    .iter()
    .map(|a| {
        json!({
            "l1_chain_id": q(a.l1_chain_id),
            "rollup": a.rollup.to_string(),
            "l2_chain_id": q(a.l2_chain_id),
            "epoch": q(a.epoch),
            "first_pre_root": hx(a.first_pre_root),
            "last_post_root": hx(a.last_post_root),
            "epoch_commitment": hx(a.epoch_commitment),
            "withdrawal_root": hx(a.withdrawal_root),
            "l1_queue_rolling_hash": hx(a.l1_queue_rolling_hash),
            "next_validator_set_hash": hx(a.next_validator_set_hash),
            "digest": hx(epoch_digest(a)),
        })
    })
    .collect();

    // Validator sets: one member, four, and a set with the largest power.
    let mut sets: Vec<Vec<(Address, u64)>> = vec![
        vec![(addr("v0"), 1)],
        (0..4).map(|i| (addr(&format!("v{i}")), 10 + i)).collect(),
        vec![(addr("x"), u64::MAX), (addr("y"), 1)],
    ];
    for s in &mut sets {
        s.sort_by_key(|(a, _)| *a);
    }
    let valsets: Vec<Value> = sets
        .iter()
        .map(|s| {
            json!({
                "n": q(s.len() as u64),
                "signers": s.iter().map(|(a, _)| a.to_string()).collect::<Vec<_>>(),
                "powers": s.iter().map(|(_, p)| q(*p)).collect::<Vec<_>>(),
                "hash": hx(validator_set_hash(s).expect("a valid set")),
            })
        })
        .collect();

    // Signatures of bridge keys over a digest (low-s, v 27/28).
    let d = epoch_digest(&EpochAttestation {
        l1_chain_id: 31337,
        rollup: addr("rollup"),
        l2_chain_id: 424242,
        epoch: 5,
        ..Default::default()
    });
    let signatures: Vec<Value> = ["bridge-key-0", "bridge-key-1"]
        .iter()
        .map(|label| {
            let key = h(label);
            let signer = PrivateKeySigner::from_bytes(&key).expect("a valid secret");
            let sig = signer.sign_hash_sync(&d).expect("signing");
            json!({
                "key": hx(key),
                "address": signer.address().to_string(),
                "digest": hx(d),
                "r": q(sig.r()),
                "s": q(sig.s()),
                "v": q(27u64 + u64::from(sig.v())),
            })
        })
        .collect();

    // A queue of deposits and forced transactions, in order.
    let entries = [
        QueueEntry::Deposit {
            index: 0,
            sender: addr("alice"),
            l2_recipient: addr("alice-l2"),
            amount: U256::from(1u64),
        },
        QueueEntry::Forced {
            index: 1,
            sender: addr("bob"),
            raw_tx: vec![0x02, 0xf8, 0x6c],
        },
        QueueEntry::Deposit {
            index: 2,
            sender: addr("carol"),
            l2_recipient: addr("carol-l2"),
            amount: U256::from(10u64).pow(U256::from(18u64)),
        },
        QueueEntry::Forced {
            index: 3,
            sender: addr("alice"),
            raw_tx: (0..200u8).collect(),
        },
        QueueEntry::Deposit {
            index: 4,
            sender: addr("dave"),
            l2_recipient: addr("dave"),
            amount: U256::from(123_456_789u64),
        },
        QueueEntry::Forced {
            index: 5,
            sender: addr("dave"),
            raw_tx: vec![0xff],
        },
    ];
    let mut rolling = B256::ZERO;
    let queue: Vec<Value> = entries
        .iter()
        .map(|e| {
            rolling = roll(rolling, e.hash());
            let (kind, sender, to, amount, raw) = match e {
                QueueEntry::Deposit {
                    sender,
                    l2_recipient,
                    amount,
                    ..
                } => (0u64, sender, *l2_recipient, *amount, Vec::new()),
                QueueEntry::Forced { sender, raw_tx, .. } => {
                    (1u64, sender, Address::ZERO, U256::ZERO, raw_tx.clone())
                }
            };
            json!({
                "kind": q(kind),
                "index": q(e.index()),
                "sender": sender.to_string(),
                "l2_recipient": to.to_string(),
                "amount": q(amount),
                "raw_tx": hx(&raw),
                "entry": hx(e.hash()),
                "rolling": hx(rolling),
            })
        })
        .collect();

    // Withdrawal trees of 1, 2, 3 and 5 leaves, with every leaf's path.
    let withdrawals: Vec<Value> = [(1usize, 0u64), (2, 1), (3, 7), (5, 42)]
        .iter()
        .map(|&(n, epoch)| {
            let ws: Vec<Withdrawal> = (0..n)
                .map(|i| Withdrawal {
                    l1_recipient: addr(&format!("w{epoch}-{i}")),
                    amount: U256::from(1_000 * (i as u64 + 1)),
                })
                .collect();
            json!({
                "l2_chain_id": q(424242u64),
                "epoch": q(epoch),
                "n": q(n as u64),
                "recipients": ws.iter().map(|w| w.l1_recipient.to_string()).collect::<Vec<_>>(),
                "amounts": ws.iter().map(|w| q(w.amount)).collect::<Vec<_>>(),
                "root": hx(withdrawal_root(424242, epoch, &ws)),
                "paths": (0..n)
                    .map(|i| {
                        withdrawal_path(424242, epoch, &ws, i)
                            .expect("in range")
                            .iter()
                            .map(hx)
                            .collect::<Vec<_>>()
                    })
                    .collect::<Vec<_>>(),
            })
        })
        .collect();

    json!({
        "epoch_digest": digests,
        "valset": valsets,
        "signature": signatures,
        "queue": queue,
        "withdrawals": withdrawals,
    })
}

#[test]
fn the_committed_vectors_are_what_rust_computes() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("contracts/test/vectors/bridge.json");
    let text = serde_json::to_string_pretty(&vectors()).expect("json") + "\n";
    if std::env::var_os("PARLEY_WRITE_L1_VECTORS").is_some() {
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(&path, &text).expect("write the vectors");
        // A written run fails, so a rewritten vector file is always looked at first.
        panic!(
            "wrote {}; check the diff, then run again without PARLEY_WRITE_L1_VECTORS",
            path.display()
        );
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; write it with PARLEY_WRITE_L1_VECTORS=1",
            path.display()
        )
    });
    // Compared as JSON values: serde_json's key order depends on its `preserve_order`
    // feature, which another crate of the workspace may switch on.
    let committed: Value = serde_json::from_str(&committed).expect("the vector file is JSON");
    assert!(
        committed == vectors(),
        "{} differs from what parley_types::bridge computes; if the encoding changed on \
         purpose, rewrite it with PARLEY_WRITE_L1_VECTORS=1 and update the contracts",
        path.display()
    );
}

#[test]
fn signatures_are_low_s_and_recover_to_their_keys() {
    let v = vectors();
    let n = U256::from_str_radix(
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
        16,
    )
    .expect("the secp256k1 order");
    for s in v["signature"].as_array().expect("signatures") {
        let num = |k: &str| -> U256 { s[k].as_str().expect(k).parse().expect("a number") };
        assert!(num("s") <= n / U256::from(2), "high s in {s}");
        let sig = alloy_primitives::Signature::new(num("r"), num("s"), num("v") == U256::from(28));
        let digest: B256 = s["digest"].as_str().expect("digest").parse().expect("hex");
        let want: Address = s["address"]
            .as_str()
            .expect("address")
            .parse()
            .expect("hex");
        assert_eq!(
            sig.recover_address_from_prehash(&digest).expect("recovers"),
            want
        );
    }
}
