"""The train step: a show's catalogued dailies in, a new model version out, promoted by the engine's rule.

Safe to repeat: the version number is reserved in the catalog under the job's id, and training writes its
checkpoints in that version's folder, so a retry after a crash resumes where the checkpoint left off.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from daemon.catalog import Catalog, models_repo
from daemon.catalog import dailies as daily_repo
from daemon.catalog import shows as show_repo
from daemon.crashpoints import crash_point
from daemon.logs import get_logger
from daemon.runner import Permanent
from daemon.settings import Settings, ShowConfig
from daemon.shows import get_show
from daemon.training_inputs import approved_examples, exclusions, starting_point
from engine.model import ModelError, ModelVersion, load_model
from engine.train import DatasetError, TrainClip, TrainSettings, train

log = get_logger("rushes.train")

MIN_BUDGET_S = 20.0
Progress = Callable[[str, int, float, float], None]


class NoDailies(Permanent):
    pass


def promoted_model(catalog: Catalog, show: str) -> ModelVersion | None:
    with catalog.session() as s:
        row = models_repo.latest_promoted(s, show)
        folder = row.path if row else None
    return load_model(folder) if folder else None


def reserve_version(
    catalog: Catalog, settings: Settings, show: str, job_id: int | str | None
) -> tuple[int, Path]:
    """The version number and folder this job trains into (the same ones again on a retry)."""
    with catalog.session() as s:
        if job_id is not None:
            for row in models_repo.list_versions(s, show):
                if (row.metrics or {}).get("job") == job_id and not row.promoted:
                    return row.version, Path(row.path)
        number = models_repo.next_version(s, show)
        folder = settings.models_dir / show / f"v{number}"
        parent = models_repo.latest_promoted(s, show)
        models_repo.add_version(
            s,
            show,
            str(folder),
            version=number,
            parent_version=parent.version if parent else None,
            metrics={"job": job_id, "state": "training"},
        )
    return number, folder


def training_clips(catalog: Catalog, show: str) -> tuple[list[TrainClip], int]:
    with catalog.session() as s:
        dailies = daily_repo.list_dailies(s, show)
    clips = [
        TrainClip(
            id=f"daily:{d.id}:{d.shot}:{Path(d.path).name}",
            content_hash=d.content_hash or "",
            path=Path(d.path),
        )
        for d in dailies
        if d.frame_count and d.frame_count >= 3 and d.excluded_reason is None  # excluded: never trained on
    ]
    newest = max((d.id for d in dailies), default=0)
    return clips, newest


def budget_for(
    show: ShowConfig, payload: dict[str, Any], override: float | None = None
) -> tuple[float, bool]:
    """The seconds to train, and whether the window's deadline cut them (a job may start late in its window)."""
    budget = override or show.train.budget_seconds
    deadline = payload.get("deadline")
    if deadline:
        left = (datetime.fromisoformat(deadline) - datetime.now(UTC)).total_seconds()
        if left < budget:
            return left, True
    return budget, False


def run_training(
    settings: Settings,
    catalog: Catalog,
    show_code: str,
    *,
    job_id: int | str | None = None,
    payload: dict[str, Any] | None = None,
    budget: float | None = None,
    device: str | None = None,
    progress: Progress | None = None,
    stop: Callable[[], bool] | None = None,
    train_settings: TrainSettings | None = None,
    base: str | None = None,
) -> dict[str, Any]:
    show = get_show(settings, catalog, show_code)
    payload = payload or {}
    seconds, cut = budget_for(show, payload, budget)
    if cut and seconds < MIN_BUDGET_S:
        return {"skipped": f"the training window closes in {max(seconds, 0):.0f} s"}
    clips, newest_daily = training_clips(catalog, show.code)
    if not clips:
        raise NoDailies(f"show {show.code} has no readable dailies to train on: ingest some first")
    try:
        parent = promoted_model(catalog, show.code)
    except ModelError as exc:
        log.warning("train.parent_unusable", show=show.code, error=str(exc))
        parent = None
    try:  # the first version grows from the studio base (`base` or shows[].train.base), later ones from parents
        start, lineage = starting_point(settings, show, parent, base)
    except ModelError as exc:
        raise Permanent(str(exc)) from exc
    number, folder = reserve_version(catalog, settings, show.code, job_id)
    options = show.train.model_copy(
        update={"budget_seconds": seconds, **({"device": device} if device else {})}
    )
    cfg = (train_settings or TrainSettings()).model_copy(
        update={
            "show": show.code,
            "version": f"v{number}",
            "cache_dir": settings.data_dir / "cache" / show.code,
        }
    )
    log.info(
        "train.start",
        show=show.code,
        version=number,
        clips=len(clips),
        budget_s=round(seconds),
        parent=parent.version if parent else None,
        base=f"{lineage.name} {lineage.version}" if lineage else None,
    )
    started = time.monotonic()

    def report(head: str, step: int, loss: float, elapsed: float) -> None:
        if (folder / "checkpoint").exists():
            crash_point("train.checkpointed", target="both")
        if progress is not None:
            progress(head, step, loss, elapsed)

    try:
        result = train(
            clips,
            options,
            folder,
            parent=parent,
            progress=report,
            stop=stop,
            settings=cfg,
            base=start,
            manifest_fields={"base": lineage, "exclusions": exclusions(catalog, show.code)},
            examples=approved_examples(catalog, show.code),
        )
    except DatasetError as exc:
        raise Permanent(str(exc)) from exc
    if result.stopped or result.version is None:
        raise InterruptedError(f"training of {show.code} v{number} stopped; it resumes from its checkpoint")
    promote = parent is None or all(result.promotable.values())
    summary = {
        "job": job_id,
        "state": "trained",
        "heads": result.metrics,
        "parent": result.parent_metrics,
        "promotable": result.promotable,
        "steps": result.steps,
        "seconds": round(time.monotonic() - started, 1),
    }
    with catalog.session() as s:
        models_repo.set_metrics(s, show.code, number, summary)
        if promote:
            models_repo.promote(s, show.code, number)
        fresh = max((d.id for d in daily_repo.list_dailies(s, show.code)), default=0)
        if fresh <= newest_daily:
            show_repo.set_model_stale(s, show.code, False)
    log.info("train.done", show=show.code, version=number, promoted=promote, steps=result.steps)
    return {
        "show": show.code,
        "version": number,
        "promoted": promote,
        "folder": str(folder),
        "resumed": result.resumed,
        "metrics": result.metrics,
        "losses": {k: v[-1] for k, v in result.losses.items() if v},
    }


def stop_on_sigterm() -> Callable[[], bool]:
    """In a worker: SIGTERM asks training to checkpoint and return (the job is then retried)."""
    flag = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: flag.set())
    return flag.is_set
