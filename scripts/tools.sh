#!/usr/bin/env bash
# Installs the external programs Parley needs into <repo>/.tools/ (gitignored), at the versions
# pinned in scripts/versions.env. Idempotent: a tool already at its pinned version is skipped.
#
#   scripts/tools.sh            install what is missing, print a one-line summary
#   scripts/tools.sh --check    install nothing; exit 1 naming what is missing or wrong
#
# Afterwards put `<repo>/.tools/bin` on PATH (or call the binaries by path):
#   cometbft   CometBFT, built with `go install` from the Go module proxy
#   anvil, forge, cast   Foundry's NATIVE binaries from the npm per-platform packages
#   solc       a shim over npm `solc` (solcjs) that answers `--version` and `--standard-json`,
#              so forge can use it (foundry.toml: offline = true, solc = "<repo>/.tools/bin/solc")
#   chromium   the Debian package `chromium` (/usr/bin/chromium), which the web view's
#              browser test drives headless (tests/e2e/webview); apt-get as root, like prometheus
#   prometheus, promtool   the Debian package `prometheus` (/usr/bin; optional: only
#              PARLEY_LOCALNET_PROMETHEUS=1 and the monitoring check use it). Installed with
#              apt-get when we are root; elsewhere, or if apt fails, a warning. Its own service,
#              where apt starts one, plays no part: the localnet runs its own prometheus
#
# Needs: go, node + npm (the machine's own), and the Go module proxy and npm registry (and the
# Debian archive for prometheus). Nothing is downloaded from anywhere else.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${SCRIPT_DIR}/.." && pwd)"
# shellcheck source=versions.env
source "${SCRIPT_DIR}/versions.env"

TOOLS_DIR="${REPO_ROOT}/.tools"
BIN_DIR="${TOOLS_DIR}/bin"
NPM_DIR="${TOOLS_DIR}/npm"
LIB_DIR="${TOOLS_DIR}/lib"

MODE="install"
case "${1:-}" in
  "") ;;
  --check) MODE="check" ;;
  -h | --help)
    sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "tools.sh: unknown argument '$1' (use --check or nothing)" >&2
    exit 2
    ;;
esac

log() { echo "tools.sh: $*" >&2; }
die() {
  echo "tools.sh: ERROR: $*" >&2
  exit 1
}

need_cmd() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' is not on PATH; $2"
}

# ---- version probes (each prints the installed version or nothing) ----

# The module version the binary was built from, read from its Go build info (`go version -m`).
# We do not trust `cometbft version` for this: upstream's v0.38.21 tag still carries
# TMCoreSemVer = "0.38.19" (it was not bumped), so the binary calls itself 0.38.19.
cometbft_installed_version() {
  [[ -x "${BIN_DIR}/cometbft" ]] || return 0
  # It must also run.
  timeout 20 "${BIN_DIR}/cometbft" version >/dev/null 2>&1 || return 0
  go version -m "${BIN_DIR}/cometbft" 2>/dev/null |
    awk '$1 == "mod" && $2 == "github.com/cometbft/cometbft" { sub(/^v/, "", $3); print $3; exit }'
}

# What the binary says about itself (see above for why it differs).
cometbft_self_version() {
  timeout 20 "${BIN_DIR}/cometbft" version 2>/dev/null | head -n1 || true
}

# `cast --version` prints e.g. "cast Version: 1.7.1-v1.7.1"; print "1.7.1".
foundry_installed_version() {
  local tool="$1"
  [[ -x "${BIN_DIR}/${tool}" ]] || return 0
  timeout 20 "${BIN_DIR}/${tool}" --version 2>/dev/null |
    sed -n 's/.*Version: \([0-9][0-9.]*\).*/\1/p' | head -n1 || true
}

solc_installed_version() {
  [[ -x "${BIN_DIR}/solc" ]] || return 0
  timeout 60 "${BIN_DIR}/solc" --version 2>/dev/null |
    sed -n 's/^Version: \([0-9][0-9.]*\).*/\1/p' | head -n1 || true
}

