"""`rushes demo [--json] [--footage DIR]`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from daemon.cli.app import app, err, fail, out
from daemon.cli.model import parse_duration


@app.command("demo")
def demo_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    footage: Annotated[
        Path | None, typer.Option(help="Use your own movies instead of generated dailies.")
    ] = None,
    home: Annotated[
        Path | None, typer.Option(help="Where to keep everything (default: a new temp folder).")
    ] = None,
    budget: Annotated[str, typer.Option(help="Training budget, e.g. 60s or 5m.")] = "60s",
) -> None:
    """Run the whole loop offline: tracker, dailies, ingest, training, tagged fixes, published Versions."""
    from daemon.demo import DemoError, run_demo

    if footage is not None and not footage.is_dir():
        raise fail(f"--footage {footage}: no such folder")

    def say(text: str) -> None:
        if not as_json:
            err.print(f"[dim]demo:[/dim] {text}", highlight=False)

    try:
        summary = run_demo(home, footage, parse_duration(budget), say)
    except DemoError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    table = Table("Version", "fix", "shot", "frames", "task", "review movie")
    for v in summary["versions"]:
        table.add_row(
            f"{v['version_id']} {v['code']}",
            v["kind"],
            v["shot"],
            f"{v['first_frame']}-{v['last_frame']}",
            v["task_status"],
            v["movie"],
        )
    out.print(table)
    out.print(
        f"done in {summary['seconds']} s. Model {summary['model']['show']} v{summary['model']['version']} "
        f"in {summary['model']['folder']}",
        highlight=False,
    )
    out.print(
        f"Look at: the review and before/after movies above; the tracker's Versions at "
        f"{summary['tracker_url']} (stopped now; its data is in {summary['home']}/tracker); "
        f"`RUSHES_HOME={summary['home']}/rushes rushes status`; the daemon log {summary['home']}/daemon.log",
        highlight=False,
    )
