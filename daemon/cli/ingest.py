"""`rushes ingest PATH... --show S`: the watcher's code path, by hand, with a progress bar."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from daemon import shows
from daemon.cli import exits
from daemon.cli.app import app, counted_progress, err, fail, out, printable, settings
from daemon.context import open_context

if TYPE_CHECKING:
    from daemon.stages import ingest as ingest_stage
    from integrations.ingest.candidates import Found


@app.command("ingest")
def ingest_cmd(
    paths: Annotated[
        list[Path], typer.Argument(help="Movies, image sequences (any frame of one) or folders.")
    ],
    show: Annotated[str, typer.Option("--show", "-s", help="The show these dailies belong to.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the counts and each file's outcome as JSON for scripts.")
    ] = False,
) -> None:
    """Ingest dailies now: probe, hash and catalog them; unreadable files are quarantined with a reason."""
    from daemon.catalog import dailies as daily_repo
    from daemon.catalog.dailies import stored_path
    from daemon.stages import ingest as ingest_stage  # the media readers: only for this command
    from daemon.wrapping import ShowWrapped, refuse_if_wrapped

    ctx = open_context(settings())
    try:
        config = shows.get_show(ctx.settings, ctx.catalog, show)
        try:
            refuse_if_wrapped(ctx.catalog, show)
        except ShowWrapped as exc:
            raise fail(str(exc)) from None
        existing = [p for p in paths if _exists(p)]
        try:
            found = ingest_stage.find(existing, config) if existing else []
        except FileNotFoundError as exc:
            raise fail(str(exc)) from None
        if not existing:
            raise fail("nothing to ingest: none of the paths given exists")
        if not found:  # an empty delivery folder (or sidecars only): nothing to do is no error for a cron
            if as_json:
                typer.echo(json.dumps(_report(show, {}, [], []), indent=2))
                return
            out.print("nothing to ingest there (no movies or image sequences found)", highlight=False)
            return
        ingestor = ingest_stage.Ingestor(
            ctx.catalog,
            quarantine_level="info",
            first_frames={show: config.movie_first_frame},
            roots={show: [root.path for root in config.ingest.roots]},
        )
        tally = {"registered": 0, "unchanged": 0, "quarantined": 0, "failed": 0}
        files: list[dict[str, Any]] = []  # each file's outcome, for --json
        with counted_progress() as bar:
            task = bar.add_task("ingesting", total=len(found))
            for item in found:
                bar.update(task, description=f"ingesting {Path(item.path).name}")
                outcome = _handle(ingestor, show, item)
                tally[outcome.result if outcome else "failed"] += 1
                files.append(_file(outcome, str(item.path)))
                if outcome is not None and outcome.result == "quarantined":
                    where = stored_path(outcome.path)  # as the catalog keeps it: bytes not UTF-8 as \xNN
                    err.print(
                        f"quarantined {printable(where)}: {outcome.reason}", highlight=False, markup=False
                    )
                bar.advance(task)
        with ctx.catalog.session() as s:
            gone = daily_repo.forget_gone_quarantined(s, show)
    finally:
        ctx.close()
    if as_json:
        typer.echo(json.dumps(_report(show, tally, files, gone), indent=2))
        if tally["failed"]:
            raise typer.Exit(exits.PROBLEMS)
        return
    failed = f", {tally['failed']} could not be catalogued" if tally["failed"] else ""
    out.print(
        f"{tally['registered']} registered, {tally['unchanged']} already catalogued, "
        f"{tally['quarantined']} quarantined{failed}",
        highlight=False,
    )
    for path, why in gone:
        out.print(f"no longer quarantined ({why}): {printable(path)}", highlight=False, markup=False)
    if tally["failed"]:
        raise typer.Exit(exits.PROBLEMS)


def _file(outcome: ingest_stage.Outcome | None, path: str) -> dict[str, Any]:
    """One file's outcome in `ingest --json`: registered, unchanged, quarantined (with its reason) or failed
    (it could not even be quarantined: its line on stderr says why)."""
    from daemon.catalog.dailies import stored_path

    if outcome is None:
        return {"path": path, "result": "failed", "shot": None, "daily_id": None, "reason": None}
    return {
        "path": stored_path(outcome.path),
        "result": outcome.result,
        "shot": None
        if outcome.result == "quarantined"
        else outcome.shot,  # as the catalog's row (status --json)
        "daily_id": outcome.daily_id,
        "reason": outcome.reason,
    }


def _report(
    show: str, tally: dict[str, int], files: list[dict[str, Any]], gone: list[tuple[str, str]]
) -> dict[str, Any]:
    """What `ingest --json` prints: the counts, each file's outcome, and the quarantined files no longer listed
    (renamed, moved or deleted since)."""
    counts = {key: tally.get(key, 0) for key in ("registered", "unchanged", "quarantined", "failed")}
    return {
        "show": show,
        **counts,
        "files": files,
        "no_longer_quarantined": [{"path": path, "why": why} for path, why in gone],
    }


def _exists(path: Path) -> bool:
    """True for anything there (a broken or looping link included: ingest quarantines it with its reason);
    a path that is not there is one line on stderr, and the other paths are ingested."""
    if path.exists() or path.is_symlink():
        return True
    err.print(f"skipped {path}: no such file or folder", highlight=False, markup=False)
    return False


def _said(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else 'no message'}"


def _handle(ingestor: ingest_stage.Ingestor, show: str, item: Found) -> ingest_stage.Outcome | None:
    """One file through the ingest stage. An error nobody foresaw quarantines that file; if even that fails,
    one line says so (None). Either way ingest goes on with the next file."""
    from daemon.catalog import CatalogError
    from integrations.ingest.candidates import Rejected

    try:
        return ingestor.handle(show, item)
    except CatalogError:
        raise
    except Exception as exc:  # a reader bug or a library failure on one hostile file must not stop the rest
        reason = f"cannot be read ({_said(exc)})"
    try:
        return ingestor.handle(show, Rejected(Path(item.path), reason, tuple(item.files)))
    except CatalogError:
        raise
    except Exception as exc:
        err.print(f"could not catalogue {item.path} ({_said(exc)}); going on", highlight=False, markup=False)
        return None
