"""tracker.webhook settings: the path comes from YAML, the secret only from the environment or a secrets
file (never YAML, never shown), and a path without its secret or on a tracker that sends no Flow webhooks
is refused with one line."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from daemon.logs import configure, get_logger
from daemon.settings import ConfigError, load_settings
from tests.homes import own_home

YAML = (
    "tracker:\n  kind: shotgrid\n  url: https://studio.shotgrid.autodesk.com\n  webhook:\n    path: /flow\n"
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    own_home(monkeypatch, tmp_path, set_home=False)


def config(tmp_path: Path, text: str = YAML) -> Path:
    path = tmp_path / "rushes.yaml"
    path.write_text(text)
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    return info.value.problems


def test_the_webhook_is_off_unless_a_path_is_set(tmp_path: Path) -> None:
    assert not load_settings().tracker.webhook.enabled


def test_the_secret_comes_from_the_environment_and_is_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUSHES_TRACKER__WEBHOOK__SECRET", "hook-s3cret")
    settings = load_settings(config(tmp_path))
    hook = settings.tracker.webhook
    assert hook.enabled and hook.path == "/flow"
    assert hook.secret is not None and hook.secret.get_secret_value() == "hook-s3cret"
    assert "hook-s3cret" not in repr(settings) and "hook-s3cret" not in settings.model_dump_json()
    stream = io.StringIO()
    try:
        configure("debug", "json", stream)
        get_logger("rushes.test").info("settings", tracker=settings.tracker.model_dump())
    finally:
        configure("warning", "json", sys.stderr)
    assert "settings" in stream.getvalue() and "hook-s3cret" not in stream.getvalue()


def test_the_secret_comes_from_a_secrets_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "tracker__webhook__secret").write_text("file-hook-secret\n")
    monkeypatch.setenv("RUSHES_SECRETS_DIR", str(secrets))
    hook = load_settings(config(tmp_path)).tracker.webhook
    assert hook.secret is not None and hook.secret.get_secret_value().strip() == "file-hook-secret"


def test_a_secret_in_yaml_is_refused_with_one_line(tmp_path: Path) -> None:
    path = config(tmp_path, YAML + "    secret: hunter2\n")
    assert problems(path) == [
        "tracker.webhook.secret: secrets never go in YAML; set RUSHES_TRACKER__WEBHOOK__SECRET instead"
    ]


def test_a_path_without_a_secret_is_refused_naming_the_variable(tmp_path: Path) -> None:
    (line,) = problems(config(tmp_path))
    assert line.startswith("tracker.webhook: ") and "RUSHES_TRACKER__WEBHOOK__SECRET" in line


def test_a_webhook_on_a_tracker_that_sends_none_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUSHES_TRACKER__WEBHOOK__SECRET", "s")
    (line,) = problems(config(tmp_path, YAML.replace("shotgrid", "kitsu")))
    assert line.startswith("tracker: ") and "set kind to shotgrid" in line


@pytest.mark.parametrize("path", ["flow", "/healthz", "/metrics", "/x?y=1"])
def test_a_path_that_cannot_be_a_route_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    monkeypatch.setenv("RUSHES_TRACKER__WEBHOOK__SECRET", "s")
    (line,) = problems(config(tmp_path, YAML.replace("/flow", path)))
    assert line.startswith("tracker.webhook.path: ") and "must start with /" in line


def test_a_job_worker_handed_no_secrets_reads_its_settings_without_the_webhook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fix or training job's worker (local or Ray) gets the daemon's environment less its secrets; with the
    webhook set it used to fail every job: "a webhook path needs its secret"."""
    from daemon.jobs import worker
    from integrations.executors.spec import without_secrets

    monkeypatch.setenv("RUSHES_TRACKER__WEBHOOK__SECRET", "hook-s3cret")
    monkeypatch.setenv("RUSHES_TRACKER__SCRIPT_KEY", "sg-key")
    path = config(tmp_path)
    assert load_settings(path).tracker.webhook.enabled  # the daemon serves it
    handed = without_secrets(dict(os.environ))
    assert "RUSHES_TRACKER__WEBHOOK__SECRET" not in handed and "RUSHES_TRACKER__SCRIPT_KEY" not in handed
    monkeypatch.delenv("RUSHES_TRACKER__WEBHOOK__SECRET")
    monkeypatch.delenv("RUSHES_TRACKER__SCRIPT_KEY")
    ctx = worker._context(str(path))
    try:
        assert not ctx.settings.tracker.webhook.enabled
        assert ctx.settings.tracker.script_key is None
    finally:
        ctx.catalog.dispose()
        worker._catalogs.clear()


def test_commands_other_than_the_daemon_read_a_webhook_config_without_its_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every command read the shared file as the daemon does: with `webhook.path` set, a shell (or a cron's
    nightly `rushes prune`) without the webhook's secret got "a webhook path needs its secret" from them all."""
    from daemon.cli.main import _register
    from tests.homes import rushes

    _register()
    monkeypatch.setenv("RUSHES_HOME", str(tmp_path / "home"))
    path = config(tmp_path, YAML.replace("https://studio.shotgrid.autodesk.com", "http://127.0.0.1:9"))
    for command in (["status"], ["prune"], ["show", "list"]):
        code, output = rushes("--config", str(path), *command)
        assert code == 0, (command, output)
    code, output = rushes("--config", str(path), "config", "check")
    assert code != 0 and "RUSHES_TRACKER__WEBHOOK__SECRET" in output  # the daemon's file is checked whole
