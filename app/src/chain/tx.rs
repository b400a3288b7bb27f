//! User transactions as the core sees them: decoding, the stateless validity rules and the
//! refusal codes.
//!
//! A transaction that fails [`decode`] (size, EIP-2718 envelope, type, chain id, intrinsic gas
//! with the EIP-7623 floor, initcode size, fee fields, signature) can never execute, so these
//! are block rules as much as admission rules: ProcessProposal refuses a block carrying one
//! ([`crate::chain::rules`]), and the mempool ([`crate::mempool`]) refuses it at CheckTx. The
//! state-dependent checks of admission (nonce window, balance) live in the mempool; execution
//! applies the state rules itself and skips what fails them.

use alloy_consensus::transaction::SignerRecoverable;
use alloy_consensus::{Transaction as _, TxEnvelope};
use alloy_eips::Typed2718 as _;
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use revm::primitives::eip3860::MAX_INITCODE_SIZE;

use crate::chain::block::Message;
use crate::chain::genesis::Params;

/// A decoded, signature-checked transaction.
#[derive(Debug, Clone)]
pub struct SignedTx {
    /// Transaction hash.
    pub hash: B256,
    /// Recovered sender.
    pub from: Address,
    /// The EIP-2718 bytes as signed.
    pub raw: Bytes,
    /// The decoded envelope.
    pub envelope: TxEnvelope,
}

/// Senders already recovered, by tx hash (the hash is of the exact signed bytes): recovery is
/// the costly part of [`decode`], and a node sees a transaction at CheckTx, again in
/// ProcessProposal and FinalizeBlock. The node's cache is [`crate::mempool::SenderCache`].
pub trait SenderMemo {
    /// The sender recovered earlier for this tx hash.
    fn get(&self, hash: &B256) -> Option<Address>;
    /// Remembers a recovered sender.
    fn insert(&self, hash: B256, from: Address);
}

/// Why a transaction is refused. Each has a stable ABCI code.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TxError {
    /// Larger than `params.max_tx_bytes`.
    #[error("transaction too large: {size} bytes, limit {limit}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: u64,
    },
    /// Not a valid EIP-2718 transaction.
    #[error("malformed transaction: {0}")]
    Malformed(String),
    /// A type this chain does not accept.
    #[error(
        "unsupported transaction type {0}: blob (3) and set-code (4) transactions are not accepted"
    )]
    UnsupportedType(u8),
    /// Missing or wrong EIP-155 chain id.
    #[error("wrong chain id: got {got:?}, this chain is {want}")]
    ChainId {
        /// Chain id in the tx (`None`: not replay-protected).
        got: Option<u64>,
        /// This chain's id.
        want: u64,
    },
    /// The signature does not recover.
    #[error("invalid signature: {0}")]
    Signature(String),
    /// Gas limit below the transaction's intrinsic gas (base, calldata, creation, access
    /// list, and the EIP-7623 calldata floor) or above the block gas limit.
    #[error(
        "gas limit {gas} out of range [{min}, {max}]: {min} is this transaction's intrinsic gas"
    )]
    GasLimit {
        /// Tx gas limit.
        gas: u64,
        /// Intrinsic gas (with the EIP-7623 floor).
        min: u64,
        /// Block gas limit.
        max: u64,
    },
    /// Contract-creation code above the EIP-3860 limit.
    #[error("initcode too large: {size} bytes, limit {limit}")]
    InitcodeTooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Priority fee above the fee cap.
    #[error("max priority fee per gas above max fee per gas")]
    TipAboveCap,
    /// Fee cap below the chain's minimum base fee.
    #[error("max fee per gas {got} below the minimum base fee {min}")]
    FeeTooLow {
        /// Tx fee cap.
        got: u128,
        /// Minimum base fee.
        min: u64,
    },
    /// Nonce already used.
    #[error("nonce too low: next nonce is {want}, got {got}")]
    NonceTooLow {
        /// The account's nonce.
        want: u64,
        /// The tx nonce.
        got: u64,
    },
    /// Nonce too far ahead of the account's.
    #[error("nonce too high: next nonce is {want}, got {got} (max gap {max_gap})")]
    NonceTooHigh {
        /// The account's nonce.
        want: u64,
        /// The tx nonce.
        got: u64,
        /// How far ahead the mempool accepts.
        max_gap: u64,
    },
    /// Balance cannot cover `gas_limit × max_fee + value` of this transaction plus the
    /// sender's pending transactions with lower nonces.
    #[error(
        "insufficient funds: balance {balance}, cost {cost} (with {pending} for pending transactions)"
    )]
    InsufficientFunds {
        /// Sender balance.
        balance: U256,
        /// Maximum cost, this transaction and the pending ones before it.
        cost: U256,
        /// The part of `cost` owed to the pending transactions before it.
        pending: U256,
    },
    /// Protocol messages are built by the proposer, not submitted.
    #[error("protocol message not accepted from the mempool: {0}")]
    Protocol(String),
}

