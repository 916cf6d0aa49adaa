"""A training step's gradient limit (engine.train.clipping): one outlier batch, or one whose loss is not finite,
cannot knock over a head that was learning."""

from __future__ import annotations

import json
import logging
import math
from functools import partial
from pathlib import Path

import pytest
import torch

from engine import synth
from engine.heads import get_head
from engine.options import TrainOptions
from engine.train import TrainClip, TrainSettings, loop, train
from engine.train.checkpoint import STATE
from engine.train.clipping import NormLimit
from engine.train.loop import _step


def test_no_limit_while_a_head_warms_up_then_a_multiple_of_its_median() -> None:
    limit = NormLimit(factor=4.0, window=10, warmup=5)
    for norm in (1.0, 2.0, 3.0, 4.0):
        assert limit.limit() is None
        assert limit.record(norm, limit.limit())
    assert limit.limit() is None
    limit.record(100.0, limit.limit())  # an outlier moves the median little
    assert limit.limit() == 4.0 * 3.0
    assert limit.clipped == 0  # nothing was limited while warming up


def test_the_limit_follows_the_last_window_of_steps() -> None:
    limit = NormLimit(factor=2.0, window=4, warmup=4)
    for norm in (10.0, 10.0, 10.0, 10.0):
        limit.record(norm, limit.limit())
    assert limit.limit() == 20.0
    for norm in (1.0, 1.0, 1.0, 1.0):  # the head learned: its gradients shrank
        limit.record(norm, limit.limit())
    assert limit.limit() == 2.0
    assert len(limit.recent) == 4


def test_a_norm_over_the_limit_is_counted_and_one_not_finite_is_refused() -> None:
    limit = NormLimit(factor=2.0, window=8, warmup=2)
    limit.record(1.0, limit.limit())
    limit.record(1.0, limit.limit())
    assert limit.record(5.0, limit.limit())
    assert limit.clipped == 1
    assert not limit.record(math.nan, limit.limit())
    assert not limit.record(math.inf, limit.limit())
    assert limit.skipped == 2
    assert list(limit.recent) == [1.0, 1.0, 5.0]  # what was refused is not part of the median
    # a float16 run's scaler overflows by design now and then, and skips that step itself: not counted
    assert not limit.record(math.inf, limit.limit(), overflow_expected=True)
    assert limit.skipped == 2


class _Square(torch.nn.Module):
    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return ((self.net(batch["x"]) - batch["y"]) ** 2).mean()


def _trained(seed: int, limit: NormLimit | None) -> tuple[torch.nn.Module, torch.optim.Optimizer, _Square]:
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.LeakyReLU(0.1), torch.nn.Linear(16, 1))
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    objective = _Square(net)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(400):
        x = torch.rand(16, 4, generator=gen)
        _step(objective, opt, None, {"x": x, "y": x.sum(1, keepdim=True)}, torch.device("cpu"), None, limit)
    return net, opt, objective


def _held_out_loss(net: torch.nn.Module) -> float:
    x = torch.rand(256, 4, generator=torch.Generator().manual_seed(99))
    with torch.no_grad():
        return float(((net(x) - x.sum(1, keepdim=True)) ** 2).mean())


def _after_outlier(limit: NormLimit | None) -> tuple[float, float]:
    """The held-out loss of a net that learned, then took ten steps of a batch far off the others (a crop of a
    broken frame) at the head of its Adam momentum: before and after."""
    net, opt, objective = _trained(0, limit)
    before = _held_out_loss(net)
    x = torch.rand(16, 4, generator=torch.Generator().manual_seed(7)) * 1000.0
    outlier = {"x": x, "y": -x.sum(1, keepdim=True)}
    _step(objective, opt, None, outlier, torch.device("cpu"), None, limit)
    gen = torch.Generator().manual_seed(8)
    for _ in range(9):  # ordinary batches after it: Adam's momentum still carries the outlier
        x = torch.rand(16, 4, generator=gen)
        _step(objective, opt, None, {"x": x, "y": x.sum(1, keepdim=True)}, torch.device("cpu"), None, limit)
    return before, _held_out_loss(net)


