"""Kitsu task statuses, by short name or id, and the adapter's own mapping of the status options.

Kitsu has no separate Version statuses: every status is a task status, found by short name
(case-insensitive). The options keep ShotGrid's defaults ("rev", "apr", "rej"); an option left at its
default means Kitsu's stock status instead: version_status and published_status -> "wfa",
approved_status -> "approved", rejected_status -> "rejected", failed_status -> "todo". An option set explicitly is used as is.
Statuses are read once and read again when a name or id is not known yet.
"""

from __future__ import annotations

import gazu

from integrations.trackers.base import TrackerFatal
from integrations.trackers.kitsu.connection import Connection, Entity
from integrations.trackers.options import TrackerOptions

KITSU_STATUS_DEFAULTS = {
    "version_status": "wfa",
    "published_status": "wfa",
    "approved_status": "approved",
    "rejected_status": "rejected",
    "failed_status": "todo",
}


class Statuses:
    def __init__(self, conn: Connection, options: TrackerOptions) -> None:
        self.conn = conn
        self.options = options
        self._rows: dict[str, Entity] = {}

    def name_of(self, option: str) -> str:
        """An option's status short name; Kitsu's stock name when the option kept its ShotGrid default."""
        if option in KITSU_STATUS_DEFAULTS and option not in self.options.model_fields_set:
            return KITSU_STATUS_DEFAULTS[option]
        return str(getattr(self.options, option))

    def of(self, option: str) -> Entity:
        """The status an option names, or TrackerFatal saying what to create or set."""
        return self.named(self.name_of(option), option)

    def named(self, short_name: str, option: str | None = None) -> Entity:
        """The task status with this short name (case-insensitive), or TrackerFatal naming what to create."""
        key = short_name.lower()
        if key not in self._rows:
            self._load()
        if key not in self._rows:
            hint = f" or set tracker.{option}" if option else ""
            raise TrackerFatal(
                f"Kitsu has no task status with short name '{short_name}': create it in Kitsu "
                f"(Settings > Task Statuses){hint}"
            )
        return self._rows[key]

    def by_id(self, status_id: str | None) -> Entity | None:
        if status_id is None:
            return None
        if status_id not in self._rows:
            self._load()
        return self._rows.get(status_id)

    def resolve(self, status: str) -> str:
        """A status given by a ShotGrid-style option value: Kitsu's stock name when that option kept its default."""
        for option, kitsu_name in KITSU_STATUS_DEFAULTS.items():
            if option not in self.options.model_fields_set and status == getattr(self.options, option):
                return kitsu_name
        return status

    def _load(self) -> None:
        rows = self.conn.call("task statuses", lambda c: gazu.task.all_task_statuses(client=c))
        self._rows = {str(r["short_name"]).lower(): r for r in rows if r.get("short_name")}
        self._rows.update({str(r["id"]): r for r in rows})
