"""The train stage: a show's catalogued dailies in, a new model version out, promoted by the engine's rule.

Promotion is per head (engine.model.promotion): the version is promoted with the heads that beat their
classical baseline and the parent; the others keep the parent's weights or fall back to the classical
tool; a version where no head improved is kept, and the report names each head and its margin.

The budget is the wall clock of the whole run, from `started` (the command's or job's start) until the version
is recorded: what setting up took is taken off it, and so is FINISH_RESERVE_S for writing and recording the
version after the engine's evaluation ends at its deadline; a daily quarantined mid-run does not restart it.

Safe to repeat: the version number is reserved in the catalog under the job's id, and training writes its
checkpoints in that version's folder, so a retry after a crash resumes where the checkpoint left off.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from daemon.catalog import Catalog, models_repo
from daemon.catalog import dailies as daily_repo
from daemon.catalog import shows as show_repo
from daemon.crashpoints import crash_point
from daemon.jobs.outcomes import Permanent
from daemon.jobs.payloads import TrainJob, TrainReport
from daemon.logs import get_logger
from daemon.settings import Settings, ShowConfig
from daemon.shows import get_show
from daemon.stages.daily_files import changed_since_ingest, source_state
from daemon.stages.lineage import base_withdrawn, exclusions, withdrawn_in_lineage
from daemon.stages.training_inputs import approved_pairs, bases_root, starting_point
from engine.model import ModelError, ModelVersion, load_manifest, load_model
from engine.model.base import lock_holder, lock_run
from engine.model.manifest import BaseRef
from engine.options import TrainOptions
from engine.train import DatasetError, Stage, StageHook, TrainClip, TrainResult, TrainSettings, train
from engine.train.checkpoint import STATE
from engine.train.dataset import prune_cache
from engine.train.unreadable import NoClipLeft, without_unreadable

log = get_logger("rushes.train")

MIN_BUDGET_S = 20.0
# Kept from the budget for what follows the engine's deadline: writing the version folder (weights, manifest)
# and recording it in the catalog, measured at 0.1-0.5 s for the five heads on 2 busy cores.
FINISH_RESERVE_S = 1.0
Progress = Callable[[str, int, float, float], None]
# The job id of `rushes train`'s runs. They share it so that a run stopped before its end (Ctrl-C) resumes from its
# checkpoint at the next `rushes train`; a run that ended is done, and the next one trains a new version.
CLI_RUN = "cli"


class NoDailies(Permanent):
    pass


class TrainingInProgress(RuntimeError):
    """The version this run would train into is being trained by another process (a second `rushes train` of
    the show, or a job whose lease ran out while its worker still trains): retried later, never trained twice."""


def _serving(catalog: Catalog, show: str) -> int | None:
    """The number of the show's version in service now (None before its first)."""
    with catalog.session(readonly=True) as s:
        row = models_repo.latest_promoted(s, show)
        return row.version if row is not None else None


def promoted_model(catalog: Catalog, show: str) -> ModelVersion | None:
    with catalog.session() as s:
        row = models_repo.latest_promoted(s, show)
        folder = row.path if row else None
        seal = models_repo.recorded_seal(row) if row else None
    return load_model(folder, expected_seal=seal) if folder else None


def finished_report(catalog: Catalog, show: str, job_id: int | str | None) -> TrainReport | None:
    """The report of the version this job already trained and recorded (None when it has not): a job
    stopped between recording its version and ending is done, not trained again into a new version. Never for
    `rushes train` (CLI_RUN): each of its runs asks for a new version."""
    if job_id is None or job_id == CLI_RUN:
        return None
    with catalog.session() as s:
        for row in models_repo.list_versions(s, show):
            metrics = row.metrics or {}
            if metrics.get("job") == job_id and metrics.get("state") == "trained":
                return TrainReport(
                    show=show,
                    version=row.version,
                    promoted=bool(row.promoted),
                    folder=str(row.path),
                    resumed=bool(metrics.get("resumed", False)),
                    metrics=dict(metrics.get("heads") or {}),
                    verdicts=dict(metrics.get("verdicts") or {}),
                )
    return None


