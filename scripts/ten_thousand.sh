#!/usr/bin/env bash
# Holds 10,000 concurrent WebSocket connections on loopback, twice:
#   1. to the core's echo server (a thread per connection), checking that
#      every one of them still echoes, round after round;
#   2. to the server crate's broadcast server, checking that every one of
#      them receives each broadcast (one message a round, sent by the first).
# After each, prints the server's peak resident memory and thread count.
#
#   scripts/ten_thousand.sh [CONNECTIONS] [ROUNDS]
#
# Needs a file limit above the connection count in both processes: the script
# raises the soft limit to the hard one (20000 here), raises the hard one too
# when it is lower and the script runs as root, and refuses to run otherwise.
# Stops by itself: every step has a timeout. The binaries are built where
# cargo puts them: $CARGO_TARGET_DIR if set, else target/ in the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO_ROOT=$(pwd)
CARGO_TARGET=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
examples="$CARGO_TARGET/release/examples"

count="${1:-10000}"
rounds="${2:-3}"
port="${TEN_THOUSAND_PORT:-9411}"
broadcast_port=$((port + 1))

hard=$(ulimit -Hn)
need=$((count + 100))
if [ "$hard" != unlimited ] && [ "$hard" -lt "$need" ]; then
  # Raising the hard limit needs root (CAP_SYS_RESOURCE); try it.
  if ! ulimit -Hn "$need" 2>/dev/null; then
    echo "ten_thousand: the hard file limit ($hard) is below $count connections and cannot be raised" >&2
    exit 1
  fi
  hard=$need
fi
ulimit -n "$hard"

cargo build --release -q -p rusty_socket_core --example echo_server --example hold_connections
cargo build --release -q -p rusty_socket_server --example broadcast_server
server_log=$(mktemp)
server=
trap 'if [ -n "$server" ]; then kill $server 2>/dev/null || true; fi; rm -f "$server_log"' EXIT

# run NAME PORT SERVER_BINARY [HOLD_CONNECTIONS OPTIONS...]: starts the
# server on 127.0.0.1:PORT, holds the connections, stops the server.
run() {
  local name=$1 port=$2 binary=$3
  shift 3
  : >"$server_log"
  "$binary" "127.0.0.1:$port" >"$server_log" 2>&1 &
  server=$!

  # Wait, at most 10 s, until the server says it listens (it prints that
  # line once bind succeeded; a LISTEN entry in /proc/net/tcp could be
  # another process's socket on the same port). Give up early if the server
  # exited.
  local listening=false
  for _ in $(seq 1 100); do
    if grep -q "listening on" "$server_log"; then
      listening=true
      break
    fi
    if ! kill -0 "$server" 2>/dev/null; then
      local server_status=0
      wait "$server" || server_status=$?
      echo "ten_thousand: the $name exited (status $server_status) before listening on 127.0.0.1:$port:" >&2
      tail -n 20 "$server_log" >&2
      exit 1
    fi
    sleep 0.1
  done
  if ! $listening; then
    echo "ten_thousand: the $name is not listening on 127.0.0.1:$port after 10 s" >&2
    exit 1
  fi
  grep "capacity" "$server_log" | sed "s/^/ten_thousand: $name: /" || true

  local started_ns status=0
  started_ns=$(date +%s%N)
  timeout 300 "$examples/hold_connections" "ws://127.0.0.1:$port/" "$count" "$rounds" "$@" || status=$?
  if ! kill -0 "$server" 2>/dev/null; then
    echo "ten_thousand: the $name died during the run:" >&2
    tail -n 20 "$server_log" >&2
    exit 1
  fi
  # The peak resident memory of the server, reached while all were held.
  local rss threads
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
  threads=$(awk '/Threads/ {print $2}' "/proc/$server/status")
  echo "ten_thousand: $name: peak RSS ${rss} KiB for $count connections ($((rss / count)) KiB each), $threads threads now, $((($(date +%s%N) - started_ns) / 1000000)) ms"
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  server=
  if [ "$status" -ne 0 ]; then
    echo "ten_thousand: the $name run failed (status $status); server log:" >&2
    tail -n 20 "$server_log" >&2
    exit "$status"
  fi
}

run "echo server" "$port" "$examples/echo_server"
run "broadcast server" "$broadcast_port" "$examples/broadcast_server" --broadcast
