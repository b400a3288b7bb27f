//! In-process harness: drives several `App`s (one per validator, each with its own redb
//! database) through many heights the way CometBFT would — PrepareProposal on the proposer,
//! ProcessProposal, FinalizeBlock and Commit on every node, CheckTx/recheck for the mempool —
//! without CometBFT. The end-to-end tier (tests/e2e) runs the real binary.

mod common;

use alloy_primitives::{Address, B256, Bytes, U256, hex};
use alloy_signer_local::PrivateKeySigner;
use common::*;
use parley_app::chain::block::{L2Block, Message};
use parley_app::chain::genesis::Params;
use parley_app::chain::rules::Verdict;
use parley_app::devtx::{self, Fees, Kind};
use parley_types::{LeafValue, StateKey};

#[test]
fn many_heights_agree_and_conserve_value() {
    let mut net = Net::new(4);
    let total_before: U256 = net.keys.iter().map(|k| net.balance(k.address())).sum();
    let mut nonces = vec![0u64; net.keys.len()];
    let mut burned = U256::ZERO;
    let mut sent = vec![];
    for round in 0..40u64 {
        for (i, k) in net.keys.clone().iter().enumerate() {
            if (round + i as u64).is_multiple_of(3) {
                continue;
            }
            let to = net.keys[(i + 1) % net.keys.len()].address();
            let raw = devtx::transfer(k, CHAIN_ID, nonces[i], to, U256::from(1_000 + round));
            sent.push(net.submit(raw).expect("accepted"));
            nonces[i] += 1;
        }
        let base_fee = net.reader().meta().expect("meta").next_base_fee;
        net.step();
        let block = net
            .reader()
            .block(net.height)
            .expect("read")
            .expect("block");
        assert_eq!(block.base_fee, base_fee);
        burned += U256::from(block.gas_used) * U256::from(block.base_fee);
    }
    for _ in 0..3 {
        net.step();
    }
    assert!(
        net.mempool.is_empty(),
        "every valid tx was executed and dropped by recheck"
    );
    for h in &sent {
        let r = net.receipt(*h).expect("every tx has a receipt");
        assert!(r.success);
        assert_eq!(r.gas_used, 21_000);
    }
    // Conservation: balances + burned base fees == genesis supply (tips stay in builders).
    let builders: U256 = net.nodes.iter().map(|n| net.balance(n.fee_recipient)).sum();
    let total_after: U256 = net.keys.iter().map(|k| net.balance(k.address())).sum();
    assert!(builders > U256::ZERO);
    assert_eq!(total_after + builders + burned, total_before);
    for (i, k) in net.keys.iter().enumerate() {
        assert_eq!(
            net.reader()
                .account(k.address())
                .expect("read")
                .expect("exists")
                .0
                .nonce,
            nonces[i]
        );
    }
}

#[test]
fn restart_and_crash_before_commit_replay_to_the_same_app_hash() {
    let mut net = Net::new(3);
    let k = net.keys[0].clone();
    for nonce in 0..5 {
        net.transfer(&k, nonce, Address::repeat_byte(7), 5);
        net.step();
    }
    // Clean restart: same height and app hash, and the chain continues in agreement.
    let (h, hash) = net.nodes[1].app.info().expect("info");
    let node = net.nodes.remove(1).restart();
    assert_eq!(node.app.info().expect("info"), (h, hash));
    net.nodes.insert(1, node);
    net.step();

    // Crash between FinalizeBlock and Commit: CometBFT replays the block after restart.
    net.transfer(&k, 5, Address::repeat_byte(8), 9);
    net.height += 1;
    let h = net.height;
    let txs = net.nodes[0]
        .app
        .prepare_proposal(h, net.time(h), &net.mempool, 4 << 20, &net.last_commit())
        .expect("prepare");
    net.nodes[2]
        .app
        .finalize_block(
            h,
            net.time(h),
            B256::with_last_byte(h as u8),
            &txs,
            &Default::default(),
        )
        .expect("finalize");
    let crashed = net.nodes.remove(2).restart();
    assert_eq!(
        crashed.app.info().expect("info").0,
        h - 1,
        "the uncommitted block is not persisted"
    );
    net.nodes.push(crashed);
    net.decide(txs); // asserts all three agree, including the replaying node
    assert_eq!(net.balance(Address::repeat_byte(8)), U256::from(9));
}

#[test]
fn process_proposal_enforces_the_rules() {
    let mut net = Net::new(2);
    net.step();
    let h = net.height + 1;
    let k = net.keys[0].clone();
    let raw = devtx::transfer(&k, CHAIN_ID, 0, Address::repeat_byte(1), U256::from(1));
    net.submit(raw.clone()).expect("ok");
    let good = net.nodes[0]
        .app
        .prepare_proposal(h, net.time(h), &net.mempool, 4 << 20, &net.last_commit())
        .expect("prepare");
    let app = &net.nodes[1].app;
    let t = net.time(h);
    assert_eq!(
        app.process_proposal(h, t, B256::ZERO, &good, &Default::default())
            .expect("ok"),
        Verdict::Accept
    );

    let reject = |txs: &[Bytes], t: u64, why: &str| match app
        .process_proposal(h, t, B256::ZERO, txs, &Default::default())
        .expect("ok")
    {
        Verdict::Reject(reason) => {
            assert!(reason.contains(why), "{reason:?} should mention {why:?}")
        }
        Verdict::Accept => panic!("accepted a proposal that {why}"),
    };
    let Ok(Message::ProposerBlock(block)) = Message::decode(&good[0]) else {
        panic!("the proposal is one L2 block");
    };
    let with = |f: &dyn Fn(&mut L2Block)| {
        let mut b = block.clone();
        f(&mut b);
        Bytes::from(Message::ProposerBlock(b).encode())
    };
    reject(std::slice::from_ref(&raw), t, "raw user transactions");
    reject(&[good[0].clone(), raw.clone()], t, "raw user transactions");
    reject(&[good[0].clone(), good[0].clone()], t, "second L2 block");
    reject(&[], t, "no L2 block");
    reject(
        &[Bytes::from_static(b"garbage")],
        t,
        "not a protocol message",
    );
    reject(&good, t + 1, "timestamp");
    reject(
        &[with(&|b| b.header.parent_hash = B256::repeat_byte(9))],
        t,
        "parent hash",
    );
    reject(&[with(&|b| b.header.base_fee += 1)], t, "base fee");
    reject(&[with(&|b| b.header.number += 1)], t, "block number");
    reject(&[with(&|b| b.txs.push(raw.clone()))], t, "duplicate");
    reject(
        &[with(&|b| b.txs[0] = Bytes::from_static(&[0x02, 0xc0]))],
        t,
        "tx 0",
    );
    reject(&[with(&|b| b.header.tx_root = B256::ZERO)], t, "tx root");
    reject(&[with(&|b| b.header.chain_id += 1)], t, "chain id");
    reject(&[with(&|b| b.header.gas_limit -= 1)], t, "gas limit");
    let max = Params::default().max_block_txs as usize;
    reject(
        &[with(&|b| b.txs = vec![Bytes::from_static(b"x"); max + 1])],
        t,
        &format!("> max {max}"),
    );
    // A transaction inside the block that breaks one stateless rule.
    let bad_tx = |data: Vec<u8>, gas: u64, fees: Fees| {
        let tx = devtx::sign(
            &k,
            Kind::DynamicFee,
            CHAIN_ID,
            0,
            Some(Address::ZERO),
            U256::ZERO,
            data.into(),
            gas,
            fees,
        );
        with(&|b| b.txs[0] = tx.clone())
    };
    let fees = Fees::default();
    let tip_above_cap = Fees {
        max_fee: 1_000_000_000,
        tip: 2_000_000_000,
    };
    reject(&[bad_tx(vec![1; 200_000], 5_000_000, fees)], t, "too large");
    reject(&[bad_tx(vec![], 21_000, tip_above_cap)], t, "priority fee");
    reject(&[bad_tx(vec![1; 100], 21_000, fees)], t, "intrinsic gas");
    let other_chain = devtx::transfer(&k, CHAIN_ID + 1, 0, Address::repeat_byte(1), U256::from(1));
    reject(&[with(&|b| b.txs[0] = other_chain.clone())], t, "chain id");
}

