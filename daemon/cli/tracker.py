"""`rushes tracker serve|setup|check`: the local ShotGrid-compatible server, preparing the configured tracker
for Rushes (fields, statuses; on the local server also projects, shots and tasks), and a check of it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from daemon.cli import exits
from daemon.cli.app import command_group, err, fail, out, settings

tracker_app = command_group("tracker", "The production tracker: set it up, check it, or serve a local one.")


@tracker_app.command("serve")
def tracker_serve(
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    data: Annotated[
        Path | None, typer.Option("--data", help="Folder for its SQLite file and uploads.")
    ] = None,
    script_name: Annotated[
        str, typer.Option(envvar="RUSHES_TRACKER__SCRIPT_NAME", help="Script (ApiUser) name.")
    ] = "rushes",
    script_key: Annotated[
        str,
        typer.Option(
            envvar="RUSHES_TRACKER__SCRIPT_KEY",
            help="Script key; better the env var, as every user of the machine sees a command line (ps).",
        ),
    ] = "",
    schema: Annotated[
        Path | None, typer.Option("--schema", help="A site's exported schema_read JSON to start from.")
    ] = None,
) -> None:
    """Serve a local ShotGrid-compatible tracker (the /api3/json protocol shotgun_api3 speaks), until Ctrl-C."""
    from integrations.trackers.sgserver.app import serve
    from integrations.trackers.sgserver.schema import SchemaError

    if not script_key:
        raise fail("the local tracker needs a script key: --script-key KEY or RUSHES_TRACKER__SCRIPT_KEY")
    folder = data or Path(os.environ.get("RUSHES_HOME", ".")) / "sgserver"
    try:
        server = serve(host, port, folder, script_name, script_key, schema)
    except SchemaError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port") from None
    out.print(
        f"ShotGrid-compatible server on {server.url} (data in {folder}); Ctrl-C stops it", highlight=False
    )
    try:
        server.wait()
    except KeyboardInterrupt:
        server.stop()


REACHED = ("connect", "authenticate", "login")  # the check lines that say Rushes is in (then its projects)
RETRY_LATER = "; will retry later"  # how an unreachable tracker's error ends (integrations.trackers.calls)
REACH_IT = "check tracker.url and that this machine reaches it"


JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print each line as JSON for scripts; the same exit status.")
]


@tracker_app.command("check")
def tracker_check(as_json: JsonOpt = False) -> None:
    """Connect with the configured settings and report what works and what is missing."""
    from daemon.context import open_context
    from daemon.trackers import make_tracker, project_checks, setup_plans  # only once a tracker command runs
    from integrations.trackers.setup import SetsUp

    s = settings()

    tracker = make_tracker(s.tracker)
    if tracker is None:
        raise fail("no tracker is configured: set tracker.kind (shotgrid or kitsu) and tracker.url")
    results = tracker.check()
    reached = [r.ok for r in results if r.what in REACHED]
    if reached and all(reached) and isinstance(tracker, SetsUp):
        ctx = open_context(s)
        try:
            plans = setup_plans(s, ctx.catalog)
        finally:
            ctx.close()
        results += project_checks(tracker, plans)
    if as_json:
        checks = [{"what": r.what, "ok": r.ok, "detail": _as_said(r.detail)} for r in results]
        typer.echo(json.dumps({"ok": all(r.ok for r in results), "checks": checks}, indent=2))
    for r in [] if as_json else results:
        mark = "[green]ok[/green]  " if r.ok else "[red]FAIL[/red]"
        detail = _as_said(r.detail)
        out.print(
            f"{mark} {escape(r.what)}" + (f": {escape(detail)}" if detail else ""),
            highlight=False,
            markup=True,
        )
    failed = [r for r in results if not r.ok]
    if failed and all(r.detail.endswith(RETRY_LATER) for r in failed):  # away for now: nothing to mend in it
        err.print("the tracker cannot be reached: check tracker.url, or run the check again once it answers")
        raise typer.Exit(exits.TRY_LATER)
    if failed:
        settable = any(r.what.startswith(("field ", "status ")) for r in failed)
        err.print(
            "the tracker is not ready for Rushes: fix the lines marked FAIL"
            + (" (`rushes tracker setup` creates the missing fields and statuses it can)" if settable else "")
        )
        raise typer.Exit(exits.PROBLEMS)


def _as_said(detail: str) -> str:
    """A check's detail as this command says it: the daemon retries an unreachable tracker; a command does not."""
    return detail.removesuffix(RETRY_LATER) + f"; {REACH_IT}" if detail.endswith(RETRY_LATER) else detail


MARKS = {"created": "[green]created[/green]", "existed": "exists ", "missing": "[red]MISSING[/red]"}


@tracker_app.command("setup")
def tracker_setup(
    show: Annotated[
        str | None, typer.Option("--show", "-s", help="Only this show (default: every show).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create what Rushes needs on the configured tracker, and say what already existed.

    ShotGrid/Flow: the Task fix field and the Version key field (text); on the local server also each
    show's project, the shots in the catalog and a task per shot. Kitsu: the task statuses. Safe to repeat.
    """
    from daemon.context import open_context
    from daemon.trackers import make_tracker, setup_plans
    from integrations.trackers.setup import SetsUp

    s = settings()
    tracker = make_tracker(s.tracker)
    if tracker is None:
        raise fail("no tracker is configured: set tracker.kind (shotgrid or kitsu) and tracker.url")
    if not isinstance(tracker, SetsUp):
        raise fail(f"the {tracker.name} tracker has nothing to set up")
    ctx = open_context(s)
    try:
        plans = setup_plans(s, ctx.catalog, show)
    finally:
        ctx.close()
    steps = tracker.setup(plans)
    made = sum(1 for st in steps if st.outcome == "created")
    missing = sum(1 for st in steps if st.outcome == "missing")
    if as_json:
        listed = [{"what": st.what, "outcome": st.outcome, "detail": st.detail} for st in steps]
        counts = {"created": made, "existed": len(steps) - made - missing, "missing": missing}
        typer.echo(json.dumps({**counts, "steps": listed}, indent=2))
    for step in [] if as_json else steps:
        detail = f": {escape(step.detail)}" if step.detail else ""
        out.print(f"{MARKS[step.outcome]} {escape(step.what)}{detail}", highlight=False, markup=True)
    if not as_json:
        out.print(
            f"{made} created, {len(steps) - made - missing} already there, {missing} missing", highlight=False
        )
    if missing:
        err.print("some things cannot be created by Rushes: do the lines marked MISSING by hand")
        raise typer.Exit(exits.PROBLEMS)
