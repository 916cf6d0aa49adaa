"""structlog set-up: JSON when not on a terminal, console otherwise; stdlib logging routed through it.

structlog (with asyncio, rich's tracebacks and pygments behind it: a sixth of the CLI's start) is imported only
when something logs: `configure` sets the stdlib handler, whose formatter loads structlog at its first record,
and `get_logger` configures structlog's own side the first time a logger is asked for. When structlog is already
loaded (an adapter of integrations.trackers, which logs through structlog directly, was imported first),
`configure` sets it up at once; daemon.trackers calls `structlog_ready` before it builds an adapter.
An exception that ends a thread (a library's background thread: gRPC's connectivity poller under the Ray
client raises when its channel closes during a reconnect) is one `thread.crashed` line naming the thread, the
error and where it was raised, not a raw traceback in the middle of the JSON lines (`configure` sets
`threading.excepthook`).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import traceback
from typing import Any

_QUIET = ("watchdog", "urllib3", "apscheduler", "alembic", "sqlalchemy", "shotgun_api3", "PIL", "matplotlib")


def configure(level: str = "info", fmt: str = "auto", stream: Any = None) -> None:
    """Configure structlog and stdlib logging once; safe to call again (tests, CLI re-entry)."""
    stream = stream or sys.stderr
    as_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_Formatter(as_json, colors=stream.isatty()))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    if "structlog" in sys.modules:
        _configure_structlog()
    threading.excepthook = _thread_crashed


def _thread_crashed(args: threading.ExceptHookArgs) -> None:
    """A thread ended on an exception: one log line (thread, error, the frame that raised it)."""
    if args.exc_type is SystemExit:
        return
    frames = traceback.extract_tb(args.exc_traceback) if args.exc_traceback else []
    where = f" at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno}" if frames else ""
    name = args.thread.name if args.thread is not None else "?"
    logging.getLogger("rushes.threads").error(
        "thread.crashed: thread %s stopped on %s: %s%s", name, args.exc_type.__name__, args.exc_value, where
    )


def _shared() -> list[Any]:
    import structlog

    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]


def _configure_structlog() -> None:
    """structlog's loggers hand their events to stdlib logging, rendered there by `_Formatter`."""
    import structlog

    structlog.configure(
        processors=[*_shared(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


class _Formatter(logging.Formatter):
    """structlog's ProcessorFormatter (JSON or console), built at the first record it formats."""

    def __init__(self, as_json: bool, colors: bool) -> None:
        super().__init__()
        self.as_json, self.colors = as_json, colors
        self._real: logging.Formatter | None = None

    def format(self, record: logging.LogRecord) -> str:
        if self._real is None:
            self._real = _processor_formatter(self.as_json, self.colors)
        return self._real.format(record)


def _processor_formatter(as_json: bool, colors: bool) -> logging.Formatter:
    import structlog

    # A traceback shows no frame's local variables: they hold the tracker's key or password, the webhook secret.
    tracebacks: Any = (
        structlog.dev.RichTracebackFormatter(show_locals=False)
        if structlog.dev.rich is not None
        else structlog.dev.plain_traceback
    )
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=colors, exception_formatter=tracebacks)
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if as_json else _identity,
            renderer,
        ],
    )


def _identity(_: Any, __: str, event: Any) -> Any:
    return event


def get_logger(name: str = "rushes", **bound: Any) -> Any:
    """A lazy logger: it takes the configuration in force when it logs, so a module-level logger made at import
    time (before `configure`) still goes through the configured renderer and level."""
    structlog_ready()
    import structlog

    return structlog.get_logger(name, **bound)


def structlog_ready() -> None:
    """Configure structlog unless it is (for code that logs through structlog directly: the tracker adapters)."""
    import structlog

    if not structlog.is_configured():
        _configure_structlog()
