"""upscale (2x): a residual CNN whose pixel-shuffled output corrects a bicubic base.

The net runs at the input's resolution and pixel-shuffles 2x (50,400 multiply-adds per input pixel, 26 G
per 1080p output). `unshuffle: 2` folds each 2x2 input block into 12 channels first (8.2 G per 1080p
output, 1.7x the frames/s in fixes) but scored 0.4-1.3 dB lower on held-out clips in the same CPU budget
(docs/benchmarks.md), so it is not the default. With it, frames of odd size are padded by repeating their
right and bottom edges and the output cropped back, in training (forward) and inference (upscale) alike.
Versions saved before the key existed load as `unshuffle: 1`, their shape.

One fixed, documented degradation for training and evaluation alike: the show's frame (even size) box-averaged
2x (cv2.INTER_AREA, `DEGRADATION`). Training on a mix of degradations (area and unfiltered bicubic need
opposite corrections: deblur against de-alias) cost about 0.5 dB on held-out clips (bench/upscale_study.py).
Evaluation scores the head and its baselines (lanczos, bicubic) on the same pixels: the frame less `BORDER`
pixels on every side, where every method only guesses. Both use frames at the footage's own size (`native`:
engine.train.native, short side capped at TrainOptions.native_resolution), not the 256p the other heads train
at: fixes run there, and a net trained on 256p crops scored 0.86-1.43 dB lower there (docs/benchmarks.md).
At inference the bicubic base is OpenCV's on the whole frame (F.interpolate's to 4e-7) and only the net goes
through the tiles and the inference runtime, channels-last (`UpscaleHead.upscale`); fixes use tiles of up
to 1024 input pixels, so a 1080p output is one runtime call with no blending.
Show runs on a CPU with bfloat16 in hardware (AMX, or AVX-512 bfloat16 on AMD Zen 4) train under bfloat16
autocast (`cpu_bf16`, engine.train.precision; 1.7-1.8x the steps per CPU second): +0.18 dB on unseen clips in
a 600 CPU-second study with AMX, +0.05 in a 200 s show run from a float32 base. Bases train in float32: in
bfloat16 they scored 0.08-0.30 dB lower (docs/benchmarks.md, "bfloat16 in a base, and in a show run").
A version keeps the running average of the net's weights over its steps, not the last step's
(TrainSettings.weight_averages, engine.train.averaging): the last step swung the unseen-clip score by 0.56 dB
between runs of the same settings, the average by 0.04 (docs/benchmarks.md).
Each training crop is the more textured of two random ones (`draws`, base.textured_crop): flat crops teach
an upscaler little. In 1,200 CPU-second studies the averaged net scored +3.56, +3.54 and +3.37 dB over the best
of Lanczos/bicubic on the held-out clips (+3.35 to +3.39 without), +0.71 on two left-out training clips (+0.68,
+0.69 without) (docs/benchmarks.md, "Upscale: training crops drawn for texture").
SOFT_SOURCES of the training crops (every one) are softened first (a Gaussian of sigma SOFT_SIGMA output
pixels), then box-downscaled as every crop is. No source is a perfect image: optics, codecs and a render's
filtering soften each pixel by different amounts. A net that saw only the corpus's sources added detail
that softer unseen clips never had. Its best share of the correction on the protocol's unseen shots was
0.77-0.91; on its training clips and the `tails` frames it was 1.0.
On the protocol's unseen clips (docs/benchmarks.md, "Upscale: every source softened"), the base's net scored
+2.94 dB over the best of Lanczos/bicubic. With half the crops softened it scored +2.76, with none +2.59.
Its show versions scored +3.16 and +3.18 (half softened: +2.84), from scratch +2.92. In `tails` the show
version scored +3.78 (half: +3.90, none: +3.99). On a second split (dog and caminandes held out) softening
every crop cost 0.05 (+0.81 against +0.86), all of it on the sharp cartoon: a small net gain, not a clear one.
Fixes on CPU run the net in int8 where it holds quality (`int8`, default on; upscale_fast.py: calibrated
and checked against PyTorch on the shot's first frame, within 0.1 dB, else the float net with a log line;
first and last convolutions float; symmetric activations first, a plain int8 chain in OpenVINO, about 2x
the float net's frames/s, then asymmetric ones, finer and slower; docs/benchmarks.md). The detail gate
(`detail`: the net only on tiles with edges or texture) is off by default: on the footage measured almost
every 120-pixel tile has detail and its windows' overlap costs more than the skipped tiles save.

Fine-tuning on the shot (`adapt`, zero-shot style; off for new versions, ADAPT_STEPS 0): before upscaling,
a copy of the net trains for `adapt_steps` steps on pairs cut from the shot's own low-resolution frames, the
first ADAPT_FRAMES of them (each crop box-downscaled 2x -> the crop); the truth is never seen and the
version's net is left as it was. It assumes the shot looks the same one scale down, which holds for frames
that are themselves reductions of larger ones (the 256p benchmark: +0.7 dB on two unseen clips) and fails
at a camera's own resolution, where the optics and the codec soften each pixel and the shot one scale down
is sharper than the shot: at 720p the 100 steps lost 5.0 dB on an unseen camera clip (below Lanczos) and
1.6 on a CG one, for +0.5 on another (docs/benchmarks.md, "Upscale's fine-tuning at the footage's own
size"). Fixes run at the footage's own size, so new versions save 0 and fix with the net as trained; a
version saved with a count (config key `adapt`, the `adapt_steps` buffer; the versions of 2026-12-02 saved
100) keeps it, and the `adapt` apply parameter overrides it. Cost: 100 steps of 8 crops of 64 input pixels,
whatever the frame size, about 2.5 CPU seconds on one thread, once per shot, plus the int8 net's
calibration and compile for the new weights. evaluate() scores what a fix of the scored frames makes: with
a count, the net fine-tuned on them, then upscaling them.
`ensemble` n (1 by default; the fix parameter `quality=best` asks for BEST_ENSEMBLE, UpscaleParams) averages
the corrections of the frame's first n orientations (engine.heads.orientation), each turned back: n times the
net's time. On the protocol's unseen clips (bench/upscale_ensemble.py, docs/benchmarks.md) the net alone scored
+2.70 dB over the best of Lanczos/bicubic, with its half turn +2.98, its 4 quarter turns +3.09 and all 8 +3.10:
the half turn is the best partner (a mirror +2.90, a quarter turn mirrored +2.87), and the mirrored four add
nothing for twice the time.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from engine.baselines.restore import downscale, upscale_bicubic, upscale_lanczos
from engine.heads.base import (
    Batch,
    Head,
    NumberedFrame,
    as_float,
    augment,
    chw,
    eval_indices,
    frame_pair,
    register,
    textured_crop,
)
from engine.heads.orientation import ORIENTATIONS, Orientation, orientations, turn, turn_back
from engine.heads.params import EnsembleParams
from engine.heads.scoring import score_sheet, summarize
from engine.heads.upscale_fast import gated_correction, int8_runner, runtime_forward
from engine.infer import runtime
from engine.infer.run import RUNTIME_TILE, net_device, run_on_parts
from engine.infer.sparse import SparseSpec
from engine.infer.tiling import TileSpec, run_tiled_parts
from engine.kinds import PARAM_KEYS
from engine.metrics import psnr, ssim
from engine.nets import ResidualCNN

DEGRADATION = "area"  # how a show frame becomes the low-resolution input, in training and evaluation
BORDER = 4  # output pixels cut from every side before scoring, the same for every method
APPLY_TILE = 1024  # input pixels per tile side in fixes: a 960x540 input (1080p out) runs as one tile
TRAIN_DRAWS = 2  # each training crop: the most textured of 2 random ones (module docstring)
DETAIL = 0.0  # fixes' detail gate (`detail` apply parameter; 0: off): tiles scoring under it keep bicubic
INT8 = True  # fixes' int8 net (`int8` apply parameter), used only where it passes its quality check
ENSEMBLE = 1  # fixes' orientations of each frame (`ensemble` apply parameter; 1: the net once a frame)
BEST_ENSEMBLE = 4  # orientations with `quality=best`: 4x the net's time
SOFT_SOURCES = 1.0  # share of training crops softened first (module docstring)
SOFT_SIGMA = (0.3, 1.0)  # their Gaussian blur's sigma, drawn evenly in this range, output pixels
ADAPT_STEPS = (
    0  # new versions' fine-tuning steps on the shot in fixes (`adapt` config key and parameter): off
)
ADAPT_FRAMES = 8  # how many of the shot's first frames a fix fine-tunes on (held back until then)
ADAPT_LR = 3e-4  # Adam's step size when fine-tuning on the shot
ADAPT_BATCH = 8  # pairs per fine-tuning step, ADAPT_CROP input pixels a side (the pair's target)
ADAPT_CROP = 64


BEST = f"{BEST_ENSEMBLE} turned copies of each frame, about {BEST_ENSEMBLE}x the net's time"  # `quality=best`


@dataclass(frozen=True)
class UpscaleParams(EnsembleParams):
    """With `quality` "best", each frame is upscaled as the mean of its BEST_ENSEMBLE quarter turns (`ensemble`)."""

    keys: ClassVar[tuple[str, ...]] = PARAM_KEYS["upscale"]
    best_ensemble: ClassVar[int] = BEST_ENSEMBLE
    best_cost: ClassVar[str] = BEST


def _inner(img: np.ndarray, border: int) -> np.ndarray:
    """`img` less `border` pixels on every side (all of it when the frame is too small for that)."""
    h, w = img.shape[:2]
    if border <= 0 or h <= 4 * border or w <= 4 * border:
        return img
    return img[border : h - border, border : w - border]


def _fold(net: torch.nn.Module) -> int:
    """The input side the net folds into channels first (ResidualCNN.unshuffle; 1 for none): inputs are
    padded (edge pixels repeated right and below) to a multiple of it and the output cropped back."""
    return int(getattr(net, "unshuffle", 1))


class UpscaleNet(ResidualCNN):
    """The head's net (ResidualCNN, 3 -> 3 colours, pixel-shuffled 2x) and `adapt_steps`, a buffer saved
    with its weights: how many steps fixes fine-tune it on the shot when the fix does not say. Versions saved
    before it existed load with 0, so their fixes compute what they did."""

    adapt_steps: torch.Tensor

    def __init__(self, channels: int, depth: int, unshuffle: int, adapt: int) -> None:
        super().__init__(3, 3, channels=channels, depth=depth, shuffle=2, unshuffle=unshuffle)
        self.register_buffer("adapt_steps", torch.tensor(adapt, dtype=torch.int64))

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> Any:
        state = dict(state_dict)
        state.setdefault("adapt_steps", torch.zeros((), dtype=torch.int64))  # saved before it existed
        return super().load_state_dict(state, strict=strict, assign=assign)


def _adapt_steps(net: torch.nn.Module) -> int:
    """The steps a fix fine-tunes `net` on the shot by default (0 for a net without the setting)."""
    steps = getattr(net, "adapt_steps", None)
    return int(steps.item()) if isinstance(steps, torch.Tensor) else 0


@register
class UpscaleHead(Head):
    name = "upscale"
    scale = 2
    baselines = ("lanczos", "bicubic")
    native = True  # fixes run at the footage's own size, where 256p-trained nets add too much detail
    cpu_bf16 = True  # show runs: 1.7-1.8x the steps per CPU second (bases train in float32; docstring)
    draws = TRAIN_DRAWS  # each training crop: the most textured of this many random ones
    params_type = UpscaleParams

    def default_config(self) -> dict[str, Any]:
        return {"channels": 32, "depth": 7, "unshuffle": 1, "adapt": ADAPT_STEPS, "eval_frames": 8}

    def build(self, config: Mapping[str, Any]) -> torch.nn.Module:
        cfg = {**self.default_config(), **config}
        return UpscaleNet(int(cfg["channels"]), int(cfg["depth"]), int(cfg["unshuffle"]), int(cfg["adapt"]))

    def sample(self, clip: np.ndarray, rng: np.random.Generator, crop: int) -> dict[str, np.ndarray]:
        t, y, x, h, w = textured_crop(clip, rng, crop, self.draws)
        h, w = h - h % 2, w - w % 2
        (hr,) = augment([as_float(clip[t, y : y + h, x : x + w])], rng)
        if SOFT_SOURCES > 0 and rng.random() < SOFT_SOURCES:
            sigma = float(rng.uniform(*SOFT_SIGMA))
            hr = cv2.GaussianBlur(hr, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
        lr = downscale(hr, 2, DEGRADATION)
        return {"lr": chw(lr), "target": chw(hr)}

    def forward(self, net: torch.nn.Module, lr: torch.Tensor) -> torch.Tensor:
        base = F.interpolate(lr, scale_factor=2, mode="bicubic", align_corners=False)
        h, w = lr.shape[-2:]
        fold = _fold(net)
        padded = F.pad(lr, (0, -w % fold, 0, -h % fold), mode="replicate") if (h % fold or w % fold) else lr
        out: torch.Tensor = base + net(padded)[..., : 2 * h, : 2 * w]
        return out

    def loss(self, net: torch.nn.Module, batch: Batch) -> torch.Tensor:
        return F.l1_loss(self.forward(net, batch["lr"]), batch["target"])

    def upscale(
        self,
        net: torch.nn.Module,
        frame: np.ndarray,
        spec: TileSpec | None = None,
        gate: SparseSpec | None = None,
        int8: bool = False,
        ensemble: int = 1,
    ) -> np.ndarray:
        """forward() on a whole frame: the net's correction tiled (through the inference runtime on large
        frames, channels-last) over OpenCV's bicubic of the whole frame, which is F.interpolate's to 4e-7
        and costs a fraction of the runtimes' bicubic (a quarter of OpenVINO's time on a 1080p output).
        On CPU: `gate` with a threshold > 0 runs the net only on the tiles with detail (sparse.py);
        `int8` runs it quantised on large frames when that passes its check (upscale_fast.int8_runner).
        `ensemble` > 1: the mean of the corrections of the frame's first `ensemble` ORIENTATIONS (quarter
        turns, mirrored), each turned back (`ensemble` times the net's cost; bicubic commutes with them)."""
        h, w = frame.shape[:2]
        if ensemble <= 1:
            correction = self._correction(net, frame, spec, gate, int8)
        else:
            correction = np.zeros((2 * h, 2 * w, 3), np.float32)
            for orientation in ORIENTATIONS[:ensemble]:
                correction += self.turned_correction(net, frame, orientation, spec, gate, int8)
            correction *= 1 / ensemble
        out = cv2.resize(frame, (2 * w, 2 * h), interpolation=cv2.INTER_CUBIC)
        np.add(out, correction, out=out)
        return np.clip(out, 0.0, 1.0, out=out)

    def turned_correction(
        self,
        net: torch.nn.Module,
        frame: np.ndarray,
        orientation: Orientation,
        spec: TileSpec | None = None,
        gate: SparseSpec | None = None,
        int8: bool = False,
    ) -> np.ndarray:
        """The net's correction of `frame` turned by `orientation` (quarter turns, mirrored; ORIENTATIONS),
        turned back: (2H,2W,3), to add to the frame's bicubic upscale."""
        return turn_back(self._correction(net, turn(frame, orientation), spec, gate, int8), orientation)

    def _correction(
        self,
        net: torch.nn.Module,
        frame: np.ndarray,
        spec: TileSpec | None,
        gate: SparseSpec | None,
        int8: bool,
    ) -> np.ndarray:
        """The net's correction of `frame` (2H,2W,3), to add to its bicubic upscale."""
        h, w = frame.shape[:2]
        fold = _fold(net)
        padded = np.pad(frame, ((0, -h % fold), (0, -w % fold), (0, 0)), mode="edge") if fold > 1 else frame
        cpu = net_device(net).type == "cpu"
        large = padded.shape[0] * padded.shape[1] >= runtime.settings().min_pixels
        runner = int8_runner(self.forward, net, padded) if int8 and cpu and large else None
        correction = None
        if gate is not None and gate.threshold > 0 and cpu:
            correction = gated_correction(net, padded, gate, runner)
        if correction is None:
            base = spec or TileSpec()
            reach = -(-4 * int(getattr(net, "receptive_radius", 0)) // 8) * 8
            overlap = max(base.overlap, min(reach, base.tile // 16 * 8))  # at most half a tile
            spec = replace(base, overlap=overlap)  # tiles blend exactly when they overlap ~4x the net's reach
            if runner is None:
                correction = run_on_parts(runtime_forward(net), [padded], net, scale=2, spec=spec, clip=False)
            else:
                with runtime.limited_threads():
                    spec = replace(spec, tile=max(spec.tile, RUNTIME_TILE))
                    correction = run_tiled_parts(runner, [padded], scale=2, spec=spec)
        return correction[: 2 * h, : 2 * w]

    def adapt(
        self,
        net: torch.nn.Module,
        frames: Sequence[np.ndarray],
        steps: int,
        lr: float = ADAPT_LR,
        seed: int = 0,
    ) -> torch.nn.Module:
        """A copy of `net` fine-tuned for `steps` on pairs cut from `frames`, the shot's own low-resolution
        input: each crop box-downscaled 2x (DEGRADATION) is the input and the crop the target, as sample()
        cuts them from show frames. Only the frames being upscaled are used; `net` is left as it was."""
        if steps <= 0 or not frames:
            return net
        tuned = copy.deepcopy(net).train()
        device = net_device(net)
        clip = np.stack([as_float(f) for f in frames])
        rng = np.random.default_rng(seed)
        opt = torch.optim.Adam(tuned.parameters(), lr=lr)
        for _ in range(steps):
            ex = [self.sample(clip, rng, ADAPT_CROP) for _ in range(ADAPT_BATCH)]
            batch = {k: torch.from_numpy(np.stack([e[k] for e in ex])).to(device) for k in ("lr", "target")}
            loss = self.loss(tuned, batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return tuned.eval()

    def evaluate(
        self,
        net: torch.nn.Module,
        clips: list[np.ndarray],
        rng: np.random.Generator,
        options: Mapping[str, Any] | None = None,
    ) -> dict[str, float]:
        opts = {**self.default_config(), **(options or {})}
        method = str(opts.get("downscale", DEGRADATION))
        b = int(opts.get("border", BORDER))
        steps = int((options or {}).get("adapt", _adapt_steps(net)))  # the fix's default: the net's own
        ensemble = orientations(opts.get("ensemble", ENSEMBLE), self.name)
        scores = score_sheet("psnr", "ssim", "psnr_lanczos", "psnr_bicubic")
        for clip in clips:
            hrs = [as_float(clip[t]) for t in eval_indices(len(clip), int(opts["eval_frames"]))]
            hrs = [hr[: hr.shape[0] - hr.shape[0] % 2, : hr.shape[1] - hr.shape[1] % 2] for hr in hrs]
            lrs = [downscale(hr, 2, method) for hr in hrs]
            shot_net = self.adapt(net, lrs[:ADAPT_FRAMES], steps)  # as a fix of these frames does
            for hr, lr in zip(hrs, lrs, strict=True):
                out = self.upscale(shot_net, lr, ensemble=ensemble)
                scores["psnr"].append(psnr(_inner(out, b), _inner(hr, b)))
                scores["ssim"].append(ssim(_inner(out, b), _inner(hr, b)))
                scores["psnr_lanczos"].append(psnr(_inner(upscale_lanczos(lr), b), _inner(hr, b)))
                scores["psnr_bicubic"].append(psnr(_inner(upscale_bicubic(lr), b), _inner(hr, b)))
        return summarize(self, scores, "upscale evaluation needs at least one held-out frame")

    def demo(
        self,
        net: torch.nn.Module,
        clip: np.ndarray,
        rng: np.random.Generator,
        options: Mapping[str, Any] | None = None,
    ) -> dict[str, np.ndarray]:
        hr = as_float(clip[len(clip) // 2])
        hr = hr[: hr.shape[0] - hr.shape[0] % 2, : hr.shape[1] - hr.shape[1] % 2]
        lr = downscale(hr, 2, DEGRADATION)
        nearest = np.repeat(np.repeat(lr, 2, 0), 2, 1)
        return {"input": nearest, "lanczos": upscale_lanczos(lr), "head": self.upscale(net, lr), "truth": hr}

    def apply(
        self,
        net: torch.nn.Module,
        frames: Iterable[Any],
        params: Mapping[str, Any] | None = None,
    ) -> Iterator[NumberedFrame]:
        spec = TileSpec(tile=int((params or {}).get("tile", APPLY_TILE)))
        gate = SparseSpec(threshold=float((params or {}).get("detail", DETAIL)))
        int8 = bool((params or {}).get("int8", INT8))
        ensemble = orientations((params or {}).get("ensemble", ENSEMBLE), self.name)
        steps = int((params or {}).get("adapt", _adapt_steps(net)))
        pairs: Iterator[NumberedFrame] = ((n, as_float(f)) for n, f in map(frame_pair, frames))
        if steps > 0:  # the shot's first frames are held back until the net is fine-tuned on them
            first = list(itertools.islice(pairs, ADAPT_FRAMES))
            if first:
                net = self.adapt(net, [f for _, f in first], steps)
            pairs = itertools.chain(first, pairs)
        for number, frame in pairs:
            yield number, self.upscale(net, frame, spec, gate, int8, ensemble)
