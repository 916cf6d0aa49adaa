"""`rushes base train --workers 2` on a real two-node Ray cluster of its own: two data-parallel workers (Ray Train,
PyTorch DDP on gloo, one CPU each) train one base; its loss falls, a stopped run resumes from its
checkpoint through the CLI, and the finished version has the manifest a single-process run writes.
The loss is compared on fixed batches before and after (the running loss of 30 small batches is mostly
batch-to-batch noise)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.heads import get_head
from engine.model import load_manifest, load_model
from engine.model.show import ShowModel
from engine.options import TrainOptions
from engine.train.base import prepare_run, train_base
from engine.train.dataset import TrainClip, load_clip
from engine.train.loop import make_batch
from engine.train.settings import TrainSettings
from integrations.executors.ray_train import run_data_parallel
from tests import footage
from tests.cluster.jobs import StopAfter
from tests.cluster.raycluster import REPO, RayCluster, RayNode, WorkerNode, ray_env
from tests.e2e.world import wait_for

DECLARED = "owned: shot by ACME for show X"
pytestmark = pytest.mark.slow  # handed out first when the suite runs in parallel

STEPS, STOP_AT = 24, 10  # a stop is taken every SYNC_EVERY (5) steps


def _corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    for i, name in enumerate(("astronaut", "coffee", "chelsea", "rocket")):
        footage.movie(folder / f"clip{i}.mp4", n=8, size=(96, 64), photo=name, seed=i)
    return folder


def _options() -> TrainOptions:
    # what the CLI builds from `--device cpu --resolution 64 --seed 0`
    return TrainOptions(budget_seconds=7200, device="cpu", resolution=64, holdout_fraction=0.1)  # type: ignore[arg-type]


def _settings() -> TrainSettings:
    return TrainSettings(max_steps=STEPS, progress_every=5)  # what the CLI builds from `--max-steps`


def _shape(manifest: dict[str, object]) -> dict[str, object]:
    """What a manifest holds, without the values that differ from run to run (hashes, dates, scores)."""
    return {k: sorted(v) if isinstance(v, dict) else type(v).__name__ for k, v in manifest.items()}


@pytest.fixture(scope="module")
def train_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayCluster]:
    """A head and a worker node of one CPU each, for this module alone: Ray Train's start-ups make this the
    longest Ray test, and on a cluster of its own it runs beside the tests sharing the session's cluster
    (on another xdist worker) instead of after them."""
    cluster = RayCluster.start(tmp_path_factory.mktemp("traincluster"), workers=[WorkerNode("worker")])
    try:
        yield cluster
    finally:
        cluster.stop()


def test_two_workers_train_one_base_whose_loss_falls_and_a_stopped_run_resumes_through_the_cli(
    train_cluster: RayCluster, tmp_path: Path
) -> None:
    corpus = _corpus(tmp_path)
    alone, alone_run = prepare_run(tmp_path / "alone", "ACME", [corpus], DECLARED, _options())
    short = TrainSettings(max_steps=2, progress_every=5)  # for the manifest's shape a short run is enough
    assert train_base(alone, alone_run, _options(), short, heads=["denoise"]).version is not None
    address = f"127.0.0.1:{train_cluster.gcs_port}"  # the driver joins the cluster (no Ray Client in between)

    home = tmp_path / "home"
    folder, run = prepare_run(home / "bases", "ACME", [corpus], DECLARED, _options())
    run_data_parallel(
        "engine.train.base:train_base_worker",
        {
            "folder": str(folder),
            "run": asdict(run),
            "options": _options().model_copy(update={"cpu_threads": 1}).model_dump(mode="json"),
            "settings": _settings().model_dump(mode="json"),
            "heads": ["denoise"],
            "stop": StopAfter(STOP_AT),
        },
        workers=2,
        address=address,
        storage=tmp_path / "ray-train",
        name="stopped",
    )
    state = json.loads((folder / "checkpoint" / "state.json").read_text())
    assert not (folder / "manifest.json").exists(), "a stopped run leaves its checkpoint, not a version"
    progress = state["progress"]["denoise"]
    assert progress["step"] == STOP_AT
    reports = -(-STOP_AT // 5)  # every 5 steps, and the steps since the last report when it stopped
    assert len(progress["losses"]) == reports, "a running loss (the mean over both workers) every 5 steps"

    env = {
        **ray_env(),
        "RUSHES_HOME": str(home),
        "RUSHES_EXECUTOR__KIND": "ray",
        "RUSHES_EXECUTOR__RAY_ADDRESS": address,
    }
    cli = [sys.executable, "-m", "daemon", "base", "train", "--name", "ACME", "--resume", "--workers", "2"]
    cli += ["--head", "denoise", "--max-steps", str(STEPS), "--device", "cpu"]
    done = subprocess.run(cli, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"steps {STEPS} (2 workers)" in done.stdout and str(folder) in done.stdout

    ours, single = load_manifest(folder), load_manifest(alone)
    assert ours.steps == {"denoise": STEPS} and set(single.steps) == {"denoise"}
    assert [c.content_hash for c in ours.clips] == [c.content_hash for c in single.clips]
    assert [c.content_hash for c in ours.holdout] == [c.content_hash for c in single.holdout]
    assert ours.kind == "base" and ours.declaration == DECLARED and set(ours.metrics) == {"denoise"}
    assert _shape(ours.model_dump(mode="json")) == _shape(single.model_dump(mode="json"))
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in alone.iterdir())
    assert not os.path.exists(folder / "stop")
    fresh, trained = _fixed_batch_losses(corpus, folder)
    assert all(t < f for t, f in zip(trained, fresh, strict=True)), (
        f"the loss did not fall: {fresh} -> {trained}"
    )


# A run of `returns` asked to stop once the cluster says it is short: prints what it was told, then the error,
# and ends as `rushes base train` does (os._exit: Ray is not shut down under Ray Train's waiting thread).
STOPPED_WHILE_WAITING = """
import json, os, sys
from pathlib import Path
from integrations.executors.ray_train import StoppedWaiting, run_data_parallel
group = json.loads(sys.argv[1])
group["storage"] = Path(group["storage"])
said = []
try:
    run_data_parallel("tests.cluster.jobs:returns", {}, name="stopped", say=said.append, stopped=lambda: bool(said), **group)
