//! The L1 watcher (DESIGN §6, docs/bridge.md "L1 → L2"): reads the Rollup contract's
//! `QueueEntry` events from an L1 JSON-RPC endpoint, up to `finality_depth` blocks below the
//! L1 head, into the node's [`L1View`], and the Rollup's `nextEpoch()` at that block (the
//! epochs final on L1: JSON-RPC's `finalized` tag). The view is node-local: it only decides this
//! validator's queue votes and the batches it proposes; consensus checks the votes'
//! signatures ([`crate::chain::l1queue`]).
//!
//! Each entry's rolling hash is recomputed and compared with the one the contract emitted; a
//! mismatch (a contract that is not ours, a reorganisation deeper than the depth) stops the
//! node's queue votes and is reported on `parley_getBridge` (`l1View.error`) until an
//! operator restarts it with a deeper depth or the right address. An unreachable endpoint
//! is retried every poll; the node keeps running and its view stays where it was.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use alloy_primitives::{Address, B256, U256, keccak256};
use jsonrpsee::core::client::ClientT as _;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::rpc_params;
use parley_types::bridge::QueueEntry;

use crate::chain::l1queue::L1View;

/// What the watcher needs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The L1 JSON-RPC URL (config `l1_rpc`; empty: no watcher).
    pub url: String,
    /// L1 blocks below the head an entry must be before it counts (config
    /// `l1_finality_depth`).
    pub finality_depth: u64,
    /// Time between polls (config `l1_poll_ms`).
    pub poll: Duration,
    /// First L1 block to read (config `l1_start_block`: the Rollup's deployment block or
    /// earlier).
    pub start_block: u64,
}

/// Most L1 blocks one `eth_getLogs` asks for.
const MAX_RANGE: u64 = 2_000;

/// `keccak256` of the Rollup's `QueueEntry` event signature.
pub fn queue_entry_topic() -> B256 {
    keccak256("QueueEntry(uint64,uint8,address,address,uint256,bytes,bytes32)")
}

/// One `QueueEntry` log, decoded: the entry and the rolling hash the contract emitted.
pub fn decode_log(topics: &[B256], data: &[u8]) -> Result<(QueueEntry, B256), String> {
    if topics.first() != Some(&queue_entry_topic()) || topics.len() != 2 {
        return Err("not a QueueEntry event".into());
    }
    let index = u64::try_from(U256::from_be_bytes(topics[1].0))
        .map_err(|_| "index above 2^64".to_string())?;
    let word = |i: usize| -> Result<&[u8], String> {
        data.get(32 * i..32 * (i + 1))
            .ok_or_else(|| format!("event data too short for word {i}"))
    };
    let small = |i: usize| -> Result<usize, String> {
        usize::try_from(U256::from_be_slice(word(i)?)).map_err(|_| format!("word {i} too large"))
    };
    let kind = small(0)?;
    let sender = Address::from_slice(&word(1)?[12..]);
    let recipient = Address::from_slice(&word(2)?[12..]);
    let amount = U256::from_be_slice(word(3)?);
    let offset = small(4)?;
    let rolling = B256::from_slice(word(5)?);
    let len_at = offset;
    let len = usize::try_from(U256::from_be_slice(
        data.get(len_at..len_at + 32)
            .ok_or("event data too short for the bytes length")?,
    ))
    .map_err(|_| "bytes length too large".to_string())?;
    let raw = data
        .get(len_at + 32..(len_at + 32).saturating_add(len))
        .ok_or("event data too short for the bytes")?
        .to_vec();
    let entry = match kind {
        0 => QueueEntry::Deposit {
            index,
            sender,
            l2_recipient: recipient,
            amount,
        },
        1 => QueueEntry::Forced {
            index,
            sender,
            raw_tx: raw,
        },
        k => return Err(format!("unknown queue entry kind {k}")),
    };
    Ok((entry, rolling))
}

fn hex_u64(s: &str) -> Result<u64, String> {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).map_err(|e| format!("{s}: {e}"))
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Log {
    topics: Vec<B256>,
    data: alloy_primitives::Bytes,
    #[serde(default)]
    removed: bool,
}

/// Reads one range of new final blocks into `view`; returns the next block to read.
async fn poll_once(
    client: &HttpClient,
    s: &Settings,
    rollup: Address,
    view: &RwLock<L1View>,
    next: u64,
) -> Result<u64, String> {
    let head: String = client
        .request("eth_blockNumber", rpc_params![])
        .await
        .map_err(|e| format!("eth_blockNumber: {e}"))?;
    let head = hex_u64(&head)?;
    let Some(safe) = head.checked_sub(s.finality_depth) else {
        return Ok(next);
    };
    if safe < next {
        return Ok(next);
    }
    let to = safe.min(next.saturating_add(MAX_RANGE - 1));
    let filter = serde_json::json!({
        "address": rollup,
        "topics": [queue_entry_topic()],
        "fromBlock": format!("0x{next:x}"),
        "toBlock": format!("0x{to:x}"),
    });
    let logs: Vec<Log> = client
        .request("eth_getLogs", rpc_params![filter])
        .await
        .map_err(|e| format!("eth_getLogs {next}..={to}: {e}"))?;
    // How many epochs the Rollup has finalized at that block (the `finalized` tag), once the
    // scan has caught up: an L1 node that is not an archive keeps only recent states, so the
    // catch-up ranges of an old start block are not asked about.
    let finalized = if to == safe {
        let call = serde_json::json!({
            "to": rollup,
            "data": format!("0x{}", alloy_primitives::hex::encode(&keccak256("nextEpoch()")[..4])),
        });
        let answer: alloy_primitives::Bytes = client
            .request("eth_call", rpc_params![call, format!("0x{to:x}")])
            .await
            .map_err(|e| format!("eth_call nextEpoch() at {to}: {e}"))?;
        // No code at the address yet (an empty answer): nothing finalized.
        if answer.is_empty() {
            Some(0)
        } else {
            Some(
                u64::try_from(U256::from_be_slice(&answer))
                    .map_err(|_| format!("nextEpoch() answered {answer}"))?,
            )
        }
    } else {
        None
    };
    let mut v = view.write().expect("l1 view lock");
    if let Some(f) = finalized {
        v.set_finalized_epochs(f);
    }
    for log in logs.iter().filter(|l| !l.removed) {
        let (entry, rolling) = decode_log(&log.topics, &log.data)?;
        // A range read again after an error repeats entries already taken.
        if entry.index() < v.len() {
            continue;
        }
        v.push(entry, rolling)?;
    }
    v.set_l1_block(to);
    // Before the scan has caught up, nothing was asked about the Rollup's epochs.
    crate::node::metrics::bridge_l1(finalized.map(|_| v.finalized_epochs()), to);
    Ok(to + 1)
}

