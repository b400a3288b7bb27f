#!/usr/bin/env bash
# The monitoring check (t_prometheus), sourced by tests/e2e/run.sh: it runs against run.sh's
# localnet and uses run.sh's helpers (fail, info) and variables (LOCALNET, REPO_ROOT,
# VALIDATORS, PARLEY_LOCALNET_DIR).
#
# Starts Prometheus for the running localnet (`localnet/localnet.sh prometheus`: the Debian
# package's binary, installed by scripts/tools.sh), checks that it scrapes every node's parleyd
# and CometBFT metrics, that parley_height rises in it on every node, that the alerting rules
# of localnet/monitoring/alerts.yml pass their unit tests (alerts.test.yml) and are loaded and
# healthy, and that every metric the rules
# and the Grafana dashboard name exists (localnet/monitoring/check_metrics.py against a live
# scrape); then stops that Prometheus again.

MONITORING_DIR="${REPO_ROOT}/localnet/monitoring"

# prom_get PATH [CURL ARGS...] — GET from the localnet's Prometheus HTTP API.
prom_get() {
  local path="$1"
  shift
  curl -sS --max-time 10 "$@" "http://127.0.0.1:${PARLEY_LOCALNET_PROMETHEUS_PORT:-9090}${path}"
}

# prom_query QUERY — the instant vector of QUERY as "node value" lines, sorted by node.
prom_query() {
  prom_get /api/v1/query -G --data-urlencode "query=$1" |
    jq -r '.data.result[] | "\(.metric.node // .metric.instance) \(.value[1])"' | sort
}

