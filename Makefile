# sgd-ou developer entry points. `make test` is the command README.md gives users and CI runs.
CARGO ?= cargo
PYTHON ?= python3
SEED ?= 1

.PHONY: all test calibrate demo examples lint fmt bench bench-peers bench-memory fuzz reference doc clean

all: lint test

## Run the whole test suite (unit, reference-value, calibration, CLI and integration tests).
test:
	$(CARGO) test --all-targets
	$(CARGO) test --doc

## The calibration tests at full size (CALIBRATE_SCALE × the replicate counts of `make test`,
## plus the long ignored tables), writing docs/calibration.md, which docs/methods.md quotes.
CALIBRATE_SCALE ?= 5
calibrate:
	rm -rf target/calibration
	SGD_OU_CALIBRATE_SCALE=$(CALIBRATE_SCALE) SGD_OU_CALIBRATION_OUT=$(CURDIR)/target/calibration \
	  $(CARGO) test --release --test calibration -- --include-ignored
	{ echo "# Calibration tables"; echo; \
	  echo "Written by \`make calibrate\` (scale $(CALIBRATE_SCALE)); do not edit. Each row: scenario, replications,"; \
	  echo "observed counts and the bound the test asserts (nominal rate + 2 Monte Carlo SE)."; echo; \
	  for f in target/calibration/*.md; do echo "## $$(basename $$f .md)"; echo; cat $$f; echo; done; } > docs/calibration.md

## Verify the bundled example run (the README's first command, via make).
demo:
	$(CARGO) run --release -- verify --run-dir examples/quadratic-gaussian

## Regenerate the bundled example run from its seed.
examples:
	rm -rf examples/quadratic-gaussian
	$(CARGO) run --release -- simulate --scenario quadratic-gaussian --out examples/quadratic-gaussian --seed $(SEED)

## Formatting and lints, as CI runs them.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## Benchmarks (criterion); speed and memory targets live here, never in unit tests.
bench:
	$(CARGO) bench
	scripts/bench_peers.sh

## Only the side-by-side table (dd, SHA-256, numpy/scipy peer, sgd-ou) on the 611 MB run.
bench-peers:
	scripts/bench_peers.sh

## Peak RSS of verify at n = 10^5 rows (d = 20) and at d = 10^7 (n = 16); big runs are deleted.
bench-memory:
	scripts/bench_memory.sh

## 10^5 mutations per parser (npy header, safetensors header, run.json); `make test` runs 256.
fuzz:
	SGD_OU_FUZZ_CASES=100000 $(CARGO) test --release --test properties fuzz_parsers::

## Regenerate the reference values the tests read (needs scipy, statsmodels, pingouin).
reference:
	for f in tests/reference/generate_*.py; do $(PYTHON) $$f || exit 1; done

doc:
	$(CARGO) doc --no-deps

clean:
	$(CARGO) clean
