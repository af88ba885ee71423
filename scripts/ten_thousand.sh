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
# Stops by itself: every step has a timeout.
set -euo pipefail
cd "$(dirname "$0")/.."

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
target/release/examples/echo_server "127.0.0.1:$port" 2>/dev/null &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q ":$(printf '%04X' "$port") 00000000:0000 0A" /proc/net/tcp && break
  sleep 0.1
done

timeout 300 target/release/examples/hold_connections "ws://127.0.0.1:$port/" "$count" "$rounds" &
client=$!
status=0
wait "$client" || status=$?
# The peak resident memory of the server, reached while all were held.
rss=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
threads=$(awk '/Threads/ {print $2}' "/proc/$server/status")
echo "ten_thousand: server peak RSS ${rss} KiB for $count connections ($((rss / count)) KiB each), $threads threads now"
exit "$status"
