//! The operator client behind `parleyd msg …`: signs a protocol message with the operator's
//! key, sends it through a node's JSON-RPC (`parley_sendMessage`) and waits until the chain
//! has executed it (the sender's protocol nonce moves past it), so a script can go on knowing
//! the result. Also reads what a validator's node needs to register (its CometBFT consensus
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

    /// Signs `action` as `key`'s next message, sends it and, with `wait`, waits up to
    /// `wait` for the chain to execute it. Returns the message hash and the ledger after.
    pub async fn send(
        &self,
        key: &PrivateKeySigner,
        action: &Action,
        wait: Option<Duration>,
    ) -> eyre::Result<(B256, Ledger)> {
        let chain_id = self.chain_id().await?;
        let before = self.ledger(key.address()).await?;
        let nonce: u64 = before.nonce.to();
        let raw = alloy_primitives::Bytes::from(msg::sign(key, chain_id, nonce, action));
        let hash: B256 = self
            .rpc
            .request("parley_sendMessage", rpc_params![raw])
            .await
            .map_err(|e| refusal(&self.url, action, e))?;
        let Some(wait) = wait else {
            return Ok((hash, before));
        };
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let now = self.ledger(key.address()).await?;
            if now.nonce.to::<u64>() > nonce {
                return Ok((hash, now));
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "message {hash} (nonce {nonce}) was not executed within {}s; it may \
                     still be in the mempool, or was refused at its turn (see the node's log)",
                    wait.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
