#!/usr/bin/env bash
# The epoch-aggregation end-to-end check by itself (t_aggregation in tests/e2e/run.sh): a
# fresh localnet that aggregates epochs of 2 slots, a cast transfer followed from `proven`
# to `aggregated`. About 10 minutes on 2 cores (keygen of the aggregation circuit on the
# node side and the worker side, one aggregation), so CI leaves it out; run it before
# changing aggregation, the worker or the ProverService.
#
#   bash tests/e2e/aggregation.sh       (needs release builds of parleyd, parley-prover)
#
# Environment: PARLEY_E2E_KEEP=1 keeps the logs; PARLEY_E2E_AGG_K sets the circuit's k.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/run.sh"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/parley-e2e-agg.XXXXXX")"
STATE="${WORK}/state"
mkdir -p "${STATE}"
export PARLEY_LOCALNET_DIR="${WORK}/localnet-agg"
export PARLEY_LOCALNET_TIMEOUT="${WAIT}"
trap cleanup EXIT
"${REPO_ROOT}/scripts/tools.sh" >"${WORK}/tools.log" 2>&1 || fail "tools: $(tail -n 3 "${WORK}/tools.log")"
run_check "epoch aggregation (own localnet, epochs of 2 slots): a transfer's epoch aggregated by the drawn prover's worker within its window, verified by every validator, the tx at stage aggregated" t_aggregation
echo "${PASSED} passed, ${FAILED} failed"
((FAILED == 0))
