#!/usr/bin/env bash
# End-to-end test of Parley on a real 4-validator CometBFT localnet, driven by the real `cast`.
#
#   tests/e2e/run.sh
#
# Starts a FRESH localnet (localnet/localnet.sh up) in a temporary directory, runs the checks
# below against the nodes' Ethereum JSON-RPC and CometBFT RPC, prints one line per check
# (`ok - name` or `not ok - name: reason`, diagnostics as `# ...`) and ends with the line
# `N passed, M failed`. Exits non-zero if any check failed. The localnet is always torn down;
# its logs are kept (path printed) when something failed.
#
# Environment:
#   PARLEY_SKIP_BUILD=1      do not rebuild parleyd (see localnet/localnet.sh)
#   PARLEY_E2E_KEEP=1        keep the temporary directory even when everything passed
#   PARLEY_E2E_TIMEOUT       seconds for each wait (default 90)
#   PARLEY_E2E_DIFF_BATCHES  batches the differential check sends (default 60; see
#                            app/tests/differential.rs for a longer run by hand)
#   PARLEY_E2E_AGGREGATION=1 also run the epoch-aggregation check (t_aggregation: a localnet
#                            that aggregates epochs; keygen and one aggregation take about
#                            10 minutes on 2 cores, so CI leaves it out). By itself:
#                            `bash tests/e2e/aggregation.sh`
#
# Uses the localnet's default ports (node i: JSON-RPC 8545+i, CometBFT RPC 26657+10i); it
# refuses to start if they are taken (e.g. by your own localnet: localnet/localnet.sh down).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${SCRIPT_DIR}/../.." && pwd)"
LOCALNET="${REPO_ROOT}/localnet/localnet.sh"
TOOLS_BIN="${REPO_ROOT}/.tools/bin"
CAST="${TOOLS_BIN}/cast"
FORGE="${TOOLS_BIN}/forge"
RELAYER="${PARLEY_RELAYER_BIN:-${REPO_ROOT}/target/release/parley-bridge}"
WAIT="${PARLEY_E2E_TIMEOUT:-90}"
PARLEY_E2E_DIFF_BATCHES="${PARLEY_E2E_DIFF_BATCHES:-60}"

L2_CHAIN_ID=424242
VALIDATORS=4
MNEMONIC="test test test test test test test test test test test junk"
# Tx data size the app must refuse (DESIGN: 128 KiB tx limit); a little over it.
OVERSIZED_DATA_BYTES=$((128 * 1024 + 2048))

WORK=""
STATE=""

PASSED=0
FAILED=0
LOCALNET_STARTED=0

# ---------------------------------------------------------------------------------------------
# harness

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if ((LOCALNET_STARTED)); then
    "${LOCALNET}" down >"${WORK}/down.log" 2>&1 || echo "# localnet down failed: $(tail -n 3 "${WORK}/down.log")"
  fi
  if ((FAILED > 0 || rc != 0)) || [[ "${PARLEY_E2E_KEEP:-0}" == 1 ]]; then
    echo "# logs and data kept in ${WORK} (localnet logs: ${PARLEY_LOCALNET_DIR}/logs)"
  else
    rm -rf "${WORK}"
  fi
  exit "${rc}"
}

# fail, info, run_check.
source "${SCRIPT_DIR}/lib/checks.sh"

eth_url() { echo "http://127.0.0.1:$((8545 + $1))"; }
cmt_url() { echo "http://127.0.0.1:$((26657 + 10 * $1))"; }

dev_key() { "${CAST}" wallet private-key "${MNEMONIC}" "$1"; }
dev_addr() { "${CAST}" wallet address --private-key "$(dev_key "$1")"; }

# big-integer arithmetic (balances exceed 64 bits): big 'EXPR' with decimal or 0x operands
big() { python3 -c "import sys; print(eval(sys.argv[1], {'__builtins__': {}}))" "$1"; }

# rpc N METHOD PARAMS_JSON — raw JSON-RPC call to node N; prints the whole response.
rpc() {
  curl -sS --max-time 10 -H 'content-type: application/json' \
    -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$2\",\"params\":$3}" "$(eth_url "$1")"
}

cmt_height() {
  curl -sS --max-time 5 "$(cmt_url "$1")/status" | jq -r '.result.sync_info.latest_block_height'
}

# header_app_hash N H — app_hash in block H's header on node N (the state after block H-1).
header_app_hash() {
  curl -sS --max-time 5 "$(cmt_url "$1")/block?height=$2" | jq -r '.result.block.header.app_hash // empty'
}

# wait_eth_height N H — node N's eth_blockNumber reaches H.
wait_eth_height() {
  local n="$1" target="$2" deadline=$((SECONDS + WAIT)) h
  while :; do
    h="$("${CAST}" block-number --rpc-url "$(eth_url "${n}")" 2>/dev/null || echo 0)"
    ((h >= target)) && return 0
    ((SECONDS < deadline)) || fail "node${n} JSON-RPC block number stuck at ${h}, wanted >= ${target} within ${WAIT}s"
    sleep 0.5
  done
}

# wait_cmt_height H NODES... — each node's CometBFT height reaches H.
wait_cmt_height() {
  local target="$1" n h deadline=$((SECONDS + WAIT))
  shift
  for n in "$@"; do
    while :; do
      h="$(cmt_height "${n}" 2>/dev/null || echo 0)"
      [[ "${h}" =~ ^[0-9]+$ ]] || h=0
      ((h >= target)) && break
      ((SECONDS < deadline)) || fail "node${n} at height ${h}, wanted >= ${target} within ${WAIT}s"
      sleep 0.5
    done
  done
}

# eth_state_root N H — the stateRoot of L2 block H from node N's JSON-RPC: the app hash node N
# computed itself when it executed block H (empty if the node has no such block).
eth_state_root() {
  local r
  r="$(rpc "$1" eth_getBlockByNumber "[\"$(printf '0x%x' "$2")\",false]")" || return 1
  jq -r '.result.stateRoot // empty' <<<"${r}" | tr 'A-F' 'a-f'
}

# abci_info N — "HEIGHT 0xAPP_HASH": what node N's app answers to ABCI Info (via CometBFT's
# /abci_info), i.e. its own last committed height and app hash.
abci_info() {
  curl -sS --max-time 5 "$(cmt_url "$1")/abci_info" |
    python3 -c 'import base64, json, sys
r = json.load(sys.stdin)["result"]["response"]
print(r.get("last_block_height", "0"), "0x" + base64.b64decode(r.get("last_block_app_hash", "")).hex())'
}

ZERO_HASH="0x$(printf '%064d' 0)"

# assert_same_app_hash NODES... — every node's OWN view agrees. Values every node shares by
# construction (a CometBFT header, the proposed L2 block's hash) cannot show a node that
# computed another state (such a node stops instead), so compare what each node computed:
#  1. at the highest L2 block H every node has executed, each node's eth_getBlockByNumber(H)
#     stateRoot is the same and not zero;
#  2. it is the app hash consensus agreed on (block H+1's header carries it);
#  3. each node's /abci_info (its app's own last height and app hash) matches the state root
#     of that height on the first node.
assert_same_app_hash() {
  local n h min="" root first="" ref="$1" want ih ihash
  for n in "$@"; do
    h="$(rpc "${n}" eth_blockNumber '[]' | jq -r '.result // empty')" || fail "node${n} JSON-RPC unreachable"
    [[ "${h}" =~ ^0x[0-9a-f]+$ ]] || fail "node${n} reports no block number: '${h}'"
    h=$((h))
    if [[ -z "${min}" ]] || ((h < min)); then min="${h}"; fi
  done
  ((min > 0)) || fail "no node has executed a block yet"
  for n in "$@"; do
    root="$(eth_state_root "${n}" "${min}")" || fail "node${n} eth_getBlockByNumber(${min}) failed"
    [[ "${root}" =~ ^0x[0-9a-f]{64}$ && "${root}" != "${ZERO_HASH}" ]] ||
      fail "node${n} serves no state root for block ${min}: '${root}'"
    if [[ -z "${first}" ]]; then first="${root}"; fi
    [[ "${root}" == "${first}" ]] ||
      fail "state root of block ${min} differs: node${ref}=${first} node${n}=${root}"
  done
  wait_cmt_height $((min + 1)) "${ref}"
  want="0x$(header_app_hash "${ref}" $((min + 1)) | tr 'A-F' 'a-f')"
  [[ "${want}" == "${first}" ]] ||
    fail "state root of block ${min} is ${first}, but block $((min + 1))'s header (node${ref}) carries app hash ${want}"
  for n in "$@"; do
    read -r ih ihash < <(abci_info "${n}") || fail "node${n} /abci_info failed"
    [[ "${ih}" =~ ^[0-9]+$ && "${ihash}" =~ ^0x[0-9a-f]{64}$ ]] || fail "node${n} /abci_info: height '${ih}', app hash '${ihash}'"
    wait_eth_height "${ref}" "${ih}"
    want="$(eth_state_root "${ref}" "${ih}")"
    [[ "${ihash}" == "${want}" ]] ||
      fail "node${n} /abci_info: app hash ${ihash} at height ${ih}, but node${ref}'s state root of block ${ih} is ${want}"
  done
  info "block ${min}: every node computed state root ${first} (= app hash in block $((min + 1))'s header); each node's /abci_info agrees"
}

# send_raw N RAW_HEX — eth_sendRawTransaction through curl (the body from a file: big txs
# exceed the kernel's per-argument limit). Prints the JSON response.
send_raw_file() {
  local n="$1" rawfile="$2" body="${WORK}/body.json"
  printf '{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["%s"]}' "$(cat "${rawfile}")" >"${body}"
  curl -sS --max-time 20 -H 'content-type: application/json' --data-binary "@${body}" "$(eth_url "${n}")"
}

# build_big_legacy_tx KEY NONCE GAS_PRICE GAS_LIMIT TO DATA_BYTES OUTFILE — a signed EIP-155
# legacy tx with DATA_BYTES bytes of calldata, written as 0x-hex to OUTFILE. RLP is built by
# bigtx.py, the hash and signature come from cast (keccak reads stdin, so size is no problem).
build_big_legacy_tx() {
  local key="$1" nonce="$2" gas_price="$3" gas_limit="$4" to="$5" nbytes="$6" outfile="$7"
  local unsigned="${WORK}/unsigned.hex" hash sig
  python3 "${SCRIPT_DIR}/bigtx.py" unsigned "${nonce}" "${gas_price}" "${gas_limit}" "${to}" "${nbytes}" "${L2_CHAIN_ID}" >"${unsigned}"
  hash="$("${CAST}" keccak <"${unsigned}")"
  sig="$("${CAST}" wallet sign --no-hash --private-key "${key}" "${hash}")"
  python3 "${SCRIPT_DIR}/bigtx.py" signed "${unsigned}" "${sig}" "${L2_CHAIN_ID}" >"${outfile}"
}

# error_of RESPONSE — the JSON-RPC error message, or empty.
error_of() { jq -r '.error.message // empty' <<<"$1" 2>/dev/null || true; }

source "${SCRIPT_DIR}/monitoring.sh" # t_prometheus

# ---------------------------------------------------------------------------------------------
# checks (each runs in its own subshell; state passes through files in ${STATE})

t_chain_id() {
  local cid
  cid="$("${CAST}" chain-id --rpc-url "$(eth_url 0)" 2>&1)" || fail "cast chain-id: ${cid}"
  [[ "${cid}" == "${L2_CHAIN_ID}" ]] || fail "eth_chainId is ${cid}, expected ${L2_CHAIN_ID}"
  local n
  for ((n = 1; n < VALIDATORS; n++)); do
    cid="$("${CAST}" chain-id --rpc-url "$(eth_url "${n}")" 2>&1)" || fail "node${n} cast chain-id: ${cid}"
    [[ "${cid}" == "${L2_CHAIN_ID}" ]] || fail "node${n} eth_chainId is ${cid}"
  done
}

t_block_number_advances() {
  local b0 b1 ch
  b0="$("${CAST}" block-number --rpc-url "$(eth_url 0)" 2>&1)" || fail "cast block-number: ${b0}"
  wait_eth_height 0 $((b0 + 2))
  b1="$("${CAST}" block-number --rpc-url "$(eth_url 0)")"
  # L2 block number == CometBFT height.
  ch="$(cmt_height 0)"
  ((b1 == ch || b1 + 1 == ch || b1 == ch + 1)) || fail "L2 block ${b1} vs CometBFT height ${ch}"
  info "block number ${b0} -> ${b1} (CometBFT height ${ch})"
}

t_unknown_receipt_null() {
  local r
  r="$(rpc 0 eth_getTransactionReceipt "[\"0x$(printf '%064x' 12345)\"]")" || fail "request failed"
  [[ "$(jq -c '.result' <<<"${r}")" == null && "$(jq -r 'has("result")' <<<"${r}")" == true ]] ||
    fail "expected {\"result\":null}, got ${r}"
}

t_eth_transfer() {
  local key from to value=1234567890123456789 s0 t0 s1 t1 rcpt status gas price blk
  key="$(dev_key 1)"
  from="$(dev_addr 1)"
  to="$("${CAST}" wallet new --json | jq -r '.[0].address')"
  s0="$("${CAST}" balance "${from}" --rpc-url "$(eth_url 0)")"
  t0="$("${CAST}" balance "${to}" --rpc-url "$(eth_url 0)")"
  [[ "${t0}" == 0 ]] || fail "fresh address ${to} has balance ${t0}"
  rcpt="$(timeout "${WAIT}" "${CAST}" send --rpc-url "$(eth_url 0)" --private-key "${key}" \
    --value "${value}" "${to}" --json 2>&1)" || fail "cast send: ${rcpt}"
  status="$(jq -r '.status' <<<"${rcpt}")"
  [[ "${status}" == 0x1 ]] || fail "receipt status ${status}: ${rcpt}"
  gas="$(jq -r '.gasUsed' <<<"${rcpt}")"
  price="$(jq -r '.effectiveGasPrice' <<<"${rcpt}")"
  blk="$(jq -r '.blockNumber' <<<"${rcpt}")"
  ((gas == 21000)) || fail "gasUsed ${gas}, expected 21000 for a plain transfer"
  # The receipt's block may be the one `latest` answers already; read balances there.
  wait_eth_height 0 "$((blk))"
  s1="$("${CAST}" balance "${from}" --rpc-url "$(eth_url 0)")"
  t1="$("${CAST}" balance "${to}" --rpc-url "$(eth_url 0)")"
  [[ "${t1}" == "${value}" ]] || fail "recipient balance ${t1}, expected ${value}"
  local want
  want="$(big "${s0} - ${value} - ${gas} * ${price}")"
  [[ "${s1}" == "${want}" ]] || fail "sender balance ${s1}, expected ${want} (= ${s0} - ${value} - ${gas}*$((price)))"
  # Another node sees the same result.
  wait_eth_height 1 "$((blk))"
  t1="$("${CAST}" balance "${to}" --rpc-url "$(eth_url 1)")"
  [[ "${t1}" == "${value}" ]] || fail "node1 sees recipient balance ${t1}"
  jq -r '.transactionHash' <<<"${rcpt}" >"${STATE}/transfer_tx"
  echo "${to}" >"${STATE}/transfer_to"
  echo "$((blk))" >"${STATE}/transfer_block"
  # The tip went to the proposer's own fee recipient (localnet: 0xfee…0<i> per node).
  local miner tip
  miner="$("${CAST}" block "$((blk))" --field miner --rpc-url "$(eth_url 0)")"
  [[ "${miner,,}" == 0xfee* ]] || fail "block $((blk)) beneficiary ${miner} is not a localnet fee recipient"
  tip="$("${CAST}" balance "${miner}" --block "$((blk))" --rpc-url "$(eth_url 0)")"
  [[ "${tip}" != 0 ]] || fail "fee recipient ${miner} holds nothing after block $((blk))"
  info "tx $(cat "${STATE}/transfer_tx") in block $((blk)), gas $((gas)) x effectiveGasPrice $((price)) wei"
}

# Pending counts just-sent txs: send 3, then read pending and only then latest (so that a node
# whose "pending" were just "latest" can never show latest < pending). Until latest < pending
# has been seen once (the txs were not yet included), the check proves nothing: retry.
t_pending_nonce() {
  local key from n0 np nl h i r st attempt seen=0
  key="$(dev_key 2)"
  from="$(dev_addr 2)"
  for ((attempt = 1; attempt <= 6 && !seen; attempt++)); do
    n0="$("${CAST}" nonce "${from}" --rpc-url "$(eth_url 0)")"
    local hashes=()
    for ((i = 0; i < 3; i++)); do
      h="$(timeout 30 "${CAST}" send --async --rpc-url "$(eth_url 0)" --private-key "${key}" \
        --nonce $((n0 + i)) --gas-limit 21000 --value 1 "$(dev_addr 9)" 2>&1)" || fail "cast send --async: ${h}"
      hashes+=("${h}")
    done
    np="$("${CAST}" nonce "${from}" --block pending --rpc-url "$(eth_url 0)")"
    nl="$("${CAST}" nonce "${from}" --block latest --rpc-url "$(eth_url 0)")"
    ((np == n0 + 3)) || fail "pending nonce ${np} right after sending 3 txs from nonce ${n0} (latest: ${nl})"
    if ((nl < np)); then
      seen=1
      info "attempt ${attempt}: nonce before ${n0}; right after 3 async sends: pending ${np}, latest ${nl}"
      # The receipt of the last one: null while it is pending, a full receipt once included.
      r="$(rpc 0 eth_getTransactionReceipt "[\"${hashes[2]}\"]")" || fail "request failed"
      if [[ "$(jq -c .result <<<"${r}")" == null ]]; then
        info "receipt of the pending tx ${hashes[2]} was null"
      else
        [[ "$(jq -r .result.transactionHash <<<"${r}")" == "${hashes[2]}" && "$(jq -r .result.blockNumber <<<"${r}")" == 0x* ]] ||
          fail "receipt right after sending is neither null nor a receipt with a block number: ${r}"
      fi
    else
      info "attempt ${attempt}: the 3 txs were included before latest was read (pending ${np}, latest ${nl}); again"
    fi
    for h in "${hashes[@]}"; do
      st="$(timeout "${WAIT}" "${CAST}" receipt "${h}" --json --rpc-url "$(eth_url 0)" 2>&1)" || fail "no receipt for ${h}: ${st}"
      [[ "$(jq -r .status <<<"${st}")" == 0x1 ]] || fail "tx ${h} receipt: ${st}"
    done
    nl="$("${CAST}" nonce "${from}" --rpc-url "$(eth_url 0)")"
    ((nl == n0 + 3)) || fail "latest nonce ${nl} after inclusion, expected $((n0 + 3))"
  done
  ((seen)) || fail "latest was never below pending in $((attempt - 1)) attempts: pending does not count txs that wait in the mempool"
}

