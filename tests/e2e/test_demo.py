"""`rushes demo --json`: the whole loop on embedded defaults against the local ShotGrid-compatible server —
Versions with uploaded movies for every fix kind, tasks moved to review, and a model whose manifest traces every
weight to the show's own dailies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.catalog import Catalog
from daemon.catalog.dailies import list_dailies
from engine.media import probe
from engine.model import load_manifest

pytestmark = pytest.mark.slow  # handed out first when the suite runs in parallel


KINDS = {"interpolate", "regrade", "denoise", "upscale", "cleanup"}


def test_demo_publishes_one_version_per_fix_kind(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    walkthrough = {  # a first-fix walkthrough's settings exported in the same terminal: the demo is not theirs
        "RUSHES_HOME": str(tmp_path / "walkthrough"),
        "RUSHES_TRACKER__URL": "http://127.0.0.1:9",
        "RUSHES_TRACKER__SCRIPT_KEY": "the-walkthroughs-key",
    }
    result = subprocess.run(
        [sys.executable, "-m", "daemon", "demo", "--json", "--home", str(home), "--budget", "10s"],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, **walkthrough},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (tmp_path / "walkthrough").exists()
    summary = json.loads(result.stdout)
    versions = summary["versions"]
    assert {v["kind"] for v in versions} == KINDS and len(versions) == len(KINDS)
    for v in versions:
        assert v["version_id"] and v["uploaded_movie"], v
        assert v["task_status"] == "rev"
        movie = probe(v["movie"])
        assert movie.codec == "h264" and movie.frame_count == v["last_frame"] - v["first_frame"] + 1
        assert Path(v["before_after"]).is_file() and Path(v["extra_files"]["otio"]).is_file()
        assert Path(v["extra_files"]["thumbnail"]).is_file()
        description = Path(v["extra_files"]["description"]).read_text()
        assert v["kind"] in description and f"v{summary['model']['version']}" in description
    by_kind = {v["kind"]: v for v in versions}
    assert Path(by_kind["regrade"]["extra_files"]["cube"]).read_text().count("LUT_3D_SIZE") == 1
    assert probe(by_kind["upscale"]["movie"]).width == 2 * 160  # the soft plate was 160 wide
    [answered] = summary["answered"]  # a misspelt fix on a clean shot: answered on its task, nothing run
    assert (answered["shot"], answered["task_status"]) == ("sh060", "hld")
    assert answered["note"].startswith(
        "Rushes did not do the fix request on sh060: unknown fix kind 'sharpen'"
    )

    # Lineage: the promoted model names every daily it trained or was scored on, with the catalog's hashes.
    manifest = load_manifest(summary["model"]["folder"])
    catalog = Catalog(f"sqlite:///{home / 'rushes' / 'catalog.sqlite'}")
    with catalog.session(readonly=True) as s:
        hashes = {d.content_hash for d in list_dailies(s, "DEMO")}
    catalog.dispose()
    used = {c.content_hash for c in [*manifest.clips, *manifest.holdout]}
    assert used == hashes and len(hashes) == summary["dailies"]
    assert manifest.parent is None and manifest.weights_sha256
