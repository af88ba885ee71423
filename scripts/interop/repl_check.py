#!/usr/bin/env python3
"""Our terminal client (example/client, chat_client) against an echo server,
driven through a pipe as a person would type: scripts/interop.sh.

    repl_check.py CHAT_CLIENT URL [--ca FILE] [--timeout S]

Starts `CHAT_CLIENT [--ca FILE]` with its standard input a pipe (so it reads
plain lines, no terminal), then types, waiting each time for the answer
before the next line:

    connect URL       -> "connected to URL"
    hello             -> "rcv=> hello"
    Grüße, 🦀 wss     -> "rcv=> Grüße, 🦀 wss"
    __disconnect      -> "disconnected" (the closing handshake finished in
                         time: not "... did not answer the close in time"),
                         and no "connection closed by server": the answer
                         to our close is ours, even when the server echoes
                         its reason too (python-websockets does)
    exit              -> the client exits with status 0

Each answer is waited for at most --timeout seconds (default 15). Waiting
for the echo before `__disconnect` matters: a server that has received a
close may no longer send (python-websockets drops an echo it had not sent
yet), so typing everything at once would test the server's timing, not the
client. Prints one PASS/FAIL line per step and the client's output; exit 0
if all passed.
"""

import argparse
import os
import queue
import subprocess
import sys
import threading
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("client")
    parser.add_argument("url")
    parser.add_argument("--ca", metavar="FILE")
    parser.add_argument("--timeout", type=float, default=15.0)
    args = parser.parse_args()

    command = [args.client] + (["--ca", args.ca] if args.ca else [])
    print("repl_check: %s, connecting to %s" % (" ".join(command), args.url), flush=True)
    env = dict(os.environ, RUST_BACKTRACE="1")
    child = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    lines = queue.Queue()

    def pump():
        for raw in child.stdout:
            lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()

    passed = failed = 0

    def result(what, why):
        nonlocal passed, failed
        if why is None:
            passed += 1
            print("PASS %s" % what, flush=True)
        else:
            failed += 1
            print("FAIL %s: %s" % (what, why), flush=True)
        return why is None

    def wait_for(want, bad=()):
        """Reads the client's lines until `want`; None then, else why not."""
        deadline = time.monotonic() + args.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "no %r within %.0f s" % (want, args.timeout)
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                return "the client's output ended before %r" % want
            print("  | %s" % line, flush=True)
            if line == want:
                return None
            if any(line.startswith(b) for b in bad):
                return "got %r" % line

    def type_line(text):
        try:
            child.stdin.write((text + "\n").encode())
            child.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            return "cannot type %r: %s" % (text, e)
        return None

    failures = ("connection failed", "connection lost", "connection closed by server", "error:")
    steps = [
        ("connect %s" % args.url, "connected to %s" % args.url, failures),
        ("hello", "rcv=> hello", failures),
        ("Grüße, 🦀 wss", "rcv=> Grüße, 🦀 wss", failures),
        ("__disconnect", "disconnected", failures + ("disconnected (",)),
    ]
    try:
        ok = result("banner", wait_for("---<Command Line Chat Initialized!>---", failures))
        for typed, want, bad in steps:
            if not ok:
                break
            why = type_line(typed) or wait_for(want, bad)
            ok = result("typed %r, the client printed %r" % (typed, want), why)
        if ok:
            why = type_line("exit")
            child.stdin.close()
            if why is None:
                try:
                    code = child.wait(timeout=args.timeout)
                    why = None if code == 0 else "exit status %d" % code
                except subprocess.TimeoutExpired:
                    why = "still running %.0f s after exit" % args.timeout
            result("typed 'exit', the client exited with status 0", why)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        # What the client printed after the last step.
        while True:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                break
            if line is None:
                break
            print("  | %s" % line, flush=True)

    print("repl_check: %d passed, %d failed" % (passed, failed), flush=True)
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
