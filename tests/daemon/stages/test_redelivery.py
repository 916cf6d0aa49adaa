"""A plate delivered again while its fix is in review: the same shot's file overwritten in place by the lab's
v002 (other content under the same name) or delivered under a new name. An approved fix of the first delivery
never becomes a training pair with the second's pictures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from daemon.catalog import Catalog, fixes
from daemon.catalog import dailies as daily_repo
from daemon.catalog import jobs as job_repo
from daemon.jobs.payloads import FixJob, NoticeJob, PublishJob
from daemon.settings import Settings
from daemon.stages.fixing import SourceChanged, run_fix
from daemon.stages.lineage import withdrawn_in_lineage
from daemon.stages.notices import SUBJECT, post_notice
from daemon.stages.publishing import publish
from daemon.stages.training import run_training, training_clips
from daemon.stages.training_inputs import approved_pairs
from engine.model import load_manifest
from engine.model.manifest import ClipRecord, Manifest
from integrations.trackers.memory import MemoryTracker
from tests import footage
from tests.daemon.stages.conftest import SHOW, ingest_movie, movie_candidate


def published_denoise(
    settings: Settings, catalog: Catalog, key: str = "memory:event:1", shot: str = "sh010", task_id: int = 3
) -> int:
    """The denoise fix of the shot's daily (no model yet: the classical tool), published and waiting for
    review -> its publication's id."""
    with catalog.session() as s:
        row, _ = fixes.add_fix_request(s, SHOW, key, shot, ["denoise"], task_id=task_id)
        request_id = row.id
    run_fix(settings, catalog, FixJob(request_id, "denoise", key))
    with catalog.session() as s:
        [pub] = fixes.get_fix_request(s, request_id).publications  # type: ignore[union-attr]
        fixes.mark_published(s, pub.id, 500 + pub.id)
        return pub.id


def approved_denoise(settings: Settings, catalog: Catalog, plate: Path, key: str = "memory:event:1") -> str:
    """The denoise fix of `plate`, published and approved -> its pair id."""
    publication = published_denoise(settings, catalog, key)
    with catalog.session() as s:
        fixes.set_review(s, publication, "approved")
    return f"publication:{publication}:denoise"


def notices(catalog: Catalog) -> list[NoticeJob]:
    with catalog.session(readonly=True) as s:
        return [NoticeJob.from_json(j.payload) for j in job_repo.list_jobs(s, kind=NoticeJob.KIND)]


def test_a_version_in_review_of_a_plate_delivered_again_is_told_once_on_its_task(
    settings: Settings, catalog: Catalog, tracker: MemoryTracker, tmp_path: Path
) -> None:
    plate = footage.movie(tmp_path / "plates" / "sh010_1.mp4", n=4, size=(64, 48), photo="astronaut")
    ingest_movie(catalog, plate, "sh010")
    other = footage.movie(tmp_path / "plates" / "sh020_1.mp4", n=4, size=(64, 48), photo="chelsea")
    ingest_movie(catalog, other, "sh020")
    waiting = published_denoise(settings, catalog, "memory:event:1")
    approved_denoise(settings, catalog, plate, "memory:event:2")  # reviewed already: its reviewer decided
    rejected = published_denoise(settings, catalog, "memory:event:4")
    with catalog.session() as s:
        fixes.set_review(s, rejected, "rejected")  # decided too: nothing to tell its reviewer
    published_denoise(settings, catalog, "memory:event:3", shot="sh020", task_id=4)  # another plate
    assert notices(catalog) == []

    staged = footage.movie(tmp_path / "staging" / "sh010_1.mp4", n=4, size=(64, 48), photo="coffee")
    os.replace(staged, plate)  # the lab's v002 over v001, under the same name
    ingest_movie(catalog, plate, "sh010")

    [job] = notices(catalog)
    assert job.publication_id == waiting
    post_notice(settings, catalog, tracker, job)
    post_notice(settings, catalog, tracker, job)  # a retry after a lost reply
    [notice] = tracker.notices.values()
    assert (notice.task_id, notice.subject) == (3, SUBJECT)
    assert notice.body.splitlines()[:2] == [
        f"Version sh010_rushes_denoise_r1 (denoise fix) was made from {plate}, which has been delivered again "
        "with other pictures since: the Version shows a fix of the plate as it was, not as it is now.",
        f"To have the fix made again from the new plate, set the task to '{settings.tracker.fix_status}' again.",
    ]


