"""Alembic migrations of the catalog, shipped inside the package and run by `Catalog.migrate()`."""
