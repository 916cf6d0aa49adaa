"""`rushes demo`'s output and clean-up, around a stand-in for the loop itself (tests/e2e/test_demo.py runs
the real one): every path whole on its own line on a narrow terminal, the real ports, the temporary home
removed unless --keep."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from daemon import demo
from daemon.cli import demo as demo_cli
from daemon.cli.main import _register, app

_register()

LONG = "/tmp/rushes-demo-abcdefgh/rushes/renders/DEMO/sh010/sh010_rushes_interpolate_r1"


def fake_run(homes: list[Path]) -> Callable[..., dict[str, Any]]:
    def run(home: Path, footage: Any, budget: float, say: Callable[[str], None]) -> dict[str, Any]:
        homes.append(home)
        (home / "tracker").mkdir(parents=True)
        return {
            "home": str(home),
            "tracker_url": "http://127.0.0.1:40123",
            "versions_page": "http://127.0.0.1:40123/versions",
            "model": {"show": "DEMO", "version": 1, "folder": f"{home}/rushes/models/DEMO/v1"},
            "seconds": 12.5,
            "versions": [
                {
                    "version_id": 3,
                    "code": "sh010_rushes_interpolate_r1",
                    "kind": "interpolate",
                    "shot": "sh010",
                    "first_frame": 0,
                    "last_frame": 24,
                    "task_status": "rev",
                    "movie": f"{LONG}/sh010_rushes_interpolate_r1.mp4",
                    "before_after": f"{LONG}/sh010_rushes_interpolate_r1_before_after.mp4",
                }
            ],
            "answered": [
                {
                    "shot": "sh060",
                    "task_status": "hld",
                    "note": "Rushes did not do the fix request on sh060: unknown fix kind 'sharpen' (use one of: "
                    "interpolate, regrade, denoise, upscale, cleanup).\nCorrect the request, then set the task "
                    "to 'fix' again.\n\nrushes request: shotgrid:event:40",
                }
            ],
        }

    return run


@pytest.fixture
def narrow(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    sink = io.StringIO()
    monkeypatch.setattr(demo_cli, "out", Console(file=sink, width=40, force_terminal=False))
    return sink


def test_a_kept_demo_lists_every_path_whole_on_its_own_line_even_on_40_columns(
    narrow: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    homes: list[Path] = []
    monkeypatch.setattr(demo, "run_demo", fake_run(homes))
    result = CliRunner().invoke(app, ["demo", "--keep"])
    assert result.exit_code == 0, result.output
    lines = narrow.getvalue().splitlines()
    assert f"    {LONG}/sh010_rushes_interpolate_r1.mp4" in lines
    assert f"    {LONG}/sh010_rushes_interpolate_r1_before_after.mp4" in lines
    rushes = Path(sys.executable).parent / "rushes"  # runs from a shell without the environment activated
    assert f"  {rushes} tracker serve --data {homes[0]}/tracker --script-key demo" in lines
    assert f"  RUSHES_HOME={homes[0]}/rushes {rushes} status" in lines
    assert "  then open http://127.0.0.1:8765/versions" in lines
    assert f"  rm -rf {homes[0]}" in lines
    answered = lines.index("'sharpen' asked on sh060: not done, the task now 'hld', with the note:")
    assert lines[answered + 1 : answered + 3] == [
        "  Rushes did not do the fix request on sh060: unknown fix kind 'sharpen' (use one of: interpolate, "
        "regrade, denoise, upscale, cleanup).",
        "  Correct the request, then set the task to 'fix' again.",
    ]
    assert homes[0].is_dir()  # kept
    homes[0].joinpath("tracker").rmdir()
    homes[0].rmdir()


def test_a_demo_in_a_temporary_home_removes_it_unless_asked_to_keep_it(
    narrow: io.StringIO, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    homes: list[Path] = []
    monkeypatch.setattr(demo, "run_demo", fake_run(homes))
    assert CliRunner().invoke(app, ["demo"]).exit_code == 0
    assert not homes[0].exists()
    assert f"  {homes[0]}" in narrow.getvalue().splitlines() and "removed the demo home" in narrow.getvalue()
    assert LONG not in narrow.getvalue()  # no paths to files that are gone

    chosen = tmp_path / "mine"
    assert CliRunner().invoke(app, ["demo", "--home", str(chosen)]).exit_code == 0
    assert chosen.is_dir()  # a home the user chose is theirs


def test_the_demo_on_your_footage_asks_its_regrade_for_a_frame_that_grades_it(tmp_path: Path) -> None:
    """`rushes demo --footage DIR` asked `regrade reference=<the first frame>`: the shot's one grade takes its
    first frame to the reference, so the Version was the clip unchanged (now refused as such); it asks a
    frame from the middle of the clip."""
    from engine.heads import Shot, parse_fix_params
    from engine.media import probe
    from tests import footage

    mine = tmp_path / "mine"
    footage.movie(mine / "a.mp4", n=8)
    footage.movie(mine / "b.mp4", n=8, seed=1)
    [regrade] = [s for s in demo.footage_dailies(mine, tmp_path / "ingest") if s.kind == "regrade"]
    assert regrade.fix_text == "regrade reference=4"
    params = parse_fix_params("regrade", {"reference": regrade.fix_text.split("=")[1]})
    assert params.bind(Shot(str(regrade.file), probe(regrade.file)))["reference"].shape == (96, 160, 3)


def test_the_demo_leaves_out_the_shells_settings_and_keeps_the_engines_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A walkthrough's RUSHES_HOME and tracker exported in the same terminal pointed the demo at them; a machine's
    RUSHES_INFER_BACKEND (one backend failing there) is kept."""
    import os

    monkeypatch.setenv("RUSHES_HOME", "/walkthrough")
    monkeypatch.setenv("RUSHES_TRACKER__URL", "http://127.0.0.1:8765")
    monkeypatch.setenv("RUSHES_INFER_BACKEND", "torch")
    said: list[str] = []
    with demo._own_environment(said.append):
        assert "RUSHES_HOME" not in os.environ and "RUSHES_TRACKER__URL" not in os.environ
        assert os.environ["RUSHES_INFER_BACKEND"] == "torch"
        os.environ["RUSHES_TRACKER__SCRIPT_KEY"] = "the demo's"  # what the demo sets for itself
    assert said == [
        "left out while the demo runs in its own home: RUSHES_HOME, RUSHES_TRACKER__URL (set in this shell)"
    ]
    assert os.environ["RUSHES_HOME"] == "/walkthrough" and "RUSHES_TRACKER__SCRIPT_KEY" not in os.environ
