"""The requests stage against an in-memory tracker: a coordinator's fix request becomes one catalogued request
and one FixJob per known kind, exactly once across re-polls and outages; unknown kinds and projects are
refused with a reason, not queued."""

from __future__ import annotations

import pytest

from daemon.catalog import Catalog, cursors, fixes
from daemon.catalog import jobs as job_repo
from daemon.jobs.payloads import FixJob
from daemon.settings import ShowConfig
from daemon.stages.requests import poll_fix_requests
from integrations.trackers.base import TrackerError
from integrations.trackers.memory import MemoryTracker
from tests.daemon.stages.conftest import SHOW

SHOWS = [ShowConfig(code=SHOW, tracker_project=SHOW)]


def fix_jobs(catalog: Catalog) -> list[tuple[str, FixJob]]:
    with catalog.session(readonly=True) as s:
        jobs = job_repo.list_jobs(s, kind="fix", limit=None)
        return sorted(((j.key, FixJob.from_json(j.payload)) for j in jobs), key=lambda item: item[0])


def test_a_request_becomes_one_fix_job_per_kind_and_a_re_poll_adds_nothing(
    catalog: Catalog, tracker: MemoryTracker
) -> None:
    task = tracker.add_task(SHOW, "sh010")
    asked = tracker.tag(task, "denoise", "upscale", frames="1001-1010")
    result = poll_fix_requests(tracker, catalog, SHOWS)
    assert (result.seen, result.new) == (1, 1)
    with catalog.session(readonly=True) as s:
        [request] = fixes.list_fix_requests(s, SHOW)
        assert (request.shot, request.kinds, request.params) == (
            "sh010",
            ["denoise", "upscale"],
            asked.params,
        )
        assert request.task_id == str(task) and request.state == "open"
        request_id = request.id
    assert fix_jobs(catalog) == [
        (f"fix:{asked.key}:denoise", FixJob(request_id, "denoise", asked.key)),
        (f"fix:{asked.key}:upscale", FixJob(request_id, "upscale", asked.key)),
    ]
    again = poll_fix_requests(tracker, catalog, SHOWS)
    assert (again.seen, again.new) == (0, 0)
    assert len(fix_jobs(catalog)) == 2


def test_a_request_read_again_from_the_start_is_not_queued_twice(
    catalog: Catalog, tracker: MemoryTracker
) -> None:
    tracker.tag(tracker.add_task(SHOW, "sh010"), "denoise")
    poll_fix_requests(tracker, catalog, SHOWS)
    with catalog.session() as s:  # e.g. a cursor lost: the tracker hands the same event over again
        cursors.set_cursor(s, f"{tracker.name}:fix", "0")
    assert poll_fix_requests(tracker, catalog, SHOWS).new == 0
    assert len(fix_jobs(catalog)) == 1


def test_an_outage_leaves_the_cursor_where_it_was_and_the_next_poll_catches_up(
    catalog: Catalog, tracker: MemoryTracker
) -> None:
    tracker.tag(tracker.add_task(SHOW, "sh010"), "regrade")
    tracker.fail_next()
    with pytest.raises(TrackerError):
        poll_fix_requests(tracker, catalog, SHOWS)
    assert fix_jobs(catalog) == []
    assert poll_fix_requests(tracker, catalog, SHOWS).new == 1
    assert [job.fix_kind for _, job in fix_jobs(catalog)] == ["regrade"]


def test_unknown_kinds_fail_the_request_with_a_reason_and_known_ones_still_run(
    catalog: Catalog, tracker: MemoryTracker
) -> None:
    tracker.tag(tracker.add_task(SHOW, "sh010"), "sharpen")
    tracker.tag(tracker.add_task(SHOW, "sh020"), "denoise", "sharpen")
    assert poll_fix_requests(tracker, catalog, SHOWS).new == 2
    with catalog.session(readonly=True) as s:
        by_shot = {r.shot: r for r in fixes.list_fix_requests(s, SHOW)}
        assert by_shot["sh010"].state == "failed" and "sharpen" in (by_shot["sh010"].error or "")
        assert "denoise" in (by_shot["sh010"].error or "")  # it says what to use instead
    assert [job.fix_kind for _, job in fix_jobs(catalog)] == ["denoise"]


def test_a_request_from_a_project_no_show_follows_is_skipped(
    catalog: Catalog, tracker: MemoryTracker
) -> None:
    tracker.tag(tracker.add_task("OTHER", "sh010"), "denoise")
    result = poll_fix_requests(tracker, catalog, SHOWS)
    assert (result.seen, result.new) == (1, 0)
    assert fix_jobs(catalog) == []


def test_a_project_spelled_in_another_case_in_the_config_is_still_the_shows() -> None:
    from daemon.stages.requests import show_for

    shows = [
        ShowConfig(code="MRS", tracker_project="Mars Base"),
        ShowConfig(code="mars", tracker_project="MARS"),
    ]

    assert show_for("MARS BASE", shows) == shows[0]
    assert show_for("MARS", shows) == shows[1]  # exact before another case: the show whose project is MARS
    assert show_for("mrs", shows) == shows[0]
    assert show_for("Venus", shows) is None


def test_a_request_names_the_shot_as_its_dailies_do_in_another_case_or_qualified_by_its_sequence(
    catalog: Catalog,
) -> None:
    from daemon.catalog.dailies import DailyFacts, register_daily
    from daemon.stages.requests import record_fix_request
    from integrations.trackers.base import FixRequest

    with catalog.session() as s:
        for shot in ("sh010", "SQ01_SH0010", "SQ02_SH0010"):  # files named by Kitsu's sequence and shot
            facts = DailyFacts(
                path=f"/in/{shot}_1.mov", size_bytes=1, mtime=1.0, content_hash=shot, shot=shot
            )
            register_daily(s, SHOW, facts)

    def asked(key: str, code: str, *qualified: str) -> str:
        request = FixRequest(key, SHOW, 1, code, 1, ("denoise",), qualified_codes=qualified)
        with catalog.session() as s:
            record_fix_request(s, request, SHOWS)
            return next(r.shot for r in fixes.list_fix_requests(s, SHOW) if r.request_key == key)

    assert asked("a", "SH010") == "sh010"  # ShotGrid's code, the files' lower case
    assert asked("b", "SH0010", "SQ02_SH0010") == "SQ02_SH0010"  # Kitsu's shot of sequence SQ02
    assert asked("c", "sh030") == "sh030"  # no daily yet: the tracker's code, found when one comes
