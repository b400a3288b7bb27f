//! Committed state as the deterministic core sees it: the [`StateView`] trait that the store's
//! snapshot implements (the core never names the database), the [`StoreError`] a read of it
//! can fail with, and the in-memory ring of the last 256 block hashes that answers `BLOCKHASH`
//! on the consensus path.

use alloy_primitives::{Address, B256, Bytes, U256};
use parley_types::{AccountLeaf, LeafValue, StateKey, StateValue};

/// A failure of the store beneath the core: the database failed, or holds bytes that do not
/// decode. Fatal on consensus paths: the node stops rather than diverge.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database engine failed.
    #[error("database: {0}")]
    Db(String),
    /// Bytes in the database do not decode.
    #[error("database is corrupt: {0}")]
    Corrupt(String),
    /// The node cannot check block proofs as genesis pins them (no SRS, another circuit):
    /// fatal, never a verdict on the proof.
    #[error("proof verifier: {0}")]
    Verifier(String),
}

/// Committed state as the executor sees it. Implemented by the database snapshot
/// ([`crate::store::Reader`]) and by the consensus path's view, which answers `BLOCKHASH`
/// from memory.
pub trait StateView {
    /// A committed entry with its proof-tree index.
    fn entry(&self, key: &StateKey) -> Result<Option<StateValue>, StoreError>;
    /// The raw bytes of a committed non-EVM entry (chain meta, protocol state).
    fn app_entry(&self, key: &StateKey) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every committed storage slot of `address`, in slot order.
    fn storage_slots(&self, address: Address) -> Result<Vec<U256>, StoreError>;
    /// Every committed non-EVM entry whose key lies in `range`, in key order (registries and
    /// the unbonding queue are enumerated this way).
    fn app_entries(
        &self,
        range: std::ops::RangeInclusive<StateKey>,
    ) -> Result<Vec<(StateKey, Vec<u8>)>, StoreError>;
    /// Contract code by hash.
    fn code(&self, hash: &B256) -> Result<Option<Bytes>, StoreError>;
    /// Hash of L2 block `number` (zero if unknown). revm asks only for the last 256.
    fn block_hash(&self, number: u64) -> Result<B256, StoreError>;

    /// A committed account's fields (`None` if it does not exist).
    fn account_leaf(&self, address: Address) -> Result<Option<AccountLeaf>, StoreError> {
        match self.entry(&StateKey::Account(address))? {
            Some(StateValue {
                leaf: LeafValue::Account(a),
                ..
            }) => Ok(Some(a)),
            Some(_) => Err(StoreError::Corrupt(
                "account entry holds a storage value".into(),
            )),
            None => Ok(None),
        }
    }
}

/// The last 256 L2 block hashes, kept in memory by the node so that `BLOCKHASH` costs neither
/// a database read nor a decode.
#[derive(Debug, Clone, Default)]
pub struct BlockHashes {
    /// (number, hash), oldest first, numbers consecutive.
    ring: std::collections::VecDeque<(u64, B256)>,
}

impl BlockHashes {
    /// How many hashes `BLOCKHASH` can reach.
    pub const DEPTH: usize = 256;

    /// Records the hash of the block just committed.
    pub fn push(&mut self, number: u64, hash: B256) {
        if self
            .ring
            .back()
            .is_some_and(|(n, _)| n.checked_add(1) != Some(number))
        {
            // Not the successor (a fresh start or a gap): the ring restarts here.
            self.ring.clear();
        }
        if self.ring.len() == Self::DEPTH {
            self.ring.pop_front();
        }
        self.ring.push_back((number, hash));
    }

    /// The hash of block `number`, if it is among the last 256.
    pub fn get(&self, number: u64) -> Option<B256> {
        let (first, _) = *self.ring.front()?;
        let i = usize::try_from(number.checked_sub(first)?).ok()?;
        self.ring.get(i).map(|(_, h)| *h)
    }
}

