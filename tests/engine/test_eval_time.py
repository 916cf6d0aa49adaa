"""What evaluation cost last time plans the next run's: per head its longest whole clip and its time per frame,
kept with a parent counted twice until one is timed, shrinking by at most a fifth a run; the reserve never drops
below one frame of every head."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engine import synth
from engine.options import TrainOptions
from engine.train import TrainClip, TrainSettings, train
from engine.train.eval_time import HeadCost, HeadCosts, eval_reserve


def test_the_reserve_never_drops_below_one_frame_of_every_head() -> None:
    assert eval_reserve(100.0, 0.25, None, least=10.0) == 25.0
    assert eval_reserve(10.0, 0.25, None, least=8.0) == 8.0  # above the 60% cap: the smallest score wins
    assert eval_reserve(5.0, 0.25, None, least=8.0) == 5.0  # never more than is left


def test_head_costs_are_kept_per_head_doubled_for_a_new_parent_and_shrink_slowly(tmp_path: Path) -> None:
    path = tmp_path / "evaluation-head-seconds.json"
    alone = HeadCosts(path, "denoise,upscale@64")
    assert alone.known() == {}
    alone.remember({"denoise": HeadCost(clip=4.0, frame=1.5), "upscale": HeadCost(clip=0.4, frame=0.1)})
    assert alone.known()["denoise"] == HeadCost(4.0, 1.5)
    assert HeadCosts(path, "denoise,upscale+parent@64").known()["denoise"] == HeadCost(8.0, 3.0)
    alone.remember({"denoise": HeadCost(clip=0.0, frame=0.5)})  # scored on one frame: no whole clip seen
    assert alone.known()["denoise"] == HeadCost(4.0, 1.2)  # the clip kept, the frame down by a fifth only
    path.write_text("{broken")
    assert alone.known() == {}


def test_a_run_times_each_heads_scoring_for_the_next(tmp_path: Path) -> None:
    clips = [
        TrainClip(
            id=f"s{i}", content_hash=f"h{i}", frames=synth.camera_move(synth.photo(n), 6, (80, 64), seed=i)
        )
        for i, n in enumerate(("astronaut", "coffee", "chelsea"))
    ]
    options = TrainOptions(budget_seconds=600, device="cpu", resolution=64, holdout_fraction=0.34)
    settings = TrainSettings(max_steps=2, batch_size=2, crop=32, cache_dir=tmp_path / "cache")
    result = train(clips, options, tmp_path / "v1", heads=["denoise", "upscale"], settings=settings)
    assert result.version is not None
    kept = json.loads((tmp_path / "cache" / "evaluation-head-seconds.json").read_text())
    costs = kept["denoise,upscale@64"]
    assert set(costs) == {"denoise", "upscale"}
    assert all(c["clip"] >= c["frame"] > 0 for c in costs.values())
    scores = json.loads((tmp_path / "cache" / "baseline-scores.json").read_text())
    assert len(scores) == int(result.metrics["denoise"]["frames"])  # NL-means kept once per held-out frame
    assert np.isfinite(result.metrics["denoise"]["psnr_nlmeans"])
