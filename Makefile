# Quick start: `make demo` (runs the pod-kill experiment on the local platform), `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# checkov pins python-dateutil below what the kubernetes client needs: it gets a venv of its own.
CHECKOV_VENV := .venv-checkov
CHECKOV      := $(CHECKOV_VENV)/bin/checkov

.PHONY: install demo gameday test lint fmt unit integration deploy-check bench clean

# Two distributions: the toolkit (pyproject.toml) and the reference platform it tests
# (reference_platform/pyproject.toml, with the local tritonserver and HAProxy binaries and the trainer).
$(STAMP): pyproject.toml reference_platform/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e './reference_platform[local,train]' -e '.[dev,train]'
	touch $(STAMP)

install: $(STAMP) $(CHECKOV)

$(CHECKOV):
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install -q 'checkov==3.3.30'

demo: $(STAMP)
	$(BIN)/resilience run --with-platform experiments/pod-kill.yaml

# A game day on the same experiment: live dashboard, you confirm the kill (y), note (n), abort (a).
gameday: $(STAMP)
	$(BIN)/resilience gameday --with-platform experiments/pod-kill.yaml

lint: $(STAMP)
	$(BIN)/ruff check resilience reference_platform tests benchmarks
	$(BIN)/ruff format --check resilience reference_platform tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

integration: $(STAMP)
	$(BIN)/pytest tests/integration -q

test: lint $(CHECKOV)
	$(BIN)/pytest -q

# The deployable platform, offline: images linted, overlays built and schema-checked, checkov, promtool.
deploy-check: $(STAMP) $(CHECKOV)
	$(BIN)/pytest -q tests/deploy

bench: $(STAMP)
	$(BIN)/python benchmarks/gateway_latency.py

clean:
	-$(BIN)/resilience platform down
	rm -rf .resilience reports/2* reports/latest .pytest_cache .mypy_cache .ruff_cache

fmt: $(STAMP)
	$(BIN)/ruff check --fix -q resilience reference_platform tests benchmarks
	$(BIN)/ruff format -q resilience reference_platform tests benchmarks
