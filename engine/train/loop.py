"""train(): fit the show model's heads on a show's clips within a time budget, evaluate, write a version."""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel

from engine.baselines.scores import OPTION as BASELINE_SCORES
from engine.baselines.scores import BaselineScores
from engine.cores import usable_cores
from engine.heads import Head, get_head, head_names
from engine.media.working import WORKING_ENCODING
from engine.model.manifest import Manifest, code_version
from engine.model.promotion import Promotion, decide, promotable
from engine.model.show import ShowModel
from engine.model.version import ModelVersion, save_model
from engine.options import TrainOptions
from engine.train.averaging import copy_average, weight_average
from engine.train.batches import BatchSource, Draw, Gate
from engine.train.checkpoint import (
    STATE,
    CheckpointError,
    CheckpointState,
    HeadProgress,
    load_checkpoint,
    save_checkpoint,
)
from engine.train.clip_choice import (
    changed_since_start,
    choose_clips,
    decode_seconds,
    record_start,
    started_with,
)
from engine.train.clipping import NormLimit
from engine.train.dataset import (
    ClipLike,
    DatasetError,
    LoadedClip,
    Split,
    TrainClip,
    as_train_clip,
    cached_clip,
    load_clip,
    split_holdout,
)
from engine.train.draw_workers import WorkerBatches, fork_available
from engine.train.eval_time import EvalMemo, HeadCost, HeadCosts, eval_reserve
from engine.train.fallback import BestStretch
from engine.train.layout import channels_last
from engine.train.native import NativeClip, load_native, native_split
from engine.train.pairs import PairExample, PairPool
from engine.train.parallel import SYNC_EVERY, DataParallel
from engine.train.precision import cpu_bf16_for, needs_scaler, train_autocast, training_dtype
from engine.train.settings import TrainSettings
from engine.train.threads import use_cpu_threads

Progress = Callable[[str, int, float, float], None]  # head, step, loss, elapsed seconds (of that head)
Stop = Callable[[], bool]
log = logging.getLogger(__name__)
CHECKPOINT_DIR = "checkpoint"
WARMUP_STEPS = 20
PREFETCH = 3  # batches drawn ahead by default where that pays (_prefetching)
MAX_DRAW_WORKERS = 12  # worker processes drawing batches by default on a GPU (_draw_workers)


@dataclass(frozen=True)
class Stage:
    """A stage of a run as it starts: "decode", "train" (per head), "evaluate" (per head) or "write"."""

    name: str
    head: str | None
    left_s: float | None  # seconds to the run's deadline (None when max_steps, not time, ends it)


StageHook = Callable[[Stage], None]


def _left(deadline: float, cfg: TrainSettings) -> float | None:
    return None if cfg.max_steps is not None else max(0.0, deadline - time.monotonic())


@dataclass
class TrainResult:
    version: ModelVersion | None  # None when stopped before the end
    steps: dict[str, int]
    losses: dict[str, list[float]]  # running mean loss per head, one value per `progress_every` steps
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    parent_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    promotable: dict[str, bool] = field(default_factory=dict)
    decision: Promotion | None = None  # per head: new weights, the parent's, or the classical tool
    stopped: bool = False
    resumed: bool = False


def pick_device(device: str) -> torch.device:
    """The training device. A GPU is named with its index (the process's current one, which a rank of a
    data-parallel run sets), so the batch-drawing thread, whose own current GPU is the first, puts batches
    on the same GPU as the nets."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise DatasetError(
            "training device 'cuda' was asked for but no CUDA GPU is visible; use 'auto' or 'cpu'"
        )
    return torch.device("cuda", torch.cuda.current_device()) if device == "cuda" else torch.device(device)


def make_batch(
    head: Head,
    clips: Sequence[np.ndarray],
    rng: np.random.Generator,
    size: int,
    crop: int,
    device: torch.device,
    pause: Callable[[], object] | None = None,
) -> dict[str, torch.Tensor]:
    """`size` examples of `head` cut from `clips` (`pause()` before each one, when given: the drawing thread
    of engine.train.batches waits there while the training thread computes)."""
    usable = [c for c in clips if len(c) >= head.min_frames()] or [c for c in clips if len(c) >= 1]
    # shots are drawn by their length, so a clip cut into many short shots does not outweigh a long take
    weights = np.array([len(c) for c in usable], dtype=np.float64)
    weights /= weights.sum()
    # Clips of a show may differ in size, and a head may cut a smaller example from a small clip: keep the
    # examples shaped like the batch's first one (a clip too small for that crop is skipped this batch).
    examples: list[dict[str, np.ndarray]] = []
    for _ in range(size * 20):
        if pause is not None:
            pause()
        example = head.sample(usable[int(rng.choice(len(usable), p=weights))], rng, crop)
        if not examples or all(example[k].shape == examples[0][k].shape for k in examples[0]):
            examples.append(example)
        if len(examples) == size:
            break
    return {k: torch.from_numpy(np.stack([e[k] for e in examples])).to(device) for k in examples[0]}


def _lr_factor(fraction: float) -> float:
    """Cosine decay to 10% over the head's share of the run."""
    f = min(max(fraction, 0.0), 1.0)
    return 0.1 + 0.9 * 0.5 * (1.0 + float(np.cos(np.pi * f)))


def _head_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, index])


