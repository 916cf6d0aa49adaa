"""A supervisor rejects a fix's Version and the coordinator sets the task to fix again with nothing changed: Rushes
answers that the fix would be the same pictures as the rejected Version, rather than publishing them again for
review; with other parameters, a new model or the plate delivered again, the fix is made."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from daemon.catalog import Catalog, fixes
from daemon.jobs.outcomes import Permanent
from daemon.jobs.payloads import FixJob
from daemon.settings import Settings
from daemon.stages.fixing import SourceChanged, run_fix
from tests import footage
from tests.daemon.stages.conftest import SHOW, ingest_movie


def asked(catalog: Catalog, key: str, params: dict[str, str] | None = None, kind: str = "denoise") -> int:
    with catalog.session() as s:
        row, _ = fixes.add_fix_request(s, SHOW, key, "sh010", [kind], params, task_id=3)
        return row.id


def test_a_fix_asked_again_unchanged_after_its_rejection_is_answered_not_rendered_again(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    plate = footage.movie(tmp_path / "plates" / "sh010_1.mp4", n=4, size=(64, 48))
    ingest_movie(catalog, plate, "sh010")
    first = asked(catalog, "memory:event:1")
    run_fix(settings, catalog, FixJob(first, "denoise", "memory:event:1"))
    with catalog.session() as s:
        [pub] = fixes.get_fix_request(s, first).publications  # type: ignore[union-attr]
        fixes.mark_published(s, pub.id, 501)
        fixes.set_review(s, pub.id, "rejected", "still noisy in the sky")

    again = asked(catalog, "memory:event:2", {"frames": "1-2"})  # a key denoise does not read: the same fix
    with pytest.raises(Permanent) as answer:
        run_fix(settings, catalog, FixJob(again, "denoise", "memory:event:2"))
    assert str(answer.value) == (
        f"it would be the same as sh010_rushes_denoise_r{first}, which the supervisor rejected (still noisy in "
        "the sky): the same daily, no model (the classical tool) and parameters make the same pictures; change "
        "the parameters, or ask again once the show's model is trained again or the shot's plate is delivered "
        "again"
    )
    with catalog.session(readonly=True) as s:
        request = fixes.get_fix_request(s, again)
        assert request is not None and request.publications == []  # nothing rendered for review

    other = asked(catalog, "memory:event:3", {"deliver": "prores"})  # other parameters: another fix
    assert run_fix(settings, catalog, FixJob(other, "denoise", "memory:event:3"))["frames"] == 4

    staged = footage.movie(tmp_path / "staging" / "sh010_1.mp4", n=4, size=(64, 48), photo="coffee")
    os.replace(staged, plate)  # the plate delivered again
    ingest_movie(catalog, plate, "sh010")
    latest = asked(catalog, "memory:event:4")
    assert run_fix(settings, catalog, FixJob(latest, "denoise", "memory:event:4"))["frames"] == 4


def test_a_retag_after_the_plate_is_delivered_again_but_before_its_ingest_waits_for_it_not_refused(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    plate = footage.movie(tmp_path / "plates" / "sh010_1.mp4", n=4, size=(64, 48))
    ingest_movie(catalog, plate, "sh010")
    first = asked(catalog, "memory:event:1")
    run_fix(settings, catalog, FixJob(first, "denoise", "memory:event:1"))
    with catalog.session() as s:
        [pub] = fixes.get_fix_request(s, first).publications  # type: ignore[union-attr]
        fixes.mark_published(s, pub.id, 501)
        fixes.set_review(s, pub.id, "rejected", "wrong plate")

    # the lab's v002 copied over v001, re-tagged before the watcher has ingested it (it waits for it to hold still)
    staged = footage.movie(tmp_path / "staging" / "sh010_1.mp4", n=4, size=(64, 48), photo="coffee")
    os.replace(staged, plate)
    again = asked(catalog, "memory:event:2")
    with pytest.raises(SourceChanged) as waits:  # not Permanent: the job is tried again
        run_fix(settings, catalog, FixJob(again, "denoise", "memory:event:2"))
    assert str(waits.value) == (
        f"the daily {plate} was delivered again since it was ingested (its size or time is another), so the fix "
        "waits for its ingest to catalogue the new file, and is tried again"
    )

    ingest_movie(catalog, plate, "sh010")  # the watcher catches up: the retried job fixes v002
    assert run_fix(settings, catalog, FixJob(again, "denoise", "memory:event:2"))["frames"] == 4


def test_a_rejected_fix_asked_again_in_another_spelling_of_the_same_frames_is_answered(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    """`interpolate frames=1-2` rejected, then `frames=1,2` (a spelling the docs give): the same pictures were
    published again for review, as the parameters were compared as text."""
    plate = footage.movie(tmp_path / "plates" / "sh010_1.mp4", n=4, size=(64, 48))
    ingest_movie(catalog, plate, "sh010")
    first = asked(catalog, "memory:event:1", {"frames": "1-2"}, "interpolate")
    run_fix(settings, catalog, FixJob(first, "interpolate", "memory:event:1"))
    with catalog.session() as s:
        [pub] = fixes.get_fix_request(s, first).publications  # type: ignore[union-attr]
        fixes.mark_published(s, pub.id, 501)
        fixes.set_review(s, pub.id, "rejected", "ghosting")
    again = asked(catalog, "memory:event:2", {"frames": "1,2"}, "interpolate")
    with pytest.raises(Permanent, match=r"^it would be the same as sh010_rushes_interpolate_r\d+, which the"):
        run_fix(settings, catalog, FixJob(again, "interpolate", "memory:event:2"))
    other = asked(catalog, "memory:event:3", {"frames": "1"}, "interpolate")  # other frames: another fix
    assert run_fix(settings, catalog, FixJob(other, "interpolate", "memory:event:3"))["frames"] == 4
