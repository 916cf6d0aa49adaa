"""A Kitsu fix comment whose status has yet to reach its task is waited for PENDING_GRACE timed on zou's clock
(the Date of its answers), not this host's: zou on a machine whose clock is behind is no reason to drop it.
(A fake connection: what is checked is the reader's arithmetic; tests/integrations/test_kitsu.py runs the same
wait against a real zou.)"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from integrations.trackers.kitsu import events
from integrations.trackers.kitsu.fixes import PENDING_GRACE, FixReader, utc_now


class ZouBehind:
    """Answers a fix comment made on zou's clock `ago` before zou's now, its task not moved yet."""

    def __init__(self, behind: timedelta, ago: timedelta) -> None:
        self.now = utc_now() - behind
        self.made = self.now - ago
        self.comment = {
            "id": "c1",
            "text": "denoise",
            "object_id": "t1",
            "task_status_id": "fix",
            "created_at": self.made.isoformat(),
        }
        self.task = {
            "id": "t1",
            "task_status_id": "wip",
            "last_comment_date": (self.made - timedelta(hours=1)).isoformat(),
        }

    def get_or_none(self, what: str, fn: Callable[[Any], Any]) -> dict[str, Any]:
        return self.comment if what.startswith("comment") else self.task

    def server_time(self) -> datetime:
        return self.now.replace(microsecond=0)


@pytest.mark.parametrize("behind", [timedelta(0), timedelta(seconds=90), timedelta(minutes=-5)])
def test_the_wait_for_the_status_is_timed_on_zous_clock(behind: timedelta) -> None:
    fresh = ZouBehind(behind, ago=timedelta(seconds=1))
    with pytest.raises(events.NotYet):
        FixReader(fresh, ["denoise"]).request("c1", fresh.made)  # type: ignore[arg-type]
    stale = ZouBehind(behind, ago=PENDING_GRACE + timedelta(seconds=5))
    assert FixReader(stale, ["denoise"]).request("c1", stale.made) is None  # type: ignore[arg-type]
