"""A Ray call that never returns cannot hang the Ray executor silently: past call_timeout_s (an injected clock
decides) health() names the call, the jobs in flight fail with a line saying to retry them, and the Ray
connection is closed under the call so the supervisor reconnects and runs new jobs.

The executor talks to an in-memory stand-in for the `ray` module whose `.remote()` can block on an Event, as
the Ray Client's PutObject did on a loaded box; tests/cluster/test_ray_watchdog.py does the same against a
real Ray cluster whose Ray Client server is frozen with SIGSTOP.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from integrations.executors import ray as ray_module
from integrations.executors.callwatch import CallWatch
from integrations.executors.ray import RayExecutor
from integrations.executors.spec import JobOutcome, JobSpec

ADDRESS = "10.0.0.1:6379"  # never dialled: the fake below stands in for Ray


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeTask:
    def __init__(self, ray: FakeRay) -> None:
        self.ray = ray

    def options(self, **_: Any) -> FakeTask:
        return self

    def remote(self, spec_json: str) -> str:
        return self.ray.schedule(JobSpec.from_json(spec_json))


class FakeRay:
    """The part of the `ray` module the executor uses. A job whose id starts with "hold" runs until the test
    ends; any other job ends at once. With `hang_next` set, the next `.remote()` blocks until `shutdown()`
    (when `frees`) or `release()`, then raises ConnectionError as the Ray Client does once closed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.initialized = False
        self.inits = 0
        self.shutdowns = 0
        self.hang_next = False
        self.frees = True
        self.entered = threading.Event()  # a .remote() is blocked
        self.released = threading.Event()
        self.done: dict[str, str] = {}  # ref -> outcome JSON
        self.scheduled: list[str] = []
        self.cpus = 4.0  # what cluster_resources() offers

    # -- the ray API --
    def is_initialized(self) -> bool:
        return self.initialized

    def init(self, **_: Any) -> None:
        with self.lock:
            self.initialized, self.inits = True, self.inits + 1

    def shutdown(self) -> None:
        with self.lock:
            self.initialized, self.shutdowns = False, self.shutdowns + 1
        if self.frees:
            self.released.set()

    def remote(self, **_: Any) -> Callable[[Any], FakeTask]:
        return lambda _fn: FakeTask(self)

    def cluster_resources(self) -> dict[str, float]:
        if not self.initialized:
            raise ConnectionError("Ray is not connected")
        return {"CPU": self.cpus} if self.cpus else {"memory": 1e9}  # Ray leaves out what no node has

    def nodes(self) -> list[dict[str, Any]]:
        return []

    def wait(self, refs: list[str], num_returns: int, timeout: float) -> tuple[list[str], list[str]]:
        with self.changed:
            self.changed.wait_for(lambda: any(r in self.done for r in refs), timeout)
            ready = [r for r in refs if r in self.done][:num_returns]
        return ready, [r for r in refs if r not in ready]

    def get(self, ref: str) -> str:
        return self.done[ref]

    def cancel(self, ref: str, force: bool = False) -> None:
        pass

    # -- the stand-in's own --
    def schedule(self, spec: JobSpec) -> str:
        if self.hang_next:
            self.hang_next = False
            self.entered.set()
            self.released.wait()
            raise ConnectionError("Client is shutting down.")
        ref = f"ref-{spec.id}"
        with self.changed:
            self.scheduled.append(spec.id)
            if not spec.id.startswith("hold"):
                self.done[ref] = JobOutcome(id=spec.id, ok=True, result={"ran": spec.id}).to_json()
            self.changed.notify_all()
        return ref

    def release(self) -> None:
        self.released.set()