# held-out scoring's generator: [run seed, EVAL_SEED, head index, clip] (bench/denoise_ensemble.py rescores with it)
EVAL_SEED = 7919


def _evaluate(
    head: Head,
    net: torch.nn.Module,
    holdout: list[np.ndarray],
    seed: int,
    index: int,
    options: dict[str, Any],
    clip: int = 0,
) -> dict[str, float]:
    net.eval()
    try:
        return head.evaluate(net, holdout, np.random.default_rng([seed, EVAL_SEED, index, clip]), options)
    except ValueError as exc:
        # Too little held-out footage for this head (e.g. clips too short): the version is still written, the
        # head simply has no scores, so the promotion rule cannot call it better than its baseline.
        log.warning("%s: not evaluated: %s", head.name, exc)
        return {}
    finally:
        net.train()


@dataclass
class _Run:
    """One training run's moving parts, shared by its steps (see train())."""

    options: TrainOptions
    cfg: TrainSettings
    names: list[str]
    heads: list[Head]
    device: torch.device
    split: Split
    model: ShowModel
    optims: dict[str, torch.optim.Optimizer]
    state: CheckpointState
    ckpt_dir: Path
    resumed: bool
    progress: Progress | None = None
    stop: Stop | None = None
    pairs: PairPool | None = None  # approved before/after pairs (engine.train.pairs)
    last_ckpt: float = field(default_factory=time.monotonic)
    deadline: float = float("inf")  # time.monotonic() at which the whole run's budget ends
    memo: EvalMemo | None = None  # how long evaluation took last time (train() sets it)
    costs: HeadCosts | None = None  # what scoring each head took last time (train() sets it)
    baselines: BaselineScores = field(default_factory=BaselineScores)  # baseline scores by input
    on_stage: StageHook | None = None
    parallel: DataParallel | None = None  # a rank of a data-parallel run (engine.train.parallel)
    native: Split | None = (
        None  # the split at the footage's own size, for Head.native heads (engine.train.native)
    )
    warm: frozenset[str] = frozenset()  # heads that started from a parent or base version's weights
    averages: dict[str, AveragedModel] = field(default_factory=dict)  # engine.train.averaging, by head
    agreed: float | None = None  # rank 0's last fraction of the head in hand (parallel runs)
    stop_asked: bool = False  # stop() said so since the last agreement (parallel runs)

    @property
    def writes(self) -> bool:
        """Whether this process writes checkpoints and the version (rank 0, or the only process)."""
        return self.parallel is None or self.parallel.leader

    def split_of(self, head: Head) -> Split:
        """The frames `head` trains and is scored on: at the footage's own size for a native head."""
        return self.native if head.native and self.native is not None else self.split

    def stage(self, name: str, head: str | None = None) -> None:
        if self.on_stage is not None:
            self.on_stage(Stage(name, head, _left(self.deadline, self.cfg)))

    def checkpoint(self, when_due: bool = False) -> None:
        """Save the checkpoint (only when `checkpoint_seconds` have passed since the last, if `when_due`)."""
        if not self.writes or (when_due and time.monotonic() - self.last_ckpt < self.cfg.checkpoint_seconds):
            return
        save_checkpoint(self.ckpt_dir, self.model, self.optims, self.state, self.averages)
        self.last_ckpt = time.monotonic()


def train(
    clips: Sequence[ClipLike],
    options: TrainOptions,
    out_dir: str | Path,
    parent: ModelVersion | None = None,
    heads: Sequence[str] | None = None,
    progress: Progress | None = None,
    stop: Stop | None = None,
    settings: TrainSettings | None = None,
    eval_options: Mapping[str, Mapping[str, Any]] | None = None,
    on_stage: StageHook | None = None,
    base: ModelVersion | None = None,
    manifest_fields: Mapping[str, Any] | None = None,
    examples: Sequence[PairExample] | None = None,
    parallel: DataParallel | None = None,
) -> TrainResult:
    """Train `heads` (default: all) on `clips`, then evaluate on held-out clips against the classical
    baselines and the parent, and write the version folder `out_dir` (weights.safetensors + manifest.json).

    Resumes from `out_dir/checkpoint` when a previous run of the same heads was interrupted. With
    settings.max_steps the run is reproducible (same seed + data -> same weights); otherwise it stops at
    the time budget. `stop()` returning True checkpoints and returns early (version None).

    The budget is wall-clock for the whole run, from this call: decoding counts, the heads share what is
    left less evaluation's share (`eval_share`), and evaluation is cut to end near the deadline (`_score`).
    `on_stage` hears each stage as it starts (decode, train <head>, evaluate <head>, write) with the time left.
    `eval_options[head]` goes to that head's evaluate() (e.g. real masks for cleanup).
    `base`: a studio base version to start from when there is no parent (a show's first version); it is
    then scored on the held-out clips in the parent's place. `manifest_fields` are written into the manifest
    as given (base lineage, corpus declaration, exclusions). `examples`: approved before/after pairs mixed
    into the batches of the heads that can learn from them, by their weight (engine.train.pairs).
    `parallel`: this process is one rank of a data-parallel run (engine.train.parallel): it trains on its
    shard with DDP; only rank 0 checkpoints, scores and writes (the other ranks return with version None).

    Steps: load and split the clips, build the model (warm from the parent), resume or start the per-head
    progress, fit each head in turn, score every head (and the parent's) on the held-out clips, write."""
    cfg = settings or TrainSettings()
    deadline = time.monotonic() + options.budget_seconds
    if on_stage is not None:
        on_stage(Stage("decode", None, _left(deadline, cfg)))
    out = Path(out_dir)
    names = list(heads) if heads is not None else head_names()
    head_objs = [get_head(n) for n in names]
    device = pick_device(options.device)
    if options.cpu_threads is not None:
        use_cpu_threads(options.cpu_threads)
    until = _decode_until(options, cfg, parallel)
    writes = parallel is None or parallel.leader
    split, native = _load_split(clips, options, cfg, out, head_objs, until, record=writes)
    if parallel is not None:  # this rank draws its batches from its shard; records and holdout stay whole
        split = replace(split, train=parallel.shard(split.train))
        native = replace(native, train=parallel.shard(native.train)) if native is not None else None
    warm = parent if parent is not None else base  # a show's first version starts from the studio base
    model = _build_model(names, options.seed, cfg, warm, device)
    run = _start_run(options, cfg, names, head_objs, device, split, model, out / CHECKPOINT_DIR)
    run.progress, run.stop, run.deadline, run.on_stage = progress, stop, deadline, on_stage
    run.parallel, run.native = parallel, native
    run.warm = frozenset(n for n in names if warm is not None and n in warm.model.nets)
    _remember_costs(run, cfg.cache_dir or out.resolve().parent / ".frame-cache", parent is not None)
    native_size = options.native_resolution if native is not None else None
    run.pairs = PairPool(examples, options.resolution, native_size) if examples else None
    stopped = _fit_heads(run)
    steps = {n: run.state.progress[n].step for n in names}
    losses = {n: list(run.state.progress[n].losses) for n in names}
    if stopped or not run.writes:
        run.checkpoint()
        return TrainResult(None, steps, losses, stopped=stopped, resumed=run.resumed)
    scoring = time.monotonic()
    metrics, parent_metrics = _score(run, warm, eval_options or {})
    if run.memo is not None:
        run.memo.remember(time.monotonic() - scoring)
    run.stage("write")
    return _write(
        run, out, warm, steps, losses, metrics, parent_metrics, manifest_fields, first=parent is None
    )


