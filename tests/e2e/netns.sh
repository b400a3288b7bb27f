#!/usr/bin/env bash
# Multi-host testnet test: Parley validators on separate network hosts, each a Linux network
# namespace with its own address on a private bridge, configured by `localnet/testnet.sh gen`
# exactly as separate machines would be (standard ports on every host, peers by IP).
#
#   bash tests/e2e/netns.sh          (as root; about 75 s on 2 cores)
#
# Creates bridge parleybr0 (10.77.0.254/24 on the host side) and namespaces parley-ns0..4,
# each with one veth (host side parley-v<i>) into the bridge and address 10.77.0.<i+1>.
# Validators run in parley-ns0..3 (cometbft + parleyd each), the joining node in parley-ns4.
# Checks, one `ok` / `not ok` line each, then `N passed, M failed`:
#   1. the four validators reach consensus: heights advance on all, every node's peers are
#      the others' bridge addresses, and every node computed the same app hash at a common
#      height (each node's own eth_getBlockByNumber stateRoot = the next header's app hash);
#   2. a fifth node in its own namespace, made by `testnet.sh add-node`, joins as a full node
#      and syncs to the same app hash;
#   3. it bonds as a validator with a fresh operator key (funded by a cast transfer, then
#      `parleyd msg fund` / `bond-validator` through its own JSON-RPC), enters CometBFT's
#      validator set and signs commits;
#   4. a sequencer and a prover join from the fifth host with fresh keys: `bond-sequencer`
#      and `sequencer_key` in its parleyd.toml (node restarted), `stake-prover` and a
#      parley-prover worker there dialing val0's gRPC over the bridge; a slot is won by the
#      sequencer's bid and selected by the worker's signature;
#   5. a validator cut off the bridge (its veth down) is stuck while the others keep
#      producing blocks; healed, it catches up and has the same app hash as the others.
# Everything it creates (processes, namespaces, veths, bridge) is removed on exit, also on
# failure or Ctrl-C; leftovers of a killed earlier run are removed at start. Logs and homes
# are kept when a check failed (path printed), or with PARLEY_NETNS_KEEP=1.
#
# Skips (exit 0, saying why) only when not run as root or network namespaces are unavailable.
# Environment: PARLEYD_BIN, COMETBFT_BIN (as localnet/testnet.sh), PARLEY_PROVER_BIN, PARLEY_NETNS_TIMEOUT
# (seconds per wait, default 60), PARLEY_NETNS_NET (the /24's first three octets, default
# 10.77.0).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${SCRIPT_DIR}/../.." && pwd)"
TESTNET="${REPO_ROOT}/localnet/testnet.sh"
COMETBFT="${COMETBFT_BIN:-${REPO_ROOT}/.tools/bin/cometbft}"
PARLEYD="${PARLEYD_BIN:-${CARGO_TARGET_DIR:-${REPO_ROOT}/target}/release/parleyd}"
CAST="${REPO_ROOT}/.tools/bin/cast"
PROVER="${PARLEY_PROVER_BIN:-${CARGO_TARGET_DIR:-${REPO_ROOT}/target}/release/parley-prover}"
export COMETBFT_BIN="${COMETBFT}" PARLEYD_BIN="${PARLEYD}"
WAIT="${PARLEY_NETNS_TIMEOUT:-60}"
NET="${PARLEY_NETNS_NET:-10.77.0}"
BRIDGE=parleybr0
HOST_IP="${NET}.254"
NS_PREFIX=parley-ns
VETH_PREFIX=parley-v
VALIDATORS=4
NODES=5 # the validators, then the joiner
JOINER=4
VICTIM=2 # the validator the partition check cuts off
TIMEOUT_COMMIT=500ms # the localnet's (localnet/localnet.sh)
MNEMONIC="test test test test test test test test test test test junk"
ZERO_HASH="0x$(printf '%064d' 0)"

say() { echo "netns: $*"; }

# ---------------------------------------------------------------------------------------------
# preconditions (the only reasons to skip)

if ((EUID != 0)); then
  say "SKIP: needs root (network namespaces, a bridge and veth pairs); run: sudo bash tests/e2e/netns.sh"
  exit 0
