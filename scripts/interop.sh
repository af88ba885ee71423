#!/usr/bin/env bash
# Interoperability of rusty_socket with two other WebSocket implementations,
# python-websockets and Node's ws, in both directions, on loopback only.
#
# Usage: scripts/interop.sh            (from any directory)
#
# Their clients -> our servers: rusty_socket_core's echo_server and
# rusty_socket_server's broadcast_server (one client connected, a broadcast
# is an echo). Each client (scripts/interop/py_ws.py, scripts/interop/
# node_ws.js) sends text (ASCII, non-ASCII), binary, empty messages, a
# 64 KiB and a 1 MiB compressible message and 300 small chat lines and
# checks every echo byte for byte; it runs once offering permessage-deflate
# (the negotiated extension must name it, unless INTEROP_EXPECT_DEFLATE=0)
# and once offering no compression (no extension may be negotiated).
#
# Our client -> their servers: rusty_socket_client's interop_client example
# against a python-websockets echo server (its default permessage-deflate,
# and one with server_no_context_takeover) and a Node ws echo server
# (perMessageDeflate: true, and one with serverMaxWindowBits 9,
# clientMaxWindowBits 10 and both no_context_takeover). The same messages;
# the 101's Sec-WebSocket-Extensions must name permessage-deflate (and the
# variant's parameters) unless INTEROP_EXPECT_DEFLATE=0.
#
# wss:// (TLS), with a throwaway CA that scripts/tls_pki.sh makes in
# target/interop/pki (every client trusts that CA only, or the Mozilla roots
# and it: certificate and host name checks stay on; URLs name localhost):
#   - python-websockets client (an ssl.SSLContext trusting ca.pem only) ->
#     our chat server (example/server, chat_server): a default context (the
#     system's roots) is refused first; then the welcome, /nick, chat lines
#     (ASCII, non-ASCII, 3000 bytes) coming back as "NAME: line",
#     permessage-deflate negotiated; then its page over https (urllib, same
#     context): 200, text/html, an <html> document (py_ws.py chat);
#   - python-websockets (py_ws.py client --ca) and ws (node_ws.js client
#     --ca, `{ ca }`, perMessageDeflate: true) clients -> broadcast_server
#     --echo --tls-cert --tls-key: the echo checks above, permessage-deflate
#     offered and expected;
#   - our terminal client (example/client, chat_client --ca), typed at
#     through a pipe by scripts/interop/repl_check.py -> a python-websockets
#     wss echo server (py_ws.py server --tls-cert --tls-key): "connected
#     to", "rcv=> hello" and a non-ASCII echo, "disconnected", exit 0;
#   - our interop_client --ca -> the same python-websockets wss echo server
#     and a ws wss echo server (node_ws.js server --tls-cert --tls-key:
#     https.createServer + ws, perMessageDeflate: true): the checks above.
#
# Each check prints one "interop: PASS ..." or "interop: FAIL ..." line with
# its time, a failing one also the tail of its log; the end is the total,
# "interop: N passed, M failed", and the time the script took. Exit status
# non-zero if any check failed or setup failed.
#
# Needs python3, node, openssl. Installs what it needs by itself, from the
# registries only, pinned:
# websockets (PyPI) in a python3 venv at $INTEROP_VENV, ws (npm, from
# scripts/interop/package-lock.json) in $INTEROP_NODE_DIR; both are reused
# while they still hold the pinned versions. Logs in target/interop/.
#
# Environment:
#   INTEROP_EXPECT_DEFLATE  1 (default): permessage-deflate must be
#                           negotiated wherever it is offered; 0: not
#                           required (the echoes still are)
#   INTEROP_ECHO_PORT       port of our echo_server (default: a free one)
#   INTEROP_BROADCAST_PORT  port of our broadcast_server (default: a free one)
#   INTEROP_SERVER_ARGS     extra arguments for both of our servers, after
#                           the address (e.g. --no-deflate)
#   INTEROP_TIMEOUT         bound of one check in seconds (default 90)
#   INTEROP_LISTEN_WAIT     seconds a server may take to listen (default 20)
#   INTEROP_VENV            python venv (default ~/.cache/rusty_socket/interop-venv)
#   INTEROP_NODE_DIR        npm install dir (default ~/.cache/rusty_socket/interop-node)
#   CARGO_TARGET_DIR        where cargo builds (default target/)
# The servers of the other implementations listen on ports the OS picks.

