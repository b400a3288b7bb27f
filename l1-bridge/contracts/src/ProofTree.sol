// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.19;

import {PoseidonT4} from "./PoseidonT4.sol";

/// @title ProofTree — the Poseidon proof tree of ADR 0001/0003 on L1
/// @notice Recomputes a proof-tree root from an account's fields, its leaf index and its
/// Merkle path, as `parley_proofs::tree::root_from_path` does: a dense binary tree of depth
/// 32, `node = Poseidon(left, right)`, siblings from the leaf level up, bit h of the index
/// saying whether the running node is the right child at level h. The escape hatch compares
/// the result with the last finalized root. Checked against the native code by
/// `test/ProofTree.t.sol` (vectors from `crates/proofs/tests/l1_vectors.rs`).
library ProofTree {
    /// Depth of the proof tree (`PROOF_TREE_DEPTH`; l1_vectors.rs checks it is the same).
    uint256 internal constant DEPTH = 32;

    /// The path does not have DEPTH siblings.
    error ProofTreePathLength(uint256 length);
    /// The sibling at `level` is not a field element (≥ r).
    error ProofTreeSiblingNotInField(uint256 level);
    /// The leaf index does not fit the tree (≥ 2^DEPTH).
    error ProofTreeIndexOutOfRange(uint64 index);
    /// An account nonce is a u64 on L2.
    error ProofTreeNonceTooLarge(uint256 nonce);

    /// The account's leaf hash: `Poseidon([1, address, nonce, balance_hi, balance_lo,
    /// code_hash_hi, code_hash_lo])` with the 256-bit words split into big-endian 128-bit halves
    /// (`parley_proofs::encoding::leaf_hash`).
    function accountLeaf(address account, uint256 nonce, uint256 balance, bytes32 codeHash)
        internal
        pure
        returns (uint256)
    {
        if (nonce >> 64 != 0) revert ProofTreeNonceTooLarge(nonce);
        uint256[] memory fields = new uint256[](7);
        fields[0] = 1; // KIND_ACCOUNT
        fields[1] = uint160(account);
        fields[2] = nonce;
        fields[3] = balance >> 128;
        fields[4] = uint128(balance);
        fields[5] = uint256(codeHash) >> 128;
        fields[6] = uint128(uint256(codeHash));
        return PoseidonT4.hash(fields);
    }

    /// The root of the tree in which leaf `index` is the account's leaf and `siblings` (leaf
    /// level first, DEPTH of them, each < r) is its path. Reverts on a malformed path, an index
    /// ≥ 2^DEPTH (so one leaf has one index) or a nonce ≥ 2^64.
    function accountLeafRoot(
        address account,
        uint256 nonce,
        uint256 balance,
        bytes32 codeHash,
        uint64 index,
        bytes32[] calldata siblings
    ) internal pure returns (bytes32 root) {
        if (siblings.length != DEPTH) revert ProofTreePathLength(siblings.length);
        if (index >> DEPTH != 0) revert ProofTreeIndexOutOfRange(index);
        uint256 node = accountLeaf(account, nonce, balance, codeHash);
        uint256 bits = index;
        for (uint256 h; h < DEPTH;) {
            uint256 sibling = uint256(siblings[h]);
            if (sibling >= PoseidonT4.R) revert ProofTreeSiblingNotInField(h);
            node = bits & 1 == 0 ? PoseidonT4.hash2(node, sibling) : PoseidonT4.hash2(sibling, node);
            unchecked {
                bits >>= 1;
                ++h;
            }
        }
        root = bytes32(node);
    }
}
