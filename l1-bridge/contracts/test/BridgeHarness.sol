// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.19;

import {BridgeLib, EpochHeader} from "../src/BridgeLib.sol";

/// @notice Exposes BridgeLib's internal functions, so that the vector tests can feed them
/// inputs (another rollup address, chain ids) that a deployed Rollup would not.
contract BridgeHarness {
    function epochDigest(uint256 l1ChainId, address rollup, uint256 l2ChainId, EpochHeader memory h)
        external
        pure
        returns (bytes32)
    {
        return BridgeLib.epochDigest(l1ChainId, rollup, l2ChainId, h);
    }

    function valsetHash(address[] memory signers, uint256[] memory powers)
        external
        pure
        returns (bytes32 hash, uint256 total, bool wellFormed)
    {
        return BridgeLib.valsetHash(signers, powers);
    }

    function depositEntry(uint64 index, address sender, address to, uint256 amount) external pure returns (bytes32) {
        return BridgeLib.depositEntry(index, sender, to, amount);
    }

    function forcedEntry(uint64 index, address sender, bytes memory rawTx) external pure returns (bytes32) {
        return BridgeLib.forcedEntry(index, sender, rawTx);
    }

    function nextRolling(bytes32 rolling, bytes32 entry) external pure returns (bytes32) {
        return BridgeLib.nextRolling(rolling, entry);
    }

    function withdrawalLeaf(uint256 l2ChainId, uint64 epoch, uint64 index, address to, uint256 amount)
        external
        pure
        returns (bytes32)
    {
        return BridgeLib.withdrawalLeaf(l2ChainId, epoch, index, to, amount);
    }

    function withdrawalRootFrom(bytes32 leaf, uint256 index, bytes32[] memory path) external pure returns (bytes32) {
        return BridgeLib.withdrawalRootFrom(leaf, index, path);
    }
}
