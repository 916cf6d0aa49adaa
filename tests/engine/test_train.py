import json
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from engine import synth
from engine.model import load_model
from engine.options import TrainOptions
from engine.train import TrainClip, TrainSettings, loop, split_holdout, train
from engine.train.dataset import load_clip

HEADS = ["denoise", "upscale"]


def _clips() -> list[TrainClip]:
    out = []
    for i, name in enumerate(("astronaut", "coffee", "chelsea")):
        frames = synth.camera_move(synth.photo(name), 6, (80, 64), seed=i)
        out.append(TrainClip(id=f"shot{i}", content_hash=f"hash{i}", frames=frames))
    return out


def _options(**kw: object) -> TrainOptions:
    return TrainOptions(
        **{"budget_seconds": 600, "device": "cpu", "resolution": 64, "holdout_fraction": 0.34, **kw}
    )


def _settings(tmp_path: Path, **kw: object) -> TrainSettings:
    base = {
        "max_steps": 6,
        "batch_size": 2,
        "crop": 32,
        "cache_dir": tmp_path / "cache",
        "checkpoint_seconds": 0.01,
    }
    return TrainSettings(**{**base, **kw})


def test_manifest_names_training_and_held_out_clips_with_hashes(tmp_path: Path) -> None:
    result = train(_clips(), _options(), tmp_path / "v1", heads=HEADS, settings=_settings(tmp_path))
    assert result.version is not None
    manifest = load_model(tmp_path / "v1").manifest
    named = {c.id: c.content_hash for c in manifest.clips + manifest.holdout}
    assert named == {"shot0": "hash0", "shot1": "hash1", "shot2": "hash2"}
    assert len(manifest.holdout) == 1 and manifest.holdout_mode == "clips"
    assert all(c.frames == 6 for c in manifest.clips)
    assert manifest.steps == {"denoise": 6, "upscale": 6}
    assert manifest.scene_linear == "ACEScct"  # how it read EXR clips, so a fix can tell an older version
    for head in HEADS:  # scored against its baselines on the held-out clip
        assert {"psnr", "ssim", "baseline_best"} <= set(manifest.metrics[head])
    assert not (tmp_path / "v1" / "checkpoint").exists()


def test_same_seed_gives_the_same_weights(tmp_path: Path) -> None:
    a = train(_clips(), _options(seed=5), tmp_path / "a", heads=HEADS, settings=_settings(tmp_path))
    b = train(_clips(), _options(seed=5), tmp_path / "b", heads=HEADS, settings=_settings(tmp_path))
    c = train(_clips(), _options(seed=6), tmp_path / "c", heads=HEADS, settings=_settings(tmp_path))
    assert a.version and b.version and c.version
    wa, wb, wc = (r.version.model.state_dict() for r in (a, b, c))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)


@pytest.mark.parametrize("prefetch", [0, 3])
def test_resume_continues_at_the_saved_step(tmp_path: Path, prefetch: int) -> None:
    calls = {"n": 0}

    def stop_after_4() -> bool:  # a crash after 4 denoise steps; the checkpoint holds them
        calls["n"] += 1
        return calls["n"] > 4

    first = train(
        _clips(),
        _options(),
        tmp_path / "v",
        heads=HEADS,
        stop=stop_after_4,
        settings=_settings(tmp_path, prefetch=prefetch),
    )
    assert first.stopped and first.version is None and first.steps == {"denoise": 4, "upscale": 0}
    seen: list[tuple[str, int]] = []
    second = train(
        _clips(),
        _options(),
        tmp_path / "v",
        heads=HEADS,
        progress=lambda head, step, loss, elapsed: seen.append((head, step)),
        settings=_settings(tmp_path, progress_every=1, prefetch=prefetch),
    )
    assert second.resumed and second.version is not None
    assert [s for h, s in seen if h == "denoise"] == [5, 6]  # continued, not restarted
    assert second.steps == {"denoise": 6, "upscale": 6}
    straight = train(
        _clips(), _options(), tmp_path / "w", heads=HEADS, settings=_settings(tmp_path, prefetch=prefetch)
    )
    assert straight.version is not None
    ws, wr = straight.version.model.state_dict(), second.version.model.state_dict()
    assert all(torch.allclose(ws[k], wr[k], atol=1e-6) for k in ws)  # the same run as without the crash


