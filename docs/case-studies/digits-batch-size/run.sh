#!/usr/bin/env bash
# Case study 2 (issue 19): a batch-size sweep of constant-rate SGD on scikit-learn's digits with a
# small JAX MLP, recorded with the Python recorder; where minibatch Gaussianity holds and breaks
# as S shrinks, and the iteration-wise vs coordinate-pooled tail-index views side by side.
# Regenerates every number and figure of README.md in this folder:
#
#     bash docs/case-studies/digits-batch-size/run.sh [OUT_DIR]
#
# Needs python3 with numpy, scipy, scikit-learn and jax[cpu]. SGD_OU may name a built binary
# (default: cargo run --release). REDUCED=1: CI size (shorter runs, fewer minibatches). A full-size
# run into the default OUT_DIR also refreshes results/ (the copy README.md quotes).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
out="${1:-$here/out}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
case "$out" in  # it is emptied below
  / | "$repo" | "$here" | "${HOME:-/}") echo "run.sh: refusing to empty $out; name a new folder" >&2
    exit 2 ;;
esac
if [[ -n "${SGD_OU:-}" && -e "$SGD_OU" ]]; then  # absolute, as compare runs from inside OUT_DIR
  SGD_OU="$(cd "$(dirname "$SGD_OU")" && pwd)/$(basename "$SGD_OU")"
fi
sgd_ou=(${SGD_OU:-cargo run -q --release --manifest-path "$repo/Cargo.toml" --})
batch=(4 16 64 256)
size=()
[[ "${REDUCED:-0}" == 1 ]] && size=(--reduced)
export PYTHONPATH="$repo/python${PYTHONPATH:+:$PYTHONPATH}"
rm -rf "$out"
mkdir -p "$out"
python3 "$here/train.py" "$out" --batch-sizes "${batch[@]}" "${size[@]}"
runs=()
for s in "${batch[@]}"; do
  set +e
  "${sgd_ou[@]}" verify --run-dir "$out/runs/S$s" --out "$out/verify/S$s" > "$out/verify-S$s.txt"
  code=$?
  set -e
  echo "verify S = $s: exit code $code (0 pass, 1 fail, 3 inconclusive)"
  [[ $code -ne 2 && $code -le 3 ]]
  runs+=("runs/S$s")
done
set +e
# from inside OUT_DIR, so that the table names the runs by relative paths (runs/S4, ...)
(cd "$out" && "${sgd_ou[@]}" compare "${runs[@]}" --out compare > compare.txt)
code=$?
set -e
echo "compare: exit code $code (0 pass, 1 fail, 3 inconclusive)"
[[ $code -ne 2 && $code -le 3 ]]
python3 "$here/tails.py" "$out" "${size[@]}"
python3 "$here/report.py" "$out"
if [[ "${REDUCED:-0}" != 1 && "$out" == "$here/out" ]]; then
  mkdir -p "$here/results"
  cp "$out"/numbers.{json,md} "$out"/{tail-index,kurtosis}.svg "$out/compare.txt" \
    "$out/compare/compare.svg" "$here/results/"
  for s in 16 256; do cp "$out/verify/S$s/figures/qq.svg" "$here/results/qq-S$s.svg"; done
  echo "results/ refreshed"
fi
