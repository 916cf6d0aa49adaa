"""`rushes prune`: free the disk of renders nobody needs any more and of old job logs (daemon.ops.retention).

Without `--yes` it only says what it would delete; nothing is deleted that a supervisor may still review or
that the show model trains on."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated

import typer

from daemon.cli.app import app, fail, out, settings
from daemon.context import open_context


@app.command("prune")
def prune_cmd(
    older_than: Annotated[
        int, typer.Option("--older-than", min=0, help="Days since a render was rejected or a job ended.")
    ] = 30,
    show: Annotated[
        str | None, typer.Option("--show", "-s", help="Only this show's renders and cache (and no logs).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Delete them (without it, only list them).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Free the disk of renders nobody needs and of old job logs (lists them; --yes deletes).

    The render folders of rejected fixes, and of fixes never published because their request failed or was
    taken back, the training cache of shows wrapped, and the logs of jobs that ended, each `--older-than` days
    ago. Approved renders (the examples the show model learns from) and renders waiting for review are kept."""
    from daemon.catalog import utcnow
    from daemon.ops.retention import remove, spent_cache, spent_logs, spent_renders
    from daemon.shows import read_shows

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
            for find in (spent_renders, spent_cache)
            for item in find(ctx.settings, ctx.catalog, s, before)
        ]
        if show is None:
            spent += spent_logs(ctx.settings, ctx.catalog, before)
    finally:
        ctx.close()
    freed = remove(spent) if yes else 0
    total = sum(item.size for item in spent)
    if as_json:
        rows = [{"kind": i.kind, "path": str(i.path), "bytes": i.size, "why": i.why} for i in spent]
        typer.echo(json.dumps({"spent": rows, "bytes": total, "deleted": yes, "freed": freed}, indent=2))
        return
    for item in spent:
        typer.echo(f"{_size(item.size)}\t{item.why}\t{item.path}")
    renders = sum(1 for i in spent if i.kind == "render")
    caches = sum(1 for i in spent if i.kind == "cache")
    cached = f", {caches} wrapped show(s)' training cache" if caches else ""
    what = (
        f"{renders} render folder(s){cached} and {len(spent) - renders - caches} job log(s), {_size(total)}"
    )
    if not spent:
        out.print(f"nothing to prune older than {older_than} day(s)", highlight=False)
    elif yes:
        out.print(f"deleted {what}: {_size(freed)} freed", highlight=False)
    else:
        out.print(f"would delete {what}: run again with --yes to delete them", highlight=False)


def _size(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size / 1e3:.1f} kB"
