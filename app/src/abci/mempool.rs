//! Mempool connection: CheckTx (and recheck after every commit) of EVM transactions and signed
//! protocol messages. Converts the app's verdict into a response code and log.

use tendermint_proto::v0_38::abci::{CheckTxType, RequestCheckTx, ResponseCheckTx};

use super::fatal;
use crate::app::App;
use crate::node::metrics as m;

pub(super) fn check_tx(app: &App, req: RequestCheckTx) -> ResponseCheckTx {
    let recheck = req.r#type == CheckTxType::Recheck as i32;
    match app
        .check(&req.tx, recheck)
        .unwrap_or_else(|e| fatal("check_tx", e))
    {
        Ok(admitted) => {
            m::checktx("ok");
            ResponseCheckTx {
                gas_wanted: i64::try_from(admitted.gas_wanted).unwrap_or(i64::MAX),
                data: admitted.hash.to_vec().into(),
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
                code: e.code,
                log: e.log,
                codespace: "parley".into(),
                ..Default::default()
            }
        }
    }
}
