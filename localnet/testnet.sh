#!/usr/bin/env bash
# Parley multi-host testnet: node homes for validators on N machines, one per host, and for
# nodes that join later from other machines (runbook: docs/operators/testnet.md).
#
#   localnet/testnet.sh gen --hosts NAME=IP,NAME=IP,... --out DIR [options]
#        one home per host in DIR/<NAME>/ (CometBFT config + keys + parleyd.toml), the shared
#        DIR/genesis.json and DIR/peers.txt; prints what to copy where and how to start it.
#        Options:
#          --chain-id ID          CometBFT chain id (default parley-testnet)
#          --l2-chain-id N        EIP-155 chain id of the L2 (default 424242)
#          --rpc-bind loopback|host   where CometBFT RPC (26657) and the Ethereum JSON-RPC
#                                 (8545) listen: 127.0.0.1 (default) or the host's IP
#          --grpc-bind loopback|host|off  the ProverService (9090): 127.0.0.1 (default), the
#                                 host's IP (for prover workers on other machines), or off
#          --timeout-commit D     CometBFT timeout_commit (default 1s; the localnet uses 500ms)
#          --epoch N              heights per epoch, when validator-set changes apply (default 8)
#          --sequencers N         register N sequencers at genesis: dev accounts 1100+j (default 0)
#          --provers N            register N provers at genesis: dev accounts 1200+j (default 0)
#          --force                replace an existing DIR
#
#   localnet/testnet.sh add-node --genesis FILE --peers PEERS --name NAME --ip IP --out HOME
#                                  [--rpc-bind ...] [--grpc-bind ...] [--timeout-commit D]
#        a full-node home for a machine that joins a running testnet: a fresh node key and
#        validator key (not in the genesis set: a full node until it bonds), the network's
#        genesis, persistent peers PEERS ("id@ip:26656,..."; DIR/peers.txt of `gen`).
#
# Every host uses the standard ports on its own address: CometBFT p2p 26656 (0.0.0.0,
# advertised as IP:26656), CometBFT RPC 26657, ABCI 26658 (127.0.0.1, cometbft -> parleyd),
# CometBFT Prometheus 26660 (127.0.0.1), Ethereum JSON-RPC 8545, parleyd metrics 9100
# (127.0.0.1), ProverService gRPC 9090.
#
# The genesis registers host i's validator with operator dev account 1000+i of the public test
# mnemonic (as the localnet does: `parleyd genesis-app-state` takes operators from it only) and
# prefunds the 10 dev accounts and operators 1000..1019. A testnet, never a chain with value.
#
# Environment: PARLEYD_BIN (default <repo>/target/release/parleyd), COMETBFT_BIN (default
# <repo>/.tools/bin/cometbft).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${SCRIPT_DIR}/.." && pwd)"
COMETBFT="${COMETBFT_BIN:-${REPO_ROOT}/.tools/bin/cometbft}"
PARLEYD="${PARLEYD_BIN:-${CARGO_TARGET_DIR:-${REPO_ROOT}/target}/release/parleyd}"

P2P_PORT=26656
RPC_PORT=26657
ABCI_PORT=26658
CMT_METRICS_PORT=26660
ETH_PORT=8545
METRICS_PORT=9100
GRPC_PORT=9090
OPERATOR_BASE=1000
SEQUENCER_BASE=1100
PROVER_BASE=1200

log() { echo "testnet: $*" >&2; }
die() {
  echo "testnet: ERROR: $*" >&2
  exit 1
}
usage() { sed -n '2,40p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

# tset FILE SECTION KEY VALUE — replace `KEY = ...` inside [SECTION] ("" = top level) with
# `KEY = VALUE` (VALUE verbatim: quote strings yourself); fails if the key is not there.
tset() {
  local file="$1" section="$2" key="$3" value="$4" tmp
  tmp="$(mktemp "${file}.XXXXXX")"
  if ! awk -v s="${section}" -v k="${key}" -v v="${value}" '
    BEGIN { cur = ""; done = 0 }
    /^[[:space:]]*\[[^]]*\][[:space:]]*$/ { cur = $0; gsub(/^[[:space:]]*\[|\][[:space:]]*$/, "", cur) }
    { if (!done && cur == s && $0 ~ "^[[:space:]]*" k "[[:space:]]*=") { print k " = " v; done = 1; next } print }
    END { if (!done) exit 3 }' "${file}" >"${tmp}"; then
    rm -f "${tmp}"
    die "no key '${key}' in [${section:-top level}] of ${file}"
  fi
  mv "${tmp}" "${file}"
}

