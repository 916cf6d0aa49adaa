"""The `rushes` app that every command module registers on, and what they share: consoles, the settings of
this invocation, one-line failures, progress bars; also the `version` and `config` commands."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from daemon import __version__
from daemon.cli import exits
from daemon.logs import configure as configure_logs

if TYPE_CHECKING:  # pydantic and the options: loaded by the first command that reads the settings
    from rich.progress import Progress

    from daemon.settings import Settings

app = typer.Typer(
    rich_markup_mode="markdown",
    no_args_is_help=True,
    add_completion=False,
    help="Rushes: a show model and fixes for dailies.",
)


def command_group(name: str, help: str) -> typer.Typer:
    """The group of commands `rushes NAME ...`, its help read as the others' (markdown: a paragraph's lines join
    into sentences, where typer's default kept every line break of the docstring)."""
    group = typer.Typer(rich_markup_mode="markdown", no_args_is_help=True, help=help)
    app.add_typer(group, name=name)
    return group


config_app = command_group(
    "config", "Print a commented example config, validate the configuration and print its schema."
)

# Piped into a file or another program, tables are as wide as their cells need (rich's 80 columns cut the full
# paths of `rushes status` short); in a terminal, or with COLUMNS set, its width.
PIPED_WIDTH = 1000
EXAMPLE_CONFIG = "rushes.example.yaml"  # package data of `daemon`: `rushes config example`


def _width(fd: int) -> int | None:
    return None if os.isatty(fd) or os.environ.get("COLUMNS") else PIPED_WIDTH


def folding_table(*headers: str, title: str | None = None) -> Table:
    """A table whose cells too long for their column wrap onto more lines, whole: rich's default cut them to
    "...", so at a narrow terminal (a 40-column tmux pane) a job's state, a score or a path lost its end."""
    made = Table(*headers, title=title)
    for column in made.columns:
        column.overflow = "fold"
    return made


MAX_ID = 2**63 - 1  # the largest row id a catalog holds: a larger one is refused as the command's input


# Text is printed as written: a path, a shot or a coordinator's text may hold [brackets], which rich markup read
# as tags (`sh010_[a].mov` printed as `sh010_.mov`); the few lines that colour a word say markup=True.
class _Console(Console):
    """rich's Console, ending the command with exits.PIPE_CLOSED when whoever reads its output stopped reading
    (`rushes status | head -1`): rich's own exit status there, 1, is the one of a check that found problems."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        pipe_closed(2 if self.stderr else 1)


def pipe_closed(fd: int = 1) -> None:
    """End the command quietly, its reader gone: its output (`fd`) goes to /dev/null from here (the interpreter's
    last flush would complain of the closed pipe), the exit status as the shell counts a SIGPIPE."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    raise SystemExit(exits.PIPE_CLOSED)


out = _Console(soft_wrap=True, width=_width(1), markup=False)
err = _Console(stderr=True, soft_wrap=True, width=_width(2), markup=False)


@contextmanager
def lines_to_stderr(active: bool = True) -> Iterator[None]:
    """While `active`, what a command prints on `out` goes to stderr, so that stdout holds only the JSON it prints
    after (`rushes fix --json`: its notes and its `wrote ...` line stay readable in a farm's log)."""
    if not active:
        yield
        return
    kept = out._file  # None: sys.stdout as it is at each print (a test's runner swaps it)
    out.file = err.file
    try:
        yield
    finally:
        out._file = kept


def printable(text: str) -> str:
    """`text` on one line of a terminal or a tab-separated row: control and other unprintable characters (a
    line break, a tab, an escape) written as Python writes them in a string (`\\n`, `\\t`, `\\x1b`)."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def cells(*values: object) -> list[Text]:
    """A table row's cells taken as written, never as rich markup: a file name, a shot or a coordinator's text
    may hold [brackets], and a closing tag such as [/b] in a request's text made `rushes status` fail. Control
    characters are written escaped (printable): a file name or a fix field holding a terminal's escape
    sequences reached the operator's terminal as they were (a window title set, the clipboard written)."""
    return [Text(printable(str(value))) for value in values]


