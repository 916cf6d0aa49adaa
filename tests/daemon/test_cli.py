"""The `rushes` command line: happy paths through typer's runner, every user mistake through the real console
entry (`python -m daemon`), where it must be one line on stderr, a non-zero exit and never a traceback."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shotgun_api3
from typer.testing import CliRunner

from daemon import __version__
from daemon.catalog.dailies import DailyFacts, register_daily
from daemon.catalog.shows import ensure_show, set_model_stale
from daemon.cli import app as cli_app
from daemon.cli.main import _register, app
from daemon.context import open_context
from daemon.leader import Leadership
from daemon.settings import load_settings
from daemon.trackers import FIX_KINDS
from engine.media import probe, read_frames
from engine.media.audio import SoundSpan
from engine.metrics import psnr
from integrations.trackers.options import TrackerOptions
from integrations.trackers.sgserver.app import SGServer, start_in_thread
from integrations.trackers.shotgrid import ShotGridTracker
from tests import footage
from tests.homes import own_home, rushes

_register()

KEY = "right-key"


def clean_environ(home: Path) -> dict[str, str]:
    """The caller's environment without any RUSHES_* variable, with its own data directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUSHES_")}
    return {**env, "RUSHES_HOME": str(home), "XDG_DATA_HOME": str(home.parent / "xdg")}


def tracker_env(server: SGServer, key: str) -> dict[str, str]:
    return {
        "RUSHES_TRACKER__KIND": "shotgrid",
        "RUSHES_TRACKER__URL": server.url,
        "RUSHES_TRACKER__SCRIPT_NAME": "rushes",
        "RUSHES_TRACKER__SCRIPT_KEY": key,
    }


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return own_home(monkeypatch, tmp_path)


@pytest.fixture(scope="module")
def sg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SGServer]:
    """The local ShotGrid-compatible server, with the two fields Rushes needs already created."""
    server = start_in_thread(tmp_path_factory.mktemp("sg"), "rushes", KEY)
    options = TrackerOptions(kind="shotgrid", url=server.url, script_name="rushes", script_key=KEY)  # type: ignore[arg-type]
    ShotGridTracker(options, kinds=FIX_KINDS).ensure_fields()
    yield server
    server.stop()


# ---- happy paths ----------------------------------------------------------------------------------------------


def test_version_is_the_package_version() -> None:
    code, output = rushes("version")
    assert code == 0
    assert output.strip() == f"rushes {__version__}"
    assert __version__ == importlib.metadata.version("rushes")


