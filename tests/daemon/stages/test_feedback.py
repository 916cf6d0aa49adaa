"""The feedback stage against an in-memory tracker: a supervisor's approval marks the publication (and, once
every kind is approved, the request); a rejection reopens the request with the note; each decision counts once."""

from __future__ import annotations

from pathlib import Path

from daemon.catalog import Catalog, fixes
from daemon.catalog import shows as show_repo
from daemon.settings import Settings
from daemon.stages.feedback import poll_reviews
from daemon.stages.publishing import publish
from integrations.trackers.base import VersionSpec
from integrations.trackers.memory import MemoryTracker
from tests.daemon.stages.conftest import SHOW
from tests.daemon.stages.outbox import rendered_fix


def published(
    settings: Settings, catalog: Catalog, tracker: MemoryTracker, folder: Path, kinds: tuple[str, ...]
) -> list[str]:
    jobs = rendered_fix(catalog, folder, SHOW, tracker.add_task(SHOW, "sh010"), kinds)
    return [publish(settings, catalog, tracker, job)["version_id"] for job in jobs]


def test_approvals_are_recorded_once_and_approve_the_request_when_all_kinds_are(
    settings: Settings, catalog: Catalog, tracker: MemoryTracker, tmp_path: Path
) -> None:
    denoise, upscale = published(settings, catalog, tracker, tmp_path, ("denoise", "upscale"))
    tracker.approve(denoise, "clean")
    assert poll_reviews(tracker, catalog).new == 1
    with catalog.session(readonly=True) as s:
        [request] = fixes.list_fix_requests(s, SHOW)
        assert request.state == "published"
        assert {p.fix_kind: p.review_status for p in request.publications} == {
            "denoise": "approved",
            "upscale": "pending",
        }
    tracker.approve(upscale)
    assert poll_reviews(tracker, catalog).new == 1
    assert poll_reviews(tracker, catalog).new == 0  # read before: nothing new
    with catalog.session(readonly=True) as s:
        [request] = fixes.list_fix_requests(s, SHOW)
        assert request.state == "approved"
        assert [p.fix_kind for p in fixes.approved_pairs(s, SHOW)] == ["denoise", "upscale"]


def test_a_rejection_reopens_the_request_with_the_supervisors_note(
    settings: Settings, catalog: Catalog, tracker: MemoryTracker, tmp_path: Path
) -> None:
    [version] = published(settings, catalog, tracker, tmp_path, ("regrade",))
    tracker.reject(version, "too warm, match sh020")
    assert poll_reviews(tracker, catalog).new == 1
    with catalog.session(readonly=True) as s:
        [request] = fixes.list_fix_requests(s, SHOW)
        assert request.state == "open" and request.rejection_note == "too warm, match sh020"
        assert request.publications[0].review_status == "rejected"


def test_a_decision_on_a_version_rushes_did_not_publish_is_ignored(
    catalog: Catalog, tracker: MemoryTracker
) -> None:
    spec = VersionSpec("someone-else:1", SHOW, 7, None, "sh010_comp_v3", "", Path("/x.mov"), 1001, 1010)
    other = tracker.publish_version(spec)  # an artist's own Version, unknown to the catalog
    tracker.approve(other.version_id)
    result = poll_reviews(tracker, catalog)
    assert (result.seen, result.new) == (1, 0)


def test_an_approval_given_or_taken_back_makes_the_next_training_window_train(
    settings: Settings, catalog: Catalog, tracker: MemoryTracker, tmp_path: Path
) -> None:
    """A supervisor approved a fix: the nightly window found the model current (no new daily) and never trained,
    so the approved pair was not learned from until another daily landed; an approval taken back likewise stayed
    in the promoted model."""
    [version] = published(settings, catalog, tracker, tmp_path, ("denoise",))

    def stale() -> bool:
        with catalog.session() as s:
            show = show_repo.get_show(s, SHOW)
            assert show is not None
            return show.model_stale

    with catalog.session() as s:
        show_repo.set_model_stale(s, SHOW, False)
    tracker.approve(version)
    assert poll_reviews(tracker, catalog).new == 1 and stale()
    with catalog.session() as s:
        show_repo.set_model_stale(s, SHOW, False)
    tracker.reject(version, "the grain came back")
    assert poll_reviews(tracker, catalog).new == 1 and stale()


def test_a_decision_told_again_changes_nothing_once_the_coordinator_asked_anew(
    settings: Settings, catalog: Catalog, tracker: MemoryTracker, tmp_path: Path
) -> None:
    # the rejection reopened the request and the coordinator asked again (its fix renders): the tracker then tells
    # the same rejection again (another edit of the Version), which must not send the request back to open
    [version] = published(settings, catalog, tracker, tmp_path, ("regrade",))
    tracker.reject(version, "too warm")
    assert poll_reviews(tracker, catalog).new == 1
    with catalog.session() as s:
        [request] = fixes.list_fix_requests(s, SHOW)
        fixes.set_fix_state(s, request.id, "rendering")
    tracker.review_log.append(tracker.review_log[-1])
    assert poll_reviews(tracker, catalog).new == 0
    with catalog.session(readonly=True) as s:
        [request] = fixes.list_fix_requests(s, SHOW)
        assert request.state == "rendering"


def test_a_decision_on_a_version_published_just_before_a_crash_is_found_by_its_key(
    settings: Settings, catalog: Catalog, tracker: MemoryTracker, tmp_path: Path
) -> None:
    # the daemon created the Version and died before the catalog recorded its id: the supervisor's approval still
    # reaches the publication, through the idempotency key the Version carries
    [job] = rendered_fix(catalog, tmp_path, SHOW, tracker.add_task(SHOW, "sh010"), ("denoise",))
    spec = VersionSpec(
        job.key(), SHOW, 7, None, "sh010_rushes_denoise_r1", "", tmp_path / "denoise.mp4", 1, 2
    )
    version = tracker.publish_version(spec)
    tracker.approve(version.version_id)
    assert poll_reviews(tracker, catalog).new == 1
    with catalog.session(readonly=True) as s:
        pub = fixes.get_publication(s, job.publication_id)
        assert pub is not None and pub.review_status == "approved"
