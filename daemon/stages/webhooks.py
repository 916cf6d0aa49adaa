"""The webhook path into the requests stage: Flow Production Tracking deliveries on the daemon's HTTP port
become fix requests and fix jobs, the same work the event-log poller makes.

Receiving (`WebhookReceiver.receive`, on the HTTP request thread; no tracker I/O, so it answers in
milliseconds, well inside the second the hosted service allows):
1. the signature (`X-SG-SIGNATURE: sha1=<HMAC-SHA1 of the raw body keyed with tracker.webhook.secret>`) is
   compared in constant time; bad or missing: 401 and one log line, nothing queued;
2. the body is parsed into typed events (not a delivery: 400 and one log line, nothing queued);
3. events the adapter can make no fix request of are dropped (`wants_event`: a Task's status or fix field
   changed); the others pass an in-memory dedupe on the event id (redeliveries, one event in two batches)
   and join the queue; 200. A full queue answers 503 before anything is remembered, so the site retries.

Consuming (`WebhookWorker`, its own thread with its own adapter: tracker clients are not thread-safe):
takes what is queued (up to `batch` events), asks the adapter which fix requests these events make now
(`fix_requests_from_events` reads the tasks) and records them with the requests stage's
`record_fix_requests`, all in one catalog transaction; then wakes the job lanes. A tracker failure while
reading drops those events with one log line: the poller reads them from the event log.

Exactly once. Each request carries the key the event-log poller gives it (the id of the task's status
change), and the catalog records a request key once (a unique column), so a request read by webhook and
by poll, delivered twice, or delivered again after a restart makes one request and one job per fix kind.
The in-memory dedupe only saves tracker reads; the request key is the durable dedupe. The poller keeps
running as the catch-up path: a delivery lost, refused or dropped is still in the event log after the
poller's cursor. Delivery is at least once; Rushes' effect is once.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from daemon.catalog import Catalog
from daemon.catalog.db import CatalogError
from daemon.logs import get_logger
from daemon.settings import ShowConfig
from daemon.stages.requests import record_fix_requests
from integrations.trackers.base import Tracker, TrackerError, TrackerFatal, WebhookFixes
from integrations.trackers.flow_webhooks import (
    SIGNATURE_HEADER,
    Deduper,
    DeliveryError,
    WebhookEvent,
    parse_delivery,
    verify_signature,
)
from integrations.trackers.options import TrackerOptions

log = get_logger("rushes.webhook")

QUEUE_CAPACITY = 20_000


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


class EventQueue:
    """Events waiting for the worker, oldest first; `take` blocks until some arrive or it is closed."""

    def __init__(self, capacity: int = QUEUE_CAPACITY) -> None:
        self.capacity = capacity
        self._items: deque[WebhookEvent] = deque()
        self._ready = threading.Condition()
        self._closed = False

    def room(self, n: int) -> bool:
        with self._ready:
            return len(self._items) + n <= self.capacity

    def put_all(self, events: Iterable[WebhookEvent]) -> None:
        with self._ready:
            self._items.extend(events)
            self._ready.notify_all()

    def take(self, most: int, timeout: float) -> list[WebhookEvent]:
        with self._ready:
            self._ready.wait_for(lambda: self._items or self._closed, timeout)
            n = min(most, len(self._items))
            return [self._items.popleft() for _ in range(n)]

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()

    def __len__(self) -> int:
        with self._ready:
            return len(self._items)


@dataclass
class ReceiverCounts:
    accepted: int = 0  # deliveries answered 200
    refused: int = 0  # bad or missing signature (401)
    malformed: int = 0  # not a delivery (400)
    queued: int = 0  # events put on the queue
    duplicates: int = 0  # events dropped as already seen


@dataclass
class WebhookReceiver:
    """The HTTP route's logic (see the module docstring); `receive` is the route handler."""

    secret: str
    wants: Callable[[WebhookEvent], bool]
    queue: EventQueue = field(default_factory=EventQueue)
    dedupe: Deduper = field(default_factory=Deduper)
    counts: ReceiverCounts = field(default_factory=ReceiverCounts)
    on_result: Callable[[str], None] = lambda result: None  # accepted, refused, malformed or busy (metrics)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def receive(self, body: bytes, headers: Mapping[str, str], client: str) -> tuple[int, str]:
        delivery_id = (_header(headers, "X-SG-DELIVERY-ID") or "")[:80]
        signature = _header(headers, SIGNATURE_HEADER)
        if not verify_signature(body, signature, self.secret):
            with self._lock:
                self.counts.refused += 1
            why = "bad signature" if signature else "no signature"
            mend = (  # what the studio's TD changes: the two secrets, or what sends to this address
                "the secret of the site's webhook and tracker.webhook.secret differ (or the body was changed on "
                "the way); set them to the same value"
                if signature
                else "the sender is not a Flow webhook with a secret; set one on the site's webhook"
            )
            log.warning("webhook.refused", reason=why, mend=mend, client=client, delivery=delivery_id)
            self.on_result("refused")
            return 401, f"refused: {why} (X-SG-SIGNATURE must sign the body with the webhook's secret)"
        try:
            delivery = parse_delivery(body, headers)
        except DeliveryError as exc:
            with self._lock:
                self.counts.malformed += 1
            log.warning("webhook.malformed", error=str(exc), client=client, delivery=delivery_id)
            self.on_result("malformed")
            return 400, f"not a webhook delivery: {exc}"
        return self._enqueue([e for e in delivery.events if self.wants(e)], delivery_id)

    def _enqueue(self, wanted: list[WebhookEvent], delivery_id: str) -> tuple[int, str]:
        with self._lock:
            unseen = {e.event_id: e for e in wanted if not self.dedupe.seen(e.event_id)}
            if not self.queue.room(len(unseen)):
                log.warning("webhook.busy", queued=len(self.queue), delivery=delivery_id)
                self.on_result("busy")
                return 503, "busy: too many events waiting; send this delivery again later"
            fresh = self.dedupe.fresh(unseen.values())
            self.queue.put_all(fresh)
            self.counts.accepted += 1
            self.counts.queued += len(fresh)
            self.counts.duplicates += len(wanted) - len(fresh)
        log.debug("webhook.accepted", delivery=delivery_id, queued=len(fresh))
        self.on_result("accepted")
        return 200, f"accepted: {len(fresh)} event(s) queued"