@pytest.mark.parametrize("module", ["daemon", "daemon.cli.main"])
def test_the_cli_runs_as_a_module(module: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", module, "version"], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0 and out.stdout.strip() == f"rushes {__version__}"


def test_names_with_brackets_are_printed_as_written(tmp_path: Path) -> None:
    """rich read `[a]` in a folder's, a file's or a shot's name as markup and dropped it (`sh010_[a].mov` came
    out as `sh010_.mov`)."""
    folder = tmp_path / "plates [a] [bold]"
    folder.mkdir()
    code, output = rushes("show", "add", "BRK", "--ingest", str(folder))
    assert code == 0 and f"show BRK added ({folder})" in output
    code, output = rushes("status")
    assert code == 0 and "BRK" in output


def test_a_shows_folder_gone_stops_no_command_and_show_list_marks_it(tmp_path: Path) -> None:
    kept, gone = tmp_path / "kept", tmp_path / "gone"
    kept.mkdir()
    gone.mkdir()
    assert rushes("show", "add", "KEPT", "--ingest", str(kept))[0] == 0
    assert rushes("show", "add", "GONE", "--ingest", str(gone))[0] == 0
    gone.rmdir()  # an archived show, an unmounted share
    code, output = rushes("show", "list")
    assert code == 0 and output.splitlines() == [f"GONE\tGONE\t{gone} (missing)", f"KEPT\tKEPT\t{kept}"]
    code, output = rushes("status")
    assert code == 0 and "KEPT" in output and f"ingest folder missing: {gone}" in output
    assert (
        rushes("show", "add", "NEW", "--ingest", str(tmp_path / "typo"))[0] != 0
    )  # its line: the exit-2 cases
    assert "NEW" not in rushes("show", "list")[1]


def test_show_list_names_a_yaml_show_without_a_name_by_its_code_as_its_json_does(tmp_path: Path) -> None:
    """A YAML show with no `name` printed "S1<tab><tab>/path": a script reading the name column got nothing,
    where `show list --json` and `status --json` say "S1"."""
    config = tmp_path / "rushes.yaml"
    config.write_text("shows:\n  - code: S1\n")
    code, output = rushes("--config", str(config), "show", "list")
    assert code == 0 and output.splitlines() == ["S1\tS1\t-"]


def test_a_show_stored_invalid_is_left_out_and_named_and_stops_no_command() -> None:
    assert rushes("show", "add", "GOOD")[0] == 0
    ctx = open_context(load_settings())
    with ctx.catalog.session() as s:  # as an upgrade that tightens a rule, or an edit by hand, would leave it
        row, _ = ensure_show(s, "BAD")
        row.config = {"ingest": {"path_template": "{take}.{ext}"}}
    ctx.close()
    code, output = rushes("status")
    assert code == 0 and "GOOD" in output
    assert "show BAD is left out: show BAD (catalog): ingest.path_template" in output
    code, output = rushes("show", "list")
    assert code == 0 and output.splitlines() == ["GOOD\tGOOD\t-"]


def test_status_lists_a_big_shows_newest_dailies_and_says_how_many_more(tmp_path: Path) -> None:
    assert rushes("show", "add", "BIG")[0] == 0
    ctx = open_context(load_settings())
    with ctx.catalog.session() as s:
        for i in range(30):
            name = f"sh{i:03d}_1.mov"
            facts = DailyFacts(
                path=str(tmp_path / name), size_bytes=10, mtime=1.0, content_hash=name, shot=name[:5]
            )
            register_daily(s, "BIG", facts)
        set_model_stale(s, "BIG")  # new dailies since its (never run) training
    ctx.close()
    code, output = rushes("status", "--dailies", "5")
    assert (
        code == 0 and "BIG  30 dailies, no trained model yet (fixes use the classical tools)\n" in output
    )  # not also "stale"
    assert "sh029" in output and "sh025" in output and "sh024" not in output  # the newest
    assert "and 25 older: `rushes dailies list --show BIG --status registered`" in output
    [listed] = json.loads(rushes("status", "--json", "--dailies", "5")[1])["shows"]
    newest = listed["dailies"][-1]
    assert newest["shot"] == "sh029"
    row = next(line for line in output.splitlines() if " sh029 " in line)
    assert row.split()[:4] == ["│", str(newest["id"]), "│", "sh029"]  # the id `rushes dailies exclude` takes
    [show] = json.loads(rushes("status", "--json", "--dailies", "0")[1])["shows"]
    assert show["dailies_total"] == len(show["dailies"]) == 30  # 0: every one
    assert [d["shot"] for d in show["dailies"]][:2] == ["sh000", "sh001"]  # oldest first, as before


def test_show_add_twice_adds_a_root_and_list_shows_both(tmp_path: Path) -> None:
    first, second = tmp_path / "dailies-a", tmp_path / "dailies-b"
    first.mkdir()
    second.mkdir()
    code, output = rushes("show", "add", "MYSHOW", "--ingest", str(first), "--name", "My Show")
    assert code == 0 and output.strip() == f"show MYSHOW added ({first})"
    code, output = rushes("show", "add", "MYSHOW", "--ingest", str(second))
    assert code == 0 and output.strip() == f"show MYSHOW updated ({first}, {second})"
    code, output = rushes("show", "add", "MYSHOW", "--ingest", str(second))  # the same folder again
    assert code == 0 and output.strip() == f"show MYSHOW updated ({first}, {second})"
    ctx = open_context(load_settings())
    with Leadership(ctx.catalog) as daemon:  # a daemon runs on the catalog: it takes the change up
        assert daemon.try_acquire()
        code, output = rushes("show", "add", "MYSHOW", "--ingest", str(second))
    ctx.close()
    assert code == 0 and output.splitlines()[1:] == [
        "  the daemon running on this catalog takes it up within seconds: it watches these folders and takes "
        "this show's fix requests without a restart"
    ]
    assert rushes("show", "add", "OTHER")[0] == 0

    code, output = rushes("show", "list")
    assert code == 0
    assert output.splitlines() == [f"MYSHOW\tMy Show\t{first}, {second}", "OTHER\tOTHER\t-"]


def test_status_piped_to_a_file_keeps_every_path_whole(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in clean_environ(home).items() if k != "COLUMNS"}  # set by an xdist worker
    folder = tmp_path / ("dailies_of_a_show_whose_server_paths_are_long_" * 2)
    footage.movie(folder / "sh010_1.mp4", n=3, size=(48, 32))
    assert (
        subprocess.run(
            [sys.executable, "-m", "daemon", "show", "add", "LONG", "--ingest", str(folder)],
            env=env,
            check=False,
        ).returncode
        == 0
    )
    assert (
        subprocess.run(
            [sys.executable, "-m", "daemon", "ingest", str(folder), "--show", "LONG"], env=env, check=False
        ).returncode
        == 0
    )

    stdout, _ = console(["status"], env).communicate(timeout=120)  # stdout a pipe, as `> status.txt` or grep

    assert len(str(folder / "sh010_1.mp4")) > 120 and str(folder / "sh010_1.mp4") in stdout  # not cut at 80


def dead_job(home: Path, kind: str, error: str) -> None:
    """A job of `kind` in the home's catalog, dead-lettered with `error`."""
    from daemon.catalog import Catalog
    from daemon.catalog import jobs as job_repo

    catalog = Catalog(f"sqlite:///{home / 'catalog.sqlite'}")
    try:
        catalog.migrate()
        with catalog.session() as s:
            job_repo.enqueue(s, kind, f"{kind}:sg:1:regrade", {"request": 1})
            held = job_repo.claim(s, "w", [kind], 60)
            assert held is not None
            job_repo.fail(s, held.id, "w", error, retryable=False)
    finally:
        catalog.dispose()


def test_status_and_jobs_list_show_brackets_from_files_and_the_tracker_as_written(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file name or a coordinator's text holding [brackets] is text, not rich markup: a closing tag such as
    [/b] in a refused reference made `rushes status` and `rushes jobs list` fail with a MarkupError traceback
    for everyone, and `sh[bold]010_1.mp4` was listed as sh010_1.mp4, a path that does not exist."""

    folder = tmp_path / "dailies"
    footage.movie(folder / "sh[bold]010_1.mp4", n=3, size=(48, 32))
    assert rushes("show", "add", "TST", "--ingest", str(folder))[0] == 0
    assert rushes("ingest", str(folder), "--show", "TST")[0] == 0
    dead_job(clean_env, "fix", "Permanent: reference '/mnt/[/b]look.png' is outside the show's folders")

    from daemon.cli import app as cli_app

    monkeypatch.setattr(
        cli_app.out, "_width", 400
    )  # the path whole, however long tmp_path (an xdist worker: 80)
    code, output = rushes("status")
    assert code == 0, output
    assert "sh[bold]010" in output and str(folder / "sh[bold]010_1.mp4") in output
    assert "[/b]look.png" in output
    code, output = rushes("jobs", "list", "--state", "dead")
    assert code == 0 and "[/b]look.png" in output, output


def test_a_narrow_terminal_wraps_table_cells_whole_rather_than_cutting_them(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a 40-column tmux pane `rushes jobs list` read "│ 13 │ pu… │ MY… │ do… │": every state, kind and error
    cut to an ellipsis, as the scores of `rushes model list` and the paths of `rushes status` were."""
    from daemon.cli import app as cli_app

    error = "Permanent: the daily sh010_1.mov is no longer on disk"
    dead_job(clean_env, "publish", error)
    monkeypatch.setattr(cli_app.out, "_width", 40)
    code, output = rushes("jobs", "list")
    assert code == 0, output
    assert "…" not in output and max(len(line) for line in output.splitlines()) <= 40
    rows = [line.strip("│").split("│") for line in output.splitlines() if line.startswith("│")]
    columns = [
        "".join(row[i].strip() for row in rows) for i in range(len(rows[0]))
    ]  # one job: each column's cell
    assert "publish" in columns[1] and "dead" in columns[3], output
    assert error.replace(" ", "") in columns[6], output


def test_status_writes_a_terminals_escape_sequences_from_a_file_or_the_tracker_escaped(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a fix field and a file name holding escape sequences reached the operator's terminal as they were: a window
    # title set, text hidden, the clipboard written (OSC 52) by whoever could edit a task or drop a file
    from daemon.catalog import Catalog, fixes

    folder = tmp_path / "dailies"
    footage.movie(folder / "sh010_1.mp4", n=3, size=(48, 32))
    (folder / "x\x1b]52;c;ZWNobwo=\x07\x1b[8m_1.mov").write_bytes(b"not a movie")
    assert rushes("show", "add", "TST", "--ingest", str(folder))[0] == 0
    assert rushes("ingest", str(folder), "--show", "TST")[0] == 0
    catalog = Catalog(f"sqlite:///{clean_env / 'catalog.sqlite'}")
    try:
        with catalog.session() as s:
            request, _ = fixes.add_fix_request(s, "TST", "sg:1", "sh010", ["cleanup"])
            fixes.set_fix_state(
                s, request.id, "failed", error="unknown fix kind 'PWNED\x1b]0;TITLE\x07\x1b[31mRED'"
            )
    finally:
        catalog.dispose()
    from daemon.cli import app as cli_app

    monkeypatch.setattr(
        cli_app.out, "_width", 400
    )  # each row on one line (an xdist worker's console: 80 wide)
    code, output = rushes("status")
    assert code == 0 and "\x1b" not in output and "\x07" not in output
    assert "unknown fix kind 'PWNED\\x1b]0;TITLE\\x07\\x1b[31mRED'" in output
    assert "x\\x1b]52;c;ZWNobwo=\\x07" in output


def test_status_says_a_rejection_note_only_while_the_request_is_not_approved_since(clean_env: Path) -> None:
    # rejected with a note, then approved: `rushes status` listed it approved and still said why it was rejected
    from daemon.catalog import Catalog, fixes

    assert rushes("show", "add", "TST")[0] == 0
    catalog = Catalog(f"sqlite:///{clean_env / 'catalog.sqlite'}")
    try:
        with catalog.session() as s:
            request, _ = fixes.add_fix_request(s, "TST", "sg:1", "sh050", ["denoise"], task_id=4)
            fixes.set_fix_state(s, request.id, "open", rejection_note="still grainy")
        assert "fix request 1 sh050 rejected: still grainy" in rushes("status")[1]
        with catalog.session() as s:
            fixes.set_fix_state(s, request.id, "approved")
    finally:
        catalog.dispose()
    assert "still grainy" not in rushes("status")[1]


def test_status_json_on_an_empty_home(clean_env: Path) -> None:
    code, output = rushes("status", "--json")
    assert code == 0, output
    assert json.loads(output) == {
        "data_dir": str(clean_env),
        "catalog": f"sqlite:///{clean_env / 'catalog.sqlite'}",
        "shows": [],
        "tracker_reads": [],
        "unfollowed_projects": [],
        "invalid_shows": [],
        "jobs": {"counts": [], "recent": []},
    }
    code, output = rushes("status")
    assert code == 0 and "no shows yet: add one with `rushes show add CODE --ingest DIR`" in output


def test_status_says_when_a_daemon_cannot_read_the_tracker_and_since_when(clean_env: Path) -> None:
    """What the daemons' pollers stored: a machine whose reads fail (a wrong key) is named with the reason and
    since when; one that has not polled for hours may have no daemon running; one gone for days is left out."""
    from datetime import timedelta

    from daemon.catalog import Catalog, tracker_reads, utcnow

    assert rushes("status")[0] == 0  # creates the catalog
    now = utcnow()
    refused = "cannot read the shotgrid tracker: ShotGrid rejected script 'rushes': check RUSHES_TRACKER__SCRIPT_KEY"
    catalog = Catalog(f"sqlite:///{clean_env / 'catalog.sqlite'}")
    try:
        with catalog.session() as s:
            tracker_reads.record_read(s, "render-1", "shotgrid", None, now - timedelta(minutes=30))
            tracker_reads.record_read(s, "render-1", "shotgrid", refused, now - timedelta(minutes=12))
            tracker_reads.record_read(s, "render-2", "shotgrid", None, now - timedelta(hours=3))
            tracker_reads.record_read(s, "render-3", "shotgrid", None, now - timedelta(days=3))
    finally:
        catalog.dispose()

    code, output = rushes("status", env={"COLUMNS": "60"})
    assert code == 0, output
    lines = output.splitlines()
    failing = next(line for line in lines if line.startswith("tracker shotgrid from render-1: "))
    assert failing == (
        f"tracker shotgrid from render-1: since {now - timedelta(minutes=12):%Y-%m-%d %H:%M} UTC (12 min), "
        f"{refused}; fix requests wait until it goes through (`rushes tracker check` says what to mend)"
    )  # whole on one line, on a narrow terminal
    quiet = next(line for line in lines if line.startswith("tracker shotgrid from render-2: "))
    assert (
        quiet
        == "tracker shotgrid from render-2: reads went through 3 h ago; its daemon has not polled since: is it running?"
    )
    assert not any("render-3" in line for line in lines)
    reads = json.loads(rushes("status", "--json")[1])["tracker_reads"]
    assert [(r["host"], r["problem"], r["quiet"]) for r in reads] == [
        ("render-1", refused, False),
        ("render-2", None, True),
    ]


def test_status_names_a_shotgrid_project_whose_fix_requests_no_show_took_until_a_show_follows_it(
    clean_env: Path, sg_server: SGServer
) -> None:
    """Production renamed the project (a show follows it by its old name): its fix requests, read through
    shotgun_api3 from the local ShotGrid server, are taken by no show, and `rushes status` says which project,
    how many and what to set, until the show follows it by its code."""
    import shotgun_api3

    from daemon.catalog import Catalog
    from daemon.settings import ShowConfig
    from daemon.stages.requests import poll_fix_requests

    assert rushes("show", "add", "MARS", "--tracker-project", "Mars Patrol")[0] == 0
    sg = shotgun_api3.Shotgun(sg_server.url, "rushes", KEY)
    project = sg.create("Project", {"name": "Mars Patrol S2", "code": "MRS"})
    shot = sg.create("Shot", {"code": "SH020", "project": project})
    task = sg.create("Task", {"content": "comp", "entity": shot, "project": project})
    options = TrackerOptions(kind="shotgrid", url=sg_server.url, script_name="rushes", script_key=KEY)  # type: ignore[arg-type]
    shows = [ShowConfig(code="MARS", tracker_project="Mars Patrol")]
    catalog = Catalog(f"sqlite:///{clean_env / 'catalog.sqlite'}")
    try:
        poll_fix_requests(ShotGridTracker(options, kinds=FIX_KINDS), catalog, shows)  # the cursor starts
        sg.update("Task", task["id"], {"sg_rushes_fixes": "denoise", "sg_status_list": "fix"})
        assert poll_fix_requests(ShotGridTracker(options, kinds=FIX_KINDS), catalog, shows).new == 0
    finally:
        catalog.dispose()

    code, output = rushes("status", env={"COLUMNS": "60"})
    assert code == 0, output
    line = next(line for line in output.splitlines() if line.startswith("tracker shotgrid: "))
    assert line.startswith("tracker shotgrid: 1 fix request on project MRS (Mars Patrol S2) since ")
    assert line.endswith(
        "shot(s) SH020, were not taken, as no show follows that project: set `tracker_project: MRS` (its code, "
        "which a rename keeps) on the show it belongs to, then set those tasks out of the fix status and back to "
        "ask again (nothing to do if another Rushes follows it)"
    )  # whole on one line, on a narrow terminal
    [seen] = json.loads(rushes("status", "--json")[1])["unfollowed_projects"]
    assert (seen["tracker"], seen["project"], seen["names"], seen["requests"], seen["shots"]) == (
        "shotgrid",
        "MRS",
        ["MRS", "Mars Patrol S2"],
        1,
        ["SH020"],
    )
    assert rushes("show", "add", "MARS", "--tracker-project", "MRS")[0] == 0
    assert "tracker shotgrid: " not in rushes("status")[1]
    assert json.loads(rushes("status", "--json")[1])["unfollowed_projects"] == []


def test_status_shows_where_each_versions_review_movie_is(clean_env: Path) -> None:
    from daemon.catalog import Catalog, fixes

    assert rushes("show", "add", "TST")[0] == 0
    renders = clean_env / "renders" / "TST" / "a_rather_long_folder_name_for_the_shot" / "sh010"
    movie, before_after = renders / "sh010_rushes_denoise_r1.mov", renders / "sh010_rushes_denoise_r1_ba.mov"
    catalog = Catalog(f"sqlite:///{clean_env / 'catalog.sqlite'}")
    try:
        with catalog.session() as s:
            request, _ = fixes.add_fix_request(s, "TST", "sg:1", "sh010", ["denoise", "upscale"])
            done, _ = fixes.add_publication(
                s,
                request.id,
                "denoise",
                "pub:1:denoise",
                str(movie),
                before_after_path=str(before_after),
                extra_files={"code": f"sh010_rushes_denoise_r{request.id}"},
            )
            fixes.add_publication(s, request.id, "upscale", "pub:1:upscale", str(renders / "up.mov"))
            fixes.mark_published(s, done.id, 4242)
            refused, _ = fixes.add_fix_request(s, "TST", "sg:2", "sh020", ["interpolate"])
            why = "frames 1100, 1101, 1102, 1103 and 7 more lie outside the shot's frames 1001-1048"
            fixes.set_fix_state(s, refused.id, "failed", error=why)
    finally:
        catalog.dispose()

    code, output = rushes("status", "--json")
    assert code == 0, output
    [refused_out, request_out] = json.loads(output)["shows"][0]["fix_requests"]  # newest first
    assert (refused_out["state"], refused_out["error"]) == ("failed", why)
    assert request_out["publications"] == [
        {
            "kind": "denoise",
            "state": "published",
            "version": "4242",
            "code": f"sh010_rushes_denoise_r{request.id}",
            "review": "pending",
            "movie": str(movie),
            "before_after": str(before_after),
            "model_version": None,
        },
        {
            "kind": "upscale",
            "state": "pending",
            "version": None,
            "code": None,
            "review": "pending",
            "movie": str(renders / "up.mov"),
            "before_after": None,
            "model_version": None,
        },
    ]
    code, output = rushes("status", env={"COLUMNS": "60"})
    assert code == 0, output
    lines = [line.strip() for line in output.splitlines()]
    at = lines.index(  # which id is the tracker's, and the Version's code as the tracker shows it
        f"fix request {request.id} sh010 denoise: tracker Version 4242 sh010_rushes_denoise_r{request.id}"
        " (published, review pending)"
    )
    assert lines[at + 1 : at + 3] == [
        f"movie {movie}",
        f"before/after {before_after}",
    ]  # whole, on a narrow terminal
    at = lines.index(f"fix request {request.id} sh010 upscale: no tracker Version yet (pending)")
    assert lines[at + 1] == f"movie {renders / 'up.mov'}"
    assert f"fix request {refused.id} sh020 failed: {why}" in lines  # why, whole on its line


def test_model_list_of_a_show_without_a_model() -> None:
    assert rushes("show", "add", "TST")[0] == 0
    code, output = rushes("model", "list", "--show", "TST")
    assert code == 0
    assert output.strip() == "no model versions yet: train one with `rushes train --show CODE`"
    code, output = rushes("model", "list", "--show", "TST", "--json")
    assert code == 0 and json.loads(output) == []


def test_model_list_says_which_versions_are_being_trained_and_which_a_stopped_run_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A version in training, or one a Ctrl-C left, was listed as a plain row of 0 clips."""
    from daemon.catalog import models_repo
    from engine.model.base import lock_run

    monkeypatch.setattr(cli_app.out, "_width", 400)  # the rows are read whole
    assert rushes("show", "add", "TST")[0] == 0
    settings = load_settings()
    folders = [settings.models_dir / "TST" / f"v{n}" for n in (1, 2, 3)]
    ctx = open_context(settings)
    with ctx.catalog.session() as s:
        for n, (folder, job) in enumerate(zip(folders, ("cli", "cli", 7), strict=True), start=1):
            folder.mkdir(parents=True)
            models_repo.add_version(
                s, "TST", str(folder), version=n, metrics={"job": job, "state": "training"}
            )
    ctx.close()
    run = lock_run(folders[0])
    assert run is not None
    with run:
        code, output = rushes("model", "list", "--show", "TST")
    assert code == 0, output
    assert f"v1 (being trained: pid {os.getpid()} on " in output
    assert "v2 (stopped before its end: the next `rushes train` of the show continues it)" in output
    assert "v3 (stopped before its end: its train job 7 continues it when it runs again)" in output


def test_tracker_check_with_the_right_key(sg_server: SGServer) -> None:
    code, output = rushes("tracker", "check", env=tracker_env(sg_server, KEY))
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0].startswith(f"ok   connect: {sg_server.url}")
    assert lines[1] == "ok   authenticate: script 'rushes'"
    assert "ok   field Task.sg_rushes_fixes" in lines and "ok   status Task.fix" in lines
    assert all(line.startswith("ok ") for line in lines)


def test_tracker_setup_prepares_an_empty_local_tracker_for_the_shows_in_the_catalog(tmp_path: Path) -> None:
    server = start_in_thread(tmp_path / "sg-empty", "rushes", KEY)
    try:
        env = tracker_env(server, KEY)
        dailies = tmp_path / "dailies"
        footage.movie(dailies / "sh010_1.mp4", n=4, size=(64, 48))
        footage.movie(dailies / "sh020_1.mp4", n=4, size=(64, 48), photo="coffee")  # not a copy of sh010
        assert rushes("show", "add", "MYSHOW", "--ingest", str(dailies), env=env)[0] == 0
        assert rushes("ingest", str(dailies), "--show", "MYSHOW", env=env)[0] == 0
        code, output = rushes("tracker", "check", env=env)
        assert code == 1 and "FAIL field Task.sg_rushes_fixes" in output
        assert "`rushes tracker setup` creates it" in output
        assert (  # its requests would only be logged: said before the first one is asked
            "FAIL project MYSHOW: show MYSHOW: ShotGrid has no Project with code or name 'MYSHOW': create it or "
            "fix tracker_project" in output.splitlines()
        )

        code, output = rushes("tracker", "setup", env=env)

        assert code == 0, output
        lines = output.splitlines()
        for made in (
            "created field Task.sg_rushes_fixes (text)",
            "created field Version.sg_rushes_key (text)",
            "created project MYSHOW",
            "created shot MYSHOW/sh010",
            "created task MYSHOW/sh020/comp",
        ):
            assert made in lines
        assert "exists  status Task.fix" in lines
        assert lines[-1] == "7 created, 11 already there, 0 missing"
        code, output = rushes("tracker", "check", env=env)
        assert code == 0 and "ok   project MYSHOW: show MYSHOW (MYSHOW)" in output.splitlines()
        code, output = rushes("tracker", "setup", "--show", "MYSHOW", env=env)
        assert code == 0 and output.splitlines()[-1] == "0 created, 18 already there, 0 missing"

        (tmp_path / "twin").mkdir()  # a second show following the same project: one of them would never hear
        twin = ("show", "add", "TWIN", "--ingest", str(tmp_path / "twin"), "--tracker-project")
        code, output = rushes(
            *twin, "MYSHOW", env=env
        )  # by the same name: refused before the tracker is asked
        assert code == 1 and "added" not in output
        sg = shotgun_api3.Shotgun(server.url, script_name="rushes", api_key=KEY)
        [project] = sg.find("Project", [["name", "is", "MYSHOW"]], ["id"])
        sg.update("Project", project["id"], {"name": "My Show"})
        assert rushes(*twin, "My Show", "--name", "MYSHOW", env=env)[0] == 0  # by its other name: only the
        code, output = rushes(
            "tracker", "check", env=env
        )  # tracker knows; by the other's name, named by its code
        assert code == 1 and (
            "FAIL project My Show: show TWIN follows the same project (My Show) as show MYSHOW: its fix requests go "
            "to one show only; give each show its own tracker_project, or wrap the one no longer worked on "
            "(`rushes show wrap MYSHOW` or `rushes show wrap TWIN`)" in output.splitlines()
        ), output
    finally:
        server.stop()


def test_show_add_sets_the_templates_and_tracker_project_and_a_gone_quarantine_is_cleared(
    tmp_path: Path, clean_env: Path
) -> None:
    dailies = tmp_path / "dailies"
    footage.movie(dailies / "sh010-2.mp4", n=4, size=(64, 48))
    cups = footage.movie(dailies / "cups.mp4", n=4, size=(64, 48))
    code, output = rushes(
        "show",
        "add",
        "MYSHOW",
        "--ingest",
        str(dailies),
        "--path-template",
        "{shot}-{take}.{ext}",
        "--tracker-project",
        "My Project",
        "--movie-first-frame",
        "1001",
    )
    assert code == 0, output
    assert (
        "movies: {shot}-{take}.{ext}, numbered from 1001; sequences: {shot}/{shot}.####.{ext}; "
        "tracker project: My Project" in output
    )
    env = clean_environ(clean_env)
    piped = subprocess.run(
        [sys.executable, "-m", "daemon", "ingest", str(dailies), "--show", "MYSHOW"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.splitlines()[-1] == "1 registered, 0 already catalogued, 1 quarantined"
    assert piped.stderr.splitlines() == [  # once, as a human line: no JSON log line beside it
        f"quarantined {cups}: name does not match the path template '{{shot}}-{{take}}.{{ext}}'"
    ]
    status = json.loads(rushes("status", "--json")[1])
    [show] = status["shows"]
    assert [q["path"] for q in show["quarantined"]] == [str(cups)]
    [registered] = show["dailies"]
    assert registered["first_frame"] == 1001  # a movie numbered as the show's tracker counts it

    cups.rename(dailies / "sh020-1.mp4")
    code, output = rushes("ingest", str(dailies), "--show", "MYSHOW")
    assert code == 0 and f"no longer quarantined (file gone): {cups}" in output
    [show] = json.loads(rushes("status", "--json")[1])["shows"]
    assert show["quarantined"] == []
    bad = subprocess.run(
        [sys.executable, "-m", "daemon", "show", "add", "MYSHOW", "--path-template", "{take}.{ext}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "{shot}" in one_error_line(bad)  # refused in one line, nothing changed
    assert "movies: {shot}-{take}.{ext}" in rushes("show", "add", "MYSHOW", "--tracker-project", "P")[1]


def denoise_fix(input_: str | Path, output: str | Path) -> tuple[int, str]:
    """`rushes fix` of show TST's denoise head: exit code and output."""
    return rushes("fix", "-s", "TST", "--kind", "denoise", "-i", str(input_), "-o", str(output))


def promote_fresh_denoise(metrics: dict[str, float], **manifest: Any) -> None:
    """Show TST with a promoted v1: a fresh denoise net whose held-out scores are `metrics` (and other manifest
    fields as given)."""
    promote_fresh({"denoise": metrics}, **manifest)


def promote_fresh(metrics: dict[str, dict[str, float]], **manifest: Any) -> None:
    """Show TST with a promoted v1: fresh nets of the heads `metrics` names, with those held-out scores."""
    from daemon.catalog import models_repo
    from daemon.context import open_context
    from daemon.settings import load_settings
    from engine.model import Manifest, ShowModel, save_model

    assert rushes("show", "add", "TST")[0] == 0
    ctx = open_context(load_settings(None))
    folder = ctx.settings.models_dir / "TST" / "v1"
    save_model(
        folder,
        ShowModel.fresh(list(metrics)),
        Manifest(show="TST", version="v1", metrics=metrics, **manifest),
    )
    with ctx.catalog.session() as s:
        models_repo.add_version(s, "TST", str(folder), version=1)
        models_repo.promote(s, "TST", 1)
    ctx.close()


def test_a_fix_of_a_render_with_overscan_keeps_it_in_exr_frames_and_fills_the_mask_where_it_was_drawn(
    tmp_path: Path,
) -> None:
    import OpenEXR

    from engine.media.images import read_image

    promote_fresh({"cleanup": {}})
    rendered = footage.frames(3, (72, 56))
    for number, picture in zip((1001, 1002, 1003), rendered, strict=True):
        footage.render_with_overscan(tmp_path / "cg" / f"sh010.{number}.exr", picture, pad=4)
    source, fixed = str(tmp_path / "cg" / "sh010.####.exr"), str(tmp_path / "out" / "sh010.####.exr")

    code, output = rushes(
        "fix", "--show", "TST", "--kind", "cleanup", "--mask", "20,10,12,8", "-i", source, "-o", fixed
    )

    assert code == 0, output
    assert "(left 4, top 4, right 4, bottom 4) is fixed with the picture and kept in the EXR frames" in output
    header = OpenEXR.File(fixed.replace("####", "1002")).header()
    assert [w.tolist() for w in header["dataWindow"]] == [[-4, -4], [67, 51]]
    before = read_image(source.replace("####", "1002"), grow=(4, 4, 4, 4))
    after = read_image(fixed.replace("####", "1002"), grow=(4, 4, 4, 4))
    changed = np.argwhere(np.abs(after - before).max(axis=2) > 1e-3)
    assert (
        len(changed) and changed.min(axis=0).tolist() >= [14, 24] and changed.max(axis=0).tolist() <= [21, 35]
    )

    code, output = rushes(
        "fix",
        "--show",
        "TST",
        "--kind",
        "cleanup",
        "--mask",
        "20,10,12,8",
        "-i",
        source,
        "-o",
        str(tmp_path / "o.mov"),
    )
    assert code == 0 and "is left out: only EXR frames hold it" in " ".join(output.split())
    assert (probe(str(tmp_path / "o.mov")).width, probe(str(tmp_path / "o.mov")).height) == (64, 48)


def test_the_pixels_a_fix_leaves_in_a_32_bit_float_exr_plate_keep_their_values_bit_for_bit(
    tmp_path: Path,
) -> None:
    # they came back through the log encoding's round trip, exact only to half float (40.0 as 39.999996): a
    # difference matte against the plate showed the whole frame
    from engine.media.exr import write_exr
    from engine.media.images import read_image

    promote_fresh({"cleanup": {}, "interpolate": {}})
    light = footage.frames(3, (64, 48)).astype(np.float32) * np.float32(3.7)
    light[:, 2:6, 2:6] = (40.0, -0.05, 12.5)  # a light far above 1.0 and a colour outside the gamut
    for number, picture in zip((1001, 1002, 1003), light, strict=True):
        write_exr(tmp_path / "cg" / f"sh010.{number}.exr", picture, half=False)
    source = str(tmp_path / "cg" / "sh010.####.exr")

    def fixed(name: str, *how: str, numbers: tuple[int, ...] = (1001, 1002, 1003)) -> dict[int, np.ndarray]:
        out = str(tmp_path / name / "sh010.####.exr")
        code, output = rushes("fix", "--show", "TST", *how, "-i", source, "-o", out)
        assert code == 0, output
        return {n: read_image(out.replace("####", str(n))) for n in numbers}

    cleaned = fixed("clean", "--kind", "cleanup", "--mask", "30,20,12,8")
    outside = np.ones((48, 64), bool)
    outside[18:30, 28:44] = False  # the mask and a margin the fill may blend
    for number, picture in zip((1001, 1002, 1003), light, strict=True):
        assert cleaned[number].dtype == np.float32
        np.testing.assert_array_equal(cleaned[number][outside], picture[outside])
    rebuilt = fixed("interp", "--kind", "interpolate", "--frames", "1002")
    np.testing.assert_array_equal(rebuilt[1001], light[0])
    np.testing.assert_array_equal(rebuilt[1003], light[2])
    assert not np.array_equal(rebuilt[1002], light[1])
    retimed = fixed("slow", "--kind", "interpolate", "--factor", "2", numbers=(1001, 1003, 1005))
    for number, picture in zip((1001, 1003, 1005), light, strict=True):  # every source frame kept
        np.testing.assert_array_equal(retimed[number], picture)


def test_a_movie_is_fixed_and_probed_with_frames_numbered_as_its_show_counts_them(tmp_path: Path) -> None:
    promote_fresh({"interpolate": {}})
    assert rushes("show", "add", "TST", "--movie-first-frame", "1001")[0] == 0  # the tracker's 1001
    clip = footage.movie(tmp_path / "sh010_1.mp4", n=5, size=(64, 48))
    out = tmp_path / "out" / "sh010.####.png"

    code, output = rushes(
        "fix", "-s", "TST", "--kind", "interpolate", "--frames", "1002-1003", "-i", str(clip), "-o", str(out)
    )

    assert code == 0, output  # it used to be refused: frames 1002-1003 lie outside frames 0-4
    assert sorted(p.name for p in out.parent.iterdir()) == [f"sh010.{n}.png" for n in range(1001, 1006)]
    code, output = rushes("probe", str(clip), "--first-frame", "1001")
    assert code == 0 and "frames 1001-1005" in output
    assert "frames 0-4" in rushes("probe", str(clip))[1]


def test_fix_first_frame_numbers_a_movies_frames_for_this_fix_whatever_its_show_counts(
    tmp_path: Path,
) -> None:
    promote_fresh({"interpolate": {}})  # show TST counts a movie's frames from 0
    clip = footage.movie(tmp_path / "A003C012.mov", n=5, size=(64, 48))  # a camera file, not a daily
    out = tmp_path / "out" / "A003C012.####.png"
    args = (
        "fix",
        "-s",
        "TST",
        "--kind",
        "interpolate",
        "--frames",
        "1002-1003",
        "-i",
        str(clip),
        "-o",
        str(out),
    )

    code, output = rushes(*args)
    assert code != 0 and "lie outside the shot's frames 0-4" in " ".join(output.split()), output
    code, output = rushes(*args, "--first-frame", "1001")  # the plate's numbers in comp, for this fix only

    assert code == 0, output
    assert sorted(p.name for p in out.parent.iterdir()) == [f"A003C012.{n}.png" for n in range(1001, 1006)]


def test_png_and_tiff_fixes_keep_their_sources_bits(tmp_path: Path) -> None:
    from engine.media import write_image

    promote_fresh_denoise({"psnr": 33.0, "baseline_best": 32.0, "psnr_nlmeans": 32.0})
    pictures = footage.frames(2, (64, 48))
    for bits in (8, 16):
        for number, picture in zip((1001, 1002), pictures, strict=True):
            write_image(tmp_path / f"in{bits}" / f"sh010.{number}.png", picture, bit_depth=bits)
    write_image(tmp_path / "plate.png", pictures[0], bit_depth=8)  # a still: no frame number
    footage.movie(tmp_path / "sh010_1.mp4", n=2, size=(64, 48))  # H.264: 8 bits
    cases = {
        "in8/sh010.####.png": ("o8.####.png", "rgb24"),  # it used to be written in 16 bits, twice the size
        "in16/sh010.####.png": ("o16.####.png", "rgb48be"),
        "sh010_1.mp4": ("m.####.tif", "rgb24"),
        "plate.png": ("still.png", "rgb24"),
    }
    for source, (output, pix_fmt) in cases.items():
        code, said = denoise_fix(tmp_path / source, tmp_path / output)
        assert code == 0, said
        assert probe(str(tmp_path / output)).pix_fmt == pix_fmt, source


def test_a_fix_of_one_image_writes_one_image_and_a_movie_to_one_image_is_refused_before_the_work(
    tmp_path: Path,
) -> None:
    from engine.media import write_image

    promote_fresh_denoise({"psnr": 33.0, "baseline_best": 32.0, "psnr_nlmeans": 32.0})
    still = tmp_path / "matte_painting.png"  # an image without a frame number: a plate still, a painting
    write_image(still, footage.frames(1, (64, 48))[0])

    code, output = rushes(
        "fix", "--show", "TST", "--kind", "denoise", "-i", str(still), "-o", str(tmp_path / "clean_v002.png")
    )

    assert code == 0, output  # it used to be refused: "cannot write movies with extension '.png'"
    assert [p.name for p in tmp_path.glob("clean*")] == [
        "clean_v002.png"
    ]  # digits in a name: no frame number
    assert probe(str(tmp_path / "clean_v002.png")).frame_count == 1
    clip = footage.movie(tmp_path / "sh010_1.mp4", n=4, size=(64, 48))
    for output_name, pattern in (("o.png", "o.####.png"), ("o.1001.png", "o.####.png")):
        out_path = str(tmp_path / output_name)
        code, output = rushes("fix", "--show", "TST", "--kind", "denoise", "-i", str(clip), "-o", out_path)
        said = " ".join(output.split())
        assert (
            code == 2
            and f"is one image, but the fix makes 4 frames: write a sequence, {tmp_path / pattern}" in said
        )
        assert not (tmp_path / output_name).exists()


def test_a_sequence_into_a_folder_that_may_not_be_written_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The output's folder existed, so its check passed, and making the staging folder in it ended `rushes fix` in
    a PermissionError traceback (root cannot be refused a folder in a test: the staging folder is made to fail)."""
    from daemon.cli import outputs

    promote_fresh_denoise({"psnr": 33.0, "baseline_best": 32.0, "psnr_nlmeans": 32.0})
    clip = footage.movie(tmp_path / "sh010_1.mp4", n=4, size=(64, 48))
    (tmp_path / "a_file").write_bytes(b"")
    monkeypatch.setattr(
        outputs, "temp_name", lambda path: tmp_path / "a_file" / "staging"
    )  # mkdir: not a folder
    from typer.testing import CliRunner

    from daemon.cli.app import app
    from daemon.errors import USER_ERRORS

    out = tmp_path / "out" / "o.####.png"
    args = ["fix", "--show", "TST", "--kind", "denoise", "-i", str(clip), "-o", str(out)]
    refused = CliRunner().invoke(app, args).exception  # `rushes` (daemon.cli.main) prints a user error's line
    assert isinstance(refused, USER_ERRORS), refused
    assert str(refused) == f"{tmp_path / 'out'}: cannot write in the output folder: Not a directory"


@pytest.mark.parametrize(
    ("output", "said"),
    [
        ("renders", "renders is a folder: name a file in it, e.g. renders/sh010_1_fixed.mov or"),
        ("later/", "later/ is a folder: name a file in it"),
        ("sh010_fixed", "sh010_fixed is neither a movie (.m4v .mkv .mov .mp4 .mxf) nor images"),
        ("sh010.avi", "sh010.avi is neither a movie"),
    ],
)
def test_an_output_that_names_no_movie_or_image_is_refused_before_the_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output: str, said: str
) -> None:
    promote_fresh_denoise({"psnr": 33.0, "baseline_best": 32.0, "psnr_nlmeans": 32.0})
    clip = footage.movie(tmp_path / "in" / "sh010_1.mp4", n=4, size=(64, 48))
    work = tmp_path / "work"
    (work / "renders").mkdir(parents=True)
    monkeypatch.chdir(work)

    code, output_said = rushes("fix", "--show", "TST", "--kind", "denoise", "-i", str(clip), "-o", output)

    assert code == 2 and said in " ".join(output_said.split()), output_said
    assert [p.name for p in work.rglob("*")] == ["renders"]  # nothing written


def test_fix_with_a_head_below_its_baseline_uses_the_classical_tool_and_says_so(tmp_path: Path) -> None:
    promote_fresh_denoise(
        {"psnr": 30.0, "baseline_best": 32.07, "psnr_nlmeans": 32.07, "psnr_nlmeans_multi": 31.0}
    )
    clip = footage.movie(tmp_path / "sh010_1.mp4", n=4, size=(64, 48))

    code, output = rushes(
        "fix", "--show", "TST", "--kind", "denoise", "-i", str(clip), "-o", str(tmp_path / "o.mp4")
    )

    assert code == 0, output
    assert "(denoise, classical fallback; model TST v1)" in output
    assert (
        "The denoise head did not beat the classical NL-means on this show's held-out clips (-2.07 dB"
        in output
    )


def test_a_fix_of_a_kind_the_model_lacks_is_refused_in_one_line(tmp_path: Path) -> None:
    promote_fresh_denoise({"psnr": 33.0, "baseline_best": 32.0, "psnr_nlmeans": 32.0})  # a denoise head only
    clip = footage.movie(tmp_path / "sh010_1.mp4", n=3, size=(64, 48))

    code, output = rushes(
        "fix", "-s", "TST", "--kind", "upscale", "-i", str(clip), "-o", str(tmp_path / "o.mp4")
    )

    said = " ".join(output.split())
    assert code != 0 and "Traceback" not in output, output  # it used to end in a KeyError's traceback
    assert "model TST v1 has no upscale head (it has denoise): train a version that has one" in said
    assert not (tmp_path / "o.mp4").exists()


def test_a_fix_before_the_shows_first_model_uses_the_classical_tool_and_says_so(tmp_path: Path) -> None:
    from engine.baselines.restore import denoise_nlmeans
    from engine.media.pixels import to_float32, to_uint8

    assert rushes("show", "add", "TST")[0] == 0  # no model trained
    clip = footage.movie(tmp_path / "sh010_1.mp4", n=3, size=(64, 48))

    code, output = denoise_fix(clip, tmp_path / "out" / "f.####.png")

    assert code == 0, output
    assert "(denoise, classical)" in output
    assert "Show TST has no trained model yet, so the classical NL-means made this fix" in output
    for source, fixed in zip(
        read_frames(str(clip)), read_frames(str(tmp_path / "out" / "f.####.png")), strict=True
    ):
        expected = to_uint8(denoise_nlmeans(to_float32(source.rgb), 10.0)).astype(int)
        assert np.abs(to_uint8(fixed.rgb).astype(int) - expected).max() <= 1  # NL-means, not the input


def test_a_regrade_writes_its_grade_as_a_cube_that_gives_the_fixed_frames_from_the_input(
    tmp_path: Path,
) -> None:
    """A compositor matching a plate to a graded still takes the grade as a .cube to apply to the full-res plate
    in the comp (the daemon's Versions carry one; `rushes fix` wrote none)."""
    from engine.lut import apply_lut, read_cube
    from engine.media import write_image
    from engine.media.pixels import to_float32

    assert rushes("show", "add", "TST")[0] == 0
    clip = footage.movie(tmp_path / "sh010_1.mp4", n=3, size=(64, 48))
    first = to_float32(next(iter(read_frames(str(clip)))).rgb)
    warm = np.clip(first * np.array([1.25, 1.0, 0.7], np.float32) + 0.05, 0, 1)  # the grade to match
    write_image(tmp_path / "look.png", (warm * 255).round().astype(np.uint8), bit_depth=8)
    out, cube = tmp_path / "out" / "f.####.png", tmp_path / "luts" / "sh010.cube"

    code, said = rushes(
        "fix", "-s", "TST", "--kind", "regrade", "--reference", str(tmp_path / "look.png"),
        "-i", str(clip), "-o", str(out), "--lut", str(cube),
    )  # fmt: skip

    assert code == 0, said
    assert f"wrote the grade as a LUT to {cube}" in " ".join(said.split())
    lut = read_cube(cube)
    for source, fixed in zip(read_frames(str(clip)), read_frames(str(out)), strict=True):
        graded = to_float32(fixed.rgb)
        assert np.abs(graded - to_float32(source.rgb)).mean() > 10 / 255  # the grade did something
        assert np.abs(apply_lut(to_float32(source.rgb), lut) - graded).mean() < 1 / 255  # and the cube is it
    assert [p.name for p in cube.parent.iterdir()] == ["sh010.cube"]  # no temporary file left


@pytest.mark.parametrize("output", ["o.mov", "f.####.png"])
def test_a_lut_that_cannot_be_written_leaves_the_fixs_earlier_outputs_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output: str
) -> None:
    """The disk filled as the .cube was written: the new frames were in place already, beside the earlier
    grade's LUT, under exit 2."""
    import errno

    import engine.lut

    assert rushes("show", "add", "TST")[0] == 0
    clip = footage.movie(tmp_path / "sh010_1.mp4", n=3, size=(64, 48))
    out, cube = tmp_path / "out" / output, tmp_path / "luts" / "sh010.cube"

    def regrade(reference: str) -> tuple[int, str]:
        return rushes("fix", "-s", "TST", "--kind", "regrade", "--reference", reference, "-i", str(clip),
                      "-o", str(out), "--lut", str(cube), "--overwrite")  # fmt: skip

    code, said = regrade("1")
    assert code == 0, said
    before = {p.name: p.read_bytes() for folder in (out.parent, cube.parent) for p in folder.iterdir()}

    def full(path: Path, *_: object, **__: object) -> None:
        Path(path).write_text("LUT_3D_SIZE")  # partly written when the disk filled
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(engine.lut, "write_cube", full)
    code, said = regrade("2")

    assert code == 2 and " ".join(said.split()) == (
        f"error: --lut {cube} could not be written (No space left on device), so the fix was not written either "
        "(what was at its outputs is as it was): run it again with a --lut in a folder you can write to"
    ), said
    after = {p.name: p.read_bytes() for folder in (out.parent, cube.parent) for p in folder.iterdir()}
    assert after == before  # the earlier frames and LUT, and no temporary file


def test_a_lut_is_refused_before_the_work_for_another_kind_a_wrong_name_or_one_there_already(
    tmp_path: Path,
) -> None:
    assert rushes("show", "add", "TST")[0] == 0
    clip = footage.movie(tmp_path / "sh010_1.mp4", n=3, size=(64, 48))
    (tmp_path / "old.cube").write_text("kept")

    def fix(kind: str, lut: Path) -> str:
        reference = ["--reference", "1"] if kind == "regrade" else []
        code, said = rushes("fix", "-s", "TST", "--kind", kind, *reference, "-i", str(clip),
                            "-o", str(tmp_path / "o.mp4"), "--lut", str(lut))  # fmt: skip
        assert code == 2 and "Traceback" not in said, said
        return " ".join(said.split())

    assert "--lut: only regrade makes a LUT (denoise does not); drop --lut" in fix(
        "denoise", tmp_path / "a.cube"
    )
    assert f"--lut {tmp_path / 'a.3dl'} is not a .cube file" in fix("regrade", tmp_path / "a.3dl")
    assert "exists: add --overwrite to replace it" in fix("regrade", tmp_path / "old.cube")
    (tmp_path / "a_file").write_text("")
    assert f"{tmp_path / 'a_file'} is not a folder you can write to" in fix(
        "regrade", tmp_path / "a_file" / "g.cube"
    )
    assert (tmp_path / "old.cube").read_text() == "kept" and not (tmp_path / "o.mp4").exists()


def test_a_fix_of_a_sequence_with_missing_frames_keeps_every_frames_number(tmp_path: Path) -> None:
    promote_fresh_denoise({"psnr": 33.0, "baseline_best": 32.0, "psnr_nlmeans": 32.0})
    source = footage.sequence(tmp_path / "in", "sh010", first=1001, n=6, size=(64, 48), skip=(1003, 1004))

    code, output = rushes(
        "fix", "-s", "TST", "--kind", "denoise", "-i", source, "-o", str(tmp_path / "out" / "f.####.png")
    )

    assert code == 0, output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        f"f.{n}.png" for n in (1001, 1002, 1005, 1006)
    ]
    said = " ".join(output.split())  # the holes are the input's, and said: nothing tells a sequence's reader
    assert "The input lacks frames 1003-1004, and so does the sequence written" in said, said
    code, output = rushes(
        "fix", "-s", "TST", "--kind", "denoise", "-i", source, "-o", str(tmp_path / "f.mp4")
    )
    assert code == 0, output
    said = " ".join(output.split())
    assert "The input lacks frames 1003-1004, so the movie holds the frame before each hole over it" in said
    assert probe(str(tmp_path / "f.mp4")).frame_count == 6  # the shot's length: 1002 shown for 1003-1004


def test_an_output_that_exists_is_refused_and_overwrite_leaves_no_earlier_frames(tmp_path: Path) -> None:
    promote_fresh_denoise({"psnr": 33.0, "baseline_best": 32.0, "psnr_nlmeans": 32.0})
    source = footage.sequence(tmp_path / "in", "sh010", first=1001, n=6, size=(64, 48), skip=(1003, 1004))
    earlier = footage.sequence(tmp_path / "out", "f", first=1001, n=8, size=(64, 48))  # a longer fix, before
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}

    code, output = denoise_fix(source, earlier)

    assert (
        code == 2
        and "f.####.png exists (8 frame(s), 1001-1008): add --overwrite to replace it"
        in " ".join(output.split())
    ), output
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before  # nothing touched
    args = ("fix", "-s", "TST", "--kind", "denoise", "-i", source, "-o", earlier, "--overwrite")
    code, output = rushes(*args)
    assert code == 0, output
    # it used to keep 1003, 1004, 1007 and 1008 of the earlier fix: holes filled with stale frames, a longer tail
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        f"f.{n}.png" for n in (1001, 1002, 1005, 1006)
    ]
    movie = tmp_path / "f.mp4"
    movie.write_bytes(b"an earlier cut")
    code, output = denoise_fix(source, movie)
    assert code == 2 and "f.mp4 exists (a movie): add --overwrite" in " ".join(output.split()), output
    assert movie.read_bytes() == b"an earlier cut"
    code, output = rushes(
        "fix", "-s", "TST", "--kind", "denoise", "-i", source, "-o", str(movie), "--overwrite"
    )
    assert code == 0 and probe(str(movie)).frame_count == 6, output


