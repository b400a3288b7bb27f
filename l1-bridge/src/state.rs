//! The relayer's durable state and the pure decisions made from it: which relayer may post
//! an epoch now, and what to do on start with a transaction that was in flight.
//!
//! Invariant: the state file names every signed `finalizeEpoch` transaction *before* it is
//! broadcast, and all of them share one nonce. So after a crash or restart the relayer can
//! always find out whether one of them was mined, and a new one can only replace them (same
//! nonce), never add a second posting.

use std::path::{Path, PathBuf};

use alloy_primitives::{Address, B256, Bytes};
use eyre::{Result, WrapErr as _};
use serde::{Deserialize, Serialize};

/// File name of the state inside `--state-dir`.
pub const STATE_FILE: &str = "relayer-state.json";
/// File name of the gas report inside `--state-dir` (one JSON line per finalization).
pub const GAS_FILE: &str = "gas.jsonl";

/// What the relayer keeps across restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    /// The `finalizeEpoch` transaction signed and (maybe) broadcast, not yet known mined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<InFlight>,
    /// The first L1 block at which this relayer saw an epoch postable: a relayer that is not
    /// the epoch's designated one counts `relaySlot` blocks from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<Seen>,
}

/// An epoch seen postable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Seen {
    /// The epoch.
    pub epoch: u64,
    /// The L1 block number at which it was first seen postable.
    pub block: u64,
}

/// A `finalizeEpoch` transaction in flight, with all its same-nonce replacements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InFlight {
    /// The epoch it finalizes.
    pub epoch: u64,
    /// The sender (the relayer's key when it was signed).
    pub from: Address,
    /// The nonce every version uses.
    pub nonce: u64,
    /// The L1 block number when the latest version was signed.
    pub sent_at_block: u64,
    /// Signature count and proof size, for the gas report.
    pub signatures: usize,
    /// Proof bytes.
    pub proof_bytes: usize,
    /// The Rollup, the calldata and the gas limit: what a replacement sends again.
    pub to: Address,
    /// See `to`.
    pub input: Bytes,
    /// See `to`.
    pub gas_limit: u64,
    /// Every signed version, oldest first; the last is the one to rebroadcast.
    pub txs: Vec<SignedTx>,
}

/// One signed version of the in-flight transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedTx {
    /// Its hash.
    pub hash: B256,
    /// Its EIP-2718 encoding, to rebroadcast exactly the same transaction.
    pub raw: Bytes,
    /// Its `maxFeePerGas` and `maxPriorityFeePerGas` (wei), for a replacement's bump.
    pub max_fee_per_gas: u128,
    /// See `max_fee_per_gas`.
    pub max_priority_fee_per_gas: u128,
}

impl State {
    /// Reads the state in `dir`, or the empty state if there is none.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .wrap_err_with(|| format!("reading the relayer state {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).wrap_err_with(|| format!("reading {}", path.display())),
        }
    }

    /// Writes the state to `dir` atomically: a temporary file, fsynced, renamed over the
    /// old one, and the directory fsynced, so a crash leaves the old or the new state.
    pub fn store(&self, dir: &Path) -> Result<()> {
        use std::io::Write as _;
        let path = dir.join(STATE_FILE);
        let tmp: PathBuf = dir.join(format!("{STATE_FILE}.tmp"));
        let bytes = serde_json::to_vec_pretty(self).wrap_err("encoding the relayer state")?;
        let mut f =
            std::fs::File::create(&tmp).wrap_err_with(|| format!("creating {}", tmp.display()))?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, &path).wrap_err_with(|| format!("renaming to {}", path.display()))?;
        if let Ok(d) = std::fs::File::open(dir) {
            // Not every platform can fsync a directory; the rename is what matters.
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// The designated relayer of `epoch` among `relayers` (`relayers[epoch % n]`); `None` for an
/// empty list.
pub fn designated(epoch: u64, relayers: &[Address]) -> Option<Address> {
    let n = u64::try_from(relayers.len()).ok().filter(|n| *n > 0)?;
    let i = usize::try_from(epoch % n).ok()?;
    relayers.get(i).copied()
}

/// Whether `me` may post `epoch` at L1 block `now`: the designated relayer at once (so is
/// anyone when no list is configured); any other relayer once `relay_slot` blocks have passed
/// since `first_seen`, the block at which it first saw the epoch postable.
pub fn may_post(
    epoch: u64,
    relayers: &[Address],
    me: Address,
    first_seen: u64,
    now: u64,
    relay_slot: u64,
) -> bool {
    match designated(epoch, relayers) {
        None => true,
        Some(d) if d == me => true,
        Some(_) => now >= first_seen.saturating_add(relay_slot),
    }
}

/// What to do with an in-flight transaction, given what L1 says now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Version `index` was mined (`success`: it did not revert). Report it, clear the state.
    Mined {
        /// Which version of [`InFlight::txs`].
        index: usize,
        /// Whether it succeeded.
        success: bool,
    },
    /// The nonce was used by a transaction that is none of ours (another tool with the same
    /// key): clear the state, and read the contract again before posting anything.
    NonceUsedElsewhere,
    /// Nothing mined and the nonce is free: broadcast the latest version again (the very
    /// same transaction, so it cannot post twice), or replace it with the same nonce once
    /// it has waited `replace_after` blocks.
    Pending {
        /// Whether to sign a replacement with higher fees.
        replace: bool,
    },
}

