"""How long each `rushes` command that needs no model takes, from a fresh process to its exit (issue 12: at most
0.7 s each on an idle box).

    .venv/bin/python bench/cli_start.py [--home DIR] [--show CODE] [--runs 7] [--name cli_start]

Each command runs `--runs` times as a fresh process (the venv's `rushes` script, as a user types it), the
commands taken in turn within each round so that a swing of the machine's load falls on all of them alike; the
figure is the median wall time, with the median CPU time (user + sys) beside it, which a busy neighbour
disturbs less. Every run must exit 0, or the command is reported as failing.

Without `--home` a throw-away home is made: a show BENCH with the demo's seven generated dailies ingested
(`rushes show add` + `rushes ingest`), no model. `--home` takes an existing home instead, e.g. a kept demo's
(`rushes demo --keep` prints it; its show is DEMO, and it has a model version for `model list` / `model show`).
`dailies exclude` and `dailies include` run in turn on the same daily, so each finds what it changes.
Each command runs once untimed first, so Python's bytecode caches exist as after an install (the environment
drops PYTHONDONTWRITEBYTECODE for the same reason). Writes bench/out/NAME.json and bench/out/NAME.md, with the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
GOAL_S = 0.7


@dataclass(frozen=True)
class Timed:
    wall_s: float
    cpu_s: float
    code: int


def rushes() -> list[str]:
    """The venv's console script when there is one (what a user runs), else `python -m daemon`."""
    script = Path(sys.executable).with_name("rushes")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "daemon"]


def run_once(argv: list[str], env: dict[str, str]) -> Timed:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        print(f"{' '.join(argv[1:])}: exit {done.returncode}: {done.stderr.decode()[-400:]}", file=sys.stderr)
    return Timed(wall, cpu, done.returncode)


def environment(home: Path) -> dict[str, str]:
    # A user's Python keeps compiled bytecode (pip writes it at install, Python on a module's first import);
    # a shell with PYTHONDONTWRITEBYTECODE=1 (this project's sandboxes set it) would compile every Rushes module
    # from source on every start instead, about 0.06 s of each, which no installed rushes pays.
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("RUSHES_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(RUSHES_HOME=str(home), RUSHES_LOG_LEVEL="warning", PYTHONPATH=str(REPO))
    return env


def make_home(folder: Path, env: dict[str, str]) -> None:
    """A home with show BENCH and the demo's seven dailies catalogued (no model)."""
    sys.path.insert(0, str(REPO))
    from daemon.demo import generate_dailies

    generate_dailies(folder / "inbox")
    for args in (
        ["show", "add", "BENCH", "--ingest", str(folder / "inbox")],
        ["ingest", str(folder / "inbox"), "--show", "BENCH"],
    ):
        subprocess.run([*rushes(), *args], env=env, check=True, stdout=subprocess.DEVNULL)


def first_daily(env: dict[str, str], show: str) -> int:
    listed = subprocess.run(
        [*rushes(), "dailies", "list", "--show", show, "--status", "registered", "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    rows = json.loads(listed.stdout)
    if not rows:
        raise SystemExit(f"show {show} has no registered daily to exclude and include")
    return int(rows[0]["id"])


def first_model(env: dict[str, str], show: str) -> int | None:
    listed = subprocess.run(
        [*rushes(), "model", "list", "--show", show, "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    rows = json.loads(listed.stdout)
    return int(rows[0]["version"]) if rows else None


def commands(env: dict[str, str], show: str, config: Path) -> dict[str, list[str]]:
    daily = str(first_daily(env, show))
    cmds = {
        "--help": ["--help"],
        "version": ["version"],
        "status": ["status"],
        "status --json": ["status", "--json"],
        "show list": ["show", "list"],
        "show add (again)": ["show", "add", show],
        "dailies list": ["dailies", "list", "--show", show],
        "dailies exclude": ["dailies", "exclude", daily, "--reason", "bench"],
        "dailies include": ["dailies", "include", daily],
        "model list": ["model", "list"],
        "base list": ["base", "list"],
        "jobs list": ["jobs", "list"],
        "config check": ["config", "check", str(config)],
        "config schema": ["config", "schema"],
        "migrate": ["migrate"],
    }
    model = first_model(env, show)
    if model is not None:
        cmds["model show"] = ["model", "show", str(model), "--show", show]
    return cmds


def measure(cmds: dict[str, list[str]], env: dict[str, str], runs: int) -> dict[str, list[Timed]]:
    timed: dict[str, list[Timed]] = {name: [] for name in cmds}
    for args in cmds.values():  # one untimed run each: bytecode caches written, as after an install
        run_once([*rushes(), *args], env)
    for _ in range(runs):
        for name, args in cmds.items():
            timed[name].append(run_once([*rushes(), *args], env))
    return timed


def report(timed: dict[str, list[Timed]], meta: dict[str, Any], name: str) -> None:
    rows = []
    for cmd, runs in timed.items():
        wall = statistics.median(t.wall_s for t in runs)
        rows.append(
            {
                "command": f"rushes {cmd}",
                "median_wall_s": round(wall, 3),
                "median_cpu_s": round(statistics.median(t.cpu_s for t in runs), 3),
                "min_wall_s": round(min(t.wall_s for t in runs), 3),
                "max_wall_s": round(max(t.wall_s for t in runs), 3),
                "failed_runs": sum(1 for t in runs if t.code != 0),
                "within_goal": wall <= GOAL_S and all(t.code == 0 for t in runs),
            }
        )
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps({**meta, "goal_s": GOAL_S, "commands": rows}, indent=2))
    lines = [
        f"# CLI start ({meta['runs']} fresh processes each; load average {meta['load_before']} before, "
        f"{meta['load_after']} after)",
        "",
        "| command | median wall s | median CPU s | min / max wall s | failed runs | <= 0.7 s |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| `{r['command']}` | {r['median_wall_s']:.3f} | {r['median_cpu_s']:.3f} | "
            f"{r['min_wall_s']:.3f} / {r['max_wall_s']:.3f} | {r['failed_runs']} | "
            f"{'yes' if r['within_goal'] else 'NO'} |"
        )
    (OUT / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, help="An existing home (default: a throw-away one).")
    parser.add_argument("--show", default="BENCH", help="The show of that home to list (default BENCH).")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--name", default="cli_start")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="rushes-cli-start-"))
    try:
        home = args.home or scratch / "home"
        env = environment(home)
        if args.home is None:
            make_home(scratch, env)
        config = scratch / "rushes.yaml"
        config.write_text(f"data_dir: {home}\nshows:\n  - code: OTHER\n")
        cmds = commands(env, args.show, config)
        load_before = [round(x, 2) for x in os.getloadavg()]
        timed = measure(cmds, env, args.runs)
        meta = {
            "runs": args.runs,
            "home": str(home),
            "show": args.show,
            "runner": rushes(),
            "load_before": load_before,
            "load_after": [round(x, 2) for x in os.getloadavg()],
            "cpu_count": os.cpu_count(),
        }
        report(timed, meta, args.name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
