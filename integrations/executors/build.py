"""Build the configured executor (kept apart so the worker never imports pydantic or Ray)."""

from __future__ import annotations

from pathlib import Path

from integrations.executors.base import Executor
from integrations.executors.local import LocalExecutor
from integrations.executors.options import ExecutorOptions


def build_executor(
    options: ExecutorOptions, max_jobs: int, work_dir: Path | None = None, warm: str | None = None
) -> Executor:
    """A LocalExecutor or a RayExecutor; Ray missing raises ExecutorUnavailable ("install rushes[ray]").
    `warm`: an entry point the Ray executor runs once on every node to start a worker with the job code
    imported (the local executor starts a process per job and ignores it)."""
    if options.kind == "ray":
        from integrations.executors.ray import RayExecutor

        return RayExecutor(
            address=options.ray_address,
            max_jobs=max_jobs,
            task_retries=options.ray_task_retries,
            reconnect_s=options.ray_reconnect_seconds,
            call_timeout_s=options.ray_call_timeout_seconds,
            warm=warm,
        )
    return LocalExecutor(
        max_jobs=max_jobs, gpus=options.gpus, work_dir=work_dir, grace_s=options.grace_seconds
    )
