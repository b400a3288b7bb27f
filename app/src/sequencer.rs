//! The built-in sequencer (DESIGN §3 steps 2 and 4; issue 7 item 8), off by default and
//! started by the node when `sequencer_key` is set. After every committed height `h` it
//!
//! 1. reveals, for each slot it bid on, its block once the slot's winner is itself (and again
//!    two heights later if the reveal has not landed: a proposer may have dropped it);
//! 2. builds a fee-priority block for slot `h + 2 + bid_close` (the last slot whose bids a
//!    message broadcast now still reaches, with one height of slack) from the transactions
//!    this node's mempool admitted (CometBFT's `unconfirmed_txs` returns at most 100), leaving
//!    out the transactions it already committed to in slots it may
//!    still win, and bids `bid_share_bps` of the block's tips (at least `min_bid`); an empty
//!    block gets no bid (the proposer fills that slot) unless `bid_empty` is set.
//!
//! The block is built with the proposer's builder against the last committed state, so a
//! transaction that an earlier slot executes before this one is skipped at its turn (the
//! documented rule); a sender's later nonces wait until the earlier ones execute.
//!
//! SIGUSR1 drains it before a stop: it bids no more, keeps revealing the slots it won, and logs
//! `sequencer drained` once every slot it bid for has executed (a stop before that withholds
//! the slots it won, a fine each).
//!
//! Not consensus: everything here reaches the chain only as signed messages through
//! CometBFT, checked like anyone's.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use alloy_consensus::Transaction as _;
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_signer_local::PrivateKeySigner;
use parley_types::SlotState;
use tendermint_rpc::Client as _;

use crate::app::{App, Event};
use crate::chain::auction;
use crate::chain::ledger::Ledger;
use crate::chain::msg::{self, Action};
use crate::chain::overlay::Overlay;
use crate::chain::view::WithHashes;
use crate::mempool::builder;

/// Timeout of each CometBFT call.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The built-in sequencer's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Its key: signs bids and reveals, receives the tips of the blocks it wins.
    pub key: PrivateKeySigner,
    /// Share of a block's tips it bids, in basis points.
    pub bid_share_bps: u64,
    /// Bid `min_bid` for a slot even when it has no transaction to offer, so that it keeps
    /// winning slots (and users' transactions land through the auction) rather than leaving
    /// gaps the CometBFT proposer fills.
    pub bid_empty: bool,
    /// This node's CometBFT RPC.
    pub cometbft_rpc: String,
}

/// A block this sequencer bid with, until its slot executes.
#[derive(Debug, Clone)]
struct Offer {
    gas_limit: u64,
    txs: Vec<Bytes>,
    /// Height at which the reveal was last broadcast.
    revealed_at: Option<u64>,
}

/// Runs until the app's event stream closes.
pub async fn run(app: App, s: Settings) -> eyre::Result<()> {
    let url: tendermint_rpc::Url = s
        .cometbft_rpc
        .parse()
        .map_err(|e| eyre::eyre!("cometbft_rpc: {e}"))?;
    let tm = tendermint_rpc::HttpClient::builder(
        url.clone()
            .try_into()
            .map_err(|e| eyre::eyre!("cometbft_rpc: {e}"))?,
    )
    .compat_mode(tendermint_rpc::client::CompatMode::V0_38)
    .build()
    .map_err(|e| eyre::eyre!("cometbft_rpc: {e}"))?;
    tracing::info!(target: "parley::sequencer", address = %s.key.address(), share_bps = s.bid_share_bps, "built-in sequencer on");
    let mut seq = Sequencer {
        app: app.clone(),
        s,
        tm,
        offers: BTreeMap::new(),
        next_nonce: 0,
        sent: BTreeMap::new(),
        height: 0,
        drain: Drain::Bidding,
    };
    let mut events = app.subscribe();
    // SIGUSR1: drain before stopping (docs/operators/sequencer.md). Stopping a sequencer
    // that has won slots withholds them and costs a fine each; draining stops the bids and
    // keeps revealing until every slot it bid for has executed.
    let mut usr1 = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())?;
    loop {
        tokio::select! {
            Some(()) = usr1.recv() => {
                if seq.drain == Drain::Bidding {
                    seq.drain = Drain::Draining;
                    tracing::info!(target: "parley::sequencer", slots = seq.offers.len(), "draining: no new bids; the slots it won are still revealed until the last has executed");
                }
            }
            ev = events.recv() => match ev {
                Ok(Event::Block(h)) => {
                    if let Err(e) = seq.on_height(h).await {
                        tracing::warn!(target: "parley::sequencer", height = h, error = %e, "sequencer step failed");
                    }
                }
                Ok(Event::PendingTx(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
            },
        }
    }
}

/// Whether the sequencer still bids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drain {
    /// Bids for new slots.
    Bidding,
    /// Bids no more; reveals what it won.
    Draining,
    /// Every slot it bid for has executed: it can stop without withholding anything.
    Drained,
}

