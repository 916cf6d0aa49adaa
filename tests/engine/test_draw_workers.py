"""engine.train.draw_workers: batches drawn by worker processes are the same whatever their number, a checkpoint
resumes them, and a failed draw reaches the step that wanted that batch."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from engine import synth
from engine.options import TrainOptions
from engine.train import TrainClip, TrainResult, TrainSettings, train
from engine.train.draw_workers import WorkerBatches

CPU = torch.device("cpu")
# the batch workers fork: not from a test worker holding other tests' threads
pytestmark = pytest.mark.fresh_interpreter


def draw(rng: np.random.Generator) -> dict[str, torch.Tensor]:
    return {"x": torch.from_numpy(rng.random(4))}


def taken(source: WorkerBatches, n: int) -> list[np.ndarray]:
    return [source.next()["x"].numpy() for _ in range(n)]


def seeds(rng: np.random.Generator, n: int) -> list[int]:
    return [int(rng.integers(0, 2**63 - 1)) for _ in range(n)]


@pytest.mark.parametrize("workers", [1, 2])
def test_each_batch_is_drawn_from_its_own_seed_in_step_order_whatever_the_workers(workers: int) -> None:
    with WorkerBatches(draw, np.random.default_rng(5), workers, CPU) as source:
        got = taken(source, 7)
    expected = [draw(np.random.default_rng(s))["x"].numpy() for s in seeds(np.random.default_rng(5), 7)]
    assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))


def test_the_saved_state_stands_before_the_next_batch_so_a_resumed_run_draws_it_again() -> None:
    with WorkerBatches(draw, np.random.default_rng(1), 2, CPU) as source:
        straight = taken(source, 6)
    with WorkerBatches(draw, np.random.default_rng(1), 2, CPU) as source:
        taken(source, 4)  # the workers have drawn further ahead by now
        state = source.state
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    with WorkerBatches(draw, rng, 1, CPU) as resumed:
        again = taken(resumed, 2)
    assert all(np.array_equal(a, b) for a, b in zip(again, straight[4:], strict=True))


class ClipUnreadable(Exception):
    def __init__(self, message: str, clip_id: str) -> None:
        super().__init__(message, clip_id)
        self.clip_id = clip_id

    def __str__(self) -> str:
        return str(self.args[0])


def test_a_draws_error_is_raised_as_it_was_by_the_step_that_wanted_that_batch_and_the_workers_stop() -> None:
    bad = np.random.default_rng(seeds(np.random.default_rng(0), 2)[1]).random()

    def failing(rng: np.random.Generator) -> dict[str, torch.Tensor]:
        value = rng.random()
        if value == bad:
            raise ClipUnreadable("clip 7 is unreadable", "clip-7")
        return {"x": torch.tensor([value])}

    others = set(multiprocessing.active_children())  # any that another test left
    source = WorkerBatches(failing, np.random.default_rng(0), 2, CPU)
    before = source.state
    source.next()
    after_first = source.state
    assert after_first != before
    with pytest.raises(ClipUnreadable) as info:
        source.next()
    assert (
        str(info.value) == "clip 7 is unreadable" and info.value.clip_id == "clip-7"
    )  # not the worker's text
    assert source.state == after_first  # a checkpoint now would draw the failed batch again
    assert set(multiprocessing.active_children()) - others
    source.close()  # the error's traceback still holds the source: the workers stop all the same
    assert not set(multiprocessing.active_children()) - others


def _clips() -> list[TrainClip]:
    return [
        TrainClip(id=f"shot{i}", frames=synth.camera_move(synth.photo(p), 6, (80, 64), seed=i))
        for i, p in enumerate(("astronaut", "coffee", "chelsea"))
    ]


def _train(tmp_path: Path, folder: str, workers: int, heads: list[str], **kw: Any) -> TrainResult:
    settings = TrainSettings(
        max_steps=6,
        batch_size=2,
        crop=32,
        cache_dir=tmp_path / "cache",
        checkpoint_seconds=0.01,
        draw_workers=workers,
    )
    options = TrainOptions(budget_seconds=600, device="cpu", resolution=64, holdout_fraction=0.34)
    return train(_clips(), options, tmp_path / folder, heads=heads, settings=settings, **kw)


def _weights(result: TrainResult) -> dict[str, torch.Tensor]:
    assert result.version is not None
    return result.version.model.state_dict()


def test_training_with_drawing_workers_gives_the_same_weights_whatever_their_number_and_resumes(
    tmp_path: Path,
) -> None:
    heads = ["denoise", "upscale"]  # their sampling keeps nothing between calls
    one, two = _train(tmp_path, "one", 1, heads), _train(tmp_path, "two", 2, heads)
    calls = {"n": 0}

    def stop_after_4() -> bool:
        calls["n"] += 1
        return calls["n"] > 4

    first = _train(tmp_path, "resumed", 2, heads, stop=stop_after_4)
    assert first.stopped and first.steps == {"denoise": 4, "upscale": 0}
    resumed = _train(tmp_path, "resumed", 2, heads)
    assert resumed.resumed
    weights = [_weights(r) for r in (one, two, resumed)]
    for k in weights[0]:
        assert torch.equal(weights[0][k], weights[1][k]), k
        assert torch.allclose(weights[0][k], weights[2][k], atol=1e-6), k


def test_a_head_that_keeps_a_pool_of_examples_trains_the_same_again_with_the_same_workers(
    tmp_path: Path,
) -> None:
    a, b = (_train(tmp_path, f"run{i}", 2, ["interpolate"]) for i in range(2))
    assert a.steps == {"interpolate": 6}
    wa, wb = _weights(a), _weights(b)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
