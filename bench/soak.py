"""A daemon's weeks in an hour: its memory, open files and threads over one fix after another.

    .venv/bin/python bench/soak.py --footage ../shared/footage [--minutes 45] [--height 360] [--frames 24]

A studio runs `rushes daemon` for weeks. What grows with every fix grows without end there, so this runs the
daemon as docs/first-fix.md does (the local tracker, the real shotgun_api3 client tagging tasks, a SQLite
catalog, the local executor's worker processes) and asks for one fix after another until the time is up. Three
shots are cut from the footage's camera clips (--frames frames, --height lines); the show has no trained model,
so the classical stand-in makes every fix (no training: every minute goes to fixes), in turn denoise, upscale
and interpolate frames=auto. A request is asked once the previous Version is in review (the task back to `fix`
with the next kind). Before every 10th fix (--take-every) a new take of a shot lands in the watched folder.

After each Version the daemon is sampled: the resident memory of the daemon process, its open file descriptors
and its threads (and, in the JSON only, with its worker processes: a fix's worker lives only while its job runs,
so a sample catches one or not). Nothing a studio would use instead runs for weeks beside
it, so the figure is the growth itself: a least-squares slope per 100 fixes over the fixes after the first 10
(which warm caches and pools), beside the first and last samples. Writes bench/out/soak.json and soak.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
KEY = "soak-key"
KINDS = ("denoise", "upscale", "interpolate frames=auto")
WARM = 10  # fixes left out of the slope: caches and pools filling


@dataclass
class Sample:
    fix: int
    kind: str
    seconds: float  # from the tag to the Version in review
    daemon_mb: float  # the daemon process alone
    tree_mb: float  # with its worker processes
    fds: int
    threads: int
    load: float


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cut_shots(footage: Path, inbox: Path, frames: int, height: int) -> list[str]:
    """sh010, sh020, sh030: the first `frames` frames of the first three camera clips, `height` lines."""
    clips = sorted((footage / "camera").glob("*.mp4"))[:3]
    if len(clips) < 3:
        raise SystemExit(f"{footage}/camera holds fewer than 3 .mp4 clips: give the shared footage folder")
    shots = []
    for i, clip in enumerate(clips, 1):
        shot = f"sh0{i}0"
        cut(clip, inbox / f"{shot}_1.mov", frames, height)
        shots.append(shot)
    return shots


def cut(clip: Path, out: Path, frames: int, height: int) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(f".{out.name}.part.mov")  # not ingested until renamed (a hidden name)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(clip), "-frames:v", str(frames), "-vf", f"scale=-2:{height}",
         "-c:v", "prores_ks", "-profile:v", "2", "-an", str(part)],
        check=True,
    )  # fmt: skip
    part.rename(out)


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                found.append(child)
                todo.append(child)
    return found


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def sample(pid: int, fix: int, kind: str, seconds: float) -> Sample:
    return Sample(
        fix=fix,
        kind=kind,
        seconds=round(seconds, 2),
        daemon_mb=round(rss_mb(pid), 1),
        tree_mb=round(rss_mb(pid) + sum(rss_mb(c) for c in descendants(pid)), 1),
        fds=len(os.listdir(f"/proc/{pid}/fd")),
        threads=threads(pid),
        load=round(os.getloadavg()[0], 2),
    )


def rushes(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "daemon", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"rushes {' '.join(args)} failed ({done.returncode}): {done.stdout}{done.stderr}")
    return done.stdout


def wait_for(what: str, check: Any, timeout: float, daemon: subprocess.Popen[bytes]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        if daemon.poll() is not None:
            raise SystemExit(f"the daemon ended (exit {daemon.returncode}) while waiting for {what}")
        time.sleep(0.5)
    raise SystemExit(f"no {what} within {timeout:.0f} s")


def soak(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import shotgun_api3

    port = free_port()
    env = {
        **os.environ,
        "RUSHES_HOME": str(work / "home"),
        "RUSHES_TRACKER__KIND": "shotgrid",
        "RUSHES_TRACKER__URL": f"http://127.0.0.1:{port}",
        "RUSHES_TRACKER__SCRIPT_NAME": "rushes",
        "RUSHES_TRACKER__SCRIPT_KEY": KEY,
        "RUSHES_TRACKER__POLL_INTERVAL": "2",
        "RUSHES_HTTP__PORT": "0",
    }
    inbox = work / "dailies"
    shots = cut_shots(args.footage, inbox, args.frames, args.height)
    logs = (work / "serve.log").open("wb"), (work / "daemon.log").open("wb")
    serve = subprocess.Popen(
        [sys.executable, "-m", "daemon", "tracker", "serve", "--port", str(port), "--data", str(work / "sg")],
        env=env, cwd=REPO, stdout=logs[0], stderr=subprocess.STDOUT,
    )  # fmt: skip
    daemon = None
    try:
        wait_for("tracker", lambda: _answers(f"http://127.0.0.1:{port}/versions"), 60, serve)
        sg = shotgun_api3.Shotgun(f"http://127.0.0.1:{port}", "rushes", KEY)
        rushes("show", "add", "SOAK", "--ingest", str(inbox), "--name", "Soak", env=env)
        rushes("ingest", str(inbox), "--show", "SOAK", env=env)
        rushes("tracker", "setup", env=env)
        daemon = subprocess.Popen(
            [sys.executable, "-m", "daemon", "daemon"],
            env=env,
            cwd=REPO,
            stdout=logs[1],
            stderr=subprocess.STDOUT,
        )
        tasks = {
            s: sg.find_one("Task", [["entity", "is", sg.find_one("Shot", [["code", "is", s]])]], ["entity"])
            for s in shots
        }
        samples: list[Sample] = []
        started = time.monotonic()
        while time.monotonic() - started < args.minutes * 60:
            fix = len(samples) + 1
            shot, kind = shots[fix % len(shots)], KINDS[fix % len(KINDS)]
            if args.take_every and fix % args.take_every == 0:  # a new take lands first
                take = sorted((args.footage / "camera").glob("*.mp4"))[fix % 3]
                cut(take, inbox / f"{shot}_{fix + 1}.mov", args.frames, args.height)
            before = len(sg.find("Version", [["entity", "is", tasks[shot]["entity"]]]))
            asked = time.monotonic()
            sg.update("Task", tasks[shot]["id"], {"sg_rushes_fixes": kind, "sg_status_list": "fix"})
            wait_for(
                f"Version of fix {fix} ({kind} on {shot})",
                lambda shot=shot, before=before: (
                    len(sg.find("Version", [["entity", "is", tasks[shot]["entity"]]])) > before
                ),
                args.fix_timeout,
                daemon,
            )
            samples.append(sample(daemon.pid, fix, kind, time.monotonic() - asked))
            print(json.dumps(asdict(samples[-1])), flush=True)
        return summary(samples, args)
    finally:
        for process in (daemon, serve):
            if process is not None:
                process.terminate()
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
        for log in logs:
            log.close()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except OSError:  # not up yet
        return False


def slope_per_100(samples: list[Sample], field: str) -> float | None:
    """Least-squares growth of `field` per 100 fixes, over the fixes after the first WARM."""
    kept = [s for s in samples if s.fix > WARM]
    if len(kept) < 5:
        return None
    x = np.array([s.fix for s in kept], float)
    y = np.array([getattr(s, field) for s in kept], float)
    return round(float(np.polyfit(x, y, 1)[0]) * 100, 2)


def summary(samples: list[Sample], args: argparse.Namespace) -> dict[str, Any]:
    fields = ("daemon_mb", "fds", "threads")
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()}, {os.cpu_count()} cores",
        "command": " ".join(sys.argv),
        "frames": args.frames,
        "take_every": args.take_every,
        "height": args.height,
        "fixes": len(samples),
        "median_fix_s": round(float(np.median([s.seconds for s in samples])), 1) if samples else None,
        "first": asdict(samples[0]) if samples else None,
        "after_warm": asdict(samples[WARM]) if len(samples) > WARM else None,
        "last": asdict(samples[-1]) if samples else None,
        "per_100_fixes": {f: slope_per_100(samples, f) for f in fields},
        "load": [min(s.load for s in samples), max(s.load for s in samples)] if samples else None,
        "samples": [asdict(s) for s in samples],
    }


def takes(result: dict[str, Any]) -> str:
    every = result["take_every"]
    if not every:
        return "no new takes"
    return "a new take before every fix" if every == 1 else f"a new take before every {every}th fix"


def report(result: dict[str, Any]) -> str:
    first, warm, last = result["first"], result["after_warm"] or result["last"], result["last"]
    rows = [
        f"# Daemon soak ({result['when']})",
        "",
        f"`{result['command']}` on {result['machine']}, load {result['load'][0]}-{result['load'][1]}: "
        f"{result['fixes']} fixes of {result['frames']} frames at {result['height']} lines by the classical "
        f"stand-in, median {result['median_fix_s']} s from the tag to the Version in review; {takes(result)}.",
        "",
        f"| measure | after fix 1 | after fix {warm['fix']} | after fix {last['fix']} | growth per 100 fixes after "
        f"fix {WARM} |",
        "| --- | --- | --- | --- | --- |",
    ]
    names = {"daemon_mb": "daemon RSS MB", "fds": "open files", "threads": "threads"}
    for field, name in names.items():
        rows.append(
            f"| {name} | {first[field]} | {warm[field]} | {last[field]} | {result['per_100_fixes'][field]} |"
        )
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--footage", type=Path, required=True)
    parser.add_argument("--minutes", type=float, default=45)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument(
        "--take-every", type=int, default=10, help="a new take lands before every Nth fix; 0: none"
    )
    parser.add_argument("--fix-timeout", type=float, default=600)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, catalog)")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        raise SystemExit("ffmpeg is not on PATH: `make system-deps` installs it")
    work = Path(tempfile.mkdtemp(prefix="rushes-soak-"))
    print(f"working in {work}", flush=True)
    try:
        result = soak(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "soak.json").write_text(json.dumps(result, indent=2))
    text = report(result)
    (OUT / "soak.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
