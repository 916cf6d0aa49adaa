"""A head's training batches, drawn in order from one random generator, optionally one step ahead.

Why: in a data-parallel run every rank waits at each step's gradient all-reduce for the slowest rank (its
batch took longer to draw, or another process took its core for a moment), and a rank given one CPU sits idle
while it waits. With `prefetch`, a background thread draws the next batch while the current step computes
and waits, so the wait does the drawing (docs/benchmarks.md, base training on data-parallel workers). On a
GPU the same overlap keeps the device busy while the CPU draws. A single CPU process gains nothing from it
(drawing and computing share its cores either way), so the training loop turns it on only in those two cases
(engine.train.loop._prefetching).

Guarantees:
- the batches are the same, in the same order, with or without prefetch: one thread draws at a time, from
  the one generator, in step order;
- `state` is the generator's state before the first batch not yet handed out (the one drawn ahead, if any):
  what a checkpoint saves, so a run resumed from it draws that batch again and goes on as it would have;
- an error while drawing is raised by the `next()` that would have returned that batch;
- `close()` waits for a draw in flight, so the generator is not used after it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

Batch = dict[str, torch.Tensor]
Draw = Callable[[np.random.Generator], Batch]


class BatchSource:
    """`next()` gives the batches `draw(rng)` makes, in order; with `prefetch` the next one is drawn on a
    background thread while the caller uses the last."""

    def __init__(self, draw: Draw, rng: np.random.Generator, prefetch: bool = False) -> None:
        self._draw, self._rng = draw, rng
        self._state: dict[str, Any] = dict(rng.bit_generator.state)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="rushes-batches") if prefetch else None
        self._ahead: Future[tuple[Batch, dict[str, Any]]] | None = None

    def _drawn(self) -> tuple[Batch, dict[str, Any]]:
        batch = self._draw(self._rng)
        return batch, dict(self._rng.bit_generator.state)

    def next(self) -> Batch:
        """The next batch (waiting for the one drawn ahead); starts drawing the one after it."""
        if self._pool is None:
            batch, self._state = self._drawn()
            return batch
        ahead = self._ahead or self._pool.submit(self._drawn)
        self._ahead = None
        batch, after = ahead.result()
        self._state = after  # the generator now stands before the batch about to be drawn ahead
        self._ahead = self._pool.submit(self._drawn)
        return batch

    @property
    def state(self) -> dict[str, Any]:
        """The generator's state before the first batch not handed out yet (what a checkpoint keeps)."""
        return dict(self._state)

    def close(self) -> None:
        """Stop drawing ahead: wait for a draw in flight (its batch is dropped; `state` still stands before it)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool, self._ahead = None, None

    def __enter__(self) -> BatchSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
