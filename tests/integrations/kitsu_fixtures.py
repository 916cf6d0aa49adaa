"""A real Kitsu (zou) server for the Kitsu tests, started once per test session.

Import the fixtures into a test module:

    from tests.integrations.kitsu_fixtures import kitsu_admin, kitsu_shot, zou_server  # noqa: F401

zou runs from `.venv-zou` (scripts/zou-venv.sh) against its own PostgreSQL cluster and Redis server, all
on loopback ports. RUSHES_TEST_KITSU=off skips these tests; otherwise a missing piece is a failure with
a one-line hint. The servers are module-level singletons (one start even when several modules import
the fixtures) and stop when the test process exits.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import gazu
import numpy as np
import pytest
from gazu.client import KitsuClient
from pydantic import SecretStr

from integrations.trackers.options import TrackerOptions
from tests.servers.postgres import PostgresServer, PostgresUnavailable
from tests.servers.redis import RedisServer, ServerFailed, ServerMissing
from tests.servers.zou import ZouServer

FIX_STATUS = "fix"
_started: dict[str, Any] = {}


def _stop_all(stops: list[Callable[[], None]]) -> None:
    for stop in reversed(stops):
        with contextlib.suppress(Exception):  # stopping at exit: nothing useful to do with a failure
            stop()


def _start(base: Path) -> ZouServer:
    ZouServer.check_installed()
    stops: list[Callable[[], None]] = []
    atexit.register(_stop_all, stops)
    postgres = PostgresServer.start(base / "postgres")
    stops.append(postgres.stop)
    database_url = postgres.create_database("zou")
    redis = RedisServer.start(base / "redis")
    stops.append(redis.stop)
    zou = ZouServer.start(base / "zou", database_url, redis)
    stops.append(zou.stop)
    return zou


@pytest.fixture(scope="session")
def zou_server(tmp_path_factory: pytest.TempPathFactory) -> ZouServer:
    if os.environ.get("RUSHES_TEST_KITSU", "").lower() == "off":
        pytest.skip("RUSHES_TEST_KITSU=off")
    if "error" in _started:
        pytest.fail(_started["error"], pytrace=False)
    if "zou" not in _started:
        try:
            _started["zou"] = _start(tmp_path_factory.mktemp("kitsu"))
        except (ServerMissing, ServerFailed, PostgresUnavailable) as exc:
            hint = "" if "zou-venv.sh" in str(exc) else " (zou itself: run scripts/zou-venv.sh)"
            _started["error"] = f"Kitsu test server unavailable: {exc}{hint}; or set RUSHES_TEST_KITSU=off"
            pytest.fail(_started["error"], pytrace=False)
    server: ZouServer = _started["zou"]
    return server


@pytest.fixture(scope="session")
def kitsu_admin(zou_server: ZouServer) -> KitsuClient:
    """A gazu client logged in as zou's admin, with the fix status created."""
    client = gazu.client.create_client(zou_server.url)
    gazu.log_in(zou_server.admin_email, zou_server.admin_password, client=client)
    if gazu.task.get_task_status_by_short_name(FIX_STATUS, client=client) is None:
        gazu.task.new_task_status("Fix", FIX_STATUS, "#ff3860", client=client)
    return client


def kitsu_options(zou_server: ZouServer, **overrides: Any) -> TrackerOptions:
    """Tracker options for the Kitsu adapter logged in as zou's admin."""
    values: dict[str, Any] = {
        "kind": "kitsu",
        "url": zou_server.url,
        "script_name": zou_server.admin_email,
        "script_key": SecretStr(zou_server.admin_password),
        "fix_status": FIX_STATUS,
        "timeout": 30.0,
    }
    values.update(overrides)
    return TrackerOptions(**values)


@dataclass(frozen=True)
class KitsuShot:
    project: dict[str, Any]
    shot: dict[str, Any]
    task: dict[str, Any]

    @property
    def task_id(self) -> str:
        return str(self.task["id"])


@pytest.fixture
def kitsu_shot(kitsu_admin: KitsuClient) -> KitsuShot:
    """A fresh project (unique name), sequence SQ01, shot SH010 (1001-1048) and its compositing task."""
    client = kitsu_admin
    name = f"Rushes {uuid.uuid4().hex[:8]}"
    project = gazu.project.new_project(name, client=client)
    # a code for the show, and a small review resolution so zou's transcode of the test movie stays quick
    project.update({"code": name.replace(" ", "_").upper(), "resolution": "320x180"})
    project = gazu.project.update_project(project, client=client)
    task_type = gazu.task.get_task_type_by_name("Compositing", client=client)
    gazu.project.add_task_type(project, task_type, priority=1, client=client)
    sequence = gazu.shot.new_sequence(project, "SQ01", client=client)
    shot = gazu.shot.new_shot(project, sequence, "SH010", frame_in=1001, frame_out=1048, client=client)
    task = gazu.task.new_task(shot, task_type, client=client)
    return KitsuShot(project, shot, task)


def write_movie(path: Path, frames: int = 24, width: int = 160, height: int = 90) -> Path:
    """A real small H.264 mp4 (a white bar moving over black), written with PyAV. No B-frames: zou's
    normalization (an ffmpeg stream copy with a trim) drops the video of B-frame movies with edit lists."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24, options={"bf": "0"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(frames):
            image = np.zeros((height, width, 3), np.uint8)
            x = (index * 6) % (width - 10)
            image[:, x : x + 10] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
