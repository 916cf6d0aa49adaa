"""Data-parallel runs on a Ray cluster through Ray Train: N workers, one torch.distributed process group.

`run_data_parallel` starts Ray Train's `TorchTrainer` (PyTorch's gloo backend on CPU, NCCL on GPUs) with
`workers` training workers of `cpus_per_worker` CPUs each; Ray Train places them on the cluster, sets up
the process group (rank, world size, rendezvous) and runs the entry point "package.module:function" on
every worker with `args` as keyword arguments plus `local_rank` (the worker's rank on its node). What the
ranks do together (DDP, shards, who writes) is the entry point's business: this module never imports the
engine, as executors never do, and the engine never imports Ray.

A worker process that dies restarts the whole group up to `max_failures` times (Ray Train's own fault
handling); the entry point is called again and is expected to resume from its own checkpoint. A run that
still fails raises ExecutorError with one line. Ray Train waits without a word, for as long as it takes,
while the cluster has fewer CPUs (GPUs) than the group asks for (a node that died with its worker, or more
`workers` than the nodes offer): the cluster's resources are read every `look_every_s` and `say` is told
so in one line, and again once they are back; a stop asked meanwhile ends the wait. Ray Train keeps its run records under `storage` (on a
cluster: storage every node can reach, like the training output itself).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from integrations.executors.base import ExecutorError, ExecutorUnavailable
from integrations.executors.ray import INSTALL_HINT, _import_ray, _probe, pip_install_ray, unreachable
from integrations.executors.spec import ENTRY_POINT, one_line

TRAIN_HINT = f"Ray Train is not installed; install rushes[ray] ({pip_install_ray()}) to train on workers"


def _per_worker(config: dict[str, Any]) -> None:
    """The body of every Ray Train worker: call the entry point with the args and this worker's local rank."""
    import ray.train  # type: ignore[import-not-found]

    from integrations.executors.worker import resolve

    function = resolve(config["entry_point"])
    function(**config["args"], local_rank=ray.train.get_context().get_local_rank())


def short_of(cluster: dict[str, float], workers: int, cpus_per_worker: float, use_gpu: bool) -> str | None:
    """Why a group of `workers` cannot start on a cluster of these resources (one line), else None."""
    need = {"CPU": workers * cpus_per_worker, "GPU": float(workers) if use_gpu else 0.0}
    short = [f"{cluster.get(r, 0.0):g} {r}(s)" for r, n in need.items() if n and cluster.get(r, 0.0) < n]
    if not short:
        return None
    each = f"{cpus_per_worker:g} CPU" + (" and 1 GPU" if use_gpu else "")
    return (
        f"waiting: the Ray cluster has {' and '.join(short)} for {workers} workers of {each} each, and Ray "
        "Train waits until its nodes offer them (a node left, or --workers is more than they hold): start the "
        "node(s) again, or stop this run (Ctrl-C) and train on with --resume and fewer --workers"
    )


class _ClusterWatch:
    """Reads the cluster's resources every `every_s` on a thread of its own while a group runs: `short` says
    why the group cannot start (None while it can), and `say` is told each time that changes."""

    def __init__(
        self, ray: Any, group: tuple[int, float, bool], say: Callable[[str], None] | None, every_s: float
    ) -> None:
        self.ray, self.group, self.say, self.every_s = ray, group, say, every_s
        self.short: str | None = None
        self.done = threading.Event()
        threading.Thread(target=self._watch, name="rushes-ray-train-watch", daemon=True).start()

    def _watch(self) -> None:
        while not self.done.wait(self.every_s):
            try:
                line = short_of({k: float(v) for k, v in self.ray.cluster_resources().items()}, *self.group)
            except Exception:  # the cluster is being left, or lost: fit() says so
                continue
            if line != self.short and self.say is not None:
                self.say(line if line is not None else "the Ray cluster offers the workers' resources again")
            self.short = line


def _fit(trainer: Any, outcome: dict[str, Any]) -> None:
    """trainer.fit(), its result or error kept in `outcome` (run off the main thread)."""
    try:
        outcome["result"] = trainer.fit()
    except Exception as exc:
        outcome["error"] = exc


class StoppedWaiting(ExecutorError):
    """A run stopped while it waited for the cluster's resources. Ray Train's waiting thread is still inside Ray,
    which cannot be shut down under it (the process crashed, SIGSEGV): Ray is left connected, and the caller ends
    the process without Ray's own shutdown at exit (os._exit) once it has said so."""


