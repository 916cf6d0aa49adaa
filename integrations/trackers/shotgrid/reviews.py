"""Review decisions from ShotGrid: a Version published by Rushes (its key field set) whose status changes to
`approved_status` or `rejected_status`; the note is the newest Note linked to the Version."""

from __future__ import annotations

from integrations.trackers.base import ReviewStatus
from integrations.trackers.options import TrackerOptions
from integrations.trackers.shotgrid import entities
from integrations.trackers.shotgrid.connection import Connection, Entity, as_datetime, link


def review_from_event(conn: Connection, options: TrackerOptions, event: Entity) -> ReviewStatus | None:
    meta = event.get("meta") or {}
    if event.get("event_type") != "Shotgun_Version_Change" or event.get("attribute_name") != "sg_status_list":
        return None
    verdicts = {options.approved_status: "approved", options.rejected_status: "rejected"}
    verdict = verdicts.get(str(meta.get("new_value")))
    if verdict is None:
        return None
    found = (event.get("entity") or {}).get("id") or meta.get("entity_id")
    if found is None:  # an event naming no Version: nothing to read, and the poll goes on past it
        return None
    version_id = int(found)
    key_field = options.key_field
    version = conn.call(
        f"version {version_id}", lambda sg: sg.find_one("Version", [["id", "is", version_id]], [key_field])
    )
    if version is None or not version.get(key_field):
        return None  # deleted, or not published by Rushes
    return ReviewStatus(
        version_id=version_id,
        status="approved" if verdict == "approved" else "rejected",
        note=entities.newest_note(conn, "note_links", link("Version", version_id)),
        idempotency_key=str(version[key_field]),
        at=as_datetime(event.get("created_at")),
    )
