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
