//! `parleyd sync`: follows a node while it catches up, with a progress bar toward a peer's
//! height (or its own rate without one), until it has caught up. What an operator runs after
//! starting a new node or restarting one that was down.

use std::time::Duration;

use eyre::{Context as _, eyre};
use tendermint_rpc::{Client as _, HttpClient};

use super::duties::bar;

fn client(url: &str) -> eyre::Result<HttpClient> {
    let u: tendermint_rpc::Url = url.parse().map_err(|e| eyre!("CometBFT RPC {url}: {e}"))?;
    HttpClient::builder(u.try_into().map_err(|e| eyre!("CometBFT RPC {url}: {e}"))?)
        .compat_mode(tendermint_rpc::client::CompatMode::V0_38)
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| eyre!("CometBFT RPC {url}: {e}"))
}

/// Where a node stands: its height and whether CometBFT says it is catching up.
async fn status(c: &HttpClient, url: &str) -> eyre::Result<(u64, bool)> {
    let s = c
        .status()
        .await
        .wrap_err_with(|| format!("status of {url}"))?;
    Ok((
        s.sync_info.latest_block_height.value(),
        s.sync_info.catching_up,
    ))
}

/// Whether a node at `height` (catching up or not) has caught up with `target`.
pub fn caught_up(height: u64, catching_up: bool, target: Option<u64>) -> bool {
    !catching_up && target.is_none_or(|t| height.saturating_add(2) >= t)
}

/// Follows `node` (a CometBFT RPC URL) until it has caught up with `peer`'s height (or, with
/// no peer, until CometBFT stops reporting `catching_up`), printing progress on stderr.
/// Returns the closing line.
pub async fn follow(node: &str, peer: Option<&str>, timeout: Duration) -> eyre::Result<String> {
    let n = client(node)?;
    let p = peer.map(client).transpose()?;
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let deadline = tokio::time::Instant::now() + timeout;
    let mut start = None;
    let mut shown = u64::MAX;
    let mut last = 0;
    let mut waiting = false;
    loop {
        // A node just started may not answer yet: wait for it within the timeout.
        let (h, catching) = match status(&n, node).await {
            Ok(s) => s,
            Err(e) if tokio::time::Instant::now() < deadline => {
                if !waiting {
                    eprintln!("  waiting for {node} to answer ({e:#})");
                    waiting = true;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let start = *start.get_or_insert(h);
        let target = match (&p, peer) {
            (Some(c), Some(url)) => Some(status(c, url).await?.0),
            _ => None,
        };
        if caught_up(h, catching, target) {
            if tty && shown != u64::MAX {
                eprintln!();
            }
            return Ok(format!(
                "in sync at height {h}{} ({} blocks since this started)",
                target.map_or(String::new(), |t| format!(" (peer at {t})")),
                h.saturating_sub(start)
            ));
        }
        match target {
            Some(t) => {
                let (done, total) = (h.saturating_sub(start), t.saturating_sub(start).max(1));
                if tty {
                    eprint!("\r  {} height {h} of {t}", bar(done, total));
                    shown = 0;
                } else if done * 10 / total != shown {
                    shown = done * 10 / total;
                    eprintln!("  {} height {h} of {t}", bar(done, total));
                }
            }
            None if h != last || shown == u64::MAX => {
                eprintln!(
                    "  height {h} (+{} since the last line), catching up: {catching}",
                    h.saturating_sub(last)
                );
                shown = 0;
            }
            None => {}
        }
        last = h;
        if tokio::time::Instant::now() >= deadline {
            if tty {
                eprintln!();
            }
            return Err(eyre!(
                "{node} has not caught up after {}s (height {h}, catching up: {catching}{}); \
                 check its peers (`curl {node}/net_info`) and its logs",
                timeout.as_secs(),
                target.map_or(String::new(), |t| format!(", peer at {t}"))
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caught_up_means_not_catching_up_and_near_the_peer() {
        assert!(caught_up(100, false, None));
        assert!(!caught_up(100, true, None), "CometBFT still catching up");
        assert!(
            caught_up(100, false, Some(102)),
            "within two heights of the peer"
        );
        assert!(!caught_up(100, false, Some(103)), "the peer is ahead");
        assert!(
            caught_up(105, false, Some(103)),
            "ahead of a peer polled earlier"
        );
    }
}
