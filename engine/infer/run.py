"""Running a head's net on whole frames: tensors in and out, tiling, no_grad, mixed precision on CUDA."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from engine.infer.tiling import TensorFn, TileSpec, image_to_tensor, run_tiled, tensor_to_image

if TYPE_CHECKING:  # engine.heads imports this module: no run-time import back
    from engine.heads.base import NumberedFrame
    from engine.model.show import ShowModel


def net_device(net: torch.nn.Module) -> torch.device:
    for p in net.parameters():
        return p.device
    return torch.device("cpu")


def autocast_for(device: torch.device) -> Any:
    """bf16 autocast on CUDA (fp16 where bf16 is missing); plain fp32 on CPU."""
    if device.type != "cuda":
        return nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


def run_on_image(
    fn: TensorFn,
    image: np.ndarray,
    net: torch.nn.Module,
    scale: int = 1,
    spec: TileSpec | None = None,
) -> np.ndarray:
    """Apply `fn` (a closure over `net`) to an H,W,C image, tiled; returns H*s,W*s,C' float32 in 0..1."""
    device = net_device(net)
    with torch.no_grad(), autocast_for(device):
        out = run_tiled(fn, image_to_tensor(image, device), scale=scale, spec=spec)
    return np.clip(tensor_to_image(out), 0.0, 1.0)


def apply_head(
    model: ShowModel,
    head: str,
    frames: Iterable[NumberedFrame],
    params: Mapping[str, Any] | None = None,
) -> Iterator[NumberedFrame]:
    """Stream `frames` through one head of a show model (see engine.heads.base.Head.apply)."""
    from engine.heads import get_head

    return get_head(head).apply(model.net(head), frames, params or {})