impl TxError {
    /// ABCI response code (0 is success).
    pub fn code(&self) -> u32 {
        match self {
            Self::TooLarge { .. } => 2,
            Self::Malformed(_) => 3,
            Self::UnsupportedType(_) => 4,
            Self::ChainId { .. } => 5,
            Self::Signature(_) => 6,
            Self::GasLimit { .. } => 7,
            Self::TipAboveCap => 8,
            Self::FeeTooLow { .. } => 9,
            Self::NonceTooLow { .. } => 10,
            Self::NonceTooHigh { .. } => 11,
            Self::InsufficientFunds { .. } => 12,
            Self::Protocol(_) => 13,
            Self::InitcodeTooLarge { .. } => 14,
        }
    }
}

/// Checks that need no state. Returns the decoded tx with its recovered sender, looked up in
/// (or added to) `senders`. Protocol messages (the `PRLY` envelope) are refused: users submit
/// raw transactions only, and a block carries none.
pub fn decode(raw: &[u8], params: &Params, senders: &impl SenderMemo) -> Result<SignedTx, TxError> {
    if Message::is_protocol(raw) {
        return Err(TxError::Protocol("submit user transactions only".into()));
    }
    if raw.len() as u64 > params.max_tx_bytes {
        return Err(TxError::TooLarge {
            size: raw.len(),
            limit: params.max_tx_bytes,
        });
    }
    if raw.is_empty() {
        return Err(TxError::Malformed("empty transaction".into()));
    }
    let envelope =
        TxEnvelope::decode_2718_exact(raw).map_err(|e| TxError::Malformed(e.to_string()))?;
    let ty = envelope.ty();
    if ty > 2 {
        return Err(TxError::UnsupportedType(ty));
    }
    if envelope.chain_id() != Some(params.chain_id) {
        return Err(TxError::ChainId {
            got: envelope.chain_id(),
            want: params.chain_id,
        });
    }
    let is_create = envelope.kind().is_create();
    let input = envelope.input();
    if is_create && input.len() > MAX_INITCODE_SIZE {
        return Err(TxError::InitcodeTooLarge {
            size: input.len(),
            limit: MAX_INITCODE_SIZE,
        });
    }
    let gas = envelope.gas_limit();
    let min = intrinsic_gas(&envelope);
    if gas < min || gas > params.block_gas_limit {
        return Err(TxError::GasLimit {
            gas,
            min,
            max: params.block_gas_limit,
        });
    }
    if envelope
        .max_priority_fee_per_gas()
        .is_some_and(|tip| tip > envelope.max_fee_per_gas())
    {
        return Err(TxError::TipAboveCap);
    }
    if envelope.max_fee_per_gas() < u128::from(params.min_base_fee) {
        return Err(TxError::FeeTooLow {
            got: envelope.max_fee_per_gas(),
            min: params.min_base_fee,
        });
    }
    let hash = keccak256(raw);
    let from = match senders.get(&hash) {
        Some(a) => a,
        None => {
            let a = envelope
                .recover_signer()
                .map_err(|e| TxError::Signature(e.to_string()))?;
            senders.insert(hash, a);
            a
        }
    };
    Ok(SignedTx {
        hash,
        from,
        raw: Bytes::copy_from_slice(raw),
        envelope,
    })
}

