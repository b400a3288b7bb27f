// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.19;

import {Fixture, Ref} from "./Base.sol";
import {Vm} from "./Vm.sol";
import {Rollup, IEpochVerifier} from "../src/Rollup.sol";
import {EpochHeader} from "../src/BridgeLib.sol";
import {ProofTree} from "../src/ProofTree.sol";

/// Computes proof-tree roots with src/ProofTree.sol, so that a test can make a root that an
/// account's path leads to (Poseidon itself is checked against the native vectors elsewhere).
contract EscapeTreeHarness {
    function root(
        address account,
        uint256 nonce,
        uint256 balance,
        bytes32 codeHash,
        uint64 index,
        bytes32[] calldata siblings
    ) external pure returns (bytes32) {
        return ProofTree.accountLeafRoot(account, nonce, balance, codeHash, index, siblings);
    }
}

/// The escape hatch: enforced mode after escapeDelay without finalization, the freeze, and
/// exits against the last finalized root.
contract EscapeTest is Fixture {
    bytes32 internal constant EMPTY_CODE = keccak256("");

    struct Account {
        address who;
        uint256 nonce;
        uint256 balance;
        bytes32 codeHash;
        uint64 index;
        bytes32[] siblings;
    }

    EscapeTreeHarness internal tree;

    function setUp() public override {
        super.setUp();
        tree = new EscapeTreeHarness();
    }

    function _account(uint256 seed, uint256 balance) internal pure returns (Account memory a) {
        a.who = address(uint160(uint256(keccak256(abi.encode("account", seed)))));
        a.nonce = seed % 7;
        a.balance = balance;
        a.codeHash = EMPTY_CODE;
        a.index = uint64(seed % 1000);
        a.siblings = new bytes32[](32);
        for (uint256 h = 0; h < 32; h++) {
            a.siblings[h] = bytes32(uint256(keccak256(abi.encode("sibling", seed, h))) % Ref.R);
        }
    }

    function _root(Account memory a) internal view returns (bytes32) {
        return tree.root(a.who, a.nonce, a.balance, a.codeHash, a.index, a.siblings);
    }

    function _escape(Rollup r, Account memory a) internal {
        r.escapeWithdraw(a.who, a.nonce, a.balance, a.codeHash, a.index, a.siblings);
    }

    function _fund(Rollup r, uint256 amount) internal {
        vm.deal(address(0xfeed), amount);
        vm.prank(address(0xfeed));
        r.deposit{value: amount}(address(0xfeed));
    }

    function test_enforcedModeOnlyAfterTheEscapeDelay() public {
        vm.warp(T0 + ESCAPE_DELAY);
        assertTrue(!rollup.enforced(), "not at exactly the delay");
        vm.expectRevert(Rollup.NotEnforced.selector);
        rollup.enterEnforcedMode();

        vm.warp(T0 + ESCAPE_DELAY + 1);
        assertTrue(rollup.enforced(), "enforced past the delay, before anyone latches it");
        assertTrue(!rollup.enforcedLatched(), "not latched yet");
        vm.recordLogs();
        rollup.enterEnforcedMode();
        assertTrue(rollup.enforcedLatched(), "latched");
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(logs.length, 1, "one event");
        assertEq(logs[0].topics[0], keccak256("EnforcedMode(uint64,bytes32)"), "EnforcedMode");
        (uint64 next, bytes32 root) = abi.decode(logs[0].data, (uint64, bytes32));
        assertEq(next, 0, "no epoch finalized");
        assertEq(root, genesis(), "the last root");
        vm.expectRevert(Rollup.AlreadyEnforced.selector);
        rollup.enterEnforcedMode();
    }

    function test_enforcedModeFreezesFinalizationAndTheQueue() public {
        EpochHeader memory h = header(rollup, fe("post-0"));
        uint256[12] memory a = acc(0);
        mock.expect(keccak256(verifierCalldata(a, h, proofOf(0))));
        Rollup.Sig[] memory sigs = signAll(set, digestOf(rollup, h));
        vm.warp(T0 + ESCAPE_DELAY + 1);
        // Frozen by time alone, before the latch.
        vm.expectRevert(Rollup.Frozen.selector);
        rollup.finalizeEpoch(h, set.addrs, set.powers, sigs, a, proofOf(0));
        rollup.enterEnforcedMode();
        vm.expectRevert(Rollup.Frozen.selector);
        rollup.finalizeEpoch(h, set.addrs, set.powers, sigs, a, proofOf(0));
        vm.deal(address(this), 1);
        vm.expectRevert(Rollup.Frozen.selector);
        rollup.deposit{value: 1}(address(0xb0b));
        vm.expectRevert(Rollup.Frozen.selector);
        rollup.forceTransaction(hex"01");
        assertEq(rollup.nextEpoch(), 0, "nothing finalized");
    }

    function test_finalizationRestartsTheEscapeClock() public {
        vm.warp(T0 + ESCAPE_DELAY);
        finalize(rollup, set, header(rollup, fe("post-0")));
        vm.warp(T0 + 2 * ESCAPE_DELAY);
        assertTrue(!rollup.enforced(), "a delay after the finalization, not yet");
        finalize(rollup, set, header(rollup, fe("post-1")));
        vm.warp(T0 + 3 * ESCAPE_DELAY + 1);
        assertTrue(rollup.enforced(), "enforced a delay after the last finalization");
    }

    function test_escapePaysTheBalanceAtTheLastFinalizedRootOnce() public {
        Account memory alice = _account(1, 3 ether);
        Account memory bob = _account(2, 1 ether);
        // Bob's account is in the genesis state, Alice's in the state epoch 0 finalizes.
        Rollup r = new Rollup(
            IEpochVerifier(address(mock)),
            L2_CHAIN_ID,
            _root(bob),
            set.addrs,
            set.powers,
            FORCE_DELAY,
            ESCAPE_DELAY,
            RELAY_SLOT,
            MAX_TX
        );
        _fund(r, 10 ether);
        EpochHeader memory h = header(r, _root(alice));
        consume(r, h, 1);
        finalize(r, set, h);

        vm.expectRevert(Rollup.NotEnforced.selector);
        _escape(r, alice);
        vm.warp(block.timestamp + ESCAPE_DELAY + 1);

        // An older root's proof, or a changed field, does not lead to the last root.
        vm.expectRevert(Rollup.BadEscapeProof.selector);
        _escape(r, bob);
        alice.balance += 1;
        vm.expectRevert(Rollup.BadEscapeProof.selector);
        _escape(r, alice);
        alice.balance -= 1;
        alice.index += 1;
        vm.expectRevert(Rollup.BadEscapeProof.selector);
        _escape(r, alice);
        alice.index -= 1;

        vm.prank(address(0x5eed)); // anyone may trigger it; the account is paid
        _escape(r, alice);
        assertEq(alice.who.balance, 3 ether, "paid the balance");
        assertTrue(r.escaped(alice.who), "marked");
        vm.expectRevert(abi.encodeWithSelector(Rollup.AlreadyEscaped.selector, alice.who));
        _escape(r, alice);
        assertEq(address(r).balance, 7 ether, "escrow = deposits - escapes");
    }

    function test_escapeRefusesMoreThanTheEscrow() public {
        Account memory alice = _account(3, 2 ether);
        Rollup r = new Rollup(
            IEpochVerifier(address(mock)),
            L2_CHAIN_ID,
            _root(alice),
            set.addrs,
            set.powers,
            FORCE_DELAY,
            ESCAPE_DELAY,
            RELAY_SLOT,
            MAX_TX
        );
        _fund(r, 1 ether);
        vm.warp(block.timestamp + ESCAPE_DELAY + 1);
        vm.expectRevert(abi.encodeWithSelector(Rollup.InsufficientEscrow.selector, 2 ether, 1 ether));
        _escape(r, alice);
        assertTrue(!r.escaped(alice.who), "not marked");
    }

    /// Escrow = deposits − claims − escapes, with withdrawals claimed before and during
    /// enforced mode (finalized withdrawals stay claimable).
    function test_escrowIsDepositsMinusClaimsMinusEscapes() public {
        Account memory alice = _account(4, 5 ether);
        Rollup r = deploy(set);
        _fund(r, 4 ether);
        _fund(r, 6 ether);
        bytes32[] memory leaves = new bytes32[](2);
        leaves[0] = Ref.withdrawalLeaf(L2_CHAIN_ID, 0, 0, address(0xc1), 1 ether);
        leaves[1] = Ref.withdrawalLeaf(L2_CHAIN_ID, 0, 1, address(0xc2), 2 ether);
        (bytes32 wroot, bytes32[][] memory paths) = Ref.tree(leaves);
        EpochHeader memory h = header(r, _root(alice));
        consume(r, h, 2);
        h.withdrawalRoot = wroot;
        finalize(r, set, h);
        r.claimWithdrawal(0, 0, address(0xc1), 1 ether, paths[0]);
        assertEq(address(r).balance, 10 ether - 1 ether, "after a claim");

        vm.warp(block.timestamp + ESCAPE_DELAY + 1);
        r.enterEnforcedMode();
        _escape(r, alice);
        r.claimWithdrawal(0, 1, address(0xc2), 2 ether, paths[1]);
        assertEq(address(0xc2).balance, 2 ether, "claimed in enforced mode");
        assertEq(address(r).balance, 10 ether - 1 ether - 2 ether - 5 ether, "deposits - claims - escapes");
    }

    /// Every account of a proof tree built by the native code (test/vectors/poseidon.json,
    /// written by crates/proofs/tests/l1_vectors.rs) exits with its balance when that tree's
    /// root is the last finalized root: only the data a full node serves (leaf fields, index,
    /// path) is needed.
    function test_everyAccountOfANativeTreeEscapes() public {
        string memory json = vm.readFile("test/vectors/poseidon.json");
        bytes32 root = vm.parseJsonBytes32(json, ".trees[0].root");
        uint256 n = vm.parseJsonUint(json, ".trees[0].account_count");
        assertTrue(n > 0, "accounts");
        Rollup r = new Rollup(
            IEpochVerifier(address(mock)),
            L2_CHAIN_ID,
            root,
            set.addrs,
            set.powers,
            FORCE_DELAY,
            ESCAPE_DELAY,
            RELAY_SLOT,
            MAX_TX
        );
        Account[] memory accounts = new Account[](n);
        uint256 total = 0;
        for (uint256 i = 0; i < n; i++) {
            accounts[i] = _vectorAccount(json, i);
            total += accounts[i].balance;
        }
        vm.deal(address(r), total);
        vm.warp(block.timestamp + ESCAPE_DELAY + 1);
        for (uint256 i = 0; i < n; i++) {
            uint256 before = accounts[i].who.balance;
            _escape(r, accounts[i]);
            assertEq(accounts[i].who.balance, before + accounts[i].balance, "escaped with its balance");
        }
        assertEq(address(r).balance, 0, "all paid");
    }

    function _vectorAccount(string memory json, uint256 i) internal pure returns (Account memory a) {
        string memory k = string.concat(".trees[0].accounts[", vm.toString(i), "]");
        a.who = vm.parseJsonAddress(json, string.concat(k, ".address"));
        a.nonce = vm.parseJsonUint(json, string.concat(k, ".nonce"));
        a.balance = vm.parseJsonUint(json, string.concat(k, ".balance"));
        a.codeHash = vm.parseJsonBytes32(json, string.concat(k, ".code_hash"));
        a.index = uint64(vm.parseJsonUint(json, string.concat(k, ".index")));
        a.siblings = vm.parseJsonBytes32Array(json, string.concat(k, ".siblings"));
    }
}
