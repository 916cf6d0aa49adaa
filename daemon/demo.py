"""`rushes demo`: the whole loop on embedded defaults, offline, in a temporary home.

A local ShotGrid-compatible server with a demo project -> a few generated dailies (real photos from
scikit-image under moving virtual cameras: a dropped frame, a lighting change, noise, a soft plate, a stray
object) dropped into a watched folder -> the daemon ingests them -> trains the show model on a short budget ->
a coordinator tags one task per fix kind through the tracker's API -> the daemon renders and publishes a
Version for each. `--footage DIR` uses your own clips instead of generated ones.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shotgun_api3
import yaml

from daemon.catalog import fixes, models_repo
from daemon.catalog import jobs as job_repo
from daemon.jobs.payloads import TrainJob, queue
from daemon.logs import get_logger
from daemon.settings import Settings, load_settings

log = get_logger("rushes.demo")

SHOW = "DEMO"


class DemoError(Exception):
    pass


@dataclass(frozen=True)
class DemoShot:
    shot: str
    file: Path
    kind: str | None  # the fix a coordinator will ask for (None: training material only)
    fix_text: str = ""


def generate_dailies(
    folder: Path, size: tuple[int, int] = (320, 180), frames: int = 24, references: Path | None = None
) -> list[DemoShot]:
    """Five shots that each need one fix, plus two clean ones, as H.264 movies."""
    from engine import degrade, synth
    from engine.media import write_image, write_movie

    folder.mkdir(parents=True, exist_ok=True)
    refs = references or folder.parent / "references"  # the daemon reads only the show's references folder
    refs.mkdir(parents=True, exist_ok=True)

    def clip(photo: str, seed: int, n: int = frames, sz: tuple[int, int] = size) -> np.ndarray:
        return synth.camera_move(synth.photo(photo), n, sz, seed=seed)

    def save(name: str, data: np.ndarray, hour: int) -> Path:
        path = folder / name
        write_movie(path, data, 24, timecode=f"{hour:02d}:00:00:00")
        return path

    shots: list[DemoShot] = []
    dropped = degrade.drop_frames(clip("astronaut", 1), [12])
    shots.append(DemoShot("sh010", save("sh010_1.mp4", dropped, 1), "interpolate", "interpolate frames=auto"))
    coffee = clip("coffee", 2)
    write_image(refs / "sh020_reference.png", coffee[frames // 2])
    graded = degrade.regrade(coffee, exposure_stops=-1.0, white_balance=(1.12, 1.0, 0.82), contrast=0.85)
    shots.append(
        DemoShot(
            "sh020",
            save("sh020_1.mp4", graded, 2),
            "regrade",
            f"regrade reference={refs / 'sh020_reference.png'}",
        )
    )
    noisy = degrade.add_noise(clip("chelsea", 3), 15 / 255, seed=3)
    shots.append(DemoShot("sh030", save("sh030_1.mp4", noisy, 3), "denoise", "denoise"))
    soft = clip("rocket", 4, sz=(size[0] // 2, size[1] // 2))
    shots.append(DemoShot("sh040", save("sh040_1.mp4", soft, 4), "upscale", "upscale"))
    plate = clip("immunohistochemistry", 5)
    x, y, w, h = size[0] * 5 // 8, size[1] // 3, size[0] // 8, size[1] // 5
    plate[:, y : y + h, x : x + w] = np.array([0.9, 0.1, 0.8], np.float32)  # a stray magenta card
    shots.append(
        DemoShot(
            "sh050", save("sh050_1.mp4", plate, 5), "cleanup", f"cleanup mask={x - 3},{y - 3},{w + 6},{h + 6}"
        )
    )
    shots.append(DemoShot("sh060", save("sh060_1.mp4", clip("hubble_deep_field", 6), 6), None))
    shots.append(DemoShot("sh070", save("sh070_1.mp4", clip("retina", 7), 7), None))
    return shots


def footage_dailies(source: Path, folder: Path) -> list[DemoShot]:
    """Your own clips: the first five get one fix kind each; the rest are training material."""
    from engine.media import probe
    from integrations.ingest.names import MOVIE_EXTS

    clips = sorted(p for p in source.rglob("*") if p.suffix.lower() in MOVIE_EXTS)
    if not clips:
        raise DemoError(f"--footage {source}: no movies found there ({', '.join(sorted(MOVIE_EXTS))})")
    folder.mkdir(parents=True, exist_ok=True)
    kinds = ["interpolate", "regrade", "denoise", "upscale", "cleanup"]
    shots = []
    for i, src in enumerate(clips):
        shot = f"sh{(i + 1) * 10:03d}"
        dest = folder / f"{shot}_1{src.suffix.lower()}"
        shutil.copy(src, dest)
        kind = kinds[i] if i < len(kinds) else None
        text = kind or ""
        if kind == "regrade":  # its first frame, which the grade starts from, would change nothing
            frames = probe(dest).frame_range
            text = f"regrade reference={frames[len(frames) // 2]}"
        elif kind == "interpolate":
            text = "interpolate frames=auto"
        elif kind == "cleanup":
            info = probe(dest)
            text = f"cleanup mask={info.width // 2 - 20},{info.height // 2 - 20},40,40"
        shots.append(DemoShot(shot, dest, kind, text))
    return shots


class Coordinator:
    """What a production coordinator does in the tracker, through the real shotgun_api3 client."""

    def __init__(self, url: str, script_name: str, key: str) -> None:
        self.sg = shotgun_api3.Shotgun(url, script_name, key)

    def setup(self, shots: list[DemoShot], fix_field: str, key_field: str) -> dict[str, int]:
        from daemon.trackers import FIX_KINDS
        from integrations.trackers.options import TrackerOptions
        from integrations.trackers.shotgrid import ShotGridTracker

        project = self.sg.create("Project", {"name": "Rushes demo", "code": SHOW})
        seq = self.sg.create("Sequence", {"code": "SQ010", "project": project})
        tasks = {}
        for s in shots:
            shot = self.sg.create("Shot", {"code": s.shot, "project": project, "sg_sequence": seq})
            task = self.sg.create("Task", {"content": "comp", "entity": shot, "project": project})
            tasks[s.shot] = int(task["id"])
        options = TrackerOptions(
            kind="shotgrid",
            url=self.sg.base_url,
            script_name=self.sg.config.script_name,
            script_key=self.sg.config.api_key,
            fix_field=fix_field,
            key_field=key_field,
        )
        ShotGridTracker(options, kinds=FIX_KINDS).ensure_fields()
        return tasks

    def tag(self, task_id: int, fix_text: str, fix_field: str, status: str) -> None:
        self.sg.update("Task", task_id, {fix_field: fix_text, "sg_status_list": status})

    def versions(self) -> list[dict[str, Any]]:
        fields = [
            "code",
            "entity",
            "sg_task",
            "sg_status_list",
            "sg_path_to_movie",
            "sg_first_frame",
            "sg_last_frame",
            "sg_uploaded_movie",
            "description",
        ]
        return [dict(v) for v in self.sg.find("Version", [], fields)]

    def notes(self, task_id: int) -> list[str]:
        """The content of the Notes on the task, newest first."""
        found = self.sg.find("Note", [["tasks", "is", {"type": "Task", "id": task_id}]], ["content"])
        return [str(n.get("content") or "") for n in sorted(found, key=lambda n: -int(n["id"]))]

    def task_status(self, task_id: int) -> str:
        task: dict[str, Any] | None = self.sg.find_one("Task", [["id", "is", task_id]], ["sg_status_list"])  # type: ignore[assignment]
        return str(task["sg_status_list"]) if task else ""


def _wait(what: str, done: Callable[[], bool], timeout: float, say: Callable[[str], None]) -> None:
    say(f"waiting for {what}")
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise DemoError(
                f"timed out after {timeout:.0f} s waiting for {what}; see the logs in the demo home"
            )
        time.sleep(0.5)


def demo_config(home: Path, inbox: Path, url: str, budget: float) -> dict[str, Any]:
    """The daemon's config for the demo: the local tracker, one show watching `inbox`."""
    return {
        "data_dir": str(home / "rushes"),
        "log_level": "info",
        "log_format": "json",
        "max_jobs": 2,
        "http": {"host": "127.0.0.1", "port": 0},
        "tracker": {"kind": "shotgrid", "url": url, "script_name": "rushes", "poll_interval": 1.0},
        "shows": [
            {
                "code": SHOW,
                "name": "Rushes demo",
                "tracker_project": SHOW,
                "ingest": {
                    "roots": [str(inbox)],
                    "path_template": "{shot}_{take}.{ext}",
                    "stable_seconds": 1.0,
                },
                "train": {"budget_seconds": budget, "resolution": 180},
            }
        ],
    }


