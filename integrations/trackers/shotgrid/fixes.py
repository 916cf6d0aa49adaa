"""Fix requests from ShotGrid: a Task whose status changes to `fix_status`, with the kinds read from the
Task's fix field or from the newest `#rushes` Note on the task, whichever was written later.

Keys are `shotgrid:event:<id of the status change>`. When the status is set before the kinds are written,
the event waits in the cursor (`Cursor.waiting`) and is read again each poll until kinds appear, the
task leaves the fix status (withdrawn: nothing returned), or `gap_timeout` passes (then a request naming no
fix, its problem saying what to write, for the daemon to answer on the task). Text that cannot be read makes
its request at once, with its `problems`. Only the task's newest
status change can ask (`superseded`), so a request is made once whichever path reads it first: the poll,
or a webhook delivery (`from_webhook`, which reads the task's newest status change). On a first start
(`backfill`) every task already in the fix status is returned once, keyed by the event that set it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import structlog

from integrations.trackers import notes
from integrations.trackers.base import FixRequest, project_names
from integrations.trackers.flow_webhooks import WebhookEvent
from integrations.trackers.options import TrackerOptions
from integrations.trackers.shotgrid import entities, events
from integrations.trackers.shotgrid.connection import Connection, Entity, as_datetime, entity_ref, link
from integrations.trackers.shotgrid.cursor import Cursor
from integrations.trackers.shotnames import ShotPlace, shot_names

LOG = structlog.get_logger(__name__)


class FixReader:
    def __init__(
        self,
        conn: Connection,
        options: TrackerOptions,
        kinds: Sequence[str],
        clock: Callable[[], float],
        gap_timeout: float,
    ) -> None:
        self.conn = conn
        self.options = options
        self.kinds = tuple(kinds)
        self.clock = clock
        self.gap_timeout = gap_timeout

    def is_fix_event(self, event: Entity) -> bool:
        meta = event.get("meta") or {}
        return (
            event.get("event_type") == "Shotgun_Task_Change"
            and event.get("attribute_name") == "sg_status_list"
            and meta.get("new_value") == self.options.fix_status
        )

    def from_event(self, event: Entity, cursor: Cursor) -> FixRequest | None:
        """The request an event makes (None for other events); notes it as waiting when kinds are missing."""
        if not self.is_fix_event(event):
            return None
        found = (event.get("entity") or {}).get("id") or (event.get("meta") or {}).get("entity_id")
        if found is None:  # an event naming no task (a retired one, a hand-made record): nothing to read
            return None
        task_id = int(found)
        if self.superseded(int(event["id"]), task_id):
            return None
        request, wait = self.request(int(event["id"]), task_id, as_datetime(event.get("created_at")))
        if wait:
            cursor.waiting[int(event["id"])] = (task_id, self.clock())
        return request

    def retry_waiting(self, cursor: Cursor) -> list[FixRequest]:
        found: list[FixRequest] = []
        for event_id, (task_id, first_seen) in list(cursor.waiting.items()):
            request, wait = (None, False)
            late = self.clock() - first_seen > self.gap_timeout
            if not self.superseded(event_id, task_id):
                request, wait = self.request(event_id, task_id, None, give_up=late)
            if request is not None:
                found.append(request)
            if not wait or late:
                if request is not None and request.empty:
                    LOG.warning(
                        "task set to fix without fix kinds, giving up", task_id=task_id, event_id=event_id
                    )
                del cursor.waiting[event_id]
        return found

    def superseded(self, event_id: int, task_id: int) -> bool:
        """True when a later status change of the task exists: only the newest one can ask for a fix, so a
        task set to fix, then to another status, then to fix again makes one request however late (or by
        which path, poll or webhook) its events are read."""
        newest = events.newest_status_event(self.conn, task_id)
        return newest is not None and int(newest["id"]) > event_id

    def wants(self, event: WebhookEvent) -> bool:
        """A webhook event that may make a fix request: a Task's status or fix field changed."""
        return (
            event.entity_type == "Task"
            and event.operation == "update"
            and event.attribute_name in ("sg_status_list", self.options.fix_field)
        )

    def from_webhook(self, delivered: Sequence[WebhookEvent]) -> list[FixRequest]:
        """The requests of the tasks these events touched, each keyed by the task's newest status change
        (the key the poller gives it). A fix field written after the status makes the request then."""
        task_ids = dict.fromkeys(e.entity.id for e in delivered if e.entity is not None and self.wants(e))
        found: list[FixRequest] = []
        for task_id in task_ids:
            newest = events.newest_status_event(self.conn, task_id)
            if newest is None or not self.is_fix_event(newest):
                continue
            request, _ = self.request(int(newest["id"]), task_id, as_datetime(newest.get("created_at")))
            if request is not None:
                found.append(request)
        return found

    def backfill(self, cursor: Cursor) -> list[FixRequest]:
        """Tasks already waiting in the fix status when the daemon first starts, keyed by their event."""
        status = self.options.fix_status
        tasks = self.conn.call(
            "fix tasks", lambda sg: sg.find("Task", [["sg_status_list", "is", status]], ["id"])
        )
        found: list[FixRequest] = []
        for task in tasks:
            event = events.last_status_event(self.conn, int(task["id"]), cursor.last)
            if event is not None:
                request = self.from_event(event, cursor)
                if request is not None:
                    found.append(request)
        return found

    def request(
        self, event_id: int, task_id: int, at: datetime | None, give_up: bool = False
    ) -> tuple[FixRequest | None, bool]:
        """The request for a task set to fix by `event_id`; (None, True) while its fix field and notes are
        still empty, unless `give_up`: then a request naming no fix, whose problem says what to write. Text
        that cannot be read makes its request at once, with the problems, for the daemon to answer."""
        task = self._task(task_id)
        if task is None or task.get("sg_status_list") != self.options.fix_status:
            return None, False  # deleted, or no longer waiting for a fix
        entity = task.get("entity") or {}
        on_shot = entity.get("type") == "Shot"
        shot_code = str(task.get("entity.Shot.code") or entity.get("name") or "")
        spec, note = self._spec(task_id, task.get(self.options.fix_field))
        for problem in spec.problems:
            LOG.warning("fix request text problem", task_id=task_id, problem=problem)
        if spec.empty and not spec.problems:
            if not give_up:
                return None, True
            if not on_shot:  # never asked of Rushes: the fix status of an asset's artist, say
                LOG.info("a task not on a shot was set to fix naming no fix", task_id=task_id)
                return None, False
            spec = notes.FixSpec(problems=(self._nothing_named(),))
        if not on_shot:  # asked of Rushes, which fixes shots' dailies: answered, not dropped
            spec = notes.FixSpec(problems=(not_on_a_shot(entity),))
        elif not shot_code.strip():
            spec = notes.FixSpec(problems=(no_shot_code(entity),))
        elif self._omitted(task):  # out of the cut: no render for it
            spec = notes.FixSpec(problems=(omitted(shot_code, self.options.omitted_status),))
        names = project_names(task.get("project.Project.code"), task.get("project.Project.name"))
        project = names[0] if names else ""
        # other shots of the project with this code (SH010 in each sequence, SQ010's SH010 in each episode): the
        # shot goes by its code qualified by its sequence and episode too (only then: answers name a shot by its
        # most specific name)
        others = self._others(task, int(entity["id"]), shot_code) if on_shot and shot_code else []
        called = shot_names(_place(task, shot_code), others)
        request = FixRequest(
            key=f"shotgrid:event:{event_id}",
            project=str(project),
            shot_id=entity_ref(str(entity["type"]), int(entity["id"])) if entity else f"Task:{task_id}",
            shot_code=shot_code,
            task_id=task_id,
            kinds=spec.kinds,
            params=dict(spec.params),
            note=note,
            requested_at=at or as_datetime(task.get("updated_at")),
            problems=spec.problems,
            replaces_earlier=True,  # the task's fix field holds the whole request
            project_names=names,
            qualified_codes=called.unique if others else (),
            shared_codes=called.shared,
        )
        return request, False

    def _others(self, task: Entity, shot_id: int, code: str) -> list[ShotPlace]:
        """The other shots of the task's project with the same code (an episodic show's SH010 in each
        sequence), with their sequences and episodes: dailies named by a name they share may be either's."""
        project = task.get("project")
        if not isinstance(project, dict):
            return []
        filters = [["project", "is", project], ["code", "is", code], ["id", "is_not", shot_id]]
        if self.options.omitted_status:  # a shot out of the cut has no dailies to share
            filters.append(["sg_status_list", "is_not", self.options.omitted_status])
        fields = ["code", "sg_sequence.Sequence.code", "sg_sequence.Sequence.episode"]
        found = self.conn.call(f"shots named {code}", lambda sg: sg.find("Shot", filters, fields))
        return [
            ShotPlace(
                str(other.get("code") or code),
                str(other.get("sg_sequence.Sequence.code") or ""),
                _name(other.get("sg_sequence.Sequence.episode")),
            )
            for other in found or []
        ]

    def _spec(self, task_id: int, field_value: object) -> tuple[notes.FixSpec, str | None]:
        """What the task asks, and the note it was read from or beside: the fix field, or the task's newest
        `#rushes` note (or reply to a note on the task: a coordinator answering Rushes' own note) where the field
        is empty or the note was written after the field was last set (a field left from an earlier request does
        not outvote a newer note). The newest note that asks, not the newest note: Rushes' own answers and
        notices land on the task too, and an artist's chat can come after."""
        field_spec = notes.parse_fix_field(field_value, self.kinds)
        task = link("Task", task_id)
        found = self._newer(
            entities.newest_note_entity(self.conn, "tasks", task, holding=notes.NOTE_TAG),
            entities.newest_reply_entity(self.conn, task, notes.NOTE_TAG),
        )
        if found is None:
            return field_spec, None
        note = str(found["content"])
        if not field_spec.empty and not self._note_is_newer(task_id, found):
            return field_spec, note
        note_spec = notes.parse_note(note, self.kinds)
        if field_spec.empty or not note_spec.empty or note_spec.problems:
            return note_spec, note
        return field_spec, note

    def _newer(self, note: Entity | None, reply: Entity | None) -> Entity | None:
        """The later written of a note and a reply (by the event log's order), either where the other is None."""
        if note is None or reply is None:
            return note or reply
        made = [events.creation_event(self.conn, link(str(e["type"]), int(e["id"]))) for e in (note, reply)]
        if made[0] is None or made[1] is None:  # not in the event log (purged): by their creation times
            times = [
                as_datetime(e.get("created_at")) or datetime.min.replace(tzinfo=UTC) for e in (note, reply)
            ]
            return reply if times[1] > times[0] else note
        return reply if int(made[1]["id"]) > int(made[0]["id"]) else note

    def _note_is_newer(self, task_id: int, note: Entity) -> bool:
        """Whether the note (or reply) was created after the task's fix field last changed (by the event log's
        order, exact where timestamps are whole seconds); a field whose change is not in the log is the newer."""
        made = events.creation_event(self.conn, link(str(note.get("type") or "Note"), int(note["id"])))
        changed = events.newest_change_event(self.conn, link("Task", task_id), self.options.fix_field)
        return made is not None and changed is not None and int(made["id"]) > int(changed["id"])

    def _omitted(self, task: Entity) -> bool:
        omitted = self.options.omitted_status
        return bool(omitted) and task.get("entity.Shot.sg_status_list") == omitted

    def _nothing_named(self) -> str:
        field = self.options.fix_field
        return (
            f"the task was set to '{self.options.fix_status}' but its {field} field is empty and no "
            f"'{notes.NOTE_TAG} ...' note names a fix: write one of {', '.join(self.kinds)} there"
        )

    def _task(self, task_id: int) -> Entity | None:
        fields = [
            "content",
            "entity",
            "sg_status_list",
            self.options.fix_field,
            "project",
            "project.Project.code",
            "project.Project.name",
            "entity.Shot.code",
            "entity.Shot.sg_status_list",
            "entity.Shot.sg_sequence.Sequence.code",
            "entity.Shot.sg_sequence.Sequence.episode",  # a site without episodes leaves it out
            "updated_at",
        ]
        found: Entity | None = self.conn.call(
            f"task {task_id}", lambda sg: sg.find_one("Task", [["id", "is", task_id]], fields)
        )
        return found


