//! Ethereum JSON-RPC (jsonrpsee) over committed state, for unmodified clients (cast, viem,
//! alloy). Writes go through CometBFT's mempool (`broadcast_tx_sync`).
//!
//! Block tags: `latest` and `pending` read the last committed state (`pending` differs only
//! for `eth_getTransactionCount`, which adds this node's pending mempool nonces); `safe` is
//! the newest proven block on a chain that proves, and `finalized` the newest block whose
//! epoch the L1 Rollup finalized on a chain with a bridge (as the validators' L1 votes
//! recorded it), both `latest` otherwise. State reads
//! and calls take any block number or hash within the node's retained history
//! (`history_retention`; archive by default), read through the changesets.

use std::net::SocketAddr;

use alloy_consensus::transaction::Recovered;
use alloy_consensus::{Eip658Value, Receipt, ReceiptEnvelope, ReceiptWithBloom, TxEnvelope};
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::{Address, B256, Bytes, TxKind, U64, U256};
use alloy_rpc_types_eth::state::StateOverride;
use alloy_rpc_types_eth::{
    Block, BlockId, BlockNumberOrTag, BlockTransactions, FeeHistory, Filter, FilterBlockOption,
    Header, Log, Transaction, TransactionReceipt, TransactionRequest,
};
use jsonrpsee::server::{Methods, RpcModule, ServerHandle};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use revm::context::TxEnv;
use revm::context_interface::result::{ExecutionResult, Output};
use revm::{Context, ExecuteEvm, MainBuilder, MainContext};
use tendermint_rpc::Client as _;

use crate::app::App;
use crate::chain::evm;
use crate::chain::genesis::Params as ChainParams;
use crate::chain::overlay::Overlay;
use crate::chain::view::{StateView, StoreError};
use crate::node::config::RpcLimits;
use crate::node::metrics as m;
use crate::store::{HistoryError, Reader, StateAt};
use parley_types::{AccountLeaf, BlockRecord, TxRecord};

/// Suggested priority fee (wei): the chain has no congestion market yet.
pub const SUGGESTED_TIP: u128 = 10_000_000;
/// Timeout of calls to CometBFT.
const COMETBFT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

mod parley;
mod pubsub;
mod transport;

struct Ctx {
    app: App,
    cometbft: tendermint_rpc::HttpClient,
    filters: std::sync::Arc<pubsub::Filters>,
    limits: RpcLimits,
}

type RpcResult<T> = Result<T, ErrorObjectOwned>;

fn err(code: i32, msg: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, msg.into(), None::<()>)
}

fn internal(e: StoreError) -> ErrorObjectOwned {
    tracing::error!(error = %e, "storage error serving JSON-RPC");
    err(-32603, format!("internal error: {e}"))
}

fn invalid(msg: impl Into<String>) -> ErrorObjectOwned {
    err(-32602, msg)
}

/// Positional parameters as Ethereum clients send them: trailing optional ones may be left
/// out (viem and ethers send `eth_estimateGas` and `eth_call` without a block), and read as
/// `null`, so they land in `Option` fields. At most `arity` entries.
fn args<T: serde::de::DeserializeOwned>(p: &Params<'_>, arity: usize) -> RpcResult<T> {
    let mut v: Vec<serde_json::Value> = match p.as_str() {
        None => Vec::new(),
        Some(_) => p.parse()?,
    };
    if v.len() > arity {
        return Err(invalid(format!(
            "expected at most {arity} parameters, got {}",
            v.len()
        )));
    }
    v.resize(arity, serde_json::Value::Null);
    serde_json::from_value(serde_json::Value::Array(v)).map_err(|e| invalid(e.to_string()))
}

/// Why this node's CometBFT did not take a transaction ([`broadcast_tx`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BroadcastError {
    /// CheckTx refused it: its code and log.
    #[error("{log}")]
    Refused {
        /// The CheckTx code.
        code: u32,
        /// Why.
        log: String,
    },
    /// The same bytes are already in the mempool cache.
    #[error("already known")]
    AlreadyKnown,
    /// CometBFT did not answer in time, or the call failed.
    #[error("{0}")]
    Failed(String),
}

/// Hands `raw` to a CometBFT mempool (`broadcast_tx_sync`), within a timeout. Shared by
/// JSON-RPC and the ProverService.
pub async fn broadcast_tx(
    cometbft: &tendermint_rpc::HttpClient,
    raw: &[u8],
) -> Result<(), BroadcastError> {
    let res = tokio::time::timeout(COMETBFT_TIMEOUT, cometbft.broadcast_tx_sync(raw.to_vec()))
        .await
        .map_err(|_| BroadcastError::Failed("timed out submitting to CometBFT".into()))?
        .map_err(|e| {
            let s = e.to_string();
            if s.contains("already exists in cache") {
                BroadcastError::AlreadyKnown
            } else {
                BroadcastError::Failed(format!("CometBFT: {s}"))
            }
        })?;
    if res.code.is_err() {
        return Err(BroadcastError::Refused {
            code: res.code.value(),
            log: res.log,
        });
    }
    Ok(())
}

/// A client of the CometBFT RPC at `url` (v0.38 compatibility mode).
pub fn cometbft_client(url: &str) -> eyre::Result<tendermint_rpc::HttpClient> {
    let parsed: tendermint_rpc::Url = url
        .parse()
        .map_err(|e| eyre::eyre!("cometbft_rpc {url:?}: {e}"))?;
    tendermint_rpc::HttpClient::builder(
        parsed
            .try_into()
            .map_err(|e| eyre::eyre!("cometbft_rpc {url:?}: {e}"))?,
    )
    .compat_mode(tendermint_rpc::client::CompatMode::V0_38)
    .build()
    .map_err(|e| eyre::eyre!("cometbft_rpc {url:?}: {e}"))
}

