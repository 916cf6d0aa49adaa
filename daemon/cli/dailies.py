"""`rushes dailies list|remove|requarantine|exclude|include`: what the catalog holds for a show, taking a daily
out of it, and filmmakers deciding which dailies the show model learns from."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from daemon.cli.app import MAX_ID, command_group, fail, out, printable, settings
from daemon.context import open_context
from daemon.shows import get_show

if TYPE_CHECKING:
    from daemon.catalog import Catalog, Daily

dailies_app = command_group(
    "dailies",
    "List a show's dailies; remove or quarantine one by id; exclude one from training or include it again.",
)

STATUSES = ("registered", "quarantined", "removed", "superseded", "all")


def _row(daily: Daily, aliases: list[str]) -> dict[str, Any]:
    """A daily as `rushes status --json` gives it (daemon.status.daily_record), with its copies (`aliases`) and,
    kept for the scripts that read them before, `frames` (its frame_count) and `size` ("WxH")."""
    from daemon.status import daily_record

    return {
        **daily_record(daily),
        "frames": daily.frame_count,
        "size": f"{daily.width}x{daily.height}" if daily.width else None,
        "aliases": aliases,
    }


@dailies_app.command("list")
def dailies_list(
    show: Annotated[str, typer.Option("--show", "-s", help="The show.")],
    status: Annotated[str, typer.Option(help=f"One of {', '.join(STATUSES)}.")] = "all",
    shot: Annotated[
        str | None, typer.Option(help="Only this shot's dailies (in any case, as fix requests find it).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """A show's dailies with their status, shot, frames, path, aliases (identical copies) and reason."""
    from daemon.catalog import dailies as daily_repo  # SQLAlchemy: only when run

    if status not in STATUSES:
        raise fail(f"--status {status!r}: use one of {', '.join(STATUSES)}")
    ctx = open_context(settings())
    try:
        get_show(ctx.settings, ctx.catalog, show)
        with ctx.catalog.session(readonly=True) as s:
            copies = daily_repo.aliases_by_daily(s, show)  # one query, not one per daily
            code = None if shot is None else daily_repo.shot_for(s, show, [shot]) or shot
            rows = [
                _row(d, copies.get(d.id, []))
                for d in daily_repo.list_dailies(
                    s, show, shot=code, status=None if status == "all" else status
                )
                if status != "all" or d.status != "superseded"
            ]
    finally:
        ctx.close()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        which = f"{'' if status == 'all' else status + ' '}dailies"
        out.print(
            f"no {which} of shot {shot} in {show}" if shot else f"no {which} in {show}", highlight=False
        )
    for r in rows:  # tab-separated for scripts: id, status, shot, frames, path, then what else is known
        typer.echo(
            f"{r['id']}\t{r['status']}\t{printable(r['shot'] or '-')}\t{r['frames'] or '-'}\t{printable(r['path'])}"
            f"\t{printable(_notes(r))}"
        )


def _notes(row: dict[str, Any]) -> str:
    """The last column of a listed daily: its reason (a quarantine's), its exclusion from training with the
    filmmaker's reason, and its copies, as far as it has them."""
    notes = [row["reason"]] if row["reason"] else []
    if row["excluded"]:
        notes.append(f"excluded from training: {row['excluded']}")
    if row["aliases"]:
        notes.append("copies: " + ", ".join(row["aliases"]))
    return "; ".join(notes)


def _act(
    daily_id: int, verb: str, action: Any, then: Callable[[Catalog, str, int], str | None] | None = None
) -> None:
    """`action` on the daily, said in one line; `then`, given the catalog, the daily's show and its id, says one
    more line where it has one."""
    from daemon.catalog import dailies as daily_repo  # SQLAlchemy: only when run

    ctx = open_context(settings())
    try:
        with ctx.catalog.session() as s:
            try:
                row = action(s)
            except daily_repo.NoSuchDaily as exc:
                raise fail(str(exc)) from None
            path, status, reason, show = row.path, row.status, row.error, row.show.code
        more = then(ctx.catalog, show, daily_id) if then is not None else None
    finally:
        ctx.close()
    out.print(
        f"daily {daily_id} {verb}: {printable(Path(path).name)} is {status} ({reason})",
        highlight=False,
        markup=False,
    )
    if more is not None:
        out.print(more, highlight=False, markup=False)


@dailies_app.command("remove")
def dailies_remove(
    daily_id: Annotated[
        int,
        typer.Argument(help="The daily's id (see `rushes dailies list`).", metavar="ID", min=1, max=MAX_ID),
    ],
    reason: Annotated[str, typer.Option(help="Why, kept in the catalog.")] = "removed by hand",
) -> None:
    """Take a daily out of training, evaluation and fixes for good (kept in the catalog for the record)."""
    from daemon.catalog import dailies as daily_repo  # SQLAlchemy: only when run

    _act(daily_id, "removed", lambda s: daily_repo.remove_daily(s, daily_id, reason), then=_still_learned)