def run_demo(
    home: Path | None = None,
    footage: Path | None = None,
    budget: float = 60.0,
    say: Callable[[str], None] = print,
    timeout: float = 600.0,
) -> dict[str, Any]:
    """Run the loop and return its summary (what `--json` prints)."""
    with _own_environment(say):
        return _run(home, footage, budget, say, timeout)


@contextlib.contextmanager
def _own_environment(say: Callable[[str], None]) -> Iterator[None]:
    """The demo's settings are its own: the RUSHES_* variables of the shell (a first-fix walkthrough's home and
    tracker, exported in the same terminal) are left out while it runs, and put back after. They used to point
    its daemon at the walkthrough's tracker with the demo's key, where it waited in vain, and its catalog into
    the walkthrough's home."""
    shell = {name: value for name, value in os.environ.items() if _a_setting(name)}
    for name in shell:
        del os.environ[name]
    if shell:
        say(f"left out while the demo runs in its own home: {', '.join(sorted(shell))} (set in this shell)")
    try:
        yield
    finally:
        for name in [n for n in os.environ if _a_setting(n)]:
            del os.environ[name]
        os.environ.update(shell)


def _a_setting(name: str) -> bool:
    """Whether an environment variable sets what the daemon's settings hold (its home, config file, catalog,
    tracker ...): not one of the engine's own (`RUSHES_INFER_BACKEND`, `RUSHES_CODEC_THREADS`), which the demo
    keeps, as a machine where one backend fails needs them."""
    if not name.startswith("RUSHES_"):
        return False
    key = name.removeprefix("RUSHES_").lower()
    return key in ("home", "config", "secrets_dir") or key.split("__")[0] in Settings.model_fields


