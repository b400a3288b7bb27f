//! Push and poll: WebSocket `eth_subscribe` (newHeads, logs, newPendingTransactions) and the
//! filter methods (`eth_newFilter`, `eth_newBlockFilter`, `eth_newPendingTransactionFilter`,
//! `eth_getFilterChanges`, `eth_getFilterLogs`, `eth_uninstallFilter`), both fed by the
//! node's event stream ([`crate::app::Event`]). Nothing here is consensus.
//!
//! Bounds: at most [`MAX_FILTERS`] filters per node, each forgotten after
//! [`FILTER_TTL`] without a poll; a pending-transaction filter keeps at most
//! [`MAX_PENDING_PER_FILTER`] hashes between polls; subscriptions per connection are capped
//! by the server config; a subscriber that cannot keep up is dropped, not buffered forever.

#![allow(clippy::disallowed_methods)] // filter expiry uses the wall clock; never consensus

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use alloy_primitives::{B256, U256};
use alloy_rpc_types_eth::{Filter, FilterBlockOption, Log};
use jsonrpsee::core::SubscriptionResult;
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::{PendingSubscriptionSink, RpcModule};
use tokio::sync::broadcast::error::RecvError;

use super::{Ctx, RpcResult, block_logs, err, internal, invalid, rpc_block};
use crate::app::Event;

/// Most filters installed on one node at once.
pub const MAX_FILTERS: usize = 1024;
/// A filter not polled for this long is removed.
pub const FILTER_TTL: Duration = Duration::from_secs(300);
/// Most pending-transaction hashes one filter holds between polls.
pub const MAX_PENDING_PER_FILTER: usize = 10_000;

#[derive(Debug)]
enum Kind {
    /// Next block number to report.
    Blocks { next: u64 },
    /// Next block number to scan, and the filter.
    Logs { filter: Box<Filter>, next: u64 },
    /// Hashes admitted since the last poll.
    Pending { hashes: Vec<B256> },
}

#[derive(Debug)]
struct Entry {
    kind: Kind,
    polled: Instant,
}

/// Installed filters.
#[derive(Debug, Default)]
pub struct Filters {
    inner: Mutex<(u64, BTreeMap<u64, Entry>)>,
}

impl Filters {
    fn install(&self, kind: Kind) -> RpcResult<U256> {
        let mut g = self.inner.lock().expect("filters lock");
        let now = Instant::now();
        g.1.retain(|_, e| now.duration_since(e.polled) < FILTER_TTL);
        if g.1.len() >= MAX_FILTERS {
            return Err(err(
                -32005,
                format!("too many filters installed (limit {MAX_FILTERS}); uninstall some"),
            ));
        }
        g.0 += 1;
        let id = g.0;
        g.1.insert(id, Entry { kind, polled: now });
        Ok(U256::from(id))
    }

    /// Records an admitted transaction in every pending-transaction filter.
    pub fn pending(&self, hash: B256) {
        let mut g = self.inner.lock().expect("filters lock");
        for e in g.1.values_mut() {
            if let Kind::Pending { hashes } = &mut e.kind
                && hashes.len() < MAX_PENDING_PER_FILTER
            {
                hashes.push(hash);
            }
        }
    }
}

fn filter_id(p: &Params<'_>) -> RpcResult<u64> {
    let id: U256 = p.one()?;
    u64::try_from(id).map_err(|_| err(-32000, "filter not found"))
}

