//! Mempool connection: CheckTx (and recheck after every commit). Converts the app's verdict
//! into a response code and log.

use tendermint_proto::v0_38::abci::{CheckTxType, RequestCheckTx, ResponseCheckTx};

use super::fatal;
use crate::app::App;
use crate::node::metrics as m;

pub(super) fn check_tx(app: &App, req: RequestCheckTx) -> ResponseCheckTx {
    let recheck = req.r#type == CheckTxType::Recheck as i32;
    match app
        .check_tx(&req.tx, recheck)
        .unwrap_or_else(|e| fatal("check_tx", e))
    {
        Ok(tx) => {
            m::checktx("ok");
            ResponseCheckTx {
                gas_wanted: i64::try_from(alloy_consensus::Transaction::gas_limit(&tx.envelope))
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
