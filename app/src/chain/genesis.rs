//! The genesis `app_state`: chain id, prefunded accounts and parameters, validated at
//! InitChain, and the genesis state it defines ([`AppGenesis::state`]: block 0's writes, diff,
//! record and app hash). A bad genesis is refused with a message naming the field.

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use parley_types::{
    AccountLeaf, BlockRecord, ChainMeta, DiffEntry, KECCAK_EMPTY, LeafValue, LedgerAccount,
    MerkleTree, PROOF_INDEX_CAPACITY, ProverEntry, REPUTATION_ONE, SequencerEntry, StateDiff,
    StateKey, StateValue, ValidatorEntry,
};
use serde::{Deserialize, Serialize};

use crate::chain::block::tx_root;

/// Chain parameters fixed at genesis. Every validator reads the same genesis, so these are
/// consensus data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// EIP-155 chain id of the L2.
    pub chain_id: u64,
    /// Base fee per gas (wei) of the first L2 block.
    pub initial_base_fee: u64,
    /// Floor of the base fee (wei): it never adjusts below this.
    pub min_base_fee: u64,
    /// Gas limit of one L2 block; the EIP-1559 target is half of it.
    pub block_gas_limit: u64,
    /// Largest accepted signed transaction, in bytes.
    pub max_tx_bytes: u64,
    /// Most transactions in one L2 block.
    pub max_block_txs: u64,
    /// The protocol ledger and registries (DESIGN §3). Defaults apply when absent.
    #[serde(default)]
    pub protocol: ProtocolParams,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            chain_id: 424_242,
            initial_base_fee: 1_000_000_000,
            min_base_fee: 1_000_000,
            block_gas_limit: 200_000_000,
            max_tx_bytes: 128 * 1024,
            max_block_txs: 20_000,
            protocol: ProtocolParams::default(),
        }
    }
}

/// Parameters of the protocol ledger and the registries (DESIGN §3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProtocolParams {
    /// Fee (wei) every executed protocol message pays from its sender's ledger balance into
    /// the proving pot: what makes spamming the chain with messages cost something.
    pub message_fee: U256,
    /// Most messages of one kind in one CometBFT block (a proposal with more is refused).
    pub max_messages_per_kind: u64,
    /// Heights per epoch: validator-set changes take effect only at a multiple of it, and
    /// the prover draw's seed moves once per epoch (ADR 0009). At least 2.
    pub epoch_heights: u64,
    /// Heights between leaving a role and the bond or stake reaching the ledger balance.
    pub unbonding_delay: u64,
    /// Wei of validator bond per unit of CometBFT voting power.
    pub power_unit: U256,
    /// Smallest sequencer bond (wei).
    pub min_sequencer_bond: U256,
    /// Smallest prover stake (wei).
    pub min_prover_stake: U256,
    /// Smallest validator bond (wei); at least one `power_unit`.
    pub min_validator_bond: U256,
    /// Heights a prover may go without a heartbeat and still count as active.
    pub heartbeat_grace: u64,
    /// Share of each block's base fees burned, in basis points; the rest goes to the proving
    /// pot.
    pub base_fee_burn_bps: u64,
    /// Heights between a slot's prover draw and the slot (DESIGN §3.1).
    pub lookahead: u64,
    /// Provers drawn per slot (each on-time one gets 1/k of the reward).
    pub provers_per_slot: u64,
    /// Bids for slot `s` close at height `s - bid_close` (DESIGN §3.2): the select window and
    /// the reveal window fit between the close and the slot.
    pub bid_close: u64,
    /// Bids for slot `s` open at height `s - bid_horizon`.
    pub bid_horizon: u64,
    /// Heights after the close in which the assigned prover may `Select`; at the end of the
    /// last one the app selects the highest bid itself (DESIGN §3.3).
    pub select_window: u64,
    /// Every penalized deadline spans at least this many heights; it must exceed the number of
    /// validators so an honest proposer falls inside (DESIGN §3 "Deadlines and censorship").
    /// The reveal window (`bid_close - select_window`) is such a deadline.
    pub min_penalty_window: u64,
    /// Smallest bid (wei).
    pub min_bid: U256,
    /// Share of a withheld slot's escrow paid to its assigned prover(s), in basis points; the
    /// rest is burned (DESIGN §3 "Money").
    pub withhold_prover_share_bps: u64,
    /// Fine (wei, burned) taken from the bond of a sequencer that withholds a won block,
    /// at most the whole bond.
    pub withhold_fine: U256,
    /// Gas of forced transactions one L2 block takes before the rest (DESIGN §3.6); forced
    /// transactions over it wait for the next block.
    pub forced_gas: u64,
    /// A block stops taking transactions once its state writes reach this many entries, so
    /// every block stays provable (DESIGN §3.7).
    pub max_diff_entries: u64,
    /// Block proofs (DESIGN §3.8, §3.11). Absent: the chain never asks for proofs (a
    /// development chain; the auction still runs, and a slot's escrow waits for a proof that
    /// never comes). Present: every slot with a non-empty diff awaits a verified proof.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proving: Option<ProvingParams>,
    /// The L1 bridge (DESIGN §6, docs/bridge.md). Absent: validators attest nothing and the
    /// validator set changes at `epoch_heights` boundaries. Present (needs epoch
    /// aggregation): each validator's bridge key signs every epoch's digest in its vote
    /// extensions, and the validator set changes only in the block that carries an epoch's
    /// attestation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bridge: Option<BridgeParams>,
}

/// Where the chain's epochs are finalized (DESIGN §6): what every epoch digest binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeParams {
    /// The L1 chain's id.
    pub l1_chain_id: u64,
    /// The Rollup contract's address on L1.
    pub rollup: Address,
}

