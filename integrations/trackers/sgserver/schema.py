"""The entity types and fields of the local server, and their ShotGrid schema_* wire format.

Field definitions are plain data: a data type, a display name and, for links and lists, the valid entity
types or values. The built-in set is data, not code: `default_schema.json` beside this module holds the
entity types and built-in fields of a standard Flow Production Tracking site; `Schema.from_export()` reads
a site's own `schema_read` answer (saved as JSON) instead. Custom fields (schema_field_create) are stored
by the storage module and merged in by the service.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

DEFAULT_SCHEMA = Path(__file__).with_name("default_schema.json")
# Preferred display-name fields, in order, for types whose definition does not name one.
_NAME_CANDIDATES = ("code", "name", "content", "title", "subject", "firstname", "description")


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


LINK = FieldDef("entity")


def _field_from_data(item: dict[str, Any]) -> FieldDef:
    return FieldDef(
        str(item["data_type"]),
        str(item.get("name", "")),
        valid_types=tuple(item.get("valid_types") or ()),
        valid_values=tuple(item.get("valid_values") or ()),
        editable=bool(item.get("editable", True)),
        default_value=item.get("default_value"),
        properties=dict(item.get("properties") or {}),
    )


@dataclass(frozen=True)
class EntityType:
    display_name: str
    name_field: str
    fields: dict[str, FieldDef]
    visible: bool = True


class SchemaError(ValueError):
    """A schema file that cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Schema:
    """Entity type name -> its definition (built-in fields only)."""

    types: dict[str, EntityType]

    @staticmethod
    def default() -> Schema:
        return _default_schema()

    @staticmethod
    def from_data(doc: dict[str, Any]) -> Schema:
        """The repository's own format (default_schema.json): common_fields plus entity_types."""
        common = {k: _field_from_data(v) for k, v in (doc.get("common_fields") or {}).items()}
        types: dict[str, EntityType] = {}
        for name, item in (doc.get("entity_types") or {}).items():
            fields = {**common, **{k: _field_from_data(v) for k, v in item["fields"].items()}}
            types[name] = EntityType(
                str(item.get("name", name)),
                str(item.get("name_field", "code")),
                fields,
                item.get("visible", True),
            )
        return Schema(types)

    @staticmethod
    def from_export(doc: dict[str, Any], entities: dict[str, Any] | None = None) -> Schema:
        """A site's `schema_read` answer ({type: {field: {data_type: {value}, ...}}}); `entities`: its
        `schema_entity_read` answer, for display names (the type name is used without it)."""
        types: dict[str, EntityType] = {}
        for name, wire_fields in doc.items():
            if not isinstance(wire_fields, dict):
                raise SchemaError(f"entity type {name!r} is not a mapping of field definitions")
            fields = {fname: _field_from_wire(fname, wire) for fname, wire in wire_fields.items()}
            fields.setdefault("id", FieldDef("number", "Id", editable=False))
            display = _value((entities or {}).get(name, {}).get("name")) or name
            visible = _value((entities or {}).get(name, {}).get("visible"))
            name_field = next((c for c in _NAME_CANDIDATES if c in fields), "id")
            types[name] = EntityType(str(display), name_field, fields, visible is not False)
        return Schema(types)

    @staticmethod
    def from_file(path: Path) -> Schema:
        """A JSON file holding either `schema_read`'s answer, or {"schema": ..., "entities": ...}, or the
        repository's own format."""
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SchemaError(f"cannot read the schema file {path}: {exc}") from None
        if not isinstance(doc, dict) or not doc:
            raise SchemaError(f"the schema file {path} is not a JSON object of entity types")
        if "entity_types" in doc:
            return Schema.from_data(doc)
        try:
            if "schema" in doc:
                return Schema.from_export(doc["schema"], doc.get("entities"))
            return Schema.from_export(doc)
        except (KeyError, TypeError, AttributeError) as exc:
            raise SchemaError(f"the schema file {path} is not a schema_read export: {exc}") from None

    def fields(self, entity_type: str) -> dict[str, FieldDef]:
        found = self.types.get(entity_type)
        return dict(found.fields) if found else {}

    def name_field(self, entity_type: str) -> str:
        found = self.types.get(entity_type)
        return found.name_field if found else "code"


def _value(prop: Any) -> Any:
    return prop.get("value") if isinstance(prop, dict) else prop


def _field_from_wire(name: str, wire: dict[str, Any]) -> FieldDef:
    props = wire.get("properties") or {}
    extra = {
        k: _value(v) for k, v in props.items() if k not in ("valid_types", "valid_values", "default_value")
    }
    return FieldDef(
        str(_value(wire["data_type"])),
        str(_value(wire.get("name")) or name),
        valid_types=tuple(_value(props.get("valid_types")) or ()),
        valid_values=tuple(_value(props.get("valid_values")) or ()),
        editable=bool(_value(wire.get("editable", True))),
        default_value=_value(props.get("default_value")),
        custom=name.startswith("sg_") and name != "sg_status_list",
        properties=extra,
    )


@cache
def _default_schema() -> Schema:
    return Schema.from_data(json.loads(DEFAULT_SCHEMA.read_text(encoding="utf-8")))


def custom_field_name(display_name: str, taken: set[str]) -> str:
    """`Rushes Fixes` -> `sg_rushes_fixes` (with `_1`, `_2`... when taken), like ShotGrid."""
    base = "sg_" + re.sub(r"[^a-z0-9]+", "_", display_name.strip().lower()).strip("_")
    name, n = base, 0
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    return name


# The data types schema_field_create accepts, as on the hosted service (query, calculated and pivot
# fields are made in its web UI only).
CREATABLE = frozenset(
    {
        "checkbox",
        "currency",
        "date",
        "date_time",
        "duration",
        "entity",
        "float",
        "footage",
        "list",
        "multi_entity",
        "number",
        "percent",
        "status_list",
        "tag_list",
        "text",
        "timecode",
        "url",
    }
)

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


_VISIBILITY = ("visible", "visible_by_project")


def visible(fdef: FieldDef, project_id: int | None = None) -> bool:
    """A field's visibility: per project when set there, else site-wide (default True)."""
    by_project = fdef.properties.get("visible_by_project") or {}
    if project_id is not None and str(project_id) in by_project:
        return bool(by_project[str(project_id)])
    return bool(fdef.properties.get("visible", True))


def field_wire(
    entity_type: str, field_name: str, fdef: FieldDef, project_id: int | None = None
) -> dict[str, Any]:
    """One field as schema_field_read answers it (visibility as seen from `project_id`, when given)."""
    properties: dict[str, Any] = {
        "default_value": _prop(fdef.default_value, False),
        "summary_default": _prop("none"),
    }
    if fdef.data_type in ("entity", "multi_entity"):
        properties["valid_types"] = _prop(list(fdef.valid_types))
    if fdef.data_type in ("status_list", "list"):
        properties["valid_values"] = _prop(list(fdef.valid_values))
    for key, value in fdef.properties.items():
        if key not in _VISIBILITY:
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
        "visible": _prop(visible(fdef, project_id), fdef.custom),
        "custom_metadata": _prop(""),
        "ui_value_displayable": _prop(True, False),
    }


def entity_wire(display_name: str, visible: bool = True) -> dict[str, Any]:
    return {"name": _prop(display_name, False), "visible": _prop(visible, False)}
