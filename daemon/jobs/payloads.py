"""One typed payload per job kind: what the code that queues a job writes and the code that runs it reads.

Each payload is a frozen dataclass with
- `KIND`: the job kind, which names the lane that runs it (ingest, fix, publish, train; answer and notice
  jobs run in the publish lane, which holds the tracker);
- `key()`: its idempotency key. The catalog keeps one job per key, so queuing the same work twice (an event
  read again after a crash, a file found again by a rescan, a training window fired twice) is one job. Every
  key is built here and nowhere else;
- `to_json()` / `from_json()`: its form in the catalog's `jobs.payload` column. `from_json` also reads what
  earlier versions wrote (a field they lacked takes its default), so jobs queued before an upgrade still run.

`TrainReport` is the typed result of a train job (the worker returns its JSON form; the daemon's metrics and
`rushes train` read it back). `queue()` is the one way a stage puts a payload in the catalog's job queue.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol

from sqlalchemy.orm import Session

from daemon.catalog import Job
from daemon.catalog import dailies as daily_repo
from daemon.catalog import jobs as job_repo
from integrations.ingest.candidates import Candidate, Found, Rejected


class Payload(Protocol):
    KIND: ClassVar[str]

    def key(self) -> str: ...

    def to_json(self) -> dict[str, Any]: ...


# Attempts of a job that writes to the tracker (publish, answer, notice): its lane waits 5 s doubling to 300 s between
# them, so it outlasts a tracker outage of about four hours instead of giving up after a minute.
TRACKER_ATTEMPTS = 50


def queue(s: Session, payload: Payload, show: str | None = None, max_attempts: int = 5) -> tuple[Job, bool]:
    """Queue `payload` once per its key -> (job, created); see `daemon.catalog.jobs.enqueue`."""
    return job_repo.enqueue(
        s, payload.KIND, payload.key(), payload.to_json(), show=show, max_attempts=max_attempts
    )


# ---- ingest: a file the watcher found -> a catalog row ----------------------------------------------------


@dataclass(frozen=True)
class IngestJob:
    KIND: ClassVar[str] = "ingest"
    show: str
    found: Found
    # the quarantined row at the path when a candidate was queued: a file quarantined since its last job (its
    # name read by no template until the show's templates were mended) is a new job, not "done already"
    over_quarantined: int | None = None

    def key(self) -> str:
        f = self.found
        if isinstance(f, Candidate):
            over = f":over-quarantined:{self.over_quarantined}" if self.over_quarantined is not None else ""
            return f"ingest:{self.show}:{f.path}:{f.size}:{f.mtime}:{len(f.files)}:{f.stamp}{over}"
        # a name that is not UTF-8 as the catalog keeps it (\xNN): no database stores the raw bytes
        return f"ingest:{self.show}:{daily_repo.stored_path(str(f.path))}:rejected:{f.reason}"

    def to_json(self) -> dict[str, Any]:
        """A sequence whose files are its pattern's frames is written as the pattern and its runs of frames
        (`frame_runs`: [[1001, 1150]]), not every frame's path and number: 10.2 kB for 150 frames of 56-character
        paths, now 0.3 kB. Any other, and a rejected file, lists its files."""
        found = _jsonable(asdict(self.found))
        if isinstance(self.found, Candidate) and self.found.frames:
            named = frame_files(self.found.path, self.found.frames)
            if named == self.found.files:
                del found["files"], found["frames"]
                found["frame_runs"] = frame_runs(self.found.frames)
        data = {"show": self.show, "type": type(self.found).__name__, "found": found}
        return data if self.over_quarantined is None else {**data, "over_quarantined": self.over_quarantined}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IngestJob:
        """Reads both forms: a sequence's `frame_runs`, and the frame by frame list every Rushes before wrote."""
        found = dict(data["found"])
        found["path"] = _path_of(found["path"])
        if "frame_runs" in found:
            found["frames"] = tuple(
                n for first, last in found.pop("frame_runs") for n in range(first, last + 1)
            )
            found["files"] = frame_files(found["path"], found["frames"])
        found["files"] = tuple(_path_of(f) for f in found.get("files", ()))
        if data["type"] == "Rejected":
            return cls(str(data["show"]), Rejected(**found))
        found["root"] = Path(found["root"])
        found["frames"] = tuple(found.get("frames", ()))
        over = data.get("over_quarantined")
        return cls(str(data["show"]), Candidate(**found), None if over is None else int(over))


