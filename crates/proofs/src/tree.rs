//! The Poseidon proof tree of ADR 0001: a dense binary Merkle tree of depth 32 over BN254
//! `Fr`, leaf `i` = the entry whose `proof_index` is `i`, empty leaves are 0,
//! `node = Poseidon(left, right)`.
//!
//! Only non-empty nodes are stored; an empty subtree of height `h` has the precomputed hash
//! `zeros[h]`. The root is a function of the set of (index, leaf hash) pairs alone, so the
//! sequential update (which records Merkle paths for the circuit) and the batch update (which
//! hashes each dirty node once) always agree.

use crate::{
    encoding::entry_leaf_hashes,
    error::{ProofError, Result},
    poseidon::hash2,
    types::{DiffEntry, StateDiff},
};
use halo2_base::halo2_proofs::halo2curves::bn256::Fr;
use std::collections::{BTreeMap, BTreeSet};

/// Depth of the proof tree (ADR 0001): the consensus constant of `parley-types`, which also
/// bounds the indices the chain hands out (ADR 0011).
pub const PROOF_TREE_DEPTH: usize = parley_types::PROOF_TREE_DEPTH;

/// The Merkle path of one leaf: sibling hashes from the leaf level (0) to just below the root.
pub type MerklePath = [Fr; PROOF_TREE_DEPTH];

/// Hashes of empty subtrees: `zeros()[h]` is the root of an empty subtree of height `h`.
pub fn zeros() -> &'static [Fr; PROOF_TREE_DEPTH + 1] {
    static Z: std::sync::LazyLock<[Fr; PROOF_TREE_DEPTH + 1]> = std::sync::LazyLock::new(|| {
        let mut z = [Fr::zero(); PROOF_TREE_DEPTH + 1];
        for h in 1..=PROOF_TREE_DEPTH {
            z[h] = hash2(z[h - 1], z[h - 1]);
        }
        z
    });
    &Z
}

/// Root of the empty proof tree.
pub fn empty_root() -> Fr {
    zeros()[PROOF_TREE_DEPTH]
}

/// What the circuit needs to re-play one leaf update.
#[derive(Clone, Debug, PartialEq)]
pub struct LeafUpdate {
    /// Leaf index.
    pub index: u64,
    /// Leaf hash before.
    pub old_leaf: Fr,
    /// Leaf hash after.
    pub new_leaf: Fr,
    /// Siblings under the running root (the root before this update).
    pub path: MerklePath,
    /// Root before this update.
    pub root_before: Fr,
    /// Root after this update.
    pub root_after: Fr,
}

/// The proof tree.
#[derive(Clone, Debug)]
pub struct ProofTree {
    /// `levels[h]` maps a node index at height `h` (0 = leaves) to its hash, non-empty only.
    levels: Vec<BTreeMap<u64, Fr>>,
}

impl Default for ProofTree {
    fn default() -> Self {
        Self::new()
    }
}