def reserve_version(
    catalog: Catalog, settings: Settings, show: str, job_id: int | str | None, parent: ModelVersion | None
) -> tuple[int, Path]:
    """The version number and folder this job trains into, recorded as grown from `parent` (the same ones
    again on a retry of a run that has not ended; a version already trained is never trained into again)."""
    with catalog.session() as s:
        if job_id is not None:
            for row in models_repo.list_versions(s, show):
                metrics = row.metrics or {}
                if metrics.get("job") == job_id and metrics.get("state") != "trained" and not row.promoted:
                    return row.version, Path(row.path)
        number = models_repo.next_version(s, show)
        folder = settings.models_dir / show / f"v{number}"
        while folder.exists():  # a version this catalog does not know (another or an older catalog wrote it)
            log.warning(
                "train.version_folder_taken",
                show=show,
                folder=str(folder),
                why="the catalog has no such version (a catalog moved or restored from a backup?); kept as it is",
            )
            number += 1
            folder = settings.models_dir / show / f"v{number}"
        serving = models_repo.latest_promoted(s, show)  # a version put in service meanwhile keeps its place
        models_repo.add_version(
            s,
            show,
            str(folder),
            version=number,
            parent_version=int(parent.manifest.version.lstrip("v")) if parent else None,
            metrics={"job": job_id, "state": "training", "serving": serving.version if serving else None},
        )
    return number, folder


def _serving_at_start(catalog: Catalog, show: str, number: int) -> int | None:
    """The version that was in service when version `number` was reserved (its first attempt: a run resumed after
    yielding to a fix keeps it); the one in service now for a row of an older Rushes, which did not record it."""
    with catalog.session(readonly=True) as s:
        row = models_repo.get_version(s, show, number)
        metrics = (row.metrics or {}) if row is not None else {}
    if "serving" in metrics:
        return int(metrics["serving"]) if metrics["serving"] is not None else None
    return _serving(catalog, show)


@dataclass(frozen=True)
class TrainingInputs:
    """The show's dailies a run trains on (`clips`), their ids (what `_record` compares with the dailies
    trainable when the run ends) and one sentence for each daily left out because its file changed on disk since
    ingest hashed it (`left_out`)."""

    clips: list[TrainClip]
    ids: frozenset[int]
    left_out: tuple[str, ...] = ()


def training_clips(catalog: Catalog, show: str) -> TrainingInputs:
    """The show's trainable dailies whose files are as ingest hashed them. One delivered again under the same name
    and not yet ingested (waiting to hold still) is left out: trained on, the new file's pictures were recorded
    under the old daily's id and hash (its manifest entry, the frame cache's key), and excluding the new daily
    found no version that learned from it. Ingest catalogues the new file, and the show's next training learns
    it."""
    with catalog.session() as s:
        dailies = [d for d in daily_repo.list_dailies(s, show) if _trainable(d)]
    changed = [d for d in dailies if changed_since_ingest(source_state(d.path), d.size_bytes, d.mtime)]
    for d in changed:
        log.warning("train.daily_changed", show=show, daily=d.id, path=d.path)
    gone = {d.id for d in changed}
    dailies = [d for d in dailies if d.id not in gone]
    clips = [
        TrainClip(
            id=f"daily:{d.id}:{d.shot}:{Path(d.path).name}",
            content_hash=d.content_hash or "",
            path=Path(d.path),
            group=(d.shot or "").lower(),  # a shot's takes and deliveries are held out together
        )
        for d in dailies
    ]
    said = [
        f"daily {d.id} ({Path(d.path).name}) was left out: its file changed on disk since it was ingested "
        "(delivered again?); the next training learns the file once ingest has catalogued it"
        for d in changed[:SAID_LEFT_OUT]
    ]
    if len(changed) > SAID_LEFT_OUT:  # a remount that moved every mtime: a count, not a line a daily
        said.append(f"{len(changed) - SAID_LEFT_OUT} more dailies were left out for the same reason")
    return TrainingInputs(clips, frozenset(d.id for d in dailies), tuple(said))


SAID_LEFT_OUT = 5  # dailies left out of a run named one by one; the rest counted


