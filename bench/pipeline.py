"""Pipeline benchmarks: where the time and memory of a fix go, stage by stage, beside ffmpeg and OpenCV.

    .venv/bin/python bench/pipeline.py --footage ../shared/footage [--frames 24] [--exr-frames 200] [--files 20]

1. Fix, 1080p H.264 (a real clip scaled to 1920x1080), in one run:
   - each stage alone: decode (engine.media), alignment (the denoise head's flows), the head alone
     (Head.apply on decoded frames, as bench/speed.py times it; inference = head - alignment), review
     renders (daemon.rendering.RenderSink: H.264 review + before/after, thumbnail, OTIO) and deliverables
     (a half-float EXR sequence);
   - the whole fix as the daemon runs it (daemon.stages.fixing.render: decode ahead of the head, encode behind it);
   - the nearest classical jobs: OpenCV NL-means (h=8) on the same decoded frames, and the ffmpeg CLI
     decoding, denoising (`nlmeans`, `hqdn3d`) and encoding H.264 end to end.
   Each with its peak resident memory (RSS, sampled every 20 ms).
2. Memory of a 4K shot: a 16-bit half-float EXR sequence (3840x2160, made from the same clip) fixed whole
   (regrade: the cheapest head, so that 200 frames fit in a benchmark; every head streams the same way)
   at --exr-frames and at a tenth of that: peak RSS must not grow with the shot's length.
3. Ingest latency (--files N > 0): the daemon watches a folder; N movies land one after another; latency =
   catalogued - landed, p50/p95 (mostly the 1 s stability gate).
Fresh nets: weights do not change the cost. Writes bench/out/pipeline.json and bench/out/pipeline.md.
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
from collections.abc import Callable
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from daemon.catalog import dailies as daily_repo
from daemon.settings import load_settings
from daemon.stages.fixing import Prepared, render
from daemon.stages.rendering import RenderPlan, RenderSink
from engine import degrade, synth
from engine.baselines.restore import denoise_nlmeans
from engine.heads import get_head
from engine.heads.denoise import stack_aligned
from engine.infer import runtime
from engine.media import MovieWriter, probe, read_frames, write_image, write_movie
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


class PeakRss:
    """Peak resident memory of this process while the block runs (sampled from /proc every 20 ms)."""

    def __enter__(self) -> PeakRss:
        self.start_mb = self.peak_mb = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak_mb = max(self.peak_mb, rss_mb())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, rss_mb())


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stage(name: str, frames: int, fn: Callable[[], object]) -> dict[str, Any]:
    """Run `fn`, timed, with its peak memory; `frames` is what it produced (for frames/s)."""
    with PeakRss() as mem:
        start = time.perf_counter()
        fn()
        seconds = time.perf_counter() - start
    row = {
        "stage": name,
        "seconds": round(seconds, 2),
        "fps": round(frames / seconds, 3),
        "peak_rss_mb": round(mem.peak_mb),
        "rss_growth_mb": round(mem.peak_mb - mem.start_mb),
    }
    print(row, flush=True)
    return row


def fresh_version(kind: str) -> Any:
    """What daemon.stages.fixing reads of a promoted model version, with a fresh net (the same compute)."""
    return SimpleNamespace(
        model=ShowModel.fresh([kind]).eval(), manifest=SimpleNamespace(metrics={}, sources={}, config={})
    )


def whole_fix(kind: str, source: Path, out: Path, params: dict[str, Any]) -> int:
    """The fix as the daemon renders it (daemon.stages.fixing.render); returns the frames rendered."""
    info = probe(source)
    plan = RenderPlan(
        out_dir=out,
        name=f"bench_{kind}",
        kind=kind,
        fps=Fraction(info.fps),
        first_frame=info.first_frame,
        timecode=info.timecode,
    )
    files = render(fresh_version(kind), Prepared(kind, params, 1), info, plan)
    shutil.rmtree(out, ignore_errors=True)
    return files.frame_count


def renders_only(frames: list[np.ndarray], out: Path, fps: Fraction, finishing: str = "none") -> None:
    """Review renders (and deliverables with `finishing`) of already fixed frames."""
    plan = RenderPlan(
        out_dir=out, name="bench", kind="denoise", fps=fps, first_frame=0, timecode=None, finishing=finishing
    )  # type: ignore[arg-type]
    with RenderSink(plan) as sink:
        for i, f in enumerate(frames):
            sink.add(i, f, f)
        sink.finish()
    shutil.rmtree(out, ignore_errors=True)


def ffmpeg_fix(clip: Path, out: Path, vf: str) -> None:
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


def fix_1080p(clip: Path, work: Path) -> list[dict[str, Any]]:
    """Every stage of a 1080p denoise fix alone, the whole fix, and the classical jobs, in one run."""
    info = probe(clip)
    n = info.frame_count
    head = get_head("denoise")
    net = ShowModel.fresh(["denoise"]).eval().net("denoise")
    decoded: list[np.ndarray] = []
    rows = [
        stage(
            "decode (engine.media, float32 RGB)", n, lambda: decoded.extend(f.rgb for f in read_frames(clip))
        )
    ]
    with runtime.limited_threads():
        rows.append(
            stage(
                "alignment (denoise flows, 2 per frame)",
                n,
                lambda: sum(stack_aligned(decoded, i, 3).shape[2] for i in range(n)),
            )
        )
    fixed: list[np.ndarray] = []
    with torch.no_grad(), runtime.limited_threads():  # the threads a fix uses (daemon.stages.fixing.render)
        rows.append(
            stage(
                "head alone (denoise, Head.apply)",
                n,
                lambda: fixed.extend(f for _, f in head.apply(net, list(enumerate(decoded)))),
            )
        )
    fps = Fraction(info.fps)
    rows.append(
        stage("review renders (H.264 review + before/after)", n, lambda: renders_only(fixed, work / "r", fps))
    )
    rows.append(stage("renders + EXR deliverables", n, lambda: renders_only(fixed, work / "e", fps, "exr")))
    fixed.clear()
    with torch.no_grad():
        rows.append(
            stage(
                "whole fix (daemon.stages.fixing.render)",
                n,
                lambda: whole_fix("denoise", clip, work / "w", {}),
            )
        )
    return rows + baselines(clip, decoded, work)


def baselines(clip: Path, decoded: list[np.ndarray], work: Path) -> list[dict[str, Any]]:
    n = len(decoded)
    rows = [
        stage("OpenCV NL-means h=8 (decoded frames)", n, lambda: [denoise_nlmeans(f, 8.0) for f in decoded])
    ]
    decoded.clear()
    for name, vf in (("nlmeans", "nlmeans=s=3:p=7:r=15"), ("hqdn3d", "hqdn3d")):
        out = work / f"{name}.mp4"
        rows.append(
            stage(
                f"ffmpeg -vf {name} + libx264 (end to end)",
                n,
                lambda vf=vf, out=out: ffmpeg_fix(clip, out, vf),
            )
        )
    return rows


def head_vs_whole(clip: Path, work: Path, rounds: int) -> dict[str, Any]:
    """The head alone and the whole fix, alternated `rounds` times (a shared machine's load drifts);
    the ratio of their summed times."""
    n = probe(clip).frame_count
    head = get_head("denoise")
    net = ShowModel.fresh(["denoise"]).eval().net("denoise")
    decoded = [f.rgb for f in read_frames(clip)]
    head_s = whole_s = 0.0
    with torch.no_grad():
        for _ in range(rounds):
            with runtime.limited_threads():
                head_s += stage(
                    "A/B head alone", n, lambda: sum(1 for _ in head.apply(net, enumerate(decoded)))
                )["seconds"]
            whole_s += stage("A/B whole fix", n, lambda: whole_fix("denoise", clip, work / "ab", {}))[
                "seconds"
            ]
    return {
        "rounds": rounds,
        "frames": n,
        "head_fps": round(rounds * n / head_s, 4),
        "whole_fps": round(rounds * n / whole_s, 4),
        "whole_over_head": round(head_s / whole_s, 3),
    }


def make_exr(source: Path, folder: Path, frames: int, distinct: int = 24) -> str:
    """A 4K half-float EXR sequence (frames 1001...) from a real clip scaled up: `distinct` frames written,
    the rest hard links to them in turn (every frame is still read and decoded on its own)."""
    folder.mkdir(parents=True)
    made: list[Path] = []
    for f in read_frames(source, 0, min(frames, distinct) - 1):
        big = cv2.resize(f.rgb, (3840, 2160), interpolation=cv2.INTER_CUBIC)
        made.append(folder / f"plate.{1001 + len(made):04d}.exr")
        write_image(made[-1], big)
    for i in range(len(made), frames):
        os.link(made[i % len(made)], folder / f"plate.{1001 + i:04d}.exr")
    return str(folder / "plate.####.exr")


class FrameRss:
    """The resident memory after each frame the whole fix renders (daemon.stages.fixing's RenderSink, wrapped
    for the run): shows whether memory climbs with the frames of one shot or stays flat."""

    def __init__(self) -> None:
        self.after_frame: list[float] = []

    def __enter__(self) -> FrameRss:
        from daemon.stages import fixing

        trace = self.after_frame

        class Sink(RenderSink):
            def add(self, number: int, before: np.ndarray, after: np.ndarray) -> None:
                super().add(number, before, after)
                trace.append(rss_mb())

        self._module, self._sink = fixing, fixing.RenderSink
        fixing.RenderSink = Sink  # type: ignore[misc]
        return self

    def __exit__(self, *exc: object) -> None:
        self._module.RenderSink = self._sink  # type: ignore[misc]

    def peaks(self) -> dict[str, int]:
        """Highest RSS after any of the first k frames, for k = 1, 2, 5, 10, 20, 50, 100, 200, ... and all."""
        marks = [k for k in (1, 2, 5, 10, 20, 50, 100, 150, 200, 300, 400) if k < len(self.after_frame)]
        return {str(k): round(max(self.after_frame[:k])) for k in [*marks, len(self.after_frame)]}


def exr_memory(
    source: Path, work: Path, frames: int, kind: str = "regrade", short_frames: int | None = None
) -> list[dict[str, Any]]:
    """Whole fix of a 4K EXR shot of `frames` and of `short_frames` (default a tenth of that; 0: only the
    long one): peak memory of each, and the RSS after each frame rendered (flat over the long shot =
    streaming)."""
    long_shot = make_exr(source, work / "exr_long", frames)
    short = work / "exr_short"
    short.mkdir()
    for i in range(max(2, frames // 10) if short_frames is None else short_frames):
        os.symlink(work / "exr_long" / f"plate.{1001 + i:04d}.exr", short / f"plate.{1001 + i:04d}.exr")
    rows = []
    shots = [long_shot] if short_frames == 0 else [str(short / "plate.####.exr"), long_shot]
    for pattern in shots:
        if pattern == long_shot and short_frames != 0:
            rows.append(ffmpeg_exr(short, work / "ffmpeg_exr.mp4"))
        count = probe(pattern).frame_count
        with FrameRss() as trace:
            row = stage(
                f"4K EXR whole fix, {kind}, {count} frames",
                count,
                lambda p=pattern: whole_fix(kind, Path(p), work / "x", {}),
            )
        row["rss_after_frames"] = trace.peaks()
        print(row["rss_after_frames"], flush=True)
        rows.append(row)
    return rows


def ffmpeg_exr(folder: Path, out: Path) -> dict[str, Any]:
    """The nearest classical job to a 4K regrade fix: the ffmpeg CLI reading the same EXR frames, grading them
    (`eq`) and encoding the review H.264 (the fix's own x264 settings); its frames/s and peak RSS (the
    highest VmHWM of its process, read every 20 ms: a child's rusage would count this process's pages)."""
    count = len(list(folder.glob("plate.*.exr")))
    command = ["ffmpeg", "-v", "error", "-y", "-start_number", "1001", "-i", str(folder / "plate.%04d.exr")]
    command += ["-vf", "eq=gamma=1.1", "-c:v", "libx264", "-crf", "18", "-preset", "medium", "-bf", "0"]
    command += ["-rc-lookahead", "10", "-pix_fmt", "yuv420p", str(out)]
    start = time.perf_counter()
    child = subprocess.Popen(command)
    peak_kb = 0
    status = Path(f"/proc/{child.pid}/status")
    while child.poll() is None:
        try:
            text = status.read_text()
        except OSError:
            break
        hwm = [int(line.split()[1]) for line in text.splitlines() if line.startswith("VmHWM:")]
        if hwm and "ffmpeg" in text.split("\n", 1)[0]:  # after exec: this is ffmpeg's own memory
            peak_kb = max(peak_kb, hwm[0])
        time.sleep(0.02)
    seconds = time.perf_counter() - start
    if child.wait() != 0:
        raise SystemExit(f"ffmpeg failed on the EXR frames of {folder} (exit {child.returncode})")
    row = {
        "stage": f"ffmpeg EXR -> eq -> libx264 (own process), {count} frames",
        "seconds": round(seconds, 2),
        "fps": round(count / seconds, 3),
        "peak_rss_mb": round(peak_kb / 1024),
        "rss_growth_mb": round(peak_kb / 1024),
    }
    print(row, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--footage", type=Path, help="Folder of real clips (e.g. ../shared/footage/camera).")
    parser.add_argument("--files", type=int, default=0, help="Files to land for the ingest latency part.")
    parser.add_argument("--frames", type=int, default=24, help="Frames of the 1080p clip (0: skip).")
    parser.add_argument("--ab-rounds", type=int, default=0, help="Alternate head alone / whole fix N times.")
    parser.add_argument("--name", default="pipeline", help="Report name: bench/out/NAME.json and .md.")
    parser.add_argument("--exr-frames", type=int, default=200, help="Frames of the 4K EXR shot (0: skip).")
    parser.add_argument("--exr-kind", default="regrade", help="The head that fixes the 4K EXR shot.")
    parser.add_argument(
        "--exr-short", type=int, help="Frames of the short 4K shot (default a tenth; 0: the long shot only)."
    )
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit(
            "bench/pipeline.py needs the ffmpeg command line: apt-get install ffmpeg (make bench does it)"
        )
    OUT.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="rushes-bench-") as tmp:
        work = Path(tmp)
        latency = ingest_latency(work / "latency", args.files, args.footage) if args.files > 0 else None
        clip = make_clip(work / "clip1080.mp4", max(args.frames, 6 if args.ab_rounds else 2), args.footage)
        rows = fix_1080p(clip, work) if args.frames > 0 else []
        ab = head_vs_whole(clip, work, args.ab_rounds) if args.ab_rounds > 0 else None
        source = next(iter(sorted(args.footage.rglob("*.mp4"))), clip) if args.footage else clip
        exr = (
            exr_memory(source, work, args.exr_frames, args.exr_kind, args.exr_short)
            if args.exr_frames > 0
            else []
        )
    report(rows, exr, latency, load_before, args.name, ab)


def report(
    rows: list[dict[str, Any]],
    exr: list[dict[str, Any]],
    latency: Any,
    load_before: Any,
    name: str,
    ab: dict[str, Any] | None = None,
) -> None:
    by = {r["stage"].split(" (")[0]: r for r in rows}
    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(),
        "command": " ".join(sys.argv),
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "backend": runtime.resolve_backend(),
        "threads": runtime.choose_threads(),
        "fix_1080p": rows,
        "exr_4k": exr,
        "ingest_latency": latency,
        "head_vs_whole": ab,
    }
    if rows:
        head, whole, align = by["head alone"], by["whole fix"], by["alignment"]
        result["inference_seconds"] = round(head["seconds"] - align["seconds"], 2)
        result["whole_over_head"] = round(whole["fps"] / head["fps"], 3)
        result["head_over_nlmeans"] = round(head["fps"] / by["OpenCV NL-means h=8"]["fps"], 3)
        result["whole_over_nlmeans"] = round(whole["fps"] / by["OpenCV NL-means h=8"]["fps"], 3)
    (OUT / f"{name}.json").write_text(json.dumps(result, indent=2))
    md = [
        "# Pipeline benchmark",
        "",
        f"`{result['command']}`, {result['when']} on {result['machine']}; load average before "
        f"{load_before[0]:.1f}, after {result['load_after'][0]:.1f}; inference {result['backend']}, "
        f"{result['threads']} threads",
        "",
    ]
    if rows:
        md += [
            "## 1080p denoise fix, stage by stage",
            "",
            "| stage | seconds | frames/s | peak RSS MB | RSS growth MB |",
            "| --- | --- | --- | --- | --- |",
            *[
                f"| {r['stage']} | {r['seconds']} | {r['fps']} | {r['peak_rss_mb']} | {r['rss_growth_mb']} |"
                for r in rows
            ],
            "",
            f"Inference (head - alignment): {result['inference_seconds']:.2f} s. Whole fix / head alone: "
            f"**{result['whole_over_head']}x**; head alone / OpenCV NL-means: **{result['head_over_nlmeans']}x**; "
            f"whole fix / OpenCV NL-means: **{result['whole_over_nlmeans']}x**.",
        ]
    if ab:
        md += [
            "",
            f"Alternated {ab['rounds']}x on {ab['frames']} frames: head alone {ab['head_fps']} frames/s, whole fix "
            f"{ab['whole_fps']} frames/s: whole / head **{ab['whole_over_head']}x**.",
        ]
    if exr:
        md += [
            "",
            "## 4K half-float EXR shot, whole fix (peak memory)",
            "",
            "| shot | seconds | frames/s | peak RSS MB | RSS growth MB |",
            "| --- | --- | --- | --- | --- |",
            *[
                f"| {r['stage']} | {r['seconds']} | {r['fps']} | {r['peak_rss_mb']} | {r['rss_growth_mb']} |"
                for r in exr
            ],
            "",
            "Highest RSS (MB) after the first k frames rendered:",
            "",
            *[
                f"- {r['stage']}: " + ", ".join(f"{k}: {v}" for k, v in r.get("rss_after_frames", {}).items())
                for r in exr
            ],
        ]
    if latency:
        md += [
            "",
            "## Ingest latency (file landed -> daily catalogued)",
            "",
            f"{latency['catalogued']}/{latency['files']} files, stability gate {latency['stable_seconds']} s: "
            f"p50 {latency['p50_s']} s, p95 {latency['p95_s']} s, max {latency['max_s']} s",
        ]
    (OUT / f"{name}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
