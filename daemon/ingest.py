"""The ingest stage: a stable candidate from the watcher (or `rushes ingest`) in, a catalogued daily out.

candidate -> already catalogued with the same size and mtime? done -> probe (engine.media) -> hash ->
register in the catalog -> mark the show's model stale. A file that cannot be read is quarantined with its
one-line reason; nothing else stops.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from daemon.catalog import Catalog
from daemon.catalog import dailies as daily_repo
from daemon.catalog import shows as show_repo
from daemon.logs import get_logger
from daemon.settings import ShowConfig
from engine.media import MediaError, probe
from integrations.ingest.candidates import Candidate, Found, Rejected
from integrations.ingest.hashing import content_hash
from integrations.ingest.options import IngestOptions, IngestRoot
from integrations.ingest.scan import scan_root

log = get_logger("rushes.ingest")

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

    def __init__(self, catalog: Catalog, listeners: Iterable[Listener] = ()) -> None:
        self.catalog = catalog
        self.listeners = list(listeners)

    def handle(self, show: str, found: Found) -> Outcome:
        outcome = (
            self._candidate(show, found) if isinstance(found, Candidate) else self._rejected(show, found)
        )
        level = "warning" if outcome.result == "quarantined" else "info"
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
            if known is not None and daily_repo.same_state(known, c.size, c.mtime, c.stamp):
                return Outcome(
                    path,
                    "unchanged" if known.status == "registered" else "quarantined",
                    known.shot,
                    known.error,
                    known.id,
                )
        try:
            info = probe(path)
            digest = content_hash(list(c.files))
        except MediaError as exc:
            return self._quarantine(show, c, exc.reason)
        except OSError as exc:
            return self._quarantine(show, c, f"cannot read: {exc.strerror or exc}")
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
            daily, created = daily_repo.register_daily(s, show, facts)
            if created:
                show_repo.set_model_stale(s, show, True)
            return Outcome(path, "registered" if created else "unchanged", c.shot, None, daily.id)

    def _quarantine(self, show: str, c: Candidate, reason: str) -> Outcome:
        with self.catalog.session() as s:
            row, _ = daily_repo.quarantine(s, show, str(c.path), c.size, c.mtime, reason, root=str(c.root))
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
