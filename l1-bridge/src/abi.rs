//! The Rollup contract's ABI as the relayer uses it (`contracts/src/Rollup.sol`,
//! `contracts/src/BridgeLib.sol`). Only what the relayer calls, reads or decodes is declared.

#![allow(missing_docs)]

use alloy_sol_types::sol;

sol! {
    /// `BridgeLib.EpochHeader`: what the validators attest, plus the L1 queue position.
    #[derive(Debug, PartialEq, Eq)]
    struct EpochHeader {
        uint64 epoch;
        bytes32 firstPreRoot;
        bytes32 lastPostRoot;
        bytes32 epochCommitment;
        bytes32 withdrawalRoot;
        bytes32 queueRollingHash;
        uint64 queueCount;
        bytes32 nextValidatorSetHash;
    }

    /// `Rollup.Sig`: one validator's signature, by its index in the set.
    #[derive(Debug, PartialEq, Eq)]
    struct Sig {
        uint256 signerIndex;
        bytes32 r;
        bytes32 s;
        uint8 v;
    }

    /// The Rollup contract, as far as the relayer needs it.
    #[derive(Debug, PartialEq, Eq)]
    interface Rollup {
        constructor(
            address verifier,
            uint256 l2ChainId,
            bytes32 genesisRoot,
            address[] signers,
            uint256[] powers,
            uint64 forceDelay,
            uint64 escapeDelay,
            uint64 relaySlot,
            uint256 maxForcedTxBytes
        );

        function finalizeEpoch(
            EpochHeader h,
            address[] signers,
            uint256[] powers,
            Sig[] sigs,
            uint256[12] accumulator,
            bytes proof
        ) external;

        function nextEpoch() external view returns (uint64);
        function relaySlot() external view returns (uint64);
        function lastRoot() external view returns (bytes32);
        function l2ChainId() external view returns (uint256);
        function validatorSetHash() external view returns (bytes32);

        error VerifierHasNoCode();
        error BadValidatorSet();
        error NonCanonicalGenesisRoot();
        error Frozen();
        error AlreadyFinalized(uint64 epoch);
        error EpochOutOfOrder(uint64 epoch, uint64 expected);
        error WrongPreRoot(bytes32 given, bytes32 expected);
        error NonCanonicalInstance(uint256 index);
        error WrongValidatorSet();
        error SignerIndexOutOfRange(uint256 sig);
        error SignersNotAscending(uint256 sig);
        error SignatureHighS(uint256 sig);
        error SignatureBadV(uint256 sig);
        error SignatureInvalid(uint256 sig);
        error NotEnoughPower(uint256 signed, uint256 total);
        error QueueMismatch(uint64 queueCount);
        error ForcedEntryOverdue(uint64 index);
        error ProofRequired();
        error InvalidProof();
    }
}

/// The creation code of a stand-in verifier whose runtime code (`PUSH1 0 PUSH1 0 REVERT`)
/// reverts on every call: it refuses every proof, so only epochs without a state change
/// finalize. For localnets whose epochs are all empty, and for tests.
pub const VERIFIER_STAND_IN: &str = "0x6005600c60003960056000f360006000fd";
