"""A daily that passed ingest but cannot be decoded when training reads it: it is quarantined with the reason
and the show trains on its other dailies, instead of every training run of the show failing on it."""

from __future__ import annotations

from pathlib import Path

from daemon.catalog import Catalog
from daemon.catalog import dailies as daily_repo
from daemon.settings import Settings
from daemon.stages.ingest import Ingestor
from daemon.stages.training import run_training
from integrations.ingest.candidates import Candidate
from tests import footage
from tests.daemon.stages.conftest import SHOW


def _ingest(catalog: Catalog, path: Path, shot: str) -> int:
    st = path.stat()
    found = Candidate(
        root=path.parent,
        kind="movie",
        path=path,
        files=(path,),
        size=st.st_size,
        mtime=st.st_mtime,
        shot=shot,
    )
    outcome = Ingestor(catalog).handle(SHOW, found)
    assert outcome.result == "registered" and outcome.daily_id is not None
    return outcome.daily_id


def test_a_daily_that_fails_in_training_is_quarantined_and_training_goes_on(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    good = _ingest(catalog, footage.movie(tmp_path / "sh010_1.mp4", n=8, size=(64, 48)), "sh010")
    bad_path = footage.movie(tmp_path / "sh020_1.mp4", n=8, size=(64, 48), seed=5)
    bad = _ingest(catalog, bad_path, "sh020")
    bad_path.write_bytes(b"overwritten on the server after ingest\n" * 100)

    report = run_training(settings, catalog, SHOW, job_id="t", budget=1.0)

    assert report.version == 1 and report.skipped is None
    with catalog.session(readonly=True) as s:
        row = daily_repo.get_daily(s, bad)
        assert row is not None and row.status == "quarantined"
        assert row.error is not None and row.error.startswith(
            f"training: training clip {bad_path} cannot be decoded"
        )
        assert [d.id for d in daily_repo.list_dailies(s, SHOW)] == [good]