def _trainable(daily: daily_repo.Daily) -> bool:
    """A registered daily of three frames or more, not excluded (an excluded daily is never trained on)."""
    return bool(daily.frame_count and daily.frame_count >= 3 and daily.excluded_reason is None)


def budget_for(show: ShowConfig, job: TrainJob | None, override: float | None = None) -> tuple[float, bool]:
    """The seconds to train, and whether the window's deadline cut them (a job may start late in its window).
    Only a window's job is cut: a quiet period's (queued by an older Rushes with a deadline) trains its budget."""
    budget = override or show.train.budget_seconds
    if job is not None and job.deadline is not None and job.reason == "window":
        left = (job.deadline - datetime.now(UTC)).total_seconds()
        if left < budget:
            return left, True
    return budget, False


def _wrapped(catalog: Catalog, code: str) -> TrainReport | None:
    """The report of a training skipped because the show is wrapped (a job queued again after the wrap: a yield,
    a retry), else None."""
    with catalog.session(readonly=True) as s:
        wrapped = show_repo.wrapped_shows(s).get(code)
    if wrapped is None:
        return None
    return TrainReport(
        code,
        skipped=f"show {code} is wrapped (since {wrapped:%Y-%m-%d %H:%M} UTC): `rushes show reopen {code}` first",
    )


def run_training(
    settings: Settings,
    catalog: Catalog,
    show_code: str,
    *,
    job_id: int | str | None = None,
    job: TrainJob | None = None,
    budget: float | None = None,
    device: str | None = None,
    progress: Progress | None = None,
    stop: Callable[[], bool] | None = None,
    train_settings: TrainSettings | None = None,
    on_stage: StageHook | None = None,
    base: str | None = None,
    started: float | None = None,
    afresh: bool = False,
) -> TrainReport:
    """The durable train job (and `rushes train`): train into the reserved version, record, maybe promote.
    `started`: the time.monotonic() the budget counts from (default: now). `afresh`: a first version (from
    `base`, else the show's train.base, else scratch) rather than one grown from the promoted version."""
    started = time.monotonic() if started is None else started
    show = get_show(settings, catalog, show_code)
    done = finished_report(catalog, show.code, job_id)
    if done is not None:  # recorded before a crash or a yield stopped the job: not trained twice
        log.info("train.already_done", show=show.code, version=done.version, promoted=done.promoted)
        return done
    wrapped = _wrapped(catalog, show.code)
    if wrapped is not None:
        return wrapped
    seconds, cut = budget_for(show, job, budget)
    if cut and seconds < MIN_BUDGET_S:
        return TrainReport(show.code, skipped=f"the training window closes in {max(seconds, 0):.0f} s")
    inputs = training_clips(catalog, show.code)
    clips, trained_on = inputs.clips, inputs.ids
    if not clips:
        if inputs.left_out:  # every one changed on disk: ingest is about to catalogue them
            raise NoDailies(
                f"show {show.code}'s dailies all changed on disk since they were ingested (delivered again?): "
                "training waits for ingest to catalogue them; train again once it has"
            )
        raise NoDailies(f"show {show.code} has no readable dailies to train on: ingest some first")
    parent, base, fresh_start = _starting_point(settings, catalog, show.code, base, afresh)
    grown = grown_from(settings, catalog, show, parent, base)
    grown["manifest_fields"]["fresh_start"] = _without_base(fresh_start, grown.pop("base_withdrawn"))
    number, folder = reserve_version(catalog, settings, show.code, job_id, parent)
    serving = _serving_at_start(catalog, show.code, number)
    with _run_lock(show.code, number, folder):
        options, cfg, cache = _run_settings(settings, show, number, seconds, device, train_settings)
        base_ref = grown["manifest_fields"]["base"]
        log.info("train.start", show=show.code, version=number, clips=len(clips), budget_s=round(seconds),
                 parent=parent.version if parent else None, base=base_ref.name if base_ref else None)  # fmt: skip
        stages = _stage_logger(show.code, number, on_stage)
        reporter = _reporter(folder, progress)
        deadline = started + seconds
        result = _train(catalog, clips, options, folder, parent, reporter, stop, cfg, stages, grown, deadline)
        if result.stopped or result.version is None:
            raise InterruptedError(
                f"training of {show.code} v{number} stopped; it resumes from its checkpoint"
            )
        promote, verdicts = _judged(result, parent is None)
        withdrawn = _withdrawn(settings, catalog, show.code, result.version)
        put_back = _serving(catalog, show.code)
        if promote and put_back != serving:  # `rushes model promote` while it trained: that choice stands
            why = f"v{put_back} was put in service while it trained"
            log.warning("train.not_promoted", show=show.code, version=number, why=why)
            promote = False
        if promote and withdrawn:  # excluded while it trained: kept for the record, never used
            log.warning("train.not_promoted", show=show.code, version=number, why=withdrawn)
            promote = False
        summary = _summary(job_id, result, started, verdicts)
        _record(catalog, show.code, number, trained_on, promote, summary, stays_stale=bool(withdrawn))
        pruned = prune_cache(cache, [c.content_hash for c in clips])  # the dailies that may train again
        if pruned:
            log.info("train.cache_pruned", show=show.code, files=pruned)
        log.info(
            "train.done", show=show.code, version=number, promoted=promote, steps=result.steps, heads=verdicts
        )
        return _report(show.code, number, folder, result, promote, verdicts, inputs.left_out)


