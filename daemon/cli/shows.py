"""`rushes show add|list|wrap|reopen|export`: shows without writing YAML, a show's wrap (daemon.wrapping) and its
record for the archive (daemon.archive)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from daemon import shows
from daemon.cli.app import command_group, err, fail, out, settings, state
from daemon.context import open_context
from daemon.settings import ShowConfig

show_app = command_group(
    "show", "Add and list shows; wrap a show, reopen it for pickups, export its record for the archive."
)


# show add's options that say how the show names and numbers its files (typer reads them from these aliases)
PathTemplates = Annotated[
    list[str] | None,
    typer.Option(
        "--path-template",
        help="How a movie's path names its shot and take (default {shot}_{take}.{ext}); repeat it for "
        "several, tried in order (a naming change mid-show: the old names, then the new).",
        show_default=False,
    ),
]
SequenceTemplates = Annotated[
    list[str] | None,
    typer.Option(
        "--sequence-template",
        help="How an image sequence names its shot (default {shot}/{shot}.####.{ext}); repeatable.",
        show_default=False,
    ),
]
QuarantineUnread = Annotated[
    bool,
    typer.Option(
        "--quarantine-unread",
        help="Let new templates quarantine catalogued dailies they do not read (refused otherwise).",
    ),
]
TrackerProject = Annotated[
    str | None,
    typer.Option(
        "--tracker-project",
        help="The project's code or name in the tracker (default: CODE).",
        show_default=False,
    ),
]
MovieFirstFrame = Annotated[
    int | None,
    typer.Option(
        "--movie-first-frame",
        help="The number of a movie daily's first frame as the tracker counts it, e.g. 1001 (default 0).",
        show_default=False,
        min=0,
    ),
]


@show_app.command("add")
def show_add(
    code: Annotated[str, typer.Argument(help="Short show code, e.g. MYSHOW.")],
    ingest: Annotated[
        list[Path] | None, typer.Option("--ingest", help="An ingest folder (repeatable).")
    ] = None,
    name: Annotated[str, typer.Option(help="Full show name.")] = "",
    path_template: PathTemplates = None,
    sequence_template: SequenceTemplates = None,
    quarantine_unread: QuarantineUnread = False,
    tracker_project: TrackerProject = None,
    movie_first_frame: MovieFirstFrame = None,
) -> None:
    """Add a show (or more ingest folders, templates or a tracker project to it), kept in the catalog.

    A file whose name does not match the path template is quarantined with one line naming the template
    (docs/configuration.md, "Path templates")."""
    from daemon.leader import daemon_running

    ctx = open_context(settings())
    try:
        if any(s.code == code for s in ctx.settings.shows):  # the file's show wins over the catalog's copy
            raise fail(
                f"show {code} is defined in the config file {state.config_path}: change it there (then "
                "restart the daemon); `rushes show add` changes only shows kept in the catalog"
            )
        every = shows.all_shows(ctx.settings, ctx.catalog)
        known = next((s for s in every if s.code == code), None)
        # add_show replaces the ingest folders and the name it is given: keep the ones the show has.
        folders = _with_known_roots(known, ingest or [])
        options = shows.ShowOptions(
            tuple(path_template or ()),
            tuple(sequence_template or ()),
            tracker_project,
            movie_first_frame,
            quarantine_unread,
        )
        others = [s for s in every if s.code != code]
        show, created = shows.add_show(
            ctx.catalog, code, name or (known.name if known else ""), folders, options, others
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
    """List the shows with their ingest folders (a wrapped show says so, and since when)."""
    from daemon.status import scheduled_windows

    ctx = open_context(settings())
    try:
        known = shows.all_shows(ctx.settings, ctx.catalog)
        wrapped = shows.wrapped_shows(ctx.catalog)
        windows = scheduled_windows(ctx.catalog) if as_json else {}
    finally:
        ctx.close()
    if as_json:
        records = [_record(show, wrapped.get(show.code), windows.get(show.code)) for show in known]
        typer.echo(json.dumps(records, indent=2))
        return
    for show in known:
        roots = ", ".join(_folder(r.path) for r in show.ingest.roots) or "-"
        since = wrapped.get(show.code)
        mark = f"\twrapped since {since:%Y-%m-%d %H:%M} UTC" if since else ""
        typer.echo(
            f"{show.code}\t{show.name or show.code}\t{roots}{mark}"
        )  # tab-separated, as --json names it
    _ = err


def _record(show: ShowConfig, wrapped_at: datetime | None, window: datetime | None = None) -> dict[str, Any]:
    """A show as `show list --json` gives it: the keys it shares with `rushes status --json`'s shows are the same."""
    from daemon.status import training_record

    return {
        "wrapped_at": wrapped_at.isoformat(timespec="seconds") if wrapped_at else None,
        "code": show.code,
        "name": show.name or show.code,
        "tracker_project": show.tracker_project or show.code,
        "ingest_roots": [str(r.path) for r in show.ingest.roots],
        "missing_roots": [str(r.path) for r in show.ingest.roots if not r.path.is_dir()],
        # always lists: a show may read several namings, tried in order (a naming change mid-show)
        "path_template": _listed(show.ingest.path_template),
        "sequence_template": _listed(show.ingest.sequence_template),
        "movie_first_frame": show.movie_first_frame,
        "training": training_record(show, window),
    }


