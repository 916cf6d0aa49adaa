"""Three whole daemons on one PostgreSQL catalog, each with its own watcher on a shared ingest tree and its own
local executor: 40 dailies and 10 fix requests; one daemon is SIGKILLed mid-fix and the others take its jobs
over when its leases run out. Every daily is catalogued once, every fix published once, one scheduler leader."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from daemon.catalog import Catalog
from daemon.catalog import jobs as job_repo
from daemon.catalog.dailies import list_dailies
from daemon.demo import SHOW, DemoShot
from tests.e2e.world import (
    World,
    dead_jobs,
    enqueue_training,
    idle,
    make_world,
    promoted,
    published,
    registered,
    wait_for,
)
from tests.servers.postgres import PostgresServer

pytestmark = pytest.mark.slow  # handed out first when the suite runs in parallel

DAILIES = 40
FIXES = 10
DAEMONS = 3
FIRST = 6  # dailies the model is trained on before the rest land
PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "retina", "camera", "cat"]


def small_dailies(folder: Path) -> list[DemoShot]:
    """40 distinct 160x90 movies of 8 frames; every fourth one noisy, to be denoised."""
    from engine import degrade, synth
    from engine.media import write_movie

    folder.mkdir(parents=True, exist_ok=True)
    shots = []
    for i in range(DAILIES):
        frames = synth.camera_move(synth.photo(PHOTOS[i % len(PHOTOS)]), 8, (160, 90), seed=i)
        fix = i % 4 == 0
        if fix:
            frames = degrade.add_noise(frames, 12 / 255, seed=i)
        name = f"sh{(i + 1) * 10:03d}"
        path = folder / f"{name}_1.mp4"
        write_movie(path, frames, 24, timecode=f"01:00:{i:02d}:00")
        shots.append(DemoShot(name, path, "denoise" if fix else None, "denoise" if fix else ""))
    return shots


def daemon_configs(world: World, catalog_url: str) -> list[Path]:
    """One config per daemon: its own data folder and HTTP port, the same catalog, ingest tree and tracker."""
    base: dict[str, Any] = yaml.safe_load(world.config.read_text())
    paths = []
    for n in range(DAEMONS):
        config = {
            **base,
            "data_dir": str(world.root / f"daemon{n}"),
            "catalog_url": catalog_url,
            "max_jobs": 1,
            "job_lease_seconds": 6,
        }
        path = world.root / f"rushes{n}.yaml"
        path.write_text(yaml.safe_dump(config))
        paths.append(path)
    return paths


def fix_holders(catalog: Catalog) -> dict[int, int]:
    """pid of a daemon -> fix jobs it holds now (from the leases: "host:pid:lane")."""
    held: dict[int, int] = {}
    with catalog.session(readonly=True) as s:
        for job in job_repo.list_jobs(s, kind="fix", state="running", limit=None):
            pid = int((job.lease_owner or "x:0").split(":")[1])
            held[pid] = held.get(pid, 0) + 1
    return held


@pytest.mark.pg
def test_three_daemons_on_one_catalog_lose_nothing_repeat_nothing_and_survive_a_sigkill(
    tmp_path: Path, pg_server: PostgresServer
) -> None:
    catalog_url = pg_server.create_database(f"cluster_{os.getpid()}")
    world = make_world(tmp_path, budget=8, dailies=small_dailies)
    world.shared_catalog = catalog_url
    catalog = world.catalog()
    configs = daemon_configs(world, catalog_url)
    procs = [world.start_daemon(config=c, log_name=f"daemon{n}.log") for n, c in enumerate(configs)]
    logs = [tmp_path / f"daemon{n}.log" for n in range(DAEMONS)]
    killed: subprocess.Popen[bytes] | None = None
    try:
        world.drop_dailies(world.shots[:FIRST])  # the first night: a few dailies, and a model trained on them
        wait_for("the first dailies catalogued", lambda: registered(catalog) == FIRST, 120)
        enqueue_training(catalog)
        wait_for("a promoted model", lambda: promoted(catalog) is not None, 150)
        world.drop_dailies(world.shots[FIRST:])  # the next day's dailies
        wait_for("40 dailies catalogued", lambda: registered(catalog) == DAILIES, 150)
        leaders = sum(log.read_text().count('"scheduler.leader"') for log in logs)
        world.tag(["denoise"])
        pids = {p.pid: p for p in procs}
        wait_for("a daemon holding a fix", lambda: any(pid in pids for pid in fix_holders(catalog)), 120)
        victim = next(pid for pid in fix_holders(catalog) if pid in pids)
        killed = pids[victim]
        os.killpg(victim, signal.SIGKILL)
        killed.wait(timeout=10)
        wait_for("every fix published", lambda: published(catalog) == FIXES, 240)
        wait_for("the job queue to empty", lambda: idle(catalog), 120)  # nothing left that could publish
        versions = world.coordinator.versions()
        assert all(p.poll() is None for p in procs if p is not killed), "the survivors kept running"
    finally:
        world.stop()
    assert leaders == 1, f"{leaders} daemons led the scheduler at once"
    assert killed is not None and killed.returncode == -signal.SIGKILL
    assert not dead_jobs(catalog), dead_jobs(catalog)
    with catalog.session(readonly=True) as s:
        rows = list_dailies(s, SHOW, status=None)
        fix_jobs = [(j.state, j.attempts) for j in job_repo.list_jobs(s, kind="fix", limit=None)]
        daily_names = sorted(Path(r.path).name for r in rows)
    assert daily_names == sorted(sh.file.name for sh in world.shots)
    codes = sorted(v["code"] for v in versions)
    assert len(codes) == FIXES and len(set(codes)) == FIXES, codes
    assert [state for state, _ in fix_jobs] == ["done"] * FIXES
    assert any(attempts >= 2 for _, attempts in fix_jobs), (
        "the killed daemon's fix was taken over and run again"
    )
    assert sum(1 for log in logs if '"kind": "fix", "seconds"' in log.read_text()) >= 2, "fixes were shared"
    catalog.dispose()
