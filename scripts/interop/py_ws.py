#!/usr/bin/env python3
"""python-websockets side of scripts/interop.sh (asyncio API, websockets >= 13).

    py_ws.py client URL [--no-compression] [--expect-deflate 0|1]
    py_ws.py server [--no-context-takeover]

client  connects to URL (our echo_server or broadcast_server), sends text
        (ASCII, non-ASCII), binary, empty messages of both kinds, a 64 KiB
        and a 1 MiB compressible message and 300 small chat-like lines (32 at a
        time back to back), and
        checks every echo byte for byte and in order. With compression on
        (websockets' default offer) and --expect-deflate 1, the response's
        Sec-WebSocket-Extensions must name permessage-deflate; with
        --no-compression nothing is offered and the response must name no
        extension. Prints one PASS/FAIL line per check; exit 0 if all pass.
server  an echo server on 127.0.0.1, port chosen by the OS, printed as
        "listening PORT" once it accepts. Compression is websockets'
        default (permessage-deflate with its window-bits parameters), or
        with --no-context-takeover a permessage-deflate that also answers
        server_no_context_takeover. Runs until killed.

Every wait is bounded (--timeout, default 60 s for the whole client run).
"""

import argparse
import asyncio
import sys
import time

import websockets
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

MAX_SIZE = 64 << 20
CHAT_LINES = 300
# Lines sent before their echoes are read. The broadcast server queues at
# most 64 messages for a client (ServerConfig::queue_len) and closes with
# 1008 past that: a burst of 300 unread lines is a flood, not a chat.
CHAT_WINDOW = 32


def compressible_text(length):
    parts = []
    size = n = 0
    while size < length:
        line = '{"seq":%d,"user":"guest-%d","text":"the quick brown fox"}\n' % (n, n % 7)
        parts.append(line)
        size += len(line)
        n += 1
    return "".join(parts)[:length]


def compressible_bytes(length):
    return bytes(((i // 64) % 251) ^ (i % 4) for i in range(length))


def messages():
    """(name, message): str is a text message, bytes a binary one."""
    return [
        ("ASCII text", "Hello, interop!"),
        ("non-ASCII text", "Grüße, ¡hola!, привет, 你好, こんにちは, 🦀🔌 (κόσμε)"),
        ("binary 0..=255", bytes(range(256))),
        ("empty text", ""),
        ("empty binary", b""),
        ("64 KiB compressible text", compressible_text(64 << 10)),
        ("1 MiB compressible binary", compressible_bytes(1 << 20)),
    ]


def chat_lines():
    words = ["hi", "how are you?", "fine, thanks", "see you", "ok 👍", "lol"]
    return ["guest-%d: %s #%d" % (i % 5, words[i % len(words)], i) for i in range(CHAT_LINES)]


def compare(sent, got):
    """None when equal (same kind, same bytes), else why not."""
    kind = lambda m: "text" if isinstance(m, str) else "binary"
    if kind(sent) != kind(got):
        return "sent %s, got %s back" % (kind(sent), kind(got))
    if sent == got:
        return None
    a = sent.encode() if isinstance(sent, str) else sent
    b = got.encode() if isinstance(got, str) else got
    at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return "sent %d bytes, got %d back, first difference at byte %d" % (len(a), len(b), at)


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def result(self, what, why):
        if why is None:
            self.passed += 1
            print("PASS %s" % what, flush=True)
        else:
            self.failed += 1
            print("FAIL %s: %s" % (what, why), flush=True)


async def run_client(args, checks):
    compression = None if args.no_compression else "deflate"
    async with connect(
        args.url,
        compression=compression,
        max_size=MAX_SIZE,
        ping_interval=None,
        open_timeout=10,
        close_timeout=10,
    ) as ws:
        checks.result("connect %s (compression %s)" % (args.url, compression or "off"), None)
        header = ws.response.headers.get("Sec-WebSocket-Extensions")
        print("Sec-WebSocket-Extensions: %s" % (header if header is not None else "(none)"), flush=True)
        if args.no_compression:
            checks.result(
                "no extension negotiated when none was offered",
                None if header is None else "the server answered %r" % header,
            )
        elif args.expect_deflate:
            checks.result(
                "negotiated extension contains permessage-deflate",
                None if header and "permessage-deflate" in header else "the header is %r" % header,
            )

        for name, message in messages():
            await ws.send(message)
            got = await asyncio.wait_for(ws.recv(), args.read_timeout)
            checks.result("echo %s" % name, compare(message, got))

        lines = chat_lines()
        why = None
        for start in range(0, len(lines), CHAT_WINDOW):
            window = lines[start : start + CHAT_WINDOW]
            for line in window:
                await ws.send(line)
            for i, line in enumerate(window, start):
                got = await asyncio.wait_for(ws.recv(), args.read_timeout)
                why = compare(line, got)
                if why is not None:
                    why = "line %d: %s" % (i, why)
                    break
            if why is not None:
                break
        checks.result(
            "echo %d chat lines, %d at a time back to back" % (len(lines), CHAT_WINDOW), why
        )
    # Leaving the block closed the connection with 1000 and waited for the
    # server's close.
    checks.result("close handshake (1000)", None if ws.close_code == 1000 else "close code %r" % ws.close_code)


async def echo(ws):
    try:
        async for message in ws:
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass


async def run_server(args):
    if args.no_context_takeover:
        options = dict(
            compression=None,
            extensions=[ServerPerMessageDeflateFactory(server_no_context_takeover=True)],
        )
    else:
        options = dict(compression="deflate")
    async with serve(echo, "127.0.0.1", 0, max_size=MAX_SIZE, ping_interval=None, **options) as server:
        port = server.sockets[0].getsockname()[1]
        print("listening %d" % port, flush=True)
        await server.serve_forever()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    client = sub.add_parser("client")
    client.add_argument("url")
    client.add_argument("--no-compression", action="store_true")
    client.add_argument("--expect-deflate", type=int, choices=(0, 1), default=1)
    client.add_argument("--timeout", type=float, default=60.0, help="bound of the whole run (s)")
    client.add_argument("--read-timeout", type=float, default=20.0, help="bound of one echo (s)")
    server = sub.add_parser("server")
    server.add_argument("--no-context-takeover", action="store_true")
    args = parser.parse_args()

    if args.mode == "server":
        asyncio.run(run_server(args))
        return 0

    print("python-websockets %s client -> %s" % (websockets.__version__, args.url), flush=True)
    checks = Checks()
    started = time.monotonic()
    try:
        asyncio.run(asyncio.wait_for(run_client(args, checks), args.timeout))
    except asyncio.TimeoutError:
        checks.result("the run", "timed out (a read waited %.0f s, or the run %.0f s)" % (args.read_timeout, args.timeout))
    except Exception as e:  # noqa: BLE001 - every error is one failed check
        checks.result("the run", "%s: %s" % (type(e).__name__, e))
    print(
        "py_ws client: %d passed, %d failed (%.1f s)"
        % (checks.passed, checks.failed, time.monotonic() - started),
        flush=True,
    )
    return 0 if checks.failed == 0 and checks.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
