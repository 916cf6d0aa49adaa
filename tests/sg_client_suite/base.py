"""Rushes' own fixture module for the shotgun_api3 live-server test modules (written for Rushes).

The official client's `tests/test_api.py`, `test_api_long.py` and `test_proxy.py` (fetched from the
shotgun-api3 source distribution at test time, never committed) do `from . import base` and use:

- `TestBase` (a unittest.TestCase; `setUp(auth_mode)` builds `self.sg` for "ApiUser", "HumanUser" or
  "SessionToken" and sets `self.config`, `self.server_url`, `self.api_key`, `self.auth_args`);
- `LiveTestBase` (class set-up finds or creates a project, a human user, an asset, a version, a shot, a
  note, a playlist, a pipeline step, a task and a local storage; `sg_version`; `gen_entity()`;
  `find_one_await_thumbnail()`), `HumanUserAuthLiveTestBase`, `SessionTokenAuthLiveTestBase`;
- `_find_or_create_entity(sg, entity_type, data, keys)`, `THUMBNAIL_MAX_ATTEMPTS`,
  `THUMBNAIL_RETRY_INTERVAL` and `unittest`.

Settings come from the `config` file beside this module (INI, written by scripts/sg_client_tests.py):
[server] url, script_name, api_key, http_proxy; [data] human_login, human_password, human_name, project_name,
asset_code, version_code, shot_code, playlist_code, task_content.
"""

from __future__ import annotations

import configparser
import contextlib
import time
import unittest
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import shotgun_api3

__all__ = [
    "THUMBNAIL_MAX_ATTEMPTS",
    "THUMBNAIL_RETRY_INTERVAL",
    "HumanUserAuthLiveTestBase",
    "LiveTestBase",
    "SessionTokenAuthLiveTestBase",
    "TestBase",
    "unittest",
]

THUMBNAIL_MAX_ATTEMPTS = 20
THUMBNAIL_RETRY_INTERVAL = 0.25
# The hosted service answers this placeholder image url while a thumbnail is still being processed.
TRANSIENT_IMAGE_MARK = "images/status/transient"
CONFIG_FILE = Path(__file__).with_name("config")


class Config:
    """The test settings, read from the INI file `config` beside this module."""

    def __init__(self, path: Path = CONFIG_FILE) -> None:
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(path, encoding="utf-8")
        server = parser["server"] if parser.has_section("server") else {}
        data = parser["data"] if parser.has_section("data") else {}
        self.server_url: str = server.get("url", "")
        self.script_name: str = server.get("script_name", "")
        self.api_key: str = server.get("api_key", "")
        self.http_proxy: str | None = server.get("http_proxy") or None
        self.session_uuid: str | None = server.get("session_uuid") or None
        self.jenkins = False  # the client's own CI switch: never set here
        self.human_login: str = data.get("human_login", "")
        self.human_password: str = data.get("human_password", "")
        self.human_name: str = data.get("human_name", "")
        self.project_name: str = data.get("project_name", "")
        self.asset_code: str = data.get("asset_code", "")
        self.version_code: str = data.get("version_code", "")
        self.shot_code: str = data.get("shot_code", "")
        self.playlist_code: str = data.get("playlist_code", "")
        self.task_content: str = data.get("task_content", "")


def _find_or_create_entity(
    sg: shotgun_api3.Shotgun, entity_type: str, data: dict[str, Any], keys: list[str] | None = None
) -> dict[str, Any]:
    """The entity of `entity_type` whose `keys` fields equal those of `data`, created when missing."""
    fields = list(data)
    wanted = [[key, "is", data[key]] for key in keys or ["name"]]
    found = sg.find_one(entity_type, wanted, fields=fields)
    if found is None:
        found = sg.create(entity_type, data, return_fields=fields)
    assert found, f"could not find or create the {entity_type} fixture"
    return dict(found)


class TestBase(unittest.TestCase):
    """A client (`self.sg`) signed in as the script, the human user or with a session token."""

    config = Config()
    sg: Any = None
    human_user: dict[str, Any]
    project: dict[str, Any]
    shot: dict[str, Any]
    asset: dict[str, Any]
    version: dict[str, Any]
    note: dict[str, Any]
    playlist: dict[str, Any]
    step: dict[str, Any]
    task: dict[str, Any]
    local_storage: dict[str, Any]
    sg_version: tuple[int, ...] = (0, 0, 0)

    def _script_client(self, **extra: Any) -> shotgun_api3.Shotgun:
        c = self.config
        return shotgun_api3.Shotgun(c.server_url, c.script_name, c.api_key, http_proxy=c.http_proxy, **extra)

    def setUp(self, auth_mode: str = "ApiUser") -> None:
        c = self.config
        if not c.server_url:
            self.skipTest("no server url in the config file")
        self.server_url, self.api_key = c.server_url, c.api_key
        self.human_login, self.human_password = c.human_login, c.human_password
        if auth_mode == "ApiUser":
            self.auth_args: dict[str, Any] = {"script_name": c.script_name, "api_key": c.api_key}
        elif auth_mode == "HumanUser":
            self.auth_args = {"login": c.human_login, "password": c.human_password}
        elif auth_mode == "SessionToken":
            token = self._script_client().get_session_token()
            self.auth_args = {"session_token": token}
        else:
            raise ValueError(f"unknown auth_mode {auth_mode!r}: use ApiUser, HumanUser or SessionToken")
        self.sg = shotgun_api3.Shotgun(c.server_url, http_proxy=c.http_proxy, **self.auth_args)
        if c.session_uuid:
            self.sg.set_session_uuid(c.session_uuid)

    def tearDown(self) -> None:
        self.sg = None


