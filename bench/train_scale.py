"""A show with thousands of dailies: how long `rushes train` takes to its first training step, run after run.

    .venv/bin/python bench/train_scale.py                    # 2,000 small movies, 3 runs of 60 s
    .venv/bin/python bench/train_scale.py --dailies 300 --runs 2 --budget 30

Makes `--dailies` small movies (tests/footage.py, 12 frames of 64x48), registers each in a fresh catalog through
the catalog's own function (daemon.catalog.dailies.register_daily, as ingest does after its probe), then runs
`rushes train --show S --budget B` `--runs` times as fresh processes, timing from the start of the command to
the lines it prints as each stage starts (decode, the first head's train: its first step) and to its end, and how many clips
each run trained on (the frame cache grows run by run). Writes bench/out/train_scale.json and .md with the load
average beside every figure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import OUT, machine, md_table, write_json
from daemon.catalog import Catalog
from daemon.catalog.dailies import DailyFacts, register_daily
from daemon.catalog.shows import ensure_show
from tests.footage import movie

SHOW = "BIG"
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "cat")


@dataclass(frozen=True)
class TrainRun:
    run: int
    to_decode_s: float | None  # command start -> the decode stage starts
    to_first_step_s: float | None  # command start -> the first head's training starts
    total_s: float
    clips: str  # what the run said of its clips ("training on N of M clips"), or "all"
    load: float


def make_show(home: Path, dailies: int) -> Catalog:
    catalog = Catalog(f"sqlite:///{home / 'catalog.sqlite'}")
    catalog.migrate()
    folder = home / "dailies"
    with catalog.session() as s:
        ensure_show(s, SHOW, SHOW, {"ingest": {"roots": [str(folder)]}})
    for n in range(dailies):
        path = movie(folder / f"sh{n:05d}_1.mov", n=12, size=(64, 48), photo=PHOTOS[n % len(PHOTOS)], seed=n)
        info = path.stat()
        facts = DailyFacts(
            path=str(path),
            size_bytes=info.st_size,
            mtime=info.st_mtime,
            content_hash=f"{n:064x}",
            root=str(folder),
            shot=f"sh{n:05d}",
            take="1",
            first_frame=0,
            last_frame=11,
            frame_count=12,
            fps="24",
            width=64,
            height=48,
        )
        with catalog.session() as s:
            register_daily(s, SHOW, facts)
    return catalog


def train_once(run: int, home: Path, config: Path, budget: int) -> TrainRun:
    env = {**os.environ, "RUSHES_HOME": str(home), "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    command = [sys.executable, "-m", "daemon", "--config", str(config), "train", "--show", SHOW]
    start = time.perf_counter()
    marks: dict[str, float] = {}
    clips = "all"
    with subprocess.Popen(
        [*command, "--budget", f"{budget}s"],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    ) as proc:
        assert proc.stderr is not None
        for line in proc.stderr:
            at = time.perf_counter() - start
            if "training on" in line and "clips" in line:
                clips = line.split("training on", 1)[1].split(";", 1)[0].strip()
            if line.startswith(
                f"training {SHOW}: "
            ):  # piped, a line as each stage starts: "...: decode 45s left"
                marks.setdefault(line.split(": ", 1)[1].split()[0], at)
    total = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"rushes train exited {proc.returncode}")
    return TrainRun(
        run,
        round(marks["decode"], 1) if "decode" in marks else None,
        round(marks["train"], 1) if "train" in marks else None,
        round(total, 1),
        clips,
        os.getloadavg()[0],
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dailies", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--budget", type=int, default=60)
    parser.add_argument("--name", default="train_scale")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="rushes-trainscale-"))
    try:
        started = time.perf_counter()
        make_show(home, args.dailies).dispose()
        print(f"{args.dailies} dailies made in {time.perf_counter() - started:.0f} s", flush=True)
        config = home / "rushes.yaml"
        config.write_text(yaml.safe_dump({"data_dir": str(home)}))
        runs = []
        for run in range(1, args.runs + 1):
            runs.append(train_once(run, home, config, args.budget))
            print(runs[-1], flush=True)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    write_json(
        OUT / f"{args.name}.json",
        {"machine": machine(), "dailies": args.dailies, "runs": [asdict(r) for r in runs]},
    )
    header = ["run", "to decode s", "to first step s", "total s", "clips", "load"]
    table = md_table(header, [asdict(r).values() for r in runs])
    (OUT / f"{args.name}.md").write_text(
        f"# `rushes train --budget {args.budget}s` on a show of {args.dailies:,} dailies\n\n{table}\n"
    )
    print(table)


if __name__ == "__main__":
    main()
