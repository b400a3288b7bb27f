//! The operator client behind `parleyd msg …`: signs a protocol message with the operator's
//! key, sends it through a node's JSON-RPC (`parley_sendMessage`) and waits until a block has
//! carried it (`parley_getMessage`), so a script can go on knowing the result: executed, or
//! refused with the node's reason. A nonce taken by another signer of the same key is noticed
//! and the message signed again. Also reads what a validator's node needs to register (its CometBFT consensus
//! key). [`duties`] reads what an operator's address holds, has earned and must do next;
//! [`sync`] follows a node catching up.

pub mod duties;
pub mod sync;

use std::path::Path;
use std::time::Duration;

use alloy_primitives::{Address, B256, U64, U256};
use alloy_signer_local::PrivateKeySigner;
use eyre::{Context as _, bail, eyre};
use jsonrpsee::core::client::ClientT as _;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::rpc_params;

use crate::chain::msg::{self, Action};

/// The dev account `m/44'/60'/0'/0/index` of [`crate::DEV_MNEMONIC`].
pub fn dev_account(index: u32) -> eyre::Result<PrivateKeySigner> {
    alloy_signer_local::MnemonicBuilder::english()
        .phrase(crate::DEV_MNEMONIC)
        .index(index)
        .map_err(|e| eyre!("{e}"))?
        .build()
        .map_err(|e| eyre!("{e}"))
}