def run_data_parallel(
    entry_point: str,
    args: dict[str, Any],
    *,
    workers: int,
    address: str | None,
    storage: Path,
    name: str,
    cpus_per_worker: float = 1.0,
    use_gpu: bool = False,
    max_failures: int = 1,
    say: Callable[[str], None] | None = None,
    stopped: Callable[[], bool] | None = None,
    look_every_s: float = 10.0,
) -> None:
    """Run `entry_point` on `workers` Ray Train workers in one process group; returns when all have
    returned. ExecutorUnavailable when Ray (Train) is missing or the cluster cannot be reached;
    ExecutorError (one line) when the run fails. `say`: told in one line whenever the cluster's resources
    fall short of the group's, or are back. Ray Train runs off the main thread, so that it leaves SIGINT to
    the caller (on the main thread it takes Ctrl-C to abort the run, workers killed mid-step); the entry
    point stops itself when the caller asks (a stop file), and when `stopped` says a stop was asked while no
    group can start, StoppedWaiting ends the wait."""
    if workers < 1:
        raise ExecutorError(f"--workers must be at least 1 (got {workers})")
    if not ENTRY_POINT.match(entry_point):
        raise ExecutorError(f"entry point {entry_point!r} must look like 'package.module:function'")
    ray = _import_ray()
    try:
        importlib.import_module("ray.train.torch")  # Ray Train, which the trainer needs
    except ImportError as exc:
        raise ExecutorUnavailable(TRAIN_HINT if "ray" in str(exc) else INSTALL_HINT) from exc
    connected_here = not ray.is_initialized()
    if connected_here:
        try:
            _probe(address)
            ray.init(address=address, log_to_driver=False)
        except Exception as exc:
            raise ExecutorUnavailable(unreachable(address or "a local Ray instance", exc)) from None
    watch = _ClusterWatch(ray, (workers, cpus_per_worker, use_gpu), say, look_every_s)
    outcome: dict[str, Any] = {}
    try:
        trainer = _trainer(
            entry_point, args, workers=workers, cpus_per_worker=cpus_per_worker, use_gpu=use_gpu,
            storage=storage, name=name, max_failures=max_failures,
        )  # fmt: skip
        fitting = threading.Thread(target=_fit, args=(trainer, outcome), name="rushes-ray-train", daemon=True)
        fitting.start()
        while fitting.is_alive():
            fitting.join(0.5)
            if fitting.is_alive() and watch.short is not None and stopped is not None and stopped():
                connected_here = False  # no shutdown under the waiting thread (StoppedWaiting)
                raise StoppedWaiting(
                    f"stopped while waiting for the cluster's resources ({watch.short.partition(', and')[0]}); "
                    "the run keeps its last checkpoint: train on with --resume"
                )
        if "error" in outcome:
            raise outcome["error"]
        result = outcome["result"]
    except ExecutorError:
        raise
    except Exception as exc:
        raise ExecutorError(
            f"the {workers}-worker run failed ({one_line(f'{type(exc).__name__}: {exc}', 300)})"
        ) from None
    finally:
        watch.done.set()
        if connected_here:
            ray.shutdown()
    if result.error is not None:
        raise ExecutorError(f"the {workers}-worker run failed ({one_line(str(result.error), 300)})")


def _trainer(
    entry_point: str,
    args: dict[str, Any],
    *,
    workers: int,
    cpus_per_worker: float,
    use_gpu: bool,
    storage: Path,
    name: str,
    max_failures: int,
) -> Any:
    """Ray Train's trainer of the group: `workers` processes running `_per_worker` on the entry point,
    gloo between them on CPUs (NCCL on GPUs), its run records under `storage`/`name`."""
    from ray.train import FailureConfig, RunConfig, ScalingConfig  # type: ignore[import-not-found]
    from ray.train.torch import TorchConfig, TorchTrainer  # type: ignore[import-not-found]

    return TorchTrainer(
        _per_worker,
        train_loop_config={"entry_point": entry_point, "args": args},
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        scaling_config=ScalingConfig(
            num_workers=workers, use_gpu=use_gpu, resources_per_worker={"CPU": cpus_per_worker}
        ),
        run_config=RunConfig(
            name=name, storage_path=str(storage), failure_config=FailureConfig(max_failures=max_failures)
        ),
    )
