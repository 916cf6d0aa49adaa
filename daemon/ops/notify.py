"""systemd notifications (sd_notify) written by hand: READY=1, WATCHDOG=1, STATUS=..., STOPPING=1.

Messages go as one datagram to the unix socket named by NOTIFY_SOCKET (a path, or an abstract name
written with a leading '@'). Without NOTIFY_SOCKET (not under systemd) every call is a no-op that
returns False; a failing send is logged and never raised, so notifications never stop the daemon.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

from daemon.logs import get_logger

log = get_logger("rushes.notify")


def _address(name: str) -> str | bytes:
    if name.startswith("@"):
        return b"\0" + name[1:].encode()
    return name


def sd_notify(*fields: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send "KEY=value" fields in one datagram; True if it was sent."""
    env = os.environ if environ is None else environ
    name = env.get("NOTIFY_SOCKET")
    if not name or not fields:
        return False
    message = "\n".join(fields).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(_address(name))
            sock.sendall(message)
    except OSError as exc:
        log.warning("systemd notification failed", socket=name, error=str(exc))
        return False
    return True


def ready(status: str | None = None) -> bool:
    """Tell systemd start-up is done (Type=notify units leave 'activating')."""
    return sd_notify("READY=1", *([f"STATUS={_one_line(status)}"] if status else []))


def watchdog() -> bool:
    """Ping the watchdog; call it at `watchdog_interval()` from the loop that proves the daemon is alive."""
    return sd_notify("WATCHDOG=1")


def status(text: str) -> bool:
    """A free-form status line shown by `systemctl status`."""
    return sd_notify(f"STATUS={_one_line(text)}")


def stopping(status: str | None = None) -> bool:
    return sd_notify("STOPPING=1", *([f"STATUS={_one_line(status)}"] if status else []))


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds between watchdog pings (half of WATCHDOG_USEC), or None when the watchdog is off.

    WATCHDOG_PID, when set, must be this process (the variables are not meant for its children).
    """
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC")
    pid = env.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 2 / 1_000_000 if value > 0 else None


def _one_line(text: str) -> str:
    return " ".join(text.split())
