//! Block proofs in consensus (DESIGN §3.8, §3.11) on the in-process harness, with real halo2
//! proofs of the diffs the nodes executed: proofs verified in FinalizeBlock against the
//! statement the chain computes (the submitter's address included), transitions recorded in
//! any order and chained from the genesis proof root, empty slots needing none, payment of
//! on-time provers, the fine for a proof that does not verify or was made for someone else,
//! and the `diff_hash` computed synchronously when the background task has not run.

mod common;

use std::sync::OnceLock;

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_signer_local::PrivateKeySigner;
use common::{CHAIN_ID, Net, earnings, ledger, pot, prover_entry, total_value};
use parley_app::chain::genesis::{
    AppGenesis, FallbackParams, GenesisBond, GenesisLedger, Params, ProtocolParams, ProvingParams,
    SrsPin,
};
use parley_app::chain::msg::{self, Action};
use parley_proofs::encoding::fr_to_b256;
use parley_proofs::{BlockHeader, BlockProver, BlockWitness, Halo2BlockProver, ProofTree};
use parley_types::{ProofChain, ProofSlot, StateKey};
use proptest::prelude::*;

const ETH: u128 = 1_000_000_000_000_000_000;
/// Entries one block proof holds (and `max_diff_entries`): a transfer's block writes 3.
const CAPACITY: usize = 6;
const WINDOW: u64 = 6;
const FINE: u128 = ETH / 10;

fn eth(n: u128) -> U256 {
    U256::from(n * ETH)
}

/// Keys for the block circuit of [`CAPACITY`], made once per test binary.
fn prover_keys() -> &'static Halo2BlockProver {
    static KEYS: OnceLock<Halo2BlockProver> = OnceLock::new();
    KEYS.get_or_init(|| Halo2BlockProver::setup(CAPACITY).expect("block circuit keys"))
}

fn proving() -> ProvingParams {
    ProvingParams {
        block_capacity: CAPACITY as u64,
        max_chunks: 1,
        block_vk_hash: prover_keys().vk_hash(),
        proof_index_bits: parley_proofs::FULL_INDEX_BITS,
        srs: SrsPin::Dev,
        proof_window: WINDOW,
        prover_fee_share_bps: 5_000,
        invalid_proof_fine: U256::from(FINE),
        rep_up: 10_000,
        max_unproven_slots: 2,
        fallback: fallback(),
        aggregation: None,
    }
}

/// Taken from an assigned prover that missed.
const SLASH: u128 = ETH;

/// Fallback rounds open at the end of the window's last height `W`: commits at `W + 1 ..=
/// W + 2`, reveals at `W + 3 ..= W + 8`.
fn fallback() -> FallbackParams {
    FallbackParams {
        commit_window: 2,
        reveal_proof_window: 6,
        min_fallback_stake: eth(1),
        slash_missed: U256::from(SLASH),
        slash_burn_bps: 5_000,
        rep_decay: 500_000,
        rep_min: 10_000,
        bounty_step: U256::from(1_000_000_000_000u64),
        bounty_interval: 1_000,
        max_commits: 4,
    }
}

/// Two nodes; keys 2 and 3 are provers (key 2 with a much larger stake, so it is drawn for
/// nearly every slot), with 1 ETH each in the ledger for message fees.
fn net() -> Net {
    net_with(proving())
}

fn net_with(proving: ProvingParams) -> Net {
    net_of(proving, 1, &[(2, 1_000_000), (3, 1)])
}

/// `provers`: (key index, stake in ETH), each with 1 ETH in the ledger for message fees.
fn net_of(proving: ProvingParams, provers_per_slot: u64, provers: &[(usize, u128)]) -> Net {
    let keys = parley_app::dev_accounts(6).expect("dev keys");
    let params = Params {
        chain_id: CHAIN_ID,
        protocol: ProtocolParams {
            max_diff_entries: CAPACITY as u64 * proving.max_chunks,
            provers_per_slot,
            proving: Some(proving),
            ..ProtocolParams::default()
        },
        ..Params::default()
    };
    let mut g = AppGenesis::funded(params, keys.iter().map(|k| k.address()), eth(1_000));
    let at = |i: usize| keys[i].address();
    g.ledger = provers
        .iter()
        .map(|(i, _)| GenesisLedger {
            address: at(*i),
            balance: eth(1),
        })
        .collect();
    g.provers = provers
        .iter()
        .map(|(i, stake)| GenesisBond {
            address: at(*i),
            amount: eth(*stake),
        })
        .collect();
    let app_state = serde_json::to_vec(&g).expect("json");
    Net::with_genesis(2, keys, &app_state)
}

fn chain(net: &Net) -> ProofChain {
    let b = net
        .reader()
        .app_entry(&StateKey::ProofChain)
        .expect("read")
        .expect("proving is on");
    ProofChain::decode(&b).expect("decodes")
}

fn proof_slot(net: &Net, s: u64) -> Option<ProofSlot> {
    net.reader()
        .app_entry(&StateKey::ProofSlot(s))
        .expect("read")
        .map(|b| ProofSlot::decode(&b).expect("decodes"))
}

fn safe(net: &Net) -> u64 {
    let r = net.reader();
    let latest = r.meta().expect("meta").last_block_number;
    parley_app::chain::proving::proven_block(&r, latest)
        .expect("read")
        .expect("proving is on")
}

fn assigned(net: &Net, s: u64) -> Vec<Address> {
    net.reader()
        .app_entry(&StateKey::Assignment(s))
        .expect("read")
        .map(|b| {
            parley_types::Assignment::decode(&b)
                .expect("decodes")
                .provers
                .into_iter()
                .map(|(a, _)| a)
                .collect()
        })
        .unwrap_or_default()
}

/// What a prover keeps: its own proof tree, replayed from the genesis diff through every
/// block's diff in order (what a node serving provers will maintain in the background).
struct Witnesses {
    tree: ProofTree,
    next_block: u64,
}

impl Witnesses {
    fn new(net: &Net) -> Self {
        let mut tree = ProofTree::new();
        let genesis = net.reader().diff(0).expect("read").expect("genesis diff");
        tree.apply_diff_batch(&genesis).expect("genesis applies");
        Self {
            tree,
            next_block: 1,
        }
    }

    /// The witness of slot `s` (one chunk) for `prover`; the tree catches up to block
    /// `s − 1` first.
    fn witness(&mut self, net: &Net, s: u64, prover: Address) -> BlockWitness {
        let mut w = self.chunk_witnesses(net, s, prover);
        assert_eq!(w.len(), 1, "slot {s} has one chunk");
        w.remove(0)
    }

    /// The witnesses of every chunk of slot `s` for `prover`, in chunk order: the diff cut
    /// every [`CAPACITY`] entries, each chunk starting at the root the one before ends at.
    fn chunk_witnesses(&mut self, net: &Net, s: u64, prover: Address) -> Vec<BlockWitness> {
        let r = net.reader();
        while self.next_block < s {
            let d = r.diff(self.next_block).expect("read").expect("diff");
            self.tree.apply_diff_batch(&d).expect("applies");
            self.next_block += 1;
        }
        let entry = proof_slot(net, s).expect("slot awaits a proof");
        let diff = r.diff(entry.block_number).expect("read").expect("diff");
        let out = (0..entry.chunks)
            .map(|c| {
                let header = BlockHeader {
                    chain_id: CHAIN_ID,
                    slot: s,
                    chunk_index: c,
                    chunk_count: entry.chunks,
                    block_commitment: entry.commitment,
                    prover_address: prover,
                };
                let part = diff.chunk(u64::from(c), CAPACITY as u64);
                BlockWitness::build(&mut self.tree, header, &part, CAPACITY).expect("witness")
            })
            .collect();
        self.next_block = s + 1;
        out
    }
}

fn proof_action(w: &BlockWitness) -> Action {
    let proof = prover_keys().prove(w).expect("proves");
    Action::Proof {
        slot: w.public.header.slot,
        chunk: w.public.header.chunk_index,
        pre_root: fr_to_b256(&w.public.pre_root),
        post_root: fr_to_b256(&w.public.post_root),
        proof: Bytes::from(proof.bytes),
    }
}

fn send(net: &mut Net, key: &PrivateKeySigner, nonce: u64, a: &Action) {
    net.submit(Bytes::from(msg::sign(key, CHAIN_ID, nonce, a)))
        .unwrap_or_else(|e| panic!("refused at CheckTx: {e}"));
}

/// The FinalizeBlock result of the only message of the last height.
fn only_result(net: &Net) -> (u32, String) {
    assert_eq!(net.last_results.len(), 2, "one message and the L2 block");
    net.last_results[0].clone()
}

