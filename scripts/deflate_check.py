#!/usr/bin/env python3
"""Checks our compressor's output with zlib's inflater (by hand, not in tests).

    scripts/deflate_check.py WBITS [ORIGINAL] < MESSAGES

MESSAGES on stdin: permessage-deflate payloads (RFC 7692, the 00 00 ff ff
tail stripped), each as a 4-byte big-endian length and its bytes, all from
one compressor with context takeover. They are inflated in order by one
raw zlib inflater with window WBITS (a peer with that window); each gets
the tail back first (RFC 7692 section 7.2.2). With ORIGINAL, the
concatenated output must equal that file. Make MESSAGES with

    DEFLATE_CORPUS=DIR DEFLATE_DUMP=OUT cargo test --release -p rusty_socket_core \\
        --lib corpus_report -- --ignored --nocapture

which writes OUT/NAME.LEVEL.wWBITS.SIZE.msgs for the corpus files.
Only the standard library's zlib binding is used.
"""
import struct
import sys
import zlib

TAIL = b"\x00\x00\xff\xff"


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    wbits = int(sys.argv[1])
    data = sys.stdin.buffer.read()
    inflater = zlib.decompressobj(-wbits)
    out = []
    pos = count = packed = 0
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        payload = data[pos + 4 : pos + 4 + n]
        pos += 4 + n
        out.append(inflater.decompress(payload + TAIL))
        count += 1
        packed += n
    whole = b"".join(out)
    print(f"{count} messages, {packed} bytes -> {len(whole)} bytes inflated by zlib (window {wbits})")
    if len(sys.argv) == 3:
        original = open(sys.argv[2], "rb").read()
        if whole != original:
            sys.exit("MISMATCH with " + sys.argv[2])
        print("identical to", sys.argv[2])


if __name__ == "__main__":
    main()
