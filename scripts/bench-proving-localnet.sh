#!/usr/bin/env bash
# A proving localnet under a steady dApp load (the proving issue's sustained-load figure):
# PARLEY_LOCALNET_PROVERS provers with PARLEY_LOCALNET_PROVER_WORKERS parley-prover workers
# each, one cast transfer every INTERVAL seconds for MINUTES minutes. Every 30 s it prints the
# height, the unproven slots, the last proven slot, backpressure (unproven slots at the limit,
# or the epoch full) and the RSS of every
# localnet process together. At the end it lets the provers drain, then prints a SUMMARY line
# from node 0's metrics.
#
#   scripts/bench-proving-localnet.sh [minutes=30] [interval_s=20]
#
# The transfers come from dev accounts 0–9, one after the other. Defaults (each
# overridable in the environment): 2 provers × 2 workers, circuit capacity 16,
# max_unproven_slots 16, proof_window 60, commit_window 16. Nothing else should run on the
# machine meanwhile.
#
# With PARLEY_LOCALNET_EPOCH_SLOTS (and PARLEY_LOCALNET_AGG_CAPACITY, _AGG_WINDOW) epochs are
# aggregated too: each sample then also says how many epochs closed and were aggregated, and
# every third transfer is followed until its stage is `aggregated`, so the SUMMARY gives the
# latency from sending to `proven` and to `aggregated` (at the 30 s sampling resolution).
set -euo pipefail

MINUTES="${1:-30}"
INTERVAL="${2:-20}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PARLEY_LOCALNET_DIR="${PARLEY_LOCALNET_DIR:-${TMPDIR:-/tmp}/parley-proving-bench}"
export PARLEY_LOCALNET_PROVERS="${PARLEY_LOCALNET_PROVERS:-2}"
export PARLEY_LOCALNET_PROVER_WORKERS="${PARLEY_LOCALNET_PROVER_WORKERS:-2}"
export PARLEY_LOCALNET_PROVING="${PARLEY_LOCALNET_PROVING:-16}"
export PARLEY_LOCALNET_MAX_UNPROVEN="${PARLEY_LOCALNET_MAX_UNPROVEN:-16}"
export PARLEY_LOCALNET_PROOF_WINDOW="${PARLEY_LOCALNET_PROOF_WINDOW:-60}"
export PARLEY_LOCALNET_COMMIT_WINDOW="${PARLEY_LOCALNET_COMMIT_WINDOW:-16}"
LOCALNET="${ROOT}/localnet/localnet.sh"
CAST="${ROOT}/.tools/bin/cast"
PARLEYD="${CARGO_TARGET_DIR:-${ROOT}/target}/release/parleyd"
RPC=http://127.0.0.1:8545

"${LOCALNET}" down >/dev/null 2>&1 || true
"${LOCALNET}" up
trap '"${LOCALNET}" down >/dev/null 2>&1 || true' EXIT

