//! `parleyd duties`, `parleyd schedule` and the unbonding wait of `parleyd msg … unbond`:
//! what an operator's address holds, has earned and been fined, and must do next, read from a
//! node's JSON-RPC (`parley_` reads only; nothing here signs or sends).
//!
//! Fetching ([`fetch`]) is apart from formatting ([`report`]), so the wording and every
//! deadline it computes are unit-tested on fixed answers.

use std::fmt::Write as _;
use std::time::Duration;

use alloy_primitives::{Address, U256};
use eyre::{Context as _, eyre};
use jsonrpsee::core::client::ClientT as _;
use jsonrpsee::core::params::BatchRequestBuilder;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::rpc_params;
use serde_json::Value;

/// Most past slots `duties` reads for open proof windows and fallback rounds.
pub const MAX_PAST_SLOTS: u64 = 512;

/// What a node answered about one address, as `report` needs it.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The address.
    pub address: Address,
    /// The node's last committed height.
    pub head: u64,
    /// `parley_getProtocolParams`.
    pub params: Value,
    /// `parley_getRoles(address)`.
    pub roles: Value,
    /// `parley_getLedger(address)`.
    pub ledger: Value,
    /// `parley_getSlot(s)` for the past and future slots read, oldest first.
    pub slots: Vec<Value>,
    /// `parley_getProofSlot(s)` for the same slots (null where none).
    pub proof_slots: Vec<Value>,
    /// `parley_getEpoch(e)` of the current and previous epochs (chains that aggregate).
    pub epochs: Vec<Value>,
}

fn client(url: &str) -> eyre::Result<HttpClient> {
    HttpClientBuilder::default()
        .request_timeout(Duration::from_secs(20))
        .build(url)
        .wrap_err_with(|| format!("bad JSON-RPC URL {url}"))
}

fn hex(n: u64) -> String {
    format!("{n:#x}")
}

fn num(v: &Value) -> u64 {
    v.as_str()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .or_else(|| v.as_u64())
        .unwrap_or(0)
}

