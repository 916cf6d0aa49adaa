"""Fixtures the integration tests of the local ShotGrid-compatible server share: a served tracker in the test's
own folder, the official client logged in to it, and a fault-injecting proxy in front of it (tests/netfaults.py)
(tests/integrations/sg_fixtures.py holds the rest)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import shotgun_api3

from integrations.trackers.sgserver import SGServer
from tests.integrations.sg_fixtures import Show, client, make_show, running_server
from tests.netfaults import FaultProxy


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SGServer]:
    srv = running_server(tmp_path / "sg")
    yield srv
    srv.stop()


@pytest.fixture
def sg(server: SGServer) -> shotgun_api3.Shotgun:
    return client(server)


@pytest.fixture
def show(sg: shotgun_api3.Shotgun) -> Show:
    """A small show on the served tracker (sg_fixtures.make_show)."""
    return make_show(sg)


@pytest.fixture
def proxy(server: SGServer) -> Iterator[FaultProxy]:
    """A fault-injecting proxy before the served tracker (a Kitsu test module has its own, before zou)."""
    host, port = server.url.removeprefix("http://").split(":")
    running = FaultProxy((host, int(port))).start()
    yield running
    running.stop()
