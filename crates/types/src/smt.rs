//! The app-hash tree: a compact sparse Merkle tree over keccak256 (ADR 0001).
//!
//! Entries sit at 256-bit paths. An empty subtree hashes to zero, a subtree with exactly one
//! entry hashes to that entry's leaf hash (a shortcut, whatever its depth), and a subtree with
//! two or more entries hashes to `node(left, right)`. The root is therefore a function of the
//! set of entries alone.
//!
//! The tree keeps every leaf and a cache of the hash of every subtree holding two or more
//! leaves, so an update re-hashes only the paths it touches. Both are derivable from the
//! state and are rebuilt from the database at start-up (never persisted).

use std::collections::BTreeMap;

use alloy_primitives::{B256, keccak256};

/// Root of the empty tree.
pub const EMPTY_ROOT: B256 = B256::ZERO;

/// `keccak256(0x00 ‖ path ‖ value_hash)`.
pub fn leaf_hash(path: &B256, value_hash: &B256) -> B256 {
    let mut buf = [0u8; 65];
    buf[1..33].copy_from_slice(path.as_slice());
    buf[33..].copy_from_slice(value_hash.as_slice());
    keccak256(buf)
}

/// `keccak256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &B256, right: &B256) -> B256 {
    let mut buf = [0u8; 65];
    buf[0] = 1;
    buf[1..33].copy_from_slice(left.as_slice());
    buf[33..].copy_from_slice(right.as_slice());
    keccak256(buf)
}

fn bit(path: &B256, depth: usize) -> bool {
    (path[depth / 8] >> (7 - depth % 8)) & 1 == 1
}

/// The lowest and highest path under the subtree at `depth` containing `prefix`.
fn subtree_range(prefix: &B256, depth: usize) -> (B256, B256) {
    let mut lo = *prefix;
    let mut hi = *prefix;
    for i in depth..256 {
        let (byte, mask) = (i / 8, 1u8 << (7 - i % 8));
        lo[byte] &= !mask;
        hi[byte] |= mask;
    }
    (lo, hi)
}

/// The compact sparse Merkle tree. See the module documentation.
#[derive(Debug, Clone, Default)]
pub struct MerkleTree {
    /// path → keccak256(value bytes).
    leaves: BTreeMap<B256, B256>,
    /// (lowest path of the subtree, depth) → hash, for subtrees with ≥ 2 leaves.
    nodes: BTreeMap<(B256, u16), B256>,
    root: B256,
}

/// An inclusion or exclusion proof for one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerkleProof {
    /// Sibling hashes from the root down to the subtree where the walk stopped.
    pub siblings: Vec<B256>,
    /// The single leaf in that subtree, if any: (path, value hash).
    pub terminal: Option<(B256, B256)>,
}

impl MerkleProof {
    /// Checks that `path` holds `value_hash` (`None`: is absent) under `root`.
    pub fn verify(&self, root: &B256, path: &B256, value_hash: Option<&B256>) -> bool {
        let depth = self.siblings.len();
        if depth > 256 {
            return false;
        }
        let start = match (&self.terminal, value_hash) {
            (Some((p, vh)), Some(want)) if p == path && vh == want => leaf_hash(p, vh),
            (Some((p, vh)), None) if p != path => {
                // Exclusion: another leaf sits alone in the subtree the path leads into.
                if (0..depth).any(|i| bit(p, i) != bit(path, i)) {
                    return false;
                }
                leaf_hash(p, vh)
            }
            (None, None) => EMPTY_ROOT,
            _ => return false,
        };
        let mut h = start;
        for i in (0..depth).rev() {
            h = if bit(path, i) {
                node_hash(&self.siblings[i], &h)
            } else {
                node_hash(&h, &self.siblings[i])
            };
        }
        h == *root
    }
}

impl MerkleTree {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds the tree from (path, value hash) pairs in any order.
    pub fn from_leaves(leaves: impl IntoIterator<Item = (B256, B256)>) -> Self {
        let mut t = Self::new();
        t.update(leaves.into_iter().map(|(p, v)| (p, Some(v))));
        t
    }

    /// The current root (the app hash).
    pub fn root(&self) -> B256 {
        self.root
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.leaves.len()
    }

