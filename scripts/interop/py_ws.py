#!/usr/bin/env python3
"""python-websockets side of scripts/interop.sh (asyncio API, websockets >= 13).

    py_ws.py client URL [--no-compression] [--expect-deflate 0|1] [--ca FILE]
    py_ws.py server [--no-context-takeover] [--tls-cert FILE --tls-key FILE]
    py_ws.py chat URL --ca FILE [--expect-deflate 0|1]

client  connects to URL (our echo_server or broadcast_server), sends text
        (ASCII, non-ASCII), binary, empty messages of both kinds, a 64 KiB
        and a 1 MiB compressible message and 300 small chat-like lines (32 at a
        time back to back), and
        checks every echo byte for byte and in order. With compression on
        (websockets' default offer) and --expect-deflate 1, the response's
        Sec-WebSocket-Extensions must name permessage-deflate; with
        --no-compression nothing is offered and the response must name no
        extension. Prints one PASS/FAIL line per check; exit 0 if all pass.
        With --ca (a wss:// URL) the server's certificate is checked
        against the CA certificates of FILE, and only them.
server  an echo server on 127.0.0.1, port chosen by the OS, printed as
        "listening PORT" once it accepts. Compression is websockets'
        default (permessage-deflate with its window-bits parameters), or
        with --no-context-takeover a permessage-deflate that also answers
        server_no_context_takeover. With --tls-cert and --tls-key (PEM
        files: the chain and its key) it serves wss://. Runs until killed.
chat    a client of our chat server (example/server) at the wss:// URL:
        first checks that a default SSL context (the system's roots, not
        FILE) is refused; then, trusting the CA certificates of FILE
        only, waits for its welcome
        ("* welcome, NAME! ..."), renames itself with /nick and waits for
        "* NAME is now NEW", sends chat lines (ASCII, non-ASCII) and waits
        for each to come back as "NEW: line" (history and notices of
        others are skipped), then closes with 1000. It also fetches the
        chat's page, https:// at the same address, with the same SSL
        context: status 200, text/html, an <html> document.

Every wait is bounded (--timeout, default 60 s for the whole client run).
"""

import argparse
import asyncio
import ssl
import sys
import time
import urllib.request

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


def client_ssl(ca):
    """An SSL context that trusts the CA certificates of the PEM file `ca`
    and nothing else, checking the certificate and the host name (the
    defaults of PROTOCOL_TLS_CLIENT); None without `ca`."""
    if ca is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=ca)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    return context


def server_ssl(cert, key):
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise SystemExit("py_ws.py server: --tls-cert and --tls-key go together")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def connect_options(args):
    options = dict(max_size=MAX_SIZE, ping_interval=None, open_timeout=10, close_timeout=10)
    context = client_ssl(args.ca)
    if context is not None:
        options["ssl"] = context
    return options


def check_tls(ws, checks):
    """With TLS, one check that it is there, naming the version and cipher."""
    ssl_object = ws.transport.get_extra_info("ssl_object")
    if ssl_object is None:
        checks.result("TLS", "the connection is not encrypted")
    else:
        checks.result("TLS (%s, %s), certificate checked against the CA" % (ssl_object.version(), ssl_object.cipher()[0]), None)


def check_deflate_header(ws, checks, expect_deflate):
    header = ws.response.headers.get("Sec-WebSocket-Extensions")
    print("Sec-WebSocket-Extensions: %s" % (header if header is not None else "(none)"), flush=True)
    if expect_deflate:
        checks.result(
            "negotiated extension contains permessage-deflate",
            None if header and "permessage-deflate" in header else "the header is %r" % header,
        )
    return header


async def run_client(args, checks):
    compression = None if args.no_compression else "deflate"
    async with connect(args.url, compression=compression, **connect_options(args)) as ws:
        checks.result("connect %s (compression %s)" % (args.url, compression or "off"), None)
        if args.ca is not None:
            check_tls(ws, checks)
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


async def recv_until(ws, timeout, wanted, what):
    """Reads text messages until one for which wanted(text) holds; returns
    it and the messages skipped. Fails on binary, the end, or timeout."""
    skipped = []
    while True:
        got = await asyncio.wait_for(ws.recv(), timeout)
        if not isinstance(got, str):
            raise AssertionError("binary message while waiting for %s" % what)
        if wanted(got):
            return got, skipped
        skipped.append(got)
        print("  (skipped %r while waiting for %s)" % (got[:200], what), flush=True)


