"""Running a head's net on whole frames: tensors in and out, tiling, no_grad, half precision on CUDA.

On CPU, PyTorch and OpenCV use the threads the machine's load leaves (runtime.limited_threads); frames
of at least `runtime.settings().min_pixels` run through the exported inference runtime
(engine.infer.runtime: OpenVINO or ONNX Runtime, checked against PyTorch); smaller ones in PyTorch.
On CUDA: fp16 autocast (10 mantissa bits, against bf16's 7, for 0..1 images), tiles of `CUDA_TILE`
pixels in batches of `CUDA_BATCH`. The CUDA path has not been measured yet (no GPU lent so far).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from engine.infer import runtime
from engine.infer.tiling import (
    TensorFn,
    TileSpec,
    image_to_tensor,
    run_tiled,
    run_tiled_parts,
    tensor_to_image,
)

if TYPE_CHECKING:  # engine.heads imports this module: no run-time import back
    from engine.heads.base import NumberedFrame
    from engine.model.show import ShowModel


def net_device(net: torch.nn.Module) -> torch.device:
    for p in net.parameters():
        return p.device
    return torch.device("cpu")


CUDA_TILE = 512
CUDA_BATCH = 8
RUNTIME_TILE = 512  # the runtimes hold only the tiles in flight: bigger tiles waste less on overlaps


def autocast_for(device: torch.device) -> Any:
    """fp16 autocast on CUDA (more precise than bf16 for 0..1 images; these small conv nets stay far from
    fp16's range); plain fp32 on CPU."""
    if device.type != "cuda":
        return nullcontext()
    return torch.autocast("cuda", dtype=torch.float16)


def run_on_image(
    fn: TensorFn,
    image: np.ndarray,
    net: torch.nn.Module,
    scale: int = 1,
    spec: TileSpec | None = None,
    runtime_pixels: int | None = None,
    clip: bool = True,
) -> np.ndarray:
    """Apply `fn` (a closure over `net`) to an H,W,C image, tiled; returns H*s,W*s,C' float32 in 0..1
    (unclipped with `clip=False`: a signed correction).
    `runtime_pixels`: the pixel count that decides runtime or PyTorch (default: the image's); a crop of a
    large frame passes the frame's, so a shot's crops share one compiled net."""
    device = net_device(net)
    call = fn
    pixels = image.shape[0] * image.shape[1] if runtime_pixels is None else runtime_pixels
    if device.type == "cuda":
        base = spec or TileSpec()
        spec = TileSpec(
            tile=max(base.tile, CUDA_TILE), overlap=base.overlap, batch=max(base.batch, CUDA_BATCH)
        )
    elif pixels >= runtime.settings().min_pixels:
        call = _runtime_call(fn, net)
        if call is not fn:
            base = spec or TileSpec()
            spec = TileSpec(tile=max(base.tile, RUNTIME_TILE), overlap=base.overlap, batch=base.batch)
    threads = runtime.limited_threads() if device.type == "cpu" else nullcontext()
    with torch.no_grad(), autocast_for(device), threads:
        out = run_tiled(call, image_to_tensor(image, device), scale=scale, spec=spec)
    image_out = tensor_to_image(out)
    return np.clip(image_out, 0.0, 1.0, out=image_out) if clip else image_out


def run_on_parts(
    fn: TensorFn,
    parts: Sequence[np.ndarray],
    net: torch.nn.Module,
    scale: int = 1,
    spec: TileSpec | None = None,
    clip: bool = True,
) -> np.ndarray:
    """run_on_image of the channel-wise concatenation of `parts` (each H,W,C_i float32), without making it:
    on the CPU runtime path the tiles are cut from the parts and go to the runtime channels-last (one copy
    of the input instead of three: concatenation, NCHW layout, tile batch). Same output as run_on_image
    of the concatenation (the same graph and blend); elsewhere (CUDA, PyTorch, small frames) it is that."""
    height, width = parts[0].shape[:2]
    runner = None
    if net_device(net).type == "cpu" and height * width >= runtime.settings().min_pixels:
        side = runtime.CHECK_SIDE
        example = np.concatenate(
            [p[:side, :side].reshape(min(side, height), min(side, width), -1) for p in parts], 2
        )
        runner = runtime.compiled_array_fn(fn, net, example[None])
    if runner is None:
        return run_on_image(fn, np.concatenate(parts, axis=2), net, scale=scale, spec=spec, clip=clip)
    base = spec or TileSpec()
    spec = TileSpec(tile=max(base.tile, RUNTIME_TILE), overlap=base.overlap, batch=base.batch)
    with runtime.limited_threads():
        out = run_tiled_parts(runner, parts, scale=scale, spec=spec)
    return np.clip(out, 0.0, 1.0, out=out) if clip else out


def _runtime_call(fn: TensorFn, net: torch.nn.Module) -> TensorFn:
    """`fn` run by the configured inference runtime, compiled per tile-batch shape (cached)."""
    if runtime.resolve_backend() == "torch":
        return fn
    return lambda tiles: runtime.compiled_fn(fn, net, tiles)(tiles)


def apply_head(
    model: ShowModel,
    head: str,
    frames: Iterable[NumberedFrame],
    params: Mapping[str, Any] | None = None,
) -> Iterator[NumberedFrame]:
    """Stream `frames` through one head of a show model (see engine.heads.base.Head.apply)."""
    from engine.heads import get_head

    return get_head(head).apply(model.net(head), frames, params or {})
