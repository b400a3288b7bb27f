// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.19;

import {Fixture, Ref} from "./Base.sol";
import {Vm} from "./Vm.sol";
import {Rollup} from "../src/Rollup.sol";
import {EpochHeader} from "../src/BridgeLib.sol";

/// The L1 queue (deposits, forced transactions), its rolling hash, and how finalization
/// consumes it (in order, and never leaving an entry older than forceDelay behind).
contract QueueTest is Fixture {
    bytes32 internal constant QUEUE_ENTRY_SIG =
        keccak256("QueueEntry(uint64,uint8,address,address,uint256,bytes,bytes32)");

    function _deposit(address sender, address to, uint256 amount) internal {
        vm.deal(sender, sender.balance + amount);
        vm.prank(sender);
        rollup.deposit{value: amount}(to);
    }

    function _force(address sender, bytes memory rawTx) internal {
        vm.prank(sender);
        rollup.forceTransaction(rawTx);
    }

    /// Rebuilds every entry from its QueueEntry event alone (what validators do), rolls them
    /// from `rolling`, and checks the event's and the contract's rolling hashes.
    function _checkEvents(Vm.Log[] memory logs, uint256 firstIndex, bytes32 rolling) internal view returns (bytes32) {
        uint256 index = firstIndex;
        for (uint256 i = 0; i < logs.length; i++) {
            if (logs[i].emitter != address(rollup) || logs[i].topics[0] != QUEUE_ENTRY_SIG) continue;
            assertEq(uint256(logs[i].topics[1]), index, "event index");
            (uint8 kind, address sender, address to, uint256 amount, bytes memory rawTx, bytes32 eventRolling) =
                abi.decode(logs[i].data, (uint8, address, address, uint256, bytes, bytes32));
            bytes32 entry =
                kind == 0 ? Ref.depositEntry(index, sender, to, amount) : Ref.forcedEntry(index, sender, rawTx);
            assertTrue(kind <= 1, "kind");
            rolling = Ref.roll(rolling, entry);
            assertEq(eventRolling, rolling, "event rolling hash");
            assertEq(rollup.rollingHash(index + 1), rolling, "stored rolling hash");
            index++;
        }
        assertEq(index, rollup.queueLength(), "every entry has its event");
        return rolling;
    }

    function test_depositAndForcedTransactionAppendInOrder() public {
        vm.recordLogs();
        _deposit(address(0xa11ce), address(0xb0b), 1 ether);
        vm.warp(T0 + 5);
        _force(address(0xca401), hex"02f86c");
        _deposit(address(0xa11ce), address(0xa11ce), 3);
        assertEq(rollup.queueLength(), 3, "three entries");
        bytes32 r1 = Ref.roll(0, Ref.depositEntry(0, address(0xa11ce), address(0xb0b), 1 ether));
        bytes32 r2 = Ref.roll(r1, Ref.forcedEntry(1, address(0xca401), hex"02f86c"));
        bytes32 r3 = Ref.roll(r2, Ref.depositEntry(2, address(0xa11ce), address(0xa11ce), 3));
        assertEq(rollup.rollingHash(0), bytes32(0), "R_0");
        assertEq(rollup.rollingHash(1), r1, "R_1");
        assertEq(rollup.rollingHash(2), r2, "R_2");
        assertEq(rollup.rollingHash(3), r3, "R_3");
        assertEq(rollup.appendedAt(0), T0, "entry 0 time");
        assertEq(rollup.appendedAt(1), T0 + 5, "entry 1 time");
        assertEq(address(rollup).balance, 1 ether + 3, "escrow");
        assertEq(_checkEvents(vm.getRecordedLogs(), 0, 0), r3, "events rebuild the queue");
    }

    /// Fuzzed deposits and forced transactions from a fuzzed sender: every stored rolling hash
    /// equals an independent computation, and the events alone rebuild the queue.
    function testFuzz_queueRollingHashMatchesAnIndependentComputation(
        uint96[6] memory amounts,
        address[6] memory recipients,
        bytes memory rawTx,
        uint8 kinds,
        address sender
    ) public {
        vm.assume(uint160(sender) > 0xffff && sender != address(rollup) && sender != address(this));
        vm.recordLogs();
        bytes32 rolling = 0;
        uint256 escrow = 0;
        for (uint256 i = 0; i < 6; i++) {
            if ((kinds >> i) & 1 == 1) {
                bytes memory t = bytes.concat(rawTx, bytes1(uint8(i)));
                if (t.length > MAX_TX) t = bytes.concat(bytes1(uint8(i)));
                _force(sender, t);
                rolling = Ref.roll(rolling, Ref.forcedEntry(i, sender, t));
            } else {
                uint256 amount = uint256(amounts[i]) + 1;
                address to = recipients[i] == address(0) ? address(1) : recipients[i];
                _deposit(sender, to, amount);
                escrow += amount;
                rolling = Ref.roll(rolling, Ref.depositEntry(i, sender, to, amount));
            }
            assertEq(rollup.rollingHash(i + 1), rolling, "rolling hash after each entry");
        }
        assertEq(rollup.queueLength(), 6, "six entries");
        assertEq(address(rollup).balance, escrow, "escrow is the deposits");
        assertEq(_checkEvents(vm.getRecordedLogs(), 0, 0), rolling, "events rebuild the queue");
    }

    function test_depositRefusesZeroAmountAndZeroRecipient() public {
        vm.deal(address(this), 1 ether);
        vm.expectRevert(Rollup.ZeroAmount.selector);
        rollup.deposit{value: 0}(address(0xb0b));
        vm.expectRevert(Rollup.ZeroRecipient.selector);
        rollup.deposit{value: 1}(address(0));
        rollup.deposit{value: 1}(address(0xb0b));
        assertEq(rollup.queueLength(), 1, "only the good deposit");
    }

    function test_forcedTransactionLengthBounds() public {
        vm.expectRevert(abi.encodeWithSelector(Rollup.BadForcedTxLength.selector, 0));
        rollup.forceTransaction("");
        vm.expectRevert(abi.encodeWithSelector(Rollup.BadForcedTxLength.selector, MAX_TX + 1));
        rollup.forceTransaction(new bytes(MAX_TX + 1));
        rollup.forceTransaction(new bytes(MAX_TX));
        rollup.forceTransaction(hex"01");
        assertEq(rollup.queueLength(), 2, "1 and MAX_TX bytes accepted");
    }

    function test_plainEtherTransfersAreRefused() public {
        vm.deal(address(this), 1 ether);
        (bool ok,) = address(rollup).call{value: 1}("");
        assertTrue(!ok, "no receive: ether only enters through deposit");
    }

    // ---- consumption at finalization ----------------------------------------------------------

    function test_finalizationConsumesTheQueueInOrder() public {
        _deposit(address(0xa11ce), address(0xb0b), 1);
        _deposit(address(0xa11ce), address(0xb0b), 2);
        _deposit(address(0xa11ce), address(0xb0b), 3);
        EpochHeader memory h = header(rollup, fe("post-0"));
        consume(rollup, h, 2);
        finalize(rollup, set, h);
        assertEq(rollup.queueConsumed(), 2, "two consumed");
        assertEq(rollup.epochs(0).queueCount, 2, "recorded");
        h = header(rollup, fe("post-1"));
        consume(rollup, h, 3);
        finalize(rollup, set, h);
        assertEq(rollup.queueConsumed(), 3, "all consumed");
    }

    function _submitExpecting(EpochHeader memory h, bytes memory revertData) internal {
        uint256[12] memory a = acc(h.epoch);
        bytes memory proof = proofOf(h.epoch);
        mock.expect(keccak256(verifierCalldata(a, h, proof)));
        Rollup.Sig[] memory sigs = signAll(set, digestOf(rollup, h));
        if (revertData.length > 0) vm.expectRevert(revertData);
        rollup.finalizeEpoch(h, set.addrs, set.powers, sigs, a, proof);
    }

    function test_refusesAQueueCountOrRollingHashThatDoesNotMatch() public {
        _deposit(address(0xa11ce), address(0xb0b), 1);
        _deposit(address(0xa11ce), address(0xb0b), 2);
        EpochHeader memory h = header(rollup, fe("post-0"));
        consume(rollup, h, 2);
        // Beyond the queue.
        h.queueCount = 3;
        _submitExpecting(h, abi.encodeWithSelector(Rollup.QueueMismatch.selector, uint64(3)));
        // R_2 claimed for one entry.
        h.queueCount = 1;
        _submitExpecting(h, abi.encodeWithSelector(Rollup.QueueMismatch.selector, uint64(1)));
        // Entries in another order: the rolling hash of (entry 1, entry 0).
        h.queueCount = 2;
        h.queueRollingHash = Ref.roll(
            Ref.roll(0, Ref.depositEntry(1, address(0xa11ce), address(0xb0b), 2)),
            Ref.depositEntry(0, address(0xa11ce), address(0xb0b), 1)
        );
        _submitExpecting(h, abi.encodeWithSelector(Rollup.QueueMismatch.selector, uint64(2)));
        consume(rollup, h, 2);
        _submitExpecting(h, "");
        // Going back: epoch 1 claims to have consumed only one entry.
        EpochHeader memory h1 = header(rollup, fe("post-1"));
        consume(rollup, h1, 1);
        _submitExpecting(h1, abi.encodeWithSelector(Rollup.QueueMismatch.selector, uint64(1)));
        consume(rollup, h1, 2);
        _submitExpecting(h1, "");
        assertEq(rollup.nextEpoch(), 2, "the matching epochs finalized");
    }

    /// An entry appended at t blocks finalization from t + forceDelay on, until an epoch
    /// consumes it.
    function test_forceDelayBlocksFinalizationUntilTheEntryIsConsumed() public {
        vm.warp(T0 + 10);
        _force(address(0xca401), hex"02f86c");
        vm.warp(T0 + 10 + FORCE_DELAY - 1);
        EpochHeader memory h0 = header(rollup, fe("post-0"));
        _submitExpecting(h0, ""); // not yet overdue: the epoch may leave it for later
        vm.warp(T0 + 10 + FORCE_DELAY);
        EpochHeader memory h1 = header(rollup, fe("post-1"));
        _submitExpecting(h1, abi.encodeWithSelector(Rollup.ForcedEntryOverdue.selector, uint64(0)));
        // An empty epoch cannot skip it either.
        EpochHeader memory e = header(rollup, fe("post-0"));
        uint256[12] memory z;
        Rollup.Sig[] memory sigs = signAll(set, digestOf(rollup, e));
        vm.expectRevert(abi.encodeWithSelector(Rollup.ForcedEntryOverdue.selector, uint64(0)));
        rollup.finalizeEpoch(e, set.addrs, set.powers, sigs, z, "");
        consume(rollup, h1, 1);
        _submitExpecting(h1, "");
        assertEq(rollup.queueConsumed(), 1, "consumed");
    }

    function test_forceDelayAppliesToTheFirstUnconsumedEntry() public {
        _deposit(address(0xa11ce), address(0xb0b), 1);
        vm.warp(T0 + 1000);
        _deposit(address(0xa11ce), address(0xb0b), 2);
        vm.warp(T0 + 1000 + FORCE_DELAY);
        // Entry 0 is overdue; consuming it leaves entry 1, which is just overdue too.
        EpochHeader memory h = header(rollup, fe("post-0"));
        _submitExpecting(h, abi.encodeWithSelector(Rollup.ForcedEntryOverdue.selector, uint64(0)));
        consume(rollup, h, 1);
        _submitExpecting(h, abi.encodeWithSelector(Rollup.ForcedEntryOverdue.selector, uint64(1)));
        consume(rollup, h, 2);
        _submitExpecting(h, "");
        assertEq(rollup.queueConsumed(), 2, "both consumed");
    }
}
