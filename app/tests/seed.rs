//! The prover draw's seed from validators' commit-reveal randomness in vote extensions
//! (ADR 0009), on the in-process harness: four registered validators with real ed25519 keys
//! make, check and sign their extensions the way CometBFT has them do; the proposer of each
//! inclusion height carries them; every node checks and applies them.

mod common;

use alloy_primitives::{Address, B256, Bytes, U256};
use common::{CHAIN_ID, Net, sign_extension, signer_address};
use parley_app::app::TEST_CHAIN_ID;
use parley_app::chain::block::Message;
use parley_app::chain::genesis::{AppGenesis, GenesisValidator, Params, ProtocolParams};
use parley_app::chain::rules::Verdict;
use parley_app::chain::seed::{self, Extension, SeedError, SeedReveals};
use parley_types::{SeedCommit, StateKey};

const EPOCH: u64 = 4;

fn key(i: u8) -> [u8; 32] {
    [0x40 + i; 32]
}

fn public(seed: &[u8; 32]) -> B256 {
    B256::from(
        ed25519_consensus::SigningKey::from(*seed)
            .verification_key()
            .to_bytes(),
    )
}

fn app_state() -> Vec<u8> {
    let keys = parley_app::dev_accounts(5).expect("dev keys");
    let params = Params {
        chain_id: CHAIN_ID,
        protocol: ProtocolParams {
            epoch_heights: EPOCH,
            ..ProtocolParams::default()
        },
        ..Params::default()
    };
    let mut g = AppGenesis::funded(
        params,
        keys.iter().map(|k| k.address()),
        U256::from(10u128.pow(24)),
    );
    g.validators = (0..4u8)
        .map(|i| GenesisValidator {
            operator: Address::repeat_byte(0xa0 + i),
            consensus_key: public(&key(i)),
            bridge_key: Address::repeat_byte(0xb0 + i),
            bond: U256::from(10u128.pow(19)),
        })
        .collect();
    serde_json::to_vec(&g).expect("json")
}

/// Four nodes, each signing as one of the four registered validators.
fn net() -> Net {
    let keys = parley_app::dev_accounts(5).expect("dev keys");
    Net::with_genesis(4, keys, &app_state()).with_signers(&[key(0), key(1), key(2), key(3)])
}

fn current_seed(net: &Net) -> B256 {
    let r = net.reader();
    match r.app_entry(&StateKey::Seed).expect("read") {
        None => B256::ZERO,
        Some(b) => B256::from_slice(&b[1..]),
    }
}

fn stored(net: &Net, i: u8) -> Option<SeedCommit> {
    net.reader()
        .app_entry(&StateKey::SeedCommit(signer_address(&key(i))))
        .expect("read")
        .map(|b| SeedCommit::decode(&b).expect("decodes"))
}

/// Runs to `h` (the last height stepped).
fn run_to(net: &mut Net, h: u64) {
    while net.height < h {
        net.step();
    }
}

/// The openings of epoch `e` by validators `who`, in address order.
fn openings(who: &[u8], e: u64) -> Vec<(Address, B256)> {
    let mut v: Vec<_> = who
        .iter()
        .map(|i| {
            (
                signer_address(&key(*i)),
                seed::secret(&key(*i), TEST_CHAIN_ID, e),
            )
        })
        .collect();
    v.sort();
    v
}

/// The seed moves only at inclusion heights, by exactly the openings of the validators'
/// secrets (computed here from their keys, independently of the app), and every node
/// agrees (the harness checks app hashes at each height).
#[test]
fn the_seed_moves_only_with_the_openings() {
    let mut net = net();
    run_to(&mut net, EPOCH);
    assert_eq!(current_seed(&net), B256::ZERO, "nothing opened yet");
    assert_eq!(stored(&net, 0), None);
    // Inclusion height 5: first commitments, nothing to open yet.
    net.step();
    let s1 = seed::mix(B256::ZERO, &[]);
    assert_eq!(current_seed(&net), s1);
    for i in 0..4 {
        assert_eq!(
            stored(&net, i),
            Some(SeedCommit {
                epoch: 1,
                hash: seed::commitment(seed::secret(&key(i), TEST_CHAIN_ID, 1))
            })
        );
    }
    // Heights 6..8 leave it alone.
    run_to(&mut net, 2 * EPOCH);
    assert_eq!(current_seed(&net), s1);
    // Inclusion height 9 opens epoch 1's secrets and commits to epoch 2's.
    let h = net.height + 1;
    let proposal = net.nodes[h as usize % 4]
        .app
        .prepare_proposal(h, net.time(h), &[], 4 << 20, &net.last_commit())
        .expect("prepare");
    let Ok(Message::Seed(r)) = Message::decode(&proposal[0]) else {
        panic!("an inclusion height's proposal starts with the seed reveals");
    };
    assert_eq!(r.entries.len(), 4);
    net.height += 1;
    net.decide(proposal);
    let s2 = seed::mix(s1, &openings(&[0, 1, 2, 3], 1));
    assert_eq!(current_seed(&net), s2);
    assert_eq!(stored(&net, 2).map(|c| c.epoch), Some(2));
    run_to(&mut net, 3 * EPOCH + 1);
    assert_eq!(
        current_seed(&net),
        seed::mix(s2, &openings(&[0, 1, 2, 3], 2))
    );
}