def _decode_until(options: TrainOptions, cfg: TrainSettings, parallel: DataParallel | None) -> float | None:
    """When a budgeted run stops decoding clips the cache lacks (engine.train.clip_choice); None for runs
    that decode every clip: with max_steps, score_every_clip, or a data-parallel rank (ranks must agree)."""
    if cfg.max_steps is not None or cfg.score_every_clip or parallel is not None:
        return None
    return time.monotonic() + decode_seconds(cfg.decode_share, options.budget_seconds)


def _remember_costs(run: _Run, cache: Path, with_parent: bool) -> None:
    """The files beside the frame cache in which runs of the same heads remember what scoring cost, and the
    baselines' scores per held-out frame."""
    key = ",".join(run.names) + ("+parent" if with_parent else "") + f"@{run.options.resolution}"
    key += f"/{run.options.native_resolution}" if run.native is not None else ""
    run.memo = EvalMemo(cache / "evaluation-seconds.json", key)
    run.costs = HeadCosts(cache / "evaluation-head-seconds.json", key)
    run.baselines = BaselineScores(cache / "baseline-scores.json")


def _write(
    run: _Run,
    out: Path,
    parent: ModelVersion | None,
    steps: dict[str, int],
    losses: dict[str, list[float]],
    metrics: dict[str, dict[str, float]],
    parent_metrics: dict[str, dict[str, float]],
    manifest_fields: Mapping[str, Any] | None,
    first: bool,
) -> TrainResult:
    """Decide per head (engine.model.promotion), give the heads that keep the parent's weights those
    weights, and write the version folder with its manifest. `parent` is what the run started from: the
    parent version, or for a show's first version the studio base (then scored in the parent's place; the
    first version is promoted all the same). `manifest_fields` are written into the manifest as given."""
    cfg, options, split = run.cfg, run.options, run.split
    promote = promotable(metrics, parent_metrics)
    decision = decide(metrics, parent_metrics, steps=steps)
    if first and not decision.promote:  # a first version grown from the base is promoted all the same
        decision = replace(decision, promote=True)
    metrics = _keep_parent_heads(run.model, parent, decision, metrics, parent_metrics)
    manifest = Manifest(
        show=cfg.show,
        version=cfg.version or out.name,
        parent=parent.version if parent is not None and not first else None,
        clips=split.train_records,
        holdout=split.holdout_records,
        holdout_mode=split.mode,
        config={"train": options.model_dump(mode="json"), "settings": cfg.model_dump(mode="json")},
        seed=options.seed,
        steps=steps,
        code_version=code_version(),
        metrics=metrics,
        parent_metrics=parent_metrics,
        promotable=promote,
        sources=decision.sources(parent.version if parent is not None else None),
        examples=run.pairs.records(steps) if run.pairs is not None else [],
        scene_linear=WORKING_ENCODING,
    )
    if manifest_fields:
        manifest = Manifest.model_validate({**manifest.model_dump(), **manifest_fields})
    version = save_model(out, run.model.to("cpu"), manifest)
    shutil.rmtree(run.ckpt_dir, ignore_errors=True)
    return TrainResult(
        version, steps, losses, metrics, parent_metrics, promote, resumed=run.resumed, decision=decision
    )