/// A committed-state view whose `BLOCKHASH` comes from the node's in-memory ring.
#[derive(Debug)]
pub struct WithHashes<'a, V> {
    /// Everything but block hashes.
    pub view: &'a V,
    /// The last 256 block hashes.
    pub hashes: &'a BlockHashes,
}

impl<V: StateView> StateView for WithHashes<'_, V> {
    fn entry(&self, key: &StateKey) -> Result<Option<StateValue>, StoreError> {
        self.view.entry(key)
    }
    fn app_entry(&self, key: &StateKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.view.app_entry(key)
    }
    // Mutation testing: returning no slots (or slot 0) here is an equivalent mutant under
    // Prague rules. Execution enumerates committed storage only for an account revm reports
    // created or self-destructed; EIP-6780 destroys only accounts created in the same
    // transaction and EIP-7610 refuses creation at an address with storage, so the account
    // has no committed storage whenever this is called, and a deletion of an absent slot is
    // not a change. Kept exact for the day either rule changes.
    fn storage_slots(&self, address: Address) -> Result<Vec<U256>, StoreError> {
        self.view.storage_slots(address)
    }
    fn app_entries(
        &self,
        range: std::ops::RangeInclusive<StateKey>,
    ) -> Result<Vec<(StateKey, Vec<u8>)>, StoreError> {
        self.view.app_entries(range)
    }
    fn code(&self, hash: &B256) -> Result<Option<Bytes>, StoreError> {
        self.view.code(hash)
    }
    fn block_hash(&self, number: u64) -> Result<B256, StoreError> {
        Ok(self.hashes.get(number).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ring keeps exactly the last 256 consecutive hashes and restarts at a gap.
    #[test]
    fn the_ring_keeps_the_last_256_and_restarts_at_a_gap() {
        let mut r = BlockHashes::default();
        for n in 1..=300u64 {
            r.push(n, B256::with_last_byte(n as u8));
        }
        assert_eq!(r.get(300), Some(B256::with_last_byte(300u64 as u8)));
        assert_eq!(r.get(299), Some(B256::with_last_byte(299u64 as u8)));
        assert_eq!(r.get(45), Some(B256::with_last_byte(45)));
        assert_eq!(r.get(44), None);
        assert_eq!(r.get(301), None);
        // A gap (a restart from another height) forgets everything before it.
        r.push(400, B256::repeat_byte(4));
        assert_eq!(r.get(400), Some(B256::repeat_byte(4)));
        assert_eq!(r.get(300), None);
        r.push(401, B256::repeat_byte(5));
        assert_eq!(r.get(400), Some(B256::repeat_byte(4)));
    }
}

/// An in-memory view of committed protocol entries only (no EVM state), for unit tests of the
/// protocol's pure transitions.
#[cfg(test)]
#[derive(Default, Clone)]
pub(crate) struct AppOnly(pub(crate) std::collections::BTreeMap<StateKey, Vec<u8>>);

#[cfg(test)]
impl StateView for AppOnly {
    fn entry(&self, _: &StateKey) -> Result<Option<StateValue>, StoreError> {
        Ok(None)
    }
    fn app_entry(&self, key: &StateKey) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.0.get(key).cloned())
    }
    fn storage_slots(&self, _: Address) -> Result<Vec<U256>, StoreError> {
        Ok(Vec::new())
    }
    fn app_entries(
        &self,
        range: std::ops::RangeInclusive<StateKey>,
    ) -> Result<Vec<(StateKey, Vec<u8>)>, StoreError> {
        Ok(self.0.range(range).map(|(k, v)| (*k, v.clone())).collect())
    }
    fn code(&self, _: &B256) -> Result<Option<Bytes>, StoreError> {
        Ok(None)
    }
    fn block_hash(&self, _: u64) -> Result<B256, StoreError> {
        Ok(B256::ZERO)
    }
    fn account_leaf(&self, _: Address) -> Result<Option<AccountLeaf>, StoreError> {
        Ok(None)
    }
}
