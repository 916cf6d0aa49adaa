"""The contract every head of the show model implements, and the registry heads add themselves to.

A head is stateless: it knows how to build its net from a config, cut self-supervised training examples
out of a show's clips, score a net on held-out clips against its classical baselines, and apply a net to a
stream of frames. The weights live in the nets (see engine.model.ShowModel), never in the head.

Conventions:
- clips are numpy arrays T,H,W,3 float32 in 0..1 (display-referred RGB);
- `sample` returns channel-first float32 arrays (C,h,w) so a batch is `np.stack` of each key;
  the key "target" is the expected output;
- frames in and out of `apply` are `(frame_number, H,W,3 float32)` pairs; numbers are preserved;
- `build` returns a net that starts as a no-op over the head's classical base (never worse than the base).

A fix: `parse_params` turns a coordinator's text into the head's typed params (engine.heads.params), their
`bind(shot)` gives apply()'s parameters, and `fix` runs apply() and collects what the head makes besides
frames (FixOutputs: regrade's LUT), complete once the frames are exhausted.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch

from engine.heads.errors import HeadError as HeadError  # re-exported: heads import it from here
from engine.heads.params import FixParams

NumberedFrame = tuple[int, np.ndarray]
Batch = dict[str, torch.Tensor]


@dataclass(frozen=True)
class FixOutputs:
    """What a fix made besides its frames."""

    lut: np.ndarray | None = None  # regrade: the LUT it applied (S,S,S,3 float32, indexed [r,g,b])
    # interpolate frames=auto: the repeated frames it found and rebuilt, by number (None: frames were named)
    rebuilt: tuple[int, ...] | None = None


class FixRun:
    """A fix in progress: iterate it for the fixed frames (streaming, numbers preserved); `outputs` is
    complete once the frames are exhausted."""

    def __init__(
        self, frames: Iterable[NumberedFrame], outputs: Callable[[], FixOutputs] = FixOutputs
    ) -> None:
        self._frames = iter(frames)
        self._outputs = outputs

    def __iter__(self) -> Iterator[NumberedFrame]:
        return self

    def __next__(self) -> NumberedFrame:
        return next(self._frames)

    @property
    def outputs(self) -> FixOutputs:
        return self._outputs()


class Head(ABC):
    name: ClassVar[str]  # "denoise" | "upscale" | "cleanup" | "interpolate" | "regrade"
    scale: ClassVar[int] = 1  # output size / input size (upscale: 2)
    baselines: ClassVar[tuple[str, ...]] = ()  # names used as "psnr_<baseline>" in evaluate()
    params_type: ClassVar[type[FixParams]] = FixParams  # its fix parameters (engine.heads.params)
    # trains and is scored on frames at the footage's own size (TrainOptions.native_resolution), not at the
    # training resolution: what it learns depends on the scale its fixes run at (engine.train.native; those
    # frames are spread over each clip, not consecutive, so only a head that learns from one frame at a time;
    # denoise would not gain: trained at the footage's own size it did worse there than at 256p, docs/benchmarks.md)
    native: ClassVar[bool] = False
    # trains under bfloat16 autocast on CPUs where that is fast (engine.train.precision): only a head measured
    # to gain from it at equal CPU time (upscale, denoise: docs/benchmarks.md)
    cpu_bf16: ClassVar[bool] = False

    def default_config(self) -> dict[str, Any]:
        """The net's hyper-parameters; recorded in the manifest and passed back to build() on load."""
        return {}

    @abstractmethod
    def build(self, config: Mapping[str, Any]) -> torch.nn.Module:
        """A fresh net; must start as a no-op over the head's classical base where there is one."""

    @abstractmethod
    def sample(self, clip: np.ndarray, rng: np.random.Generator, crop: int) -> dict[str, np.ndarray]:
        """One self-supervised training example cut from `clip` (T,H,W,3): inputs plus "target", C,h,w each."""

    @abstractmethod
    def loss(self, net: torch.nn.Module, batch: Batch) -> torch.Tensor:
        """Scalar training loss of `net` on a batch (dict of N,C,h,w tensors already on the net's device)."""

    @abstractmethod
    def evaluate(
        self,
        net: torch.nn.Module,
        clips: list[np.ndarray],
        rng: np.random.Generator,
        options: Mapping[str, Any] | None = None,
    ) -> dict[str, float]:
        """Scores on held-out clips: "psnr" and "ssim" of the head, "psnr_<baseline>" for each baseline,
        and "baseline_best" (the best baseline PSNR). Deterministic for a given rng state."""

    @abstractmethod
    def apply(
        self,
        net: torch.nn.Module,
        frames: Iterable[Any],
        params: Mapping[str, Any] | None = None,
    ) -> Iterator[NumberedFrame]:
        """Streaming inference: frames in, fixed frames out, frame numbers preserved (tiled, any size)."""

    def parse_params(self, raw: Mapping[str, object]) -> FixParams:
        """The head's typed fix parameters from a request's text values (keys it does not read are left out)."""
        own = {k: str(v).strip() for k, v in raw.items() if k in self.params_type.keys}
        return self.params_type.parse(own)

    def fix(
        self,
        net: torch.nn.Module,
        frames: Iterable[Any],
        params: Mapping[str, Any] | None = None,
    ) -> FixRun:
        """apply(), with what the head makes besides frames in the run's `outputs` (none by default)."""
        return FixRun(self.apply(net, frames, params))

    def demo(
        self,
        net: torch.nn.Module,
        clip: np.ndarray,
        rng: np.random.Generator,
        options: Mapping[str, Any] | None = None,
    ) -> dict[str, np.ndarray]:
        """Optional, for reports: one held-out example as named H,W,3 images in display order, e.g.
        {"input": ..., "<baseline>": ..., "head": ..., "truth": ...}. Heads without it return {}."""
        return {}

    def min_frames(self) -> int:
        """How many consecutive frames `sample` needs from a clip."""
        return 1

    def run_params(self, params: Mapping[str, Any], metrics: Mapping[str, float]) -> dict[str, Any]:
        """The apply() parameters to use with a trained net whose held-out scores are `metrics` (the
        manifest's); heads may switch off a learned part that did not earn its keep there."""
        return dict(params)


