"""interpolate: retime (2x/4x), rebuild dropped or missing frames, over a classical flow path plus a refiner.

1. Classical base (engine.flow, flow.RECOMMENDED): DIS flow both ways and to the outer neighbours
   (quadratic motion), flow reversal by softmax splatting at 3/4 size, the reversed flows faded to zero
   where the frames agree better unmoved (near-static content), visibility-weighted blend of both
   full-size frames warped bicubically, each side's weight lowered where that frame, warped at the working
   size, disagrees with the outer frame on its side carried along the same path (the side check,
   flow.side_weights).
2. A refiner (engine.heads.interpolate_net) sees the base, both warped frames, their visibilities and
   occlusion cues (flow.Cues: forward-backward and colour error of each warp's source pixel, motion) and
   predicts a new blend weight of the two warped frames and a small residual, symmetric in the two outer
   frames; its last conv starts at zero, so a fresh net is exactly the classical base (never worse than it).
Trained on the show's own frames: drop frame t, rebuild it from t-1 and t+1 (outer: t-3, t+3); a
`wide_share` of the examples first keep every 2nd-4th frame of the shot, for large motion and occlusion.
The flow path's parts are computed on windows of twice the crop and each window serves several examples
(engine.heads.interpolate_data): computing them per example left the refiner a few dozen steps.

apply() params: {"factor": 2 | 4} retimes; {"frames": "1012-1016" | [numbers] | "auto"} rebuilds those
frame numbers ("auto": the duplicated frames detect_drops finds); {"missing": [numbers]} (from bind(): the
numbers a sequence's files lack) are made first, with "auto" and with a retime, so neither closes the hole
over them (a retime would run fast across it); {"refine": False} skips the CNN;
{"quality": "best"} runs the flow path as flow.BEST_QUALITY (its mean with the same at full size: +0.14 to
+0.18 dB on held-out shots, about 4x a fix's time; not the default, which the speed goal keeps).
Fix parameters (InterpolateParams): `factor=2` (2..8) or `frames=1012-1016` (frames of the shot) | `auto`
(also the frames a sequence's files lack), and `quality=best` | `default`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Self

import numpy as np
import torch

from engine import flow, flow_sequence
from engine.baselines import interpolate as baselines
from engine.heads.base import (
    Batch,
    FixOutputs,
    FixRun,
    Head,
    HeadError,
    NumberedFrame,
    as_float,
    augment,
    chw,
    eval_indices,
    register,
)
from engine.heads.errors import ParamError
from engine.heads.interpolate_data import training_example
from engine.heads.interpolate_net import SWAP, InterpolateRefiner
from engine.heads.params import QUALITIES, FixParams, Shot, frames_text, parse_int, parse_quality
from engine.heads.scoring import score_sheet, summarize
from engine.infer.run import run_on_image
from engine.kinds import PARAM_KEYS
from engine.media.encode import pause_frames
from engine.metrics import psnr, ssim

# base 3 + warped0 3 + warped1 3 + vis0, vis1 + the occlusion cues fb0, fb1, photo0, photo1, motion0, motion1
IN_CHANNELS = 17
# The refiner runs only when it beat the flow path alone by this much on the held-out clips: at 1080p it
# costs more than half the time of a frame (bench/speed.py).
MIN_REFINER_GAIN_DB = 0.05
MAX_FACTOR = 8  # a retime beyond this invents more than it sees
BEST = "finer flows, about 4x the time"  # what `quality=best` costs (flow.BEST_QUALITY)


@dataclass(frozen=True)
class InterpolateParams(FixParams):
    """Retime by `factor`, or rebuild `frames` (None: the dropped and duplicated frames found, "auto"); with
    `quality` "best", over flow.BEST_QUALITY."""

    keys: ClassVar[tuple[str, ...]] = PARAM_KEYS["interpolate"]
    factor: int | None = None
    frames: frozenset[int] | None = None
    quality: str = "default"

    @classmethod
    def parse(cls, raw: Mapping[str, str]) -> Self:
        quality = parse_quality(raw.get("quality", "default"), BEST)
        if "factor" in raw and "frames" in raw:
            raise ParamError("interpolate takes factor= (retime) or frames= (rebuild), not both: drop one")
        if "factor" in raw:
            text = raw["factor"].rstrip("xX")
            return cls(factor=parse_int("factor", text, 2, MAX_FACTOR, "factor=2"), quality=quality)
        spec = raw.get("frames", "auto")
        if spec.lower() == "auto":
            return cls(quality=quality)
        try:
            wanted = flow_sequence.parse_frames(spec)
        except flow_sequence.SequenceError as exc:
            raise ParamError(f"frames={spec}: {exc}") from None
        if not wanted:
            raise ParamError(f"frames={spec} names no frame: write e.g. frames=1012-1016 or frames=auto")
        return cls(frames=frozenset(wanted), quality=quality)

    def bind(self, shot: Shot) -> dict[str, Any]:
        extra: dict[str, Any] = {} if self.quality == "default" else {"quality": self.quality}
        made = _holes_to_make(shot.info.missing_frames, pause_frames(shot.info.fps))
        if self.frames is None and made:  # auto or a retime: the holes are made too (not a pause)
            extra["missing"] = made
        if self.factor is not None:
            if shot.info.frame_count < 2:  # nothing between two frames to make: it "succeeded" unchanged
                raise ParamError(
                    f"factor={self.factor} retimes by making frames between the shot's, and it has one frame: "
                    "there is nothing to retime"
                )
            return {"factor": self.factor, **extra}
        if self.frames is None:
            return {"frames": "auto", **extra}
        info = shot.info
        outside = sorted(n for n in self.frames if n not in info.frame_range)
        if outside:
            raise ParamError(
                f"frames {frames_text(outside)} lie outside the shot's frames {info.first_frame}-"
                f"{info.last_frame}: name frames of this shot"
            )
        kept = set(info.frame_range) - set(self.frames) - set(info.missing_frames)
        low, high = (min(kept), max(kept)) if kept else (info.last_frame + 1, info.first_frame - 1)
        unframed = sorted(n for n in self.frames if not low < n < high)
        if unframed:  # no frame on one side to rebuild from: it would be a copy of its one neighbour
            raise ParamError(
                f"frames {frames_text(unframed)} have no frame of the shot kept on both sides to rebuild them "
                f"from (the shot runs {info.first_frame}-{info.last_frame}): name frames between two it keeps"
            )
        return {"frames": set(self.frames), **extra}

    def frame_factor(self) -> int:
        return self.factor or 1


def _holes_to_make(missing: Iterable[int], longest: int) -> list[int]:
    """The missing numbers in holes of at most `longest` frames: a longer one is a pause (a recording paused, a
    render's lost chunk), which no motion between its two sides can fill."""
    made: list[int] = []
    run: list[int] = []
    for number in [*sorted(missing), None]:
        if run and (number is None or number != run[-1] + 1):
            made.extend(run if len(run) <= longest else [])
            run = []
        if number is not None:
            run.append(number)
    return made


def _stack_parts(parts: flow.Parts) -> np.ndarray:
    cues = parts.cues()
    maps = [parts.vis0, parts.vis1, *(getattr(cues, f.name) for f in fields(flow.Cues))]
    return np.concatenate(
        [parts.frame, parts.warped0, parts.warped1, *(m[..., None] for m in maps)], 2
    ).astype(np.float32)


def _triplet_parts(
    clip: np.ndarray, t: int, config: flow.FlowConfig, box: tuple[int, int, int, int] | None = None
) -> tuple[flow.Parts, np.ndarray]:
    """Classical parts for frame t rebuilt from t-1, t+1 (and t-3, t+3 when there); and the truth."""
    y, x, h, w = box or (0, 0, clip.shape[1], clip.shape[2])

    def get(i: int) -> np.ndarray | None:
        return as_float(clip[i, y : y + h, x : x + w]) if 0 <= i < len(clip) else None

    f0, f1, truth = get(t - 1), get(t + 1), get(t)
    assert f0 is not None and f1 is not None and truth is not None
    prev, nxt = get(t - 3), get(t + 3)
    parts = [
        flow.interpolate_reverse(f0, f1, flow.pair_flows(f0, f1, prev, nxt, c), 0.5, c)
        for c in flow.members(config)
    ]
    return flow.mean_parts(parts), truth


@register
class InterpolateHead(Head):
    name = "interpolate"
    baselines = ("minterpolate", "dis", "linear")
    params_type = InterpolateParams

    def default_config(self) -> dict[str, Any]:
        # wide_share: training examples cut from every 2nd-4th frame (engine.degrade.production.wide_stride)
        # reuse: examples served per computed window of flow-path parts (engine.heads.interpolate_data)
        return {"channels": 32, "depth": 6, "eval_frames": 4, "min_crop": 128, "wide_share": 0.3, "reuse": 8}

    def min_frames(self) -> int:
        return 3

    def flow_config(self) -> flow.FlowConfig:
        return flow.RECOMMENDED

    def build(self, config: Mapping[str, Any]) -> torch.nn.Module:
        cfg = {**self.default_config(), **config}
        return InterpolateRefiner(channels=int(cfg["channels"]), depth=int(cfg["depth"]))

    def sample(self, clip: np.ndarray, rng: np.random.Generator, crop: int) -> dict[str, np.ndarray]:
        if len(clip) < 3:
            raise HeadError(f"interpolate needs clips of at least 3 frames, got {len(clip)}")
        cfg = self.default_config()
        crop = max(crop, int(cfg["min_crop"]))
        config = self.flow_config()

        def parts(
            frames: np.ndarray, t: int, box: tuple[int, int, int, int]
        ) -> tuple[np.ndarray, np.ndarray]:
            found, truth = _triplet_parts(frames, t, config, box)
            return _stack_parts(found), truth

        stacked, truth = training_example(
            clip, rng, crop, parts, float(cfg["wide_share"]), float(cfg["reuse"])
        )
        if rng.random() < 0.5:  # the two sides swapped: the same blend, seen from the other frame
            stacked = stacked[..., SWAP]
        stacked, target = augment([stacked, truth], rng)
        return {"inputs": chw(stacked), "target": chw(target)}

    def forward(self, net: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = inputs[:, :3] + net(inputs)
        return out

    def loss(self, net: torch.nn.Module, batch: Batch) -> torch.Tensor:
        return (self.forward(net, batch["inputs"]) - batch["target"]).abs().mean()

    def refine(self, net: torch.nn.Module, parts: flow.Parts) -> np.ndarray:
        out = run_on_image(lambda x: self.forward(net, x), _stack_parts(parts), net)
        return np.clip(out, 0, 1).astype(np.float32)

    def evaluate(
        self,
        net: torch.nn.Module,
        clips: list[np.ndarray],
        rng: np.random.Generator,
        options: Mapping[str, Any] | None = None,
    ) -> dict[str, float]:
        """Rebuild held-out frame t from t-1 and t+1; PSNR/SSIM vs the true frame, and the baselines'."""
        opts = {**self.default_config(), **(options or {})}
        scores = score_sheet("psnr", "ssim", "psnr_base", "psnr_dis", "psnr_linear", "psnr_minterpolate")
        config = self.flow_config()
        for clip in clips:
            if len(clip) < 3:
                continue
            for t in eval_indices(len(clip), int(opts["eval_frames"]), margin=1):
                parts, truth = _triplet_parts(clip, t, config)
                out = self.refine(net, parts)
                f0, f1 = as_float(clip[t - 1]), as_float(clip[t + 1])
                scores["psnr"].append(psnr(out, truth))
                scores["ssim"].append(ssim(out, truth))
                scores["psnr_base"].append(psnr(parts.frame, truth))
                scores["psnr_dis"].append(psnr(baselines.dis_backward(f0, f1), truth))
                scores["psnr_linear"].append(psnr(baselines.linear_blend(f0, f1), truth))
                seq = np.stack(
                    [as_float(clip[i]) for i in (t - 3, t - 1, t + 1, t + 3) if 0 <= i < len(clip)]
                )
                mids = baselines.minterpolate_midpoints(seq)
                scores["psnr_minterpolate"].append(psnr(mids[1 if t - 3 >= 0 else 0], truth))
        return summarize(self, scores, "interpolate evaluation needs held-out clips of at least 3 frames")

    def run_params(self, params: Mapping[str, Any], metrics: Mapping[str, float]) -> dict[str, Any]:
        out = dict(params)
        if "refine" not in out and "psnr" in metrics and "psnr_base" in metrics:
            out["refine"] = metrics["psnr"] - metrics["psnr_base"] >= MIN_REFINER_GAIN_DB
        return out

    def apply(
        self,
        net: torch.nn.Module,
        frames: Iterable[NumberedFrame],
        params: Mapping[str, Any] | None = None,
    ) -> Iterator[NumberedFrame]:
        return self._apply(net, frames, params, set())

    def fix(
        self,
        net: torch.nn.Module,
        frames: Iterable[Any],
        params: Mapping[str, Any] | None = None,
    ) -> FixRun:
        """apply(), with the repeated frames frames=auto found and rebuilt as `outputs.rebuilt`."""
        found: set[int] = set()
        auto = "factor" not in (params or {}) and (params or {}).get("frames") == "auto"
        return FixRun(
            self._apply(net, frames, params, found),
            lambda: FixOutputs(rebuilt=tuple(sorted(found)) if auto else None),
        )

    def _apply(
        self,
        net: torch.nn.Module,
        frames: Iterable[NumberedFrame],
        params: Mapping[str, Any] | None,
        found: set[int],
    ) -> Iterator[NumberedFrame]:
        params = dict(params or {})
        quality = str(params.get("quality", "default"))
        if quality not in QUALITIES:
            raise HeadError(f"interpolate quality {quality!r} must be one of {', '.join(QUALITIES)}")
        config = flow.BEST_QUALITY if quality == "best" else self.flow_config()
        refine = None
        if params.get("refine", True):

            def refine(parts: flow.Parts, _t: float) -> np.ndarray:
                return self.refine(net, parts)

        if "frames" in params and "factor" in params:
            raise HeadError("interpolate takes either 'factor' (retime) or 'frames' (rebuild), not both")
        stream: Iterator[NumberedFrame] = ((n, as_float(f)) for n, f in frames)
        missing = {int(n) for n in params.get("missing", ())}
        if missing and params.get("frames", "auto") == "auto":
            stream = flow_sequence.fill(stream, missing, config, refine)
        if "factor" in params:
            try:
                factor = int(params["factor"])
            except (TypeError, ValueError):
                raise HeadError(
                    f"interpolate factor {params['factor']!r} must be a whole number like 2 or 4"
                ) from None
            return flow_sequence.retime(stream, factor, config, refine)
        spec = params.get("frames")
        if spec is None:
            raise HeadError("interpolate needs 'factor' (e.g. 2) or 'frames' (e.g. 1012-1016 or auto)")
        if spec == "auto":  # the duplicated frames, found as the frames pass: memory stays flat however long
            found_ahead = flow_sequence.with_duplicates_found(stream, found)
            return flow_sequence.fill(found_ahead, found.__contains__, config, refine)
        try:
            wanted = flow_sequence.parse_frames(spec)
        except flow_sequence.SequenceError as exc:
            raise HeadError(str(exc)) from None
        return flow_sequence.fill(stream, wanted, config, refine)
