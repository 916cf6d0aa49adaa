"""What the suite's parallel run (`make test`: pytest-xdist, `--dist loadgroup`) adds to pytest-xdist.

1. A worker crash cannot hang the run. pytest-xdist 3.8's LoadScopeScheduling.remove_node puts every work unit
   of a crashed worker back in the queue, the ones it had finished included, and the crashed test with them.
   A replacement worker handed a finished unit is sent no test, so nothing it runs ever asks the scheduler for
   more work; once the other workers have drained their own, every worker waits and the run never ends (CI
   stops it at its time limit, with no report). Here a crashed worker's units go back only while they hold
   tests that did not run, and the test that was running is not run again: xdist reports it as failed
   ("worker crashed while running"), as its other schedulers do.
2. A failure is named the moment it comes in, one line each (`FAILED id (worker): last line of the error`),
   not only in the summary at the end: a run cut short still says what failed. pytest-instafail does this
   with whole tracebacks, which would push the names out of the last screen of a CI log.
3. A worker that dies of a fatal signal leaves its threads' Python stacks in a file of its own (`fault_file`),
   which the line of its crashed test is followed by. pytest's own faulthandler writes them to file
   descriptor 2, which code capturing native output (engine.media.native) may be pointing elsewhere at that
   moment: workers have died in the suite with nothing on stderr.
4. That line also says how the worker process ended (its exit status, or the signal that killed it) and how
   many processes the kernel's OOM killer has killed since the run began: a SIGKILL with that count above
   zero is memory, one without it came from a process. A SIGSEGV with no stacks is a signal the kernel could
   not deliver (no handler ran): that is how OpenVINO's unmapped signal stack killed workers
   (engine/infer/signal_stack.py).
"""

from __future__ import annotations

import faulthandler
import os
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import IO

import pytest
from xdist.scheduler import LoadGroupScheduling
from xdist.workermanage import WorkerController

FAILURE_LINE_CHARS = 300
FAULT_LINES = (
    30  # the first lines of a crashed worker's fault file (the innermost frames first) follow its line
)
_fault_files: list[IO[str]] = []  # kept open for faulthandler


def fault_file(controller_pid: int, worker: str) -> Path:
    """Where worker `worker` of the run whose controller is `controller_pid` writes its fatal-signal stacks."""
    return Path(tempfile.gettempdir()) / f"rushes-test-faults-{controller_pid}-{worker}.txt"


def oom_kills() -> int | None:
    """How many processes the kernel's OOM killer has killed since boot (None where /proc/vmstat lacks it)."""
    try:
        lines = Path("/proc/vmstat").read_text().splitlines()
    except OSError:
        return None
    counts = [int(line.split()[1]) for line in lines if line.startswith("oom_kill ")]
    return counts[0] if counts else None


def how_it_ended(node: WorkerController) -> str:
    """How a crashed worker's process ended: its exit status, or the signal that killed it."""
    popen = getattr(getattr(node.gateway, "_io", None), "popen", None)
    if not isinstance(popen, subprocess.Popen):
        return "how it ended is unknown (not a local process)"
    try:
        code = popen.wait(timeout=10)
    except subprocess.TimeoutExpired:
        return "its process was still running 10 s after its connection closed"
    if code < 0:
        try:
            return f"its process was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"its process was killed by signal {-code}"
    return f"its process exited with status {code}"


def write_faults_to_file(worker: str) -> None:
    """In a worker: fatal signals dump every thread's stack into its fault file (not to descriptor 2)."""
    handle = fault_file(os.getppid(), worker).open("w")
    _fault_files.append(handle)
    faulthandler.enable(file=handle, all_threads=True)


class CrashSafeLoadGroupScheduling(LoadGroupScheduling):
    """LoadGroupScheduling whose crashed worker leaves only its unrun tests to the others."""

    def remove_node(self, node: WorkerController) -> str | None:
        workload = self.assigned_work.pop(node)
        if not self._pending_of(workload):
            return None
        crashed = next(nodeid for unit in workload.values() for nodeid, done in unit.items() if not done)
        for scope, unit in workload.items():
            if crashed in unit:
                unit[crashed] = True
            if not all(unit.values()):
                self.workqueue[scope] = unit
        for other in self.assigned_work:
            self._reschedule(other)
        return crashed


class FailuresAsTheyCome:
    """Writes one line for each failed test report as the controller receives it."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.oom_kills_before = oom_kills()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        if not report.failed or terminal is None:
            return
        lines = [line for line in report.longreprtext.splitlines() if line.strip()]
        last = lines[-1].strip() if lines else ""
        node = getattr(report, "node", None)
        where = getattr(node, "gateway", None)
        name = f"{report.nodeid} ({report.when}{', ' + where.id if where is not None else ''})"
        terminal.write_line("")  # the progress line may not have ended
        terminal.write_line(f"FAILED {name}: {last}"[:FAILURE_LINE_CHARS])
        if node is not None and where is not None and "crashed while running" in last:
            terminal.write_line(f"    {how_it_ended(node)}; {self.oom_killed()}")
            path = fault_file(os.getpid(), where.id)
            text = path.read_text(errors="replace").strip() if path.exists() else ""
            stacks = (
                text.splitlines()[:FAULT_LINES] if text else ["(no fatal signal recorded: killed, or exited)"]
            )
            for line in stacks:
                terminal.write_line(f"    {line}"[:FAILURE_LINE_CHARS])

    def oom_killed(self) -> str:
        now = oom_kills()
        if now is None or self.oom_kills_before is None:
            return "the kernel does not count OOM kills here"
        return (
            f"the kernel's OOM killer has killed {now - self.oom_kills_before} processes since the run began"
        )

    @pytest.hookimpl(trylast=True)  # after xdist has stopped the workers
    def pytest_sessionfinish(self) -> None:
        for path in fault_file(os.getpid(), "x").parent.glob(fault_file(os.getpid(), "*").name):
            path.unlink(missing_ok=True)
