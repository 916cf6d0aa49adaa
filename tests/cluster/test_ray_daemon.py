"""`rushes daemon` with `executor: {kind: ray}` against a real local Ray cluster: training and fixes run on Ray
workers and come back to the catalog; a Ray worker killed mid-fix is rerun and exactly one Version is
published; with Ray unreachable the daemon still starts, says why in one line and /readyz is not ready; it
connects when Ray comes, and when the head is lost the job in flight goes back to the queue."""

from __future__ import annotations

import json
import os
import re
import signal
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from daemon.catalog import Catalog
from daemon.catalog import jobs as job_repo
from daemon.demo import DemoShot
from tests.cluster.raycluster import RayCluster, free_port
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


def few_dailies(folder: Path) -> list[DemoShot]:
    """Three small clean dailies (160x90, 8 frames) to train on, and one noisy daily at the demo's size
    (320x180, 24 frames) to denoise: a fix long enough to be killed while it runs, and little else to do."""
    from engine import degrade, synth
    from engine.media import write_movie

    folder.mkdir(parents=True, exist_ok=True)
    shots = []
    for i, photo in enumerate(["astronaut", "coffee", "rocket", "chelsea"]):
        noisy = photo == "chelsea"
        size, n = ((320, 180), 24) if noisy else ((160, 90), 8)
        frames = synth.camera_move(synth.photo(photo), n, size, seed=i)
        if noisy:
            frames = degrade.add_noise(frames, 15 / 255, seed=i)
        path = folder / f"sh{(i + 1) * 10:03d}_1.mp4"
        write_movie(path, frames, 24, timecode=f"0{i + 1}:00:00:00")
        shots.append(DemoShot(path.stem[:5], path, "denoise" if noisy else None, "denoise" if noisy else ""))
    return shots