/// Waits for the chain's genesis (InitChain, on a fresh node), then runs the watcher on a
/// chain with a bridge when `l1_rpc` is set; warns when a bridge chain's node has no
/// `l1_rpc`.
pub async fn start(app: crate::app::App, s: Settings) {
    let params = loop {
        if let Some(p) = app.params() {
            break p;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    match (params.protocol.bridge, s.url.is_empty()) {
        (Some(b), false) => run(app.l1_view(), s, b.rollup).await,
        (Some(_), true) => tracing::warn!(
            target: "parley::bridge",
            "no l1_rpc: this node does not watch the L1 queue; its power does not count toward letting deposits and forced transactions in"
        ),
        (None, false) => tracing::warn!(
            target: "parley::bridge",
            "l1_rpc is set, but this chain has no bridge: nothing to watch"
        ),
        (None, true) => {}
    }
}

/// Runs the watcher of the Rollup at `rollup` until the process ends.
pub async fn run(view: Arc<RwLock<L1View>>, s: Settings, rollup: Address) {
    let client = match HttpClientBuilder::default()
        .request_timeout(Duration::from_secs(10))
        .max_response_size(64 << 20)
        .build(&s.url)
    {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("l1_rpc {}: {e}", s.url);
            tracing::error!(target: "parley::bridge", error = %msg, "L1 watcher cannot start");
            view.write().expect("l1 view lock").set_error(msg);
            return;
        }
    };
    tracing::info!(target: "parley::bridge", url = %s.url, %rollup, depth = s.finality_depth, "L1 watcher started");
    let mut next = s.start_block;
    let mut failing = false;
    loop {
        match poll_once(&client, &s, rollup, &view, next).await {
            Ok(n) => {
                if failing {
                    tracing::info!(target: "parley::bridge", "L1 watcher reaches L1 again");
                    failing = false;
                }
                if n > next {
                    let v = view.read().expect("l1 view lock");
                    tracing::debug!(target: "parley::bridge", l1_block = v.l1_block(), seen = v.len(), "L1 queue read");
                }
                next = n;
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(target: "parley::bridge", error = %e, "L1 watcher: retrying");
                }
                failing = true;
                crate::node::metrics::bridge_l1_error();
                view.write().expect("l1 view lock").set_error(e);
            }
        }
        tokio::time::sleep(s.poll).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `abi.encode(kind, sender, recipient, amount, bytes, rolling)` as the event's data.
    fn data(kind: u8, raw: &[u8], rolling: B256) -> Vec<u8> {
        let mut d = Vec::new();
        let w = |v: U256| v.to_be_bytes::<32>();
        d.extend_from_slice(&w(U256::from(kind)));
        d.extend_from_slice(&Address::repeat_byte(1).into_word().0);
        d.extend_from_slice(&Address::repeat_byte(2).into_word().0);
        d.extend_from_slice(&w(U256::from(5)));
        d.extend_from_slice(&w(U256::from(6 * 32)));
        d.extend_from_slice(&rolling.0);
        d.extend_from_slice(&w(U256::from(raw.len())));
        d.extend_from_slice(raw);
        d.resize(d.len().div_ceil(32) * 32, 0);
        d
    }

    #[test]
    fn decodes_both_kinds_and_refuses_garbage() {
        let topics = [queue_entry_topic(), B256::with_last_byte(7)];
        let (e, r) = decode_log(&topics, &data(0, &[], B256::repeat_byte(9))).expect("deposit");
        assert_eq!(
            e,
            QueueEntry::Deposit {
                index: 7,
                sender: Address::repeat_byte(1),
                l2_recipient: Address::repeat_byte(2),
                amount: U256::from(5)
            }
        );
        assert_eq!(r, B256::repeat_byte(9));
        let (e, _) = decode_log(&topics, &data(1, &[0xab; 40], B256::ZERO)).expect("forced");
        assert!(
            matches!(e, QueueEntry::Forced { index: 7, ref raw_tx, .. } if raw_tx == &[0xab; 40])
        );
        assert!(decode_log(&topics, &data(2, &[], B256::ZERO)).is_err());
        assert!(decode_log(&topics[..1], &data(0, &[], B256::ZERO)).is_err());
        assert!(decode_log(&topics, &data(1, &[1; 40], B256::ZERO)[..200]).is_err());
        assert!(decode_log(&[B256::ZERO, topics[1]], &data(0, &[], B256::ZERO)).is_err());
    }
}
