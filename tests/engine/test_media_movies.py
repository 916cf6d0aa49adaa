"""Movies through engine.media: encode real footage-like frames, probe and decode them back frame-exactly."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from engine.media import (
    MediaError,
    MovieWriter,
    probe,
    read_clip,
    read_frames,
    read_frames_uint8,
    write_movie,
)
from engine.synth import camera_move, photo


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(1.0 / max(mse, 1e-12))


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    """48 frames, 320x180, of a camera move over a real photo (float32 0..1)."""
    return camera_move(photo("astronaut"), 48, size=(320, 180), seed=1)


@pytest.fixture(scope="module")
def h264(tmp_path_factory: pytest.TempPathFactory, clip: np.ndarray) -> Path:
    path = tmp_path_factory.mktemp("movies") / "sh010_v001.mp4"
    write_movie(path, clip, 24, codec="h264", timecode="01:00:00:00")
    return path


def ffmpeg(*args: str | Path) -> None:
    """The ffmpeg command line (quiet), for files PyAV does not make: interlaced flags, timescales, stream marks."""
    import shutil
    import subprocess

    exe = shutil.which("ffmpeg")
    assert exe is not None, "ffmpeg is not on PATH: `make system-deps` installs it"
    subprocess.run([exe, "-nostdin", "-v", "error", "-y", *map(str, args)], check=True)


def test_h264_round_trip_is_frame_exact(h264: Path, clip: np.ndarray) -> None:
    info = probe(h264)
    assert (info.kind, info.codec, info.width, info.height) == ("movie", "h264", 320, 180)
    assert info.fps == Fraction(24) and info.timecode == "01:00:00:00"
    assert (info.frame_count, info.first_frame, info.last_frame) == (48, 0, 47)
    assert info.pix_fmt == "yuv420p" and info.color_range == "tv" and info.size_bytes == h264.stat().st_size

    frames = list(read_frames(h264))
    assert [f.number for f in frames] == list(range(48))
    assert all(f.rgb.shape == (180, 320, 3) and f.rgb.dtype == np.float32 for f in frames)
    # every decoded frame matches its own source frame (not a neighbour): frame-exact, in order
    for f in frames:
        own = psnr(f.rgb, clip[f.number])
        assert own > 33, f"frame {f.number}: {own:.1f} dB"
        if f.number:
            assert own > psnr(f.rgb, clip[f.number - 1]) + 3


def test_uint8_path_and_clip_agree_with_float_path(h264: Path) -> None:
    u8 = [f for f in read_frames_uint8(h264, 10, 13)]
    clip = read_clip(h264, 10, 13)
    assert [f.number for f in u8] == [10, 11, 12, 13] and clip.shape == (4, 180, 320, 3)
    assert u8[0].rgb.dtype == np.uint8
    # the uint8 fast path uses swscale's fast rounding: within ~2 code values of the accurate float path
    assert np.abs(u8[0].rgb / 255.0 - clip[0]).mean() < 2.5 / 255


def test_decoding_a_range_returns_exactly_those_frames(h264: Path) -> None:
    full = read_clip(h264)
    part = list(read_frames(h264, start=5, end=9))
    assert [f.number for f in part] == [5, 6, 7, 8, 9]
    for f in part:
        np.testing.assert_array_equal(f.rgb, full[f.number])
    assert [f.number for f in read_frames(h264, start=45)] == [45, 46, 47]


def test_seeking_far_into_a_movie_lands_on_the_right_frames(tmp_path: Path) -> None:
    frames = camera_move(photo("coffee"), 120, size=(160, 96), seed=2)
    path = tmp_path / "long.mp4"
    write_movie(path, frames, 25, options={"g": "12"})  # keyframes every 12 frames: a real seek happens
    full = read_clip(path)
    assert full.shape[0] == 120 == probe(path).frame_count
    part = list(read_frames(path, start=83, end=101))
    assert [f.number for f in part] == list(range(83, 102))
    for f in part:
        np.testing.assert_array_equal(f.rgb, full[f.number])


def test_movie_numbers_can_start_at_a_given_first_frame(h264: Path) -> None:
    assert probe(h264, first_frame=1001).last_frame == 1048
    numbers = [f.number for f in read_frames(h264, 1001, 1003, first_frame=1001)]
    assert numbers == [1001, 1002, 1003]


def test_prores_422_hq_round_trip(tmp_path: Path, clip: np.ndarray) -> None:
    path = tmp_path / "sh010_finish.mov"
    with MovieWriter(path, Fraction(24000, 1001), 320, 180, codec="prores", timecode="00:59:58:12") as w:
        for rgb in clip[:12]:
            w.write(rgb)
    info = probe(path)
    assert (info.codec, info.pix_fmt, info.frame_count) == ("prores", "yuv422p10le", 12)
    assert info.fps == Fraction(24000, 1001) and info.timecode == "00:59:58:12"
    decoded = read_clip(path)
    assert decoded.shape == (12, 180, 320, 3)
    assert min(psnr(d, s) for d, s in zip(decoded, clip[:12], strict=True)) > 38


def test_a_prores_4444_of_an_odd_sized_plate_has_no_grey_blocks(tmp_path: Path) -> None:
    """A 161x91 plate's ProRes came back with flat grey blocks at rows 31 and 62 (swscale's threaded slices on
    an odd size), while ffmpeg's own conversion of the same frames has none."""
    frames = [np.ascontiguousarray(photo(name)[100:191, 100:261]) for name in ("coffee", "astronaut")]
    path = tmp_path / "odd.mov"
    with MovieWriter(path, 24, 161, 91, codec="prores", pix_fmt="yuv444p10le") as writer:
        for rgb in frames:
            writer.write(rgb)
    decoded = read_clip(path)
    assert decoded.shape == (2, 91, 161, 3)
    worst = max(float(np.abs(d - s).max()) for d, s in zip(decoded, frames, strict=True))
    assert worst < 0.1, worst  # a block of grey where the picture is coloured misses by far more


