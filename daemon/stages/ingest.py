"""The ingest stage: a file lands in a watched folder; a catalogued daily (or a quarantined file) comes out.

watchers (ShowWatchers: one integrations.ingest watcher per show, stability gate, reconcile scans) -> one
ingest thread -> a durable IngestJob per stable candidate (`Ingestor.queue`) -> the ingest lane runs it
(`Ingestor.run`): already catalogued with the same size and mtime? done -> probe (engine.media) -> hash ->
register in the catalog -> mark the show's model stale. A file that cannot be read is quarantined with its
one-line reason; nothing else stops. `rushes ingest` calls `Ingestor.handle` directly on what `find` finds.
"""

from __future__ import annotations

import errno
import queue
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from daemon.catalog import Catalog
from daemon.catalog import dailies as daily_repo
from daemon.catalog import shows as show_repo
from daemon.catalog.db import CatalogError
from daemon.crashpoints import crash_point
from daemon.jobs import payloads
from daemon.jobs.payloads import IngestJob
from daemon.logs import get_logger
from daemon.settings import ShowConfig
from daemon.stages.daily_files import moved_away
from daemon.stages.replaced_plates import plate_delivered_again
from engine.media import MediaError, probe
from integrations.ingest.candidates import Candidate, Found, Rejected
from integrations.ingest.hashing import content_hash
from integrations.ingest.options import IngestOptions, IngestRoot
from integrations.ingest.retries import temporary_reason
from integrations.ingest.scan import scan_root
from integrations.ingest.watcher import IngestWatcher

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = get_logger("rushes.ingest")
watch_log = get_logger("rushes.watch")

Result = Literal["registered", "unchanged", "quarantined"]


@dataclass(frozen=True)
class Outcome:
    path: str
    result: Result
    shot: str | None = None
    reason: str | None = None
    daily_id: int | None = None


Listener = Callable[[str, Outcome], None]


