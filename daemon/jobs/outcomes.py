"""How a job's failure is judged: data, not error text.

A job that can never succeed as asked (bad parameters, a missing source, no dailies to train on) raises
`Permanent`. Its outcome then carries `retryable=False`: the executors' worker sets it for a job run in
another process (Permanent is an `integrations.executors.NotRetryable`, so the executors need no daemon
import), and `in_process` sets it for a job run on the daemon's own threads. The runner reads only that
flag: a retryable failure is queued again with backoff until its attempts are spent, the rest go straight
to the dead letters.
"""

from __future__ import annotations

from integrations.executors.spec import JobOutcome, NotRetryable
from integrations.trackers.base import TrackerError, TrackerFatal, TrackerLoginRefused


class Permanent(NotRetryable):
    """A job that can never succeed as asked (bad parameters, missing source): dead-letter it at once."""


class NotYet(Permanent):
    """A job that cannot run as things stand through nothing in what was asked (the shot has no daily yet):
    dead-lettered at once like any Permanent, but its request's answer asks for it again as it is, once that is
    mended, rather than for a correction."""


def outcome_of_error(job_id: str, exc: BaseException, duration_s: float) -> JobOutcome:
    """The outcome of a job that raised `exc` on one of the daemon's threads."""
    return JobOutcome.failed(
        job_id, f"{exc}", duration_s=duration_s, retryable=not isinstance(exc, NotRetryable)
    )


def tracker_refusal(exc: TrackerFatal) -> Exception:
    """What a publish, answer or notice makes of the tracker's refusal: `Permanent` for its own (a permission,
    a field the site lacks), a `TrackerError` that waits in the outbox for the mend when the tracker refused
    the account Rushes works as (a key rotated while a fix rendered: the Version is published once it is
    mended, within the outbox's attempts as after an outage; it used to be dead-lettered at once, the
    coordinator told nothing)."""
    if isinstance(exc, TrackerLoginRefused):
        return TrackerError(
            f"{exc} (tried again on the outbox's backoff, as through an outage, until mended)"
        )
    return Permanent(str(exc))
