"""The webhook receiver and worker against the in-memory tracker: a signed delivery becomes one request and
one fix job per kind; the same event again (redelivered, polled, or after a restart) adds nothing; a bad
or missing signature is answered 401 with one log line and nothing queued; what the tracker cannot read
now is left to the poller."""

from __future__ import annotations

import json
import threading

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from daemon.catalog import Catalog, fixes
from daemon.catalog import jobs as job_repo
from daemon.settings import ShowConfig
from daemon.stages.requests import poll_fix_requests
from daemon.stages.webhooks import EventQueue, WebhookIntake, WebhookReceiver, WebhookWorker
from integrations.trackers.base import TrackerFatal
from integrations.trackers.flow_webhooks import sign
from integrations.trackers.memory import MemoryTracker
from integrations.trackers.options import TrackerOptions, WebhookOptions
from tests.daemon.stages.conftest import SHOW
from tests.daemon.stages.webhook_deliveries import SECRET, delivery, task_event
from tests.servers.redis import free_port

SHOWS = [ShowConfig(code=SHOW, tracker_project=SHOW)]


def intake(
    tracker: MemoryTracker, catalog: Catalog, queue: EventQueue | None = None
) -> tuple[WebhookWorker, WebhookReceiver]:
    receiver = WebhookReceiver(SECRET, tracker.wants_event, EventQueue() if queue is None else queue)
    return WebhookWorker(receiver.queue, tracker, catalog, SHOWS), receiver


def counts(catalog: Catalog) -> tuple[int, int]:
    """(fix requests, fix jobs) in the catalog."""
    with catalog.session(readonly=True) as s:
        return len(fixes.list_fix_requests(s, SHOW)), len(job_repo.list_jobs(s, kind="fix", limit=None))


def test_a_signed_delivery_becomes_one_request_and_one_fix_job_per_kind(
    catalog: Catalog, tracker: MemoryTracker
) -> None:
    worker, receiver = intake(tracker, catalog)
    asked = tracker.tag(tracker.add_task(SHOW, "sh010"), "denoise", "upscale", quality="best")
    assert receiver.receive(*delivery([task_event(asked)]), "127.0.0.1") == (
        200,
        "accepted: 1 event(s) queued",
    )
    assert worker.step() == 1
    with catalog.session(readonly=True) as s:
        [request] = fixes.list_fix_requests(s, SHOW)
        assert (request.request_key, request.kinds, request.params) == (
            asked.key,
            ["denoise", "upscale"],
            {"quality": "best"},
        )
    assert counts(catalog) == (1, 2)


def test_the_same_event_redelivered_polled_or_read_after_a_restart_adds_nothing(
    catalog: Catalog, tracker: MemoryTracker
) -> None:
    worker, receiver = intake(tracker, catalog)
    asked = tracker.tag(tracker.add_task(SHOW, "sh010"), "regrade")
    receiver.receive(*delivery([task_event(asked), task_event(asked)]), "127.0.0.1")
    assert receiver.receive(*delivery([task_event(asked)]), "127.0.0.1")[0] == 200  # at least once: 200 again
    assert len(receiver.queue) == 1 and receiver.counts.duplicates == 2
    assert worker.step() == 1
    assert poll_fix_requests(tracker, catalog, SHOWS).new == 0  # the poller catches up on it: nothing new
    restarted, fresh_receiver = intake(tracker, catalog)  # a restart forgets what it saw in memory...
    fresh_receiver.receive(*delivery([task_event(asked)]), "127.0.0.1")
    assert restarted.step() == 0  # ...and the request key in the catalog still makes it once
    assert counts(catalog) == (1, 1)


def test_a_request_polled_first_is_not_queued_again_by_its_late_webhook(
    catalog: Catalog, tracker: MemoryTracker
) -> None:
    worker, receiver = intake(tracker, catalog)
    asked = tracker.tag(tracker.add_task(SHOW, "sh010"), "denoise")
    assert poll_fix_requests(tracker, catalog, SHOWS).new == 1
    receiver.receive(*delivery([task_event(asked)]), "127.0.0.1")
    assert worker.step() == 0
    assert counts(catalog) == (1, 1)


@pytest.mark.parametrize(
    "signature",
    [None, "", "sha1=", "sha1=" + "0" * 40, "sha256=abc", "wrong-secret", "tampered-body"],
)
def test_a_bad_or_missing_signature_is_refused_with_401_one_log_line_and_nothing_queued(
    catalog: Catalog, tracker: MemoryTracker, signature: str | None
) -> None:
    worker, receiver = intake(tracker, catalog)
    asked = tracker.tag(tracker.add_task(SHOW, "sh010"), "denoise")
    body, headers = delivery([task_event(asked)])
    if signature is None:
        del headers["X-SG-SIGNATURE"]
    elif signature == "wrong-secret":
        headers["X-SG-SIGNATURE"] = sign(body, "not-the-secret")
    elif signature == "tampered-body":
        body = body.replace(b'"new_value": "fix"', b'"new_value": "fix" ')
    else:
        headers["X-SG-SIGNATURE"] = signature
    with capture_logs() as logs:
        code, answer = receiver.receive(body, headers, "10.0.0.9")
    assert code == 401 and answer.startswith("refused: ")
    assert [e["event"] for e in logs] == ["webhook.refused"]
    assert logs[0]["client"] == "10.0.0.9" and SECRET not in json.dumps(logs, default=str)
    signed = bool(headers.get("X-SG-SIGNATURE"))
    assert ("tracker.webhook.secret" if signed else "with a secret") in logs[0]["mend"]
    assert len(receiver.queue) == 0 and receiver.counts.refused == 1
    assert worker.step() == 0 and counts(catalog) == (0, 0)


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"data": {"deliveries": {}}}', b'{"data": {"deliveries": [{"id": "x"}]}}'],
)
def test_a_signed_body_that_is_not_a_delivery_is_answered_400_and_nothing_queued(
    catalog: Catalog, tracker: MemoryTracker, body: bytes
) -> None:
    _, receiver = intake(tracker, catalog)
    code, answer = receiver.receive(body, {"X-SG-SIGNATURE": sign(body, SECRET)}, "127.0.0.1")
    assert code == 400 and answer.startswith("not a webhook delivery: ")
    assert len(receiver.queue) == 0


