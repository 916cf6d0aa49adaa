"""The loop against a real Kitsu (zou) server: a daily in, a task set to the fix status with a comment through
gazu, a preview revision published on the task by the daemon, the task moved to review; then a request that
cannot be done, answered by a comment that takes the task out of the fix status."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import gazu
import yaml
from gazu.client import KitsuClient

from daemon.catalog import Catalog
from engine import degrade, synth
from engine.media import write_movie
from tests.e2e.world import (
    dead_jobs,
    enqueue_training,
    log_tail,
    promoted,
    published,
    registered,
    wait_for,
)
from tests.integrations.kitsu_fixtures import (  # noqa: F401
    FIX_STATUS,
    KitsuShot,
    kitsu_admin,
    kitsu_shot,
    zou_server,
)
from tests.servers.zou import ZouServer


def test_fix_round_trip_through_kitsu(
    tmp_path: Path,
    zou_server: ZouServer,  # noqa: F811
    kitsu_admin: KitsuClient,  # noqa: F811
    kitsu_shot: KitsuShot,  # noqa: F811
) -> None:
    inbox = tmp_path / "ingest"
    config = write_show(tmp_path, inbox, zou_server, str(kitsu_shot.project["code"]))
    env = {**os.environ, "RUSHES_TRACKER__SCRIPT_KEY": zou_server.admin_password}
    log_path = tmp_path / "daemon.log"
    log = log_path.open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "daemon", "--config", str(config), "daemon"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    (tmp_path / "rushes").mkdir()
    catalog = Catalog(f"sqlite:///{tmp_path / 'rushes' / 'catalog.sqlite'}")
    catalog.migrate()
    alive = lambda: proc.poll() is None  # noqa: E731
    try:
        wait_for("ingest", lambda: registered(catalog, "KIT") == 2, 120, alive, log_path)
        enqueue_training(catalog, "KIT")
        wait_for(
            "a promoted model",
            lambda: promoted(catalog, "KIT") is not None or bool(dead_jobs(catalog)),
            240,
            alive,
            log_path,
        )
        assert alive(), f"the daemon exited with {proc.returncode}{log_tail(log_path)}"
        assert not dead_jobs(catalog)
        status = gazu.task.get_task_status_by_short_name(FIX_STATUS, client=kitsu_admin)
        gazu.task.add_comment(
            kitsu_shot.task, status, "please clean the grain\n#rushes denoise", client=kitsu_admin
        )
        wait_for(
            "the published preview",
            lambda: published(catalog, "KIT") == 1 or bool(dead_jobs(catalog)),
            240,
            alive,
            log_path,
        )
        assert alive(), f"the daemon exited with {proc.returncode}{log_tail(log_path)}"
        assert not dead_jobs(catalog), dead_jobs(catalog)

        # A request that cannot be done is answered on the task, which leaves the fix status.
        gazu.task.add_comment(
            kitsu_shot.task, status, "#rushes interpolate frames=9000-9010", client=kitsu_admin
        )
        wait_for("the answer", lambda: answer(kitsu_admin, kitsu_shot) is not None, 120, alive, log_path)
        text = str(answer(kitsu_admin, kitsu_shot))
        assert text.startswith(
            "**Rushes could not do this fix**\n\nRushes did not do the interpolate fix of "
        )
        assert "frames 9000, 9001, 9002, 9003 and 7 more lie outside the shot's frames" in text
        [dead] = dead_jobs(catalog)  # the refused fix, and nothing else
        assert dead.startswith("fix fix:kitsu:comment:") and "frames 9000, 9001" in dead
        assert (
            gazu.task.get_task(kitsu_shot.task_id, client=kitsu_admin)["task_status"]["short_name"] == "todo"
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        catalog.dispose()
    previews = gazu.task.all_previews_for_task(kitsu_shot.task, client=kitsu_admin)
    assert len(previews) == 1
    comments = gazu.task.all_comments_for_task(kitsu_shot.task, client=kitsu_admin)
    published_comment = [c for c in comments if "rushes-key" in (c.get("text") or "")]
    assert [c["task_status"]["short_name"] for c in published_comment] == ["wfa"]
    assert "denoise" in published_comment[0]["text"]


def answer(admin: KitsuClient, shot: KitsuShot) -> str | None:
    """The text of the daemon's answer on the shot's task, if it has come."""
    comments = gazu.task.all_comments_for_task(shot.task, client=admin)
    return next((str(c["text"]) for c in comments if "Rushes did not do" in str(c.get("text") or "")), None)


def write_show(tmp_path: Path, inbox: Path, zou: ZouServer, project_code: str) -> Path:
    """Two noisy dailies in `inbox` and the daemon's config for show KIT on the Kitsu project; the config's path."""
    inbox.mkdir()
    for i, photo in enumerate(("chelsea", "coffee")):
        frames = degrade.add_noise(
            synth.camera_move(synth.photo(photo), 24, (160, 96), seed=i), 15 / 255, seed=i
        )
        write_movie(tmp_path / f"SH0{i + 1}0_1.mp4", frames, 24)
        (tmp_path / f"SH0{i + 1}0_1.mp4").rename(inbox / f"SH0{i + 1}0_1.mp4")
    config = tmp_path / "rushes.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "rushes"),
                "log_format": "json",
                "http": {"port": 0},
                "tracker": {
                    "kind": "kitsu",
                    "url": zou.url,
                    "script_name": zou.admin_email,
                    "fix_status": FIX_STATUS,
                    "poll_interval": 1.0,
                },
                "shows": [
                    {
                        "code": "KIT",
                        "tracker_project": project_code,
                        "ingest": {"roots": [str(inbox)], "stable_seconds": 0.5},
                        "train": {"budget_seconds": 10, "resolution": 96},
                    }
                ],
            }
        )
    )
    return config
