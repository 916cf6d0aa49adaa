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
from integrations.trackers.base import TrackerFatal

USER_ERRORS: tuple[type[Exception], ...] = (
    ConfigError,
    CatalogError,
    DataDirError,
    HealthServerError,
    LeaderError,
    UnknownShow,
    UnknownShowError,
    MediaError,
    TrackerFatal,
    RenderError,
    Permanent,
    ShowWrapped,
    CannotRemove,
)
