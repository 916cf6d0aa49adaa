"""The official shotgun_api3 3.10.3 live-server tests, unmodified, pass against `rushes tracker serve`.

scripts/sg_client_tests.py fetches the client's source distribution from PyPI (cached in .sg-client/),
runs its test_api.py, test_api_long.py and test_proxy.py with Rushes' own fixture module against a fresh
server started through the CLI, and reports the figures. Takes about a minute.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# 138 test cases; the client itself skips 3 (test_share_thumbnail and the two note-thread tests are
# marked unittest.skip upstream), so 135 is every test that runs.
TOTAL = 138
GOAL = 135


@pytest.mark.slow
def test_the_official_client_suite_passes_against_the_local_server(tmp_path: Path) -> None:
    report = tmp_path / "suite.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "sg_client_tests.py"), "--json", str(report)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    print(done.stdout[-4000:], done.stderr[-2000:])
    assert done.returncode == 0, done.stderr[-2000:]
    outcome = json.loads(report.read_text())
    print(f"shotgun_api3 live-server suite: {outcome['passed']} of {outcome['total']} passed")
    assert outcome["total"] == TOTAL
    assert outcome["passed"] >= GOAL, outcome["failed"]
