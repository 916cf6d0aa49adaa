"""The shared part of the adapters' reading positions: an opaque JSON string, and where a batch starts.

A cursor is whatever an adapter needs to read on exactly where it stopped (ShotGrid: the last event id
and the ids still missing below it; Kitsu: the last event time and the ids already seen in the overlap
window), written as compact JSON. The daemon stores it without looking inside. Text this adapter did not
write (another tracker's cursor, a hand edit) is refused with one line saying to reset it, never guessed at.

`open_batch` is the first-start rule, written once: with no stored cursor an adapter starts after the
newest event (a fresh daemon never replays history) and, for fix requests, also returns once what was
already waiting (`backfill`, which records what it returned in the new cursor so the next batch does
not return it again).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from integrations.trackers.base import FixRequest, TrackerFatal

C = TypeVar("C")


def dump(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


def load(text: str, tracker: str, parse: Callable[[Any], C]) -> C:
    """`parse(json.loads(text))`, or TrackerFatal in one line when the text is not a cursor we wrote."""
    try:
        return parse(json.loads(text))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TrackerFatal(
            f"the stored {tracker} cursor {text[:60]!r} was not written by this adapter: reset the tracker cursor"
        ) from exc


def open_batch(
    cursor: str | None,
    load: Callable[[str], C],
    start: Callable[[], C],
    backfill: Callable[[C], list[FixRequest]] | None = None,
) -> tuple[C, list[FixRequest]]:
    """The reading position for this batch, and on a first start the requests waiting before it."""
    if cursor is not None:
        return load(cursor), []
    state = start()
    return state, backfill(state) if backfill is not None else []
