"""The one tracker interface the daemon talks to, and the plain data that crosses it.

Adapters (ShotGrid/Flow, Kitsu) implement `Tracker`. Cursors are opaque strings the adapter hands out
with each batch; the daemon stores them in its catalog in the same transaction as the work a batch
caused, so a restart neither loses nor repeats an event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Generic, Literal, Protocol, TypeVar

FIX_KINDS = ("interpolate", "regrade", "denoise", "upscale", "cleanup")

T = TypeVar("T")


class TrackerError(Exception):
    """A tracker call failed in a way that may pass (outage, 5xx, timeout): retry later."""


class TrackerFatal(TrackerError):
    """A tracker call can never succeed as configured (bad credentials, missing field): one clear line."""


@dataclass(frozen=True)
class Project:
    id: int | str
    code: str
    name: str


@dataclass(frozen=True)
class Shot:
    id: int | str
    code: str
    project_id: int | str


@dataclass(frozen=True)
class Task:
    id: int | str
    name: str
    shot_id: int | str
    status: str


@dataclass(frozen=True)
class FixRequest:
    """A coordinator asked for fixes on a shot's task."""

    key: str  # stable and unique per request, e.g. "shotgrid:event:1234"
    project: str
    shot_id: int | str
    shot_code: str
    task_id: int | str
    kinds: tuple[str, ...]
    params: dict[str, str] = field(default_factory=dict)  # frames=1012-1016, reference=1001, mask=..., factor=2
    note: str | None = None
    requested_at: datetime | None = None


@dataclass(frozen=True)
class VersionSpec:
    """What to publish; `idempotency_key` makes a second publish of the same spec a no-op."""

    idempotency_key: str
    project: str
    shot_id: int | str
    task_id: int | str | None
    code: str
    description: str
    movie_path: Path
    first_frame: int
    last_frame: int
    frames_path: str | None = None
    thumbnail_path: Path | None = None
    attachments: tuple[Path, ...] = ()  # before/after movie, .cube, .otio
    status: str | None = None  # defaults to the adapter's "pending review" status


@dataclass(frozen=True)
class Published:
    version_id: int | str
    created: bool  # False when the idempotency key already had a Version


@dataclass(frozen=True)
class ReviewStatus:
    version_id: int | str
    status: Literal["approved", "rejected", "pending"]
    note: str | None
    idempotency_key: str | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class Batch(Generic[T]):
    items: list[T]
    cursor: str | None  # persist this after handling `items`; pass it back next time


@dataclass(frozen=True)
class CheckResult:
    what: str
    ok: bool
    detail: str = ""


class Tracker(Protocol):
    name: str

    def check(self) -> list[CheckResult]: ...

    def find_project(self, code: str) -> Project: ...

    def find_shots(self, project: Project) -> list[Shot]: ...

    def find_tasks(self, shot_id: int | str) -> list[Task]: ...

    def fix_requests_since(self, cursor: str | None, limit: int = 100) -> Batch[FixRequest]: ...

    def publish_version(self, spec: VersionSpec) -> Published: ...

    def set_task_status(self, task_id: int | str, status: str) -> None: ...

    def add_note(self, shot_id: int | str, task_id: int | str | None, subject: str, body: str) -> None: ...

    def review_statuses_since(self, cursor: str | None, limit: int = 100) -> Batch[ReviewStatus]: ...