    /// Whether the tree has no entry.
    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty()
    }

    /// Applies a batch of writes (`Some(value hash)`) and deletes (`None`); returns the new
    /// root. Later writes to the same path win.
    pub fn update(&mut self, batch: impl IntoIterator<Item = (B256, Option<B256>)>) -> B256 {
        let mut dirty = Vec::new();
        for (path, vh) in batch {
            match vh {
                Some(vh) => {
                    self.leaves.insert(path, vh);
                }
                None => {
                    self.leaves.remove(&path);
                }
            }
            dirty.push(path);
        }
        if dirty.is_empty() {
            return self.root;
        }
        dirty.sort_unstable();
        dirty.dedup();
        self.root = self.recompute(0, B256::ZERO, &dirty);
        self.root
    }

    fn recompute(&mut self, depth: usize, prefix: B256, dirty: &[B256]) -> B256 {
        let (lo, hi) = subtree_range(&prefix, depth);
        let mut it = self.leaves.range(lo..=hi);
        let first = it.next().map(|(p, v)| (*p, *v));
        let several = it.next().is_some();
        let depth16 = u16::try_from(depth).expect("depth ≤ 256");
        if !several {
            if !dirty.is_empty() {
                // This subtree now holds at most one leaf: drop its stale cached nodes.
                let stale: Vec<_> = self
                    .nodes
                    .range((lo, depth16)..=(hi, u16::MAX))
                    .map(|(k, _)| *k)
                    .filter(|(_, d)| *d >= depth16)
                    .collect();
                for k in stale {
                    self.nodes.remove(&k);
                }
            }
            return first.map_or(EMPTY_ROOT, |(p, v)| leaf_hash(&p, &v));
        }
        if dirty.is_empty() {
            return *self
                .nodes
                .get(&(lo, depth16))
                .expect("every subtree with two or more leaves has a cached hash");
        }
        let split = dirty.partition_point(|p| !bit(p, depth));
        let mut right_prefix = lo;
        right_prefix[depth / 8] |= 1 << (7 - depth % 8);
        let left = self.recompute(depth + 1, lo, &dirty[..split]);
        let right = self.recompute(depth + 1, right_prefix, &dirty[split..]);
        let h = node_hash(&left, &right);
        self.nodes.insert((lo, depth16), h);
        h
    }

    /// Proves the presence or absence of `path`.
    pub fn prove(&self, path: &B256) -> MerkleProof {
        let mut siblings = Vec::new();
        let mut depth = 0usize;
        let mut prefix = B256::ZERO;
        loop {
            let (lo, hi) = subtree_range(&prefix, depth);
            let mut it = self.leaves.range(lo..=hi);
            let first = it.next().map(|(p, v)| (*p, *v));
            if it.next().is_none() {
                return MerkleProof {
                    siblings,
                    terminal: first,
                };
            }
            let mut right = lo;
            right[depth / 8] |= 1 << (7 - depth % 8);
            let (next, sib) = if bit(path, depth) {
                (right, lo)
            } else {
                (lo, right)
            };
            siblings.push(self.subtree_hash(depth + 1, sib));
            prefix = next;
            depth += 1;
        }
    }

    fn subtree_hash(&self, depth: usize, prefix: B256) -> B256 {
        let (lo, hi) = subtree_range(&prefix, depth);
        let mut it = self.leaves.range(lo..=hi);
        match (it.next(), it.next()) {
            (None, _) => EMPTY_ROOT,
            (Some((p, v)), None) => leaf_hash(p, v),
            _ => *self
                .nodes
                .get(&(lo, u16::try_from(depth).expect("depth ≤ 256")))
                .expect("every subtree with two or more leaves has a cached hash"),
        }
    }
}

