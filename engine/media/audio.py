"""A movie's sound, carried into a movie made from its frames (a fix keeps a daily's sync sound).

- `SoundInfo` / `sound_info(container)`: what probe reports of a movie's sound (MediaInfo.sound): its first
  audio stream that FFmpeg decodes, with its codec, sample rate and channels, and how many such streams it
  has; None for a silent movie.
- `SoundSpan(path, offset)`: the sound of the movie at `path` from `offset` seconds after its first video frame
  (the frame a fix numbers first); what MovieWriter(sound=) takes.
- `SoundCarrier`: MovieWriter's part. It adds an audio stream to the output and, as frames are written,
  `until(seconds)` brings the sound up to that moment of the output, so sound and frames interleave; `finish`
  ends it at the output's last frame.

Decisions:
- The sound is decoded and encoded again, not copied packet by packet: it is cut at the sample where the first
  frame starts (a copy can only cut at a packet, up to 40 ms off: a frame of lip sync), and gaps or a late
  start in the source's sound become silence, so sync holds.
- .mov, .mkv and .mxf get 24-bit PCM (lossless; what editorial expects), .mxf at 48 kHz (all it holds); .mp4
  gets AAC at 320 kb/s (what review players and trackers play), in the named layout of its channel count up
  to 5.1. More channels are a recorder's microphones as often as a surround mix (FFmpeg reads any 8-channel
  .mov stream as 7.1), so they are mixed in equal measure, their mean, into both sides of a stereo track:
  identical dialogue on every track keeps its level and never clips, and one microphone alone is still heard
  (FFmpeg's surround downmix dropped the fourth, taken for LFE, and summed the rest 10 dB louder, clipping).
- A packet of sound that cannot be decoded becomes silence, and a file cut short ends the sound there: a glitch
  in the sound never stops a fix of the frames.
- Each sound stream is read first in a child process (84 ms, once per file version in a process): PyAV 18.1
  aborts the whole process on some channel layouts (see _TRY_READING), and a daily must never take the daemon
  down. A stream the child cannot read is left out and reported (SoundInfo.unreadable).
- Every sound stream goes into a .mov, .mxf or .mkv (a camera's or a recorder's tracks, one per microphone,
  which editorial chooses among); an .mp4 for review carries the first that holds any sound (a synced daily's
  mix; a camera's disabled input, a track with no samples, before it would leave the review silent).
- Each track carried keeps its language and its name ("Boom", "Lav1": what editorial chooses by) where the
  output container holds them (track_tags).
"""

from __future__ import annotations

import functools
import math
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from .container import open_movie
from .info import MediaError, SoundInfo

AAC_BIT_RATE = 320_000
MXF_RATE = 48_000


# What a fix does with a sound stream, tried in a child process first (`_channels_read`): PyAV 18.1.0 copies a
# channel layout whose channels are named one by one (a custom order: FFmpeg 8 reads a 7.1 .mov's `chan` atom
# so) without its channel map and frees that map twice, which aborts the whole process, as soon as it decodes a
# frame of it or asks its codec for its layout. A stream the child cannot read is never touched here. The child
# also says whether the stream holds any sound at all (a camera's disabled input is a track with no samples: the
# child demuxes the file to its end to find none, as probe's count of the frames does).
_TRY_READING = """
import sys, av
container = av.open(sys.argv[1])
stream = container.streams[int(sys.argv[2])]
print(stream.codec_context.channels, flush=True)
heard = 0
for frame in container.decode(stream):
    to_float = av.AudioResampler(format="fltp", layout=frame.layout.name, rate=frame.sample_rate)
    for converted in to_float.resample(frame):
        converted.to_ndarray()
    heard = 1
    break
print(heard, flush=True)
container.close()
"""
CHILD_SECONDS = 60


