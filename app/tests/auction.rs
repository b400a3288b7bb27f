//! The slot auction on the in-process harness (DESIGN §3 steps 2–7): sealed bids, the
//! assigned prover's `Select`, the winner's `Reveal`, the withhold rule, the no-bid rule,
//! forced inclusion and `max_diff_entries`, through CheckTx, PrepareProposal,
//! ProcessProposal, FinalizeBlock and Commit on several nodes; the refusal codes; proposers
//! that drop messages or break the rules; and conservation of value over random sequences.

mod common;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_signer_local::PrivateKeySigner;
use common::{CHAIN_ID, Net, earnings, ledger, pot, prover_entry, total_value};
use parley_app::chain::auction;
use parley_app::chain::block::{L2Block, Message, tx_root};
use parley_app::chain::genesis::{AppGenesis, GenesisBond, GenesisLedger, Params, ProtocolParams};
use parley_app::chain::msg::{self, Action};
use parley_app::chain::rules::{self, Verdict};
use parley_app::devtx;
use parley_types::{Selection, SequencerEntry, SlotEntry, SlotState, StateKey};
use proptest::prelude::*;

const ETH: u128 = 1_000_000_000_000_000_000;
const FEE: u64 = 10_000_000_000_000;
const MIN_BID: u64 = 1_000_000_000_000;

fn eth(n: u128) -> U256 {
    U256::from(n * ETH)
}

fn protocol() -> ProtocolParams {
    ProtocolParams {
        message_fee: U256::from(FEE),
        max_messages_per_kind: 16,
        unbonding_delay: 20,
        min_bid: U256::from(MIN_BID),
        ..ProtocolParams::default()
    }
}

fn params_with(q: ProtocolParams) -> Params {
    Params {
        chain_id: CHAIN_ID,
        protocol: q,
        ..Params::default()
    }
}

/// Keys 0 and 1 are sequencers (bond 2 ETH, ledger 10 ETH), key 2 the only prover (stake
/// 5 ETH, ledger 1 ETH), keys 3 and 4 users (key 3 with 1 ETH in the ledger).
fn net_with(n: usize, q: ProtocolParams) -> Net {
    net_with_params(n, params_with(q))
}

fn net_with_params(n: usize, params: Params) -> Net {
    let keys = parley_app::dev_accounts(6).expect("dev keys");
    let mut g = AppGenesis::funded(params, keys.iter().map(|k| k.address()), eth(1_000));
    let at = |i: usize| keys[i].address();
    g.ledger = vec![
        GenesisLedger {
            address: at(0),
            balance: eth(10),
        },
        GenesisLedger {
            address: at(1),
            balance: eth(10),
        },
        GenesisLedger {
            address: at(2),
            balance: eth(1),
        },
        GenesisLedger {
            address: at(3),
            balance: eth(1),
        },
    ];
    g.sequencers = vec![
        GenesisBond {
            address: at(0),
            amount: eth(2),
        },
        GenesisBond {
            address: at(1),
            amount: eth(2),
        },
    ];
    g.provers = vec![GenesisBond {
        address: at(2),
        amount: eth(5),
    }];
    let app_state = serde_json::to_vec(&g).expect("json");
    Net::with_genesis(n, keys, &app_state)
}

fn net() -> Net {
    net_with(3, protocol())
}

/// The bid and the matching reveal of `seq` for `slot` with `txs`.
fn offer(seq: &PrivateKeySigner, slot: u64, txs: &[Bytes], amount: u64) -> (Action, Action) {
    let gas_limit = Params::default().block_gas_limit;
    let commitment = auction::commitment(
        CHAIN_ID,
        slot,
        seq.address(),
        gas_limit,
        txs.iter().map(keccak256),
    );
    (
        Action::Bid {
            slot,
            commitment,
            amount: U256::from(amount),
        },
        Action::Reveal {
            slot,
            gas_limit,
            txs: txs.to_vec(),
        },
    )
}

fn select_of(bid: &Action, seq: Address) -> Action {
    let Action::Bid {
        slot,
        commitment,
        amount,
    } = bid
    else {
        panic!("not a bid")
    };
    Action::Select {
        slot: *slot,
        sequencer: seq,
        commitment: *commitment,
        amount: *amount,
    }
}

fn send(net: &mut Net, key: &PrivateKeySigner, nonce: u64, a: &Action) -> B256 {
    net.submit(Bytes::from(msg::sign(key, CHAIN_ID, nonce, a)))
        .unwrap_or_else(|e| panic!("{a:?} refused: {e}"))
}

/// CheckTx's verdict on a message at the next height: Ok, or the refusal code.
fn check(net: &Net, key: &PrivateKeySigner, nonce: u64, a: &Action) -> Result<(), u32> {
    net.nodes[0]
        .app
        .check(&msg::sign(key, CHAIN_ID, nonce, a), false)
        .expect("no fatal error")
        .map(|_| ())
        .map_err(|r| r.code)
}

fn run_to(net: &mut Net, h: u64) {
    while net.height < h {
        net.step();
    }
}