def test_interpolate_auto_says_which_frames_it_rebuilt_or_that_it_found_none(tmp_path: Path) -> None:
    from engine.media import write_sequence

    assert rushes("show", "add", "TST")[0] == 0  # the classical stand-in: the head on a fresh net
    moving = footage.frames(8, (64, 48))
    repeated = moving.copy()
    repeated[4] = repeated[3]  # frame 1005 repeats 1004, as a recorder that dropped one leaves it
    write_sequence(tmp_path / "rep" / "sh010.####.png", repeated, first_frame=1001)
    write_sequence(tmp_path / "clean" / "sh020.####.png", moving, first_frame=1001)

    def auto(source: str, output: str) -> str:
        code, said = rushes("fix", "-s", "TST", "--kind", "interpolate", "-i", source, "-o", output)
        assert code == 0, said
        return " ".join(said.split())

    said = auto(str(tmp_path / "rep" / "sh010.####.png"), str(tmp_path / "o1.####.png"))
    assert "--frames auto rebuilt 1 repeated frame(s) from their neighbours: 1005." in said
    said = auto(str(tmp_path / "clean" / "sh020.####.png"), str(tmp_path / "o2.####.png"))
    assert "--frames auto found no repeated or missing frame, so the output's frames are the input's" in said
    assert "(this input's are 1001-1008), e.g. --frames 1004-1006." in said  # frames of this input to name
    holes = footage.sequence(tmp_path / "holes", "sh030", n=6, size=(64, 48), skip=(1003,))
    assert "--frames auto made the missing frame(s) 1003." in auto(holes, str(tmp_path / "o3.####.png"))


