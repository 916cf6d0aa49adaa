"""A local ShotGrid-compatible server that the unmodified shotgun_api3 client talks to over HTTP.

For trying Rushes offline and for integration tests; SQLite storage, event log, uploads, fault injection.
"""

from integrations.trackers.sgserver.app import SGServer, serve, start_in_thread
from integrations.trackers.sgserver.faults import Faults

__all__ = ["Faults", "SGServer", "serve", "start_in_thread"]