def record_webhook_events(
    tracker: WebhookFixes, catalog: Catalog, shows: list[ShowConfig], events: list[WebhookEvent]
) -> int:
    """The requests these events make, recorded (once per key) with their fix jobs; how many were new."""
    requests = tracker.fix_requests_from_events(events)
    with catalog.session() as s:
        return record_fix_requests(s, requests, shows, tracker=tracker.name)


class WebhookWorker:
    """Takes queued events and records the fix requests they make, on its own thread until `stop()`."""

    def __init__(
        self,
        queue: EventQueue,
        tracker: WebhookFixes,
        catalog: Catalog,
        shows: list[ShowConfig],
        on_new: Callable[[], None] = lambda: None,
        batch: int = 200,
    ) -> None:
        self.queue = queue
        self.tracker = tracker
        self.catalog = catalog
        self.shows = shows
        self.on_new = on_new
        self.batch = batch
        self.new = 0  # fix requests recorded so far
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rushes-webhook", daemon=True)

    def step(self, timeout: float = 0.0) -> int:
        """Record what is queued (at most `batch` events, waiting up to `timeout` for some); new requests."""
        events = self.queue.take(self.batch, timeout)
        if not events:
            return 0
        try:
            new = record_webhook_events(self.tracker, self.catalog, self.shows, events)
        except TrackerFatal as exc:
            log.error("webhook.tracker_refused", events=len(events), error=str(exc))
            return 0
        except TrackerError as exc:
            log.warning("webhook.tracker_unavailable", events=len(events), left_to="poller", error=str(exc))
            return 0
        except CatalogError as exc:  # PostgreSQL restarting: the poller reads these events once it is back
            log.warning("webhook.catalog_unreachable", events=len(events), left_to="poller", error=str(exc))
            return 0
        self.new += new
        if new:
            log.info("tracker.fix_requests", new=new, source="webhook")
            self.on_new()
        return new

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.step(timeout=1.0)
            except Exception as exc:  # a bug or a catalog outage must not end the thread
                log.error("webhook.step_failed", error=f"{type(exc).__name__}: {exc}", exc_info=True)
                self._stop.wait(1.0)

    def start(self) -> WebhookWorker:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.queue.close()
        if self._thread.is_alive():
            self._thread.join(timeout)


@dataclass
class WebhookIntake:
    """The receiver (its route `path` on the HTTP port) and the worker behind it, built from the settings."""

    path: str
    receiver: WebhookReceiver
    worker: WebhookWorker

    @classmethod
    def build(
        cls,
        options: TrackerOptions,
        tracker: Tracker | None,
        catalog: Catalog,
        shows: list[ShowConfig],
        on_new: Callable[[], None] = lambda: None,
        on_result: Callable[[str], None] = lambda result: None,
    ) -> WebhookIntake | None:
        """None when tracker.webhook.path is empty; TrackerFatal when the adapter reads no webhooks."""
        hook = options.webhook
        if not hook.enabled or hook.secret is None:
            return None
        if not isinstance(tracker, WebhookFixes):
            raise TrackerFatal(
                f"tracker.webhook: the {options.kind} adapter reads no Flow webhooks; remove tracker.webhook"
            )
        secret = hook.secret.get_secret_value().strip()
        receiver = WebhookReceiver(secret, tracker.wants_event, on_result=on_result)
        worker = WebhookWorker(receiver.queue, tracker, catalog, shows, on_new)
        return cls(hook.path, receiver, worker)
