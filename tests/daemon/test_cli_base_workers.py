"""`rushes base train --workers N` needs the Ray executor, and `--head` names heads: each mistake is one line,
and nothing is written. (The run on workers itself: tests/cluster/test_base_workers.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from daemon.cli.main import _register, app
from tests import footage
from tests.homes import own_home

_register()


@pytest.fixture(autouse=True)
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return own_home(monkeypatch, tmp_path)


def _train(tmp_path: Path, *extra: str) -> tuple[int, str]:
    corpus = tmp_path / "archive"
    footage.movie(corpus / "old.mp4", n=4, size=(64, 48))
    args = ["base", "train", "--name", "ACME", "--corpus", str(corpus), "--declare", "owned: ours", *extra]
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


def test_workers_without_the_ray_executor_are_refused_in_one_line(tmp_path: Path, home: Path) -> None:
    code, output = _train(tmp_path, "--workers", "2")
    assert code == 2 and "Traceback" not in output
    (line,) = output.strip().splitlines()
    assert "--workers 2 trains on a Ray cluster: set executor.kind to ray" in " ".join(line.split())
    assert not (home / "bases" / "ACME").exists()


def test_an_unknown_head_is_refused_in_one_line(tmp_path: Path, home: Path) -> None:
    code, output = _train(tmp_path, "--head", "sharpen")
    assert code == 2 and "'sharpen' is not a head" in output and len(output.strip().splitlines()) == 1
    assert not (home / "bases" / "ACME").exists()
