"""Imports every command module so that each registers its commands on the app."""

from daemon.cli import (
    base,
    catalog,
    dailies,
    demo,
    ingest,
    model,
    probe,
    prune,
    service,
    shows,
    status,
    tracker,
)

__all__ = [
    "base",
    "catalog",
    "dailies",
    "demo",
    "ingest",
    "model",
    "probe",
    "prune",
    "service",
    "shows",
    "status",
    "tracker",
]
