"""`rushes daemon`, `rushes migrate`, `rushes jobs list|retry`."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from daemon.cli.app import (
    MAX_ID,
    ConfigOpt,
    app,
    cells,
    command_group,
    fail,
    folding_table,
    out,
    settings,
    state,
)
from daemon.context import open_context
from daemon.logs import configure

jobs_app = command_group("jobs", "Durable jobs: list them, retry dead ones.")


@app.command("daemon")
def daemon_cmd(config: ConfigOpt = None) -> None:
    """Run the daemon: ingest watchers, tracker pollers, scheduler and job runner (SIGTERM stops it).

    `rushes daemon --config F` and `rushes --config F daemon` are the same."""
    from engine.heap import limit_arenas

    limit_arenas()  # first, before imports start threads: each thread's arena keeps what it once held
    if config is not None:
        state.config_path = config
    s = settings(serves_webhook=True)  # a bad config is one line before the daemon's heavy imports
    configure(s.log_level, s.log_format)
    from daemon.service import run_daemon

    run_daemon(s, state.config_path)


@app.command("migrate")
def migrate_cmd() -> None:
    """Create or upgrade the catalog's tables (the daemon and every command do this by themselves too)."""
    ctx = open_context(settings())
    if ctx.migrated_from:
        said = f"upgraded from revision {ctx.migrated_from} to {ctx.catalog.revision()}"
    elif ctx.migrated_from == "":  # a database with no tables yet
        said = f"created at revision {ctx.catalog.revision()}"
    else:
        said = f"is at revision {ctx.catalog.revision()}"
    out.print(f"catalog {ctx.catalog.url} {said}", highlight=False)
    ctx.close()


@jobs_app.command("list")
def jobs_list(
    state_: Annotated[str | None, typer.Option("--state", help="queued, running, done or dead.")] = None,
    kind: Annotated[str | None, typer.Option(help="ingest, train, fix, publish, answer or notice.")] = None,
    limit: Annotated[int, typer.Option(min=0, help="The newest this many; 0: all.")] = 50,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON for scripts (each job as in `rushes status --json`).")
    ] = False,
) -> None:
    """Jobs, newest first, with their errors."""
    from daemon.catalog import jobs as job_repo
    from daemon.jobs.payloads import JOB_KINDS
    from daemon.status import job_record, job_state

    if kind is not None and kind not in JOB_KINDS:  # a typo is not a kind with no jobs
        raise fail(f"--kind {kind!r}: use one of {', '.join(JOB_KINDS)}")
    ctx = open_context(settings())
    try:
        with ctx.catalog.session(readonly=True) as s:
            try:
                records = [
                    job_record(j) for j in job_repo.list_jobs(s, kind=kind, state=state_, limit=limit or None)
                ]
            except ValueError as exc:
                raise fail(str(exc)) from None
    finally:
        ctx.close()
    if as_json:
        typer.echo(json.dumps(records, indent=2))
        return
    table = folding_table("id", "kind", "show", "state", "attempts", "key", "error")
    for j in records:
        table.add_row(
            *cells(
                j["id"], j["kind"], j["show"] or "-", job_state(j), j["attempts"], j["key"], j["error"] or ""
            )
        )
    out.print(table)


@jobs_app.command("retry")
def jobs_retry(
    job_id: Annotated[
        int,
        typer.Argument(help="The id of a dead job, or of one waiting for its next try.", min=1, max=MAX_ID),
    ],
) -> None:
    """Put a dead-lettered job back in the queue with fresh attempts; bring one waiting out its backoff forward."""
    from daemon.catalog import jobs as job_repo

    ctx = open_context(settings())
    try:
        with ctx.catalog.session() as s:
            job = job_repo.get_job(s, job_id)
            if job is None:
                raise fail(f"job {job_id} does not exist (see `rushes jobs list`)")
            was = job.state
            waited_for = job_repo.run_now(s, job_id)
            if waited_for is not None:  # a mend made before its next try: it need not wait for it
                out.print(
                    f"job {job_id} was waiting for its next try at {waited_for:%Y-%m-%d %H:%M:%S} UTC: "
                    "it is tried now",
                    highlight=False,
                )
                return
            if was in ("queued", "running"):  # retried already (a cron's second run): what was asked is so
                out.print(f"job {job_id} is {was} already: nothing to retry", highlight=False)
                return
            if not job_repo.retry(s, job_id):
                raise fail(f"job {job_id} is {was}, not dead: only dead jobs can be retried")
    finally:
        ctx.close()
    out.print(f"job {job_id} queued again")
