"""A head's training batches, drawn in order from one random generator, optionally a few steps ahead.

Why: in a data-parallel run every rank waits at each step's gradient all-reduce for the slowest rank (its
batch took longer to draw, or another process took its core for a moment), and a rank given one CPU sits
idle while it waits. With `ahead` > 0 a background thread draws up to `ahead` batches before they are needed
(and one more, which waits for room). With a `gate` (a Gate) it starts a batch only while the gate is open:
the data-parallel wrapper opens it when this rank's gradients are ready and the all-reduce waits for the
others (engine.train.parallel), and `next()` closes it when the step starts computing, so drawing fills the
waits instead of taking the core from the step; a batch `next()` waits for is drawn whatever the gate. The
thread keeps the process's priority: at a lower one it starved whenever anything else ran on the machine.
Without a gate it draws whenever it is behind (on a GPU the CPU draws while the device computes). A single
CPU process gains nothing from it (it never waits for anyone), so the training loop draws ahead only in
those two cases (engine.train.loop._prefetching; docs/benchmarks.md, base training on data-parallel workers).

Guarantees:
- the batches are the same, in the same order, with or without drawing ahead: one thread draws, from the one
  generator, in step order;
- `state` is the generator's state before the first batch not yet handed out (drawn ahead or not): what a
  checkpoint saves, so a run resumed from it draws that batch again and goes on as it would have;
- an error while drawing is raised by the `next()` that would have returned that batch;
- `next()` never waits on a closed gate: a batch it waits for is drawn whatever the gate;
- `close()` stops the thread and waits for it, so the generator is not used after it returns.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

Batch = dict[str, torch.Tensor]
Draw = Callable[[np.random.Generator], Batch]
_POLL_S = 0.2  # how often a drawing thread blocked on a full queue or a closed gate looks whether to stop


class Gate:
    """When the drawing thread may draw ahead: while open (the training thread only waits: the data-parallel
    wrapper opens it, `BatchSource.next()` closes it), and whenever a `next()` waits for a batch not drawn."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._open = False
        self._asked = 0  # batches a waiting next() wants that were not drawn yet
        self._released = False  # the source is closing: nothing waits any more

    def open(self) -> None:
        with self._cv:
            self._open = True
            self._cv.notify_all()

    def close(self) -> None:
        with self._cv:
            self._open = False

    def ask(self) -> None:
        """A next() waits for a batch that is not drawn yet: draw it, open or not."""
        with self._cv:
            self._asked += 1
            self._cv.notify_all()

    def served(self) -> None:
        with self._cv:
            self._asked = max(0, self._asked - 1)

    def wait(self, timeout: float | None = None) -> bool:
        """Whether drawing may go on (waiting up to `timeout` for it, or until released)."""
        with self._cv:
            return self._cv.wait_for(lambda: self._open or self._asked > 0 or self._released, timeout)

    def release(self) -> None:
        with self._cv:
            self._released = True
            self._cv.notify_all()


class BatchSource:
    """`next()` gives the batches `draw(rng)` makes, in order; with `ahead` > 0 up to that many are drawn
    in advance on a background thread (starting one only while `gate`, when given, is open)."""

    def __init__(
        self, draw: Draw, rng: np.random.Generator, ahead: int = 0, gate: Gate | None = None
    ) -> None:
        self._draw, self._rng, self._gate = draw, rng, gate
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
        while not self._stop.is_set():
            if self._gate is not None and not self._gate.wait(_POLL_S):
                continue
            try:
                item: tuple[Batch | None, dict[str, Any] | BaseException] = (
                    self._draw(self._rng),
                    dict(self._rng.bit_generator.state),
                )
            except BaseException as exc:  # handed to the step that wanted this batch
                item = (None, exc)
            while not self._stop.is_set():
                try:
                    self._ready.put(item, timeout=_POLL_S)
                    break
                except queue.Full:
                    continue
            if self._gate is not None:
                self._gate.served()
            if item[0] is None:
                return

    def next(self) -> Batch:
        """The next batch (drawn now, or waited for when drawn ahead)."""
        if self._thread is None:
            batch = self._draw(self._rng)
            self._state = dict(self._rng.bit_generator.state)
            return batch
        if self._gate is not None and self._ready.empty():
            self._gate.ask()  # this batch is drawn now, gate or not
        drawn, after = self._ready.get()
        if self._gate is not None:
            self._gate.close()  # the step computes now: drawing waits for the next wait
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
            if self._gate is not None:
                self._gate.release()
            self._thread.join()
            self._thread = None

    def __enter__(self) -> BatchSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
