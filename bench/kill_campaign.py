"""A kill campaign: the daemon, the local tracker and the CLI killed at random moments while a show works.

    .venv/bin/python bench/kill_campaign.py --seed 1 --kills 40 [--catalog-url postgresql+psycopg://...]

Set up as docs/first-fix.md does (the local tracker `rushes tracker serve` as a process of its own, the real
shotgun_api3 client, `rushes show add`, `rushes ingest`, `rushes tracker setup`, `rushes daemon`), on the demo's
generated dailies (scikit-image photos). Then, on a schedule drawn from --seed, while new takes land (some
copied in place in two halves, a stall between them), coordinators tag fixes, the daemon's training window
trains, `rushes train` and `rushes prune --yes` run from a terminal: one of them is killed (the daemon with
SIGKILL, alone or with its workers, or SIGTERM; the tracker server with SIGKILL, restarted a few seconds
later; a `rushes train` or `rushes prune` run with SIGKILL). After each restart the safety invariants are
checked (no Version twice, no daily catalogued from a partial file, every model version opens with its seal);
at the end the daemon is left to finish and the rest are checked too (every tag ended in one Version or a
note, every job ended with a reason, no temp files left, `rushes status` and `rushes jobs list` agree with the
catalog). Writes bench/out/kill_campaign.json and kill_campaign.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.kill_checks import Landed, Tag, check_end, check_safety, dead_lettered, run_rushes  # noqa: E402
from bench.soak import _answers, free_port  # noqa: E402

OUT = REPO / "bench" / "out"
KEY = "kill-campaign-key"
SHOW = "CHAOS"


@dataclass
class Kill:
    n: int
    at_s: float
    target: str  # daemon | daemon+workers | tracker | train | prune
    signal: str
    during: list[str]  # what was going on: jobs running, copies in flight, CLI runs
    stopped_s: float | None = None  # SIGTERM: how long the daemon took to stop
    load: float = field(default_factory=lambda: round(os.getloadavg()[0], 1))  # the machine's, at the kill
    violations: list[str] = field(default_factory=list)


@dataclass
class Setup:
    work: Path
    env: dict[str, str]
    config: Path
    inbox: Path
    staging: list[Path]  # new takes' content, one folder per generation
    port: int
    catalog_url: str


class Rig:
    """The processes under test, and what was done to them."""

    def __init__(self, setup: Setup) -> None:
        self.s = setup
        self.tracker: subprocess.Popen[bytes] | None = None
        self.daemon: subprocess.Popen[bytes] | None = None
        self.cli: dict[str, subprocess.Popen[bytes]] = {}
        self.logs = setup.work / "logs"
        self.logs.mkdir(exist_ok=True)

    def popen(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        return subprocess.Popen(
            [sys.executable, "-m", "daemon", *args],
            env=self.s.env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_tracker(self) -> None:
        self.tracker = self.popen(
            "tracker", "tracker", "serve", "--port", str(self.s.port), "--data", str(self.s.work / "sg")
        )
        deadline = time.monotonic() + 60
        while not _answers(f"http://127.0.0.1:{self.s.port}/versions"):
            if time.monotonic() > deadline or self.tracker.poll() is not None:
                raise SystemExit(f"the tracker did not start; see {self.logs / 'tracker.log'}")
            time.sleep(0.2)

    def start_daemon(self) -> None:
        self.daemon = self.popen("daemon", "--config", str(self.s.config), "daemon")

    def run_cli(self, name: str, *args: str) -> None:
        if name in self.cli and self.cli[name].poll() is None:
            return
        self.cli[name] = self.popen(name, "--config", str(self.s.config), *args)

    def stop_all(self) -> None:
        for proc in [self.daemon, *self.cli.values(), self.tracker]:
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def rushes(setup: Setup, *args: str) -> str:
    done = run_rushes(setup, *args)
    if done.returncode != 0:
        raise RuntimeError(f"rushes {' '.join(args)} failed ({done.returncode}): {done.stdout}{done.stderr}")
    return done.stdout


def prepare(work: Path, catalog_url: str | None) -> Setup:
    from daemon.demo import generate_dailies

    home = work / "home"
    inbox = work / "dailies"
    inbox.mkdir(parents=True)
    first = generate_dailies(work / "take1", references=home / "references" / SHOW)
    staging = []
    for n, frames in enumerate((20, 16, 28), start=2):  # later takes: other content, so not copies
        generate_dailies(work / f"take{n}", frames=frames, references=work / "unused")
        staging.append(work / f"take{n}")
    for shot in first:
        shutil.copy(shot.file, inbox / shot.file.name)
    port = free_port()
    config = {
        "data_dir": str(home),
        "log_format": "json",
        "max_jobs": 1,
        "http": {"host": "127.0.0.1", "port": 0},
        "shows": [
            {
                "code": SHOW,
                "ingest": {"roots": [str(inbox)], "stable_seconds": 1},
                "training": {"cron": "*/2 * * * *", "hours": 1},
                "train": {"budget_seconds": 15, "resolution": 64, "native_resolution": 0, "cpu_threads": 1},
            }
        ],
        **({"catalog_url": catalog_url} if catalog_url else {}),
    }
    path = work / "rushes.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "RUSHES_TRACKER__KIND": "shotgrid",
        "RUSHES_TRACKER__URL": f"http://127.0.0.1:{port}",
        "RUSHES_TRACKER__SCRIPT_NAME": "rushes",
        "RUSHES_TRACKER__SCRIPT_KEY": KEY,
        "RUSHES_TRACKER__POLL_INTERVAL": "1",
    }
    url = catalog_url or f"sqlite:///{home / 'catalog.sqlite'}"
    return Setup(work, env, path, inbox, staging, port, url)


def fix_texts(setup: Setup) -> dict[str, str]:
    """The demo's fix for each of its five shots (the regrade's reference in the show's references folder)."""
    ref = (
        Path(yaml.safe_load(setup.config.read_text())["data_dir"])
        / "references"
        / SHOW
        / "sh020_reference.png"
    )
    return {
        "sh010": "interpolate frames=auto",
        "sh020": f"regrade reference={ref}",
        "sh030": "denoise",
        "sh040": "upscale",
        "sh050": "cleanup mask=197,57,46,42",
    }


