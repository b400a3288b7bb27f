#!/usr/bin/env bash
# Parley localnet: N CometBFT validators, each paired with a parleyd ABCI app, on loopback.
#
#   localnet/localnet.sh up [--validators N] [--app parleyd|kvstore]
#                                  build parleyd, install tools, create a FRESH net, start it,
#                                  wait for blocks, print endpoints and dev accounts
#   localnet/localnet.sh down      stop every process this localnet started (data is kept)
#   localnet/localnet.sh start     start a stopped localnet again from its data
#   localnet/localnet.sh status    height, app hash and processes of every node
#   localnet/localnet.sh join [--validator]
#                                  add the next node as a full node; waits until it has synced.
#                                  --validator: then bond it (operator = dev account 1000+i,
#                                  prefunded at genesis) and wait until CometBFT's validator set
#                                  holds it (the next epoch boundary; epochs are
#                                  PARLEY_LOCALNET_EPOCH heights)
#   localnet/localnet.sh bond NODE  bond a running full node as a validator (as join --validator)
#   localnet/localnet.sh logs [-f] [NODE]   tail (or follow) the logs
#   localnet/localnet.sh stop-node  NODE [parleyd|cometbft|all] [--kill]   stop one node's process(es)
#   localnet/localnet.sh start-node NODE [parleyd|cometbft|all]            (re)start them
#   localnet/localnet.sh wait-height H [--timeout S]   wait until every running node reaches H
#   localnet/localnet.sh env       print the layout as shell variables (for scripts)
#   localnet/localnet.sh prometheus [stop]  start (or reload) Prometheus for the running
#                                  localnet, as PARLEY_LOCALNET_PROMETHEUS=1 does at up/start;
#                                  `stop`: stop it (and `start` no longer runs it)
#
# Environment:
#   PARLEY_LOCALNET_DIR          data + logs (default <repo>/localnet/.data)
#   PARLEY_SKIP_BUILD=1          do not run `cargo build --release -p parley-app`
#   PARLEYD_BIN                  parleyd binary (default <target dir>/release/parleyd)
#   PARLEY_PROVER_BIN            parley-prover binary (default <target dir>/release/parley-prover)
#   PARLEY_LOCALNET_PROVERS      provers registered at genesis (default 1): dev accounts 1200,
#                                1201, …, 10 ETH stake each, drawn by stake × reputation
#   PARLEY_LOCALNET_PROVER_WORKERS  parley-prover workers per genesis prover (default 1,
#                                prover p's workers dialing node (p mod validators);
#                                0: none, the app selects)
#   PARLEY_LOCALNET_PROVING      block proving (DESIGN §3.8): the block circuit's capacity in
#                                diff entries (also the chain's max_diff_entries); default 0,
#                                off. With it the genesis pins the circuit's vk hash (computed
#                                by `parleyd genesis-app-state`, with the SRS cache), every slot
#                                with a non-empty diff awaits a proof, and the prover workers
#                                prove them (PARLEY_LOCALNET_PROVER_JOBS proofs at once each,
#                                default 1)
#   PARLEY_LOCALNET_MAX_CHUNKS   with proving: max_chunks (ADR 0016), the most chunks of
#                                PARLEY_LOCALNET_PROVING entries one slot's diff is cut into,
#                                each a proof of its own (default 1: a block is one proof)
#   PARLEY_LOCALNET_INDEX_BITS   with proving: the proof tree's index bits (ADR 0021; default
#                                24: 16,777,216 leaves, the top 8 levels hashed once per
#                                proof; 32: whole paths)
#   PARLEY_LOCALNET_MAX_UNPROVEN with proving: max_unproven_slots, where backpressure holds
#                                (default 64)
#   PARLEY_LOCALNET_PROOF_WINDOW with proving: proof_window in heights (default 30)
#   PARLEY_LOCALNET_COMMIT_WINDOW with proving: the fallback's commit_window (default 8)
#   PARLEY_LOCALNET_EPOCH_SLOTS  with proving: aggregate epochs of this many slots (DESIGN
#                                §3.14); default 0, off. The genesis then pins the aggregation
#                                circuit's vk hash (a keygen of minutes), every node builds its
#                                epoch verifier at start-up, and a prover's worker aggregates
#                                each epoch it is drawn for (one aggregation at a time: minutes
#                                and several GiB each)
#   PARLEY_LOCALNET_AGG_CAPACITY with epochs: agg_capacity, the most block proofs (chunks) an
#                                epoch may need (the aggregation circuit's capacity, at most
#                                64; default: the epoch's slots, at most 64). A full epoch's
#                                later slots carry no L2 transactions
#   PARLEY_LOCALNET_AGG_K        with epochs: the aggregation circuit's k (default from the
#                                capacity: 20 up to 2 proofs, one more per doubling, so that
#                                layer 1 keeps about 10 columns and fits the pinned
#                                compression shape, ADR 0019)
#   PARLEY_LOCALNET_AGG_LEAF     with epochs: aggregate in a tree (ADR 0020) of leaves of this
#                                many block proofs under a root (AGG_CAPACITY / AGG_LEAF leaves,
#                                2..=8) instead of one flat layer 1; AGG_K is then the root's.
#                                For epochs of 8 block proofs and more, whose flat layer 1 does
#                                not fit 24 GiB (default: empty, flat)
#   PARLEY_LOCALNET_AGG_WINDOW   with epochs: heights the drawn aggregator has (default 100)
#   PARLEY_LOCALNET_SRS_FILE     with proving: a ceremony powers-of-tau file (ADR 0014) that the
#                                genesis pins and every node and worker uses; default: the
#                                seeded development setup (srs = "dev"), with which anyone can
#                                forge proofs
#   PARLEY_LOCALNET_BRIDGE_ROLLUP with epochs: the L1 Rollup contract's address (DESIGN §6,
#                                docs/bridge.md). The validators then sign every epoch's digest
#                                in their vote extensions with their bridge keys (validator i's
#                                is its operator, dev account 1000+i) and the validator set
#                                changes only with an attestation; default: no bridge
#   PARLEY_LOCALNET_L1_CHAIN_ID  with the bridge: the L1 chain id (default 31337, anvil's)
#   PARLEY_LOCALNET_L1_RPC       with the bridge: an L1 JSON-RPC URL; the validators watch the
#                                Rollup's queue there and vote its deposits and forced
#                                transactions into L2; default: no watcher
#   PARLEY_LOCALNET_L1_DEPTH     with the watcher: L1 finality depth in blocks (default 0)
#   PARLEY_LOCALNET_L1=1         the whole bridge in one command: anvil as L1 (port
#                                PARLEY_LOCALNET_L1_PORT, default 18545, its state kept across
#                                down/start), the Rollup's address predicted into genesis, the
#                                validators watching it, the Rollup deployed by parley-bridge
#                                once the chain runs, and `parley-bridge relay` posting every
#                                attested epoch (PARLEY_LOCALNET_RELAYER=0: no relayer).
#                                Implies proving 4, epochs of 4 slots, aggregation capacity 1
#                                unless set. Genesis pins the compression circuit (k =
#                                PARLEY_LOCALNET_L1_PROOF_K, default 22: its pinned shape
#                                verifies on L1 for ~381k gas whatever the capacity, ADR 0019;
#                                its vk and the k = 22 SRS take minutes at each fresh `up`); the prover's worker that
#                                aggregates an epoch compresses it into the proof L1 verifies
#                                (minutes and ~10 GiB per epoch on 2 cores) and sends it to the
#                                chain; the Rollup is deployed with the generated verifier, so
#                                every epoch finalizes on L1. Proof and aggregation windows
#                                default to 900 and 1800 heights (one worker compresses while
#                                the next slots wait)
#   PARLEY_LOCALNET_L1_PROOFS=0  with PARLEY_LOCALNET_L1=1: no L1 proofs, and a stand-in
#                                verifier that refuses every proof: only epochs that change no
#                                state finalize on L1 (fast to start; what CI's t_bridge uses)
#   PARLEY_LOCALNET_TIMEOUT      seconds to wait for blocks / sync (default 120)
#   PARLEY_LOCALNET_TIMEOUT_COMMIT   CometBFT timeout_commit (default 500ms)
#   PARLEY_LOCALNET_EPOCH        heights per epoch: validator-set changes (default 8)
#   PARLEY_LOCALNET_SEQUENCERS   built-in sequencers (default 2): node j < N runs one with dev
#                                account 1100+j (registered at genesis), bidding 50 % (node 0)
#                                and 80 % (node 1) of its block's tips; 0: every slot is
#                                proposer-built
#   PARLEY_LOCALNET_PROMETHEUS=1 also run Prometheus (the Debian package's binary, installed by
#                                scripts/tools.sh) scraping every node's parleyd and CometBFT
#                                metrics (jobs parleyd/cometbft, label node=nodeI), with the
#                                alerting rules of localnet/monitoring/alerts.yml; config and
#                                data in <data>/prometheus. Default 0 (off); `start` runs it
#                                again if this localnet had one; `join` adds the new node to it
#   PARLEY_LOCALNET_PROMETHEUS_PORT  its HTTP port on 127.0.0.1 (default 9090)
#
# The genesis also registers one prover (dev account 1200, 10 ETH stake; more with
# PARLEY_LOCALNET_PROVERS), drawn for every slot; its parley-prover workers sign each slot's
# highest bid (Select), prove its slots and keep it active with heartbeats; without one, the
# app selects the highest bid at the window's end.
#
# The genesis registers the CometBFT validators in the app's validator registry (operator of
# validator i: dev account 1000+i of the test mnemonic, bond = power x 1 ETH), so validators
# join and leave by bonding (`parleyd msg … bond-validator`, `… unbond validator`).
#
# Ports for node i (all on 127.0.0.1; pprof off):
#   CometBFT p2p 26656+10i, RPC 26657+10i, ABCI 26658+10i, CometBFT Prometheus 26660+10i
#   parleyd JSON-RPC 8545+i, parleyd metrics 9100+i, parleyd web view 8700+i (open
#   http://127.0.0.1:8700 in a browser: slots, provers, epochs, blocks, live)
# Prometheus (PARLEY_LOCALNET_PROMETHEUS=1): 127.0.0.1:9090 (PARLEY_LOCALNET_PROMETHEUS_PORT)
#
# `--app kvstore` runs CometBFT's built-in kvstore app instead of parleyd (no EVM, no JSON-RPC):
# a plumbing check of the consensus side only, for when parleyd is not built.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${SCRIPT_DIR}/.." && pwd)"
TOOLS_BIN="${REPO_ROOT}/.tools/bin"
COMETBFT="${TOOLS_BIN}/cometbft"
CAST="${TOOLS_BIN}/cast"
ANVIL="${TOOLS_BIN}/anvil"
FORGE="${TOOLS_BIN}/forge"

