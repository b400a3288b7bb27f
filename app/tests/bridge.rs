//! The validators' attestation of epochs for L1 (DESIGN §6, ADR 0017), on the in-process
//! harness: validators with real ed25519 consensus keys and secp256k1 bridge keys sign each
//! pending epoch digest in their vote extensions; every node checks the extensions
//! (VerifyVoteExtension); the next proposer carries the signatures; every node checks and
//! records them; and the validator set changes only in the block that carries an epoch's
//! attestation.
//!
//! The epochs here have no L2 transactions, so they close empty and need no proof: the
//! attestation path is the same for aggregated epochs, whose roots and commitment come from
//! the aggregate (checked with a real aggregate in `epoch_aggregation.rs`, slow).

mod common;

use std::sync::OnceLock;

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_signer_local::PrivateKeySigner;
use common::{CHAIN_ID, Net, call, signer_address};
use parley_app::chain::block::Message;
use parley_app::chain::bridge::{self, Attest, BridgeError, BridgeVote};
use parley_app::chain::genesis::{
    AggregationParams, AppGenesis, BridgeParams, FallbackParams, GenesisLedger, GenesisValidator,
    Params, ProtocolParams, ProvingParams, SrsPin,
};
use parley_app::chain::l1queue::{QueueBatch, QueueVote};
use parley_app::chain::msg::{self, Action};
use parley_app::chain::rules::Verdict;
use parley_app::chain::seed::SeedError;
use parley_proofs::{BlockProver, Halo2BlockProver};
use parley_types::bridge::{
    AttestationRecord, BridgeState, L1Observation, QueueEntry, QueuePosition, QueueState,
    epoch_digest, queue_digest, roll, validator_set_hash,
};
use parley_types::{Role, StateKey};

const ETH: u128 = 1_000_000_000_000_000_000;
const CAPACITY: usize = 6;
/// Slots per aggregation epoch: epoch `e` is slots `4e + 1 ..= 4e + 4`.
const EPOCH_SLOTS: u64 = 4;
const L1_CHAIN_ID: u64 = 31_337;
const ROLLUP: Address = Address::repeat_byte(0x77);

fn eth(n: u128) -> U256 {
    U256::from(n * ETH)
}

fn block_keys() -> &'static Halo2BlockProver {
    static KEYS: OnceLock<Halo2BlockProver> = OnceLock::new();
    KEYS.get_or_init(|| Halo2BlockProver::setup(CAPACITY).expect("block circuit keys"))
}

/// Validator `i`'s CometBFT key seed.
fn consensus(i: u8) -> [u8; 32] {
    [0x40 + i; 32]
}

fn public(seed: &[u8; 32]) -> B256 {
    B256::from(
        ed25519_consensus::SigningKey::from(*seed)
            .verification_key()
            .to_bytes(),
    )
}

/// Validator `i`'s bridge key.
fn bridge_key(i: u8) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&B256::repeat_byte(0x60 + i)).expect("a key")
}

/// The genesis: validators 0..4 registered (10 power each) with their operators the dev
/// keys 0..4 (funded in the ledger), and the bridge's withdrawal contract.
fn genesis() -> AppGenesis {
    let keys = parley_app::dev_accounts(6).expect("dev keys");
    let params = Params {
        chain_id: CHAIN_ID,
        protocol: ProtocolParams {
            // Seed epochs of 3 heights against aggregation epochs of 4 slots: bridge votes
            // land on reveal heights too, beside the seed part.
            epoch_heights: 3,
            max_diff_entries: CAPACITY as u64,
            proving: Some(ProvingParams {
                block_capacity: CAPACITY as u64,
                max_chunks: 1,
                block_vk_hash: block_keys().vk_hash(),
                proof_index_bits: parley_proofs::FULL_INDEX_BITS,
                srs: SrsPin::Dev,
                proof_window: 6,
                prover_fee_share_bps: 5_000,
                invalid_proof_fine: U256::from(1u64),
                rep_up: 10_000,
                max_unproven_slots: 4,
                fallback: FallbackParams::default(),
                aggregation: Some(AggregationParams {
                    epoch_slots: EPOCH_SLOTS,
                    agg_capacity: 2,
                    agg_k: 20,
                    // Never used: these epochs have no blocks to aggregate.
                    agg_vk_hash: B256::ZERO,
                    agg_window: 8,
                    agg_share_bps: 5_000,
                    l1_proof: None,
                    tree: None,
                }),
            }),
            bridge: Some(BridgeParams {
                l1_chain_id: L1_CHAIN_ID,
                rollup: ROLLUP,
            }),
            ..ProtocolParams::default()
        },
        ..Params::default()
    };
    // The bridge's predeploy (the withdrawal contract) comes with the others.
    let mut g =
        AppGenesis::funded(params, keys.iter().map(|k| k.address()), eth(1_000)).with_predeploys();
    g.ledger = (0..6)
        .map(|i| GenesisLedger {
            address: keys[i].address(),
            balance: eth(100),
        })
        .collect();
    g.validators = (0..4u8)
        .map(|i| GenesisValidator {
            operator: keys[usize::from(i)].address(),
            consensus_key: public(&consensus(i)),
            bridge_key: bridge_key(i).address(),
            bond: eth(10),
        })
        .collect();
    g
}

