#!/usr/bin/env python3
"""Compresses a corpus with zlib for the inflate benchmark (benches/benches/deflate.rs).

    scripts/deflate_corpus.py DIR

For every file NAME in DIR (the files `zcmp --make-corpus DIR` writes:
chat.jsonl, text.txt, binary.bin) it writes, next to it:

- NAME.whole.deflate: the file as one raw DEFLATE stream (zlib level 6,
  window bits 15, ending in a final block), as `zcmp FILE` compresses it;
- NAME.msgs150.deflate: the file cut into 150-byte messages, compressed as
  one permessage-deflate stream (RFC 7692): one compressor for all of them
  (context takeover), a sync flush after each, the trailing 00 00 ff ff
  stripped; each message stored as a 4-byte big-endian length and its
  bytes, as `zcmp FILE --messages 150` compresses it.

Only the standard library's zlib binding is used; nothing is downloaded.
"""
import os
import struct
import sys
import zlib

TAIL = b"\x00\x00\xff\xff"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    folder = sys.argv[1]
    for name in sorted(os.listdir(folder)):
        if name.endswith(".deflate") or name.startswith("."):
            continue
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            continue
        data = open(path, "rb").read()
        whole = zlib.compressobj(6, zlib.DEFLATED, -15)
        packed = whole.compress(data) + whole.flush(zlib.Z_FINISH)
        open(path + ".whole.deflate", "wb").write(packed)
        stream = zlib.compressobj(6, zlib.DEFLATED, -15)
        out = bytearray()
        for at in range(0, len(data), 150):
            message = stream.compress(data[at:at + 150]) + stream.flush(zlib.Z_SYNC_FLUSH)
            assert message.endswith(TAIL)
            message = message[: -len(TAIL)]
            out += struct.pack(">I", len(message)) + message
        open(path + ".msgs150.deflate", "wb").write(bytes(out))
        print(f"{name}: {len(data)} bytes, whole {len(packed)}, 150-byte messages {len(out)}")


if __name__ == "__main__":
    main()
