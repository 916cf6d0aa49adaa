"""Promotion per head, never worse than the classical tool: a version is promoted with the heads that beat
their baseline and the parent; the others keep the parent's weights or fall back to the classical tool,
and a kept version names each head with its margin."""

from __future__ import annotations

import numpy as np

from engine.baselines.fallback import baseline_frames, fallback_tool
from engine.baselines.restore import denoise_nlmeans, denoise_nlmeans_multi, upscale_lanczos
from engine.model import decide, fallback_note, head_source

DENOISE_BELOW = {"psnr": 30.0, "baseline_best": 32.07, "psnr_nlmeans": 32.07, "psnr_nlmeans_multi": 31.5}
UPSCALE_ABOVE = {"psnr": 33.0, "baseline_best": 31.0, "psnr_lanczos": 31.0, "psnr_bicubic": 30.5}


def test_a_first_version_is_promoted_and_a_head_below_its_baseline_falls_back_to_the_best_tool() -> None:
    decision = decide({"denoise": DENOISE_BELOW, "upscale": UPSCALE_ABOVE})
    assert decision.promote
    assert decision.sources(None) == {"denoise": "baseline:nlmeans", "upscale": "trained"}
    assert "denoise -2.07 dB vs nlmeans: uses NL-means (classical)" in decision.summary()


def test_a_head_that_does_not_improve_keeps_the_parents_weights_when_they_beat_the_baseline() -> None:
    parent = {"denoise": {**DENOISE_BELOW, "psnr": 33.0}, "upscale": {**UPSCALE_ABOVE, "psnr": 32.0}}
    decision = decide({"denoise": DENOISE_BELOW, "upscale": UPSCALE_ABOVE}, parent)
    assert decision.promote  # upscale improved, so the version goes in with it
    assert decision.sources("v3") == {"denoise": "parent:v3", "upscale": "trained"}


def test_a_version_where_no_head_improved_is_kept_and_names_each_head_and_margin() -> None:
    parent = {"denoise": {**DENOISE_BELOW, "psnr": 29.0}, "upscale": {**UPSCALE_ABOVE, "psnr": 34.0}}
    decision = decide({"denoise": DENOISE_BELOW, "upscale": UPSCALE_ABOVE}, parent)
    assert not decision.promote
    text = decision.summary()
    assert "denoise -2.07 dB vs nlmeans, +1.00 dB vs parent: uses NL-means (classical)" in text
    assert "upscale +2.00 dB vs lanczos, -1.00 dB vs parent: uses parent's weights" in text


def test_a_stored_version_without_sources_falls_back_by_its_scores() -> None:
    metrics = {"denoise": DENOISE_BELOW, "upscale": UPSCALE_ABOVE}
    assert head_source({}, metrics, "denoise") == "baseline:nlmeans"
    assert head_source({}, metrics, "upscale") == "trained"
    assert head_source({"denoise": "parent:v1"}, metrics, "denoise") == "parent:v1"
    note = fallback_note({}, metrics, "denoise")
    assert note is not None and "did not beat the classical NL-means" in note and "-2.07 dB" in note
    assert fallback_note({}, metrics, "upscale") is None


def test_a_regrade_that_falls_back_names_the_baseline_it_lost_to_and_the_matched_grade_it_runs() -> None:
    """A fallen-back regrade runs a fresh net, which is its matched grade, while its margin is over the best of
    Reinhard and histogram matching: the note names both (versions made before 2026-12-07 recorded the tool as
    Reinhard's transfer; they read the same)."""
    metrics = {
        "regrade": {"psnr": 30.0, "baseline_best": 31.0, "psnr_reinhard": 29.0, "psnr_histogram": 31.0}
    }
    assert head_source({}, metrics, "regrade") == "baseline:matched_grade"
    for sources in ({}, {"regrade": "baseline:reinhard"}):
        assert fallback_note(sources, metrics, "regrade") == (
            "The regrade head did not beat the classical histogram matching on this show's held-out clips "
            "(-1.00 dB against it): this fix used its own classical base (matched grade) instead of the show model."
        )


