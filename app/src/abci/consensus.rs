//! Consensus connection: InitChain, PrepareProposal, ProcessProposal, ExtendVote,
//! VerifyVoteExtension, FinalizeBlock and Commit. Converts requests and results; every decision is the app's.

use alloy_primitives::{Address, B256};
use tendermint_proto::v0_38::abci::{
    Event, EventAttribute, ExecTxResult, RequestFinalizeBlock, RequestInitChain,
    RequestPrepareProposal, RequestProcessProposal, ResponseCommit, ResponseFinalizeBlock,
    ResponseInitChain, ResponsePrepareProposal, ResponseProcessProposal, response_process_proposal,
};

use tendermint_proto::v0_38::abci;
use tendermint_proto::v0_38::crypto::{PublicKey, public_key};

use super::{fatal, height, secs, to_alloy};
use crate::app::{App, AppError};
use crate::chain::ledger::ValidatorUpdate;
use crate::chain::rules::Verdict;
use crate::chain::seed::{CommitVote, LastCommit};
use crate::node::metrics as m;

pub(super) fn init_chain(app: &App, req: RequestInitChain) -> ResponseInitChain {
    let _s = tracing::info_span!("init_chain", chain_id = %req.chain_id).entered();
    let cometbft: Vec<([u8; 32], u64)> = req
        .validators
        .iter()
        .map(|v| match v.pub_key.as_ref().and_then(|k| k.sum.as_ref()) {
            Some(public_key::Sum::Ed25519(b)) => {
                match (<[u8; 32]>::try_from(b.as_slice()), u64::try_from(v.power)) {
                    (Ok(k), Ok(p)) => (k, p),
                    _ => fatal(
                        "init_chain",
                        AppError::Genesis("a genesis validator key or power is malformed".into()),
                    ),
                }
            }
            _ => fatal(
                "init_chain",
                AppError::Genesis("genesis validators must have ed25519 keys".into()),
            ),
        })
        .collect();
    let (app_hash, validators) = app
        .init_chain_with(
            &req.app_state_bytes,
            height(req.initial_height),
            &cometbft,
            &req.chain_id,
            req.consensus_params
                .as_ref()
                .and_then(|p| p.abci.as_ref())
                .map_or(0, |a| height(a.vote_extensions_enable_height)),
        )
        .unwrap_or_else(|e| fatal("init_chain", e));
    ResponseInitChain {
        app_hash: app_hash.to_vec().into(),
        validators: validators.iter().map(to_update).collect(),
        ..Default::default()
    }
}

fn to_update(v: &ValidatorUpdate) -> abci::ValidatorUpdate {
    abci::ValidatorUpdate {
        pub_key: Some(PublicKey {
            sum: Some(public_key::Sum::Ed25519(v.consensus_key.to_vec())),
        }),
        power: i64::try_from(v.power).expect("powers are capped far below i64::MAX"),
    }
}

pub(super) fn prepare_proposal(app: &App, req: RequestPrepareProposal) -> ResponsePrepareProposal {
    let h = height(req.height);
    let _s = tracing::info_span!("prepare_proposal", height = h).entered();
    let t = m::AbciTimer::start();
    let txs = app
        .prepare_proposal(
            h,
            secs(req.time),
            &to_alloy(req.txs),
            u64::try_from(req.max_tx_bytes).unwrap_or(0),
            &extended_commit(req.local_last_commit),
        )
        .unwrap_or_else(|e| fatal("prepare_proposal", e));
    t.record("prepare_proposal");
    ResponsePrepareProposal {
        txs: txs.into_iter().map(|b| b.0).collect(),
    }
}

