"""OTIO clip timelines: built, written, read back; bad input gets one clear line."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from integrations.editorial import EditorialError, clip_timeline, read_timeline, write_timeline


def only_clip(timeline: otio.schema.Timeline) -> otio.schema.Clip:
    (clip,) = timeline.find_clips()
    return clip


def test_round_trip_keeps_media_range_and_timecode(tmp_path: Path) -> None:
    timeline = clip_timeline("sh010_denoise_r3", "/renders/sh010.mp4", 1001, 48, Fraction(25), "10:00:00:00")
    path = write_timeline(tmp_path / "sh010.otio", timeline)
    clip = only_clip(read_timeline(path))
    assert clip.name == "sh010_denoise_r3"
    assert clip.media_reference.target_url == "/renders/sh010.mp4"
    available = clip.media_reference.available_range
    assert available.duration == otio.opentime.RationalTime(48, 25)
    assert otio.opentime.to_timecode(available.start_time, 25) == "10:00:00:00"
    assert clip.source_range == available  # the clip uses the whole movie
    assert clip.metadata["rushes"]["first_frame"] == 1001
    assert clip.metadata["rushes"]["last_frame"] == 1048
    assert clip.metadata["rushes"]["fps"] == "25/1"
    assert [p.name for p in tmp_path.iterdir()] == ["sh010.otio"]  # no temporary file left


def test_drop_frame_timecode_at_29_97(tmp_path: Path) -> None:
    fps = Fraction(30000, 1001)
    timeline = clip_timeline("sh020", "/r/sh020.mp4", 0, 30, fps, "00:10:00;00")
    clip = only_clip(read_timeline(write_timeline(tmp_path / "sh020.otio", timeline)))
    start = clip.media_reference.available_range.start_time
    assert start.value == 17982  # ten drop-frame minutes
    assert otio.opentime.to_timecode(start, start.rate, True) == "00:10:00;00"


@pytest.mark.parametrize(
    ("fps", "timecode", "frame"),
    [
        (Fraction(15), "01:00:00:00", 54000),
        (Fraction(12), "00:00:01:11", 23),
        (Fraction(120), "01:00:00:119", 432119),
    ],
)
def test_timecode_at_a_rate_smpte_has_none_of_is_counted_as_the_camera_counts_it(
    tmp_path: Path, fps: Fraction, timecode: str, frame: int
) -> None:
    # OTIO takes timecode at SMPTE's rates alone: the daemon's fix of a 15 or 120 fps daily failed its .otio
    timeline = clip_timeline("sh130", "/r/sh130.mov", 0, 24, fps, timecode)
    clip = only_clip(read_timeline(write_timeline(tmp_path / "sh130.otio", timeline)))
    start = clip.media_reference.available_range.start_time
    assert (start.value, start.rate) == (frame, float(fps))
    with pytest.raises(EditorialError, match="does not fit 15 fps"):
        clip_timeline("sh130", "/r/sh130.mov", 0, 24, Fraction(15), "01:00:00:15")  # no frame 15 in a second


def test_without_timecode_the_media_starts_at_its_first_frame() -> None:
    clip = only_clip(clip_timeline("sh030", "/r/sh030.mp4", 1001, 10, Fraction(24), None))
    start = clip.media_reference.available_range.start_time
    assert (start.value, start.rate) == (1001, 24)
    assert clip.metadata["rushes"]["timecode"] is None


def test_rewrite_replaces_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sh010.otio"
    write_timeline(path, clip_timeline("a", "/r/a.mp4", 1, 5, Fraction(24), None))
    write_timeline(path, clip_timeline("b", "/r/b.mp4", 1, 7, Fraction(24), None))
    assert only_clip(read_timeline(path)).name == "b"


@pytest.mark.parametrize(
    ("count", "fps", "timecode", "message"),
    [
        (0, Fraction(24), None, "at least one"),
        (10, Fraction(0), None, "not positive"),
        (10, Fraction(24), "1 hour", "timecode '1 hour'"),
    ],
)
def test_bad_clip_is_refused(count: int, fps: Fraction, timecode: str | None, message: str) -> None:
    with pytest.raises(EditorialError, match=message):
        clip_timeline("sh010", "/r/sh010.mp4", 1001, count, fps, timecode)


def test_unreadable_files_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(EditorialError, match="does not exist"):
        read_timeline(tmp_path / "missing.otio")
    broken = tmp_path / "broken.otio"
    broken.write_text("{not json")
    with pytest.raises(EditorialError, match="not a readable OTIO file") as caught:
        read_timeline(broken)
    assert "\n" not in str(caught.value)
    clip_only = tmp_path / "clip.otio"
    clip_only.write_text(otio.adapters.write_to_string(otio.schema.Clip(name="x"), "otio_json"))
    with pytest.raises(EditorialError, match="not a timeline"):
        read_timeline(clip_only)
    with pytest.raises(EditorialError, match=r"must end in \.otio"):
        write_timeline(tmp_path / "sh010.edl", clip_timeline("a", "/r/a.mp4", 1, 5, Fraction(24), None))


def test_a_clip_with_sound_has_an_audio_track_and_goes_into_an_edl_by_its_reel(tmp_path: Path) -> None:
    timeline = clip_timeline(
        "sh010_denoise_r3", "/r/sh010.mp4", 1001, 48, Fraction(24), "14:02:11:05", reel="A003C012", sound=True
    )

    assert [track.kind for track in timeline.tracks] == ["Video", "Audio"]
    edl = otio.adapters.write_to_string(timeline, "cmx_3600")
    events = [line.split() for line in edl.splitlines() if line[:3].isdigit()]
    assert [(event[1], event[2], event[4]) for event in events] == [("A003C012", "V", "14:02:11:05")]
    again = read_timeline(write_timeline(tmp_path / "sh010.otio", timeline))
    assert [clip.metadata["rushes"]["reel"] for clip in again.find_clips()] == ["A003C012", "A003C012"]


def test_a_clip_with_a_deliverable_relinks_to_it_with_the_review_movie_beside_it(tmp_path: Path) -> None:
    fps = Fraction(24000, 1001)
    timeline = clip_timeline(
        "sh010_denoise_r3",
        "/r/sh010.mp4",
        0,
        24,
        fps,
        "00:59:59:12",
        sound=True,
        deliverable="/r/sh010_prores.mov",
    )

    again = read_timeline(write_timeline(tmp_path / "sh010.otio", timeline))
    for clip in again.find_clips():  # the picture and the sound alike: the ProRes holds both
        assert clip.media_reference.target_url == "/r/sh010_prores.mov"
        assert clip.media_references()["review"].target_url == "/r/sh010.mp4"
        available = clip.media_reference.available_range
        assert (otio.opentime.to_timecode(available.start_time, float(fps)), available.duration.value) == (
            "00:59:59:12",
            24,
        )


def test_exr_deliverable_frames_are_an_image_sequence_numbered_from_the_clips_first_frame(
    tmp_path: Path,
) -> None:
    timeline = clip_timeline(
        "sh030_interpolate_r3",
        "/r/sh030.mp4",
        1001,
        8,
        Fraction(25),
        "01:00:00:00",
        sound=True,
        deliverable="/r/sh030.####.exr",
    )

    again = read_timeline(write_timeline(tmp_path / "sh030.otio", timeline))
    video, audio = (track[0] for track in again.tracks)
    frames = video.media_reference
    assert isinstance(frames, otio.schema.ImageSequenceReference)
    assert (frames.target_url_for_image_number(0), frames.number_of_images_in_sequence()) == (
        "/r/sh030.1001.exr",
        8,
    )
    assert frames.frame_for_time(otio.opentime.from_timecode("01:00:00:07", 25)) == 1008  # the last frame
    assert video.media_references()["review"].target_url == "/r/sh030.mp4"
    assert audio.media_reference.target_url == "/r/sh030.mp4"  # frames hold no sound