t_erc20() {
  local key from to out bytecode rcpt token bal st topic0 supply=1000000000000000000000000
  key="$(dev_key 3)"
  from="$(dev_addr 3)"
  to="$(dev_addr 8)"
  out="${WORK}/forge-out"
  (cd "${SCRIPT_DIR}" && timeout 300 "${FORGE}" build --out "${out}" --cache-path "${WORK}/forge-cache") \
    >"${WORK}/forge.log" 2>&1 || fail "forge build failed: $(tail -n 5 "${WORK}/forge.log")"
  bytecode="$(jq -r '.bytecode.object' "${out}/Token.sol/Token.json")"
  [[ "${bytecode}" == 0x6* ]] || fail "no bytecode in forge output"
  rcpt="$(timeout "${WAIT}" "${CAST}" send --rpc-url "$(eth_url 0)" --private-key "${key}" \
    --create "${bytecode}" "constructor(uint256)" "${supply}" --json 2>&1)" || fail "deploy: ${rcpt}"
  [[ "$(jq -r .status <<<"${rcpt}")" == 0x1 ]] || fail "deploy receipt: ${rcpt}"
  token="$(jq -r .contractAddress <<<"${rcpt}")"
  [[ "${token}" =~ ^0x[0-9a-fA-F]{40}$ ]] || fail "no contractAddress in deploy receipt: ${rcpt}"
  [[ "$("${CAST}" code "${token}" --rpc-url "$(eth_url 0)")" != 0x ]] || fail "no code at ${token}"
  echo "${token}" >"${STATE}/token"
  bal="$("${CAST}" call "${token}" "balanceOf(address)(uint256)" "${from}" --rpc-url "$(eth_url 0)" 2>&1)" || fail "balanceOf: ${bal}"
  [[ "${bal%% *}" == "${supply}" ]] || fail "deployer balance ${bal}, expected ${supply}"
  [[ "$("${CAST}" call "${token}" "symbol()(string)" --rpc-url "$(eth_url 0)")" == '"PTT"' ]] || fail "symbol() is not PTT"

  rcpt="$(timeout "${WAIT}" "${CAST}" send --rpc-url "$(eth_url 0)" --private-key "${key}" \
    "${token}" "transfer(address,uint256)" "${to}" 1000 --json 2>&1)" || fail "transfer: ${rcpt}"
  [[ "$(jq -r .status <<<"${rcpt}")" == 0x1 ]] || fail "transfer receipt: ${rcpt}"
  bal="$("${CAST}" call "${token}" "balanceOf(address)(uint256)" "${to}" --rpc-url "$(eth_url 0)")"
  [[ "${bal%% *}" == 1000 ]] || fail "recipient token balance ${bal}, expected 1000"

  # The receipt carries the Transfer log, and eth_getLogs (cast logs) finds it.
  topic0="$("${CAST}" keccak "Transfer(address,address,uint256)")"
  jq -e --arg t "${token,,}" --arg t0 "${topic0}" '
    .logs | length == 1 and (.[0].address | ascii_downcase) == $t and .[0].topics[0] == $t0
    and (.[0].data | ltrimstr("0x") | ascii_downcase) == ("00000000000000000000000000000000000000000000000000000000000003e8")
  ' <<<"${rcpt}" >/dev/null || fail "receipt logs are not one Transfer(…, 1000) from ${token}: $(jq -c .logs <<<"${rcpt}")"
  local blk logs
  blk="$(($(jq -r .blockNumber <<<"${rcpt}")))"
  logs="$("${CAST}" logs --json --rpc-url "$(eth_url 0)" --from-block "${blk}" --to-block "${blk}" \
    --address "${token}" "Transfer(address indexed from, address indexed to, uint256 value)" 2>&1)" || fail "cast logs: ${logs}"
  jq -e --arg h "$(jq -r .transactionHash <<<"${rcpt}")" --arg to "${to,,}" '
    length == 1 and .[0].transactionHash == $h and (.[0].topics[2] | ascii_downcase | endswith($to[2:]))
  ' <<<"${logs}" >/dev/null || fail "cast logs did not return the Transfer log: ${logs}"

  # A reverting transfer, forced in with an explicit gas limit: failed receipt, chain goes on.
  rcpt="$(timeout "${WAIT}" "${CAST}" send --rpc-url "$(eth_url 0)" --private-key "$(dev_key 8)" \
    --gas-limit 100000 "${token}" "transfer(address,uint256)" "${from}" 1000000 --json 2>&1)" || true
  st="$(jq -r '.status // empty' <<<"${rcpt}" 2>/dev/null || true)"
  [[ "${st}" == 0x0 ]] || fail "a reverting transfer should be included with status 0, got: ${rcpt}"
  bal="$("${CAST}" call "${token}" "balanceOf(address)(uint256)" "${to}" --rpc-url "$(eth_url 0)")"
  [[ "${bal%% *}" == 1000 ]] || fail "balance changed by a reverted transfer: ${bal}"
  info "token ${token}; Transfer log found by cast logs in block ${blk}; reverting transfer got status 0"
}

t_app_hash_agreement() {
  wait_cmt_height "$(($(cmt_height 0) + 1))" 0 1 2 3
  assert_same_app_hash 0 1 2 3
}

t_localnet_status() {
  local out n
  out="$("${LOCALNET}" status 2>&1)" || fail "localnet status: ${out}"
  for ((n = 0; n < VALIDATORS; n++)); do
    grep -qE "^node${n} +validator +[0-9]+ +[0-9A-F]{64} +false +[0-9]+ +[0-9]+ +[0-9]+" <<<"${out}" ||
      fail "status has no healthy line for node${n}: ${out}"
  done
}

# Parley's own metrics (app/src/node/metrics.rs), not just any Prometheus text: the committed
# height tracks CometBFT's, and the transactions the checks above sent were counted.
t_metrics() {
  local body url="http://127.0.0.1:9100/metrics" mh ch txs
  body="$(curl -sS --max-time 5 "${url}" 2>&1)" || fail "GET ${url}: ${body}"
  grep -q '^# TYPE parley_height gauge$' <<<"${body}" || fail "no parley_height gauge at ${url}: ${body:0:300}"
  grep -q '^# TYPE parley_l2_txs_total counter$' <<<"${body}" || fail "no parley_l2_txs_total counter at ${url}"
  mh="$(awk '$1 == "parley_height" { print $2 }' <<<"${body}")"
  txs="$(awk '$1 == "parley_l2_txs_total" { print $2 }' <<<"${body}")"
  ch="$(cmt_height 0)"
  [[ "${mh}" =~ ^[0-9]+$ ]] || fail "parley_height is '${mh}'"
  ((mh >= 1 && mh <= ch && mh + 3 >= ch)) || fail "parley_height ${mh}, CometBFT height ${ch}"
  [[ "${txs}" =~ ^[0-9]+$ ]] && ((txs >= 1)) || fail "parley_l2_txs_total is '${txs}' after the transfers above"
  info "parleyd metrics: parley_height ${mh} (CometBFT ${ch}), parley_l2_txs_total ${txs}, $(grep -c '^# TYPE parley_' <<<"${body}") parley_ families"
}

# parleyd's web view in headless Chromium (tests/e2e/webview/webview.mjs says what it checks):
# live data appears and moves, a transaction sent with cast shows up with its stage, the port
# refuses writes; the screenshot is kept in target/e2e-artifacts.
t_webview() {
  local out="${WORK}/webview" log="${WORK}/webview.log" keep="${REPO_ROOT}/target/e2e-artifacts"
  if ! timeout 300 "${REPO_ROOT}/tests/e2e/webview/run.sh" "http://127.0.0.1:8700" "$(eth_url 0)" \
    "$(dev_key 9)" "${out}" >"${log}" 2>&1; then
    sed 's/^/  /' "${log}" | tail -n 20
    fail "tests/e2e/webview failed (log: ${log})"
  fi
  grep '^INFO: ' "${log}" || true
  [[ -s "${out}/webview.png" ]] || fail "no screenshot at ${out}/webview.png"
  mkdir -p "${keep}"
  cp "${out}/webview.png" "${keep}/webview.png"
  info "screenshot kept: ${keep}/webview.png ($(stat -c %s "${keep}/webview.png") bytes)"
}

# The operator CLI against the running localnet: `parleyd duties` for the genesis prover (drawn
# for every slot: its next slots listed with their Select windows) and for a fresh sequencer;
# `parleyd schedule`; clear refusals; and `parleyd msg … unbond sequencer --wait-release`,
# which follows the unbonding with a progress bar until the bond is back in the ledger.
t_operator_cli() {
  local parleyd out err seq="1300" addr before after
  parleyd="${PARLEYD_BIN:-${CARGO_TARGET_DIR:-${REPO_ROOT}/target}/release/parleyd}"
  out="$("${parleyd}" duties --rpc "$(eth_url 0)" --dev-account 1200 2>&1)" || fail "duties (prover): ${out}"
  grep -qE '^  prover +stake 10 ETH, reputation [0-9.]+ %, active' <<<"${out}" || fail "duties shows no active prover role: ${out}"
  grep -qE '^  slot [0-9]+ \(in [0-9]+ blocks?\): you are its prover' <<<"${out}" || fail "duties lists no upcoming slot for the prover drawn for every slot: ${out}"
  grep -qE '^  earned .* and fined .* since genesis$' <<<"${out}" || fail "duties shows no earnings line: ${out}"
  info "duties of the genesis prover: $(grep -cE 'you are its prover' <<<"${out}") upcoming slots, $(grep -E '^  earned' <<<"${out}" | sed 's/^ *//')"
  out="$("${parleyd}" schedule --rpc "$(eth_url 0)" --count 4 2>&1)" || fail "schedule: ${out}"
  (($(grep -ciE "$(dev_addr 1200)" <<<"${out}") == 4)) || fail "schedule: the genesis prover is not drawn in each of 4 slots: ${out}"
  # Clear refusals.
  err="$("${parleyd}" duties --rpc "$(eth_url 0)" 2>&1)" && fail "duties without an address succeeded"
  grep -q 'whose duties' <<<"${err}" || fail "duties without an address: unclear error: ${err}"
  err="$("${parleyd}" msg --rpc "$(eth_url 0)" --dev-account $((seq + 1)) bond-sequencer 1eth 2>&1)" &&
    fail "an unfunded bond-sequencer succeeded"
  grep -q 'refused the bond_sequencer message: refused (code 42): ledger balance 0 wei does not cover .*parleyd msg … fund' <<<"${err}" ||
    fail "unfunded bond-sequencer: unclear error: ${err}"
  info "refusal: $(grep -m1 refused <<<"${err}" | cut -c1-200)"
  # A fresh sequencer joins, sees itself in duties, leaves and waits for its bond.
  addr="$(dev_addr "${seq}")"
  timeout "${WAIT}" "${CAST}" send --rpc-url "$(eth_url 0)" --private-key "$(dev_key 9)" "${addr}" --value 3ether >/dev/null ||
    fail "funding ${addr} failed"
  "${parleyd}" msg --rpc "$(eth_url 0)" --dev-account "${seq}" fund 2eth >/dev/null 2>&1 || fail "fund failed"
  "${parleyd}" msg --rpc "$(eth_url 0)" --dev-account "${seq}" bond-sequencer 1eth >/dev/null 2>&1 || fail "bond-sequencer failed"
  out="$("${parleyd}" duties --rpc "$(eth_url 0)" --address "${addr}" 2>&1)" || fail "duties (sequencer): ${out}"
  grep -qE '^  sequencer +bond 1 ETH since #[0-9]+' <<<"${out}" || fail "duties shows no sequencer bond: ${out}"
  # Three messages signed at once with one key (as an operator's beside a running worker)
  # take the same nonce: each `msg` tells its own message's fate from the node's record,
  # signs again when another took the nonce, and says `executed` only for what executed.
  local n0 b0 n1 b1 i pids=() fee resigned
  fee="$(rpc 0 parley_getProtocolParams '[]' | jq -r .result.protocol.message_fee)"
  read -r n0 b0 < <(rpc 0 parley_getLedger "[\"${addr}\"]" | jq -r '"\(.result.nonce) \(.result.balance)"')
  for i in 1 2 3; do
    "${parleyd}" msg --rpc "$(eth_url 0)" --dev-account "${seq}" fund "${i}" >"${WORK}/race.${i}.out" 2>"${WORK}/race.${i}.err" &
    pids+=("$!")
  done
  for i in 1 2 3; do
    wait "${pids[$((i - 1))]}" || fail "concurrent fund ${i}: $(tail -n 3 "${WORK}/race.${i}.err")"
    grep -q '^executed "fund"' "${WORK}/race.${i}.out" || fail "concurrent fund ${i} printed: $(cat "${WORK}/race.${i}.out")"
  done
  read -r n1 b1 < <(rpc 0 parley_getLedger "[\"${addr}\"]" | jq -r '"\(.result.nonce) \(.result.balance)"')
  ((n1 == n0 + 3)) || fail "three concurrent messages reported executed, but the nonce moved from $((n0)) to $((n1))"
  [[ "$(big "${b1} - ${b0}")" == "$(big "6 - 3 * ${fee}")" ]] ||
    fail "three concurrent funds of 1+2+3 wei moved the ledger by $(big "${b1} - ${b0}") wei, expected 6 less three fees"
  resigned="$(cat "${WORK}"/race.*.err | grep -c 'went to another message' || true)"
  info "three funds signed at once with one key: all executed, nonce $((n0)) -> $((n1)); ${resigned} re-signed after losing the nonce"
  before="$(rpc 0 parley_getLedger "[\"${addr}\"]" | jq -r .result.balance)"
  out="$("${parleyd}" msg --rpc "$(eth_url 0)" --dev-account "${seq}" unbond sequencer --wait-release 600 2>"${WORK}/unbond.err")" ||
    fail "unbond --wait-release: $(tail -n 3 "${WORK}/unbond.err") ${out}"
  grep -q '^released at #[0-9]*: 1 ETH back in the ledger' <<<"${out}" || fail "unbond --wait-release printed: ${out}"
  grep -qE '^  \[#+\.*\] +[0-9]+ %' "${WORK}/unbond.err" || fail "no progress bar while unbonding: $(cat "${WORK}/unbond.err")"
  after="$(rpc 0 parley_getLedger "[\"${addr}\"]" | jq -r .result.balance)"
  [[ "$(big "${after} - ${before}")" == "$(big "10**18 - ${fee}")" ]] ||
    fail "ledger moved by $(big "${after} - ${before}") wei, expected the 1 ETH bond less one message fee (${fee})"
  info "a fresh sequencer bonded 1 ETH, unbonded with --wait-release ($(grep -c '%' "${WORK}/unbond.err") progress lines): $(tail -n 1 <<<"${out}" | cut -c1-90)"
}

# restart_after_kill NODE WHICH — kill -9 WHICH on NODE, wait while the rest of the net goes on,
# restart it, wait until it catches up, compare app hashes.
restart_after_kill() {
  local node="$1" which="$2" h others=() n pidfile
  for ((n = 0; n < VALIDATORS; n++)); do ((n == node)) || others+=("${n}"); done
  pidfile="${PARLEY_LOCALNET_DIR}/pids/node${node}.${which}.pid"
  [[ -f "${pidfile}" ]] || fail "no pid file ${pidfile}"
  h="$(cmt_height 0)"
  "${LOCALNET}" stop-node "${node}" "${which}" --kill >/dev/null 2>&1 || fail "localnet stop-node ${node} ${which} --kill failed"
  # The other 3 of 4 validators (> 2/3 of the power) keep producing blocks.
  wait_cmt_height $((h + 3)) "${others[@]}"
  if [[ "${which}" == parleyd ]]; then
    # CometBFT stops itself when its ABCI connection dies; give it a moment to notice.
    local cpid deadline=$((SECONDS + 20))
    cpid="$(cat "${PARLEY_LOCALNET_DIR}/pids/node${node}.cometbft.pid" 2>/dev/null || true)"
    while [[ -n "${cpid}" ]] && kill -0 "${cpid}" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.5; done
    if [[ -n "${cpid}" ]] && kill -0 "${cpid}" 2>/dev/null; then
      info "node${node} cometbft still running 20s after its app died; restarting it too"
      "${LOCALNET}" stop-node "${node}" cometbft >/dev/null 2>&1 || true
    else
      info "node${node} cometbft exited after its app was killed (as CometBFT does on ABCI loss)"
    fi
  fi
  "${LOCALNET}" start-node "${node}" all >"${WORK}/start-node.log" 2>&1 ||
    fail "restart failed: $(tail -n 5 "${WORK}/start-node.log")"
  # The operator's view of the catch-up: `parleyd sync` follows it to the others' height.
  local top out parleyd="${PARLEYD_BIN:-${CARGO_TARGET_DIR:-${REPO_ROOT}/target}/release/parleyd}"
  out="$("${parleyd}" sync --node "$(cmt_url "${node}")" --peer "$(cmt_url "${others[0]}")" --timeout "${WAIT}" 2>"${WORK}/sync.err")" ||
    fail "parleyd sync: $(tail -n 3 "${WORK}/sync.err") ${out}"
  grep -q '^in sync at height [0-9]* (peer at [0-9]*)' <<<"${out}" || fail "parleyd sync printed: ${out}"
  info "parleyd sync: ${out} ($(grep -c '%' "${WORK}/sync.err") progress lines)"
  top="$(cmt_height "${others[0]}")"
  wait_cmt_height $((top + 2)) "${node}"
  assert_same_app_hash 0 1 2 3
}