def net_device(net: torch.nn.Module) -> torch.device:
    for p in net.parameters():
        return p.device
    return torch.device("cpu")


HEADS: dict[str, Head] = {}
H = TypeVar("H", bound=type[Head])


def register(cls: H) -> H:
    """Class decorator: `@register class InterpolateHead(Head): name = "interpolate" ...`."""
    HEADS[cls.name] = cls()
    return cls


# Small helpers shared by the heads' sample() and evaluate().


def chw(img: np.ndarray) -> np.ndarray:
    """H,W,C (or H,W) -> C,H,W float32, contiguous."""
    arr = img if img.ndim == 3 else img[..., None]
    return np.ascontiguousarray(arr.transpose(2, 0, 1), dtype=np.float32)


def crop_box(height: int, width: int, crop: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """A random crop window (y, x, h, w) of side `crop` (smaller when the frame is smaller)."""
    ch, cw = min(crop, height), min(crop, width)
    y = int(rng.integers(0, height - ch + 1))
    x = int(rng.integers(0, width - cw + 1))
    return y, x, ch, cw


def textured_crop(
    clip: np.ndarray, rng: np.random.Generator, crop: int, draws: int
) -> tuple[int, int, int, int, int]:
    """Of `draws` random (frame, crop window) picks of a T,H,W[,C] clip, the one whose pixels vary most from
    left to right (mean absolute difference of horizontal neighbours): (t, y, x, h, w). One draw is a plain
    random crop, drawn as `crop_box` draws it."""
    best, chosen = -1.0, (0, 0, 0, 0, 0)
    for _ in range(max(1, draws)):
        t = int(rng.integers(0, len(clip)))
        y, x, h, w = crop_box(clip.shape[1], clip.shape[2], crop, rng)
        if draws <= 1:
            return t, y, x, h, w
        window = clip[t, y : y + h, x : x + w].astype(np.int16)
        energy = float(np.abs(np.diff(window, axis=1)).mean()) if w > 1 else 0.0
        if energy > best:
            best, chosen = energy, (t, y, x, h, w)
    return chosen


def augment(arrays: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """The same random flip/transpose of every H,W[,C] array in `arrays` (keeps them aligned; square crops
    only are transposed)."""
    flip_x, flip_y, swap = rng.random(3) < 0.5
    swap = swap and arrays[0].shape[0] == arrays[0].shape[1]  # keep non-square crops batchable
    out = []
    for a in arrays:
        if flip_x:
            a = a[:, ::-1]
        if flip_y:
            a = a[::-1]
        if swap:
            a = a.swapaxes(0, 1)
        out.append(np.ascontiguousarray(a))
    return out


def permute_colours(arrays: list[np.ndarray], rng: np.random.Generator, share: float) -> list[np.ndarray]:
    """With probability `share`, the same random reordering of the colour channels of every H,W,3 array in
    `arrays` (one of the five orders other than RGB): a show's few clips hold few of the hues a net meets
    later, and a net trained long on them alone can fail on a saturated colour it never saw (a denoise base
    turned a magenta wall blue, docs/benchmarks.md)."""
    if share <= 0 or rng.random() >= share:
        return arrays
    order = [(0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)][int(rng.integers(0, 5))]
    return [np.ascontiguousarray(a[..., order]) for a in arrays]


def as_float(frame: np.ndarray) -> np.ndarray:
    """A stored frame (uint8 or float) as float32 0..1."""
    if frame.dtype == np.uint8:
        return frame.astype(np.float32) / 255.0
    return frame.astype(np.float32, copy=False)


def eval_indices(length: int, count: int, margin: int = 0) -> list[int]:
    """`count` evenly spaced frame indices of a clip of `length`, at least `margin` from either end."""
    lo, hi = margin, length - 1 - margin
    if hi < lo:
        return []
    return sorted({int(np.rint(v)) for v in np.linspace(lo, hi, min(count, hi - lo + 1))})


def frame_pair(item: Any) -> NumberedFrame:
    """A `(number, pixels)` pair from either such a tuple or a frame object with `.number` and `.rgb`
    (engine.media's Frame)."""
    if isinstance(item, tuple):
        return int(item[0]), item[1]
    return int(item.number), item.rgb
