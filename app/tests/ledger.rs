//! The protocol ledger and registries on the in-process harness (DESIGN §3 "Registries and the
//! protocol ledger", "Money"; §6 validator-set changes): every message kind through CheckTx,
//! PrepareProposal, ProcessProposal, FinalizeBlock and Commit on several nodes, the refusal
//! codes, replays, the unbonding delay, epoch-boundary validator updates, and conservation of
//! value over random message sequences.

mod common;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_signer_local::PrivateKeySigner;
use common::{CHAIN_ID, Net, ledger, pot, total_value};
use parley_app::app::TEST_CHAIN_ID;
use parley_app::chain::genesis::{
    AppGenesis, GenesisBond, GenesisLedger, GenesisValidator, Params, ProtocolParams,
};
use parley_app::chain::ledger::ValidatorUpdate;
use parley_app::chain::msg::{self, Action};
use parley_app::chain::rules::Verdict;
use parley_app::devtx;
use parley_types::{
    LedgerAccount, ProverEntry, Role, SequencerEntry, StateKey, ValidatorEntry, decode_amount,
};
use proptest::prelude::*;

const ETH: u128 = 1_000_000_000_000_000_000;
const FEE: u64 = 10_000_000_000_000;

fn eth(n: u128) -> U256 {
    U256::from(n * ETH)
}

fn protocol() -> ProtocolParams {
    ProtocolParams {
        message_fee: U256::from(FEE),
        epoch_heights: 4,
        unbonding_delay: 20,
        max_messages_per_kind: 8,
        ..ProtocolParams::default()
    }
}

fn params() -> Params {
    Params {
        chain_id: CHAIN_ID,
        protocol: protocol(),
        ..Params::default()
    }
}

/// Four genesis validators of 10 ETH (power 10 each) run by keys 0..4 of a separate set.
fn genesis_validators() -> Vec<GenesisValidator> {
    (1..=4u8)
        .map(|i| GenesisValidator {
            operator: Address::repeat_byte(0xa0 + i),
            consensus_key: B256::repeat_byte(i),
            bridge_key: Address::repeat_byte(0xb0 + i),
            bond: eth(10),
        })
        .collect()
}

fn net_with(n: usize, validators: Vec<GenesisValidator>) -> Net {
    let keys = parley_app::dev_accounts(5).expect("dev keys");
    let mut g = AppGenesis::funded(params(), keys.iter().map(|k| k.address()), eth(1_000));
    g.validators = validators;
    let app_state = serde_json::to_vec(&g).expect("json");
    Net::with_genesis(n, keys, &app_state)
}

fn send(net: &mut Net, key: &PrivateKeySigner, nonce: u64, a: Action) -> Result<B256, String> {
    net.submit(Bytes::from(msg::sign(key, CHAIN_ID, nonce, &a)))
}

fn entry<T>(net: &Net, k: StateKey, decode: fn(&[u8]) -> parley_types::Result<T>) -> Option<T> {
    net.reader()
        .app_entry(&k)
        .expect("read")
        .map(|b| decode(&b).expect("decodes"))
}

/// CheckTx's verdict on a message, as node 0 gives it: Ok, or the refusal code.
fn check(net: &Net, key: &PrivateKeySigner, nonce: u64, a: &Action) -> Result<(), u32> {
    net.nodes[0]
        .app
        .check(&msg::sign(key, CHAIN_ID, nonce, a), false)
        .expect("no fatal error")
        .map(|_| ())
        .map_err(|r| r.code)
}

/// A height whose proposal carries `messages` before the proposer's own block (as a
/// byzantine proposer could): returns the FinalizeBlock codes of the messages.
fn force(net: &mut Net, messages: Vec<Vec<u8>>) -> Vec<u32> {
    net.height += 1;
    let h = net.height;
    let mut txs = net.nodes[0]
        .app
        .prepare_proposal(h, net.time(h), &[], 4 << 20, &net.last_commit())
        .expect("prepare");
    let block = txs.pop().expect("the L2 block");
    txs.extend(messages.into_iter().map(Bytes::from));
    txs.push(block);
    net.decide(txs);
    let codes: Vec<u32> = net.last_results.iter().map(|(c, _)| *c).collect();
    codes[..codes.len() - 1].to_vec()
}

