"""The Kitsu adapter's login where tracker.url is not a Kitsu API: a ShotGrid site's URL given to a kitsu entry
(the local ShotGrid-compatible server, over HTTP, with the real gazu)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from integrations.trackers.kitsu import KitsuTracker
from integrations.trackers.options import TrackerOptions
from integrations.trackers.retry import RetryPolicy
from tests.integrations.sg_fixtures import KINDS, running_server


@pytest.mark.parametrize("path", ["/api", ""])
def test_a_kitsu_entry_given_a_shotgrid_sites_url_is_told_what_to_check(tmp_path: Path, path: str) -> None:
    # given a URL that ends in /api, it was told to set a URL that ends in /api
    server = running_server(tmp_path)
    try:
        url = f"{server.url}{path}"
        options = TrackerOptions(
            kind="kitsu", url=url, script_name="rushes@studio.test", script_key=SecretStr("pw"), timeout=10.0
        )
        tracker = KitsuTracker(
            options, kinds=KINDS, policy=RetryPolicy(attempts=1, first=0.01), sleep=lambda _: None
        )
        [login] = tracker.check()
    finally:
        server.stop()
    assert not login.ok
    if path:
        assert login.detail == (
            f"no Kitsu API at {url}: the server there is not Kitsu (zou), or not at this path: check tracker.url, "
            "and tracker.kind (shotgrid for a ShotGrid site)"
        )
    else:
        assert login.detail == f"no Kitsu API at {url}: set tracker.url to the API URL, which ends in /api"