# ---- CometBFT ----

install_cometbft() {
  local want="${COMETBFT_VERSION#v}" have
  need_cmd go "install Go (the machine's toolchain) to build CometBFT"
  have="$(cometbft_installed_version)"
  if [[ "${have}" == "${want}" ]]; then
    log "cometbft ${have} already installed"
    return 0
  fi
  [[ "${MODE}" == "check" ]] && die "cometbft ${want} missing (found '${have:-none}'); run scripts/tools.sh"
  log "building cometbft ${COMETBFT_VERSION} with go install (a few minutes on 2 cores)..."
  local out rc=0
  # GOTOOLCHAIN=local: never try to download another Go toolchain.
  out="$(GOBIN="${BIN_DIR}" GOTOOLCHAIN=local timeout 1500 \
    go install "${COMETBFT_MODULE}@${COMETBFT_VERSION}" 2>&1)" || rc=$?
  if ((rc != 0)); then
    if grep -qiE 'sum\.golang\.org|checksum database|verifying .*(go\.mod|module)|GOSUMDB' <<<"${out}"; then
      log "checksum database unreachable; retrying this one install with GOSUMDB=off"
      log "first attempt said: $(tail -n3 <<<"${out}" | tr '\n' ' ')"
      rc=0
      out="$(GOBIN="${BIN_DIR}" GOTOOLCHAIN=local GOSUMDB=off timeout 1500 \
        go install "${COMETBFT_MODULE}@${COMETBFT_VERSION}" 2>&1)" || rc=$?
    fi
    if ((rc != 0)); then
      printf '%s\n' "${out}" >&2
      die "go install ${COMETBFT_MODULE}@${COMETBFT_VERSION} failed (exit ${rc}); see the output above"
    fi
  fi
  have="$(cometbft_installed_version)"
  [[ "${have}" == "${want}" ]] ||
    die "after install, ${BIN_DIR}/cometbft was built from module version '${have:-unknown}' (cometbft version: '$(cometbft_self_version)'), expected ${want}"
  log "cometbft ${have} installed"
}

# ---- Foundry (native binaries from npm) ----

install_foundry() {
  local tool have all_ok=1
  for tool in anvil forge cast; do
    have="$(foundry_installed_version "${tool}")"
    [[ "${have}" == "${FOUNDRY_VERSION}" ]] || all_ok=0
  done
  if ((all_ok)); then
    log "foundry ${FOUNDRY_VERSION} (anvil, forge, cast) already installed"
    return 0
  fi
  [[ "${MODE}" == "check" ]] && die "foundry ${FOUNDRY_VERSION} missing or wrong version; run scripts/tools.sh"
  need_cmd npm "install Node.js 20 + npm to fetch Foundry from the npm registry"
  local pkgs=()
  for tool in anvil forge cast; do
    pkgs+=("@foundry-rs/${tool}-${FOUNDRY_NPM_PLATFORM}@${FOUNDRY_VERSION}")
  done
  npm_install "${pkgs[@]}"
  for tool in anvil forge cast; do
    local src="${NPM_DIR}/node_modules/@foundry-rs/${tool}-${FOUNDRY_NPM_PLATFORM}/bin/${tool}"
    [[ -f "${src}" ]] || die "npm package @foundry-rs/${tool}-${FOUNDRY_NPM_PLATFORM} has no bin/${tool} (looked at ${src})"
    # The native ELF binary, not a node wrapper: a killed wrapper would leave the real
    # process running.
    head -c4 "${src}" | grep -q $'\x7fELF' || die "${src} is not a native ELF binary"
    chmod +x "${src}"
    ln -sfn "${src}" "${BIN_DIR}/${tool}"
    have="$(foundry_installed_version "${tool}")"
    [[ "${have}" == "${FOUNDRY_VERSION}" ]] ||
      die "after install, '${tool} --version' says '${have:-nothing}', expected ${FOUNDRY_VERSION}"
  done
  log "foundry ${FOUNDRY_VERSION} installed"
}

