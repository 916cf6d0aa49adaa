"""`additional_filter_presets` of a read: validation as the hosted service does it, and the LATEST preset.

The only preset is {"preset_name": "LATEST", "latest_by": ...}: of the matching rows, keep for each linked
entity (the `entity` field) only the newest one: by creation (`ENTITIES_CREATED_AT`, `ENTITY_CREATED_AT`) or
by pipeline step then creation (`*PIPELINE_STEP_NUMBER_AND_ENTITIES_CREATED_AT`, approximated here by
creation). Anything else (not a list of dicts, no name, an unknown name, two LATEST presets) is a fault.
"""

from __future__ import annotations

from typing import Any

from integrations.trackers.sgserver.storage import Row

LATEST_BY = {
    "ENTITIES_CREATED_AT",
    "ENTITY_CREATED_AT",
    "PIPELINE_STEP_NUMBER_AND_ENTITIES_CREATED_AT",
    "BY_PIPELINE_STEP_NUMBER_AND_ENTITIES_CREATED_AT",
}


class PresetError(ValueError):
    """additional_filter_presets the hosted service would refuse."""


def validate(presets: Any) -> list[dict[str, Any]]:
    if not isinstance(presets, list | tuple):
        raise PresetError("additional_filter_presets must be a list of presets")
    checked: list[dict[str, Any]] = []
    for preset in presets:
        if not isinstance(preset, dict):
            raise PresetError(f"additional_filter_presets: each preset must be a dict, got {preset!r}")
        name = preset.get("preset_name")
        if not name:
            raise PresetError("additional_filter_presets: a preset has no preset_name")
        if name != "LATEST":
            raise PresetError(f"additional_filter_presets: unknown preset_name '{name}'; known: LATEST")
        if preset.get("latest_by") not in LATEST_BY:
            raise PresetError(
                f"additional_filter_presets: LATEST needs latest_by, one of {sorted(LATEST_BY)}"
            )
        checked.append(preset)
    if sum(1 for p in checked if p["preset_name"] == "LATEST") > 1:
        raise PresetError("additional_filter_presets: only one LATEST preset is allowed")
    return checked


def apply(presets: Any, rows: list[Row]) -> list[Row]:
    """The rows left after the presets (PresetError when they are not valid)."""
    if not validate(presets):
        return rows
    newest: dict[tuple[str, int] | None, Row] = {}
    for row in rows:
        link = row.data.get("entity")
        key = (str(link["type"]), int(link["id"])) if isinstance(link, dict) else None
        held = newest.get(key)
        if held is None or (str(row.data.get("created_at") or ""), row.id) > (
            str(held.data.get("created_at") or ""),
            held.id,
        ):
            newest[key] = row
    keep = {id(r) for r in newest.values()}
    return [r for r in rows if id(r) in keep]
