"""Per-job timeline of a bench run, read back from the daemons' JSON logs and the jobs' own logs.

For every job of one kind (fix by default): when the daemon started it (`job.start`), when the Ray task began
on a worker (`ray task started ... pid N at T`, written by integrations.executors.ray), when the stage itself
said it was done (`fix.rendered`), and when the daemon saw it done (`job.done`), all in seconds after `t0`
(the moment the bench tagged the requests), with the worker pid (a new pid: a fresh Ray worker process).
The gaps show where the time goes: tag -> start is the tracker poll and the lane's dispatch, start -> task the
Ray dispatch (and a worker process's start), task -> rendered the job's own work, rendered -> done the return
trip to the daemon.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

_TASK = re.compile(r"ray task (\S+) started on \S+ pid (\d+)(?: at (\S+))?")


@dataclass(frozen=True)
class JobTimes:
    job: int
    start: float | None
    task: float | None
    rendered: float | None
    done: float | None
    pid: int | None


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _events(path: Path) -> list[dict[str, object]]:
    events = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return events


def job_times(root: Path, t0: float, kind: str = "fix") -> list[JobTimes]:
    """Every `kind` job found under `root` (daemon*.log beside data folders holding logs/job-N.log)."""
    starts: dict[int, float] = {}
    dones: dict[int, float] = {}
    for log in sorted(root.glob("daemon*.log")):
        for e in _events(log):
            if e.get("kind") != kind or not isinstance(e.get("job"), int):
                continue
            job, at = int(e["job"]), _epoch(str(e["timestamp"])) - t0  # type: ignore[call-overload]
            if e.get("event") == "job.start":
                starts[job] = at
            elif e.get("event") == "job.done":
                dones[job] = at
    rows = []
    for job in sorted(starts):
        task = rendered = None
        pid = None
        for path in root.glob(f"*/logs/job-{job}.log"):
            text = path.read_text(errors="replace")
            for m in _TASK.finditer(text):
                pid = int(m.group(2))
                task = _epoch(m.group(3)) - t0 if m.group(3) else None
            for e in _events(path):
                if e.get("event") == f"{kind}.rendered":
                    rendered = _epoch(str(e["timestamp"])) - t0
        rows.append(JobTimes(job, starts.get(job), task, rendered, dones.get(job), pid))
    return rows


def table(rows: list[JobTimes]) -> str:
    def f(x: float | None) -> str:
        return "-" if x is None else f"{x:6.1f}"

    lines = ["job   start   task  rendered  done   pid"]
    for r in rows:
        lines.append(f"{r.job:<4} {f(r.start)} {f(r.task)} {f(r.rendered)} {f(r.done)}  {r.pid or '-'}")
    return "\n".join(lines)
