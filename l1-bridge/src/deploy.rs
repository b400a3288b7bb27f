//! `parley-bridge deploy`: the verifier and the Rollup on L1, at the address parleyd's
//! genesis names, with the genesis proof root and signing set parleyd serves.

use std::path::PathBuf;
use std::time::Duration;

use alloy_network::{EthereumWallet, TransactionBuilder as _};
use alloy_primitives::{Address, Bytes, U256};
use alloy_provider::Provider as _;
use alloy_rpc_types_eth::TransactionRequest;
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::SolConstructor as _;
use eyre::{Result, WrapErr as _, bail, eyre};
use serde_json::json;
use tracing::info;

use crate::abi::{Rollup, VERIFIER_STAND_IN};
use crate::l1;

/// Where the verifier comes from.
#[derive(Debug, Clone)]
pub enum VerifierSource {
    /// [`VERIFIER_STAND_IN`]: a contract that refuses every proof.
    StandIn,
    /// A file with the verifier's creation code (hex).
    Creation(PathBuf),
    /// A file with the verifier's runtime code (hex), deployed by a minimal constructor.
    Runtime(PathBuf),
    /// A verifier already on L1.
    At(Address),
}

/// What `deploy` needs.
#[derive(Debug, Clone)]
pub struct DeployConfig {
    /// L1 JSON-RPC URL.
    pub l1_url: String,
    /// parleyd's eth JSON-RPC URL (serves the `parley_` namespace).
    pub parleyd_url: String,
    /// The deployer's key.
    pub key: PrivateKeySigner,
    /// Forge's artifact of the Rollup (`out/Rollup.sol/Rollup.json`).
    pub artifact: PathBuf,
    /// The verifier.
    pub verifier: VerifierSource,
    /// `forceDelay` (seconds).
    pub force_delay: u64,
    /// `escapeDelay` (seconds).
    pub escape_delay: u64,
    /// `relaySlot` (L1 blocks).
    pub relay_slot: u64,
    /// `maxForcedTxBytes`.
    pub max_forced_tx_bytes: u64,
    /// Receipt polling interval.
    pub poll: Duration,
}

/// Reads hex code from a file or a literal (`0x` optional, whitespace ignored).
fn hex_code(text: &str) -> Result<Vec<u8>> {
    let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let t = t.strip_prefix("0x").unwrap_or(&t);
    if t.contains("__$") {
        bail!("the bytecode has unlinked library placeholders");
    }
    hex::decode(t).wrap_err("bytecode is not hex")
}

/// The creation code of the Rollup from forge's artifact JSON (`bytecode.object`).
pub fn artifact_bytecode(json: &str) -> Result<Vec<u8>> {
    let v: serde_json::Value = serde_json::from_str(json).wrap_err("artifact is not JSON")?;
    let obj = v
        .get("bytecode")
        .and_then(|b| b.get("object").or(Some(b)))
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| eyre!("artifact has no bytecode.object"))?;
    let code = hex_code(obj)?;
    if code.is_empty() {
        bail!("artifact's bytecode is empty (an interface or abstract contract?)");
    }
    Ok(code)
}

/// Creation code that deploys `runtime` as is: `PUSH2 len DUP1 PUSH1 12 PUSH1 0 CODECOPY
/// PUSH1 0 RETURN`, then the runtime code.
pub fn wrap_runtime(runtime: &[u8]) -> Result<Vec<u8>> {
    let len = u16::try_from(runtime.len()).map_err(|_| eyre!("runtime code over 64 KiB"))?;
    let [hi, lo] = len.to_be_bytes();
    let mut code = vec![
        0x61, hi, lo, 0x80, 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, 0x00, 0xf3,
    ];
    code.extend_from_slice(runtime);
    Ok(code)
}

/// The deployer's connection, key and chain.
struct Deployer<'a> {
    l1p: &'a alloy_provider::RootProvider,
    wallet: &'a EthereumWallet,
    from: Address,
    chain_id: u64,
    poll: Duration,
}

async fn create(
    d: &Deployer<'_>,
    nonce: u64,
    code: Vec<u8>,
    what: &str,
) -> Result<(Address, u64, alloy_primitives::B256)> {
    let Deployer {
        l1p,
        wallet,
        from,
        chain_id,
        poll,
    } = *d;
    let mut req = TransactionRequest::default()
        .with_from(from)
        .with_deploy_code(Bytes::from(code))
        .with_nonce(nonce)
        .with_chain_id(chain_id);
    let est = l1::retry("eth_estimateGas", || {
        l1p.estimate_gas(req.clone()).into_future()
    })
    .await
    .map_err(|e| eyre!("{what}: the deployment would fail: {e}"))?;
    let (max_fee, tip) = l1::fees(l1p).await?;
    req = req
        .with_gas_limit(est.saturating_mul(6) / 5)
        .with_max_fee_per_gas(max_fee)
        .with_max_priority_fee_per_gas(tip);
    let signed = l1::sign(wallet, req).await?;
    info!(what, tx = %signed.hash, nonce, "deploying");
    l1::broadcast(l1p, &signed.raw).await?;
    let r = l1::wait_receipt(l1p, signed.hash, poll).await?;
    if !r.status() {
        bail!("{what}: deployment {} reverted", signed.hash);
    }
    let at = r
        .contract_address
        .ok_or_else(|| eyre!("{what}: receipt without a contract address"))?;
    Ok((at, r.gas_used, signed.hash))
}