#[test]
fn check_tx_rejects_bad_input_with_clear_codes() {
    let mut net = Net::new(1);
    let k = net.keys[0].clone();
    let app = &net.nodes[0].app;
    let code = |raw: &[u8]| {
        app.check_tx(raw, false)
            .expect("check")
            .err()
            .map(|e| (e.code(), e.to_string()))
    };
    assert_eq!(code(b"\xde\xad\xbe\xef").expect("garbage").0, 3);
    assert_eq!(code(&[]).expect("empty").0, 3);
    let wrong_chain = devtx::transfer(&k, 1, 0, Address::ZERO, U256::from(1));
    let (c, msg) = code(&wrong_chain).expect("wrong chain");
    assert_eq!(c, 5, "{msg}");
    assert!(msg.contains("chain id"));
    let big = devtx::sign(
        &k,
        Kind::DynamicFee,
        CHAIN_ID,
        0,
        Some(Address::ZERO),
        U256::ZERO,
        Bytes::from(vec![1u8; 200_000]),
        5_000_000,
        Fees::default(),
    );
    assert_eq!(code(&big).expect("oversized").0, 2);
    // The same transaction with its signature's malleable twin (s' = n - s, parity flipped):
    // it recovers the same key in raw ECDSA, but EIP-2 forbids high s.
    let (c, msg) = code(&high_s_transfer(&k)).expect("high-s signature refused");
    assert_eq!(c, 6, "{msg}");
    assert!(msg.contains("invalid signature"), "{msg}");
    let poor = PrivateKeySigner::random();
    let (c, _) = code(&devtx::transfer(
        &poor,
        CHAIN_ID,
        0,
        Address::ZERO,
        U256::from(1),
    ))
    .expect("no funds");
    assert_eq!(c, 12);
    let protocol = Message::ProposerBlock(L2Block {
        header: parley_app::chain::block::L2Header {
            chain_id: CHAIN_ID,
            number: 1,
            parent_hash: B256::ZERO,
            timestamp: 0,
            builder: Address::ZERO,
            base_fee: 0,
            gas_limit: 0,
            tx_root: B256::ZERO,
        },
        txs: vec![],
    })
    .encode();
    assert_eq!(code(&protocol).expect("protocol msg").0, 13);

    // Replay: once included, the same bytes are refused as nonce too low.
    let ok = devtx::transfer(&k, CHAIN_ID, 0, Address::repeat_byte(3), U256::from(1));
    net.submit(ok.clone()).expect("accepted");
    net.step();
    let app = &net.nodes[0].app;
    let err = app
        .check_tx(&ok, false)
        .expect("check")
        .expect_err("replay refused");
    assert_eq!(err.code(), 10, "{err}");
    // Nonce window: committed nonce 1, so 1 + 64 is admitted and 1 + 65 is too high.
    let at = |n| devtx::transfer(&k, CHAIN_ID, n, Address::ZERO, U256::from(1));
    let err = app
        .check_tx(&at(1 + 65), false)
        .expect("check")
        .expect_err("gap of 65 refused");
    assert_eq!(err.code(), 11, "{err}");
    app.check_tx(&at(1 + 64), false)
        .expect("check")
        .expect("gap of 64 admitted");
}

/// A valid transfer re-signed with the high-s twin of its signature.
fn high_s_transfer(k: &PrivateKeySigner) -> Bytes {
    use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
    use alloy_eips::eip2718::Encodable2718;
    use alloy_signer::SignerSync;
    let tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce: 0,
        gas_limit: 21_000,
        max_fee_per_gas: 10_000_000_000,
        max_priority_fee_per_gas: 1,
        to: alloy_primitives::TxKind::Call(Address::ZERO),
        value: U256::from(1),
        ..Default::default()
    };
    let sig = k.sign_hash_sync(&tx.signature_hash()).expect("signs");
    let n: U256 = "0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141"
        .parse()
        .expect("curve order");
    let twin = alloy_primitives::Signature::new(sig.r(), n - sig.s(), !sig.v());
    let env: TxEnvelope = tx.into_signed(twin).into();
    env.encoded_2718().into()
}

/// Deploy, call (storage + log), revert, and the resulting diff.
#[test]
fn contract_deploy_call_revert_and_diff() {
    let mut net = Net::new(2);
    let k = net.keys[1].clone();
    let gas = 200_000;
    let deploy = devtx::sign(
        &k,
        Kind::DynamicFee,
        CHAIN_ID,
        0,
        None,
        U256::ZERO,
        hex::decode(INIT_CODE).expect("hex").into(),
        gas,
        Fees::default(),
    );
    let dh = net.submit(deploy).expect("deploy accepted");
    net.step();
    let r = net.receipt(dh).expect("deployed");
    assert!(r.success);
    let contract = r.contract_address.expect("creation address");
    let value = B256::repeat_byte(0x42);
    let call = devtx::sign(
        &k,
        Kind::Legacy,
        CHAIN_ID,
        1,
        Some(contract),
        U256::ZERO,
        Bytes::from(value.to_vec()),
        gas,
        Fees::default(),
    );
    let ch = net.submit(call).expect("call accepted");
    let revert = devtx::sign(
        &k,
        Kind::AccessList,
        CHAIN_ID,
        2,
        Some(contract),
        U256::ZERO,
        Bytes::new(),
        gas,
        Fees::default(),
    );
    let rh = net.submit(revert).expect("revert accepted");
    net.step();
    let call_r = net.receipt(ch).expect("call receipt");
    assert!(call_r.success);
    assert_eq!(call_r.logs.len(), 1);
    assert_eq!(call_r.logs[0].address, contract);
    assert_eq!(call_r.logs[0].topics(), &[B256::with_last_byte(0xaa)]);
    assert_eq!(call_r.logs[0].data.data.as_ref(), value.as_slice());
    let rev = net
        .receipt(rh)
        .expect("a reverting tx still gets a receipt");
    assert!(!rev.success);
    assert!(rev.logs.is_empty());
    assert_eq!(
        net.reader().storage(contract, U256::ZERO).expect("read"),
        U256::from_be_bytes(value.0)
    );

    // The diff of the call block: sender, builder and the new storage slot, in key order.
    let diff = net.reader().diff(net.height).expect("read").expect("diff");
    diff.validate().expect("canonical");
    let slot = diff
        .0
        .iter()
        .find(|e| e.key == StateKey::Storage(contract, U256::ZERO))
        .expect("slot in diff");
    assert_eq!(slot.old, None);
    assert_eq!(
        slot.new,
        Some(LeafValue::Storage(U256::from_be_bytes(value.0)))
    );
    assert!(
        diff.0
            .iter()
            .any(|e| e.key == StateKey::Account(k.address()))
    );
    let meta = net.reader().meta().expect("meta");
    assert!(slot.index < meta.next_proof_index);
}

