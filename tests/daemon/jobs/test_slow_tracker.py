"""A publish waiting on a tracker that does not answer (a far site, a proxy holding the call): its lane keeps
renewing the job's lease, so no other daemon takes the job as expired and publishes it a second time."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.catalog import Catalog, Job
from daemon.catalog import jobs as job_repo
from daemon.jobs.runner import Lane, in_process
from integrations.trackers.base import VersionSpec
from integrations.trackers.sgserver import SGServer
from integrations.trackers.shotgrid import ShotGridTracker
from tests.integrations.sg_fixtures import FAST, KINDS, client, make_show, options, running_server
from tests.netfaults import FaultProxy, Hold, calls

LEASE_S = 5.0  # renewed every quarter lease: only a stall of over 3.75 s on a loaded machine would lose it
HELD_LEASES = 2  # the create held this many leases: taken as expired, had its lane not renewed it

pytestmark = pytest.mark.slow  # holds the create 10 s: handed out first when the suite runs in parallel


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[SGServer, FaultProxy]]:
    server = running_server(tmp_path / "sg")
    host, port = server.url.removeprefix("http://").split(":")
    proxy = FaultProxy((host, int(port))).start()
    yield server, proxy
    proxy.stop()
    server.stop()


def test_a_publish_held_by_the_tracker_for_longer_than_its_lease_is_not_taken_by_another_daemon(
    catalog: Catalog, site: tuple[SGServer, FaultProxy], tmp_path: Path
) -> None:
    server, proxy = site
    sg = client(server)
    show = make_show(sg)
    movie = tmp_path / "fix.mp4"
    movie.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    spec = VersionSpec(
        idempotency_key="publish:1",
        project="DEMO",
        shot_id=show.shots[0]["id"],
        task_id=show.tasks[0]["id"],
        code="SQ010_0010_rushes_denoise_r1",
        description="denoise",
        movie_path=movie,
        first_frame=1001,
        last_frame=1002,
    )
    adapter = ShotGridTracker(options(server, url=proxy.url, timeout=60.0), kinds=KINDS, policy=FAST)
    taken: list[int] = []

    def publish(job: Job) -> dict[str, Any]:
        return {"version_id": adapter.publish_version(spec).version_id}

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        ours = Lane(
            catalog, "publish", ["publish"], in_process(pool, publish), lease_s=LEASE_S, worker="a:1:p"
        )
        theirs = Lane(catalog, "publish", ["publish"], lambda job: taken.append(job.id), worker="b:2:p")  # type: ignore[arg-type,func-returns-value]
        with catalog.session() as s:
            job, _ = job_repo.enqueue(s, "publish", "publish:1", {})
            job_id = job.id
        proxy.add(Hold(), when=calls("create"))
        ours.tick()
        proxy.wait_fired(1)  # the create is sent, and the tracker holds it
        deadline = time.monotonic() + HELD_LEASES * LEASE_S
        while time.monotonic() < deadline:
            ours.tick(claim=False)
            theirs.tick()
            time.sleep(0.05)  # the runner's own tick
        assert taken == [], "another daemon took the publish while the tracker held its create"

        proxy.release()
        deadline = time.monotonic() + 20
        while ours.running and time.monotonic() < deadline:
            ours.tick(claim=False)
            time.sleep(0.05)
    with catalog.session(readonly=True) as s:
        done = job_repo.get_job(s, job_id)
        assert done is not None and done.state == "done" and done.attempts == 1
    assert len(sg.find("Version", [["sg_rushes_key", "is", "publish:1"]])) == 1