/// `n` nodes; node `i` signs as validator `i` (consensus and bridge key), so a fifth node
/// can join by bonding.
fn net(n: usize) -> Net {
    let keys = parley_app::dev_accounts(6).expect("dev keys");
    let g = genesis();
    let seeds: Vec<[u8; 32]> = (0..n as u8).map(consensus).collect();
    let net =
        Net::with_genesis(n, keys, &serde_json::to_vec(&g).expect("json")).with_signers(&seeds);
    for (i, node) in net.nodes.iter().enumerate() {
        node.app.set_bridge_key(Some(bridge_key(i as u8)));
    }
    net
}

fn state(net: &Net) -> BridgeState {
    let b = net
        .reader()
        .app_entry(&StateKey::Bridge)
        .expect("read")
        .expect("a chain with a bridge has its state from genesis");
    BridgeState::decode(&b).expect("decodes")
}

fn record(net: &Net, e: u64) -> Option<AttestationRecord> {
    net.reader()
        .app_entry(&StateKey::Attestation(e))
        .expect("read")
        .map(|b| AttestationRecord::decode(&b).expect("decodes"))
}

fn genesis_set() -> Vec<(Address, u64)> {
    let mut s: Vec<(Address, u64)> = (0..4).map(|i| (bridge_key(i).address(), 10)).collect();
    s.sort_by_key(|(a, _)| *a);
    s
}

/// Steps until `f` holds (at most `limit` heights).
fn step_until(net: &mut Net, limit: u64, what: &str, f: impl Fn(&Net) -> bool) {
    for _ in 0..limit {
        if f(net) {
            return;
        }
        net.step();
    }
    assert!(
        f(net),
        "{what}: not within {limit} heights (height {})",
        net.height
    );
}

#[test]
fn empty_epochs_are_attested_in_vote_extensions_and_recorded_for_l1() {
    let mut net = net(4);
    let genesis_root = state(&net).root;
    assert_eq!(state(&net).set, genesis_set());
    step_until(&mut net, 40, "epochs 0..3 attested", |n| {
        state(n).next_epoch >= 4
    });
    for e in 0..4 {
        let rec = record(&net, e).unwrap_or_else(|| panic!("epoch {e} attested"));
        let a = rec.attestation;
        assert_eq!(
            (a.l1_chain_id, a.rollup, a.l2_chain_id, a.epoch),
            (L1_CHAIN_ID, ROLLUP, CHAIN_ID, e)
        );
        // No block in the epoch: the roots do not move and nothing was aggregated.
        assert_eq!(
            (a.first_pre_root, a.last_post_root),
            (genesis_root, genesis_root)
        );
        assert_eq!(a.epoch_commitment, B256::ZERO);
        // Nobody joined or left: the same set signs the next epoch.
        assert_eq!(rec.set, genesis_set());
        assert_eq!(
            a.next_validator_set_hash,
            validator_set_hash(&genesis_set()).expect("valid")
        );
        // Each signature recovers to the set member at its index; more than 2/3 signed.
        let d = epoch_digest(&a);
        let mut last = None;
        for (i, sig) in &rec.signatures {
            assert!(last < Some(*i), "indices ascend");
            last = Some(*i);
            assert_eq!(bridge::recover(&d, sig), Some(rec.set[usize::from(*i)].0));
        }
        assert!(
            rec.signatures.len() >= 3,
            "{} signatures",
            rec.signatures.len()
        );
        // The epoch was attested after it closed (slot 4e + 4), in order.
        assert!(
            rec.height > EPOCH_SLOTS * (e + 1),
            "epoch {e} at {}",
            rec.height
        );
        if e > 0 {
            assert!(rec.height > record(&net, e - 1).expect("attested").height);
        }
    }
    // With the bridge, seed-epoch boundaries move no power.
    assert!(net.last_updates.is_empty());
}

/// Height `h`'s proposal from node 0 with the attestation it would carry replaced by `a`
/// (inserted after any seed reveals).
fn proposal_with(net: &Net, a: Option<&Attest>) -> Vec<Bytes> {
    let h = net.height + 1;
    let proposer = &net.nodes[(h as usize) % net.nodes.len()];
    let mut txs = proposer
        .app
        .prepare_proposal(h, net.time(h), &[], 4 << 20, &net.last_commit())
        .expect("prepare");
    txs.retain(|t| !matches!(Message::decode(t), Ok(Message::Attest(_))));
    if let Some(a) = a {
        let at = usize::from(matches!(
            txs.first().map(|t| Message::decode(t)),
            Some(Ok(Message::Seed(_)))
        ));
        txs.insert(at, Bytes::from(Message::Attest(a.clone()).encode()));
    }
    txs
}

fn verdict(net: &Net, txs: &[Bytes]) -> Verdict {
    let h = net.height + 1;
    net.nodes[0]
        .app
        .process_proposal(
            h,
            net.time(h),
            B256::with_last_byte(h as u8),
            txs,
            &net.commit_info(),
        )
        .expect("process")
}

