//! The node's block-proof checking ([`crate::chain::proving::ProofCheck`]): the block
//! circuit's verifying key, built from the circuit on first use and checked against the hash
//! genesis pins, and the `diff_hash` of each chunk of every executed slot (ADR 0016: the diff
//! cut every `block_capacity` entries), computed by a background thread
//! right after Commit (DESIGN §2) and, when a proof arrives before that thread got to it,
//! synchronously in FinalizeBlock. Nothing here computes a Poseidon *tree*.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use alloy_primitives::B256;
use parley_proofs::aggregation::EpochVerifier;
use parley_proofs::encoding::{fr_from_b256, fr_to_b256};
use parley_proofs::{BlockHeader, BlockPublicInputs, BlockVerifier};

use crate::chain::genesis::{ProvingParams, SrsPin};
use crate::chain::proving::{ProofCheck, Statement};
use crate::chain::view::StoreError;
use crate::store::Store;

/// How many computed `diff_hash`es are kept (a proof for an older slot computes it again).
const CACHE: usize = 4096;

/// Blocks queued for the background thread at most; past it, FinalizeBlock computes.
const QUEUE: usize = 1024;

/// `diff_hash` of each chunk of a stored block's diff cut every `capacity` entries (none for
/// an empty diff).
pub fn diff_hash_of(store: &Store, number: u64, capacity: u64) -> Result<Vec<B256>, StoreError> {
    let diff = store
        .reader()?
        .diff(number)?
        .ok_or_else(|| StoreError::Corrupt(format!("no diff stored for L2 block {number}")))?;
    let chunks = parley_types::chunk_count(diff.0.len(), capacity);
    (0..chunks)
        .map(|c| {
            parley_proofs::diff_hash::diff_hash(&diff.chunk(c, capacity))
                .map(|h| fr_to_b256(&h))
                .map_err(|e| StoreError::Corrupt(format!("diff of L2 block {number}: {e}")))
        })
        .collect()
}

#[derive(Default)]
struct Cache {
    by_block: BTreeMap<u64, Vec<B256>>,
}

impl Cache {
    fn put(&mut self, number: u64, h: Vec<B256>) {
        self.by_block.insert(number, h);
        while self.by_block.len() > CACHE {
            self.by_block.pop_first();
        }
    }
}

/// Shared between the consensus path and the background thread.
struct Shared {
    cache: Mutex<Cache>,
    /// Tests hold the thread back to show that FinalizeBlock does not wait for it.
    paused: AtomicBool,
    resumed: Condvar,
    pause_lock: Mutex<()>,
}

