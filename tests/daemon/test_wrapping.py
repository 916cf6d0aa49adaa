"""A show's wrap and its reopening (daemon.wrapping, `rushes show wrap|reopen`): every record is kept, the
daemon's work on the show stops (its queued training dropped, `rushes train` and `rushes ingest` refused), the
other shows go on, and a reopened show grows from its promoted version."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.catalog import Catalog, fixes, models_repo
from daemon.catalog import dailies as daily_repo
from daemon.catalog import jobs as job_repo
from daemon.catalog.shows import ensure_show, list_shows
from daemon.cli import app as cli_app
from daemon.cli.main import _register
from daemon.context import open_context
from daemon.jobs.payloads import FixJob, TrainJob, queue
from daemon.settings import Settings, ShowConfig, load_settings
from daemon.shows import add_show, gone_shows, read_shows
from daemon.wrapping import CannotRemove, ShowWrapped, refuse_if_wrapped, removal, reopen, wrap
from tests import footage
from tests.homes import own_home, rushes

_register()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return own_home(monkeypatch, tmp_path)


def test_a_wrapped_show_leaves_the_daemons_shows_keeps_its_records_and_reopens_from_its_promoted_version(
    catalog: Catalog, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, shows=[ShowConfig(code="YAML")])  # a show of the YAML file too
    add_show(catalog, "OTHER")
    with catalog.session() as s:
        ensure_show(s, "YAML")
        models_repo.add_version(s, "YAML", str(tmp_path / "models" / "YAML" / "v1"))
        models_repo.promote(s, "YAML", 1)
        training = queue(s, TrainJob("YAML", "nightly"), show="YAML")[0].id
        fix = queue(s, FixJob(request_id=7, fix_kind="denoise", request_key="k7"), show="YAML")[0].id
        other = queue(s, TrainJob("OTHER", "nightly"), show="OTHER")[0].id
    running = read_shows(settings, catalog, wrapped=False)[0]

    done = wrap(settings, catalog, settings.shows[0], "delivered 2026-12-01")
    assert (done.promoted, done.dropped_training, done.finishing) == (1, [training], [fix])
    now = read_shows(settings, catalog, wrapped=False)[0]
    assert [s.code for s in now] == ["OTHER"] and gone_shows(running, now) == ["YAML"]
    assert [s.code for s in read_shows(settings, catalog)[0]] == [
        "OTHER",
        "YAML",
    ]  # still listed, inspectable
    with catalog.session(readonly=True) as s:
        states = {job.id: job.state for job in job_repo.list_jobs(s, limit=None)}
        assert states == {training: "done", fix: "queued", other: "queued"}  # the other show's training stays
        assert [v.version for v in models_repo.list_versions(s, "YAML")] == [1]  # its record is whole
    with pytest.raises(ShowWrapped, match=r"show YAML is wrapped .*`rushes show reopen YAML`"):
        refuse_if_wrapped(catalog, "YAML")

    again = wrap(settings, catalog, settings.shows[0])  # wrapped twice: the first date and note stay
    assert (again.since, again.note) == (done.since, "delivered 2026-12-01")

    back = reopen(catalog, "YAML")
    assert (back.wrapped_since, back.promoted) == (done.since, 1)
    assert [s.code for s in read_shows(settings, catalog, wrapped=False)[0]] == ["OTHER", "YAML"]
    refuse_if_wrapped(catalog, "YAML")  # no longer


def test_show_wrap_and_reopen_on_the_command_line(tmp_path: Path) -> None:
    folder = tmp_path / "dailies"
    folder.mkdir()
    assert rushes("show", "add", "MYSHOW", "--ingest", str(folder))[0] == 0
    code, output = rushes("show", "wrap", "MYSHOW", "--note", "delivered")
    assert code == 0 and output.startswith("show MYSHOW wrapped at "), output
    assert "(no model version yet)" in output and "the cache can be deleted now" in output
    code, output = rushes("show", "list")
    assert code == 0 and output.startswith(f"MYSHOW\tMYSHOW\t{folder}\twrapped since "), output

    code, output = rushes("train", "--show", "MYSHOW", "--budget", "10s")
    assert code == 2 and "show MYSHOW is wrapped (since " in output
    assert "reopen it first with `rushes show reopen MYSHOW`" in output
    code, output = rushes("ingest", str(folder), "--show", "MYSHOW")
    assert code == 2 and "show MYSHOW is wrapped" in output

    code, output = rushes("show", "reopen", "MYSHOW", "--json")
    assert code == 0 and json.loads(output)["promoted"] is None
    code, output = rushes("show", "reopen", "MYSHOW")
    assert code == 0 and output.strip() == "show MYSHOW was not wrapped: nothing to reopen"
    assert rushes("show", "add", "BARE")[0] == 0  # as a show taken out of the YAML file is: no folders
    assert rushes("show", "wrap", "BARE")[0] == 0
    code, output = rushes("show", "reopen", "BARE")
    assert code == 0 and "it has no ingest folders, so no pickup is ingested: give them with " in output
    done = subprocess.run(  # a mistake: through the real console entry, one line and exit 2
        [sys.executable, "-m", "daemon", "show", "wrap", "NOPE"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2 and done.stderr.startswith("error: show 'NOPE' is not known"), done.stderr
    ctx = open_context(load_settings())
    with ctx.catalog.session(readonly=True) as s:
        assert job_repo.list_jobs(s, limit=None) == []
    ctx.close()


def test_a_wrapped_show_is_removed_with_its_rows_and_folders_and_what_stays_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_app.out, "_width", 400)  # the lines below are read whole
    folder = tmp_path / "dailies"
    folder.mkdir()
    footage.movie(folder / "sh010_1.mp4", n=3, size=(48, 32))
    assert rushes("show", "add", "GONE", "--ingest", str(folder))[0] == 0
    code, said = rushes("show", "add", "STAYS")
    assert code == 0, said
    assert rushes("ingest", str(folder), "--show", "GONE")[0] == 0
    settings = load_settings()
    models = settings.models_dir / "GONE" / "v1"
    models.mkdir(parents=True)
    (models / "weights.safetensors").write_bytes(b"x" * 1000)
    ctx = open_context(settings)
    with ctx.catalog.session() as s:
        models_repo.add_version(s, "GONE", str(models), version=1)
        request, _ = fixes.add_fix_request(s, "GONE", "shotgrid:event:1", "sh010", ["denoise"])
        fixes.add_publication(s, request.id, "denoise", "pub-1", "/renders/1.mp4")
        job = queue(s, FixJob(request_id=request.id, fix_kind="denoise", request_key="k1"), show="GONE")[0].id
        [take] = daily_repo.list_dailies(s, "GONE")
        daily_repo.exclude_daily(s, take.id, "actor withdrew consent")  # the withdrawal goes with the show

    code, said = rushes("show", "remove", "GONE", "--yes")
    assert code == 2 and "show GONE is not wrapped: wrap it first (`rushes show wrap GONE`)" in said
    assert rushes("show", "wrap", "GONE")[0] == 0
    code, said = rushes("show", "remove", "GONE", "--yes")
    assert code == 75 and f"show GONE still has job(s) {job} queued or running" in said  # try again later
    with ctx.catalog.session() as s:
        job_repo.drop_queued(s, [job], {"done": "test"})
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    (settings.logs_dir / f"job-{job}.log").write_text("rendered sh010\n")

    code, said = rushes("show", "remove", "GONE")  # without --yes: only what would go
    assert code == 0 and said.startswith("would remove show GONE from the catalog: run again with --yes")
    assert f"  {settings.models_dir / 'GONE'} (0.0 MB): kept (--delete-folders deletes it)" in said
    code, said = rushes("show", "remove", "GONE", "--yes", "--delete-folders")
    assert code == 0, said
    assert said.startswith(
        "show GONE removed from the catalog: 1 daily row(s), 1 model version(s), 1 fix request(s), "
        "1 Version record(s), 1 job(s) and their logs"
    ), said
    assert f"  left as it is: ingest folder {folder.resolve()} (its dailies)" in said
    assert (
        "  left as it is: nothing of its 1 exclusion(s): a studio base corpus or another show holding the same "
        "takes no longer knows them withdrawn, so exclude them there first (or keep the show wrapped)"
    ) in said
    assert f"  {settings.models_dir / 'GONE'} (0.0 MB): deleted" in said
    assert not (settings.models_dir / "GONE").exists() and (folder / "sh010_1.mp4").exists()
    assert not (settings.logs_dir / f"job-{job}.log").exists()
    with ctx.catalog.session(readonly=True) as s:
        assert [row.code for row in list_shows(s)] == ["STAYS"]
        assert daily_repo.list_dailies(s, "STAYS", status=None) == []
        assert job_repo.get_job(s, job) is None  # its key would keep a show added again from its work
    code, said = rushes("show", "remove", "GONE", "--yes")  # run again: nothing left to remove
    assert code == 2 and "show GONE is not in the catalog (removed already, or never added)" in said
    assert rushes("show", "add", "GONE", "--ingest", str(folder))[0] == 0  # the same code, another show
    with ctx.catalog.session() as s:
        again = FixJob(request_id=1, fix_kind="denoise", request_key="k1")
        assert queue(s, again, show="GONE")[1]  # a new job, not the removed show's
    ctx.close()


def test_a_show_is_not_removed_while_a_rushes_train_of_it_runs(tmp_path: Path) -> None:
    """`rushes train` is no job: the removal went through, then the run ended in a traceback and wrote its
    version folder back for a show no longer in the catalog."""
    from engine.model.base import lock_run

    assert rushes("show", "add", "GONE")[0] == 0
    settings = load_settings()
    training = settings.models_dir / "GONE" / "v1"
    training.mkdir(parents=True)
    ctx = open_context(settings)
    with ctx.catalog.session() as s:
        models_repo.add_version(
            s, "GONE", str(training), version=1, metrics={"job": "cli", "state": "training"}
        )
    ctx.close()
    assert rushes("show", "wrap", "GONE")[0] == 0
    run = lock_run(training)  # the run, training still
    assert run is not None
    with run:
        code, said = rushes("show", "remove", "GONE", "--yes")
        assert code == 75 and "show GONE v1 is being trained (pid " in said, said
    code, said = rushes("show", "remove", "GONE", "--yes")  # it stopped: removed
    assert code == 0, said


def test_a_show_of_the_config_file_is_not_removed_from_the_catalog(catalog: Catalog, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, shows=[ShowConfig(code="YAML")])
    with catalog.session() as s:
        ensure_show(s, "YAML")
    wrap(settings, catalog, settings.shows[0])
    with pytest.raises(CannotRemove, match="show YAML is in the config file, which would add it again"):
        removal(settings, catalog, settings.shows[0])
