//! `parleyd` — see the library crate for what it is. This file parses the command line,
//! installs logging and hands over.
#![allow(clippy::print_stdout)] // the CLI prints what it was asked for

use std::path::PathBuf;

use alloy_primitives::U256;
use alloy_signer_local::PrivateKeySigner;
use clap::{Parser, Subcommand};
use parley_app::chain::genesis::{
    AppGenesis, GenesisBond, GenesisLedger, GenesisValidator, Params,
};
use parley_app::chain::msg::Action;
use parley_app::node::config::Config;
use parley_app::operator;
use parley_types::Role;

/// The validators of a CometBFT genesis as registry entries: operator i is dev account
/// `base + i`, its own bridge key; bond = power × power_unit.
fn registered_validators(
    path: &std::path::Path,
    params: &Params,
    base: u32,
) -> eyre::Result<Vec<GenesisValidator>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| eyre::eyre!("reading {}: {e}", path.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text)?;
    let list = json["validators"]
        .as_array()
        .ok_or_else(|| eyre::eyre!("{}: no validators array", path.display()))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let pk: tendermint::PublicKey = serde_json::from_value(v["pub_key"].clone())
            .map_err(|e| eyre::eyre!("validators[{i}].pub_key: {e}"))?;
        let key: [u8; 32] = pk
            .ed25519()
            .ok_or_else(|| eyre::eyre!("validators[{i}]: not an ed25519 key"))?
            .as_bytes()
            .try_into()?;
        let power: u64 = v["power"]
            .as_str()
            .ok_or_else(|| eyre::eyre!("validators[{i}].power: not a string"))?
            .parse()?;
        let operator = operator::dev_account(base + u32::try_from(i)?)?.address();
        out.push(GenesisValidator {
            operator,
            consensus_key: key.into(),
            bridge_key: operator,
            bond: params.protocol.power_unit * U256::from(power),
        });
    }
    Ok(out)
}

