"""engine.train.batches: drawing ahead changes nothing but when (and at what priority) a batch is drawn."""

from __future__ import annotations

import os
import sys
import threading

import numpy as np
import pytest
import torch

from engine.train.batches import BatchSource


def draw(rng: np.random.Generator) -> dict[str, torch.Tensor]:
    return {"x": torch.from_numpy(rng.random(4))}


def taken(source: BatchSource, n: int) -> list[np.ndarray]:
    return [source.next()["x"].numpy() for _ in range(n)]


@pytest.mark.parametrize("ahead", [0, 1, 3])
def test_the_batches_are_the_same_in_the_same_order_with_or_without_drawing_ahead(ahead: int) -> None:
    expected = [np.random.default_rng(3).random(4 * 6)[i * 4 : (i + 1) * 4] for i in range(6)]
    with BatchSource(draw, np.random.default_rng(3), ahead=ahead) as source:
        got = taken(source, 6)
    assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))


def test_the_saved_state_stands_before_the_batch_drawn_ahead_so_a_resumed_run_draws_it_again() -> None:
    with BatchSource(draw, np.random.default_rng(5), ahead=3) as source:
        taken(source, 3)
        state = source.state
        fourth = source.next()["x"].numpy()
    resumed = np.random.default_rng()
    resumed.bit_generator.state = state
    with BatchSource(draw, resumed, ahead=3) as again:
        assert np.array_equal(again.next()["x"].numpy(), fourth)


def test_an_error_while_drawing_ahead_is_raised_by_the_step_that_wanted_that_batch() -> None:
    calls = []

    def failing(rng: np.random.Generator) -> dict[str, torch.Tensor]:
        calls.append(1)
        if len(calls) == 2:
            raise ValueError("clip 7 is unreadable")
        return draw(rng)

    with BatchSource(failing, np.random.default_rng(0), ahead=3) as source:
        source.next()
        with pytest.raises(ValueError, match="clip 7"):
            source.next()


def test_close_waits_for_the_draw_in_flight() -> None:
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def slow(rng: np.random.Generator) -> dict[str, torch.Tensor]:
        if started.is_set():  # the draw ahead
            release.wait(10)
            finished.set()
        started.set()
        return draw(rng)

    source = BatchSource(slow, np.random.default_rng(0), ahead=3)
    source.next()
    threading.Timer(0.05, release.set).start()
    source.close()
    assert finished.is_set()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a thread's own nice value is Linux's")
def test_batches_are_drawn_ahead_at_the_lowest_priority_so_the_training_thread_keeps_its_core() -> None:
    seen: list[int] = []
    ours = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def noting(rng: np.random.Generator) -> dict[str, torch.Tensor]:
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return draw(rng)

    with BatchSource(noting, np.random.default_rng(0), ahead=2) as source:
        source.next()
    assert seen and set(seen) == {19}
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == ours  # the caller's thread is untouched
