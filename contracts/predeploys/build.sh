#!/usr/bin/env bash
# Compiles Parley's genesis predeploys with the project's solcjs (0.8.19, via the shim that
# scripts/tools.sh installs at .tools/bin/solc) and writes their RUNTIME bytecode, as one line
# of lowercase hex without 0x, where app/src/chain/predeploys.rs includes it:
#
#   contracts/predeploys/build.sh [OUT_DIR]     (default: app/src/chain/predeploys)
#
#   Aggregator.sol       -> aggregator.hex        Multicall3-compatible, at 0xcA11…CA11
#   Create2Deployer.yul  -> create2_deployer.hex  deterministic CREATE2 deployer, at 0x4e59…956c
#   L2Withdrawals.sol    -> l2_withdrawals.hex    L2 → L1 withdrawals, at 0x…0b11d6 (bridge chains)
#
# Deterministic: optimizer on (200 runs), evmVersion "paris" (the newest 0.8.19 knows; the code
# runs unchanged on the chain's Prague), and no metadata (no CBOR trailer), so the bytes depend
# only on the source and the compiler. Re-running gives identical files; check.sh verifies that
# the committed hex matches the sources. Needs node and jq.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${SCRIPT_DIR}/../.." && pwd)"
SOLC="${SOLC:-${REPO_ROOT}/.tools/bin/solc}"
OUT_DIR="${1:-${REPO_ROOT}/app/src/chain/predeploys}"
EXPECTED_SOLC="0.8.19+commit.7dd6d404"

die() {
  echo "predeploys/build.sh: ERROR: $*" >&2
  exit 1
}

[[ -x "${SOLC}" ]] || die "no solc at ${SOLC}; run scripts/tools.sh first"
command -v jq >/dev/null 2>&1 || die "jq is not on PATH"
version="$("${SOLC}" --version | sed -n 's/^Version: //p')"
[[ "${version}" == "${EXPECTED_SOLC}"* ]] ||
  die "solc is '${version}', expected ${EXPECTED_SOLC} (the bytecode must not depend on the machine)"
mkdir -p "${OUT_DIR}"

# compile LANGUAGE FILE OBJECT SELECTOR: prints the hex of one compiled object.
# SELECTOR is the output to take: evm.deployedBytecode (Solidity) or evm.bytecode (a Yul object
# without a constructor, whose code is the runtime code).
compile() {
  local language="$1" file="$2" object="$3" selector="$4" input output errors hex
  input="$(jq -n --arg lang "${language}" --arg file "${file}" --arg sel "${selector}.object" \
    --rawfile src "${SCRIPT_DIR}/${file}" '{
      language: $lang,
      sources: { ($file): { content: $src } },
      settings: {
        optimizer: { enabled: true, runs: 200 },
        evmVersion: "paris",
        metadata: { appendCBOR: false, bytecodeHash: "none" },
        outputSelection: { "*": { "*": [$sel] } }
      }
    }')"
  output="$("${SOLC}" --standard-json <<<"${input}")" || die "solc failed on ${file}"
  errors="$(jq -r '[.errors[]? | select(.severity == "error") | .formattedMessage] | join("\n")' <<<"${output}")"
  [[ -z "${errors}" ]] || die "${file}: ${errors}"
  hex="$(jq -r --arg file "${file}" --arg obj "${object}" --arg sel "${selector}" \
    '.contracts[$file][$obj] | getpath($sel | split(".")) | .object // empty' <<<"${output}")"
  [[ "${hex}" =~ ^[0-9a-f]+$ ]] || die "${file}: no ${selector} for ${object} in solc output"
  printf '%s\n' "${hex}"
}

compile Solidity Aggregator.sol Aggregator evm.deployedBytecode >"${OUT_DIR}/aggregator.hex"
compile Yul Create2Deployer.yul Create2Deployer evm.bytecode >"${OUT_DIR}/create2_deployer.hex"
compile Solidity L2Withdrawals.sol L2Withdrawals evm.deployedBytecode >"${OUT_DIR}/l2_withdrawals.hex"
for f in aggregator create2_deployer l2_withdrawals; do
  echo "predeploys/build.sh: wrote ${OUT_DIR}/${f}.hex ($(($(tr -d '\n' <"${OUT_DIR}/${f}.hex" | wc -c) / 2)) bytes)" >&2
done
