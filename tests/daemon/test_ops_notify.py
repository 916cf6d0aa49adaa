"""sd_notify reaches a unix datagram socket named by NOTIFY_SOCKET (paths and abstract '@' names)."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.ops import notify


@pytest.fixture
def notify_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    folder = Path(tempfile.mkdtemp(prefix="rn-"))  # short: unix socket paths are limited to 107 bytes
    path = folder / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()
    path.unlink()
    folder.rmdir()


def test_ready_sends_ready_1(notify_socket: socket.socket) -> None:
    assert notify.ready(status="watching 2 shows")
    assert notify_socket.recv(4096).decode().split("\n") == ["READY=1", "STATUS=watching 2 shows"]


def test_watchdog_status_and_stopping(notify_socket: socket.socket) -> None:
    assert notify.watchdog() and notify.status("training MYSHOW\nhead denoise") and notify.stopping()
    assert [notify_socket.recv(4096) for _ in range(3)] == [
        b"WATCHDOG=1",
        b"STATUS=training MYSHOW head denoise",
        b"STOPPING=1",
    ]


def test_abstract_socket_names(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"rushes-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", f"@{name}")
        assert notify.ready()
        assert sock.recv(4096) == b"READY=1"


def test_without_notify_socket_nothing_happens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify.ready() is False


def test_a_vanished_socket_is_not_fatal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone.sock"))
    assert notify.watchdog() is False


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    assert notify.watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert notify.watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 15.0
    assert notify.watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert notify.watchdog_interval({}) is None
