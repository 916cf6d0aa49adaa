"""Editorial renumbers a shot (SH010 becomes SH015) after its dailies and fixes exist: the files are renamed in the
ingest folder as the show's path template reads the new code, and the daily follows them."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from daemon.catalog import Catalog, fixes
from daemon.catalog import dailies as daily_repo
from daemon.jobs.outcomes import NotYet
from daemon.jobs.payloads import FixJob
from daemon.settings import Settings
from daemon.stages.fixing import run_fix
from daemon.stages.ingest import Ingestor
from daemon.stages.lineage import withdrawn_in_lineage
from daemon.stages.training_inputs import approved_pairs
from engine.model.manifest import ExampleRecord, Manifest
from tests import footage
from tests.daemon.stages.conftest import SHOW, movie_candidate
from tests.daemon.stages.test_redelivery import approved_denoise


def landed(catalog: Catalog, path: Path) -> int:
    """What the ingest stage makes of a movie `SHOT_TAKE.mp4` landing at `path` -> the daily's id."""
    shot, take = path.stem.split("_")
    found = replace(movie_candidate(path, shot), take=take)
    outcome = Ingestor(catalog).handle(SHOW, found)
    assert outcome.daily_id is not None
    return outcome.daily_id


def test_a_daily_renamed_for_a_renumbered_shot_follows_its_file_and_is_fixed_under_the_new_code(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    old = footage.movie(tmp_path / "plates" / "sh010_1.mp4", n=4, size=(64, 48))
    daily_id = landed(catalog, old)
    with catalog.session() as s:
        daily_repo.exclude_daily(s, daily_id, "likeness not cleared")

    new = old.with_name("sh015_1.mp4")
    os.rename(old, new)  # the coordinator renames the plate as the tracker now names the shot
    assert landed(catalog, new) == daily_id

    with catalog.session() as s:
        assert daily_repo.dailies_for_shot(s, SHOW, "sh010") == []
        [daily] = daily_repo.dailies_for_shot(s, SHOW, "sh015")
        assert (daily.id, daily.path, daily.take) == (daily_id, str(new), "1")
        assert daily.excluded_reason == "likeness not cleared"  # its history goes with it
        assert daily_repo.aliases(s, daily_id) == []  # not a copy of a file that is no longer there
        row, _ = fixes.add_fix_request(s, SHOW, "memory:event:9", "sh015", ["denoise"], task_id=3)
        request_id = row.id
    run_fix(settings, catalog, FixJob(request_id, "denoise", "memory:event:9"))
    with catalog.session(readonly=True) as s:
        [pub] = fixes.get_fix_request(s, request_id).publications  # type: ignore[union-attr]
        assert pub.source_path == str(new)


def test_a_copy_under_another_name_beside_its_daily_is_still_an_alias(
    catalog: Catalog, tmp_path: Path
) -> None:
    first = footage.movie(tmp_path / "plates" / "sh010_1.mp4", n=4, size=(64, 48))
    daily_id = landed(catalog, first)
    copy = first.with_name("sh015_1.mp4")
    copy.write_bytes(first.read_bytes())

    assert landed(catalog, copy) == daily_id
    with catalog.session(readonly=True) as s:
        [daily] = daily_repo.dailies_for_shot(s, SHOW, "sh010")
        assert daily.path == str(first)
        assert [a.path for a in daily_repo.aliases(s, daily_id)] == [str(copy)]


def test_a_daily_on_a_share_not_mounted_does_not_follow_a_copy_of_it_found_elsewhere(
    catalog: Catalog, tmp_path: Path
) -> None:
    """The share holding the daily is unmounted (its mount point empty): the daily did not move, so a copy of it
    delivered to another folder is a copy, and the daily keeps its path, shot and take."""
    share = tmp_path / "share"
    first = footage.movie(share / "sh010_1.mp4", n=4, size=(64, 48))
    daily_id = landed(catalog, first)
    elsewhere = tmp_path / "local" / "sh015_1.mp4"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(first.read_bytes())
    hidden = tmp_path / "share-away"
    share.rename(hidden)  # unmounted: the mount point is there and empty
    share.mkdir()

    assert landed(catalog, elsewhere) == daily_id
    with catalog.session(readonly=True) as s:
        [daily] = daily_repo.dailies_for_shot(s, SHOW, "sh010")
        assert (daily.id, daily.path) == (daily_id, str(first))
        assert [a.path for a in daily_repo.aliases(s, daily_id)] == [str(elsewhere)]


def test_a_fix_asked_on_a_renamed_shot_before_its_files_are_renamed_says_which_files_to_rename(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    landed(catalog, footage.movie(tmp_path / "plates" / "sh010_1.mp4", n=4, size=(64, 48)))
    with catalog.session() as s:  # the tracker's Shot 7 was sh010 when it was fixed first, sh015 since
        fixes.add_fix_request(s, SHOW, "memory:event:1", "sh010", ["denoise"], task_id=3, shot_id=7)
        row, _ = fixes.add_fix_request(s, SHOW, "memory:event:2", "sh015", ["denoise"], task_id=3, shot_id=7)
        request_id = row.id

    with pytest.raises(NotYet) as answer:
        run_fix(settings, catalog, FixJob(request_id, "denoise", "memory:event:2"))

    assert str(answer.value) == (
        f"shot sh015 of {SHOW} has no daily named for it, but this tracker shot was fixed from the dailies of "
        "sh010 before (sh010_1.mp4), its name before it was renamed in the tracker: rename those files as the "
        "show's path template reads sh015 (e.g. sh015_1.mp4), and the dailies follow them"
    )


def test_a_kitsu_shot_moved_to_another_sequence_is_answered_with_its_new_qualified_name(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    landed(catalog, footage.movie(tmp_path / "plates" / "SQ01-SH010_1.mp4", n=4, size=(64, 48)))
    with catalog.session() as s:  # Kitsu's shot abc-1 was SH010 of SQ01, and is SH010 of SQ02 since
        fixes.add_fix_request(s, SHOW, "kitsu:1", "SQ01-SH010", ["denoise"], task_id="t-1", shot_id="abc-1")
        row, _ = fixes.add_fix_request(
            s,
            SHOW,
            "kitsu:2",
            "SH010",
            ["denoise"],
            task_id="t-1",
            shot_id="abc-1",
            qualified_codes=["SQ02-SH010"],
        )
        request_id = row.id

    with pytest.raises(
        NotYet,
        match=r"^shot SQ02-SH010 of .* rename those files as the show's path template reads "
        r"SQ02-SH010 \(e\.g\. SQ02-SH010_1\.mp4\)",
    ):
        run_fix(settings, catalog, FixJob(request_id, "denoise", "kitsu:2"))


def test_an_approved_fix_of_a_renamed_daily_stays_its_pair_and_goes_out_with_its_exclusion(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    old = footage.movie(tmp_path / "plates" / "sh010_1.mp4", n=4, size=(64, 48), photo="astronaut")
    daily_id = landed(catalog, old)
    pair = approved_denoise(settings, catalog, old)

    new = old.with_name("sh015_1.mp4")
    os.rename(old, new)
    assert landed(catalog, new) == daily_id  # the daily follows its file, and so do the fixes made of it

    found = approved_pairs(catalog, SHOW)
    assert ([e.id for e in found.examples], found.left_out) == ([pair], [])  # its "before" is read at sh015_1

    with catalog.session() as s:
        daily_repo.exclude_daily(s, daily_id, "likeness not cleared")
    [left_out] = approved_pairs(catalog, SHOW).left_out
    assert (left_out.id, left_out.reason) == (
        pair,
        f"its daily {daily_id} (sh015_1.mp4) is excluded from training: likeness not cleared",
    )
    learned = Manifest(
        version="v1",
        examples=[
            ExampleRecord(id=pair, head="denoise", before_hash="", after_hash="", frames=4, weight=1.0)
        ],
    )
    assert withdrawn_in_lineage(catalog, SHOW, learned, tmp_path / "bases") == (
        f"v1 learned from approved pair {pair}, made from an excluded daily"
    )


def test_a_fix_still_naming_its_renamed_dailys_old_path_goes_out_with_the_dailys_exclusion(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    """A catalog whose daily followed its renamed file before the fixes made of it followed too: by its content
    hash the approved fix is still the daily's."""
    old = footage.movie(tmp_path / "plates" / "sh010_1.mp4", n=4, size=(64, 48), photo="astronaut")
    daily_id = landed(catalog, old)
    pair = approved_denoise(settings, catalog, old)
    new = old.with_name("sh015_1.mp4")
    os.rename(old, new)
    landed(catalog, new)
    with catalog.session() as s:
        [pub] = fixes.approved_pairs(s, SHOW)
        pub.source_path = str(old)  # as that Rushes left it
        daily_repo.exclude_daily(s, daily_id, "likeness not cleared")

    [left_out] = approved_pairs(catalog, SHOW).left_out
    assert (left_out.id, left_out.reason) == (
        pair,
        f"its daily {daily_id} (sh015_1.mp4) is excluded from training: likeness not cleared",
    )