def _run(
    home: Path | None, footage: Path | None, budget: float, say: Callable[[str], None], timeout: float
) -> dict[str, Any]:
    from daemon.service import Daemon
    from integrations.trackers.sgserver.app import start_in_thread

    home = home or Path(tempfile.mkdtemp(prefix="rushes-demo-"))
    home.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    key = secrets.token_hex(16)
    server = start_in_thread(home / "tracker", "rushes", key)
    say(f"local ShotGrid-compatible server on {server.url}")
    inbox, staging = home / "ingest", home / "staging"
    inbox.mkdir(parents=True, exist_ok=True)
    references = (
        home / "rushes" / "references" / SHOW
    )  # DATA_DIR/references/SHOW (daemon.stages.request_paths)
    shots = footage_dailies(footage, staging) if footage else generate_dailies(staging, references=references)
    say(f"{len(shots)} dailies ready ({'your footage' if footage else 'generated from scikit-image photos'})")
    config = demo_config(home, inbox, server.url, budget)
    config_path = home / "rushes.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    os.environ["RUSHES_TRACKER__SCRIPT_KEY"] = key
    settings = load_settings(config_path)
    from daemon.logs import configure

    configure("warning", "json", stream=(home / "daemon.log").open("a"))
    coordinator = Coordinator(server.url, "rushes", key)
    tasks = coordinator.setup(shots, settings.tracker.fix_field, settings.tracker.key_field)
    daemon = Daemon(settings, config_path)
    thread = _serve(daemon)
    try:
        _say_where(daemon, server.url, timeout, say)
        for s in shots:
            shutil.copy(s.file, inbox / s.file.name)
        _wait("the dailies to be ingested", lambda: _registered(daemon) >= len(shots), timeout, say)
        say(f"{len(shots)} dailies catalogued; training the show model ({budget:.0f} s budget)")
        with daemon.catalog.session() as session:
            queue(session, TrainJob(SHOW, "demo"), show=SHOW)
        _wait("the first model version", lambda: _promoted(daemon) is not None, timeout, say)
        say(f"model v{_promoted(daemon)} promoted; tagging one task per fix kind, as a coordinator would")
        wanted = [s for s in shots if s.kind]
        for s in wanted:
            coordinator.tag(
                tasks[s.shot], s.fix_text, settings.tracker.fix_field, settings.tracker.fix_status
            )
        _wait(f"{len(wanted)} published Versions", lambda: _published(daemon) >= len(wanted), timeout, say)
        summary = _summary(daemon, coordinator, tasks, shots, server.url, home, config_path)
        summary["answered"] = _ask_what_cannot_be_done(coordinator, tasks, shots, settings, timeout, say)
    finally:
        daemon.stop_event.set()
        thread.join(timeout=60)
        server.stop()
    summary["seconds"] = round(time.monotonic() - started, 1)
    return summary