def test_drawing_batches_ahead_trains_the_same_weights(tmp_path: Path) -> None:
    runs = [
        train(_clips(), _options(), tmp_path / f"v{p}", heads=HEADS, settings=_settings(tmp_path, prefetch=p))
        for p in (0, 3)
    ]
    assert runs[0].version is not None and runs[1].version is not None
    wa, wb = (r.version.model.state_dict() for r in runs)  # type: ignore[union-attr]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_warm_start_scores_against_the_parent(tmp_path: Path) -> None:
    parent = train(_clips(), _options(), tmp_path / "v1", heads=["upscale"], settings=_settings(tmp_path))
    assert parent.version is not None
    child = train(
        _clips(),
        _options(),
        tmp_path / "v2",
        parent=parent.version,
        heads=["upscale"],
        settings=_settings(tmp_path),
    )
    assert child.version is not None and child.version.manifest.parent == "v1"
    assert child.parent_metrics["upscale"]["psnr"] == pytest.approx(parent.metrics["upscale"]["psnr"])
    assert set(child.promotable) == {"upscale"}


def test_heads_from_the_parent_fine_tune_at_their_share_of_the_learning_rate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = train(_clips(), _options(), tmp_path / "v1", heads=["upscale"], settings=_settings(tmp_path))
    assert parent.version is not None
    rates: list[float] = []
    set_lr = loop._set_lr

    def record(opt: torch.optim.Optimizer, lr: float) -> None:
        rates.append(lr)
        set_lr(opt, lr)

    monkeypatch.setattr(loop, "_set_lr", record)
    settings = _settings(tmp_path, warm_learning_rates={"upscale": 0.25, "denoise": 0.5})
    child = train(
        _clips(), _options(), tmp_path / "v2", parent=parent.version, heads=HEADS, settings=settings
    )
    assert child.version is not None and child.steps == {"denoise": 6, "upscale": 6}
    # heads train in turn: denoise, new in this version, at the full rate; upscale, from the parent, at its share
    fresh, warm = rates[:6], rates[6:]
    assert max(fresh) > 0 and warm == pytest.approx([r * 0.25 for r in fresh])
    with pytest.raises(ValidationError, match="warm_learning_rates"):
        TrainSettings(warm_learning_rates={"upscale": 0.0})


def _record_steps(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, torch.Tensor]]:
    """The net's parameters after each training step, as loop._step leaves them."""
    snapshots: list[dict[str, torch.Tensor]] = []
    step = loop._step

    def record(objective: loop.HeadLoss, *args: object, **kw: object) -> float:
        loss = step(objective, *args, **kw)  # type: ignore[arg-type]
        snapshots.append({k: v.detach().clone().contiguous() for k, v in objective.net.named_parameters()})
        return loss

    monkeypatch.setattr(loop, "_step", record)
    return snapshots


def test_a_head_with_a_weight_average_keeps_the_average_of_its_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshots = _record_steps(monkeypatch)
    settings = _settings(tmp_path, weight_averages={"upscale": 0.5}, learning_rate=0.05)  # steps that move
    result = train(_clips(), _options(), tmp_path / "v1", heads=["upscale"], settings=settings)
    assert result.version is not None and len(snapshots) == 6
    expected = dict(snapshots[0])
    for n, weights in enumerate(snapshots[1:], start=1):  # the decay ramps up: min(0.5, (1 + n) / (10 + n))
        keep = min(0.5, (1 + n) / (10 + n))
        expected = {k: keep * expected[k] + (1 - keep) * w for k, w in weights.items()}
    kept = dict(result.version.model.net("upscale").named_parameters())
    assert all(torch.allclose(kept[k], expected[k], atol=1e-6) for k in expected)
    assert not all(torch.allclose(kept[k], snapshots[-1][k], atol=1e-3) for k in expected)


def test_without_a_weight_average_a_head_keeps_its_last_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshots = _record_steps(monkeypatch)
    settings = _settings(tmp_path, weight_averages={})
    result = train(_clips(), _options(), tmp_path / "v1", heads=["upscale"], settings=settings)
    assert result.version is not None
    kept = dict(result.version.model.net("upscale").named_parameters())
    assert all(torch.equal(kept[k], w) for k, w in snapshots[-1].items())
    with pytest.raises(ValidationError, match="weight_averages"):
        TrainSettings(weight_averages={"upscale": 1.0})


