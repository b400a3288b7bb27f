//! parley-bridge and the L1 contracts: deploys the Rollup contract, posts finalized epochs,
//! relays deposits and forced transactions (DESIGN §6). Filled by the bridge issue; empty today.
