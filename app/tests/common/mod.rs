//! The in-process harness shared by the integration tests: drives several `App`s (one per
//! validator, each with its own redb database) through many heights the way CometBFT would —
//! PrepareProposal on the proposer, ProcessProposal, FinalizeBlock and Commit on every node,
//! CheckTx/recheck for the mempool — without CometBFT. The end-to-end tier (tests/e2e) runs
//! the real binary.
#![allow(dead_code)] // each test binary uses part of it

use alloy_primitives::{Address, B256, Bytes, U256, hex};
use alloy_signer_local::PrivateKeySigner;
use parley_app::app::App;
use parley_app::chain::genesis::{AppGenesis, Params};
use parley_app::chain::rules::Verdict;
use parley_app::chain::seed::{self, CommitVote, LastCommit};
use parley_app::devtx::{self, Fees, Kind};
use parley_app::store::Store;

pub const CHAIN_ID: u64 = 424_242;
pub const T0: u64 = 1_700_000_000;

/// Stores 32 bytes of calldata in slot 0 and logs it with topic 0xaa; reverts on empty input.
pub const INIT_CODE: &str = "601d80600b6000396000f3\
                         3615601757600035806000556000526\
                         0aa60206000a1005b60006000fd";

pub struct Node {
    pub dir: tempfile::TempDir,
    pub app: App,
    pub fee_recipient: Address,
}

impl Node {
    pub fn open(dir: tempfile::TempDir, fee_recipient: Address) -> Self {
        Self::open_with_retention(dir, fee_recipient, 0)
    }

    pub fn open_with_retention(
        dir: tempfile::TempDir,
        fee_recipient: Address,
        retention: u64,
    ) -> Self {
        let store = Store::open(&dir.path().join("parley.redb"))
            .expect("opens")
            .with_retention(retention);
        let app = App::new(store, fee_recipient).expect("app starts");
        // An epoch verifier is built at the first Aggregate, not in the background of every
        // harness test whose genesis aggregates.
        app.set_epoch_warm(false);
        Self {
            dir,
            app,
            fee_recipient,
        }
    }

    /// Simulates a crash and restart: drops the app and reopens its database.
    pub fn restart(self) -> Self {
        let Node {
            dir,
            app,
            fee_recipient,
        } = self;
        drop(app);
        Node::open(dir, fee_recipient)
    }
}

pub struct Net {
    pub nodes: Vec<Node>,
    pub mempool: Vec<Bytes>,
    pub height: u64,
    pub keys: Vec<PrivateKeySigner>,
    /// Node 0's FinalizeBlock results of the last height: one (code, log) per CometBFT tx.
    pub last_results: Vec<(u32, String)>,
    /// Node 0's validator updates of the last height.
    pub last_updates: Vec<parley_app::chain::ledger::ValidatorUpdate>,
    /// Each node's CometBFT key seed, when it signs as a validator ([`Net::with_signers`]).
    pub signers: Vec<Option<[u8; 32]>>,
    /// The last height's precommit extensions: (consensus address, extension, signature),
    /// each checked by every node's VerifyVoteExtension.
    pub extensions: Vec<(Address, Vec<u8>, [u8; 64])>,
    /// Signers whose precommit the next last commit leaves out (a proposer's choice).
    pub absent: std::collections::BTreeSet<Address>,
}

/// The vote-extension signature of `seed`'s key, as CometBFT makes it (round 0).
pub fn sign_extension(seed: &[u8; 32], height: u64, ext: &[u8]) -> [u8; 64] {
    let msg = seed::sign_bytes(parley_app::app::TEST_CHAIN_ID, height, 0, ext);
    ed25519_consensus::SigningKey::from(*seed)
        .sign(&msg)
        .to_bytes()
}

/// The CometBFT consensus address of `seed`'s key.
pub fn signer_address(seed: &[u8; 32]) -> Address {
    let public = ed25519_consensus::SigningKey::from(*seed)
        .verification_key()
        .to_bytes();
    seed::consensus_address(&public)
}

