//! Epoch aggregation in consensus with a real aggregate (DESIGN §3.14, ADR 0015): two slots
//! of an epoch proven with real block proofs, the epoch closed and its aggregator drawn, the
//! node keeping the block proofs an aggregator fetches, a real layer-1 aggregate verified in
//! FinalizeBlock by each node's epoch verifier (the verifying key alone, checked against the
//! hash genesis pins), a copy of it sent by another prover failing and fined, and the
//! aggregator's own accepted and paid.
//!
//! Slow (aggregation keygen and one aggregate proof: several minutes on 2 cores), so it is
//! ignored by default and run by name:
//! `cargo test --release -p parley-app --test epoch_aggregation -- --ignored --nocapture`.

mod common;

use alloy_primitives::{Address, Bytes, U256};
use alloy_signer_local::PrivateKeySigner;
use common::{CHAIN_ID, Net, ledger, prover_entry};
use parley_app::chain::genesis::{
    AggregationParams, AppGenesis, FallbackParams, GenesisBond, GenesisLedger, Params,
    ProtocolParams, ProvingParams, SrsPin,
};
use parley_app::chain::msg::{self, Action};
use parley_proofs::aggregation::{EpochAggregator, encode_epoch_snark, epoch_commitment};
use parley_proofs::encoding::fr_to_b256;
use parley_proofs::{
    BlockHeader, BlockProof, BlockProver, BlockWitness, Halo2BlockProver, ProofTree,
};
use parley_types::{Epoch, EpochState, ProofSlot, StateKey};

const ETH: u128 = 1_000_000_000_000_000_000;
const CAPACITY: usize = 6;
const EPOCH_SLOTS: u64 = 2;
const AGG_K: u32 = 20;
const AGG_WINDOW: u64 = 6;
const FINE: u128 = ETH / 10;
const SLASH: u128 = ETH;

fn eth(n: u128) -> U256 {
    U256::from(n * ETH)
}

fn epoch(net: &Net, e: u64) -> Epoch {
    Epoch::decode(
        &net.reader()
            .app_entry(&StateKey::Epoch(e))
            .expect("read")
            .expect("epoch recorded"),
    )
    .expect("decodes")
}

fn proof_slot(net: &Net, s: u64) -> ProofSlot {
    ProofSlot::decode(
        &net.reader()
            .app_entry(&StateKey::ProofSlot(s))
            .expect("read")
            .expect("slot awaits a proof"),
    )
    .expect("decodes")
}

fn send(net: &mut Net, key: &PrivateKeySigner, nonce: u64, a: &Action) {
    net.submit(Bytes::from(msg::sign(key, CHAIN_ID, nonce, a)))
        .unwrap_or_else(|e| panic!("refused at CheckTx: {e}"));
}

fn only_result(net: &Net) -> (u32, String) {
    assert_eq!(net.last_results.len(), 2, "one message and the L2 block");
    net.last_results[0].clone()
}