/// A draw once made stays as it is while the seed moves under it (the draw of a slot is
/// fixed `lookahead` heights ahead and never redrawn).
#[test]
fn a_draw_once_made_stays_while_the_seed_moves() {
    let mut net = net();
    run_to(&mut net, 2 * EPOCH + 1);
    let seed_now = current_seed(&net);
    let lookahead = net.nodes[0]
        .app
        .params()
        .expect("params")
        .protocol
        .lookahead;
    // The draw made at this height is stored and stays as it is while heights pass.
    let slot = net.height + lookahead;
    let drawn = net
        .reader()
        .app_entry(&StateKey::Assignment(slot))
        .expect("read")
        .expect("drawn");
    run_to(&mut net, 4 * EPOCH + 2);
    assert_ne!(current_seed(&net), seed_now);
    assert_eq!(
        net.reader()
            .app_entry(&StateKey::Assignment(slot))
            .expect("read"),
        Some(drawn)
    );
}

/// What a byzantine proposer may not do at an inclusion height: leave the reveals out, drop
/// a signer's entry, alter an extension under its signature, forge another validator's
/// commitment, or carry a validator's own signed extension that does not open its
/// commitment; nor carry reveals anywhere but first, or at any other height.
#[test]
fn the_seed_rule_refuses_what_a_byzantine_proposer_might_try() {
    let mut net = net();
    run_to(&mut net, 2 * EPOCH);
    let h = net.height + 1;
    let t = net.time(h);
    let honest = net.nodes[1]
        .app
        .prepare_proposal(h, t, &[], 4 << 20, &net.last_commit())
        .expect("prepare");
    let Ok(Message::Seed(r)) = Message::decode(&honest[0]) else {
        panic!("seed reveals first");
    };
    let commit = net.commit_info();
    let verdict = |txs: &[Bytes]| {
        net.nodes[2]
            .app
            .process_proposal(h, t, B256::ZERO, txs, &commit)
            .expect("process")
    };
    let with = |r: SeedReveals| -> Vec<Bytes> {
        let mut v = vec![Bytes::from(Message::Seed(r).encode())];
        v.extend_from_slice(&honest[1..]);
        v
    };
    let refused = |v: Verdict, needle: &str| match v {
        Verdict::Reject(why) => assert!(why.contains(needle), "{why}"),
        Verdict::Accept => panic!("accepted; expected a refusal naming {needle:?}"),
    };
    assert_eq!(verdict(&honest), Verdict::Accept);
    // Nobody can send reveals through the mempool: CheckTx refuses the envelope.
    assert!(
        net.nodes[0]
            .app
            .check(&honest[0], false)
            .expect("check")
            .is_err()
    );
    refused(verdict(&honest[1..]), "must start with the seed reveals");
    // Leaving out one of four (3/4 > 2/3 of the power) is the proposer's choice; two is not.
    let mut dropped = r.clone();
    dropped.entries.remove(1);
    assert_eq!(verdict(&with(dropped.clone())), Verdict::Accept);
    dropped.entries.remove(1);
    refused(verdict(&with(dropped)), "more than 2/3");
    // Twice, or out of address order.
    let mut twice = r.clone();
    twice.entries.insert(1, twice.entries[0].clone());
    refused(verdict(&with(twice)), "out of address order or twice");
    let mut swapped = r.clone();
    swapped.entries.swap(0, 1);
    refused(verdict(&with(swapped)), "out of address order or twice");
    // An extension altered under its signature.
    let mut altered = r.clone();
    altered.entries[0].extension[12] ^= 1;
    refused(verdict(&with(altered)), "signature does not verify");
    // Another validator's commitment forged and signed with the proposer's own key.
    let mut forged = r.clone();
    let mut ext = Extension::decode(&forged.entries[0].extension).expect("decodes");
    ext.commit = B256::repeat_byte(7);
    forged.entries[0].extension = ext.encode();
    forged.entries[0].signature = sign_extension(&key(1), h - 1, &forged.entries[0].extension);
    refused(verdict(&with(forged)), "signature does not verify");
    // A validator's own signature on an extension that does not open its commitment.
    let mut lying = r.clone();
    let who = lying.entries[3].validator;
    let i = (0..4u8)
        .find(|i| signer_address(&key(*i)) == who)
        .expect("a signer");
    let mut ext = Extension::decode(&lying.entries[3].extension).expect("decodes");
    ext.reveal = Some(B256::repeat_byte(9));
    lying.entries[3].extension = ext.encode();
    lying.entries[3].signature = sign_extension(&key(i), h - 1, &lying.entries[3].extension);
    refused(verdict(&with(lying)), "does not open");
    // Reveals second, or at a height that needs none.
    let mut second = honest.clone();
    second.swap(0, 1);
    refused(verdict(&second), "anywhere but first");
    net.height += 1;
    net.decide(honest);
    let h = net.height + 1;
    let mut early = net.nodes[2]
        .app
        .prepare_proposal(h, net.time(h), &[], 4 << 20, &net.last_commit())
        .expect("prepare");
    early.insert(0, Bytes::from(Message::Seed(r).encode()));
    refused(
        net.nodes[0]
            .app
            .process_proposal(h, net.time(h), B256::ZERO, &early, &net.commit_info())
            .expect("process"),
        "needs none",
    );
}