/// Parameters of block proving (DESIGN §3.8 and §3.11).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvingParams {
    /// Diff entries one block proof holds (the block circuit's capacity). A slot's diff is cut
    /// every `block_capacity` entries into chunks, each proven on its own (DESIGN §3.12, ADR
    /// 0016).
    pub block_capacity: u64,
    /// The most chunks one slot's diff may have: 1..=64, with `max_diff_entries ≤ max_chunks ·
    /// block_capacity` (checked at InitChain). 1 (the default) proves every block in one proof.
    #[serde(default = "one_chunk")]
    pub max_chunks: u64,
    /// `vk_hash` of the block circuit of that capacity. A node whose own circuit hashes to
    /// anything else refuses to verify (and stops): the circuit is consensus.
    pub block_vk_hash: B256,
    /// Index bits of the proof tree this chain uses (ADR 0021): 8..=32. Every `proof_index`
    /// is below `2^proof_index_bits` (the capacity rule of ADR 0011 counts against it), and
    /// the block circuit hashes the tree's top `32 − proof_index_bits` levels once per proof
    /// instead of once per entry. Part of the block circuit (`block_vk_hash`). Absent: 32.
    #[serde(
        default = "full_index_bits",
        skip_serializing_if = "is_full_index_bits"
    )]
    pub proof_index_bits: u32,
    /// The trusted setup proofs are made and checked with (DESIGN §4, ADR 0014). Every node
    /// must be configured with this very setup, or it stops at InitChain or start-up.
    pub srs: SrsPin,
    /// A slot's assigned prover is on time when its proof is included at most this many
    /// heights after the slot executed; at least `min_penalty_window`.
    pub proof_window: u64,
    /// Share of a slot's base fees (what reached the proving pot) that the pot pays the slot's
    /// on-time prover(s), in basis points.
    pub prover_fee_share_bps: u64,
    /// Taken from the stake of a prover whose `Proof` does not verify (wei, burned).
    pub invalid_proof_fine: U256,
    /// Reputation (millionths) an on-time prover gains when its transition chains, up to 1.0.
    pub rep_up: u64,
    /// Backpressure (DESIGN §3.13): while this many slots with a non-empty diff await their
    /// proof, new slots execute no L2 transactions and `Fund`/`Withdraw` are refused; the
    /// transactions stay pending until proofs catch up.
    pub max_unproven_slots: u64,
    /// The permissionless fallback for slots whose assigned prover missed (DESIGN §3.9).
    #[serde(default)]
    pub fallback: FallbackParams,
    /// Epoch aggregation (DESIGN §3.14, ADR 0015). Absent: slots are proven one by one and
    /// nothing aggregates them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregation: Option<AggregationParams>,
}

/// The most chunks a slot's diff may be cut into ([`ProvingParams::max_chunks`]): each costs
/// every validator one proof verification, and an epoch one aggregation input.
pub const MAX_CHUNKS: u64 = 64;

fn one_chunk() -> u64 {
    1
}

fn full_index_bits() -> u32 {
    parley_proofs::FULL_INDEX_BITS
}

fn is_full_index_bits(bits: &u32) -> bool {
    *bits == full_index_bits()
}

impl ProvingParams {
    /// Leaves the proof tree may use: `2^proof_index_bits` (ADR 0011, ADR 0021).
    pub fn proof_index_capacity(&self) -> u64 {
        1u64 << self.proof_index_bits.min(parley_proofs::FULL_INDEX_BITS)
    }
}

impl Params {
    /// Leaves the proof tree may use (ADR 0011): `2^proof_index_bits` of a chain that takes
    /// block proofs (ADR 0021), else the whole depth-32 tree.
    pub fn proof_index_capacity(&self) -> u64 {
        self.protocol
            .proving
            .as_ref()
            .map_or(PROOF_INDEX_CAPACITY, ProvingParams::proof_index_capacity)
    }
}

/// Epoch aggregation (DESIGN §3.14, §4 "Aggregation", ADR 0015). Epoch `e` is the slots
/// `e·epoch_slots + 1 ..= (e + 1)·epoch_slots`; it closes once none of them awaits a proof,
/// and an aggregator drawn like a prover then owes one `Aggregate` of its proven slots. The
/// penalties, the fallback stake and the fine for an invalid proof are the block proofs'
/// ([`FallbackParams`], `invalid_proof_fine`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregationParams {
    /// Slots per epoch: 1..=1,000,000. An epoch's length is what L1 pays for once (one
    /// attested, verified epoch), so it is chosen by L1 cost and the time an aggregation takes,
    /// not by how many slots carry transactions.
    pub epoch_slots: u64,
    /// The most block proofs (chunks, ADR 0016) one epoch may need, and so the most one
    /// aggregate holds (the aggregation circuit's capacity): 1..=min(64, `epoch_slots`). A
    /// slot's diff may not need more chunks than its epoch has left (its diff room shrinks to
    /// fit); once an epoch needs this many it is full: its later slots execute no L2
    /// transactions and `Fund`/`Withdraw` are refused until the next epoch (backpressure,
    /// DESIGN §3.13), so the cost of one aggregation is bounded whatever the epoch's length
    /// (ADR 0015 part 4).
    pub agg_capacity: u64,
    /// Degree of the aggregation circuit (2^k rows), within 18..=26.
    pub agg_k: u32,
    /// `vk_hash` of the aggregation circuit of `agg_capacity` proofs of the pinned block
    /// circuit at `agg_k`. A node whose own key hashes to anything else stops: the circuit
    /// is consensus.
    pub agg_vk_hash: B256,
    /// Heights after an epoch closes during which its `Aggregate` is the drawn aggregator's
    /// duty (at least `min_penalty_window`); after them any prover with `min_fallback_stake`
    /// may aggregate, and the drawn one is slashed `slash_missed`.
    pub agg_window: u64,
    /// Share of the epoch's base fees (what its slots put in the proving pot) that the pot
    /// pays the epoch's aggregator, in basis points.
    pub agg_share_bps: u64,
    /// The compression circuit whose proof L1 verifies (ADR 0010, ADR 0018). With it the
    /// chain takes `EpochProof` messages for aggregated epochs, checks them with this circuit
    /// and keeps the first that verifies for the relayers; without it (absent in JSON) it
    /// refuses them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l1_proof: Option<L1ProofParams>,
    /// An aggregation tree (ADR 0020) instead of one flat layer-1 circuit: leaves of
    /// `leaf_capacity` block proofs, `agg_capacity / leaf_capacity` of them under a root.
    /// Then `agg_k` and `agg_vk_hash` are the root's, whose proof carries the same statement
    /// as a flat layer 1's; the leaf's key is a constant of the root's, so the root's hash
    /// pins both. For epochs whose flat layer 1 does not fit the provers' memory (8 blocks
    /// and more on 24 GiB). Absent in JSON: flat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree: Option<AggTreeParams>,
}