@functools.lru_cache(maxsize=256)
def _channels_read(path: str, stamp: tuple[int, int], index: int) -> tuple[int, bool] | None:
    """The channel count of the movie's stream `index`, and whether it holds any sound, when a child process
    reads it without failing, else None (`stamp`, the file's size and modification time, keys the answer to this
    version of the file)."""
    try:
        child = subprocess.run(
            [sys.executable, "-c", _TRY_READING, path, str(index)],
            capture_output=True,
            text=True,
            timeout=CHILD_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = child.stdout.split()
    if child.returncode != 0 or len(lines) < 2 or not lines[0].isdigit():
        return None
    return int(lines[0]), lines[1] == "1"


@dataclass(frozen=True)
class SoundTracks:
    """A movie's sound streams that a fix can carry, with their channel counts and whether each holds any sound
    (`heard`), and how many others it has that cannot be read (no decoder, or a channel layout PyAV cannot
    handle)."""

    streams: list[Any]
    channels: list[int]
    unreadable: int
    heard: list[bool]


def sound_tracks(container: Any, path: Path) -> SoundTracks:
    """The sound streams of the open movie at `path` (SoundTracks)."""
    audio = list(container.streams.audio)
    if not audio:
        return SoundTracks([], [], 0, [])
    try:
        st = path.stat()
        stamp = (st.st_size, st.st_mtime_ns)
    except OSError:
        return SoundTracks([], [], len(audio), [])
    streams, channels, heard = [], [], []
    for stream in audio:
        ctx = stream.codec_context
        if ctx is None or ctx.codec is None or not ctx.sample_rate:
            continue
        read = _channels_read(str(path.resolve()), stamp, int(stream.index))
        if read is not None:
            streams.append(stream)
            channels.append(read[0])
            heard.append(read[1])
    return SoundTracks(streams, channels, len(audio) - len(streams), heard)


def sound_info(container: Any, path: Path) -> SoundInfo | None:
    """What probe reports of the open movie's sound (SoundInfo); None for a silent movie."""
    tracks = sound_tracks(container, path)
    if not tracks.streams and not tracks.unreadable:
        return None
    if not tracks.streams:
        first = container.streams.audio[0].codec_context
        name = str(first.name) if first is not None and first.codec is not None else "unknown"
        return SoundInfo(codec=name, sample_rate=0, channels=0, streams=0, unreadable=tracks.unreadable)
    ctx = tracks.streams[0].codec_context
    return SoundInfo(
        codec=str(ctx.name),
        sample_rate=int(ctx.sample_rate),
        channels=tracks.channels[0],
        streams=len(tracks.streams),
        unreadable=tracks.unreadable,
    )


def carried_streams(path: Path, container_format: str) -> list[int]:
    """Which of the movie's sound streams (places in sound_tracks) a movie in `container_format` carries: every
    one in .mov, .mxf and .mkv (a camera's or a recorder's tracks, one per microphone); in an .mp4 for review the
    first that holds any sound (the mix; a disabled input's empty track before it is passed over), or the first
    where none does."""
    source, _, _ = open_movie(path)
    with source:
        tracks = sound_tracks(source, path)
    every = list(range(len(tracks.streams)))
    if container_format != "mp4" or not every:
        return every
    return [next((index for index in every if tracks.heard[index]), 0)]


@dataclass(frozen=True)
class SoundSpan:
    """The sound of the movie at `path`, from `offset` seconds after its first video frame."""

    path: Path
    offset: Fraction = Fraction(0)


# Where a movie keeps a sound track's name: a .mov's or an .mp4's handler name, an .mkv's track name (its title);
# an .mxf has no place for it. FFmpeg names a track it was given no name for DEFAULT_HANDLER.
_NAME_KEYS = {"mov": "handler_name", "mp4": "handler_name", "matroska": "title"}
DEFAULT_HANDLER = "SoundHandler"


def track_tags(stream: Any, container_format: str) -> dict[str, str]:
    """The language (ISO 639-2: "eng") and the name (a recorder's "Boom") of a sound stream, as a movie in
    `container_format` keeps them; empty for a track with neither."""
    tags = {str(key).lower(): str(value) for key, value in dict(stream.metadata).items()}
    kept = {}
    if tags.get("language", "und") != "und":
        kept["language"] = tags["language"]
    name = tags.get("title") or tags.get("handler_name")
    key = _NAME_KEYS.get(container_format)
    if name and name != DEFAULT_HANDLER and key is not None:
        kept[key] = name
    return kept


# AAC takes named speaker layouts only: a track's channels by their count (a recorder's unassigned mono track
# is "mono"), more than 5.1 mixed into stereo (mixed_equally).
AAC_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "4.0", 5: "5.0", 6: "5.1"}
MIXED_LAYOUT = "stereo"


