# Rushes: two commands on a fresh machine.
#   make demo   runs the whole loop on embedded defaults (installs what it needs first)
#   make test   runs ruff, mypy and the test suite (installs what it needs first)
# TORCH_INDEX: a pip index URL for torch (e.g. https://download.pytorch.org/whl/cu128 for CUDA);
# empty means the torch==2.13.0 CPU wheel from the default index.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_INDEX ?=
STAMP := $(VENV)/.installed

.PHONY: venv system-deps zou-venv sg-client-suite test lint demo bench wheel clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),)
	$(BIN)/python -m pip install --quiet -e '.[dev,ray,onnxruntime]'
	@touch $(STAMP)

system-deps:
	@bash scripts/system-deps.sh postgresql redis ffmpeg systemd chromium

zou-venv:
	@bash scripts/zou-venv.sh

lint: venv
	$(BIN)/ruff check daemon engine integrations tests bench
	$(BIN)/ruff format --check daemon engine integrations tests bench
	$(BIN)/mypy

# The official shotgun_api3 live-server tests (fetched from PyPI into .sg-client/, never committed), run
# against `rushes tracker serve` by tests/integrations/test_sg_client_suite.py.
sg-client-suite: venv
	$(BIN)/python scripts/sg_client_tests.py --fetch-only

# The suite runs in TEST_WORKERS processes (pytest-xdist): much of it waits on servers and daemons, so three
# workers pay on two cores. Tests sharing a costly server stay on one worker (tests/conftest.py says which).
TEST_WORKERS ?= 3

test: venv system-deps zou-venv sg-client-suite lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder tests

demo: venv
	$(BIN)/rushes demo --keep

# Benchmarks read real footage from the folder the bench scripts default to (the shared footage beside the
# repository); FOOTAGE=DIR points them elsewhere.
FOOTAGE ?=

bench: venv
	@bash scripts/system-deps.sh ffmpeg
	$(BIN)/python bench/media.py
	$(BIN)/python bench/pipeline.py $(if $(FOOTAGE),--footage $(FOOTAGE),)
	$(BIN)/python bench/speed.py
	$(BIN)/python bench/quality.py $(if $(FOOTAGE),--footage $(FOOTAGE),) --budget 600

# The wheel a production host installs (deploy/README.md, "Installing from the wheel"), in dist/: built from the
# committed tree alone (git archive HEAD), so neither an earlier build's leftovers in build/lib (a module since
# removed) nor an untracked file under the packages that the package-data globs match (a *.yaml, a *.json) ships.
WHEEL_PYTHON ?= $(BIN)/python
WHEEL_SRC := build/wheel-src

wheel:
	@test -x $(WHEEL_PYTHON) || { echo "$(WHEEL_PYTHON) not found: run make venv first" >&2; exit 2; }
	rm -rf $(WHEEL_SRC) && mkdir -p $(WHEEL_SRC) dist
	git archive HEAD | tar -x -C $(WHEEL_SRC)
	$(WHEEL_PYTHON) -m pip wheel --quiet --no-deps --no-build-isolation $(WHEEL_SRC) -w dist
	rm -rf $(WHEEL_SRC)
	@ls dist/*.whl

clean:
	rm -rf $(VENV) .venv-* .mypy_cache .ruff_cache .pytest_cache