class Show:
    """What the studio does meanwhile: takes land, coordinators tag fixes."""

    def __init__(self, setup: Setup, rng: random.Random, started: float) -> None:
        import shotgun_api3

        self.s = setup
        self.rng = rng
        self.started = started
        self.sg = shotgun_api3.Shotgun(f"http://127.0.0.1:{setup.port}", "rushes", KEY)
        self.texts = fix_texts(setup)
        self.tasks = {shot: self._task(shot) for shot in self.texts}
        self.tags: list[Tag] = []
        self.landed: list[Landed] = []
        self.copies: list[threading.Thread] = []
        self.take = 1

    def _task(self, shot: str) -> int:
        found = self.sg.find_one("Shot", [["code", "is", shot]])
        task: dict[str, Any] | None = self.sg.find_one("Task", [["entity", "is", found]])  # type: ignore[assignment]
        assert task is not None, f"no task on shot {shot}: did `rushes tracker setup` run?"
        return int(task["id"])

    def copying(self) -> int:
        self.copies = [t for t in self.copies if t.is_alive()]
        return len(self.copies)

    def land(self) -> str:
        """A new take of a shot: renamed into place, or copied in place in two halves with a stall between."""
        self.take += 1
        staging = self.s.staging[(self.take - 2) % len(self.s.staging)]
        source = self.rng.choice(sorted(staging.glob("*.mp4")))
        dest = self.s.inbox / f"{source.stem.split('_')[0]}_{self.take}.mp4"
        data = source.read_bytes()
        item = Landed(str(dest), len(data), complete=False)
        self.landed.append(item)
        if self.rng.random() < 0.5:
            part = dest.with_name(dest.name + ".part")
            part.write_bytes(data)
            part.rename(dest)
            item.complete = True
            return f"landed {dest.name} (renamed into place)"
        stall = self.rng.uniform(0.2, 4.0)
        thread = threading.Thread(target=_copy_in_halves, args=(dest, data, stall, item), daemon=True)
        thread.start()
        self.copies.append(thread)
        return f"landing {dest.name} in place, {stall:.1f} s stall half-way"

    def tag(self) -> str | None:
        """Tag a shot whose previous request has ended (its task out of `fix`), at most two open at once."""
        try:
            tasks: list[dict[str, Any]] = self.sg.find(
                "Task", [["id", "in", list(self.tasks.values())]], ["sg_status_list"]
            )  # type: ignore[assignment]
        except Exception as exc:
            return f"tag skipped: tracker unreachable ({type(exc).__name__})"
        status = {t["id"]: t["sg_status_list"] for t in tasks}
        if sum(1 for v in status.values() if v == "fix") >= 2:
            return None
        free = [shot for shot, task in self.tasks.items() if status.get(task) != "fix"]
        if not free:
            return None
        shot = self.rng.choice(sorted(free))
        try:
            self.sg.update(
                "Task", self.tasks[shot], {"sg_rushes_fixes": self.texts[shot], "sg_status_list": "fix"}
            )
        except Exception as exc:
            return f"tag of {shot} failed: {type(exc).__name__}"
        self.tags.append(Tag(shot, self.tasks[shot], round(time.monotonic() - self.started, 1)))
        return f"tagged {shot}"


