"""The `rushes` command line: one clear line and a non-zero exit for user mistakes, never a traceback.

`daemon.cli.app` holds the app; each command module registers its commands on it when imported
(`daemon.cli.commands` imports them all), so the app itself imports no command.
"""

from __future__ import annotations

import faulthandler
import gc
import io
import os
import sys
import threading

from rich.markup import escape

from daemon.cli import exits
from daemon.cli.app import app, err, pipe_closed
from daemon.cli.tracker import REACH_IT, RETRY_LATER
from daemon.context import PRIVATE_BITS

__all__ = ["app", "main"]


def _register() -> None:
    """Sub-command modules register themselves on `app` when imported."""
    from daemon.cli import commands  # noqa: F401


def _keep_files_private() -> None:
    """What Rushes writes (the catalog, renders of unreleased footage, models, logs, temp files; also its job
    workers, which inherit this) is never readable by users outside its group, whatever umask it was started
    with (a terminal's 022 made them world-readable); the group's bits, and a stricter umask, stay."""
    os.umask(os.umask(PRIVATE_BITS) | PRIVATE_BITS)


START_UP_S = 2.0  # how long a command runs without the cyclic garbage collector


def _quiet_start() -> None:
    """No cyclic garbage collection while the command's modules load: each import makes thousands of objects,
    and the collector, run every 700 of them, walks all that were made before (an eighth of the CPU time of
    `rushes status`). Reference counting still frees what is dropped. The collector comes back after
    START_UP_S, so a long command (the daemon, a training, a server) runs with it as usual. The one child
    forked without exec, a GPU training's batch-drawing worker, turns it on itself (engine.train.draw_workers)."""
    gc.disable()
    timer = threading.Timer(START_UP_S, gc.enable)
    timer.daemon = True
    timer.start()


def _printable_output() -> None:
    """A character the terminal's encoding lacks (a shot's é under PYTHONIOENCODING=ascii, a Latin-1 locale) is
    printed as an escape, not a UnicodeEncodeError that cut `rushes status` short with a traceback."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")


def main() -> None:
    faulthandler.enable()  # a crash in native code prints every thread's Python stack: what a bug report needs
    _printable_output()
    _keep_files_private()
    _quiet_start()
    _register()
    try:
        app()
    except SystemExit as done:
        # click (typer's own copy of it) ends a command whose reader went away (an echo's EPIPE) with status 1,
        # after wrapping the standard streams in its PacifyFlushWrapper: that wrapper tells it from a check's 1
        if done.code == 1 and type(sys.stdout).__name__ == "PacifyFlushWrapper":
            pipe_closed()
        raise
    except BrokenPipeError:  # one written outside click's reach
        pipe_closed()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(exits.INTERRUPTED)
    except Exception as exc:
        # The settings' and the user errors (daemon.errors) are imported only when something failed: importing
        # them pulls in pydantic, the catalog, the renderer and the media readers, which `rushes --help` has no
        # use for (a ConfigError was raised by daemon.settings, so it is loaded already).
        from daemon.settings import ConfigError

        if isinstance(exc, ConfigError):
            for line in exc.problems:
                err.print(f"[red]error:[/red] {escape(line)}", highlight=False, markup=True)
            sys.exit(exits.BAD_INPUT)
        from daemon.errors import USER_ERRORS, file_refusal, passing

        refused = file_refusal(exc)
        if refused is not None:  # a full disk, a folder it may not write: no bug
            err.print(f"[red]error:[/red] {escape(refused)}", highlight=False, markup=True)
            sys.exit(exits.BAD_INPUT)
        if not isinstance(exc, USER_ERRORS):  # Permanent (a job that can never succeed as asked) is one
            # a bug: its traceback, as Python prints it, and a status of its own (Python's 1 is a check's problems)
            sys.excepthook(type(exc), exc, exc.__traceback__)
            sys.exit(exits.BUG)
        message = str(exc)
        if passing(exc) and message.endswith(RETRY_LATER):  # the daemon retries by itself; a command does not
            message = message.removesuffix(RETRY_LATER) + f"; {REACH_IT}, then run the command again"
        err.print(f"[red]error:[/red] {escape(message)}", highlight=False, markup=True)
        sys.exit(exits.TRY_LATER if passing(exc) else exits.BAD_INPUT)


if __name__ == "__main__":  # python -m daemon.cli.main, as python -m daemon
    main()