#[test]
fn fund_and_withdraw_move_value_between_the_evm_and_the_ledger() {
    let mut net = net_with(3, vec![]);
    let k = net.keys[0].clone();
    let evm0 = net.balance(k.address());
    send(&mut net, &k, 0, Action::Fund(eth(5))).expect("fund accepted");
    net.step();
    assert_eq!(net.last_results[0], (0, String::new()));
    assert_eq!(net.balance(k.address()), evm0 - eth(5));
    assert_eq!(
        ledger(&net, k.address()),
        LedgerAccount {
            balance: eth(5) - U256::from(FEE),
            nonce: 1
        }
    );
    assert_eq!(pot(&net).proving_pot, U256::from(FEE));

    send(&mut net, &k, 1, Action::Withdraw(eth(2))).expect("withdraw accepted");
    net.step();
    assert_eq!(net.balance(k.address()), evm0 - eth(3));
    assert_eq!(
        ledger(&net, k.address()),
        LedgerAccount {
            balance: eth(3) - U256::from(2 * FEE),
            nonce: 2
        }
    );
    assert_eq!(pot(&net).proving_pot, U256::from(2 * FEE));
    // Neither touched the proof tree's view beyond the one account: the diff of the
    // withdraw block is exactly the sender's EVM account.
    let diff = net.reader().diff(net.height).expect("read").expect("diff");
    assert_eq!(
        diff.0.iter().map(|e| e.key).collect::<Vec<_>>(),
        vec![StateKey::Account(k.address())]
    );
}

#[test]
fn a_refused_message_changes_nothing_and_replays_are_refused() {
    let mut net = net_with(2, vec![]);
    let k = net.keys[1].clone();
    send(&mut net, &k, 0, Action::Fund(eth(1))).expect("fund");
    net.step();
    let before = (
        ledger(&net, k.address()),
        net.balance(k.address()),
        pot(&net),
    );

    // CheckTx: replay (nonce too low) 40, too far ahead 41, more than the ledger holds 42,
    // more than the EVM holds 43, another chain 33.
    assert_eq!(check(&net, &k, 0, &Action::Fund(eth(1))), Err(40));
    assert_eq!(check(&net, &k, 1 + 16, &Action::Heartbeat), Err(41));
    assert_eq!(check(&net, &k, 1, &Action::Withdraw(eth(2))), Err(42));
    assert_eq!(check(&net, &k, 1, &Action::Fund(eth(10_000))), Err(43));
    let other_chain = msg::sign(
        &k,
        CHAIN_ID + 1,
        1,
        &Action::Withdraw(eth(1) / U256::from(2)),
    );
    assert_eq!(
        net.nodes[0]
            .app
            .check(&other_chain, false)
            .expect("no fatal error")
            .map_err(|r| r.code),
        Err(33)
    );
    // A later nonce waits in the mempool (accepted), the next one is checked against state.
    assert_eq!(check(&net, &k, 2, &Action::Heartbeat), Ok(()));

    // A byzantine proposer includes the replay and the overdraft anyway: refused at their
    // turn with the same codes, and nothing moves (not even the fee or the nonce).
    let replay = msg::sign(&k, CHAIN_ID, 0, &Action::Fund(eth(1)));
    let overdraft = msg::sign(&k, CHAIN_ID, 1, &Action::Withdraw(eth(2)));
    let hashes = [keccak256(&replay), keccak256(&overdraft)];
    assert_eq!(force(&mut net, vec![replay, overdraft]), vec![40, 42]);
    // The node's message records (`parley_getMessage`) say the same, with the height.
    for (hash, code) in hashes.iter().zip([40, 42]) {
        let r = net
            .reader()
            .message(hash)
            .expect("reads")
            .expect("recorded");
        assert_eq!((r.height, r.code), (net.height, code));
        assert!(!r.log.is_empty(), "a refusal says why");
    }
    assert_eq!(
        (
            ledger(&net, k.address()),
            net.balance(k.address()),
            pot(&net)
        ),
        before
    );
    // The sender's next message still works with nonce 1.
    let hash = send(&mut net, &k, 1, Action::Withdraw(eth(1) / U256::from(2))).expect("withdraw");
    assert_eq!(
        net.reader().message(&hash).expect("reads"),
        None,
        "not before a block carries it"
    );
    net.step();
    assert_eq!(net.last_results[0].0, 0);
    assert_eq!(ledger(&net, k.address()).nonce, 2);
    let r = net
        .reader()
        .message(&hash)
        .expect("reads")
        .expect("recorded");
    assert_eq!((r.height, r.code, r.log.as_str()), (net.height, 0, ""));
}

