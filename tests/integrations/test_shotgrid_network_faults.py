"""ShotGridTracker through a fault-injecting proxy (tests/netfaults.py) to the local server, with the real
shotgun_api3 client: uploads cut partway, answers lost after the server did the work, a tracker that stops
answering, a load balancer's HTML 5xx pages, resets and refused connections."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import shotgun_api3

from integrations.trackers.base import TrackerError, TrackerFatal
from integrations.trackers.retry import RetryPolicy
from integrations.trackers.sgserver import SGServer
from integrations.trackers.shotgrid import ShotGridTracker
from tests.integrations.sg_fixtures import FAST, KINDS, Show, attachments, options, spec, versions
from tests.netfaults import Answer, CutBody, FaultProxy, Hold, LoseAnswer, Reset, calls, to_path


def tracker(proxy: FaultProxy, server: SGServer, **kwargs: Any) -> ShotGridTracker:
    policy = kwargs.pop("policy", FAST)
    sleep = kwargs.pop("sleep", lambda _: None)
    return ShotGridTracker(options(server, url=proxy.url, **kwargs), kinds=KINDS, policy=policy, sleep=sleep)


def test_an_upload_cut_partway_is_sent_again_whole_onto_the_one_version(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show, proxy: FaultProxy, tmp_path: Path
) -> None:
    proxy.add(CutBody(after=50_000), when=to_path("/upload/"))
    published = tracker(proxy, server).publish_version(spec(tmp_path, show))
    [version] = versions(sg)
    assert version["id"] == published.version_id and published.created
    assert version["sg_uploaded_movie"]["name"] == "SQ010_0010_fix_v001.mp4"
    assert len(attachments(sg, version["id"])) == 1  # nothing of the cut upload was kept
    assert len(proxy.fired) == 1


def test_a_create_whose_answer_is_lost_is_found_by_its_key_and_its_upload_still_lands(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show, proxy: FaultProxy, tmp_path: Path
) -> None:
    proxy.add(LoseAnswer(), when=calls("create"))
    published = tracker(proxy, server).publish_version(spec(tmp_path, show))
    [version] = versions(sg)
    assert version["id"] == published.version_id
    assert version["sg_uploaded_movie"]["name"] == "SQ010_0010_fix_v001.mp4"


def test_an_upload_whose_answer_is_lost_is_not_sent_again(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show, proxy: FaultProxy, tmp_path: Path
) -> None:
    proxy.add(LoseAnswer(), when=to_path("/upload/"))
    published = tracker(proxy, server).publish_version(spec(tmp_path, show))
    [version] = versions(sg)
    assert version["sg_uploaded_movie"]["name"] == "SQ010_0010_fix_v001.mp4"
    assert len(attachments(sg, int(published.version_id))) == 1  # one movie on the Version, not two


def test_an_upload_to_a_tracker_that_never_answers_times_out_and_is_retried(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show, proxy: FaultProxy, tmp_path: Path
) -> None:
    proxy.add(Hold(), when=to_path("/upload/"))
    # Every call has this timeout: long enough that no call the site answers, on a loaded machine, times out
    # and is sent again (a second upload, a second attachment); the held one waits it out.
    adapter = tracker(proxy, server, timeout=3.0)
    outcome: list[object] = []
    worker = threading.Thread(target=lambda: outcome.append(adapter.publish_version(spec(tmp_path, show))))
    worker.start()
    worker.join(timeout=30)
    hung = worker.is_alive()
    if hung:
        proxy.release()
    assert not hung, "the upload waited on the tracker with no timeout"
    [version] = versions(sg)  # the held upload never reached the site (the fixture lets it go at the end)
    assert version["sg_uploaded_movie"] is not None and len(attachments(sg, version["id"])) == 1


@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_load_balancers_html_error_page_is_retried_and_said_in_one_line(
    server: SGServer, show: Show, proxy: FaultProxy, tmp_path: Path, status: int
) -> None:
    proxy.add(Answer(status), times=2)
    waits: list[float] = []
    adapter = tracker(proxy, server, sleep=waits.append)
    assert adapter.publish_version(spec(tmp_path, show)).created  # retried through
    assert waits == list(FAST.delays())[:2]  # each page one counted attempt, on Rushes' backoff

    proxy.add(Answer(status), times=1000)
    short = tracker(proxy, server, policy=RetryPolicy(attempts=3, first=0.01, max_delay=0.02))
    with pytest.raises(TrackerError) as caught:
        short.fix_requests_since(None)
    said = str(caught.value)
    assert not isinstance(caught.value, TrackerFatal)
    assert "\n" not in said and "<html" not in said.lower() and f"(ProtocolError: HTTP {status} " in said


@pytest.mark.parametrize("status", [502, 503, 504])
def test_an_html_error_page_on_an_upload_is_retried_and_said_in_one_line(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show, proxy: FaultProxy, tmp_path: Path, status: int
) -> None:
    proxy.add(Answer(status), when=to_path("/upload/"), times=1000)
    short = tracker(proxy, server, policy=RetryPolicy(attempts=2, first=0.01, max_delay=0.02))
    with pytest.raises(TrackerError) as caught:
        short.publish_version(spec(tmp_path, show))
    said = str(caught.value)
    assert not isinstance(caught.value, TrackerFatal)
    assert "\n" not in said and "<html" not in said.lower() and f"(ProtocolError: HTTP {status} " in said
    proxy.clear()
    published = tracker(proxy, server).publish_version(spec(tmp_path, show))
    assert not published.created and len(versions(sg)) == 1
    assert len(attachments(sg, int(published.version_id))) == 1


def test_resets_and_refused_connections_are_retried_and_said_in_one_line(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show, proxy: FaultProxy, tmp_path: Path
) -> None:
    proxy.add(Reset(), times=3)
    assert tracker(proxy, server).publish_version(spec(tmp_path, show)).created
    assert len(versions(sg)) == 1

    proxy.refuse()
    short = tracker(proxy, server, policy=RetryPolicy(attempts=2, first=0.01, max_delay=0.02))
    with pytest.raises(TrackerError) as caught:
        short.fix_requests_since(None)
    assert not isinstance(caught.value, TrackerFatal)
    assert "\n" not in str(caught.value) and "Connection refused" in str(caught.value)


def test_a_create_the_load_balancer_answers_504_after_the_server_made_it_is_one_version(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show, proxy: FaultProxy, tmp_path: Path
) -> None:
    proxy.add(Answer(504, forward=True), when=calls("create"))
    published = tracker(proxy, server).publish_version(spec(tmp_path, show))
    [version] = versions(sg)  # the client used to send the create again itself, past the key: two Versions
    assert version["id"] == published.version_id
    assert version["sg_uploaded_movie"]["name"] == "SQ010_0010_fix_v001.mp4"


def test_an_upload_the_load_balancer_answers_504_after_the_server_took_it_is_not_sent_again(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show, proxy: FaultProxy, tmp_path: Path
) -> None:
    proxy.add(Answer(504, forward=True), when=to_path("/upload/"))
    published = tracker(proxy, server).publish_version(spec(tmp_path, show))
    [version] = versions(sg)
    assert version["sg_uploaded_movie"]["name"] == "SQ010_0010_fix_v001.mp4"
    assert len(attachments(sg, int(published.version_id))) == 1  # the client used to upload it twice


def test_an_html_page_answered_with_200_in_place_of_the_api_is_retried_and_said_in_one_line(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show, proxy: FaultProxy, tmp_path: Path
) -> None:
    # a proxy's or a load balancer's maintenance page, sent as a 200
    proxy.add(Answer(200), when=calls("create"))
    assert tracker(proxy, server).publish_version(spec(tmp_path, show)).created
    assert len(versions(sg)) == 1

    proxy.add(Answer(200), times=1000)
    short = tracker(proxy, server, policy=RetryPolicy(attempts=2, first=0.01, max_delay=0.02))
    with pytest.raises(TrackerError) as caught:
        short.fix_requests_since(None)
    said = str(caught.value)
    assert not isinstance(caught.value, TrackerFatal)
    assert "\n" not in said and "<html" not in said.lower() and "not the ShotGrid API's answer" in said


def test_a_page_answered_with_200_in_place_of_an_upload_is_retried_and_said_in_one_line(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show, proxy: FaultProxy, tmp_path: Path
) -> None:
    proxy.add(Answer(200), when=to_path("/upload/"), times=1000)
    short = tracker(proxy, server, policy=RetryPolicy(attempts=2, first=0.01, max_delay=0.02))
    with pytest.raises(TrackerError) as caught:
        short.publish_version(spec(tmp_path, show))
    said = str(caught.value)
    assert not isinstance(caught.value, TrackerFatal)
    assert "\n" not in said and "<html" not in said.lower(), said
    assert said.endswith("Could not upload file successfully, but not sure why. (the answer: 200 OK)")
    proxy.clear()
    assert not tracker(proxy, server).publish_version(spec(tmp_path, show)).created
    [version] = versions(sg)
    assert version["sg_uploaded_movie"] is not None and len(attachments(sg, version["id"])) == 1


def test_a_404_page_from_a_load_balancer_once_the_site_answered_is_retried_later_not_refused_for_good(
    server: SGServer, sg: shotgun_api3.Shotgun, show: Show, proxy: FaultProxy, tmp_path: Path
) -> None:
    adapter = tracker(proxy, server)
    assert adapter.find_project("DEMO") is not None  # the site answers at this address
    proxy.add(Answer(404), when=calls("create"))  # a load balancer with no backend for a moment
    with pytest.raises(TrackerError) as caught:
        adapter.publish_version(spec(tmp_path, show))
    # a TrackerFatal dead-lettered the publish at once and answered the coordinator that it failed
    assert not isinstance(caught.value, TrackerFatal)
    assert "HTTP 404" in str(caught.value) and "will retry later" in str(caught.value)
    assert adapter.publish_version(spec(tmp_path, show)).created and len(versions(sg)) == 1