/// The lower layers of [`AggregationParams::tree`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggTreeParams {
    /// Block proofs per leaf. `agg_capacity` is `leaf_capacity × middle.leaves × root
    /// inputs`, with 2..=8 root inputs.
    pub leaf_capacity: u64,
    /// Degree of the leaf circuit, within 18..=26.
    pub leaf_k: u32,
    /// A middle layer between the leaves and the root (16-block epochs: 2 middle nodes of 2
    /// leaves of 4, so that no circuit outgrows the 8-block tree's). Absent in JSON: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle: Option<AggMiddleParams>,
}

/// The middle layer of an [`AggTreeParams`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggMiddleParams {
    /// Leaves per middle node, 2..=8.
    pub leaves: u64,
    /// Degree of the middle circuit, within 18..=26.
    pub k: u32,
}

impl AggTreeParams {
    /// Block proofs per input of the root.
    pub fn child_capacity(&self) -> u64 {
        self.leaf_capacity
            .saturating_mul(self.middle.map_or(1, |m| m.leaves))
    }
}

impl AggregationParams {
    /// The circuit shape these parameters pin (validated genesis: the numbers fit).
    pub fn shape(&self) -> parley_proofs::aggregation::EpochShape {
        use parley_proofs::aggregation::{EpochShape, tree::TreeShape};
        let n = |x: u64| usize::try_from(x).unwrap_or(usize::MAX);
        match &self.tree {
            None => EpochShape::Flat {
                capacity: n(self.agg_capacity),
                k: self.agg_k,
            },
            Some(t) => EpochShape::Tree(TreeShape {
                leaf_capacity: n(t.leaf_capacity),
                leaf_k: t.leaf_k,
                middle: t
                    .middle
                    .map(|m| parley_proofs::aggregation::tree::MiddleShape {
                        leaves: n(m.leaves),
                        k: m.k,
                    }),
                children: n(self.agg_capacity / t.child_capacity().max(1)),
                k: self.agg_k,
            }),
        }
    }
}

/// The compression circuit of [`AggregationParams::l1_proof`]: one aggregation circuit over
/// exactly one layer-1 epoch proof, with a keccak transcript, whose generated Solidity verifier
/// the Rollup calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct L1ProofParams {
    /// Degree of the compression circuit (2^k rows), within 18..=26.
    pub k: u32,
    /// `vk_hash` of the compression circuit over the pinned aggregation circuit at `k`; the L1
    /// verifier contract is generated from this key. A node whose own key hashes otherwise
    /// stops at the first `EpochProof`: the circuit is consensus.
    pub vk_hash: B256,
}

/// Which trusted setup a proving chain uses (ADR 0014). In JSON: `"dev"`, or
/// `{"ceremony": {"hash": "0x…", "k": 22}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum SrsPin {
    /// The seeded development setup: its secret is public, so anyone can forge proofs. For
    /// localnets and tests only; a node also needs `srs = "dev"` in its own configuration.
    Dev,
    /// A ceremony's powers-of-tau file (halo2's parameter layout), pinned by the keccak256 of
    /// its bytes; it holds 2^`k` powers.
    Ceremony {
        /// keccak256 of the file.
        hash: B256,
        /// Its size: circuits up to 2^k rows.
        k: u32,
    },
}

/// The two-step permissionless fallback (DESIGN §3.9), penalties for a missed proof, and
/// bounties. A fallback round opens at the end of a slot's proof window when it has no
/// transition, or as soon as it is the oldest unproven slot and none of its transitions
/// chains (once every assigned prover has used its one transition, or the window is over).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FallbackParams {
    /// Heights after a round opens during which provers send `CommitProof`.
    pub commit_window: u64,
    /// Heights after the commit phase during which they send `RevealProof`; at least
    /// `min_penalty_window` (a commit left unrevealed is fined).
    pub reveal_proof_window: u64,
    /// Stake (wei) a prover needs to commit.
    pub min_fallback_stake: U256,
    /// Taken (wei) from an assigned prover's stake (or unbonding stake) when the slot is
    /// proven without its on-time transition.
    pub slash_missed: U256,
    /// Share of `slash_missed` that is burned, in basis points; the rest goes to the fallback
    /// provers whose reveals proved the slot (to the proving pot when there are none).
    pub slash_burn_bps: u64,
    /// A prover that missed keeps this fraction of its reputation (millionths).
    pub rep_decay: u64,
    /// Reputation never decays below this (millionths, > 0: stake, not reputation, bounds a
    /// prover's weight).
    pub rep_min: u64,
    /// Wei the slot's bounty grows by each round that proves nothing, and every
    /// `bounty_interval` heights past the window the slot stays unproven. Paid from the
    /// proving pot to the fallback provers.
    pub bounty_step: U256,
    /// See `bounty_step`.
    pub bounty_interval: u64,
    /// Commits one round takes (a `RevealProof` costs every validator a verification).
    pub max_commits: u64,
}

impl Default for FallbackParams {
    fn default() -> Self {
        Self {
            commit_window: 8,
            reveal_proof_window: 8,
            min_fallback_stake: ETHER,
            slash_missed: ETHER / U256::from(10u64),
            slash_burn_bps: 5_000,
            rep_decay: 500_000,
            rep_min: 10_000,
            bounty_step: ETHER / U256::from(100u64),
            bounty_interval: 32,
            max_commits: 16,
        }
    }
}

const ETHER: U256 = U256::from_limbs([1_000_000_000_000_000_000, 0, 0, 0]);

impl Default for ProtocolParams {
    fn default() -> Self {
        Self {
            message_fee: U256::from(10_000_000_000_000u64),
            max_messages_per_kind: 64,
            epoch_heights: 32,
            unbonding_delay: 128,
            power_unit: ETHER,
            min_sequencer_bond: ETHER,
            min_prover_stake: ETHER,
            min_validator_bond: ETHER,
            heartbeat_grace: 200,
            base_fee_burn_bps: 1_000,
            lookahead: 8,
            provers_per_slot: 1,
            bid_close: 8,
            bid_horizon: 16,
            select_window: 2,
            min_penalty_window: 6,
            min_bid: U256::from(1_000_000_000_000u64),
            withhold_prover_share_bps: 5_000,
            withhold_fine: ETHER / U256::from(10u64),
            forced_gas: 10_000_000,
            max_diff_entries: 20_000,
            proving: None,
            bridge: None,
        }
    }
}

/// A prefunded account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisAccount {
    /// Its address.
    pub address: Address,
    /// Initial balance (wei).
    pub balance: U256,
    /// Initial nonce.
    #[serde(default)]
    pub nonce: u64,
    /// Contract code, if any.
    #[serde(default)]
    pub code: Bytes,
    /// Initial storage of a contract.
    #[serde(default)]
    pub storage: BTreeMap<U256, U256>,
}

