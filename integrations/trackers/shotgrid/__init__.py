"""The ShotGrid / Flow Production Tracking adapter (see `adapter` for how it reads and writes)."""

from integrations.trackers.shotgrid.adapter import Cursor, ShotGridTracker, is_transient

__all__ = ["Cursor", "ShotGridTracker", "is_transient"]
