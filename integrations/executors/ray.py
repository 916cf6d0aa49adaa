"""Run jobs on a Ray cluster with the same interface as the local executor (an optional extra).

Ray is imported only when a `RayExecutor` is built; without it, construction fails with one line that
says to install `rushes[ray]`. Each job is one `ray.remote` task that resolves the spec's entry point
on the Ray worker (the same code path as the local worker), so the daemon never imports job code.
`needs_gpu` jobs ask Ray for one GPU; env goes through the task's runtime_env.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

from integrations.executors.base import ExecutorClosed, ExecutorError, ExecutorUnavailable, Handle, UnknownJob
from integrations.executors.spec import JobOutcome, JobSpec

BACKEND = "ray"
INSTALL_HINT = "Ray is not installed; install rushes[ray] (pip install 'rushes[ray]') to use the Ray executor"


def _import_ray() -> Any:
    try:
        import ray  # type: ignore[import-not-found]
    except ImportError as exc:
        raise ExecutorUnavailable(INSTALL_HINT) from exc
    return ray


def run_on_ray_worker(spec_json: str) -> str:
    """The body of the remote task: run the spec here, log to its log_path, return the outcome JSON."""
    import sys

    from integrations.executors.worker import run_spec

    spec = JobSpec.from_json(spec_json)
    if not spec.log_path:
        return run_spec(spec).to_json()
    with open(spec.log_path, "a", encoding="utf-8") as log:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            outcome = run_spec(spec)
        sys.stdout.flush()
    return outcome.to_json()


@dataclass
class _RayJob:
    spec: JobSpec
    ref: Any
    started: float
    stopping: str | None = None


class RayExecutor:
    """Submits each job as a Ray task; `capacity()` is max_jobs, or the cluster's CPU count."""

    def __init__(self, address: str | None = None, max_jobs: int | None = None, **init_kwargs: Any) -> None:
        self._ray = _import_ray()
        if not self._ray.is_initialized():
            try:
                self._ray.init(address=address, ignore_reinit_error=True, **init_kwargs)
            except Exception as exc:
                where = address or "a local Ray instance"
                raise ExecutorUnavailable(
                    f"cannot connect to Ray at {where} ({exc}); check ray.address"
                ) from exc
        self._remote = self._ray.remote(max_retries=0)(run_on_ray_worker)
        self._max_jobs = max_jobs
        self._jobs: dict[str, _RayJob] = {}
        self._outcomes: dict[str, JobOutcome] = {}
        self._closed = False

    def submit(self, spec: JobSpec) -> Handle:
        if self._closed:
            raise ExecutorClosed(f"job {spec.id}: the Ray executor is shut down; start a new one")
        if spec.id in self._jobs:
            raise ExecutorError(f"job {spec.id} is already submitted; give each job its own id")
        options: dict[str, Any] = {"num_gpus": 1 if spec.needs_gpu else 0}
        if spec.env:
            options["runtime_env"] = {"env_vars": dict(spec.env)}
        ref = self._remote.options(**options).remote(spec.to_json())
        self._outcomes.pop(spec.id, None)
        self._jobs[spec.id] = _RayJob(spec=spec, ref=ref, started=time.monotonic())
        return Handle(job_id=spec.id, backend=BACKEND)

    def poll(self, handle: Handle) -> JobOutcome | None:
        if handle.backend != BACKEND or (
            handle.job_id not in self._jobs and handle.job_id not in self._outcomes
        ):
            raise UnknownJob(f"job {handle.job_id} is not known to this Ray executor")
        if handle.job_id in self._outcomes:
            return self._outcomes[handle.job_id]
        job = self._jobs[handle.job_id]
        elapsed = time.monotonic() - job.started
        timeout = job.spec.timeout_s
        if job.stopping is None and timeout is not None and elapsed >= timeout:
            job.stopping = f"job {job.spec.id} timed out after {timeout:g} s and was killed"
            self._ray.cancel(job.ref, force=True)
        ready, _ = self._ray.wait([job.ref], timeout=0)
        if not ready:
            return None
        outcome = self._collect(job, elapsed)
        del self._jobs[handle.job_id]
        self._outcomes[handle.job_id] = outcome
        return outcome

    def _collect(self, job: _RayJob, elapsed: float) -> JobOutcome:
        try:
            reported = JobOutcome.from_json(self._ray.get(job.ref))
        except Exception as exc:
            error = job.stopping or f"job {job.spec.id}: Ray worker failed ({type(exc).__name__}: {exc})"
            return JobOutcome.failed(job.spec.id, error, duration_s=elapsed)
        return JobOutcome(
            id=job.spec.id,
            ok=reported.ok,
            result=reported.result,
            error=reported.error,
            exit_code=reported.exit_code,
            duration_s=elapsed,
            retryable=reported.retryable,
        )

    def cancel(self, handle: Handle) -> None:
        job = self._jobs.get(handle.job_id)
        if job is None:
            if handle.job_id not in self._outcomes:
                raise UnknownJob(f"job {handle.job_id} is not known to this Ray executor")
            return
        if job.stopping is None:
            job.stopping = f"job {job.spec.id} cancelled"
            self._ray.cancel(job.ref, force=True)

    def running(self) -> int:
        return len(self._jobs)

    def capacity(self) -> int:
        if self._max_jobs is not None:
            return self._max_jobs
        return max(1, int(self._ray.cluster_resources().get("CPU", 1)))

    def shutdown(self, wait: bool = True) -> None:
        self._closed = True
        refs = [job.ref for job in self._jobs.values()]
        if wait and refs:
            self._ray.wait(refs, num_returns=len(refs))
        elif refs:
            for job in self._jobs.values():
                job.stopping = job.stopping or f"job {job.spec.id} stopped at shutdown"
                self._ray.cancel(job.ref, force=True)
