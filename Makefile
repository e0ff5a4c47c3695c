# sgd-ou developer entry points. `make test` is the command README.md gives users and CI runs.
CARGO ?= cargo
PYTHON ?= python3
SEED ?= 1

.PHONY: all test demo examples lint fmt bench bench-peers bench-memory fuzz reference doc clean

all: lint test

## Run the whole test suite (unit, reference-value, calibration, CLI and integration tests).
test:
	$(CARGO) test --all-targets
	$(CARGO) test --doc

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
