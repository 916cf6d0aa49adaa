"""A show wrapped with `rushes show wrap` while the daemon runs beside another show: its folders are no longer
watched, its training no longer scheduled and a fix request on it is answered that it is wrapped, while the other
show goes on; reopened months later for pickups, the dailies that landed meanwhile are ingested, the request made
while it was wrapped is not run, and one asked again is taken."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.catalog import Catalog, fixes
from daemon.demo import SHOW
from daemon.scheduling.scheduler import scheduled_jobs
from tests.e2e.world import KEY, log_tail, make_world, registered, wait_for

pytestmark = pytest.mark.slow  # handed out first when the suite runs in parallel


def rushes(config: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "daemon", "--config", str(config), *args],
        env={**os.environ, "RUSHES_TRACKER__SCRIPT_KEY": KEY, "COLUMNS": "250"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def states(catalog: Catalog, show: str) -> list[str]:
    """The state of each of the show's fix requests, oldest first."""
    with catalog.session(readonly=True) as s:
        return [r.state for r in reversed(fixes.list_fix_requests(s, show))]


def windows(catalog: Catalog) -> set[str]:
    return {job_id for job_id, _ in scheduled_jobs(catalog) if job_id.startswith("train-window:")}


def test_a_show_wrapped_while_the_daemon_runs_is_let_go_and_its_pickups_come_in_when_it_is_reopened(
    tmp_path: Path,
) -> None:
    world = make_world(tmp_path)
    catalog = world.catalog()
    log = world.root / "daemon.log"
    other = world.root / "other"
    other.mkdir()
    rushes(world.config, "show", "add", "OTHER", "--ingest", str(other))
    proc = world.start_daemon()
    first, second, third, fourth = world.shots[:4]

    def alive() -> bool:
        return proc.poll() is None

    try:
        world.drop_dailies([first])
        wait_for("the show's first daily", lambda: registered(catalog) == 1, 120, alive, log)
        wait_for(
            "both training windows", lambda: windows(catalog) >= {f"train-window:{SHOW}"}, 60, alive, log
        )

        wrapped = rushes(world.config, "show", "wrap", SHOW, "--note", "delivered")
        assert f"show {SHOW} wrapped at" in wrapped, wrapped
        wait_for("the daemon to let the show go", lambda: '"show.wrapped"' in log.read_text(), 60, alive, log)
        assert windows(catalog) == {"train-window:OTHER"}  # no nightly training of the wrapped show

        # while wrapped: a pickup lands in its folder, and a coordinator tags one of its tasks
        world.drop_dailies([second])
        [tagged] = world.tag([third.kind])
        task = world.tasks[tagged.shot]
        shutil.copy(fourth.file, other / fourth.file.name)  # the other show goes on
        wait_for("the other show's daily", lambda: registered(catalog, "OTHER") == 1, 60, alive, log)

        def answered() -> bool:
            return any("is wrapped in Rushes" in note for note in world.coordinator.notes(task))

        wait_for("the coordinator's answer on the task", answered, 60, alive, log)
        assert world.coordinator.task_status(task) == "hld"
        assert registered(catalog) == 1, "a wrapped show's folder was still watched"
        assert states(catalog, SHOW) == ["failed"]  # recorded, answered, nothing done
        text = rushes(world.config, "status")
        assert "wrapped since" in text and "delivered" in text, text
        assert f"show {SHOW} is wrapped in Rushes since" in text, text

        reopened = rushes(world.config, "show", "reopen", SHOW)
        assert f"show {SHOW} reopened" in reopened, reopened
        wait_for("the pickup landed while wrapped", lambda: registered(catalog) == 2, 60, alive, log)
        wait_for(
            "its training window again", lambda: f"train-window:{SHOW}" in windows(catalog), 60, alive, log
        )
        assert states(catalog, SHOW) == ["failed"]  # the request made while it was wrapped is not run
        assert '"show.reopened"' in log.read_text()

        world.coordinator.tag(task, "denoise", "sg_rushes_fixes", "wtg")  # asked again, as the answer said
        world.tag([third.kind])
        wait_for("the request asked again", lambda: len(states(catalog, SHOW)) == 2, 60, alive, log)
        assert states(catalog, SHOW)[1] != "failed"
        assert proc.poll() is None, log_tail(log)
    finally:
        world.stop()
    assert registered(catalog, "OTHER") == 1
    catalog.dispose()
