"""The ingest watcher: file-system activity under the ingest roots in, stable candidates out.

Flow (one tick thread owns the stability gate, so the gate needs no lock):

    watchdog events ─┐                                  ┌─> on_candidate(Candidate)
    (inotify; polling │─> queue ─> tick: stat + gate ───┤
     for network=True)│        every tick: ready groups │─> on_rejected(Rejected)
    reconcile scan ───┘        are re-read from disk,   │
    (start, every reconcile_interval, after an inotify  └── delivered once per process
     overflow)                 built and delivered

- Events only enqueue paths; the tick thread stats them and feeds the gate (names.unit_key groups a
  folder's images so a sequence waits until no frame was added or changed for stable_seconds).
- Before delivery a ready group is read from disk again: a file that changed, vanished or appeared
  since (a missed event, a slow poll) goes back into the gate instead of being delivered.
- The reconcile scan feeds the gate with whatever it finds that was not delivered yet, so files that
  landed while nothing watched are caught. An inotify overflow (watchdog logs it) triggers a rescan.
- Each (path, size, mtime, change stamp) is delivered at most once per process; the daemon's catalog dedups
  across restarts. A callback that raises is logged and not remembered, so the next reconcile retries it.
  Callbacks run on the tick thread: keep them quick (hand work to a queue).
- A temporary failure (a full disk: retries.temporary_reason), raised by a callback or reported later by
  a consumer through `retry_later`, is one warning line; the file is not counted as delivered and is
  offered again every `retry_seconds` until it is handled, without a restart. Meanwhile `problem` says
  why the watcher is not ready (for the daemon's /readyz).
- A writer that pauses longer than stable_seconds mid-file is indistinguishable from a finished one;
  a sequence whose frames arrive slower than that is delivered in parts, each delivery holding every
  frame present (the later one with a new size and mtime). docs/operations.md says so, and what to do
  (render outside the ingest roots and move the folder in, or raise stable_seconds).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from watchdog.events import (
    DirAttribEvent,
    DirCreatedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from integrations.ingest.candidates import Candidate, FileEntry, Found, Rejected, build
from integrations.ingest.names import is_ignored_path, media_kind, unit_key
from integrations.ingest.options import IngestOptions, IngestRoot
from integrations.ingest.polling import Change, FolderPoller
from integrations.ingest.retries import Retries, temporary_reason
from integrations.ingest.scan import folder_unreadable, list_images, stat_entry, walk
from integrations.ingest.stability import FileState, Settled, StabilityGate
from integrations.ingest.templates import Templates

log = logging.getLogger(__name__)

REMIND_SECONDS = 300.0  # a file still waiting for the same reason is warned of again this often
ROOT_RETRY_SECONDS = 30.0  # how often a root that could not be watched (missing) is looked for again

EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    DirCreatedEvent,
    DirMovedEvent,
    DirAttribEvent,  # a chmod or chown of a folder: what it holds may be readable now
]
OVERFLOW_LOGGER = "watchdog.observers.inotify_c"

Action = Literal["touch", "seen", "gone", "tree", "report"]  # seen: stat'ed by a reconcile scan (`entry`)


@dataclass(frozen=True)
class _Work:
    action: Action
    root: Path
    path: Path
    rejected: Rejected | None = None
    entry: FileEntry | None = None


class _Delivered:
    """A bounded memory of what was delivered (oldest forgotten first)."""

    def __init__(self, limit: int) -> None:
        self._keys: OrderedDict[Hashable, None] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._keys

    def discard(self, key: Hashable) -> None:
        with self._lock:
            self._keys.pop(key, None)

    def add(self, key: Hashable) -> None:
        with self._lock:
            self._keys[key] = None
            self._keys.move_to_end(key)
            while len(self._keys) > self._limit:
                self._keys.popitem(last=False)


class _Events(FileSystemEventHandler):
    """Turns watchdog events of one root into queued work."""

    def __init__(self, root: Path, work: queue.SimpleQueue[_Work]) -> None:
        self.root = root
        self.work = work

    def on_any_event(self, event: FileSystemEvent) -> None:
        src = Path(os.fsdecode(event.src_path))
        dest = Path(os.fsdecode(event.dest_path)) if event.dest_path else None
        if event.is_directory:
            if event.event_type in ("created", "attrib") or (
                event.event_type == "moved" and dest is not None
            ):
                self.work.put(_Work("tree", self.root, dest or src))
            return
        if event.event_type in ("deleted", "moved"):
            self.work.put(_Work("gone", self.root, src))
            if dest is not None:
                self.work.put(_Work("touch", self.root, dest))
        elif event.event_type in ("created", "modified", "attrib", "closed"):
            self.work.put(_Work("touch", self.root, src))


class _Overflow(logging.Handler):
    """Watchdog reports a kernel inotify queue overflow only in its log: turn that into a rescan."""

    def __init__(self, rescan: threading.Event) -> None:
        super().__init__(logging.WARNING)
        self.rescan = rescan

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            log.warning("inotify events were lost; rescanning the ingest roots")
            self.rescan.set()


class IngestWatcher:
    """Watches `options.roots` and calls back with stable candidates and rejections (start/stop)."""

    def __init__(
        self,
        options: IngestOptions,
        on_candidate: Callable[[Candidate], None],
        on_rejected: Callable[[Rejected], None],
        clock: Callable[[], float] = time.monotonic,
        *,
        tick: float | None = None,
        memory: int = 100_000,
        retry_seconds: float = 5.0,
    ) -> None:
        self.options = options
        self.on_candidate = on_candidate
        self.on_rejected = on_rejected
        self.clock = clock
        self.tick = tick if tick is not None else min(0.5, max(0.05, options.stable_seconds / 4))
        self._templates = Templates(options.path_template, options.sequence_template)
        self._gate = StabilityGate(options.stable_seconds, ignore=options.ignore, key=unit_key)
        self._work: queue.SimpleQueue[_Work] = queue.SimpleQueue()
        self._delivered = _Delivered(memory)
        self._retries = Retries(retry_seconds)
        self._warned: dict[Hashable, tuple[str, float]] = {}  # per file: the reason last warned of, and when
        self._stop = threading.Event()
        self._rescan = threading.Event()
        self.scans = 0  # reconcile scans completed (the first one: everything present at start is queued)
        self._overflow = _Overflow(self._rescan)
        self._observers: dict[Path, BaseObserver | FolderPoller] = {}
        self._observers_lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    # lifecycle

    def start(self) -> None:
        """Watch every root, scan them once, and start delivering (a watcher starts once)."""
        if self._threads:
            raise RuntimeError("an IngestWatcher starts once; make a new one")
        overflow = logging.getLogger(OVERFLOW_LOGGER)
        if not overflow.isEnabledFor(logging.WARNING):
            overflow.setLevel(logging.WARNING)  # the overflow warning is our only signal of lost events
        overflow.addHandler(self._overflow)
        for root in self.options.roots:
            self._watch(root)
        for name, target in (("tick", self._tick_loop), ("reconcile", self._reconcile_loop)):
            thread = threading.Thread(target=target, name=f"rushes-ingest-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._rescan.set()
        with self._observers_lock:
            observers = list(self._observers.values())
            self._observers.clear()
        for observer in observers:
            observer.stop()
        for observer in observers:
            observer.join(timeout)
        for thread in self._threads:
            thread.join(timeout)
        logging.getLogger(OVERFLOW_LOGGER).removeHandler(self._overflow)

    def rescan(self) -> None:
        """Run a reconcile scan now."""
        self._rescan.set()

    def __enter__(self) -> IngestWatcher:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def pending(self) -> int:
        """Files held by the stability gate, paths queued for it, and files waiting to be offered again."""
        return len(self._gate) + self._work.qsize() + len(self._retries)

    @property
    def problem(self) -> str | None:
        """Why ingest is not ready now (e.g. "disk full: ..."), or None; for the daemon's /readyz."""
        reason = self._retries.reason
        if reason is None:
            return None
        return f"{reason}; {len(self._retries)} file(s) wait to be ingested again"

    def retry_later(self, found: Found, reason: str) -> None:
        """`found` could not be handled for a temporary reason (disk full): forget it was delivered and offer
        it again in retry_seconds. Callbacks that raise such an error get this by themselves; a consumer that
        handles files later (a queue, a durable job) calls it."""
        self._delivered.discard(found.key)
        now = self.clock()
        self._retries.add(found.key, found, reason, now)
        said = self._warned.get(found.key)
        if said is not None and said[0] == reason and now - said[1] < REMIND_SECONDS:
            return  # said already: one line per file and reason, then a reminder every REMIND_SECONDS
        self._warned[found.key] = (reason, now)
        if len(self._warned) > 10_000:  # files that waited long ago: start afresh rather than grow
            self._warned.clear()
        log.warning(
            "cannot ingest %s now (%s); offering it again every %g s until it can be",
            found.path,
            reason,
            self._retries.interval,
        )

    @property
    def settled(self) -> bool:
        """The first reconcile scan is done and nothing waits in the stability gate."""
        return self.scans > 0 and self.pending == 0

    @property
    def watched(self) -> dict[Path, str]:
        """Each watched root and how: "inotify" or "polling" (a root missing here is only scanned)."""
        with self._observers_lock:
            return {
                path: "polling" if isinstance(observer, FolderPoller) else "inotify"
                for path, observer in self._observers.items()
            }

    def poller(self, root: Path) -> FolderPoller | None:
        """The poller watching `root` (a network root, or a local one inotify could not watch), if one does."""
        with self._observers_lock:
            observer = self._observers.get(root)
        return observer if isinstance(observer, FolderPoller) else None

    def _watch(self, root: IngestRoot) -> None:
        """Start watching one root; a root that cannot be watched now is retried at each reconcile scan."""
        with self._observers_lock:
            if self._stop.is_set() or root.path in self._observers:
                return
            handler = _Events(root.path, self._work)
            observers: list[BaseObserver | FolderPoller] = [] if root.network else [Observer()]
            observers.append(FolderPoller(root.path, self.options.poll_interval, self._polled(root.path)))
            for observer in observers:
                if isinstance(observer, BaseObserver):
                    observer.schedule(handler, str(root.path), recursive=True, event_filter=EVENTS)
                try:
                    observer.start()
                except OSError as error:
                    kind = type(observer).__name__
                    log.warning("cannot watch ingest root %s with %s: %s", root.path, kind, error)
                    continue
                self._observers[root.path] = observer
                return
            log.error(
                "ingest root %s is not watched; it is looked for again every %g s",
                root.path,
                ROOT_RETRY_SECONDS,
            )

    def _polled(self, root: Path) -> Callable[[Change, Path], None]:
        """What a root's poller reports, queued as its events are."""
        return lambda change, path: self._work.put(_Work(change, root, path))

    # the tick thread: owns the gate

    def _tick_loop(self) -> None:
        next_look = self.clock() + ROOT_RETRY_SECONDS
        while not self._stop.is_set():
            try:
                self._drain(self.tick)
                self._release(self.clock())
                for item in self._retries.due(self.clock()):
                    self._deliver(item)  # type: ignore[arg-type]
                if self.clock() >= next_look:
                    next_look = self.clock() + ROOT_RETRY_SECONDS
                    self._look_for_roots_back()
            except Exception:
                log.exception("ingest tick failed; going on")

    def _look_for_roots_back(self) -> None:
        """A root that could not be watched (missing: an unmounted share) and is there again: a reconcile scan
        now, which watches it and hands over what landed in it meanwhile."""
        with self._observers_lock:
            unwatched = [r for r in self.options.roots if r.path not in self._observers]
        if any(root.path.is_dir() for root in unwatched):
            log.info("an ingest root is back; scanning the roots again")
            self._rescan.set()

    def _drain(self, wait: float) -> None:
        try:
            batch = [self._work.get(timeout=wait)]
        except queue.Empty:
            return
        while True:
            try:
                batch.append(self._work.get_nowait())
            except queue.Empty:
                break
        now = self.clock()
        touched: dict[Path, Path] = {}
        seen: dict[Path, FileEntry] = {}  # touched paths a reconcile scan stat'ed: not stat'ed again
        thinned: dict[
            tuple[Path, str], Path
        ] = {}  # (folder, extension) of frames gone from delivered sequences
        for item in batch:
            if item.action == "report" and item.rejected is not None:
                self._deliver(item.rejected)
            elif item.action == "gone":
                touched.pop(item.path, None)
                seen.pop(item.path, None)
                if not self._gate.vanish(item.path, now) and media_kind(item.path) == "image":
                    thinned[(item.path.parent, item.path.suffix.lower())] = item.root
            elif item.action == "tree":
                self._feed_tree(item.root, item.path, now)
            else:
                touched[item.path] = item.root
                if item.action == "seen" and item.entry is not None:
                    seen[item.path] = item.entry
                else:
                    seen.pop(item.path, None)  # an event since the scan: stat it now
        for path, root in touched.items():
            entry = seen.get(path)
            if entry is None:
                self._touch(root, path, now)
            elif media_kind(path) != "sidecar":
                self._gate.observe(path, entry.size, entry.mtime, now)
        for (folder, ext), root in thinned.items():
            self._feed_images(root, folder, ext, now)

    def _feed_images(self, root: Path, folder: Path, ext: str, now: float) -> None:
        """A frame left a sequence that was delivered (a stray or damaged frame removed, as its quarantine
        asked): the frames still beside it are offered again, so the sequence as it is now is delivered."""
        if not folder.is_dir() or not folder.is_relative_to(root):
            return
        for entry in list_images(root, folder, ext, self.options.ignore):
            if isinstance(entry, FileEntry):
                self._gate.observe(entry.path, entry.size, entry.mtime, now)

    def _touch(self, root: Path, path: Path, now: float) -> None:
        if not path.is_relative_to(root) or is_ignored_path(path.relative_to(root), self.options.ignore):
            return
        if media_kind(path) == "sidecar":
            return
        found = stat_entry(root, path)
        if found is None:
            self._gate.vanish(path, now)
        elif isinstance(found, Rejected):
            self._deliver(found)
        else:
            self._gate.observe(path, found.size, found.mtime, now)

    def _feed_tree(self, root: Path, folder: Path, now: float) -> None:
        if not folder.is_relative_to(root) or is_ignored_path(folder.relative_to(root), self.options.ignore):
            return
        try:
            entries, rejected = walk(root, self.options.ignore, start=folder)
        except FileNotFoundError:  # gone again
            return
        except OSError as error:  # a folder copied with a mode the daemon cannot list: said at once
            if folder != root:
                self._deliver(Rejected(folder, folder_unreadable(error)))
            return
        for entry in entries:
            self._gate.observe(entry.path, entry.size, entry.mtime, now)
        for item in rejected:
            self._deliver(item)

    def _release(self, now: float) -> None:
        for settled in self._gate.ready(now):
            root = self._root_of(settled.files[0].path)
            if root is None:
                self._gate.pop(settled.key)
                continue
            current = self._reread(root, settled)
            if self._differs(settled, current, now):
                continue
            self._gate.pop(settled.key)
            entries = [item for item in current if isinstance(item, FileEntry)]
            for found in build(root, entries, self._templates):
                self._deliver(found)

    def _reread(self, root: Path, settled: Settled) -> list[FileEntry]:
        """The group as it is on disk now (rejected links among it are delivered on the way)."""
        key = settled.key
        items: list[FileEntry | Rejected | None]
        if isinstance(key, tuple) and key[0] == "images":
            items = [*list_images(root, key[1], key[2], self.options.ignore)]
        else:
            items = [stat_entry(root, state.path) for state in settled.files]
        current: list[FileEntry] = []
        for item in items:
            if isinstance(item, Rejected):
                self._deliver(item)
            elif item is not None:
                current.append(item)
        return current

    def _differs(self, settled: Settled, current: list[FileEntry], now: float) -> bool:
        """Feed back into the gate what changed since it was observed; True if anything did."""
        held: dict[Path, FileState] = {state.path: state for state in settled.files}
        changed = False
        for entry in current:
            state = held.pop(entry.path, None)
            if state is None or (state.size, state.mtime) != (entry.size, entry.mtime):
                self._gate.observe(entry.path, entry.size, entry.mtime, now)
                changed = True
        for path in held:
            self._gate.vanish(path, now)
            changed = True
        return changed

    def _root_of(self, path: Path) -> Path | None:
        roots = [root.path for root in self.options.roots if path.is_relative_to(root.path)]
        return max(roots, key=lambda root: len(root.parts)) if roots else None

    def _deliver(self, found: Found) -> None:
        if found.key in self._delivered:
            return
        try:
            if isinstance(found, Candidate):
                self.on_candidate(found)
            else:
                self.on_rejected(found)
        except Exception as exc:
            reason = temporary_reason(exc)
            if reason is not None:
                self.retry_later(found, reason)
                return
            log.exception(
                "ingest callback failed for %s; it is retried at the next reconcile scan", found.path
            )
            return
        self._retries.discard(found.key)
        self._delivered.add(found.key)

    # the reconcile thread: scans and queues

    def _reconcile_loop(self) -> None:
        while not self._stop.is_set():
            self._rescan.clear()
            try:
                self._reconcile()
                self.scans += 1
            except Exception:
                log.exception("ingest reconcile scan failed; going on")
            self._rescan.wait(self.options.reconcile_interval)

    def _reconcile(self) -> None:
        for root in self.options.roots:
            if self._stop.is_set():
                return
            self._watch(root)
            try:
                entries, rejected = walk(root.path, self.options.ignore)
            except OSError as error:
                log.warning(
                    "ingest root %s cannot be read (%s); will retry at the next scan", root.path, error
                )
                continue
            stated = {entry.path: entry for entry in entries}
            found: list[Found] = [*build(root.path, entries, self._templates), *rejected]
            for item in sorted(found, key=lambda found: str(found.path)):
                if item.key in self._delivered:
                    continue
                if isinstance(item, Rejected) and not item.files:
                    self._work.put(_Work("report", root.path, item.path, item))
                for path in item.files:
                    entry = stated.get(path)
                    self._work.put(_Work("seen" if entry else "touch", root.path, path, entry=entry))