/// VerifyVoteExtension: a registered validator's extension is empty away from reveal
/// heights, names the epoch and opens its commitment at one; an unregistered validator's
/// must only be small.
#[test]
fn vote_extensions_are_checked() {
    let mut net = net();
    run_to(&mut net, 2 * EPOCH - 1);
    let app = net.nodes[0].app.clone();
    let me = signer_address(&key(0));
    let h = 2 * EPOCH; // the next height, a reveal height
    let own = net.nodes[0].app.extend_vote(h).expect("extend");
    assert_eq!(app.verify_vote_extension(h, me, &own).expect("ok"), Ok(()));
    let ext = Extension::decode(&own).expect("decodes");
    assert_eq!(ext.epoch, 2);
    assert_eq!(
        ext.reveal,
        Some(seed::secret(&key(0), TEST_CHAIN_ID, 1)),
        "it opens epoch 1's secret"
    );
    let check = |height: u64, who: Address, b: &[u8]| {
        app.verify_vote_extension(height, who, b)
            .expect("no fatal error")
    };
    assert_eq!(
        check(h - 1, me, &own),
        Err(SeedError::NotRevealHeight(h - 1))
    );
    assert_eq!(check(h - 1, me, &[]), Ok(()));
    assert!(matches!(check(h, me, &[]), Err(SeedError::Malformed(_))));
    let wrong_epoch = Extension { epoch: 3, ..ext }.encode();
    assert!(matches!(
        check(h, me, &wrong_epoch),
        Err(SeedError::Epoch { .. })
    ));
    let wrong_reveal = Extension {
        reveal: Some(B256::repeat_byte(1)),
        ..ext
    }
    .encode();
    assert_eq!(check(h, me, &wrong_reveal), Err(SeedError::Opening(1)));
    let no_reveal = Extension {
        reveal: None,
        ..ext
    }
    .encode();
    assert_eq!(check(h, me, &no_reveal), Err(SeedError::Opening(1)));
    // Another validator's extension is not this one's: it opens another commitment.
    assert_eq!(
        check(h, signer_address(&key(1)), &own),
        Err(SeedError::Opening(1))
    );
    let stranger = Address::repeat_byte(0x77);
    assert_eq!(check(h, stranger, &own), Ok(()));
    let too_large = [0; seed::MAX_EXTENSION_BYTES + 1];
    assert_eq!(
        check(h, stranger, &too_large),
        Err(SeedError::TooLarge(seed::MAX_EXTENSION_BYTES + 1))
    );
    // A bridge vote after the seed part, on a chain without a bridge.
    assert_eq!(
        check(h, stranger, &[0; parley_app::chain::bridge::VOTE_BYTES]),
        Err(SeedError::Bridge(
            parley_app::chain::bridge::BridgeError::NoBridge
        ))
    );
}