set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SCRIPT_START=$SECONDS

WEBSOCKETS_PIN='websockets==17.4'
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/rusty_socket
VENV=${INTEROP_VENV:-$CACHE/interop-venv}
NODE_DIR=${INTEROP_NODE_DIR:-$CACHE/interop-node}
EXPECT_DEFLATE=${INTEROP_EXPECT_DEFLATE:-1}
CHECK_TIMEOUT=${INTEROP_TIMEOUT:-90}
LISTEN_WAIT=${INTEROP_LISTEN_WAIT:-20}
read -r -a SERVER_ARGS <<<"${INTEROP_SERVER_ARGS:-}"
OUT=$ROOT/target/interop
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
[[ $TARGET = /* ]] || TARGET=$ROOT/$TARGET
HELPERS=$ROOT/scripts/interop
PKI=$OUT/pki

case $EXPECT_DEFLATE in
0 | 1) ;;
*) echo "interop: INTEROP_EXPECT_DEFLATE must be 0 or 1" >&2; exit 2 ;;
esac

log() { printf '[interop] %s\n' "$*"; }
die() {
    printf '[interop] ERROR: %s\n' "$*" >&2
    echo "interop: 0 passed, 1 failed (setup; $((SECONDS - SCRIPT_START)) s)"
    exit 1
}

mkdir -p "$OUT" "$CACHE"
rm -f "$OUT"/*.log   # this run's logs only

# ---------------------------------------------------------------------------
# background servers

BG_PIDS=()
# Starts a command in its own process group, output to LOGFILE; sets BG_PID.
start_bg() {
    local logfile=$1; shift
    : >"$logfile"   # now, not in the background: no stale lines to read
    setsid "$@" >"$logfile" 2>&1 </dev/null &
    BG_PID=$!
    BG_PIDS+=("$BG_PID")
}
# TERM, then KILL after 5 s, to the process group of PID.
stop_bg() {
    local pid=$1 i
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local pid
    for pid in "${BG_PIDS[@]+"${BG_PIDS[@]}"}"; do stop_bg "$pid"; done
    BG_PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_listening() {
    if command -v ss >/dev/null 2>&1; then
        [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    fi
}

# A port nothing listens on now (the OS picks it).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Polls until PID listens on PORT; fails if it exits first or LISTEN_WAIT
# seconds pass.
wait_listening() {
    local pid=$1 port=$2 name=$3 logfile=$4 i
    for ((i = 0; i < LISTEN_WAIT * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$logfile" >&2; return 1; }
        port_listening "$port" && return 0
        sleep 0.1
    done
    echo "[interop] $name did not listen on 127.0.0.1:$port within ${LISTEN_WAIT}s" >&2
    tail -n 20 "$logfile" >&2
    return 1
}

# Polls LOGFILE for the "listening PORT" line a helper server prints (or
# the line the sed script SED_PORT, if given, turns into PORT); prints PORT.
# Fails if PID exits first or LISTEN_WAIT seconds pass.
wait_port_line() {
    local pid=$1 logfile=$2 pattern=${3:-'s/^listening \([0-9][0-9]*\)$/\1/p'} i port
    for ((i = 0; i < LISTEN_WAIT * 10; i++)); do
        port=$(sed -n "$pattern" "$logfile" | head -n 1)
        if [[ -n $port ]]; then
            echo "$port"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    tail -n 20 "$logfile" >&2
    return 1
}

# ---------------------------------------------------------------------------
# checks

PASSED=0
FAILED=0
RESULTS=()
# check NAME LOGFILE CMD...: runs CMD under a timeout, output to LOGFILE;
# one PASS/FAIL line.
check() {
    local name=$1 logfile=$2; shift 2
    local started=$SECONDS rc=0
    timeout --kill-after=10s "$CHECK_TIMEOUT" "$@" >"$logfile" 2>&1 </dev/null || rc=$?
    local took=$((SECONDS - started))
    local ext
    ext=$(sed -n 's/^Sec-WebSocket-Extensions: //p' "$logfile" | head -n 1)
    if ((rc == 0)); then
        PASSED=$((PASSED + 1))
        RESULTS+=("PASS $name")
        log "PASS $name (${took} s; extensions: ${ext:-?})"
    else
        FAILED=$((FAILED + 1))
        RESULTS+=("FAIL $name")
        ((rc == 124 || rc == 137)) && echo "[interop] (timed out after ${CHECK_TIMEOUT} s)"
        log "FAIL $name (exit $rc, ${took} s; extensions: ${ext:-?}; log: $logfile)"
        grep -E '^FAIL|Error|error' "$logfile" | head -n 20 | sed 's/^/[interop]     /'
        tail -n 5 "$logfile" | sed 's/^/[interop]   | /'
    fi
}
# A failure that is not a client run (a server that would not start or died).
fail_setup() {
    FAILED=$((FAILED + 1))
    RESULTS+=("FAIL $1")
    log "FAIL $1"
}

# ---------------------------------------------------------------------------
# setup: python-websockets venv, Node ws, our binaries

setup_python() {
    local setup_log=$OUT/venv-setup.log want=${WEBSOCKETS_PIN#websockets==}
    exec 8>"$VENV.lock"
    flock 8
    if [[ -x $VENV/bin/python ]] &&
        "$VENV/bin/python" -c "import sys, websockets; sys.exit(websockets.__version__ != '$want')" 2>/dev/null; then
        exec 8>&-
        return 0
    fi
    log "installing $WEBSOCKETS_PIN into $VENV (log: $setup_log)"
    if [[ -e $VENV && ! -f $VENV/pyvenv.cfg ]]; then
        die "$VENV exists and is not a venv; refusing to replace it (set INTEROP_VENV)"
    fi
    rm -rf "$VENV"
    { timeout 120 python3 -m venv "$VENV" &&
        timeout 300 "$VENV/bin/pip" install --disable-pip-version-check -q "$WEBSOCKETS_PIN"; } >"$setup_log" 2>&1 ||
        { tail -n 20 "$setup_log" >&2; die "could not install $WEBSOCKETS_PIN (python3 -m venv + pip)"; }
    exec 8>&-
}

setup_node() {
    local setup_log=$OUT/npm-setup.log f
    command -v node >/dev/null || die "node is required"
    mkdir -p "$NODE_DIR"
    exec 8>"$NODE_DIR.lock"
    flock 8
    local fresh=1
    for f in package.json package-lock.json; do
        cmp -s "$HELPERS/$f" "$NODE_DIR/$f" || fresh=0
    done
    [[ -f $NODE_DIR/node_modules/ws/package.json ]] || fresh=0
    if ((!fresh)); then
        log "npm ci of scripts/interop/package-lock.json into $NODE_DIR (log: $setup_log)"
        cp "$HELPERS/package.json" "$HELPERS/package-lock.json" "$NODE_DIR/"
        (cd "$NODE_DIR" && timeout 300 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >"$setup_log" 2>&1 ||
            { tail -n 20 "$setup_log" >&2; die "npm ci of the pinned ws failed"; }
    fi
    exec 8>&-
    export NODE_PATH=$NODE_DIR/node_modules
}

setup_python
setup_node
PY=$VENV/bin/python
log "python-websockets $("$PY" -c 'import websockets; print(websockets.__version__)'), ws $(node -p "require('ws/package.json').version"), node $(node --version)"

log "building echo_server, broadcast_server, interop_client (release, feature tls), chat_server, chat_client"
{ cargo build --release -q -p rusty_socket_core --example echo_server \
    -p rusty_socket_server --example broadcast_server \
    -p rusty_socket_client --example interop_client \
    --features rusty_socket_server/tls,rusty_socket_client/tls &&
    cargo build --release -q -p chat_server -p chat_client; } >"$OUT/build.log" 2>&1 ||
    { tail -n 30 "$OUT/build.log" >&2; die "cargo build failed"; }
BIN=$TARGET/release/examples
CHAT_SERVER=$TARGET/release/chat_server
CHAT_CLIENT=$TARGET/release/chat_client

command -v openssl >/dev/null || die "openssl is required (for scripts/tls_pki.sh)"
bash "$ROOT/scripts/tls_pki.sh" "$PKI" >"$OUT/pki.log" 2>&1 ||
    { tail -n 20 "$OUT/pki.log" >&2; die "scripts/tls_pki.sh $PKI failed"; }
CA=$PKI/ca.pem
TLS_ARGS=(--tls-cert "$PKI/server.pem" --tls-key "$PKI/server.key")

# ---------------------------------------------------------------------------
# 1. their clients -> our servers

PY_FLAGS=(--expect-deflate "$EXPECT_DEFLATE")
NODE_FLAGS=(--expect-deflate "$EXPECT_DEFLATE")

# our_server [--tls] NAME PORT: with --tls, NAME serves wss:// (our
# certificate) and only the permessage-deflate checks run, over wss:// with
# --ca; logs are target/interop/*-NAME-tls.log then.
our_server() {
    local tls=0
    if [[ $1 = --tls ]]; then tls=1; shift; fi
    local name=$1 port=$2 slug=$1 extra=()
    ((tls)) && { slug=$name-tls; extra=("${TLS_ARGS[@]}" --echo); }
    local log_file=$OUT/$slug.log
    log "== python-websockets and ws clients -> our $name$( ((tls)) && echo ' (wss://)') =="
    require_port_free "$port" || { fail_setup "$name: port $port is in use"; return; }
    start_bg "$log_file" "$BIN/$name" "127.0.0.1:$port" "${SERVER_ARGS[@]+"${SERVER_ARGS[@]}"}" \
        "${extra[@]+"${extra[@]}"}"
    local pid=$BG_PID
    if ! wait_listening "$pid" "$port" "$name" "$log_file"; then
        fail_setup "$name did not start (log: $log_file)"
        return
    fi
    if ((tls)); then
        local url="wss://localhost:$port/"
        check "python-websockets client (wss, ssl context trusting our CA only, permessage-deflate offered) -> $name --echo --tls-cert" \
            "$OUT/py-client-$slug.log" \
            "$PY" "$HELPERS/py_ws.py" client "$url" --ca "$CA" "${PY_FLAGS[@]}"
        check "ws client (wss, { ca }, perMessageDeflate: true) -> $name --echo --tls-cert" \
            "$OUT/node-client-$slug.log" \
            node "$HELPERS/node_ws.js" client "$url" --ca "$CA" "${NODE_FLAGS[@]}"
    else
        local url="ws://127.0.0.1:$port/"
        check "python-websockets client (permessage-deflate offered) -> $name" "$OUT/py-client-$name.log" \
            "$PY" "$HELPERS/py_ws.py" client "$url" "${PY_FLAGS[@]}"
        check "python-websockets client (no compression) -> $name" "$OUT/py-client-plain-$name.log" \
            "$PY" "$HELPERS/py_ws.py" client "$url" --no-compression
        check "ws client (perMessageDeflate: true) -> $name" "$OUT/node-client-$name.log" \
            node "$HELPERS/node_ws.js" client "$url" "${NODE_FLAGS[@]}"
        check "ws client (perMessageDeflate: false) -> $name" "$OUT/node-client-plain-$name.log" \
            node "$HELPERS/node_ws.js" client "$url" --no-compression
    fi
    if kill -0 "$pid" 2>/dev/null; then
        stop_bg "$pid"
    else
        fail_setup "$name exited during the checks (log: $log_file)"
        tail -n 20 "$log_file" | sed 's/^/[interop]   | /'
    fi
}

require_port_free() {
    ! port_listening "$1"
}

our_server echo_server "${INTEROP_ECHO_PORT:-$(free_port)}"
our_server broadcast_server "${INTEROP_BROADCAST_PORT:-$(free_port)}"
our_server --tls broadcast_server "$(free_port)"

# Our chat server over wss:// and https:// (its own port, from the OS: it
# prints "listening on 127.0.0.1:PORT").
chat_server_check() {
    local log_file=$OUT/chat_server-tls.log
    log "== python-websockets client -> our chat_server (wss:// and https://) =="
    start_bg "$log_file" "$CHAT_SERVER" --addr 127.0.0.1:0 "${TLS_ARGS[@]}"
    local pid=$BG_PID port
    if ! port=$(wait_port_line "$pid" "$log_file" 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p'); then
        fail_setup "chat_server did not start (log: $log_file)"
        return
    fi
    check "python-websockets client (wss, ssl context trusting our CA only) -> chat_server: welcome, /nick, chat lines back; its page over https (urllib)" \
        "$OUT/py-chat-tls.log" \
        "$PY" "$HELPERS/py_ws.py" chat "wss://localhost:$port/" --ca "$CA" --expect-deflate "$EXPECT_DEFLATE"
    kill -0 "$pid" 2>/dev/null || fail_setup "chat_server exited during the check (log: $log_file)"
    stop_bg "$pid"
}
chat_server_check

# ---------------------------------------------------------------------------
# 2. our client -> their servers

# their_server [--tls] [--repl] SLUG NAME "EXPECTED SUBSTRINGS" CMD...: logs
# are target/interop/server-SLUG.log and client-SLUG.log (repl-SLUG.log).
# With --tls the server speaks wss:// and our clients connect to
# wss://localhost:PORT/ with --ca; with --repl our terminal client
# (chat_client) is checked against it first.
their_server() {
    local tls=0 repl=0
    while [[ $1 = --* ]]; do
        case $1 in
        --tls) tls=1 ;;
        --repl) repl=1 ;;
        esac
        shift
    done
    local slug=$1 name=$2 expected=$3; shift 3
    local log_file=$OUT/server-$slug.log
    log "== our $( ((repl)) && echo 'chat_client and ')interop_client -> $name =="
    start_bg "$log_file" "$@"
    local pid=$BG_PID port
    if ! port=$(wait_port_line "$pid" "$log_file"); then
        fail_setup "$name did not start (log: $log_file)"
        return
    fi
    local flags=() want url="ws://127.0.0.1:$port/"
    if ((tls)); then
        url="wss://localhost:$port/"
        flags+=(--ca "$CA")
    fi
    if ((repl)); then
        check "chat_client (REPL, --ca, typed at through a pipe) -> $name" "$OUT/repl-$slug.log" \
            "$PY" "$HELPERS/repl_check.py" "$CHAT_CLIENT" "$url" "${flags[@]+"${flags[@]}"}"
    fi
    if ((EXPECT_DEFLATE)); then
        for want in $expected; do flags+=(--expect-extension "$want"); done
    fi
    check "interop_client$( ((tls)) && echo ' --ca') -> $name" "$OUT/client-$slug.log" \
        "$BIN/interop_client" "$url" "${flags[@]+"${flags[@]}"}"
    kill -0 "$pid" 2>/dev/null || fail_setup "$name exited during the check (log: $log_file)"
    stop_bg "$pid"
}

their_server py-deflate "python-websockets (compression=deflate)" "permessage-deflate" \
    "$PY" "$HELPERS/py_ws.py" server
their_server py-no-context-takeover "python-websockets (server_no_context_takeover)" \
    "permessage-deflate server_no_context_takeover" \
    "$PY" "$HELPERS/py_ws.py" server --no-context-takeover
their_server node-deflate "ws (perMessageDeflate: true)" "permessage-deflate" \
    node "$HELPERS/node_ws.js" server
their_server node-params "ws (serverMaxWindowBits 9, clientMaxWindowBits 10, no context takeover)" \
    "permessage-deflate server_max_window_bits=9 client_no_context_takeover server_no_context_takeover" \
    node "$HELPERS/node_ws.js" server --params
their_server --tls --repl py-tls "python-websockets wss (ssl certfile, compression=deflate)" "permessage-deflate" \
    "$PY" "$HELPERS/py_ws.py" server "${TLS_ARGS[@]}"
their_server --tls node-tls "ws wss (https.createServer, perMessageDeflate: true)" "permessage-deflate" \
    node "$HELPERS/node_ws.js" server "${TLS_ARGS[@]}"

# ---------------------------------------------------------------------------

echo "== interop summary (INTEROP_EXPECT_DEFLATE=$EXPECT_DEFLATE) =="
printf '  %s\n' "${RESULTS[@]}"
echo "(interop took $((SECONDS - SCRIPT_START)) s)"
echo "interop: $PASSED passed, $FAILED failed"
((FAILED == 0))
