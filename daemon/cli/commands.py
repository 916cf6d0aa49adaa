"""Imports every command module so that each registers its commands on the app."""

from daemon.cli import demo, ingest, model, service, shows, status, tracker

__all__ = ["demo", "ingest", "model", "service", "shows", "status", "tracker"]
