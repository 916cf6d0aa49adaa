"""Webhooks: the local server's signed, batched, retried deliveries, and the pure receiving side."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import shotgun_api3

from integrations.trackers.flow_webhooks import (
    Deduper,
    DeliveryError,
    WebhookEvent,
    parse_delivery,
    sign,
    verify_signature,
)
from integrations.trackers.sgserver.service import Service
from integrations.trackers.sgserver.storage import Storage
from integrations.trackers.sgserver.webhooks import WebhookError, WebhookHub
from tests.integrations.sg_fixtures import client, running_server

SECRET = "webhook-secret"
SCRIPT_USER = {"type": "ApiUser", "id": 1}


class FakeReceiver:
    """Answers the statuses queued in `answers` (then 200), keeping every request it was sent."""

    def __init__(self) -> None:
        self.answers: list[int | Exception] = []
        self.requests: list[tuple[str, dict[str, str], bytes]] = []

    def __call__(self, url: str, headers: dict[str, str], body: bytes) -> int:
        self.requests.append((url, headers, body))
        answer = self.answers.pop(0) if self.answers else 200
        if isinstance(answer, Exception):
            raise answer
        return answer

    def event_ids(self) -> list[int]:
        return [
            int(e["event_log_entry_id"])
            for _, _, body in self.requests
            for e in json.loads(body)["data"]["deliveries"]
        ]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Service, WebhookHub, FakeReceiver, list[float]]]:
    storage = Storage(tmp_path / "db.sqlite3")
    service = Service(storage)
    receiver = FakeReceiver()
    now = [100.0]
    hub = WebhookHub(storage, receiver, clock=lambda: now[0], max_failures=4)
    yield service, hub, receiver, now
    storage.close()


def _shot(service: Service, code: str) -> dict[str, Any]:
    return service.create(SCRIPT_USER, "Shot", [{"field_name": "code", "value": code}], [], "")


def test_deliveries_are_signed_batched_by_fifty_and_only_for_subscribed_events(site: Any) -> None:
    service, hub, receiver, _ = site
    hook = hub.add("http://receiver.invalid/hook", SECRET, {"Shot": ["create"]})
    for n in range(120):
        _shot(service, f"s{n}")
    service.create(SCRIPT_USER, "Asset", [{"field_name": "code", "value": "a"}], [], "")
    assert hub.pump() == 1 and hub.pump() == 1 and hub.pump() == 1 and hub.pump() == 0
    sizes = [len(json.loads(body)["data"]["deliveries"]) for _, _, body in receiver.requests]
    assert sizes == [50, 50, 20]
    for url, headers, body in receiver.requests:
        assert url == "http://receiver.invalid/hook"
        assert headers["X-SG-SIGNATURE"] == sign(body, SECRET)
        assert verify_signature(body, headers["X-SG-SIGNATURE"], SECRET)
        assert headers["X-SG-WEBHOOK-ID"] == hook.id and headers["X-SG-DELIVERY-ID"]
        events = parse_delivery(body, headers).events
        assert {(e.entity_type, e.operation) for e in events} == {("Shot", "create")}
    ids = receiver.event_ids()
    assert ids == sorted(ids) and len(set(ids)) == 120


def test_failures_are_retried_with_backoff_then_the_webhook_is_marked_failed(site: Any) -> None:
    service, hub, receiver, now = site
    hook = hub.add("http://receiver.invalid/hook", SECRET, {"Shot": ["create", "update"]})
    _shot(service, "s1")
    receiver.answers = [500, ConnectionRefusedError("refused")]
    assert hub.pump() == 1  # 500
    assert hub.pump() == 0  # backing off: 1 s
    now[0] += 1.0
    assert hub.pump() == 1  # refused
    now[0] += 1.9
    assert hub.pump() == 0  # backing off: 2 s
    now[0] += 0.1
    assert hub.pump() == 1  # 200
    log = hub.log(hook.id)
    assert [(r.attempt, r.status, r.ok) for r in log] == [(1, 500, False), (2, None, False), (3, 200, True)]
    assert "refused" in log[1].error
    assert len({r.delivery_id for r in log}) == 1  # a retried batch keeps its delivery id
    assert len(set(receiver.event_ids())) == 1

    _shot(service, "s2")
    receiver.answers = [503, 503, 503, 503]
    for _ in range(4):
        now[0] += 60.0
        hub.pump()
    assert hub.webhooks()[0].status == "failed"
    now[0] += 60.0
    assert hub.pump() == 0  # a failed webhook sends nothing more
    hub.reactivate(hook.id)
    assert hub.pump() == 1 and receiver.requests[-1][2]  # the queue was kept


def test_webhook_definitions_are_checked(site: Any) -> None:
    _, hub, _, _ = site
    with pytest.raises(WebhookError, match="http"):
        hub.add("ftp://x", SECRET, {"Shot": ["create"]})
    with pytest.raises(WebhookError, match="secret"):
        hub.add("http://x", "", {"Shot": ["create"]})
    with pytest.raises(WebhookError, match="operations"):
        hub.add("http://x", SECRET, {"Shot": ["explode"]})


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[bool, list[WebhookEvent]]]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        ok = verify_signature(body, self.headers.get("X-SG-SIGNATURE"), SECRET)
        self.received.append((ok, list(parse_delivery(body, dict(self.headers.items())).events)))
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_a_real_server_delivers_over_http_to_a_receiver_that_checks_the_signature(tmp_path: Path) -> None:
    received: list[tuple[bool, list[WebhookEvent]]] = []
    handler = type("Collector", (_Collector,), {"received": received})
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=receiver.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    server = running_server(tmp_path / "sg")
    try:
        sg = client(server)
        url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
        hook = sg._call_rpc(
            "webhook_create", {"url": url, "secret": SECRET, "subscriptions": {"Task": ["update"]}}
        )
        project = sg.create("Project", {"name": "P"})
        task = sg.create("Task", {"content": "comp", "project": project})
        sg.update("Task", task["id"], {"sg_status_list": "fix"})
        done = threading.Event()
        for _ in range(100):  # the pump runs every 0.1 s: wait for the delivery, at most 10 s
            if received:
                break
            done.wait(0.1)
        assert received and received[0][0] is True
        events = received[0][1]
        assert [(e.entity, e.attribute_name, e.meta["new_value"]) for e in events][-1][1:] == (
            "sg_status_list",
            "fix",
        )
        assert all(e.operation == "update" and e.entity_type == "Task" for e in events)
        deliveries = sg._call_rpc("webhook_deliveries_read", {"id": hook["id"]})
        assert deliveries[0]["ok"] is True and deliveries[0]["status"] == 200
        assert "secret" not in json.dumps(sg._call_rpc("webhook_read", {}))
        with pytest.raises(shotgun_api3.Fault, match="webhook_create"):
            sg._call_rpc(
                "webhook_create", {"url": "nope", "secret": SECRET, "subscriptions": {"Task": ["update"]}}
            )
    finally:
        server.stop()
        receiver.shutdown()
        receiver.server_close()


def _event(event_id: int) -> dict[str, Any]:
    return {
        "id": str(event_id),
        "event_log_entry_id": event_id,
        "event_type": "Shotgun_Task_Change",
        "operation": "update",
        "entity": {"type": "Task", "id": event_id % 7 + 1},
        "project": {"type": "Project", "id": 1},
        "user": {"type": "HumanUser", "id": 3},
        "attribute_name": "sg_status_list",
        "meta": {"new_value": "fix"},
        "created_at": "2026-01-01T00:00:00Z",
    }


def test_the_receiver_refuses_every_bad_signature() -> None:
    body = json.dumps({"data": {"deliveries": [_event(1)]}}).encode()
    good = sign(body, SECRET)
    assert verify_signature(body, good, SECRET)
    bad = [None, "", "sha1=", good.replace("sha1=", "sha256="), sign(body, "other"), good[:-1] + "0"]
    bad.append(good.upper())
    assert not any(verify_signature(body, header, SECRET) for header in bad if header != good)
    assert not verify_signature(body + b" ", good, SECRET)
    assert not verify_signature(body, good, "")


def test_the_receiver_parses_batched_and_single_deliveries_and_names_what_is_wrong() -> None:
    headers = {"x-sg-delivery-id": "d1", "X-SG-WEBHOOK-ID": "w1"}
    batched = parse_delivery(json.dumps({"data": {"deliveries": [_event(1), _event(2)]}}).encode(), headers)
    assert (batched.delivery_id, batched.webhook_id, [e.event_id for e in batched.events]) == (
        "d1",
        "w1",
        [1, 2],
    )
    single = parse_delivery(json.dumps({"timestamp": "t", "data": _event(9)}).encode(), {})
    assert single.events[0].entity is not None and single.events[0].entity.type == "Task"
    assert single.events[0].project_id == 1
    for body, words in [
        (b"{", "not JSON"),
        (b"[]", '"data"'),
        (json.dumps({"data": {"deliveries": 3}}).encode(), "list"),
        (json.dumps({"data": {"deliveries": [_event(1)] * 51}}).encode(), "at most 50"),
        (json.dumps({"data": {"event_type": "x"}}).encode(), "event_log_entry_id"),
        (json.dumps({"data": {**_event(1), "entity": {"type": "Task"}}}).encode(), "entity"),
        # 1e999 is infinity to Python's json: an OverflowError and a 500, which the site retries until it fails
        (b'{"data": {"event_log_entry_id": 1e999, "event_type": "x"}}', "event_log_entry_id"),
        (
            json.dumps({"data": {**_event(1), "entity": {"type": "Task", "id": 0}}})
            .replace('"id": 0}', '"id": 1e999}')
            .encode(),
            "entity",
        ),
    ]:
        with pytest.raises(DeliveryError, match=words):
            parse_delivery(body, {})


def test_a_thousand_events_with_duplicates_and_reordering_pass_the_deduper_once_each() -> None:
    rng = random.Random(7)
    ids = list(range(1, 1001))
    stream = ids + rng.sample(ids, 400)  # every event once by webhook, 400 again (retries, the poller)
    rng.shuffle(stream)
    deduper = Deduper()
    passed: list[int] = []
    for start in range(0, len(stream), 50):
        batch = json.dumps({"data": {"deliveries": [_event(i) for i in stream[start : start + 50]]}}).encode()
        passed.extend(e.event_id for e in deduper.fresh(parse_delivery(batch, {}).events))
    assert sorted(passed) == ids
