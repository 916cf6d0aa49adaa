"""A daily that passed ingest but cannot be decoded when training reads it: it is quarantined with the reason
and the show trains on its other dailies, instead of every training run of the show failing on it."""

from __future__ import annotations

import os
from pathlib import Path

from daemon.catalog import Catalog
from daemon.catalog import dailies as daily_repo
from daemon.settings import Settings
from daemon.stages.training import run_training
from tests import footage
from tests.daemon.stages.conftest import SHOW, ingest_movie


def test_a_daily_that_fails_in_training_is_quarantined_and_training_goes_on(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    good = ingest_movie(catalog, footage.movie(tmp_path / "sh010_1.mp4", n=8, size=(64, 48)), "sh010")
    bad_path = footage.movie(tmp_path / "sh020_1.mp4", n=8, size=(64, 48), seed=5)
    bad = ingest_movie(catalog, bad_path, "sh020")
    # spoilt on the server with its size and time kept (a file changed since ingest is left out, not decoded)
    st = bad_path.stat()
    bad_path.write_bytes((b"spoilt on the server after ingest\n" * st.st_size)[: st.st_size])
    os.utime(bad_path, ns=(st.st_atime_ns, st.st_mtime_ns))

    report = run_training(settings, catalog, SHOW, job_id="t", budget=1.0)

    assert report.version == 1 and report.skipped is None
    with catalog.session(readonly=True) as s:
        row = daily_repo.get_daily(s, bad)
        assert row is not None and row.status == "quarantined"
        assert row.error is not None and row.error.startswith(
            f"training: training clip {bad_path} cannot be decoded"
        )
        assert [d.id for d in daily_repo.list_dailies(s, SHOW)] == [good]