/// Proofs of two slots arrive in reverse order: the later one is recorded and waits; the
/// earlier one chains from the genesis proof root and both are proven in the same height,
/// the proven root being the prover's own tree root. An empty slot needs no proof. The
/// on-time assigned prover is paid its fee share, value is conserved, and the nodes agree.
#[test]
fn proofs_chain_in_any_order_from_the_genesis_root() {
    let mut net = net();
    let [user, p] = [0, 2].map(|i| net.keys[i].clone());
    let everyone: Vec<Address> = net.keys.iter().map(|k| k.address()).collect();
    let holders: Vec<Address> = everyone
        .iter()
        .copied()
        .chain([0xf0, 0xf1].map(Address::repeat_byte))
        .chain([Address::repeat_byte(0x51), Address::repeat_byte(0x52)])
        .collect();
    let total = total_value(&net, &holders);
    let genesis_root = chain(&net).proven_root;
    // Slots 10 and 12 carry a transfer each (after the first draws, so both are assigned);
    // the heights between execute empty blocks.
    while net.height < 9 {
        net.step();
    }
    net.transfer(&user, 0, Address::repeat_byte(0x51), 7);
    net.step();
    net.step();
    net.transfer(&user, 1, Address::repeat_byte(0x52), 8);
    net.step();
    let (s1, s2) = (10, 12);
    assert!(
        proof_slot(&net, 11).is_none(),
        "an empty slot needs no proof"
    );
    let c = chain(&net);
    assert_eq!((c.head, c.tail, c.unproven), (s1, s2, 2));
    assert_eq!(c.proven_root, genesis_root);
    for s in [s1, s2] {
        assert_eq!(assigned(&net, s), vec![p.address()], "slot {s}'s draw");
    }

    let mut w = Witnesses::new(&net);
    assert_eq!(
        w.tree.root(),
        parley_proofs::encoding::fr_from_b256(&genesis_root).expect("fr")
    );
    let w1 = w.witness(&net, s1, p.address());
    let w2 = w.witness(&net, s2, p.address());
    let (a1, a2) = (proof_action(&w1), proof_action(&w2));

    // A proof for the empty slot is refused before anything changes.
    let Action::Proof {
        pre_root,
        post_root,
        proof,
        ..
    } = a1.clone()
    else {
        unreachable!()
    };
    let empty = Action::Proof {
        slot: 11,
        chunk: 0,
        pre_root,
        post_root,
        proof,
    };
    let refused = net.nodes[0]
        .app
        .check(&msg::sign(&p, CHAIN_ID, 0, &empty), false)
        .expect("check");
    assert_eq!(refused.expect_err("no proof due").code, 67);

    let before = ledger(&net, p.address()).balance;
    send(&mut net, &p, 0, &a2);
    net.step();
    assert_eq!(only_result(&net), (0, String::new()));
    let c = chain(&net);
    assert_eq!(
        (c.head, c.unproven),
        (s1, 2),
        "the later slot waits for the earlier"
    );
    assert_eq!(proof_slot(&net, s2).expect("slot").transitions.len(), 1);
    assert_eq!(
        safe(&net),
        s1 - 1,
        "JSON-RPC `safe`: the block before the oldest unproven"
    );

    send(&mut net, &p, 1, &a1);
    net.step();
    assert_eq!(only_result(&net), (0, String::new()));
    let c = chain(&net);
    assert_eq!(
        c,
        ProofChain {
            proven_slot: s2,
            proven_root: fr_to_b256(&w.tree.root()),
            head: 0,
            tail: 0,
            unproven: 0,
        }
    );
    assert!(proof_slot(&net, s1).expect("slot").proven);
    assert_eq!(
        safe(&net),
        net.height,
        "nothing awaits a proof: `safe` is the latest"
    );
    // Paid: the fee shares of both slots, less the two message fees.
    let shares = proof_slot(&net, s1).expect("slot").fee_share
        + proof_slot(&net, s2).expect("slot").fee_share;
    assert!(!shares.is_zero(), "transfers pay base fees");
    let fee = ProtocolParams::default().message_fee;
    assert_eq!(
        ledger(&net, p.address()).balance,
        before + shares - fee - fee
    );
    assert_eq!(total_value(&net, &holders), total, "value is conserved");

    // A second proof of a proven slot is refused.
    let again = net.nodes[0]
        .app
        .check(&msg::sign(&p, CHAIN_ID, 2, &a1), false)
        .expect("check");
    assert_eq!(again.expect_err("already proven").code, 68);
}

/// A proof claiming another post-root, a valid proof made for one prover but sent by another
/// (copied from the mempool), and bytes that are no proof at all fail verification (without
/// stopping the nodes): each sender is
/// fined `invalid_proof_fine` from its stake (burned), pays the message fee, and no transition
/// is recorded. The honest proof still proves the slot afterwards.
#[test]
fn proofs_that_do_not_verify_fine_their_sender() {
    let mut net = net();
    let [user, p, q] = [0, 2, 3].map(|i| net.keys[i].clone());
    // Slot 3: before the first draw lands, so nobody is assigned and any prover may prove.
    net.step();
    net.step();
    net.transfer(&user, 0, Address::repeat_byte(0x51), 7);
    net.step();
    let s = 3;
    assert!(assigned(&net, s).is_empty(), "slot {s} was not drawn");
    let mut w = Witnesses::new(&net);
    let honest = proof_action(&w.witness(&net, s, p.address()));

    let Action::Proof {
        slot,
        chunk,
        pre_root,
        proof,
        ..
    } = honest.clone()
    else {
        unreachable!()
    };
    let lying = Action::Proof {
        slot,
        chunk,
        pre_root,
        post_root: B256::with_last_byte(1),
        proof,
    };
    let garbage = Action::Proof {
        slot,
        chunk,
        pre_root,
        post_root: pre_root,
        proof: Bytes::from(vec![0xab; 2000]),
    };
    let burned = pot(&net).burned;
    for (key, nonce, action) in [(&p, 0, &lying), (&q, 0, &honest), (&p, 1, &garbage)] {
        let stake = prover_entry(&net, key.address()).stake;
        send(&mut net, key, nonce, action);
        net.step();
        let (code, log) = only_result(&net);
        assert_eq!(code, 70, "{log}");
        assert!(log.contains("invalid proof"), "{log}");
        assert_eq!(
            prover_entry(&net, key.address()).stake,
            stake - U256::from(FINE)
        );
        assert!(proof_slot(&net, s).expect("slot").transitions.is_empty());
        assert_eq!(
            ledger(&net, key.address()).nonce,
            nonce + 1,
            "the message was applied"
        );
    }
    assert_eq!(pot(&net).burned, burned + U256::from(3 * FINE));
    send(&mut net, &p, 2, &honest);
    net.step();
    assert_eq!(only_result(&net), (0, String::new()));
    assert_eq!(chain(&net).proven_slot, s);
}

/// A `Proof` included in the height right after its slot executed, while the background
/// `diff_hash` task is held back: FinalizeBlock computes the hash itself and verifies.
#[test]
fn a_proof_right_after_execution_does_not_wait_for_the_background_hash() {
    let mut net = net();
    let [user, p] = [0, 2].map(|i| net.keys[i].clone());
    for n in &net.nodes {
        n.app
            .verifier()
            .expect("proving is on")
            .pause_background(true);
    }
    net.step();
    net.transfer(&user, 0, Address::repeat_byte(0x51), 7);
    net.step();
    let s = 2;
    let number = proof_slot(&net, s).expect("awaits a proof").block_number;
    for n in &net.nodes {
        assert!(!n.app.verifier().expect("on").has_diff_hash(number));
    }
    let mut w = Witnesses::new(&net);
    let action = proof_action(&w.witness(&net, s, p.address()));
    send(&mut net, &p, 0, &action);
    net.step();
    assert_eq!(only_result(&net), (0, String::new()));
    assert_eq!(chain(&net).proven_slot, s);
    for n in &net.nodes {
        n.app.verifier().expect("on").pause_background(false);
    }
}

