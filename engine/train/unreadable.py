"""Training that goes on without the clips it cannot decode: a show's training (the daily quarantined) and
a base's (the corpus file listed as skipped) share the loop, each setting a clip aside its own way."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from engine.train.dataset import DatasetError, TrainClip

T = TypeVar("T")


class NoClipLeft(DatasetError):
    """Every clip given was set aside as unreadable; the message is the last one's error."""


def without_unreadable(
    clips: list[TrainClip],
    attempt: Callable[[list[TrainClip]], T],
    set_aside: Callable[[TrainClip, DatasetError], None],
) -> T:
    """`attempt(clips)`; when it fails on a clip (DatasetError naming one of `clips`), `set_aside(clip, error)`
    and attempt again with the others. The error itself when it names no clip given, NoClipLeft when the
    last clip is set aside."""
    while True:
        try:
            return attempt(clips)
        except DatasetError as exc:
            bad = next((c for c in clips if exc.clip_id is not None and c.id == exc.clip_id), None)
            if bad is None:
                raise
            set_aside(bad, exc)
            clips = [c for c in clips if c is not bad]
            if not clips:
                raise NoClipLeft(str(exc), exc.clip_id) from exc
