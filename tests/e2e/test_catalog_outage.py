"""The catalog's PostgreSQL goes away while the daemon runs (a restart for maintenance, a failover): the daemon
keeps running, dailies that land meanwhile wait and are ingested once it is back, and work goes on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from tests.e2e.world import log_tail, make_world, registered, wait_for
from tests.servers.postgres import PostgresServer

pytestmark = [pytest.mark.slow, pytest.mark.pg]


def test_dailies_landing_while_the_catalog_is_down_are_ingested_once_it_is_back(
    tmp_path: Path, pg_server: PostgresServer
) -> None:
    # `pg_server` only for its RUSHES_TEST_PG=off switch; the test runs its own server, which it stops
    own = PostgresServer.start(tmp_path / "pg")
    try:
        url = own.create_database(f"outage_{os.getpid()}")
        world = make_world(tmp_path)
        world.shared_catalog = url
        config = yaml.safe_load(world.config.read_text())
        world.config.write_text(yaml.safe_dump({**config, "catalog_url": url}))
        catalog = world.catalog()
        log = world.root / "daemon.log"
        proc = world.start_daemon()
        first, second = world.shots[:2]
        try:
            world.drop_dailies([first])
            wait_for("the first daily", lambda: registered(catalog) == 1, 120, log=log)
            own.pause()  # PostgreSQL is gone
            world.drop_dailies([second])
            wait_for(  # offered again every 5 s, and said once
                "the daemon to hold the daily back",
                lambda: "(catalog unreachable: " in log.read_text(),
                60,
                log=log,
            )
            wait_for(
                "the runner to see the outage too",
                lambda: '"runner.catalog_error"' in log.read_text(),
                60,
                log=log,
            )
            assert proc.poll() is None, log_tail(log)
            own.resume()
            wait_for("the daily that landed during the outage", lambda: registered(catalog) == 2, 90, log=log)
            assert proc.poll() is None, log_tail(log)
        finally:
            world.stop()
        catalog.dispose()
    finally:
        own.stop()
    text = log.read_text()
    # said in lines, not stack traces: neither the poller nor ingest took it for a bug
    assert '"tracker.poll_failed"' not in text and '"ingest.failed"' not in text
    assert 1 <= text.count('"runner.catalog_error"') <= 2  # not one per attempt (twice a second)
    held = [
        line for line in text.splitlines() if "(catalog unreachable: " in line and second.file.name in line
    ]
    assert 1 <= len(held) <= 2, held  # once a file (twice if the error's words changed), not every 5 s
    assert '"runner.catalog_error.cleared"' in text
