//! Reading the database: [`Reader`], a consistent snapshot of the last commit, and
//! [`StateAt`], the state as it was after a past block, read through the changesets and the
//! per-key history index. Both implement the core's [`StateView`].

use alloy_primitives::{Address, B256, Bytes, U256};
use parley_types::{BlockRecord, ChainMeta, StateDiff, StateKey, StateValue, TxRecord};
use redb::ReadableTable;

use super::{
    BLOCK_NUMBERS, BLOCKS, CHANGESETS, CODE, DIFFS, HISTORY, INFO, MESSAGES, MessageResult, PROOFS,
    Result, STATE, TXS, corrupt, history_floor,
};
use crate::chain::genesis::Params;
use crate::chain::view::{StateView, StoreError};

/// Why a state read at a past height failed.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The height is older than the retained history.
    #[error(
        "state at block {height} is pruned: this node keeps state from block {oldest} on (history_retention)"
    )]
    Pruned {
        /// Requested height.
        height: u64,
        /// Oldest readable height.
        oldest: u64,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<redb::StorageError> for HistoryError {
    fn from(e: redb::StorageError) -> Self {
        Self::Store(e.into())
    }
}

impl From<redb::TableError> for HistoryError {
    fn from(e: redb::TableError) -> Self {
        Self::Store(e.into())
    }
}

/// Decodes a changeset value: `0x00` absent, `0x01 ‖ bytes` present.
fn decode_before(bytes: &[u8]) -> Result<Option<Vec<u8>>> {
    match bytes.split_first() {
        Some((0, [])) => Ok(None),
        Some((1, v)) => Ok(Some(v.to_vec())),
        _ => Err(corrupt("malformed changeset value")),
    }
}

/// A read snapshot.
pub struct Reader {
    pub(super) tx: redb::ReadTransaction,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reader")
    }
}

impl Reader {
    fn state_raw(&self, key: &StateKey) -> Result<Option<Vec<u8>>> {
        let t = self.tx.open_table(STATE)?;
        Ok(t.get(key.encode().as_slice())?.map(|g| g.value().to_vec()))
    }

    /// An account or storage entry.
    pub fn entry(&self, key: &StateKey) -> Result<Option<StateValue>> {
        self.state_raw(key)?
            .map(|b| StateValue::decode(&b, matches!(key, StateKey::Account(_))).map_err(corrupt))
            .transpose()
    }

    /// A storage slot's value (zero if absent).
    pub fn storage(&self, address: Address, slot: U256) -> Result<U256> {
        Ok(match self.entry(&StateKey::Storage(address, slot))? {
            Some(StateValue {
                leaf: parley_types::LeafValue::Storage(v),
                ..
            }) => v,
            Some(_) => return Err(corrupt("storage entry holds an account")),
            None => U256::ZERO,
        })
    }

    /// An account's fields, if it exists.
    pub fn account(&self, address: Address) -> Result<Option<(parley_types::AccountLeaf, u64)>> {
        match self.entry(&StateKey::Account(address))? {
            Some(StateValue {
                leaf: parley_types::LeafValue::Account(a),
                proof_index,
            }) => Ok(Some((a, proof_index))),
            Some(_) => Err(corrupt("account entry holds a storage value")),
            None => Ok(None),
        }
    }

    /// Contract code by hash.
    pub fn code(&self, hash: &B256) -> Result<Option<Bytes>> {
        let t = self.tx.open_table(CODE)?;
        Ok(t.get(hash.as_slice())?
            .map(|g| Bytes::copy_from_slice(g.value())))
    }

    /// The raw bytes of a non-EVM entry.
    pub fn app_entry(&self, key: &StateKey) -> Result<Option<Vec<u8>>> {
        self.state_raw(key)
    }