def _output_codec(container_format: str, layout: str, channels: int, rate: int) -> tuple[str, str, int, str]:
    """(encoder, sample format, rate, layout) of the sound in a container."""
    if container_format == "mp4":
        return "aac", "fltp", rate, AAC_LAYOUTS.get(channels, MIXED_LAYOUT)
    return "pcm_s24le", "s32", MXF_RATE if container_format == "mxf" else rate, layout


def mixed_equally(samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Channels x n samples mixed into the two sides of MIXED_LAYOUT, each side every channel's mean: a
    recorder's microphones each heard, none dropped, and what is on all of them at its own level."""
    mean = samples.mean(axis=0, keepdims=True, dtype=np.float32)
    return np.repeat(mean, 2, axis=0)


class SoundCarrier:
    """Encodes a SoundSpan's sound into an output container's audio stream, in step with its frames."""

    def __init__(self, output: Any, container_format: str, span: SoundSpan, stream: int = 0) -> None:
        """Carry the `stream`-th sound stream (sound_tracks) of the span's movie."""
        self._source, video, _ = open_movie(span.path)
        try:
            tracks = sound_tracks(self._source, span.path)
            if len(tracks.streams) <= stream:
                raise MediaError("has no sound to carry", str(span.path))
            audio, channels = tracks.streams[stream], tracks.channels[stream]
            for other in self._source.streams:  # the frames' packets are never read from disk for the sound
                if other.index != audio.index:
                    other.discard = av.stream.Discard.all
            ctx = audio.codec_context
            self._rate = int(ctx.sample_rate or 0)
            if self._rate <= 0:
                raise MediaError("its sound has no sample rate", str(span.path))
            layout = ctx.layout
            encoder, sample_format, out_rate, out_layout = _output_codec(
                container_format, layout.name, channels, self._rate
            )
            # more channels than AAC's layouts: mixed into stereo here, not by FFmpeg's surround downmix
            self._mixed = encoder == "aac" and channels not in AAC_LAYOUTS
            self._layout_name = MIXED_LAYOUT if self._mixed else layout.name
            self._stream = output.add_stream(encoder, rate=out_rate)
            self._stream.metadata.update(track_tags(audio, container_format))
            self._stream.layout = out_layout
            self._stream.format = sample_format
            if encoder == "aac":
                self._stream.bit_rate = AAC_BIT_RATE
            self._stream.time_base = Fraction(1, out_rate)
            self._to_float = av.AudioResampler(format="fltp", layout=layout.name, rate=self._rate)
            self._to_output: av.AudioResampler | None = None
            self._out_format, self._out_rate, self._out_layout = sample_format, out_rate, out_layout
            self._packets = self._source.demux(audio)
            start = Fraction(video.start_time or 0) * Fraction(video.time_base or 0)
            self._origin = start + span.offset  # the source's moment of the output's first frame
            self._audio_tb = Fraction(audio.time_base or Fraction(1, self._rate))
            # A packet's time is only as fine as its time base (Matroska counts milliseconds: 44 samples at
            # 44.1 kHz): a place within one tick of where the sound already reaches is the same place.
            self._slack = max(2, math.ceil(self._audio_tb * self._rate))
            self._chunks = self._decoded()
        except BaseException:
            self._source.close()
            raise
        self._pending: npt.NDArray[np.float32] = np.zeros((max(1, channels), 0), np.float32)
        self._pending_at = 0  # the output sample (source rate) where _pending starts
        self._taken = 0  # source-rate samples handed to the output so far
        self._encoded = 0  # output-rate samples encoded so far
        self._ended = False
        self._ahead: tuple[int, npt.NDArray[np.float32]] | None = (
            None  # a chunk timed past what is wanted yet
        )
        self._closed = False

    # source ---------------------------------------------------------------------------------------------

    def _decoded(self) -> Iterator[tuple[int | None, npt.NDArray[np.float32]]]:
        """The next decoded chunk: its first sample's place in the output (source rate; None when the
        packet has no time) and its samples as channels x n float32. A packet that cannot be decoded is
        skipped (the next one's time makes its place silence), and a file cut short ends the sound there, as
        the ffmpeg program does: a glitch in the sound never stops a fix of the frames."""
        while True:
            try:
                packet = next(self._packets, None)
            except av.error.FFmpegError:
                return
            if packet is None:
                return
            try:
                frames = packet.decode()
            except av.error.FFmpegError:
                continue
            for frame in frames:
                place = (
                    None
                    if frame.pts is None
                    else round((frame.pts * self._audio_tb - self._origin) * self._rate)
                )
                frame.pts = None  # the float conversion keeps every sample, times are ours
                for converted in self._to_float.resample(frame):
                    yield place, converted.to_ndarray().astype(np.float32, copy=False)
                    place = None

    def _fill(self, wanted: int) -> None:
        """Decode until _pending reaches output sample `wanted` (source rate) or the source ends; gaps in the
        source's times become silence, overlaps are dropped. Silence is made only up to `wanted`: a chunk timed
        further on (a recorder's clock an hour off) waits in _ahead, so a gap never fills memory."""
        while self._pending_at + self._pending.shape[1] < wanted:
            chunk: tuple[int | None, npt.NDArray[np.float32]] | None = self._ahead
            self._ahead = None
            if chunk is None and not self._ended:
                chunk = next(self._chunks, None)
            if chunk is None:
                self._ended = True
                return
            place, samples = chunk
            end = self._pending_at + self._pending.shape[1]
            place = end if place is None or abs(place - end) <= self._slack else place
            if place > end:  # the source's sound starts late or skips: silence there, as far as needed
                silence = min(place - end, wanted - end)
                gap = np.zeros((samples.shape[0], silence), np.float32)
                self._pending = np.concatenate([self._pending, gap], axis=1)
                if end + silence < place:
                    self._ahead = (place, samples)
                    return
            elif place < end:  # before the first frame, or overlapping what came already
                samples = samples[:, end - place :]
            self._pending = np.concatenate([self._pending, samples], axis=1)

    # output ---------------------------------------------------------------------------------------------

    def _encode(self, samples: npt.NDArray[np.float32] | None) -> list[Any]:
        if self._to_output is None:
            size = self._stream.codec_context.frame_size or None
            self._to_output = av.AudioResampler(
                format=self._out_format, layout=self._out_layout, rate=self._out_rate, frame_size=size
            )
        frames: list[Any]
        if samples is None:
            frames = self._to_output.resample(None)
        else:
            if self._mixed:
                samples = mixed_equally(samples)
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(samples), format="fltp", layout=self._layout_name
            )
            frame.sample_rate = self._rate
            frame.pts = self._taken
            frame.time_base = Fraction(1, self._rate)
            frames = self._to_output.resample(frame)
        packets: list[Any] = []
        for out in frames:
            out.pts = self._encoded
            out.time_base = Fraction(1, self._out_rate)
            self._encoded += out.samples
            packets.extend(self._stream.encode(out))
        if samples is None:
            packets.extend(self._stream.encode(None))
        return packets

    def until(self, seconds: Fraction) -> list[Any]:
        """Packets of the sound up to `seconds` into the output (to mux)."""
        target = int(seconds * self._rate)
        self._fill(target)
        take = min(target - self._taken, self._pending_at + self._pending.shape[1] - self._taken)
        if take <= 0:
            return []
        start = self._taken - self._pending_at
        samples = self._pending[:, start : start + take]
        packets = self._encode(samples)
        self._taken += take
        self._pending = self._pending[:, start + take :]
        self._pending_at = self._taken
        return packets

    def finish(self, seconds: Fraction) -> list[Any]:
        """The rest of the sound up to `seconds` (the output's end), and the encoder's last packets."""
        packets = self.until(seconds)
        packets.extend(self._encode(None))
        self.close()
        return packets

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._source.close()