fi
if ! command -v ip >/dev/null 2>&1 || ! ip netns list >/dev/null 2>&1; then
  say "SKIP: 'ip netns' is unavailable (install iproute2)"
  exit 0
fi
PROBE="parley-probe$$"
if ! probe_err="$(ip netns add "${PROBE}" 2>&1)"; then
  say "SKIP: cannot create a network namespace here: ${probe_err}"
  exit 0
fi
ip netns del "${PROBE}"

for c in curl jq ss setsid awk flock; do
  command -v "${c}" >/dev/null 2>&1 || { say "ERROR: missing command ${c}"; exit 1; }
done
for b in "${COMETBFT}" "${PARLEYD}" "${CAST}"; do
  [[ -x "${b}" ]] || { say "ERROR: ${b} not found (scripts/tools.sh; cargo build --release -p parley-app)"; exit 1; }
done

# One run at a time: a second run's start-up cleanup would tear down the first one's net.
# (Only this shell holds the lock: the nodes and checks close fd 9, so a run killed with -9
# leaves it free for the next, which removes what the killed one left.)
exec 9>"${TMPDIR:-/tmp}/parley-netns.lock"
flock -w 30 9 || { say "ERROR: another tests/e2e/netns.sh is running (lock ${TMPDIR:-/tmp}/parley-netns.lock)"; exit 1; }

T0=${SECONDS}
WORK="$(mktemp -d "${TMPDIR:-/tmp}/parley-netns.XXXXXX")"
NETDIR="${WORK}/net"
LOGS="${WORK}/logs"
PIDS="${WORK}/pids"
mkdir -p "${LOGS}" "${PIDS}"
PASSED=0
FAILED=0

ns() { echo "${NS_PREFIX}$1"; }
veth() { echo "${VETH_PREFIX}$1"; }
addr() { echo "${NET}.$(($1 + 1))"; }
name() { if (($1 == JOINER)); then echo joiner; else echo "val$1"; fi; }
home() { echo "${NETDIR}/$(name "$1")"; }
nsx() {
  local i="$1"
  shift
  ip netns exec "$(ns "${i}")" "$@"
}

# ---------------------------------------------------------------------------------------------
# the network

# teardown_net — kill whatever runs in our namespaces (they hold only what this test started),
# delete the namespaces, the host-side veths and the bridge. Idempotent.
teardown_net() {
  local n pid pids=() i
  for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${NS_PREFIX}[0-9]+$" || true); do
    for pid in $(ip netns pids "${n}" 2>/dev/null || true); do
      kill -TERM "${pid}" 2>/dev/null && pids+=("${pid}")
    done
  done
  for ((i = 0; i < 50; i++)); do
    local alive=0
    for pid in ${pids[@]+"${pids[@]}"}; do kill -0 "${pid}" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.2
  done
  for pid in ${pids[@]+"${pids[@]}"}; do kill -KILL "${pid}" 2>/dev/null || true; done
  for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${NS_PREFIX}[0-9]+$" || true); do
    ip netns del "${n}" 2>/dev/null || true
  done
  for ((i = 0; i < NODES; i++)); do ip link del "$(veth "${i}")" 2>/dev/null || true; done
  ip link del "${BRIDGE}" 2>/dev/null || true
}

setup_net() {
  local i
  ip link add "${BRIDGE}" type bridge
  ip addr add "${HOST_IP}/24" dev "${BRIDGE}"
  ip link set "${BRIDGE}" up
  for ((i = 0; i < NODES; i++)); do
    ip netns add "$(ns "${i}")"
    nsx "${i}" ip link set lo up
    ip link add "$(veth "${i}")" type veth peer name eth0 netns "$(ns "${i}")"
    ip link set "$(veth "${i}")" master "${BRIDGE}" up
    nsx "${i}" ip addr add "$(addr "${i}")/24" dev eth0
    nsx "${i}" ip link set eth0 up
  done
}

# ---------------------------------------------------------------------------------------------
# processes

