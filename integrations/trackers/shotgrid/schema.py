"""The site's schema as the adapter needs it: the configured fields and statuses exist, or one clear line.

Field definitions are read once per entity type and cached; a failed check clears the cache so the next
call reads again (someone may fix the site meanwhile). `ensure_fields` creates the two text fields Rushes
needs (the Task fix field, the Version key field) where missing.
"""

from __future__ import annotations

from typing import Any

from integrations.trackers.base import CheckResult, TrackerFatal
from integrations.trackers.options import TrackerOptions
from integrations.trackers.shotgrid.connection import Connection

VERSION_FIELDS = [
    "sg_path_to_movie",
    "sg_path_to_frames",
    "sg_first_frame",
    "sg_last_frame",
    "sg_uploaded_movie",
]


# The statuses Rushes reads or sets, by entity type and option: without one of the required, nothing works.
REQUIRED_STATUSES = (
    ("Task", "fix_status"),
    ("Task", "published_status"),
    ("Version", "version_status"),
    ("Version", "approved_status"),
    ("Version", "rejected_status"),
)
OPTIONAL_STATUSES = (("Task", "failed_status"),)


class Schema:
    def __init__(self, conn: Connection, options: TrackerOptions) -> None:
        self.conn = conn
        self.options = options
        self._fields: dict[str, dict[str, Any]] = {}
        self._ok = False

    def fields(self, entity_type: str) -> dict[str, Any]:
        if entity_type not in self._fields:
            self._fields[entity_type] = self.conn.call(
                f"schema of {entity_type}", lambda sg: sg.schema_field_read(entity_type)
            )
        return self._fields[entity_type]

    def valid_statuses(self, entity_type: str) -> list[str]:
        status = self.fields(entity_type).get("sg_status_list") or {}
        return list(status.get("properties", {}).get("valid_values", {}).get("value") or [])

    def forget(self) -> None:
        self._fields.clear()
        self._ok = False

    def checks(self) -> list[CheckResult]:
        """One result per configured field and status."""
        return self._field_checks() + self._status_checks() + self._status_checks(OPTIONAL_STATUSES)

    def ensure(self) -> None:
        """Check once; TrackerFatal naming the first problem (checked again next time). A missing optional
        status (`failed_status`) stops nothing: `rushes tracker check` reports it, and the answers to requests
        not done are posted without moving the task."""
        if self._ok:
            return
        for result in self._field_checks() + self._status_checks():
            if not result.ok:
                self.forget()
                raise TrackerFatal(result.detail)
        self._ok = True

    def _field_checks(self) -> list[CheckResult]:
        o = self.options
        wanted = [
            ("Task", o.fix_field, "`rushes tracker setup` creates it (text), or set tracker.fix_field"),
            ("Version", o.key_field, "`rushes tracker setup` creates it (text), or set tracker.key_field"),
            *[("Version", f, "this standard field is needed to publish") for f in VERSION_FIELDS],
        ]
        results = []
        for entity_type, name, hint in wanted:
            ok = name in self.fields(entity_type)
            other = None if ok else self.named_otherwise(entity_type, name)
            if other is not None:  # setup made it, under the code ShotGrid chose
                option = "fix_field" if entity_type == "Task" else "key_field"
                hint = f"ShotGrid has it as {other}: set tracker.{option}: {other}"
            detail = "" if ok else f"{entity_type} field {name} does not exist in ShotGrid: {hint}"
            results.append(CheckResult(f"field {entity_type}.{name}", ok, detail))
        return results

    def _status_checks(self, options: tuple[tuple[str, str], ...] = REQUIRED_STATUSES) -> list[CheckResult]:
        wanted = [
            (entity_type, str(getattr(self.options, option)), option) for entity_type, option in options
        ]
        results = []
        for entity_type, status, option in wanted:
            ok = status in self.valid_statuses(entity_type)
            detail = (
                ""
                if ok
                else f"{entity_type} status '{status}' is not a valid {entity_type}.sg_status_list value in ShotGrid: "
                f"add it to the status list or set tracker.{option}"
            )
            results.append(CheckResult(f"status {entity_type}.{status}", ok, detail))
        return results

    def ensure_fields(self) -> list[str]:
        """Create the Task fix field and the Version key field (text) where missing; the names created. One
        that the site has under another code (its display name taken: ShotGrid gave the field it made for an
        earlier run another code, e.g. lower case, or `_1` where a deleted field keeps the code) is not made
        again: `named_otherwise` says which code to set."""
        created = []
        for entity_type, name in (("Task", self.options.fix_field), ("Version", self.options.key_field)):
            if name in self.fields(entity_type) or self.named_otherwise(entity_type, name):
                continue
            if not name.startswith("sg_"):
                raise TrackerFatal(
                    f"cannot create {entity_type}.{name}: ShotGrid custom fields start with sg_"
                )
            made = self._create_text_field(entity_type, _display(name))
            created.append(f"{entity_type}.{made}")
        self.forget()
        return created

    def named_otherwise(self, entity_type: str, name: str) -> str | None:
        """The code of a field of `entity_type` other than `name` that has the display name Rushes gives `name`
        (the field setup made, under the code ShotGrid chose), or None."""
        wanted = _display(name).casefold()
        for code, field in self.fields(entity_type).items():
            shown = str(((field or {}).get("name") or {}).get("value") or "")
            if code != name and code.startswith("sg_") and shown.casefold() == wanted:
                return str(code)
        return None

    def _create_text_field(self, entity_type: str, display: str) -> str:
        made = self.conn.call(
            f"creating a {entity_type} field", lambda sg: sg.schema_field_create(entity_type, "text", display)
        )
        return str(made)


def _display(name: str) -> str:
    """The display name setup gives a custom field (`sg_rushes_fixes` -> "Rushes Fixes")."""
    return name[3:].replace("_", " ").title() if name.startswith("sg_") else name