impl Ctx {
    /// Hands `raw` to this node's CometBFT mempool (`broadcast_tx_sync`): its CheckTx refusal,
    /// a duplicate or a timeout become JSON-RPC errors.
    async fn broadcast(&self, raw: &[u8]) -> RpcResult<()> {
        broadcast_tx(&self.cometbft, raw)
            .await
            .map_err(|e| err(-32000, e.to_string()))
    }

    fn reader(&self) -> RpcResult<Reader> {
        self.app.store().reader().map_err(internal)
    }

    fn params(&self) -> RpcResult<ChainParams> {
        self.app
            .params()
            .ok_or_else(|| err(-32000, "chain not initialised yet"))
    }

    /// On a chain with a bridge, the newest block final on L1: the last slot of the last
    /// epoch the Rollup finalized, as the validators' L1 votes recorded it in state (0
    /// before any). `None` on a chain without a bridge.
    fn l1_finalized(&self, reader: &Reader, latest: u64) -> RpcResult<Option<u64>> {
        let Some(params) = self.app.params() else {
            return Ok(None);
        };
        let (Some(_), Some(a)) = (
            params.protocol.bridge,
            params.protocol.proving.and_then(|p| p.aggregation),
        ) else {
            return Ok(None);
        };
        let k = crate::chain::l1queue::state(&mut crate::chain::overlay::Overlay::new(reader))
            .map_err(internal)?
            .l1_finalized;
        Ok(Some(match k.checked_sub(1) {
            Some(e) => crate::chain::aggregation::last_slot(&a, e).min(latest),
            None => 0,
        }))
    }

    /// The latest block number.
    fn latest(&self) -> RpcResult<u64> {
        Ok(self.reader()?.meta().map_err(internal)?.last_block_number)
    }

    /// `eth_getLogs`: the logs matching `filter`, within the range limit.
    fn get_logs(&self, filter: &Filter) -> RpcResult<Vec<Log>> {
        let r = self.reader()?;
        let (from, to) = match filter.block_option {
            FilterBlockOption::AtBlockHash(h) => {
                let n = r
                    .block_number(&h)
                    .map_err(internal)?
                    .ok_or_else(|| err(-32001, "block not found"))?;
                (n, n)
            }
            FilterBlockOption::Range {
                from_block,
                to_block,
            } => {
                let latest = BlockNumberOrTag::Latest;
                (
                    self.number(&r, from_block.unwrap_or(latest))?,
                    self.number(&r, to_block.unwrap_or(latest))?,
                )
            }
        };
        if to < from {
            return Err(invalid(format!("fromBlock {from} is after toBlock {to}")));
        }
        let max = self.limits.max_log_blocks;
        if to - from >= max {
            return Err(err(
                -32005,
                format!(
                    "block range too large: {} blocks, at most {max} (rpc_max_log_blocks)",
                    to - from + 1
                ),
            ));
        }
        self.logs_between(&r, filter, from, to)
    }

    /// Logs of blocks `from..=to` matching `filter`, at most `rpc_max_logs` of them.
    fn logs_between(&self, r: &Reader, filter: &Filter, from: u64, to: u64) -> RpcResult<Vec<Log>> {
        let mut out = Vec::new();
        for n in from..=to {
            let Some(b) = r.block(n).map_err(internal)? else {
                break;
            };
            out.extend(block_logs(r, &b, filter)?);
            if out.len() as u64 > self.limits.max_logs {
                return Err(err(
                    -32005,
                    format!(
                        "query returns more than {} logs (rpc_max_logs): narrow the block range or the filter",
                        self.limits.max_logs
                    ),
                ));
            }
        }
        Ok(out)
    }

    /// Resolves a tag or number to a block number.
    fn number(&self, reader: &Reader, tag: BlockNumberOrTag) -> RpcResult<u64> {
        let latest = reader.meta().map_err(internal)?.last_block_number;
        Ok(match tag {
            BlockNumberOrTag::Number(n) => n,
            BlockNumberOrTag::Earliest => 0,
            // Proven on the app-chain (DESIGN §3.11); every block is on a chain that does not
            // prove.
            BlockNumberOrTag::Safe => crate::chain::proving::proven_block(reader, latest)
                .map_err(internal)?
                .unwrap_or(latest),
            // Final on L1 (the bridge's Rollup finalized its epoch); every block on a chain
            // without a bridge.
            BlockNumberOrTag::Finalized => self.l1_finalized(reader, latest)?.unwrap_or(latest),
            _ => latest,
        })
    }

    /// The state at a block tag, number or hash (`None`: latest). Past blocks are read
    /// through the state history; a block newer than the latest is not found, one older than
    /// the retained history is refused with the retained range.
    fn state_at<'r>(&self, reader: &'r Reader, id: Option<BlockId>) -> RpcResult<StateAt<'r>> {
        let latest = reader.meta().map_err(internal)?.last_block_number;
        let n = match id {
            None => latest,
            Some(BlockId::Number(tag)) => self.number(reader, tag)?,
            Some(BlockId::Hash(h)) => reader
                .block_number(&h.block_hash)
                .map_err(internal)?
                .ok_or_else(|| err(-32001, format!("block {} not found", h.block_hash)))?,
        };
        if n > latest {
            return Err(err(
                -32001,
                format!("block {n} not found: latest is {latest}"),
            ));
        }
        reader.state_at(n).map_err(|e| match e {
            HistoryError::Store(e) => internal(e),
            e @ HistoryError::Pruned { .. } => err(-32000, e.to_string()),
        })
    }
}

