"""train_base(): a studio base model trained on a declared corpus, every head, self-supervised.

The same loop as a show's training (engine.train.loop.train) on the corpus clips, into the next version
folder of the base (engine.model.base). Resumable: the loop checkpoints in the version folder and
run.json keeps the corpus and options, so `resume=True` continues the interrupted run where its last
checkpoint left it (same clips, same seed, the rest of the same budget: the seconds its heads trained
before count). Starting a new run while one is unfinished is refused, so no checkpoint is ever abandoned by
accident; and a run holds its folder's run lock until it ends (claim_run), so a second run of the same base,
new or resumed, is refused while it trains. A corpus file that cannot be decoded (corrupt, truncated, not
media at all) is set aside with its reason, listed in the manifest's `skipped` (kept in the checkpoint folder
meanwhile, so a resumed run lists it too), and the run goes on with the others in what is left of its
budget: an archive of thousands of files is not stopped by one. A base trains in float32 unless its
settings ask for bfloat16 (engine.train.precision.base_settings).

`train_base_worker` is one rank of a data-parallel run of the same (engine.train.parallel): what each Ray
Train worker of `rushes base train --workers N` calls, with plain JSON arguments.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from engine.model.base import (
    BaseRun,
    RunLock,
    lock_holder,
    lock_run,
    new_version,
    read_run,
    unfinished,
    versions,
    write_run,
)
from engine.model.manifest import Exclusion
from engine.options import TrainOptions
from engine.train.checkpoint import STATE, CheckpointError, check_checkpoint, read_json
from engine.train.clip_choice import changed_since_start
from engine.train.corpus import CorpusError, corpus_clips, corpus_media, declared_corpus
from engine.train.dataset import DatasetError, TrainClip
from engine.train.loop import CHECKPOINT_DIR, Progress, Stop, TrainResult, train
from engine.train.parallel import STOP_FILE, DataParallel, StopFile
from engine.train.precision import base_settings
from engine.train.settings import TrainSettings
from engine.train.unreadable import NoClipLeft, without_unreadable

log = logging.getLogger(__name__)


def _resumed_run(
    root: Path, name: str, folders: Sequence[str | Path], declaration: str | Sequence[str] | None
) -> tuple[Path, BaseRun, RunLock]:
    """The interrupted run of `name`, locked; CorpusError (one line) when a run is still going in it, or when
    `folders` or `declaration`, where given, are not the ones it was started with (a resumed run is the same
    run: a new corpus is a new run)."""
    folder = unfinished(root, name)
    if folder is None:
        raise CorpusError(f"base {name} has no interrupted run to resume; start one without --resume")
    lock = _locked(name, folder)
    try:
        run = read_run(folder)
        if folders and [str(f) for f in declared_corpus(folders, run.declaration).folders] != run.folders:
            raise CorpusError(
                f"base {name} {folder.name} was started on {', '.join(run.folders)}; resume it with the same "
                "--corpus folders, or none"
            )
        if any(_given(declaration)):
            given = declared_corpus(run.folders, declaration)
            if list(given.declarations) != run.folder_declarations():
                raise CorpusError(
                    f"base {name} {folder.name} was started declared {run.declaration!r}; resume it with the "
                    "same --declare, or none (another declaration is a new run: train it once this one is "
                    "finished)"
                )
    except BaseException:
        lock.release()
        raise
    return folder, run, lock


def _locked(name: str, folder: Path) -> RunLock:
    """`folder`'s run lock; CorpusError (one line, naming the run that holds it) when a run is going there."""
    lock = lock_run(folder)
    if lock is None:
        raise _in_progress(name, folder)
    return lock


class RunInProgress(CorpusError):
    """Another run trains that base version now: it passes by itself when that run ends."""


def _in_progress(name: str, folder: Path) -> RunInProgress:
    holder = lock_holder(folder)
    return RunInProgress(
        f"base {name} {folder.name} is being trained by a run in progress{f' ({holder})' if holder else ''}: "
        "wait for it to end, or stop it (Ctrl-C or SIGTERM checkpoints it) and continue it with --resume"
    )


def _given(declaration: str | Sequence[str] | None) -> list[str]:
    return [declaration] if isinstance(declaration, str) else list(declaration or [])


# in the checkpoint folder: the corpus files set aside so far, with their reasons
SKIPPED_FILE = "skipped.json"

# Frames a base run takes of a corpus file longer than this (TrainSettings.clip_frames): 40 runs of 60, 100 s
# at 24 fps spread over it, where a show's take gives 240.
BASE_CLIP_FRAMES = 2400


def prepare_run(
    root: Path,
    name: str,
    folders: Sequence[str | Path],
    declaration: str | Sequence[str] | None,
    options: TrainOptions,
    *,
    resume: bool = False,
    max_frames: int | None = None,
) -> tuple[Path, BaseRun]:
    """The version folder to train into and its run: a new one, or the interrupted one when `resume`.
    `declaration`: one for every folder, or one per folder in their order. The folder's run lock is let go
    on return: a process that trains in it holds the lock for the run with claim_run."""
    folder, run, lock = _prepare(root, name, folders, declaration, options, resume, max_frames)
    lock.release()
    return folder, run


