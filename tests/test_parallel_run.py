"""A worker that dies mid-run says how and where it died, its test runs once more, and the run still ends
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
# test_a and dies in test_c: only replacement workers are left to run the rest of test_c.
TOY_SUITE = {
    "pytest.ini": "[pytest]\n",
    "conftest.py": "from tests.conftest import pytest_collection_modifyitems, pytest_configure, pytest_xdist_make_scheduler  # noqa\n",
    "test_a.py": "def test_first():\n    pass\n",
    "test_b.py": "def test_second():\n    pass\n",
}

ALWAYS_DIES = textwrap.dedent(
    """\
    import faulthandler

    def test_dies():
        faulthandler._sigsegv()  # a segmentation fault, as native code would have

    def test_after_the_crash():
        pass
    """
)

DIES_ONCE = textwrap.dedent(
    """\
    import os
    import signal
    from pathlib import Path

    def test_dies():
        marker = Path("killed-once")
        if not marker.exists():
            marker.write_text("")
            os.kill(os.getpid(), signal.SIGKILL)  # as something outside the test would

    def test_after_the_crash():
        pass
    """
)


def run_toy_suite(folder: Path, test_c: str) -> subprocess.CompletedProcess[str]:
    for name, text in {**TOY_SUITE, "test_c.py": test_c}.items():
        (folder / name).write_text(text)
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
    # xdist's own scheduler hands a replacement worker test_a's finished group and waits forever: the limit
    # turns that hang into this test's failure.
    return subprocess.run(
        command,
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,  # the inner run's workers and their crash stay out of this worker's group
    )


def test_a_test_that_kills_its_worker_twice_fails_saying_where_and_the_rest_of_its_group_runs(
    tmp_path: Path,
) -> None:
    run = run_toy_suite(tmp_path, ALWAYS_DIES)
    out = run.stdout
    assert run.returncode == 1, out
    assert "1 failed, 3 passed" in out, out
    live, _, summary = out.partition("short test summary info")
    lost = [line for line in live.splitlines() if line.startswith("WORKER LOST test_c.py::test_dies")]
    assert len(lost) == 1 and "it runs once more" in lost[0], out  # the first death: one more run
    named = [line for line in live.splitlines() if line.startswith("FAILED test_c.py::test_dies")]
    assert len(named) == 1 and "crashed while running" in named[0], out  # the second: as it came
    stack = live.partition(named[0])[2]
    assert "Segmentation fault" in stack and 'test_c.py", line 4 in test_dies' in stack, out  # where it died
    assert "its process was killed by SIGSEGV; the kernel" in stack, out  # how it ended, and any OOM kills
    assert "test_c.py::test_dies" in summary, out


def test_a_worker_killed_once_from_outside_costs_its_test_one_more_run_and_the_summary_says_so(
    tmp_path: Path,
) -> None:
    run = run_toy_suite(tmp_path, DIES_ONCE)
    out = run.stdout
    assert run.returncode == 0, out
    assert "4 passed" in out, out
    lost = [line for line in out.splitlines() if line.startswith("WORKER LOST test_c.py::test_dies")]
    assert len(lost) == 1, out
    assert "its process was killed by SIGKILL" in out.partition(lost[0])[2], out
    summary = out.partition("workers lost (each test ran once more)")[2]
    assert "test_c.py::test_dies" in summary and "killed by SIGKILL" in summary, out
