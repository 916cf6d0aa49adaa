"""Training yields to fixes: with every executor slot taken, a fix that arrives stops the running training at
its checkpoint; the fix runs, then the training is claimed again and resumes from that checkpoint, without
counting an attempt. Real worker processes (the local executor with one slot) and a real SQLite catalog."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from daemon.catalog import Catalog
from daemon.catalog import jobs as job_repo
from daemon.jobs.runner import Lane, in_worker
from daemon.jobs.yielding import Slots, TrainingYields, may_start, must_yield
from integrations.executors.local import LocalExecutor

STEPS = 60


@pytest.mark.parametrize(
    ("in_hand", "capacity", "fixes_waiting", "yields"),
    [
        (1, 2, 1, False),  # a slot is free: the fix lane takes the fix there
        (2, 2, 0, False),  # every slot taken, but no fix waits
        (2, 2, 1, True),  # a fix waits in the catalog and every slot is taken
        (3, 2, 0, True),  # a claimed fix waits in the executor behind the training
        (1, 1, 1, True),
    ],
)
def test_training_yields_only_when_a_fix_waits_and_no_slot_is_free(
    in_hand: int, capacity: int, fixes_waiting: int, yields: bool
) -> None:
    assert must_yield(Slots(in_hand, capacity, fixes_waiting)) is yields


def test_training_starts_only_in_a_free_slot() -> None:
    assert may_start(Slots(1, 2, 5)) and not may_start(Slots(2, 2, 0))


def tick_until(lanes: list[Lane], what: str, done: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        for lane in lanes:
            lane.tick()
        time.sleep(0.02)


def test_a_fix_stops_running_training_at_its_checkpoint_and_training_resumes_after_it(
    catalog: Catalog, tmp_path: Path
) -> None:
    executor = LocalExecutor(max_jobs=1, gpus=0, work_dir=tmp_path / "work", grace_s=30)
    base = {"config": None}
    train = Lane(
        catalog, "train", ["train"], in_worker(executor, "tests.daemon.jobs.yield_jobs:train_steps", base, str(tmp_path)),
        placement={"yield_to": ["fix"]},
    )  # fmt: skip
    fix = Lane(
        catalog, "fix", ["fix"], in_worker(executor, "tests.daemon.jobs.yield_jobs:fix", base, str(tmp_path))
    )
    policy = TrainingYields(catalog, lambda: len(train.running) + len(fix.running), executor.capacity)
    train.admit, train.yields = policy.admit, policy.yields
    lanes = [train, fix]
    checkpoint, payload = tmp_path / "checkpoint", {"folder": str(tmp_path), "steps": STEPS, "hold_at": 5}
    try:
        with catalog.session() as s:
            training, _ = job_repo.enqueue(s, "train", "train:A:1", payload, show="A")
        tick_until(
            lanes, "training under way", lambda: checkpoint.is_file() and int(checkpoint.read_text()) >= 5
        )
        with catalog.session() as s:
            fixing, _ = job_repo.enqueue(s, "fix", "fix:A:1", payload, show="A")
        tick_until(lanes, "the fix done", lambda: _state(catalog, fixing.id) == "done")
        assert _state(catalog, training.id) in ("queued", "running"), "training waited for the fix"
        tick_until(lanes, "training done", lambda: _state(catalog, training.id) == "done")
    finally:
        executor.shutdown(wait=False)
    starts = [int(n) for n in (tmp_path / "starts").read_text().split()]
    fixed_at = int((tmp_path / "fixed-at").read_text())
    assert len(starts) == 2 and starts[0] == 0, starts
    assert 5 <= fixed_at < STEPS, "the fix ran while the training was stopped mid-run"
    assert starts[1] == fixed_at, "training resumed from the checkpoint it stopped at"
    with catalog.session(readonly=True) as s:
        job = job_repo.get_job(s, training.id)
        assert job is not None and job.attempts == 1 and job.result == {"steps": STEPS}, (
            "yielding is no attempt"
        )


def _state(catalog: Catalog, job_id: int) -> str:
    with catalog.session(readonly=True) as s:
        job = job_repo.get_job(s, job_id)
        assert job is not None
        return job.state