class Ingestor:
    """Turns what ingest found into catalog rows for one daemon (all shows share one catalog)."""

    def __init__(
        self,
        catalog: Catalog,
        listeners: Iterable[Listener] = (),
        quarantine_level: str = "warning",
        first_frames: Mapping[str, int] | None = None,
        roots: Mapping[str, Sequence[Path]] | None = None,
    ) -> None:
        self.catalog = catalog
        self.listeners = list(listeners)
        self.first_frames = dict(first_frames or {})  # by show: its movie_first_frame
        # by show: the ingest folders its config names now (unknown or none: every folder its dailies were found in)
        self.roots = {show: list(folders) for show, folders in (roots or {}).items()}
        # `rushes ingest` prints each quarantine as one human line itself, so it logs them at info (not
        # shown by default) rather than a second, JSON, line when piped.
        self.quarantine_level = quarantine_level

    def queue(self, show: str, found: Found) -> None:
        """Queue what a watcher found as a durable ingest job (once per file state: see IngestJob.key; again for
        a candidate whose path was quarantined since, as a name no template read then)."""
        with self.catalog.session() as s:
            known = (
                daily_repo.current_daily(s, show, str(found.path)) if isinstance(found, Candidate) else None
            )
            over = known.id if known is not None and known.status == "quarantined" else None
            payloads.queue(s, IngestJob(show, found, over), show=show)
        crash_point("ingest.queued")

    def run(self, job: IngestJob) -> dict[str, Any]:
        """The ingest lane's handler: catalogue the job's file."""
        outcome = self.handle(job.show, job.found)
        crash_point("ingest.catalogued")
        return {"result": outcome.result, "daily": outcome.daily_id}

    def handle(self, show: str, found: Found) -> Outcome:
        outcome = (
            self._candidate(show, found) if isinstance(found, Candidate) else self._rejected(show, found)
        )
        level = self.quarantine_level if outcome.result == "quarantined" else "info"
        getattr(log, level)(
            f"ingest.{outcome.result}", show=show, shot=outcome.shot, path=outcome.path, reason=outcome.reason
        )
        for listener in self.listeners:
            listener(show, outcome)
        return outcome

    def _candidate(self, show: str, c: Candidate) -> Outcome:
        path = str(c.path)
        with self.catalog.session() as s:
            known = daily_repo.current_daily(s, show, path)
            # a row quarantined before quarantines kept a change stamp is probed again once, to take one
            stampless = known is not None and known.status == "quarantined" and not known.change_stamp
            if (
                known is not None
                and daily_repo.same_state(known, c.size, c.mtime, c.stamp)
                and not (stampless and c.stamp)
            ):
                return Outcome(
                    path,
                    "unchanged" if known.status == "registered" else "quarantined",
                    known.shot,
                    known.error,
                    known.id,
                )
        try:
            info = probe(path, first_frame=self.first_frames.get(show, 0))
            digest = content_hash(list(c.files))
        except MediaError as exc:
            return self._quarantine(show, c, media_reason(exc.reason))
        except OSError as exc:
            return self._quarantine(show, c, unreadable_reason(exc))
        facts = daily_repo.DailyFacts(
            path=path,
            size_bytes=c.size,
            mtime=c.mtime,
            content_hash=digest,
            root=str(c.root),
            kind=info.kind,
            shot=c.shot,
            take=c.take,
            first_frame=info.first_frame,
            last_frame=info.last_frame,
            frame_count=info.frame_count,
            fps=info.fps,
            width=info.width,
            height=info.height,
            codec=info.codec,
            pix_fmt=info.pix_fmt,
            timecode=info.timecode,
            missing_frames=tuple(info.missing_frames),
            change_stamp=c.stamp,
        )
        with self.catalog.session() as s:
            roots = self._kept_roots(s, show)
            before = daily_repo.current_daily(s, show, path)
            # read now: registering new content at this path supersedes that same row object
            replaced = before.content_hash if before is not None and before.status == "registered" else None
            daily, created = daily_repo.register_daily(
                s, show, facts, gone=lambda old: moved_away(old, roots)
            )
            if created:
                show_repo.set_model_stale(s, show, True)
            # the plate delivered again: new content, or the content of another daily (kept as its copy, which
            # used to tell nobody and leave the approved fixes of the old plate paired with the other's pictures)
            if replaced is not None and replaced != digest:
                plate_delivered_again(s, show, path, replaced, digest)
            outcome = Outcome(path, "registered" if created else "unchanged", c.shot, None, daily.id)
        if created and info.interlaced:  # trained on and fixed as it is, combing and all: say so once
            log.warning("ingest.interlaced", show=show, path=path, scan=info.interlaced)
        if created and info.sound is not None and info.sound.unreadable:  # fixes of it leave that sound out
            log.warning("ingest.sound_unreadable", show=show, path=path, streams=info.sound.unreadable)
        if created and any(info.overscan):  # EXR frames of a fix keep it; its movies show the display window
            log.warning("ingest.overscan", show=show, path=path, overscan=list(info.overscan))
        if created and info.dropped:  # frames dropped while recording: a fix sees none of these gaps
            event = "ingest.rate_change" if info.rate_changed else "ingest.dropped_frames"
            log.warning(event, show=show, path=path, gaps=len(info.dropped))
        return outcome

    def _kept_roots(self, s: Session, show: str) -> list[Path]:
        """The folders the show's dailies were found in that its config still names: one of them missing or
        empty here is a share not mounted, whose dailies did not move; a folder the config no longer names was
        left (the footage moved to a new volume, the config's roots changed with it), so its dailies follow
        their files to where the same content is found now."""
        configured = self.roots.get(show)
        found = [Path(root) for root in daily_repo.roots(s, show)]
        return [root for root in found if root in configured] if configured else found

    def _quarantine(self, show: str, c: Candidate, reason: str) -> Outcome:
        with self.catalog.session() as s:
            row, _ = daily_repo.quarantine(
                s, show, str(c.path), c.size, c.mtime, reason, root=str(c.root), change_stamp=c.stamp
            )
            return Outcome(str(c.path), "quarantined", c.shot, reason, row.id)

    def _rejected(self, show: str, r: Rejected) -> Outcome:
        size, mtime = _stat_sum(r.files or (r.path,))
        with self.catalog.session() as s:
            row, _ = daily_repo.quarantine(s, show, str(r.path), size, mtime, r.reason)
            return Outcome(str(r.path), "quarantined", None, r.reason, row.id)


def _stat_sum(files: Iterable[Path]) -> tuple[int, float]:
    size, mtime = 0, 0.0
    for f in files:
        try:
            st = f.lstat()
        except OSError:
            continue
        size += st.st_size
        mtime = max(mtime, st.st_mtime)
    return size, mtime


def find(paths: Iterable[Path], show: ShowConfig) -> list[Found]:
    """What `rushes ingest PATH...` should ingest: each folder scanned as a root (or under the show's root that
    holds it, so the path templates apply as the watcher would), each file with its folder as the root."""
    found: dict[str, Found] = {}
    for raw in paths:
        path = raw.absolute()
        if not path.exists() and not path.is_symlink():
            raise FileNotFoundError(f"{raw}: no such file or folder")
        root = _root_for(path, show.ingest)
        opts = show.ingest.model_copy(
            update={"roots": [IngestRoot.model_construct(path=root, network=False)]}
        )
        for item in scan_root(root, opts):
            inside = path.is_dir() and _is_under(Path(item.path), path)
            mine = inside or Path(item.path) == path or path in getattr(item, "files", ())
            if mine:
                found[str(item.path)] = item
    return [found[k] for k in sorted(found)]


def _root_for(path: Path, ingest: IngestOptions) -> Path:
    for root in ingest.roots:
        if _is_under(path, root.path):
            return root.path
    return path if path.is_dir() else path.parent


