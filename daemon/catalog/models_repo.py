"""Model versions: each show's trained models, numbered 1, 2, ... with the parent they warm-started from.

`promoted` marks versions that passed evaluation and were put in service; the show's `promoted_version`
is the one in service now (promoting an older version rolls back to it).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from daemon.catalog.db import utcnow
from daemon.catalog.models import ModelVersion, Show
from daemon.catalog.shows import require_show


def next_version(s: Session, show: str) -> int:
    """The number the show's next model version gets (1 for the first)."""
    show_row = require_show(s, show)
    highest = s.scalar(select(func.max(ModelVersion.version)).where(ModelVersion.show_id == show_row.id))
    return (highest or 0) + 1


def add_version(
    s: Session,
    show: str,
    path: str,
    *,
    version: int | None = None,
    parent_version: int | None = None,
    metrics: dict[str, Any] | None = None,
) -> ModelVersion:
    """Record a trained model folder as the show's next version (or as `version`, which must be new)."""
    show_row = require_show(s, show)
    row = ModelVersion(
        show_id=show_row.id,
        version=version if version is not None else next_version(s, show),
        parent_version=parent_version,
        path=path,
        metrics=dict(metrics or {}),
        promoted=False,
    )
    s.add(row)
    s.flush()
    return row


def get_version(s: Session, show: str, version: int) -> ModelVersion | None:
    return s.scalars(
        select(ModelVersion).join(ModelVersion.show).where(Show.code == show, ModelVersion.version == version)
    ).one_or_none()


def list_versions(s: Session, show: str) -> list[ModelVersion]:
    """A show's model versions, oldest first."""
    return list(
        s.scalars(
            select(ModelVersion)
            .join(ModelVersion.show)
            .where(Show.code == show)
            .order_by(ModelVersion.version)
        )
    )


def set_metrics(s: Session, show: str, version: int, metrics: dict[str, Any]) -> ModelVersion:
    row = _require_version(s, show, version)
    row.metrics = dict(metrics)
    return row


def promote(s: Session, show: str, version: int) -> ModelVersion:
    """Put this version in service for the show."""
    row = _require_version(s, show, version)
    row.promoted = True
    row.promoted_at = utcnow()
    row.show.promoted_version = version
    return row


def recorded_seal(row: ModelVersion) -> str | None:
    """The manifest seal recorded when the version was trained (`metrics["seal"]`), if any: a manifest edited
    and re-sealed on disk since no longer matches it."""
    seal = (row.metrics or {}).get("seal")
    return str(seal) if seal else None


def latest_promoted(s: Session, show: str) -> ModelVersion | None:
    """The version in service for the show (None before the first promotion)."""
    show_row = require_show(s, show)
    if show_row.promoted_version is None:
        return None
    return get_version(s, show, show_row.promoted_version)


def _require_version(s: Session, show: str, version: int) -> ModelVersion:
    row = get_version(s, show, version)
    if row is None:
        raise LookupError(f"show {show!r} has no model version {version}")
    return row
