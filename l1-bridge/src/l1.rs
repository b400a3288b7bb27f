//! L1 and parleyd access: retries on outages, local signing, receipts, revert decoding.
//!
//! Every call has a timeout. A transport failure (connection refused, reset, timeout, HTTP
//! error status) is an outage: the call is retried with exponential backoff, forever, and the
//! relayer keeps its place. An error *response* from the node (a revert, a refused
//! transaction) is an answer, returned to the caller to decide.

use std::future::Future;
use std::time::Duration;

use alloy_consensus::TxEnvelope;
use alloy_eips::eip2718::Encodable2718 as _;
use alloy_network::{Ethereum, EthereumWallet, NetworkTransactionBuilder as _};
use alloy_primitives::{Address, B256, Bytes, U64};
use alloy_provider::{Provider as _, RootProvider};
use alloy_rpc_types_eth::{TransactionReceipt, TransactionRequest};
use alloy_sol_types::SolInterface as _;
use alloy_transport::{RpcError, TransportError, TransportErrorKind};
use eyre::{Result, WrapErr as _, eyre};
use serde_json::Value;
use tracing::warn;

use crate::abi::Rollup::RollupErrors;
use crate::attestation::AttestationRecord;

/// Longest a single JSON-RPC call may take before it counts as an outage.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest wait between two retries during an outage.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// An HTTP JSON-RPC client (L1 or parleyd).
pub fn http(url: &str) -> Result<RootProvider<Ethereum>> {
    Ok(RootProvider::new_http(
        url.parse().wrap_err_with(|| format!("bad RPC URL {url}"))?,
    ))
}

/// Whether `e` is an outage to wait out (as opposed to the node's answer).
pub fn is_outage(e: &TransportError) -> bool {
    matches!(e, RpcError::Transport(_))
}

