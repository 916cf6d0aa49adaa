"""Placement when claiming, on SQLite and PostgreSQL: fixes before training, training yields while fixes wait,
and a per-show limit on running jobs across every daemon."""

from __future__ import annotations

from daemon.catalog import Catalog
from daemon.catalog.jobs import claim, complete, enqueue


def test_a_fix_queued_after_training_is_claimed_first(catalog: Catalog) -> None:
    with catalog.session() as s:
        enqueue(s, "train", "train:A:1", {}, show="A")
        enqueue(s, "fix", "fix:A:1", {}, show="A")
    with catalog.session() as s:
        first = claim(s, "w1", ["train", "fix"], 60)
        second = claim(s, "w1", ["train", "fix"], 60)
        assert first is not None and second is not None
        assert (first.kind, second.kind) == ("fix", "train")


def test_training_waits_while_a_fix_is_waiting_and_starts_once_fixes_are_taken(catalog: Catalog) -> None:
    with catalog.session() as s:
        enqueue(s, "train", "train:A:1", {}, show="A")
        enqueue(s, "fix", "fix:B:1", {}, show="B")
    with catalog.session() as s:
        assert claim(s, "trainer", ["train"], 60, yield_to=["fix"]) is None
        fix = claim(s, "fixer", ["fix"], 60)
        assert fix is not None and fix.kind == "fix"
    with catalog.session() as s:
        train = claim(s, "trainer", ["train"], 60, yield_to=["fix"])
        assert train is not None and train.kind == "train", "a running fix no longer holds training back"


def test_a_show_at_its_limit_gets_no_more_jobs_while_other_shows_do(catalog: Catalog) -> None:
    with catalog.session() as s:
        for n in range(3):
            enqueue(s, "fix", f"fix:A:{n}", {}, show="A")
        enqueue(s, "fix", "fix:B:0", {}, show="B")
    limit = {"per_show": 2, "show_kinds": ["train", "fix"]}
    taken = []
    with catalog.session() as s:
        while (job := claim(s, "w", ["fix"], 60, **limit)) is not None:
            taken.append((job.show, job.id))
    assert [show for show, _ in taken] == ["A", "A", "B"], "the third fix of show A waits"
    with catalog.session() as s:
        complete(s, taken[0][1], "w", {})
        job = claim(s, "w", ["fix"], 60, **limit)
        assert job is not None and job.show == "A", "a finished job frees a place for its show"
