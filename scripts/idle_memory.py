#!/usr/bin/env python3
"""Idle memory per connection of a server after traffic: opens COUNT
connections (ws:// or wss://, trusting --ca), sends one SIZE-byte message
on each and waits for its echo (the server must echo: broadcast_server
--echo), then leaves them all idle for HOLD seconds and reads the server's
VmRSS from /proc/PID/status; prints RSS before, after, and per connection.
The messages go one connection at a time, so the figure is what each
connection keeps, not the peak of all of them busy at once.
Loopback only; python-websockets (the interop venv has it); stops by
itself. Compression is not offered, so SIZE bytes cross each way.

  python3 scripts/idle_memory.py --url wss://localhost:PORT/ --ca ca.pem \\
      --count 1000 --size 16384 --hold 35 --pid PID
"""
import argparse
import asyncio
import ssl

import websockets


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--ca")
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--size", type=int, default=16384)
    p.add_argument("--hold", type=float, default=35)
    p.add_argument("--pid", type=int, required=True)
    a = p.parse_args()
    context = None
    if a.url.startswith("wss://"):
        context = ssl.create_default_context(cafile=a.ca)
    before = rss_kb(a.pid)
    payload = b"x" * a.size
    conns = []
    for _ in range(a.count):
        ws = await asyncio.wait_for(
            websockets.connect(a.url, ssl=context, compression=None,
                               max_size=None, ping_interval=None), 10)
        conns.append(ws)
    # One connection at a time: what stays is what each keeps, not the
    # peak of all of them busy at once.
    for ws in conns:
        await ws.send(payload)
        echo = await asyncio.wait_for(ws.recv(), 10)
        assert echo == payload, "an echo differs"
    after_traffic = rss_kb(a.pid)
    await asyncio.sleep(a.hold)
    idle = rss_kb(a.pid)
    print(f"RESULT url={a.url} count={a.count} size={a.size} rss_before_kb={before} "
          f"rss_after_traffic_kb={after_traffic} rss_idle_kb={idle} "
          f"per_conn_idle_kb={(idle - before) / a.count:.2f}")
    await asyncio.gather(*(ws.close() for ws in conns))


asyncio.run(main())
