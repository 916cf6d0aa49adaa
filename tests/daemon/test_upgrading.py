"""Upgrading the catalog's schema while a daemon still works on it: refused in one line, the schema left as it was;
once every daemon is stopped, `rushes migrate` upgrades it and says from which revision."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from daemon.catalog import Catalog, utcnow
from daemon.leader import Leadership
from tests.homes import own_home

OLD = "0003"  # the schema of a release of 2026-12-03


def rushes(home: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The real console entry, as an administrator runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUSHES_")}
    env.update(RUSHES_HOME=str(home), RUSHES_CATALOG_URL=url, XDG_DATA_HOME=str(home.parent / "xdg"))
    return subprocess.run(
        [sys.executable, "-m", "daemon", *args], env=env, capture_output=True, text=True, timeout=120
    )


def old_catalog(url: str) -> Catalog:
    cat = Catalog(url)
    cat.migrate(OLD)
    return cat


def lease_job(cat: Catalog, owner: str) -> None:
    """A job a daemon runs: its lease held by `owner` for another minute (as the old release writes it)."""
    now = utcnow()
    with cat.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO jobs (kind, key, show, payload, state, attempts, max_attempts, run_after, "
                "lease_owner, lease_expires, created_at, updated_at) VALUES ('fix', :key, 'DEMO', '{}', "
                "'running', 1, 5, :now, :owner, :until, :now, :now)"
            ),
            {"key": f"fix:{owner}", "owner": owner, "now": now, "until": now + timedelta(seconds=60)},
        )


@pytest.fixture(autouse=True)
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return own_home(monkeypatch, tmp_path)


def test_an_upgrade_is_refused_while_a_daemon_holds_the_scheduler_lock(catalog_url: str, home: Path) -> None:
    cat = old_catalog(catalog_url)
    daemon = Leadership(cat)  # what a running daemon of the old release holds, on SQLite and PostgreSQL alike
    try:
        assert daemon.try_acquire()
        for command in (["migrate"], ["status"]):
            done = rushes(home, catalog_url, *command)
            assert done.returncode != 0
            line = done.stderr.strip()
            assert "\n" not in line and "Traceback" not in done.stderr
            assert f"from schema revision {OLD} to {Catalog.head()}" in line
            assert "holds the scheduler's lock" in line
            assert line.endswith(
                "stop every daemon that uses this catalog, on every host, then run `rushes migrate`"
            )
            assert cat.revision() == OLD  # left as the old daemon needs it
    finally:
        daemon.release()
    done = rushes(home, catalog_url, "migrate")
    assert done.returncode == 0, done.stderr
    assert f"upgraded from revision {OLD} to {Catalog.head()}" in done.stdout
    assert cat.revision() == Catalog.head()
    again = rushes(home, catalog_url, "migrate")
    assert f"is at revision {Catalog.head()}" in again.stdout and "upgraded" not in again.stdout
    cat.dispose()


def test_migrate_says_it_created_a_new_catalog_apart_from_one_already_at_the_newest(
    catalog_url: str, home: Path
) -> None:
    """A DBA running `rushes migrate` on an empty database read "is at revision 0012", the same line as on its
    second run, and could not tell that it had created the tables."""
    first = rushes(home, catalog_url, "migrate")
    assert first.returncode == 0, first.stderr
    assert f"created at revision {Catalog.head()}" in first.stdout
    again = rushes(home, catalog_url, "migrate")
    assert f"is at revision {Catalog.head()}" in again.stdout and "created at" not in again.stdout


def test_an_upgrade_is_refused_while_another_hosts_daemon_runs_a_job_not_for_a_daemon_killed_here(
    catalog_url: str, home: Path
) -> None:
    cat = old_catalog(catalog_url)
    gone = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1  # no process of this host can have it
    killed_here = f"{socket.gethostname()}:{gone}:fix"
    lease_job(cat, killed_here)  # a daemon of this host, SIGKILLed
    lease_job(cat, "render-2:4242:fix")  # a daemon on another host, forgotten
    done = rushes(home, catalog_url, "migrate")
    assert done.returncode != 0
    assert "jobs are running under leases of render-2:4242:fix)" in done.stderr
    assert killed_here not in done.stderr
    assert cat.revision() == OLD
    with cat.engine.begin() as conn:  # that daemon stopped: SIGTERM gives its jobs back
        conn.execute(text("UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires = NULL"))
    assert rushes(home, catalog_url, "migrate").returncode == 0
    assert cat.revision() == Catalog.head()
    cat.dispose()


def test_an_upgrade_closes_a_world_readable_home_and_catalog_to_other_users(home: Path) -> None:
    """A home and SQLite catalog made by a release before the umask was set (a terminal's 022) stayed readable by
    every user after the upgrade, and SQLite gave the new release's -wal and -shm files the catalog's mode."""
    database = home / "catalog.sqlite"
    url = f"sqlite:///{database}"
    old_catalog(url).dispose()
    for sub in ("", "models", "renders", "logs", "cache", "tmp"):
        (home / sub).mkdir(exist_ok=True)
        (home / sub).chmod(0o755)
    database.chmod(0o644)
    (home / "renders" / "sh010_rushes_denoise_r1.mov").write_bytes(b"unreleased")

    done = rushes(home, url, "migrate")

    assert done.returncode == 0 and "upgraded from revision 0003" in done.stdout, done.stderr
    assert {sub: (home / sub).stat().st_mode & 0o777 for sub in ("", "renders", "models")} == {
        "": 0o750,
        "renders": 0o750,
        "models": 0o750,
    }
    assert database.stat().st_mode & 0o777 == 0o640
    written = rushes(home, url, "show", "add", "DEMO")  # a change lands in the -wal SQLite makes beside it
    assert written.returncode == 0, written.stderr
    assert all(p.stat().st_mode & 0o007 == 0 for p in home.glob("catalog.sqlite*"))