/// Registers the filter and subscription methods.
pub fn register(module: &mut RpcModule<Ctx>) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    module.register_method("eth_newBlockFilter", |_, ctx, _| {
        let latest = ctx.latest()?;
        ctx.filters.install(Kind::Blocks { next: latest + 1 })
    })?;
    module.register_method("eth_newPendingTransactionFilter", |_, ctx, _| {
        ctx.filters.install(Kind::Pending { hashes: vec![] })
    })?;
    module.register_method("eth_newFilter", |p: Params, ctx, _| -> RpcResult<U256> {
        let filter: Filter = p.one()?;
        let r = ctx.reader()?;
        let next = match filter.block_option {
            FilterBlockOption::AtBlockHash(_) => {
                return Err(invalid(
                    "eth_newFilter takes a block range, not a blockHash",
                ));
            }
            FilterBlockOption::Range { from_block, .. } => match from_block {
                Some(tag) => ctx.number(&r, tag)?,
                None => ctx.latest()? + 1,
            },
        };
        ctx.filters.install(Kind::Logs {
            filter: Box::new(filter),
            next,
        })
    })?;
    module.register_method("eth_uninstallFilter", |p: Params, ctx, _| {
        let id = filter_id(&p)?;
        Ok::<_, ErrorObjectOwned>(
            ctx.filters
                .inner
                .lock()
                .expect("filters lock")
                .1
                .remove(&id)
                .is_some(),
        )
    })?;
    module.register_blocking_method(
        "eth_getFilterChanges",
        |p: Params, ctx, _| -> RpcResult<serde_json::Value> {
            let id = filter_id(&p)?;
            let r = ctx.reader()?;
            let latest = r.meta().map_err(internal)?.last_block_number;
            // Take what to scan under the lock, scan without it.
            let job = {
                let mut g = ctx.filters.inner.lock().expect("filters lock");
                let e =
                    g.1.get_mut(&id)
                        .ok_or_else(|| err(-32000, "filter not found"))?;
                e.polled = Instant::now();
                match &mut e.kind {
                    Kind::Pending { hashes } => {
                        return Ok(
                            serde_json::to_value(std::mem::take(hashes)).expect("hashes serialize")
                        );
                    }
                    Kind::Blocks { next } => {
                        let from = *next;
                        *next = latest.max(from.saturating_sub(1)) + 1;
                        (None, from)
                    }
                    Kind::Logs { filter, next } => {
                        let from = *next;
                        let to = latest.min(from.saturating_add(ctx.limits.max_log_blocks - 1));
                        *next = to.max(from.saturating_sub(1)) + 1;
                        (Some((filter.clone(), to)), from)
                    }
                }
            };
            match job {
                (None, from) => {
                    let mut hashes = vec![];
                    for n in from..=latest {
                        if let Some(b) = r.block(n).map_err(internal)? {
                            hashes.push(b.hash);
                        }
                    }
                    Ok(serde_json::to_value(hashes).expect("hashes serialize"))
                }
                (Some((filter, to)), from) => {
                    let logs = if from > to {
                        vec![]
                    } else {
                        ctx.logs_between(&r, &filter, from, to)?
                    };
                    Ok(serde_json::to_value(logs).expect("logs serialize"))
                }
            }
        },
    )?;
    module.register_blocking_method(
        "eth_getFilterLogs",
        |p: Params, ctx, _| -> RpcResult<Vec<Log>> {
            let id = filter_id(&p)?;
            let filter = {
                let mut g = ctx.filters.inner.lock().expect("filters lock");
                let e =
                    g.1.get_mut(&id)
                        .ok_or_else(|| err(-32000, "filter not found"))?;
                e.polled = Instant::now();
                match &e.kind {
                    Kind::Logs { filter, .. } => filter.clone(),
                    _ => return Err(invalid("not a log filter")),
                }
            };
            ctx.get_logs(&filter)
        },
    )?;

    module.register_subscription(
        "eth_subscribe",
        "eth_subscription",
        "eth_unsubscribe",
        |p: Params<'static>, pending: PendingSubscriptionSink, ctx, _| async move {
            subscribe(p, pending, ctx).await
        },
    )?;
    Ok(())
}

#[derive(Debug)]
enum Sub {
    NewHeads,
    Logs(Box<Filter>),
    Pending,
}

async fn subscribe(
    p: Params<'static>,
    pending: PendingSubscriptionSink,
    ctx: std::sync::Arc<Ctx>,
) -> SubscriptionResult {
    let mut seq = p.sequence();
    let kind: String = match seq.next() {
        Ok(k) => k,
        Err(e) => {
            pending.reject(e).await;
            return Ok(());
        }
    };
    let sub = match kind.as_str() {
        "newHeads" => Sub::NewHeads,
        "newPendingTransactions" => Sub::Pending,
        "logs" => match seq.optional_next::<Filter>() {
            Ok(f) => Sub::Logs(Box::new(f.unwrap_or_default())),
            Err(e) => {
                // Answer before accepting: an `Err` here would reach the client as jsonrpsee's
                // bare "Internal error" (and `transport.rs` relies on that never happening).
                pending.reject(e).await;
                return Ok(());
            }
        },
        other => {
            pending
                .reject(invalid(format!(
                    "unknown subscription {other:?}: newHeads, logs, newPendingTransactions"
                )))
                .await;
            return Ok(());
        }
    };
    let mut events = ctx.app.subscribe();
    let sink = pending.accept().await?;
    loop {
        let event = tokio::select! {
            e = events.recv() => e,
            _ = sink.closed() => return Ok(()),
        };
        let event = match event {
            Ok(e) => e,
            Err(RecvError::Lagged(n)) => {
                return Err(format!("subscriber fell {n} events behind and was dropped").into());
            }
            Err(RecvError::Closed) => return Ok(()),
        };
        let values: Vec<serde_json::Value> = match (&sub, event) {
            (Sub::Pending, Event::PendingTx(h)) => vec![serde_json::to_value(h)?],
            (Sub::NewHeads, Event::Block(n)) => {
                let ctx = ctx.clone();
                tokio::task::spawn_blocking(move || -> RpcResult<Vec<serde_json::Value>> {
                    let r = ctx.reader()?;
                    Ok(match r.block(n).map_err(internal)? {
                        Some(b) => vec![
                            serde_json::to_value(rpc_block(&r, &b, false)?.header)
                                .expect("header serializes"),
                        ],
                        None => vec![],
                    })
                })
                .await??
            }
            (Sub::Logs(filter), Event::Block(n)) => {
                let (ctx, filter) = (ctx.clone(), filter.clone());
                tokio::task::spawn_blocking(move || -> RpcResult<Vec<serde_json::Value>> {
                    let r = ctx.reader()?;
                    let Some(b) = r.block(n).map_err(internal)? else {
                        return Ok(vec![]);
                    };
                    Ok(block_logs(&r, &b, &filter)?
                        .into_iter()
                        .map(|l| serde_json::to_value(l).expect("log serializes"))
                        .collect())
                })
                .await??
            }
            _ => continue,
        };
        for v in values {
            sink.send(serde_json::value::to_raw_value(&v)?).await?;
        }
    }
}

/// Feeds admitted transactions into pending-transaction filters.
pub async fn feed_filters(app: crate::app::App, filters: std::sync::Arc<Filters>) {
    let mut events = app.subscribe();
    loop {
        match events.recv().await {
            Ok(Event::PendingTx(h)) => filters.pending(h),
            Ok(Event::Block(_)) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
    }
}
