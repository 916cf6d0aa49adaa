"""What the suite's parallel run (`make test`: pytest-xdist, `--dist loadgroup`) adds to pytest-xdist.

1. A worker crash cannot hang the run. pytest-xdist 3.8's LoadScopeScheduling.remove_node puts every work unit
   of a crashed worker back in the queue, the ones it had finished included, and the crashed test with them.
   A replacement worker handed a finished unit is sent no test, so nothing it runs ever asks the scheduler for
   more work; once the other workers have drained their own, every worker waits and the run never ends (CI
   stops it at its time limit, with no report). Here a crashed worker's units go back only while they hold
   tests that did not run.
2. A test whose worker process dies under it runs once more, on another worker; if that worker dies too, xdist
   reports the test as failed ("worker crashed while running"), as its other schedulers do. Workers have been
   lost in the suite, rarely, killed or exited with no fatal signal, under tests that do nothing of the kind
   (a tracker check against a local server): what ended them is outside the test, so one more run is fair
   to it, while a test that really kills its worker still fails. Each loss is written when it happens and
   listed again in the summary ("workers lost"), so a run that passes still shows it.
3. A failure is named the moment it comes in, one line each (`FAILED id (worker): last line of the error`),
   not only in the summary at the end: a run cut short still says what failed. pytest-instafail does this
   with whole tracebacks, which would push the names out of the last screen of a CI log.
4. A worker that dies of a fatal signal leaves its threads' Python stacks in a file of its own (`fault_file`),
   which the line of its crashed test is followed by. pytest's own faulthandler writes them to file
   descriptor 2, which code capturing native output (engine.media.native) may be pointing elsewhere at that
   moment: workers have died in the suite with nothing on stderr.
5. That line also says how the worker process ended (its exit status, or the signal that killed it) and how
   many processes the kernel's OOM killer has killed since the run began: a SIGKILL with that count above
   zero is memory, one without it came from a process.
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
    """LoadGroupScheduling whose crashed worker leaves only its unrun tests to the others, the test it was
    running among them the first time that test loses its worker."""

    def __init__(self, config: pytest.Config, log: object = None) -> None:
        super().__init__(config, log)  # type: ignore[arg-type]
        self.lost_under: set[str] = set()  # tests that have lost a worker once

    def remove_node(self, node: WorkerController) -> str | None:
        workload = self.assigned_work.pop(node)
        if not self._pending_of(workload):
            return None
        crashed = next(nodeid for unit in workload.values() for nodeid, done in unit.items() if not done)
        again = crashed not in self.lost_under
        self.lost_under.add(crashed)
        for scope, unit in workload.items():
            if crashed in unit and not again:
                unit[crashed] = True
            if not all(unit.values()):
                self.workqueue[scope] = unit
        for other in self.assigned_work:
            self._reschedule(other)
        if again:
            reporter = self.config.pluginmanager.get_plugin(FailuresAsTheyCome.NAME)
            if isinstance(reporter, FailuresAsTheyCome):
                reporter.worker_lost(node, crashed)
            return None
        return crashed


class FailuresAsTheyCome:
    """Writes one line for each failed test report as the controller receives it, and one for each worker
    lost under a test that then runs again; lists the lost workers in the summary."""

    NAME = "failures-as-they-come"

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.oom_kills_before = oom_kills()
        self.lost: list[str] = []  # "test id (worker): how it ended", for the summary

    def worker_lost(self, node: WorkerController, nodeid: str) -> None:
        """Worker `node` died running `nodeid`, which runs once more on another worker."""
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        ended = how_it_ended(node)
        self.lost.append(f"{nodeid} ({node.gateway.id}): {ended}")
        if terminal is None:
            return
        terminal.write_line("")
        terminal.write_line(
            f"WORKER LOST {nodeid} ({node.gateway.id}): it runs once more"[:FAILURE_LINE_CHARS]
        )
        self.write_crash(terminal, node, ended)

    def write_crash(self, terminal: pytest.TerminalReporter, node: WorkerController, ended: str) -> None:
        terminal.write_line(f"    {ended}; {self.oom_killed()}")
        path = fault_file(os.getpid(), node.gateway.id)
        text = path.read_text(errors="replace").strip() if path.exists() else ""
        stacks = (
            text.splitlines()[:FAULT_LINES] if text else ["(no fatal signal recorded: killed, or exited)"]
        )
        for line in stacks:
            terminal.write_line(f"    {line}"[:FAILURE_LINE_CHARS])

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
            self.write_crash(terminal, node, how_it_ended(node))

    def oom_killed(self) -> str:
        now = oom_kills()
        if now is None or self.oom_kills_before is None:
            return "the kernel does not count OOM kills here"
        return (
            f"the kernel's OOM killer has killed {now - self.oom_kills_before} processes since the run began"
        )

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.lost:
            terminalreporter.write_sep("=", "workers lost (each test ran once more)")
            for line in self.lost:
                terminalreporter.write_line(line)

    @pytest.hookimpl(trylast=True)  # after xdist has stopped the workers
    def pytest_sessionfinish(self) -> None:
        for path in fault_file(os.getpid(), "x").parent.glob(fault_file(os.getpid(), "*").name):
            path.unlink(missing_ok=True)
