"""Fixtures the integration tests of the local ShotGrid-compatible server share: a served tracker in the test's
own folder, and the official client logged in to it (tests/integrations/sg_fixtures.py holds the rest)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import shotgun_api3

from integrations.trackers.sgserver import SGServer
from tests.integrations.sg_fixtures import client, running_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SGServer]:
    srv = running_server(tmp_path / "sg")
    yield srv
    srv.stop()


@pytest.fixture
def sg(server: SGServer) -> shotgun_api3.Shotgun:
    return client(server)
