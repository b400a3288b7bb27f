//! ABCI 2.0 glue: converts CometBFT requests into calls on [`App`] and the results back.
//! One span per call with the height; no protocol logic lives here.
//!
//! A fatal [`AppError`] (storage failure, corrupt state, protocol violation) stops the process
//! with exit code 70 after logging it: a node must never keep running on state it cannot
//! trust. CometBFT then stops too, and a restart replays from the last commit.

use alloy_primitives::{B256, Bytes};
use tendermint_abci::Application;
use tendermint_proto::v0_38::abci::{
    CheckTxType, Event, EventAttribute, ExecTxResult, RequestCheckTx, RequestFinalizeBlock,
    RequestInfo, RequestInitChain, RequestPrepareProposal, RequestProcessProposal, RequestQuery,
    ResponseCheckTx, ResponseCommit, ResponseFinalizeBlock, ResponseInfo, ResponseInitChain,
    ResponsePrepareProposal, ResponseProcessProposal, ResponseQuery, response_process_proposal,
};

use crate::app::{App, AppError, Verdict};
use crate::metrics as m;

/// The ABCI application served to CometBFT.
#[derive(Clone, Debug)]
pub struct Abci {
    app: App,
}

impl Abci {
    /// Wraps the app.
    pub fn new(app: App) -> Self {
        Self { app }
    }
}

fn fatal(method: &str, e: AppError) -> ! {
    tracing::error!(method, error = %e, "fatal error: stopping the node");
    eprintln!("parleyd: fatal error in {method}: {e}");
    std::process::exit(70)
}

fn secs(t: Option<tendermint_proto::google::protobuf::Timestamp>) -> u64 {
    t.map_or(0, |t| u64::try_from(t.seconds).unwrap_or(0))
}

fn height(h: i64) -> u64 {
    u64::try_from(h).unwrap_or(0)
}

fn to_alloy(txs: Vec<alloy_primitives::bytes::Bytes>) -> Vec<Bytes> {
    txs.into_iter().map(Bytes).collect()
}

impl Application for Abci {
    fn info(&self, req: RequestInfo) -> ResponseInfo {
        let _s = tracing::info_span!("info", cometbft = %req.version).entered();
        let (h, hash) = self.app.info().unwrap_or_else(|e| fatal("info", e));
        tracing::info!(height = h, app_hash = %hash, "handshake");
        ResponseInfo {
            data: "parleyd".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            app_version: 1,
            last_block_height: i64::try_from(h).expect("height fits i64"),
            last_block_app_hash: if h == 0 && hash == B256::ZERO && self.app.params().is_none() {
                Default::default()
            } else {
                hash.to_vec().into()
            },
        }
    }

    fn init_chain(&self, req: RequestInitChain) -> ResponseInitChain {
        let _s = tracing::info_span!("init_chain", chain_id = %req.chain_id).entered();
        let app_hash = self
            .app
            .init_chain(&req.app_state_bytes, height(req.initial_height))
            .unwrap_or_else(|e| fatal("init_chain", e));
        ResponseInitChain {
            app_hash: app_hash.to_vec().into(),
            ..Default::default()
        }
    }

    fn check_tx(&self, req: RequestCheckTx) -> ResponseCheckTx {
        let recheck = req.r#type == CheckTxType::Recheck as i32;
        match self
            .app
            .check_tx(&req.tx, recheck)
            .unwrap_or_else(|e| fatal("check_tx", e))
        {
            Ok(tx) => {
                m::checktx("ok");
                ResponseCheckTx {
                    gas_wanted: i64::try_from(alloy_consensus::Transaction::gas_limit(
                        &tx.envelope,
                    ))
                    .unwrap_or(i64::MAX),
                    data: tx.hash.to_vec().into(),
                    ..Default::default()
                }
            }
            Err(e) => {
                m::checktx(if recheck {
                    "recheck_dropped"
                } else {
                    "rejected"
                });
                ResponseCheckTx {
                    code: e.code(),
                    log: e.to_string(),
                    codespace: "parley".into(),
                    ..Default::default()
                }
            }
        }
    }

    fn prepare_proposal(&self, req: RequestPrepareProposal) -> ResponsePrepareProposal {
        let h = height(req.height);
        let _s = tracing::info_span!("prepare_proposal", height = h).entered();
        let t = m::AbciTimer::start();
        let txs = self
            .app
            .prepare_proposal(
                h,
                secs(req.time),
                &to_alloy(req.txs),
                u64::try_from(req.max_tx_bytes).unwrap_or(0),
            )
            .unwrap_or_else(|e| fatal("prepare_proposal", e));
        t.record("prepare_proposal");
        ResponsePrepareProposal {
            txs: txs.into_iter().map(|b| b.0).collect(),
        }
    }

    fn process_proposal(&self, req: RequestProcessProposal) -> ResponseProcessProposal {
        let h = height(req.height);
        let _s = tracing::info_span!("process_proposal", height = h).entered();
        let t = m::AbciTimer::start();
        let hash = B256::try_from(req.hash.as_ref()).unwrap_or_default();
        let verdict = self
            .app
            .process_proposal(h, secs(req.time), hash, &to_alloy(req.txs))
            .unwrap_or_else(|e| fatal("process_proposal", e));
        t.record("process_proposal");
        let status = match verdict {
            Verdict::Accept => response_process_proposal::ProposalStatus::Accept,
            Verdict::Reject(_) => response_process_proposal::ProposalStatus::Reject,
        };
        ResponseProcessProposal {
            status: status as i32,
        }
    }

    fn finalize_block(&self, req: RequestFinalizeBlock) -> ResponseFinalizeBlock {
        let h = height(req.height);
        let _s = tracing::info_span!("finalize_block", height = h).entered();
        let t = m::AbciTimer::start();
        let block_hash = B256::try_from(req.hash.as_ref()).unwrap_or_default();
        let f = self
            .app
            .finalize_block(h, secs(req.time), block_hash, &to_alloy(req.txs))
            .unwrap_or_else(|e| fatal("finalize_block", e));
        t.record("finalize_block");
        let (number, hash, n, skipped) = f.block;
        tracing::info!(l2_block = number, hash = %hash, txs = n, skipped, app_hash = %f.app_hash, "executed");
        let attr = |k: &str, v: String| EventAttribute {
            key: k.into(),
            value: v,
            index: true,
        };
        ResponseFinalizeBlock {
            events: vec![Event {
                r#type: "l2_block".into(),
                attributes: vec![
                    attr("number", number.to_string()),
                    attr("hash", hash.to_string()),
                    attr("txs", n.to_string()),
                    attr("skipped", skipped.to_string()),
                ],
            }],
            tx_results: f
                .tx_results
                .into_iter()
                .map(|(code, log)| ExecTxResult {
                    code,
                    log,
                    ..Default::default()
                })
                .collect(),
            app_hash: f.app_hash.to_vec().into(),
            ..Default::default()
        }
    }

    fn commit(&self) -> ResponseCommit {
        let t = m::AbciTimer::start();
        let h = self.app.commit().unwrap_or_else(|e| fatal("commit", e));
        let _s = tracing::info_span!("commit", height = h).entered();
        t.record("commit");
        ResponseCommit { retain_height: 0 }
    }

    fn query(&self, req: RequestQuery) -> ResponseQuery {
        let _s = tracing::debug_span!("query", path = %req.path).entered();
        match self
            .app
            .query(&req.path)
            .unwrap_or_else(|e| fatal("query", e))
        {
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
}
