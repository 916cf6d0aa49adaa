"""Approved pairs of a scene-linear (EXR) daily: trained on in the heads' log encoding from the fix's EXR
frames, and skipped when only its display-referred review movie is left."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from daemon.catalog import Catalog, fixes
from daemon.stages.training_inputs import approved_pairs
from engine.media import write_movie, write_sequence
from engine.media.working import to_working
from tests import footage
from tests.daemon.stages.conftest import SHOW


def test_an_exr_dailys_pair_trains_on_its_exr_frames_and_not_on_its_review_movie(
    catalog: Catalog, tmp_path: Path
) -> None:
    light = footage.frames(4, (64, 48)) ** np.float32(2.2) * np.float32(6.0)
    write_sequence(tmp_path / "plates" / "sh010.####.exr", light, 1001)
    write_sequence(tmp_path / "fix" / "sh010_denoise.####.exr", light * np.float32(0.9), 1001)
    write_movie(tmp_path / "fix" / "sh010_denoise.mp4", footage.frames(4, (64, 48)), 24)
    daily = str(tmp_path / "plates" / "sh010.####.exr")
    with catalog.session() as s:
        request, _ = fixes.add_fix_request(s, SHOW, "req-1", "sh010", ["denoise"])
        for key, frames in (
            ("with-frames", str(tmp_path / "fix" / "sh010_denoise.####.exr")),
            ("movie", None),
        ):
            pub, _ = fixes.add_publication(
                s,
                request.id,
                "denoise",
                key,
                str(tmp_path / "fix" / "sh010_denoise.mp4"),
                source_path=daily,
                extra_files={"frames": frames} if frames else None,
            )
            fixes.mark_published(s, pub.id, 500 + pub.id)
            fixes.set_review(s, pub.id, "approved")
    examples = approved_pairs(catalog, SHOW).examples

    assert len(examples) == 1  # the pair with only a display picture is left out
    pair = examples[0]
    expected_before = np.round(np.clip(to_working(light), 0, 1) * 255)
    assert np.abs(pair.before.astype(int) - expected_before).max() <= 2  # light in the log encoding
    assert np.abs(pair.after.astype(int) - np.round(to_working(light * np.float32(0.9)) * 255)).max() <= 2


def test_a_log_movies_pair_reads_its_exr_frames_as_the_movie_is_read(
    catalog: Catalog, tmp_path: Path
) -> None:
    from daemon.settings import ReviewColor
    from engine.media import read_frames_uint8

    log_movie = footage.movie(tmp_path / "A001C003.mov", n=4, size=(64, 48))  # stands in for LogC footage
    fixed = footage.frames(4, (64, 48)) * np.float32(0.9)
    write_sequence(tmp_path / "fix" / "A001C003_denoise.####.exr", fixed, 0)
    write_movie(tmp_path / "fix" / "A001C003_denoise.mp4", fixed, 24)
    with catalog.session() as s:
        request, _ = fixes.add_fix_request(s, SHOW, "req-2", "sh020", ["denoise"])
        for key, frames in (("exr", str(tmp_path / "fix" / "A001C003_denoise.####.exr")), ("movie", None)):
            pub, _ = fixes.add_publication(
                s,
                request.id,
                "denoise",
                key,
                str(tmp_path / "fix" / "A001C003_denoise.mp4"),
                source_path=str(log_movie),
                extra_files={"frames": frames} if frames else None,
            )
            fixes.mark_published(s, pub.id, 600 + pub.id)
            fixes.set_review(s, pub.id, "approved")

    examples = approved_pairs(catalog, SHOW, ReviewColor(sources={"mov": "ARRI LogC3 (EI800)"})).examples

    assert len(examples) == 1  # reviewed through the show's view: its movie is a display picture
    assert (
        np.abs(examples[0].after.astype(int) - np.round(fixed * 255)).max() <= 1
    )  # the values, not re-encoded
    assert np.array_equal(examples[0].before, np.stack([f.rgb for f in read_frames_uint8(log_movie)]))
    assert (
        len(approved_pairs(catalog, SHOW).examples) == 2
    )  # by default a movie is shown as it is: both pairs train


def test_an_hdr_dailys_pair_trains_on_its_prores_deliverable_and_not_on_its_sdr_review_movie(
    catalog: Catalog, tmp_path: Path
) -> None:
    from engine.media.info import ColourTags

    hlg = ColourTags(primaries=9, transfer=18, matrix=9)
    phone = write_movie(
        tmp_path / "IMG_0001.mov", footage.frames(4, (64, 48)), 30, codec="prores", colour=hlg
    )
    fixed = footage.frames(4, (64, 48)) * np.float32(0.9)
    prores = write_movie(tmp_path / "fix" / "IMG_0001_prores.mov", fixed, 30, codec="prores", colour=hlg)
    review = write_movie(tmp_path / "fix" / "IMG_0001.mp4", fixed * np.float32(0.5), 30)  # tone-mapped
    with catalog.session() as s:
        request, _ = fixes.add_fix_request(s, SHOW, "req-3", "sh030", ["denoise"])
        for key, frames in (("prores", str(prores)), ("movie", None)):
            pub, _ = fixes.add_publication(
                s,
                request.id,
                "denoise",
                key,
                str(review),
                source_path=str(phone),
                extra_files={"frames": frames} if frames else None,
            )
            fixes.mark_published(s, pub.id, 700 + pub.id)
            fixes.set_review(s, pub.id, "approved")

    examples = approved_pairs(catalog, SHOW).examples

    assert len(examples) == 1  # the SDR review movie is not the fix in the daily's encoding
    assert abs(float(examples[0].after.mean()) / 255 - float(fixed.mean())) < 0.02


def test_the_same_fix_approved_twice_is_one_pair_not_twice_its_weight(
    catalog: Catalog, tmp_path: Path
) -> None:
    # asked again, the approved kind was made again unchanged and approved again: it trained at twice its weight
    daily = footage.movie(tmp_path / "plates" / "sh030_1.mp4", n=4, size=(64, 48))
    first = write_movie(
        tmp_path / "r1" / "sh030_rushes_denoise_r1.mp4", footage.frames(4, (64, 48)) * 0.9, 24
    )
    again = tmp_path / "r3" / "sh030_rushes_denoise_r3.mp4"
    again.parent.mkdir()
    again.write_bytes(first.read_bytes())  # the same pictures, rendered again
    other = write_movie(
        tmp_path / "r4" / "sh030_rushes_denoise_r4.mp4", footage.frames(4, (64, 48)) * 0.8, 24
    )
    with catalog.session() as s:
        request, _ = fixes.add_fix_request(s, SHOW, "req-3", "sh030", ["denoise"])
        for key, movie in (("r1", first), ("r3", again), ("r4", other)):
            pub, _ = fixes.add_publication(s, request.id, "denoise", key, str(movie), source_path=str(daily))
            fixes.mark_published(s, pub.id, 700 + pub.id)
            fixes.set_review(s, pub.id, "approved")

    found = approved_pairs(catalog, SHOW)
    assert [e.id for e in found.examples] == ["publication:1:denoise", "publication:3:denoise"]
    assert [(p.id, p.reason) for p in found.left_out] == [
        ("publication:2:denoise", "the same pictures as publication:1:denoise, approved before: counted once")
    ]
