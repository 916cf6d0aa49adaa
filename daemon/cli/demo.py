"""`rushes demo [--json] [--footage DIR] [--keep]`: the whole loop, then what to look at.

The output fits any terminal and survives a pipe: every path is printed whole on its own line. A demo run in
a new temporary home removes it at the end unless `--keep` (then it says how to browse the Versions and how
to remove it); a home given with `--home` is always kept.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from daemon.cli.app import app, err, fail, out
from daemon.cli.model import parse_duration


@app.command("demo")
def demo_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    footage: Annotated[
        Path | None, typer.Option(help="Use your own movies instead of generated dailies.")
    ] = None,
    home: Annotated[
        Path | None,
        typer.Option(help="Where to keep everything (default: a new temp folder, removed at the end)."),
    ] = None,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the temporary home: review movies, tracker data, logs.")
    ] = False,
    budget: Annotated[str, typer.Option(help="Training budget, e.g. 60s or 5m.")] = "60s",
) -> None:
    """Run the whole loop offline: tracker, dailies, ingest, training, tagged fixes, published Versions."""
    from daemon.demo import DemoError, run_demo

    if footage is not None and not footage.is_dir():
        raise fail(f"--footage {footage}: no such folder")

    def say(text: str) -> None:
        if not as_json:
            err.print(f"demo: {text}", highlight=False, markup=False)

    temporary = home is None
    folder = home or Path(tempfile.mkdtemp(prefix="rushes-demo-"))
    try:
        summary = run_demo(folder, footage, parse_duration(budget), say)
    except DemoError as exc:
        raise fail(f"{exc} (the demo home {folder} is kept for a look)") from None
    removed = temporary and not keep
    summary["kept"] = not removed
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        _print_summary(summary)
    if removed:
        shutil.rmtree(folder, ignore_errors=True)
        if not as_json:
            line("removed the demo home (`rushes demo --keep` keeps it, to watch the movies):")
            line(f"  {folder}")


def line(text: str) -> None:
    """One line as is: never wrapped or cut (a path stays whole and can be copied)."""
    out.print(text, highlight=False, markup=False, soft_wrap=True)


def _rushes_command() -> str:
    """How to run `rushes` from another shell: this environment's own script (`make demo` does not put its
    virtual environment on PATH), else the bare name."""
    script = Path(sys.executable).parent / "rushes"
    return str(script) if script.is_file() else "rushes"


def _in_order(version: dict[str, Any]) -> tuple[int, str]:
    """Versions in the order the tracker made them (ShotGrid's ids are numbers)."""
    vid = str(version["version_id"])
    return (0, vid.zfill(20)) if vid.isdigit() else (1, vid)


def _print_summary(summary: dict[str, Any]) -> None:
    for v in sorted(summary["versions"], key=_in_order):
        line(
            f"Version {v['version_id']} {v['code']}: {v['kind']} on {v['shot']}, frames "
            f"{v['first_frame']}-{v['last_frame']}, task now '{v['task_status']}'"
        )
        if summary["kept"]:
            line("  review movie:")
            line(f"    {v['movie']}")
            line("  before/after:")
            line(f"    {v['before_after']}")
    for a in summary.get("answered", []):
        line(f"'sharpen' asked on {a['shot']}: not done, the task now '{a['task_status']}', with the note:")
        for text in a["note"].splitlines()[:2]:
            line(f"  {text}")
    model = summary["model"]
    line(f"done in {summary['seconds']} s; model {model['show']} v{model['version']}")
    if not summary["kept"]:
        return
    home, rushes = summary["home"], _rushes_command()
    line("model folder:")
    line(f"  {model['folder']}")
    line("browse the Versions on the local tracker (stopped now; its data stays in the home):")
    line(f"  {rushes} tracker serve --data {home}/tracker --script-key demo")
    line("  then open http://127.0.0.1:8765/versions")
    line("the daemon's catalog and log:")
    line(f"  RUSHES_HOME={home}/rushes {rushes} status")
    line(f"  {home}/daemon.log")
    line("remove the demo when done:")
    line(f"  rm -rf {home}")
