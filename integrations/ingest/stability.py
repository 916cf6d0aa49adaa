"""The stability gate: pure, clock-injected, no I/O.

Feed it observations (path, size, mtime, now). Files are held in groups (`key`, by default one group
per file; the watcher uses names.unit_key, so the images of one folder wait together). A group is
ready once no file in it was added, changed or removed for `stable_seconds`, so a sequence that is
still growing is held. Ready groups stay in the gate until `pop`; `release` is ready + pop.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from integrations.ingest.names import is_ignored_name
from integrations.ingest.options import DEFAULT_IGNORE


@dataclass(frozen=True)
class FileState:
    path: Path
    size: int
    mtime: float


@dataclass(frozen=True)
class Settled:
    """A group whose files all held still for stable_seconds."""

    key: Hashable
    files: tuple[FileState, ...]


@dataclass
class _Group:
    files: dict[Path, FileState] = field(default_factory=dict)
    changed_at: float = 0.0


def _own_key(path: Path) -> Hashable:
    return path


class StabilityGate:
    def __init__(
        self,
        stable_seconds: float,
        *,
        ignore: Iterable[str] = DEFAULT_IGNORE,
        key: Callable[[Path], Hashable] = _own_key,
    ) -> None:
        self.stable_seconds = stable_seconds
        self.ignore = tuple(ignore)
        self._key = key
        self._groups: dict[Hashable, _Group] = {}
        self._group_of: dict[Path, Hashable] = {}

    def observe(self, path: Path, size: int, mtime: float, now: float) -> bool:
        """Record what a file looks like at `now`; False (and nothing recorded) for an ignored name."""
        if is_ignored_name(path.name, self.ignore):
            return False
        key = self._group_of.get(path)
        if key is None:
            key = self._key(path)
            self._group_of[path] = key
        group = self._groups.setdefault(key, _Group(changed_at=now))
        state = FileState(path, size, mtime)
        if group.files.get(path) != state:
            group.files[path] = state
            group.changed_at = now
        return True

    def vanish(self, path: Path, now: float) -> bool:
        """The file is gone (deleted or renamed away): its group starts waiting again. False when no group held
        it (delivered already, or never seen)."""
        key = self._group_of.pop(path, None)
        if key is None:
            return False
        group = self._groups[key]
        del group.files[path]
        group.changed_at = now
        if not group.files:
            del self._groups[key]
        return True

    def ready(self, now: float) -> list[Settled]:
        """Groups where nothing changed for stable_seconds (they stay held until `pop`)."""
        return [
            Settled(key, tuple(sorted(group.files.values(), key=lambda state: str(state.path))))
            for key, group in self._groups.items()
            if now - group.changed_at >= self.stable_seconds
        ]

    def pop(self, key: Hashable) -> None:
        """Forget a group (after it was delivered)."""
        group = self._groups.pop(key, None)
        if group is not None:
            for path in group.files:
                self._group_of.pop(path, None)

    def release(self, now: float) -> list[Settled]:
        """Ready groups, forgotten as they are returned."""
        settled = self.ready(now)
        for item in settled:
            self.pop(item.key)
        return settled

    def state(self, path: Path) -> FileState | None:
        key = self._group_of.get(path)
        return None if key is None else self._groups[key].files.get(path)

    def __len__(self) -> int:
        """Files held."""
        return len(self._group_of)