fn slot(net: &Net, s: u64) -> Option<SlotEntry> {
    net.reader()
        .app_entry(&StateKey::Slot(s))
        .expect("read")
        .map(|b| SlotEntry::decode(&b).expect("decodes"))
}

fn bond(net: &Net, a: Address) -> U256 {
    net.reader()
        .app_entry(&StateKey::Sequencer(a))
        .expect("read")
        .map(|b| SequencerEntry::decode(&b).expect("decodes").bond)
        .unwrap_or_default()
}

fn block_txs(net: &Net, n: u64) -> Vec<B256> {
    net.reader()
        .block(n)
        .expect("read")
        .expect("block")
        .tx_hashes
}

/// Decides the next height with `txs` exactly as given (what a byzantine or censoring
/// proposer would propose); every node must accept it.
fn decide(net: &mut Net, txs: Vec<Bytes>) {
    net.height += 1;
    net.decide(txs);
}

/// The next height as its proposer would build it from the mempool minus `dropped`.
fn step_without(net: &mut Net, dropped: &[B256]) {
    let h = net.height + 1;
    let pool: Vec<Bytes> = net
        .mempool
        .iter()
        .filter(|r| !dropped.contains(&keccak256(r)))
        .cloned()
        .collect();
    let txs = net.nodes[0]
        .app
        .prepare_proposal(h, net.time(h), &pool, 4 << 20, &net.last_commit())
        .expect("prepare");
    decide(net, txs);
}

const SLOT: u64 = 12;

/// DESIGN §3 steps 2–4 end to end on the harness: two sealed bids, the prover selects the
/// higher, the loser is refunded, the winner reveals, and slot 12 executes the winner's
/// transactions (which never sat in the public mempool) with the winner as builder; the
/// escrow waits for the proof; a proposer block at that height is refused.
#[test]
fn a_slot_is_won_selected_revealed_and_executed() {
    let mut net = net();
    let [a, b, p, u] = [0, 1, 2, 3].map(|i| net.keys[i].clone());
    // The user's transactions go to the sequencers privately.
    let t1 = devtx::transfer(&u, CHAIN_ID, 0, Address::repeat_byte(0x77), U256::from(5));
    let t2 = devtx::transfer(&u, CHAIN_ID, 1, Address::repeat_byte(0x78), U256::from(6));
    let (bid_a, _) = offer(&a, SLOT, std::slice::from_ref(&t1), 5 * MIN_BID);
    let (bid_b, reveal_b) = offer(&b, SLOT, &[t1.clone(), t2.clone()], 7 * MIN_BID);
    send(&mut net, &a, 0, &bid_a);
    send(&mut net, &b, 0, &bid_b);
    net.step();
    assert_eq!(
        net.last_results[..2],
        [(0, String::new()), (0, String::new())]
    );
    let e = slot(&net, SLOT).expect("bids recorded");
    assert_eq!(e.bids.len(), 2);
    assert_eq!(e.selected, None);
    assert_eq!(
        ledger(&net, a.address()).balance,
        eth(10) - U256::from(5 * MIN_BID + FEE)
    );
    // Bids stay sealed until the close at 12 - 8 = 4; the select window is 5..=6.
    run_to(&mut net, 3);
    assert_eq!(check(&net, &p, 0, &select_of(&bid_b, b.address())), Err(54));
    run_to(&mut net, 4);
    assert_eq!(check(&net, &p, 0, &select_of(&bid_a, a.address())), Err(58));
    assert_eq!(check(&net, &u, 0, &select_of(&bid_b, b.address())), Err(55));
    send(&mut net, &p, 0, &select_of(&bid_b, b.address()));
    net.step();
    let e = slot(&net, SLOT).expect("slot");
    assert_eq!(e.selected, Some(Selection::Prover(p.address())));
    assert_eq!(e.bids.len(), 1);
    assert_eq!(e.bids[0].sequencer, b.address());
    // The loser got its escrow back (it paid only the fee).
    assert_eq!(ledger(&net, a.address()).balance, eth(10) - U256::from(FEE));
    // Only the winner may reveal, and only what it committed to.
    let (_, wrong) = offer(&b, SLOT, std::slice::from_ref(&t1), 7 * MIN_BID);
    assert_eq!(check(&net, &b, 1, &wrong), Err(61));
    let (_, reveal_a) = offer(&a, SLOT, std::slice::from_ref(&t1), 5 * MIN_BID);
    assert_eq!(check(&net, &a, 1, &reveal_a), Err(59));
    send(&mut net, &b, 1, &reveal_b);
    net.step();
    assert_eq!(slot(&net, SLOT).expect("slot").state, SlotState::Revealed);
    assert_eq!(check(&net, &b, 2, &reveal_b), Err(60));
    run_to(&mut net, SLOT - 1);

    // At the slot's height a proposer block is refused: the winner's block executes.
    let h = SLOT;
    let meta = net.reader().meta().expect("meta");
    let mut header = rules::header(
        &params_with(protocol()),
        &meta,
        h,
        net.time(h),
        Address::ZERO,
    );
    header.tx_root = tx_root([]);
    let proposer_block = Bytes::from(
        Message::ProposerBlock(L2Block {
            header,
            txs: vec![],
        })
        .encode(),
    );
    match net.nodes[1]
        .app
        .process_proposal(
            h,
            net.time(h),
            B256::ZERO,
            &[proposer_block],
            &net.commit_info(),
        )
        .expect("process")
    {
        Verdict::Reject(why) => assert!(why.contains("auctioned"), "{why}"),
        Verdict::Accept => panic!("a proposer block in an auctioned slot was accepted"),
    }
    // Honest proposers propose messages only.
    let honest = net.nodes[0]
        .app
        .prepare_proposal(h, net.time(h), &net.mempool, 4 << 20, &net.last_commit())
        .expect("prepare");
    assert!(honest.iter().all(|t| msg::is_signed_message(t)));
    net.step();
    let record = net.reader().block(SLOT).expect("read").expect("block");
    assert_eq!(record.builder, b.address());
    assert_eq!(record.tx_hashes, vec![keccak256(&t1), keccak256(&t2)]);
    for t in [&t1, &t2] {
        assert!(net.receipt(keccak256(t)).expect("receipt").success);
    }
    assert_eq!(net.balance(Address::repeat_byte(0x77)), U256::from(5));
    let e = slot(&net, SLOT).expect("slot");
    assert_eq!(e.state, SlotState::Executed);
    assert_eq!(e.escrow(), U256::from(7 * MIN_BID));
    assert!(
        net.reader()
            .app_entry(&StateKey::Reveal(SLOT))
            .expect("read")
            .is_none(),
        "the revealed block leaves state once executed"
    );
    // Block numbers stay contiguous around the auctioned slot.
    net.step();
    let next = net.reader().block(SLOT + 1).expect("read").expect("block");
    assert_eq!(next.parent_hash, record.hash);
}

