"""Run jobs on a Ray cluster with the same interface as the local executor (an optional extra).

Ray is imported only when a `RayExecutor` is built; without it, construction fails with one line that
says to install `rushes[ray]`. Each job is one `ray.remote` task that resolves the spec's entry point
on the Ray worker (the same code path as the local worker), so the daemon never imports job code.

Every Ray call happens on one supervisor thread, so `submit`, `poll` and `cancel` never block the daemon,
even while Ray is slow or gone:
- connecting: the thread connects (and reconnects, every `reconnect_s`); until then `health()` says why
  not, jobs wait in order, and the reason is logged once per change.
- a Ray worker process dies mid-task: Ray runs the task again, up to `task_retries` times (system
  failures only; an exception raised by the job is its outcome, never retried here).
- the cluster is lost (the head or the Ray Client server gone): every job in flight ends "failed" with
  one line naming the address, so the daemon's queue retries it; the thread then reconnects. A failed call
  is a lost cluster only when a cheap second call fails too, or after three failed steps in a row: the Ray
  Client can fail one RPC after a worker died while the cluster is fine.
- a Ray call hangs (a starved or frozen Ray Client server: a first `.remote()` once sat in PutObject for 10
  minutes): the supervisor stamps every Ray call it makes (init, `.remote()`, wait, get, cancel,
  cluster_resources, nodes, shutdown) with its name and start in a CallWatch (callwatch.py, pure, on the
  injected `clock`), and every public method (submit, poll, cancel, running, health, shutdown) looks at it
  under the lock, so the daemon, which polls its jobs, and /readyz notice a hung call without a thread of
  their own. A call older than `call_timeout_s` (connecting: at least _CONNECT_LIMIT_S) is given up on, once:
  every job in flight ends "failed" with one line saying to retry it (the same path as a lost cluster: the
  daemon's queue retries it, and the catalog keeps publishing exactly once), one `ray.stuck` line is logged,
  `health()` names the call, how long it has hung and the address, and a thread of its own closes the Ray
  Client under the call (`ray.shutdown()`, then, when that has not ended a second later, the client's gRPC
  channel: a plain RPC in flight only raises once its channel closes; this reads Ray's client internals, and
  where they differ only the shutdown is tried). The hung call raises, or returns and is treated as failed
  (RayCallGivenUp), and the supervisor takes the lost-cluster path and reconnects once the close has ended.
  A hung connect or close is reported but not interrupted: closing a client while it connects leaves it
  unusable, and Ray bounds a connect itself. A call that nothing frees keeps `health()` unhealthy with a line
  that says so; jobs submitted meanwhile wait (never dropped) and run once the supervisor is free.
Stopping a job (a cancel: training yielding to a fix, a lease lost; or its timeout): the task is first asked
to stop (a Ray cancel without force, which calls the task's SIGINT handler or raises KeyboardInterrupt in it):
training checkpoints at its next step and returns, so a yield loses no work, and the warm worker process
stays. A task still running `stop_grace_s` later has its worker killed.
Placement: a `needs_gpu` job asks Ray for one GPU, so it only lands on a node started with GPUs; on a
cluster with no GPU at all it fails at once instead of waiting forever. CPU jobs ask for `cpus` CPUs.
Warm workers: with `warm` (an entry point, e.g. one that imports the job code), every node with CPUs for a job
gets one warm-up task as soon as the executor connects (and a node that joins, at the next refresh of the
cluster's resources), in the jobs' runtime_env: Ray keeps that worker process and reuses it, so the first job
on a node does not wait for a Ray worker to start and import torch (seconds on a small node).
Environment: the spec's env plus this process's RUSHES_* variables (never secrets: names holding KEY,
SECRET, PASSWORD or TOKEN stay here) go to the task's runtime_env, and a task computes with as many
threads as the CPUs it asked for (THREADS_ENV: PyTorch, OpenCV and FFmpeg's codecs), unless those variables
say otherwise.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib import metadata
from typing import Any, TypeVar

from integrations.executors.base import ExecutorClosed, ExecutorError, ExecutorUnavailable, Handle
from integrations.executors.callwatch import CallWatch, Stuck
from integrations.executors.ledger import JobLedger
from integrations.executors.spec import JobOutcome, JobSpec, one_line, without_secrets

BACKEND = "ray"


def pip_install_ray() -> str:
    """The command that installs the ray extra: Rushes is not on PyPI (`pip install 'rushes[ray]'` finds nothing
    there, or someone else's package), so it names the wheel of this Rushes' version."""
    try:
        version = metadata.version("rushes")
    except metadata.PackageNotFoundError:
        version = "VERSION"
    return f"pip install '/path/to/rushes-{version}-py3-none-any.whl[ray]', the wheel this Rushes came from"


INSTALL_HINT = f"Ray is not installed; install rushes[ray] ({pip_install_ray()}) to use the Ray executor"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the colours of Ray's task error header
_TASK_WHERE = re.compile(r"\(pid=\d+, ip=([^)]+)\)")  # where Ray's task error header says the task ran
_CLIENT_SILENT = "ray client connection timeout"  # the Ray Client's error when nothing answered its handshake
_NO_IMPORT = "failed to import on the worker"  # Ray's error for a node that cannot import a task's function
_KEEP_DELIVERED = 1000
_REFRESH_S = 30.0  # how often the cluster's resources are read again
# Failed supervisor steps in a row before the cluster counts as lost while it still answers: the Ray Client
# can fail one call ("Failed to serialize response!" after a worker died) with the cluster healthy.
_RPC_ERRORS = 3
# How long the supervisor waits for a task to end while every slot is taken (a cancel or a timeout is acted on
# within this); with a free slot it looks every tick_s, so a job submitted then starts at once.
_FULL_WAIT_S = 1.0
# Connecting is watched with at least this limit: the Ray Client's first connection to a busy head takes tens of
# seconds, and Ray bounds it itself (it gives up and raises after its own retries).
_CONNECT_LIMIT_S = 120.0
# Calls the watchdog reports but does not interrupt: closing the Ray Client under a connection still being made
# leaves it unusable (every later ray.init "reuses" a dead connection), and a hung close would only be closed
# again.
_UNINTERRUPTIBLE = ("init", "shutdown")
# How long a close of the Ray Client under a hung call gets before its gRPC channel is closed too (the close
# marks the client as shutting down at once; this only orders the two).
_CLOSE_GRACE_S = 1.0
# thread counts of a task (OpenMP's, the engine's inference threads: engine.infer.runtime reads it, and its
# encoders' and decoders': engine.media.threads)
THREADS_ENV = ("OMP_NUM_THREADS", "RUSHES_INFER_THREADS", "RUSHES_CODEC_THREADS")

log = logging.getLogger("rushes.executors.ray")
T = TypeVar("T")


class RayCallGivenUp(ConnectionError):
    """A Ray call returned (or raised) after the watchdog gave up on it: its jobs were already failed and the
    connection is being closed, so the supervisor treats the cluster as lost and reconnects."""


def _import_ray() -> Any:
    try:
        import ray  # type: ignore[import-not-found]
    except ImportError as exc:
        raise ExecutorUnavailable(INSTALL_HINT) from exc
    return ray


def run_on_ray_worker(spec_json: str) -> str:
    """The body of the remote task: run the spec here, log to its log_path, return the outcome JSON."""
    import contextlib
    from datetime import UTC, datetime

    from integrations.executors.worker import run_spec

    spec = JobSpec.from_json(spec_json)
    if not spec.log_path:
        return run_spec(spec).to_json()
    started = f"ray task {spec.id} started on"
    with open(spec.log_path, "a+", encoding="utf-8") as out:
        out.seek(0)
        again = any(line.startswith(started) for line in out)  # this attempt's task ran before: Ray's rerun
        at = datetime.now(UTC).isoformat()
        host, pid = socket.gethostname(), os.getpid()
        rerun = " (run again by Ray: the worker process or node that ran it before died)" if again else ""
        print(f"{started} {host} pid {pid} at {at}{rerun}", file=out, flush=True)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            outcome = run_spec(spec)
    return outcome.to_json()


def forwarded_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """This process's RUSHES_* variables a Ray task should see (secrets excluded)."""
    env = os.environ if environ is None else environ
    return {k: v for k, v in without_secrets(dict(env)).items() if k.startswith("RUSHES_")}


@dataclass
class _RayJob:
    spec: JobSpec
    ref: Any = None
    started: float = 0.0
    stopping: str | None = None
    asked_at: float | None = None  # when the task was asked to stop (a cancel without force)
    killed: bool = False  # its worker was killed (a forced cancel)


class RayExecutor:
    """Submits each job as a Ray task; at most `max_jobs` in flight (default: the cluster's CPU count)."""

    def __init__(
        self,
        address: str | None = None,
        max_jobs: int | None = None,
        *,
        task_retries: int = 1,
        reconnect_s: float = 10.0,
        cpus: float = 1.0,
        tick_s: float = 0.1,
        warm: str | None = None,
        stop_grace_s: float = 20.0,
        call_timeout_s: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ray = _import_ray()
        if max_jobs is not None and max_jobs < 1:
            raise ExecutorError(f"ray executor: max_jobs must be at least 1 (got {max_jobs})")
        if call_timeout_s <= 0:
            raise ExecutorError(f"ray executor: call_timeout_s must be positive (got {call_timeout_s})")
        self._address = address
        self._where = address or "a local Ray instance"
        self._max_jobs = max_jobs
        self._retries = task_retries
        self._reconnect_s = reconnect_s
        self._cpus = cpus
        self._tick_s = tick_s
        self._warm = warm
        self._stop_grace_s = stop_grace_s
        self._watch = CallWatch(call_timeout_s)  # the supervisor's Ray call in progress (guarded by _cond)
        self._clock = clock  # decides when a Ray call is overdue
        self._unsticking: threading.Thread | None = None  # closes the connection under a hung call
        self._warmed: set[str] = set()  # node ids a warm-up task was sent to
        self._remote: Any = None
        self._connected = False
        self._problem: str | None = f"connecting to Ray at {self._where}"
        self._cluster: dict[str, float] = {}
        self._cluster_at = 0.0
        self._jobs: JobLedger[_RayJob] = JobLedger(BACKEND, keep=_KEEP_DELIVERED)
        self._closed = False
        self._stop = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._supervise, name="rushes-ray-executor", daemon=True)
        self._thread.start()

    # -- the Executor interface ------------------------------------------------------------------

    def submit(self, spec: JobSpec) -> Handle:
        with self._cond:
            self._look()
            if self._closed:
                raise ExecutorClosed(f"job {spec.id}: the Ray executor is shut down; start a new one")
            handle = self._jobs.admit(_RayJob(spec=spec))
            self._cond.notify_all()
        return handle

    def poll(self, handle: Handle) -> JobOutcome | None:
        with self._cond:
            self._look()
            self._check(handle)
            return self._jobs.read(handle.job_id)

    def cancel(self, handle: Handle) -> None:
        with self._cond:
            self._look()
            self._check(handle)
            waiting = self._jobs.take_pending(handle.job_id)
            if waiting is not None:
                self._finish(waiting, f"job {waiting.spec.id} cancelled before it started")
                return
            running = self._jobs.running.get(handle.job_id)
            if running is not None and running.stopping is None:
                running.stopping = f"job {handle.job_id} cancelled"
                self._cond.notify_all()

    def running(self) -> int:
        with self._cond:
            self._look()
            return len(self._jobs.running)

    def capacity(self) -> int:
        if self._max_jobs is not None:
            return self._max_jobs
        with self._cond:
            return max(1, int(self._cluster.get("CPU", 1) // max(self._cpus, 1e-6)))

    @property
    def gpus(self) -> int:
        """GPUs in the Ray cluster (0 until connected)."""
        with self._cond:
            return int(self._cluster.get("GPU", 0))

    def health(self) -> str | None:
        """None while connected to Ray with a CPU to run jobs; otherwise why not (one line, for /readyz): a Ray
        call that has not returned within call_timeout_s is named here, with how long it has been waiting; a
        cluster without a CPU (its resources are read every _REFRESH_S) is named too."""
        with self._cond:
            stuck = self._look()
            if stuck is not None:
                return self._stuck_line(stuck)
            if not self._connected:
                return self._problem
            if (
                self._cluster.get("CPU", 0) <= 0
            ):  # a head of --num-cpus=0 whose workers left or have not joined
                return (
                    f"connected to Ray at {self._where}, but no node offers a CPU: jobs wait until a worker "
                    "node joins (start the Ray workers, or check that they reach the head)"
                )
            return None

    def shutdown(self, wait: bool = True) -> None:
        """wait=True: let submitted jobs finish (while Ray is reachable). wait=False: cancel them all."""
        with self._cond:
            self._closed = True
            if wait:
                while (self._jobs.pending or self._jobs.running) and self._connected:
                    self._cond.wait(self._tick_s)
                    self._look()  # a hung Ray call ends the wait (and fails the jobs in flight)
            for job in list(self._jobs.pending):
                self._finish(job, f"job {job.spec.id} cancelled at shutdown")
            self._jobs.pending.clear()
            for job in self._jobs.running.values():
                job.stopping = job.stopping or f"job {job.spec.id} stopped at shutdown"
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=30.0 if wait else 5.0)  # a daemon thread: it never keeps the process alive

    # -- the watchdog (run by every public method, under the lock) -------------------------------

    def _look(self) -> Stuck | None:
        """The supervisor's Ray call when it is older than call_timeout_s (else None). The first time a call is
        seen overdue: every job in flight fails with a line saying to retry it (as when the cluster is lost),
        one `ray.stuck` line is logged, and another thread closes the Ray connection so the hung call raises
        and the supervisor reconnects. Call with the lock held."""
        stuck = self._watch.overdue(self._clock())
        if stuck is None or not stuck.first:
            return stuck
        if stuck.name not in _UNINTERRUPTIBLE and (
            self._unsticking is None or not self._unsticking.is_alive()
        ):
            self._unsticking = threading.Thread(target=self._unstick, name="rushes-ray-unstick", daemon=True)
            self._unsticking.start()
        failed = list(self._jobs.running.values())
        for job in failed:
            self._finish(
                job,
                job.stopping
                or f"job {job.spec.id}: the Ray call {stuck.name} to {self._where} hung for "
                f"{stuck.elapsed_s:.0f} s; retry the job",
            )
        self._jobs.running.clear()
        self._connected = False
        self._problem = self._stuck_line(stuck)  # what health() says once the call ends, until the reconnect
        log.warning(
            "ray.stuck: %s; %d job(s) in flight failed and go back to the queue", self._problem, len(failed)
        )
        return stuck

    def _stuck_line(self, stuck: Stuck) -> str:
        line = (
            f"the Ray call {stuck.name} to {self._where} has not returned for {stuck.elapsed_s:.0f} s "
            f"(limit {stuck.limit_s:g} s, executor.ray_call_timeout_seconds)"
        )
        if stuck.name in _UNINTERRUPTIBLE:
            return f"{line}; jobs wait for Ray (restart the daemon if this stays)"
        if self._unsticking is not None and self._unsticking.is_alive():
            return f"{line}; jobs in flight failed, to be retried; disconnecting from Ray to free it"
        return (
            f"{line}; jobs in flight failed, to be retried; disconnecting from Ray did not free it "
            "(restart the daemon if this stays)"
        )

    def _unstick(self) -> None:
        """Close the Ray connection under the hung call, so that it raises. Runs on a thread of its own.

        `ray.shutdown()` marks the Ray Client as shutting down and wakes a call waiting on its data channel
        (PutObject), but then waits for the data channel's stream to end, which a hung server never does, and
        a plain RPC in flight (ClusterInfo, WaitObject, GetObject) waits for its answer. So when the close has
        not ended `_CLOSE_GRACE_S` later, the Ray Client's gRPC channel is closed as well: gRPC cancels every
        RPC on it, they raise, the stream ends and the close completes."""
        channel = _client_channel()  # before the close, which forgets it
        closing = threading.Thread(target=self._quiet_shutdown, name="rushes-ray-close", daemon=True)
        closing.start()
        closing.join(_CLOSE_GRACE_S)
        if closing.is_alive() and channel is not None:
            log.info("ray.stuck: closing the Ray Client's channel to %s to cancel the hung call", self._where)
            try:
                channel.close()
            except Exception:
                log.debug("closing the Ray Client's channel failed", exc_info=True)
        closing.join()

    def _quiet_shutdown(self) -> None:
        try:
            self._ray.shutdown()
        except Exception:
            log.debug("ray.shutdown under a hung call failed", exc_info=True)

    # -- the supervisor thread (the only one that calls Ray) ------------------------------------

    def _call(
        self, name: str, fn: Callable[..., T], *args: Any, limit_s: float | None = None, **kwargs: Any
    ) -> T:
        """Make one Ray call, stamped for the watchdog (overdue after `limit_s`, by default call_timeout_s);
        RayCallGivenUp when it ended after being given up on."""
        with self._cond:
            self._watch.begin(name, self._clock(), limit_s)
        try:
            return fn(*args, **kwargs)
        finally:  # a call given up on ends in RayCallGivenUp, whether it returned or raised
            with self._cond:
                given_up = self._watch.end()
            if given_up:
                raise RayCallGivenUp(f"the Ray call {name} hung and was given up on")

    def _check(self, handle: Handle) -> None:
        self._jobs.check(handle, "Ray executor")

    def _supervise(self) -> None:
        next_try = 0.0
        errors = 0  # failed steps in a row: one Ray Client RPC can fail while the cluster is fine
        while True:
            with self._cond:
                if self._stop:
                    break
            if not self._connected:
                if time.monotonic() >= next_try and self._closed_old():
                    self._connect()
                    next_try = time.monotonic() + self._reconnect_s
                if not self._connected:
                    with self._cond:
                        self._cond.wait(min(self._tick_s * 5, max(self._tick_s, next_try - time.monotonic())))
                    continue
            try:
                self._step()
                errors = 0
            except Exception as exc:  # the cluster went away under us (head lost, client server gone)
                errors += 1
                if not isinstance(exc, RayCallGivenUp) and errors < _RPC_ERRORS and self._answers():
                    log.warning("ray.rpc_error: %s; the cluster still answers, trying again", _brief(exc))
                    continue
                errors = 0
                self._lost(exc)
        self._disconnect(cancel=True)

    def _answers(self) -> bool:
        """Whether the cluster answers a cheap call (after one failed RPC: lost, or a one-off error)."""
        try:
            self._call("cluster_resources", self._ray.cluster_resources)
        except Exception:
            return False
        return True

    def _closed_old(self) -> bool:
        """Whether the connection closed under a hung call is closed (reconnecting meanwhile would race it)."""
        closing = self._unsticking is not None and self._unsticking.is_alive()
        if closing:
            with self._cond:
                self._problem = f"closing the hung Ray connection to {self._where} before reconnecting"
        return not closing

    def _init(self) -> None:
        if not self._ray.is_initialized():
            self._ray.init(address=self._address, ignore_reinit_error=True, log_to_driver=False)

    def _connect(self) -> None:
        try:
            _probe(self._address)
            self._call("init", self._init, limit_s=max(self._watch.limit_s, _CONNECT_LIMIT_S))
            remote = self._ray.remote(max_retries=self._retries, retry_exceptions=False)(run_on_ray_worker)
            cluster = {
                k: float(v) for k, v in self._call("cluster_resources", self._ray.cluster_resources).items()
            }
        except Exception as exc:
            problem = unreachable(self._where, exc)
            self._safe_shutdown()
            with self._cond:
                # one line per outage, not per attempt: only when it was connected or still connecting
                changed = self._connected or self._problem is None or self._problem.startswith("connecting")
                self._problem = problem  # /readyz shows the newest reason
            if changed:
                log.warning("ray.unreachable: %s", problem)
            return
        with self._cond:
            self._remote, self._cluster, self._connected, self._problem = remote, cluster, True, None
            self._cluster_at = time.monotonic()
            self._cond.notify_all()
        log.info(
            "ray.connected: %s with %g CPU, %g GPU", self._where, cluster.get("CPU", 0), cluster.get("GPU", 0)
        )
        self._warmed.clear()  # a new connection may be a new cluster (worker processes gone)
        self._warm_nodes()

    def _warm_nodes(self) -> None:
        """Send the `warm` entry point, once, to every live node with CPUs for a job that has not had it: the
        node then holds a Ray worker process for this executor's runtime_env with the job code imported,
        which Ray reuses for the jobs that follow, instead of starting one (and importing torch) at the
        first job. Fire and forget: a failed warm-up only means a cold first job."""
        if not self._warm:
            return
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # type: ignore[import-not-found]

        for node in self._call("nodes", self._ray.nodes):
            node_id = str(node.get("NodeID", ""))
            cpus = float(node.get("Resources", {}).get("CPU", 0))
            if not node.get("Alive") or node_id in self._warmed or cpus < self._cpus:
                continue
            self._warmed.add(node_id)
            spec = JobSpec(id=f"warm-{node_id[:8]}", kind="warm", entry_point=self._warm)
            options = self._task_options(spec)
            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node_id, soft=False)
            self._call(f"remote({spec.id})", self._remote.options(**options).remote, spec.to_json())

    def _step(self) -> None:
        with self._cond:
            stopping = [job for job in self._jobs.running.values() if job.stopping and not job.killed]
            limit = self._max_jobs or max(1, int(self._cluster.get("CPU", 1) // max(self._cpus, 1e-6)))
            starting: list[_RayJob] = []
            while self._jobs.pending and len(self._jobs.running) + len(starting) < limit:
                starting.append(self._jobs.pending.pop(0))
        for n, job in enumerate(starting):
            try:
                self._start(job)
            except (
                Exception
            ):  # the jobs not started yet wait again, first in line (not lost with the cluster)
                with self._cond:
                    self._jobs.pending[:0] = starting[n + 1 :]
                raise
        now = time.monotonic()
        for job in list(self._jobs.running.values()):
            timeout = job.spec.timeout_s
            if job.stopping is None and timeout is not None and now - job.started >= timeout:
                job.stopping = f"job {job.spec.id} timed out after {timeout:g} s and was stopped"
                stopping.append(job)
        for job in stopping:
            self._stop_task(job, now)
        if now - self._cluster_at > _REFRESH_S:  # nodes come and go: GPU placement needs the current view
            resources = self._call("cluster_resources", self._ray.cluster_resources)
            cluster = {k: float(v) for k, v in resources.items()}
            with self._cond:
                self._cluster, self._cluster_at = cluster, now
            self._warm_nodes()  # and a node that joined gets its warm worker
        refs = [job.ref for job in list(self._jobs.running.values())]
        if not refs:
            with self._cond:
                if not self._jobs.pending or len(self._jobs.running) >= limit:
                    self._cond.wait(self._tick_s)
            return
        # Every slot taken: nothing can start until a task ends, and wait() returns at the first that does,
        # so wait longer (each wait is a Ray Client round trip: 10 a second cost CPU the tasks share).
        wait_s = max(self._tick_s, _FULL_WAIT_S) if len(refs) >= limit else self._tick_s
        ready, _ = self._call("wait", self._ray.wait, refs, num_returns=1, timeout=wait_s)
        for ref in ready:
            ended = next((j for j in list(self._jobs.running.values()) if j.ref == ref), None)
            if ended is not None:  # None: given up on meanwhile
                self._collect(ended)

    def _stop_task(self, job: _RayJob, now: float) -> None:
        """Ask a task to stop (Ray raises SIGINT's handler, or KeyboardInterrupt, in it: training checkpoints
        at its next step and returns, and the worker process stays for the next job); kill its worker when it
        has not ended `stop_grace_s` later."""
        if job.ref is None:
            return
        if job.asked_at is None:
            job.asked_at = now
            self._call(f"cancel({job.spec.id})", self._ray.cancel, job.ref, force=False)
        elif now - job.asked_at >= self._stop_grace_s:
            job.killed = True
            self._call(f"cancel({job.spec.id})", self._ray.cancel, job.ref, force=True)

    def _start(self, job: _RayJob) -> None:
        spec = job.spec
        if spec.needs_gpu and self._cluster.get("GPU", 0) < 1:
            with self._cond:
                self._finish(job, f"job {spec.id} needs a GPU but the Ray cluster at {self._where} has none")
            return
        job.started = time.monotonic()
        with self._cond:
            self._jobs.running[spec.id] = job  # before .remote(): a lost cluster fails it like the others
        job.ref = self._call(
            f"remote({spec.id})", self._remote.options(**self._task_options(spec)).remote, spec.to_json()
        )

    def _task_options(self, spec: JobSpec) -> dict[str, Any]:
        """Ray's options for a task: its CPUs and GPU, and its environment (one runtime_env for every job
        without an env of its own, so Ray reuses their worker processes)."""
        options: dict[str, Any] = {"num_gpus": 1 if spec.needs_gpu else 0, "num_cpus": self._cpus}
        env = {**self._threads_env(), **forwarded_env(), **spec.env}
        if env:
            options["runtime_env"] = {"env_vars": env}
        return options

    def _threads_env(self) -> dict[str, str]:
        """A task computes with as many threads as the CPUs it asked Ray for: by default the engine picks
        threads from the whole machine's free cores, which on a node running several tasks (or one node
        of a box that has more) oversubscribes the cores every task shares."""
        n = str(max(1, round(self._cpus)))
        return {name: n for name in THREADS_ENV}

    def _collect(self, job: _RayJob) -> None:
        elapsed = time.monotonic() - job.started
        try:
            reported = JobOutcome.from_json(self._call(f"get({job.spec.id})", self._ray.get, job.ref))
        except Exception as exc:
            if _is_connection_error(exc):
                raise
            error = job.stopping or task_failure(job.spec, exc)
            outcome = JobOutcome.failed(job.spec.id, error, duration_s=elapsed)
        else:
            outcome = replace(reported, id=job.spec.id, duration_s=elapsed)
            if job.stopping is not None:  # it returned after being asked to stop (training, checkpointed)
                outcome = JobOutcome.failed(job.spec.id, job.stopping, duration_s=elapsed)
        with self._cond:
            self._jobs.record(job.spec.id, outcome)
            self._cond.notify_all()

    def _lost(self, exc: Exception) -> None:
        reason = one_line(f"{type(exc).__name__}: {exc}", 200)
        with self._cond:
            lost = list(self._jobs.running.values())
            for job in lost:
                self._finish(
                    job,
                    job.stopping
                    or f"job {job.spec.id}: lost the Ray cluster at {self._where} ({reason}); retry the job",
                )
            self._jobs.running.clear()
            self._connected = False
            self._problem = f"lost the Ray cluster at {self._where} ({reason}); reconnecting"
        log.warning(
            "ray.lost: %s; %d job(s) in flight failed and go back to the queue", self._problem, len(lost)
        )
        self._safe_shutdown()

    def _finish(self, job: _RayJob, error: str) -> None:
        """Record a failed outcome (call with the lock held)."""
        elapsed = time.monotonic() - job.started if job.started else 0.0
        self._jobs.record(job.spec.id, JobOutcome.failed(job.spec.id, error, duration_s=elapsed))
        self._cond.notify_all()

    def _disconnect(self, cancel: bool) -> None:
        if self._connected and cancel:
            for job in list(self._jobs.running.values()):
                try:
                    self._call(f"cancel({job.spec.id})", self._ray.cancel, job.ref, force=True)
                except Exception:
                    break
        with self._cond:
            for job in list(self._jobs.running.values()):
                self._finish(job, job.stopping or f"job {job.spec.id} stopped at shutdown")
            self._connected = False
        self._safe_shutdown()

    def _safe_shutdown(self) -> None:
        try:  # also after a lost connection, or reconnecting says "already connected"
            self._call("shutdown", self._ray.shutdown)
        except Exception:
            log.debug("ray.shutdown failed", exc_info=True)


def unreachable(where: str, exc: BaseException) -> str:
    """Why connecting to Ray at `where` failed, in one line with what to check. A Ray Client address whose port
    accepts connections (the probe passed) but whose Ray Client never answered is most often the head's own
    port (6379, the one workers join) written where its Ray Client port belongs: said so."""
    line = f"cannot reach Ray at {where} ({one_line(f'{type(exc).__name__}: {exc}', 200)}); "
    if where.startswith("ray://") and _CLIENT_SILENT in str(exc):
        hostport = where.removeprefix("ray://").partition("/")[0]
        return line + (
            f"{hostport} accepts connections but no Ray Client server answered there: executor.ray_address "
            "must name the head's Ray Client port (its --ray-client-server-port, 10001 by default), not its "
            "--port (6379 by default, the one workers join)"
        )
    return line + "check executor.ray_address and that the Ray head is running"


def task_failure(spec: JobSpec, exc: BaseException) -> str:
    """One line for a Ray task that failed outside the job, whose outcome never came back (a node that cannot
    import the job code, or cannot open the job's log): the node it ran on and the error that ended it, the
    last line of Ray's traceback (its first lines are Ray's header, coloured for a terminal), and what to do
    when the node could not import the job code or open the job's log."""
    text = _ANSI.sub("", str(exc))
    where = _TASK_WHERE.search(text)
    node = f" on the Ray node at {where.group(1)}" if where else ""
    last = next((line.strip() for line in reversed(text.splitlines()) if line.strip()), type(exc).__name__)
    line = f"job {spec.id}: the Ray task failed{node} ({one_line(last, 300)})"
    if _NO_IMPORT in text:
        line += (
            f": that node cannot import Rushes; install the same Rushes ({pip_install_ray()}) in the "
            "Python environment its `ray start` runs from, as on the daemon's host, or stop that node"
        )
    elif spec.log_path and last.startswith("FileNotFoundError") and spec.log_path in last:
        line += (
            ": that node does not see the daemon's data folder, where jobs write their logs; mount it at the "
            "same path on every Ray node (docs/operations.md, Shared paths)"
        )
    return line


def _brief(exc: BaseException) -> str:
    return one_line(f"{type(exc).__name__}: {exc}", 200)


def _probe(address: str | None, timeout_s: float = 3.0) -> None:
    """Fail fast (OSError) when a Ray Client address does not accept connections; Ray itself would retry
    for half a minute before saying so."""
    if not address or not address.startswith("ray://"):
        return
    where = address.removeprefix("ray://").partition("/")[0]
    host, _, port = where.rpartition(":") if ":" in where else (where, "", "10001")
    with socket.create_connection((host, int(port)), timeout=timeout_s):
        pass


def _client_channel() -> Any:
    """The Ray Client's gRPC channel when this process is connected through one (ray://), else None. Ray's
    client internals (ray.util.client: the context's worker and its `channel`): any change there only means
    a hung call is freed by the close alone, or not at all (health() then keeps saying so)."""
    try:
        from ray.util.client import ray as client  # type: ignore[import-not-found]

        return client.get_context().client_worker.channel
    except Exception:
        return None


def _is_connection_error(exc: BaseException) -> bool:
    """The Ray Client raises ConnectionError once the cluster is gone (after its reconnect grace period)."""
    return isinstance(exc, ConnectionError) or "Client is shutting down" in str(exc)