/// Reference root computed from scratch, for tests: the definition, with no cache.
#[cfg(test)]
pub(crate) fn reference_root(leaves: &BTreeMap<B256, B256>) -> B256 {
    fn go(items: &[(B256, B256)], depth: usize) -> B256 {
        match items {
            [] => EMPTY_ROOT,
            [(p, v)] => leaf_hash(p, v),
            _ => {
                let split = items.partition_point(|(p, _)| !bit(p, depth));
                node_hash(
                    &go(&items[..split], depth + 1),
                    &go(&items[split..], depth + 1),
                )
            }
        }
    }
    let items: Vec<_> = leaves.iter().map(|(p, v)| (*p, *v)).collect();
    go(&items, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(i: u64) -> B256 {
        keccak256(i.to_be_bytes())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Any sequence of batches gives the root of the definition, and every path proves.
        #[test]
        fn incremental_matches_definition(batches in proptest::collection::vec(
            proptest::collection::vec((0u64..40, proptest::option::of(0u64..5)), 0..12), 1..8)) {
            let mut tree = MerkleTree::new();
            let mut model = BTreeMap::new();
            for batch in batches {
                let writes: Vec<_> = batch.iter().map(|(k, v)| (h(*k), v.map(h))).collect();
                for (p, v) in &writes {
                    match v { Some(v) => { model.insert(*p, *v); } None => { model.remove(p); } }
                }
                let root = tree.update(writes);
                prop_assert_eq!(root, reference_root(&model));
                for k in 0u64..40 {
                    let p = h(k);
                    let proof = tree.prove(&p);
                    prop_assert!(proof.verify(&root, &p, model.get(&p)));
                    // A wrong value never verifies.
                    prop_assert!(!proof.verify(&root, &p, Some(&h(999))));
                }
            }
            // Order independence: rebuilding from the final set gives the same root.
            prop_assert_eq!(MerkleTree::from_leaves(model.clone()).root(), tree.root());
        }
    }

    /// `base` up to bit `depth`, bit `depth` flipped, then `tail`'s bits: a path sharing exactly
    /// `depth` leading bits with `base` (`depth == 256`: `base` itself).
    fn fork(base: &B256, depth: usize, tail: &B256) -> B256 {
        let mut p = *tail;
        for i in 0..depth.min(256) {
            let (byte, mask) = (i / 8, 1u8 << (7 - i % 8));
            p[byte] = (p[byte] & !mask) | (base[byte] & mask);
        }
        if depth < 256 {
            let (byte, mask) = (depth / 8, 1u8 << (7 - depth % 8));
            p[byte] = (p[byte] & !mask) | (!base[byte] & mask);
        }
        p
    }

    /// Every way to misuse a real proof of another path, or to trim or re-label one, as an
    /// exclusion proof of `path` (which is present): none may verify.
    fn forged_exclusions(tree: &MerkleTree, path: &B256, others: &[B256]) -> Vec<MerkleProof> {
        let own = tree.prove(path);
        let mut forged = vec![
            // the inclusion proof itself, read as exclusion
            own.clone(),
            // "the walk ends in an empty subtree"
            MerkleProof {
                terminal: None,
                ..own.clone()
            },
        ];
        if !own.siblings.is_empty() {
            let mut short = own.clone();
            short.siblings.pop();
            forged.push(short.clone());
            forged.push(MerkleProof {
                terminal: None,
                ..short
            });
        }
        let mut longer = own.clone();
        longer.siblings.push(EMPTY_ROOT);
        forged.push(MerkleProof {
            terminal: None,
            ..longer
        });
        for q in others.iter().filter(|q| *q != path) {
            let theirs = tree.prove(q);
            // another path's proof (inclusion of q, or exclusion of an absent q whose walk
            // ends at `path`'s own leaf) as is
            forged.push(theirs.clone());
            // our siblings with their terminal leaf
            if let Some(t) = theirs.terminal {
                forged.push(MerkleProof {
                    terminal: Some(t),
                    ..own.clone()
                });
            }
        }
        forged
    }

    fn prefix_case() -> impl Strategy<Value = (B256, Vec<(usize, B256, u64, bool)>)> {
        let depth = prop_oneof![3 => 200usize..=256, 1 => 0usize..200];
        (
            any::<[u8; 32]>().prop_map(B256::from),
            proptest::collection::vec(
                (
                    depth,
                    any::<[u8; 32]>().prop_map(B256::from),
                    0u64..4,
                    any::<bool>(),
                ),
                1..14,
            ),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        /// Paths that share up to all 255 leading bits (the deepest nodes, where range and
        /// cache bookkeeping is easiest to get wrong): the root follows the definition through
        /// inserts and deletes, every path proves its value or its absence, and no forged
        /// exclusion proof of a present path verifies.
        #[test]
        fn long_shared_prefixes_and_forged_exclusions((base, picks) in prefix_case()) {
            let paths: Vec<B256> = picks.iter().map(|(d, t, _, _)| fork(&base, *d, t)).collect();
            let mut tree = MerkleTree::new();
            let mut model = BTreeMap::new();
            // Insert everything, then delete the ones marked `false` (and rewrite the rest).
            let first: Vec<_> = paths.iter().zip(&picks).map(|(p, (_, _, v, _))| (*p, Some(h(*v)))).collect();
            let second: Vec<_> = paths
                .iter()
                .zip(&picks)
                .map(|(p, (_, _, v, keep))| (*p, keep.then(|| h(v + 10))))
                .collect();
            for batch in [first, second] {
                for (p, v) in &batch {
                    match v { Some(v) => { model.insert(*p, *v); } None => { model.remove(p); } }
                }
                let root = tree.update(batch);
                prop_assert_eq!(root, reference_root(&model));
                let mut probes = paths.clone();
                probes.push(base);
                for p in &probes {
                    let proof = tree.prove(p);
                    let want = model.get(p);
                    prop_assert!(proof.verify(&root, p, want), "{p} does not prove {want:?}");
                    prop_assert!(!proof.verify(&root, p, Some(&h(999))));
                    match want {
                        Some(_) => {
                            for (i, f) in forged_exclusions(&tree, p, &probes).iter().enumerate() {
                                prop_assert!(!f.verify(&root, p, None), "forged exclusion #{i} of {p} verifies: {f:?}");
                            }
                        }
                        None => prop_assert!(!proof.verify(&root, p, Some(&h(0)))),
                    }
                }
            }
            prop_assert_eq!(MerkleTree::from_leaves(model.clone()).root(), tree.root());
        }
    }

    /// Two leaves that differ only in the last bit: the deepest possible node (depth 255).
    #[test]
    fn deepest_node() {
        let a = B256::repeat_byte(0x5a);
        let mut b = a;
        b[31] ^= 1;
        let mut t = MerkleTree::new();
        let root = t.update([(a, Some(h(1))), (b, Some(h(2)))]);
        // 0x5a ends in bit 0, so `a` is the left leaf.
        let (l, r) = (a, b);
        assert_eq!(
            root,
            reference_root(&BTreeMap::from([(a, h(1)), (b, h(2))]))
        );
        let pa = t.prove(&a);
        assert_eq!(pa.siblings.len(), 256);
        assert!(pa.verify(&root, &a, Some(&h(1))));
        assert!(!pa.verify(&root, &a, None));
        // Deleting one leaves the other alone at the root: a leaf hash, no node.
        let root = t.update([(r, None)]);
        assert_eq!(root, leaf_hash(&l, &h(1)));
        assert!(t.prove(&r).verify(&root, &r, None));
        assert!(!t.prove(&l).verify(&root, &l, None));
    }

    #[test]
    fn empty_and_single() {
        let mut t = MerkleTree::new();
        assert_eq!(t.root(), EMPTY_ROOT);
        assert!(t.is_empty());
        assert_eq!(t.len(), 0);
        let r = t.update([(h(1), Some(h(2)))]);
        assert_eq!(r, leaf_hash(&h(1), &h(2)));
        // `root()` answers what `update` returned (not only the empty root)
        assert_eq!(t.root(), r);
        assert!(!t.is_empty() && t.len() == 1);
        t.update([(h(3), Some(h(4)))]);
        assert_eq!(t.len(), 2);
        assert_ne!(t.root(), r);
        assert_eq!(t.update([(h(1), None), (h(3), None)]), EMPTY_ROOT);
        assert!(t.is_empty());
    }

    /// The node cache holds exactly the subtrees with two or more leaves: a subtree that drops
    /// to one leaf loses its cached nodes at every depth below it, so deletions free memory
    /// (stale nodes are never read, so only this count shows a cleanup that stopped working).
    #[test]
    fn node_cache_shrinks_with_the_tree() {
        let mut t = MerkleTree::new();
        let paths: Vec<B256> = (0..64).map(h).collect();
        t.update(paths.iter().map(|p| (*p, Some(h(7)))));
        let full = t.nodes.len();
        assert!(
            full >= 63,
            "a binary tree over 64 leaves has ≥ 63 inner nodes: {full}"
        );
        // Delete in small batches, so most cleanups happen in subtrees beside the dirty path.
        for chunk in paths[1..].chunks(5) {
            t.update(chunk.iter().map(|p| (*p, None)));
            let model: BTreeMap<B256, B256> = t.leaves.clone();
            assert_eq!(t.root(), reference_root(&model));
        }
        assert_eq!(t.len(), 1);
        assert!(t.nodes.is_empty(), "{} stale nodes", t.nodes.len());
        assert_eq!(t.root(), leaf_hash(&paths[0], &h(7)));
    }
}