/// DESIGN §3.4 withhold rule and §3.3 app selection: nobody selects (no penalty for the
/// prover), the winner never reveals; the slot executes empty, half the escrow goes to the
/// assigned prover, the rest and the bond fine are burned.
#[test]
fn a_withheld_slot_executes_empty_splits_the_escrow_and_fines_the_bond() {
    let mut net = net();
    let [a, p, u] = [0, 2, 3].map(|i| net.keys[i].clone());
    let t1 = devtx::transfer(&u, CHAIN_ID, 0, Address::repeat_byte(0x77), U256::from(5));
    let (bid, _) = offer(&a, SLOT, &[t1], 8 * MIN_BID);
    send(&mut net, &a, 0, &bid);
    net.step();
    let rep = prover_entry(&net, p.address()).reputation;
    let prover_balance = ledger(&net, p.address()).balance;
    run_to(&mut net, 6);
    let e = slot(&net, SLOT).expect("slot");
    assert_eq!(
        e.selected,
        Some(Selection::App),
        "the app selects at the window's end"
    );
    run_to(&mut net, SLOT - 1);
    let burned = pot(&net).burned;
    net.step();
    assert_eq!(block_txs(&net, SLOT), Vec::<B256>::new());
    let record = net.reader().block(SLOT).expect("read").expect("block");
    assert_eq!(record.builder, Address::ZERO);
    let e = slot(&net, SLOT).expect("slot");
    assert_eq!(e.state, SlotState::Withheld);
    assert_eq!(e.escrow(), U256::ZERO);
    assert_eq!(
        ledger(&net, p.address()).balance,
        prover_balance + U256::from(4 * MIN_BID)
    );
    let fine = protocol().withhold_fine;
    assert_eq!(bond(&net, a.address()), eth(2) - fine);
    // The record operators read: the prover's share is income, the bond's loss a fine.
    let (pe, se) = (earnings(&net, p.address()), earnings(&net, a.address()));
    assert_eq!((pe.earned, pe.fined), (U256::from(4 * MIN_BID), U256::ZERO));
    assert_eq!((se.earned, se.fined), (U256::ZERO, fine));
    let base_fee_burn = pot(&net).burned - burned - U256::from(4 * MIN_BID) - fine;
    assert_eq!(
        base_fee_burn,
        U256::ZERO,
        "an empty block burns no base fee"
    );
    assert_eq!(prover_entry(&net, p.address()).reputation, rep);
}

