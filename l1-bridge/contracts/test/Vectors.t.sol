// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.19;

import {Fixture, Ref} from "./Base.sol";
import {BridgeHarness} from "./BridgeHarness.sol";
import {Rollup, IEpochVerifier} from "../src/Rollup.sol";
import {BridgeLib, EpochHeader} from "../src/BridgeLib.sol";

/// The cross-implementation vectors: `test/vectors/bridge.json` is what the Rust side
/// (`parley_types::bridge`, written by `cargo test -p parley-bridge --test vectors`) computes;
/// the contract must compute the same bytes.
contract VectorsTest is Fixture {
    string internal json;
    BridgeHarness internal lib;

    function setUp() public override {
        super.setUp();
        json = vm.readFile("test/vectors/bridge.json");
        lib = new BridgeHarness();
    }

    function _key(string memory list, uint256 i, string memory field) internal pure returns (string memory) {
        return string.concat(".", list, "[", vm.toString(i), "]", bytes(field).length > 0 ? "." : "", field);
    }

    /// The file has exactly `n` items in `list` (none is silently skipped).
    function _count(string memory list, uint256 n) internal view {
        assertTrue(vm.keyExistsJson(json, _key(list, n - 1, "")), string.concat(list, ": fewer items"));
        assertTrue(!vm.keyExistsJson(json, _key(list, n, "")), string.concat(list, ": more items"));
    }

    function _u(string memory list, uint256 i, string memory field) internal view returns (uint256) {
        return vm.parseJsonUint(json, _key(list, i, field));
    }

    function _b32(string memory list, uint256 i, string memory field) internal view returns (bytes32) {
        return vm.parseJsonBytes32(json, _key(list, i, field));
    }

    function _a(string memory list, uint256 i, string memory field) internal view returns (address) {
        return vm.parseJsonAddress(json, _key(list, i, field));
    }

    function _digestHeader(uint256 i) internal view returns (EpochHeader memory h) {
        h.epoch = uint64(_u("epoch_digest", i, "epoch"));
        h.firstPreRoot = _b32("epoch_digest", i, "first_pre_root");
        h.lastPostRoot = _b32("epoch_digest", i, "last_post_root");
        h.epochCommitment = _b32("epoch_digest", i, "epoch_commitment");
        h.withdrawalRoot = _b32("epoch_digest", i, "withdrawal_root");
        h.queueRollingHash = _b32("epoch_digest", i, "l1_queue_rolling_hash");
        h.nextValidatorSetHash = _b32("epoch_digest", i, "next_validator_set_hash");
    }

    /// Each digest vector: the library, the test's own encoding, and a Rollup deployed for that
    /// L2 chain, run at that rollup address on that L1 chain, all give the vector's digest.
    function test_epochDigestVectors() public {
        _count("epoch_digest", 3);
        uint256 chainBefore = block.chainid;
        for (uint256 i = 0; i < 3; i++) {
            EpochHeader memory h = _digestHeader(i);
            uint256 l1 = _u("epoch_digest", i, "l1_chain_id");
            address at = _a("epoch_digest", i, "rollup");
            uint256 l2 = _u("epoch_digest", i, "l2_chain_id");
            bytes32 want = _b32("epoch_digest", i, "digest");
            assertEq(lib.epochDigest(l1, at, l2, h), want, "BridgeLib.epochDigest");
            assertEq(Ref.digest(l1, at, l2, h), want, "the test's encoding");

            Rollup r = new Rollup(IEpochVerifier(address(mock)), l2, genesis(), set.addrs, set.powers, 1, 1, 1, 1);
            vm.etch(at, address(r).code);
            vm.chainId(l1);
            assertEq(Rollup(at).epochDigest(h), want, "Rollup.epochDigest on that chain at that address");
            vm.chainId(chainBefore);
        }
    }

    function test_validatorSetVectors() public {
        _count("valset", 3);
        for (uint256 i = 0; i < 3; i++) {
            address[] memory signers = vm.parseJsonAddressArray(json, _key("valset", i, "signers"));
            uint256[] memory powers = vm.parseJsonUintArray(json, _key("valset", i, "powers"));
            assertEq(signers.length, _u("valset", i, "n"), "n");
            bytes32 want = _b32("valset", i, "hash");
            (bytes32 hash,, bool wellFormed) = lib.valsetHash(signers, powers);
            assertEq(hash, want, "BridgeLib.valsetHash");
            assertTrue(wellFormed, "the vector set is well formed");
            assertEq(Ref.valset(signers, powers), want, "the test's encoding");
            Rollup r = new Rollup(IEpochVerifier(address(mock)), L2_CHAIN_ID, genesis(), signers, powers, 1, 1, 1, 1);
            assertEq(r.validatorSetHash(), want, "the deployed Rollup's set hash");
        }
    }

    function test_signatureVectors() public view {
        _count("signature", 2);
        for (uint256 i = 0; i < 2; i++) {
            uint256 key = _u("signature", i, "key");
            address who = _a("signature", i, "address");
            bytes32 digest = _b32("signature", i, "digest");
            bytes32 r = _b32("signature", i, "r");
            bytes32 s = _b32("signature", i, "s");
            uint256 v = _u("signature", i, "v");
            assertEq(vm.addr(key), who, "key's address");
            assertTrue(v == 27 || v == 28, "v is 27 or 28");
            assertTrue(uint256(s) <= BridgeLib.HALF_N, "low-s");
            assertEq(ecrecover(digest, uint8(v), r, s), who, "ecrecover");
            // Both sides sign deterministically (RFC 6979): forge's signature is the same.
            (uint8 fv, bytes32 fr, bytes32 fs) = vm.sign(key, digest);
            assertEq(fr, r, "r");
            assertEq(fs, s, "s");
            assertEq(fv, v, "v");
        }
    }

    /// The queue vectors, appended for real (each from its sender): the Rollup's stored
    /// rolling hashes, and the library's entry hashes, are the vector's.
    function test_queueVectors() public {
        _count("queue", 6);
        bytes32 rolling = 0;
        for (uint256 i = 0; i < 6; i++) {
            uint256 kind = _u("queue", i, "kind");
            assertEq(_u("queue", i, "index"), i, "entries in order");
            address sender = _a("queue", i, "sender");
            bytes32 entry = _b32("queue", i, "entry");
            if (kind == 0) {
                address to = _a("queue", i, "l2_recipient");
                uint256 amount = _u("queue", i, "amount");
                assertEq(lib.depositEntry(uint64(i), sender, to, amount), entry, "deposit entry");
                vm.deal(sender, amount);
                vm.prank(sender);
                rollup.deposit{value: amount}(to);
            } else {
                assertEq(kind, 1, "kind is 0 or 1");
                bytes memory raw = vm.parseJsonBytes(json, _key("queue", i, "raw_tx"));
                assertEq(lib.forcedEntry(uint64(i), sender, raw), entry, "forced entry");
                vm.prank(sender);
                rollup.forceTransaction(raw);
            }
            rolling = Ref.roll(rolling, entry);
            assertEq(rolling, _b32("queue", i, "rolling"), "the vector's rolling hash rolls its entries");
            assertEq(rollup.rollingHash(i + 1), _b32("queue", i, "rolling"), "the Rollup's rolling hash");
        }
        assertEq(rollup.queueLength(), 6, "six entries");
    }

    /// The withdrawal vectors: each root from the library and the test's own tree, and each
    /// leaf claimed through claimWithdrawal with its path once the epoch is finalized.
    function test_withdrawalVectors() public {
        _count("withdrawals", 4);
        uint256 l2 = _u("withdrawals", 0, "l2_chain_id");
        Rollup r = new Rollup(IEpochVerifier(address(mock)), l2, genesis(), set.addrs, set.powers, 1 days, 7 days, 1, 1);
        uint256 lastEpoch = _u("withdrawals", 3, "epoch");
        uint256 total = 0;
        bytes32[] memory roots = new bytes32[](lastEpoch + 1);
        for (uint256 k = 0; k < 4; k++) {
            assertEq(_u("withdrawals", k, "l2_chain_id"), l2, "one L2 chain id");
            total += _checkTree(k, l2);
            roots[_u("withdrawals", k, "epoch")] = _b32("withdrawals", k, "root");
        }
        // Finalize epochs 0..last (empty ones: no state change), each with its withdrawal root.
        for (uint256 e = 0; e <= lastEpoch; e++) {
            EpochHeader memory h = header(r, r.lastRoot());
            h.withdrawalRoot = roots[e];
            finalizeEmpty(r, set, h);
        }
        vm.deal(address(r), total);
        for (uint256 k = 0; k < 4; k++) {
            _claimAll(r, k);
        }
        assertEq(address(r).balance, 0, "every vector withdrawal paid");
    }

    function _checkTree(uint256 k, uint256 l2) internal view returns (uint256 total) {
        uint64 epoch = uint64(_u("withdrawals", k, "epoch"));
        address[] memory to = vm.parseJsonAddressArray(json, _key("withdrawals", k, "recipients"));
        uint256[] memory amounts = vm.parseJsonUintArray(json, _key("withdrawals", k, "amounts"));
        uint256 n = _u("withdrawals", k, "n");
        assertEq(to.length, n, "n recipients");
        assertEq(amounts.length, n, "n amounts");
        bytes32 root = _b32("withdrawals", k, "root");
        bytes32[] memory leaves = new bytes32[](n);
        for (uint256 i = 0; i < n; i++) {
            leaves[i] = lib.withdrawalLeaf(l2, epoch, uint64(i), to[i], amounts[i]);
            assertEq(leaves[i], Ref.withdrawalLeaf(l2, epoch, i, to[i], amounts[i]), "leaf");
            bytes32[] memory path = _path(k, i);
            assertEq(lib.withdrawalRootFrom(leaves[i], i, path), root, "BridgeLib root from the vector path");
            total += amounts[i];
        }
        (bytes32 refRoot, bytes32[][] memory refPaths) = Ref.tree(leaves);
        assertEq(refRoot, root, "the test's tree");
        for (uint256 i = 0; i < n; i++) {
            assertEq(keccak256(abi.encode(refPaths[i])), keccak256(abi.encode(_path(k, i))), "the test's path");
        }
    }

    function _path(uint256 k, uint256 i) internal view returns (bytes32[] memory) {
        return vm.parseJsonBytes32Array(json, string.concat(_key("withdrawals", k, "paths"), "[", vm.toString(i), "]"));
    }

    function _claimAll(Rollup r, uint256 k) internal {
        uint64 epoch = uint64(_u("withdrawals", k, "epoch"));
        address[] memory to = vm.parseJsonAddressArray(json, _key("withdrawals", k, "recipients"));
        uint256[] memory amounts = vm.parseJsonUintArray(json, _key("withdrawals", k, "amounts"));
        for (uint256 i = 0; i < to.length; i++) {
            uint256 before = to[i].balance;
            r.claimWithdrawal(epoch, uint64(i), to[i], amounts[i], _path(k, i));
            assertEq(to[i].balance, before + amounts[i], "paid");
        }
    }
}
