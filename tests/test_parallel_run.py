"""A worker that dies mid-run fails its one test, says where it died, and the run still ends
(tests/parallel_run.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Three modules, so three groups. With two workers and --no-loadscope-reorder, the first worker is handed
# test_a's group and then test_c's, the second test_b's and is then told to stop. The first worker finishes
# test_a and dies in test_c: only a replacement worker is left to run test_c's last test.
TOY_SUITE = {
    "pytest.ini": "[pytest]\n",
    "conftest.py": "from tests.conftest import pytest_collection_modifyitems, pytest_configure, pytest_xdist_make_scheduler  # noqa\n",
    "test_a.py": "def test_first():\n    pass\n",
    "test_b.py": "def test_second():\n    pass\n",
    "test_c.py": textwrap.dedent(
        """\
        import faulthandler

        def test_dies():
            faulthandler._sigsegv()  # a segmentation fault, as native code would have

        def test_after_the_crash():
            pass
        """
    ),
}


def test_a_worker_killed_mid_group_fails_its_test_at_once_and_the_rest_of_the_group_runs(
    tmp_path: Path,
) -> None:
    for name, text in TOY_SUITE.items():
        (tmp_path / name).write_text(text)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-n",
        "2",
        "--dist",
        "loadgroup",
        "--no-loadscope-reorder",
        "-rf",
    ]
    # xdist's own scheduler hands the replacement worker test_a's finished group and waits forever: the limit
    # turns that hang into this test's failure.
    run = subprocess.run(
        command,
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,  # the inner run's workers and their crash stay out of this worker's group
    )
    out = run.stdout
    assert run.returncode == 1, out
    assert "1 failed, 3 passed" in out, out
    live, _, summary = out.partition("short test summary info")
    named = [line for line in live.splitlines() if line.startswith("FAILED test_c.py::test_dies")]
    assert len(named) == 1 and "crashed while running" in named[0], out  # as it came, not only at the end
    stack = live.partition(named[0])[2]
    assert "Segmentation fault" in stack and 'test_c.py", line 4 in test_dies' in stack, out  # where it died
    assert "its process was killed by SIGSEGV; the kernel" in stack, out  # how it ended, and any OOM kills
    assert "test_c.py::test_dies" in summary, out
