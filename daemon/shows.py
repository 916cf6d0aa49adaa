"""The shows the daemon knows: those in the YAML config and those added with `rushes show add`.

A show in the YAML file wins over the catalog's copy of the same code. Catalog shows keep their options as
JSON in `shows.config`, validated here through the same pydantic model as the YAML. A running daemon reads
them again every few seconds and takes up a show added or changed since (`changed_shows`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from daemon.settings import (
    ConfigError,
    Settings,
    ShowConfig,
    shared_project,
    shared_root,
    validation_problems,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from daemon.catalog import Catalog, Daily


class UnknownShowError(LookupError):
    def __init__(self, code: str) -> None:
        super().__init__(
            f"show {code!r} is not known: add it with `rushes show add {code}` or in the config file"
        )


def from_catalog(code: str, name: str, config: dict[str, Any]) -> ShowConfig:
    try:
        return ShowConfig.model_validate({**config, "code": code, "name": name})
    except ValidationError as exc:
        raise ConfigError([f"show {code} (catalog): {line}" for line in validation_problems(exc)]) from exc


# What the catalog's copy of a YAML show keeps of it, for a daemon whose own file lacks the show (another site's
# on the same catalog, a file out of step): its training window (`cron`, `hours`, `quiet_minutes`, `timezone`), so
# that it schedules the show from there when it leads, rather than at the defaults in its own zone; the project it
# follows and the number of a movie's first frame, so that it takes the show's fix requests (their frames named
# as the show counts them) rather than listing them as a project no show follows.
SHARED_OPTIONS = ("training", "tracker_project", "movie_first_frame")


def sync_config_shows(settings: Settings, catalog: Catalog) -> None:
    """Make sure every show of the YAML config has its catalog row, holding its SHARED_OPTIONS."""
    if not settings.shows:  # nothing to write: no write lock taken (a daemon may be holding it)
        return
    from daemon.catalog import shows as show_repo

    with catalog.session() as s:
        for show in settings.shows:
            row, _ = show_repo.ensure_show(s, show.code, show.name or show.code)
            shared = show.model_dump(mode="json", include=set(SHARED_OPTIONS), exclude_defaults=True)
            config = {key: value for key, value in (row.config or {}).items() if key not in SHARED_OPTIONS}
            config |= shared
            if config != (row.config or {}):
                row.config = config


def all_shows(settings: Settings, catalog: Catalog) -> list[ShowConfig]:
    """The YAML shows and the catalog's (read only: open_context made the YAML shows' rows), less any whose
    stored options no longer validate (`read_shows` says which)."""
    return read_shows(settings, catalog)[0]


def read_shows(
    settings: Settings, catalog: Catalog, *, wrapped: bool = True
) -> tuple[list[ShowConfig], dict[str, ConfigError]]:
    """The shows, and by code the problems of each catalog show whose stored options no longer validate (a rule
    tightened by an upgrade, an edit by hand): such a show is left out, so that it stops no other show.
    `wrapped=False` leaves out the wrapped shows too (`rushes show wrap`): the daemon works on the others only."""
    from daemon.catalog import shows as show_repo

    out = {show.code: show for show in settings.shows}
    invalid: dict[str, ConfigError] = {}
    with catalog.session(readonly=True) as s:
        for row in show_repo.list_shows(s):
            if row.code not in out:
                try:
                    out[row.code] = from_catalog(row.code, row.name, row.config or {})
                except ConfigError as exc:
                    invalid[row.code] = exc
        if not wrapped:
            for code in show_repo.wrapped_shows(s):
                out.pop(code, None)
                invalid.pop(code, None)
    return [out[code] for code in sorted(out)], invalid


def wrapped_shows(catalog: Catalog) -> dict[str, datetime]:
    """The wrapped shows' codes, with when each was wrapped."""
    from daemon.catalog import shows as show_repo

    with catalog.session(readonly=True) as s:
        return show_repo.wrapped_shows(s)


def changed_shows(known: list[ShowConfig], now: list[ShowConfig]) -> list[ShowConfig]:
    """The shows of `now` that `known` lacks or holds with other options (what a running daemon must take up:
    `rushes show add`, or `rushes show reopen`, while it runs). A show gone from `now` is not listed: see
    `gone_shows`."""
    before = {show.code: show for show in known}
    return [show for show in now if before.get(show.code) != show]


def gone_shows(known: list[ShowConfig], now: list[ShowConfig]) -> list[str]:
    """The codes of the shows of `known` that `now` lacks (what a running daemon must stop working on: a show
    wrapped with `rushes show wrap` while it runs)."""
    still = {show.code for show in now}
    return [show.code for show in known if show.code not in still]


def get_show(settings: Settings, catalog: Catalog, code: str) -> ShowConfig:
    shows, invalid = read_shows(settings, catalog)
    if code in invalid:
        raise invalid[code]
    for show in shows:
        if show.code == code:
            return show
    raise UnknownShowError(code)


