"""Image sequences: write, probe (holes, frame numbers, pattern forms) and read back PNG, EXR, JPEG and DPX."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from engine.media import MediaError, probe, read_clip, read_frames, read_frames_uint8, write_sequence
from engine.media.pixels import to_uint8
from engine.media.sequences import frames_named
from engine.synth import camera_move, photo


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return camera_move(photo("rocket"), 6, size=(96, 64), seed=4)


@pytest.fixture
def png_with_hole(tmp_path: Path, clip: np.ndarray) -> Path:
    """sh010.1001-1006 as 8-bit PNG, with frame 1004 missing."""
    paths = write_sequence(tmp_path / "sh010.####.png", clip, first_frame=1001)
    assert paths[0].name == "sh010.1001.png"
    paths[3].unlink()
    return tmp_path


def test_png_sequence_with_a_missing_frame(png_with_hole: Path, clip: np.ndarray) -> None:
    info = probe(png_with_hole / "sh010.####.png")
    assert info.kind == "sequence" and info.path == str(png_with_hole / "sh010.####.png")
    assert (info.codec, info.width, info.height, info.fps) == ("png", 96, 64, Fraction(24))
    assert (info.first_frame, info.last_frame, info.frame_count) == (1001, 1006, 5)
    assert info.missing_frames == [1004]

    frames = list(read_frames_uint8(png_with_hole / "sh010.####.png"))
    assert [f.number for f in frames] == [1001, 1002, 1003, 1005, 1006]
    for f in frames:
        np.testing.assert_array_equal(f.rgb, (clip[f.number - 1001] * 255 + 0.5).astype(np.uint8))


@pytest.mark.parametrize("form", ["sh010.%04d.png", "sh010.1002.png", "sh010.@@@@.png", "sh010.#.png"])
def test_every_pattern_form_finds_the_same_sequence(png_with_hole: Path, form: str) -> None:
    info = probe(png_with_hole / form, fps=25)
    assert (info.path, info.first_frame, info.missing_frames) == (
        str(png_with_hole / "sh010.####.png"),
        1001,
        [1004],
    )
    assert info.fps == Fraction(25)


def test_fileseq_range_pattern_lists_frames_missing_at_the_end(png_with_hole: Path) -> None:
    info = probe(png_with_hole / "sh010.1001-1008#.png")
    assert info.missing_frames == [1004, 1007, 1008] and info.frame_count == 5


def test_reading_a_sequence_range(png_with_hole: Path) -> None:
    assert [f.number for f in read_frames(png_with_hole / "sh010.####.png", 1002, 1005)] == [1002, 1003, 1005]
    with pytest.raises(MediaError, match="outside the sequence"):
        read_frames(png_with_hole / "sh010.####.png", 990, 1002)


def test_16bit_png_keeps_16bit_precision(tmp_path: Path, clip: np.ndarray) -> None:
    write_sequence(tmp_path / "deep.%04d.png", clip[:2], first_frame=1)
    info = probe(tmp_path / "deep.0001.png")
    assert info.pix_fmt == "rgb48be"
    back = read_clip(tmp_path / "deep.####.png")
    assert np.abs(back - clip[:2]).max() <= 0.5 / 65535 + 1e-7


def test_exr_sequence_keeps_float_values_within_half_precision(tmp_path: Path, clip: np.ndarray) -> None:
    hdr = clip[:3] * 8.0 - 0.25  # scene-linear: above 1 and below 0
    write_sequence(tmp_path / "plate.####.exr", hdr, first_frame=1001, fps=Fraction(24000, 1001))
    info = probe(tmp_path / "plate.####.exr")
    assert (info.codec, info.pix_fmt, info.frame_count, info.first_frame) == ("exr", "gbrpf16le", 3, 1001)
    assert info.fps == Fraction(24000, 1001)  # from the EXR header
    for f in read_frames(tmp_path / "plate.####.exr"):
        expected = hdr[f.number - 1001]
        assert f.rgb.dtype == np.float32 and f.rgb.max() > 1
        np.testing.assert_allclose(f.rgb, expected, rtol=2**-10, atol=2**-14)


def test_exr_full_float(tmp_path: Path, clip: np.ndarray) -> None:
    write_sequence(tmp_path / "f.####.exr", clip[:1] * 3, first_frame=0, bit_depth=32)
    assert probe(tmp_path / "f.0000.exr").pix_fmt == "gbrpf32le"
    np.testing.assert_array_equal(read_clip(tmp_path / "f.####.exr")[0], clip[0] * 3)


def test_jpeg_and_dpx_sequences(tmp_path: Path, clip: np.ndarray) -> None:
    write_sequence(tmp_path / "ref.####.jpg", clip[:2], first_frame=1, quality=95)
    write_sequence(tmp_path / "scan.####.dpx", clip[:2], first_frame=86400)
    jpg, dpx = probe(tmp_path / "ref.####.jpg"), probe(tmp_path / "scan.####.dpx")
    assert (jpg.codec, jpg.color_range, jpg.frame_count) == ("jpeg", "pc", 2)
    assert (dpx.codec, dpx.pix_fmt, dpx.first_frame) == ("dpx", "gbrp10le", 86400)
    assert np.abs(read_clip(tmp_path / "ref.####.jpg") - clip[:2]).mean() < 3 / 255
    assert np.abs(read_clip(tmp_path / "scan.####.dpx") - clip[:2]).max() <= 0.6 / 1023  # 10-bit rounding


def test_tiff_sequences_are_16_bit_unless_the_frames_are_8(tmp_path: Path, clip: np.ndarray) -> None:
    write_sequence(tmp_path / "plate.####.tif", clip[:2], first_frame=1001)
    write_sequence(tmp_path / "still.####.tiff", to_uint8(clip[:1]), first_frame=1)
    plate, still = probe(tmp_path / "plate.####.tif"), probe(tmp_path / "still.####.tiff")
    assert (plate.codec, plate.pix_fmt, plate.first_frame, plate.frame_count) == ("tiff", "rgb48le", 1001, 2)
    assert (still.codec, still.pix_fmt) == ("tiff", "rgb24")
    assert np.abs(read_clip(tmp_path / "plate.####.tif") - clip[:2]).max() <= 0.6 / 65535
    np.testing.assert_array_equal(to_uint8(read_clip(tmp_path / "still.####.tiff")), to_uint8(clip[:1]))


def test_writes_leave_no_temp_files(tmp_path: Path, clip: np.ndarray) -> None:
    out = tmp_path / "renders" / "sh020"
    write_sequence(out / "sh020.####.exr", clip[:2], first_frame=1001)
    assert sorted(p.name for p in out.iterdir()) == ["sh020.1001.exr", "sh020.1002.exr"]
    with pytest.raises(MediaError, match="placeholder"):
        write_sequence(out / "still.exr", clip[:1], first_frame=1)


def test_a_pattern_with_the_wrong_padding_names_the_one_that_finds_the_frames(tmp_path: Path) -> None:
    from engine.media import write_image

    for number in (8, 9, 10, 11):  # a renderer that does not pad
        write_image(tmp_path / f"sh010.{number}.png", np.zeros((16, 16, 3), np.float32))
    for number in (1, 2):
        write_image(tmp_path / f"sh020.{number:03d}.png", np.zeros((16, 16, 3), np.float32))

    with pytest.raises(MediaError, match=r"numbered otherwise: use .*sh010\.@\.png$"):
        probe(str(tmp_path / "sh010.####.png"))
    with pytest.raises(MediaError, match=r"numbered otherwise: use .*sh020\.###\.png$"):
        probe(str(tmp_path / "sh020.####.png"))
    assert probe(str(tmp_path / "sh010.@.png")).frame_count == 4


def test_frames_numbered_below_zero_with_the_sign_in_the_padding_are_read(
    tmp_path: Path, clip: np.ndarray
) -> None:
    """printf's %04d writes frame -3 as -003 (fileseq counts the sign in the padding too): probe and a fix read
    frames 0-2 of a plate numbered -3..2, and half of it vanished from its daily and its fix without a word."""
    from engine.media import write_image

    for n in range(-3, 3):
        write_image(tmp_path / f"neg.{n:04d}.png", clip[n + 3])
    info = probe(tmp_path / "neg.####.png")
    assert (info.first_frame, info.last_frame, info.frame_count) == (-3, 2, 6)
    assert [f.number for f in read_frames(info)] == [-3, -2, -1, 0, 1, 2]


def test_frame_numbers_in_a_sentence_say_frame_for_one_and_frames_for_more() -> None:
    assert frames_named([1004]) == "frame 1004"  # "the daily lacks frame 1004", not "frames 1004"
    assert frames_named([1003, 1004]) == "frames 1003-1004"


def test_a_stray_frame_numbered_far_from_the_others_is_named_before_any_hole_is_listed(
    png_with_hole: Path,
) -> None:
    """sh010.5001001.png beside 1001-1006: the holes between would be listed one by one (a frame numbered
    9999999999 filled the memory of the daemon that probed it, then again at every start)."""
    stray = png_with_hole / "sh010.5001001.png"
    stray.write_bytes((png_with_hole / "sh010.1001.png").read_bytes())
    with pytest.raises(
        MediaError,
        match=r"frame numbers 1001-5001001 span 5,000,001 frames for 6 file\(s\), more "
        r"than a shot holds: rename or remove the stray frame\(s\) sh010.5001001.png$",
    ):
        probe(png_with_hole / "sh010.####.png")


@pytest.mark.parametrize("name", ["sh010_take#2.mov", "sh010@client.mp4", "sh010_%03d.mov"])
def test_a_movie_whose_name_holds_a_pattern_character_is_read_as_the_movie_it_is(
    tmp_path: Path, name: str
) -> None:
    """A movie named with `#`, `@` or `%d` was read as a frame sequence, and its daily quarantined."""
    from tests import footage

    path = footage.movie(tmp_path / name, n=4, size=(64, 48))
    info = probe(path)
    assert (info.kind, info.frame_count) == ("movie", 4)
    assert len(list(read_frames(path))) == 4
