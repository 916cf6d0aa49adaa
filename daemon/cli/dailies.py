"""`rushes dailies exclude|include`: filmmakers decide which dailies the show model learns from."""

from __future__ import annotations

from typing import Annotated

import typer

from daemon.catalog import dailies as daily_repo
from daemon.cli.main import app, fail, out, settings
from daemon.context import open_context

dailies_app = typer.Typer(
    no_args_is_help=True, help="Dailies: keep some out of training, or let them back in."
)
app.add_typer(dailies_app, name="dailies")


@dailies_app.command("exclude")
def dailies_exclude(
    daily: Annotated[int, typer.Argument(help="The daily's id (see `rushes status --json`).")],
    reason: Annotated[str, typer.Option(help="Why it must not be learned from, e.g. 'actor's likeness'.")],
) -> None:
    """Never train on this daily again; the next model's manifest lists it with the reason."""
    if not reason.strip():
        raise fail("--reason is empty: say why the daily is excluded (it is written in the manifests)")
    ctx = open_context(settings())
    try:
        with ctx.catalog.session() as s:
            try:
                row = daily_repo.exclude_daily(s, daily, reason)
            except LookupError as exc:
                raise fail(str(exc)) from None
            text = f"daily {row.id} ({row.shot or '-'}, {row.path}) excluded from training: {row.excluded_reason}"
    finally:
        ctx.close()
    out.print(text, highlight=False, markup=False)


@dailies_app.command("include")
def dailies_include(daily: Annotated[int, typer.Argument(help="The daily's id.")]) -> None:
    """Train on an excluded daily again, from the next training run."""
    ctx = open_context(settings())
    try:
        with ctx.catalog.session() as s:
            try:
                row = daily_repo.include_daily(s, daily)
            except LookupError as exc:
                raise fail(str(exc)) from None
            text = f"daily {row.id} ({row.shot or '-'}, {row.path}) is trained on again"
    finally:
        ctx.close()
    out.print(text, highlight=False, markup=False)
