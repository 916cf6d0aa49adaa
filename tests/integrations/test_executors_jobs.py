"""Job functions the executor tests run inside worker subprocesses (entry points, not tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any


def add(a: int, b: int) -> dict[str, Any]:
    return {"sum": a + b, "pid": os.getpid(), "cuda": os.environ.get("CUDA_VISIBLE_DEVICES")}


def sleep_and_record(seconds: float) -> dict[str, Any]:
    start = time.time()
    time.sleep(seconds)
    return {"start": start, "end": time.time(), "cuda": os.environ.get("CUDA_VISIBLE_DEVICES")}


def kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def segfault() -> None:
    import faulthandler

    faulthandler._sigsegv()  # as a crash in native code would


def fail(message: str) -> None:
    print("about to fail")
    raise ValueError(message)


def hang_with_child(pid_file: str) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    with open(pid_file, "w") as handle:
        handle.write(str(child.pid))
    time.sleep(60)


def not_json() -> object:
    return {"when": object()}


def record_pid_and_sleep(pid_file: str, seconds: float) -> None:
    with open(pid_file, "w") as handle:
        handle.write(str(os.getpid()))
    time.sleep(seconds)
