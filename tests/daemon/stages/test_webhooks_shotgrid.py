"""Flow webhooks end to end: the local ShotGrid-compatible server delivers signed webhooks to the daemon's
HTTP route (the real HealthServer, receiver, worker and ShotGrid adapter, wired as the daemon wires them),
a coordinator tags tasks through shotgun_api3, and each fix request is made exactly once whether it
arrives by webhook, by the event-log poller, or both. Forged deliveries are refused and queue nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from daemon.catalog import Catalog, fixes
from daemon.catalog import jobs as job_repo
from daemon.catalog import shows as show_repo
from daemon.demo import Coordinator, DemoShot
from daemon.ops.health import HealthServer, Readiness
from daemon.ops.metrics import Metrics
from daemon.settings import ShowConfig
from daemon.stages.requests import poll_fix_requests
from daemon.stages.webhooks import WebhookIntake
from daemon.trackers import FIX_KINDS
from integrations.trackers.options import TrackerOptions, WebhookOptions
from integrations.trackers.sgserver.app import SGServer, start_in_thread
from integrations.trackers.shotgrid import ShotGridTracker

KEY = "webhook-script-key"
SECRET = "flow-site-webhook-secret"
PATH = "/flow-webhook"
FIELD = "sg_rushes_fixes"
SHOWS = [ShowConfig(code="DEMO", tracker_project="DEMO")]


@dataclass
class World:
    server: SGServer
    coordinator: Coordinator
    tasks: dict[str, int]
    catalog: Catalog
    intake: WebhookIntake
    url: str  # the daemon's webhook route
    options: TrackerOptions

    def tracker(self) -> ShotGridTracker:
        return ShotGridTracker(self.options, kinds=FIX_KINDS)

    def poll(self) -> int:
        return poll_fix_requests(self.tracker(), self.catalog, SHOWS).new

    def subscribe(self, secret: str = SECRET) -> dict[str, Any]:
        hook: dict[str, Any] = self.coordinator.sg._call_rpc(
            "webhook_create", {"url": self.url, "secret": secret, "subscriptions": {"Task": ["update"]}}
        )
        return hook

    def requests(self) -> dict[str, str]:
        """shot -> request key, and the fix jobs' kinds, from the catalog."""
        with self.catalog.session(readonly=True) as s:
            return {r.shot: r.request_key for r in fixes.list_fix_requests(s, "DEMO", limit=None)}

    def job_keys(self) -> list[str]:
        with self.catalog.session(readonly=True) as s:
            return sorted(j.key for j in job_repo.list_jobs(s, kind="fix", limit=None))


