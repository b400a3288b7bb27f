//! The deterministic core: everything every validator must compute identically, as plain
//! functions of (committed state view, parameters, chain meta, height, block) with no I/O, no
//! clock, no randomness and no hash-map iteration. The rest of the node calls in; nothing
//! here names the database, the mempool, ABCI or JSON-RPC.
//!
//! - [`view`]: committed state as the core reads it ([`view::StateView`], implemented by the
//!   store's snapshot) and the in-memory `BLOCKHASH` ring;
//! - [`overlay`]: the block overlay every transaction (and, next, every protocol handler)
//!   writes through; derives a block's writes, diff and proof indices;
//! - [`evm`]: the revm adapter — [`evm::BlockExecutor`] (per-transaction commit into the
//!   overlay, Ethereum's block gas rule) and [`evm::execute_block`] (receipts, records, writes,
//!   diff, next base fee);
//! - [`block`]: the L2 block, its header hash and the protocol-message envelope;
//! - [`tx`]: user transactions — decoding, the stateless validity rules, refusal codes;
//! - [`msg`]: signed protocol messages — canonical form, signing digest, stateless checks;
//! - [`ledger`]: the protocol ledger and registries — each message's state transition through
//!   the overlay, unbonding releases, base fees to the pot, validator-set changes at epoch
//!   boundaries;
//! - [`auction`]: the slot auction — sealed bids, the prover's `Select`, the winner's
//!   `Reveal`, the withhold rule, forced inclusion, and which block a height executes;
//! - [`assignment`]: the per-slot prover draw (stake × reputation, without replacement);
//! - [`bridge`]: the validators' attestation of epochs for L1, carried in vote extensions,
//!   and the validator-set changes that go with it;
//! - [`seed`]: the seed the draw uses, from validators' commit-reveal randomness carried in
//!   vote extensions;
//! - [`rules`]: what a proposal must be (ProcessProposal) and the fallback for a decided
//!   block that breaks the rules;
//! - [`genesis`] and [`predeploys`]: the genesis `app_state`, its validation and the genesis
//!   state it defines.
//!
//! Invariants: a function here gives the same output for the same inputs on every node;
//! execution never infers "changed" from revm's journal flags across transactions; a user's
//! bad transaction is a skip or a refusal, never a panic; a failure to read committed state
//! is a [`view::StoreError`], fatal to the caller.

/// The hardfork the L2 executes. Execution ([`evm`]) and the intrinsic-gas rule of
/// transaction validity ([`tx`]) both follow it, so what admission accepts is what executes.
pub const SPEC: revm::primitives::hardfork::SpecId = revm::primitives::hardfork::SpecId::PRAGUE;

pub mod aggregation;
pub mod assignment;
pub mod auction;
pub mod block;
pub mod bridge;
pub mod evm;
pub mod genesis;
pub mod l1queue;
pub mod ledger;
pub mod msg;
pub mod overlay;
pub mod predeploys;
pub mod proving;
pub mod rules;
pub mod seed;
pub mod tx;
pub mod view;