/// App-hash snapshot: genesis and one block exercising every tx kind. A change that moves
/// these is a breaking change to the state schema or execution and must be called one.
#[test]
fn app_hash_snapshot() {
    let mut net = Net::new(1);
    let genesis_hash = net.nodes[0].app.info().expect("info").1;
    let k = net.keys[2].clone();
    let gas = 200_000;
    let fees = Fees::default();
    let code: Bytes = hex::decode(INIT_CODE).expect("hex").into();
    let contract = k.address().create(0);
    let txs = [
        devtx::sign(
            &k,
            Kind::DynamicFee,
            CHAIN_ID,
            0,
            None,
            U256::ZERO,
            code,
            gas,
            fees,
        ),
        devtx::sign(
            &k,
            Kind::Legacy,
            CHAIN_ID,
            1,
            Some(contract),
            U256::ZERO,
            Bytes::from(vec![7u8; 32]),
            gas,
            fees,
        ),
        devtx::sign(
            &k,
            Kind::AccessList,
            CHAIN_ID,
            2,
            Some(contract),
            U256::ZERO,
            Bytes::new(),
            gas,
            fees,
        ),
        devtx::sign(
            &k,
            Kind::DynamicFee,
            CHAIN_ID,
            3,
            Some(Address::repeat_byte(9)),
            U256::from(12345),
            Bytes::new(),
            21_000,
            fees,
        ),
    ];
    for t in txs {
        net.submit(t).expect("accepted");
    }
    let after = net.step();
    assert_eq!(
        net.reader()
            .block(1)
            .expect("read")
            .expect("block")
            .tx_hashes
            .len(),
        4
    );
    assert_eq!(
        (genesis_hash, after),
        (
            "0xb42344a5e0d71d719d82ca52e0f8d661b491e81c86004b11311308e42bc19c8a"
                .parse()
                .expect("hex"),
            "0xeae01dd6627ef4cc76d8bc8e848d757b7fff4c940da2e0658947506b658c35ba"
                .parse()
                .expect("hex"),
        ),
        "app-hash snapshot moved: if intended, this is a breaking change — update the constants and say so"
    );

    // Block 2: dependent transactions in one block — deploy, write, read-only call, a
    // CREATE2 child created and self-destructed, then funded.
    let rw = k.address().create(4);
    let factory = k.address().create(7);
    let salt = B256::repeat_byte(1);
    let child = factory.create2_from_code(salt, CHILD_INIT);
    create(&mut net, &k, 4, RW_INIT);
    net.submit(call(&k, 5, rw, 0, vec![3u8; 32]))
        .expect("write");
    net.submit(call(&k, 6, rw, 0, vec![])).expect("read");
    create(&mut net, &k, 7, FACTORY_INIT);
    net.submit(call(&k, 8, factory, 0, salt.to_vec()))
        .expect("create2");
    net.submit(call(&k, 9, child, 5, vec![])).expect("fund");
    let dependent = net.step();
    assert_eq!(
        net.reader()
            .block(2)
            .expect("read")
            .expect("block")
            .tx_hashes
            .len(),
        6
    );
    assert_eq!(
        dependent,
        "0x1d93e724c8ccfab035c424e024eb4505d463f71e1cbe25bc3d70b178656fe2cb"
            .parse::<B256>()
            .expect("hex"),
        "app-hash snapshot of the dependent block moved: a breaking change"
    );
}

/// FinalizeBlock uses ProcessProposal's cached result only for the same block: a different
/// decided block (another round's proposal) is validated and executed as itself.
#[test]
fn finalize_ignores_the_cached_proposal_of_another_block() {
    let mut net = Net::new(1);
    net.step();
    let k = net.keys[0].clone();
    net.transfer(&k, 0, Address::repeat_byte(1), 1);
    let h = net.height + 1;
    let t = net.time(h);
    let app = &net.nodes[0].app;
    let with_tx = app
        .prepare_proposal(h, t, &net.mempool, 4 << 20, &net.last_commit())
        .expect("prepare");
    let empty = app
        .prepare_proposal(h, t, &[], 4 << 20, &net.last_commit())
        .expect("prepare");
    let (round0, round1) = (B256::repeat_byte(0xa0), B256::repeat_byte(0xa1));
    assert_eq!(
        app.process_proposal(h, t, round0, &with_tx, &Default::default())
            .expect("ok"),
        Verdict::Accept
    );
    let f = app
        .finalize_block(h, t, round1, &empty, &Default::default())
        .expect("finalize");
    assert_eq!(
        f.block.2, 0,
        "the decided (empty) block ran, not the cached one"
    );
    app.commit().expect("commit");
    assert_eq!(net.balance(Address::repeat_byte(1)), U256::ZERO);
}

/// CometBFT crashes between FinalizeBlock and Commit while parleyd lives on: on restart its
/// handshake learns the last committed height and runs FinalizeBlock of the next one again.
/// The staged block is dropped and the height executes afresh (same block, same app hash); a
/// FinalizeBlock of any other height is still refused. The committed tree matches the store,
/// which the restart below checks.
#[test]
fn finalize_block_again_after_a_consensus_restart_replaces_the_staged_block() {
    let mut net = Net::new(1);
    net.step();
    let k = net.keys[0].clone();
    let to = Address::repeat_byte(1);
    net.transfer(&k, 0, to, 1);
    let h = net.height + 1;
    let t = net.time(h);
    let (with_tx, empty) = {
        let app = &net.nodes[0].app;
        (
            app.prepare_proposal(h, t, &net.mempool, 4 << 20, &net.last_commit())
                .expect("prepare"),
            app.prepare_proposal(h, t, &[], 4 << 20, &net.last_commit())
                .expect("prepare"),
        )
    };
    let (block_a, block_b) = (B256::repeat_byte(0xa0), B256::repeat_byte(0xb0));
    let app = &net.nodes[0].app;
    let first = app
        .finalize_block(h, t, block_a, &with_tx, &Default::default())
        .expect("finalize");
    assert_eq!(first.block.2, 1, "the transfer ran");
    let err = app
        .finalize_block(h + 1, t + 1, block_b, &empty, &Default::default())
        .expect_err("another height while one is staged");
    assert!(
        err.to_string()
            .contains(&format!("height {h} waits for Commit")),
        "{err}"
    );
    let again = app
        .finalize_block(h, t, block_a, &with_tx, &Default::default())
        .expect("the same height again");
    assert_eq!(again.app_hash, first.app_hash, "same block, same app hash");
    // Had the first run's writes stayed in the tree, this block's hash would carry them.
    let other = app
        .finalize_block(h, t, block_b, &empty, &Default::default())
        .expect("the same height, another block");
    assert_ne!(other.app_hash, first.app_hash);
    assert_eq!(other.block.2, 0);
    assert_eq!(app.commit().expect("commit"), h);
    assert_eq!(
        net.balance(to),
        U256::ZERO,
        "the dropped block left nothing"
    );
    let node = net.nodes.remove(0).restart();
    let reader = node.app.store().reader().expect("reader");
    assert_eq!(
        reader.last_commit().expect("read"),
        (h, other.app_hash),
        "the tree the restart rebuilt from the store hashes to the committed app hash"
    );
}

