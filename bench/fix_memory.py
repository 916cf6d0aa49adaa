"""The memory a fix needs, kind by kind, against what Rushes reckons before it starts one.

    .venv/bin/python bench/fix_memory.py --footage ../shared/footage [--sizes 1000,2000] [--frames 8]

Before a fix decodes anything, `daemon.stages.fixing.check_memory` reckons what it will hold (a base for the
process and its libraries, so many bytes a pixel of the frame; upscale's output frame), and refuses a fix that
needs more than the machine has, rather than be killed by the kernel at each attempt. A reckoning below the real
peak lets such a fix through; one far above it refuses fixes that would fit. This runs `rushes fix` of every kind
in a process of its own, as an artist would, on a real clip scaled to square frames of each size (an H.264 movie,
and a half-float EXR sequence: the heads hold an EXR's frames in float), and reads each process's peak resident
memory from the kernel (`wait4`'s maximum RSS). That figure starts at what this process held when it started the
fix's (exec keeps the larger high-water mark), so the frames are made in a process of their own and this one stays
small; the report gives its own peak, below which a fix's cannot be told. The show has fresh nets of every head promoted, with scores that
make each fix use its head and interpolate its refiner (weights do not change the cost). Writes
bench/out/fix_memory.json and fix_memory.md: per kind, size and input, the peak, the reckoning and their ratio.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import footage_clips, md_table
from daemon.stages.fixing import FIX_MEMORY
from engine.heads import get_head
from engine.media import read_frames, write_image, write_movie

OUT = Path(__file__).resolve().parent / "out"
REPO = Path(__file__).resolve().parents[1]
SHOW = "MEM"
# Each kind's options, as an artist would give them: {first} the first frame's number, {middle} a middle frame's, {box}
# a rectangle a sixth of the frame's side.
OPTIONS = {
    "denoise": [],
    "regrade": ["--reference", "{middle}"],  # the first frame, which the grade starts from, is refused
    "interpolate": ["--frames", "{middle}"],
    "upscale": [],
    "cleanup": ["--mask", "{box}"],
}


@dataclass
class Row:
    kind: str
    side: int
    source: str  # "H.264 movie" | "EXR sequence"
    frames: int
    peak_mb: float
    reckoned_mb: float
    seconds: float

    @property
    def ratio(self) -> float:
        return self.reckoned_mb / self.peak_mb


def reckoned(kind: str, side: int) -> float:
    """check_memory's reckoning for square frames of `side` pixels, in MB."""
    return FIX_MEMORY[kind].needed(side, side, get_head(kind).scale) / 1e6


def sources(clip: Path, side: int, frames: int, work: Path) -> dict[str, str]:
    """The clip's first `frames` frames scaled to side x side: an H.264 movie and a half-float EXR sequence."""
    pictures = [
        cv2.resize(f.rgb, (side, side), interpolation=cv2.INTER_CUBIC)
        for f in read_frames(str(clip), 0, frames - 1)
    ]
    movie = work / f"src{side}.mp4"
    write_movie(movie, pictures, fps=24)
    folder = work / f"exr{side}"
    folder.mkdir()
    for i, picture in enumerate(pictures):
        write_image(folder / f"plate.{1001 + i}.exr", picture.astype(np.float32) / 255.0)
    return {"H.264 movie": str(movie), "EXR sequence": str(folder / "plate.####.exr")}


def promote_fresh_show(env: dict[str, str]) -> None:
    """Show MEM with fresh nets of every head promoted as v1, scored so that every head (and interpolate's
    refiner) is used."""
    script = f"""
from daemon.catalog import models_repo
from daemon.cli.main import app
from daemon.context import open_context
from daemon.settings import load_settings
from engine.kinds import HEAD_ORDER
from engine.model import Manifest, ShowModel, save_model
ctx = open_context(load_settings(None))
from daemon.catalog.shows import ensure_show
with ctx.catalog.session() as s:
    ensure_show(s, "{SHOW}")
folder = ctx.settings.models_dir / "{SHOW}" / "v1"
metrics = {{k: {{"psnr": 40.0, "baseline_best": 30.0, "psnr_base": 30.0}} for k in HEAD_ORDER}}
save_model(folder, ShowModel.fresh(list(HEAD_ORDER)), Manifest(show="{SHOW}", version="v1", metrics=metrics))
with ctx.catalog.session() as s:
    models_repo.add_version(s, "{SHOW}", str(folder), version=1)
    models_repo.promote(s, "{SHOW}", 1)
ctx.close()
"""
    subprocess.run([sys.executable, "-c", script], env=env, cwd=REPO, check=True)


