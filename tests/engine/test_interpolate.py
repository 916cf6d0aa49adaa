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


def test_a_refiner_that_did_not_beat_the_flow_path_is_skipped(clip: np.ndarray) -> None:
    head = get_head("interpolate")
    net = head.build({})
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05)  # a refiner that changes the picture
    frames = [(100 + i, f) for i, f in enumerate(clip[:3])]
    no_gain = head.run_params({"factor": 2}, {"psnr": 33.36, "psnr_base": 33.36})
    gain = head.run_params({"factor": 2}, {"psnr": 33.9, "psnr_base": 33.4})
    assert no_gain["refine"] is False and gain["refine"] is True
    assert head.run_params({"factor": 2, "refine": True}, {"psnr": 1.0, "psnr_base": 2.0})["refine"] is True
    skipped = dict(head.apply(net, frames, no_gain))
    used = dict(head.apply(net, frames, gain))
    classical = dict(head.apply(head.build({}), frames, {"factor": 2}))
    np.testing.assert_allclose(skipped[101], classical[101], atol=1e-6)  # the flow path alone
    assert not np.allclose(used[101], classical[101], atol=1e-3)
