"""Run jobs in local worker subprocesses: a limit on concurrent jobs, one job per GPU, timeouts, cancel.

Each job runs `python -m integrations.executors.worker` in its own process group (session), with its
stdout and stderr appended to the spec's log_path. The parent never imports the job's code; it reads
the outcome file the worker writes atomically. A supervisor thread starts waiting jobs as slots free,
enforces timeouts, escalates SIGTERM to SIGKILL after a grace period and reaps finished workers.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

from integrations.executors.base import ExecutorClosed, ExecutorError, Handle
from integrations.executors.ledger import JobLedger
from integrations.executors.spec import JobOutcome, JobSpec, without_secrets

BACKEND = "local"
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
_KEEP_DELIVERED = 1000


def detect_gpus(
    environ: dict[str, str] | None = None, proc_dir: Path = Path("/proc/driver/nvidia/gpus")
) -> list[str]:
    """Visible CUDA device ids, without importing torch: CUDA_VISIBLE_DEVICES, else the NVIDIA driver."""
    env = os.environ if environ is None else environ
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids: list[str] = []
        for item in (part.strip() for part in visible.split(",")):
            if not item or item.startswith("-"):
                break  # CUDA stops at the first invalid entry
            ids.append(item)
        return ids
    try:
        return [str(i) for i in range(len(list(proc_dir.iterdir())))]
    except OSError:
        return []


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def run_name(host: str, pid: int) -> str:
    """How the folder of one executor's job folders in a shared work_dir begins: its host and process (a token
    follows, each executor of a process its own)."""
    return f"run-{re.sub(r'[^A-Za-z0-9_.-]', '_', host)}-{pid}"


_RUN_TAIL = re.compile(r"(\d+)-[0-9a-f]{6}")  # after run_name's host part: the pid, then the executor's token


def sweep_dead_runs(work_dir: Path) -> None:
    """Remove the job folders (spec, outcome) that executors of this host left when their process was killed:
    no one reads them again, and a daemon killed at every crash left one more. Another host's, and a live
    process's, are left alone."""
    prefix = run_name(socket.gethostname(), 0).removesuffix("0")
    for folder in work_dir.glob(f"{glob.escape(prefix)}*"):
        # all of what follows must be this host's "<pid>-<token>": host "render"'s prefix also begins the
        # folders of a host named "render-45678"
        ours = _RUN_TAIL.fullmatch(folder.name.removeprefix(prefix))
        if ours is not None and not _process_exists(int(ours.group(1))):
            shutil.rmtree(folder, ignore_errors=True)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's
    return True


@dataclass
class _Job:
    spec: JobSpec
    folder: Path
    proc: subprocess.Popen[bytes] | None = None
    gpu: str | None = None
    started: float = 0.0
    stopping: str | None = None  # why we are stopping it ("cancelled", "timed out after ...")
    kill_at: float | None = None  # when SIGTERM escalates to SIGKILL
    log: str = ""

    @property
    def spec_file(self) -> Path:
        return self.folder / "spec.json"

    @property
    def result_file(self) -> Path:
        return self.folder / "outcome.json"


