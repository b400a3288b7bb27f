//! Admission of user transactions against committed state and this node's pending ones: the
//! nonce window and a balance that covers the pending total. The stateless rules come first
//! ([`crate::chain::tx::decode`], with this node's [`SenderCache`]).
//!
//! Used by CheckTx (and recheck after every commit) and by `eth_sendRawTransaction`, for a
//! clear error before broadcasting.

#![allow(clippy::disallowed_types)] // the cache below is never iterated: order cannot leak

use std::collections::HashMap;
use std::sync::Mutex;

use alloy_consensus::Transaction as _;
use alloy_primitives::{Address, B256, U256};

use crate::chain::tx::{SenderMemo, SignedTx, TxError, max_cost};
use crate::chain::view::{StateView, StoreError};
use crate::mempool::PendingNonces;

/// How far ahead of the account nonce the mempool accepts a transaction.
pub const MAX_NONCE_GAP: u64 = 64;
/// Entries kept in the sender cache before it is cleared.
const SENDER_CACHE_CAP: usize = 500_000;

/// Checks against committed state and this node's pending transactions: nonce window, and a
/// balance that covers this transaction and the sender's pending ones with lower nonces (so a
/// transaction that can never execute is not admitted, and recheck drops one that became
/// impossible).
pub fn check_state(
    tx: &SignedTx,
    view: &impl StateView,
    pending: &PendingNonces,
) -> Result<Result<(), TxError>, StoreError> {
    let (nonce, balance) = view
        .account_leaf(tx.from)?
        .map_or((0, U256::ZERO), |a| (a.nonce, a.balance));
    let got = tx.envelope.nonce();
    if got < nonce {
        return Ok(Err(TxError::NonceTooLow { want: nonce, got }));
    }
    if got > nonce.saturating_add(MAX_NONCE_GAP) {
        return Ok(Err(TxError::NonceTooHigh {
            want: nonce,
            got,
            max_gap: MAX_NONCE_GAP,
        }));
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

impl SenderMemo for SenderCache {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The cache answers what was inserted (so a signature is recovered once per node) and
    /// holds many entries until its cap.
    #[test]
    fn the_sender_cache_remembers() {
        let c = SenderCache::default();
        for i in 0..100u8 {
            c.insert(B256::repeat_byte(i), Address::repeat_byte(i));
        }
        for i in 0..100u8 {
            assert_eq!(c.get(&B256::repeat_byte(i)), Some(Address::repeat_byte(i)));
        }
        assert_eq!(c.get(&B256::repeat_byte(200)), None);
    }
}
