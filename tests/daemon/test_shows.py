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


def test_an_ingest_folder_shared_with_another_show_or_inside_one_is_refused(
    catalog: Catalog, tmp_path: Path
) -> None:
    """A daily in a folder two shows watch would be catalogued for both: trained on by both, and a fix of one
    rendered from the other's plate. The config file and `show add` refuse it, naming both."""
    from daemon.settings import load_settings

    outer, inner, apart = tmp_path / "d", tmp_path / "d" / "inn", tmp_path / "apart"
    for folder in (inner, apart):
        folder.mkdir(parents=True)
    config = tmp_path / "rushes.yaml"
    config.write_text(
        f"shows:\n  - code: OUT\n    ingest: {{roots: [{outer}]}}\n  - code: INN\n    ingest: {{roots: [{inner}]}}\n"
        f"  - code: TWIN\n    ingest: {{roots: [{outer}/]}}\n  - code: APART\n    ingest: {{roots: [{apart}]}}\n"
    )
    with pytest.raises(ConfigError) as refused:
        load_settings(config)
    assert refused.value.problems == [
        f"shows[1].ingest.roots[0]: {inner} is inside show OUT's ingest folder {outer}: a daily there would belong "
        "to both shows; give each show a folder of its own",
        f"shows[2].ingest.roots[0]: {outer} is show OUT's ingest folder {outer}: a daily there would belong to "
        "both shows; give each show a folder of its own",
        f"shows[2].ingest.roots[0]: {outer} holds show INN's ingest folder {inner}: a daily there would belong to "
        "both shows; give each show a folder of its own",
    ]

    first, _ = add_show(catalog, "ONE", ingest=[outer])
    with pytest.raises(ConfigError, match=f"{inner} is inside show ONE's ingest folder {outer}"):
        add_show(catalog, "TWO", ingest=[inner], others=[first])
    assert [s.code for s in all_shows(Settings(data_dir=tmp_path), catalog)] == ["ONE"]  # nothing written
    add_show(catalog, "TWO", ingest=[apart], others=[first])


def test_a_tracker_project_another_show_follows_is_refused(catalog: Catalog, tmp_path: Path) -> None:
    """A series split into a show per episode on one tracker project: every request went to the first show,
    and E02's shot was fixed from E01's plate. The config file and `show add` refuse it, naming both."""
    from daemon.settings import load_settings

    config = tmp_path / "rushes.yaml"
    config.write_text(
        "shows:\n  - code: EPC\n  - code: EPC_E01\n    tracker_project: epc\n"
        "  - code: EPC_E02\n    tracker_project: Other\n"
    )
    with pytest.raises(ConfigError) as refused:
        load_settings(config)
    assert refused.value.problems == [
        "shows[1].tracker_project: tracker project epc is followed by show EPC too: a project's fix requests go "
        "to one show only, which would fix the other's shots from its own dailies; give each show its own "
        "tracker_project (one show can hold a whole series: its episodes' dailies in folders of their own)"
    ]

    first, _ = add_show(catalog, "E01", options=ShowOptions(tracker_project="SERIES"))
    with pytest.raises(ConfigError, match="tracker project SERIES is followed by show E01 too"):
        add_show(catalog, "E02", options=ShowOptions(tracker_project="SERIES"), others=[first])
    with pytest.raises(ConfigError, match="tracker project series is followed by show E01 too"):
        add_show(catalog, "series", others=[first])  # following it by its code
    assert [s.code for s in all_shows(Settings(data_dir=tmp_path), catalog)] == ["E01"]  # nothing written
    add_show(catalog, "E02", options=ShowOptions(tracker_project="E02"), others=[first])
    add_show(catalog, "E02", options=ShowOptions(movie_first_frame=1), others=[first])  # keeps its project


def test_show_add_on_a_show_of_the_config_file_is_refused_naming_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The file's show wins over the catalog's copy: `show add` changing only that copy said "updated" and
    changed nothing the daemon does."""
    from daemon.cli.main import _register
    from tests.homes import own_home, rushes

    _register()
    own_home(monkeypatch, tmp_path)
    (tmp_path / "zed").mkdir()
    (tmp_path / "elsewhere").mkdir()
    config = tmp_path / "rushes.yaml"
    config.write_text(f"shows:\n  - code: ZED\n    ingest: {{roots: [{tmp_path / 'zed'}]}}\n")
    code, output = rushes(
        "--config",
        str(config),
        "show",
        "add",
        "ZED",
        "--tracker-project",
        "OTHER",
        "--ingest",
        str(tmp_path / "elsewhere"),
    )
    assert code == 2
    assert " ".join(output.split()) == (
        f"error: show ZED is defined in the config file {config}: change it there (then restart the daemon); "
        "`rushes show add` changes only shows kept in the catalog"
    )
    code, output = rushes("--config", str(config), "show", "add", "NEW", "--ingest", str(tmp_path / "zed"))
    assert code == 1  # a ConfigError naming both folders (main prints it: test_an_ingest_folder_shared_...)
    code, output = rushes("--config", str(config), "show", "list")
    assert code == 0 and "NEW" not in output


def test_a_daemon_whose_file_lacks_a_show_follows_its_project_as_the_file_that_has_it_says(
    catalog: Catalog, tmp_path: Path
) -> None:
    """Daemons sharing a catalog, one file out of step: the leader reading requests without the show in its own
    file listed them as a project no show follows (the catalog's copy had the show's code, not its project)."""
    from daemon.shows import show_for, sync_config_shows

    show = ShowConfig.model_validate(
        {"code": "ABC", "tracker_project": "Alpha Show", "movie_first_frame": 1001, "training": {"hours": 3}}
    )
    sync_config_shows(Settings(data_dir=tmp_path, shows=[show]), catalog)
    [seen] = all_shows(Settings(data_dir=tmp_path), catalog)  # the other daemon's view
    assert (seen.code, seen.tracker_project, seen.movie_first_frame, seen.training.hours) == (
        "ABC",
        "Alpha Show",
        1001,
        3,
    )
    assert show_for("Alpha Show", [seen]) == seen and show_for("ABC", [seen]) is None

    sync_config_shows(
        Settings(data_dir=tmp_path, shows=[ShowConfig(code="ABC")]), catalog
    )  # the file changed
    [seen] = all_shows(Settings(data_dir=tmp_path), catalog)
    assert (seen.tracker_project, seen.movie_first_frame, seen.training.hours) == (
        None,
        0,
        ShowConfig(code="X").training.hours,
    )