def test_a_fix_written_to_mxf_or_mov_is_prores_and_to_mp4_or_mkv_h264(tmp_path: Path) -> None:
    promote_fresh_denoise({"psnr": 33.0, "baseline_best": 32.0, "psnr_nlmeans": 32.0})
    clip = footage.movie(tmp_path / "sh010_1.mp4", n=3, size=(64, 48))
    for name, codec in (("f.mxf", "prores"), ("f.mov", "prores"), ("f.mkv", "h264"), ("f.mp4", "h264")):
        code, output = rushes(
            "fix", "-s", "TST", "--kind", "denoise", "-i", str(clip), "-o", str(tmp_path / name)
        )
        assert code == 0, output
        made = probe(str(tmp_path / name))
        assert (made.codec, made.frame_count) == (codec, 3)


def test_a_fix_of_odd_sized_frames_to_h264_says_before_the_work_that_it_pads_them(tmp_path: Path) -> None:
    promote_fresh_denoise({"psnr": 33.0, "baseline_best": 32.0, "psnr_nlmeans": 32.0})
    source = footage.sequence(tmp_path / "in", "sh010", n=3, size=(65, 47))  # a plate cropped to odd sides

    code, output = denoise_fix(source, tmp_path / "f.mp4")

    assert code == 0, output
    said = " ".join(output.split())
    assert (
        "H.264 holds only even sizes, so the movie is 66x48, the input's last column and row repeated" in said
    )
    assert said.index("H.264 holds") < said.index("wrote 3 frame(s)")  # before the work, not after it
    assert (probe(str(tmp_path / "f.mp4")).width, probe(str(tmp_path / "f.mp4")).height) == (66, 48)
    code, output = denoise_fix(source, tmp_path / "f.mov")
    assert code == 0 and "H.264" not in output, output
    assert (probe(str(tmp_path / "f.mov")).width, probe(str(tmp_path / "f.mov")).height) == (65, 47)