#[test]
fn roles_register_top_up_heartbeat_and_unbond_after_the_delay() {
    let mut net = net_with(2, vec![]);
    let k = net.keys[2].clone();
    let a = k.address();
    let mut nonce = 0;
    let go = |net: &mut Net, nonce: &mut u64, act: Action| {
        send(net, &k, *nonce, act).expect("accepted");
        *nonce += 1;
        net.step();
        assert_eq!(net.last_results[0], (0, String::new()));
    };
    go(&mut net, &mut nonce, Action::Fund(eth(10)));
    // Below the minimum bond: refused with 44 at CheckTx.
    assert_eq!(
        check(&net, &k, 1, &Action::BondSequencer(eth(1) - U256::from(1))),
        Err(44)
    );
    go(&mut net, &mut nonce, Action::BondSequencer(eth(1)));
    let h_seq = net.height;
    go(&mut net, &mut nonce, Action::BondSequencer(eth(2)));
    assert_eq!(
        entry(&net, StateKey::Sequencer(a), SequencerEntry::decode),
        Some(SequencerEntry {
            bond: eth(3),
            since: h_seq
        })
    );
    // Heartbeat before registering as a prover: not registered, 45.
    assert_eq!(check(&net, &k, 3, &Action::Heartbeat), Err(45));
    go(&mut net, &mut nonce, Action::StakeProver(eth(2)));
    let staked_at = net.height;
    net.step();
    go(&mut net, &mut nonce, Action::Heartbeat);
    let p = entry(&net, StateKey::Prover(a), ProverEntry::decode).expect("prover");
    assert_eq!(p.stake, eth(2));
    assert_eq!(p.last_heartbeat, net.height);
    assert!(p.last_heartbeat > staked_at);
    // A top-up is signed by the prover too: it counts as a heartbeat.
    net.step();
    go(&mut net, &mut nonce, Action::StakeProver(eth(1)));
    let p = entry(&net, StateKey::Prover(a), ProverEntry::decode).expect("prover");
    assert_eq!((p.stake, p.last_heartbeat), (eth(3), net.height));

    // Unbond the sequencer: the entry goes, the bond waits `unbonding_delay` heights.
    let bal = ledger(&net, a).balance;
    go(&mut net, &mut nonce, Action::Unbond(Role::Sequencer));
    let release = net.height + protocol().unbonding_delay;
    assert_eq!(
        entry(&net, StateKey::Sequencer(a), SequencerEntry::decode),
        None
    );
    let due = StateKey::Unbonding {
        release,
        owner: a,
        role: Role::Sequencer,
    };
    assert_eq!(entry(&net, due, decode_amount), Some(eth(3)));
    assert_eq!(ledger(&net, a).balance, bal - U256::from(FEE));
    // Unbonding twice: not registered any more.
    assert_eq!(
        check(&net, &k, nonce, &Action::Unbond(Role::Sequencer)),
        Err(45)
    );
    while net.height < release - 1 {
        net.step();
        assert_eq!(
            ledger(&net, a).balance,
            bal - U256::from(FEE),
            "released early"
        );
    }
    net.step();
    assert_eq!(net.height, release);
    assert_eq!(ledger(&net, a).balance, bal - U256::from(FEE) + eth(3));
    assert_eq!(entry(&net, due, decode_amount), None);
}

