"""The loop a show's training and a base's share: a clip that cannot be decoded is set aside, the rest train."""

from __future__ import annotations

import pytest

from engine.train import DatasetError, TrainClip
from engine.train.unreadable import NoClipLeft, without_unreadable


def _clips(*ids: str) -> list[TrainClip]:
    return [TrainClip(id=i, content_hash=f"hash-{i}") for i in ids]


def test_each_clip_that_cannot_be_decoded_is_set_aside_and_the_others_train() -> None:
    unreadable, tried, aside = {"b", "c"}, list[list[str]](), list[tuple[str, str]]()

    def attempt(clips: list[TrainClip]) -> list[str]:
        tried.append([c.id for c in clips])
        bad = next((c.id for c in clips if c.id in unreadable), None)
        if bad is not None:
            raise DatasetError(f"training clip {bad} cannot be decoded", clip_id=bad)
        return tried[-1]

    def set_aside(clip: TrainClip, exc: DatasetError) -> None:
        aside.append((clip.id, str(exc)))

    assert without_unreadable(_clips("a", "b", "c"), attempt, set_aside) == ["a"]
    assert tried == [["a", "b", "c"], ["a", "c"], ["a"]]
    assert aside == [("b", "training clip b cannot be decoded"), ("c", "training clip c cannot be decoded")]


def test_an_error_naming_no_clip_given_is_raised_and_the_last_clip_set_aside_is_named() -> None:
    def no_clip(clips: list[TrainClip]) -> None:
        raise DatasetError("too short to train on")

    aside: list[str] = []
    with pytest.raises(DatasetError, match="too short") as info:
        without_unreadable(_clips("a"), no_clip, lambda clip, exc: aside.append(clip.id))
    assert not isinstance(info.value, NoClipLeft) and aside == []

    def every_clip(clips: list[TrainClip]) -> None:
        raise DatasetError(f"{clips[0].id}: cannot be decoded", clip_id=clips[0].id)

    with pytest.raises(NoClipLeft) as left:
        without_unreadable(_clips("a", "b"), every_clip, lambda clip, exc: aside.append(clip.id))
    assert str(left.value) == "b: cannot be decoded" and left.value.clip_id == "b" and aside == ["a", "b"]
