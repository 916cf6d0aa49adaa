"""Which of a show's model versions learned from a daily, by their manifests: a version grows from its parent's
weights, so what the promoted version or one of its ancestors learned from (a training clip, or an approved pair
made from a daily) is in every version grown from it.

- `withdrawn_in_lineage`: where the promoted lineage learned from a daily excluded since, the next training does
  not grow from it but starts afresh (daemon.stages.training), its manifest saying why (`fresh_start`), and a
  version that learned from a daily excluded while it trained is not promoted. The studio base a lineage grew
  from counts (`base_withdrawn`): a base trained on a folder holding the daily, or a copy of it, carries it into
  every show grown from it, so such a base is not started from either.
- `versions_learned_from`, `promoted_withdrawn`: the versions that learned from one daily, and whether the one
  fixes use is among them or grown from them, as `rushes dailies exclude` says.

Manifests only (no weights, no torch): `rushes dailies exclude` stays a quick command.
"""

from __future__ import annotations

from pathlib import Path

from daemon.catalog import Catalog, models_repo
from daemon.catalog import dailies as daily_repo
from daemon.catalog import fixes as fix_repo
from engine.model import ModelError, load_manifest
from engine.model.base import trace_base
from engine.model.manifest import BaseRef, ClipRecord, Exclusion, Manifest
from engine.train.corpus import listed_files
from engine.train.dataset import hash_files
from integrations.ingest.hashing import content_hash


def exclusions(catalog: Catalog, show: str) -> list[Exclusion]:
    """The show's dailies excluded from training, with their reasons, as manifests list them."""
    with catalog.session(readonly=True) as s:
        return [
            Exclusion(
                id=f"daily:{d.id}:{d.shot}:{Path(d.path).name}",
                content_hash=d.content_hash or "",
                reason=d.excluded_reason or "",
            )
            for d in daily_repo.excluded(s, show)
        ]


def withdrawn_in_lineage(catalog: Catalog, show: str, version: Manifest | None, bases: Path) -> str:
    """Why the next version must not grow from `version` ("" when it may; fixes use it until a new one is
    promoted): the first version of its lineage, newest first, that learned from a daily excluded since, by the
    daily's content hash or an approved pair made from it, or whose base (found as recorded, or under `bases`)
    did (base_withdrawn); or an ancestor whose manifest cannot be read (deleted or edited by hand)."""
    if version is None:
        return ""
    excluded = exclusions(catalog, show)
    if not excluded:
        return _base_withdrawn_in(catalog, version, bases)
    by_hash = {e.content_hash: e for e in excluded if e.content_hash}
    with catalog.session(readonly=True) as s:
        rows = [(d.path, d.content_hash) for d in daily_repo.excluded(s, show)]
        pairs = {
            f"publication:{p.id}:{p.fix_kind}": p.source_path
            for p in fix_repo.approved_pairs(s, show)
            if any(fix_repo.made_from(p, path, content) for path, content in rows)
        }
    manifest: Manifest | None = version
    while manifest is not None:
        learned = [by_hash[c.content_hash] for c in manifest.clips if c.content_hash in by_hash]
        if learned:
            e = learned[0]
            return f"{manifest.version} learned from {e.id}, excluded since: {e.reason}"
        paired = [x for x in manifest.examples if x.trained and x.id in pairs]
        if paired:
            return (
                f"{manifest.version} learned from approved pair {paired[0].id}, made from an excluded daily"
            )
        child = manifest
        if child.parent is None:
            return _base_withdrawn_in(catalog, child, bases)
        try:
            manifest = _parent_manifest(catalog, show, child)
        except ModelError as exc:  # a folder deleted or edited by hand: nothing shows it free of them
            return (
                f"{child.version}'s parent {child.parent} cannot be read, so its lineage cannot be shown "
                f"free of the excluded dailies ({exc})"
            )
    return ""


def base_withdrawn(catalog: Catalog, base: Manifest) -> str:
    """Why a studio base must not be grown from ("" when it may): a corpus clip it trained on is a daily of any
    show excluded since, by its path or as a copy of it (_same_footage). Every show's exclusions count: what a
    base learned is in every show grown from it."""
    with catalog.session(readonly=True) as s:
        withdrawn = [
            (d.show.code, d.id, d.path, d.content_hash, d.excluded_reason or "")
            for d in daily_repo.excluded(s, None)
        ]
    for clip in base.clips:
        for show, daily_id, path, content, reason in withdrawn:
            if _same_footage(clip, path, content):
                return (
                    f"base {base.show} {base.version} learned from {clip.id}, daily {daily_id} of show {show}, "
                    f"excluded since: {reason}"
                )
    return ""


