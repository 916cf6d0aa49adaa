"""What a running daemon takes up when it reads its shows again: the shows added or changed since."""

from __future__ import annotations

from pathlib import Path

from daemon.catalog import Catalog
from daemon.settings import Settings, ShowConfig
from daemon.shows import ShowOptions, add_show, all_shows, changed_shows


def test_the_shows_added_or_changed_since_are_taken_up_and_nothing_else(
    catalog: Catalog, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, shows=[ShowConfig(code="YAML")])
    running = all_shows(settings, catalog)
    assert changed_shows(running, all_shows(settings, catalog)) == []  # read again: nothing new

    (tmp_path / "late").mkdir()
    add_show(catalog, "LATE", ingest=[tmp_path / "late"])
    [late] = changed_shows(running, all_shows(settings, catalog))
    assert late.code == "LATE" and [r.path for r in late.ingest.roots] == [(tmp_path / "late").resolve()]
    running = all_shows(settings, catalog)

    add_show(catalog, "LATE", options=ShowOptions(movie_first_frame=1001))
    [changed] = changed_shows(running, all_shows(settings, catalog))
    assert changed.movie_first_frame == 1001 and changed.ingest == late.ingest
    assert changed_shows(running, [s for s in running if s.code != "LATE"]) == []  # shows are not removed
