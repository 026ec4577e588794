# pictod: `make run` starts the daemon, `make test` runs the whole test suite. Both set up .venv first; `make test`
# also the system packages its tests use (tools/ci_prereqs.sh: apt as root, else it prints the command and stops).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
CONFIG ?= config.toml

.PHONY: run test test-full prereqs lint testdata models bench bench-quick install-service clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(PIP) install -e '.[test]'
	touch $@

# The benchmarks' model trials build quantised and reshaped graphs with the onnx package.
$(VENV)/.installed-bench: $(VENV)/.installed-test pyproject.toml
	$(PIP) install -e '.[test,bench]'
	touch $@

run: $(VENV)/.installed
	mkdir -p photos
	$(VENV)/bin/pictod run --config $(CONFIG)

testdata: $(VENV)/.installed-test
	$(PY) tools/fetch_testdata.py

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check daemon tests tools bench
	$(VENV)/bin/mypy

prereqs:
	bash tools/ci_prereqs.sh

test: prereqs testdata lint
	$(VENV)/bin/pytest -m "not slow" -q

test-full: prereqs testdata lint
	$(VENV)/bin/pytest -q

models:
	tools/export_models.sh models-rebuilt

bench: testdata $(VENV)/.installed-bench
	$(PY) bench/run.py --full

bench-quick: testdata $(VENV)/.installed-bench
	$(PY) bench/run.py --quick

install-service: $(VENV)/.installed  # pictod service install, of .venv
	tools/install_service.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
