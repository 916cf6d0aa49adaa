"""The invariants bench/kill_campaign.py checks after each kill, and once the last daemon has finished."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from bench.kill_campaign import Setup, Show

REPO = Path(__file__).resolve().parents[1]
SHOW = "CHAOS"
ENDED_REQUESTS = ("published", "approved", "rejected", "failed")


@dataclass
class Landed:
    path: str
    size: int  # the whole file's
    complete: bool  # its copy has ended


@dataclass
class Tag:
    shot: str
    task: int
    at_s: float


def _catalog(setup: Setup) -> Any:
    from daemon.catalog import Catalog

    return Catalog(setup.catalog_url)


def running_jobs(setup: Setup) -> list[str]:
    from daemon.catalog import jobs as job_repo

    catalog = _catalog(setup)
    try:
        with catalog.session(readonly=True) as s:
            return [f"{j.kind} {j.id}" for j in job_repo.list_jobs(s, state="running", limit=None)]
    finally:
        catalog.dispose()


def check_safety(setup: Setup, sg: Any, landed: list[Landed]) -> list[str]:
    """What must hold at every moment: no Version twice, no daily from a partial file, every model opens."""
    problems = _duplicate_versions(sg)
    problems += _partial_dailies(setup, landed)
    problems += _models(setup)
    return problems


def tracker_find(sg: Any, entity: str, filters: list[Any], fields: list[str]) -> list[dict[str, Any]]:
    """sg.find, tried again for 30 s: the client's kept-alive connection to a tracker killed and restarted
    fails once (broken pipe) before it connects again."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return list(sg.find(entity, filters, fields))
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def _duplicate_versions(sg: Any) -> list[str]:
    versions = tracker_find(sg, "Version", [], ["code", "sg_rushes_key", "sg_task"])
    keys = Counter(v.get("sg_rushes_key") for v in versions)
    codes = Counter(v["code"] for v in versions)
    return [f"Version key {k} published {n} times" for k, n in keys.items() if n > 1] + [
        f"Version {c} published {n} times" for c, n in codes.items() if n > 1
    ]


def _partial_dailies(setup: Setup, landed: list[Landed]) -> list[str]:
    from daemon.catalog import dailies as daily_repo

    catalog = _catalog(setup)
    problems = []
    try:
        with catalog.session(readonly=True) as s:
            for item in landed:
                row = daily_repo.current_daily(s, SHOW, item.path)
                if row is not None and row.status == "registered" and row.size_bytes != item.size:
                    problems.append(
                        f"daily {row.id} ({Path(item.path).name}) catalogued from {row.size_bytes} of "
                        f"{item.size} bytes"
                    )
    finally:
        catalog.dispose()
    return problems


def _models(setup: Setup) -> list[str]:
    """Every model version listed opens with its seal (`rushes model list` checks the seals)."""
    out = cli(setup, "model", "list", "--show", SHOW, "--json")
    if isinstance(out, str):
        return [out]
    rows = out if isinstance(out, list) else out.get("versions", [])
    problems = [f"model v{r.get('version')} refused: {r['refused']}" for r in rows if r.get("refused")]
    from daemon.catalog import models_repo

    catalog = _catalog(setup)
    try:
        with catalog.session(readonly=True) as s:
            for row in models_repo.list_versions(s, SHOW):
                folder = Path(row.path)
                state = (row.metrics or {}).get("state")
                if state == "trained" and not (folder / "manifest.json").is_file():
                    problems.append(f"model v{row.version} is trained but has no manifest in {folder}")
    finally:
        catalog.dispose()
    return problems


def run_rushes(setup: Setup, *args: str) -> subprocess.CompletedProcess[str]:
    """A `rushes` command on the campaign's config, as a terminal runs it."""
    return subprocess.run(
        [sys.executable, "-m", "daemon", "--config", str(setup.config), *args],
        env=setup.env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )


def cli(setup: Setup, *args: str) -> Any:
    """A `rushes` command's JSON, or one line saying how it failed."""
    done = run_rushes(setup, *args)
    if done.returncode != 0:
        return (
            f"rushes {' '.join(args)} exited {done.returncode}: {(done.stderr or done.stdout).strip()[-300:]}"
        )
    return json.loads(done.stdout)