def test_ffv1_is_lossless_and_counted_without_an_index(tmp_path: Path, clip: np.ndarray) -> None:
    src = (clip[:6] * 255 + 0.5).astype(np.uint8)
    path = write_movie(tmp_path / "plate.mkv", src, 25, codec="ffv1", timecode="10:00:00:00")
    info = probe(path)
    assert (info.codec, info.frame_count, info.timecode, info.fps) == ("ffv1", 6, "10:00:00:00", Fraction(25))
    for f in read_frames_uint8(path):
        np.testing.assert_array_equal(f.rgb, src[f.number])


def test_drop_frame_timecode_at_2997_reads_back(tmp_path: Path, clip: np.ndarray) -> None:
    path = write_movie(tmp_path / "ntsc.mov", clip[:3], Fraction(30000, 1001), timecode="01:00:00;00")
    info = probe(path)
    assert info.timecode == "01:00:00;00" and info.fps == Fraction(30000, 1001)


def test_odd_sizes_are_padded_for_h264(tmp_path: Path, clip: np.ndarray) -> None:
    odd = clip[:2, :179, :319]
    info = probe(write_movie(tmp_path / "odd.mp4", odd, 24))
    assert (info.width, info.height, info.frame_count) == (320, 180, 2)
    with pytest.raises(MediaError, match="even dimensions"):
        MovieWriter(tmp_path / "odd2.mp4", 24, 319, 179, pad_odd=False)