fn rpc_log(t: &TxRecord, j: usize, log: &alloy_primitives::Log) -> Log {
    Log {
        inner: log.clone(),
        block_hash: Some(t.block_hash),
        block_number: Some(t.block_number),
        block_timestamp: Some(t.block_timestamp),
        transaction_hash: Some(t.hash),
        transaction_index: Some(u64::from(t.index)),
        log_index: Some(t.first_log_index + j as u64),
        removed: false,
    }
}

fn rpc_tx(t: &TxRecord) -> RpcResult<Transaction> {
    let envelope = TxEnvelope::decode_2718_exact(&t.raw)
        .map_err(|e| err(-32603, format!("stored tx: {e}")))?;
    Ok(Transaction {
        inner: Recovered::new_unchecked(envelope, t.from),
        block_hash: Some(t.block_hash),
        block_number: Some(t.block_number),
        transaction_index: Some(u64::from(t.index)),
        effective_gas_price: Some(t.receipt.effective_gas_price),
        block_timestamp: Some(t.block_timestamp),
    })
}

fn rpc_receipt(t: &TxRecord) -> RpcResult<TransactionReceipt> {
    let tx = rpc_tx(t)?;
    let rec = &t.receipt;
    let logs: Vec<Log> = rec
        .logs
        .iter()
        .enumerate()
        .map(|(j, l)| rpc_log(t, j, l))
        .collect();
    let receipt = ReceiptWithBloom {
        receipt: Receipt {
            status: Eip658Value::Eip658(rec.success),
            cumulative_gas_used: rec.cumulative_gas_used,
            logs,
        },
        logs_bloom: rec.logs_bloom,
    };
    let inner = match tx.inner.inner() {
        TxEnvelope::Legacy(_) => ReceiptEnvelope::Legacy(receipt),
        TxEnvelope::Eip2930(_) => ReceiptEnvelope::Eip2930(receipt),
        _ => ReceiptEnvelope::Eip1559(receipt),
    };
    Ok(TransactionReceipt {
        inner,
        transaction_hash: t.hash,
        transaction_index: Some(u64::from(t.index)),
        block_hash: Some(t.block_hash),
        block_number: Some(t.block_number),
        gas_used: rec.gas_used,
        effective_gas_price: rec.effective_gas_price,
        blob_gas_used: None,
        blob_gas_price: None,
        from: t.from,
        to: alloy_consensus::Transaction::to(tx.inner.inner()),
        contract_address: rec.contract_address,
    })
}

/// The logs of block `b` that match `filter`.
fn block_logs(reader: &Reader, b: &BlockRecord, filter: &Filter) -> RpcResult<Vec<Log>> {
    let mut out = Vec::new();
    if !filter.matches_bloom(b.logs_bloom) {
        return Ok(out);
    }
    for t in block_txs(reader, b)? {
        if !filter.matches_bloom(t.receipt.logs_bloom) {
            continue;
        }
        for (j, l) in t.receipt.logs.iter().enumerate() {
            if filter.matches(l) {
                out.push(rpc_log(&t, j, l));
            }
        }
    }
    Ok(out)
}

/// The block a tag, number or hash names, if it exists.
fn block_by_id(ctx: &Ctx, r: &Reader, id: BlockId) -> RpcResult<Option<BlockRecord>> {
    let n = match id {
        BlockId::Number(tag) => ctx.number(r, tag)?,
        BlockId::Hash(h) => match r.block_number(&h.block_hash).map_err(internal)? {
            Some(n) => n,
            None => return Ok(None),
        },
    };
    r.block(n).map_err(internal)
}

/// Loads every transaction record of a block.
fn block_txs(reader: &Reader, r: &BlockRecord) -> RpcResult<Vec<TxRecord>> {
    r.tx_hashes
        .iter()
        .map(|h| {
            reader
                .tx(h)
                .map_err(internal)?
                .ok_or_else(|| err(-32603, format!("indexed tx {h} missing")))
        })
        .collect()
}

fn rpc_block(reader: &Reader, r: &BlockRecord, full: bool) -> RpcResult<Block> {
    let header = alloy_consensus::Header {
        parent_hash: r.parent_hash,
        ommers_hash: alloy_consensus::EMPTY_OMMER_ROOT_HASH,
        beneficiary: r.builder,
        state_root: r.state_root,
        transactions_root: r.tx_root,
        receipts_root: r.receipts_root,
        logs_bloom: r.logs_bloom,
        difficulty: U256::ZERO,
        number: r.number,
        gas_limit: r.gas_limit,
        gas_used: r.gas_used,
        timestamp: r.timestamp,
        base_fee_per_gas: Some(r.base_fee),
        ..Default::default()
    };
    let transactions = if full {
        BlockTransactions::Full(
            block_txs(reader, r)?
                .iter()
                .map(rpc_tx)
                .collect::<RpcResult<_>>()?,
        )
    } else {
        BlockTransactions::Hashes(r.tx_hashes.clone())
    };
    Ok(Block {
        header: Header {
            hash: r.hash,
            inner: header,
            total_difficulty: Some(U256::ZERO),
            size: None,
        },
        uncles: vec![],
        transactions,
        withdrawals: None,
    })
}