#[test]
fn validators_join_and_leave_only_at_epoch_boundaries_within_a_third() {
    let mut net = net_with(2, genesis_validators());
    let k = net.keys[3].clone();
    let key = [0x77; 32];
    let bond = |amount| Action::BondValidator {
        amount,
        consensus_key: key,
        bridge_key: Address::repeat_byte(0x55),
    };
    send(&mut net, &k, 0, Action::Fund(eth(100))).expect("fund");
    net.step();
    // A consensus key another validator holds: 48.
    assert_eq!(
        check(
            &net,
            &k,
            1,
            &Action::BondValidator {
                amount: eth(30),
                consensus_key: [1; 32],
                bridge_key: Address::repeat_byte(0x55)
            }
        ),
        Err(48)
    );
    send(&mut net, &k, 1, bond(eth(30))).expect("bond");
    net.step();
    // Registered with power 0 until a boundary; nothing returned to CometBFT before it.
    let e = entry(
        &net,
        StateKey::Validator(k.address()),
        ValidatorEntry::decode,
    )
    .expect("entry");
    assert_eq!((e.bond, e.power, e.leaving), (eth(30), 0, false));
    let epoch = protocol().epoch_heights;
    while net.height % epoch != epoch - 1 {
        net.step();
        assert!(
            net.last_updates.is_empty(),
            "update off a boundary at {}",
            net.height
        );
    }
    net.step();
    // Total 40: at most 13 of power may change per epoch.
    assert_eq!(
        net.last_updates,
        vec![ValidatorUpdate {
            consensus_key: key,
            power: 13
        }]
    );
    for _ in 0..epoch {
        net.step();
    }
    // Total 53: budget 17, so the newcomer reaches its 30.
    assert_eq!(
        net.last_updates,
        vec![ValidatorUpdate {
            consensus_key: key,
            power: 30
        }]
    );
    // Keys are fixed at registration.
    assert_eq!(
        check(
            &net,
            &k,
            2,
            &Action::BondValidator {
                amount: eth(1),
                consensus_key: key,
                bridge_key: Address::repeat_byte(0x56)
            }
        ),
        Err(47)
    );

    // Leaving: power to 0 at the next boundaries (30 > a third of 70 = 23: two steps), then
    // the bond is released after the delay.
    send(&mut net, &k, 2, Action::Unbond(Role::Validator)).expect("unbond");
    net.step();
    assert_eq!(check(&net, &k, 3, &bond(eth(1))), Err(46));
    while !net.height.is_multiple_of(epoch) {
        net.step();
    }
    assert_eq!(
        net.last_updates,
        vec![ValidatorUpdate {
            consensus_key: key,
            power: 7
        }]
    );
    for _ in 0..epoch {
        net.step();
    }
    assert_eq!(
        net.last_updates,
        vec![ValidatorUpdate {
            consensus_key: key,
            power: 0
        }]
    );
    let left_at = net.height;
    assert_eq!(
        entry(
            &net,
            StateKey::Validator(k.address()),
            ValidatorEntry::decode
        ),
        None
    );
    let before = ledger(&net, k.address()).balance;
    for _ in 0..protocol().unbonding_delay {
        net.step();
    }
    assert_eq!(net.height, left_at + protocol().unbonding_delay);
    assert_eq!(ledger(&net, k.address()).balance, before + eth(30));
}