/// The whole `app_state` object of the CometBFT genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppGenesis {
    /// Chain parameters.
    pub params: Params,
    /// Prefunded accounts.
    #[serde(default)]
    pub accounts: Vec<GenesisAccount>,
    /// Protocol-ledger balances at genesis.
    #[serde(default)]
    pub ledger: Vec<GenesisLedger>,
    /// Sequencers registered at genesis.
    #[serde(default)]
    pub sequencers: Vec<GenesisBond>,
    /// Provers registered at genesis.
    #[serde(default)]
    pub provers: Vec<GenesisBond>,
    /// Validators registered at genesis. When set, they must be exactly the CometBFT
    /// genesis validators (same keys, power = bond / `power_unit`), or, if CometBFT's list is
    /// empty, they become the initial set.
    #[serde(default)]
    pub validators: Vec<GenesisValidator>,
}

/// A protocol-ledger balance at genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisLedger {
    /// Its owner.
    pub address: Address,
    /// Wei.
    pub balance: U256,
}

/// A sequencer bond or prover stake at genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisBond {
    /// The operator address (its secp256k1 key signs the role's messages).
    pub address: Address,
    /// Wei bonded or staked.
    pub amount: U256,
}

/// A validator at genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisValidator {
    /// The operator address (its secp256k1 key signs the validator's messages).
    pub operator: Address,
    /// The node's CometBFT ed25519 public key, 32 bytes hex.
    pub consensus_key: B256,
    /// The address of its secp256k1 bridge key.
    pub bridge_key: Address,
    /// Wei bonded.
    pub bond: U256,
}

/// A genesis that cannot start a chain.
#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    /// Not JSON of the expected shape.
    #[error("app_state: {0}")]
    Json(#[from] serde_json::Error),
    /// A field with a value that cannot work.
    #[error("app_state.{field}: {reason}")]
    Field {
        /// The offending field, as a path.
        field: String,
        /// Why it is refused.
        reason: String,
    },
}

fn bad(field: impl Into<String>, reason: impl Into<String>) -> GenesisError {
    GenesisError::Field {
        field: field.into(),
        reason: reason.into(),
    }
}

impl AppGenesis {
    /// A genesis with `params` and each of `addresses` holding `balance` wei (no code).
    pub fn funded(
        params: Params,
        addresses: impl IntoIterator<Item = Address>,
        balance: U256,
    ) -> Self {
        let accounts = addresses
            .into_iter()
            .map(|address| GenesisAccount {
                address,
                balance,
                nonce: 0,
                code: Bytes::new(),
                storage: BTreeMap::new(),
            })
            .collect();
        Self {
            params,
            accounts,
            ledger: Vec::new(),
            sequencers: Vec::new(),
            provers: Vec::new(),
            validators: Vec::new(),
        }
    }

    /// This genesis plus the [`crate::chain::predeploys`] (a Multicall3-compatible aggregator and the
    /// deterministic CREATE2 deployer at their canonical addresses), appended after the
    /// accounts already listed. A predeploy whose address the genesis already lists is left
    /// out, so an explicit account wins and calling this twice adds nothing.
    ///
    /// A predeploy's account has no balance, nonce 1 (a contract account's nonce after
    /// creation, EIP-161), its code and no storage.
    pub fn with_predeploys(mut self) -> Self {
        let mut all = crate::chain::predeploys::all();
        if self.params.protocol.bridge.is_some() {
            all.extend(crate::chain::predeploys::bridge());
        }
        for p in all {
            if !self.accounts.iter().any(|b| b.address == p.address) {
                self.accounts.push(GenesisAccount {
                    address: p.address,
                    balance: U256::ZERO,
                    nonce: 1,
                    code: p.code,
                    storage: BTreeMap::new(),
                });
            }
        }
        self
    }