pub fn genesis(keys: &[PrivateKeySigner]) -> Vec<u8> {
    let g = AppGenesis::funded(
        Params {
            chain_id: CHAIN_ID,
            ..Params::default()
        },
        keys.iter().map(|k| k.address()),
        U256::from(10u128.pow(24)),
    );
    serde_json::to_vec(&g).expect("serializes")
}

impl Net {
    pub fn new(n: usize) -> Self {
        let keys = parley_app::dev_accounts(5).expect("dev keys");
        let app_state = genesis(&keys);
        Self::with_genesis(n, keys, &app_state)
    }

    /// `n` nodes started from `app_state`, with `keys` as the test's accounts.
    pub fn with_genesis(n: usize, keys: Vec<PrivateKeySigner>, app_state: &[u8]) -> Self {
        let nodes: Vec<_> = (0..n)
            .map(|i| {
                let node = Node::open(
                    tempfile::tempdir().expect("tempdir"),
                    Address::repeat_byte(0xf0 + i as u8),
                );
                node.app.init_chain(app_state, 1).expect("genesis");
                node
            })
            .collect();
        let hashes: Vec<_> = nodes
            .iter()
            .map(|n| n.app.info().expect("info").1)
            .collect();
        assert!(
            hashes.windows(2).all(|w| w[0] == w[1]),
            "genesis app hashes differ"
        );
        Self {
            nodes,
            mempool: vec![],
            height: 0,
            keys,
            last_results: vec![],
            last_updates: vec![],
            signers: vec![None; n],
            extensions: vec![],
            absent: Default::default(),
        }
    }

    /// Gives node `i` the CometBFT key `seeds[i]`: from now on its vote extensions are made
    /// and carried like a real validator's.
    pub fn with_signers(mut self, seeds: &[[u8; 32]]) -> Self {
        for (i, s) in seeds.iter().enumerate() {
            self.nodes[i].app.set_validator_key(Some(*s));
            self.signers[i] = Some(*s);
        }
        self
    }

    /// The last commit the proposer sees in PrepareProposal: every signer's precommit of the
    /// last height with its extension, except the `absent` ones.
    pub fn last_commit(&self) -> LastCommit {
        LastCommit {
            round: 0,
            votes: self
                .extensions
                .iter()
                .filter(|(a, ..)| !self.absent.contains(a))
                .map(|(a, e, sig)| CommitVote {
                    address: *a,
                    power: 10,
                    signed: true,
                    extension: e.clone(),
                    signature: sig.to_vec(),
                })
                .collect(),
        }
    }

    /// The same commit as ProcessProposal and FinalizeBlock get it (no extensions).
    pub fn commit_info(&self) -> LastCommit {
        let mut c = self.last_commit();
        for v in &mut c.votes {
            v.extension.clear();
            v.signature.clear();
        }
        c
    }

    /// CheckTx on every node; the tx enters the mempool if node 0 accepts it.
    pub fn submit(&mut self, raw: Bytes) -> Result<B256, String> {
        let verdicts: Vec<_> = self
            .nodes
            .iter()
            .map(|n| n.app.check(&raw, false).expect("check_tx").map(|t| t.hash))
            .collect();
        for v in &verdicts[1..] {
            assert_eq!(v.is_ok(), verdicts[0].is_ok(), "nodes disagree on CheckTx");
        }
        let h = verdicts[0]
            .as_ref()
            .map(|h| *h)
            .map_err(|e| e.to_string())?;
        self.mempool.push(raw);
        Ok(h)
    }

    /// Submits a signed transfer of `value` wei from `key` with `nonce`; panics if refused.
    pub fn transfer(
        &mut self,
        key: &PrivateKeySigner,
        nonce: u64,
        to: Address,
        value: u64,
    ) -> B256 {
        self.submit(devtx::transfer(key, CHAIN_ID, nonce, to, U256::from(value)))
            .expect("transfer accepted")
    }

    pub fn time(&self, h: u64) -> u64 {
        T0 + h
    }

    /// One height: proposer builds, all validate, finalize and commit. Returns the app hash.
    pub fn step(&mut self) -> B256 {
        self.height += 1;
        let h = self.height;
        let proposer = (h as usize) % self.nodes.len();
        let txs = self.nodes[proposer]
            .app
            .prepare_proposal(h, self.time(h), &self.mempool, 4 << 20, &self.last_commit())
            .expect("prepare");
        self.decide(txs)
    }

