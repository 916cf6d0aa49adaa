"""Activity stream, note threads and follows, derived from the stored rows and the event log.

activity_stream(type, id): the entity's own creation and the creation of Notes, Versions and
PublishedFiles linked to it (from `Shotgun_<Type>_New` events), plus its status changes, newest first,
`limit` of them, between `min_id` and `max_id` (event ids). Each update is {"id", "update_type"
("create" | "update"), "meta", "created_at", "created_by", "read", "primary_entity"}; primary_entity holds
type, id, name, status and the extra `entity_fields` asked for that type.

note_thread_contents(note_id): the note, then its replies, then its attachments, oldest first, with the
fields the hosted service returns plus any asked for per type.

follow/unfollow/followers/following: (user, entity) pairs stored in a private table-like type `_Follow`
that is not part of the schema and never produces events.
"""

from __future__ import annotations

from typing import Any

from integrations.trackers.sgserver.service import Link, Reader, Service, ServiceFault, now_text
from integrations.trackers.sgserver.storage import Row

FOLLOW = "_Follow"
LINKED_CREATES = {"Note": "note_links", "Version": "entity", "PublishedFile": "entity"}


def _link_of(value: Any, what: str) -> Link:
    if not isinstance(value, dict) or "type" not in value or "id" not in value:
        raise ServiceFault(f"API {what} must be an entity dict with 'type' and 'id', got {value!r}")
    return {"type": str(value["type"]), "id": int(value["id"])}


def _links_to(row: Row, field: str, target: Link) -> bool:
    value = row.data.get(field)
    links = value if isinstance(value, list) else [value]
    return any(
        isinstance(v, dict) and v.get("type") == target["type"] and int(v["id"]) == target["id"]
        for v in links
    )


def _primary(service: Service, row: Row, reader: Reader, extra: dict[str, Any]) -> dict[str, Any]:
    record = service.record(row, list(extra.get(row.type) or []), reader)
    record.update(
        name=reader.name_of({"type": row.type, "id": row.id}), status=row.data.get("sg_status_list")
    )
    return record


def activity_stream(service: Service, user: Link, params: dict[str, Any], base: str) -> dict[str, Any]:
    target = _link_of({"type": params.get("type"), "id": params.get("id")}, "activity_stream_read() entity")
    service.fields(target["type"])
    reader = service.reader(base, user)
    extra = params.get("entity_fields") or {}
    updates: list[dict[str, Any]] = []
    for event in service.storage.rows("EventLogEntry"):
        entity = event.data.get("entity") or {}
        meta = event.data.get("meta") or {}
        kind = _update_kind(service, event.data, entity, meta, target)
        if kind is None:
            continue
        row = service.storage.get(str(entity["type"]), int(entity["id"]))
        if row is None or row.retired:
            continue
        updates.append(
            {
                "id": event.id,
                "update_type": kind,
                "meta": {"entity_type": row.type, "entity_id": row.id, **meta},
                "created_at": event.data.get("created_at"),
                "created_by": reader.render(service.field("EventLogEntry", "user"), event.data.get("user")),
                "read": False,
                "primary_entity": _primary(service, row, reader, extra),
            }
        )
    low, high = params.get("min_id"), params.get("max_id")
    updates = [u for u in updates if (low is None or u["id"] >= low) and (high is None or u["id"] <= high)]
    updates.sort(key=lambda u: u["id"], reverse=True)
    updates = updates[: int(params.get("limit") or 25)]
    return {
        "entity_type": target["type"],
        "entity_id": target["id"],
        "updates": updates,
        "earliest_update_id": min((u["id"] for u in updates), default=None),
        "latest_update_id": max((u["id"] for u in updates), default=None),
    }


def _update_kind(
    service: Service, event: dict[str, Any], entity: Any, meta: dict[str, Any], target: Link
) -> str | None:
    if not isinstance(entity, dict) or "type" not in entity:
        return None
    kind = str(event.get("event_type", "")).rsplit("_", 1)[-1]
    same = entity.get("type") == target["type"] and int(entity.get("id", 0)) == target["id"]
    if kind == "New" and same:
        return "create"
    if (
        kind == "Change"
        and same
        and meta.get("attribute_name") == "sg_status_list"
        and not meta.get("in_create")
    ):
        return "update"
    field = LINKED_CREATES.get(str(entity["type"]))
    if kind == "New" and field:
        row = service.storage.get(str(entity["type"]), int(entity["id"]))
        if row is not None and _links_to(row, field, target):
            return "create"
    return None


