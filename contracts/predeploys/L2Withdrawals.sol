// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.19;

/// @title Parley's L2 withdrawal contract (DESIGN §6, docs/bridge.md).
/// @notice Predeployed at 0x00000000000000000000000000000000000b11d6 on a chain with an L1
/// bridge. `withdraw(l1Recipient)` with value records a withdrawal of that value to
/// `l1Recipient` on L1: after each block the chain reads this contract's `Withdrawal` logs,
/// puts each into the withdrawal tree of the block's epoch (in execution order) and burns this
/// contract's balance. Once the epoch is finalized on L1, anyone can claim it there for the
/// recipient with the path `parley_getWithdrawals` serves. Plain transfers are refused: a
/// withdrawal always names its L1 recipient.
contract L2Withdrawals {
    /// One withdrawal: `amount` wei from `sender` on L2 to `l1Recipient` on L1.
    event Withdrawal(address indexed sender, address indexed l1Recipient, uint256 amount);

    error NoValue();
    error NoRecipient();

    /// @notice Withdraws `msg.value` wei to `l1Recipient` on L1.
    function withdraw(address l1Recipient) external payable {
        if (msg.value == 0) revert NoValue();
        if (l1Recipient == address(0)) revert NoRecipient();
        emit Withdrawal(msg.sender, l1Recipient, msg.value);
    }
}
