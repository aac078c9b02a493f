# bakong-node: the two contract commands are `make test` and (later) `make devnet`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: test test-long lint proto bench-crypto clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## test: lint, type-check and run the test suite (creates .venv when missing)
test: $(STAMP) lint
	$(BIN)/python -m pytest -q -m "not slow"

## test-long: everything, including long simulation and fault runs
test-long: $(STAMP) lint
	BAKONG_LONG=1 $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy node

## proto: regenerate node/proto from proto/ (commit the result)
proto: $(STAMP)
	$(BIN)/python -m node.proto.generate

bench-crypto: $(STAMP)
	$(BIN)/python benchmarks/crypto.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