t_kill_parleyd() { restart_after_kill 3 parleyd; }
t_kill_cometbft() { restart_after_kill 2 cometbft; }

# Garbage is refused *as garbage*: the node's own "malformed transaction" error (ABCI code 3),
# not any error (a node that is down also makes cast print "error ... connection refused").
t_garbage_rejected() {
  local out r msg code raw want
  out="$("${CAST}" publish 0xdeadbeef --rpc-url "$(eth_url 0)" 2>&1)" && fail "cast publish 0xdeadbeef succeeded: ${out}"
  grep -q 'malformed transaction' <<<"${out}" || fail "cast publish 0xdeadbeef: not the node's malformed-transaction error: ${out}"
  info "cast publish 0xdeadbeef -> ${out//$'\n'/ }"
  for raw in 0xdeadbeef 0x 0xzz 0x02ff; do
    r="$(rpc 0 eth_sendRawTransaction "[\"${raw}\"]")" || fail "request failed"
    msg="$(error_of "${r}")"
    code="$(jq -r '.error.code // empty' <<<"${r}")"
    [[ "$(jq -r 'has("result")' <<<"${r}")" == false ]] || fail "eth_sendRawTransaction(${raw}) has a result: ${r}"
    # 0xzz is not hex: the JSON-RPC layer refuses the parameter itself (invalid params).
    if [[ "${raw}" == 0xzz ]]; then want=-32602; else want=-32000; fi
    [[ "${code}" == "${want}" ]] || fail "eth_sendRawTransaction(${raw}): error code '${code}', expected ${want}: ${r}"
    [[ "${raw}" == 0xzz || "${msg}" == "malformed transaction: "* ]] ||
      fail "eth_sendRawTransaction(${raw}): '${msg}' is not a malformed-transaction error"
    info "eth_sendRawTransaction(${raw}) -> code ${code}: ${msg}"
  done
  # The same garbage straight into CometBFT's mempool: CheckTx must refuse it as malformed.
  r="$(curl -sS --max-time 10 "$(cmt_url 1)/broadcast_tx_sync?tx=0xdeadbeef")" || fail "broadcast_tx_sync request failed"
  [[ "$(jq -r '.result.code // 0' <<<"${r}")" == 3 && "$(jq -r '.result.log // empty' <<<"${r}")" == "malformed transaction: "* ]] ||
    fail "CheckTx did not refuse garbage bytes with code 3 (malformed transaction): ${r}"
  info "CometBFT broadcast_tx_sync(0xdeadbeef) -> CheckTx code $(jq -r .result.code <<<"${r}"): $(jq -r .result.log <<<"${r}")"
}

t_wrong_chain_id() {
  local key from n0 raw out
  key="$(dev_key 4)"
  from="$(dev_addr 4)"
  n0="$("${CAST}" nonce "${from}" --rpc-url "$(eth_url 0)")"
  for cid in 1 424243; do
    raw="$(ETH_RPC_URL='' timeout 30 "${CAST}" mktx --chain "${cid}" --private-key "${key}" --nonce "${n0}" \
      --gas-limit 21000 --gas-price 100gwei --priority-gas-price 1gwei --value 1 "$(dev_addr 9)" 2>&1)" ||
      fail "cast mktx --chain ${cid}: ${raw}"
    out="$("${CAST}" publish "${raw}" --rpc-url "$(eth_url 0)" 2>&1)" && fail "tx for chain ${cid} accepted: ${out}"
    grep -q "wrong chain id: got Some(${cid}), this chain is ${L2_CHAIN_ID}" <<<"${out}" ||
      fail "error for chain id ${cid} is not the node's wrong-chain-id error: ${out}"
    info "chain id ${cid}: ${out//$'\n'/ }"
  done
  # Not included later either.
  wait_eth_height 0 $(($("${CAST}" block-number --rpc-url "$(eth_url 0)") + 2))
  [[ "$("${CAST}" nonce "${from}" --rpc-url "$(eth_url 0)")" == "${n0}" ]] || fail "wrong-chain tx changed the sender's nonce"
}

t_replay_rejected() {
  local tx raw out
  [[ -s "${STATE}/transfer_tx" ]] || fail "needs the ETH transfer check's tx"
  tx="$(cat "${STATE}/transfer_tx")"
  raw="$("${CAST}" tx "${tx}" --raw --rpc-url "$(eth_url 0)" 2>&1)" || fail "cast tx --raw: ${raw}"
  [[ "$("${CAST}" keccak "${raw}")" == "${tx}" ]] || fail "eth_getTransactionByHash raw form does not hash to ${tx}"
  out="$("${CAST}" publish "${raw}" --rpc-url "$(eth_url 1)" 2>&1)" && fail "replayed tx accepted: ${out}"
  grep -q 'nonce too low: next nonce is [0-9]*, got [0-9]*' <<<"${out}" || fail "replay error is not the node's nonce-too-low error: ${out}"
  info "replay of ${tx}: ${out//$'\n'/ }"
}

# The oversized tx is refused for its size: the same builder's tx with ~1 KiB of data is
# accepted and executed (so the builder makes valid txs), then the big one gets the node's
# "transaction too large" error and is never executed.
t_oversized_rejected() {
  local key from n0 raw="${WORK}/big.hex" small="${WORK}/small.hex" r msg size hash rcpt
  key="$(dev_key 4)"
  from="$(dev_addr 4)"
  n0="$("${CAST}" nonce "${from}" --rpc-url "$(eth_url 0)")"
  build_big_legacy_tx "${key}" "${n0}" 100000000000 200000 "$(dev_addr 9)" 1024 "${small}"
  r="$(send_raw_file 0 "${small}")" || fail "request failed (1 KiB tx)"
  hash="$(jq -r '.result // empty' <<<"${r}")"
  [[ -n "${hash}" ]] || fail "the builder's 1 KiB tx was refused: ${r:0:300}"
  [[ "${hash}" == "$("${CAST}" keccak "$(cat "${small}")")" ]] || fail "node returned hash ${hash} for the 1 KiB tx"
  rcpt="$(timeout "${WAIT}" "${CAST}" receipt "${hash}" --json --rpc-url "$(eth_url 0)" 2>&1)" || fail "no receipt for the 1 KiB tx: ${rcpt}"
  [[ "$(jq -r .status <<<"${rcpt}")" == 0x1 ]] || fail "1 KiB tx receipt: ${rcpt}"
  info "the same builder's tx with 1024 bytes of data was accepted and executed (${hash})"

  build_big_legacy_tx "${key}" $((n0 + 1)) 100000000000 16000000 "$(dev_addr 9)" "${OVERSIZED_DATA_BYTES}" "${raw}"
  size=$((($(wc -c <"${raw}") - 2) / 2))
  r="$(send_raw_file 0 "${raw}")" || fail "request failed (${size} byte tx)"
  msg="$(error_of "${r}")"
  [[ -n "${msg}" ]] || fail "a ${size}-byte tx was accepted: ${r:0:300}"
  [[ "${msg}" == *"transaction too large: ${size} bytes"* ]] || fail "error is not the node's too-large error for ${size} bytes: ${msg}"
  info "${size}-byte tx (${OVERSIZED_DATA_BYTES} bytes of data) -> ${msg}"
  wait_eth_height 0 $(($("${CAST}" block-number --rpc-url "$(eth_url 0)") + 2))
  [[ "$("${CAST}" nonce "${from}" --rpc-url "$(eth_url 0)")" == $((n0 + 1)) ]] || fail "oversized tx was executed"
}

# Random bytes to every port of node1 (ABCI, p2p, CometBFT RPC, JSON-RPC, metrics), then a
# malformed JSON-RPC body: each is refused or dropped, and node1 keeps serving.
t_garbage_on_ports() {
  local out
  out="$(python3 - 2>&1 <<'PY'
import os, socket
ports = {"abci": 26668, "p2p": 26666, "cometbft-rpc": 26667, "json-rpc": 8546, "metrics": 9101, "web": 8701}
for name, port in ports.items():
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.settimeout(2)
        s.sendall(os.urandom(4096))
        try:
            s.recv(1024)
        except OSError:
            pass
    print(f"{name}:{port} took 4096 random bytes")
PY
)" || fail "could not send garbage: ${out}"
  while read -r line; do info "${line}"; done <<<"${out}"
  local body
  body="$(curl -s -m 10 -H 'content-type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":' "$(eth_url 1)")"
  jq -e '.error.code' <<<"${body}" >/dev/null || fail "truncated JSON-RPC body: no error object: ${body}"
  info "truncated JSON-RPC request -> ${body}"
  body="$(curl -s -m 10 -H 'content-type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"eth_nope","params":[]}' "$(eth_url 1)")"
  [[ "$(jq -r '.error.code' <<<"${body}")" == -32601 ]] || fail "unknown method: ${body}"
  body="$(curl -s -m 10 -H 'content-type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":' http://127.0.0.1:8701/rpc)"
  [[ "$(jq -r '.error.code' <<<"${body}")" == -32700 ]] || fail "web view: truncated JSON-RPC body: ${body}"
  curl -sf -m 10 http://127.0.0.1:8701/healthz >/dev/null || fail "node1's web view stopped answering after garbage"
  info "web view: truncated request -> $(jq -c '.error' <<<"${body}"), still serving"
  sleep 2
  "${CAST}" block-number --rpc-url "$(eth_url 1)" >/dev/null || fail "node1 JSON-RPC stopped answering"
  local h
  h="$(cmt_height 1)"
  wait_cmt_height $((h + 2)) 1
  info "node1 still serves JSON-RPC and its CometBFT went from height ${h} to $((h + 2))"
}

t_chain_goes_on() {
  local b0 rcpt
  b0="$("${CAST}" block-number --rpc-url "$(eth_url 0)")"
  wait_eth_height 0 $((b0 + 2))
  rcpt="$(timeout "${WAIT}" "${CAST}" send --rpc-url "$(eth_url 2)" --private-key "$(dev_key 5)" \
    --value 1 "$(dev_addr 9)" --json 2>&1)" || fail "transfer after bad input: ${rcpt}"
  [[ "$(jq -r .status <<<"${rcpt}")" == 0x1 ]] || fail "receipt ${rcpt}"
  info "blocks advanced past ${b0}; a transfer through node2 was included in block $(($(jq -r .blockNumber <<<"${rcpt}")))"
}

t_join() {
  "${LOCALNET}" join >"${WORK}/join.log" 2>&1 || fail "localnet join: $(tail -n 5 "${WORK}/join.log")"
  wait_cmt_height "$(($(cmt_height 0) + 1))" 4
  assert_same_app_hash 0 1 2 3 4
  # The synced node serves the state the earlier checks created: required, not optional (a
  # missing state file means an earlier check failed, and then so does this one).
  local to b0 b4 token c0 c4
  [[ -s "${STATE}/transfer_to" ]] || fail "needs the ETH transfer check's recipient (${STATE}/transfer_to)"
  [[ -s "${STATE}/token" ]] || fail "needs the ERC-20 check's token (${STATE}/token)"
  to="$(cat "${STATE}/transfer_to")"
  token="$(cat "${STATE}/token")"
  b0="$("${CAST}" balance "${to}" --rpc-url "$(eth_url 0)")"
  b4="$("${CAST}" balance "${to}" --rpc-url "$(eth_url 4)" 2>&1)" || fail "node4 JSON-RPC: ${b4}"
  [[ "${b0}" != 0 ]] || fail "node0 shows no balance for ${to}"
  [[ "${b0}" == "${b4}" ]] || fail "node4 balance of ${to} is ${b4}, node0 says ${b0}"
  c0="$("${CAST}" code "${token}" --rpc-url "$(eth_url 0)")"
  c4="$("${CAST}" code "${token}" --rpc-url "$(eth_url 4)" 2>&1)" || fail "node4 JSON-RPC: ${c4}"
  [[ "${c0}" != 0x ]] || fail "node0 has no code at ${token}"
  [[ "${c0}" == "${c4}" ]] || fail "node4 has different code for the token"
  info "node4 serves ${to}'s balance ${b4} and the token's code like node0"
}

# ---------------------------------------------------------------------------------------------

# State at past blocks: the transfer's recipient, read at the block before the transfer and at
# its block, on a validator that was killed and restarted since (history survives restarts),
# after many later blocks; a block beyond the head is "not found".
t_history() {
  local to blk value=1234567890123456789 b head out
  [[ -s "${STATE}/transfer_to" && -s "${STATE}/transfer_block" ]] ||
    fail "needs the ETH transfer check's recipient and block (state files missing)"
  to="$(cat "${STATE}/transfer_to")"
  blk="$(cat "${STATE}/transfer_block")"
  head="$("${CAST}" block-number --rpc-url "$(eth_url 3)")"
  ((head > blk + 5)) || fail "node3 head ${head} is not well past the transfer block ${blk}"
  b="$("${CAST}" balance "${to}" --block "$((blk - 1))" --rpc-url "$(eth_url 3)")"
  [[ "${b}" == 0 ]] || fail "balance before the transfer (block $((blk - 1))) is ${b}, expected 0"
  b="$("${CAST}" balance "${to}" --block "${blk}" --rpc-url "$(eth_url 3)")"
  [[ "${b}" == "${value}" ]] || fail "balance at the transfer block ${blk} is ${b}, expected ${value}"
  out="$(rpc 3 eth_getBalance "[\"${to}\", \"0x$(printf %x $((head + 1000)))\"]")"
  grep -q "not found" <<<"${out}" || fail "a block beyond the head should be not found: ${out}"
  info "node3 (restarted) reads block $((blk - 1)): 0 and block ${blk}: ${value}, head ${head}"
}

# Real clients: viem 2 (HTTP and WebSocket subscriptions), ethers 6 and forge drive a wallet's
# flow against node 0 (tests/e2e/clients).
t_clients() {
  local log="${WORK}/clients.log"
  if ! "${REPO_ROOT}/tests/e2e/clients/run.sh" "$(eth_url 0)" "ws://127.0.0.1:8545" >"${log}" 2>&1; then
    grep -E "^✖|not ok|Error" "${log}" | head -n 20 | sed 's/^/#   /'
    fail "tests/e2e/clients failed (log: ${log})"
  fi
  info "$(grep -E '^ℹ (pass|fail|todo)' "${log}" | tr '\n' ' ')"
}

# The differential test (app/tests/differential.rs, localnet mode) against this localnet: the
# seeded generator's batches of dependent transactions go in through the validators' JSON-RPC;
# every block from genesis on (the earlier checks' blocks included) is replayed on anvil with
# the localnet's grouping, order and header, and state, diff and receipts are compared. Runs
# the test binary the test stage built (cargo only checks it is fresh).
t_differential() {
  local log="${WORK}/differential.log" urls="" n line
  for ((n = 0; n < VALIDATORS; n++)); do urls+="${urls:+,}$(eth_url "${n}")"; done
  if ! (cd "${REPO_ROOT}" && RUST_BACKTRACE=0 PARLEY_DIFF_RPC="${urls}" \
    PARLEY_DIFF_BATCHES="${PARLEY_E2E_DIFF_BATCHES}" timeout 900 cargo test --release --locked \
    -p parley-app --test differential -- --ignored --exact localnet_matches_anvil --nocapture) \
    >"${log}" 2>&1; then
    sed -n '/panicked at/,/^test localnet_matches_anvil/p' "${log}" | head -n 40
    fail "the differential test failed (log: ${log})"
  fi
  line="$(grep '^differential (localnet):' "${log}")" || fail "no summary line in ${log}"
  info "${line#differential (localnet): }"
}

# The fifth node (joined as a full node by t_join) bonds as a validator through its operator's
# signed protocol messages; at the next epoch boundary FinalizeBlock returns it to CometBFT,
# and from then on it signs commits. Runs after the differential check, which replays only EVM
# transactions on anvil (the operator's Fund moves an EVM balance by a protocol message).
t_join_validator() {
  [[ -d "${PARLEY_LOCALNET_DIR}/node4" ]] || fail "needs node4 from the join check"
  "${LOCALNET}" bond 4 >"${WORK}/bond.log" 2>&1 || fail "localnet bond 4: $(tail -n 5 "${WORK}/bond.log")"
  local addr op roles h signed power
  addr="$(jq -r .address "${PARLEY_LOCALNET_DIR}/node4/config/priv_validator_key.json")"
  op="$(dev_addr 1004)"
  roles="$("${CAST}" rpc --rpc-url "$(eth_url 0)" parley_getRoles "${op}")" || fail "parley_getRoles: ${roles}"
  power="$(jq -r '.validator.power' <<<"${roles}")"
  [[ "$((power))" == 1 ]] || fail "registry shows power ${power} for node4's operator: ${roles}"
  # CometBFT applies an update two heights after the block that returned it: wait, then find
  # node4's signature on a commit.
  h="$(cmt_height 0)"
  wait_cmt_height $((h + 3)) 0 4
  signed="$(curl -sS --max-time 5 "$(cmt_url 0)/commit?height=$((h + 2))" |
    jq -r --arg a "${addr}" '[.result.signed_header.commit.signatures[] | select(.validator_address == $a and .block_id_flag == 2)] | length')"
  [[ "${signed}" == 1 ]] || fail "node4 (${addr}) did not sign the commit of height $((h + 2))"
  assert_same_app_hash 0 1 2 3 4
  info "node4 bonded by operator ${op}: power ${power}, signing commits from height $((h + 2))"
}

