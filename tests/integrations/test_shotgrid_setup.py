"""`rushes tracker setup` on ShotGrid, against the real local server through the real shotgun_api3 client:
it creates the custom fields with the right type, and on the local server the project, the shots and a task
per shot; a second run creates nothing; a hosted site's missing project is reported, never created."""

from __future__ import annotations

from typing import Any

import shotgun_api3

from integrations.trackers.setup import SetupPlan
from integrations.trackers.sgserver import SGServer
from integrations.trackers.shotgrid import ShotGridTracker
from tests.integrations.sg_fixtures import FAST, KEY, KINDS, SCRIPT, client, options

PLAN = SetupPlan("MYSHOW", "My show", ("sh010", "sh020"))


def adapter(server: SGServer, factory: Any = None) -> ShotGridTracker:
    return ShotGridTracker(options(server), factory, kinds=KINDS, policy=FAST)


def outcomes(steps: list[Any]) -> dict[str, str]:
    return {s.what: s.outcome for s in steps}


def test_setup_on_an_empty_local_server_creates_the_fields_project_shots_and_tasks(server: SGServer) -> None:
    tracker = adapter(server)
    assert not all(r.ok for r in tracker.check())  # empty: the custom fields are missing

    steps = outcomes(tracker.setup([PLAN]))

    assert steps["field Task.sg_rushes_fixes (text)"] == "created"
    assert steps["field Version.sg_rushes_key (text)"] == "created"
    assert steps["project MYSHOW"] == "created"
    assert steps["shot MYSHOW/sh010"] == steps["shot MYSHOW/sh020"] == "created"
    assert steps["task MYSHOW/sh010/comp"] == "created"
    assert all(r.ok for r in tracker.check()), tracker.check()
    sg = client(server)
    assert sg.schema_field_read("Task", "sg_rushes_fixes")["sg_rushes_fixes"]["data_type"]["value"] == "text"
    assert sg.schema_field_read("Version", "sg_rushes_key")["sg_rushes_key"]["data_type"]["value"] == "text"
    project = sg.find_one("Project", [["code", "is", "MYSHOW"]], ["name"])
    assert project["name"] == "My show"
    shots = sg.find("Shot", [["project", "is", project]], ["code"])
    assert sorted(s["code"] for s in shots) == ["sh010", "sh020"]
    for shot in shots:
        assert [t["content"] for t in sg.find("Task", [["entity", "is", shot]], ["content"])] == ["comp"]


def test_setup_run_twice_creates_nothing_the_second_time(server: SGServer) -> None:
    adapter(server).setup([PLAN])
    sg = client(server)
    counts = {t: len(sg.find(t, [], ["id"])) for t in ("Project", "Shot", "Task")}

    again = adapter(server).setup([PLAN, SetupPlan("MYSHOW", "My show", ("sh010", "sh020"))])

    assert {s.outcome for s in again} == {"existed"}
    assert {t: len(sg.find(t, [], ["id"])) for t in ("Project", "Shot", "Task")} == counts


def test_setup_adds_a_shot_that_appeared_in_the_catalog_since(server: SGServer) -> None:
    adapter(server).setup([PLAN])
    steps = outcomes(adapter(server).setup([SetupPlan("MYSHOW", "My show", ("sh010", "sh020", "sh030"))]))
    assert steps["shot MYSHOW/sh010"] == "existed"
    assert steps["shot MYSHOW/sh030"] == "created"
    assert steps["task MYSHOW/sh030/comp"] == "created"


class HostedSite(shotgun_api3.Shotgun):  # type: ignore[misc]
    """The real client against the real server, minus the local server's mark: a hosted site as seen by
    Rushes (which creates projects only on the local server)."""

    def info(self) -> dict[str, Any]:
        answer = dict(super().info())
        answer.pop("rushes_local_server", None)
        return answer


def test_on_a_hosted_site_setup_creates_the_fields_but_only_reports_a_missing_project(
    server: SGServer,
) -> None:
    tracker = adapter(server, lambda: HostedSite(server.url, SCRIPT, KEY))
    steps = {s.what: s for s in tracker.setup([PLAN])}

    assert steps["field Task.sg_rushes_fixes (text)"].outcome == "created"
    assert steps["project MYSHOW"].outcome == "missing"
    assert "create it in ShotGrid" in steps["project MYSHOW"].detail
    assert not any(w.startswith("shot ") for w in steps)
    assert client(server).find("Project", [["code", "is", "MYSHOW"]], ["id"]) == []


def test_a_status_the_site_lacks_is_reported_with_the_option_to_set(server: SGServer) -> None:
    tracker = ShotGridTracker(options(server, fix_status="fixme"), kinds=KINDS, policy=FAST)
    steps = {s.what: s for s in tracker.setup([])}
    assert steps["status Task.fixme"].outcome == "missing"
    assert "tracker.fix_status" in steps["status Task.fixme"].detail
    assert steps["status Task.rev"].outcome == "existed"
