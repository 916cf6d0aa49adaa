"""Upscale's fine-tuning on the shot (`adapt`, off for new versions): a fix asked for it fine-tunes a copy
of the net on pairs cut from the shot's own low-resolution frames (each crop box-downscaled again -> the crop), never seeing the truth; it
gains on a shot unlike anything the net was trained on, leaves the version's net as it was, and evaluate()
scores exactly what such a fix makes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine import synth
from engine.baselines.restore import downscale
from engine.heads import get_head
from engine.heads.errors import HeadError
from engine.heads.upscale import ADAPT_FRAMES
from engine.infer import runtime
from engine.infer.tiling import image_to_tensor, tensor_to_image
from engine.metrics import psnr
from engine.model import Manifest, ShowModel, load_model, save_model
from engine.nets import ResidualCNN
from tests.engine.upscale_nets import acting_upscale_net

INNER = np.s_[4:-4, 4:-4]


def _shot(name: str, frames: int = 4, size: tuple[int, int] = (192, 128)) -> np.ndarray:
    """`frames` frames (even size) of a camera moving over a scikit-image photo: the truth of a shot."""
    return synth.camera_move(synth.photo(name), frames, size, seed=1)


def _small_net() -> torch.nn.Module:
    head = get_head("upscale")
    torch.manual_seed(0)
    return head.build({**head.default_config(), "channels": 16, "depth": 4})


def test_a_fix_fine_tuned_on_the_shot_beats_the_same_net_without_it_and_leaves_the_net_as_it_was() -> None:
    head = get_head("upscale")
    net = _small_net()  # fresh: exactly bicubic, so any gain is what the shot's own frames taught it
    before = {k: v.clone() for k, v in net.state_dict().items()}
    truth = _shot("coffee")
    lrs = [np.ascontiguousarray(downscale(f)) for f in truth]
    numbered = [(100 + i, lr) for i, lr in enumerate(lrs)]
    plain = list(head.apply(net, numbered, {"int8": False, "adapt": 0}))
    tuned = list(head.apply(net, numbered, {"int8": False, "adapt": 200}))
    assert [n for n, _ in tuned] == [100, 101, 102, 103]
    gain = np.mean(
        [
            psnr(t[INNER], f[INNER]) - psnr(p[INNER], f[INNER])
            for (_, t), (_, p), f in zip(tuned, plain, truth, strict=True)
        ]
    )
    assert gain > 0.2  # dB over the untuned net (bicubic) on the shot's own frames, truth never seen
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k])  # the version's net is untouched


def test_evaluate_with_adapt_scores_what_a_fix_of_the_scored_frames_makes() -> None:
    head = get_head("upscale")
    net = _small_net()
    clip = _shot("astronaut", frames=3)
    opts = {"eval_frames": 3, "adapt": 15}
    scores = head.evaluate(net, [clip], np.random.default_rng(0), opts)
    fixed = head.apply(net, [(i, downscale(f)) for i, f in enumerate(clip)], {"int8": False, "adapt": 15})
    expected = np.mean([psnr(out[INNER], clip[i][INNER]) for i, out in fixed])
    assert abs(scores["psnr"] - expected) < 1e-3
    untuned = head.evaluate(net, [clip], np.random.default_rng(0), {"eval_frames": 3, "adapt": 0})
    assert scores["psnr"] > untuned["psnr"]


def test_a_fix_holds_back_only_the_first_frames_and_without_adapt_runs_the_net_as_saved() -> None:
    head = get_head("upscale")
    net = _small_net()
    lrs = [downscale(f) for f in _shot("chelsea", frames=ADAPT_FRAMES + 2, size=(96, 64))]
    seen: list[int] = []

    def source() -> object:
        for i, lr in enumerate(lrs):
            seen.append(i)
            yield i, lr

    run = head.apply(net, source(), {"int8": False, "adapt": 2})
    first = next(iter(run))
    assert first[0] == 0 and len(seen) == ADAPT_FRAMES  # fine-tuned on the first frames, then streamed
    assert len(list(run)) == len(lrs) - 1
    assert head.adapt(net, lrs, 0) is net  # adapt 0: the net itself


def test_new_versions_fix_with_the_net_as_trained_a_saved_count_is_kept_and_versions_saved_before_fix_as_they_did(
    tmp_path: Path,
) -> None:
    """The step count is saved with the weights (`adapt_steps`, from the `adapt` config key). A new version
    saves 0: its fixes are the net's own output (fine-tuning on the shot lost up to 5 dB on camera footage at
    its own size, docs/benchmarks.md). A version saved with a count fine-tunes by default; one saved before
    the setting existed (no key, no tensor) loads with 0 and its fixes and scores are the net's own output."""
    truth = _shot("coffee", frames=2, size=(96, 64))
    frames = [(i, downscale(f)) for i, f in enumerate(truth)]
    head = get_head("upscale")
    torch.manual_seed(3)
    fresh = ShowModel.fresh(["upscale"], {"upscale": {"channels": 8, "depth": 3}})
    for q in fresh.net("upscale").parameters():
        torch.nn.init.normal_(q, std=0.02)
    save_model(tmp_path / "v3", fresh, Manifest(show="demo", version="v3"))
    default = load_model(tmp_path / "v3").model.net("upscale")
    assert int(default.adapt_steps) == 0
    as_trained = [o for _, o in head.apply(default, frames, {"int8": False})]
    unasked = [o for _, o in head.apply(default, frames, {"int8": False, "adapt": 0})]
    assert all(np.array_equal(a, b) for a, b in zip(as_trained, unasked, strict=True))

    model = ShowModel.fresh(["upscale"], {"upscale": {"channels": 8, "depth": 3, "adapt": 5}})
    model.nets["upscale"].load_state_dict({**default.state_dict(), "adapt_steps": torch.tensor(5)})
    save_model(tmp_path / "v2", model, Manifest(show="demo", version="v2"))
    new = load_model(tmp_path / "v2").model.net("upscale")
    assert int(new.adapt_steps) == 5
    by_default = [o for _, o in head.apply(new, frames, {"int8": False})]
    asked = [o for _, o in head.apply(new, frames, {"int8": False, "adapt": 5})]
    untuned = [o for _, o in head.apply(new, frames, {"int8": False, "adapt": 0})]
    assert all(np.array_equal(a, b) for a, b in zip(by_default, asked, strict=True))
    assert all(np.abs(a - b).max() > 1e-4 for a, b in zip(by_default, untuned, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(untuned, as_trained, strict=True))  # the same weights

    before = ResidualCNN(3, 3, channels=8, depth=3, shuffle=2)  # the head's net before the setting
    before.load_state_dict({k: v for k, v in new.state_dict().items() if k != "adapt_steps"})
    model.nets["upscale"] = before
    del model.configs["upscale"]["adapt"]
    save_model(tmp_path / "v1", model, Manifest(show="demo", version="v1"))
    old = load_model(tmp_path / "v1").model.net("upscale")
    assert int(old.adapt_steps) == 0
    fixed = [o for _, o in head.apply(old, frames, {"int8": False})]
    assert all(np.array_equal(a, b) for a, b in zip(fixed, untuned, strict=True))
    scored = head.evaluate(old, [truth], np.random.default_rng(0), {"eval_frames": 2})
    plain = head.evaluate(new, [truth], np.random.default_rng(0), {"eval_frames": 2, "adapt": 0})
    assert scored["psnr"] == plain["psnr"]


def test_the_self_ensemble_is_the_mean_of_its_first_n_turned_outputs_each_turned_back() -> None:
    """`ensemble` n: the frame's first n ORIENTATIONS (identity, half turn, quarter turns, then mirrored)
    through forward(), turned back and averaged (bicubic commutes with them, so only the net's correction
    is averaged). A bool, as queued fixes of older versions carry it, means all 8 or none; other counts
    are refused."""
    head = get_head("upscale")
    net = acting_upscale_net()
    lr = np.ascontiguousarray(downscale(_shot("rocket", frames=1, size=(160, 96))[0]))  # 80 x 48
    outs = {}
    for turns in range(4):
        for flip in (False, True):
            moved = np.rot90(lr, turns)
            moved = moved[:, ::-1] if flip else moved
            with torch.no_grad():
                y = tensor_to_image(head.forward(net, image_to_tensor(np.ascontiguousarray(moved))))  # type: ignore[attr-defined]
            outs[turns, flip] = np.rot90(y[:, ::-1] if flip else y, -turns)
    taken = {
        2: [(0, False), (2, False)],
        4: [(t, False) for t in range(4)],
        8: list(outs),
    }
    with runtime.using(backend="torch"):
        plain = head.upscale(net, lr)  # type: ignore[attr-defined]
        for n, keys in taken.items():
            out = head.upscale(net, lr, ensemble=n)  # type: ignore[attr-defined]
            expected = np.clip(np.mean([outs[k] for k in keys], axis=0), 0, 1)
            assert np.abs(out - expected).max() < 1e-5, n
            assert np.abs(out - plain).max() > 1e-3  # the acting net is not symmetric: the ensemble differs
        fixed = next(iter(head.apply(net, [(7, lr)], {"int8": False, "ensemble": True})))
        assert np.abs(head.upscale(net, lr, ensemble=1) - plain).max() == 0  # type: ignore[attr-defined]
        for wrong in (3, "4", 2.5):
            with pytest.raises(HeadError, match=f"upscale ensemble={wrong} must be one of 1, 2, 4, 8"):
                next(iter(head.apply(net, [(7, lr)], {"ensemble": wrong})))
    assert fixed[0] == 7 and np.abs(fixed[1] - out).max() < 1e-5  # true: all 8, the last `out` above