def test_a_failed_write_leaves_no_file_behind(tmp_path: Path, clip: np.ndarray) -> None:
    path = tmp_path / "review.mp4"
    with pytest.raises(RuntimeError), MovieWriter(path, 24, 320, 180) as w:
        w.write(clip[0])
        raise RuntimeError("render crashed")
    with pytest.raises(MediaError, match="does not fit"), MovieWriter(path, 24, 320, 180) as w:
        w.write(clip[0, :100])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"codec": "prores", "path": "x.mp4"}, "cannot go into"),
        ({"codec": "vp9"}, "unknown codec"),
        ({"path": "x.avi"}, "extension"),
        ({"timecode": "25:99:00:00"}, "out of range"),
    ],
)
def test_writer_refuses_bad_settings_clearly(tmp_path: Path, kwargs: dict[str, str], reason: str) -> None:
    path = tmp_path / kwargs.pop("path", "x.mp4")
    with pytest.raises(MediaError, match=reason):
        MovieWriter(path, 24, 64, 64, **kwargs)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("x264", "scan"),
    [("interlaced=1:tff=1", "top field first"), ("interlaced=1:bff=1", "bottom field first"), ("", None)],
)
def test_probe_says_whether_a_movie_is_interlaced_and_which_field_comes_first(
    tmp_path: Path, clip: np.ndarray, x264: str, scan: str | None
) -> None:
    path = tmp_path / "scan.mp4"
    write_movie(path, clip, 25, options={"x264-params": x264} if x264 else None)

    assert probe(path).interlaced == scan


@pytest.mark.parametrize(("setfield", "scan"), [("tff", "top field first"), ("bff", "bottom field first")])
@pytest.mark.parametrize("codec", ["prores_ks", "mpeg2video"])
def test_an_interlaced_movie_from_the_ffmpeg_program_reads_in_its_field_order(
    tmp_path: Path, setfield: str, scan: str, codec: str
) -> None:
    """ProRes in a .mov from the ffmpeg program says TFF as `fiel` detail 9 (FFmpeg's TB: interleaved fields, top
    first, Apple TN2162), which used to read as bottom field first; MPEG-2 says it in its own headers."""
    path = tmp_path / ("tape.mov" if codec == "prores_ks" else "tape.mpg")
    source = "testsrc2=size=64x48:rate=25:duration=0.12"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        source,
        "-vf",
        f"setfield={setfield}",
        "-c:v",
        codec,
        "-flags",
        "+ilme+ildct",
        path,
    )

    assert probe(path).interlaced == scan


def test_a_movie_keeps_the_colour_tags_it_is_written_with_and_its_pixels_read_back(
    tmp_path: Path, clip: np.ndarray
) -> None:
    from engine.media.info import ColourTags

    hlg = ColourTags(primaries=9, transfer=18, matrix=9)  # BT.2020 with HLG: a phone's HDR video
    write_movie(tmp_path / "hlg.mov", clip[:4], 25, codec="prores", colour=hlg)
    write_movie(tmp_path / "plain.mp4", clip[:4], 25)

    assert probe(tmp_path / "hlg.mov").colour == hlg
    with av.open(str(tmp_path / "hlg.mov")) as movie:  # ProRes's own frame header says it too, as readers use
        frame = next(movie.decode(video=0))
        assert (frame.color_primaries, frame.color_trc, frame.colorspace) == (9, 18, 9)
    assert probe(tmp_path / "plain.mp4").colour == ColourTags(1, 1, 1)  # written as BT.709, tagged so
    back = read_clip(tmp_path / "hlg.mov")
    assert psnr(back, clip[:4]) > 38  # through BT.2020's matrix and back (read with BT.709's: 35.7)


def test_a_dnxhr_movie_tagged_bt2020_only_in_its_container_reads_back_through_bt2020(
    tmp_path: Path, clip: np.ndarray
) -> None:
    # DNxHR's frames carry no matrix (its decoder says BT.709): a BT.2020 plate was read as BT.709 and a fix written
    # back as BT.2020, shifting the colour of every pixel it did not touch
    from engine.media.info import ColourTags

    pq = ColourTags(primaries=9, transfer=16, matrix=9)
    path = write_movie(tmp_path / "hdr.mov", clip[:3, :144, :256], 24, codec="dnxhr", colour=pq)
    assert probe(path).colour == pq
    with av.open(str(path)) as movie:
        assert next(movie.decode(video=0)).colorspace != 9  # what the decoder alone says
    assert psnr(read_clip(path), clip[:3, :144, :256]) > 37  # 37.9; read with BT.709's matrix: 35.1