/// CometBFT repeats InitChain after a crash before the first block: the same genesis is
/// accepted with the same app hash, a different one is refused.
#[test]
fn init_chain_is_idempotent_for_the_same_genesis_only() {
    let keys = parley_app::dev_accounts(2).expect("keys");
    let node = Node::open(tempfile::tempdir().expect("tempdir"), Address::ZERO);
    let first = node.app.init_chain(&genesis(&keys), 1).expect("genesis");
    let node = node.restart();
    assert_eq!(
        node.app
            .init_chain(&genesis(&keys), 1)
            .expect("same genesis again"),
        first
    );
    let err = node
        .app
        .init_chain(&genesis(&keys[..1]), 1)
        .expect_err("other genesis refused");
    assert!(err.to_string().contains("InitChain on a database"), "{err}");
    let err = node
        .app
        .init_chain(b"{\"params\":{}}", 1)
        .expect_err("bad genesis");
    assert!(err.to_string().contains("app_state"), "{err}");
}

/// Dependent transactions in ONE block (DESIGN §2 "Block overlay"): a slot written by one
/// transaction and only read by the next keeps its new value; an account created and
/// self-destructed by a CREATE2 in one transaction and funded by the next exists afterwards.
/// Both were lost when "changed" was inferred from revm's journal flags across the block.
#[test]
fn dependent_transactions_in_one_block_keep_their_writes() {
    let mut net = Net::new(2);
    let k = net.keys[3].clone();
    let rw = create(&mut net, &k, 0, RW_INIT);
    let factory = create(&mut net, &k, 1, FACTORY_INIT);
    net.step();
    assert!(
        net.reader().account(rw).expect("read").is_some(),
        "rw deployed"
    );
    assert!(
        net.reader().account(factory).expect("read").is_some(),
        "factory deployed"
    );

    let salt = B256::repeat_byte(0x5a);
    let child = factory.create2_from_code(salt, CHILD_INIT);
    let x = B256::repeat_byte(0x77);
    let txs = [
        call(&k, 2, rw, 0, x.to_vec()),         // writes slot 0
        call(&k, 3, rw, 0, vec![]),             // only reads it
        call(&k, 4, factory, 0, salt.to_vec()), // CREATE2 + SELFDESTRUCT of the child
        call(&k, 5, child, 777, vec![]),        // then funds the destroyed address
    ];
    let hashes: Vec<B256> = txs
        .iter()
        .map(|t| net.submit(t.clone()).expect("accepted"))
        .collect();
    net.step();
    let block = net
        .reader()
        .block(net.height)
        .expect("read")
        .expect("block");
    assert_eq!(
        block.tx_hashes, hashes,
        "all four in one block, in nonce order"
    );
    for h in &hashes {
        assert!(net.receipt(*h).expect("receipt").success);
    }
    let read = net.receipt(hashes[1]).expect("receipt");
    assert_eq!(
        read.logs[0].data.data.as_ref(),
        x.as_slice(),
        "tx 2 saw tx 1's write"
    );
    assert_eq!(
        net.reader().storage(rw, U256::ZERO).expect("read"),
        U256::from_be_bytes(x.0),
        "the written slot survives a later read-only transaction"
    );
    assert_eq!(
        net.reader().storage(factory, U256::ZERO).expect("read"),
        U256::from_be_bytes(child.into_word().0),
        "factory recorded the child"
    );
    let (acc, _) = net
        .reader()
        .account(child)
        .expect("read")
        .expect("the funded address exists after its self-destruct earlier in the block");
    assert_eq!(acc.balance, U256::from(777));
    assert_eq!(acc.nonce, 0);
    assert_eq!(acc.code_hash, parley_types::KECCAK_EMPTY);

    // The diff says the same, and every entry in it matches the committed state.
    let diff = net.reader().diff(net.height).expect("read").expect("diff");
    diff.validate().expect("canonical");
    let r = net.reader();
    for e in &diff.0 {
        assert_eq!(
            r.entry(&e.key).expect("read").map(|v| v.leaf),
            e.new,
            "{:?}",
            e.key
        );
    }
    assert!(
        diff.0
            .iter()
            .any(|e| e.key == StateKey::Storage(rw, U256::ZERO))
    );
    assert!(diff.0.iter().any(|e| e.key == StateKey::Account(child)));
}

/// CheckTx refuses what can never execute: a gas limit under the intrinsic gas (here the
/// EIP-7623 calldata floor, above the standard intrinsic cost), initcode over EIP-3860's
/// limit, and a transaction the sender's balance cannot cover *after* its pending ones.
#[test]
fn admission_checks_intrinsic_gas_initcode_and_the_pending_total() {
    let mut net = Net::new(1);
    let k = net.keys[0].clone();
    let to = Some(Address::repeat_byte(0x42));
    let data = Bytes::from(vec![0xffu8; 10_000]);
    // Standard intrinsic: 21,000 + 16 × 10,000 = 181,000; floor: 21,000 + 10 × 4 × 10,000.
    let floor = 21_000 + 10 * 4 * 10_000;
    let with_gas = |gas| {
        devtx::sign(
            &k,
            Kind::DynamicFee,
            CHAIN_ID,
            0,
            to,
            U256::ZERO,
            data.clone(),
            gas,
            Fees::default(),
        )
    };
    let err = net
        .submit(with_gas(200_000))
        .expect_err("below the EIP-7623 floor");
    assert!(err.contains(&format!("[{floor}, ")), "{err}");
    let app = &net.nodes[0].app;
    assert_eq!(
        app.check_tx(&with_gas(floor - 1), false)
            .expect("check")
            .expect_err("refused")
            .code(),
        7
    );
    app.check_tx(&with_gas(floor), false)
        .expect("check")
        .expect("exactly the floor is admitted");

    let initcode = |len| {
        devtx::sign(
            &k,
            Kind::DynamicFee,
            CHAIN_ID,
            1,
            None,
            U256::ZERO,
            vec![0u8; len].into(),
            10_000_000,
            Fees::default(),
        )
    };
    let err = app
        .check_tx(&initcode(49_153), false)
        .expect("check")
        .expect_err("too large");
    assert_eq!(err.code(), 14, "{err}");
    app.check_tx(&initcode(49_152), false)
        .expect("check")
        .expect("at the limit");

    // A fresh account funded for exactly two transfers' maximum cost.
    let poor = PrivateKeySigner::random();
    let one = U256::from(21_000u64 * 10_000_000_000 + 1);
    let funder = net.keys[1].clone();
    let two = 2 * (21_000u64 * 10_000_000_000 + 1);
    net.transfer(&funder, 0, poor.address(), two);
    net.step();
    assert_eq!(net.balance(poor.address()), one * U256::from(2));
    let t = |n| devtx::transfer(&poor, CHAIN_ID, n, Address::repeat_byte(1), U256::from(1));
    net.submit(t(0)).expect("first fits");
    net.submit(t(1)).expect("second fits");
    let err = net
        .submit(t(2))
        .expect_err("third exceeds balance after the pending two");
    assert!(err.contains("pending"), "{err}");
    let app = net.nodes[0].app.clone();
    assert_eq!(
        app.check_tx(&t(2), false)
            .expect("check")
            .expect_err("refused")
            .code(),
        12
    );
    // Once the two execute (paying the base fee and tip, not their maximum), the pending
    // total is gone and the rest of the balance covers a third.
    net.step();
    assert!(net.balance(poor.address()) >= one);
    app.check_tx(&t(2), false)
        .expect("check")
        .expect("admitted once the pending two executed");
}

