"""The Ray executor is an optional extra: without ray it fails with one line that says what to install."""

from __future__ import annotations

import sys

import pytest

from integrations.executors.base import ExecutorUnavailable


def test_without_ray_the_error_says_to_install_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail even where it is installed
    from integrations.executors.ray import RayExecutor

    with pytest.raises(ExecutorUnavailable) as info:
        RayExecutor()
    message = str(info.value)
    assert "install rushes[ray]" in message and "\n" not in message
