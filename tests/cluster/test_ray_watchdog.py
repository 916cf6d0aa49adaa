"""A hung Ray Client against a real Ray cluster: the head's Ray Client server (`python -m ray.util.client.server
--mode=proxy`, the process behind `ray://HEAD:10001`) is frozen with SIGSTOP, as a server starved on a loaded box
is, right before a job is submitted. The executor's call into Ray then never returns; after call_timeout_s
health() names it, the job fails with a line saying to retry it, and the hung call is freed while the server is
still frozen. After SIGCONT the executor reconnects and the next job runs."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from integrations.executors.ray import RayExecutor
from integrations.executors.spec import JobSpec
from tests.cluster.raycluster import RayCluster
from tests.cluster.test_ray_executor import WHERE, outcome_of, wait_until


def client_server_pids(cluster: RayCluster) -> list[int]:
    """The head's Ray Client server (the proxy every ray:// connection goes through)."""
    pids = []
    for pid in cluster.head.pids():
        with contextlib.suppress(OSError):
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if b"ray.util.client.server" in command and b"--mode=proxy" in command:
                pids.append(pid)
    return pids


@contextlib.contextmanager
def frozen(pids: list[int]) -> Iterator[None]:
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def test_a_frozen_ray_client_server_is_named_by_health_the_job_is_retried_and_the_executor_reconnects(
    ray_cluster: RayCluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rushes.executors.ray")
    executor = RayExecutor(ray_cluster.address, max_jobs=2, reconnect_s=1.0, call_timeout_s=5.0)
    try:
        # 120 s: the Ray Client's first connection to a busy head takes tens of seconds on a loaded box
        wait_until("the executor to connect", lambda: executor.health() is None, timeout=120)
        server = client_server_pids(ray_cluster)
        assert len(server) == 1, f"one Ray Client server on the head, found {server}"
        seen: list[str] = []
        with frozen(server):
            handle = executor.submit(JobSpec("frozen-1", "fix", WHERE))

            def names_the_call() -> bool:
                seen.append(executor.health() or "")
                return seen[-1].startswith("the Ray call ")

            wait_until("health() to name the hung call", names_the_call, timeout=30)
            assert f"to {ray_cluster.address} has not returned for" in seen[-1] and "(limit 5 s" in seen[-1]
            outcome = executor.poll(handle)
            assert outcome is not None and not outcome.ok and outcome.retryable
            assert outcome.error.startswith("job frozen-1: the Ray call ") and outcome.error.endswith(
                "retry the job"
            ), outcome.error
            assert f"to {ray_cluster.address} hung for" in outcome.error and "\n" not in outcome.error
            wait_until(
                "the hung call to be freed while the server is still frozen",
                lambda: not (executor.health() or "").startswith("the Ray call "),
                timeout=30,
            )
        after = outcome_of(executor, JobSpec("thawed-1", "fix", WHERE), timeout=120)
        assert after.ok, after.error
        assert executor.health() is None
        stuck = [
            r.getMessage() for r in caplog.records if r.getMessage().startswith("ray.stuck: the Ray call")
        ]
        assert len(stuck) == 1 and "1 job(s) in flight failed" in stuck[0], stuck
    finally:
        executor.shutdown(wait=False)
