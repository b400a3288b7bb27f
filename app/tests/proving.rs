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
use common::{CHAIN_ID, Net, ledger, pot, prover_entry, total_value};
use parley_app::chain::genesis::{
    AppGenesis, GenesisBond, GenesisLedger, Params, ProtocolParams, ProvingParams,
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
        block_vk_hash: prover_keys().vk_hash(),
        proof_window: WINDOW,
        prover_fee_share_bps: 5_000,
        invalid_proof_fine: U256::from(FINE),
        rep_up: 10_000,
        max_unproven_slots: 2,
    }
}

/// Two nodes; keys 2 and 3 are provers (key 2 with a much larger stake, so it is drawn for
/// nearly every slot), with 1 ETH each in the ledger for message fees.
fn net() -> Net {
    net_with(proving())
}

fn net_with(proving: ProvingParams) -> Net {
    let keys = parley_app::dev_accounts(6).expect("dev keys");
    let params = Params {
        chain_id: CHAIN_ID,
        protocol: ProtocolParams {
            max_diff_entries: CAPACITY as u64,
            proving: Some(proving),
            ..ProtocolParams::default()
        },
        ..Params::default()
    };
    let mut g = AppGenesis::funded(params, keys.iter().map(|k| k.address()), eth(1_000));
    let at = |i: usize| keys[i].address();
    g.ledger = [2, 3]
        .map(|i| GenesisLedger {
            address: at(i),
            balance: eth(1),
        })
        .to_vec();
    g.provers = vec![
        GenesisBond {
            address: at(2),
            amount: eth(1_000_000),
        },
        GenesisBond {
            address: at(3),
            amount: eth(1),
        },
    ];
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

    /// The witness of slot `s` for `prover`; the tree catches up to block `s − 1` first.
    fn witness(&mut self, net: &Net, s: u64, prover: Address) -> BlockWitness {
        let r = net.reader();
        while self.next_block < s {
            let d = r.diff(self.next_block).expect("read").expect("diff");
            self.tree.apply_diff_batch(&d).expect("applies");
            self.next_block += 1;
        }
        let entry = proof_slot(net, s).expect("slot awaits a proof");
        let diff = r.diff(entry.block_number).expect("read").expect("diff");
        let header = BlockHeader {
            chain_id: CHAIN_ID,
            slot: s,
            block_commitment: entry.commitment,
            prover_address: prover,
        };
        let w = BlockWitness::build(&mut self.tree, header, &diff, CAPACITY).expect("witness");
        self.next_block = s + 1;
        w
    }
}

fn proof_action(w: &BlockWitness) -> Action {
    let proof = prover_keys().prove(w).expect("proves");
    Action::Proof {
        slot: w.public.header.slot,
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
        pre_root,
        proof,
        ..
    } = honest.clone()
    else {
        unreachable!()
    };
    let lying = Action::Proof {
        slot,
        pre_root,
        post_root: B256::with_last_byte(1),
        proof,
    };
    let garbage = Action::Proof {
        slot,
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

/// The circuit is consensus: a genesis pinning a vk this node's circuit does not hash to stops
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
    let err = with(proving(), cap + 1).expect_err("capacity below max_diff_entries");
    assert!(
        err.contains("params.protocol.proving.block_capacity"),
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
/// net, so proofs made once are valid on each.
const HISTORY: [u64; 3] = [10, 11, 13];

fn history() -> Net {
    let mut net = net_with(ProvingParams {
        max_unproven_slots: 8,
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
                    let Action::Proof { slot, pre_root, post_root, proof } = proofs[*i].clone() else {
                        unreachable!()
                    };
                    let mut bytes = proof.to_vec();
                    bytes[100] ^= 1;
                    let a = Action::Proof { slot, pre_root, post_root, proof: bytes.into() };
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
                    let in_window = net.height < entry.window_end;
                    prop_assert!(
                        (entry.proven && e.contains("already proven"))
                            || (!entry.proven && e.contains("already has a transition"))
                            || (!entry.proven
                                && key.address() == q.address()
                                && in_window
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
                // Paid for every slot this proof proved (its own and the waiting ones) whose
                // transition was included within the slot's window; late ones earn nothing.
                let newly: U256 = HISTORY
                    .iter()
                    .filter(|s| **s > before.proven_slot && **s <= after.proven_slot)
                    .map(|s| proof_slot(&net, *s).expect("slot"))
                    .filter(|e| e.transitions.iter().any(|t| t.prover == p.address() && t.height <= e.window_end))
                    .map(|e| e.fee_share)
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
        prop_assert!(paid_fees <= shares, "no fee share paid twice");
        let on_time = HISTORY.iter().all(|s| {
            let e = proof_slot(&net, *s).expect("slot");
            e.transitions.iter().all(|t| t.height <= e.window_end)
        });
        if on_time {
            prop_assert_eq!(paid_fees, shares, "every on-time slot's fee share paid");
        }
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
            .witness(s)
            .expect("a witness for every unproven slot");
        assert_eq!(
            served,
            own.witness(&net, s, Address::ZERO).encode(),
            "slot {s}: the served witness is the prover's own"
        );
    }
    assert!(
        service.witness(12).is_none(),
        "an empty slot needs no witness"
    );
    let progress = service.progress();
    assert!(progress.leaves > 0 && progress.seconds > 0.0);

    let w = BlockWitness::decode(&service.witness(10).expect("served"))
        .expect("decodes")
        .for_prover(p.address());
    send(&mut net, &p, 0, &proof_action(&w));
    net.step();
    assert_eq!(only_result(&net), (0, String::new()));
    assert_eq!(chain(&net).proven_slot, 10);
    wait(&service, net.height);
    assert!(
        service.witness(10).is_none(),
        "a proven slot's witness is dropped"
    );
    assert!(service.witness(11).is_some());
}