/// Runs a call on the state after a block (as the next block would); `Ok(result)` also for
/// reverts.
fn simulate(
    ctx: &Ctx,
    view: &StateAt<'_>,
    overrides: Option<&StateOverride>,
    req: &TransactionRequest,
    gas: u64,
) -> RpcResult<ExecutionResult> {
    let params = ctx.params()?;
    let meta = view
        .app_entry(&parley_types::StateKey::Meta)
        .map_err(internal)?
        .map(|b| parley_types::ChainMeta::decode(&b))
        .transpose()
        .map_err(|e| internal(StoreError::Corrupt(e.to_string())))?
        .unwrap_or_default();
    let from = req.from.unwrap_or_default();
    let priced = req.gas_price.is_some() || req.max_fee_per_gas.is_some();
    let gas_price = req.gas_price.or(req.max_fee_per_gas).unwrap_or(0);
    let header = crate::chain::block::L2Header {
        chain_id: params.chain_id,
        number: meta.last_block_number + 1,
        parent_hash: meta.last_block_hash,
        timestamp: meta.last_timestamp,
        builder: Address::ZERO,
        // Unpriced calls run with a zero base fee, as geth does.
        base_fee: if priced { meta.next_base_fee } else { 0 },
        gas_limit: params.block_gas_limit,
        tx_root: B256::ZERO,
    };
    let mut db = Overlay::new(view);
    if let Some(o) = overrides {
        apply_overrides(&mut db, o)?;
    }
    let nonce = match req.nonce {
        Some(n) => n,
        None => db.account(from).map_err(internal)?.map_or(0, |a| a.nonce),
    };
    let mut cfg = evm::cfg_env(&params);
    cfg.disable_nonce_check = true;
    let tx = TxEnv {
        tx_type: if req.max_fee_per_gas.is_some() { 2 } else { 0 },
        caller: from,
        gas_limit: gas,
        gas_price,
        kind: req.to.unwrap_or(TxKind::Create),
        value: req.value.unwrap_or_default(),
        data: req.input.input().cloned().unwrap_or_default(),
        nonce,
        chain_id: Some(params.chain_id),
        access_list: req.access_list.clone().unwrap_or_default(),
        gas_priority_fee: req.max_priority_fee_per_gas,
        ..Default::default()
    };
    let mut evm = Context::mainnet()
        .with_db(db)
        .with_cfg(cfg)
        .with_block(evm::block_env(&header, B256::ZERO))
        .build_mainnet();
    evm.transact(tx)
        .map(|r| r.result)
        .map_err(|e| err(-32000, e.to_string()))
}

/// Applies `eth_call`'s state override set (balance, nonce, code, and either `state`, which
/// replaces the whole storage, or `stateDiff`, which sets slots) to a throwaway overlay.
fn apply_overrides<V: StateView>(
    db: &mut Overlay<'_, V>,
    overrides: &StateOverride,
) -> RpcResult<()> {
    // Each address is independent, so the map's order does not matter.
    for (addr, o) in overrides {
        let mut acc = db.account(*addr).map_err(internal)?.unwrap_or(AccountLeaf {
            nonce: 0,
            balance: U256::ZERO,
            code_hash: parley_types::KECCAK_EMPTY,
        });
        if let Some(b) = o.balance {
            acc.balance = b;
        }
        if let Some(n) = o.nonce {
            acc.nonce = n;
        }
        if let Some(code) = &o.code {
            acc.code_hash = if code.is_empty() {
                parley_types::KECCAK_EMPTY
            } else {
                let h = alloy_primitives::keccak256(code);
                db.put_code(h, code.clone());
                h
            };
        }
        if o.state.is_some() && o.state_diff.is_some() {
            return Err(invalid(format!(
                "state override for {addr}: give state or stateDiff, not both"
            )));
        }
        if let Some(state) = &o.state {
            db.wipe_storage(*addr);
            for (k, v) in state {
                db.set_storage(*addr, U256::from_be_bytes(k.0), U256::from_be_bytes(v.0));
            }
        }
        if let Some(diff) = &o.state_diff {
            for (k, v) in diff {
                db.set_storage(*addr, U256::from_be_bytes(k.0), U256::from_be_bytes(v.0));
            }
        }
        db.set_account(*addr, acc);
    }
    Ok(())
}

fn revert_error(result: &ExecutionResult) -> ErrorObjectOwned {
    match result {
        ExecutionResult::Revert { output, .. } => {
            ErrorObjectOwned::owned(3, "execution reverted".to_string(), Some(output.clone()))
        }
        ExecutionResult::Halt { reason, .. } => {
            err(-32000, format!("execution halted: {reason:?}"))
        }
        ExecutionResult::Success { .. } => err(-32603, "not an error"),
    }
}