def test_a_resumed_run_averages_as_an_unbroken_one(tmp_path: Path) -> None:
    calls = {"n": 0}

    def stop_after_3() -> bool:  # a crash after 3 upscale steps; the checkpoint holds them and their average
        calls["n"] += 1
        return calls["n"] > 3

    settings = _settings(tmp_path, weight_averages={"upscale": 0.9})
    heads = ["upscale"]
    first = train(_clips(), _options(), tmp_path / "v", heads=heads, stop=stop_after_3, settings=settings)
    assert first.stopped and first.steps == {"upscale": 3}
    second = train(_clips(), _options(), tmp_path / "v", heads=heads, settings=settings)
    straight = train(_clips(), _options(), tmp_path / "w", heads=heads, settings=settings)
    assert second.resumed and second.version is not None and straight.version is not None
    ws, wr = straight.version.model.state_dict(), second.version.model.state_dict()
    assert all(torch.allclose(ws[k], wr[k], atol=1e-6) for k in ws)


def test_few_clips_hold_out_the_tail_of_each(tmp_path: Path) -> None:
    clips = [load_clip(c, 64, tmp_path) for c in _clips()[:2]]
    split = split_holdout(clips, 0.34, seed=0)
    assert split.mode == "tails"
    # 34% of 6 frames is 2, raised to 3: the cleanup head needs a frame and its neighbours
    assert [len(c) for c in split.train] == [3, 3] and [len(c) for c in split.holdout] == [3, 3]
    assert np.array_equal(split.holdout[0], clips[0].frames[3:])
    assert split.holdout_records[0].id == "shot0[3:]"
    assert list(tmp_path.glob("*.npy"))  # decoded once, cached


def test_training_the_interpolate_head_writes_a_version(tmp_path: Path) -> None:
    result = train(_clips(), _options(), tmp_path / "v1", heads=["interpolate"], settings=_settings(tmp_path))
    assert result.version is not None and result.steps == {"interpolate": 6}
    assert "psnr" in result.metrics["interpolate"]


def test_a_head_that_keeps_the_parents_weights_gets_them_back_with_the_parents_scores() -> None:
    from engine.model import Manifest, ModelVersion, ShowModel, decide
    from engine.train.loop import _keep_parent_heads

    parent_model = ShowModel.fresh(["upscale", "denoise"])
    with torch.no_grad():
        for p in parent_model.net("upscale").parameters():
            p.add_(0.5)
    parent = ModelVersion(Path("v1"), Manifest(version="v1"), parent_model)
    child = ShowModel.fresh(["upscale", "denoise"])
    trained = {k: v.clone() for k, v in child.net("denoise").state_dict().items()}
    base = {"baseline_best": 30.0, "psnr_lanczos": 30.0}
    metrics = {"upscale": {**base, "psnr": 29.0}, "denoise": {**base, "psnr": 33.0}}
    parent_metrics = {"upscale": {**base, "psnr": 31.0}, "denoise": {**base, "psnr": 32.0}}
    decision = decide(metrics, parent_metrics)
    assert decision.sources("v1") == {"upscale": "parent:v1", "denoise": "trained"}

    kept = _keep_parent_heads(child, parent, decision, metrics, parent_metrics)

    assert kept["upscale"]["psnr"] == 31.0 and kept["denoise"]["psnr"] == 33.0
    ours, theirs = child.net("upscale").state_dict(), parent_model.net("upscale").state_dict()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert all(torch.equal(child.net("denoise").state_dict()[k], trained[k]) for k in trained)


def _six_clips() -> list[TrainClip]:
    names = ("astronaut", "coffee", "chelsea", "rocket", "camera", "cat")
    return [
        TrainClip(
            id=f"s{i}", content_hash=f"h{i}", frames=synth.camera_move(synth.photo(n), 6, (80, 64), seed=i)
        )
        for i, n in enumerate(names)
    ]


