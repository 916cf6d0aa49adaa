"""The one tracker interface the daemon talks to, and the plain data that crosses it.

Adapters (ShotGrid/Flow, Kitsu, and the in-memory `MemoryTracker` for tests) implement `Tracker`: the five
calls the daemon makes and nothing else. Each adapter is built from `TrackerOptions` and owns its status
names: the daemon never passes a status back in (`publish_version` uses the adapter's pending-review
status, `mark_published` its published status).

Cursors are opaque strings the adapter hands out with each batch; the daemon stores them in its catalog in
the same transaction as the work a batch caused, so a restart neither loses nor repeats an event.

Fix kinds cross this interface as plain strings. The list of known kinds belongs to the engine (its
heads); integrations may not import the engine, so the daemon hands that list to an adapter at
construction (`kinds=`) for reading free text, and validates every `FixRequest.kinds` itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Generic, Literal, Protocol, TypeVar, runtime_checkable

from integrations.trackers.flow_webhooks import WebhookEvent

T = TypeVar("T")


class TrackerError(Exception):
    """A tracker call failed in a way that may pass (outage, 5xx, timeout): retry later."""


class TrackerFatal(TrackerError):
    """A tracker call can never succeed as configured (bad credentials, missing field): one clear line."""


class TrackerLoginRefused(TrackerFatal):
    """The tracker refused the account Rushes works as (a key rotated, a user deactivated, a sign-on proxy's
    401): nothing works until that is mended, so it is said as a fatal one, yet it is no fault of any one
    Version or answer, which waits for the mend as through an outage."""


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
    params: dict[str, str] = field(
        default_factory=dict
    )  # frames=1012-1016, reference=1001, mask=..., factor=2
    note: str | None = None
    requested_at: datetime | None = None
    # The shot's names qualified by its place in the tracker that no other shot of the project goes by, most
    # specific first, which files may be named by where the bare name repeats (Kitsu's SH0010 in every
    # sequence: "EP01_SQ01_SH0010", "SQ01_SH0010"; integrations.trackers.shotnames).
    qualified_codes: tuple[str, ...] = ()
    # The shot's names (its bare code, or a name qualified by its sequence) that another shot of the project
    # goes by too (another sequence's SH010; another episode's SQ010_SH010): dailies by such a name may be
    # either's, so the daemon asks for them named by a qualified code.
    shared_codes: tuple[str, ...] = ()
    # What the coordinator wrote that could not be read, one line each (an unknown kind, a word that is not
    # key=value, no fix named at all): the daemon answers such a request on its task instead of guessing.
    problems: tuple[str, ...] = ()
    # Whether it replaces the requests before it on the same task that Rushes has not started: ShotGrid's is the
    # task's whole fix field, set again; a Kitsu comment may add to the one before it.
    replaces_earlier: bool = False
    # Every name the tracker's project goes by (its code, then its name), so that a show following it by either
    # takes its requests: `rushes tracker check` finds a project by code or name, and so must the requests.
    project_names: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """No fix is named (the problems say why)."""
        return not self.kinds


def project_names(code: object, name: object) -> tuple[str, ...]:
    """Every name a tracker project goes by, its code (where it has one) then its name, each once: a show may
    follow it by either (`FixRequest.project_names`)."""
    return tuple(dict.fromkeys(str(n) for n in (code, name) if n))


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
    # another request waits on the task: the Version must not move the task on (Kitsu's comment keeps its status)
    keep_status: bool = False


@dataclass(frozen=True)
class RequestAnswer:
    """Why a fix request was not done, for the coordinator who made it: a note on its task (`subject`,
    `body`), once per `key`, and the task moved from the fix status to the adapter's `failed_status`, unless
    `keep_status`: another request waits on the task (the coordinator asked again meanwhile), whose status the
    answer must not take (it left the task looking taken back, and the waiting request was dropped)."""

    key: str
    shot_id: int | str
    task_id: int | str | None
    subject: str
    body: str
    keep_status: bool = False
    # The idempotency keys of this request's own Versions (VersionSpec.idempotency_key): a publish of one of them
    # that the tracker then refused may have moved the task already (Kitsu's publish comment sets its status).
    own_versions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Notice:
    """Something the reviewers of a published Version must know (its plate was delivered again since it was
    made): a note on its task (`subject`, `body`), once per `key`; the task's status is left as it is."""

    key: str
    shot_id: int | str
    task_id: int | str | None
    subject: str
    body: str


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
    """What the daemon calls on a tracker. Every call raises TrackerError (may pass: retry later) or
    TrackerFatal (will not pass as configured: one clear line) on failure."""

    name: str  # names the catalog cursors, e.g. "shotgrid" -> "shotgrid:fix"

    def check(self) -> list[CheckResult]:
        """Connect, log in, verify the configured fields and statuses: one result each (never raises)."""
        ...

    def fix_requests_since(self, cursor: str | None, limit: int = 100) -> Batch[FixRequest]:
        """Fix requests after `cursor`; None on a first start (then also the tasks already tagged)."""
        ...

    def review_statuses_since(self, cursor: str | None, limit: int = 100) -> Batch[ReviewStatus]:
        """Approvals and rejections of Versions published by Rushes, after `cursor`."""
        ...

    def publish_version(self, spec: VersionSpec) -> Published:
        """Create the Version in the adapter's pending-review status, or find it by its idempotency key."""
        ...

    def mark_published(self, task_id: int | str, answered: bool = False, request_key: str = "") -> bool:
        """Move the task from the fix status to the adapter's published status (nothing happens when it is
        there already). A task someone moved on while the fix was made (the request withdrawn by hand)
        keeps its status: False then, True when the task is in the published status. `answered`: the
        request was answered as not done before (a job of it retried by hand since), so the task may be in
        `failed_status`, which Rushes set; it moves from there too. `request_key`: the newest request Rushes has
        recorded on the task, where the adapter can tell from it that the task was asked again since (ShotGrid:
        set out of fix and back after that request's event: a request not read yet): it keeps its status then
        too."""
        ...

    def answer_request(self, answer: RequestAnswer) -> None:
        """Tell the coordinator why a request was not done: the note on the task (not posted again when an
        earlier attempt got through), and the task moved to `failed_status` while it is still in the fix
        status (a task someone has moved on since keeps its status)."""
        ...

    def withdrawn(self, task_ids: Sequence[int | str]) -> set[str]:
        """Of these tasks (each with a request Rushes has not started on), those no longer asking for a fix,
        as text ids: someone moved the task out of the statuses a waiting request's task is in (the coordinator
        took the request back: ShotGrid's fix status; Kitsu's and Rushes' own), deleted it, or (where the
        adapter reads it) took its shot out of the cut. One read of the tracker where it can."""
        ...

    def notify(self, notice: Notice) -> None:
        """Post the notice on its task (not again when an earlier attempt got through), status untouched."""
        ...


@runtime_checkable
class WebhookFixes(Protocol):
    """An adapter that also reads fix requests from webhook events (ShotGrid/Flow, and the memory tracker).

    Each request carries the same key the event-log poller gives it (the id of the status change that
    asked for it), so a request read both ways is recorded once by the catalog's request key."""

    name: str

    def wants_event(self, event: WebhookEvent) -> bool:
        """Whether the event may make a fix request (no I/O: the receiver asks it for every event)."""
        ...

    def fix_requests_from_events(self, events: Sequence[WebhookEvent]) -> list[FixRequest]:
        """The fix requests these events make now (each key once); raises TrackerError like the others."""
        ...
