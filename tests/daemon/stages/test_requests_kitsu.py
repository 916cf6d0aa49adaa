# ruff: noqa: F811  (pytest fixtures imported from kitsu_fixtures are test arguments here)
"""Kitsu's fix comments into the catalog through the daemon's own poll, against a real zou server (gazu as the
coordinator): a comment that repeats one Rushes has not started replaces it; one that asks for more adds to it;
a shot with no daily yet is named as its files would be."""

from __future__ import annotations

from pathlib import Path

import gazu
import pytest
from gazu.client import KitsuClient

from daemon.catalog import Catalog, fixes
from daemon.catalog import shows as show_repo
from daemon.jobs.outcomes import NotYet
from daemon.settings import ShowConfig
from daemon.stages.fixing import start_request
from daemon.stages.requests import poll_fix_requests
from integrations.trackers.kitsu import KitsuTracker
from tests.integrations.kitsu_fixtures import (  # noqa: F401  (fixtures)
    FIX_STATUS,
    KitsuShot,
    kitsu_admin,
    kitsu_options,
    kitsu_shot,
    zou_server,
)
from tests.integrations.sg_fixtures import KINDS
from tests.servers.zou import ZouServer

pytestmark = [pytest.mark.kitsu, pytest.mark.timeout(300)]


def post(admin: KitsuClient, shot: KitsuShot, status: str, text: str) -> None:
    found = gazu.task.get_task_status_by_short_name(status, client=admin)
    gazu.task.add_comment(shot.task_id, found, text, client=admin)


def test_a_fix_comment_asked_again_before_rushes_started_is_rendered_once(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot, tmp_path: Path
) -> None:
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    catalog.migrate()
    code = str(kitsu_shot.project["code"])
    shows = [ShowConfig(code="KIT", tracker_project=code)]
    with catalog.session() as s:
        show_repo.ensure_show(s, "KIT")
    kitsu = KitsuTracker(kitsu_options(zou_server), kinds=KINDS)
    poll_fix_requests(kitsu, catalog, shows)  # the first poll starts the cursor

    post(kitsu_admin, kitsu_shot, FIX_STATUS, "#rushes denoise")
    poll_fix_requests(kitsu, catalog, shows)
    post(kitsu_admin, kitsu_shot, "todo", "not yet")  # taken back ...
    post(kitsu_admin, kitsu_shot, FIX_STATUS, "#rushes denoise")  # ... and asked again within the 30 s
    post(kitsu_admin, kitsu_shot, FIX_STATUS, "#rushes upscale")  # and something more
    poll_fix_requests(kitsu, catalog, shows)

    with catalog.session(readonly=True) as s:
        requests = [(r.kinds, r.state, r.error) for r in fixes.list_fix_requests(s, "KIT")]
    catalog.dispose()
    assert sorted(requests, key=str) == sorted(
        [
            (["denoise"], "withdrawn", "replaced by request 2, asked since"),
            (["denoise"], "open", None),
            (["upscale"], "open", None),
        ],
        key=str,
    )


def test_a_show_following_its_kitsu_project_by_name_takes_its_requests_when_the_project_has_a_code(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot, tmp_path: Path
) -> None:
    # `rushes tracker check` finds a project by code or name, so tracker_project may be the name production
    # sees in Kitsu; the requests then came with the code alone and were dropped (fix.unknown_project).
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    catalog.migrate()
    name = str(kitsu_shot.project["name"])
    assert kitsu_shot.project["code"] and kitsu_shot.project["code"] != name
    shows = [ShowConfig(code="KIT", tracker_project=name)]
    with catalog.session() as s:
        show_repo.ensure_show(s, "KIT")
    kitsu = KitsuTracker(kitsu_options(zou_server), kinds=KINDS)
    poll_fix_requests(kitsu, catalog, shows)  # the first poll starts the cursor

    post(kitsu_admin, kitsu_shot, FIX_STATUS, "#rushes denoise")
    poll_fix_requests(kitsu, catalog, shows)

    with catalog.session(readonly=True) as s:
        requests = [(r.shot, r.kinds, r.state) for r in fixes.list_fix_requests(s, "KIT")]
    catalog.dispose()
    assert requests == [("SH010", ["denoise"], "open")]


def test_a_fix_on_a_shot_with_no_daily_yet_is_answered_naming_the_shot_as_its_files_would_be(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot, tmp_path: Path
) -> None:
    """Kitsu's SH010 repeats in every sequence: the answer names SQ01_SH010, the name its daily is to have."""
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    catalog.migrate()
    shows = [ShowConfig(code="KIT", tracker_project=str(kitsu_shot.project["code"]))]
    with catalog.session() as s:
        show_repo.ensure_show(s, "KIT")
    kitsu = KitsuTracker(kitsu_options(zou_server), kinds=KINDS)
    poll_fix_requests(kitsu, catalog, shows)  # the first poll starts the cursor

    post(kitsu_admin, kitsu_shot, FIX_STATUS, "#rushes denoise")
    poll_fix_requests(kitsu, catalog, shows)

    with catalog.session(readonly=True) as s:
        [(request_id, shot)] = [(r.id, r.shot) for r in fixes.list_fix_requests(s, "KIT")]
    with pytest.raises(NotYet) as waits:
        start_request(catalog, request_id)
    catalog.dispose()
    assert shot == "SH010"  # matched by the bare name still, as a daily named either way is
    assert str(waits.value) == (
        "shot SQ01_SH010 of KIT has no readable daily to fix yet: a movie or sequence whose name gives shot "
        "SQ01_SH010 by the show's path template must reach one of the show's ingest folders first"
    )
