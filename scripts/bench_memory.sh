#!/bin/sh
# Peak RSS of `sgd-ou verify` on the two big shapes of issue 17 (also `make bench-memory`):
#   rows: n = 100,000 rows, d = 20, 8 checkpoints (float32; 64 MB of gradients)
#   wide: n = 16 rows, d = 10,000,000, 2 checkpoints (float32; 1.3 GB of gradients)
# Each run is written by scripts/make_big_run.py into a temporary directory, verified once under
# /usr/bin/time -v, and deleted at once (the disk is shared). Needs python3 with numpy.
# Usage: scripts/bench_memory.sh [TMPDIR]    (SGD_OU_BIN overrides the binary)
set -eu
cd "$(dirname "$0")/.."
BIN=${SGD_OU_BIN:-}
if [ -z "$BIN" ]; then
    cargo build --release --quiet
    BIN=target/release/sgd-ou
fi
ROOT=$(mktemp -d "${1:-${TMPDIR:-/tmp}}/sgd-ou-mem.XXXXXX")
trap 'rm -rf "$ROOT"' EXIT INT TERM

printf '| case | n | d | checkpoints | gradients on disk | documented O(n·k + d·k) | peak RSS | time |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for spec in "rows 100000 20 8 32" "wide 16 10000000 2 8"; do
    set -- $spec
    name=$1 n=$2 d=$3 c=$4 s=$5
    run="$ROOT/$name"
    python3 scripts/make_big_run.py "$run" --n "$n" --d "$d" --checkpoints "$c" \
        --batch-size "$s" >/dev/null
    disk=$(du -sm "$run" | cut -f1)
    # k = min(d, 8) analysis coordinates: n·k per checkpoint plus the k × d basis, in doubles.
    k=$(( d < 8 ? d : 8 ))
    promise=$(( (c * n * k + d * k) * 8 / 1048576 ))
    /usr/bin/time -v "$BIN" verify --run-dir "$run" --quiet >/dev/null 2>"$ROOT/time.txt" || true
    if grep -q '^error' "$ROOT/time.txt"; then grep '^error' "$ROOT/time.txt" >&2; fi
    rss=$(awk -F': ' '/Maximum resident set size/ {printf "%d MiB", $2 / 1024}' "$ROOT/time.txt")
    secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$ROOT/time.txt")
    printf '| %s | %s | %s | %s | %s MB | %s MiB | %s | %s |\n' \
        "$name" "$n" "$d" "$c" "$disk" "$promise" "$rss" "$secs"
    rm -rf "$run"
done