def wait_quiet(setup: Setup, show: Show, daemon: Any, timeout: float) -> list[str]:
    """Wait until every tag has ended (its task out of `fix`) and no job waits or runs; what is left if not."""
    from daemon.catalog import jobs as job_repo

    deadline = time.monotonic() + timeout
    left: list[str] = ["not looked"]
    while time.monotonic() < deadline:
        statuses = {
            t["id"]: t["sg_status_list"] for t in tracker_find(show.sg, "Task", [], ["sg_status_list"])
        }
        catalog = _catalog(setup)
        try:
            with catalog.session(readonly=True) as s:
                busy = [
                    f"{k} {st}: {n}"
                    for (k, st), n in job_repo.counts(s).items()
                    if st in ("queued", "running")
                ]
        finally:
            catalog.dispose()
        left = [f"task {tid} still in fix" for tid, st in statuses.items() if st == "fix"] + busy
        left += [f"{show.copying()} copies in flight"] if show.copying() else []
        if not left:
            return []
        if daemon.poll() is not None:
            return [f"the daemon exited ({daemon.returncode}) while it finished", *left]
        time.sleep(2)
    return left


def check_end(setup: Setup, sg: Any, tags: list[Tag], landed: list[Landed]) -> list[str]:
    """Once the last daemon has finished: every tag answered once, every job ended with a reason, no temp
    files, the CLI's views equal to the catalog, and the safety invariants again."""
    problems = check_safety(setup, sg, landed)
    problems += _requests(setup, sg, tags)
    problems += _jobs(setup)
    problems += _dailies_whole(setup, landed)
    problems += _temp_files(setup)
    problems += _unfinished_versions(setup)
    problems += _views(setup)
    return problems


def _requests(setup: Setup, sg: Any, tags: list[Tag]) -> list[str]:
    from daemon.catalog import fixes

    catalog = _catalog(setup)
    problems = []
    try:
        with catalog.session(readonly=True) as s:
            requests = fixes.list_fix_requests(s, SHOW, limit=None)
            by_task = Counter(str(r.task_id) for r in requests)
            for task, n in Counter(str(t.task) for t in tags).items():
                if by_task[task] != n:
                    problems.append(f"task {task}: {n} tags became {by_task[task]} fix requests")
            versions = tracker_find(sg, "Version", [], ["code", "sg_rushes_key", "sg_uploaded_movie"])
            in_tracker = Counter(v.get("sg_rushes_key") for v in versions)
            problems += [
                f"Version {v['code']} has no uploaded movie" for v in versions if not v["sg_uploaded_movie"]
            ]
            for r in requests:
                problems += _request_end(r, in_tracker, sg)
    finally:
        catalog.dispose()
    return problems


def _request_end(r: Any, in_tracker: Counter[Any], sg: Any) -> list[str]:
    if r.state not in ENDED_REQUESTS:
        return [f"request {r.id} ({r.shot}) left {r.state}"]
    published = [p for p in r.publications if p.state == "published"]
    if r.state == "failed":
        notes = tracker_find(
            sg, "Note", [["tasks", "is", {"type": "Task", "id": int(r.task_id)}]], ["content"]
        )
        return [] if notes else [f"request {r.id} ({r.shot}) failed ({r.error}) with no note on its task"]
    problems = []
    if len(published) != len(r.kinds):
        problems.append(f"request {r.id} ({r.shot}) is {r.state} with {len(published)} Versions")
    for p in published:
        if in_tracker[p.key] != 1:
            problems.append(
                f"request {r.id}: its Version {p.key} is {in_tracker[p.key]} times in the tracker"
            )
    return problems


def _jobs(setup: Setup) -> list[str]:
    from daemon.catalog import jobs as job_repo

    catalog = _catalog(setup)
    try:
        with catalog.session(readonly=True) as s:
            jobs = [(j.id, j.kind, j.state, j.last_error) for j in job_repo.list_jobs(s, limit=None)]
    finally:
        catalog.dispose()
    problems = [f"job {i} ({k}) left {st}" for i, k, st, _ in jobs if st in ("queued", "running")]
    problems += [f"job {i} ({k}) dead with no reason" for i, k, st, e in jobs if st == "dead" and not e]
    return problems