#[test]
fn attestations_below_two_thirds_forged_or_for_another_epoch_are_refused() {
    let mut net = net(4);
    step_until(&mut net, 20, "a pending digest", |n| {
        state(n).pending.is_some()
    });
    let st = state(&net);
    let p = st.pending.clone().expect("pending");
    let d = epoch_digest(&p.attestation);
    let e = p.attestation.epoch;
    let index_of = |i: u8| {
        st.set
            .iter()
            .position(|(a, _)| *a == bridge_key(i).address())
            .expect("in the set") as u16
    };
    let sig = |i: u8| bridge::sign(&bridge_key(i), &d).expect("signs");
    let signed_by = |who: &[u8]| {
        let mut s: Vec<(u16, [u8; 65])> = who.iter().map(|i| (index_of(*i), sig(*i))).collect();
        s.sort_by_key(|(i, _)| *i);
        Attest {
            epoch: e,
            signatures: s,
        }
    };
    // Three of four (30 of 40 power) is more than two thirds: accepted.
    let three = signed_by(&[0, 1, 2]);
    assert_eq!(
        verdict(&net, &proposal_with(&net, Some(&three))),
        Verdict::Accept
    );
    // Two of four is not.
    let two = signed_by(&[0, 1]);
    assert!(matches!(
        verdict(&net, &proposal_with(&net, Some(&two))),
        Verdict::Reject(_)
    ));
    // A signature by a key outside the set, at a member's index.
    let mut forged = three.clone();
    forged.signatures[0].1 = bridge::sign(&bridge_key(9), &d).expect("signs");
    assert!(matches!(
        verdict(&net, &proposal_with(&net, Some(&forged))),
        Verdict::Reject(_)
    ));
    // A member counted twice.
    let mut twice = three.clone();
    twice.signatures[1] = twice.signatures[0];
    assert!(matches!(
        verdict(&net, &proposal_with(&net, Some(&twice))),
        Verdict::Reject(_)
    ));
    // Valid signatures of another epoch's digest, or claimed for another epoch.
    let mut other = p.attestation;
    other.epoch += 1;
    let od = epoch_digest(&other);
    let stale = Attest {
        epoch: e,
        signatures: three
            .signatures
            .iter()
            .map(|(i, _)| {
                let k = (0..4u8).find(|k| index_of(*k) == *i).expect("a member");
                (*i, bridge::sign(&bridge_key(k), &od).expect("signs"))
            })
            .collect(),
    };
    assert!(matches!(
        verdict(&net, &proposal_with(&net, Some(&stale))),
        Verdict::Reject(_)
    ));
    let renamed = Attest {
        epoch: e + 1,
        ..three.clone()
    };
    assert!(matches!(
        verdict(&net, &proposal_with(&net, Some(&renamed))),
        Verdict::Reject(_)
    ));
    // Nothing was recorded by checking: the epoch is still pending.
    assert_eq!(state(&net).pending, Some(p));
    assert!(record(&net, e).is_none());
}

#[test]
fn a_bridge_vote_must_be_the_senders_key_over_the_pending_digest() {
    let mut net = net(4);
    step_until(&mut net, 20, "a pending digest", |n| {
        state(n).pending.is_some()
    });
    let p = state(&net).pending.expect("pending");
    let d = epoch_digest(&p.attestation);
    let h = net.height + 1;
    let app = net.nodes[1].app.clone();
    let me = signer_address(&consensus(0));
    let own = net.nodes[0].app.extend_vote(h).expect("extend");
    let parts = bridge::split(&own);
    let seed_part = parts.seed;
    let tail = parts
        .epoch
        .expect("a validator in the set signs the pending digest");
    let vote = BridgeVote::decode(tail).expect("decodes");
    assert_eq!(vote.epoch, p.attestation.epoch);
    assert_eq!(
        bridge::recover(&d, &vote.signature),
        Some(bridge_key(0).address())
    );
    assert_eq!(app.verify_vote_extension(h, me, &own).expect("ok"), Ok(()));
    let with_tail = |v: BridgeVote| [seed_part, &v.encode()].concat();
    let check = |ext: &[u8]| {
        app.verify_vote_extension(h, me, ext)
            .expect("no fatal error")
    };
    // Validator 1's signature in validator 0's extension.
    let theirs = BridgeVote {
        signature: bridge::sign(&bridge_key(1), &d).expect("signs"),
        ..vote
    };
    assert!(matches!(
        check(&with_tail(theirs)),
        Err(SeedError::Bridge(BridgeError::WrongKey { .. }))
    ));
    // A key outside the set.
    let outsider = BridgeVote {
        signature: bridge::sign(&bridge_key(9), &d).expect("signs"),
        ..vote
    };
    assert!(matches!(
        check(&with_tail(outsider)),
        Err(SeedError::Bridge(BridgeError::NotInSet(_)))
    ));
    // Another epoch.
    let later = BridgeVote {
        epoch: vote.epoch + 1,
        ..vote
    };
    assert!(matches!(
        check(&with_tail(later)),
        Err(SeedError::Bridge(BridgeError::Epoch { .. }))
    ));
    // Garbage where the vote goes.
    let mut garbage = own.clone();
    let n = garbage.len();
    garbage[n - bridge::VOTE_BYTES] = 0;
    assert!(matches!(
        check(&garbage),
        Err(SeedError::Bridge(BridgeError::Malformed))
    ));
    // Leaving the vote out is allowed (the power simply does not count).
    assert_eq!(check(seed_part), Ok(()));
}

