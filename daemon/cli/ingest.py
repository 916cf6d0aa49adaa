"""`rushes ingest PATH... --show S`: the watcher's code path, by hand, with a progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from daemon import shows
from daemon.cli.app import app, counted_progress, err, fail, out, settings
from daemon.context import open_context


@app.command("ingest")
def ingest_cmd(
    paths: Annotated[
        list[Path], typer.Argument(help="Movies, image sequences (any frame of one) or folders.")
    ],
    show: Annotated[str, typer.Option("--show", "-s", help="The show these dailies belong to.")],
) -> None:
    """Ingest dailies now: probe, hash and catalog them; unreadable files are quarantined with a reason."""
    from daemon.catalog import dailies as daily_repo
    from daemon.stages import ingest as ingest_stage  # the media readers: only for this command

    ctx = open_context(settings())
    try:
        config = shows.get_show(ctx.settings, ctx.catalog, show)
        try:
            found = ingest_stage.find(paths, config)
        except FileNotFoundError as exc:
            raise fail(str(exc)) from None
        if not found:
            raise fail("nothing to ingest there (no movies or image sequences found)")
        ingestor = ingest_stage.Ingestor(ctx.catalog, quarantine_level="info")
        tally = {"registered": 0, "unchanged": 0, "quarantined": 0}
        with counted_progress() as bar:
            task = bar.add_task("ingesting", total=len(found))
            for item in found:
                bar.update(task, description=f"ingesting {Path(item.path).name}")
                outcome = ingestor.handle(show, item)
                tally[outcome.result] += 1
                if outcome.result == "quarantined":
                    err.print(f"quarantined {outcome.path}: {outcome.reason}", highlight=False, markup=False)
                bar.advance(task)
        with ctx.catalog.session() as s:
            gone = daily_repo.forget_gone_quarantined(s, show)
    finally:
        ctx.close()
    out.print(
        f"{tally['registered']} registered, {tally['unchanged']} already catalogued, "
        f"{tally['quarantined']} quarantined",
        highlight=False,
    )
    for path in gone:
        out.print(f"no longer quarantined (file gone): {path}", highlight=False)