/// CometBFT lets a precommit that arrives after the commit into the last commit without the
/// app verifying its extension (cometbft#2523). A validator that sends one with a bad
/// extension (validly signed) must not stop the chain: the honest proposer leaves it out,
/// the others accept, and the seed mixes the other openings.
#[test]
fn a_late_invalid_extension_is_left_out_not_fatal() {
    let mut net = net();
    run_to(&mut net, 2 * EPOCH);
    let bad = signer_address(&key(2));
    let (_, ext, _) = net
        .extensions
        .iter()
        .find(|(a, ..)| *a == bad)
        .cloned()
        .expect("an extension");
    let mut e = Extension::decode(&ext).expect("decodes");
    e.reveal = Some(B256::repeat_byte(0xee));
    let forged = e.encode();
    let sig = sign_extension(&key(2), net.height, &forged);
    for x in &mut net.extensions {
        if x.0 == bad {
            *x = (bad, forged.clone(), sig);
        }
    }
    let s1 = current_seed(&net);
    net.step(); // every node accepts the proposal without it
    assert_eq!(current_seed(&net), seed::mix(s1, &openings(&[0, 1, 3], 1)));
    assert_eq!(
        stored(&net, 2).map(|c| c.epoch),
        Some(1),
        "its commitment waits"
    );
}

/// A proposer may leave a signer's precommit out of its last commit (CometBFT needs only
/// 2/3 of the power): that signer's entry is then absent, its commitment stays the older
/// one, and at the next reveal height it opens that older one — accepted by every node.
#[test]
fn a_left_out_precommit_opens_its_older_commitment_next_time() {
    let mut net = net();
    run_to(&mut net, 2 * EPOCH);
    let left_out = signer_address(&key(3));
    net.absent.insert(left_out);
    let s1 = current_seed(&net);
    net.step(); // inclusion height 9 without validator 3
    net.absent.clear();
    assert_eq!(current_seed(&net), seed::mix(s1, &openings(&[0, 1, 2], 1)));
    assert_eq!(stored(&net, 3).map(|c| c.epoch), Some(1));
    assert_eq!(stored(&net, 0).map(|c| c.epoch), Some(2));
    let s2 = current_seed(&net);
    run_to(&mut net, 3 * EPOCH + 1);
    let mut want = openings(&[0, 1, 2], 2);
    want.extend(openings(&[3], 1));
    want.sort();
    assert_eq!(current_seed(&net), seed::mix(s2, &want));
    assert_eq!(stored(&net, 3).map(|c| c.epoch), Some(3));
}

/// A node restarted between a reveal height and its inclusion height (its database
/// reopened, its key loaded again) makes the same extensions: the CometBFT chain id the
/// signatures cover is kept with the state, not only in memory.
#[test]
fn a_restarted_validator_keeps_extending() {
    let mut net = net();
    run_to(&mut net, 3 * EPOCH - 1);
    let node = net.nodes.remove(2);
    let node = node.restart();
    node.app.set_validator_key(Some(key(2)));
    assert_eq!(node.app.chain_id().as_deref(), Some(TEST_CHAIN_ID));
    net.nodes.insert(2, node);
    run_to(&mut net, 4 * EPOCH + 1);
    assert_eq!(stored(&net, 2).map(|c| c.epoch), Some(4));
}

/// InitChain refuses a CometBFT genesis without vote extensions from the initial height:
/// the chain would stop at its first inclusion height otherwise.
#[test]
fn init_chain_needs_vote_extensions_from_the_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::Node::open(dir, Address::ZERO);
    for enable in [0, 2] {
        let e = node
            .app
            .init_chain_with(&app_state(), 1, &[], "c", enable)
            .expect_err("refused");
        assert!(
            e.to_string().contains("vote_extensions_enable_height"),
            "{e}"
        );
    }
    node.app
        .init_chain_with(&app_state(), 1, &[], "c", 1)
        .expect("accepted");
}

/// App-hash snapshot after two inclusion heights (commitments, then openings): moving it is
/// a breaking change of the seed's state schema or of its mixing.
#[test]
fn app_hash_snapshot_of_the_seed() {
    let mut net = net();
    run_to(&mut net, 2 * EPOCH + 1);
    let (_, app_hash) = net.nodes[0].app.info().expect("info");
    assert_eq!(
        app_hash,
        "0x5617738386a57ddaf1687e20a2ec207771f5b50a59ee7e3fe9969832851dd5e1"
            .parse::<B256>()
            .expect("hex"),
        "app-hash snapshot of the seed moved: a breaking change"
    );
}