fn wei(v: &Value) -> U256 {
    v.as_str()
        .and_then(|s| U256::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .unwrap_or(U256::ZERO)
}

fn addr(v: &Value) -> Option<Address> {
    v.as_str().and_then(|s| s.parse().ok())
}

/// `1.5 ETH`, `2,000 gwei` or `12 wei`: wei in the unit a person reads.
pub fn eth(w: U256) -> String {
    let gwei = U256::from(1_000_000_000u64);
    if w < gwei {
        return format!("{w} wei");
    }
    let ether = U256::from(10u64).pow(U256::from(18));
    if w < ether / U256::from(1000u64) {
        let whole = w / gwei;
        let frac = (w % gwei) * U256::from(1000u64) / gwei;
        return trim(format!("{whole}.{frac:03}")) + " gwei";
    }
    let whole = w / ether;
    let frac = (w % ether) / U256::from(1_000_000_000_000u64);
    trim(format!("{whole}.{frac:06}")) + " ETH"
}

fn trim(s: String) -> String {
    let t = s.trim_end_matches('0').trim_end_matches('.');
    t.to_string()
}

/// `in 3 blocks`, `now`, `2 blocks ago`.
fn when(height: u64, head: u64) -> String {
    match height.cmp(&head) {
        std::cmp::Ordering::Greater => {
            let n = height - head;
            format!("in {n} block{}", if n == 1 { "" } else { "s" })
        }
        std::cmp::Ordering::Equal => "now".into(),
        std::cmp::Ordering::Less => {
            let n = head - height;
            format!("{n} block{} ago", if n == 1 { "" } else { "s" })
        }
    }
}

/// Reads what `report` needs about `address` from the node at `url`.
pub async fn fetch(url: &str, address: Address) -> eyre::Result<Snapshot> {
    let c = client(url)?;
    let at = |m: &str| format!("{m} at {url}");
    let head: Value = c
        .request("eth_blockNumber", rpc_params![])
        .await
        .wrap_err_with(|| at("eth_blockNumber"))?;
    let head = num(&head);
    let params: Value = c
        .request("parley_getProtocolParams", rpc_params![])
        .await
        .wrap_err_with(|| at("parley_getProtocolParams"))?;
    let roles: Value = c
        .request("parley_getRoles", rpc_params![address])
        .await
        .wrap_err_with(|| at("parley_getRoles"))?;
    let ledger: Value = c
        .request("parley_getLedger", rpc_params![address])
        .await
        .wrap_err_with(|| at("parley_getLedger"))?;
    let q = &params["protocol"];
    let proving = &q["proving"];
    // Past slots whose proof window or fallback can still be open, and the draws ahead.
    let back = (num(&proving["proof_window"])
        + num(&proving["fallback"]["commit_window"])
        + num(&proving["fallback"]["reveal_proof_window"])
        + 2)
    .clamp(4, MAX_PAST_SLOTS);
    let ahead = num(&q["lookahead"]).max(1);
    let first = head.saturating_sub(back).max(1);
    let range: Vec<u64> = (first..=head.saturating_add(ahead)).collect();
    let mut slots = Vec::with_capacity(range.len());
    let mut proof_slots = Vec::with_capacity(range.len());
    for chunk in range.chunks(100) {
        let mut b = BatchRequestBuilder::new();
        for s in chunk {
            b.insert("parley_getSlot", rpc_params![hex(*s)])?;
            b.insert("parley_getProofSlot", rpc_params![hex(*s)])?;
        }
        let res = c
            .batch_request::<Value>(b)
            .await
            .wrap_err_with(|| at("parley_getSlot/parley_getProofSlot batch"))?;
        for (i, r) in res.into_iter().enumerate() {
            let v = r.map_err(|e| eyre!("{}: {e}", at("slot read")))?;
            if i % 2 == 0 {
                slots.push(v);
            } else {
                proof_slots.push(v);
            }
        }
    }
    let mut epochs = Vec::new();
    if let Some(n) = proving["aggregation"]["epoch_slots"]
        .as_u64()
        .filter(|n| *n > 0)
    {
        let cur = head.saturating_sub(1) / n;
        for e in cur.saturating_sub(3)..=cur {
            let v: Value = c
                .request("parley_getEpoch", rpc_params![hex(e)])
                .await
                .wrap_err_with(|| at("parley_getEpoch"))?;
            epochs.push(v);
        }
    }
    Ok(Snapshot {
        address,
        head,
        params,
        roles,
        ledger,
        slots,
        proof_slots,
        epochs,
    })
}

fn is(v: &Value, a: Address) -> bool {
    addr(v) == Some(a)
}

/// The human report of `s`: roles, money, and the duties with their deadlines.
pub fn report(s: &Snapshot) -> String {
    let (a, head) = (s.address, s.head);
    let q = &s.params["protocol"];
    let r = &s.roles;
    let mut out = String::new();
    let _ = writeln!(out, "{a} at height {head}");
    let _ = writeln!(out, "\nroles");
    let mut any_role = false;
    if !r["sequencer"].is_null() {
        any_role = true;
        let sq = &r["sequencer"];
        let _ = writeln!(
            out,
            "  sequencer   bond {} since #{}",
            eth(wei(&sq["bond"])),
            num(&sq["since"])
        );
    }
    if !r["prover"].is_null() {
        any_role = true;
        let p = &r["prover"];
        let hb = num(&p["lastHeartbeat"]);
        let grace = num(&q["heartbeat_grace"]);
        let active = p["active"].as_bool().unwrap_or(false);
        let rep = p["reputation"].as_f64().unwrap_or(0.0) * 100.0;
        let beat = if hb == 0 {
            "no heartbeat yet".to_string()
        } else {
            format!("last heartbeat #{hb} ({})", when(hb, head))
        };
        let due = if active && grace > 0 && hb > 0 {
            let by = hb.saturating_add(grace);
            format!("; send one by #{by} ({}) to stay drawn", when(by, head))
        } else if !active {
            "; INACTIVE: not drawn until it sends a heartbeat (parleyd msg … heartbeat)".into()
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "  prover      stake {}, reputation {rep:.1} %, {}, {beat}{due}",
            eth(wei(&p["stake"])),
            if active { "active" } else { "inactive" },
        );
    }
    if !r["validator"].is_null() {
        any_role = true;
        let v = &r["validator"];
        let _ = writeln!(
            out,
            "  validator   bond {}, power {}, bridge key {}{}",
            eth(wei(&v["bond"])),
            num(&v["power"]),
            v["bridgeKey"].as_str().unwrap_or("?"),
            if v["leaving"].as_bool().unwrap_or(false) {
                ", LEAVING (its power goes to zero at the next epoch boundaries)"
            } else {
                ""
            }
        );
    }
    for u in r["unbonding"].as_array().into_iter().flatten() {
        any_role = true;
        let at = num(&u["releaseHeight"]);
        let _ = writeln!(
            out,
            "  unbonding   {} {} returns to the ledger at #{at} ({})",
            u["role"].as_str().unwrap_or("?"),
            eth(wei(&u["amount"])),
            when(at, head)
        );
    }
    if !any_role {
        let _ = writeln!(
            out,
            "  none: register with `parleyd msg … bond-sequencer | stake-prover | bond-validator`"
        );
    }

    let _ = writeln!(out, "\nmoney");
    let _ = writeln!(
        out,
        "  ledger balance {} (next protocol nonce {})",
        eth(wei(&s.ledger["balance"])),
        num(&s.ledger["nonce"])
    );
    let _ = writeln!(
        out,
        "  earned {} and fined {} since genesis",
        eth(wei(&r["earnings"]["earned"])),
        eth(wei(&r["earnings"]["fined"]))
    );

    let _ = writeln!(out, "\nduties");
    let mut duties = Vec::new();
    for (slot, proof) in s.slots.iter().zip(&s.proof_slots) {
        let n = num(&slot["slot"]);
        let assigned = slot["provers"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| is(&p["address"], a)));
        // As the slot's prover: select, then prove in the window.
        if assigned && n > head {
            let [s0, s1] = [&slot["selectHeights"][0], &slot["selectHeights"][1]].map(num);
            let state = slot["state"].as_str().unwrap_or("?");
            let selected = !slot["selectedBy"].is_null();
            let select = if selected {
                "selected".to_string()
            } else {
                format!(
                    "Select the highest bid between #{s0} and #{s1} (window ends {})",
                    when(s1, head)
                )
            };
            duties.push(format!(
                "  slot {n} ({}): you are its prover; {select}; {} bid(s), auction {state}",
                when(n, head),
                slot["bids"].as_array().map_or(0, Vec::len)
            ));
        }
        if !proof.is_null() {
            let proven = proof["proven"].as_bool().unwrap_or(false);
            let mine = proof["transitions"]
                .as_array()
                .is_some_and(|ts| ts.iter().any(|t| is(&t["prover"], a)));
            let missed = proof["missed"]
                .as_array()
                .is_some_and(|ms| ms.iter().any(|m| is(&m["prover"], a)));
            let end = num(&proof["windowEnd"]);
            if assigned && !proven && !mine && !missed && end >= head {
                duties.push(format!(
                    "  slot {n}: PROVE by #{end} ({}); a proof after that is refused and the stake is slashed",
                    when(end, head)
                ));
            } else if missed && !proven {
                duties.push(format!(
                    "  slot {n}: window missed at #{end} (slashed); you may still join its fallback round like anyone"
                ));
            }
            let phase = proof["fallbackPhase"].as_str().unwrap_or("closed");
            if !proven && phase != "closed" && !mine {
                let commit_end = num(&proof["commitEnd"]);
                let round_end = num(&proof["roundEnd"]);
                duties.push(format!(
                    "  slot {n}: fallback round {} open to every prover with enough stake ({phase}: commit until #{commit_end}, reveal until #{round_end}); bounty {}",
                    proof["fallbackRounds"],
                    eth(wei(&proof["bounty"]))
                ));
            }
        }
        // As a sequencer: the winning bid must be revealed by the slot's height.
        let bids = slot["bids"].as_array().cloned().unwrap_or_default();
        if n >= head && bids.iter().any(|b| is(&b["sequencer"], a)) {
            let winner = &slot["winner"];
            let state = slot["state"].as_str().unwrap_or("?");
            let mine: Vec<String> = bids
                .iter()
                .filter(|b| is(&b["sequencer"], a))
                .map(|b| eth(wei(&b["amount"])))
                .collect();
            let line = if is(&winner["sequencer"], a) && state == "open" {
                format!(
                    "  slot {n} ({}): your bid {} won; REVEAL the block by #{n}, or the escrow is split and the bond fined",
                    when(n, head),
                    mine.join(", ")
                )
            } else if is(&winner["sequencer"], a) {
                format!(
                    "  slot {n}: your bid {} won; block {state}",
                    mine.join(", ")
                )
            } else if winner.is_null() {
                format!(
                    "  slot {n} ({}): your bid {} is in; selection at #{}",
                    when(n, head),
                    mine.join(", "),
                    num(&slot["selectHeights"][0])
                )
            } else {
                format!("  slot {n}: outbid (refunded)")
            };
            duties.push(line);
        }
    }
    for e in &s.epochs {
        if is(&e["aggregator"], a) && e["state"].as_str() != Some("aggregated") {
            let end = num(&e["windowEnd"]);
            duties.push(format!(
                "  epoch {}: AGGREGATE its {} block proof(s) by #{end} ({})",
                num(&e["epoch"]),
                e["blocks"].as_array().map_or(0, Vec::len),
                when(end, head)
            ));
        }
    }
    if duties.is_empty() {
        let _ = writeln!(
            out,
            "  nothing due in the slots this node has drawn or kept"
        );
    } else {
        for d in duties {
            let _ = writeln!(out, "{d}");
        }
    }
    out
}

