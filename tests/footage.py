"""Footage the tests make for themselves: camera moves over scikit-image photos, encoded with engine.media."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from engine import synth
from engine.media import write_movie, write_sequence


def frames(
    n: int = 12, size: tuple[int, int] = (160, 96), photo: str = "astronaut", seed: int = 0
) -> np.ndarray:
    return synth.camera_move(synth.photo(photo), n, size, seed=seed)


def movie(
    path: Path,
    n: int = 12,
    size: tuple[int, int] = (160, 96),
    fps: int | Fraction = 24,
    timecode: str | None = None,
    photo: str = "astronaut",
    seed: int = 0,
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_movie(path, frames(n, size, photo, seed), fps, timecode=timecode)
    return path


def sequence(
    folder: Path,
    name: str,
    first: int = 1001,
    n: int = 6,
    ext: str = "png",
    size: tuple[int, int] = (96, 64),
    skip: tuple[int, ...] = (),
) -> str:
    """Write name.####.ext frames first..first+n-1, leaving out the frame numbers in `skip`; returns the pattern."""
    folder.mkdir(parents=True, exist_ok=True)
    pattern = str(folder / f"{name}.####.{ext}")
    write_sequence(pattern, frames(n, size), first)
    for number in skip:
        (folder / f"{name}.{number:04d}.{ext}").unlink()
    return pattern


def movie_with_gaps(path: Path, stamps: list[int], size: tuple[int, int] = (64, 48), fps: int = 24) -> Path:
    """An H.264 movie whose frames carry these timestamps (in frames at `fps`): a skipped number is a frame
    dropped while recording, as a phone or a capture recorder leaves it."""
    import av

    pictures = frames(len(stamps), size)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        for stamp, rgb in zip(stamps, pictures, strict=True):
            frame = av.VideoFrame.from_ndarray(np.round(rgb * 255).astype(np.uint8), format="rgb24")
            frame.pts, frame.time_base = stamp, Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def remuxed(source: Path, path: Path) -> Path:
    """`source`'s video packets copied into another container (its extension says which: .mts for MPEG-TS, as
    a camcorder records), as FFmpeg's `-c copy` does."""
    import av

    with av.open(str(source)) as inp, av.open(str(path), "w") as out:
        video = inp.streams.video[0]
        stream = out.add_stream_from_template(video)
        for packet in inp.demux(video):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return path


def trimmed(source: Path, path: Path, preroll: int, fps: int = 24) -> Path:
    """`source`'s packets copied into an MP4 that starts `preroll` frames in, as a trim without re-encoding
    leaves it: the frames before the cut stay in the file (the first ones after it need them to decode) and
    its edit list hides them."""
    import av

    with av.open(str(source)) as inp, av.open(str(path), "w") as out:
        video = inp.streams.video[0]
        stream = out.add_stream_from_template(video)
        shift = round(preroll / (video.time_base * fps))
        for packet in inp.demux(video):
            if packet.dts is None:
                continue
            packet.pts, packet.dts, packet.stream = packet.pts - shift, packet.dts - shift, stream
            out.mux(packet)
    return path


def render_with_overscan(path: Path, picture: np.ndarray, pad: int, depth: float = 7.0) -> Path:
    """A CG frame (`picture`, float RGB) rendered `pad` pixels past its display window on every side, as a render
    for lens distortion is, with a depth AOV `Z` of `depth` everywhere."""
    import OpenEXR

    h, w = picture.shape[:2]
    path.parent.mkdir(parents=True, exist_ok=True)
    OpenEXR.File(
        {
            "type": OpenEXR.scanlineimage,
            "displayWindow": (np.zeros(2, np.int32), np.array([w - 2 * pad - 1, h - 2 * pad - 1], np.int32)),
            "dataWindow": (np.array([-pad, -pad], np.int32), np.array([w - pad - 1, h - pad - 1], np.int32)),
        },
        {"RGB": picture.astype(np.float16), "Z": np.full((h, w), depth, np.float32)},
    ).write(str(path))
    return path


TONE_HZ = 1000


