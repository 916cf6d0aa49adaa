"""Which display transform a daily's review pictures go through: the show's `color` settings (ReviewColor)
against the daily's kind, by file extension.

A daily of a kind listed in `color.sources` (EXR by default, as `scene_linear`) is scene-referred: its review
movie, before/after and ProRes deliverable show it through OpenColorIO's display/view transform
(engine.color.DisplayView); its EXR deliverable keeps the fixed values as they are. Any other daily is
display-referred already and shown as it is. The config is the show's, else $OCIO, else OCIO's built-in
studio config (no download). Views are cached by what they are made of: loading a config takes a fraction of
a second, and every fix of a show asks for the same one.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from daemon.settings import ReviewColor
from engine.color import DEFAULT_CONFIG, DisplayView, ViewSpec


def view_spec(color: ReviewColor, source: str) -> ViewSpec | None:
    """What the review pictures of `source` go through, or None when they are shown as they are."""
    space = color.sources.get(Path(source).suffix.lower().lstrip("."))
    if space is None:
        return None
    config = color.config or os.environ.get("OCIO") or DEFAULT_CONFIG
    return ViewSpec(config=config, source=space, display=color.display, view=color.view)


@functools.lru_cache(maxsize=8)
def display_view(spec: ViewSpec) -> DisplayView:
    """The transform of `spec` (ColorError, one line, for a config or a name that cannot be used)."""
    return DisplayView(spec)