/// The least gas limit a transaction can execute with: intrinsic gas (21,000, calldata,
/// creation and initcode words, access list) or, if higher, the EIP-7623 calldata floor —
/// computed by revm's own rules for the chain's hardfork, so admission and execution agree.
pub fn intrinsic_gas(tx: &TxEnvelope) -> u64 {
    let (accounts, slots) = tx.access_list().map_or((0, 0), |l| {
        (
            l.0.len() as u64,
            l.0.iter().map(|i| i.storage_keys.len() as u64).sum(),
        )
    });
    let g = revm::context_interface::cfg::gas::calculate_initial_tx_gas(
        crate::chain::SPEC,
        tx.input(),
        tx.kind().is_create(),
        accounts,
        slots,
        0,
        None,
    );
    g.initial_regular_gas
        .saturating_add(g.initial_state_gas)
        .max(g.floor_gas)
}

/// Maximum wei a transaction can cost its sender.
pub fn max_cost(tx: &TxEnvelope) -> U256 {
    U256::from(tx.gas_limit())
        .saturating_mul(U256::from(tx.max_fee_per_gas()))
        .saturating_add(tx.value())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devtx::{self, Fees, Kind};
    use crate::mempool::SenderCache;

    fn key() -> alloy_signer_local::PrivateKeySigner {
        alloy_signer_local::PrivateKeySigner::from_bytes(&B256::repeat_byte(7)).expect("key")
    }

    fn tx(data: usize, gas: u64, max_fee: u128) -> Bytes {
        devtx::sign(
            &key(),
            Kind::DynamicFee,
            Params::default().chain_id,
            0,
            Some(Address::repeat_byte(1)),
            alloy_primitives::U256::ZERO,
            vec![1u8; data].into(),
            gas,
            Fees { max_fee, tip: 1 },
        )
    }

    /// Size, gas and fee bounds are inclusive at their edges: a transaction of exactly
    /// `max_tx_bytes`, a gas limit of exactly the block gas limit and a fee cap of exactly the
    /// minimum base fee are valid; one byte, one gas or one wei beyond is refused.
    #[test]
    fn bounds_are_inclusive_at_their_edges() {
        let p = Params {
            max_tx_bytes: 1024,
            block_gas_limit: 1_000_000,
            ..Params::default()
        };
        let memo = SenderCache::default();
        let fee = 10_000_000_000;
        // Find the calldata length whose signed bytes are exactly the limit.
        let exact = (800..1024)
            .map(|n| tx(n, 100_000, fee))
            .find(|t| t.len() == 1024)
            .expect("some length hits 1024 bytes");
        decode(&exact, &p, &memo).expect("exactly max_tx_bytes is valid");
        let over = (800..1100)
            .map(|n| tx(n, 100_000, fee))
            .find(|t| t.len() == 1025)
            .expect("some length hits 1025 bytes");
        assert!(matches!(
            decode(&over, &p, &memo),
            Err(TxError::TooLarge { .. })
        ));
        decode(&tx(0, 1_000_000, fee), &p, &memo).expect("gas = block gas limit is valid");
        assert!(matches!(
            decode(&tx(0, 1_000_001, fee), &p, &memo),
            Err(TxError::GasLimit { .. })
        ));
        // A tip equal to the fee cap is valid; above it is not.
        let tipped = |tip| {
            devtx::sign(
                &key(),
                Kind::DynamicFee,
                p.chain_id,
                0,
                Some(Address::repeat_byte(1)),
                alloy_primitives::U256::ZERO,
                Bytes::new(),
                21_000,
                Fees { max_fee: fee, tip },
            )
        };
        decode(&tipped(fee), &p, &memo).expect("tip = fee cap is valid");
        assert!(matches!(
            decode(&tipped(fee + 1), &p, &memo),
            Err(TxError::TipAboveCap)
        ));
        let min = u128::from(p.min_base_fee);
        decode(&tx(0, 21_000, min), &p, &memo).expect("fee cap = minimum base fee is valid");
        assert!(matches!(
            decode(&tx(0, 21_000, min - 1), &p, &memo),
            Err(TxError::FeeTooLow { .. })
        ));
    }
}
