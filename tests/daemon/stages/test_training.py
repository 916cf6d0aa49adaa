"""The train stage's own decisions, without training (tests/e2e train for real): the budget a window leaves,
a run skipped when the window is about to close, a version reserved once per job so a retry resumes into it,
and a show without dailies refused as Permanent."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from daemon.catalog import Catalog, models_repo
from daemon.catalog.dailies import DailyFacts, exclude_daily, register_daily
from daemon.jobs.outcomes import Permanent, outcome_of_error
from daemon.jobs.payloads import TrainJob, TrainReport
from daemon.settings import Settings, ShowConfig
from daemon.stages.lineage import withdrawn_in_lineage
from daemon.stages.training import (
    CLI_RUN,
    NoDailies,
    TrainingInProgress,
    budget_for,
    reserve_version,
    run_training,
)
from engine.model.base import lock_run
from engine.model.manifest import Manifest
from tests import footage
from tests.daemon.stages.conftest import SHOW, ingest_movie


def test_the_budget_is_the_shows_unless_the_window_closes_first() -> None:
    show = ShowConfig(code=SHOW, train={"budget_seconds": 600})  # type: ignore[arg-type]
    soon = datetime.now(UTC) + timedelta(seconds=300)
    assert budget_for(show, None) == (600, False)
    assert budget_for(show, TrainJob(SHOW, "quiet", deadline=soon + timedelta(hours=1))) == (600, False)
    seconds, cut = budget_for(show, TrainJob(SHOW, "window", deadline=soon))
    assert cut and 290 < seconds <= 300
    assert budget_for(show, None, override=60) == (60, False)
    # a quiet period's job that waited in the queue past the deadline an older Rushes gave it still trains
    assert budget_for(show, TrainJob(SHOW, "quiet", deadline=soon - timedelta(hours=1), daily=7)) == (
        600,
        False,
    )


def test_a_window_about_to_close_skips_the_run_and_reserves_nothing(
    settings: Settings, catalog: Catalog
) -> None:
    job = TrainJob(SHOW, "window", deadline=datetime.now(UTC) + timedelta(seconds=5))
    report = run_training(settings, catalog, SHOW, job_id=1, job=job)
    assert report.skipped is not None and "closes in" in report.skipped and report.version is None
    assert TrainReport.from_json(report.to_json()) == report
    with catalog.session(readonly=True) as s:
        assert models_repo.list_versions(s, SHOW) == []


def test_a_retry_of_the_same_job_trains_into_the_version_it_reserved(
    settings: Settings, catalog: Catalog
) -> None:
    first = reserve_version(catalog, settings, SHOW, 7, None)
    assert first == (1, settings.models_dir / SHOW / "v1")
    assert reserve_version(catalog, settings, SHOW, 7, None) == first
    assert reserve_version(catalog, settings, SHOW, 8, None)[0] == 2


def test_a_version_folder_the_catalog_does_not_know_is_never_trained_over(
    settings: Settings, catalog: Catalog
) -> None:
    """A catalog moved to PostgreSQL (its rows are not carried over) or restored from an older backup: the show's
    model folders on disk are newer than its rows. The next training used to write its v1 over the old v1 (its
    weights and manifest, the record of what it was trained on); it takes the next free number instead."""
    old = settings.models_dir / SHOW / "v1"
    old.mkdir(parents=True)
    (old / "manifest.json").write_text('{"version": "v1"}')
    (settings.models_dir / SHOW / "v2").mkdir()
    number, folder = reserve_version(catalog, settings, SHOW, 7, None)
    assert (number, folder) == (3, settings.models_dir / SHOW / "v3")
    assert (old / "manifest.json").read_text() == '{"version": "v1"}'
    assert reserve_version(catalog, settings, SHOW, 7, None) == (3, folder)  # its retry: the same one
    with catalog.session(readonly=True) as s:
        assert [v.version for v in models_repo.list_versions(s, SHOW)] == [3]


def test_a_show_without_dailies_is_refused_for_good(settings: Settings, catalog: Catalog) -> None:
    with pytest.raises(NoDailies, match=f"show {SHOW} has no readable dailies") as caught:
        run_training(settings, catalog, SHOW, job_id=1, job=TrainJob(SHOW, "demo"))
    assert isinstance(caught.value, Permanent)
    assert outcome_of_error("1", caught.value, 0.1).retryable is False


def test_a_job_stopped_after_recording_its_version_is_done_not_trained_again(
    settings: Settings, catalog: Catalog
) -> None:
    """A crash or a yield between recording the version and ending the job: the retry reports that
    version (no dailies are read, no new version is reserved)."""
    number, folder = reserve_version(catalog, settings, SHOW, 7, None)
    heads = {"denoise": {"psnr": 31.0, "psnr_nlmeans": 30.0}}
    with catalog.session() as s:
        models_repo.set_metrics(
            s,
            SHOW,
            number,
            {
                "job": 7,
                "state": "trained",
                "heads": heads,
                "resumed": True,
                "verdicts": {"denoise": "+1.00 dB"},
            },
        )
        models_repo.promote(s, SHOW, number)
    report = run_training(settings, catalog, SHOW, job_id=7, job=TrainJob(SHOW, "demo"))
    assert (report.version, report.promoted, report.folder) == (number, True, str(folder))
    assert report.resumed and report.metrics == heads and report.verdicts == {"denoise": "+1.00 dB"}
    with catalog.session(readonly=True) as s:
        assert [row.version for row in models_repo.list_versions(s, SHOW)] == [number]


def test_rushes_train_again_trains_a_new_version_instead_of_reporting_the_last(
    settings: Settings, catalog: Catalog
) -> None:
    """`rushes train` runs share one job id so that a run stopped by Ctrl-C resumes. A second `rushes train`
    after one that ended printed the first one's report ("v1 promoted") in 2 s and trained nothing, so the
    dailies excluded and the pairs approved since never reached a model; it trains (here: finds no dailies)."""
    number, _ = reserve_version(catalog, settings, SHOW, CLI_RUN, None)
    with catalog.session() as s:
        models_repo.set_metrics(s, SHOW, number, {"job": CLI_RUN, "state": "trained", "heads": {}})
        models_repo.promote(s, SHOW, number)
    with pytest.raises(NoDailies):
        run_training(settings, catalog, SHOW, job_id=CLI_RUN)
    assert reserve_version(catalog, settings, SHOW, CLI_RUN, None)[0] == number + 1


def test_a_rushes_train_stopped_before_its_end_resumes_and_one_kept_is_not_trained_into(
    settings: Settings, catalog: Catalog
) -> None:
    """A `rushes train` that ended with its version kept (not promoted) is done; one stopped mid-run is not."""
    kept, _ = reserve_version(catalog, settings, SHOW, CLI_RUN, None)
    with catalog.session() as s:
        models_repo.set_metrics(s, SHOW, kept, {"job": CLI_RUN, "state": "trained", "heads": {}})
    stopped = reserve_version(catalog, settings, SHOW, CLI_RUN, None)
    assert stopped[0] == kept + 1
    assert reserve_version(catalog, settings, SHOW, CLI_RUN, None) == stopped


def test_a_lineage_whose_ancestor_cannot_be_read_is_not_grown_from_while_dailies_are_excluded(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    """An old version's folder deleted by hand (to retire it): with a daily excluded, nothing shows that the
    lineage never learned from it. The next training was dead-lettered for good ("model folder ... does not
    exist"); it starts afresh now and says why."""
    with catalog.session() as s:
        daily, _ = register_daily(
            s,
            SHOW,
            DailyFacts(path="/ingest/sh010_1.mov", size_bytes=10, mtime=1.0, content_hash="h", shot="sh010"),
        )
        exclude_daily(s, daily.id, "contract withdrawn")
    reserve_version(catalog, settings, SHOW, 1, None)  # v1, its folder never written (deleted)
    v2 = Manifest(version="v2", parent="v1")
    why = withdrawn_in_lineage(catalog, SHOW, v2, tmp_path / "bases")
    assert why.startswith(
        "v2's parent v1 cannot be read, so its lineage cannot be shown free of the excluded dailies"
    )
    assert (
        withdrawn_in_lineage(catalog, SHOW, Manifest(version="v1"), tmp_path / "bases") == ""
    )  # a first version, no ancestor


def test_a_train_job_of_a_wrapped_show_is_skipped_and_reserves_nothing(
    settings: Settings, catalog: Catalog
) -> None:
    """A training queued again after its show was wrapped (it yielded to a fix, or failed and was retried) runs
    nothing: the wrap dropped the show's queued training, and this one came back after it."""
    from daemon.catalog.shows import wrap_show

    with catalog.session() as s:
        wrap_show(s, SHOW, "delivered", datetime(2026, 12, 1, 18, 0, tzinfo=UTC))
    report = run_training(settings, catalog, SHOW, job_id=3, job=TrainJob(SHOW, "window"))
    assert (
        report.skipped
        == f"show {SHOW} is wrapped (since 2026-12-01 18:00 UTC): `rushes show reopen {SHOW}` first"
    )
    with catalog.session(readonly=True) as s:
        assert models_repo.list_versions(s, SHOW) == []


def test_a_second_rushes_train_of_a_show_while_one_runs_is_refused_not_trained_into_its_version(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    """Two `rushes train` of one show at once both trained into v1 (runs share a job id so that Ctrl-C resumes):
    each reported v1 promoted with its own scores, and one's weights replaced the other's."""
    ingest_movie(catalog, footage.movie(tmp_path / "sh010_1.mp4", n=8, size=(64, 48)), "sh010")
    number, folder = reserve_version(catalog, settings, SHOW, CLI_RUN, None)  # the first run's version
    folder.mkdir(parents=True)
    first = lock_run(folder)  # the first run, training still
    assert first is not None
    try:
        with pytest.raises(TrainingInProgress) as refused:
            run_training(settings, catalog, SHOW, job_id=CLI_RUN, budget=30)
    finally:
        first.release()
    assert str(refused.value).startswith(
        f"{SHOW} v{number} is being trained by another run (pid {os.getpid()} on "
    )
    assert sorted(p.name for p in folder.iterdir()) == ["run.lock"]  # the second wrote nothing into it
