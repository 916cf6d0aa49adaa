"""Which display transform a daily's review pictures go through: the show's `color` settings (ReviewColor)
against the daily's kind, by file extension, and for an HDR movie by its transfer tag.

- A daily of a kind listed in `color.sources` (EXR by default, as `scene_linear`) is scene-referred: its
  review movie, before/after and ProRes deliverable show it through OpenColorIO's display/view transform
  (engine.color.DisplayView); its EXR deliverable keeps the fixed values as they are.
- A movie tagged HDR (BT.2100 HLG or PQ: a phone's HDR video) is display-referred for a brighter display:
  its review pictures are tone-mapped to the show's SDR display and view, since review players and trackers
  show SDR, while its ProRes deliverable keeps its own encoding and tags. Its colour space is `sources`'
  `hlg` or `pq` entry when the show lists one (through the show's config), else the built-in studio
  config's Rec.2100 display space to that config's default SDR view: a show's own config need not have one.
- Any other daily is display-referred already and shown as it is.
The config is the show's, else $OCIO, else OCIO's built-in studio config (no download). Views are cached by
what they are made of: loading a config takes a fraction of a second, and every fix of a show asks for the
same one.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from daemon.settings import ReviewColor, ShowConfig
from engine.color import DEFAULT_CONFIG, ColorError, DisplayView, ViewSpec, tagged_space
from engine.media import MediaError, find_sequence, probe
from engine.media.exr import read_exr_attributes
from engine.media.info import ColourTags
from engine.media.sequences import is_pattern

# H.273 transfer characteristics of HDR video, by the `sources` key that names their colour space, and the
# built-in studio config's display colour space for each.
HDR_TRANSFERS = {16: "pq", 18: "hlg"}
HDR_SPACES = {"pq": "Rec.2100-PQ - Display", "hlg": "Rec.2100-HLG - Display"}


# `sources.exr` as a show leaves it: the config's scene-linear role, which an EXR's own gamut tag may narrow.
DEFAULT_EXR_SPACE = "scene_linear"


def view_spec(color: ReviewColor, source: str) -> ViewSpec | None:
    """What the review pictures of `source` go through, or None when they are shown as they are. An EXR whose
    `chromaticities` name a gamut the config has a scene-linear space of (by its interop id: ACES2065-1 for an
    AP0 plate) is seen in that space rather than its kind's, a show's plates and CG renders being all `.exr`;
    unless the show names a space for `exr` itself: its word then wins over a file's tag (some writers stamp
    Rec.709 primaries on whatever a render holds)."""
    kind = Path(source).suffix.lower().lstrip(".")
    spec = kind_spec(color, kind)
    if spec is None or kind != "exr" or spec.source != DEFAULT_EXR_SPACE:
        return spec
    tagged = _exr_space(spec.config, source)
    return spec if tagged is None else ViewSpec(spec.config, tagged, spec.display, spec.view)


def kind_spec(color: ReviewColor, kind: str) -> ViewSpec | None:
    """What the review pictures of a daily of `kind` (a file extension) go through as the show's `color` says,
    or None when that kind is shown as it is."""
    space = color.sources.get(kind)
    if space is None:
        return None
    config = color.config or os.environ.get("OCIO") or DEFAULT_CONFIG
    return ViewSpec(config=config, source=space, display=color.display, view=color.view)


def _exr_space(config: str, source: str) -> str | None:
    """The colour space an EXR movie or sequence's first frame says it is in (engine.color.tagged_space)."""
    try:
        first = find_sequence(source).files if is_pattern(source) else {0: Path(source)}
        chromaticities = read_exr_attributes(first[min(first)]).get("chromaticities")
    except (MediaError, OSError):
        return None
    return None if chromaticities is None else tagged_space(config, chromaticities)


@functools.lru_cache(maxsize=8)
def display_view(spec: ViewSpec) -> DisplayView:
    """The transform of `spec` (ColorError, one line, for a config or a name that cannot be used)."""
    return DisplayView(spec)


def color_problems(shows: Sequence[ShowConfig]) -> list[str]:
    """One line for each show whose `color` names a colour space, display or view its OCIO config lacks (or a
    config that cannot be read), for `rushes config check`: every fix of a daily of that kind would fail on it."""
    lines = []
    for i, show in enumerate(shows):
        for kind in show.color.sources:
            spec = kind_spec(show.color, kind)
            if spec is None:
                continue
            try:
                display_view(spec)
            except ColorError as exc:
                if exc.unreadable_config:  # the config itself: said once, under its own key
                    unset = (
                        " (not set: $OCIO is used)"
                        if show.color.config is None and os.environ.get("OCIO")
                        else ""
                    )
                    lines.append(f"shows[{i}].color.config{unset}: {exc}")
                    break
                lines.append(f"shows[{i}].color.sources.{kind}: {exc}")
    return lines


@dataclass(frozen=True)
class ReviewLook:
    """How a daily's review pictures are made: through `spec`. `scene`: the daily is scene-referred, so its
    ProRes deliverable is the view's picture too and its fixes are kept as EXR frames; else (an HDR movie) only
    the review pictures go through the view and deliverables keep the daily's encoding and tags."""

    spec: ViewSpec
    scene: bool


def review_look(color: ReviewColor, source: str, colour: ColourTags | None) -> ReviewLook | None:
    """How the review pictures of `source` (a daily tagged `colour`) are made, or None: shown as they are."""
    spec = view_spec(color, source)
    if spec is not None:
        return ReviewLook(spec, scene=True)
    key = HDR_TRANSFERS.get(colour.transfer) if colour is not None else None
    if key is None:
        return None
    space = color.sources.get(key)
    if space is not None:
        config = color.config or os.environ.get("OCIO") or DEFAULT_CONFIG
        return ReviewLook(ViewSpec(config, space, color.display, color.view), scene=False)
    return ReviewLook(ViewSpec(DEFAULT_CONFIG, HDR_SPACES[key]), scene=False)


def daily_look(color: ReviewColor, source: str) -> ReviewLook | None:
    """review_look of a daily on disk, its tags probed (None when it cannot be read: its reader says why)."""
    spec = view_spec(color, source)
    if spec is not None:
        return ReviewLook(spec, scene=True)
    try:
        colour = probe(source, exact=False, verify=False, sound=False).colour
    except MediaError:
        return None
    return review_look(color, source, colour)
