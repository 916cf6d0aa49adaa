"""A wall clock stepped under running jobs (NTP correcting a drifted clock by minutes, a VM resumed from a
suspend): a lane neither starts its own running job a second time nor lets another daemon take it as expired."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from daemon.catalog import Catalog, Job
from daemon.catalog import db as catalog_db
from daemon.catalog import jobs as job_repo
from daemon.jobs.runner import Lane


class Rendering:
    """A fix whose worker is still rendering."""

    def __init__(self) -> None:
        self.cancelled = False

    def poll(self) -> None:
        return None

    def cancel(self) -> None:
        self.cancelled = True


@pytest.fixture
def step_clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[timedelta], None]:
    """Step this host's wall clock (what the catalog code reads as the time) by `by`; the monotonic clock stays."""

    def step(by: timedelta) -> None:
        def stepped() -> datetime:
            return datetime.now(UTC) + by

        monkeypatch.setattr(catalog_db, "utcnow", stepped)
        monkeypatch.setattr(job_repo, "utcnow", stepped, raising=False)  # where the queue read it before

    return step


def fix_lane(catalog: Catalog, worker: str, renders: list[tuple[int, Rendering]]) -> Lane:
    def start(job: Job) -> Rendering:
        renders.append((job.id, Rendering()))
        return renders[-1][1]

    return Lane(catalog, "fix", ["fix"], start, concurrency=2, lease_s=120, worker=worker)


def queue_fix(catalog: Catalog) -> int:
    with catalog.session() as s:
        job, _ = job_repo.enqueue(s, "fix", "fix:1", {})
        return job.id


def test_a_clock_stepped_past_the_lease_does_not_start_a_running_fix_a_second_time(
    catalog: Catalog, step_clock: Callable[[timedelta], None]
) -> None:
    job_id = queue_fix(catalog)
    renders: list[tuple[int, Rendering]] = []
    lane = fix_lane(catalog, "vfx01:100:fix", renders)
    lane.tick()
    step_clock(timedelta(minutes=5))  # NTP steps a slow clock forward: the 120 s lease looks long run out
    lane.tick()
    # it started the same fix again beside the one rendering, and lost the first one's handle
    assert [job for job, _ in renders] == [job_id]
    assert not renders[0][1].cancelled and lane.running.keys() == {job_id}
    with catalog.session(readonly=True) as s:
        job = job_repo.get_job(s, job_id)
        assert job is not None and job.attempts == 1 and job.lease_owner == "vfx01:100:fix"


def test_after_a_step_the_leases_are_renewed_at_once_so_another_daemon_leaves_the_jobs(
    catalog: Catalog, step_clock: Callable[[timedelta], None]
) -> None:
    job_id = queue_fix(catalog)
    ours: list[tuple[int, Rendering]] = []
    lane = fix_lane(catalog, "vfx01:100:fix", ours)
    lane.tick()
    step_clock(timedelta(minutes=5))
    lane.tick()  # a few milliseconds after the step by the monotonic clock: it renews now, not 30 s later
    theirs: list[tuple[int, Rendering]] = []
    fix_lane(catalog, "vfx02:200:fix", theirs).tick()  # a second daemon, on the same clock
    assert theirs == []
    with catalog.session(readonly=True) as s:
        job = job_repo.get_job(s, job_id)
        assert job is not None and job.lease_owner == "vfx01:100:fix" and job.attempts == 1


def test_a_step_past_the_lease_of_a_fix_on_its_last_attempt_does_not_bury_it_under_its_own_lane(
    catalog: Catalog, step_clock: Callable[[timedelta], None]
) -> None:
    with catalog.session() as s:
        job_id = job_repo.enqueue(s, "fix", "fix:1", {}, max_attempts=1)[0].id
    renders: list[tuple[int, Rendering]] = []
    lane = fix_lane(catalog, "vfx01:100:fix", renders)
    lane.tick()
    step_clock(timedelta(minutes=5))
    with catalog.session() as s:  # the lane's claim, before any renewal: its own job looks expired
        assert job_repo.claim(s, "vfx01:100:fix", ["fix"], 120, holding=[job_id]) is None
    with catalog.session(readonly=True) as s:
        job = job_repo.get_job(s, job_id)
        assert (
            job is not None and job.state == "running"
        )  # not dead-lettered as "expired on the last attempt"
    lane.tick()
    assert lane.running.keys() == {job_id} and not renders[0][1].cancelled