def until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Wait for `condition` (deliveries run on the server's thread), or fail after `timeout` seconds: room for
    a loaded machine (15 s was not enough with two busy loops on the suite's two cores)."""
    pause = threading.Event()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        pause.wait(0.02)
    raise AssertionError(f"condition not met within {timeout} s")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    server = start_in_thread(tmp_path / "sg", "rushes", KEY)
    coordinator = Coordinator(server.url, "rushes", KEY)
    shots = [DemoShot(f"sh0{i}0", tmp_path / "x.mp4", None) for i in (1, 2, 3)]
    tasks = coordinator.setup(shots, FIELD, "sg_rushes_key")
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    catalog.migrate()
    with catalog.session() as s:
        show_repo.ensure_show(s, "DEMO")
    options = TrackerOptions(
        kind="shotgrid",
        url=server.url,
        script_name="rushes",
        script_key=SecretStr(KEY),
        webhook=WebhookOptions(path=PATH, secret=SecretStr(SECRET)),
    )
    intake = WebhookIntake.build(options, ShotGridTracker(options, kinds=FIX_KINDS), catalog, SHOWS)
    assert intake is not None
    http = HealthServer(Metrics(), Readiness(), port=0)
    http.add_route(intake.path, intake.receiver.receive)  # as daemon.service does
    http.start()
    found = World(server, coordinator, tasks, catalog, intake, http.url + PATH, options)
    found.poll()  # the poller's first read: its cursor starts at the newest event
    yield found
    http.stop()
    intake.worker.stop()
    catalog.dispose()
    server.stop()


def test_tagged_tasks_become_fix_requests_by_webhook_and_the_poller_then_adds_none(world: World) -> None:
    woken = threading.Event()
    world.intake.worker.on_new = woken.set
    world.intake.worker.start()
    world.subscribe()
    world.coordinator.tag(world.tasks["sh010"], "denoise; upscale", FIELD, "fix")
    world.coordinator.tag(world.tasks["sh020"], "regrade", FIELD, "fix")
    until(lambda: len(world.requests()) == 2)
    assert woken.is_set()
    assert world.poll() == 0  # the catch-up poll reads the same events: nothing new
    requests = world.requests()
    assert sorted(requests) == ["sh010", "sh020"]
    assert all(key.startswith("shotgrid:event:") for key in requests.values())
    assert world.job_keys() == sorted(
        [
            f"fix:{requests['sh010']}:denoise",
            f"fix:{requests['sh010']}:upscale",
            f"fix:{requests['sh020']}:regrade",
        ]
    )


def delivered(world: World, events: int) -> None:
    """Wait until the receiver has queued `events` events in all (each tag changes two fields: two events)."""
    until(lambda: world.intake.receiver.counts.queued >= events)


def test_each_request_is_made_once_whether_polled_first_or_delivered_first(world: World) -> None:
    worker = world.intake.worker
    world.subscribe()
    # Polled first: the webhook that arrives later adds nothing.
    world.coordinator.tag(world.tasks["sh010"], "denoise", FIELD, "fix")
    assert world.poll() == 1
    delivered(world, 2)
    assert worker.step() == 0
    # Delivered first: the poll that comes later adds nothing.
    world.coordinator.tag(world.tasks["sh020"], "regrade", FIELD, "fix")
    delivered(world, 4)
    assert worker.step() == 1
    assert world.poll() == 0
    # The kinds written after the status: the field's change event makes the request, keyed by the status.
    sg = world.coordinator.sg
    task = world.tasks["sh030"]
    sg.update("Task", task, {"sg_status_list": "fix"})
    delivered(world, 5)
    assert worker.step() == 0 and world.poll() == 0  # no kinds yet: nothing, by either path
    sg.update("Task", task, {FIELD: "upscale"})
    delivered(world, 6)
    assert worker.step() == 1 and world.poll() == 0
    requests = world.requests()
    assert requests["sh030"] == f"shotgrid:event:{newest_status_event(world, task)}"
    assert len(requests) == 3 and len(world.job_keys()) == 3


def newest_status_event(world: World, task: int) -> int:
    found = world.coordinator.sg.find_one(
        "EventLogEntry",
        [["entity", "is", {"type": "Task", "id": task}], ["attribute_name", "is", "sg_status_list"]],
        ["id"],
        order=[{"field_name": "id", "direction": "desc"}],
    )
    assert found is not None
    return int(found["id"])


def test_a_task_set_to_fix_twice_before_anything_read_it_makes_one_request(world: World) -> None:
    world.subscribe()
    task = world.tasks["sh010"]
    world.coordinator.tag(task, "denoise", FIELD, "fix")
    world.coordinator.sg.update("Task", task, {"sg_status_list": "ip"})
    world.coordinator.tag(task, "denoise; upscale", FIELD, "fix")
    delivered(world, 5)
    assert world.intake.worker.step() + world.poll() == 1  # by webhook, and the poll adds none
    assert world.poll() == 0
    assert world.requests() == {"sh010": f"shotgrid:event:{newest_status_event(world, task)}"}
    assert len(world.job_keys()) == 2  # denoise and upscale, once each


def test_deliveries_with_a_wrong_secret_are_refused_and_the_poller_still_makes_the_request_once(
    world: World,
) -> None:
    receiver = world.intake.receiver
    hook = world.subscribe(secret="not-the-daemons-secret")
    world.coordinator.tag(world.tasks["sh010"], "denoise", FIELD, "fix")
    sg = world.coordinator.sg

    def attempts() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = sg._call_rpc("webhook_deliveries_read", {"id": hook["id"]})
        return found

    until(lambda: len(attempts()) >= 2)  # the first attempt and a retry, 1 s later
    assert all(a["status"] == 401 and not a["ok"] for a in attempts())
    assert receiver.counts.refused == len(attempts()) and receiver.counts.queued == 0
    assert len(receiver.queue) == 0 and world.requests() == {}
    assert world.poll() == 1  # the catch-up path
    assert world.poll() == 0 and len(world.job_keys()) == 1


def test_the_daemon_serves_the_route_on_its_http_port_and_records_a_delivery(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from daemon.service import Daemon
    from daemon.settings import HttpOptions, Settings
    from integrations.trackers.flow_webhooks import sign

    settings = Settings(
        data_dir=tmp_path / "home",
        http=HttpOptions(port=0),
        tracker=world.options,
        shows=[ShowConfig(code="DEMO", tracker_project="DEMO")],
    )
    daemon = Daemon(settings)
    assert daemon.webhooks is not None
    daemon.health.start()
    try:
        world.url = daemon.health.url + PATH
        world.subscribe()
        world.coordinator.tag(world.tasks["sh010"], "denoise", FIELD, "fix")
        until(lambda: daemon.webhooks is not None and daemon.webhooks.receiver.counts.queued >= 2)
        assert daemon.webhooks.worker.step() == 1
        body = b'{"data": {"deliveries": []}}'
        forged = {"X-SG-SIGNATURE": sign(body, "guess")}
        assert daemon.webhooks.receiver.receive(body, forged, "127.0.0.1")[0] == 401
        with daemon.catalog.session(readonly=True) as s:
            assert [r.shot for r in fixes.list_fix_requests(s, "DEMO")] == ["sh010"]
        metrics = daemon.metrics.render()[0].decode()
        assert 'rushes_webhook_deliveries_total{result="refused"} 1.0' in metrics
        assert 'rushes_webhook_deliveries_total{result="accepted"}' in metrics
    finally:
        daemon.health.stop()
        daemon.executor.shutdown(wait=False)
        daemon.ctx.close()
