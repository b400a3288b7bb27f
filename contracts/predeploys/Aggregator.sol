// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.19;

/// @title Aggregator — Parley's call batcher, predeployed in genesis at the canonical
///        Multicall3 address 0xcA11bde05977b3631167028862bE2a173976CA11.
/// @notice Written for Parley; it implements the Multicall3 ABI (same selectors, argument and
///         return encodings, revert on a required call that fails) so that tools that batch reads
///         through that address (viem's `multicall`, ethers' and foundry's helpers) work
///         unmodified. Built by contracts/predeploys/build.sh; only the runtime code is used.
contract Aggregator {
    struct Call {
        address target;
        bytes callData;
    }

    struct Call3 {
        address target;
        bool allowFailure;
        bytes callData;
    }

    struct Call3Value {
        address target;
        bool allowFailure;
        uint256 value;
        bytes callData;
    }

    struct Result {
        bool success;
        bytes returnData;
    }

    // The revert strings tools have seen at this address for years; kept for compatibility.
    string private constant CALL_FAILED = "Multicall3: call failed";
    string private constant VALUE_MISMATCH = "Multicall3: value mismatch";

    /// Runs every call; any failure reverts the whole batch.
    function aggregate(Call[] calldata calls)
        external
        payable
        returns (uint256 blockNumber, bytes[] memory returnData)
    {
        blockNumber = block.number;
        uint256 n = calls.length;
        returnData = new bytes[](n);
        for (uint256 i = 0; i < n; ++i) {
            (bool ok, bytes memory out) = calls[i].target.call(calls[i].callData);
            require(ok, CALL_FAILED);
            returnData[i] = out;
        }
    }

    /// Runs every call; a failure reverts the batch only when `requireSuccess`.
    function tryAggregate(bool requireSuccess, Call[] calldata calls)
        external
        payable
        returns (Result[] memory returnData)
    {
        returnData = _tryAll(requireSuccess, calls);
    }

    /// `tryAggregate` plus the current block number and `blockhash(block.number)` (always zero
    /// inside the block, as with Multicall3).
    function tryBlockAndAggregate(bool requireSuccess, Call[] calldata calls)
        external
        payable
        returns (uint256 blockNumber, bytes32 blockHash, Result[] memory returnData)
    {
        blockNumber = block.number;
        blockHash = blockhash(block.number);
        returnData = _tryAll(requireSuccess, calls);
    }

    /// `tryBlockAndAggregate(true, calls)`.
    function blockAndAggregate(Call[] calldata calls)
        external
        payable
        returns (uint256 blockNumber, bytes32 blockHash, Result[] memory returnData)
    {
        blockNumber = block.number;
        blockHash = blockhash(block.number);
        returnData = _tryAll(true, calls);
    }

    /// Runs every call; a failing call reverts the batch unless its `allowFailure` is set.
    function aggregate3(Call3[] calldata calls) external payable returns (Result[] memory returnData) {
        uint256 n = calls.length;
        returnData = new Result[](n);
        for (uint256 i = 0; i < n; ++i) {
            Call3 calldata c = calls[i];
            (bool ok, bytes memory out) = c.target.call(c.callData);
            require(ok || c.allowFailure, CALL_FAILED);
            returnData[i] = Result(ok, out);
        }
    }

    /// `aggregate3` with a value per call; `msg.value` must equal the sum of the values.
    function aggregate3Value(Call3Value[] calldata calls)
        external
        payable
        returns (Result[] memory returnData)
    {
        uint256 n = calls.length;
        uint256 total = 0;
        returnData = new Result[](n);
        for (uint256 i = 0; i < n; ++i) {
            Call3Value calldata c = calls[i];
            total += c.value;
            (bool ok, bytes memory out) = c.target.call{value: c.value}(c.callData);
            require(ok || c.allowFailure, CALL_FAILED);
            returnData[i] = Result(ok, out);
        }
        require(msg.value == total, VALUE_MISMATCH);
    }

    function getBlockHash(uint256 blockNumber) external view returns (bytes32 blockHash) {
        blockHash = blockhash(blockNumber);
    }

    function getBlockNumber() external view returns (uint256 blockNumber) {
        blockNumber = block.number;
    }

    function getCurrentBlockCoinbase() external view returns (address coinbase) {
        coinbase = block.coinbase;
    }

    /// PREVRANDAO since the merge (the opcode that was DIFFICULTY).
    function getCurrentBlockDifficulty() external view returns (uint256 difficulty) {
        difficulty = block.prevrandao;
    }

    function getCurrentBlockGasLimit() external view returns (uint256 gaslimit) {
        gaslimit = block.gaslimit;
    }

    function getCurrentBlockTimestamp() external view returns (uint256 timestamp) {
        timestamp = block.timestamp;
    }

    function getEthBalance(address addr) external view returns (uint256 balance) {
        balance = addr.balance;
    }

    /// Hash of the previous block (zero in block 0).
    function getLastBlockHash() external view returns (bytes32 blockHash) {
        if (block.number > 0) {
            blockHash = blockhash(block.number - 1);
        }
    }

    function getBasefee() external view returns (uint256 basefee) {
        basefee = block.basefee;
    }

    function getChainId() external view returns (uint256 chainid) {
        chainid = block.chainid;
    }

    function _tryAll(bool requireSuccess, Call[] calldata calls)
        private
        returns (Result[] memory returnData)
    {
        uint256 n = calls.length;
        returnData = new Result[](n);
        for (uint256 i = 0; i < n; ++i) {
            (bool ok, bytes memory out) = calls[i].target.call(calls[i].callData);
            require(ok || !requireSuccess, CALL_FAILED);
            returnData[i] = Result(ok, out);
        }
    }
}
