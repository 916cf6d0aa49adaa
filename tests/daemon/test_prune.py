"""`rushes prune`: the render folders of rejected fixes and of fixes never published by a failed request, and
the logs of jobs that ended, are listed, then deleted with --yes, once older than the age asked; approved renders,
renders waiting for review, recent ones and files outside a fix's own folder are kept."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from daemon.catalog import fixes, utcnow
from daemon.catalog import jobs as job_repo
from daemon.catalog.models import Job, Publication
from daemon.cli.main import _register
from daemon.context import open_context
from daemon.jobs.payloads import FixJob
from daemon.settings import load_settings
from tests.homes import own_home, rushes

_register()

SHOW = "PRN"


@pytest.fixture(autouse=True)
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    home = own_home(monkeypatch, tmp_path)
    assert rushes("show", "add", SHOW)[0] == 0
    return home


def render(
    request_id: int,
    kind: str,
    *,
    days: int,
    review: str = "pending",
    published: bool = True,
    where: Path | None = None,
) -> Path:
    """A fix's render folder with a 1 kB movie, its publication reviewed (or last changed) `days` ago."""
    settings = load_settings()
    ctx = open_context(settings)
    folder = where or Path(settings.data_dir) / "renders" / SHOW / "sh010" / f"sh010_{kind}_r{request_id}"
    folder.mkdir(parents=True)
    movie = folder / f"{folder.name}.mp4"
    movie.write_bytes(b"\0" * 1000)
    (folder / f"{folder.name}_before_after.mp4").write_bytes(b"\0" * 500)
    when = utcnow() - timedelta(days=days)
    with ctx.catalog.session() as s:
        pub, _ = fixes.add_publication(s, request_id, kind, f"publish:{request_id}:{kind}", str(movie))
        row = s.get(Publication, pub.id)
        assert row is not None
        row.state = "published" if published else "pending"
        row.review_status, row.updated_at = review, when
        row.reviewed_at = when if review != "pending" else None
    ctx.close()
    return folder


def request(key: str, state: str = "published", shot: str = "sh010") -> int:
    ctx = open_context(load_settings())
    with ctx.catalog.session() as s:
        row, _ = fixes.add_fix_request(s, SHOW, key, shot, ["denoise", "regrade", "upscale"])
        fixes.set_fix_state(s, row.id, state)
        request_id = row.id
    ctx.close()
    return request_id


def ended_job(key: str, days: int, home: Path) -> Path:
    """A job that ended `days` ago, with its log."""
    ctx = open_context(load_settings())
    with ctx.catalog.session() as s:
        job, _ = job_repo.enqueue(s, "fix", key, {})
        job.state, job.finished_at = "done", utcnow() - timedelta(days=days)
        job_id = job.id
    ctx.close()
    log = home / "logs" / f"job-{job_id}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("x" * 200)
    return log


def test_spent_renders_and_old_logs_are_listed_then_deleted_and_everything_else_is_kept(
    home: Path, tmp_path: Path
) -> None:
    reviewed, failed = request("req-1", "rejected"), request("req-2", "failed")
    rejected_old = render(reviewed, "denoise", days=40, review="rejected")
    rejected_new = render(reviewed, "regrade", days=5, review="rejected")
    approved = render(reviewed, "upscale", days=60, review="approved")  # a training example
    never_published = render(failed, "denoise", days=40, published=False)
    in_review = render(failed, "regrade", days=60)  # published, not reviewed yet
    elsewhere = render(failed, "upscale", days=40, review="rejected", where=tmp_path / "moved" / "x")
    old_log, new_log = ended_job("fix:a", 40, home), ended_job("fix:b", 1, home)

    code, output = rushes("prune")
    assert code == 0
    assert "would delete 2 render folder(s) and 1 job log(s), 3.2 kB: run again with --yes" in output
    assert all(str(p) in output for p in (rejected_old, never_published, old_log))
    assert rejected_old.exists() and old_log.exists()  # only listed

    code, output = rushes("prune", "--yes", "--json")
    report = json.loads(output)
    assert code == 0 and report["deleted"] and report["freed"] == report["bytes"] == 1500 * 2 + 200
    assert {Path(r["path"]) for r in report["spent"]} == {rejected_old, never_published, old_log}
    assert not rejected_old.exists() and not never_published.exists() and not old_log.exists()
    assert all(p.exists() for p in (rejected_new, approved, in_review, elsewhere, new_log))

    assert "nothing to prune" in rushes("prune", "--yes")[1]
    code, output = rushes("prune", "--older-than", "0", "--show", SHOW)
    assert code == 0 and str(rejected_new) in output and "0 job log(s)" in output  # a show's renders only
    code, output = rushes("prune", "--show", "NOPE")
    assert code == 2 and "no show NOPE" in output


