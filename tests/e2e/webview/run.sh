#!/usr/bin/env bash
# parleyd's web view in a real browser (issue 11 item 2): headless Chromium (Debian package
# `chromium`, installed by scripts/tools.sh) driven by npm puppeteer-core (which downloads no
# browser) loads the page of a running node, checks that live data appears and moves, that a
# transaction sent with cast shows up with its stage, and saves a screenshot (webview.mjs says
# exactly what it checks).
#
#   tests/e2e/webview/run.sh WEB_URL RPC_URL PRIVATE_KEY OUT_DIR
#       WEB_URL      the node's web view, e.g. http://127.0.0.1:8700 (localnet node 0)
#       RPC_URL      the same node's JSON-RPC, where cast sends the transaction
#       PRIVATE_KEY  a funded key for one transfer
#       OUT_DIR      where webview.png and the logs go
#
# Environment: CHROMIUM (default /usr/bin/chromium); PARLEY_WEBVIEW_SKIP_NPM_CI=1 reuses an
# existing node_modules instead of `npm ci`.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${SCRIPT_DIR}/../../.." && pwd)"
WEB_URL="${1:?WEB_URL}"
RPC_URL="${2:?RPC_URL}"
KEY="${3:?PRIVATE_KEY}"
OUT="${4:?OUT_DIR}"
CAST="${REPO_ROOT}/.tools/bin/cast"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

die() {
  echo "webview/run.sh: ERROR: $*" >&2
  exit 1
}

[[ -x "${CHROMIUM}" ]] || die "${CHROMIUM} not found; scripts/tools.sh installs Debian's chromium"
[[ -x "${CAST}" ]] || die "cast missing under .tools; run scripts/tools.sh"
mkdir -p "${OUT}"
rm -f "${OUT}/ready" "${OUT}/tx.hash"
if [[ "${PARLEY_WEBVIEW_SKIP_NPM_CI:-0}" != 1 || ! -d "${SCRIPT_DIR}/node_modules/puppeteer-core" ]]; then
  (cd "${SCRIPT_DIR}" && npm ci --no-audit --no-fund --loglevel=error) >"${OUT}/npm.log" 2>&1 ||
    die "npm ci failed: $(tail -n 5 "${OUT}/npm.log")"
fi

CHROMIUM="${CHROMIUM}" node "${SCRIPT_DIR}/webview.mjs" "${WEB_URL}" "${OUT}" &
browser=$!
deadline=$((SECONDS + 90))
while [[ ! -f "${OUT}/ready" ]]; do
  kill -0 "${browser}" 2>/dev/null || { wait "${browser}"; exit $?; }
  ((SECONDS < deadline)) || { kill "${browser}" 2>/dev/null; die "the page was not live within 90 s"; }
  sleep 0.3
done
to="$("${CAST}" wallet address --private-key "$(printf '0x%064x' 7777)")"
hash="$("${CAST}" send --async --rpc-url "${RPC_URL}" --private-key "${KEY}" "${to}" --value 1gwei 2>"${OUT}/cast.log")" ||
  { kill "${browser}" 2>/dev/null; die "cast send failed: $(cat "${OUT}/cast.log")"; }
echo "${hash}" >"${OUT}/tx.hash.tmp"
mv "${OUT}/tx.hash.tmp" "${OUT}/tx.hash"
echo "INFO: cast sent ${hash} to ${to} while the page was open"
wait "${browser}"
