"""Editorial interchange: OpenTimelineIO files describing rendered clips for editors and conform.

Public API: otio.clip_timeline, otio.write_timeline, otio.read_timeline, otio.EditorialError.
"""

from .otio import EditorialError, clip_timeline, read_timeline, write_timeline

__all__ = ["EditorialError", "clip_timeline", "read_timeline", "write_timeline"]