#[derive(Parser)]
#[command(
    name = "parleyd",
    version,
    about = "Parley node: ABCI app, Ethereum JSON-RPC, metrics",
    after_help = "Operators: `parleyd msg` registers, bonds, stakes, tops up and leaves \
(sequencer, prover, validator); `parleyd duties` shows what an address holds, has earned and \
must do next; `parleyd schedule` lists the next slots; `parleyd sync` follows a node catching \
up. Step by step from a fresh clone: \
docs/first-hour/ (dApp developer, validator, sequencer, prover)."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write a default config to <home>/config/parleyd.toml.
    Init {
        /// Node home folder (may be the CometBFT home).
        #[arg(long)]
        home: PathBuf,
        /// Name used in logs.
        #[arg(long, default_value = "parley")]
        moniker: String,
        /// Overwrite an existing config.
        #[arg(long)]
        force: bool,
    },
    /// Print a genesis `app_state` with prefunded dev accounts and the predeploys
    /// (Multicall3-compatible aggregator, deterministic CREATE2 deployer).
    GenesisAppState {
        /// EIP-155 chain id.
        #[arg(long, default_value_t = 424_242)]
        chain_id: u64,
        /// Number of dev accounts from the standard test mnemonic.
        #[arg(long, default_value_t = 10)]
        dev_accounts: u32,
        /// Balance of each (wei).
        #[arg(long, default_value = "1000000000000000000000000")]
        balance_wei: U256,
        /// Leave the predeployed contracts out.
        #[arg(long)]
        no_predeploys: bool,
        /// Register the validators of this CometBFT genesis.json in the app's validator
        /// registry (bond = power × power_unit), so that validators can later join and leave
        /// by bonding. Operator i is dev account `--operator-base + i` (its key signs the
        /// validator's messages, e.g. `parleyd msg --dev-account … unbond validator`).
        #[arg(long, value_name = "GENESIS_JSON")]
        validators_from: Option<PathBuf>,
        /// First dev-account index of the registered validators' operators.
        #[arg(long, default_value_t = 1000)]
        operator_base: u32,
        /// With --validators-from: also prefund this many operator accounts (from
        /// --operator-base on, with --balance-wei each), so nodes that join later can bond.
        #[arg(long, default_value_t = 20)]
        operators: u32,
        /// Heights per epoch (validator-set changes happen at multiples of it).
        #[arg(long)]
        epoch_heights: Option<u64>,
        /// Register this many sequencers: dev accounts --sequencer-base + j, each with a
        /// 2 ETH bond and 100 ETH in its protocol ledger to bid from.
        #[arg(long, default_value_t = 0)]
        sequencers: u32,
        /// First dev-account index of the registered sequencers.
        #[arg(long, default_value_t = 1100)]
        sequencer_base: u32,
        /// Register this many provers: dev accounts --prover-base + j, each with a 10 ETH stake
        /// and 1 ETH in its protocol ledger.
        #[arg(long, default_value_t = 0)]
        provers: u32,
        /// First dev-account index of the registered provers.
        #[arg(long, default_value_t = 1200)]
        prover_base: u32,
        /// Turn block proving on (DESIGN §3.8) with a block circuit of this many diff entries:
        /// `max_diff_entries` becomes this times --max-chunks, and the circuit's vk hash is
        /// computed here (keygen of the verifying key, with the SRS from the parameter cache)
        /// and pinned.
        #[arg(long)]
        proving_capacity: Option<u64>,
        /// With --proving-capacity: the most chunks a slot's diff may be cut into (1..=64,
        /// ADR 0016); each chunk is one block proof.
        #[arg(long, default_value_t = 1)]
        max_chunks: u64,
        /// With --proving-capacity: the proof tree's index bits (8..=32, ADR 0021). Every
        /// proof index stays below 2^bits (inserts past it are skipped, ADR 0011), and the
        /// block circuit hashes the tree's top 32 − bits levels once per proof instead of
        /// once per entry: 24 (16,777,216 leaves) saves 16 of an entry's 73 permutations;
        /// 32 opens whole paths and keeps the whole tree.
        #[arg(long, default_value_t = parley_proofs::DEFAULT_INDEX_BITS)]
        proof_index_bits: u32,
        /// With --proving-capacity: heights an assigned prover has for its proof.
        #[arg(long, default_value_t = 30)]
        proof_window: u64,
        /// With --proving-capacity: unproven slots at which backpressure holds.
        #[arg(long, default_value_t = 64)]
        max_unproven_slots: u64,
        /// With --proving-capacity: heights a fallback round takes commits (0: the default).
        #[arg(long, default_value_t = 0)]
        commit_window: u64,
        /// With --proving-capacity: heights a fallback round takes reveals after its commits
        /// (0: the default).
        #[arg(long, default_value_t = 0)]
        reveal_proof_window: u64,
        /// With --proving-capacity: pin this ceremony powers-of-tau file (its keccak256 and k)
        /// and compute the block circuit's vk with it. Without it genesis pins the seeded
        /// development setup (`srs = "dev"`), with which anyone can forge proofs.
        #[arg(long)]
        srs_file: Option<PathBuf>,
        /// With --proving-capacity: turn epoch aggregation on (DESIGN §3.14) with this many
        /// slots per epoch; the aggregation circuit's vk hash is computed here (keygen of the
        /// verifying key: minutes) and pinned.
        #[arg(long)]
        epoch_slots: Option<u64>,
        /// With --epoch-slots: the most slots of an epoch that may need a block proof (the
        /// aggregation circuit's capacity, at most 64); a full epoch's later slots carry no
        /// L2 transactions. Default: --epoch-slots, at most 64 (as the localnet's default).
        #[arg(long)]
        agg_capacity: Option<u64>,
        /// With --epoch-slots: the aggregation circuit's degree k. Default: from the capacity
        /// (20 up to 2 proofs, one more per doubling), so that layer 1 fits the compression
        /// circuit's pinned shape (ADR 0019).
        #[arg(long)]
        agg_k: Option<u32>,
        /// With --epoch-slots: aggregate in a tree (ADR 0020) of leaves of this many block
        /// proofs, --agg-capacity / this many of them (2..=8) under a root, instead of one flat
        /// layer 1: for epochs whose flat layer 1 does not fit the provers' memory (8 blocks
        /// and more on 24 GiB). --agg-k is then the root's degree (default: 21 for 2 leaves,
        /// one more per doubling).
        #[arg(long, requires = "epoch_slots")]
        agg_leaf_capacity: Option<u64>,
        /// With --agg-leaf-capacity: the leaf circuit's degree (default from the leaf
        /// capacity, as a flat layer 1's).
        #[arg(long, requires = "agg_leaf_capacity")]
        agg_leaf_k: Option<u32>,
        /// With --agg-leaf-capacity: a middle layer of nodes over this many leaves each
        /// between the leaves and the root (2..=8), e.g. 16-block epochs as 2 middle nodes of
        /// 2 leaves of 4, so that no circuit outgrows the 8-block tree's.
        #[arg(long, requires = "agg_leaf_capacity")]
        agg_middle_leaves: Option<u64>,
        /// With --agg-middle-leaves: the middle circuit's degree (default as a root's over
        /// as many inputs).
        #[arg(long, requires = "agg_middle_leaves")]
        agg_middle_k: Option<u32>,
        /// With --epoch-slots: heights the drawn aggregator has for its `Aggregate` (the
        /// genesis `unbonding_delay` is raised past it when needed).
        #[arg(long, default_value_t = 100)]
        agg_window: u64,
        /// With --epoch-slots: the aggregator's share of the epoch's base fees, basis points.
        #[arg(long, default_value_t = 1_000)]
        agg_share_bps: u64,
        /// With --epoch-slots: the chain takes the proof L1 verifies (`EpochProof`, the
        /// compression circuit at this degree k, usually 22: its shape is pinned, ADR 0019) and
        /// keeps it for the relayers;
        /// its vk hash is computed here (minutes, and the k-degree SRS) and pinned.
        #[arg(long, requires = "epoch_slots")]
        l1_proof_k: Option<u32>,
        /// With --l1-proof-k: write the compression circuit's Solidity verifier (pragma
        /// 0.8.19) here, the contract `parley-bridge deploy` gives the Rollup.
        #[arg(long, requires = "l1_proof_k")]
        l1_verifier_out: Option<PathBuf>,
        /// The L1 bridge (DESIGN §6): the address of the Rollup contract on L1. With it the
        /// validators attest every epoch (needs --epoch-slots and --validators-from; each
        /// validator's bridge key is its operator's address).
        #[arg(long, requires = "bridge_l1_chain_id")]
        bridge_rollup: Option<alloy_primitives::Address>,
        /// With --bridge-rollup: the L1 chain's id.
        #[arg(long, requires = "bridge_rollup")]
        bridge_l1_chain_id: Option<u64>,
    },
    /// Print dev account N's private key (hex): localnet only, for the built-in sequencer's
    /// `sequencer_key` and the prover's key.
    DevKey {
        /// The account index (m/44'/60'/0'/0/N of the test mnemonic).
        index: u32,
    },
    /// Sign a protocol message (DESIGN §3) with an operator key, send it through a node's
    /// JSON-RPC and wait until a block carries it: it prints `executed`, or fails with the
    /// node's reason for refusing it at its turn. When another signer of the same key (a
    /// running prover worker) takes its nonce first, it signs the message again with the next
    /// nonce. Amounts are wei, or ether with an `eth` suffix (`10eth`).
    ///
    /// Examples:
    ///   parleyd msg --dev-account 9 fund 20eth
    ///   parleyd msg --dev-account 9 bond-validator 1eth --home ~/.parley/node4
    ///   parleyd msg --key-file prover.key stake-prover 5eth
    ///   parleyd msg --key-file prover.key unbond prover --wait-release 3600
    #[command(verbatim_doc_comment)]
    Msg {
        /// The node's Ethereum JSON-RPC.
        #[arg(long, default_value = "http://127.0.0.1:8545", env = "PARLEY_RPC")]
        rpc: String,
        #[command(flatten)]
        keys: KeyArgs,
        /// Seconds to wait for the chain to execute the message (0: do not wait).
        #[arg(long, default_value_t = 60)]
        wait_secs: u64,
        #[command(subcommand)]
        action: MsgAction,
    },
    /// What an operator's address holds and must do next: its roles (bond, stake, reputation,
    /// heartbeat deadline, power, bridge key), stakes on their way back, its ledger balance,
    /// what the protocol paid it and fined it since genesis, and its duties with their
    /// deadlines: slots it is drawn to Select and prove, proof windows still open or missed,
    /// fallback rounds it may join, bids it must reveal, epochs it must aggregate.
    ///
    /// Examples:
    ///   parleyd duties --address 0xb1f1…344c
    ///   parleyd duties --key-file prover.key --rpc http://node:8545
    ///   parleyd duties --dev-account 1200          (the localnet's prover)
    #[command(verbatim_doc_comment)]
    Duties {
        /// The node's Ethereum JSON-RPC.
        #[arg(long, default_value = "http://127.0.0.1:8545", env = "PARLEY_RPC")]
        rpc: String,
        /// The address to report on (or give its key: only its address is used).
        #[arg(long, conflicts_with_all = ["key", "key_file", "dev_account"])]
        address: Option<alloy_primitives::Address>,
        #[command(flatten)]
        keys: KeyArgs,
    },
    /// The slot schedule: for each slot from --from (default: the next), its auction state,
    /// bids, winning bid and the prover(s) drawn for it (drawn `lookahead` slots ahead).
    ///
    /// Example: parleyd schedule --count 8
    #[command(verbatim_doc_comment)]
    Schedule {
        /// The node's Ethereum JSON-RPC.
        #[arg(long, default_value = "http://127.0.0.1:8545", env = "PARLEY_RPC")]
        rpc: String,
        /// First slot (default: the next one).
        #[arg(long)]
        from: Option<u64>,
        /// How many slots (at most 256).
        #[arg(long, default_value_t = 16)]
        count: u64,
    },
    /// Follow a node while it catches up (after joining, or a restart), with a progress bar
    /// toward a peer's height, until it has caught up; exits non-zero if it has not within
    /// --timeout.
    ///
    /// Examples:
    ///   parleyd sync --node http://127.0.0.1:26697 --peer http://127.0.0.1:26657
    ///   parleyd sync                                  (this host's node, no peer: until
    ///                                                  CometBFT stops catching up)
    #[command(verbatim_doc_comment)]
    Sync {
        /// The node's CometBFT RPC.
        #[arg(long, default_value = "http://127.0.0.1:26657")]
        node: String,
        /// A peer's CometBFT RPC, whose height is the target.
        #[arg(long)]
        peer: Option<String>,
        /// Seconds to wait at most.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// Print a CometBFT node's consensus public key (hex), from its priv_validator_key.json.
    ConsensusKey {
        /// The CometBFT home.
        #[arg(long)]
        home: PathBuf,
    },
    /// Run the node.
    Start {
        /// Node home folder.
        #[arg(long)]
        home: PathBuf,
    },
}

