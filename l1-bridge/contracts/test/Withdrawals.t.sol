// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.19;

import {Fixture, Ref} from "./Base.sol";
import {Rollup} from "../src/Rollup.sol";
import {EpochHeader} from "../src/BridgeLib.sol";

/// Refuses every ether transfer.
contract Refuser {
    receive() external payable {
        revert("no");
    }
}

/// On receiving ether, tries to claim the same withdrawal again and records what happened.
contract Reentrant {
    Rollup internal immutable rollup;
    uint64 internal epoch;
    uint64 internal index;
    uint256 internal amount;
    bytes32[] internal path;
    bool public reentered;
    bytes public innerError;

    constructor(Rollup r) {
        rollup = r;
    }

    function arm(uint64 e, uint64 i, uint256 a, bytes32[] memory p) external {
        (epoch, index, amount, path) = (e, i, a, p);
    }

    receive() external payable {
        if (reentered) return;
        reentered = true;
        try rollup.claimWithdrawal(epoch, index, address(this), amount, path) {}
        catch (bytes memory err) {
            innerError = err;
        }
    }
}

/// Withdrawal claims against finalized epochs' withdrawal roots.
contract WithdrawalsTest is Fixture {
    struct Tree {
        address[] to;
        uint256[] amounts;
        bytes32 root;
        bytes32[][] paths;
    }

    /// `n` withdrawals of `epoch` (recipients and amounts from the epoch and position) and
    /// their tree, built by the test's own implementation (Ref).
    function _tree(uint64 epoch, uint256 n) internal pure returns (Tree memory t) {
        t.to = new address[](n);
        t.amounts = new uint256[](n);
        bytes32[] memory leaves = new bytes32[](n);
        for (uint256 i = 0; i < n; i++) {
            t.to[i] = address(uint160(uint256(keccak256(abi.encode("recipient", epoch, i)))));
            t.amounts[i] = 1 gwei * (i + 1) + epoch;
            leaves[i] = Ref.withdrawalLeaf(L2_CHAIN_ID, epoch, i, t.to[i], t.amounts[i]);
        }
        (t.root, t.paths) = Ref.tree(leaves);
    }

    function _fund(uint256 amount) internal {
        vm.deal(address(0xfeed), amount);
        vm.prank(address(0xfeed));
        rollup.deposit{value: amount}(address(0xfeed));
    }

    function _finalizeWithRoot(bytes32 withdrawalRoot) internal {
        EpochHeader memory h = header(rollup, fe(abi.encode("post", rollup.nextEpoch())));
        h.withdrawalRoot = withdrawalRoot;
        finalize(rollup, set, h);
    }

    function _sum(uint256[] memory xs) internal pure returns (uint256 s) {
        for (uint256 i = 0; i < xs.length; i++) {
            s += xs[i];
        }
    }

    /// Trees of 1..9 leaves, one per epoch: every leaf claims once, to its recipient, for its
    /// amount; a second claim, another index, amount or recipient are refused; nothing can be
    /// claimed before the epoch is finalized.
    function test_claimsEveryLeafOfTreesOfOneToNineLeaves() public {
        for (uint256 n = 1; n <= 9; n++) {
            uint64 epoch = uint64(n - 1);
            Tree memory t = _tree(epoch, n);
            _fund(_sum(t.amounts));
            vm.expectRevert(abi.encodeWithSelector(Rollup.NotFinalized.selector, epoch));
            rollup.claimWithdrawal(epoch, 0, t.to[0], t.amounts[0], t.paths[0]);
            _finalizeWithRoot(t.root);
            for (uint256 i = 0; i < n; i++) {
                _claimAndProbe(epoch, i, t);
            }
        }
        // Only the funder's deposits' worth went out, all of it.
        assertEq(address(rollup).balance, 0, "every withdrawal paid");
    }

    function _claimAndProbe(uint64 epoch, uint256 i, Tree memory t) internal {
        uint64 index = uint64(i);
        address to = t.to[i];
        uint256 amount = t.amounts[i];
        bytes32[] memory path = t.paths[i];
        // Wrong index (the neighbour, or past the path's reach), amount, recipient.
        vm.expectRevert(Rollup.BadWithdrawalProof.selector);
        rollup.claimWithdrawal(epoch, index ^ 1, to, amount, path);
        vm.expectRevert(Rollup.BadWithdrawalProof.selector);
        rollup.claimWithdrawal(epoch, index + uint64(1 << path.length), to, amount, path);
        vm.expectRevert(Rollup.BadWithdrawalProof.selector);
        rollup.claimWithdrawal(epoch, index, to, amount + 1, path);
        vm.expectRevert(Rollup.BadWithdrawalProof.selector);
        rollup.claimWithdrawal(epoch, index, address(uint160(to) ^ 1), amount, path);
        if (epoch > 0) {
            // The same leaf's proof against another finalized epoch.
            vm.expectRevert(Rollup.BadWithdrawalProof.selector);
            rollup.claimWithdrawal(epoch - 1, index, to, amount, path);
        }
        assertTrue(!rollup.isClaimed(epoch, index), "not claimed yet");
        uint256 before = to.balance;
        // Anyone may submit the claim; the recipient is paid.
        vm.prank(address(0x5eed));
        rollup.claimWithdrawal(epoch, index, to, amount, path);
        assertEq(to.balance, before + amount, "recipient paid");
        assertTrue(rollup.isClaimed(epoch, index), "claimed");
        vm.expectRevert(abi.encodeWithSelector(Rollup.AlreadyClaimed.selector, epoch, index));
        rollup.claimWithdrawal(epoch, index, to, amount, path);
    }

    function test_refusesAClaimAgainstAnEpochWithoutWithdrawals() public {
        _fund(1 ether);
        _finalizeWithRoot(bytes32(0));
        bytes32[] memory none = new bytes32[](0);
        vm.expectRevert(Rollup.BadWithdrawalProof.selector);
        rollup.claimWithdrawal(0, 0, address(0xb0b), 0, none);
        vm.expectRevert(Rollup.BadWithdrawalProof.selector);
        rollup.claimWithdrawal(0, 0, address(0), 0, new bytes32[](1));
    }

    function test_refusesAPathLongerThan32() public {
        // A root the 33-sibling path really leads to: only the length bound refuses it.
        bytes32[] memory path = new bytes32[](33);
        bytes32 node = Ref.withdrawalLeaf(L2_CHAIN_ID, 0, 0, address(0xb0b), 1);
        for (uint256 j = 0; j < 33; j++) {
            path[j] = bytes32(j + 1);
            node = keccak256(abi.encode(node, path[j]));
        }
        _fund(1);
        _finalizeWithRoot(node);
        vm.expectRevert(Rollup.BadWithdrawalProof.selector);
        rollup.claimWithdrawal(0, 0, address(0xb0b), 1, path);
        assertEq(address(0xb0b).balance, 0, "nothing paid");
    }

    function test_aFailedTransferRevertsAndLeavesTheClaimOpen() public {
        Refuser refuser = new Refuser();
        bytes32 leaf = Ref.withdrawalLeaf(L2_CHAIN_ID, 0, 0, address(refuser), 5);
        _fund(5);
        _finalizeWithRoot(leaf);
        vm.expectRevert(Rollup.TransferFailed.selector);
        rollup.claimWithdrawal(0, 0, address(refuser), 5, new bytes32[](0));
        assertTrue(!rollup.isClaimed(0, 0), "still open");
        assertEq(address(rollup).balance, 5, "escrow kept");
    }

    function test_aClaimWithoutEscrowReverts() public {
        bytes32 leaf = Ref.withdrawalLeaf(L2_CHAIN_ID, 0, 0, address(0xb0b), 5);
        _fund(4);
        _finalizeWithRoot(leaf);
        vm.expectRevert(Rollup.TransferFailed.selector);
        rollup.claimWithdrawal(0, 0, address(0xb0b), 5, new bytes32[](0));
        assertTrue(!rollup.isClaimed(0, 0), "still open");
    }

    function test_aReentrantClaimIsRefusedAndPaysOnce() public {
        Reentrant r = new Reentrant(rollup);
        bytes32[] memory leaves = new bytes32[](2);
        leaves[0] = Ref.withdrawalLeaf(L2_CHAIN_ID, 0, 0, address(r), 7);
        leaves[1] = Ref.withdrawalLeaf(L2_CHAIN_ID, 0, 1, address(0xb0b), 7);
        (bytes32 root, bytes32[][] memory paths) = Ref.tree(leaves);
        _fund(14);
        _finalizeWithRoot(root);
        r.arm(0, 0, 7, paths[0]);
        rollup.claimWithdrawal(0, 0, address(r), 7, paths[0]);
        assertTrue(r.reentered(), "reentered");
        assertEq(
            keccak256(r.innerError()),
            keccak256(abi.encodeWithSelector(Rollup.AlreadyClaimed.selector, uint64(0), uint64(0))),
            "the inner claim saw the claim already marked"
        );
        assertEq(address(r).balance, 7, "paid once");
        assertEq(address(rollup).balance, 7, "the other withdrawal's escrow is intact");
    }

    /// Escrow = deposits − claims, for fuzzed deposit amounts and a fuzzed subset of claims.
    function testFuzz_escrowIsDepositsMinusClaims(uint64[5] memory amounts, uint8 claimMask) public {
        uint256 deposits = 0;
        bytes32[] memory leaves = new bytes32[](5);
        for (uint256 i = 0; i < 5; i++) {
            uint256 a = uint256(amounts[i]) + 1;
            _fund(a);
            deposits += a;
            leaves[i] = Ref.withdrawalLeaf(L2_CHAIN_ID, 0, i, address(uint160(0x1000 + i)), a);
        }
        (bytes32 root, bytes32[][] memory paths) = Ref.tree(leaves);
        _finalizeWithRoot(root);
        uint256 claims = 0;
        for (uint256 i = 0; i < 5; i++) {
            if ((claimMask >> i) & 1 == 0) continue;
            uint256 a = uint256(amounts[i]) + 1;
            rollup.claimWithdrawal(0, uint64(i), address(uint160(0x1000 + i)), a, paths[i]);
            claims += a;
            assertEq(address(uint160(0x1000 + i)).balance, a, "recipient paid");
        }
        assertEq(address(rollup).balance, deposits - claims, "escrow = deposits - claims");
    }
}
