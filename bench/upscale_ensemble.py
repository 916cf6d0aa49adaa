"""Upscale's self-ensemble, orientation by orientation: how much of the 8-way mean's gain fewer turned copies
keep, and how the net's correction scaled by a gain scores, on the protocol's held-out frames.

    .venv/bin/python bench/upscale_ensemble.py --footage ../shared/footage --protocol clips \
        --version show=/tmp/a/base-run/clips-base --version scratch=/tmp/a/base-run/clips-scratch

Each held-out frame (at the footage's own size, split as bench/upscale_versions.py splits it: up to 8 frames
a shot) is box-downscaled 2x and its net correction computed once in each of the 8 orientations (quarter
turns, mirrored; engine.heads.orientation.ORIENTATIONS), each turned back. Then every ensemble is scored from
those: the first 1, 2, 4 and 8 orientations (what the head's `ensemble` apply parameter takes), and the
identity paired with each other orientation. `--gains` scales the ensemble's mean correction before it is
added to bicubic (1: the head as it fixes). Margins are dB over the best of Lanczos/bicubic on the same
frames, the mean over frames (so over shots alike). Writes bench/out/upscale_ensemble.json and .md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, machine, md_table, write_json
from upscale_versions import held_out, protocol_options

from engine.baselines.restore import downscale, upscale_bicubic, upscale_lanczos
from engine.heads import get_head
from engine.heads.base import as_float, eval_indices
from engine.heads.orientation import ORIENTATIONS
from engine.heads.upscale import BORDER, DEGRADATION, UpscaleHead, _inner
from engine.metrics import psnr
from engine.model import load_model


def ensembles() -> dict[str, list[int]]:
    """Name -> indices into ORIENTATIONS: the prefixes the head runs, then the identity with each other one."""
    named = {f"first {n}": list(range(n)) for n in (1, 2, 4, 8)}
    for i, (turns, flip) in enumerate(ORIENTATIONS[1:], start=1):
        named[f"identity + {90 * turns} deg{' mirrored' if flip else ''}"] = [0, i]
    return named


def score_version(
    head: UpscaleHead, net: torch.nn.Module, shots: list[np.ndarray], gains: list[float]
) -> dict[str, float]:
    """Margin of each ensemble at each gain over the best of Lanczos/bicubic, over every scored frame."""
    named = ensembles()
    sums: dict[str, list[float]] = {f"{k} @ {g:g}": [] for k in named for g in gains}
    lanczos, bicubic = [], []
    for shot in shots:
        for t in eval_indices(len(shot), int(head.default_config()["eval_frames"])):
            hr = as_float(shot[t])
            hr = hr[: hr.shape[0] // 2 * 2, : hr.shape[1] // 2 * 2]
            lr = downscale(hr, 2, DEGRADATION)
            with torch.no_grad():  # the float net, as evaluate() runs it
                parts = [head.turned_correction(net, lr, o) for o in ORIENTATIONS]
            base = cv2.resize(lr, (hr.shape[1], hr.shape[0]), interpolation=cv2.INTER_CUBIC)
            truth = _inner(hr, BORDER)
            for name, idx in named.items():
                mean = sum(parts[i] for i in idx) / len(idx)
                for g in gains:
                    out = np.clip(base + g * mean, 0.0, 1.0)
                    sums[f"{name} @ {g:g}"].append(psnr(_inner(out, BORDER), truth))
            lanczos.append(psnr(_inner(upscale_lanczos(lr), BORDER), truth))
            bicubic.append(psnr(_inner(upscale_bicubic(lr), BORDER), truth))
    best = max(float(np.mean(lanczos)), float(np.mean(bicubic)))
    return {k: float(np.mean(v)) - best for k, v in sums.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    protocol_options(ap)
    ap.add_argument(
        "--gains", default="1", help="comma list of gains on the mean correction (1: as fixes run)"
    )
    ap.add_argument("--out", type=Path, default=OUT, help="folder of the decoded-frame cache")
    args = ap.parse_args()
    gains = [float(g) for g in args.gains.split(",") if g]
    head = get_head("upscale")
    assert isinstance(head, UpscaleHead)
    shots = held_out(args)["own size"].holdout
    data: dict[str, dict[str, float]] = {}
    for spec in args.version:
        tag, _, folder = spec.partition("=")
        net = load_model(folder).model.net("upscale").eval()
        data[tag] = score_version(head, net, shots, gains)
        print(tag, {k: round(v, 2) for k, v in data[tag].items()}, flush=True)
    tags = list(data)
    rows = [[key, *(f"{data[t][key]:+.2f}" for t in tags)] for key in data[tags[0]]]
    report = (
        f"# Upscale's self-ensemble on the same held-out frames (`{args.protocol}`, own size)\n\n"
        f"Margin over the best of Lanczos/bicubic, dB; `ensemble @ gain`.\n\n"
        f"{md_table(['ensemble @ gain', *tags], rows)}\n"
    )
    write_json(OUT / "upscale_ensemble.json", {"args": vars(args), "machine": machine(), "scores": data})
    (OUT / "upscale_ensemble.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
