#!/usr/bin/env bash
# End-to-end test of real Ethereum clients against a running Parley node (issue 6 item 5):
# viem 2 (HTTP + WebSocket: fees, estimateGas, send/wait, full blocks, deploy, logs, revert
# reasons, multicall through the predeployed aggregator, state overrides, filters, batches,
# watchBlocks / watchContractEvent / watchPendingTransactions), ethers 6 (provider, wallet,
# contract, WebSocketProvider) and forge (`forge create`, `forge script --broadcast` through the
# predeployed CREATE2 deployer), all with dev account 0 of the `test test … junk` mnemonic.
#
#   tests/e2e/clients/run.sh [RPC_URL] [WS_URL]
#       RPC_URL  default http://127.0.0.1:8545 (localnet node 0)
#       WS_URL   default: RPC_URL with http→ws (parleyd serves WebSocket on its JSON-RPC port)
#
#   e.g.  cargo build --release --locked -p parley-app && localnet/localnet.sh up
#         tests/e2e/clients/run.sh http://127.0.0.1:8545 ws://127.0.0.1:8545
#         localnet/localnet.sh down
#
# Environment: PARLEY_CHAIN_ID (default 424242); PARLEY_CLIENTS_SKIP_NPM_CI=1 reuses an existing
# node_modules instead of `npm ci` (which installs exactly package-lock.json); extra arguments to
# node's test runner in PARLEY_CLIENTS_NODE_TEST_ARGS (e.g. "--test-name-pattern=viem").
# Needs node >= 20, npm, and the tools of scripts/tools.sh (forge; solcjs compiles the test
# contract). Nothing is written into the repository except node_modules (gitignored).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${SCRIPT_DIR}/../../.." && pwd)"
RPC_URL="${1:-http://127.0.0.1:8545}"
WS_URL="${2:-${RPC_URL/#http/ws}}"

die() {
  echo "clients/run.sh: ERROR: $*" >&2
  exit 1
}

command -v node >/dev/null 2>&1 || die "node is not on PATH"
command -v npm >/dev/null 2>&1 || die "npm is not on PATH"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
((node_major >= 20)) || die "node $(node --version) is too old; need >= 20"
[[ -x "${REPO_ROOT}/.tools/bin/forge" && -d "${REPO_ROOT}/.tools/npm/node_modules/solc" ]] ||
  die "forge/solc missing under .tools; run scripts/tools.sh"

# Fail fast, with a clear message, when nothing answers at RPC_URL.
chain_id="$(curl -sS -m 10 -H 'content-type: application/json' \
  --data '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "${RPC_URL}" 2>&1)" ||
  die "no JSON-RPC at ${RPC_URL}: ${chain_id}"
[[ "${chain_id}" == *'"result"'* ]] || die "eth_chainId at ${RPC_URL} answered: ${chain_id}"

cd "${SCRIPT_DIR}"
if [[ "${PARLEY_CLIENTS_SKIP_NPM_CI:-0}" != 1 || ! -d node_modules ]]; then
  npm ci --no-audit --no-fund --loglevel=error >&2 || die "npm ci failed"
fi

echo "clients/run.sh: testing viem, ethers and forge against ${RPC_URL} (${WS_URL})" >&2
# shellcheck disable=SC2086 # PARLEY_CLIENTS_NODE_TEST_ARGS is a list of flags
PARLEY_RPC_URL="${RPC_URL}" PARLEY_WS_URL="${WS_URL}" \
  exec node --test --test-concurrency=1 --test-reporter=spec \
  ${PARLEY_CLIENTS_NODE_TEST_ARGS:-} test/clients.test.mjs
