"""`rushes catalog copy URL`: the whole catalog into another database (SQLite to PostgreSQL, before a cluster)."""

from __future__ import annotations

from typing import Annotated

import typer

from daemon.cli import exits
from daemon.cli.app import command_group, fail, out, settings
from daemon.context import open_context

catalog_app = command_group("catalog", "The catalog database: copy it into another one.")


@catalog_app.command("copy")
def catalog_copy(
    to: Annotated[
        str,
        typer.Argument(
            help="The new, empty database, e.g. postgresql+psycopg://rushes@db/rushes (created tables and all).",
            show_default=False,
        ),
    ],
) -> None:
    """Copy the whole configured catalog into the empty database TO, ids kept, in one transaction.

    Every show, daily, model version, request, Version, job and cursor; stop every daemon first, then set
    catalog_url to TO."""
    from daemon.at_work import at_work
    from daemon.catalog import Catalog, CatalogError
    from daemon.catalog.copy import copy_catalog
    from daemon.errors import passing

    ctx = open_context(settings())
    try:
        target = Catalog(to)
        copied = copy_catalog(
            ctx.catalog,
            target,
            lambda table, rows: out.print(f"{table}: {rows} row(s)", highlight=False),
            at_work=at_work,
        )
        target.dispose()
    except CatalogError as exc:  # in use, or locked by another process: the same copy passes later (exit 75)
        raise fail(str(exc), exits.TRY_LATER if passing(exc) else exits.BAD_INPUT) from None
    finally:
        ctx.close()
    out.print(
        f"copied {copied.rows} row(s) from {ctx.catalog.url} into {target.url}; set catalog_url "
        "(or RUSHES_CATALOG_URL) to it, then start the daemons",
        highlight=False,
    )
