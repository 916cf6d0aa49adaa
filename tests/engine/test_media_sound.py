"""A daily's sync sound carried into a movie made from its frames: on the same frame, cut at the last one."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from engine.media import MediaError, probe, read_clip, write_movie
from engine.media.audio import SoundSpan
from tests import footage

ONE_MS = 0.001


def _frames_of(path: Path) -> list:
    return list(read_clip(str(path)))


@pytest.mark.parametrize(
    ("suffix", "codec", "sound_codec"),
    [
        (".mov", "prores", "pcm_s24le"),
        (".mkv", "h264", "pcm_s24le"),
        (".mxf", "prores", "pcm_s24le"),
        (".mp4", "h264", "aac"),
    ],
)
def test_a_movie_made_from_a_dailys_frames_keeps_its_clap_on_the_same_frame(
    tmp_path: Path, suffix: str, codec: str, sound_codec: str
) -> None:
    daily = footage.movie_with_sound(tmp_path / "A001C003.mov", 24, clap_at=0.5, rate=44100)

    out = write_movie(tmp_path / f"fixed{suffix}", _frames_of(daily), 24, codec=codec, sound=SoundSpan(daily))

    sound = probe(str(out)).sound
    assert sound is not None and sound.codec == sound_codec and sound.channels == 2
    assert sound.sample_rate == (48000 if suffix == ".mxf" else 44100)  # MXF holds 48 kHz PCM only
    assert abs(footage.clap_time(out) - 0.5) < ONE_MS
    samples, got_rate = footage.sound_of(out)
    assert samples.shape[1] / got_rate == pytest.approx(
        1.0, abs=0.03
    )  # as long as the frames (AAC pads a block)


@pytest.mark.parametrize("starts", [0.25, -0.25])
def test_sound_that_starts_after_or_before_the_first_frame_stays_in_sync(
    tmp_path: Path, starts: float
) -> None:
    daily = footage.movie_with_sound(
        tmp_path / "phone.mp4", 24, clap_at=0.5, sound_starts=starts, codec="aac"
    )

    out = write_movie(tmp_path / "fixed.mov", _frames_of(daily), 24, codec="prores", sound=SoundSpan(daily))

    assert abs(footage.clap_time(out) - 0.5) < ONE_MS
    samples, rate = footage.sound_of(out)
    if starts > 0:  # silence where the daily had no sound yet, so the clap stays on its frame
        assert abs(samples[:, : int(0.2 * rate)]).max() == 0.0


def test_a_span_from_a_later_frame_starts_the_sound_there(tmp_path: Path) -> None:
    daily = footage.movie_with_sound(tmp_path / "A001C003.mov", 24, clap_at=0.5)

    frames = _frames_of(daily)[6:]
    out = write_movie(
        tmp_path / "tail.mov", frames, 24, codec="prores", sound=SoundSpan(daily, Fraction(6, 24))
    )

    assert abs(footage.clap_time(out) - 0.25) < ONE_MS


def test_sound_longer_than_the_frames_ends_with_the_last_frame(tmp_path: Path) -> None:
    daily = footage.movie_with_sound(tmp_path / "A001C003.mov", 12, clap_at=0.25, seconds=3.0)

    out = write_movie(tmp_path / "fixed.mov", _frames_of(daily), 24, codec="prores", sound=SoundSpan(daily))

    samples, rate = footage.sound_of(out)
    assert samples.shape[1] == rate // 2  # 12 frames at 24 fps


def test_a_silent_movie_has_no_sound_to_carry(tmp_path: Path) -> None:
    silent = footage.movie(tmp_path / "silent.mov", 4)

    assert probe(str(silent)).sound is None
    with pytest.raises(MediaError, match="has no sound to carry"):
        write_movie(tmp_path / "out.mov", _frames_of(silent), 24, sound=SoundSpan(silent))
    assert not (tmp_path / "out.mov").exists()


def test_a_damaged_stretch_of_sound_becomes_silence_and_the_rest_stays_on_its_frames(tmp_path: Path) -> None:
    daily = footage.movie_with_sound(tmp_path / "phone.mp4", 24, clap_at=0.5, codec="aac")
    with av.open(str(daily)) as container:
        packets = [(p.pos, p.size) for p in container.demux(container.streams.audio[0]) if p.size]
    data = bytearray(daily.read_bytes())
    for pos, size in packets[3:6]:  # three AAC blocks, before the clap, that no decoder takes
        data[pos : pos + size] = b"\xff" * size
    daily.write_bytes(bytes(data))

    out = write_movie(tmp_path / "fixed.mov", _frames_of(daily), 24, codec="prores", sound=SoundSpan(daily))

    assert abs(footage.clap_time(out) - 0.5) < ONE_MS
    samples, rate = footage.sound_of(out)
    assert samples.shape[1] == rate  # the damaged blocks' time is kept, as silence


def test_sound_no_decoder_reads_leaves_the_movie_silent_to_rushes_and_its_frames_fixable(
    tmp_path: Path,
) -> None:
    daily = footage.movie_with_sound(tmp_path / "A001C003.mov", 12)
    data = daily.read_bytes()
    daily.write_bytes(data.replace(b"in24", b"zzzz", 1))  # a sound codec FFmpeg does not know

    info = probe(str(daily))

    assert info.sound is not None and (info.sound.streams, info.sound.unreadable) == (0, 1)
    assert info.frame_count == 12


def test_every_microphones_track_goes_into_a_mov_and_the_first_into_a_review_mp4(tmp_path: Path) -> None:
    daily = footage.movie_with_sound(tmp_path / "A001C003.mov", 24, clap_at=0.5, layout="mono", tracks=3)
    frames = _frames_of(daily)

    mov = write_movie(tmp_path / "fixed.mov", frames, 24, codec="prores", sound=SoundSpan(daily))
    mp4 = write_movie(tmp_path / "review.mp4", frames, 24, sound=SoundSpan(daily))

    assert probe(str(daily)).sound.streams == 3  # type: ignore[union-attr]
    assert probe(str(mov)).sound.streams == 3  # type: ignore[union-attr]
    for track in range(3):  # in order, each on its frames
        samples, _ = footage.sound_of(mov, track)
        assert abs(float(np.abs(samples).max()) - 0.5 / 2**track) < 0.01
    assert probe(str(mp4)).sound.streams == 1  # type: ignore[union-attr]
    assert abs(footage.clap_time(mp4) - 0.5) < ONE_MS


def test_a_review_mp4_carries_the_first_track_that_holds_sound_past_an_empty_one(tmp_path: Path) -> None:
    # a camera's disabled input: a first sound track with no samples, the sound in the second
    daily = footage.movie_with_sound(tmp_path / "A001C003.mkv", 24, clap_at=0.5, tracks=2, empty=0)

    mp4 = write_movie(tmp_path / "review.mp4", _frames_of(daily), 24, sound=SoundSpan(daily))

    assert abs(footage.clap_time(mp4) - 0.5) < ONE_MS  # the review is heard, the clap on its frame


@pytest.mark.parametrize(("only", "level"), [(None, 0.5), (3, 0.5 / 8)])
def test_a_recorders_eight_microphones_are_mixed_into_a_review_mp4_none_dropped_none_clipped(
    tmp_path: Path, only: int | None, level: float
) -> None:
    # one 8-channel stream (FFmpeg reads it as 7.1): the same dialogue on every microphone, or the fourth alone
    daily = footage.movie_with_sound(tmp_path / "A001C003.mov", 24, clap_at=0.5, layout="7.1", only=only)

    mp4 = write_movie(tmp_path / "review.mp4", _frames_of(daily), 24, sound=SoundSpan(daily))

    samples, _ = footage.sound_of(mp4)
    assert samples.shape[0] == 2
    for side in samples:  # every microphone in equal measure on both sides, at its level, never clipped
        assert float(np.abs(side).max()) == pytest.approx(level, rel=0.1)


@pytest.mark.parametrize("suffix", [".mov", ".mkv"])
def test_each_track_keeps_its_language_and_name_and_probe_counts_the_subtitles_a_fix_leaves_out(
    tmp_path: Path, suffix: str
) -> None:
    recorded = footage.movie_with_sound(tmp_path / "recorded.mov", 12, layout="mono", tracks=2)
    daily = footage.named_with_subtitles(
        recorded, tmp_path / f"A001C003{suffix}", [("eng", "Boom"), ("fra", "Lav1")]
    )
    frames = _frames_of(daily)

    mov = write_movie(tmp_path / "fixed.mov", frames, 24, codec="prores", sound=SoundSpan(daily))
    mkv = write_movie(tmp_path / "fixed.mkv", frames, 24, sound=SoundSpan(daily))

    for out, name_key in ((mov, "handler_name"), (mkv, "title")):  # where each container keeps a track's name
        with av.open(str(out)) as container:
            tracks = [(s.metadata.get("language"), s.metadata.get(name_key)) for s in container.streams.audio]
        assert tracks == [("eng", "Boom"), ("fra", "Lav1")]  # editorial still chooses the lav by its name
    assert probe(str(daily)).subtitles == 1  # what `rushes probe` and `rushes fix` say a fix leaves out
    assert probe(str(mov)).subtitles == probe(str(mkv)).subtitles == 0


def test_sound_whose_channel_layout_pyav_cannot_handle_is_left_out_without_bringing_the_process_down(
    tmp_path: Path,
) -> None:
    daily = footage.movie_with_unreadable_sound(tmp_path / "A001C003.mov")

    sound = probe(str(daily)).sound  # reading its layout here would abort the test process (PyAV 18.1.0)

    # left out where the PyAV installed cannot read it (18.1.0 aborts), carried where it can (18.1.1 mends it)
    assert sound is not None and (sound.streams, sound.unreadable) in ((0, 1), (1, 0))
    assert sound.unreadable or sound.channels == 8
    assert len(_frames_of(daily)) == 12  # its frames are read all the same
    assert probe(str(daily), sound=False).sound is None  # a caller of frames only (training) reads no sound


def test_sound_timed_in_milliseconds_comes_out_sample_for_sample(tmp_path: Path) -> None:
    daily = footage.movie_with_sound(tmp_path / "A001C003.mkv", 48, clap_at=0.1, rate=44100)  # ms timestamps

    out = write_movie(tmp_path / "fixed.mov", _frames_of(daily), 24, codec="prores", sound=SoundSpan(daily))

    source, _ = footage.sound_of(daily)
    carried, _ = footage.sound_of(out)
    assert carried.shape == source.shape
    assert np.array_equal(carried, source)  # no sample dropped or doubled where a packet's time was rounded


def test_sound_timed_an_hour_after_the_frames_is_silence_made_only_as_far_as_needed(tmp_path: Path) -> None:
    import tracemalloc

    daily = footage.movie_with_sound(tmp_path / "A001C003.mov", 24, sound_starts=3600.0, seconds=1.0)
    frames = _frames_of(daily)

    tracemalloc.start()
    try:
        out = write_movie(tmp_path / "fixed.mov", frames, 24, codec="prores", sound=SoundSpan(daily))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    samples, rate = footage.sound_of(out)
    assert samples.shape[1] == rate and not samples.any()  # a second of silence under the second of frames
    assert peak < 200 * 2**20  # an hour of silence held at once would be 1.4 GB for two channels
