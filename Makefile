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
# last commit alone (git archive HEAD), so neither an earlier build's leftovers in build/lib (a module since
# removed) nor an untracked file under the packages that the package-data globs match (a *.yaml, a *.json) ships.
# Changes to tracked files not committed are refused: the wheel would leave them out. Its version is
# daemon.__version__ with the commit as a local version (0.1.0+g1a2b3c4), stamped into the archived copy, so
# `rushes version`, the wheel's metadata and its file name say which commit it is, and a host installing a later
# commit's wheel gets it (pip does nothing for a version it has). The last line printed is the wheel's path.
# Earlier Rushes wheels in dist/ are removed before the build: dist/ holds one, the one to install
# (deploy/ray-cluster.yaml refuses more than one).
WHEEL_PYTHON ?= $(BIN)/python
WHEEL_SRC := build/wheel-src

wheel:
	@test -x $(WHEEL_PYTHON) || { echo "$(WHEEL_PYTHON) not found: run make venv first" >&2; exit 2; }
	@command -v git >/dev/null 2>&1 || { echo "make wheel: git not found: the wheel is built from the last commit of a Rushes checkout" >&2; exit 2; }
	@git rev-parse --verify -q HEAD >/dev/null 2>&1 || { echo "make wheel: $(CURDIR) is not a git checkout with a commit: the wheel is built from the last commit" >&2; exit 2; }
	@test -z "$$(git status --porcelain --untracked-files=no)" || { echo "make wheel: tracked files have changes not committed (git status), which the wheel would leave out: commit them first" >&2; exit 2; }
	@rm -rf $(WHEEL_SRC) $(WHEEL_SRC).tar && mkdir -p $(WHEEL_SRC) dist
	@set -e; trap 'rm -rf $(WHEEL_SRC) $(WHEEL_SRC).tar' EXIT; \
	git archive --format=tar -o $(WHEEL_SRC).tar HEAD; \
	tar -xf $(WHEEL_SRC).tar -C $(WHEEL_SRC); \
	stamp="g$$(git rev-parse --short HEAD)"; init=$(WHEEL_SRC)/daemon/__init__.py; \
	sed -E 's/^(__version__ = "[^"+]+)"$$/\1+'"$$stamp"'"/' $$init > $$init.new; mv $$init.new $$init; \
	version=$$($(WHEEL_PYTHON) -c 'import runpy, sys; print(runpy.run_path(sys.argv[1])["__version__"])' $$init); \
	case "$$version" in *+$$stamp) ;; *) echo "make wheel: no __version__ = \"X.Y.Z\" line to stamp in daemon/__init__.py" >&2; exit 2;; esac; \
	rm -f dist/rushes-*.whl; \
	$(WHEEL_PYTHON) -m pip wheel --quiet --no-deps --no-build-isolation $(WHEEL_SRC) -w dist; \
	test -f dist/rushes-$$version-py3-none-any.whl; \
	echo dist/rushes-$$version-py3-none-any.whl

clean:
	rm -rf $(VENV) .venv-* .mypy_cache .ruff_cache .pytest_cache
