"""Broken media raises MediaError with a one-line reason the ingest can quarantine with."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from engine.media import MediaError, probe, read_frames, write_movie
from engine.synth import camera_move, photo


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return camera_move(photo("chelsea"), 24, size=(160, 96), seed=3)


def _cut_in_half(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


def _reason(source: str | Path) -> str:
    with pytest.raises(MediaError) as caught:
        probe(source)
    assert "\n" not in caught.value.reason
    return caught.value.reason


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("index_first.mp4", {"faststart": True}),
        ("index_last.mp4", {"faststart": False}),
        ("prores.mov", {"codec": "prores"}),
        ("prores.mxf", {"codec": "prores"}),
        ("lossless.mkv", {"codec": "ffv1"}),
    ],
)
def test_a_movie_cut_in_half_is_reported_truncated(
    tmp_path: Path, frames: np.ndarray, name: str, kwargs: dict[str, object]
) -> None:
    whole = write_movie(tmp_path / name, frames, 24, **kwargs)
    assert probe(whole).frame_count == 24
    half = _cut_in_half(whole, tmp_path / f"half_{name}")
    assert _reason(half).startswith("truncated")


@pytest.mark.parametrize(("name", "packet"), [("A001.ts", 188), ("00012.mts", 188), ("00013.m2ts", 192)])
def test_a_transport_stream_cut_short_is_reported_truncated_not_dropped_while_recording(
    tmp_path: Path, frames: np.ndarray, name: str, packet: int
) -> None:
    """A camcorder's or a broadcast recorder's stream declares no frame count, so a copy cut short read as the
    whole recording (its last frames split by the cut as dropped while recording). It is whole packets of 188
    bytes, 192 in a BDAV stream (AVCHD .mts, .m2ts): a size that is not a whole number of them is cut. (The
    frames FFmpeg guessed from the bit rate caught some cuts, "only 6 of 9 frames", and let others by.)"""
    from tests import footage

    whole = footage.remuxed(write_movie(tmp_path / "source.mp4", frames, 24), tmp_path / name)
    assert probe(whole).frame_count == 24 and whole.stat().st_size % packet == 0

    data = whole.read_bytes()
    for part in (2, 3, 5):  # a copy stops anywhere in a packet
        cut = tmp_path / f"part{part}_{name}"
        cut.write_bytes(data[: len(data) // part // packet * packet + 61])
        assert _reason(cut).startswith(
            f"truncated: the file ends partway through a {packet}-byte MPEG transport stream packet; copy it "
            "again whole (a recording that itself ends so"
        )


def test_decoding_a_truncated_movie_fails_clearly(tmp_path: Path, frames: np.ndarray) -> None:
    whole = write_movie(tmp_path / "a.mp4", frames, 24, faststart=False)
    half = _cut_in_half(whole, tmp_path / "half.mp4")
    with pytest.raises(MediaError, match="truncated"):
        list(read_frames(half))


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "A001C003.mov"
    path.touch()
    assert _reason(path) == "empty file (0 bytes)"


def test_text_file_named_mov(tmp_path: Path) -> None:
    path = tmp_path / "notes.mov"
    path.write_text("shot notes: sh010 needs a regrade\n" * 20)
    assert _reason(path).startswith("not a media file")


def test_missing_file_and_folder(tmp_path: Path) -> None:
    assert _reason(tmp_path / "gone.mov").startswith("not found")
    assert _reason(tmp_path).startswith("is a folder")


def test_audio_only_file_has_no_video_stream(tmp_path: Path) -> None:
    path = tmp_path / "sound.mov"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=48000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 4800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 48000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    assert _reason(path) == "no video stream"


def test_a_range_past_the_end_is_refused(tmp_path: Path, frames: np.ndarray) -> None:
    path = write_movie(tmp_path / "short.mp4", frames[:4], 24)
    with pytest.raises(MediaError, match="ends at frame 3"):
        list(read_frames(path, 2, 10))
    with pytest.raises(MediaError, match="empty"):
        read_frames(path, 5, 2)


def test_sequence_problems(tmp_path: Path) -> None:
    assert _reason(tmp_path / "sh010.####.exr").startswith("no frames found")
    (tmp_path / "sh010.1001.png").write_text("not a png")
    assert "cannot decode png" in _reason(tmp_path / "sh010.####.png")


def test_a_sequence_whose_last_frames_are_emptied_after_its_probe_is_refused_not_read_shorter(
    tmp_path: Path, frames: np.ndarray
) -> None:
    """A plate re-rendered on shared storage under a fix (its last frames emptied as they are written again):
    the fix read what was left, wrote a sequence five frames shorter and exited 0."""
    from engine.media import write_sequence

    pattern = str(tmp_path / "sh050.####.png")
    write_sequence(pattern, list(frames[:8]), 1001)
    (tmp_path / "sh050.1003.png").unlink()  # missing on disk from the start: the probe knows it
    info = probe(pattern)
    for number in (1007, 1008):
        (tmp_path / f"sh050.{number}.png").write_bytes(b"")

    with pytest.raises(
        MediaError, match=r"frame\(s\) 1007-1008 of the sequence are gone or empty since it was read"
    ):
        read_frames(info)
    (tmp_path / "sh050.1007.png").unlink()
    (tmp_path / "sh050.1008.png").unlink()
    with pytest.raises(MediaError, match=r"frame\(s\) 1007-1008 "):
        read_frames(info)
    write_sequence(pattern, list(frames[:8]), 1001)
    (tmp_path / "sh050.1003.png").unlink()
    assert [f.number for f in read_frames(info)] == [1001, 1002, 1004, 1005, 1006, 1007, 1008]


def test_a_scan_ffmpeg_would_misread_is_refused_by_its_header_not_fixed_black_or_upside_down(
    tmp_path: Path,
) -> None:
    """A lab's tiled TIFF was fixed and delivered all black, a half-float TIFF as a picture of wrong values, and a
    DPX or TIFF flagged bottom-to-top upside down with its cleanup mask in the wrong place, each without a word."""
    import tifffile

    from engine.media import write_image
    from engine.media.dpx import ORIENTATION_AT

    picture = camera_move(photo("astronaut"), 1, (96, 64))[0]
    tiled, half, flipped = tmp_path / "tiled.1001.tif", tmp_path / "half.1001.tif", tmp_path / "flip.1001.tif"
    tifffile.imwrite(tiled, (picture * 65535).astype(np.uint16), photometric="rgb", tile=(32, 32))
    tifffile.imwrite(half, picture.astype(np.float16), photometric="rgb")
    tifffile.imwrite(
        flipped, (picture * 255).astype(np.uint8), photometric="rgb", extratags=[(274, 3, 1, 4, True)]
    )
    assert _reason(tiled).startswith("frame 1001: a tiled TIFF, which is read as black: write it in strips")
    assert _reason(half).startswith("frame 1001: a 16-bit float (half) TIFF, which is read as integers")
    assert _reason(flipped).startswith(
        "frame 1001: its TIFF orientation (4) has the picture mirrored or turned"
    )
    scan = tmp_path / "scan.1001.dpx"
    write_image(scan, picture)
    data = bytearray(scan.read_bytes())
    big = data[:4] == b"SDPX"
    data[ORIENTATION_AT : ORIENTATION_AT + 2] = (2).to_bytes(2, "big" if big else "little")
    scan.write_bytes(bytes(data))
    assert _reason(scan).startswith(
        "frame 1001: its DPX image orientation (2) has the picture mirrored or turned"
    )
    kept = tmp_path / "kept.1001.tif"  # a plain one is read as before
    tifffile.imwrite(kept, (picture * 255).astype(np.uint8), photometric="rgb")
    assert probe(kept).width == 96