fn register(module: &mut RpcModule<Ctx>) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    module.register_method("eth_chainId", |_, ctx, _| {
        m::rpc("eth_chainId");
        ctx.params().map(|p| U64::from(p.chain_id))
    })?;
    module.register_method("net_version", |_, ctx, _| {
        ctx.params().map(|p| p.chain_id.to_string())
    })?;
    module.register_method("web3_clientVersion", |_, _, _| {
        concat!("parleyd/", env!("CARGO_PKG_VERSION"))
    })?;
    module.register_method("eth_syncing", |_, _, _| false)?;
    module.register_method("eth_accounts", |_, _, _| Vec::<Address>::new())?;
    module.register_method("eth_blockNumber", |_, ctx, _| {
        m::rpc("eth_blockNumber");
        let r = ctx.reader()?;
        Ok::<_, ErrorObjectOwned>(U64::from(r.meta().map_err(internal)?.last_block_number))
    })?;
    module.register_method("eth_getBalance", |p: Params, ctx, _| {
        m::rpc("eth_getBalance");
        let (addr, id): (Address, Option<BlockId>) = args(&p, 2)?;
        let r = ctx.reader()?;
        let view = ctx.state_at(&r, id)?;
        Ok::<_, ErrorObjectOwned>(
            Overlay::new(&view)
                .account(addr)
                .map_err(internal)?
                .map_or(U256::ZERO, |a| a.balance),
        )
    })?;
    module.register_method("eth_getTransactionCount", |p: Params, ctx, _| {
        m::rpc("eth_getTransactionCount");
        let (addr, id): (Address, Option<BlockId>) = args(&p, 2)?;
        let r = ctx.reader()?;
        let view = ctx.state_at(&r, id)?;
        let nonce = Overlay::new(&view)
            .account(addr)
            .map_err(internal)?
            .map_or(0, |a| a.nonce);
        if matches!(id, Some(BlockId::Number(BlockNumberOrTag::Pending))) {
            return Ok(U64::from(ctx.app.pending().next_nonce(&addr, nonce)));
        }
        Ok::<_, ErrorObjectOwned>(U64::from(nonce))
    })?;
    module.register_method("eth_getCode", |p: Params, ctx, _| {
        m::rpc("eth_getCode");
        let (addr, id): (Address, Option<BlockId>) = args(&p, 2)?;
        let r = ctx.reader()?;
        let view = ctx.state_at(&r, id)?;
        let Some(a) = Overlay::new(&view).account(addr).map_err(internal)? else {
            return Ok(Bytes::new());
        };
        if a.code_hash == parley_types::KECCAK_EMPTY {
            return Ok(Bytes::new());
        }
        Ok::<_, ErrorObjectOwned>(r.code(&a.code_hash).map_err(internal)?.unwrap_or_default())
    })?;
    module.register_method("eth_getStorageAt", |p: Params, ctx, _| {
        m::rpc("eth_getStorageAt");
        let (addr, slot, id): (Address, U256, Option<BlockId>) = args(&p, 3)?;
        let r = ctx.reader()?;
        let view = ctx.state_at(&r, id)?;
        Ok::<_, ErrorObjectOwned>(B256::from(
            Overlay::new(&view).storage(addr, slot).map_err(internal)?,
        ))
    })?;
    register_timed(module, "eth_call", |p: Params<'static>, ctx: &Ctx| {
        m::rpc("eth_call");
        let (req, id, overrides): (TransactionRequest, Option<BlockId>, Option<StateOverride>) =
            args(&p, 3)?;
        let r = ctx.reader()?;
        let view = ctx.state_at(&r, id)?;
        let cap = ctx.params()?.block_gas_limit.min(ctx.limits.gas_cap);
        let result = simulate(
            ctx,
            &view,
            overrides.as_ref(),
            &req,
            req.gas.unwrap_or(cap).min(cap),
        )?;
        match result {
            ExecutionResult::Success {
                output: Output::Call(b),
                ..
            } => Ok(b),
            ExecutionResult::Success {
                output: Output::Create(b, _),
                ..
            } => Ok(b),
            other => Err(revert_error(&other)),
        }
    })?;
    register_timed(
        module,
        "eth_estimateGas",
        |p: Params<'static>, ctx: &Ctx| {
            m::rpc("eth_estimateGas");
            let (req, id, overrides): (TransactionRequest, Option<BlockId>, Option<StateOverride>) =
                args(&p, 3)?;
            let ov = overrides.as_ref();
            let r = ctx.reader()?;
            let view = ctx.state_at(&r, id)?;
            let cap = ctx.params()?.block_gas_limit.min(ctx.limits.gas_cap);
            let mut cap = req.gas.unwrap_or(cap).min(cap);
            // A priced estimate cannot use more gas than the sender can pay for (as geth does).
            let price = req.gas_price.or(req.max_fee_per_gas).unwrap_or(0);
            if price > 0 {
                let from = req.from.unwrap_or_default();
                let mut db = Overlay::new(&view);
                if let Some(o) = ov {
                    apply_overrides(&mut db, o)?;
                }
                let balance = db
                    .account(from)
                    .map_err(internal)?
                    .map_or(U256::ZERO, |a| a.balance);
                let spendable =
                    balance.saturating_sub(req.value.unwrap_or_default()) / U256::from(price);
                cap = cap.min(u64::try_from(spendable).unwrap_or(u64::MAX));
            }
            let first = simulate(ctx, &view, ov, &req, cap)?;
            if !first.is_success() {
                return Err(revert_error(&first));
            }
            // Smallest limit that succeeds: the 63/64 rule and refunds make it ≥ gas used.
            let used = first.tx_gas_used();
            let mut lo = used.saturating_sub(1);
            let mut hi = cap;
            let guess = used.saturating_mul(64) / 63 + 2_300;
            if guess < hi && simulate(ctx, &view, ov, &req, guess)?.is_success() {
                hi = guess;
            }
            while lo + 1 < hi {
                let mid = lo + (hi - lo) / 2;
                if simulate(ctx, &view, ov, &req, mid)?.is_success() {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            Ok::<_, ErrorObjectOwned>(U64::from(hi))
        },
    )?;
    module.register_method("eth_gasPrice", |_, ctx, _| {
        m::rpc("eth_gasPrice");
        let r = ctx.reader()?;
        let base = r.meta().map_err(internal)?.next_base_fee;
        Ok::<_, ErrorObjectOwned>(U256::from(u128::from(base) + SUGGESTED_TIP))
    })?;
    module.register_method("eth_maxPriorityFeePerGas", |_, _, _| {
        Ok::<_, ErrorObjectOwned>(U256::from(SUGGESTED_TIP))
    })?;
    module.register_method("eth_feeHistory", |p: Params, ctx, _| {
        m::rpc("eth_feeHistory");
        let (count, newest, percentiles): (U64, BlockNumberOrTag, Option<Vec<f64>>) = args(&p, 3)?;
        let r = ctx.reader()?;
        let meta = r.meta().map_err(internal)?;
        let newest = ctx.number(&r, newest)?.min(meta.last_block_number);
        let count = count.to::<u64>().clamp(1, 1024).min(newest + 1);
        let oldest = newest + 1 - count;
        let mut base = Vec::new();
        let mut ratio = Vec::new();
        let mut rewards = Vec::new();
        for n in oldest..=newest {
            let b = r
                .block(n)
                .map_err(internal)?
                .ok_or_else(|| err(-32001, format!("block {n} not found")))?;
            base.push(u128::from(b.base_fee));
            ratio.push(b.gas_used as f64 / b.gas_limit.max(1) as f64);
            if let Some(ps) = &percentiles {
                rewards.push(reward_percentiles(&b, ps));
            }
        }
        base.push(u128::from(meta.next_base_fee));
        Ok::<_, ErrorObjectOwned>(FeeHistory {
            base_fee_per_gas: base,
            gas_used_ratio: ratio,
            base_fee_per_blob_gas: vec![0; count as usize + 1],
            blob_gas_used_ratio: vec![0.0; count as usize],
            oldest_block: oldest,
            reward: percentiles.map(|_| rewards),
        })
    })?;
    module.register_async_method(
        "eth_sendRawTransaction",
        |p: Params<'static>, ctx, _| async move {
            m::rpc("eth_sendRawTransaction");
            let raw: Bytes = p.one()?;
            let params = ctx.params()?;
            let tx = ctx
                .app
                .decode_tx(&raw, &params)
                .map_err(|e| err(-32000, e.to_string()))?;
            {
                let r = ctx.reader()?;
                if let Err(e) =
                    crate::mempool::check_state(&tx, &r, ctx.app.pending()).map_err(internal)?
                {
                    return Err(err(-32000, e.to_string()));
                }
            }
            ctx.broadcast(&raw).await?;
            Ok(tx.hash)
        },
    )?;
    module.register_method("eth_getTransactionByHash", |p: Params, ctx, _| {
        m::rpc("eth_getTransactionByHash");
        let hash: B256 = p.one()?;
        let r = ctx.reader()?;
        if let Some(t) = r.tx(&hash).map_err(internal)? {
            return rpc_tx(&t).map(Some);
        }
        // Not included yet: this node's mempool, with no block fields.
        Ok(ctx.app.pending().get(&hash).map(|t| Transaction {
            inner: Recovered::new_unchecked(t.envelope, t.from),
            block_hash: None,
            block_number: None,
            transaction_index: None,
            effective_gas_price: None,
            block_timestamp: None,
        }))
    })?;
    module.register_method("eth_getTransactionReceipt", |p: Params, ctx, _| {
        m::rpc("eth_getTransactionReceipt");
        let hash: B256 = p.one()?;
        let r = ctx.reader()?;
        r.tx(&hash)
            .map_err(internal)?
            .map(|t| rpc_receipt(&t))
            .transpose()
    })?;
    module.register_method("eth_getBlockByNumber", |p: Params, ctx, _| {
        m::rpc("eth_getBlockByNumber");
        let (tag, full): (BlockNumberOrTag, Option<bool>) = args(&p, 2)?;
        let full = full.unwrap_or(false);
        let r = ctx.reader()?;
        let n = ctx.number(&r, tag)?;
        r.block(n)
            .map_err(internal)?
            .map(|b| rpc_block(&r, &b, full))
            .transpose()
    })?;
    module.register_method("eth_getBlockByHash", |p: Params, ctx, _| {
        m::rpc("eth_getBlockByHash");
        let (hash, full): (B256, Option<bool>) = args(&p, 2)?;
        let full = full.unwrap_or(false);
        let r = ctx.reader()?;
        let Some(n) = r.block_number(&hash).map_err(internal)? else {
            return Ok(None);
        };
        r.block(n)
            .map_err(internal)?
            .map(|b| rpc_block(&r, &b, full))
            .transpose()
    })?;
    module.register_method(
        "eth_getBlockTransactionCountByNumber",
        |p: Params, ctx, _| {
            let (tag,): (BlockNumberOrTag,) = p.parse()?;
            let r = ctx.reader()?;
            let n = ctx.number(&r, tag)?;
            Ok::<_, ErrorObjectOwned>(
                r.block(n)
                    .map_err(internal)?
                    .map(|b| U64::from(b.tx_hashes.len())),
            )
        },
    )?;
    module.register_blocking_method("eth_getLogs", |p: Params, ctx, _| {
        m::rpc("eth_getLogs");
        let filter: Filter = p.one()?;
        ctx.get_logs(&filter)
    })?;
    module.register_blocking_method("eth_getBlockReceipts", |p: Params, ctx, _| {
        m::rpc("eth_getBlockReceipts");
        let id: BlockId = p.one()?;
        let r = ctx.reader()?;
        let Some(b) = block_by_id(&ctx, &r, id)? else {
            return Ok(None);
        };
        let receipts = block_txs(&r, &b)?
            .iter()
            .map(rpc_receipt)
            .collect::<RpcResult<Vec<_>>>()?;
        Ok::<_, ErrorObjectOwned>(Some(receipts))
    })?;
    module.register_method("eth_getBlockTransactionCountByHash", |p: Params, ctx, _| {
        let hash: B256 = p.one()?;
        let r = ctx.reader()?;
        Ok::<_, ErrorObjectOwned>(
            block_by_id(ctx, &r, BlockId::from(hash))?.map(|b| U64::from(b.tx_hashes.len())),
        )
    })?;
    for (name, by_hash) in [
        ("eth_getTransactionByBlockNumberAndIndex", false),
        ("eth_getTransactionByBlockHashAndIndex", true),
    ] {
        module.register_method(name, move |p: Params, ctx, _| {
            let mut seq = p.sequence();
            let id = if by_hash {
                BlockId::from(seq.next::<B256>()?)
            } else {
                BlockId::Number(seq.next::<BlockNumberOrTag>()?)
            };
            let index: U64 = seq.next()?;
            let r = ctx.reader()?;
            let Some(b) = block_by_id(ctx, &r, id)? else {
                return Ok(None);
            };
            let Some(h) = usize::try_from(index).ok().and_then(|i| b.tx_hashes.get(i)) else {
                return Ok(None);
            };
            r.tx(h).map_err(internal)?.map(|t| rpc_tx(&t)).transpose()
        })?;
    }
    module.register_blocking_method("parley_getStateDiff", |p: Params, ctx, _| {
        m::rpc("parley_getStateDiff");
        let (tag,): (Option<BlockNumberOrTag>,) = args(&p, 1)?;
        let r = ctx.reader()?;
        let n = ctx.number(&r, tag.unwrap_or(BlockNumberOrTag::Latest))?;
        let (Some(block), Some(diff)) =
            (r.block(n).map_err(internal)?, r.diff(n).map_err(internal)?)
        else {
            return Ok(None);
        };
        state_diff_json(&r, &block, &diff).map(Some)
    })?;
    for name in [
        "eth_getUncleCountByBlockNumber",
        "eth_getUncleCountByBlockHash",
    ] {
        module.register_method(name, |_, _, _| Ok::<_, ErrorObjectOwned>(U64::ZERO))?;
    }
    pubsub::register(module)?;
    parley::register(module)?;
    Ok(())
}

