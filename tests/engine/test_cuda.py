"""The heads on a CUDA GPU: training under its autocast, a resumed base run and a show version grown from it,
held-out scoring with the nets on the GPU, and fixes whose nets run there against the same fixes on the CPU.

These need a GPU that PyTorch sees, so they are skipped where there is none (CI has none); bench/gpu.sh runs
this module first on a GPU machine, before its benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from engine import degrade, synth
from engine.heads import get_head, head_names
from engine.infer import runtime
from engine.model import ShowModel, load_model
from engine.model.base import load_base
from engine.options import TrainOptions
from engine.train import TrainClip, TrainSettings, train
from engine.train.base import prepare_run, train_base
from tests import footage

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (bench/gpu.sh)")

DECLARED = "owned: shot by ACME for show X"


def _clips() -> list[TrainClip]:
    out = []
    for i, name in enumerate(("astronaut", "coffee", "chelsea")):
        frames = synth.camera_move(synth.photo(name), 8, (96, 64), seed=i)
        out.append(TrainClip(id=f"shot{i}", content_hash=f"hash{i}", frames=frames))
    return out


def _options(**kw: Any) -> TrainOptions:
    return TrainOptions(**{"budget_seconds": 600, "device": "cuda", "resolution": 64, **kw})


def _settings(tmp_path: Path, **kw: Any) -> TrainSettings:
    base = {
        "max_steps": 3,
        "batch_size": 2,
        "crop": 32,
        "cache_dir": tmp_path / "cache",
        "checkpoint_seconds": 0.01,
    }
    return TrainSettings(**{**base, **kw})


def _finite_on_cpu(folder: Path) -> None:
    version = load_model(folder)  # loads on the CPU
    for name in version.model.nets:
        for p in version.model.net(name).parameters():
            assert p.device.type == "cpu" and p.dtype == torch.float32
            assert torch.isfinite(p).all(), name


def test_every_head_trains_on_the_gpu_and_its_version_loads_on_the_cpu(tmp_path: Path) -> None:
    result = train(
        _clips(),
        _options(holdout_fraction=0.34),
        tmp_path / "v1",
        heads=head_names(),
        settings=_settings(tmp_path),
    )
    assert result.version is not None
    assert result.steps == dict.fromkeys(head_names(), 3)
    for head in head_names():  # scored on the held-out clip with the net on the GPU
        assert np.isfinite(result.metrics[head]["psnr"]), head
    _finite_on_cpu(tmp_path / "v1")


def test_training_on_the_gpu_lowers_the_loss(tmp_path: Path) -> None:
    result = train(
        _clips(),
        _options(holdout_fraction=0.0),
        tmp_path / "v1",
        heads=["denoise"],
        settings=_settings(tmp_path, max_steps=300, batch_size=8, progress_every=50),
    )
    losses = result.losses["denoise"]
    assert len(losses) == 6 and all(np.isfinite(losses))
    assert losses[-1] < 0.8 * losses[0]


def test_a_base_run_on_the_gpu_resumes_and_a_show_version_grows_from_it(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    for i, name in enumerate(("astronaut", "coffee")):
        footage.movie(corpus / f"clip{i}.mp4", n=8, size=(96, 64), photo=name, seed=i)
    root, heads = tmp_path / "bases", ["denoise", "upscale", "interpolate"]
    folder, run = prepare_run(root, "ACME", [corpus], DECLARED, _options(holdout_fraction=0.0))
    calls = {"n": 0}

    def crash_after_4() -> bool:
        calls["n"] += 1
        return calls["n"] > 4

    first = train_base(folder, run, _options(), _settings(tmp_path), heads=heads, stop=crash_after_4)
    assert first.stopped
    again, same = prepare_run(root, "ACME", [], None, _options(), resume=True)
    second = train_base(again, same, _options(), _settings(tmp_path), heads=heads)
    assert second.resumed and second.steps == dict.fromkeys(heads, 3)
    base = load_base(root, "ACME", device="cuda")
    show = train(
        _clips(),
        _options(holdout_fraction=0.34),
        tmp_path / "show",
        heads=heads,
        settings=_settings(tmp_path, max_steps=1, learning_rate=1e-9),
        base=base,
    )
    assert show.version is not None
    assert all(np.isfinite(show.parent_metrics[h]["psnr"]) for h in heads)  # the base scored on the GPU too
    # it started from the base's weights: one step at a negligible learning rate leaves them in place
    w_base = {k: v.cpu() for k, v in base.model.state_dict().items()}
    w_show = load_model(tmp_path / "show").model.state_dict()
    assert all(torch.allclose(w_base[k], w_show[k], atol=1e-4) for k in w_show)
    _finite_on_cpu(tmp_path / "show")


def _fix_inputs() -> dict[str, tuple[list[tuple[int, np.ndarray]], dict[str, Any]]]:
    clip = synth.camera_move(synth.photo("astronaut"), 4, (192, 128), synth.CameraMove(pan=(0.5, 0.2)))
    mask = np.zeros((128, 192), bool)
    mask[40:80, 60:110] = True
    small = clip[:, ::2, ::2].copy()
    graded = degrade.regrade(clip, exposure_stops=0.7, white_balance=(1.1, 1.0, 0.9), contrast=1.2)
    numbered = lambda frames: list(enumerate(frames))  # noqa: E731
    return {
        "denoise": (numbered(degrade.add_noise(clip, 15 / 255)), {}),
        "upscale": (numbered(small), {"int8": False}),
        "cleanup": (numbered(clip), {"masks": mask, "radius": 2}),
        "interpolate": (numbered(clip), {"factor": 2, "refine": True}),
        "regrade": (numbered(graded), {"reference": clip[-1]}),
    }


@pytest.mark.parametrize("head_name", ["denoise", "upscale", "cleanup", "interpolate", "regrade"])
def test_a_fix_on_the_gpu_matches_the_same_fix_on_the_cpu(head_name: str) -> None:
    """The GPU runs fixes in float16 autocast: its frames stay within 8-bit rounding of the CPU's float32."""
    torch.manual_seed(3)
    net = ShowModel.fresh([head_name]).net(head_name)
    for p in net.parameters():  # a net that changes the frames, unlike a fresh one that passes them through
        torch.nn.init.normal_(p, std=0.02)
    net.eval()
    frames, params = _fix_inputs()[head_name]
    head = get_head(head_name)
    with torch.no_grad(), runtime.using(backend="torch"):
        on_cpu = list(head.apply(net, frames, params))
        on_gpu = list(head.apply(net.to("cuda"), frames, params))
    assert [n for n, _ in on_gpu] == [n for n, _ in on_cpu]
    for (_, a), (_, b) in zip(on_cpu, on_gpu, strict=True):
        assert a.shape == b.shape and b.dtype == np.float32
        assert np.isfinite(b).all()
        assert float(np.abs(a - b).mean()) < 2 / 255, head_name