def _keep_parent_heads(
    model: ShowModel,
    parent: ModelVersion | None,
    decision: Promotion,
    metrics: dict[str, dict[str, float]],
    parent_metrics: dict[str, dict[str, float]],
) -> dict[str, dict[str, float]]:
    """Heads that keep the parent's weights (engine.model.promotion) get them back, with the parent's
    scores on these held-out clips; the version's other heads are untouched."""
    if parent is None or not decision.promote:
        return metrics
    out = dict(metrics)
    for name, verdict in decision.heads.items():
        if verdict.source == "parent":
            model.net(name).load_state_dict(parent.model.net(name).state_dict())
            out[name] = dict(parent_metrics[name])
    return out


def _load_split(
    clips: Sequence[ClipLike],
    options: TrainOptions,
    cfg: TrainSettings,
    out: Path,
    heads: Sequence[Head],
    decode_until: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    record: bool = True,
) -> tuple[Split, Split | None]:
    """Decode (through the frame cache) the clips at the training resolution, then hold some out; and, when
    a head learns at the footage's own size (Head.native) and the footage is larger than the training frames,
    the same split of frames at that size (engine.train.native), else None. With `decode_until`, clips not
    yet cached are decoded only until then (engine.train.clip_choice); a resumed run loads the clips it
    started with, which a new run keeps in its checkpoint folder when `record` (the rank that writes it)."""
    cache = cfg.cache_dir or out.resolve().parent / ".frame-cache"
    sources = [as_train_clip(c, i) for i, c in enumerate(clips)]
    checkpoint = out / CHECKPOINT_DIR
    try:
        changed = changed_since_start(checkpoint, sources)
    except CheckpointError as exc:  # its list of clips was cut short or emptied
        log.warning("%s: the run starts afresh", exc)
        shutil.rmtree(checkpoint, ignore_errors=True)
        changed = []
    if changed:  # its checkpoint learned from footage this run could not list: start afresh
        log.warning("the clips of the checkpoint changed (%s): the run starts afresh", "; ".join(changed))
        shutil.rmtree(checkpoint, ignore_errors=True)
    resumed = started_with(checkpoint, sources)
    if resumed is not None:
        sources, decode_until = resumed, None

    native_heads = any(h.native for h in heads) and options.native_resolution > options.resolution
    count = len(sources)  # clips given: bounds each clip's frames at their own size (native.frame_bound)

    def load(clip: TrainClip) -> LoadedClip:
        return load_clip(clip, options.resolution, cache, cfg.max_frames_per_clip, cfg.clip_frames)

    def at_own_size(clip: TrainClip, lc: LoadedClip) -> NativeClip:
        return load_native(clip, lc, options.native_resolution, count, cache)

    if decode_until is None:
        loaded = [load(c) for c in sources]
    else:

        def cached(clip: TrainClip) -> LoadedClip | None:  # frames in memory need no decoding either
            if clip.frames is not None:
                return load(clip)
            return cached_clip(clip, options.resolution, cache, cfg.max_frames_per_clip, cfg.clip_frames)

        def decode(clip: TrainClip) -> LoadedClip:  # both passes, so the time taken counts them both
            lc = load(clip)
            if native_heads and min(lc.frames.shape[1:3]) >= options.resolution:
                at_own_size(clip, lc)  # cached for the load below
            return lc

        loaded = choose_clips(sources, cached, decode, decode_until, clock)
        if len(loaded) < len(sources):
            log.warning(
                "decoding has its share of the budget (%.0f%%): training on %d of %d clips; the other %d wait "
                "for a later run (decoded clips are cached)",
                100 * cfg.decode_share,
                len(loaded),
                len(sources),
                len(sources) - len(loaded),
            )
    if resumed is None and record:
        record_start(checkpoint, loaded)
    kept = {lc.record.id for lc in loaded}
    sources = [c for c in sources if c.id in kept]
    split = split_holdout(loaded, options.holdout_fraction, options.seed, mode=cfg.holdout_mode)
    reduced = any(min(c.frames.shape[1:3]) >= options.resolution for c in loaded)  # fitted to the resolution
    if not native_heads or not reduced:
        return split, None
    frames = [at_own_size(c, lc) for c, lc in zip(sources, loaded, strict=True)]
    if all(f.frames.shape[1:3] == lc.frames.shape[1:3] for f, lc in zip(frames, loaded, strict=True)):
        return split, None  # nothing larger than the training frames: those, all of them
    native = native_split(loaded, frames, options.holdout_fraction, options.seed, mode=cfg.holdout_mode)
    return split, native


def _build_model(
    names: list[str], seed: int, cfg: TrainSettings, parent: ModelVersion | None, device: torch.device
) -> ShowModel:
    """Fresh nets seeded by `seed`, configured as the parent's (then the settings'), warm from the parent."""
    torch.manual_seed(seed)
    configs: dict[str, dict[str, Any]] = {}
    for n in names:
        if parent is not None and n in parent.model.nets:
            configs[n] = dict(parent.model.configs.get(n, {}))
        configs[n] = {**configs.get(n, {}), **cfg.head_configs.get(n, {})}
    model = ShowModel.fresh(names, configs)
    if parent is not None:  # warm start: every head the parent has
        model.load_state(
            {k: v for k, v in parent.model.state_dict().items() if k.split(".", 1)[0] in names}, strict=False
        )
    model.to(device).train()
    return model


