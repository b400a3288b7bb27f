//! The `parley_` JSON-RPC namespace for the protocol ledger and registries (docs/protocol.md,
//! "JSON-RPC"): submit a signed protocol message, read an address's ledger account and
//! roles, list a registry, read the pot and the protocol parameters. Reads are of the last
//! committed state.

use alloy_primitives::{Address, B256, Bytes, U64, U256};
use jsonrpsee::server::RpcModule;
use jsonrpsee::types::{ErrorObjectOwned, Params};
use parley_types::{
    BidEntry, Earnings, EpochState, LedgerAccount, Pot, ProofChain, ProofSlot, ProverEntry, Role,
    Selection, SequencerEntry, SlotEntry, StateKey, ValidatorEntry, decode_amount,
};
use serde::Serialize;

use super::{Ctx, RpcResult, args, err, internal, invalid};
use crate::chain::overlay::Overlay;
use crate::chain::{aggregation, auction, proving};
use crate::node::metrics as m;
use crate::store::Reader;

fn corrupt(e: impl std::fmt::Display) -> ErrorObjectOwned {
    err(
        -32603,
        format!("internal error: stored protocol entry: {e}"),
    )
}

/// `parley_getLedger`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct LedgerJson {
    balance: U256,
    nonce: U64,
}

/// `parley_getMessage`: how a protocol message ended in the block that carried it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct MessageJson {
    /// The CometBFT height of the block that carried it.
    height: U64,
    /// True when it executed (code 0).
    executed: bool,
    /// Its result code: 0, or the code it was refused with at its turn.
    code: u32,
    /// Why it was refused (empty when executed).
    log: String,
}

/// A sequencer in `parley_getRoles` / `parley_getRegistry`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct SequencerJson {
    address: Address,
    bond: U256,
    since: U64,
    /// Wei taken from its bond in fines, in total (`parley_types::Earnings`).
    fined: U256,
}

/// A prover.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct ProverJson {
    address: Address,
    stake: U256,
    /// Reputation as a fraction of 1 (millionths in state).
    reputation: f64,
    last_heartbeat: U64,
    active: bool,
    /// Wei the protocol paid it (bids, fee shares, fallback shares, bounties), in total.
    earned: U256,
    /// Wei taken from its stake in fines and slashes, in total.
    fined: U256,
}

/// A validator.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct ValidatorJson {
    operator: Address,
    bond: U256,
    consensus_key: B256,
    bridge_key: Address,
    power: U64,
    leaving: bool,
}

/// A bond or stake on its way back.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct UnbondingJson {
    owner: Address,
    role: &'static str,
    amount: U256,
    release_height: U64,
}

/// `parley_getRoles`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct RolesJson {
    /// The address's protocol income and fines in total, whatever its roles now.
    earnings: EarningsJson,
    sequencer: Option<SequencerJson>,
    prover: Option<ProverJson>,
    validator: Option<ValidatorJson>,
    unbonding: Vec<UnbondingJson>,
}

/// One slot of `parley_getSchedule`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct EarningsJson {
    earned: U256,
    fined: U256,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct SlotJson {
    slot: U64,
    provers: Vec<AssignedJson>,
}

/// A drawn prover with its stake at the draw.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct AssignedJson {
    address: Address,
    stake: U256,
}

/// One bid of `parley_getSlot`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct BidJson {
    sequencer: Address,
    commitment: B256,
    amount: U256,
    order: u32,
}

/// `parley_getSlot`: a slot's auction.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct AuctionJson {
    slot: U64,
    /// `no_bids` (yet), `open`, `revealed`, `executed`, `settled`, `withheld`, or `proposer`
    /// (executed without bids: the proposer built it).
    state: &'static str,
    bids: Vec<BidJson>,
    /// `app`, the selecting prover's address, or null.
    selected_by: Option<String>,
    winner: Option<BidJson>,
    escrow: U256,
    provers: Option<Vec<AssignedJson>>,
    bid_heights: [U64; 2],
    select_heights: [U64; 2],
}

/// `parley_getPot`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct PotJson {
    proving_pot: U256,
    burned: U256,
}

/// `parley_getProofChain`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct ProofChainJson {
    /// The last proven slot (0: none yet).
    proven_slot: U64,
    /// The proof-tree root after it (at first the genesis root).
    proven_root: B256,
    /// The newest L2 block whose state is proven (`safe`).
    proven_block: U64,
    /// The oldest slot awaiting its proof, if any.
    oldest_unproven: Option<U64>,
    /// Slots awaiting their proof.
    unproven: U64,
    /// `max_unproven_slots`.
    max_unproven: U64,
    /// Whether the next slot's epoch already holds `agg_capacity` slots that need a proof
    /// (false without aggregation).
    epoch_full: bool,
    /// Whether backpressure holds for the next slot (unproven slots at `max_unproven`, or its
    /// epoch full): it executes no L2 transactions.
    backpressure: bool,
}

