"""A show's whole record for its archive (`rushes show export`): what legal and delivery keep when it wraps.

Every model version with its lineage and its sealed manifest (the clips it learned from and was scored on with
their hashes, the base, the exclusions, the approved pairs), each base it grew from with its own manifest (every
corpus clip with its hash, the declarations of ownership or licence), every daily with its hash,
status and exclusion, and every fix request with each Version it published: the daily it was rendered from (by
path and content hash) and the model version that rendered it. `rushes status` shows only the newest requests;
this is all of them. A version whose weights were deleted or altered keeps its manifest here, with the problem
named, as long as the manifest itself is the sealed one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from daemon import __version__
from daemon.catalog import (
    Catalog,
    Daily,
    FixRequest,
    ModelVersion,
    Publication,
    Show,
    fixes,
    models_repo,
    utcnow,
)
from daemon.catalog import dailies as daily_repo
from daemon.catalog import shows as show_repo


@dataclass(frozen=True)
class VersionRecord:
    """A model version: its catalog row and its manifest as sealed (None when the manifest is refused)."""

    version: int
    parent: int | None
    promoted: bool  # the version the show's fixes use
    promoted_at: str | None
    created: str
    folder: str
    seal: str | None  # the seal recorded in the catalog when it was trained
    manifest: dict[str, Any] | None
    manifest_problem: str | None  # why the manifest is refused (edited, gone), or None
    weights_problem: str | None  # why its weights do not match the manifest (deleted, altered), or None
    # a version made by a Rushes before manifests were sealed (none recorded in the catalog either): its manifest
    # as that Rushes wrote it, kept for the archive though nothing vouches for it (`manifest` stays None)
    unsealed_manifest: dict[str, Any] | None = None


@dataclass(frozen=True)
class DailyRecord:
    id: int
    path: str
    shot: str | None
    take: str | None
    status: str  # registered, quarantined, superseded or removed
    content_hash: str | None
    frames: int | None
    created: str
    reason: str | None  # why quarantined or removed
    excluded: str | None  # why a filmmaker excluded it from training
    excluded_at: str | None


@dataclass(frozen=True)
class PublishedFix:
    """One fixed render of a request, and the tracker Version it became."""

    kind: str
    state: str  # pending (not yet in the tracker) or published
    tracker_version: str | None
    code: str | None
    review: str  # pending, approved or rejected
    review_note: str | None
    model_version: int | None  # None: the classical tool made it (before the show's first model)
    source_path: str | None  # the daily it was rendered from
    source_daily: int | None
    source_hash: str | None
    movie: str
    published_at: str | None
    reviewed_at: str | None


@dataclass(frozen=True)
class FixRecord:
    id: int
    request_key: str
    shot: str
    task: str | None
    kinds: list[Any]
    params: dict[str, Any]
    state: str
    created: str
    error: str | None
    fixes: list[PublishedFix] = field(default_factory=list)


@dataclass(frozen=True)
class BaseRecord:
    """A studio base a version of the show grew from: its sealed manifest (every corpus clip with its hash, the
    declarations of ownership or licence), where it is now, and what broke the trace to it ("" when whole)."""

    name: str
    version: str
    folder: str | None
    problem: str
    manifest: dict[str, Any] | None


@dataclass(frozen=True)
class ShowArchive:
    show: str
    name: str
    wrapped_at: str | None
    wrap_note: str | None
    exported_at: str
    rushes: str  # the version of Rushes that wrote the export
    model_versions: list[VersionRecord]
    bases: list[BaseRecord]  # the studio bases its versions grew from, with their declared corpus
    dailies: list[DailyRecord]
    fix_requests: list[FixRecord]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def show_archive(catalog: Catalog, code: str, bases_root: Path) -> ShowArchive:
    """The show's record (UnknownShow when the catalog lacks it), read in one transaction; its bases are looked
    for where its versions recorded them, else under `bases_root` (`<data_dir>/bases`)."""
    with catalog.session(readonly=True) as s:
        show = show_repo.require_show(s, code)
        dailies = daily_repo.list_dailies(s, code, status=None)
        requests = sorted(fixes.list_fix_requests(s, code, limit=None), key=lambda r: r.id)
        versions = [_version(v, show) for v in models_repo.list_versions(s, code)]
        return ShowArchive(
            show=show.code,
            name=show.name,
            wrapped_at=_when(show.wrapped_at),
            wrap_note=show.wrap_note,
            exported_at=_when(utcnow()) or "",
            rushes=__version__,
            model_versions=versions,
            bases=_bases(versions, bases_root),
            dailies=[_daily(d) for d in dailies],
            fix_requests=[_request(s, r, dailies) for r in requests],
        )


def _bases(versions: list[VersionRecord], root: Path) -> list[BaseRecord]:
    """Each base (name and version) the versions' manifests name, once, traced as `rushes model show` does."""
    from engine.model import ModelError, load_manifest
    from engine.model.base import trace_base
    from engine.model.manifest import BaseRef

    refs: dict[tuple[str, str], dict[str, Any]] = {}
    for v in versions:
        ref = (v.manifest or {}).get("base")
        if ref:
            refs.setdefault((ref["name"], ref["version"]), ref)
    out = []
    for (name, version), ref in sorted(refs.items()):
        folder, problem = trace_base(BaseRef.model_validate(ref), root)
        manifest = None
        if folder is not None:
            try:
                manifest = load_manifest(folder).model_dump(mode="json")
            except ModelError as exc:
                problem = problem or str(exc)
        out.append(BaseRecord(name, version, str(folder) if folder else None, problem, manifest))
    return out