/// The circuit and its trusted setup are consensus: a genesis pinning a vk this node's circuit does not hash to, or a setup it is not configured with, stops
/// InitChain (and so the node), and the proving parameters are validated like the others.
#[test]
fn a_genesis_pinning_another_circuit_or_bad_proving_params_is_refused() {
    let keys = parley_app::dev_accounts(1).expect("keys");
    let with = |p: ProvingParams, max_diff_entries: u64| {
        let params = Params {
            chain_id: CHAIN_ID,
            protocol: ProtocolParams {
                max_diff_entries,
                proving: Some(p),
                ..ProtocolParams::default()
            },
            ..Params::default()
        };
        let g = AppGenesis::funded(params, keys.iter().map(|k| k.address()), eth(1));
        let node = common::Node::open(tempfile::tempdir().expect("tempdir"), Address::ZERO);
        node.app
            .init_chain(&serde_json::to_vec(&g).expect("json"), 1)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let cap = CAPACITY as u64;
    assert_eq!(with(proving(), cap), Ok(()));
    let other = ProvingParams {
        block_vk_hash: B256::repeat_byte(7),
        ..proving()
    };
    let err = with(other, cap).expect_err("another circuit");
    assert!(err.contains("genesis pins"), "{err}");
    // This process checks with the development setup: a genesis pinning a ceremony stops it
    // before any proof is taken as valid, and a ceremony outside 1..=28 is malformed.
    let ceremony = ProvingParams {
        srs: SrsPin::Ceremony {
            hash: B256::repeat_byte(3),
            k: 22,
        },
        ..proving()
    };
    let err = with(ceremony, cap).expect_err("a ceremony this node does not have");
    assert!(err.contains("configured with srs = \"dev\""), "{err}");
    let huge = ProvingParams {
        srs: SrsPin::Ceremony {
            hash: B256::repeat_byte(3),
            k: 40,
        },
        ..proving()
    };
    let err = with(huge, cap).expect_err("k past 28");
    assert!(
        err.contains("params.protocol.proving.srs.ceremony.k"),
        "{err}"
    );
    // max_diff_entries must fit max_chunks chunks of block_capacity entries.
    let err = with(proving(), cap + 1).expect_err("one chunk below max_diff_entries");
    assert!(err.contains("params.protocol.proving.max_chunks"), "{err}");
    let three = ProvingParams {
        max_chunks: 3,
        ..proving()
    };
    assert_eq!(with(three.clone(), 3 * cap), Ok(()));
    let err = with(three, 3 * cap + 1).expect_err("three chunks below max_diff_entries");
    assert!(err.contains("params.protocol.proving.max_chunks"), "{err}");
    for bad in [0, 65] {
        let p = ProvingParams {
            max_chunks: bad,
            ..proving()
        };
        let err = with(p, cap).expect_err("max_chunks outside 1..=64");
        assert!(err.contains("params.protocol.proving.max_chunks"), "{err}");
    }
    // Index bits (ADR 0021): 8..=32; the block circuit is another one (its pin) at 24.
    for bad in [0, 7, 33] {
        let p = ProvingParams {
            proof_index_bits: bad,
            ..proving()
        };
        let err = with(p, cap).expect_err("index bits outside 8..=32");
        assert!(
            err.contains("params.protocol.proving.proof_index_bits"),
            "{err}"
        );
    }
    let narrower = ProvingParams {
        proof_index_bits: parley_proofs::DEFAULT_INDEX_BITS,
        ..proving()
    };
    let err = with(narrower, cap).expect_err("the 32-bit circuit's pin with 24 index bits");
    assert!(
        err.contains("24 index bits") && err.contains("genesis pins"),
        "{err}"
    );
    let short = ProvingParams {
        proof_window: 1,
        ..proving()
    };
    let err = with(short, cap).expect_err("window below min_penalty_window");
    assert!(
        err.contains("params.protocol.proving.proof_window"),
        "{err}"
    );
}

/// Backpressure (DESIGN §3.13): with `max_unproven_slots = 2` and two transfer slots
/// unproven, the next slots execute no transactions and `Fund` is refused; the transfer stays
/// pending (no receipt) and executes in the first slot after a proof releases the hold.
#[test]
fn backpressure_holds_transactions_until_proofs_catch_up() {
    let mut net = net();
    let [user, p] = [0, 2].map(|i| net.keys[i].clone());
    while net.height < 9 {
        net.step();
    }
    net.transfer(&user, 0, Address::repeat_byte(0x51), 1);
    net.step();
    net.transfer(&user, 1, Address::repeat_byte(0x52), 2);
    net.step();
    assert_eq!(chain(&net).unproven, 2);
    let held = net.transfer(&user, 2, Address::repeat_byte(0x53), 3);
    for _ in 0..3 {
        net.step();
        assert!(
            net.receipt(held).is_none(),
            "held while two slots await proofs"
        );
        assert!(
            proof_slot(&net, net.height).is_none(),
            "a held slot needs no proof"
        );
    }
    assert_eq!(
        chain(&net).unproven,
        2,
        "the hold keeps the count at the limit"
    );
    let fund = net.nodes[0]
        .app
        .check(
            &msg::sign(&p, CHAIN_ID, 0, &Action::Fund(U256::from(1))),
            false,
        )
        .expect("check");
    assert_eq!(fund.expect_err("EVM state is frozen").code, 71);
    // The oldest slot's proof releases the hold in its own height: the pending transfer
    // executes in the block of the height that includes the proof.
    let mut w = Witnesses::new(&net);
    let a = proof_action(&w.witness(&net, 10, p.address()));
    send(&mut net, &p, 0, &a);
    net.step();
    assert_eq!(chain(&net).proven_slot, 10);
    let receipt = net.receipt(held).expect("executed once released");
    assert!(receipt.success);
    assert_eq!(net.balance(Address::repeat_byte(0x53)), U256::from(3));
    assert_eq!(chain(&net).unproven, 2, "slot 11 and the released slot");
}

/// An epoch holds at most `agg_capacity` slots that need a proof (ADR 0015 part 4): with
/// epochs of 4 slots and a capacity of 1, a transfer's slot fills its epoch; a second transfer
/// waits through the epoch's remaining slots (no receipt, no slot needing a proof, `Fund`
/// refused with the backpressure code) and executes in the next epoch's first slot.
#[test]
fn a_full_epoch_holds_transactions_until_the_next_epoch() {
    use parley_app::chain::aggregation;
    use parley_app::chain::genesis::AggregationParams;
    use parley_app::chain::overlay::Overlay;
    let agg = AggregationParams {
        epoch_slots: 4,
        agg_capacity: 1,
        agg_k: 20,
        // Never used: no Aggregate is sent (the harness builds the epoch verifier only for one).
        agg_vk_hash: B256::ZERO,
        agg_window: 6,
        agg_share_bps: 1_000,
        l1_proof: None,
        tree: None,
    };
    let mut net = net_with(ProvingParams {
        max_unproven_slots: 8,
        aggregation: Some(agg.clone()),
        ..proving()
    });
    let p = net.nodes[0].app.params().expect("initialised");
    let [user, prover] = [0, 2].map(|i| net.keys[i].clone());
    let full = |net: &Net, slot: u64| {
        aggregation::epoch_full(&mut Overlay::new(&net.reader()), &p, slot).expect("reads")
    };
    // Epoch 2 is slots 9..=12, epoch 3 is 13..=16.
    while net.height < 9 {
        net.step();
    }
    assert!(!full(&net, 10));
    let first = net.transfer(&user, 0, Address::repeat_byte(0x61), 1);
    net.step();
    assert_eq!(net.height, 10);
    assert!(net.receipt(first).expect("executed").success);
    assert!(proof_slot(&net, 10).is_some(), "slot 10 needs a proof");
    assert!(full(&net, 11), "one slot of capacity 1: the epoch is full");
    let held = net.transfer(&user, 1, Address::repeat_byte(0x62), 2);
    let fund = net.nodes[0]
        .app
        .check(
            &msg::sign(&prover, CHAIN_ID, 0, &Action::Fund(U256::from(1))),
            false,
        )
        .expect("check");
    assert_eq!(fund.expect_err("EVM state is frozen").code, 71);
    for slot in 11..=12 {
        net.step();
        assert_eq!(net.height, slot);
        assert!(
            net.receipt(held).is_none(),
            "held in slot {slot} of a full epoch"
        );
        assert!(
            proof_slot(&net, slot).is_none(),
            "a held slot needs no proof"
        );
    }
    assert_eq!(chain(&net).unproven, 1, "only slot 10 awaits a proof");
    assert!(!full(&net, 13), "the next epoch starts empty");
    net.step();
    assert_eq!(net.height, 13);
    assert!(
        net.receipt(held)
            .expect("executed in the next epoch")
            .success
    );
    assert!(proof_slot(&net, 13).is_some());
    assert_eq!(net.balance(Address::repeat_byte(0x62)), U256::from(2));
    assert!(full(&net, 14));
}

/// A block's diff fits the chunks its epoch has left (ADR 0016): with epochs of 4 slots, an
/// aggregation capacity of 3 proofs and circuits of 6 entries (up to 3 chunks a block), a
/// slot of four transfers takes 2 chunks; the next slot may then write one chunk's worth (6
/// entries), so of five more transfers only those that fit execute, the slot needs one proof,
/// the epoch is full, and the rest execute in the next epoch.
#[test]
fn a_blocks_diff_fits_the_chunks_its_epoch_has_left() {
    use parley_app::chain::aggregation;
    use parley_app::chain::genesis::AggregationParams;
    use parley_app::chain::overlay::Overlay;
    let agg = AggregationParams {
        epoch_slots: 4,
        agg_capacity: 3,
        agg_k: 20,
        // Never used: no Aggregate is sent.
        agg_vk_hash: B256::ZERO,
        agg_window: 6,
        agg_share_bps: 1_000,
        l1_proof: None,
        tree: None,
    };
    let mut net = net_of(
        ProvingParams {
            max_unproven_slots: 8,
            max_chunks: 3,
            aggregation: Some(agg),
            ..proving()
        },
        1,
        &[(2, 1_000_000), (3, 1)],
    );
    let p = net.nodes[0].app.params().expect("initialised");
    let room = |net: &Net, slot: u64| {
        aggregation::diff_room(&mut Overlay::new(&net.reader()), &p, slot).expect("reads")
    };
    let entries = |net: &Net, n: u64| net.reader().diff(n).expect("read").expect("diff").0.len();
    // Epoch 2 is slots 9..=12, epoch 3 is 13..=16.
    step_to(&mut net, 9);
    assert_eq!(room(&net, 10), 3 * CAPACITY as u64);
    let senders: Vec<PrivateKeySigner> = [0, 1, 4, 5].map(|i| net.keys[i].clone()).into();
    for (i, k) in senders.iter().enumerate() {
        net.transfer(k, 0, Address::repeat_byte(0x70 + i as u8), 1);
    }
    net.step();
    let first = entries(&net, 10);
    assert!(
        (CAPACITY + 1..=2 * CAPACITY).contains(&first),
        "four transfers write {first} entries"
    );
    assert_eq!(proof_slot(&net, 10).expect("needs a proof").chunks, 2);
    assert_eq!(room(&net, 11), CAPACITY as u64, "one chunk left");

    let mut later: Vec<B256> = senders
        .iter()
        .enumerate()
        .map(|(i, k)| net.transfer(k, 1, Address::repeat_byte(0x74 + i as u8), 1))
        .collect();
    later.push(net.transfer(&net.keys[3].clone(), 0, Address::repeat_byte(0x78), 1));
    net.step();
    let second = entries(&net, 11);
    assert!(
        (1..=CAPACITY).contains(&second),
        "slot 11 wrote {second} entries, more than its epoch has room for"
    );
    assert_eq!(proof_slot(&net, 11).expect("needs a proof").chunks, 1);
    let done = later.iter().filter(|h| net.receipt(**h).is_some()).count();
    assert!(
        done >= 1 && done < later.len(),
        "{done} of five transfers executed in slot 11: five need more than 6 entries"
    );
    assert!(
        aggregation::epoch_full(&mut Overlay::new(&net.reader()), &p, 12).expect("reads"),
        "3 chunks of capacity 3: the epoch is full"
    );
    step_to(&mut net, 13);
    assert!(
        later
            .iter()
            .all(|h| net.receipt(*h).is_some_and(|r| r.success)),
        "the rest executed in the next epoch"
    );
    assert!(entries(&net, 13) <= 3 * CAPACITY);
}

async fn rpc<T: serde::de::DeserializeOwned>(
    c: &jsonrpsee::http_client::HttpClient,
    method: &str,
    params: jsonrpsee::core::params::ArrayParams,
) -> T {
    use jsonrpsee::core::client::ClientT;
    c.request(method, params)
        .await
        .unwrap_or_else(|e| panic!("{method}: {e}"))
}

/// What JSON-RPC says about proving, over a real HTTP server: `parley_getProofChain`,
/// `parley_getProofSlot`, the `safe` block tag, and a transaction's stage moving from
/// `sequenced` to `proven` once its slot's proof chains.
#[tokio::test(flavor = "multi_thread")]
async fn json_rpc_reports_proving() {
    use jsonrpsee::rpc_params;
    use serde_json::Value;
    let mut net = net();
    let [user, p] = [0, 2].map(|i| net.keys[i].clone());
    while net.height < 9 {
        net.step();
    }
    let tx = net.transfer(&user, 0, Address::repeat_byte(0x51), 1);
    net.step();
    net.step();
    let (addr, handle) = parley_app::rpc::serve(
        net.nodes[0].app.clone(),
        ([127, 0, 0, 1], 0).into(),
        "http://127.0.0.1:9",
        Default::default(),
    )
    .await
    .expect("serves");
    let c = jsonrpsee::http_client::HttpClientBuilder::default()
        .build(format!("http://{addr}"))
        .expect("client");
    let pc: Value = rpc(&c, "parley_getProofChain", rpc_params![]).await;
    assert_eq!(pc["oldestUnproven"], "0xa", "{pc}");
    assert_eq!(pc["unproven"], "0x1", "{pc}");
    assert_eq!(pc["provenBlock"], "0x9", "{pc}");
    assert_eq!(pc["backpressure"], false, "{pc}");
    let safe: Value = rpc(&c, "eth_getBlockByNumber", rpc_params!["safe", false]).await;
    assert_eq!(
        safe["number"], "0x9",
        "`safe` stops before the unproven slot"
    );
    let stage: Value = rpc(&c, "parley_getTransactionStage", rpc_params![tx]).await;
    assert_eq!(stage["stage"], "sequenced", "{stage}");

    let mut w = Witnesses::new(&net);
    let a = proof_action(&w.witness(&net, 10, p.address()));
    send(&mut net, &p, 0, &a);
    net.step();
    let stage: Value = rpc(&c, "parley_getTransactionStage", rpc_params![tx]).await;
    assert_eq!(stage["stage"], "proven", "{stage}");
    let slot: Value = rpc(&c, "parley_getProofSlot", rpc_params!["0xa"]).await;
    assert_eq!(slot["proven"], true, "{slot}");
    assert_eq!(
        slot["transitions"][0]["prover"]
            .as_str()
            .map(str::to_lowercase),
        Some(p.address().to_string().to_lowercase()),
        "{slot}"
    );
    let safe: Value = rpc(&c, "eth_getBlockByNumber", rpc_params!["safe", false]).await;
    let latest: Value = rpc(&c, "eth_getBlockByNumber", rpc_params!["latest", false]).await;
    assert_eq!(safe["number"], latest["number"]);
    handle.stop().expect("stops");
}

/// Slots 10, 11 and 13 carry a transfer each (12 is empty); the same history on every fresh
/// net, so proofs made once are valid on each. The proof window outlasts every run of the
/// property test (the fallback after it has tests of its own).
const HISTORY: [u64; 3] = [10, 11, 13];

fn history() -> Net {
    let mut net = net_with(ProvingParams {
        max_unproven_slots: 8,
        proof_window: 64,
        ..proving()
    });
    let user = net.keys[0].clone();
    let mut nonce = 0;
    while net.height < 13 {
        if HISTORY.contains(&(net.height + 1)) {
            net.transfer(&user, nonce, Address::repeat_byte(0x60 + nonce as u8), 1);
            nonce += 1;
        }
        net.step();
    }
    net
}

/// The three slots' proofs by key 2, and the proof root after each slot.
fn history_proofs() -> &'static (Vec<Action>, Vec<B256>) {
    static PROOFS: OnceLock<(Vec<Action>, Vec<B256>)> = OnceLock::new();
    PROOFS.get_or_init(|| {
        let net = history();
        let p = net.keys[2].address();
        let mut w = Witnesses::new(&net);
        let mut actions = Vec::new();
        let mut roots = Vec::new();
        for s in HISTORY {
            assert_eq!(assigned(&net, s), vec![p], "slot {s}'s draw");
            let wit = w.witness(&net, s, p);
            roots.push(fr_to_b256(&wit.public.post_root));
            actions.push(proof_action(&wit));
        }
        (actions, roots)
    })
}