/// An account's fields in `parley_getStateDiff`.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct DiffAccountFields {
    nonce: U64,
    balance: U256,
    code_hash: B256,
}

/// A change of an account's fields; `null` before: created, `null` after: deleted.
#[derive(Debug, Clone, serde::Serialize)]
struct DiffAccountChange {
    before: Option<DiffAccountFields>,
    after: Option<DiffAccountFields>,
    /// The new code, when the block gave the account code (its code hash changed to non-empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<Bytes>,
}

/// A change of one storage slot (zero = absent).
#[derive(Debug, Clone, serde::Serialize)]
struct DiffSlotChange {
    slot: B256,
    before: B256,
    after: B256,
}

/// One address of `parley_getStateDiff`: its account change (`null` if only storage changed)
/// and its changed slots in slot order.
#[derive(Debug, Clone, serde::Serialize)]
struct DiffAddress {
    address: Address,
    account: Option<DiffAccountChange>,
    storage: Vec<DiffSlotChange>,
}

/// `parley_getStateDiff`'s answer: the block's state diff (what consensus agreed the block
/// changed), grouped by address in address order.
#[derive(Debug, Clone, serde::Serialize)]
struct DiffJson {
    number: U64,
    hash: B256,
    accounts: Vec<DiffAddress>,
}