def _copy_in_halves(dest: Path, data: bytes, stall: float, item: Landed) -> None:
    half = len(data) // 2
    with dest.open("wb") as f:
        f.write(data[:half])
        f.flush()
        time.sleep(stall)  # a copy tool stalled on a slow share
        f.write(data[half:])
    item.complete = True


def act(rig: Rig, show: Show, rng: random.Random) -> str | None:
    """One thing the studio does this second, drawn from the schedule."""
    roll = rng.random()
    if roll < 0.12 and show.take < 40:
        return show.land()
    if roll < 0.45:
        return show.tag()
    if roll < 0.48:
        rig.run_cli("train", "train", "--show", SHOW, "--budget", "12s")
        return "rushes train started"
    if roll < 0.54:
        rig.run_cli("prune", "prune", "--yes", "--older-than", "0")
        return "rushes prune --yes started"
    return None


def running_cli(rig: Rig) -> list[str]:
    return [name for name, proc in rig.cli.items() if proc.poll() is None]


def kill_one(rig: Rig, rng: random.Random, n: int, at: float, during: list[str]) -> Kill:
    """Kill one process, drawn from the schedule, and start it again (a CLI run is not restarted)."""
    roll = rng.random()
    clis = running_cli(rig)
    if roll < 0.1 and clis:
        name = rng.choice(sorted(clis))
        os.killpg(rig.cli[name].pid, signal.SIGKILL)
        rig.cli[name].wait()
        return Kill(n, at, name, "SIGKILL", during)
    if roll < 0.25:
        assert rig.tracker is not None
        rig.tracker.kill()
        rig.tracker.wait()
        time.sleep(rng.uniform(0.5, 5.0))  # the tracker host comes back
        rig.start_tracker()
        return Kill(n, at, "tracker", "SIGKILL", during)
    assert rig.daemon is not None
    kill = Kill(n, at, "daemon", "SIGKILL", during)
    if roll < 0.45:
        kill.signal = "SIGTERM"
        began = time.monotonic()
        rig.daemon.terminate()
        try:
            rig.daemon.wait(90)
            kill.stopped_s = round(time.monotonic() - began, 1)
        except subprocess.TimeoutExpired:
            kill.violations.append("the daemon did not stop within 90 s of SIGTERM")
            os.killpg(rig.daemon.pid, signal.SIGKILL)
            rig.daemon.wait()
    elif roll < 0.7:
        kill.target = "daemon+workers"
        os.killpg(rig.daemon.pid, signal.SIGKILL)
        rig.daemon.wait()
    else:
        rig.daemon.kill()  # the daemon alone: its worker processes live on, orphaned
        rig.daemon.wait()
    rig.start_daemon()
    return kill


def what_runs(setup: Setup, rig: Rig, show: Show) -> list[str]:
    from bench.kill_checks import running_jobs

    found = running_jobs(setup) + [f"cli {n}" for n in running_cli(rig)]
    if show.copying():
        found.append(f"{show.copying()} copies in flight")
    return found