def movie_with_sound(
    path: Path,
    n: int = 24,
    fps: int = 24,
    *,
    clap_at: float = 0.5,
    sound_starts: float = 0.0,
    seconds: float | None = None,
    rate: int = 48000,
    layout: str = "stereo",
    codec: str = "pcm_s24le",
    size: tuple[int, int] = (64, 48),
    tracks: int = 1,
    stamps: list[int] | None = None,
    only: int | None = None,
    empty: int | None = None,
) -> Path:
    """A movie of n frames with sync sound, as a daily from set: silence, then a 1 kHz tone from `clap_at`
    seconds of the movie's timeline on (a clap to find). The sound starts `sound_starts` seconds after the first
    frame and lasts `seconds` (default: as long as the frames). `tracks` audio streams (one per microphone), the
    tone at 0.5 in the first, half as loud in each next. With `stamps` (the frames' timestamps in frames, as
    movie_with_gaps), one frame per stamp, a skipped number a frame the recorder dropped; the sound runs on. With
    `only`, the tone is in that channel (from 0) alone, the others silent. With `empty`, that audio stream (from
    0) holds no samples at all, as a camera's disabled input."""
    import av

    stamps = list(range(n)) if stamps is None else stamps
    pictures = frames(len(stamps), size)
    length = (stamps[-1] + 1) / fps if seconds is None else seconds
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        streams = [container.add_stream(codec, rate=rate) for _ in range(tracks)]
        for audio in streams:
            audio.layout = layout
        video.codec_context.time_base = Fraction(1, fps)
        for stamp, rgb in zip(stamps, pictures, strict=True):
            frame = av.VideoFrame.from_ndarray(np.round(rgb * 255).astype(np.uint8), format="rgb24")
            frame.pts, frame.time_base = stamp, Fraction(1, fps)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        first, total = round(sound_starts * rate), round(length * rate)
        times = (first + np.arange(total)) / rate
        for track, audio in enumerate(streams):
            if track == empty:
                continue
            loudness = 0.5 / 2**track
            tone = np.where(times >= clap_at, loudness * np.sin(2 * np.pi * TONE_HZ * times), 0.0)
            planes = np.repeat(tone.astype(np.float32)[None], audio.codec_context.channels, axis=0)
            if only is not None:
                planes[np.arange(planes.shape[0]) != only] = 0.0
            step = audio.codec_context.frame_size or 1024
            to_codec = av.AudioResampler(format=audio.codec_context.format.name, layout=layout, rate=rate)
            for start in range(0, total, step):
                chunk = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(planes[:, start : start + step]), format="fltp", layout=layout
                )
                chunk.sample_rate, chunk.pts, chunk.time_base = rate, first + start, Fraction(1, rate)
                for converted in to_codec.resample(chunk):
                    container.mux(audio.encode(converted))
            for converted in to_codec.resample(None):
                container.mux(audio.encode(converted))
            container.mux(audio.encode(None))
    return path


def named_with_subtitles(source: Path, path: Path, names: list[tuple[str, str]]) -> Path:
    """`source`'s streams copied into `path` (.mov or .mkv) with its sound tracks named as a recorder names them,
    (language, name) each (a .mov's handler name, an .mkv's title), and a subtitle stream added (mov_text, or
    SubRip in an .mkv), with the ffmpeg program."""
    import shutil
    import subprocess

    exe = shutil.which("ffmpeg")
    assert exe is not None, "ffmpeg is not on PATH: `make system-deps` installs it"
    srt = path.with_suffix(".srt")
    srt.write_text("1\n00:00:00,000 --> 00:00:00,500\nQuiet on set\n")
    mkv = path.suffix.lower() == ".mkv"
    tags: list[str] = []
    for track, (language, name) in enumerate(names):
        key = "title" if mkv else "handler_name"
        tags += [f"-metadata:s:a:{track}", f"language={language}", f"-metadata:s:a:{track}", f"{key}={name}"]
    subtitle = "srt" if mkv else "mov_text"
    command = [
        exe,
        "-nostdin",
        "-v",
        "error",
        "-y",
        "-i",
        str(source),
        "-i",
        str(srt),
        "-map",
        "0",
        "-map",
        "1",
    ]
    subprocess.run([*command, "-c", "copy", "-c:s", subtitle, *tags, str(path)], check=True)
    return path


def sound_of(path: Path, track: int = 0) -> tuple[np.ndarray, int]:
    """A movie's audio stream decoded: channels x samples float32 from its first frame, and its rate."""
    import av

    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[track]
        origin = float((video.start_time or 0) * video.time_base)
        rate = audio.codec_context.sample_rate
        to_float = av.AudioResampler(format="fltp", rate=rate)
        chunks, start = [], None
        for frame in container.decode(audio):
            if start is None:
                start = float(frame.pts * frame.time_base) - origin
            chunks.extend(f.to_ndarray() for f in to_float.resample(frame))
    samples = np.concatenate(chunks, axis=1)
    lead = round((start or 0.0) * rate)
    if lead > 0:
        samples = np.concatenate([np.zeros((samples.shape[0], lead), np.float32), samples], axis=1)
    return samples[:, max(0, -lead) :], rate


def clap_time(path: Path) -> float:
    """Where a movie_with_sound's tone starts, in seconds from its first frame."""
    samples, rate = sound_of(path)
    loud = np.flatnonzero(np.abs(samples[0]) > 0.1)
    return float(loud[0]) / rate if loud.size else float("nan")


def movie_with_unreadable_sound(path: Path, n: int = 12, fps: int = 24) -> Path:
    """A .mov with 7.1 sound whose `chan` atom names the layout by the MPEG 7.1 tag, as older FFmpeg wrote it:
    FFmpeg 8 reads that as a custom channel order, which PyAV 18.1 cannot handle (it frees the channel map twice
    and the process aborts)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = container.add_stream("pcm_s24le", rate=48000)
        audio.layout = "7.1"
        for rgb in frames(n, (64, 48)):
            frame = av.VideoFrame.from_ndarray(np.round(rgb * 255).astype(np.uint8), format="rgb24")
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        samples = round(n / fps * 48000)
        sound = av.AudioFrame(format="s32", layout="7.1", samples=samples)
        sound.planes[0].update(np.zeros(samples * 8, np.int32).tobytes())
        sound.sample_rate, sound.pts, sound.time_base = 48000, 0, Fraction(1, 48000)
        container.mux(audio.encode(sound))
        container.mux(audio.encode(None))
    data = bytearray(path.read_bytes())
    at = data.find(b"chan")
    data[at + 8 : at + 16] = bytes.fromhex("0080000800000000")  # layout tag MPEG 7.1 C, no bitmap
    path.write_bytes(bytes(data))
    return path
