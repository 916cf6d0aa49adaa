"""Imports every command module so that each registers its commands on the app."""

from daemon.cli import ingest, shows, status

__all__ = ["ingest", "shows", "status"]