pub(super) fn process_proposal(app: &App, req: RequestProcessProposal) -> ResponseProcessProposal {
    let h = height(req.height);
    let _s = tracing::info_span!("process_proposal", height = h).entered();
    let t = m::AbciTimer::start();
    let hash = B256::try_from(req.hash.as_ref()).unwrap_or_default();
    let verdict = app
        .process_proposal(
            h,
            secs(req.time),
            hash,
            &to_alloy(req.txs),
            &last_commit(req.proposed_last_commit),
        )
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

pub(super) fn finalize_block(app: &App, req: RequestFinalizeBlock) -> ResponseFinalizeBlock {
    let h = height(req.height);
    let _s = tracing::info_span!("finalize_block", height = h).entered();
    let t = m::AbciTimer::start();
    let block_hash = B256::try_from(req.hash.as_ref()).unwrap_or_default();
    let f = app
        .finalize_block(
            h,
            secs(req.time),
            block_hash,
            &to_alloy(req.txs),
            &last_commit(req.decided_last_commit),
        )
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
        validator_updates: f.validator_updates.iter().map(to_update).collect(),
        ..Default::default()
    }
}

/// A validator's consensus address from CometBFT (20 bytes; anything else maps to zero,
/// which no registered validator has).
fn address(v: Option<&abci::Validator>) -> (Address, u64) {
    v.map_or((Address::ZERO, 0), |v| {
        (
            <[u8; 20]>::try_from(v.address.as_ref()).map_or(Address::ZERO, Address::from),
            u64::try_from(v.power).unwrap_or(0),
        )
    })
}

const COMMIT_FLAG: i32 = tendermint_proto::v0_38::types::BlockIdFlag::Commit as i32;

/// A vote of a last commit, without its extension.
fn vote(v: Option<&abci::Validator>, flag: i32) -> CommitVote {
    let (address, power) = address(v);
    CommitVote {
        address,
        power,
        signed: flag == COMMIT_FLAG,
        ..Default::default()
    }
}

/// The last commit as ProcessProposal and FinalizeBlock get it (no extensions).
fn last_commit(c: Option<abci::CommitInfo>) -> LastCommit {
    let c = c.unwrap_or_default();
    LastCommit {
        round: c.round,
        votes: c
            .votes
            .iter()
            .map(|v| vote(v.validator.as_ref(), v.block_id_flag))
            .collect(),
    }
}

/// The last commit as PrepareProposal gets it, with each vote's extension and signature.
fn extended_commit(c: Option<abci::ExtendedCommitInfo>) -> LastCommit {
    let c = c.unwrap_or_default();
    LastCommit {
        round: c.round,
        votes: c
            .votes
            .into_iter()
            .map(|v| CommitVote {
                extension: v.vote_extension.to_vec(),
                signature: v.extension_signature.to_vec(),
                ..vote(v.validator.as_ref(), v.block_id_flag)
            })
            .collect(),
    }
}

pub(super) fn extend_vote(app: &App, req: abci::RequestExtendVote) -> abci::ResponseExtendVote {
    let h = height(req.height);
    let _s = tracing::info_span!("extend_vote", height = h).entered();
    let vote_extension = app
        .extend_vote(h)
        .unwrap_or_else(|e| fatal("extend_vote", e));
    abci::ResponseExtendVote {
        vote_extension: vote_extension.into(),
    }
}

pub(super) fn verify_vote_extension(
    app: &App,
    req: abci::RequestVerifyVoteExtension,
) -> abci::ResponseVerifyVoteExtension {
    let h = height(req.height);
    let _s = tracing::info_span!("verify_vote_extension", height = h).entered();
    let (validator, _) = address(Some(&abci::Validator {
        address: req.validator_address,
        power: 0,
    }));
    let verdict = app
        .verify_vote_extension(h, validator, &req.vote_extension)
        .unwrap_or_else(|e| fatal("verify_vote_extension", e));
    let status = match verdict {
        Ok(()) => abci::response_verify_vote_extension::VerifyStatus::Accept,
        Err(why) => {
            tracing::warn!(height = h, %validator, reason = %why, "rejecting vote extension");
            abci::response_verify_vote_extension::VerifyStatus::Reject
        }
    };
    abci::ResponseVerifyVoteExtension {
        status: status as i32,
    }
}

pub(super) fn commit(app: &App) -> ResponseCommit {
    let t = m::AbciTimer::start();
    let h = app.commit().unwrap_or_else(|e| fatal("commit", e));
    let _s = tracing::info_span!("commit", height = h).entered();
    t.record("commit");
    ResponseCommit { retain_height: 0 }
}
