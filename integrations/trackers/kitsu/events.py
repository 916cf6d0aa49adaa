"""Reading zou's event log forward from a `Cursor`: `comment:new` events, oldest first.

`poll` reads every comment event since `cursor.after - OVERLAP`, skips the events (and comments) already
seen, hands each new one to `handle` until `limit` items were made, and marks it seen. A handler that
raises `NotYet` stops the poll before that event, unmarked, so the next poll reads it again. A first
cursor (`start_cursor`) sits after the newest comment event with its overlap window already seen, so a
fresh daemon never replays history.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import gazu

from integrations.trackers.kitsu.connection import Connection, Entity
from integrations.trackers.kitsu.cursor import Cursor, format_time, parse_time

T = TypeVar("T")
COMMENT_EVENT = "comment:new"
EVENT_PAGE = 1000  # zou's cap on one events call


class NotYet(Exception):
    """Raised by a poll's handler: what the event records has not all landed in zou yet (zou logs a comment
    before it moves the task to the comment's status); the poll stops before the event and reads it again."""


def comment_events(conn: Connection, after: datetime | None) -> list[Entity]:
    """Every `comment:new` event after `after` (all when None), oldest first."""
    params: dict[str, Any] = {"name": COMMENT_EVENT, "limit": EVENT_PAGE}
    if after is not None:
        params["after"] = format_time(after)
    events: list[Entity] = []
    while True:
        page = _events_page(conn, dict(params))
        events.extend(page)
        if len(page) < EVENT_PAGE:
            break
        params["cursor_event_id"] = page[-1]["id"]  # zou pages from the newest back
    return list(reversed(events))


def _events_page(conn: Connection, params: dict[str, Any]) -> list[Entity]:
    rows: list[Entity] = conn.call(
        "the event log", lambda c: gazu.client.get("data/events/last", params=params, client=c)
    )
    return rows


def comments(conn: Connection, task_id: str) -> list[Entity]:
    """The task's comments, newest first."""
    rows: list[Entity] = conn.call(
        f"the comments of task {task_id}", lambda c: gazu.task.all_comments_for_task(task_id, client=c)
    )
    return rows


def start_cursor(conn: Connection) -> Cursor:
    """A cursor after the newest comment event, with the overlap window already seen."""
    params = {"name": COMMENT_EVENT, "limit": 1}
    newest = conn.call(
        "the event log", lambda c: gazu.client.get("data/events/last", params=params, client=c)
    )
    cursor = Cursor()
    if newest:
        cursor.after = parse_time(newest[0]["created_at"])
        for event in comment_events(conn, cursor.query_after()):
            cursor.mark(str(event["id"]), parse_time(event["created_at"]))
    return cursor


def poll(conn: Connection, cursor: Cursor, limit: int, handle: Callable[[Entity], T | None]) -> list[T]:
    items: list[T] = []
    for event in comment_events(conn, cursor.query_after()):
        comment_id = str((event.get("data") or {}).get("comment_id") or "")
        if str(event["id"]) in cursor.seen or comment_id in cursor.seen:
            continue
        if len(items) >= limit:
            break
        try:
            item = handle(event)
        except NotYet:
            break
        if item is not None:
            items.append(item)
        cursor.mark(str(event["id"]), parse_time(event["created_at"]))
    cursor.prune()
    return items