NOTE_FIELDS = ["content", "created_at", "created_by"]
REPLY_FIELDS = ["content", "created_at", "user"]
ATTACHMENT_FIELDS = ["created_at", "created_by"]


def note_thread(service: Service, user: Link, params: dict[str, Any], base: str) -> list[dict[str, Any]]:
    try:
        note_id = int(params["note_id"])
    except (KeyError, TypeError, ValueError):
        raise ServiceFault("API note_thread_read() needs an integer note_id") from None
    note = service.storage.get("Note", note_id)
    if note is None or note.retired:
        raise ServiceFault(f"API note_thread_read() Note {note_id} does not exist")
    extra = params.get("entity_fields") or {}
    reader = service.reader(base, user)
    thread = [service.record(note, NOTE_FIELDS + list(extra.get("Note") or []), reader)]
    link = {"type": "Note", "id": note_id}
    for reply in service.storage.rows("Reply"):
        if _links_to(reply, "entity", link):
            record = service.record(reply, REPLY_FIELDS + list(extra.get("Reply") or []), reader)
            author = reply.data.get("user")
            if isinstance(record.get("user"), dict) and isinstance(author, dict):
                found = service.storage.get(str(author["type"]), int(author["id"]))
                image = found.data.get("image") if found else None
                record["user"]["image"] = reader.image_url(image)
            thread.append(record)
    for attachment in service.storage.rows("Attachment"):
        if _links_to(attachment, "attachment_links", link):
            thread.append(
                service.record(attachment, ATTACHMENT_FIELDS + list(extra.get("Attachment") or []), reader)
            )
    return thread


def _follows(service: Service) -> list[Row]:
    return service.storage.rows(FOLLOW)


def follow(service: Service, user: Link, params: dict[str, Any], base: str) -> dict[str, Any]:
    who = _link_of(params.get("user"), "follow() user")
    entity = _link_of(params.get("entity"), "follow() entity")
    for link in (who, entity):
        found = service.storage.get(link["type"], link["id"])
        if found is None or found.retired:
            raise ServiceFault(f"API follow() {link['type']} {link['id']} does not exist")
    with service.storage.transaction():
        if not any(r.data["user"] == who and r.data["entity"] == entity for r in _follows(service)):
            service.storage.insert(
                FOLLOW, service.storage.next_id(FOLLOW), {"user": who, "entity": entity, "at": now_text()}
            )
    return {"followed": True, "user": who, "entity": entity}


def unfollow(service: Service, user: Link, params: dict[str, Any], base: str) -> dict[str, Any]:
    who = _link_of(params.get("user"), "unfollow() user")
    entity = _link_of(params.get("entity"), "unfollow() entity")
    with service.storage.transaction():
        for row in _follows(service):
            if row.data["user"] == who and row.data["entity"] == entity:
                service.storage.set_retired(FOLLOW, row.id, True)
    return {"unfollowed": True, "user": who, "entity": entity}


def _alive(service: Service, link: Link) -> Row | None:
    found = service.storage.get(link["type"], link["id"])
    return None if found is None or found.retired else found


def followers(service: Service, user: Link, params: dict[str, Any], base: str) -> list[dict[str, Any]]:
    entity = _link_of(params.get("entity"), "followers() entity")
    reader = service.reader(base, user)
    found = [
        r.data["user"]
        for r in _follows(service)
        if r.data["entity"] == entity and _alive(service, r.data["user"])
    ]
    return [{**link, "name": reader.name_of(link)} for link in found]


def following(service: Service, user: Link, params: dict[str, Any], base: str) -> list[dict[str, Any]]:
    who = _link_of(params.get("user"), "following() user")
    project = params.get("project")
    entity_type = params.get("entity_type")
    reader = service.reader(base, user)
    out = []
    for row in _follows(service):
        if row.data["user"] != who:
            continue
        target = _alive(service, row.data["entity"])
        if target is None or (entity_type and target.type != entity_type):
            continue
        owner = target.data.get("project")
        if project and not (isinstance(owner, dict) and int(owner["id"]) == int(project["id"])):
            continue
        out.append({**row.data["entity"], "name": reader.name_of(row.data["entity"])})
    return out
