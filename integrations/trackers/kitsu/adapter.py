"""The Kitsu adapter, on `gazu` (the official client of zou, Kitsu's API server).

Kitsu has no Version entity: a coordinator asks for a fix by posting a comment on a shot's task with the
fix status (`tracker.fix_status`, e.g. a status with short name `fix`), the comment text saying which
fixes (`#rushes interpolate frames=1012-1016`, see integrations.trackers.notes). A publish is a comment
with the pending-review status carrying a preview revision (the uploaded movie, which zou transcodes);
the version id handed back is the preview file's id. Supervisors approve or reject by commenting with
an approved / rejected (or any "retake") status on that task.

Both fix requests and review statuses come from zou's event log (`comment:new` events), read forward
with one opaque cursor string (JSON):

    {"after": "2026-01-05T13:23:10", "seen": [["<event id>", "2026-01-05T13:23:09"], ...]}

zou stamps events to the second and an event may commit a moment after a later one, so each poll asks
again for the last OVERLAP seconds and skips the event ids already in `seen` (pruned to that window).
A first call with cursor None starts after the newest event (a fresh daemon never replays history); for
fix requests it also returns, once, every task already waiting in the fix status (its newest fix comment),
so nothing queued before the first start is missed. Keys are `kitsu:comment:<comment id>`.

Reads retry transient failures (connection errors, timeouts, HTTP 5xx) with backoff, then raise
TrackerError; writes that are not idempotent are tried once (the caller's outbox retries, and a publish
finds its earlier comment by the idempotency key written in it). Bad credentials, a missing status or
a forbidden call raise TrackerFatal with one clear line.

Statuses: Kitsu's stock short names are used for the options left at their (ShotGrid) defaults:
version_status and published_status -> "wfa", approved_status -> "approved", rejected_status -> "rejected".
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import gazu
import requests
import structlog
from gazu.client import KitsuClient
from gazu.exception import (
    AuthFailedException,
    GazuException,
    NotAllowedException,
    NotAuthenticatedException,
    RouteNotFoundException,
    ServerErrorException,
)
from requests.adapters import HTTPAdapter

from integrations.trackers import notes
from integrations.trackers.base import (
    Batch,
    CheckResult,
    FixRequest,
    Project,
    Published,
    ReviewStatus,
    Shot,
    Task,
    TrackerError,
    TrackerFatal,
    VersionSpec,
)
from integrations.trackers.options import TrackerOptions
from integrations.trackers.retry import RetriesExhausted, RetryPolicy, retry
from integrations.trackers.setup import SetupPlan, SetupStep

T = TypeVar("T")
Entity = dict[str, Any]
LOG = structlog.get_logger(__name__)

COMMENT_EVENT = "comment:new"
EVENT_PAGE = 1000  # zou's cap on one events call
OVERLAP = timedelta(seconds=30)
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
KEY_LINE = "rushes-key:"
NOTE_TAG = "_rushes-note_"
KEY_PATTERN = re.compile(rf"^\s*{re.escape(KEY_LINE)}\s*(\S.*?)\s*$", re.MULTILINE)
KITSU_STATUS_DEFAULTS = {
    "version_status": "wfa",
    "published_status": "wfa",
    "approved_status": "approved",
    "rejected_status": "rejected",
}
UPLOAD_TIMEOUT = 600.0  # seconds: zou transcodes the movie inside the upload request


# ---- the reading position ------------------------------------------------------------------------


def _parse_time(value: Any) -> datetime:
    """zou's naive UTC timestamps ("2026-01-05T13:23:10", maybe with fractions) as naive datetimes."""
    return datetime.fromisoformat(str(value)).replace(tzinfo=None, microsecond=0)


def _format_time(value: datetime) -> str:
    return value.strftime(TIME_FORMAT)


