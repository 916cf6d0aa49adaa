"""The bookkeeping both executors share: one submission per id, an outcome read the same way twice."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from integrations.executors.base import ExecutorError, Handle, UnknownJob
from integrations.executors.ledger import JobLedger
from integrations.executors.spec import JobOutcome, JobSpec


@dataclass
class _Job:
    spec: JobSpec


def _job(job_id: str) -> _Job:
    return _Job(spec=JobSpec(id=job_id, kind="test", entry_point="json:dumps"))


def test_an_id_waiting_or_running_cannot_be_submitted_again_but_a_finished_one_can() -> None:
    ledger: JobLedger[_Job] = JobLedger("test")
    ledger.admit(_job("a"))
    with pytest.raises(ExecutorError, match="already submitted"):
        ledger.admit(_job("a"))
    job = ledger.take_pending("a")
    assert job is not None
    ledger.running["a"] = job
    with pytest.raises(ExecutorError):
        ledger.admit(_job("a"))
    ledger.record("a", JobOutcome(id="a", ok=True))
    assert ledger.read("a") is not None
    ledger.admit(_job("a"))
    assert ledger.read("a") is None  # the new run has no outcome yet


def test_an_outcome_is_read_the_same_on_every_poll_and_unknown_ids_are_refused() -> None:
    ledger: JobLedger[_Job] = JobLedger("test", keep=1)
    handle = ledger.admit(_job("a"))
    ledger.record("a", JobOutcome.failed("a", "boom"))
    first, second = ledger.read("a"), ledger.read("a")
    assert first == second and first is not None and first.error == "boom"
    ledger.check(handle, "test executor")
    with pytest.raises(UnknownJob, match="not known to this test executor"):
        ledger.check(Handle(job_id="b", backend="test"), "test executor")
    with pytest.raises(UnknownJob):
        ledger.check(Handle(job_id="a", backend="other"), "test executor")
    ledger.admit(_job("b"))
    ledger.record("b", JobOutcome(id="b", ok=True))
    ledger.read("b")
    assert ledger.read("a") is None  # only the last `keep` read outcomes are remembered
