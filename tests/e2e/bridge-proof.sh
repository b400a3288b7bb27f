#!/usr/bin/env bash
# The bridge end to end with real proofs, by itself (t_bridge_proof in tests/e2e/run.sh): a
# fresh localnet with anvil as L1 and PARLEY_LOCALNET_L1_PROOFS=1. An L1 deposit credited on
# L2, a cast transfer and a withdrawal; their epochs proven, aggregated, compressed by the
# aggregator's worker, attested, and finalized on L1 through the generated verifier; forged
# epochs refused; the withdrawal claimed once; the escrow checked. Slow (keygen of the block,
# aggregation and compression circuits, then one aggregation and one compression per epoch
# that changes state, on 2 cores), so CI leaves it out; run it before changing the bridge,
# aggregation, compression, the worker or the relayer.
#
#   bash tests/e2e/bridge-proof.sh      (needs release builds of parleyd, parley-prover,
#                                        parley-bridge)
#
# Environment: PARLEY_E2E_KEEP=1 keeps the logs; PARLEY_E2E_L1_PROOF_TIMEOUT bounds the wait
# for the withdrawal's epoch on L1 (seconds, default 3600).
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/run.sh"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/parley-e2e-l1proof.XXXXXX")"
STATE="${WORK}/state"
mkdir -p "${STATE}"
export PARLEY_LOCALNET_DIR="${WORK}/localnet-l1proof"
export PARLEY_LOCALNET_TIMEOUT="${WAIT}"
trap cleanup EXIT
"${REPO_ROOT}/scripts/tools.sh" >"${WORK}/tools.log" 2>&1 || fail "tools: $(tail -n 3 "${WORK}/tools.log")"
run_check "the bridge with real proofs: deposit, transfer, withdrawal, their epochs finalized on L1 through the generated verifier, forged epochs refused, the claim paid once, escrow = deposited − claimed" t_bridge_proof
echo "${PASSED} passed, ${FAILED} failed"
((FAILED == 0))