@pytest.mark.parametrize(
    ("shot", "where"),
    [("seq/010", "seq_010"), ("a\\b", "a\\b")],  # where fixes put it now; where a render made before that is
)
def test_a_rejected_render_of_a_shot_whose_name_is_no_file_name_is_found_where_the_fix_put_it(
    shot: str, where: str
) -> None:
    request_id = request("req-1", "rejected", shot=shot)
    renders = Path(load_settings().data_dir) / "renders" / SHOW
    folder = render(request_id, "denoise", days=40, review="rejected", where=renders / where / "x_r1")
    code, output = rushes("prune", "--yes")
    assert code == 0 and "deleted 1 render folder(s)" in output and not folder.exists()


@pytest.mark.parametrize("state", ["open", "rendering", "rendered"])
def test_a_render_still_waiting_in_the_outbox_is_never_spent_however_old(state: str) -> None:
    # the tracker was down for weeks: the request's render waits, unpublished, to go out; deleting it loses the fix
    waiting = render(request("req-w", state), "denoise", days=90, published=False)
    gone = render(request("req-f", "failed"), "denoise", days=90, published=False)
    code, output = rushes("prune", "--yes", "--json")
    assert code == 0
    assert {Path(r["path"]) for r in json.loads(output)["spent"]} == {gone}
    assert waiting.exists() and not gone.exists()


@pytest.mark.parametrize("state", ["dead", "queued", "running"])  # refused; retried, waiting or publishing
def test_a_render_whose_publish_the_tracker_refused_is_kept_for_jobs_retry_however_old(state: str) -> None:
    # the publish was refused for good (a permission): the request failed and the coordinator was told the files are
    # kept for `rushes jobs retry`; a nightly prune must not delete what that retry publishes, nor while it runs
    refused_id, lost_id = request("req-r", "failed"), request("req-l", "failed")
    refused = render(refused_id, "denoise", days=90, published=False)
    fix_died = render(lost_id, "denoise", days=90, published=False)  # its fix job died, not its publish
    ctx = open_context(load_settings())
    with ctx.catalog.session() as s:
        job, _ = job_repo.enqueue(s, "publish", f"publish:{refused_id}:denoise", {"publication_id": 1})
        job.state = state
    ctx.close()
    code, output = rushes("prune", "--yes", "--json")
    assert code == 0
    assert {Path(r["path"]) for r in json.loads(output)["spent"]} == {fix_died}
    assert refused.exists() and not fix_died.exists()