def _same_footage(clip: ClipRecord, daily_path: str, daily_hash: str | None) -> bool:
    """Whether a base's corpus clip is the daily at `daily_path`: the same path; a file (or sequence) of the same
    name whose bytes hash as the clip's; or a movie of the daily's bytes under another name, where the clip's file
    is still in the corpus (a movie daily's catalog hash, `daily_hash`, is of its bytes alone). Files are read only
    where a name or a size matches."""
    if Path(clip.id) == Path(daily_path):
        return True
    if Path(clip.id).name == Path(daily_path).name:
        files = listed_files(daily_path)
        return bool(files) and hash_files(files) == clip.content_hash
    corpus_file, daily_file = Path(clip.id), Path(daily_path)
    try:
        same_size = corpus_file.is_file() and daily_file.is_file()
        same_size = same_size and corpus_file.stat().st_size == daily_file.stat().st_size
    except OSError:
        return False
    return same_size and daily_hash == content_hash([corpus_file], with_names=False)


def base_carrying(catalog: Catalog, show: str, daily_path: str, daily_hash: str | None, bases: Path) -> str:
    """The base the show's promoted lineage grew from ("ACME v1") when its corpus holds the daily at
    `daily_path` (as base_withdrawn reads it), else ""."""
    with catalog.session(readonly=True) as s:
        row = models_repo.latest_promoted(s, show)
        folder = row.path if row else None
    manifest: Manifest | None = load_manifest(folder) if folder else None
    while manifest is not None and manifest.parent is not None:
        manifest = _parent_manifest(catalog, show, manifest)
    base = _base_manifest(manifest.base, bases) if manifest is not None and manifest.base else None
    if base is None or not any(_same_footage(clip, daily_path, daily_hash) for clip in base.clips):
        return ""
    return f"{base.show} {base.version}"


def _base_withdrawn_in(catalog: Catalog, first: Manifest, bases: Path) -> str:
    """Why a lineage whose first version is `first` must not be grown from because of its base ("" when it
    may, or has no base, or its base is no longer where it can be read: `rushes model show` says so)."""
    base = _base_manifest(first.base, bases) if first.base is not None else None
    why = base_withdrawn(catalog, base) if base is not None else ""
    return f"{first.version} grew from {why}" if why else ""


def _base_manifest(ref: BaseRef, bases: Path) -> Manifest | None:
    """The manifest of the base `ref` names, where trace_base finds it; None when it cannot be read."""
    folder, _ = trace_base(ref, bases)
    try:
        return load_manifest(folder) if folder is not None else None
    except ModelError:
        return None


def versions_learned_from(catalog: Catalog, show: str, daily_id: int) -> list[str]:
    """The show's versions, oldest first, whose manifests list the daily as a training clip or an approved pair
    made from it (`v2`; `v4 (promoted)` for the one fixes use; `v3 (refused: ...)` where a manifest cannot be
    read): those that learned from it themselves, the versions grown from them inheriting it."""
    with catalog.session(readonly=True) as s:
        daily = daily_repo.get_daily(s, daily_id)
        if daily is None:
            return []
        pairs = {
            f"publication:{p.id}:{p.fix_kind}"
            for p in fix_repo.approved_pairs(s, show)
            if fix_repo.made_from(p, daily.path, daily.content_hash)
        }
        promoted = models_repo.latest_promoted(s, show)
        rows = [  # a version still training has no manifest yet, and learned from nothing so far
            (row.version, row.path)
            for row in models_repo.list_versions(s, show)
            if (row.metrics or {}).get("state", "trained") == "trained"
        ]
        content_hash, current = daily.content_hash, promoted.version if promoted else None
    found = []
    for version, folder in sorted(rows):
        try:
            manifest = load_manifest(folder)
        except ModelError as exc:
            found.append(f"v{version} (refused: {exc})")
            continue
        if any(c.content_hash == content_hash for c in manifest.clips) or any(
            x.trained and x.id in pairs for x in manifest.examples
        ):
            found.append(f"v{version} (promoted)" if version == current else f"v{version}")
    return found


def _parent_manifest(catalog: Catalog, show: str, manifest: Manifest) -> Manifest | None:
    """The manifest of `manifest`'s parent version (None for a first version); ModelError when it cannot be
    read."""
    if manifest.parent is None:
        return None
    with catalog.session(readonly=True) as s:
        row = models_repo.get_version(s, show, int(manifest.parent.lstrip("v")))
        folder = row.path if row else None
    if folder is None:
        raise ModelError(
            f"{show} {manifest.parent}, an ancestor of {manifest.version}, is not in the catalog"
        )
    return load_manifest(folder)


def promoted_withdrawn(catalog: Catalog, show: str, bases: Path) -> str:
    """Why the show's promoted version is not to be used any more ("" when it may; withdrawn_in_lineage), by its
    manifest: it is used until the next training, which starts afresh."""
    with catalog.session(readonly=True) as s:
        row = models_repo.latest_promoted(s, show)
        folder = row.path if row else None
    return withdrawn_in_lineage(catalog, show, load_manifest(folder), bases) if folder else ""
