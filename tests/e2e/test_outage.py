"""The tracker answers 503 for a while: `rushes status` and /readyz say the daemon cannot read it, publishes
queue up in the outbox and all go out when it is back, none twice."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from daemon.catalog import fixes, tracker_reads
from daemon.catalog import jobs as job_repo
from daemon.demo import SHOW
from tests.e2e.world import (
    dead_jobs,
    enqueue_training,
    health_url,
    idle,
    make_world,
    promoted,
    published,
    registered,
    wait_for,
)

pytestmark = pytest.mark.slow  # handed out first when the suite runs in parallel


def test_publishes_wait_out_a_tracker_outage(tmp_path: Path) -> None:
    # Each publish attempt calls the tracker twice before its job backs off (5 s, then 10 s): the outage is
    # waited out the same way as with the default 6 calls, in a fraction of the time.
    world = make_world(
        tmp_path, budget=15, tracker={"call_attempts": 2}
    )  # the health server on any free port
    catalog = world.catalog()
    kinds = ["denoise", "upscale", "regrade"]
    proc = world.start_daemon()
    log = world.root / "daemon.log"  # its last lines go into a timeout's message
    try:
        world.drop_dailies()
        wait_for("ingest", lambda: registered(catalog) == len(world.shots), 120, log=log)
        enqueue_training(catalog)
        wait_for(
            "a promoted model",
            lambda: promoted(catalog) is not None or bool(dead_jobs(catalog)),
            240,
            log=log,
        )
        assert not dead_jobs(catalog)
        world.tag(kinds)

        def requested() -> int:
            with catalog.session(readonly=True) as s:
                return len(fixes.list_fix_requests(s, SHOW))

        wait_for("the fix requests", lambda: requested() == len(kinds), 60, log=log)
        world.server.faults.fail_next(1_000_000, status=503)  # the tracker goes down
        refused_before = world.server.faults.requests

        def problems() -> list[str]:  # what `rushes status` shows of the daemons' reads
            with catalog.session(readonly=True) as s:
                return [r.problem for r in tracker_reads.read_states(s) if r.problem]

        wait_for("the status to say the tracker cannot be read", lambda: bool(problems()), 60, log=log)
        assert "503" in problems()[0] and "\n" not in problems()[0]
        url = health_url(log)
        assert url is not None
        code, checks = readyz(url)
        assert code == 503 and checks["tracker"].startswith("cannot read the shotgrid tracker: ")

        def pending() -> int:
            with catalog.session(readonly=True) as s:
                return len(fixes.pending_publications(s))

        wait_for("renders queued for publishing", lambda: pending() == len(kinds), 240, log=log)
        assert published(catalog) == 0

        def attempts() -> list[int]:
            with catalog.session(readonly=True) as s:
                return [j.attempts for j in job_repo.list_jobs(s, kind="publish", limit=None)]

        # Every publish keeps trying against the 503s (with backoff): refused, then tried again.
        wait_for("every publish to be tried twice", lambda: min(attempts(), default=0) >= 2, 120, log=log)
        assert world.server.faults.requests - refused_before >= 3  # they were refused each time
        assert published(catalog) == 0
        with catalog.session(readonly=True) as s:
            states = {j.state for j in job_repo.list_jobs(s, kind="publish", limit=None)}
        assert states <= {"queued", "running"}, states  # waiting in the outbox, not given up
        world.server.faults.reset()  # the tracker is back
        wait_for("every publish", lambda: published(catalog) == len(kinds), 180, log=log)
        wait_for("the job queue to empty", lambda: idle(catalog), 60, log=log)
        assert proc.poll() is None, "the daemon died during the outage"
        versions = world.coordinator.versions()
    finally:
        world.stop()
    assert not dead_jobs(catalog)
    assert len(versions) == len(kinds)
    assert sorted(v["code"].split("_")[2] for v in versions) == sorted(kinds)
    assert all(v["sg_uploaded_movie"] for v in versions)
    catalog.dispose()


def readyz(url: str) -> tuple[int, dict[str, str]]:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=10) as response:
            return response.status, json.loads(response.read())["checks"]
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())["checks"]