def test_probe_finds_the_frames_a_recorder_dropped_from_the_timestamps(tmp_path: Path) -> None:
    from tests import footage

    gappy = footage.movie_with_gaps(tmp_path / "screen.mp4", [0, 1, 2, 5, 6, 7, 8, 12, 13])
    info = probe(gappy, first_frame=1001)

    assert info.frame_count == 9 and info.dropped == [(1003, 2), (1009, 3)]  # along the timeline from 1001
    assert info.missing_frames == [1004, 1005, 1010, 1011, 1012] and (info.fps, info.last_frame) == (24, 1014)
    assert [f.number for f in read_frames(info)] == [1001, 1002, 1003, 1006, 1007, 1008, 1009, 1013, 1014]
    assert [f.number for f in read_frames(info, 1005, 1010)] == [1006, 1007, 1008, 1009]
    assert [f.number for f in read_frames(gappy)] == list(range(9))  # a path alone: numbered as decoded
    steady = footage.movie_with_gaps(tmp_path / "camera.mp4", list(range(12)))
    assert probe(steady).dropped == []


def test_a_movie_trimmed_without_re_encoding_reads_as_the_frames_its_edit_list_shows(
    tmp_path: Path, clip: np.ndarray
) -> None:
    from tests import footage

    whole = tmp_path / "whole.mp4"
    write_movie(whole, clip, 24)
    trimmed = footage.trimmed(whole, tmp_path / "trimmed.mp4", preroll=5)
    info = probe(trimmed)  # its index still counts the 5 hidden frames: not a truncated file

    assert (info.frame_count, info.last_frame, info.missing_frames) == (len(clip) - 5, len(clip) - 6, [])
    shown = np.stack([f.rgb for f in read_frames(info)])
    assert psnr(shown, clip[5:]) > 35


def test_a_movie_whose_picture_size_changes_midway_is_read_at_its_first_size(tmp_path: Path) -> None:
    from tests import footage

    wide = footage.remuxed(footage.movie(tmp_path / "a.mp4", n=6, size=(160, 96)), tmp_path / "a.ts")
    small = footage.remuxed(footage.movie(tmp_path / "b.mp4", n=6, size=(96, 64)), tmp_path / "b.ts")
    spliced = tmp_path / "spliced.ts"  # two recordings spliced, as a capture of a resized window ends up
    spliced.write_bytes(wide.read_bytes() + small.read_bytes())

    info = probe(spliced)  # it used to be refused: "frame 6 decodes to 96x64, not 160x96"

    assert (info.width, info.height, info.frame_count) == (160, 96, 12)
    assert {f.rgb.shape for f in read_frames(info)} == {(96, 160, 3)}


def test_soft_telecines_long_steps_and_a_variable_rates_jitter_are_no_gaps() -> None:
    from fractions import Fraction

    from engine.media.probe import timeline_drift, timestamp_gaps

    telecine = [0, 3003, 7507, 10510, 15014, 18017]  # steps of 1 and 1.5 frames at 29.97 (90 kHz)
    jitter = [0, 33, 67, 99, 134, 166, 201, 233]  # a phone's 30 fps in milliseconds

    assert timestamp_gaps(telecine) == [] and timestamp_gaps(jitter) == []
    # their frames stay within a quarter of a frame of a constant rate: nothing to place again
    assert timeline_drift(telecine, Fraction(1, 90000), Fraction(24000, 1001), []) < Fraction(1, 100)
    assert timeline_drift(jitter, Fraction(1, 1000), Fraction(30), []) < Fraction(1, 100)
    assert timestamp_gaps([0, 33, 67, 133, 167]) == [(2, 1)]  # one frame dropped: a step of 2