struct Sequencer {
    app: App,
    s: Settings,
    tm: tendermint_rpc::HttpClient,
    offers: BTreeMap<u64, Offer>,
    next_nonce: u64,
    /// The last committed height seen.
    height: u64,
    /// Nonces broadcast and not yet executed, with the height they were sent at.
    sent: BTreeMap<u64, u64>,
    /// Bidding, or draining before a stop (SIGUSR1).
    drain: Drain,
}

/// Heights a broadcast message may take to execute before its nonce counts as lost (it was
/// refused at execution, or dropped): the sequencer then signs from the ledger's nonce again.
const NONCE_PATIENCE: u64 = 3;

impl Sequencer {
    fn me(&self) -> Address {
        self.s.key.address()
    }

    async fn on_height(&mut self, h: u64) -> eyre::Result<()> {
        let params = self
            .app
            .params()
            .ok_or_else(|| eyre::eyre!("chain not initialised"))?;
        let reader = self.app.store().reader()?;
        let mut o = Overlay::new(&reader);
        let account = Ledger::new(&mut o).account(self.me())?;
        self.sent.retain(|n, _| *n >= account.nonce);
        if self
            .sent
            .first_key_value()
            .is_some_and(|(_, at)| at + NONCE_PATIENCE <= h)
        {
            // The next nonce to execute was sent long ago and never executed: everything
            // after it waits behind a gap. Start again from the ledger's nonce.
            self.sent.clear();
            self.next_nonce = account.nonce;
        }
        self.next_nonce = self.next_nonce.max(account.nonce);
        self.height = h;
        self.offers.retain(|s, _| *s > h);

        // Reveals of the slots it won.
        let mut reveals = Vec::new();
        for (s, offer) in &self.offers {
            let Some(e) = auction::slot(&mut o, *s)? else {
                continue;
            };
            let mine = e.winner().is_some_and(|w| w.sequencer == self.me());
            let due = offer.revealed_at.is_none_or(|at| at + 2 <= h);
            if mine && e.state == SlotState::Open && due {
                reveals.push(*s);
            }
        }
        for s in reveals {
            let offer = &self.offers[&s];
            let n = offer.txs.len();
            let action = Action::Reveal {
                slot: s,
                gas_limit: offer.gas_limit,
                txs: offer.txs.clone(),
            };
            if self.send(&params, &action).await {
                tracing::info!(target: "parley::sequencer", slot = s, txs = n, "revealed");
                if let Some(o) = self.offers.get_mut(&s) {
                    o.revealed_at = Some(h);
                }
            }
        }

        if self.drain != Drain::Bidding {
            if self.drain == Drain::Draining && self.offers.is_empty() {
                self.drain = Drain::Drained;
                tracing::info!(target: "parley::sequencer", height = h, "sequencer drained: every slot it bid for has executed; it can stop now without withholding a slot");
            }
            return Ok(());
        }
        // A bid for the next slot still open.
        let slot = h + 2 + params.protocol.bid_close;
        if self.offers.contains_key(&slot) {
            return Ok(());
        }
        // A slot of an epoch that is already full executes no transactions (ADR 0015 part 4),
        // and an epoch stays full until it ends: a bid would pay for nothing.
        if crate::chain::aggregation::epoch_full(&mut o, &params, slot)? {
            tracing::debug!(target: "parley::sequencer", slot, "its epoch is full: no bid");
            return Ok(());
        }
        // Transactions it committed to in slots it may still win are not offered twice.
        let mut taken = BTreeSet::new();
        for (s, offer) in &self.offers {
            let lost = auction::slot(&mut o, *s)?
                .and_then(|e| e.winner().copied())
                .is_some_and(|w| w.sequencer != self.me());
            if !lost {
                taken.extend(offer.txs.iter().map(keccak256));
            }
        }
        // The transactions it committed to stay candidates, so that a sender's next nonces
        // can follow them (the builder runs them first on its throwaway overlay), and are cut
        // from the block afterwards.
        let candidates = self.app.pending().all();
        let fresh = candidates.iter().any(|t| !taken.contains(&t.hash));
        if !fresh && !self.s.bid_empty {
            return Ok(());
        }
        let meta = reader.meta()?;
        drop(o);
        drop(reader);
        // Building executes the candidates: off the async runtime that serves JSON-RPC.
        let (app, p, me, cands) = (
            self.app.clone(),
            params.clone(),
            self.me(),
            candidates.clone(),
        );
        let block = tokio::task::spawn_blocking(move || -> eyre::Result<_> {
            let reader = app.store().reader()?;
            let meta = reader.meta()?;
            let hashes = parley_types_hashes(&reader, &meta)?;
            let view = WithHashes {
                view: &reader,
                hashes: &hashes,
            };
            let time = meta.last_timestamp + (slot - h);
            Ok(builder::build(
                &view,
                &p,
                &meta,
                slot,
                time,
                me,
                cands,
                u64::try_from(msg::MAX_LARGE_MESSAGE_BYTES / 2).unwrap_or(u64::MAX),
            )?)
        })
        .await??;
        let mut block = block;
        block.txs.retain(|raw| !taken.contains(&keccak256(raw)));
        if block.txs.is_empty() && !self.s.bid_empty {
            return Ok(());
        }
        // Tips at the transactions' gas limits: what the block may earn its builder.
        let base_fee = meta.next_base_fee;
        let tips = block
            .txs
            .iter()
            .filter_map(|raw| candidates.iter().find(|t| t.raw == *raw))
            .map(|t| {
                let tip = t.envelope.effective_tip_per_gas(base_fee).unwrap_or(0);
                U256::from(tip) * U256::from(t.envelope.gas_limit())
            })
            .fold(U256::ZERO, |a, b| a.saturating_add(b));
        let amount = (tips * U256::from(self.s.bid_share_bps) / U256::from(10_000u64))
            .max(params.protocol.min_bid);
        let need = amount.saturating_add(params.protocol.message_fee);
        if account.balance < need {
            tracing::warn!(target: "parley::sequencer", slot, %amount, balance = %account.balance, "ledger balance too low to bid");
            return Ok(());
        }
        let gas_limit = block.header.gas_limit;
        let commitment = auction::commitment(
            params.chain_id,
            slot,
            self.me(),
            gas_limit,
            block.txs.iter().map(keccak256),
        );
        let bid = Action::Bid {
            slot,
            commitment,
            amount,
        };
        if self.send(&params, &bid).await {
            tracing::info!(target: "parley::sequencer", slot, txs = block.txs.len(), %amount, "bid");
            self.offers.insert(
                slot,
                Offer {
                    gas_limit,
                    txs: block.txs,
                    revealed_at: None,
                },
            );
        }
        Ok(())
    }