/// `parley_getProofSlot`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct ProofSlotJson {
    slot: U64,
    block_number: U64,
    commitment: B256,
    /// Last height at which the assigned prover's proof is on time.
    window_end: U64,
    /// Wei of base fees the pot pays its on-time prover(s).
    fee_share: U256,
    proven: bool,
    /// How many chunks the slot's diff is cut into (ADR 0016): one proof each.
    chunks: u32,
    transitions: Vec<TransitionJson>,
    /// Fallback rounds opened so far (DESIGN §3.9).
    fallback_rounds: u32,
    /// The open round at the next height: `closed`, `commit` or `reveal`.
    fallback_phase: &'static str,
    /// Last height of the open round (absent when none is open).
    #[serde(skip_serializing_if = "Option::is_none")]
    round_end: Option<U64>,
    /// Last height of its commit phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    commit_end: Option<U64>,
    /// Wei the fallback provers would share on top of the missed shares and the slash, if the
    /// slot were proven at the next height (capped by the pot when paid).
    bounty: U256,
    /// The open round's commits.
    commits: Vec<CommitJson>,
    /// Drawn provers slashed when the window ended without their `Proof`, with the unburned
    /// part the pot holds for the fallback provers.
    missed: Vec<MissedJson>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct MissedJson {
    prover: Address,
    kept: U256,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct TransitionJson {
    prover: Address,
    /// The chunk of the slot's diff it proves.
    chunk: u32,
    pre_root: B256,
    post_root: B256,
    height: U64,
    /// Whether it came through the fallback (a `RevealProof`).
    fallback: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct CommitJson {
    prover: Address,
    /// The chunk it commits a proof of.
    chunk: u32,
    hash: B256,
    stake: U256,
    revealed: bool,
}

/// `parley_getTransactionStage`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct StageJson {
    /// `unknown`, `pending`, `sequenced` (executed in a block), `proven` (its block's state
    /// is proven on the app-chain; only on a chain that proves), or `aggregated` (its epoch's
    /// aggregate is accepted on the app-chain; only on a chain that aggregates), or
    /// `finalized` (the L1 Rollup finalized its epoch, as the validators' L1 votes recorded
    /// it; only on a chain with a bridge).
    stage: &'static str,
    /// The epoch of its slot, on a chain that aggregates.
    epoch: Option<U64>,
    /// The L2 block (= slot) that executed it.
    block_number: Option<U64>,
    /// That block's hash.
    block_hash: Option<B256>,
    /// Who built that block.
    builder: Option<Address>,
    /// How the slot was filled: `proposer` (no bids) or the auction state of its slot.
    slot_state: Option<&'static str>,
}

/// `parley_getEpoch`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct EpochJson {
    epoch: U64,
    /// `collecting`, `due`, `aggregated` or `empty` (`collecting` before any record).
    state: &'static str,
    /// Its slots.
    first_slot: U64,
    last_slot: U64,
    /// Base fees its slots put in the proving pot (the aggregator's share is of this).
    fees: U256,
    /// Its slots that executed with a non-empty diff (each needs a block proof), and the most
    /// it may hold (`agg_capacity`); at the capacity its later slots carry no L2 transactions.
    needing: U64,
    agg_capacity: U64,
    /// The proven blocks, in slot order: what the aggregate's public inputs bind.
    blocks: Vec<EpochBlockJson>,
    /// Height at which it closed.
    closed_at: Option<U64>,
    /// The drawn aggregator and its stake at the draw.
    aggregator: Option<Address>,
    aggregator_stake: Option<U256>,
    /// Last height of the drawn aggregator's window.
    window_end: Option<U64>,
    /// The drawn aggregator, slashed at its window's end without its aggregate.
    missed: Option<MissedJson>,
    /// Who aggregated it, the `epoch_commitment` accepted and the height that included it.
    aggregated_by: Option<Address>,
    commitment: Option<B256>,
    aggregated_at: Option<U64>,
    /// Whether the chain holds a verified L1 proof of it (`parley_getEpochProof`).
    l1_proof: bool,
}

/// `parley_getEpochProof`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct EpochProofJson {
    epoch: U64,
    /// The statement the proof proves (the verifier's instances after the accumulator).
    first_pre_root: B256,
    last_post_root: B256,
    epoch_commitment: B256,
    /// Accumulator limbs (12 × 32 bytes), then the proof: what `finalizeEpoch` splits into
    /// `accumulator` and `proof`.
    proof: Bytes,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct EpochBlockJson {
    slot: U64,
    /// Which chunk of the slot, of how many (one aggregation input each).
    chunk: u32,
    chunks: u32,
    block_number: U64,
    commitment: B256,
    prover: Address,
    pre_root: B256,
    post_root: B256,
}

/// An epoch digest's fields (docs/bridge.md), as `parley_getBridge` and
/// `parley_getAttestation` show them.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct DigestJson {
    l1_chain_id: U64,
    rollup: Address,
    l2_chain_id: U64,
    epoch: U64,
    first_pre_root: B256,
    last_post_root: B256,
    epoch_commitment: B256,
    withdrawal_root: B256,
    l1_queue_rolling_hash: B256,
    /// The queue position of `l1QueueRollingHash` (not signed: `finalizeEpoch`'s
    /// `queueCount`).
    l1_queue_count: U64,
    next_validator_set_hash: B256,
    /// What the bridge keys sign.
    digest: B256,
}