def campaign(args: argparse.Namespace, setup: Setup) -> dict[str, Any]:
    from bench.kill_checks import wait_quiet

    rng = random.Random(args.seed)
    rig = Rig(setup)
    kills: list[Kill] = []
    timeline: list[str] = []
    try:
        rig.start_tracker()
        rushes(setup, "ingest", str(setup.inbox), "--show", SHOW)
        rushes(setup, "tracker", "setup")
        started = time.monotonic()
        show = Show(setup, rng, started)
        rig.start_daemon()
        while len(kills) < args.kills:
            due = time.monotonic() + rng.uniform(args.min_gap, args.max_gap)
            while time.monotonic() < due:
                said = act(rig, show, rng)
                if said:
                    timeline.append(f"{time.monotonic() - started:7.1f} {said}")
                time.sleep(1.0)
            at = round(time.monotonic() - started, 1)
            kill = kill_one(rig, rng, len(kills) + 1, at, what_runs(setup, rig, show))
            kill.violations += check_safety(setup, show.sg, show.landed)
            kills.append(kill)
            timeline.append(f"{at:7.1f} kill {kill.n}: {kill.signal} {kill.target} during {kill.during}")
            print(timeline[-1], kill.violations or "", flush=True)
        for proc in rig.cli.values():
            proc.wait()
        quiet = wait_quiet(setup, show, rig.daemon, args.settle)
        assert rig.daemon is not None
        rig.daemon.terminate()
        rig.daemon.wait(90)
        rushes(setup, "prune", "--yes", "--older-than", "0")  # the nightly prune, once the work has ended
        end = check_end(setup, show.sg, show.tags, show.landed) + (
            [f"not quiet at the end: {quiet}"] if quiet else []
        )
        result = summary(args, setup, kills, end, show, timeline, time.monotonic() - started)
        return {**result, "dead_lettered": dead_lettered(setup)}
    finally:
        rig.stop_all()


def summary(
    args: argparse.Namespace,
    setup: Setup,
    kills: list[Kill],
    end: list[str],
    show: Show,
    timeline: list[str],
    seconds: float,
) -> dict[str, Any]:
    by_target: dict[str, int] = {}
    loads = [k.load for k in kills]
    for k in kills:
        name = f"{k.signal} {k.target}"
        by_target[name] = by_target.get(name, 0) + 1
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "machine": f"{os.cpu_count()} cores, load {min(loads, default=0)}-{max(loads, default=0)} at the kills",
        "catalog": "postgresql" if setup.catalog_url.startswith("postgresql") else "sqlite",
        "seed": args.seed,
        "minutes": round(seconds / 60, 1),
        "kills": len(kills),
        "by_target": by_target,
        "tags": len(show.tags),
        "takes_landed": len(show.landed),
        "violations_after_kills": [f"kill {k.n}: {v}" for k in kills for v in k.violations],
        "violations_at_end": end,
        "kill_log": [asdict(k) for k in kills],
        "timeline": timeline,
    }


def report(result: dict[str, Any]) -> str:
    lines = [
        f"# Kill campaign ({result['when']})",
        "",
        f"`{result['command']}` on {result['machine']}, {result['catalog']} catalog: {result['kills']} kills in "
        f"{result['minutes']} min ({', '.join(f'{n} {t}' for t, n in sorted(result['by_target'].items()))}), "
        f"{result['tags']} fixes tagged, {result['takes_landed']} takes landed.",
        "",
        f"Violations after a kill: {len(result['violations_after_kills'])}; at the end: "
        f"{len(result['violations_at_end'])}.",
        "",
    ]
    lines += [f"- {v}" for v in result["violations_after_kills"] + result["violations_at_end"]]
    lines += ["", f"Dead-lettered (answered on the task, allowed): {len(result['dead_lettered'])}.", ""]
    lines += [f"- {v}" for v in result["dead_lettered"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kills", type=int, default=40)
    parser.add_argument("--min-gap", type=float, default=4.0, help="seconds between kills, at least")
    parser.add_argument("--max-gap", type=float, default=18.0, help="seconds between kills, at most")
    parser.add_argument("--settle", type=float, default=600, help="seconds the last daemon gets to finish")
    parser.add_argument("--catalog-url", help="a PostgreSQL URL (default: the SQLite file in data_dir)")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="start a throw-away PostgreSQL (as the tests do) for the catalog",
    )
    parser.add_argument(
        "--work", type=Path, help="keep everything here (default: a temporary folder, removed)"
    )
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="rushes-kill-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"working in {work}", flush=True)
    server = None
    if args.postgres:
        from tests.servers.postgres import PostgresServer

        server = PostgresServer.start(work / "postgres")
        args.catalog_url = server.create_database("rushes_kill")
    try:
        result = campaign(args, prepare(work, args.catalog_url))
    finally:
        if server is not None:
            server.stop()
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    OUT.mkdir(parents=True, exist_ok=True)
    name = f"kill_campaign_{result['catalog']}"
    (OUT / f"{name}.json").write_text(json.dumps(result, indent=2))
    (OUT / f"{name}.md").write_text(report(result))
    print(report(result))


if __name__ == "__main__":
    main()