def test_a_head_that_fell_back_for_taking_no_training_step_is_said_so_not_to_have_lost() -> None:
    """A short budget left the cleanup head untrained, a fresh net scoring its classical base +19.76 dB over
    Telea: the note said it "did not beat" Telea while quoting the lead."""
    metrics = {"cleanup": {"psnr": 40.0, "baseline_best": 20.24, "psnr_telea": 20.24}}
    decision = decide(metrics, steps={"cleanup": 0})
    note = fallback_note(decision.sources(None), metrics, "cleanup")
    assert note is not None and "did not beat" not in note
    assert note == (
        "The cleanup head took no training step in this version (its training budget ran out first), so this fix "
        "used temporal fill + Telea instead of the show model; a longer training budget trains it."
    )


def test_the_fallback_tools_stream_the_classical_baselines_frame_by_frame() -> None:
    rng = np.random.default_rng(0)
    frames = [(1001 + i, rng.random((24, 32, 3), dtype=np.float32)) for i in range(4)]
    out = list(baseline_frames("denoise", "nlmeans", iter(frames), {"nlmeans_strength": 8.0}) or [])
    assert [n for n, _ in out] == [1001, 1002, 1003, 1004]
    # NL-means' 8-bit result, with the frame's detail finer than an 8-bit step kept (at most half a step)
    assert np.abs(out[2][1] - denoise_nlmeans(frames[2][1], 8.0)).max() <= 0.5 / 255 + 1e-6
    multi = list(baseline_frames("denoise", "nlmeans_multi", iter(frames), {}) or [])
    assert [n for n, _ in multi] == [1001, 1002, 1003, 1004]
    assert (
        np.abs(multi[1][1] - denoise_nlmeans_multi([f for _, f in frames[:3]], 10.0)).max()
        <= 0.5 / 255 + 1e-6
    )
    up = list(baseline_frames("upscale", "lanczos", iter(frames), {}) or [])
    assert up[0][1].shape == (48, 64, 3) and np.array_equal(up[0][1], upscale_lanczos(frames[0][1]))
    assert baseline_frames("cleanup", "telea", iter(frames), {}) is None  # a fresh net is its classical base
    assert fallback_tool("interpolate", {"psnr_minterpolate": 40.0}) == "dis"


def test_nl_means_leaves_a_frame_deeper_than_8_bits_its_fine_steps_and_an_8_bit_one_as_opencv_makes_it() -> (
    None
):
    """NL-means works at 8 bits: a 10-bit plate's smooth gradient came back banded into 256 steps."""
    ramp = np.repeat(np.linspace(0.1, 0.9, 1024, dtype=np.float32)[None, :, None], 24, 0).repeat(3, 2)
    frames = [(1001 + i, ramp) for i in range(3)]
    for tool in ("nlmeans", "nlmeans_multi"):
        out = dict(baseline_frames("denoise", tool, iter(frames), {}) or [])
        assert len(np.unique(np.round(out[1002][12, :, 1] * 65535))) > 800  # at 8 bits: at most 205 here
    steps = np.round(ramp * 255) / np.float32(255)  # an 8-bit plate
    out = dict(baseline_frames("denoise", "nlmeans", iter([(1, steps)]), {}) or [])
    np.testing.assert_allclose(out[1], denoise_nlmeans(steps), atol=1e-6)


def test_new_weights_a_little_below_the_parent_say_why_they_are_used() -> None:
    """A head 0.02 dB under its parent is within the evaluation noise the rule allows, and is used: its line
    says so, instead of reading like a version worse than its parent put in."""
    parent = {"upscale": {**UPSCALE_ABOVE, "psnr": UPSCALE_ABOVE["psnr"] + 0.02}}
    text = decide({"upscale": UPSCALE_ABOVE}, parent).summary()
    assert "-0.02 dB vs parent (within the 0.05 dB of evaluation noise allowed): uses new weights" in text