#[derive(Debug, Clone)]
enum Op {
    /// Key 2 sends slot `i`'s valid proof.
    Valid(usize),
    /// Key 2 (`false`) or key 3 (`true`) sends slot `i`'s proof with its bytes damaged.
    Damaged(usize, bool),
    /// Key 3 sends key 2's proof of slot `i` as its own.
    Copied(usize),
    /// A height with no message.
    Step,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..3usize).prop_map(Op::Valid),
        1 => (0..3usize, any::<bool>()).prop_map(|(i, q)| Op::Damaged(i, q)),
        1 => (0..3usize).prop_map(Op::Copied),
        1 => Just(Op::Step),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Proofs in random order, mixed with damaged and copied ones: value is conserved after
    /// every height; proven state only moves forward, through a prefix of the slots, to the
    /// root its prover computed; the unproven count matches; a damaged or copied proof always
    /// fines its sender and records nothing; and once every valid proof is in, every slot is
    /// proven and the prover was paid each slot's fee share exactly once.
    #[test]
    fn proving_keeps_value_and_moves_forward_in_any_order(ops in proptest::collection::vec(op(), 1..10)) {
        let (proofs, roots) = history_proofs();
        let mut net = history();
        let [p, q] = [2, 3].map(|i| net.keys[i].clone());
        let holders: Vec<Address> = net
            .keys
            .iter()
            .map(|k| k.address())
            .chain([0xf0, 0xf1, 0x60, 0x61, 0x62].map(Address::repeat_byte))
            .collect();
        let total = total_value(&net, &holders);
        let shares: U256 = HISTORY
            .iter()
            .map(|s| proof_slot(&net, *s).expect("awaits").fee_share)
            .sum();
        let mut paid_fees = U256::ZERO;
        let p_start = ledger(&net, p.address()).balance;
        let mut sent = [false; 3];
        let all = ops.iter().cloned().chain((0..3).map(Op::Valid));
        for o in all {
            let (key, action, valid) = match &o {
                Op::Valid(i) => (&p, proofs[*i].clone(), true),
                Op::Damaged(i, by_q) => {
                    let Action::Proof { slot, chunk, pre_root, post_root, proof } = proofs[*i].clone() else {
                        unreachable!()
                    };
                    let mut bytes = proof.to_vec();
                    bytes[100] ^= 1;
                    let a = Action::Proof { slot, chunk, pre_root, post_root, proof: bytes.into() };
                    (if *by_q { &q } else { &p }, a, false)
                }
                Op::Copied(i) => (&q, proofs[*i].clone(), false),
                Op::Step => {
                    net.step();
                    continue;
                }
            };
            let before = chain(&net);
            let stake = prover_entry(&net, key.address()).stake;
            let nonce = ledger(&net, key.address()).nonce;
            let raw = Bytes::from(msg::sign(key, CHAIN_ID, nonce, &action));
            let slot = match &action { Action::Proof { slot, .. } => *slot, _ => unreachable!() };
            let i = HISTORY.iter().position(|s| *s == slot).expect("a history slot");
            match net.submit(raw) {
                Ok(_) => {}
                Err(e) => {
                    // Refused at CheckTx only for a slot already proven, a second transition
                    // of the same prover, or key 3 within a window key 2 was drawn for;
                    // nothing else may refuse it.
                    let entry = proof_slot(&net, slot).expect("slot");
                    prop_assert!(net.height < entry.window_end, "the window outlasts the run");
                    prop_assert!(
                        (entry.proven && e.contains("already proven"))
                            || (!entry.proven && e.contains("already has a transition"))
                            || (!entry.proven
                                && key.address() == q.address()
                                && e.contains("not a prover assigned")),
                        "{o:?}: {e}"
                    );
                    continue;
                }
            }
            let fee = ProtocolParams::default().message_fee;
            let balance = ledger(&net, key.address()).balance;
            net.step();
            let (code, log) = only_result(&net);
            let after = chain(&net);
            if valid {
                prop_assert_eq!(code, 0, "{:?}: {}", o, log);
                sent[i] = true;
                // Paid for every slot this proof proved (its own and the waiting ones).
                let newly: U256 = HISTORY
                    .iter()
                    .filter(|s| **s > before.proven_slot && **s <= after.proven_slot)
                    .map(|s| proof_slot(&net, *s).expect("slot").fee_share)
                    .sum();
                paid_fees += newly;
                prop_assert_eq!(ledger(&net, key.address()).balance, balance - fee + newly);
            } else {
                prop_assert_eq!(code, 70, "{:?}: {}", o, log);
                prop_assert_eq!(prover_entry(&net, key.address()).stake, stake - U256::from(FINE));
                prop_assert_eq!(after, before, "an invalid proof moves nothing");
            }
            prop_assert_eq!(total_value(&net, &holders), total, "value conserved after {:?}", o);
            // Proven state: a prefix of the slots, in order, at the prover's own root.
            let proven = sent.iter().take_while(|x| **x).count();
            prop_assert_eq!(after.unproven, (3 - proven) as u64);
            if proven == 0 {
                prop_assert_eq!(after.proven_slot, 0);
            } else {
                prop_assert_eq!(after.proven_slot, HISTORY[proven - 1]);
                prop_assert_eq!(after.proven_root, roots[proven - 1]);
            }
        }
        prop_assert_eq!(chain(&net).unproven, 0);
        prop_assert_eq!(paid_fees, shares, "every slot's fee share paid, once");
        let fees_paid = U256::from(ledger(&net, p.address()).nonce) * ProtocolParams::default().message_fee;
        prop_assert_eq!(ledger(&net, p.address()).balance, p_start + paid_fees - fees_paid);
    }
}

