"""Durable jobs: typed payloads (payloads), how a failure is judged (outcomes), the lanes that claim and run
them (runner) and the entry points worker processes call (worker). The queue itself is `daemon.catalog.jobs`."""
