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
