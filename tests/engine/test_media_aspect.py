"""Anamorphic frames: every format Rushes reads and writes keeps the pixel aspect, and review pictures show the
picture in square pixels."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from engine.media import probe, write_movie
from engine.media.aspect import desqueezed, pixel_aspect, square_size
from engine.media.encode import write_numbered_sequence
from tests import footage

MOVIES = [(".mov", "prores"), (".mxf", "prores"), (".mp4", "h264"), (".mkv", "h264")]
IMAGES = ["exr", "dpx", "png", "tif", "jpg"]


@pytest.mark.parametrize("aspect", [Fraction(2), Fraction(4, 3), Fraction(10, 11)])
def test_every_movie_and_image_format_keeps_the_pixel_aspect(tmp_path: Path, aspect: Fraction) -> None:
    frames = footage.frames(2, (64, 48))
    for suffix, codec in MOVIES:
        movie = write_movie(tmp_path / f"m{suffix}", frames, 24, codec=codec, pixel_aspect=aspect)
        assert probe(str(movie)).pixel_aspect == aspect, suffix
    for ext in IMAGES:
        pattern = str(tmp_path / f"s.####.{ext}")
        write_numbered_sequence(pattern, enumerate(frames, 1001), 24, pixel_aspect=aspect)
        assert probe(pattern).pixel_aspect == aspect, ext


def test_square_pixels_are_the_default_everywhere(tmp_path: Path) -> None:
    movie = footage.movie(tmp_path / "m.mov", 2)
    pattern = footage.sequence(tmp_path, "s", n=2, ext="exr")

    assert probe(str(movie)).pixel_aspect == 1 and probe(pattern).pixel_aspect == 1


def test_a_stored_aspect_reads_as_a_fraction_and_nonsense_as_square() -> None:
    assert pixel_aspect(2.0) == 2 and pixel_aspect(1.3333333) == Fraction(4, 3)
    assert pixel_aspect(Fraction(0, 1)) == 1 and pixel_aspect(None) == 1 and pixel_aspect(-2.0) == 1
    assert pixel_aspect(float("nan")) == 1 and pixel_aspect("wide") == 1


def test_review_pictures_shrink_one_side_to_square_pixels_never_growing_the_other() -> None:
    assert square_size(2880, 2160, Fraction(2)) == (2880, 1080)  # 2x anamorphic: 2.67:1 shown
    assert square_size(720, 480, Fraction(10, 11)) == (656, 480)  # NTSC DV (654.5, made even)
    assert square_size(1920, 1080, Fraction(1)) == (1920, 1080)
    squeezed = np.zeros((96, 64, 3), np.float32)
    squeezed[:, 32:] = 1.0  # right half white
    shown = desqueezed(squeezed, Fraction(2))
    assert shown.shape == (48, 64, 3) and shown[:, 32:].min() == 1.0 and shown[:, :32].max() == 0.0
