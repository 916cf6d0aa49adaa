"""The catalog: Rushes' database of shows, dailies, model versions, jobs, fix requests and publications.

`Catalog(url)` opens it (SQLite by default, PostgreSQL by URL); `with catalog.session() as s:` is one
transaction; the repository modules (shows, dailies, models_repo, jobs, fixes, cursors,
tracker_reads, unfollowed) are plain
functions taking that session.
"""

from daemon.catalog.db import Catalog, CatalogError, utcnow
from daemon.catalog.models import (
    Daily,
    DailyAlias,
    FixRequest,
    Job,
    ModelVersion,
    Publication,
    Show,
    TrackerCursor,
    TrackerRead,
    UnfollowedRequest,
)
from daemon.catalog.shows import UnknownShow

__all__ = [
    "Catalog",
    "CatalogError",
    "Daily",
    "DailyAlias",
    "FixRequest",
    "Job",
    "ModelVersion",
    "Publication",
    "Show",
    "TrackerCursor",
    "TrackerRead",
    "UnfollowedRequest",
    "UnknownShow",
    "utcnow",
]
