"""`rushes prune`: free the disk of renders nobody needs any more, of old job logs, and the catalog of the payloads
of old jobs (daemon.ops.retention).

Without `--yes` it only says what it would delete; nothing is deleted that a supervisor may still review or
that the show model trains on, and a pruned job keeps its row (its key: its work is never done again)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from daemon.cli.app import app, fail, out, settings
from daemon.context import open_context

if TYPE_CHECKING:
    from daemon.catalog import Catalog
    from daemon.ops.retention import CatalogSize, Spent


@app.command("prune")
def prune_cmd(
    older_than: Annotated[
        int,
        typer.Option(
            "--older-than", min=0, max=36500, help="Days since a render was rejected or a job ended."
        ),
    ] = 30,
    show: Annotated[
        str | None,
        typer.Option("--show", "-s", help="Only this show's renders and cache (no logs, no job rows)."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Delete them (without it, only list them).")] = False,
    vacuum_: Annotated[
        bool,
        typer.Option(
            "--vacuum",
            help="With --yes, on SQLite: rewrite the catalog file without its free pages (daemons stopped).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Free the disk of renders nobody needs, of old job logs and of old jobs' payloads (lists them; --yes deletes).

    The render folders of rejected fixes, and of fixes never published because their request failed or was
    taken back, the training cache of shows wrapped, and the logs of jobs that ended, each `--older-than` days
    ago. Approved renders (the examples the show model learns from) and renders waiting for review are kept. The
    done jobs that ended that long ago keep their rows (key, kind, show, state, times: never done again) without
    their payload and result."""
    from daemon.catalog import utcnow
    from daemon.ops.retention import (
        catalog_size,
        prunable_jobs,
        remove,
        spent_cache,
        spent_leftovers,
        spent_logs,
        spent_renders,
    )
    from daemon.shows import read_shows

    if vacuum_ and not yes:
        raise fail("--vacuum rewrites the catalog file: give --yes with it")
    ctx = open_context(settings())
    try:
        shows, _ = read_shows(ctx.settings, ctx.catalog)
        if show is not None and show not in {s.code for s in shows}:
            raise fail(f"no show {show} (see `rushes show list`)")
        before = utcnow() - timedelta(days=older_than)
        spent = [
            item
            for s in shows
            if show in (None, s.code)
            for find in (spent_renders, spent_leftovers, spent_cache)
            for item in find(ctx.settings, ctx.catalog, s, before)
        ]
        rows = 0
        if show is None:
            spent += spent_logs(ctx.settings, ctx.catalog, before)
            rows = prunable_jobs(ctx.catalog, before)
        size_before = catalog_size(ctx.catalog)
        size_after = _prune_rows(ctx.catalog, before, rows, vacuum_) if yes else size_before
    finally:
        ctx.close()
    freed = remove(spent) if yes else 0
    total = sum(item.size for item in spent)
    if as_json:
        report = {
            "spent": [{"kind": i.kind, "path": str(i.path), "bytes": i.size, "why": i.why} for i in spent],
            "bytes": total,
            "deleted": yes,
            "freed": freed,
            "job_rows": rows,
            "catalog": _size_json(size_before, size_after),
        }
        typer.echo(json.dumps(report, indent=2))
        return
    _say(spent, rows, before, older_than, yes, freed)
    if yes and size_before is not None and size_after is not None:
        out.print(_size_line(size_before, size_after), highlight=False)


def _say(spent: list[Spent], rows: int, before: datetime, older_than: int, yes: bool, freed: int) -> None:
    """What prune found (and, with --yes, did), a line a thing, then the sums."""
    total = sum(item.size for item in spent)
    for item in spent:
        typer.echo(f"{_size(item.size)}\t{item.why}\t{item.path}")
    renders = sum(1 for i in spent if i.kind == "render")
    caches = sum(1 for i in spent if i.kind == "cache")
    cached = f", {caches} wrapped show(s)' training cache" if caches else ""
    what = (
        f"{renders} render folder(s){cached} and {len(spent) - renders - caches} job log(s), {_size(total)}"
    )
    emptied = f"{rows:,} job row(s) ended before {before:%Y-%m-%d %H:%M} UTC"
    if not spent and not rows:
        out.print(f"nothing to prune older than {older_than} day(s)", highlight=False)
    elif yes:
        out.print(f"deleted {what}: {_size(freed)} freed", highlight=False)
        out.print(f"emptied the payload and result of {emptied} (their rows and keys stay)", highlight=False)
    else:
        out.print(f"would delete {what}: run again with --yes to delete them", highlight=False)
        out.print(
            f"would empty the payload and result of {emptied} (their rows and keys stay)", highlight=False
        )


def _prune_rows(catalog: Catalog, before: datetime, rows: int, vacuum_: bool) -> CatalogSize | None:
    from daemon.at_work import at_work
    from daemon.ops.retention import prune_jobs, reclaim, vacuum

    if vacuum_ and catalog.dialect != "sqlite":
        raise fail(
            f"--vacuum is for a SQLite catalog; the one at {catalog.url} reuses the emptied rows' space by itself "
            "(autovacuum): prune without it"
        )
    if vacuum_:
        working = at_work(catalog)
        if working:
            raise fail(
                f"cannot vacuum the catalog at {catalog.url} while a daemon works on it ({'; '.join(working)}): "
                "VACUUM locks the whole file while it rewrites it; stop the daemons, or prune without --vacuum"
            )
    if rows:
        prune_jobs(catalog, before)
    return vacuum(catalog) if vacuum_ else reclaim(catalog)


def _size_json(before: CatalogSize | None, after: CatalogSize | None) -> dict[str, Any] | None:
    if before is None or after is None:
        return None
    return {
        "bytes_before": before.bytes,
        "bytes": after.bytes,
        "free_bytes": after.free_bytes,
        "incremental_vacuum": after.incremental,
    }


def _size_line(before: CatalogSize, after: CatalogSize) -> str:
    line = f"catalog file {_size(before.bytes)} before, {_size(after.bytes)} now"
    if after.free_bytes and not after.incremental:
        line += (
            f" ({_size(after.free_bytes)} of it free pages that new rows reuse; it was made before incremental "
            "auto-vacuum: stop the daemons and run `rushes prune --yes --vacuum` once to give them back)"
        )
    return line


def _size(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size / 1e3:.1f} kB"