def _run_settings(
    settings: Settings,
    show: ShowConfig,
    number: int,
    seconds: float,
    device: str | None,
    given: TrainSettings | None,
) -> tuple[TrainOptions, TrainSettings, Path]:
    """The run's options (the show's, with its budget and device), settings, and its frame cache (the show's)."""
    options = show.train.model_copy(
        update={"budget_seconds": seconds, **({"device": device} if device else {})}
    )
    cache = settings.data_dir / "cache" / show.code
    cfg = (given or TrainSettings()).model_copy(
        update={"show": show.code, "version": f"v{number}", "cache_dir": cache}
    )
    return options, cfg, cache


@contextlib.contextmanager
def _run_lock(show: str, number: int, folder: Path) -> Iterator[None]:
    """`folder`'s run lock (engine.model.base.lock_run) for the whole run; TrainingInProgress, naming who holds
    it, when another process does. Two runs in one folder wrote each other's checkpoints and one's version
    replaced the other's, each reported promoted."""
    folder.mkdir(parents=True, exist_ok=True)
    lock = lock_run(folder)
    if lock is None:
        holder = lock_holder(folder)
        raise TrainingInProgress(
            f"{show} v{number} is being trained by another run{f' ({holder})' if holder else ''}: wait for it "
            "to end, or stop it (Ctrl-C) and run `rushes train` again to continue it"
        )
    with lock:
        yield


def _report(
    show: str,
    number: int,
    folder: Path,
    result: TrainResult,
    promote: bool,
    verdicts: dict[str, str],
    left_out: tuple[str, ...] = (),
) -> TrainReport:
    """What a finished run tells its caller: the version, whether it was promoted, its scores and last losses."""
    return TrainReport(
        show=show,
        version=number,
        promoted=promote,
        folder=str(folder),
        resumed=result.resumed,
        metrics=result.metrics,
        losses={k: v[-1] for k, v in result.losses.items() if v},
        verdicts=verdicts,
        left_out=list(left_out),
    )


def _judged(result: TrainResult, first: bool) -> tuple[bool, dict[str, str]]:
    """Whether the version is promoted (per head: engine.model.promotion) and each head's verdict."""
    decision = result.decision
    if decision is None:
        return first, {}
    return decision.promote, {h: v.text() for h, v in decision.heads.items()}


def _train(
    catalog: Catalog,
    clips: list[TrainClip],
    options: TrainOptions,
    folder: Path,
    parent: ModelVersion | None,
    progress: Progress,
    stop: Callable[[], bool] | None,
    cfg: TrainSettings,
    on_stage: StageHook,
    grown: dict[str, Any],
    deadline: float,
) -> TrainResult:
    """Train until `deadline` less the finishing reserve; a daily that cannot be decoded is quarantined with
    its reason and training goes on without it, in what is left of the same budget."""

    def attempt(given: list[TrainClip]) -> TrainResult:
        left = max(1.0, deadline - time.monotonic() - FINISH_RESERVE_S)  # the engine counts from its call
        return train(
            given,
            options.model_copy(update={"budget_seconds": left}),
            folder,
            parent=parent,
            progress=progress,
            stop=stop,
            settings=cfg,
            on_stage=on_stage,
            **grown,
        )

    try:
        return without_unreadable(clips, attempt, lambda bad, exc: _quarantine_clip(catalog, bad, str(exc)))
    except NoClipLeft as exc:
        raise NoDailies(f"no readable dailies are left to train on ({exc})") from exc
    except DatasetError as exc:  # it names no daily of the run
        raise Permanent(str(exc)) from exc


