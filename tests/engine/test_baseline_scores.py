"""Baseline scores are computed once per input and reused: for the parent's net scored on the same noisy frames,
and by a later run on the same held-out clips; reuse never changes a score (the comparison stays the same)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine import synth
from engine.baselines.scores import OPTION, BaselineScores
from engine.heads import get_head


def _clip(seed: int = 0) -> np.ndarray:
    return synth.camera_move(synth.photo("astronaut"), 5, (64, 48), seed=seed)


def _evaluate(options: dict[str, object], clip: np.ndarray, seed: int = 7) -> dict[str, float]:
    head = get_head("denoise")
    net = head.build({})
    return head.evaluate(net, [clip], np.random.default_rng(seed), options)


def test_the_parents_evaluation_reuses_nl_means_and_gets_the_same_baseline_scores() -> None:
    clip = _clip()
    alone = _evaluate({}, clip)  # no store: NL-means run for this call only
    shared = BaselineScores()
    ours = _evaluate({OPTION: shared}, clip)
    computed = shared.misses
    theirs = _evaluate({OPTION: shared}, clip)  # the parent's net: same seed, same noisy frames

    assert computed == int(ours["frames"]) and shared.hits == computed and shared.misses == computed
    for key in ("psnr_nlmeans", "psnr_nlmeans_multi", "nlmeans_strength", "nlmeans_multi_strength"):
        assert ours[key] == alone[key] == theirs[key]


def test_other_noise_is_another_input_and_is_scored_afresh() -> None:
    shared = BaselineScores()
    _evaluate({OPTION: shared}, _clip())
    before = shared.misses
    _evaluate({OPTION: shared}, _clip(), seed=8)
    assert shared.misses == 2 * before and shared.hits == 0


def test_a_later_run_reads_the_scores_kept_beside_the_frame_cache(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "baseline-scores.json"
    first = BaselineScores(path)
    scored = _evaluate({OPTION: first}, _clip())
    first.save()
    again = BaselineScores(path)
    rescored = _evaluate({OPTION: again}, _clip())
    assert again.misses == 0 and again.hits == int(scored["frames"])
    assert rescored["psnr_nlmeans_multi"] == scored["psnr_nlmeans_multi"]


@pytest.mark.parametrize("damage", ["not json", "[1, 2]", '{"k": {"x": "text"}}'])
def test_a_damaged_file_is_no_memory_never_an_error(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "baseline-scores.json"
    path.write_text(damage)
    store = BaselineScores(path)
    assert store.scores([np.zeros((2, 2))], ["a"], lambda: {"a": 1.5}) == {"a": 1.5}
    assert store.misses == 1