def test_a_head_that_took_no_training_step_keeps_its_parents_weights_and_promotes_nothing() -> None:
    """A budget that decoding and scoring used up leaves the warm-started weights as the parent's: scored the
    same, they used to count as new weights within the evaluation noise, and the version was promoted with a
    manifest saying its heads were trained on the run's clips."""
    same = {"denoise": dict(DENOISE_BELOW), "upscale": dict(UPSCALE_ABOVE)}
    decision = decide(same, same, steps={"denoise": 0, "upscale": 0})
    assert not decision.promote
    assert decision.sources("v1") == {"denoise": "baseline:nlmeans", "upscale": "parent:v1"}
    assert (
        "upscale +2.00 dB vs lanczos, +0.00 dB vs parent: uses parent's weights (no training step in this run)"
        in (decision.summary())
    )
    trained = decide(same, same, steps={"denoise": 0, "upscale": 12})  # one head trained: it is used
    assert trained.promote and trained.sources("v1")["upscale"] == "trained"
    first = decide(same, steps={"denoise": 0, "upscale": 0})
    assert first.promote  # a first version is promoted all the same
    # ... but its untrained heads were "trained / uses new weights", their fresh weights learnt from nothing
    assert first.sources("v1") == {"denoise": "baseline:nlmeans", "upscale": "baseline:lanczos"}
    assert "(no training step in this run)" in first.summary()


def test_new_weights_further_below_the_parent_than_the_noise_are_not_put_in() -> None:
    """0.10 dB under the parent is more than the 0.05 dB of evaluation noise: a regression, so the head keeps the
    parent's weights and the version is kept, while 0.04 dB under is within the noise and put in."""
    parent = {"upscale": {**UPSCALE_ABOVE, "psnr": UPSCALE_ABOVE["psnr"] + 0.10}}
    worse = decide({"upscale": UPSCALE_ABOVE}, parent)
    assert not worse.promote
    assert worse.sources("v2") == {"upscale": "parent:v2"}
    assert "-0.10 dB vs parent: uses parent's weights" in worse.summary()
    close = decide(
        {"upscale": UPSCALE_ABOVE}, {"upscale": {**UPSCALE_ABOVE, "psnr": UPSCALE_ABOVE["psnr"] + 0.04}}
    )
    assert close.promote and close.sources("v2") == {"upscale": "trained"}


def test_a_head_that_only_ties_its_baseline_falls_back_to_it() -> None:
    """ "Beats its baseline" means scores above it: new weights no better than NL-means are not the show model."""
    tie = {**DENOISE_BELOW, "psnr": DENOISE_BELOW["baseline_best"]}
    decision = decide({"denoise": tie, "upscale": UPSCALE_ABOVE})
    assert decision.sources(None) == {"denoise": "baseline:nlmeans", "upscale": "trained"}
    assert fallback_note(decision.sources(None), {"denoise": tie}, "denoise") is not None


def test_a_first_version_with_every_head_below_its_baseline_is_still_promoted() -> None:
    """The first version of a show is promoted whatever its scores: each head falls back to its classical tool,
    and the show has a model version (its fixes say which tool they used) for the next training to improve on."""
    decision = decide({"denoise": DENOISE_BELOW, "upscale": {**UPSCALE_ABOVE, "psnr": 29.0}})
    assert decision.promote
    assert decision.sources(None) == {"denoise": "baseline:nlmeans", "upscale": "baseline:lanczos"}


def test_a_head_whose_baselines_were_not_scored_one_by_one_falls_back_to_its_first_tool() -> None:
    """Scores with only the best baseline's PSNR (no psnr_<tool> per tool): the fix still names a tool to run."""
    decision = decide(
        {"denoise": {"psnr": 20.0, "baseline_best": 25.0}, "upscale": {"psnr": 20.0, "baseline_best": 25.0}}
    )
    assert decision.sources(None) == {"denoise": "baseline:nlmeans", "upscale": "baseline:lanczos"}
    assert fallback_tool("denoise", {}) == "nlmeans"
