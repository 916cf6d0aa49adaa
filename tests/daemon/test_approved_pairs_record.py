"""What a director reads of the supervisors' approvals in a model version: every approved pair, the ones it
learned from and the ones it left out, each of those with why (`rushes model show`, manifest.json)."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.catalog import dailies as daily_repo
from daemon.catalog import fixes
from daemon.cli.main import _register
from daemon.context import open_context
from daemon.jobs.payloads import TrainReport
from daemon.settings import load_settings
from daemon.stages.training import run_training
from engine.model import load_manifest
from engine.model.manifest import Manifest
from engine.train import TrainSettings
from tests import footage
from tests.homes import own_home, rushes

_register()

TINY = TrainSettings(max_steps=1, batch_size=2, crop=32, checkpoint_seconds=0.01)


@pytest.fixture(autouse=True)
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return own_home(monkeypatch, tmp_path)


def _dailies(tmp_path: Path) -> dict[str, tuple[int, str]]:
    """Show TST with three dailies: file name -> (daily id, path)."""
    dailies = tmp_path / "dailies"
    for i, photo in enumerate(("astronaut", "coffee", "chelsea")):
        footage.movie(dailies / f"SH{i:03d}_v1.mp4", n=6, size=(96, 64), photo=photo, seed=10 + i)
    assert rushes("show", "add", "TST", "--ingest", str(dailies))[0] == 0
    assert rushes("ingest", str(dailies), "--show", "TST")[0] == 0
    ctx = open_context(load_settings(None))
    try:
        with ctx.catalog.session() as s:
            return {Path(d.path).name: (d.id, d.path) for d in daily_repo.list_dailies(s, "TST")}
    finally:
        ctx.close()


def _approve(shot: str, before: str, after: Path, version: int) -> tuple[int, str]:
    """A supervisor approved tracker Version `version`, a denoise fix of the daily `before` rendered as `after`:
    (its publication id, its Version code)."""
    ctx = open_context(load_settings(None))
    try:
        with ctx.catalog.session() as s:
            request, _ = fixes.add_fix_request(s, "TST", f"req-{shot}", shot, ["denoise"])
            code = f"{shot}_rushes_denoise_r{request.id}"
            pub, _ = fixes.add_publication(
                s,
                request.id,
                "denoise",
                f"pub-{shot}",
                str(after),
                source_path=before,
                extra_files={"code": code},
            )
            fixes.mark_published(s, pub.id, version)
            fixes.set_review(s, pub.id, "approved")
            return pub.id, code
    finally:
        ctx.close()


def _train() -> TrainReport:
    ctx = open_context(load_settings(None))
    try:
        return run_training(ctx.settings, ctx.catalog, "TST", job_id=None, train_settings=TINY)
    finally:
        ctx.close()


def test_model_show_lists_the_approved_pairs_left_out_with_why(tmp_path: Path) -> None:
    """An approved fix of a daily excluded since, or whose render was deleted, was left out of training with
    only a log line: `rushes model show` listed the pairs used and said nothing of the others. Each pair read
    `publication:7:denoise`, a catalog id no other command shows; it now names the tracker Version the supervisor
    approved and its code beside it."""
    rows = _dailies(tmp_path)
    renders = tmp_path / "renders"
    used, used_code = _approve(
        "SH000", rows["SH000_v1.mp4"][1], footage.movie(renders / "a.mp4", n=6, size=(96, 64)), 501
    )
    excluded, excluded_code = _approve(
        "SH001", rows["SH001_v1.mp4"][1], footage.movie(renders / "b.mp4", n=6, size=(96, 64)), 502
    )
    gone, gone_code = _approve("SH002", rows["SH002_v1.mp4"][1], renders / "deleted.mp4", 503)
    excluded_daily = rows["SH001_v1.mp4"][0]
    assert rushes("dailies", "exclude", str(excluded_daily), "--reason", "likeness not cleared")[0] == 0

    manifest = load_manifest(str(_train().folder))

    assert [(e.id, e.label) for e in manifest.examples] == [
        (f"publication:{used}:denoise", f"tracker Version 501, {used_code}")  # as the supervisor knows it
    ]
    left_out = {p.id: p.reason for p in manifest.pairs_left_out}
    assert left_out[f"publication:{excluded}:denoise"] == (
        f"its daily {excluded_daily} (SH001_v1.mp4) is excluded from training: likeness not cleared"
    )
    assert left_out[f"publication:{gone}:denoise"].startswith("its files cannot be read")
    code, output = rushes("model", "show", "v1", "--show", "TST")
    assert code == 0, output
    assert (
        f"approved pair publication:{used}:denoise (tracker Version 501, {used_code}; denoise, 6 frames, weight 1)"
        in output
    )
    assert (
        f"approved pair left out publication:{excluded}:denoise (tracker Version 502, {excluded_code}; denoise): "
        f"its daily {excluded_daily} (SH001_v1.mp4) is excluded from training: likeness not cleared"
    ) in output
    assert (
        f"approved pair left out publication:{gone}:denoise (tracker Version 503, {gone_code}; denoise): "
        "its files cannot be read"
    ) in output


def test_an_approved_fix_of_a_daily_removed_for_good_is_left_out_and_the_removal_names_what_learned_from_it(
    tmp_path: Path,
) -> None:
    """`dailies remove` takes a daily out of training for good: its approved fix still trained the next version,
    and nothing said the versions that had learned from it keep it."""
    rows = _dailies(tmp_path)
    renders = tmp_path / "renders"
    kept, _ = _approve(
        "SH000", rows["SH000_v1.mp4"][1], footage.movie(renders / "a.mp4", n=6, size=(96, 64)), 501
    )
    gone, _ = _approve(
        "SH001", rows["SH001_v1.mp4"][1], footage.movie(renders / "b.mp4", n=6, size=(96, 64)), 502
    )
    daily = rows["SH001_v1.mp4"][0]
    first = load_manifest(str(_train().folder))
    assert f"publication:{gone}:denoise" in [e.id for e in first.examples]

    code, said = rushes("dailies", "remove", str(daily), "--reason", "rights agreement ended")

    assert code == 0 and " ".join(said.split()).endswith(
        f"TST versions that learned from it keep it: v1 (promoted); to withdraw it from them too (consent, rights), "
        f"`rushes dailies exclude {daily} --reason R`: the next training starts afresh without it"
    ), said
    manifest = load_manifest(str(_train().folder))
    assert [e.id for e in manifest.examples] == [f"publication:{kept}:denoise"]
    assert {p.id: p.reason for p in manifest.pairs_left_out} == {
        f"publication:{gone}:denoise": f"its daily {daily} (SH001_v1.mp4) is removed from training: rights agreement ended"
    }


def test_a_manifest_written_before_left_out_pairs_were_listed_reads_as_none_left_out() -> None:
    old = {"version": "v1", "show": "TST", "examples": []}  # no pairs_left_out key

    assert Manifest.model_validate(old).pairs_left_out == []