def fix_peak(
    kind: str, source: str, side: int, frames: int, work: Path, env: dict[str, str]
) -> tuple[float, float]:
    """`rushes fix` of `kind` in a process of its own: its peak resident memory (MB) and wall seconds."""
    first = 1001 if source.endswith(".exr") else 0
    values = {
        "first": str(first),
        "middle": str(first + frames // 2),
        "box": f"{side // 3},{side // 3},{side // 6},{side // 6}",
    }
    options = [option.format(**values) for option in OPTIONS[kind]]
    output = work / f"out_{kind}_{side}_{Path(source).suffix.strip('.')}" / "f.####.exr"
    command = [
        sys.executable,
        "-m",
        "daemon",
        "fix",
        "-s",
        SHOW,
        "--kind",
        kind,
        *options,
        "-i",
        source,
        "-o",
        str(output),
    ]
    start = time.perf_counter()
    child = subprocess.Popen(
        command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    said = child.stdout.read() if child.stdout else ""
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"rushes fix --kind {kind} of {source} failed:\n{said}")
    if f"({kind}, model {SHOW} v1)" not in said:
        raise SystemExit(f"rushes fix --kind {kind} did not use the show's {kind} head:\n{said}")
    return usage.ru_maxrss / 1024 * 1.048576, time.perf_counter() - start  # KiB -> MB


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--footage", type=Path, required=True, help="Folder of real clips (../shared/footage)."
    )
    parser.add_argument(
        "--sizes", default="1000,2000", help="Square frame sides to measure, comma-separated."
    )
    parser.add_argument("--frames", type=int, default=8, help="Frames of each source.")
    parser.add_argument("--kinds", default=",".join(OPTIONS), help="Kinds to measure, comma-separated.")
    parser.add_argument("--name", default="fix_memory", help="Report name: bench/out/NAME.json and .md.")
    args = parser.parse_args()
    clip = footage_clips(args.footage, ("camera",))[0]
    load_before = os.getloadavg()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="rushes-fixmem-") as tmp:
        work = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUSHES_")}
        env.update(RUSHES_HOME=str(work / "home"), PYTHONPATH=str(REPO))
        promote_fresh_show(env)
        for side in (int(s) for s in args.sizes.split(",")):
            with multiprocessing.get_context("spawn").Pool(
                1
            ) as pool:  # decoded frames stay out of this process
                made = pool.apply(sources, (clip, side, args.frames, work))
            for name, source in made.items():
                for kind in args.kinds.split(","):
                    peak, seconds = fix_peak(kind, source, side, args.frames, work, env)
                    rows.append(
                        Row(
                            kind,
                            side,
                            name,
                            args.frames,
                            round(peak),
                            round(reckoned(kind, side)),
                            round(seconds, 1),
                        )
                    )
                    print(asdict(rows[-1]), f"ratio {rows[-1].ratio:.2f}", flush=True)
    report(rows, clip, load_before, args.name, own_peak_mb())


def own_peak_mb() -> float:
    """This process's own peak resident memory, MB: the floor of every figure it reads."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 * 1.048576)


def report(
    rows: list[Row], clip: Path, load_before: tuple[float, float, float], name: str, floor: float
) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    load_after = os.getloadavg()
    result = {
        "when": datetime.now(UTC).isoformat(),
        "command": " ".join(sys.argv),
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "clip": clip.name,
        "load_before": load_before,
        "load_after": load_after,
        "floor_mb": floor,
        "rows": [{**asdict(r), "reckoned_over_peak": round(r.ratio, 2)} for r in rows],
    }
    (OUT / f"{name}.json").write_text(json.dumps(result, indent=2))
    table = md_table(
        ["kind", "frames", "source", "peak MB", "reckoned MB", "reckoned / peak", "s"],
        [
            [r.kind, f"{r.side}x{r.side}", r.source, r.peak_mb, r.reckoned_mb, f"{r.ratio:.2f}", r.seconds]
            for r in rows
        ],
    )
    (OUT / f"{name}.md").write_text(
        f"# Memory of a fix against its reckoning\n\n`{result['command']}`, {result['when']} on {result['machine']}, "
        f"clip {clip.name}, load {load_before[0]:.1f} before, {load_after[0]:.1f} after; this process's own peak "
        f"(the floor of every figure) {floor} MB\n\n{table}\n"
    )
    print(table)


if __name__ == "__main__":
    main()
