"""Receiving Flow Production Tracking (ShotGrid) webhooks: signature check, typed events, dedupe.

Pure and daemon-independent: no I/O, no clock. The daemon's HTTP route calls, in order,
`verify_signature(body, headers.get("X-SG-SIGNATURE"), secret)` (refuse with 401 when False),
`parse_delivery(body, headers)` (refuse with 400 on DeliveryError), then `Deduper.fresh(delivery.events)` to
drop events already seen (by webhook or by the event-log poller: the dedupe key is the event log id, the
same id the poller reads).

Wire format (what the hosted service and `rushes tracker serve` send):
- headers `X-SG-SIGNATURE: sha1=<hex HMAC-SHA1 of the raw body, keyed with the webhook's secret>`,
  `X-SG-WEBHOOK-ID`, `X-SG-DELIVERY-ID`, and for batches `X-SG-EVENT-BATCH-ID`, `X-SG-EVENT-BATCH-SIZE`;
- body, batched: {"timestamp": "...", "data": {"deliveries": [event, ...]}} (at most 50 events), or one
  event: {"timestamp": "...", "data": event}; an event is {"id", "event_log_entry_id", "event_type"
  ("Shotgun_<Type>_<New|Change|Retirement|Revival>"), "operation" (create|update|delete|revive), "entity",
  "project", "user", "attribute_name", "meta", "created_at", "session_uuid"}.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

SIGNATURE_HEADER = "X-SG-SIGNATURE"
MAX_BATCH = 50


class DeliveryError(ValueError):
    """A delivery body that is not a Flow webhook delivery; the message says what is wrong."""


def sign(body: bytes, secret: str) -> str:
    """The X-SG-SIGNATURE value for `body`: "sha1=" + hex HMAC-SHA1 keyed with `secret`."""
    return "sha1=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha1).hexdigest()


def verify_signature(body: bytes, header: str | None, secret: str) -> bool:
    """True only when `header` is the signature of `body` under `secret` (constant-time compare)."""
    if not header or not secret:
        return False
    return hmac.compare_digest(sign(body, secret).encode("ascii"), header.strip().encode("utf-8", "replace"))


@dataclass(frozen=True)
class EntityRef:
    type: str
    id: int


@dataclass(frozen=True)
class WebhookEvent:
    """One event of a delivery; `event_id` (the event log id) is the dedupe key."""

    event_id: int
    event_type: str
    operation: str
    entity: EntityRef | None
    project_id: int | None
    user: EntityRef | None
    attribute_name: str | None
    created_at: str | None
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def entity_type(self) -> str | None:
        return self.entity.type if self.entity else None


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    webhook_id: str
    events: tuple[WebhookEvent, ...]


def _ref(value: Any, what: str) -> EntityRef | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or "type" not in value or "id" not in value:
        raise DeliveryError(f"the event's {what} must be an entity {{type, id}}, got {value!r}")
    try:
        return EntityRef(str(value["type"]), int(value["id"]))
    except (TypeError, ValueError, OverflowError):  # 1e999 reads as infinity
        raise DeliveryError(f"the event's {what} id is not an integer: {value['id']!r}") from None


def parse_event(item: Any) -> WebhookEvent:
    if not isinstance(item, Mapping):
        raise DeliveryError(f"each delivered event must be an object, got {type(item).__name__}")
    raw_id = item.get("event_log_entry_id", item.get("id"))
    try:
        event_id = int(raw_id)
    except (TypeError, ValueError, OverflowError):  # 1e999 reads as infinity
        raise DeliveryError(f"the event has no integer event_log_entry_id (got {raw_id!r})") from None
    event_type = item.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        raise DeliveryError(f"event {event_id} has no event_type")
    project = _ref(item.get("project"), "project")
    meta = item.get("meta")
    return WebhookEvent(
        event_id=event_id,
        event_type=event_type,
        operation=str(item.get("operation") or ""),
        entity=_ref(item.get("entity"), "entity"),
        project_id=project.id if project else None,
        user=_ref(item.get("user"), "user"),
        attribute_name=item.get("attribute_name") if isinstance(item.get("attribute_name"), str) else None,
        created_at=item.get("created_at") if isinstance(item.get("created_at"), str) else None,
        meta=dict(meta) if isinstance(meta, Mapping) else {},
    )


def _header(headers: Mapping[str, str], name: str) -> str:
    wanted = name.lower()
    return next((str(v) for k, v in headers.items() if k.lower() == wanted), "")


def parse_delivery(body: bytes, headers: Mapping[str, str]) -> Delivery:
    """The typed events of a delivery body (batched or single); DeliveryError when it is not one."""
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise DeliveryError("the delivery body is not JSON") from None
    if not isinstance(doc, Mapping) or not isinstance(doc.get("data"), Mapping):
        raise DeliveryError('the delivery body must be {"data": ...}')
    data = doc["data"]
    items = data.get("deliveries") if "deliveries" in data else [data]
    if not isinstance(items, list):
        raise DeliveryError('"data.deliveries" must be a list of events')
    if len(items) > MAX_BATCH:
        raise DeliveryError(f"a delivery holds at most {MAX_BATCH} events, this one {len(items)}")
    events = tuple(parse_event(item) for item in items)
    return Delivery(_header(headers, "x-sg-delivery-id"), _header(headers, "x-sg-webhook-id"), events)


class Deduper:
    """Remembers the last `capacity` event ids seen; `fresh()` passes each id once, in order."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._capacity = capacity

    def seen(self, event_id: int) -> bool:
        return event_id in self._seen

    def remember(self, event_id: int) -> None:
        self._seen[event_id] = None
        self._seen.move_to_end(event_id)
        while len(self._seen) > self._capacity:
            self._seen.popitem(last=False)

    def fresh(self, events: Iterable[WebhookEvent]) -> list[WebhookEvent]:
        out = []
        for event in events:
            if not self.seen(event.event_id):
                self.remember(event.event_id)
                out.append(event)
        return out