/// DESIGN §3.2: the bid rules and their codes; a replacement must be higher and escrows only
/// the difference; equal bids go to the earliest included.
#[test]
fn bids_are_checked_replaced_only_higher_and_ties_go_to_the_earliest() {
    let mut net = net();
    let [a, b, p, u] = [0, 1, 2, 3].map(|i| net.keys[i].clone());
    let bid = |s: u64, amount: u64| offer(&a, s, &[], amount).0;
    // CheckTx runs at height 1: slot 8 closed at 0, slot 18 opens at 2.
    assert_eq!(check(&net, &a, 0, &bid(8, MIN_BID)), Err(50));
    assert_eq!(check(&net, &a, 0, &bid(18, MIN_BID)), Err(51));
    assert_eq!(check(&net, &a, 0, &bid(SLOT, MIN_BID - 1)), Err(52));
    assert_eq!(
        check(&net, &u, 0, &offer(&u, SLOT, &[], MIN_BID).0),
        Err(45)
    );
    assert_eq!(
        check(
            &net,
            &a,
            0,
            &Action::Bid {
                slot: SLOT,
                commitment: B256::ZERO,
                amount: eth(11),
            }
        ),
        Err(42)
    );
    send(&mut net, &a, 0, &bid(SLOT, 5 * MIN_BID));
    net.step();
    assert_eq!(check(&net, &a, 1, &bid(SLOT, 5 * MIN_BID)), Err(53));
    assert_eq!(check(&net, &a, 1, &bid(SLOT, 4 * MIN_BID)), Err(53));
    let before = ledger(&net, a.address()).balance;
    send(&mut net, &a, 1, &bid(SLOT, 6 * MIN_BID));
    net.step();
    assert_eq!(
        ledger(&net, a.address()).balance,
        before - U256::from(MIN_BID + FEE),
        "a replacement escrows the difference"
    );
    let tie = offer(&b, SLOT, &[], 6 * MIN_BID).0;
    send(&mut net, &b, 0, &tie);
    net.step();
    let e = slot(&net, SLOT).expect("slot");
    assert_eq!(e.bids.len(), 2);
    assert_eq!(e.highest().expect("bids").sequencer, a.address());
    run_to(&mut net, 4);
    assert_eq!(check(&net, &p, 0, &select_of(&tie, b.address())), Err(58));
    send(
        &mut net,
        &p,
        0,
        &select_of(&bid(SLOT, 6 * MIN_BID), a.address()),
    );
    net.step();
    assert_eq!(
        check(
            &net,
            &p,
            1,
            &select_of(&bid(SLOT, 6 * MIN_BID), a.address())
        ),
        Err(57)
    );
    // After the close, a bid is late.
    assert_eq!(
        check(&net, &b, 1, &offer(&b, SLOT, &[], 9 * MIN_BID).0),
        Err(50)
    );
}

/// The bid window and the escrow budget are inclusive at their edges: a bid at the first and
/// at the last height of its window is taken, one height before or after is refused; a bid
/// of exactly the ledger balance less the fee is taken; a sequencer fined below
/// `min_sequencer_bond` can no longer bid.
#[test]
fn bid_edges_are_inclusive_and_a_fined_sequencer_below_the_minimum_cannot_bid() {
    let mut q = protocol();
    q.withhold_fine = eth(3) / U256::from(2);
    let mut net = net_with(2, q.clone());
    let [a, b] = [0, 1].map(|i| net.keys[i].clone());
    // Slot 20: bids open at 20 - 16 = 4 and close at 20 - 8 = 12. CheckTx runs at height + 1.
    let s = 20;
    run_to(&mut net, 2);
    assert_eq!(check(&net, &a, 0, &offer(&a, s, &[], MIN_BID).0), Err(51));
    run_to(&mut net, 3);
    send(&mut net, &a, 0, &offer(&a, s, &[], MIN_BID).0);
    net.step();
    assert_eq!(
        net.last_results[0].0, 0,
        "a bid at the opening height is taken"
    );
    run_to(&mut net, 11);
    // All of b's ledger balance but the fee: taken, at the closing height.
    let all = ledger(&net, b.address()).balance - U256::from(FEE);
    let last = Action::Bid {
        slot: s,
        commitment: B256::ZERO,
        amount: all,
    };
    send(&mut net, &b, 0, &last);
    net.step();
    assert_eq!(
        net.last_results[0].0, 0,
        "a bid at the closing height is taken"
    );
    assert_eq!(ledger(&net, b.address()).balance, U256::ZERO);
    assert_eq!(
        check(&net, &a, 1, &offer(&a, s, &[], 2 * MIN_BID).0),
        Err(50)
    );
    // b wins (highest) and withholds: fined 1.5 ETH of its 2 ETH bond, below the 1 ETH minimum.
    run_to(&mut net, s);
    assert_eq!(slot(&net, s).expect("slot").state, SlotState::Withheld);
    assert_eq!(bond(&net, b.address()), eth(2) - q.withhold_fine);
    send(&mut net, &b, 1, &Action::Fund(eth(1)));
    net.step();
    assert_eq!(
        check(&net, &b, 2, &offer(&b, net.height + 9, &[], MIN_BID).0),
        Err(45)
    );
    assert_eq!(
        check(&net, &a, 1, &offer(&a, net.height + 9, &[], MIN_BID).0),
        Ok(())
    );
}

