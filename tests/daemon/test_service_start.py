"""The catalog's PostgreSQL restarting while the daemon starts (it waits for the dailies that landed while it was
down before taking fix requests) does not stop the daemon: the start waits on, as the runner and ingest do.
The e2e catalog-outage test lost its daemon this way when its pause came during that wait."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from daemon.catalog import CatalogError
from daemon.service import Daemon
from daemon.settings import Settings, ShowConfig


def test_the_start_waits_through_a_catalog_outage_instead_of_stopping_the_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon = Daemon(Settings(data_dir=tmp_path / "home", shows=[ShowConfig(code="QS")]))
    try:

        @contextmanager
        def down(readonly: bool = False) -> Iterator[None]:
            raise CatalogError(daemon.catalog.url, "connection refused")
            yield

        monkeypatch.setattr(daemon.catalog, "session", down)
        assert daemon._ingest_pending()  # unknown while the catalog is down: still waiting for ingest
        daemon._wait_for_ingest(timeout=0.2, recheck_s=0.05)  # bounded, and no CatalogError out of it
        daemon._forget_gone_unless_down()  # the start's look at quarantined files: next minute instead
        monkeypatch.undo()
        assert not daemon._ingest_pending()  # back: nothing queued, nothing to wait for
    finally:
        daemon.executor.shutdown(wait=False)
        daemon.ctx.close()


def test_a_second_daemon_on_a_sqlite_catalog_says_so(tmp_path: Path) -> None:
    """SQLite is for one daemon: a second on the same file ran beside the first without a word."""
    from structlog.testing import capture_logs

    from daemon.leader import Leadership

    first = Daemon(Settings(data_dir=tmp_path / "home", shows=[ShowConfig(code="QS")]))
    second = Daemon(Settings(data_dir=tmp_path / "home", shows=[ShowConfig(code="QS")]))
    lock = Leadership(first.catalog)
    try:
        assert lock.try_acquire()  # the first daemon leads
        with capture_logs() as logs:
            second._lead()
            second._warn_if_sqlite_shared()
        [said] = [e for e in logs if e["event"] == "daemon.sqlite_shared"]
        assert said["log_level"] == "warning" and "SQLite is for one daemon" in said["problem"]
        lock.release()
        with capture_logs() as logs:
            second._lead()  # alone now: it leads, and nothing is said
            second._warn_if_sqlite_shared()
        assert not [e for e in logs if e["event"] == "daemon.sqlite_shared"]
    finally:
        lock.release()
        for daemon in (first, second):
            if daemon.leadership.is_leader:
                daemon.scheduler.shutdown(wait=False)
            daemon.leadership.release()
            daemon.executor.shutdown(wait=False)
            daemon.ctx.close()


def test_sighup_is_said_and_ignored_while_sigterm_stops_the_daemon() -> None:
    """A reload by habit (`kill -HUP`, a log rotation's hook) ended the daemon without a line, with the render
    it ran, and systemd's Restart=on-failure did not bring it back."""
    import os
    import signal
    import threading

    from structlog.testing import capture_logs

    from daemon.service import install_signal_handlers

    before = {sig: signal.getsignal(sig) for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)}
    stop = threading.Event()
    try:
        install_signal_handlers(stop)
        with capture_logs() as logs:
            os.kill(os.getpid(), signal.SIGHUP)
        assert not stop.is_set()
        assert [e["event"] for e in logs] == ["daemon.sighup_ignored"]
        assert "restart the daemon" in logs[0]["why"]
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.is_set()
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def test_a_daemon_that_makes_a_new_catalog_says_so_and_the_unit_waits_for_its_volume(tmp_path: Path) -> None:
    """A data volume not mounted at boot: the daemon made a new, empty catalog on the mount point without a word,
    reported ready and published fixes that the real catalog never knew."""
    from structlog.testing import capture_logs

    from daemon.catalog import jobs as job_repo
    from daemon.context import open_context
    from tests.deploy.test_deploy import REPO

    settings = Settings(data_dir=tmp_path / "home", shows=[ShowConfig(code="QS")])
    open_context(settings).close()  # `rushes status` first, on the empty mount point: it makes the catalog
    made: list[list[dict[str, object]]] = []
    for _ in range(2):  # a catalog nothing worked on yet, then one a job was queued in
        with capture_logs() as logs:
            daemon = Daemon(settings)
        with daemon.catalog.session() as s:
            job_repo.enqueue(s, "ingest", "ingest:QS:first", {})
        daemon.executor.shutdown(wait=False)
        daemon.ctx.close()
        made.append([e for e in logs if e["event"] == "catalog.new"])
    assert [len(said) for said in made] == [1, 0]
    assert made[0][0]["log_level"] == "warning" and "volume is not mounted" in str(made[0][0]["why"])
    unit = (REPO / "deploy" / "rushes.service").read_text().splitlines()
    home = next(line.split("=", 2)[2] for line in unit if line.startswith("Environment=RUSHES_HOME="))
    assert f"RequiresMountsFor={home}" in unit
