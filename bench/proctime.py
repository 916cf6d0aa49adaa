"""CPU seconds the processes on this machine (or one benchmark's process trees) spent between two moments.

`snapshot()` reads every process's user + system time from /proc/PID/stat (in clock ticks) and its command
line; `spent(before, after)` groups the difference by a short label (Ray's own processes by their program:
raylet, gcs_server, dashboard agent...; a Ray worker by the task or actor it runs; a Python program by its
script or module), so a benchmark can say where the cores went while it was timed, and how much of them
went to overhead beside the work measured. Processes that started and ended between the two snapshots are
missed (their time is not in any snapshot): a `Sampler` takes a snapshot every half second and keeps each
process's last one, so the "after" side holds processes that are gone by the end (Ray Train's workers).
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Proc:
    label: str
    cpu_s: float
    ppid: int


def _label(cmd: list[str], comm: str) -> str:
    if not cmd:
        return comm
    if cmd[0].startswith("ray::"):
        return "ray worker"  # a Ray worker process (its title names the task it runs now, or IDLE)
    if cmd[0].startswith("postgres"):
        return "postgres"  # a server process titles itself by its connection ("postgres: user db host idle")
    prog = Path(cmd[0]).name
    if "python" in prog and len(cmd) > 1:
        args = [a for a in cmd[1:] if not a.startswith("-")]
        if "-m" in cmd:
            return f"python -m {cmd[cmd.index('-m') + 1]}"
        return f"python {Path(args[0]).name}" if args else prog
    return prog


def snapshot() -> dict[int, Proc]:
    out: dict[int, Proc] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[-1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime
        out[int(entry.name)] = Proc(_label([c for c in cmd if c], comm), ticks / _TICK, int(fields[1]))
    return out


def _descends(pid: int, procs: dict[int, Proc], roots: set[int]) -> bool:
    seen = 0
    while pid > 1 and seen < 64:
        if pid in roots:
            return True
        proc = procs.get(pid)
        if proc is None:
            return False
        pid, seen = proc.ppid, seen + 1
    return False


def spent(
    before: dict[int, Proc], after: dict[int, Proc], roots: set[int] | None = None, top: int | None = 30
) -> list[tuple[str, float]]:
    """CPU seconds per label between the snapshots, largest first (processes new since `before` count whole);
    with `roots`, only those processes and their descendants (this benchmark's, not other work's)."""
    by: dict[str, float] = defaultdict(float)
    for pid, proc in after.items():
        if roots is not None and not _descends(pid, after, roots):
            continue
        was = before.get(pid)
        used = proc.cpu_s - (was.cpu_s if was is not None else 0.0)
        if used > 0:
            by[proc.label] += used
    return sorted(((k, round(v, 1)) for k, v in by.items()), key=lambda kv: -kv[1])[:top]


def total(before: dict[int, Proc], after: dict[int, Proc]) -> float:
    """CPU seconds every process on the machine spent between the snapshots (with `spent(..., roots)`: what
    the rest of the machine took meanwhile, e.g. other sessions' work beside a benchmark)."""
    return sum(s for _, s in spent(before, after, top=None))


class Sampler:
    """Snapshots every `every_s` seconds on a thread; `stop()` returns every process's last snapshot."""

    def __init__(self, every_s: float = 0.5) -> None:
        self._seen: dict[int, Proc] = {}
        self._stop = threading.Event()
        self._every = every_s
        self._thread = threading.Thread(target=self._run, name="proctime-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self._seen.update(snapshot())
            if self._stop.wait(self._every):
                return

    def stop(self) -> dict[int, Proc]:
        self._stop.set()
        self._thread.join()
        self._seen.update(snapshot())
        return dict(self._seen)