/// The operator's key, from exactly one place.
#[derive(clap::Args)]
struct KeyArgs {
    /// The operator's secp256k1 private key, hex.
    #[arg(long, env = "PARLEY_KEY", conflicts_with_all = ["key_file", "dev_account"])]
    key: Option<String>,
    /// A file holding the operator's private key, hex.
    #[arg(long, conflicts_with = "dev_account")]
    key_file: Option<PathBuf>,
    /// Dev account N of the test mnemonic (localnet only).
    #[arg(long)]
    dev_account: Option<u32>,
}

#[derive(Subcommand)]
enum MsgAction {
    /// Move wei from the EVM balance to the protocol ledger.
    Fund { amount: String },
    /// Move wei from the protocol ledger to the EVM balance.
    Withdraw { amount: String },
    /// Register as a sequencer, or add to the bond.
    BondSequencer { amount: String },
    /// Register as a prover, or add to the stake.
    StakeProver { amount: String },
    /// Register as a validator, or add to the bond. Power is bond / power_unit, applied at
    /// the next epoch boundaries (at most a third of the total power changes per epoch).
    BondValidator {
        amount: String,
        /// The validator node's CometBFT home (its config/priv_validator_key.json).
        #[arg(long, conflicts_with = "consensus_key")]
        home: Option<PathBuf>,
        /// The node's ed25519 consensus public key, hex (instead of --home).
        #[arg(long)]
        consensus_key: Option<alloy_primitives::B256>,
        /// The bridge key's address (default: the operator's own address).
        #[arg(long)]
        bridge_key: Option<alloy_primitives::Address>,
    },
    /// Leave a role: sequencer, prover or validator. The bond returns to the ledger after
    /// the unbonding delay (a validator's once its power has left the set and, on a chain
    /// with a bridge, L1 finalized the last epoch it signed). It stays slashable meanwhile.
    Unbond {
        /// sequencer, prover or validator.
        role: String,
        /// Then follow the chain, with a progress bar, until the bond is back in the ledger
        /// (up to this many seconds; 0: do not wait).
        #[arg(long, default_value_t = 0, value_name = "SECONDS")]
        wait_release: u64,
    },
    /// A prover's heartbeat.
    Heartbeat,
}

