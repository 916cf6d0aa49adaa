"""Real throw-away servers (PostgreSQL, ...) started on loopback for the tests."""
