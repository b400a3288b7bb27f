//! `parley-bridge relay`: posts each attested (and, if it changes the state, proven) epoch to
//! the Rollup, in order, without ever posting one twice.
//!
//! One step at a time, from durable state ([`crate::state`]):
//! 1. A transaction in flight is resolved first: its receipt (any version) ends it and is
//!    reported; an unused nonce gets the very same transaction broadcast again (after a
//!    restart) or, after `replace_after` L1 blocks, a replacement with the same nonce and
//!    higher fees. Nothing new is signed while one is in flight.
//! 2. Otherwise: `nextEpoch()` on L1, its attestation from parleyd (none yet: idle), its
//!    proof if it changes the state root, the designated-relayer rule, then a simulation on
//!    the pending block. `AlreadyFinalized`/`EpochOutOfOrder` there means someone else posted
//!    it (or is about to): a success, nothing sent. Only then is a transaction signed,
//!    written to the state file, and broadcast.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use alloy_network::{EthereumWallet, TransactionBuilder as _};
use alloy_primitives::{Address, B256, Bytes};
use alloy_provider::{Provider as _, RootProvider};
use alloy_rpc_types_eth::{TransactionReceipt, TransactionRequest};
use alloy_signer_local::PrivateKeySigner;
use eyre::{Result, WrapErr as _, bail, eyre};
use serde_json::json;
use tracing::{debug, info, warn};

use crate::abi::Rollup::{self, RollupErrors};
use crate::attestation::{EpochProof, calldata};
use crate::l1::{self, BridgeTarget};
use crate::state::{GAS_FILE, InFlight, Recovery, Seen, SignedTx, State, may_post, recover};

/// What `relay` needs.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// L1 JSON-RPC URL.
    pub l1_url: String,
    /// parleyd's eth JSON-RPC URL.
    pub parleyd_url: String,
    /// The relayer's key (pays L1 gas).
    pub key: PrivateKeySigner,
    /// The rotation of relayers (`relayers[epoch % n]` is designated); empty: only self.
    pub relayers: Vec<Address>,
    /// Where the state file and the gas report live.
    pub state_dir: PathBuf,
    /// Where epoch proofs for L1 are found (`<epoch>.hex`: 12 limbs ‖ proof, hex).
    pub proof_dir: Option<PathBuf>,
    /// Post what is postable now, then exit.
    pub once: bool,
    /// How often to look at L1 and parleyd.
    pub poll: Duration,
    /// L1 blocks to wait for a receipt before replacing the transaction (0: never).
    pub replace_after: u64,
}

/// What one step found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Something changed: look again at once.
    Again,
    /// Waiting for our own transaction's receipt.
    Pending,
    /// Nothing postable now (not attested, not our turn, no proof, or posted by another).
    Idle,
}

/// Writes a report line to stdout: stdout is the relayer's machine-readable output (logs go
/// to stderr).
#[allow(clippy::print_stdout)]
pub fn emit(v: &serde_json::Value) {
    println!("{v}");
}

struct Relayer {
    cfg: RelayConfig,
    l1: RootProvider,
    l2: RootProvider,
    wallet: EthereumWallet,
    me: Address,
    target: BridgeTarget,
    relay_slot: u64,
    state: State,
    /// Versions broadcast by this process (others are broadcast again once, after a restart).
    broadcast: BTreeSet<B256>,
    /// The last epoch reported as posted by someone else (reported once).
    skipped: Option<u64>,
    /// Epochs this process finalized or saw finalized by others.
    done: u64,
}

