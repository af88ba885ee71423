#!/usr/bin/env bash
# Autobahn TestSuite (RFC 6455 conformance) runs for rusty_socket.
#
# Usage: scripts/autobahn.sh server|server-crate|client|client-split|server-tls|client-tls|all
#
#   server        build rusty_socket_core's echo_server example, run wstest's
#                 fuzzingclient against it, check the report.
#   server-crate  the same against rusty_socket_server's broadcast_server
#                 example (with one client connected, a broadcast to
#                 everyone is an echo): the server crate's reader and writer
#                 threads, queues and closing logic.
#   client        start wstest's fuzzingserver, run rusty_socket_client's
#                 autobahn_client example against it, check the report.
#   client-split  the same with `autobahn_client --split`: every case on a
#                 connection split into a reader and a writer.
#   server-tls    server-crate over wss://: broadcast_server with
#                 --tls-cert/--tls-key, a certificate from a throwaway CA
#                 (scripts/tls_pki.sh, in target/autobahn/pki).
#   client-tls    client over wss://: the fuzzingserver with that
#                 certificate (key and cert in its spec file), and
#                 autobahn_client trusting the CA (--ca).
#   all           all six side by side (AUTOBAHN_ROLES picks fewer), each
#                 on its own port with its own report directory and log
#                 (each runs even if another fails); one PASS/FAIL line per
#                 testee and a total.
#
# Reports land in target/autobahn/{server,server-crate,client,client-split}/
# (under `all`: target/autobahn/{quick,bulk}/ROLE/, see run_all)
# (open index.html there); logs and generated specs in target/autobahn/
# ({role}-wstest.log, {role}-testee.log, and all-{role}.out for the whole
# output of one testee under `all`).
#
# Every case runs by default, sections 12.* and 13.* (permessage-deflate)
# included: 517 cases per testee with the pinned wstest. AUTOBAHN_EXCLUDE
# leaves cases out, e.g. AUTOBAHN_EXCLUDE='12.*,13.*' for a testee without
# compression. Sections 12 and 13 send many large compressible messages:
# on 2 CPUs, `all` took 22-30 s without them and 1830 s for their 216 cases
# alone (all four side by side, with wstest's own Python testees standing
# in for ours:
#   AUTOBAHN_EXCLUDE='1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*' \
#   AUTOBAHN_SERVER_CMD="$VENV/bin/wstest -m testeeserver -w ws://{addr}" \
#   AUTOBAHN_CLIENT_CMD="$VENV/bin/wstest -m testeeclient -i rusty_socket -w {url}")
#
# wstest is Python 2.7 software. It is installed on first use into a
# virtualenv at $AUTOBAHN_VENV (default ~/.cache/rusty_socket/autobahn-venv)
# with every package pinned below, and reused as long as it still works and
# the pins are unchanged.
#
# Environment overrides:
#   AUTOBAHN_EXCLUDE       comma-separated case patterns to leave out
#                          (default: none), e.g. '12.*,13.*' or '9.*,12.2.*'
#   AUTOBAHN_EXPECT_CASES  cases each testee must report (default: 517 when
#                          nothing is excluded, else wstest's own count)
#   AUTOBAHN_SERVER_PORT   port of the testee server (default 9001)
#   AUTOBAHN_CLIENT_PORT   port of wstest's fuzzingserver (default 9002)
#   AUTOBAHN_SERVER_CRATE_PORT   under `all`: the server-crate testee's port
#                          (default 9003; `server` uses AUTOBAHN_SERVER_PORT)
#   AUTOBAHN_CLIENT_SPLIT_PORT   under `all`: the fuzzingserver port of the
#                          client-split run (default 9004; `client` uses
#                          AUTOBAHN_CLIENT_PORT)
#   AUTOBAHN_SERVER_TLS_PORT, AUTOBAHN_CLIENT_TLS_PORT   under `all`: the
#                          ports of server-tls and client-tls (9005, 9006)
#   AUTOBAHN_ROLES         under `all`: the roles to run, space-separated
#                          (default: all six)
#   AUTOBAHN_FULL_BULK     under `all`: 1 runs every bulk section (9, 12,
#                          13) for every role (default: see bulk_cases)
#   AUTOBAHN_SERVER_CMD    testee server command template; "{addr}" is
#                          replaced by 127.0.0.1:PORT. Skips the cargo build.
#   AUTOBAHN_CLIENT_CMD    testee client command template; "{url}" is replaced
#                          by ws://127.0.0.1:PORT. Skips the cargo build.
#   AUTOBAHN_TIMEOUT       time limit of one wstest / testee run (default 50m,
#                          any timeout(1) duration)
#   AUTOBAHN_LISTEN_WAIT   seconds to wait for a listener to come up (default 20)
#   AUTOBAHN_VENV          virtualenv location
#   AUTOBAHN_PYTHON2       python2.7 interpreter used to create the virtualenv
#
# Exit status: 0 when every case passed, non-zero otherwise (a failing case,
# an incomplete run, a build, setup or timeout error).

