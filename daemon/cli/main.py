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
    _register()
    try:
        app()
    except ConfigError as exc:
        for line in exc.problems:
            err.print(f"[red]error:[/red] {escape(line)}", highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:
        # The user errors (daemon.errors) are imported only when something failed: importing them pulls in
        # the catalog, the renderer and the media readers, which `rushes --help` has no use for.
        from daemon.errors import USER_ERRORS

        if not isinstance(exc, USER_ERRORS):  # Permanent (a job that can never succeed as asked) is one
            raise
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        sys.exit(2)
