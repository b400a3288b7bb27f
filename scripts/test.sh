#!/usr/bin/env bash
# The project's test command (README): everything CI runs, in order, on a fresh machine.
#
#   scripts/test.sh            format, lints, unit + harness + RPC tests, the differential test
#                              against anvil, the L1 contracts' forge tests, end-to-end
#                              localnet tests (cast, viem, ethers, forge, the bridge on anvil),
#                              the multi-host testnet in network namespaces (root only),
#                              and the proofs suite (real proving at small capacities)
#   PARLEY_TEST_FAST=1 scripts/test.sh   skip the proofs suite (crates/proofs/ci.sh)
#
# Not here (named slow suites, docs/testing.md): PARLEY_PROOFS_SLOW=1 crates/proofs/ci.sh
# (aggregation, compression and the EVM verifier with real proofs, ~20 min) and
# tests/e2e/aggregation.sh (an epoch aggregated on a localnet, ~10 min).
#
# Installs what is missing (CometBFT, Foundry, solcjs) through scripts/tools.sh; Rust crates
# come from crates.io through cargo. Exits non-zero on the first failing stage.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

# Each stage prints how long the one before took, so CI logs show where the time goes.
STAGE_T0=""
stage() {
  [[ -n "${STAGE_T0}" ]] && printf '# (%d s)\n' $((SECONDS - STAGE_T0))
  STAGE_T0=${SECONDS}
  printf '\n==> %s\n' "$*"
}

stage "tools"
bash scripts/tools.sh

stage "cargo fmt --check"
cargo fmt --all -- --check

stage "cargo clippy (workspace, all targets, -D warnings)"
cargo clippy --workspace --all-targets --release --locked -- -D warnings

stage "cargo test (workspace but the proofs crate, release profile with overflow checks)"
cargo test --workspace --release --locked --exclude parley-proofs

stage "predeploys: committed bytecode matches contracts/predeploys"
bash contracts/predeploys/check.sh

stage "L1 contracts: forge unit and fuzz tests (l1-bridge/contracts)"
L1_TMP="$(mktemp -d)"
(cd l1-bridge/contracts && ../../.tools/bin/forge test --out "${L1_TMP}/out" --cache-path "${L1_TMP}/cache")
rm -rf "${L1_TMP}"

stage "end-to-end: 4-validator CometBFT localnet driven by cast, viem, ethers and forge"
cargo build --release --locked -p parley-app -p parley-prover -p parley-proofs -p parley-bridge --bins
PARLEY_SKIP_BUILD=1 bash tests/e2e/run.sh

stage "multi-host testnet: validators in network namespaces"
# Needs root and `ip netns` (CI has both); it says SKIP and exits 0 without them.
bash tests/e2e/netns.sh

if [[ "${PARLEY_TEST_FAST:-0}" != 1 && -f crates/proofs/ci.sh ]]; then
  stage "proofs suite: native tree, vectors, MockProver soundness, real prove/verify"
  PARLEY_PROOFS_LINT=0 bash crates/proofs/ci.sh
fi

stage "all stages passed"
