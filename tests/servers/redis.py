"""A throw-away Redis server on a free loopback port, with no persistence, for integration tests.

redis = RedisServer.start(tmp_path)   # raises ServerMissing when redis-server is not installed
redis.host, redis.port
redis.stop()
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


class ServerMissing(RuntimeError):
    """A program a test server needs is not installed; the message says how to install it."""


class ServerFailed(RuntimeError):
    """A test server did not start; the message names it and quotes the end of its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `timeout` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


def redis_ping(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisServer:
    host: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @classmethod
    def start(cls, base: Path, timeout: float = 15.0) -> RedisServer:
        program = shutil.which("redis-server")
        if program is None:
            raise ServerMissing(
                "redis-server is not installed: run scripts/system-deps.sh (apt-get install redis-server)"
            )
        base.mkdir(parents=True, exist_ok=True)
        port = free_port()
        log_path = base / "redis.log"
        args = [program, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
        args += ["--dir", str(base), "--logfile", str(log_path), "--daemonize", "no"]
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            if redis_ping("127.0.0.1", port):
                return cls("127.0.0.1", port, process, log_path)
            time.sleep(0.05)
        stop_process(process)
        raise ServerFailed(f"redis-server did not start on port {port}:\n{log_tail(log_path)}")

    def stop(self) -> None:
        stop_process(self.process)
