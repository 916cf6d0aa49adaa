"""engine.cores: a process never computes on more threads than the cores it may run on, whatever the load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cores import free_cores

REPO = Path(__file__).resolve().parents[2]

# What a training process and an inference process would start with, at no load, printed as JSON.
PROBE = """
import json, os, sys
if len(sys.argv) > 1:
    os.sched_setaffinity(0, {int(sys.argv[1])})  # pinned before torch starts its threads
import torch
from engine.cores import usable_cores
from engine.infer import runtime
from engine.train.threads import ThreadGovernor
governor = ThreadGovernor(load=lambda: 0.0)
print(json.dumps({"usable": usable_cores(), "train": governor.threads, "torch": torch.get_num_threads(),
                  "infer": runtime.choose_threads(load=0.0), "runtime": runtime.runtime_threads()}))
"""


def test_free_cores_are_what_the_load_leaves_of_the_machine_at_most_the_process_own() -> None:
    assert free_cores(0.2, machine=16, usable=16) == 16
    assert free_cores(4.0, machine=16, usable=16) == 12
    assert free_cores(0.0, machine=16, usable=4) == 4  # pinned to 4: the 12 idle others are not its to use
    assert free_cores(13.6, machine=16, usable=4) == 2
    assert free_cores(40.0, machine=16, usable=4) == 1


def _probe(pin: int | None) -> dict[str, int]:
    env = {k: v for k, v in os.environ.items() if k != "RUSHES_INFER_THREADS"}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *([] if pin is None else [str(pin)])],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux's")
def test_a_process_pinned_to_one_core_trains_and_infers_on_one_thread() -> None:
    allowed = sorted(os.sched_getaffinity(0))
    free = _probe(None)
    assert free["usable"] == len(allowed)
    assert free["train"] == free["torch"] == free["infer"] == min(len(allowed), os.cpu_count() or 1)
    pinned = _probe(allowed[0])
    assert pinned == {"usable": 1, "train": 1, "torch": 1, "infer": 1, "runtime": 1}