# stop_all — SIGTERM every process group we started, SIGKILL what is left after 10 s.
stop_all() {
  local f pid deadline
  for f in "${PIDS}"/*.pid; do
    [[ -e "${f}" ]] || continue
    pid="$(cat "${f}")"
    kill -TERM -- "-${pid}" 2>/dev/null || kill -TERM "${pid}" 2>/dev/null || true
  done
  deadline=$((SECONDS + 10))
  for f in "${PIDS}"/*.pid; do
    [[ -e "${f}" ]] || continue
    pid="$(cat "${f}")"
    while kill -0 "${pid}" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    kill -KILL -- "-${pid}" 2>/dev/null || kill -KILL "${pid}" 2>/dev/null || true
    rm -f "${f}"
  done
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -d "${PIDS}" ]]; then stop_all; fi
  teardown_net
  if ((FAILED > 0 || rc != 0)) || [[ "${PARLEY_NETNS_KEEP:-0}" == 1 ]]; then
    say "logs and homes kept in ${WORK}"
  else
    rm -rf "${WORK}"
  fi
  exit "${rc}"
}

# spawn I WHAT CMD... — CMD inside node I's namespace, in its own process group, logged.
spawn() {
  local i="$1" what="$2"
  shift 2
  # `ip netns exec` and `setsid` (not a group leader here, so it does not fork) both exec:
  # $! is the process itself, the leader of its own group.
  ip netns exec "$(ns "${i}")" setsid "$@" >>"${LOGS}/$(name "${i}").${what}.log" 2>&1 </dev/null 9>&- &
  echo $! >"${PIDS}/$(name "${i}").${what}.pid"
}

# wait_listen I PORT WHAT — PORT listens in node I's namespace; fail early if WHAT died.
wait_listen() {
  local i="$1" port="$2" what="$3" deadline=$((SECONDS + 60)) pid
  pid="$(cat "${PIDS}/$(name "${i}").${what}.pid")"
  until nsx "${i}" ss -Hltn "sport = :${port}" | grep -q .; do
    kill -0 "${pid}" 2>/dev/null || {
      tail -n 20 "${LOGS}/$(name "${i}").${what}.log" >&2
      return 1
    }
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# start_node I — parleyd (the ABCI server) first, then cometbft: the start commands the
# runbook gives, inside the node's namespace.
start_node() {
  local i="$1"
  spawn "${i}" parleyd "${PARLEYD}" start --home "$(home "${i}")"
  wait_listen "${i}" 26658 parleyd || { say "$(name "${i}") parleyd did not start (log ${LOGS}/$(name "${i}").parleyd.log)"; return 1; }
  spawn "${i}" cometbft "${COMETBFT}" start --home "$(home "${i}")"
  wait_listen "${i}" 26657 cometbft || { say "$(name "${i}") cometbft did not start (log ${LOGS}/$(name "${i}").cometbft.log)"; return 1; }
}

# stop_one I WHAT — stop one process of node I (SIGTERM to its group, SIGKILL after 10 s).
stop_one() {
  local f pid deadline=$((SECONDS + 10))
  f="${PIDS}/$(name "$1").$2.pid"
  [[ -f "${f}" ]] || return 0
  pid="$(cat "${f}")"
  kill -TERM -- "-${pid}" 2>/dev/null || true
  while kill -0 "${pid}" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  kill -KILL -- "-${pid}" 2>/dev/null || true
  rm -f "${f}"
}

# ---------------------------------------------------------------------------------------------
# checks harness (tests/e2e/lib/checks.sh, shared with run.sh)

# fail, info, run_check.
source "${SCRIPT_DIR}/lib/checks.sh"

# Every query runs inside the node's own namespace, against the node's bridge address (the
# nodes are generated with --rpc-bind host), so it also works while the node is cut off.
cmt() { nsx "$1" curl -sS --max-time 5 "http://$(addr "$1"):26657$2"; }
eth_url() { echo "http://$(addr "$1"):8545"; }
rpc() {
  nsx "$1" curl -sS --max-time 10 -H 'content-type: application/json' \
    -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$2\",\"params\":$3}" "$(eth_url "$1")"
}
height() {
  local h
  h="$(cmt "$1" /status 2>/dev/null | jq -r '.result.sync_info.latest_block_height // empty' 2>/dev/null || true)"
  [[ "${h}" =~ ^[0-9]+$ ]] && echo "${h}" || echo 0
}

# wait_height H NODES... — each node's CometBFT height reaches H within WAIT seconds.
wait_height() {
  local target="$1" n h deadline=$((SECONDS + WAIT))
  shift
  for n in "$@"; do
    while h="$(height "${n}")"; ((h < target)); do
      ((SECONDS < deadline)) || fail "$(name "${n}") at height ${h}, wanted >= ${target} within ${WAIT}s"
      sleep 0.5
    done
  done
}

max_height() {
  local n h m=0
  for n in "$@"; do
    h="$(height "${n}")"
    ((h > m)) && m="${h}"
  done
  echo "${m}"
}

# same_app_hash NODES... — at the highest L2 block H every node has executed, each node's own
# eth_getBlockByNumber(H).stateRoot is the same, not zero, and equals the app hash in block
# H+1's header; each node's /abci_info (its app's last height and app hash) agrees with the
# first node's state root of that height.
same_app_hash() {
  local n h min="" root first="" ref="$1" want ih ihash resp
  for n in "$@"; do
    h="$(rpc "${n}" eth_blockNumber '[]' | jq -r '.result // empty')" || fail "$(name "${n}") JSON-RPC unreachable"
    [[ "${h}" =~ ^0x[0-9a-f]+$ ]] || fail "$(name "${n}") reports no block number: '${h}'"
    h=$((h))
    if [[ -z "${min}" ]] || ((h < min)); then min="${h}"; fi
  done
  ((min > 0)) || fail "no node has executed a block yet"
  for n in "$@"; do
    root="$(rpc "${n}" eth_getBlockByNumber "[\"$(printf '0x%x' "${min}")\",false]" | jq -r '.result.stateRoot // empty' | tr 'A-F' 'a-f')"
    [[ "${root}" =~ ^0x[0-9a-f]{64}$ && "${root}" != "${ZERO_HASH}" ]] ||
      fail "$(name "${n}") serves no state root for block ${min}: '${root}'"
    [[ -n "${first}" ]] || first="${root}"
    [[ "${root}" == "${first}" ]] ||
      fail "state root of block ${min} differs: $(name "${ref}")=${first} $(name "${n}")=${root}"
  done
  wait_height $((min + 1)) "${ref}"
  want="0x$(cmt "${ref}" "/block?height=$((min + 1))" | jq -r '.result.block.header.app_hash // empty' | tr 'A-F' 'a-f')"
  [[ "${want}" == "${first}" ]] ||
    fail "state root of block ${min} is ${first}, but block $((min + 1))'s header carries app hash ${want}"
  for n in "$@"; do
    resp="$(cmt "${n}" /abci_info)" || fail "$(name "${n}") /abci_info failed"
    ih="$(jq -r '.result.response.last_block_height // "0"' <<<"${resp}")"
    ihash="0x$(jq -r '.result.response.last_block_app_hash // ""' <<<"${resp}" | base64 -d 2>/dev/null | od -An -vtx1 | tr -d ' \n')"
    [[ "${ih}" =~ ^[0-9]+$ && "${ihash}" =~ ^0x[0-9a-f]{64}$ ]] || fail "$(name "${n}") /abci_info: height '${ih}', app hash '${ihash}'"
    wait_height "${ih}" "${ref}"
    want="$(rpc "${ref}" eth_getBlockByNumber "[\"$(printf '0x%x' "${ih}")\",false]" | jq -r '.result.stateRoot // empty' | tr 'A-F' 'a-f')"
    [[ "${ihash}" == "${want}" ]] ||
      fail "$(name "${n}") /abci_info: app hash ${ihash} at height ${ih}, but $(name "${ref}")'s state root of block ${ih} is ${want}"
  done
  info "block ${min}: nodes $*: every one computed state root ${first} (= app hash in block $((min + 1))'s header); each /abci_info agrees"
}

# ---------------------------------------------------------------------------------------------
# checks

t_consensus() {
  local n h peers ips
  wait_height 3 0 1 2 3
  h="$(max_height 0 1 2 3)"
  wait_height $((h + 3)) 0 1 2 3
  for ((n = 0; n < VALIDATORS; n++)); do
    peers="$(cmt "${n}" /net_info)" || fail "$(name "${n}") /net_info failed"
    ips="$(jq -r '[.result.peers[].remote_ip] | sort | join(",")' <<<"${peers}")"
    [[ "$(jq -r .result.n_peers <<<"${peers}")" == $((VALIDATORS - 1)) ]] ||
      fail "$(name "${n}") has peers [${ips}], wanted the other $((VALIDATORS - 1)) validators"
    local m want=()
    for ((m = 0; m < VALIDATORS; m++)); do ((m == n)) || want+=("$(addr "${m}")"); done
    [[ "${ips}" == "$(printf '%s\n' "${want[@]}" | sort | paste -sd, -)" ]] ||
      fail "$(name "${n}") peers at [${ips}], wanted the other validators' bridge addresses [${want[*]}]"
  done
  info "4 validators at heights >= $((h + 3)), each connected to the other three over the bridge (${NET}.1-4)"
  same_app_hash 0 1 2 3
}

t_join() {
  "${TESTNET}" add-node --genesis "${NETDIR}/genesis.json" --peers "$(cat "${NETDIR}/peers.txt")" \
    --name joiner --ip "$(addr "${JOINER}")" --out "$(home "${JOINER}")" --rpc-bind host \
    --timeout-commit "${TIMEOUT_COMMIT}" >"${LOGS}/add-node.log" 2>&1 ||
    fail "testnet.sh add-node: $(tail -n 3 "${LOGS}/add-node.log")"
  start_node "${JOINER}" || fail "joiner did not start"
  local h0 deadline catching addr
  h0="$(max_height 0 1 2 3)"
  wait_height "${h0}" "${JOINER}"
  deadline=$((SECONDS + WAIT))
  until catching="$(cmt "${JOINER}" /status | jq -r .result.sync_info.catching_up)" && [[ "${catching}" == false ]]; do
    ((SECONDS < deadline)) || fail "joiner still catching_up=${catching} after ${WAIT}s"
    sleep 0.5
  done
  addr="$(jq -r .address "$(home "${JOINER}")/config/priv_validator_key.json")"
  cmt 0 "/validators?per_page=100" | jq -e --arg a "${addr}" '.result.validators | any(.address == $a) | not' >/dev/null ||
    fail "the joiner (${addr}) is in the validator set before bonding"
  info "joiner (${NET}.5) synced past height ${h0} from the validators, not in the validator set"
  same_app_hash 0 1 2 3 "${JOINER}"
}

t_join_validator() {
  [[ -f "$(home "${JOINER}")/config/priv_validator_key.json" ]] || fail "needs the joiner from the join check"
  local wallet op key dev0 addr deadline h signed
  wallet="$("${CAST}" wallet new --json)" || fail "cast wallet new failed"
  op="$(jq -r '.[0].address' <<<"${wallet}")"
  key="$(jq -r '.[0].private_key' <<<"${wallet}")"
  (umask 077 && echo "${key}" >"${WORK}/operator.key")
  dev0="$("${CAST}" wallet private-key "${MNEMONIC}" 0)"
  # Everything through the joiner's own JSON-RPC, from inside its namespace.
  nsx "${JOINER}" "${CAST}" send --rpc-url "$(eth_url "${JOINER}")" --private-key "${dev0}" \
    --value 5ether "${op}" >"${LOGS}/join-validator.log" 2>&1 ||
    fail "cast send to the operator: $(tail -n 3 "${LOGS}/join-validator.log")"
  nsx "${JOINER}" "${PARLEYD}" msg --rpc "$(eth_url "${JOINER}")" --key-file "${WORK}/operator.key" fund 2eth \
    >>"${LOGS}/join-validator.log" 2>&1 || fail "parleyd msg fund: $(tail -n 3 "${LOGS}/join-validator.log")"
  nsx "${JOINER}" "${PARLEYD}" msg --rpc "$(eth_url "${JOINER}")" --key-file "${WORK}/operator.key" \
    bond-validator 1eth --home "$(home "${JOINER}")" >>"${LOGS}/join-validator.log" 2>&1 ||
    fail "parleyd msg bond-validator: $(tail -n 3 "${LOGS}/join-validator.log")"
  addr="$(jq -r .address "$(home "${JOINER}")/config/priv_validator_key.json")"
  deadline=$((SECONDS + WAIT))
  until cmt 0 "/validators?per_page=100" | jq -e --arg a "${addr}" '.result.validators | any(.address == $a)' >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "the joiner (${addr}) is not in the validator set ${WAIT}s after bonding"
    sleep 0.5
  done
  h="$(height 0)"
  wait_height $((h + 3)) 0 "${JOINER}"
  signed="$(cmt 0 "/commit?height=$((h + 2))" |
    jq -r --arg a "${addr}" '[.result.signed_header.commit.signatures[] | select(.validator_address == $a and .block_id_flag == 2)] | length')"
  [[ "${signed}" == 1 ]] || fail "the joiner (${addr}) did not sign the commit of height $((h + 2))"
  info "operator ${op} (fresh key, funded by cast) bonded the joiner: validator ${addr}, signing the commit of height $((h + 2))"
}

# new_wallet NAME — a fresh secp256k1 key in WORK/NAME.key (mode 600); prints its address.
new_wallet() {
  local w
  w="$("${CAST}" wallet new --json)" || fail "cast wallet new failed"
  (umask 077 && jq -r '.[0].private_key' <<<"${w}" >"${WORK}/$1.key")
  jq -r '.[0].address' <<<"${w}"
}

# give I ADDRESS ETHER — dev account 0 sends ETHER to ADDRESS through node I's JSON-RPC.
give() {
  nsx "$1" "${CAST}" send --rpc-url "$(eth_url "$1")" --private-key "$("${CAST}" wallet private-key "${MNEMONIC}" 0)" \
    --value "$3ether" "$2" >>"${LOGS}/roles.log" 2>&1 || fail "cast send $3 ETH to $2: $(tail -n 3 "${LOGS}/roles.log")"
}

# msg I KEYNAME ARGS... — `parleyd msg` with WORK/KEYNAME.key through node I's JSON-RPC.
msg() {
  local i="$1" k="$2"
  shift 2
  nsx "${i}" "${PARLEYD}" msg --rpc "$(eth_url "${i}")" --key-file "${WORK}/${k}.key" "$@" >>"${LOGS}/roles.log" 2>&1 ||
    fail "parleyd msg $*: $(tail -n 3 "${LOGS}/roles.log")"
}

t_roles() {
  [[ -x "${PROVER}" ]] || fail "parley-prover not found at ${PROVER} (cargo build --release -p parley-prover)"
  [[ -f "$(home "${JOINER}")/config/parleyd.toml" ]] || fail "needs the joiner from the join check"
  local j="${JOINER}" seq prv cfg deadline h s from slot found=""
  seq="$(new_wallet sequencer)"
  prv="$(new_wallet prover)"
  give "${j}" "${seq}" 30
  give "${j}" "${prv}" 10
  msg "${j}" sequencer fund 20eth
  msg "${j}" sequencer bond-sequencer 2eth
  msg "${j}" prover fund 6eth
  msg "${j}" prover stake-prover 5eth
  # The prover's worker runs on the joiner's machine and dials val0's ProverService over the
  # bridge (the homes are generated with --grpc-bind host).
  spawn "${j}" prover env PARLEY_PROVER_KEY="$(cat "${WORK}/prover.key")" "${PROVER}" \
    --node "http://$(addr 0):9090" --chain-id 424242 --srs dev
  # The built-in sequencer: its key in the joiner's parleyd.toml, then a restart (cometbft
  # first, then parleyd; start parleyd first again).
  cfg="$(home "${j}")/config/parleyd.toml"
  sed -i -e "s|^sequencer_key = .*|sequencer_key = \"$(cat "${WORK}/sequencer.key")\"|" \
    -e 's|^sequencer_bid_empty = .*|sequencer_bid_empty = true|' "${cfg}"
  grep -q "^sequencer_key = \"0x" "${cfg}" || fail "could not set sequencer_key in ${cfg}"
  stop_one "${j}" cometbft
  stop_one "${j}" parleyd
  start_node "${j}" || fail "the joiner did not restart"
  # A slot won by our sequencer's bid and selected by our prover's signature.
  from="$(height 0)"
  deadline=$((SECONDS + WAIT))
  while [[ -z "${found}" ]]; do
    ((SECONDS < deadline)) || fail "no slot in ${from}..$(height 0) won by sequencer ${seq} and selected by prover ${prv} within ${WAIT}s (logs: ${LOGS}/joiner.*.log)"
    h="$(height 0)"
    for ((s = from; s <= h; s++)); do
      slot="$(rpc 0 parley_getSlot "[\"0x$(printf %x "${s}")\"]" | jq -c '.result // empty')"
      if [[ "$(jq -r '.winner.sequencer // empty' <<<"${slot}" | tr A-F a-f)" == "${seq,,}" &&
        "$(jq -r '.selectedBy // empty' <<<"${slot}" | tr A-F a-f)" == "${prv,,}" ]]; then
        found="${s}"
        break
      fi
    done
    sleep 1
  done
  info "sequencer ${seq} (built into the joiner) won slot ${found}, selected by prover ${prv} (parley-prover on ${NET}.5 dialing val0's gRPC at $(addr 0):9090)"
}

t_partition() {
  local v="${VICTIM}" others=() n hv hc ho
  for ((n = 0; n < NODES; n++)); do ((n == v)) || others+=("${n}"); done
  hv="$(height "${v}")"
  ((hv > 0)) || fail "$(name "${v}") is not answering"
  ip link set "$(veth "${v}")" down
  if nsx "${v}" curl -sS --max-time 2 -o /dev/null "http://$(addr 0):26657/status" 2>/dev/null; then
    fail "$(name "${v}") still reaches $(name 0) with its veth down"
  fi
  wait_height $((hv + 6)) "${others[@]}"
  hc="$(height "${v}")"
  ((hc <= hv + 1)) || fail "$(name "${v}") went from ${hv} to ${hc} while cut off"
  ho="$(max_height "${others[@]}")"
  info "$(name "${v}") cut off at height ${hv}: the others went on to ${ho}, it stayed at ${hc}"
  ip link set "$(veth "${v}")" up
  local t=${SECONDS}
  wait_height "${ho}" "${v}"
  info "healed: $(name "${v}") caught up to height ${ho} in $((SECONDS - t)) s"
  wait_height $((ho + 2)) "${v}" "${others[@]}"
  same_app_hash "${others[0]}" "${v}" "${others[@]:1}"
}

# ---------------------------------------------------------------------------------------------

trap cleanup EXIT
# A signal ends the run through the EXIT trap with a failing status (never 0 for a cut run).
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM

say "removing leftovers of earlier runs (namespaces ${NS_PREFIX}*, veths ${VETH_PREFIX}*, bridge ${BRIDGE})"
teardown_net
if foreign="$(pgrep -fa 'cometbft start' 2>/dev/null)"; then
  say "note: other CometBFT nodes run on this machine (they share its CPUs; ours use their own addresses, no port clash):"
  while IFS= read -r line; do say "  ${line}"; done <<<"${foreign}"
fi
setup_net
say "bridge ${BRIDGE} ${HOST_IP}/24; namespaces $(ns 0)..$(ns $((NODES - 1))) at ${NET}.1..${NET}.${NODES}; work dir ${WORK}"

hosts=()
for ((i = 0; i < VALIDATORS; i++)); do hosts+=("$(name "${i}")=$(addr "${i}")"); done
if ! "${TESTNET}" gen --hosts "$(IFS=,; echo "${hosts[*]}")" --out "${NETDIR}" --chain-id parley-netns \
  --rpc-bind host --grpc-bind host --timeout-commit "${TIMEOUT_COMMIT}" >"${LOGS}/gen.log" 2>&1; then
  say "testnet.sh gen failed:"
  tail -n 20 "${LOGS}/gen.log"
  FAILED=1
  exit 1
fi
for ((i = 0; i < VALIDATORS; i++)); do
  if ! start_node "${i}"; then
    FAILED=1
    exit 1
  fi
done
say "started ${VALIDATORS} validators ($((SECONDS - T0)) s)"

run_check "four validators in separate namespaces reach consensus on one app hash" t_consensus
run_check "a fifth node in its own namespace joins as a full node and syncs to the same app hash" t_join
run_check "the joined node bonds as a validator with its own operator key and signs commits" t_join_validator
run_check "a sequencer and a prover join from the fifth machine: a slot won by its bid, selected by its worker" t_roles
run_check "a validator cut off the bridge stalls while the others go on; healed, it catches up to the same app hash" t_partition

echo "${PASSED} passed, ${FAILED} failed ($((SECONDS - T0)) s)"
((FAILED == 0))