@contextmanager
def claim_run(
    root: Path,
    name: str,
    folders: Sequence[str | Path],
    declaration: str | Sequence[str] | None,
    options: TrainOptions,
    *,
    resume: bool = False,
    max_frames: int | None = None,
) -> Iterator[tuple[Path, BaseRun]]:
    """prepare_run's folder and run, the folder locked (run.lock) until the block ends: another run of the
    same base meanwhile (new or --resume) is refused in one line instead of training into the same folder."""
    folder, run, lock = _prepare(root, name, folders, declaration, options, resume, max_frames)
    with lock:
        yield folder, run


def _prepare(
    root: Path,
    name: str,
    folders: Sequence[str | Path],
    declaration: str | Sequence[str] | None,
    options: TrainOptions,
    resume: bool,
    max_frames: int | None,
) -> tuple[Path, BaseRun, RunLock]:
    if resume:
        return _resumed_run(root, name, folders, declaration)
    corpus = declared_corpus(folders, declaration)
    corpus_media(corpus)  # refuse a corpus without footage before a version folder exists
    run = BaseRun(
        name=name,
        folders=[str(f) for f in corpus.folders],
        declaration=corpus.declaration,
        declarations=list(corpus.declarations),
        budget_seconds=options.budget_seconds,
        seed=options.seed,
        resolution=options.resolution,
        native_resolution=options.native_resolution,
        max_frames=max_frames,
        holdout_fraction=options.holdout_fraction,
    )
    pending = unfinished(root, name)
    if pending is None:
        made = new_version(root, name, run)
        if made is None:  # another run made that folder a moment ago
            raise _in_progress(name, versions(root, name)[-1])
        return made[0], run, made[1]
    lock = _locked(name, pending)
    if (pending / CHECKPOINT_DIR / STATE).is_file():
        lock.release()
        raise CorpusError(
            f"base {name} has an interrupted run in {pending.name}: continue it with --resume, or delete "
            f"{pending} to start over"
        )
    # it stopped before its first checkpoint (a refused device, a stop or a kill while decoding): a new run
    # takes the folder, without what the old one left in its checkpoint folder (the clips it started with)
    shutil.rmtree(pending / CHECKPOINT_DIR, ignore_errors=True)
    write_run(pending, run)
    return pending, run, lock


def train_base(
    folder: Path,
    run: BaseRun,
    options: TrainOptions,
    settings: TrainSettings | None = None,
    *,
    progress: Progress | None = None,
    stop: Stop | None = None,
    heads: Sequence[str] | None = None,
    parallel: DataParallel | None = None,
) -> TrainResult:
    """Train every head (or `heads`) on the run's corpus into `folder`, resuming from its checkpoint when
    there is one. `parallel`: this process is one rank of a data-parallel run (engine.train.parallel)."""
    corpus = declared_corpus(run.folders, run.folder_declarations())
    clips = corpus_clips(corpus)
    options = options.model_copy(
        update={
            "budget_seconds": run.budget_seconds,
            "seed": run.seed,
            "resolution": run.resolution,
            "native_resolution": run.native_resolution,
            "holdout_fraction": run.holdout_fraction,
        }
    )
    given = settings or TrainSettings()
    cfg = base_settings(given).model_copy(
        update={"show": run.name, "version": folder.name, "max_frames_per_clip": run.max_frames}
    )
    if "clip_frames" not in given.model_fields_set:  # a corpus file may be a whole film: sample more of it
        cfg = cfg.model_copy(update={"clip_frames": BASE_CLIP_FRAMES})
    if cfg.cache_dir is None:
        cfg = cfg.model_copy(update={"cache_dir": folder.parent / ".frame-cache"})
    fields = {
        "kind": "base",
        "declaration": corpus.declaration,
        "corpus": run.folders,
        "declarations": corpus.by_folder(),
    }
    started, spent, skipped = time.monotonic(), trained_seconds(folder), skipped_before(folder)
    clips = [c for c in clips if c.id not in {s.id for s in skipped}]  # a resumed run skips them again
    _check_resumable(run, folder, clips)
    heads = run_heads(run, folder, heads)

    def attempt(given: list[TrainClip]) -> TrainResult:  # a resumed run has the rest of its budget only
        left = max(1.0, run.budget_seconds - spent - (time.monotonic() - started))
        return train(
            given,
            options.model_copy(update={"budget_seconds": left}),
            folder,
            heads=heads,
            progress=progress,
            stop=stop,
            settings=cfg,
            manifest_fields={**fields, "skipped": skipped},
            parallel=parallel,
        )

    def skip(bad: TrainClip, exc: DatasetError) -> None:
        reason = str(exc).replace(f"training clip {bad.id} ", "", 1).replace(f"{bad.id}: ", "")
        log.warning("skipped corpus clip %s: %s", bad.id, reason)
        skipped.append(Exclusion(id=bad.id, content_hash=bad.content_hash, reason=reason))
        if parallel is None or parallel.leader:
            _keep_skipped(folder, skipped)

    try:
        return without_unreadable(clips, attempt, skip)
    except NoClipLeft as exc:
        raise CorpusError(f"no corpus clip can be read: the last one skipped, {exc}") from None