#[test]
fn the_validator_set_changes_only_with_an_attestation() {
    let mut net = net(5);
    let keys = net.keys.clone();
    // Validator 4 bonds (10 power); validator 3 leaves. Both land while epoch 0 collects.
    let join = Action::BondValidator {
        amount: eth(10),
        consensus_key: public(&consensus(4)).0,
        bridge_key: bridge_key(4).address(),
    };
    net.submit(msg::sign(&keys[4], CHAIN_ID, 0, &join).into())
        .expect("bond accepted");
    net.submit(msg::sign(&keys[3], CHAIN_ID, 0, &Action::Unbond(Role::Validator)).into())
        .expect("unbond accepted");
    net.step();
    let mut changes = Vec::new();
    // Follow the chain until both changes took effect; note at which heights they did.
    for _ in 0..80 {
        net.step();
        if !net.last_updates.is_empty() {
            let st = state(&net);
            let rec = record(&net, st.next_epoch - 1).expect("the epoch before is attested");
            assert_eq!(
                rec.height, net.height,
                "validator updates at height {} without an attestation in it",
                net.height
            );
            changes.push((net.height, net.last_updates.clone(), rec, st.set.clone()));
        }
        let gone = state(&net)
            .set
            .iter()
            .all(|(a, _)| *a != bridge_key(3).address());
        if gone && changes.len() >= 2 {
            break;
        }
    }
    assert!(changes.len() >= 2, "changes: {}", changes.len());
    // The whole change (+10 and −10 of 40) is more than a third of the power, so it spreads
    // over attestations, each moving at most a third of the power before it.
    let mut joined_at = None;
    let mut left_at = None;
    for (h, updates, rec, set_after) in &changes {
        // The attested next-set hash is the set that now signs.
        assert_eq!(
            rec.attestation.next_validator_set_hash,
            validator_set_hash(set_after).expect("valid"),
            "height {h}"
        );
        let power = |set: &[(Address, u64)], a: Address| {
            set.iter().find(|(k, _)| *k == a).map_or(0, |(_, p)| *p)
        };
        let before: u64 = rec.set.iter().map(|(_, p)| *p).sum();
        let moved: u64 = (0..5u8)
            .map(|i| {
                let a = bridge_key(i).address();
                power(&rec.set, a).abs_diff(power(set_after, a))
            })
            .sum();
        assert!(
            3 * moved <= before,
            "height {h}: {moved} of {before} power moved: {updates:?}"
        );
        // CometBFT is told exactly the changes between the two sets.
        for u in updates {
            let i = (0..5u8)
                .find(|i| public(&consensus(*i)).0 == u.consensus_key)
                .expect("a known validator");
            assert_eq!(
                u.power,
                power(set_after, bridge_key(i).address()),
                "height {h}"
            );
        }
        if joined_at.is_none() && power(set_after, bridge_key(4).address()) == 10 {
            joined_at = Some(rec.attestation.epoch);
        }
        if left_at.is_none() && power(set_after, bridge_key(3).address()) == 0 {
            left_at = Some(rec.attestation.epoch);
        }
    }
    let (joined, left) = (joined_at.expect("joined"), left_at.expect("left"));
    // The joiner signs the epoch after the attestation that added it; the leaver signs the
    // epochs up to the attestation that removed it, and none after.
    step_until(&mut net, 40, "the epoch after both changes attested", |n| {
        state(n).next_epoch > joined.max(left) + 1
    });
    let signers = |e: u64| -> Vec<Address> {
        let rec = record(&net, e).expect("attested");
        rec.signatures
            .iter()
            .map(|(i, _)| rec.set[usize::from(*i)].0)
            .collect()
    };
    let in_set = |e: u64, i: u8| {
        record(&net, e)
            .expect("attested")
            .set
            .iter()
            .any(|(a, _)| *a == bridge_key(i).address())
    };
    assert!(!in_set(joined, 4) && in_set(joined + 1, 4));
    assert!(signers(joined + 1).contains(&bridge_key(4).address()));
    assert!(in_set(left, 3) && !in_set(left + 1, 3));
    assert!(!signers(left + 1).contains(&bridge_key(3).address()));
    // The leaver's bond is unbonding, no longer a registry entry.
    let r = net.reader();
    assert!(
        r.app_entry(&StateKey::Validator(keys[3].address()))
            .expect("read")
            .is_none()
    );
}