/// Runs the relayer until stopped (or, with `once`, until nothing is postable). Returns how
/// many epochs it finalized or found finalized.
pub async fn run(cfg: RelayConfig) -> Result<u64> {
    std::fs::create_dir_all(&cfg.state_dir)
        .wrap_err_with(|| format!("creating {}", cfg.state_dir.display()))?;
    let l1 = l1::http(&cfg.l1_url)?;
    let l2 = l1::http(&cfg.parleyd_url)?;
    let target = l1::bridge_target(&l2).await?;
    let chain = l1::chain_id(&l1).await?;
    if chain != target.l1_chain_id {
        bail!(
            "the L1 at {} is chain {chain}, but parleyd's genesis names L1 chain {}",
            cfg.l1_url,
            target.l1_chain_id
        );
    }
    let code = l1::retry("eth_getCode", || {
        l1.get_code_at(target.rollup).into_future()
    })
    .await?;
    if code.is_empty() {
        bail!(
            "no contract at the Rollup address {} on L1 (deploy it first)",
            target.rollup
        );
    }
    let relay_slot =
        view::<Rollup::relaySlotCall>(&l1, target.rollup, Rollup::relaySlotCall {}).await?;
    let me = cfg.key.address();
    let state = State::load(&cfg.state_dir)?;
    info!(%me, rollup = %target.rollup, relay_slot, relayers = cfg.relayers.len(), in_flight = state.in_flight.is_some(), "relayer started");
    let mut r = Relayer {
        wallet: EthereumWallet::from(cfg.key.clone()),
        cfg,
        l1,
        l2,
        me,
        target,
        relay_slot,
        state,
        broadcast: BTreeSet::new(),
        skipped: None,
        done: 0,
    };
    loop {
        match r.step().await? {
            Step::Again => {}
            Step::Pending => tokio::time::sleep(r.cfg.poll).await,
            Step::Idle if r.cfg.once => return Ok(r.done),
            Step::Idle => tokio::time::sleep(r.cfg.poll).await,
        }
    }
}

/// Calls a view function of the Rollup at the latest block (explicitly: some nodes answer
/// an `eth_call` without a block on the pending one).
async fn view<C: alloy_sol_types::SolCall>(
    l1: &RootProvider,
    rollup: Address,
    call: C,
) -> Result<C::Return> {
    let tx = TransactionRequest::default()
        .with_to(rollup)
        .with_input(Bytes::from(call.abi_encode()));
    let out = l1::retry("eth_call", || {
        l1.call(tx.clone())
            .block(alloy_eips::BlockId::latest())
            .into_future()
    })
    .await
    .wrap_err("reading the Rollup")?;
    C::abi_decode_returns(&out).map_err(|e| eyre!("decoding the Rollup's answer: {e}"))
}

impl Relayer {
    async fn step(&mut self) -> Result<Step> {
        if self.state.in_flight.is_some() {
            return self.resolve_in_flight().await;
        }
        let epoch = view(&self.l1, self.target.rollup, Rollup::nextEpochCall {}).await?;
        let Some(att) = l1::attestation(&self.l2, epoch).await? else {
            debug!(epoch, "not attested yet");
            return Ok(Step::Idle);
        };
        att.check_target(self.target.l1_chain_id, self.target.rollup)?;
        if att.epoch() != epoch {
            bail!(
                "parleyd answered epoch {}'s attestation for epoch {epoch}",
                att.epoch()
            );
        }
        let proof = if att.is_empty_epoch() {
            EpochProof::none()
        } else {
            match self.load_proof(epoch)? {
                Some(p) => p,
                None => match l1::epoch_proof(&self.l2, epoch).await.and_then(|b| {
                    b.map(|b| {
                        EpochProof::from_bytes(&b)
                            .wrap_err_with(|| format!("parleyd's L1 proof of epoch {epoch}"))
                    })
                    .transpose()
                }) {
                    Ok(Some(p)) => p,
                    // A looping relayer outlives one bad answer; `--once` reports it.
                    Err(e) if !self.cfg.once => {
                        warn!(epoch, error = %e, "no usable L1 proof from parleyd; will look again");
                        return Ok(Step::Idle);
                    }
                    Err(e) => return Err(e),
                    Ok(None) => {
                        info!(
                            epoch,
                            "the epoch changes the state root and neither parleyd nor --proof-dir has its L1 proof yet"
                        );
                        return Ok(Step::Idle);
                    }
                },
            }
        };
        let call = att.finalize_call(&proof)?;
        let now = l1::block_number(&self.l1).await?;
        let seen = match self.state.seen {
            Some(s) if s.epoch == epoch => s,
            _ => {
                let s = Seen { epoch, block: now };
                self.state.seen = Some(s);
                self.state.store(&self.cfg.state_dir)?;
                s
            }
        };
        if !may_post(
            epoch,
            &self.relayers(),
            self.me,
            seen.block,
            now,
            self.relay_slot,
        ) {
            info!(
                epoch,
                first_seen = seen.block,
                now,
                relay_slot = self.relay_slot,
                "not the designated relayer: waiting for the relay slot to pass"
            );
            return Ok(Step::Idle);
        }
        let input = calldata(&call);
        let req = TransactionRequest::default()
            .with_from(self.me)
            .with_to(self.target.rollup)
            .with_input(input.clone());
        // Simulate on the pending block: a posting already in the mempool shows up here.
        match l1::retry("eth_call finalizeEpoch", || {
            self.l1.call(req.clone()).pending().into_future()
        })
        .await
        {
            Ok(_) => {}
            Err(e) => return self.refused(epoch, &e),
        }
        let gas = match l1::retry("eth_estimateGas", || {
            self.l1.estimate_gas(req.clone()).pending().into_future()
        })
        .await
        {
            Ok(g) => g,
            Err(e) => return self.refused(epoch, &e),
        };
        let (max_fee, tip) = l1::fees(&self.l1).await?;
        let nonce = l1::pending_nonce(&self.l1, self.me).await?;
        let gas_limit = gas.saturating_mul(6) / 5 + 20_000;
        let signed = self
            .sign(req.with_gas_limit(gas_limit), nonce, max_fee, tip)
            .await?;
        // Durable before it leaves: a crash from here on finds it in the state file.
        self.state.in_flight = Some(InFlight {
            epoch,
            from: self.me,
            nonce,
            sent_at_block: now,
            signatures: call.sigs.len(),
            proof_bytes: call.proof.len(),
            to: self.target.rollup,
            input,
            gas_limit,
            txs: vec![signed.clone()],
        });
        self.state.store(&self.cfg.state_dir)?;
        info!(epoch, tx = %signed.hash, nonce, gas_limit, "posting");
        self.broadcast.insert(signed.hash);
        l1::broadcast(&self.l1, &signed.raw).await?;
        Ok(Step::Pending)
    }

