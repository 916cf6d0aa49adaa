"""The Ray executor against a real local Ray cluster: results come back, GPU jobs land where GPUs are, a killed
Ray worker is rerun, a lost head fails jobs in flight with one clear line, and an unreachable cluster is
reported by `health()` without blocking anyone."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from integrations.executors.ray import RayExecutor
from integrations.executors.spec import JobOutcome, JobSpec
from tests.cluster.raycluster import RayCluster, free_port

WHERE = "tests.cluster.jobs:where"
WAIT = "tests.cluster.jobs:wait_for_file"


def outcome_of(executor: RayExecutor, spec: JobSpec, timeout: float = 90.0) -> JobOutcome:
    handle = executor.submit(spec)
    deadline = time.monotonic() + timeout
    while (outcome := executor.poll(handle)) is None:
        assert time.monotonic() < deadline, f"job {spec.id} gave no outcome in {timeout:.0f} s"
        time.sleep(0.05)
    return outcome


def wait_until(what: str, done: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(0.05)


def connected(executor: RayExecutor) -> None:
    """Wait out the connection itself: on a loaded two-core machine the Ray Client server can fail a first
    connection after ~40 s, and the executor reconnects 10 s later (as it should), so the tests' own clocks
    start once it is connected."""
    wait_until("the executor to connect", lambda: executor.health() is None, timeout=180)


@pytest.fixture
def executor(ray_cluster: RayCluster) -> Iterator[RayExecutor]:
    ex = RayExecutor(ray_cluster.address, max_jobs=4, task_retries=1)
    connected(ex)
    yield ex
    ex.shutdown(wait=False)


def test_a_job_runs_in_a_ray_worker_and_its_result_comes_back(
    executor: RayExecutor, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RUSHES_HOME", str(tmp_path))
    monkeypatch.setenv("RUSHES_TRACKER__SCRIPT_KEY", "do-not-send")
    outcome = outcome_of(
        executor, JobSpec("where-1", "test", WHERE, {"tag": "hello"}, log_path=str(tmp_path / "j.log"))
    )
    assert outcome.ok, outcome.error
    assert outcome.result["tag"] == "hello" and outcome.result["pid"] != os.getpid()
    assert outcome.result["home"] == str(tmp_path), "RUSHES_* settings reach the Ray worker"
    assert outcome.result["secret"] == "", "secrets never leave the daemon"
    assert set(outcome.result["threads"].values()) == {"1"}, "a one-CPU task computes and codes on one thread"
    assert "ray task where-1 started" in (tmp_path / "j.log").read_text()
    assert executor.health() is None


def test_every_node_gets_a_warm_worker_at_connect_and_the_next_job_runs_in_it(
    ray_cluster: RayCluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RUSHES_HOME", str(tmp_path))  # the jobs' env (RUSHES_* go to the runtime_env)
    executor = RayExecutor(ray_cluster.address, max_jobs=2, warm="tests.cluster.jobs:warm")
    try:
        connected(executor)
        warm = tmp_path / "warm"
        wait_until("a warm-up task on both nodes", lambda: len(list(warm.glob("*"))) == 2)
        nodes = {int(p.name): p.read_text() for p in warm.glob("*")}
        assert len(set(nodes.values())) == 2, "one warm-up task per node"
        outcome = outcome_of(executor, JobSpec("after-warm-1", "test", WHERE))
        assert outcome.ok, outcome.error
        assert nodes.get(outcome.result["pid"]) == outcome.result["node"], "the job ran in a warmed worker"
    finally:
        executor.shutdown(wait=False)


def test_gpu_jobs_go_only_to_the_node_with_gpus_and_cpu_jobs_see_no_gpu(executor: RayExecutor) -> None:
    gpu = [outcome_of(executor, JobSpec(f"gpu-{i}", "test", WHERE, needs_gpu=True)) for i in range(2)]
    cpu = outcome_of(executor, JobSpec("cpu-1", "test", WHERE))
    assert all(o.ok for o in gpu) and cpu.ok
    assert [o.result["gpus"] for o in gpu] == ["0", "0"], "Ray gave each GPU job the worker node's GPU"
    assert len({o.result["node"] for o in gpu}) == 1, "only one node has GPUs"
    assert cpu.result["gpus"] == ""


def test_two_nodes_run_two_jobs_at_once(executor: RayExecutor, tmp_path: Path) -> None:
    folders = [tmp_path / "a", tmp_path / "b"]
    handles = []
    for n, folder in enumerate(folders):
        folder.mkdir()
        handles.append(executor.submit(JobSpec(f"both-{n}", "test", WAIT, {"folder": str(folder)})))
    wait_until("both jobs running at the same time", lambda: all(list(f.glob("pid-*")) for f in folders))
    for folder in folders:
        (folder / "go").touch()
    wait_until("both outcomes", lambda: all(executor.poll(h) is not None for h in handles))
    assert all((o := executor.poll(h)) is not None and o.ok for h in handles)


def test_a_ray_worker_killed_mid_job_is_rerun_and_the_job_succeeds(
    executor: RayExecutor, tmp_path: Path
) -> None:
    log = tmp_path / "job.log"
    spec = JobSpec("killed-1", "test", WAIT, {"folder": str(tmp_path)}, log_path=str(log))
    handle = executor.submit(spec)
    wait_until("the first attempt", lambda: list(tmp_path.glob("pid-*")))
    (first,) = tmp_path.glob("pid-*")
    os.kill(int(first.read_text()), signal.SIGKILL)
    wait_until("Ray to run the task again", lambda: len(list(tmp_path.glob("pid-*"))) == 2)
    (tmp_path / "go").touch()
    wait_until("the outcome", lambda: executor.poll(handle) is not None)
    outcome = executor.poll(handle)
    assert outcome is not None and outcome.ok, outcome
    assert outcome.result["pid"] != int(first.read_text())
    starts = [line for line in log.read_text().splitlines() if line.startswith("ray task killed-1 started")]
    assert len(starts) == 2 and "run again by Ray" not in starts[0]  # the job's log says why it started twice
    assert starts[1].endswith("(run again by Ray: the worker process or node that ran it before died)")


def test_losing_the_head_fails_jobs_in_flight_with_one_line_and_nothing_hangs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAY_CLIENT_RECONNECT_GRACE_PERIOD", "2")
    cluster = RayCluster.start(tmp_path / "lonely", num_cpus=1)
    executor = RayExecutor(cluster.address, max_jobs=2, reconnect_s=1.0)
    try:
        folder = tmp_path / "job"
        folder.mkdir()
        handle = executor.submit(JobSpec("orphan-1", "test", WAIT, {"folder": str(folder)}))
        # 120 s: on a busy box the Ray Client's first connection to a fresh head can fail after 30 s
        # ("Initialization failure from server"); the executor connects again and the job then starts
        wait_until("the job to start", lambda: list(folder.glob("pid-*")), timeout=120)
        cluster.head.kill()
        wait_until("the job to fail", lambda: executor.poll(handle) is not None, timeout=60)
        outcome = executor.poll(handle)
        assert outcome is not None and not outcome.ok
        assert f"lost the Ray cluster at {cluster.address}" in outcome.error and "\n" not in outcome.error
        assert (executor.health() or "").startswith(("lost the Ray cluster", "cannot reach Ray"))
        late = executor.submit(JobSpec("late-1", "test", WHERE))
        assert executor.poll(late) is None, "a job submitted while Ray is down waits for it"
        started = time.monotonic()
        executor.shutdown(wait=False)
        assert time.monotonic() - started < 20
        late_outcome = executor.poll(late)
        assert late_outcome is not None and "cancelled at shutdown" in late_outcome.error
    finally:
        executor.shutdown(wait=False)
        cluster.stop()


def test_an_unreachable_cluster_is_reported_by_health_and_jobs_wait() -> None:
    address = f"ray://127.0.0.1:{free_port()}"
    executor = RayExecutor(address, max_jobs=1, reconnect_s=30.0)
    try:
        handle = executor.submit(JobSpec("waits-1", "test", WHERE))
        wait_until(
            "the connection attempt to fail", lambda: (executor.health() or "").startswith("cannot"), 120
        )
        problem = executor.health() or ""
        assert problem.startswith(f"cannot reach Ray at {address}") and "\n" not in problem
        assert "executor.ray_address" in problem
        assert executor.poll(handle) is None
    finally:
        executor.shutdown(wait=False)


def test_the_heads_own_port_written_as_the_ray_client_address_is_named_as_such(
    ray_cluster: RayCluster,
) -> None:
    """ray://HEAD:6379, the port the workers join, where the Ray Client's 10001 belongs: the head answers there,
    so "check that the Ray head is running" sent the user to look at a head that was running."""
    address = f"ray://127.0.0.1:{ray_cluster.gcs_port}"
    executor = RayExecutor(address, max_jobs=1, reconnect_s=600)
    try:
        wait_until("the connection to fail", lambda: "cannot reach" in (executor.health() or ""), 180)
        problem = executor.health() or ""
    finally:
        executor.shutdown(wait=False)
    assert problem.startswith(f"cannot reach Ray at {address}") and "\n" not in problem
    assert problem.endswith(
        f"127.0.0.1:{ray_cluster.gcs_port} accepts connections but no Ray Client server answered there: "
        "executor.ray_address must name the head's Ray Client port (its --ray-client-server-port, 10001 by "
        "default), not its --port (6379 by default, the one workers join)"
    ), problem


def test_a_node_that_cannot_import_rushes_fails_the_job_naming_the_node_and_what_to_install(
    tmp_path: Path,
) -> None:
    """A worker node started from a Python environment where Rushes' code cannot be imported: the job's error
    was Ray's header, coloured for a terminal and cut at 300 characters inside the node's sys.path, before it
    named what was missing or where."""
    elsewhere = tmp_path / "another-install"
    (elsewhere / "integrations").mkdir(parents=True)
    (elsewhere / "integrations" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'integrations'\", name='integrations')\n"
    )
    cluster = RayCluster.start(tmp_path / "ray", num_cpus=0)  # the head runs nothing
    try:
        cluster.add_node("without-rushes", env={"PYTHONPATH": str(elsewhere)})
        executor = RayExecutor(cluster.address, max_jobs=1, task_retries=0)
        try:
            outcome = outcome_of(executor, JobSpec("job-1", "test", WHERE), timeout=180)
        finally:
            executor.shutdown(wait=False)
    finally:
        cluster.stop()
    assert not outcome.ok and "\x1b" not in outcome.error
    assert re.match(
        r"job job-1: the Ray task failed on the Ray node at \S+ \(ModuleNotFoundError: No module named "
        r"'integrations'\): that node cannot import Rushes; install the same Rushes",
        outcome.error,
    ), outcome.error


def test_a_node_that_does_not_see_the_data_folder_fails_the_job_naming_the_node_and_the_folder(
    executor: RayExecutor, tmp_path: Path
) -> None:
    """The daemon's data folder not mounted on a Ray node: its job's log cannot be opened there."""
    log = tmp_path / "data-not-mounted" / "logs" / "job-7.log"
    outcome = outcome_of(executor, JobSpec("fix-7-1", "test", WHERE, log_path=str(log)))
    assert not outcome.ok and re.match(
        rf"job fix-7-1: the Ray task failed on the Ray node at \S+ \(FileNotFoundError: .*'{log}'\): that node "
        r"does not see the daemon's data folder, where jobs write their logs; mount it at the same path",
        outcome.error,
    ), outcome.error


def test_a_cancelled_task_is_asked_to_stop_so_training_checkpoints_at_once_and_the_worker_stays(
    executor: RayExecutor, tmp_path: Path
) -> None:
    handle = executor.submit(
        JobSpec("train-like-1", "train", "tests.cluster.jobs:train_until_stopped", {"folder": str(tmp_path)})
    )
    wait_until("the training task runs", lambda: (tmp_path / "running").is_file())
    pid = int((tmp_path / "running").read_text())
    executor.cancel(handle)  # what the train lane does when a fix waits for its slot
    wait_until("a checkpoint written on the stop signal", lambda: (tmp_path / "checkpoint").is_file(), 30)
    state = json.loads((tmp_path / "checkpoint").read_text())
    assert state["pid"] == pid and state["steps"] > 0, "the run itself checkpointed the steps it took"
    wait_until("the cancelled job's outcome", lambda: executor.poll(handle) is not None, 30)
    outcome = executor.poll(handle)
    assert outcome is not None and not outcome.ok and "cancelled" in outcome.error
    os.kill(pid, 0)  # the Ray worker process is still there for the next job (no ProcessLookupError)
