#!/usr/bin/env bash
# Holds 10,000 concurrent WebSocket connections to the core's echo server on
# loopback and checks that every one of them still echoes, round after round;
# then prints the server's resident memory and thread count.
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
server_log=$(mktemp)
"$examples/echo_server" "127.0.0.1:$port" 2>"$server_log" &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$server_log"' EXIT

# Wait, at most 10 s, until the server says it listens (it prints that line
# once bind succeeded; a LISTEN entry in /proc/net/tcp could be another
# process's socket on the same port). Give up early if the server exited.
listening=false
for _ in $(seq 1 100); do
  if grep -q "listening on" "$server_log"; then
    listening=true
    break
  fi
  if ! kill -0 "$server" 2>/dev/null; then
    server_status=0
    wait "$server" || server_status=$?
    echo "ten_thousand: the echo server exited (status $server_status) before listening on 127.0.0.1:$port:" >&2
    tail -n 20 "$server_log" >&2
    exit 1
  fi
  sleep 0.1
done
if ! $listening; then
  echo "ten_thousand: the echo server is not listening on 127.0.0.1:$port after 10 s" >&2
  exit 1
fi

timeout 300 "$examples/hold_connections" "ws://127.0.0.1:$port/" "$count" "$rounds" &
client=$!
status=0
wait "$client" || status=$?
if ! kill -0 "$server" 2>/dev/null; then
  echo "ten_thousand: the echo server died during the run:" >&2
  tail -n 20 "$server_log" >&2
  exit 1
fi
# The peak resident memory of the server, reached while all were held.
rss=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
threads=$(awk '/Threads/ {print $2}' "/proc/$server/status")
echo "ten_thousand: server peak RSS ${rss} KiB for $count connections ($((rss / count)) KiB each), $threads threads now"
exit "$status"
