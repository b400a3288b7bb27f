//! Admission of user transactions: stateless decoding and signature recovery (cached by tx
//! hash so a transaction is recovered once per node), and checks against committed state.
//!
//! Used by CheckTx, by `eth_sendRawTransaction` (for a clear error before broadcasting), and
//! by ProcessProposal/FinalizeBlock (stateless part only) on the transactions of an L2 block.

#![allow(clippy::disallowed_types)] // the caches below are never iterated: order cannot leak

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use alloy_consensus::transaction::SignerRecoverable;
use alloy_consensus::{Transaction as _, TxEnvelope};
use alloy_eips::Typed2718 as _;
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use revm::primitives::eip3860::MAX_INITCODE_SIZE;

use crate::exec::SignedTx;
use crate::genesis::Params;
use crate::storage::{Reader, StoreError};

/// How far ahead of the account nonce the mempool accepts a transaction.
pub const MAX_NONCE_GAP: u64 = 64;
/// Entries kept in the sender cache before it is cleared.
const SENDER_CACHE_CAP: usize = 500_000;

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
    /// Nonce too far ahead.
    #[error("nonce too high: next nonce is {want}, got {got} (max gap {MAX_NONCE_GAP})")]
    NonceTooHigh {
        /// The account's nonce.
        want: u64,
        /// The tx nonce.
        got: u64,
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

/// Checks that need no state. Returns the decoded tx with its recovered sender.
pub fn decode(raw: &[u8], params: &Params, senders: &SenderCache) -> Result<SignedTx, TxError> {
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
        crate::exec::SPEC,
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

/// Checks against committed state and this node's pending transactions: nonce window, and a
/// balance that covers this transaction and the sender's pending ones with lower nonces (so a
/// transaction that can never execute is not admitted, and recheck drops one that became
/// impossible).
pub fn check_state(
    tx: &SignedTx,
    reader: &Reader,
    pending: &PendingNonces,
) -> Result<Result<(), TxError>, StoreError> {
    let (nonce, balance) = reader
        .account(tx.from)?
        .map_or((0, U256::ZERO), |(a, _)| (a.nonce, a.balance));
    let got = tx.envelope.nonce();
    if got < nonce {
        return Ok(Err(TxError::NonceTooLow { want: nonce, got }));
    }
    if got > nonce.saturating_add(MAX_NONCE_GAP) {
        return Ok(Err(TxError::NonceTooHigh { want: nonce, got }));
    }
    let queued = pending.cost_between(&tx.from, nonce, got);
    let cost = max_cost(&tx.envelope).saturating_add(queued);
    if balance < cost {
        return Ok(Err(TxError::InsufficientFunds {
            balance,
            cost,
            pending: queued,
        }));
    }
    Ok(Ok(()))
}

/// Senders recovered so far, by tx hash (the hash is of the exact signed bytes).
#[derive(Debug, Default)]
pub struct SenderCache(Mutex<HashMap<B256, Address>>);

impl SenderCache {
    fn get(&self, hash: &B256) -> Option<Address> {
        self.0.lock().expect("sender cache lock").get(hash).copied()
    }

    fn insert(&self, hash: B256, from: Address) {
        let mut m = self.0.lock().expect("sender cache lock");
        if m.len() >= SENDER_CACHE_CAP {
            m.clear();
        }
        m.insert(hash, from);
    }
}

/// A transaction this node's mempool holds.
#[derive(Debug, Clone)]
pub struct PendingTx {
    /// Its maximum cost to the sender.
    pub cost: U256,
    /// The transaction.
    pub tx: SignedTx,
}

#[derive(Debug, Default)]
struct PendingInner {
    by_sender: BTreeMap<Address, BTreeMap<u64, PendingTx>>,
    by_hash: BTreeMap<B256, (Address, u64)>,
}

impl PendingInner {
    fn remove_nonce(&mut self, from: &Address, nonce: u64) {
        if let Some(s) = self.by_sender.get_mut(from) {
            if let Some(p) = s.remove(&nonce) {
                self.by_hash.remove(&p.tx.hash);
            }
            if s.is_empty() {
                self.by_sender.remove(from);
            }
        }
    }
}

/// Transactions this node's mempool has accepted, per sender and nonce. Serves
/// `eth_getTransactionCount(…, "pending")`, pending transactions by hash, and the
/// pending-total balance check. Pruned at every commit and by recheck.
#[derive(Debug, Default)]
pub struct PendingNonces(Mutex<PendingInner>);

impl PendingNonces {
    /// Records an accepted transaction (a replacement of the same nonce takes its place).
    pub fn add(&self, tx: &SignedTx) {
        let mut m = self.0.lock().expect("pending lock");
        let nonce = tx.envelope.nonce();
        m.remove_nonce(&tx.from, nonce);
        m.by_hash.insert(tx.hash, (tx.from, nonce));
        m.by_sender.entry(tx.from).or_default().insert(
            nonce,
            PendingTx {
                cost: max_cost(&tx.envelope),
                tx: tx.clone(),
            },
        );
    }

    /// Forgets a transaction dropped from the mempool.
    pub fn remove(&self, from: Address, nonce: u64) {
        self.0
            .lock()
            .expect("pending lock")
            .remove_nonce(&from, nonce);
    }

    /// Drops nonces below each sender's committed nonce.
    pub fn prune(&self, committed: impl Fn(&Address) -> u64) {
        let mut m = self.0.lock().expect("pending lock");
        let PendingInner { by_sender, by_hash } = &mut *m;
        by_sender.retain(|a, s| {
            let n = committed(a);
            s.retain(|x, p| {
                let keep = *x >= n;
                if !keep {
                    by_hash.remove(&p.tx.hash);
                }
                keep
            });
            !s.is_empty()
        });
    }

    /// The next nonce after the committed one and the consecutive pending ones.
    pub fn next_nonce(&self, from: &Address, committed: u64) -> u64 {
        let m = self.0.lock().expect("pending lock");
        let mut n = committed;
        if let Some(s) = m.by_sender.get(from) {
            while s.contains_key(&n) {
                n += 1;
            }
        }
        n
    }

    /// Total maximum cost of `from`'s pending transactions with nonces in `[lo, hi)`.
    pub fn cost_between(&self, from: &Address, lo: u64, hi: u64) -> U256 {
        if hi <= lo {
            return U256::ZERO;
        }
        let m = self.0.lock().expect("pending lock");
        m.by_sender.get(from).map_or(U256::ZERO, |s| {
            s.range(lo..hi)
                .fold(U256::ZERO, |acc, (_, p)| acc.saturating_add(p.cost))
        })
    }

    /// A pending transaction by hash.
    pub fn get(&self, hash: &B256) -> Option<SignedTx> {
        let m = self.0.lock().expect("pending lock");
        let (from, nonce) = m.by_hash.get(hash)?;
        m.by_sender.get(from)?.get(nonce).map(|p| p.tx.clone())
    }
}
