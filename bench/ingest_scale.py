"""The ingest watcher over a big tree: first scan, one new daily once the tree is big, memory, CPU while idle.

    .venv/bin/python bench/ingest_scale.py                         # 700 sequences of 150 frames + 50 movies
    .venv/bin/python bench/ingest_scale.py --sequences 100 --frames 100 --idle 10

Makes its own tree (tests/footage.py: `--sequences` image sequences of `--frames` 16x16 PNG frames, each
sequence's first frame its own picture and the rest hard links of one frame, and `--movies` small movies), then
runs the daemon's watcher (integrations.ingest.IngestWatcher, the same class and options `rushes daemon` uses)
in this process on it, once as a local root (inotify) and once as a network root (polling):
- first scan: seconds from start until every daily was delivered (the watcher's catalogue hand-over);
- one new daily: a sequence copied into the big tree, seconds until delivered;
- idle: the process's CPU % over `--idle` seconds with nothing landing, and its RSS;
- reconcile: the CPU seconds of one reconcile scan of the tree (the watcher runs one every reconcile_interval).
With `--daemon`, then a real `rushes daemon` (a fresh catalog, the tree as one show's local root, no tracker):
seconds until every daily is catalogued and until /readyz answers 200, the daemon's RSS and CPU % while idle, one
new daily's seconds until catalogued, and the same again after a restart on the catalogued tree.
Writes bench/out/ingest_scale.json and .md with the load average beside every figure.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml

from bench.common import OUT, machine, md_table, write_json
from daemon.catalog import Catalog
from daemon.catalog.dailies import count_by_status
from integrations.ingest.candidates import Candidate, Rejected
from integrations.ingest.options import IngestOptions
from integrations.ingest.scan import scan_root
from integrations.ingest.watcher import IngestWatcher
from tests.footage import movie, sequence
from tests.servers.postgres import free_port

LINKS = 60_000


@dataclass(frozen=True)
class Run:
    root: str  # local (inotify) or network (polling)
    files: int
    dailies: int
    first_scan_s: float
    new_daily_s: float
    idle_cpu_pct: float
    reconcile_cpu_s: float  # one reconcile scan (every reconcile_interval): CPU seconds
    rss_mb: float
    load: float


def make_tree(root: Path, sequences: int, frames: int, movies: int) -> int:
    """The tree; returns the number of files."""
    base = root / "_frame"
    sequence(base, "f", n=1, size=(16, 16))
    shared = base / "f.1001.png"
    linked = 0
    for n in range(sequences):
        shot = f"sq{n:05d}"
        folder = root / shot
        unique = sequence(folder, shot, n=1, size=(16, 16))  # its own first frame: its own content
        assert Path(unique.replace("####", "1001")).exists()
        for frame in range(1002, 1001 + frames):
            if linked == LINKS:  # a file system's limit on links to one file (ext4: 65,000)
                shared = shutil.copy(shared, base / f"f{n}.png")
                linked = 0
            os.link(shared, folder / f"{shot}.{frame:04d}.png")
            linked += 1
    for n in range(movies):
        movie(root / f"mv{n:04d}_1.mov", n=3, size=(16, 16), seed=n)
    shutil.rmtree(base)
    return sequences * frames + movies


class Tally:
    def __init__(self) -> None:
        self.paths: set[str] = set()
        self.changed = threading.Condition()

    def candidate(self, found: Candidate) -> None:
        with self.changed:
            self.paths.add(str(found.path))
            self.changed.notify_all()

    def rejected(self, found: Rejected) -> None:
        print("rejected", found.path, found.reason, flush=True)

    def wait_for(self, test: object, timeout: float) -> None:
        with self.changed:
            if not self.changed.wait_for(test, timeout):  # type: ignore[arg-type]
                raise TimeoutError(f"watcher delivered {len(self.paths)} dailies in {timeout} s")


def run(root: Path, network: bool, dailies: int, files: int, idle: float, timeout: float) -> Run:
    options = IngestOptions(roots=[{"path": root, "network": network}], stable_seconds=1.0)
    tally = Tally()
    watcher = IngestWatcher(options, tally.candidate, tally.rejected)
    start = time.perf_counter()
    watcher.start()
    try:
        tally.wait_for(lambda: len(tally.paths) >= dailies, timeout)
        first = time.perf_counter() - start
        time.sleep(2)  # let the watcher settle before idle is measured
        cpu0, wall0 = time.process_time(), time.perf_counter()
        time.sleep(idle)
        idle_pct = 100 * (time.process_time() - cpu0) / (time.perf_counter() - wall0)
        shot = f"new{int(network)}"
        landed = time.perf_counter()
        sequence(root / shot, shot, n=10, size=(16, 16))
        tally.wait_for(lambda: any(shot in p for p in tally.paths), timeout)
        new = time.perf_counter() - landed
        cpu0 = time.process_time()
        scan_root(root, options)  # what each reconcile scan reads
        reconcile = time.process_time() - cpu0
    finally:
        watcher.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return Run(
        "network (polling)" if network else "local (inotify)",
        files,
        dailies,
        round(first, 1),
        round(new, 1),
        round(idle_pct, 1),
        round(reconcile, 1),
        round(rss, 1),
        os.getloadavg()[0],
    )


@dataclass(frozen=True)
class DaemonRun:
    start: str  # "first" (empty catalog) or "restart" (every daily catalogued)
    catalogued_s: float  # daemon started -> every daily registered
    ready_s: float  # daemon started -> /readyz 200
    idle_cpu_pct: float
    rss_mb: float
    new_daily_s: float  # a sequence copied in -> registered
    load: float


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _until(test: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not test():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout} s")
        time.sleep(0.2)


@dataclass(frozen=True)
class Daemon:
    """How the bench runs `rushes daemon` on the tree."""

    work: Path
    config: Path
    port: int
    env: dict[str, str]

    @property
    def home(self) -> Path:
        return self.work / "home"


def daemon_runs(work: Path, dailies: int, idle: float, timeout: float) -> list[DaemonRun]:
    """The tree under a real daemon: first on an empty catalog, then restarted."""
    port = free_port()
    config = work / "rushes.yaml"
    show = {"code": "BIG", "ingest": {"roots": [str(work / "dailies")], "stable_seconds": 1}}
    config.write_text(
        yaml.safe_dump({"data_dir": str(work / "home"), "http": {"port": port}, "shows": [show]})
    )
    env = {
        **os.environ,
        "RUSHES_HOME": str(work / "home"),
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    setup = Daemon(work, config, port, env)
    runs = []
    for start in ("first", "restart"):
        runs.append(daemon_once(setup, start, dailies + len(runs), idle, timeout))  # each run adds a daily
        print(runs[-1], flush=True)
    return runs


def daemon_once(setup: Daemon, start: str, registered: int, idle: float, timeout: float) -> DaemonRun:
    log = (setup.work / f"daemon-{start}.log").open("w")
    began = time.perf_counter()
    command = [sys.executable, "-m", "daemon", "daemon", "--config", str(setup.config)]
    daemon = subprocess.Popen(command, env=setup.env, stderr=log, stdout=log)
    ready: list[float] = []

    def is_ready() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{setup.port}/readyz", timeout=5) as answer:
                ok = answer.status == 200
        except (OSError, ValueError):
            ok = False
        if ok and not ready:
            ready.append(time.perf_counter() - began)
        return ok

    try:
        _until(lambda: (setup.home / "catalog.sqlite").exists(), timeout, "the catalog")
        catalog = Catalog(f"sqlite:///{setup.home / 'catalog.sqlite'}")

        def count() -> int:
            with catalog.session(readonly=True) as s:
                return count_by_status(s, "BIG").get("registered", 0)

        _until(lambda: is_ready() and count() >= registered, timeout, "catalogued")
        catalogued = time.perf_counter() - began
        time.sleep(2)
        cpu0, wall0 = _cpu_s(daemon.pid), time.perf_counter()
        time.sleep(idle)
        idle_pct = 100 * (_cpu_s(daemon.pid) - cpu0) / (time.perf_counter() - wall0)
        rss = _rss_mb(daemon.pid)
        shot, before = f"dnew{start}", count()
        landed = time.perf_counter()
        sequence(setup.work / "dailies" / shot, shot, n=10, size=(16, 16))
        _until(lambda: count() > before, timeout, "the new daily")
        new = time.perf_counter() - landed
        catalog.dispose()
    finally:
        daemon.terminate()
        daemon.wait(60)
        log.close()
    return DaemonRun(
        start,
        round(catalogued, 1),
        round(ready[0], 1),
        round(idle_pct, 1),
        round(rss),
        round(new, 1),
        os.getloadavg()[0],
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sequences", type=int, default=700)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--movies", type=int, default=50)
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle CPU measured")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--name", default="ingest_scale")
    parser.add_argument("--daemon", action="store_true", help="also a real `rushes daemon` on the tree")
    parser.add_argument("--no-watcher", action="store_true", help="skip the watcher alone (with --daemon)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rushes-ingestscale-"))
    try:
        started = time.perf_counter()
        files = make_tree(work / "dailies", args.sequences, args.frames, args.movies)
        print(f"{files} files made in {time.perf_counter() - started:.0f} s", flush=True)
        dailies = args.sequences + args.movies
        runs = []
        for network in () if args.no_watcher else (False, True):
            runs.append(run(work / "dailies", network, dailies, files, args.idle, args.timeout))
            print(runs[-1], flush=True)
        landed = dailies + len(runs)  # each watcher run added a daily
        daemons = daemon_runs(work, landed, args.idle, args.timeout) if args.daemon else []
    finally:
        shutil.rmtree(work, ignore_errors=True)
    data = {"machine": machine(), "runs": [asdict(r) for r in runs], "daemon": [asdict(d) for d in daemons]}
    write_json(OUT / f"{args.name}.json", data)
    header = [
        "root",
        "files",
        "dailies",
        "first scan s",
        "new daily s",
        "idle CPU %",
        "reconcile CPU s",
        "RSS MB",
    ]
    table = md_table([*header, "load"], [asdict(r).values() for r in runs])
    daemon_header = ["start", "catalogued s", "ready s", "idle CPU %", "RSS MB", "new daily s", "load"]
    daemon_table = md_table(daemon_header, [asdict(d).values() for d in daemons])
    (OUT / f"{args.name}.md").write_text(
        f"# The ingest watcher over {files:,} files\n\n{table}\n\n## rushes daemon\n\n{daemon_table}\n"
    )
    print(table)
    print(daemon_table)


if __name__ == "__main__":
    main()
