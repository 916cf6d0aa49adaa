"""Studio base models on disk: `<root>/<NAME>/v<N>/` folders stored like show model versions.

A finished base version holds weights.safetensors + manifest.json (kind "base": every corpus clip with
its content hash and cuts, the held-out clips, the corpus folders and their declaration). A version that
is still training holds run.json (what it was started with, so `--resume` continues the same run) and
the training checkpoint, and no manifest yet. Version numbers only grow; a base is never overwritten.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path

from engine.model.manifest import BaseRef, Manifest
from engine.model.version import (
    MANIFEST,
    WEIGHTS,
    ModelError,
    ModelVersion,
    load_manifest,
    load_model,
    verify_version,
    version_number,
)

RUN = "run.json"
LOCK = "run.lock"  # flock'ed by the process training in the folder, for the whole run (RunLock)
ISSUED = ".issued"  # in a base's folder: the highest version number it has given, moved away or not
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class BaseRun:
    """What a base training run was started with (run.json), so that a resumed run is the same run."""

    name: str
    folders: list[str]
    declaration: str
    budget_seconds: float
    seed: int = 0
    resolution: int = 256
    # the native-size cap of upscale's frames (TrainOptions.native_resolution); 0 where run.json predates it:
    # such a run trained every head at `resolution`, and resumes so
    native_resolution: int = 0
    max_frames: int | None = None
    holdout_fraction: float = 0.1
    extra: dict[str, object] = field(default_factory=dict)
    # each folder's own declaration, in the folders' order; empty in run.json from before (and where one
    # declaration covers every folder): `declaration` is then every folder's
    declarations: list[str] = field(default_factory=list)

    def folder_declarations(self) -> list[str]:
        """The declaration of each of `folders`, in order."""
        return self.declarations or [self.declaration] * len(self.folders)


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise ModelError(
            f"base name {name!r} must start with a letter and hold only letters, digits, '_', '-' and '.' (max 64)"
        )
    return name


def parse_spec(spec: str) -> tuple[str, str | None]:
    """A base as a show names it: NAME (its newest finished version, when the show's first version trains) or
    NAME@v2 (that version, pinned: a studio checks a new base before its shows grow from it)."""
    name, at, version = spec.strip().partition("@")
    if not at:
        return check_name(name), None
    if not re.fullmatch(r"[vV]?\d{1,9}", version):
        raise ModelError(
            f"base {spec!r}: after '@' write a version, as in NAME@v2 (`rushes base list` shows them)"
        )
    return check_name(name), f"v{version_number(version)}"


def _number(folder: Path) -> int:
    return int(folder.name[1:])


def versions(root: Path, name: str) -> list[Path]:
    """Every version folder of base `name`, oldest first (finished or not)."""
    base = root / check_name(name)
    if not base.is_dir():
        return []
    found = [p for p in base.iterdir() if p.is_dir() and re.fullmatch(r"v\d+", p.name)]
    return sorted(found, key=_number)


def is_finished(folder: Path) -> bool:
    return (folder / MANIFEST).is_file()


def lost_manifest(folder: Path) -> bool:
    """A finished version whose manifest.json is gone (a sync tool, a hand): its weights are there. Never an
    interrupted run to resume or to take over, whose new weights would replace those a show grew from."""
    return not is_finished(folder) and (folder / WEIGHTS).is_file()


LOST_MANIFEST = (
    f"it holds {WEIGHTS} but no {MANIFEST}: restore the manifest from a backup, or move the folder away"
)


def unfinished(root: Path, name: str) -> Path | None:
    """The version folder of an interrupted run of `name` (started, no manifest yet), if any."""
    pending = [
        v for v in versions(root, name) if not is_finished(v) and not lost_manifest(v) and (v / RUN).is_file()
    ]
    return pending[-1] if pending else None


class RunLock:
    """An exclusive flock on a version folder's run.lock: the run in that folder is this process's until
    release() (or until the process ends, however it ends: the kernel drops the lock with the process)."""

    def __init__(self, folder: Path, fd: int) -> None:
        self.folder, self._fd = folder, fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the only descriptor of the open file drops its flock
            self._fd = -1

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_run(folder: Path) -> RunLock | None:
    """Take `folder`'s run lock without waiting, noting this process in it; None when another run holds it."""
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
    return RunLock(folder, fd)


def held_by(folder: Path) -> str | None:
    """Who holds `folder`'s run lock now ("pid 123 on HOST", or "another process"), None when no run does; reads
    only (no lock file is made where there is none)."""
    try:
        fd = os.open(folder / LOCK, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return lock_holder(folder) or "another process"
    finally:
        os.close(fd)  # drops the lock where it was taken
    return None


def _issued(base: Path) -> int:
    """The highest version number `base` has given (0: none recorded, as before Rushes recorded them)."""
    try:
        return int((base / ISSUED).read_text().strip())
    except (OSError, ValueError):
        return 0


def _issue(base: Path, number: int) -> None:
    """Record that `base` gave `number`, so a version moved out of service never has its number given again to
    another base (the newest moved away, the next run was numbered as it, shows grown from the first then named
    a base of another corpus and declaration)."""
    partial = base / f"{ISSUED}.{os.getpid()}"
    try:
        partial.write_text(f"{max(number, _issued(base))}\n")
        os.replace(partial, base / ISSUED)
    finally:
        partial.unlink(missing_ok=True)


def lock_holder(folder: Path) -> str:
    """Who holds `folder`'s run lock, as its holder wrote it ("pid 123 on HOST"), or "" when unknown."""
    with contextlib.suppress(OSError, UnicodeDecodeError):
        return (folder / LOCK).read_text().strip()
    return ""


def new_version(root: Path, name: str, run: BaseRun) -> tuple[Path, RunLock] | None:
    """Create the next version folder of `name`, locked for this run, with its run.json; None when another
    run took that folder number first."""
    existing = versions(root, name)
    number = max(_number(existing[-1]) if existing else 0, _issued(root / name)) + 1
    folder = root / name / f"v{number}"
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        folder.mkdir()
    except FileExistsError:
        return None
    _issue(root / name, number)
    lock = lock_run(folder)
    if lock is None:
        return None
    write_run(folder, run)
    return folder, lock


def write_run(folder: Path, run: BaseRun) -> None:
    """Record what the run in `folder` is started with (run.json), for `--resume`."""
    (folder / RUN).write_text(json.dumps(asdict(run), indent=2))


def read_run(folder: Path) -> BaseRun:
    try:
        return BaseRun(**json.loads((folder / RUN).read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise ModelError(f"{folder / RUN} cannot be read ({exc}); start a new run without --resume") from None


def names(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and NAME.match(p.name))


def latest_folder(root: Path, name: str) -> Path:
    """The newest finished version of base `name`; ModelError (one line) when there is none."""
    done = [v for v in versions(root, name) if is_finished(v)]
    if not done:
        known = ", ".join(names(root)) or "none yet"
        raise ModelError(
            f"there is no trained base named {name!r} (bases: {known}); train one with `rushes base train`"
        )
    return done[-1]


def version_folder(root: Path, name: str, version: str | None = None) -> Path:
    """The folder of base `name`'s `version` (v2 or 2), or of its newest finished version; ModelError (one
    line, naming the versions there are) when it has no such finished version."""
    if version is None:
        return latest_folder(root, name)
    number = version_number(version)
    done = [v.name for v in versions(root, name) if is_finished(v)]
    if not done:
        latest_folder(root, name)  # "there is no trained base named ..."
    if f"v{number}" not in done:
        known = ", ".join(done) or "none yet"
        raise ModelError(f"base {name!r} has no trained version v{number} (its versions: {known})")
    return root / name / f"v{number}"


def load_base(root: Path, name: str, version: str | None = None, device: str = "cpu") -> ModelVersion:
    """A base version (the newest finished one by default), checked like any model version."""
    folder = version_folder(root, name, version)
    loaded = load_model(folder, device)
    if loaded.manifest.kind != "base":
        raise ModelError(f"{folder} is a show model, not a base")
    return loaded


def check_base(folder: Path) -> Manifest:
    """A finished base version's manifest, checked without reading its weights (a base's can be gigabytes):
    sealed and unedited, a base's, with its weights file there; ModelError (one line) otherwise. load_base
    and `rushes base show` hash the weights too (verify_version)."""
    manifest = load_manifest(folder)
    if manifest.kind != "base":
        raise ModelError(f"{folder} is a show model, not a base")
    if not (folder / WEIGHTS).is_file():
        raise ModelError(f"model folder {folder} has no {WEIGHTS}")
    return manifest


def corpus_clip_count(m: Manifest) -> int:
    """How many corpus clips a base version lists: those it trained on, and those held out when whole clips
    were (a held-out tail is the end of a clip it trained on, not another clip)."""
    return len(m.clips) + (len(m.holdout) if m.holdout_mode == "clips" else 0)


def base_ref(name: str, version: ModelVersion) -> BaseRef:
    """What a show manifest records of the base it grew from."""
    m = version.manifest
    return BaseRef(
        name=name,
        version=m.version,
        weights_sha256=m.weights_sha256,
        declaration=m.declaration,
        folder=str(version.folder),
        clips=corpus_clip_count(m),
        seal=m.seal,
    )


def trace_base(ref: BaseRef, root: Path) -> tuple[Path | None, str]:
    """Where the base a show version grew from is now, and "" when it is there as the show recorded it (its
    manifest's seal, its lineage, its weights' sha256), else one line saying what broke the trace. It is
    looked for where the show recorded it, then under `root` (a data directory moved with its bases)."""
    places = [Path(ref.folder)] if ref.folder else []
    here_now = (root / ref.name / ref.version).resolve()
    if NAME.match(ref.name) and re.fullmatch(r"v\d+", ref.version) and here_now not in places:
        places.append(here_now)
    here = next((p for p in places if (p / MANIFEST).is_file()), None)
    if here is None:
        where = " or ".join(str(p) for p in places) or "its recorded folder"
        return None, (
            f"base {ref.name} {ref.version} is no longer at {where} (moved or deleted): restore it there to "
            "trace these weights to its corpus"
        )
    try:
        manifest = verify_version(here, ref.seal or None)
    except ModelError as exc:
        return here, f"base {ref.name} {ref.version} is refused: {exc}"
    if manifest.weights_sha256 != ref.weights_sha256:
        return here, (
            f"base {ref.name} {ref.version} in {here} holds other weights (sha256 {manifest.weights_sha256}) than "
            "this version grew from: restore the base it recorded"
        )
    return here, ""


def describe(root: Path, name: str) -> list[dict[str, object]]:
    """Every version of `name` as a plain summary (finished ones with their manifest, checked against its seal
    without hashing the weights, check_base: a refused one has its reason instead; one a run trains now says so,
    where it was listed as unfinished, to --resume, which was refused), oldest first."""
    out: list[dict[str, object]] = []
    for folder in versions(root, name):
        if is_finished(folder):
            try:
                m = check_base(folder)
            except ModelError as exc:
                out.append(
                    {"version": folder.name, "state": "refused", "folder": str(folder), "manifest": None,
                     "reason": str(exc)}
                )  # fmt: skip
                continue
            out.append({"version": folder.name, "state": "trained", "folder": str(folder), "manifest": m})
        elif lost_manifest(folder):
            out.append(
                {"version": folder.name, "state": "refused", "folder": str(folder), "manifest": None,
                 "reason": f"{folder} is refused: {LOST_MANIFEST}"}
            )  # fmt: skip
        elif (holder := held_by(folder)) is not None:  # a run in progress, not one to resume
            out.append(
                {"version": folder.name, "state": "training", "folder": str(folder), "manifest": None,
                 "reason": f"being trained by {holder}"}
            )  # fmt: skip
        else:
            out.append(
                {"version": folder.name, "state": "unfinished", "folder": str(folder), "manifest": None}
            )
    return out
