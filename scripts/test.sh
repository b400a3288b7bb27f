#!/usr/bin/env bash
# The project's test command (README): everything CI runs, in order, on a fresh machine.
#
#   scripts/test.sh            format, lints, unit + harness + RPC tests, the differential test
#                              against anvil, end-to-end localnet tests (cast, viem, ethers,
#                              forge), and the proofs suite (real proving, aggregation, EVM
#                              verifier)
#   PARLEY_TEST_FAST=1 scripts/test.sh   skip the proofs suite (crates/proofs/ci.sh: minutes of
#                                        real proving, aggregation and the EVM verifier)
#
# Installs what is missing (CometBFT, Foundry, solcjs) through scripts/tools.sh; Rust crates
# come from crates.io through cargo. Exits non-zero on the first failing stage.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

stage() { printf '\n==> %s\n' "$*"; }

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

stage "end-to-end: 4-validator CometBFT localnet driven by cast, viem, ethers and forge"
cargo build --release --locked -p parley-app -p parley-prover -p parley-proofs --bins
PARLEY_SKIP_BUILD=1 bash tests/e2e/run.sh

if [[ "${PARLEY_TEST_FAST:-0}" != 1 && -f crates/proofs/ci.sh ]]; then
  stage "proofs suite: native tree, MockProver soundness, real prove/verify, aggregation, EVM verifier on anvil"
  PARLEY_PROOFS_LINT=0 bash crates/proofs/ci.sh
fi

stage "all stages passed"