def _start_run(
    options: TrainOptions,
    cfg: TrainSettings,
    names: list[str],
    heads: list[Head],
    device: torch.device,
    split: Split,
    model: ShowModel,
    ckpt_dir: Path,
    afresh: bool = False,
) -> _Run:
    """Optimisers, and the per-head progress: resumed from the checkpoint (unless `afresh`), or fresh (one rng per
    head)."""
    optims: dict[str, torch.optim.Optimizer] = {
        n: torch.optim.Adam(model.net(n).parameters(), lr=cfg.learning_rate) for n in names
    }
    averages = {
        n: weight_average(model.net(n), cfg.weight_averages[n]) for n in names if n in cfg.weight_averages
    }
    resuming = not afresh and (ckpt_dir / STATE).is_file()
    before = {k: v.detach().clone() for k, v in model.state_dict().items()} if resuming else {}
    try:
        state = load_checkpoint(ckpt_dir, model, optims, options.seed, averages) if resuming else None
    except CheckpointError as exc:  # a file cut short, emptied, or of nets that changed: what it held is lost
        log.warning("%s: the run starts afresh", exc)
        shutil.rmtree(
            ckpt_dir, ignore_errors=True
        )  # where it cannot be removed, the next checkpoint replaces it
        model.load_state(before)  # what the checkpoint loaded before it failed is undone
        return _start_run(options, cfg, names, heads, device, split, model, ckpt_dir, afresh=True)
    resumed = state is not None
    if state is None:
        fresh = {
            n: HeadProgress(rng=dict(_head_rng(options.seed, i).bit_generator.state))
            for i, n in enumerate(names)
        }
        state = CheckpointState(options.seed, names, fresh)
    return _Run(
        options, cfg, names, heads, device, split, model, optims, state, ckpt_dir, resumed, averages=averages
    )


def _fit_heads(run: _Run) -> bool:
    """Fit each unfinished head in turn; True when stopped early. Training ends at what is left of the run
    less evaluation's reserve (`eval_reserve`; none when nothing is held out, as in a base run, which is
    not scored, nor with `score_every_clip`, whose evaluation runs after the budget); each head gets its share of the training time left when it starts, so a head that ran
    over (a step is the unit of time) is made up by the heads after it."""
    left = max(0.0, run.deadline - time.monotonic())
    least = sum(c.frame for c in run.costs.known().values()) if run.costs is not None else 0.0
    last = run.memo.last() if run.memo else None
    scored_in_budget = run.split.holdout and not run.cfg.score_every_clip
    reserve = eval_reserve(left, run.cfg.eval_share, last, least) if scored_in_budget else 0.0
    train_until = time.monotonic() + left - reserve
    shares = {n: float(run.cfg.head_shares.get(n, 1.0)) for n in run.names}
    todo = [n for n in run.names if not run.state.progress[n].done]
    for i, n in enumerate(todo):
        head, prog = run.heads[run.names.index(n)], run.state.progress[n]
        share = shares[n] / (sum(shares[m] for m in todo[i:]) or 1.0)
        budget = prog.elapsed + max(0.0, train_until - time.monotonic()) * share
        if _fit_head(run, n, head, _stream(run, n, prog), budget):
            return True
        if n in run.averages and copy_average(run.averages[n], run.model.net(n)):
            log.info("%s: the version keeps the running average of its weights", n)
        prog.done = True
        run.checkpoint()
    return False


def _stream(run: _Run, name: str, prog: HeadProgress) -> np.random.Generator:
    """The head's batch-drawing generator, where its saved stream left off (per rank in a parallel run)."""
    if run.parallel is not None:
        return run.parallel.stream(prog.rng, run.options.seed, run.names.index(name), prog.step)
    rng = np.random.default_rng()
    rng.bit_generator.state = prog.rng
    return rng


def _next_step(run: _Run, prog: HeadProgress, elapsed: float, budget: float) -> tuple[float | None, bool]:
    """(how far through its run the head is, or None when done; whether `stop()` asked to stop). In a
    parallel run rank 0 decides every SYNC_EVERY steps and every rank follows (engine.train.parallel)."""
    fraction = _progress_fraction(prog.step, elapsed, run.cfg.max_steps, budget)
    stop = fraction is not None and run.stop is not None and run.stop()
    if run.parallel is None:
        return fraction, stop
    run.stop_asked = run.stop_asked or stop
    if prog.step % SYNC_EVERY != 0 and (run.cfg.max_steps is not None or run.agreed is not None):
        # between agreements: a step count is the same on every rank; a time fraction is the last agreed one
        return (fraction if run.cfg.max_steps is not None else run.agreed), False
    run.agreed, stop = run.parallel.agree(fraction, run.stop_asked)
    return run.agreed, stop


def _fit_head(run: _Run, name: str, head: Head, rng: np.random.Generator, budget: float) -> bool:
    """Steps of one head until max_steps or its budget; True when `stop()` asked to stop. The net trains with
    channels-last weights (engine.train.layout); the head's saved stream (`prog.rng`) always stands before the
    next batch a step would take."""
    run.stage("train", name)
    # on CPU ranks, batches are drawn ahead only while the rank waits for the others (engine.train.batches)
    several_cpus = run.parallel is not None and run.parallel.world > 1 and run.device.type == "cpu"
    gate = Gate() if several_cpus else None
    with channels_last(run.model.net(name)) as net:
        objective: torch.nn.Module = HeadLoss(head, net)
        if run.parallel is not None:  # gradients averaged over the ranks in backward
            objective = run.parallel.wrap(
                objective, run.device, waiting=gate.open if gate is not None else None
            )
            run.agreed = None  # the head's first step is agreed
        return _steps(run, name, head, objective, rng, budget, gate)