# ---- solcjs + shim ----

npm_install() {
  mkdir -p "${NPM_DIR}"
  # A package.json of our own keeps npm from walking up into the repository.
  [[ -f "${NPM_DIR}/package.json" ]] ||
    printf '{ "name": "parley-tools", "private": true }\n' >"${NPM_DIR}/package.json"
  log "npm install $*"
  local rc=0
  timeout 900 npm install --prefix "${NPM_DIR}" --no-audit --no-fund --no-update-notifier \
    --loglevel=error --save-exact "$@" >&2 || rc=$?
  ((rc == 0)) || die "npm install $* failed (exit ${rc}); is the npm registry reachable?"
}

write_solc_shim() {
  mkdir -p "${LIB_DIR}"
  cat >"${LIB_DIR}/solc-shim.js" <<'JS'
// solc shim over npm `solc` (solcjs): the subset of the native solc command line that forge
// and our scripts use. Generated by scripts/tools.sh; do not edit.
//   solc --version                       -> "Version: <x.y.z+commit...>" like native solc
//   solc --standard-json [--base-path P] [--include-path P]... [--allow-paths a,b] < in.json
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require(path.join(__dirname, '..', 'npm', 'node_modules', 'solc'));

const args = process.argv.slice(2);
if (args.includes('--version') || args.includes('-v')) {
  process.stdout.write('solc, the solidity compiler commandline interface\n');
  process.stdout.write('Version: ' + solc.version() + '\n');
  process.exit(0);
}
if (!args.includes('--standard-json')) {
  process.stderr.write('solc shim (solcjs ' + solc.version() + '): only --version and ' +
    '--standard-json (JSON on stdin, JSON on stdout) are supported; got: ' + args.join(' ') + '\n');
  process.exit(2);
}

const roots = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const take = (flag) => (a === flag ? args[++i] : a.startsWith(flag + '=') ? a.slice(flag.length + 1) : null);
  let v;
  if ((v = take('--base-path')) !== null) roots.push(v);
  else if ((v = take('--include-path')) !== null) roots.push(v);
  else if ((v = take('--allow-paths')) !== null) roots.push(...v.split(',').filter(Boolean));
}
roots.push(process.cwd());

function findImports(p) {
  const candidates = path.isAbsolute(p) ? [p] : roots.map((r) => path.resolve(r, p));
  for (const c of candidates) {
    try {
      return { contents: fs.readFileSync(c, 'utf8') };
    } catch (_) {
      // try the next root
    }
  }
  return { error: 'File not found: ' + p + ' (searched ' + candidates.join(', ') + ')' };
}

let input;
try {
  input = fs.readFileSync(0, 'utf8');
} catch (e) {
  process.stderr.write('solc shim: cannot read standard JSON from stdin: ' + e.message + '\n');
  process.exit(1);
}
process.stdout.write(solc.compile(input, { import: findImports }));
process.stdout.write('\n');
JS
  cat >"${BIN_DIR}/solc" <<'SH'
#!/usr/bin/env bash
# solc shim over npm solc (solcjs); generated by scripts/tools.sh. See ../lib/solc-shim.js.
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
exec node "${here}/../lib/solc-shim.js" "$@"
SH
  chmod +x "${BIN_DIR}/solc"
}