/// The operator key from exactly one of `--key`, `--key-file` and `--dev-account`.
fn operator_key(k: KeyArgs) -> eyre::Result<PrivateKeySigner> {
    Ok(match (k.key, k.key_file, k.dev_account) {
        (Some(k), _, _) => k
            .trim()
            .parse::<PrivateKeySigner>()
            .map_err(|e| eyre::eyre!("--key: not a secp256k1 private key in hex: {e}"))?,
        (None, Some(f), _) => std::fs::read_to_string(&f)
            .map_err(|e| eyre::eyre!("reading {}: {e}", f.display()))?
            .trim()
            .parse::<PrivateKeySigner>()
            .map_err(|e| eyre::eyre!("{}: not a secp256k1 private key in hex: {e}", f.display()))?,
        (None, None, Some(i)) => operator::dev_account(i)?,
        (None, None, None) => {
            eyre::bail!("no operator key: pass --key, --key-file or --dev-account")
        }
    })
}

/// `123`, `0x7b` (wei) or `1.5eth`.
fn parse_amount(s: &str) -> eyre::Result<U256> {
    let s = s.trim();
    if let Some(e) = s.strip_suffix("eth").or_else(|| s.strip_suffix("ether")) {
        let (whole, frac) = e.split_once('.').unwrap_or((e, ""));
        if frac.len() > 18
            || !whole
                .chars()
                .chain(frac.chars())
                .all(|c| c.is_ascii_digit())
        {
            eyre::bail!("amount {s:?}: expected digits with at most 18 decimals before 'eth'");
        }
        let wei = format!("{whole}{frac:0<18}");
        return U256::from_str_radix(wei.trim_start_matches('0').max("0"), 10)
            .map_err(|e| eyre::eyre!("amount {s:?}: {e}"));
    }
    s.parse::<U256>()
        .map_err(|e| eyre::eyre!("amount {s:?}: {e} (wei, or ether with an 'eth' suffix)"))
}

