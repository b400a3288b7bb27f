#!/usr/bin/env bash
# The proofs crate's suite: formatting, clippy, the fast tests (native tree, vectors,
# MockProver soundness, real keygen/prove/verify at small k); with PARLEY_PROOFS_SLOW=1 also
# the slow e2e test (aggregation of two real block proofs, k=20, compression at k=22, the
# solcjs-compiled EVM verifier on anvil: about 25 minutes and the SRS of k=22).
#
#   bash crates/proofs/ci.sh                        what CI runs (scripts/test.sh)
#   PARLEY_PROOFS_SLOW=1 bash crates/proofs/ci.sh   the named slow suite: run it before
#                                                   changing circuits, aggregation or the
#                                                   verifier, and before resolving an issue
#                                                   that touches them
#
# Budget on the 2-core machine from a clean clone (CI, 2026-12): fast tests ~4.5 min after the
# workspace build; the slow part: SRS k=22 ~2 min on first run (cached in $PARLEY_PARAMS_DIR
# afterwards), aggregation + compression + EVM ~20 min.
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
step "fast tests (native, vectors, MockProver soundness, real prove/verify)"
cargo test --release --locked -p parley-proofs
if [[ "${PARLEY_PROOFS_SLOW:-0}" == 1 ]]; then
  step "SRS k=22 (generated once, cached; each smaller k is generated, and cached, when first used)"
  cargo run -q --release --locked -p parley-proofs --bin parley-proofs -- srs 22
  step "slow: epoch aggregation + compression + EVM verifier on anvil"
  cargo test --release --locked -p parley-proofs --test aggregation_evm -- --ignored --nocapture
  step "slow: an aggregation tree through the worker's key cache, checked by a node's verifier"
  cargo test --release --locked -p parley-proofs --test aggregation_tree -- --ignored --nocapture
else
  step "slow aggregation + EVM verifier test skipped (PARLEY_PROOFS_SLOW=1 runs it, ~20 min)"
fi
step "done"