/// The ed25519 public key in a CometBFT `priv_validator_key.json`.
pub fn consensus_key(priv_validator_key: &Path) -> eyre::Result<[u8; 32]> {
    let text = std::fs::read_to_string(priv_validator_key)
        .wrap_err_with(|| format!("reading {}", priv_validator_key.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .wrap_err_with(|| format!("{} is not JSON", priv_validator_key.display()))?;
    let pk: tendermint::PublicKey = serde_json::from_value(json["pub_key"].clone())
        .wrap_err_with(|| format!("{}: no pub_key", priv_validator_key.display()))?;
    let Some(ed) = pk.ed25519() else {
        bail!(
            "{}: the consensus key is not ed25519",
            priv_validator_key.display()
        );
    };
    ed.as_bytes()
        .try_into()
        .map_err(|_| eyre!("ed25519 public key is not 32 bytes"))
}

/// A refused message as an operator reads it: the node's reason (which names the code and
/// the numbers), and for the refusals people hit first, what to do about it.
fn refusal(url: &str, action: &Action, e: jsonrpsee::core::client::Error) -> eyre::Report {
    let jsonrpsee::core::client::Error::Call(obj) = e else {
        return eyre!("{url}: cannot send the message: {e}");
    };
    let reason = obj.message();
    let hint = if reason.contains("(code 42)") {
        match action {
            Action::Fund(_) => "; the EVM balance must cover it (`cast balance`)",
            _ => {
                "; bonds, stakes and message fees come from the protocol ledger: move wei there \
                 first with `parleyd msg … fund <amount>`"
            }
        }
    } else {
        ""
    };
    eyre!(
        "{url} refused the {} message: {reason}{hint}",
        action.kind().name()
    )
}

/// How often [`Client::send`] signs a message again after another signer of the same key took
/// its nonce.
pub const MAX_RESIGNS: u32 = 5;

/// The result code of a message whose nonce is below the sender's next one: the ledger's own
/// code for a replayed nonce (`LedgerError::Nonce`, docs/protocol.md).
fn nonce_taken_code() -> u32 {
    crate::chain::ledger::LedgerError::Nonce {
        expected: 1,
        got: 0,
    }
    .code()
}

/// How a message ended, as `parley_getMessage` answers it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct MessageResult {
    /// The height of the block that carried it.
    pub height: U64,
    /// Code 0.
    pub executed: bool,
    /// Its result code.
    pub code: u32,
    /// Why it was refused (empty when executed).
    pub log: String,
}

/// A node's JSON-RPC, for the operator's messages.
#[derive(Debug)]
pub struct Client {
    rpc: HttpClient,
    url: String,
}

/// The ledger account as `parley_getLedger` answers it.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
pub struct Ledger {
    /// Wei in the ledger.
    pub balance: U256,
    /// The next protocol nonce.
    pub nonce: U64,
}

impl Client {
    /// A client of the node's JSON-RPC at `url`; every call times out after 10 s.
    pub fn new(url: &str) -> eyre::Result<Self> {
        let rpc = HttpClientBuilder::default()
            .request_timeout(Duration::from_secs(10))
            .build(url)
            .wrap_err_with(|| format!("bad JSON-RPC URL {url}"))?;
        Ok(Self {
            rpc,
            url: url.to_string(),
        })
    }

    /// The chain id the node serves.
    pub async fn chain_id(&self) -> eyre::Result<u64> {
        let id: U64 = self
            .rpc
            .request("eth_chainId", rpc_params![])
            .await
            .wrap_err_with(|| format!("eth_chainId at {}", self.url))?;
        Ok(id.to())
    }

    /// An address's ledger account.
    pub async fn ledger(&self, a: Address) -> eyre::Result<Ledger> {
        self.rpc
            .request("parley_getLedger", rpc_params![a])
            .await
            .wrap_err_with(|| format!("parley_getLedger at {}", self.url))
    }

    /// How the message with this hash ended, once a committed block carried it.
    pub async fn message(&self, hash: B256) -> eyre::Result<Option<MessageResult>> {
        self.rpc
            .request("parley_getMessage", rpc_params![hash])
            .await
            .wrap_err_with(|| format!("parley_getMessage at {}", self.url))
    }

    /// Signs `action` as `key`'s next message, sends it and, with `wait`, waits up to
    /// `wait` for a block to carry it. Returns the message hash and the ledger after it
    /// executed; a refusal at its turn is an error with the node's reason.
    ///
    /// The nonce is the committed one, so another signer of the same key (a running prover
    /// worker, the built-in sequencer) can take it first: then the message can never execute.
    /// The node's message record tells that apart ([`Client::message`] stays empty while the
    /// nonce moves past ours), and the message is signed again with the next nonce, up to
    /// [`MAX_RESIGNS`] times.
    pub async fn send(
        &self,
        key: &PrivateKeySigner,
        action: &Action,
        wait: Option<Duration>,
    ) -> eyre::Result<(B256, Ledger)> {
        let chain_id = self.chain_id().await?;
        let limit = wait.map(|w| (w, tokio::time::Instant::now() + w));
        let mut resigned = 0;
        loop {
            let before = self.ledger(key.address()).await?;
            let nonce: u64 = before.nonce.to();
            let raw = alloy_primitives::Bytes::from(msg::sign(key, chain_id, nonce, action));
            let hash: B256 = self
                .rpc
                .request("parley_sendMessage", rpc_params![raw])
                .await
                .map_err(|e| refusal(&self.url, action, e))?;
            let Some((wait, deadline)) = limit else {
                return Ok((hash, before));
            };
            match self.outcome(key.address(), hash, nonce, deadline).await? {
                Some(Ok(after)) => return Ok((hash, after)),
                Some(Err(r)) => bail!(
                    "message {hash} (nonce {nonce}) was refused at its turn in block #{} \
                     (code {}): {}",
                    r.height,
                    r.code,
                    r.log
                ),
                None if resigned < MAX_RESIGNS => {
                    resigned += 1;
                    eprintln!(
                        "nonce {nonce} went to another message signed with this key (a running \
                         worker or sequencer?); signing {} again with the next nonce",
                        action.kind().name()
                    );
                }
                None => bail!(
                    "message {hash}: nonce {nonce} went to another message signed with this \
                     key, {MAX_RESIGNS} times after signing again; another signer is busy with \
                     this key — try again, or stop it first"
                ),
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "the {} message did not execute within {}s",
                    action.kind().name(),
                    wait.as_secs()
                );
            }
        }
    }

    /// Waits until a block carries message `hash` (signed with `nonce`): `Some(Ok(ledger))`
    /// when it executed, `Some(Err(record))` when it was refused at its turn, `None` when
    /// another message took the nonce (the sender's nonce moved past `nonce` without it, or a
    /// block refused it for its nonce).
    async fn outcome(
        &self,
        sender: Address,
        hash: B256,
        nonce: u64,
        deadline: tokio::time::Instant,
    ) -> eyre::Result<Option<Result<Ledger, MessageResult>>> {
        loop {
            // The nonce first: a record committed with the nonce change is visible after it.
            let now = self.ledger(sender).await?;
            if let Some(r) = self.message(hash).await? {
                // Refused for its nonce: another message of this key had it first in the
                // same block (the mempool takes both until one executes).
                if r.code == nonce_taken_code() {
                    return Ok(None);
                }
                return Ok(Some(if r.executed { Ok(now) } else { Err(r) }));
            }
            if now.nonce.to::<u64>() > nonce {
                return Ok(None);
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "message {hash} (nonce {nonce}) was not executed in time; it may still be \
                     in the mempool (`cast rpc parley_getMessage {hash}` says once a block \
                     carries it)"
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::ledger::LedgerError;

    /// The code `msg` reads as "another message took the nonce" is the ledger's code for a
    /// nonce below the sender's next one (a replay), 40 in docs/protocol.md, not the one for
    /// a nonce too far ahead.
    #[test]
    fn the_nonce_taken_code_is_the_ledgers_replay_code() {
        assert_eq!(nonce_taken_code(), 40);
        let taken = LedgerError::Nonce {
            expected: 5,
            got: 4,
        };
        assert_eq!(taken.code(), nonce_taken_code());
        let ahead = LedgerError::Nonce {
            expected: 5,
            got: 9,
        };
        assert_ne!(ahead.code(), nonce_taken_code());
    }
}