def counted_progress() -> Progress:
    """A transient progress bar on stderr (a terminal only): description, bar, done/total, elapsed."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,  # piped: no bar, and no blank line where it was
    )


ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", envvar="RUSHES_CONFIG", help="YAML config file.", show_default=False),
]


class CliState:
    config_path: Path | None = None


state = CliState()


@app.callback()
def _root(config: ConfigOpt = None) -> None:
    state.config_path = config
    configure_logs(os.environ.get("RUSHES_LOG_LEVEL", "warning"), os.environ.get("RUSHES_LOG_FORMAT", "auto"))


def settings(serves_webhook: bool = False) -> Settings:
    """The settings for this invocation (raises ConfigError, printed by main). Only the daemon serves the
    tracker's webhook (`serves_webhook`), so only it needs the webhook's secret: a command run where it is not
    set (a cron's `rushes prune`, a shell without it) reads the same file without the webhook."""
    from daemon.settings import load_settings

    return load_settings(state.config_path, serves_webhook=serves_webhook)


def process_age() -> float:
    """Seconds since this process started, the interpreter's start and the imports included (Linux: from
    /proc; 0 where that cannot be read), so that a budget given on the command line counts them too."""
    try:
        after_name = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started_ticks = int(after_name[19])  # field 22, starttime, in clock ticks since boot
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - started_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def fail(message: str, code: int = exits.BAD_INPUT) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, markup=True)
    return typer.Exit(code)


@app.command()
def version() -> None:
    """Print the Rushes version."""
    out.print(f"rushes {__version__}")


@config_app.command("check")
def config_check(
    file: Annotated[
        Path | None,
        typer.Argument(
            help="The YAML file to validate (default: --config / RUSHES_CONFIG).", show_default=False
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print JSON for CI: file, ok, problems (each key, message), data_dir."),
    ] = False,
) -> None:
    """Validate FILE (with the environment laid over it) and print every problem as one line with its key path.

    Exit status 0 when it is valid, 1 with problems (with --json as well)."""
    from daemon.settings import ConfigError, load_settings
    from daemon.stages.viewing import color_problems

    file = file or state.config_path
    try:
        s = load_settings(file, strict=True)
        problems = color_problems(s.shows)  # a space the OCIO config lacks fails every fix of it
    except ConfigError as exc:  # settings that validated get the colour checks too: every problem in one run
        problems = exc.problems + (color_problems(exc.settings.shows) if exc.settings else [])
    if as_json:
        report = {
            "file": str(file) if file else None,
            "ok": not problems,
            "problems": [_problem(line) for line in problems],
            "data_dir": None if problems else str(s.data_dir),
        }
        typer.echo(json.dumps(report, indent=2))
        if problems:
            raise typer.Exit(exits.PROBLEMS)
        return
    for line in problems:
        err.print(line, highlight=False, markup=False)
    if problems:
        raise typer.Exit(exits.PROBLEMS)
    what = str(file) if file else "no config file, the defaults and the environment"
    out.print(f"{what}: ok ({len(s.shows)} show(s) in it, data in {s.data_dir})", highlight=False)


def _problem(line: str) -> dict[str, str | None]:
    """A problem of `config check --json`: its key path (or the file, or the variable, it is in) and what is wrong."""
    key, sep, message = line.partition(": ")
    return {"key": key, "message": message} if sep else {"key": None, "message": line}


@config_app.command("example")
def config_example() -> None:
    """Print the commented example config (every key, with its default), to start a config file from:
    `rushes config example > /etc/rushes/rushes.yaml`."""
    typer.echo(example_config(), nl=False)


def example_config() -> str:
    """The commented example config shipped inside the package (daemon/rushes.example.yaml)."""
    return resources.files("daemon").joinpath(EXAMPLE_CONFIG).read_text(encoding="utf-8")


@config_app.command("schema")
def config_schema() -> None:
    """Print the JSON schema of the config file."""
    from daemon.settings import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))