#[test]
fn genesis_registers_all_three_and_must_agree_with_cometbft() {
    let keys = parley_app::dev_accounts(2).expect("keys");
    let mut g = AppGenesis::funded(params(), keys.iter().map(|k| k.address()), eth(10));
    g.ledger = vec![GenesisLedger {
        address: Address::repeat_byte(1),
        balance: eth(2),
    }];
    g.sequencers = vec![GenesisBond {
        address: Address::repeat_byte(2),
        amount: eth(1),
    }];
    g.provers = vec![GenesisBond {
        address: Address::repeat_byte(3),
        amount: eth(4),
    }];
    g.validators = genesis_validators();
    let app_state = serde_json::to_vec(&g).expect("json");
    let net = Net::with_genesis(1, keys, &app_state);
    assert_eq!(ledger(&net, Address::repeat_byte(1)).balance, eth(2));
    assert_eq!(
        entry(
            &net,
            StateKey::Sequencer(Address::repeat_byte(2)),
            SequencerEntry::decode
        )
        .map(|s| s.bond),
        Some(eth(1))
    );
    let p = entry(
        &net,
        StateKey::Prover(Address::repeat_byte(3)),
        ProverEntry::decode,
    )
    .expect("prover");
    assert_eq!(
        (p.stake, p.reputation),
        (eth(4), parley_types::REPUTATION_ONE)
    );
    let v = entry(
        &net,
        StateKey::Validator(Address::repeat_byte(0xa1)),
        ValidatorEntry::decode,
    )
    .expect("validator");
    assert_eq!((v.power, v.consensus_key), (10, [1; 32]));

    // InitChain: CometBFT's list empty → the registry's set is the answer; the very same set
    // → accepted, nothing to answer; any other set → refused.
    let fresh = || common::Node::open(tempfile::tempdir().expect("tmp"), Address::ZERO);
    let set: Vec<([u8; 32], u64)> = (1..=4u8).map(|i| ([i; 32], 10)).collect();
    let n = fresh();
    let (_, answer) = n
        .app
        .init_chain_with(&app_state, 1, &[], TEST_CHAIN_ID, 1)
        .expect("ok");
    assert_eq!(
        answer
            .iter()
            .map(|u| (u.consensus_key, u.power))
            .collect::<Vec<_>>(),
        set
    );
    let n = fresh();
    let mut same = set.clone();
    same.reverse();
    assert_eq!(
        n.app
            .init_chain_with(&app_state, 1, &same, TEST_CHAIN_ID, 1)
            .expect("ok")
            .1,
        vec![]
    );
    let n = fresh();
    let mut other = set.clone();
    other[0].1 = 11;
    let err = n
        .app
        .init_chain_with(&app_state, 1, &other, TEST_CHAIN_ID, 1)
        .expect_err("refused");
    assert!(
        err.to_string()
            .contains("not the CometBFT genesis validators"),
        "{err}"
    );

    // Bad registrations name the field.
    let mut dup = g.clone();
    dup.validators[1].consensus_key = dup.validators[0].consensus_key;
    let e = AppGenesis::from_json(&serde_json::to_vec(&dup).expect("json")).expect_err("dup");
    assert!(e.to_string().contains("validators[1].consensus_key"), "{e}");
    let mut low = g.clone();
    low.provers[0].amount = U256::from(1);
    let e = AppGenesis::from_json(&serde_json::to_vec(&low).expect("json")).expect_err("low");
    assert!(e.to_string().contains("provers[0].amount"), "{e}");
}

#[test]
fn proposals_follow_the_message_rules() {
    let mut net = net_with(2, vec![]);
    let k = net.keys[0].clone();
    net.step();
    let h = net.height + 1;
    let t = net.time(h);
    let block = net.nodes[0]
        .app
        .prepare_proposal(h, t, &[], 4 << 20, &net.last_commit())
        .expect("prepare")
        .pop()
        .expect("block");
    let m = |n: u64| Bytes::from(msg::sign(&k, CHAIN_ID, n, &Action::Heartbeat));
    let verdict = |txs: Vec<Bytes>| {
        net.nodes[1]
            .app
            .process_proposal(h, t, B256::ZERO, &txs, &Default::default())
            .expect("no fatal error")
    };
    // Messages before the block: fine (even ones that will be refused at their turn).
    assert_eq!(verdict(vec![m(0), m(1), block.clone()]), Verdict::Accept);
    let reason = |v: Verdict| match v {
        Verdict::Reject(r) => r,
        Verdict::Accept => panic!("accepted"),
    };
    assert!(reason(verdict(vec![block.clone(), m(0)])).contains("precede the L2 block"));
    assert!(reason(verdict(vec![m(0), m(0), block.clone()])).contains("duplicate message"));
    let cap = protocol().max_messages_per_kind;
    let many: Vec<Bytes> = (0..=cap).map(m).chain([block.clone()]).collect();
    assert!(reason(verdict(many)).contains("more than 8 heartbeat messages"));
    let other_chain = Bytes::from(msg::sign(&k, CHAIN_ID + 1, 0, &Action::Heartbeat));
    assert!(reason(verdict(vec![other_chain, block.clone()])).contains("chain"));
    let mut flipped = m(0).to_vec();
    let last = flipped.len() - 1;
    flipped[last] ^= 0xff;
    assert!(reason(verdict(vec![Bytes::from(flipped), block])).contains("tx 0"));
}