impl ProofTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self {
            levels: vec![BTreeMap::new(); PROOF_TREE_DEPTH + 1],
        }
    }

    /// Current root.
    pub fn root(&self) -> Fr {
        self.node(PROOF_TREE_DEPTH, 0)
    }

    /// Number of non-empty leaves.
    pub fn len(&self) -> usize {
        self.levels[0].len()
    }

    /// Whether no leaf is set.
    pub fn is_empty(&self) -> bool {
        self.levels[0].is_empty()
    }

    fn node(&self, h: usize, i: u64) -> Fr {
        self.levels[h].get(&i).copied().unwrap_or(zeros()[h])
    }

    fn set_node(&mut self, h: usize, i: u64, v: Fr) {
        if v == zeros()[h] {
            self.levels[h].remove(&i);
        } else {
            self.levels[h].insert(i, v);
        }
    }

    /// Leaf hash at `index` (0 if empty).
    pub fn leaf(&self, index: u64) -> Fr {
        self.node(0, index)
    }

    /// Merkle path of `index` under the current root.
    pub fn path(&self, index: u64) -> Result<MerklePath> {
        check_index(index)?;
        let mut path = [Fr::zero(); PROOF_TREE_DEPTH];
        let mut i = index;
        for (h, p) in path.iter_mut().enumerate() {
            *p = self.node(h, i ^ 1);
            i >>= 1;
        }
        Ok(path)
    }

    /// Set one leaf, recompute its path, and return the update record.
    pub fn set_leaf(&mut self, index: u64, new_leaf: Fr) -> Result<LeafUpdate> {
        let path = self.path(index)?;
        let old_leaf = self.leaf(index);
        let root_before = self.root();
        let mut cur = new_leaf;
        let mut i = index;
        self.set_node(0, i, cur);
        for (h, sib) in path.iter().enumerate() {
            cur = if i & 1 == 0 {
                hash2(cur, *sib)
            } else {
                hash2(*sib, cur)
            };
            i >>= 1;
            self.set_node(h + 1, i, cur);
        }
        Ok(LeafUpdate {
            index,
            old_leaf,
            new_leaf,
            path,
            root_before,
            root_after: cur,
        })
    }

    /// Apply a diff entry by entry, checking each `old` against the tree, and return the
    /// per-entry update records (the block circuit's witness). On error the tree is unchanged.
    pub fn apply_diff(&mut self, diff: &StateDiff) -> Result<Vec<LeafUpdate>> {
        let hashes = self.check_diff(diff)?;
        let mut out = Vec::with_capacity(diff.0.len());
        for (e, (_, new)) in diff.0.iter().zip(hashes) {
            out.push(self.set_leaf(e.index, new)?);
        }
        Ok(out)
    }

    /// Apply a diff, hashing every dirty node once (no paths recorded). Same root as
    /// [`ProofTree::apply_diff`]. On error the tree is unchanged.
    pub fn apply_diff_batch(&mut self, diff: &StateDiff) -> Result<Fr> {
        let hashes = self.check_diff(diff)?;
        let mut dirty = BTreeSet::new();
        for (e, (_, new)) in diff.0.iter().zip(hashes) {
            self.set_node(0, e.index, new);
            dirty.insert(e.index >> 1);
        }
        for h in 1..=PROOF_TREE_DEPTH {
            let mut next = BTreeSet::new();
            for &i in &dirty {
                let v = hash2(self.node(h - 1, 2 * i), self.node(h - 1, 2 * i + 1));
                self.set_node(h, i, v);
                next.insert(i >> 1);
            }
            dirty = next;
        }
        Ok(self.root())
    }

    /// Validate a diff against the tree: indices in range and distinct, kinds consistent,
    /// every `old` equal to the stored leaf. Returns (old, new) leaf hashes.
    pub fn check_diff(&self, diff: &StateDiff) -> Result<Vec<(Fr, Fr)>> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::with_capacity(diff.0.len());
        for (pos, e) in diff.0.iter().enumerate() {
            check_index(e.index)?;
            if !seen.insert(e.index) {
                return Err(ProofError::DuplicateIndex(e.index));
            }
            let (old, new) = entry_hashes(pos, e)?;
            if self.leaf(e.index) != old {
                return Err(ProofError::OldValueMismatch {
                    position: pos,
                    index: e.index,
                });
            }
            out.push((old, new));
        }
        Ok(out)
    }
}

pub(crate) fn entry_hashes(pos: usize, e: &DiffEntry) -> Result<(Fr, Fr)> {
    entry_leaf_hashes(e).ok_or(ProofError::KindMismatch(pos))
}

fn check_index(index: u64) -> Result<()> {
    if index >> PROOF_TREE_DEPTH != 0 {
        return Err(ProofError::IndexOutOfRange(index));
    }
    Ok(())
}

/// Recompute a root from a leaf and its path (what the circuit does).
pub fn root_from_path(index: u64, leaf: Fr, path: &MerklePath) -> Fr {
    let mut cur = leaf;
    let mut i = index;
    for sib in path {
        cur = if i & 1 == 0 {
            hash2(cur, *sib)
        } else {
            hash2(*sib, cur)
        };
        i >>= 1;
    }
    cur
}