/// The reveal's limits (codes 62, 63) are inclusive: a gas limit up to the chain's and up to
/// `max_block_txs` transactions; and a forced transaction of exactly `forced_gas` is taken.
#[test]
fn reveal_and_forced_limits_are_inclusive() {
    let mut q = protocol();
    q.forced_gas = 30_000;
    let mut params = params_with(q);
    params.max_block_txs = 2;
    let mut net = net_with_params(2, params.clone());
    let [a, u, v] = [0, 3, 4].map(|i| net.keys[i].clone());
    let txs: Vec<Bytes> = (0..3)
        .map(|i| devtx::transfer(&v, CHAIN_ID, i, Address::repeat_byte(0x70), U256::from(1)))
        .collect();
    // Three reveals a winner could send, committed to by one bid each for three slots.
    let limit = params.block_gas_limit;
    let commit = |s: u64, gas: u64, txs: &[Bytes]| Action::Bid {
        slot: s,
        commitment: auction::commitment(CHAIN_ID, s, a.address(), gas, txs.iter().map(keccak256)),
        amount: U256::from(MIN_BID),
    };
    let reveal = |s: u64, gas: u64, txs: &[Bytes]| Action::Reveal {
        slot: s,
        gas_limit: gas,
        txs: txs.to_vec(),
    };
    send(&mut net, &a, 0, &commit(SLOT, limit + 1, &txs[..1]));
    send(&mut net, &a, 1, &commit(SLOT + 1, limit, &txs));
    send(&mut net, &a, 2, &commit(SLOT + 2, limit - 1, &txs[..2]));
    run_to(&mut net, SLOT - 5);
    assert_eq!(
        check(&net, &a, 3, &reveal(SLOT, limit + 1, &txs[..1])),
        Err(62)
    );
    assert_eq!(check(&net, &a, 3, &reveal(SLOT + 1, limit, &txs)), Err(63));
    // Slot SLOT + 2 is selected at the end of its window (height SLOT - 4).
    run_to(&mut net, SLOT - 4);
    send(&mut net, &a, 3, &reveal(SLOT + 2, limit - 1, &txs[..2]));
    run_to(&mut net, SLOT + 2);
    assert_eq!(
        slot(&net, SLOT + 2).expect("slot").state,
        SlotState::Executed
    );
    assert_eq!(
        block_txs(&net, SLOT + 2),
        vec![keccak256(&txs[0]), keccak256(&txs[1])]
    );
    // The block runs under the gas limit its winner committed to.
    let record = net.reader().block(SLOT + 2).expect("read").expect("block");
    assert_eq!(record.gas_limit, limit - 1);
    let exact = devtx::sign(
        &v,
        devtx::Kind::DynamicFee,
        CHAIN_ID,
        2,
        Some(Address::repeat_byte(1)),
        U256::from(1),
        Bytes::new(),
        30_000,
        devtx::Fees::default(),
    );
    assert_eq!(check(&net, &u, 0, &Action::ForceInclude(exact)), Ok(()));
}

/// DESIGN §3 "Money": a revealed block that changes no state needs no proof, so its bid is paid
/// to the assigned provers at execution; with `provers_per_slot = 2` each gets half, the odd
/// wei going to the first drawn.
#[test]
fn an_empty_revealed_block_pays_its_provers_at_once_in_equal_shares() {
    let mut q = protocol();
    q.provers_per_slot = 2;
    let mut net = net_with(2, q);
    let [a, p, w] = [0, 2, 5].map(|i| net.keys[i].clone());
    // A second prover registers before slot 12 is drawn (at height 4).
    send(&mut net, &w, 0, &Action::Fund(eth(10)));
    send(&mut net, &w, 1, &Action::StakeProver(eth(5)));
    let amount = 7 * MIN_BID + 1;
    let (bid, reveal) = offer(&a, SLOT, &[], amount);
    send(&mut net, &a, 0, &bid);
    net.step();
    run_to(&mut net, 6);
    let drawn = net
        .reader()
        .app_entry(&StateKey::Assignment(SLOT))
        .expect("read")
        .map(|b| parley_types::Assignment::decode(&b).expect("decodes"))
        .expect("drawn");
    let order: Vec<Address> = drawn.provers.iter().map(|(x, _)| *x).collect();
    assert_eq!(order.len(), 2);
    assert!(order.contains(&p.address()) && order.contains(&w.address()));
    send(&mut net, &a, 1, &reveal);
    run_to(&mut net, SLOT - 1);
    let before: Vec<U256> = order.iter().map(|x| ledger(&net, *x).balance).collect();
    net.step();
    assert_eq!(block_txs(&net, SLOT), Vec::<B256>::new());
    let e = slot(&net, SLOT).expect("slot");
    assert_eq!(e.state, SlotState::Settled);
    assert_eq!(e.escrow(), U256::ZERO);
    let half = U256::from(amount / 2);
    assert_eq!(
        ledger(&net, order[0]).balance,
        before[0] + half + U256::from(1)
    );
    assert_eq!(ledger(&net, order[1]).balance, before[1] + half);
    assert_eq!(earnings(&net, order[0]).earned, half + U256::from(1));
    assert_eq!(earnings(&net, order[1]).earned, half);
    assert_eq!(
        earnings(&net, a.address()).earned,
        U256::ZERO,
        "the sequencer's refunds are not income"
    );
}

/// A reveal included at the slot's own height counts: the height's messages run before its
/// block, so the winner's block executes there.
#[test]
fn a_reveal_at_the_slot_height_counts() {
    let mut net = net();
    let [a, u] = [0, 3].map(|i| net.keys[i].clone());
    let t1 = devtx::transfer(&u, CHAIN_ID, 0, Address::repeat_byte(0x77), U256::from(5));
    let (bid, reveal) = offer(&a, SLOT, std::slice::from_ref(&t1), 3 * MIN_BID);
    send(&mut net, &a, 0, &bid);
    run_to(&mut net, SLOT - 1);
    assert_eq!(slot(&net, SLOT).expect("slot").state, SlotState::Open);
    send(&mut net, &a, 1, &reveal);
    net.step();
    assert_eq!(
        net.last_results[0].0, 0,
        "the reveal at height {SLOT} is taken"
    );
    assert_eq!(block_txs(&net, SLOT), vec![keccak256(&t1)]);
    assert_eq!(slot(&net, SLOT).expect("slot").state, SlotState::Executed);
}

