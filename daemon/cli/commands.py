"""Imports every command module so that each registers its commands on the app."""

from daemon.cli import dailies, demo, ingest, model, service, shows, status, tracker

__all__ = ["dailies", "demo", "ingest", "model", "service", "shows", "status", "tracker"]
