"""Flow webhook deliveries for the in-memory tracker's fix requests, as the hosted service would send them
(the memory tracker's event id of a request is its place in the fix log)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from integrations.trackers.base import FixRequest
from integrations.trackers.flow_webhooks import sign

SECRET = "flow-hook-secret"


def event_id(request: FixRequest) -> int:
    return int(request.key.rsplit(":", 1)[1])


def task_event(request: FixRequest, attribute: str = "sg_status_list") -> dict[str, Any]:
    """The status change that asked for `request`, as one delivered event."""
    n = event_id(request)
    return {
        "id": str(n),
        "event_log_entry_id": n,
        "event_type": "Shotgun_Task_Change",
        "operation": "update",
        "entity": {"type": "Task", "id": request.task_id},
        "project": {"type": "Project", "id": 1},
        "user": {"type": "HumanUser", "id": 7},
        "attribute_name": attribute,
        "meta": {"old_value": "ip", "new_value": "fix"},
        "created_at": "2026-12-01T10:00:00Z",
        "session_uuid": None,
    }


def delivery(events: Sequence[dict[str, Any]], secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    """A signed batched delivery body and its headers."""
    body = json.dumps({"timestamp": "2026-12-01T10:00:01Z", "data": {"deliveries": list(events)}}).encode()
    batch = uuid.uuid4().hex
    headers = {
        "Content-Type": "application/json",
        "X-SG-SIGNATURE": sign(body, secret),
        "X-SG-WEBHOOK-ID": "hook-1",
        "X-SG-DELIVERY-ID": batch,
        "X-SG-EVENT-BATCH-ID": batch,
        "X-SG-EVENT-BATCH-SIZE": str(len(events)),
    }
    return body, headers
