"""Production trackers: where coordinators ask for fixes and supervisors review what Rushes published.

- `base`: the `Tracker` protocol (the five calls the daemon makes) and the plain data crossing it.
- `options`: `TrackerOptions`, the adapters' own settings (URL, login, field and status names).
- `shotgrid/`, `kitsu/`: the adapters, one package each (connection, cursor, events, fixes, reviews,
  writes, ...), built on the shared pieces below.
- `calls` (one request: retries, then TrackerError / TrackerFatal in one line), `cursors` (the opaque
  JSON cursor and the first-start rule with its backfill), `retry` (the backoff schedule), `notes`
  (parsing fix-request text against the kinds the daemon hands in).
- `memory`: `MemoryTracker`, the protocol on plain data for the daemon's unit tests.
- `sgserver/`: a local ShotGrid-compatible server (`rushes tracker serve`, the tests, the demo).
"""
