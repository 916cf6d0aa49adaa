"""Regrade's training step with the look's quantiles read by selection, against torch.quantile's sorts.

    .venv/bin/python bench/regrade_step.py --footage ../shared/footage [--rounds 6] [--steps 10] [--threads 2]

Regrade's no-reference part fits each example's grade error to the show's look (engine.heads.regrade_inverse
`fit_to_look`: Levenberg-Marquardt steps, each reading the look's statistics of every thumbnail six times), and
those statistics are quantiles. Two copies of the same fresh net and Adam train on the same batches
(engine.train.loop.make_batch, cut once from a real clip at the training resolution), one with
`regrade_inverse.quantiles` (topk and kthvalue), one with it replaced by torch.quantile (what it was before), in
rounds of `--steps` that alternate the two so that the machine's load falls on both alike. Writes
bench/out/regrade_step.json and .md: CPU seconds a step of each (process time), their ratio, and the last losses
of both (the same values up to float rounding, so the fits and the losses match).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, footage_clips, machine, md_table, write_json

import engine.heads.regrade_inverse as inverse
from engine.heads import get_head
from engine.train import TrainClip, TrainSettings
from engine.train.dataset import load_clip
from engine.train.loop import make_batch

Quantiles = Callable[[torch.Tensor, Sequence[float]], torch.Tensor]


def by_sort(values: torch.Tensor, levels: Sequence[float]) -> torch.Tensor:
    return torch.quantile(values, torch.tensor(levels, dtype=values.dtype), dim=-1).movedim(0, -1)


def run(
    ways: dict[str, Quantiles], batches: list[dict[str, torch.Tensor]], rounds: int
) -> tuple[dict[str, float], dict[str, float]]:
    """CPU seconds a step of each way, and its last loss."""
    head = get_head("regrade")
    torch.manual_seed(0)
    nets = {w: head.build(head.default_config()) for w in ways}
    first = next(iter(nets.values()))
    for net in nets.values():
        net.load_state_dict(first.state_dict())
    opts = {w: torch.optim.Adam(n.parameters(), lr=TrainSettings().learning_rate) for w, n in nets.items()}
    seconds = dict.fromkeys(ways, 0.0)
    losses = dict.fromkeys(ways, 0.0)
    order = list(ways)
    for r in range(rounds + 1):  # the first round warms both up (oneDNN picks its kernels on first use)
        for way in order if r % 2 == 0 else order[::-1]:
            inverse.quantiles = ways[way]
            t0 = time.process_time()
            for batch in batches:
                loss = head.loss(nets[way], batch)
                opts[way].zero_grad(set_to_none=True)
                loss.backward()
                opts[way].step()
            if r:
                seconds[way] += time.process_time() - t0
            losses[way] = float(loss.detach())
    steps = rounds * len(batches)
    return {w: s / steps for w, s in seconds.items()}, losses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--footage", type=Path, default=Path("../shared/footage"))
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--resolution", type=int, default=256)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    path = footage_clips(args.footage)[0]
    clip = TrainClip(id=f"{path.parent.name}/{path.name}", path=path)
    frames = np.asarray(load_clip(clip, args.resolution, OUT / "cache", 30).frames)
    head, cfg = get_head("regrade"), TrainSettings()
    rng = np.random.default_rng(0)
    batches = [
        make_batch(head, [frames], rng, cfg.batch_size, cfg.crop, torch.device("cpu"))
        for _ in range(args.steps)
    ]
    ways: dict[str, Quantiles] = {"selection": inverse.quantiles, "torch.quantile": by_sort}
    per_step, losses = run(ways, batches, args.rounds)
    ratio = per_step["torch.quantile"] / per_step["selection"]
    data: dict[str, Any] = {
        "clip": clip.id,
        "threads": args.threads,
        "cpu_s_per_step": per_step,
        "speedup": ratio,
        "last_loss": losses,
        "machine": machine(),
    }
    write_json(OUT / "regrade_step.json", data)
    rows = [[w, f"{per_step[w]:.3f}", f"{losses[w]:.5f}"] for w in ways]
    text = "\n".join(
        [
            "# Regrade's training step: the look's quantiles by selection and by torch.quantile",
            "",
            f"`{' '.join(sys.argv)}`: {args.threads} torch threads, {args.rounds} rounds of {args.steps} steps "
            f"alternated, clip {clip.id}; load average {data['machine']['load_average'][0]:.1f} at the end.",
            "",
            md_table(["quantiles", "CPU s a step", "last loss"], rows),
            "",
            f"Selection takes {1 / ratio:.2f} of the CPU of torch.quantile's sorts a step ({ratio:.2f}x as many "
            "steps in the same CPU time).",
        ]
    )
    (OUT / "regrade_step.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