#[test]
fn a_withdrawal_is_recorded_in_its_epoch_and_its_value_burned() {
    let mut net = net(4);
    let user = net.keys[5].clone();
    let w = parley_app::chain::predeploys::WITHDRAWALS;
    let to_l1 = Address::repeat_byte(0x11);
    let withdraw = |to: Address| {
        let mut data = alloy_primitives::keccak256("withdraw(address)")[..4].to_vec();
        data.extend_from_slice(B256::left_padding_from(to.as_slice()).as_slice());
        data
    };
    net.step();
    let before = net.balance(user.address());
    let amount = 3 * ETH / 2;
    // A withdrawal, then two the contract refuses: no value, and no L1 recipient.
    let ok = net
        .submit(call(&user, 0, w, amount as u64, withdraw(to_l1)))
        .expect("accepted");
    let no_value = net
        .submit(call(&user, 1, w, 0, withdraw(to_l1)))
        .expect("accepted");
    let no_recipient = net
        .submit(call(&user, 2, w, 1, withdraw(Address::ZERO)))
        .expect("accepted");
    net.step();
    let h = net.height;
    let r = net.receipt(ok).expect("executed");
    assert!(r.success);
    assert!(!net.receipt(no_value).expect("executed").success);
    assert!(!net.receipt(no_recipient).expect("executed").success);
    // Recorded as the first withdrawal of the block's epoch, with the contract's balance burned.
    let e = (h - 1) / EPOCH_SLOTS;
    let reader = net.reader();
    let recorded = bridge::withdrawals(&mut parley_app::chain::overlay::Overlay::new(&reader), e)
        .expect("read");
    assert_eq!(
        recorded,
        vec![parley_types::bridge::WithdrawalEntry {
            sender: user.address(),
            withdrawal: parley_types::bridge::Withdrawal {
                l1_recipient: to_l1,
                amount: U256::from(amount),
            },
            block: h,
        }]
    );
    assert_eq!(
        net.balance(w),
        U256::ZERO,
        "the withdrawn value is burned on L2"
    );
    // The user paid the amount and the gas of the three transactions, nothing else.
    let fees: U256 = [ok, no_value, no_recipient]
        .iter()
        .map(|t| {
            let r = net.receipt(*t).expect("executed");
            U256::from(r.gas_used) * U256::from(r.effective_gas_price)
        })
        .sum();
    assert_eq!(
        net.balance(user.address()),
        before - U256::from(amount) - fees
    );
    // A second withdrawal in the same epoch is the next leaf; the epoch's root is the keccak
    // tree of both, in execution order.
    net.submit(call(&user, 3, w, 7, withdraw(user.address())))
        .expect("accepted");
    net.step();
    assert_eq!((net.height - 1) / EPOCH_SLOTS, e, "still epoch {e}");
    {
        let all = bridge::withdrawals(
            &mut parley_app::chain::overlay::Overlay::new(&net.reader()),
            e,
        )
        .expect("read");
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].withdrawal.amount, U256::from(7u64));
        let ws: Vec<_> = all.iter().map(|x| x.withdrawal).collect();
        let root = parley_types::bridge::withdrawal_root(CHAIN_ID, e, &ws);
        let tree = parley_types::bridge::WithdrawalTree::new(CHAIN_ID, e, &ws);
        assert_eq!(tree.root(), root);
        for (i, x) in ws.iter().enumerate() {
            let leaf = parley_types::bridge::withdrawal_leaf(CHAIN_ID, e, i as u64, x);
            let path = tree.path(i).expect("in range");
            assert_eq!(
                parley_types::bridge::root_from_withdrawal_path(leaf, i as u64, &path),
                root
            );
        }
    }
}

#[test]
fn a_bridge_genesis_needs_the_withdrawal_contract() {
    let with = |predeploys: bool| {
        let mut g = genesis();
        if !predeploys {
            g.accounts
                .retain(|a| a.address != parley_app::chain::predeploys::WITHDRAWALS);
        }
        g.validate().map_err(|e| e.to_string())
    };
    assert_eq!(with(true), Ok(()));
    let err = with(false).expect_err("no withdrawal contract");
    assert!(err.contains("L2 withdrawals"), "{err}");
}

#[test]
fn a_bridge_key_is_nonzero_and_registered_once() {
    let mut net = net(4);
    let keys = net.keys.clone();
    let bond = |key: Address, consensus_seed: u8| Action::BondValidator {
        amount: eth(10),
        consensus_key: public(&consensus(consensus_seed)).0,
        bridge_key: key,
    };
    // Validator 0's bridge key again, and the zero address: refused at admission, with the
    // reason (a fresh key is taken: the_validator_set_changes_only_with_an_attestation).
    let taken = net
        .submit(msg::sign(&keys[4], CHAIN_ID, 0, &bond(bridge_key(0).address(), 4)).into())
        .expect_err("a bridge key registered twice");
    assert!(
        taken.contains("bridge key is registered by validator"),
        "{taken}"
    );
    let zero = net
        .submit(msg::sign(&keys[5], CHAIN_ID, 0, &bond(Address::ZERO, 5)).into())
        .expect_err("the zero bridge key");
    assert!(zero.contains("zero address"), "{zero}");
    // The same messages forced into a block (as a byzantine proposer could) are refused at
    // their turn with their codes.
    net.height += 1;
    let h = net.height;
    let mut txs = net.nodes[h as usize % 4]
        .app
        .prepare_proposal(h, net.time(h), &[], 4 << 20, &net.last_commit())
        .expect("prepare");
    let block = txs.pop().expect("the L2 block");
    txs.push(msg::sign(&keys[4], CHAIN_ID, 0, &bond(bridge_key(0).address(), 4)).into());
    txs.push(msg::sign(&keys[5], CHAIN_ID, 0, &bond(Address::ZERO, 5)).into());
    txs.push(block);
    net.decide(txs);
    let codes: Vec<u32> = net.last_results.iter().map(|(c, _)| *c).collect();
    assert_eq!(
        codes[codes.len() - 3..],
        [84, 86, 0],
        "{:?}",
        net.last_results
    );
    for k in [&keys[4], &keys[5]] {
        assert!(
            net.reader()
                .app_entry(&StateKey::Validator(k.address()))
                .expect("read")
                .is_none()
        );
    }
}

