"""Codec threads: RUSHES_CODEC_THREADS caps the threads FFmpeg's encoders and decoders start (a one-CPU Ray
task sets it to 1), and the movie written and read back is the same either way."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from engine.media import MovieWriter, read_frames_uint8
from engine.media.threads import CODEC_THREADS_ENV, codec_threads
from engine.synth import camera_move, photo


def os_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def encode_counting_threads(path: Path, clip: np.ndarray) -> int:
    """Write `clip` as H.264; the most OS threads this process had while the encoder was open, beyond those
    it had before."""
    before = most = os_threads()
    with MovieWriter(path, 24, clip.shape[2], clip.shape[1], "h264") as writer:
        for frame in clip:
            writer.write(frame)
            most = max(most, os_threads())
    return most - before


@pytest.mark.parametrize(
    ("text", "threads"), [("1", 1), ("3", 3), ("", 0), ("0", 0), ("auto", 0), (" 2 ", 2)]
)
def test_the_environment_sets_codec_threads_and_anything_else_lets_ffmpeg_pick(
    monkeypatch: pytest.MonkeyPatch, text: str, threads: int
) -> None:
    monkeypatch.setenv(CODEC_THREADS_ENV, text)
    assert codec_threads() == threads


def test_one_codec_thread_starts_no_encoder_threads_and_writes_the_same_movie(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clip = camera_move(photo("coffee"), 12, size=(320, 180), seed=3)
    monkeypatch.setenv(CODEC_THREADS_ENV, "1")
    extra_one = encode_counting_threads(tmp_path / "one.mp4", clip)
    monkeypatch.setenv(CODEC_THREADS_ENV, "4")
    extra_four = encode_counting_threads(tmp_path / "four.mp4", clip)
    assert extra_one < extra_four, "four codec threads start more threads than one"
    assert extra_one <= 1, f"one codec thread: at most one thread of FFmpeg's own ({extra_one})"
    monkeypatch.setenv(CODEC_THREADS_ENV, "1")
    one = np.stack([f.rgb for f in read_frames_uint8(tmp_path / "one.mp4")])
    four = np.stack([f.rgb for f in read_frames_uint8(tmp_path / "four.mp4")])
    assert one.shape == four.shape == (12, 180, 320, 3)
    assert np.abs(one.astype(int) - four.astype(int)).mean() < 1.0, "the same picture either way"