/// Deploys the verifier (unless given) and the Rollup; refuses before sending anything if
/// the Rollup would not land at the address genesis names. Returns the JSON report.
pub async fn deploy(cfg: &DeployConfig) -> Result<serde_json::Value> {
    let l1p = l1::http(&cfg.l1_url)?;
    let l2 = l1::http(&cfg.parleyd_url)?;
    let me = cfg.key.address();
    let wallet = EthereumWallet::from(cfg.key.clone());

    let target = l1::bridge_target(&l2).await?;
    let chain_id = l1::chain_id(&l1p).await?;
    if chain_id != target.l1_chain_id {
        bail!(
            "the L1 at {} is chain {chain_id}, but parleyd's genesis names L1 chain {}",
            cfg.l1_url,
            target.l1_chain_id
        );
    }
    let (root, set) = l1::genesis_set(&l2).await?;
    let rollup_code = artifact_bytecode(
        &std::fs::read_to_string(&cfg.artifact)
            .wrap_err_with(|| format!("reading {}", cfg.artifact.display()))?,
    )?;
    let verifier_code = match &cfg.verifier {
        VerifierSource::StandIn => Some(hex_code(VERIFIER_STAND_IN)?),
        VerifierSource::Creation(p) => Some(hex_code(
            &std::fs::read_to_string(p).wrap_err_with(|| format!("reading {}", p.display()))?,
        )?),
        VerifierSource::Runtime(p) => Some(wrap_runtime(&hex_code(
            &std::fs::read_to_string(p).wrap_err_with(|| format!("reading {}", p.display()))?,
        )?)?),
        VerifierSource::At(_) => None,
    };

    let nonce = l1::pending_nonce(&l1p, me).await?;
    let rollup_nonce = nonce + u64::from(verifier_code.is_some());
    let predicted = me.create(rollup_nonce);
    if predicted != target.rollup {
        bail!(
            "refusing to deploy: {me}'s Rollup would land at {predicted} (nonce {rollup_nonce}), \
             but parleyd's genesis names {} (deploy with the key and nonce genesis was planned for)",
            target.rollup
        );
    }
    let existing = l1::retry("eth_getCode", || {
        l1p.get_code_at(target.rollup).into_future()
    })
    .await?;
    if !existing.is_empty() {
        bail!("refusing to deploy: {} already has code", target.rollup);
    }

    let dep = Deployer {
        l1p: &l1p,
        wallet: &wallet,
        from: me,
        chain_id,
        poll: cfg.poll,
    };
    let (verifier, verifier_gas, verifier_tx) = match (&cfg.verifier, verifier_code) {
        (VerifierSource::At(a), _) => (*a, 0, None),
        (_, Some(code)) => {
            let (a, g, h) = create(&dep, nonce, code, "verifier").await?;
            (a, g, Some(h))
        }
        (_, None) => unreachable!("every source but At has code"),
    };
    let args = Rollup::constructorCall {
        verifier,
        l2ChainId: U256::from(target.l2_chain_id),
        genesisRoot: root,
        signers: set.iter().map(|(a, _)| *a).collect(),
        powers: set.iter().map(|(_, p)| U256::from(*p)).collect(),
        forceDelay: cfg.force_delay,
        escapeDelay: cfg.escape_delay,
        relaySlot: cfg.relay_slot,
        maxForcedTxBytes: U256::from(cfg.max_forced_tx_bytes),
    };
    let mut code = rollup_code;
    code.extend_from_slice(&args.abi_encode());
    let (rollup, rollup_gas, rollup_tx) = create(&dep, rollup_nonce, code, "Rollup").await?;
    if rollup != target.rollup {
        bail!(
            "the Rollup landed at {rollup}, not at genesis's {}",
            target.rollup
        );
    }
    Ok(json!({
        "event": "deployed",
        "rollup": rollup,
        "verifier": verifier,
        "gasUsed": verifier_gas + rollup_gas,
        "verifierGasUsed": verifier_gas,
        "rollupGasUsed": rollup_gas,
        "verifierTx": verifier_tx,
        "rollupTx": rollup_tx,
        "l1ChainId": chain_id,
        "l2ChainId": target.l2_chain_id,
        "genesisRoot": root,
        "signers": set.len(),
        "relaySlot": cfg.relay_slot,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_wrapper_matches_the_stand_in() {
        // The stand-in is exactly the wrapper's layout with a 1-byte-shorter PUSH1 length.
        let w = wrap_runtime(&[0x60, 0x00, 0x60, 0x00, 0xfd]).expect("small");
        assert_eq!(w[..3], [0x61, 0x00, 0x05]);
        assert_eq!(w[w.len() - 5..], [0x60, 0x00, 0x60, 0x00, 0xfd]);
        assert_eq!(w.len(), 12 + 5);
    }

    #[test]
    fn the_artifact_bytecode_is_read() {
        let j = r#"{"abi":[],"bytecode":{"object":"0x6001","sourceMap":""}}"#;
        assert_eq!(artifact_bytecode(j).expect("ok"), vec![0x60, 0x01]);
        assert!(artifact_bytecode(r#"{"bytecode":{"object":"0x"}}"#).is_err());
        assert!(artifact_bytecode(r#"{"bytecode":{"object":"0x__$abc$__"}}"#).is_err());
    }
}
