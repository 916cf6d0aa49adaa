"""A model version's `code_version` (in its manifest and every Version's description) names the Rushes that made
it: the package's version, with `git describe` only when the engine runs from a Rushes checkout."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

import pytest

from engine.model.manifest import code_version, source_checkout

MODULE = Path("engine", "model", "manifest.py")
WHEEL = "0.1.0+g1a2b3c4"  # an installed wheel's version (make wheel stamps its commit)
EDITABLE = "0.1.0"  # a checkout's editable install: daemon.__version__ as committed


def installed_as(monkeypatch: pytest.MonkeyPatch, installed: str) -> None:
    """Rushes installed at `installed`, whether or not it is where the tests run (not installed: `0+unknown`)."""

    def version(name: str) -> str:
        assert name == "rushes"
        return installed

    monkeypatch.setattr(metadata, "version", version)


def _git_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True, timeout=30)
    subprocess.run(
        [
            "git",
            "-C",
            str(path),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "commit.gpgsign=false",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "x",
        ],
        check=True,
        timeout=30,
    )
    return path


def test_an_installed_engine_inside_another_repository_records_no_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wheel installed into a virtual environment that sits in some other git repository (a studio's deploy
    repository) recorded that repository's commit as its own: `0.1.0+c00e9f2`."""
    installed_as(monkeypatch, WHEEL)
    studio = _git_repo(tmp_path / "studio-deploy")
    installed = studio / "venv" / "lib" / "python3.11" / "site-packages" / MODULE
    installed.parent.mkdir(parents=True)
    installed.write_text("")
    assert source_checkout(installed) is None
    assert code_version(installed) == WHEEL


def test_a_checkout_records_its_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    installed_as(monkeypatch, EDITABLE)
    checkout = _git_repo(tmp_path / "rushes")
    (checkout / "pyproject.toml").write_text("")
    module = checkout / MODULE
    module.parent.mkdir(parents=True)
    module.write_text("")
    assert source_checkout(module) == checkout
    described = subprocess.run(
        ["git", "-C", str(checkout), "describe", "--always", "--dirty"],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.strip()
    assert described and code_version(module) == f"{EDITABLE}+{described}"