# The prover draw's seed (ADR 0009) on real CometBFT: every validator's vote extension opens
# its last commitment and commits anew at each reveal height, the proposer after it carries
# them with their ed25519 signatures, and every node checks them. After node4 joined the set
# (t_join_validator), wait for two more inclusion heights: each of the five validators then
# has a commitment stored from one of them (a precommit that reached the proposer late is left
# out of its last commit, and that validator's commitment then waits an epoch), a new
# commitment is only stored once the previous one was opened, and the seed moved between the
# two inclusion heights.
t_seed() {
  local e h r1 r2 s1 s2 least addr n got
  e="$(rpc 0 parley_getProtocolParams '[]' | jq -r '.result.protocol.epoch_heights')"
  [[ "${e}" =~ ^[0-9]+$ ]] || fail "no epoch_heights in parley_getProtocolParams"
  h="$(cmt_height 0)"
  r1=$(((h / e + 1) * e + 1))
  wait_cmt_height $((r1 + 1)) 0
  s1="$(rpc 0 parley_getSeed '[]' | jq -c .result)"
  r2=$((r1 + e))
  wait_cmt_height $((r2 + 1)) 0 1 2 3 4
  s2="$(rpc 0 parley_getSeed '[]' | jq -c .result)"
  [[ "$(jq -r .seed <<<"${s1}")" != "$(jq -r .seed <<<"${s2}")" ]] ||
    fail "the seed did not move between inclusion heights ${r1} and ${r2}: ${s2}"
  least=$(((r1 - 1) / e))
  for ((n = 0; n <= 4; n++)); do
    addr="$(jq -r .address "${PARLEY_LOCALNET_DIR}/node${n}/config/priv_validator_key.json" | tr 'A-F' 'a-f')"
    got="$(jq -r --arg a "0x${addr}" '.commitments[] | select(.validator == $a) | .epoch' <<<"${s2}")"
    [[ -n "${got}" && "$((got))" -ge "${least}" ]] ||
      fail "node${n} (0x${addr}) holds commitment epoch '${got}', want at least ${least}: ${s2}"
  done
  info "seed moved at inclusion height ${r2}: $(jq -r .seed <<<"${s2}"); all 5 validators committed at epoch ${least} or later"
}

# slot_json N SLOT — parley_getSlot of SLOT from node N (the result object).
slot_json() { rpc "$1" parley_getSlot "[\"0x$(printf %x "$2")\"]" | jq -c .result; }

# The auction path (DESIGN §3 steps 2-5) on a localnet of its own: nodes 0 and 1 run the
# built-in sequencer (dev accounts 1100 and 1101, bidding 50 % and 80 % of their blocks' tips,
# and min_bid for empty slots), the genesis prover is drawn for every slot and the localnet's
# parley-prover worker signs its Selects (the app selects when one misses the window). A cast
# and a viem transaction land in blocks built by a sequencer; then node 1's parleyd is killed
# while it holds won slots: those slots are withheld (executed empty, escrow split, bond
# fined) and the chain goes on.
t_auction() {
  "${LOCALNET}" down >/dev/null 2>&1 || true
  # This localnet also proves (DESIGN §3.8): a block circuit of 16 entries, the genesis prover's
  # parley-prover worker proving every slot with a non-empty diff.
  # A 60-height window: the worker's first proof includes making its keys (about 25 s in
  # all on 2 cores, against about 26 s for 30 heights), and must land in its window.
  export PARLEY_LOCALNET_DIR="${WORK}/localnet-auction" PARLEY_LOCALNET_SEQUENCERS=2 PARLEY_LOCALNET_PROVING=16 \
    PARLEY_LOCALNET_PROOF_WINDOW=60
  trap '"${LOCALNET}" down >/dev/null 2>&1 || true' EXIT
  "${LOCALNET}" up --validators "${VALIDATORS}" >"${WORK}/auction-up.log" 2>&1 ||
    fail "auction localnet up: $(grep -m1 ERROR "${WORK}/auction-up.log" || tail -n 1 "${WORK}/auction-up.log")"
  local seq0 seq1 h s j deadline rcpt blk miner state winner out viem
  seq0="$(dev_addr 1100)"
  seq1="$(dev_addr 1101)"
  seq0="${seq0,,}" seq1="${seq1,,}"
  # Slots are auctioned once the sequencers' first bids reach their slots.
  deadline=$((SECONDS + WAIT))
  while :; do
    h="$("${CAST}" block-number --rpc-url "$(eth_url 2)")"
    state="$(slot_json 2 "${h}" | jq -r .state)"
    [[ "${state}" == settled || "${state}" == executed ]] && break
    ((SECONDS < deadline)) || fail "no auctioned slot by height ${h} (slot ${h}: ${state})"
    sleep 0.5
  done
  # cast: the receipt's block was built by a sequencer that won its slot.
  rcpt="$(timeout "${WAIT}" "${CAST}" send --rpc-url "$(eth_url 2)" --private-key "$(dev_key 3)" \
    --value 7 0x000000000000000000000000000000000000dEaD --json 2>&1)" || fail "cast send: ${rcpt}"
  [[ "$(jq -r .status <<<"${rcpt}")" == 0x1 ]] || fail "cast receipt: ${rcpt}"
  blk="$(($(jq -r .blockNumber <<<"${rcpt}")))"
  miner="$("${CAST}" block "${blk}" --field miner --rpc-url "$(eth_url 2)")"
  out="$(slot_json 2 "${blk}")"
  winner="$(jq -r '.winner.sequencer // empty' <<<"${out}")"
  [[ "${miner,,}" == "${seq0}" || "${miner,,}" == "${seq1}" ]] || fail "block ${blk} built by ${miner}, not a sequencer: ${out}"
  # `executed` until its proof chains, then `settled`.
  [[ "${winner,,}" == "${miner,,}" && "$(jq -r .state <<<"${out}")" =~ ^(executed|settled)$ ]] ||
    fail "slot ${blk} is not an executed auction won by its builder: ${out}"
  # Its stage, as a dApp or the web view asks for it, names the same block, builder and slot.
  local stage
  stage="$(rpc 2 parley_getTransactionStage "[\"$(jq -r .transactionHash <<<"${rcpt}")\"]" | jq -c .result)"
  [[ "$(jq -r .stage <<<"${stage}")" =~ ^(sequenced|proven)$ && "$(($(jq -r .blockNumber <<<"${stage}")))" == "${blk}" &&
    "$(jq -r .builder <<<"${stage}" | tr A-F a-f)" == "${miner,,}" && "$(jq -r .slotState <<<"${stage}")" =~ ^(executed|settled)$ ]] ||
    fail "parley_getTransactionStage of the cast tx: ${stage}"
  info "cast tx in block ${blk}, built by sequencer ${miner} (bid $(jq -r .winner.amount <<<"${out}") wei, selected by $(jq -r .selectedBy <<<"${out}")); stage ${stage}"
  # The localnet's parley-prover worker (the genesis prover's key, drawn for every slot) signs
  # the highest bids: slots around this one were selected by the prover, not the app.
  local prover by_prover=0 by_app=0
  prover="$(dev_addr 1200)"
  for ((s = blk - 12; s <= blk; s++)); do
    case "$(slot_json 2 "${s}" | jq -r '.selectedBy // empty' | tr A-F a-f)" in
      "${prover,,}") by_prover=$((by_prover + 1)) ;;
      app) by_app=$((by_app + 1)) ;;
    esac
  done
  ((by_prover > 0)) || fail "no slot in $((blk - 12))..${blk} selected by the prover ${prover} (app: ${by_app}); see prover0.log"
  info "slots $((blk - 12))..${blk}: ${by_prover} selected by the parley-prover worker, ${by_app} by the app"
  # Proving: the worker fetches the slot's witness from node 0's witness service, proves it and
  # submits a Proof; every validator verifies it; the transaction's stage becomes `proven`, the
  # slot `settled` (the winning bid paid to the prover), and `safe` reaches the block.
  local tx_hash t0=${SECONDS} proof_slot chain_json safe
  tx_hash="$(jq -r .transactionHash <<<"${rcpt}")"
  deadline=$((SECONDS + WAIT))
  until [[ "$(rpc 2 parley_getTransactionStage "[\"${tx_hash}\"]" | jq -r .result.stage)" == proven ]]; do
    ((SECONDS < deadline)) || fail "the cast tx's block ${blk} was not proven within ${WAIT}s: $(rpc 2 parley_getProofChain '[]' | jq -c .result); see prover0.log"
    sleep 1
  done
  proof_slot="$(rpc 2 parley_getProofSlot "[\"$(printf '0x%x' "${blk}")\"]" | jq -c .result)"
  [[ "$(jq -r .proven <<<"${proof_slot}")" == true &&
    "$(jq -r '.transitions[0].prover' <<<"${proof_slot}" | tr A-F a-f)" == "${prover,,}" ]] ||
    fail "slot ${blk}'s proof: ${proof_slot}"
  [[ "$(slot_json 2 "${blk}" | jq -r .state)" == settled ]] || fail "slot ${blk} not settled once proven: $(slot_json 2 "${blk}")"
  safe="$("${CAST}" block safe --field number --rpc-url "$(eth_url 2)")"
  ((safe >= blk)) || fail "the safe block ${safe} is below the proven block ${blk}"
  for i in 0 1 2 3; do
    # Read the whole page first: `curl | grep -q` fails under pipefail when grep stops
    # reading early and curl gets EPIPE (curl exit 23).
    metrics="$(curl -fsS "http://127.0.0.1:$((9100 + i))/metrics")" || fail "node${i}'s metrics did not answer"
    grep -q '^parley_proofs_total{outcome="verified"}' <<<"${metrics}" ||
      fail "node${i} counted no verified proof"
  done
  chain_json="$(rpc 2 parley_getProofChain '[]' | jq -c .result)"
  info "block ${blk} proven $((SECONDS - t0))s after its receipt by ${prover}; proof chain ${chain_json}"
  # viem: the same through a dApp library.
  [[ -d "${REPO_ROOT}/tests/e2e/clients/node_modules/viem" ]] || fail "viem is not installed (the clients check runs npm ci)"
  viem="$(cd "${REPO_ROOT}/tests/e2e/clients" && timeout 150 node auction.mjs "$(eth_url 2)" "$(dev_key 4)" "${L2_CHAIN_ID}" 2>&1)" ||
    fail "viem: ${viem}"
  blk="$(jq -r .blockNumber <<<"${viem}")"
  [[ "$(jq -r .status <<<"${viem}")" == success && "$(jq -r .balance <<<"${viem}")" == 1 ]] || fail "viem: ${viem}"
  miner="$("${CAST}" block "${blk}" --field miner --rpc-url "$(eth_url 2)")"
  [[ "${miner,,}" == "${seq0}" || "${miner,,}" == "${seq1}" ]] || fail "viem tx's block ${blk} built by ${miner}"
  info "viem tx in block ${blk}, built by sequencer ${miner}"
  # Kill sequencer 1 while it holds the highest bid of a slot that is not selected yet: it has
  # not revealed that block (the built-in sequencer reveals once selected, about a height after
  # the bids close, and the worker selects at once), so the slot is withheld. Transactions with
  # tips make sequencer 1 (80 % of tips against 50 %) the highest bidder for their slots; the
  # slots ahead are polled for such a bid and node 1's parleyd is killed as soon as one shows.
  # A fresh tipped transaction every round keeps sequencer 1 ahead: with no tips both bid the
  # minimum, and a tie goes to whichever bid was included first, which a later bid carrying
  # tips can still beat. The max fee is set: cast's default (from the tiny base fee) is below
  # a 1 gwei tip, and such a transaction is refused.
  local tip_nonce
  tip_nonce="$("${CAST}" nonce --rpc-url "$(eth_url 2)" "$(dev_addr 5)")"
  local target="" until=$((SECONDS + 60))
  while [[ -z "${target}" ]] && ((SECONDS < until)); do
    "${CAST}" send --async --rpc-url "$(eth_url 2)" --private-key "$(dev_key 5)" --nonce "${tip_nonce}" \
      --gas-limit 21000 --gas-price 2gwei --priority-gas-price 1gwei --value 1 0x000000000000000000000000000000000000bEEF >/dev/null 2>&1 || true
    tip_nonce=$((tip_nonce + 1))
    h="$("${CAST}" block-number --rpc-url "$(eth_url 2)" 2>/dev/null || echo 0)"
    # Slots still taking bids (more than bid_close = 8 ahead): their selection, and so the
    # reveal, is at least two heights away when node 1 is killed.
    for ((s = h + 9; s <= h + 12; s++)); do
      # Sequencer 1's bid strictly above every other: no tie for a later bid to win.
      if python3 -c '
import json, sys
e, me = json.load(sys.stdin), sys.argv[1]
mine = [int(b["amount"], 16) for b in e["bids"] if b["sequencer"].lower() == me]
others = [int(b["amount"], 16) for b in e["bids"] if b["sequencer"].lower() != me]
ok = e["state"] == "open" and e["selectedBy"] is None and mine and max(mine) > max(others, default=0)
sys.exit(0 if ok else 1)
' "${seq1}" <<<"$(slot_json 2 "${s}")" 2>/dev/null; then
        target="${s}"
        break
      fi
    done
  done
  [[ -n "${target}" ]] || fail "sequencer 1 held no unselected highest bid within 60 s"
  "${LOCALNET}" stop-node 1 parleyd --kill >/dev/null 2>&1 || fail "stop-node 1 parleyd failed"
  local killed withheld=""
  killed="$("${CAST}" block-number --rpc-url "$(eth_url 2)")"
  wait_eth_height 2 "$((killed + 16))"
  for ((s = killed; s <= killed + 16; s++)); do
    out="$(slot_json 2 "${s}")"
    if [[ "$(jq -r .state <<<"${out}")" == withheld ]]; then
      [[ "$(jq -r '.winner.sequencer' <<<"${out}" | tr A-F a-f)" == "${seq1}" ]] || fail "slot ${s} withheld by another: ${out}"
      withheld+="${withheld:+ }${s}"
    fi
  done
  [[ -n "${withheld}" ]] || fail "no slot withheld in ${killed}..$((killed + 16)) after killing sequencer 1"
  # The target is withheld, unless it was selected and revealed in the moment between the
  # poll and the kill (then its block is sequencer 1's own).
  if [[ " ${withheld} " != *" ${target} "* ]]; then
    out="$(slot_json 2 "${target}")"
    [[ "$(jq -r '.winner.sequencer' <<<"${out}" | tr A-F a-f)" == "${seq1}" &&
      "$("${CAST}" block "${target}" --field miner --rpc-url "$(eth_url 2)" | tr A-F a-f)" == "${seq1}" ]] ||
      fail "slot ${target}, whose highest bid sequencer 1 held when killed, was neither withheld nor revealed by it (withheld: ${withheld}): ${out}"
    info "slot ${target} was revealed by sequencer 1 just before the kill"
  fi
  for s in ${withheld}; do
    [[ "$("${CAST}" block "${s}" --json --rpc-url "$(eth_url 2)" | jq '.transactions | length')" == 0 ]] ||
      fail "withheld slot ${s} executed transactions"
  done
  out="$(rpc 2 parley_getRoles "[\"${seq1}\"]" | jq -c .result)"
  info "killed while holding slot ${target}; withheld slots: ${withheld}; sequencer 1 now: ${out}"
  # The three remaining validators agree.
  h="$("${CAST}" block-number --rpc-url "$(eth_url 2)")"
  wait_eth_height 3 "${h}"
  wait_eth_height 0 "${h}"
  local a b c
  a="$("${CAST}" block "${h}" --field stateRoot --rpc-url "$(eth_url 0)")"
  b="$("${CAST}" block "${h}" --field stateRoot --rpc-url "$(eth_url 2)")"
  c="$("${CAST}" block "${h}" --field stateRoot --rpc-url "$(eth_url 3)")"
  [[ "${a}" == "${b}" && "${b}" == "${c}" ]] || fail "nodes disagree at ${h}: ${a} ${b} ${c}"
  auction_srs
  auction_fallback
  auction_drain
}

# Draining the built-in sequencer (SIGUSR1, docs/operators/sequencer.md) on node 0: it bids no
# more, still reveals every slot it won, and logs `sequencer drained`; nothing it won is
# withheld and it is fined nothing. (Node 1 is down since the kill above, so node 0 keeps
# running: a drained sequencer inside a live node shows the same as one about to stop.)
auction_drain() {
  local seq0 pid log fined0 fined1 h0 hd s out deadline won=0
  seq0="$(dev_addr 1100)"
  seq0="${seq0,,}"
  log="${PARLEY_LOCALNET_DIR}/logs/node0.parleyd.log"
  pid="$(cat "${PARLEY_LOCALNET_DIR}/pids/node0.parleyd.pid")"
  fined0="$(rpc 2 parley_getRoles "[\"${seq0}\"]" | jq -r .result.earnings.fined)"
  h0="$("${CAST}" block-number --rpc-url "$(eth_url 2)")"
  # Slots it bids on while draining start: a tipped transfer keeps its blocks non-empty.
  "${CAST}" send --async --rpc-url "$(eth_url 2)" --private-key "$(dev_key 6)" --gas-limit 21000 \
    --gas-price 2gwei --priority-gas-price 1gwei --value 1 0x000000000000000000000000000000000000bEEF >/dev/null 2>&1 || true
  kill -USR1 "${pid}" || fail "cannot signal node0's parleyd (${pid})"
  deadline=$((SECONDS + 90))
  until grep -q 'sequencer drained' "${log}"; do
    kill -0 "${pid}" 2>/dev/null || fail "node0's parleyd stopped on SIGUSR1: $(tail -n 3 "${log}")"
    ((SECONDS < deadline)) || fail "no 'sequencer drained' within 90 s of SIGUSR1: $(grep -m3 'drain' "${log}")"
    sleep 0.5
  done
  hd="$("${CAST}" block-number --rpc-url "$(eth_url 2)")"
  wait_eth_height 2 "$((hd + 16))"
  for ((s = h0; s <= hd + 16; s++)); do
    out="$(slot_json 2 "${s}")"
    [[ "$(jq -r '.winner.sequencer // empty' <<<"${out}" | tr A-F a-f)" == "${seq0}" ]] || continue
    won=$((won + 1))
    [[ "$(jq -r .state <<<"${out}")" != withheld ]] || fail "slot ${s}, won by the draining sequencer, was withheld: ${out}"
    ((s <= hd)) || fail "slot ${s} after 'sequencer drained' (#${hd}) was won by the drained sequencer: ${out}"
  done
  ((won > 0)) || fail "the sequencer won no slot between the signal (#${h0}) and 'drained' (#${hd}): nothing was drained"
  for ((s = hd + 1; s <= hd + 16; s++)); do
    jq -e --arg me "${seq0}" '[.bids[] | select((.sequencer | ascii_downcase) == $me)] | length == 0' \
      <<<"$(slot_json 2 "${s}")" >/dev/null || fail "the drained sequencer bid on slot ${s}: $(slot_json 2 "${s}")"
  done
  fined1="$(rpc 2 parley_getRoles "[\"${seq0}\"]" | jq -r .result.earnings.fined)"
  [[ "$(big "${fined1} - ${fined0}")" == 0 ]] || fail "the draining sequencer was fined $(big "${fined1} - ${fined0}") wei"
  kill -0 "${pid}" 2>/dev/null || fail "node0's parleyd is gone after the drain"
  info "sequencer 0 drained by SIGUSR1 at #${h0}, drained at #${hd}: ${won} slots it won in between all executed, no bid in the 16 slots after, fined 0 wei"
}

# The trusted setup (ADR 0014) on the proving localnet: node 1's parleyd (killed above) is
# started on its own home with no `srs`, with a missing ceremony file and with a damaged one;
# each time it refuses to start, saying why, and the chain goes on without it.
auction_srs() {
  local parleyd home out rc h
  parleyd="${PARLEYD_BIN:-${CARGO_TARGET_DIR:-${REPO_ROOT}/target}/release/parleyd}"
  home="${PARLEY_LOCALNET_DIR}/node1"
  head -c 4096 /dev/urandom >"${WORK}/damaged.srs"
  h="$("${CAST}" block-number --rpc-url "$(eth_url 2)")"
  for srs in "" "${WORK}/no-such.srs" "${WORK}/damaged.srs"; do
    rc=0
    out="$(PARLEY_SRS="${srs}" timeout 60 "${parleyd}" start --home "${home}" 2>&1)" || rc=$?
    ((rc != 0 && rc != 124)) || fail "parleyd with srs=\"${srs}\" did not refuse to start (exit ${rc}): ${out: -300}"
    case "${srs}" in
    "") grep -q 'config key `srs` is not set' <<<"${out}" || fail "srs unset, but: ${out: -300}" ;;
    *no-such*) grep -q 'cannot read the ceremony file' <<<"${out}" || fail "missing file, but: ${out: -300}" ;;
    *) grep -Eq 'truncated or damaged|outside 1..=28' <<<"${out}" || fail "damaged file, but: ${out: -300}" ;;
    esac
  done
  wait_eth_height 2 $((h + 2))
  info "node 1's parleyd refused to start with srs unset, missing and damaged (exit codes non-zero, reasons named); the chain went on past height $((h + 2))"
}