    /// Parses and validates `app_state` bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Self, GenesisError> {
        let g: Self = serde_json::from_slice(bytes)?;
        g.validate()?;
        Ok(g)
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), GenesisError> {
        let p = &self.params;
        if p.chain_id == 0 {
            return Err(bad("params.chain_id", "must be non-zero"));
        }
        if p.min_base_fee == 0 {
            return Err(bad("params.min_base_fee", "must be at least 1 wei"));
        }
        if p.initial_base_fee < p.min_base_fee {
            return Err(bad(
                "params.initial_base_fee",
                "must be >= params.min_base_fee",
            ));
        }
        if p.block_gas_limit < 21_000 {
            return Err(bad(
                "params.block_gas_limit",
                "must hold at least one transfer (21000)",
            ));
        }
        if !(1024..=4 * 1024 * 1024).contains(&p.max_tx_bytes) {
            return Err(bad(
                "params.max_tx_bytes",
                "must be between 1 KiB and 4 MiB",
            ));
        }
        if p.max_block_txs == 0 {
            return Err(bad("params.max_block_txs", "must be non-zero"));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, a) in self.accounts.iter().enumerate() {
            if !seen.insert(a.address) {
                return Err(bad(
                    format!("accounts[{i}].address"),
                    format!("{} listed twice", a.address),
                ));
            }
            if a.code.is_empty() && !a.storage.is_empty() {
                return Err(bad(
                    format!("accounts[{i}].storage"),
                    "storage without code",
                ));
            }
        }
        if self.total_value().is_none() {
            return Err(bad(
                "accounts",
                "total of balances, bonds and stakes overflows 256 bits",
            ));
        }
        // The protocol first: the proof tree's capacity depends on its index bits.
        self.validate_protocol()?;
        // Every stored account and slot takes a proof-tree leaf (ADR 0011).
        let entries = self.accounts.iter().fold(0u64, |n, a| {
            let stored = !(a.nonce == 0 && a.balance.is_zero() && a.code.is_empty());
            let slots = a.storage.values().filter(|v| !v.is_zero()).count();
            n.saturating_add(u64::from(stored))
                .saturating_add(u64::try_from(slots).unwrap_or(u64::MAX))
        });
        let capacity = self.params.proof_index_capacity();
        if entries > capacity {
            return Err(bad(
                "accounts",
                format!(
                    "{entries} accounts and storage slots exceed the proof tree's \
                     {capacity} leaves"
                ),
            ));
        }
        Ok(())
    }

    fn validate_protocol(&self) -> Result<(), GenesisError> {
        let q = &self.params.protocol;
        let positive = |v: u64, f: &str| {
            if v == 0 {
                Err(bad(format!("params.protocol.{f}"), "must be non-zero"))
            } else {
                Ok(())
            }
        };
        positive(q.max_messages_per_kind, "max_messages_per_kind")?;
        if q.epoch_heights < 2 {
            // The seed's commitments change only at inclusion heights (reveal + 1), so the
            // state a reveal height's extensions are checked on is the same at h − 1 and h.
            return Err(bad(
                "params.protocol.epoch_heights",
                "must be at least 2 (ADR 0009)",
            ));
        }
        positive(q.unbonding_delay, "unbonding_delay")?;
        positive(q.heartbeat_grace, "heartbeat_grace")?;
        positive(q.lookahead, "lookahead")?;
        if !(1..=255).contains(&q.provers_per_slot) {
            return Err(bad(
                "params.protocol.provers_per_slot",
                "must be between 1 and 255",
            ));
        }
        if q.power_unit.is_zero() {
            return Err(bad("params.protocol.power_unit", "must be non-zero"));
        }
        if q.min_validator_bond < q.power_unit {
            return Err(bad(
                "params.protocol.min_validator_bond",
                "must be at least one power_unit (a validator needs power >= 1)",
            ));
        }
        positive(q.select_window, "select_window")?;
        positive(q.min_penalty_window, "min_penalty_window")?;
        positive(q.max_diff_entries, "max_diff_entries")?;
        if q.bid_close < q.select_window + q.min_penalty_window {
            return Err(bad(
                "params.protocol.bid_close",
                "must be at least select_window + min_penalty_window (the reveal window is a \
                 penalized deadline)",
            ));
        }
        if q.bid_horizon < q.bid_close {
            return Err(bad(
                "params.protocol.bid_horizon",
                "must be at least bid_close",
            ));
        }
        if q.lookahead < q.bid_close {
            return Err(bad(
                "params.protocol.lookahead",
                "must be at least bid_close (the prover is drawn before its select window)",
            ));
        }
        if q.unbonding_delay <= q.lookahead.max(q.bid_horizon) {
            return Err(bad(
                "params.protocol.unbonding_delay",
                "must exceed lookahead and bid_horizon (a bond stays slashable for every duty \
                 it took)",
            ));
        }
        if q.min_bid.is_zero() {
            return Err(bad("params.protocol.min_bid", "must be non-zero"));
        }
        if q.forced_gas < 21_000 {
            return Err(bad(
                "params.protocol.forced_gas",
                "must hold at least one transfer (21000)",
            ));
        }
        if q.withhold_prover_share_bps > 10_000 {
            return Err(bad(
                "params.protocol.withhold_prover_share_bps",
                "must be at most 10000 (100 %)",
            ));
        }
        if q.base_fee_burn_bps > 10_000 {
            return Err(bad(
                "params.protocol.base_fee_burn_bps",
                "must be at most 10000 (100 %)",
            ));
        }
        if let Some(p) = &q.proving {
            positive(p.block_capacity, "proving.block_capacity")?;
            if !(parley_proofs::MIN_INDEX_BITS..=parley_proofs::FULL_INDEX_BITS)
                .contains(&p.proof_index_bits)
            {
                return Err(bad(
                    "params.protocol.proving.proof_index_bits",
                    format!(
                        "must be within {}..={}",
                        parley_proofs::MIN_INDEX_BITS,
                        parley_proofs::FULL_INDEX_BITS
                    ),
                ));
            }
            if !(1..=MAX_CHUNKS).contains(&p.max_chunks) {
                return Err(bad(
                    "params.protocol.proving.max_chunks",
                    "must be within 1..=64",
                ));
            }
            if p.block_capacity.saturating_mul(p.max_chunks) < q.max_diff_entries {
                return Err(bad(
                    "params.protocol.proving.max_chunks",
                    "max_chunks · block_capacity must be at least max_diff_entries (every block fits its chunks)",
                ));
            }
            if let SrsPin::Ceremony { k, .. } = p.srs
                && !(1..=28).contains(&k)
            {
                return Err(bad(
                    "params.protocol.proving.srs.ceremony.k",
                    "must be within 1..=28",
                ));
            }
            if p.proof_window < q.min_penalty_window {
                return Err(bad(
                    "params.protocol.proving.proof_window",
                    "must be at least min_penalty_window (a missed proof is penalized)",
                ));
            }
            if p.prover_fee_share_bps > 10_000 {
                return Err(bad(
                    "params.protocol.proving.prover_fee_share_bps",
                    "must be at most 10000 (100 %)",
                ));
            }
            if p.max_unproven_slots == 0 {
                return Err(bad(
                    "params.protocol.proving.max_unproven_slots",
                    "must be at least 1",
                ));
            }
            if p.rep_up > REPUTATION_ONE {
                return Err(bad(
                    "params.protocol.proving.rep_up",
                    "must be at most 1000000 (1.0)",
                ));
            }
            let f = &p.fallback;
            let field = |name: &str| format!("params.protocol.proving.fallback.{name}");
            positive(f.commit_window, "proving.fallback.commit_window")?;
            positive(f.bounty_interval, "proving.fallback.bounty_interval")?;
            if f.reveal_proof_window < q.min_penalty_window {
                return Err(bad(
                    field("reveal_proof_window"),
                    "must be at least min_penalty_window (an unrevealed commit is fined)",
                ));
            }
            if f.min_fallback_stake.is_zero() {
                return Err(bad(field("min_fallback_stake"), "must be non-zero"));
            }
            if f.slash_burn_bps > 10_000 {
                return Err(bad(
                    field("slash_burn_bps"),
                    "must be at most 10000 (100 %)",
                ));
            }
            if f.rep_decay > REPUTATION_ONE {
                return Err(bad(field("rep_decay"), "must be at most 1000000 (1.0)"));
            }
            if f.rep_min == 0 || f.rep_min > REPUTATION_ONE {
                return Err(bad(field("rep_min"), "must be in 1..=1000000"));
            }
            if !(1..=1024).contains(&f.max_commits) {
                return Err(bad(field("max_commits"), "must be in 1..=1024"));
            }
            if let Some(a) = &p.aggregation {
                let field = |name: &str| format!("params.protocol.proving.aggregation.{name}");
                if !(1..=1_000_000).contains(&a.epoch_slots) {
                    return Err(bad(field("epoch_slots"), "must be in 1..=1000000"));
                }
                if !(1..=64).contains(&a.agg_capacity) || a.agg_capacity > a.epoch_slots {
                    return Err(bad(
                        field("agg_capacity"),
                        "must be in 1..=64 and at most epoch_slots",
                    ));
                }
                if !(18..=26).contains(&a.agg_k) {
                    return Err(bad(field("agg_k"), "must be in 18..=26"));
                }
                if let Some(t) = &a.tree {
                    if let Some(m) = &t.middle {
                        if !(2..=8).contains(&m.leaves) {
                            return Err(bad(field("tree.middle.leaves"), "must be in 2..=8"));
                        }
                        if !(18..=26).contains(&m.k) {
                            return Err(bad(field("tree.middle.k"), "must be in 18..=26"));
                        }
                    }
                    let c = t.child_capacity();
                    if c == 0 || a.agg_capacity % c != 0 || !(2..=8).contains(&(a.agg_capacity / c))
                    {
                        return Err(bad(
                            field("tree.leaf_capacity"),
                            "leaf_capacity (× middle.leaves) must divide agg_capacity into 2..=8 root inputs",
                        ));
                    }
                    if !(18..=26).contains(&t.leaf_k) {
                        return Err(bad(field("tree.leaf_k"), "must be in 18..=26"));
                    }
                }
                if let Some(l1) = &a.l1_proof
                    && !(18..=26).contains(&l1.k)
                {
                    return Err(bad(field("l1_proof.k"), "must be in 18..=26"));
                }
                if a.agg_window < q.min_penalty_window {
                    return Err(bad(
                        field("agg_window"),
                        "must be at least min_penalty_window (a missed aggregate is penalized)",
                    ));
                }
                if a.agg_share_bps > 10_000 {
                    return Err(bad(field("agg_share_bps"), "must be at most 10000 (100 %)"));
                }
                if q.unbonding_delay <= a.agg_window {
                    return Err(bad(
                        "params.protocol.unbonding_delay",
                        "must exceed aggregation.agg_window (a drawn aggregator's stake stays \
                         slashable through its window)",
                    ));
                }
            }
            let duty = q
                .lookahead
                .saturating_add(p.proof_window)
                .saturating_add(f.commit_window)
                .saturating_add(f.reveal_proof_window);
            if q.unbonding_delay <= duty {
                return Err(bad(
                    "params.protocol.unbonding_delay",
                    "must exceed lookahead + proof_window + commit_window + reveal_proof_window \
                     (a stake stays slashable through the first fallback round of its duties)",
                ));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, l) in self.ledger.iter().enumerate() {
            if !seen.insert(l.address) {
                return Err(bad(format!("ledger[{i}].address"), "listed twice"));
            }
        }
        for (list, name, min) in [
            (&self.sequencers, "sequencers", q.min_sequencer_bond),
            (&self.provers, "provers", q.min_prover_stake),
        ] {
            let mut seen = std::collections::BTreeSet::new();
            for (i, b) in list.iter().enumerate() {
                if !seen.insert(b.address) {
                    return Err(bad(format!("{name}[{i}].address"), "listed twice"));
                }
                if b.amount < min {
                    return Err(bad(
                        format!("{name}[{i}].amount"),
                        format!("below the minimum {min}"),
                    ));
                }
            }
        }
        if q.bridge.is_some() {
            if q.proving
                .as_ref()
                .and_then(|p| p.aggregation.as_ref())
                .is_none()
            {
                return Err(bad(
                    "params.protocol.bridge",
                    "needs params.protocol.proving.aggregation (L1 finalizes aggregated epochs)",
                ));
            }
            if self.validators.is_empty()
                || self.validators.len() > parley_types::bridge::MAX_VALIDATORS
            {
                return Err(bad(
                    "validators",
                    format!(
                        "a chain with a bridge registers 1..={} genesis validators (L1 must know who signs epoch 0)",
                        parley_types::bridge::MAX_VALIDATORS
                    ),
                ));
            }
        }
        if q.bridge.is_some() {
            let want = crate::chain::predeploys::bridge();
            for p in &want {
                let ok = self
                    .accounts
                    .iter()
                    .any(|a| a.address == p.address && a.code == p.code);
                if !ok {
                    return Err(bad(
                        "accounts",
                        format!(
                            "a chain with a bridge has the {} contract at {} with its committed \
                             code (AppGenesis::with_predeploys adds it): its logs are the \
                             withdrawals L1 pays",
                            p.name, p.address
                        ),
                    ));
                }
            }
        }
        let mut bridge_keys = std::collections::BTreeSet::new();
        if q.bridge.is_some() {
            for (i, v) in self.validators.iter().enumerate() {
                if v.bridge_key == Address::ZERO || !bridge_keys.insert(v.bridge_key) {
                    return Err(bad(
                        format!("validators[{i}].bridge_key"),
                        "must be non-zero and not another validator's (it signs epochs for L1)",
                    ));
                }
            }
        }
        let mut operators = std::collections::BTreeSet::new();
        let mut keys = std::collections::BTreeSet::new();
        for (i, v) in self.validators.iter().enumerate() {
            if !operators.insert(v.operator) {
                return Err(bad(format!("validators[{i}].operator"), "listed twice"));
            }
            if !keys.insert(v.consensus_key) {
                return Err(bad(
                    format!("validators[{i}].consensus_key"),
                    "used by another validator",
                ));
            }
            if v.bond < q.min_validator_bond {
                return Err(bad(
                    format!("validators[{i}].bond"),
                    format!("below the minimum {}", q.min_validator_bond),
                ));
            }
        }
        Ok(())
    }
}