@pytest.mark.parametrize("slower", [24, 25])
def test_a_phone_clip_whose_rate_changes_mid_take_keeps_each_frame_within_half_a_frame_of_its_time(
    tmp_path: Path, slower: int
) -> None:
    """30 fps for a second, then 24: no step is a gap, so the clip was written at its average 27.8 fps and the
    frame shown at 1.000 s came 79 ms late against its sound. On a 30 fps timeline with a slot left where the
    slower frames leave one, every frame is in the slot nearest its own time, and the slots are said to be the
    rate change's, not frames dropped."""
    from fractions import Fraction

    import av

    clip = tmp_path / "vfr.mp4"
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=30:duration=1"),
        *("-f", "lavfi", "-i", f"testsrc2=size=64x48:rate={slower}:duration=1"),
        *("-filter_complex", "[0:v]settb=1/90000[a];[1:v]settb=1/90000[b];[a][b]concat=n=2:v=1:a=0[v]"),
        *("-map", "[v]", "-fps_mode", "vfr", "-c:v", "libx264", "-pix_fmt", "yuv420p", clip),
    )
    info = probe(clip)
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        stamps = [
            int(p.pts) for p in container.demux(stream) if p.size and p.pts is not None and not p.is_discard
        ]
        time_base = Fraction(stream.time_base)
    assert (info.fps, len(info.missing_frames), info.rate_changed) == (30, 30 - slower, True)
    assert info.last_frame in (58, 59)  # about two seconds at 30 fps: the sound's length
    slots = sorted(set(range(info.last_frame + 1)) - set(info.missing_frames))
    drift = max(
        abs((s - min(stamps)) * time_base - Fraction(slot, 30))
        for s, slot in zip(sorted(stamps), slots, strict=True)
    )
    assert drift <= Fraction(1, 60)  # half a frame at most


PHONE_TAGS = {
    "com.apple.quicktime.make": "Apple",
    "com.apple.quicktime.model": "iPhone 15 Pro",
    "com.apple.quicktime.location.ISO6709": "+51.5072-000.1276/",
    "creation_time": "2026-11-30T10:00:00.000000Z",
}


@pytest.mark.parametrize("name", ["take.mov", "take.mp4", "take.mkv"])
def test_a_movies_footage_tags_are_read_and_written_again_and_the_muxers_own_left_out(
    tmp_path: Path, name: str, clip: np.ndarray
) -> None:
    write_movie(tmp_path / name, clip[:3], 24, tags=PHONE_TAGS)

    tags = probe(tmp_path / name).tags

    assert {key.lower(): value for key, value in tags.items()} == {
        k.lower(): v for k, v in PHONE_TAGS.items()
    }
    assert probe(tmp_path / name).timecode is None  # no tag read as another fact


def test_the_software_tag_ffmpeg_writes_into_an_avi_is_the_muxers_own_and_left_out(
    tmp_path: Path, clip: np.ndarray
) -> None:
    path = tmp_path / "camera.avi"
    with av.open(str(path), "w") as movie:  # an old camera's MJPEG AVI, as FFmpeg rewrites it
        movie.metadata["comment"] = "card 3"
        stream = movie.add_stream("mjpeg", rate=24)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuvj422p"
        for rgb in clip[:3]:
            frame = av.VideoFrame.from_ndarray(np.round(rgb * 255).astype(np.uint8), format="rgb24")
            movie.mux(stream.encode(frame.reformat(format="yuvj422p")))
        movie.mux(stream.encode(None))

    assert probe(path).tags == {"comment": "card 3"}  # FFmpeg's "software" tag (Lavf...) is not the footage's


@pytest.mark.parametrize(
    ("pix_fmt", "profile"),
    [("yuv422p10le", "DNXHR HQX"), ("yuv444p10le", "DNXHR 444"), ("yuv422p", "DNXHR HQ")],
)
def test_dnxhr_for_avid_round_trips_in_mxf_with_its_timecode(
    tmp_path: Path, clip: np.ndarray, pix_fmt: str, profile: str
) -> None:
    import av

    path = write_movie(
        tmp_path / "A001C003.mxf",
        clip[:3, :144, :256],
        24,
        codec="dnxhr",
        pix_fmt=pix_fmt,
        timecode="10:00:00:00",
    )

    info = probe(path)
    assert (info.codec, info.pix_fmt, info.frame_count, info.timecode) == ("dnxhd", pix_fmt, 3, "10:00:00:00")
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.profile == profile
    assert psnr(read_clip(path), clip[:3, :144, :256]) > 35  # an intermediate codec at its fixed rate


