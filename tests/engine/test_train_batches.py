"""engine.train.batches: drawing ahead changes nothing but when a batch is drawn."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from engine.train.batches import BatchSource, Gate


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


def test_with_a_gate_batches_are_drawn_ahead_only_while_it_is_open_and_next_never_waits_on_it() -> None:
    gate, calls = Gate(), []

    def counting(rng: np.random.Generator) -> dict[str, torch.Tensor]:
        calls.append(1)
        return draw(rng)

    expected = [np.random.default_rng(4).random(4 * 8)[i * 4 : (i + 1) * 4] for i in range(8)]
    with BatchSource(counting, np.random.default_rng(4), ahead=3, gate=gate) as source:
        got = taken(source, 4)  # the gate stays closed but while next() waits: no batch is drawn ahead
        assert len(calls) <= 5  # (at most one begun as next() took the last)
        gate.open()  # the rank waits at the all-reduce: drawing fills the queue
        deadline = time.monotonic() + 10
        while len(calls) < 8 and time.monotonic() < deadline:
            threading.Event().wait(0.01)
        assert len(calls) == 8  # 4 taken, 3 waiting, 1 more drawn and waiting for room
        got += taken(source, 4)
    assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))