def dead_lettered(setup: Setup) -> list[str]:
    """The jobs dead-lettered with their reason: allowed (a fix's request is then answered on its task, which
    _requests checks), but each is a fix the coordinator asks for again."""
    from daemon.catalog import jobs as job_repo

    catalog = _catalog(setup)
    try:
        with catalog.session(readonly=True) as s:
            dead = job_repo.list_jobs(s, state="dead", limit=None)
            return [f"job {j.id} ({j.kind}) after {j.attempts} attempts: {j.last_error}" for j in dead]
    finally:
        catalog.dispose()


def _dailies_whole(setup: Setup, landed: list[Landed]) -> list[str]:
    from daemon.catalog import dailies as daily_repo

    catalog = _catalog(setup)
    problems = []
    try:
        with catalog.session(readonly=True) as s:
            for item in landed:
                row = daily_repo.current_daily(s, SHOW, item.path)
                alias = daily_repo.alias_of(s, SHOW, item.path)
                if alias is None and (row is None or row.status != "registered"):
                    state = f"{row.status}: {row.error}" if row else "not catalogued"
                    problems.append(f"{Path(item.path).name}, whole on disk, is {state}")
    finally:
        catalog.dispose()
    return problems


def _unfinished_versions(setup: Setup) -> list[str]:
    """With nothing training, no model version may still say it is training."""
    from daemon.catalog import models_repo

    catalog = _catalog(setup)
    try:
        with catalog.session(readonly=True) as s:
            return [
                f"model v{r.version} ({r.metrics.get('job')}) still says {r.metrics.get('state')}"
                for r in models_repo.list_versions(s, SHOW)
                if (r.metrics or {}).get("state") not in (None, "trained")
            ]
    finally:
        catalog.dispose()


def _temp_files(setup: Setup) -> list[str]:
    """Temp and partial files left in data_dir and the ingest folder."""
    home = Path(yaml.safe_load(setup.config.read_text())["data_dir"])
    found = []
    for root in (home, setup.inbox):
        for folder, dirs, files in os.walk(root):
            for name in dirs + files:
                if name.endswith((".tmp", ".part")) or ".tmp" in name or "staging" in name:
                    found.append(str(Path(folder, name).relative_to(setup.work)))
    jobs = home / "tmp" / "jobs"  # the local executor's job folders (spec, outcome): none once it stopped
    found += [str(p.parent.relative_to(setup.work)) for p in jobs.rglob("spec.json")] if jobs.is_dir() else []
    return [f"left behind: {p}" for p in sorted(found)]


def _views(setup: Setup) -> list[str]:
    """`rushes status --json` and `rushes jobs list --json` say what the catalog holds."""
    from daemon.catalog import fixes
    from daemon.catalog import jobs as job_repo

    status = cli(setup, "status", "--json", "--dailies", "0")
    listed = cli(setup, "jobs", "list", "--json", "--limit", "0")
    if isinstance(status, str) or isinstance(listed, str):
        return [x for x in (status, listed) if isinstance(x, str)]
    catalog = _catalog(setup)
    try:
        with catalog.session(readonly=True) as s:
            counts = {f"{k} {st}": n for (k, st), n in job_repo.counts(s).items()}
            jobs = {j.id: j.state for j in job_repo.list_jobs(s, limit=None)}
            requests = {r.id: r.state for r in fixes.list_fix_requests(s, SHOW, limit=50)}
    finally:
        catalog.dispose()
    problems = []
    said = {f"{c['kind']} {c['state']}": c["count"] for c in status["jobs"]["counts"]}
    if said != counts:
        problems.append(f"status --json job counts {said} differ from the catalog's {counts}")
    rows = listed if isinstance(listed, list) else listed.get("jobs", [])
    if {j["id"]: j["state"] for j in rows} != jobs:
        problems.append("jobs list --json differs from the catalog's jobs")
    (show,) = [x for x in status["shows"] if x["code"] == SHOW]
    if {r["id"]: r["state"] for r in show["fix_requests"]} != requests:
        problems.append("status --json fix requests differ from the catalog's")
    return problems
