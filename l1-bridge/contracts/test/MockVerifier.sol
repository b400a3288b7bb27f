// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.19;

/// @title MockVerifier — stands in for the generated halo2 epoch verifier in tests.
/// @notice Like the real one it has no ABI and returns nothing on success; unlike it, it accepts
/// exactly one calldata (the one whose keccak256 was configured) and reverts on any other, so a
/// test that finalizes through it proves that the Rollup forwarded exactly those bytes.
contract MockVerifier {
    error UnexpectedCalldata(bytes32 got, bytes32 expected);

    bytes32 public expected;

    function expect(bytes32 calldataHash) external {
        expected = calldataHash;
    }

    fallback(bytes calldata data) external returns (bytes memory) {
        bytes32 got = keccak256(data);
        if (got != expected) revert UnexpectedCalldata(got, expected);
        return "";
    }
}