// ---- the L1 queue: deposits and forced transactions (docs/bridge.md "L1 → L2") ----------

const R1: Address = Address::repeat_byte(0xd1);
const R2: Address = Address::repeat_byte(0xd2);
const L1_SENDER: Address = Address::repeat_byte(0x1a);

fn deposit(index: u64, to: Address, amount: U256) -> QueueEntry {
    QueueEntry::Deposit {
        index,
        sender: L1_SENDER,
        l2_recipient: to,
        amount,
    }
}

fn forced(index: u64, raw: &[u8]) -> QueueEntry {
    QueueEntry::Forced {
        index,
        sender: L1_SENDER,
        raw_tx: raw.to_vec(),
    }
}

/// The rolling hash after `entries` (from the empty queue).
fn rolling(entries: &[QueueEntry]) -> B256 {
    entries.iter().fold(B256::ZERO, |r, e| roll(r, e.hash()))
}

/// Nodes `who` see `entries` (the queue from its start) final at L1 block `l1_block`, as
/// their watchers would after reading the contract's events.
fn see(net: &Net, who: &[usize], entries: &[QueueEntry], l1_block: u64) {
    for i in who {
        let view = net.nodes[*i].app.l1_view();
        let mut v = view.write().expect("lock");
        for (k, e) in entries.iter().enumerate().skip(v.len() as usize) {
            v.push(e.clone(), rolling(&entries[..=k]))
                .expect("in order");
        }
        v.set_l1_block(l1_block);
    }
}

fn queue(net: &Net) -> QueueState {
    net.reader()
        .app_entry(&StateKey::L1Queue)
        .expect("read")
        .map(|b| QueueState::decode(&b).expect("decodes"))
        .unwrap_or_default()
}

/// The next height's proposal (its proposer's, from the last commit).
fn next_proposal(net: &Net) -> Vec<Bytes> {
    let h = net.height + 1;
    net.nodes[(h as usize) % net.nodes.len()]
        .app
        .prepare_proposal(h, net.time(h), &net.mempool, 4 << 20, &net.last_commit())
        .expect("prepare")
}

fn batch_of(txs: &[Bytes]) -> Option<(usize, QueueBatch)> {
    txs.iter()
        .enumerate()
        .find_map(|(i, t)| match Message::decode(t) {
            Ok(Message::L1Queue(b)) => Some((i, b)),
            _ => None,
        })
}

#[test]
fn deposits_and_a_forced_transaction_from_l1_execute_once_more_than_two_thirds_have_seen_them() {
    let mut net = net(4);
    let keys = parley_app::dev_accounts(6).expect("dev keys");
    // A transaction nobody sends to L2's mempool: it reaches L2 only through L1.
    let raw = parley_app::devtx::transfer(&keys[5], CHAIN_ID, 0, R2, U256::from(7u64));
    let tx_hash = alloy_primitives::keccak256(&raw);
    let entries = vec![
        deposit(0, R1, eth(3)),
        forced(1, &raw),
        deposit(2, R2, U256::from(1u64)),
        // Garbage posted to L1: consumed (L1 cannot judge it) and dropped.
        forced(3, b"not a transaction"),
    ];
    net.step();
    // Two of four validators (20 of 40 power) have seen them: not enough.
    see(&net, &[0, 1], &entries, 10);
    for _ in 0..4 {
        net.step();
        assert_eq!(batch_of(&next_proposal(&net)).map(|(_, b)| b.first), None);
    }
    assert_eq!(queue(&net).consumed.count, 0);
    assert_eq!(net.balance(R1), U256::ZERO);
    // A third one sees them: the next proposals carry them and the chain consumes them.
    see(&net, &[2], &entries, 11);
    step_until(&mut net, 6, "the queue consumed", |n| {
        queue(n).consumed.count == 4
    });
    let q = queue(&net);
    assert_eq!(q.consumed.rolling, rolling(&entries));
    assert_eq!(net.balance(R1), eth(3));
    // The forced transfer ran (7 wei) after the second deposit (1 wei) was credited.
    assert_eq!(net.balance(R2), U256::from(8u64));
    let receipt = net
        .receipt(tx_hash)
        .expect("the forced transaction executed");
    assert!(receipt.success);
    // The epoch of the block that consumed them keeps the queue position for its digest.
    let h = net.height;
    let e = (h - 1) / EPOCH_SLOTS;
    let marks: Vec<QueuePosition> = (0..=e)
        .filter_map(|e| {
            net.reader()
                .app_entry(&StateKey::QueueMark(e))
                .expect("read")
                .map(|b| QueuePosition::decode(&b).expect("decodes"))
        })
        .collect();
    assert_eq!(marks.last(), Some(&q.consumed));
    // Nothing is consumed twice: later heights leave the queue and balances alone.
    for _ in 0..3 {
        net.step();
    }
    assert_eq!(queue(&net), q);
    assert_eq!(net.balance(R1), eth(3));
}

