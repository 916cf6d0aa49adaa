"""Which tracker adapter the settings ask for, and the fix kinds the daemon hands it.

The fix kinds are the engine's heads (`engine.kinds.HEAD_ORDER`, the one list, torch-free); integrations may not
import the engine, so the adapters get the list here, at construction, to read free-text requests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from daemon.logs import structlog_ready
from engine.kinds import HEAD_ORDER
from integrations.trackers.base import CheckResult, Tracker, TrackerError, TrackerFatal
from integrations.trackers.options import TrackerOptions
from integrations.trackers.setup import SetsUp, SetupPlan

if TYPE_CHECKING:
    from daemon.catalog import Catalog
    from daemon.settings import Settings

FIX_KINDS: tuple[str, ...] = tuple(HEAD_ORDER)


def make_tracker(options: TrackerOptions) -> Tracker | None:
    """The configured adapter, or None when `tracker.kind` is none."""
    structlog_ready()  # the adapters log through structlog directly
    if options.kind == "shotgrid":
        from integrations.trackers.shotgrid import ShotGridTracker

        return ShotGridTracker(options, kinds=FIX_KINDS)
    if options.kind == "kitsu":
        from integrations.trackers.kitsu import KitsuTracker

        return KitsuTracker(options, kinds=FIX_KINDS)
    if options.kind == "none":
        return None
    raise TrackerFatal(f"tracker.kind {options.kind!r} is not supported: use shotgrid, kitsu or none")


def setup_plans(settings: Settings, catalog: Catalog, show: str | None = None) -> list[SetupPlan]:
    """What `rushes tracker setup` asks of the tracker: per show (or just `show`), its tracker project
    (`tracker_project`, else its code) and the shots its catalogued dailies were matched to."""
    from daemon.catalog import dailies
    from daemon.shows import all_shows, get_show

    shows = [get_show(settings, catalog, show)] if show else all_shows(settings, catalog)
    plans = []
    with catalog.session(readonly=True) as s:
        for config in shows:
            shots = tuple(dailies.shots(s, config.code))
            project = config.tracker_project or config.code
            plans.append(SetupPlan(project, config.name or config.code, shots, show=config.code))
    return plans


def project_checks(tracker: SetsUp, plans: list[SetupPlan]) -> list[CheckResult]:
    """`rushes tracker check`'s line per show: whether the tracker shows Rushes the show's project (a project it
    cannot see is one whose requests are only logged, `fix.unknown_project`)."""
    results = []
    followed: dict[str, SetupPlan] = {}  # the show already following each project, by the project's id
    for plan in plans:
        what = f"project {plan.project}"
        show = plan.show or plan.project_name
        try:
            found = tracker.find_project(plan.project)
        except TrackerError as exc:
            results.append(CheckResult(what, False, f"show {show}: {exc}"))
            continue
        first = followed.setdefault(str(found.id), plan)
        if first is not plan:  # its requests would all go to one of the two, and nothing would say so
            other = first.show or first.project_name
            results.append(
                CheckResult(
                    what,
                    False,
                    f"show {show} follows the same project ({found.name or found.code}) as show {other}: its fix "
                    "requests go to one show only; give each show its own tracker_project, or wrap the one no "
                    f"longer worked on (`rushes show wrap {other}` or `rushes show wrap {show}`)",
                )
            )
        else:
            results.append(CheckResult(what, True, f"show {show} ({found.name or found.code})"))
    return results
