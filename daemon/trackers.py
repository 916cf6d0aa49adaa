"""Which tracker adapter the settings ask for."""

from __future__ import annotations

from integrations.trackers.base import Tracker, TrackerFatal
from integrations.trackers.options import TrackerOptions


def make_tracker(options: TrackerOptions) -> Tracker | None:
    """The configured adapter, or None when `tracker.kind` is none."""
    if options.kind == "shotgrid":
        from integrations.trackers.shotgrid import ShotGridTracker

        return ShotGridTracker(options)
    if options.kind == "kitsu":
        from integrations.trackers.kitsu import KitsuTracker

        return KitsuTracker(options)
    if options.kind == "none":
        return None
    raise TrackerFatal(f"tracker.kind {options.kind!r} is not supported: use shotgrid, kitsu or none")
