"""Helpers for the ShotGrid tests: a local server on a random port, the real client, a small show."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shotgun_api3
from pydantic import SecretStr

from integrations.trackers.base import VersionSpec
from integrations.trackers.options import TrackerOptions
from integrations.trackers.retry import RetryPolicy
from integrations.trackers.sgserver import SGServer, start_in_thread

SCRIPT = "rushes-test"
KEY = "s3cret-test-key"
# The engine owns the list of fix kinds (its heads); the adapters are handed it, as the daemon does.
KINDS = ("interpolate", "regrade", "denoise", "upscale", "cleanup")
FAST = RetryPolicy(attempts=10, first=0.05, factor=2.0, max_delay=0.4)


def running_server(data_dir: Path, page_size: int = 500) -> SGServer:
    return start_in_thread(data_dir, SCRIPT, KEY, page_size=page_size)


def client(server: SGServer, key: str = KEY, script: str = SCRIPT) -> shotgun_api3.Shotgun:
    sg = shotgun_api3.Shotgun(server.url, script, key)
    sg.config.timeout_secs = 5
    return sg


def options(server: SGServer, **overrides: Any) -> TrackerOptions:
    values: dict[str, Any] = {
        "kind": "shotgrid",
        "url": server.url,
        "script_name": SCRIPT,
        "script_key": SecretStr(KEY),
        "timeout": 5.0,
    }
    values.update(overrides)
    return TrackerOptions(**values)


@dataclass
class Show:
    project: dict[str, Any]
    sequence: dict[str, Any]
    shots: list[dict[str, Any]]
    tasks: list[dict[str, Any]]  # one comp task per shot


def make_show(
    sg: shotgun_api3.Shotgun, code: str = "DEMO", shots: int = 3, fix_field_type: str = "text"
) -> Show:
    """A project with one sequence, `shots` shots with a comp task each, and the Rushes custom fields."""
    existing = sg.schema_field_read("Task")
    if "sg_rushes_fixes" not in existing:
        sg.schema_field_create(
            "Task",
            fix_field_type,
            "Rushes Fixes",
            {"valid_values": ["interpolate", "regrade", "denoise"]} if fix_field_type == "list" else None,
        )
    if "sg_rushes_key" not in sg.schema_field_read("Version"):
        sg.schema_field_create("Version", "text", "Rushes Key")
    project = sg.create("Project", {"name": f"{code} show", "code": code})
    sequence = sg.create("Sequence", {"code": "SQ010", "project": project})
    made_shots, tasks = [], []
    for n in range(shots):
        shot = sg.create(
            "Shot", {"code": f"SQ010_{(n + 1) * 10:04d}", "project": project, "sg_sequence": sequence}
        )
        made_shots.append(shot)
        tasks.append(sg.create("Task", {"content": "comp", "entity": shot, "project": project}))
    return Show(project, sequence, made_shots, tasks)


def spec(tmp_path: Path, show: Show, key: str = "fix-1", size: int = 200_000) -> VersionSpec:
    movie = tmp_path / "SQ010_0010_fix_v001.mp4"
    movie.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(n % 251 for n in range(size)))
    return VersionSpec(
        idempotency_key=key,
        project="DEMO",
        shot_id=show.shots[0]["id"],
        task_id=show.tasks[0]["id"],
        code="SQ010_0010_rushes_v001",
        description="denoise",
        movie_path=movie,
        first_frame=1001,
        last_frame=1048,
    )


def versions(sg: shotgun_api3.Shotgun, key: str = "fix-1") -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = sg.find("Version", [["sg_rushes_key", "is", key]], ["sg_uploaded_movie"])
    return found


def attachments(sg: shotgun_api3.Shotgun, version_id: int) -> list[dict[str, Any]]:
    link = {"type": "Version", "id": version_id}
    found: list[dict[str, Any]] = sg.find("Attachment", [["attachment_links", "is", link]], ["filename"])
    return found
