#!/usr/bin/env bash
# Our DEFLATE against zlib on the same files, in one run: zcmp (zlib, from
# ../shared/tools/zcmp) and dcmp (ours, benches/src/bin/dcmp.rs) measure the
# same work the same way and run alternately, ROUNDS times, each pinned to
# the same CPU; then a table gives, per row, the median and range of ours /
# zlib for compression and inflation speed, and both ratios. This machine
# is noisy: only ratios taken within a round, then summarised, mean much.
#
# Usage: scripts/deflate_vs_zlib.sh [ROUNDS] [-- options for both tools]
#   default options: target/deflate-corpus/chat.jsonl target/deflate-corpus/text.txt
#                    --level 1,6 --wbits 9,10,11,12,15 --messages 150 --secs 1
# Environment: CPU (default 1) to pin to, CORPUS (default target/deflate-corpus),
#   ZCMP (a built zcmp; default: build ../shared/tools/zcmp into target/zcmp).
#
# Levels compared: zlib 1 with our Fast, zlib 6 with our Default.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-5}
[[ $# -gt 0 ]] && shift
[[ ${1:-} == -- ]] && shift
corpus=${CORPUS:-target/deflate-corpus}
if [[ $# -gt 0 ]]; then
    opts=("$@")
else
    opts=("$corpus/chat.jsonl" "$corpus/text.txt" --level 1,6 --wbits 9,10,11,12,15 --messages 150 --secs 1)
fi

zcmp=${ZCMP:-}
if [[ -z $zcmp ]]; then
    CARGO_TARGET_DIR="$PWD/target/zcmp" cargo build -q --release --manifest-path ../shared/tools/zcmp/Cargo.toml
    zcmp=target/zcmp/release/zcmp
fi
[[ -f $corpus/chat.jsonl ]] || "$zcmp" --make-corpus "$corpus"
cargo build -q --release -p rusty_socket_benches --bin dcmp

out=target/deflate-vs-zlib
mkdir -p "$out"
rm -f "$out"/round-*.txt
pin=(taskset -c "${CPU:-1}")
command -v taskset >/dev/null || pin=()
for ((r = 1; r <= rounds; r++)); do
    echo "round $r of $rounds: zlib, then ours" >&2
    "${pin[@]}" "$zcmp" "${opts[@]}" --backend zlib | grep '^RESULT' >"$out/round-$r.txt"
    "${pin[@]}" target/release/dcmp "${opts[@]}" | grep '^RESULT' >>"$out/round-$r.txt"
done

python3 - "$out" "$rounds" <<'EOF'
import re, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
rows = {}  # key -> {"zlib": [per round dict], "rusty_socket": [...]}
for r in range(1, rounds + 1):
    for line in open(f"{out}/round-{r}.txt"):
        f = dict(re.findall(r"(\w+)=(\S+)", line))
        key = (f["file"], f["level"], int(f["wbits"]), f["mode"], f.get("takeover", "-"), f["size"])
        rows.setdefault(key, {}).setdefault(f["backend"], {})[r] = f
def span(xs):
    return f"{statistics.median(xs):.2f} ({min(xs):.2f}-{max(xs):.2f})"
print(f"\nours / zlib, median (min-max) of {rounds} alternated rounds; levels: 1 = zlib 1 / our Fast, 6 = zlib 6 / our Default")
print("| file | level | wbits | mode | compress speed | inflate speed | zlib MB/s (comp / infl) | ours MB/s | ratio zlib | ratio ours | size, ours / zlib |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for key in sorted(rows):
    by = rows[key]
    if "zlib" not in by or "rusty_socket" not in by:
        continue
    both = sorted(set(by["zlib"]) & set(by["rusty_socket"]))
    z = [by["zlib"][r] for r in both]
    o = [by["rusty_socket"][r] for r in both]
    comp = [float(b["comp_mb_s"]) / float(a["comp_mb_s"]) for a, b in zip(z, o)]
    infl = [float(b["decomp_mb_s"]) / float(a["decomp_mb_s"]) for a, b in zip(z, o)]
    med = lambda rs, k: statistics.median(float(x[k]) for x in rs)
    file, level, wbits, mode, takeover, size = key
    mode = "whole" if mode == "whole" else f"{size} B, takeover={takeover}"
    zr, orr = float(z[0]["ratio"]), float(o[0]["ratio"])
    print(f"| {file} | {level} | {wbits} | {mode} | {span(comp)} | {span(infl)} | "
          f"{med(z, 'comp_mb_s'):.1f} / {med(z, 'decomp_mb_s'):.1f} | {med(o, 'comp_mb_s'):.1f} / {med(o, 'decomp_mb_s'):.1f} | "
          f"{zr:.3f} | {orr:.3f} | {zr / orr:.3f} |")
EOF
