"""Which tracker adapter the settings ask for, and the fix kinds the daemon hands it.

The fix kinds are the engine's heads (`engine.kinds.HEAD_ORDER`, the one list, torch-free); integrations may not
import the engine, so the adapters get the list here, at construction, to read free-text requests.
"""

from __future__ import annotations

from engine.kinds import HEAD_ORDER
from integrations.trackers.base import Tracker, TrackerFatal
from integrations.trackers.options import TrackerOptions

FIX_KINDS: tuple[str, ...] = tuple(HEAD_ORDER)


def make_tracker(options: TrackerOptions) -> Tracker | None:
    """The configured adapter, or None when `tracker.kind` is none."""
    if options.kind == "shotgrid":
        from integrations.trackers.shotgrid import ShotGridTracker

        return ShotGridTracker(options, kinds=FIX_KINDS)
    if options.kind == "kitsu":
        from integrations.trackers.kitsu import KitsuTracker

        return KitsuTracker(options, kinds=FIX_KINDS)
    if options.kind == "none":
        return None
    raise TrackerFatal(f"tracker.kind {options.kind!r} is not supported: use shotgrid, kitsu or none")
