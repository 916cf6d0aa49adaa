"""A test's own Rushes home: no RUSHES_* variable of the person running the tests leaks in, and the default
data folder (XDG_DATA_HOME) is a temporary one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


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
