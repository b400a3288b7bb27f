#!/usr/bin/env bash
# Runs the "first hour" guides (docs/first-hour/*.md) as written: every ```sh block of a guide,
# in order, in one bash with errexit, from the repository root, on a localnet of its own. A
# guide whose step fails fails here, so the guides cannot drift from what the code does.
#
#   scripts/first-hour.sh [dapp-developer|validator|sequencer|prover ...]   (default: all four)
#
# Blocks fenced ```text (expected output) or ```sh skip (steps outside this machine, like
# `git clone`) are not run. Each guide gets its own PARLEY_LOCALNET_DIR (the guides use the
# default layout otherwise), and its localnet is taken down when it ends, even on failure.
# Not in CI (minutes per guide, a proving keygen in the prover's); run before changing a guide
# or what it uses, and say so in the change.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"
GUIDES=("$@")
((${#GUIDES[@]})) || GUIDES=(dapp-developer validator sequencer prover)

# extract FILE — the guide's runnable blocks, each preceded by an echo of where it starts.
extract() {
  awk -v file="$1" '
    /^```sh[[:space:]]*$/ { inblock = 1; n++; printf "echo \"--- %s block %d (line %d)\"\n", file, n, NR; next }
    /^```/ { inblock = 0; next }
    inblock { print }
  ' "$1"
}

failed=()
for g in "${GUIDES[@]}"; do
  file="docs/first-hour/${g}.md"
  [[ -f "${file}" ]] || { echo "first-hour.sh: no guide ${file}" >&2; exit 2; }
  dir="$(mktemp -d "/tmp/parley-first-hour-${g}.XXXXXX")"
  script="${dir}/steps.sh"
  extract "${file}" >"${script}"
  echo "==> ${file}: $(grep -c '^echo "--- ' "${script}") blocks (log: ${dir}/run.log)"
  t0=${SECONDS}
  if (
    export PARLEY_LOCALNET_DIR="${dir}/localnet"
    trap 'bash localnet/localnet.sh down >/dev/null 2>&1 || true' EXIT
    bash -euo pipefail "${script}"
  ) >"${dir}/run.log" 2>&1; then
    echo "ok - ${g} ($((SECONDS - t0)) s)"
  else
    echo "not ok - ${g} ($((SECONDS - t0)) s): $(grep '^--- ' "${dir}/run.log" | tail -n 1)"
    tail -n 25 "${dir}/run.log" | sed 's/^/#   /'
    failed+=("${g}")
  fi
done
((${#failed[@]} == 0)) || { echo "failed: ${failed[*]}"; exit 1; }
