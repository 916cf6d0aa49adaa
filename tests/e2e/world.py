"""A small production for end-to-end tests: a local ShotGrid-compatible server with a project, generated dailies,
a config file, and the daemon run in-process or as a real subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from daemon.catalog import Catalog, fixes, models_repo
from daemon.catalog import dailies as daily_repo
from daemon.catalog import jobs as job_repo
from daemon.demo import SHOW, Coordinator, DemoShot, generate_dailies
from daemon.jobs.payloads import TrainJob, queue
from integrations.trackers.sgserver.app import SGServer, start_in_thread

KEY = "rushes-e2e-key"


@dataclass
class World:
    root: Path
    server: SGServer
    coordinator: Coordinator
    shots: list[DemoShot]
    tasks: dict[str, int]
    config: Path
    inbox: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    shared_catalog: str | None = None  # a PostgreSQL URL several daemons share, instead of the SQLite file

    @property
    def catalog_url(self) -> str:
        return self.shared_catalog or f"sqlite:///{self.root / 'rushes' / 'catalog.sqlite'}"

    def catalog(self) -> Catalog:
        """The daemon's catalog (created here first, so the test can look before the daemon starts)."""
        (self.root / "rushes").mkdir(exist_ok=True)
        catalog = Catalog(self.catalog_url)
        catalog.migrate()
        return catalog

    def drop_dailies(self, shots: Sequence[DemoShot] | None = None) -> None:
        """Land `shots` (default: all of this world's) in the ingest tree as a copy tool does: each under a
        temporary name, then renamed into place."""
        for s in self.shots if shots is None else shots:
            tmp = self.inbox / f"{s.file.name}.part"
            tmp.write_bytes(s.file.read_bytes())
            tmp.rename(self.inbox / s.file.name)

    def tag(self, kinds: list[str]) -> list[DemoShot]:
        wanted = [s for s in self.shots if s.kind in kinds]
        for s in wanted:
            self.coordinator.tag(self.tasks[s.shot], s.fix_text, "sg_rushes_fixes", "fix")
        return wanted

    def start_daemon(
        self, env: dict[str, str] | None = None, config: Path | None = None, log_name: str = "daemon.log"
    ) -> subprocess.Popen[bytes]:
        log = (self.root / log_name).open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "daemon", "--config", str(config or self.config), "daemon"],
            env={**os.environ, "RUSHES_TRACKER__SCRIPT_KEY": KEY, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
        self.server.stop()


def demo_dailies(folder: Path) -> list[DemoShot]:
    """The demo's dailies; the regrade reference goes where the daemon reads tracker-named files from
    (DATA_DIR/references/SHOW, with DATA_DIR = root/rushes below)."""
    return generate_dailies(folder, references=folder.parent / "rushes" / "references" / SHOW)


def make_world(
    root: Path,
    budget: float = 20.0,
    extra: dict[str, Any] | None = None,
    dailies: Callable[[Path], list[DemoShot]] | None = None,
    tracker: dict[str, Any] | None = None,
) -> World:
    server = start_in_thread(root / "tracker", "rushes", KEY)
    inbox = root / "ingest"
    inbox.mkdir(parents=True)
    shots = (dailies or demo_dailies)(root / "staging")
    coordinator = Coordinator(server.url, "rushes", KEY)
    tasks = coordinator.setup(shots, "sg_rushes_fixes", "sg_rushes_key")
    config = {
        "data_dir": str(root / "rushes"),
        "log_level": "info",
        "log_format": "json",
        "max_jobs": 2,
        "http": {"host": "127.0.0.1", "port": 0},
        "tracker": {
            "kind": "shotgrid",
            "url": server.url,
            "script_name": "rushes",
            "poll_interval": 0.5,
            **(tracker or {}),
        },
        "shows": [
            {
                "code": SHOW,
                "tracker_project": SHOW,
                "ingest": {"roots": [str(inbox)], "stable_seconds": 0.5},
                "train": {"budget_seconds": budget, "resolution": 128},
            }
        ],
        **(extra or {}),
    }
    path = root / "rushes.yaml"
    path.write_text(yaml.safe_dump(config))
    return World(root, server, coordinator, shots, tasks, path, inbox)


def wait_for(
    what: str,
    done: Callable[[], bool],
    timeout: float,
    alive: Callable[[], bool] | None = None,
    log: Path | None = None,
) -> None:
    """Poll `done` until it holds; return early when `alive` says the process died (the caller asserts).
    A timeout's error carries the last lines of `log`, so a failure in CI says what the daemon was doing."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{log_tail(log)}")
        if alive is not None and not alive():
            return
        time.sleep(0.3)


def health_url(log: Path) -> str | None:
    """The URL the daemon's health server bound (its config asks for port 0: any free one), from its JSON log;
    None until it has logged it."""
    if not log.is_file():
        return None
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("event") == "health server listening":
            return str(entry["url"])
    return None


def log_tail(log: Path | None, lines: int = 40) -> str:
    """The last `lines` lines of a log file, as text to append to an assertion message ("" without one)."""
    if log is None or not log.is_file():
        return ""
    tail = log.read_text(errors="replace").splitlines()[-lines:]
    return f"; the last {len(tail)} lines of {log}:\n" + "\n".join(tail)


def registered(catalog: Catalog, show: str = SHOW) -> int:
    with catalog.session(readonly=True) as s:
        return len(daily_repo.list_dailies(s, show))


def promoted(catalog: Catalog, show: str = SHOW) -> int | None:
    with catalog.session(readonly=True) as s:
        row = models_repo.latest_promoted(s, show)
        return row.version if row else None


def published(catalog: Catalog, show: str = SHOW) -> int:
    with catalog.session(readonly=True) as s:
        return sum(
            1 for r in fixes.list_fix_requests(s, show) for p in r.publications if p.state == "published"
        )


def dead_jobs(catalog: Catalog) -> list[str]:
    with catalog.session(readonly=True) as s:
        return [f"{j.kind} {j.key}: {j.last_error}" for j in job_repo.list_jobs(s, state="dead", limit=None)]


def idle(catalog: Catalog) -> bool:
    """No job waits or runs: nothing the daemon does now can publish anything more."""
    with catalog.session(readonly=True) as s:
        return not any(
            n for (_kind, state), n in job_repo.counts(s).items() if state in ("queued", "running")
        )


def enqueue_training(catalog: Catalog, show: str = SHOW) -> None:
    with catalog.session() as s:
        queue(s, TrainJob(show, "e2e"), show=show)