    fn relayers(&self) -> Vec<Address> {
        if self.cfg.relayers.is_empty() {
            vec![self.me]
        } else {
            self.cfg.relayers.clone()
        }
    }

    /// The contract refused the simulation: posted by someone else (success), or an error.
    fn refused(&mut self, epoch: u64, e: &alloy_transport::TransportError) -> Result<Step> {
        match l1::rollup_error(e) {
            Some(RollupErrors::AlreadyFinalized(_)) | Some(RollupErrors::EpochOutOfOrder(_)) => {
                if self.skipped != Some(epoch) {
                    self.skipped = Some(epoch);
                    self.done += 1;
                    info!(
                        epoch,
                        "already finalized by another relayer: nothing to send"
                    );
                    emit(&json!({"event": "alreadyFinalized", "epoch": epoch}));
                }
                Ok(Step::Idle)
            }
            other => {
                let why = other.map_or_else(|| e.to_string(), |x| format!("{x:?}"));
                if self.cfg.once {
                    bail!("finalizeEpoch({epoch}) would revert: {why}");
                }
                warn!(epoch, error = %why, "finalizeEpoch would revert; will look again");
                Ok(Step::Idle)
            }
        }
    }

    async fn sign(
        &self,
        req: TransactionRequest,
        nonce: u64,
        max_fee: u128,
        tip: u128,
    ) -> Result<SignedTx> {
        let chain = self.target.l1_chain_id;
        let s = l1::sign(
            &self.wallet,
            req.with_nonce(nonce)
                .with_chain_id(chain)
                .with_max_fee_per_gas(max_fee)
                .with_max_priority_fee_per_gas(tip),
        )
        .await?;
        Ok(SignedTx {
            hash: s.hash,
            raw: s.raw,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: tip,
        })
    }

