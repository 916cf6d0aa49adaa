"""Entry points the executors run in worker processes ("daemon.jobs.worker:train" / ":fix", and ":warm").

Each opens its own settings and catalog (the environment, RUSHES_HOME included, is inherited from the daemon),
reads its typed payload and runs its stage. A stage's Permanent error reaches the executor's worker, which
reports the outcome as not retryable, so the daemon dead-letters the job instead of retrying it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from daemon.context import Context, open_context
from daemon.jobs.payloads import FixJob, TrainJob
from daemon.logs import configure
from daemon.settings import load_settings

TRAIN = "daemon.jobs.worker:train"
FIX = "daemon.jobs.worker:fix"
WARM = "daemon.jobs.worker:warm"


def warm() -> dict[str, Any]:
    """Import what the train and fix jobs run (torch and the engine among it), so a long-lived worker process
    (a Ray worker the executor warms up on every node) starts its first job at once."""
    import daemon.stages.fixing
    import daemon.stages.training  # noqa: F401

    return {}


def _context(config: str | None) -> Context:
    settings = load_settings(Path(config) if config else None)
    configure(settings.log_level, "json")
    return open_context(settings)


def train(
    job_id: int, payload: dict[str, Any], attempt: int = 1, config: str | None = None
) -> dict[str, Any]:
    from daemon.stages.training import run_training, stop_on_sigterm

    ctx = _context(config)
    try:
        job = TrainJob.from_json(payload)
        result = run_training(
            ctx.settings, ctx.catalog, job.show, job_id=job_id, job=job, stop=stop_on_sigterm()
        )
        return result.to_json()
    finally:
        ctx.close()


def fix(job_id: int, payload: dict[str, Any], attempt: int = 1, config: str | None = None) -> dict[str, Any]:
    from daemon.stages.fixing import run_fix

    ctx = _context(config)
    try:
        return run_fix(ctx.settings, ctx.catalog, FixJob.from_json(payload))
    finally:
        ctx.close()
