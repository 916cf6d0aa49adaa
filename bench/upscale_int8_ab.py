"""Upscale's int8 frame, the fifth pass's path against the head's, alternated frame by frame in one process
(a shared machine's load swings 2-4x within minutes, so only interleaved ratios mean anything there).

    .venv/bin/python bench/upscale_int8_ab.py [--compare passes|last-conv] [--net fresh|acting|trained] \
        [--part whole|net] [--threads 2] [--frames 3] [--rounds 10]

"before" is the int8 path as the fifth pass left it (docs/benchmarks.md): its net exported with the pixel
shuffle's own channel order (a layout reorder before the closing transpose), compiled once by OpenVINO
for any input size (`runtime._compile_openvino`: the first convolution's bias add a separate pass), its
output copied out of the runtime's buffer. "after" is `UpscaleHead.upscale` as it is. With `--compare
last-conv` both are the head's path as it is, "before" with the first and last convolutions float, "after"
with the first alone (quantize.FLOAT_CONVS). Both run the whole
frame as a fix does (bicubic base, int8 net, sum and clip; 960x540 in, 1080p out, speed.py's camera move
over a real photo), calibrated and checked the same way; the compile, quantisation and check happen
before the timing. `--part net` times the int8 net's call alone (the runner the head gets), `whole` (default)
`UpscaleHead.upscale`. Each round upscales every frame once each way, the order alternating by round; prints
the median ms per frame each way and the median of the per-round ratios, the int8 scheme each took, the
largest output difference between the two, and the load before and after; the same goes to
bench/out/upscale_int8_ab_<compare>_<net>_<part>.json and .md.
Nets: `fresh` (the head's own, last layer zero: its cost, not its output), `acting` (every weight small
and non-zero, tests/engine/upscale_nets.py), `trained` (the default config fitted 60 steps on crops of
two photos: a correction like a trained net's, for the scheme the check picks and the difference).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, md_table, write_json

from engine import synth
from engine.baselines.restore import downscale
from engine.heads import get_head, upscale_fast
from engine.infer import runtime
from engine.infer.runtime import TensorFn


def before_forward(net: torch.nn.Module) -> TensorFn:
    """The fifth pass's `upscale_fast.runtime_forward` (the pixel shuffle's channel order kept)."""
    body = net.body
    shuffle, last, first = body[-1], body[-2], body[0]
    r = int(shuffle.upscale_factor)
    c = int(last.out_channels) // (r * r)
    u = int(first.downscale_factor) if isinstance(first, torch.nn.PixelUnshuffle) else 1

    def forward(x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        h, w = h // u, w // u
        for layer in list(body)[:-1]:
            x = layer(x)
        nhwc = x.reshape(n, c, r, r, h, w).permute(0, 4, 2, 5, 3, 1)
        return nhwc.reshape(n, h * r, w * r, c).permute(0, 3, 1, 2)

    return forward


@contextmanager
def path(which: str, compare: str = "passes") -> Iterator[None]:
    """The head's int8 path (`after`) or the fifth pass's (`before`) for a block; with `compare` last-conv
    the head's path with the last convolution int8 (`after`) or float (`before`)."""
    if compare == "last-conv":
        kept = upscale_fast.FLOAT_CONVS
        upscale_fast.FLOAT_CONVS = ("first", "last") if which == "before" else ("first",)
        try:
            yield
        finally:
            upscale_fast.FLOAT_CONVS = kept
        return
    forward, compiler = upscale_fast.runtime_forward, runtime._INT8_COMPILERS["openvino"]
    if which == "before":
        upscale_fast.runtime_forward = before_forward
        runtime._INT8_COMPILERS["openvino"] = runtime._compile_openvino
    try:
        yield
    finally:
        upscale_fast.runtime_forward, runtime._INT8_COMPILERS["openvino"] = forward, compiler


