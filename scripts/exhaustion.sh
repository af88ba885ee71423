#!/usr/bin/env bash
# Runs the server crate's broadcast server out of file descriptors and checks
# that it refuses the extra clients cleanly and goes on serving the others.
#
#   scripts/exhaustion.sh [CONNECTIONS] [FILE_LIMIT]
#
# The server runs under `ulimit -n FILE_LIMIT` (256), so its capacity is a
# little under that; one client thread (hold_connections) then opens
# CONNECTIONS (400) connections one after the other, and the script checks:
#   - the ones past the capacity were refused with HTTP 503 and Retry-After
#     (or closed during the handshake), none failed otherwise;
#   - every connection that was accepted still receives a broadcast sent
#     after all the refusals;
#   - the server is still alive and still answers GET /stats;
#   - the refusals were logged once, not once per client.
# Bounded in time (every step has a timeout), kills what it starts, exits
# non-zero on failure. The binaries are built where cargo puts them:
# $CARGO_TARGET_DIR if set, else target/ in the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO_ROOT=$(pwd)
CARGO_TARGET=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
examples="$CARGO_TARGET/release/examples"

count="${1:-400}"
file_limit="${2:-256}"
started_ns=$(date +%s%N)

fail() {
  echo "exhaustion: FAILED: $*" >&2
  if [ -n "${server_log:-}" ] && [ -f "$server_log" ]; then
    echo "--- server log (last 20 lines) ---" >&2
    tail -n 20 "$server_log" >&2
  fi
  exit 1
}

# GET /stats from the server, with a 5 s bound.
stats() {
  timeout 5 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1"
    printf "GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" >&3
    cat <&3' _ "$1" | tail -n 1
}

if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt $((count + 64)) ]; then
  fail "the client needs a file limit above $count connections (hard limit $(ulimit -Hn))"
fi
ulimit -n "$(ulimit -Hn)"

timeout 600 cargo build --release -q -p rusty_socket_server --example broadcast_server
timeout 600 cargo build --release -q -p rusty_socket_core --example hold_connections

server_log=$(mktemp)
# Port 0: the OS picks a free port, and the server prints it.
(ulimit -n "$file_limit" && exec "$examples/broadcast_server" 127.0.0.1:0) >"$server_log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$server_log"' EXIT

port=
for _ in $(seq 1 100); do
  port=$(sed -n 's|.*listening on ws://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$server_log")
  [ -n "$port" ] && break
  kill -0 "$server" 2>/dev/null || fail "the broadcast server exited before listening"
  sleep 0.1
done
[ -n "$port" ] || fail "the broadcast server is not listening after 10 s"

before=$(stats "$port")
echo "exhaustion: server under ulimit -n $file_limit on port $port: $before"
capacity=$(sed -n 's/.*"capacity":\([0-9]*\).*/\1/p' <<<"$before")
[ -n "$capacity" ] || fail "no capacity in /stats"
[ "$capacity" -lt "$count" ] || fail "capacity $capacity is not below $count connections: nothing to refuse"

client_out=$(mktemp)
trap 'kill $server 2>/dev/null || true; rm -f "$server_log" "$client_out"' EXIT
status=0
timeout 120 "$examples/hold_connections" "ws://127.0.0.1:$port/" "$count" 1 --allow-refused --broadcast \
  >"$client_out" || status=$?
cat "$client_out"
[ "$status" -eq 0 ] || fail "hold_connections exited with status $status"

kill -0 "$server" 2>/dev/null || fail "the server died"
held=$(sed -n 's/^held \([0-9]*\) connections.*/\1/p' "$client_out")
refused_503=$(sed -n 's/.*refused_503=\([0-9]*\).*/\1/p' "$client_out")
refused_closed=$(sed -n 's/.*refused_closed=\([0-9]*\).*/\1/p' "$client_out")
[ -n "$held" ] && [ -n "$refused_503" ] && [ -n "$refused_closed" ] || fail "cannot read the client's report"
[ $((held + refused_503 + refused_closed)) -eq "$count" ] || fail "held $held + refused $refused_503 + $refused_closed != $count"
[ "$refused_503" -gt 0 ] || fail "no client was answered 503"
[ "$held" -ge $((capacity * 9 / 10)) ] || fail "held only $held of a capacity of $capacity"

after=$(stats "$port")
echo "exhaustion: after the run: $after"
grep -q '"refused":' <<<"$after" || fail "/stats does not answer after the run"
episodes=$(grep -c "refusing connections" "$server_log" || true)
[ "$episodes" -eq 1 ] || fail "expected the refusals logged once, found $episodes lines"
grep "refusing connections" "$server_log" | sed 's/^/exhaustion: server log: /'

elapsed_ms=$((($(date +%s%N) - started_ns) / 1000000))
printf 'exhaustion: OK: held %d, refused %d with 503 and %d closed, server alive, in %d.%03d s\n' \
  "$held" "$refused_503" "$refused_closed" $((elapsed_ms / 1000)) $((elapsed_ms % 1000))
