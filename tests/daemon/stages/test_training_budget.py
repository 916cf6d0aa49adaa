"""A training budget is the wall clock of the whole run (`rushes train --budget`, a train job): the time spent
before the engine starts counts, evaluation ends at the engine's deadline and writing and recording the version
fit in what is kept for them, so the run is over by its budget. Real training on the real clock, tiny clips.

The show's first run times its evaluation (per head: a whole held-out clip, one frame; engine.train.eval_time);
from the next run on, training leaves at least one frame of every head's scoring, so even a run whose budget is
spent by the time it evaluates ends within it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from daemon.catalog import Catalog, models_repo
from daemon.settings import Settings
from daemon.stages.training import FINISH_RESERVE_S, run_training
from engine.train import Stage
from tests import footage
from tests.daemon.stages.conftest import SHOW, ingest_movie

BUDGET = 10.0
SPENT_BEFORE = 1.0  # what loading the command took before the stage was called, counted in the budget
# Past the budget by at most the training step in flight when training's time ran out (evaluation then has
# that much less than it kept, and one frame of each head is still scored): at 64 px a step takes well under
# 0.1 s on an idle core and up to about 0.4 s in the parallel suite at a load of 20.
TOLERANCE = 0.5


@pytest.fixture(autouse=True)
def warm_torch() -> None:
    """torch's own one-off imports (an optimiser loads torch._dynamo: seconds on a busy machine) happen before
    the clock starts: a run whose fixed costs alone exceed the budget cannot end within it, and this test is
    about how the budget is shared, not about how fast the machine is."""
    import torch

    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])


def test_a_budgeted_run_is_over_within_its_budget_counted_from_the_command_start(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    for i, photo in enumerate(["astronaut", "coffee", "chelsea", "rocket"]):
        clip = footage.movie(tmp_path / f"sh0{i}0_1.mp4", n=8, size=(64, 48), photo=photo, seed=i)
        ingest_movie(catalog, clip, f"sh0{i}0")
    show = settings.shows[0]
    train = show.train.model_copy(
        update={"resolution": 64, "cpu_threads": 1}
    )  # 1 thread: the suite is parallel
    settings.shows[0] = show.model_copy(update={"train": train})
    first = run_training(settings, catalog, SHOW, job_id="first", budget=BUDGET)  # times its evaluation
    assert first.version == 1
    stages: list[tuple[float, Stage]] = []
    started = time.monotonic() - SPENT_BEFORE

    report = run_training(
        settings,
        catalog,
        SHOW,
        job_id="t",
        budget=BUDGET,
        on_stage=lambda st: stages.append((time.monotonic() - started, st)),
        started=started,
    )

    took = time.monotonic() - started
    assert report.version == 2 and report.skipped is None
    timeline = ", ".join(f"{st.name} {st.head or ''} at {at:.1f} s" for at, st in stages)
    assert took <= BUDGET + TOLERANCE, f"the run took {took:.2f} s of a {BUDGET} s budget: {timeline}"
    with catalog.session(readonly=True) as s:
        rows = models_repo.list_versions(s, SHOW)
        assert [r.version for r in rows] == [1, 2]  # written and recorded within the budget
    decode = stages[0][1]
    assert decode.name == "decode" and decode.left_s is not None
    assert decode.left_s <= BUDGET - SPENT_BEFORE - FINISH_RESERVE_S  # the time before the engine counted
    assert stages[-1][1].name == "write"