def _version(row: ModelVersion, show: Show) -> VersionRecord:
    from engine.model import ModelError, ModelOutdated, load_manifest, verify_version
    from engine.model.version import MANIFEST

    seal = models_repo.recorded_seal(row)
    manifest: dict[str, Any] | None = None
    manifest_problem = weights_problem = None
    unsealed = None
    try:
        sealed = load_manifest(row.path)
    except ModelOutdated as exc:
        manifest_problem = str(exc)
        unsealed = None if seal else _as_written(Path(row.path) / MANIFEST)
    except ModelError as exc:
        manifest_problem = str(exc)
    else:
        if seal and sealed.seal != seal:
            manifest_problem = (
                "its seal is not the one recorded when it was trained (it was edited and re-sealed)"
            )
        else:
            manifest = sealed.model_dump(mode="json")
            try:
                verify_version(row.path, seal)
            except ModelError as exc:
                weights_problem = str(exc)
    return VersionRecord(
        version=row.version,
        parent=row.parent_version,
        promoted=show.promoted_version == row.version,
        promoted_at=_when(row.promoted_at),
        created=_when(row.created_at) or "",
        folder=row.path,
        seal=seal,
        manifest=manifest,
        manifest_problem=manifest_problem,
        weights_problem=weights_problem,
        unsealed_manifest=unsealed,
    )


def _as_written(path: Path) -> dict[str, Any] | None:
    """A manifest file's JSON object as it stands, or None when it cannot be read as one."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _daily(d: Daily) -> DailyRecord:
    return DailyRecord(
        id=d.id,
        path=d.path,
        shot=d.shot,
        take=d.take,
        status=d.status,
        content_hash=d.content_hash,
        frames=d.frame_count,
        created=_when(d.created_at) or "",
        reason=d.error,
        excluded=d.excluded_reason,
        excluded_at=_when(d.excluded_at),
    )


def _request(s: Session, r: FixRequest, dailies: list[Daily]) -> FixRecord:
    return FixRecord(
        id=r.id,
        request_key=r.request_key,
        shot=r.shot,
        task=r.task_id,
        kinds=list(r.kinds),
        params=dict(r.params),
        state=r.state,
        created=_when(r.created_at) or "",
        error=r.error,
        fixes=[_fix(s, p, dailies) for p in sorted(r.publications, key=lambda p: p.id)],
    )


def _fix(s: Session, p: Publication, dailies: list[Daily]) -> PublishedFix:
    source = _source(s, p, dailies)
    return PublishedFix(
        kind=p.fix_kind,
        state=p.state,
        tracker_version=p.tracker_version_id,
        code=(p.extra_files or {}).get("code"),
        review=p.review_status,
        review_note=p.review_note,
        model_version=p.model_version,
        source_path=p.source_path,
        source_daily=source.id if source else None,
        source_hash=p.source_hash or (source.content_hash if source else None),
        movie=p.movie_path,
        published_at=_when(p.published_at),
        reviewed_at=_when(p.reviewed_at),
    )


def _source(s: Session, p: Publication, dailies: list[Daily]) -> Daily | None:
    """The daily a fix was rendered from: the one of the content hash its publication recorded, else (one made
    before publications recorded it) the newest row of its path made before the fix (a file rewritten since has
    a newer row, with other content), else the daily its path is a byte-identical copy of."""
    if p.source_hash:
        same = [d for d in dailies if d.content_hash == p.source_hash]
        return max(same, key=lambda d: d.id) if same else None
    if not p.source_path:
        return None
    made = [d for d in dailies if d.path == p.source_path and d.created_at <= p.created_at]
    if made:
        return max(made, key=lambda d: d.id)
    return daily_repo.alias_of(s, p.fix_request.show.code, p.source_path)


def _when(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None