    /// Chain meta; default before genesis.
    pub fn meta(&self) -> Result<ChainMeta> {
        self.state_raw(&StateKey::Meta)?
            .map(|b| ChainMeta::decode(&b).map_err(corrupt))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    /// Last committed height and app hash (0 and empty before InitChain).
    pub fn last_commit(&self) -> Result<(u64, B256)> {
        let t = self.tx.open_table(INFO)?;
        let height = match t.get("height")? {
            Some(g) => u64::from_be_bytes(g.value().try_into().map_err(corrupt)?),
            None => 0,
        };
        let hash = match t.get("app_hash")? {
            Some(g) => B256::try_from(g.value()).map_err(corrupt)?,
            None => B256::ZERO,
        };
        Ok((height, hash))
    }

    /// Genesis parameters, once InitChain has run.
    pub fn params(&self) -> Result<Option<Params>> {
        let t = self.tx.open_table(INFO)?;
        t.get("params")?
            .map(|g| serde_json::from_slice(g.value()).map_err(corrupt))
            .transpose()
    }

    /// The CometBFT chain id recorded at InitChain (None before it).
    pub fn cometbft_chain_id(&self) -> Result<Option<String>> {
        let t = self.tx.open_table(INFO)?;
        t.get("cometbft_chain_id")?
            .map(|g| String::from_utf8(g.value().to_vec()).map_err(corrupt))
            .transpose()
    }

    /// An executed L2 block.
    pub fn block(&self, number: u64) -> Result<Option<BlockRecord>> {
        let t = self.tx.open_table(BLOCKS)?;
        t.get(number)?
            .map(|g| BlockRecord::decode(g.value()).map_err(corrupt))
            .transpose()
    }

    /// Number of the L2 block with this hash.
    pub fn block_number(&self, hash: &B256) -> Result<Option<u64>> {
        let t = self.tx.open_table(BLOCK_NUMBERS)?;
        Ok(t.get(hash.as_slice())?.map(|g| g.value()))
    }

    /// An included transaction and its receipt.
    pub fn tx(&self, hash: &B256) -> Result<Option<TxRecord>> {
        let t = self.tx.open_table(TXS)?;
        t.get(hash.as_slice())?
            .map(|g| TxRecord::decode(g.value()).map_err(corrupt))
            .transpose()
    }

    /// How the protocol message with this hash ended, once a committed block carried it.
    pub fn message(&self, hash: &B256) -> Result<Option<MessageResult>> {
        let t = self.tx.open_table(MESSAGES)?;
        t.get(hash.as_slice())?
            .map(|g| MessageResult::decode(g.value()))
            .transpose()
    }

    /// The canonical diff bytes of a block.
    pub fn diff(&self, number: u64) -> Result<Option<StateDiff>> {
        let t = self.tx.open_table(DIFFS)?;
        t.get(number)?
            .map(|g| StateDiff::decode(g.value()).map_err(corrupt))
            .transpose()
    }

    /// The kept proof bytes of `prover`'s recorded transition for `slot` (chains that
    /// aggregate epochs keep them until the slot's epoch settles).
    pub fn proof(&self, slot: u64, chunk: u32, prover: Address) -> Result<Option<Vec<u8>>> {
        let t = self.tx.open_table(PROOFS)?;
        Ok(t.get((slot, super::proof_key(chunk, prover).as_slice()))?
            .map(|g| g.value().to_vec()))
    }

    /// Every committed storage slot of `address`, in slot order (a key-range scan).
    pub fn storage_slots(&self, address: Address) -> Result<Vec<U256>> {
        let t = self.tx.open_table(STATE)?;
        let lo = StateKey::Storage(address, U256::ZERO).encode();
        let hi = StateKey::Storage(address, U256::MAX).encode();
        let mut out = Vec::new();
        for item in t.range(lo.as_slice()..=hi.as_slice())? {
            let (k, _) = item?;
            match StateKey::decode(k.value()).map_err(corrupt)? {
                StateKey::Storage(_, slot) => out.push(slot),
                other => return Err(corrupt(format!("{other:?} inside a storage range"))),
            }
        }
        Ok(out)
    }

    /// Every committed non-EVM entry in `range`, in key order (a key-range scan).
    pub fn app_entries(
        &self,
        range: std::ops::RangeInclusive<StateKey>,
    ) -> Result<Vec<(StateKey, Vec<u8>)>> {
        let t = self.tx.open_table(STATE)?;
        let lo = range.start().encode();
        let hi = range.end().encode();
        let mut out = Vec::new();
        for item in t.range(lo.as_slice()..=hi.as_slice())? {
            let (k, v) = item?;
            let key = StateKey::decode(k.value()).map_err(corrupt)?;
            if key.is_evm() || key == StateKey::Meta {
                return Err(corrupt(format!("{key:?} inside a protocol range")));
            }
            out.push((key, v.value().to_vec()));
        }
        Ok(out)
    }

    /// The raw value of a state entry as it was after block `height` (the state *at* that
    /// block): the value before the first later change, else the current one.
    /// Errors name the retained range when `height` is older than the kept history.
    pub fn entry_raw_at(
        &self,
        key: &StateKey,
        height: u64,
    ) -> Result<Option<Vec<u8>>, HistoryError> {
        let (last, _) = self.last_commit()?;
        if height >= last {
            return Ok(self.state_raw(key)?);
        }
        let floor = history_floor(&self.tx.open_table(INFO)?)?;
        // The state after `height` needs every change from `height + 1` on.
        if height.saturating_add(1) < floor {
            return Err(HistoryError::Pruned {
                height,
                oldest: floor.saturating_sub(1),
            });
        }
        let k = key.encode();
        let history = self.tx.open_table(HISTORY)?;
        let next = history
            .range((k.as_slice(), height + 1)..=(k.as_slice(), u64::MAX))?
            .next()
            .transpose()?
            .map(|(g, _)| g.value().1);
        match next {
            None => Ok(self.state_raw(key)?),
            Some(h) => {
                let changesets = self.tx.open_table(CHANGESETS)?;
                let v = changesets.get((h, k.as_slice()))?.ok_or_else(|| {
                    corrupt(format!("history names height {h} without a changeset"))
                })?;
                Ok(decode_before(v.value())?)
            }
        }
    }

    /// A view of the state as it was after block `height`, for reads and calls at a past
    /// block; refused when that history is pruned.
    pub fn state_at(&self, height: u64) -> Result<StateAt<'_>, HistoryError> {
        let (last, _) = self.last_commit()?;
        if height >= last {
            // The latest state: plain reads, no history lookups.
            return Ok(StateAt {
                reader: self,
                height: None,
            });
        }
        let oldest = self.oldest_state()?;
        if height < oldest {
            return Err(HistoryError::Pruned { height, oldest });
        }
        Ok(StateAt {
            reader: self,
            height: Some(height),
        })
    }