class LocalExecutor:
    """Runs at most `max_jobs` worker subprocesses at once, and at most one `needs_gpu` job per GPU.

    `gpus=None` detects the visible GPUs; with none, `needs_gpu` jobs still run one at a time, on the CPU.
    CPU jobs get CUDA_VISIBLE_DEVICES="" so they never take GPU memory.
    """

    def __init__(
        self,
        max_jobs: int,
        gpus: int | None = None,
        *,
        work_dir: Path | None = None,
        grace_s: float = 5.0,
        python: str | None = None,
        tick_s: float = 0.05,
    ) -> None:
        if max_jobs < 1:
            raise ExecutorError(f"local executor: max_jobs must be at least 1 (got {max_jobs})")
        detected = detect_gpus()
        if gpus is None:
            self._gpu_ids = detected
        elif gpus < 0:
            raise ExecutorError(f"local executor: gpus must be 0 or more (got {gpus})")
        else:
            self._gpu_ids = detected[:gpus] if len(detected) >= gpus else [str(i) for i in range(gpus)]
        self._gpu_slots = self._gpu_ids or [""]
        self._max_jobs = max_jobs
        self._grace_s = grace_s
        self._tick_s = tick_s
        self._python = python or sys.executable
        self._owns_dir = work_dir is None
        self._dir = Path(tempfile.mkdtemp(prefix="rushes-jobs-")) if work_dir is None else Path(work_dir)
        self._dir.mkdir(parents=True, exist_ok=True)
        if not self._owns_dir:
            sweep_dead_runs(self._dir)
        self._run_dir = self._dir / f"{run_name(socket.gethostname(), os.getpid())}-{secrets.token_hex(3)}"
        self._seq = 0
        self._jobs: JobLedger[_Job] = JobLedger(BACKEND, keep=_KEEP_DELIVERED)
        self._closed = False
        self._stop = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._supervise, name="rushes-local-executor", daemon=True)
        self._thread.start()

    @property
    def gpus(self) -> int:
        return len(self._gpu_ids)

    # -- the Executor interface ------------------------------------------------------------------

    def submit(self, spec: JobSpec) -> Handle:
        with self._cond:
            if self._closed:
                raise ExecutorClosed(f"job {spec.id}: the local executor is shut down; start a new one")
            self._seq += 1
            safe = re.sub(r"[^A-Za-z0-9_.-]", "_", spec.id)[:80]
            job = _Job(spec=spec, folder=self._run_dir / f"{self._seq:06d}-{safe}")
            job.log = spec.log_path or str(self._dir / "logs" / f"{self._seq:06d}-{safe}.log")
            handle = self._jobs.admit(job)
            self._start_waiting()
            self._cond.notify_all()
        return handle

    def poll(self, handle: Handle) -> JobOutcome | None:
        with self._cond:
            self._check(handle)
            self._reap()
            self._start_waiting()
            return self._jobs.read(handle.job_id)

    def cancel(self, handle: Handle) -> None:
        with self._cond:
            self._check(handle)
            waiting = self._jobs.take_pending(handle.job_id)
            if waiting is not None:
                self._finish(
                    waiting,
                    JobOutcome.failed(waiting.spec.id, f"job {waiting.spec.id} cancelled before it started"),
                )
                return
            job_running = self._jobs.running.get(handle.job_id)
            if job_running is not None:
                self._stop_job(job_running, f"job {handle.job_id} cancelled")

    def running(self) -> int:
        with self._cond:
            return len(self._jobs.running)

    def pending(self) -> int:
        with self._cond:
            return len(self._jobs.pending)

    def capacity(self) -> int:
        return self._max_jobs

    def health(self) -> str | None:
        return None  # worker subprocesses here can always start

    def shutdown(self, wait: bool = True) -> None:
        """wait=True: let every submitted job finish. wait=False: cancel waiting jobs, stop running ones."""
        with self._cond:
            self._closed = True
            if wait:
                while self._jobs.pending or self._jobs.running:
                    self._cond.wait(self._tick_s)
            else:
                for job in list(self._jobs.pending):
                    self._finish(
                        job, JobOutcome.failed(job.spec.id, f"job {job.spec.id} cancelled at shutdown")
                    )
                self._jobs.pending.clear()
                for job in list(self._jobs.running.values()):
                    self._stop_job(job, f"job {job.spec.id} stopped at shutdown")
                deadline = time.monotonic() + self._grace_s + 5.0
                while self._jobs.running and time.monotonic() < deadline:
                    self._cond.wait(self._tick_s)
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=5.0)
        shutil.rmtree(self._dir if self._owns_dir else self._run_dir, ignore_errors=True)

    # -- supervision --------------------------------------------------------------------------------

    def _check(self, handle: Handle) -> None:
        self._jobs.check(handle, "local executor")

    def _supervise(self) -> None:
        with self._cond:
            while not self._stop:
                self._reap()
                self._enforce_deadlines()
                self._start_waiting()
                self._cond.wait(self._tick_s if (self._jobs.running or self._jobs.pending) else None)

    def _free_gpu(self) -> str | None:
        busy = {job.gpu for job in self._jobs.running.values() if job.gpu is not None}
        return next((gpu for gpu in self._gpu_slots if gpu not in busy), None)

    def _start_waiting(self) -> None:
        for job in list(self._jobs.pending):
            if len(self._jobs.running) >= self._max_jobs:
                return
            gpu = self._free_gpu() if job.spec.needs_gpu else None
            if job.spec.needs_gpu and gpu is None:
                continue  # the GPU is busy: let CPU jobs behind it go first
            self._jobs.pending.remove(job)
            job.gpu = gpu
            self._launch(job)

    def _environment(self, job: _Job) -> dict[str, str]:
        env = without_secrets(dict(os.environ))
        env.update(job.spec.env)
        if PACKAGE_ROOT.name not in ("site-packages", "dist-packages"):
            paths = [str(PACKAGE_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
            env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
        env["PYTHONUNBUFFERED"] = "1"
        env["RUSHES_JOB_ID"] = job.spec.id
        env["CUDA_VISIBLE_DEVICES"] = job.gpu or ""
        return env

    def _launch(self, job: _Job) -> None:
        job.started = time.monotonic()
        log: IO[bytes] | None = None
        try:
            job.folder.mkdir(parents=True, exist_ok=True)
            job.spec_file.write_text(job.spec.to_json(), encoding="utf-8")
            Path(job.log).parent.mkdir(parents=True, exist_ok=True)
            log = open(job.log, "ab")  # noqa: SIM115 - handed to the child, closed below
            job.proc = subprocess.Popen(
                [
                    self._python,
                    "-m",
                    "integrations.executors.worker",
                    "--spec",
                    str(job.spec_file),
                    "--result",
                    str(job.result_file),
                    "--parent-pid",
                    str(os.getpid()),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._environment(job),
                start_new_session=True,
            )
        except OSError as exc:
            reason = exc.strerror or str(exc)
            where = f" {exc.filename}" if exc.filename else ""
            self._finish(
                job,
                JobOutcome.failed(
                    job.spec.id, f"job {job.spec.id}: cannot start the worker:{where} {reason}"
                ),
            )
            return
        finally:
            if log is not None:
                log.close()
        self._jobs.running[job.spec.id] = job

    def _signal_group(self, job: _Job, sig: int) -> None:
        if job.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(job.proc.pid, sig)

    def _stop_job(self, job: _Job, reason: str) -> None:
        if job.stopping is None:
            job.stopping = reason
            job.kill_at = time.monotonic() + self._grace_s
            self._signal_group(job, signal.SIGTERM)
        self._cond.notify_all()

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for job in self._jobs.running.values():
            timeout = job.spec.timeout_s
            if job.stopping is None and timeout is not None and now - job.started >= timeout:
                self._stop_job(job, f"job {job.spec.id} timed out after {timeout:g} s and was killed")
            if job.kill_at is not None and now >= job.kill_at:
                self._signal_group(job, signal.SIGKILL)
                job.kill_at = None

    def _reap(self) -> None:
        for job in list(self._jobs.running.values()):
            assert job.proc is not None
            code = job.proc.poll()
            if code is None:
                continue
            self._signal_group(job, signal.SIGKILL)  # leftovers in the job's process group
            self._finish(job, self._outcome(job, code, time.monotonic() - job.started))

    def _outcome(self, job: _Job, code: int, duration: float) -> JobOutcome:
        spec_id = job.spec.id
        try:
            reported = JobOutcome.from_json(job.result_file.read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError):
            reported = None
        if reported is not None and code >= 0:
            return replace(reported, id=spec_id, exit_code=code, duration_s=duration)
        if job.stopping is not None:
            return JobOutcome.failed(spec_id, job.stopping, exit_code=code, duration_s=duration)
        if code < 0:
            error = f"job {spec_id}: worker died with signal {-code} ({signal_name(-code)}); see {job.log}"
        else:
            error = f"job {spec_id}: worker exited with code {code} without an outcome; see {job.log}"
        return JobOutcome.failed(spec_id, error, exit_code=code, duration_s=duration)

    def _finish(self, job: _Job, outcome: JobOutcome) -> None:
        self._jobs.record(job.spec.id, outcome)
        shutil.rmtree(job.folder, ignore_errors=True)
        self._cond.notify_all()