/// The node's [`ProofCheck`].
pub struct Verifier {
    store: Store,
    params: ProvingParams,
    key: OnceLock<Result<BlockVerifier, String>>,
    epoch_key: OnceLock<Result<EpochVerifier, String>>,
    l1_key: OnceLock<Result<parley_proofs::aggregation::CompressionVerifier, String>>,
    shared: Arc<Shared>,
    queue: SyncSender<u64>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier for `params` reading diffs from `store`, with its background thread.
    pub fn new(store: Store, params: ProvingParams) -> Self {
        let shared = Arc::new(Shared {
            cache: Mutex::new(Cache::default()),
            paused: AtomicBool::new(false),
            resumed: Condvar::new(),
            pause_lock: Mutex::new(()),
        });
        let (queue, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let (s, st) = (shared.clone(), store.clone());
        let capacity = params.block_capacity;
        std::thread::Builder::new()
            .name("diff-hash".into())
            .spawn(move || background(&st, capacity, &s, &rx))
            .expect("spawning the diff_hash thread");
        Self {
            store,
            params,
            key: OnceLock::new(),
            epoch_key: OnceLock::new(),
            l1_key: OnceLock::new(),
            shared,
            queue,
        }
    }

    /// After Commit of L2 block `number` with a non-empty diff: hash it in the background.
    pub fn committed(&self, number: u64) {
        match self.queue.try_send(number) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                tracing::debug!(
                    number,
                    "diff_hash queue full: a proof will hash it in FinalizeBlock"
                );
            }
        }
    }

    /// Holds (true) or releases (false) the background thread.
    #[doc(hidden)]
    pub fn pause_background(&self, paused: bool) {
        self.shared.paused.store(paused, Ordering::SeqCst);
        let _g = self.shared.pause_lock.lock().expect("pause lock");
        self.shared.resumed.notify_all();
    }

    /// Whether the background thread has hashed block `number` (tests, metrics).
    pub fn has_diff_hash(&self, number: u64) -> bool {
        self.shared
            .cache
            .lock()
            .expect("diff_hash cache")
            .by_block
            .contains_key(&number)
    }

    /// Builds the block verifier now (startup), so the first proof does not wait for keygen.
    pub fn warm(&self) -> Result<(), StoreError> {
        self.key().map(|_| ())
    }

    /// On a chain that aggregates epochs, builds the epoch verifier on a background thread
    /// (a verifying-key keygen: minutes), so the first `Aggregate` waits only for what is
    /// left of it. A key that does not hash to the pin is logged now; the first `Aggregate`
    /// then stops the node (the circuit is consensus).
    pub fn warm_epoch(self: &Arc<Self>) {
        if self.params.aggregation.is_none() {
            return;
        }
        let this = self.clone();
        let spawned = std::thread::Builder::new()
            .name("epoch-verifier".into())
            .spawn(move || {
                match this.epoch_key() {
                    Ok(_) => tracing::info!("epoch-aggregate verifier ready"),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot verify this chain's epoch aggregates")
                    }
                }
                let takes_l1 = this
                    .params
                    .aggregation
                    .as_ref()
                    .is_some_and(|a| a.l1_proof.is_some());
                if takes_l1 {
                    match this.l1_key() {
                        Ok(_) => tracing::info!("L1 epoch-proof verifier ready"),
                        Err(e) => {
                            tracing::error!(error = %e, "cannot verify this chain's L1 epoch proofs")
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "epoch verifier not warmed; built at the first Aggregate");
        }
    }

    fn key(&self) -> Result<&BlockVerifier, StoreError> {
        let built = self.key.get_or_init(|| {
            let capacity = usize::try_from(self.params.block_capacity)
                .map_err(|_| "block_capacity does not fit usize".to_string())?;
            check_srs(&parley_proofs::params::selected(), &self.params.srs)?;
            let bits = self.params.proof_index_bits;
            let v = BlockVerifier::setup_for(capacity, bits).map_err(|e| e.to_string())?;
            if v.vk_hash() != self.params.block_vk_hash {
                return Err(format!(
                    "this node's block circuit of capacity {capacity}, {bits} index bits, hashes to {}, genesis pins {}",
                    v.vk_hash(),
                    self.params.block_vk_hash
                ));
            }
            Ok(v)
        });
        built.as_ref().map_err(|e| StoreError::Verifier(e.clone()))
    }

    /// The epoch verifier (the aggregation circuit's verifying key alone), built on the first
    /// `Aggregate` and checked against the hash genesis pins.
    fn epoch_key(&self) -> Result<&EpochVerifier, StoreError> {
        let built = self.epoch_key.get_or_init(|| {
            let a = self
                .params
                .aggregation
                .as_ref()
                .ok_or("an Aggregate on a chain without aggregation params")?;
            let block = self.key().map_err(|e| e.to_string())?;
            let shape = a.shape();
            // Read from the key cache when this node (or the genesis tool on this machine)
            // made it before: making it takes minutes and gigabytes. A damaged file is made
            // again; the pin below decides either way.
            let dir = parley_proofs::params::params_dir();
            let cached = || EpochVerifier::setup_cached(block, &shape, a.agg_vk_hash, &dir);
            let (v, source) = match cached() {
                Err(parley_proofs::ProofError::DamagedCache { path, reason }) => {
                    tracing::warn!(path = %path.display(), %reason, "damaged epoch-verifier cache; making the key again");
                    let _ = std::fs::remove_file(&path);
                    cached()
                }
                other => other,
            }
            .map_err(|e| e.to_string())?;
            tracing::info!(?source, vk = %v.vk_hash(), "epoch verifier key");
            if v.vk_hash() != a.agg_vk_hash {
                return Err(format!(
                    "this node's aggregation circuit ({shape:?}) hashes to {}, genesis pins {}",
                    v.vk_hash(),
                    a.agg_vk_hash
                ));
            }
            Ok(v)
        });
        built.as_ref().map_err(|e| StoreError::Verifier(e.clone()))
    }
}

impl Verifier {
    /// The compression verifier (the L1 proof's verifying key alone), built on the first
    /// `EpochProof` (or by [`Verifier::warm_epoch`]) and checked against the hash genesis pins.
    fn l1_key(&self) -> Result<&parley_proofs::aggregation::CompressionVerifier, StoreError> {
        let built = self.l1_key.get_or_init(|| {
            let l1 = self
                .params
                .aggregation
                .as_ref()
                .and_then(|a| a.l1_proof)
                .ok_or("an EpochProof on a chain without l1_proof params")?;
            let inner = self.epoch_key().map_err(|e| e.to_string())?;
            let dir = parley_proofs::params::params_dir();
            let cached = || {
                parley_proofs::aggregation::CompressionVerifier::setup_cached(
                    inner, l1.k, l1.vk_hash, &dir,
                )
            };
            let (v, source) = match cached() {
                Err(parley_proofs::ProofError::DamagedCache { path, reason }) => {
                    tracing::warn!(path = %path.display(), %reason, "damaged L1-verifier cache; making the key again");
                    let _ = std::fs::remove_file(&path);
                    cached()
                }
                other => other,
            }
            .map_err(|e| e.to_string())?;
            tracing::info!(?source, vk = %v.vk_hash(), "L1 epoch-proof verifier key");
            if v.vk_hash() != l1.vk_hash {
                return Err(format!(
                    "this node's compression circuit (k = {}) hashes to {}, genesis pins {}",
                    l1.k,
                    v.vk_hash(),
                    l1.vk_hash
                ));
            }
            Ok(v)
        });
        built.as_ref().map_err(|e| StoreError::Verifier(e.clone()))
    }
}

/// Whether this process's trusted setup is the one genesis pins (ADR 0014). A node checking
/// proofs with another setup than its peers would disagree with them on which proofs verify.
pub fn check_srs(selected: &parley_proofs::params::Srs, pin: &SrsPin) -> Result<(), String> {
    use parley_proofs::params::Srs;
    match (selected, pin) {
        (Srs::Unset(why), _) => Err(why.clone()),
        (Srs::Dev, SrsPin::Dev) => Ok(()),
        (Srs::Ceremony(c), SrsPin::Ceremony { hash, .. }) if c.hash() == *hash => Ok(()),
        (Srs::Ceremony(c), SrsPin::Ceremony { hash, k }) => Err(format!(
            "the ceremony file {} (k = {}) hashes to {}; genesis pins {hash} (k = {k}): \
             damaged, or another ceremony's",
            c.path().display(),
            c.k(),
            c.hash()
        )),
        (Srs::Dev, SrsPin::Ceremony { hash, k }) => Err(format!(
            "this node is configured with srs = \"dev\", but genesis pins the ceremony file \
             with keccak256 {hash} (k = {k}): set `srs` to that file"
        )),
        (Srs::Ceremony(c), SrsPin::Dev) => Err(format!(
            "genesis uses the development setup, but this node is configured with the \
             ceremony file {}: set srs = \"dev\" (this chain's proofs are forgeable)",
            c.path().display()
        )),
    }
}

fn background(store: &Store, capacity: u64, shared: &Shared, rx: &Receiver<u64>) {
    while let Ok(number) = rx.recv() {
        {
            let mut g = shared.pause_lock.lock().expect("pause lock");
            while shared.paused.load(Ordering::SeqCst) {
                g = shared.resumed.wait(g).expect("pause lock");
            }
        }
        match diff_hash_of(store, number, capacity) {
            Ok(h) => shared.cache.lock().expect("diff_hash cache").put(number, h),
            Err(e) => tracing::warn!(number, error = %e, "diff_hash in the background failed"),
        }
    }
}

impl ProofCheck for Verifier {
    fn diff_hashes(&self, number: u64) -> Result<Vec<B256>, StoreError> {
        if let Some(h) = self
            .shared
            .cache
            .lock()
            .expect("diff_hash cache")
            .by_block
            .get(&number)
        {
            return Ok(h.clone());
        }
        let h = diff_hash_of(&self.store, number, self.params.block_capacity)?;
        self.shared
            .cache
            .lock()
            .expect("diff_hash cache")
            .put(number, h.clone());
        Ok(h)
    }

    fn verify(&self, st: &Statement, proof: &[u8]) -> Result<Result<(), String>, StoreError> {
        let key = self.key()?;
        let fr = |b: &B256, what: &str| {
            fr_from_b256(b).ok_or_else(|| format!("{what} is not below the BN254 modulus"))
        };
        let public = match (
            fr(&st.pre_root, "pre_root"),
            fr(&st.post_root, "post_root"),
            fr(&st.diff_hash, "diff_hash"),
        ) {
            (Ok(pre_root), Ok(post_root), Ok(diff_hash)) => BlockPublicInputs {
                header: BlockHeader {
                    chain_id: st.chain_id,
                    slot: st.slot,
                    chunk_index: st.chunk,
                    chunk_count: st.chunks,
                    block_commitment: st.commitment,
                    prover_address: st.prover,
                },
                pre_root,
                post_root,
                diff_hash,
            },
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return Ok(Err(e)),
        };
        // Malformed bytes are the sender's problem, never a crash of every validator.
        let verdict =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| key.verify(&public, proof)));
        Ok(match verdict {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the verifier panicked on these bytes".into()),
        })
    }
    fn verify_epoch(
        &self,
        st: &crate::chain::aggregation::EpochStatement<'_>,
        proof: &[u8],
    ) -> Result<Result<B256, String>, StoreError> {
        let key = self.epoch_key()?;
        let mut pis = Vec::with_capacity(st.blocks.len());
        for b in st.blocks {
            let dh = self
                .diff_hashes(b.block_number)?
                .get(b.chunk as usize)
                .copied()
                .ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "slot {}: no chunk {} in its diff",
                        b.slot, b.chunk
                    ))
                })?;
            let fr = |x: &B256, what: &str| {
                fr_from_b256(x).ok_or_else(|| {
                    StoreError::Corrupt(format!("slot {}: {what} is not a field element", b.slot))
                })
            };
            let public = BlockPublicInputs {
                header: BlockHeader {
                    chain_id: st.chain_id,
                    slot: b.slot,
                    chunk_index: b.chunk,
                    chunk_count: b.chunks,
                    block_commitment: b.commitment,
                    prover_address: b.prover,
                },
                pre_root: fr(&b.pre_root, "pre_root")?,
                post_root: fr(&b.post_root, "post_root")?,
                diff_hash: fr(&dh, "diff_hash")?,
            };
            pis.push(public.pi_hash());
        }
        let (Some(first), Some(last)) = (st.blocks.first(), st.blocks.last()) else {
            return Err(StoreError::Corrupt("an epoch due with no block".into()));
        };
        let capacity = usize::try_from(st.capacity)
            .map_err(|_| StoreError::Corrupt("agg_capacity does not fit usize".into()))?;
        let commitment =
            parley_proofs::aggregation::epoch_commitment(&st.aggregator, capacity, &pis)
                .ok_or_else(|| {
                    StoreError::Corrupt("an epoch with more blocks than agg_capacity".into())
                })?;
        let public = parley_proofs::aggregation::EpochPublicInputs {
            first_pre_root: fr_from_b256(&first.pre_root)
                .ok_or_else(|| StoreError::Corrupt("first pre_root".into()))?,
            last_post_root: fr_from_b256(&last.post_root)
                .ok_or_else(|| StoreError::Corrupt("last post_root".into()))?,
            epoch_commitment: commitment,
        };
        Ok(match key.verify(&public, proof) {
            Ok(()) => Ok(fr_to_b256(&commitment)),
            Err(e) => Err(e.to_string()),
        })
    }
    fn verify_l1(
        &self,
        st: &crate::chain::aggregation::L1Statement,
        proof: &[u8],
    ) -> Result<Result<(), String>, StoreError> {
        let key = self.l1_key()?;
        let fr = |x: &B256, what: &str| {
            fr_from_b256(x)
                .ok_or_else(|| StoreError::Corrupt(format!("{what} is not a field element")))
        };
        let public = parley_proofs::aggregation::EpochPublicInputs {
            first_pre_root: fr(&st.first_pre_root, "first pre_root")?,
            last_post_root: fr(&st.last_post_root, "last post_root")?,
            epoch_commitment: fr(&st.epoch_commitment, "epoch_commitment")?,
        };
        Ok(key.verify(&public, proof).map_err(|e| e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_proofs::params::{Ceremony, Srs, generate_srs, write_ceremony_file};

    #[test]
    fn a_node_checks_proofs_only_with_the_setup_genesis_pins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ceremony.srs");
        let hash = write_ceremony_file(&path, &generate_srs(4)).expect("write");
        let c = Srs::Ceremony(Arc::new(Ceremony::load(&path, None).expect("load")));
        let pinned = SrsPin::Ceremony { hash, k: 4 };
        let other = SrsPin::Ceremony {
            hash: B256::repeat_byte(1),
            k: 4,
        };
        assert_eq!(check_srs(&Srs::Dev, &SrsPin::Dev), Ok(()));
        assert_eq!(check_srs(&c, &pinned), Ok(()));
        let refused = |s: &Srs, p: &SrsPin, says: &str| {
            let e = check_srs(s, p).expect_err(says);
            assert!(e.contains(says), "{e} should say {says}");
        };
        refused(&c, &other, "damaged, or another ceremony's");
        refused(&Srs::Dev, &pinned, "configured with srs = \"dev\"");
        refused(&c, &SrsPin::Dev, "genesis uses the development setup");
        refused(
            &Srs::Unset("key `srs` is not set".into()),
            &SrsPin::Dev,
            "is not set",
        );
    }
}