/// Runs `f` until it does not fail with an outage (each try bounded by [`CALL_TIMEOUT`]),
/// backing off exponentially up to [`MAX_BACKOFF`]. `what` names the call in the logs.
pub async fn retry<T, F, Fut>(what: &str, mut f: F) -> Result<T, TransportError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, TransportError>>,
{
    let mut delay = Duration::from_millis(200);
    let mut failures = 0u32;
    loop {
        let r = match tokio::time::timeout(CALL_TIMEOUT, f()).await {
            Ok(r) => r,
            Err(_) => Err(TransportErrorKind::custom_str("timed out")),
        };
        match r {
            Ok(v) => {
                if failures > 0 {
                    tracing::info!(what, failures, "RPC reachable again");
                }
                return Ok(v);
            }
            Err(e) if is_outage(&e) => {
                failures = failures.saturating_add(1);
                warn!(what, failures, error = %e, retry_in_ms = delay.as_millis() as u64, "RPC unreachable; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_BACKOFF);
            }
            Err(e) => return Err(e),
        }
    }
}

/// The contract error in a revert answer, if it is one of the Rollup's.
pub fn rollup_error(e: &TransportError) -> Option<RollupErrors> {
    match e {
        RpcError::ErrorResp(p) => p
            .as_revert_data()
            .and_then(|d| RollupErrors::abi_decode(&d).ok()),
        _ => None,
    }
}

/// A signed transaction, ready to broadcast.
#[derive(Debug, Clone)]
pub struct Signed {
    /// Its hash.
    pub hash: B256,
    /// Its EIP-2718 bytes.
    pub raw: Bytes,
}

/// Signs `req` (every field already set) with `wallet`.
pub async fn sign(wallet: &EthereumWallet, req: TransactionRequest) -> Result<Signed> {
    let env: TxEnvelope = req
        .build(wallet)
        .await
        .map_err(|e| eyre!("signing a transaction: {e}"))?;
    Ok(Signed {
        hash: *env.tx_hash(),
        raw: Bytes::from(env.encoded_2718()),
    })
}

/// Broadcasts `raw`, retrying outages. A refusal because the node already has it, or
/// because its nonce was used (it or a replacement was mined), is not an error: the caller
/// learns what happened from receipts.
pub async fn broadcast(l1: &RootProvider<Ethereum>, raw: &Bytes) -> Result<()> {
    match retry("eth_sendRawTransaction", || async {
        l1.send_raw_transaction(raw).await.map(|_| ())
    })
    .await
    {
        Ok(()) => Ok(()),
        Err(RpcError::ErrorResp(p)) => {
            let m = p.message.to_lowercase();
            if m.contains("already") || m.contains("nonce too low") || m.contains("known") {
                tracing::info!(answer = %p.message, "broadcast: the node has it or its nonce is used");
                Ok(())
            } else {
                Err(eyre!("the L1 node refused the transaction: {p}"))
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// The receipt of `hash`, if mined.
pub async fn receipt(
    l1: &RootProvider<Ethereum>,
    hash: B256,
) -> Result<Option<TransactionReceipt>> {
    Ok(retry("eth_getTransactionReceipt", || {
        l1.get_transaction_receipt(hash)
    })
    .await?)
}

/// Waits for `hash`'s receipt, polling every `poll`.
pub async fn wait_receipt(
    l1: &RootProvider<Ethereum>,
    hash: B256,
    poll: Duration,
) -> Result<TransactionReceipt> {
    loop {
        if let Some(r) = receipt(l1, hash).await? {
            return Ok(r);
        }
        tokio::time::sleep(poll).await;
    }
}

/// The sender's nonce for its next transaction (pending block).
pub async fn pending_nonce(l1: &RootProvider<Ethereum>, who: Address) -> Result<u64> {
    Ok(retry("eth_getTransactionCount", || {
        l1.get_transaction_count(who).pending().into_future()
    })
    .await?)
}

/// The sender's transaction count at the latest block.
pub async fn confirmed_nonce(l1: &RootProvider<Ethereum>, who: Address) -> Result<u64> {
    Ok(retry("eth_getTransactionCount", || {
        l1.get_transaction_count(who).latest().into_future()
    })
    .await?)
}

/// Current EIP-1559 fees (max fee, priority fee), wei.
pub async fn fees(l1: &RootProvider<Ethereum>) -> Result<(u128, u128)> {
    let f = retry("fee estimate", || l1.estimate_eip1559_fees()).await?;
    Ok((f.max_fee_per_gas, f.max_priority_fee_per_gas))
}

/// The latest L1 block number.
pub async fn block_number(l1: &RootProvider<Ethereum>) -> Result<u64> {
    Ok(retry("eth_blockNumber", || l1.get_block_number().into_future()).await?)
}

/// The L1 chain id.
pub async fn chain_id(l1: &RootProvider<Ethereum>) -> Result<u64> {
    Ok(retry("eth_chainId", || l1.get_chain_id().into_future()).await?)
}

// ---- parleyd ------------------------------------------------------------------------------

/// `parley_getAttestation(epoch)`: `None` until the epoch is attested.
pub async fn attestation(
    l2: &RootProvider<Ethereum>,
    epoch: u64,
) -> Result<Option<AttestationRecord>> {
    let v: Value = retry("parley_getAttestation", || {
        l2.raw_request("parley_getAttestation".into(), (U64::from(epoch),))
    })
    .await
    .wrap_err("parley_getAttestation")?;
    if v.is_null() {
        return Ok(None);
    }
    serde_json::from_value(v)
        .map(Some)
        .wrap_err_with(|| format!("parley_getAttestation({epoch}) is not an attestation record"))
}

/// `parley_getEpochProof(epoch)`: the verified L1 proof the chain holds for the epoch
/// (accumulator limbs, then the proof). `None` while it holds none, and on a chain that takes
/// no L1 proofs (the proof then comes from `--proof-dir` only).
pub async fn epoch_proof(l2: &RootProvider<Ethereum>, epoch: u64) -> Result<Option<Vec<u8>>> {
    #[derive(serde::Deserialize)]
    struct Answer {
        proof: Bytes,
    }
    let r: Result<Value, _> = retry("parley_getEpochProof", || {
        l2.raw_request("parley_getEpochProof".into(), (U64::from(epoch),))
    })
    .await;
    let v = match r {
        Ok(v) => v,
        Err(RpcError::ErrorResp(e)) if e.message.contains("takes no L1 epoch proofs") => {
            return Ok(None);
        }
        Err(e) => return Err(e).wrap_err("parley_getEpochProof"),
    };
    if v.is_null() {
        return Ok(None);
    }
    let a: Answer = serde_json::from_value(v)
        .wrap_err_with(|| format!("parley_getEpochProof({epoch}) is not an epoch proof"))?;
    Ok(Some(a.proof.to_vec()))
}

/// What a relayer and the deployer need of parleyd's genesis parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BridgeTarget {
    /// The L2 chain id.
    pub l2_chain_id: u64,
    /// The L1 chain the bridge is on.
    pub l1_chain_id: u64,
    /// The Rollup address genesis names.
    pub rollup: Address,
}

/// Reads [`BridgeTarget`] from `parley_getProtocolParams`.
pub async fn bridge_target(l2: &RootProvider<Ethereum>) -> Result<BridgeTarget> {
    let v: Value = retry("parley_getProtocolParams", || {
        l2.raw_request("parley_getProtocolParams".into(), ())
    })
    .await
    .wrap_err("parley_getProtocolParams")?;
    let l2_chain_id = v
        .get("chain_id")
        .and_then(Value::as_u64)
        .ok_or_else(|| eyre!("parley_getProtocolParams has no chain_id: {v}"))?;
    let b = v
        .get("protocol")
        .and_then(|p| p.get("bridge"))
        .ok_or_else(|| eyre!("this chain has no bridge (no params.protocol.bridge)"))?;
    let l1_chain_id = b
        .get("l1_chain_id")
        .and_then(Value::as_u64)
        .ok_or_else(|| eyre!("params.protocol.bridge has no l1_chain_id: {b}"))?;
    let rollup = b
        .get("rollup")
        .and_then(Value::as_str)
        .ok_or_else(|| eyre!("params.protocol.bridge has no rollup: {b}"))?
        .parse()
        .wrap_err("params.protocol.bridge.rollup")?;
    Ok(BridgeTarget {
        l2_chain_id,
        l1_chain_id,
        rollup,
    })
}

/// `parley_getBridge` or, once epoch 0 is attested, `parley_getAttestation(0)`: the genesis
/// proof root and signing set (what the Rollup is deployed with).
pub async fn genesis_set(l2: &RootProvider<Ethereum>) -> Result<(B256, Vec<(Address, u64)>)> {
    let v: Value = retry("parley_getBridge", || {
        l2.raw_request("parley_getBridge".into(), ())
    })
    .await
    .wrap_err("parley_getBridge")?;
    let next = v
        .get("nextEpoch")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<U64>().ok())
        .ok_or_else(|| eyre!("parley_getBridge has no nextEpoch: {v}"))?;
    let (root, set) = if next == U64::ZERO {
        let root: B256 = serde_json::from_value(v.get("root").cloned().unwrap_or_default())
            .wrap_err("parley_getBridge.root")?;
        let set: crate::attestation::SignerSet =
            serde_json::from_value(v.get("set").cloned().unwrap_or_default())
                .wrap_err("parley_getBridge.set")?;
        (root, set)
    } else {
        let a = attestation(l2, 0)
            .await?
            .ok_or_else(|| eyre!("parleyd attested epochs but serves no attestation of epoch 0"))?;
        (a.attestation.first_pre_root, a.set)
    };
    if set.signers.len() != set.powers.len() || set.signers.is_empty() {
        return Err(eyre!("parleyd's genesis signing set is malformed"));
    }
    Ok((
        root,
        set.signers
            .into_iter()
            .zip(set.powers.into_iter().map(|p| p.to::<u64>()))
            .collect(),
    ))
}