impl From<&parley_types::bridge::EpochAttestation> for DigestJson {
    fn from(a: &parley_types::bridge::EpochAttestation) -> Self {
        Self {
            l1_chain_id: U64::from(a.l1_chain_id),
            rollup: a.rollup,
            l2_chain_id: U64::from(a.l2_chain_id),
            epoch: U64::from(a.epoch),
            first_pre_root: a.first_pre_root,
            last_post_root: a.last_post_root,
            epoch_commitment: a.epoch_commitment,
            withdrawal_root: a.withdrawal_root,
            l1_queue_rolling_hash: a.l1_queue_rolling_hash,
            l1_queue_count: U64::from(a.l1_queue_count),
            next_validator_set_hash: a.next_validator_set_hash,
            digest: parley_types::bridge::epoch_digest(a),
        }
    }
}

/// A bridge signing set: the calldata `finalizeEpoch` takes, and its hash.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct SignersJson {
    signers: Vec<Address>,
    powers: Vec<U64>,
    hash: Option<B256>,
}

fn signers_json(set: &[(Address, u64)]) -> SignersJson {
    SignersJson {
        signers: set.iter().map(|(a, _)| *a).collect(),
        powers: set.iter().map(|(_, p)| U64::from(*p)).collect(),
        hash: parley_types::bridge::validator_set_hash(set).ok(),
    }
}

/// `parley_getBridge`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct BridgeJson {
    /// The oldest epoch not attested yet.
    next_epoch: U64,
    /// The proof root it starts at.
    root: B256,
    /// Who signs it.
    set: SignersJson,
    /// Its digest, once fixed (the epoch is done on L2).
    pending: Option<DigestJson>,
    /// The height whose end fixed it.
    pending_since: Option<U64>,
    /// The set that signs the epoch after it.
    next_set: Option<SignersJson>,
    /// The L1 queue on L2 (consensus state).
    queue: QueueJson,
    /// What this node's L1 watcher has seen (node-local: other nodes may differ).
    l1_view: L1ViewJson,
}

/// The L1 queue as the chain consumed it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct QueueJson {
    /// Entries consumed (deposits credited, forced transactions queued or dropped).
    consumed: U64,
    /// The rolling hash after them (the Rollup's `rollingHash(consumed)`).
    rolling_hash: B256,
    /// Where the last attested epoch ended in the queue.
    attested_count: U64,
    /// Epochs final on L1 (`0 .. l1FinalizedEpochs`), as the validators' votes recorded them.
    l1_finalized_epochs: U64,
}

/// This node's L1 watcher's view of the queue.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct L1ViewJson {
    /// Entries seen, final at `l1Block`.
    seen: U64,
    /// Epochs the Rollup had finalized at `l1Block` (`nextEpoch()`).
    finalized_epochs: U64,
    /// The L1 block the view is complete to.
    l1_block: U64,
    /// The rolling hash after the entries seen.
    rolling_hash: B256,
    /// The watcher's last error, if any.
    error: Option<String>,
}

/// One signature of an attestation, split as `finalizeEpoch` takes it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct SigJson {
    /// Index of the signer in the set.
    index: u16,
    signer: Address,
    r: B256,
    s: B256,
    v: u8,
}

/// `parley_getAttestation`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct AttestationJson {
    attestation: DigestJson,
    set: SignersJson,
    signatures: Vec<SigJson>,
    /// Signed power, of the set's total.
    signed_power: U64,
    total_power: U64,
    /// Height of the block that carried the signatures.
    height: U64,
}

/// One withdrawal of `parley_getWithdrawals`: what `Rollup.claimWithdrawal` takes.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct WithdrawalJson {
    index: U64,
    sender: Address,
    l1_recipient: Address,
    amount: U256,
    block_number: U64,
    /// Siblings from the leaf up.
    path: Vec<B256>,
}

/// `parley_getWithdrawals`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct WithdrawalsJson {
    epoch: U64,
    /// The root of the epoch's withdrawal tree so far (final once the epoch is done on L2).
    root: B256,
    withdrawals: Vec<WithdrawalJson>,
}

/// `parley_getSeed`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct SeedJson {
    /// The seed the draws of coming heights use.
    seed: B256,
    /// Every stored commitment: whose (consensus address) and of which epoch.
    commitments: Vec<CommitmentJson>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct CommitmentJson {
    validator: Address,
    epoch: U64,
    hash: B256,
}

fn height(r: &Reader) -> RpcResult<u64> {
    Ok(r.last_commit().map_err(internal)?.0)
}

/// `a`'s earnings and fines so far (zero if none were recorded).
fn earnings(r: &Reader, a: Address) -> RpcResult<Earnings> {
    r.app_entry(&StateKey::Earnings(a))
        .map_err(internal)?
        .map(|b| Earnings::decode(&b).map_err(corrupt))
        .transpose()
        .map(Option::unwrap_or_default)
}