    async fn resolve_in_flight(&mut self) -> Result<Step> {
        let f = self
            .state
            .in_flight
            .clone()
            .ok_or_else(|| eyre!("no transaction in flight"))?;
        if f.from != self.me {
            bail!(
                "the state file holds epoch {}'s transaction from {}, not from this key {}: \
                 use that key, or another --state-dir",
                f.epoch,
                f.from,
                self.me
            );
        }
        // The nonce first, then the receipts (see `recover`).
        let confirmed = l1::confirmed_nonce(&self.l1, self.me).await?;
        let mut receipts = Vec::with_capacity(f.txs.len());
        let mut found: Option<TransactionReceipt> = None;
        for t in &f.txs {
            let r = l1::receipt(&self.l1, t.hash).await?;
            receipts.push(r.as_ref().map(|r| r.status()));
            if found.is_none() {
                found = r;
            }
        }
        let now = l1::block_number(&self.l1).await?;
        match recover(&f, &receipts, confirmed, now, self.cfg.replace_after) {
            Recovery::Mined { index, success } => {
                let r = found.ok_or_else(|| eyre!("a receipt was found and lost"))?;
                self.report(&f, index, &r, success)?;
                self.state.in_flight = None;
                self.state.store(&self.cfg.state_dir)?;
                Ok(Step::Again)
            }
            Recovery::NonceUsedElsewhere => {
                warn!(
                    epoch = f.epoch,
                    nonce = f.nonce,
                    "the nonce was used by a transaction that is not ours; reading the contract again"
                );
                self.state.in_flight = None;
                self.state.store(&self.cfg.state_dir)?;
                Ok(Step::Again)
            }
            Recovery::Pending { replace: false } => {
                let last = f
                    .txs
                    .last()
                    .ok_or_else(|| eyre!("an in-flight record without a transaction"))?;
                if self.broadcast.insert(last.hash) {
                    info!(epoch = f.epoch, tx = %last.hash, nonce = f.nonce, "broadcasting the in-flight transaction again");
                    l1::broadcast(&self.l1, &last.raw).await?;
                }
                Ok(Step::Pending)
            }
            Recovery::Pending { replace: true } => {
                let last = f
                    .txs
                    .last()
                    .ok_or_else(|| eyre!("an in-flight record without a transaction"))?;
                let (fee, tip) = l1::fees(&self.l1).await?;
                let req = TransactionRequest::default()
                    .with_from(self.me)
                    .with_to(f.to)
                    .with_input(f.input.clone())
                    .with_gas_limit(f.gas_limit);
                let tip = crate::state::bumped(last.max_priority_fee_per_gas, tip);
                let fee = crate::state::bumped(last.max_fee_per_gas, fee).max(tip);
                let signed = self.sign(req, f.nonce, fee, tip).await?;
                let mut g = f.clone();
                g.sent_at_block = now;
                g.txs.push(signed.clone());
                self.state.in_flight = Some(g);
                self.state.store(&self.cfg.state_dir)?;
                warn!(epoch = f.epoch, tx = %signed.hash, nonce = f.nonce, max_fee = fee, "no receipt yet: replacing with higher fees, same nonce");
                self.broadcast.insert(signed.hash);
                l1::broadcast(&self.l1, &signed.raw).await?;
                Ok(Step::Pending)
            }
        }
    }

    fn report(
        &mut self,
        f: &InFlight,
        index: usize,
        r: &TransactionReceipt,
        success: bool,
    ) -> Result<()> {
        let line = json!({
            "event": if success { "finalized" } else { "reverted" },
            "epoch": f.epoch,
            "txHash": r.transaction_hash,
            "block": r.block_number,
            "from": f.from,
            "nonce": f.nonce,
            "gasUsed": r.gas_used,
            "effectiveGasPrice": r.effective_gas_price.to_string(),
            "feeWei": (u128::from(r.gas_used)).saturating_mul(r.effective_gas_price).to_string(),
            "signatures": f.signatures,
            "proofBytes": f.proof_bytes,
            "replacements": index,
        });
        emit(&line);
        if success {
            self.done += 1;
            use std::io::Write as _;
            let path = self.cfg.state_dir.join(GAS_FILE);
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .wrap_err_with(|| format!("opening {}", path.display()))?;
            writeln!(file, "{line}")?;
            file.sync_all()?;
            info!(epoch = f.epoch, tx = %r.transaction_hash, gas_used = r.gas_used, "epoch finalized on L1");
        } else {
            // Reverted on chain (someone else's posting came first, or the state moved):
            // the next step reads the contract again and decides anew.
            warn!(epoch = f.epoch, tx = %r.transaction_hash, "the finalizeEpoch transaction reverted");
        }
        Ok(())
    }

    fn load_proof(&self, epoch: u64) -> Result<Option<EpochProof>> {
        let Some(dir) = &self.cfg.proof_dir else {
            return Ok(None);
        };
        let path = dir.join(format!("{epoch}.hex"));
        match std::fs::read_to_string(&path) {
            Ok(t) => {
                let t: String = t.chars().filter(|c| !c.is_whitespace()).collect();
                let b = hex::decode(t.strip_prefix("0x").unwrap_or(&t))
                    .wrap_err_with(|| format!("{} is not hex", path.display()))?;
                Ok(Some(
                    EpochProof::from_bytes(&b).wrap_err_with(|| path.display().to_string())?,
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).wrap_err_with(|| format!("reading {}", path.display())),
        }
    }
}
