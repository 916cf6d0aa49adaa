"""What a running daemon takes up when it reads its shows again (the shows added or changed since), and a show
whose stored options no longer validate, which stops no other."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.catalog import Catalog
from daemon.catalog.shows import ensure_show
from daemon.settings import ConfigError, Settings, ShowConfig
from daemon.shows import ShowOptions, add_show, all_shows, changed_shows, get_show, read_shows


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


def test_a_show_whose_stored_options_no_longer_validate_is_left_out_and_named(
    catalog: Catalog, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path)
    add_show(catalog, "GOOD")
    with catalog.session() as s:  # as an upgrade that tightens a rule, or an edit by hand, would leave it
        row, _ = ensure_show(s, "BAD")
        row.config = {"ingest": {"path_template": "{take}.{ext}"}}
    shows, invalid = read_shows(settings, catalog)
    assert [s.code for s in shows] == ["GOOD"] and list(invalid) == ["BAD"]
    assert invalid["BAD"].problems[0].startswith("show BAD (catalog): ingest.path_template")
    assert [s.code for s in all_shows(settings, catalog)] == ["GOOD"]  # the daemon and status go on
    with pytest.raises(ConfigError, match="show BAD \\(catalog\\)"):  # a command naming it says why
        get_show(settings, catalog, "BAD")
    assert get_show(settings, catalog, "GOOD").code == "GOOD"