/// DESIGN §3 "Deadlines and censorship": a proposer that drops the prover's `Select` and a
/// proposer that drops the winner's `Reveal` from their heights cost neither anything: the
/// app selects the same bid, the next proposer includes the reveal, the slot executes and
/// nobody is fined or loses reputation.
#[test]
fn a_proposer_that_drops_select_or_reveal_costs_nobody_anything() {
    let mut net = net();
    let [a, p, u] = [0, 2, 3].map(|i| net.keys[i].clone());
    let t1 = devtx::transfer(&u, CHAIN_ID, 0, Address::repeat_byte(0x77), U256::from(5));
    let (bid, reveal) = offer(&a, SLOT, std::slice::from_ref(&t1), 3 * MIN_BID);
    send(&mut net, &a, 0, &bid);
    net.step();
    run_to(&mut net, 4);
    let rep = prover_entry(&net, p.address()).reputation;
    let select = send(&mut net, &p, 0, &select_of(&bid, a.address()));
    step_without(&mut net, &[select]);
    step_without(&mut net, &[select]);
    let e = slot(&net, SLOT).expect("slot");
    assert_eq!(e.selected, Some(Selection::App));
    assert_eq!(e.winner().expect("winner").sequencer, a.address());
    assert_eq!(prover_entry(&net, p.address()).reputation, rep);
    let reveal = send(&mut net, &a, 1, &reveal);
    step_without(&mut net, &[reveal]);
    assert_eq!(slot(&net, SLOT).expect("slot").state, SlotState::Open);
    net.step();
    assert_eq!(slot(&net, SLOT).expect("slot").state, SlotState::Revealed);
    run_to(&mut net, SLOT);
    assert_eq!(block_txs(&net, SLOT), vec![keccak256(&t1)]);
    assert_eq!(bond(&net, a.address()), eth(2));
    assert_eq!(prover_entry(&net, p.address()).reputation, rep);
}

/// DESIGN §3.6: a transaction every builder ignores is forced in: the block after the
/// `ForceInclude` (auctioned or proposer-built) starts with it; forced gas beyond
/// `forced_gas` waits for the next block; an invalid one is refused with its code.
#[test]
fn forced_transactions_start_the_next_block() {
    let mut q = protocol();
    q.forced_gas = 30_000;
    let mut net = net_with(3, q);
    let [a, u, v] = [0, 3, 4].map(|i| net.keys[i].clone());
    // A proposer-built height: the forced transfer opens block 1 (the mempool is empty).
    let forced = devtx::transfer(&v, CHAIN_ID, 0, Address::repeat_byte(0x55), U256::from(1));
    let second = devtx::transfer(&v, CHAIN_ID, 1, Address::repeat_byte(0x56), U256::from(1));
    send(&mut net, &u, 0, &Action::ForceInclude(forced.clone()));
    send(&mut net, &u, 1, &Action::ForceInclude(second.clone()));
    net.step();
    assert_eq!(block_txs(&net, 1), vec![keccak256(&forced)]);
    // The second did not fit in 30,000 forced gas: it opens block 2.
    net.step();
    assert_eq!(block_txs(&net, 2), vec![keccak256(&second)]);
    // An auctioned slot whose winner ignores a user: the user forces it in just before.
    let ignored = devtx::transfer(&v, CHAIN_ID, 2, Address::repeat_byte(0x57), U256::from(1));
    let own = devtx::transfer(&a, CHAIN_ID, 0, Address::repeat_byte(0x58), U256::from(1));
    let (bid, reveal) = offer(&a, SLOT, std::slice::from_ref(&own), 2 * MIN_BID);
    send(&mut net, &a, 0, &bid);
    net.step();
    run_to(&mut net, 6);
    send(&mut net, &a, 1, &reveal);
    run_to(&mut net, SLOT - 2);
    send(&mut net, &u, 2, &Action::ForceInclude(ignored.clone()));
    // Included at SLOT - 1 as a message; that height's proposer block starts with it.
    net.step();
    assert_eq!(block_txs(&net, SLOT - 1), vec![keccak256(&ignored)]);
    net.step();
    assert_eq!(block_txs(&net, SLOT), vec![keccak256(&own)]);
    // Refused: a transaction that is not valid, or over the forced gas budget.
    assert_eq!(
        check(
            &net,
            &u,
            3,
            &Action::ForceInclude(Bytes::from(vec![1, 2, 3]))
        ),
        Err(64)
    );
    let big = devtx::sign(
        &v,
        devtx::Kind::DynamicFee,
        CHAIN_ID,
        3,
        Some(Address::repeat_byte(1)),
        U256::from(1),
        Bytes::new(),
        30_001,
        devtx::Fees::default(),
    );
    assert_eq!(check(&net, &u, 3, &Action::ForceInclude(big)), Err(64));
}

