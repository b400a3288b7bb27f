#!/usr/bin/env bash
# Mutation testing of the consensus-critical code with cargo-mutants (issue 12): how many
# deliberate small breakages (a `+` turned into `-`, a condition forced true, a function
# returning a default) the test suite notices. Slow, so CI does not run it; run it before
# resolving work on these crates and record the figures in docs/testing.md.
#
#   scripts/mutants.sh types             parley-types in full (state schema, diff, smt), its
#                                        own tests (~150 mutants, ~25 min on 2 cores)
#   scripts/mutants.sh core [ARGS...]    parley-app's deterministic core (execution, overlay,
#                                        block rules, protocol messages, ledger, assignment,
#                                        admission, builder) against the lib tests, the
#                                        in-process harness, the ledger, auction and seed tests; ~15 s per
#                                        mutant, the whole set in ~1.5 h on 2 cores; pass a
#                                        shard to sample, e.g.
#                                        `scripts/mutants.sh core --shard 1/8 --sharding round-robin`
#   scripts/mutants.sh list              list the mutants of both sets, run nothing
#
# Extra ARGS go to `cargo mutants`. Results land in mutants.out/<set>/mutants.out/ (the core
# set: under $MUTANTS_OUT when set, so several shards keep their own results)
# (caught.txt, missed.txt, timeout.txt, unviable.txt, outcomes.json). A mutant found equivalent
# after reading it gets a comment at its line saying why (none so far: docs/testing.md).
#
# Installs cargo-mutants from crates.io when missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

if ! cargo mutants --version >/dev/null 2>&1; then
  cargo install --locked cargo-mutants@27.1.0
fi

# The files of the app's deterministic core (keep in step with docs/ARCHITECTURE.md).
CORE_FILES=(
  app/src/chain/*.rs
  app/src/mempool/*.rs
)

mkdir -p mutants.out/types mutants.out/core
set_name="${1:-}"
shift || true
case "${set_name}" in
  types)
    # Release profile: the proptests run ~50x slower unoptimized.
    cargo mutants -p parley-types --profile release --output mutants.out/types "$@"
    ;;
  core)
    files=()
    for f in "${CORE_FILES[@]}"; do
      [[ -e "$f" ]] && files+=(-f "$f")
    done
    ((${#files[@]})) || { echo "no core files found (see CORE_FILES in $0)" >&2; exit 2; }
    # Release profile like the rest of the suite; the lib tests, the in-process harness and
    # the ledger tests (the differential test needs anvil, so it is not part of each mutant:
    # harness tests pin what it would catch, e.g. the block environment contracts see).
    # --copy-target: each scratch tree starts from the built dependencies (2-3 GB copied)
    # instead of a clean release build of revm, redb, jsonrpsee...
    # Each mutant rebuilds only parley-app: incremental compilation and opt-level 1 for that
    # one crate (its dependencies stay at the release profile's opt-level 3) cut the rebuild.
    cargo mutants -p parley-app "${files[@]}" --profile release --copy-target=true \
      -C --config=profile.release.incremental=true \
      -C --config=profile.release.package.parley-app.opt-level=1 \
      --cargo-test-arg=--lib --cargo-test-arg=--test=harness --cargo-test-arg=--test=ledger \
      --cargo-test-arg=--test=auction --cargo-test-arg=--test=seed \
      --output "${MUTANTS_OUT:-mutants.out/core}" "$@"
    ;;
  list)
    cargo mutants --list -p parley-types
    files=()
    for f in "${CORE_FILES[@]}"; do
      [[ -e "$f" ]] && files+=(-f "$f")
    done
    cargo mutants --list -p parley-app "${files[@]}"
    ;;
  *)
    sed -n '2,20p' "$0"
    exit 2
    ;;
esac
