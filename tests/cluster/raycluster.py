"""A real local Ray cluster for tests: `ray start --head` on loopback and more nodes with `ray start --address`.

Each node is one `ray start --block` process in its own session, with its own CPUs, GPUs and custom
resources, its own ports and a temporary folder of its own. Stopping a node sends SIGTERM to `ray start`
(which stops what it started) and then SIGKILLs whatever is left in that session (Ray workers); stopping the
whole cluster SIGKILLs every session at once. Either way a test never leaves Ray processes behind and never
touches Ray processes it did not start (no `ray stop`).
The nodes' Python path holds the repository, so Ray workers import the same `daemon`, `engine` and
`integrations` as the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).with_name("ray"))
STARTED = "Ray runtime started"


class RayClusterError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def session_pids(sid: int) -> list[int]:
    """Every process in session `sid` (from /proc: field 6 of stat is the session id)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 3 and int(fields[3]) == sid:
            pids.append(int(entry.name))
    return pids


def ray_env() -> dict[str, str]:
    paths = [str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths)),
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "disabled",
        # Ray starts its workers at nice 15; beside the suite's other tests (and anything else on a 2-core
        # box) at normal priority they starved: a 40-s training and fix took over 150 s under load
        "RAY_worker_niceness": "0",
    }


@dataclass(frozen=True)
class WorkerNode:
    """A node to start beside the head: its name, CPUs, GPU slots and custom resources."""

    name: str
    num_cpus: int = 1
    num_gpus: int = 0
    resources: tuple[tuple[str, float], ...] = ()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@dataclass
class RayNode:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    since: int = 0  # where this start's lines begin in the log

    def alive(self) -> bool:
        return self.proc.poll() is None

    def pids(self) -> list[int]:
        return session_pids(self.proc.pid)

    def kill(self) -> None:
        """SIGKILL every process of this node at once (a power cut)."""
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=15)
        self.kill()


@dataclass
class RayCluster:
    root: Path
    gcs_port: int
    client_port: int
    temp: Path
    nodes: list[RayNode] = field(default_factory=list)

    @property
    def address(self) -> str:
        """The Ray Client address a daemon uses (`executor.ray_address`)."""
        return f"ray://127.0.0.1:{self.client_port}"

    @property
    def head(self) -> RayNode:
        return self.nodes[0]

    @classmethod
    def start(
        cls,
        root: Path,
        num_cpus: int = 1,
        timeout: float = 120.0,
        client_port: int | None = None,
        workers: Sequence[WorkerNode] = (),
    ) -> RayCluster:
        """A head, and `workers` nodes started as soon as the head's GCS accepts connections (in parallel with
        the rest of the head's start-up, and with each other)."""
        root.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))
        cluster = cls(root, free_port(), client_port or free_port(), temp)
        args = [
            "--head",
            f"--port={cluster.gcs_port}",
            f"--ray-client-server-port={cluster.client_port}",
            "--include-dashboard=false",
            f"--dashboard-port={free_port()}",
            f"--temp-dir={cluster.temp}",  # short: Ray's socket paths must fit in 107 bytes
            "--disable-usage-stats",
        ]
        try:
            head = cluster._launch("head", args, num_cpus, 0, {})
            deadline = time.monotonic() + timeout
            while workers and not _accepts(cluster.gcs_port):
                cluster._check(head, deadline)
                time.sleep(0.1)
            for w in workers:
                cluster._launch(w.name, cluster._join(), w.num_cpus, w.num_gpus, dict(w.resources))
            for node in cluster.nodes:
                cluster._wait(node, deadline)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def add_node(
        self,
        name: str,
        num_cpus: int = 1,
        num_gpus: int = 0,
        resources: dict[str, float] | None = None,
        timeout: float = 120.0,
        cores: Sequence[int] = (),
        env: dict[str, str] | None = None,
    ) -> RayNode:
        """A worker node joined to the head. `cores`: pin the node (its raylet and every worker it starts
        inherit the affinity) to these CPU cores, as on a machine that has only them; Ray's `--num-cpus` is a
        scheduling count, not a limit, and a task's threads would otherwise spread over every core. `env`:
        variables of this node's own (e.g. a PYTHONPATH of another install), over the cluster's."""
        node = self._launch(name, self._join(), num_cpus, num_gpus, resources or {}, cores, env or {})
        self._wait(node, time.monotonic() + timeout)
        return node

    def _join(self) -> list[str]:
        return [f"--address=127.0.0.1:{self.gcs_port}"]

    def _launch(
        self,
        name: str,
        args: list[str],
        num_cpus: int,
        num_gpus: int,
        resources: dict[str, float],
        cores: Sequence[int] = (),
        env: dict[str, str] | None = None,
    ) -> RayNode:
        low = 10000 + (self.gcs_port % 20) * 1000 + 100 * len(self.nodes)  # below the ephemeral ports
        log = self.root / f"{name}.log"
        command = [
            RAY,
            "start",
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--num-cpus={num_cpus}",
            f"--num-gpus={num_gpus}",
            f"--resources={json.dumps(resources)}",
            "--object-store-memory=100000000",
            f"--min-worker-port={low}",
            f"--max-worker-port={low + 99}",
            f"--dashboard-agent-listen-port={free_port()}",
            f"--dashboard-agent-grpc-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}",
            f"--metrics-export-port={free_port()}",
            # nobody reads Ray workers' output through a driver (jobs write their own logs): a log monitor
            # per node only costs CPU the jobs share (docs/operations.md)
            "--include-log-monitor=false",
            *args,
        ]
        since = log.stat().st_size if log.exists() else 0  # a node started again appends to its log
        with log.open("ab") as out:
            proc = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                # Ray's own helpers that look for "the" cluster must find this one, not another on the machine
                env={**ray_env(), "RAY_ADDRESS": f"127.0.0.1:{self.gcs_port}", **(env or {})},
                start_new_session=True,
                preexec_fn=(lambda: os.sched_setaffinity(0, set(cores))) if cores else None,
            )
        node = RayNode(name, proc, log, since)
        self.nodes.append(node)
        return node

    def _check(self, node: RayNode, deadline: float) -> None:
        if not node.alive():
            raise RayClusterError(f"ray node {node.name} exited with {node.proc.returncode}; see {node.log}")
        if time.monotonic() > deadline:
            raise RayClusterError(f"ray node {node.name} did not start in time; see {node.log}")

    def _wait(self, node: RayNode, deadline: float) -> None:
        while STARTED not in node.log.read_bytes()[node.since :].decode(errors="replace"):
            self._check(node, deadline)
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGKILL every process of every node at once: the cluster is thrown away, so there is nothing to
        stop gracefully (`ray start`'s own stop on SIGTERM took up to 15 s a node)."""
        for node in reversed(self.nodes):
            node.kill()
        shutil.rmtree(self.temp, ignore_errors=True)
