"""A running job's progress: its worker writes one line to the job's row (at most every 5 s, and at the end),
`rushes status` and `rushes jobs list` show it, the daemon's lane logs it as it renews the lease, and a new
attempt starts without the last one's line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from structlog.testing import capture_logs

from daemon.catalog import Catalog, fixes, utcnow
from daemon.catalog import jobs as job_repo
from daemon.catalog.shows import ensure_show
from daemon.jobs.payloads import FixJob
from daemon.jobs.progress import JobProgress, progress_line
from daemon.jobs.runner import Lane, in_worker
from daemon.settings import ShowConfig
from daemon.status import job_record, job_state, request_state, show_record
from integrations.executors.ray import RayExecutor
from integrations.executors.spec import JobOutcome
from tests.e2e.world import wait_for


class Working:
    """A job still running in its worker."""

    def poll(self) -> JobOutcome | None:
        return None

    def cancel(self) -> None:
        pass


def running_job(catalog: Catalog) -> int:
    with catalog.session() as s:
        job_repo.enqueue(s, "fix", "fix:r1:denoise", {})
        job = job_repo.claim(s, "w", ["fix"], 60)
        assert job is not None
        return job.id


def progress(catalog: Catalog, job_id: int) -> str | None:
    with catalog.session(readonly=True) as s:
        return job_repo.progress_of(s, job_id)


def test_the_line_says_how_far_and_the_time_left_at_the_pace_so_far() -> None:
    assert progress_line(0, 289, 0.0) == "frame 0 of 289"
    assert progress_line(100, 289, 75.0) == "frame 100 of 289, about 2 min 22 s left"
    assert progress_line(10, 300, 60.0) == "frame 10 of 300, about 29 min left"
    assert progress_line(1, 4, 2.0) == "frame 1 of 4, about 6 s left"
    assert progress_line(4, 4, 9.0) == "frame 4 of 4"


def test_the_worker_writes_at_most_every_5_seconds_and_always_the_last_frame(catalog: Catalog) -> None:
    job_id = running_job(catalog)
    now = [100.0]
    report = JobProgress(catalog, job_id, clock=lambda: now[0])
    now[0] = 101.0
    report(1, 10)
    assert progress(catalog, job_id) == "frame 1 of 10, about 9 s left"
    now[0] = 104.0
    report(4, 10)
    assert progress(catalog, job_id) == "frame 1 of 10, about 9 s left"  # 3 s later: not written
    now[0] = 106.5
    report(6, 10)
    assert progress(catalog, job_id) == "frame 6 of 10, about 4 s left"
    now[0] = 107.0
    report(10, 10)
    assert progress(catalog, job_id) == "frame 10 of 10"
    with catalog.session(readonly=True) as s:
        job = job_repo.get_job(s, job_id)
        assert job is not None and job_record(job)["progress"] == "frame 10 of 10"
        assert job_state(job_record(job)) == "running: frame 10 of 10"  # the tables of status and jobs list


def test_a_line_is_shown_only_while_running_and_a_new_attempt_starts_without_it(catalog: Catalog) -> None:
    job_id = running_job(catalog)
    with catalog.session() as s:
        assert job_repo.set_progress(s, job_id, "frame 3 of 9")
        assert job_repo.fail(s, job_id, "w", "the file server is not answering", backoff=0.0) is not None
        assert not job_repo.set_progress(s, job_id, "frame 4 of 9")  # queued again: its worker is gone
        job = job_repo.get_job(s, job_id)
        assert (
            job is not None and job_record(job)["progress"] is None and job_state(job_record(job)) == "queued"
        )
    with catalog.session() as s:
        again = job_repo.claim(s, "w2", ["fix"], 60)
        assert again is not None and again.id == job_id and again.progress is None


def test_the_lane_logs_each_new_line_as_it_renews_the_lease(catalog: Catalog) -> None:
    with catalog.session() as s:
        job, _ = job_repo.enqueue(s, "fix", "fix:r1:denoise", {})
    lane = Lane(catalog, "fix", ["fix"], lambda _job: Working(), lease_s=0.0)  # renewed at every tick
    assert lane.tick() == 1
    with capture_logs() as logs:
        lane.tick()  # nothing written yet
        with catalog.session() as s:
            job_repo.set_progress(s, job.id, "frame 120 of 289, about 2 min left")
        lane.tick()
        lane.tick()  # the same line: not logged again
    said = [e for e in logs if e["event"] == "job.progress"]
    assert [(e["job"], e["progress"]) for e in said] == [(job.id, "frame 120 of 289, about 2 min left")]


def test_a_training_job_shows_its_stage_and_the_time_left(catalog: Catalog) -> None:
    from engine.train.loop import Stage

    job_id = running_job(catalog)
    report = JobProgress(catalog, job_id)
    report.on_stage(Stage("train", "denoise", 370.0))
    assert progress(catalog, job_id) == "train denoise, about 6 min 10 s left"
    report.on_stage(Stage("write", None, None))
    assert progress(catalog, job_id) == "write"


def test_a_request_being_rendered_shows_how_far_each_of_its_running_kinds_has_got(catalog: Catalog) -> None:
    show = ShowConfig(code="MYSHOW")
    with catalog.session() as s:
        ensure_show(s, show.code)
        one, _ = fixes.add_fix_request(s, show.code, "sg:1", "sh010", ["denoise"], {}, task_id=1)
        two, _ = fixes.add_fix_request(s, show.code, "sg:2", "sh020", ["denoise", "upscale"], {}, task_id=2)
        for row in (one, two):
            fixes.set_fix_state(s, row.id, "rendering")
            for kind in row.kinds:
                job_repo.enqueue(s, "fix", FixJob(row.id, kind, row.request_key).key(), {})
    lines = ("frame 120 of 289, about 2 min left", "frame 7 of 40, about 1 min left", "frame 3 of 40")
    with catalog.session() as s:
        for line in lines:
            job = job_repo.claim(s, "w", ["fix"], 60)  # sh010's denoise, then sh020's denoise and upscale
            assert job is not None and job_repo.set_progress(s, job.id, line)

    records = {r["shot"]: r for r in show_record(catalog, show)["fix_requests"]}

    assert request_state(records["sh010"]) == "rendering: frame 120 of 289, about 2 min left"
    assert request_state(records["sh020"]) == (  # in the request's own order of kinds
        "rendering: denoise frame 7 of 40, about 1 min left; upscale frame 3 of 40"
    )
    assert records["sh020"]["progress"] == {"denoise": lines[1], "upscale": lines[2]}  # in --json too
    with catalog.session() as s:  # sh020's denoise done: its upscale alone is said
        job_repo.complete(s, job.id - 1, "w")
    records = {r["shot"]: r for r in show_record(catalog, show)["fix_requests"]}
    assert request_state(records["sh020"]) == "rendering: upscale frame 3 of 40"


def test_a_running_job_whose_daemon_is_gone_says_so_instead_of_its_last_line(catalog: Catalog) -> None:
    """A daemon SIGKILLed mid-fix: until another daemon takes the job over, `rushes status` used to show its last
    line ("running: frame 7 of 360, about 5 min 8 s left") as if it were still being rendered."""
    show = ShowConfig(code="MYSHOW")
    long_ago = utcnow() - timedelta(minutes=5)
    with catalog.session() as s:
        ensure_show(s, show.code)
        request, _ = fixes.add_fix_request(s, show.code, "sg:1", "sh050", ["denoise"], {}, task_id=1)
        fixes.set_fix_state(s, request.id, "rendering")
        job_repo.enqueue(s, "fix", FixJob(request.id, "denoise", request.request_key).key(), {})
        job = job_repo.claim(s, "killed", ["fix"], 120)
        assert job is not None and job_repo.set_progress(s, job.id, "frame 7 of 360, about 5 min 8 s left")
        job.lease_expires = long_ago + timedelta(seconds=120)  # last renewed 5 minutes ago: run out 3 ago
    with catalog.session(readonly=True) as s:
        job = job_repo.get_job(s, job.id)
        assert job is not None
        record = job_record(job)
    lapsed = (long_ago + timedelta(seconds=120)).strftime("%Y-%m-%d %H:%M:%S")
    assert record["stalled"] is not None and lapsed in record["stalled"]
    assert job_state(record) == f"running, {record['stalled']}"
    assert "daemon is gone" in job_state(record) and "frame 7" not in job_state(record)
    (rendering,) = show_record(catalog, show)["fix_requests"]
    assert request_state(rendering) == f"rendering: {record['stalled']}"
    with catalog.session() as s:  # a live daemon's job, its lease renewed: its line as before
        job_repo.enqueue(s, "fix", "fix:r2:denoise", {})
        live = job_repo.claim(s, "alive", ["fix"], 120)
        assert live is not None and job_repo.set_progress(s, live.id, "frame 1 of 9")
    with catalog.session(readonly=True) as s:
        live = job_repo.get_job(s, live.id)
        assert live is not None and job_state(job_record(live)) == "running: frame 1 of 9"


def test_a_job_the_executor_cannot_run_says_why_until_it_can_after_its_worker_wrote_a_line_too(
    catalog: Catalog, tmp_path: Path
) -> None:
    """A fix claimed while the Ray cluster is down waits in the executor: `rushes status` used to show it as
    plain "running", as if a node rendered it, and only /readyz said Ray was unreachable."""
    address = "ray://127.0.0.1:1"  # nothing listens there (a port no server takes): the Ray head is down
    executor = RayExecutor(address, reconnect_s=600)
    try:
        wait_for("the first connect to fail", lambda: "cannot reach" in (executor.health() or ""), 120)
        lane = Lane(
            catalog,
            "fix",
            ["fix"],
            in_worker(executor, "daemon.jobs.worker:fix", {}, str(tmp_path)),
            lease_s=0.0,  # renewed at every tick
            blocked=executor.health,
        )
        with catalog.session() as s:
            job, _ = job_repo.enqueue(s, "fix", "fix:r1:denoise", {})
        assert lane.tick() == 1
        with capture_logs() as logs:
            lane.tick()
        state = shown(catalog, lane, job.id)
        assert state.startswith(f"running: waiting: cannot reach Ray at {address} (ConnectionRefusedError")
        assert [e["progress"] for e in logs if e["event"] == "job.progress"] == [
            state.removeprefix("running: ")
        ]
        lane.blocked = lambda: None  # the head is back: the job is Ray's to place
        lane.tick()
        assert shown(catalog, lane, job.id) == "running"
        with catalog.session() as s:  # its worker's own line, while the executor can run it
            job_repo.set_progress(s, job.id, "frame 1 of 9, about 31 s left")
        lane.tick()
        assert shown(catalog, lane, job.id) == "running: frame 1 of 9, about 31 s left"
        # the only node dies mid-render: the line used to stay, as if frame 2 were coming in 31 s
        gone = "connected to Ray at ray://head:10001, but no node offers a CPU: jobs wait until a worker node joins"
        lane.blocked = lambda: gone
        lane.tick()
        waiting = f"running: waiting: {gone} (its worker's last line: frame 1 of 9, about 31 s left)"
        assert shown(catalog, lane, job.id) == waiting
        lane.tick()
        assert shown(catalog, lane, job.id) == waiting
        lane.blocked = lambda: None  # a node joined: Ray runs the job again, and its worker writes anew
        lane.tick()
        assert shown(catalog, lane, job.id) == "running"
        with catalog.session() as s:
            job_repo.set_progress(s, job.id, "frame 2 of 9")
        lane.tick()
        assert shown(catalog, lane, job.id) == "running: frame 2 of 9"
    finally:
        executor.shutdown(wait=False)


def shown(catalog: Catalog, lane: Lane, job_id: int) -> str:
    """The job's state as `rushes status` shows it while its lane holds its lease."""
    with catalog.session() as s:
        assert job_repo.heartbeat(s, job_id, lane.worker, 120)
        job = job_repo.get_job(s, job_id)
        assert job is not None
        return job_state(job_record(job))
