//! The transactions this node's mempool holds, per sender and nonce: the pending nonce for
//! `eth_getTransactionCount(…, "pending")`, pending transactions by hash, and the running
//! per-sender cost that admission checks balances against. Not consensus state.

use std::collections::BTreeMap;
use std::sync::Mutex;

use alloy_consensus::Transaction as _;
use alloy_primitives::{Address, B256, U256};

use crate::chain::tx::{SignedTx, max_cost};

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

    /// Every pending transaction, by sender and nonce (the built-in sequencer builds from
    /// these: CometBFT's `unconfirmed_txs` returns at most 100).
    pub fn all(&self) -> Vec<SignedTx> {
        let m = self.0.lock().expect("pending lock");
        m.by_sender
            .values()
            .flat_map(|s| s.values().map(|p| p.tx.clone()))
            .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::genesis::Params;
    use crate::devtx;

    fn tx(key: u8, nonce: u64) -> SignedTx {
        let k =
            alloy_signer_local::PrivateKeySigner::from_bytes(&B256::repeat_byte(key)).expect("key");
        let p = Params::default();
        let raw = devtx::transfer(
            &k,
            p.chain_id,
            nonce,
            Address::repeat_byte(1),
            U256::from(1),
        );
        crate::chain::tx::decode(&raw, &p, &crate::mempool::SenderCache::default()).expect("valid")
    }

    /// The pending nonce counts consecutive pending nonces from the committed one; removal,
    /// replacement and pruning keep the by-hash index in step.
    #[test]
    fn pending_nonces_follow_adds_removes_and_commits() {
        let p = PendingNonces::default();
        let (a0, a1, a2, a4) = (tx(1, 0), tx(1, 1), tx(1, 2), tx(1, 4));
        let from = a0.from;
        for t in [&a0, &a1, &a2, &a4] {
            p.add(t);
        }
        assert_eq!(
            p.next_nonce(&from, 0),
            3,
            "0, 1, 2 pending; 4 is after a gap"
        );
        assert_eq!(p.next_nonce(&from, 5), 5);
        assert_eq!(p.next_nonce(&tx(2, 0).from, 7), 7, "another sender");
        assert_eq!(p.get(&a1.hash).map(|t| t.hash), Some(a1.hash));
        assert_eq!(
            p.cost_between(&from, 0, 2),
            max_cost(&a0.envelope) + max_cost(&a1.envelope)
        );

        p.remove(from, 1);
        assert_eq!(p.next_nonce(&from, 0), 1);
        assert!(p.get(&a1.hash).is_none());

        // Block commits nonces 0..=2: pruning drops them (and their hashes), keeps 4.
        p.prune(|_| 3);
        assert!(p.get(&a0.hash).is_none());
        assert!(p.get(&a2.hash).is_none());
        assert_eq!(p.get(&a4.hash).map(|t| t.hash), Some(a4.hash));
        assert_eq!(p.next_nonce(&from, 3), 3);
        assert_eq!(p.next_nonce(&from, 4), 5);
        // Pruning everything forgets the sender.
        p.prune(|_| 10);
        assert!(p.get(&a4.hash).is_none());
        assert_eq!(p.next_nonce(&from, 4), 4);
    }
}
