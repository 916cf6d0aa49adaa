"""1,000 fix requests delivered over the daemon's HTTP route as a Flow site under strain would: every event
sent one to three times, in shuffled batches, some whole deliveries sent twice, with forged deliveries
mixed in, while the event-log poller reads the same requests. Each request is recorded exactly once with
one fix job, every forged delivery is refused (401), and every answer comes within a second."""

from __future__ import annotations

import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from daemon.catalog import Catalog, fixes
from daemon.catalog import jobs as job_repo
from daemon.ops.health import HealthServer, Readiness
from daemon.ops.metrics import Metrics
from daemon.settings import ShowConfig
from daemon.stages.requests import poll_fix_requests
from daemon.stages.webhooks import WebhookReceiver, WebhookWorker
from integrations.trackers.memory import MemoryTracker
from tests.daemon.stages.conftest import SHOW
from tests.daemon.stages.webhook_deliveries import SECRET, delivery, task_event

SHOWS = [ShowConfig(code=SHOW, tracker_project=SHOW)]
REQUESTS = 1000
FORGED = 20
PATH = "/flow-webhook"


@pytest.fixture
def route(catalog: Catalog, tracker: MemoryTracker) -> Iterator[tuple[str, WebhookReceiver, WebhookWorker]]:
    receiver = WebhookReceiver(SECRET, tracker.wants_event)
    worker = WebhookWorker(receiver.queue, tracker, catalog, SHOWS).start()
    server = HealthServer(Metrics(), Readiness(), port=0)
    server.add_route(PATH, receiver.receive)
    server.start()
    yield server.url + PATH, receiver, worker
    server.stop()
    worker.stop()


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, float]:
    """The HTTP status and the seconds the answer took."""
    start = time.monotonic()
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            status = int(answer.status)
    except urllib.error.HTTPError as exc:
        status = int(exc.code)
    return status, time.monotonic() - start


def test_a_thousand_requests_by_webhook_and_poll_with_duplicates_and_reordering_are_each_made_once(
    catalog: Catalog, tracker: MemoryTracker, route: tuple[str, WebhookReceiver, WebhookWorker]
) -> None:
    url, receiver, worker = route
    rng = random.Random(13)
    asked = [tracker.tag(tracker.add_task(SHOW, f"sh{i:04d}"), "denoise") for i in range(REQUESTS)]
    forged_only = [tracker.tag(tracker.add_task(SHOW, f"fg{i:02d}"), "denoise") for i in range(FORGED)]
    events = [task_event(r) for r in asked for _ in range(rng.randint(1, 3))]
    rng.shuffle(events)
    batches = [delivery(events[i : i + rng.randint(1, 50)]) for i in range(0, len(events), 50)]
    batches += rng.sample(batches, 10)  # whole deliveries sent again (the site timed out waiting)
    forged = [delivery([task_event(r)], secret="guessed") for r in forged_only]
    sends = [(b, True) for b in batches] + [(f, False) for f in forged]
    rng.shuffle(sends)

    done = threading.Event()
    polled = []

    def poll_meanwhile() -> None:
        while not done.wait(0.02):  # the poll interval, 500 times shorter than the daemon's default
            polled.append(poll_fix_requests(tracker, catalog, SHOWS, limit=50).new)

    poller = threading.Thread(target=poll_meanwhile)
    poller.start()
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda send: (post(url, *send[0]), send[1]), sends))
    done.set()
    poller.join()

    assert all(status == 200 for (status, _), good in answers if good)
    assert [status for (status, _), good in answers if not good] == [401] * FORGED  # 100% refused
    assert receiver.counts.refused == FORGED
    assert max(seconds for (_, seconds), _ in answers) < 1.0
    # Nothing of a forged delivery was queued: the queued event ids are the good ones, each once.
    assert receiver.counts.queued <= REQUESTS
    # The worker takes what is left (stopped, then stepped by hand until the queue is empty), and the poller
    # reads the event log to its end: the forged-only requests come that way.
    worker.stop()
    while len(receiver.queue):
        worker.step()
    while (last := poll_fix_requests(tracker, catalog, SHOWS, limit=200)).seen:
        polled.append(last.new)
    assert worker.new + sum(polled) == REQUESTS + FORGED  # each new request counted by exactly one path
    with catalog.session(readonly=True) as s:
        keys = [r.request_key for r in fixes.list_fix_requests(s, SHOW, limit=None)]
        jobs = [j.key for j in job_repo.list_jobs(s, kind="fix", limit=None)]
    expected = {r.key for r in asked + forged_only}
    assert len(keys) == len(set(keys)) == REQUESTS + FORGED and set(keys) == expected
    assert sorted(jobs) == sorted(f"fix:{key}:denoise" for key in expected)  # one job per request