# The permissionless fallback (DESIGN §3.9) on the auction localnet: a second prover (dev
# account 7) stakes through `parleyd msg` and runs a parley-prover worker of its own; the
# genesis prover's worker is killed. A transaction lands in a slot drawn for the genesis
# prover, whose window (60 heights) passes without a proof; a fallback round opens, the second
# worker commits and reveals, and the slot is proven through the fallback at the round's end;
# the absent prover was slashed as a no-show when its window ended.
auction_fallback() {
  local parleyd prover2 key2 addr2 pid1 worker2 rcpt blk drawn genesis_prover deadline ps tries=0
  parleyd="${PARLEYD_BIN:-${CARGO_TARGET_DIR:-${REPO_ROOT}/target}/release/parleyd}"
  prover2="${PARLEY_PROVER_BIN:-${CARGO_TARGET_DIR:-${REPO_ROOT}/target}/release/parley-prover}"
  key2="$(dev_key 7)"
  addr2="$(dev_addr 7)"
  genesis_prover="$(dev_addr 1200)"
  "${parleyd}" msg --rpc "$(eth_url 2)" --dev-account 7 fund 3eth >"${WORK}/fallback-fund.log" 2>&1 ||
    fail "parleyd msg fund: $(tail -n 3 "${WORK}/fallback-fund.log")"
  "${parleyd}" msg --rpc "$(eth_url 2)" --dev-account 7 stake-prover 2eth >"${WORK}/fallback-stake.log" 2>&1 ||
    fail "parleyd msg stake-prover: $(tail -n 3 "${WORK}/fallback-stake.log")"
  PARLEY_PROVER_KEY="${key2}" "${prover2}" --node "http://127.0.0.1:9202" --chain-id "${L2_CHAIN_ID}" \
    --srs dev >"${WORK}/prover-fallback.log" 2>&1 &
  worker2=$!
  trap 'kill '"${worker2}"' 2>/dev/null || true; "${LOCALNET}" down >/dev/null 2>&1 || true' EXIT
  pid1="$(cat "${PARLEY_LOCALNET_DIR}/pids/prover0.prover.pid")"
  kill "${pid1}" || fail "could not stop the genesis prover's worker (pid ${pid1})"
  # A transfer in a slot drawn for the genesis prover alone.
  while :; do
    tries=$((tries + 1))
    ((tries <= 8)) || fail "8 transfers, none in a slot drawn for ${genesis_prover} alone"
    rcpt="$(timeout "${WAIT}" "${CAST}" send --rpc-url "$(eth_url 2)" --private-key "$(dev_key 8)" \
      --value 3 0x000000000000000000000000000000000000cafE --json 2>&1)" || fail "cast send: ${rcpt}"
    blk="$(($(jq -r .blockNumber <<<"${rcpt}")))"
    drawn="$(slot_json 2 "${blk}" | jq -r '[.provers[].address] | join(",")' | tr A-F a-f)"
    [[ "${drawn}" == "${genesis_prover,,}" ]] && break
  done
  deadline=$((SECONDS + 240))
  while :; do
    ps="$(rpc 2 parley_getProofSlot "[\"$(printf '0x%x' "${blk}")\"]" | jq -c .result)"
    [[ "$(jq -r .proven <<<"${ps}")" == true ]] && break
    ((SECONDS < deadline)) || fail "slot ${blk} not proven through the fallback within 240 s: ${ps}; see prover-fallback.log"
    sleep 2
  done
  [[ "$(jq -r '.transitions[0].prover' <<<"${ps}" | tr A-F a-f)" == "${addr2,,}" &&
    "$(jq -r '.transitions[0].fallback' <<<"${ps}")" == true && "$(jq -r .fallbackRounds <<<"${ps}")" -ge 1 ]] ||
    fail "slot ${blk} was not proven by ${addr2}'s fallback reveal: ${ps}"
  # Slashed as a no-show when its window ended (before the fallback proved the slot).
  [[ "$(jq -r '[.missed[].prover] | join(",")' <<<"${ps}" | tr A-F a-f)" == "${genesis_prover,,}" ]] ||
    fail "slot ${blk} does not record ${genesis_prover} as a no-show: ${ps}"
  local stake metrics
  stake="$(rpc 2 parley_getRoles "[\"${genesis_prover}\"]" | jq -r .result.prover.stake)"
  [[ "$(big "${stake} < 10 * 10**18")" == True ]] || fail "the absent prover was not slashed: stake ${stake}"
  metrics="$(curl -fsS "http://127.0.0.1:9100/metrics")" || fail "node0's metrics did not answer"
  grep -q '^parley_slots_proven_total{path="fallback"}' <<<"${metrics}" ||
    fail "node0 counted no slot proven through the fallback"
  grep -q '^parley_prover_penalties_total{reason="missed_window"} [1-9]' <<<"${metrics}" ||
    fail "node0 counted no missed-window slash: $(grep '^parley_prover_penalties' <<<"${metrics}")"
  # The second prover's worker dials node 2's ProverService.
  metrics="$(curl -fsS "http://127.0.0.1:9102/metrics")" || fail "node2's metrics did not answer"
  grep -q '^parley_prover_workers 1$' <<<"${metrics}" ||
    fail "node2 does not count the fallback worker's task stream: $(grep '^parley_prover_workers' <<<"${metrics}")"
  info "slot ${blk} (drawn for ${genesis_prover}, whose worker was stopped) proven through the fallback by ${addr2}; absent prover's stake now ${stake} wei; $(jq -c '{fallbackRounds, transitions: [.transitions[] | {height, fallback}], missed}' <<<"${ps}")"
  kill "${worker2}" 2>/dev/null || true
}

# A chain on a ceremony file (ADR 0014), rehearsed: `parley-proofs srs export` writes a setup
# whose secret comes from a seed text (not the development seed) as a ceremony file; the
# localnet's genesis pins its hash, every node and the prover worker load it, and a cast
# transfer's slot is proven and verified by the validators. Had any part used the development
# setup instead, its vk or its proofs would not match and nothing would be proven.
# The same chain proves in chunks (ADR 0016): block circuits of 2 entries, up to 4 chunks a
# slot, so the transfer's diff (3 entries or more) is cut into at least 2 chunks; the genesis
# prover runs two workers, the node gives each chunk to one of them, and the slot is proven
# only once every chunk's transition chains.
t_ceremony() {
  "${LOCALNET}" down >/dev/null 2>&1 || true
  local proofs out hash pin rcpt blk deadline ps
  proofs="${CARGO_TARGET_DIR:-${REPO_ROOT}/target}/release/parley-proofs"
  [[ -x "${proofs}" ]] || fail "no ${proofs} (cargo build --release -p parley-proofs)"
  out="$("${proofs}" srs export 17 "${WORK}/rehearsal.srs" "parley e2e rehearsal" 2>&1)" ||
    fail "parley-proofs srs export: ${out}"
  hash="$(awk '{sub(/:$/, "", $4); print $4}' <<<"${out}")"
  export PARLEY_LOCALNET_DIR="${WORK}/localnet-ceremony" PARLEY_LOCALNET_SEQUENCERS=0 PARLEY_LOCALNET_PROVING=2 \
    PARLEY_LOCALNET_MAX_CHUNKS=4 PARLEY_LOCALNET_PROVER_WORKERS=2 PARLEY_LOCALNET_SRS_FILE="${WORK}/rehearsal.srs"
  trap '"${LOCALNET}" down >/dev/null 2>&1 || true' EXIT
  "${LOCALNET}" up --validators "${VALIDATORS}" >"${WORK}/ceremony-up.log" 2>&1 ||
    fail "ceremony localnet up: $(grep -m1 ERROR "${WORK}/ceremony-up.log" || tail -n 1 "${WORK}/ceremony-up.log")"
  pin="$(rpc 0 parley_getProtocolParams '[]' | jq -c .result.protocol.proving.srs)"
  [[ "$(jq -r .ceremony.hash <<<"${pin}")" == "${hash}" && "$(jq -r .ceremony.k <<<"${pin}")" == 17 ]] ||
    fail "the chain pins ${pin}, not the exported file ${hash}"
  # Both workers hold their keys and have had their task streams open for longer than the
  # node's share_after (2 s) before the slot exists: the node shares a slot's chunks only
  # among streams past it, so a slot right after `up` could go to whichever stream passed
  # it first (seen in CI: both chunks to worker 0, its stream 40 ms older).
  local w deadline=$((SECONDS + 180))
  for w in 0 1; do
    until grep -q "block-circuit keys ready" "${PARLEY_LOCALNET_DIR}/logs/prover${w}.log" 2>/dev/null &&
      grep -q " subscribed" "${PARLEY_LOCALNET_DIR}/logs/prover${w}.log" 2>/dev/null; do
      ((SECONDS < deadline)) || fail "worker ${w} has no keys or no task stream after 180 s: $(tail -n 3 "${PARLEY_LOCALNET_DIR}/logs/prover${w}.log")"
      sleep 1
    done
  done
  sleep 3
  rcpt="$(timeout "${WAIT}" "${CAST}" send --rpc-url "$(eth_url 1)" --private-key "$(dev_key 4)" \
    --value 9 0x000000000000000000000000000000000000bEEF --json 2>&1)" || fail "cast send: ${rcpt}"
  blk="$(($(jq -r .blockNumber <<<"${rcpt}")))"
  deadline=$((SECONDS + 180))
  while :; do
    ps="$(rpc 2 parley_getProofSlot "[\"$(printf '0x%x' "${blk}")\"]" | jq -c .result)"
    [[ "$(jq -r .proven <<<"${ps}")" == true ]] && break
    ((SECONDS < deadline)) || fail "slot ${blk} not proven within 180 s on the ceremony chain: ${ps}"
    sleep 2
  done
  local chunks proved
  chunks="$(jq -r .chunks <<<"${ps}")"
  ((chunks >= 2)) || fail "slot ${blk}'s diff was not cut into chunks: ${ps}"
  [[ "$(jq -c '[.transitions[] | select(.fallback == false) | .chunk] | unique' <<<"${ps}")" == "$(jq -nc "[range(${chunks})]")" ]] ||
    fail "slot ${blk} is proven without an in-window transition of each of its ${chunks} chunks: ${ps}"
  proved=""
  for w in 0 1; do
    grep -q "proved slot=${blk} " "${PARLEY_LOCALNET_DIR}/logs/prover${w}.log" && proved+="${w} "
  done
  [[ "${proved}" == "0 1 " ]] ||
    fail "slot ${blk}'s ${chunks} chunks were not shared by the two workers (proved by: ${proved:-none})"
  info "ceremony ${hash} (k 17) pinned; slot ${blk} ($(jq -r .chunks <<<"${ps}") chunks) proven by $(jq -r '.transitions[0].prover' <<<"${ps}"), its chunks proven by both workers and verified in FinalizeBlock with the ceremony's setup"
  "${LOCALNET}" down >/dev/null 2>&1 || true
}