/// The witness service of a node that serves provers: its background proof tree follows the
/// committed blocks, its witness of each slot awaiting a proof is byte for byte the one a
/// prover's own tree gives, a proof made from it chains on the nodes, and the witnesses of
/// proven slots are dropped.
#[test]
fn the_witness_service_serves_what_a_prover_needs() {
    let mut net = net_with(ProvingParams {
        max_unproven_slots: 8,
        ..proving()
    });
    let p = net.keys[2].clone();
    let service = parley_app::witness::WitnessService::start(
        net.nodes[0].app.store().clone(),
        CHAIN_ID,
        proving(),
        net.nodes[0].app.subscribe(),
    );
    let user = net.keys[0].clone();
    let mut nonce = 0;
    while net.height < 13 {
        if HISTORY.contains(&(net.height + 1)) {
            net.transfer(&user, nonce, Address::repeat_byte(0x60 + nonce as u8), 1);
            nonce += 1;
        }
        net.step();
    }
    let wait = |service: &parley_app::witness::WitnessService, n: u64| {
        for _ in 0..200 {
            if service.progress().applied_through >= Some(n) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!(
            "witness service stuck at {:?} ({:?})",
            service.progress(),
            service.failed()
        );
    };
    wait(&service, net.height);
    let mut own = Witnesses::new(&net);
    for s in HISTORY {
        let served = service
            .witness(s, 0)
            .expect("a witness for every unproven slot");
        assert_eq!(
            served,
            own.witness(&net, s, Address::ZERO).encode(),
            "slot {s}: the served witness is the prover's own"
        );
    }
    assert!(
        service.witness(12, 0).is_none(),
        "an empty slot needs no witness"
    );
    let progress = service.progress();
    assert!(progress.leaves > 0 && progress.seconds > 0.0);

    let w = BlockWitness::decode(&service.witness(10, 0).expect("served"))
        .expect("decodes")
        .for_prover(p.address());
    send(&mut net, &p, 0, &proof_action(&w));
    net.step();
    assert_eq!(only_result(&net), (0, String::new()));
    assert_eq!(chain(&net).proven_slot, 10);
    wait(&service, net.height);
    assert!(
        service.witness(10, 0).is_none(),
        "a proven slot's witness is dropped"
    );
    assert!(service.witness(11, 0).is_some());
}

// ---- The permissionless fallback (DESIGN §3.9) ----

/// Keys 2 (1,000,000 ETH: drawn for nearly every slot), 3 (1 ETH) and 4 (3 ETH) are provers.
fn fallback_net(provers_per_slot: u64, fallback: FallbackParams) -> Net {
    net_of(
        ProvingParams {
            fallback,
            ..proving()
        },
        provers_per_slot,
        &[(2, 1_000_000), (3, 1), (4, 3)],
    )
}

/// Everyone who can hold value in these tests' EVM state.
fn holders(net: &Net) -> Vec<Address> {
    net.keys
        .iter()
        .map(|k| k.address())
        .chain([0xf0, 0xf1, 0x51].map(Address::repeat_byte))
        .collect()
}

fn step_to(net: &mut Net, h: u64) {
    while net.height < h {
        net.step();
    }
}

/// A transfer executes in slot 10; its window ends at 16, so the first fallback round
/// takes commits at 17 and 18 and reveals at 19 ..= 24.
fn slot_10_with_a_transfer(net: &mut Net) -> u64 {
    let user = net.keys[0].clone();
    step_to(net, 9);
    net.transfer(&user, 0, Address::repeat_byte(0x51), 7);
    net.step();
    assert!(proof_slot(net, 10).is_some(), "slot 10 awaits a proof");
    10
}

fn proof_parts(a: &Action) -> (u64, u32, B256, B256, Bytes) {
    let Action::Proof {
        slot,
        chunk,
        pre_root,
        post_root,
        proof,
    } = a.clone()
    else {
        unreachable!("a Proof")
    };
    (slot, chunk, pre_root, post_root, proof)
}

fn commit(a: &Action, who: Address) -> Action {
    let (slot, chunk, _, _, proof) = proof_parts(a);
    Action::CommitProof {
        slot,
        chunk,
        hash: parley_app::chain::proving::commit_hash(&proof, who),
    }
}

fn reveal(a: &Action) -> Action {
    let (slot, chunk, pre_root, post_root, proof) = proof_parts(a);
    Action::RevealProof {
        slot,
        chunk,
        pre_root,
        post_root,
        proof,
    }
}

/// CheckTx's verdict on `a` from `key` at `nonce`: 0 or the refusal's code.
fn check_code(net: &Net, key: &PrivateKeySigner, nonce: u64, a: &Action) -> u32 {
    net.nodes[0]
        .app
        .check(&msg::sign(key, CHAIN_ID, nonce, a), false)
        .expect("check")
        .map_or_else(|e| e.code, |_| 0)
}

/// The FinalizeBlock results of the last height's messages (the L2 block's left out).
fn message_results(net: &Net) -> Vec<(u32, String)> {
    let r = &net.last_results;
    r[..r.len() - 1].to_vec()
}

/// The assigned prover (key 2) sends nothing. Its window ends and a fallback round opens;
/// before that a commit is refused, after it its own late `Proof` is. Keys 3 (1 ETH) and 4
/// (3 ETH) commit, a reveal in the commit phase is refused, both reveal valid proofs made for
/// their own addresses, and the slot is proven when the round closes: the fee share, the
/// unburned half of key 2's `slash_missed` and the bounty go 1 : 3 to keys 3 and 4; key 2
/// loses `slash_missed` and half its reputation when its window ends (once, not again at
/// settlement); value is conserved.
#[test]
fn a_missed_window_opens_the_fallback_and_its_provers_share_by_stake() {
    let mut net = fallback_net(1, fallback());
    let [a, q3, q4] = [2, 3, 4].map(|i| net.keys[i].clone());
    let everyone = holders(&net);
    let total = total_value(&net, &everyone);
    let s = slot_10_with_a_transfer(&mut net);
    assert_eq!(assigned(&net, s), vec![a.address()]);
    let p3 = proof_action(&Witnesses::new(&net).witness(&net, s, q3.address()));
    let p4 = proof_action(&Witnesses::new(&net).witness(&net, s, q4.address()));

    step_to(&mut net, 15);
    assert_eq!(
        check_code(&net, &q3, 0, &commit(&p3, q3.address())),
        73,
        "no round before the window's end"
    );
    let (stake, burned) = (prover_entry(&net, a.address()).stake, pot(&net).burned);
    step_to(&mut net, 16);
    let e = proof_slot(&net, s).expect("slot");
    assert_eq!((e.round, e.round_end), (1, 24));
    // Penalized when the window ended, before anyone proves the slot.
    assert_eq!(
        prover_entry(&net, a.address()).stake,
        stake - U256::from(SLASH)
    );
    assert_eq!(pot(&net).burned, burned + U256::from(SLASH / 2));
    assert_eq!(e.missed.len(), 1);
    assert_eq!(
        (e.missed[0].prover, e.missed[0].kept),
        (a.address(), U256::from(SLASH / 2))
    );
    let (_, _, pre, post, bytes) = proof_parts(&p3);
    let late = Action::Proof {
        slot: s,
        chunk: 0,
        pre_root: pre,
        post_root: post,
        proof: bytes,
    };
    assert_eq!(check_code(&net, &a, 0, &late), 72, "the window is over");

    send(&mut net, &q3, 0, &commit(&p3, q3.address()));
    send(&mut net, &q4, 0, &commit(&p4, q4.address()));
    net.step();
    assert_eq!(message_results(&net), vec![(0, String::new()); 2]);
    assert_eq!(
        check_code(&net, &q3, 1, &reveal(&p3)),
        73,
        "still the commit phase"
    );
    net.step();
    send(&mut net, &q3, 1, &reveal(&p3));
    send(&mut net, &q4, 1, &reveal(&p4));
    net.step();
    assert_eq!(message_results(&net), vec![(0, String::new()); 2]);
    let e = proof_slot(&net, s).expect("slot");
    assert_eq!(e.transitions.len(), 2);
    assert!(
        !e.proven,
        "the round's reveals are all in before it settles"
    );

    let (b3, b4) = (
        ledger(&net, q3.address()).balance,
        ledger(&net, q4.address()).balance,
    );
    let (e3, e4) = (
        earnings(&net, q3.address()).earned,
        earnings(&net, q4.address()).earned,
    );
    step_to(&mut net, 23);
    assert!(!proof_slot(&net, s).expect("slot").proven);
    net.step();
    let e = proof_slot(&net, s).expect("slot");
    assert!(e.proven, "proven when the round closes at its end");
    assert_eq!(e.round_end, 0);
    assert_eq!(chain(&net).proven_slot, s);
    let kept = U256::from(SLASH / 2);
    let pool = e.fee_share + kept;
    assert!(!e.fee_share.is_zero());
    assert_eq!(
        ledger(&net, q3.address()).balance,
        b3 + pool / U256::from(4)
    );
    assert_eq!(
        ledger(&net, q4.address()).balance,
        b4 + pool * U256::from(3) / U256::from(4)
    );
    // The earnings record follows the money: the shares as income, the slash as a fine.
    assert_eq!(
        earnings(&net, q3.address()).earned - e3,
        ledger(&net, q3.address()).balance - b3
    );
    assert_eq!(
        earnings(&net, q4.address()).earned - e4,
        ledger(&net, q4.address()).balance - b4
    );
    assert_eq!(earnings(&net, a.address()).fined, U256::from(SLASH));
    let missed = prover_entry(&net, a.address());
    assert_eq!(missed.stake, stake - U256::from(SLASH));
    assert_eq!(missed.reputation, 500_000);
    assert_eq!(pot(&net).burned, burned + U256::from(SLASH / 2));
    assert_eq!(total_value(&net, &everyone), total, "value is conserved");
}

/// Anti-theft in the fallback: key 4 commits to key 3's proof bytes under its own address (it
/// saw them earlier) and reveals them: the proof binds key 3's address, so it does not
/// verify and key 4 is fined. The absent assigned prover joins the round like anyone, commits
/// to nothing it can reveal, and its copy of key 3's reveal is refused for not matching; its
/// commit is fined when the round closes. Key 3 alone is paid.
#[test]
fn copied_fallback_proofs_earn_nothing_and_are_fined() {
    let mut net = fallback_net(1, fallback());
    let [a, q3, q4] = [2, 3, 4].map(|i| net.keys[i].clone());
    let everyone = holders(&net);
    let total = total_value(&net, &everyone);
    let s = slot_10_with_a_transfer(&mut net);
    let p3 = proof_action(&Witnesses::new(&net).witness(&net, s, q3.address()));
    let (a_stake, burned) = (prover_entry(&net, a.address()).stake, pot(&net).burned);
    step_to(&mut net, 16);
    send(&mut net, &q3, 0, &commit(&p3, q3.address()));
    send(&mut net, &q4, 0, &commit(&p3, q4.address()));
    let blind = Action::CommitProof {
        slot: s,
        chunk: 0,
        hash: B256::repeat_byte(9),
    };
    send(&mut net, &a, 0, &blind);
    net.step();
    assert_eq!(message_results(&net), vec![(0, String::new()); 3]);
    net.step();
    let q4_stake = prover_entry(&net, q4.address()).stake;
    send(&mut net, &q3, 1, &reveal(&p3));
    send(&mut net, &q4, 1, &reveal(&p3));
    assert_eq!(
        check_code(&net, &a, 1, &reveal(&p3)),
        76,
        "not what it committed to"
    );
    net.step();
    let r = message_results(&net);
    assert_eq!(r[0], (0, String::new()));
    assert_eq!(r[1].0, 70, "{}", r[1].1);
    assert_eq!(
        prover_entry(&net, q4.address()).stake,
        q4_stake - U256::from(FINE)
    );
    let b3 = ledger(&net, q3.address()).balance;
    step_to(&mut net, 24);
    let e = proof_slot(&net, s).expect("slot");
    assert!(e.proven);
    assert_eq!(
        e.transitions.iter().map(|t| t.prover).collect::<Vec<_>>(),
        vec![q3.address()]
    );
    assert_eq!(
        prover_entry(&net, a.address()).stake,
        a_stake - U256::from(SLASH + FINE),
        "slashed for the miss and fined for the unrevealed commit"
    );
    assert_eq!(
        ledger(&net, q3.address()).balance,
        b3 + e.fee_share + U256::from(SLASH / 2)
    );
    assert_eq!(
        pot(&net).burned,
        burned + U256::from(2 * FINE + SLASH / 2),
        "two fines and half the slash"
    );
    assert_eq!(total_value(&net, &everyone), total, "value is conserved");
}

/// A round in which nothing verifies (key 3 reveals bytes that are no proof) reopens at its
/// end with the bounty raised by `bounty_step`; the bounty also grows every
/// `bounty_interval` heights past the window. Key 4 proves the slot in round 2 and is paid
/// the fee share, the kept slash and the whole bounty from the pot.
#[test]
fn a_round_that_proves_nothing_reopens_with_a_higher_bounty() {
    let f = FallbackParams {
        bounty_interval: 4,
        ..fallback()
    };
    let step = f.bounty_step;
    let mut net = fallback_net(1, f);
    let [q3, q4] = [3, 4].map(|i| net.keys[i].clone());
    let everyone = holders(&net);
    let total = total_value(&net, &everyone);
    let s = slot_10_with_a_transfer(&mut net);
    let p4 = proof_action(&Witnesses::new(&net).witness(&net, s, q4.address()));
    let garbage = Bytes::from(vec![0xab; 2000]);
    step_to(&mut net, 16);
    let junk = Action::CommitProof {
        slot: s,
        chunk: 0,
        hash: parley_app::chain::proving::commit_hash(&garbage, q3.address()),
    };
    send(&mut net, &q3, 0, &junk);
    step_to(&mut net, 18);
    let (_, _, pre, post, _) = proof_parts(&p4);
    let bad = Action::RevealProof {
        slot: s,
        chunk: 0,
        pre_root: pre,
        post_root: post,
        proof: garbage,
    };
    send(&mut net, &q3, 1, &bad);
    net.step();
    assert_eq!(message_results(&net)[0].0, 70);
    step_to(&mut net, 24);
    let e = proof_slot(&net, s).expect("slot");
    assert!(!e.proven);
    assert_eq!((e.round, e.round_end, e.bounty), (2, 32, step));

    send(&mut net, &q4, 0, &commit(&p4, q4.address()));
    step_to(&mut net, 27);
    send(&mut net, &q4, 1, &reveal(&p4));
    net.step();
    assert_eq!(message_results(&net), vec![(0, String::new())]);
    let b4 = ledger(&net, q4.address()).balance;
    step_to(&mut net, 31);
    let pot_before = pot(&net).proving_pot;
    net.step();
    let e = proof_slot(&net, s).expect("slot");
    assert!(e.proven);
    // One step for round 2, four for the 16 heights past the window at height 32.
    let bounty = step * U256::from(5);
    assert!(
        pot_before >= e.fee_share + bounty,
        "the pot can pay the bounty here"
    );
    assert_eq!(
        ledger(&net, q4.address()).balance,
        b4 + e.fee_share + U256::from(SLASH / 2) + bounty
    );
    assert_eq!(total_value(&net, &everyone), total, "value is conserved");
}

/// `provers_per_slot = 2`: the slot waits for its window's end while one drawn prover has no
/// transition; then the one that proved gets exactly half the fee share, and the other is
/// penalized (`slash_missed`, reputation halved) although the slot was proven, with
/// no fallback round.
#[test]
fn with_two_drawn_provers_one_that_misses_is_penalized_though_the_other_proved() {
    let mut net = fallback_net(2, fallback());
    let everyone = holders(&net);
    let total = total_value(&net, &everyone);
    let s = slot_10_with_a_transfer(&mut net);
    let drawn = assigned(&net, s);
    assert_eq!(drawn.len(), 2, "two provers drawn for slot {s}");
    let key = |a: Address| {
        net.keys
            .iter()
            .find(|k| k.address() == a)
            .expect("a dev key")
            .clone()
    };
    let (p, other) = (key(drawn[0]), key(drawn[1]));
    let proof = proof_action(&Witnesses::new(&net).witness(&net, s, p.address()));
    send(&mut net, &p, 0, &proof);
    net.step();
    assert_eq!(message_results(&net), vec![(0, String::new())]);
    assert!(
        !proof_slot(&net, s).expect("slot").proven,
        "waits for the other drawn prover until the window's end"
    );
    let (bp, stake) = (
        ledger(&net, p.address()).balance,
        prover_entry(&net, other.address()).stake,
    );
    step_to(&mut net, 16);
    let e = proof_slot(&net, s).expect("slot");
    assert!(e.proven, "proven at the window's end");
    assert_eq!(e.round, 0, "no fallback: the slot is proven");
    assert_eq!(
        ledger(&net, p.address()).balance,
        bp + e.fee_share / U256::from(2)
    );
    let missed = prover_entry(&net, other.address());
    assert_eq!(missed.stake, stake - U256::from(SLASH));
    assert_eq!(missed.reputation, 500_000);
    assert_eq!(total_value(&net, &everyone), total, "value is conserved");
}

/// A drawn prover that sends nothing in its window is penalized when the window ends, even
/// though nobody ever proves the slot: `slash_missed` from its stake (half burned, half to
/// the pot, owed to fallback provers), reputation halved, once; the rounds that reopen
/// without a reveal penalize it no further, and value is conserved.
#[test]
fn a_drawn_prover_that_sends_nothing_is_slashed_at_its_windows_end_though_nobody_proves() {
    let mut net = fallback_net(1, fallback());
    let a = net.keys[2].clone();
    let everyone = holders(&net);
    let total = total_value(&net, &everyone);
    let s = slot_10_with_a_transfer(&mut net);
    assert_eq!(assigned(&net, s), vec![a.address()]);
    step_to(&mut net, 15);
    let (before, p0) = (prover_entry(&net, a.address()), pot(&net));
    assert!(proof_slot(&net, s).expect("slot").missed.is_empty());
    net.step();
    let e = proof_slot(&net, s).expect("slot");
    assert_eq!(net.height, e.window_end);
    assert!(!e.proven);
    let after = prover_entry(&net, a.address());
    assert_eq!(after.stake, before.stake - U256::from(SLASH));
    assert_eq!(after.reputation, before.reputation / 2);
    let p1 = pot(&net);
    assert_eq!(p1.burned, p0.burned + U256::from(SLASH / 2));
    assert_eq!(p1.proving_pot, p0.proving_pot + U256::from(SLASH / 2));
    assert_eq!(e.missed.len(), 1);
    // Nobody commits: two rounds close and reopen; the absent prover is not penalized again.
    step_to(&mut net, 16 + 2 * 8 + 1);
    let e = proof_slot(&net, s).expect("slot");
    assert!(!e.proven);
    assert!(e.round >= 3, "rounds reopened: {}", e.round);
    assert_eq!(e.missed.len(), 1);
    let later = prover_entry(&net, a.address());
    assert_eq!(
        (later.stake, later.reputation),
        (after.stake, after.reputation)
    );
    assert_eq!(pot(&net).burned, p1.burned);
    assert_eq!(total_value(&net, &everyone), total, "value is conserved");
}

/// A drawn prover that unbonds after the draw still proves its slot in the window, is paid
/// for it and loses nothing: its stake stays slashable through the windows it was drawn for
/// (DESIGN §3), so it must be able to meet them. (Found by docs/first-hour/prover.md: the
/// proofs of a prover that had just unbonded were refused as "not a registered prover", and
/// the missed windows were then slashed from its unbonding stake.)
#[test]
fn a_prover_that_unbonds_after_the_draw_still_proves_its_slot_and_is_not_slashed() {
    let mut net = fallback_net(1, fallback());
    let a = net.keys[2].clone();
    let s = slot_10_with_a_transfer(&mut net);
    assert_eq!(assigned(&net, s), vec![a.address()]);
    let proof = proof_action(&Witnesses::new(&net).witness(&net, s, a.address()));
    send(&mut net, &a, 0, &Action::Unbond(parley_types::Role::Prover));
    net.step();
    assert_eq!(message_results(&net), vec![(0, String::new())]);
    assert!(
        net.reader()
            .app_entry(&StateKey::Prover(a.address()))
            .expect("read")
            .is_none(),
        "unbonded: no longer in the registry"
    );
    let before = ledger(&net, a.address()).balance;
    send(&mut net, &a, 1, &proof);
    net.step();
    assert_eq!(
        message_results(&net),
        vec![(0, String::new())],
        "the drawn prover's proof is taken after it unbonded"
    );
    let e = proof_slot(&net, s).expect("slot");
    assert!(e.proven && e.missed.is_empty());
    assert_eq!(e.transitions[0].prover, a.address());
    let money = earnings(&net, a.address());
    assert!(!money.earned.is_zero(), "paid for the slot");
    let fee = ProtocolParams::default().message_fee;
    assert_eq!(
        ledger(&net, a.address()).balance + fee,
        before + money.earned,
        "the ledger got the pay, less the Proof's fee"
    );
    assert_eq!(money.fined, U256::ZERO);
    // Past its window it is treated like anyone: the fallback wants a registered stake.
    step_to(&mut net, 30);
    assert_eq!(earnings(&net, a.address()).fined, U256::ZERO);
}

/// Slot 10's honest proofs for keys 3 and 4 on the fallback net (the same history on every
/// fresh net, so they verify on each).
fn fallback_proofs() -> &'static [Action; 2] {
    static PROOFS: OnceLock<[Action; 2]> = OnceLock::new();
    PROOFS.get_or_init(|| {
        let mut net = fallback_net(1, fallback());
        let s = slot_10_with_a_transfer(&mut net);
        [3, 4].map(|i| {
            let who = net.keys[i].address();
            proof_action(&Witnesses::new(&net).witness(&net, s, who))
        })
    })
}

