//! The genesis `app_state`: chain id, prefunded accounts and parameters, validated at
//! InitChain. A bad genesis is refused with a message naming the field.

use std::collections::BTreeMap;

use alloy_primitives::{Address, Bytes, U256};
use serde::{Deserialize, Serialize};

/// Chain parameters fixed at genesis. Every validator reads the same genesis, so these are
/// consensus data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// EIP-155 chain id of the L2.
    pub chain_id: u64,
    /// Base fee per gas (wei) of the first L2 block.
    pub initial_base_fee: u64,
    /// Floor of the base fee (wei): it never adjusts below this.
    pub min_base_fee: u64,
    /// Gas limit of one L2 block; the EIP-1559 target is half of it.
    pub block_gas_limit: u64,
    /// Largest accepted signed transaction, in bytes.
    pub max_tx_bytes: u64,
    /// Most transactions in one L2 block.
    pub max_block_txs: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            chain_id: 424_242,
            initial_base_fee: 1_000_000_000,
            min_base_fee: 1_000_000,
            block_gas_limit: 200_000_000,
            max_tx_bytes: 128 * 1024,
            max_block_txs: 20_000,
        }
    }
}

/// A prefunded account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisAccount {
    /// Its address.
    pub address: Address,
    /// Initial balance (wei).
    pub balance: U256,
    /// Initial nonce.
    #[serde(default)]
    pub nonce: u64,
    /// Contract code, if any.
    #[serde(default)]
    pub code: Bytes,
    /// Initial storage of a contract.
    #[serde(default)]
    pub storage: BTreeMap<U256, U256>,
}

/// The whole `app_state` object of the CometBFT genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppGenesis {
    /// Chain parameters.
    pub params: Params,
    /// Prefunded accounts.
    #[serde(default)]
    pub accounts: Vec<GenesisAccount>,
}

/// A genesis that cannot start a chain.
#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    /// Not JSON of the expected shape.
    #[error("app_state: {0}")]
    Json(#[from] serde_json::Error),
    /// A field with a value that cannot work.
    #[error("app_state.{field}: {reason}")]
    Field {
        /// The offending field, as a path.
        field: String,
        /// Why it is refused.
        reason: String,
    },
}

fn bad(field: impl Into<String>, reason: impl Into<String>) -> GenesisError {
    GenesisError::Field {
        field: field.into(),
        reason: reason.into(),
    }
}

impl AppGenesis {
    /// A genesis with `params` and each of `addresses` holding `balance` wei (no code).
    pub fn funded(
        params: Params,
        addresses: impl IntoIterator<Item = Address>,
        balance: U256,
    ) -> Self {
        let accounts = addresses
            .into_iter()
            .map(|address| GenesisAccount {
                address,
                balance,
                nonce: 0,
                code: Bytes::new(),
                storage: BTreeMap::new(),
            })
            .collect();
        Self { params, accounts }
    }

    /// This genesis plus the [`crate::predeploys`] (a Multicall3-compatible aggregator and the
    /// deterministic CREATE2 deployer at their canonical addresses), appended after the
    /// accounts already listed. A predeploy whose address the genesis already lists is left
    /// out, so an explicit account wins and calling this twice adds nothing.
    pub fn with_predeploys(mut self) -> Self {
        for a in crate::predeploys::genesis_accounts() {
            if !self.accounts.iter().any(|b| b.address == a.address) {
                self.accounts.push(a);
            }
        }
        self
    }

    /// Parses and validates `app_state` bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Self, GenesisError> {
        let g: Self = serde_json::from_slice(bytes)?;
        g.validate()?;
        Ok(g)
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), GenesisError> {
        let p = &self.params;
        if p.chain_id == 0 {
            return Err(bad("params.chain_id", "must be non-zero"));
        }
        if p.min_base_fee == 0 {
            return Err(bad("params.min_base_fee", "must be at least 1 wei"));
        }
        if p.initial_base_fee < p.min_base_fee {
            return Err(bad(
                "params.initial_base_fee",
                "must be >= params.min_base_fee",
            ));
        }
        if p.block_gas_limit < 21_000 {
            return Err(bad(
                "params.block_gas_limit",
                "must hold at least one transfer (21000)",
            ));
        }
        if !(1024..=4 * 1024 * 1024).contains(&p.max_tx_bytes) {
            return Err(bad(
                "params.max_tx_bytes",
                "must be between 1 KiB and 4 MiB",
            ));
        }
        if p.max_block_txs == 0 {
            return Err(bad("params.max_block_txs", "must be non-zero"));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, a) in self.accounts.iter().enumerate() {
            if !seen.insert(a.address) {
                return Err(bad(
                    format!("accounts[{i}].address"),
                    format!("{} listed twice", a.address),
                ));
            }
            if a.code.is_empty() && !a.storage.is_empty() {
                return Err(bad(
                    format!("accounts[{i}].storage"),
                    "storage without code",
                ));
            }
        }
        let total = self
            .accounts
            .iter()
            .try_fold(U256::ZERO, |acc, a| acc.checked_add(a.balance));
        if total.is_none() {
            return Err(bad("accounts", "total balance overflows 256 bits"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn genesis() -> AppGenesis {
        AppGenesis {
            params: Params::default(),
            accounts: vec![GenesisAccount {
                address: Address::repeat_byte(1),
                balance: U256::from(5),
                nonce: 0,
                code: Bytes::new(),
                storage: BTreeMap::new(),
            }],
        }
    }

    #[test]
    fn roundtrip_and_errors_name_the_field() {
        let g = genesis();
        let json = serde_json::to_vec(&g).expect("serializes");
        assert_eq!(AppGenesis::from_json(&json).expect("valid"), g);

        let mut bad_chain = g.clone();
        bad_chain.params.chain_id = 0;
        let err = bad_chain
            .validate()
            .expect_err("chain id 0 is refused")
            .to_string();
        assert!(err.contains("params.chain_id"), "{err}");

        let mut dup = g.clone();
        dup.accounts.push(dup.accounts[0].clone());
        let err = dup.validate().expect_err("duplicate refused").to_string();
        assert!(err.contains("accounts[1].address"), "{err}");

        let err = AppGenesis::from_json(br#"{"params":{"chain_id":1}}"#)
            .expect_err("missing fields")
            .to_string();
        assert!(err.starts_with("app_state:"), "{err}");
        let err = AppGenesis::from_json(br#"{"params":{},"acounts":[]}"#)
            .expect_err("typo")
            .to_string();
        assert!(
            err.contains("acounts") || err.contains("missing field"),
            "{err}"
        );
    }
}
