"""A failure that repeats while something is down is logged when it starts, every minute, and when it clears."""

from __future__ import annotations

from typing import Any

from daemon.ops.outages import OutageLog


class Lines:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def error(self, event: str, **fields: Any) -> None:
        self.lines.append(("error", event, fields))

    def info(self, event: str, **fields: Any) -> None:
        self.lines.append(("info", event, fields))


def test_an_outage_is_three_kinds_of_line_not_one_per_attempt() -> None:
    now = [100.0]
    lines = Lines()
    outage = OutageLog(lines, "runner.catalog_error", every_s=60, clock=lambda: now[0])
    outage.cleared()  # nothing was failing: nothing to say
    for _ in range(240):  # two minutes of attempts twice a second
        outage.failed("connection refused", lane="fix")
        now[0] += 0.5
    assert outage.down
    outage.cleared()
    assert not outage.down
    assert lines.lines == [
        ("error", "runner.catalog_error", {"error": "connection refused", "lane": "fix"}),
        (
            "error",
            "runner.catalog_error",
            {"error": "connection refused", "down_s": 60, "attempts": 121, "lane": "fix"},
        ),
        ("info", "runner.catalog_error.cleared", {"down_s": 120, "attempts": 240}),
    ]
    outage.failed("again")  # a new outage starts a new count
    assert lines.lines[-1] == ("error", "runner.catalog_error", {"error": "again"})