t_prometheus() {
  local c
  for c in prometheus promtool; do
    command -v "${c}" >/dev/null 2>&1 || fail "${c} is not installed (scripts/tools.sh installs the Debian package prometheus as root)"
  done
  local out
  out="$(promtool check rules "${MONITORING_DIR}/alerts.yml" 2>&1)" || fail "promtool check rules: ${out}"
  # The rules' unit tests: each alert fires on its failure played as synthetic series, with
  # its labels and text, and stays quiet on the healthy series beside it.
  out="$(promtool test rules "${MONITORING_DIR}/alerts.test.yml" 2>&1)" || fail "promtool test rules: ${out}"
  # Every alert of alerts.yml has a test in which it fires (a new rule needs its test).
  out="$(python3 - "${MONITORING_DIR}/alerts.yml" "${MONITORING_DIR}/alerts.test.yml" <<'PY'
import re, sys
rules = re.findall(r"^\s*- alert: (\w+)", open(sys.argv[1]).read(), re.M)
fires = set(re.findall(r"alertname: (\w+)\n\s*exp_alerts:\s*\n", open(sys.argv[2]).read()))
missing = [r for r in rules if r not in fires]
print(" ".join(missing) if missing else f"{len(rules)}")
sys.exit(1 if missing else 0)
PY
)" || fail "alerts.test.yml makes these alerts fire nowhere: ${out}"
  info "promtool test rules: each of the ${out} alerts fires on its failure played as synthetic series, and not on the healthy series beside it"
  local n_rules
  n_rules="$(grep -c '^ *- alert: ' "${MONITORING_DIR}/alerts.yml")"
  python3 -m json.tool "${MONITORING_DIR}/grafana-dashboard.json" >/dev/null ||
    fail "grafana-dashboard.json does not parse as JSON"

  trap '"${LOCALNET}" prometheus stop >/dev/null 2>&1 || true' EXIT
  "${LOCALNET}" prometheus >"${WORK}/prometheus.log" 2>&1 ||
    fail "localnet.sh prometheus: $(tail -n 3 "${WORK}/prometheus.log")"
  out="$(promtool check config "${PARLEY_LOCALNET_DIR}/prometheus/prometheus.yml" 2>&1)" ||
    fail "promtool check config of the generated config: ${out}"

  # Every target up: VALIDATORS parleyd + VALIDATORS CometBFT.
  local want=$((2 * VALIDATORS)) targets up=0 total=0 deadline=$((SECONDS + 60))
  while :; do
    targets="$(prom_get /api/v1/targets 2>/dev/null || true)"
    total="$(jq '[.data.activeTargets[]] | length' <<<"${targets}" 2>/dev/null || echo 0)"
    up="$(jq '[.data.activeTargets[] | select(.health == "up")] | length' <<<"${targets}" 2>/dev/null || echo 0)"
    ((total == want && up == want)) && break
    ((SECONDS < deadline)) || fail "after 60s ${up} of ${total} targets up (want ${want}): $(jq -c '[.data.activeTargets[] | select(.health != "up") | {job: .labels.job, node: .labels.node, health, lastError}]' <<<"${targets}" 2>/dev/null)"
    sleep 1
  done
  local jobs
  jobs="$(jq -r '[.data.activeTargets[].labels.job] | group_by(.) | map("\(.[0]) \(length)") | join(", ")' <<<"${targets}")"
  [[ "${jobs}" == "cometbft ${VALIDATORS}, parleyd ${VALIDATORS}" ]] || fail "targets by job: ${jobs}"
  info "prometheus scrapes ${up}/${total} targets up (${jobs})"

  # parley_height: one series per node, each rising.
  local first second deadline2=$((SECONDS + 60)) rising
  first="$(prom_query parley_height)"
  while [[ "$(grep -c . <<<"${first}")" -ne "${VALIDATORS}" ]]; do
    ((SECONDS < deadline2)) || fail "parley_height has $(grep -c . <<<"${first}") series, not ${VALIDATORS}: ${first}"
    sleep 1
    first="$(prom_query parley_height)"
  done
  while :; do
    sleep 3
    second="$(prom_query parley_height)"
    rising="$(join <(echo "${first}") <(echo "${second}") | awk '$3 > $2 { n++ } END { print n + 0 }')"
    ((rising == VALIDATORS)) && break
    ((SECONDS < deadline2)) || fail "parley_height did not rise on every node within 60s: before ${first//$'\n'/; }, after ${second//$'\n'/; }"
  done
  info "parley_height in prometheus: ${first//$'\n'/, } -> ${second//$'\n'/, }"
  local cmt
  cmt="$(prom_query cometbft_consensus_latest_block_height | wc -l)"
  ((cmt == VALIDATORS)) || fail "cometbft_consensus_latest_block_height has ${cmt} series, not ${VALIDATORS}"

  # The alerting rules loaded and evaluated without error.
  local rules loaded healthy
  rules="$(prom_get /api/v1/rules)"
  loaded="$(jq '[.data.groups[].rules[] | select(.type == "alerting")] | length' <<<"${rules}")"
  healthy="$(jq '[.data.groups[].rules[] | select(.type == "alerting" and .health == "ok")] | length' <<<"${rules}")"
  ((loaded == n_rules)) || fail "prometheus loaded ${loaded} alerting rules, alerts.yml has ${n_rules}"
  # A rule's health is "unknown" until its first evaluation (every 5s).
  deadline=$((SECONDS + 30))
  while ((healthy != loaded)); do
    ((SECONDS < deadline)) || fail "rules not healthy: $(jq -c '[.data.groups[].rules[] | select(.health != "ok") | {name, health, lastError}]' <<<"${rules}")"
    sleep 2
    rules="$(prom_get /api/v1/rules)"
    healthy="$(jq '[.data.groups[].rules[] | select(.type == "alerting" and .health == "ok")] | length' <<<"${rules}")"
  done
  info "alerting rules loaded, health ok: $(jq -r '[.data.groups[].rules[].name] | join(" ")' <<<"${rules}")"
  local firing
  firing="$(prom_get /api/v1/alerts | jq -r '[.data.alerts[] | "\(.labels.alertname)(\(.state))"] | join(" ")')"
  info "alerts pending or firing now: ${firing:-none}"

  # Every metric the rules and the dashboard name exists on a live node (or is declared).
  out="$(python3 "${MONITORING_DIR}/check_metrics.py" --declared "${REPO_ROOT}/app/src/node/metrics.rs" \
    --scrape "http://127.0.0.1:9100/metrics" --scrape "http://127.0.0.1:26660/metrics" \
    "${MONITORING_DIR}/alerts.yml" "${MONITORING_DIR}/grafana-dashboard.json" 2>&1)" ||
    fail "metric names: $(grep -E 'UNKNOWN|cannot|no PromQL' <<<"${out}" | tr '\n' ' ')"
  info "dashboard and rules: $(tail -n 1 <<<"${out}")"
  local core
  for core in parley_height parley_l2_txs_total parley_slots_total cometbft_consensus_missing_validators; do
    grep -q "^live  *${core} " <<<"${out}" || fail "${core} is named in the rules or dashboard but not live on node0"
  done
}