    pub fn decide(&mut self, txs: Vec<Bytes>) -> B256 {
        let h = self.height;
        let commit = self.commit_info();
        for n in &self.nodes {
            assert_eq!(
                n.app
                    .process_proposal(
                        h,
                        self.time(h),
                        B256::with_last_byte(h as u8),
                        &txs,
                        &commit
                    )
                    .expect("process"),
                Verdict::Accept
            );
        }
        // Precommits: each signer's extension, made on state committed at h − 1 and accepted
        // by every node's VerifyVoteExtension, as CometBFT requires.
        let mut extensions = Vec::new();
        for (i, s) in self.signers.iter().enumerate() {
            let Some(seed) = s else { continue };
            let ext = self.nodes[i].app.extend_vote(h).expect("extend vote");
            let address = signer_address(seed);
            for n in &self.nodes {
                n.app
                    .verify_vote_extension(h, address, &ext)
                    .expect("verify")
                    .unwrap_or_else(|e| panic!("height {h}: node {i}'s extension refused: {e}"));
            }
            let sig = sign_extension(seed, h, &ext);
            extensions.push((address, ext, sig));
        }
        let mut hashes = vec![];
        let mut results = vec![];
        for n in &self.nodes {
            let f = n
                .app
                .finalize_block(
                    h,
                    self.time(h),
                    B256::with_last_byte(h as u8),
                    &txs,
                    &commit,
                )
                .expect("finalize");
            n.app.commit().expect("commit");
            // CometBFT stops on anything but one result per transaction.
            assert_eq!(
                f.tx_results.len(),
                txs.len(),
                "height {h}: one result per transaction"
            );
            hashes.push(f.app_hash);
            results.push((f.tx_results, f.validator_updates));
        }
        assert!(
            results.windows(2).all(|w| w[0] == w[1]),
            "results or validator updates diverged at height {h}"
        );
        (self.last_results, self.last_updates) = results.swap_remove(0);
        self.extensions = extensions;
        assert!(
            hashes.windows(2).all(|w| w[0] == w[1]),
            "app hashes diverged at height {h}"
        );
        // Every block's recorded diff is canonical and says what the state now holds.
        for n in &self.nodes {
            let r = n.app.store().reader().expect("reader");
            let diff = r
                .diff(h)
                .expect("read")
                .expect("every height records a diff");
            diff.validate().expect("canonical diff");
            for e in &diff.0 {
                assert_eq!(
                    r.entry(&e.key)
                        .expect("read")
                        .map(|v| (v.leaf, v.proof_index)),
                    e.new.map(|l| (l, e.index)),
                    "diff entry {:?} at height {h}",
                    e.key
                );
            }
        }
        // Recheck: executed txs leave the mempool.
        let node = &self.nodes[0];
        self.mempool
            .retain(|raw| node.app.check(raw, true).expect("recheck").is_ok());
        hashes[0]
    }

    pub fn reader(&self) -> parley_app::store::Reader {
        self.nodes[0].app.store().reader().expect("reader")
    }

    pub fn balance(&self, a: Address) -> U256 {
        self.reader()
            .account(a)
            .expect("read")
            .map_or(U256::ZERO, |(acc, _)| acc.balance)
    }

    pub fn receipt(&self, hash: B256) -> Option<parley_types::RecordReceipt> {
        let r = self.reader();
        r.tx(&hash).expect("read").map(|t| t.receipt)
    }
}

/// Runtime: with calldata, stores word 0 of it in slot 0; without, only *reads* slot 0 and
/// logs it with topic 0xbb.
pub const RW_INIT: &str = "60168060095f395ff3\
                       3615600a57\
                       5f355f5500\
                       5b5f545f5260bb60205fa100";
/// Runtime: CREATE2 (salt = calldata word 0, value = callvalue) of the two-byte init code
/// `CALLER SELFDESTRUCT`, so the child is created and destroyed in the same transaction;
/// stores the child's address in slot 0.
pub const FACTORY_INIT: &str = "60108060095f395ff3\
                            6133ff5f52\
                            5f356002601e34f5\
                            5f5500";
