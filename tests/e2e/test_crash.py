"""The daemon killed with SIGKILL at many points of ingest, training, fix and publish, and restarted each time:
every daily is catalogued once, training resumes from its checkpoint, every requested fix ends with exactly
one published Version."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from daemon.catalog import jobs as job_repo
from daemon.catalog.dailies import list_dailies
from daemon.demo import SHOW
from tests.e2e.world import (
    dead_jobs,
    enqueue_training,
    idle,
    make_world,
    promoted,
    published,
    registered,
    wait_for,
)

pytestmark = pytest.mark.slow  # handed out first when the suite runs in parallel


POINTS = [
    "ingest.queued",
    "ingest.catalogued",
    "tracker.polled",
    "train.checkpointed",
    "fix.rendered",
    "publish.start",
    "publish.sent",
    "publish.done",
]


def test_sigkill_at_every_stage_loses_nothing_and_repeats_nothing(tmp_path: Path) -> None:
    world = make_world(tmp_path, budget=30)
    crash_dir = tmp_path / "crashes"
    env = {"RUSHES_CRASH_AT": ",".join(POINTS), "RUSHES_CRASH_DIR": str(crash_dir)}
    catalog = world.catalog()
    kinds = ["denoise", "upscale"]
    restarts = 0
    stage = "ingest"
    proc = world.start_daemon(env)
    world.drop_dailies()
    deadline = time.monotonic() + 480
    try:
        while True:
            assert time.monotonic() < deadline, f"stuck in stage {stage}; see {tmp_path / 'daemon.log'}"
            if proc.poll() is not None:
                assert proc.returncode == -9, f"the daemon exited with {proc.returncode}, not by SIGKILL"
                restarts += 1
                proc = world.start_daemon(env)
            assert not dead_jobs(catalog), dead_jobs(catalog)
            if stage == "ingest" and registered(catalog) == len(world.shots):
                enqueue_training(catalog)
                stage = "train"
            elif stage == "train" and promoted(catalog) is not None:
                world.tag(kinds)
                stage = "fix"
            elif stage == "fix" and published(catalog) == len(kinds):
                break
            time.sleep(0.3)  # the daemon is another process: look at the catalog again
        # Every job has ended (a publish repeated after a crash finished, not doubled): nothing more may appear.
        wait_for("the job queue to empty", lambda: idle(catalog), 60)
        versions = world.coordinator.versions()
        statuses = [
            world.coordinator.task_status(world.tasks[s.shot]) for s in world.shots if s.kind in kinds
        ]
    finally:
        world.stop()

    crashed = sorted(p.name.removeprefix("crashed-") for p in crash_dir.iterdir())
    assert crashed == sorted(POINTS), crashed
    assert restarts >= len(POINTS)
    with catalog.session(readonly=True) as s:
        rows = list_dailies(s, SHOW, status=None)
        assert sorted(Path(r.path).name for r in rows) == sorted(sh.file.name for sh in world.shots)
        assert all(r.status == "registered" for r in rows)
        (train_job,) = job_repo.list_jobs(s, kind="train", limit=None)
        assert train_job.state == "done" and train_job.attempts >= 2
        assert train_job.result and train_job.result["resumed"] is True
    assert sorted(v["code"].split("_")[2] for v in versions) == sorted(kinds)
    assert all(v["sg_uploaded_movie"] for v in versions)
    assert statuses == ["rev"] * len(kinds)
    catalog.dispose()
