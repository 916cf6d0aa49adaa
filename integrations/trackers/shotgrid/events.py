"""Reading ShotGrid's event log forward from a `Cursor`, like shotgunEvents.

`poll` first asks again for the gap ids (events that committed late), gives up on gaps older than the
timeout, then reads pages of newer events (at most MAX_PAGES of EVENT_PAGE) until `limit` items were
made. `handle` turns one event into an item or None, and may note work for later in the cursor. The
cursor is advanced past every event handled, so a batch's cursor resumes exactly after it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import structlog

from integrations.trackers.retry import RetryPolicy
from integrations.trackers.shotgrid.connection import Connection, Entity, link
from integrations.trackers.shotgrid.cursor import Cursor

T = TypeVar("T")
LOG = structlog.get_logger(__name__)

EVENT_FIELDS = ["id", "event_type", "attribute_name", "meta", "entity", "project", "created_at"]
EVENT_PAGE = 500
MAX_PAGES = 10
MAX_GAP = 200  # a jump of more ids than this is not tracked id by id

Handle = Callable[[Entity, Cursor], T | None]


def newest_event_id(conn: Connection, policy: RetryPolicy | None = None) -> int:
    order = [{"field_name": "id", "direction": "desc"}]
    newest = conn.call(
        "newest event", lambda sg: sg.find_one("EventLogEntry", [], ["id"], order=order), policy
    )
    return int(newest["id"]) if newest else 0


def events_after(conn: Connection, last: int) -> list[Entity]:
    order = [{"field_name": "id", "direction": "asc"}]
    return list(
        conn.call(
            "event log",
            lambda sg: sg.find(
                "EventLogEntry", [["id", "greater_than", last]], EVENT_FIELDS, order=order, limit=EVENT_PAGE
            ),
        )
    )


def events_by_id(conn: Connection, ids: list[int]) -> list[Entity]:
    if not ids:
        return []
    rows = conn.call("late events", lambda sg: sg.find("EventLogEntry", [["id", "in", ids]], EVENT_FIELDS))
    return sorted(rows, key=lambda e: int(e["id"]))


def last_status_event(conn: Connection, task_id: int, up_to: int) -> Entity | None:
    """The newest status change of the task at or before event `up_to`."""
    filters = [
        ["entity", "is", link("Task", task_id)],
        ["attribute_name", "is", "sg_status_list"],
        ["id", "less_than", up_to + 1],
    ]
    order = [{"field_name": "id", "direction": "desc"}]
    found: Entity | None = conn.call(
        f"events of task {task_id}",
        lambda sg: sg.find_one("EventLogEntry", filters, EVENT_FIELDS, order=order),
    )
    return found


def newest_status_event(conn: Connection, task_id: int) -> Entity | None:
    """The newest status change of the task (the one that put it in its present status)."""
    filters = [["entity", "is", link("Task", task_id)], ["attribute_name", "is", "sg_status_list"]]
    order = [{"field_name": "id", "direction": "desc"}]
    found: Entity | None = conn.call(
        f"events of task {task_id}",
        lambda sg: sg.find_one("EventLogEntry", filters, EVENT_FIELDS, order=order),
    )
    return found


def newest_change_event(conn: Connection, entity: Entity, attribute: str) -> Entity | None:
    """The newest change of one field of an entity (its setting at creation included)."""
    filters = [["entity", "is", entity], ["attribute_name", "is", attribute]]
    order = [{"field_name": "id", "direction": "desc"}]
    found: Entity | None = conn.call(
        f"changes of {entity['type']} {entity['id']}",
        lambda sg: sg.find_one("EventLogEntry", filters, ["id"], order=order),
    )
    return found


def creation_event(conn: Connection, entity: Entity) -> Entity | None:
    """The event that created an entity (`Shotgun_<Type>_New`)."""
    filters = [["entity", "is", entity], ["event_type", "is", f"Shotgun_{entity['type']}_New"]]
    found: Entity | None = conn.call(
        f"creation of {entity['type']} {entity['id']}",
        lambda sg: sg.find_one("EventLogEntry", filters, ["id"]),
    )
    return found


def poll(
    conn: Connection, cursor: Cursor, limit: int, handle: Handle[T], now: float, gap_timeout: float
) -> list[T]:
    items = _late_events(conn, cursor, handle)
    for gap_id in cursor.expire(now, gap_timeout):
        LOG.warning("shotgrid event never appeared, giving up on it", event_id=gap_id)
    for _ in range(MAX_PAGES):
        events = events_after(conn, cursor.last)
        for event in events:
            if len(items) >= limit:
                return items
            cursor.advance(int(event["id"]), now, MAX_GAP)
            item = handle(event, cursor)
            if item is not None:
                items.append(item)
        if len(events) < EVENT_PAGE or len(items) >= limit:
            break
    return items


def _late_events(conn: Connection, cursor: Cursor, handle: Handle[T]) -> list[T]:
    items: list[T] = []
    for event in events_by_id(conn, sorted(cursor.gaps)):
        cursor.gaps.pop(int(event["id"]), None)
        item = handle(event, cursor)
        if item is not None:
            items.append(item)
    return items
