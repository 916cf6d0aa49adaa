"""`rushes ingest PATH... --show S`: the watcher's code path, by hand, with a progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from daemon import ingest as ingest_stage
from daemon import shows
from daemon.catalog import CatalogError
from daemon.cli.main import app, counted_progress, err, fail, out, settings
from daemon.context import open_context
from integrations.ingest.candidates import Candidate, Found, Rejected


@app.command("ingest")
def ingest_cmd(
    paths: Annotated[
        list[Path], typer.Argument(help="Movies, image sequences (any frame of one) or folders.")
    ],
    show: Annotated[str, typer.Option("--show", "-s", help="The show these dailies belong to.")],
) -> None:
    """Ingest dailies now: probe, hash and catalog them; unreadable files are quarantined with a reason."""
    ctx = open_context(settings())
    try:
        config = shows.get_show(ctx.settings, ctx.catalog, show)
        existing = [p for p in paths if _exists(p)]
        try:
            found = ingest_stage.find(existing, config) if existing else []
        except FileNotFoundError as exc:
            raise fail(str(exc)) from None
        if not found:
            raise fail("nothing to ingest there (no movies or image sequences found)")
        ingestor = ingest_stage.Ingestor(ctx.catalog)
        tally = {"registered": 0, "unchanged": 0, "quarantined": 0}
        with counted_progress() as bar:
            task = bar.add_task("ingesting", total=len(found))
            for item in found:
                bar.update(task, description=f"ingesting {Path(item.path).name}")
                outcome = _handle(ingestor, show, item)
                tally[outcome.result] += 1
                if outcome.result == "quarantined":
                    err.print(f"quarantined {outcome.path}: {outcome.reason}", highlight=False, markup=False)
                bar.advance(task)
    finally:
        ctx.close()
    out.print(
        f"{tally['registered']} registered, {tally['unchanged']} already catalogued, "
        f"{tally['quarantined']} quarantined",
        highlight=False,
    )


def _exists(path: Path) -> bool:
    """True for anything there (a broken or looping link included: ingest quarantines it with its reason);
    a path that is not there is one line on stderr, and the other paths are ingested."""
    if path.exists() or path.is_symlink():
        return True
    err.print(f"skipped {path}: no such file or folder", highlight=False, markup=False)
    return False


def _handle(ingestor: ingest_stage.Ingestor, show: str, item: Found) -> ingest_stage.Outcome:
    """One file through the ingest stage; an error nobody foresaw quarantines that file, and ingest goes on."""
    try:
        return ingestor.handle(show, item)
    except CatalogError:
        raise
    except Exception as exc:  # a reader bug or a library failure on one hostile file must not stop the rest
        reason = f"cannot be read ({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else 'no message'})"
        files = item.files if isinstance(item, Candidate | Rejected) else ()
        return ingestor.handle(show, Rejected(Path(item.path), reason, tuple(files)))
