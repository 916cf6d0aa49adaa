"""`rushes show add|list`: shows without writing YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from daemon import shows
from daemon.cli.app import app, err, out, settings
from daemon.context import open_context
from daemon.settings import ShowConfig

show_app = typer.Typer(no_args_is_help=True, help="Add and list shows.")
app.add_typer(show_app, name="show")


@show_app.command("add")
def show_add(
    code: Annotated[str, typer.Argument(help="Short show code, e.g. MYSHOW.")],
    ingest: Annotated[
        list[Path] | None, typer.Option("--ingest", help="An ingest folder (repeatable).")
    ] = None,
    name: Annotated[str, typer.Option(help="Full show name.")] = "",
) -> None:
    """Add a show (or more ingest folders to it), kept in the catalog."""
    ctx = open_context(settings())
    try:
        known = next((s for s in shows.all_shows(ctx.settings, ctx.catalog) if s.code == code), None)
        # add_show replaces the ingest folders and the name it is given: keep the ones the show has.
        folders = _with_known_roots(known, ingest or [])
        show, created = shows.add_show(ctx.catalog, code, name or (known.name if known else ""), folders)
    finally:
        ctx.close()
    verb = "added" if created else "updated"
    roots = ", ".join(str(r.path) for r in show.ingest.roots) or "no ingest folders yet"
    out.print(f"show {show.code} {verb} ({roots})", highlight=False)


def _with_known_roots(known: ShowConfig | None, new: list[Path]) -> list[Path]:
    """The show's ingest folders so far plus the new ones; none when no new one is given."""
    if not new:
        return []
    roots = [root.path for root in known.ingest.roots] if known else []
    return roots + [p for p in new if p.resolve() not in {r.resolve() for r in roots}]


@show_app.command("list")
def show_list() -> None:
    """List the shows with their ingest folders."""
    ctx = open_context(settings())
    try:
        for show in shows.all_shows(ctx.settings, ctx.catalog):
            roots = ", ".join(str(r.path) for r in show.ingest.roots) or "-"
            typer.echo(f"{show.code}\t{show.name}\t{roots}")  # tab-separated for scripts
    finally:
        ctx.close()
    _ = err
