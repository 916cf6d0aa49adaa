"""The Ray executor is an optional extra: without ray it fails with one line that says what to install."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from integrations.executors.base import ExecutorUnavailable


def test_without_ray_the_error_says_to_install_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail even where it is installed
    from integrations.executors.ray import RayExecutor

    with pytest.raises(ExecutorUnavailable) as info:
        RayExecutor()
    message = str(info.value)
    assert "install rushes[ray]" in message and "\n" not in message
    # Rushes is not on PyPI: the command names the wheel, never `pip install 'rushes[ray]'` by name
    assert "-py3-none-any.whl[ray]'" in message and "pip install 'rushes" not in message


def test_the_configured_executor_is_built_from_options(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from integrations.executors import LocalExecutor
    from integrations.executors.build import build_executor
    from integrations.executors.options import ExecutorOptions

    local = build_executor(ExecutorOptions(gpus=0), max_jobs=3, work_dir=tmp_path)
    try:
        assert isinstance(local, LocalExecutor) and local.capacity() == 3 and local.gpus == 0
    finally:
        local.shutdown(wait=False)
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ExecutorUnavailable, match=r"rushes\[ray\]"):
        build_executor(ExecutorOptions(kind="ray"), max_jobs=3)
