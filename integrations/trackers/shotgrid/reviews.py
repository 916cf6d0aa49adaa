"""Review decisions from ShotGrid: a Version published by Rushes (its key field set) whose status changes to
`approved_status` or `rejected_status`; the note is the newest Note linked to the Version. An approval taken
back (the status moved on from `approved_status`) and a Version deleted in the tracker are "pending" again: the
daemon stops learning from them (an approved pair the supervisor no longer stands by, or no longer has)."""

from __future__ import annotations

from integrations.trackers.base import ReviewStatus
from integrations.trackers.options import TrackerOptions
from integrations.trackers.shotgrid import entities
from integrations.trackers.shotgrid.connection import Connection, Entity, as_datetime, link


def review_from_event(conn: Connection, options: TrackerOptions, event: Entity) -> ReviewStatus | None:
    meta = event.get("meta") or {}
    if event.get("event_type") == "Shotgun_Version_Retirement" and meta.get("entity_id") is not None:
        # the Version is gone, its key with it: the daemon knows it by the Version's id
        note = "the Version was deleted in the tracker"
        return ReviewStatus(int(meta["entity_id"]), "pending", note, at=as_datetime(event.get("created_at")))
    if event.get("event_type") != "Shotgun_Version_Change" or event.get("attribute_name") != "sg_status_list":
        return None
    verdicts = {options.approved_status: "approved", options.rejected_status: "rejected"}
    verdict = verdicts.get(str(meta.get("new_value")))
    if verdict is None and str(meta.get("old_value")) == options.approved_status:
        verdict = "pending"  # the approval taken back
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
    taken_back = f"the approval was taken back (the Version's status is now {meta.get('new_value')})"
    return ReviewStatus(
        version_id=version_id,
        status="approved" if verdict == "approved" else "rejected" if verdict == "rejected" else "pending",
        note=taken_back
        if verdict == "pending"
        else entities.newest_note(conn, "note_links", link("Version", version_id)),
        idempotency_key=str(version[key_field]),
        at=as_datetime(event.get("created_at")),
    )
