// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.19;

/// @notice What the validators attest for one epoch, and what `Rollup.finalizeEpoch` records.
/// `queueCount` is not part of the signed digest: it is bound through `queueRollingHash`, which
/// the contract checks against its own rolling hash at position `queueCount`.
struct EpochHeader {
    uint64 epoch;
    bytes32 firstPreRoot;
    bytes32 lastPostRoot;
    bytes32 epochCommitment;
    bytes32 withdrawalRoot;
    bytes32 queueRollingHash;
    uint64 queueCount;
    bytes32 nextValidatorSetHash;
}

/// @title BridgeLib — the encodings between L2 and L1 (docs/bridge.md, "Encodings").
/// @notice Every hash is keccak256 over Solidity's `abi.encode` (one 32-byte word per value).
/// The Rust side (`parley_types::bridge`) implements the same encodings; the committed vector
/// file `test/vectors/bridge.json` checks that both agree.
library BridgeLib {
    bytes32 internal constant EPOCH_TAG = keccak256("parley.bridge.epoch.v1");
    bytes32 internal constant VALSET_TAG = keccak256("parley.bridge.valset.v1");
    bytes32 internal constant DEPOSIT_TAG = keccak256("parley.bridge.deposit.v1");
    bytes32 internal constant FORCED_TAG = keccak256("parley.bridge.forced.v1");
    bytes32 internal constant WITHDRAWAL_TAG = keccak256("parley.bridge.withdrawal.v1");

    /// BN254 scalar field modulus r: every public instance of the epoch proof must be below it.
    uint256 internal constant R = 0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001;
    /// secp256k1 group order n, halved: a signature counts only with s <= n/2 (low-s).
    uint256 internal constant HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;
    /// Bounds on a validator set (docs/bridge.md, "Validator set hash").
    uint256 internal constant MAX_VALIDATORS = 128;
    uint256 internal constant MAX_POWER = type(uint64).max;
    /// A withdrawal path has at most this many siblings (2^32 withdrawals per epoch).
    uint256 internal constant MAX_WITHDRAWAL_DEPTH = 32;

    /// The digest each validator's bridge key signs for an epoch.
    function epochDigest(uint256 l1ChainId, address rollup, uint256 l2ChainId, EpochHeader memory h)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(
            abi.encode(
                EPOCH_TAG,
                l1ChainId,
                rollup,
                l2ChainId,
                h.epoch,
                h.firstPreRoot,
                h.lastPostRoot,
                h.epochCommitment,
                h.withdrawalRoot,
                h.queueRollingHash,
                h.nextValidatorSetHash
            )
        );
    }

    /// The hash of a validator set, its total power, and whether the set is well formed
    /// (1 ..= 128 members, addresses strictly ascending and nonzero, powers in 1 ..= 2^64 - 1,
    /// one power per address). The hash is computed whatever the shape, so that a caller can report a
    /// mismatch first; a set whose lengths differ hashes its addresses against missing powers
    /// as zero and is never well formed.
    function valsetHash(address[] memory signers, uint256[] memory powers)
        internal
        pure
        returns (bytes32 hash, uint256 total, bool wellFormed)
    {
        uint256 n = signers.length;
        wellFormed = n >= 1 && n <= MAX_VALIDATORS && powers.length == n;
        bytes memory buf = new bytes(64 + 64 * n);
        bytes32 tag = VALSET_TAG;
        assembly {
            mstore(add(buf, 32), tag)
            mstore(add(buf, 64), n)
        }
        address prev = address(0);
        for (uint256 i = 0; i < n; i++) {
            address a = signers[i];
            uint256 p = i < powers.length ? powers[i] : 0;
            if (p == 0 || p > MAX_POWER || a <= prev) wellFormed = false;
            prev = a;
            total += p;
            assembly {
                let at := add(buf, add(96, mul(64, i)))
                mstore(at, a)
                mstore(add(at, 32), p)
            }
        }
        hash = keccak256(buf);
    }

    /// A deposit's queue entry.
    function depositEntry(uint64 index, address l1Sender, address l2Recipient, uint256 amountWei)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(DEPOSIT_TAG, index, l1Sender, l2Recipient, amountWei));
    }

    /// A forced transaction's queue entry.
    function forcedEntry(uint64 index, address l1Sender, bytes memory rawTx) internal pure returns (bytes32) {
        return keccak256(abi.encode(FORCED_TAG, index, l1Sender, keccak256(rawTx)));
    }

    /// R_{i+1} from R_i and entry_i (R_0 = 0).
    function nextRolling(bytes32 rolling, bytes32 entry) internal pure returns (bytes32) {
        return keccak256(abi.encode(rolling, entry));
    }

    /// The leaf of withdrawal `index` of `epoch`.
    function withdrawalLeaf(uint256 l2ChainId, uint64 epoch, uint64 index, address l1Recipient, uint256 amountWei)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(WITHDRAWAL_TAG, l2ChainId, epoch, index, l1Recipient, amountWei));
    }

    /// The root that `leaf` at `index` and its siblings (from the leaf up) lead to: bit j of
    /// `index` says whether the node at height j is a right child. The caller bounds the path.
    function withdrawalRootFrom(bytes32 leaf, uint256 index, bytes32[] memory path) internal pure returns (bytes32) {
        bytes32 node = leaf;
        for (uint256 j = 0; j < path.length; j++) {
            node = (index >> j) & 1 == 1 ? keccak256(abi.encode(path[j], node)) : keccak256(abi.encode(node, path[j]));
        }
        return node;
    }
}