set -euo pipefail

cd "$(dirname "$0")/.."
REPO_ROOT=$(pwd)

SERVER_PORT=${AUTOBAHN_SERVER_PORT:-9001}
CLIENT_PORT=${AUTOBAHN_CLIENT_PORT:-9002}
RUN_TIMEOUT=${AUTOBAHN_TIMEOUT:-50m}
LISTEN_WAIT=${AUTOBAHN_LISTEN_WAIT:-20}
VENV=${AUTOBAHN_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/rusty_socket/autobahn-venv}
AGENT=rusty_socket
OUT=${AUTOBAHN_OUT:-target/autobahn}   # relative: wstest runs from the repo root
CHECK="$REPO_ROOT/scripts/autobahn_check.py"
CARGO_TARGET=${CARGO_TARGET_DIR:-$REPO_ROOT/target}   # where cargo puts the testees
PKI=$REPO_ROOT/target/autobahn/pki   # the throwaway CA and certificate of the TLS roles
# The testees, built once with TLS (the plain roles use them without it).
BUILD_TESTEES=(cargo build --release -p rusty_socket_core --example echo_server
    -p rusty_socket_server --example broadcast_server
    -p rusty_socket_client --example autobahn_client
    --features rusty_socket_server/tls,rusty_socket_client/tls)

# Packages of the wstest virtualenv. autobahntestsuite 25.10.1 is the latest
# release and still Python 2.7 only (autobahn 0.10.9 on Twisted 19.10).
# Everything is pinned, transitive dependencies included, because pip on
# Python 2.7 would otherwise pick releases that no longer support it.
VIRTUALENV_PIN='virtualenv==20.15.1'
PINS='
autobahntestsuite==25.10.1
autobahn[twisted,accelerate]==0.10.9
txaio==2.1.0
Twisted==19.10.0
zope.interface==4.6.0
Automat==22.10.0
attrs==21.4.0
constantly==15.1.0
hyperlink==21.0.0
idna==2.10
incremental==16.10.1
PyHamcrest==1.10.1
typing==3.10.0.0
pyOpenSSL==19.1.0
cryptography==3.3.2
cffi==1.15.1
pycparser==2.21
enum34==1.1.10
ipaddress==1.0.23
service-identity==18.1.0
pyasn1==0.5.1
pyasn1-modules==0.3.0
klein==17.10.0
Werkzeug==1.0.1
Jinja2==2.11.3
MarkupSafe==1.1.1
unittest2==1.1.0
argparse==1.4.0
linecache2==1.0.0
traceback2==1.4.0
six==1.16.0
wsaccel==0.6.6
ujson==2.0.3
setuptools==44.0.0
'

# ---------------------------------------------------------------------------
# helpers

log() { printf '[autobahn] %s\n' "$*"; }
die() { printf '[autobahn] ERROR: %s\n' "$*" >&2; exit 1; }

# Print the last lines of a log file to stderr, for error reports.
show_tail() {
    local file=$1 n=${2:-30}
    [[ -s $file ]] || return 0
    printf '[autobahn] --- last %d lines of %s ---\n' "$n" "$file" >&2
    tail -n "$n" "$file" >&2
    printf '[autobahn] ---\n' >&2
}

# Is something listening on 127.0.0.1:PORT? Prefer ss, which does not open a
# connection to the process under test; fall back to a bash /dev/tcp connect.
port_listening() {
    local port=$1
    if command -v ss >/dev/null 2>&1; then
        [[ -n $(ss -Hltn "sport = :$port" 2>/dev/null) ]]
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
    fi
}

# Background processes started by this script, stopped on exit.
BG_PIDS=()

# Start a command in the background, in its own process group when setsid is
# available so that stopping it also stops anything it spawned. Output goes
# to LOGFILE. Sets BG_PID.
start_bg() {
    local logfile=$1; shift
    if command -v setsid >/dev/null 2>&1; then
        setsid "$@" >"$logfile" 2>&1 </dev/null &
    else
        "$@" >"$logfile" 2>&1 </dev/null &
    fi
    BG_PID=$!
    BG_PIDS+=("$BG_PID")
}

