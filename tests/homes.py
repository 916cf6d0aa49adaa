"""A test's own Rushes home: no RUSHES_* variable of the person running the tests leaks in, and the default
data folder (XDG_DATA_HOME) is a temporary one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from daemon.cli.main import app


def own_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, set_home: bool = True) -> Path:
    """`tmp_path / "home"`, as RUSHES_HOME unless `set_home` is False (the tests of the default)."""
    for name in list(os.environ):
        if name.startswith("RUSHES_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    home = tmp_path / "home"
    if set_home:
        monkeypatch.setenv("RUSHES_HOME", str(home))
    return home


def rushes(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """A `rushes` command run in-process, as a user types it: its exit status and everything it printed."""
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.output
