#!/usr/bin/env bash
# Proofs per minute with one and with two prover workers, each pinned to its own core with
# one rayon thread, so the ratio measures how workers scale rather than how they contend
# (the proving issue's figure). Each worker is `parley-proofs bench prove-loop`: the block
# circuit a parley-prover worker uses, proving one padded block again and again.
#
#   scripts/bench-workers.sh [capacity=16] [transfers=4] [seconds=180]
#
# Prints each run's RESULT line, then proofs/min for 1 and 2 workers and the ratio. Needs two
# cores, and nothing else busy on them (no localnet, no build).
set -euo pipefail

CAP="${1:-16}"
TRANSFERS="${2:-4}"
SECONDS_EACH="${3:-180}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${CARGO_TARGET_DIR:-${ROOT}/target}/release/parley-proofs"

command -v taskset >/dev/null || { echo "taskset (util-linux) is needed" >&2; exit 1; }
(($(nproc) >= 2)) || { echo "two cores are needed, this machine has $(nproc)" >&2; exit 1; }
(cd "${ROOT}" && cargo build --release --locked -p parley-proofs --bins >&2)

per_min() { sed -n 's/.*per_min=\([0-9.]*\).*/\1/p' <<<"$1"; }
run_on() { RAYON_NUM_THREADS=1 taskset -c "$1" "${BIN}" bench prove-loop "${CAP}" "${TRANSFERS}" "${SECONDS_EACH}"; }

echo "# one worker on core 0, ${SECONDS_EACH} s"
one="$(run_on 0)"
echo "${one}"
echo "# two workers, on cores 0 and 1, ${SECONDS_EACH} s"
tmp="$(mktemp -d)"
run_on 0 >"${tmp}/a" &
a=$!
run_on 1 >"${tmp}/b" &
b=$!
wait "${a}" "${b}"
cat "${tmp}/a" "${tmp}/b"
p1="$(per_min "${one}")"
p2="$(python3 -c "print(round($(per_min "$(cat "${tmp}/a")") + $(per_min "$(cat "${tmp}/b")"), 2))")"
rm -rf "${tmp}"
echo "WORKERS capacity=${CAP} one=${p1}/min two=${p2}/min ratio=$(python3 -c "print(round(${p2} / ${p1}, 2))")"
