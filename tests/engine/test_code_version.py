"""A model version's `code_version` (in its manifest and every Version's description) names the Rushes that made
it: the package's version, with `git describe` only when the engine runs from a Rushes checkout."""

from __future__ import annotations

import subprocess
from pathlib import Path

from engine.model.manifest import code_version, source_checkout

MODULE = Path("engine", "model", "manifest.py")


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


def test_an_installed_engine_inside_another_repository_records_no_commit(tmp_path: Path) -> None:
    """A wheel installed into a virtual environment that sits in some other git repository (a studio's deploy
    repository) recorded that repository's commit as its own: `0.1.0+c00e9f2`."""
    studio = _git_repo(tmp_path / "studio-deploy")
    installed = studio / "venv" / "lib" / "python3.11" / "site-packages" / MODULE
    installed.parent.mkdir(parents=True)
    installed.write_text("")
    assert source_checkout(installed) is None
    assert "+" not in code_version(installed)


def test_a_checkout_records_its_commit(tmp_path: Path) -> None:
    checkout = _git_repo(tmp_path / "rushes")
    (checkout / "pyproject.toml").write_text("")
    module = checkout / MODULE
    module.parent.mkdir(parents=True)
    module.write_text("")
    assert source_checkout(module) == checkout
    assert "+" in code_version(module)
