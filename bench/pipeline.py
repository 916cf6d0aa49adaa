"""Pipeline benchmarks: how fast a landed file is catalogued, and fix throughput against the ffmpeg CLI.

    .venv/bin/python bench/pipeline.py                       # generated dailies and a generated 1080p clip
    .venv/bin/python bench/pipeline.py --footage ../shared/footage   # real clips for both parts

1. Ingest latency: the daemon (in this process, no tracker) watches a folder; N movies land one after another
   (written under a temp name, then renamed, as a copy tool does); latency = catalogued - landed, p50/p95.
   Most of it is the stability gate (`stable_seconds`, set here to 1 s): a file is only ingested once its size
   and mtime have held that long.
2. Fix throughput: decode -> denoise head -> H.264 encode of a 1080p clip through engine.media and the show model
   (a fresh model: the same compute as a trained one), against `ffmpeg -vf nlmeans ... -c:v libx264` (the
   comparable classical denoise a user would run), and `ffmpeg -vf hqdn3d` (a cheaper one), in the same run.
Writes bench/out/pipeline.json and bench/out/pipeline.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from daemon.catalog import dailies as daily_repo
from daemon.settings import load_settings
from engine import degrade, synth
from engine.heads import get_head
from engine.media import MovieWriter, probe, read_frames, write_movie
from engine.model import ShowModel

OUT = Path(__file__).resolve().parent / "out"


def ingest_latency(work: Path, count: int, footage: Path | None) -> dict[str, Any]:
    from daemon.service import Daemon

    inbox, staging = work / "inbox", work / "staging"
    inbox.mkdir(parents=True)
    staging.mkdir()
    sources: list[Path] = []
    if footage:
        sources = sorted(footage.rglob("*.mp4"))[:count]
    if not sources:
        for i in range(count):
            path = staging / f"src{i}.mp4"
            write_movie(
                path,
                synth.camera_move(synth.photo(synth.PHOTOS[i % len(synth.PHOTOS)]), 24, (640, 360), seed=i),
                24,
            )
            sources.append(path)
    settings = load_settings(
        None,
        data_dir=str(work / "home"),
        http={"port": 0},
        shows=[{"code": "BENCH", "ingest": {"roots": [str(inbox)], "stable_seconds": 1.0}}],
    )
    daemon = Daemon(settings)

    def serve() -> None:
        daemon.start()
        daemon.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    time.sleep(2)
    landed: dict[str, float] = {}
    for i in range(count):
        src = sources[i % len(sources)]
        name = f"sh{i:03d}_1{src.suffix}"
        tmp = inbox / f".{name}.part"
        shutil.copy(src, tmp)
        os.replace(tmp, inbox / name)
        landed[str(inbox / name)] = time.time()
        time.sleep(0.5)
    deadline = time.monotonic() + 120
    rows: list[tuple[str, float]] = []
    while time.monotonic() < deadline:
        with daemon.catalog.session(readonly=True) as s:
            rows = [(d.path, d.created_at.timestamp()) for d in daily_repo.list_dailies(s, "BENCH")]
        if len(rows) >= count:
            break
        time.sleep(0.2)
    daemon.stop_event.set()
    thread.join(timeout=30)
    daemon.stop()
    lat = sorted(created - landed[path] for path, created in rows if path in landed)
    return {
        "files": count,
        "catalogued": len(lat),
        "stable_seconds": 1.0,
        "p50_s": round(statistics.median(lat), 3) if lat else None,
        "p95_s": round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 3) if lat else None,
        "max_s": round(lat[-1], 3) if lat else None,
    }


def make_clip(path: Path, frames: int, footage: Path | None) -> Path:
    if footage:
        clips = sorted(footage.rglob("*.mp4"))
        if clips:
            src = clips[0]
            with MovieWriter(path, probe(src).fps, 1920, 1080) as writer:
                for i, f in enumerate(read_frames(src)):
                    if i >= frames:
                        break
                    writer.write(cv2.resize(f.rgb, (1920, 1080), interpolation=cv2.INTER_CUBIC))
            return path
    image = cv2.resize(synth.photo("astronaut"), (2400, 2400), interpolation=cv2.INTER_CUBIC)
    clip = degrade.add_noise(synth.camera_move(image, frames, (1920, 1080), seed=1), 10 / 255, seed=1)
    write_movie(path, clip, 24)
    return path


def rushes_fix(clip: Path, out: Path) -> float:
    head = get_head("denoise")
    net = ShowModel.fresh(["denoise"]).net("denoise").eval()
    info = probe(clip)
    start = time.monotonic()
    frames = ((f.number, f.rgb) for f in read_frames(clip))
    with MovieWriter(out, info.fps, info.width, info.height, preset="medium") as writer:
        for _, fixed in head.apply(net, frames, {}):
            writer.write(fixed)
    return time.monotonic() - start


def ffmpeg_fix(clip: Path, out: Path, vf: str) -> float:
    start = time.monotonic()
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-i",
            str(clip),
            "-vf",
            vf,
            "-c:v",
            "libx264",
            "-crf",
            "18",
            "-preset",
            "medium",
            "-pix_fmt",
            "yuv420p",
            str(out),
        ],
        check=True,
    )
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--footage", type=Path, help="Folder of real clips (e.g. ../shared/footage/camera).")
    parser.add_argument("--files", type=int, default=20, help="Files to land for the latency part.")
    parser.add_argument("--frames", type=int, default=24, help="Frames of the 1080p clip for throughput.")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit(
            "bench/pipeline.py needs the ffmpeg command line: apt-get install ffmpeg (make bench does it)"
        )
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rushes-bench-") as tmp:
        work = Path(tmp)
        latency = ingest_latency(work / "latency", args.files, args.footage)
        clip = make_clip(work / "clip1080.mp4", args.frames, args.footage)
        n = probe(clip).frame_count
        ours = rushes_fix(clip, work / "rushes.mp4")
        nlmeans = ffmpeg_fix(clip, work / "nlmeans.mp4", "nlmeans=s=3:p=7:r=15")
        hqdn3d = ffmpeg_fix(clip, work / "hqdn3d.mp4", "hqdn3d")
    throughput = {
        "frames": n,
        "size": "1920x1080",
        "rushes_denoise_fps": round(n / ours, 3),
        "ffmpeg_nlmeans_fps": round(n / nlmeans, 3),
        "ffmpeg_hqdn3d_fps": round(n / hqdn3d, 3),
        "ratio_vs_nlmeans": round(nlmeans / ours, 3),
        "ratio_vs_hqdn3d": round(hqdn3d / ours, 3),
    }
    result = {
        "when": datetime.now(UTC).isoformat(),
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "torch_threads": __import__("torch").get_num_threads(),
        "ingest_latency": latency,
        "fix_throughput": throughput,
    }
    (OUT / "pipeline.json").write_text(json.dumps(result, indent=2))
    md = [
        "# Pipeline benchmark",
        "",
        f"{result['when']} on {result['machine']}",
        "",
        "## Ingest latency (file landed -> daily catalogued)",
        "",
        f"{latency['catalogued']}/{latency['files']} files, stability gate {latency['stable_seconds']} s: "
        f"p50 {latency['p50_s']} s, p95 {latency['p95_s']} s, max {latency['max_s']} s",
        "",
        "## Fix throughput, 1080p, decode -> fix -> H.264 (crf 18, preset medium)",
        "",
        "| pipeline | frames/s | rushes speed ratio |",
        "| --- | --- | --- |",
        f"| rushes denoise head | {throughput['rushes_denoise_fps']} | 1.0 |",
        f"| ffmpeg nlmeans | {throughput['ffmpeg_nlmeans_fps']} | {throughput['ratio_vs_nlmeans']}x |",
        f"| ffmpeg hqdn3d | {throughput['ffmpeg_hqdn3d_fps']} | {throughput['ratio_vs_hqdn3d']}x |",
        "",
        "Ratio = ffmpeg time / rushes time (above 1: rushes is faster).",
    ]
    (OUT / "pipeline.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
