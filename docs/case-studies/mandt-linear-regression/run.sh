#!/usr/bin/env bash
# Mandt, Hoffman & Blei (2017), linear regression: the stationary covariance of constant-rate SGD
# iterates against the OU (Lyapunov) prediction across learning rates and batch sizes, with the
# discrete-time correction. Regenerates every number and the figure of README.md in this folder:
#
#     bash docs/case-studies/mandt-linear-regression/run.sh [OUT_DIR]
#
# Part A: sgd-ou's least-squares scenario (synthetic linear regression, Gaussian inputs, d = 4,
# N = 1024), `sgd-ou simulate` + `sgd-ou compare`.
# Part B: a real linear regression (scikit-learn's diabetes data, d = 11, ridge 0.1), SGD in NumPy
# recorded with python/sgd_ou_recorder (real_data.py), then `sgd-ou compare` on every run and on
# the runs whose second moment is stable; real_data.py writes figure.svg and numbers.json.
#
# SGD_OU may name a built binary (default: cargo run --release). REDUCED=1 runs a smaller grid
# (CI size: < 3 min on one core with a built binary). At full size without OUT_DIR, the figure,
# numbers.json and the two compare.md files are also copied into results/ next to this script.
# Needs python3 with numpy and scikit-learn.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/out}"
if [[ -n "${SGD_OU:-}" && -e "$SGD_OU" ]]; then SGD_OU="$(realpath "$SGD_OU")"; fi
sgd_ou=(${SGD_OU:-cargo run -q --release --manifest-path "$here/../../../Cargo.toml" --})
reduced=()
if [[ "${REDUCED:-0}" == 1 ]]; then
  eps=(0.01 0.04) batch=(8 128) spacing=600 reduced=(--reduced)
else
  eps=(0.005 0.02 0.08 0.2) batch=(8 32 128) spacing=2000
fi
rm -rf "$out"
mkdir -p "$out/synthetic/runs"
out="$(cd "$out" && pwd)"
cd "$out"  # run directories are named relative to OUT_DIR in the tables

compare() {  # compare OUT_SUBDIR RUN... ; prints the table, returns 0 unless exit code 2
  local dest="$1"; shift
  set +e
  "${sgd_ou[@]}" compare "${dims[@]}" "$@" --out "$dest" > "$dest.txt"
  local code=$?
  set -e
  cat "$dest.txt"
  echo "compare exit code: $code (0 pass, 1 fail, 3 inconclusive); files in $dest"
  [[ $code -ne 2 && $code -le 3 ]]
}

echo "== part A: synthetic least squares"
seed=1
runs=()
for e in "${eps[@]}"; do
  for s in "${batch[@]}"; do
    dir="synthetic/runs/eps${e}_s${s}"
    "${sgd_ou[@]}" simulate --scenario least-squares --out "$dir" --learning-rate "$e" \
      --batch-size "$s" --checkpoint-spacing "$spacing" --seed "$seed" > /dev/null
    runs+=("$dir")
    seed=$((seed + 1))
  done
done
dims=()
compare synthetic/compare "${runs[@]}"

echo "== part B: diabetes linear regression, recorded with python/sgd_ou_recorder"
python3 "$here/real_data.py" real "${reduced[@]}"
dims=(--dims 11)  # the whole parameter space (FDR2 needs it)
compare real/compare-all real/runs/*
# Runs whose exact second-moment recursion is stable (real_data.py: trace_exact not null).
mapfile -t stable < <(python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
for r in d['runs']:
    if r['trace_exact'] is not None:
        print(sys.argv[2] + '/' + r['run'])
" real/numbers.json real/runs)
compare real/compare-stable "${stable[@]}"

if [[ "${REDUCED:-0}" != 1 && $# -eq 0 ]]; then
  mkdir -p "$here/results"
  cp "$out/real/figure.svg" "$out/real/numbers.json" "$here/results/"
  cp "$out/real/compare-all/compare.md" "$here/results/compare-all.md"
  cp "$out/real/compare-stable/compare.md" "$here/results/compare-stable.md"
  cp "$out/synthetic/compare/compare.md" "$here/results/compare-synthetic.md"
  echo "results copied to $here/results"
fi
