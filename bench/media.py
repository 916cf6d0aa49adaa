"""Decode and encode speed of engine.media against the ffmpeg command line doing the same work, in the same run.

    .venv/bin/python bench/media.py                      # generates a 1080p H.264 clip (real photo, camera move)
    .venv/bin/python bench/media.py --footage ../shared/footage   # upscales camera/01_dog.mp4 to 1080p
    .venv/bin/python bench/media.py --clip some.mov

Decode: `ffmpeg -i clip -f rawvideo -pix_fmt rgb24 -y /dev/null` vs read_frames_uint8 (and read_frames, float32).
Encode: raw rgb24 frames piped into `ffmpeg -f rawvideo ... -c:v libx264 -crf 18 -preset medium` vs MovieWriter
with the same crf and preset. Each side runs `--repeats` times, alternating, and the best run counts (the machine
is shared). Writes bench/out/media.json and bench/out/media.md. Goal: engine.media >= 0.9x ffmpeg.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from engine.media import MovieWriter, probe, read_frames, read_frames_uint8
from engine.synth import photo

OUT = Path(__file__).resolve().parent / "out"
SIZE = (1920, 1080)


def camera_move_frames(frames: int, seed: int = 0) -> Iterator[np.ndarray]:
    """1080p uint8 frames of a slow push-in and pan over an upscaled real photo, with light grain."""
    src = (photo("astronaut") * 255).astype(np.uint8)
    big = cv2.resize(src, (2880, 2880), interpolation=cv2.INTER_LANCZOS4)
    rng = np.random.default_rng(seed)
    w, h = SIZE
    for i in range(frames):
        t = i / max(frames - 1, 1)
        scale = 1.0 + 0.2 * t
        cx, cy = 1440 + 300 * t, 1440 - 150 * np.sin(np.pi * t)
        m = cv2.getRotationMatrix2D((cx, cy), 3.0 * t, scale)
        m[:, 2] += np.array([w / 2 - cx, h / 2 - cy])
        frame = cv2.warpAffine(big, m, SIZE, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        grain = rng.normal(0, 2.0, (h, w, 1)).astype(np.float32)
        yield np.clip(frame + grain, 0, 255).astype(np.uint8)


def upscaled_footage(path: Path, frames: int) -> Iterator[np.ndarray]:
    for i, f in enumerate(read_frames_uint8(path)):
        if i >= frames:
            return
        yield cv2.resize(f.rgb, SIZE, interpolation=cv2.INTER_CUBIC)


def make_clip(dest: Path, frames: int, footage: Path | None) -> Path:
    source = (
        upscaled_footage(footage / "camera" / "01_dog.mp4", frames) if footage else camera_move_frames(frames)
    )
    with MovieWriter(dest, 24, *SIZE, codec="h264", crf=18, preset="medium") as writer:
        for rgb in source:
            writer.write(rgb)
    return dest


def best_of(repeats: int, runs: dict[str, Callable[[], int]]) -> dict[str, dict[str, float]]:
    """Run each callable `repeats` times, alternating; keep the fastest wall time of each."""
    best: dict[str, dict[str, float]] = {}
    for _ in range(repeats):
        for name, run in runs.items():
            t0 = time.perf_counter()
            frames = run()
            dt = time.perf_counter() - t0
            if name not in best or dt < best[name]["seconds"]:
                best[name] = {"seconds": dt, "frames": frames, "fps": frames / dt}
    return best


def ffmpeg_decode(clip: Path, frames: int) -> Callable[[], int]:
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", str(clip)]
    cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-y", "/dev/null"]
    return lambda: (subprocess.run(cmd, check=True), frames)[1]


def engine_decode(clip: Path, reader: Callable[[Path], Iterator[Any]]) -> Callable[[], int]:
    return lambda: sum(1 for _ in reader(clip))


def ffmpeg_encode(frames: list[np.ndarray], dest: Path, preset: str, crf: int) -> Callable[[], int]:
    w, h = SIZE
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24"]
    cmd += ["-s", f"{w}x{h}", "-r", "24", "-i", "-", "-c:v", "libx264", "-crf", str(crf), "-preset", preset]
    cmd += ["-pix_fmt", "yuv420p", "-y", str(dest)]

    def run() -> int:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
        assert proc.stdin is not None
        for rgb in frames:
            proc.stdin.write(np.ascontiguousarray(rgb).data)
        proc.stdin.close()
        if proc.wait() != 0:
            raise SystemExit(f"ffmpeg encode failed: {' '.join(cmd)}")
        return len(frames)

    return run


def engine_encode(frames: list[np.ndarray], dest: Path, preset: str, crf: int) -> Callable[[], int]:
    def run() -> int:
        with MovieWriter(dest, 24, *SIZE, codec="h264", crf=crf, preset=preset) as writer:
            for rgb in frames:
                writer.write(rgb)
        return len(frames)

    return run


def versions() -> dict[str, str]:
    first = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.splitlines()[0]
    return {
        "ffmpeg_cli": first,
        "pyav": av.__version__,
        "pyav_ffmpeg": ".".join(str(v) for v in av.library_versions["libavcodec"]),
        "cpus": str(os.cpu_count()),
        "machine": platform.machine(),
        "loadavg_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# engine.media vs ffmpeg CLI",
        "",
        f"Clip: `{report['clip']}` ({report['clip_info']}).  ",
        f"ffmpeg: {report['versions']['ffmpeg_cli']}; PyAV {report['versions']['pyav']} "
        f"(libavcodec {report['versions']['pyav_ffmpeg']}); {report['versions']['cpus']} CPUs, "
        f"load average {report['versions']['loadavg_at_start']} at start (other jobs share the machine).",
        "",
        "| task | ffmpeg CLI fps | engine.media fps | ratio |",
        "|---|---:|---:|---:|",
    ]
    for row in report["rows"]:
        lines.append(
            f"| {row['task']} | {row['ffmpeg_fps']:.1f} | {row['engine_fps']:.1f} | {row['ratio']:.2f}x |"
        )
    lines += ["", f"Best of {report['repeats']} alternating runs each; goal: ratio >= 0.9.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clip", type=Path, help="a movie to decode (and whose frames to encode)")
    parser.add_argument("--footage", type=Path, help="folder with camera/01_dog.mp4, upscaled to 1080p")
    parser.add_argument("--frames", type=int, default=120, help="frames in the generated clip")
    parser.add_argument("--encode-frames", type=int, default=60, help="frames encoded per encode run")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--crf", type=int, default=18)
    args = parser.parse_args()

    if shutil.which("ffmpeg") is None:
        sys.exit("ffmpeg is not installed, and this benchmark compares against it: apt-get install -y ffmpeg")
    OUT.mkdir(parents=True, exist_ok=True)
    env = versions()
    with tempfile.TemporaryDirectory(prefix="bench_media_") as tmp_dir:
        tmp = Path(tmp_dir)
        clip = args.clip or make_clip(tmp / "clip_1080p.mp4", args.frames, args.footage)
        info = probe(clip)
        print(f"clip {clip}: {info.width}x{info.height} {info.codec} {info.frame_count} frames", flush=True)

        decode = best_of(
            args.repeats,
            {
                "ffmpeg": ffmpeg_decode(clip, info.frame_count),
                "uint8": engine_decode(clip, read_frames_uint8),
                "float32": engine_decode(clip, read_frames),
            },
        )
        raw = [f.rgb for f, _ in zip(read_frames_uint8(clip), range(args.encode_frames), strict=False)]
        if (raw[0].shape[1], raw[0].shape[0]) != SIZE:
            raw = [cv2.resize(f, SIZE, interpolation=cv2.INTER_CUBIC) for f in raw]
        encode = best_of(
            args.repeats,
            {
                "ffmpeg": ffmpeg_encode(raw, tmp / "ffmpeg.mp4", args.preset, args.crf),
                "engine": engine_encode(raw, tmp / "engine.mp4", args.preset, args.crf),
            },
        )
        sizes = {
            "ffmpeg_bytes": (tmp / "ffmpeg.mp4").stat().st_size,
            "engine_bytes": (tmp / "engine.mp4").stat().st_size,
        }

    rows: list[dict[str, Any]] = [
        {
            "task": "decode -> rgb24 uint8",
            "ffmpeg_fps": decode["ffmpeg"]["fps"],
            "engine_fps": decode["uint8"]["fps"],
        },
        {
            "task": "decode -> float32 RGB",
            "ffmpeg_fps": decode["ffmpeg"]["fps"],
            "engine_fps": decode["float32"]["fps"],
        },
        {
            "task": f"encode libx264 crf {args.crf} {args.preset}",
            "ffmpeg_fps": encode["ffmpeg"]["fps"],
            "engine_fps": encode["engine"]["fps"],
        },
    ]
    for row in rows:
        row["ratio"] = row["engine_fps"] / row["ffmpeg_fps"]
    report = {
        "clip": str(args.clip or f"generated 1080p H.264, {args.frames} frames"),
        "clip_info": f"{info.width}x{info.height} {info.codec} {info.pix_fmt}, {info.frame_count} frames",
        "repeats": args.repeats,
        "versions": {**env, "loadavg_at_end": " ".join(f"{x:.2f}" for x in os.getloadavg())},
        "decode": decode,
        "encode": {**encode, **sizes},
        "rows": rows,
    }
    (OUT / "media.json").write_text(json.dumps(report, indent=2) + "\n")
    (OUT / "media.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