def test_prune_reads_the_logs_on_disk_not_every_job_ever_ended(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A year of a facility is a million ended jobs whose logs went at earlier prunes; the prune from cron looked
    at each one's log path (16 s at 500,000 jobs). Now it lists the logs folder and asks the catalog about those."""
    long_ago = utcnow() - timedelta(days=400)
    ctx = open_context(load_settings())
    with ctx.catalog.session() as s:
        s.execute(
            insert(Job),
            [
                dict(
                    kind="ingest",
                    key=f"ingest:{n}",
                    payload={},
                    state="done",
                    run_after=long_ago,
                    finished_at=long_ago,
                    created_at=long_ago,
                    updated_at=long_ago,
                )
                for n in range(5000)
            ],
        )
    ctx.close()
    old_log, new_log = ended_job("fix:a", 40, home), ended_job("fix:b", 1, home)
    looked_at: list[str] = []
    real_stat = os.stat

    def counting_stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if "job-" in os.fspath(path):
            looked_at.append(os.fspath(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", counting_stat)
    code, output = rushes("prune")
    assert (
        code == 0 and "would delete 0 render folder(s) and 1 job log(s)" in output and str(old_log) in output
    )
    assert str(new_log) not in output
    assert len(looked_at) <= 2, f"prune looked at {len(looked_at)} job logs' paths, for 2 logs on disk"


def test_a_wrapped_shows_training_cache_is_spent_and_a_working_shows_is_not(home: Path) -> None:
    assert rushes("show", "add", "LIVE")[0] == 0
    caches = {code: home / "cache" / code for code in (SHOW, "LIVE")}
    for folder in caches.values():  # decoded frames, as training keeps them
        folder.mkdir(parents=True)
        (folder / "daily-1.u8").write_bytes(b"\0" * 3000)
    assert rushes("prune", "--older-than", "0")[1].startswith("nothing to prune")  # both shows still work
    ctx = open_context(load_settings())
    with ctx.catalog.session() as s:  # a training the wrap lets finish reads the cache still
        job_repo.enqueue(s, "train", f"train:{SHOW}:nightly", {}, show=SHOW)
        training = job_repo.claim(s, "host:1:train", ["train"], lease_s=600)
        assert training is not None
    assert rushes("show", "wrap", SHOW)[0] == 0
    assert rushes("prune")[1].startswith("nothing to prune")  # wrapped today: 30 days by default
    assert rushes("prune", "--older-than", "0")[1].startswith("nothing to prune")  # its training runs
    with ctx.catalog.session() as s:
        assert job_repo.complete(s, training.id, "host:1:train")
    ctx.close()

    code, output = rushes("prune", "--older-than", "0")
    assert code == 0 and f"training cache of {SHOW}, wrapped " in output and str(caches[SHOW]) in output
    assert (
        "would delete 0 render folder(s), 1 wrapped show(s)' training cache and 0 job log(s), 3.0 kB"
        in output
    )
    code, output = rushes("prune", "--older-than", "0", "--show", SHOW, "--yes")
    assert code == 0 and "deleted 0 render folder(s), 1 wrapped show(s)' training cache" in output
    assert not caches[SHOW].exists() and caches["LIVE"].exists()


def test_old_done_jobs_keep_their_rows_and_keys_without_their_payloads(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A year of sequence dailies grew the catalog by gigabytes: each ingest job's payload names every frame, and
    no row was ever deleted. The prune empties the payload and result of the jobs done `--older-than` days ago; their
    rows stay, so a file found again or a request read again is not done twice."""
    from daemon.cli import app as cli_app

    monkeypatch.setattr(cli_app.out, "_width", 400)
    frames = {"files": [f"/mnt/dailies/PRN/sh010/sh010_comp_v012.{n:04d}.exr" for n in range(1001, 1151)]}
    key = "ingest:PRN:/mnt/dailies/PRN/sh010/sh010_comp_v012.####.exr:9000000:1700000000.0:150:"
    ctx = open_context(load_settings())
    with ctx.catalog.session() as s:
        ids = {}
        for name, days in (("old", 40), ("recent", 5)):
            job, _ = job_repo.enqueue(s, "ingest", f"{key}{name}", frames, show=SHOW)
            job.state, job.result, job.finished_at = "done", {"daily": 7}, utcnow() - timedelta(days=days)
            ids[name] = job.id
        running, _ = job_repo.enqueue(s, "fix", "fix:req-9:denoise", {"request_id": 9}, show=SHOW)
        assert job_repo.claim(s, "render-9:4242:fix", ["fix"], lease_s=600) is not None
    ctx.close()

    code, output = rushes("prune")
    assert code == 0 and "would empty the payload and result of 1 job row(s) ended before" in output
    said = " ".join(output.split())  # the cut-off to the minute, in UTC: a date alone read as "before today"
    assert re.search(r"ended before \d{4}-\d\d-\d\d \d\d:\d\d UTC \(their rows and keys stay\)", said), said
    code, output = rushes("prune", "--yes", "--json")
    report = json.loads(output)
    assert code == 0 and report["job_rows"] == 1 and report["catalog"]["incremental_vacuum"]
    code, output = rushes("prune", "--yes", "--vacuum")  # a daemon of another host runs the fix
    assert code == 2 and "cannot vacuum the catalog" in output and "render-9:4242:fix" in output

    ctx = open_context(load_settings())
    with ctx.catalog.session() as s:
        old, recent = job_repo.get_job(s, ids["old"]), job_repo.get_job(s, ids["recent"])
        assert old is not None and old.payload == {} and old.result is None and old.state == "done"
        assert recent is not None and recent.payload == frames and recent.result == {"daily": 7}
        again, created = job_repo.enqueue(s, "ingest", f"{key}old", frames, show=SHOW)
        assert again.id == ids["old"] and not created  # the file seen again: not ingested twice
        assert job_repo.complete(s, running.id, "render-9:4242:fix")
    ctx.close()
    code, output = rushes("jobs", "list", "--kind", "ingest")
    assert code == 0 and f"{key}old" in output and "done" in output
    code, output = rushes("prune", "--yes", "--vacuum")
    assert code == 0 and "catalog file" in output and "nothing to prune" in output


# A fix's render in a process of its own, SIGKILLed once it has written two frames, as a daemon killed mid-fix.
_RENDER = """
import sys
from fractions import Fraction
from pathlib import Path
import numpy as np
from daemon.stages.rendering import RenderPlan, RenderSink

out = Path(sys.argv[1])
plan = RenderPlan(out_dir=out, name=out.name, kind="denoise", fps=Fraction(24), first_frame=1001, finishing="exr",
                  timecode="01:00:00:00")
frame = np.full((48, 64, 3), 0.4, np.float32)
with RenderSink(plan) as sink:
    for i in range(10_000):
        sink.add(1001 + i, frame, frame)
        if i == 1:
            print("two frames", flush=True)
"""


def killed_render(request_id: int, days: int) -> Path:
    """What a fix's render killed mid-way leaves: its temporary folder, last written `days` ago."""
    settings = load_settings()
    out = Path(settings.data_dir) / "renders" / SHOW / "sh010" / f"sh010_rushes_denoise_r{request_id}"
    out.parent.mkdir(parents=True, exist_ok=True)
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-c", _RENDER, str(out)], cwd=root, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "two frames\n"
    finally:
        proc.kill()
        proc.wait()
    (folder,) = out.parent.glob(f"{out.name}.tmp-*")
    assert not out.exists() and any(folder.iterdir())
    when = (utcnow() - timedelta(days=days)).timestamp()
    for path in (*folder.rglob("*"), folder):
        os.utime(path, (when, when))
    return folder


def test_an_unfinished_render_of_a_request_that_failed_is_pruned_one_still_rendering_is_kept() -> None:
    # A fix killed on its last attempt: its request failed, and no later render of it sweeps the folder.
    dead = killed_render(request("req-dead", "failed"), days=40)
    rendering = killed_render(request("req-busy", "rendering"), days=40)  # its next attempt may write there
    recent = killed_render(request("req-new", "failed"), days=2)

    code, output = rushes("prune")
    assert code == 0 and str(dead) in output
    assert (
        "unfinished render of sh010_rushes_denoise_r1 left by a stopped process, the request failed" in output
    )
    code, output = rushes("prune", "--yes")
    assert code == 0 and "deleted 1 render folder(s)" in output
    assert not dead.exists()
    assert rendering.exists() and recent.exists()


def test_an_unfinished_render_is_kept_while_another_kind_of_its_request_renders_or_a_file_in_it_grows() -> (
    None
):
    # one kind of the request failed, which fails the request, while its regrade still waits to render
    busy_id = request("req-other", "failed")
    other_kind = killed_render(busy_id, days=40)
    ctx = open_context(load_settings())
    with ctx.catalog.session() as s:
        job_repo.enqueue(s, "fix", FixJob(busy_id, "regrade", "req-other").key(), {})
    ctx.close()
    growing = killed_render(request("req-grow", "failed"), days=40)
    next(p for p in growing.rglob("*") if p.is_file()).touch()  # written now: the folder's own time stays old

    code, output = rushes("prune", "--yes")
    assert code == 0 and other_kind.exists() and growing.exists(), output
