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
from engine.train.dataset import ClipLike, DatasetError, as_train_clip, load_clip, split_holdout
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
    into the batches of the heads that can learn from them, by their weight (engine.train.pairs)."""
    cfg = settings or TrainSettings()
    out = Path(out_dir)
    names = list(heads) if heads is not None else head_names()
    head_objs = [get_head(n) for n in names]
    device = pick_device(options.device)
    if options.cpu_threads is not None:
        torch.set_num_threads(options.cpu_threads)
    cache = cfg.cache_dir or out.resolve().parent / ".frame-cache"
    loaded = [
        load_clip(as_train_clip(c, i), options.resolution, cache, cfg.max_frames_per_clip)
        for i, c in enumerate(clips)
    ]
    split = split_holdout(loaded, options.holdout_fraction, options.seed, mode=cfg.holdout_mode)

    torch.manual_seed(options.seed)
    configs: dict[str, dict[str, Any]] = {}
    warm = parent if parent is not None else base  # a show's first version starts from the studio base
    for n in names:
        if warm is not None and n in warm.model.nets:
            configs[n] = dict(warm.model.configs.get(n, {}))
        configs[n] = {**configs.get(n, {}), **cfg.head_configs.get(n, {})}
    model = ShowModel.fresh(names, configs)
    if warm is not None:  # warm start: every head the parent (or the base) has
        model.load_state(
            {k: v for k, v in warm.model.state_dict().items() if k.split(".", 1)[0] in names}, strict=False
        )
    model.to(device).train()
    optims = {n: torch.optim.Adam(model.net(n).parameters(), lr=cfg.learning_rate) for n in names}
    ckpt_dir = out / CHECKPOINT_DIR
    state = load_checkpoint(ckpt_dir, model, optims, options.seed)
    resumed = state is not None
    if state is None:
        state = CheckpointState(
            options.seed,
            names,
            {
                n: HeadProgress(rng=dict(_head_rng(options.seed, i).bit_generator.state))
                for i, n in enumerate(names)
            },
        )

    pair_pool = PairPool(examples, options.resolution) if examples else None
    train_budget = options.budget_seconds * (1.0 - cfg.eval_share)
    shares = {n: float(cfg.head_shares.get(n, 1.0)) for n in names}
    total_share = sum(shares.values()) or 1.0
    scaler_needed = device.type == "cuda" and not torch.cuda.is_bf16_supported()
    last_ckpt = time.monotonic()
    stopped = False
    for n, head in zip(names, head_objs, strict=True):
        prog = state.progress[n]
        if prog.done:
            continue
        net, opt = model.net(n), optims[n]
        rng = np.random.default_rng()
        rng.bit_generator.state = prog.rng
        scaler = torch.amp.GradScaler("cuda") if scaler_needed else None
        running: list[float] = []
        per_head = train_budget * shares[n] / total_share
        start = time.monotonic() - prog.elapsed
        while True:
            elapsed = time.monotonic() - start
            if cfg.max_steps is not None:
                if prog.step >= cfg.max_steps:
                    break
                fraction = prog.step / cfg.max_steps
            else:
                if elapsed >= per_head:
                    break
                fraction = elapsed / per_head
            if stop is not None and stop():
                stopped = True
                break
            for group in opt.param_groups:
                group["lr"] = (
                    cfg.learning_rate * _lr_factor(fraction) * min(1.0, (prog.step + 1) / WARMUP_STEPS)
                )
            if pair_pool is not None and pair_pool.drawn(n, rng):
                batch = pair_pool.batch(head, rng, cfg.batch_size, cfg.crop, device)
            else:
                batch = make_batch(head, split.train, rng, cfg.batch_size, cfg.crop, device)
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
            prog.step += 1
            running.append(float(loss.detach()))
            if len(running) >= cfg.progress_every:
                prog.losses.append(float(np.mean(running)))
                running = []
                if progress is not None:
                    progress(n, prog.step, prog.losses[-1], time.monotonic() - start)
            prog.elapsed = time.monotonic() - start
            prog.rng = dict(rng.bit_generator.state)
            if time.monotonic() - last_ckpt >= cfg.checkpoint_seconds:
                save_checkpoint(ckpt_dir, model, optims, state)
                last_ckpt = time.monotonic()
        if running:
            prog.losses.append(float(np.mean(running)))
            if progress is not None:
                progress(n, prog.step, prog.losses[-1], time.monotonic() - start)
        if stopped:
            break
        prog.done = True
        prog.rng = dict(rng.bit_generator.state)
        save_checkpoint(ckpt_dir, model, optims, state)
        last_ckpt = time.monotonic()

    steps = {n: state.progress[n].step for n in names}
    losses = {n: list(state.progress[n].losses) for n in names}
    if stopped:
        save_checkpoint(ckpt_dir, model, optims, state)
        return TrainResult(None, steps, losses, stopped=True, resumed=resumed)

    model.eval()
    metrics: dict[str, dict[str, float]] = {}
    parent_metrics: dict[str, dict[str, float]] = {}
    if split.holdout:
        for i, (n, head) in enumerate(zip(names, head_objs, strict=True)):
            eval_opts = dict((eval_options or {}).get(n, {}))
            metrics[n] = _evaluate(head, model.net(n), split.holdout, options.seed, i, eval_opts)
            if warm is not None and n in warm.model.nets:
                pnet = warm.model.net(n).to(device)
                parent_metrics[n] = _evaluate(head, pnet, split.holdout, options.seed, i, eval_opts)
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
        examples=pair_pool.records() if pair_pool is not None else [],
    )
    if manifest_fields:
        manifest = Manifest.model_validate({**manifest.model_dump(), **manifest_fields})
    version = save_model(out, model.to("cpu"), manifest)
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    return TrainResult(version, steps, losses, metrics, parent_metrics, promote, resumed=resumed)
