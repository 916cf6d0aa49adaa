"""structlog set-up: JSON when not on a terminal, console otherwise; stdlib logging routed through it."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

_QUIET = ("watchdog", "urllib3", "apscheduler", "alembic", "sqlalchemy", "shotgun_api3", "PIL", "matplotlib")


def configure(level: str = "info", fmt: str = "auto", stream: Any = None) -> None:
    """Configure structlog and stdlib logging once; safe to call again (tests, CLI re-entry)."""
    stream = stream or sys.stderr
    as_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info if as_json else _identity,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


def _identity(_: Any, __: str, event: Any) -> Any:
    return event


def get_logger(name: str = "rushes", **bound: Any) -> Any:
    """A lazy logger: it takes the configuration in force when it logs, so a module-level logger made at import
    time (before `configure`) still goes through the configured renderer and level."""
    return structlog.get_logger(name, **bound)
