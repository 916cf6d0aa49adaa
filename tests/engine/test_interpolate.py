"""The interpolate head: a fresh net is exactly its flow base; retime and fill through apply()."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine import flow, synth
from engine.heads import HeadError, get_head


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return synth.camera_move(synth.photo("chelsea"), 8, (96, 64), synth.CameraMove(pan=(0.4, 0.1)), seed=3)


def test_fresh_refiner_is_exactly_the_flow_base(clip: np.ndarray) -> None:
    head = get_head("interpolate")
    net = head.build({})
    pf = flow.pair_flows(clip[2], clip[4], clip[0], clip[6])
    parts = flow.interpolate_reverse(clip[2], clip[4], pf, 0.5, flow.FlowConfig())
    np.testing.assert_allclose(head.refine(net, parts), parts.frame, atol=1e-6)


def test_apply_retime_and_fill(clip: np.ndarray) -> None:
    head = get_head("interpolate")
    net = head.build({})
    out = list(head.apply(net, ((100 + i, f) for i, f in enumerate(clip[:4])), {"factor": 2}))
    assert [n for n, _ in out] == list(range(100, 107))
    filled = dict(head.apply(net, ((100 + i, f) for i, f in enumerate(clip)), {"frames": "103"}))
    assert sorted(filled) == list(range(100, 108))
    with pytest.raises(HeadError, match="factor"):
        list(head.apply(net, [], {"factor": "fast"}))


def test_sample_and_loss_train(clip: np.ndarray) -> None:
    head = get_head("interpolate")
    net = head.build({"channels": 8, "depth": 3})
    rng = np.random.default_rng(0)
    samples = [head.sample(clip, rng, 32) for _ in range(2)]
    batch = {k: torch.from_numpy(np.stack([s[k] for s in samples])) for k in samples[0]}
    assert batch["inputs"].shape[1] == 11
    loss = head.loss(net, batch)
    loss.backward()
    assert torch.isfinite(loss)


def test_evaluate_reports_baselines(clip: np.ndarray) -> None:
    head = get_head("interpolate")
    scores = head.evaluate(head.build({}), [clip], np.random.default_rng(0), {"eval_frames": 2})
    assert scores["psnr"] == pytest.approx(scores["psnr_base"], abs=1e-3)
    assert scores["psnr"] > scores["psnr_linear"]
    assert scores["baseline_best"] >= scores["psnr_dis"]
