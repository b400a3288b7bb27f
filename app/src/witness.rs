//! Witnesses for provers, off the consensus path (DESIGN §2 "Proof tree", §5): a node that
//! serves provers keeps the Poseidon proof tree in a background thread, applying every
//! committed block's diff in order, and keeps for each chunk of each slot awaiting its proof
//! what a prover needs — the block witness (the chunk's entries with their openings under the
//! running root), the pre- and post-roots of the chunk, its `diff_hash`, its index and count,
//! and the block commitment — as [`parley_proofs::BlockWitness`] bytes with the prover address
//! left zero (the worker sets its own). A slot's diff is cut every `block_capacity` entries
//! (ADR 0016); chunk `i + 1` starts at the root chunk `i` ends at. Witnesses of slots already
//! proven are dropped.
//!
//! Nothing here reaches consensus: the thread reads committed blocks from the store, so a
//! slow tree delays provers, never a block. On start-up it replays the stored diffs from
//! genesis (the proof tree is not persisted).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy_primitives::Address;
use parley_proofs::{BlockHeader, BlockWitness, ProofTree};
use parley_types::{ProofSlot, StateKey};

use crate::chain::genesis::ProvingParams;
use crate::chain::view::StoreError;
use crate::store::Store;

/// How often the thread looks for committed blocks when no commit woke it.
const POLL: Duration = Duration::from_millis(200);

/// What the service has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Progress {
    /// The last block whose diff the tree holds (`None` before the genesis diff).
    pub applied_through: Option<u64>,
    /// Leaves updated since start-up.
    pub leaves: u64,
    /// Seconds spent updating the tree and building witnesses since start-up.
    pub seconds: f64,
}

#[derive(Default)]
struct State {
    progress: Progress,
    /// (slot, chunk) → encoded witness, for slots awaiting their proof.
    witnesses: BTreeMap<(u64, u32), Vec<u8>>,
    /// Set when a block could not be applied: the service stops and says why.
    failed: Option<String>,
}

/// The witness service of one node.
pub struct WitnessService {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for WitnessService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WitnessService").finish_non_exhaustive()
    }
}

impl WitnessService {
    /// Starts the background thread over `store` for a chain with `params`, waking it on every
    /// commit announced by `commits`.
    pub fn start(
        store: Store,
        chain_id: u64,
        params: ProvingParams,
        mut commits: tokio::sync::broadcast::Receiver<crate::app::Event>,
    ) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let s = state.clone();
        let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
        // Commits only wake the thread; it reads what to do from the store.
        std::thread::Builder::new()
            .name("witness-wake".into())
            .spawn(move || {
                use tokio::sync::broadcast::error::RecvError;
                loop {
                    match commits.blocking_recv() {
                        Ok(crate::app::Event::Block(_)) | Err(RecvError::Lagged(_)) => {
                            let _ = wake.try_send(());
                        }
                        Ok(_) => {}
                        Err(RecvError::Closed) => return,
                    }
                }
            })
            .expect("spawning the witness wake thread");
        std::thread::Builder::new()
            .name("witness".into())
            .spawn(move || run(&store, chain_id, &params, &s, &woken))
            .expect("spawning the witness thread");
        Self { state }
    }

    /// The encoded witness of chunk `chunk` of `slot`, if the slot awaits its proof, has that
    /// chunk, and the tree has reached it.
    pub fn witness(&self, slot: u64, chunk: u32) -> Option<Vec<u8>> {
        self.state
            .lock()
            .expect("witness state")
            .witnesses
            .get(&(slot, chunk))
            .cloned()
    }

    /// How far the service got.
    pub fn progress(&self) -> Progress {
        self.state.lock().expect("witness state").progress
    }

    /// Why the service stopped, if it did.
    pub fn failed(&self) -> Option<String> {
        self.state.lock().expect("witness state").failed.clone()
    }
}

