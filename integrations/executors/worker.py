"""The worker: runs one `JobSpec` in this process and writes its `JobOutcome` as JSON.

    python -m integrations.executors.worker --spec spec.json --result outcome.json
    python -m integrations.executors.worker --spec - --result outcome.json   (spec on stdin)

The entry point "package.module:function" is imported here, never in the process that submitted the
job; the function is called with the spec's args as keyword arguments and returns a JSON object
(None counts as {}; any other JSON value comes back as {"value": ...}); a function that raises
NotRetryable gets an outcome with `retryable=False`. The outcome file is written
atomically (temporary file, then rename), so a reader sees all of it or nothing. A crash in native code
(a segmentation fault in a runtime, say) writes every thread's Python stack to stderr, which is the job's
log, before the worker dies of it.
"""

from __future__ import annotations

import argparse
import faulthandler
import gc
import importlib
import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from integrations.executors.spec import InvalidJobSpec, JobOutcome, JobSpec, NotRetryable, one_line


class EntryPointError(Exception):
    """The entry point cannot be imported or is not callable."""


def resolve(entry_point: str) -> Callable[..., Any]:
    """Import "package.module:function" (attributes may be dotted: "pkg.mod:Class.method")."""
    module_name, _, attr_path = entry_point.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise EntryPointError(f"cannot import module {module_name!r} ({exc})") from exc
    for part in attr_path.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise EntryPointError(f"module {module_name!r} has no {attr_path!r}") from None
    if not callable(target):
        raise EntryPointError(f"{entry_point!r} is not a function")
    return target  # type: ignore[no-any-return]


def _as_result(value: Any) -> dict[str, Any]:
    result = {} if value is None else value if isinstance(value, dict) else {"value": value}
    json.dumps(result, allow_nan=False)  # raises TypeError/ValueError when not JSON
    return result


def _exception_line(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def run_spec(spec: JobSpec) -> JobOutcome:
    """Resolve and call the spec's entry point here; never raises for a failing job."""
    start = time.monotonic()

    def failed(error: str, retryable: bool = True) -> JobOutcome:
        return JobOutcome.failed(
            spec.id, error, exit_code=1, duration_s=time.monotonic() - start, retryable=retryable
        )

    try:
        function = resolve(spec.entry_point)
    except EntryPointError as exc:
        return failed(f"job {spec.id}: {exc}")
    try:
        value = function(**spec.args)
    except SystemExit as exc:
        if exc.code in (0, None):
            value = None
        else:
            return failed(f"job {spec.id} called sys.exit({exc.code!r})")
    except Exception as exc:
        traceback.print_exc()
        return failed(_exception_line(exc), retryable=not isinstance(exc, NotRetryable))
    try:
        result = _as_result(value)
    except (TypeError, ValueError) as exc:
        return failed(f"job {spec.id} returned a value that is not JSON ({exc})")
    return JobOutcome(id=spec.id, ok=True, result=result, exit_code=0, duration_s=time.monotonic() - start)


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def watch_parent(parent_pid: int, every_s: float = 1.0, grace_s: float = 10.0) -> threading.Thread:
    """Stop this worker's process group if the process that started it dies (a crashed daemon).

    The job gets SIGTERM, then SIGKILL after `grace_s`: an orphaned job must not keep a GPU busy
    while the restarted daemon runs the same job again.
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(every_s)
        print(
            "rushes worker: the daemon that started this job is gone; stopping", file=sys.stderr, flush=True
        )
        os.killpg(os.getpgrp(), signal.SIGTERM)
        time.sleep(grace_s)
        os.killpg(os.getpgrp(), signal.SIGKILL)

    thread = threading.Thread(target=watch, name="rushes-parent-watch", daemon=True)
    thread.start()
    return thread


def _read_spec(source: str) -> JobSpec:
    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    return JobSpec.from_json(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m integrations.executors.worker", description=__doc__)
    parser.add_argument("--spec", required=True, help="Job spec JSON file, or - for stdin.")
    parser.add_argument("--result", required=True, type=Path, help="Where to write the outcome JSON.")
    parser.add_argument("--parent-pid", type=int, help="Stop the job when this process is gone.")
    options = parser.parse_args(argv)
    faulthandler.enable()  # a native crash leaves the job's Python stacks in its log
    try:
        spec = _read_spec(options.spec)
    except (OSError, InvalidJobSpec) as exc:
        print(f"rushes worker: {one_line(str(exc))}", file=sys.stderr)
        return 2
    if options.parent_pid:
        watch_parent(options.parent_pid)
    print(
        f"rushes worker: job {spec.id} ({spec.kind}) starts {spec.entry_point}", file=sys.stderr, flush=True
    )
    outcome = run_spec(spec)
    status = "ok" if outcome.ok else f"failed: {outcome.error}"
    print(f"rushes worker: job {spec.id} {status} in {outcome.duration_s:.2f} s", file=sys.stderr, flush=True)
    write_atomically(options.result, outcome.to_json())
    sys.stdout.flush()
    # The executor waits for this process to exit. Python's last garbage collection over everything a job
    # imported (torch, the engine) took 4-5 s at exit on a busy 2-core machine, 0.7-1.2 s once every object
    # is frozen out of it; exit still runs atexit handlers and flushes files as usual.
    gc.freeze()
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