/// What a fallback prover does in round 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Play {
    /// Nothing.
    Idle,
    /// Commits to its own proof; reveals it or not.
    Honest(bool),
    /// Commits to a hash it cannot open; tries to reveal the other's proof or not.
    Blind(bool),
    /// Commits to the other's proof bytes under its own address; reveals them or not.
    Copy(bool),
}

/// Honest reveals weighted up, so that both fallback provers sharing a round is common.
fn play() -> impl Strategy<Value = Play> {
    prop_oneof![
        1 => Just(Play::Idle),
        4 => Just(Play::Honest(true)),
        1 => Just(Play::Honest(false)),
        1 => any::<bool>().prop_map(Play::Blind),
        1 => any::<bool>().prop_map(Play::Copy),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Random plays of keys 3 (1 ETH) and 4 (3 ETH) in slot 10's first fallback round, after
    /// the drawn prover (key 2) proved in its window or not: value is conserved after every
    /// height; without an in-window proof the slot is proven at the round's end exactly when
    /// some honest commit was revealed, the honest revealers share the fee share and the kept
    /// slash by stake, key 2 is slashed and its reputation halved; every commit without a
    /// valid reveal of its own is fined once; a round that proves nothing reopens with the
    /// bounty raised; with the in-window proof, no round opens and only key 2 is paid.
    #[test]
    fn fallback_rounds_conserve_value_and_pay_exactly_the_honest_revealers(
        direct in prop::bool::weighted(0.25),
        plays in (play(), play()),
    ) {
        let [p3, p4] = fallback_proofs().clone();
        let mut net = fallback_net(1, fallback());
        let [a, q3, q4] = [2, 3, 4].map(|i| net.keys[i].clone());
        let everyone = holders(&net);
        let total = total_value(&net, &everyone);
        let s = slot_10_with_a_transfer(&mut net);
        prop_assert_eq!(assigned(&net, s), vec![a.address()]);
        let start = |k: &PrivateKeySigner| (ledger(&net, k.address()).balance, prover_entry(&net, k.address()));
        let (a0, q30, q40) = (start(&a), start(&q3), start(&q4));
        let burned0 = pot(&net).burned;
        let fee = ProtocolParams::default().message_fee;
        if direct {
            let own = proof_action(&Witnesses::new(&net).witness(&net, s, a.address()));
            send(&mut net, &a, 0, &own);
        }
        let players = [(&q3, &p3, &p4, plays.0), (&q4, &p4, &p3, plays.1)];
        let mut sent = [0u64; 2];
        while net.height < 26 {
            let next = net.height + 1;
            for (i, (k, own, other, play)) in players.iter().enumerate() {
                let c = match (next, play) {
                    (17, Play::Honest(_)) => Some(commit(own, k.address())),
                    (17, Play::Blind(_)) => Some(Action::CommitProof { slot: s, chunk: 0, hash: B256::repeat_byte(7) }),
                    (17, Play::Copy(_)) => Some(commit(other, k.address())),
                    (19, Play::Honest(true)) => Some(reveal(own)),
                    (19, Play::Blind(true) | Play::Copy(true)) => Some(reveal(other)),
                    _ => None,
                };
                if let Some(c) = c {
                    // Refused at CheckTx: the fallback is closed (a direct proof came first),
                    // or a blind reveal does not match its commit.
                    if net.submit(Bytes::from(msg::sign(k, CHAIN_ID, sent[i], &c))).is_ok() {
                        sent[i] += 1;
                    }
                }
            }
            net.step();
            prop_assert_eq!(total_value(&net, &everyone), total, "value conserved at {}", net.height);
        }
        let e = proof_slot(&net, s).expect("slot");
        let after = |k: &PrivateKeySigner| (ledger(&net, k.address()).balance, prover_entry(&net, k.address()));
        if direct {
            prop_assert!(e.proven && e.round == 0, "{e:?}");
            prop_assert_eq!(after(&a).0, a0.0 - fee + e.fee_share);
            prop_assert_eq!(sent, [0, 0], "no round to commit to");
            prop_assert_eq!(pot(&net).burned, burned0);
            return Ok(());
        }
        let honest: Vec<(usize, u128)> = [(0, 1), (1, 3)]
            .into_iter()
            .filter(|(i, _)| players[*i].3 == Play::Honest(true))
            .collect();
        let fined: Vec<bool> = players.iter().map(|p| !matches!(p.3, Play::Idle | Play::Honest(true))).collect();
        let burned = fined.iter().filter(|f| **f).count() as u128 * FINE;
        if honest.is_empty() {
            prop_assert!(!e.proven);
            prop_assert_eq!((e.round, e.bounty), (2, fallback().bounty_step), "reopened");
            // The absent drawn prover was penalized when its window ended, proven or not.
            prop_assert_eq!(pot(&net).burned, burned0 + U256::from(burned + SLASH / 2));
            prop_assert_eq!(after(&a).1.stake, a0.1.stake - U256::from(SLASH));
            prop_assert_eq!(after(&a).1.reputation, a0.1.reputation / 2);
        } else {
            prop_assert!(e.proven);
            let weight: u128 = honest.iter().map(|(_, w)| w).sum();
            let pool = e.fee_share + U256::from(SLASH / 2);
            for (i, (k, start)) in [(&q3, &q30), (&q4, &q40)].into_iter().enumerate() {
                let share = honest
                    .iter()
                    .find(|(j, _)| *j == i)
                    .map_or(U256::ZERO, |(_, w)| pool * U256::from(*w) / U256::from(weight));
                prop_assert_eq!(after(k).0, start.0 - U256::from(sent[i]) * fee + share, "key {}'s ledger", i + 3);
            }
            prop_assert_eq!(after(&a).1.stake, a0.1.stake - U256::from(SLASH));
            prop_assert_eq!(after(&a).1.reputation, a0.1.reputation / 2);
            prop_assert_eq!(pot(&net).burned, burned0 + U256::from(burned + SLASH / 2));
        }
        for (i, (k, start)) in [(&q3, &q30), (&q4, &q40)].into_iter().enumerate() {
            let fine = if fined[i] { U256::from(FINE) } else { U256::ZERO };
            prop_assert_eq!(after(k).1.stake, start.1.stake - fine, "key {}'s stake", i + 3);
        }
    }
}

// ---- Chunks (DESIGN §3.12, ADR 0016) ----

/// Keys 2 (drawn for nearly every slot), 3 and 4 are provers; a slot's diff may be cut into
/// up to three chunks of [`CAPACITY`] entries.
fn chunk_net() -> Net {
    net_of(
        ProvingParams {
            max_chunks: 3,
            fallback: fallback(),
            ..proving()
        },
        1,
        &[(2, 1_000_000), (3, 1), (4, 3)],
    )
}

/// Slot 10 executes seven transfers: its diff (13 or more entries) is cut into three chunks
/// of at most [`CAPACITY`] entries, each proven on its own.
/// - The witness service serves each chunk's witness, the same as a prover's own tree.
/// - `pi_hash` binds the chunk index and count: a chunk's proof sent as another chunk, or a
///   proof of the same entries made as a whole block (one chunk of one), does not verify and
///   fines its sender; a chunk past the last is refused (code 83).
/// - The drawn prover sends chunks 2 and 0, in that order, within the window, and not chunk
///   1: the slot stays unproven (nothing chains through chunk 1), the prover is slashed once
///   when the window ends, and a fallback round opens; another prover commits to and reveals
///   chunk 1, and the slot is proven when the round closes, the proven root being the
///   prover's own tree's after the whole diff.
/// - The fee share is cut in three: the drawn prover gets the parts of its two chunks, the
///   fallback prover of chunk 1 the third with the kept half of the slash, and a third prover
///   that revealed chunk 0 again (proven on time already) nothing; value is conserved and the
///   nodes agree.
#[test]
fn a_large_diff_is_proven_in_chunks_that_chain_in_any_order() {
    let mut net = chunk_net();
    let [p, q3, q4] = [2, 3, 4].map(|i| net.keys[i].clone());
    let everyone: Vec<Address> = holders(&net)
        .into_iter()
        .chain((0x61..=0x67).map(Address::repeat_byte))
        .collect();
    let total = total_value(&net, &everyone);
    let service = parley_app::witness::WitnessService::start(
        net.nodes[0].app.store().clone(),
        CHAIN_ID,
        ProvingParams {
            max_chunks: 3,
            ..proving()
        },
        net.nodes[0].app.subscribe(),
    );
    step_to(&mut net, 9);
    let senders: Vec<PrivateKeySigner> = [0, 1, 2, 3, 4, 5].map(|i| net.keys[i].clone()).into();
    for (i, k) in senders.iter().enumerate() {
        net.transfer(k, 0, Address::repeat_byte(0x61 + i as u8), 5);
    }
    net.transfer(&senders[0], 1, Address::repeat_byte(0x67), 5);
    net.step();
    let s = 10;
    let entries = net.reader().diff(s).expect("read").expect("diff").0.len();
    assert!(
        (2 * CAPACITY + 1..=3 * CAPACITY).contains(&entries),
        "seven transfers write 13 to 18 entries, not {entries}"
    );
    let e = proof_slot(&net, s).expect("slot awaits a proof");
    assert_eq!(e.chunks, 3);
    assert_eq!(assigned(&net, s), vec![p.address()]);
    let genesis_root = chain(&net).proven_root;

    let mut own = Witnesses::new(&net);
    let mine = own.chunk_witnesses(&net, s, p.address());
    let theirs = Witnesses::new(&net).chunk_witnesses(&net, s, q3.address());
    let fourth = Witnesses::new(&net).chunk_witnesses(&net, s, q4.address());
    // Chunks chain: each starts where the one before ends.
    assert_eq!(fr_to_b256(&mine[0].public.pre_root), genesis_root);
    for c in 1..3 {
        assert_eq!(mine[c].public.pre_root, mine[c - 1].public.post_root);
    }
    for _ in 0..200 {
        if service.progress().applied_through >= Some(s) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for (c, w) in mine.iter().enumerate() {
        let served = service.witness(s, c as u32).expect("served");
        assert_eq!(
            BlockWitness::decode(&served)
                .expect("decodes")
                .for_prover(p.address()),
            *w,
            "chunk {c}: the served witness is the prover's own"
        );
    }
    assert!(service.witness(s, 3).is_none(), "there is no chunk 3");
    let proofs: Vec<Action> = mine.iter().map(proof_action).collect();

    // A chunk past the last is refused before anything changes.
    let (_, _, pre, post, bytes) = proof_parts(&proofs[0]);
    let past = Action::Proof {
        slot: s,
        chunk: 3,
        pre_root: pre,
        post_root: post,
        proof: bytes.clone(),
    };
    assert_eq!(check_code(&net, &p, 0, &past), 83);
    // Chunk 0's proof claimed as chunk 1, and a proof of chunk 0's entries made as a whole
    // block: neither verifies.
    let as_chunk_1 = Action::Proof {
        slot: s,
        chunk: 1,
        pre_root: pre,
        post_root: post,
        proof: bytes,
    };
    let mut whole = mine[0].clone();
    whole.public.header.chunk_count = 1;
    let as_whole = proof_action(&whole);
    let stake = prover_entry(&net, p.address()).stake;
    send(&mut net, &p, 0, &as_chunk_1);
    send(&mut net, &p, 1, &as_whole);
    net.step();
    let results = message_results(&net);
    assert_eq!(results.len(), 2);
    for (code, log) in &results {
        assert_eq!(*code, 70, "{log}");
    }
    assert_eq!(
        prover_entry(&net, p.address()).stake,
        stake - U256::from(2 * FINE)
    );
    assert!(proof_slot(&net, s).expect("slot").transitions.is_empty());

    // Chunk 2, then chunk 0: recorded, but nothing chains through chunk 1.
    let before = ledger(&net, p.address()).balance;
    send(&mut net, &p, 2, &proofs[2]);
    net.step();
    assert_eq!(message_results(&net), vec![(0, String::new())]);
    send(&mut net, &p, 3, &proofs[0]);
    net.step();
    assert_eq!(message_results(&net), vec![(0, String::new())]);
    let e = proof_slot(&net, s).expect("slot");
    assert_eq!(
        e.transitions.iter().map(|t| t.chunk).collect::<Vec<_>>(),
        vec![2, 0]
    );
    assert!(!e.proven);
    assert_eq!(chain(&net).proven_root, genesis_root);
    assert_eq!(
        check_code(&net, &p, 4, &proofs[0]),
        69,
        "one transition per chunk and prover"
    );

    // The window ends: slashed once for the slot, a round opens for the missing chunk.
    let burned = pot(&net).burned;
    let stake = prover_entry(&net, p.address()).stake;
    step_to(&mut net, 16);
    let e = proof_slot(&net, s).expect("slot");
    assert_eq!((e.round, e.round_end), (1, 24));
    assert_eq!(e.missed.len(), 1);
    assert_eq!(
        prover_entry(&net, p.address()).stake,
        stake - U256::from(SLASH)
    );
    assert_eq!(pot(&net).burned, burned + U256::from(SLASH / 2));
    // Key 3 proves the missing chunk in the fallback; key 4 proves chunk 0 again, which the
    // drawn prover proved on time.
    let fallback = proof_action(&theirs[1]);
    let again = proof_action(&fourth[0]);
    let (b3, b4) = (
        ledger(&net, q3.address()).balance,
        ledger(&net, q4.address()).balance,
    );
    send(&mut net, &q3, 0, &commit(&fallback, q3.address()));
    send(&mut net, &q4, 0, &commit(&again, q4.address()));
    net.step();
    assert_eq!(message_results(&net), vec![(0, String::new()); 2]);
    step_to(&mut net, 18);
    send(&mut net, &q3, 1, &reveal(&fallback));
    send(&mut net, &q4, 1, &reveal(&again));
    net.step();
    assert_eq!(message_results(&net), vec![(0, String::new()); 2]);
    step_to(&mut net, 24);
    let e = proof_slot(&net, s).expect("slot");
    assert!(e.proven, "proven when the round closes");
    let c = chain(&net);
    assert_eq!(c.proven_slot, s);
    assert_eq!(c.proven_root, fr_to_b256(&own.tree.root()));
    let part = e.fee_share / U256::from(3);
    assert!(!part.is_zero());
    let fee = ProtocolParams::default().message_fee;
    assert_eq!(
        ledger(&net, p.address()).balance,
        before + part + part - fee - fee,
        "the drawn prover is paid for its two chunks"
    );
    assert_eq!(
        ledger(&net, q3.address()).balance,
        b3 - fee - fee + part + U256::from(SLASH / 2),
        "the fallback prover of the missed chunk: its part and the kept slash"
    );
    assert_eq!(
        ledger(&net, q4.address()).balance,
        b4 - fee - fee,
        "a reveal of a chunk proven on time earns nothing"
    );
    assert_eq!(
        prover_entry(&net, p.address()).stake,
        stake - U256::from(SLASH),
        "slashed once for the slot, not again when it settled"
    );
    assert_eq!(total_value(&net, &everyone), total, "value is conserved");
}
