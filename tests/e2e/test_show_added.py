"""A show added with `rushes show add` while the daemon runs, and a folder added to a running show, are taken
up without a restart: their dailies are ingested."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.demo import SHOW
from tests.e2e.world import KEY, log_tail, make_world, registered, wait_for

pytestmark = pytest.mark.slow  # handed out first when the suite runs in parallel


def rushes(config: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "daemon", "--config", str(config), *args],
        env={**os.environ, "RUSHES_TRACKER__SCRIPT_KEY": KEY},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_show_and_a_folder_added_while_the_daemon_runs_are_watched_without_a_restart(
    tmp_path: Path,
) -> None:
    world = make_world(tmp_path)
    catalog = world.catalog()
    log = world.root / "daemon.log"
    proc = world.start_daemon()
    first, second, third = world.shots[:3]

    def alive() -> bool:
        return proc.poll() is None

    try:
        world.drop_dailies([first])
        wait_for("the first daily", lambda: registered(catalog) == 1, 120, alive, log)
        assert proc.poll() is None, log_tail(log)

        late = world.root / "late"
        late.mkdir()
        assert "show LATE added" in rushes(world.config, "show", "add", "LATE", "--ingest", str(late))
        shutil.copy(second.file, late / second.file.name)
        wait_for("the new show's daily", lambda: registered(catalog, "LATE") == 1, 60, alive, log)

        more = world.root / "more"
        more.mkdir()
        rushes(world.config, "show", "add", "LATE", "--ingest", str(more))
        shutil.copy(third.file, more / third.file.name)
        wait_for("the added folder's daily", lambda: registered(catalog, "LATE") == 2, 60, alive, log)
        assert proc.poll() is None, log_tail(log)
    finally:
        world.stop()
    text = log.read_text()
    assert '"show.added"' in text and '"show.updated"' in text
    assert registered(catalog, SHOW) == 1  # the YAML show went on as it was
    catalog.dispose()