def test_a_fix_keeps_the_inputs_alpha_where_the_output_can_hold_it_and_says_where_it_cannot(
    tmp_path: Path,
) -> None:
    from engine.media import write_sequence
    from engine.media.alpha import has_alpha
    from engine.media.decode import read_alpha

    promote_fresh_denoise({"psnr": 33.0, "baseline_best": 32.0, "psnr_nlmeans": 32.0})
    mattes = np.zeros((4, 48, 64), np.float32)
    for i in range(4):  # a different matte on every frame, so a frame given another's alpha shows
        mattes[i, 8 + 4 * i : 30 + 4 * i, 10:40] = 1.0
        mattes[i, 40:] = 0.25 * (i + 1)
    rgba = np.concatenate([footage.frames(4, (64, 48)), mattes[..., None]], axis=3)
    write_sequence(tmp_path / "in" / "el.####.exr", rgba, first_frame=1001)
    (tmp_path / "in" / "el.1003.exr").unlink()
    source = str(tmp_path / "in" / "el.####.exr")
    expected = {1001: mattes[0], 1002: mattes[1], 1004: mattes[3]}

    for name, step in (("out/f.####.exr", 1e-3), ("f.mov", 2e-3)):
        code, output = rushes(
            "fix", "-s", "TST", "--kind", "denoise", "-i", source, "-o", str(tmp_path / name)
        )
        assert code == 0, output
        made = probe(str(tmp_path / name))
        assert has_alpha(made.pix_fmt), name
        alphas = dict(read_alpha(made))
        if made.kind == "movie":  # a movie has no frame numbers: its frames in order, 1002 held over 1003
            alphas = dict(zip([1001, 1002, 1003, 1004], alphas.values(), strict=True))
            assert np.array_equal(alphas.pop(1003), alphas[1002])
        assert alphas.keys() == expected.keys()
        for number, alpha in alphas.items():
            assert np.abs(alpha - expected[number]).max() <= step, (name, number)
    code, output = rushes(
        "fix", "-s", "TST", "--kind", "denoise", "-i", source, "-o", str(tmp_path / "f.mp4")
    )
    assert code == 0, output
    assert "The input has an alpha channel and .mp4 holds none, so the output drops it" in " ".join(
        output.split()
    )
    assert not has_alpha(probe(str(tmp_path / "f.mp4")).pix_fmt)


def test_an_elements_missing_render_is_made_with_an_alpha_that_moved_with_its_picture(tmp_path: Path) -> None:
    """A CG element's render-farm frame failed: interpolate makes it, and its alpha is where the element went,
    not a neighbour's (nor none: the comp cannot use a made frame without coverage)."""
    from engine.media import write_sequence
    from engine.media.alpha import has_alpha
    from engine.media.decode import read_alpha

    promote_fresh({"interpolate": {}})
    element = np.zeros((6, 48, 64, 4), np.float32)
    texture = footage.frames(1, (64, 48))[0]
    for i in range(6):  # a textured square, premultiplied, 5 px a frame over nothing
        element[i, 12:34, 5 + 5 * i : 25 + 5 * i] = np.dstack([texture[12:34, 20:40], np.ones((22, 20))])
    write_sequence(tmp_path / "in" / "el.####.exr", element, first_frame=1001)
    (tmp_path / "in" / "el.1004.exr").unlink()  # the failed render

    code, output = rushes(
        "fix", "-s", "TST", "--kind", "interpolate", "-i", str(tmp_path / "in" / "el.####.exr"),
        "-o", str(tmp_path / "out" / "el.####.exr"),
    )  # fmt: skip

    assert code == 0, output
    assert "alpha" not in output, output  # nothing said dropped
    made = probe(str(tmp_path / "out" / "el.####.exr"))
    assert has_alpha(made.pix_fmt)
    alphas = dict(read_alpha(made))
    assert sorted(alphas) == list(range(1001, 1007))
    truth, neighbour = element[3, ..., 3], element[2, ..., 3]
    assert np.abs(alphas[1004] - truth).mean() < 0.1 * np.abs(neighbour - truth).mean()
    for number in (1001, 1002, 1003, 1005, 1006):  # the rendered frames keep theirs
        assert np.abs(alphas[number] - element[number - 1001, ..., 3]).max() < 1e-3, number


