"""A head that fell over in training keeps the weights of its best stretch (engine.train.fallback), so a version
is not the wreck of a run that went well for hours."""

from __future__ import annotations

import logging
import statistics
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import torch

from engine import synth
from engine.options import TrainOptions
from engine.train import TrainClip, TrainSettings, loop, train
from engine.train.fallback import BestStretch


def _clips() -> list[TrainClip]:
    return [
        TrainClip(
            id=f"shot{i}", content_hash=f"h{i}", frames=synth.camera_move(synth.photo(n), 6, (80, 64), seed=i)
        )
        for i, n in enumerate(("astronaut", "coffee", "chelsea"))
    ]


def test_a_window_that_is_the_best_so_far_asks_for_the_weights() -> None:
    stretch = BestStretch(window=2, ratio=1.5)
    assert [stretch.add(x) for x in (4.0, 2.0)] == [False, True]  # the first full window is the best so far
    assert [stretch.add(x) for x in (1.0, 1.0)] == [False, True]  # a better one
    assert [stretch.add(x) for x in (1.2, 1.2)] == [False, False]  # a worse one
    assert stretch.best == 1.0 and stretch.last == 1.2 and not stretch.fell()


def test_a_head_fell_when_its_last_window_stays_far_above_its_best() -> None:
    stretch = BestStretch(window=2, ratio=1.5)
    for x in (0.02, 0.02, 0.016, 0.016, 0.037, 0.037):
        stretch.add(x)
    assert stretch.fell()
    stretch.add(0.017)
    assert stretch.fell()  # a window not yet full says nothing
    stretch.add(0.017)
    assert not stretch.fell()  # it came back


def test_nothing_fell_before_a_full_window() -> None:
    stretch = BestStretch(window=3)
    stretch.add(1.0)
    stretch.add(9.0)
    assert not stretch.fell() and stretch.best is None


def knocked_over_at_15(monkeypatch: pytest.MonkeyPatch) -> tuple[list[dict[str, torch.Tensor]], list[float]]:
    """Windows of 3 reports (of 1 step each), and the head's weights knocked far off before its 16th step (what
    the base's head did by itself near step 4,000): (the net's state before each step, each step's loss)."""
    monkeypatch.setattr(loop, "BestStretch", partial(BestStretch, window=3))
    before: list[dict[str, torch.Tensor]] = []
    losses: list[float] = []
    step = loop._step

    def knocked_over(objective: loop.HeadLoss, *args: object, **kw: object) -> float:
        if len(before) == 15:
            with torch.no_grad():
                for p in objective.net.parameters():
                    p.add_(torch.randn_like(p) * 0.5)
        before.append({k: v.detach().clone().contiguous() for k, v in objective.net.state_dict().items()})
        losses.append(step(objective, *args, **kw))  # type: ignore[arg-type]
        return losses[-1]

    monkeypatch.setattr(loop, "_step", knocked_over)
    return before, losses


KNOCKED_OPTIONS = TrainOptions(budget_seconds=600, device="cpu", resolution=64, holdout_fraction=0.34)


def knocked_settings(tmp_path: Path, **more: Any) -> TrainSettings:
    """30 one-step reports of a small denoise run, with no gradient limit to soften the knock."""
    return TrainSettings(
        max_steps=30,
        batch_size=2,
        crop=32,
        progress_every=1,
        gradient_limit=None,
        cache_dir=tmp_path / "cache",
        **more,
    )


@pytest.mark.parametrize("averaged", [False, True])
def test_a_head_that_fell_over_keeps_its_best_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, averaged: bool
) -> None:
    """A denoise head trains 15 steps, then its weights are knocked far off (what the base's head did by
    itself near step 4,000) and 15 more steps cannot bring it back: the version keeps the weights its best
    window of reported losses started from, not the wreck. So does a head that keeps a running average of its
    weights (upscale's): the average holds the fall too."""
    before, losses = knocked_over_at_15(monkeypatch)
    clips = _clips()
    settings = knocked_settings(tmp_path, weight_averages={"denoise": 0.999} if averaged else {})
    options = KNOCKED_OPTIONS
    with caplog.at_level(logging.WARNING, logger="engine.train.loop"):
        result = train(clips, options, tmp_path / "v1", heads=["denoise"], settings=settings)
    assert result.version is not None
    fell = [r.getMessage() for r in caplog.records if "fell over" in r.getMessage()]
    assert len(fell) == 1 and "keeps the weights of that stretch" in fell[0]
    best = min(range(0, 30, 3), key=lambda start: statistics.median(losses[start : start + 3]))
    assert best < 15  # a window before the knock
    kept = result.version.model.net("denoise").state_dict()
    assert all(torch.equal(kept[k], before[best][k]) for k in kept)  # the weights that window started from


def test_a_head_that_keeps_learning_keeps_its_last_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Three windows of 20 one-step reports (a run's windows are 20 reports), no knock: no warning, and the
    version is the last step's weights."""
    clips = _clips()
    settings = TrainSettings(
        max_steps=60, batch_size=2, crop=32, progress_every=1, cache_dir=tmp_path / "cache"
    )
    options = TrainOptions(budget_seconds=600, device="cpu", resolution=64, holdout_fraction=0.34)
    last: list[dict[str, torch.Tensor]] = []
    step = loop._step

    def record(objective: loop.HeadLoss, *args: object, **kw: object) -> float:
        loss = step(objective, *args, **kw)  # type: ignore[arg-type]
        last[:] = [{k: v.detach().clone().contiguous() for k, v in objective.net.state_dict().items()}]
        return loss

    monkeypatch.setattr(loop, "_step", record)
    with caplog.at_level(logging.WARNING, logger="engine.train.loop"):
        result = train(clips, options, tmp_path / "v1", heads=["denoise"], settings=settings)
    assert result.version is not None
    assert not [r for r in caplog.records if "fell over" in r.getMessage()]
    kept = result.version.model.net("denoise").state_dict()
    assert all(torch.equal(kept[k], last[0][k]) for k in kept)


def test_a_run_resumed_after_its_head_fell_over_keeps_the_best_stretch_from_before_the_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The knock of the test above at step 15, the run stopped at step 21 (a crash, or a base run paused) and
    resumed: the best stretch and its weights come from the checkpoint, so the version keeps them. Without them
    the resumed run's first window, of the wreck, is its best and nothing is kept."""
    before, losses = knocked_over_at_15(monkeypatch)
    settings, options = knocked_settings(tmp_path), KNOCKED_OPTIONS
    first = train(
        _clips(),
        options,
        tmp_path / "v1",
        heads=["denoise"],
        settings=settings,
        stop=lambda: len(before) >= 21,
    )
    assert first.stopped and len(before) == 21
    with caplog.at_level(logging.WARNING, logger="engine.train.loop"):
        resumed = train(_clips(), options, tmp_path / "v1", heads=["denoise"], settings=settings)
    assert resumed.resumed and resumed.version is not None and len(before) == 30
    assert [r for r in caplog.records if "fell over" in r.getMessage()]
    best = min(range(0, 30, 3), key=lambda start: statistics.median(losses[start : start + 3]))
    assert best < 15
    kept = resumed.version.model.net("denoise").state_dict()
    assert all(torch.equal(kept[k], before[best][k]) for k in kept)
