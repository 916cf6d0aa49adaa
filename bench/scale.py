"""Scaling benchmark: fixes per hour and dailies ingested per hour as Rushes grows, all in one run.

    .venv/bin/python bench/scale.py                 # 4 set-ups, 10-20 minutes on 2 cores
    .venv/bin/python bench/scale.py --fixes 12 --dailies 24

Set-ups, each a fresh production (the local ShotGrid-compatible server, generated dailies, a fresh PostgreSQL
database on one throw-away server) and real `rushes daemon` subprocesses:
- ray-1, ray-2: one daemon with `executor: {kind: ray}` on a local Ray cluster whose head runs no jobs
  (`--num-cpus 0`) and 1 or 2 worker nodes started with `ray start --num-cpus 1`, each pinned to a core of
  its own (node n to core n; `--no-pin` leaves them free). `--num-cpus` is only Ray's scheduling count: a fix
  task's threads (decode and encode beside inference) spread over both cores, so without the pin a one-node
  run used about 1.06 cores of the box and was not "one CPU".
- daemons-1, daemons-3: 1 or 3 daemons on one catalog, each with its own watcher on the shared ingest tree and
  its own local executor (`max_jobs: 1`).
Measured per set-up: the first `--first` dailies land and one training run makes the model (not timed); then
the other dailies land at once: dailies/hour = those dailies / (last catalogued - landed); fixes/hour = fixes /
(last fix job done - fix requests tagged) over `--fixes` denoise requests; published/hour the same up to the
last Version published (publishing is one lane per daemon).
Writes bench/out/scale.json and bench/out/scale.md; the load average is recorded beside every figure, and
the CPU seconds each kind of process of the run spent while the fixes ran (bench.proctime: the fix tasks
against the daemon, the Ray Client server, raylets, PostgreSQL...), and what every other process on the box
spent meanwhile ("others' CPU s": other sessions' work; with the kernel's autogroups each session gets an equal
share of the cores whatever its `nice`, so this, not the load average, says whether a run was disturbed).
Each set-up also prints its per-fix timeline (bench.timeline: daemon start, Ray task start, rendered, done,
worker pid); `--keep DIR` keeps the logs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import proctime, timeline
from bench.common import OUT, machine, md_table, timed_ray_workers, write_json
from daemon.catalog import Catalog, Job
from daemon.demo import DemoShot
from tests.cluster.raycluster import RayCluster
from tests.e2e.world import World, enqueue_training, make_world, promoted, published, registered
from tests.servers.postgres import PostgresServer

PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "retina", "camera", "cat"]


@dataclass(frozen=True)
class Setup:
    name: str
    ray_nodes: int  # 0: local executors
    daemons: int


@dataclass(frozen=True)
class Result:
    setup: str
    ray_nodes: int
    daemons: int
    dailies: int
    ingest_s: float
    dailies_per_hour: float
    fixes: int
    fix_s: float
    fixes_per_hour: float
    publish_s: float
    published_per_hour: float
    load_before: float
    load_after: float
    cpu_s: list[tuple[str, float]]  # CPU seconds per process kind while the fixes ran (bench.proctime)
    others_cpu_s: float  # CPU seconds every other process on the box spent meanwhile (other sessions' work)
    tag_s: float  # how long the bench's coordinator took to tag the fix requests (the start of fix_s)


def bench_dailies(
    count: int, fixes: int, size: tuple[int, int], frames: int
) -> Callable[[Path], list[DemoShot]]:
    def make(folder: Path) -> list[DemoShot]:
        from engine import degrade, synth
        from engine.media import write_movie

        folder.mkdir(parents=True, exist_ok=True)
        shots = []
        for i in range(count):
            clip = synth.camera_move(synth.photo(PHOTOS[i % len(PHOTOS)]), frames, size, seed=i)
            fix = i < fixes
            if fix:
                clip = degrade.add_noise(clip, 12 / 255, seed=i)
            shot = f"sh{(i + 1) * 10:03d}"
            path = folder / f"{shot}_1.mp4"
            write_movie(path, clip, 24, timecode=f"01:00:{i % 60:02d}:00")
            shots.append(DemoShot(shot, path, "denoise" if fix else None, "denoise" if fix else ""))
        return shots

    return make


def wait(what: str, done: Callable[[], bool], timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench/scale.py: timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)
    return time.monotonic()


def fixes_done(catalog: Catalog) -> int:
    """Fix jobs done: one COUNT (this poll runs every 0.2 s on the cores the fixes use; loading every done
    job's row each time took a third of this process's CPU while the fixes ran)."""
    with catalog.session(readonly=True) as s:
        return int(s.scalar(select(func.count(Job.id)).where(Job.kind == "fix", Job.state == "done")) or 0)


def run_setup(setup: Setup, root: Path, pg: PostgresServer, args: argparse.Namespace) -> Result:
    cluster = None
    extra: dict[str, Any] = {}
    if setup.ray_nodes:
        cluster = RayCluster.start(root / "ray", num_cpus=0)
        cores = os.cpu_count() or 1
        for n in range(setup.ray_nodes):
            cluster.add_node(f"worker{n}", num_cpus=1, cores=(n % cores,) if args.pin else ())
        extra["executor"] = {"kind": "ray", "ray_address": cluster.address}
    dailies = bench_dailies(args.dailies, args.fixes, (args.width, args.height), args.frames)
    world = make_world(root / "world", budget=args.budget, extra=extra, dailies=dailies)
    world.shared_catalog = pg.create_database(f"scale_{setup.name.replace('-', '_')}_{os.getpid()}")
    catalog = world.catalog()
    tagged_at = None  # wall clock when the fix requests were tagged (the timeline's zero)
    try:
        for n, config in enumerate(daemon_configs(world, setup)):
            world.start_daemon(config=config, log_name=f"daemon{n}.log")
        first = world.shots[: args.first]
        world.drop_dailies(first)
        wait("the first dailies catalogued", lambda: registered(catalog) == len(first), 900)
        enqueue_training(catalog)
        wait("a promoted model", lambda: promoted(catalog) is not None, 1800)
        load_before = os.getloadavg()[0]
        landed = time.monotonic()
        world.drop_dailies(world.shots[args.first :])
        ingested = wait("dailies catalogued", lambda: registered(catalog) == args.dailies, 900)
        tagged = time.monotonic()
        tagged_at, cpu_before = time.time(), proctime.snapshot()
        world.tag(["denoise"])
        tag_s = time.time() - tagged_at  # the harness tagging the requests (inside fix_s in every set-up)
        fixed = wait("fixes done", lambda: fixes_done(catalog) == args.fixes, 1800)
        roots = {os.getpid(), pg.pid(), *(node.proc.pid for node in (cluster.nodes if cluster else []))}
        cpu_after = proctime.snapshot()
        cpu = proctime.spent(cpu_before, cpu_after, roots)
        others = proctime.total(cpu_before, cpu_after) - sum(
            s for _, s in proctime.spent(cpu_before, cpu_after, roots, top=None)
        )
        shown = wait("fixes published", lambda: published(catalog) == args.fixes, 900)
        load_after = os.getloadavg()[0]
    finally:
        world.stop()
        catalog.dispose()
        if tagged_at is not None:
            print(timeline.table(timeline.job_times(world.root, tagged_at)), flush=True)
        if cluster is not None:
            cluster.stop()
    ingest_s, fix_s, publish_s = ingested - landed, fixed - tagged, shown - tagged
    landed_count = args.dailies - args.first
    return Result(
        setup.name,
        setup.ray_nodes,
        setup.daemons,
        landed_count,
        round(ingest_s, 1),
        round(landed_count * 3600 / ingest_s),
        args.fixes,
        round(fix_s, 1),
        round(args.fixes * 3600 / fix_s),
        round(publish_s, 1),
        round(args.fixes * 3600 / publish_s),
        round(load_before, 2),
        round(load_after, 2),
        cpu,
        round(others, 1),
        round(tag_s, 2),
    )


def daemon_configs(world: World, setup: Setup) -> list[Path]:
    base: dict[str, Any] = yaml.safe_load(world.config.read_text())
    paths = []
    for n in range(setup.daemons):
        config = {
            **base,
            "data_dir": str(world.root / f"daemon{n}"),
            "catalog_url": world.catalog_url,
            "max_jobs": 2 if setup.ray_nodes else 1,  # Ray set-ups differ only in their worker nodes
        }
        path = world.root / f"rushes{n}.yaml"
        path.write_text(yaml.safe_dump(config))
        paths.append(path)
    return paths


def report(results: list[Result], args: argparse.Namespace) -> dict[str, Any]:
    by = {r.setup: r for r in results}
    ratios = {}
    if "ray-1" in by and "ray-2" in by:
        ratios["fixes_ray2_over_ray1"] = round(by["ray-2"].fixes_per_hour / by["ray-1"].fixes_per_hour, 2)
    if "daemons-1" in by and "daemons-3" in by:
        ratios["fixes_3_over_1_daemons"] = round(
            by["daemons-3"].fixes_per_hour / by["daemons-1"].fixes_per_hour, 2
        )
        ratios["dailies_3_over_1_daemons"] = round(
            by["daemons-3"].dailies_per_hour / by["daemons-1"].dailies_per_hour, 2
        )
    return {
        "machine": machine(),
        "command": "bench/scale.py " + " ".join(sys.argv[1:]),
        "clip": f"{args.width}x{args.height}, {args.frames} frames, denoise"
        + (
            ", each Ray worker node pinned to a core of its own"
            if args.pin
            else ", Ray worker nodes not pinned"
        ),
        "results": [asdict(r) for r in results],
        "ratios": ratios,
    }


def markdown(data: dict[str, Any]) -> str:
    rows = [
        [
            r["setup"],
            r["ray_nodes"] or "-",
            r["daemons"],
            r["dailies_per_hour"],
            r["fixes_per_hour"],
            r["published_per_hour"],
            f"{r['load_before']} / {r['load_after']}",
            r.get("others_cpu_s", "-"),
        ]
        for r in data["results"]
    ]
    header = [
        "set-up",
        "Ray worker nodes",
        "daemons",
        "dailies/h",
        "fixes/h",
        "published/h",
        "load 1 min",
        "others' CPU s",
    ]
    ratios = "\n".join(f"- {k}: {v}x" for k, v in data["ratios"].items())
    return f"# Scaling ({data['clip']})\n\n`{data['command']}`\n\n{md_table(header, rows)}\n\n{ratios}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dailies", type=int, default=24)
    parser.add_argument(
        "--first", type=int, default=4, help="Dailies the model is trained on first (not timed)."
    )
    parser.add_argument("--fixes", type=int, default=8)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=180)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--budget", type=float, default=10.0, help="Training seconds (not timed).")
    parser.add_argument("--only", nargs="*", help="Set-up names to run (default: all four).")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Pin each Ray worker node to a CPU core of its own (node n to core n), as a one-CPU node is.",
    )
    parser.add_argument("--keep", type=Path, help="Work in this folder and keep it (logs, for a timeline).")
    args = parser.parse_args()
    timed_ray_workers()
    setups = [Setup("ray-1", 1, 1), Setup("ray-2", 2, 1), Setup("daemons-1", 0, 1), Setup("daemons-3", 0, 3)]
    setups = [s for s in setups if not args.only or s.name in args.only]
    results = []
    with contextlib.ExitStack() as stack:
        tmp = args.keep or stack.enter_context(tempfile.TemporaryDirectory(prefix="rushes-scale-"))
        pg = PostgresServer.start(Path(tmp) / "postgres")
        try:
            for setup in setups:
                print(f"scale: {setup.name} ...", flush=True)
                result = run_setup(setup, Path(tmp) / setup.name, pg, args)
                print(f"scale: {result}", flush=True)
                results.append(result)
        finally:
            pg.stop()
    data = report(results, args)
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "scale.json", data)
    (args.out / "scale.md").write_text(markdown(data))
    print(markdown(data))


if __name__ == "__main__":
    main()