_PADDING = re.compile(r"#+(?!.*#)")  # the last run of #: one per digit of the frame number


def frame_files(pattern: Path, frames: Sequence[int]) -> tuple[Path, ...] | None:
    """The files of a sequence's `frames` as its pattern names them (`sh010.####.exr`, 1001: `sh010.1001.exr`); None
    when the pattern holds no `#`."""
    match = _PADDING.search(pattern.name)
    if match is None:
        return None
    head, tail, width = pattern.name[: match.start()], pattern.name[match.end() :], len(match.group())
    return tuple(pattern.with_name(f"{head}{n:0{width}d}{tail}") for n in frames)


def frame_runs(frames: Sequence[int]) -> list[list[int]]:
    """Frames in order as runs of consecutive numbers, [first, last] each: (1001, 1002, 1003, 1007) ->
    [[1001, 1003], [1007, 1007]]."""
    runs: list[list[int]] = []
    for n in frames:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return runs


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return _path_text(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _path_text(path: Path) -> str | dict[str, str]:
    """A path as JSON: its text, or for a name that is not UTF-8 (os gives its bytes as surrogates, which neither
    database's JSON holds) its bytes in hex, so the job reads back the very file."""
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return {"os_bytes": os.fsencode(path).hex()}
    return text


def _path_of(value: str | dict[str, str]) -> Path:
    """`_path_text` read back."""
    if isinstance(value, dict):
        return Path(os.fsdecode(bytes.fromhex(value["os_bytes"])))
    return Path(value)


# ---- fix: one kind of a tracker's fix request -> a render in the outbox ------------------------------------


@dataclass(frozen=True)
class FixJob:
    KIND: ClassVar[str] = "fix"
    request_id: int  # the catalog's fix_requests row
    fix_kind: str  # interpolate, regrade, ...
    request_key: str = ""  # the tracker's key of the request (names the job)

    def key(self) -> str:
        return f"fix:{self.request_key}:{self.fix_kind}"

    def to_json(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "kind": self.fix_kind, "request_key": self.request_key}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FixJob:
        return cls(int(data["request_id"]), str(data["kind"]), str(data.get("request_key", "")))


# ---- publish: a rendered fix in the outbox -> a Version in the tracker -------------------------------------


def publication_key(request_key: str, fix_kind: str) -> str:
    """The outbox key of a fix kind's publication: the publications row, its publish job and the tracker's
    Version all carry it, so a repeated publish finds the Version it made before."""
    return f"publish:{request_key}:{fix_kind}"


@dataclass(frozen=True)
class PublishJob:
    KIND: ClassVar[str] = "publish"
    publication_id: int
    request_key: str = ""
    fix_kind: str = ""

    def key(self) -> str:
        return publication_key(self.request_key, self.fix_kind)

    def to_json(self) -> dict[str, Any]:
        return {"publication_id": self.publication_id, "request_key": self.request_key, "kind": self.fix_kind}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PublishJob:
        return cls(int(data["publication_id"]), str(data.get("request_key", "")), str(data.get("kind", "")))


# ---- answer: a request that was not done -> a note on its task in the tracker --------------------------------


@dataclass(frozen=True)
class AnswerJob:
    """Tell the coordinator why a fix request (or one `fix_kind` of it; empty: the whole request) was not
    done: `reason` is one line, what could not be read or what failed, with what to do. `publish_job` is
    set when the fix was made and only its publish job (that id) ended for good. `mended_elsewhere`: nothing in
    the request was wrong (its attempts were spent on a failure that may pass, such as a file server away), so
    asking again as it is will do once that is mended."""

    KIND: ClassVar[str] = "answer"
    request_id: int
    reason: str
    request_key: str = ""
    fix_kind: str = ""
    publish_job: int = 0
    mended_elsewhere: bool = False

    def key(self) -> str:
        stage = ":publish" if self.publish_job else ""
        return f"answer:{self.request_key}:{self.fix_kind or 'request'}{stage}"

    def to_json(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "reason": self.reason,
            "request_key": self.request_key,
            "kind": self.fix_kind,
            "publish_job": self.publish_job,
            "mended_elsewhere": self.mended_elsewhere,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AnswerJob:
        return cls(
            int(data["request_id"]),
            str(data.get("reason", "")),
            str(data.get("request_key", "")),
            str(data.get("kind", "")),
            int(data.get("publish_job") or 0),
            bool(data.get("mended_elsewhere", False)),
        )


# ---- train: a show's dailies -> a model version ------------------------------------------------------------


@dataclass(frozen=True)
class TrainJob:
    """Why a show trains: its window opened (`window` = the window's start, in UTC), its dailies went quiet
    (`daily` = the newest daily), or another `reason` (the demo, a test) that names the job by itself."""

    KIND: ClassVar[str] = "train"
    show: str
    reason: str
    deadline: datetime | None = None  # the run stops by then (the window's end)
    window: datetime | None = None
    daily: int | None = None

    def key(self) -> str:
        if self.reason == "window" and self.window is not None:
            return f"train:{self.show}:{self.window:%Y%m%dT%H%M}"
        if self.reason == "quiet" and self.daily is not None:
            return f"train:{self.show}:quiet:{self.daily}"
        return f"train:{self.show}:{self.reason}"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"show": self.show, "reason": self.reason}
        if self.deadline is not None:
            data["deadline"] = self.deadline.isoformat()
        if self.window is not None:
            data["window"] = self.window.isoformat()
        if self.daily is not None:
            data["daily"] = self.daily
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainJob:
        return cls(
            show=str(data["show"]),
            reason=str(data.get("reason", "")),
            deadline=_when(data.get("deadline")),
            window=_when(data.get("window")),
            daily=int(data["daily"]) if data.get("daily") is not None else None,
        )


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass(frozen=True)
class TrainReport:
    """What a train job made: `skipped` says why nothing was trained (the window was about to close);
    otherwise the version, whether it was promoted, its held-out scores per head (psnr, ssim, baselines)
    and each head's last training loss."""

    show: str
    version: int | None = None
    promoted: bool = False
    folder: str = ""
    resumed: bool = False
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    losses: dict[str, float] = field(default_factory=dict)
    skipped: str | None = None
    verdicts: dict[str, str] = field(default_factory=dict)  # per head: margins and what fixes use
    left_out: list[str] = field(default_factory=list)  # dailies changed since ingest, a sentence each

    def scores(self, names: tuple[str, ...] = ("psnr", "ssim")) -> list[tuple[str, str, float]]:
        """(head, metric, value) for each of `names` that a head was scored on."""
        return [
            (head, name, float(values[name]))
            for head, values in sorted(self.metrics.items())
            for name in names
            if name in values
        ]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainReport:
        return cls(
            show=str(data.get("show", "")),
            version=data.get("version"),
            promoted=bool(data.get("promoted", False)),
            folder=str(data.get("folder", "")),
            resumed=bool(data.get("resumed", False)),
            metrics={h: {k: float(v) for k, v in m.items()} for h, m in (data.get("metrics") or {}).items()},
            verdicts={str(h): str(t) for h, t in (data.get("verdicts") or {}).items()},
            losses={h: float(v) for h, v in (data.get("losses") or {}).items()},
            skipped=data.get("skipped"),
            left_out=[str(text) for text in data.get("left_out") or ()],
        )


# ---- notice: a published Version's reviewers must know something -> a note on its task ----------------------


@dataclass(frozen=True)
class NoticeJob:
    """Tell the reviewers of publication `publication_id` that the daily it was made from was delivered again
    with other pictures (content `old_hash` replaced by `new_hash` at the same path): the Version in review
    no longer shows a fix of the plate as it is. Runs in the publish lane, which holds the tracker."""

    KIND: ClassVar[str] = "notice"
    publication_id: int
    old_hash: str
    new_hash: str

    def key(self) -> str:
        return f"notice:plate:{self.publication_id}:{self.new_hash}"

    def to_json(self) -> dict[str, Any]:
        return {"publication_id": self.publication_id, "old_hash": self.old_hash, "new_hash": self.new_hash}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NoticeJob:
        return cls(int(data["publication_id"]), str(data.get("old_hash", "")), str(data.get("new_hash", "")))


# every kind of job, as `rushes jobs list --kind` takes them
JOB_KINDS: tuple[str, ...] = tuple(
    job.KIND for job in (IngestJob, TrainJob, FixJob, PublishJob, AnswerJob, NoticeJob)
)
