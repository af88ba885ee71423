#!/usr/bin/env bash
# Runs the neutral side-by-side benchmark (shared/tools/perf.sh: wsload
# against raw_echo, tungstenite and fastwebsockets) with our two servers
# plugged in: the core's echo_server and the server crate's broadcast_server.
#
#   scripts/perf.sh                 # every scenario, 2 runs (about 3 minutes)
#   RUNS=1 SCENARIOS="e64c50 bcast" scripts/perf.sh
#
# Every knob of shared/tools/perf.sh passes through (RUNS, SECS, SCENARIOS,
# SERVERS, PIN ...). The tools live beside the checkout in ../shared/tools,
# or wherever PERF_TOOLS points.
set -euo pipefail
cd "$(dirname "$0")/.."
tools="${PERF_TOOLS:-$(cd .. && pwd)/shared/tools}"
[ -x "$tools/perf.sh" ] || { echo "scripts/perf.sh: no $tools/perf.sh (set PERF_TOOLS)" >&2; exit 1; }

cargo build --release -q -p rusty_socket_core --example echo_server
cargo build --release -q -p rusty_socket_server --example broadcast_server
bin="$(pwd)/target/release/examples"
export TARGET_ECHO_CMD="$bin/echo_server {addr}"
export TARGET_BCAST_CMD="$bin/broadcast_server {addr}"
export TARGET_NAME="${TARGET_NAME:-rusty_socket}"
exec "$tools/perf.sh"
