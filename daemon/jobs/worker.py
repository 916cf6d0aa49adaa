"""Entry points the executors run in worker processes ("daemon.jobs.worker:train" / ":fix", and ":warm").

Each reads its own settings (the environment, RUSHES_HOME included, is inherited from the daemon, less its secrets:
no tracker key or password, no webhook secret, so the webhook's settings are not read) and its typed
payload, and runs its stage. The catalog is opened (and its schema checked) once per process and catalog URL
and kept: a Ray worker runs one job after another in the same process, and each job opening and migrating the
catalog again only cost CPU beside the job's own work (a local executor's worker runs one job and exits).
A stage's Permanent error reaches the executor's worker, which reports the outcome as not retryable, so the
daemon dead-letters the job instead of retrying it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from daemon.catalog import Catalog
from daemon.context import Context, open_context
from daemon.jobs.payloads import FixJob, TrainJob
from daemon.jobs.progress import JobProgress
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


_catalogs: dict[str, Catalog] = {}  # this process's open catalog, by URL (one: a worker serves one daemon)


def _context(config: str | None) -> Context:
    """The job's settings and catalog; logging goes to this job's stderr (its own log under Ray)."""
    settings = load_settings(Path(config) if config else None, serves_webhook=False)
    configure(settings.log_level, "json")
    kept = _catalogs.get(settings.catalog)
    ctx = open_context(settings, kept)
    if kept is None:
        for old in _catalogs.values():
            old.dispose()
        _catalogs.clear()
        _catalogs[settings.catalog] = ctx.catalog
    return ctx


def train(
    job_id: int, payload: dict[str, Any], attempt: int = 1, config: str | None = None
) -> dict[str, Any]:
    from daemon.stages.training import run_training, stop_on_signals

    ctx = _context(config)
    job = TrainJob.from_json(payload)
    stages = JobProgress(ctx.catalog, job_id).on_stage  # `rushes status` shows the stage and the time left
    with stop_on_signals() as stop:
        result = run_training(
            ctx.settings, ctx.catalog, job.show, job_id=job_id, job=job, stop=stop, on_stage=stages
        )
    return result.to_json()


def fix(job_id: int, payload: dict[str, Any], attempt: int = 1, config: str | None = None) -> dict[str, Any]:
    from daemon.stages.fixing import run_fix

    ctx = _context(config)
    return run_fix(ctx.settings, ctx.catalog, FixJob.from_json(payload), job_id)