# Stop one background process (and its process group): TERM, then KILL after
# 5 s. Safe to call on a process that already exited.
stop_bg() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local pid
    for pid in "${BG_PIDS[@]+"${BG_PIDS[@]}"}"; do
        stop_bg "$pid"
    done
    BG_PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Run a command under timeout(1) with output to LOGFILE and return its exit
# status (124 or 137 on timeout). It runs in the background while this shell
# waits, so that a signal to this script interrupts the wait at once and the
# EXIT trap stops the command.
run_with_timeout() {
    local logfile=$1; shift
    local rc=0
    start_bg "$logfile" timeout --kill-after=30s "$RUN_TIMEOUT" "$@"
    wait "$BG_PID" || rc=$?
    return "$rc"
}

# Wait until PID listens on PORT; fail if it exits first or LISTEN_WAIT
# seconds pass. NAME and LOGFILE are for error messages.
wait_listening() {
    local pid=$1 port=$2 name=$3 logfile=$4 i
    for ((i = 0; i < LISTEN_WAIT * 10; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            local rc=0
            wait "$pid" || rc=$?
            show_tail "$logfile"
            die "$name exited (status $rc) before listening on port $port"
        fi
        port_listening "$port" && return 0
        sleep 0.1
    done
    show_tail "$logfile"
    die "$name did not listen on 127.0.0.1:$port within ${LISTEN_WAIT}s"
}

require_free_port() {
    local port=$1 var=$2
    if port_listening "$port"; then
        die "port $port is already in use; stop whatever listens there or set $var"
    fi
}

# The "will run N test cases" count wstest printed, or nothing.
announced_cases() {
    sed -n 's/.*will run \([0-9][0-9]*\) test cases.*/\1/p; T; q' "$1"
}

# ---------------------------------------------------------------------------
# wstest virtualenv

find_python2() {
    local candidates=() c
    [[ -n ${AUTOBAHN_PYTHON2:-} ]] && candidates+=("$AUTOBAHN_PYTHON2")
    if command -v pyenv >/dev/null 2>&1; then
        candidates+=("$(pyenv root)/versions/2.7.18/bin/python2.7")
    fi
    candidates+=("$HOME/.pyenv/versions/2.7.18/bin/python2.7" python2.7 python2)
    for c in "${candidates[@]}"; do
        if "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (2, 7))' >/dev/null 2>&1; then
            command -v "$c"
            return 0
        fi
    done
    return 1
}

# Checksum of the pin lists, stored in the virtualenv once it is complete.
pins_stamp() {
    printf '%s\n' "$VIRTUALENV_PIN" "$PINS" | cksum
}

# Does the virtualenv hold a working wstest installed from the current pins?
venv_ok() {
    [[ -x $VENV/bin/wstest ]] &&
        [[ -f $VENV/.rusty_socket_pins ]] &&
        [[ $(cat "$VENV/.rusty_socket_pins") == "$(pins_stamp)" ]] &&
        "$VENV/bin/wstest" --help >/dev/null 2>&1
}

ensure_wstest() {
    mkdir -p "$(dirname "$VENV")" "$OUT"
    # Serialise concurrent setups of the same virtualenv.
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$VENV.lock"
        flock 9
    fi
    if venv_ok; then
        WSTEST=$VENV/bin/wstest
        release_venv_lock
        return 0
    fi

    local setup_log="$REPO_ROOT/$OUT/venv-setup.log" py2
    log "setting up wstest virtualenv in $VENV (log: $OUT/venv-setup.log)"
    py2=$(find_python2) ||
        die "no Python 2.7 found (tried \$AUTOBAHN_PYTHON2, pyenv's 2.7.18, python2.7); wstest needs Python 2.7"
    : >"$setup_log"
    # Start from scratch, but never delete a directory that is not ours.
    if [[ -d $VENV && ! -f $VENV/pyvenv.cfg ]] && [[ -n $(ls -A "$VENV") ]]; then
        die "$VENV exists and is not a virtualenv; refusing to replace it (set AUTOBAHN_VENV)"
    fi
    rm -rf "$VENV" "$VENV.bootstrap"

    # virtualenv itself goes to a private directory so that the Python 2.7
    # installation is left untouched.
    local pipflags=(--disable-pip-version-check --no-python-version-warning)
    if ! "$py2" -m pip install --disable-pip-version-check \
        --target "$VENV.bootstrap" "$VIRTUALENV_PIN" >>"$setup_log" 2>&1; then
        show_tail "$setup_log"
        die "could not install $VIRTUALENV_PIN with $py2"
    fi
    if ! PYTHONPATH="$VENV.bootstrap" "$py2" -m virtualenv "$VENV" >>"$setup_log" 2>&1; then
        show_tail "$setup_log"
        die "could not create the virtualenv $VENV"
    fi
    rm -rf "$VENV.bootstrap"

    local reqs="$VENV/requirements.txt"
    printf '%s\n' "$PINS" >"$reqs"
    if ! "$VENV/bin/pip" install "${pipflags[@]}" -r "$reqs" >>"$setup_log" 2>&1; then
        show_tail "$setup_log"
        die "pip install of the pinned wstest packages failed"
    fi
    if ! "$VENV/bin/wstest" --help >>"$setup_log" 2>&1; then
        show_tail "$setup_log"
        die "wstest was installed but 'wstest --help' fails"
    fi
    pins_stamp >"$VENV/.rusty_socket_pins"
    log "wstest ready: $("$VENV/bin/wstest" -a 2>/dev/null | tr '\n' ' ')"
    WSTEST=$VENV/bin/wstest
    release_venv_lock
}

# Close the lock fd so that the processes started later do not inherit it.
release_venv_lock() {
    { exec 9>&-; } 2>/dev/null || true
}

# ---------------------------------------------------------------------------
# spec files

# Shared case selection: the cases in AUTOBAHN_CASES (default: all) but
# those in AUTOBAHN_EXCLUDE, both comma-separated case patterns.
EXCLUDE=${AUTOBAHN_EXCLUDE:-}
CASES=${AUTOBAHN_CASES:-*}
patterns_json() {
    local var=$1 pattern out="" patterns=()
    IFS=, read -ra patterns <<<"$2"
    for pattern in "${patterns[@]}"; do
        pattern=${pattern//[[:space:]]/}
        [[ -n $pattern ]] || continue
        [[ $pattern =~ ^[0-9.*]+$ ]] ||
            die "$var: '$pattern' is not a case pattern like 12.* or 9.1.2"
        out+="${out:+, }\"$pattern\""
    done
    printf '[%s]' "$out"
}
exclude_json() { patterns_json AUTOBAHN_EXCLUDE "$EXCLUDE"; }
CASES_JSON='"cases": '"$(patterns_json AUTOBAHN_CASES "$CASES")"',
  "exclude-cases": '"$(exclude_json)"',
  "exclude-agent-cases": {}'

# How many cases the checker demands: AUTOBAHN_EXPECT_CASES, else 517 (all
# of them, in the pinned wstest) when every case was asked for, else what
# wstest announced. A run of every case that wstest announces as fewer
# cases fails the check.
ALL_CASES=517
every_case() { [[ $CASES == '*' && $(exclude_json) == '[]' ]]; }
expected_cases() {
    local announced=$1
    if [[ -n ${AUTOBAHN_EXPECT_CASES:-} ]]; then
        echo "$AUTOBAHN_EXPECT_CASES"
    elif every_case; then
        if [[ $announced != "$ALL_CASES" ]]; then
            printf '[autobahn] ERROR: every case was asked for but wstest announced %s cases, not %s\n' \
                "$announced" "$ALL_CASES" >&2
        fi
        echo "$ALL_CASES"
    else
        echo "$announced"
    fi
}

write_fuzzingclient_spec() {
    local file=$1 url=$2 outdir=$3
    cat >"$file" <<EOF
{
  "outdir": "$outdir",
  "servers": [{"agent": "$AGENT", "url": "$url"}],
  $CASES_JSON
}
EOF
}

write_fuzzingserver_spec() {
    local file=$1 url=$2 outdir=$3 tls=${4:-}
    cat >"$file" <<EOF
{
  "url": "$url",$tls
  "outdir": "$outdir",
  $CASES_JSON
}
EOF
}

# Builds example $2 of package $1 in release mode (its output goes to
# stderr) and prints the binary's path, quoted for `bash -c`. Under `all`
# (AUTOBAHN_PREBUILT=1) the examples are already built: no cargo run here,
# so that the four testees never start four cargo builds at once.
build_example() {
    local package=$1 example=$2
    if [[ ${AUTOBAHN_PREBUILT:-} != 1 ]]; then
        log "building $example (cargo build --release -p $package --features tls --example $example)" >&2
        cargo build --release -p "$package" --features tls --example "$example" >&2 ||
            die "cargo build of the $example example failed"
    fi
    [[ -x $CARGO_TARGET/release/examples/$example ]] ||
        die "$CARGO_TARGET/release/examples/$example is missing"
    printf '%q' "$CARGO_TARGET/release/examples/$example"
}

# ---------------------------------------------------------------------------
# server modes: wstest fuzzingclient -> our echo server ($1 = server) or the
# server crate's broadcast server ($1 = server-crate)

run_server() {
    local role=$1 addr="127.0.0.1:$SERVER_PORT" cmd scheme=ws
    [[ $role == server-tls ]] && scheme=wss
    log "== $role: fuzzingclient against $scheme://$addr =="

    if [[ -n ${AUTOBAHN_SERVER_CMD:-} ]]; then
        cmd=${AUTOBAHN_SERVER_CMD//\{addr\}/$addr}
        log "testee server (AUTOBAHN_SERVER_CMD): $cmd"
    elif [[ $role == server-tls ]]; then
        bash "$REPO_ROOT/scripts/tls_pki.sh" "$PKI" >/dev/null
        cmd="$(build_example rusty_socket_server broadcast_server) --tls-cert $(printf '%q' "$PKI/server.pem") --tls-key $(printf '%q' "$PKI/server.key") $addr"
    elif [[ $role == server-crate ]]; then
        cmd="$(build_example rusty_socket_server broadcast_server) $addr"
    else
        cmd="$(build_example rusty_socket_core echo_server) $addr"
    fi

    ensure_wstest
    rm -rf "${OUT:?}/$role"
    mkdir -p "$OUT/$role"
    local spec="$OUT/$role-fuzzingclient.json"
    local server_log="$OUT/$role-testee.log" wstest_log="$OUT/$role-wstest.log"
    write_fuzzingclient_spec "$spec" "$scheme://$addr" "$OUT/$role"

    require_free_port "$SERVER_PORT" AUTOBAHN_SERVER_PORT
    start_bg "$server_log" bash -c "$cmd"
    local server_pid=$BG_PID
    wait_listening "$server_pid" "$SERVER_PORT" "testee server" "$server_log"
    log "testee server up (pid $server_pid, log: $server_log)"

    log "running wstest -m fuzzingclient (timeout $RUN_TIMEOUT, log: $wstest_log)"
    local start=$SECONDS rc=0
    run_with_timeout "$wstest_log" env PYTHONUNBUFFERED=1 \
        "$WSTEST" -m fuzzingclient -s "$spec" || rc=$?
    local elapsed=$((SECONDS - start))

    local server_alive=1
    kill -0 "$server_pid" 2>/dev/null || server_alive=0
    stop_bg "$server_pid"

    if ((rc == 124 || rc == 137)); then
        show_tail "$wstest_log"
        die "wstest fuzzingclient timed out after $RUN_TIMEOUT"
    elif ((rc != 0)); then
        show_tail "$wstest_log"
        die "wstest fuzzingclient failed (status $rc)"
    fi
    log "wstest finished in ${elapsed}s"
    local status=0
    if ((!server_alive)); then
        show_tail "$server_log"
        printf '[autobahn] ERROR: the testee server exited during the run (crash?)\n' >&2
        status=1
    fi
    if grep -q '^Connection to .* failed' "$wstest_log"; then
        grep -m 3 '^Connection to .* failed' "$wstest_log" >&2 || true
        printf '[autobahn] ERROR: wstest lost the testee server; the run stopped early\n' >&2
        status=1
    fi

    local expect
    expect=$(announced_cases "$wstest_log")
    [[ -n $expect ]] || die "could not find wstest's 'will run N test cases' line in $wstest_log"
    expect=$(expected_cases "$expect")
    python3 "$CHECK" "autobahn-$role" "$OUT/$role" --agent "$AGENT" --expect "$expect" || status=1
    log "report: $OUT/$role/index.html"
    return "$status"
}

# ---------------------------------------------------------------------------
# client mode: our client -> wstest fuzzingserver

run_client() {
    local role=$1 url="ws://127.0.0.1:$CLIENT_PORT" cmd flags="" tls_spec=""
    [[ $role == client-split ]] && flags="--split "
    if [[ $role == client-tls ]]; then
        bash "$REPO_ROOT/scripts/tls_pki.sh" "$PKI" >/dev/null
        url="wss://127.0.0.1:$CLIENT_PORT"
        flags="--ca $(printf '%q' "$PKI/ca.pem") "
        tls_spec='"key": "'"$PKI/server.key"'",
  "cert": "'"$PKI/server.pem"'",'
    fi
    log "== $role: autobahn_client ${flags}against fuzzingserver $url =="

    if [[ -n ${AUTOBAHN_CLIENT_CMD:-} ]]; then
        cmd=${AUTOBAHN_CLIENT_CMD//\{url\}/$url}
        log "testee client (AUTOBAHN_CLIENT_CMD): $cmd"
    else
        cmd="$(build_example rusty_socket_client autobahn_client) $flags$url"
    fi

    ensure_wstest
    rm -rf "${OUT:?}/$role"
    mkdir -p "$OUT/$role"
    local spec="$OUT/$role-fuzzingserver.json"
    local wstest_log="$OUT/$role-wstest.log" client_log="$OUT/$role-testee.log"
    write_fuzzingserver_spec "$spec" "$url" "$OUT/$role" "$tls_spec"

    require_free_port "$CLIENT_PORT" AUTOBAHN_CLIENT_PORT
    # -u 0: no embedded web server (it would want port 8080).
    start_bg "$wstest_log" env PYTHONUNBUFFERED=1 "$WSTEST" -m fuzzingserver -s "$spec" -u 0
    local wstest_pid=$BG_PID
    wait_listening "$wstest_pid" "$CLIENT_PORT" "wstest fuzzingserver" "$wstest_log"
    log "fuzzingserver up (pid $wstest_pid, log: $wstest_log)"

    log "running testee client (timeout $RUN_TIMEOUT, log: $client_log)"
    local start=$SECONDS rc=0
    run_with_timeout "$client_log" bash -c "$cmd" || rc=$?
    local elapsed=$((SECONDS - start))

    local wstest_alive=1
    kill -0 "$wstest_pid" 2>/dev/null || wstest_alive=0
    stop_bg "$wstest_pid"

    local status=0
    if ((rc == 124 || rc == 137)); then
        show_tail "$client_log"
        printf '[autobahn] ERROR: testee client timed out after %s\n' "$RUN_TIMEOUT" >&2
        status=1
    elif ((rc != 0)); then
        show_tail "$client_log"
        printf '[autobahn] ERROR: testee client failed (status %d): %s\n' "$rc" "$cmd" >&2
        status=1
    else
        log "testee client finished in ${elapsed}s"
    fi
    if ((!wstest_alive)); then
        show_tail "$wstest_log"
        printf '[autobahn] ERROR: wstest fuzzingserver exited during the run\n' >&2
        status=1
    fi

    if [[ ! -f $OUT/$role/index.json ]]; then
        printf '[autobahn] ERROR: no report in %s: the testee never called /updateReports?agent=%s\n' \
            "$OUT/$role" "$AGENT" >&2
        printf 'autobahn-%s: 0 passed, 0 failed\n' "$role"
        return 1
    fi
    local expect
    expect=$(announced_cases "$wstest_log")
    [[ -n $expect ]] || die "could not find wstest's 'will run N test cases' line in $wstest_log"
    expect=$(expected_cases "$expect")
    python3 "$CHECK" "autobahn-$role" "$OUT/$role" --agent "$AGENT" --expect "$expect" || status=1
    log "report: $OUT/$role/index.html"
    return "$status"
}

# ---------------------------------------------------------------------------
# all: every testee, side by side

ALL_ROLES=(server server-crate client client-split server-tls client-tls)
read -ra ROLES <<<"${AUTOBAHN_ROLES:-${ALL_ROLES[*]}}"

# The port that ROLE uses under `all`.
role_port() {
    case $1 in
    server) echo "$SERVER_PORT" ;;
    server-crate) echo "${AUTOBAHN_SERVER_CRATE_PORT:-9003}" ;;
    client) echo "$CLIENT_PORT" ;;
    client-split) echo "${AUTOBAHN_CLIENT_SPLIT_PORT:-9004}" ;;
    server-tls) echo "${AUTOBAHN_SERVER_TLS_PORT:-9005}" ;;
    client-tls) echo "${AUTOBAHN_CLIENT_TLS_PORT:-9006}" ;;
    *) die "unknown role $1" ;;
    esac
}