#[test]
fn queue_batches_that_invent_change_skip_or_lack_votes_are_refused() {
    let mut net = net(4);
    let entries = vec![deposit(0, R1, eth(1)), deposit(1, R2, eth(2))];
    see(&net, &[0, 1, 2, 3], &entries, 5);
    // The votes are made in this height's precommits; the next proposal carries them.
    net.step();
    let txs = next_proposal(&net);
    let (at, batch) = batch_of(&txs).expect("a batch");
    assert_eq!((batch.first, batch.entries.as_slice()), (0, &entries[..]));
    assert_eq!(verdict(&net, &txs), Verdict::Accept);
    let with = |b: QueueBatch| {
        let mut t = txs.clone();
        t[at] = Bytes::from(Message::L1Queue(b).encode());
        t
    };
    let refused = |b: QueueBatch, what: &str| {
        assert!(
            matches!(verdict(&net, &with(b)), Verdict::Reject(_)),
            "accepted: {what}"
        );
    };
    // A changed amount: the rolling hash moves and no signature matches.
    let mut b = batch.clone();
    b.entries[1] = deposit(1, R2, eth(200));
    refused(b, "a changed deposit");
    // Another recipient.
    let mut b = batch.clone();
    b.entries[0] = deposit(0, Address::repeat_byte(0xee), eth(1));
    refused(b, "a changed recipient");
    // Entries in another order.
    let mut b = batch.clone();
    b.entries.swap(0, 1);
    refused(b, "reordered entries");
    // Skipping the first entry.
    let b = QueueBatch {
        first: 1,
        entries: vec![deposit(1, R2, eth(2))],
        ..batch.clone()
    };
    refused(b, "a skipped entry");
    // An invented entry past what anyone signed.
    let mut b = batch.clone();
    b.entries.push(deposit(2, R1, eth(50)));
    refused(b, "an invented entry");
    // Two votes of four.
    let mut b = batch.clone();
    b.votes.truncate(2);
    refused(b, "two of four votes");
    // A vote counted twice, or moved to another member's index.
    let mut b = batch.clone();
    b.votes[1] = b.votes[0];
    refused(b, "a vote counted twice");
    let mut b = batch.clone();
    b.votes[0].index = (b.votes[0].index + 1) % 4;
    b.votes.sort_by_key(|v| v.index);
    refused(b, "a vote at another member's index");
    // Still nothing consumed by checking; the honest batch goes through.
    assert_eq!(queue(&net).consumed.count, 0);
    net.height += 1;
    net.decide(txs);
    assert_eq!(queue(&net).consumed.count, 2);
    assert_eq!(net.balance(R2), eth(2));
}

#[test]
fn a_queue_vote_must_be_the_senders_key_within_one_batch() {
    let mut net = net(4);
    let entries: Vec<QueueEntry> = (0..40).map(|i| deposit(i, R1, U256::from(1u64))).collect();
    see(&net, &[0], &entries, 3);
    net.step();
    let h = net.height + 1;
    let own = net.nodes[0].app.extend_vote(h).expect("extend");
    let parts = bridge::split(&own);
    let vote = QueueVote::decode(parts.queue.expect("a queue vote")).expect("decodes");
    // One batch: 32 entries of the 40 seen.
    assert_eq!(vote.seen.count, 32);
    assert_eq!(vote.seen.rolling, rolling(&entries[..32]));
    let me = signer_address(&consensus(0));
    let app = net.nodes[1].app.clone();
    assert_eq!(app.verify_vote_extension(h, me, &own).expect("ok"), Ok(()));
    let head = [parts.seed, parts.epoch.unwrap_or_default()].concat();
    let signed = |count: u64, key: u8| {
        let mut v = QueueVote {
            seen: L1Observation {
                count,
                l1_block: 3,
                rolling: rolling(&entries[..count.min(40) as usize]),
                finalized_epochs: 0,
            },
            signature: [0; 65],
        };
        let d = queue_digest(L1_CHAIN_ID, &ROLLUP, CHAIN_ID, &v.seen);
        v.signature = bridge::sign(&bridge_key(key), &d).expect("signs");
        [head.as_slice(), &v.encode()].concat()
    };
    let check = |ext: &[u8]| {
        app.verify_vote_extension(h, me, ext)
            .expect("no fatal error")
    };
    assert_eq!(check(&signed(5, 0)), Ok(()));
    // Past one batch.
    assert!(matches!(
        check(&signed(33, 0)),
        Err(SeedError::Bridge(BridgeError::QueueCount {
            consumed: 0,
            got: 33
        }))
    ));
    // A vote at the consumed count (it may carry only L1 finality) is well formed.
    assert_eq!(check(&signed(0, 0)), Ok(()));
    // Another member's key in validator 0's extension; a key outside the set.
    assert!(matches!(
        check(&signed(5, 1)),
        Err(SeedError::Bridge(BridgeError::WrongKey { .. }))
    ));
    assert!(matches!(
        check(&signed(5, 9)),
        Err(SeedError::Bridge(BridgeError::NotInSet(_)))
    ));
    // A view that disagrees with the chain, or that its watcher flagged, does not vote.
    net.nodes[0]
        .app
        .l1_view()
        .write()
        .expect("lock")
        .set_error("rolling hash mismatch".into());
    let own = net.nodes[0].app.extend_vote(h).expect("extend");
    assert_eq!(bridge::split(&own).queue, None);
}

