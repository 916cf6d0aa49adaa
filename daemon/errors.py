"""The errors a user can meet: each prints as one clear line in the CLI, never a traceback."""

from __future__ import annotations

from daemon.settings import ConfigError
from integrations.trackers.base import TrackerFatal

USER_ERRORS: tuple[type[Exception], ...] = (ConfigError, TrackerFatal)