fn msg_action(a: MsgAction, operator: alloy_primitives::Address) -> eyre::Result<Action> {
    Ok(match a {
        MsgAction::Fund { amount } => Action::Fund(parse_amount(&amount)?),
        MsgAction::Withdraw { amount } => Action::Withdraw(parse_amount(&amount)?),
        MsgAction::BondSequencer { amount } => Action::BondSequencer(parse_amount(&amount)?),
        MsgAction::StakeProver { amount } => Action::StakeProver(parse_amount(&amount)?),
        MsgAction::BondValidator {
            amount,
            home,
            consensus_key,
            bridge_key,
        } => {
            let consensus_key = match (home, consensus_key) {
                (Some(h), _) => operator::consensus_key(&h.join("config/priv_validator_key.json"))?,
                (None, Some(k)) => k.0,
                (None, None) => eyre::bail!("bond-validator needs --home or --consensus-key"),
            };
            Action::BondValidator {
                amount: parse_amount(&amount)?,
                consensus_key,
                bridge_key: bridge_key.unwrap_or(operator),
            }
        }
        MsgAction::Unbond { role, .. } => Action::Unbond(match role.as_str() {
            "sequencer" => Role::Sequencer,
            "prover" => Role::Prover,
            "validator" => Role::Validator,
            other => eyre::bail!("unbond: unknown role {other:?} (sequencer, prover or validator)"),
        }),
        MsgAction::Heartbeat => Action::Heartbeat,
    })
}

