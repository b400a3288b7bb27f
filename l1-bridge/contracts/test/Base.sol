// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.19;

import {Vm} from "./Vm.sol";
import {MockVerifier} from "./MockVerifier.sol";
import {Rollup, IEpochVerifier} from "../src/Rollup.sol";
import {EpochHeader} from "../src/BridgeLib.sol";

/// @notice Tiny assertions (no forge-std): a failed one reverts with what differed.
abstract contract Asserts {
    error AssertEqUint(string what, uint256 got, uint256 want);
    error AssertEqBytes32(string what, bytes32 got, bytes32 want);
    error AssertEqAddress(string what, address got, address want);
    error AssertTrue(string what);

    function assertEq(uint256 got, uint256 want, string memory what) internal pure {
        if (got != want) revert AssertEqUint(what, got, want);
    }

    function assertEq(bytes32 got, bytes32 want, string memory what) internal pure {
        if (got != want) revert AssertEqBytes32(what, got, want);
    }

    function assertEq(address got, address want, string memory what) internal pure {
        if (got != want) revert AssertEqAddress(what, got, want);
    }

    function assertTrue(bool ok, string memory what) internal pure {
        if (!ok) revert AssertTrue(what);
    }
}

/// @notice The bridge encodings of docs/bridge.md written a second time, independently of
/// src/BridgeLib.sol (byte concatenation instead of abi.encode / assembly), so that the tests
/// compare the contract against the document rather than against itself.
library Ref {
    /// BN254 r and secp256k1 n, written in another base than in BridgeLib.
    uint256 internal constant R = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    uint256 internal constant N = 115792089237316195423570985008687907852837564279074904382605163141518161494337;

    function word(uint256 x) internal pure returns (bytes memory) {
        return abi.encodePacked(bytes32(x));
    }

    function word(address a) internal pure returns (bytes memory) {
        return abi.encodePacked(bytes12(0), a);
    }

    function tag(string memory s) internal pure returns (bytes32) {
        return keccak256(bytes(s));
    }

    function digest(uint256 l1ChainId, address rollup, uint256 l2ChainId, EpochHeader memory h)
        internal
        pure
        returns (bytes32)
    {
        bytes memory b = bytes.concat(
            tag("parley.bridge.epoch.v1"), word(l1ChainId), word(rollup), word(l2ChainId), word(h.epoch)
        );
        b = bytes.concat(b, h.firstPreRoot, h.lastPostRoot, h.epochCommitment, h.withdrawalRoot);
        b = bytes.concat(b, h.queueRollingHash, h.nextValidatorSetHash);
        return keccak256(b);
    }

    function valset(address[] memory a, uint256[] memory p) internal pure returns (bytes32) {
        bytes memory b = bytes.concat(tag("parley.bridge.valset.v1"), word(a.length));
        for (uint256 i = 0; i < a.length; i++) {
            b = bytes.concat(b, word(a[i]), word(p[i]));
        }
        return keccak256(b);
    }

    function depositEntry(uint256 index, address sender, address to, uint256 amount) internal pure returns (bytes32) {
        return
            keccak256(bytes.concat(tag("parley.bridge.deposit.v1"), word(index), word(sender), word(to), word(amount)));
    }

    function forcedEntry(uint256 index, address sender, bytes memory rawTx) internal pure returns (bytes32) {
        return keccak256(bytes.concat(tag("parley.bridge.forced.v1"), word(index), word(sender), keccak256(rawTx)));
    }

    function roll(bytes32 r, bytes32 entry) internal pure returns (bytes32) {
        return keccak256(bytes.concat(r, entry));
    }

    function withdrawalLeaf(uint256 l2ChainId, uint256 epoch, uint256 i, address to, uint256 amount)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(
            bytes.concat(
                tag("parley.bridge.withdrawal.v1"), word(l2ChainId), word(epoch), word(i), word(to), word(amount)
            )
        );
    }

    /// The root of a keccak tree over `leaves` (padded with zeros to a power of two) and every
    /// leaf's siblings from the leaf up. No leaves: root 0.
    function tree(bytes32[] memory leaves) internal pure returns (bytes32 root, bytes32[][] memory paths) {
        uint256 n = leaves.length;
        paths = new bytes32[][](n);
        if (n == 0) return (bytes32(0), paths);
        uint256 depth = 0;
        while ((uint256(1) << depth) < n) depth++;
        bytes32[] memory level = new bytes32[](uint256(1) << depth);
        for (uint256 i = 0; i < n; i++) {
            level[i] = leaves[i];
            paths[i] = new bytes32[](depth);
        }
        for (uint256 h = 0; h < depth; h++) {
            for (uint256 i = 0; i < n; i++) {
                paths[i][h] = level[(i >> h) ^ 1];
            }
            bytes32[] memory up = new bytes32[](level.length / 2);
            for (uint256 k = 0; k < up.length; k++) {
                up[k] = keccak256(bytes.concat(level[2 * k], level[2 * k + 1]));
            }
            level = up;
        }
        root = level[0];
    }
}