fn sequencer(r: &Reader, a: Address, b: &[u8]) -> RpcResult<SequencerJson> {
    let e = SequencerEntry::decode(b).map_err(corrupt)?;
    Ok(SequencerJson {
        address: a,
        bond: e.bond,
        since: U64::from(e.since),
        fined: earnings(r, a)?.fined,
    })
}

fn prover(r: &Reader, a: Address, b: &[u8], now: u64, grace: u64) -> RpcResult<ProverJson> {
    let e = ProverEntry::decode(b).map_err(corrupt)?;
    let money = earnings(r, a)?;
    Ok(ProverJson {
        address: a,
        stake: e.stake,
        reputation: e.reputation as f64 / parley_types::REPUTATION_ONE as f64,
        last_heartbeat: U64::from(e.last_heartbeat),
        active: e.is_active(now, grace),
        earned: money.earned,
        fined: money.fined,
    })
}

fn validator(a: Address, b: &[u8]) -> RpcResult<ValidatorJson> {
    let e = ValidatorEntry::decode(b).map_err(corrupt)?;
    Ok(ValidatorJson {
        operator: a,
        bond: e.bond,
        consensus_key: B256::from(e.consensus_key),
        bridge_key: e.bridge_key,
        power: U64::from(e.power),
        leaving: e.leaving,
    })
}

fn unbonding(r: &Reader, owner: Option<Address>) -> RpcResult<Vec<UnbondingJson>> {
    let all = r
        .app_entries(StateKey::unbonding_due(u64::MAX))
        .map_err(internal)?;
    let mut out = Vec::new();
    for (k, v) in all {
        let StateKey::Unbonding {
            release,
            owner: o,
            role,
        } = k
        else {
            return Err(corrupt(format!("{k:?} in the unbonding range")));
        };
        if owner.is_some_and(|w| w != o) {
            continue;
        }
        out.push(UnbondingJson {
            owner: o,
            role: role.name(),
            amount: decode_amount(&v).map_err(corrupt)?,
            release_height: U64::from(release),
        });
    }
    Ok(out)
}

fn role_range(role: Role) -> std::ops::RangeInclusive<StateKey> {
    let (lo, hi) = (Address::ZERO, Address::repeat_byte(0xff));
    match role {
        Role::Sequencer => StateKey::Sequencer(lo)..=StateKey::Sequencer(hi),
        Role::Prover => StateKey::Prover(lo)..=StateKey::Prover(hi),
        Role::Validator => StateKey::Validator(lo)..=StateKey::Validator(hi),
    }
}

