"""A show's footage moves to a new volume (the same files), and its config's ingest folder moves with it: each
daily follows its file, keeping its id and exclusion, where a share not mounted here keeps its dailies where
they are."""

from __future__ import annotations

from pathlib import Path

from daemon.catalog import Catalog
from daemon.catalog import dailies as daily_repo
from daemon.settings import ShowConfig
from daemon.stages.ingest import Ingestor, find
from tests import footage
from tests.daemon.stages.conftest import SHOW


def show_on(*folders: Path) -> ShowConfig:
    return ShowConfig.model_validate({"code": SHOW, "ingest": {"roots": [str(f) for f in folders]}})


def ingested(catalog: Catalog, show: ShowConfig) -> dict[str, int]:
    """What the daemon's scan of the show's folders makes of them, with its config -> daily id by file name."""
    ingestor = Ingestor(catalog, roots={SHOW: [root.path for root in show.ingest.roots]})
    found = [item for root in show.ingest.roots for item in find([root.path], show)]
    outcomes = [ingestor.handle(SHOW, item) for item in found]
    return {Path(o.path).name: o.daily_id for o in outcomes if o.daily_id is not None}


def test_dailies_follow_their_files_to_the_new_volume_the_config_names(
    catalog: Catalog, tmp_path: Path
) -> None:
    old = tmp_path / "vol1" / "dailies"
    footage.movie(old / "sh010_1.mp4", n=4, size=(64, 48))
    footage.movie(old / "sh020_1.mp4", n=4, size=(64, 48), seed=2)
    before = ingested(catalog, show_on(old))
    with catalog.session() as s:
        daily_repo.exclude_daily(s, before["sh020_1.mp4"], "likeness not cleared")

    new = tmp_path / "vol2" / "dailies"
    new.parent.mkdir()
    old.rename(new)  # the whole folder moved: the old one is gone, as a share not mounted would look
    old.parent.rmdir()
    assert ingested(catalog, show_on(new)) == before

    with catalog.session(readonly=True) as s:
        dailies = daily_repo.list_dailies(s, SHOW)
        assert sorted(d.path for d in dailies) == [str(new / "sh010_1.mp4"), str(new / "sh020_1.mp4")]
        assert all(daily_repo.aliases(s, d.id) == [] for d in dailies)
        assert [d.id for d in daily_repo.excluded(s, SHOW)] == [before["sh020_1.mp4"]]


def test_a_share_the_config_still_names_keeps_its_dailies_when_not_mounted(
    catalog: Catalog, tmp_path: Path
) -> None:
    share, local = tmp_path / "share", tmp_path / "local"
    local.mkdir()
    footage.movie(share / "sh010_1.mp4", n=4, size=(64, 48))
    show = show_on(share, local)
    [daily_id] = ingested(catalog, show).values()
    (local / "sh010_1.mp4").write_bytes((share / "sh010_1.mp4").read_bytes())
    share.rename(tmp_path / "share-away")  # unmounted: its mount point empty
    share.mkdir()

    assert ingested(catalog, show) == {"sh010_1.mp4": daily_id}
    with catalog.session(readonly=True) as s:
        [daily] = daily_repo.list_dailies(s, SHOW)
        assert daily.path == str(share / "sh010_1.mp4")
        assert [a.path for a in daily_repo.aliases(s, daily_id)] == [str(local / "sh010_1.mp4")]


def test_a_show_that_names_no_folder_keeps_its_dailies_on_a_share_not_mounted(
    catalog: Catalog, tmp_path: Path
) -> None:
    # dailies ingested by hand (`rushes ingest PATH`) of a show with no ingest folder: none is "left" by the config
    from dataclasses import replace

    from tests.daemon.stages.conftest import movie_candidate

    share, local = tmp_path / "share", tmp_path / "local"
    footage.movie(share / "sh010_1.mp4", n=4, size=(64, 48))
    ingestor = Ingestor(catalog, roots={SHOW: []})
    first = ingestor.handle(SHOW, replace(movie_candidate(share / "sh010_1.mp4", "sh010"), take="1"))
    local.mkdir()
    (local / "sh010_1.mp4").write_bytes((share / "sh010_1.mp4").read_bytes())
    share.rename(tmp_path / "share-away")
    share.mkdir()

    again = ingestor.handle(SHOW, replace(movie_candidate(local / "sh010_1.mp4", "sh010"), take="1"))

    assert again.daily_id == first.daily_id
    with catalog.session(readonly=True) as s:
        [daily] = daily_repo.list_dailies(s, SHOW)
        assert daily.path == str(share / "sh010_1.mp4")
