// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.19;

import {Fixture, Ref} from "./Base.sol";
import {MockVerifier} from "./MockVerifier.sol";
import {Rollup, IEpochVerifier} from "../src/Rollup.sol";
import {EpochHeader} from "../src/BridgeLib.sol";

/// finalizeEpoch: order, roots, canonical instances, the verifier call, empty epochs.
contract FinalizeTest is Fixture {
    function test_constructorStoresConfigurationAndSetHash() public view {
        assertEq(address(rollup.verifier()), address(mock), "verifier");
        assertEq(rollup.l2ChainId(), L2_CHAIN_ID, "l2 chain id");
        assertEq(rollup.lastRoot(), genesis(), "last root starts at genesis");
        assertEq(rollup.genesisRoot(), genesis(), "genesis");
        assertEq(rollup.validatorSetHash(), hashOf(set), "set hash");
        assertEq(rollup.nextEpoch(), 0, "next epoch");
        assertEq(rollup.lastFinalizedAt(), T0, "deployment time");
        assertEq(rollup.forceDelay(), FORCE_DELAY, "force delay");
        assertEq(rollup.escapeDelay(), ESCAPE_DELAY, "escape delay");
        assertEq(rollup.relaySlot(), RELAY_SLOT, "relay slot");
        assertEq(rollup.maxForcedTxBytes(), MAX_TX, "max tx");
        assertEq(rollup.queueLength(), 0, "empty queue");
        assertEq(rollup.rollingHash(0), bytes32(0), "R_0");
    }

    function test_finalizeRecordsTheEpoch() public {
        vm.warp(T0 + 100);
        EpochHeader memory h = header(rollup, fe("post-0"));
        h.withdrawalRoot = keccak256("w0");
        h.nextValidatorSetHash = keccak256("next set");
        finalize(rollup, set, h);
        Rollup.EpochRecord memory e = rollup.epochs(0);
        assertEq(e.postRoot, fe("post-0"), "post root");
        assertEq(e.withdrawalRoot, keccak256("w0"), "withdrawal root");
        assertEq(e.queueCount, 0, "queue count");
        assertEq(rollup.nextEpoch(), 1, "next epoch");
        assertEq(rollup.lastRoot(), fe("post-0"), "last root");
        assertEq(rollup.lastFinalizedAt(), T0 + 100, "finalized at");
        assertEq(rollup.validatorSetHash(), keccak256("next set"), "rotated hash");
    }

    function test_epochsChainInOrder() public {
        for (uint256 i = 0; i < 3; i++) {
            finalize(rollup, set, header(rollup, fe(abi.encode("post", i))));
        }
        assertEq(rollup.nextEpoch(), 3, "three epochs");
        assertEq(rollup.epochs(1).postRoot, fe(abi.encode("post", uint256(1))), "epoch 1 root");
        assertEq(rollup.lastRoot(), fe(abi.encode("post", uint256(2))), "last root");
    }

    function test_refusesAnAlreadyFinalizedEpoch() public {
        EpochHeader memory h = header(rollup, fe("post-0"));
        finalize(rollup, set, h);
        // The very same submission again (what a late relayer sends).
        uint256[12] memory a = acc(0);
        Rollup.Sig[] memory sigs = signAll(set, digestOf(rollup, h));
        vm.expectRevert(abi.encodeWithSelector(Rollup.AlreadyFinalized.selector, uint64(0)));
        rollup.finalizeEpoch(h, set.addrs, set.powers, sigs, a, proofOf(0));
    }

    function test_refusesAnEpochOutOfOrder() public {
        EpochHeader memory h = header(rollup, fe("post-1"));
        h.epoch = 1;
        uint256[12] memory a = acc(1);
        mock.expect(keccak256(verifierCalldata(a, h, proofOf(1))));
        Rollup.Sig[] memory sigs = signAll(set, digestOf(rollup, h));
        vm.expectRevert(abi.encodeWithSelector(Rollup.EpochOutOfOrder.selector, uint64(1), uint64(0)));
        rollup.finalizeEpoch(h, set.addrs, set.powers, sigs, a, proofOf(1));
        // Epoch 0 first, then the same epoch 1 goes through.
        finalize(rollup, set, header(rollup, fe("post-0")));
        h.firstPreRoot = fe("post-0");
        finalize(rollup, set, h);
        assertEq(rollup.nextEpoch(), 2, "both finalized");
    }

    function test_refusesAWrongPreRoot() public {
        EpochHeader memory h = header(rollup, fe("post-0"));
        h.firstPreRoot = fe("not the genesis");
        uint256[12] memory a = acc(0);
        mock.expect(keccak256(verifierCalldata(a, h, proofOf(0))));
        Rollup.Sig[] memory sigs = signAll(set, digestOf(rollup, h));
        vm.expectRevert(abi.encodeWithSelector(Rollup.WrongPreRoot.selector, fe("not the genesis"), genesis()));
        rollup.finalizeEpoch(h, set.addrs, set.powers, sigs, a, proofOf(0));
        assertEq(rollup.nextEpoch(), 0, "nothing finalized");
    }

    /// Instance `pos` (0..11 limbs, 12 pre root, 13 post root, 14 commitment) set to x + r is
    /// refused even though the verifier (like the real one, which reduces mod r) would accept
    /// it and every signature is valid; the same epoch with x goes through.
    function testFuzz_refusesANonCanonicalInstance(uint8 position, uint256 x) public {
        uint256 pos = position % 15;
        x = x % Ref.R;
        if (pos == 12) x = uint256(genesis());
        EpochHeader memory h = header(rollup, fe("post-0"));
        uint256[12] memory a = acc(0);
        _setInstance(h, a, pos, x + Ref.R);
        mock.expect(keccak256(verifierCalldata(a, h, proofOf(0))));
        Rollup.Sig[] memory sigs = signAll(set, digestOf(rollup, h));
        if (pos == 12) {
            // The pre root must equal the stored (canonical) root, which x + r never does.
            vm.expectRevert(abi.encodeWithSelector(Rollup.WrongPreRoot.selector, bytes32(x + Ref.R), genesis()));
        } else {
            vm.expectRevert(abi.encodeWithSelector(Rollup.NonCanonicalInstance.selector, pos));
        }
        rollup.finalizeEpoch(h, set.addrs, set.powers, sigs, a, proofOf(0));

        _setInstance(h, a, pos, x);
        mock.expect(keccak256(verifierCalldata(a, h, proofOf(0))));
        rollup.finalizeEpoch(h, set.addrs, set.powers, signAll(set, digestOf(rollup, h)), a, proofOf(0));
        assertEq(rollup.nextEpoch(), 1, "canonical twin finalized");
    }

    function test_refusesRPlusZeroAndTheTopValueAtEveryPosition() public {
        for (uint256 pos = 0; pos < 15; pos++) {
            if (pos == 12) continue;
            for (uint256 v = 0; v < 2; v++) {
                EpochHeader memory h = header(rollup, fe("post-0"));
                uint256[12] memory a = acc(0);
                _setInstance(h, a, pos, v == 0 ? Ref.R : type(uint256).max);
                mock.expect(keccak256(verifierCalldata(a, h, proofOf(0))));
                Rollup.Sig[] memory sigs = signAll(set, digestOf(rollup, h));
                vm.expectRevert(abi.encodeWithSelector(Rollup.NonCanonicalInstance.selector, pos));
                rollup.finalizeEpoch(h, set.addrs, set.powers, sigs, a, proofOf(0));
            }
        }
        // r - 1 everywhere is canonical.
        EpochHeader memory ok = header(rollup, bytes32(Ref.R - 1));
        ok.epochCommitment = bytes32(Ref.R - 1);
        uint256[12] memory top;
        for (uint256 i = 0; i < 12; i++) {
            top[i] = Ref.R - 1;
        }
        mock.expect(keccak256(verifierCalldata(top, ok, proofOf(0))));
        rollup.finalizeEpoch(ok, set.addrs, set.powers, signAll(set, digestOf(rollup, ok)), top, proofOf(0));
        assertEq(rollup.lastRoot(), bytes32(Ref.R - 1), "r - 1 accepted");
    }

    function _setInstance(EpochHeader memory h, uint256[12] memory a, uint256 pos, uint256 value) private pure {
        if (pos < 12) a[pos] = value;
        else if (pos == 12) h.firstPreRoot = bytes32(value);
        else if (pos == 13) h.lastPostRoot = bytes32(value);
        else h.epochCommitment = bytes32(value);
    }

    /// The verifier is called with exactly 15 instance words and the proof: the mock accepts
    /// only that calldata, so any other layout (order, padding, missing word) reverts.
    function testFuzz_verifierGetsExactlyTheInstancesAndTheProof(uint256 seed, bytes memory proof) public {
        vm.assume(proof.length > 0);
        EpochHeader memory h = header(rollup, fe(abi.encode("post", seed)));
        h.epochCommitment = fe(abi.encode("commitment", seed));
        uint256[12] memory a;
        for (uint256 i = 0; i < 12; i++) {
            a[i] = uint256(keccak256(abi.encode(seed, i))) % Ref.R;
        }
        bytes memory expected = verifierCalldata(a, h, proof);
        assertEq(expected.length, 15 * 32 + proof.length, "calldata length");
        mock.expect(keccak256(expected));
        rollup.finalizeEpoch(h, set.addrs, set.powers, signAll(set, digestOf(rollup, h)), a, proof);
        assertEq(rollup.lastRoot(), h.lastPostRoot, "finalized");
    }

    function test_verifierRefusesAnyOtherLayout() public {
        EpochHeader memory h = header(rollup, fe("post-0"));
        uint256[12] memory a = acc(0);
        bytes memory proof = proofOf(0);
        Rollup.Sig[] memory sigs = signAll(set, digestOf(rollup, h));
        bytes[4] memory wrong = [
            // Statement before the accumulator.
            bytes.concat(abi.encode(h.firstPreRoot, h.lastPostRoot, h.epochCommitment, a), proof),
            // Post and pre swapped.
            bytes.concat(abi.encode(a, h.lastPostRoot, h.firstPreRoot, h.epochCommitment), proof),
            // ABI-encoded bytes (offset and length words) instead of raw proof bytes.
            abi.encode(a, h.firstPreRoot, h.lastPostRoot, h.epochCommitment, proof),
            // Without the commitment.
            bytes.concat(abi.encode(a, h.firstPreRoot, h.lastPostRoot), proof)
        ];
        for (uint256 i = 0; i < wrong.length; i++) {
            mock.expect(keccak256(wrong[i]));
            vm.expectRevert(Rollup.InvalidProof.selector);
            rollup.finalizeEpoch(h, set.addrs, set.powers, sigs, a, proof);
        }
        mock.expect(keccak256(verifierCalldata(a, h, proof)));
        rollup.finalizeEpoch(h, set.addrs, set.powers, sigs, a, proof);
        assertEq(rollup.nextEpoch(), 1, "the right layout verifies");
    }

    function test_refusesABadProof() public {
        EpochHeader memory h = header(rollup, fe("post-0"));
        uint256[12] memory a = acc(0);
        bytes memory proof = proofOf(0);
        mock.expect(keccak256(verifierCalldata(a, h, proof)));
        Rollup.Sig[] memory sigs = signAll(set, digestOf(rollup, h));
        bytes memory bad = bytes.concat(proof);
        bad[bad.length - 1] ^= 0x01;
        vm.expectRevert(Rollup.InvalidProof.selector);
        rollup.finalizeEpoch(h, set.addrs, set.powers, sigs, a, bad);
        // A changed limb is a bad proof too.
        uint256[12] memory a2;
        for (uint256 i = 0; i < 12; i++) {
            a2[i] = a[i];
        }
        a2[5] = (a2[5] + 1) % Ref.R;
        vm.expectRevert(Rollup.InvalidProof.selector);
        rollup.finalizeEpoch(h, set.addrs, set.powers, sigs, a2, proof);
        rollup.finalizeEpoch(h, set.addrs, set.powers, sigs, a, proof);
        assertEq(rollup.nextEpoch(), 1, "the good proof verifies");
    }

    /// Were the verifier's code gone, a call to it would succeed: that is no verification.
    function test_refusesAProofWhenTheVerifierHasNoCode() public {
        EpochHeader memory h = header(rollup, fe("post-0"));
        uint256[12] memory a = acc(0);
        bytes memory proof = proofOf(0);
        mock.expect(keccak256(verifierCalldata(a, h, proof)));
        Rollup.Sig[] memory sigs = signAll(set, digestOf(rollup, h));
        vm.etch(address(mock), "");
        vm.expectRevert(Rollup.InvalidProof.selector);
        rollup.finalizeEpoch(h, set.addrs, set.powers, sigs, a, proof);
        assertEq(rollup.nextEpoch(), 0, "nothing finalized");
    }

    function test_emptyEpochWithoutProofIsAccepted() public {
        // The mock expects something else: were it called, the finalization would revert.
        mock.expect(keccak256("nothing"));
        EpochHeader memory h = header(rollup, genesis());
        h.withdrawalRoot = bytes32(0);
        finalizeEmpty(rollup, set, h);
        assertEq(rollup.nextEpoch(), 1, "empty epoch finalized");
        assertEq(rollup.lastRoot(), genesis(), "root unchanged");
    }

    function test_emptyProofIsRefusedWhenTheRootChanges() public {
        mock.expect(keccak256("nothing"));
        EpochHeader memory h = header(rollup, fe("post-0"));
        uint256[12] memory a;
        Rollup.Sig[] memory sigs = signAll(set, digestOf(rollup, h));
        vm.expectRevert(Rollup.ProofRequired.selector);
        rollup.finalizeEpoch(h, set.addrs, set.powers, sigs, a, "");
        assertEq(rollup.nextEpoch(), 0, "nothing finalized");
    }

    function test_emptyEpochStillNeedsTheAttestation() public {
        EpochHeader memory h = header(rollup, genesis());
        uint256[12] memory a;
        Rollup.Sig[] memory sigs = signMask(set, digestOf(rollup, h), 0x1); // 10 of 100
        vm.expectRevert(abi.encodeWithSelector(Rollup.NotEnoughPower.selector, 10, 100));
        rollup.finalizeEpoch(h, set.addrs, set.powers, sigs, a, "");
    }

    function test_epochDigestViewMatchesTheDocument() public view {
        EpochHeader memory h = header(rollup, fe("post-0"));
        h.withdrawalRoot = keccak256("w");
        assertEq(rollup.epochDigest(h), Ref.digest(block.chainid, address(rollup), L2_CHAIN_ID, h), "digest");
    }

    // ---- constructor --------------------------------------------------------------------------

    function _deployWith(address[] memory a, uint256[] memory p) private returns (Rollup) {
        return new Rollup(
            IEpochVerifier(address(mock)), L2_CHAIN_ID, genesis(), a, p, FORCE_DELAY, ESCAPE_DELAY, RELAY_SLOT, MAX_TX
        );
    }

    function test_constructorRefusesMalformedSets() public {
        ValSet memory s = makeSet(9, powersOf(1, 2, 3, 4));
        // Unsorted.
        address[] memory a = new address[](4);
        (a[0], a[1], a[2], a[3]) = (s.addrs[1], s.addrs[0], s.addrs[2], s.addrs[3]);
        vm.expectRevert(Rollup.BadValidatorSet.selector);
        _deployWith(a, s.powers);
        // Duplicate.
        (a[0], a[1]) = (s.addrs[0], s.addrs[0]);
        vm.expectRevert(Rollup.BadValidatorSet.selector);
        _deployWith(a, s.powers);
        // Zero power.
        vm.expectRevert(Rollup.BadValidatorSet.selector);
        _deployWith(s.addrs, powersOf(1, 0, 3, 4));
        // Power 2^64.
        vm.expectRevert(Rollup.BadValidatorSet.selector);
        _deployWith(s.addrs, powersOf(1, 1 << 64, 3, 4));
        // Lengths differ.
        vm.expectRevert(Rollup.BadValidatorSet.selector);
        _deployWith(s.addrs, new uint256[](3));
        // Empty.
        vm.expectRevert(Rollup.BadValidatorSet.selector);
        _deployWith(new address[](0), new uint256[](0));
        // The zero address.
        (a[0], a[1], a[2], a[3]) = (address(0), s.addrs[1], s.addrs[2], s.addrs[3]);
        vm.expectRevert(Rollup.BadValidatorSet.selector);
        _deployWith(a, s.powers);
        // The largest power is fine.
        Rollup r = _deployWith(s.addrs, powersOf(1, type(uint64).max, 3, 4));
        assertEq(r.validatorSetHash(), Ref.valset(s.addrs, powersOf(1, type(uint64).max, 3, 4)), "hash");
    }

    function test_constructorTakes128MembersButNot129() public {
        address[] memory a = new address[](129);
        uint256[] memory p = new uint256[](129);
        for (uint256 i = 0; i < 129; i++) {
            a[i] = address(uint160(0x1000 + i));
            p[i] = 1;
        }
        vm.expectRevert(Rollup.BadValidatorSet.selector);
        _deployWith(a, p);
        assembly {
            mstore(a, 128)
            mstore(p, 128)
        }
        Rollup r = _deployWith(a, p);
        assertEq(r.validatorSetHash(), Ref.valset(a, p), "128 members");
    }

    function test_constructorRefusesAVerifierWithoutCode() public {
        vm.expectRevert(Rollup.VerifierHasNoCode.selector);
        new Rollup(IEpochVerifier(address(0xdead)), L2_CHAIN_ID, genesis(), set.addrs, set.powers, 1, 1, 1, 1);
    }

    function test_constructorRefusesANonCanonicalGenesisRoot() public {
        vm.expectRevert(Rollup.NonCanonicalGenesisRoot.selector);
        new Rollup(IEpochVerifier(address(mock)), L2_CHAIN_ID, bytes32(Ref.R), set.addrs, set.powers, 1, 1, 1, 1);
    }
}
