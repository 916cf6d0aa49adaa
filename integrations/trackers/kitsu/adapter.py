"""The Kitsu adapter, on `gazu` (the official client of zou, Kitsu's API server).

Kitsu has no Version entity: a coordinator asks for a fix by posting a comment on a shot's task with the
fix status (`tracker.fix_status`, e.g. a status with short name `fix`), the comment text saying which
fixes (`#rushes interpolate frames=1012-1016`, see integrations.trackers.notes). A publish is a comment
with the pending-review status carrying a preview revision (the uploaded movie, which zou transcodes);
the version id handed back is the preview file's id. Supervisors approve or reject by commenting with
an approved / rejected (or any "retake") status on that task.

Both fix requests and review statuses come from zou's event log (`comment:new` events), read forward
with one opaque cursor string (`cursor.Cursor`: the newest event time and the ids seen in an overlap
window). A first call with cursor None starts after the newest event (a fresh daemon never replays
history); for fix requests it also returns, once, every task already waiting in the fix status (its
newest fix comment), so nothing queued before the first start is missed. Keys are
`kitsu:comment:<comment id>`.

Reads retry transient failures (connection errors, timeouts, HTTP 5xx) with backoff, then raise
TrackerError; writes that are not idempotent are tried once (the caller's outbox retries, and a publish
finds its earlier comment by the idempotency key written in it). Bad credentials, a missing status or
a forbidden call raise TrackerFatal with one clear line. Statuses are the adapter's own (`statuses`);
fix kinds are the list handed in (`kinds`).

The package: `connection` (client, login, error mapping), `statuses`, `cursor`, `events` (reading the
log), `fixes`, `reviews`, `markers` (what Rushes writes into comments), `writes`, `entities`, `setup` (`rushes tracker setup`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime

import gazu
from gazu.client import KitsuClient

from integrations.trackers import cursors
from integrations.trackers.base import (
    Batch,
    CheckResult,
    FixRequest,
    Notice,
    Project,
    Published,
    RequestAnswer,
    ReviewStatus,
    Shot,
    Task,
    TrackerError,
    VersionSpec,
)
from integrations.trackers.kitsu import entities, events, writes
from integrations.trackers.kitsu.connection import Connection
from integrations.trackers.kitsu.cursor import Cursor
from integrations.trackers.kitsu.fixes import FixReader, utc_now
from integrations.trackers.kitsu.reviews import ReviewReader
from integrations.trackers.kitsu.setup import STATUS_OPTIONS, set_up
from integrations.trackers.kitsu.statuses import Statuses
from integrations.trackers.options import TrackerOptions
from integrations.trackers.retry import RetryPolicy
from integrations.trackers.setup import SetupPlan, SetupStep

CHECKED_STATUSES = STATUS_OPTIONS  # every status Rushes names: the ones `rushes tracker setup` creates


class KitsuTracker:
    name = "kitsu"

    def __init__(
        self,
        options: TrackerOptions,
        client: KitsuClient | None = None,
        *,
        kinds: Sequence[str],
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = utc_now,
        processing_grace: float | None = None,
    ) -> None:
        """`clock` is naive UTC, compared with zou's event times (kitsu.fixes.PENDING_GRACE); `processing_grace`:
        seconds a publish's preview without its movie is left to zou before its upload is taken as cut
        (`writes.processing_grace` of `tracker.timeout` when None)."""
        self.options = options
        self.kinds = tuple(kinds)
        if processing_grace is None:
            processing_grace = writes.processing_grace(options.timeout)
        self.processing_grace = processing_grace
        self.uploads = writes.Uploads()  # per process: see writes.Uploads
        attempts = options.call_attempts or 4
        policy = policy or RetryPolicy(attempts=attempts, first=0.5, factor=2.0, max_delay=4.0)
        self.conn = Connection(options, client, policy, sleep)
        self.statuses = Statuses(self.conn, options)
        self.fixes = FixReader(self.conn, self.kinds, clock)
        self.reviews = ReviewReader(self.conn, self.statuses)

    # ---- the Tracker protocol ---------------------------------------------------------------------

    def check(self) -> list[CheckResult]:
        """Log in, then verify event-log access and every status this adapter uses; one result each."""
        try:
            self.conn.login()
            user = self.conn.call("the current user", lambda c: gazu.client.get_current_user(client=c))
        except TrackerError as exc:
            return [CheckResult("login", False, str(exc))]
        role = user.get("role", "?")
        results = [
            CheckResult("login", True, f"{self.options.script_name} at {self.options.url} (role {role})")
        ]
        try:
            params = {"limit": 1}
            self.conn.call(
                "the event log", lambda c: gazu.client.get("data/events/last", params=params, client=c)
            )
            results.append(CheckResult("event log", True, "comment events readable"))
        except TrackerError as exc:
            results.append(CheckResult("event log", False, str(exc)))
        for option in CHECKED_STATUSES:
            try:
                self.statuses.of(option)
                results.append(
                    CheckResult(f"status {option}", True, f"'{self.statuses.name_of(option)}' exists")
                )
            except TrackerError as exc:
                results.append(CheckResult(f"status {option}", False, str(exc)))
        return results

    def fix_requests_since(self, cursor: str | None, limit: int = 100) -> Batch[FixRequest]:
        fix = self.statuses.of("fix_status")
        state, items = cursors.open_batch(
            cursor, Cursor.load, self._start, lambda state: self.fixes.backfill(fix, limit, state)
        )
        more = events.poll(
            self.conn, state, max(0, limit - len(items)), lambda e: self.fixes.from_event(fix, e)
        )
        return Batch(items + more, state.dump())

    def review_statuses_since(self, cursor: str | None, limit: int = 100) -> Batch[ReviewStatus]:
        approved, rejected = self.statuses.of("approved_status"), self.statuses.of("rejected_status")
        state, _ = cursors.open_batch(cursor, Cursor.load, self._start)
        items = events.poll(self.conn, state, limit, lambda e: self.reviews.from_event(approved, rejected, e))
        return Batch(items, state.dump())

    def publish_version(self, spec: VersionSpec) -> Published:
        """Post the review comment with the movie as a preview revision; find it again by idempotency key."""
        return writes.publish_version(self.conn, self.statuses, spec, self.processing_grace, self.uploads)

    def mark_published(self, task_id: int | str, answered: bool = False, request_key: str = "") -> bool:
        """The task to `published_status` from the fix status or the publish comment's (or, `answered`,
        `failed_status`); False when it was moved on meanwhile."""
        return writes.mark_published(self.conn, self.statuses, task_id, answered)

    def answer_request(self, answer: RequestAnswer) -> None:
        """One comment on the task saying why the request was not done, in `failed_status` when the task was
        still in the fix status."""
        writes.answer_request(self.conn, self.statuses, answer)

    def withdrawn(self, task_ids: Sequence[int | str]) -> set[str]:
        """The tasks that left the fix status and Rushes' own statuses, were moved to Rushes' review status by a
        person, or were deleted, or whose shot was cancelled (kitsu.writes.withdrawn)."""
        return writes.withdrawn(self.conn, self.statuses, task_ids)

    def notify(self, notice: Notice) -> None:
        """A comment on the task (not posted again when one with the same text is there), its status kept."""
        writes.add_note(self.conn, self.statuses, notice.shot_id, notice.task_id, notice.subject, notice.body)

    # ---- beyond the protocol (setup, tests, tools) -------------------------------------------------

    def set_task_status(self, task_id: int | str, status: str) -> None:
        """A status named by a ShotGrid-style option value (Kitsu's stock name for an option at its default)."""
        writes.move_task(
            self.conn, task_id, self.statuses.named(self.statuses.resolve(status), "published_status")
        )

    def add_note(self, shot_id: int | str, task_id: int | str | None, subject: str, body: str) -> None:
        """A comment on the task (or the shot's first task), keeping the task's status."""
        writes.add_note(self.conn, self.statuses, shot_id, task_id, subject, body)

    def setup(self, plans: Sequence[SetupPlan]) -> list[SetupStep]:
        """`rushes tracker setup`: create the task statuses Rushes uses where missing; report each show's
        project (see kitsu.setup)."""
        return set_up(self, plans)

    def find_project(self, code: str) -> Project:
        return entities.find_project(self.conn, code)

    def find_shots(self, project: Project) -> list[Shot]:
        return entities.find_shots(self.conn, project)

    def find_tasks(self, shot_id: int | str) -> list[Task]:
        return entities.find_tasks(self.conn, self.statuses, shot_id)

    def _start(self) -> Cursor:
        return events.start_cursor(self.conn)