def wait_until(what: str, done: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(0.01)


def outcome_of(executor: RayExecutor, spec: JobSpec) -> JobOutcome:
    handle = executor.submit(spec)
    wait_until(f"the outcome of {spec.id}", lambda: executor.poll(handle) is not None)
    outcome = executor.poll(handle)
    assert outcome is not None
    return outcome


@pytest.fixture
def ray(monkeypatch: pytest.MonkeyPatch) -> FakeRay:
    fake = FakeRay()
    monkeypatch.setitem(sys.modules, "ray", fake)
    return fake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def executor(ray: FakeRay, clock: FakeClock) -> Iterator[RayExecutor]:
    ex = RayExecutor(ADDRESS, max_jobs=4, tick_s=0.01, reconnect_s=0.01, call_timeout_s=120.0, clock=clock)
    wait_until("the executor to connect", lambda: ex.health() is None)
    yield ex
    ray.release()
    ex.shutdown(wait=False)


def hang_a_submit(ray: FakeRay, executor: RayExecutor, job_id: str) -> Any:
    ray.hang_next = True
    handle = executor.submit(JobSpec(job_id, "fix", "tests.cluster.jobs:where"))
    assert ray.entered.wait(20), "the supervisor called .remote()"
    return handle


def stuck_records(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("ray.stuck: the Ray call")]


def test_a_hung_submit_is_named_by_health_its_jobs_fail_to_be_retried_and_the_executor_reconnects(
    ray: FakeRay, clock: FakeClock, executor: RayExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="rushes.executors.ray")
    running = executor.submit(JobSpec("hold-1", "train", "tests.cluster.jobs:where"))
    wait_until("the first job to run", lambda: "hold-1" in ray.scheduled)
    stuck = hang_a_submit(ray, executor, "fix-2")

    clock.advance(119)
    assert executor.health() is None, "a call younger than call_timeout_s is not reported"
    assert executor.poll(running) is None and executor.poll(stuck) is None
    clock.advance(2)
    problem = executor.health() or ""
    assert problem.startswith(
        f"the Ray call remote(fix-2) to {ADDRESS} has not returned for 121 s (limit 120 s"
    ), problem
    assert "\n" not in problem
    for handle in (running, stuck):
        outcome = executor.poll(handle)
        assert outcome is not None and not outcome.ok and outcome.retryable
        assert outcome.error == (
            f"job {handle.job_id}: the Ray call remote(fix-2) to {ADDRESS} hung for 121 s; retry the job"
        )
    assert len(stuck_records(caplog)) == 1 and "2 job(s) in flight failed" in stuck_records(caplog)[0]

    wait_until("the executor to reconnect", lambda: ray.inits == 2 and executor.health() is None)
    assert ray.shutdowns >= 1, "the connection under the hung call was closed"
    after = outcome_of(executor, JobSpec("fix-3", "fix", "tests.cluster.jobs:where"))
    assert after.ok and after.result == {"ran": "fix-3"}
    assert len(stuck_records(caplog)) == 1, "one line per hung call"


def test_a_call_the_close_cannot_free_keeps_the_executor_unhealthy_and_new_jobs_wait(
    ray: FakeRay, clock: FakeClock, executor: RayExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="rushes.executors.ray")
    ray.frees = False  # closing the connection does not make the hung call raise
    stuck = hang_a_submit(ray, executor, "fix-1")
    clock.advance(130)
    wait_until("the close to have been tried", lambda: "did not free it" in (executor.health() or ""))
    problem = executor.health() or ""
    assert problem.startswith(f"the Ray call remote(fix-1) to {ADDRESS} has not returned for 130 s"), problem
    assert problem.endswith("(restart the daemon if this stays)")
    failed = executor.poll(stuck)
    assert failed is not None and failed.error.endswith("retry the job")

    waiting = executor.submit(JobSpec("fix-2", "fix", "tests.cluster.jobs:where"))
    clock.advance(600)
    assert "has not returned for 730 s" in (executor.health() or "")
    assert executor.poll(waiting) is None, "a job submitted meanwhile waits; it is never dropped"
    assert executor.running() == 0

    ray.release()  # the hung call returns at last (raises): the supervisor reconnects and runs what waited
    wait_until("the waiting job to run", lambda: executor.poll(waiting) is not None)
    outcome = executor.poll(waiting)
    assert outcome is not None and outcome.ok, outcome
    assert executor.health() is None
    assert len(stuck_records(caplog)) == 1


def test_the_call_watch_reports_an_overdue_call_once_and_says_it_was_given_up_on() -> None:
    watch = CallWatch(limit_s=10)
    assert watch.overdue(5.0) is None, "no call in progress"
    watch.begin("wait", now=100.0)
    assert watch.overdue(109.9) is None
    first = watch.overdue(110.0)
    assert (
        first is not None and first.first and (first.name, first.elapsed_s, first.limit_s) == ("wait", 10, 10)
    )
    later = watch.overdue(125.0)
    assert later is not None and not later.first and later.elapsed_s == 25
    assert watch.end() is True, "the call was reported overdue while it ran"
    assert watch.overdue(500.0) is None

    watch.begin("get", now=200.0)
    assert watch.end() is False, "a call that returned in time was not given up on"
    watch.begin("init", now=300.0, limit_s=60)
    assert watch.overdue(350.0) is None, "a call with a longer limit of its own"
    assert watch.overdue(360.0) is not None
    with pytest.raises(ValueError):
        CallWatch(limit_s=0)


def test_a_cluster_without_a_cpu_is_named_by_health_until_a_worker_joins(
    ray: FakeRay, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A head started with --num-cpus=0 (deploy/compose.yaml) runs no jobs: connected to it before its workers
    join, or after they left with an old head, the executor says so, and no longer once a worker has joined."""
    monkeypatch.setattr(ray_module, "_REFRESH_S", 0.05)  # resources are read every 30 s in use
    ray.cpus = 0.0
    ex = RayExecutor(ADDRESS, max_jobs=4, tick_s=0.01, reconnect_s=0.01, call_timeout_s=120.0, clock=clock)
    try:
        wait_until(
            "the executor to connect",
            lambda: ray.inits >= 1 and ex.health() != f"connecting to Ray at {ADDRESS}",
        )
        problem = ex.health()
        assert problem == (
            f"connected to Ray at {ADDRESS}, but no node offers a CPU: jobs wait until a worker node joins (start "
            "the Ray workers, or check that they reach the head)"
        )
        ray.cpus = 2.0  # a worker node joins
        wait_until("health to clear", lambda: ex.health() is None)
    finally:
        ray.release()
        ex.shutdown(wait=False)
