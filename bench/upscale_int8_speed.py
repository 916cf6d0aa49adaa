"""Upscale's int8 and float nets on each inference runtime, side by side in one process, interleaved (a
shared machine's load swings 2-4x between runs, so separate runs cannot show a 1.3-1.8x difference).

    .venv/bin/python bench/upscale_int8_speed.py [--frames 3] [--rounds 6] [--net state_dict.pt] \
        [--variants float/openvino,int8/openvino,int8-asymmetric/openvino,int8/onnxruntime] [--threads 1,2]

Frames: speed.py's 1920x1080 camera move over a real photo, box-downscaled to 960x540 (1080p out). A
variant is precision/backend: `float`, `int8` (the head's default: symmetric activations, asymmetric when
the check refuses them) or `int8-<scheme>` (one activation scheme of quantize.SCHEMES only), on
`openvino` or `onnxruntime`; each runs at every --threads count. Every round times Head.apply on the
frames once per variant and thread count (whole frames: bicubic base, net, sum and clip), in an order
that rotates each round; all are warmed up first (export, quantisation, compile and the int8 check
outside every figure; the runtime's cache is widened to hold every variant's compiled net, as a fix
holds its one). Prints frames/s per round and the medians, each variant's median ratio to the
first, the int8 scheme each variant ran (from the runtime's log), the load before and after, and each
variant's largest output difference from the first. Fresh nets by default: the weights do not change
the cost, but a trained net (--net) is what the int8 check was made for.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import synth
from engine.baselines.restore import downscale
from engine.heads import get_head, upscale_fast
from engine.infer import runtime
from engine.infer.quantize import SCHEMES


@dataclass(frozen=True)
class Variant:
    precision: str  # float | int8 | int8-<scheme>
    backend: str
    threads: int

    @property
    def label(self) -> str:
        return f"{self.precision}/{self.backend}/{self.threads}t"

    @contextmanager
    def active(self) -> Iterator[dict[str, Any]]:
        """The runtime settings and int8 schemes of this variant for a block; yields apply's params."""
        scheme = self.precision.removeprefix("int8-") if self.precision.startswith("int8-") else ""
        schemes = upscale_fast.SCHEMES
        upscale_fast.SCHEMES = (scheme,) if scheme else schemes
        try:
            with runtime.using(backend=self.backend, threads=self.threads):
                yield {"int8": self.precision != "float"}
        finally:
            upscale_fast.SCHEMES = schemes


def parse_variants(text: str, threads: str) -> list[Variant]:
    out = []
    for item in (v.strip() for v in text.split(",") if v.strip()):
        precision, _, backend = item.partition("/")
        known = ("float", "int8", *(f"int8-{s}" for s in SCHEMES))
        if precision not in known or backend not in ("openvino", "onnxruntime"):
            sys.exit(f"variant {item!r} is not known: use precision/backend, precision one of {known}")
        runtime.resolve_backend(backend)  # one clear line when that runtime is not installed
        out += [Variant(precision, backend, int(t)) for t in threads.split(",")]
    return out


class Ready(logging.Handler):
    """The runtime's "int8 <backend> (<scheme>) ready" and "refused" lines, kept for the report."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "int8" in record.getMessage():
            self.lines.append(record.getMessage()[:120])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--net", type=Path, default=None, help="state_dict from bench/upscale_study.py --save")
    ap.add_argument(
        "--variants", default="float/openvino,int8/openvino,int8-asymmetric/openvino,int8/onnxruntime"
    )
    ap.add_argument("--threads", default="2", help="comma-separated runtime thread counts, e.g. 1,2")
    args = ap.parse_args()
    variants = parse_variants(args.variants, args.threads)
    runtime.CACHE_SIZE = max(runtime.CACHE_SIZE, 2 * len(variants))  # every variant's net stays compiled
    head: Any = get_head("upscale")
    net = head.build(head.default_config())
    if args.net:
        net.load_state_dict(torch.load(args.net, weights_only=True))
    net.eval()
    clip = synth.camera_move(synth.photo("astronaut"), args.frames, (1920, 1080))
    frames = [(i, np.ascontiguousarray(downscale(f))) for i, f in enumerate(clip)]
    ready = Ready()
    logging.getLogger("engine.infer.runtime").addHandler(ready)
    logging.getLogger("engine.infer.runtime").setLevel(logging.INFO)
    load_before = os.getloadavg()[0]
    outs: dict[str, list[np.ndarray]] = {}
    schemes: dict[str, list[str]] = {}
    for v in variants:
        before = len(ready.lines)
        with v.active() as params:
            outs[v.label] = [f for _, f in head.apply(net, frames, params)]
        schemes[v.label] = ready.lines[before:]
    first = variants[0].label
    fps: dict[str, list[float]] = {v.label: [] for v in variants}
    for r in range(args.rounds):
        for v in variants[r % len(variants) :] + variants[: r % len(variants)]:
            with v.active() as params:
                t = time.perf_counter()
                sum(1 for _ in head.apply(net, frames, params))
                fps[v.label].append(len(frames) / (time.perf_counter() - t))
    medians = {k: statistics.median(f) for k, f in fps.items()}
    report = {
        "fps": fps,
        "median_fps": medians,
        "median_ratio_to_first": {
            k: statistics.median(a / b for a, b in zip(f, fps[first], strict=True)) for k, f in fps.items()
        },
        "int8_log": schemes,
        "max_output_difference_from_first": {
            k: max(float(np.abs(a - b).max()) for a, b in zip(o, outs[first], strict=True))
            for k, o in outs.items()
        },
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
