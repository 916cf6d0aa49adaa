"""Approved pairs of a scene-linear (EXR) daily: trained on in the heads' log encoding from the fix's EXR
frames, and skipped when only its display-referred review movie is left."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from daemon.catalog import fixes
from daemon.catalog.shows import ensure_show
from daemon.context import open_context
from daemon.settings import load_settings
from daemon.stages.training_inputs import approved_examples
from engine.media import write_movie, write_sequence
from engine.media.working import to_working
from tests import footage


@pytest.fixture(autouse=True)
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.startswith("RUSHES_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("RUSHES_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_an_exr_dailys_pair_trains_on_its_exr_frames_and_not_on_its_review_movie(tmp_path: Path) -> None:
    light = footage.frames(4, (64, 48)) ** np.float32(2.2) * np.float32(6.0)
    write_sequence(tmp_path / "plates" / "sh010.####.exr", light, 1001)
    write_sequence(tmp_path / "fix" / "sh010_denoise.####.exr", light * np.float32(0.9), 1001)
    write_movie(tmp_path / "fix" / "sh010_denoise.mp4", footage.frames(4, (64, 48)), 24)
    daily = str(tmp_path / "plates" / "sh010.####.exr")
    ctx = open_context(load_settings(None))
    try:
        with ctx.catalog.session() as s:
            ensure_show(s, "TST")
            request, _ = fixes.add_fix_request(s, "TST", "req-1", "sh010", ["denoise"])
            for key, frames in (
                ("with-frames", str(tmp_path / "fix" / "sh010_denoise.####.exr")),
                ("movie", None),
            ):
                pub, _ = fixes.add_publication(
                    s,
                    request.id,
                    "denoise",
                    key,
                    str(tmp_path / "fix" / "sh010_denoise.mp4"),
                    source_path=daily,
                    extra_files={"frames": frames} if frames else None,
                )
                fixes.mark_published(s, pub.id, 500 + pub.id)
                fixes.set_review(s, pub.id, "approved")
        examples = approved_examples(ctx.catalog, "TST")
    finally:
        ctx.close()

    assert len(examples) == 1  # the pair with only a display picture is left out
    pair = examples[0]
    expected_before = np.round(np.clip(to_working(light), 0, 1) * 255)
    assert np.abs(pair.before.astype(int) - expected_before).max() <= 2  # light in the log encoding
    assert np.abs(pair.after.astype(int) - np.round(to_working(light * np.float32(0.9)) * 255)).max() <= 2