def _place(task: Entity, shot_code: str) -> ShotPlace:
    """Where the task's shot sits: its sequence (Shot.sg_sequence) and that sequence's episode."""
    sequence = str(task.get("entity.Shot.sg_sequence.Sequence.code") or "")
    return ShotPlace(shot_code, sequence, _name(task.get("entity.Shot.sg_sequence.Sequence.episode")))


def _name(link: object) -> str:
    """A linked entity's name ("" for no link)."""
    return str(link.get("name") or "") if isinstance(link, dict) else ""


def omitted(shot_code: str, status: str) -> str:
    """The answer to a fix asked on a task of a shot omitted from the cut (its status is `status`)."""
    return (
        f"the shot {shot_code} is omitted (its status is '{status}'), so Rushes does not fix it: if it is back "
        "in the cut, set the shot's status back, then ask again"
    )


def no_shot_code(entity: Entity) -> str:
    """The answer to a fix asked on a shot with no code (an API-made Shot; the field may be empty): its dailies
    are found by the code, so there is none to fix."""
    return (
        f"the task's shot (Shot {entity.get('id')}) has no code in the tracker, and its dailies are found by "
        "it: give the shot the code its files are named by"
    )


def not_on_a_shot(entity: Entity) -> str:
    """The answer to a fix asked on a task that is not a shot's (an Asset's, a Sequence's, or none)."""
    if not entity:
        return "this task is on no shot: Rushes fixes shots' dailies, so ask on the task of the shot"
    return (
        f"this task is on the {entity.get('type')} {entity.get('name') or entity.get('id')}, not on a shot: "
        "Rushes fixes shots' dailies, so ask on the task of the shot"
    )
