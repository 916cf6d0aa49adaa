"""A head's training batches, drawn in order from one random generator, optionally a few steps ahead.

Why: in a data-parallel run every rank waits at each step's gradient all-reduce for the slowest rank (its
batch took longer to draw, or another process took its core for a moment), and a rank given one CPU sits
idle while it waits. With `ahead` > 0 a background thread draws up to `ahead` batches before they are
needed, at the lowest CPU priority (nice 19 for that thread alone), so it runs when the training thread
waits (the all-reduce, the other rank) instead of slowing the step; when no batch is ready the step waits
for it, and the thread then has the core to itself. On a GPU the same overlap keeps the device busy while
the CPU draws. A single CPU process gains nothing from it (it never waits for anyone), so the training loop
draws ahead only in those two cases (engine.train.loop._prefetching; docs/benchmarks.md, base training on
data-parallel workers).

Guarantees:
- the batches are the same, in the same order, with or without drawing ahead: one thread draws, from the one
  generator, in step order;
- `state` is the generator's state before the first batch not yet handed out (drawn ahead or not): what a
  checkpoint saves, so a run resumed from it draws that batch again and goes on as it would have;
- an error while drawing is raised by the `next()` that would have returned that batch;
- `close()` stops the thread and waits for it, so the generator is not used after it returns.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

Batch = dict[str, torch.Tensor]
Draw = Callable[[np.random.Generator], Batch]
_LOWEST = 19  # the drawing thread's nice value: it yields the core to the training thread
_PUT_WAIT_S = 0.2  # how often a drawing thread blocked on a full queue looks whether it should stop


class BatchSource:
    """`next()` gives the batches `draw(rng)` makes, in order; with `ahead` > 0 up to that many are drawn
    in advance on a background thread."""

    def __init__(self, draw: Draw, rng: np.random.Generator, ahead: int = 0) -> None:
        self._draw, self._rng = draw, rng
        self._state: dict[str, Any] = dict(rng.bit_generator.state)
        self._ready: queue.Queue[tuple[Batch | None, dict[str, Any] | BaseException]] = queue.Queue(
            maxsize=max(1, ahead)
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if ahead > 0:
            self._thread = threading.Thread(target=self._fill, name="rushes-batches", daemon=True)
            self._thread.start()

    def _fill(self) -> None:
        """The drawing thread: batches in order until stopped, or until a draw fails (its error queued)."""
        with contextlib.suppress(OSError, AttributeError):  # per-thread nice: Linux; elsewhere full priority
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _LOWEST)
        while not self._stop.is_set():
            try:
                item: tuple[Batch | None, dict[str, Any] | BaseException] = (
                    self._draw(self._rng),
                    dict(self._rng.bit_generator.state),
                )
            except BaseException as exc:  # handed to the step that wanted this batch
                item = (None, exc)
            while not self._stop.is_set():
                try:
                    self._ready.put(item, timeout=_PUT_WAIT_S)
                    break
                except queue.Full:
                    continue
            if item[0] is None:
                return

    def next(self) -> Batch:
        """The next batch (drawn now, or waited for when drawn ahead)."""
        if self._thread is None:
            batch = self._draw(self._rng)
            self._state = dict(self._rng.bit_generator.state)
            return batch
        drawn, after = self._ready.get()
        if drawn is None:
            assert isinstance(after, BaseException)
            raise after
        assert isinstance(after, dict)
        self._state = after  # the generator's state before the next batch, drawn ahead or not
        return drawn

    @property
    def state(self) -> dict[str, Any]:
        """The generator's state before the first batch not handed out yet (what a checkpoint keeps)."""
        return dict(self._state)

    def close(self) -> None:
        """Stop drawing ahead and wait for the thread (batches drawn ahead are dropped; `state` stands
        before the first of them)."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def __enter__(self) -> BatchSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
