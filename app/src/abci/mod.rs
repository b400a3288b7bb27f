//! ABCI 2.0 glue: converts CometBFT requests into calls on [`App`] and the results back, one
//! file per connection ([`consensus`], [`mempool`], [`info`]). One span per consensus and info
//! call, with the height where the request carries one (Commit's is entered after the write,
//! when the height is known); CheckTx is counted in metrics rather than traced, since it runs
//! thousands of times a second. No protocol logic lives here.
//!
//! A fatal [`AppError`] (storage failure, corrupt state, protocol violation) stops the process
//! with exit code 70 after logging it: a node must never keep running on state it cannot
//! trust. CometBFT then stops too, and a restart replays from the last commit.

use alloy_primitives::Bytes;
use tendermint_abci::Application;
use tendermint_proto::v0_38::abci::{
    RequestCheckTx, RequestFinalizeBlock, RequestInfo, RequestInitChain, RequestPrepareProposal,
    RequestProcessProposal, RequestQuery, ResponseCheckTx, ResponseCommit, ResponseFinalizeBlock,
    ResponseInfo, ResponseInitChain, ResponsePrepareProposal, ResponseProcessProposal,
    ResponseQuery,
};

use crate::app::{App, AppError};

mod consensus;
mod info;
mod mempool;

pub use info::query;

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
        info::info(&self.app, req)
    }

    fn init_chain(&self, req: RequestInitChain) -> ResponseInitChain {
        consensus::init_chain(&self.app, req)
    }

    fn check_tx(&self, req: RequestCheckTx) -> ResponseCheckTx {
        mempool::check_tx(&self.app, req)
    }

    fn prepare_proposal(&self, req: RequestPrepareProposal) -> ResponsePrepareProposal {
        consensus::prepare_proposal(&self.app, req)
    }

    fn process_proposal(&self, req: RequestProcessProposal) -> ResponseProcessProposal {
        consensus::process_proposal(&self.app, req)
    }

    fn finalize_block(&self, req: RequestFinalizeBlock) -> ResponseFinalizeBlock {
        consensus::finalize_block(&self.app, req)
    }

    fn commit(&self) -> ResponseCommit {
        consensus::commit(&self.app)
    }

    fn extend_vote(
        &self,
        req: tendermint_proto::v0_38::abci::RequestExtendVote,
    ) -> tendermint_proto::v0_38::abci::ResponseExtendVote {
        consensus::extend_vote(&self.app, req)
    }

    fn verify_vote_extension(
        &self,
        req: tendermint_proto::v0_38::abci::RequestVerifyVoteExtension,
    ) -> tendermint_proto::v0_38::abci::ResponseVerifyVoteExtension {
        consensus::verify_vote_extension(&self.app, req)
    }

    fn query(&self, req: RequestQuery) -> ResponseQuery {
        info::query_response(&self.app, req)
    }
}
