"""Ingest's temporary failures: a full disk or quota, anywhere in an exception's cause chain, is told apart from a
real failure, and a file that hit one is offered again once its interval has passed (an injected clock)."""

from __future__ import annotations

import errno
import os
import sqlite3

from integrations.ingest.retries import Retries, temporary_reason


def _full(code: int = errno.ENOSPC) -> OSError:
    return OSError(code, os.strerror(code), "/data/catalog.sqlite")


def test_a_full_disk_or_quota_is_temporary_with_where_it_happened() -> None:
    assert temporary_reason(_full()) == f"disk full: {os.strerror(errno.ENOSPC)} (/data/catalog.sqlite)"
    assert (
        temporary_reason(_full(errno.EDQUOT))
        == f"disk full: {os.strerror(errno.EDQUOT)} (/data/catalog.sqlite)"
    )
    full = sqlite3.OperationalError("database or disk is full\nSQL: INSERT ...")
    assert temporary_reason(full) == "disk full: database or disk is full"


def test_a_full_disk_behind_another_error_is_still_temporary() -> None:
    # a wrapper raised while handling the full disk (implicitly chained) or explicitly `from` it
    try:
        try:
            raise _full()
        except OSError:
            raise RuntimeError("could not queue the daily")  # noqa: B904 - the implicit chain is what is tested
    except RuntimeError as implicit:
        assert (reason := temporary_reason(implicit)) is not None and reason.startswith("disk full")
    explicit = RuntimeError("could not queue the daily")
    explicit.__cause__ = _full(errno.EDQUOT)
    assert (reason := temporary_reason(explicit)) is not None and reason.startswith("disk full")


def test_other_failures_are_not_temporary_and_a_looping_chain_ends() -> None:
    assert temporary_reason(PermissionError(errno.EACCES, "Permission denied", "/inbox/a.mov")) is None
    assert temporary_reason(ValueError("not a movie")) is None
    first, second = ValueError("a"), ValueError("b")
    first.__context__, second.__context__ = second, first
    assert temporary_reason(first) is None


def test_a_waiting_file_is_offered_again_once_its_interval_has_passed() -> None:
    retries = Retries(interval=30.0)
    retries.add("a.mov", "candidate a", "disk full: first", now=100.0)
    assert retries.due(129.9) == [] and len(retries) == 1
    assert retries.due(130.0) == ["candidate a"]  # due at exactly now + interval
    assert retries.due(1000.0) == [] and len(retries) == 0 and retries.reason is None


def test_the_reason_shown_is_the_newest_one() -> None:
    retries = Retries(interval=30.0)
    retries.add("a.mov", "candidate a", "disk full: /data", now=100.0)
    retries.add("b.mov", "candidate b", "disk full: quota of /renders", now=105.0)
    retries.add("c.mov", "candidate c", "disk full: /data again", now=101.0)
    assert retries.reason == "disk full: quota of /renders"
    retries.discard("b.mov")
    assert retries.reason == "disk full: /data again" and len(retries) == 2