def skipped_before(folder: Path) -> list[Exclusion]:
    """The corpus files the run in `folder` set aside before it stopped (kept in its checkpoint folder, so a
    resumed run's manifest still lists them); none for a new run."""
    kept = folder / CHECKPOINT_DIR / SKIPPED_FILE
    if not kept.is_file():
        return []
    try:
        return [Exclusion.model_validate(e) for e in json.loads(kept.read_text())]
    except (OSError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        why = str(exc).splitlines()[0]
        raise CorpusError(f"{kept} cannot be read ({why}); delete {folder} to start over") from None


def _keep_skipped(folder: Path, skipped: list[Exclusion]) -> None:
    checkpoint = folder / CHECKPOINT_DIR
    checkpoint.mkdir(parents=True, exist_ok=True)
    tmp = checkpoint / (SKIPPED_FILE + ".tmp")
    tmp.write_text(json.dumps([e.model_dump() for e in skipped]))
    tmp.replace(checkpoint / SKIPPED_FILE)


def run_heads(run: BaseRun, folder: Path, heads: Sequence[str] | None) -> list[str] | None:
    """The heads the run in `folder` trains: those its checkpoint holds when it resumes (`heads` None: as it was
    started), else `heads` (None: every head). CorpusError (one line) for other heads than its checkpoint's: a
    resume given another --head dropped the checkpoint without a word and trained from the start, its seconds
    already spent taken off the budget all the same."""
    state = folder / CHECKPOINT_DIR / STATE
    if not state.is_file():
        return list(heads) if heads else None
    try:
        recorded = read_json(state)
        started = [str(h) for h in recorded.get("heads", [])]
    except (CheckpointError, AttributeError, TypeError) as exc:
        raise _unresumable(run, folder, exc) from None
    if not started:  # a checkpoint that does not say (none Rushes writes): as given
        return list(heads) if heads else None
    if heads and sorted(heads) != sorted(started):
        raise CorpusError(
            f"base {run.name} {folder.name} was started with --head {' --head '.join(started)}: resume it with "
            "the same heads, or without --head"
        )
    return started


def _check_resumable(run: BaseRun, folder: Path, clips: list[TrainClip]) -> None:
    """CorpusError (one line) when the checkpoint of the run in `folder` cannot be read, or learned from corpus
    files that changed since."""
    try:
        check_checkpoint(folder / CHECKPOINT_DIR)
        changed = changed_since_start(folder / CHECKPOINT_DIR, clips)
    except CheckpointError as exc:
        raise _unresumable(run, folder, exc) from None
    if changed:
        raise CorpusError(
            f"base {run.name} {folder.name} cannot be resumed: its corpus changed since it started "
            f"({'; '.join(changed)}) and its checkpoint learned from the files as they were; delete {folder} "
            "and train again"
        )


def _unresumable(run: BaseRun, folder: Path, exc: Exception) -> CorpusError:
    why = exc if isinstance(exc, CheckpointError) else f"its {STATE} is not a checkpoint's ({exc})"
    return CorpusError(
        f"base {run.name} {folder.name} cannot be resumed: {why}; delete {folder / CHECKPOINT_DIR} to train the "
        "run again from its start"
    )


def trained_seconds(folder: Path) -> float:
    """Seconds the run in `folder` trained before it stopped (its checkpoint's heads); 0 for a new run."""
    state = folder / CHECKPOINT_DIR / STATE
    if not state.is_file():
        return 0.0
    try:
        progress = json.loads(state.read_text())["progress"]
    except (OSError, ValueError, KeyError):
        return 0.0
    return float(sum(p.get("elapsed", 0.0) for p in progress.values()))


def train_base_worker(
    folder: str,
    run: dict[str, Any],
    options: dict[str, Any],
    settings: dict[str, Any],
    heads: list[str] | None = None,
    progress: Callable[[str, int, float, float], None] | None = None,
    stop: Callable[[], bool] | None = None,
    local_rank: int = 0,
) -> dict[str, Any]:
    """One rank of `rushes base train --workers N` (the launcher's entry point): the base run in `folder`
    with this process's share of the work. Plain JSON arguments (a launcher can ship them anywhere);
    `progress` and `stop` are heard and asked on rank 0 only. Returns rank 0's steps and whether it stopped."""
    parallel = DataParallel.from_process_group(local_rank)
    opts = TrainOptions.model_validate(options)
    if opts.device != "cpu" and torch.cuda.is_available():
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
    result = train_base(
        Path(folder),
        BaseRun(**run),
        opts,
        TrainSettings.model_validate(settings),
        progress=progress if parallel.leader else None,
        stop=(stop or StopFile(str(Path(folder) / STOP_FILE))) if parallel.leader else None,
        heads=heads,
        parallel=parallel,
    )
    return {"rank": parallel.rank, "steps": result.steps, "stopped": result.stopped}
