"""The entity types and fields of the local server, and their ShotGrid schema_* wire format.

Field definitions are plain data: a data type, a display name and, for links and status lists, the valid
entity types or values. Custom fields (schema_field_create) are stored by the storage module and merged in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

TASK_STATUSES = ["wtg", "rdy", "ip", "fix", "rev", "apr", "fin", "hld", "omt"]
VERSION_STATUSES = ["rev", "vwd", "apr", "rej", "na"]
SHOT_STATUSES = ["wtg", "rdy", "ip", "rev", "fin", "hld", "omt"]
USER_STATUSES = ["act", "dis"]

LINKABLE = ["Shot", "Sequence", "Asset", "Project", "Task", "Version", "PublishedFile", "Playlist", "Note"]


@dataclass(frozen=True)
class FieldDef:
    data_type: str
    name: str = ""
    valid_types: tuple[str, ...] = ()
    valid_values: tuple[str, ...] = ()
    editable: bool = True
    default_value: Any = None
    custom: bool = False
    properties: dict[str, Any] = field(default_factory=dict)


def _f(data_type: str, *valid: str, name: str = "", editable: bool = True, default: Any = None) -> FieldDef:
    if data_type in ("entity", "multi_entity"):
        return FieldDef(data_type, name, valid_types=valid, editable=editable, default_value=default)
    if data_type in ("status_list", "list"):
        return FieldDef(data_type, name, valid_values=valid, editable=editable, default_value=default)
    return FieldDef(data_type, name, editable=editable, default_value=default)


_COMMON: dict[str, FieldDef] = {
    "id": _f("number", name="Id", editable=False),
    "created_at": _f("date_time", name="Date Created", editable=False),
    "updated_at": _f("date_time", name="Date Updated", editable=False),
    "created_by": _f("entity", "HumanUser", "ApiUser", name="Created by", editable=False),
    "updated_by": _f("entity", "HumanUser", "ApiUser", name="Updated by", editable=False),
    "cached_display_name": _f("text", name="Cached Display Name", editable=False),
}
_PROJECT_LINK = {"project": _f("entity", "Project", name="Project")}

_TYPES: dict[str, tuple[str, dict[str, FieldDef]]] = {
    "Project": (
        "Project",
        {
            "name": _f("text", name="Project Name"),
            "code": _f("text", name="Project Code"),
            "sg_description": _f("text", name="Description"),
            "sg_status": _f("list", "Active", "Archive", "Bidding", name="Status"),
            "archived": _f("checkbox", name="Archived", default=False),
            "is_template": _f("checkbox", name="Template", default=False),
            "tank_name": _f("text", name="Tank Name"),
            "users": _f("multi_entity", "HumanUser", name="Users"),
            "image": _f("image", name="Thumbnail"),
        },
    ),
    "Sequence": (
        "Sequence",
        {
            **_PROJECT_LINK,
            "code": _f("text", name="Sequence Name"),
            "description": _f("text", name="Description"),
            "sg_status_list": _f("status_list", *SHOT_STATUSES, name="Status", default="wtg"),
            "shots": _f("multi_entity", "Shot", name="Shots"),
            "image": _f("image", name="Thumbnail"),
        },
    ),
    "Shot": (
        "Shot",
        {
            **_PROJECT_LINK,
            "code": _f("text", name="Shot Code"),
            "description": _f("text", name="Description"),
            "sg_sequence": _f("entity", "Sequence", name="Sequence"),
            "sg_status_list": _f("status_list", *SHOT_STATUSES, name="Status", default="wtg"),
            "sg_cut_in": _f("number", name="Cut In"),
            "sg_cut_out": _f("number", name="Cut Out"),
            "sg_head_in": _f("number", name="Head In"),
            "sg_tail_out": _f("number", name="Tail Out"),
            "tasks": _f("multi_entity", "Task", name="Tasks"),
            "image": _f("image", name="Thumbnail"),
        },
    ),
    "Asset": (
        "Asset",
        {
            **_PROJECT_LINK,
            "code": _f("text", name="Asset Name"),
            "description": _f("text", name="Description"),
            "sg_asset_type": _f("list", "Character", "Prop", "Environment", "Vehicle", name="Type"),
            "sg_status_list": _f("status_list", *SHOT_STATUSES, name="Status", default="wtg"),
            "image": _f("image", name="Thumbnail"),
        },
    ),
    "Step": (
        "Pipeline Step",
        {
            "code": _f("text", name="Step Name"),
            "short_name": _f("text", name="Short Name"),
            "entity_type": _f("entity_type", name="Entity Type"),
            "color": _f("color", name="Color"),
        },
    ),
    "Task": (
        "Task",
        {
            **_PROJECT_LINK,
            "content": _f("text", name="Task Name"),
            "entity": _f("entity", "Shot", "Asset", "Sequence", name="Link"),
            "step": _f("entity", "Step", name="Pipeline Step"),
            "sg_status_list": _f("status_list", *TASK_STATUSES, name="Status", default="wtg"),
            "sg_description": _f("text", name="Description"),
            "task_assignees": _f("multi_entity", "HumanUser", name="Assigned To"),
            "start_date": _f("date", name="Start Date"),
            "due_date": _f("date", name="Due Date"),
            "notes": _f("multi_entity", "Note", name="Notes"),
            "image": _f("image", name="Thumbnail"),
        },
    ),
    "Version": (
        "Version",
        {
            **_PROJECT_LINK,
            "code": _f("text", name="Version Name"),
            "description": _f("text", name="Description"),
            "entity": _f("entity", "Shot", "Asset", "Sequence", name="Link"),
            "sg_task": _f("entity", "Task", name="Task"),
            "sg_status_list": _f("status_list", *VERSION_STATUSES, name="Status", default="rev"),
            "sg_path_to_movie": _f("text", name="Path to Movie"),
            "sg_path_to_frames": _f("text", name="Path to Frames"),
            "sg_first_frame": _f("number", name="First Frame"),
            "sg_last_frame": _f("number", name="Last Frame"),
            "frame_count": _f("number", name="Frame Count"),
            "frame_range": _f("text", name="Frame Range"),
            "sg_uploaded_movie": _f("url", name="Uploaded Movie"),
            "user": _f("entity", "HumanUser", "ApiUser", name="Artist"),
            "playlists": _f("multi_entity", "Playlist", name="Playlists"),
            "published_files": _f("multi_entity", "PublishedFile", name="Published Files"),
            "notes": _f("multi_entity", "Note", name="Notes"),
            "image": _f("image", name="Thumbnail"),
        },
    ),
    "PublishedFile": (
        "Published File",
        {
            **_PROJECT_LINK,
            "code": _f("text", name="Published File Name"),
            "name": _f("text", name="Name"),
            "description": _f("text", name="Description"),
            "entity": _f("entity", "Shot", "Asset", "Sequence", name="Link"),
            "task": _f("entity", "Task", name="Task"),
            "version": _f("entity", "Version", name="Version"),
            "path": _f("url", name="Path"),
            "path_cache": _f("text", name="Path Cache"),
            "published_file_type": _f("entity", "PublishedFileType", name="Published File Type"),
            "version_number": _f("number", name="Version Number"),
            "sg_status_list": _f("status_list", "wtg", "ip", "cmpt", name="Status", default="ip"),
            "image": _f("image", name="Thumbnail"),
        },
    ),
    "PublishedFileType": ("Published File Type", {"code": _f("text", name="Published File Type")}),
    "Note": (
        "Note",
        {
            **_PROJECT_LINK,
            "subject": _f("text", name="Subject"),
            "content": _f("text", name="Body"),
            "note_links": _f("multi_entity", *LINKABLE, name="Links"),
            "tasks": _f("multi_entity", "Task", name="Tasks"),
            "user": _f("entity", "HumanUser", "ApiUser", name="Author"),
            "addressings_to": _f("multi_entity", "HumanUser", name="To"),
            "sg_status_list": _f("status_list", "opn", "clsd", name="Status", default="opn"),
            "attachments": _f("multi_entity", "Attachment", name="Attachments"),
        },
    ),
    "Playlist": (
        "Playlist",
        {
            **_PROJECT_LINK,
            "code": _f("text", name="Playlist Name"),
            "description": _f("text", name="Description"),
            "versions": _f("multi_entity", "Version", name="Versions"),
        },
    ),
    "HumanUser": (
        "Person",
        {
            "name": _f("text", name="Name"),
            "login": _f("text", name="Login"),
            "email": _f("text", name="Email"),
            "firstname": _f("text", name="First Name"),
            "lastname": _f("text", name="Last Name"),
            "sg_status_list": _f("status_list", *USER_STATUSES, name="Status", default="act"),
            "projects": _f("multi_entity", "Project", name="Projects"),
        },
    ),
    "ApiUser": (
        "Script",
        {
            "firstname": _f("text", name="Script Name"),
            "lastname": _f("text", name="Last Name"),
            "description": _f("text", name="Description"),
            "email": _f("text", name="Email"),
            "salted_password": _f("text", name="Application Key", editable=False),
        },
    ),
    "EventLogEntry": (
        "Event Log Entry",
        {
            **_PROJECT_LINK,
            "event_type": _f("text", name="Event Type"),
            "attribute_name": _f("text", name="Attribute Name"),
            "meta": _f("serializable", name="Meta"),
            "entity": _f("entity", *LINKABLE, "HumanUser", "ApiUser", "Attachment", name="Link"),
            "user": _f("entity", "HumanUser", "ApiUser", name="Created by"),
            "description": _f("text", name="Description"),
            "session_uuid": _f("uuid", name="Session Id"),
        },
    ),
    "Attachment": (
        "File",
        {
            **_PROJECT_LINK,
            "this_file": _f("url", name="File"),
            "filename": _f("text", name="File Name"),
            "file_size": _f("number", name="File Size"),
            "display_name": _f("text", name="Display Name"),
            "description": _f("text", name="Description"),
            "tag_list": _f("tag_list", name="Tags"),
            "attachment_links": _f("multi_entity", *LINKABLE, name="Links"),
            "image": _f("image", name="Thumbnail"),
        },
    ),
    "Status": (
        "Status",
        {
            "code": _f("text", name="Status Code"),
            "name": _f("text", name="Status Name"),
            "bg_color": _f("color", name="Background Color"),
        },
    ),
}

# The field shown as "name" in entity links, per type (ShotGrid's display name column).
NAME_FIELDS: dict[str, str] = {
    "Project": "name",
    "HumanUser": "name",
    "ApiUser": "firstname",
    "Task": "content",
    "Note": "subject",
    "Attachment": "filename",
    "EventLogEntry": "description",
    "Status": "name",
}


def name_field(entity_type: str) -> str:
    return NAME_FIELDS.get(entity_type, "code")


def builtin_fields(entity_type: str) -> dict[str, FieldDef]:
    display_and_fields = _TYPES.get(entity_type)
    if display_and_fields is None:
        return {}
    return {**_COMMON, **display_and_fields[1]}


def entity_types() -> dict[str, str]:
    """Entity type -> display name."""
    return {name: display for name, (display, _) in _TYPES.items()}


def custom_field_name(display_name: str, taken: set[str]) -> str:
    """`Rushes Fixes` -> `sg_rushes_fixes` (with `_1`, `_2`... when taken), like ShotGrid."""
    base = "sg_" + re.sub(r"[^a-z0-9]+", "_", display_name.strip().lower()).strip("_")
    name, n = base, 0
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    return name


_NOT_PROPERTIES = ("name", "valid_values", "valid_types", "default_value", "builtin")


def custom_field(data_type: str, properties: dict[str, Any]) -> FieldDef:
    valid_values = tuple(properties.get("valid_values") or ())
    valid_types = tuple(properties.get("valid_types") or ())
    return FieldDef(
        data_type,
        str(properties.get("name", "")),
        valid_types=valid_types,
        valid_values=valid_values,
        default_value=properties.get("default_value"),
        custom=not properties.get("builtin", False),
        properties={k: v for k, v in properties.items() if k not in _NOT_PROPERTIES},
    )


def with_properties(fdef: FieldDef, properties: dict[str, Any]) -> FieldDef:
    """schema_field_update: change the display name, valid values/types or other properties."""
    return replace(
        fdef,
        name=str(properties.get("name", fdef.name)),
        valid_values=tuple(properties.get("valid_values", fdef.valid_values)),
        valid_types=tuple(properties.get("valid_types", fdef.valid_types)),
        default_value=properties.get("default_value", fdef.default_value),
        properties={
            **fdef.properties,
            **{k: v for k, v in properties.items() if k not in _NOT_PROPERTIES},
        },
    )


def _prop(value: Any, editable: bool = True) -> dict[str, Any]:
    return {"editable": editable, "value": value}


def field_wire(entity_type: str, field_name: str, fdef: FieldDef) -> dict[str, Any]:
    """One field as schema_field_read answers it."""
    properties: dict[str, Any] = {
        "default_value": _prop(fdef.default_value, False),
        "summary_default": _prop("none"),
    }
    if fdef.data_type in ("entity", "multi_entity"):
        properties["valid_types"] = _prop(list(fdef.valid_types))
    if fdef.data_type in ("status_list", "list"):
        properties["valid_values"] = _prop(list(fdef.valid_values))
    for key, value in fdef.properties.items():
        properties[key] = _prop(value)
    return {
        "data_type": _prop(fdef.data_type, False),
        "description": _prop(str(fdef.properties.get("description", ""))),
        "editable": _prop(fdef.editable, False),
        "entity_type": _prop(entity_type, False),
        "mandatory": _prop(False, False),
        "name": _prop(fdef.name or field_name),
        "properties": properties,
        "unique": _prop(False, False),
        "visible": _prop(True, False),
        "custom_metadata": _prop(""),
        "ui_value_displayable": _prop(True, False),
    }


def entity_wire(display_name: str) -> dict[str, Any]:
    return {"name": _prop(display_name, False), "visible": _prop(True, False)}