    /// Signs `action` with the next nonce and broadcasts it; false (and the nonce resynced
    /// from state at the next height) if CometBFT refused it.
    async fn send(&mut self, params: &crate::chain::genesis::Params, action: &Action) -> bool {
        let raw = msg::sign(&self.s.key, params.chain_id, self.next_nonce, action);
        let res = tokio::time::timeout(CALL_TIMEOUT, self.tm.broadcast_tx_sync(raw)).await;
        match res {
            Ok(Ok(r)) if r.code.is_ok() => {
                self.sent.insert(self.next_nonce, self.height);
                self.next_nonce += 1;
                true
            }
            Ok(Ok(r)) => {
                tracing::warn!(target: "parley::sequencer", kind = action.kind().name(), code = r.code.value(), log = %r.log, "message refused");
                self.next_nonce = 0;
                false
            }
            Ok(Err(e)) => {
                tracing::warn!(target: "parley::sequencer", error = %e, "broadcast failed");
                self.next_nonce = 0;
                false
            }
            Err(_) => {
                tracing::warn!(target: "parley::sequencer", "broadcast timed out");
                self.next_nonce = 0;
                false
            }
        }
    }
}

/// The `BLOCKHASH` ring of the last 256 committed blocks, read from the store.
fn parley_types_hashes(
    reader: &crate::store::Reader,
    meta: &parley_types::ChainMeta,
) -> eyre::Result<crate::chain::view::BlockHashes> {
    let mut hashes = crate::chain::view::BlockHashes::default();
    let last = meta.last_block_number;
    let first = last.saturating_sub(crate::chain::view::BlockHashes::DEPTH as u64 - 1);
    for n in first..=last {
        if let Some(b) = reader.block(n)? {
            hashes.push(n, b.hash);
        }
    }
    Ok(hashes)
}

/// Parses a `sequencer_key` setting: a 32-byte hex private key.
pub fn parse_key(hex_key: &str) -> eyre::Result<PrivateKeySigner> {
    parse_named_key("sequencer_key", hex_key)
}

/// Parses the secp256k1 private key (32 bytes hex) of config key `name`; errors name it.
pub fn parse_named_key(name: &str, hex_key: &str) -> eyre::Result<PrivateKeySigner> {
    let b: B256 = hex_key
        .trim()
        .parse()
        .map_err(|e| eyre::eyre!("key `{name}`: not a 32-byte hex private key: {e}"))?;
    PrivateKeySigner::from_bytes(&b).map_err(|e| eyre::eyre!("key `{name}`: {e}"))
}