# Epoch aggregation on a real localnet (DESIGN §3.14, ADR 0015), run by name (minutes of
# keygen and one aggregation; not in CI): epochs of 2 slots, the genesis prover's worker
# drawn as aggregator. A cast transfer's slot is proven, its epoch closes, the worker fetches
# the epoch's block proofs from its node (GetEpoch), aggregates them for its address and
# submits `Aggregate`; every validator verifies it with its epoch verifier. Checks: the epoch
# is aggregated by the prover within its window on every node, the transaction's stage is
# `aggregated`, and the validators agree on the app hash. Prints the latencies and the peak
# RSS of the localnet's processes.
t_aggregation() {
  "${LOCALNET}" down >/dev/null 2>&1 || true
  export PARLEY_LOCALNET_DIR="${WORK}/localnet-agg" PARLEY_LOCALNET_SEQUENCERS=0 PARLEY_LOCALNET_PROVING=16 \
    PARLEY_LOCALNET_EPOCH_SLOTS=2 PARLEY_LOCALNET_AGG_K="${PARLEY_E2E_AGG_K:-20}" PARLEY_LOCALNET_AGG_WINDOW=900 \
    PARLEY_LOCALNET_PROOF_WINDOW=90
  trap '"${LOCALNET}" down >/dev/null 2>&1 || true' EXIT
  local t0=${SECONDS} rcpt blk hash epoch ep st prover deadline proven_at peak=0 rss i h0 hi stage
  "${LOCALNET}" up --validators "${VALIDATORS}" >"${WORK}/agg-up.log" 2>&1 ||
    fail "aggregation localnet up: $(grep -m1 ERROR "${WORK}/agg-up.log" || tail -n 1 "${WORK}/agg-up.log")"
  info "aggregation localnet up in $((SECONDS - t0)) s (genesis pins the aggregation vk)"
  prover="$(dev_addr 1200)"
  rcpt="$(timeout "${WAIT}" "${CAST}" send --rpc-url "$(eth_url 1)" --private-key "$(dev_key 4)" \
    --value 9 0x000000000000000000000000000000000000bEEF --json 2>&1)" || fail "cast send: ${rcpt}"
  blk="$(($(jq -r .blockNumber <<<"${rcpt}")))"
  hash="$(jq -r .transactionHash <<<"${rcpt}")"
  epoch=$(((blk - 1) / 2))
  ep="$(printf '"0x%x"' "${epoch}")"
  t0=${SECONDS}
  deadline=$((SECONDS + 1800))
  proven_at=""
  while :; do
    rss="$(ps -C parleyd,parley-prover,cometbft -o rss= | awk '{s += $1} END {print s + 0}')"
    ((rss > peak)) && peak=${rss}
    if [[ -z "${proven_at}" ]] &&
      [[ "$(rpc 0 parley_getTransactionStage "[\"${hash}\"]" | jq -r .result.stage)" != sequenced ]]; then
      proven_at=$((SECONDS - t0))
    fi
    st="$(rpc 2 parley_getEpoch "[${ep}]" | jq -c .result)"
    [[ "$(jq -r .state <<<"${st}")" == aggregated ]] && break
    ((SECONDS < deadline)) || fail "epoch ${epoch} not aggregated within 1800 s: ${st}; worker: $(grep -E 'aggregat' "${PARLEY_LOCALNET_DIR}/logs/prover0.log" | tail -n 3)"
    sleep 5
  done
  [[ "$(jq -r .aggregatedBy <<<"${st}" | tr A-F a-f)" == "${prover,,}" ]] ||
    fail "epoch ${epoch} aggregated by $(jq -r .aggregatedBy <<<"${st}"), not the drawn prover ${prover}: ${st}"
  [[ "$(jq -r .aggregator <<<"${st}" | tr A-F a-f)" == "${prover,,}" && "$(jq -r .missed <<<"${st}")" == null ]] ||
    fail "the prover was not the drawn aggregator, or missed its window: ${st}"
  (($(jq -r .aggregatedAt <<<"${st}") <= $(jq -r .windowEnd <<<"${st}"))) ||
    fail "aggregated after the drawn aggregator's window: ${st}"
  [[ "$(jq -r .commitment <<<"${st}")" != 0x0000000000000000000000000000000000000000000000000000000000000000 ]] ||
    fail "no epoch commitment recorded: ${st}"
  for ((i = 0; i < VALIDATORS; i++)); do
    [[ "$(rpc "${i}" parley_getEpoch "[${ep}]" | jq -r .result.commitment)" == "$(jq -r .commitment <<<"${st}")" ]] ||
      fail "node ${i} records another epoch commitment"
  done
  stage="$(rpc 1 parley_getTransactionStage "[\"${hash}\"]" | jq -r .result.stage)"
  [[ "${stage}" == aggregated ]] || fail "transaction ${hash} is at stage ${stage}, not aggregated"
  h0="$(curl -sS --max-time 5 "$(cmt_url 0)/status" | jq -r .result.sync_info.latest_block_height)"
  "${LOCALNET}" wait-height "$((h0 + 2))" --timeout 120 >/dev/null 2>&1 || fail "the chain stopped after the aggregate"
  hi="$(curl -sS --max-time 5 "$(cmt_url 0)/block?height=$((h0 + 1))" | jq -r .result.block.header.app_hash)"
  for ((i = 1; i < VALIDATORS; i++)); do
    [[ "$(curl -sS --max-time 5 "$(cmt_url "${i}")/block?height=$((h0 + 1))" | jq -r .result.block.header.app_hash)" == "${hi}" ]] ||
      fail "node ${i} has another app hash at height $((h0 + 1))"
  done
  info "slot ${blk} (epoch ${epoch}, $(jq '.blocks | length' <<<"${st}") block(s)): proven after ${proven_at:-?} s, aggregated by ${prover} after $((SECONDS - t0)) s at height $(($(jq -r .aggregatedAt <<<"${st}"))) (window to $(($(jq -r .windowEnd <<<"${st}")))); worker: $(grep -oE 'aggregation keys ready.*ms=[0-9]+|aggregated.*ms=[0-9]+' "${PARLEY_LOCALNET_DIR}/logs/prover0.log" | tr '\n' ' '); peak RSS of the localnet $((peak / 1024)) MiB"
  "${LOCALNET}" down >/dev/null 2>&1 || true
}

# Worker and node faults on a proving localnet (DESIGN §5): the genesis prover runs two
# parley-prover workers, both dialing node 0's ProverService (localnet logs prover0.log and
# prover1.log). Each part sends a cast transfer and follows its slot's task in the logs
# ("prove task", "proving", "proved"):
# 1. two transfers in a row, the first slot's worker held busy (SIGSTOP) while the second
#    slot is offered: the second goes to the other worker, and each slot is proven once;
# 2. kill -9 the worker proving a slot: its task goes to the other worker, which proves it
#    within the window, with no fallback round;
# 3. kill -9 node 0's parleyd while a worker proves, then restart it: the workers reconnect,
#    the slot is proven by the prover within its window, its proof computed once, and the
#    prover is not fined.
faults_logs() { echo "${PARLEY_LOCALNET_DIR}/logs/prover$1.log"; }

# faults_transfer FROM — a cast transfer from dev account FROM; prints its block number.
faults_transfer() {
  local rcpt
  rcpt="$(timeout "${WAIT}" "${CAST}" send --rpc-url "$(eth_url 1)" --private-key "$(dev_key "$1")" \
    --value 5 0x000000000000000000000000000000000000fAb1 --json 2>&1)" || fail "cast send: ${rcpt}"
  echo "$(($(jq -r .blockNumber <<<"${rcpt}")))"
}

# faults_holder SLOT — the worker (0 or 1) whose log shows slot SLOT's prove task first.
faults_holder() {
  local deadline=$((SECONDS + 60)) w
  while ((SECONDS < deadline)); do
    for w in 0 1; do
      grep -q "prove task task=prove/$1/0 " "$(faults_logs "${w}")" 2>/dev/null && { echo "${w}"; return 0; }
    done
    sleep 0.2
  done
  fail "no worker was given prove/$1 within 60 s"
}

# faults_proven SLOT — waits for SLOT to be proven; fails unless the genesis prover proved it
# within its window (a transition that is not a fallback reveal, no fallback round).
faults_proven() {
  local deadline=$((SECONDS + 180)) ps
  while :; do
    ps="$(rpc 1 parley_getProofSlot "[\"$(printf '0x%x' "$1")\"]" | jq -c .result)"
    [[ "$(jq -r .proven <<<"${ps}")" == true ]] && break
    ((SECONDS < deadline)) || fail "slot $1 not proven within 180 s: ${ps}"
    sleep 1
  done
  [[ "$(jq -r '.transitions[0].prover' <<<"${ps}" | tr A-F a-f)" == "${FAULTS_PROVER,,}" &&
    "$(jq -r '.transitions[0].fallback' <<<"${ps}")" == false && "$(jq -r .fallbackRounds <<<"${ps}")" == 0 ]] ||
    fail "slot $1 was not proven by ${FAULTS_PROVER} within its window: ${ps}"
}

# faults_proofs SLOT — how many proofs of SLOT the two workers computed.
faults_proofs() { cat "$(faults_logs 0)" "$(faults_logs 1)" | grep -c "proved slot=$1 " || true; }

t_prover_faults() {
  "${LOCALNET}" down >/dev/null 2>&1 || true
  export PARLEY_LOCALNET_DIR="${WORK}/localnet-faults" PARLEY_LOCALNET_SEQUENCERS=0 PARLEY_LOCALNET_PROVING=16 \
    PARLEY_LOCALNET_PROVER_WORKERS=2 PARLEY_LOCALNET_PROOF_WINDOW=90
  trap '"${LOCALNET}" down >/dev/null 2>&1 || true' EXIT
  "${LOCALNET}" up --validators "${VALIDATORS}" >"${WORK}/faults-up.log" 2>&1 ||
    fail "faults localnet up: $(grep -m1 ERROR "${WORK}/faults-up.log" || tail -n 1 "${WORK}/faults-up.log")"
  FAULTS_PROVER="$(dev_addr 1200)"
  local a b wa wb blk w other pid stake0 stake1 metrics n
  stake0="$(rpc 1 parley_getRoles "[\"${FAULTS_PROVER}\"]" | jq -r .result.prover.stake)"
  # 1. Two slots in a row. The worker given the first is stopped (SIGSTOP) while the second
  # is offered, so it still holds the first: the node must give the second to the other
  # worker. (Without the stop the test raced: a worker that finished the first proof before
  # the second slot executed could fairly take both.) The stop lasts a few seconds, well
  # under the node's stall timeout (30 s), after which it would share the held task.
  a="$(faults_transfer 3)"
  wa="$(faults_holder "${a}")"
  local stopped
  stopped="$(cat "${PARLEY_LOCALNET_DIR}/pids/prover${wa}.prover.pid")"
  trap 'kill -CONT '"${stopped}"' 2>/dev/null; "${LOCALNET}" down >/dev/null 2>&1 || true' EXIT
  kill -STOP "${stopped}" || fail "could not stop worker ${wa} (pid ${stopped})"
  b="$(faults_transfer 4)"
  ((b > a)) || fail "the two transfers share block ${a}"
  wb="$(faults_holder "${b}")"
  kill -CONT "${stopped}" || fail "could not continue worker ${wa} (pid ${stopped})"
  trap '"${LOCALNET}" down >/dev/null 2>&1 || true' EXIT
  faults_proven "${a}"
  faults_proven "${b}"
  ((wa != wb)) || fail "worker ${wa} was given both prove/${a} and prove/${b}; the other none"
  [[ "$(faults_proofs "${a}")" == 1 && "$(faults_proofs "${b}")" == 1 ]] ||
    fail "slots ${a} and ${b} proven $(faults_proofs "${a}") and $(faults_proofs "${b}") times"
  info "slots ${a} and ${b} proven by workers ${wa} and ${wb} (worker ${wa} stopped while slot ${b} was offered), once each"
  # 2. kill -9 the worker while it proves.
  blk="$(faults_transfer 5)"
  w="$(faults_holder "${blk}")"
  other=$((1 - w))
  local deadline=$((SECONDS + 60))
  until grep -q "proving slot=${blk} " "$(faults_logs "${w}")"; do
    ((SECONDS < deadline)) || fail "worker ${w} did not start proving slot ${blk}"
    sleep 0.1
  done
  pid="$(cat "${PARLEY_LOCALNET_DIR}/pids/prover${w}.prover.pid")"
  kill -9 "${pid}" || fail "could not kill worker ${w} (pid ${pid})"
  ! grep -q "proved slot=${blk} " "$(faults_logs "${w}")" ||
    fail "worker ${w} finished slot ${blk}'s proof before it was killed; nothing was tested"
  faults_proven "${blk}"
  grep -q "proved slot=${blk} " "$(faults_logs "${other}")" ||
    fail "slot ${blk} proven, but not by worker ${other}'s proof: $(grep "slot=${blk} " "$(faults_logs "${other}")")"
  info "worker ${w} killed while proving slot ${blk}; the task went to worker ${other}, which proved it in the window"
  # Back to two workers (`localnet start` starts what is not running).
  "${LOCALNET}" start >"${WORK}/faults-start.log" 2>&1 || fail "localnet start: $(tail -n 3 "${WORK}/faults-start.log")"
  # 3. kill -9 the node both workers dial while one proves; restart it.
  blk="$(faults_transfer 6)"
  w="$(faults_holder "${blk}")"
  deadline=$((SECONDS + 60))
  until grep -q "proving slot=${blk} " "$(faults_logs "${w}")"; do
    ((SECONDS < deadline)) || fail "worker ${w} did not start proving slot ${blk}"
    sleep 0.1
  done
  local h subs=()
  for i in 0 1; do subs[i]="$(grep -c "subscribed" "$(faults_logs "${i}")" || true)"; done
  "${LOCALNET}" stop-node 0 parleyd --kill >/dev/null 2>&1 || fail "stop-node 0 parleyd --kill failed"
  h="$(cmt_height 1)"
  wait_cmt_height $((h + 3)) 1 2 3
  "${LOCALNET}" stop-node 0 cometbft >/dev/null 2>&1 || true
  "${LOCALNET}" start-node 0 all >"${WORK}/faults-node.log" 2>&1 ||
    fail "restarting node 0: $(tail -n 3 "${WORK}/faults-node.log")"
  faults_proven "${blk}"
  n="$(faults_proofs "${blk}")"
  ((n == 1)) || fail "slot ${blk}'s proof was computed ${n} times across the node restart"
  # Both reconnect (their backoff doubles while the node is away: up to 30 s).
  deadline=$((SECONDS + 60))
  for i in 0 1; do
    until (($(grep -c "subscribed" "$(faults_logs "${i}")") > subs[i])); do
      ((SECONDS < deadline)) || fail "worker ${i} did not reconnect to the restarted node within 60 s"
      sleep 1
    done
  done
  n="$(faults_proofs "${blk}")"
  ((n == 1)) || fail "slot ${blk}'s proof was computed ${n} times after the workers reconnected"
  stake1="$(rpc 1 parley_getRoles "[\"${FAULTS_PROVER}\"]" | jq -r .result.prover.stake)"
  [[ "$(big "${stake1} >= ${stake0}")" == True ]] || fail "the prover lost stake: ${stake0} -> ${stake1}"
  metrics="$(curl -fsS "http://127.0.0.1:9101/metrics")" || fail "node1's metrics did not answer"
  ! grep -q '^parley_prover_penalties_total{.*} [1-9]' <<<"${metrics}" ||
    fail "a penalty was counted: $(grep '^parley_prover_penalties_total' <<<"${metrics}")"
  info "node 0 killed and restarted while worker ${w} proved slot ${blk}: proven in its window, computed once; workers reconnected; prover stake ${stake0} -> ${stake1}, no penalty"
  "${LOCALNET}" down >/dev/null 2>&1 || true
}

# The validators' attestation reaches L1 (DESIGN §6, docs/bridge.md): anvil as L1, a localnet
# whose genesis names the Rollup's address (predicted: the deployer's second contract), the
# Rollup deployed with the genesis signing set and proof root that parleyd serves
# (parley_getBridge), then epochs finalized on L1 with cast from what parleyd serves
# (parley_getAttestation). Seed epochs of 3 heights against bridge epochs of 4 slots put
# bridge votes beside seed openings at reveal heights. The epochs carry no transactions, so they close empty and need
# no proof: the verifier here is a stand-in that refuses every proof (real aggregation on
# L1 is the slow suite's). Refused: a digest field changed after signing, signatures below
# 2/3 of the power, and an epoch out of order; an epoch posted twice says AlreadyFinalized.
bridge_url() { echo "http://127.0.0.1:18545"; }

# bridge_finalize_args EPOCH [JQ_FILTER] — cast arguments of finalizeEpoch for EPOCH's
# attestation, after applying JQ_FILTER to parley_getAttestation's result.
bridge_finalize_args() {
  local a
  a="$(rpc 0 parley_getAttestation "[\"0x$(printf %x "$1")\"]" | jq -c ".result | ${2:-.}")"
  [[ "${a}" != null ]] || fail "epoch $1 is not attested"
  jq -r '
    def n: tonumber? // (.[2:] | explode | reduce .[] as $c (0; . * 16 + (if $c >= 97 then $c - 87 elif $c >= 65 then $c - 55 else $c - 48 end)));
    .attestation as $h
    | "(\($h.epoch | n),\($h.firstPreRoot),\($h.lastPostRoot),\($h.epochCommitment),\($h.withdrawalRoot),\($h.l1QueueRollingHash),\($h.l1QueueCount | n),\($h.nextValidatorSetHash))",
      "[\(.set.signers | join(","))]",
      "[\(.set.powers | map(n | tostring) | join(","))]",
      "[\(.signatures | map("(\(.index),\(.r),\(.s),\(.v))") | join(","))]",
      "[0,0,0,0,0,0,0,0,0,0,0,0]",
      "0x"' <<<"${a}"
}

# bridge_refused EPOCH JQ_FILTER ERROR WHAT — eth_call of finalizeEpoch with EPOCH's
# attestation changed by JQ_FILTER must revert with custom error ERROR (a signature).
bridge_refused() {
  local args out sel
  mapfile -t args < <(bridge_finalize_args "$1" "$2")
  out="$("${CAST}" call --rpc-url "$(bridge_url)" "${BRIDGE_ROLLUP_ADDR}" "${BRIDGE_SIG}" "${args[@]}" 2>&1)" &&
    fail "finalizeEpoch accepted $4: ${out}"
  sel="$("${CAST}" sig "$3")"
  grep -q "${sel}" <<<"${out}" || fail "finalizeEpoch refused $4, but not with $3 (${sel}): ${out}"
}

# bridge_queue_checks ROLLUP L1_KEY — the L1 queue end to end: a deposit on L1 credits its
# L2 recipient; a transaction sent only to L1 (forceTransaction; no L2 mempool or sequencer
# ever sees it) executes on L2; the chain's consumed position is the contract's own.
bridge_queue_checks() {
  local rollup="$1" key="$2" out to=0x00000000000000000000000000000000000d0d01 fto=0x00000000000000000000000000000000000d0d02
  local deadline raw txh q n want
  out="$("${CAST}" send --rpc-url "$(bridge_url)" --private-key "${key}" --json "${rollup}" \
    'deposit(address)' "${to}" --value 1500000000000000000 2>&1)" || fail "cast send deposit on L1: ${out}"
  [[ "$(jq -r .status <<<"${out}")" == 0x1 ]] || fail "the L1 deposit reverted: ${out}"
  # Signed for L2 (nonce and fees from an L2 node), posted to L1 only.
  raw="$("${CAST}" mktx --rpc-url "$(eth_url 1)" --private-key "$(dev_key 7)" "${fto}" --value 4321 2>&1)" ||
    fail "cast mktx: ${raw}"
  txh="$("${CAST}" keccak "${raw}")"
  out="$("${CAST}" send --rpc-url "$(bridge_url)" --private-key "${key}" --json "${rollup}" \
    'forceTransaction(bytes)' "${raw}" 2>&1)" || fail "cast send forceTransaction on L1: ${out}"
  [[ "$(jq -r .status <<<"${out}")" == 0x1 ]] || fail "forceTransaction reverted: ${out}"
  deadline=$((SECONDS + 90))
  until [[ "$("${CAST}" balance --rpc-url "$(eth_url 3)" "${to}" 2>/dev/null)" == 1500000000000000000 &&
    "$(rpc 2 eth_getTransactionReceipt "[\"${txh}\"]" | jq -r '.result.status // empty')" == 0x1 ]]; do
    ((SECONDS < deadline)) || fail "deposit or forced tx not executed on L2 within 90 s: balance $("${CAST}" balance --rpc-url "$(eth_url 3)" "${to}"), receipt $(rpc 2 eth_getTransactionReceipt "[\"${txh}\"]" | jq -c .result), bridge $(rpc 0 parley_getBridge '[]' | jq -c '{queue, l1View}')"
    sleep 1
  done
  [[ "$("${CAST}" balance --rpc-url "$(eth_url 0)" "${fto}")" == 4321 ]] || fail "the forced transfer's recipient has no 4321 wei"
  # Every validator consumed the same two entries, at the contract's own rolling hash.
  want="$("${CAST}" call --rpc-url "$(bridge_url)" "${rollup}" 'rollingHash(uint256)(bytes32)' 2)"
  for n in 0 1 2 3; do
    q="$(rpc "${n}" parley_getBridge '[]' | jq -c .result.queue)"
    [[ "$(jq -r .consumed <<<"${q}")" == 0x2 && "$(jq -r .rollingHash <<<"${q}")" == "${want}" ]] ||
      fail "node ${n}'s consumed queue ${q} is not the contract's position 2 (${want})"
  done
  # Accounting: the Rollup escrows exactly what was deposited (nothing claimed yet), and L2
  # credited exactly that.
  [[ "$("${CAST}" balance --rpc-url "$(bridge_url)" "${rollup}")" == 1500000000000000000 ]] ||
    fail "the L1 escrow holds $("${CAST}" balance --rpc-url "$(bridge_url)" "${rollup}") wei, not the 1.5 ETH deposited"
  info "L1 deposit of 1.5 ETH credited on L2 (escrow on L1: 1.5 ETH) and a forced transaction (never sent to L2) executed as ${txh}; the queue consumed to the contract's rolling hash ${want}"
}

BRIDGE_SIG='finalizeEpoch((uint64,bytes32,bytes32,bytes32,bytes32,bytes32,uint64,bytes32),address[],uint256[],(uint256,bytes32,bytes32,uint8)[],uint256[12],bytes)'

t_bridge() {
  "${LOCALNET}" down >/dev/null 2>&1 || true
  local dkey rollup out st root e gas
  dkey="$(dev_key 0)"
  # The localnet's one-command bridge: anvil as L1, the Rollup's address predicted into
  # genesis, the validators watching L1, the Rollup deployed by parley-bridge once the chain
  # runs. No background relayer: this check relays by hand, after its refusals. No L1 proofs
  # (a stand-in verifier, no prover): t_bridge_proof runs that part, slowly.
  export PARLEY_LOCALNET_DIR="${WORK}/localnet-bridge" PARLEY_LOCALNET_SEQUENCERS=0 PARLEY_LOCALNET_PROVING=4 \
    PARLEY_LOCALNET_PROVER_WORKERS=0 PARLEY_LOCALNET_EPOCH_SLOTS=4 PARLEY_LOCALNET_AGG_CAPACITY=1 \
    PARLEY_LOCALNET_L1=1 PARLEY_LOCALNET_L1_PROOFS=0 PARLEY_LOCALNET_RELAYER=0 PARLEY_LOCALNET_L1_CHAIN_ID=31337 \
    PARLEY_LOCALNET_EPOCH=3
  trap '"${LOCALNET}" down >/dev/null 2>&1 || true' EXIT
  local t0=${SECONDS}
  "${LOCALNET}" up --validators "${VALIDATORS}" >"${WORK}/bridge-up.log" 2>&1 ||
    fail "bridge localnet up: $(grep -m1 ERROR "${WORK}/bridge-up.log" || tail -n 1 "${WORK}/bridge-up.log")"
  out="$(cat "${PARLEY_LOCALNET_DIR}/l1-deploy.json")"
  rollup="$(jq -r 'select(.event == "deployed") | .rollup' <<<"${out}")"
  info "bridge localnet up in $((SECONDS - t0)) s with anvil; parley-bridge deployed the Rollup at ${rollup} ($(jq -r 'select(.event == "deployed") | .gasUsed' <<<"${out}") gas with the verifier)"
  [[ "$(rpc 0 parley_getProtocolParams '[]' | jq -r '.result.protocol.bridge.rollup' | tr A-F a-f)" == "${rollup,,}" ]] ||
    fail "the Rollup ${rollup} is not the one genesis names: $(rpc 0 parley_getProtocolParams '[]' | jq -c .result.protocol.bridge)"
  st="$(rpc 0 parley_getBridge '[]' | jq -c .result)"
  root="$(jq -r .root <<<"${st}")"
  [[ "$("${CAST}" call --rpc-url "$(bridge_url)" "${rollup}" 'lastRoot()(bytes32)')" == "${root}" &&
    "$("${CAST}" call --rpc-url "$(bridge_url)" "${rollup}" 'validatorSetHash()(bytes32)')" == "$(jq -r .set.hash <<<"${st}")" ]] ||
    fail "the Rollup's root or set hash is not parleyd's genesis ${root} / $(jq -r .set.hash <<<"${st}")"
  BRIDGE_ROLLUP_ADDR="${rollup}"
  # Wait for epochs 0 and 1 to be attested on L2.
  deadline=$((SECONDS + 120))
  until [[ "$(rpc 1 parley_getAttestation '["0x1"]' | jq -r .result)" != null ]]; do
    ((SECONDS < deadline)) || fail "epoch 1 not attested within 120 s: $(rpc 0 parley_getBridge '[]' | jq -c .result)"
    sleep 1
  done
  local rec
  rec="$(rpc 2 parley_getAttestation '["0x0"]' | jq -c .result)"
  [[ "$(jq -r .attestation.rollup <<<"${rec}" | tr A-F a-f)" == "${rollup,,}" &&
    "$(jq -r .attestation.firstPreRoot <<<"${rec}")" == "${root}" ]] ||
    fail "epoch 0's attestation does not name this Rollup and root: ${rec}"
  # Refused, each with its own error: a field changed after signing (the signatures recover
  # to other keys), signatures below 2/3 of the power, epoch 1 before epoch 0.
  bridge_refused 0 '.attestation.withdrawalRoot = "0x00000000000000000000000000000000000000000000000000000000000000ff"' \
    'SignatureInvalid(uint256)' "a digest the validators did not sign"
  bridge_refused 0 '.signatures = .signatures[:2]' 'NotEnoughPower(uint256,uint256)' "2 of 4 signatures"
  bridge_refused 1 . 'EpochOutOfOrder(uint64,uint64)' "epoch 1 before epoch 0"
  # Accepted: the relayer posts every attested epoch, in order, and reports each one's gas.
  out="$(PARLEY_RELAYER_KEY="${dkey}" timeout 180 "${RELAYER}" relay --once --l1-rpc "$(bridge_url)" \
    --parleyd-rpc "$(eth_url 1)" --state-dir "${WORK}/relayer" 2>"${WORK}/relay.log")" ||
    fail "parley-bridge relay --once: $(tail -n 5 "${WORK}/relay.log")"
  local posted
  posted="$(jq -s '[.[] | select(.event == "finalized")] | length' <"${WORK}/relayer/gas.jsonl")"
  ((posted >= 2)) || fail "the relayer finalized ${posted} epochs, not at least 2: ${out}"
  for e in 0 1; do
    gas="$(jq -s -r "[.[] | select(.epoch == ${e})][0].gasUsed" <"${WORK}/relayer/gas.jsonl")"
    [[ "${gas}" != null ]] || fail "no gas line for epoch ${e}: $(cat "${WORK}/relayer/gas.jsonl")"
    info "epoch ${e} finalized on L1 by parley-bridge ($(jq '.signatures | length' <<<"$(rpc 0 parley_getAttestation "[\"0x${e}\"]" | jq -c .result)") signatures): gasUsed ${gas}"
  done
  # Run again: everything attested is final already; it posts nothing twice.
  PARLEY_RELAYER_KEY="${dkey}" timeout 120 "${RELAYER}" relay --once --l1-rpc "$(bridge_url)" \
    --parleyd-rpc "$(eth_url 2)" --state-dir "${WORK}/relayer" >/dev/null 2>>"${WORK}/relay.log" ||
    fail "parley-bridge relay --once (again): $(tail -n 5 "${WORK}/relay.log")"
  local again
  again="$(jq -s '[.[] | select(.event == "finalized")] | length' <"${WORK}/relayer/gas.jsonl")"
  local attested
  attested="$(rpc 0 parley_getBridge '[]' | jq -r .result.nextEpoch)"
  (( again <= attested )) && [[ "$(jq -s '[.[].epoch] | unique | length' <"${WORK}/relayer/gas.jsonl")" == "${again}" ]] ||
    fail "the relayer posted an epoch twice: $(cat "${WORK}/relayer/gas.jsonl")"
  e="$("${CAST}" call --rpc-url "$(bridge_url)" "${rollup}" 'nextEpoch()(uint64)')"
  ((e >= 2)) || fail "the Rollup's nextEpoch is ${e}, not at least 2"
  [[ "$("${CAST}" call --rpc-url "$(bridge_url)" "${rollup}" 'validatorSetHash()(bytes32)')" == \
    "$(jq -r .attestation.nextValidatorSetHash <<<"$(rpc 0 parley_getAttestation "[\"0x$(printf %x $((e - 1)))\"]" | jq -c .result)")" ]] ||
    fail "the Rollup's validator set hash is not epoch $((e - 1))'s next set"
  # The `finalized` block tag follows L1: the last slot of the last epoch the Rollup
  # finalized (epochs of 4 slots), as each node's L1 watcher reads nextEpoch().
  deadline=$((SECONDS + 30))
  until [[ "$("${CAST}" block --rpc-url "$(eth_url 2)" finalized --field number 2>/dev/null)" == "$((4 * e))" ]]; do
    ((SECONDS < deadline)) || fail "the finalized tag is block $("${CAST}" block --rpc-url "$(eth_url 2)" finalized --field number), not $((4 * e)) (${e} epochs final on L1)"
    sleep 1
  done
  info "the finalized tag follows L1: block $((4 * e)), the end of epoch $((e - 1))"
  # Posting an epoch again is refused as already finalized (the relayer counts it a success).
  bridge_refused 0 . 'AlreadyFinalized(uint64)' "epoch 0 posted again"
  info "refused with their own errors: a changed digest, 2 of 4 signatures, epoch 1 before 0, epoch 0 again"
  # A withdrawal to L1 with cast: recorded as its epoch's next leaf, the value burned on L2.
  # (Claiming it on L1 needs its epoch proven and aggregated: the slow suite's part.)
  local wd=0x00000000000000000000000000000000000b11d6 to=0x00000000000000000000000000000000000B0B01 blk ep ws
  out="$(timeout "${WAIT}" "${CAST}" send --rpc-url "$(eth_url 1)" --private-key "$(dev_key 6)" --json \
    "${wd}" 'withdraw(address)' "${to}" --value 1234567 2>&1)" || fail "cast send withdraw: ${out}"
  [[ "$(jq -r .status <<<"${out}")" == 0x1 ]] || fail "the withdrawal reverted: ${out}"
  blk="$(($(jq -r .blockNumber <<<"${out}")))"
  ep=$(((blk - 1) / 4))
  ws="$(rpc 0 parley_getWithdrawals "[\"0x$(printf %x "${ep}")\"]" | jq -c .result)"
  [[ "$(jq -r '.withdrawals[0].l1Recipient' <<<"${ws}" | tr A-F a-f)" == "${to,,}" &&
    "$(jq -r '.withdrawals[0].amount' <<<"${ws}")" == "$(printf '0x%x' 1234567)" &&
    "$(jq -r '.withdrawals[0].sender' <<<"${ws}" | tr A-F a-f)" == "$(dev_addr 6 | tr A-F a-f)" ]] ||
    fail "epoch ${ep}'s withdrawals do not show the cast withdrawal: ${ws}"
  [[ "$("${CAST}" balance --rpc-url "$(eth_url 2)" "${wd}")" == 0 ]] || fail "the withdrawal contract kept a balance"
  out="$("${CAST}" send --rpc-url "$(eth_url 1)" --private-key "$(dev_key 6)" --json "${wd}" --value 5 2>&1)" || true
  [[ "$(jq -r .status <<<"${out}" 2>/dev/null)" != 0x1 ]] || fail "a plain transfer to the withdrawal contract was accepted"
  info "a cast withdrawal in block ${blk} is epoch ${ep}'s leaf 0 (root $(jq -r .root <<<"${ws}")); the contract's balance burned; a plain transfer to it refused"
  bridge_queue_checks "${rollup}" "${dkey}"
  "${LOCALNET}" down >/dev/null 2>&1 || true
}

# l1_proof_args EPOCH PROOF_JSON [JQ_FILTER] — finalizeEpoch's arguments for EPOCH's
# attestation (changed by JQ_FILTER) with the accumulator and proof of PROOF_JSON (a
# parley_getEpochProof result).
l1_proof_args() {
  local args
  mapfile -t args < <(bridge_finalize_args "$1" "${3:-.}")
  printf '%s\n' "${args[@]:0:4}"
  jq -r '.proof[2:] as $p | "[\([range(0; 12) as $i | "0x" + $p[64 * $i : 64 * ($i + 1)]] | join(","))]", "0x" + $p[768:]' <<<"$2"
}

# l1_call_refused WHAT ERROR ARGS... — eth_call of finalizeEpoch with ARGS must revert with
# custom error ERROR (a signature).
l1_call_refused() {
  local what="$1" err="$2" out sel
  shift 2
  out="$("${CAST}" call --rpc-url "$(bridge_url)" "${BRIDGE_ROLLUP_ADDR}" "${BRIDGE_SIG}" "$@" 2>&1)" &&
    fail "finalizeEpoch accepted ${what}: ${out}"
  sel="$("${CAST}" sig "${err}")"
  grep -q "${sel}" <<<"${out}" || fail "finalizeEpoch refused ${what}, but not with ${err} (${sel}): ${out:0:300}"
}

# The whole bridge with real proofs (slow: each epoch that changes state is proven, aggregated
# and compressed on 2 cores). PARLEY_E2E_L1_PROOF=1 runs it.
t_bridge_proof() {
  "${LOCALNET}" down >/dev/null 2>&1 || true
  # PARLEY_E2E_AGG_CAPACITY: block proofs per epoch (layer 1's degree follows it; the
  # compression circuit, and so the L1 gas, does not: ADR 0019). PARLEY_E2E_AGG_LEAF: aggregate
  # in a tree of leaves of this many (ADR 0020; 8 blocks need it on 24 GiB).
  local cap="${PARLEY_E2E_AGG_CAPACITY:-1}"
  export PARLEY_LOCALNET_DIR="${WORK}/localnet-l1proof" PARLEY_LOCALNET_SEQUENCERS=0 PARLEY_LOCALNET_PROVING=4 \
    PARLEY_LOCALNET_EPOCH_SLOTS=$((cap > 4 ? cap : 4)) PARLEY_LOCALNET_AGG_CAPACITY="${cap}" \
    PARLEY_LOCALNET_AGG_LEAF="${PARLEY_E2E_AGG_LEAF:-}" \
    PARLEY_LOCALNET_L1=1 PARLEY_LOCALNET_L1_PROOFS=1 PARLEY_LOCALNET_RELAYER=0 \
    PARLEY_LOCALNET_L1_CHAIN_ID=31337 PARLEY_LOCALNET_EPOCH=3
  trap '"${LOCALNET}" down >/dev/null 2>&1 || true' EXIT
  local t0=${SECONDS} out rollup ukey uaddr lkey b=0x000000000000000000000000000000000000b0b2
  local x=0x000000000000000000000000000000000000C1A1 dep=2000000000000000000 wamt=1000000000000000000
  "${LOCALNET}" up --validators "${VALIDATORS}" >"${WORK}/l1proof-up.log" 2>&1 ||
    fail "bridge localnet up: $(grep -m1 ERROR "${WORK}/l1proof-up.log" || tail -n 1 "${WORK}/l1proof-up.log")"
  out="$(cat "${PARLEY_LOCALNET_DIR}/l1-deploy.json")"
  rollup="$(jq -r 'select(.event == "deployed") | .rollup' <<<"${out}")"
  BRIDGE_ROLLUP_ADDR="${rollup}"
  info "bridge localnet with L1 proofs up in $((SECONDS - t0)) s; the Rollup at ${rollup} with the generated compression verifier ($(jq -r 'select(.event == "deployed") | .gasUsed' <<<"${out}") gas to deploy both)"
  # A user with nothing on L2: everything it has there comes from L1.
  out="$("${CAST}" wallet new --json)"
  ukey="$(jq -r '.[0].private_key' <<<"${out}")"
  uaddr="$(jq -r '.[0].address' <<<"${out}")"
  lkey="$(dev_key 1)"
  out="$("${CAST}" send --rpc-url "$(bridge_url)" --private-key "${lkey}" --json "${rollup}" \
    'deposit(address)' "${uaddr}" --value "${dep}" 2>&1)" || fail "cast send deposit on L1: ${out}"
  [[ "$(jq -r .status <<<"${out}")" == 0x1 ]] || fail "the L1 deposit reverted: ${out}"
  local deadline=$((SECONDS + 120))
  until [[ "$("${CAST}" balance --rpc-url "$(eth_url 2)" "${uaddr}" 2>/dev/null)" == "${dep}" ]]; do
    ((SECONDS < deadline)) || fail "the deposit was not credited on L2 within 120 s: $(rpc 0 parley_getBridge '[]' | jq -c '{queue, l1View}')"
    sleep 1
  done
  # On L2, with cast: a transfer, then a withdrawal to L1 recipient x.
  local rt rw tx_blk blk ep
  rt="$(timeout "${WAIT}" "${CAST}" send --rpc-url "$(eth_url 1)" --private-key "${ukey}" --json "${b}" --value 250000000000000000 2>&1)" ||
    fail "cast send (L2 transfer): ${rt}"
  [[ "$(jq -r .status <<<"${rt}")" == 0x1 ]] || fail "the L2 transfer failed: ${rt}"
  tx_blk="$(($(jq -r .blockNumber <<<"${rt}")))"
  rw="$(timeout "${WAIT}" "${CAST}" send --rpc-url "$(eth_url 1)" --private-key "${ukey}" --json \
    0x00000000000000000000000000000000000b11d6 'withdraw(address)' "${x}" --value "${wamt}" 2>&1)" ||
    fail "cast send withdraw: ${rw}"
  [[ "$(jq -r .status <<<"${rw}")" == 0x1 ]] || fail "the withdrawal reverted: ${rw}"
  blk="$(($(jq -r .blockNumber <<<"${rw}")))"
  ep=$(((blk - 1) / PARLEY_LOCALNET_EPOCH_SLOTS))
  info "deposit credited; cast transfer in block ${tx_blk}, withdrawal in block ${blk} (epoch ${ep})"
  # Relay by hand, epoch by epoch. Before the relayer posts an epoch that changes state, the
  # Rollup must refuse it forged: signed fields changed under its valid proof, its signed
  # fields with a corrupted proof, or with an earlier epoch's valid proof.
  local relay_state="${WORK}/relayer-l1proof" ne att p prev_proof="" checked="" gas_empty gas_full n
  deadline=$((SECONDS + ${PARLEY_E2E_L1_PROOF_TIMEOUT:-3600}))
  while :; do
    ne="$("${CAST}" call --rpc-url "$(bridge_url)" "${rollup}" 'nextEpoch()(uint64)')"
    ((ne > ep)) && break
    ((SECONDS < deadline)) || fail "epoch ${ep} not finalized on L1 in time: nextEpoch ${ne}, epoch ${ne} on L2: $(rpc 0 parley_getEpoch "[\"0x$(printf %x "${ne}")\"]" | jq -c '.result | {state, aggregatedBy, l1Proof}'), bridge $(rpc 0 parley_getBridge '[]' | jq -c '.result | {nextEpoch, pending: (.pending != null)}')"
    att="$(rpc 0 parley_getAttestation "[\"0x$(printf %x "${ne}")\"]" | jq -c .result)"
    if [[ "${att}" != null && "$(jq -r '.attestation.firstPreRoot != .attestation.lastPostRoot' <<<"${att}")" == true &&
      " ${checked} " != *" ${ne} "* ]]; then
      p="$(rpc 0 parley_getEpochProof "[\"0x$(printf %x "${ne}")\"]" | jq -c .result)"
      if [[ "${p}" == null ]]; then
        sleep 5
        continue
      fi
      [[ "$(jq -r .epochCommitment <<<"${p}")" == "$(jq -r .attestation.epochCommitment <<<"${att}")" &&
        "$(jq -r .lastPostRoot <<<"${p}")" == "$(jq -r .attestation.lastPostRoot <<<"${att}")" ]] ||
        fail "epoch ${ne}'s L1 proof statement ${p:0:200} is not its attestation's"
      mapfile -t args < <(l1_proof_args "${ne}" "${p}")
      "${CAST}" call --rpc-url "$(bridge_url)" "${rollup}" "${BRIDGE_SIG}" "${args[@]}" >/dev/null 2>"${WORK}/l1call.err" ||
        fail "finalizeEpoch(${ne}) with its attestation and L1 proof reverts in eth_call: $(head -c 300 "${WORK}/l1call.err")"
      mapfile -t args < <(l1_proof_args "${ne}" "${p}" '.attestation.epochCommitment = "0x0000000000000000000000000000000000000000000000000000000000000001"')
      l1_call_refused "another epoch_commitment under the valid proof" 'SignatureInvalid(uint256)' "${args[@]}"
      mapfile -t args < <(l1_proof_args "${ne}" "${p}" '.attestation.lastPostRoot = "0x0000000000000000000000000000000000000000000000000000000000000002"')
      l1_call_refused "another post-root under the valid proof" 'SignatureInvalid(uint256)' "${args[@]}"
      mapfile -t args < <(l1_proof_args "${ne}" "$(jq -c '.proof |= (.[0:-8] + (if .[-8:] == "00000000" then "00000001" else "00000000" end))' <<<"${p}")")
      l1_call_refused "a corrupted proof" 'InvalidProof()' "${args[@]}"
      if [[ -n "${prev_proof}" ]]; then
        mapfile -t args < <(l1_proof_args "${ne}" "${prev_proof}")
        l1_call_refused "an earlier epoch's valid proof" 'InvalidProof()' "${args[@]}"
      fi
      local also=""
      [[ -n "${prev_proof}" ]] && also=", an earlier epoch's valid proof"
      info "epoch ${ne}: its attestation with its L1 proof passes eth_call; refused: the proof under another commitment or post-root (signatures), a corrupted proof${also} (verifier)"
      prev_proof="${p}"
      checked="${checked} ${ne}"
    fi
    # --once posts every attested epoch it can: after a long wait for a proof that is many
    # empty epochs (about one a second on anvil, while L2 attests one every few seconds).
    PARLEY_RELAYER_KEY="$(dev_key 0)" timeout 900 "${RELAYER}" relay --once --l1-rpc "$(bridge_url)" \
      --parleyd-rpc "$(eth_url 3)" --state-dir "${relay_state}" >/dev/null 2>>"${WORK}/relay-l1proof.log" ||
      fail "parley-bridge relay --once: $(tail -n 5 "${WORK}/relay-l1proof.log")"
    sleep 3
  done
  [[ -n "${checked}" ]] || fail "no epoch that changes state was checked before finalization"
  info "epoch ${ep} finalized on L1 after $((SECONDS - t0)) s; epochs with proofs: ${checked}"
  [[ "$("${CAST}" call --rpc-url "$(bridge_url)" "${rollup}" 'lastRoot()(bytes32)')" == \
    "$(rpc 0 parley_getAttestation "[\"0x$(printf %x $((ne - 1)))\"]" | jq -r .result.attestation.lastPostRoot)" ]] ||
    fail "the Rollup's root is not epoch $((ne - 1))'s attested post-root"
  for n in ${checked}; do
    p="$(jq -s -r "[.[] | select(.epoch == ${n})][0].gasUsed" <"${relay_state}/gas.jsonl")"
    [[ "${p}" != null ]] || fail "no gas line for epoch ${n}"
    gas_full="${p}"
    info "finalizeEpoch of epoch ${n} ($(rpc 0 parley_getEpoch "[\"0x$(printf %x "${n}")\"]" | jq -r '.result.blocks | length') block(s), agg capacity ${PARLEY_LOCALNET_AGG_CAPACITY}${PARLEY_LOCALNET_AGG_LEAF:+ in leaves of ${PARLEY_LOCALNET_AGG_LEAF}}, with its compression proof): gasUsed ${p}"
  done
  gas_empty="$(jq -s -r '[.[] | select(.epoch == 0)][0].gasUsed' <"${relay_state}/gas.jsonl")"
  ((gas_full > gas_empty)) || fail "a proven epoch cost ${gas_full} gas, an empty one ${gas_empty}"
  # The transfer's finality stage and the finalized tag follow L1.
  deadline=$((SECONDS + 60))
  until [[ "$(rpc 2 parley_getTransactionStage "[\"$(jq -r .transactionHash <<<"${rt}")\"]" | jq -r .result.stage)" == finalized ]]; do
    ((SECONDS < deadline)) || fail "the cast transfer's stage is $(rpc 2 parley_getTransactionStage "[\"$(jq -r .transactionHash <<<"${rt}")\"]" | jq -c .result), not finalized"
    sleep 1
  done
  (($("${CAST}" block --rpc-url "$(eth_url 0)" finalized --field number) >= blk)) ||
    fail "the finalized tag is below the withdrawal's block ${blk}"
  # Claim on L1 with what a full node serves, once.
  local ws path
  ws="$(rpc 2 parley_getWithdrawals "[\"0x$(printf %x "${ep}")\"]" | jq -c .result)"
  [[ "$(jq -r '.withdrawals | length' <<<"${ws}")" == 1 && "$(jq -r '.withdrawals[0].l1Recipient' <<<"${ws}" | tr A-F a-f)" == "${x,,}" ]] ||
    fail "epoch ${ep}'s withdrawals are not the one cast withdrawal: ${ws}"
  path="[$(jq -r '.withdrawals[0].path | join(",")' <<<"${ws}")]"
  out="$("${CAST}" send --rpc-url "$(bridge_url)" --private-key "${lkey}" --json "${rollup}" \
    'claimWithdrawal(uint64,uint64,address,uint256,bytes32[])' "${ep}" 0 "${x}" "${wamt}" "${path}" 2>&1)" ||
    fail "claimWithdrawal: ${out}"
  [[ "$(jq -r .status <<<"${out}")" == 0x1 ]] || fail "claimWithdrawal reverted: ${out}"
  info "withdrawal claimed on L1: gasUsed $(($(jq -r .gasUsed <<<"${out}")))"
  [[ "$("${CAST}" balance --rpc-url "$(bridge_url)" "${x}")" == "${wamt}" ]] ||
    fail "the L1 recipient holds $("${CAST}" balance --rpc-url "$(bridge_url)" "${x}") wei, not ${wamt}"
  out="$("${CAST}" call --rpc-url "$(bridge_url)" "${rollup}" 'claimWithdrawal(uint64,uint64,address,uint256,bytes32[])' \
    "${ep}" 0 "${x}" "${wamt}" "${path}" 2>&1)" && fail "a second claim was accepted: ${out}"
  grep -q "$("${CAST}" sig 'AlreadyClaimed(uint64,uint64)')" <<<"${out}" || fail "a second claim refused, but not as AlreadyClaimed: ${out:0:300}"
  # Accounting: L1 escrow = deposited − claimed; every withdrawal burned on L2 was claimed.
  local escrow
  escrow="$("${CAST}" balance --rpc-url "$(bridge_url)" "${rollup}")"
  [[ "${escrow}" == "$(big "${dep} - ${wamt}")" ]] ||
    fail "the L1 escrow holds ${escrow} wei, not deposited ${dep} − claimed ${wamt}"
  info "accounting: L1 escrow ${escrow} wei = ${dep} deposited − ${wamt} claimed; the one L2 withdrawal claimed once, a second claim refused"
  "${LOCALNET}" down >/dev/null 2>&1 || true
}

main() {
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/parley-e2e.XXXXXX")"
  STATE="${WORK}/state"
  mkdir -p "${STATE}"
  export PARLEY_LOCALNET_DIR="${WORK}/localnet"
  export PARLEY_LOCALNET_TIMEOUT="${WAIT}"
  # These checks run on the proposer-built path (no built-in sequencers); the auction path
  # is checked on the harness (app/tests/auction.rs) and by hand (docs/protocol.md).
  export PARLEY_LOCALNET_SEQUENCERS="${PARLEY_LOCALNET_SEQUENCERS:-0}"
  trap cleanup EXIT
  trap 'echo "# interrupted"; exit 130' INT TERM

  local c
  for c in python3 jq curl; do
    command -v "${c}" >/dev/null 2>&1 || {
      echo "not ok - prerequisites: '${c}' is not installed"
      echo "0 passed, 1 failed"
      exit 1
    }
  done
  echo "# Parley e2e: fresh ${VALIDATORS}-validator localnet in ${PARLEY_LOCALNET_DIR}"
  "${REPO_ROOT}/scripts/tools.sh" >"${WORK}/tools.log" 2>&1 || {
    echo "not ok - install tools: $(tail -n 3 "${WORK}/tools.log" | tr '\n' ' ')"
    FAILED=$((FAILED + 1))
    echo "${PASSED} passed, ${FAILED} failed"
    exit 1
  }
  LOCALNET_STARTED=1
  if "${LOCALNET}" up --validators "${VALIDATORS}" >"${WORK}/up.log" 2>&1; then
    PASSED=$((PASSED + 1))
    echo "ok - localnet up (${VALIDATORS} validators producing blocks)"
  else
    FAILED=$((FAILED + 1))
    echo "not ok - localnet up: $(grep -m1 'ERROR' "${WORK}/up.log" || tail -n 1 "${WORK}/up.log")"
    tail -n 30 "${WORK}/up.log" | sed 's/^/#   /'
    echo "${PASSED} passed, ${FAILED} failed"
    exit 1
  fi

  run_check "eth_chainId is ${L2_CHAIN_ID} on every validator" t_chain_id
  run_check "block number advances (L2 block = CometBFT height)" t_block_number_advances
  run_check "eth_getTransactionReceipt of an unknown hash is null" t_unknown_receipt_null
  run_check "ETH transfer: receipt status 1, balances change by value + gasUsed*effectiveGasPrice" t_eth_transfer
  run_check "eth_getTransactionCount pending counts just-sent txs" t_pending_nonce
  run_check "ERC-20: deploy, balanceOf, transfer, Transfer log via receipt and cast logs, revert" t_erc20
  run_check "viem 2, ethers 6 and forge drive a wallet's flow (tests/e2e/clients)" t_clients
  run_check "parleyd serves Prometheus metrics" t_metrics
  run_check "Prometheus (localnet.sh prometheus) scrapes every node's parleyd and CometBFT, parley_height rises, the alert rules pass their unit tests (each fires on its failure) and load healthy, the dashboard's and rules' metrics exist" t_prometheus
  run_check "the web view in headless Chromium: live heights and slots, a cast transaction with its stage, read-only, screenshot" t_webview
  run_check "localnet status shows every validator with height and app hash" t_localnet_status
  run_check "all 4 validators agree on the app hash" t_app_hash_agreement
  run_check "garbage raw tx rejected with a JSON-RPC error" t_garbage_rejected
  run_check "tx signed for another chain id rejected" t_wrong_chain_id
  run_check "replayed raw tx rejected (nonce too low)" t_replay_rejected
  run_check "oversized tx (> 128 KiB) rejected" t_oversized_rejected
  run_check "garbage on every port of a node is refused; the node keeps running" t_garbage_on_ports
  run_check "chain keeps producing blocks and accepting txs after bad input" t_chain_goes_on
  run_check "kill -9 a validator's parleyd, restart: catches up to the same app hash" t_kill_parleyd
  run_check "kill -9 a validator's cometbft, restart: catches up to the same app hash" t_kill_cometbft
  run_check "state at past blocks (cast balance --block) on a restarted validator" t_history
  run_check "a fifth node joins as a full node and syncs to the same app hash" t_join
  run_check "differential against anvil on the localnet: ${PARLEY_E2E_DIFF_BATCHES} generated batches, every block replayed" t_differential
  # After the differential test: its protocol messages (fund, bond) move EVM balances, which
  # anvil, replaying the same transactions, cannot know of.
  run_check "operator CLI: parleyd duties (prover, sequencer), schedule, clear refusals, three messages signed at once with one key all executed, unbond --wait-release with progress" t_operator_cli
  run_check "the fifth node bonds as a validator and signs commits after the epoch boundary" t_join_validator
  run_check "the prover draw's seed: five validators commit and open in vote extensions, the seed moves" t_seed
  run_check "auction and proving path (own localnet, 2 sequencers, a proving worker): cast and viem txs in sequencer-built blocks, the cast tx proven on chain; a killed sequencer's slots are withheld, the chain goes on; a killed prover's slot is proven through the fallback by a second prover; the other sequencer drained by SIGUSR1 withholds nothing" t_auction
  run_check "a ceremony file (rehearsed) pinned in genesis: nodes and the prover workers load it; a slot of several chunks is proven, its chunks by two workers" t_ceremony
  run_check "prover faults (own localnet, 2 workers of one prover): the workers share slots; a worker killed mid-proof, its task proven by the other in the window; the node they dial killed and restarted mid-proof, the slot proven once, no penalty" t_prover_faults
  run_check "the bridge (own localnet with anvil, PARLEY_LOCALNET_L1=1): validators attest empty epochs in vote extensions; parley-bridge deploys the Rollup with the genesis set and finalizes them, once each; a changed digest, too few signatures and an epoch out of order refused; an L1 deposit and a forced transaction sent only to L1 execute on L2" t_bridge
  if [[ "${PARLEY_E2E_L1_PROOF:-0}" == 1 ]]; then
    run_check "the bridge with real proofs (slow; own localnet with anvil and L1 proofs): an L1 deposit credited on L2, a cast transfer and a withdrawal, their epochs proven, aggregated, compressed, attested and finalized on L1 with the generated verifier; forged epochs refused; the withdrawal claimed once; escrow = deposited − claimed" t_bridge_proof
  fi
  if [[ "${PARLEY_E2E_AGGREGATION:-0}" == 1 ]]; then
    run_check "epoch aggregation (own localnet, epochs of 2 slots): a transfer's epoch aggregated by the drawn prover's worker within its window, verified by every validator, the tx at stage aggregated" t_aggregation
  fi

  echo "${PASSED} passed, ${FAILED} failed"
  ((FAILED == 0))
}

# Sourcing this file (to reuse the checks) defines the functions without running anything.
if [[ "${BASH_SOURCE[0]}" == "${0}" ]]; then
  main "$@"
fi