    /// The oldest height whose state can still be read (0 on an archive node).
    pub fn oldest_state(&self) -> Result<u64> {
        Ok(history_floor(&self.tx.open_table(INFO)?)?.saturating_sub(1))
    }

    /// Every state entry as (path, keccak256(value)), to rebuild the app-hash tree.
    pub fn tree_leaves(&self) -> Result<Vec<(B256, B256)>> {
        let t = self.tx.open_table(STATE)?;
        let mut out =
            Vec::with_capacity(usize::try_from(redb::ReadableTableMetadata::len(&t)?).unwrap_or(0));
        for item in t.iter()? {
            let (k, v) = item?;
            out.push((
                alloy_primitives::keccak256(k.value()),
                alloy_primitives::keccak256(v.value()),
            ));
        }
        Ok(out)
    }
}

impl StateView for Reader {
    fn entry(&self, key: &StateKey) -> Result<Option<StateValue>> {
        Reader::entry(self, key)
    }
    fn app_entry(&self, key: &StateKey) -> Result<Option<Vec<u8>>> {
        Reader::app_entry(self, key)
    }
    fn storage_slots(&self, address: Address) -> Result<Vec<U256>> {
        Reader::storage_slots(self, address)
    }
    fn app_entries(
        &self,
        range: std::ops::RangeInclusive<StateKey>,
    ) -> Result<Vec<(StateKey, Vec<u8>)>> {
        Reader::app_entries(self, range)
    }
    fn code(&self, hash: &B256) -> Result<Option<Bytes>> {
        Reader::code(self, hash)
    }
    /// From the block table (off the consensus path, which uses the in-memory ring).
    fn block_hash(&self, number: u64) -> Result<B256> {
        Ok(self.block(number)?.map(|b| b.hash).unwrap_or_default())
    }
}

/// The state as it was after one block, read through the changesets and history index.
#[derive(Debug)]
pub struct StateAt<'a> {
    reader: &'a Reader,
    /// `None`: the latest state of this snapshot.
    height: Option<u64>,
}

impl StateAt<'_> {
    fn raw(&self, key: &StateKey) -> Result<Option<Vec<u8>>> {
        let Some(height) = self.height else {
            return self.reader.state_raw(key);
        };
        self.reader.entry_raw_at(key, height).map_err(|e| match e {
            HistoryError::Store(e) => e,
            // `state_at` checked the floor on this same snapshot.
            e @ HistoryError::Pruned { .. } => corrupt(e),
        })
    }
}

impl StateView for StateAt<'_> {
    fn entry(&self, key: &StateKey) -> Result<Option<StateValue>> {
        self.raw(key)?
            .map(|b| StateValue::decode(&b, matches!(key, StateKey::Account(_))).map_err(corrupt))
            .transpose()
    }
    fn app_entry(&self, key: &StateKey) -> Result<Option<Vec<u8>>> {
        self.raw(key)
    }
    /// Only block execution enumerates storage (to delete a destroyed account's slots), and
    /// nothing executes a block on past state.
    fn storage_slots(&self, _address: Address) -> Result<Vec<U256>> {
        Err(StoreError::Db(
            "storage enumeration at a past block is not supported".into(),
        ))
    }
    /// Enumerations run on the latest state (execution, registries' RPC), never at a past block.
    fn app_entries(
        &self,
        _range: std::ops::RangeInclusive<StateKey>,
    ) -> Result<Vec<(StateKey, Vec<u8>)>> {
        Err(StoreError::Db(
            "protocol-entry enumeration at a past block is not supported".into(),
        ))
    }
    fn code(&self, hash: &B256) -> Result<Option<Bytes>> {
        // Code is stored by hash and never deleted.
        self.reader.code(hash)
    }
    fn block_hash(&self, number: u64) -> Result<B256> {
        Ok(self
            .reader
            .block(number)?
            .map(|b| b.hash)
            .unwrap_or_default())
    }
}