def readyz(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_daemon_trains_and_fixes_on_ray_and_a_killed_ray_worker_still_publishes_once(
    ray_cluster: RayCluster, tmp_path: Path
) -> None:
    world = make_world(
        tmp_path,
        budget=8,
        extra={"executor": {"kind": "ray", "ray_address": ray_cluster.address}},
        dailies=few_dailies,
    )
    catalog = world.catalog()
    proc = world.start_daemon()
    alive = lambda: proc.poll() is None  # noqa: E731
    log = tmp_path / "daemon.log"
    try:
        world.drop_dailies()
        wait_for(
            "every daily catalogued", lambda: registered(catalog) == len(world.shots), 120, alive, log=log
        )
        enqueue_training(catalog)
        wait_for(
            "a promoted model trained on Ray", lambda: promoted(catalog) is not None, 150, alive, log=log
        )
        world.tag(["denoise"])
        first = kill_the_ray_worker_of_the_first_fix(world.root / "rushes" / "logs", catalog, alive)
        wait_for("the fix published", lambda: published(catalog) == 1, 120, alive, log=log)
        assert alive(), f"the daemon died; see {log}"
        wait_for(
            "the job queue to empty", lambda: idle(catalog), 120, alive
        )  # nothing left that could publish
        versions = world.coordinator.versions()
    finally:
        world.stop()
    assert not dead_jobs(catalog), dead_jobs(catalog)
    assert [v["code"].split("_")[2] for v in versions] == ["denoise"], "exactly one Version"
    with catalog.session(readonly=True) as s:
        (fix_job,) = job_repo.list_jobs(s, kind="fix", limit=None)
        (train_job,) = job_repo.list_jobs(s, kind="train", limit=None)
        assert fix_job.state == "done" and train_job.state == "done"
        fix_id, train_id, fix_attempts = fix_job.id, train_job.id, fix_job.attempts
    logs = world.root / "rushes" / "logs"
    fix_log = (logs / f"job-{fix_id}.log").read_text()
    starts = re.findall(rf"ray task fix-{fix_id}-\d+ started on \S+ pid (\d+)", fix_log)
    assert len(starts) == 2 and starts[0] == str(first) != starts[1], "Ray ran the fix again in a new worker"
    assert fix_attempts == 1, "Ray's own retry: the daemon's queue saw one attempt"
    assert "ray task train-" in (logs / f"job-{train_id}.log").read_text(), "training ran on Ray"
    catalog.dispose()


def test_without_ray_the_daemon_starts_and_waits_then_connects_and_survives_losing_the_head(
    tmp_path: Path,
) -> None:
    client_port, port = free_port(), free_port()
    address = f"ray://127.0.0.1:{client_port}"
    world = make_world(
        tmp_path,
        budget=60,
        extra={
            "executor": {"kind": "ray", "ray_address": address, "ray_reconnect_seconds": 2},
            "http": {"host": "127.0.0.1", "port": port},
        },
        dailies=few_dailies,
    )
    catalog = world.catalog()
    log = tmp_path / "daemon.log"
    proc = world.start_daemon({"RAY_CLIENT_RECONNECT_GRACE_PERIOD": "2"})
    alive = lambda: proc.poll() is None  # noqa: E731
    url = f"http://127.0.0.1:{port}"
    cluster: RayCluster | None = None
    try:
        # 1. Ray unreachable at start: the daemon runs, says why in one line, and is not ready.
        wait_for(
            "the daemon to say Ray is unreachable", lambda: "ray.unreachable" in log.read_text(), 120, alive
        )
        wait_for("/readyz to answer", lambda: _answers(url), 60, alive, log=log)
        code, body = readyz(url)
        assert code == 503 and f"cannot reach Ray at {address}" in json.loads(body)["checks"]["executor"]
        # 2. Ray comes: the daemon connects by itself and becomes ready.
        cluster = RayCluster.start(tmp_path / "ray", num_cpus=1, client_port=client_port)
        wait_for("the daemon to connect", lambda: readyz(url)[0] == 200, 120, alive, log=log)
        unreachable_lines = log.read_text().count("ray.unreachable")
        # 3. The head is lost with a training job in flight: it fails over to the queue, nothing hangs.
        world.drop_dailies()
        wait_for(
            "every daily catalogued", lambda: registered(catalog) == len(world.shots), 120, alive, log=log
        )
        enqueue_training(catalog)
        job_log = world.root / "rushes" / "logs"
        wait_for(
            "training on Ray",
            lambda: any("ray task train-" in p.read_text() for p in job_log.glob("*.log")),
            120,
            alive,
        )
        cluster.head.kill()
        wait_for(
            "the job back in the queue", lambda: _train_error(catalog).startswith("job train-"), 90, alive
        )
        code, body = readyz(url)
        assert code == 503 and "Ray" in json.loads(body)["checks"]["executor"]
        assert alive(), "the daemon keeps running without Ray"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        world.stop()
        if cluster is not None:
            cluster.stop()
    text = log.read_text()
    assert unreachable_lines == 1, "one line while Ray was unreachable, however many attempts"
    assert text.count("ray.lost") == 1
    assert f"lost the Ray cluster at {address}" in _train_error(catalog)
    assert "Traceback" not in text
    catalog.dispose()


def _train_error(catalog: Catalog) -> str:
    with catalog.session(readonly=True) as s:
        jobs = job_repo.list_jobs(s, kind="train", limit=None)
        return next((j.last_error or "" for j in jobs if j.state == "queued"), "")


def kill_the_ray_worker_of_the_first_fix(logs: Path, catalog: Catalog, alive: Callable[[], bool]) -> int:
    """SIGKILL the Ray worker process as soon as the fix job's log names it (mid-fix); returns its pid."""
    found: list[int] = []

    def started() -> bool:
        with catalog.session(readonly=True) as s:
            ids = [job.id for job in job_repo.list_jobs(s, kind="fix", limit=None)]
        for job_id in ids:
            log = logs / f"job-{job_id}.log"
            match = (
                re.search(r"ray task fix-\d+-\d+ started on \S+ pid (\d+)", log.read_text())
                if log.exists()
                else None
            )
            if match:
                found.append(int(match.group(1)))
                return True
        return False

    wait_for("the fix to start on a Ray worker", started, 120, alive)
    os.kill(found[0], signal.SIGKILL)
    return found[0]


def _answers(url: str) -> bool:
    try:
        readyz(url)
    except OSError:
        return False
    return True
