"""`rushes show add|list`: shows without writing YAML."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from daemon import shows
from daemon.cli.app import command_group, err, out, settings
from daemon.context import open_context
from daemon.settings import ShowConfig

show_app = command_group("show", "Add and list shows.")


@show_app.command("add")
def show_add(
    code: Annotated[str, typer.Argument(help="Short show code, e.g. MYSHOW.")],
    ingest: Annotated[
        list[Path] | None, typer.Option("--ingest", help="An ingest folder (repeatable).")
    ] = None,
    name: Annotated[str, typer.Option(help="Full show name.")] = "",
    path_template: Annotated[
        list[str] | None,
        typer.Option(
            help="How a movie's path names its shot and take (default {shot}_{take}.{ext}); repeat it for "
            "several, tried in order (a naming change mid-show: the old names, then the new).",
            show_default=False,
        ),
    ] = None,
    sequence_template: Annotated[
        list[str] | None,
        typer.Option(
            help="How an image sequence names its shot (default {shot}/{shot}.####.{ext}); repeatable.",
            show_default=False,
        ),
    ] = None,
    quarantine_unread: Annotated[
        bool,
        typer.Option(
            "--quarantine-unread",
            help="Let new templates quarantine catalogued dailies they do not read (refused otherwise).",
        ),
    ] = False,
    tracker_project: Annotated[
        str | None,
        typer.Option(help="The project's code or name in the tracker (default: CODE).", show_default=False),
    ] = None,
    movie_first_frame: Annotated[
        int | None,
        typer.Option(
            help="The number of a movie daily's first frame as the tracker counts it, e.g. 1001 (default 0).",
            show_default=False,
            min=0,
        ),
    ] = None,
) -> None:
    """Add a show (or more ingest folders, templates or a tracker project to it), kept in the catalog.

    A file whose name does not match the path template is quarantined with one line naming the template
    (docs/configuration.md, "Path templates")."""
    from daemon.leader import daemon_running

    ctx = open_context(settings())
    try:
        known = next((s for s in shows.all_shows(ctx.settings, ctx.catalog) if s.code == code), None)
        # add_show replaces the ingest folders and the name it is given: keep the ones the show has.
        folders = _with_known_roots(known, ingest or [])
        options = shows.ShowOptions(
            tuple(path_template or ()),
            tuple(sequence_template or ()),
            tracker_project,
            movie_first_frame,
            quarantine_unread,
        )
        show, created = shows.add_show(
            ctx.catalog, code, name or (known.name if known else ""), folders, options
        )
        running = daemon_running(ctx.catalog)
    finally:
        ctx.close()
    verb = "added" if created else "updated"
    roots = ", ".join(str(r.path) for r in show.ingest.roots) or "no ingest folders yet"
    out.print(f"show {show.code} {verb} ({roots})", highlight=False)
    if path_template or sequence_template or tracker_project or movie_first_frame is not None:
        out.print(
            f"  movies: {_templates(show.ingest.path_template)}, numbered from {show.movie_first_frame}; "
            f"sequences: {_templates(show.ingest.sequence_template)}; "
            f"tracker project: {show.tracker_project or show.code}",
            highlight=False,
        )
    if running:  # it reads the catalog's shows every few seconds
        out.print(
            "  the daemon running on this catalog takes it up within seconds: it watches these folders and "
            "takes this show's fix requests without a restart",
            highlight=False,
        )


def _templates(given: str | list[str]) -> str:
    """One template as it is, several in the order they are tried: `A, then B`."""
    return given if isinstance(given, str) else ", then ".join(given)


def _with_known_roots(known: ShowConfig | None, new: list[Path]) -> list[Path]:
    """The show's ingest folders so far plus the new ones; none when no new one is given."""
    if not new:
        return []
    roots = [root.path for root in known.ingest.roots] if known else []
    return roots + [p for p in new if p.resolve() not in {r.resolve() for r in roots}]


@show_app.command("list")
def show_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """List the shows with their ingest folders."""
    ctx = open_context(settings())
    try:
        known = shows.all_shows(ctx.settings, ctx.catalog)
    finally:
        ctx.close()
    if as_json:
        typer.echo(json.dumps([_record(show) for show in known], indent=2))
        return
    for show in known:
        roots = ", ".join(_folder(r.path) for r in show.ingest.roots) or "-"
        typer.echo(f"{show.code}\t{show.name}\t{roots}")  # tab-separated for scripts
    _ = err


def _record(show: ShowConfig) -> dict[str, Any]:
    """A show as `show list --json` gives it: the keys it shares with `rushes status --json`'s shows are the same."""
    return {
        "code": show.code,
        "name": show.name or show.code,
        "tracker_project": show.tracker_project or show.code,
        "ingest_roots": [str(r.path) for r in show.ingest.roots],
        "missing_roots": [str(r.path) for r in show.ingest.roots if not r.path.is_dir()],
        "path_template": show.ingest.path_template,
        "sequence_template": show.ingest.sequence_template,
        "movie_first_frame": show.movie_first_frame,
    }


def _folder(path: Path) -> str:
    """An ingest folder as `show list` prints it: marked when it is missing now (unmounted, moved)."""
    return str(path) if path.is_dir() else f"{path} (missing)"
