# Drexfy developer commands. `make demo` and `make test` are all a fresh machine needs.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
LEDGER ?= evm
# processes: call the use cases; http: drive the API and signed webhooks like the frontend does.
VIA ?= processes
# Tests run on both cores; set JOBS=1 to debug.
JOBS ?= 2

.PHONY: install node test test-fast lint demo contracts bench soak fuzz serve clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(NODE_STAMP): package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

install: $(STAMP) $(NODE_STAMP)

node: $(NODE_STAMP)

test: install
	$(PY) -m pytest -q -n $(JOBS) --dist loadgroup -p no:cacheprovider

test-fast: install
	$(PY) -m pytest -q -x tests/unit tests/bdd

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/slither contracts --fail-medium

contracts: $(NODE_STAMP)
	node tools/build-contracts.js

demo: install
	$(VENV)/bin/drexfy demo --ledger $(LEDGER) --via $(VIA)

# The lifecycle through the real provider adapters (the stripe client, the Sumsub adapter, the
# ISO 20022 bank files) pointed at the local provider fakes under tests/support (not shipped).
demo-providers: install
	$(VENV)/bin/python -m pytest -p no:randomly -p no:cacheprovider -v tests/e2e/test_real_providers_lifecycle.py

serve: install
	$(VENV)/bin/drexfy serve

bench: install
	$(PY) -m bench.run $(AREAS)

# The fault harness at size: worker kills timed on in-flight ledger operations and a halted chain,
# on anvil with separate API and worker processes (the small version runs in `make test`).
soak: install
	$(PY) -m tests.soak $(SOAK_ARGS)

# The schema fuzz of the API (schemathesis, every role) with more examples than `make test` runs.
FUZZ_EXAMPLES ?= 100
fuzz: install
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q -p no:cacheprovider tests/http/test_schema_fuzz.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