/// Ethereum's block gas rule: a transaction fits while its gas limit is at most the gas
/// left, so a block-sized gas limit that uses 21,000 does not keep others out of the block.
#[test]
fn a_huge_gas_limit_cannot_reserve_the_block() {
    let mut net = Net::new(2);
    let gas_limit = Params::default().block_gas_limit;
    let (a, b) = (net.keys[0].clone(), net.keys[1].clone());
    // A transfer that asks for the whole block's gas and uses 21,000.
    let greedy = |nonce: u64, fees: Fees| {
        devtx::sign(
            &a,
            Kind::DynamicFee,
            CHAIN_ID,
            nonce,
            Some(Address::repeat_byte(1)),
            U256::from(1),
            Bytes::new(),
            gas_limit,
            fees,
        )
    };
    let best_tip = Fees {
        max_fee: 10_000_000_000,
        tip: 5_000_000_000,
    };
    let g = net.submit(greedy(0, best_tip)).expect("admitted");
    let others: Vec<B256> = (0..3)
        .map(|n| net.transfer(&b, n, Address::repeat_byte(2), 1))
        .collect();
    net.step();
    let block = net
        .reader()
        .block(net.height)
        .expect("read")
        .expect("block");
    assert_eq!(block.tx_hashes[0], g);
    assert_eq!(
        &block.tx_hashes[1..],
        &others[..],
        "the others share the block"
    );
    assert_eq!(block.gas_used, 4 * 21_000);

    // A decided block whose second tx no longer fits: it is skipped, not executed, and
    // stays valid for a later block.
    let greedy2 = greedy(1, Fees::default());
    let small = devtx::transfer(&b, CHAIN_ID, 3, Address::repeat_byte(2), U256::from(1));
    let small_hash = alloy_primitives::keccak256(&small);
    let greedy2_hash = alloy_primitives::keccak256(&greedy2);
    net.height += 1;
    let h = net.height;
    let meta = net.reader().meta().expect("meta");
    let txs = vec![small.clone(), greedy2.clone()];
    let header = parley_app::chain::block::L2Header {
        chain_id: CHAIN_ID,
        number: h,
        parent_hash: meta.last_block_hash,
        timestamp: net.time(h),
        builder: Address::repeat_byte(0xbb),
        base_fee: meta.next_base_fee,
        gas_limit,
        tx_root: parley_app::chain::block::tx_root([small_hash, greedy2_hash]),
    };
    let msg = Bytes::from(Message::ProposerBlock(L2Block { header, txs }).encode());
    net.decide(vec![msg]);
    let block = net.reader().block(h).expect("read").expect("block");
    assert_eq!(
        block.tx_hashes,
        vec![small_hash],
        "the greedy tx did not fit after another"
    );
    assert!(net.receipt(greedy2_hash).is_none(), "skipped: no receipt");
    let app = &net.nodes[0].app;
    app.check_tx(&greedy2, true)
        .expect("check")
        .expect("still valid for a later block");
}

/// State history (DESIGN §2 "History"): balances, nonces and storage read at every past
/// height equal what was committed then, after many later blocks and after a restart; with
/// a retention window, older heights are refused with a clear error and newer ones still
/// read correctly.
#[test]
fn state_at_past_heights_matches_what_was_committed() {
    use parley_app::chain::overlay::Overlay;
    let mut net = Net::new(1);
    let k = net.keys[4].clone();
    let rw = create(&mut net, &k, 0, RW_INIT);
    net.step();
    let to = Address::repeat_byte(0x99);
    // (height, balance of `to`, nonce of k, slot 0 of rw)
    let mut seen = vec![];
    for i in 1..=30u64 {
        net.transfer(&k, 2 * i - 1, to, i);
        net.submit(call(
            &k,
            2 * i,
            rw,
            0,
            U256::from(i * 1000).to_be_bytes_vec(),
        ))
        .expect("write");
        net.step();
        let r = net.reader();
        seen.push((
            net.height,
            net.balance(to),
            r.account(k.address())
                .expect("read")
                .expect("exists")
                .0
                .nonce,
            r.storage(rw, U256::ZERO).expect("read"),
        ));
    }
    let check = |net: &Net, from: usize| {
        let r = net.reader();
        for (h, balance, nonce, slot) in &seen[from..] {
            let view = r.state_at(*h).expect("retained");
            let mut o = Overlay::new(&view);
            assert_eq!(
                o.account(to).expect("read").map(|a| a.balance),
                Some(*balance),
                "balance at {h}"
            );
            assert_eq!(
                o.account(k.address()).expect("read").map(|a| a.nonce),
                Some(*nonce),
                "nonce at {h}"
            );
            assert_eq!(
                o.storage(rw, U256::ZERO).expect("read"),
                *slot,
                "slot at {h}"
            );
        }
        // Before the first transfer `to` did not exist.
        let view = r.state_at(1).expect("retained");
        assert_eq!(Overlay::new(&view).account(to).expect("read"), None);
    };
    check(&net, 0);
    let node = net.nodes.remove(0).restart();
    net.nodes.push(node);
    check(&net, 0);

    // Now keep only 5 heights: pruning catches up a few heights per commit.
    let Node {
        dir,
        app,
        fee_recipient,
    } = net.nodes.remove(0);
    drop(app);
    net.nodes
        .push(Node::open_with_retention(dir, fee_recipient, 5));
    for _ in 0..4 {
        net.step();
    }
    let latest = net.height;
    let r = net.reader();
    let oldest = r.oldest_state().expect("read");
    assert_eq!(oldest, latest - 5, "caught up to the retention window");
    let err = r.state_at(oldest - 1).expect_err("pruned");
    assert!(err.to_string().contains("pruned"), "{err}");
    assert!(
        err.to_string().contains(&format!("from block {oldest}")),
        "{err}"
    );
    let kept = seen
        .iter()
        .position(|(h, ..)| *h >= oldest)
        .expect("some kept");
    check_kept(&net, &seen[kept..], to);
}

fn check_kept(net: &Net, seen: &[(u64, U256, u64, U256)], to: Address) {
    let r = net.reader();
    for (h, balance, ..) in seen {
        let view = r.state_at(*h).expect("retained");
        let got = parley_app::chain::overlay::Overlay::new(&view)
            .account(to)
            .expect("read");
        assert_eq!(got.map(|a| a.balance), Some(*balance), "balance at {h}");
    }
}

