"""Paired link fields: the two sides of one connection, kept equal as the hosted service keeps them.

Setting `Shot.sg_sequence` puts the shot in its sequence's `shots`; adding a Version to a Playlist's
`versions` puts the playlist in the version's `playlists`; a Note's `note_links` appear in each linked
entity's `notes`, its `tasks` in each task's `notes`. Either side may be written; the other follows.

Pure: this module only names the partner field of a link and computes a side's new value; the service
reads and writes the rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Link = dict[str, Any]

# (entity type, field) -> the field on the linked entity that holds the other side.
PAIRS: dict[tuple[str, str], str] = {
    ("Shot", "sg_sequence"): "shots",
    ("Sequence", "shots"): "sg_sequence",
    ("Playlist", "versions"): "playlists",
    ("Version", "playlists"): "versions",
    ("Shot", "assets"): "shots",
    ("Asset", "shots"): "assets",
    ("Asset", "sequences"): "assets",
    ("Sequence", "assets"): "sequences",
    ("Asset", "parents"): "assets",
    ("Asset", "assets"): "parents",
    ("Shot", "parent_shots"): "shots",
    ("Shot", "shots"): "parent_shots",
    ("Note", "tasks"): "notes",
    ("Task", "notes"): "tasks",
    ("Version", "sg_task"): "sg_versions",
    ("Task", "sg_versions"): "sg_task",
    ("PublishedFile", "version"): "published_files",
    ("Version", "published_files"): "version",
    ("Project", "users"): "projects",
    ("HumanUser", "projects"): "users",
}

# Links that may point at many entity types: (entity type, field, the field on any linked type).
FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("Note", "note_links", "notes"),
    ("Task", "entity", "tasks"),
    ("Version", "entity", "sg_versions"),
)


def _declared(entity_type: str, field: str) -> str | None:
    if (entity_type, field) in PAIRS:
        return PAIRS[(entity_type, field)]
    for family_type, family_field, reverse in FAMILIES:
        if entity_type == family_type and field == family_field:
            return reverse
    return None


def _points_back(linked_type: str, partner: str, entity_type: str, field: str) -> bool:
    """True when `linked_type.partner` is the other side of `entity_type.field` (Task.notes pairs with
    Note.tasks, so a Note's note_links to a Task have no other side)."""
    if (linked_type, partner) in PAIRS:
        return PAIRS[(linked_type, partner)] == field
    return any(
        entity_type == family_type and field == family_field and partner == reverse
        for family_type, family_field, reverse in FAMILIES
    )


def partner(
    entity_type: str, field: str, linked_type: str, has_field: Callable[[str, str], bool]
) -> str | None:
    """The field of a `linked_type` entity that mirrors `entity_type.field`, or None when unpaired."""
    found = _declared(entity_type, field)
    if found is None or not has_field(linked_type, found):
        return None
    if not _points_back(linked_type, found, entity_type, field):
        return None
    return found


def links_of(value: Any) -> list[Link]:
    """A field's value as a list of links (a single link, a stored list of them, or nothing)."""
    if isinstance(value, list):
        return value
    return [value] if isinstance(value, dict) else []


def _key(link: Link) -> tuple[Any, Any]:
    return link["type"], link["id"]  # stored links are normalised: (str, int)


def added_and_removed(old: Any, new: Any) -> tuple[list[Link], list[Link]]:
    """The links in `new` and not in `old`, and those in `old` and not in `new`."""
    if isinstance(old, list) and isinstance(new, list) and len(new) == len(old) + 1 and new[:-1] == old:
        return [new[-1]], []  # one link joined at the end, the commonest change: no sets to build
    old_keys = {_key(v) for v in links_of(old)}
    new_keys = {_key(v) for v in links_of(new)}
    return (
        [v for v in links_of(new) if _key(v) not in old_keys],
        [v for v in links_of(old) if _key(v) not in new_keys],
    )


def with_link(current: Any, link: Link, multi: bool) -> Any:
    """The partner side's value once `link` joins it."""
    joined = {"type": link["type"], "id": int(link["id"])}
    if not multi:
        return joined
    items = links_of(current)
    return current if joined in items else [*items, joined]  # stored links are {"type", "id"} alone


def without_link(current: Any, link: Link, multi: bool) -> Any:
    """The partner side's value once `link` leaves it."""
    if not multi:
        return None if isinstance(current, dict) and _key(current) == _key(link) else current
    left = {"type": link["type"], "id": int(link["id"])}
    return [v for v in links_of(current) if v != left]