class LiveTestBase(TestBase):
    """TestBase plus a small show found or created once per class on the server."""

    @classmethod
    def setUpClass(cls) -> None:
        c = cls.config
        if not c.server_url:
            return
        sg = shotgun_api3.Shotgun(c.server_url, c.script_name, c.api_key, http_proxy=c.http_proxy)
        cls.sg_version = tuple(sg.info()["version"][:3])
        cls._make_show(sg, c)

    @classmethod
    def _make_show(cls, sg: shotgun_api3.Shotgun, c: Config) -> None:
        cls.project = _find_or_create_entity(sg, "Project", {"name": c.project_name})
        user = {"name": c.human_name, "login": c.human_login, "password_proxy": c.human_password}
        cls.human_user = _find_or_create_entity(sg, "HumanUser", {**user, "locked_until": None}, ["login"])
        cls.asset = _find_or_create_entity(
            sg, "Asset", {"code": c.asset_code, "project": cls.project}, ["code"]
        )
        version = {
            "code": c.version_code,
            "project": cls.project,
            "entity": cls.asset,
            "user": cls.human_user,
            "sg_frames_aspect_ratio": 13.3,
            "frame_count": 33,
        }
        cls.version = _find_or_create_entity(sg, "Version", version, ["code", "project"])
        cls.shot = _find_or_create_entity(
            sg, "Shot", {"code": c.shot_code, "project": cls.project}, ["code", "project"]
        )
        note = {"project": cls.project, "user": cls.human_user, "content": "a note for the client tests"}
        cls.note = _find_or_create_entity(sg, "Note", note, ["project", "user"])
        cls.playlist = _find_or_create_entity(
            sg, "Playlist", {"code": c.playlist_code, "project": cls.project}, ["code", "project"]
        )
        cls.step = _find_or_create_entity(
            sg, "Step", {"code": "client suite step", "entity_type": "Shot"}, ["code", "entity_type"]
        )
        task = {
            "project": cls.project,
            "entity": cls.asset,
            "content": c.task_content,
            "color": "Black",
            "due_date": "1968-10-13",
            "task_assignees": [cls.human_user],
            "sg_status_list": "ip",
        }
        cls.task = _find_or_create_entity(sg, "Task", task, ["project", "entity", "content"])
        storage = {
            "code": "client suite storage",
            "mac_path": "/x",
            "windows_path": "X:\\",
            "linux_path": "/x",
        }
        cls.local_storage = _find_or_create_entity(sg, "LocalStorage", storage, ["code"])

    def setUp(self, auth_mode: str = "ApiUser") -> None:
        super().setUp(auth_mode)

    @contextlib.contextmanager
    def gen_entity(self, entity_type: str, **fields: Any) -> Iterator[dict[str, Any]]:
        """A throw-away entity with a unique name/code (and a login and password for a HumanUser)."""
        unique = f"client-suite-{uuid.uuid4().hex[:12]}"
        if entity_type == "HumanUser":
            data = {"name": unique, "login": unique, "password_proxy": self.config.human_password}
        else:
            known = self.sg.schema_field_read(entity_type)
            name_field = next(f for f in ("code", "name", "content", "title", "subject", "id") if f in known)
            data = {} if name_field == "id" else {name_field: unique}
        data.update(fields)
        made = self.sg.create(entity_type, data)
        try:
            yield made
        finally:
            assert self.sg.delete(entity_type, made["id"]) is True

    def find_one_await_thumbnail(
        self,
        entity_type: str,
        filters: list[Any],
        fields: list[str] | None = None,
        thumbnail_field_name: str = "image",
        **kwargs: Any,
    ) -> Any:
        """find_one, repeated while the thumbnail field still holds the transient placeholder."""
        wanted = fields if fields is not None else ["image"]
        found = self.sg.find_one(entity_type, filters, fields=wanted, **kwargs)
        for _ in range(THUMBNAIL_MAX_ATTEMPTS):
            if TRANSIENT_IMAGE_MARK not in str((found or {}).get(thumbnail_field_name) or ""):
                break
            time.sleep(THUMBNAIL_RETRY_INTERVAL)
            found = self.sg.find_one(entity_type, filters, fields=wanted, **kwargs)
        return found


class HumanUserAuthLiveTestBase(LiveTestBase):
    def setUp(self, auth_mode: str = "HumanUser") -> None:
        super().setUp("HumanUser")


class SessionTokenAuthLiveTestBase(LiveTestBase):
    def setUp(self, auth_mode: str = "SessionToken") -> None:
        super().setUp("SessionToken")