rpc() {
  curl -sS --max-time 10 -H 'content-type: application/json' \
    -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\",\"params\":$2}" "${RPC}" | jq -c .result
}
rss_mib() { ps -o rss= -C parleyd -C cometbft -C parley-prover | awk '{s += $1} END {printf "%.0f", s / 1024}'; }
metric() { curl -fsS http://127.0.0.1:9100/metrics | awk -v m="$1" '$1 == m {s += $2} END {printf "%.0f", s}'; }

keys=()
addrs=()
for a in $(seq 0 9); do
  keys+=("$("${PARLEYD}" dev-key "${a}")")
  addrs+=("$("${CAST}" wallet address "${keys[-1]}")")
done
start=${SECONDS}
h0="$("${CAST}" block-number --rpc-url "${RPC}")"
sent=0 failed=0 last_error="" next_sample=0 max_unproven=0 max_rss=0 held_samples=0 full_samples=0 samples=0
EPOCHS="${PARLEY_LOCALNET_EPOCH_SLOTS:-0}"
# Followed transfers: hash, the second it was sent, and when it was first seen proven and
# aggregated (empty until then).
declare -A sent_at=() proven_at=() aggregated_at=()
follow() {
  local h
  for h in "${!sent_at[@]}"; do
    [[ -n "${aggregated_at[$h]:-}" ]] && continue
    local st
    st="$(rpc parley_getTransactionStage "[\"${h}\"]" | jq -r '.stage // empty')"
    case "${st}" in
      proven) [[ -n "${proven_at[$h]:-}" ]] || proven_at[$h]=$((SECONDS - start)) ;;
      aggregated)
        [[ -n "${proven_at[$h]:-}" ]] || proven_at[$h]=$((SECONDS - start))
        aggregated_at[$h]=$((SECONDS - start))
        ;;
    esac
  done
}
# Closed and aggregated epochs so far (walks forward from the first not yet settled; the
# state of that one in epoch_state). Not in a subshell: it moves the counters.
next_epoch=0 epochs_aggregated=0 epochs_empty=0 epoch_state=none
epochs() {
  while :; do
    epoch_state="$(rpc parley_getEpoch "[${next_epoch}]" | jq -r '.state // "none"')"
    case "${epoch_state}" in
      aggregated) epochs_aggregated=$((epochs_aggregated + 1)) ;;
      empty) epochs_empty=$((epochs_empty + 1)) ;;
      *) break ;;
    esac
    next_epoch=$((next_epoch + 1))
  done
}
echo "# ${PARLEY_LOCALNET_PROVERS} provers × ${PARLEY_LOCALNET_PROVER_WORKERS} workers, capacity ${PARLEY_LOCALNET_PROVING}, epochs of ${EPOCHS} slots (0: off), one transfer every ${INTERVAL} s for ${MINUTES} min"
while ((SECONDS - start < MINUTES * 60)); do
  # Accounts in turn, each with its pending nonce: cast fills the nonce from the latest
  # state (against anvil too), so a second transfer while the first is still pending (held
  # in a full epoch, say) would repeat it and be refused as already known.
  i=$(((sent + failed) % ${#keys[@]}))
  nonce="$("${CAST}" nonce --block pending --rpc-url "${RPC}" "${addrs[$i]}" 2>/dev/null || echo 0)"
  if out="$("${CAST}" send --async --rpc-url "${RPC}" --private-key "${keys[$i]}" --nonce "${nonce}" \
    --value 1 0x000000000000000000000000000000000000cafE 2>&1)"; then
    ((EPOCHS > 0 && sent % 3 == 0)) && sent_at[${out}]=$((SECONDS - start))
    sent=$((sent + 1))
  else
    failed=$((failed + 1)) last_error="${out: -200}"
  fi
  if ((SECONDS - start >= next_sample)); then
    c="$(rpc parley_getProofChain '[]')"
    u=$(($(jq -r .unproven <<<"${c}")))
    r="$(rss_mib)"
    ((u > max_unproven)) && max_unproven=${u}
    ((r > max_rss)) && max_rss=${r}
    # Backpressure from unproven slots (a full epoch's hold is counted apart).
    ((u >= PARLEY_LOCALNET_MAX_UNPROVEN)) && held_samples=$((held_samples + 1))
    [[ "$(jq -r .epochFull <<<"${c}")" == true ]] && full_samples=$((full_samples + 1))
    samples=$((samples + 1))
    agg=""
    if ((EPOCHS > 0)); then
      follow
      epochs
      agg=" epoch=${next_epoch}:${epoch_state} aggregated=${epochs_aggregated} empty=${epochs_empty} epochFull=$(jq -r .epochFull <<<"${c}")"
    fi
    echo "t=$((SECONDS - start))s height=$("${CAST}" block-number --rpc-url "${RPC}") unproven=${u} provenSlot=$(($(jq -r .provenSlot <<<"${c}"))) backpressure=$(jq -r .backpressure <<<"${c}")${agg} sent=${sent} failed=${failed} rss=${r}MiB${last_error:+ last_error=${last_error}}"
    next_sample=$((next_sample + 30))
  fi
  sleep "${INTERVAL}"
done
h1="$("${CAST}" block-number --rpc-url "${RPC}")"
elapsed=$((SECONDS - start))
# Drain: the provers catch up once the load stops.
drain_start=${SECONDS}
while :; do
  u=$(($(rpc parley_getProofChain '[]' | jq -r .unproven)))
  ((u == 0 || SECONDS - drain_start > 600)) && break
  sleep 5
done
# With epochs: wait (up to 15 min) until every followed transfer is aggregated.
if ((EPOCHS > 0)); then
  while :; do
    follow
    left=0
    for h in "${!sent_at[@]}"; do [[ -n "${aggregated_at[$h]:-}" ]] || left=$((left + 1)); done
    ((left == 0 || SECONDS - drain_start > 900)) && break
    sleep 15
  done
  epochs
  lat() { # name of the array of stage times: "count mean max" of (stage − sent) in seconds
    local -n at=$1
    local h n=0 sum=0 max=0 d
    for h in "${!sent_at[@]}"; do
      [[ -n "${at[$h]:-}" ]] || continue
      d=$((at[$h] - sent_at[$h])) n=$((n + 1)) sum=$((sum + d))
      ((d > max)) && max=${d}
    done
    echo "n=${n} mean=$((n > 0 ? sum / n : 0))s max=${max}s"
  }
  echo "LATENCY followed=${#sent_at[@]} to_proven: $(lat proven_at) to_aggregated: $(lat aggregated_at) epochs_aggregated=${epochs_aggregated} epochs_empty=${epochs_empty} aggregates_verified=$(metric 'parley_aggregates_total{outcome="verified"}') aggregate_penalties=$(metric 'parley_prover_penalties_total{reason="invalid_aggregate"}')"
fi
proven="$(metric 'parley_slots_proven_total{path="window"}')"
fallback="$(metric 'parley_slots_proven_total{path="fallback"}')"
lat_sum="$(metric parley_proof_latency_heights_sum)"
lat_n="$(metric parley_proof_latency_heights_count)"
echo "SUMMARY minutes=$((elapsed / 60)) interval_s=${INTERVAL} sent=${sent} failed=${failed} heights=$((h1 - h0)) heights_per_min=$(python3 -c "print(round(($h1 - $h0) * 60 / $elapsed, 1))") proven_in_window=${proven} proven_fallback=${fallback} proofs_per_min=$(python3 -c "print(round(($proven + $fallback) * 60 / ($elapsed + $SECONDS - $drain_start), 2))") mean_latency_heights=$(python3 -c "print(round($lat_sum / max($lat_n, 1), 1))") max_unproven=${max_unproven}/${PARLEY_LOCALNET_MAX_UNPROVEN} backpressure_samples=${held_samples}/${samples} epoch_full_samples=${full_samples}/${samples} drained_in_s=$((SECONDS - drain_start)) unproven_after=${u} penalties=$(metric parley_prover_penalties_total) peak_rss_all_processes=${max_rss}MiB"
