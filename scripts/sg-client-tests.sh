#!/usr/bin/env bash
# Runs the official shotgun_api3 3.10.3 live-server tests, unmodified, against a fresh `rushes tracker serve`
# (see scripts/sg_client_tests.py). Prints `sg-client-suite: passed P of T`. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
PYTHONPATH="$PWD" exec "$PY" scripts/sg_client_tests.py "$@"
