"""What a show's training run starts from and learns from, beyond its dailies: the base, exclusions, approvals.

- Starting point: a show's first version starts from its studio base (`--base NAME` or
  `shows[].train.base`, the newest finished version under `<data_dir>/bases/NAME`); later versions start
  from their parent and carry the parent's base reference, so every version's manifest names the base
  version and its weights' sha256, down to the base's declared corpus.
- Exclusions: dailies a filmmaker excluded (`rushes dailies exclude ID --reason TEXT`) are never trained
  on; the manifest lists each with its reason (what became of the versions that learned from one before:
  daemon.stages.lineage).
- Approved pairs: supervisors' approved fixes (catalog publications reviewed "approved") become weighted
  training examples (engine.train.pairs): before = the daily the fix was rendered from, after = the
  finishing frames when there are some, else the review movie (the plain fixed frames, no burn-in), both
  in the heads' working encoding (engine.media.working). The review movie of a daily shown through an
  OpenColorIO view (an EXR's, daemon.stages.viewing) is its display picture, not the fix's values: such a
  pair needs its EXR frames (the daemon keeps them for every fix of such a daily) and is skipped without.
  A pair whose files are gone is skipped with a warning, never a failed training run. Every approved pair
  left out (its daily excluded, only a display picture kept, its files gone) is listed in the manifest with
  its reason (`pairs_left_out`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from daemon.catalog import Catalog, Daily, Publication
from daemon.catalog import dailies as daily_repo
from daemon.catalog import fixes as fix_repo
from daemon.logs import get_logger
from daemon.settings import ReviewColor, Settings, ShowConfig
from daemon.stages.viewing import ReviewLook, daily_look
from engine.media import MediaError
from engine.media.working import read_working_uint8, scene_linear
from engine.model import ModelError, ModelVersion, sha256_file
from engine.model.base import base_ref, load_base, parse_spec
from engine.model.manifest import BaseRef, LeftOutPair
from engine.train.pairs import PairExample

log = get_logger("rushes.train")

APPROVED_WEIGHT = 1.0  # each approved pair; engine.train.pairs turns the sum into a share of the head's steps
PAIR_FRAMES = 48  # frames read from each approved pair (the start of the fix)


def bases_root(settings: Settings) -> Path:
    return settings.data_dir / "bases"


def starting_point(
    settings: Settings, show: ShowConfig, parent: ModelVersion | None, base: str | None = None
) -> tuple[ModelVersion | None, BaseRef | None]:
    """(the base version to start from, the base reference for the manifest). ModelError when the named
    base does not exist; a show with a parent starts from the parent and keeps the parent's base, so a `base`
    named for it (`rushes train --base`) other than that one is refused rather than ignored."""
    if parent is not None:
        if base is not None:
            _refuse_another_base(settings, show, parent, base)
        return None, parent.manifest.base
    spec = base or show.train.base
    if spec is None:
        return None, None
    name, pinned = parse_spec(spec)  # NAME, or NAME@v2
    version = load_base(bases_root(settings), name, pinned)
    return version, base_ref(name, version)


def _refuse_another_base(settings: Settings, show: ShowConfig, parent: ModelVersion, base: str) -> None:
    """ModelError for `base` named to a show that has a model already, unless it is the base the show grew from
    (that version, when one is pinned): a base starts only a show's first version, and training without a word
    would look as if it had been used."""
    name, pinned = parse_spec(base)
    load_base(bases_root(settings), name, pinned)  # a base that does not exist is named as such first
    grown = parent.manifest.base
    if grown is not None and grown.name == name and pinned in (None, grown.version):
        return
    since = f"base {grown.name} {grown.version}" if grown else "scratch, with no base"
    raise ModelError(
        f"base {base} starts only a show's first version, and {show.code} has {parent.manifest.version}"
        f" already (grown from {since}): its next version grows from that one; train without --base, or add "
        "--afresh to start the show afresh from this base"
    )


def _frames(path: str, limit: int, linear: bool) -> np.ndarray:
    """The first `limit` frames of `path`, 8 bits in the heads' encoding of a daily that is `linear` or not."""
    out = [frame.rgb for frame in itertools.islice(read_working_uint8(path, linear=linear), limit)]
    if not out:
        raise MediaError("no frames", path)
    return np.stack(out)


def _hash(path: str) -> str:
    file = Path(path)
    return sha256_file(file) if file.is_file() else ""


def _in_dailys_encoding(look: ReviewLook | None, frames: str | None) -> bool:
    """Whether a fix's files hold it in its daily's encoding, to pair with the daily: a daily shown as it is
    always; one reviewed through a view only in its deliverable frames, EXR for a scene-referred daily (its
    ProRes is the view's picture too), any for an HDR movie (its ProRes keeps the daily's encoding)."""
    if look is None:
        return True
    if frames is None:
        return False
    return scene_linear(frames) if look.scene else True


@dataclass(frozen=True)
class ApprovedPairs:
    """A show's approved fixes as a training run takes them: the pairs it learns from (`examples`) and the ones
    it leaves out, each with its reason (`left_out`); the manifest lists both."""

    examples: list[PairExample] = field(default_factory=list)
    left_out: list[LeftOutPair] = field(default_factory=list)


def _excluded_reason(daily: Daily) -> str:
    return (
        f"its daily {daily.id} ({Path(daily.path).name}) is excluded from training: "
        f"{daily.excluded_reason or 'no reason given'}"
    )