install_solc() {
  local have
  # The shim is ours and cheap to write: refresh it whenever solcjs is present, so a changed
  # shim reaches machines that already have solcjs.
  if [[ "${MODE}" == "install" && -d "${NPM_DIR}/node_modules/solc" ]]; then
    write_solc_shim
  fi
  have="$(solc_installed_version)"
  if [[ "${have}" == "${SOLC_VERSION}" ]]; then
    log "solc (solcjs) ${have} already installed"
    return 0
  fi
  [[ "${MODE}" == "check" ]] && die "solc ${SOLC_VERSION} missing (found '${have:-none}'); run scripts/tools.sh"
  need_cmd node "install Node.js 20 to run solcjs"
  npm_install "solc@${SOLC_VERSION}"
  write_solc_shim
  have="$(solc_installed_version)"
  [[ "${have}" == "${SOLC_VERSION}" ]] ||
    die "after install, '${BIN_DIR}/solc --version' says '${have:-nothing}', expected ${SOLC_VERSION}"
  log "solc (solcjs) ${have} installed, shim at ${BIN_DIR}/solc"
}

# ---- Debian packages: Chromium (the web view's browser test) and Prometheus ----

chromium_installed_version() {
  [[ -x /usr/bin/chromium ]] || return 0
  timeout 20 /usr/bin/chromium --version 2>/dev/null |
    sed -n 's/^Chromium \([0-9][0-9.]*\).*/\1/p' | head -n1 || true
}

prometheus_installed_version() {
  command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || return 0
  timeout 20 prometheus --version 2>/dev/null |
    sed -n 's/^prometheus, version \([0-9][0-9.]*\).*/\1/p' | head -n1 || true
}

# install_deb NAME PACKAGE VERSION_FN NEEDED_BY — apt-get install PACKAGE (no recommends) when
# VERSION_FN prints nothing. These tools are optional for the rest: without root and apt-get,
# or when apt fails, a warning names what needs NAME, and what needs it fails saying so.
install_deb() {
  local name="$1" pkg="$2" version_fn="$3" needed_by="$4" have rc=0
  have="$("${version_fn}")"
  if [[ -n "${have}" ]]; then
    log "${name} ${have} (Debian package ${pkg}) already installed"
    return 0
  fi
  [[ "${MODE}" == "check" ]] && die "${name} missing; run scripts/tools.sh (as root) or apt-get install ${pkg}"
  if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    log "WARNING: ${name} is not installed and this is not a root shell with apt-get; run: sudo apt-get install ${pkg} (needed by ${needed_by})"
    return 0
  fi
  log "installing ${name}: apt-get install ${pkg} (the Debian package)"
  # No recommends: prometheus-node-exporter, for one, would listen on :9100, a localnet port.
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y --no-install-recommends "${pkg}" >&2 || rc=$?
  if ((rc != 0)); then
    log "apt-get install failed (exit ${rc}); refreshing the package lists once"
    rc=0
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get update >&2 || true
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y --no-install-recommends "${pkg}" >&2 || rc=$?
  fi
  if ((rc != 0)); then
    log "WARNING: apt-get install ${pkg} failed (exit ${rc}); ${name} stays missing (needed by ${needed_by})"
    return 0
  fi
  have="$("${version_fn}")"
  [[ -n "${have}" ]] || die "after apt-get install ${pkg}, ${name} does not answer --version"
  log "${name} ${have} installed"
}

main() {
  mkdir -p "${BIN_DIR}"
  # Several scripts (and engineers) may call this at once: serialize installs.
  exec 9>"${TOOLS_DIR}/.lock"
  timeout_lock=1800
  flock -w "${timeout_lock}" 9 || die "could not take ${TOOLS_DIR}/.lock within ${timeout_lock}s"
  install_cometbft
  install_foundry
  install_solc
  install_deb prometheus "${PROMETHEUS_DEB}" prometheus_installed_version \
    "PARLEY_LOCALNET_PROMETHEUS=1 and the e2e monitoring check"
  install_deb chromium "${CHROMIUM_DEB}" chromium_installed_version \
    "the web view's browser test, tests/e2e/webview"
  echo "tools: cometbft $(cometbft_installed_version) (module; binary reports $(cometbft_self_version)), anvil/forge/cast $(foundry_installed_version cast), solc $(solc_installed_version) (solcjs shim) in ${BIN_DIR}, prometheus $(prometheus_installed_version || true)"
}

main