fn main() -> eyre::Result<()> {
    match Cli::parse().cmd {
        Cmd::Init {
            home,
            moniker,
            force,
        } => {
            let file = Config::write_default(&home, &Config::default(), force)?;
            println!("wrote {} for {moniker}", file.display());
            Ok(())
        }
        Cmd::GenesisAppState {
            chain_id,
            dev_accounts,
            balance_wei,
            no_predeploys,
            validators_from,
            operator_base,
            operators,
            epoch_heights,
            sequencers,
            sequencer_base,
            provers,
            prover_base,
            proving_capacity,
            max_chunks,
            proof_index_bits,
            proof_window,
            max_unproven_slots,
            commit_window,
            reveal_proof_window,
            srs_file,
            epoch_slots,
            agg_capacity,
            agg_k,
            agg_leaf_capacity,
            agg_leaf_k,
            agg_middle_leaves,
            agg_middle_k,
            agg_window,
            agg_share_bps,
            l1_proof_k,
            l1_verifier_out,
            bridge_rollup,
            bridge_l1_chain_id,
        } => {
            let mut params = Params {
                chain_id,
                ..Params::default()
            };
            if let (Some(rollup), Some(l1_chain_id)) = (bridge_rollup, bridge_l1_chain_id) {
                params.protocol.bridge = Some(parley_app::chain::genesis::BridgeParams {
                    l1_chain_id,
                    rollup,
                });
            }
            if agg_capacity.is_some() && epoch_slots.is_none() {
                eyre::bail!("--agg-capacity needs --epoch-slots");
            }
            if epoch_slots.is_some() && proving_capacity.is_none() {
                eyre::bail!(
                    "--epoch-slots needs --proving-capacity: epochs aggregate block proofs"
                );
            }
            if let Some(cap) = proving_capacity {
                let srs = match &srs_file {
                    None => parley_app::chain::genesis::SrsPin::Dev,
                    Some(path) => {
                        let c = parley_proofs::params::Ceremony::load(path, None)
                            .map_err(|e| eyre::eyre!("--srs-file: {e}"))?;
                        let pin = parley_app::chain::genesis::SrsPin::Ceremony {
                            hash: c.hash(),
                            k: c.k(),
                        };
                        parley_proofs::params::select(parley_proofs::params::Srs::Ceremony(
                            std::sync::Arc::new(c),
                        ))
                        .map_err(|e| eyre::eyre!("--srs-file: {e}"))?;
                        pin
                    }
                };
                let mut fallback = parley_app::chain::genesis::FallbackParams::default();
                if commit_window > 0 {
                    fallback.commit_window = commit_window;
                }
                if reveal_proof_window > 0 {
                    fallback.reveal_proof_window = reveal_proof_window;
                }
                let verifier = parley_proofs::BlockVerifier::setup_for(
                    usize::try_from(cap)
                        .map_err(|_| eyre::eyre!("--proving-capacity too large"))?,
                    proof_index_bits,
                )
                .map_err(|e| {
                    eyre::eyre!(
                        "block circuit of capacity {cap}, {proof_index_bits} index bits: {e}"
                    )
                })?;
                let aggregation = match epoch_slots {
                    None => None,
                    Some(n) => {
                        let m = agg_capacity.unwrap_or(n.min(64));
                        if !(1..=64).contains(&m) || m > n {
                            eyre::bail!(
                                "--agg-capacity {m}: must be in 1..=64 and at most --epoch-slots {n}"
                            );
                        }
                        let capacity = usize::try_from(m)
                            .map_err(|_| eyre::eyre!("--agg-capacity too large"))?;
                        let tree = match agg_leaf_capacity {
                            None => None,
                            Some(c) => {
                                let middle = agg_middle_leaves.map(|leaves| {
                                    parley_app::chain::genesis::AggMiddleParams {
                                        leaves,
                                        k: agg_middle_k.unwrap_or_else(|| {
                                            parley_proofs::aggregation::tree::root_degree(
                                                leaves as usize,
                                            )
                                        }),
                                    }
                                });
                                let leaf_k = agg_leaf_k.unwrap_or_else(|| {
                                    parley_proofs::aggregation::layer1_degree(c as usize)
                                });
                                Some(parley_app::chain::genesis::AggTreeParams {
                                    leaf_capacity: c,
                                    leaf_k,
                                    middle,
                                })
                            }
                        };
                        let agg_k = agg_k.unwrap_or_else(|| match tree {
                            None => parley_proofs::aggregation::layer1_degree(capacity),
                            Some(t) => parley_proofs::aggregation::tree::root_degree(
                                (m / t.child_capacity().max(1)) as usize,
                            ),
                        });
                        let mut pinned = parley_app::chain::genesis::AggregationParams {
                            epoch_slots: n,
                            agg_capacity: m,
                            agg_k,
                            agg_vk_hash: alloy_primitives::B256::ZERO,
                            agg_window,
                            agg_share_bps,
                            l1_proof: None,
                            tree,
                        };
                        if let Some(t) = tree {
                            let c = t.child_capacity();
                            if c == 0 || m % c != 0 || !(2..=8).contains(&(m / c)) {
                                eyre::bail!(
                                    "--agg-leaf-capacity {} (× --agg-middle-leaves): must divide --agg-capacity {m} into 2..=8 root inputs",
                                    t.leaf_capacity
                                );
                            }
                        }
                        let shape = pinned.shape();
                        let agg = parley_proofs::aggregation::EpochVerifier::setup_shape(
                            &verifier, &shape,
                        )
                        .map_err(|e| eyre::eyre!("aggregation circuit {shape:?}: {e}"))?;
                        pinned.agg_vk_hash = agg.vk_hash();
                        // Nodes on this machine read it instead of making it again.
                        if let Err(e) = agg.write_cache(&parley_proofs::params::params_dir()) {
                            eprintln!("epoch verifier key not cached: {e}");
                        }
                        // A drawn aggregator's stake stays slashable through its window.
                        if params.protocol.unbonding_delay <= agg_window {
                            params.protocol.unbonding_delay =
                                agg_window.saturating_add(params.protocol.unbonding_delay);
                            eprintln!(
                                "--agg-window {agg_window}: unbonding_delay raised to {}",
                                params.protocol.unbonding_delay
                            );
                        }
                        let l1_proof = match l1_proof_k {
                            None => None,
                            Some(k) => {
                                let l1 =
                                    parley_proofs::aggregation::CompressionVerifier::setup(&agg, k)
                                        .map_err(|e| {
                                            eyre::eyre!("compression circuit at k = {k}: {e}")
                                        })?;
                                if let Err(e) = l1.write_cache(&parley_proofs::params::params_dir())
                                {
                                    eprintln!("compression verifier key not cached: {e}");
                                }
                                if let Some(out) = &l1_verifier_out {
                                    std::fs::write(out, l1.solidity_verifier()).map_err(|e| {
                                        eyre::eyre!("writing {}: {e}", out.display())
                                    })?;
                                }
                                Some(parley_app::chain::genesis::L1ProofParams {
                                    k,
                                    vk_hash: l1.vk_hash(),
                                })
                            }
                        };
                        pinned.l1_proof = l1_proof;
                        Some(pinned)
                    }
                };
                params.protocol.max_diff_entries = cap.saturating_mul(max_chunks);
                params.protocol.proving = Some(parley_app::chain::genesis::ProvingParams {
                    block_capacity: cap,
                    max_chunks,
                    block_vk_hash: verifier.vk_hash(),
                    proof_index_bits,
                    srs,
                    proof_window,
                    prover_fee_share_bps: 5_000,
                    invalid_proof_fine: U256::from(100_000_000_000_000_000u128),
                    rep_up: 10_000,
                    max_unproven_slots,
                    fallback,
                    aggregation,
                });
            }
            if let Some(e) = epoch_heights {
                params.protocol.epoch_heights = e;
            }
            let mut funded: Vec<_> = parley_app::dev_accounts(dev_accounts)?
                .iter()
                .map(|s| s.address())
                .collect();
            if validators_from.is_some() {
                for i in 0..operators {
                    funded.push(operator::dev_account(operator_base + i)?.address());
                }
            }
            let mut g = AppGenesis::funded(params, funded, balance_wei);
            if !no_predeploys {
                g = g.with_predeploys();
            }
            if let Some(path) = validators_from {
                g.validators = registered_validators(&path, &g.params, operator_base)?;
            }
            let eth = U256::from(1_000_000_000_000_000_000u128);
            for (n, base, bond, ledger, is_seq) in [
                (
                    sequencers,
                    sequencer_base,
                    eth * U256::from(2),
                    eth * U256::from(100),
                    true,
                ),
                (provers, prover_base, eth * U256::from(10), eth, false),
            ] {
                for j in 0..n {
                    let address = operator::dev_account(base + j)?.address();
                    g.ledger.push(GenesisLedger {
                        address,
                        balance: ledger,
                    });
                    let b = GenesisBond {
                        address,
                        amount: bond,
                    };
                    if is_seq {
                        g.sequencers.push(b);
                    } else {
                        g.provers.push(b);
                    }
                }
            }
            g.validate()?;
            println!("{}", serde_json::to_string_pretty(&g)?);
            Ok(())
        }
        Cmd::DevKey { index } => {
            let k = operator::dev_account(index)?;
            println!("{}", alloy_primitives::hex::encode_prefixed(k.to_bytes()));
            Ok(())
        }
        Cmd::ConsensusKey { home } => {
            let k = operator::consensus_key(&home.join("config/priv_validator_key.json"))?;
            println!("{}", alloy_primitives::B256::from(k));
            Ok(())
        }
        Cmd::Msg {
            rpc,
            keys,
            wait_secs,
            action,
        } => {
            let signer = operator_key(keys)?;
            let release = match &action {
                MsgAction::Unbond { role, wait_release } if *wait_release > 0 => {
                    Some((role.clone(), *wait_release))
                }
                _ => None,
            };
            let action = msg_action(action, signer.address())?;
            let wait = (wait_secs > 0).then(|| std::time::Duration::from_secs(wait_secs));
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (hash, after) = rt.block_on(async {
                operator::Client::new(&rpc)?
                    .send(&signer, &action, wait)
                    .await
            })?;
            println!(
                "{} {:?} from {}: message {hash}; ledger balance {} wei, next nonce {}",
                if wait.is_some() { "executed" } else { "sent" },
                action.kind().name(),
                signer.address(),
                after.balance,
                after.nonce
            );
            if let Some((role, secs)) = release {
                let line = rt.block_on(operator::duties::wait_release(
                    &rpc,
                    signer.address(),
                    &role,
                    std::time::Duration::from_secs(secs),
                ))?;
                println!("{line}");
            }
            Ok(())
        }
        Cmd::Duties { rpc, address, keys } => {
            let address = match address {
                Some(a) => a,
                None => operator_key(keys)
                    .map_err(|_| {
                        eyre::eyre!(
                            "whose duties? pass --address, --key, --key-file or --dev-account"
                        )
                    })?
                    .address(),
            };
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let snap = rt.block_on(operator::duties::fetch(&rpc, address))?;
            print!("{}", operator::duties::report(&snap));
            Ok(())
        }
        Cmd::Sync {
            node,
            peer,
            timeout,
        } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let line = rt.block_on(operator::sync::follow(
                &node,
                peer.as_deref(),
                std::time::Duration::from_secs(timeout),
            ))?;
            println!("{line}");
            Ok(())
        }
        Cmd::Schedule { rpc, from, count } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            print!(
                "{}",
                rt.block_on(operator::duties::schedule(&rpc, from, count))?
            );
            Ok(())
        }
        Cmd::Start { home } => {
            let cfg = Config::load(&home, |k| std::env::var(k).ok())?;
            parley_app::node::run(cfg)
        }
    }
}