def pair_label(version_id: str | None, code: str | None) -> str:
    """An approved pair as people know it: the tracker Version it was published as and that Version's code
    (`tracker Version 501, sh010_rushes_denoise_r3`), what the catalog has of them."""
    parts = [f"tracker Version {version_id}" if version_id else "", code or ""]
    return ", ".join(part for part in parts if part)


def approved_pairs(catalog: Catalog, show: str, color: ReviewColor | None = None) -> ApprovedPairs:
    """Every approved fix of `show`, oldest first: those whose before and after can still be read as examples,
    the others left out with the reason; `color`, the show's colour settings, says which dailies were reviewed
    through a view (ReviewColor() when None)."""
    color = color or ReviewColor()
    with catalog.session(readonly=True) as s:
        excluded = daily_repo.excluded(s, show)
        removed = daily_repo.list_dailies(
            s, show, status="removed"
        )  # out of training for good: its fixes too
        pubs = [
            (
                p.id,
                p.fix_kind,
                p.source_path,
                (p.extra_files or {}).get("frames"),
                p.movie_path,
                pair_label(p.tracker_version_id, (p.extra_files or {}).get("code")),
                _delivered_again(s, show, p) or _of_excluded(p, excluded) or _of_removed(p, removed),
            )
            for p in fix_repo.approved_pairs(s, show)
        ]
    found = ApprovedPairs()
    # (head, before's hash, after's hash) -> the pair taken for them
    seen: dict[tuple[str, str, str], str] = {}
    for pub_id, kind, before, frames, movie, label, refused in pubs:
        pair_id = f"publication:{pub_id}:{kind}"
        taken = refused or _taken(pair_id, kind, show, before, frames, movie, color)
        if isinstance(taken, PairExample):
            same = (taken.head, taken.before_hash, taken.after_hash)
            if same in seen and all(same):  # the same fix approved twice (asked again, made again unchanged)
                taken = f"the same pictures as {seen[same]}, approved before: counted once"
            else:
                seen.setdefault(same, pair_id)
        if isinstance(taken, PairExample):
            found.examples.append(replace(taken, label=label))
        else:
            found.left_out.append(LeftOutPair(id=pair_id, head=kind, reason=taken, label=label))
    return found


def _of_excluded(pub: Publication, excluded: list[Daily]) -> str | None:
    """Why an approved fix is left out as made from an excluded daily (its pictures), else None."""
    daily = next((d for d in excluded if fix_repo.made_from(pub, d.path, d.content_hash)), None)
    return None if daily is None else _excluded_reason(daily)


def _of_removed(pub: Publication, removed: list[Daily]) -> str | None:
    """Why an approved fix is left out as made from a daily removed for good (`rushes dailies remove`), else
    None: its approved fix trained the next version as if the daily were still in service."""
    daily = next((d for d in removed if fix_repo.made_from(pub, d.path, d.content_hash)), None)
    if daily is None:
        return None
    return (
        f"its daily {daily.id} ({Path(daily.path).name}) is removed from training: {daily.error or 'by hand'}"
    )


def _delivered_again(s: Session, show: str, pub: Publication) -> str | None:
    """Why an approved fix no longer pairs with the file at its daily's path, when that path now holds other
    content (the plate delivered again under the same name, v002 over v001): the fix was made of the first."""
    if not pub.source_path or not pub.source_hash:
        return None  # nothing recorded to compare with (a publication of an older Rushes, whose daily is unknown)
    # the daily there now, or the one whose copy the file there now is (a plate delivered again with the bytes of
    # another daily)
    current = daily_repo.current_daily(s, show, pub.source_path) or daily_repo.alias_of(
        s, show, pub.source_path
    )
    if current is None or current.content_hash in (None, pub.source_hash):
        return None
    return (
        f"its daily {pub.source_path} was delivered again since the fix was made (other content under the same "
        "name), so the approved fix no longer pairs with the file there"
    )


def _taken(
    pair_id: str,
    kind: str,
    show: str,
    before: str | None,
    frames: str | None,
    movie: str,
    color: ReviewColor,
) -> PairExample | str:
    """An approved fix of the daily `before` as a training pair, or why it cannot be one."""
    after = frames or movie
    if not before:
        return "the catalog does not record the daily it was made from"
    if not _in_dailys_encoding(daily_look(color, before), frames):
        log.warning("train.pair_display_only", show=show, pair=pair_id, after=after)
        return (
            "only its review movie is kept, the daily's picture through the show's view rather than the fix's "
            "values, so it cannot be paired with the daily"
        )
    try:
        return _pair(pair_id, kind, before, after)
    except (MediaError, OSError) as exc:
        log.warning("train.pair_unreadable", show=show, pair=pair_id, error=str(exc))
        return f"its files cannot be read: {exc}"


def _pair(pair_id: str, kind: str, before: str, after: str) -> PairExample:
    """The approved fix as a weighted example; MediaError or OSError when its files cannot be read."""
    linear = scene_linear(before)
    return PairExample(
        id=pair_id,
        head=kind,
        before=_frames(before, PAIR_FRAMES, linear),
        after=_frames(after, PAIR_FRAMES, linear),
        weight=APPROVED_WEIGHT,
        before_hash=_hash(before),
        after_hash=_hash(after),
    )


__all__ = [
    "ApprovedPairs",
    "ModelError",
    "approved_pairs",
    "bases_root",
    "pair_label",
    "starting_point",
]