pub(super) fn register(
    module: &mut RpcModule<Ctx>,
) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    module.register_async_method(
        "parley_sendMessage",
        |p: Params<'static>, ctx, _| async move {
            m::rpc("parley_sendMessage");
            let raw: Bytes = p.one()?;
            if !crate::chain::msg::is_signed_message(&raw) {
                return Err(invalid(
                    "not a signed protocol message (PRLY v1 kind 2); EVM transactions go to \
                     eth_sendRawTransaction",
                ));
            }
            let m = ctx
                .app
                .check_message(&raw, false)
                .map_err(|e| err(-32603, format!("internal error: {e}")))?
                .map_err(|r| err(-32000, format!("refused (code {}): {}", r.code, r.log)))?;
            ctx.broadcast(&raw).await?;
            Ok(m.hash)
        },
    )?;
    module.register_method("parley_getLedger", |p: Params, ctx, _| {
        m::rpc("parley_getLedger");
        let a: Address = p.one()?;
        let r = ctx.reader()?;
        let acc = r
            .app_entry(&StateKey::Ledger(a))
            .map_err(internal)?
            .map(|b| LedgerAccount::decode(&b).map_err(corrupt))
            .transpose()?
            .unwrap_or_default();
        Ok::<_, ErrorObjectOwned>(LedgerJson {
            balance: acc.balance,
            nonce: U64::from(acc.nonce),
        })
    })?;
    module.register_method("parley_getMessage", |p: Params, ctx, _| {
        m::rpc("parley_getMessage");
        let hash: B256 = p.one()?;
        let r = ctx.reader()?;
        Ok::<_, ErrorObjectOwned>(r.message(&hash).map_err(internal)?.map(|m| MessageJson {
            height: U64::from(m.height),
            executed: m.code == 0,
            code: m.code,
            log: m.log,
        }))
    })?;
    module.register_method("parley_getRoles", |p: Params, ctx, _| {
        m::rpc("parley_getRoles");
        let a: Address = p.one()?;
        let params = ctx.params()?;
        let r = ctx.reader()?;
        let now = height(&r)?;
        let get = |k: StateKey| r.app_entry(&k).map_err(internal);
        let money = earnings(&r, a)?;
        Ok::<_, ErrorObjectOwned>(RolesJson {
            earnings: EarningsJson {
                earned: money.earned,
                fined: money.fined,
            },
            sequencer: get(StateKey::Sequencer(a))?
                .map(|b| sequencer(&r, a, &b))
                .transpose()?,
            prover: get(StateKey::Prover(a))?
                .map(|b| prover(&r, a, &b, now, params.protocol.heartbeat_grace))
                .transpose()?,
            validator: get(StateKey::Validator(a))?
                .map(|b| validator(a, &b))
                .transpose()?,
            unbonding: unbonding(&r, Some(a))?,
        })
    })?;
    module.register_blocking_method("parley_getRegistry", |p: Params, ctx, _| {
        m::rpc("parley_getRegistry");
        let (role,): (String,) = args(&p, 1)?;
        let params = ctx.params()?;
        let r = ctx.reader()?;
        let now = height(&r)?;
        let role = match role.as_str() {
            "sequencer" => Role::Sequencer,
            "prover" => Role::Prover,
            "validator" => Role::Validator,
            "unbonding" => return Ok(serde_json::to_value(unbonding(&r, None)?).expect("json")),
            other => {
                return Err(invalid(format!(
                    "unknown registry {other:?}: sequencer, prover, validator or unbonding"
                )));
            }
        };
        let entries = r.app_entries(role_range(role)).map_err(internal)?;
        let mut out = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            let json = match k {
                StateKey::Sequencer(a) => serde_json::to_value(sequencer(&r, a, &v)?),
                StateKey::Prover(a) => {
                    serde_json::to_value(prover(&r, a, &v, now, params.protocol.heartbeat_grace)?)
                }
                StateKey::Validator(a) => serde_json::to_value(validator(a, &v)?),
                other => return Err(corrupt(format!("{other:?} in a registry range"))),
            };
            out.push(json.expect("registry entries serialize"));
        }
        Ok::<_, ErrorObjectOwned>(serde_json::Value::Array(out))
    })?;
    module.register_blocking_method("parley_getSchedule", |p: Params, ctx, _| {
        m::rpc("parley_getSchedule");
        let (from, count): (Option<U64>, Option<U64>) = args(&p, 2)?;
        let params = ctx.params()?;
        let r = ctx.reader()?;
        let next = height(&r)? + 1;
        let from: u64 = from.map_or(next, |f| f.to());
        let count: u64 = count.map_or(params.protocol.lookahead, |c| c.to());
        if count > 1024 {
            return Err(invalid("count is at most 1024 slots"));
        }
        let mut out = Vec::new();
        for slot in from..from.saturating_add(count) {
            let Some(bytes) = r.app_entry(&StateKey::Assignment(slot)).map_err(internal)? else {
                continue;
            };
            let a = parley_types::Assignment::decode(&bytes).map_err(corrupt)?;
            out.push(SlotJson {
                slot: U64::from(slot),
                provers: a
                    .provers
                    .into_iter()
                    .map(|(address, stake)| AssignedJson { address, stake })
                    .collect(),
            });
        }
        Ok::<_, ErrorObjectOwned>(out)
    })?;
    module.register_method("parley_getPot", |_, ctx, _| {
        m::rpc("parley_getPot");
        let r = ctx.reader()?;
        let pot = r
            .app_entry(&StateKey::Pot)
            .map_err(internal)?
            .map(|b| Pot::decode(&b).map_err(corrupt))
            .transpose()?
            .unwrap_or_default();
        Ok::<_, ErrorObjectOwned>(PotJson {
            proving_pot: pot.proving_pot,
            burned: pot.burned,
        })
    })?;
    module.register_method("parley_getProofChain", |_, ctx, _| {
        m::rpc("parley_getProofChain");
        let r = ctx.reader()?;
        let Some(c) = r
            .app_entry(&StateKey::ProofChain)
            .map_err(internal)?
            .map(|b| ProofChain::decode(&b).map_err(corrupt))
            .transpose()?
        else {
            return Err(invalid(
                "this chain takes no block proofs (no params.protocol.proving)",
            ));
        };
        let max = ctx
            .app
            .params()
            .and_then(|p| p.protocol.proving)
            .map_or(0, |p| p.max_unproven_slots);
        let latest = r.meta().map_err(internal)?.last_block_number;
        let params = ctx.params()?;
        // Slot s executes at height s.
        let next_slot = r.last_commit().map_err(internal)?.0.saturating_add(1);
        let epoch_full =
            aggregation::epoch_full(&mut Overlay::new(&r), &params, next_slot).map_err(internal)?;
        let proven_block = crate::chain::proving::proven_block(&r, latest)
            .map_err(internal)?
            .unwrap_or(latest);
        Ok::<_, ErrorObjectOwned>(ProofChainJson {
            proven_slot: U64::from(c.proven_slot),
            proven_root: c.proven_root,
            proven_block: U64::from(proven_block),
            oldest_unproven: (c.head != 0).then(|| U64::from(c.head)),
            unproven: U64::from(c.unproven),
            max_unproven: U64::from(max),
            epoch_full,
            backpressure: epoch_full || (max != 0 && c.unproven >= max),
        })
    })?;
    module.register_method("parley_getProofSlot", |p: Params, ctx, _| {
        m::rpc("parley_getProofSlot");
        let (slot,): (U64,) = args(&p, 1)?;
        let s = slot.to::<u64>();
        let r = ctx.reader()?;
        let next = r.last_commit().map_err(internal)?.0.saturating_add(1);
        let fallback = ctx
            .params()?
            .protocol
            .proving
            .map(|p| p.fallback)
            .unwrap_or_default();
        let e = r
            .app_entry(&StateKey::ProofSlot(s))
            .map_err(internal)?
            .map(|b| ProofSlot::decode(&b).map_err(corrupt))
            .transpose()?;
        Ok::<_, ErrorObjectOwned>(e.map(|e| {
            let open = e.round_end != 0;
            ProofSlotJson {
                fallback_rounds: e.round,
                fallback_phase: match proving::phase(&fallback, &e, next) {
                    proving::Phase::Closed => "closed",
                    proving::Phase::Commit => "commit",
                    proving::Phase::Reveal => "reveal",
                },
                round_end: open.then(|| U64::from(e.round_end)),
                commit_end: open
                    .then(|| U64::from(e.round_end.saturating_sub(fallback.reveal_proof_window))),
                bounty: if e.proven {
                    U256::ZERO
                } else {
                    proving::bounty_at(&fallback, &e, next)
                },
                commits: e
                    .commits
                    .iter()
                    .map(|c| CommitJson {
                        prover: c.prover,
                        chunk: c.chunk,
                        hash: c.hash,
                        stake: c.stake,
                        revealed: c.revealed,
                    })
                    .collect(),
                missed: e
                    .missed
                    .iter()
                    .map(|m| MissedJson {
                        prover: m.prover,
                        kept: m.kept,
                    })
                    .collect(),
                slot,
                block_number: U64::from(e.block_number),
                commitment: e.commitment,
                window_end: U64::from(e.window_end),
                fee_share: e.fee_share,
                proven: e.proven,
                chunks: e.chunks,
                transitions: e
                    .transitions
                    .iter()
                    .map(|t| TransitionJson {
                        prover: t.prover,
                        chunk: t.chunk,
                        pre_root: t.pre_root,
                        post_root: t.post_root,
                        height: U64::from(t.height),
                        fallback: t.is_fallback(),
                    })
                    .collect(),
            }
        }))
    })?;
    module.register_method("parley_getSlot", |p: Params, ctx, _| {
        m::rpc("parley_getSlot");
        let (slot,): (U64,) = args(&p, 1)?;
        let slot: u64 = slot.to();
        let q = ctx.params()?.protocol;
        let r = ctx.reader()?;
        let entry = r
            .app_entry(&StateKey::Slot(slot))
            .map_err(internal)?
            .map(|b| SlotEntry::decode(&b).map_err(corrupt))
            .transpose()?;
        let provers = r
            .app_entry(&StateKey::Assignment(slot))
            .map_err(internal)?
            .map(|b| parley_types::Assignment::decode(&b).map_err(corrupt))
            .transpose()?
            .map(|a| {
                a.provers
                    .into_iter()
                    .map(|(address, stake)| AssignedJson { address, stake })
                    .collect()
            });
        let bids = auction::bid_heights(&q, slot);
        let select = auction::select_heights(&q, slot);
        let bid_json = |b: &BidEntry| BidJson {
            sequencer: b.sequencer,
            commitment: b.commitment,
            amount: b.amount,
            order: b.order,
        };
        let executed = r.meta().map_err(internal)?.last_block_number >= slot;
        Ok::<_, ErrorObjectOwned>(AuctionJson {
            slot: U64::from(slot),
            state: match &entry {
                Some(e) => e.state.name(),
                None if executed => "proposer",
                None => "no_bids",
            },
            bids: entry
                .as_ref()
                .map(|e| e.bids.iter().map(bid_json).collect())
                .unwrap_or_default(),
            selected_by: entry.as_ref().and_then(|e| match e.selected? {
                Selection::App => Some("app".to_string()),
                Selection::Prover(p) => Some(p.to_string()),
            }),
            winner: entry.as_ref().and_then(|e| e.winner().map(bid_json)),
            escrow: entry.as_ref().map_or(U256::ZERO, SlotEntry::escrow),
            provers,
            bid_heights: [U64::from(*bids.start()), U64::from(*bids.end())],
            select_heights: [U64::from(*select.start()), U64::from(*select.end())],
        })
    })?;
    module.register_method("parley_getTransactionStage", |p: Params, ctx, _| {
        m::rpc("parley_getTransactionStage");
        let hash: B256 = p.one()?;
        let r = ctx.reader()?;
        if let Some(t) = r.tx(&hash).map_err(internal)? {
            let number = t.block_number;
            let block = r.block(number).map_err(internal)?;
            let slot_state = match r.app_entry(&StateKey::Slot(number)).map_err(internal)? {
                Some(b) => SlotEntry::decode(&b).map_err(corrupt)?.state.name(),
                None => "proposer",
            };
            let latest = r.meta().map_err(internal)?.last_block_number;
            let proven = crate::chain::proving::proven_block(&r, latest)
                .map_err(internal)?
                .is_some_and(|p| number <= p);
            let epoch = ctx
                .params()?
                .protocol
                .proving
                .and_then(|p| p.aggregation)
                .map(|a| aggregation::epoch_of(&a, number));
            let aggregated = match epoch {
                Some(e) => aggregation::epoch(&mut Overlay::new(&r), e)
                    .map_err(internal)?
                    .is_some_and(|v| v.state == EpochState::Aggregated),
                None => false,
            };
            let finalized = match epoch {
                Some(e) if ctx.params()?.protocol.bridge.is_some() => {
                    e < crate::chain::l1queue::state(&mut Overlay::new(&r))
                        .map_err(internal)?
                        .l1_finalized
                }
                _ => false,
            };
            return Ok::<_, ErrorObjectOwned>(StageJson {
                stage: if finalized {
                    "finalized"
                } else if aggregated {
                    "aggregated"
                } else if proven {
                    "proven"
                } else {
                    "sequenced"
                },
                epoch: epoch.map(U64::from),
                block_number: Some(U64::from(number)),
                block_hash: Some(t.block_hash),
                builder: block.map(|b| b.builder),
                slot_state: Some(slot_state),
            });
        }
        let stage = if ctx.app.pending().get(&hash).is_some() {
            "pending"
        } else {
            "unknown"
        };
        Ok(StageJson {
            stage,
            epoch: None,
            block_number: None,
            block_hash: None,
            builder: None,
            slot_state: None,
        })
    })?;
    module.register_method("parley_getEpoch", |p: Params, ctx, _| {
        m::rpc("parley_getEpoch");
        let (epoch,): (U64,) = args(&p, 1)?;
        let e = epoch.to::<u64>();
        let Some(a) = ctx.params()?.protocol.proving.and_then(|p| p.aggregation) else {
            return Err(invalid(
                "this chain does not aggregate epochs (no params.protocol.proving.aggregation)",
            ));
        };
        let r = ctx.reader()?;
        let v = aggregation::epoch(&mut Overlay::new(&r), e)
            .map_err(internal)?
            .unwrap_or_default();
        let closed = v.state != EpochState::Collecting;
        let aggregated = v.state == EpochState::Aggregated;
        Ok::<_, ErrorObjectOwned>(EpochJson {
            epoch,
            state: v.state.name(),
            first_slot: U64::from(aggregation::last_slot(&a, e).saturating_sub(a.epoch_slots) + 1),
            last_slot: U64::from(aggregation::last_slot(&a, e)),
            fees: v.fees,
            needing: U64::from(v.needing),
            agg_capacity: U64::from(a.agg_capacity),
            blocks: v
                .blocks
                .iter()
                .map(|b| EpochBlockJson {
                    slot: U64::from(b.slot),
                    chunk: b.chunk,
                    chunks: b.chunks,
                    block_number: U64::from(b.block_number),
                    commitment: b.commitment,
                    prover: b.prover,
                    pre_root: b.pre_root,
                    post_root: b.post_root,
                })
                .collect(),
            closed_at: closed.then(|| U64::from(v.closed_at)),
            aggregator: v.aggregator.map(|(a, _)| a),
            aggregator_stake: v.aggregator.map(|(_, s)| s),
            window_end: v.aggregator.map(|_| U64::from(v.window_end)),
            missed: v.missed.map(|m| MissedJson {
                prover: m.prover,
                kept: m.kept,
            }),
            aggregated_by: aggregated.then_some(v.aggregated_by),
            commitment: aggregated.then_some(v.commitment),
            aggregated_at: aggregated.then(|| U64::from(v.aggregated_at)),
            l1_proof: aggregation::l1_proof(&mut Overlay::new(&r), e)
                .map_err(internal)?
                .is_some(),
        })
    })?;
    module.register_method("parley_getEpochProof", |p: Params, ctx, _| {
        m::rpc("parley_getEpochProof");
        let (epoch,): (U64,) = args(&p, 1)?;
        let e = epoch.to::<u64>();
        let takes = ctx
            .params()?
            .protocol
            .proving
            .and_then(|p| p.aggregation)
            .is_some_and(|a| a.l1_proof.is_some());
        if !takes {
            return Err(invalid(
                "this chain takes no L1 epoch proofs (no params.protocol.proving.aggregation.l1_proof)",
            ));
        }
        let r = ctx.reader()?;
        let mut o = Overlay::new(&r);
        let Some(proof) = aggregation::l1_proof(&mut o, e).map_err(internal)? else {
            return Ok::<_, ErrorObjectOwned>(None);
        };
        let v = aggregation::epoch(&mut o, e)
            .map_err(internal)?
            .ok_or_else(|| corrupt(format!("epoch {e} holds an L1 proof but no record")))?;
        let st = aggregation::l1_statement(e, &v).map_err(internal)?;
        Ok(Some(EpochProofJson {
            epoch,
            first_pre_root: st.first_pre_root,
            last_post_root: st.last_post_root,
            epoch_commitment: st.epoch_commitment,
            proof: Bytes::from(proof),
        }))
    })?;
    module.register_method("parley_getSeed", |_, ctx, _| {
        m::rpc("parley_getSeed");
        let r = ctx.reader()?;
        let seed = r
            .app_entry(&StateKey::Seed)
            .map_err(internal)?
            .map(|b| match b.as_slice() {
                [1, rest @ ..] if rest.len() == 32 => Ok(B256::from_slice(rest)),
                _ => Err(corrupt("seed entry")),
            })
            .transpose()?
            .unwrap_or_default();
        let range =
            StateKey::SeedCommit(Address::ZERO)..=StateKey::SeedCommit(Address::repeat_byte(0xff));
        let mut commitments = Vec::new();
        for (k, v) in r.app_entries(range).map_err(internal)? {
            let StateKey::SeedCommit(validator) = k else {
                return Err(corrupt(format!("{k:?} in the seed-commit range")));
            };
            let c = parley_types::SeedCommit::decode(&v).map_err(corrupt)?;
            commitments.push(CommitmentJson {
                validator,
                epoch: U64::from(c.epoch),
                hash: c.hash,
            });
        }
        Ok::<_, ErrorObjectOwned>(SeedJson { seed, commitments })
    })?;
    module.register_method("parley_getBridge", |_, ctx, _| {
        m::rpc("parley_getBridge");
        let r = ctx.reader()?;
        let Some(st) = crate::chain::bridge::state(&mut Overlay::new(&r)).map_err(internal)? else {
            return Err(invalid(
                "this chain has no bridge (no params.protocol.bridge)",
            ));
        };
        let q = crate::chain::l1queue::state(&mut Overlay::new(&r)).map_err(internal)?;
        let l1_view = {
            let view = ctx.app.l1_view();
            let v = view.read().expect("l1 view lock");
            L1ViewJson {
                seen: U64::from(v.len()),
                finalized_epochs: U64::from(v.finalized_epochs()),
                l1_block: U64::from(v.l1_block()),
                rolling_hash: v.rolling_at(v.len()).unwrap_or_default(),
                error: v.error().map(str::to_owned),
            }
        };
        Ok::<_, ErrorObjectOwned>(BridgeJson {
            next_epoch: U64::from(st.next_epoch),
            root: st.root,
            set: signers_json(&st.set),
            pending: st
                .pending
                .as_ref()
                .map(|p| DigestJson::from(&p.attestation)),
            pending_since: st.pending.as_ref().map(|p| U64::from(p.since)),
            next_set: st.pending.as_ref().map(|p| signers_json(&p.next_set)),
            queue: QueueJson {
                consumed: U64::from(q.consumed.count),
                rolling_hash: q.consumed.rolling,
                attested_count: U64::from(q.attested.count),
                l1_finalized_epochs: U64::from(q.l1_finalized),
            },
            l1_view,
        })
    })?;
    module.register_blocking_method("parley_getWithdrawals", |p: Params, ctx, _| {
        m::rpc("parley_getWithdrawals");
        let (epoch,): (U64,) = args(&p, 1)?;
        let e = epoch.to::<u64>();
        let params = ctx.params()?;
        if params.protocol.bridge.is_none() {
            return Err(invalid(
                "this chain has no bridge (no params.protocol.bridge)",
            ));
        }
        let r = ctx.reader()?;
        let entries =
            crate::chain::bridge::withdrawals(&mut Overlay::new(&r), e).map_err(internal)?;
        let ws: Vec<parley_types::bridge::Withdrawal> =
            entries.iter().map(|w| w.withdrawal).collect();
        let tree = parley_types::bridge::WithdrawalTree::new(params.chain_id, e, &ws);
        let withdrawals = entries
            .iter()
            .enumerate()
            .map(|(i, w)| WithdrawalJson {
                index: U64::from(i as u64),
                sender: w.sender,
                l1_recipient: w.withdrawal.l1_recipient,
                amount: w.withdrawal.amount,
                block_number: U64::from(w.block),
                path: tree.path(i).unwrap_or_default(),
            })
            .collect();
        Ok::<_, ErrorObjectOwned>(WithdrawalsJson {
            epoch,
            root: tree.root(),
            withdrawals,
        })
    })?;
    module.register_method("parley_getAttestation", |p: Params, ctx, _| {
        m::rpc("parley_getAttestation");
        let (epoch,): (U64,) = args(&p, 1)?;
        let r = ctx.reader()?;
        let rec = crate::chain::bridge::attestation(&mut Overlay::new(&r), epoch.to::<u64>())
            .map_err(internal)?;
        let Some(rec) = rec else {
            return Ok(None);
        };
        let mut signed = 0u64;
        let signatures = rec
            .signatures
            .iter()
            .map(|(i, s)| {
                let (signer, power) = rec.set.get(usize::from(*i)).copied().unwrap_or_default();
                signed = signed.saturating_add(power);
                SigJson {
                    index: *i,
                    signer,
                    r: B256::from_slice(&s[..32]),
                    s: B256::from_slice(&s[32..64]),
                    v: s[64],
                }
            })
            .collect();
        Ok::<_, ErrorObjectOwned>(Some(AttestationJson {
            attestation: DigestJson::from(&rec.attestation),
            set: signers_json(&rec.set),
            signatures,
            signed_power: U64::from(signed),
            total_power: U64::from(rec.set.iter().map(|(_, p)| *p).sum::<u64>()),
            height: U64::from(rec.height),
        }))
    })?;
    module.register_method("parley_getProtocolParams", |_, ctx, _| {
        m::rpc("parley_getProtocolParams");
        ctx.params()
    })?;
    Ok(())
}