/// The state a genesis defines, as block `initial_height - 1`.
#[derive(Debug)]
pub struct GenesisState {
    /// The app hash of the genesis state.
    pub app_hash: B256,
    /// The app-hash tree over it.
    pub tree: MerkleTree,
    /// Every state entry (chain meta first, then accounts and storage in key order).
    pub writes: Vec<(StateKey, Option<Vec<u8>>)>,
    /// Contract code by hash.
    pub code: Vec<(B256, Bytes)>,
    /// The genesis diff: every EVM entry inserted, with proof-tree indices in key order.
    pub diff: StateDiff,
    /// The genesis block's record (no transactions).
    pub record: BlockRecord,
}

impl AppGenesis {
    /// The state this genesis defines when the chain starts at `initial_height`: the genesis
    /// block is number `initial_height - 1`. Empty accounts (EIP-161) and zero slots are not
    /// stored; proof-tree indices follow key order.
    pub fn state(&self, initial_height: u64) -> GenesisState {
        let mut entries: BTreeMap<StateKey, LeafValue> = BTreeMap::new();
        let mut code = Vec::new();
        for a in &self.accounts {
            let code_hash = if a.code.is_empty() {
                KECCAK_EMPTY
            } else {
                keccak256(&a.code)
            };
            if !a.code.is_empty() {
                code.push((code_hash, a.code.clone()));
            }
            let leaf = AccountLeaf {
                nonce: a.nonce,
                balance: a.balance,
                code_hash,
            };
            if !leaf.is_empty() {
                entries.insert(StateKey::Account(a.address), LeafValue::Account(leaf));
            }
            for (slot, v) in &a.storage {
                if !v.is_zero() {
                    entries.insert(StateKey::Storage(a.address, *slot), LeafValue::Storage(*v));
                }
            }
        }
        let mut diff = Vec::new();
        let mut writes = Vec::new();
        for (i, (key, leaf)) in entries.into_iter().enumerate() {
            let index = i as u64;
            diff.push(DiffEntry {
                key,
                index,
                old: None,
                new: Some(leaf),
            });
            writes.push((
                key,
                Some(
                    StateValue {
                        leaf,
                        proof_index: index,
                    }
                    .encode(),
                ),
            ));
        }
        let number = initial_height.saturating_sub(1);
        let meta = ChainMeta {
            next_base_fee: self.params.initial_base_fee,
            last_block_number: number,
            last_block_hash: B256::ZERO,
            last_receipts_root: B256::ZERO,
            last_timestamp: 0,
            next_proof_index: diff.len() as u64,
            free_proof_indices: 0,
        };
        writes.insert(0, (StateKey::Meta, Some(meta.encode())));
        // The protocol ledger and registries (non-EVM, after the EVM entries in key order).
        writes.extend(self.registry_writes(number));
        // Proven state starts at the Poseidon root of the genesis state (DESIGN §3.11).
        if self.params.protocol.proving.is_some() {
            let root = crate::chain::proving::genesis_proof_root(&StateDiff(diff.clone()));
            let chain = parley_types::ProofChain {
                proven_root: root,
                ..Default::default()
            };
            // Its key sorts after every other genesis entry: `writes` stays in key order.
            debug_assert!(writes.last().is_none_or(|(k, _)| *k < StateKey::ProofChain));
            writes.push((StateKey::ProofChain, Some(chain.encode())));
            // The bridge starts at the same root, signed for by the genesis validators.
            if self.params.protocol.bridge.is_some() {
                let mut set: Vec<(Address, u64)> = self
                    .validators
                    .iter()
                    .map(|v| (v.bridge_key, self.params.protocol.power_of(v.bond)))
                    .filter(|(_, p)| *p > 0)
                    .collect();
                set.sort_by_key(|(a, _)| *a);
                let state = parley_types::bridge::BridgeState {
                    next_epoch: 0,
                    root,
                    set,
                    pending: None,
                };
                writes.push((StateKey::Bridge, Some(state.encode())));
            }
        }
        let mut tree = MerkleTree::new();
        let app_hash = tree.update(
            writes
                .iter()
                .map(|(k, v)| (k.path(), v.as_ref().map(keccak256))),
        );
        let record = BlockRecord {
            number,
            hash: B256::ZERO,
            parent_hash: B256::ZERO,
            timestamp: 0,
            builder: Address::ZERO,
            base_fee: self.params.initial_base_fee,
            gas_limit: self.params.block_gas_limit,
            gas_used: 0,
            tx_root: tx_root([]),
            receipts_root: B256::ZERO,
            logs_bloom: Default::default(),
            state_root: app_hash,
            tx_hashes: vec![],
            tx_fees: vec![],
        };
        GenesisState {
            app_hash,
            tree,
            writes,
            code,
            diff: StateDiff(diff),
            record,
        }
    }
}

