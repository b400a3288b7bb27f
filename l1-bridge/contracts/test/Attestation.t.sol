// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.19;

import {Fixture, Ref} from "./Base.sol";
import {Rollup} from "../src/Rollup.sol";
import {EpochHeader} from "../src/BridgeLib.sol";

/// The validators' attestation: the set, the signatures, the 2/3 rule, the digest's domain.
contract AttestationTest is Fixture {
    /// Submits `h` for `r` with `sigs` of set `s`, expecting `revertData` (empty: success).
    function _submit(Rollup r, ValSet memory s, EpochHeader memory h, Rollup.Sig[] memory sigs, bytes memory revertData)
        private
    {
        uint256[12] memory a = acc(h.epoch);
        bytes memory proof = proofOf(h.epoch);
        mock.expect(keccak256(verifierCalldata(a, h, proof)));
        if (revertData.length > 0) vm.expectRevert(revertData);
        r.finalizeEpoch(h, s.addrs, s.powers, sigs, a, proof);
    }

    /// A fuzzed 4..10-member set with varied powers and a fuzzed subset of signers: the epoch
    /// is accepted iff 3·S > 2·T.
    function testFuzz_acceptsIffMoreThanTwoThirdsSigned(uint256 seed) public {
        uint256 n = 4 + seed % 7;
        uint256[] memory powers = new uint256[](n);
        uint256 total = 0;
        for (uint256 i = 0; i < n; i++) {
            uint256 x = uint256(keccak256(abi.encode(seed, "power", i)));
            uint256 class = x % 3;
            uint256 cap = class == 0 ? 10 : class == 1 ? 1000 : type(uint64).max;
            powers[i] = 1 + (x >> 8) % cap;
            total += powers[i];
        }
        ValSet memory s = makeSet(seed, powers);
        Rollup r = deploy(s);
        uint256 mask = uint256(keccak256(abi.encode(seed, "mask"))) % (uint256(1) << n);
        uint256 signed = 0;
        for (uint256 i = 0; i < n; i++) {
            if ((mask >> i) & 1 == 1) signed += s.powers[i];
        }
        EpochHeader memory h = header(r, fe(abi.encode("post", seed)));
        Rollup.Sig[] memory sigs = signMask(s, digestOf(r, h), mask);
        bool enough = 3 * signed > 2 * total;
        _submit(
            r, s, h, sigs, enough ? bytes("") : abi.encodeWithSelector(Rollup.NotEnoughPower.selector, signed, total)
        );
        assertEq(r.nextEpoch(), enough ? 1 : 0, "finalized iff more than 2/3 signed");
    }

    function test_exactlyTwoThirdsIsNotEnough() public {
        uint256[] memory p = new uint256[](3);
        (p[0], p[1], p[2]) = (1, 1, 1);
        ValSet memory s = makeSet(3, p);
        Rollup r = deploy(s);
        EpochHeader memory h = header(r, fe("post"));
        _submit(r, s, h, signMask(s, digestOf(r, h), 0x3), abi.encodeWithSelector(Rollup.NotEnoughPower.selector, 2, 3));
        _submit(r, s, h, signMask(s, digestOf(r, h), 0x7), "");
        assertEq(r.nextEpoch(), 1, "3 of 3 finalizes");
    }

    function test_threeOfFourEqualIsEnough() public {
        ValSet memory s = makeSet(4, powersOf(5, 5, 5, 5));
        Rollup r = deploy(s);
        EpochHeader memory h = header(r, fe("post"));
        _submit(
            r, s, h, signMask(s, digestOf(r, h), 0x5), abi.encodeWithSelector(Rollup.NotEnoughPower.selector, 10, 20)
        );
        _submit(r, s, h, signMask(s, digestOf(r, h), 0xb), "");
        assertEq(r.nextEpoch(), 1, "3 of 4 finalizes");
    }

    function test_noSignaturesIsNotEnough() public {
        EpochHeader memory h = header(rollup, fe("post"));
        _submit(rollup, set, h, new Rollup.Sig[](0), abi.encodeWithSelector(Rollup.NotEnoughPower.selector, 0, 100));
    }

    function test_refusesADuplicateSignerIndex() public {
        EpochHeader memory h = header(rollup, fe("post"));
        bytes32 d = digestOf(rollup, h);
        // Members 1 (20) and 3 (40) = 60 of 100 is not enough; counting 3 twice would be 100.
        Rollup.Sig[] memory sigs = new Rollup.Sig[](3);
        sigs[0] = sigOf(set.keys[1], 1, d);
        sigs[1] = sigOf(set.keys[3], 3, d);
        sigs[2] = sigOf(set.keys[3], 3, d);
        _submit(rollup, set, h, sigs, abi.encodeWithSelector(Rollup.SignersNotAscending.selector, 2));
        // Without the duplicate, the honest count is refused for power, not order.
        Rollup.Sig[] memory two = new Rollup.Sig[](2);
        (two[0], two[1]) = (sigs[0], sigs[1]);
        _submit(rollup, set, h, two, abi.encodeWithSelector(Rollup.NotEnoughPower.selector, 60, 100));
    }

    function test_refusesUnsortedSignerIndices() public {
        EpochHeader memory h = header(rollup, fe("post"));
        bytes32 d = digestOf(rollup, h);
        Rollup.Sig[] memory sigs = new Rollup.Sig[](4);
        sigs[0] = sigOf(set.keys[1], 1, d);
        sigs[1] = sigOf(set.keys[0], 0, d);
        sigs[2] = sigOf(set.keys[2], 2, d);
        sigs[3] = sigOf(set.keys[3], 3, d);
        _submit(rollup, set, h, sigs, abi.encodeWithSelector(Rollup.SignersNotAscending.selector, 1));
        (sigs[0], sigs[1]) = (sigs[1], sigs[0]);
        _submit(rollup, set, h, sigs, "");
        assertEq(rollup.nextEpoch(), 1, "sorted finalizes");
    }

    function test_refusesASignerIndexOutOfRange() public {
        EpochHeader memory h = header(rollup, fe("post"));
        Rollup.Sig[] memory sigs = signAll(set, digestOf(rollup, h));
        sigs[3].signerIndex = 4;
        _submit(rollup, set, h, sigs, abi.encodeWithSelector(Rollup.SignerIndexOutOfRange.selector, 3));
    }

    /// The malleated twin (r, n − s, v ^ 1) recovers the same signer but is refused.
    function test_refusesTheHighSTwinOfAValidSignature() public {
        EpochHeader memory h = header(rollup, fe("post"));
        bytes32 d = digestOf(rollup, h);
        Rollup.Sig[] memory sigs = signAll(set, d);
        Rollup.Sig memory low = sigs[2];
        assertTrue(uint256(low.s) <= Ref.N / 2, "forge signs low-s");
        Rollup.Sig memory high = Rollup.Sig(2, low.r, bytes32(Ref.N - uint256(low.s)), low.v == 27 ? 28 : 27);
        assertEq(ecrecover(d, high.v, high.r, high.s), set.addrs[2], "the twin recovers the same signer");
        sigs[2] = high;
        _submit(rollup, set, h, sigs, abi.encodeWithSelector(Rollup.SignatureHighS.selector, 2));
        sigs[2] = low;
        _submit(rollup, set, h, sigs, "");
        assertEq(rollup.nextEpoch(), 1, "the low-s original finalizes");
    }

    function test_refusesAVOtherThan27Or28() public {
        EpochHeader memory h = header(rollup, fe("post"));
        Rollup.Sig[] memory sigs = signAll(set, digestOf(rollup, h));
        uint8 v = sigs[1].v;
        sigs[1].v = v - 27; // 0/1 form
        _submit(rollup, set, h, sigs, abi.encodeWithSelector(Rollup.SignatureBadV.selector, 1));
        sigs[1].v = v;
        _submit(rollup, set, h, sigs, "");
        assertEq(rollup.nextEpoch(), 1, "finalized with v 27/28");
    }

    function test_refusesASignatureOfAnotherKey() public {
        EpochHeader memory h = header(rollup, fe("post"));
        bytes32 d = digestOf(rollup, h);
        Rollup.Sig[] memory sigs = signAll(set, d);
        sigs[0] = sigOf(set.keys[1], 0, d); // member 1's signature claimed as member 0's
        _submit(rollup, set, h, sigs, abi.encodeWithSelector(Rollup.SignatureInvalid.selector, 0));
        sigs[0] = sigOf(uint256(keccak256("outsider")), 0, d);
        _submit(rollup, set, h, sigs, abi.encodeWithSelector(Rollup.SignatureInvalid.selector, 0));
    }

    function test_refusesAnUnrecoverableSignature() public {
        EpochHeader memory h = header(rollup, fe("post"));
        Rollup.Sig[] memory sigs = signAll(set, digestOf(rollup, h));
        sigs[3].r = bytes32(0); // ecrecover returns the zero address
        _submit(rollup, set, h, sigs, abi.encodeWithSelector(Rollup.SignatureInvalid.selector, 3));
    }

    function test_refusesASignatureOverAnotherHeader() public {
        EpochHeader memory h = header(rollup, fe("post"));
        EpochHeader memory other = header(rollup, fe("post"));
        other.withdrawalRoot = keccak256("more withdrawals");
        Rollup.Sig[] memory sigs = signAll(set, digestOf(rollup, other));
        _submit(rollup, set, h, sigs, abi.encodeWithSelector(Rollup.SignatureInvalid.selector, 0));
    }

    // ---- the domain: chain id and rollup address ---------------------------------------------

    function test_refusesADigestForAnotherChainId() public {
        EpochHeader memory h = header(rollup, fe("post"));
        uint256 other = block.chainid == 1 ? 5 : 1;
        Rollup.Sig[] memory sigs = signAll(set, Ref.digest(other, address(rollup), L2_CHAIN_ID, h));
        _submit(rollup, set, h, sigs, abi.encodeWithSelector(Rollup.SignatureInvalid.selector, 0));
        // On that chain the same signatures are good.
        vm.chainId(other);
        _submit(rollup, set, h, sigs, "");
        assertEq(rollup.nextEpoch(), 1, "accepted on the chain it was signed for");
    }

    function test_refusesADigestForAnotherRollup() public {
        Rollup twin = deploy(set);
        EpochHeader memory h = header(rollup, fe("post"));
        Rollup.Sig[] memory forTwin = signAll(set, digestOf(twin, h));
        _submit(rollup, set, h, forTwin, abi.encodeWithSelector(Rollup.SignatureInvalid.selector, 0));
        _submit(twin, set, h, forTwin, "");
        assertEq(twin.nextEpoch(), 1, "accepted by the rollup it was signed for");
        assertEq(rollup.nextEpoch(), 0, "not by the other");
    }

    function test_refusesADigestForAnotherL2ChainId() public {
        EpochHeader memory h = header(rollup, fe("post"));
        Rollup.Sig[] memory sigs = signAll(set, Ref.digest(block.chainid, address(rollup), L2_CHAIN_ID + 1, h));
        _submit(rollup, set, h, sigs, abi.encodeWithSelector(Rollup.SignatureInvalid.selector, 0));
    }

    // ---- the set and its rotation -------------------------------------------------------------

    function test_rotationTakesEffectFromTheNextEpochAndTheStaleSetIsRefused() public {
        ValSet memory next = makeSet(2, powersOf(7, 7, 7, 7));
        EpochHeader memory h0 = header(rollup, fe("post-0"));
        h0.nextValidatorSetHash = hashOf(next);
        // Epoch 0 is signed by the current set, even though it announces the next one.
        _submit(rollup, set, h0, signAll(set, digestOf(rollup, h0)), "");
        assertEq(rollup.validatorSetHash(), hashOf(next), "rotated");

        EpochHeader memory h1 = header(rollup, fe("post-1"));
        // The stale set, fully signed, is refused.
        _submit(
            rollup,
            set,
            h1,
            signAll(set, digestOf(rollup, h1)),
            abi.encodeWithSelector(Rollup.WrongValidatorSet.selector)
        );
        // The stale set's signatures presented with the new set's members fail recovery.
        _submit(
            rollup,
            next,
            h1,
            signAll(set, digestOf(rollup, h1)),
            abi.encodeWithSelector(Rollup.SignatureInvalid.selector, 0)
        );
        _submit(rollup, next, h1, signAll(next, digestOf(rollup, h1)), "");
        assertEq(rollup.nextEpoch(), 2, "the new set finalizes epoch 1");
    }

    /// An attestation replayed for a later epoch: the old set (after a rotation) and the old
    /// signatures (without one) are both refused.
    function test_refusesAReplayedSetAndAttestation() public {
        EpochHeader memory h0 = header(rollup, fe("post-0"));
        Rollup.Sig[] memory old = signAll(set, digestOf(rollup, h0));
        _submit(rollup, set, h0, old, "");
        EpochHeader memory h1 = header(rollup, fe("post-1"));
        _submit(rollup, set, h1, old, abi.encodeWithSelector(Rollup.SignatureInvalid.selector, 0));

        ValSet memory next = makeSet(5, powersOf(1, 2, 3, 4));
        h1.nextValidatorSetHash = hashOf(next);
        _submit(rollup, set, h1, signAll(set, digestOf(rollup, h1)), "");
        // The old set replayed after the rotation, with fresh, valid signatures of epoch 2.
        EpochHeader memory h2 = header(rollup, fe("post-2"));
        _submit(
            rollup,
            set,
            h2,
            signAll(set, digestOf(rollup, h2)),
            abi.encodeWithSelector(Rollup.WrongValidatorSet.selector)
        );
    }

    function test_refusesATamperedSet() public {
        EpochHeader memory h = header(rollup, fe("post"));
        Rollup.Sig[] memory sigs = signAll(set, digestOf(rollup, h));
        ValSet memory boosted = makeSet(1, powersOf(10, 20, 30, 1000));
        assertEq(boosted.addrs[3], set.addrs[3], "same members");
        _submit(rollup, boosted, h, sigs, abi.encodeWithSelector(Rollup.WrongValidatorSet.selector));
        // A member dropped.
        ValSet memory fewer = set;
        address[] memory a = new address[](3);
        uint256[] memory p = new uint256[](3);
        for (uint256 i = 0; i < 3; i++) {
            (a[i], p[i]) = (set.addrs[i], set.powers[i]);
        }
        (fewer.addrs, fewer.powers) = (a, p);
        Rollup.Sig[] memory three = signMask(set, digestOf(rollup, h), 0x7);
        _submit(rollup, fewer, h, three, abi.encodeWithSelector(Rollup.WrongValidatorSet.selector));
    }

    /// A next set that the validators attested but that is malformed (unsorted) is refused when
    /// it is used: its hash matches, its shape does not.
    function test_refusesAnAttestedButMalformedNextSet() public {
        ValSet memory next = makeSet(6, powersOf(1, 2, 3, 4));
        (next.addrs[0], next.addrs[1]) = (next.addrs[1], next.addrs[0]);
        (next.keys[0], next.keys[1]) = (next.keys[1], next.keys[0]);
        EpochHeader memory h0 = header(rollup, fe("post-0"));
        h0.nextValidatorSetHash = hashOf(next);
        _submit(rollup, set, h0, signAll(set, digestOf(rollup, h0)), "");
        EpochHeader memory h1 = header(rollup, fe("post-1"));
        _submit(
            rollup,
            next,
            h1,
            signMask(next, digestOf(rollup, h1), 0xe),
            abi.encodeWithSelector(Rollup.BadValidatorSet.selector)
        );
    }
}
