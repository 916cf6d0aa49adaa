"""A data-parallel rank (engine.train.parallel) trains every part of a head's loss, inside DDP: regrade's
no-reference part too, whose parameters its net's forward does not reach."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from engine import synth
from engine.heads.regrade import RegradeNet
from engine.options import TrainOptions
from engine.train import TrainClip, TrainSettings, train
from engine.train.parallel import DataParallel


@pytest.fixture
def one_rank(tmp_path: Path) -> Iterator[DataParallel]:
    """A process group of this process alone (gloo, as CPU ranks run): DDP's bookkeeping is that of any rank."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'group'}", rank=0, world_size=1)
    try:
        yield DataParallel.from_process_group()
    finally:
        dist.destroy_process_group()


def test_a_data_parallel_rank_trains_regrades_no_reference_part(
    tmp_path: Path, one_rank: DataParallel
) -> None:
    clips = [
        TrainClip(id=f"shot{i}", frames=synth.camera_move(synth.photo(p), 6, (80, 64), seed=i))
        for i, p in enumerate(("astronaut", "coffee", "chelsea"))
    ]
    result = train(
        clips,
        TrainOptions(budget_seconds=600, device="cpu", resolution=64, holdout_fraction=0.34),
        tmp_path / "v1",
        heads=["denoise", "regrade"],
        settings=TrainSettings(max_steps=3, batch_size=2, crop=32, cache_dir=tmp_path / "cache"),
        parallel=one_rank,
    )
    assert result.version is not None and result.steps == {"denoise": 3, "regrade": 3}
    net = result.version.model.net("regrade")
    assert isinstance(net, RegradeNet)
    inverse = net.inverse
    assert float(inverse.look_seen) > 0  # it learned the show's look from the clean thumbnails
    last = inverse.mlp[2]
    assert isinstance(last, torch.nn.Linear)
    assert last.weight.abs().sum() > 0  # the correction's last layer starts at zero: it trained