def _ask_what_cannot_be_done(
    coordinator: Coordinator,
    tasks: dict[str, int],
    shots: list[DemoShot],
    settings: Settings,
    timeout: float,
    say: Callable[[str], None],
) -> list[dict[str, Any]]:
    """A request with a misspelt fix on a clean shot's task, and the note Rushes answers it with."""
    spare = next((s for s in shots if not s.kind), None)
    if spare is None:  # your own footage: every shot got a fix
        return []
    task = tasks[spare.shot]
    say(
        f"asking for 'sharpen' on {spare.shot}, a fix Rushes does not know, as a coordinator might mistype one"
    )
    options = settings.tracker
    coordinator.tag(task, "sharpen", options.fix_field, options.fix_status)
    _wait(
        "the answer on the task", lambda: coordinator.task_status(task) == options.failed_status, timeout, say
    )
    notes = coordinator.notes(task)
    return [{"shot": spare.shot, "task_status": options.failed_status, "note": notes[0] if notes else ""}]


def _say_where(daemon: Any, tracker_url: str, timeout: float, say: Callable[[str], None]) -> None:
    """The daemon's health URL with its real port, once bound (the config asks for any free one)."""
    health = daemon.health
    if health is not None:
        _wait("the daemon to start", lambda: health.port != 0, timeout, lambda _: None)
    say(f"daemon running; metrics and health on {health.url if health else '-'}")
    say(f"the local tracker's Versions, while the demo runs: {tracker_url}/versions")


def _serve(daemon: Any) -> threading.Thread:
    """Run the daemon on a thread until its stop event is set."""

    def serve() -> None:
        daemon.start()
        daemon.run_forever()
        daemon.stop()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def _registered(daemon: Any) -> int:
    from daemon.catalog import dailies

    with daemon.catalog.session(readonly=True) as s:
        return len(dailies.list_dailies(s, SHOW))


def _promoted(daemon: Any) -> int | None:
    with daemon.catalog.session(readonly=True) as s:
        _dead(s, daemon)
        row = models_repo.latest_promoted(s, SHOW)
        return row.version if row else None


def _published(daemon: Any) -> int:
    """Publish jobs done: each Version is in the tracker and its task moved on (a publication is marked
    published in the catalog just before the task's status is set, so it alone would be read too early)."""
    with daemon.catalog.session(readonly=True) as s:
        _dead(s, daemon)
        return len(job_repo.list_jobs(s, kind="publish", state="done", limit=None))


def _dead(s: Any, daemon: Any) -> None:
    dead = job_repo.list_jobs(s, state="dead", limit=5)
    if dead:
        raise DemoError(f"a {dead[0].kind} job failed for good: {dead[0].last_error}")


def _summary(
    daemon: Any,
    coordinator: Coordinator,
    tasks: dict[str, int],
    shots: list[DemoShot],
    url: str,
    home: Path,
    config_path: Path,
) -> dict[str, Any]:
    versions = {str(v["id"]): v for v in coordinator.versions()}
    published = []
    with daemon.catalog.session(readonly=True) as s:
        promoted = models_repo.latest_promoted(s, SHOW)
        model = {
            "show": SHOW,
            "version": promoted.version if promoted else None,
            "folder": promoted.path if promoted else None,
        }
        for request in fixes.list_fix_requests(s, SHOW):
            for p in request.publications:
                v = versions.get(str(p.tracker_version_id), {})
                published.append(
                    {
                        "version_id": int(p.tracker_version_id) if p.tracker_version_id else None,
                        "code": v.get("code"),
                        "kind": p.fix_kind,
                        "shot": request.shot,
                        "task_status": coordinator.task_status(tasks[request.shot]),
                        "movie": p.movie_path,
                        "before_after": p.before_after_path,
                        "uploaded_movie": bool(v.get("sg_uploaded_movie")),
                        "first_frame": v.get("sg_first_frame"),
                        "last_frame": v.get("sg_last_frame"),
                        "extra_files": dict(p.extra_files or {}),
                    }
                )
    return {
        "home": str(home),
        "config": str(config_path),
        "tracker_url": url,
        "versions_page": f"{url}/versions",
        "model": model,
        "dailies": len(shots),
        "versions": sorted(published, key=lambda r: r["shot"]),
    }
