"""The errors a user can meet: each prints as one clear line in the CLI, never a traceback."""

from __future__ import annotations

import errno

from daemon.catalog import CatalogError
from daemon.catalog.shows import UnknownShow
from daemon.context import DataDirError
from daemon.jobs.outcomes import Permanent
from daemon.leader import LeaderError
from daemon.ops.health import HealthServerError
from daemon.settings import ConfigError
from daemon.shows import UnknownShowError
from daemon.stages.rendering import RenderError
from daemon.wrapping import CannotRemove, ShowWrapped
from engine.media import MediaError
from integrations.trackers.base import TrackerError, TrackerFatal

USER_ERRORS: tuple[type[Exception], ...] = (
    ConfigError,
    CatalogError,
    DataDirError,
    HealthServerError,
    LeaderError,
    UnknownShow,
    UnknownShowError,
    MediaError,
    TrackerError,  # TrackerFatal among them: a refusal that needs mending, the rest an outage that may pass
    RenderError,
    Permanent,
    ShowWrapped,
    CannotRemove,
)


def passing(exc: BaseException) -> bool:
    """Whether a user error may pass by itself, so that the same command may succeed later: the tracker away
    (down, 5xx, a timeout) or the catalog held by another process or its server away (`rushes` exits with
    daemon.cli.exits.TRY_LATER for it, and 2 for the rest)."""
    if isinstance(exc, TrackerError):
        return not isinstance(exc, TrackerFatal)
    return isinstance(exc, CatalogError) and exc.passing


# What a disk or a folder refuses: no bug of Rushes, and no traceback (a full models folder, a read-only cache).
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
_REFUSED = (errno.EACCES, errno.EPERM, errno.EROFS)


def file_refusal(exc: BaseException) -> str | None:
    """One line for an OSError a disk or a folder's permissions caused (full, quota, denied, read-only), naming
    the file and what to do; None for any other error."""
    if not isinstance(exc, OSError) or exc.errno not in (*_DISK_FULL, *_REFUSED):
        return None
    where = exc.filename or "a file"
    if exc.errno in _DISK_FULL:
        return f"disk full while writing {where}: free space on the disk that holds it, then run the command again"
    if exc.errno == errno.EROFS:
        return f"cannot write {where}: its file system is read-only"
    return (
        f"cannot use {where}: permission denied; give the user running rushes access to it (or to its folder)"
    )