def test_one_outlier_batch_does_not_undo_what_a_head_learned() -> None:
    before, after = _after_outlier(NormLimit())
    unlimited_before, unlimited_after = _after_outlier(None)
    assert math.isclose(unlimited_before, before, rel_tol=1e-5)  # the same net until the outlier
    assert unlimited_after > 5 * before  # without a limit the outlier undoes the training
    assert after < 2 * before


def test_a_batch_whose_loss_is_not_finite_takes_no_step() -> None:
    limit = NormLimit()
    net, opt, objective = _trained(1, limit)
    weights = [p.detach().clone() for p in net.parameters()]
    x = torch.rand(16, 4)
    x[0, 0] = math.nan
    loss = _step(
        objective, opt, None, {"x": x, "y": x.sum(1, keepdim=True)}, torch.device("cpu"), None, limit
    )
    assert math.isnan(loss)
    assert limit.skipped == 1
    assert all(torch.equal(w, p) for w, p in zip(weights, net.parameters(), strict=True))
    x = torch.rand(16, 4)
    _step(objective, opt, None, {"x": x, "y": x.sum(1, keepdim=True)}, torch.device("cpu"), None, limit)
    assert all(torch.isfinite(p).all() for p in net.parameters())


def test_a_resumed_run_limits_its_gradients_as_an_unbroken_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The recent norms the limit is taken from are in the checkpoint: a run stopped and resumed limits the
    same steps by the same amounts, and ends with the weights of the run that was never stopped."""
    monkeypatch.setattr(loop, "NormLimit", partial(NormLimit, warmup=2))  # limit from the third step on
    head = get_head("denoise")
    # the draws these 12 steps were written for (half on grain): with others, only one step of the 12 may pass
    # the limit, and the test could not tell a resumed run's restored norms from its own
    config = head.default_config()
    monkeypatch.setattr(head, "default_config", lambda: {**config, "grain_share": 0.5})
    clips = [
        TrainClip(
            id=f"shot{i}",
            content_hash=f"h{i}",
            frames=synth.camera_move(synth.photo(name), 6, (80, 64), seed=i),
        )
        for i, name in enumerate(("astronaut", "coffee", "chelsea"))
    ]
    options = TrainOptions(budget_seconds=600, device="cpu", resolution=64, holdout_fraction=0.34)

    def settings(**kw: object) -> TrainSettings:  # 1.05 x the median: about half the steps are limited
        base = {
            "max_steps": 12,
            "batch_size": 2,
            "crop": 32,
            "gradient_limit": 1.05,
            "checkpoint_seconds": 0.01,
        }
        return TrainSettings(**{**base, "cache_dir": tmp_path / "cache", **kw})

    calls = {"n": 0}

    def stop_after_7() -> bool:
        calls["n"] += 1
        return calls["n"] > 7

    first = train(clips, options, tmp_path / "v", heads=["denoise"], stop=stop_after_7, settings=settings())
    assert first.stopped and first.steps == {"denoise": 7}
    state = tmp_path / "v" / "checkpoint" / STATE
    saved = json.loads(state.read_text())
    assert len(saved["progress"]["denoise"]["norms"]) == 7
    saved["progress"]["denoise"]["a_later_field"] = 1  # what a later Rushes may add is left to it
    state.write_text(json.dumps(saved))
    caplog.clear()  # the stopped run's own line, where a test before left the logger at INFO
    with caplog.at_level(logging.INFO, logger="engine.train.loop"):
        resumed = train(clips, options, tmp_path / "v", heads=["denoise"], settings=settings())
    limited = [r.getMessage() for r in caplog.records if "had their gradient limited" in r.getMessage()]
    assert resumed.resumed and len(limited) == 1
    assert int(limited[0].split()[1]) >= 2  # steps before and after the stop were limited
    straight = train(clips, options, tmp_path / "w", heads=["denoise"], settings=settings())
    unlimited = train(
        clips, options, tmp_path / "u", heads=["denoise"], settings=settings(gradient_limit=None)
    )
    assert resumed.version and straight.version and unlimited.version
    wr, ws, wu = (r.version.model.state_dict() for r in (resumed, straight, unlimited))
    assert all(torch.allclose(ws[k], wr[k], atol=1e-6) for k in ws)
    assert not all(torch.allclose(ws[k], wu[k], atol=1e-6) for k in ws)  # the limit did change the steps