def _still_learned(catalog: Catalog, show: str, daily_id: int) -> str | None:
    """After `dailies remove`, the model versions that learned from the daily, which keep it (a removal takes it
    out of the next trainings and fixes; it used to say nothing, as if it withdrew it from the weights too)."""
    from daemon.stages.lineage import versions_learned_from

    learned = versions_learned_from(catalog, show, daily_id)
    if not learned:
        return None
    return (
        f"{show} versions that learned from it keep it: {', '.join(learned)}; to withdraw it from them too "
        f"(consent, rights), `rushes dailies exclude {daily_id} --reason R`: the next training starts afresh "
        "without it"
    )


@dailies_app.command("requarantine")
def dailies_requarantine(
    daily_id: Annotated[
        int,
        typer.Argument(help="The daily's id (see `rushes dailies list`).", metavar="ID", min=1, max=MAX_ID),
    ],
    reason: Annotated[str, typer.Option(help="Why (one line), e.g. what failed in training.")],
) -> None:
    """Quarantine a catalogued daily with a reason; it is skipped until its file changes."""
    from daemon.catalog import dailies as daily_repo  # SQLAlchemy: only when run

    if not reason.strip():
        raise fail("--reason is empty: say in one line why the daily is quarantined")
    _act(daily_id, "quarantined", lambda s: daily_repo.requarantine(s, daily_id, reason))


@dailies_app.command("exclude")
def dailies_exclude(
    daily_id: Annotated[
        int,
        typer.Argument(help="The daily's id (see `rushes dailies list`).", metavar="ID", min=1, max=MAX_ID),
    ],
    reason: Annotated[
        str, typer.Option(help="Why it must not be learned from, e.g. 'likeness not cleared'.")
    ],
) -> None:
    """Never train on this daily again; every later model's manifest lists it with the reason."""
    from daemon.catalog import dailies as daily_repo  # SQLAlchemy: only when run
    from daemon.stages.lineage import base_carrying, promoted_withdrawn, versions_learned_from
    from engine.model import ModelError, ModelOutdated

    if not reason.strip():
        raise fail("--reason is empty: say in one line why the daily is excluded (manifests list it)")
    ctx = open_context(settings())
    try:
        with ctx.catalog.session() as s:
            known = daily_repo.get_daily(s, daily_id)
            before = known.excluded_reason if known is not None else None
            try:
                row = daily_repo.exclude_daily(s, daily_id, reason)
            except daily_repo.NoSuchDaily as exc:
                raise fail(str(exc)) from None
            path, why, show, content = row.path, row.excluded_reason, row.show.code, row.content_hash
        learned = versions_learned_from(ctx.catalog, show, daily_id)
        bases = ctx.settings.data_dir / "bases"
        try:
            in_use = promoted_withdrawn(ctx.catalog, show, bases)
            base = base_carrying(ctx.catalog, show, path, content, bases) if not learned else ""
        except ModelOutdated:  # an older Rushes' version: fixes do not use it, the classical tools fix
            in_use, base = "", ""
        except ModelError as exc:
            in_use, base = f"its lineage cannot be read ({exc})", ""
    finally:
        ctx.close()
    was = f"; it was excluded already, for: {before}" if before and before != why else ""
    out.print(
        f"daily {daily_id} excluded from training: {Path(path).name} ({why}{was})",
        highlight=False,
        markup=False,
    )
    out.print(_learned_line(show, learned, in_use, base), highlight=False, markup=False)


def _learned_line(show: str, learned: list[str], in_use: str, base: str = "") -> str:
    """Which of the show's model versions learned from the excluded daily, or the studio base their lineage grew
    from (`base`, "ACME v1"), and whether fixes still use one (`in_use`: why the promoted version must not be used
    any more, "" when it may)."""
    if not learned and not base:
        return f"no model version of {show} learned from it"
    line = (
        f"{show} versions that learned from it: {', '.join(learned)}; those grown from them carry it too."
        if learned
        else f"no model version of {show} trained on it, but base {base}, which its promoted version grew from, "
        "did; every show grown from that base starts afresh without it at its next training."
    )
    if not in_use:
        return f"{line} Fixes use none of them."
    return (
        f"{line} Fixes use the promoted version until the next training, which starts afresh without it ({in_use}):"
        f" run `rushes train --show {show}` now to stop using it"
    )


@dailies_app.command("include")
def dailies_include(
    daily_id: Annotated[
        int,
        typer.Argument(help="The daily's id (see `rushes dailies list`).", metavar="ID", min=1, max=MAX_ID),
    ],
) -> None:
    """Train on an excluded daily again, from the next training run."""
    from daemon.catalog import dailies as daily_repo  # SQLAlchemy: only when run

    ctx = open_context(settings())
    try:
        with ctx.catalog.session() as s:
            known = daily_repo.get_daily(s, daily_id)
            was_excluded = known is not None and known.excluded_reason is not None
            try:
                path = daily_repo.include_daily(s, daily_id).path
            except daily_repo.NoSuchDaily as exc:
                raise fail(str(exc)) from None
    finally:
        ctx.close()
    if not was_excluded:
        out.print(
            f"daily {daily_id} was not excluded: {Path(path).name} is trained on already",
            highlight=False,
            markup=False,
        )
        return
    out.print(f"daily {daily_id} is trained on again: {Path(path).name}", highlight=False, markup=False)