impl AppGenesis {
    /// The protocol entries this genesis registers at block `number`, in key order.
    fn registry_writes(&self, number: u64) -> Vec<(StateKey, Option<Vec<u8>>)> {
        let mut out: BTreeMap<StateKey, Vec<u8>> = BTreeMap::new();
        for l in &self.ledger {
            let acc = LedgerAccount {
                balance: l.balance,
                nonce: 0,
            };
            if !acc.is_empty() {
                out.insert(StateKey::Ledger(l.address), acc.encode());
            }
        }
        for s in &self.sequencers {
            let e = SequencerEntry {
                bond: s.amount,
                since: number,
            };
            out.insert(StateKey::Sequencer(s.address), e.encode());
        }
        for p in &self.provers {
            let e = ProverEntry {
                stake: p.amount,
                reputation: REPUTATION_ONE,
                last_heartbeat: number,
            };
            out.insert(StateKey::Prover(p.address), e.encode());
        }
        for v in &self.validators {
            let e = ValidatorEntry {
                bond: v.bond,
                consensus_key: v.consensus_key.0,
                bridge_key: v.bridge_key,
                power: self.params.protocol.power_of(v.bond),
                leaving: false,
            };
            out.insert(StateKey::Validator(v.operator), e.encode());
        }
        out.into_iter().map(|(k, v)| (k, Some(v))).collect()
    }

    /// The validator set this genesis defines: (ed25519 key, power), in operator order.
    pub fn validator_set(&self) -> Vec<([u8; 32], u64)> {
        let mut v: Vec<_> = self.validators.iter().collect();
        v.sort_by_key(|v| v.operator);
        v.into_iter()
            .map(|v| (v.consensus_key.0, self.params.protocol.power_of(v.bond)))
            .collect()
    }

    /// Every wei this genesis creates: EVM balances, ledger balances, bonds and stakes.
    pub fn total_value(&self) -> Option<U256> {
        let evm = self.accounts.iter().map(|a| a.balance);
        let ledger = self.ledger.iter().map(|l| l.balance);
        let bonds = self
            .sequencers
            .iter()
            .chain(&self.provers)
            .map(|b| b.amount);
        let vals = self.validators.iter().map(|v| v.bond);
        evm.chain(ledger)
            .chain(bonds)
            .chain(vals)
            .try_fold(U256::ZERO, |acc, x| acc.checked_add(x))
    }
}

