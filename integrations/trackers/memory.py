"""An in-memory tracker for unit tests of the daemon's stages, like httpx's MockTransport.

`MemoryTracker` implements the `Tracker` protocol on plain data: tasks on shots, two append-only event
logs (fix requests, review decisions), published Versions keyed by idempotency key. Tests drive it with
helper methods the way a coordinator or supervisor drives a real tracker, and read its state back:

    tracker = MemoryTracker()
    task = tracker.add_task("DEMO", "SH010")                       # a comp task on shot SH010
    tracker.tag(task, "interpolate", frames="1012-1016")           # coordinator asks for a fix
    batch = tracker.fix_requests_since(None)                       # what the daemon's poller reads
    assert batch.items[0].kinds == ("interpolate",)
    published = tracker.publish_version(spec)                      # what the publish stage does
    tracker.approve(published.version_id, "looks good")            # supervisor's verdict
    tracker.fail_next()                                            # the next call: an outage
    tracker.fail_next(fatal=True, message="bad key")               # or a failure that will not pass
    tracker.versions[spec.idempotency_key].status                  # "rev" (options.version_status)
    tracker.tasks[task].status                                     # "rev" after mark_published
    tracker.answers[key].body                                      # why a request was not done

Guarantees, the same as the real adapters give: a cursor returned with a batch, passed back, yields only
later events (it is the index in the event log, as an opaque string); a first call (cursor None) returns
every fix request made so far, as a backfill of tasks tagged before the daemon started; a webhook event
whose id is a request's place in the fix log (1, 2...) on that request's task reads that request; a second publish
with the same idempotency key returns the first Version with `created=False`. Kinds are passed through as
given, unvalidated, so tests can check the daemon's own validation. Safe to share between threads.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from integrations.trackers.base import (
    Batch,
    CheckResult,
    FixRequest,
    Notice,
    Published,
    RequestAnswer,
    ReviewStatus,
    TrackerError,
    TrackerFatal,
    TrackerLoginRefused,
    VersionSpec,
)
from integrations.trackers.flow_webhooks import WebhookEvent
from integrations.trackers.options import TrackerOptions

T = TypeVar("T")


@dataclass
class MemoryTask:
    id: int
    project: str
    shot_id: int
    shot_code: str
    name: str
    status: str


@dataclass
class MemoryVersion:
    id: int
    spec: VersionSpec
    status: str  # the adapter's version_status until approved/rejected
    note: str | None = None


@dataclass(frozen=True)
class _Failure:
    kind: type[TrackerError]
    message: str
    only: str | None  # the protocol method to fail, or None for any


class MemoryTracker:
    """The `Tracker` protocol on plain data, with helpers for tests (see the module docstring)."""

    def __init__(
        self, options: TrackerOptions | None = None, *, name: str = "memory", comments: bool = False
    ) -> None:
        """`comments`: each request is a comment of its own that may add to the one before, as on Kitsu (else the
        task's whole request, set again, as ShotGrid's fix field: FixRequest.replaces_earlier)."""
        self.name = name
        self.options = options or TrackerOptions()
        self.comments = comments
        self.tasks: dict[int, MemoryTask] = {}
        self.versions: dict[str, MemoryVersion] = {}  # by idempotency key
        self.fix_log: list[FixRequest] = []
        self.review_log: list[ReviewStatus] = []
        self.answers: dict[str, RequestAnswer] = {}  # notes on tasks of requests not done, by key
        self.notices: dict[str, Notice] = {}  # notes for the reviewers of published Versions, by key
        self.calls: list[str] = []  # protocol calls made, in order (failed ones included)
        self.check_results: list[CheckResult] = [CheckResult("connect", True, "in memory")]
        self._shots: dict[tuple[str, str], int] = {}
        self._failures: list[_Failure] = []
        self._next_id = 1
        self._lock = threading.RLock()

    # ---- helpers for tests ------------------------------------------------------------------------

    def add_task(self, project: str, shot_code: str, name: str = "comp", status: str = "wtg") -> int:
        """A task on the shot (created on first use); its id."""
        with self._lock:
            shot_id = self._shots.setdefault((project, shot_code), self._new_id())
            task = MemoryTask(self._new_id(), project, shot_id, shot_code, name, status)
            self.tasks[task.id] = task
            return task.id

    def tag(
        self,
        task_id: int,
        *kinds: str,
        note: str | None = None,
        problems: tuple[str, ...] = (),
        **params: str,
    ) -> FixRequest:
        """A coordinator sets the task to the fix status asking for `kinds` (with `problems`: text that could
        not be read); the request the poller will see."""
        with self._lock:
            task = self.tasks[task_id]
            task.status = self.options.fix_status
            request = FixRequest(
                key=f"{self.name}:event:{len(self.fix_log) + 1}",
                project=task.project,
                shot_id=task.shot_id,
                shot_code=task.shot_code,
                task_id=task.id,
                kinds=tuple(kinds),
                params=dict(params),
                note=note,
                requested_at=datetime.now(UTC),
                problems=problems,
                replaces_earlier=not self.comments,
            )
            self.fix_log.append(request)
            return request

    def approve(self, version_id: int | str, note: str | None = None) -> ReviewStatus:
        """A supervisor approves a published Version (by id)."""
        return self._review(version_id, "approved", note)

    def reject(self, version_id: int | str, note: str | None = None) -> ReviewStatus:
        """A supervisor rejects a published Version (by id), usually with a note saying why."""
        return self._review(version_id, "rejected", note)

    def fail_next(
        self,
        times: int = 1,
        *,
        fatal: bool = False,
        message: str = "",
        only: str | None = None,
        login: bool = False,
    ) -> None:
        """The next `times` protocol calls (or calls of method `only`) raise TrackerError, or TrackerFatal, or
        (`login`) TrackerLoginRefused."""
        text = message or (
            "the tracker refused the call" if fatal or login else "the tracker is not answering"
        )
        kind = TrackerLoginRefused if login else TrackerFatal if fatal else TrackerError
        with self._lock:
            self._failures.extend(_Failure(kind, text, only) for _ in range(times))

    def version_by_id(self, version_id: int | str) -> MemoryVersion:
        with self._lock:
            found = next((v for v in self.versions.values() if str(v.id) == str(version_id)), None)
        if found is None:
            raise KeyError(f"no Version {version_id} was published to this tracker")
        return found

    # ---- the Tracker protocol ---------------------------------------------------------------------

    def check(self) -> list[CheckResult]:
        try:
            self._enter("check")
        except TrackerError as exc:
            return [CheckResult("connect", False, str(exc))]
        return list(self.check_results)

    def fix_requests_since(self, cursor: str | None, limit: int = 100) -> Batch[FixRequest]:
        self._enter("fix_requests_since")
        with self._lock:
            return _page(self.fix_log, cursor, limit)

    def wants_event(self, event: WebhookEvent) -> bool:
        return event.entity_type == "Task" and event.operation == "update"

    def fix_requests_from_events(self, events: Sequence[WebhookEvent]) -> list[FixRequest]:
        """A webhook event's id is the request's place in the fix log (its key `memory:event:<id>`)."""
        self._enter("fix_requests_from_events")
        found: dict[str, FixRequest] = {}
        with self._lock:
            for event in events:
                n = event.event_id
                request = self.fix_log[n - 1] if 0 < n <= len(self.fix_log) else None
                if request is not None and event.entity is not None and request.task_id == event.entity.id:
                    found.setdefault(request.key, request)
        return list(found.values())

    def review_statuses_since(self, cursor: str | None, limit: int = 100) -> Batch[ReviewStatus]:
        self._enter("review_statuses_since")
        with self._lock:
            return _page(self.review_log, cursor, limit)

    def publish_version(self, spec: VersionSpec) -> Published:
        self._enter("publish_version")
        with self._lock:
            found = self.versions.get(spec.idempotency_key)
            if found is not None:
                return Published(found.id, created=False)
            version = MemoryVersion(self._new_id(), spec, self.options.version_status)
            self.versions[spec.idempotency_key] = version
            return Published(version.id, created=True)

    def mark_published(self, task_id: int | str, answered: bool = False, request_key: str = "") -> bool:
        self._enter("mark_published")
        with self._lock:
            task = self.tasks.get(int(task_id))
            if task is None:
                raise TrackerFatal(
                    f"the tracker has no task {task_id}: it was deleted or the catalog is stale"
                )
            ours = {self.options.fix_status, self.options.published_status}
            if task.status not in ours | ({self.options.failed_status} if answered else set()):
                return False  # withdrawn while the fix was made: the coordinator's status stands
            task.status = self.options.published_status
            return True

    def withdrawn(self, task_ids: Sequence[int | str]) -> set[str]:
        self._enter("withdrawn")
        with self._lock:
            ours = {self.options.fix_status, self.options.published_status}
            return {
                str(t)
                for t in task_ids
                if (task := self.tasks.get(int(t))) is None or task.status not in ours
            }

    def answer_request(self, answer: RequestAnswer) -> None:
        self._enter("answer_request")
        with self._lock:
            task = self.tasks.get(int(answer.task_id)) if answer.task_id is not None else None
            self.answers.setdefault(answer.key, answer)
            if task is not None and task.status == self.options.fix_status and not answer.keep_status:
                task.status = self.options.failed_status

    def notify(self, notice: Notice) -> None:
        self._enter("notify")
        with self._lock:
            self.notices.setdefault(notice.key, notice)

    # ---- inside -----------------------------------------------------------------------------------

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _enter(self, method: str) -> None:
        with self._lock:
            self.calls.append(method)
            failure = next((f for f in self._failures if f.only in (None, method)), None)
            if failure is None:
                return
            self._failures.remove(failure)
        raise failure.kind(failure.message)

    def _review(self, version_id: int | str, verdict: str, note: str | None) -> ReviewStatus:
        version = self.version_by_id(version_id)
        status = self.options.approved_status if verdict == "approved" else self.options.rejected_status
        review = ReviewStatus(
            version_id=version.id,
            status="approved" if verdict == "approved" else "rejected",
            note=note,
            idempotency_key=version.spec.idempotency_key,
            at=datetime.now(UTC),
        )
        with self._lock:
            version.status, version.note = status, note
            self.review_log.append(review)
        return review


def _page(log: list[T], cursor: str | None, limit: int) -> Batch[T]:
    """Up to `limit` entries after `cursor` (an index into the log, as text) and the cursor after them."""
    start = 0
    if cursor is not None:
        if not cursor.isdigit():
            raise TrackerFatal(f"cursor {cursor[:60]!r} was not written by the memory tracker: reset it")
        start = int(cursor)
    items = log[start : start + limit]
    return Batch(list(items), str(start + len(items)))
