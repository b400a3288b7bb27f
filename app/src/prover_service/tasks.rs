//! Which tasks a prover has after a committed height: a pure function of (state view,
//! parameters, height, prover), recomputed on every commit, and the difference between what a
//! stream already delivered and what is due now (new tasks, cancellations).
//!
//! A task's id names the duty (`select/<slot>`), never the delivery, so the same duty computed
//! again — on the next commit, after a reconnect, for a second worker of the same prover —
//! carries the same id and the worker can ignore the copy.

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, U256};

use crate::chain::aggregation;
use crate::chain::assignment;
use crate::chain::auction;
use crate::chain::genesis::ProtocolParams;
use crate::chain::overlay::Overlay;
use crate::chain::proving;
use crate::chain::view::{StateView, StoreError};

/// What a task asks the worker to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskKind {
    /// Sign `Select{slot, sequencer, commitment, amount}`: the slot's highest bid.
    Select {
        /// The slot.
        slot: u64,
        /// The highest bid's sequencer.
        sequencer: Address,
        /// Its block commitment.
        commitment: B256,
        /// Its amount (wei).
        amount: U256,
    },
    /// Prove one chunk of the slot's block (DESIGN §3.8, §3.12) with the witness from
    /// `GetWitness`.
    Prove {
        /// The slot.
        slot: u64,
        /// The L2 block whose diff the proof covers.
        block_number: u64,
        /// The chunk.
        chunk: u32,
        /// How many chunks the slot's diff has.
        chunks: u32,
    },
    /// Prove the slot through its open fallback round (DESIGN §3.9): `CommitProof` with
    /// `keccak256(proof ‖ prover)` by `commit_end`, then `RevealProof` after it, by the
    /// task's deadline (the round's end).
    Fallback {
        /// The slot.
        slot: u64,
        /// The L2 block whose diff the proof covers.
        block_number: u64,
        /// The chunk.
        chunk: u32,
        /// How many chunks the slot's diff has.
        chunks: u32,
        /// The round (its number is in the task id, so a new round is a new task).
        round: u32,
        /// The last height of the commit phase; reveals are taken after it.
        commit_end: u64,
        /// Whether the chain holds this prover's commit of the round already.
        committed: bool,
    },
    /// Aggregate the epoch's proven blocks for this prover and send `Aggregate` (DESIGN
    /// §3.14): the drawn aggregator's duty until its window ends, then open to every prover
    /// with `min_fallback_stake`.
    Aggregate {
        /// The epoch.
        epoch: u64,
        /// Proven blocks it aggregates.
        blocks: u32,
    },
    /// Send `Heartbeat`: half the prover's `heartbeat_grace` has passed since its last one,
    /// at height `last` (DESIGN §3.10: a prover that misses the grace is no longer drawn).
    Heartbeat {
        /// The height of the last heartbeat the chain recorded.
        last: u64,
    },
}

/// One duty of a prover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// Stable id of the duty (see the module docs).
    pub id: String,
    /// The last height at which its result is taken.
    pub deadline_height: u64,
    /// What to do.
    pub kind: TaskKind,
}

/// The id of the `Select` duty of `slot`.
pub fn select_task_id(slot: u64) -> String {
    format!("select/{slot}")
}

/// The id of the `Proof` duty of chunk `chunk` of `slot`.
pub fn prove_task_id(slot: u64, chunk: u32) -> String {
    format!("prove/{slot}/{chunk}")
}

/// The id of the fallback duty of chunk `chunk` of `slot` in fallback round `round`.
pub fn fallback_task_id(slot: u64, chunk: u32, round: u32) -> String {
    format!("fallback/{slot}/{chunk}/{round}")
}

/// The id of the `Aggregate` duty of epoch `epoch` (the same in the window and after it).
pub fn aggregate_task_id(epoch: u64) -> String {
    format!("aggregate/{epoch}")
}

/// The id of the `Heartbeat` duty after the heartbeat recorded at `last`.
pub fn heartbeat_task_id(last: u64) -> String {
    format!("heartbeat/{last}")
}

/// The slots whose select window contains height `height + 1` (the first height a message
/// sent after the commit of `height` can be included at): `Select` is due for them now.
pub fn select_due(q: &ProtocolParams, height: u64) -> impl Iterator<Item = u64> + use<'_> {
    let next = height.saturating_add(1);
    let hi = height.saturating_add(q.bid_close);
    let lo = next
        .saturating_add(q.bid_close)
        .saturating_sub(q.select_window);
    (lo..=hi).filter(move |s| *s >= q.bid_close && auction::select_heights(q, *s).contains(&next))
}