/// @notice A deployed Rollup over a MockVerifier, a validator set with known keys, and helpers
/// that build, sign and submit epochs.
abstract contract Fixture is Asserts {
    Vm internal constant vm = Vm(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);

    uint256 internal constant L2_CHAIN_ID = 424242;
    uint64 internal constant FORCE_DELAY = 1 days;
    uint64 internal constant ESCAPE_DELAY = 7 days;
    uint64 internal constant RELAY_SLOT = 20;
    uint256 internal constant MAX_TX = 1024;
    uint256 internal constant T0 = 1_700_000_000;

    struct ValSet {
        uint256[] keys;
        address[] addrs;
        uint256[] powers;
    }

    MockVerifier internal mock;
    Rollup internal rollup;
    ValSet internal set;

    function setUp() public virtual {
        vm.warp(T0);
        mock = new MockVerifier();
        set = makeSet(1, powersOf(10, 20, 30, 40));
        rollup = deploy(set);
    }

    // ---- values -------------------------------------------------------------------------------

    /// A field element (below r) derived from a label.
    function fe(bytes memory label) internal pure returns (bytes32) {
        return bytes32(uint256(keccak256(label)) % Ref.R);
    }

    function genesis() internal pure returns (bytes32) {
        return fe("genesis");
    }

    function powersOf(uint256 a, uint256 b, uint256 c, uint256 d) internal pure returns (uint256[] memory p) {
        p = new uint256[](4);
        (p[0], p[1], p[2], p[3]) = (a, b, c, d);
    }

    /// A set of `powers.length` members with keys from `seed`, sorted by address; member i
    /// (after sorting) gets powers[i].
    function makeSet(uint256 seed, uint256[] memory powers) internal pure returns (ValSet memory s) {
        uint256 n = powers.length;
        s.keys = new uint256[](n);
        s.addrs = new address[](n);
        s.powers = powers;
        for (uint256 i = 0; i < n; i++) {
            uint256 key = uint256(keccak256(abi.encode("validator", seed, i))) % (Ref.N - 1) + 1;
            address a = vm.addr(key);
            uint256 j = i;
            while (j > 0 && s.addrs[j - 1] > a) {
                s.addrs[j] = s.addrs[j - 1];
                s.keys[j] = s.keys[j - 1];
                j--;
            }
            s.addrs[j] = a;
            s.keys[j] = key;
        }
    }

    function hashOf(ValSet memory s) internal pure returns (bytes32) {
        return Ref.valset(s.addrs, s.powers);
    }

    function deploy(ValSet memory s) internal returns (Rollup) {
        return new Rollup(
            IEpochVerifier(address(mock)),
            L2_CHAIN_ID,
            genesis(),
            s.addrs,
            s.powers,
            FORCE_DELAY,
            ESCAPE_DELAY,
            RELAY_SLOT,
            MAX_TX
        );
    }

    // ---- epochs -------------------------------------------------------------------------------

    /// The next epoch of `r` from its last root to `post`, consuming nothing new, keeping the set.
    function header(Rollup r, bytes32 post) internal view returns (EpochHeader memory h) {
        h.epoch = r.nextEpoch();
        h.firstPreRoot = r.lastRoot();
        h.lastPostRoot = post;
        h.epochCommitment = fe(abi.encode("commitment", h.epoch));
        h.withdrawalRoot = bytes32(0);
        h.queueCount = r.queueConsumed();
        h.queueRollingHash = r.rollingHash(h.queueCount);
        h.nextValidatorSetHash = r.validatorSetHash();
    }

    function consume(Rollup r, EpochHeader memory h, uint64 count) internal view {
        h.queueCount = count;
        h.queueRollingHash = r.rollingHash(count);
    }

    function acc(uint64 epoch) internal pure returns (uint256[12] memory a) {
        for (uint256 i = 0; i < 12; i++) {
            a[i] = uint256(keccak256(abi.encode("limb", epoch, i))) % Ref.R;
        }
    }

    function proofOf(uint64 epoch) internal pure returns (bytes memory) {
        return abi.encodePacked(keccak256(abi.encode("proof", epoch)), bytes9(0x0102030405060708ff), uint16(epoch));
    }

    /// What the generated verifier must receive: 15 words of instances, then the proof.
    function verifierCalldata(uint256[12] memory a, EpochHeader memory h, bytes memory proof)
        internal
        pure
        returns (bytes memory)
    {
        return bytes.concat(abi.encode(a, h.firstPreRoot, h.lastPostRoot, h.epochCommitment), proof);
    }

    function digestOf(Rollup r, EpochHeader memory h) internal view returns (bytes32) {
        return Ref.digest(block.chainid, address(r), L2_CHAIN_ID, h);
    }

    function sigOf(uint256 key, uint256 index, bytes32 digest) internal pure returns (Rollup.Sig memory sig) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        sig = Rollup.Sig(index, r, s, v);
    }

    /// Signatures of the members of `s` whose bit is set in `mask`, in member order.
    function signMask(ValSet memory s, bytes32 digest, uint256 mask) internal pure returns (Rollup.Sig[] memory sigs) {
        uint256 count = 0;
        for (uint256 i = 0; i < s.keys.length; i++) {
            if ((mask >> i) & 1 == 1) count++;
        }
        sigs = new Rollup.Sig[](count);
        uint256 k = 0;
        for (uint256 i = 0; i < s.keys.length; i++) {
            if ((mask >> i) & 1 == 1) sigs[k++] = sigOf(s.keys[i], i, digest);
        }
    }

    function signAll(ValSet memory s, bytes32 digest) internal pure returns (Rollup.Sig[] memory) {
        return signMask(s, digest, (uint256(1) << s.keys.length) - 1);
    }

    /// Signs `h` with all of `s`, makes the mock accept exactly its calldata, and finalizes.
    function finalize(Rollup r, ValSet memory s, EpochHeader memory h) internal {
        uint256[12] memory a = acc(h.epoch);
        bytes memory proof = proofOf(h.epoch);
        mock.expect(keccak256(verifierCalldata(a, h, proof)));
        r.finalizeEpoch(h, s.addrs, s.powers, signAll(s, digestOf(r, h)), a, proof);
    }

    /// Finalizes an epoch without a proof (no state change: pre == post).
    function finalizeEmpty(Rollup r, ValSet memory s, EpochHeader memory h) internal {
        uint256[12] memory a;
        r.finalizeEpoch(h, s.addrs, s.powers, signAll(s, digestOf(r, h)), a, "");
    }
}