def test_a_scene_linear_fix_keeps_its_highlights_and_a_movie_of_it_shows_the_shows_view(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.color import DEFAULT_CONFIG, DisplayView, ViewSpec
    from engine.media import read_frames_uint8, write_sequence
    from engine.media.pixels import to_uint8

    monkeypatch.delenv("OCIO", raising=False)
    promote_fresh_denoise({"psnr": 33.0, "baseline_best": 32.0, "psnr_nlmeans": 32.0})
    scene = footage.frames(3, (64, 48)) ** np.float32(2.2) * np.float32(
        8.0
    )  # linear light, lights far over 1
    write_sequence(tmp_path / "in" / "pl.####.exr", scene, 1001)
    source = str(tmp_path / "in" / "pl.####.exr")

    code, output = rushes(
        "fix", "-s", "TST", "--kind", "denoise", "-i", source, "-o", str(tmp_path / "f.####.exr")
    )
    assert code == 0, output
    assert "through" not in output
    code, output = rushes(
        "fix", "-s", "TST", "--kind", "denoise", "-i", source, "-o", str(tmp_path / "f.mov")
    )
    assert code == 0, output

    fixed = np.stack([f.rgb for f in read_frames(str(tmp_path / "f.####.exr"))])
    bright = scene > 2.0
    assert bright.mean() > 0.05 and float(fixed[bright].min()) > 1.0  # no light clipped at 1.0
    assert float(fixed.max()) <= float(scene.max()) * 1.01  # and none made brighter than the shot's brightest
    assert abs(float(np.median(fixed[bright] / scene[bright])) - 1.0) < 0.05  # the scene's values, denoised
    view = DisplayView(ViewSpec(DEFAULT_CONFIG, "scene_linear"))
    assert f"The movie shows the fix through {view.name}" in " ".join(output.split())
    for values, shown in zip(fixed, read_frames_uint8(str(tmp_path / "f.mov")), strict=True):
        level = float(shown.rgb.mean())  # small, detailed frames: ProRes moves single pixels
        through_view, raw = float(to_uint8(view.shown(values)).mean()), float(to_uint8(values).mean())
        assert abs(level - through_view) < 2.0 and abs(through_view - raw) > 5  # the view, not the raw values


def test_an_exr_pattern_with_no_frames_is_its_one_line_with_no_view_said_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The movie's colour view was said first, as if the fix had begun, then the input's error."""
    monkeypatch.delenv("OCIO", raising=False)
    promote_fresh_denoise({"psnr": 33.0, "baseline_best": 32.0, "psnr_nlmeans": 32.0})
    (tmp_path / "in").mkdir()
    source = str(tmp_path / "in" / "pl.####.exr")
    result = CliRunner().invoke(
        app, ["fix", "-s", "TST", "--kind", "denoise", "-i", source, "-o", str(tmp_path / "f.mov")]
    )
    assert result.exit_code != 0 and "pl.####.exr" in str(result.exception)  # `rushes` prints it as one line
    assert "through" not in result.output, result.output
    assert not (tmp_path / "f.mov").exists()


def test_a_fix_of_an_exr_makes_no_light_brighter_than_the_shots_brightest(tmp_path: Path) -> None:
    from engine.media import write_sequence

    promote_fresh_denoise({"psnr": 30.0, "baseline_best": 32.0, "psnr_nlmeans": 32.0})  # NL-means stands in
    scene = footage.frames(3, (160, 96), photo="coffee", seed=1) ** np.float32(2.2) * np.float32(6.0)
    write_sequence(tmp_path / "in" / "pl.####.exr", scene, 1001)

    code, output = rushes(
        "fix",
        "-s",
        "TST",
        "--kind",
        "denoise",
        "-i",
        str(tmp_path / "in" / "pl.####.exr"),
        "-o",
        str(tmp_path / "f.####.exr"),
    )

    assert code == 0, output
    fixed = np.stack([f.rgb for f in read_frames(str(tmp_path / "f.####.exr"))])
    # NL-means shifts a few edge pixels' colour by a quarter of the range: in the log encoding that is stops
    assert float(fixed.max()) <= float(scene.max()) * 1.01


def test_a_fix_of_exr_frames_by_a_version_that_learned_them_clipped_says_to_train_a_new_one(
    tmp_path: Path,
) -> None:
    from engine.media import write_sequence
    from engine.model.manifest import ClipRecord

    old = [ClipRecord(id="daily:3:sh010:pl.####.exr", content_hash="h", frames=3)]  # no scene_linear: before
    promote_fresh_denoise({"psnr": 33.0, "baseline_best": 32.0, "psnr_nlmeans": 32.0}, clips=old)
    write_sequence(tmp_path / "in" / "pl.####.exr", footage.frames(3, (64, 48)) * np.float32(4.0), 1001)
    movie = footage.movie(tmp_path / "sh020.mov", 3, (64, 48))

    code, output = denoise_fix(tmp_path / "in" / "pl.####.exr", tmp_path / "f.####.exr")
    assert code == 0, output
    said = " ".join(output.split())
    assert "TST v1 learned its EXR dailies with their light clipped at 1.0" in said
    assert "rushes train --show TST" in said

    code, output = rushes(
        "fix", "-s", "TST", "--kind", "denoise", "-i", str(movie), "-o", str(tmp_path / "f.mp4")
    )
    assert code == 0 and "clipped" not in output  # a movie was read the same way then and now


def test_a_fix_of_a_plate_keeps_each_frames_timecode(tmp_path: Path) -> None:
    from engine.media.encode import write_numbered_sequence
    from engine.media.images import read_header
    from engine.media.timecode import FrameTimecode

    promote_fresh_denoise({"psnr": 33.0, "baseline_best": 32.0, "psnr_nlmeans": 32.0})
    plate = str(tmp_path / "in" / "pl.####.dpx")
    tc = FrameTimecode(1001, "14:22:05:10", Fraction(25))
    write_numbered_sequence(plate, enumerate(footage.frames(3, (64, 48)), 1001), 25, timecode=tc)

    for output in (str(tmp_path / "out" / "pl.####.dpx"), str(tmp_path / "pl.mov")):
        code, said = denoise_fix(plate, output)
        assert code == 0, said
        assert (probe(output).timecode, probe(output).fps) == ("14:22:05:10", 25), (
            output
        )  # editorial conforms by it
    assert read_header(tmp_path / "out" / "pl.1003.dpx").timecode == "14:22:05:12"
    # EXR frames of a display-encoded plate: refused before any work (they would read as linear light)
    code, said = denoise_fix(plate, str(tmp_path / "out" / "pl.####.exr"))
    assert code == 2 and "pl.####.dpx's pictures are display-encoded" in " ".join(said.split()), said
    assert not (tmp_path / "out" / "pl.1001.exr").exists()


def test_exr_frames_of_a_log_plate_the_show_names_are_refused_pointing_to_a_sequence_that_keeps_the_log(
    tmp_path: Path,
) -> None:
    # it said the log plate's pictures were display-encoded and to write a .mov, which shows the fix through the
    # view: the log gone
    from engine.media.encode import write_numbered_sequence

    config = tmp_path / "rushes.yaml"
    config.write_text('shows:\n  - code: LOG\n    color: {sources: {dpx: "ARRI LogC3 (EI800)"}}\n')
    plate = str(tmp_path / "in" / "pl.####.dpx")
    write_numbered_sequence(plate, enumerate(footage.frames(3, (64, 48)), 1001), 24)
    out = str(tmp_path / "out" / "pl.####.exr")
    code, said = rushes(
        "fix", "-s", "LOG", "--kind", "denoise", "-i", plate, "-o", out, env={"RUSHES_CONFIG": str(config)}
    )
    assert code == 2 and " ".join(said.split()) == (
        f"error: --output {out}: EXR frames hold scene-linear light, and pl.####.dpx's pictures are ARRI LogC3 "
        "(EI800) (the show's color.sources): Rushes does not turn them into linear light, so as EXR they would read "
        "wrong in the comp; write a .dpx, .tif or .png sequence instead, which keeps ARRI LogC3 (EI800) (a .mov "
        "shows the fix through the show's view)"
    ), said
    assert not (tmp_path / "out").exists()


def test_a_fix_keeps_the_reel_name_an_edit_conforms_by(tmp_path: Path) -> None:
    import OpenEXR

    from engine.media import MovieWriter

    promote_fresh_denoise({"psnr": 33.0, "baseline_best": 32.0, "psnr_nlmeans": 32.0})
    camera = tmp_path / "A001C003.mov"
    with MovieWriter(camera, 24, 64, 48, "prores", "14:02:11:05", reel="A001C003_221105_R1AB") as writer:
        for picture in footage.frames(2, (64, 48)):
            writer.write(picture)
    (tmp_path / "in").mkdir()
    timecode = OpenEXR.TimeCode()
    timecode.hours = 9
    for number, picture in zip((1001, 1002), footage.frames(2, (64, 48)), strict=True):
        header = {"type": OpenEXR.scanlineimage, "reelName": "B002C007", "timeCode": timecode}
        OpenEXR.File(header, {"RGB": picture.astype(np.float16)}).write(
            str(tmp_path / "in" / f"pl.{number}.exr")
        )

    for source, reel in ((camera, "A001C003_221105_R1AB"), (tmp_path / "in" / "pl.####.exr", "B002C007")):
        code, said = denoise_fix(source, tmp_path / f"fixed_{reel}.mov")
        assert code == 0, said
        fixed = probe(str(tmp_path / f"fixed_{reel}.mov"))
        assert (fixed.reel, fixed.timecode) == (reel, probe(str(source)).timecode), source


def test_a_fix_of_a_camera_plate_keeps_its_frames_metadata(tmp_path: Path) -> None:
    import OpenEXR

    from engine.media.exr import read_exr_attributes

    promote_fresh_denoise({"psnr": 33.0, "baseline_best": 32.0, "psnr_nlmeans": 32.0})
    ap0 = (0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.077, 0.32168, 0.33767)
    (tmp_path / "in").mkdir()
    for number, picture in zip((1001, 1002, 1003), footage.frames(3, (64, 48)), strict=True):
        header = {"type": OpenEXR.scanlineimage, "chromaticities": ap0, "arri/focalLength": 32.0 + number % 2}
        OpenEXR.File(header, {"RGB": picture.astype(np.float16)}).write(
            str(tmp_path / "in" / f"pl.{number}.exr")
        )

    code, said = denoise_fix(tmp_path / "in" / "pl.####.exr", tmp_path / "out" / "pl.####.exr")

    assert code == 0, said
    for number in (1001, 1002, 1003):
        kept = read_exr_attributes(tmp_path / "out" / f"pl.{number}.exr")
        assert np.allclose(kept["chromaticities"], ap0, atol=1e-6)  # its primaries: ACES, not Rec.709
        assert kept["arri/focalLength"] == 32.0 + number % 2  # each frame's own lens data, for matchmove


def test_a_fix_of_a_render_with_uneven_overscan_keeps_it_and_probe_says_it(tmp_path: Path) -> None:
    import OpenEXR

    promote_fresh_denoise({"psnr": 33.0, "baseline_best": 32.0, "psnr_nlmeans": 32.0})
    (tmp_path / "in").mkdir()
    for number, picture in zip((1001, 1002), footage.frames(2, (72, 52)), strict=True):
        header = {
            "type": OpenEXR.scanlineimage,
            "dataWindow": ((-4, -2), (67, 49)),  # 4 pixels left and right, 2 above and below
            "displayWindow": ((0, 0), (63, 47)),
        }
        OpenEXR.File(header, {"RGB": picture.astype(np.float16)}).write(
            str(tmp_path / "in" / f"cg.{number}.exr")
        )

    code, said = denoise_fix(tmp_path / "in" / "cg.####.exr", tmp_path / "out" / "cg.####.exr")

    assert code == 0, said
    assert "(left 4, top 2, right 4, bottom 2) is fixed with the picture" in " ".join(said.split())
    fixed = probe(str(tmp_path / "out" / "cg.####.exr"))
    assert (fixed.width, fixed.height, fixed.overscan) == (64, 48, (4, 2, 4, 2))
    code, said = rushes("probe", str(tmp_path / "in" / "cg.####.exr"))
    assert "overscan past the display window: left 4, top 2, right 4, bottom 2" in " ".join(said.split())


def test_a_fix_of_anamorphic_frames_keeps_their_pixel_aspect(tmp_path: Path) -> None:
    from engine.media import write_movie

    promote_fresh_denoise({"psnr": 33.0, "baseline_best": 32.0, "psnr_nlmeans": 32.0})
    source = write_movie(
        tmp_path / "A002C004.mov", footage.frames(3, (64, 48)), 24, codec="prores", pixel_aspect=Fraction(2)
    )

    for output in (str(tmp_path / "f.mov"), str(tmp_path / "seq" / "f.####.dpx")):
        code, said = denoise_fix(source, output)
        assert code == 0, said
        fixed = probe(output)
        assert (fixed.width, fixed.height, fixed.pixel_aspect) == (64, 48, 2), (
            output
        )  # editorial desqueezes it


def test_a_fix_of_a_phones_hdr_movie_keeps_its_colour_tags(tmp_path: Path) -> None:
    from engine.media import read_clip, write_movie
    from engine.media.info import ColourTags

    promote_fresh_denoise({"psnr": 33.0, "baseline_best": 32.0, "psnr_nlmeans": 32.0})
    hlg = ColourTags(primaries=9, transfer=18, matrix=9)
    source = tmp_path / "IMG_0001.mov"
    write_movie(source, footage.frames(4, (64, 48)), 30, codec="prores", colour=hlg)

    code, output = rushes(
        "fix", "-s", "TST", "--kind", "denoise", "-i", str(source), "-o", str(tmp_path / "f.mp4")
    )

    assert code == 0, output
    assert probe(str(tmp_path / "f.mp4")).colour == hlg  # players read its pixels as the source's
    said = " ".join(rushes("probe", str(tmp_path / "f.mp4"))[1].split())
    assert "colour tags: primaries BT.2020, transfer HLG, matrix BT.2020 (H.273: 9, 18, 9)" in said
    assert ColourTags(2, 2, 2).described() == "primaries 2, transfer 2, matrix 2 (H.273: 2, 2, 2)"
    assert abs(float(read_clip(str(tmp_path / "f.mp4")).mean() - read_clip(str(source)).mean())) < 0.02


def test_a_fix_of_a_daily_with_sync_sound_keeps_it_on_its_frames_and_says_where_it_cannot(
    tmp_path: Path,
) -> None:
    promote_fresh_denoise({"psnr": 33.0, "baseline_best": 32.0, "psnr_nlmeans": 32.0})
    source = footage.movie_with_sound(tmp_path / "A001C003.mov", 12, clap_at=0.25)

    code, output = denoise_fix(source, tmp_path / "f.mov")
    assert code == 0, output
    assert abs(footage.clap_time(tmp_path / "f.mov") - 0.25) < 0.001  # editorial hears the clap on its frame

    pattern = str(tmp_path / "seq" / "f.####.png")
    code, output = denoise_fix(source, pattern)
    assert code == 0, output
    assert f"The sequence has no sound: the input's sound stays in {source}" in " ".join(output.split())


def test_a_fix_of_a_daily_with_subtitles_says_it_leaves_them_out(tmp_path: Path) -> None:
    promote_fresh_denoise({"psnr": 33.0, "baseline_best": 32.0, "psnr_nlmeans": 32.0})
    recorded = footage.movie_with_sound(tmp_path / "recorded.mov", 12, layout="mono")
    source = footage.named_with_subtitles(recorded, tmp_path / "A001C003.mov", [("eng", "Boom")])

    code, output = denoise_fix(source, tmp_path / "f.mov")

    assert code == 0, output
    said = " ".join(output.split())
    assert "The input's subtitles (1 stream(s)) are left out: a fix carries" in said
    probed = " ".join(rushes("probe", str(source))[1].split())
    assert "subtitles: 1 stream(s) (a fix leaves them out)" in probed


def test_a_fix_of_a_movie_whose_sound_cannot_be_read_keeps_its_frames_and_says_so(tmp_path: Path) -> None:
    promote_fresh_denoise({"psnr": 33.0, "baseline_best": 32.0, "psnr_nlmeans": 32.0})
    source = footage.movie_with_unreadable_sound(tmp_path / "A001C003.mov")

    code, output = denoise_fix(source, tmp_path / "f.mov")

    assert code == 0, output
    fixed = probe(str(tmp_path / "f.mov"))
    assert fixed.frame_count == 12
    source_sound = probe(str(source)).sound
    assert source_sound is not None
    if source_sound.unreadable:  # the PyAV installed cannot read its layout (18.1.0): left out, and said
        assert "The input's sound cannot be read" in " ".join(output.split()) and fixed.sound is None
    else:  # one that can (18.1.1): carried
        assert fixed.sound is not None and fixed.sound.channels == 8


def test_a_movie_with_dropped_frames_is_fixed_along_its_timeline_so_its_sound_stays_in_sync(
    tmp_path: Path,
) -> None:
    promote_fresh({"denoise": {"psnr": 33.0, "baseline_best": 32.0, "psnr_nlmeans": 32.0}, "interpolate": {}})
    stamps = [*range(10), *range(13, 24)]  # the recorder dropped frames 10-12 of 24; the clap is at frame 18
    source = footage.movie_with_sound(tmp_path / "recorder.mov", stamps=stamps, clap_at=0.75)

    code, output = rushes(
        "fix", "-s", "TST", "--kind", "interpolate", "--frames", "auto", "-i", str(source), "-o",
        str(tmp_path / "rebuilt.mov"),
    )  # fmt: skip
    code_held, output_held = denoise_fix(source, tmp_path / "held.mov")

    assert code == 0 and code_held == 0, output + output_held
    said = " ".join(output.split())
    assert "The movie's timestamps skip 3 frame(s), after frame(s) 9 (dropped while recording)" in said
    assert "--frames auto rebuilds them" in said
    held_said = " ".join(output_held.split())  # the gaps said once, before the work: not again after it
    assert held_said.count("10-12") + held_said.count("after frame(s) 9") == 1, output_held
    source_frames = {f.number: f.rgb for f in read_frames(probe(source))}
    for name in ("rebuilt.mov", "held.mov"):
        fixed = probe(tmp_path / name)
        assert (fixed.frame_count, fixed.fps, fixed.missing_frames) == (24, 24, [])  # the recorder's 24 fps
        assert abs(footage.clap_time(tmp_path / name) - footage.clap_time(source)) < 0.002
        frames = [f.rgb for f in read_frames(tmp_path / name)]
        for number in (9, 13, 18, 23):  # each frame the source has plays at its own time
            assert psnr(frames[number], source_frames[number]) > 30, (name, number)
    held = [f.rgb for f in read_frames(tmp_path / "held.mov")]
    assert all(np.array_equal(held[n], held[9]) for n in (10, 11, 12))  # a denoise holds frame 9 over the gap


def test_a_paused_recording_keeps_its_pause_neither_rebuilt_nor_held_and_its_sound_in_sync(
    tmp_path: Path,
) -> None:
    promote_fresh({"denoise": {"psnr": 33.0, "baseline_best": 32.0, "psnr_nlmeans": 32.0}, "interpolate": {}})
    stamps = [*range(10), *range(70, 80)]  # paused 2.5 s after frame 9; the clap at frame 75
    source = footage.movie_with_sound(tmp_path / "screen.mov", stamps=stamps, clap_at=75 / 24)

    code, output = rushes(
        "fix", "-s", "TST", "--kind", "interpolate", "--frames", "auto", "-i", str(source), "-o",
        str(tmp_path / "rebuilt.mov"),
    )  # fmt: skip
    code_held, _ = denoise_fix(source, tmp_path / "held.mov")

    assert code == code_held == 0, output
    assert "The gap(s) after frame(s) 9 last over 2 s: the recording paused there" in " ".join(output.split())
    for name in ("rebuilt.mov", "held.mov"):
        fixed = probe(tmp_path / name)
        assert (fixed.frame_count, fixed.dropped, fixed.last_frame) == (20, [(9, 60)], 79), (
            name
        )  # as the source
        assert abs(footage.clap_time(tmp_path / name) - footage.clap_time(source)) < 0.002


def test_a_fix_of_a_cg_render_keeps_its_aovs_beside_the_fixed_beauty_and_says_where_it_cannot(
    tmp_path: Path,
) -> None:
    import OpenEXR

    from engine.media.exr import read_exr_layers

    promote_fresh_denoise({"psnr": 33.0, "baseline_best": 32.0, "psnr_nlmeans": 32.0})
    (tmp_path / "in").mkdir()
    for number, beauty in zip((1001, 1002, 1003), footage.frames(3, (64, 48)), strict=True):
        channels = {"RGB": beauty.astype(np.float16), "Z": np.full((48, 64), float(number), np.float32)}
        channels |= {f"specular.{c}": np.full((48, 64), 0.1, np.float16) for c in "RGB"}
        OpenEXR.File({"type": OpenEXR.scanlineimage}, channels).write(
            str(tmp_path / "in" / f"cg.{number}.exr")
        )
    source = str(tmp_path / "in" / "cg.####.exr")

    code, output = denoise_fix(source, tmp_path / "out" / "f.####.exr")
    code_movie, output_movie = denoise_fix(source, tmp_path / "f.mov")
    code_probe, described = rushes("probe", source)

    assert code == code_movie == code_probe == 0, output + output_movie + described
    assert "other EXR channels: Z, specular.B, specular.G, specular.R" in described
    assert "other EXR channels (Z, specular) are kept as they are" in " ".join(output.split())
    for number in (1001, 1002, 1003):
        kept = read_exr_layers(tmp_path / "out" / f"f.{number}.exr")
        assert set(kept) == {"Z", "specular.R", "specular.G", "specular.B"} and np.all(kept["Z"] == number)
    assert "other EXR channels (Z, specular) are left out: only an EXR sequence holds them" in " ".join(
        output_movie.split()
    )


def test_a_fix_of_a_phones_movie_keeps_its_make_model_place_and_creation_time(tmp_path: Path) -> None:
    from engine.media import write_movie

    promote_fresh_denoise({"psnr": 33.0, "baseline_best": 32.0, "psnr_nlmeans": 32.0})
    tags = {
        "com.apple.quicktime.make": "Apple",
        "com.apple.quicktime.model": "iPhone 15 Pro",
        "com.apple.quicktime.location.ISO6709": "+51.5072-000.1276/",
        "creation_time": "2026-11-30T10:00:00.000000Z",
    }
    source = write_movie(tmp_path / "IMG_0042.mov", footage.frames(3, (64, 48)), 30, tags=tags)

    codes = [denoise_fix(source, tmp_path / name)[0] for name in ("f.mov", "f.mp4")]
    code, described = rushes("probe", str(source))

    assert codes == [0, 0] and code == 0
    assert "com.apple.quicktime.model=iPhone 15 Pro" in " ".join(described.split())
    assert probe(tmp_path / "f.mov").tags == probe(tmp_path / "f.mp4").tags == tags


def test_a_fix_of_a_4444_plate_to_prores_stays_4444_and_of_a_420_one_is_422(tmp_path: Path) -> None:
    from engine.media import write_movie
    from engine.media.encode import FULL_CHROMA_PIX_FMT

    promote_fresh_denoise({"psnr": 33.0, "baseline_best": 32.0, "psnr_nlmeans": 32.0})
    plate = write_movie(
        tmp_path / "A001.mov", footage.frames(3, (64, 48)), 24, codec="prores", pix_fmt=FULL_CHROMA_PIX_FMT
    )
    phone = footage.movie(tmp_path / "IMG_0001.mp4", n=3, size=(64, 48))

    codes = [denoise_fix(plate, tmp_path / "plate.mov")[0], denoise_fix(phone, tmp_path / "phone.mov")[0]]

    assert codes == [0, 0]
    assert (
        probe(tmp_path / "plate.mov").pix_fmt == "yuv444p12le"
    )  # ProRes 4444 (FFmpeg decodes it as 12 bits)
    assert probe(tmp_path / "phone.mov").pix_fmt == "yuv422p10le"  # 422 HQ: all a 4:2:0 daily has


def test_a_fix_of_an_avid_dailys_dnxhr_to_mxf_is_dnxhr(tmp_path: Path) -> None:
    from engine.media import write_movie

    promote_fresh_denoise({"psnr": 33.0, "baseline_best": 32.0, "psnr_nlmeans": 32.0})
    daily = write_movie(
        tmp_path / "A001C003.mxf", footage.frames(2, (256, 144)), 25, codec="dnxhr", timecode="10:00:00:00"
    )

    code, output = denoise_fix(daily, tmp_path / "fixed.mxf")

    assert code == 0, output
    fixed = probe(tmp_path / "fixed.mxf")
    assert (fixed.codec, fixed.pix_fmt, fixed.timecode) == (
        "dnxhd",
        "yuv422p10le",
        "10:00:00:00",
    )  # DNxHR HQX


def test_a_fix_of_an_interlaced_movie_says_the_heads_see_each_frame_as_one_picture_and_keeps_its_field_order(
    tmp_path: Path,
) -> None:
    from engine.media import write_movie

    promote_fresh_denoise({"psnr": 33.0, "baseline_best": 32.0, "psnr_nlmeans": 32.0})
    source = tmp_path / "tape.mp4"
    write_movie(source, footage.frames(4, (64, 48)), 25, options={"x264-params": "interlaced=1:tff=1"})

    code, output = rushes(
        "fix", "-s", "TST", "--kind", "denoise", "-i", str(source), "-o", str(tmp_path / "f.mp4")
    )
    code_mov, _ = denoise_fix(source, tmp_path / "f.mov")

    assert code == code_mov == 0, output
    said = " ".join(output.split())
    assert "The input is interlaced (top field first)" in said and "deinterlace it first" in said
    assert probe(tmp_path / "f.mp4").interlaced == probe(tmp_path / "f.mov").interlaced == "top field first"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("600", 600),
        ("90s", 90),
        ("1.5h", 5400),
        ("1h30m", 5400),
        ("1h 30m", 5400),
        ("1m30s", 90),
        ("2h5s", 7205),
    ],
)
def test_a_budget_may_be_written_in_hours_minutes_and_seconds_together(text: str, seconds: float) -> None:
    """`--budget 1h30m` was refused as "not a duration" (one unit only): a 90-minute base run had to be 90m."""
    from daemon.cli.model import parse_duration

    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["1h30", "30m1h", "1h1h", "90sec", "-5m", "h", "", "10x"])
def test_a_budget_that_is_not_a_duration_is_one_line(text: str) -> None:
    """One `error:` line (it was typer's five-line usage panel), and an empty --budget= is refused, not the
    show's default budget."""
    assert rushes("show", "add", "TST")[0] == 0
    code, output = rushes("train", "--show", "TST", f"--budget={text}")
    said = " ".join(output.split())
    assert code == 2 and "is not a duration: use e.g. 600, 90s, 10m, 2h or 1h30m" in said
    assert len(output.strip().splitlines()) == 1 and "Usage" not in output


@pytest.mark.parametrize(
    "args",
    [
        ["dailies", "exclude", "9" * 23, "--reason", "x"],
        ["dailies", "include", "9" * 23],
        ["jobs", "retry", "9" * 23],
        ["prune", "--older-than", "1000000"],
        ["base", "train", "--name", "B", "--corpus", ".", "--declare", "owned: us", "--resolution", "0"],
        ["base", "train", "--name", "B", "--corpus", ".", "--declare", "owned: us", "--max-steps", "0"],
        ["base", "train", "--name", "B", "--corpus", ".", "--declare", "owned: us", "--max-frames", "-3"],
    ],
)
def test_a_number_out_of_range_is_refused_as_input_not_a_traceback(args: list[str]) -> None:
    """Ids past a catalog's integers and ages past any date gave OverflowError tracebacks (exit 70); a base run
    of resolution 0 or 0 steps failed after claiming its name (`rushes base list` showed it unfinished)."""
    code, output = rushes(*args)
    assert code == 2 and "Traceback" not in output and "Invalid value" in output
    assert "B" not in rushes("base", "list")[1].split()


def test_a_budget_past_30_days_is_refused_before_any_work() -> None:
    """400 nines of hours reserved a version, then failed with OverflowError."""
    assert rushes("show", "add", "TST")[0] == 0
    code, output = rushes("train", "--show", "TST", "--budget", "9" * 400 + "h")
    assert code == 2 and "is over 30 days" in " ".join(output.split())
    assert rushes("model", "list", "--show", "TST")[1].count("v1") == 0


def test_a_zero_budget_is_refused_rather_than_read_as_the_shows_default(tmp_path: Path) -> None:
    assert rushes("show", "add", "TST")[0] == 0
    for args in (
        ["train", "--show", "TST", "--budget", "0"],
        [
            "base",
            "train",
            "--name",
            "B",
            "--corpus",
            str(tmp_path),
            "--declare",
            "owned: us",
            "--budget",
            "0s",
        ],
    ):
        code, output = rushes(*args)
        assert code == 2 and "is no time at all: give a budget such as 90s, 10m or 2h" in " ".join(
            output.split()
        )


# ---- user mistakes, through the real console entry ------------------------------------------------------------


def console(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "daemon", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def mistakes(
    tmp_path_factory: pytest.TempPathFactory, sg_server: SGServer
) -> Iterator[dict[str, subprocess.CompletedProcess[str]]]:
    """Every mistake below, each in its own `python -m daemon` process, run side by side to save time."""
    root = tmp_path_factory.mktemp("mistakes")
    home = root / "home"
    env = clean_environ(home)
    clip = footage.movie(root / "sh010_1.mp4", n=4, size=(64, 48))
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("RUSHES_"):
                mp.delenv(name)
        mp.setenv("RUSHES_HOME", str(home))
        assert rushes("show", "add", "TST")[0] == 0
    secret_yaml = root / "secret.yaml"
    secret_yaml.write_text("tracker:\n  kind: shotgrid\n  script_key: hunter2\n")
    cases = {
        "script-key-in-yaml": (["--config", str(secret_yaml), "status"], env),
        "retry": (["jobs", "retry", "4242"], env),
        "show-add-missing": (["show", "add", "NEW", "--ingest", "/no/such/folder"], env),
        "no-tracker": (["tracker", "check"], env),
        "wrong-key": (["tracker", "check"], {**env, **tracker_env(sg_server, "wrong-key")}),
        "unreachable": (
            ["tracker", "check"],
            {**env, **tracker_env(sg_server, KEY), "RUSHES_TRACKER__URL": "http://127.0.0.1:9"},
        ),
        "fix": (
            ["fix", "--show", "TST", "--kind", "regrade", "-i", str(clip), "-o", str(root / "o.mp4")],
            env,
        ),
        "fix-quality": (
            [
                "fix",
                "-s",
                "TST",
                "--kind",
                "cleanup",
                "--mask",
                "0,0,8,8",
                "--quality",
                "best",
                "-i",
                str(clip),
                "-o",
                str(root / "o.mp4"),
            ],
            env,
        ),
        "fix-frames": (
            [
                "fix",
                "-s",
                "TST",
                "--kind",
                "denoise",
                "--frames",
                "3-4",
                "-i",
                str(clip),
                "-o",
                str(root / "o.mp4"),
            ],
            env,
        ),
        "train": (["train", "--show", "TST"], env),
        "unknown-show": (["model", "list", "--show", "NOPE"], env),
    }
    running = {name: console(args, case_env) for name, (args, case_env) in cases.items()}
    results = {}
    for name, proc in running.items():
        stdout, stderr = proc.communicate(timeout=120)
        results[name] = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    yield results


@pytest.mark.parametrize(
    ("command", "sentence"),
    [
        (
            ["prune"],
            "fixes never published because their request failed or was taken back, the training cache of shows "
            "wrapped, and the logs",
        ),
        (
            ["catalog"],
            "Copy the whole configured catalog into the empty database TO, ids kept, in one transaction.",
        ),
        (["--help"], "Apply one head of the show's model to any movie or image sequence (before its first"),
    ],
)
def test_help_reads_as_sentences_not_as_the_source_lines_of_its_docstring(
    command: list[str], sentence: str
) -> None:
    """`rushes prune --help` used to break its sentences where the source's lines end ("because their request
    failed or was" / "taken back")."""
    result = CliRunner().invoke(
        app, [*command, "--help"] if command != ["--help"] else command, env={"COLUMNS": "200"}
    )

    assert result.exit_code == 0, result.output
    assert sentence in result.output


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("retry", "error: job 4242 does not exist (see `rushes jobs list`)"),
        ("show-add-missing", "error: folder does not exist: /no/such/folder: create or mount it first"),
        (
            "no-tracker",
            "error: no tracker is configured: set tracker.kind (shotgrid or kitsu) and tracker.url",
        ),
        (
            "fix",
            "error: regrade without --reference restores show TST's own look, which only a trained model knows, "
            "and TST has none yet: name a reference frame to match with --reference, or ask again once its "
            "first model is trained (by its nightly training, or `rushes train --show TST`)",
        ),
        (
            "fix-quality",
            "error: --quality: cleanup does not read it; drop --quality (interpolate, denoise and upscale take it)",
        ),
        ("fix-frames", "error: --frames: denoise does not read it; drop --frames (interpolate takes it)"),
        ("train", "error: show TST has no readable dailies to train on: ingest some first"),
        (
            "script-key-in-yaml",
            "error: tracker.script_key: secrets never go in YAML; set RUSHES_TRACKER__SCRIPT_KEY instead",
        ),
        (
            "unknown-show",
            "error: show 'NOPE' is not known: add it with `rushes show add NOPE` or in the config file",
        ),
    ],
)
def test_mistake_is_one_line_and_exit_2(
    mistakes: dict[str, subprocess.CompletedProcess[str]], case: str, message: str
) -> None:
    result = mistakes[case]
    assert result.returncode == 2, result.stderr
    assert one_error_line(result) == message
    assert result.stdout == ""


def test_tracker_check_with_a_wrong_key_marks_fail_and_exits_1(
    mistakes: dict[str, subprocess.CompletedProcess[str]], sg_server: SGServer
) -> None:
    result = mistakes["wrong-key"]
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"ok   connect: {sg_server.url} (server 8.5.0)",
        "FAIL authenticate: ShotGrid rejected script 'rushes': check RUSHES_TRACKER__SCRIPT_NAME/SCRIPT_KEY",
    ]
    # nothing `rushes tracker setup` could create is missing, so it is not offered
    assert one_error_line(result) == "the tracker is not ready for Rushes: fix the lines marked FAIL"
    assert "wrong-key" not in result.stdout + result.stderr  # the key itself is never printed