@dataclass
class Cursor:
    after: datetime | None = None  # the newest event time handled
    seen: dict[str, datetime] = field(default_factory=dict)  # ids handled within OVERLAP of `after`

    def dump(self) -> str:
        data = {
            "after": _format_time(self.after) if self.after else None,
            "seen": [[key, _format_time(at)] for key, at in sorted(self.seen.items(), key=lambda i: i[1])],
        }
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def load(cls, text: str) -> Cursor:
        try:
            data = json.loads(text)
            after = _parse_time(data["after"]) if data.get("after") else None
            seen = {str(key): _parse_time(at) for key, at in data.get("seen", [])}
        except (ValueError, TypeError, KeyError) as exc:
            raise TrackerFatal(
                f"the stored Kitsu cursor {text[:60]!r} was not written by this adapter: clear the tracker cursor"
            ) from exc
        return cls(after, seen)

    def query_after(self) -> datetime | None:
        return self.after - OVERLAP if self.after else None

    def mark(self, key: str, at: datetime) -> None:
        self.seen[key] = at
        if self.after is None or at > self.after:
            self.after = at

    def prune(self) -> None:
        if self.after is not None:
            floor = self.after - OVERLAP
            self.seen = {key: at for key, at in self.seen.items() if at >= floor}


# ---- transport -----------------------------------------------------------------------------------


class ServiceUnavailable(requests.RequestException):
    """HTTP 502/503/504 from Kitsu or a proxy in front of it (gazu itself only maps 500 and 502)."""


class _TimeoutAdapter(HTTPAdapter):
    """Gives every request a timeout (gazu sets none), read from the tracker at send time."""

    def __init__(self, timeout: Callable[[], float]) -> None:
        super().__init__()
        self._timeout = timeout

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout()
        return super().send(request, *args, **kwargs)


