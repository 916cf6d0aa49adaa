"""Torch CPU threads chosen from the machine's load, so a long run keeps its pace on a shared machine.

On cores that other processes already keep busy, more threads than free cores make every step wait on
the slowest thread (one thread ran 15x more steps than two on two oversubscribed cores: docs/benchmarks.md).
`threads_for_load` gives the cores the 1-minute load average leaves free, at least one, never more than the
process may run on (engine.cores); `ThreadGovernor`
re-reads the load every `every_s` seconds during a run and moves torch's thread count when it changed.

`use_cpu_threads(n)` holds a whole training process to n threads: torch's intra-op pool, its inter-op pool
(when it is not started yet) and OpenCV's pool, which draws the training batches (the denoise head's DIS flow,
resizes, grain). OpenCV otherwise starts a thread per core, whose workers spin while they wait for work: a
data-parallel worker given one CPU of two spent half its CPU time in them and took it from the other worker
(docs/benchmarks.md, base training on data-parallel workers).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable

import cv2
import torch

from engine.cores import free_cores


def threads_for_load(cores: int | None = None, load: float | None = None) -> int:
    """Free cores given the load average (ours excluded by the caller when it knows it), at least 1, at most
    the cores this process may use (engine.cores). `cores` stands for a machine of that many, all usable."""
    busy = load if load is not None else os.getloadavg()[0]
    return free_cores(busy, machine=cores, usable=cores)


class ThreadGovernor:
    """Sets torch's thread count from the load now and again every `every_s` seconds (call `tick()` often)."""

    def __init__(
        self,
        every_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        load: Callable[[], float] = lambda: os.getloadavg()[0],
        cores: int | None = None,
    ) -> None:
        self.every_s, self.clock, self.load = every_s, clock, load
        self.cores = cores
        self.threads = threads_for_load(self.cores, self.load())
        torch.set_num_threads(self.threads)
        self._last = self.clock()

    def tick(self) -> int:
        """Re-read the load when due; our own threads count as busy, so they are taken off it first."""
        now = self.clock()
        if now - self._last >= self.every_s:
            self._last = now
            others = max(0.0, self.load() - self.threads)
            wanted = threads_for_load(self.cores, others)
            if wanted != self.threads:
                self.threads = wanted
                torch.set_num_threads(wanted)
        return self.threads


def use_cpu_threads(n: int) -> None:
    """This process's compute on `n` threads: torch (intra-op, and inter-op unless already started) and OpenCV."""
    torch.set_num_threads(n)
    if torch.get_num_interop_threads() != n:
        # settable once per process, before any inter-op work: a long-lived process keeps its own
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(n)
    cv2.setNumThreads(n)