DATA_DIR="${PARLEY_LOCALNET_DIR:-${REPO_ROOT}/localnet/.data}"
LOG_DIR="${DATA_DIR}/logs"
PID_DIR="${DATA_DIR}/pids"
META_FILE="${DATA_DIR}/localnet.env"
PARLEYD="${PARLEYD_BIN:-${CARGO_TARGET_DIR:-${REPO_ROOT}/target}/release/parleyd}"
PROVER="${PARLEY_PROVER_BIN:-${CARGO_TARGET_DIR:-${REPO_ROOT}/target}/release/parley-prover}"
RELAYER="${PARLEY_RELAYER_BIN:-${CARGO_TARGET_DIR:-${REPO_ROOT}/target}/release/parley-bridge}"
# The one-command bridge: anvil as L1, the Rollup deployed by parley-bridge, its relayer.
L1="${PARLEY_LOCALNET_L1:-0}"
L1_PORT="${PARLEY_LOCALNET_L1_PORT:-18545}"
RELAY="${PARLEY_LOCALNET_RELAYER:-1}"
L1_PROOFS="${PARLEY_LOCALNET_L1_PROOFS:-1}"
L1_PROOF_K="${PARLEY_LOCALNET_L1_PROOF_K:-22}"
if [[ "${L1}" == 1 ]]; then
  # A bridge needs proving and epochs: small ones, unless asked otherwise.
  : "${PARLEY_LOCALNET_PROVING:=4}" "${PARLEY_LOCALNET_EPOCH_SLOTS:=4}" "${PARLEY_LOCALNET_AGG_CAPACITY:=1}"
  if [[ "${PARLEY_LOCALNET_L1_PROOFS:-1}" == 1 ]]; then
    # One worker aggregates and then compresses each epoch (about 2 + 4 minutes on 2 cores)
    # while the next slots wait for their proofs: windows that outlast that, so nobody is
    # slashed for the machine's speed.
    : "${PARLEY_LOCALNET_PROOF_WINDOW:=900}" "${PARLEY_LOCALNET_AGG_WINDOW:=1800}"
  fi
fi
PROVER_WORKERS="${PARLEY_LOCALNET_PROVER_WORKERS:-1}"
PROVERS="${PARLEY_LOCALNET_PROVERS:-1}"
PROVING="${PARLEY_LOCALNET_PROVING:-0}"
MAX_CHUNKS="${PARLEY_LOCALNET_MAX_CHUNKS:-1}"
INDEX_BITS="${PARLEY_LOCALNET_INDEX_BITS:-24}"
MAX_UNPROVEN="${PARLEY_LOCALNET_MAX_UNPROVEN:-64}"
PROOF_WINDOW="${PARLEY_LOCALNET_PROOF_WINDOW:-30}"
COMMIT_WINDOW="${PARLEY_LOCALNET_COMMIT_WINDOW:-8}"
EPOCH_SLOTS="${PARLEY_LOCALNET_EPOCH_SLOTS:-0}"
AGG_CAPACITY="${PARLEY_LOCALNET_AGG_CAPACITY:-}"
AGG_K="${PARLEY_LOCALNET_AGG_K:-}"
AGG_LEAF="${PARLEY_LOCALNET_AGG_LEAF:-}"
AGG_WINDOW="${PARLEY_LOCALNET_AGG_WINDOW:-100}"
SRS_FILE="${PARLEY_LOCALNET_SRS_FILE:-}"
BRIDGE_ROLLUP="${PARLEY_LOCALNET_BRIDGE_ROLLUP:-}"
L1_CHAIN_ID="${PARLEY_LOCALNET_L1_CHAIN_ID:-31337}"
L1_RPC="${PARLEY_LOCALNET_L1_RPC:-}"
[[ "${L1}" == 1 && -z "${L1_RPC}" ]] && L1_RPC="http://127.0.0.1:${L1_PORT}"
L1_DEPTH="${PARLEY_LOCALNET_L1_DEPTH:-0}"
PROVER_JOBS="${PARLEY_LOCALNET_PROVER_JOBS:-1}"
WAIT_TIMEOUT="${PARLEY_LOCALNET_TIMEOUT:-120}"
TIMEOUT_COMMIT="${PARLEY_LOCALNET_TIMEOUT_COMMIT:-500ms}"
EPOCH_HEIGHTS="${PARLEY_LOCALNET_EPOCH:-8}"
SEQUENCERS="${PARLEY_LOCALNET_SEQUENCERS:-2}"
SEQUENCER_BASE=1100
PROMETHEUS="${PARLEY_LOCALNET_PROMETHEUS:-0}"
PROM_PORT="${PARLEY_LOCALNET_PROMETHEUS_PORT:-9090}"
PROM_DIR="${DATA_DIR}/prometheus"
PROVER_BASE=1200
OPERATOR_BASE=1000

COMET_CHAIN_ID="parley-localnet"
L2_CHAIN_ID=424242
DEV_ACCOUNTS=10
DEV_MNEMONIC="test test test test test test test test test test test junk"

# ---------------------------------------------------------------------------------------------
# helpers

log() { echo "localnet: $*" >&2; }
die() {
  echo "localnet: ERROR: $*" >&2
  exit 1
}

usage() {
  sed -n '2,32p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

p2p_port() { echo $((26656 + 10 * $1)); }
rpc_port() { echo $((26657 + 10 * $1)); }
abci_port() { echo $((26658 + 10 * $1)); }
cmt_metrics_port() { echo $((26660 + 10 * $1)); }
eth_port() { echo $((8545 + $1)); }
metrics_port() { echo $((9100 + $1)); }
web_port() { echo $((8700 + $1)); }
prover_grpc_port() { echo $((9200 + $1)); }
node_home() { echo "${DATA_DIR}/node$1"; }

# toml_set FILE SECTION KEY VALUE — set `KEY = VALUE` inside [SECTION] ("" = top level).
# VALUE is written verbatim (quote strings yourself). Fails if the key is not there.
toml_set() {
  local file="$1" section="$2" key="$3" value="$4" tmp
  tmp="$(mktemp "${file}.XXXXXX")"
  if ! awk -v section="${section}" -v key="${key}" -v value="${value}" '
    BEGIN { cur = ""; done = 0 }
    /^[[:space:]]*\[[^]]*\][[:space:]]*$/ {
      cur = $0; gsub(/^[[:space:]]*\[|\][[:space:]]*$/, "", cur)
    }
    {
      if (!done && cur == section && $0 ~ "^[[:space:]]*" key "[[:space:]]*=") {
        print key " = " value; done = 1; next
      }
      print
    }
    END { if (!done) exit 3 }
  ' "${file}" >"${tmp}"; then
    rm -f "${tmp}"
    die "cannot set '${key}' in [${section:-top level}] of ${file}: key not found"
  fi
  mv "${tmp}" "${file}"
}

