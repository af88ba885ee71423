#!/usr/bin/env bash
# Real-browser end-to-end test of the chat example (tests/browser/).
#
#   scripts/browser-test.sh            # from any directory
#
# 1. installs Debian's chromium with apt if $CHROMIUM_BIN (/usr/bin/chromium)
#    is missing (no tool ever downloads a browser of its own);
# 2. `npm ci` in tests/browser (playwright-core only, from the lock file);
# 3. `cargo build -p chat_server -p chat_client`;
# 4. a throwaway CA and server certificate in target/browser-pki
#    (scripts/tls_pki.sh) for the https/wss scenario;
# 5. `node --test tests/browser/chat.test.mjs` against those binaries: the
#    chat over http/ws, then over https/wss.
# Safe to run again and again; exits non-zero when anything fails, and says
# how long it took either way.
#
# Env: CHROMIUM_BIN, CARGO_TARGET_DIR, BROWSER_TEST_WAIT_MS (per-wait bound,
#      default 15000), BROWSER_TEST_VERBOSE=1 (echo the children's output),
#      BROWSER_TEST_TLS=0 (skip the https/wss scenario).
set -euo pipefail

START_S=$(date +%s)
report_time() {
  local rc=$? took=$(( $(date +%s) - START_S ))
  printf '==> browser-test: %s after %dm%02ds\n' \
    "$([[ $rc -eq 0 ]] && echo passed || echo "FAILED (exit $rc)")" $((took / 60)) $((took % 60)) >&2
}
trap report_time EXIT

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TEST_DIR="$ROOT/tests/browser"
export CHROMIUM_BIN="${CHROMIUM_BIN:-/usr/bin/chromium}"
# Belt and braces: playwright-core never downloads a browser, but make sure.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

log() { printf '==> %s\n' "$*" >&2; }

# --- 1. chromium from Debian --------------------------------------------------
if [[ ! -x "$CHROMIUM_BIN" ]]; then
  if [[ "$CHROMIUM_BIN" != /usr/bin/chromium ]]; then
    echo "CHROMIUM_BIN=$CHROMIUM_BIN is not an executable" >&2
    exit 1
  fi
  SUDO=()
  if [[ "$(id -u)" -ne 0 ]]; then SUDO=(sudo); fi
  log "installing chromium from Debian (apt)"
  export DEBIAN_FRONTEND=noninteractive
  # A mirror can fail for a moment: three tries before giving up.
  for try in 1 2 3; do
    if "${SUDO[@]}" apt-get update -q && "${SUDO[@]}" apt-get install -y -q chromium; then
      break
    fi
    if (( try == 3 )); then
      echo "could not install chromium with apt" >&2
      exit 1
    fi
    log "apt failed; trying again in $((try * 10)) s"
    sleep $((try * 10))
  done
fi
log "$("$CHROMIUM_BIN" --version 2>/dev/null || echo "chromium at $CHROMIUM_BIN")"

# --- 2. node + playwright-core ------------------------------------------------
command -v node >/dev/null || { echo "node (>= 20) is required" >&2; exit 1; }
NODE_MAJOR="$(node -p 'process.versions.node.split(".")[0]')"
if (( NODE_MAJOR < 20 )); then
  echo "node >= 20 is required (found $(node --version))" >&2
  exit 1
fi
log "npm ci in tests/browser"
(cd "$TEST_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)

# --- 3. the binaries under test -----------------------------------------------
log "cargo build -p chat_server -p chat_client"
(cd "$ROOT" && cargo build -p chat_server -p chat_client)
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
[[ "$TARGET_DIR" = /* ]] || TARGET_DIR="$ROOT/$TARGET_DIR"
export CHAT_SERVER_BIN="$TARGET_DIR/debug/chat_server"
export CHAT_CLIENT_BIN="$TARGET_DIR/debug/chat_client"

# --- 4. the test PKI (https/wss scenario) ------------------------------------
# Reused while it is valid; the test gets its files through the environment.
PKI_DIR="$ROOT/target/browser-pki"
if [[ "${BROWSER_TEST_TLS:-1}" != 0 ]]; then
  log "test CA and server certificate in target/browser-pki"
  bash "$ROOT/scripts/tls_pki.sh" "$PKI_DIR"
  export BROWSER_TLS_CERT="$PKI_DIR/server.pem"
  export BROWSER_TLS_KEY="$PKI_DIR/server.key"
  export BROWSER_TLS_CA="$PKI_DIR/ca.pem"
  export BROWSER_TLS_SPKI="$PKI_DIR/server.spki"
fi

# --- 5. the test ----------------------------------------------------------------
log "node --test tests/browser/chat.test.mjs"
cd "$ROOT"
node --test --test-reporter=spec tests/browser/chat.test.mjs