/// `prover`'s registry entry (none: not a registered prover).
fn prover_entry<V: StateView>(
    o: &mut Overlay<'_, V>,
    prover: Address,
) -> Result<Option<parley_types::ProverEntry>, StoreError> {
    o.app(&parley_types::StateKey::Prover(prover))?
        .map(|b| {
            parley_types::ProverEntry::decode(&b)
                .map_err(|e| StoreError::Corrupt(format!("prover: {e}")))
        })
        .transpose()
}

/// The tasks `prover` has once `height` is committed, earliest deadline first. A `Select` is
/// due when the slot's select window is open at the next height, `prover` is among the
/// provers drawn for the slot, the slot has bids and no winner yet. A `Heartbeat` is due
/// once half of `heartbeat_grace` has passed since the registered prover's last one.
pub fn tasks<V: StateView>(
    o: &mut Overlay<'_, V>,
    q: &ProtocolParams,
    height: u64,
    prover: Address,
) -> Result<Vec<Task>, StoreError> {
    let mut out = Vec::new();
    for s in select_due(q, height) {
        let assigned = assignment::assigned(o, s)?.unwrap_or_default();
        if !assigned.provers.iter().any(|(p, _)| *p == prover) {
            continue;
        }
        let Some(entry) = auction::slot(o, s)? else {
            continue;
        };
        if entry.selected.is_some() {
            continue;
        }
        let Some(top) = entry.highest() else {
            continue;
        };
        out.push(Task {
            id: select_task_id(s),
            deadline_height: *auction::select_heights(q, s).end(),
            kind: TaskKind::Select {
                slot: s,
                sequencer: top.sequencer,
                commitment: top.commitment,
                amount: top.amount,
            },
        });
    }
    out.extend(prove_tasks(o, q, height, prover)?);
    out.extend(aggregate_tasks(o, q, height, prover)?);
    let entry = prover_entry(o, prover)?;
    if let Some(p) = entry {
        let next = height.saturating_add(1);
        if next.saturating_sub(p.last_heartbeat) >= (q.heartbeat_grace / 2).max(1) {
            // Due by the end of the grace; a prover already past it (inactive) gets a fresh
            // window to come back.
            let end = p.last_heartbeat.saturating_add(q.heartbeat_grace);
            out.push(Task {
                id: heartbeat_task_id(p.last_heartbeat),
                deadline_height: if end > next {
                    end
                } else {
                    next.saturating_add(q.heartbeat_grace)
                },
                kind: TaskKind::Heartbeat {
                    last: p.last_heartbeat,
                },
            });
        }
    }
    out.sort_by(|a, b| {
        a.deadline_height
            .cmp(&b.deadline_height)
            .then(a.id.cmp(&b.id))
    });
    Ok(out)
}

/// The proving duties of `prover` after `height`, oldest slot first along the proof chain,
/// one per chunk of a slot (ADR 0016). `Proof`: a chunk of a slot it was drawn for, or of one
/// nobody was drawn for, while the window is open at the next height and no fallback round has
/// opened. Fallback: a chunk of a slot whose fallback round takes commits at the next height,
/// when the prover has the stake to commit, and, once it committed, until it revealed; not a
/// chunk the slot's transitions already chain through from the proven root. Never a chunk it
/// already holds a transition for.
fn prove_tasks<V: StateView>(
    o: &mut Overlay<'_, V>,
    q: &ProtocolParams,
    height: u64,
    prover: Address,
) -> Result<Vec<Task>, StoreError> {
    let Some(p) = &q.proving else {
        return Ok(Vec::new());
    };
    let f = &p.fallback;
    let Some(chain) = proving::chain(o)? else {
        return Ok(Vec::new());
    };
    let stake = prover_entry(o, prover)?.map_or(U256::ZERO, |e| e.stake);
    let next = height.saturating_add(1);
    let mut out = Vec::new();
    let mut s = chain.head;
    // Only the oldest unproven slot chains from the proven root; later ones start wherever
    // the slots before them end, which the chain does not know yet.
    let mut root = Some(chain.proven_root);
    // The chain holds at most `unproven` slots; the bound guards against a corrupt link.
    for _ in 0..chain.unproven {
        if s == 0 {
            break;
        }
        let Some(e) = proving::proof_slot(o, s)? else {
            break;
        };
        let here = s;
        s = e.next;
        let chained = root.take().map_or(0, |r| proving::chained(&e, r).len());
        if e.proven {
            continue;
        }
        let drawn = assignment::assigned(o, here)?.unwrap_or_default().provers;
        let mine = drawn.is_empty() || drawn.iter().any(|(a, _)| *a == prover);
        for chunk in 0..e.chunks {
            if e.transitions
                .iter()
                .any(|t| t.prover == prover && t.chunk == chunk)
            {
                continue;
            }
            if e.round == 0 && next <= e.window_end && mine {
                out.push(Task {
                    id: prove_task_id(here, chunk),
                    deadline_height: e.window_end,
                    kind: TaskKind::Prove {
                        slot: here,
                        block_number: e.block_number,
                        chunk,
                        chunks: e.chunks,
                    },
                });
                continue;
            }
            let commit = e
                .commits
                .iter()
                .find(|c| c.prover == prover && c.chunk == chunk);
            // Held from the commit to the reveal, so that one job does both.
            let due = match (proving::phase(f, &e, next), commit) {
                (proving::Phase::Closed, _) => false,
                (_, Some(c)) => !c.revealed,
                (proving::Phase::Commit, None) => {
                    stake >= f.min_fallback_stake && (chunk as usize) >= chained
                }
                (proving::Phase::Reveal, None) => false,
            };
            if due {
                out.push(Task {
                    id: fallback_task_id(here, chunk, e.round),
                    deadline_height: e.round_end,
                    kind: TaskKind::Fallback {
                        slot: here,
                        block_number: e.block_number,
                        chunk,
                        chunks: e.chunks,
                        round: e.round,
                        commit_end: e.round_end.saturating_sub(f.reveal_proof_window),
                        committed: commit.is_some(),
                    },
                });
            }
        }
    }
    Ok(out)
}

