"""Names as long as a tracker or a file's name has them, on SQLite and PostgreSQL: a shot code over 200
characters (or a take over 64) was refused by PostgreSQL, and with it every request of the poll it came in;
a name the catalog cannot hold at all (a NUL character, on PostgreSQL) is left out alone."""

from __future__ import annotations

from structlog.testing import capture_logs

from daemon.catalog import Catalog, cursors, fixes
from daemon.catalog import shows as show_repo
from daemon.catalog.dailies import DailyFacts, register_daily
from daemon.settings import ShowConfig
from daemon.stages.requests import poll_fix_requests
from integrations.trackers.memory import MemoryTracker

SHOW = "LONG"
SHOWS = [ShowConfig(code=SHOW, tracker_project=SHOW)]
LONG_SHOT = "sq010_" + "x" * 250


def test_a_long_shot_and_take_are_catalogued_and_the_requests_polled_beside_them_too(
    catalog: Catalog,
) -> None:
    with catalog.session() as s:
        show_repo.ensure_show(s, SHOW)
        daily, created = register_daily(
            s,
            SHOW,
            DailyFacts(
                path="/d/x.mov", size_bytes=1, mtime=1.0, content_hash="h", shot=LONG_SHOT, take="t" * 80
            ),
        )
        assert created and (daily.shot, daily.take) == (LONG_SHOT, "t" * 80)
    tracker = MemoryTracker()
    tracker.tag(tracker.add_task(SHOW, LONG_SHOT), "denoise")
    tracker.tag(tracker.add_task(SHOW, "sh020"), "regrade")
    assert poll_fix_requests(tracker, catalog, SHOWS).new == 2
    with catalog.session(readonly=True) as s:
        assert sorted(r.shot for r in fixes.list_fix_requests(s, SHOW)) == sorted([LONG_SHOT, "sh020"])


def test_a_request_the_catalog_cannot_hold_does_not_stop_the_others_or_the_cursor(catalog: Catalog) -> None:
    with catalog.session() as s:
        show_repo.ensure_show(s, SHOW)
    tracker = MemoryTracker()
    tracker.tag(tracker.add_task(SHOW, "sh\x00010"), "denoise")
    tracker.tag(tracker.add_task(SHOW, "sh020"), "regrade")
    with capture_logs() as logs:
        new = poll_fix_requests(tracker, catalog, SHOWS).new
    with catalog.session(readonly=True) as s:
        shots = {r.shot for r in fixes.list_fix_requests(s, SHOW)}
        cursor = cursors.get_cursor(s, f"{tracker.name}:fix")
    assert "sh020" in shots and cursor is not None  # the poll went on past it
    assert new == 2
    if catalog.engine.dialect.name == "postgresql":  # PostgreSQL's text holds no NUL: answered without it
        [said] = [entry for entry in logs if entry["event"] == "fix.unrecordable"]
        assert said["shot"] == "sh\x00010" and "\n" not in said["reason"]
        with catalog.session(readonly=True) as s:
            [kept] = [r for r in fixes.list_fix_requests(s, SHOW) if r.shot == "sh010"]
            assert kept.state == "failed" and "holds a NUL character" in str(kept.error)
    assert poll_fix_requests(tracker, catalog, SHOWS).new == 0  # not read again
