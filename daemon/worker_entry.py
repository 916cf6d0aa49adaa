"""Entry points the executors run in worker processes ("daemon.worker_entry:train" / ":fix").

Each opens its own settings and catalog (the environment, RUSHES_HOME included, is inherited from the daemon).
A Permanent error is reported as such so the daemon dead-letters the job instead of retrying it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from daemon.context import Context, open_context
from daemon.logs import configure
from daemon.settings import load_settings


def _context(config: str | None) -> Context:
    settings = load_settings(Path(config) if config else None)
    configure(settings.log_level, "json")
    return open_context(settings)


def train(
    job_id: int, payload: dict[str, Any], attempt: int = 1, config: str | None = None
) -> dict[str, Any]:
    from daemon.training import run_training, stop_on_sigterm

    ctx = _context(config)
    try:
        return run_training(
            ctx.settings,
            ctx.catalog,
            str(payload["show"]),
            job_id=job_id,
            payload=payload,
            stop=stop_on_sigterm(),
        )
    finally:
        ctx.close()


def fix(job_id: int, payload: dict[str, Any], attempt: int = 1, config: str | None = None) -> dict[str, Any]:
    from daemon.fixing import run_fix

    ctx = _context(config)
    try:
        return run_fix(
            ctx.settings,
            ctx.catalog,
            int(payload["request_id"]),
            str(payload["kind"]),
            int(payload.get("round", 0)),
        )
    finally:
        ctx.close()