#[test]
#[ignore = "slow: aggregation keygen and a real aggregate (minutes); run by name"]
fn a_real_aggregate_is_verified_by_every_node_and_a_copy_of_it_is_fined() {
    let block = Halo2BlockProver::setup(CAPACITY).expect("block circuit keys");
    let agg = EpochAggregator::setup(&block, EPOCH_SLOTS as usize, AGG_K).expect("agg keys");
    let keys = parley_app::dev_accounts(6).expect("dev keys");
    let params = Params {
        chain_id: CHAIN_ID,
        protocol: ProtocolParams {
            max_diff_entries: CAPACITY as u64,
            proving: Some(ProvingParams {
                block_capacity: CAPACITY as u64,
                max_chunks: 1,
                block_vk_hash: block.vk_hash(),
                proof_index_bits: parley_proofs::FULL_INDEX_BITS,
                srs: SrsPin::Dev,
                proof_window: 6,
                prover_fee_share_bps: 5_000,
                invalid_proof_fine: U256::from(FINE),
                rep_up: 10_000,
                max_unproven_slots: 4,
                fallback: FallbackParams {
                    min_fallback_stake: eth(1),
                    slash_missed: U256::from(SLASH),
                    slash_burn_bps: 5_000,
                    ..FallbackParams::default()
                },
                aggregation: Some(AggregationParams {
                    epoch_slots: EPOCH_SLOTS,
                    agg_capacity: EPOCH_SLOTS,
                    agg_k: AGG_K,
                    agg_vk_hash: agg.vk_hash(),
                    agg_window: AGG_WINDOW,
                    agg_share_bps: 5_000,
                    l1_proof: None,
                    tree: None,
                }),
            }),
            ..ProtocolParams::default()
        },
        ..Params::default()
    };
    let mut g = AppGenesis::funded(params, keys.iter().map(|k| k.address()), eth(1_000));
    // Key 2 is drawn for nearly everything (stake); key 3 has just `min_fallback_stake`.
    g.ledger = [2, 3]
        .map(|i| GenesisLedger {
            address: keys[i].address(),
            balance: eth(1),
        })
        .to_vec();
    g.provers = [(2, 1_000_000), (3, 1)]
        .map(|(i, stake)| GenesisBond {
            address: keys[i].address(),
            amount: eth(stake),
        })
        .to_vec();
    let mut net = Net::with_genesis(2, keys.clone(), &serde_json::to_vec(&g).expect("json"));
    let [user, p, q] = [0, 2, 3].map(|i| keys[i].clone());

    // Epoch 5 is slots 11 and 12: a transfer in each.
    while net.height < 10 {
        net.step();
    }
    net.transfer(&user, 0, Address::repeat_byte(0x51), 7);
    net.step();
    net.transfer(&user, 1, Address::repeat_byte(0x52), 8);
    net.step();
    let e = 5;
    let mut tree = ProofTree::new();
    let r = net.reader();
    tree.apply_diff_batch(&r.diff(0).expect("read").expect("genesis diff"))
        .expect("applies");
    for n in 1..11 {
        tree.apply_diff_batch(&r.diff(n).expect("read").expect("diff"))
            .expect("applies");
    }
    drop(r);
    let mut snarks = Vec::new();
    let mut pis = Vec::new();
    for (nonce, s) in [(0u64, 11u64), (1, 12)] {
        let entry = proof_slot(&net, s);
        let diff = net
            .reader()
            .diff(entry.block_number)
            .expect("read")
            .expect("diff");
        let header = BlockHeader {
            chain_id: CHAIN_ID,
            slot: s,
            chunk_index: 0,
            chunk_count: 1,
            block_commitment: entry.commitment,
            prover_address: p.address(),
        };
        let w = BlockWitness::build(&mut tree, header, &diff, CAPACITY).expect("witness");
        let proof = block.prove(&w).expect("proves");
        let a = Action::Proof {
            slot: s,
            chunk: 0,
            pre_root: fr_to_b256(&w.public.pre_root),
            post_root: fr_to_b256(&w.public.post_root),
            proof: Bytes::from(proof.bytes.clone()),
        };
        send(&mut net, &p, nonce, &a);
        net.step();
        assert_eq!(only_result(&net), (0, String::new()), "slot {s}'s proof");
        // The node keeps what an aggregator fetches.
        assert_eq!(
            net.reader().proof(s, 0, p.address()).expect("read"),
            Some(proof.bytes.clone())
        );
        pis.push(w.public.pi_hash());
        snarks.push(block.to_snark(
            &w.public,
            &BlockProof {
                capacity: CAPACITY,
                bytes: proof.bytes,
            },
        ));
    }
    // Both proven: the epoch closes once they settle, and its aggregator is drawn.
    for _ in 0..20 {
        if net
            .reader()
            .app_entry(&StateKey::Epoch(e))
            .expect("read")
            .is_some_and(|b| Epoch::decode(&b).expect("decodes").state != EpochState::Collecting)
        {
            break;
        }
        net.step();
    }
    let v = epoch(&net, e);
    assert_eq!(v.state, EpochState::Due);
    assert_eq!(v.blocks.len(), 2);
    assert_eq!(v.aggregator.map(|(a, _)| a), Some(p.address()));

    let snark = agg.aggregate(&p.address(), snarks).expect("aggregates");
    let bytes = encode_epoch_snark(&snark).expect("encodes");
    let aggregate = Action::Aggregate {
        epoch: e,
        proof: Bytes::from(bytes),
    };
    // The drawn aggregator misses its window (slashed); then anyone staked may aggregate.
    while net.height <= v.window_end {
        net.step();
    }
    // Another prover's copy verifies against a commitment bound to its own address: fined.
    let q_stake = prover_entry(&net, q.address()).stake;
    send(&mut net, &q, 0, &aggregate);
    net.step();
    let (code, log) = only_result(&net);
    assert_eq!(code, 82, "{log}");
    assert_eq!(
        prover_entry(&net, q.address()).stake,
        q_stake - U256::from(FINE)
    );
    assert_eq!(epoch(&net, e).state, EpochState::Due);

    // The aggregator's own aggregate is verified by both nodes and accepted.
    let before = ledger(&net, p.address()).balance;
    send(&mut net, &p, 2, &aggregate);
    net.step();
    assert_eq!(only_result(&net), (0, String::new()));
    let done = epoch(&net, e);
    assert_eq!(done.state, EpochState::Aggregated);
    assert_eq!(done.aggregated_by, p.address());
    let expected = epoch_commitment(&p.address(), EPOCH_SLOTS as usize, &pis).expect("two of two");
    assert_eq!(done.commitment, fr_to_b256(&expected));
    assert!(
        snark.instances[0].contains(&expected),
        "the aggregate's public inputs carry the commitment the chain recorded"
    );
    // Paid the share of the epoch's base fees (the missed aggregator's kept slash is not
    // paid back to itself), less the message fee.
    let share = v.fees * U256::from(5_000u64) / U256::from(10_000u64);
    let fee = ProtocolParams::default().message_fee;
    assert_eq!(ledger(&net, p.address()).balance, before + share - fee);
    // The epoch settled: the next height drops its proofs.
    net.step();
    assert_eq!(net.reader().proof(11, 0, p.address()).expect("read"), None);
    assert_eq!(net.reader().proof(12, 0, p.address()).expect("read"), None);
}
