# bakong-node: the two contract commands are `make devnet` and `make test` (both build .venv).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# pytest workers (pytest-xdist; an idle worker takes tests queued for a busy one)
TEST_JOBS ?= 2

.PHONY: test test-long lint native proto devnet devnet-down bench bench-long bench-crypto clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## test: lint, type-check and run the test suite on the native build (creates .venv)
test: $(STAMP)
	@# lint and the native build side by side: each is one process, and a fresh clone's
	@# native build takes about a minute
	$(MAKE) --no-print-directory -j2 lint native NATIVE_FLAGS=--require
	$(BIN)/python -m pytest -q -m "not slow" -n $(TEST_JOBS) --dist worksteal

## test-long: everything, including long simulation and fault runs, then the suite again
## as plain Python (BAKONG_PURE=1), the fallback when no C compiler is present
test-long: NATIVE_FLAGS = --require
test-long: $(STAMP) lint native
	BAKONG_LONG=1 $(BIN)/python -m pytest -q
	BAKONG_PURE=1 $(BIN)/python -m pytest -q -m "not slow"

## native: compile the per-transaction modules with mypyc (skipped when up to date)
native: $(STAMP)
	$(BIN)/bakong-node native build $(NATIVE_FLAGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy node devnet

## devnet: run a 4-validator Bakong network in the foreground (Ctrl-C stops it)
devnet: $(STAMP) native
	$(BIN)/bakong-devnet up --dir .devnet

devnet-down: $(STAMP)
	$(BIN)/bakong-devnet down --dir .devnet

## bench: the consensus benchmark matrix; writes benchmarks/results/<date>.md
bench: $(STAMP) native
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m benchmarks.suite

## bench-long: the matrix plus a 5-minute max-rate run (memory, throughput by minute)
bench-long: $(STAMP) native
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m benchmarks.suite --long

## proto: regenerate node/proto from proto/ (commit the result)
proto: $(STAMP)
	$(BIN)/python -m node.proto.generate

bench-crypto: $(STAMP)
	$(BIN)/python benchmarks/crypto.py

clean:
	-$(BIN)/bakong-node native clean
	rm -rf $(VENV) .venv-iroha-sdk .venv-iroha-sdk.lock .pytest_cache .mypy_cache .ruff_cache .hypothesis
