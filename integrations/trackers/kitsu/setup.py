"""`rushes tracker setup` on Kitsu: the task statuses Rushes uses, and a report of each show's project.

Kitsu needs no custom field (a fix request is a comment with the fix status), so what Rushes may create
is the task statuses it names (`fix_status`, `version_status`, `published_status`, `approved_status`,
`rejected_status`; Kitsu's stock ones usually exist already): a missing one is created with its short
name (this needs the Admin role; without it the step says so). A show's project is looked up and
reported missing, never created: projects and their shots belong to production. Idempotent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import gazu
from gazu.exception import NotAllowedException

from integrations.trackers.base import TrackerError, TrackerFatal
from integrations.trackers.setup import SetupPlan, SetupStep

if TYPE_CHECKING:
    from gazu.client import KitsuClient

    from integrations.trackers.kitsu.adapter import KitsuTracker

STATUS_OPTIONS = (
    "fix_status",
    "version_status",
    "published_status",
    "approved_status",
    "rejected_status",
    "failed_status",
)
COLOR = "#ff3860"


def set_up(tracker: KitsuTracker, plans: Sequence[SetupPlan]) -> list[SetupStep]:
    steps = _statuses(tracker)
    for plan in plans:
        what = f"project {plan.project}"
        try:
            project = tracker.find_project(plan.project)
            steps.append(SetupStep(what, "existed"))
        except TrackerError:
            steps.append(
                SetupStep(
                    what, "missing", "create it in Kitsu (with its shots) or set the show's tracker_project"
                )
            )
            continue
        steps += _project_list(tracker, plan.project, str(project.id))
    return steps


def _project_list(tracker: KitsuTracker, name: str, project_id: str) -> list[SetupStep]:
    """The fix status in the project's own list of task statuses, where it keeps one (none: every status is
    offered): coordinators could not set a task to fix there, while check and setup said ok."""
    try:
        fix = tracker.statuses.of("fix_status")
        listed = tracker.conn.call(
            "the project's task statuses",
            lambda c: gazu.project.get_project_task_statuses(project_id, client=c),
        )
    except TrackerError:
        return []  # the status itself is missing: its own step says so
    if not listed or any(str(row.get("id")) == str(fix["id"]) for row in listed):
        return []
    what = f"task status {fix['short_name']} in project {name}'s own list"
    try:
        tracker.conn.call(
            f"adding task status {fix['short_name']} to project {name}",
            lambda c: gazu.project.add_task_status(project_id, str(fix["id"]), client=c),
            idempotent=False,
        )
    except TrackerError as exc:
        return [
            SetupStep(what, "missing", f"{exc}; add it in Kitsu (the production's Settings > Task Statuses)")
        ]
    return [SetupStep(what, "created")]


def _statuses(tracker: KitsuTracker) -> list[SetupStep]:
    steps: list[SetupStep] = []
    done: set[str] = set()
    for option in STATUS_OPTIONS:
        short = tracker.statuses.name_of(option)
        if short.lower() in done:
            continue
        done.add(short.lower())
        what = f"task status {short} ({option})"
        try:
            tracker.statuses.named(short, option)  # reads the statuses again when the name is not known
            steps.append(SetupStep(what, "existed"))
            continue
        except TrackerFatal:
            pass
        try:
            _create_status(tracker, short)
        except TrackerError as exc:
            steps.append(SetupStep(what, "missing", _why_not_created(tracker, short, exc)))
            continue
        steps.append(SetupStep(what, "created"))
    return steps


def _why_not_created(tracker: KitsuTracker, short: str, exc: TrackerError) -> str:
    by_hand = f"create it in Kitsu (Settings > Task Statuses: name {short.title()}, short name {short})"
    if isinstance(exc.__cause__, NotAllowedException):
        return (
            f"only a Kitsu admin may create task statuses, and {tracker.options.script_name} is not one: run "
            "`rushes tracker setup` once with an admin's login (RUSHES_TRACKER__SCRIPT_NAME and "
            f"RUSHES_TRACKER__SCRIPT_KEY), or {by_hand}"
        )
    return f"{exc}; {by_hand}"


def _create_status(tracker: KitsuTracker, short: str) -> None:
    def create(client: KitsuClient) -> object:
        return gazu.task.new_task_status(short.title(), short, COLOR, client=client)

    tracker.conn.call(f"creating task status {short}", create, idempotent=False)


__all__ = ["set_up"]
