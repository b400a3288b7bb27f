#!/usr/bin/env bash
# Slow named proof suite (called by CI): formatting, clippy, the fast tests (native tree,
# vectors, MockProver soundness, real keygen/prove/verify at small k) and the slow e2e test
# (aggregation of two real block proofs, k=20, solcjs-compiled EVM verifier on anvil).
#
# Budget on the 2-core machine from a clean build (measured pieces, shared machine): clippy +
# release build ~5 min, SRS k=21 ~1 min on first run (cached in $PARLEY_PARAMS_DIR
# afterwards; 6-8 min before the table-based generator), fast tests ~2-4 min, aggregation +
# EVM ~10 min: ~20 min in all.
#
# Tools: anvil via $ANVIL_BIN or <repo>/.tools/bin/anvil or PATH; solc via $SOLC (an executable
# accepting --standard-json, e.g. .tools/bin/solc), $SOLCJS (npm solc module dir) or PATH.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
export PARLEY_PARAMS_DIR="${PARLEY_PARAMS_DIR:-$root/.params}"
mkdir -p "$PARLEY_PARAMS_DIR"
start=$(date +%s)
step() { echo "== [$(( $(date +%s) - start ))s] $*"; }

# scripts/test.sh lints the whole workspace first and sets PARLEY_PROOFS_LINT=0.
if [[ "${PARLEY_PROOFS_LINT:-1}" == 1 ]]; then
  step "fmt"
  cargo fmt -p parley-proofs -- --check
  step "clippy"
  cargo clippy -p parley-proofs --all-targets --release --locked -- -D warnings
fi
step "SRS k=21 (generated once, cached; each smaller k is generated, and cached, when first used)"
cargo run -q --release --locked -p parley-proofs --bin parley-proofs -- srs 21
step "fast tests (native, vectors, MockProver soundness, real prove/verify)"
cargo test --release --locked -p parley-proofs
step "slow: epoch aggregation + EVM verifier on anvil"
cargo test --release --locked -p parley-proofs --test aggregation_evm -- --ignored --nocapture
step "done"