def _raise_unavailable(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    if response.status_code in (502, 503, 504):
        raise ServiceUnavailable(f"HTTP {response.status_code} from {response.url}", response=response)


def is_transient(exc: BaseException) -> bool:
    """Connection errors, timeouts, HTTP 5xx and unreadable answers may pass; everything else will not."""
    return isinstance(exc, requests.RequestException | ServerErrorException | ValueError)


def _key_of(text: str | None) -> str | None:
    found = KEY_PATTERN.search(text or "")
    return found.group(1) if found else None


def _version_text(spec: VersionSpec) -> str:
    lines = [f"**{spec.code}**", "", spec.description.strip(), ""]
    lines.append(f"frames {spec.first_frame}-{spec.last_frame}")
    if spec.frames_path:
        lines.append(f"frames path: {spec.frames_path}")
    lines.append(f"movie: {spec.movie_path.name}")
    lines.append(f"{KEY_LINE} {spec.idempotency_key}")
    return "\n".join(lines)


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
    ) -> None:
        self.options = options
        self.kinds = tuple(kinds)
        self.policy = policy or RetryPolicy(attempts=4, first=0.5, factor=2.0, max_delay=4.0)
        self._sleep = sleep
        self._timeout = options.timeout
        self._client = client
        self._logged_in = client is not None and bool(client.access_token)
        self._statuses: dict[str, Entity] = {}

    # ---- connection and calls ---------------------------------------------------------------------

    def _status_option(self, name: str) -> str:
        """An option's status short name; Kitsu's stock name when the option kept its ShotGrid default."""
        if name in KITSU_STATUS_DEFAULTS and name not in self.options.model_fields_set:
            return KITSU_STATUS_DEFAULTS[name]
        return str(getattr(self.options, name))

    @property
    def client(self) -> KitsuClient:
        if self._client is None:
            url = self.options.url.rstrip("/")
            if not url.startswith(("http://", "https://")):
                raise TrackerFatal(
                    f"tracker.url {self.options.url!r} is not an http(s) URL: set it to the Kitsu API URL, "
                    "e.g. https://kitsu.studio.com/api"
                )
            self._client = KitsuClient(url, use_refresh_token=True)
        if not getattr(self._client.session, "_rushes_wired", False):
            adapter = _TimeoutAdapter(lambda: self._timeout)
            self._client.session.mount("http://", adapter)
            self._client.session.mount("https://", adapter)
            self._client.session.hooks["response"].append(_raise_unavailable)
            self._client.session._rushes_wired = True  # type: ignore[attr-defined]
        return self._client

    def _login(self) -> None:
        email = self.options.script_name
        password = self.options.script_key.get_secret_value() if self.options.script_key else ""
        if not email or not password:
            raise TrackerFatal(
                "the Kitsu login is not set: set tracker.script_name (login e-mail) and "
                "RUSHES_TRACKER__SCRIPT_KEY (password)"
            )
        client = self.client

        def log_in() -> None:
            gazu.log_in(email, password, client=client)

        try:
            retry(log_in, self.policy, is_transient, self._sleep, self._on_retry("login"))
        except AuthFailedException as exc:
            raise TrackerFatal(
                f"Kitsu at {self.options.url} refused the login of {email}: check tracker.script_name "
                "(login e-mail) and RUSHES_TRACKER__SCRIPT_KEY (password)"
            ) from exc
        except RouteNotFoundException as exc:
            raise TrackerFatal(
                f"no Kitsu API at {self.options.url}: set tracker.url to the API URL, which ends in /api"
            ) from exc
        except RetriesExhausted as exc:
            raise self._unreachable("login", exc) from exc
        self._logged_in = True

    def _on_retry(self, what: str) -> Callable[[int, BaseException, float], None]:
        def on_retry(attempt: int, exc: BaseException, wait: float) -> None:
            LOG.warning("kitsu call failed, retrying", what=what, attempt=attempt, wait=wait, error=str(exc))

        return on_retry

    def _unreachable(self, what: str, exc: RetriesExhausted) -> TrackerError:
        return TrackerError(
            f"Kitsu at {self.options.url} did not answer {what} after {exc.attempts} attempts "
            f"({type(exc.last).__name__}: {exc.last}); will retry later"
        )

    def _call(self, what: str, fn: Callable[[KitsuClient], T], *, idempotent: bool = True) -> T:
        """Run one gazu call: log in first, again once if the session expired; map errors to ours."""
        if not self._logged_in:
            self._login()

        def attempt() -> T:
            try:
                return fn(self.client)
            except NotAuthenticatedException:
                self._login()
                return fn(self.client)

        policy = self.policy if idempotent else RetryPolicy(attempts=1)
        try:
            return retry(attempt, policy, is_transient, self._sleep, self._on_retry(what))
        except RetriesExhausted as exc:
            raise self._unreachable(what, exc) from exc
        except NotAllowedException as exc:
            raise TrackerFatal(
                f"Kitsu user {self.options.script_name} may not read or write {what}: "
                "give it the Manager (or Admin) role"
            ) from exc
        except RouteNotFoundException as exc:
            raise TrackerFatal(f"Kitsu has no {what} (HTTP 404 at {self.options.url})") from exc
        except GazuException as exc:
            raise TrackerFatal(f"Kitsu refused {what}: {type(exc).__name__}: {exc}") from exc

    def _get_or_none(self, what: str, fn: Callable[[KitsuClient], Entity]) -> Entity | None:
        """A read of one entity that may have been deleted meanwhile (None then)."""

        def read(client: KitsuClient) -> Entity | None:
            try:
                return fn(client)
            except RouteNotFoundException:
                return None

        return self._call(what, read)

    # ---- statuses ---------------------------------------------------------------------------------

    def _load_statuses(self) -> None:
        rows = self._call("task statuses", lambda c: gazu.task.all_task_statuses(client=c))
        self._statuses = {str(r["short_name"]).lower(): r for r in rows if r.get("short_name")}
        self._statuses.update({str(r["id"]): r for r in rows})

    def _status(self, short_name: str, option: str | None = None) -> Entity:
        """The task status with this short name (case-insensitive), or TrackerFatal naming what to create."""
        key = short_name.lower()
        if key not in self._statuses:
            self._load_statuses()
        if key not in self._statuses:
            hint = f" or set tracker.{option}" if option else ""
            raise TrackerFatal(
                f"Kitsu has no task status with short name '{short_name}': create it in Kitsu "
                f"(Settings > Task Statuses){hint}"
            )
        return self._statuses[key]

    def _status_by_id(self, status_id: str | None) -> Entity | None:
        if status_id is None:
            return None
        if status_id not in self._statuses:
            self._load_statuses()
        return self._statuses.get(status_id)

    def _resolve_status_name(self, status: str) -> str:
        """A status the daemon names by option value: Kitsu's stock name when that option kept its default."""
        for option, kitsu_name in KITSU_STATUS_DEFAULTS.items():
            if option not in self.options.model_fields_set and status == getattr(self.options, option):
                return kitsu_name
        return status

    # ---- setup (`rushes tracker setup`, see kitsu.setup) -------------------------------------------

    def setup(self, plans: Sequence[SetupPlan]) -> list[SetupStep]:
        """Create the task statuses Rushes uses where missing; report each show's project."""
        from integrations.trackers.kitsu.setup import set_up

        return set_up(self, plans)

    def status_option(self, name: str) -> str:
        return self._status_option(name)

    def load_statuses(self) -> None:
        self._load_statuses()

    def has_status(self, short_name: str) -> bool:
        return short_name.lower() in self._statuses

    def call(self, what: str, fn: Callable[[KitsuClient], T], *, idempotent: bool = True) -> T:
        return self._call(what, fn, idempotent=idempotent)

    # ---- check ------------------------------------------------------------------------------------

    def check(self) -> list[CheckResult]:
        """Log in, then verify event-log access and every status this adapter uses; one result each."""
        try:
            self._login()
            user = self._call("the current user", lambda c: gazu.client.get_current_user(client=c))
        except TrackerError as exc:
            return [CheckResult("login", False, str(exc))]
        role = user.get("role", "?")
        results = [
            CheckResult("login", True, f"{self.options.script_name} at {self.options.url} (role {role})")
        ]
        try:
            self._call(
                "the event log", lambda c: gazu.client.get("data/events/last", params={"limit": 1}, client=c)
            )
            results.append(CheckResult("event log", True, "comment events readable"))
        except TrackerError as exc:
            results.append(CheckResult("event log", False, str(exc)))
        for option in ("fix_status", "version_status", "approved_status", "rejected_status"):
            short_name = self._status_option(option)
            try:
                self._status(short_name, option)
                results.append(CheckResult(f"status {option}", True, f"'{short_name}' exists"))
            except TrackerError as exc:
                results.append(CheckResult(f"status {option}", False, str(exc)))
        return results

    # ---- projects, shots, tasks -------------------------------------------------------------------

    def find_project(self, code: str) -> Project:
        rows = self._call("projects", lambda c: gazu.project.all_open_projects(client=c))
        for row in rows:
            if code.lower() in {str(row.get("code") or "").lower(), str(row.get("name") or "").lower()}:
                return Project(row["id"], row.get("code") or row.get("name") or code, row.get("name") or "")
        raise TrackerFatal(
            f"Kitsu has no open project with code or name '{code}': create it or fix tracker_project"
        )

    def find_shots(self, project: Project) -> list[Shot]:
        rows = self._call("shots", lambda c: gazu.shot.all_shots_for_project(str(project.id), client=c))
        return sorted((Shot(r["id"], r.get("name") or "", project.id) for r in rows), key=lambda s: s.code)

    def find_tasks(self, shot_id: int | str) -> list[Task]:
        rows = self._call("tasks", lambda c: gazu.task.all_tasks_for_shot(str(shot_id), client=c))
        tasks = []
        for row in rows:
            status = self._status_by_id(row.get("task_status_id")) or {}
            name = row.get("task_type_name") or row.get("name") or ""
            tasks.append(Task(row["id"], str(name), shot_id, str(status.get("short_name") or "")))
        return tasks

    # ---- event polling ----------------------------------------------------------------------------

    def _comment_events(self, after: datetime | None) -> list[Entity]:
        """Every `comment:new` event after `after` (all when None), oldest first."""
        params: dict[str, Any] = {"name": COMMENT_EVENT, "limit": EVENT_PAGE}
        if after is not None:
            params["after"] = _format_time(after)
        events: list[Entity] = []
        while True:
            page = self._events_page(dict(params))
            events.extend(page)
            if len(page) < EVENT_PAGE:
                break
            params["cursor_event_id"] = page[-1]["id"]  # zou pages from the newest back
        return list(reversed(events))

    def _events_page(self, params: dict[str, Any]) -> list[Entity]:
        rows: list[Entity] = self._call(
            "the event log", lambda c: gazu.client.get("data/events/last", params=params, client=c)
        )
        return rows

    def _comments(self, task_id: str) -> list[Entity]:
        """The task's comments, newest first."""
        rows: list[Entity] = self._call(
            f"the comments of task {task_id}", lambda c: gazu.task.all_comments_for_task(task_id, client=c)
        )
        return rows

    def _start_cursor(self) -> Cursor:
        """A cursor after the newest comment event, with the overlap window already seen."""
        newest = self._call(
            "the event log",
            lambda c: gazu.client.get(
                "data/events/last", params={"name": COMMENT_EVENT, "limit": 1}, client=c
            ),
        )
        cursor = Cursor()
        if newest:
            cursor.after = _parse_time(newest[0]["created_at"])
            for event in self._comment_events(cursor.query_after()):
                cursor.mark(str(event["id"]), _parse_time(event["created_at"]))
        return cursor

    def _poll(self, cursor: Cursor, limit: int, handle: Callable[[Entity], T | None]) -> list[T]:
        items: list[T] = []
        for event in self._comment_events(cursor.query_after()):
            comment_id = str((event.get("data") or {}).get("comment_id") or "")
            if str(event["id"]) in cursor.seen or comment_id in cursor.seen:
                continue
            if len(items) >= limit:
                break
            item = handle(event)
            if item is not None:
                items.append(item)
            cursor.mark(str(event["id"]), _parse_time(event["created_at"]))
        cursor.prune()
        return items

    # ---- fix requests -----------------------------------------------------------------------------

    def fix_requests_since(self, cursor: str | None, limit: int = 100) -> Batch[FixRequest]:
        fix = self._status(self._status_option("fix_status"), "fix_status")
        items: list[FixRequest] = []
        if cursor is None:
            state = self._start_cursor()
            for request in self._backfill(fix, limit):
                items.append(request)
                comment_id = request.key.rsplit(":", 1)[-1]
                state.seen[comment_id] = state.after or datetime.now(UTC).replace(tzinfo=None)
        else:
            state = Cursor.load(cursor)

        def handle(event: Entity) -> FixRequest | None:
            data = event.get("data") or {}
            if data.get("task_status_id") != fix["id"] or not data.get("comment_id"):
                return None
            return self._fix_request(str(data["comment_id"]), _parse_time(event["created_at"]))

        items.extend(self._poll(state, max(0, limit - len(items)), handle))
        return Batch(items, state.dump())

    def _backfill(self, fix: Entity, limit: int) -> list[FixRequest]:
        """Tasks already waiting in the fix status: the newest fix comment of each that says which fixes."""
        tasks = self._call(
            "tasks in the fix status",
            lambda c: gazu.client.get("data/tasks", params={"task_status_id": fix["id"]}, client=c),
        )
        found: list[FixRequest] = []
        for task in tasks[:limit]:
            comments = self._comments(str(task["id"]))
            for comment in comments:
                if comment.get("task_status_id") != fix["id"]:
                    break  # older comments belong to an earlier status
                request = self._fix_request(str(comment["id"]), _parse_time(comment["created_at"]), comment)
                if request is not None:
                    found.append(request)
                    break
        return found

    def _fix_request(self, comment_id: str, at: datetime, comment: Entity | None = None) -> FixRequest | None:
        """The request a fix-status comment makes, or None when it is not one: no fixes named, not on a
        shot, or the task has left the fix status since (the request was withdrawn)."""
        if comment is None:
            comment = self._get_or_none(
                f"comment {comment_id}", lambda c: gazu.task.get_comment(comment_id, client=c)
            )
        if comment is None:
            return None  # deleted since
        text = str(comment.get("text") or "")
        if NOTE_TAG in text or _key_of(text):
            return None  # written by Rushes itself
        spec = notes.parse_note(text, self.kinds)
        if spec.empty:
            spec = notes.parse_fix_text(text, self.kinds)
        task_id = str(comment.get("object_id") or "")
        if spec.empty:
            LOG.warning(
                "fix status set without fixes named in the comment", task_id=task_id, comment_id=comment_id
            )
            return None
        for problem in spec.problems:
            LOG.warning("fix request text problem", task_id=task_id, problem=problem)
        task = self._get_or_none(f"task {task_id}", lambda c: gazu.task.get_task(task_id, client=c))
        if task is None:
            return None
        if task.get("task_status_id") != comment.get("task_status_id"):
            LOG.info("task left the fix status before the request was read", task_id=task_id)
            return None  # withdrawn: the coordinator moved the task on
        shot = task.get("entity") or {}
        if (task.get("entity_type") or {}).get("name") != "Shot":
            LOG.warning("fix requested on a task not linked to a shot", task_id=task_id)
            return None
        project = task.get("project") or {}
        return FixRequest(
            key=f"kitsu:comment:{comment_id}",
            project=str(project.get("code") or project.get("name") or ""),
            shot_id=str(shot["id"]),
            shot_code=str(shot.get("name") or ""),
            task_id=task_id,
            kinds=spec.kinds,
            params=dict(spec.params),
            note=text,
            requested_at=at.replace(tzinfo=UTC),
        )

    # ---- review feedback --------------------------------------------------------------------------

    def review_statuses_since(self, cursor: str | None, limit: int = 100) -> Batch[ReviewStatus]:
        approved = self._status(self._status_option("approved_status"), "approved_status")
        rejected = self._status(self._status_option("rejected_status"), "rejected_status")
        state = self._start_cursor() if cursor is None else Cursor.load(cursor)

        def handle(event: Entity) -> ReviewStatus | None:
            data = event.get("data") or {}
            status = self._status_by_id(data.get("task_status_id")) or {}
            if status.get("id") == approved["id"]:
                verdict = "approved"
            elif status.get("id") == rejected["id"] or status.get("is_retake"):
                verdict = "rejected"
            else:
                return None
            at = _parse_time(event["created_at"])
            return self._review(
                str(data.get("task_id") or ""), str(data.get("comment_id") or ""), verdict, at
            )

        items = self._poll(state, limit, handle)
        return Batch(items, state.dump())

    def _review(self, task_id: str, comment_id: str, verdict: str, at: datetime) -> ReviewStatus | None:
        """The verdict on the newest Rushes preview posted on the task before the verdict's comment."""
        comments = self._comments(task_id)
        verdict_comment = next((c for c in comments if str(c["id"]) == comment_id), None)
        if verdict_comment is None:
            return None  # deleted since
        older = comments[comments.index(verdict_comment) + 1 :]
        for comment in older:
            key = _key_of(comment.get("text"))
            previews = comment.get("previews") or []
            if key and previews:
                note = str(verdict_comment.get("text") or "").strip() or None
                return ReviewStatus(
                    version_id=str(previews[-1]["id"]),
                    status="approved" if verdict == "approved" else "rejected",
                    note=note,
                    idempotency_key=key,
                    at=at.replace(tzinfo=UTC),
                )
        return None  # a verdict on work Rushes did not publish

    # ---- writes -----------------------------------------------------------------------------------

    def _task_for(self, shot_id: int | str, task_id: int | str | None) -> str:
        if task_id is not None:
            return str(task_id)
        tasks = self.find_tasks(shot_id)
        if not tasks:
            raise TrackerFatal(
                f"Kitsu shot {shot_id} has no task: add one (Kitsu comments and previews live on tasks)"
            )
        return str(sorted(tasks, key=lambda t: t.name)[0].id)

    def publish_version(self, spec: VersionSpec) -> Published:
        """Post the review comment with the movie as a preview revision; find it again by idempotency key."""
        if not spec.movie_path.is_file() or spec.movie_path.stat().st_size == 0:
            raise TrackerFatal(f"cannot publish {spec.movie_path} to Kitsu: the movie is missing or empty")
        task_id = self._task_for(spec.shot_id, spec.task_id)
        comments = self._comments(task_id)
        comment = next((c for c in comments if _key_of(c.get("text")) == spec.idempotency_key), None)
        if comment is None:
            status = self._status(self._status_option("version_status"), "version_status")
            attachments = [str(p) for p in spec.attachments if p.is_file()]
            text = _version_text(spec)
            comment = self._call(
                f"a comment on task {task_id}",
                lambda c: gazu.task.add_comment(
                    task_id, status["id"], text, attachments=attachments, client=c
                ),
                idempotent=False,
            )
        previews = [p for p in comment.get("previews") or [] if p.get("status") != "broken"]
        if previews:
            return Published(str(previews[-1]["id"]), created=False)
        preview = self._upload_preview(task_id, comment, spec.movie_path)
        return Published(str(preview["id"]), created=True)

    def _upload_preview(self, task_id: str, comment: Entity, movie: Path) -> Entity:
        broken = [p for p in comment.get("previews") or [] if p.get("status") == "broken"]
        self._timeout = max(self.options.timeout, UPLOAD_TIMEOUT)
        try:
            if broken:  # a publish that stopped between creating the preview and uploading its movie
                preview = self._call(
                    f"the upload of {movie.name}",
                    lambda c: gazu.task.upload_preview_file(broken[-1]["id"], str(movie), client=c),
                    idempotent=False,
                )
            else:
                preview = self._call(
                    f"the upload of {movie.name}",
                    lambda c: gazu.task.add_preview(task_id, comment["id"], str(movie), client=c),
                    idempotent=False,
                )
        finally:
            self._timeout = self.options.timeout
        if preview.get("status") == "broken":
            raise TrackerFatal(
                f"Kitsu could not transcode {movie} (preview {preview['id']} is broken): "
                "check that it plays (ffprobe) and is a plain H.264/ProRes movie"
            )
        return preview

    def mark_published(self, task_id: int | str) -> None:
        self._move_task(task_id, self._status(self._status_option("published_status"), "published_status"))

    def set_task_status(self, task_id: int | str, status: str) -> None:
        """A status named by a ShotGrid-style option value (the stock Kitsu name for an option at its default)."""
        self._move_task(task_id, self._status(self._resolve_status_name(status), "published_status"))

    def _move_task(self, task_id: int | str, wanted: Entity) -> None:
        """Kitsu changes a task's status with a comment; nothing is posted when it already has it."""
        task = self._call(f"task {task_id}", lambda c: gazu.task.get_task(str(task_id), client=c))
        if task.get("task_status_id") == wanted["id"]:
            return
        self._call(
            f"the status of task {task_id}",
            lambda c: gazu.task.add_comment(str(task_id), wanted["id"], "", client=c),
        )

    def add_note(self, shot_id: int | str, task_id: int | str | None, subject: str, body: str) -> None:
        """A comment on the task (or the shot's first task), keeping the task's status."""
        target = self._task_for(shot_id, task_id)
        task = self._call(f"task {target}", lambda c: gazu.task.get_task(target, client=c))
        text = f"**{subject}**\n\n{body}\n\n{NOTE_TAG}"
        self._call(
            f"a note on task {target}",
            lambda c: gazu.task.add_comment(target, task["task_status_id"], text, client=c),
            idempotent=False,
        )
