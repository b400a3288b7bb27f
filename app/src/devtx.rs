//! Signing helpers for tests, benchmarks and the load generator: build and sign EIP-1559
//! and legacy transactions with a local key. Not used by the node itself.

use alloy_consensus::{SignableTransaction, TxEip1559, TxEip2930, TxEnvelope, TxLegacy};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;

/// Fee settings for a signed transaction.
#[derive(Debug, Clone, Copy)]
pub struct Fees {
    /// Max fee per gas (legacy / 2930: the gas price).
    pub max_fee: u128,
    /// Max priority fee per gas (1559 only).
    pub tip: u128,
}

impl Default for Fees {
    fn default() -> Self {
        Self {
            max_fee: 10_000_000_000,
            tip: 1_000_000_000,
        }
    }
}

/// Which envelope to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// EIP-155 legacy.
    Legacy,
    /// EIP-2930.
    AccessList,
    /// EIP-1559.
    DynamicFee,
}

/// Signs a transaction and returns its EIP-2718 bytes.
#[allow(clippy::too_many_arguments)]
pub fn sign(
    signer: &PrivateKeySigner,
    kind: Kind,
    chain_id: u64,
    nonce: u64,
    to: Option<Address>,
    value: U256,
    input: Bytes,
    gas_limit: u64,
    fees: Fees,
) -> Bytes {
    let to = to.map_or(TxKind::Create, TxKind::Call);
    let envelope: TxEnvelope = match kind {
        Kind::Legacy => {
            let tx = TxLegacy {
                chain_id: Some(chain_id),
                nonce,
                gas_price: fees.max_fee,
                gas_limit,
                to,
                value,
                input,
            };
            signed(signer, tx).into()
        }
        Kind::AccessList => {
            let tx = TxEip2930 {
                chain_id,
                nonce,
                gas_price: fees.max_fee,
                gas_limit,
                to,
                value,
                input,
                access_list: Default::default(),
            };
            signed(signer, tx).into()
        }
        Kind::DynamicFee => {
            let tx = TxEip1559 {
                chain_id,
                nonce,
                gas_limit,
                max_fee_per_gas: fees.max_fee,
                max_priority_fee_per_gas: fees.tip,
                to,
                value,
                access_list: Default::default(),
                input,
            };
            signed(signer, tx).into()
        }
    };
    envelope.encoded_2718().into()
}

/// Signs `tx` with `signer`.
fn signed<T: SignableTransaction<alloy_primitives::Signature>>(
    signer: &PrivateKeySigner,
    tx: T,
) -> alloy_consensus::Signed<T> {
    let sig = signer
        .sign_hash_sync(&tx.signature_hash())
        .expect("local signing cannot fail");
    tx.into_signed(sig)
}

/// A signed EIP-1559 ETH transfer with default fees.
pub fn transfer(
    signer: &PrivateKeySigner,
    chain_id: u64,
    nonce: u64,
    to: Address,
    value: U256,
) -> Bytes {
    sign(
        signer,
        Kind::DynamicFee,
        chain_id,
        nonce,
        Some(to),
        value,
        Bytes::new(),
        21_000,
        Fees::default(),
    )
}