/// The recovery decision. `receipts[i]` is version `i`'s receipt status if it has one;
/// `confirmed_nonce` is the sender's transaction count at the latest block, **read before the
/// receipts** (so a version mined in between shows up as a receipt, never as a used nonce).
pub fn recover(
    in_flight: &InFlight,
    receipts: &[Option<bool>],
    confirmed_nonce: u64,
    now: u64,
    replace_after: u64,
) -> Recovery {
    if let Some((index, success)) = receipts
        .iter()
        .enumerate()
        .find_map(|(i, r)| r.map(|s| (i, s)))
    {
        return Recovery::Mined { index, success };
    }
    if confirmed_nonce > in_flight.nonce {
        return Recovery::NonceUsedElsewhere;
    }
    Recovery::Pending {
        replace: replace_after > 0 && now >= in_flight.sent_at_block.saturating_add(replace_after),
    }
}

/// Fees of a replacement: at least 12.5 % above the old ones (nodes ask for 10 %) and at
/// least the current estimate.
pub fn bumped(old: u128, estimate: u128) -> u128 {
    old.saturating_add(old / 8).saturating_add(1).max(estimate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(n: u8) -> Address {
        Address::repeat_byte(n)
    }

    fn in_flight() -> InFlight {
        InFlight {
            epoch: 4,
            from: a(1),
            nonce: 7,
            sent_at_block: 100,
            signatures: 3,
            proof_bytes: 0,
            to: a(0xaa),
            input: Bytes::from_static(&[0xde, 0xad]),
            gas_limit: 200_000,
            txs: vec![
                SignedTx {
                    hash: B256::repeat_byte(1),
                    raw: Bytes::from_static(&[1]),
                    max_fee_per_gas: 10,
                    max_priority_fee_per_gas: 1,
                },
                SignedTx {
                    hash: B256::repeat_byte(2),
                    raw: Bytes::from_static(&[2]),
                    max_fee_per_gas: 12,
                    max_priority_fee_per_gas: 2,
                },
            ],
        }
    }

    #[test]
    fn the_designated_relayer_posts_at_once_others_after_the_slot() {
        let rs = [a(1), a(2), a(3)];
        assert_eq!(designated(0, &rs), Some(a(1)));
        assert_eq!(designated(4, &rs), Some(a(2)));
        assert_eq!(designated(5, &[]), None);
        // Epoch 4 is a(2)'s.
        assert!(may_post(4, &rs, a(2), 50, 50, 20));
        assert!(!may_post(4, &rs, a(1), 50, 50, 20));
        assert!(!may_post(4, &rs, a(1), 50, 69, 20));
        assert!(may_post(4, &rs, a(1), 50, 70, 20));
        // Someone outside the list waits like any other.
        assert!(!may_post(4, &rs, a(9), 50, 60, 20));
        assert!(may_post(4, &rs, a(9), 50, 70, 20));
        // No list: everyone posts at once.
        assert!(may_post(4, &[], a(9), 50, 50, 20));
        // A slot of zero: anyone at once.
        assert!(may_post(4, &rs, a(1), 50, 50, 0));
    }

    #[test]
    fn a_mined_version_is_found_whatever_the_nonce_says() {
        let f = in_flight();
        assert_eq!(
            recover(&f, &[None, Some(true)], 8, 101, 10),
            Recovery::Mined {
                index: 1,
                success: true
            }
        );
        assert_eq!(
            recover(&f, &[Some(false), None], 8, 101, 10),
            Recovery::Mined {
                index: 0,
                success: false
            }
        );
    }

    #[test]
    fn a_nonce_used_without_our_receipt_is_someone_elses() {
        let f = in_flight();
        assert_eq!(
            recover(&f, &[None, None], 8, 101, 10),
            Recovery::NonceUsedElsewhere
        );
    }

    #[test]
    fn an_unmined_transaction_is_rebroadcast_then_replaced() {
        let f = in_flight();
        assert_eq!(
            recover(&f, &[None, None], 7, 101, 10),
            Recovery::Pending { replace: false }
        );
        assert_eq!(
            recover(&f, &[None, None], 7, 110, 10),
            Recovery::Pending { replace: true }
        );
        // replace_after = 0: never replace.
        assert_eq!(
            recover(&f, &[None, None], 7, 1_000, 0),
            Recovery::Pending { replace: false }
        );
    }

    #[test]
    fn replacement_fees_rise_enough() {
        assert_eq!(bumped(100, 0), 113);
        assert_eq!(bumped(100, 500), 500);
        assert!(bumped(1_000_000_000, 0) * 10 >= 1_000_000_000 * 11);
    }

    #[test]
    fn the_state_file_round_trips_atomically() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(State::load(dir.path()).expect("empty"), State::default());
        let s = State {
            in_flight: Some(in_flight()),
            seen: Some(Seen {
                epoch: 4,
                block: 99,
            }),
        };
        s.store(dir.path()).expect("store");
        assert_eq!(State::load(dir.path()).expect("load"), s);
        assert!(!dir.path().join(format!("{STATE_FILE}.tmp")).exists());
        State::default().store(dir.path()).expect("store");
        assert_eq!(State::load(dir.path()).expect("load"), State::default());
    }
}
