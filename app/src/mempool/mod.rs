//! The mempool side of the node: what this node accepts from users and what it proposes.
//!
//! - [`admission`]: CheckTx and `eth_sendRawTransaction` — the core's stateless rules, then the
//!   nonce window and a balance that covers the sender's pending total; the sender cache;
//! - [`pending`]: the transactions this node holds, per sender and nonce;
//! - [`builder`]: the proposer's L2 block, packed by executing candidates on a throwaway
//!   overlay with the core's executor.
//!
//! Nothing here is consensus: another node may hold other transactions and build another
//! block; the block rules ([`crate::chain::rules`]) decide what every node accepts. Depends on
//! [`crate::chain`] only.

pub mod admission;
pub mod builder;
pub mod pending;

pub use admission::{MAX_NONCE_GAP, SenderCache, check_state};
pub use pending::PendingNonces;
