"""A head's training batches drawn by worker processes, in step order: what keeps a GPU busy.

Why: on a GPU a step takes milliseconds, and one CPU thread drawing batches (engine.train.batches) bounds the
run. On an H200 with 16 cores (2026-12-04) the GPU was busy 3% of the time during a base, and interpolate,
regrade, denoise and cleanup trained at what one thread draws; drawing threads stop gaining at 4-8 (the GIL),
processes gained about one core's worth each (bench/batch_draw.py; docs/benchmarks.md, "On a GPU").

How: torch.utils.data.DataLoader (forked workers, batches handed back in the order asked, pinned memory on a
GPU) over an endless run of seeds. The run's generator gives one seed a batch, in step order, and a batch is
`draw(np.random.default_rng(seed))` in whichever worker takes it, made on the CPU; `next()` moves it to the
training device.

Guarantees:
- the seeds come from the one generator in step order, and the loader gives the k-th seed to worker k mod N:
  a run is the same run again with the same number of workers. A head whose sampling keeps nothing between
  calls makes each batch from its seed alone, so its batches are the same whatever the number of workers;
  one that keeps a pool of examples (interpolate's flow windows, engine.heads.interpolate_data) keeps one in
  each worker, so its batches also depend on which worker drew them. Either way they are not BatchSource's
  batches, which draw everything from that generator;
- `state` is the generator's state before the seed of the first batch not handed out: what a checkpoint saves
  (the same form as BatchSource's), so a run resumed from it draws that batch again and goes on as it would
  have;
- an error while drawing is raised by the `next()` that would have returned that batch, as the draw raised it
  (its type and attributes: the job's one-line error and the clip it names survive); `state` then stays
  before that batch;
- `draw` runs in forked processes: it must make CPU tensors and not touch the GPU;
- `close()` stops the workers at once; batches drawn ahead are dropped.
"""

from __future__ import annotations

import gc
import multiprocessing
import pickle
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from engine.train.batches import Batch, Draw

AHEAD_PER_WORKER = 4  # batches each worker may have drawn ahead of the step (DataLoader's prefetch_factor)


def fork_available() -> bool:
    """Whether worker processes can be forked here (they inherit the clips instead of receiving a copy)."""
    return "fork" in multiprocessing.get_all_start_methods()


class _Seeds(Sampler[int]):
    """One seed a batch from the run's generator, in step order, keeping the generator's state after each."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.after: deque[dict[str, Any]] = deque()

    def __iter__(self) -> Iterator[int]:
        while True:
            seed = int(self.rng.integers(0, 2**63 - 1))
            self.after.append(dict(self.rng.bit_generator.state))
            yield seed


@dataclass(frozen=True)
class _Failed:
    """A draw's error, sent back as the item: the loader would re-raise it rebuilt from its text (its type's
    one-argument form, the worker's traceback in the message, other attributes lost)."""

    error: BaseException


class _Drawn(Dataset[Batch | _Failed]):
    """The batch of a seed, or what went wrong drawing it."""

    def __init__(self, draw: Draw) -> None:
        self.draw = draw

    def __getitem__(self, seed: int) -> Batch | _Failed:
        try:
            return self.draw(np.random.default_rng(seed))
        except Exception as exc:
            try:
                pickle.dumps(exc)
            except Exception:  # it must cross back to the training process: its type and text, then
                return _Failed(RuntimeError(f"{type(exc).__name__}: {exc}"))
            return _Failed(exc)


def _one_thread(_worker: int) -> None:
    """A worker draws on one torch thread: the workers together take the cores. (OpenCV's threads are set
    before the fork, in WorkerBatches: cv2.setNumThreads in a forked child hangs once the parent has used them.)
    Its cyclic garbage collector runs, whatever the parent's was doing when it forked (the command line turns it
    off while it starts: daemon.cli.main), on what the worker makes: the parent froze what it held for the fork
    (gc.freeze, as Python's documentation advises before a fork without exec), so the worker neither copies those
    pages by marking them nor finalizes the parent's objects, such as a library's handles whose threads did not
    cross the fork."""
    torch.set_num_threads(1)
    gc.enable()


class WorkerBatches:
    """`next()` gives the batches `draw(default_rng(seed))` makes for the seeds `rng` gives in order, drawn
    by `workers` forked processes and moved to `device`."""

    def __init__(self, draw: Draw, rng: np.random.Generator, workers: int, device: torch.device) -> None:
        if workers < 1:
            raise ValueError(f"WorkerBatches needs at least one worker, not {workers}")
        self._state: dict[str, Any] = dict(rng.bit_generator.state)
        self._seeds = _Seeds(rng)
        self._device = device
        loader = DataLoader(
            _Drawn(draw),
            batch_size=None,  # each item is a whole batch
            sampler=self._seeds,
            num_workers=workers,
            prefetch_factor=AHEAD_PER_WORKER,
            multiprocessing_context="fork",
            worker_init_fn=_one_thread,
            pin_memory=device.type == "cuda",
        )
        # the workers fork with one OpenCV thread (iter() starts them all), then this process gets its own back
        threads = cv2.getNumThreads()
        cv2.setNumThreads(1)
        gc.freeze()  # what this process holds now, the workers' collectors never touch (_one_thread)
        try:
            self._batches: Iterator[Batch | _Failed] | None = iter(loader)
        finally:
            gc.unfreeze()
            cv2.setNumThreads(threads)

    def next(self) -> Batch:
        """The next batch, on the training device (a draw's error is raised here, as the worker raised it)."""
        if self._batches is None:
            raise RuntimeError("the batch workers are closed")
        try:
            item = next(self._batches)
        finally:
            after = self._seeds.after.popleft()  # the generator's state before the next batch's seed
        if isinstance(item, _Failed):
            raise item.error  # `state` stays before the batch that failed
        self._state = after
        return {k: v.to(self._device, non_blocking=True) for k, v in item.items()}

    @property
    def state(self) -> dict[str, Any]:
        """The generator's state before the seed of the first batch not handed out yet."""
        return dict(self._state)

    def close(self) -> None:
        """Stop the workers now: the loader's iterator would only when it is freed, which a traceback holding
        it can put off."""
        batches, self._batches = self._batches, None
        shutdown = getattr(batches, "_shutdown_workers", None)  # what the iterator's own __del__ calls
        if shutdown is not None:
            shutdown()

    def __enter__(self) -> WorkerBatches:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
