"""The ShotGrid / Flow Production Tracking adapter, on the real `shotgun_api3.Shotgun` client.

Fix requests and review statuses come from the event log, polled like shotgunEvents, with the whole
reading position in one opaque cursor string (`cursor.Cursor`: the last event id, ids still missing
below it, fix requests still waiting for their kinds).

A first call with cursor None starts after the newest event (a fresh daemon never replays history), or
after `start_event_id` when given; with `backfill` (the default) it also returns, once, every task that
is already waiting in the fix status, keyed by the event that set it, so nothing queued before the first
start is missed and nothing is returned twice. Keys are `shotgrid:event:<id>`.

Every call retries transient failures (connection errors, timeouts, HTTP 5xx) with backoff, then raises
TrackerError; bad credentials and missing fields or statuses raise TrackerFatal with one clear line.
Statuses are the adapter's own options (`TrackerOptions`); fix kinds are the list handed in (`kinds`).

The package: `connection` (client, error mapping), `schema` (fields and statuses), `cursor`, `events`
(reading the log), `fixes`, `reviews`, `writes` (publish, task status, notes), `entities` (plain reads), `setup` (`rushes tracker setup`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

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
from integrations.trackers.flow_webhooks import WebhookEvent
from integrations.trackers.options import TrackerOptions
from integrations.trackers.retry import RetryPolicy
from integrations.trackers.setup import SetupPlan, SetupStep
from integrations.trackers.shotgrid import entities, events, writes
from integrations.trackers.shotgrid.connection import Client, Connection, is_transient
from integrations.trackers.shotgrid.cursor import Cursor
from integrations.trackers.shotgrid.fixes import FixReader
from integrations.trackers.shotgrid.reviews import review_from_event
from integrations.trackers.shotgrid.schema import Schema
from integrations.trackers.shotgrid.setup import set_up

__all__ = ["Cursor", "ShotGridTracker", "is_transient"]


class ShotGridTracker:
    name = "shotgrid"

    def __init__(
        self,
        options: TrackerOptions,
        sg_factory: Callable[[], Client] | None = None,
        *,
        kinds: Sequence[str],
        policy: RetryPolicy | None = None,
        start_event_id: int | None = None,
        backfill: bool = True,
        gap_timeout: float = 300.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.options = options
        self.kinds = tuple(kinds)
        self.start_event_id = start_event_id
        self.backfill = backfill
        self.gap_timeout = gap_timeout
        self._clock = clock
        if policy is None:
            policy = RetryPolicy(attempts=options.call_attempts) if options.call_attempts else RetryPolicy()
        self.conn = Connection(options, sg_factory, policy, sleep)
        self.schema = Schema(self.conn, options)
        self.fixes = FixReader(self.conn, options, self.kinds, clock, gap_timeout)

    # ---- the Tracker protocol ---------------------------------------------------------------------

    def check(self) -> list[CheckResult]:
        """Connect, authenticate, and verify the configured fields and statuses; one result each."""
        once = RetryPolicy(attempts=1)
        try:
            info = self.conn.call("info", lambda sg: sg.info(), once)
            version = ".".join(str(v) for v in (info.get("version") or [])[:3])
            results = [CheckResult("connect", True, f"{self.options.url} (server {version})")]
        except TrackerError as exc:
            return [CheckResult("connect", False, str(exc))]
        try:
            self.conn.call("a project read", lambda sg: sg.find_one("Project", [], ["id"]), once)
            results.append(CheckResult("authenticate", True, f"script '{self.options.script_name}'"))
        except TrackerError as exc:
            return [*results, CheckResult("authenticate", False, str(exc))]
        try:  # how Rushes hears of fix requests and reviews: a script without read access hears nothing
            newest = events.newest_event_id(self.conn, once)
            results.append(CheckResult("event log", True, f"readable (newest event {newest})"))
        except TrackerError as exc:
            refused = str(exc).startswith("ShotGrid refused")  # a Fault: the site said no, not the network
            why = f"{exc}; give the script's permission group read access to the Event Log (EventLogEntry)"
            results.append(CheckResult("event log", False, why if refused else str(exc)))
        self.schema.forget()
        try:
            return results + self.schema.checks()
        except TrackerError as exc:
            return [*results, CheckResult("schema", False, str(exc))]

    def fix_requests_since(self, cursor: str | None, limit: int = 100) -> Batch[FixRequest]:
        self.schema.ensure()
        state, items = cursors.open_batch(
            cursor, Cursor.load, self._start, self.fixes.backfill if self.backfill else None
        )
        items.extend(self.fixes.retry_waiting(state))
        items.extend(self._poll(state, max(0, limit - len(items)), self.fixes.from_event))
        return Batch(items, state.dump())

    def wants_event(self, event: WebhookEvent) -> bool:
        return self.fixes.wants(event)

    def fix_requests_from_events(self, events: Sequence[WebhookEvent]) -> list[FixRequest]:
        """Fix requests of the tasks that webhook events touched, keyed as the poller keys them."""
        self.schema.ensure()
        return self.fixes.from_webhook(events)

    def review_statuses_since(self, cursor: str | None, limit: int = 100) -> Batch[ReviewStatus]:
        self.schema.ensure()
        state, _ = cursors.open_batch(cursor, Cursor.load, self._start)
        items = self._poll(state, limit, lambda event, _: review_from_event(self.conn, self.options, event))
        return Batch(items, state.dump())

    def publish_version(self, spec: VersionSpec) -> Published:
        """Create (or find, by idempotency key) the Version, then finish any upload still missing."""
        self.schema.ensure()
        return writes.publish_version(self.conn, self.options, spec)

    def mark_published(self, task_id: int | str, answered: bool = False, request_key: str = "") -> bool:
        """The task from the fix status (or, `answered`, `failed_status`) to `published_status`; False when it
        was moved on meanwhile, or set to fix again since the request."""
        self.schema.ensure()
        return writes.mark_published(self.conn, self.schema, self.options, task_id, answered, request_key)

    def answer_request(self, answer: RequestAnswer) -> None:
        """A Note on the shot and task saying why the request was not done; the task to `failed_status`."""
        self.schema.ensure()
        writes.answer_request(self.conn, self.schema, self.options, answer)

    def withdrawn(self, task_ids: Sequence[int | str]) -> set[str]:
        """The tasks no longer in the fix status (review included), deleted, or on a shot out of the cut: one find."""
        return writes.withdrawn(self.conn, self.options, task_ids)

    def notify(self, notice: Notice) -> None:
        """A Note on the shot and task (not created again when an identical one is there)."""
        writes.add_note(self.conn, notice.shot_id, notice.task_id, notice.subject, notice.body)

    # ---- beyond the protocol (setup, tests, tools) -------------------------------------------------

    def set_task_status(self, task_id: int | str, status: str) -> None:
        self.schema.ensure()
        writes.set_task_status(self.conn, self.schema, task_id, status)

    def add_note(self, shot_id: int | str, task_id: int | str | None, subject: str, body: str) -> None:
        writes.add_note(self.conn, shot_id, task_id, subject, body)

    def setup(self, plans: Sequence[SetupPlan]) -> list[SetupStep]:
        """`rushes tracker setup`: create the custom fields (and on the local server each show's project,
        shots and tasks); one step per thing, created, existed or missing (see shotgrid.setup)."""
        return set_up(self.conn, self.schema, self.options, plans)

    def ensure_fields(self) -> list[str]:
        """Create the Task fix field and the Version key field (text) where missing; the names created."""
        return self.schema.ensure_fields()

    def find_project(self, code: str) -> Project:
        return entities.find_project(self.conn, code)

    def find_shots(self, project: Project) -> list[Shot]:
        return entities.find_shots(self.conn, project)

    def find_tasks(self, shot_id: int | str) -> list[Task]:
        return entities.find_tasks(self.conn, shot_id)

    # ---- inside -----------------------------------------------------------------------------------

    def _start(self) -> Cursor:
        start = self.start_event_id
        return Cursor(start if start is not None else events.newest_event_id(self.conn))

    def _poll(self, cursor: Cursor, limit: int, handle: events.Handle[events.T]) -> list[events.T]:
        return events.poll(self.conn, cursor, limit, handle, self._clock(), self.gap_timeout)
