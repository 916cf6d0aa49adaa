"""The errors a user can meet: each prints as one clear line in the CLI, never a traceback."""

from __future__ import annotations

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
