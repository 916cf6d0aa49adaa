"""Flow-style webhooks sent by the local server: subscriptions, signed batched deliveries, retries.

A webhook has a url, a secret and subscriptions {entity type: operations} (operations: create, update,
delete, revive, from the event log's `Shotgun_<Type>_<New|Change|Retirement|Revival>`). `WebhookHub.pump()`
is one step, driven by a background thread in the server or by tests with an injected clock and sender:

1. collect: event log rows after each webhook's cursor that match its subscriptions join its queue (in
   event id order; the cursor only moves forward, so each event is queued once per webhook); the
   attribute changes logged with a create (meta.in_create) are not sent as updates;
2. deliver: a webhook whose retry time has come sends the oldest batch of at most 50 queued events as
   one POST (body and headers as integrations/trackers/flow_webhooks.py describes, signed with
   HMAC-SHA1 of the body). A 2xx answer removes the batch; anything else (status, refused connection,
   timeout) keeps it, to be sent again with the same delivery id after a backoff of 1, 2, 4... seconds
   (at most 60). After `max_failures` failed attempts in a row the webhook is marked "failed" and stops
   (its queue is kept; `reactivate()` resumes). Delivery is therefore at least once, in event order.

Every attempt is recorded in the delivery log (webhook, delivery id, event ids, HTTP status or error,
attempt number, time). Webhooks and the log are kept in the server's SQLite store under private types that
are not part of the schema and produce no events.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from integrations.trackers.flow_webhooks import MAX_BATCH, SIGNATURE_HEADER, sign
from integrations.trackers.sgserver.service import Link, Service, ServiceFault
from integrations.trackers.sgserver.storage import Row, Storage

__all__ = ["DeliveryRecord", "Webhook", "WebhookError", "WebhookHub", "WebhookPump", "http_sender"]

LOG = logging.getLogger(__name__)
WEBHOOK = "_Webhook"
DELIVERY = "_WebhookDelivery"
OPERATIONS = {"New": "create", "Change": "update", "Retirement": "delete", "Revival": "revive"}

# (url, headers, body) -> HTTP status; raises OSError when nothing answers.
Sender = Callable[[str, dict[str, str], bytes], int]


class WebhookError(ValueError):
    """A webhook definition that cannot be used; the message names what to fix."""


@dataclass
class Webhook:
    id: str
    url: str
    secret: str
    subscriptions: dict[str, list[str]]
    site_url: str = ""
    status: str = "active"  # or "failed"
    cursor: int = 0  # the last event log id considered
    queue: list[dict[str, Any]] = field(default_factory=list)
    failures: int = 0
    retry_at: float = 0.0
    batch_id: str = ""  # delivery id of the batch being retried
    row_id: int = 0

    def wants(self, entity_type: str, operation: str) -> bool:
        return operation in self.subscriptions.get(entity_type, [])

    def public(self) -> dict[str, Any]:
        """The webhook as answered to clients: never the secret or the queue."""
        return {
            "id": self.id,
            "url": self.url,
            "subscriptions": self.subscriptions,
            "status": self.status,
            "queued": len(self.queue),
            "failures": self.failures,
        }


@dataclass(frozen=True)
class DeliveryRecord:
    webhook_id: str
    delivery_id: str
    event_ids: tuple[int, ...]
    attempt: int
    status: int | None
    ok: bool
    error: str
    at: float


def http_sender(timeout: float = 6.0) -> Sender:
    """Send with urllib; the hosted service waits about 6 s for an answer too."""

    def send(url: str, headers: dict[str, str], body: bytes) -> int:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    return send


def _checked(url: str, secret: str, subscriptions: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    if not url.startswith(("http://", "https://")):
        raise WebhookError(f"a webhook url must start with http:// or https://, got {url!r}")
    if not secret:
        raise WebhookError("a webhook needs a secret to sign its deliveries with")
    subs = {str(t): sorted({str(o) for o in ops}) for t, ops in subscriptions.items()}
    known = set(OPERATIONS.values())
    for entity_type, ops in subs.items():
        bad = [o for o in ops if o not in known]
        if bad or not ops:
            raise WebhookError(
                f"webhook subscription {entity_type}: operations must be some of {sorted(known)}"
            )
    if not subs:
        raise WebhookError("a webhook needs at least one subscription {entity type: [operations]}")
    return subs


class WebhookHub:
    def __init__(
        self,
        storage: Storage,
        sender: Sender | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_failures: int = 5,
        first_backoff: float = 1.0,
        max_backoff: float = 60.0,
    ) -> None:
        self.storage = storage
        self.sender = sender or http_sender()
        self.clock = clock
        self.max_failures = max_failures
        self.first_backoff, self.max_backoff = first_backoff, max_backoff
        self._lock = threading.RLock()
        self._hooks: dict[str, Webhook] = {}
        for row in storage.rows(WEBHOOK):
            hook = Webhook(**{k: v for k, v in row.data.items() if k != "row_id"}, row_id=row.id)
            hook.retry_at = 0.0
            self._hooks[hook.id] = hook

    # ---- management -------------------------------------------------------------------------------

    def add(
        self, url: str, secret: str, subscriptions: Mapping[str, Iterable[str]], site_url: str = ""
    ) -> Webhook:
        """A new webhook; it receives events logged from now on."""
        subs = _checked(url, secret, subscriptions)
        with self._lock, self.storage.transaction():
            last = self.storage.last_id("EventLogEntry")
            hook = Webhook(uuid.uuid4().hex, url, secret, subs, site_url, cursor=last)
            hook.row_id = self.storage.next_id(WEBHOOK)
            self.storage.insert(WEBHOOK, hook.row_id, self._stored(hook))
            self._hooks[hook.id] = hook
        return hook

    def remove(self, webhook_id: str) -> bool:
        with self._lock:
            hook = self._hooks.pop(webhook_id, None)
            if hook is not None:
                self.storage.set_retired(WEBHOOK, hook.row_id, True)
        return hook is not None

    def reactivate(self, webhook_id: str) -> None:
        with self._lock:
            hook = self._hooks[webhook_id]
            hook.status, hook.failures, hook.retry_at = "active", 0, 0.0
            self._save(hook)

    def webhooks(self) -> list[Webhook]:
        with self._lock:
            return list(self._hooks.values())

    def log(self, webhook_id: str | None = None) -> list[DeliveryRecord]:
        rows = self.storage.rows(DELIVERY)
        records = [DeliveryRecord(**{**r.data, "event_ids": tuple(r.data["event_ids"])}) for r in rows]
        return [r for r in records if webhook_id is None or r.webhook_id == webhook_id]

    def _stored(self, hook: Webhook) -> dict[str, Any]:
        data = asdict(hook)
        data.pop("row_id")
        return data

    def _save(self, hook: Webhook) -> None:
        self.storage.write(WEBHOOK, hook.row_id, self._stored(hook))

    # ---- delivery ---------------------------------------------------------------------------------

    def pump(self) -> int:
        """Collect new events and make every delivery that is due; the number of attempts made."""
        with self._lock:
            hooks = [h for h in self._hooks.values() if h.status == "active"]
            if not hooks:
                return 0
            self._collect(hooks)
            due = [h for h in hooks if h.queue and h.retry_at <= self.clock()]
        return sum(1 for hook in due if self._deliver(hook) is not None)

    def _collect(self, hooks: list[Webhook]) -> None:
        start = min(h.cursor for h in hooks)
        events = self.storage.rows("EventLogEntry", retired=None, min_id=start + 1)
        for hook in hooks:
            fresh = [e for e in events if e.id > hook.cursor]
            for event in fresh:
                payload = _payload(event)
                entity = payload["entity"] or {}
                if payload["meta"].get("in_create"):
                    continue  # the field values of a new entity come with its create event
                if entity and hook.wants(str(entity.get("type")), payload["operation"]):
                    hook.queue.append(payload)
            if fresh:
                hook.cursor = fresh[-1].id
                self._save(hook)

    def _deliver(self, hook: Webhook) -> DeliveryRecord | None:
        batch = hook.queue[:MAX_BATCH]
        hook.batch_id = hook.batch_id or uuid.uuid4().hex
        body = json.dumps(
            {"timestamp": datetime.now(UTC).isoformat(timespec="seconds"), "data": {"deliveries": batch}},
            separators=(",", ":"),
        ).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, hook.secret),
            "X-SG-WEBHOOK-ID": hook.id,
            "X-SG-DELIVERY-ID": hook.batch_id,
            "X-SG-EVENT-BATCH-ID": hook.batch_id,
            "X-SG-EVENT-BATCH-SIZE": str(len(batch)),
            "X-SG-WEBHOOK-SITE-URL": hook.site_url,
            "User-Agent": "SG-Webhook (Rushes local server)",
        }
        status: int | None = None
        error = ""
        try:
            status = self.sender(hook.url, headers, body)
        except OSError as exc:
            error = f"{type(exc).__name__}: {exc}"
        ok = status is not None and 200 <= status < 300
        with self._lock:
            record = DeliveryRecord(
                hook.id,
                hook.batch_id,
                tuple(int(e["event_log_entry_id"]) for e in batch),
                hook.failures + 1,
                status,
                ok,
                error or ("" if ok else f"HTTP {status}"),
                self.clock(),
            )
            self.storage.insert(DELIVERY, self.storage.next_id(DELIVERY), asdict(record))
            self._settle(hook, len(batch), ok)
        return record

    def _settle(self, hook: Webhook, sent: int, ok: bool) -> None:
        if ok:
            del hook.queue[:sent]
            hook.failures, hook.retry_at, hook.batch_id = 0, 0.0, ""
        else:
            hook.failures += 1
            delay = min(self.max_backoff, self.first_backoff * 2 ** (hook.failures - 1))
            hook.retry_at = self.clock() + delay
            if hook.failures >= self.max_failures:
                hook.status = "failed"
                LOG.warning("webhook %s failed %d times in a row: marked failed", hook.url, hook.failures)
        self._save(hook)


def _payload(event: Row) -> dict[str, Any]:
    data = event.data
    suffix = str(data.get("event_type", "")).rsplit("_", 1)[-1]
    return {
        "id": str(event.id),
        "event_log_entry_id": event.id,
        "event_type": data.get("event_type"),
        "operation": OPERATIONS.get(suffix, suffix.lower()),
        "entity": data.get("entity"),
        "project": data.get("project"),
        "user": data.get("user"),
        "attribute_name": data.get("attribute_name"),
        "meta": data.get("meta") or {},
        "created_at": data.get("created_at"),
        "session_uuid": data.get("session_uuid"),
    }


# ---- the api3 methods that manage webhooks (script users only; the hosted service does this in its UI) --


def _hub(service: Service, user: Link) -> WebhookHub:
    if user.get("type") != "ApiUser":
        raise ServiceFault("API webhooks: only a script (ApiUser) may manage webhooks")
    if service.webhooks is None:
        raise ServiceFault("API webhooks: this server runs without webhook delivery")
    return service.webhooks


def webhook_create(service: Service, user: Link, params: dict[str, Any], base: str) -> dict[str, Any]:
    try:
        hook = _hub(service, user).add(
            str(params.get("url") or ""),
            str(params.get("secret") or ""),
            params.get("subscriptions") or {},
            base,
        )
    except WebhookError as exc:
        raise ServiceFault(f"API webhook_create() {exc}") from None
    return hook.public()


def webhook_read(service: Service, user: Link, params: dict[str, Any], base: str) -> list[dict[str, Any]]:
    return [hook.public() for hook in _hub(service, user).webhooks()]


def webhook_delete(service: Service, user: Link, params: dict[str, Any], base: str) -> bool:
    return _hub(service, user).remove(str(params.get("id") or ""))


def webhook_deliveries_read(
    service: Service, user: Link, params: dict[str, Any], base: str
) -> list[dict[str, Any]]:
    records = _hub(service, user).log(params.get("id"))
    return [{**asdict(r), "event_ids": list(r.event_ids)} for r in records]


class WebhookPump:
    """Runs `hub.pump()` in a background thread every `interval` seconds until `stop()`."""

    def __init__(self, hub: WebhookHub, interval: float = 0.1) -> None:
        self.hub = hub
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sgserver-webhooks", daemon=True)

    def start(self) -> WebhookPump:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.hub.pump()
            except Exception:  # a bug must not stop deliveries for good; it is logged with its traceback
                LOG.exception("webhook delivery step failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
