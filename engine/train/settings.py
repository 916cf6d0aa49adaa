"""Knobs of a training run beyond engine.options.TrainOptions (which the daemon's settings compose)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

CpuBf16 = Literal["auto", "on", "off"]  # TrainSettings.cpu_bf16 (engine.train.precision)


class TrainSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(8, ge=1)
    crop: int = Field(64, ge=16, description="Training crop side, pixels at training resolution.")
    learning_rate: float = Field(2e-3, gt=0)
    warm_learning_rates: dict[str, Annotated[float, Field(gt=0, le=1)]] = Field(
        default_factory=lambda: {"upscale": 0.3},
        description="Peak learning rate of a head that starts from a parent or base version's weights, as a share "
        "of learning_rate (default 1). At the from-scratch rate, upscale's show runs lost to the base they started "
        "from; at 0.3 they beat it (docs/benchmarks.md).",
    )
    weight_averages: dict[str, Annotated[float, Field(gt=0, lt=1)]] = Field(
        default_factory=lambda: {"upscale": 0.999},
        description="Heads whose version keeps a running average of their weights over the steps, with its "
        "decay (engine.train.averaging). Upscale's last step swung its unseen-clip score by 0.56 dB between runs "
        "of the same settings; the averages of four runs lay within 0.04 (docs/benchmarks.md).",
    )
    gradient_limit: float | None = Field(
        4.0,
        gt=1,
        description="A step's gradient is scaled down to this many times the median norm of the head's last 200 "
        "steps (engine.train.clipping), so one outlier batch cannot knock over a head that was learning; null: "
        "no limit. A guard against one way a head falls over (engine.train.clipping; docs/benchmarks.md, "
        '"Denoise from the base: a head that fell over").',
    )
    cpu_bf16: CpuBf16 = Field(
        "auto",
        description="bfloat16 autocast on a CPU for the heads that gain from it (engine.train.precision): "
        "auto where the CPU computes bfloat16 natively (AMX or AVX-512 bfloat16), on everywhere (slow "
        "without them), off never. A base run left unset trains in float32 (engine.train.precision.base_settings).",
    )
    max_steps: int | None = Field(
        None, ge=1, description="Per head; with it a run is reproducible step for step."
    )
    checkpoint_seconds: float = Field(60.0, gt=0)
    eval_share: float = Field(
        0.25,
        ge=0,
        lt=1,
        description="Share of the wall-clock budget kept for evaluation (scoring every head).",
    )
    score_every_clip: bool = Field(
        False,
        description="Train for the whole budget, then score every held-out clip whole (benchmarks comparing "
        "two runs on identical frames); by default a share of the budget is kept for evaluation, which is cut "
        "to end by the deadline.",
    )
    max_frames_per_clip: int | None = Field(
        None,
        ge=1,
        description="Decode only a clip's first this many frames (benchmark protocols); else see clip_frames.",
    )
    clip_frames: int | None = Field(
        240,
        ge=12,
        description="A clip file longer than this trains on this many of its frames, in runs of about 60 spread "
        "evenly over it, each a shot of its own (engine.train.dataset.clip_runs): a long take costs a bounded "
        "decode, cache and share of the batches. None: every frame. Base runs take 2400 unless set.",
    )
    decode_share: float = Field(
        0.25,
        gt=0,
        le=1,
        description="Share of a budgeted run's time (at least 20 s) for decoding clips not yet in the frame "
        "cache, newest first; the rest wait for a later run (engine.train.clip_choice). Runs with max_steps, "
        "score_every_clip or data-parallel ranks decode every clip.",
    )
    cache_dir: Path | None = Field(
        None, description="Decoded-frame cache; default <out_dir>/../.frame-cache."
    )
    show: str = ""
    version: str | None = Field(None, description="Default: the output folder's name.")
    head_configs: dict[str, dict[str, object]] = Field(default_factory=dict)
    head_shares: dict[str, float] = Field(
        default_factory=lambda: {"denoise": 2.0, "upscale": 2.0, "regrade": 0.5, "cleanup": 0.5},
        description="Relative share of the budget per head (default 1). Denoise and upscale gain the most "
        "from training on the show; regrade and cleanup mostly fit each shot at fix time (bench/quality.py).",
    )
    holdout_mode: Literal["auto", "clips", "tails"] = Field(
        "auto", description="auto: whole clips when there are 3 or more, else the tail of every clip."
    )
    progress_every: int = Field(10, ge=1)
    draw_workers: int | None = Field(
        None,
        ge=0,
        description="Worker processes that draw training batches (engine.train.draw_workers: forked; one seed a "
        "batch in step order, so a run repeats with the same number, and heads that keep no example pool draw the "
        "same batches whatever the number; not the batches of none). Default: on a GPU, one per CPU core it may "
        "use less one (up to 12), since one thread's draws bound a GPU step; none on a CPU, whose cores the step "
        "uses.",
    )
    prefetch: int | None = Field(
        None,
        ge=0,
        description="Training batches drawn ahead on a background thread (same batches, same order; on CPU "
        "ranks only while they wait for the others). Default: 3 in data-parallel runs and on a GPU, none for one "
        "CPU process.",
    )
