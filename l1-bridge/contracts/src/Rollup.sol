// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.19;

import {BridgeLib, EpochHeader} from "./BridgeLib.sol";
import {ProofTree} from "./ProofTree.sol";

/// @notice The generated halo2 verifier of the epoch (compression) proof. It has no ABI: the
/// Rollup calls its address with raw calldata `15 × 32-byte big-endian instances ‖ proof`
/// (12 accumulator limbs, first_pre_root, last_post_root, epoch_commitment), and the call
/// reverts on a bad proof. It reads every instance modulo r, so the Rollup checks `< r` itself.
interface IEpochVerifier {}

/// @title Rollup — Parley's L1 bridge contract (DESIGN §6, docs/bridge.md).
/// @notice Finalizes L2 epochs in order (validator attestation of more than 2/3 of power plus the
/// aggregated epoch proof), keeps the ordered L1 queue of deposits and forced transactions,
/// pays withdrawals against each finalized epoch's withdrawal root, and, when no epoch has been
/// finalized for `escapeDelay`, freezes and lets accounts exit with their balance at the last
/// finalized state root. There is no L1 data availability: users depend on full nodes serving
/// state for the escape hatch.
contract Rollup {
    /// A validator's signature over an epoch digest; `signerIndex` is the member's position in
    /// the validator set passed to `finalizeEpoch`.
    struct Sig {
        uint256 signerIndex;
        bytes32 r;
        bytes32 s;
        uint8 v;
    }

    /// What is kept of a finalized epoch.
    struct EpochRecord {
        bytes32 postRoot;
        bytes32 withdrawalRoot;
        uint64 queueCount;
    }

    uint8 public constant KIND_DEPOSIT = 0;
    uint8 public constant KIND_FORCED = 1;

    // ---- configuration ------------------------------------------------------------------------
    IEpochVerifier public immutable verifier;
    uint256 public immutable l2ChainId;
    bytes32 public immutable genesisRoot;
    /// A queue entry older than this (seconds) must be consumed before any further finalization.
    uint64 public immutable forceDelay;
    /// Without a finalization for this long (seconds), the contract is in enforced mode.
    uint64 public immutable escapeDelay;
    /// L1 blocks each epoch's designated relayer has before anyone posts. Informational: the
    /// rotation is off chain (parley-bridge); finalization stays permissionless.
    uint64 public immutable relaySlot;
    uint256 public immutable maxForcedTxBytes;

    // ---- state --------------------------------------------------------------------------------
    bytes32 public validatorSetHash;
    bytes32 public lastRoot;
    /// The epoch the next finalization must carry (epochs 0 .. nextEpoch-1 are finalized).
    uint64 public nextEpoch;
    /// Queue entries consumed by the finalized epochs.
    uint64 public queueConsumed;
    uint64 public lastFinalizedAt;
    /// Set by `enterEnforcedMode`; `enforced()` is also true once the escape delay has passed.
    bool public enforcedLatched;

    mapping(uint64 => EpochRecord) internal _epochs;
    /// R_0 .. R_len: `_rolling[i]` is the rolling hash after the first i entries.
    bytes32[] internal _rolling;
    /// Append timestamp of each queue entry.
    uint64[] internal _appendedAt;
    /// Claimed withdrawals: epoch => word => bits.
    mapping(uint64 => mapping(uint256 => uint256)) internal _claimed;
    /// Accounts that have escaped.
    mapping(address => bool) public escaped;

    // ---- events -------------------------------------------------------------------------------
    event EpochFinalized(
        uint64 indexed epoch,
        bytes32 lastPostRoot,
        bytes32 withdrawalRoot,
        uint64 queueCount,
        bytes32 nextValidatorSetHash
    );
    event QueueEntry(
        uint64 indexed index,
        uint8 kind,
        address sender,
        address l2Recipient,
        uint256 amount,
        bytes rawTx,
        bytes32 rollingHash
    );
    event WithdrawalClaimed(uint64 indexed epoch, uint64 indexed index, address indexed l1Recipient, uint256 amount);
    /// `nextEpoch` is the number of finalized epochs (the last one is nextEpoch - 1).
    event EnforcedMode(uint64 nextEpoch, bytes32 lastRoot);
    event Escaped(address indexed account, uint256 balance);

    // ---- errors -------------------------------------------------------------------------------
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
    error ZeroAmount();
    error ZeroRecipient();
    error BadForcedTxLength(uint256 length);
    error NotFinalized(uint64 epoch);
    error BadWithdrawalProof();
    error AlreadyClaimed(uint64 epoch, uint64 index);
    error TransferFailed();
    error NotEnforced();
    error AlreadyEnforced();
    error AlreadyEscaped(address account);
    error BadEscapeProof();
    error InsufficientEscrow(uint256 balance, uint256 escrow);

    constructor(
        IEpochVerifier verifier_,
        uint256 l2ChainId_,
        bytes32 genesisRoot_,
        address[] memory signers,
        uint256[] memory powers,
        uint64 forceDelay_,
        uint64 escapeDelay_,
        uint64 relaySlot_,
        uint256 maxForcedTxBytes_
    ) {
        if (address(verifier_).code.length == 0) revert VerifierHasNoCode();
        if (uint256(genesisRoot_) >= BridgeLib.R) revert NonCanonicalGenesisRoot();
        (bytes32 hash,, bool wellFormed) = BridgeLib.valsetHash(signers, powers);
        if (!wellFormed) revert BadValidatorSet();
        verifier = verifier_;
        l2ChainId = l2ChainId_;
        genesisRoot = genesisRoot_;
        forceDelay = forceDelay_;
        escapeDelay = escapeDelay_;
        relaySlot = relaySlot_;
        maxForcedTxBytes = maxForcedTxBytes_;
        validatorSetHash = hash;
        lastRoot = genesisRoot_;
        lastFinalizedAt = uint64(block.timestamp);
        _rolling.push(bytes32(0));
    }

    // ==== finalization =========================================================================

    /// @notice Finalizes epoch `h.epoch` (permissionless). `signers`/`powers` is the current
    /// validator set, checked against `validatorSetHash`; `sigs` are signatures over
    /// `epochDigest(h)` in ascending member order; `accumulator` and `proof` are the epoch proof's
    /// 12 accumulator limbs and proof bytes. An epoch without a state change may carry no proof.
    function finalizeEpoch(
        EpochHeader calldata h,
        address[] calldata signers,
        uint256[] calldata powers,
        Sig[] calldata sigs,
        uint256[12] calldata accumulator,
        bytes calldata proof
    ) external {
        if (enforced()) revert Frozen();
        uint64 next = nextEpoch;
        if (h.epoch < next) revert AlreadyFinalized(h.epoch);
        if (h.epoch > next) revert EpochOutOfOrder(h.epoch, next);
        if (h.firstPreRoot != lastRoot) revert WrongPreRoot(h.firstPreRoot, lastRoot);
        _checkInstances(h, accumulator);
        _checkAttestation(h, signers, powers, sigs);
        _checkQueue(h);
        _checkProof(h, accumulator, proof);

        _epochs[h.epoch] = EpochRecord(h.lastPostRoot, h.withdrawalRoot, h.queueCount);
        nextEpoch = next + 1;
        lastRoot = h.lastPostRoot;
        queueConsumed = h.queueCount;
        validatorSetHash = h.nextValidatorSetHash;
        lastFinalizedAt = uint64(block.timestamp);
        emit EpochFinalized(h.epoch, h.lastPostRoot, h.withdrawalRoot, h.queueCount, h.nextValidatorSetHash);
    }

    /// Every public instance must be a canonical field element: the verifier reduces mod r.
    /// Positions: 0..11 accumulator limbs, 12 first_pre_root, 13 last_post_root, 14 commitment.
    function _checkInstances(EpochHeader calldata h, uint256[12] calldata accumulator) private pure {
        for (uint256 i = 0; i < 12; i++) {
            if (accumulator[i] >= BridgeLib.R) revert NonCanonicalInstance(i);
        }
        if (uint256(h.firstPreRoot) >= BridgeLib.R) revert NonCanonicalInstance(12);
        if (uint256(h.lastPostRoot) >= BridgeLib.R) revert NonCanonicalInstance(13);
        if (uint256(h.epochCommitment) >= BridgeLib.R) revert NonCanonicalInstance(14);
    }

    /// The set must be the stored one; more than 2/3 of its power must have signed the digest.
    function _checkAttestation(
        EpochHeader calldata h,
        address[] calldata signers,
        uint256[] calldata powers,
        Sig[] calldata sigs
    ) private view {
        (bytes32 hash, uint256 total, bool wellFormed) = BridgeLib.valsetHash(signers, powers);
        if (hash != validatorSetHash) revert WrongValidatorSet();
        // Only an attested next set can be malformed (the first is checked at deployment).
        if (!wellFormed) revert BadValidatorSet();

        uint256 signed =
            _signedPower(BridgeLib.epochDigest(block.chainid, address(this), l2ChainId, h), signers, powers, sigs);
        if (3 * signed <= 2 * total) revert NotEnoughPower(signed, total);
    }

    /// The power of the members whose signatures over `digest` are given, in ascending order.
    function _signedPower(bytes32 digest, address[] calldata signers, uint256[] calldata powers, Sig[] calldata sigs)
        private
        pure
        returns (uint256 signed)
    {
        uint256 minIndex;
        for (uint256 k = 0; k < sigs.length; k++) {
            uint256 idx = sigs[k].signerIndex;
            if (idx >= signers.length) revert SignerIndexOutOfRange(k);
            if (idx < minIndex) revert SignersNotAscending(k);
            address recovered = _recover(digest, sigs[k], k);
            if (recovered == address(0) || recovered != signers[idx]) revert SignatureInvalid(k);
            signed += powers[idx];
            minIndex = idx + 1;
        }
    }

    /// The signer of `digest` (low-s, v in {27, 28}; zero if ecrecover fails).
    function _recover(bytes32 digest, Sig calldata sig, uint256 k) private pure returns (address) {
        if (uint256(sig.s) > BridgeLib.HALF_N) revert SignatureHighS(k);
        if (sig.v != 27 && sig.v != 28) revert SignatureBadV(k);
        return ecrecover(digest, sig.v, sig.r, sig.s);
    }

    /// The epoch consumes the queue in order up to `queueCount`, and leaves no overdue entry.
    function _checkQueue(EpochHeader calldata h) private view {
        uint64 count = h.queueCount;
        uint256 length = _rolling.length - 1;
        if (count < queueConsumed || count > length || _rolling[count] != h.queueRollingHash) {
            revert QueueMismatch(count);
        }
        if (count < length && uint256(_appendedAt[count]) + forceDelay <= block.timestamp) {
            revert ForcedEntryOverdue(count);
        }
    }

    /// Verifies the epoch proof with exactly the 15 instances, or, without a proof, requires
    /// that the epoch changed no state.
    function _checkProof(EpochHeader calldata h, uint256[12] calldata accumulator, bytes calldata proof) private view {
        if (proof.length == 0) {
            if (h.firstPreRoot != h.lastPostRoot) revert ProofRequired();
            return;
        }
        bytes memory data = abi.encodePacked(accumulator, h.firstPreRoot, h.lastPostRoot, h.epochCommitment, proof);
        // A call to an address without code succeeds: never let that pass for a verification.
        if (address(verifier).code.length == 0) revert InvalidProof();
        (bool ok,) = address(verifier).staticcall(data);
        if (!ok) revert InvalidProof();
    }

    /// The digest that `finalizeEpoch` checks the signatures of `h` against on this chain.
    function epochDigest(EpochHeader calldata h) external view returns (bytes32) {
        return BridgeLib.epochDigest(block.chainid, address(this), l2ChainId, h);
    }

    /// What is recorded for finalized epoch `epoch` (zeros if not finalized).
    function epochs(uint64 epoch) external view returns (EpochRecord memory) {
        return _epochs[epoch];
    }

    // ==== L1 queue =============================================================================

    /// @notice Deposits `msg.value` wei to `l2Recipient` on L2.
    function deposit(address l2Recipient) external payable {
        if (enforced()) revert Frozen();
        if (msg.value == 0) revert ZeroAmount();
        if (l2Recipient == address(0)) revert ZeroRecipient();
        uint64 index = uint64(_rolling.length - 1);
        bytes32 rolling = _append(BridgeLib.depositEntry(index, msg.sender, l2Recipient, msg.value));
        emit QueueEntry(index, KIND_DEPOSIT, msg.sender, l2Recipient, msg.value, "", rolling);
    }

    /// @notice Queues a raw L2 transaction that L2 must include within `forceDelay`.
    function forceTransaction(bytes calldata rawTx) external {
        if (enforced()) revert Frozen();
        if (rawTx.length == 0 || rawTx.length > maxForcedTxBytes) revert BadForcedTxLength(rawTx.length);
        uint64 index = uint64(_rolling.length - 1);
        bytes32 rolling = _append(BridgeLib.forcedEntry(index, msg.sender, rawTx));
        emit QueueEntry(index, KIND_FORCED, msg.sender, address(0), 0, rawTx, rolling);
    }

    function _append(bytes32 entry) private returns (bytes32 rolling) {
        rolling = BridgeLib.nextRolling(_rolling[_rolling.length - 1], entry);
        _rolling.push(rolling);
        _appendedAt.push(uint64(block.timestamp));
    }

    /// Number of entries ever appended to the queue.
    function queueLength() external view returns (uint256) {
        return _rolling.length - 1;
    }

    /// R_i: the rolling hash after the first `i` entries (R_0 = 0), for i <= queueLength().
    function rollingHash(uint256 i) external view returns (bytes32) {
        return _rolling[i];
    }

    /// When entry `index` was appended.
    function appendedAt(uint256 index) external view returns (uint64) {
        return _appendedAt[index];
    }

    // ==== withdrawals ==========================================================================

    /// @notice Pays withdrawal `index` of finalized epoch `epoch` to `l1Recipient`, proven by
    /// `path` (siblings from the leaf up) against the epoch's withdrawal root. Anyone may call.
    function claimWithdrawal(uint64 epoch, uint64 index, address l1Recipient, uint256 amount, bytes32[] calldata path)
        external
    {
        if (epoch >= nextEpoch) revert NotFinalized(epoch);
        if (path.length > BridgeLib.MAX_WITHDRAWAL_DEPTH || uint256(index) >> path.length != 0) {
            revert BadWithdrawalProof();
        }
        bytes32 leaf = BridgeLib.withdrawalLeaf(l2ChainId, epoch, index, l1Recipient, amount);
        if (BridgeLib.withdrawalRootFrom(leaf, index, path) != _epochs[epoch].withdrawalRoot) {
            revert BadWithdrawalProof();
        }
        uint256 bit = 1 << (index & 255);
        uint256 word = _claimed[epoch][index >> 8];
        if (word & bit != 0) revert AlreadyClaimed(epoch, index);
        _claimed[epoch][index >> 8] = word | bit;
        emit WithdrawalClaimed(epoch, index, l1Recipient, amount);
        _pay(l1Recipient, amount);
    }

    /// Whether withdrawal `index` of `epoch` has been claimed.
    function isClaimed(uint64 epoch, uint64 index) external view returns (bool) {
        return _claimed[epoch][index >> 8] & (1 << (index & 255)) != 0;
    }

    // ==== escape hatch =========================================================================

    /// True once latched, or when no epoch has been finalized for more than `escapeDelay`.
    function enforced() public view returns (bool) {
        return enforcedLatched || block.timestamp > uint256(lastFinalizedAt) + escapeDelay;
    }

    /// @notice Latches enforced mode once the escape delay has passed (anyone).
    function enterEnforcedMode() external {
        if (enforcedLatched) revert AlreadyEnforced();
        if (!enforced()) revert NotEnforced();
        enforcedLatched = true;
        emit EnforcedMode(nextEpoch, lastRoot);
    }

    /// @notice In enforced mode, pays `account` its L2 balance at the last finalized root, once.
    /// The account's leaf (nonce, balance, code hash) at `index` and its Poseidon path
    /// `siblings` must lead to `lastRoot` (src/ProofTree.sol). Anyone may call; the ether goes
    /// to `account`. Balances outside the proof tree (bonds, stakes, escrows) cannot escape.
    function escapeWithdraw(
        address account,
        uint256 nonce,
        uint256 balance,
        bytes32 codeHash,
        uint64 index,
        bytes32[] calldata siblings
    ) external {
        if (!enforced()) revert NotEnforced();
        if (escaped[account]) revert AlreadyEscaped(account);
        if (ProofTree.accountLeafRoot(account, nonce, balance, codeHash, index, siblings) != lastRoot) {
            revert BadEscapeProof();
        }
        if (balance > address(this).balance) revert InsufficientEscrow(balance, address(this).balance);
        escaped[account] = true;
        emit Escaped(account, balance);
        _pay(account, balance);
    }

    function _pay(address to, uint256 amount) private {
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed();
    }
}