@show_app.command("wrap")
def show_wrap(
    code: Annotated[str, typer.Argument(help="The show's code.")],
    note: Annotated[
        str | None,
        typer.Option(help="Why, for the record (e.g. 'delivered 2026-12-01').", show_default=False),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Wrap a show: no daemon watches its folders, trains it or does its fix requests (they are answered that it
    is wrapped) any more; every record of it is kept, and `rushes show reopen` takes it up again.

    Its queued training is dropped; fixes already asked for are finished and published. The other shows of the
    daemon go on as they were."""
    from daemon.wrapping import wrap

    ctx = open_context(settings())
    try:
        done = wrap(ctx.settings, ctx.catalog, shows.get_show(ctx.settings, ctx.catalog, code), note)
    finally:
        ctx.close()
    if as_json:
        typer.echo(json.dumps({**asdict(done), "since": done.since.isoformat(timespec="seconds")}, indent=2))
        return
    model = f"model v{done.promoted}" if done.promoted else "no model version yet"
    out.print(f"show {code} wrapped at {done.since:%Y-%m-%d %H:%M} UTC ({model})", highlight=False)
    if done.dropped_training:
        out.print(f"  queued training dropped: job(s) {_ids(done.dropped_training)}", highlight=False)
    if done.running_training:
        out.print(f"  a training running now finishes: job(s) {_ids(done.running_training)}", highlight=False)
    if done.finishing:
        out.print(
            f"  work asked for before the wrap finishes (fixes, their Versions and answers, ingests): job(s) "
            f"{_ids(done.finishing)}",
            highlight=False,
        )
    sizes = ", ".join(f"{name} {_mb(size)}" for name, size in done.disk.items())
    cache = (
        "the cache can be deleted once that training ends"
        if done.running_training
        else "the cache can be deleted now"
    )
    out.print(
        f"  on disk: {sizes}; {cache} (it is rebuilt if the show is reopened); "
        'docs/operations.md, "Wrapping a show", says what to keep',
        highlight=False,
    )


@show_app.command("reopen")
def show_reopen(
    code: Annotated[str, typer.Argument(help="The show's code.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Reopen a wrapped show for pickups: its folders are watched (what landed meanwhile is ingested), its fix
    requests taken and its training scheduled again; its next version grows from its promoted one."""
    from daemon.leader import daemon_running
    from daemon.wrapping import reopen

    ctx = open_context(settings())
    try:
        show = shows.get_show(ctx.settings, ctx.catalog, code)
        done = reopen(ctx.catalog, code)
        running = daemon_running(ctx.catalog)
    finally:
        ctx.close()
    if as_json:
        since = done.wrapped_since.isoformat(timespec="seconds") if done.wrapped_since else None
        typer.echo(json.dumps({**asdict(done), "wrapped_since": since}, indent=2))
        return
    if done.wrapped_since is None:
        out.print(f"show {code} was not wrapped: nothing to reopen", highlight=False)
        return
    grows = (
        f"its next training grows from v{done.promoted}" if done.promoted else "it has no model version yet"
    )
    out.print(
        f"show {code} reopened (wrapped since {done.wrapped_since:%Y-%m-%d %H:%M} UTC); {grows}",
        highlight=False,
    )
    if (
        not show.ingest.roots
    ):  # e.g. a show taken out of the YAML file while wrapped: its catalog row has none
        out.print(
            f"  it has no ingest folders, so no pickup is ingested: give them with `rushes show add {code} "
            "--ingest DIR` (or put the show back in the config file)",
            highlight=False,
        )
    if running:
        out.print(
            "  the daemon running on this catalog takes it up within seconds: it scans its folders and takes "
            "its fix requests again",
            highlight=False,
        )


def _ids(ids: list[int]) -> str:
    return ", ".join(str(i) for i in ids)


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _folder(path: Path) -> str:
    """An ingest folder as `show list` prints it: marked when it is missing now (unmounted, moved)."""
    return str(path) if path.is_dir() else f"{path} (missing)"


@show_app.command("export")
def show_export(
    code: Annotated[str, typer.Argument(help="The show's code.")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write the JSON to this file (default: print it).", show_default=False
        ),
    ] = None,
) -> None:
    """The show's whole record as JSON, for its archive: every model version with its lineage and sealed
    manifest, the studio bases they grew from with their declared corpus, every daily with its hash, and every
    fix request with the Versions it published (from which daily, by which model version)."""
    from daemon.archive import show_archive

    if output is not None and output.exists():
        raise fail(f"--output {output} exists: give a new file name, or remove it first")
    if output is not None and not output.parent.is_dir():
        raise fail(
            f"--output {output}: its folder {output.parent} does not exist; make it, or write elsewhere"
        )
    ctx = open_context(settings())
    try:
        shows.get_show(ctx.settings, ctx.catalog, code)
        record = show_archive(ctx.catalog, code, ctx.settings.data_dir / "bases")
    finally:
        ctx.close()
    text = json.dumps(record.to_json(), indent=2)
    if output is None:
        typer.echo(text)
        return
    partial = output.with_name(f".{output.name}.partial")
    try:  # whole or not at all: an archive cut short by a full disk is worse than none
        partial.write_text(text + "\n")
        partial.replace(output)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise fail(f"cannot write --output {output} ({exc.strerror}); write it elsewhere") from None
    fixed = sum(1 for r in record.fix_requests for f in r.fixes if f.tracker_version)
    refused = [f"v{v.version}" for v in record.model_versions if v.manifest is None]
    out.print(
        f"show {code}: {len(record.model_versions)} model version(s), {len(record.dailies)} daily row(s), "
        f"{len(record.fix_requests)} fix request(s) with {fixed} published Version(s) written to {output}",
        highlight=False,
    )
    if refused:
        out.print(f"  manifest refused (named in the file): {', '.join(refused)}", highlight=False)


@show_app.command("remove")
def show_remove(
    code: Annotated[str, typer.Argument(help="The show's code (wrapped first, and not in the config file).")],
    delete_folders: Annotated[
        bool,
        typer.Option(
            "--delete-folders",
            help="Delete its folders in the data directory too: model versions, training cache, references, renders.",
        ),
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", help="Remove it (without it, only say what would go).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Remove a wrapped show from the catalog for good (a rights agreement that ended): its dailies, model
    versions, fix requests and Versions' records; export it first (`rushes show export`) for the archive."""
    from daemon.cli import exits
    from daemon.shows import UnknownShowError
    from daemon.wrapping import CannotRemove, removal, remove

    ctx = open_context(settings())
    try:
        try:
            show = shows.get_show(ctx.settings, ctx.catalog, code)
        except UnknownShowError:
            raise fail(
                f"show {code} is not in the catalog (removed already, or never added): nothing to remove"
            ) from None
        try:
            done = (
                remove(ctx.settings, ctx.catalog, show, delete_folders=delete_folders)
                if yes
                else removal(ctx.settings, ctx.catalog, show)
            )
        except CannotRemove as exc:
            raise fail(str(exc), exits.TRY_LATER if exc.later else exits.BAD_INPUT) from None
    finally:
        ctx.close()
    deleted = [f for f in done.folders if yes and delete_folders and not _under(done.not_deleted, f)]
    if as_json:
        typer.echo(json.dumps({**asdict(done), "removed": yes, "folders_deleted": deleted}, indent=2))
        return
    if done.rows is None:
        out.print(
            f"would remove show {code} from the catalog: run again with --yes (export it first: "
            f"`rushes show export {code} --output FILE`)",
            highlight=False,
        )
    else:
        rows = done.rows
        out.print(
            f"show {code} removed from the catalog: {rows.dailies} daily row(s), {rows.model_versions} model "
            f"version(s), {rows.fix_requests} fix request(s), {rows.publications} Version record(s), "
            f"{len(rows.jobs)} job(s) and their logs",
            highlight=False,
        )
    for folder, size in done.folders.items():
        if folder in deleted:
            state = "deleted"
        elif yes and delete_folders:
            state = f"NOT deleted ({'; '.join(sorted(set(_under(done.not_deleted, folder).values())))})"
        else:
            state = "kept (--delete-folders deletes it)"
        out.print(f"  {folder} ({_mb(size)}): {state}", highlight=False, markup=False)
    for thing in [*done.left, "its Versions and their uploaded movies in the tracker"]:
        out.print(f"  left as it is: {thing}", highlight=False)


def _under(failures: dict[str, str], folder: str) -> dict[str, str]:
    """The failures to delete `folder` or anything in it."""
    return {
        path: why
        for path, why in failures.items()
        if Path(path) == Path(folder) or Path(folder) in Path(path).parents
    }


def _listed(template: str | list[str]) -> list[str]:
    return [template] if isinstance(template, str) else list(template)