def _steps(
    run: _Run,
    name: str,
    head: Head,
    objective: torch.nn.Module,
    rng: np.random.Generator,
    budget: float,
    gate: Gate | None = None,
) -> bool:
    """_fit_head's loop: a step at a time (its batch drawn by a BatchSource or WorkerBatches, its loss by
    `objective`: HeadLoss, or it in DDP) until the head is done or stopped."""
    cfg, prog, opt = run.cfg, run.state.progress[name], run.optims[name]
    peak = cfg.learning_rate * (cfg.warm_learning_rates.get(name, 1.0) if name in run.warm else 1.0)
    dtype = training_dtype(run.device, cpu_bf16_for(head, cfg.cpu_bf16))
    if dtype is not None and prog.step == 0:
        log.info("%s: training under %s autocast on %s", name, dtype, run.device)
    scaler = torch.amp.GradScaler("cuda") if needs_scaler(dtype) else None
    average = run.averages.get(name)
    factor = cfg.gradient_limit
    limit = (
        NormLimit(factor, recent=deque(prog.norms), clipped=prog.clipped, skipped=prog.skipped)
        if factor
        else None
    )
    running: list[float] = []
    stretches = _Stretches.of(run, name)
    start = time.monotonic() - prog.elapsed
    stopped = False
    with _batches(run, name, head, rng, gate) as batches:
        while True:
            fraction, stopped = _next_step(run, prog, time.monotonic() - start, budget)
            if fraction is None or stopped:
                break
            _set_lr(opt, peak * _lr_factor(fraction) * min(1.0, (prog.step + 1) / WARMUP_STEPS))
            loss = _step(objective, opt, scaler, batches.next(), run.device, dtype, limit)
            if math.isfinite(loss):  # a batch that took no step is not part of the running loss
                running.append(loss)
            if limit is not None:
                prog.norms, prog.clipped, prog.skipped = list(limit.recent), limit.clipped, limit.skipped
            if average is not None:
                average.update_parameters(run.model.net(name))
            prog.step += 1
            if len(running) >= cfg.progress_every:
                _report(run, name, running, start)
                running = []
                stretches.add(prog.losses[-1], run.model.net(name))
            prog.elapsed = time.monotonic() - start
            prog.rng = batches.state
            run.checkpoint(when_due=True)
    prog.rng = batches.state
    if running:
        _report(run, name, running, start)
    if not stopped:
        stretches.end(run, name, average)
    if limit is not None and (limit.clipped or limit.skipped):
        log.info(
            "%s: %d of %d steps had their gradient limited, %d not taken (not finite)",
            name,
            limit.clipped,
            prog.step,
            limit.skipped,
        )
    return stopped


@dataclass
class _Stretches:
    """A head's BestStretch (engine.train.fallback) with the weights its best window and the window in hand
    started from, kept in the checkpoint (`run.state.stretches`) with the losses that chose them."""

    stretch: BestStretch
    saved: dict[
        str, dict[str, torch.Tensor]
    ]  # "kept": the best window's start, "opening": the window in hand's

    @classmethod
    def of(cls, run: _Run, name: str) -> _Stretches:
        """Afresh, or as the checkpoint left them: its windows replayed from the head's reported losses (an
        older Rushes' checkpoint has no weights: afresh)."""
        stretch, saved = BestStretch(), run.state.stretches.setdefault(name, {})
        for reported in run.state.progress[name].losses if saved else []:
            stretch.add(reported)
        saved.setdefault("opening", _weights(run.model.net(name)))
        return cls(stretch, saved)

    def add(self, loss: float, net: torch.nn.Module) -> None:
        """A reported running loss; a window that ends starts the next from `net`'s weights now."""
        if self.stretch.add(loss):
            self.saved["kept"] = self.saved["opening"]
        if not self.stretch.pending:
            self.saved["opening"] = _weights(net)

    def end(self, run: _Run, name: str, average: AveragedModel | None) -> None:
        """At the head's end: a head that fell over gets its best stretch's weights back (its running average
        too, which holds the fall), with a warning; the stretches leave the checkpoint."""
        stretch, kept = self.stretch, self.saved.get("kept")
        del run.state.stretches[name]
        if kept is None or not stretch.fell():
            return
        log.warning(
            "%s fell over: its last %d steps' loss %.4f is %.1fx its best stretch's %.4f; it keeps the weights "
            "of that stretch",
            name,
            stretch.window * run.cfg.progress_every,
            stretch.last,
            (stretch.last or 0.0) / (stretch.best or 1.0),
            stretch.best,
        )
        run.model.net(name).load_state_dict(kept)
        if average is not None:
            average.module.load_state_dict(kept)