/// Epochs looked at for aggregation duties at most (the chain's own bound per height).
const EPOCHS_LOOKED_AT: u64 = 64;

/// The aggregation duties of `prover` after `height`, oldest epoch first: a due epoch it was
/// drawn for while its window is open at the next height; after the window, or when nobody
/// was drawn, every due epoch if it has `min_fallback_stake` (no deadline: until someone's
/// aggregate is included).
fn aggregate_tasks<V: StateView>(
    o: &mut Overlay<'_, V>,
    q: &ProtocolParams,
    height: u64,
    prover: Address,
) -> Result<Vec<Task>, StoreError> {
    let Some(p) = &q.proving else {
        return Ok(Vec::new());
    };
    if p.aggregation.is_none() {
        return Ok(Vec::new());
    }
    let c = aggregation::cursor(o)?;
    let stake = prover_entry(o, prover)?.map(|e| e.stake);
    let Some(stake) = stake else {
        return Ok(Vec::new());
    };
    let next = height.saturating_add(1);
    let mut out = Vec::new();
    let end = c
        .next_to_close
        .min(c.oldest_due.saturating_add(EPOCHS_LOOKED_AT));
    for e in c.oldest_due..end {
        let Some(v) = aggregation::epoch(o, e)? else {
            continue;
        };
        if v.state != parley_types::EpochState::Due {
            continue;
        }
        let deadline = match v.aggregator {
            Some((drawn, _)) if next <= v.window_end => {
                if drawn != prover {
                    continue;
                }
                v.window_end
            }
            _ if stake >= p.fallback.min_fallback_stake => u64::MAX,
            _ => continue,
        };
        out.push(Task {
            id: aggregate_task_id(e),
            deadline_height: deadline,
            kind: TaskKind::Aggregate {
                epoch: e,
                blocks: u32::try_from(v.blocks.len()).unwrap_or(u32::MAX),
            },
        });
    }
    Ok(out)
}

/// Why a delivered task is withdrawn.
pub const CANCEL_DEADLINE: &str = "deadline passed";
/// Why a delivered task is withdrawn while its deadline is still ahead.
pub const CANCEL_DONE: &str = "slot selected or proven, epoch aggregated, or no longer assigned";
/// Cancel reason: another stream of the same prover holds the proving task (it named the task
/// as running when it reconnected).
pub const CANCEL_MOVED: &str = "another worker of this prover holds it";

/// What a stream sends after a commit, given the tasks it `held` (id → deadline height), the
/// tasks `due` now and the worker's `capacity` (most tasks held at once, 0 = no limit).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Delta {
    /// Tasks to deliver (not held before), earliest deadline first.
    pub send: Vec<Task>,
    /// Held tasks to cancel: (id, reason).
    pub cancel: Vec<(String, &'static str)>,
}

