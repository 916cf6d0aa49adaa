"""The upscale head's fast CPU paths: its net only on the tiles with detail, its net in int8, and the
form of its net the runtimes compile.

`runtime_forward`: the net's forward with its closing pixel shuffle written as one reshape and transpose
into N,H,W,C (then permuted back: exactly net(x)). Exported channels-last (runtime._Forward permutes the
output to N,H,W,C), the two permutes cancel and the graph ends in one transpose where it ended in a
depth-to-space, a transpose and a layout reorder: 27 -> 13 ms of OpenVINO's time on a 1080p output.
The last convolution's output channels are taken in (row, column, colour) order (its weights indexed so,
the same numbers): read channels-last, each input pixel's two output rows are then two runs of six
floats, and the transpose starts from the convolution's own N,H,W,C output (no layout reorder before it,
4-7 ms at 1080p).

`gated_correction`: the net's correction on the tiles of the frame whose detail score reaches the gate's
threshold (engine.infer.sparse; exact there), zero (the bicubic base alone) elsewhere.
`int8_runner`: the net quantised to int8 (engine.infer.quantize), calibrated on five crops of the shot's
first frame, and kept only when it passes the 0.1 dB check against PyTorch: that frame box-downscaled 2x
is upscaled by the float net in PyTorch (the training graph) and by the int8 runtime over the bicubic
base; both are scored against the frame itself (PSNR less a 4-pixel border), and int8 is refused (one
log line, the float net runs) when it scores more than `INT8_DB` below PyTorch. The check and calibration
run once per net per process (cached with the compiled net).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from engine.baselines.restore import downscale
from engine.infer import quantize, runtime
from engine.infer.runtime import TensorFn
from engine.infer.sparse import ArrayFn, SparseSpec, detail_tiles, run_on_tiles
from engine.infer.tiling import image_to_tensor, tensor_to_image
from engine.metrics import psnr

INT8_DB = 0.1  # the most PSNR the int8 net may lose against PyTorch's float net on the check frame
CHECK_BORDER = 4
CALIBRATION_SIDE = 256  # input pixels a side of each calibration crop
SCHEMES = quantize.SCHEMES  # int8 activation grids tried in turn, faster first (the benches narrow it)
FLOAT_CONVS = quantize.FLOAT_CONVS  # the convolutions the int8 net keeps in float (the benches vary it)


def runtime_forward(net: torch.nn.Module) -> TensorFn:
    """`net` (N,C,h,w -> N,C',h*r/u,w*r/u) with a last nn.PixelShuffle(r) after a zero-padded Conv2d in
    its `body` (and maybe a first nn.PixelUnshuffle(u)) done channels-last (see the module's docstring);
    `net` itself otherwise. The output's size is read off the input, not the last convolution's output:
    a shape taken there keeps OpenVINO from fusing that convolution's bias (a separate 7-9 ms pass at
    1080p). The closure holds the net's own `body` and layers and small ints, so the runtimes' caches
    (keyed by the closure's contents) find it on every frame."""
    body = getattr(net, "body", None)
    if not isinstance(body, torch.nn.Sequential) or len(body) < 2:
        return net
    shuffle, last, first = body[-1], body[-2], body[0]
    if not isinstance(shuffle, torch.nn.PixelShuffle) or not isinstance(last, torch.nn.Conv2d):
        return net
    if last.padding_mode != "zeros":
        return net
    r = int(shuffle.upscale_factor)
    c = int(last.out_channels) // (r * r)
    u = int(first.downscale_factor) if isinstance(first, torch.nn.PixelUnshuffle) else 1

    def forward(x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        h, w = h // u, w // u
        for layer in list(body)[:-2]:
            x = layer(x)
        # PixelShuffle reads channel k*r*r + i*r + j as colour k of output row i, column j of its block
        order = [k * r * r + i * r + j for i in range(r) for j in range(r) for k in range(c)]
        bias = None if last.bias is None else last.bias[order]
        y = F.conv2d(x, last.weight[order], bias, last.stride, last.padding, last.dilation, last.groups)
        rows = y.permute(0, 2, 3, 1).reshape(n, h, w, r, r * c).permute(0, 1, 3, 2, 4)
        return rows.reshape(n, h * r, w * r, c).permute(0, 3, 1, 2)

    return forward


def gated_correction(
    net: torch.nn.Module, frame: np.ndarray, gate: SparseSpec, runner: ArrayFn | None = None
) -> np.ndarray | None:
    """The net's correction on the tiles of `frame` with detail, zero elsewhere; None when the frame is
    smaller than one tile's window, or when the windows to run cover `gate.dense` of its pixels or more
    (overlapping windows then cost more than one call on the whole frame). `runner` (an int8 net) runs
    the tiles when given; else large frames go through the float inference runtime (the ungated path's
    compiled net), small ones through PyTorch."""
    halo = max(gate.halo, -(-int(getattr(net, "receptive_radius", 0)) // 8) * 8)
    gate = replace(gate, halo=halo)
    h, w = frame.shape[:2]
    if h < gate.window or w < gate.window:
        return None
    run, _ = detail_tiles(frame, gate)
    if len(run) * gate.window**2 >= gate.dense * h * w:
        return None  # nearly every tile has detail: one whole-frame call is cheaper than the windows
    if not run:
        return np.zeros((2 * h, 2 * w, 3), np.float32)
    if runner is None and h * w >= runtime.settings().min_pixels:
        side = runtime.CHECK_SIDE
        example = np.ascontiguousarray(frame[None, :side, :side])
        runner = runtime.compiled_array_fn(runtime_forward(net), net, example)
    with runtime.limited_threads(), torch.no_grad():
        fn = runner or (lambda x: net(torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy())
        return run_on_tiles(fn, frame, run, gate, scale=2)


def int8_runner(
    forward: Callable[[torch.nn.Module, torch.Tensor], torch.Tensor], net: torch.nn.Module, frame: np.ndarray
) -> ArrayFn | None:
    """The int8 net for frames like `frame` (the shot's first, H,W,3 float32), or None (float) when it is
    unavailable or fails the check. `forward` is the head's training graph (bicubic + net)."""
    h, w = frame.shape[:2]
    b = np.s_[CHECK_BORDER:-CHECK_BORDER, CHECK_BORDER:-CHECK_BORDER]

    def accept(candidate: ArrayFn) -> tuple[bool, str]:  # called once, when the int8 net is first made
        truth = np.ascontiguousarray(frame[: h - h % 16, : w - w % 16])
        small = downscale(truth, 2, "area")
        with torch.no_grad():
            expected = np.clip(tensor_to_image(forward(net, image_to_tensor(small))), 0, 1)
        reference = psnr(expected[b], truth[b])
        base = cv2.resize(small, (truth.shape[1], truth.shape[0]), interpolation=cv2.INTER_CUBIC)
        out = np.clip(base + candidate(np.ascontiguousarray(small[None]))[0], 0, 1)
        score = psnr(out[b], truth[b])
        return reference - score <= INT8_DB, (
            f"{score:.3f} dB against PyTorch's {reference:.3f} dB on the shot's first frame at half size "
            f"(at most {INT8_DB} dB lower allowed)"
        )

    crops = _calibration(frame)
    return runtime.quantized_array_fn(
        runtime_forward(net), net, crops, accept, schemes=SCHEMES, float_convs=FLOAT_CONVS
    )


def _calibration(frame: np.ndarray, side: int = CALIBRATION_SIDE) -> list[np.ndarray]:
    """Crops of `frame` at its four corners and centre (the quantiser's activation ranges; whole frames
    would make it hold every layer's 1080p activations at once). Views, not copies: every frame asks for
    them and only the first, when the net is quantised, reads them."""
    h, w = frame.shape[:2]
    sh, sw = min(side, h), min(side, w)
    corners = [(0, 0), (0, w - sw), (h - sh, 0), (h - sh, w - sw), ((h - sh) // 2, (w - sw) // 2)]
    return [frame[None, y : y + sh, x : x + sw] for y, x in corners]