valid_ipv4() {
  local ip="$1" o
  [[ "${ip}" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || return 1
  for o in ${ip//./ }; do ((10#${o} <= 255)) || return 1; done
}

# bind_addr MODE IP — the listen IP for a bind mode.
bind_addr() {
  case "$1" in
    loopback) echo 127.0.0.1 ;;
    host) echo "$2" ;;
    *) die "bind mode must be loopback or host, got '$1'" ;;
  esac
}

# configure_home HOME NAME IP PEERS — CometBFT config.toml and parleyd.toml of one node.
configure_home() {
  local home="$1" name="$2" ip="$3" peers="$4" cfg rpc_ip grpc
  cfg="${home}/config/config.toml"
  rpc_ip="$(bind_addr "${RPC_BIND}" "${ip}")"
  tset "${cfg}" "" moniker "\"${name}\""
  tset "${cfg}" "" proxy_app "\"tcp://127.0.0.1:${ABCI_PORT}\""
  tset "${cfg}" "" abci '"socket"'
  tset "${cfg}" rpc laddr "\"tcp://${rpc_ip}:${RPC_PORT}\""
  tset "${cfg}" rpc pprof_laddr '""'
  # Raw txs are hex in JSON bodies: room above the app's own 128 KiB tx limit.
  tset "${cfg}" rpc max_body_bytes 4194304
  tset "${cfg}" p2p laddr "\"tcp://0.0.0.0:${P2P_PORT}\""
  tset "${cfg}" p2p external_address "\"${ip}:${P2P_PORT}\""
  tset "${cfg}" p2p persistent_peers "\"${peers}\""
  # Testnets often run on private addresses (10/8, 192.168/16), which a strict address book
  # refuses to gossip.
  tset "${cfg}" p2p addr_book_strict false
  tset "${cfg}" consensus timeout_commit "\"${TIMEOUT_COMMIT}\""
  tset "${cfg}" consensus create_empty_blocks true
  tset "${cfg}" instrumentation prometheus true
  tset "${cfg}" instrumentation prometheus_listen_addr "\"127.0.0.1:${CMT_METRICS_PORT}\""

  "${PARLEYD}" init --home "${home}" --moniker "${name}" --force >/dev/null ||
    die "parleyd init --home ${home} failed"
  cfg="${home}/config/parleyd.toml"
  tset "${cfg}" "" abci_addr "\"127.0.0.1:${ABCI_PORT}\""
  tset "${cfg}" "" rpc_addr "\"${rpc_ip}:${ETH_PORT}\""
  tset "${cfg}" "" cometbft_rpc "\"http://${rpc_ip}:${RPC_PORT}\""
  tset "${cfg}" "" metrics_addr "\"127.0.0.1:${METRICS_PORT}\""
  case "${GRPC_BIND}" in
    off) grpc='""' ;;
    *) grpc="\"$(bind_addr "${GRPC_BIND}" "${ip}"):${GRPC_PORT}\"" ;;
  esac
  tset "${cfg}" "" prover_grpc_addr "${grpc}"
  # The development trusted setup; only used if the chain proves (genesis pins it).
  tset "${cfg}" "" srs '"dev"'
}

# Knobs shared by gen and add-node.
RPC_BIND=loopback
GRPC_BIND=loopback
TIMEOUT_COMMIT=1s

require_bins() {
  [[ -x "${COMETBFT}" ]] || die "cometbft not found at ${COMETBFT} (scripts/tools.sh, or COMETBFT_BIN)"
  [[ -x "${PARLEYD}" ]] || die "parleyd not found at ${PARLEYD} (cargo build --release -p parley-app, or PARLEYD_BIN)"
  command -v jq >/dev/null || die "jq is needed"
}

check_binds() {
  [[ "${RPC_BIND}" == loopback || "${RPC_BIND}" == host ]] || die "--rpc-bind must be loopback or host"
  [[ "${GRPC_BIND}" =~ ^(loopback|host|off)$ ]] || die "--grpc-bind must be loopback, host or off"
}