/// Computes the [`Delta`] and updates `held` to match it.
pub fn delta(
    held: &mut BTreeMap<String, u64>,
    due: Vec<Task>,
    height: u64,
    capacity: u32,
) -> Delta {
    let mut out = Delta::default();
    let due_ids: std::collections::BTreeSet<&str> = due.iter().map(|t| t.id.as_str()).collect();
    held.retain(|id, deadline| {
        if due_ids.contains(id.as_str()) {
            return true;
        }
        let reason = if height >= *deadline {
            CANCEL_DEADLINE
        } else {
            CANCEL_DONE
        };
        out.cancel.push((id.clone(), reason));
        false
    });
    for t in due {
        // A held task is sent again only when its deadline passed and it is still due with a
        // later one (an epoch's aggregation after the drawn aggregator's window): the worker
        // forgot it at the old deadline.
        if let Some(d) = held.get(&t.id)
            && (height < *d || t.deadline_height <= *d)
        {
            continue;
        }
        if held.contains_key(&t.id) {
            held.insert(t.id.clone(), t.deadline_height);
            out.send.push(t);
            continue;
        }
        if capacity != 0 && held.len() >= capacity as usize {
            break;
        }
        held.insert(t.id.clone(), t.deadline_height);
        out.send.push(t);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_types::{Assignment, BidEntry, Selection, SlotEntry, SlotState, StateKey};

    use crate::chain::view::AppOnly;

    const ME: Address = Address::repeat_byte(0x11);
    const OTHER: Address = Address::repeat_byte(0x22);

    fn q() -> ProtocolParams {
        ProtocolParams {
            bid_close: 8,
            bid_horizon: 16,
            select_window: 2,
            ..ProtocolParams::default()
        }
    }

    fn bid(seq: u8, amount: u64, order: u32) -> BidEntry {
        BidEntry {
            sequencer: Address::repeat_byte(seq),
            commitment: B256::repeat_byte(seq),
            amount: U256::from(amount),
            order,
        }
    }

    /// Slot `s` assigned to `prover` with `bids`, selected or not.
    fn state(entries: &[(u64, Address, Vec<BidEntry>, bool)]) -> AppOnly {
        let mut v = AppOnly::default();
        for (s, prover, bids, selected) in entries {
            v.0.insert(
                StateKey::Assignment(*s),
                Assignment {
                    provers: vec![(*prover, U256::from(1))],
                }
                .encode(),
            );
            v.0.insert(
                StateKey::Slot(*s),
                SlotEntry {
                    next_order: bids.len() as u32,
                    bids: bids.clone(),
                    selected: selected.then_some(Selection::App),
                    state: SlotState::Open,
                }
                .encode(),
            );
        }
        v
    }

    /// A proof chain awaiting slots `20` (drawn: ME), `25` (drawn: OTHER) and `30` (nobody
    /// drawn; two chunks), windows ending at 26, 31 and 36; slot 25 already holds ME's
    /// transition in `with_mine`.
    fn proving_state(with_mine: bool) -> (AppOnly, ProtocolParams) {
        let mut v = AppOnly::default();
        let q = ProtocolParams {
            proving: Some(crate::chain::genesis::ProvingParams {
                block_capacity: 8,
                max_chunks: 1,
                block_vk_hash: B256::ZERO,
                proof_index_bits: 32,
                srs: crate::chain::genesis::SrsPin::Dev,
                proof_window: 6,
                prover_fee_share_bps: 0,
                invalid_proof_fine: U256::ZERO,
                rep_up: 0,
                max_unproven_slots: 8,
                fallback: Default::default(),
                aggregation: None,
            }),
            ..q()
        };
        v.0.insert(
            StateKey::ProofChain,
            parley_types::ProofChain {
                proven_slot: 0,
                proven_root: B256::ZERO,
                head: 20,
                tail: 30,
                unproven: 3,
            }
            .encode(),
        );
        for (s, next, drawn) in [(20, 25, Some(ME)), (25, 30, Some(OTHER)), (30, 0, None)] {
            let transitions = if with_mine && s == 25 {
                vec![parley_types::Transition {
                    prover: ME,
                    chunk: 0,
                    pre_root: B256::ZERO,
                    post_root: B256::ZERO,
                    height: 27,
                    stake: U256::ZERO,
                }]
            } else {
                vec![]
            };
            v.0.insert(
                StateKey::ProofSlot(s),
                parley_types::ProofSlot {
                    block_number: s,
                    commitment: B256::ZERO,
                    window_end: s + 6,
                    fee_share: U256::ZERO,
                    next,
                    proven: false,
                    chunks: if s == 30 { 2 } else { 1 },
                    transitions,
                    round: 0,
                    round_end: 0,
                    bounty: U256::ZERO,
                    commits: vec![],
                    missed: vec![],
                }
                .encode(),
            );
            if let Some(p) = drawn {
                v.0.insert(
                    StateKey::Assignment(s),
                    Assignment {
                        provers: vec![(p, U256::from(1))],
                    }
                    .encode(),
                );
            }
        }
        (v, q)
    }

    fn prove_ids(
        o: &mut Overlay<'_, AppOnly>,
        q: &ProtocolParams,
        h: u64,
        who: Address,
    ) -> Vec<(String, u64)> {
        tasks(o, q, h, who)
            .expect("reads")
            .into_iter()
            .filter(|t| matches!(t.kind, TaskKind::Prove { .. } | TaskKind::Fallback { .. }))
            .map(|t| (t.id, t.deadline_height))
            .collect()
    }

    /// A prover is asked to prove every chunk of the slots it was drawn for and of the ones
    /// nobody was drawn for, until the window's end; never one it already holds a transition
    /// for, nor another prover's; past the window only through a fallback round; none at all
    /// on a chain without proving.
    #[test]
    fn prove_tasks_follow_the_draw_the_windows_and_the_transitions() {
        let (view, q) = proving_state(false);
        let mut o = Overlay::new(&view);
        assert_eq!(
            prove_ids(&mut o, &q, 21, ME),
            vec![
                ("prove/20/0".into(), 26),
                ("prove/30/0".into(), 36),
                ("prove/30/1".into(), 36)
            ]
        );
        assert_eq!(
            prove_ids(&mut o, &q, 21, OTHER),
            vec![
                ("prove/25/0".into(), 31),
                ("prove/30/0".into(), 36),
                ("prove/30/1".into(), 36)
            ]
        );
        // Past the windows of slots 20 and 25 (the next height is 32) without a fallback
        // round open: no `Proof` duty for them.
        assert_eq!(
            prove_ids(&mut o, &q, 31, ME),
            vec![("prove/30/0".into(), 36), ("prove/30/1".into(), 36)]
        );
        let (view, q) = proving_state(true);
        let mut o = Overlay::new(&view);
        assert_eq!(
            prove_ids(&mut o, &q, 21, ME),
            vec![
                ("prove/20/0".into(), 26),
                ("prove/30/0".into(), 36),
                ("prove/30/1".into(), 36)
            ],
            "slot 25 holds ME's transition"
        );
        let off = ProtocolParams { proving: None, ..q };
        assert!(prove_ids(&mut o, &off, 21, ME).is_empty());
    }

    /// A fallback round of slot 20 (two chunks; OTHER's transition of chunk 0 chains from
    /// the proven root) opened at height 26 (commits at 27..=34, reveals at 35..=42): a
    /// prover with `min_fallback_stake` gets `fallback/20/1/1` (chunk 1, round 1) during the
    /// commit phase and holds it until it revealed — not chunk 0, which already chains; one
    /// without the stake, or one that did not commit by the reveal phase, gets nothing.
    #[test]
    fn fallback_tasks_run_from_the_commit_to_the_reveal() {
        let (mut view, q) = proving_state(false);
        let f = q.proving.as_ref().expect("proving").fallback.clone();
        let staked = |stake| parley_types::ProverEntry {
            stake,
            reputation: parley_types::REPUTATION_ONE,
            last_heartbeat: 30,
        };
        view.0
            .insert(StateKey::Prover(ME), staked(f.min_fallback_stake).encode());
        view.0.insert(
            StateKey::Prover(OTHER),
            staked(f.min_fallback_stake - U256::from(1)).encode(),
        );
        let round = |commits: Vec<parley_types::Commit>| {
            let mut v = view.clone();
            let key = StateKey::ProofSlot(20);
            let mut e = parley_types::ProofSlot::decode(&v.0[&key]).expect("decodes");
            e.round = 1;
            e.round_end = 26 + f.commit_window + f.reveal_proof_window;
            e.commits = commits;
            e.chunks = 2;
            e.transitions = vec![parley_types::Transition {
                prover: OTHER,
                chunk: 0,
                pre_root: B256::ZERO,
                post_root: B256::repeat_byte(1),
                height: 22,
                stake: U256::ZERO,
            }];
            v.0.insert(key, e.encode());
            v
        };
        let mine = |revealed| parley_types::Commit {
            prover: ME,
            chunk: 1,
            hash: B256::repeat_byte(1),
            stake: f.min_fallback_stake,
            revealed,
        };
        let end = 26 + f.commit_window + f.reveal_proof_window;
        let fb = ("fallback/20/1/1".to_string(), end);
        let v = round(vec![]);
        let mut o = Overlay::new(&v);
        assert_eq!(
            prove_ids(&mut o, &q, 31, ME),
            vec![
                ("prove/30/0".into(), 36),
                ("prove/30/1".into(), 36),
                fb.clone()
            ]
        );
        assert_eq!(
            prove_ids(&mut o, &q, 31, OTHER),
            vec![("prove/30/0".into(), 36), ("prove/30/1".into(), 36)],
            "no fallback task: stake below the minimum"
        );
        assert_eq!(
            prove_ids(&mut o, &q, 26 + f.commit_window, ME),
            vec![("prove/30/0".into(), 36), ("prove/30/1".into(), 36)],
            "the reveal phase without a commit"
        );
        let v = round(vec![mine(false)]);
        let mut o = Overlay::new(&v);
        assert_eq!(
            prove_ids(&mut o, &q, 31, ME),
            vec![
                ("prove/30/0".into(), 36),
                ("prove/30/1".into(), 36),
                fb.clone()
            ]
        );
        let held = tasks(&mut o, &q, 26 + f.commit_window, ME).expect("reads");
        assert!(held.iter().any(|t| t.kind
            == TaskKind::Fallback {
                slot: 20,
                block_number: 20,
                chunk: 1,
                chunks: 2,
                round: 1,
                commit_end: 26 + f.commit_window,
                committed: true,
            }));
        assert!(
            prove_ids(&mut o, &q, end, ME).is_empty(),
            "the round is over"
        );
        let v = round(vec![mine(true)]);
        let mut o = Overlay::new(&v);
        assert_eq!(
            prove_ids(&mut o, &q, 26 + f.commit_window, ME),
            vec![("prove/30/0".into(), 36), ("prove/30/1".into(), 36)],
            "revealed"
        );
    }

    #[test]
    fn select_is_due_exactly_while_the_window_is_open_at_the_next_height() {
        let q = q();
        // Slot 100: select heights 93..=94, so due after the commits of 92 and 93.
        assert_eq!(auction::select_heights(&q, 100), 93..=94);
        assert!(!select_due(&q, 91).any(|s| s == 100));
        assert!(select_due(&q, 92).any(|s| s == 100));
        assert!(select_due(&q, 93).any(|s| s == 100));
        assert!(!select_due(&q, 94).any(|s| s == 100));
        assert_eq!(select_due(&q, 92).collect::<Vec<_>>(), vec![99, 100]);
        // Early heights: no slot below bid_close.
        assert_eq!(select_due(&q, 0).collect::<Vec<_>>(), vec![8]);
        let none = ProtocolParams {
            select_window: 0,
            ..q.clone()
        };
        assert_eq!(select_due(&none, 92).count(), 0);
    }

    #[test]
    fn the_assigned_prover_gets_the_highest_bid_of_an_open_slot() {
        let q = q();
        let view = state(&[(
            100,
            ME,
            vec![bid(1, 5, 0), bid(2, 9, 1), bid(3, 9, 2)],
            false,
        )]);
        let mut o = Overlay::new(&view);
        let got = tasks(&mut o, &q, 92, ME).expect("reads");
        assert_eq!(
            got,
            vec![Task {
                id: "select/100".into(),
                deadline_height: 94,
                kind: TaskKind::Select {
                    slot: 100,
                    sequencer: Address::repeat_byte(2),
                    commitment: B256::repeat_byte(2),
                    amount: U256::from(9),
                },
            }]
        );
        // Same id on the next commit (re-delivery is idempotent), none after the window.
        assert_eq!(tasks(&mut o, &q, 93, ME).expect("reads"), got);
        assert!(tasks(&mut o, &q, 94, ME).expect("reads").is_empty());
        assert!(tasks(&mut o, &q, 91, ME).expect("reads").is_empty());
    }

    #[test]
    fn no_task_for_another_prover_a_selected_slot_or_no_bids() {
        let q = q();
        let view = state(&[
            (99, OTHER, vec![bid(1, 5, 0)], false),
            (100, ME, vec![bid(1, 5, 0)], true),
        ]);
        let mut o = Overlay::new(&view);
        assert!(tasks(&mut o, &q, 92, ME).expect("reads").is_empty());
        assert_eq!(tasks(&mut o, &q, 92, OTHER).expect("reads").len(), 1);
        let view = state(&[(100, ME, vec![], false)]);
        let mut o = Overlay::new(&view);
        assert!(tasks(&mut o, &q, 92, ME).expect("reads").is_empty());
        // Not drawn at all (no assignment entry): nothing.
        let empty = AppOnly::default();
        let mut o = Overlay::new(&empty);
        assert!(tasks(&mut o, &q, 92, ME).expect("reads").is_empty());
    }

    #[test]
    fn two_open_windows_earliest_deadline_first() {
        let q = q();
        let view = state(&[
            (100, ME, vec![bid(1, 5, 0)], false),
            (99, ME, vec![bid(2, 6, 0)], false),
        ]);
        let mut o = Overlay::new(&view);
        let got = tasks(&mut o, &q, 92, ME).expect("reads");
        let ids: Vec<_> = got.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["select/99", "select/100"]);
        assert_eq!(got[0].deadline_height, 93);
    }

    fn task(slot: u64, deadline: u64) -> Task {
        Task {
            id: select_task_id(slot),
            deadline_height: deadline,
            kind: TaskKind::Select {
                slot,
                sequencer: Address::ZERO,
                commitment: B256::ZERO,
                amount: U256::from(1),
            },
        }
    }

    #[test]
    fn delta_sends_new_tasks_once_and_cancels_with_a_reason() {
        let mut held = BTreeMap::new();
        let d = delta(&mut held, vec![task(99, 93), task(100, 94)], 92, 0);
        assert_eq!(d.send.len(), 2);
        assert!(d.cancel.is_empty());
        // The same tasks again: nothing to send.
        let d = delta(&mut held, vec![task(100, 94)], 93, 0);
        assert!(d.send.is_empty());
        assert_eq!(d.cancel, vec![("select/99".to_string(), CANCEL_DEADLINE)]);
        // Gone before its deadline: selected (or reassigned).
        let d = delta(&mut held, vec![], 93, 0);
        assert_eq!(d.cancel, vec![("select/100".to_string(), CANCEL_DONE)]);
        assert!(held.is_empty());
    }

    /// A held task whose deadline passed and that is still due with a later one (an epoch's
    /// aggregation after the drawn aggregator's window) is sent again, once; a held task
    /// before its deadline is not.
    #[test]
    fn delta_sends_a_task_again_when_it_outlives_its_deadline() {
        let agg = |deadline| Task {
            id: aggregate_task_id(3),
            deadline_height: deadline,
            kind: TaskKind::Aggregate {
                epoch: 3,
                blocks: 2,
            },
        };
        let mut held = BTreeMap::new();
        assert_eq!(delta(&mut held, vec![agg(50)], 40, 0).send, vec![agg(50)]);
        assert!(delta(&mut held, vec![agg(50)], 49, 0).send.is_empty());
        assert!(
            delta(&mut held, vec![agg(u64::MAX)], 49, 0).send.is_empty(),
            "before the old deadline the worker still holds it"
        );
        assert_eq!(
            delta(&mut held, vec![agg(u64::MAX)], 50, 0).send,
            vec![agg(u64::MAX)]
        );
        assert_eq!(held.get(&aggregate_task_id(3)), Some(&u64::MAX));
        assert!(delta(&mut held, vec![agg(u64::MAX)], 51, 0).send.is_empty());
    }

    /// Epoch 0 closed with ME drawn (window to height 40), epoch 1 with nobody drawn, epoch 2
    /// aggregated: ME has `aggregate/0` until 40 and `aggregate/1` open-ended; OTHER (staked)
    /// only `aggregate/1` until the window ends, then both; POOR (below
    /// `min_fallback_stake`) and an unregistered address never; none after aggregation.
    #[test]
    fn aggregate_tasks_follow_the_draw_the_window_and_the_stake() {
        const POOR: Address = Address::repeat_byte(0x33);
        let (mut view, mut q) = proving_state(false);
        let p = q.proving.as_mut().expect("proving");
        p.aggregation = Some(crate::chain::genesis::AggregationParams {
            epoch_slots: 4,
            agg_capacity: 4,
            agg_k: 20,
            agg_vk_hash: B256::ZERO,
            agg_window: 10,
            agg_share_bps: 0,
            l1_proof: None,
            tree: None,
        });
        let min = p.fallback.min_fallback_stake;
        for (who, stake) in [(ME, min), (OTHER, min), (POOR, min - U256::from(1))] {
            view.0.insert(
                StateKey::Prover(who),
                parley_types::ProverEntry {
                    stake,
                    reputation: parley_types::REPUTATION_ONE,
                    last_heartbeat: 1_000,
                }
                .encode(),
            );
        }
        view.0.insert(
            StateKey::EpochCursor,
            parley_types::EpochCursor {
                next_to_close: 3,
                oldest_due: 0,
            }
            .encode(),
        );
        let due = |aggregator| parley_types::Epoch {
            state: parley_types::EpochState::Due,
            blocks: vec![parley_types::EpochBlock {
                slot: 1,
                chunk: 0,
                chunks: 1,
                block_number: 1,
                commitment: B256::ZERO,
                prover: OTHER,
                pre_root: B256::ZERO,
                post_root: B256::ZERO,
            }],
            closed_at: 30,
            aggregator,
            window_end: 40,
            ..Default::default()
        };
        view.0
            .insert(StateKey::Epoch(0), due(Some((ME, min))).encode());
        view.0.insert(StateKey::Epoch(1), due(None).encode());
        view.0.insert(
            StateKey::Epoch(2),
            parley_types::Epoch {
                state: parley_types::EpochState::Aggregated,
                ..due(Some((OTHER, min)))
            }
            .encode(),
        );
        let ids = |who, h| -> Vec<(String, u64)> {
            aggregate_tasks(&mut Overlay::new(&view), &q, h, who)
                .expect("reads")
                .into_iter()
                .map(|t| (t.id, t.deadline_height))
                .collect()
        };
        let open = |e| (aggregate_task_id(e), u64::MAX);
        assert_eq!(ids(ME, 35), vec![(aggregate_task_id(0), 40), open(1)]);
        assert_eq!(ids(OTHER, 35), vec![open(1)]);
        assert_eq!(ids(ME, 39), vec![(aggregate_task_id(0), 40), open(1)]);
        // The next height is past the window: open to every staked prover.
        assert_eq!(ids(ME, 40), vec![open(0), open(1)]);
        assert_eq!(ids(OTHER, 40), vec![open(0), open(1)]);
        assert!(ids(POOR, 40).is_empty());
        assert!(ids(Address::repeat_byte(0x44), 40).is_empty());
        let off = ProtocolParams {
            proving: q
                .proving
                .clone()
                .map(|p| crate::chain::genesis::ProvingParams {
                    aggregation: None,
                    ..p
                }),
            ..q.clone()
        };
        assert!(
            aggregate_tasks(&mut Overlay::new(&view), &off, 40, ME)
                .expect("reads")
                .is_empty()
        );
    }

    #[test]
    fn delta_respects_capacity() {
        let mut held = BTreeMap::new();
        let d = delta(&mut held, vec![task(99, 93), task(100, 94)], 92, 1);
        assert_eq!(d.send, vec![task(99, 93)]);
        let d = delta(&mut held, vec![task(100, 94)], 93, 1);
        assert_eq!(d.send, vec![task(100, 94)]);
        assert_eq!(d.cancel.len(), 1);
    }

    /// A registered prover is asked for a heartbeat once half its grace has passed (not
    /// before), under an id naming the heartbeat it follows, due by the end of the grace; one
    /// already past the grace gets a fresh window.
    #[test]
    fn heartbeat_is_due_from_half_the_grace() {
        let q = ProtocolParams {
            heartbeat_grace: 200,
            ..q()
        };
        let mut view = AppOnly::default();
        let entry = |last| parley_types::ProverEntry {
            stake: U256::from(1),
            reputation: parley_types::REPUTATION_ONE,
            last_heartbeat: last,
        };
        view.0.insert(StateKey::Prover(ME), entry(50).encode());
        let hb = |view: &AppOnly, h| -> Vec<Task> {
            tasks(&mut Overlay::new(view), &q, h, ME)
                .expect("reads")
                .into_iter()
                .filter(|t| matches!(t.kind, TaskKind::Heartbeat { .. }))
                .collect()
        };
        assert!(hb(&view, 148).is_empty(), "99 heights after: not yet");
        let due = hb(&view, 149);
        assert_eq!(
            due,
            vec![Task {
                id: "heartbeat/50".into(),
                deadline_height: 250,
                kind: TaskKind::Heartbeat { last: 50 },
            }]
        );
        assert!(
            hb(&view, 149).iter().all(|t| t.id == due[0].id),
            "stable id"
        );
        assert!(
            tasks(&mut Overlay::new(&view), &q, 149, OTHER)
                .expect("reads")
                .is_empty(),
            "an unregistered address has no heartbeat duty"
        );
        view.0.insert(StateKey::Prover(ME), entry(10).encode());
        assert_eq!(
            hb(&view, 400)[0].deadline_height,
            601,
            "inactive: a fresh window"
        );
    }
}
