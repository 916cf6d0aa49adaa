"""What `rushes tracker setup` asks of a tracker, and what it answers: plain data, no calls.

A `SetupPlan` is one show as the tracker should know it (its project, the shots the catalog holds, one task
per shot to tag). An adapter's `setup(plans)` creates what Rushes needs and may create (custom fields, Kitsu
task statuses; on the local ShotGrid-compatible server also the projects, shots and tasks) and answers one
`SetupStep` per thing: created, already there, or missing with what to do by hand. Running it again creates
nothing (every step then says "existed").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from integrations.trackers.base import Project

Outcome = Literal["created", "existed", "missing"]


@dataclass(frozen=True)
class SetupPlan:
    project: str  # the show's tracker_project (or its code)
    project_name: str
    shots: tuple[str, ...] = ()  # shot codes found in the catalog
    task: str = "comp"  # the task created on a shot that has none (local server only)
    show: str = ""  # the show's code, as `rushes tracker check` names it (two shows may share a name)


@dataclass(frozen=True)
class SetupStep:
    what: str  # "field Task.sg_rushes_fixes (text)", "shot DEMO/sh010", ...
    outcome: Outcome
    detail: str = ""  # for "missing": what to do by hand


@runtime_checkable
class SetsUp(Protocol):
    """An adapter that `rushes tracker setup` can prepare (ShotGrid, Kitsu)."""

    def setup(self, plans: Sequence[SetupPlan]) -> list[SetupStep]: ...

    def find_project(self, code: str) -> Project: ...


__all__ = ["Outcome", "SetsUp", "SetupPlan", "SetupStep"]
