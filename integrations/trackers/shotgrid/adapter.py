"""The ShotGrid / Flow Production Tracking adapter, on the real `shotgun_api3.Shotgun` client.

Fix requests and review statuses come from the event log, polled like shotgunEvents but with the whole
reading position in one opaque cursor string (JSON):

    {"last": 1234, "gaps": [[1230, 1717000000.0]], "waiting": [[1232, 17, 1717000000.0]]}

- `last`: the highest event id handled.
- `gaps`: ids below `last` not seen yet. ShotGrid hands out event ids before their transaction commits,
  so an id can show up after a higher one; missing ids are asked for again on every poll until they
  appear or `gap_timeout` seconds pass.
- `waiting` (fix requests only): a task was set to the fix status but no fix kinds could be read yet
  (the coordinator fills the fix field or writes the note a moment later); it is read again on every
  poll until kinds appear, the task leaves the fix status, or `gap_timeout` passes.

A first call with cursor None starts after the newest event (a fresh daemon never replays history), or
after `start_event_id` when given; with `backfill` (the default) it also returns, once, every task that
is already waiting in the fix status, keyed by the event that set it, so nothing queued before the first
start is missed and nothing is returned twice. Keys are `shotgrid:event:<id>`.

Every call retries transient failures (connection errors, timeouts, HTTP 5xx) with backoff, then raises
TrackerError; bad credentials and missing fields or statuses raise TrackerFatal with one clear line.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import shotgun_api3
import structlog
from shotgun_api3.lib import httplib2

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

T = TypeVar("T")
Entity = dict[str, Any]
Client = Any  # shotgun_api3.Shotgun or anything with its methods

LOG = structlog.get_logger(__name__)
EVENT_FIELDS = ["id", "event_type", "attribute_name", "meta", "entity", "project", "created_at"]
EVENT_PAGE = 500
MAX_PAGES = 10
MAX_GAP = 200  # a jump of more ids than this is not tracked id by id
VERSION_FIELDS = [
    "sg_path_to_movie",
    "sg_path_to_frames",
    "sg_first_frame",
    "sg_last_frame",
    "sg_uploaded_movie",
]


@dataclass
class Cursor:
    last: int
    gaps: dict[int, float] = field(default_factory=dict)  # event id -> first noticed (unix time)
    waiting: dict[int, tuple[int, float]] = field(default_factory=dict)  # event id -> (task id, first seen)

    def dump(self) -> str:
        return json.dumps(
            {
                "last": self.last,
                "gaps": [[k, v] for k, v in sorted(self.gaps.items())],
                "waiting": [[k, t, s] for k, (t, s) in sorted(self.waiting.items())],
            }
        )

    @classmethod
    def load(cls, text: str) -> Cursor:
        try:
            if text.strip().isdigit():
                return cls(int(text))
            data = json.loads(text)
            return cls(
                int(data["last"]),
                {int(k): float(v) for k, v in data.get("gaps", [])},
                {int(k): (int(t), float(s)) for k, t, s in data.get("waiting", [])},
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise TrackerFatal(
                f"ShotGrid event cursor {text[:60]!r} is not one this adapter wrote: reset the tracker cursor"
            ) from exc


def is_transient(exc: BaseException) -> bool:
    """Connection errors, timeouts and HTTP 5xx/408/429 may pass; everything else will not."""
    if isinstance(exc, shotgun_api3.ProtocolError):
        return int(exc.errcode) >= 500 or int(exc.errcode) in (408, 429)
    if isinstance(exc, OSError | http.client.HTTPException | httplib2.HttpLib2Error):
        return True
    return isinstance(exc, shotgun_api3.ShotgunError) and "Max attempts limit reached" in str(exc)


def _link(entity_type: str, entity_id: int | str) -> Entity:
    return {"type": entity_type, "id": int(entity_id)}


def _as_datetime(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


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
        self._factory = sg_factory or self._default_factory
        self._client: Client | None = None
        self.policy = policy or RetryPolicy()
        self.start_event_id = start_event_id
        self.backfill = backfill
        self.gap_timeout = gap_timeout
        self._clock = clock
        self._sleep = sleep
        self._schema: dict[str, dict[str, Any]] = {}
        self._schema_ok = False

    # ---- connection and calls ---------------------------------------------------------------------

    def _default_factory(self) -> Client:
        opts = self.options
        if not opts.url:
            raise TrackerFatal(
                "tracker.url is not set: set it to your ShotGrid site, e.g. https://studio.shotgrid.autodesk.com"
            )
        if opts.script_key is None or not opts.script_key.get_secret_value():
            raise TrackerFatal("tracker.script_key is not set: set RUSHES_TRACKER__SCRIPT_KEY")
        try:
            sg = shotgun_api3.Shotgun(
                opts.url, opts.script_name, opts.script_key.get_secret_value(), connect=False
            )
        except ValueError as exc:
            raise TrackerFatal(f"tracker.url {opts.url!r} is not an http(s) URL: fix tracker.url") from exc
        sg.config.timeout_secs = opts.timeout
        return sg

    @property
    def sg(self) -> Client:
        if self._client is None:
            self._client = self._factory()
        return self._client

    def _call(self, what: str, fn: Callable[[Client], T], policy: RetryPolicy | None = None) -> T:
        def on_retry(attempt: int, exc: BaseException, wait: float) -> None:
            LOG.warning(
                "shotgrid call failed, retrying", what=what, attempt=attempt, wait=wait, error=str(exc)
            )

        try:
            return retry(lambda: fn(self.sg), policy or self.policy, is_transient, self._sleep, on_retry)
        except shotgun_api3.AuthenticationFault as exc:
            raise TrackerFatal(
                f"ShotGrid rejected script '{self.options.script_name}': "
                "check RUSHES_TRACKER__SCRIPT_NAME/SCRIPT_KEY"
            ) from exc
        except RetriesExhausted as exc:
            raise TrackerError(
                f"ShotGrid at {self.options.url} did not answer {what} after {exc.attempts} attempts "
                f"({type(exc.last).__name__}: {exc.last}); will retry later"
            ) from exc
        except shotgun_api3.ShotgunError as exc:
            raise TrackerError(f"ShotGrid refused {what}: {exc}") from exc

    # ---- schema -----------------------------------------------------------------------------------

    def _fields(self, entity_type: str) -> dict[str, Any]:
        if entity_type not in self._schema:
            self._schema[entity_type] = self._call(
                f"schema of {entity_type}", lambda sg: sg.schema_field_read(entity_type)
            )
        return self._schema[entity_type]

    def _valid_statuses(self, entity_type: str) -> list[str]:
        status = self._fields(entity_type).get("sg_status_list") or {}
        return list(status.get("properties", {}).get("valid_values", {}).get("value") or [])

    def _schema_checks(self) -> list[CheckResult]:
        o = self.options
        results: list[CheckResult] = []
        wanted_fields = [
            ("Task", o.fix_field, "create it or set tracker.fix_field"),
            ("Version", o.key_field, "create it (text) or set tracker.key_field"),
            *[("Version", f, "this standard field is needed to publish") for f in VERSION_FIELDS],
        ]
        for entity_type, name, hint in wanted_fields:
            ok = name in self._fields(entity_type)
            detail = "" if ok else f"{entity_type} field {name} does not exist in ShotGrid: {hint}"
            results.append(CheckResult(f"field {entity_type}.{name}", ok, detail))
        wanted_statuses = [
            ("Task", o.fix_status, "fix_status"),
            ("Task", o.published_status, "published_status"),
            ("Version", o.version_status, "version_status"),
            ("Version", o.approved_status, "approved_status"),
            ("Version", o.rejected_status, "rejected_status"),
        ]
        for entity_type, status, option in wanted_statuses:
            ok = status in self._valid_statuses(entity_type)
            detail = (
                ""
                if ok
                else f"{entity_type} status '{status}' is not a valid {entity_type}.sg_status_list value in ShotGrid: "
                f"add it to the status list or set tracker.{option}"
            )
            results.append(CheckResult(f"status {entity_type}.{status}", ok, detail))
        return results

    def _ensure_schema(self) -> None:
        if self._schema_ok:
            return
        for result in self._schema_checks():
            if not result.ok:
                self._schema.clear()  # read it again next time: someone may fix it meanwhile
                raise TrackerFatal(result.detail)
        self._schema_ok = True

    def check(self) -> list[CheckResult]:
        """Connect, authenticate, and verify the configured fields and statuses; one result each."""
        once = RetryPolicy(attempts=1)
        try:
            info = self._call("info", lambda sg: sg.info(), once)
            version = ".".join(str(v) for v in (info.get("version") or [])[:3])
            results = [CheckResult("connect", True, f"{self.options.url} (server {version})")]
        except TrackerError as exc:
            return [CheckResult("connect", False, str(exc))]
        try:
            self._call("a project read", lambda sg: sg.find_one("Project", [], ["id"]), once)
            results.append(CheckResult("authenticate", True, f"script '{self.options.script_name}'"))
        except TrackerError as exc:
            return [*results, CheckResult("authenticate", False, str(exc))]
        self._schema.clear()
        try:
            return results + self._schema_checks()
        except TrackerError as exc:
            return [*results, CheckResult("schema", False, str(exc))]

    def ensure_fields(self) -> list[str]:
        """Create the Task fix field and the Version key field (text) where missing; the names created."""
        created = []
        for entity_type, name in (("Task", self.options.fix_field), ("Version", self.options.key_field)):
            if name in self._fields(entity_type):
                continue
            if not name.startswith("sg_"):
                raise TrackerFatal(
                    f"cannot create {entity_type}.{name}: ShotGrid custom fields start with sg_"
                )
            display = name[3:].replace("_", " ").title()
            made = self._create_text_field(entity_type, display)
            created.append(f"{entity_type}.{made}")
        self._schema.clear()
        self._schema_ok = False
        return created

    def _create_text_field(self, entity_type: str, display: str) -> str:
        return str(
            self._call(
                f"creating a {entity_type} field",
                lambda sg: sg.schema_field_create(entity_type, "text", display),
            )
        )

    # ---- projects, shots, tasks -------------------------------------------------------------------

    def find_project(self, code: str) -> Project:
        filters = [{"filter_operator": "any", "filters": [["code", "is", code], ["name", "is", code]]}]
        found = self._call(f"project {code}", lambda sg: sg.find_one("Project", filters, ["code", "name"]))
        if found is None:
            raise TrackerFatal(
                f"ShotGrid has no Project with code or name '{code}': create it or fix tracker_project"
            )
        return Project(found["id"], found.get("code") or found.get("name") or code, found.get("name") or "")

    def find_shots(self, project: Project) -> list[Shot]:
        link = _link("Project", project.id)
        rows = self._call(
            "shots",
            lambda sg: sg.find("Shot", [["project", "is", link]], ["code"], order=[{"field_name": "code"}]),
        )
        return [Shot(r["id"], r.get("code") or "", project.id) for r in rows]

    def find_tasks(self, shot_id: int | str) -> list[Task]:
        link = _link("Shot", shot_id)
        rows = self._call(
            "tasks", lambda sg: sg.find("Task", [["entity", "is", link]], ["content", "sg_status_list"])
        )
        return [Task(r["id"], r.get("content") or "", shot_id, r.get("sg_status_list") or "") for r in rows]

    # ---- event polling ----------------------------------------------------------------------------

    def _newest_event_id(self) -> int:
        newest = self._call(
            "newest event",
            lambda sg: sg.find_one(
                "EventLogEntry", [], ["id"], order=[{"field_name": "id", "direction": "desc"}]
            ),
        )
        return int(newest["id"]) if newest else 0

    def _events_after(self, last: int) -> list[Entity]:
        return list(
            self._call(
                "event log",
                lambda sg: sg.find(
                    "EventLogEntry",
                    [["id", "greater_than", last]],
                    EVENT_FIELDS,
                    order=[{"field_name": "id", "direction": "asc"}],
                    limit=EVENT_PAGE,
                ),
            )
        )

    def _events_by_id(self, ids: list[int]) -> list[Entity]:
        if not ids:
            return []
        rows = self._call(
            "late events", lambda sg: sg.find("EventLogEntry", [["id", "in", ids]], EVENT_FIELDS)
        )
        return sorted(rows, key=lambda e: int(e["id"]))

    def _poll(self, cursor: Cursor, limit: int, handle: Callable[[Entity, Cursor], T | None]) -> list[T]:
        now = self._clock()
        items: list[T] = []
        for event in self._events_by_id(sorted(cursor.gaps)):
            cursor.gaps.pop(int(event["id"]), None)
            item = handle(event, cursor)
            if item is not None:
                items.append(item)
        for gap_id, first_seen in list(cursor.gaps.items()):
            if now - first_seen > self.gap_timeout:
                LOG.warning("shotgrid event never appeared, giving up on it", event_id=gap_id)
                del cursor.gaps[gap_id]
        for _ in range(MAX_PAGES):
            events = self._events_after(cursor.last)
            for event in events:
                if len(items) >= limit:
                    return items
                event_id = int(event["id"])
                if event_id - cursor.last <= MAX_GAP:
                    cursor.gaps.update({i: now for i in range(cursor.last + 1, event_id)})
                cursor.last = event_id
                item = handle(event, cursor)
                if item is not None:
                    items.append(item)
            if len(events) < EVENT_PAGE or len(items) >= limit:
                break
        return items

    # ---- fix requests -----------------------------------------------------------------------------

    def fix_requests_since(self, cursor: str | None, limit: int = 100) -> Batch[FixRequest]:
        self._ensure_schema()
        items: list[FixRequest] = []
        if cursor is None:
            state = Cursor(
                self.start_event_id if self.start_event_id is not None else self._newest_event_id()
            )
            if self.backfill:
                items.extend(self._backfill(state))
        else:
            state = Cursor.load(cursor)
        items.extend(self._retry_waiting(state))
        items.extend(self._poll(state, max(0, limit - len(items)), self._fix_from_event))
        return Batch(items, state.dump())

    def _is_fix_event(self, event: Entity) -> bool:
        meta = event.get("meta") or {}
        return (
            event.get("event_type") == "Shotgun_Task_Change"
            and event.get("attribute_name") == "sg_status_list"
            and meta.get("new_value") == self.options.fix_status
        )

    def _fix_from_event(self, event: Entity, cursor: Cursor) -> FixRequest | None:
        if not self._is_fix_event(event):
            return None
        task_id = int((event.get("entity") or {}).get("id") or event["meta"]["entity_id"])
        request, wait = self._fix_request(int(event["id"]), task_id, _as_datetime(event.get("created_at")))
        if wait:
            cursor.waiting[int(event["id"])] = (task_id, self._clock())
        return request

    def _retry_waiting(self, cursor: Cursor) -> list[FixRequest]:
        found: list[FixRequest] = []
        for event_id, (task_id, first_seen) in list(cursor.waiting.items()):
            request, wait = self._fix_request(event_id, task_id, None)
            if request is not None:
                found.append(request)
            if not wait or self._clock() - first_seen > self.gap_timeout:
                if wait:
                    LOG.warning(
                        "task set to fix without fix kinds, giving up", task_id=task_id, event_id=event_id
                    )
                del cursor.waiting[event_id]
        return found

    def _backfill(self, cursor: Cursor) -> list[FixRequest]:
        """Tasks already waiting in the fix status when the daemon first starts, keyed by their event."""
        status = self.options.fix_status
        tasks = self._call(
            "fix tasks", lambda sg: sg.find("Task", [["sg_status_list", "is", status]], ["id"])
        )
        found: list[FixRequest] = []
        for task in tasks:
            event = self._last_status_event(int(task["id"]), cursor.last)
            if event is not None and self._is_fix_event(event):
                request = self._fix_from_event(event, cursor)
                if request is not None:
                    found.append(request)
        return found

    def _last_status_event(self, task_id: int, up_to: int) -> Entity | None:
        filters = [
            ["entity", "is", _link("Task", task_id)],
            ["attribute_name", "is", "sg_status_list"],
            ["id", "less_than", up_to + 1],
        ]
        order = [{"field_name": "id", "direction": "desc"}]
        found: Entity | None = self._call(
            f"events of task {task_id}",
            lambda sg: sg.find_one("EventLogEntry", filters, EVENT_FIELDS, order=order),
        )
        return found

    def _fix_request(
        self, event_id: int, task_id: int, at: datetime | None
    ) -> tuple[FixRequest | None, bool]:
        """The request for a task set to fix by `event_id`; (None, True) while its kinds are still missing."""
        o = self.options
        fields = [
            "content",
            "entity",
            "sg_status_list",
            o.fix_field,
            "project",
            "project.Project.code",
            "project.Project.name",
            "entity.Shot.code",
            "updated_at",
        ]
        task = self._call(f"task {task_id}", lambda sg: sg.find_one("Task", [["id", "is", task_id]], fields))
        if task is None or task.get("sg_status_list") != o.fix_status:
            return None, False  # deleted, or no longer waiting for a fix
        shot = task.get("entity") or {}
        if shot.get("type") != "Shot":
            LOG.warning("fix requested on a task not linked to a shot", task_id=task_id)
            return None, False
        spec = notes.parse_fix_field(task.get(o.fix_field), self.kinds)
        note = self._newest_note("tasks", _link("Task", task_id))
        if spec.empty and note:
            spec = notes.parse_note(note, self.kinds)
        for problem in spec.problems:
            LOG.warning("fix request text problem", task_id=task_id, problem=problem)
        if spec.empty:
            return None, True
        project = task.get("project.Project.code") or task.get("project.Project.name") or ""
        request = FixRequest(
            key=f"shotgrid:event:{event_id}",
            project=str(project),
            shot_id=int(shot["id"]),
            shot_code=str(task.get("entity.Shot.code") or shot.get("name") or ""),
            task_id=task_id,
            kinds=spec.kinds,
            params=dict(spec.params),
            note=note,
            requested_at=at or _as_datetime(task.get("updated_at")),
        )
        return request, False

    def _newest_note(self, link_field: str, link: Entity) -> str | None:
        found = self._call(
            "notes",
            lambda sg: sg.find_one(
                "Note",
                [[link_field, "is", link]],
                ["content"],
                order=[
                    {"field_name": "created_at", "direction": "desc"},
                    {"field_name": "id", "direction": "desc"},
                ],
            ),
        )
        return str(found["content"]) if found and found.get("content") else None

    # ---- review feedback --------------------------------------------------------------------------

    def review_statuses_since(self, cursor: str | None, limit: int = 100) -> Batch[ReviewStatus]:
        self._ensure_schema()
        if cursor is None:
            start = self.start_event_id if self.start_event_id is not None else self._newest_event_id()
            state = Cursor(start)
        else:
            state = Cursor.load(cursor)
        items = self._poll(state, limit, self._review_from_event)
        return Batch(items, state.dump())

    def _review_from_event(self, event: Entity, cursor: Cursor) -> ReviewStatus | None:
        meta = event.get("meta") or {}
        o = self.options
        verdicts = {o.approved_status: "approved", o.rejected_status: "rejected"}
        if (
            event.get("event_type") != "Shotgun_Version_Change"
            or event.get("attribute_name") != "sg_status_list"
        ):
            return None
        verdict = verdicts.get(str(meta.get("new_value")))
        if verdict is None:
            return None
        version_id = int((event.get("entity") or {}).get("id") or meta["entity_id"])
        version = self._call(
            f"version {version_id}",
            lambda sg: sg.find_one("Version", [["id", "is", version_id]], [o.key_field]),
        )
        if version is None or not version.get(o.key_field):
            return None  # deleted, or not published by Rushes
        note = self._newest_note("note_links", _link("Version", version_id))
        return ReviewStatus(
            version_id=version_id,
            status="approved" if verdict == "approved" else "rejected",
            note=note,
            idempotency_key=str(version[o.key_field]),
            at=_as_datetime(event.get("created_at")),
        )

    # ---- writes -----------------------------------------------------------------------------------

    def publish_version(self, spec: VersionSpec) -> Published:
        """Create (or find, by idempotency key) the Version, then finish any upload still missing."""
        self._ensure_schema()
        key_field = self.options.key_field
        wanted = [key_field, "sg_uploaded_movie", "image"]
        attempted_create = False

        def find(sg: Client) -> Entity | None:
            found: Entity | None = sg.find_one("Version", [[key_field, "is", spec.idempotency_key]], wanted)
            return found

        def find_or_create(sg: Client) -> Entity:
            nonlocal attempted_create
            found = find(sg)
            if found is not None:
                return found
            attempted_create = True
            created: Entity = sg.create("Version", self._version_data(sg, spec), wanted)
            return created

        version = self._call(f"publish of {spec.code}", find_or_create)
        version_id = int(version["id"])
        if not version.get("sg_uploaded_movie"):
            self._upload_once(version_id, "sg_uploaded_movie", spec.movie_path, find)
        if spec.thumbnail_path is not None and not version.get("image"):
            self._upload_once(version_id, "image", spec.thumbnail_path, find)
        for path in spec.attachments:
            self._attach_once(version_id, path)
        return Published(version_id, attempted_create)

    def _version_data(self, sg: Client, spec: VersionSpec) -> Entity:
        shot = sg.find_one("Shot", [["id", "is", int(spec.shot_id)]], ["project"])
        if shot is None:
            raise TrackerFatal(
                f"ShotGrid has no Shot with id {spec.shot_id}: it was deleted or the catalog is stale"
            )
        data: Entity = {
            "code": spec.code,
            "entity": _link("Shot", spec.shot_id),
            "project": shot["project"],
            "description": spec.description,
            "sg_status_list": self.options.version_status,
            "sg_path_to_movie": str(spec.movie_path),
            "sg_first_frame": spec.first_frame,
            "sg_last_frame": spec.last_frame,
            "frame_count": spec.last_frame - spec.first_frame + 1,
            "frame_range": f"{spec.first_frame}-{spec.last_frame}",
            self.options.key_field: spec.idempotency_key,
        }
        if spec.frames_path:
            data["sg_path_to_frames"] = spec.frames_path
        if spec.task_id is not None:
            data["sg_task"] = _link("Task", spec.task_id)
        return data

    def _upload_once(
        self, version_id: int, field_name: str, path: Path, find: Callable[[Client], Entity | None]
    ) -> None:
        if not path.is_file() or path.stat().st_size == 0:
            raise TrackerFatal(f"cannot upload {path} to ShotGrid: the file is missing or empty")

        def upload(sg: Client) -> None:
            current = find(sg) or {}
            if current.get(field_name):
                return  # an earlier attempt got through and only its answer was lost
            if field_name == "image":
                sg.upload_thumbnail("Version", version_id, str(path))
            else:
                sg.upload("Version", version_id, str(path), field_name=field_name)

        self._call(f"upload of {path.name}", upload)

    def _attach_once(self, version_id: int, path: Path) -> None:
        link = _link("Version", version_id)

        def attach(sg: Client) -> None:
            filters = [["attachment_links", "is", link], ["filename", "is", path.name]]
            if sg.find_one("Attachment", filters, ["id"]) is None:
                sg.upload("Version", version_id, str(path))

        self._call(f"upload of {path.name}", attach)

    def mark_published(self, task_id: int | str) -> None:
        self.set_task_status(task_id, self.options.published_status)

    def set_task_status(self, task_id: int | str, status: str) -> None:
        self._ensure_schema()
        if status not in self._valid_statuses("Task"):
            raise TrackerFatal(
                f"Task status '{status}' is not a valid Task.sg_status_list value in ShotGrid: add it to the status list"
            )
        self._call(
            f"status of task {task_id}",
            lambda sg: sg.update("Task", int(task_id), {"sg_status_list": status}),
        )

    def add_note(self, shot_id: int | str, task_id: int | str | None, subject: str, body: str) -> None:
        shot_link = _link("Shot", shot_id)

        def create(sg: Client) -> None:
            existing = sg.find_one(
                "Note",
                [["note_links", "is", shot_link], ["subject", "is", subject], ["content", "is", body]],
                ["id"],
            )
            if existing is not None:
                return  # an earlier attempt got through and only its answer was lost
            shot = sg.find_one("Shot", [["id", "is", int(shot_id)]], ["project"])
            if shot is None:
                raise TrackerFatal(
                    f"ShotGrid has no Shot with id {shot_id}: it was deleted or the catalog is stale"
                )
            data: Entity = {
                "project": shot["project"],
                "subject": subject,
                "content": body,
                "note_links": [shot_link],
            }
            if task_id is not None:
                data["tasks"] = [_link("Task", task_id)]
            sg.create("Note", data)

        self._call(f"note on shot {shot_id}", create)
