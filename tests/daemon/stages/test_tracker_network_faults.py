"""The publish stage, the request reader and the answers to requests through a misbehaving network
(tests/netfaults.py) to the local ShotGrid-compatible server, with the real shotgun_api3: a create and a task
update whose answers are lost, an upload cut partway, an outage in the middle of the event log, and a load
balancer that answers 504 after the site made the note."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr

from daemon.catalog import Catalog, fixes
from daemon.catalog import jobs as job_repo
from daemon.catalog import shows as show_repo
from daemon.demo import Coordinator, DemoShot
from daemon.jobs.payloads import AnswerJob
from daemon.settings import Settings, ShowConfig
from daemon.stages.answering import answer
from daemon.stages.publishing import publish
from daemon.stages.requests import poll_fix_requests
from daemon.trackers import FIX_KINDS
from integrations.trackers.base import TrackerError
from integrations.trackers.options import TrackerOptions
from integrations.trackers.retry import RetryPolicy
from integrations.trackers.sgserver.app import SGServer, start_in_thread
from integrations.trackers.shotgrid import ShotGridTracker
from tests.daemon.stages.outbox import rendered_fix
from tests.netfaults import Answer, CutBody, FaultProxy, LoseAnswer, Reset, calls, to_path

KEY = "tracking-key"
SHOWS = [ShowConfig(code="DEMO", tracker_project="DEMO")]
QUICK = RetryPolicy(attempts=3, first=0.01, max_delay=0.02)


@dataclass
class World:
    server: SGServer
    proxy: FaultProxy
    coordinator: Coordinator
    tasks: dict[str, int]
    catalog: Catalog

    def tracker(self) -> ShotGridTracker:
        """A fresh adapter (as after a restart) that reaches the site through the proxy."""
        options = TrackerOptions(
            kind="shotgrid", url=self.proxy.url, script_name="rushes", script_key=SecretStr(KEY), timeout=5.0
        )
        return ShotGridTracker(options, kinds=FIX_KINDS, policy=QUICK, sleep=lambda _: None)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    server = start_in_thread(tmp_path / "sg", "rushes", KEY)
    host, port = server.url.removeprefix("http://").split(":")
    proxy = FaultProxy((host, int(port))).start()
    coordinator = Coordinator(server.url, "rushes", KEY)
    shots = [DemoShot(f"sh0{i}0", tmp_path / "x.mp4", None) for i in (1, 2, 3)]
    tasks = coordinator.setup(shots, "sg_rushes_fixes", "sg_rushes_key")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    catalog.migrate()
    with catalog.session() as s:
        show_repo.ensure_show(s, "DEMO")
    yield World(server, proxy, coordinator, tasks, catalog)
    catalog.dispose()
    proxy.stop()
    server.stop()


def fix_jobs(catalog: Catalog) -> list[str]:
    with catalog.session(readonly=True) as s:
        return sorted(j.key for j in job_repo.list_jobs(s, kind="fix", limit=None))


@pytest.mark.parametrize("fault", [Answer(502), Reset(), LoseAnswer()], ids=["502", "reset", "lost"])
def test_requests_made_during_an_outage_are_read_once_after_it(world: World, fault: object) -> None:
    poll_fix_requests(world.tracker(), world.catalog, SHOWS)  # the cursor starts at the newest event
    world.coordinator.tag(world.tasks["sh010"], "denoise", "sg_rushes_fixes", "fix")
    world.proxy.add(fault, when=calls("read"), times=1000)  # type: ignore[arg-type]
    with pytest.raises(TrackerError):
        poll_fix_requests(world.tracker(), world.catalog, SHOWS)
    world.coordinator.tag(world.tasks["sh020"], "upscale", "sg_rushes_fixes", "fix")  # during the outage
    world.proxy.clear()  # it is over

    assert poll_fix_requests(world.tracker(), world.catalog, SHOWS).new == 2
    assert poll_fix_requests(world.tracker(), world.catalog, SHOWS).new == 0
    assert [key.rsplit(":", 1)[-1] for key in fix_jobs(world.catalog)] == ["denoise", "upscale"]


def test_an_answer_whose_note_a_load_balancer_answered_504_is_one_note(world: World, tmp_path: Path) -> None:
    poll_fix_requests(world.tracker(), world.catalog, SHOWS)
    world.coordinator.tag(world.tasks["sh010"], "sharpen", "sg_rushes_fixes", "fix")  # no such fix kind
    poll_fix_requests(world.tracker(), world.catalog, SHOWS)
    with world.catalog.session(readonly=True) as s:
        [job] = job_repo.list_jobs(s, kind="answer", limit=None)
        payload = AnswerJob.from_json(job.payload)

    world.proxy.add(Answer(504, forward=True), when=calls("create"))  # the note is made, its answer lost
    answer(Settings(data_dir=tmp_path / "home"), world.catalog, world.tracker(), payload)
    notes = world.coordinator.sg.find("Note", [["tasks", "is", {"type": "Task", "id": world.tasks["sh010"]}]])
    assert len(notes) == 1  # the client used to make it again itself: the coordinator read it twice
    assert len(world.proxy.fired) == 1
    with world.catalog.session(readonly=True) as s:
        [request] = fixes.list_fix_requests(s, "DEMO")
        assert request.state == "failed"


def test_a_publish_through_lost_answers_and_a_cut_upload_is_one_version_with_its_movies(
    world: World, settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    sg = world.coordinator.sg
    world.coordinator.tag(world.tasks["sh010"], "denoise", "sg_rushes_fixes", "fix")
    shot = sg.find_one("Shot", [["code", "is", "sh010"]], ["id"])
    [job] = rendered_fix(catalog, tmp_path / "renders", "DEMO", world.tasks["sh010"], shot_id=shot["id"])
    world.proxy.add(Answer(504, forward=True), when=calls("create"))  # the Version made, its answer lost
    world.proxy.add(CutBody(after=10), when=to_path("/upload/"))  # the movie's upload cut partway
    world.proxy.add(LoseAnswer(), when=calls("update"))  # the task moved, its answer lost
    tracker = world.tracker()

    first = publish(settings, catalog, tracker, job)
    again = publish(settings, catalog, tracker, job)  # the job repeated (a crash after the publish)

    assert len(world.proxy.fired) == 3
    assert again == {"version_id": first["version_id"], "created": False}
    [version] = sg.find("Version", [["sg_rushes_key", "is", job.key()]], ["sg_uploaded_movie"])
    assert version["sg_uploaded_movie"]["name"] == "denoise.mp4"
    files = sg.find(
        "Attachment", [["attachment_links", "is", {"type": "Version", "id": version["id"]}]], ["filename"]
    )
    assert sorted(f["filename"] for f in files) == ["denoise.mp4", "denoise_before_after.mp4"]
    task = sg.find_one("Task", [["id", "is", world.tasks["sh010"]]], ["sg_status_list"])
    assert task["sg_status_list"] == "rev"
    with catalog.session(readonly=True) as s:
        [request] = fixes.list_fix_requests(s, "DEMO")
        assert request.state == "published"
