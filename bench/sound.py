"""What carrying a daily's sound into a fix costs, against what an editor would do instead, and whether it syncs.

    .venv/bin/python bench/sound.py --footage ../shared/footage [--frames 240] [--name sound]

For each camera clip with sound, its decoded frames stand in for a fix's frames. Rushes writes them as a .mov
(ProRes 422 HQ, 24-bit PCM) and an .mp4 (H.264, AAC) with the clip's sound carried in the same pass
(MovieWriter(sound=)). The alternative writes the movie silent and then muxes the clip's sound in with the
ffmpeg program (`-map 0:v -map 1:a:0 -c:v copy -c:a pcm_s24le|aac -shortest`), the step an editor or a script
would add. For each: the seconds, and the sync: the lag of the output's sound behind the clip's (the peak of their
cross-correlation over the first seconds, in samples and ms) and the sound's length against the frames'.
Writes bench/out/NAME.json and bench/out/NAME.md, with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from common import OUT, footage_clips

from engine.media import probe, read_frames_uint8, write_movie
from engine.media.audio import SoundSpan

CONTAINERS = {".mov": ("prores", "pcm_s24le"), ".mp4": ("h264", "aac")}
WINDOW_SECONDS = 4.0


def sound_of(path: Path) -> tuple[np.ndarray, int]:
    """The first channel of a movie's first audio stream from its first frame (its start offset applied)."""
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        origin = float((video.start_time or 0) * video.time_base)
        rate = int(audio.codec_context.sample_rate)
        to_float = av.AudioResampler(format="fltp", rate=rate)
        chunks, start = [], None
        for frame in container.decode(audio):
            if start is None and frame.pts is not None:
                start = float(frame.pts * frame.time_base) - origin
            chunks.extend(f.to_ndarray()[0] for f in to_float.resample(frame))
    samples = np.concatenate(chunks)
    lead = round((start or 0.0) * rate)
    return (np.concatenate([np.zeros(lead, np.float32), samples]) if lead > 0 else samples[-lead:]), rate


def lag(reference: np.ndarray, made: np.ndarray, rate: int) -> int:
    """Samples by which `made` lags `reference` (positive: late), from their cross-correlation."""
    n = int(WINDOW_SECONDS * rate)
    a, b = reference[:n].astype(np.float64), made[:n].astype(np.float64)
    size = 1 << int(np.ceil(np.log2(len(a) + len(b))))
    corr = np.fft.irfft(np.fft.rfft(b, size) * np.conj(np.fft.rfft(a, size)), size)
    peak = int(np.argmax(corr))
    return peak if peak < size // 2 else peak - size


def rushes_way(frames: list[np.ndarray], fps: Fraction, clip: Path, out: Path, codec: str) -> float:
    start = time.perf_counter()
    write_movie(out, frames, fps, codec=codec, sound=SoundSpan(clip))
    return time.perf_counter() - start


def ffmpeg_way(
    frames: list[np.ndarray], fps: Fraction, clip: Path, out: Path, codec: str, sound_codec: str
) -> float:
    start = time.perf_counter()
    silent = out.with_name("silent" + out.suffix)
    write_movie(silent, frames, fps, codec=codec)
    inputs = ["-i", str(silent), "-i", str(clip), "-map", "0:v", "-map", "1:a:0"]
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", *inputs, "-c:v", "copy", "-c:a", sound_codec, "-shortest", str(out)],
        check=True,
    )
    seconds = time.perf_counter() - start
    silent.unlink()
    return seconds


def measure(clip: Path, count: int, work: Path) -> list[dict[str, Any]]:
    info = probe(str(clip))
    frames = [f.rgb for f in read_frames_uint8(str(clip), 0, min(count, info.frame_count) - 1)]
    reference, rate = sound_of(clip)
    rows = []
    for suffix, (codec, sound_codec) in CONTAINERS.items():
        for way in ("rushes", "ffmpeg"):
            out = work / f"{clip.stem}_{way}{suffix}"
            if way == "rushes":
                seconds = rushes_way(frames, info.fps, clip, out, codec)
            else:
                seconds = ffmpeg_way(frames, info.fps, clip, out, codec, sound_codec)
            made, made_rate = sound_of(out)
            shift = lag(reference, made, rate) if made_rate == rate else None
            rows.append(
                {
                    "clip": clip.name,
                    "container": suffix,
                    "way": way,
                    "frames": len(frames),
                    "seconds": round(seconds, 2),
                    "lag_samples": shift,
                    "lag_ms": None if shift is None else round(1000 * shift / rate, 2),
                    "sound_minus_frames_ms": round(
                        1000 * (len(made) / made_rate - len(frames) / float(info.fps)), 1
                    ),
                }
            )
            out.unlink()
    return rows


def report(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    load = os.getloadavg()
    lines = [
        f"# {args.name}: a daily's sound carried into a fix",
        "",
        f"Command: `.venv/bin/python bench/sound.py --footage {args.footage} --frames {args.frames}`; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {os.cpu_count()} cores.",
        "",
        "| clip | container | way | frames | seconds | sound lag (samples, ms) | sound minus frames (ms) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['clip']} | {r['container']} | {r['way']} | {r['frames']} | {r['seconds']:.2f} | "
            f"{r['lag_samples']}, {r['lag_ms']} | {r['sound_minus_frames_ms']} |"
        )
    lines.append("")
    for suffix in CONTAINERS:
        ours = sum(r["seconds"] for r in rows if r["container"] == suffix and r["way"] == "rushes")
        theirs = sum(r["seconds"] for r in rows if r["container"] == suffix and r["way"] == "ffmpeg")
        lines.append(
            f"- {suffix}: Rushes {ours:.1f} s in all, silent + ffmpeg mux {theirs:.1f} s: {theirs / ours:.2f}x."
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--footage", type=Path, required=True)
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--name", default="sound")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        raise SystemExit("the ffmpeg program is needed for the comparison: install ffmpeg")
    clips = [c for c in footage_clips(args.footage, ("camera",)) if probe(str(c)).sound is not None]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for clip in clips:
            rows += measure(clip, args.frames, Path(tmp))
    OUT.mkdir(exist_ok=True)
    (OUT / f"{args.name}.json").write_text(json.dumps(rows, indent=2))
    text = report(rows, args)
    (OUT / f"{args.name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
