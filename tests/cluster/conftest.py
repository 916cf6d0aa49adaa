"""A real two-node Ray cluster for the session: a head (1 CPU) and a worker node (1 CPU, 1 GPU slot, and a
`worker_node` resource to place jobs on it). Ray's GPU count is a resource here: no GPU is needed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cluster.raycluster import RayCluster

pytest.importorskip("ray", reason="Ray is not installed: make test installs it (pip install 'rushes[ray]')")


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayCluster]:
    cluster = RayCluster.start(tmp_path_factory.mktemp("raycluster"), num_cpus=1)
    try:
        cluster.add_node("worker", num_cpus=1, num_gpus=1, resources={"worker_node": 1})
        yield cluster
    finally:
        cluster.stop()