def test_events_that_ask_for_nothing_are_acknowledged_and_dropped(
    catalog: Catalog, tracker: MemoryTracker
) -> None:
    _, receiver = intake(tracker, catalog)
    shot_created = {
        "id": "5", "event_log_entry_id": 5, "event_type": "Shotgun_Shot_New", "operation": "create",
        "entity": {"type": "Shot", "id": 3},
    }  # fmt: skip
    assert receiver.receive(*delivery([shot_created]), "127.0.0.1") == (200, "accepted: 0 event(s) queued")
    assert len(receiver.queue) == 0


def test_a_tracker_outage_while_reading_leaves_the_events_to_the_poller(
    catalog: Catalog, tracker: MemoryTracker
) -> None:
    worker, receiver = intake(tracker, catalog)
    asked = tracker.tag(tracker.add_task(SHOW, "sh010"), "denoise")
    receiver.receive(*delivery([task_event(asked)]), "127.0.0.1")
    tracker.fail_next(only="fix_requests_from_events")
    assert worker.step() == 0 and counts(catalog) == (0, 0)
    assert poll_fix_requests(tracker, catalog, SHOWS).new == 1
    assert counts(catalog) == (1, 1)


def test_a_catalog_outage_while_recording_leaves_the_events_to_the_poller(
    catalog: Catalog, tracker: MemoryTracker
) -> None:
    down = Catalog(f"postgresql+psycopg://rushes@127.0.0.1:{free_port()}/gone")  # nothing listens there
    worker, receiver = intake(tracker, down)
    asked = tracker.tag(tracker.add_task(SHOW, "sh010"), "denoise")
    receiver.receive(*delivery([task_event(asked)]), "127.0.0.1")
    assert worker.step() == 0  # one warning line, not an error that ends a step with a traceback
    down.dispose()
    assert poll_fix_requests(tracker, catalog, SHOWS).new == 1  # the poller reads it from the event log
    assert counts(catalog) == (1, 1)


def test_a_full_queue_answers_503_remembers_nothing_and_takes_the_retried_delivery(
    catalog: Catalog, tracker: MemoryTracker
) -> None:
    worker, receiver = intake(tracker, catalog, EventQueue(capacity=2))
    asked = [tracker.tag(tracker.add_task(SHOW, f"sh0{i}0"), "denoise") for i in (1, 2, 3)]
    assert receiver.receive(*delivery([task_event(asked[0])]), "127.0.0.1")[0] == 200
    retried = delivery([task_event(asked[1]), task_event(asked[2])])
    assert receiver.receive(*retried, "127.0.0.1")[0] == 503
    assert worker.step() == 1
    assert receiver.receive(*retried, "127.0.0.1") == (200, "accepted: 2 event(s) queued")
    assert worker.step() == 2 and counts(catalog) == (3, 3)


def test_the_worker_thread_records_a_delivery_and_wakes_the_job_lanes(
    catalog: Catalog, tracker: MemoryTracker
) -> None:
    woken = threading.Event()
    receiver = WebhookReceiver(SECRET, tracker.wants_event)
    worker = WebhookWorker(receiver.queue, tracker, catalog, SHOWS, on_new=woken.set).start()
    try:
        asked = tracker.tag(tracker.add_task(SHOW, "sh010"), "denoise")
        receiver.receive(*delivery([task_event(asked)]), "127.0.0.1")
        assert woken.wait(10)
        assert counts(catalog) == (1, 1)
    finally:
        worker.stop()


def test_the_intake_is_built_only_when_a_path_is_set_and_the_tracker_reads_webhooks(
    catalog: Catalog, tracker: MemoryTracker
) -> None:
    off = TrackerOptions(kind="shotgrid")
    assert WebhookIntake.build(off, tracker, catalog, SHOWS) is None
    on = TrackerOptions(kind="shotgrid", webhook=WebhookOptions(path="/flow", secret=SecretStr(SECRET)))
    built = WebhookIntake.build(on, tracker, catalog, SHOWS)
    assert built is not None and built.path == "/flow" and built.receiver.secret == SECRET
    with pytest.raises(TrackerFatal, match="reads no Flow webhooks"):
        WebhookIntake.build(on, None, catalog, SHOWS)