def test_tracker_check_of_a_site_it_cannot_reach_says_what_to_check_not_that_it_will_retry(
    mistakes: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    result = mistakes["unreachable"]
    assert (
        result.returncode == 75
    )  # try later: nothing on the site to mend (docs/operations.md, "For scripts")
    [line] = result.stdout.splitlines()
    assert line.startswith(
        "FAIL connect: ShotGrid at http://127.0.0.1:9 did not answer info after 1 attempts"
    )
    assert line.endswith("; check tracker.url and that this machine reaches it")
    assert one_error_line(result) == (
        "the tracker cannot be reached: check tracker.url, or run the check again once it answers"
    )


CRASHING_COMMAND = """
import faulthandler, sys
from daemon.cli.app import app

@app.command("crash-now")
def crash_now() -> None:
    faulthandler._sigsegv()  # as a crash in native code (a runtime, a codec) would

sys.argv = ["rushes", "crash-now"]
from daemon.cli.main import main
main()
"""


def test_a_command_that_crashes_in_native_code_prints_where_before_it_dies(tmp_path: Path) -> None:
    env = {**os.environ, "RUSHES_HOME": str(tmp_path), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    run = subprocess.run(
        [sys.executable, "-c", CRASHING_COMMAND], env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == -11, run.stderr
    assert "Fatal Python error: Segmentation fault" in run.stderr
    assert "in crash_now" in run.stderr, run.stderr  # the frame it died in


def test_a_name_the_terminals_encoding_lacks_is_printed_escaped_not_a_traceback(tmp_path: Path) -> None:
    """Under PYTHONIOENCODING=ascii (or a Latin-1 locale) `rushes probe`, `status` and `model show` stopped with a
    UnicodeEncodeError traceback, status after its first lines."""
    daily = footage.movie(tmp_path / "Ünïcode_1.mov", n=4, size=(64, 48))
    env = {**os.environ, "RUSHES_HOME": str(tmp_path / "home"), "PYTHONIOENCODING": "ascii"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    run = subprocess.run(
        [sys.executable, "-m", "daemon", "probe", str(daily)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    assert "\\xdcn\\xefcode_1.mov" in run.stdout, run.stdout


def test_probe_says_what_rushes_reads_of_a_daily(tmp_path: Path) -> None:
    from engine.media import MovieWriter

    source = footage.movie_with_sound(tmp_path / "sound.mov", 12)
    daily = tmp_path / "A003C012.mov"
    with MovieWriter(
        daily,
        24,
        64,
        48,
        "prores",
        "15:30:00:00",
        pixel_aspect=Fraction(2),
        reel="A003C012",
        sound=SoundSpan(source),
    ) as writer:
        for picture in footage.frames(12, (64, 48)):
            writer.write(picture)

    code, output = rushes("probe", str(daily))
    assert code == 0, output
    said = " ".join(output.split())
    assert "movie, prores 64x48 (pixel aspect 2:1: a 2.67:1 picture), 24 fps, 12 frames (0.5 s)" in said
    assert "timecode 15:30:00:00, reel A003C012" in said
    assert "sound: pcm_s24le, 48000 Hz, 2 channel(s), 1 stream(s)" in said

    code, output = rushes("probe", str(daily), "--json")
    facts = json.loads(output)
    assert (facts["pixel_aspect"], facts["reel"], facts["sound"]["streams"]) == ("2", "A003C012", 1)
    assert facts["fps"] == "24"  # as `dailies list --json` writes it (it was "24/1")

    code, output = rushes("probe", str(tmp_path / "missing.mov"))
    assert code == 2 and "missing.mov: not found" in output and len(output.strip().splitlines()) == 1


def test_a_folder_given_for_a_sequence_is_answered_with_the_pattern_of_the_sequences_it_holds(
    tmp_path: Path,
) -> None:
    plates = tmp_path / "plates"
    footage.sequence(plates, "sh010_plate", first=1001, n=4)
    footage.sequence(tmp_path / "unpadded", "sh020", first=1, n=12)
    for frame in (tmp_path / "unpadded").iterdir():  # sh020.1.png ... sh020.12.png
        frame.rename(frame.with_name(f"sh020.{int(frame.name.split('.')[1])}.png"))
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no frames here")

    code, output = rushes("probe", str(plates))
    said = " ".join(output.split())
    assert code == 2 and f"give its pattern, {plates}/sh010_plate.####.png (frames 1001-1004)" in said
    footage.sequence(plates, "sh010_matte", first=1001, n=3)
    code, output = rushes("probe", str(plates))
    said = " ".join(output.split())
    assert code == 2 and "is a folder holding 2 image sequences" in said and "sh010_matte.####.png" in said
    code, output = rushes("probe", str(tmp_path / "unpadded"))
    assert code == 2 and "unpadded/sh020.@.png (frames 1-12)" in " ".join(output.split())
    code, output = rushes("probe", str(tmp_path / "notes"))
    assert code == 2 and "holds no image sequence: give a movie file or a pattern" in " ".join(output.split())


def test_a_fix_of_a_float_exr_plate_is_written_in_float(tmp_path: Path) -> None:
    """Its untouched frames come back as they were, to 2e-6 of their value: in half a light past 65504 became
    infinity and every value was rounded to 11 bits."""
    from engine.media import write_sequence

    promote_fresh({"interpolate": {}})
    scene = footage.frames(3, (64, 48), seed=3) * np.float32(4.0) + np.float32(1e-4)
    scene[:, 4:8, 4:8] = np.float32(1e5)  # the sun in a CG render
    write_sequence(tmp_path / "in" / "pl.####.exr", scene, 1001, bit_depth=32)
    assert probe(str(tmp_path / "in" / "pl.####.exr")).pix_fmt == "gbrpf32le"

    code, output = rushes(
        "fix", "-s", "TST", "--kind", "interpolate", "--frames", "1002", "-i", str(tmp_path / "in" / "pl.####.exr"),
        "-o", str(tmp_path / "f.####.exr"),
    )  # fmt: skip

    assert code == 0, output
    assert probe(str(tmp_path / "f.####.exr")).pix_fmt == "gbrpf32le"
    fixed = {f.number: f.rgb for f in read_frames(str(tmp_path / "f.####.exr"))}
    for number, source in ((1001, scene[0]), (1003, scene[2])):  # through the working encoding and back
        np.testing.assert_allclose(fixed[number], source, rtol=1e-5)  # 2e-6 off (a log and back), not 5e-4


def test_an_upscale_too_large_for_h264_is_refused_before_the_work(tmp_path: Path) -> None:
    """A 6K plate upscaled to .mp4 was written as a 12288x6480 H.264 movie (level 6.2 holds about 8192x4352),
    which players refuse, after minutes of work and without a word of its size."""
    from engine.media.encode import write_numbered_sequence

    assert rushes("show", "add", "TST")[0] == 0
    plate = str(tmp_path / "big" / "pl.####.png")
    frames = [np.full((2400, 4200, 3), 0.5, np.float32)] * 2
    write_numbered_sequence(plate, enumerate(frames, 1001), 24)
    code, said = rushes("fix", "-s", "TST", "--kind", "upscale", "-i", plate, "-o", str(tmp_path / "up.mp4"))
    said = " ".join(said.split())
    assert code == 2 and "The upscale writes 8400x4800 frames, twice the input's." in said, said
    assert "a 8400x4800 H.264 movie is larger than H.264 holds" in said and "write a .mov (ProRes)" in said
    assert not (tmp_path / "up.mp4").exists()
