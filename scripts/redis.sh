#!/usr/bin/env bash
# Several servers as one through a real Redis: installs Debian's
# redis-server if it is missing, then runs the tests that start their own
# redis-server on free loopback ports (they are #[ignore]d in a plain
# `cargo test`, which may run where there is no Redis):
#   - rusty_socket_server/tests/redis.rs: the RESP2 broker against Redis
#     (pub/sub order, claims, AUTH and SELECT, SIGKILL and restart, SIGSTOP);
#   - example/server/tests/redis.rs: chat_server processes as nodes (chat
#     lines, /msg, /list, unique names and history across nodes; Redis
#     killed, restarted and frozen; a node stopped with SIGTERM and one
#     killed).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null; then
  echo "installing redis-server (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt_get() { if [ "$(id -u)" = 0 ]; then apt-get "$@"; else sudo apt-get "$@"; fi; }
  apt_get update -q >/dev/null || true
  apt_get install -y -q --no-install-recommends redis-server >/dev/null
fi
# The package starts a server of its own on 6379; the tests use their own
# ports and never touch it.
redis-server --version

started=$SECONDS
cargo test -q -p rusty_socket_server --test redis -- --ignored
echo "(broker tests took $((SECONDS - started)) s)"
started=$SECONDS
cargo test -q -p chat_server --test redis -- --ignored
echo "(chat node tests took $((SECONDS - started)) s)"
