"""A movie's sound, carried into a movie made from its frames (a fix keeps a daily's sync sound).

- `SoundInfo` / `sound_info(container)`: what probe reports of a movie's sound (MediaInfo.sound): its first
  audio stream that FFmpeg decodes, with its codec, sample rate and channels; None for a silent movie.
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
  gets AAC at 320 kb/s (what review players and trackers play), in the source's layout up to 5.1, else
  mixed down to stereo.
- A packet of sound that cannot be decoded becomes silence, and a file cut short ends the sound there: a glitch
  in the sound never stops a fix of the frames.
- Only the first audio stream is carried (a synced daily's mix); other streams are left out.
"""

from __future__ import annotations

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
AAC_MAX_CHANNELS = 6
MXF_RATE = 48_000


def sound_stream(container: Any) -> Any | None:
    """The first audio stream of an open container that FFmpeg can decode, or None (a silent movie, or one
    whose sound no decoder reads: its frames are fixed all the same)."""
    for stream in container.streams.audio:
        ctx = stream.codec_context
        if ctx is not None and ctx.codec is not None and ctx.sample_rate:
            return stream
    return None


def sound_info(container: Any) -> SoundInfo | None:
    """The sound stream (sound_stream) of an open container, or None."""
    stream = sound_stream(container)
    if stream is None:
        return None
    ctx = stream.codec_context
    return SoundInfo(codec=str(ctx.name), sample_rate=int(ctx.sample_rate), channels=int(ctx.channels or 0))


@dataclass(frozen=True)
class SoundSpan:
    """The sound of the movie at `path`, from `offset` seconds after its first video frame."""

    path: Path
    offset: Fraction = Fraction(0)


def _output_codec(container_format: str, channels: int, rate: int) -> tuple[str, str, int, str | None]:
    """(encoder, sample format, rate, layout to mix down to or None) for a container."""
    if container_format == "mp4":
        return "aac", "fltp", rate, None if channels <= AAC_MAX_CHANNELS else "stereo"
    return "pcm_s24le", "s32", MXF_RATE if container_format == "mxf" else rate, None


class SoundCarrier:
    """Encodes a SoundSpan's sound into an output container's audio stream, in step with its frames."""

    def __init__(self, output: Any, container_format: str, span: SoundSpan) -> None:
        self._source, video, _ = open_movie(span.path)
        try:
            audio = sound_stream(self._source)
            if audio is None:
                raise MediaError("has no sound to carry", str(span.path))
            for other in self._source.streams:  # the frames' packets are never read from disk for the sound
                if other.index != audio.index:
                    other.discard = av.stream.Discard.all
            ctx = audio.codec_context
            self._rate = int(ctx.sample_rate or 0)
            if self._rate <= 0:
                raise MediaError("its sound has no sample rate", str(span.path))
            layout = ctx.layout
            encoder, sample_format, out_rate, mixdown = _output_codec(
                container_format, ctx.channels, self._rate
            )
            self._layout_name = layout.name
            self._stream = output.add_stream(encoder, rate=out_rate)
            self._stream.layout = mixdown or layout.name
            self._stream.format = sample_format
            if encoder == "aac":
                self._stream.bit_rate = AAC_BIT_RATE
            self._stream.time_base = Fraction(1, out_rate)
            self._to_float = av.AudioResampler(format="fltp", layout=layout.name, rate=self._rate)
            self._to_output: av.AudioResampler | None = None
            self._out_format, self._out_rate, self._out_layout = (
                sample_format,
                out_rate,
                mixdown or layout.name,
            )
            self._packets = self._source.demux(audio)
            start = Fraction(video.start_time or 0) * Fraction(video.time_base or 0)
            self._origin = start + span.offset  # the source's moment of the output's first frame
            self._audio_tb = Fraction(audio.time_base or Fraction(1, self._rate))
            self._chunks = self._decoded()
        except BaseException:
            self._source.close()
            raise
        self._pending: npt.NDArray[np.float32] = np.zeros((max(1, ctx.channels), 0), np.float32)
        self.skipped = 0  # packets of the source's sound that could not be decoded (silence there)
        self._pending_at = 0  # the output sample (source rate) where _pending starts
        self._taken = 0  # source-rate samples handed to the output so far
        self._encoded = 0  # output-rate samples encoded so far
        self._ended = False
        self._closed = False
        self._output = output

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
                self.skipped += 1
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
        source's times become silence, overlaps are dropped."""
        while not self._ended and self._pending_at + self._pending.shape[1] < wanted:
            chunk = next(self._chunks, None)
            if chunk is None:
                self._ended = True
                return
            place, samples = chunk
            end = self._pending_at + self._pending.shape[1]
            place = end if place is None else place
            if place > end:  # the source's sound starts late or skips: silence there
                gap = np.zeros((samples.shape[0], place - end), np.float32)
                samples = np.concatenate([gap, samples], axis=1)
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