fn diff_len(net: &Net, n: u64) -> usize {
    net.reader().diff(n).expect("read").map_or(0, |d| d.0.len())
}

/// DESIGN §3.7: no block's diff exceeds `max_diff_entries` (the block circuit's capacity), even
/// when the next transaction writes several entries: transfers from distinct senders add two
/// each (sender, recipient), so the third of a block (3 + 2 + 2 = 7 > 6 entries) waits for the
/// next, and every transfer executes. Likewise `Fund` messages past the room are refused
/// (code 77: send again).
#[test]
fn no_block_diff_exceeds_max_diff_entries() {
    let mut q = protocol();
    q.max_diff_entries = 6;
    let mut net = net_with(2, q);
    let senders: Vec<_> = [1, 2, 3, 5].map(|i| net.keys[i].clone()).to_vec();
    for (i, k) in senders.iter().enumerate() {
        net.transfer(k, 0, Address::repeat_byte(0x70 + i as u8), 1);
    }
    let mut done = 0;
    while done < senders.len() {
        net.step();
        let n = block_txs(&net, net.height).len();
        let d = diff_len(&net, net.height);
        assert!(d <= 6, "block {} has {d} diff entries", net.height);
        assert!(
            n <= 2,
            "block {} executed {n} (a third would make 7 entries)",
            net.height
        );
        done += n;
        assert!(net.height < 10, "every transfer executes");
    }
    // Six accounts Fund in one height with room for three entries.
    let mut q = protocol();
    q.max_diff_entries = 3;
    let mut net = net_with(1, q);
    let keys: Vec<_> = net.keys.clone();
    for k in &keys {
        let nonce = ledger(&net, k.address()).nonce;
        send(&mut net, k, nonce, &Action::Fund(eth(1)));
    }
    net.step();
    assert_eq!(diff_len(&net, net.height), 3);
    let codes: Vec<u32> = net.last_results.iter().map(|(c, _)| *c).collect();
    assert_eq!(
        codes,
        vec![0, 0, 0, 77, 77, 77, 0],
        "three fit, three refused, the L2 block"
    );
    assert!(net.last_results[3].1.contains("diff is full"));
}

/// DESIGN §3.7: a block stops taking transactions once its writes reach `max_diff_entries`;
/// the rest stay pending and execute in later blocks.
#[test]
fn a_block_stops_at_max_diff_entries() {
    let mut q = protocol();
    q.max_diff_entries = 6;
    let mut net = net_with(2, q);
    let k = net.keys[4].clone();
    for i in 0..10u8 {
        net.transfer(&k, u64::from(i), Address::repeat_byte(0x60 + i), 1);
    }
    net.step();
    let first = block_txs(&net, 1).len();
    // Sender, builder and the first recipient, then one more entry per transfer.
    assert_eq!(first, 4, "executed {first}");
    let mut done = first;
    while done < 10 {
        net.step();
        let n = block_txs(&net, net.height).len();
        assert!(n > 0 && n <= 4, "block {} executed {n}", net.height);
        done += n;
    }
    assert_eq!(done, 10);
}

/// The auction's state schema is API (CONVENTIONS 6): the app hash after a slot that was bid
/// for twice, selected, revealed and executed with a forced transaction in front.
#[test]
fn app_hash_snapshot_of_the_auction() {
    let mut net = net_with(1, protocol());
    let [a, b, p, u, v] = [0, 1, 2, 3, 4].map(|i| net.keys[i].clone());
    // The forced transfer (nonce 0) runs before the revealed one (nonce 1).
    let t1 = devtx::transfer(&v, CHAIN_ID, 1, Address::repeat_byte(0x77), U256::from(5));
    let (bid_a, reveal_a) = offer(&a, SLOT, std::slice::from_ref(&t1), 5 * MIN_BID);
    let (bid_b, _) = offer(&b, SLOT, &[], 4 * MIN_BID);
    send(&mut net, &a, 0, &bid_a);
    send(&mut net, &b, 0, &bid_b);
    run_to(&mut net, 4);
    send(&mut net, &p, 0, &select_of(&bid_a, a.address()));
    net.step();
    send(&mut net, &a, 1, &reveal_a);
    run_to(&mut net, SLOT - 1);
    let forced = devtx::transfer(&v, CHAIN_ID, 0, Address::repeat_byte(0x78), U256::from(6));
    send(&mut net, &u, 0, &Action::ForceInclude(forced.clone()));
    net.step();
    assert_eq!(
        block_txs(&net, SLOT),
        vec![keccak256(&forced), keccak256(&t1)]
    );
    let (_, app_hash) = net.nodes[0].app.info().expect("info");
    assert_eq!(
        app_hash,
        "0x3a2388b57a4c1ec75686206d3528573d1d04b9d221edd7ded24065481a5911bc"
            .parse::<B256>()
            .expect("hex"),
        "app-hash snapshot of the auction moved: a breaking change"
    );
}

