// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.19;

import {Fixture, Ref} from "./Base.sol";
import {Rollup, IEpochVerifier} from "../src/Rollup.sol";
import {EscapeTreeHarness} from "./Escape.t.sol";
import {EpochHeader} from "../src/BridgeLib.sol";

/// Gas of the typical calls, for the README:
///   forge test --match-contract GasTest --isolate -vv
/// prints them as whole transactions (`--isolate` runs each call as its own transaction:
/// 21000 base, calldata, cold storage included; without it the figures are lower, storage
/// being warm within the one test transaction). Each test bounds its figure, so that a
/// regression of more than ~25% fails either way. The mock verifier costs next to nothing:
/// the real one adds ~450-500k to a finalization with a proof (docs/proofs.md).
contract GasTest is Fixture {
    event log_named_uint(string key, uint256 val);

    function _report(string memory what, uint256 used, uint256 bound) internal {
        emit log_named_uint(what, used);
        assertTrue(used <= bound, string.concat(what, ": over its bound"));
    }

    function test_gasDepositAndForceTransaction() public {
        vm.deal(address(this), 10 ether);
        rollup.deposit{value: 1}(address(0xb0b)); // the queue's first entry
        uint256 g = gasleft();
        rollup.deposit{value: 1 ether}(address(0xb0b));
        _report("deposit", g - gasleft(), 95_000);
        bytes memory rawTx = new bytes(120);
        g = gasleft();
        rollup.forceTransaction(rawTx);
        _report("forceTransaction (120 bytes)", g - gasleft(), 90_000);
    }

    function test_gasClaimWithdrawal() public {
        bytes32[] memory leaves = new bytes32[](8);
        for (uint256 i = 0; i < 8; i++) {
            leaves[i] = Ref.withdrawalLeaf(L2_CHAIN_ID, 0, i, address(uint160(0x1000 + i)), 1 ether);
        }
        (bytes32 root, bytes32[][] memory paths) = Ref.tree(leaves);
        vm.deal(address(this), 8 ether);
        rollup.deposit{value: 8 ether}(address(0xb0b));
        EpochHeader memory h = header(rollup, fe("post"));
        h.withdrawalRoot = root;
        consume(rollup, h, 1);
        finalize(rollup, set, h);
        uint256 g = gasleft();
        rollup.claimWithdrawal(0, 3, address(0x1003), 1 ether, paths[3]);
        _report("claimWithdrawal (depth 3, fresh recipient)", g - gasleft(), 115_000);
    }

    function _finalizeGas(ValSet memory s, uint256 mask, uint256 proofBytes, bool empty) internal returns (uint256) {
        Rollup r = deploy(s);
        EpochHeader memory h = header(r, empty ? r.lastRoot() : fe("post"));
        uint256[12] memory a = acc(0);
        bytes memory proof = empty ? bytes("") : new bytes(proofBytes);
        mock.expect(keccak256(verifierCalldata(a, h, proof)));
        Rollup.Sig[] memory sigs = signMask(s, digestOf(r, h), mask);
        uint256 g = gasleft();
        r.finalizeEpoch(h, s.addrs, s.powers, sigs, a, proof);
        return g - gasleft();
    }

    function test_gasFinalizeEpoch() public {
        _report(
            "finalizeEpoch (4 validators, 4 signatures, 1 KiB proof, mock verifier)",
            _finalizeGas(set, 0xf, 1024, false),
            170_000
        );
        _report("finalizeEpoch (4 validators, empty epoch, no proof)", _finalizeGas(set, 0xf, 0, true), 150_000);
        uint256[] memory p = new uint256[](100);
        for (uint256 i = 0; i < 100; i++) {
            p[i] = 1;
        }
        _report(
            "finalizeEpoch (100 validators, 67 signatures, 1 KiB proof, mock verifier)",
            _finalizeGas(makeSet(77, p), (uint256(1) << 67) - 1, 1024, false),
            800_000
        );
    }

    function test_gasEscapeWithdraw() public {
        bytes32[] memory siblings = new bytes32[](32);
        for (uint256 h = 0; h < 32; h++) {
            siblings[h] = fe(abi.encode("sibling", h));
        }
        bytes32 codeHash = keccak256("");
        bytes32 root = new EscapeTreeHarness().root(address(0xa11ce), 3, 1 ether, codeHash, 77, siblings);
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
        vm.deal(address(r), 1 ether);
        vm.warp(block.timestamp + ESCAPE_DELAY + 1);
        uint256 g = gasleft();
        r.escapeWithdraw(address(0xa11ce), 3, 1 ether, codeHash, 77, siblings);
        _report("escapeWithdraw (depth-32 Poseidon path)", g - gasleft(), 1_900_000);
    }
}
