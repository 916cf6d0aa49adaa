"""Reading the tracker into the catalog: fix requests become fix jobs exactly once, with the cursor stored in the
same transaction, and one whose text cannot be read is answered with a note on its task; supervisor decisions come back (a rejection reopens the request with the note, an approval
makes an example pair). Real shotgun_api3 against the local ShotGrid-compatible server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from daemon.catalog import Catalog, cursors, fixes
from daemon.catalog import jobs as job_repo
from daemon.catalog import shows as show_repo
from daemon.demo import Coordinator, DemoShot
from daemon.jobs.payloads import AnswerJob
from daemon.settings import Settings, ShowConfig
from daemon.stages.answering import answer
from daemon.stages.feedback import poll_reviews
from daemon.stages.requests import poll_fix_requests
from daemon.trackers import FIX_KINDS
from integrations.trackers.base import VersionSpec
from integrations.trackers.options import TrackerOptions
from integrations.trackers.sgserver.app import SGServer, start_in_thread
from integrations.trackers.shotgrid import ShotGridTracker

KEY = "tracking-key"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[SGServer, Coordinator, dict[str, int], Catalog]]:
    server = start_in_thread(tmp_path / "sg", "rushes", KEY)
    coordinator = Coordinator(server.url, "rushes", KEY)
    shots = [DemoShot(f"sh0{i}0", tmp_path / "x.mp4", None) for i in (1, 2, 3)]
    tasks = coordinator.setup(shots, "sg_rushes_fixes", "sg_rushes_key")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    catalog.migrate()
    with catalog.session() as s:
        show_repo.ensure_show(s, "DEMO")
    yield server, coordinator, tasks, catalog
    catalog.dispose()
    server.stop()


def tracker(server: SGServer) -> ShotGridTracker:
    return ShotGridTracker(
        TrackerOptions(kind="shotgrid", url=server.url, script_name="rushes", script_key=SecretStr(KEY)),
        kinds=FIX_KINDS,
    )


SHOWS = [ShowConfig(code="DEMO", tracker_project="DEMO")]


def test_fix_requests_become_fix_jobs_once_and_one_that_cannot_be_read_is_answered_on_its_task(
    world: tuple[SGServer, Coordinator, dict[str, int], Catalog], tmp_path: Path
) -> None:
    server, coordinator, tasks, catalog = world
    poll_fix_requests(tracker(server), catalog, SHOWS)  # first poll: the cursor starts at the newest event
    coordinator.tag(tasks["sh010"], "Denoise, upscale", "sg_rushes_fixes", "fix")  # as a person writes it
    coordinator.tag(tasks["sh020"], "sharpen", "sg_rushes_fixes", "fix")
    result = poll_fix_requests(tracker(server), catalog, SHOWS)
    assert result.new == 2
    # A restart (a new adapter, the cursor read back from the catalog) finds nothing new.
    assert poll_fix_requests(tracker(server), catalog, SHOWS).new == 0
    with catalog.session(readonly=True) as s:
        requests = {r.shot: r for r in fixes.list_fix_requests(s, "DEMO")}
        assert requests["sh010"].kinds == ["denoise", "upscale"] and requests["sh010"].state == "open"
        assert (requests["sh020"].kinds, requests["sh020"].state) == ([], "failed")
        keys = sorted(j.key.rsplit(":", 1)[-1] for j in job_repo.list_jobs(s, kind="fix", limit=None))
        assert keys == ["denoise", "upscale"]  # nothing of sh020 runs
        assert cursors.get_cursor(s, "shotgrid:fix")
        [job] = job_repo.list_jobs(s, kind="answer", limit=None)
        payload = AnswerJob.from_json(job.payload)

    answer(Settings(data_dir=tmp_path / "home"), catalog, tracker(server), payload)
    sg = coordinator.sg
    [note] = sg.find(
        "Note", [["tasks", "is", {"type": "Task", "id": tasks["sh020"]}]], ["subject", "content"]
    )
    assert note["subject"] == "Rushes could not do this fix"
    assert note["content"].startswith(
        "Rushes did not do the fix request on sh020: unknown fix kind 'sharpen' (use one of: interpolate, "
        "regrade, denoise, upscale, cleanup).\nCorrect the request, then set the task to 'fix' again."
    )
    status = sg.find_one("Task", [["id", "is", tasks["sh020"]]], ["sg_status_list"])["sg_status_list"]
    assert status == "hld"


def test_review_decisions_come_back(
    world: tuple[SGServer, Coordinator, dict[str, int], Catalog], tmp_path: Path
) -> None:
    server, coordinator, tasks, catalog = world
    sg = coordinator.sg
    shot = sg.find_one("Shot", [["code", "is", "sh010"]], ["id"])
    movie = tmp_path / "fixed.mp4"
    movie.write_bytes(b"\0" * 64)
    poll_reviews(tracker(server), catalog)  # first poll: the cursor starts at the newest event
    publisher = tracker(server)
    pubs = {}
    for kind in ("denoise", "upscale"):
        with catalog.session() as s:
            request, _ = fixes.add_fix_request(
                s, "DEMO", f"req-{kind}", "sh010", [kind], task_id=tasks["sh010"], shot_id=shot["id"]
            )
            pub, _ = fixes.add_publication(s, request.id, kind, f"publish:{kind}", str(movie))
            pubs[kind] = (pub.id, request.id)
        published = publisher.publish_version(
            VersionSpec(
                idempotency_key=f"publish:{kind}",
                project="DEMO",
                shot_id=shot["id"],
                task_id=tasks["sh010"],
                code=f"sh010_{kind}",
                description="",
                movie_path=movie,
                first_frame=0,
                last_frame=1,
            )
        )
        with catalog.session() as s:
            fixes.mark_published(s, pubs[kind][0], published.version_id)
        pubs[kind] = (*pubs[kind], published.version_id)

    # The supervisor rejects one with a note and approves the other.
    denoise_version = pubs["denoise"][2]
    sg.create(
        "Note",
        {
            "subject": "review",
            "content": "still grainy in the sky",
            "note_links": [{"type": "Version", "id": denoise_version}],
            "project": sg.find_one("Project", [], ["id"]),
        },
    )
    sg.update("Version", denoise_version, {"sg_status_list": "rej"})
    sg.update("Version", pubs["upscale"][2], {"sg_status_list": "apr"})
    assert poll_reviews(tracker(server), catalog).new == 2
    assert poll_reviews(tracker(server), catalog).new == 0
    with catalog.session(readonly=True) as s:
        rejected = fixes.get_fix_request(s, pubs["denoise"][1])
        assert rejected is not None and rejected.state == "open"  # reopened, with the note attached
        assert rejected.rejection_note == "still grainy in the sky"
        approved = fixes.get_fix_request(s, pubs["upscale"][1])
        assert approved is not None and approved.state == "approved"
        assert [p.fix_kind for p in fixes.approved_pairs(s, "DEMO")] == ["upscale"]

    # The supervisor takes the approval back: the pair is no longer learned from (it was, in the next training).
    sg.update("Version", pubs["upscale"][2], {"sg_status_list": "rev"})
    assert poll_reviews(tracker(server), catalog).new == 1
    with catalog.session(readonly=True) as s:
        request = fixes.get_fix_request(s, pubs["upscale"][1])
        assert request is not None and request.state == "published"
        assert fixes.approved_pairs(s, "DEMO") == []
        [pub] = request.publications
        assert (pub.review_status, pub.review_note) == (
            "pending",
            "the approval was taken back (the Version's status is now rev)",
        )
    # Approved again, then deleted in the tracker: gone from the pairs too.
    sg.update("Version", pubs["upscale"][2], {"sg_status_list": "apr"})
    assert poll_reviews(tracker(server), catalog).new == 1
    sg.delete("Version", pubs["upscale"][2])
    assert poll_reviews(tracker(server), catalog).new == 1
    with catalog.session(readonly=True) as s:
        assert fixes.approved_pairs(s, "DEMO") == []
        [pub] = fixes.get_fix_request(s, pubs["upscale"][1]).publications  # type: ignore[union-attr]
        assert (pub.review_status, pub.review_note) == ("pending", "the Version was deleted in the tracker")


def test_the_daemons_poll_round_drops_a_request_taken_back_before_it_started(
    world: tuple[SGServer, Coordinator, dict[str, int], Catalog], tmp_path: Path
) -> None:
    """Through the daemon's own poller (real shotgun_api3): a request read in one round whose task the
    coordinator moves on before a fix job starts is withdrawn in the next; the other request still waits."""
    from daemon.service import Daemon

    server, coordinator, tasks, _ = world
    options = TrackerOptions(kind="shotgrid", url=server.url, script_name="rushes", script_key=SecretStr(KEY))
    daemon = Daemon(Settings(data_dir=tmp_path / "daemon", tracker=options, shows=SHOWS))
    try:
        assert daemon.poller is not None and daemon.poller.round() is None  # the cursor starts at the newest
        coordinator.tag(tasks["sh010"], "denoise", "sg_rushes_fixes", "fix")
        coordinator.tag(tasks["sh030"], "denoise, upscale", "sg_rushes_fixes", "fix")
        assert daemon.poller.round() is None
        coordinator.sg.update("Task", tasks["sh030"], {"sg_status_list": "ip"})  # the artist takes it on
        assert daemon.withdrawals is not None
        daemon.withdrawals.every_s = 0  # its next check is due now, not 30 s after the last
        assert daemon.poller.round() is None
        with daemon.catalog.session(readonly=True) as s:
            requests = {r.shot: r.state for r in fixes.list_fix_requests(s, "DEMO")}
            jobs = sorted(j.state for j in job_repo.list_jobs(s, kind="fix", limit=None))
        assert requests == {"sh010": "open", "sh030": "withdrawn"}
        assert jobs == ["done", "done", "queued"]  # sh030's two kinds end unrun
        assert coordinator.task_status(tasks["sh030"]) == "ip"
    finally:
        daemon.executor.shutdown(wait=False)
        daemon.ctx.close()


def test_a_request_made_while_the_daemon_was_down_is_read_only_once_the_dailies_that_landed_meanwhile_are_in(
    world: tuple[SGServer, Coordinator, dict[str, int], Catalog], tmp_path: Path
) -> None:
    """A daily copied and its task tagged while the daemon was down (or a catalog just moved to PostgreSQL): the
    poller used to start beside the first reconcile scan, the fix job (claimed before ingest jobs) found no daily
    and the coordinator was answered "no readable daily to fix yet" for good. It starts once the scan is in."""
    from daemon.catalog.dailies import list_dailies
    from daemon.service import Daemon
    from daemon.settings import HttpOptions
    from integrations.ingest.options import IngestOptions, IngestRoot
    from tests.footage import movie

    server, coordinator, tasks, _ = world
    inbox = tmp_path / "dailies"
    movie(inbox / "sh010_1.mp4")
    coordinator.tag(tasks["sh010"], "denoise", "sg_rushes_fixes", "fix")
    ingest = IngestOptions(roots=[IngestRoot(path=inbox)], stable_seconds=0.3)
    options = TrackerOptions(kind="shotgrid", url=server.url, script_name="rushes", script_key=SecretStr(KEY))
    settings = Settings(
        data_dir=tmp_path / "daemon",
        tracker=options,
        http=HttpOptions(port=0),
        shows=[ShowConfig(code="DEMO", tracker_project="DEMO", ingest=ingest)],
    )
    daemon = Daemon(settings)
    assert daemon.poller is not None
    seen: list[list[str | None]] = []
    start_polling = daemon.poller.start

    def start() -> None:  # what the catalog holds when the first poll may run
        with daemon.catalog.session(readonly=True) as s:
            seen.append([d.shot for d in list_dailies(s, "DEMO")])
        start_polling()

    daemon.poller.start = start  # type: ignore[method-assign]
    try:
        daemon.start()
        assert seen == [["sh010"]]
    finally:
        daemon.stop()


def test_a_daemon_whose_tracker_holds_a_read_says_so_in_readyz_and_rushes_status(
    world: tuple[SGServer, Coordinator, dict[str, int], Catalog], tmp_path: Path
) -> None:
    """The daemon's own poller, readiness and catalog: a read with no answer for two of its calls' timeouts is
    said by /readyz's tracker check and in `rushes status` while it waits, and neither once the round ends."""
    from daemon.catalog import utcnow
    from daemon.cli.status import tracker_lines
    from daemon.service import Daemon
    from daemon.status import collect

    server, _, _, _ = world
    options = TrackerOptions(
        kind="shotgrid", url=server.url, script_name="rushes", script_key=SecretStr(KEY), timeout=45.0
    )
    settings = Settings(data_dir=tmp_path / "daemon", tracker=options, shows=SHOWS)
    daemon = Daemon(settings)
    now = [1000.0]
    while_held: list[object] = []

    def rushes_status() -> list[str]:
        return tracker_lines(collect(settings, daemon.catalog)["tracker_reads"], utcnow())

    def held_read() -> None:  # the tracker holds this call; the daemon's main loop asks meanwhile
        now[0] += 89.0
        daemon.say_held_reads()
        while_held.append((daemon.readiness.status()["tracker"], rushes_status()))
        now[0] += 2.0
        daemon.say_held_reads()
        while_held.append((daemon.readiness.status()["tracker"], rushes_status()))

    try:
        poller = daemon.poller
        assert poller is not None and poller.slow_after == 90.0  # two of its calls' timeouts
        daemon.ready_checks()
        poller.clock = lambda: now[0]
        assert poller.round() is None  # a first round that goes through
        poller.polls = [held_read]
        assert poller.round() is None
        (before, status_before), (held, status_held) = while_held
        assert before == "ok" and len(status_before) == 1 and "reads go through" in status_before[0]
        assert isinstance(held, str) and held.startswith(
            "cannot read the shotgrid tracker: a read has waited 91 s"
        )
        assert len(status_held) == 1 and held in status_held[0]
        assert daemon.readiness.status()["tracker"] == "ok"
        assert "reads go through" in rushes_status()[0]
    finally:
        daemon.executor.shutdown(wait=False)
        daemon.ctx.close()