#[derive(Debug, Clone)]
enum Op {
    /// Sequencer `k` bids `amount × MIN_BID` for slot `height + 1 + d` with a block of `n`
    /// transfers from key 4.
    Bid(usize, u64, u64, u64),
    /// The prover selects the highest bid of a slot in its window (or a random other bid).
    Select(bool),
    /// The winner of the slot in its reveal window reveals (or reveals something else).
    Reveal(bool),
    /// Key 3 forces a transfer of key 5 in.
    Force,
    /// Key 4 transfers through the mempool.
    Transfer(u64),
    Step,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0usize..2, 8u64..16, 1u64..20, 0u64..3).prop_map(|(k, d, a, n)| Op::Bid(k, d, a, n)),
        2 => any::<bool>().prop_map(Op::Select),
        2 => any::<bool>().prop_map(Op::Reveal),
        1 => Just(Op::Force),
        1 => (1u64..1000).prop_map(Op::Transfer),
        3 => Just(Op::Step),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// DESIGN §3 "Money": no value is created or lost by bids, replacements, selects,
    /// reveals, withholds, forced transactions and EVM transfers: EVM balances + ledger +
    /// bonds + stakes + escrows + pot + burned is the genesis total at every height, whether
    /// the messages are valid or refused (a byzantine proposer includes them all).
    #[test]
    fn value_is_conserved_through_the_auction(ops in proptest::collection::vec(op(), 1..60)) {
        let mut net = net_with(1, protocol());
        let keys = net.keys.clone();
        let mut holders: Vec<Address> = keys.iter().map(|k| k.address()).collect();
        holders.extend([net.nodes[0].fee_recipient, Address::ZERO, Address::repeat_byte(0x99)]);
        let start = total_value(&net, &holders);
        let mut nonces = [0u64; 6];
        let mut evm4 = 0u64;
        let mut evm5 = 0u64;
        let mut offers: Vec<(usize, u64, Action, Action)> = Vec::new();
        for o in ops {
            let h = net.height + 1;
            let raw: Option<(usize, Action)> = match o {
                Op::Bid(k, d, amount, n) => {
                    let txs: Vec<Bytes> = (0..n)
                        .map(|i| devtx::transfer(&keys[4], CHAIN_ID, evm4 + i, Address::repeat_byte(0x99), U256::from(1)))
                        .collect();
                    let (bid, reveal) = offer(&keys[k], h + d, &txs, amount * MIN_BID);
                    offers.push((k, h + d, bid.clone(), reveal));
                    Some((k, bid))
                }
                Op::Select(right) => {
                    let s = h + protocol().bid_close - 1;
                    slot(&net, s).and_then(|e| {
                        let pick = if right { e.highest().copied() } else { e.bids.last().copied() };
                        pick.map(|b| (2, Action::Select { slot: s, sequencer: b.sequencer, commitment: b.commitment, amount: b.amount }))
                    })
                }
                Op::Reveal(right) => {
                    let winner = (h..h + protocol().bid_close).find_map(|s| {
                        slot(&net, s).and_then(|e| e.winner().copied().map(|w| (s, w)))
                    });
                    winner.and_then(|(s, w)| {
                        offers.iter().rev().find(|(k, os, _, _)| *os == s && keys[*k].address() == w.sequencer && right)
                            .or_else(|| offers.iter().find(|(_, os, _, _)| *os == s))
                            .map(|(k, _, _, reveal)| (*k, reveal.clone()))
                    })
                }
                Op::Force => {
                    let t = devtx::transfer(&keys[5], CHAIN_ID, evm5, Address::repeat_byte(0x99), U256::from(2));
                    evm5 += 1;
                    Some((3, Action::ForceInclude(t)))
                }
                Op::Transfer(v) => {
                    let raw = devtx::transfer(&keys[4], CHAIN_ID, evm4, Address::repeat_byte(0x99), U256::from(v));
                    if net.submit(raw).is_ok() {
                        evm4 += 1;
                    }
                    None
                }
                Op::Step => {
                    net.step();
                    None
                }
            };
            if let Some((k, a)) = raw {
                // Included whatever CheckTx says, as a byzantine proposer could.
                let m = Bytes::from(msg::sign(&keys[k], CHAIN_ID, nonces[k], &a));
                let mut txs = net.nodes[0].app.prepare_proposal(h, net.time(h), &net.mempool, 4 << 20, &net.last_commit()).expect("prepare");
                let block = txs.pop_if(|t| !msg::is_signed_message(t));
                txs.push(m);
                txs.extend(block);
                decide(&mut net, txs);
                // The next nonce is whatever the ledger says now (refused: unchanged).
                nonces[k] = ledger(&net, keys[k].address()).nonce;
            }
            prop_assert_eq!(total_value(&net, &holders), start, "at height {}", net.height);
            // EVM nonces of key 4 follow what executed.
            let executed4 = net.reader().account(keys[4].address()).expect("read").map_or(0, |(a, _)| a.nonce);
            evm4 = evm4.max(executed4);
        }
        let end = net.height + 2 * protocol().bid_horizon;
        run_to(&mut net, end);
        prop_assert_eq!(total_value(&net, &holders), start);
    }
}
