# ruff: noqa: F811  (pytest fixtures imported from kitsu_fixtures are test arguments here)
"""KitsuTracker through a fault-injecting proxy (tests/netfaults.py) to a real zou, with the real gazu: a
preview upload cut partway, a comment whose answer a load balancer lost, HTML 5xx pages."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import gazu
import pytest
from gazu.client import KitsuClient

from integrations.trackers.base import TrackerError, TrackerFatal, VersionSpec
from integrations.trackers.kitsu import KitsuTracker
from integrations.trackers.kitsu.writes import Uploads
from integrations.trackers.retry import RetryPolicy
from tests.integrations.kitsu_fixtures import (  # noqa: F401  (fixtures)
    KitsuShot,
    kitsu_admin,
    kitsu_options,
    kitsu_shot,
    write_movie,
    zou_server,
)
from tests.integrations.sg_fixtures import KINDS
from tests.netfaults import Answer, AnswerEarly, CutBody, FaultProxy, Hold, to_path
from tests.servers.zou import ZouServer

pytestmark = [pytest.mark.kitsu, pytest.mark.timeout(300)]
UPLOAD = "/api/pictures/preview-files/"
SLOW_FRAMES = 120


@pytest.fixture
def proxy(zou_server: ZouServer) -> Iterator[FaultProxy]:
    where = urlsplit(zou_server.url)
    running = FaultProxy((str(where.hostname), int(where.port or 80))).start()
    yield running
    running.stop()


def tracker(zou: ZouServer, proxy: FaultProxy, attempts: int = 4, grace: float | None = None) -> KitsuTracker:
    """`grace`: how long a preview without its movie is left to zou (writes.processing_grace when None)."""
    options = kitsu_options(zou, url=f"{proxy.url}/api")
    policy = RetryPolicy(attempts=attempts, first=0.05)
    if grace is None:
        return KitsuTracker(options, kinds=KINDS, policy=policy, sleep=lambda _: None)
    return KitsuTracker(options, kinds=KINDS, policy=policy, sleep=lambda _: None, processing_grace=grace)


def slow_movie(path: Path) -> Path:
    """A movie zou takes a moment to transcode (seconds, where the default test movie takes a fraction of one)."""
    return write_movie(path, frames=SLOW_FRAMES, width=960, height=540)


def uploads(proxy: FaultProxy) -> int:
    return sum(1 for request in proxy.requests if request.path.startswith(UPLOAD))


def spec_for(shot: KitsuShot, movie: Path, key: str) -> VersionSpec:
    return VersionSpec(
        idempotency_key=key,
        project=str(shot.project["code"]),
        shot_id=str(shot.shot["id"]),
        task_id=shot.task_id,
        code="SH010_denoise_v001",
        description="denoise",
        movie_path=movie,
        first_frame=1001,
        last_frame=1024,
    )


def published_state(admin: KitsuClient, shot: KitsuShot) -> tuple[int, list[str]]:
    comments = gazu.task.all_comments_for_task(shot.task_id, client=admin)
    previews = gazu.files.get_all_preview_files_for_task(shot.task_id, client=admin)
    return len(comments), sorted(str(p["status"]) for p in previews)


def publish_until_done(kitsu: KitsuTracker, spec: VersionSpec, tries: int = 4) -> str:
    """The publish job as the outbox runs it: tried again while it fails transiently."""
    for _ in range(tries - 1):
        try:
            return str(kitsu.publish_version(spec).version_id)
        except TrackerFatal:
            raise
        except TrackerError:
            continue
    return str(kitsu.publish_version(spec).version_id)


def test_a_preview_upload_cut_partway_is_uploaded_again_and_the_publish_has_its_movie(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot, proxy: FaultProxy, tmp_path: Path
) -> None:
    movie = write_movie(tmp_path / "SH010_denoise_v001.mp4")
    proxy.add(CutBody(after=2000), when=to_path(UPLOAD))
    spec = spec_for(kitsu_shot, movie, "job-7:publish")
    kitsu = tracker(zou_server, proxy)
    with pytest.raises(TrackerError):
        kitsu.publish_version(spec)  # cut
    with pytest.raises(TrackerError, match="still being processed"):
        kitsu.publish_version(spec)  # for all Rushes knows, zou is at work on it
    later = tracker(zou_server, proxy, grace=0.0)  # the outbox's retry once the grace is over
    version_id = publish_until_done(later, spec)
    assert len(proxy.fired) == 1 and uploads(proxy) == 2
    preview = gazu.files.get_preview_file(version_id, client=kitsu_admin)
    assert preview["status"] == "ready"  # the movie is there, not a preview waiting for it
    assert published_state(kitsu_admin, kitsu_shot) == (1, ["ready"])


def test_a_comment_a_load_balancer_answered_504_after_zou_made_it_is_one_comment_with_its_movie(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot, proxy: FaultProxy, tmp_path: Path
) -> None:
    movie = write_movie(tmp_path / "SH010_denoise_v001.mp4")
    proxy.add(Answer(504, forward=True), when=to_path(f"/api/actions/tasks/{kitsu_shot.task_id}/comment"))
    version_id = publish_until_done(tracker(zou_server, proxy), spec_for(kitsu_shot, movie, "job-8:publish"))
    assert len(proxy.fired) == 1
    assert gazu.files.get_preview_file(version_id, client=kitsu_admin)["status"] == "ready"
    assert published_state(kitsu_admin, kitsu_shot) == (1, ["ready"])


def test_an_upload_a_load_balancer_answered_504_after_zou_took_it_is_not_uploaded_twice(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot, proxy: FaultProxy, tmp_path: Path
) -> None:
    movie = write_movie(tmp_path / "SH010_denoise_v001.mp4")
    proxy.add(Answer(504, forward=True), when=to_path(UPLOAD))
    version_id = publish_until_done(tracker(zou_server, proxy), spec_for(kitsu_shot, movie, "job-9:publish"))
    assert gazu.files.get_preview_file(version_id, client=kitsu_admin)["status"] == "ready"
    assert published_state(kitsu_admin, kitsu_shot) == (1, ["ready"])


def test_an_upload_a_load_balancer_answered_504_while_zou_transcodes_it_is_left_to_zou_not_sent_again(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot, proxy: FaultProxy, tmp_path: Path
) -> None:
    movie = slow_movie(tmp_path / "SH010_denoise_v001.mp4")
    proxy.add(AnswerEarly(504), when=to_path(UPLOAD))
    kitsu = tracker(zou_server, proxy)
    spec = spec_for(kitsu_shot, movie, "job-10:publish")
    with pytest.raises(TrackerError):
        kitsu.publish_version(spec)  # the 504, at once: zou has the upload to transcode still
    with pytest.raises(TrackerError, match="still being processed") as caught:
        kitsu.publish_version(spec)  # the outbox's retry, zou at work
    # it used to upload the movie again onto the same preview (a second transcode), or, zou done meanwhile, to be
    # refused with a 400 taken as fatal: the publish dead-lettered though its preview was ready
    assert not isinstance(caught.value, TrackerFatal)
    proxy.wait_late(1)  # zou answered the upload, to no one
    published = kitsu.publish_version(spec)
    assert uploads(proxy) == 1 and not published.created
    assert gazu.files.get_preview_file(published.version_id, client=kitsu_admin)["status"] == "ready"
    assert published_state(kitsu_admin, kitsu_shot) == (1, ["ready"])


def test_an_upload_sent_again_that_zou_refuses_as_it_named_the_preview_meanwhile_is_the_publish(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot, proxy: FaultProxy, tmp_path: Path
) -> None:
    movie = slow_movie(tmp_path / "SH010_denoise_v001.mp4")
    proxy.add(AnswerEarly(504), when=to_path(UPLOAD))
    proxy.add(Hold(), when=to_path(UPLOAD))  # the upload sent again reaches zou once zou has done the first
    kitsu = tracker(zou_server, proxy, grace=0.0)  # a preview still without its movie is taken as cut at once
    spec = spec_for(kitsu_shot, movie, "job-11:publish")
    with pytest.raises(TrackerError):
        kitsu.publish_version(spec)

    def release_once_zou_answered() -> None:
        try:
            proxy.wait_late(1)
        finally:  # a wait that timed out (a loaded machine) still lets the held upload go: no hang till pytest's
            proxy.release()

    releasing = threading.Thread(target=release_once_zou_answered, daemon=True)
    releasing.start()
    published = kitsu.publish_version(spec)  # zou's 400 (PreviewFileReuploadNotAllowed) used to be fatal
    releasing.join(timeout=90)
    assert not releasing.is_alive()
    assert len(proxy.fired) == 2 and uploads(proxy) == 2  # the upload was sent again, and refused
    assert not published.created
    assert gazu.files.get_preview_file(published.version_id, client=kitsu_admin)["status"] == "ready"
    assert published_state(kitsu_admin, kitsu_shot) == (1, ["ready"])


@dataclass
class Later:
    """How far both clocks the grace is judged by (zou's Date, this host's monotonic one) are moved on."""

    by: float = 0.0

    def moved(self, server_time: Callable[[], datetime | None]) -> Callable[[], datetime | None]:
        def now() -> datetime | None:
            zou = server_time()
            return None if zou is None else zou + timedelta(seconds=self.by)

        return now


def test_an_upload_sent_again_whose_answer_is_lost_while_zou_transcodes_is_not_sent_a_third_time(
    zou_server: ZouServer,
    kitsu_admin: KitsuClient,
    kitsu_shot: KitsuShot,
    proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    movie = slow_movie(tmp_path / "SH010_denoise_v001.mp4")
    proxy.add(CutBody(after=2000), when=to_path(UPLOAD))
    proxy.add(
        AnswerEarly(504), when=to_path(UPLOAD)
    )  # the upload sent again: zou transcodes it, its answer lost
    grace = 5.0
    kitsu = tracker(zou_server, proxy, grace=grace)
    later = Later()
    kitsu.uploads = Uploads(clock=lambda: time.monotonic() + later.by)
    monkeypatch.setattr(kitsu.conn, "server_time", later.moved(kitsu.conn.server_time))
    spec = spec_for(kitsu_shot, movie, "job-12:publish")
    with pytest.raises(TrackerError):
        kitsu.publish_version(spec)  # cut
    later.by = (
        grace + 1
    )  # zou's clock and this host's: the grace after the preview and the cut upload is over
    with pytest.raises(TrackerError):
        kitsu.publish_version(spec)  # sent again: the 504 at once, zou at work on it
    assert uploads(proxy) == 2
    # zou writes the preview only once it has transcoded the upload: timed from the preview's creation alone, this
    # retry uploaded the movie a third time into a preview zou was working on
    with pytest.raises(TrackerError, match="still being processed") as caught:
        kitsu.publish_version(spec)
    assert not isinstance(caught.value, TrackerFatal) and uploads(proxy) == 2
    proxy.wait_late(1)
    published = kitsu.publish_version(spec)
    assert uploads(proxy) == 2 and not published.created
    assert gazu.files.get_preview_file(published.version_id, client=kitsu_admin)["status"] == "ready"
    assert published_state(kitsu_admin, kitsu_shot) == (1, ["ready"])


def test_an_upload_sent_again_that_zou_refuses_and_drops_its_preview_for_is_made_anew_on_the_next_try(
    zou_server: ZouServer,
    kitsu_admin: KitsuClient,
    kitsu_shot: KitsuShot,
    proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    movie = write_movie(tmp_path / "SH010_denoise_v001.mp4")
    whole = movie.read_bytes()
    proxy.add(CutBody(after=2000), when=to_path(UPLOAD))
    kitsu = tracker(zou_server, proxy, grace=0.0)
    spec = spec_for(kitsu_shot, movie, "job-13:publish")
    with pytest.raises(TrackerError):
        kitsu.publish_version(spec)  # cut: the preview waits for its movie
    real_upload = gazu.task.upload_preview_file

    def emptied(
        *args: object, **kwargs: object
    ) -> object:  # the movie arrives empty: zou's 400, the preview deleted
        movie.write_bytes(b"")
        try:
            return real_upload(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            movie.write_bytes(whole)

    monkeypatch.setattr(gazu.task, "upload_preview_file", emptied)
    with pytest.raises(TrackerError, match="dropped its preview") as caught:
        kitsu.publish_version(spec)
    # the re-read of the deleted preview, a 404, used to be fatal ("Kitsu has no the upload of ...")
    assert not isinstance(caught.value, TrackerFatal)
    monkeypatch.setattr(gazu.task, "upload_preview_file", real_upload)
    published = kitsu.publish_version(spec)
    assert published.created
    assert gazu.files.get_preview_file(published.version_id, client=kitsu_admin)["status"] == "ready"
    assert published_state(kitsu_admin, kitsu_shot) == (1, ["ready"])


@pytest.mark.parametrize("status", [429, 502, 503, 504])  # 429: a gateway's rate limit, gazu's to hand back
def test_an_html_error_page_is_a_retryable_error_in_one_line(
    zou_server: ZouServer, kitsu_shot: KitsuShot, proxy: FaultProxy, status: int
) -> None:
    proxy.add(Answer(status), times=1000)
    with pytest.raises(TrackerError) as caught:
        tracker(zou_server, proxy, attempts=2).fix_requests_since(None)
    said = str(caught.value)
    assert not isinstance(caught.value, TrackerFatal)
    assert "\n" not in said and "<html" not in said.lower() and str(status) in said


def test_a_page_answered_with_200_in_place_of_the_api_is_a_retryable_error_in_one_line(
    zou_server: ZouServer, kitsu_shot: KitsuShot, proxy: FaultProxy
) -> None:
    proxy.add(Answer(200), times=1000)  # a proxy's maintenance or login page
    with pytest.raises(TrackerError) as caught:
        tracker(zou_server, proxy, attempts=2).fix_requests_since(None)
    said = str(caught.value)
    assert not isinstance(caught.value, TrackerFatal)
    assert "\n" not in said and "<html" not in said.lower(), said


def test_a_status_change_a_load_balancer_answered_504_after_zou_made_it_is_one_comment(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot, proxy: FaultProxy
) -> None:
    proxy.add(Answer(504, forward=True), when=to_path(f"/api/actions/tasks/{kitsu_shot.task_id}/comment"))
    tracker(zou_server, proxy).set_task_status(kitsu_shot.task_id, "rev")  # Kitsu's "wfa"
    assert len(proxy.fired) == 1
    assert gazu.task.get_task(kitsu_shot.task_id, client=kitsu_admin)["task_status"]["short_name"] == "wfa"
    comments = gazu.task.all_comments_for_task(kitsu_shot.task_id, client=kitsu_admin)
    assert len(comments) == 1  # the retry used to post the status change a second time


def test_a_404_page_from_a_load_balancer_is_not_read_as_a_deleted_task(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot, proxy: FaultProxy
) -> None:
    fix = gazu.task.get_task_status_by_short_name("fix", client=kitsu_admin)
    gazu.task.add_comment(kitsu_shot.task_id, fix, "#rushes denoise", client=kitsu_admin)  # still asked
    kitsu = tracker(zou_server, proxy, attempts=2)
    assert kitsu.withdrawn([kitsu_shot.task_id]) == set()  # the API answers at this address
    proxy.add(Answer(404), when=to_path(f"/api/data/tasks/{kitsu_shot.task_id}"), times=1000)
    with pytest.raises(
        TrackerError
    ) as caught:  # it used to answer {task}: read as deleted, its request dropped
        kitsu.withdrawn([kitsu_shot.task_id])
    assert not isinstance(caught.value, TrackerFatal) and "\n" not in str(caught.value)
    missing = str(uuid.uuid4())
    assert kitsu.withdrawn([missing]) == {missing}  # zou's own 404 (JSON) after it served: a deleted task


def test_an_upload_zou_refuses_for_good_leaves_the_task_answered_not_waiting_for_approval(
    zou_server: ZouServer, kitsu_admin: KitsuClient, kitsu_shot: KitsuShot, proxy: FaultProxy, tmp_path: Path
) -> None:
    """A studio's nginx refusing the preview's body (413): Rushes' publish comment had already moved the task to
    its review status, and the answer, moving only a task still in the fix status, left it waiting for approval of
    a Version with no movie."""
    from integrations.trackers.base import RequestAnswer

    fix = gazu.task.get_task_status_by_short_name("fix", client=kitsu_admin)
    gazu.task.add_comment(kitsu_shot.task_id, fix, "#rushes denoise", client=kitsu_admin)
    movie = write_movie(tmp_path / "SH010_denoise_v001.mp4")
    proxy.add(Answer(413), when=to_path(UPLOAD), times=100)
    kitsu = tracker(zou_server, proxy)
    spec = spec_for(kitsu_shot, movie, "job-13:publish")
    with pytest.raises(TrackerFatal):
        publish_until_done(kitsu, spec)
    shot_id = kitsu_shot.shot["id"]
    other = RequestAnswer("answer:12", shot_id, kitsu_shot.task_id, "Rushes", "another request's answer")
    kitsu.answer_request(other)  # the publish is not that request's: the task is left as it is
    assert gazu.task.get_task(kitsu_shot.task_id, client=kitsu_admin)["task_status"]["short_name"] == "wfa"
    own = ("job-13:publish",)
    kitsu.answer_request(
        RequestAnswer("answer:13", shot_id, kitsu_shot.task_id, "Rushes", "no movie", own_versions=own)
    )
    task = gazu.task.get_task(kitsu_shot.task_id, client=kitsu_admin)
    assert task["task_status"]["short_name"] == "todo"  # the failed status, as for any request not done
    newest = gazu.task.all_comments_for_task(kitsu_shot.task_id, client=kitsu_admin)[0]
    assert "no movie" in str(newest["text"])