/// `map`'s entry for `a`, created empty.
fn diff_address(
    map: &mut std::collections::BTreeMap<Address, DiffAddress>,
    a: Address,
) -> &mut DiffAddress {
    map.entry(a).or_insert_with(|| DiffAddress {
        address: a,
        account: None,
        storage: Vec::new(),
    })
}

/// `parley_getStateDiff`'s answer for `block`, whose diff is `diff`.
fn state_diff_json(
    r: &Reader,
    block: &BlockRecord,
    diff: &parley_types::StateDiff,
) -> RpcResult<DiffJson> {
    use parley_types::{LeafValue, StateKey};
    let fields = |v: &Option<LeafValue>| match v {
        Some(LeafValue::Account(a)) => Some(DiffAccountFields {
            nonce: U64::from(a.nonce),
            balance: a.balance,
            code_hash: a.code_hash,
        }),
        _ => None,
    };
    let word = |v: &Option<LeafValue>| match v {
        Some(LeafValue::Storage(x)) => B256::from(*x),
        _ => B256::ZERO,
    };
    let mut by_address: std::collections::BTreeMap<Address, DiffAddress> = Default::default();
    for e in &diff.0 {
        match e.key {
            StateKey::Account(a) => {
                let (before, after) = (fields(&e.old), fields(&e.new));
                let new_code = after.as_ref().map(|f| f.code_hash).filter(|h| {
                    *h != parley_types::KECCAK_EMPTY
                        && before.as_ref().map(|f| f.code_hash) != Some(*h)
                });
                let code = match new_code {
                    Some(h) => Some(r.code(&h).map_err(internal)?.ok_or_else(|| {
                        internal(StoreError::Corrupt(format!("code {h} of {a} is missing")))
                    })?),
                    None => None,
                };
                diff_address(&mut by_address, a).account = Some(DiffAccountChange {
                    before,
                    after,
                    code,
                });
            }
            StateKey::Storage(a, slot) => {
                diff_address(&mut by_address, a)
                    .storage
                    .push(DiffSlotChange {
                        slot: B256::from(slot),
                        before: word(&e.old),
                        after: word(&e.new),
                    });
            }
            // Diffs hold EVM entries only (`StateDiff::validate`).
            _ => {}
        }
    }
    Ok(DiffJson {
        number: U64::from(block.number),
        hash: block.hash,
        accounts: by_address.into_values().collect(),
    })
}

