"""A plate delivered again over a daily whose fix waits for review, with a real daemon and the local tracker: the
supervisor reviewing the Version is told on its task, once, and the task keeps its status."""

from __future__ import annotations

from pathlib import Path

from daemon.stages.notices import SUBJECT
from tests.e2e.world import make_world, published, wait_for


def test_the_reviewers_of_a_version_are_told_when_its_plate_is_delivered_again(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    catalog = world.catalog()
    log = world.root / "daemon.log"
    fixed = next(s for s in world.shots if s.kind == "denoise")
    other_pictures = next(s for s in world.shots if s.kind is None)  # never landed: new content to the show
    proc = world.start_daemon()
    sg = world.coordinator.sg
    task = {"type": "Task", "id": world.tasks[fixed.shot]}

    def alive() -> bool:
        return proc.poll() is None

    def task_status() -> str:
        return str(sg.find_one("Task", [["id", "is", task["id"]]], ["sg_status_list"])["sg_status_list"])

    def told() -> list[dict[str, object]]:
        return sg.find("Note", [["tasks", "is", task], ["subject", "is", SUBJECT]], ["content"])

    try:
        world.drop_dailies([fixed])
        world.tag(["denoise"])
        wait_for("the denoise Version", lambda: published(catalog) == 1, 240, alive, log)
        # the task is moved on just after the Version is recorded published: read it once it has been
        wait_for("the task moved on from fix", lambda: task_status() != "fix", 60, alive, log)
        status = task_status()
        assert told() == []

        # the lab's v002 lands over v001 under the same name, as a copy tool writes it
        part = world.inbox / f"{fixed.file.name}.part"
        part.write_bytes(other_pictures.file.read_bytes())
        part.rename(world.inbox / fixed.file.name)
        wait_for("a note on the task", lambda: told() != [], 120, alive, log)
        assert alive(), log.read_text()

        [note] = told()
        assert f"made from {world.inbox / fixed.file.name}, which has been delivered again" in str(
            note["content"]
        )
        assert task_status() == status
    finally:
        world.stop()
        catalog.dispose()