def make_net(kind: str) -> torch.nn.Module:
    head: Any = get_head("upscale")
    if kind == "acting":
        from tests.engine.upscale_nets import acting_upscale_net

        return acting_upscale_net()
    torch.manual_seed(0)
    net = head.build(head.default_config())
    if kind == "trained":
        photos = [synth.camera_move(synth.photo(p), 1, (320, 200))[0] for p in ("astronaut", "coffee")]
        frames = np.stack(photos)
        opt = torch.optim.Adam(net.parameters(), lr=3e-3)
        rng = np.random.default_rng(0)
        for _ in range(60):
            ex = [head.sample(frames, rng, 48) for _ in range(8)]
            batch = {k: torch.from_numpy(np.stack([e[k] for e in ex])) for k in ("lr", "target")}
            loss = head.loss(net, batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


class Log(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "int8" in record.getMessage():
            self.lines.append(record.getMessage()[:110])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compare", choices=("passes", "last-conv"), default="passes")
    ap.add_argument("--net", choices=("fresh", "acting", "trained"), default="fresh")
    ap.add_argument("--part", choices=("whole", "net"), default="whole")
    ap.add_argument("--threads", type=int, default=2, help="the runtime's threads (RUSHES_INFER_THREADS)")
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args()
    head: Any = get_head("upscale")
    net = make_net(args.net)
    clip = synth.camera_move(synth.photo("astronaut"), args.frames, (1920, 1080))
    frames = [np.ascontiguousarray(downscale(f)) for f in clip]
    log = Log()
    logging.getLogger("engine.infer.runtime").addHandler(log)
    logging.getLogger("engine.infer.runtime").setLevel(logging.INFO)
    load_before = os.getloadavg()[0]
    ways = ("before", "after")
    outs: dict[str, list[np.ndarray]] = {}
    schemes: dict[str, list[str]] = {}
    with runtime.using(threads=args.threads):
        for way in ways:
            with path(way, args.compare):
                n = len(log.lines)
                outs[way] = [head.upscale(net, f, int8=True) for f in frames]
                schemes[way] = log.lines[n:]
        ms: dict[str, list[float]] = {w: [] for w in ways}
        ratios = []
        for r in range(args.rounds):
            per_round = {}
            for way in ways if r % 2 == 0 else ways[::-1]:
                with path(way, args.compare):
                    runner = upscale_fast.int8_runner(head.forward, net, frames[0])
                    assert runner is not None, "the int8 net was refused: see the log"
                    t = time.perf_counter()
                    for f in frames:
                        if args.part == "net":
                            runner(f[None])
                        else:
                            head.upscale(net, f, int8=True)
                    per_round[way] = 1000 * (time.perf_counter() - t) / len(frames)
                ms[way].append(per_round[way])
            ratios.append(per_round["before"] / per_round["after"])
    report = {
        "compare": args.compare,
        "net": args.net,
        "part": args.part,
        "threads": args.threads,
        "ms_per_frame": {w: [round(v, 1) for v in ms[w]] for w in ways},
        "median_ms_per_frame": {w: round(statistics.median(ms[w]), 1) for w in ways},
        "median_speedup_after": round(statistics.median(ratios), 3),
        "speedup_range": [round(min(ratios), 3), round(max(ratios), 3)],
        "int8_log": schemes,
        "max_output_difference": max(
            float(np.abs(a - b).max()) for a, b in zip(outs["before"], outs["after"], strict=True)
        ),
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }
    print(json.dumps(report, indent=1))
    name = f"upscale_int8_ab_{args.compare}_{args.net}_{args.part}"
    write_json(OUT / f"{name}.json", report)
    rows = [[w, report["median_ms_per_frame"][w], " / ".join(report["int8_log"][w]) or "-"] for w in ways]
    text = (
        f"# Upscale int8 A/B: {args.compare}, {args.net} net, {args.part}, {args.threads} threads\n\n"
        + md_table(["path", "median ms per frame", "int8 log"], rows)
        + f"\n\nafter's speed-up: {report['median_speedup_after']}x (per-round range "
        f"{report['speedup_range'][0]}-{report['speedup_range'][1]}), largest output difference "
        f"{report['max_output_difference']:.2g}, load {load_before:.1f} -> {report['load_after']:.1f}\n"
    )
    (OUT / f"{name}.md").write_text(text)


if __name__ == "__main__":
    main()