impl ProtocolParams {
    /// CometBFT voting power of a validator bond: `bond / power_unit`, capped so that the
    /// total stays far below CometBFT's limit (i64::MAX / 8).
    pub fn power_of(&self, bond: U256) -> u64 {
        let p = bond / self.power_unit.max(U256::from(1));
        u64::try_from(p).unwrap_or(u64::MAX).min(MAX_POWER)
    }
}

/// Largest voting power of one validator (CometBFT caps the total at i64::MAX / 8).
pub const MAX_POWER: u64 = 1 << 40;

#[cfg(test)]
mod tests {
    use super::*;

    fn genesis() -> AppGenesis {
        AppGenesis::funded(Params::default(), [Address::repeat_byte(1)], U256::from(5))
    }

    #[test]
    fn roundtrip_and_errors_name_the_field() {
        let g = genesis();
        let json = serde_json::to_vec(&g).expect("serializes");
        assert_eq!(AppGenesis::from_json(&json).expect("valid"), g);

        let mut bad_chain = g.clone();
        bad_chain.params.chain_id = 0;
        let err = bad_chain
            .validate()
            .expect_err("chain id 0 is refused")
            .to_string();
        assert!(err.contains("params.chain_id"), "{err}");

        let mut dup = g.clone();
        dup.accounts.push(dup.accounts[0].clone());
        let err = dup.validate().expect_err("duplicate refused").to_string();
        assert!(err.contains("accounts[1].address"), "{err}");

        let err = AppGenesis::from_json(br#"{"params":{"chain_id":1}}"#)
            .expect_err("missing fields")
            .to_string();
        assert!(err.starts_with("app_state:"), "{err}");
        // A typo'd key beside an otherwise valid genesis: refused for the unknown key itself
        // (not for a missing field, which a bare `{"params":{}}` would also give).
        let mut typo = serde_json::to_value(&g).expect("value");
        typo.as_object_mut()
            .expect("object")
            .insert("acounts".into(), serde_json::json!([]));
        let err = AppGenesis::from_json(&serde_json::to_vec(&typo).expect("json"))
            .expect_err("typo")
            .to_string();
        assert!(err.contains("unknown field `acounts`"), "{err}");
    }

    /// The base-fee bounds: an initial base fee equal to the minimum is valid, one wei below is
    /// refused naming the field (the boundary a `<` / `<=` slip would move).
    #[test]
    fn initial_base_fee_may_equal_the_minimum() {
        let mut g = genesis();
        g.params.initial_base_fee = g.params.min_base_fee;
        g.validate().expect("equal to the minimum is valid");
        g.params.initial_base_fee = g.params.min_base_fee - 1;
        let err = g.validate().expect_err("below the minimum").to_string();
        assert!(err.contains("params.initial_base_fee"), "{err}");
    }

    /// The other numeric bounds at their edges: a block gas limit of exactly one transfer,
    /// `max_tx_bytes` at 1 KiB and at 4 MiB are valid; one below or above is refused.
    #[test]
    fn numeric_bounds_are_inclusive_at_their_edges() {
        let valid = |f: &dyn Fn(&mut Params)| {
            let mut g = genesis();
            f(&mut g.params);
            g.validate().map_err(|e| e.to_string())
        };
        assert!(valid(&|p| p.block_gas_limit = 21_000).is_ok());
        let e = valid(&|p| p.block_gas_limit = 20_999).expect_err("below a transfer");
        assert!(e.contains("params.block_gas_limit"), "{e}");
        assert!(valid(&|p| p.max_tx_bytes = 1024).is_ok());
        assert!(valid(&|p| p.max_tx_bytes = 4 * 1024 * 1024).is_ok());
        for bad in [1023, 4 * 1024 * 1024 + 1] {
            let e = valid(&|p| p.max_tx_bytes = bad).expect_err("out of range");
            assert!(e.contains("params.max_tx_bytes"), "{e}");
        }
    }

    /// The genesis state stores code only for accounts that have some (under its hash), and
    /// storage slots only when non-zero.
    /// ADR 0021: the index bits default to 32 when absent (a genesis from before), are not
    /// written at 32 (the same bytes as before), and set the capacity rule's number.
    #[test]
    fn proof_index_bits_default_and_capacity() {
        let mut p = ProvingParams {
            block_capacity: 4,
            max_chunks: 1,
            block_vk_hash: B256::ZERO,
            proof_index_bits: 32,
            srs: SrsPin::Dev,
            proof_window: 30,
            prover_fee_share_bps: 0,
            invalid_proof_fine: U256::ZERO,
            rep_up: 0,
            max_unproven_slots: 8,
            fallback: FallbackParams::default(),
            aggregation: None,
        };
        let json = serde_json::to_value(&p).expect("serializes");
        assert!(json.get("proof_index_bits").is_none(), "{json}");
        let back: ProvingParams = serde_json::from_value(json).expect("absent means 32");
        assert_eq!(back, p);
        assert_eq!(p.proof_index_capacity(), 1 << 32);
        p.proof_index_bits = 24;
        let json = serde_json::to_value(&p).expect("serializes");
        assert_eq!(json["proof_index_bits"], 24);
        assert_eq!(p.proof_index_capacity(), 16_777_216);
        let mut params = Params::default();
        assert_eq!(params.proof_index_capacity(), PROOF_INDEX_CAPACITY);
        params.protocol.proving = Some(p);
        assert_eq!(params.proof_index_capacity(), 16_777_216);
    }

    #[test]
    fn genesis_state_keeps_code_and_non_zero_slots_only() {
        let mut g = genesis();
        let code = Bytes::from_static(&[0x60, 0x00, 0x60, 0x00, 0xf3]);
        g.accounts.push(GenesisAccount {
            address: Address::repeat_byte(2),
            balance: U256::ZERO,
            nonce: 1,
            code: code.clone(),
            storage: [(U256::from(1), U256::from(5)), (U256::from(2), U256::ZERO)].into(),
        });
        let st = g.state(1);
        assert_eq!(st.code, vec![(keccak256(&code), code)]);
        let keys: Vec<StateKey> = st.diff.0.iter().map(|e| e.key).collect();
        assert_eq!(
            keys,
            vec![
                StateKey::Account(Address::repeat_byte(1)),
                StateKey::Account(Address::repeat_byte(2)),
                StateKey::Storage(Address::repeat_byte(2), U256::from(1)),
            ]
        );
    }
}
