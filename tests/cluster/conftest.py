"""A real two-node Ray cluster for the session: a head (1 CPU) and a worker node (1 CPU, 1 GPU slot, and a
custom `worker_node` resource). Ray counts GPUs as a resource: the GPU slot needs no GPU."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

from tests.cluster.raycluster import RayCluster, WorkerNode


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayCluster]:
    if importlib.util.find_spec("ray") is None:
        pytest.fail(
            "Ray is not installed: `make test` installs it (pip install -e '.[dev,ray]')", pytrace=False
        )
    worker = WorkerNode("worker", num_cpus=1, num_gpus=1, resources=(("worker_node", 1),))
    cluster = RayCluster.start(tmp_path_factory.mktemp("raycluster"), num_cpus=1, workers=[worker])
    try:
        yield cluster
    finally:
        cluster.stop()