fn run(
    store: &Store,
    chain_id: u64,
    params: &ProvingParams,
    state: &Mutex<State>,
    woken: &std::sync::mpsc::Receiver<()>,
) {
    let mut tree = ProofTree::new();
    let mut next = 0u64;
    loop {
        if let Err(e) = catch_up(store, chain_id, params, state, &mut tree, &mut next) {
            tracing::error!(error = %e, "witness service stopped");
            state.lock().expect("witness state").failed = Some(e);
            return;
        }
        match woken.recv_timeout(POLL) {
            Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {}
        }
    }
}

/// Applies every committed block from `next` on; builds the witness of each slot that awaits
/// a proof; drops witnesses of proven slots.
fn catch_up(
    store: &Store,
    chain_id: u64,
    params: &ProvingParams,
    state: &Mutex<State>,
    tree: &mut ProofTree,
    next: &mut u64,
) -> Result<(), String> {
    let err = |e: StoreError| e.to_string();
    let r = store.reader().map_err(err)?;
    let latest = r.meta().map_err(err)?.last_block_number;
    let capacity = usize::try_from(params.block_capacity).map_err(|e| e.to_string())?;
    while *next <= latest {
        let n = *next;
        let Some(diff) = r.diff(n).map_err(err)? else {
            // Before the genesis block (a chain starting above height 1) there is nothing.
            *next += 1;
            continue;
        };
        #[allow(clippy::disallowed_methods)] // a metric of the service, never state
        let t0 = std::time::Instant::now();
        let due = r
            .app_entry(&StateKey::ProofSlot(n))
            .map_err(err)?
            .map(|b| ProofSlot::decode(&b).map_err(|e| e.to_string()))
            .transpose()?
            .filter(|s| s.block_number == n && !s.proven);
        let mut built = Vec::new();
        match due {
            Some(slot) => {
                let count = parley_types::chunk_count(diff.0.len(), params.block_capacity);
                if count != u64::from(slot.chunks) {
                    return Err(format!(
                        "block {n}: {count} chunks, the chain says {}",
                        slot.chunks
                    ));
                }
                for c in 0..slot.chunks {
                    let header = BlockHeader {
                        chain_id,
                        slot: n,
                        chunk_index: c,
                        chunk_count: slot.chunks,
                        block_commitment: slot.commitment,
                        prover_address: Address::ZERO,
                    };
                    let part = diff.chunk(u64::from(c), params.block_capacity);
                    let w = BlockWitness::build(tree, header, &part, capacity)
                        .map_err(|e| format!("block {n} chunk {c}: {e}"))?;
                    built.push(((n, c), w.encode()));
                }
            }
            None => {
                tree.apply_diff_batch(&diff)
                    .map_err(|e| format!("block {n}: {e}"))?;
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        let head = proof_head(&r)?;
        let mut s = state.lock().expect("witness state");
        s.witnesses.extend(built);
        // Proven slots need no witness any more.
        s.witnesses = s.witnesses.split_off(&(head, 0));
        s.progress.applied_through = Some(n);
        s.progress.leaves += diff.0.len() as u64;
        s.progress.seconds += secs;
        drop(s);
        if !diff.0.is_empty() {
            crate::node::metrics::witness_block(diff.0.len(), secs);
        }
        *next += 1;
    }
    // Proofs may arrive while no block changes the tree: drop what they proved.
    let head = proof_head(&r)?;
    let mut s = state.lock().expect("witness state");
    s.witnesses = s.witnesses.split_off(&(head, 0));
    Ok(())
}

/// The oldest slot awaiting its proof (`u64::MAX` when none does).
fn proof_head(r: &crate::store::Reader) -> Result<u64, String> {
    let c = crate::chain::proving::chain(&mut crate::chain::overlay::Overlay::new(r))
        .map_err(|e| e.to_string())?;
    Ok(c.map_or(u64::MAX, |c| if c.head == 0 { u64::MAX } else { c.head }))
}