def test_a_budget_is_wall_clock_for_the_whole_run_and_evaluation_stops_at_the_deadline(
    tmp_path: Path,
) -> None:
    heard: list[tuple[str, str | None, float | None]] = []
    options = TrainOptions(budget_seconds=3, device="cpu", resolution=64, holdout_fraction=0.5)
    cut = _settings(tmp_path, max_steps=None, eval_share=0.0)  # evaluation gets nothing: one clip only

    result = train(
        _six_clips(),
        options,
        tmp_path / "v1",
        heads=["upscale"],
        settings=cut,
        on_stage=lambda s: heard.append((s.name, s.head, s.left_s)),
    )

    assert [(n, h) for n, h, _ in heard] == [
        ("decode", None),
        ("train", "upscale"),
        ("evaluate", "upscale"),
        ("write", None),
    ]
    lefts = [left for _, _, left in heard]
    assert all(left is not None for left in lefts)
    assert lefts == sorted(lefts, reverse=True)  # counting down  # type: ignore[type-var]
    assert lefts[0] is not None and lefts[0] <= 3.0
    whole = train(
        _six_clips(),
        _options(holdout_fraction=0.5),
        tmp_path / "v2",
        heads=["upscale"],
        settings=_settings(tmp_path),
    )
    one_clip, every_clip = result.metrics["upscale"]["frames"], whole.metrics["upscale"]["frames"]
    assert 0 < one_clip < every_clip  # scored on the first held-out clip only, not all three


def test_a_run_with_nothing_held_out_trains_for_its_whole_budget(tmp_path: Path) -> None:
    # a base run scores nothing: keeping evaluation's share back would leave that share of its hours idle
    heard: list[tuple[str, float | None]] = []
    options = TrainOptions(budget_seconds=5, device="cpu", resolution=64, holdout_fraction=0.0)
    result = train(
        _clips(),
        options,
        tmp_path / "base",
        heads=["upscale"],
        settings=_settings(tmp_path, max_steps=None, eval_share=0.5),
        on_stage=lambda s: heard.append((s.name, s.left_s)),
    )

    assert result.metrics == {}
    started = dict(heard)["train"]
    left_at_write = dict(heard)["write"]
    assert started is not None and left_at_write is not None
    assert left_at_write <= 0.2 * started  # half kept back for an evaluation that never comes would leave 50%


def test_a_benchmark_run_trains_its_whole_budget_then_scores_every_held_out_frame(tmp_path: Path) -> None:
    # bench/base.py compares a show model from the base with one from scratch: both must be scored on the same
    # frames, which an evaluation cut to the deadline does not promise
    whole = train(_clips(), _options(), tmp_path / "steps", heads=["upscale"], settings=_settings(tmp_path))
    heard: list[tuple[str, float | None]] = []
    timed = train(
        _clips(),
        _options(budget_seconds=2),
        tmp_path / "timed",
        heads=["upscale"],
        settings=_settings(tmp_path, max_steps=None, score_every_clip=True),
        on_stage=lambda s: heard.append((s.name, s.left_s)),
    )

    started, scored = dict(heard)["train"], dict(heard)["evaluate"]
    assert started is not None and scored is not None
    assert scored <= 0.2 * started  # no share of the budget kept back: scoring comes after it
    ours, theirs = timed.metrics["upscale"], whole.metrics["upscale"]
    assert ours["frames"] == theirs["frames"]  # every held-out clip, whole
    assert ours["psnr_lanczos"] == theirs["psnr_lanczos"]  # on the very same frames


def test_evaluation_keeps_its_share_or_what_it_took_last_time_when_that_was_more(tmp_path: Path) -> None:
    from engine.train.loop import EvalMemo, eval_reserve

    assert eval_reserve(100.0, 0.25, None) == 25.0
    assert eval_reserve(100.0, 0.25, 40.0) == 40.0  # last time it took 40 s: keep 40
    assert eval_reserve(100.0, 0.25, 90.0) == 60.0  # but never more than 60% of what is left
    memo = EvalMemo(tmp_path / "cache" / "evaluation-seconds.json", "denoise,upscale@64")
    assert memo.last() is None
    memo.remember(12.345)
    EvalMemo(memo.path, "other").remember(3.0)
    assert memo.last() == 12.35 and EvalMemo(memo.path, "other").last() == 3.0
    memo.remember(2.0)  # cut short by a spent budget: the next run still keeps most of a whole evaluation
    assert memo.last() == round(0.8 * 12.35, 2)
    memo.remember(12.35)
    assert EvalMemo(memo.path, "denoise,upscale+parent@64").last() == 24.7  # the parent is scored too
    memo.path.write_text("not json")
    assert memo.last() is None  # a damaged memo is ignored, never an error


def test_a_run_remembers_how_long_its_evaluation_took(tmp_path: Path) -> None:
    result = train(_clips(), _options(), tmp_path / "v1", heads=["upscale"], settings=_settings(tmp_path))
    assert result.version is not None
    remembered = json.loads((tmp_path / "cache" / "evaluation-seconds.json").read_text())
    assert list(remembered) == ["upscale@64"] and remembered["upscale@64"] > 0
