"""Data-parallel runs on a Ray cluster through Ray Train: N workers, one torch.distributed process group.

`run_data_parallel` starts Ray Train's `TorchTrainer` (PyTorch's gloo backend on CPU, NCCL on GPUs) with
`workers` training workers of `cpus_per_worker` CPUs each; Ray Train places them on the cluster, sets up
the process group (rank, world size, rendezvous) and runs the entry point "package.module:function" on
every worker with `args` as keyword arguments plus `local_rank` (the worker's rank on its node). What the
ranks do together (DDP, shards, who writes) is the entry point's business: this module never imports the
engine, as executors never do, and the engine never imports Ray.

A worker process that dies restarts the whole group up to `max_failures` times (Ray Train's own fault
handling); the entry point is called again and is expected to resume from its own checkpoint. A run that
still fails raises ExecutorError with one line. Ray Train keeps its run records under `storage` (on a
cluster: storage every node can reach, like the training output itself).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from integrations.executors.base import ExecutorError, ExecutorUnavailable
from integrations.executors.ray import INSTALL_HINT, _import_ray, _probe
from integrations.executors.spec import ENTRY_POINT, one_line

TRAIN_HINT = "Ray Train is not installed; install rushes[ray] (pip install 'rushes[ray]') to train on workers"


def _per_worker(config: dict[str, Any]) -> None:
    """The body of every Ray Train worker: call the entry point with the args and this worker's local rank."""
    import ray.train  # type: ignore[import-not-found]

    from integrations.executors.worker import resolve

    function = resolve(config["entry_point"])
    function(**config["args"], local_rank=ray.train.get_context().get_local_rank())


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
) -> None:
    """Run `entry_point` on `workers` Ray Train workers in one process group; returns when all have
    returned. ExecutorUnavailable when Ray (Train) is missing or the cluster cannot be reached;
    ExecutorError (one line) when the run fails."""
    if workers < 1:
        raise ExecutorError(f"--workers must be at least 1 (got {workers})")
    if not ENTRY_POINT.match(entry_point):
        raise ExecutorError(f"entry point {entry_point!r} must look like 'package.module:function'")
    ray = _import_ray()
    try:
        from ray.train import FailureConfig, RunConfig, ScalingConfig  # type: ignore[import-not-found]
        from ray.train.torch import TorchConfig, TorchTrainer  # type: ignore[import-not-found]
    except ImportError as exc:
        raise ExecutorUnavailable(TRAIN_HINT if "ray" in str(exc) else INSTALL_HINT) from exc
    connected_here = not ray.is_initialized()
    if connected_here:
        try:
            _probe(address)
            ray.init(address=address, log_to_driver=False)
        except Exception as exc:
            raise ExecutorUnavailable(
                f"cannot reach Ray at {address or 'a local Ray instance'} "
                f"({one_line(f'{type(exc).__name__}: {exc}', 200)}); check executor.ray_address"
            ) from None
    try:
        trainer = TorchTrainer(
            _per_worker,
            train_loop_config={"entry_point": entry_point, "args": args},
            torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
            scaling_config=ScalingConfig(
                num_workers=workers, use_gpu=use_gpu, resources_per_worker={"CPU": cpus_per_worker}
            ),
            run_config=RunConfig(
                name=name,
                storage_path=str(storage),
                failure_config=FailureConfig(max_failures=max_failures),
            ),
        )
        result = trainer.fit()
    except Exception as exc:
        raise ExecutorError(
            f"the {workers}-worker run failed ({one_line(f'{type(exc).__name__}: {exc}', 300)})"
        ) from None
    finally:
        if connected_here:
            ray.shutdown()
    if result.error is not None:
        raise ExecutorError(f"the {workers}-worker run failed ({one_line(str(result.error), 300)})")
