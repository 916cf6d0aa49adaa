"""train(): fit the show model's heads on a show's clips within a time budget, evaluate, write a version."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.heads import Head, get_head, head_names
from engine.infer.run import autocast_for
from engine.model.manifest import Manifest, code_version
from engine.model.promotion import promotable
from engine.model.show import ShowModel
from engine.model.version import ModelVersion, save_model
from engine.options import TrainOptions
from engine.train.checkpoint import CheckpointState, HeadProgress, load_checkpoint, save_checkpoint
from engine.train.dataset import ClipLike, DatasetError, Split, as_train_clip, load_clip, split_holdout
from engine.train.pairs import PairExample, PairPool
from engine.train.settings import TrainSettings

Progress = Callable[[str, int, float, float], None]  # head, step, loss, elapsed seconds (of that head)
Stop = Callable[[], bool]
log = logging.getLogger(__name__)
CHECKPOINT_DIR = "checkpoint"
WARMUP_STEPS = 20


@dataclass
class TrainResult:
    version: ModelVersion | None  # None when stopped before the end
    steps: dict[str, int]
    losses: dict[str, list[float]]  # running mean loss per head, one value per `progress_every` steps
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    parent_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    promotable: dict[str, bool] = field(default_factory=dict)
    stopped: bool = False
    resumed: bool = False


def pick_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise DatasetError(
            "training device 'cuda' was asked for but no CUDA GPU is visible; use 'auto' or 'cpu'"
        )
    return torch.device(device)


def make_batch(
    head: Head,
    clips: Sequence[np.ndarray],
    rng: np.random.Generator,
    size: int,
    crop: int,
    device: torch.device,
) -> dict[str, torch.Tensor]:
    usable = [c for c in clips if len(c) >= head.min_frames()] or [c for c in clips if len(c) >= 1]
    # shots are drawn by their length, so a clip cut into many short shots does not outweigh a long take
    weights = np.array([len(c) for c in usable], dtype=np.float64)
    weights /= weights.sum()
    # Clips of a show may differ in size, and a head may cut a smaller example from a small clip: keep the
    # examples shaped like the batch's first one (a clip too small for that crop is skipped this batch).
    examples: list[dict[str, np.ndarray]] = []
    for _ in range(size * 20):
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


def _evaluate(
    head: Head,
    net: torch.nn.Module,
    holdout: list[np.ndarray],
    seed: int,
    index: int,
    options: dict[str, Any],
) -> dict[str, float]:
    net.eval()
    try:
        return head.evaluate(net, holdout, np.random.default_rng([seed, 7919, index]), options)
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

    def checkpoint(self, when_due: bool = False) -> None:
        """Save the checkpoint (only when `checkpoint_seconds` have passed since the last, if `when_due`)."""
        if when_due and time.monotonic() - self.last_ckpt < self.cfg.checkpoint_seconds:
            return
        save_checkpoint(self.ckpt_dir, self.model, self.optims, self.state)
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
    base: ModelVersion | None = None,
    manifest_fields: Mapping[str, Any] | None = None,
    examples: Sequence[PairExample] | None = None,
) -> TrainResult:
    """Train `heads` (default: all) on `clips`, then evaluate on held-out clips against the classical
    baselines and the parent, and write the version folder `out_dir` (weights.safetensors + manifest.json).

    Resumes from `out_dir/checkpoint` when a previous run of the same heads was interrupted. With
    settings.max_steps the run is reproducible (same seed + data -> same weights); otherwise it stops at
    the time budget. `stop()` returning True checkpoints and returns early (version None).
    `eval_options[head]` goes to that head's evaluate() (e.g. real masks for cleanup).
    `base`: a studio base version to start from when there is no parent (a show's first version); it is
    then scored on the held-out clips in the parent's place. `manifest_fields` are written into the manifest
    as given (base lineage, corpus declaration, exclusions). `examples`: approved before/after pairs mixed
    into the batches of the heads that can learn from them, by their weight (engine.train.pairs).

    Steps: load and split the clips, build the model (warm from the parent), resume or start the per-head
    progress, fit each head in turn, score every head (and the parent's) on the held-out clips, write."""
    cfg = settings or TrainSettings()
    out = Path(out_dir)
    names = list(heads) if heads is not None else head_names()
    head_objs = [get_head(n) for n in names]
    device = pick_device(options.device)
    if options.cpu_threads is not None:
        torch.set_num_threads(options.cpu_threads)
    split = _load_split(clips, options, cfg, out)
    warm = parent if parent is not None else base  # a show's first version starts from the studio base
    model = _build_model(names, options.seed, cfg, warm, device)
    run = _start_run(options, cfg, names, head_objs, device, split, model, out / CHECKPOINT_DIR)
    run.progress, run.stop = progress, stop
    run.pairs = PairPool(examples, options.resolution) if examples else None
    stopped = _fit_heads(run)
    steps = {n: run.state.progress[n].step for n in names}
    losses = {n: list(run.state.progress[n].losses) for n in names}
    if stopped:
        run.checkpoint()
        return TrainResult(None, steps, losses, stopped=True, resumed=run.resumed)
    metrics, parent_metrics = _score(run, warm, eval_options or {})
    promote = promotable(metrics, parent_metrics)
    manifest = Manifest(
        show=cfg.show,
        version=cfg.version or out.name,
        parent=parent.version if parent is not None else None,
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
        examples=run.pairs.records() if run.pairs is not None else [],
    )
    if manifest_fields:
        manifest = Manifest.model_validate({**manifest.model_dump(), **manifest_fields})
    version = save_model(out, model.to("cpu"), manifest)
    shutil.rmtree(run.ckpt_dir, ignore_errors=True)
    return TrainResult(version, steps, losses, metrics, parent_metrics, promote, resumed=run.resumed)


def _load_split(clips: Sequence[ClipLike], options: TrainOptions, cfg: TrainSettings, out: Path) -> Split:
    """Decode (through the frame cache) every clip at the training resolution, then hold some out."""
    cache = cfg.cache_dir or out.resolve().parent / ".frame-cache"
    loaded = [
        load_clip(as_train_clip(c, i), options.resolution, cache, cfg.max_frames_per_clip)
        for i, c in enumerate(clips)
    ]
    return split_holdout(loaded, options.holdout_fraction, options.seed, mode=cfg.holdout_mode)


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
) -> _Run:
    """Optimisers, and the per-head progress: resumed from the checkpoint, or fresh (one rng per head)."""
    optims: dict[str, torch.optim.Optimizer] = {
        n: torch.optim.Adam(model.net(n).parameters(), lr=cfg.learning_rate) for n in names
    }
    state = load_checkpoint(ckpt_dir, model, optims, options.seed)
    resumed = state is not None
    if state is None:
        fresh = {
            n: HeadProgress(rng=dict(_head_rng(options.seed, i).bit_generator.state))
            for i, n in enumerate(names)
        }
        state = CheckpointState(options.seed, names, fresh)
    return _Run(options, cfg, names, heads, device, split, model, optims, state, ckpt_dir, resumed)


def _fit_heads(run: _Run) -> bool:
    """Fit each unfinished head in turn within its share of the budget; True when stopped early."""
    cfg = run.cfg
    train_budget = run.options.budget_seconds * (1.0 - cfg.eval_share)
    shares = {n: float(cfg.head_shares.get(n, 1.0)) for n in run.names}
    total_share = sum(shares.values()) or 1.0
    for n, head in zip(run.names, run.heads, strict=True):
        prog = run.state.progress[n]
        if prog.done:
            continue
        rng = np.random.default_rng()
        rng.bit_generator.state = prog.rng
        if _fit_head(run, n, head, rng, train_budget * shares[n] / total_share):
            return True
        prog.done = True
        prog.rng = dict(rng.bit_generator.state)
        run.checkpoint()
    return False


def _fit_head(run: _Run, name: str, head: Head, rng: np.random.Generator, budget: float) -> bool:
    """Steps of one head until max_steps or its budget; True when `stop()` asked to stop."""
    cfg, prog = run.cfg, run.state.progress[name]
    net, opt = run.model.net(name), run.optims[name]
    scaler_needed = run.device.type == "cuda" and not torch.cuda.is_bf16_supported()
    scaler = torch.amp.GradScaler("cuda") if scaler_needed else None
    running: list[float] = []
    start = time.monotonic() - prog.elapsed
    stopped = False
    while True:
        fraction = _progress_fraction(prog.step, time.monotonic() - start, cfg.max_steps, budget)
        if fraction is None:
            break
        if run.stop is not None and run.stop():
            stopped = True
            break
        for group in opt.param_groups:
            group["lr"] = cfg.learning_rate * _lr_factor(fraction) * min(1.0, (prog.step + 1) / WARMUP_STEPS)
        if run.pairs is not None and run.pairs.drawn(name, rng):
            batch = run.pairs.batch(head, rng, cfg.batch_size, cfg.crop, run.device)
        else:
            batch = make_batch(head, run.split.train, rng, cfg.batch_size, cfg.crop, run.device)
        running.append(_step(head, net, opt, scaler, batch, run.device))
        prog.step += 1
        if len(running) >= cfg.progress_every:
            _report(run, name, running, start)
            running = []
        prog.elapsed = time.monotonic() - start
        prog.rng = dict(rng.bit_generator.state)
        run.checkpoint(when_due=True)
    if running:
        _report(run, name, running, start)
    return stopped


def _progress_fraction(step: int, elapsed: float, max_steps: int | None, budget: float) -> float | None:
    """How far through its run a head is (0..1), or None when it is done (max_steps, else the time budget)."""
    if max_steps is not None:
        return None if step >= max_steps else step / max_steps
    return None if elapsed >= budget else elapsed / budget


def _step(
    head: Head,
    net: torch.nn.Module,
    opt: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
    batch: dict[str, torch.Tensor],
    device: torch.device,
) -> float:
    """One optimiser step on `batch` (mixed precision where the device has it); the loss before it."""
    with autocast_for(device):
        loss = head.loss(net, batch)
    opt.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    else:
        loss.backward()
        opt.step()
    return float(loss.detach())


def _report(run: _Run, name: str, running: list[float], start: float) -> None:
    """Record the running mean loss of a head and tell `progress`."""
    prog = run.state.progress[name]
    prog.losses.append(float(np.mean(running)))
    if run.progress is not None:
        run.progress(name, prog.step, prog.losses[-1], time.monotonic() - start)


def _score(
    run: _Run, parent: ModelVersion | None, eval_options: Mapping[str, Mapping[str, Any]]
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """Every head's held-out scores, and the parent's for the heads it has (none without held-out clips)."""
    run.model.eval()
    metrics: dict[str, dict[str, float]] = {}
    parent_metrics: dict[str, dict[str, float]] = {}
    if not run.split.holdout:
        return metrics, parent_metrics
    seed, holdout = run.options.seed, run.split.holdout
    for i, (n, head) in enumerate(zip(run.names, run.heads, strict=True)):
        eval_opts = dict(eval_options.get(n, {}))
        metrics[n] = _evaluate(head, run.model.net(n), holdout, seed, i, eval_opts)
        if parent is not None and n in parent.model.nets:
            pnet = parent.model.net(n).to(run.device)
            parent_metrics[n] = _evaluate(head, pnet, holdout, seed, i, eval_opts)
    return metrics, parent_metrics
