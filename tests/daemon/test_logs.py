"""Logging: JSON lines for log shippers, a readable console on a terminal, stdlib loggers through the same path."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import select
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from daemon.logs import configure, get_logger


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level, hook = root.handlers[:], root.level, threading.excepthook
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    threading.excepthook = hook
    structlog.reset_defaults()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_level_timestamp_event_and_bound_fields() -> None:
    stream = io.StringIO()
    configure("info", "json", stream)
    log = get_logger("rushes.test", show="MYSHOW", shot="sh010")
    log.info("daily registered", frames=24)
    log.bind(job=7).warning("retrying", attempt=2)
    first, second = records(stream)
    assert first["event"] == "daily registered" and first["level"] == "info"
    assert (first["show"], first["shot"], first["frames"]) == ("MYSHOW", "sh010", 24)
    assert first["logger"] == "rushes.test"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", first["timestamp"])
    assert second["level"] == "warning" and second["job"] == 7 and second["attempt"] == 2
    assert second["show"] == "MYSHOW"


def test_level_filters_and_exceptions_stay_one_json_line() -> None:
    stream = io.StringIO()
    configure("warning", "json", stream)
    log = get_logger("rushes.test", show="X")
    log.info("too chatty")
    try:
        raise ValueError("bad frame")
    except ValueError:
        log.exception("fix failed")
    (record,) = records(stream)
    assert record["event"] == "fix failed" and record["level"] == "error"
    assert "ValueError: bad frame" in record["exception"]


def test_stdlib_logging_goes_through_the_same_renderer() -> None:
    stream = io.StringIO()
    configure("info", "json", stream)
    logging.getLogger("watchdog").warning("inotify watch limit reached on %s", "/mnt/dailies")
    logging.getLogger("watchdog").info("a library's chatter")  # quietened below warning
    logging.getLogger("rushes.plain").info("plain %d", 3)
    watchdog, plain = records(stream)
    assert watchdog == {
        "event": "inotify watch limit reached on /mnt/dailies",
        "level": "warning",
        "logger": "watchdog",
        "timestamp": watchdog["timestamp"],
    }
    assert plain["event"] == "plain 3" and plain["level"] == "info"


def test_console_format_on_a_terminal() -> None:
    stream = Terminal()
    configure("info", "auto", stream)
    get_logger("rushes.test", show="MYSHOW").warning("daily quarantined", reason="empty file")
    text = stream.getvalue()
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)  # colours on a terminal
    assert "\x1b[" in text
    assert not plain.startswith("{")
    assert "warning" in plain and "daily quarantined" in plain
    assert "show=MYSHOW" in plain and "reason='empty file'" in plain


def test_auto_format_on_a_real_pty_is_console_and_json_elsewhere() -> None:
    master, slave = os.openpty()
    with os.fdopen(slave, "w") as tty:
        configure("info", "auto", tty)
        get_logger("rushes.test").info("on a terminal", show="T")
        tty.flush()
        ready, _, _ = select.select([master], [], [], 5)
        assert ready
        text = os.read(master, 65536).decode()
    os.close(master)
    assert "on a terminal" in text and "show" in text and not text.lstrip().startswith("{")

    stream = io.StringIO()
    configure("info", "auto", stream)
    get_logger("rushes.test").info("in a pipe")
    assert records(stream)[0]["event"] == "in a pipe"


def test_module_loggers_made_at_import_follow_the_later_configuration(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Daemon modules make `log = get_logger(...)` at import, before the CLI or daemon configures logging."""
    from daemon.jobs import runner

    early = get_logger("rushes.early", show="E")
    stream = io.StringIO()
    configure("warning", "json", stream)
    early.info("below the level")
    early.warning("made before configure")
    runner.log.bind(job=3).warning("from a module logger")
    first, second = records(stream)
    assert (first["event"], first["show"], first["logger"]) == ("made before configure", "E", "rushes.early")
    assert (second["event"], second["job"], second["logger"]) == ("from a module logger", 3, "rushes.runner")
    assert capsys.readouterr().out == ""  # nothing leaks to stdout, where `--json` output goes


def test_a_thread_that_dies_on_an_exception_is_one_json_line_not_a_traceback() -> None:
    stream = io.StringIO()
    configure(fmt="json", stream=stream)

    def poll() -> None:  # a library's background thread whose channel closed under it
        raise ValueError("Cannot monitor channel state: Channel closed!")

    thread = threading.Thread(target=poll, name="Thread-8 (_run)")
    thread.start()
    thread.join()
    [line] = records(stream)
    assert line["level"] == "error" and line["logger"] == "rushes.threads"
    assert line["event"].startswith(
        "thread.crashed: thread Thread-8 (_run) stopped on ValueError: Cannot monitor"
    )
    assert "test_logs.py:" in line["event"]  # where it was raised
    assert "Traceback" not in stream.getvalue()


def test_a_traceback_on_the_console_shows_no_local_variables_such_as_the_trackers_password() -> None:
    """The console format (a terminal, or log_format: console) used to print every frame's locals with a logged
    traceback: the Kitsu login's password, a webhook receiver's secret."""
    stream = Terminal()
    configure("info", "console", stream)

    def log_in(password: str) -> None:
        try:
            raise ConnectionError("Kitsu did not answer")
        except ConnectionError:
            get_logger("rushes.test").error("tracker.login_failed", exc_info=True)

    log_in("hunter2-kitsu")
    plain = re.sub(r"\x1b\[[0-9;]*m", "", stream.getvalue())
    assert "tracker.login_failed" in plain and "ConnectionError" in plain and "Kitsu did not answer" in plain
    assert "hunter2-kitsu" not in plain