def _is_under(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


# ---- watching: one watcher per show, feeding one ingest thread (watcher callbacks must stay quick) ----


class ShowWatchers:
    """One IngestWatcher per show with ingest roots; what they find is handed to `handle(show, found)` in order,
    on one thread (the daemon queues a durable ingest job; tests may ingest directly)."""

    def __init__(
        self, shows: list[ShowConfig], handle: Callable[[str, Found], object], *, retry_seconds: float = 5.0
    ) -> None:
        self.handle = handle
        self.retry_seconds = retry_seconds
        self._queue: queue.Queue[tuple[str, Found] | None] = queue.Queue()
        self._by_show = {show.code: self._watcher(show) for show in shows if show.ingest.roots}
        self._watchers = list(self._by_show.values())  # replaced, never changed: safe to iterate anywhere
        self._lock = threading.Lock()
        self._started = False
        self._thread = threading.Thread(target=self._work, name="rushes-ingest", daemon=True)

    def _watcher(self, show: ShowConfig) -> IngestWatcher:
        put = self._put(show.code)
        return IngestWatcher(show.ingest, put, put, retry_seconds=self.retry_seconds)

    def _put(self, show: str) -> Callable[[Found], None]:
        def put(found: Found) -> None:
            self._queue.put((show, found))

        return put

    def start(self) -> None:
        with self._lock:
            self._started = True
            watchers = self._watchers  # one added from here on is started by update()
        self._thread.start()
        for watcher in watchers:
            watcher.start()

    def update(self, show: ShowConfig) -> None:
        """Watch a show added, or its ingest options changed, while running: its old watcher (if any) stops,
        and a new one starts with a reconcile scan of its folders (the catalog skips what it has)."""
        new = self._watcher(show) if show.ingest.roots else None
        with self._lock:
            old = self._by_show.pop(show.code, None)
            if new is not None:
                self._by_show[show.code] = new
            self._watchers = list(self._by_show.values())
            started = self._started
        if old is not None:
            old.stop()
        if new is not None and started:
            new.start()

    def remove(self, code: str) -> None:
        """Stop watching a show (wrapped while running); what it found and queued already is still handed on."""
        with self._lock:
            old = self._by_show.pop(code, None)
            self._watchers = list(self._by_show.values())
        if old is not None:
            old.stop()

    def stop(self) -> None:
        with self._lock:
            self._started = False
        for watcher in self._watchers:
            watcher.stop()
        self._queue.put(None)
        if self._thread.is_alive():  # not when the daemon stopped before starting it (a taken port)
            self._thread.join(timeout=30)

    def rescan(self) -> None:
        for watcher in self._watchers:
            watcher.rescan()

    def problem(self) -> str | None:
        """Why ingest is not ready now (a full disk: files wait to be offered again), or None; for /readyz."""
        return next((w.problem for w in self._watchers if w.problem), None)

    def drained(self) -> bool:
        """True when nothing is queued, being ingested, or waiting in a stability gate."""
        return self._queue.unfinished_tasks == 0 and all(w.settled for w in self._watchers)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                show, found = item
                try:
                    self.handle(show, found)
                except Exception as exc:  # one bad file or a catalog hiccup must not stop ingest
                    self._failed(show, found, exc)
            finally:
                self._queue.task_done()

    def _failed(self, show: str, found: Found, exc: Exception) -> None:
        """A full disk, or a catalog that cannot be reached (PostgreSQL restarting, failing over; SQLite locked):
        the watcher offers the file again until it goes through (one warning line, no traceback). Anything
        else: logged with its traceback; the next reconcile scan after a restart sees the file."""
        reason = temporary_reason(exc) or catalog_reason(exc)
        watcher = self._by_show.get(show)
        if reason is not None and watcher is not None:
            watcher.retry_later(found, reason)
            return
        watch_log.error("ingest.failed", show=show, path=str(found.path), error=str(exc), exc_info=True)


PERMISSION_DENIED = "cannot read: permission denied"  # engine.media's reason
PERMISSION_MEND = (
    "cannot read: permission denied; let the daemon's user read it (chmod or chown), "
    "and it is ingested without a restart"
)


def media_reason(reason: str) -> str:
    """The quarantine reason for what engine.media could not read: a permission says what mends it, after the
    frame it names for a sequence ("frame 1005: cannot read: permission denied")."""
    if reason.endswith(PERMISSION_DENIED):
        return reason[: -len(PERMISSION_DENIED)] + PERMISSION_MEND
    return reason


def unreadable_reason(exc: OSError) -> str:
    """The quarantine reason for a file the daemon could not open or read. A permission is the studio's to
    mend, and its mend (a chmod or chown moves the file's change stamp) is ingested without a restart."""
    if exc.errno in (errno.EACCES, errno.EPERM):
        return PERMISSION_MEND
    return f"cannot read: {exc.strerror or exc}"


def catalog_reason(exc: BaseException) -> str | None:
    """'catalog unreachable: ...' when `exc` is the catalog failing to answer (daemon.catalog.CatalogError:
    a connection refused or lost, a lock held too long), else None."""
    if isinstance(exc, CatalogError):
        return f"catalog unreachable: {exc.reason}"
    return None
