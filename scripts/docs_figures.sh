#!/bin/sh
# Regenerates docs/figures/*.svg (the figures shown in docs/report.md) from the bundled example
# run: `sgd-ou verify --out` into a temporary directory, then copies its figures/*.svg.
# Usage: sh scripts/docs_figures.sh   (from the repository root; builds sgd-ou if needed)
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cargo run --quiet -- verify --run-dir examples/quadratic-gaussian --out "$tmp/report" >/dev/null
mkdir -p docs/figures
rm -f docs/figures/*.svg
cp "$tmp"/report/figures/*.svg docs/figures/
ls docs/figures