#[derive(Debug, Clone)]
enum Op {
    Msg(usize, u8, u64),
    Transfer(usize, u64),
    Step,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..3, 0u8..8, 1u64..4).prop_map(|(k, kind, n)| Op::Msg(k, kind, n)),
        2 => (0usize..3, 1u64..1000).prop_map(|(k, v)| Op::Transfer(k, v)),
        2 => Just(Op::Step),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// No value is created or lost: EVM balances + ledger + bonds + stakes + unbonding + pot
    /// + burned is the genesis total at every height, whatever messages (valid or refused)
    /// and EVM transfers the blocks carry — fees, base fees and tips included.
    #[test]
    fn value_is_conserved(ops in proptest::collection::vec(op(), 1..40)) {
        let mut net = net_with(1, genesis_validators());
        let keys = net.keys.clone();
        let mut holders: Vec<Address> = keys.iter().map(|k| k.address()).collect();
        holders.push(net.nodes[0].fee_recipient);
        holders.push(Address::repeat_byte(0x99));
        let start = total_value(&net, &holders);
        let mut nonces = [0u64; 3];
        let mut evm_nonces = [0u64; 3];
        for o in ops {
            match o {
                Op::Msg(k, kind, n) => {
                    let amount = eth(u128::from(n));
                    let a = match kind {
                        0 => Action::Fund(amount * U256::from(3)),
                        1 => Action::Withdraw(amount),
                        2 => Action::BondSequencer(amount),
                        3 => Action::StakeProver(amount),
                        4 => Action::BondValidator { amount, consensus_key: [0x40 + k as u8; 32], bridge_key: Address::repeat_byte(k as u8) },
                        5 => Action::Unbond([Role::Sequencer, Role::Prover, Role::Validator][n as usize % 3]),
                        6 => Action::Heartbeat,
                        _ => Action::Fund(eth(1_000_000)),
                    };
                    // Refused ones are included too, as a byzantine proposer could.
                    let raw = msg::sign(&keys[k], CHAIN_ID, nonces[k], &a);
                    let codes = force(&mut net, vec![raw]);
                    if codes == [0] {
                        nonces[k] += 1;
                    }
                }
                Op::Transfer(k, v) => {
                    let raw = devtx::transfer(&keys[k], CHAIN_ID, evm_nonces[k], Address::repeat_byte(0x99), U256::from(v));
                    if net.submit(raw).is_ok() {
                        evm_nonces[k] += 1;
                    }
                }
                Op::Step => {
                    net.step();
                }
            }
            prop_assert_eq!(total_value(&net, &holders), start, "at height {}", net.height);
        }
        // EVM nonces follow what executed: resync and finish with a block carrying the rest.
        net.step();
        prop_assert_eq!(total_value(&net, &holders), start);
    }
}

fn assignment(net: &Net, slot: u64) -> Option<parley_types::Assignment> {
    entry(
        net,
        StateKey::Assignment(slot),
        parley_types::Assignment::decode,
    )
}