@pytest.mark.parametrize("timecode", ["10:00:00:00", None])
def test_an_mxf_keeps_its_reel_as_the_tape_avid_conforms_by(
    tmp_path: Path, clip: np.ndarray, timecode: str | None
) -> None:
    path = write_movie(
        tmp_path / "A001C003.mxf", clip[:2, :144, :256], 24, codec="dnxhr", timecode=timecode, reel="A001R2AB"
    )

    info = probe(path)
    assert info.reel == "A001R2AB"
    assert info.timecode == (timecode or "00:00:00:00")  # an MXF always has one
    with av.open(str(path)) as container:  # the tape (physical source package) the file's package refers to
        assert container.streams.video[0].metadata["reel_name"] == "A001R2AB"


@pytest.mark.parametrize("codec", ["dnxhr", "prores"])
def test_an_mxf_refuses_a_rate_it_cannot_hold_in_one_line(
    tmp_path: Path, clip: np.ndarray, codec: str
) -> None:
    with pytest.raises(
        MediaError,
        match=r"an MXF holds only film and broadcast rates \(23.976, .*\), not 12 fps: write a .mov",
    ):
        write_movie(tmp_path / "timelapse.mxf", clip[:2, :144, :256], 12, codec=codec)
    assert list(tmp_path.iterdir()) == []  # nothing left behind
    for rate in (Fraction(24000, 1001), 25, Fraction(60000, 1001), 120):
        assert (
            probe(
                write_movie(tmp_path / f"{float(rate):.3f}.mxf", clip[:2, :144, :256], rate, codec=codec)
            ).fps
            == rate
        )


def test_dnxhr_refuses_frames_smaller_than_its_encoder_takes_in_one_line(
    tmp_path: Path, clip: np.ndarray
) -> None:
    with pytest.raises(MediaError, match="DNxHR takes frames of at least 256x120, not 128x72: write ProRes"):
        write_movie(tmp_path / "small.mxf", clip[:2, :72, :128], 24, codec="dnxhr")


@pytest.mark.parametrize("name", ["shot.mp4", "shot.mov", "shot.mxf"])
def test_a_movie_keeps_its_shots_timing_over_holes_held_and_pauses_left_empty(
    tmp_path: Path, clip: np.ndarray, name: str
) -> None:
    codec = "h264" if name.endswith(".mp4") else "prores"
    numbers = [0, 1, 2, 5, 6, *range(60, 64)]  # 3-4 dropped: held; 7-59 (53 frames, over 2 s) a pause
    with MovieWriter(tmp_path / name, 24, 320, 180, codec) as writer:
        for number in numbers:
            writer.write_at(number, clip[number % len(clip)])

    info = probe(tmp_path / name)

    assert info.last_frame == 63 and info.duration_seconds == pytest.approx(64 / 24)  # the shot's length
    if name.endswith(".mxf"):  # MXF holds a frame at every frame time: the pause is held too
        assert info.frame_count == 64 and info.dropped == []
    else:
        assert info.frame_count == 11 and info.dropped == [(6, 53)] and info.fps == 24
        shown = {f.number: f.rgb for f in read_frames(info)}
        assert psnr(shown[60], clip[60 % len(clip)]) > 35 and psnr(shown[3], clip[2]) > 35  # 2 held over 3
    with (
        pytest.raises(MediaError, match="frames must ascend"),
        MovieWriter(tmp_path / "bad.mp4", 24, 320, 180) as bad,
    ):
        bad.write_at(5, clip[0])
        bad.write_at(4, clip[1])


def test_a_frame_held_over_a_hole_is_the_one_written_even_if_the_callers_buffer_changes_after(
    tmp_path: Path, clip: np.ndarray
) -> None:
    buffer = clip[0].copy()  # a pipeline that reuses one frame buffer
    with MovieWriter(tmp_path / "held.mov", 24, 320, 180, "prores") as writer:
        writer.write_at(1001, buffer)
        buffer[:] = 0
        writer.write_at(1003, clip[2])  # 1002 is missing: 1001 is held over it

    back = read_clip(tmp_path / "held.mov")
    assert len(back) == 3 and psnr(back[1], clip[0]) > 35