def _weights(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of `net`'s state as it is now (engine.train.fallback keeps it)."""
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr


def _batches(
    run: _Run, name: str, head: Head, rng: np.random.Generator, gate: Gate | None
) -> BatchSource | WorkerBatches:
    """Where a head's steps take their batches: worker processes (_draw_workers), else a BatchSource that
    draws on this process, ahead or not (_prefetching)."""
    workers = _draw_workers(run)
    if workers > 0 and gate is None:
        return WorkerBatches(_drawer(run, name, head, None, torch.device("cpu")), rng, workers, run.device)
    return BatchSource(_drawer(run, name, head, gate, run.device), rng, ahead=_prefetching(run), gate=gate)


def _drawer(run: _Run, name: str, head: Head, gate: Gate | None, device: torch.device) -> Draw:
    """How a step of `name` draws its batch, on `device`: approved pairs at their share, else crops of the
    show's clips (this rank's share of the batch in a data-parallel run)."""
    cfg, pairs = run.cfg, run.pairs
    size = run.parallel.batch(cfg.batch_size) if run.parallel is not None else cfg.batch_size

    def draw(rng: np.random.Generator) -> dict[str, torch.Tensor]:
        if pairs is not None and pairs.drawn(name, rng):
            return pairs.batch(head, rng, size, cfg.crop, device)
        # between two examples the draw waits for the gate: a batch begun while the rank waited runs on
        # into the step's computation by one example at most
        pause = gate.wait if gate is not None else None
        return make_batch(head, run.split_of(head).train, rng, size, cfg.crop, device, pause)

    return draw


def _draw_workers(run: _Run) -> int:
    """Worker processes drawing batches (engine.train.draw_workers): `cfg.draw_workers`, or by default on a
    GPU one per CPU core this process may use (its affinity; this rank's share of them) less one, up to
    MAX_DRAW_WORKERS (a GPU step is shorter than one thread's draw); none on a CPU, whose cores the step
    itself uses, or where processes cannot be forked."""
    if not fork_available():
        return 0
    if run.cfg.draw_workers is not None:
        return run.cfg.draw_workers
    if run.device.type != "cuda":
        return 0
    ranks_here = torch.cuda.device_count() if run.parallel is not None else 1
    cores = usable_cores()
    return max(0, min(MAX_DRAW_WORKERS, cores // max(1, ranks_here) - 1))


def _prefetching(run: _Run) -> int:
    """How many batches are drawn ahead (engine.train.batches): `cfg.prefetch`, or by default PREFETCH in a
    data-parallel run of several ranks (drawing fills the waits for the other ranks) and on a GPU (the CPU
    draws while the device computes), none for a lone CPU process, which never waits for anyone."""
    if run.cfg.prefetch is not None:
        return run.cfg.prefetch
    several = run.parallel is not None and run.parallel.world > 1
    return PREFETCH if several or run.device.type == "cuda" else 0


def _progress_fraction(step: int, elapsed: float, max_steps: int | None, budget: float) -> float | None:
    """How far through its run a head is (0..1), or None when it is done (max_steps, else the time budget)."""
    if max_steps is not None:
        return None if step >= max_steps else step / max_steps
    return None if elapsed >= budget else elapsed / budget


class HeadLoss(torch.nn.Module):
    """A head's training loss as a module around its net: what a step calls with its batch, and what a
    data-parallel run wraps in DDP (engine.train.parallel). DDP sees only the parameters used inside its
    forward, and a head's loss may use parts its net's forward does not reach (regrade's no-reference part):
    with DDP around the net alone, regrade's loss saw the wrapper instead of its RegradeNet and left that part
    untrained (and using it outside DDP's forward is refused: "marked ready twice"). Here the whole loss runs
    inside the forward, on the plain net."""

    def __init__(self, head: Head, net: torch.nn.Module) -> None:
        super().__init__()
        self.head = head
        self.net = net

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head.loss(self.net, batch)


def _step(
    objective: torch.nn.Module,
    opt: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
    batch: dict[str, torch.Tensor],
    device: torch.device,
    dtype: torch.dtype | None = None,
    limit: NormLimit | None = None,
) -> float:
    """One optimiser step on `batch` under `dtype`'s autocast (engine.train.precision; None: float32), with
    `scaler` for float16; the loss (`objective(batch)`) before it. With `limit` (engine.train.clipping) the
    gradient is scaled down to its limit, and a gradient that is not finite takes no step."""
    with train_autocast(device, dtype):
        loss: torch.Tensor = objective(batch)
    opt.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        _limit_gradient(opt, limit, scaled=True)
        scaler.step(opt)  # skips a step whose gradient is not finite, and lowers its scale
        scaler.update()
    else:
        loss.backward()
        if _limit_gradient(opt, limit):
            opt.step()
    return float(loss.detach())


def _limit_gradient(opt: torch.optim.Optimizer, limit: NormLimit | None, scaled: bool = False) -> bool:
    """Scale the optimiser's gradients down to `limit`'s norm; False when they are not finite (no step).
    `scaled`: a float16 run's, which its gradient scaler has unscaled and skips itself when not finite."""
    if limit is None:
        return True
    params = [p for group in opt.param_groups for p in group["params"] if p.grad is not None]
    most = limit.limit()
    norm = float(torch.nn.utils.clip_grad_norm_(params, most if most is not None else float("inf")))
    return limit.record(norm, most, overflow_expected=scaled)


def _report(run: _Run, name: str, running: list[float], start: float) -> None:
    """Record the running mean loss of a head and tell `progress`."""
    prog = run.state.progress[name]
    loss = float(np.mean(running))
    prog.losses.append(run.parallel.mean(loss) if run.parallel is not None else loss)
    if run.progress is not None:
        run.progress(name, prog.step, prog.losses[-1], time.monotonic() - start)


def _score(
    run: _Run, parent: ModelVersion | None, eval_options: Mapping[str, Mapping[str, Any]]
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """Every head's held-out scores, and the parent's on the same clips for the heads it has (none without
    held-out clips). Within a time budget (no `max_steps`) each head gets an equal slice of what is left
    until the run's deadline, less one frame of each later head (their smallest fair score, as the show's last
    run timed it: engine.train.eval_time), and is scored clip by clip until its slice is spent (always one clip
    at least, on one frame when a whole clip, as long as this head's last time or the longest any head took so
    far, would not fit), so evaluation ends by the deadline instead of after it; with `max_steps` or
    `score_every_clip` every clip is scored whole, so two runs on the same held-out clips score the same frames. The baselines' scores are shared by the head's and the parent's nets (engine.baselines.scores)."""
    run.model.eval()
    metrics: dict[str, dict[str, float]] = {}
    parent_metrics: dict[str, dict[str, float]] = {}
    if not run.split.holdout:
        return metrics, parent_metrics
    known = run.costs.known() if run.costs is not None else {}
    seen: dict[str, HeadCost] = {}
    longest = 0.5  # seconds: the longest held-out clip any head took so far
    for i, (n, head) in enumerate(zip(run.names, run.heads, strict=True)):
        run.stage("evaluate", n)
        pnet = parent.model.net(n).to(run.device) if parent is not None and n in parent.model.nets else None
        until = None
        if run.cfg.max_steps is None and not run.cfg.score_every_clip:
            later = sum(known[m].frame for m in run.names[i + 1 :] if m in known)
            left = max(0.0, run.deadline - time.monotonic() - later)
            until = time.monotonic() + left / (len(run.names) - i)
        options = {**eval_options.get(n, {}), BASELINE_SCORES: run.baselines}
        expect = max(longest, _whole_clip(known.get(n), head, options))
        ours, theirs, seen[n] = _score_head(run, i, head, run.model.net(n), pnet, options, until, expect)
        longest = max(longest, seen[n].clip)
        if ours:
            metrics[n] = ours
        if theirs:
            parent_metrics[n] = theirs
    if run.costs is not None:
        run.costs.remember(seen)
    run.baselines.save()
    return metrics, parent_metrics


def _whole_clip(cost: HeadCost | None, head: Head, options: Mapping[str, Any]) -> float:
    """Seconds a whole held-out clip of this head took last time, or its time per frame times the frames it
    scores per clip when last time it was scored on one frame only (0 when never timed)."""
    if cost is None:
        return 0.0
    frames = options.get("eval_frames", head.default_config().get("eval_frames", 1))
    return cost.clip if cost.clip > 0 else cost.frame * max(1, int(frames))


def _score_head(
    run: _Run,
    index: int,
    head: Head,
    net: torch.nn.Module,
    parent_net: torch.nn.Module | None,
    options: dict[str, Any],
    until: float | None,
    expect: float = 0.5,
) -> tuple[dict[str, float], dict[str, float], HeadCost]:
    """One head (and its parent's net) scored clip by clip on the held-out clips, until `until`: the next
    clip is started only when one as long as the longest so far still ends by then; when not even a clip
    as long as `expect` fits, on one frame per clip. Also returns what it cost: the longest clip scored whole
    (0 when on one frame) and the most seconds per scored frame."""
    ours: list[dict[str, float]] = []
    theirs: list[dict[str, float]] = []
    seed = run.options.seed
    one_frame = until is not None and until <= time.monotonic() + expect
    if one_frame:  # no time for a whole clip: the smallest fair score
        log.info("%s: scored on one frame per clip (the budget is spent)", head.name)
        options = {**options, "eval_frames": 1}
    took = per_frame = 0.0  # the longest clip so far: a clip that would end past `until` is not started
    holdout = run.split_of(head).holdout
    for c, clip in enumerate(holdout):
        began = time.monotonic()
        if c > 0 and until is not None and began + took > until:
            log.info(
                "%s: scored on %d of %d held-out clips (the budget's evaluation share is spent)",
                head.name,
                c,
                len(holdout),
            )
            break
        sheet = _evaluate(head, net, [clip], seed, index, options, c)
        if not sheet:
            continue
        ours.append(sheet)
        if parent_net is not None:
            theirs.append(_evaluate(head, parent_net, [clip], seed, index, options, c))
        spent = time.monotonic() - began
        took = max(took, spent)
        per_frame = max(per_frame, spent / max(1.0, sheet.get("frames", 1.0)))
    cost = HeadCost(0.0 if one_frame else took, per_frame)
    return _merge(head, ours), _merge(head, [t for t in theirs if t]), cost


def _merge(head: Head, sheets: list[dict[str, float]]) -> dict[str, float]:
    """Per-clip scores averaged over every scored frame (weighted by each sheet's "frames")."""
    if not sheets:
        return {}
    weights = [s.get("frames", 1.0) for s in sheets]
    total = sum(weights) or 1.0
    keys = set.intersection(*(set(s) for s in sheets))
    out = {k: float(sum(s[k] * w for s, w in zip(sheets, weights, strict=True)) / total) for k in keys}
    named = [out[f"psnr_{b}"] for b in head.baselines if f"psnr_{b}" in out]
    if named:
        out["baseline_best"] = max(named)
    out["frames"] = float(total)
    return out