def test_a_fix_in_the_outbox_when_its_plate_is_delivered_again_is_told_once_published_and_only_then(
    settings: Settings, catalog: Catalog, tracker: MemoryTracker, tmp_path: Path
) -> None:
    plate = footage.movie(tmp_path / "plates" / "sh010_1.mp4", n=4, size=(64, 48), photo="astronaut")
    ingest_movie(catalog, plate, "sh010")
    task = tracker.add_task(SHOW, "sh010", status="fix")
    with catalog.session() as s:
        request_id = fixes.add_fix_request(s, SHOW, "memory:event:1", "sh010", ["denoise"], task_id=task)[
            0
        ].id
    run_fix(
        settings, catalog, FixJob(request_id, "denoise", "memory:event:1")
    )  # the tracker is away meanwhile
    os.replace(footage.movie(tmp_path / "staging" / "sh010_1.mp4", n=4, size=(64, 48), photo="coffee"), plate)
    ingest_movie(catalog, plate, "sh010")
    assert notices(catalog) == []  # no Version yet: nothing to tell, and no job retrying until it exists

    [published] = tracker_outbox(settings, catalog, tracker)
    [job] = notices(catalog)
    assert job.publication_id == published
    post_notice(settings, catalog, tracker, job)
    assert [n.task_id for n in tracker.notices.values()] == [task]


def test_a_fix_published_from_the_outbox_of_an_unchanged_plate_tells_nothing(
    settings: Settings, catalog: Catalog, tracker: MemoryTracker, tmp_path: Path
) -> None:
    plate = footage.movie(tmp_path / "plates" / "sh010_1.mp4", n=4, size=(64, 48), photo="astronaut")
    ingest_movie(catalog, plate, "sh010")
    task = tracker.add_task(SHOW, "sh010", status="fix")
    with catalog.session() as s:
        request_id = fixes.add_fix_request(s, SHOW, "memory:event:1", "sh010", ["denoise"], task_id=task)[
            0
        ].id
    # the tracker is away meanwhile: the fix waits in the outbox, its plate untouched
    run_fix(settings, catalog, FixJob(request_id, "denoise", "memory:event:1"))
    assert len(tracker_outbox(settings, catalog, tracker)) == 1
    assert notices(catalog) == [] and tracker.notices == {}  # no "plate delivered again" on the task


def tracker_outbox(settings: Settings, catalog: Catalog, tracker: MemoryTracker) -> list[int]:
    """Publish what waits in the outbox, as the publish lane does once the tracker is back -> publication ids."""
    with catalog.session(readonly=True) as s:
        pending = [p.id for p in fixes.pending_publications(s)]
    for publication in pending:
        publish(settings, catalog, tracker, PublishJob(publication))
    return pending


