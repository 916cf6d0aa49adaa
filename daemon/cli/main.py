"""The `rushes` command line: one clear line and a non-zero exit for user mistakes, never a traceback.

`daemon.cli.app` holds the app; each command module registers its commands on it when imported
(`daemon.cli.commands` imports them all), so the app itself imports no command.
"""

from __future__ import annotations

import sys

from rich.markup import escape

from daemon.cli.app import app, err
from daemon.settings import ConfigError

__all__ = ["app", "main"]


def _register() -> None:
    """Sub-command modules register themselves on `app` when imported."""
    from daemon.cli import commands  # noqa: F401


def main() -> None:
    from daemon.errors import USER_ERRORS
    from daemon.jobs.outcomes import Permanent

    # A Permanent error is a job that can never succeed as asked (e.g. training with no dailies): one line.
    user_errors: tuple[type[Exception], ...] = (*USER_ERRORS, Permanent)

    _register()
    try:
        app()
    except ConfigError as exc:
        for line in exc.problems:
            err.print(f"[red]error:[/red] {escape(line)}", highlight=False)
        sys.exit(2)
    except user_errors as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
