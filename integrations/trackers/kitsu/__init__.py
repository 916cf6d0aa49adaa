"""The Kitsu adapter (see `adapter` for how it reads and writes)."""

from integrations.trackers.kitsu.adapter import KitsuTracker

__all__ = ["KitsuTracker"]