def add_show(
    catalog: Catalog,
    code: str,
    name: str = "",
    ingest: list[Path] | None = None,
    options: ShowOptions | None = None,
    others: list[ShowConfig] | None = None,
) -> tuple[ShowConfig, bool]:
    """Create (or update the ingest roots, templates, tracker project and movie numbering of) a show kept in
    the catalog; what is not given keeps its value. An ingest folder that does not exist, or that is one of
    `others`' (the other shows), inside one or holds one, is refused, as is a tracker project one of them
    follows."""
    from daemon.catalog import shows as show_repo
    from daemon.catalog.dailies import stored_path
    from integrations.ingest.candidates import valid_name

    missing = [
        f"folder does not exist: {p}: create or mount it first" for p in ingest or [] if not p.is_dir()
    ] + [
        f"folder {stored_path(str(p))} has a path that is not valid UTF-8, so nothing in it could be catalogued: "
        "rename it with a UTF-8 name"
        for p in ingest or []
        if p.is_dir() and not valid_name(p)
    ]
    shared = [
        line
        for p in ingest or []
        for other in others or []
        for theirs in other.ingest.roots
        if (line := shared_root(p.resolve(), other.code, theirs.path))
    ]
    given = options or ShowOptions()
    with catalog.session(readonly=True) as s:
        known = show_repo.get_show(s, code)
        kept = (known.config or {}).get("tracker_project") if known is not None else None
    project = given.tracker_project if given.tracker_project is not None else kept
    followed = [line for other in others or [] if (line := shared_project(project or code, other))]
    if missing or shared or followed:
        raise ConfigError(missing + shared + followed)
    ingest_config: dict[str, Any] = {"roots": [str(p.resolve()) for p in ingest or []]}
    if given.path_template:
        ingest_config["path_template"] = _one_or_list(given.path_template)
    if given.sequence_template:
        ingest_config["sequence_template"] = _one_or_list(given.sequence_template)
    with catalog.session() as s:
        row, created = show_repo.ensure_show(s, code, name or code)
        merged = dict(row.config or {})
        if not ingest and not created:
            ingest_config.pop("roots")
        merged["ingest"] = {**merged.get("ingest", {}), **ingest_config}
        if given.tracker_project is not None:
            merged["tracker_project"] = given.tracker_project
        if given.movie_first_frame is not None:
            merged["movie_first_frame"] = given.movie_first_frame
        show = from_catalog(code, name or row.name or code, merged)  # validates before anything is written
        if (given.path_template or given.sequence_template) and not given.quarantine_unread:
            _refuse_unread(s, code, from_catalog(code, row.name or code, dict(row.config or {})), show)
        row.config = merged
    return show, created


def _one_or_list(templates: tuple[str, ...]) -> str | list[str]:
    return templates[0] if len(templates) == 1 else list(templates)


def unread_dailies(s: Session, code: str, show: ShowConfig) -> list[Daily]:
    """The show's catalogued dailies whose paths `show`'s templates do not read: the next scan would quarantine
    them, out of training and fixes."""
    from daemon.catalog import dailies as daily_repo
    from integrations.ingest.templates import Templates

    templates = Templates(show.ingest.path_template, show.ingest.sequence_template)
    unread: list[Daily] = []
    for daily in daily_repo.list_dailies(s, code):
        if not daily.root or not Path(daily.path).is_relative_to(daily.root):
            continue  # not found under an ingest root (`rushes ingest` of a file): no scan reads it again
        relative = Path(daily.path).relative_to(daily.root)
        seq = daily.kind == "sequence"
        if (templates.match_sequence(relative) if seq else templates.match_movie(relative)) is None:
            unread.append(daily)
    return unread


def _refuse_unread(s: Session, code: str, before: ShowConfig, after: ShowConfig) -> None:
    """ConfigError when the new templates would quarantine dailies the show's templates read now (a naming
    change mid-show given as the new names alone), naming them and the templates that keep both."""
    unread = unread_dailies(s, code, after)
    if not unread:
        return
    names = ", ".join(Path(d.path).name for d in unread[:3]) + (" ..." if len(unread) > 3 else "")
    keep = [
        f"--{flag} {t!r}"
        for flag, old, new in (
            ("path-template", before.ingest.path_template, after.ingest.path_template),
            ("sequence-template", before.ingest.sequence_template, after.ingest.sequence_template),
        )
        if old != new
        for t in dict.fromkeys([*_listed(old), *_listed(new)])
    ]
    raise ConfigError(
        [
            f"the new templates do not read {len(unread)} of {code}'s catalogued dailies ({names}), which the "
            f"next scan would quarantine, out of training and fixes: give the templates they were read by too, "
            f"tried in order ({' '.join(keep)}), or add --quarantine-unread to quarantine them"
        ]
    )


def _listed(templates: str | list[str]) -> list[str]:
    return [templates] if isinstance(templates, str) else list(templates)


@dataclass(frozen=True)
class ShowOptions:
    """What `rushes show add` may set besides the ingest folders (None: leave as it is)."""

    path_template: tuple[str, ...] = ()  # several: tried in order (a naming change mid-show)
    sequence_template: tuple[str, ...] = ()
    tracker_project: str | None = None
    movie_first_frame: int | None = None
    quarantine_unread: bool = False  # new templates may quarantine dailies the show's templates read now


def show_for(project: str, shows: list[ShowConfig], also: tuple[str, ...] = ()) -> ShowConfig | None:
    """The show following the tracker's `project` (its `tracker_project`, else its code; a show with a
    `tracker_project` follows that one only, so another show's project that has its code is not its):
    exactly, else in another case, as a config typed by hand may spell it ("Mars" for the tracker's MARS).
    `also`: the project's other names (ShotGrid's project name beside its code), since `tracker_project` may
    give either. A show naming the project in `tracker_project` wins over one whose code merely equals it."""
    projects = [project, *(name for name in also if name != project)]
    named = sorted(shows, key=lambda show: show.tracker_project is None)  # stable: config order otherwise
    for same in (lambda a, b: a == b, lambda a, b: a.casefold() == b.casefold()):
        for show in named:
            name = show.tracker_project or show.code
            if any(same(p, name) for p in projects):
                return show
    return None