except StoppedWaiting as exc:  # as `rushes base train` does: say it, end without Ray's shutdown under the wait
    print("\\n".join([*said, str(exc)]), flush=True)
    os._exit(0)
"""


def test_a_group_the_cluster_cannot_hold_says_so_stops_when_asked_and_starts_once_a_node_joins(
    train_cluster: RayCluster, tmp_path: Path
) -> None:
    """A node died with its worker, or --workers asked for more CPUs than the nodes hold: Ray Train waited for
    them without a word, the terminal's last progress line frozen for as long as it took, and Ctrl-C did not
    end the wait."""
    group = {
        "workers": 3,  # one CPU each, on a head and a node of one CPU each
        "address": f"127.0.0.1:{train_cluster.gcs_port}",
        "storage": tmp_path / "ray-train",
        "look_every_s": 0.5,
    }
    # A run stopped while it waits leaves Ray Train's waiting thread behind, as `rushes base train` then exits:
    # in a process of its own, as there (kept in this one, it crashed the test worker at the next ray.init).
    stopped = subprocess.run(
        [
            sys.executable,
            "-c",
            STOPPED_WHILE_WAITING,
            json.dumps({**group, "storage": str(group["storage"])}),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=ray_env(),
    )
    said = stopped.stdout.splitlines()
    assert stopped.returncode == 0, stopped.stderr[-2000:]
    assert said[-1].startswith("stopped while waiting for the cluster's resources (waiting: ")
    assert said[0].startswith("waiting: the Ray cluster has 2 CPU(s) for 3 workers of 1 CPU each")
    assert said[0].endswith("stop this run (Ctrl-C) and train on with --resume and fewer --workers")

    lines: list[str] = []
    short = threading.Event()
    joined: list[RayNode] = []

    def say(line: str) -> None:
        lines.append(line)
        short.set()

    def join_when_short() -> None:
        if short.wait(120):
            joined.append(train_cluster.add_node("third"))

    joiner = threading.Thread(target=join_when_short)
    joiner.start()
    try:
        run_data_parallel("tests.cluster.jobs:returns", {}, name="short", say=say, **group)
    finally:
        joiner.join()
        for node in joined:
            node.stop()
    assert lines == [said[0], "the Ray cluster offers the workers' resources again"]


def test_ctrl_c_stops_the_workers_at_their_next_step_with_a_checkpoint(
    train_cluster: RayCluster, tmp_path: Path
) -> None:
    """Ray Train took Ctrl-C on the main thread to abort the run: the workers were killed mid-step and the
    steps since the last periodic checkpoint lost, where Rushes' own stop checkpoints at the next step."""
    home = tmp_path / "home"
    env = {
        **ray_env(),
        "RUSHES_HOME": str(home),
        "RUSHES_EXECUTOR__KIND": "ray",
        "RUSHES_EXECUTOR__RAY_ADDRESS": f"127.0.0.1:{train_cluster.gcs_port}",
    }
    cli = [
        sys.executable,
        "-m",
        "daemon",
        "base",
        "train",
        "--name",
        "ACME",
        "--corpus",
        str(_corpus(tmp_path)),
    ]
    cli += ["--declare", DECLARED, "--workers", "2", "--head", "denoise", "--max-steps", "1000000"]
    cli += ["--device", "cpu", "--resolution", "64"]
    state = home / "bases" / "ACME" / "v1" / "checkpoint" / "state.json"
    run = subprocess.Popen(cli, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for("the first periodic checkpoint", state.exists, 300, lambda: run.poll() is None)
        periodic = json.loads(state.read_text())["progress"]["denoise"]["step"]
        run.send_signal(signal.SIGINT)
        out, err = run.communicate(timeout=120)
    finally:
        run.kill()
    assert run.returncode == 130, err[-2000:]
    assert "stopped at its checkpoint; continue it with `rushes base train --name ACME --resume`" in out + err
    assert json.loads(state.read_text())["progress"]["denoise"]["step"] > periodic


def _fixed_batch_losses(corpus: Path, version: Path) -> tuple[list[float], list[float]]:
    """The denoise loss of the run's starting weights (fresh, seed 0) and of the trained base on the same three
    batches of 64 examples (fixed batches: a running loss over 30 small batches is mostly batch noise)."""
    clips = [load_clip(TrainClip(id=str(p), path=p), 64, None).frames for p in sorted(corpus.glob("*.mp4"))]
    head = get_head("denoise")
    torch.manual_seed(0)
    nets = [
        ShowModel.fresh(["denoise"], {"denoise": {}}).net("denoise"),
        load_model(version).model.net("denoise"),
    ]
    losses: list[list[float]] = [[], []]
    for trial in range(3):
        batch = make_batch(head, clips, np.random.default_rng(100 + trial), 64, 64, torch.device("cpu"))
        with torch.no_grad():
            for out, net in zip(losses, nets, strict=True):
                out.append(float(head.loss(net.eval(), batch)))
    return losses[0], losses[1]
