"""Watching a network root (NFS/SMB, where inotify hears nothing) by polling its folders, not its files.

Every `interval` seconds each folder of the root is stat'ed; only a folder whose mtime or ctime moved (an entry
was added, removed or renamed in it, or its mode changed) is listed again, and what differs from its last listing
is reported: a new name ("touch", or "tree" for a folder), a name gone ("gone", for every file a gone folder
held). A file still being written changes no folder either, so each file that landed while the poller ran is
stat'ed at every poll too until it has held still for FOLLOW_SECONDS, and reported again ("touch") when its size
or mtime moves: a copy that stalled longer than `stable_seconds` (delivered cut short: quarantined as truncated, or
catalogued with the frames it had) is heard when it goes on, and delivered whole. A file rewritten in place under
the same name later than that changes nothing the poller stats; the watcher's reconcile scan
(`reconcile_interval`) finds it.

watchdog's polling observer, used before, stat'ed every file of the tree at every poll: a root of 105,050 files
(750 dailies) took 20% of a core while nothing landed, and a stat storm on the file server every 2 s
(bench/ingest_scale.py).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

Change = Literal["touch", "gone", "tree"]
Report = Callable[[Change, Path], None]

RECENT_SECONDS = 10.0
"""A folder changed this recently is listed again at every poll: an entry made in the same tick of the file
system's clock as the last listing leaves the folder's stamp as it was (and a server's clock may lag ours)."""

FOLLOW_SECONDS = 300.0
"""How long a file that landed is stat'ed at every poll after its size and mtime last moved: a copy that stalls
longer than that is left to the reconcile scan."""
FOLLOW_LIMIT = 5000
"""The most files followed at once (the newest kept): a delivery of 5,000 frames is 2,500 stats a second at the
default 2 s poll, for FOLLOW_SECONDS after it lands."""


@dataclass
class _Folder:
    stamp: tuple[int, int]  # mtime and ctime, ns
    mtime: float
    entries: dict[str, bool] = field(default_factory=dict)  # name -> is a folder


class FolderPoller:
    """Polls the folders under `root` every `interval` seconds and reports what changed (start/stop/join)."""

    def __init__(self, root: Path, interval: float, report: Report) -> None:
        self.root = root
        self.interval = interval
        self.report = report
        self.polls = 0  # polls completed
        self.listed = 0  # folders listed again, over every poll
        self.polled = threading.Condition()
        self._folders: dict[Path, _Folder] = {}
        self._following: OrderedDict[Path, tuple[int, int, float]] = OrderedDict()  # size, mtime ns, moved at
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Take the tree as it is now (the reconcile scan hands over what it holds) and start polling; OSError
        when the root cannot be listed."""
        self._remember(self.root, strict=True)
        self._thread = threading.Thread(target=self._loop, name="rushes-ingest-poll", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def wait_polls(self, count: int, timeout: float) -> bool:
        """Until `count` more polls have completed; False on timeout."""
        with self.polled:
            target = self.polls + count
            return self.polled.wait_for(lambda: self.polls >= target, timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception:
                log.exception("polling %s failed; going on", self.root)
            with self.polled:
                self.polls += 1
                self.polled.notify_all()

    def poll(self) -> None:
        """One pass: stat every known folder, list again those that changed, report the differences."""
        now = time.time()
        for folder in list(self._folders):
            known = self._folders.get(folder)
            if known is None:  # went with a folder above it in this pass
                continue
            try:
                info = os.stat(folder)
            except OSError:
                self._forget(folder)
                continue
            stamp = (info.st_mtime_ns, info.st_ctime_ns)
            if stamp != known.stamp or now - known.mtime < RECENT_SECONDS:
                self._relist(folder, known, stamp, info.st_mtime)
        self._follow_up(time.monotonic())

    def _follow(self, path: Path) -> None:
        """Stat `path` at every poll from now on, until it has held still for FOLLOW_SECONDS; not a file last
        written longer ago than that (a rendered folder moved in, as docs/operations.md advises: nothing to hear)."""
        try:
            info = os.stat(path, follow_symlinks=False)
        except OSError:
            return
        if time.time() - info.st_mtime > FOLLOW_SECONDS:  # written long ago: a finished folder moved in whole
            return
        self._following[path] = (info.st_size, info.st_mtime_ns, time.monotonic())
        self._following.move_to_end(path)
        while len(self._following) > FOLLOW_LIMIT:
            self._following.popitem(last=False)

    def _follow_up(self, now: float) -> None:
        """Report each followed file whose size or mtime moved since the last poll ("touch"); stop following
        those gone (their folder's listing says so) or still for FOLLOW_SECONDS."""
        for path, (size, mtime, moved) in list(self._following.items()):
            try:
                info = os.stat(path, follow_symlinks=False)
            except OSError:
                del self._following[path]
                continue
            if (info.st_size, info.st_mtime_ns) != (size, mtime):
                self._following[path] = (info.st_size, info.st_mtime_ns, now)
                self._following.move_to_end(path)  # still written: the newest, kept past a later big delivery
                self.report("touch", path)
            elif now - moved > FOLLOW_SECONDS:
                del self._following[path]

    def _relist(self, folder: Path, known: _Folder, stamp: tuple[int, int], mtime: float) -> None:
        self.listed += 1
        entries = _listing(folder)
        changed = stamp != known.stamp
        known.stamp, known.mtime = stamp, mtime
        if entries is None:  # cannot be listed (a mode): the watcher's walk of it says why
            if changed:
                self.report("tree", folder)
            for name, is_dir in known.entries.items():
                self._gone(folder / name, is_dir)
            known.entries = {}
            return
        for name, is_dir in entries.items():
            if name in known.entries and known.entries[name] == is_dir:
                continue
            if name in known.entries:
                self._gone(folder / name, known.entries[name])
            if is_dir:
                self._remember(folder / name, follow=True)
                self.report("tree", folder / name)
            else:
                self._follow(folder / name)
                self.report("touch", folder / name)
        for name, is_dir in known.entries.items():
            if name not in entries:
                self._gone(folder / name, is_dir)
        known.entries = entries

    def _gone(self, path: Path, is_dir: bool) -> None:
        if is_dir:
            self._forget(path)
        else:
            self.report("gone", path)

    def _forget(self, folder: Path) -> None:
        """A folder gone: every file it and its folders held is reported gone."""
        known = self._folders.pop(folder, None)
        if known is None:
            return
        for name, is_dir in known.entries.items():
            self._gone(folder / name, is_dir)

    def _remember(self, top: Path, *, strict: bool = False, follow: bool = False) -> None:
        """Record `top` and every folder under it as they are now; `follow`: and follow the files they hold (a
        folder that landed, whose files may still be written)."""
        folders = [top]
        while folders:
            folder = folders.pop()
            try:
                info = os.stat(folder)
            except OSError:
                if strict and folder == top:
                    raise
                continue
            entries = _listing(folder)
            if entries is None and strict and folder == top:
                raise PermissionError(f"cannot list {folder}")
            known = _Folder((info.st_mtime_ns, info.st_ctime_ns), info.st_mtime, entries or {})
            self._folders[folder] = known
            folders += [folder / name for name, is_dir in known.entries.items() if is_dir]
            for name in (name for name, is_dir in known.entries.items() if follow and not is_dir):
                self._follow(folder / name)


def _listing(folder: Path) -> dict[str, bool] | None:
    """Each name in `folder` and whether it is a folder (links are not followed); None when it cannot be
    listed."""
    try:
        with os.scandir(folder) as listing:
            return {entry.name: _is_dir(entry) for entry in listing}
    except OSError:
        return None


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False
