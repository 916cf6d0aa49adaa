"""The show's frame cache keeps the decoded frames of the dailies it may train on, and loses those of a daily
excluded from training (or gone), so that it does not grow with every daily the show ever had."""

from __future__ import annotations

from pathlib import Path

from daemon.catalog import Catalog
from daemon.catalog import dailies as daily_repo
from daemon.settings import Settings
from daemon.stages.training import run_training
from tests import footage
from tests.daemon.stages.conftest import SHOW, ingest_movie


def _cached_hashes(cache: Path) -> set[str]:
    return {p.name[:32] for p in cache.glob("*.npy")}


def test_a_daily_excluded_from_training_leaves_the_frame_cache_at_the_next_run(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    kept = ingest_movie(catalog, footage.movie(tmp_path / "sh010_1.mp4", n=8, size=(64, 48)), "sh010")
    dropped = ingest_movie(
        catalog, footage.movie(tmp_path / "sh020_1.mp4", n=8, size=(64, 48), seed=5), "sh020"
    )
    with catalog.session(readonly=True) as s:
        hashes = {d.id: (d.content_hash or "")[:32] for d in daily_repo.list_dailies(s, SHOW)}
    cache = settings.data_dir / "cache" / SHOW

    assert run_training(settings, catalog, SHOW, job_id="t1", budget=1.0).version == 1
    assert _cached_hashes(cache) == {hashes[kept], hashes[dropped]}
    with catalog.session() as s:
        daily_repo.exclude_daily(s, dropped, "the slate is wrong")

    assert run_training(settings, catalog, SHOW, job_id="t2", budget=1.0).version == 2
    assert _cached_hashes(cache) == {hashes[kept]}
    assert (cache / "baseline-scores.json").is_file()  # what is not frames stays