/// `parleyd schedule`: the slots from `from` with their draws, bids and state.
pub async fn schedule(url: &str, from: Option<u64>, count: u64) -> eyre::Result<String> {
    let c = client(url)?;
    let head: Value = c
        .request("eth_blockNumber", rpc_params![])
        .await
        .wrap_err_with(|| format!("eth_blockNumber at {url}"))?;
    let head = num(&head);
    let from = from.unwrap_or(head.saturating_add(1));
    let count = count.clamp(1, 256);
    let mut b = BatchRequestBuilder::new();
    for s in from..from.saturating_add(count) {
        b.insert("parley_getSlot", rpc_params![hex(s)])?;
    }
    let res = c
        .batch_request::<Value>(b)
        .await
        .wrap_err_with(|| format!("parley_getSlot at {url}"))?;
    let mut out = format!(
        "head #{head}\n{:>8}  {:<9} {:>4}  {:<14} {:<44} assigned prover(s)\n",
        "slot", "state", "bids", "winning bid", "winner"
    );
    for r in res {
        let v = r.map_err(|e| eyre!("parley_getSlot: {e}"))?;
        let provers: Vec<&str> = v["provers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["address"].as_str())
            .collect();
        let _ = writeln!(
            out,
            "{:>8}  {:<9} {:>4}  {:<14} {:<44} {}",
            num(&v["slot"]),
            v["state"].as_str().unwrap_or("?"),
            v["bids"].as_array().map_or(0, Vec::len),
            if v["winner"].is_null() {
                "-".to_string()
            } else {
                eth(wei(&v["winner"]["amount"]))
            },
            v["winner"]["sequencer"].as_str().unwrap_or("-"),
            if provers.is_empty() {
                "not drawn yet".to_string()
            } else {
                provers.join(", ")
            }
        );
    }
    Ok(out)
}

/// A progress bar of `done` out of `total`: `[#####.....]  50 %`.
pub fn bar(done: u64, total: u64) -> String {
    let total = total.max(1);
    let done = done.min(total);
    let filled = (done * 30 / total) as usize;
    format!(
        "[{}{}] {:>3} %",
        "#".repeat(filled),
        ".".repeat(30 - filled),
        done * 100 / total
    )
}

/// After `parleyd msg … unbond ROLE`: follows the chain until the amount returns to the
/// ledger, showing progress on stderr. Returns the line to print when it has.
pub async fn wait_release(
    url: &str,
    address: Address,
    role: &str,
    timeout: Duration,
) -> eyre::Result<String> {
    let c = client(url)?;
    let deadline = tokio::time::Instant::now() + timeout;
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut entry: Option<(u64, U256)> = None;
    // What was unbonding when first seen: fines taken while it unbonds come out of it.
    let mut first_amount = U256::ZERO;
    let mut start = 0u64;
    let mut shown = u64::MAX;
    let params: Value = c.request("parley_getProtocolParams", rpc_params![]).await?;
    // On a chain with a bridge, a leaving validator's bond is held until L1 finalizes the
    // last epoch it signed (DESIGN §6).
    let bridge = !params["protocol"]["bridge"].is_null();
    loop {
        let head: Value = c.request("eth_blockNumber", rpc_params![]).await?;
        let head = num(&head);
        let roles: Value = c.request("parley_getRoles", rpc_params![address]).await?;
        let now = roles["unbonding"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|u| u["role"].as_str() == Some(role))
            .map(|u| (num(&u["releaseHeight"]), wei(&u["amount"])))
            .max();
        match (entry, now) {
            (Some(_), Some(e)) => entry = Some(e),
            (None, Some(e)) => {
                entry = Some(e);
                first_amount = e.1;
                start = head;
                eprintln!(
                    "unbonding {role}: {} returns to the ledger at #{} ({})",
                    eth(e.1),
                    e.0,
                    when(e.0, head)
                );
            }
            (Some((at, amount)), None) => {
                if tty {
                    eprintln!();
                }
                let ledger: Value = c.request("parley_getLedger", rpc_params![address]).await?;
                let fined = first_amount.saturating_sub(amount);
                return Ok(format!(
                    "released at #{at}: {} back in the ledger{} (balance now {}); `parleyd msg … withdraw` moves it to the EVM balance",
                    eth(amount),
                    if fined.is_zero() {
                        String::new()
                    } else {
                        format!(" ({} was fined while it unbonded)", eth(fined))
                    },
                    eth(wei(&ledger["balance"]))
                ));
            }
            (None, None) if role == "validator" && shown != 0 => {
                eprintln!(
                    "validator: leaving; its bond starts unbonding once its power has left the set{}",
                    if bridge {
                        " and L1 finalized the last epoch it signed"
                    } else {
                        ""
                    }
                );
                shown = 0;
            }
            _ => {}
        }
        if let Some((at, _)) = entry {
            let total = at.saturating_sub(start).max(1);
            let done = head.saturating_sub(start).min(total);
            if tty {
                eprint!("\r  {} #{head} of #{at}", bar(done, total));
            } else if done * 10 / total != shown {
                shown = done * 10 / total;
                eprintln!("  {} #{head} of #{at}", bar(done, total));
            }
        }
        if tokio::time::Instant::now() >= deadline {
            if tty {
                eprintln!();
            }
            return Err(eyre!(
                "still unbonding after {}s; `parleyd duties` shows when it returns",
                timeout.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ME: &str = "0x00000000000000000000000000000000000000aa";
    const OTHER: &str = "0x00000000000000000000000000000000000000bb";

    fn snapshot() -> Snapshot {
        Snapshot {
            address: ME.parse().expect("address"),
            head: 100,
            params: json!({"protocol": {"heartbeat_grace": 50, "lookahead": 4}}),
            roles: json!({
                "earnings": {"earned": "0xde0b6b3a7640000", "fined": "0x3b9aca00"},
                "sequencer": {"bond": "0x1bc16d674ec80000", "since": "0x5"},
                "prover": {"stake": "0x8ac7230489e80000", "reputation": 0.5, "lastHeartbeat": "0x5a", "active": true},
                "validator": null,
                "unbonding": [{"owner": ME, "role": "prover", "amount": "0xde0b6b3a7640000", "releaseHeight": "0x96"}],
            }),
            ledger: json!({"balance": "0x0", "nonce": "0x7"}),
            slots: vec![
                json!({"slot": "0x5a", "state": "executed", "bids": [], "provers": [{"address": ME}], "selectHeights": ["0x50", "0x55"]}),
                json!({"slot": "0x5b", "state": "executed", "bids": [], "provers": [{"address": ME}], "selectHeights": ["0x51", "0x56"]}),
                json!({"slot": "0x66", "state": "open", "bids": [{"sequencer": OTHER, "amount": "0x3e8"}], "selectedBy": null, "winner": null, "provers": [{"address": ME}], "selectHeights": ["0x62", "0x65"]}),
                json!({"slot": "0x67", "state": "open", "bids": [{"sequencer": ME, "amount": "0x2540be400"}], "selectedBy": "app", "winner": {"sequencer": ME, "amount": "0x2540be400"}, "provers": [{"address": OTHER}], "selectHeights": ["0x63", "0x66"]}),
            ],
            proof_slots: vec![
                json!({"slot": "0x5a", "proven": false, "windowEnd": "0x78", "transitions": [], "missed": [], "fallbackPhase": "closed"}),
                json!({"slot": "0x5b", "proven": false, "windowEnd": "0x60", "transitions": [], "missed": [{"prover": ME, "kept": "0x0"}], "fallbackPhase": "commit", "fallbackRounds": 1, "commitEnd": "0x68", "roundEnd": "0x70", "bounty": "0x3e8"}),
                Value::Null,
                Value::Null,
            ],
            epochs: vec![
                json!({"epoch": "0x3", "state": "closed", "aggregator": ME, "windowEnd": "0x82", "blocks": [{}, {}]}),
            ],
        }
    }

    #[test]
    fn the_report_names_every_duty_with_its_deadline() {
        let r = report(&snapshot());
        for want in [
            "sequencer   bond 2 ETH since #5",
            "prover      stake 10 ETH, reputation 50.0 %, active, last heartbeat #90 (10 blocks ago); send one by #140 (in 40 blocks)",
            "unbonding   prover 1 ETH returns to the ledger at #150 (in 50 blocks)",
            "earned 1 ETH and fined 1 gwei since genesis",
            "slot 90: PROVE by #120 (in 20 blocks)",
            "slot 91: window missed at #96 (slashed)",
            "slot 91: fallback round 1 open to every prover with enough stake (commit: commit until #104, reveal until #112); bounty 1000 wei",
            "slot 102 (in 2 blocks): you are its prover; Select the highest bid between #98 and #101 (window ends in 1 block); 1 bid(s), auction open",
            "slot 103 (in 3 blocks): your bid 10 gwei won; REVEAL the block by #103",
            "epoch 3: AGGREGATE its 2 block proof(s) by #130 (in 30 blocks)",
        ] {
            assert!(r.contains(want), "missing {want:?} in:\n{r}");
        }
    }

    #[test]
    fn an_address_without_roles_is_told_how_to_register_and_has_nothing_due() {
        let s = Snapshot {
            address: OTHER.parse().expect("address"),
            head: 7,
            roles: json!({"earnings": {"earned": "0x0", "fined": "0x0"}, "sequencer": null, "prover": null, "validator": null, "unbonding": []}),
            ledger: json!({"balance": "0x0", "nonce": "0x0"}),
            ..Snapshot::default()
        };
        let r = report(&s);
        assert!(r.contains("none: register with"), "{r}");
        assert!(r.contains("nothing due"), "{r}");
        assert!(r.contains("earned 0 wei and fined 0 wei"), "{r}");
    }

    #[test]
    fn amounts_and_bars_read_as_people_expect() {
        assert_eq!(eth(U256::from(12u64)), "12 wei");
        assert_eq!(eth(U256::from(1_500_000_000u64)), "1.5 gwei");
        assert_eq!(eth(U256::from(1_500_000_000_000_000_000u128)), "1.5 ETH");
        assert_eq!(eth(U256::from(1_000_000_000_000_000u128)), "0.001 ETH");
        assert_eq!(bar(0, 10), format!("[{}]   0 %", ".".repeat(30)));
        assert_eq!(
            bar(5, 10),
            format!("[{}{}]  50 %", "#".repeat(15), ".".repeat(15))
        );
        assert_eq!(bar(12, 10), format!("[{}] 100 %", "#".repeat(30)));
        assert_eq!(when(5, 3), "in 2 blocks");
        assert_eq!(when(3, 3), "now");
        assert_eq!(when(2, 3), "1 block ago");
    }
}