/// Registers a heavy method that runs on the blocking pool (never on the async workers) and
/// answers an error once `rpc_call_timeout_ms` passes. The computation itself is bounded by
/// the gas cap; a timed-out one finishes in the background and is discarded.
fn register_timed<R>(
    module: &mut RpcModule<Ctx>,
    name: &'static str,
    f: fn(Params<'static>, &Ctx) -> RpcResult<R>,
) -> Result<(), jsonrpsee::core::RegisterMethodError>
where
    R: serde::Serialize + Clone + Send + Sync + 'static,
{
    module.register_async_method(name, move |p, ctx, _| async move {
        let limit = ctx.limits.call_timeout;
        let job = tokio::task::spawn_blocking(move || f(p, &ctx));
        match tokio::time::timeout(limit, job).await {
            Err(_) => Err(err(
                -32000,
                format!(
                    "{name}: execution timed out after {} ms (rpc_call_timeout_ms)",
                    limit.as_millis()
                ),
            )),
            Ok(Err(e)) => Err(err(-32603, format!("{name}: {e}"))),
            Ok(Ok(r)) => r,
        }
    })?;
    Ok(())
}

/// Priority fees paid at the given percentiles of gas used in block `b` (EIP-1559 semantics).
fn reward_percentiles(b: &BlockRecord, percentiles: &[f64]) -> Vec<u128> {
    let mut tips: Vec<(u128, u64)> = b
        .tx_fees
        .iter()
        .map(|(price, gas)| (price.saturating_sub(u128::from(b.base_fee)), *gas))
        .collect();
    tips.sort_unstable();
    let total: u64 = tips.iter().map(|t| t.1).sum();
    percentiles
        .iter()
        .map(|p| {
            if tips.is_empty() {
                return 0;
            }
            let threshold = (total as f64 * p.clamp(0.0, 100.0) / 100.0) as u64;
            let mut acc = 0u64;
            for (tip, gas) in &tips {
                acc += gas;
                if acc >= threshold {
                    return *tip;
                }
            }
            tips.last().map_or(0, |t| t.0)
        })
        .collect()
}

/// Subscription ids as Ethereum clients expect them: `0x`-prefixed hex strings (viem ignores
/// notifications for a numeric id). Unique per node; unsubscribing is per connection anyway.
#[derive(Debug, Default)]
struct HexIds(std::sync::atomic::AtomicU64);

impl jsonrpsee::core::traits::IdProvider for HexIds {
    fn next_id(&self) -> jsonrpsee::types::SubscriptionId<'static> {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Spread consecutive ids so they do not look like a counter to a client.
        let id = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5851_f42d_4c95_7f2d;
        jsonrpsee::types::SubscriptionId::Str(format!("0x{id:016x}").into())
    }
}

/// CORS for browser dApps: `*` allows any origin, otherwise the listed ones.
fn cors_layer(origins: &[String]) -> eyre::Result<tower_http::cors::CorsLayer> {
    use tower_http::cors::{AllowOrigin, Any, CorsLayer};
    let layer = CorsLayer::new()
        .allow_methods([http::Method::POST, http::Method::GET, http::Method::OPTIONS])
        .allow_headers(Any);
    if origins.iter().any(|o| o == "*") {
        return Ok(layer.allow_origin(Any));
    }
    let list = origins
        .iter()
        .map(|o| {
            o.parse::<http::HeaderValue>()
                .map_err(|e| eyre::eyre!("rpc_cors: origin {o:?}: {e}"))
        })
        .collect::<eyre::Result<Vec<_>>>()?;
    Ok(layer.allow_origin(AllowOrigin::list(list)))
}

/// Starts the JSON-RPC server on `addr`.
pub async fn serve(
    app: App,
    addr: SocketAddr,
    cometbft_url: &str,
    limits: RpcLimits,
) -> eyre::Result<(SocketAddr, ServerHandle)> {
    let methods = methods(app, cometbft_url, limits.clone())?;
    start(methods, addr, &limits).await
}

/// Every JSON-RPC method of the node, with the task that feeds its filters running. The
/// server ([`start`]) and the web view's read-only proxy (`crate::web`) call the same
/// methods, so the page shows exactly what a client of the JSON-RPC port reads.
pub fn methods(app: App, cometbft_url: &str, limits: RpcLimits) -> eyre::Result<Methods> {
    let cometbft = cometbft_client(cometbft_url)?;
    let filters = std::sync::Arc::new(pubsub::Filters::default());
    tokio::spawn(pubsub::feed_filters(app.clone(), filters.clone()));
    let mut module = RpcModule::new(Ctx {
        app,
        cometbft,
        filters,
        limits,
    });
    register(&mut module)?;
    Ok(module.into())
}

/// Serves `methods` on `addr` under `limits`.
pub async fn start(
    methods: Methods,
    addr: SocketAddr,
    limits: &RpcLimits,
) -> eyre::Result<(SocketAddr, ServerHandle)> {
    let config = jsonrpsee::server::ServerConfig::builder()
        .max_request_body_size(limits.max_request_bytes)
        .max_response_body_size(limits.max_response_bytes)
        .max_connections(limits.max_connections)
        .max_subscriptions_per_connection(limits.max_subscriptions)
        .set_batch_request_config(jsonrpsee::server::BatchRequestConfig::Limit(
            limits.max_batch,
        ))
        .set_id_provider(HexIds::default())
        .build();
    let cors = cors_layer(&limits.cors)?;
    let server = jsonrpsee::server::Server::builder()
        .set_config(config)
        .set_http_middleware(tower::ServiceBuilder::new().layer(cors))
        .set_rpc_middleware(
            jsonrpsee::server::middleware::rpc::RpcServiceBuilder::new()
                .layer(transport::SubscriptionsNeedWsLayer),
        )
        .build(addr)
        .await
        .map_err(|e| eyre::eyre!("rpc_addr {addr}: {e}"))?;
    let local = server.local_addr()?;
    Ok((local, server.start(methods)))
}