pub const CHILD_INIT: [u8; 2] = [0x33, 0xff];

pub fn create(net: &mut Net, k: &PrivateKeySigner, nonce: u64, init: &str) -> Address {
    let tx = devtx::sign(
        k,
        Kind::DynamicFee,
        CHAIN_ID,
        nonce,
        None,
        U256::ZERO,
        hex::decode(init).expect("hex").into(),
        300_000,
        Fees::default(),
    );
    net.submit(tx).expect("deploy accepted");
    k.address().create(nonce)
}

pub fn call(k: &PrivateKeySigner, nonce: u64, to: Address, value: u64, data: Vec<u8>) -> Bytes {
    devtx::sign(
        k,
        Kind::DynamicFee,
        CHAIN_ID,
        nonce,
        Some(to),
        U256::from(value),
        data.into(),
        300_000,
        Fees::default(),
    )
}

/// Every wei the test chain holds: EVM balances of every address that can hold any, plus
/// every protocol entry that holds value (ledger balances, bonds, stakes, unbonding, the pot
/// and the burned total, and the auction's escrows).
pub fn total_value(net: &Net, evm_holders: &[Address]) -> U256 {
    use parley_types::{
        LedgerAccount, Pot, ProverEntry, SequencerEntry, SlotEntry, StateKey, ValidatorEntry,
        decode_amount,
    };
    let r = net.reader();
    let mut total = U256::ZERO;
    for a in evm_holders {
        total += r
            .account(*a)
            .expect("read")
            .map_or(U256::ZERO, |(acc, _)| acc.balance);
    }
    let all = StateKey::Ledger(Address::ZERO)..=StateKey::Forced {
        height: u64::MAX,
        index: u32::MAX,
    };
    for (k, v) in r.app_entries(all).expect("read") {
        total += match k {
            StateKey::Ledger(_) => LedgerAccount::decode(&v).expect("ledger").balance,
            StateKey::Sequencer(_) => SequencerEntry::decode(&v).expect("seq").bond,
            StateKey::Prover(_) => ProverEntry::decode(&v).expect("prover").stake,
            StateKey::Validator(_) => ValidatorEntry::decode(&v).expect("val").bond,
            StateKey::Pot => {
                let p = Pot::decode(&v).expect("pot");
                p.proving_pot + p.burned
            }
            StateKey::Unbonding { .. } => decode_amount(&v).expect("amount"),
            StateKey::Slot(_) => SlotEntry::decode(&v).expect("slot").escrow(),
            StateKey::Seed
            | StateKey::Assignment(_)
            | StateKey::Reveal(_)
            | StateKey::Forced { .. } => U256::ZERO,
            other => panic!("unexpected protocol entry {other:?}"),
        };
    }
    total
}

/// An address's protocol-ledger account (default if it has none), committed state of node 0.
pub fn ledger(net: &Net, a: Address) -> parley_types::LedgerAccount {
    net.reader()
        .app_entry(&parley_types::StateKey::Ledger(a))
        .expect("read")
        .map(|b| parley_types::LedgerAccount::decode(&b).expect("decodes"))
        .unwrap_or_default()
}

/// An address's protocol income and fines so far (zero if none), committed state of node 0.
pub fn earnings(net: &Net, a: Address) -> parley_types::Earnings {
    net.reader()
        .app_entry(&parley_types::StateKey::Earnings(a))
        .expect("read")
        .map(|b| parley_types::Earnings::decode(&b).expect("decodes"))
        .unwrap_or_default()
}

/// A registered prover's entry, committed state of node 0; panics if it is not registered.
pub fn prover_entry(net: &Net, a: Address) -> parley_types::ProverEntry {
    let b = net
        .reader()
        .app_entry(&parley_types::StateKey::Prover(a))
        .expect("read")
        .expect("registered");
    parley_types::ProverEntry::decode(&b).expect("decodes")
}

/// The protocol's pot and burned total, committed state of node 0.
pub fn pot(net: &Net) -> parley_types::Pot {
    net.reader()
        .app_entry(&parley_types::StateKey::Pot)
        .expect("read")
        .map(|b| parley_types::Pot::decode(&b).expect("decodes"))
        .unwrap_or_default()
}