def test_an_approved_fix_is_not_paired_with_the_plate_delivered_again_over_its_daily(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    plate = footage.movie(tmp_path / "plates" / "sh010_1.mp4", n=4, size=(64, 48), photo="astronaut")
    ingest_movie(catalog, plate, "sh010")
    pair = approved_denoise(settings, catalog, plate)
    assert [e.id for e in approved_pairs(catalog, SHOW).examples] == [pair]

    # the lab's v002 copied over v001 under the same name, and ingested: other pictures at the daily's path
    staged = footage.movie(tmp_path / "staging" / "sh010_1.mp4", n=4, size=(64, 48), photo="coffee")
    os.replace(staged, plate)
    ingest_movie(catalog, plate, "sh010")

    found = approved_pairs(catalog, SHOW)
    assert found.examples == []  # the fix of v001 is no target for v002's pictures
    [left_out] = found.left_out
    assert left_out.id == pair and left_out.label == "tracker Version 501, sh010_rushes_denoise_r1"
    assert left_out.reason == (
        f"its daily {plate} was delivered again since the fix was made (other content under the same name), "
        "so the approved fix no longer pairs with the file there"
    )


def test_a_plate_delivered_again_with_another_dailys_bytes_leaves_its_fix_unpaired_and_tells_its_reviewer(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    # the lab's v002 of sh010 carried sh050's pictures: kept as a copy of sh050, it told nobody, and the approved fix
    # of sh010 trained paired with sh050's frames
    from daemon.stages.ingest import Ingestor

    plate = footage.movie(tmp_path / "plates" / "sh010_1.mp4", n=4, size=(64, 48), photo="astronaut")
    ingest_movie(catalog, plate, "sh010")
    other = footage.movie(tmp_path / "plates" / "sh050_1.mp4", n=4, size=(64, 48), photo="coffee")
    ingest_movie(catalog, other, "sh050")
    pair = approved_denoise(settings, catalog, plate, "memory:event:1")
    waiting = published_denoise(settings, catalog, "memory:event:2")

    plate.write_bytes(other.read_bytes())
    assert (
        Ingestor(catalog).handle(SHOW, movie_candidate(plate, "sh010")).result == "unchanged"
    )  # a copy of sh050's daily

    left = approved_pairs(catalog, SHOW)
    assert left.examples == [] and [(p.id, "delivered again" in p.reason) for p in left.left_out] == [
        (pair, True)
    ]
    assert [job.publication_id for job in notices(catalog)] == [waiting]


def test_a_plate_delivered_again_under_a_new_name_leaves_the_approved_fix_of_the_first_a_pair(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    plate = footage.movie(tmp_path / "plates" / "sh010_1.mp4", n=4, size=(64, 48), photo="astronaut")
    ingest_movie(catalog, plate, "sh010")
    pair = approved_denoise(settings, catalog, plate)

    again = footage.movie(tmp_path / "plates" / "sh010_2.mp4", n=4, size=(64, 48), photo="coffee")
    ingest_movie(catalog, again, "sh010")

    assert [e.id for e in approved_pairs(catalog, SHOW).examples] == [pair]


def test_a_shots_deliveries_train_together_and_are_held_out_together(
    catalog: Catalog, tmp_path: Path
) -> None:
    for name, photo in (("sh010_1.mp4", "astronaut"), ("SH010_2.mp4", "coffee"), ("sh020_1.mp4", "chelsea")):
        ingest_movie(catalog, footage.movie(tmp_path / name, n=4, size=(64, 48), photo=photo), name[:5])

    clips = training_clips(catalog, SHOW).clips

    assert sorted(c.group for c in clips) == [
        "sh010",
        "sh010",
        "sh020",
    ]  # engine.train holds out whole groups


def test_the_first_delivery_of_a_plate_delivered_again_can_be_excluded_and_its_learning_is_left(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    plate = footage.movie(tmp_path / "plates" / "sh010_1.mp4", n=4, size=(64, 48), photo="astronaut")
    first = ingest_movie(catalog, plate, "sh010")
    with catalog.session() as s:
        first_hash = daily_repo.get_daily(s, first).content_hash  # type: ignore[union-attr]
    staged = footage.movie(tmp_path / "staging" / "sh010_1.mp4", n=4, size=(64, 48), photo="coffee")
    os.replace(staged, plate)  # v002 over v001, after v001 was trained on
    ingest_movie(catalog, plate, "sh010")
    second_pair = approved_denoise(settings, catalog, plate, "memory:event:2")  # a fix of v002, approved

    with (
        catalog.session() as s
    ):  # v001's likeness is not cleared: it was superseded, and is excluded all the same
        daily_repo.exclude_daily(s, first, "likeness not cleared")

    trained_on_v001 = Manifest(
        version="v1",
        clips=[ClipRecord(id=f"daily:{first}", content_hash=first_hash or "", frames=4, cuts=[])],
    )
    assert withdrawn_in_lineage(catalog, SHOW, trained_on_v001, tmp_path / "bases") == (
        f"v1 learned from daily:{first}:sh010:sh010_1.mp4, excluded since: likeness not cleared"
    )
    # the fix of v002, under the same name, is no fix of v001's pictures: it stays a pair
    assert [e.id for e in approved_pairs(catalog, SHOW).examples] == [second_pair]


def test_a_fix_of_a_plate_delivered_again_waits_for_its_ingest_and_its_version_records_the_new_hash(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    plate = footage.movie(tmp_path / "plates" / "sh010_1.mp4", n=4, size=(64, 48), photo="astronaut")
    first = ingest_movie(catalog, plate, "sh010")
    staged = footage.movie(tmp_path / "staging" / "sh010_1.mp4", n=4, size=(64, 48), photo="coffee")
    os.replace(staged, plate)  # v002 over v001, not ingested yet: the catalog's hash is v001's
    with catalog.session() as s:
        request_id = fixes.add_fix_request(s, SHOW, "memory:event:1", "sh010", ["denoise"], task_id=3)[0].id
    with pytest.raises(SourceChanged):  # a Version of v002's pictures under v001's hash, were it made now
        run_fix(settings, catalog, FixJob(request_id, "denoise", "memory:event:1"))

    second = ingest_movie(catalog, plate, "sh010")
    run_fix(settings, catalog, FixJob(request_id, "denoise", "memory:event:1"))
    with catalog.session(readonly=True) as s:
        [pub] = fixes.get_fix_request(s, request_id).publications  # type: ignore[union-attr]
        daily = daily_repo.get_daily(s, second)
        assert second != first and daily is not None and pub.source_hash == daily.content_hash


def test_a_take_delivered_again_and_not_yet_ingested_is_left_out_of_a_training_not_learned_as_the_old(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    """The lab's v002 copied over a take inside ingest's stability wait, and a training starts (a window opening,
    `rushes train`): it learned the new pictures under the old daily's id and hash (the manifest said
    `daily:1 ... blake2b:<old>`, the frame cache held the new pictures under the old hash), and excluding the
    new daily found no version that learned from it. The take is left out of this run, and the report says so."""
    plate = footage.movie(tmp_path / "plates" / "sh010_1.mp4", n=8, size=(64, 48), photo="astronaut")
    old = ingest_movie(catalog, plate, "sh010")
    for shot, photo in (("sh020", "coffee"), ("sh030", "chelsea")):
        ingest_movie(
            catalog,
            footage.movie(tmp_path / "plates" / f"{shot}_1.mp4", n=8, size=(64, 48), photo=photo),
            shot,
        )
    with catalog.session(readonly=True) as s:
        old_hash = daily_repo.get_daily(s, old).content_hash or ""  # type: ignore[union-attr]
    staged = footage.movie(tmp_path / "staging" / "sh010_1.mp4", n=12, size=(64, 48), photo="camera")
    os.replace(staged, plate)  # v002 over v001, not yet ingested

    report = run_training(settings, catalog, SHOW, job_id="t1", budget=1.0)

    manifest = load_manifest(Path(report.folder))
    learned = [clip.id for clip in (*manifest.clips, *manifest.holdout)]
    assert learned and not any(clip.startswith(f"daily:{old}:") for clip in learned)
    assert [text.split(" was left out")[0] for text in report.left_out] == [f"daily {old} (sh010_1.mp4)"]
    assert not list(
        (settings.data_dir / "cache" / SHOW).glob(f"{old_hash[:32]}-*")
    )  # no new pictures under it