async def run_chat(args, checks):
    # First, that the certificate is checked at all: a context with the
    # system's roots and not our CA must refuse the server.
    try:
        async with connect(args.url, ssl=ssl.create_default_context(), open_timeout=10):
            pass
        why = "connected anyway"
    except ssl.SSLCertVerificationError as e:
        why = None
        print("  (refused as expected: %s)" % e, flush=True)
    except Exception as e:  # noqa: BLE001 - any other error is not the refusal checked
        why = "%s: %s" % (type(e).__name__, e)
    checks.result("without our CA the certificate is refused (SSLCertVerificationError)", why)

    async with connect(args.url, **connect_options(args)) as ws:
        checks.result("connect %s" % args.url, None)
        check_tls(ws, checks)
        check_deflate_header(ws, checks, args.expect_deflate)

        welcome, _ = await recv_until(
            ws, args.read_timeout, lambda t: t.startswith("* welcome, "), "the welcome"
        )
        name = welcome[len("* welcome, ") :].split("!", 1)[0]
        checks.result("welcome %r (name %s)" % (welcome, name), None if name else "no name in it")

        new = "py-interop"
        await ws.send("/nick %s" % new)
        notice = "* %s is now %s" % (name, new)
        got, _ = await recv_until(ws, args.read_timeout, lambda t: t == notice or t.startswith("! "), repr(notice))
        checks.result("/nick %s answered %r" % (new, notice), None if got == notice else "got %r" % got)

        for line in ["hello over wss", "Grüße, привет, 你好, 🦀🔌", "x" * 3000]:
            await ws.send(line)
            want = "%s: %s" % (new, line)
            got, _ = await recv_until(
                ws, args.read_timeout, lambda t: t.startswith(new + ": ") or t.startswith("! "), "the line back"
            )
            checks.result("chat line of %d bytes came back as %r" % (len(line.encode()), want[:60]),
                          None if got == want else "got %r" % got[:200])
    checks.result("close handshake (1000)", None if ws.close_code == 1000 else "close code %r" % ws.close_code)

    page = "https://" + args.url.split("://", 1)[1]
    context = client_ssl(args.ca)
    loop = asyncio.get_running_loop()

    def fetch():
        with urllib.request.urlopen(page, context=context, timeout=args.read_timeout) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()

    status, content_type, body = await loop.run_in_executor(None, fetch)
    checks.result("GET %s: status %d" % (page, status), None if status == 200 else "status %d" % status)
    checks.result("the page is text/html (%s)" % content_type,
                  None if content_type.startswith("text/html") else "Content-Type %r" % content_type)
    text = body.decode("utf-8", "replace").lower()
    checks.result("the page is an HTML document of %d bytes with a WebSocket client" % len(body),
                  None if "<html" in text and "websocket" in text else "no <html or no WebSocket in %r" % text[:200])


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
    context = server_ssl(args.tls_cert, args.tls_key)
    if context is not None:
        options["ssl"] = context
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
    client.add_argument("--ca", metavar="FILE", help="trust only these CA certificates (PEM) for wss://")
    server = sub.add_parser("server")
    server.add_argument("--no-context-takeover", action="store_true")
    server.add_argument("--tls-cert", metavar="FILE", help="serve wss:// with this certificate chain (PEM)")
    server.add_argument("--tls-key", metavar="FILE", help="and this private key (PEM)")
    chat = sub.add_parser("chat")
    chat.add_argument("url")
    chat.add_argument("--ca", metavar="FILE", required=True, help="trust only these CA certificates (PEM)")
    chat.add_argument("--expect-deflate", type=int, choices=(0, 1), default=1)
    chat.add_argument("--timeout", type=float, default=60.0, help="bound of the whole run (s)")
    chat.add_argument("--read-timeout", type=float, default=20.0, help="bound of one read (s)")
    args = parser.parse_args()

    if args.mode == "server":
        asyncio.run(run_server(args))
        return 0

    print("python-websockets %s %s -> %s" % (websockets.__version__, args.mode, args.url), flush=True)
    checks = Checks()
    started = time.monotonic()
    run = run_chat if args.mode == "chat" else run_client
    try:
        asyncio.run(asyncio.wait_for(run(args, checks), args.timeout))
    except asyncio.TimeoutError:
        checks.result("the run", "timed out (a read waited %.0f s, or the run %.0f s)" % (args.read_timeout, args.timeout))
    except Exception as e:  # noqa: BLE001 - every error is one failed check
        checks.result("the run", "%s: %s" % (type(e).__name__, e))
    print(
        "py_ws %s: %d passed, %d failed (%.1f s)"
        % (args.mode, checks.passed, checks.failed, time.monotonic() - started),
        flush=True,
    )
    return 0 if checks.failed == 0 and checks.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