# The three examples are built once, one cargo run after the other (two
# CPUs), and wstest is set up once; then each role runs in its own
# invocation of this script, in the background, with its own port, so that
# a failure in one (including an early die) touches none of the others.
#
# The cases run in two phases, each with every testee side by side:
#   quick  every section but 9, 12 and 13: short cases, several of which
#          give the testee one second to answer (wstest's killAfter(1)),
#          so they must not share two CPUs with the bulk of other runs;
#   bulk   sections 9 (limits and performance: messages up to 16 MiB) and
#          12 and 13 (permessage-deflate), most of the time, none of it
#          timed that tightly.
# (With AUTOBAHN_CASES set, one phase runs just those cases.)
# Each invocation's output goes to $OUT/PHASE/all-ROLE.out and is shown,
# prefixed with [ROLE], once it ends; its "N passed, M failed" line feeds
# the summary. Reports: $OUT/PHASE/ROLE/index.html.
run_all() {
    mkdir -p "$OUT"
    local all_start=$SECONDS role port
    local -A seen=()
    for role in "${ROLES[@]}"; do
        port=$(role_port "$role")
        [[ -z ${seen[$port]:-} ]] ||
            die "$role and ${seen[$port]} would share port $port; set the AUTOBAHN_*_PORT variables apart"
        seen[$port]=$role
        require_free_port "$port" "the AUTOBAHN_*_PORT of $role"
    done

    if [[ -z ${AUTOBAHN_SERVER_CMD:-} || -z ${AUTOBAHN_CLIENT_CMD:-} ]]; then
        log "building the testees (release, with TLS): echo_server, broadcast_server, autobahn_client"
        "${BUILD_TESTEES[@]}" || die "cargo build of the Autobahn testees failed"
    fi
    bash "$REPO_ROOT/scripts/tls_pki.sh" "$PKI"
    ensure_wstest
    log "excluded cases: ${EXCLUDE:-none}"

    SUMMARY=() TOTAL_PASSED=0 TOTAL_FAILED=0
    declare -gA ROLE_RAN=()
    local overall=0
    if [[ -n ${AUTOBAHN_CASES:-} ]]; then
        run_phase selected "$CASES" "$EXCLUDE" || overall=1
    else
        # The short cases at most four testees at a time (the plain ones,
        # then the wss ones): with all six at once on 2 CPUs, a server
        # testee's close could still lose a race with a reset (4.2.5).
        local all_roles=("${ROLES[@]}") plain=() secure=() r
        for r in "${all_roles[@]}"; do
            if [[ $r == *-tls ]]; then secure+=("$r"); else plain+=("$r"); fi
        done
        if ((${#plain[@]})); then
            ROLES=("${plain[@]}")
            run_phase quick '*' "${EXCLUDE:+$EXCLUDE,}9.*,12.*,13.*" || overall=1
        fi
        if ((${#secure[@]})); then
            ROLES=("${secure[@]}")
            run_phase quick-tls '*' "${EXCLUDE:+$EXCLUDE,}9.*,12.*,13.*" || overall=1
        fi
        ROLES=("${all_roles[@]}")
        if [[ ,$EXCLUDE, == *,9.\*,* && ,$EXCLUDE, == *,12.\*,* && ,$EXCLUDE, == *,13.\*,* ]]; then
            log "phase bulk: every one of its sections is excluded"
        else
            run_phase bulk "$BULK" "$EXCLUDE" || overall=1
        fi
    fi
    # Both phases together must have run every case in every testee that
    # runs the whole bulk phase.
    if [[ -z ${AUTOBAHN_CASES:-} && -z $EXCLUDE ]]; then
        for role in "${ROLES[@]}"; do
            [[ $(bulk_cases "$role") == "$BULK" ]] || continue
            if ((${ROLE_RAN[$role]:-0} != ALL_CASES)); then
                SUMMARY+=("ERROR: $role ran ${ROLE_RAN[$role]:-0} cases, not $ALL_CASES")
                TOTAL_FAILED=$((TOTAL_FAILED + 1))
                overall=1
            fi
        done
    fi
    echo
    echo "== autobahn summary (excluded: ${EXCLUDE:-none}; $((SECONDS - all_start)) s in all) =="
    printf '  %s\n' "${SUMMARY[@]}"
    echo "autobahn: $TOTAL_PASSED passed, $TOTAL_FAILED failed"
    return "$overall"
}

# The bulk phase's sections, and what each role runs of them. On 2 CPUs
# the bulk of six testees side by side once took over 50 minutes (wstest's
# Python doing TLS and compression for every message), so by default the
# whole of it runs for the core's echo server, the server crate, the
# client and both wss roles (all 517 cases over TLS: the two wss roles
# alone, quick and bulk, took 8.6 minutes here), and the split client runs
# section 9 (its reader and writer threads under big messages; the codec
# and the limits it shares with the client). AUTOBAHN_FULL_BULK=1 runs all
# of it for every role.
BULK='9.*,12.*,13.*'
bulk_cases() {
    if [[ ${AUTOBAHN_FULL_BULK:-0} == 1 ]]; then
        echo "$BULK"
        return
    fi
    case $1 in
    client-split) echo '9.*' ;;
    *) echo "$BULK" ;;
    esac
}

# One phase of `all`: every role side by side on AUTOBAHN_CASES=$2 with
# AUTOBAHN_EXCLUDE=$3, in $OUT/$1. Adds to SUMMARY, TOTAL_PASSED and
# TOTAL_FAILED; fails if any role failed.
run_phase() {
    local phase=$1 cases=$2 exclude=$3 out_dir="$OUT/$1" phase_start=$SECONDS role port
    mkdir -p "$out_dir"
    log "=== phase $phase: cases ${cases}, excluding ${exclude:-nothing} (every testee side by side) ==="
    local -A pids=()
    for role in "${ROLES[@]}"; do
        port=$(role_port "$role")
        rm -f "$out_dir/all-$role.rc" "$out_dir/all-$role.out"
        log "starting $role on port $port (output: $out_dir/all-$role.out)"
        # Its own process group (setsid), so that stopping it on exit stops
        # its wstest and testee too.
        local var=AUTOBAHN_SERVER_PORT
        [[ $role == client* ]] && var=AUTOBAHN_CLIENT_PORT
        local role_cases=$cases
        [[ $phase == bulk ]] && role_cases=$(bulk_cases "$role")
        setsid env "$var=$port" AUTOBAHN_PREBUILT=1 AUTOBAHN_OUT="$out_dir" \
            AUTOBAHN_CASES="$role_cases" AUTOBAHN_EXCLUDE="$exclude" bash -c '
            start=$SECONDS rc=0
            bash "$1" "$2" >"$3" 2>&1 || rc=$?
            echo "$rc $((SECONDS - start))" >"$4"
        ' run-role "$REPO_ROOT/scripts/autobahn.sh" "$role" \
            "$out_dir/all-$role.out" "$out_dir/all-$role.rc" </dev/null &
        pids[$role]=$!
        BG_PIDS+=("$!")
    done

    local rc secs out line counts passed failed overall=0
    for role in "${ROLES[@]}"; do
        wait "${pids[$role]}" || true
        out="$out_dir/all-$role.out"
        rc=1 secs=?
        [[ -f $out_dir/all-$role.rc ]] && read -r rc secs <"$out_dir/all-$role.rc"
        printf '\n[autobahn] ----- %s, phase %s (exit %s, %s s) -----\n' "$role" "$phase" "$rc" "$secs"
        sed "s/^/[$role] /" "$out" 2>/dev/null || true
        line=$(grep -E "^autobahn-$role: [0-9]+ passed, [0-9]+ failed$" "$out" | tail -n 1 || true)
        passed=0 failed=0
        if [[ $line =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
            passed=${BASH_REMATCH[1]} failed=${BASH_REMATCH[2]}
        fi
        # A failing role must never add up to "0 failed" (e.g. it died
        # before running any case, or the testee crashed after the last one).
        if ((rc != 0 && failed == 0)); then
            failed=1
        fi
        ROLE_RAN[$role]=$((${ROLE_RAN[$role]:-0} + passed + failed))
        TOTAL_PASSED=$((TOTAL_PASSED + passed))
        TOTAL_FAILED=$((TOTAL_FAILED + failed))
        counts=$(sed -n "s/^autobahn-$role counts: //p" "$out" | tail -n 1)
        if ((rc == 0)); then
            SUMMARY+=("$(printf '%-6s %-12s PASS  %4s s  %s' "$phase" "$role" "$secs" "${line:-no result line}")")
        else
            SUMMARY+=("$(printf '%-6s %-12s FAIL  %4s s  exit %s, %s (log: %s)' "$phase" "$role" "$secs" "$rc" "${line:-no result line}" "$out")")
            overall=1
        fi
        SUMMARY+=("$(printf '%-19s %s' '' "${counts:-(no counts)}")")
    done
    BG_PIDS=()
    SUMMARY+=("phase $phase: every testee side by side in $((SECONDS - phase_start)) s")
    return "$overall"
}

# ---------------------------------------------------------------------------
# main

usage() {
    echo "usage: $0 server|server-crate|client|client-split|server-tls|client-tls|all" >&2
    exit 2
}

[[ $# -eq 1 ]] || usage

main_start=$SECONDS
main_rc=0
case $1 in
server | server-crate | server-tls)
    run_server "$1" || main_rc=$?
    log "$1 took $((SECONDS - main_start)) s (exit $main_rc)"
    ;;
client | client-split | client-tls)
    run_client "$1" || main_rc=$?
    log "$1 took $((SECONDS - main_start)) s (exit $main_rc)"
    ;;
all)
    run_all || main_rc=$?
    ;;
*)
    usage
    ;;
esac
exit "$main_rc"
