"""`rushes base train --workers 2` on the real two-node Ray cluster: two data-parallel workers (Ray Train,
PyTorch DDP on gloo, one CPU each) train one base; its loss falls, a stopped run resumes from its
checkpoint through the CLI, and the finished version has the manifest a single-process run writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from engine.model import load_manifest
from engine.options import TrainOptions
from engine.train.base import prepare_run, train_base
from engine.train.settings import TrainSettings
from integrations.executors.ray_train import run_data_parallel
from tests import footage
from tests.cluster.jobs import StopAfter
from tests.cluster.raycluster import REPO, RayCluster, ray_env

DECLARED = "owned: shot by ACME for show X"
STEPS, STOP_AT = 30, 20


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


def test_two_workers_train_one_base_whose_loss_falls_and_a_stopped_run_resumes_through_the_cli(
    ray_cluster: RayCluster, tmp_path: Path
) -> None:
    corpus = _corpus(tmp_path)
    alone, alone_run = prepare_run(tmp_path / "alone", "ACME", [corpus], DECLARED, _options())
    assert train_base(alone, alone_run, _options(), _settings(), heads=["denoise"]).version is not None

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
        address=ray_cluster.address,
        storage=tmp_path / "ray-train",
        name="stopped",
    )
    state = json.loads((folder / "checkpoint" / "state.json").read_text())
    assert not (folder / "manifest.json").exists(), "a stopped run leaves its checkpoint, not a version"
    progress = state["progress"]["denoise"]
    assert progress["step"] == STOP_AT
    losses = progress["losses"]  # mean over both workers, every 5 steps
    assert len(losses) == STOP_AT // 5 and losses[-1] < 0.8 * losses[0], f"the loss did not fall: {losses}"

    env = {
        **ray_env(),
        "RUSHES_HOME": str(home),
        "RUSHES_EXECUTOR__KIND": "ray",
        "RUSHES_EXECUTOR__RAY_ADDRESS": ray_cluster.address,
    }
    cli = [sys.executable, "-m", "daemon", "base", "train", "--name", "ACME", "--resume", "--workers", "2"]
    cli += ["--head", "denoise", "--max-steps", str(STEPS), "--device", "cpu"]
    done = subprocess.run(cli, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"steps {STEPS} (2 workers)" in done.stdout and str(folder) in done.stdout

    ours, single = load_manifest(folder), load_manifest(alone)
    assert ours.steps == single.steps == {"denoise": STEPS}
    assert [c.content_hash for c in ours.clips] == [c.content_hash for c in single.clips]
    assert [c.content_hash for c in ours.holdout] == [c.content_hash for c in single.holdout]
    assert ours.kind == "base" and ours.declaration == DECLARED and set(ours.metrics) == {"denoise"}
    assert _shape(ours.model_dump(mode="json")) == _shape(single.model_dump(mode="json"))
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in alone.iterdir())
    assert ours.weights_sha256 != single.weights_sha256, "two workers see other batches than one"
    assert not os.path.exists(folder / "stop")
