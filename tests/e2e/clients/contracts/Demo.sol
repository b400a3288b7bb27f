// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.19;

/// @title Demo — the contract the client end-to-end test (tests/e2e/clients) deploys and drives:
///        a stored value, an event on every write, and a function that reverts with a reason.
contract Demo {
    event Stored(address indexed by, uint256 indexed round, uint256 value);

    uint256 public value;
    uint256 public rounds;

    constructor(uint256 initial) payable {
        value = initial;
    }

    function store(uint256 v) external {
        value = v;
        rounds += 1;
        emit Stored(msg.sender, rounds, v);
    }

    /// Always reverts, with the reason string the tests look for in the clients' errors.
    function refuse() external pure {
        revert("Demo: refused on purpose");
    }

    function balanceOf(address who) external view returns (uint256) {
        return who.balance;
    }
}