#[test]
fn an_epoch_that_consumed_entries_attests_the_queue_position() {
    let mut net = net(4);
    // Forced transactions L2 refuses change no state: the epoch stays empty (no proof
    // needed), and its digest still carries where the queue stands.
    let entries = vec![forced(0, b"garbage one"), forced(1, b"garbage two")];
    net.step();
    see(&net, &[0, 1, 2, 3], &entries, 7);
    step_until(&mut net, 4, "the queue consumed", |n| {
        queue(n).consumed.count == 2
    });
    let consumed_at = net.height;
    let e = (consumed_at - 1) / EPOCH_SLOTS;
    step_until(&mut net, 40, "the epoch attested", |n| {
        record(n, e).is_some()
    });
    // Epoch e ends after the block that consumed both; any earlier epoch ends at a prefix.
    let a = record(&net, e).expect("attested").attestation;
    assert_eq!(
        (a.l1_queue_count, a.l1_queue_rolling_hash),
        (2, rolling(&entries))
    );
    for k in 0..e {
        let a = record(&net, k).expect("attested").attestation;
        assert!(a.l1_queue_count <= 2, "epoch {k}");
        assert_eq!(
            a.l1_queue_rolling_hash,
            rolling(&entries[..a.l1_queue_count as usize]),
            "epoch {k}"
        );
    }
    // The next epoch consumed nothing: it carries the same position.
    step_until(&mut net, 20, "the next epoch attested", |n| {
        record(n, e + 1).is_some()
    });
    let next = record(&net, e + 1).expect("attested").attestation;
    assert_eq!(
        (next.l1_queue_count, next.l1_queue_rolling_hash),
        (2, rolling(&entries))
    );
    assert_eq!(queue(&net).attested.count, 2);
    // Attested epochs' marks are gone.
    assert!(
        net.reader()
            .app_entry(&StateKey::QueueMark(e))
            .expect("read")
            .is_none()
    );
}

/// Nodes `who` see `n` epochs finalized by the Rollup on L1.
fn l1_finalized(net: &Net, who: &[usize], n: u64) {
    for i in who {
        net.nodes[*i]
            .app
            .l1_view()
            .write()
            .expect("lock")
            .set_finalized_epochs(n);
    }
}

#[test]
fn a_leaving_validators_bond_waits_for_l1_to_finalize_the_last_epoch_it_signed() {
    let mut net = net(4);
    let keys = net.keys.clone();
    let leaver = keys[3].address();
    net.submit(msg::sign(&keys[3], CHAIN_ID, 0, &Action::Unbond(Role::Validator)).into())
        .expect("unbond accepted");
    step_until(&mut net, 60, "validator 3 removed", |n| {
        n.reader()
            .app_entry(&StateKey::Validator(leaver))
            .expect("read")
            .is_none()
    });
    // It left with the attestation of epoch `e`, the last one it signed.
    let e = state(&net).next_epoch - 1;
    let rec = record(&net, e).expect("attested");
    assert!(rec.set.iter().any(|(a, _)| *a == bridge_key(3).address()));
    assert!(
        !state(&net)
            .set
            .iter()
            .any(|(a, _)| *a == bridge_key(3).address())
    );
    let held = StateKey::HeldBond {
        epoch: e,
        owner: leaver,
    };
    let unbonding = |net: &Net| {
        net.reader()
            .app_entries(StateKey::unbonding_due(u64::MAX))
            .expect("read")
            .into_iter()
            .filter(|(k, _)| matches!(k, StateKey::Unbonding { owner, .. } if *owner == leaver))
            .count()
    };
    assert!(net.reader().app_entry(&held).expect("read").is_some());
    assert_eq!(unbonding(&net), 0, "no unbonding before L1 finality");
    // L1 finalized the epochs before `e` only: still held.
    l1_finalized(&net, &[0, 1, 2], e);
    for _ in 0..4 {
        net.step();
    }
    assert_eq!(queue(&net).l1_finalized, e);
    assert!(net.reader().app_entry(&held).expect("read").is_some());
    // Two of the three remaining validators (20 of 30) see `e` finalized: not enough.
    l1_finalized(&net, &[0, 1], e + 1);
    for _ in 0..4 {
        net.step();
    }
    assert_eq!(queue(&net).l1_finalized, e);
    assert!(net.reader().app_entry(&held).expect("read").is_some());
    // All three: recorded, and the bond starts unbonding.
    l1_finalized(&net, &[2], e + 1);
    step_until(&mut net, 6, "L1 finality recorded", |n| {
        queue(n).l1_finalized == e + 1
    });
    assert!(net.reader().app_entry(&held).expect("read").is_none());
    assert_eq!(
        unbonding(&net),
        1,
        "the bond unbonds once L1 finalized epoch {e}"
    );
}