@pytest.mark.parametrize(
    ("name", "scan"),
    [
        ("tape.mov", "top field first"),
        ("tape.mov", "bottom field first"),
        ("tape.mxf", "top field first"),
        ("tape.mp4", "bottom field first"),
    ],
)
def test_an_interlaced_movie_written_says_its_field_order_and_its_frames_are_coded_so(
    tmp_path: Path, clip: np.ndarray, name: str, scan: str
) -> None:
    # ProRes coded an interlaced daily's fix as progressive frames (the .mov's fiel atom saying separated fields,
    # the frames progressive; an .mxf said progressive altogether): it would not conform back into a 1080i edit
    codec = "h264" if name.endswith(".mp4") else "prores"
    write_movie(tmp_path / name, clip[:3], 25, codec=codec, scan=scan)

    coded = subprocess.run(  # each frame's own flags, as a decoder (and an NLE) reads them
        ["ffprobe", "-v", "error", "-read_intervals", "%+#1", "-show_entries", "frame=interlaced_frame,top_field_first",
         "-of", "csv=p=0", str(tmp_path / name)],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert [line.rstrip(",") for line in coded] == ["1,1" if scan == "top field first" else "1,0"]
    with av.open(str(tmp_path / name)) as movie:
        stream = movie.streams.video[0]
        if name.endswith(
            ".mov"
        ):  # interleaved fields: TB (4) for top first, BT (5) for bottom, as a source's
            assert stream.codec_context.field_order == (4 if scan == "top field first" else 5)
    if not name.endswith(".mxf"):  # FFmpeg's MXF muxer describes ProRes frames as progressive all the same
        assert probe(tmp_path / name).interlaced == scan
    assert probe(write_movie(tmp_path / "plain.mp4", clip[:3], 25)).interlaced is None


@pytest.mark.parametrize(
    ("rate", "timescale", "extra"),
    [
        ("30000/1001", "600", ["-timecode", "01:00:00;00"]),
        ("24000/1001", "90000", ["-bf", "2"]),
        ("29975/1000", "29975", ["-bf", "0"]),  # a stream whose own rate is odd keeps it
    ],
)
def test_an_ntsc_rate_in_a_coarse_or_fine_timescale_is_read_as_that_rate(
    tmp_path: Path, rate: str, timescale: str, extra: list[str]
) -> None:
    """29.97 in QuickTime's 600 timescale (frames of 20 and 21 units) averaged 36000/1201: fixes were written at
    that rate and its drop-frame timecode was refused; 23.976 with B-frames in 90000 read as 8640000/360361."""
    path = tmp_path / "ntsc.mov"
    source = f"testsrc2=size=64x48:rate={rate}:duration=2"
    h264 = ["-c:v", "libx264", "-pix_fmt", "yuv420p"]
    ffmpeg("-f", "lavfi", "-i", source, *h264, "-video_track_timescale", timescale, *extra, path)
    info = probe(path)
    assert info.fps == Fraction(rate) and info.frame_count in (47, 48, 59, 60)  # about 2 s
    if extra[0] == "-timecode":
        assert info.timecode == "01:00:00;00"


@pytest.mark.parametrize("default", ["0", "1"])
def test_of_two_video_streams_the_picture_ffmpeg_would_take_is_the_daily(
    tmp_path: Path, default: str
) -> None:
    """A small second picture (a proxy, a slate) muxed first was read as the daily: ingest catalogued it and a
    fix rendered it, silently. The larger one is read, whichever of them the file marks default."""
    path = tmp_path / "two.mov"
    main, proxy = "testsrc2=size=64x48:rate=24:duration=0.5", "color=red:size=32x32:rate=24:duration=0.25"
    marks = ["-disposition:v:0", "0", "-disposition:v:1", "default"] if default == "1" else []
    inputs = ["-f", "lavfi", "-i", main, "-f", "lavfi", "-i", proxy, "-map", "1", "-map", "0"]
    ffmpeg(*inputs, "-c:v", "libx264", "-pix_fmt", "yuv420p", *marks, path)
    info = probe(path)
    assert (info.width, info.height, info.frame_count) == (64, 48, 12)
    assert len(list(read_frames(path))) == 12
