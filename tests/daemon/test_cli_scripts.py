"""`rushes` as scripts use it (a cron, a CI check of the config repo, a studio dashboard, a wrapper): every list
has its JSON, the same entity looks the same in each, and the exit status says whether to fix the input (2),
look at the problems a check found (1) or try again later (75) (docs/operations.md, "For scripts")."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from daemon.catalog import Catalog
from daemon.catalog import jobs as job_repo
from daemon.cli import exits
from daemon.cli.main import _register, app, main
from tests import footage
from tests.homes import own_home

_register()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return own_home(monkeypatch, tmp_path)


def rushes(*args: str) -> tuple[int, str]:
    """In-process, stdout only (a script reads stdout; what goes to stderr must not spoil its JSON)."""
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout


def real_entry(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The console entry in a process of its own, stdout and stderr pipes, as a cron or a wrapper runs it."""
    return subprocess.run(
        [sys.executable, "-m", "daemon", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def a_show(tmp_path: Path) -> Path:
    folder = tmp_path / "dailies"
    footage.movie(folder / "sh010_1.mp4", n=3, size=(48, 32))
    (folder / "cups.mp4").write_bytes(b"not a movie")
    assert rushes("show", "add", "TST", "--ingest", str(folder))[0] == 0
    assert rushes("ingest", str(folder), "--show", "TST")[0] == 0
    return folder


def jobs_in(home: Path) -> tuple[int, int, int]:
    """A dead fix job, a queued one and a done one in the catalog: their ids."""
    catalog = Catalog(f"sqlite:///{home / 'catalog.sqlite'}")
    try:
        with catalog.session() as s:
            queued = [
                job_repo.enqueue(s, "fix", f"fix:sg:{n}:denoise", {"request": n}, "TST")[0] for n in (1, 2, 3)
            ]
            dead = job_repo.claim(s, "w", ["fix"], 60)
            assert dead is not None
            job_repo.fail(s, dead.id, "w", "Permanent: frames 500-510 lie outside the shot", retryable=False)
            done = job_repo.claim(s, "w", ["fix"], 60)
            assert done is not None
            job_repo.complete(s, done.id, "w", {})
            return dead.id, queued[2].id, done.id
    finally:
        catalog.dispose()


def test_jobs_list_json_gives_each_job_as_status_json_does(clean_env: Path, tmp_path: Path) -> None:
    """`jobs list` had no --json: a dashboard or a cron retrying dead jobs had to parse a table."""
    a_show(tmp_path)
    dead, queued, done = jobs_in(clean_env)

    code, output = rushes("jobs", "list", "--json")
    assert code == 0, output
    listed = {job["id"]: job for job in json.loads(output)}
    status = {job["id"]: job for job in json.loads(rushes("status", "--json")[1])["jobs"]["recent"]}
    assert {dead, queued, done} <= set(listed)
    for job_id in (dead, queued, done):
        assert listed[job_id] == status[job_id]  # the same job looks the same in both
    assert listed[dead]["state"] == "dead" and listed[dead]["error"].startswith("Permanent: frames 500-510")
    assert isinstance(listed[dead]["id"], int) and listed[dead]["updated"].endswith("+00:00")
    assert (listed[dead]["attempts"], listed[dead]["max_attempts"]) == (1, 5)  # dead at once: Permanent
    assert listed[dead]["created"].endswith("+00:00") and listed[dead]["finished"].endswith("+00:00")
    assert listed[queued]["run_after"].endswith("+00:00") and listed[queued]["finished"] is None
    assert listed[done]["run_after"] is None

    code, output = rushes("jobs", "list", "--state", "dead", "--json")
    assert code == 0 and [job["id"] for job in json.loads(output)] == [dead]
    code, output = rushes(
        "jobs", "list", "--limit", "0", "--json"
    )  # 0: all, as `status --dailies 0` (it was none)
    assert code == 0 and len(json.loads(output)) == len(listed)
    assert [job["id"] for job in json.loads(rushes("jobs", "list", "--limit", "1", "--json")[1])] == [queued]
    # a kind that does not exist listed nothing, exit 0: a blank dashboard
    typo = real_entry("jobs", "list", "--kind", "fixes", "--json")
    assert typo.returncode == exits.BAD_INPUT and typo.stdout == ""
    assert (
        typo.stderr.strip() == "error: --kind 'fixes': use one of ingest, train, fix, publish, answer, notice"
    )


def test_jobs_retry_run_again_by_a_cron_succeeds_while_the_job_waits_or_runs(
    clean_env: Path, tmp_path: Path
) -> None:
    """A cron retrying the dead jobs it listed ran `jobs retry N` a second time (or after another operator did):
    the job was queued again already, and the command failed as if the id were wrong (exit 2)."""
    a_show(tmp_path)
    dead, queued, done = jobs_in(clean_env)

    assert rushes("jobs", "retry", str(dead)) == (0, f"job {dead} queued again\n")
    code, output = rushes("jobs", "retry", str(dead))
    assert code == 0 and f"job {dead} is queued already: nothing to retry" in output
    assert rushes("jobs", "retry", str(queued))[0] == 0
    retried = real_entry("jobs", "retry", str(done))  # a job that ended well cannot be retried: bad input
    assert retried.returncode == exits.BAD_INPUT and retried.stdout == ""
    assert retried.stderr.strip() == f"error: job {done} is done, not dead: only dead jobs can be retried"


def test_jobs_retry_of_a_job_waiting_out_its_backoff_brings_it_forward(
    clean_env: Path, tmp_path: Path
) -> None:
    """A publish backing off through a tracker outage or a refused login, mended: the TD's `jobs retry` said
    "queued already: nothing to retry", and the Version waited up to five minutes more for its next try."""
    from datetime import timedelta

    from daemon.catalog.db import catalog_now

    a_show(tmp_path)
    _, queued, _ = jobs_in(clean_env)
    catalog = Catalog(f"sqlite:///{clean_env / 'catalog.sqlite'}")
    try:
        with catalog.session() as s:
            job = job_repo.get_job(s, queued)
            assert job is not None
            job.run_after = catalog_now(s) + timedelta(minutes=5)
        code, output = rushes("jobs", "retry", str(queued))
        assert code == 0 and f"job {queued} was waiting for its next try at " in output, output
        assert "UTC: it is tried now" in " ".join(output.split())
        with catalog.session(readonly=True) as s:
            job = job_repo.get_job(s, queued)
            assert job is not None and job.run_after <= catalog_now(s)
    finally:
        catalog.dispose()


def test_show_list_json_names_each_show_with_the_keys_status_json_uses(tmp_path: Path) -> None:
    folder = a_show(tmp_path)
    gone = tmp_path / "unmounted"
    gone.mkdir()
    assert rushes("show", "add", "TST", "--ingest", str(gone), "--movie-first-frame", "1001")[0] == 0
    gone.rmdir()

    code, output = rushes("show", "list", "--json")
    assert code == 0, output
    [show] = json.loads(output)
    assert show == {
        "code": "TST",
        "name": "TST",
        "tracker_project": "TST",
        "ingest_roots": [str(folder), str(gone)],
        "missing_roots": [str(gone)],
        "path_template": ["{shot}_{take}.{ext}"],
        "sequence_template": ["{shot}/{shot}.####.{ext}"],
        "movie_first_frame": 1001,
        "wrapped_at": None,
        "training": {
            "cron": "0 1 * * *",
            "hours": 5.0,
            "timezone": None,
            "next_window": None,
            "next_window_local": None,
        },
    }
    [in_status] = json.loads(rushes("status", "--json")[1])["shows"]
    keys = ("code", "name", "ingest_roots", "missing_roots", "wrapped_at", "training")
    assert all(in_status[key] == show[key] for key in keys)
    assert rushes("show", "wrap", "TST")[0] == 0
    [wrapped] = json.loads(rushes("show", "list", "--json")[1])
    [in_status] = json.loads(rushes("status", "--json")[1])["shows"]
    assert wrapped["wrapped_at"] is not None and wrapped["wrapped_at"] == in_status["wrapped_at"]


def test_dailies_list_json_gives_a_daily_as_status_json_does(tmp_path: Path) -> None:
    """`dailies list --json` had other keys for the same daily than `status --json` (no take, frame numbers,
    fps or size in pixels): a script reading both had to know two shapes. Its old keys are kept."""
    folder = a_show(tmp_path)

    code, output = rushes("dailies", "list", "--show", "TST", "--json")
    assert code == 0, output
    listed = {d["path"]: d for d in json.loads(output)}
    [show] = json.loads(rushes("status", "--json")[1])["shows"]
    for daily in show["dailies"] + show["quarantined"]:
        row = listed[daily["path"]]
        assert {key: row[key] for key in daily} == daily
    movie = listed[str(folder / "sh010_1.mp4")]
    assert (movie["frames"], movie["size"], movie["aliases"]) == (3, "48x32", [])
    assert (movie["take"], movie["first_frame"], movie["width"]) == ("1", 0, 48)


def test_status_of_a_show_that_is_not_known_is_refused_not_an_empty_list(tmp_path: Path) -> None:
    """`status --show TYPO --json` printed an empty list of shows and exited 0: a dashboard showed nothing."""
    a_show(tmp_path)
    typo = real_entry("status", "--show", "TSX", "--json")
    assert typo.returncode == exits.BAD_INPUT and typo.stdout == ""
    assert typo.stderr.strip() == "error: show 'TSX' is not known (see `rushes show list`)"
    assert [s["code"] for s in json.loads(rushes("status", "--show", "TST", "--json")[1])["shows"]] == ["TST"]


def test_config_check_json_lists_each_problem_with_its_key_for_ci(tmp_path: Path) -> None:
    bad = tmp_path / "rushes.yaml"
    bad.write_text("shows:\n  - code: ABC\n    ingest:\n      roots: [/nonexistent/x]\nhttp:\n  port: many\n")

    checked = real_entry("config", "check", str(bad), "--json")
    assert checked.returncode == exits.PROBLEMS, checked.stderr
    report = json.loads(checked.stdout)
    assert report["file"] == str(bad) and report["ok"] is False and report["data_dir"] is None
    assert {p["key"]: p["message"] for p in report["problems"]} == {
        "http.port": "Input should be a valid integer, unable to parse string as an integer",
        "shows[0].ingest.roots[0]": "folder does not exist: /nonexistent/x",
    }
    broken = tmp_path / "broken.yaml"
    broken.write_text("shows: [\n")
    code, output = rushes("config", "check", str(broken), "--json")
    [problem] = json.loads(output)["problems"]
    assert code == exits.PROBLEMS and problem["key"] == str(broken) and "not valid YAML" in problem["message"]

    good = tmp_path / "good.yaml"
    good.write_text("max_jobs: 2\n")
    code, output = rushes("config", "check", str(good), "--json")
    assert code == 0 and json.loads(output)["ok"] is True and json.loads(output)["problems"] == []


def test_a_tracker_that_cannot_be_reached_is_try_later_in_one_line_not_a_traceback(tmp_path: Path) -> None:
    """`tracker setup` with the tracker down printed a traceback and exited 1, as when a field cannot be
    created; `tracker check` exited 1 too. A cron cannot tell an outage to wait out from something to mend."""
    a_show(tmp_path)
    env = {
        "RUSHES_TRACKER__KIND": "shotgrid",
        "RUSHES_TRACKER__URL": "http://127.0.0.1:9",  # the discard port: nothing answers there
        "RUSHES_TRACKER__SCRIPT_NAME": "rushes",
        "RUSHES_TRACKER__SCRIPT_KEY": "key",
        "RUSHES_TRACKER__CALL_ATTEMPTS": "1",
        "RUSHES_LOG_LEVEL": "error",
    }
    setup = real_entry("tracker", "setup", env=env)
    assert setup.returncode == exits.TRY_LATER, setup.stderr
    assert "Traceback" not in setup.stderr and len(setup.stderr.strip().splitlines()) == 1
    assert setup.stderr.startswith("error: ShotGrid at http://127.0.0.1:9 did not answer")
    assert setup.stderr.strip().endswith(
        "check tracker.url and that this machine reaches it, then run the command again"
    )
    check = real_entry("tracker", "check", env=env)
    assert check.returncode == exits.TRY_LATER, check.stderr
    assert check.stdout.startswith("FAIL connect:")


def test_a_catalog_locked_by_another_process_is_try_later(
    clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A catalog held by another process (a long write, a backup) made `dailies exclude` exit 2, as a wrong id
    does, saying to check catalog_url: a cron could not tell that a later try would pass."""
    a_show(tmp_path)
    monkeypatch.setattr("daemon.catalog.db.BUSY_TIMEOUT_S", 0.2)
    holder = sqlite3.connect(clean_env / "catalog.sqlite", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    monkeypatch.setattr(sys, "argv", ["rushes", "dailies", "exclude", "1", "--reason", "likeness"])
    monkeypatch.setattr("daemon.cli.main.faulthandler.enable", lambda: None)  # pytest's stderr has no fileno
    umask = os.umask(0o022)
    os.umask(umask)
    try:
        with pytest.raises(SystemExit) as ended:
            main()  # the real entry, in this process so that the lock's wait can be made short
    finally:
        os.umask(umask)
        holder.execute("ROLLBACK")
        holder.close()
    assert ended.value.code == exits.TRY_LATER
    said = capsys.readouterr().err.strip()
    assert said.startswith("error: cannot open the catalog at ") and "locked by another process" in said
    assert said.endswith("try again later (if it lasts, check catalog_url and that the database is up)")


CRASHING = """
import sys
from daemon.cli.app import app

@app.command("crash-now")
def crash_now() -> None:
    raise RuntimeError("a bug")

sys.argv = ["rushes", "crash-now"]
from daemon.cli.main import main
main()
"""


def test_an_unexpected_error_exits_with_a_status_of_its_own_not_a_checks_1() -> None:
    """A bug's traceback exited 1, the status `config check` and `tracker check` give for problems found: a CI
    job read a crash as a config to mend."""
    run = subprocess.run(
        [sys.executable, "-c", CRASHING], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == exits.BUG and run.stdout == ""
    assert "RuntimeError: a bug" in run.stderr and "crash_now" in run.stderr


REFUSED_BY_THE_DISK = """
import errno, sys
from daemon.cli.app import app

CODE = getattr(errno, sys.argv[2])

@app.command("write-now")
def write_now() -> None:
    raise OSError(CODE, "refused", "/data/models/S/v4/weights.safetensors.tmp")

sys.argv = ["rushes", "write-now"]
from daemon.cli.main import main
main()
"""


@pytest.mark.parametrize(
    ("code", "said"),
    [
        (
            "ENOSPC",
            "disk full while writing /data/models/S/v4/weights.safetensors.tmp: free space on the disk",
        ),
        ("EACCES", "cannot use /data/models/S/v4/weights.safetensors.tmp: permission denied; give the user"),
        ("EROFS", "cannot write /data/models/S/v4/weights.safetensors.tmp: its file system is read-only"),
    ],
)
def test_a_disk_or_folder_that_refuses_a_write_is_one_line_not_a_bugs_traceback(code: str, said: str) -> None:
    """`rushes train` into a full or unwritable models folder (and `base train`, a full frame cache) printed a
    traceback and exited 70, the status of a bug to report."""
    run = subprocess.run(
        [sys.executable, "-c", REFUSED_BY_THE_DISK, "x", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == exits.BAD_INPUT and "Traceback" not in run.stderr, run.stderr
    assert run.stderr.strip().startswith(f"error: {said}"), run.stderr


@pytest.mark.parametrize("args", [("status",), ("show", "list"), ("show", "list", "--json")])
def test_output_read_by_a_reader_that_stops_ends_quietly_as_the_shell_counts_a_closed_pipe(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    # `rushes status | head -1` under `set -o pipefail` exited 1, a check's "problems found", without a word
    a_show(tmp_path)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line is written
    try:
        run = subprocess.run(
            [sys.executable, "-m", "daemon", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    assert (run.returncode, run.stderr) == (141, "")


def test_ingest_of_a_folder_with_nothing_new_in_it_is_nothing_to_do_not_an_error(tmp_path: Path) -> None:
    """A cron ingesting today's delivery folder failed with exit 2 ("error: nothing to ingest there") on a day
    nothing was delivered, or only sound and EDLs: a mail to the admin for a day without work."""
    a_show(tmp_path)
    today = tmp_path / "delivery"
    today.mkdir()
    (today / "A003C012.wav").write_bytes(b"RIFF")  # a sidecar: skipped silently

    empty = real_entry("ingest", str(today), "--show", "TST")
    assert empty.returncode == 0 and empty.stderr == ""
    assert empty.stdout.strip() == "nothing to ingest there (no movies or image sequences found)"
    gone = real_entry("ingest", str(tmp_path / "not-mounted"), "--show", "TST")  # a wrong path is still wrong
    assert gone.returncode == exits.BAD_INPUT
    assert gone.stderr.strip().splitlines()[-1] == "error: nothing to ingest: none of the paths given exists"


def test_fix_json_tells_a_wrapper_what_was_written_and_keeps_stdout_to_the_json(tmp_path: Path) -> None:
    """A wrapper calling `rushes fix` from another tool had to parse "wrote 3 frame(s) to ... (denoise,
    classical)" from stdout, among the notes. With --json stdout is one JSON document; the lines go to stderr."""
    folder = a_show(tmp_path)
    source = tmp_path / "plates ü" / "sh010 take é.mp4"
    source.parent.mkdir()
    source.write_bytes((folder / "sh010_1.mp4").read_bytes())
    output = tmp_path / "fixed dir" / "sh010 débruité.mov"
    output.parent.mkdir()

    fixed = real_entry(
        "fix", "--show", "TST", "--kind", "denoise", "--input", str(source), "--output", str(output), "--json"
    )
    assert fixed.returncode == 0, fixed.stderr
    assert json.loads(fixed.stdout) == {
        "output": str(output),
        "show": "TST",
        "kind": "denoise",
        "frames": 3,
        "first_frame": 0,
        "last_frame": 2,
        "model_version": None,  # the show has no model yet: the classical tool made it
        "classical": True,
        "lut": None,
    }
    assert output.is_file() and f"wrote 3 frame(s) to {output} (denoise, classical)" in fixed.stderr
    again = real_entry(
        "fix", "--show", "TST", "--kind", "denoise", "--input", str(source), "--output", str(output), "--json"
    )
    assert again.returncode == exits.BAD_INPUT and again.stdout == ""
    assert again.stderr.strip() == (
        f"error: --output {output} exists (a movie): add --overwrite to replace it, or write to another path"
    )


def test_ingest_json_gives_the_counts_and_each_files_outcome_with_its_daily_id(tmp_path: Path) -> None:
    """A cron ingesting a delivery had to parse "1 registered, 0 already catalogued, 1 quarantined" from stdout
    and the quarantine lines from stderr to know which file to chase."""
    folder = tmp_path / "dailies"
    footage.movie(folder / "sh010_1.mp4", n=3, size=(48, 32))
    (folder / "cups.mp4").write_bytes(b"not a movie")
    (folder / "sh040_1.mp4").write_bytes(b"not a movie either")  # its name reads as a shot's
    assert rushes("show", "add", "TST", "--ingest", str(folder))[0] == 0

    first = real_entry("ingest", str(folder), "--show", "TST", "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert {k: report[k] for k in ("show", "registered", "unchanged", "quarantined", "failed")} == {
        "show": "TST",
        "registered": 1,
        "unchanged": 0,
        "quarantined": 2,
        "failed": 0,
    }
    files = {Path(f["path"]).name: f for f in report["files"]}
    assert files["cups.mp4"]["result"] == "quarantined"
    assert files["cups.mp4"]["reason"] == "name does not match the path template '{shot}_{take}.{ext}'"
    ids = {d["path"]: d["id"] for d in json.loads(rushes("dailies", "list", "--show", "TST", "--json")[1])}
    assert files["sh010_1.mp4"] == {
        "path": str(folder / "sh010_1.mp4"),
        "result": "registered",
        "shot": "sh010",
        "daily_id": ids[str(folder / "sh010_1.mp4")],
        "reason": None,
    }
    listed = {d["id"]: d for d in json.loads(rushes("dailies", "list", "--show", "TST", "--json")[1])}
    broken = files["sh040_1.mp4"]  # the same daily, the same shot, as dailies list and status give it
    assert broken["result"] == "quarantined" and broken["shot"] is None == listed[broken["daily_id"]]["shot"]
    again = json.loads(real_entry("ingest", str(folder), "--show", "TST", "--json").stdout)
    assert (again["registered"], again["unchanged"], again["quarantined"]) == (0, 1, 2)


def test_tracker_setup_and_check_json_for_a_cron_that_prepares_the_tracker(tmp_path: Path) -> None:
    """`tracker setup` and `tracker check` printed marked lines only; a CI job checking the tracker had to parse
    `ok  ` and `FAIL` out of them. Their JSON lists each step or check, with the same exit statuses."""
    from integrations.trackers.sgserver.app import start_in_thread

    a_show(tmp_path)
    server = start_in_thread(tmp_path / "sg", "rushes", "the-key")
    env = {
        "RUSHES_TRACKER__KIND": "shotgrid",
        "RUSHES_TRACKER__URL": server.url,
        "RUSHES_TRACKER__SCRIPT_NAME": "rushes",
        "RUSHES_TRACKER__SCRIPT_KEY": "the-key",
    }
    try:
        first = CliRunner().invoke(app, ["tracker", "setup", "--json"], env=env)
        assert first.exit_code == 0, first.output
        made = json.loads(first.stdout)
        assert made["created"] > 0 and made["missing"] == 0
        assert {"what": "field Task.sg_rushes_fixes (text)", "outcome": "created", "detail": ""} in made[
            "steps"
        ]
        again = json.loads(CliRunner().invoke(app, ["tracker", "setup", "--json"], env=env).stdout)
        assert again["created"] == 0 and again["existed"] == len(
            again["steps"]
        )  # a cron's rerun: nothing to do

        checked = CliRunner().invoke(app, ["tracker", "check", "--json"], env=env)
        assert checked.exit_code == 0, checked.output
        report = json.loads(checked.stdout)
        assert report["ok"] is True and {"what", "ok", "detail"} == set(report["checks"][0])
        assert {c["what"] for c in report["checks"]} >= {"connect", "authenticate", "project TST"}

        wrong = CliRunner().invoke(
            app, ["tracker", "check", "--json"], env={**env, "RUSHES_TRACKER__SCRIPT_KEY": "wrong"}
        )
        assert wrong.exit_code == exits.PROBLEMS
        refused = json.loads(wrong.stdout)
        assert refused["ok"] is False and [c["what"] for c in refused["checks"] if not c["ok"]] == [
            "authenticate"
        ]
    finally:
        server.stop()


def test_a_fix_stopped_by_sigterm_says_so_and_leaves_nothing_at_the_output(tmp_path: Path) -> None:
    """A farm manager's SIGTERM ended `rushes fix` with 143 and not a word in the job's log (Ctrl-C says what
    was left): was the output there half-written? Nothing is there, and the log now says so."""
    import signal
    import time

    a_show(tmp_path)
    source = footage.movie(tmp_path / "long take.mp4", n=120, size=(320, 180))
    output = tmp_path / "out ü" / "fixed take.mov"
    output.parent.mkdir()
    command = ["fix", "--show", "TST", "--kind", "denoise", "--input", str(source), "--output", str(output)]
    fixing = subprocess.Popen(
        [sys.executable, "-m", "daemon", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not any(output.parent.iterdir()):  # its hidden temp file: the frames are being written
        assert fixing.poll() is None and time.monotonic() < deadline, "the fix ended before it wrote"
        time.sleep(0.05)
    fixing.send_signal(signal.SIGTERM)
    stdout, stderr = fixing.communicate(timeout=120)

    assert fixing.returncode == exits.TERMINATED and stdout == ""  # no "wrote ..." line
    assert stderr.strip().splitlines()[-1] == (
        f"terminated: nothing was written to {output} (a file there before is as it was)"
    )
    assert list(output.parent.iterdir()) == []


def test_probe_json_is_plain_json_under_a_terminal_too(tmp_path: Path) -> None:
    """`probe --json` coloured its JSON (rich's highlighting) when stdout was a terminal: a wrapper run under a
    pseudo-terminal, as some farm managers and `script` run jobs, read escape codes, not JSON."""
    import pty

    movie = footage.movie(tmp_path / "sh010_1.mp4", n=3, size=(48, 32))
    leader, follower = pty.openpty()
    probed = subprocess.Popen(
        [sys.executable, "-m", "daemon", "probe", str(movie), "--json"],
        stdout=follower,
        stderr=subprocess.PIPE,
    )
    os.close(follower)  # the command holds the terminal's other end now
    said = b""
    try:
        while True:  # what the command writes to the terminal, until it ends (EIO once it closed its end)
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            said += chunk
    finally:
        os.close(leader)
    probed.wait(timeout=120)
    assert probed.returncode == 0
    text = said.decode().replace("\r\n", "\n")
    assert "\x1b[" not in text
    assert json.loads(text)["path"] == str(movie)
