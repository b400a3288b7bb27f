#!/usr/bin/env bash
# CI check: rebuilds the predeploys into a temporary folder and fails if the result differs from
# the hex committed under app/src/chain/predeploys (i.e. someone edited a source without running
# build.sh, or edited the hex by hand).
#
#   contracts/predeploys/check.sh
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${SCRIPT_DIR}/../.." && pwd)"
COMMITTED="${REPO_ROOT}/app/src/chain/predeploys"
tmp="$(mktemp -d)"
trap 'rm -rf "${tmp}"' EXIT

"${SCRIPT_DIR}/build.sh" "${tmp}" 2>/dev/null
status=0
for f in aggregator.hex create2_deployer.hex l2_withdrawals.hex; do
  if ! diff -q "${COMMITTED}/${f}" "${tmp}/${f}" >/dev/null 2>&1; then
    echo "predeploys/check.sh: ${COMMITTED#"${REPO_ROOT}/"}/${f} is not what the sources compile to;" \
      "run contracts/predeploys/build.sh" >&2
    status=1
  fi
done
[[ ${status} -ne 0 ]] || echo "predeploys/check.sh: committed predeploy bytecode matches the sources" >&2
exit "${status}"
