//! Info connection: the Info handshake and ABCI Query.
//!
//! Query paths: `/params` (genesis parameters, JSON), `/meta` (chain meta, JSON) and
//! `/proof/<hex state key>` (the entry's value and its Merkle proof under the app hash).

use alloy_primitives::{B256, Bytes};
use parley_types::StateKey;
use tendermint_proto::v0_38::abci::{RequestInfo, RequestQuery, ResponseInfo, ResponseQuery};

use super::fatal;
use crate::app::{App, AppError};

pub(super) fn info(app: &App, req: RequestInfo) -> ResponseInfo {
    let _s = tracing::info_span!("info", cometbft = %req.version).entered();
    let (h, hash) = app.info().unwrap_or_else(|e| fatal("info", e));
    tracing::info!(height = h, app_hash = %hash, "handshake");
    ResponseInfo {
        data: "parleyd".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        app_version: 1,
        last_block_height: i64::try_from(h).expect("height fits i64"),
        last_block_app_hash: if h == 0 && hash == B256::ZERO && app.params().is_none() {
            Default::default()
        } else {
            hash.to_vec().into()
        },
    }
}

pub(super) fn query_response(app: &App, req: RequestQuery) -> ResponseQuery {
    let _s = tracing::debug_span!("query", path = %req.path).entered();
    match query(app, &req.path).unwrap_or_else(|e| fatal("query", e)) {
        Ok(value) => ResponseQuery {
            value: value.into(),
            ..Default::default()
        },
        Err(log) => ResponseQuery {
            code: 1,
            log,
            ..Default::default()
        },
    }
}

/// Answers a query `path`: `Ok(Err(log))` for a bad path or key; `Err` is fatal (storage).
pub fn query(app: &App, path: &str) -> Result<Result<Vec<u8>, String>, AppError> {
    let reader = app.store().reader()?;
    Ok(match path {
        "/params" => Ok(serde_json::to_vec(&reader.params()?).expect("params serialize")),
        "/meta" => Ok(serde_json::to_vec(&reader.meta()?).expect("meta serializes")),
        p if p.starts_with("/proof/") => {
            let key = hex::decode(p.trim_start_matches("/proof/").trim_start_matches("0x"))
                .map_err(|e| e.to_string())
                .and_then(|b| StateKey::decode(&b).map_err(|e| e.to_string()));
            match key {
                Err(e) => Err(format!("bad key: {e}")),
                Ok(key) => {
                    let Some((app_hash, proof)) = app.prove(&key) else {
                        return Ok(Err("a block is being committed; retry".into()));
                    };
                    // The stored bytes, whose keccak256 is the leaf under the app hash.
                    let value = if key.is_evm() {
                        reader.entry(&key)?.map(|v| Bytes::from(v.encode()))
                    } else {
                        reader.app_entry(&key)?.map(Bytes::from)
                    };
                    Ok(serde_json::to_vec(&serde_json::json!({
                        "app_hash": app_hash,
                        "key": Bytes::from(key.encode()),
                        "value": value,
                        "siblings": proof.siblings,
                        "terminal": proof.terminal,
                    }))
                    .expect("proof serializes"))
                }
            }
        }
        other => Err(format!(
            "unknown query path {other:?}; known: /params, /meta, /proof/<key hex>"
        )),
    })
}