def grown_from(
    settings: Settings, catalog: Catalog, show: ShowConfig, parent: ModelVersion | None, base: str | None
) -> dict[str, Any]:
    """What the run grows from besides its parent: the studio base for a first version (`base` or
    shows[].train.base; later versions keep their parent's base reference), the show's exclusions and the
    supervisors' approved pairs (those left out listed with their reasons) (engine.train.train's keyword arguments). A named base that is missing is
    Permanent. A base that learned from a daily excluded since (lineage.base_withdrawn) is not started from: the
    version starts from scratch, and `base_withdrawn` says why (to be popped before training)."""
    try:
        start, lineage = starting_point(settings, show, parent, base)
    except ModelError as exc:
        raise Permanent(str(exc)) from exc
    dropped = base_withdrawn(catalog, start.manifest) if start is not None else ""
    if dropped:
        log.warning("train.base_withdrawn", show=show.code, why=dropped)
        start, lineage = None, None
    pairs = approved_pairs(catalog, show.code, show.color)
    return {
        "base_withdrawn": dropped,
        "base": start,
        "manifest_fields": {
            "base": lineage,
            "exclusions": exclusions(catalog, show.code),
            "pairs_left_out": pairs.left_out,
        },
        "examples": pairs.examples,
    }


def _quarantine_clip(catalog: Catalog, clip: TrainClip, reason: str) -> None:
    """Take the daily behind a training clip ("daily:ID:...") out of training with the reason."""
    try:
        daily_id = int(clip.id.split(":")[1])
    except (IndexError, ValueError):
        raise Permanent(f"training clip {clip.id} cannot be read: {reason}") from None
    with catalog.session() as s:
        daily_repo.requarantine(s, daily_id, f"training: {reason}")
    log.warning("train.daily_quarantined", daily=daily_id, reason=reason)


def _starting_point(
    settings: Settings, catalog: Catalog, show: str, base: str | None, afresh: bool
) -> tuple[ModelVersion | None, str | None, str]:
    """What the next version grows from: (the promoted version, or None for a first version; the base a first
    version starts from; why it starts afresh, "" when it does not). It starts afresh where the promoted
    version's lineage learned from a daily excluded since (from the lineage's own base) or `afresh` asks."""
    parent, unusable = _usable_parent(catalog, show)
    fresh_start = _withdrawn(settings, catalog, show, parent)
    if (
        fresh_start
    ):  # its weights carry a daily excluded since: start afresh from the lineage's base (if clean)
        base = base or _base_spec(parent)
    elif unusable:  # damaged or gone: afresh, from the base its lineage grew from where one is readable
        fresh_start, base = unusable, base or _lineage_base(catalog, show)
    elif afresh and parent is not None:
        fresh_start = (
            f"asked to start afresh (rushes train --afresh) rather than from {parent.manifest.version}"
        )
    if fresh_start:
        log.warning("train.fresh_start", show=show, why=fresh_start)
        parent = None
    return parent, base, fresh_start


def _withdrawn(settings: Settings, catalog: Catalog, show: str, version: ModelVersion | None) -> str:
    """Why a version must not be grown from or used: its lineage (or the base it grew from) learned from a daily
    excluded since ("" when not; lineage.withdrawn_in_lineage)."""
    return withdrawn_in_lineage(catalog, show, version.manifest if version else None, bases_root(settings))


def _without_base(fresh_start: str, dropped: str) -> str:
    """Why the version starts afresh, with why it does not start from the base it was to start from, if so."""
    if not dropped:
        return fresh_start
    why = "" if dropped in fresh_start else f"{dropped}; "
    return (
        f"{fresh_start + '; ' if fresh_start else ''}{why}trained from scratch, not from that base: train a base "
        "without it (`rushes base train`), then start the show from it with `rushes train --afresh --base NAME`"
    )


