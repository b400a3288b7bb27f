#!/usr/bin/env bash
# The check harness shared by tests/e2e/run.sh and tests/e2e/netns.sh (sourced; they set WORK,
# PASSED and FAILED). A check is a function run in a subshell with errexit: it ends with `fail
# REASON` or by falling off its end, and reports what it saw with `info`. run_check prints one
# TAP-like line per check (`ok - NAME (S s)` or `not ok - NAME (S s): REASON`), its INFO lines
# as `# ...`, and on failure the last 25 lines of its output.

# fail REASON — end the current check with REASON (checks run in a subshell).
fail() {
  echo "FAIL: $*"
  exit 1
}

# info TEXT — a line of what the check measured or saw, printed under its ok line.
info() { echo "INFO: $*"; }

# run_check NAME FUNCTION — run FUNCTION in a subshell with errexit, print ok / not ok.
run_check() {
  local name="$1" fn="$2" out="${WORK}/check.out" rc reason t=${SECONDS}
  set +e
  (
    exec 9>&- # a run lock the caller holds on fd 9 stays with the caller alone
    set -euo pipefail
    "${fn}"
  ) >"${out}" 2>&1
  rc=$?
  set -e
  if ((rc == 0)); then
    PASSED=$((PASSED + 1))
    echo "ok - ${name} ($((SECONDS - t)) s)"
    grep '^INFO: ' "${out}" | sed 's/^INFO: /# /' || true
  else
    FAILED=$((FAILED + 1))
    reason="$(grep '^FAIL: ' "${out}" | tail -n 1 | sed 's/^FAIL: //')"
    [[ -n "${reason}" ]] || reason="exit ${rc}: $(grep -v '^\s*$' "${out}" | tail -n 1)"
    echo "not ok - ${name} ($((SECONDS - t)) s): ${reason}"
    sed 's/^/#   /' "${out}" | tail -n 25
  fi
}
