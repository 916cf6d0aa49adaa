"""Data-parallel training over a torch.distributed process group (PyTorch DDP), for long base runs.

Why here and like this: the engine knows how to train a model and nothing about where its processes run,
so this module only takes a process group that someone else started (Ray Train's TorchTrainer does it for
`rushes base train --workers N`, through integrations.executors.ray_train, whose workers call
engine.train.base.train_base_worker; `torchrun` would do as well).
The engine never imports Ray, the daemon or integrations; the launcher never imports torch training code.

What each of the N processes (ranks) does, inside the ordinary training loop (engine.train.loop):
- loads the same clips and makes the same held-out split (the decoded-frame cache is shared and written
  atomically), then keeps only its shard of the training shots (`shard`: shots dealt out by length, so every
  rank holds about the same number of frames, like DistributedSampler over the corpus) and draws its
  batches there with a random stream of its own (`stream`: rank 0 keeps the single-process stream);
- steps each head's net wrapped in DistributedDataParallel: gradients are averaged over the ranks during
  backward, so every rank applies the same update and the weights stay identical (DDP also copies rank 0's
  weights to every rank when it wraps a net, which is how a resumed run starts everyone alike; the
  gradients are views into DDP's all-reduce buckets, so no copy in and out of them each step);
- computes on `cpu_threads` threads (the launcher gives each worker its CPUs): torch's and OpenCV's, whose
  pool draws the batches (engine.train.threads.use_cpu_threads); a worker that left OpenCV a thread per core
  spun on the cores the other workers train on;
- draws its batches up to 3 steps ahead on a background thread (engine.train.batches, on by default with
  several ranks), only while it waits for the other ranks: `wrap`'s comm hook (DDP's own averaging all-reduce)
  opens a gate when this rank's last gradient bucket goes to the all-reduce and the next step closes it, so the
  drawing fills the wait instead of taking the core from the step; the batches are the same either way;
- follows rank 0's clock (`agree`): every SYNC_EVERY steps (and at a head's first step) rank 0 broadcasts
  how far through the head the run is and whether to stop (its `stop()`, asked every step), so every rank
  takes the same number of steps and none waits forever in an all-reduce. Between agreements a run with
  max_steps counts its steps (the same on every rank) and a timed run keeps the last agreed fraction; a
  timed head may run up to SYNC_EVERY - 1 steps past its share, a stop is taken at the next agreement.
  One broadcast per step was one more wait per step for every rank on a busy machine. Running losses are
  averaged over the ranks (`mean`).
The global batch stays `batch_size`: each of N ranks takes batch_size / N examples a step (`batch`, at least
1), so a run on N ranks follows the single-process schedule (same steps, learning rate, warm-up and decay)
and reaches the same loss after the same samples, in less time. (Giving every rank the whole batch instead
halved the optimiser steps per sample on two ranks and left the loss well above one process's at equal
samples: docs/benchmarks.md.)
Rank 0 alone writes checkpoints, evaluates on the held-out clips and writes the version folder with its
manifest: the same files a single-process run writes.
A resumed run reloads rank 0's checkpoint on every rank; ranks other than 0 restart their random streams
from the step where the run resumes (seeded by seed, head, rank and step), so a run with max_steps is
reproducible from the same checkpoint, though not step for step against an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

STOP_FILE = "stop"  # in the version folder: rank 0 stops at its next step when it appears
SYNC_EVERY = 5  # steps between rank 0's decisions (how far through the head, whether to stop)


@dataclass(frozen=True)
class DataParallel:
    """This process's place in an initialised torch.distributed process group."""

    rank: int
    world: int
    local_rank: int = 0

    @classmethod
    def from_process_group(cls, local_rank: int = 0) -> DataParallel:
        if not dist.is_available() or not dist.is_initialized():
            raise RuntimeError("data-parallel training needs an initialised torch.distributed process group")
        return cls(dist.get_rank(), dist.get_world_size(), local_rank)

    @property
    def leader(self) -> bool:
        return self.rank == 0

    def shard(self, shots: Sequence[np.ndarray]) -> list[np.ndarray]:
        """This rank's training shots: longest first, each to the rank holding the fewest frames so far
        (ties to the lowest rank); every rank gets at least one shot (shared when there are too few)."""
        if len(shots) < self.world:
            return [shots[self.rank % len(shots)]] if shots else []
        load = [0] * self.world
        mine: list[np.ndarray] = []
        for i in sorted(range(len(shots)), key=lambda i: (-len(shots[i]), i)):
            owner = min(range(self.world), key=lambda r: (load[r], r))
            load[owner] += len(shots[i])
            if owner == self.rank:
                mine.append(shots[i])
        return mine

    def batch(self, size: int) -> int:
        """This rank's share of a batch of `size` examples (at least 1): the global batch stays `size`."""
        return max(1, size // self.world)

    def stream(self, state: dict[str, Any], seed: int, head_index: int, step: int) -> np.random.Generator:
        """The batch-drawing generator of this rank: rank 0 continues the run's saved stream, other ranks
        start one of their own at this step."""
        if self.leader:
            rng = np.random.default_rng()
            rng.bit_generator.state = state
            return rng
        return np.random.default_rng([seed, head_index, self.rank, step])

    def wrap(
        self, objective: torch.nn.Module, device: torch.device, waiting: Callable[[], None] | None = None
    ) -> torch.nn.Module:
        """`objective` (a head's whole training loss as a module: engine.train.loop.HeadLoss, so every parameter
        the loss uses is used inside DDP's forward) in DistributedDataParallel. Its parameters are shared, so
        optimisers and checkpoints see the same tensors. `waiting()` is called when this rank's last gradient
        bucket goes to the all-reduce: from then until the step ends the rank only waits for the others
        (engine.train.batches draws then)."""
        ids = [device] if device.type == "cuda" else None
        # gradients are views into DDP's all-reduce buckets: no copy in and out of them every step
        ddp = torch.nn.parallel.DistributedDataParallel(
            objective, device_ids=ids, find_unused_parameters=True, gradient_as_bucket_view=True
        )
        if waiting is not None:
            ddp.register_comm_hook(waiting, _allreduce_then_wait)
        return ddp

    def agree(self, fraction: float | None, stop: bool) -> tuple[float | None, bool]:
        """Rank 0's (fraction, stop) on every rank: fraction None ends the head."""
        told = [-1.0 if fraction is None else fraction, 1.0 if stop else 0.0]
        sent = torch.tensor(told, dtype=torch.float64, device=_collective_device())
        dist.broadcast(sent, src=0)
        got = sent.tolist()
        return (None if got[0] < 0 else float(got[0])), bool(got[1] > 0)

    def mean(self, value: float) -> float:
        """The mean of `value` over the ranks."""
        t = torch.tensor([value], dtype=torch.float64, device=_collective_device())
        dist.all_reduce(t)
        return float(t.item()) / self.world


def _collective_device() -> torch.device:
    """Where the small tensors of agree() and mean() live: NCCL (the GPU ranks' backend) takes only tensors on
    the rank's own GPU, gloo CPU tensors."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _allreduce_then_wait(
    waiting: Callable[[], None], bucket: dist.GradBucket
) -> torch.futures.Future[torch.Tensor]:
    """DDP's own averaging all-reduce of a gradient bucket; after the last bucket, `waiting()`."""
    future = default_hooks.allreduce_hook(None, bucket)  # type: ignore[arg-type]  # None: the default group
    if bucket.is_last():
        waiting()
    return future


# DDP checks a hook's annotations as objects; this module's are strings (`from __future__ import annotations`)
_allreduce_then_wait.__annotations__.update(
    {"bucket": dist.GradBucket, "return": torch.futures.Future[torch.Tensor]}
)


@dataclass(frozen=True)
class StopFile:
    """stop() for a data-parallel run: True once `path` exists (the launcher creates it on Ctrl-C/SIGTERM;
    on a cluster the version folder is on storage every node sees)."""

    path: str

    def __call__(self) -> bool:
        return Path(self.path).exists()