# port_in_use PORT — true if something listens on 127.0.0.1:PORT (or any address).
port_in_use() {
  ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

# wait_port PORT WHAT SECONDS PIDFILE — wait until PORT listens; fail early if the process died.
wait_port() {
  local port="$1" what="$2" secs="$3" pidfile="$4" deadline
  deadline=$((SECONDS + secs))
  while ! port_in_use "${port}"; do
    if ! pid_alive "${pidfile}"; then
      die "${what} exited before listening on 127.0.0.1:${port}; last log lines:
$(tail -n 30 "$(log_of_pidfile "${pidfile}")" 2>/dev/null)"
    fi
    ((SECONDS < deadline)) || die "${what} did not listen on 127.0.0.1:${port} within ${secs}s (log: $(log_of_pidfile "${pidfile}"))"
    sleep 0.2
  done
}

log_of_pidfile() {
  local base
  base="$(basename "$1" .pid)"
  echo "${LOG_DIR}/${base}.log"
}

pid_alive() {
  local pidfile="$1" pid
  [[ -f "${pidfile}" ]] || return 1
  pid="$(cat "${pidfile}")"
  [[ -n "${pid}" ]] || return 1
  kill -0 "${pid}" 2>/dev/null
}

# rpc_get PORT PATH — GET from a CometBFT RPC with a timeout; prints the body.
rpc_get() {
  curl -sS --max-time 5 "http://127.0.0.1:$1$2"
}

# node_height I — latest block height from CometBFT RPC, or empty.
node_height() {
  rpc_get "$(rpc_port "$1")" /status 2>/dev/null | jq -r '.result.sync_info.latest_block_height // empty' 2>/dev/null || true
}

load_meta() {
  [[ -f "${META_FILE}" ]] || die "no localnet in ${DATA_DIR} (run: localnet/localnet.sh up)"
  # shellcheck source=/dev/null
  source "${META_FILE}"
  : "${VALIDATORS:?corrupt ${META_FILE}}" "${NODES:?corrupt ${META_FILE}}" "${APP:?corrupt ${META_FILE}}"
}

write_meta() {
  cat >"${META_FILE}" <<EOF
# written by localnet/localnet.sh; do not edit while the localnet runs
VALIDATORS=${VALIDATORS}
NODES=${NODES}
APP=${APP}
SRS_FILE=$(printf '%q' "${SRS_FILE}")
L1=${L1}
L1_PORT=${L1_PORT}
RELAY=${RELAY}
L1_CHAIN_ID=${L1_CHAIN_ID}
PROM_PORT=${PROM_PORT}
EOF
}

ensure_tools() {
  "${REPO_ROOT}/scripts/tools.sh" >&2 || die "scripts/tools.sh failed"
}

build_parleyd() {
  if [[ "${PARLEY_SKIP_BUILD:-0}" == "1" ]]; then
    log "PARLEY_SKIP_BUILD=1: not building parleyd"
  else
    log "building parleyd and parley-prover: cargo build --release -p parley-app -p parley-prover"
    (cd "${REPO_ROOT}" && cargo build --release -p parley-app -p parley-prover) >&2 ||
      die "cargo build --release -p parley-app -p parley-prover failed (or set PARLEY_SKIP_BUILD=1 with PARLEYD_BIN)"
  fi
  [[ -x "${PARLEYD}" ]] || die "parleyd binary not found at ${PARLEYD} (build it, or set PARLEYD_BIN)"
  if ((PROVER_WORKERS > 0)); then
    [[ -x "${PROVER}" ]] || die "parley-prover binary not found at ${PROVER} (build it, set PARLEY_PROVER_BIN, or PARLEY_LOCALNET_PROVER_WORKERS=0)"
  fi
  if [[ "${L1}" == 1 ]]; then
    if [[ "${PARLEY_SKIP_BUILD:-0}" != "1" ]]; then
      (cd "${REPO_ROOT}" && cargo build --release -p parley-bridge) >&2 || die "cargo build --release -p parley-bridge failed"
    fi
    [[ -x "${RELAYER}" ]] || die "parley-bridge binary not found at ${RELAYER} (build it, or set PARLEY_RELAYER_BIN)"
  fi
}

# start_l1 — anvil as L1 (its state kept in the data folder across down/start).
start_l1() {
  local pidfile="${PID_DIR}/l1.anvil.pid"
  pid_alive "${pidfile}" && return 0
  port_in_use "${L1_PORT}" && die "port ${L1_PORT} (anvil, L1) is already in use (PARLEY_LOCALNET_L1_PORT)"
  spawn l1.anvil "${LOG_DIR}/anvil.log" "${ANVIL}" --port "${L1_PORT}" --chain-id "${L1_CHAIN_ID}" \
    --state "${DATA_DIR}/anvil-state.json" --silent
  local deadline=$((SECONDS + 30))
  until "${CAST}" chain-id --rpc-url "${L1_RPC}" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "anvil did not start on port ${L1_PORT}: $(tail -n 3 "${LOG_DIR}/anvil.log")"
    sleep 0.3
  done
}

# l1_key — the L1 deployer and relayer: dev account 0 (anvil's first funded account).
l1_key() { "${CAST}" wallet private-key "${DEV_MNEMONIC}" 0; }

# deploy_l1 — the verifier (the compression circuit's generated one, or with
# PARLEY_LOCALNET_L1_PROOFS=0 a stand-in that refuses every proof) and the Rollup, by
# parley-bridge, at the address genesis names.
deploy_l1() {
  log "deploying the Rollup on L1 with parley-bridge (forge build first)"
  (cd "${REPO_ROOT}/l1-bridge/contracts" && "${FORGE}" build --skip test --out "${DATA_DIR}/l1-out" \
    --cache-path "${DATA_DIR}/l1-cache") >"${LOG_DIR}/l1-build.log" 2>&1 ||
    die "forge build of the Rollup failed: $(tail -n 5 "${LOG_DIR}/l1-build.log")"
  local verifier=(--verifier-stand-in)
  if [[ "${L1_PROOFS}" == 1 ]]; then
    # The Solidity verifier genesis-app-state wrote from the pinned compression vk, compiled
    # with the project's solc (no optimizer: solcjs runs out of memory with it on this size).
    local vdir="${DATA_DIR}/l1-verifier"
    mkdir -p "${vdir}/src"
    cp "${DATA_DIR}/EpochVerifier.sol" "${vdir}/src/EpochVerifier.sol"
    printf '[profile.default]\nsrc = "src"\nlibs = []\noffline = true\nsolc = "%s"\noptimizer = false\nevm_version = "paris"\n' \
      "${TOOLS_BIN}/solc" >"${vdir}/foundry.toml"
    (cd "${vdir}" && "${FORGE}" build --out out --cache-path cache) >"${LOG_DIR}/l1-verifier-build.log" 2>&1 ||
      die "forge build of the epoch verifier failed: $(tail -n 5 "${LOG_DIR}/l1-verifier-build.log")"
    jq -r '.bytecode.object' "${vdir}"/out/EpochVerifier.sol/*.json >"${vdir}/creation.hex"
    verifier=(--verifier-bytecode "${vdir}/creation.hex")
  fi
  PARLEY_RELAYER_KEY="$(l1_key)" "${RELAYER}" deploy --l1-rpc "${L1_RPC}" --parleyd-rpc "http://127.0.0.1:$(eth_port 0)" \
    --artifact "${DATA_DIR}/l1-out/Rollup.sol/Rollup.json" "${verifier[@]}" \
    >"${DATA_DIR}/l1-deploy.json" 2>"${LOG_DIR}/l1-deploy.log" ||
    die "parley-bridge deploy failed: $(tail -n 5 "${LOG_DIR}/l1-deploy.log")"
}

# start_relayer — parley-bridge relay in the background (off with PARLEY_LOCALNET_RELAYER=0).
start_relayer() {
  [[ "${RELAY}" == 1 ]] || return 0
  local pidfile="${PID_DIR}/l1.relayer.pid"
  pid_alive "${pidfile}" && return 0
  PARLEY_RELAYER_KEY="$(l1_key)" spawn l1.relayer "${LOG_DIR}/relayer.log" "${RELAYER}" relay \
    --l1-rpc "${L1_RPC}" --parleyd-rpc "http://127.0.0.1:$(eth_port 0)" --state-dir "${DATA_DIR}/relayer"
}

# write_prometheus_config — <data>/prometheus/prometheus.yml: every node's parleyd and CometBFT
# metrics (label node=nodeI), and a copy of localnet/monitoring/alerts.yml.
write_prometheus_config() {
  local i cfg="${PROM_DIR}/prometheus.yml"
  mkdir -p "${PROM_DIR}/data"
  cp "${SCRIPT_DIR}/monitoring/alerts.yml" "${PROM_DIR}/alerts.yml"
  {
    echo "# written by localnet/localnet.sh for ${NODES} node(s); rewritten at up/start/join/prometheus"
    echo "global:"
    echo "  scrape_interval: 5s"
    echo "  evaluation_interval: 5s"
    echo "rule_files:"
    echo "  - ${PROM_DIR}/alerts.yml"
    echo "scrape_configs:"
    if [[ "${APP}" == parleyd ]]; then
      echo "  - job_name: parleyd"
      echo "    static_configs:"
      for ((i = 0; i < NODES; i++)); do
        echo "      - targets: ['127.0.0.1:$(metrics_port "${i}")']"
        echo "        labels: {node: node${i}}"
      done
    fi
    echo "  - job_name: cometbft"
    echo "    static_configs:"
    for ((i = 0; i < NODES; i++)); do
      echo "      - targets: ['127.0.0.1:$(cmt_metrics_port "${i}")']"
      echo "        labels: {node: node${i}}"
    done
  } >"${cfg}.tmp"
  mv "${cfg}.tmp" "${cfg}"
  if command -v promtool >/dev/null 2>&1; then
    promtool check config "${cfg}" >"${LOG_DIR}/promtool.log" 2>&1 ||
      die "promtool check config ${cfg} failed: $(tail -n 5 "${LOG_DIR}/promtool.log")"
  fi
}

# start_prometheus — Prometheus on 127.0.0.1:PROM_PORT with the config above; a running one
# re-reads it (SIGHUP).
start_prometheus() {
  local pidfile="${PID_DIR}/monitor.prometheus.pid"
  command -v prometheus >/dev/null 2>&1 ||
    die "prometheus is not installed (scripts/tools.sh installs the Debian package as root: apt-get install prometheus)"
  write_prometheus_config
  if pid_alive "${pidfile}"; then
    kill -HUP "$(cat "${pidfile}")"
    log "prometheus reloaded its config (${NODES} node(s))"
    return 0
  fi
  port_in_use "${PROM_PORT}" &&
    die "port ${PROM_PORT} (prometheus) is already in use (another Prometheus? set PARLEY_LOCALNET_PROMETHEUS_PORT)"
  echo "=== $(date -u +%FT%TZ) localnet: starting prometheus ===" >>"${LOG_DIR}/monitor.prometheus.log"
  spawn monitor.prometheus "${LOG_DIR}/monitor.prometheus.log" prometheus \
    --config.file "${PROM_DIR}/prometheus.yml" --storage.tsdb.path "${PROM_DIR}/data" \
    --storage.tsdb.retention.time 2d --web.listen-address "127.0.0.1:${PROM_PORT}"
  wait_port "${PROM_PORT}" prometheus 60 "${pidfile}"
  log "prometheus on http://127.0.0.1:${PROM_PORT} scraping ${NODES} node(s) (config ${PROM_DIR}/prometheus.yml)"
}

# srs_flags — the trusted-setup flags of parley-prover: `--srs dev`, or the ceremony file with
# the hash the genesis pins.
srs_flags() {
  if [[ -z "${SRS_FILE}" ]]; then
    echo "--srs dev"
  else
    echo "--srs ${SRS_FILE} --srs-hash $(jq -r .app_state.params.protocol.proving.srs.ceremony.hash "${DATA_DIR}/genesis.json")"
  fi
}

# start_provers — for each of the PROVERS genesis provers (dev accounts PROVER_BASE + p),
# PROVER_WORKERS parley-prover workers; worker i (= p × PROVER_WORKERS + w) logs to prover<i>.log.
# A prover's workers all dial node (p mod validators)'s ProverService, which shares the
# prover's proving tasks among them (workers on different nodes would each prove every one).
# Only each prover's first worker aggregates epochs (the others run --no-aggregation): the
# aggregation keys take gigabytes per process.
start_provers() {
  local p w i key pidfile agg
  ((PROVER_WORKERS > 0)) || return 0
  for ((p = 0; p < PROVERS; p++)); do
    key="$("${PARLEYD}" dev-key $((PROVER_BASE + p)))" || die "parleyd dev-key $((PROVER_BASE + p)) failed"
    for ((w = 0; w < PROVER_WORKERS; w++)); do
      i=$((p * PROVER_WORKERS + w))
      pidfile="${PID_DIR}/prover${i}.prover.pid"
      if pid_alive "${pidfile}"; then
        log "prover worker ${i} already running"
        continue
      fi
      echo "=== $(date -u +%FT%TZ) localnet: starting parley-prover ===" >>"${LOG_DIR}/prover${i}.log"
      agg=""
      ((w > 0)) && agg="--no-aggregation"
      spawn "prover${i}.prover" "${LOG_DIR}/prover${i}.log" \
        env PARLEY_PROVER_KEY="${key}" "${PROVER}" \
        --node "http://127.0.0.1:$(prover_grpc_port $((p % VALIDATORS)))" --chain-id "${L2_CHAIN_ID}" \
        --jobs "${PROVER_JOBS}" $(srs_flags) ${agg}
    done
  done
  log "started ${PROVER_WORKERS} parley-prover worker(s) for each of ${PROVERS} prover(s) (dev accounts ${PROVER_BASE}..$((PROVER_BASE + PROVERS - 1)))"
}

# ---------------------------------------------------------------------------------------------
# per-node configuration

# configure_cometbft I PEERS — patch node I's config.toml for loopback ports and localnet speed.
configure_cometbft() {
  local i="$1" peers="$2" cfg
  cfg="$(node_home "${i}")/config/config.toml"
  if [[ "${APP}" == "kvstore" ]]; then
    toml_set "${cfg}" "" proxy_app '"kvstore"'
  else
    toml_set "${cfg}" "" proxy_app "\"tcp://127.0.0.1:$(abci_port "${i}")\""
  fi
  toml_set "${cfg}" "" abci '"socket"'
  toml_set "${cfg}" "" moniker "\"node${i}\""
  toml_set "${cfg}" rpc laddr "\"tcp://127.0.0.1:$(rpc_port "${i}")\""
  toml_set "${cfg}" rpc pprof_laddr '""'
  # Raw txs are hex in JSON bodies: leave room above the app's own 128 KiB tx limit.
  toml_set "${cfg}" rpc max_body_bytes 4194304
  toml_set "${cfg}" p2p laddr "\"tcp://127.0.0.1:$(p2p_port "${i}")\""
  toml_set "${cfg}" p2p external_address "\"127.0.0.1:$(p2p_port "${i}")\""
  toml_set "${cfg}" p2p persistent_peers "\"${peers}\""
  toml_set "${cfg}" p2p addr_book_strict false
  toml_set "${cfg}" p2p allow_duplicate_ip true
  # Loopback links: the default 5 MB/s per-peer rate limit throttles mempool gossip under load.
  toml_set "${cfg}" p2p send_rate 104857600
  toml_set "${cfg}" p2p recv_rate 104857600
  # Large enough for the TPS benchmark (thousands of txs per second, several seconds queued).
  toml_set "${cfg}" mempool size 200000
  toml_set "${cfg}" mempool max_txs_bytes 2147483648
  toml_set "${cfg}" mempool cache_size 200000
  toml_set "${cfg}" consensus timeout_commit "\"${TIMEOUT_COMMIT}\""
  toml_set "${cfg}" consensus create_empty_blocks true
  toml_set "${cfg}" instrumentation prometheus true
  toml_set "${cfg}" instrumentation prometheus_listen_addr "\"127.0.0.1:$(cmt_metrics_port "${i}")\""
}

# configure_parleyd I — `parleyd init` into node I's home (shared with CometBFT) and set ports.
configure_parleyd() {
  local i="$1" home cfg
  home="$(node_home "${i}")"
  "${PARLEYD}" init --home "${home}" --moniker "node${i}" >>"${LOG_DIR}/node${i}.parleyd.log" 2>&1 ||
    die "parleyd init --home ${home} failed; see ${LOG_DIR}/node${i}.parleyd.log"
  cfg="${home}/config/parleyd.toml"
  [[ -f "${cfg}" ]] || die "parleyd init did not write ${cfg}"
  toml_set "${cfg}" "" abci_addr "\"127.0.0.1:$(abci_port "${i}")\""
  toml_set "${cfg}" "" rpc_addr "\"127.0.0.1:$(eth_port "${i}")\""
  toml_set "${cfg}" "" cometbft_rpc "\"http://127.0.0.1:$(rpc_port "${i}")\""
  toml_set "${cfg}" "" metrics_addr "\"127.0.0.1:$(metrics_port "${i}")\""
  toml_set "${cfg}" "" prover_grpc_addr "\"127.0.0.1:$(prover_grpc_port "${i}")\""
  # The trusted setup block proofs are checked with (ADR 0014); it must be what genesis pins.
  toml_set "${cfg}" "" srs "\"${SRS_FILE:-dev}\""
  # A validator's bridge key is its operator's (genesis registers the operator address).
  if [[ -n "${BRIDGE_ROLLUP}" ]] && ((i < VALIDATORS)); then
    toml_set "${cfg}" "" bridge_key "\"$("${PARLEYD}" dev-key $((OPERATOR_BASE + i)))\""
    # The validators watch the L1 queue (deposits, forced transactions) there.
    if [[ -n "${L1_RPC}" ]]; then
      toml_set "${cfg}" "" l1_rpc "\"${L1_RPC}\""
      toml_set "${cfg}" "" l1_finality_depth "${L1_DEPTH}"
      toml_set "${cfg}" "" l1_poll_ms 500
    fi
  fi
  # Each node's own fee recipient (the tips of the blocks it proposes): 0xfee0…0<i>.
  toml_set "${cfg}" "" fee_recipient "\"$(fee_recipient "${i}")\""
  # The first SEQUENCERS nodes run the built-in sequencer, with different bid strategies.
  if ((i < SEQUENCERS)); then
    toml_set "${cfg}" "" sequencer_key "\"$("${PARLEYD}" dev-key $((SEQUENCER_BASE + i)))\""
    toml_set "${cfg}" "" sequencer_bid_share_bps "$((5000 + 3000 * (i % 2)))"
    # Bid for every slot, so users' transactions land through the auction while a sequencer
    # is up (the proposer fills the slots nobody bid for).
    toml_set "${cfg}" "" sequencer_bid_empty true
  fi
}

# fee_recipient I — node I's fee recipient address, 0xfee followed by I in 37 hex digits.
fee_recipient() { printf '0xfee%037x' "$1"; }

# peers_list — "id@127.0.0.1:port,..." for every validator.
peers_list() {
  local i id peers=()
  for ((i = 0; i < VALIDATORS; i++)); do
    id="$("${COMETBFT}" show-node-id --home "$(node_home "${i}")")" ||
      die "cometbft show-node-id failed for node${i}"
    peers+=("${id}@127.0.0.1:$(p2p_port "${i}")")
  done
  local IFS=,
  echo "${peers[*]}"
}

# ---------------------------------------------------------------------------------------------
# processes

# spawn NAME LOGFILE CMD... — start CMD in its own session/process group; record its pid.
spawn() {
  local name="$1" logfile="$2"
  shift 2
  # setsid: the process leads its own group, so `down` can kill it and any children at once.
  # Without job control, the background subshell is not a group leader, so setsid does not
  # fork and $! is the command's own pid (= its process group id).
  setsid "$@" >>"${logfile}" 2>&1 </dev/null &
  echo $! >"${PID_DIR}/${name}.pid"
}

start_parleyd() {
  local i="$1"
  local pidfile="${PID_DIR}/node${i}.parleyd.pid"
  pid_alive "${pidfile}" && die "node${i} parleyd already running (pid $(cat "${pidfile}"))"
  port_in_use "$(abci_port "${i}")" && die "port $(abci_port "${i}") (node${i} ABCI) is already in use"
  port_in_use "$(eth_port "${i}")" && die "port $(eth_port "${i}") (node${i} JSON-RPC) is already in use"
  echo "=== $(date -u +%FT%TZ) localnet: starting parleyd ===" >>"${LOG_DIR}/node${i}.parleyd.log"
  # The env mirrors parleyd.toml so that a hand-edited file cannot move a localnet port.
  spawn "node${i}.parleyd" "${LOG_DIR}/node${i}.parleyd.log" \
    env PARLEY_ABCI_ADDR="127.0.0.1:$(abci_port "${i}")" \
    PARLEY_RPC_ADDR="127.0.0.1:$(eth_port "${i}")" \
    PARLEY_COMETBFT_RPC="http://127.0.0.1:$(rpc_port "${i}")" \
    PARLEY_METRICS_ADDR="127.0.0.1:$(metrics_port "${i}")" \
    PARLEY_WEB_ADDR="127.0.0.1:$(web_port "${i}")" \
    PARLEY_PROVER_GRPC_ADDR="127.0.0.1:$(prover_grpc_port "${i}")" \
    "${PARLEYD}" start --home "$(node_home "${i}")"
  wait_port "$(abci_port "${i}")" "node${i} parleyd (ABCI)" 60 "${pidfile}"
}

start_cometbft() {
  local i="$1"
  local pidfile="${PID_DIR}/node${i}.cometbft.pid"
  pid_alive "${pidfile}" && die "node${i} cometbft already running (pid $(cat "${pidfile}"))"
  port_in_use "$(p2p_port "${i}")" && die "port $(p2p_port "${i}") (node${i} p2p) is already in use"
  port_in_use "$(rpc_port "${i}")" && die "port $(rpc_port "${i}") (node${i} CometBFT RPC) is already in use"
  echo "=== $(date -u +%FT%TZ) localnet: starting cometbft ===" >>"${LOG_DIR}/node${i}.cometbft.log"
  spawn "node${i}.cometbft" "${LOG_DIR}/node${i}.cometbft.log" \
    "${COMETBFT}" start --home "$(node_home "${i}")"
  wait_port "$(rpc_port "${i}")" "node${i} cometbft (RPC)" 60 "${pidfile}"
}

# start_node I [parleyd|cometbft|all] — with "all", a process that is already running is left
# alone (so "start-node I" after a crash restarts whatever died).
start_node() {
  local i="$1" which="${2:-all}"
  if [[ "${APP}" == "parleyd" && ("${which}" == all || "${which}" == parleyd) ]]; then
    if [[ "${which}" == all ]] && pid_alive "${PID_DIR}/node${i}.parleyd.pid"; then
      log "node${i} parleyd already running"
    else
      start_parleyd "${i}"
    fi
  fi
  if [[ "${which}" == all || "${which}" == cometbft ]]; then
    if [[ "${which}" == all ]] && pid_alive "${PID_DIR}/node${i}.cometbft.pid"; then
      log "node${i} cometbft already running"
    else
      start_cometbft "${i}"
    fi
  fi
}

# stop_proc PIDFILE SIGNAL — signal the process group; wait (bounded) until it is gone.
stop_proc() {
  local pidfile="$1" sig="$2" pid deadline
  [[ -f "${pidfile}" ]] || return 0
  pid="$(cat "${pidfile}")"
  if [[ -n "${pid}" ]] && kill -0 "${pid}" 2>/dev/null; then
    kill "-${sig}" -- "-${pid}" 2>/dev/null || kill "-${sig}" "${pid}" 2>/dev/null || true
    deadline=$((SECONDS + 15))
    while kill -0 "${pid}" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    if kill -0 "${pid}" 2>/dev/null; then
      log "$(basename "${pidfile}" .pid) (pid ${pid}) ignored SIG${sig} for 15s; sending SIGKILL"
      kill -KILL -- "-${pid}" 2>/dev/null || kill -KILL "${pid}" 2>/dev/null || true
      deadline=$((SECONDS + 10))
      while kill -0 "${pid}" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
      kill -0 "${pid}" 2>/dev/null && die "could not stop pid ${pid}"
    fi
  fi
  rm -f "${pidfile}"
}

stop_node() {
  local i="$1" which="${2:-all}" sig="${3:-TERM}"
  # CometBFT first, so it does not log a storm of ABCI connection errors.
  if [[ "${which}" == all || "${which}" == cometbft ]]; then
    stop_proc "${PID_DIR}/node${i}.cometbft.pid" "${sig}"
  fi
  if [[ "${which}" == all || "${which}" == parleyd ]]; then
    stop_proc "${PID_DIR}/node${i}.parleyd.pid" "${sig}"
  fi
}

# wait_height H SECONDS [NODES...] — every listed node (default: all) reaches height H.
wait_height() {
  local target="$1" secs="$2"
  shift 2
  local nodes=("$@") i h deadline lagging
  if ((${#nodes[@]} == 0)); then
    for ((i = 0; i < NODES; i++)); do nodes+=("${i}"); done
  fi
  deadline=$((SECONDS + secs))
  while :; do
    lagging=()
    for i in "${nodes[@]}"; do
      h="$(node_height "${i}")"
      if [[ -z "${h}" || "${h}" -lt "${target}" ]]; then lagging+=("node${i}=${h:-down}"); fi
    done
    ((${#lagging[@]} == 0)) && return 0
    if ((SECONDS >= deadline)); then
      log "nodes not at height ${target} after ${secs}s: ${lagging[*]}"
      return 1
    fi
    sleep 0.5
  done
}

# ---------------------------------------------------------------------------------------------
# subcommands

cmd_up() {
  local n=4
  APP=parleyd
  while (($#)); do
    case "$1" in
      --validators | -n)
        [[ $# -ge 2 ]] || die "$1 needs a number"
        n="$2"
        shift 2
        ;;
      --validators=*)
        n="${1#*=}"
        shift
        ;;
      --app)
        [[ $# -ge 2 ]] || die "--app needs parleyd or kvstore"
        APP="$2"
        shift 2
        ;;
      *) die "up: unknown argument '$1'" ;;
    esac
  done
  [[ "${n}" =~ ^[1-9][0-9]*$ && "${n}" -le 20 ]] || die "--validators must be 1..20, got '${n}'"
  [[ "${APP}" == parleyd || "${APP}" == kvstore ]] || die "--app must be parleyd or kvstore, got '${APP}'"

  if [[ -d "${PID_DIR}" ]]; then
    local f
    for f in "${PID_DIR}"/*.pid; do
      [[ -e "${f}" ]] || continue
      pid_alive "${f}" && die "a localnet is already running in ${DATA_DIR} ($(basename "${f}" .pid)); run: localnet/localnet.sh down"
    done
  fi
  local i port
  for ((i = 0; i < n; i++)); do
    for port in $(p2p_port "${i}") $(rpc_port "${i}") $(abci_port "${i}") $(cmt_metrics_port "${i}") $(eth_port "${i}") $(metrics_port "${i}") $(prover_grpc_port "${i}"); do
      port_in_use "${port}" && die "port ${port} (node${i}) is already in use; is another localnet running? (ss -ltnp 'sport = :${port}')"
    done
  done
  if [[ "${PROMETHEUS}" == 1 ]] && port_in_use "${PROM_PORT}"; then
    die "port ${PROM_PORT} (prometheus) is already in use (another Prometheus? set PARLEY_LOCALNET_PROMETHEUS_PORT)"
  fi

  if [[ "${APP}" == parleyd ]]; then build_parleyd; fi
  ensure_tools
  [[ "${L1}" != 1 || "${APP}" == parleyd ]] || die "PARLEY_LOCALNET_L1=1 needs --app parleyd"

  VALIDATORS="${n}"
  NODES="${n}"
  log "creating a fresh ${n}-validator net in ${DATA_DIR} (app: ${APP})"
  rm -rf "${DATA_DIR}"
  mkdir -p "${DATA_DIR}" "${LOG_DIR}" "${PID_DIR}"
  "${COMETBFT}" testnet --v "${n}" --n 0 --o "${DATA_DIR}" --node-dir-prefix node \
    --populate-persistent-peers=false >"${LOG_DIR}/testnet.log" 2>&1 ||
    die "cometbft testnet failed: $(cat "${LOG_DIR}/testnet.log")"
  write_meta
  if [[ "${L1}" == 1 ]]; then
    start_l1
    # The deployer's next contract is the verifier, the one after it the Rollup.
    local nonce
    nonce="$("${CAST}" nonce --rpc-url "${L1_RPC}" "$("${CAST}" wallet address --private-key "$(l1_key)")")"
    BRIDGE_ROLLUP="$("${CAST}" compute-address --nonce $((nonce + 1)) "$("${CAST}" wallet address --private-key "$(l1_key)")" | awk '{print $NF}')"
    log "L1: anvil on ${L1_RPC} (chain ${L1_CHAIN_ID}); the Rollup will be at ${BRIDGE_ROLLUP}"
  fi

  # One genesis for all: CometBFT chain id + parleyd's app_state (dev accounts prefunded).
  local genesis="${DATA_DIR}/genesis.json" app_state='{}'
  local proving_args=()
  if ((PROVING > 0)); then
    proving_args=(--proving-capacity "${PROVING}" --max-chunks "${MAX_CHUNKS}" --proof-index-bits "${INDEX_BITS}"
      --max-unproven-slots "${MAX_UNPROVEN}"
      --proof-window "${PROOF_WINDOW}" --commit-window "${COMMIT_WINDOW}")
    [[ -n "${SRS_FILE}" ]] && proving_args+=(--srs-file "${SRS_FILE}")
    if ((EPOCH_SLOTS > 0)); then
      local cap="${AGG_CAPACITY:-$((EPOCH_SLOTS < 64 ? EPOCH_SLOTS : 64))}"
      proving_args+=(--epoch-slots "${EPOCH_SLOTS}" --agg-capacity "${cap}" --agg-window "${AGG_WINDOW}")
      [[ -n "${AGG_K}" ]] && proving_args+=(--agg-k "${AGG_K}")
      [[ -n "${AGG_LEAF}" ]] && proving_args+=(--agg-leaf-capacity "${AGG_LEAF}")
      log "epoch aggregation on: ${EPOCH_SLOTS} slots per epoch, at most ${cap} needing a proof, k = ${AGG_K:-from the capacity}${AGG_LEAF:+, in a tree of leaves of ${AGG_LEAF}} (computing its vk hash: minutes)"
      if [[ "${L1}" == 1 && "${L1_PROOFS}" == 1 ]]; then
        proving_args+=(--l1-proof-k "${L1_PROOF_K}" --l1-verifier-out "${DATA_DIR}/EpochVerifier.sol")
        log "L1 proofs on: the compression circuit at k = ${L1_PROOF_K} (computing its vk hash and verifier: minutes)"
      fi
      if [[ -n "${BRIDGE_ROLLUP}" ]]; then
        proving_args+=(--bridge-rollup "${BRIDGE_ROLLUP}" --bridge-l1-chain-id "${L1_CHAIN_ID}")
        log "bridge on: validators attest every epoch for Rollup ${BRIDGE_ROLLUP} on L1 chain ${L1_CHAIN_ID}"
      fi
    fi
    [[ -z "${BRIDGE_ROLLUP}" || "${EPOCH_SLOTS}" -gt 0 ]] ||
      die "PARLEY_LOCALNET_BRIDGE_ROLLUP needs PARLEY_LOCALNET_EPOCH_SLOTS (L1 finalizes epochs)"
    log "block proving on: circuit capacity ${PROVING}, up to ${MAX_CHUNKS} chunk(s) per slot (computing its vk hash; the first run makes the SRS)"
  fi
  if [[ "${APP}" == parleyd ]]; then
    app_state="$("${PARLEYD}" genesis-app-state --chain-id "${L2_CHAIN_ID}" --dev-accounts "${DEV_ACCOUNTS}" \
      --validators-from "$(node_home 0)/config/genesis.json" --operator-base "${OPERATOR_BASE}" \
      --epoch-heights "${EPOCH_HEIGHTS}" --sequencers "${SEQUENCERS}" --sequencer-base "${SEQUENCER_BASE}" \
      --provers "${PROVERS}" --prover-base "${PROVER_BASE}" ${proving_args[@]+"${proving_args[@]}"} \
      2>"${LOG_DIR}/genesis-app-state.log")" ||
      die "parleyd genesis-app-state failed: $(cat "${LOG_DIR}/genesis-app-state.log")"
    jq -e . >/dev/null <<<"${app_state}" || die "parleyd genesis-app-state did not print JSON: ${app_state:0:200}"
  fi
  # Vote extensions from height 1: parleyd's validators carry the prover draw's commit-reveal
  # seed in them (ADR 0009), and its InitChain refuses a genesis without them.
  local ve_height=0
  [[ "${APP}" == parleyd ]] && ve_height=1
  jq --arg cid "${COMET_CHAIN_ID}" --argjson app "${app_state}" --arg ve "${ve_height}" \
    '.chain_id = $cid | .app_state = $app | .consensus_params.abci.vote_extensions_enable_height = $ve' \
    "$(node_home 0)/config/genesis.json" >"${genesis}" ||
    die "could not write ${genesis}"
  local peers
  peers="$(peers_list)"
  for ((i = 0; i < n; i++)); do
    cp "${genesis}" "$(node_home "${i}")/config/genesis.json"
    # Each node's peer list is every validator but itself.
    configure_cometbft "${i}" "$(tr ',' '\n' <<<"${peers}" | grep -v "@127.0.0.1:$(p2p_port "${i}")$" | paste -sd, -)"
    if [[ "${APP}" == parleyd ]]; then configure_parleyd "${i}"; fi
  done

  for ((i = 0; i < n; i++)); do
    start_node "${i}" all
  done
  log "started ${n} validators; waiting for blocks (up to ${WAIT_TIMEOUT}s)"
  if ! wait_height 3 "${WAIT_TIMEOUT}"; then
    for ((i = 0; i < n; i++)); do
      echo "--- node${i} cometbft (last lines) ---" >&2
      tail -n 15 "${LOG_DIR}/node${i}.cometbft.log" >&2 || true
      if [[ "${APP}" == parleyd ]]; then echo "--- node${i} parleyd (last lines) ---" >&2; tail -n 15 "${LOG_DIR}/node${i}.parleyd.log" >&2 || true; fi
    done
    die "no blocks within ${WAIT_TIMEOUT}s; logs in ${LOG_DIR} (localnet left running: localnet/localnet.sh down)"
  fi
  if [[ "${APP}" == parleyd ]]; then start_provers; fi
  if [[ "${L1}" == 1 ]]; then
    deploy_l1
    start_relayer
  fi
  if [[ "${PROMETHEUS}" == 1 ]]; then start_prometheus; fi
  print_summary
}

print_summary() {
  local i
  echo
  echo "Parley localnet is up: ${VALIDATORS} validators, ${NODES} nodes, app ${APP}"
  echo "  CometBFT chain id: ${COMET_CHAIN_ID}   L2 chain id: ${L2_CHAIN_ID}"
  echo "  data: ${DATA_DIR}   logs: ${LOG_DIR}"
  echo
  printf '  %-6s %-24s %-24s %-31s %-31s\n' node "JSON-RPC" "CometBFT RPC" "parleyd metrics" "CometBFT metrics"
  for ((i = 0; i < NODES; i++)); do
    if [[ "${APP}" == parleyd ]]; then
      printf '  %-6s %-24s %-24s %-31s %-31s\n' "node${i}" "http://127.0.0.1:$(eth_port "${i}")" \
        "http://127.0.0.1:$(rpc_port "${i}")" "http://127.0.0.1:$(metrics_port "${i}")/metrics" \
        "http://127.0.0.1:$(cmt_metrics_port "${i}")/metrics"
    else
      printf '  %-6s %-24s %-24s %-31s %-31s\n' "node${i}" "-" "http://127.0.0.1:$(rpc_port "${i}")" "-" \
        "http://127.0.0.1:$(cmt_metrics_port "${i}")/metrics"
    fi
  done
  if [[ "${APP}" == parleyd ]]; then
    echo
    echo "  Dev accounts (mnemonic \"${DEV_MNEMONIC}\", m/44'/60'/0'/0/i; PUBLIC test keys, never use them elsewhere):"
    local key addr
    for ((i = 0; i < DEV_ACCOUNTS; i++)); do
      key="$("${CAST}" wallet private-key "${DEV_MNEMONIC}" "${i}" 2>/dev/null)" || key="?"
      addr="$("${CAST}" wallet address --private-key "${key}" 2>/dev/null)" || addr="?"
      printf '    (%d) %s  %s\n' "${i}" "${addr}" "${key}"
    done
    echo
    echo "  Try: .tools/bin/cast block-number --rpc-url http://127.0.0.1:$(eth_port 0)"
    echo "  Web view: http://127.0.0.1:$(web_port 0) (node 0; node i on port $(web_port 0)+i)"
  fi
  if [[ "${L1}" == 1 ]]; then
    echo
    echo "  L1 (anvil): ${L1_RPC}, chain ${L1_CHAIN_ID}; Rollup $(jq -r 'select(.event == "deployed") | .rollup' "${DATA_DIR}/l1-deploy.json" 2>/dev/null)"
    if [[ "${RELAY}" == 1 ]]; then
      echo "  relayer: parley-bridge relay (log ${LOG_DIR}/relayer.log, gas report ${DATA_DIR}/relayer/gas.jsonl)"
    fi
    echo "  Deposit: .tools/bin/cast send --rpc-url ${L1_RPC} <Rollup> 'deposit(address)' <L2 address> --value 1ether --private-key <key>"
  fi
  if pid_alive "${PID_DIR}/monitor.prometheus.pid"; then
    echo
    echo "  Prometheus: http://127.0.0.1:${PROM_PORT} (alerts: /alerts; Grafana dashboard: localnet/monitoring/grafana-dashboard.json)"
  fi
  echo "  Stop: localnet/localnet.sh down    Status: localnet/localnet.sh status"
}

cmd_down() {
  if [[ ! -d "${PID_DIR}" ]]; then
    log "nothing to stop in ${DATA_DIR}"
    return 0
  fi
  local f pid stopped=0 kind
  # Prover workers first, then CometBFT processes (all at once, then wait), then the apps.
  for kind in prover relayer prometheus cometbft parleyd anvil; do
    for f in "${PID_DIR}"/*."${kind}".pid; do
      [[ -e "${f}" ]] || continue
      if pid_alive "${f}"; then
        pid="$(cat "${f}")"
        kill -TERM -- "-${pid}" 2>/dev/null || kill -TERM "${pid}" 2>/dev/null || true
        stopped=$((stopped + 1))
      fi
    done
    for f in "${PID_DIR}"/*."${kind}".pid; do
      [[ -e "${f}" ]] || continue
      stop_proc "${f}" TERM # waits (bounded), escalates to SIGKILL, removes the pid file
    done
  done
  log "down: stopped ${stopped} process(es); data kept in ${DATA_DIR} (start again: localnet/localnet.sh start)"
}

# start — restart a stopped localnet from its data (no rebuild of the net).
cmd_start() {
  load_meta
  [[ $# -eq 0 ]] || die "start takes no arguments"
  if [[ "${APP}" == parleyd ]]; then
    build_parleyd
  fi
  ensure_tools
  mkdir -p "${LOG_DIR}" "${PID_DIR}"
  if [[ "${L1}" == 1 ]]; then
    L1_RPC="http://127.0.0.1:${L1_PORT}"
    start_l1
  fi
  local i h
  for ((i = 0; i < NODES; i++)); do
    start_node "${i}" all
  done
  log "started ${NODES} nodes; waiting for new blocks (up to ${WAIT_TIMEOUT}s)"
  local last=0
  for ((i = 0; i < NODES; i++)); do
    h="$(node_height "${i}")"
    if [[ -n "${h}" ]] && ((h > last)); then last="${h}"; fi
  done
  wait_height $((last + 2)) "${WAIT_TIMEOUT}" || die "no new blocks within ${WAIT_TIMEOUT}s; logs in ${LOG_DIR}"
  if [[ "${APP}" == parleyd ]]; then start_provers; fi
  if [[ "${L1}" == 1 ]]; then start_relayer; fi
  # Prometheus again if this localnet had one.
  if [[ "${PROMETHEUS}" == 1 || -f "${PROM_DIR}/prometheus.yml" ]]; then start_prometheus; fi
  print_summary
}

cmd_status() {
  load_meta
  local i st h app_hash catching peers cpid ppid eth
  printf '%-6s %-9s %-8s %-66s %-9s %-6s %-10s %-10s\n' node role height "app hash (latest header)" catching peers cometbft parleyd
  for ((i = 0; i < NODES; i++)); do
    cpid="down"
    ppid="down"
    pid_alive "${PID_DIR}/node${i}.cometbft.pid" && cpid="$(cat "${PID_DIR}/node${i}.cometbft.pid")"
    pid_alive "${PID_DIR}/node${i}.parleyd.pid" && ppid="$(cat "${PID_DIR}/node${i}.parleyd.pid")"
    if [[ "${APP}" == kvstore ]]; then ppid="-"; fi
    st="$(rpc_get "$(rpc_port "${i}")" /status 2>/dev/null || true)"
    h="$(jq -r '.result.sync_info.latest_block_height // "-"' <<<"${st}" 2>/dev/null || echo -)"
    app_hash="$(jq -r '.result.sync_info.latest_app_hash // "-"' <<<"${st}" 2>/dev/null || echo -)"
    catching="$(jq -r '.result.sync_info.catching_up | if . == null then "-" else tostring end' <<<"${st}" 2>/dev/null || echo -)"
    peers="$(rpc_get "$(rpc_port "${i}")" /net_info 2>/dev/null | jq -r '.result.n_peers // "-"' 2>/dev/null || echo -)"
    printf '%-6s %-9s %-8s %-66s %-9s %-6s %-10s %-10s\n' "node${i}" \
      "$( ((i < VALIDATORS)) && echo validator || echo full)" "${h:--}" "${app_hash:--}" "${catching:--}" \
      "${peers:--}" "${cpid}" "${ppid}"
  done
  if [[ "${APP}" == parleyd ]]; then
    echo
    for ((i = 0; i < NODES; i++)); do
      eth="$(curl -sS --max-time 5 -H 'content-type: application/json' \
        -d '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}' \
        "http://127.0.0.1:$(eth_port "${i}")" 2>/dev/null | jq -r '.result // .error.message // "-"' 2>/dev/null || echo -)"
      if [[ "${eth}" == 0x* ]]; then eth="$((eth)) (${eth})"; fi
      echo "node${i} JSON-RPC http://127.0.0.1:$(eth_port "${i}") eth_blockNumber: ${eth:-unreachable}"
    done
  fi
  if [[ -f "${PROM_DIR}/prometheus.yml" ]]; then
    local prom="down" up
    if pid_alive "${PID_DIR}/monitor.prometheus.pid"; then
      up="$(curl -sS --max-time 5 "http://127.0.0.1:${PROM_PORT}/api/v1/targets?state=active" 2>/dev/null |
        jq -r '[.data.activeTargets[] | select(.health == "up")] | length' 2>/dev/null || echo "?")"
      prom="pid $(cat "${PID_DIR}/monitor.prometheus.pid"), http://127.0.0.1:${PROM_PORT}, ${up:-?} target(s) up"
    fi
    echo
    echo "prometheus: ${prom}"
  fi
}

cmd_join() {
  load_meta
  local as_validator=0
  while (($#)); do
    case "$1" in
      --validator) as_validator=1 ;;
      *) die "join: unknown argument '$1' (use [--validator])" ;;
    esac
    shift
  done
  ((as_validator == 0)) || [[ "${APP}" == parleyd ]] || die "join --validator needs --app parleyd"
  local j="${NODES}" home peers port h0
  for port in $(p2p_port "${j}") $(rpc_port "${j}") $(abci_port "${j}") $(cmt_metrics_port "${j}") $(eth_port "${j}") $(metrics_port "${j}"); do
    port_in_use "${port}" && die "port ${port} (node${j}) is already in use"
  done
  h0="$(node_height 0)"
  [[ -n "${h0}" ]] || die "node0 is not answering on CometBFT RPC :$(rpc_port 0); is the localnet up?"
  if [[ "${APP}" == parleyd ]]; then [[ -x "${PARLEYD}" ]] || die "parleyd binary not found at ${PARLEYD}"; fi
  home="$(node_home "${j}")"
  if [[ -e "${home}" ]]; then die "${home} already exists"; fi
  log "joining node${j} as a full node (network at height ${h0})"
  "${COMETBFT}" init --home "${home}" >>"${LOG_DIR}/node${j}.cometbft.log" 2>&1 ||
    die "cometbft init --home ${home} failed; see ${LOG_DIR}/node${j}.cometbft.log"
  cp "${DATA_DIR}/genesis.json" "${home}/config/genesis.json"
  peers="$(peers_list)"
  configure_cometbft "${j}" "${peers}"
  if [[ "${APP}" == parleyd ]]; then configure_parleyd "${j}"; fi
  NODES=$((j + 1))
  write_meta
  start_node "${j}" all
  h0="$(node_height 0)"
  log "node${j} started; waiting until it reaches height ${h0} and stops catching up (up to ${WAIT_TIMEOUT}s)"
  wait_height "${h0}" "${WAIT_TIMEOUT}" "${j}" ||
    die "node${j} did not sync to height ${h0} within ${WAIT_TIMEOUT}s; see ${LOG_DIR}/node${j}.*.log"
  local deadline=$((SECONDS + WAIT_TIMEOUT)) catching
  while :; do
    catching="$(rpc_get "$(rpc_port "${j}")" /status 2>/dev/null | jq -r '.result.sync_info.catching_up' 2>/dev/null || echo unknown)"
    if [[ "${catching}" == false ]]; then break; fi
    ((SECONDS < deadline)) || die "node${j} still catching_up=${catching} after ${WAIT_TIMEOUT}s"
    sleep 0.5
  done
  if pid_alive "${PID_DIR}/monitor.prometheus.pid"; then start_prometheus; fi
  echo "node${j} joined: CometBFT RPC http://127.0.0.1:$(rpc_port "${j}")$([[ "${APP}" == parleyd ]] && echo "  JSON-RPC http://127.0.0.1:$(eth_port "${j}")  metrics http://127.0.0.1:$(metrics_port "${j}")/metrics")"
  if ((as_validator)); then bond_validator "${j}"; fi
}

# bond_validator J — node J's operator (dev account OPERATOR_BASE+J) funds its protocol ledger,
# bonds 1 ETH (power 1) with node J's consensus key, and waits until CometBFT's validator set
# holds node J.
bond_validator() {
  local j="$1" op=$((OPERATOR_BASE + $1)) rpc addr deadline
  rpc="http://127.0.0.1:$(eth_port "${j}")"
  log "node${j}: operator dev account ${op} funds its ledger and bonds the node as a validator"
  "${PARLEYD}" msg --rpc "${rpc}" --dev-account "${op}" fund 2eth >>"${LOG_DIR}/node${j}.join.log" 2>&1 ||
    die "fund failed: $(tail -n 3 "${LOG_DIR}/node${j}.join.log")"
  "${PARLEYD}" msg --rpc "${rpc}" --dev-account "${op}" bond-validator 1eth --home "$(node_home "${j}")" \
    >>"${LOG_DIR}/node${j}.join.log" 2>&1 ||
    die "bond-validator failed: $(tail -n 3 "${LOG_DIR}/node${j}.join.log")"
  addr="$(jq -r '.address' "$(node_home "${j}")/config/priv_validator_key.json")"
  log "node${j} bonded; waiting for validator ${addr} to enter the set (next epoch boundary, every ${EPOCH_HEIGHTS} heights)"
  deadline=$((SECONDS + WAIT_TIMEOUT))
  until rpc_get "$(rpc_port 0)" "/validators?per_page=100" 2>/dev/null |
    jq -e --arg a "${addr}" '.result.validators | any(.address == $a)' >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "node${j} (${addr}) is not in the validator set after ${WAIT_TIMEOUT}s"
    sleep 0.5
  done
  # Nodes 0..VALIDATORS-1 are the validators in `status`; a later full node bonded out of
  # turn still shows as "full" there (CometBFT's /validators is the truth).
  if ((j == VALIDATORS)); then
    VALIDATORS=$((VALIDATORS + 1))
    write_meta
  fi
  echo "node${j} is a validator: ${addr} (operator: dev account ${op})"
}

cmd_bond() {
  load_meta
  [[ $# -eq 1 ]] || die "bond takes one NODE"
  [[ "${APP}" == parleyd ]] || die "bond needs --app parleyd"
  local j
  j="$(parse_node_arg "$1")"
  bond_validator "${j}"
}

cmd_logs() {
  local follow=0 node=""
  while (($#)); do
    case "$1" in
      -f | --follow) follow=1 ;;
      node[0-9]*) node="$1" ;;
      [0-9]*) node="node$1" ;;
      *) die "logs: unknown argument '$1' (use [-f] [NODE])" ;;
    esac
    shift
  done
  [[ -d "${LOG_DIR}" ]] || die "no logs in ${LOG_DIR}"
  local files=()
  mapfile -t files < <(find "${LOG_DIR}" -maxdepth 1 -name "${node:-node}*.log" | sort)
  ((${#files[@]})) || die "no log files for '${node:-any node}' in ${LOG_DIR}"
  echo "logs in ${LOG_DIR}" >&2
  if ((follow)); then
    exec tail -n 20 -F "${files[@]}"
  else
    tail -n 40 "${files[@]}"
  fi
}

parse_node_arg() {
  local v="${1#node}"
  [[ "${v}" =~ ^[0-9]+$ ]] || die "expected a node index (e.g. 2 or node2), got '$1'"
  ((v < NODES)) || die "node${v} does not exist (this localnet has ${NODES} nodes)"
  echo "${v}"
}

cmd_stop_node() {
  load_meta
  [[ $# -ge 1 ]] || die "stop-node NODE [parleyd|cometbft|all] [--kill]"
  local i which=all sig=TERM
  i="$(parse_node_arg "$1")"
  shift
  while (($#)); do
    case "$1" in
      parleyd | cometbft | all) which="$1" ;;
      --kill | -9) sig=KILL ;;
      *) die "stop-node: unknown argument '$1'" ;;
    esac
    shift
  done
  stop_node "${i}" "${which}" "${sig}"
  log "node${i}: stopped ${which} (SIG${sig})"
}

cmd_start_node() {
  load_meta
  [[ $# -ge 1 ]] || die "start-node NODE [parleyd|cometbft|all]"
  local i which="${2:-all}"
  i="$(parse_node_arg "$1")"
  [[ "${which}" =~ ^(parleyd|cometbft|all)$ ]] || die "start-node: unknown process '${which}'"
  start_node "${i}" "${which}"
  log "node${i}: started ${which}"
}

cmd_wait_height() {
  load_meta
  [[ $# -ge 1 && "$1" =~ ^[0-9]+$ ]] || die "wait-height H [--timeout S]"
  local h="$1" t="${WAIT_TIMEOUT}"
  shift
  if [[ "${1:-}" == --timeout ]]; then t="${2:?--timeout needs seconds}"; fi
  wait_height "${h}" "${t}" || die "not every node reached height ${h} within ${t}s"
}

cmd_prometheus() {
  load_meta
  if [[ "${1:-}" == stop && $# -eq 1 ]]; then
    stop_proc "${PID_DIR}/monitor.prometheus.pid" TERM
    rm -f "${PROM_DIR}/prometheus.yml"
    log "prometheus stopped (its data stays in ${PROM_DIR}/data)"
    return 0
  fi
  [[ $# -eq 0 ]] || die "prometheus takes no argument but stop"
  PROM_PORT="${PARLEY_LOCALNET_PROMETHEUS_PORT:-${PROM_PORT}}"
  mkdir -p "${LOG_DIR}" "${PID_DIR}"
  start_prometheus
  write_meta
  echo "prometheus: http://127.0.0.1:${PROM_PORT} (targets: /targets, alerts: /alerts), config ${PROM_DIR}/prometheus.yml"
}

cmd_env() {
  load_meta
  echo "LOCALNET_DIR=${DATA_DIR}"
  echo "LOCALNET_VALIDATORS=${VALIDATORS}"
  echo "LOCALNET_NODES=${NODES}"
  echo "LOCALNET_APP=${APP}"
  echo "LOCALNET_COMET_CHAIN_ID=${COMET_CHAIN_ID}"
  echo "LOCALNET_L2_CHAIN_ID=${L2_CHAIN_ID}"
}

require_cmds() {
  local c missing=()
  for c in "$@"; do command -v "${c}" >/dev/null 2>&1 || missing+=("${c}"); done
  ((${#missing[@]} == 0)) || die "missing commands: ${missing[*]} (Debian: apt-get install jq curl iproute2 util-linux)"
}

main() {
  local cmd="${1:-}"
  require_cmds jq curl ss setsid awk timeout
  if [[ $# -gt 0 ]]; then shift; fi
  case "${cmd}" in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    start) cmd_start "$@" ;;
    status) cmd_status "$@" ;;
    join) cmd_join "$@" ;;
    bond) cmd_bond "$@" ;;
    logs) cmd_logs "$@" ;;
    stop-node) cmd_stop_node "$@" ;;
    start-node) cmd_start_node "$@" ;;
    wait-height) cmd_wait_height "$@" ;;
    env) cmd_env "$@" ;;
    prometheus) cmd_prometheus "$@" ;;
    -h | --help | help) usage ;;
    "")
      usage >&2
      exit 2
      ;;
    *) die "unknown command '${cmd}' (see localnet/localnet.sh --help)" ;;
  esac
}

main "$@"