def _base_spec(parent: ModelVersion | None) -> str | None:
    """The base version a lineage started from, as `rushes train --base` names it (NAME@vN)."""
    return _named(parent.manifest.base if parent else None)


def _named(ref: BaseRef | None) -> str | None:
    return f"{ref.name}@{ref.version}" if ref else None


def _usable_parent(catalog: Catalog, show: str) -> tuple[ModelVersion | None, str]:
    """The promoted version to grow from, and why none can be ("" when it can, or when there is none yet): its
    manifest lists that reason as why the version started afresh (it said nothing of the damaged parent)."""
    try:
        return promoted_model(catalog, show), ""
    except ModelError as exc:
        log.warning("train.parent_unusable", show=show, error=str(exc))
        return None, f"the promoted version could not be used ({exc})"


def _lineage_base(catalog: Catalog, show: str) -> str | None:
    """The base the show's newest version with a readable manifest grew from (NAME@vN), None without one: a
    version that starts afresh because its parent is damaged keeps to the base its lineage was grown from."""
    with catalog.session(readonly=True) as s:
        folders = [row.path for row in reversed(models_repo.list_versions(s, show)) if row.path]
    for folder in folders:
        try:
            return _named(load_manifest(folder).base)
        except ModelError:
            continue
    return None


def _stage_logger(show: str, number: int, then: StageHook | None) -> StageHook:
    """Log each stage of a run (train.stage: decode, train <head>, evaluate <head>, write; seconds left)."""

    def hear(stage: Stage) -> None:
        left = round(stage.left_s) if stage.left_s is not None else None
        log.info("train.stage", show=show, version=number, stage=stage.name, head=stage.head, left_s=left)
        if then is not None:
            then(stage)

    return hear


def _reporter(folder: Path, progress: Progress | None) -> Progress:
    def report(head: str, step: int, loss: float, elapsed: float) -> None:
        if (folder / "checkpoint" / STATE).exists():  # a checkpoint was saved (not only the run's clip list)
            crash_point("train.checkpointed", target="both")
        if progress is not None:
            progress(head, step, loss, elapsed)

    return report


def _summary(
    job_id: int | str | None, result: TrainResult, started: float, verdicts: dict[str, str]
) -> dict[str, Any]:
    return {
        "job": job_id,
        "state": "trained",
        "verdicts": verdicts,
        "heads": result.metrics,
        "parent": result.parent_metrics,
        "promotable": result.promotable,
        "sources": result.version.manifest.sources if result.version is not None else {},
        "steps": result.steps,
        "resumed": result.resumed,
        "seconds": round(time.monotonic() - started, 1),
        "seal": result.version.manifest.seal if result.version else None,  # checked when the model is loaded
    }


def _record(
    catalog: Catalog,
    show: str,
    number: int,
    trained_on: frozenset[int],
    promote: bool,
    summary: dict[str, Any],
    stays_stale: bool = False,
) -> None:
    """Store the version's scores, promote it when it is not worse, and clear the show's stale flag unless a
    daily it could not train on is trainable now (one landed, or one included again, while it trained: the
    include used to be lost, the show marked current) or `stays_stale` (a daily it learned from was excluded
    meanwhile: the next window trains without it)."""
    with catalog.session() as s:
        models_repo.set_metrics(s, show, number, summary)
        if promote:
            models_repo.promote(s, show, number)
        now = {d.id for d in daily_repo.list_dailies(s, show) if _trainable(d)}
        if now <= trained_on and not stays_stale:
            show_repo.set_model_stale(s, show, False)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[Callable[[], bool]]:
    """In a worker: SIGTERM (the local executor stopping the job) or SIGINT (Ray cancelling the task without
    force) asks training to checkpoint at its next step and return (the job is then retried). The handlers in
    place before come back afterwards: a Ray worker process runs other jobs next."""
    flag = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    for sig in STOP_SIGNALS:
        signal.signal(sig, lambda *_: flag.set())
    try:
        yield flag.is_set
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