/// DESIGN §3.1 on the harness: every height fixes the prover of the slot `lookahead` ahead,
/// with the stake at the draw; the stored draw never changes afterwards; a prover without a
/// heartbeat within the grace is never drawn, nor one that unbonded.
#[test]
fn slots_are_assigned_lookahead_ahead_and_never_redrawn() {
    let keys = parley_app::dev_accounts(5).expect("dev keys");
    let mut p = params();
    p.protocol.heartbeat_grace = 3;
    let mut g = AppGenesis::funded(p.clone(), keys.iter().map(|k| k.address()), eth(1_000));
    // Prover A (keys[0]) keeps sending heartbeats; prover B (keys[1]) never does.
    g.provers = vec![
        GenesisBond {
            address: keys[0].address(),
            amount: eth(1),
        },
        GenesisBond {
            address: keys[1].address(),
            amount: eth(100),
        },
    ];
    g.ledger = vec![GenesisLedger {
        address: keys[0].address(),
        balance: eth(2),
    }];
    let app_state = serde_json::to_vec(&g).expect("json");
    let mut net = Net::with_genesis(2, keys.clone(), &app_state);
    let la = p.protocol.lookahead;
    let mut history = Vec::new();
    for n in 0..20u64 {
        send(&mut net, &keys[0], n, Action::Heartbeat).expect("heartbeat");
        net.step();
        let h = net.height;
        // Nothing is drawn beyond the lookahead yet.
        assert_eq!(assignment(&net, h + la + 1), None);
        let a = assignment(&net, h + la).expect("drawn at h for h + lookahead");
        assert_eq!(a.provers.len(), 1);
        let (who, stake) = a.provers[0];
        // B's last heartbeat was genesis (0): inactive from height 4 on.
        if h > 3 {
            assert_eq!(who, keys[0].address(), "inactive prover drawn at {h}");
        }
        assert_eq!(
            stake,
            if who == keys[0].address() {
                eth(1)
            } else {
                eth(100)
            }
        );
        history.push((h + la, a));
    }
    // A doubles its stake: the stored draws keep the old snapshot and never change.
    send(&mut net, &keys[0], 20, Action::StakeProver(eth(1))).expect("stake");
    net.step();
    net.step();
    for (slot, a) in &history {
        assert_eq!(
            assignment(&net, *slot).as_ref(),
            Some(a),
            "slot {slot} was redrawn"
        );
    }
    let latest = assignment(&net, net.height + la).expect("drawn");
    assert_eq!(latest.provers, vec![(keys[0].address(), eth(2))]);
    // A unbonds: later slots get nobody (B is inactive), already drawn ones keep A.
    send(&mut net, &keys[0], 21, Action::Unbond(Role::Prover)).expect("unbond");
    net.step();
    assert_eq!(
        assignment(&net, net.height + la).expect("drawn").provers,
        vec![]
    );
    assert_eq!(
        assignment(&net, net.height + la - 1)
            .expect("drawn")
            .provers,
        vec![(keys[0].address(), eth(2))]
    );
}

/// The state schema of the protocol entries is API (CONVENTIONS 6): the app hash after one
/// block that carries every message kind is pinned. Moving it is a breaking change.
#[test]
fn app_hash_snapshot_of_every_message_kind() {
    let mut net = net_with(2, genesis_validators());
    let k = net.keys.clone();
    send(&mut net, &k[0], 0, Action::Fund(eth(10))).expect("fund");
    send(&mut net, &k[1], 0, Action::Fund(eth(10))).expect("fund");
    net.step();
    let all = [
        (0, 1, Action::Withdraw(eth(1))),
        (0, 2, Action::BondSequencer(eth(2))),
        (0, 3, Action::StakeProver(eth(2))),
        (0, 4, Action::Heartbeat),
        (0, 5, Action::Unbond(Role::Sequencer)),
        (
            1,
            1,
            Action::BondValidator {
                amount: eth(3),
                consensus_key: [0x31; 32],
                bridge_key: Address::repeat_byte(0x32),
            },
        ),
        (1, 2, Action::Unbond(Role::Validator)),
    ];
    for (who, nonce, a) in all {
        send(&mut net, &k[who], nonce, a).expect("accepted");
    }
    let hash = net.step();
    assert!(
        net.last_results.iter().all(|(c, _)| *c == 0),
        "{:?}",
        net.last_results
    );
    assert_eq!(net.last_results.len(), 8, "seven messages and the L2 block");
    assert_eq!(
        hash,
        "0x6e8f29bcf201d0c43135423b969ced4bbc815e600ddc9af49c0cbf639a338d59"
            .parse::<B256>()
            .expect("hex"),
        "app-hash snapshot of the message kinds moved: a breaking change"
    );
}