/// A decided block that breaks the rules (possible only with more than a third of the voting
/// power faulty) is executed as an empty block by every node, which still agree.
#[test]
fn a_decided_rule_breaking_block_executes_empty() {
    let mut net = Net::new(3);
    net.step();
    let k = net.keys[0].clone();
    net.transfer(&k, 0, Address::repeat_byte(5), 9);
    net.height += 1;
    let h = net.height;
    let good = net.nodes[0]
        .app
        .prepare_proposal(h, net.time(h), &net.mempool, 4 << 20, &net.last_commit())
        .expect("prepare");
    let Ok(Message::ProposerBlock(mut block)) = Message::decode(&good[0]) else {
        panic!("the proposal is one L2 block");
    };
    block.header.base_fee += 1;
    let bad = vec![Bytes::from(Message::ProposerBlock(block).encode())];
    let mut hashes = vec![];
    for n in &net.nodes {
        // No ProcessProposal: CometBFT decided it anyway.
        let f = n
            .app
            .finalize_block(
                h,
                net.time(h),
                B256::repeat_byte(0xee),
                &bad,
                &Default::default(),
            )
            .expect("finalize");
        assert_eq!(f.block.2, 0, "executed empty");
        n.app.commit().expect("commit");
        hashes.push(f.app_hash);
    }
    assert!(hashes.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(net.balance(Address::repeat_byte(5)), U256::ZERO);
    // The stand-in is a well-formed empty block: its tx root commits to no transactions,
    // like any proposer's empty block.
    let rec = net.reader().block(h).expect("read").expect("record");
    assert_eq!(rec.tx_root, parley_app::chain::block::tx_root([]));
    assert!(rec.tx_hashes.is_empty());
    // The transfer is still pending and lands in the next, valid block.
    net.step();
    assert_eq!(net.balance(Address::repeat_byte(5)), U256::from(9));
}

/// A database whose state does not hash to the committed app hash refuses to start, with an
/// error that says so, instead of running on diverged state.
#[test]
fn a_corrupted_database_refuses_to_start() {
    let mut net = Net::new(1);
    net.transfer(&net.keys[0].clone(), 0, Address::repeat_byte(6), 1);
    net.step();
    let Node {
        dir,
        app,
        fee_recipient,
    } = net.nodes.remove(0);
    drop(app);
    let path = dir.path().join("parley.redb");
    {
        // Change one committed storage-free account's value behind the app's back.
        use redb::ReadableTable as _;
        let db = redb::Database::open(&path).expect("opens");
        let table: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("state");
        let key = StateKey::Account(Address::repeat_byte(6)).encode();
        let tx = db.begin_write().expect("write");
        {
            let mut t = tx.open_table(table).expect("table");
            let mut v = t
                .get(key.as_slice())
                .expect("get")
                .expect("exists")
                .value()
                .to_vec();
            let last = v.len() - 1;
            v[last] ^= 1;
            t.insert(key.as_slice(), v.as_slice()).expect("insert");
        }
        tx.commit().expect("commit");
    }
    let store = parley_app::store::Store::open(&path).expect("opens");
    let err = parley_app::app::App::new(store, fee_recipient).expect_err("refuses to start");
    let msg = err.to_string();
    assert!(
        msg.contains("corrupt") && msg.contains("was committed"),
        "{msg}"
    );
    drop(dir);
}

/// ABCI Query `/proof/<key>` returns the entry's value and a Merkle proof that verifies
/// against the app hash; a proof of an absent key verifies as absent.
#[test]
fn query_proofs_verify_against_the_app_hash() {
    let mut net = Net::new(1);
    let k = net.keys[0].clone();
    net.transfer(&k, 0, Address::repeat_byte(7), 3);
    net.step();
    let app = &net.nodes[0].app;
    let (_, app_hash) = app.info().expect("info");
    for (key, present) in [
        (StateKey::Account(Address::repeat_byte(7)), true),
        (StateKey::Account(Address::repeat_byte(8)), false),
    ] {
        let path = format!("/proof/{}", hex::encode(key.encode()));
        let out = parley_app::abci::query(app, &path)
            .expect("query")
            .expect("answers");
        let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(v["app_hash"], serde_json::json!(app_hash));
        let proof = parley_types::MerkleProof {
            siblings: serde_json::from_value(v["siblings"].clone()).expect("siblings"),
            terminal: serde_json::from_value(v["terminal"].clone()).expect("terminal"),
        };
        let value: Option<Bytes> = serde_json::from_value(v["value"].clone()).expect("value");
        assert_eq!(value.is_some(), present);
        let vh = value.as_ref().map(alloy_primitives::keccak256);
        assert!(proof.verify(&app_hash, &key.path(), vh.as_ref()), "{key:?}");
        // The same proof does not verify a different value.
        let wrong = alloy_primitives::keccak256(b"wrong");
        assert!(!proof.verify(&app_hash, &key.path(), Some(&wrong)));
    }
    let err = parley_app::abci::query(app, "/nonsense")
        .expect("query")
        .expect_err("unknown path");
    assert!(err.contains("unknown query path"), "{err}");
}

/// The builder orders by tip but keeps each sender's nonces in order: a high-tip transaction
/// cannot jump ahead of its sender's lower nonce.
#[test]
fn the_builder_orders_by_tip_within_nonce_order() {
    let mut net = Net::new(1);
    let (a, b, c) = (
        net.keys[0].clone(),
        net.keys[1].clone(),
        net.keys[2].clone(),
    );
    let gwei = 1_000_000_000u128;
    let tx = |k: &PrivateKeySigner, nonce: u64, tip: u128| {
        devtx::sign(
            k,
            Kind::DynamicFee,
            CHAIN_ID,
            nonce,
            Some(Address::repeat_byte(9)),
            U256::from(1),
            Bytes::new(),
            21_000,
            Fees {
                max_fee: 20 * gwei,
                tip,
            },
        )
    };
    // Submitted in an order unrelated to the expected one.
    let a1 = net.submit(tx(&a, 1, 9 * gwei)).expect("a1");
    let c0 = net.submit(tx(&c, 0, 3 * gwei)).expect("c0");
    let a0 = net.submit(tx(&a, 0, gwei)).expect("a0");
    let b0 = net.submit(tx(&b, 0, 5 * gwei)).expect("b0");
    net.step();
    let block = net
        .reader()
        .block(net.height)
        .expect("read")
        .expect("block");
    assert_eq!(block.tx_hashes, vec![b0, c0, a0, a1]);
}

/// EIP-161 and proof-tree indices: a zero-value transfer to an empty address leaves it absent
/// (no state entry, no diff entry); the keys a block inserts get the next free proof indices,
/// consecutive, in key order, and an updated key keeps its index.
#[test]
fn empty_accounts_are_not_stored_and_inserts_get_indices_in_key_order() {
    let mut net = Net::new(1);
    let k = net.keys[0].clone();
    let empty = Address::repeat_byte(0x21);
    net.transfer(&k, 0, empty, 0);
    net.step();
    let r = net.reader();
    assert!(
        r.account(empty).expect("read").is_none(),
        "touched but empty: not stored"
    );
    let diff = r.diff(net.height).expect("read").expect("diff");
    assert!(diff.0.iter().all(|e| e.key != StateKey::Account(empty)));
    let sender_index = r.account(k.address()).expect("read").expect("exists").1;

    let first = r.meta().expect("meta").next_proof_index;
    let fresh = [0x35u8, 0x33, 0x34].map(Address::repeat_byte);
    for (n, a) in fresh.iter().enumerate() {
        net.transfer(&k, 1 + n as u64, *a, 1);
    }
    net.step();
    let r = net.reader();
    let diff = r.diff(net.height).expect("read").expect("diff");
    let inserts: Vec<_> = diff.0.iter().filter(|e| e.old.is_none()).collect();
    let mut keys: Vec<StateKey> = fresh.iter().map(|a| StateKey::Account(*a)).collect();
    keys.sort();
    assert_eq!(inserts.len(), 3, "only the three fresh accounts are new");
    for (e, want_key) in inserts.iter().zip(&keys) {
        assert_eq!(e.key, *want_key, "inserts in key order");
    }
    let indices: Vec<u64> = inserts.iter().map(|e| e.index).collect();
    let want: Vec<u64> = (first..first + inserts.len() as u64).collect();
    assert_eq!(
        indices, want,
        "consecutive fresh indices from next_proof_index"
    );
    assert_eq!(
        r.meta().expect("meta").next_proof_index,
        first + inserts.len() as u64
    );
    let sender = diff
        .0
        .iter()
        .find(|e| e.key == StateKey::Account(k.address()))
        .expect("sender changed");
    assert_eq!(sender.index, sender_index, "an update keeps its index");
}

/// BLOCKHASH(NUMBER - 1) inside a block is the previous block's hash, from the in-memory ring
/// that Commit feeds (cargo-mutants found that emptying `BlockHashes::push` went unnoticed by
/// the harness: only the differential test against anvil saw it).
#[test]
fn blockhash_of_the_previous_block_comes_from_the_ring() {
    // runtime: SSTORE(0, BLOCKHASH(NUMBER - 1)); STOP
    const PREV_HASH_INIT: &str = "600a80600b6000396000f3436001900340600055";
    let mut net = Net::new(2);
    let k = net.keys[0].clone();
    let c = create(&mut net, &k, 0, &format!("{PREV_HASH_INIT}00"));
    net.step();
    for nonce in 1..=3 {
        net.submit(call(&k, nonce, c, 0, vec![])).expect("admitted");
        net.step();
        let r = net.reader();
        let (h, _) = r.last_commit().expect("read");
        let prev = r.block(h - 1).expect("read").expect("block h-1").hash;
        assert_ne!(prev, B256::ZERO);
        assert_eq!(
            r.storage(c, U256::ZERO).expect("read"),
            U256::from_be_bytes(prev.0),
            "height {h}"
        );
    }
}

/// Log indices run across the block: each receipt's first log index is the number of logs
/// the block's earlier transactions emitted (what `logIndex` in receipts and `eth_getLogs`
/// is built from).
#[test]
fn log_indices_continue_across_a_blocks_transactions() {
    let mut net = Net::new(1);
    let k = net.keys[0].clone();
    let c = common::create(&mut net, &k, 0, INIT_CODE);
    net.step();
    // Three calls, each storing its word and emitting one log, in one block.
    let hashes: Vec<B256> = (1..=3u64)
        .map(|n| {
            net.submit(common::call(&k, n, c, 0, vec![n as u8; 32]))
                .expect("call")
        })
        .collect();
    net.step();
    let r = net.reader();
    let firsts: Vec<u64> = hashes
        .iter()
        .map(|h| {
            let t = r.tx(h).expect("read").expect("executed");
            assert_eq!(t.receipt.logs.len(), 1);
            t.first_log_index
        })
        .collect();
    assert_eq!(firsts, vec![0, 1, 2]);
}

/// Stores TIMESTAMP, NUMBER, PREVRANDAO, GASLIMIT, CHAINID, BASEFEE and COINBASE in slots 0..6
/// when called (init code returns that 29-byte runtime).
const BLOCK_ENV_INIT: &str = "601d600c600039601d6000f3\
                              42600055436001554460025545600355\
                              46600455486005554160065500";

/// What a contract sees of the block is the L2 header: its timestamp, number, gas limit,
/// chain id, base fee and builder, and PREVRANDAO = the CometBFT block hash of the height.
#[test]
fn contracts_see_the_block_environment() {
    let mut net = Net::new(1);
    let k = net.keys[0].clone();
    let c = common::create(&mut net, &k, 0, BLOCK_ENV_INIT);
    net.step();
    let tx = net.submit(common::call(&k, 1, c, 0, vec![])).expect("call");
    net.step();
    let h = net.height;
    let r = net.reader();
    assert!(r.tx(&tx).expect("read").expect("executed").receipt.success);
    let block = r.block(h).expect("read").expect("block");
    let slot = |i: u64| r.storage(c, U256::from(i)).expect("read");
    let params = net.nodes[0].app.params().expect("params");
    assert_eq!(slot(0), U256::from(net.time(h)), "TIMESTAMP");
    assert_eq!(slot(1), U256::from(h), "NUMBER");
    assert_eq!(
        slot(2),
        U256::from_be_bytes(B256::with_last_byte(h as u8).0),
        "PREVRANDAO"
    );
    assert_eq!(slot(3), U256::from(params.block_gas_limit), "GASLIMIT");
    assert_eq!(slot(4), U256::from(CHAIN_ID), "CHAINID");
    assert_eq!(slot(5), U256::from(block.base_fee), "BASEFEE");
    assert_eq!(
        slot(6),
        U256::from_be_slice(net.nodes[0].fee_recipient.as_slice()),
        "COINBASE"
    );
}

/// An EIP-2930 access list is charged (2,400 gas per address, 1,900 per storage key) and
/// warms what it lists: a plain transfer with one address and one key uses 25,300 gas.
#[test]
fn access_lists_are_charged() {
    use alloy_consensus::{SignableTransaction as _, TxEip2930, TxEnvelope};
    use alloy_eips::eip2718::Encodable2718 as _;
    use alloy_eips::eip2930::{AccessList, AccessListItem};
    use alloy_signer::SignerSync as _;
    let mut net = Net::new(1);
    let k = net.keys[0].clone();
    let tx = TxEip2930 {
        chain_id: CHAIN_ID,
        nonce: 0,
        gas_price: 10_000_000_000,
        gas_limit: 30_000,
        to: alloy_primitives::TxKind::Call(Address::repeat_byte(7)),
        value: U256::from(1),
        input: Bytes::new(),
        access_list: AccessList(vec![AccessListItem {
            address: Address::repeat_byte(8),
            storage_keys: vec![B256::repeat_byte(1)],
        }]),
    };
    let sig = k.sign_hash_sync(&tx.signature_hash()).expect("sign");
    let raw: TxEnvelope = tx.into_signed(sig).into();
    let hash = net
        .submit(Bytes::from(raw.encoded_2718()))
        .expect("accepted");
    net.step();
    let rec = net.receipt(hash).expect("executed");
    assert_eq!(rec.gas_used, 21_000 + 2_400 + 1_900);
}

/// `max_block_txs` is inclusive: a block of exactly that many transactions is accepted, one
/// more is refused.
#[test]
fn max_block_txs_is_inclusive() {
    let keys = parley_app::dev_accounts(3).expect("keys");
    let mut net = net_with_params(
        2,
        &keys,
        Params {
            max_block_txs: 2,
            ..Params {
                chain_id: CHAIN_ID,
                ..Params::default()
            }
        },
    );
    net.step();
    let h = net.height + 1;
    let t = net.time(h);
    let txs: Vec<Bytes> = keys
        .iter()
        .map(|k| devtx::transfer(k, CHAIN_ID, 0, Address::repeat_byte(1), U256::from(1)))
        .collect();
    let block = |n: usize| {
        let Ok(Message::ProposerBlock(mut b)) = Message::decode(
            &net.nodes[0]
                .app
                .prepare_proposal(h, t, &[], 1 << 20, &Default::default())
                .expect("prepare")[0],
        ) else {
            panic!("the proposal is one L2 block");
        };
        b.txs = txs[..n].to_vec();
        let hashes: Vec<B256> = b.txs.iter().map(alloy_primitives::keccak256).collect();
        b.header.tx_root = parley_app::chain::block::tx_root(hashes);
        vec![Bytes::from(Message::ProposerBlock(b).encode())]
    };
    let verdict = |p: Vec<Bytes>| {
        net.nodes[1]
            .app
            .process_proposal(h, t, B256::ZERO, &p, &Default::default())
            .expect("no fatal error")
    };
    assert_eq!(verdict(block(2)), Verdict::Accept);
    assert!(matches!(verdict(block(3)), Verdict::Reject(r) if r.contains("3 txs > max 2")));
}

/// The proposer's builder at its limits (what ProcessProposal would otherwise refuse, or what
/// would leave valid transactions out): the tx-count cap, the byte budget counted as
/// `len + 4` per transaction, a gas limit that fits exactly two transfers, a fee cap equal to
/// the base fee, and a stale nonce ahead of the sender's next one.
#[test]
fn the_builder_packs_to_its_limits() {
    use parley_app::chain::rules;
    use parley_app::mempool::builder::select;
    let keys = parley_app::dev_accounts(4).expect("keys");
    let mut net = net_with_params(
        1,
        &keys,
        Params {
            max_block_txs: 3,
            block_gas_limit: 42_000,
            ..Params {
                chain_id: CHAIN_ID,
                ..Params::default()
            }
        },
    );
    // keys[3] has used nonce 0 already.
    net.submit(devtx::transfer(
        &keys[3],
        CHAIN_ID,
        0,
        Address::repeat_byte(2),
        U256::from(1),
    ))
    .expect("tx");
    net.step();
    let app = &net.nodes[0].app;
    let params = app.params().expect("params");
    let r = net.reader();
    let meta = r.meta().expect("meta");
    let header = rules::header(
        &params,
        &meta,
        net.height + 1,
        net.time(net.height + 1),
        Address::ZERO,
    );
    let dec = |raw: &Bytes| app.decode_tx(raw, &params).expect("valid tx");
    let transfers: Vec<_> = keys[..3]
        .iter()
        .map(|k| {
            dec(&devtx::transfer(
                k,
                CHAIN_ID,
                0,
                Address::repeat_byte(1),
                U256::from(1),
            ))
        })
        .collect();
    let hashes =
        |v: &[parley_app::chain::tx::SignedTx]| v.iter().map(|t| t.hash).collect::<Vec<_>>();

    // Gas: 42,000 holds exactly two transfers (the third does not fit).
    let all = select(&r, &params, &header, transfers.clone(), 1 << 20).expect("select");
    assert_eq!(
        all.len(),
        2,
        "two 21,000-gas transfers fill a 42,000 gas limit"
    );

    // Bytes: a budget of exactly the first one's `len + 4` packs it; one byte less packs none;
    // exactly two's packs two.
    let cost = |t: &parley_app::chain::tx::SignedTx| t.raw.len() as u64 + 4;
    let one = cost(&all[0]);
    let two = one + cost(&all[1]);
    assert_eq!(
        hashes(&select(&r, &params, &header, transfers.clone(), one).expect("select")),
        hashes(&all[..1])
    );
    assert!(
        select(&r, &params, &header, transfers.clone(), one - 1)
            .expect("select")
            .is_empty()
    );
    assert_eq!(
        hashes(&select(&r, &params, &header, transfers.clone(), two).expect("select")),
        hashes(&all)
    );
    assert_eq!(
        select(&r, &params, &header, transfers.clone(), two - 1)
            .expect("select")
            .len(),
        1
    );

    // A fee cap exactly at the base fee (no tip) is includable.
    let at_base = dec(&devtx::sign(
        &keys[0],
        devtx::Kind::DynamicFee,
        CHAIN_ID,
        0,
        Some(Address::repeat_byte(1)),
        U256::from(1),
        Bytes::new(),
        21_000,
        devtx::Fees {
            max_fee: u128::from(header.base_fee),
            tip: 0,
        },
    ));
    assert_eq!(
        hashes(&select(&r, &params, &header, vec![at_base.clone()], 1 << 20).expect("select")),
        vec![at_base.hash]
    );

    // A stale nonce (already executed) does not hide the sender's next transaction.
    let stale = dec(&devtx::transfer(
        &keys[3],
        CHAIN_ID,
        0,
        Address::repeat_byte(3),
        U256::from(1),
    ));
    let next = dec(&devtx::transfer(
        &keys[3],
        CHAIN_ID,
        1,
        Address::repeat_byte(3),
        U256::from(1),
    ));
    assert_eq!(
        hashes(&select(&r, &params, &header, vec![stale, next.clone()], 1 << 20).expect("select")),
        vec![next.hash]
    );
}

/// The builder never packs more than `max_block_txs`, however much gas is left.
#[test]
fn the_builder_stops_at_max_block_txs() {
    use parley_app::chain::rules;
    use parley_app::mempool::builder::select;
    let keys = parley_app::dev_accounts(4).expect("keys");
    let net = net_with_params(
        1,
        &keys,
        Params {
            max_block_txs: 2,
            ..Params {
                chain_id: CHAIN_ID,
                ..Params::default()
            }
        },
    );
    let app = &net.nodes[0].app;
    let params = app.params().expect("params");
    let r = net.reader();
    let header = rules::header(
        &params,
        &r.meta().expect("meta"),
        1,
        net.time(1),
        Address::ZERO,
    );
    let txs: Vec<_> = keys
        .iter()
        .map(|k| {
            app.decode_tx(
                &devtx::transfer(k, CHAIN_ID, 0, Address::repeat_byte(1), U256::from(1)),
                &params,
            )
            .expect("valid")
        })
        .collect();
    assert_eq!(
        select(&r, &params, &header, txs, 1 << 20)
            .expect("select")
            .len(),
        2
    );
}

/// `n` nodes from a genesis with `params` and each of `keys` holding 100 ETH.
fn net_with_params(n: usize, keys: &[alloy_signer_local::PrivateKeySigner], params: Params) -> Net {
    let g = parley_app::chain::genesis::AppGenesis::funded(
        params,
        keys.iter().map(|k| k.address()),
        U256::from(10u128.pow(20)),
    );
    Net::with_genesis(n, keys.to_vec(), &serde_json::to_vec(&g).expect("json"))
}
