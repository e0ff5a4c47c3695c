#!/usr/bin/env bash
# Side-by-side timing of the streaming pass against its peers, in one run, hot page cache:
#   dd floor | SHA-256 of the inputs with two processes (OpenSSL) | numpy/scipy peer verifier |
#   sgd-ou pass alone (Run::load) | sgd-ou verify (k = 8), with peak RSS from /usr/bin/time -v.
#
#   scripts/bench_peers.sh [RUN_DIR] [--d D --n N --checkpoints M]
# Default: a 611 MB run (d = 10,000, n = 2,000 float32, 8 checkpoints) in $TMPDIR, made by
# scripts/make_big_run.py if missing. For the 16 GB run:
#   scripts/bench_peers.sh /big/run16 --d 1000000 --n 1024 --checkpoints 4
# Needs python3 with numpy and scipy, openssl, GNU time. Not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:-${TMPDIR:-/tmp}/sgd-ou-bench-611mb}
shift || true
GEN_ARGS=("$@")
[ ${#GEN_ARGS[@]} -eq 0 ] && GEN_ARGS=(--d 10000 --n 2000 --checkpoints 8)
PY=${PYTHON:-python3}

[ -f "$RUN/run.json" ] || "$PY" scripts/make_big_run.py "$RUN" "${GEN_ARGS[@]}"
[ -n "${SGD_OU_NO_BUILD:-}" ] || cargo build --release --quiet --bin sgd-ou --example load_run
BIN=target/release/sgd-ou
LOAD=target/release/examples/load_run

mapfile -t FILES < <(find "$RUN" -type f \( -name '*.npy' -o -name '*.json' -o -name '*.safetensors' \) | sort)
BYTES=$(cat "${FILES[@]}" | wc -c)
cat "${FILES[@]}" > /dev/null # warm the page cache

now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc -l; }
peak() { grep "Maximum resident" "$1" | awk '{printf "%.0f MiB", $6/1024}'; }

t=$(now); for f in "${FILES[@]}"; do dd if="$f" of=/dev/null bs=8M status=none; done; DD=$(elapsed "$t")
half=$(( (${#FILES[@]} + 1) / 2 ))
t=$(now)
openssl dgst -sha256 "${FILES[@]:0:$half}" > /dev/null &
openssl dgst -sha256 "${FILES[@]:$half}" > /dev/null &
wait
SHA=$(elapsed "$t")
t=$(now); /usr/bin/time -v -o /tmp/bench_peer.$$ "$PY" scripts/peer_verify.py "$RUN" 8 > /dev/null; PEER=$(elapsed "$t")
t=$(now); /usr/bin/time -v -o /tmp/bench_pass.$$ "$LOAD" "$RUN" 8 > /dev/null; PASS=$(elapsed "$t")
t=$(now); /usr/bin/time -v -o /tmp/bench_verify.$$ "$BIN" verify --run-dir "$RUN" --json > /dev/null || true; VERIFY=$(elapsed "$t")

printf '\ninputs: %s, %d files, %.0f MB\n\n' "$RUN" "${#FILES[@]}" "$(echo "$BYTES / 1000000" | bc -l)"
printf '| | time | vs floor | peak RSS |\n|---|---|---|---|\n'
printf '| dd (read once) | %.2f s | | |\n' "$DD"
printf '| SHA-256, 2 processes (floor) | %.2f s | 1.00× | |\n' "$SHA"
printf '| numpy/scipy verifier | %.2f s | %.2f× | %s |\n' "$PEER" "$(echo "$PEER / $SHA" | bc -l)" "$(peak /tmp/bench_peer.$$)"
printf '| sgd-ou pass alone (read + hash + project + moments) | %.2f s | %.2f× | %s |\n' "$PASS" "$(echo "$PASS / $SHA" | bc -l)" "$(peak /tmp/bench_pass.$$)"
printf '| sgd-ou verify (k = 8) | %.2f s | %.2f× | %s |\n' "$VERIFY" "$(echo "$VERIFY / $SHA" | bc -l)" "$(peak /tmp/bench_verify.$$)"
rm -f /tmp/bench_peer.$$ /tmp/bench_pass.$$ /tmp/bench_verify.$$