cmd_gen() {
  local hosts="" out="" chain_id=parley-testnet l2=424242 epoch=8 seqs=0 provers=0 force=0
  while (($#)); do
    case "$1" in
      --hosts) hosts="${2:?--hosts needs NAME=IP,...}"; shift 2 ;;
      --out) out="${2:?--out needs a folder}"; shift 2 ;;
      --chain-id) chain_id="${2:?}"; shift 2 ;;
      --l2-chain-id) l2="${2:?}"; shift 2 ;;
      --rpc-bind) RPC_BIND="${2:?}"; shift 2 ;;
      --grpc-bind) GRPC_BIND="${2:?}"; shift 2 ;;
      --timeout-commit) TIMEOUT_COMMIT="${2:?}"; shift 2 ;;
      --epoch) epoch="${2:?}"; shift 2 ;;
      --sequencers) seqs="${2:?}"; shift 2 ;;
      --provers) provers="${2:?}"; shift 2 ;;
      --force) force=1; shift ;;
      *) die "gen: unknown argument '$1' (see --help)" ;;
    esac
  done
  [[ -n "${hosts}" ]] || die "gen needs --hosts NAME=IP,NAME=IP,..."
  [[ -n "${out}" ]] || die "gen needs --out DIR"
  check_binds
  require_bins
  local names=() ips=() entries=() entry name ip i
  IFS=, read -r -a entries <<<"${hosts}"
  for entry in "${entries[@]}"; do
    [[ "${entry}" == *=* ]] || die "--hosts entry '${entry}' is not NAME=IP"
    name="${entry%%=*}"
    ip="${entry#*=}"
    [[ "${name}" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]] || die "host name '${name}': letters, digits, . _ - only"
    valid_ipv4 "${ip}" || die "host ${name}: '${ip}' is not an IPv4 address"
    for ((i = 0; i < ${#names[@]}; i++)); do
      [[ "${names[i]}" != "${name}" ]] || die "host name '${name}' given twice"
      [[ "${ips[i]}" != "${ip}" ]] || die "IP ${ip} given twice: every host needs its own address (the ports are fixed)"
    done
    names+=("${name}")
    ips+=("${ip}")
  done
  ((${#names[@]} >= 1)) || die "--hosts is empty"
  if [[ -e "${out}" ]]; then
    ((force)) || die "${out} exists (--force replaces it)"
    rm -rf "${out}"
  fi
  mkdir -p "${out}"
  out="$(cd "${out}" && pwd)"

  # Keys: `cometbft init` per host, straight into that host's home.
  local vals='[]' key id peer_list=()
  for ((i = 0; i < ${#names[@]}; i++)); do
    "${COMETBFT}" init --home "${out}/${names[i]}" >/dev/null 2>&1 || die "cometbft init --home ${out}/${names[i]} failed"
    key="${out}/${names[i]}/config/priv_validator_key.json"
    vals="$(jq --arg n "${names[i]}" --slurpfile k "${key}" \
      '. + [{address: $k[0].address, pub_key: $k[0].pub_key, power: "1", name: $n}]' <<<"${vals}")"
    id="$("${COMETBFT}" show-node-id --home "${out}/${names[i]}")" || die "cometbft show-node-id failed"
    peer_list+=("${id}@${ips[i]}:${P2P_PORT}")
  done

  # One genesis: every host a validator of power 1, vote extensions from height 1 (parleyd's
  # InitChain refuses a genesis without them), app_state from parleyd registering them.
  local base="${out}/${names[0]}/config/genesis.json" app_state
  jq --arg cid "${chain_id}" --argjson v "${vals}" \
    '.chain_id = $cid | .validators = $v | .consensus_params.abci.vote_extensions_enable_height = "1"' \
    "${base}" >"${out}/genesis.json"
  app_state="$("${PARLEYD}" genesis-app-state --chain-id "${l2}" --validators-from "${out}/genesis.json" \
    --operator-base "${OPERATOR_BASE}" --epoch-heights "${epoch}" --sequencers "${seqs}" \
    --sequencer-base "${SEQUENCER_BASE}" --provers "${provers}" --prover-base "${PROVER_BASE}")" ||
    die "parleyd genesis-app-state failed"
  jq --argjson app "${app_state}" '.app_state = $app' "${out}/genesis.json" >"${out}/genesis.json.tmp"
  mv "${out}/genesis.json.tmp" "${out}/genesis.json"
  (IFS=,; echo "${peer_list[*]}") >"${out}/peers.txt"

  local others
  for ((i = 0; i < ${#names[@]}; i++)); do
    cp "${out}/genesis.json" "${out}/${names[i]}/config/genesis.json"
    others="$(tr ',' '\n' <"${out}/peers.txt" | grep -v "@${ips[i]}:${P2P_PORT}$" | paste -sd, -)" || others=""
    configure_home "${out}/${names[i]}" "${names[i]}" "${ips[i]}" "${others}"
  done

  {
    printf '# host ip operator(dev account) validator address node id\n'
    for ((i = 0; i < ${#names[@]}; i++)); do
      printf '%s %s %d %s %s\n' "${names[i]}" "${ips[i]}" $((OPERATOR_BASE + i)) \
        "$(jq -r .address "${out}/${names[i]}/config/priv_validator_key.json")" "${peer_list[i]%%@*}"
    done
  } >"${out}/hosts.txt"

  local rpc_show
  echo "Parley testnet '${chain_id}' (L2 chain id ${l2}) for ${#names[@]} hosts in ${out}"
  echo "  genesis: ${out}/genesis.json   peers: ${out}/peers.txt   table: ${out}/hosts.txt"
  echo
  for ((i = 0; i < ${#names[@]}; i++)); do
    rpc_show="$(bind_addr "${RPC_BIND}" "${ips[i]}")"
    echo "${names[i]} (${ips[i]}), operator dev account $((OPERATOR_BASE + i)):"
    echo "  copy:  rsync -a ${out}/${names[i]}/ ${ips[i]}:parley-home/     (holds this host's keys only)"
    echo "  start: parleyd start --home ~/parley-home > parleyd.log 2>&1 &    # first: the ABCI server"
    echo "         cometbft start --home ~/parley-home > cometbft.log 2>&1 &"
    echo "  check: curl -s http://${rpc_show}:${RPC_PORT}/status | jq .result.sync_info"
  done
  echo
  echo "Open TCP ${P2P_PORT} between the hosts$([[ "${RPC_BIND}" == host ]] && echo ", ${RPC_PORT} and ${ETH_PORT} to clients")$([[ "${GRPC_BIND}" == host ]] && echo ", ${GRPC_PORT} to prover workers")."
  echo "Join from another machine: localnet/testnet.sh add-node --genesis ${out}/genesis.json --peers \"\$(cat ${out}/peers.txt)\" --name NAME --ip IP --out HOME"
}

cmd_add_node() {
  local genesis="" peers="" name="" ip="" out=""
  while (($#)); do
    case "$1" in
      --genesis) genesis="${2:?}"; shift 2 ;;
      --peers) peers="${2:?}"; shift 2 ;;
      --name) name="${2:?}"; shift 2 ;;
      --ip) ip="${2:?}"; shift 2 ;;
      --out) out="${2:?}"; shift 2 ;;
      --rpc-bind) RPC_BIND="${2:?}"; shift 2 ;;
      --grpc-bind) GRPC_BIND="${2:?}"; shift 2 ;;
      --timeout-commit) TIMEOUT_COMMIT="${2:?}"; shift 2 ;;
      *) die "add-node: unknown argument '$1' (see --help)" ;;
    esac
  done
  [[ -f "${genesis}" ]] || die "add-node needs --genesis FILE (the network's genesis.json)"
  [[ -n "${peers}" ]] || die "add-node needs --peers id@ip:26656,..."
  [[ "${name}" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]] || die "add-node needs --name (letters, digits, . _ -)"
  valid_ipv4 "${ip}" || die "add-node needs --ip IPv4 (this machine's address the others reach)"
  [[ -n "${out}" ]] || die "add-node needs --out HOME"
  [[ ! -e "${out}" ]] || die "${out} exists"
  check_binds
  require_bins
  jq -e '.chain_id and .app_state' "${genesis}" >/dev/null || die "${genesis} is not a Parley genesis"
  "${COMETBFT}" init --home "${out}" >/dev/null 2>&1 || die "cometbft init --home ${out} failed"
  cp "${genesis}" "${out}/config/genesis.json"
  configure_home "${out}" "${name}" "${ip}" "${peers}"
  echo "full-node home for ${name} (${ip}) in ${out}; node id $("${COMETBFT}" show-node-id --home "${out}")"
  echo "  start: parleyd start --home ${out} & cometbft start --home ${out} &"
}

main() {
  local cmd="${1:-}"
  [[ $# -gt 0 ]] && shift
  case "${cmd}" in
    gen) cmd_gen "$@" ;;
    add-node) cmd_add_node "$@" ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
