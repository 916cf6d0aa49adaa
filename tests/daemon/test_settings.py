"""Settings: one YAML file plus RUSHES_* environment variables, secrets kept out of YAML and out of sight."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.cli.main import _register
from daemon.logs import configure, get_logger
from daemon.settings import ConfigError, load_settings
from engine.model import Manifest, save_model
from engine.model.show import ShowModel
from tests.homes import own_home, rushes

_register()

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "daemon" / "rushes.example.yaml"  # `rushes config example`


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No RUSHES_* variable of the person running the tests leaks in; the default home is a temp folder."""
    own_home(monkeypatch, tmp_path, set_home=False)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def problems(path: Path) -> list[str]:
    """What `rushes config check` says of the file (strict: a missing ingest folder is a problem too)."""
    with pytest.raises(ConfigError) as info:
        load_settings(path, strict=True)
    return info.value.problems


# ---- sources: YAML, environment, RUSHES_HOME ----------------------------------------------------------------


def test_environment_wins_over_yaml_including_nested_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(
        tmp_path / "rushes.yaml",
        "max_jobs: 3\nlog_level: debug\ntracker:\n  kind: shotgrid\n  url: http://from-yaml\n"
        "  script_name: yaml-script\n",
    )
    settings = load_settings(config)
    assert (settings.max_jobs, settings.tracker.url, settings.tracker.kind) == (
        3,
        "http://from-yaml",
        "shotgrid",
    )

    monkeypatch.setenv("RUSHES_TRACKER__URL", "http://from-env")
    monkeypatch.setenv("RUSHES_MAX_JOBS", "5")
    settings = load_settings(config)
    assert settings.tracker.url == "http://from-env"
    assert settings.max_jobs == 5
    # Keys the environment does not set still come from the file, even beside an overridden sibling.
    assert settings.tracker.script_name == "yaml-script" and settings.tracker.kind == "shotgrid"
    assert settings.log_level == "debug"


def test_bad_environment_value_names_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUSHES_HTTP__PORT", "99999")
    with pytest.raises(ConfigError) as info:
        load_settings()
    (line,) = info.value.problems
    assert line.startswith("http.port: ")


def test_a_list_or_a_block_of_options_comes_from_the_environment_as_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path / "rushes.yaml", "tracker:\n  kind: shotgrid\n  url: http://from-yaml\n")
    monkeypatch.setenv("RUSHES_SHOWS", '[{"code": "ENVSHOW", "name": "From env"}]')
    monkeypatch.setenv("RUSHES_TRACKER", '{"url": "http://whole-block", "script_name": "s"}')
    monkeypatch.setenv("rushes_tracker__script_name", "lower-case")  # names are case-insensitive
    monkeypatch.setenv("RUSHES_CONFIG", str(config))  # not a setting: ignored here, as RUSHES_NOPE is
    monkeypatch.setenv("RUSHES_NOPE", "1")
    settings = load_settings(config)
    assert [(s.code, s.name) for s in settings.shows] == [("ENVSHOW", "From env")]
    # the block's JSON replaces the file's keys it names; the variable of one key wins over the block
    assert (settings.tracker.kind, settings.tracker.url) == ("shotgrid", "http://whole-block")
    assert settings.tracker.script_name == "lower-case"


def test_a_variable_that_is_not_json_where_json_is_needed_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RUSHES_SHOWS", "MYSHOW")
    with pytest.raises(ConfigError) as info:
        load_settings()
    (line,) = info.value.problems
    assert line.startswith("RUSHES_SHOWS: not valid JSON")


def test_rushes_home_sets_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(tmp_path / "rushes.yaml", f"data_dir: {tmp_path / 'from-yaml'}\n")
    assert load_settings(config).data_dir == tmp_path / "from-yaml"
    assert load_settings().data_dir == tmp_path / "xdg" / "rushes"  # the default follows XDG_DATA_HOME
    monkeypatch.setenv("RUSHES_HOME", str(tmp_path / "home"))
    settings = load_settings(config)
    assert settings.data_dir == tmp_path / "home"
    assert settings.catalog == f"sqlite:///{tmp_path / 'home' / 'catalog.sqlite'}"
    assert settings.models_dir == tmp_path / "home" / "models"


def test_two_homes_never_interfere(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    code, output = rushes("show", "add", "ONE", "--ingest", str(inbox), env={"RUSHES_HOME": str(one)})
    assert code == 0, output
    code, output = rushes("show", "add", "TWO", env={"RUSHES_HOME": str(two)})
    assert code == 0, output

    code, output = rushes("show", "list", env={"RUSHES_HOME": str(one)})
    assert code == 0 and output.split() == ["ONE", "ONE", str(inbox)]
    code, output = rushes("status", "--json", env={"RUSHES_HOME": str(two)})
    data = json.loads(output)
    assert [s["code"] for s in data["shows"]] == ["TWO"]
    assert data["data_dir"] == str(two) and data["catalog"] == f"sqlite:///{two / 'catalog.sqlite'}"
    assert (one / "catalog.sqlite").is_file() and (two / "catalog.sqlite").is_file()


# ---- secrets ------------------------------------------------------------------------------------------------


def test_script_key_in_yaml_is_refused_with_one_line(tmp_path: Path) -> None:
    config = write(tmp_path / "rushes.yaml", "tracker:\n  kind: shotgrid\n  script_key: hunter2\n")
    assert problems(config) == [
        "tracker.script_key: secrets never go in YAML; set RUSHES_TRACKER__SCRIPT_KEY instead"
    ]


def test_secret_from_the_environment_is_read_and_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUSHES_TRACKER__SCRIPT_KEY", "env-s3cret-key")
    settings = load_settings()
    assert settings.tracker.script_key is not None
    assert settings.tracker.script_key.get_secret_value() == "env-s3cret-key"
    assert_hidden(settings, "env-s3cret-key")


def test_secret_from_the_secrets_dir_is_read_and_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "tracker__script_key").write_text("file-s3cret-key\n")  # files end with a newline
    monkeypatch.setenv("RUSHES_SECRETS_DIR", str(secrets))
    settings = load_settings()
    assert settings.tracker.script_key is not None
    assert settings.tracker.script_key.get_secret_value() == "file-s3cret-key"
    assert_hidden(settings, "file-s3cret-key")
    # The environment still wins over the secrets folder.
    monkeypatch.setenv("RUSHES_TRACKER__SCRIPT_KEY", "env-key")
    key = load_settings().tracker.script_key
    assert key is not None and key.get_secret_value() == "env-key"


def test_missing_secrets_dir_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUSHES_SECRETS_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError) as info:
        load_settings()
    (line,) = info.value.problems
    assert line.startswith("RUSHES_SECRETS_DIR: ") and "nowhere" in line


def assert_hidden(settings: object, secret: str) -> None:
    assert secret not in repr(settings) and secret not in str(settings)
    assert secret not in settings.model_dump_json()  # type: ignore[attr-defined]
    stream = io.StringIO()
    try:
        configure("debug", "json", stream)
        log = get_logger("rushes.test")
        log.info("settings loaded", settings=settings, tracker=settings.tracker.model_dump())  # type: ignore[attr-defined]
        log.info("tracker", key=settings.tracker.script_key)  # type: ignore[attr-defined]
    finally:
        configure("warning", "json", sys.stderr)
    assert "settings loaded" in stream.getvalue()
    assert secret not in stream.getvalue()


# ---- wrong values: one line each, with its key path ---------------------------------------------------------


def test_a_missing_ingest_folder_stops_nothing_but_config_check_names_it(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    config = write(
        tmp_path / "rushes.yaml",
        f"shows:\n  - code: A\n    ingest: {{roots: [{tmp_path / 'in'}]}}\n"
        f"  - code: B\n    ingest: {{roots: [{tmp_path / 'unmounted'}]}}\n",
    )
    settings = load_settings(config)  # the daemon and the commands: show A goes on
    assert [r.path for r in settings.shows[1].ingest.roots] == [tmp_path / "unmounted"]
    assert problems(config) == [f"shows[1].ingest.roots[0]: folder does not exist: {tmp_path / 'unmounted'}"]


def _trained_base(folder: Path) -> None:
    """A base version as `rushes base train` leaves it: sealed manifest, weights (untrained: not read here)."""
    save_model(folder, ShowModel.fresh(["denoise"]), Manifest(version="v1", kind="base", declaration="owned"))


def test_config_check_names_a_show_base_that_is_not_trained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`shows[].train.base: NOPE` passed `rushes config check`; the show's first training failed on it at night."""
    (tmp_path / "in").mkdir()
    monkeypatch.setenv("RUSHES_HOME", str(tmp_path / "home"))
    config = write(
        tmp_path / "rushes.yaml",
        f"shows:\n  - code: A\n    ingest: {{roots: [{tmp_path / 'in'}]}}\n    train: {{base: ACME}}\n",
    )
    assert load_settings(config).shows[0].train.base == "ACME"  # the daemon and the commands go on
    assert problems(config) == [
        "shows[0].train.base: there is no trained base named 'ACME' (bases: none yet); train one with "
        "`rushes base train`"
    ]
    trained = tmp_path / "home" / "bases" / "ACME" / "v1"
    _trained_base(trained)
    assert load_settings(config, strict=True).shows[0].train.base == "ACME"


def test_config_check_names_every_problem_of_the_file_in_one_run(tmp_path: Path) -> None:
    """The example's show block uncommented took three runs: the missing folder, then the untrained base, then
    the OCIO config (named under each colour source, "does not exist.;")."""
    config = write(
        tmp_path / "rushes.yaml",
        f"shows:\n  - code: A\n    ingest: {{roots: [{tmp_path / 'absent'}]}}\n    train: {{base: ACME}}\n"
        f"    color: {{config: {tmp_path / 'studio.ocio'}, sources: {{exr: scene_linear, mov: ACEScg}}}}\n",
    )
    code, output = rushes("config", "check", str(config), env={"RUSHES_HOME": str(tmp_path / "home")})
    lines = [" ".join(line.split()) for line in output.strip().split("\nshows[")]
    assert code == 1 and len(lines) == 3, output
    assert lines[0].startswith("shows[0].ingest.roots[0]: folder does not exist")
    assert lines[1].startswith("0].train.base: there is no trained base named 'ACME'")
    assert lines[2].startswith(f"0].color.config: OCIO config {tmp_path / 'studio.ocio'}: ")
    assert ".;" not in lines[2] and lines[2].endswith("give a config file or an ocio:// name")


def test_a_show_may_pin_its_base_to_a_version_and_config_check_names_one_not_trained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A studio trained base ACME v2 and checks it before its shows grow from it: a show pins ACME@v1."""
    (tmp_path / "in").mkdir()
    monkeypatch.setenv("RUSHES_HOME", str(tmp_path / "home"))
    _trained_base(tmp_path / "home" / "bases" / "ACME" / "v1")

    def config(base: str) -> Path:
        return write(
            tmp_path / "rushes.yaml",
            f"shows:\n  - code: A\n    ingest: {{roots: [{tmp_path / 'in'}]}}\n    train: {{base: '{base}'}}\n",
        )

    assert load_settings(config("ACME@v1"), strict=True).shows[0].train.base == "ACME@v1"
    assert problems(config("ACME@v2")) == [
        "shows[0].train.base: base 'ACME' has no trained version v2 (its versions: v1)"
    ]
    assert problems(config("ACME@")) == [
        "shows[0].train.base: base 'ACME@': after '@' write a version, as in NAME@v2 (`rushes base list` shows them)"
    ]


def test_config_check_names_a_show_base_whose_manifest_is_broken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A base folder holding any manifest.json passed `rushes config check` (an edited one, `{}`); the show's
    first training refused the base at night. Its manifest is checked against its seal now."""
    (tmp_path / "in").mkdir()
    monkeypatch.setenv("RUSHES_HOME", str(tmp_path / "home"))
    config = write(
        tmp_path / "rushes.yaml",
        f"shows:\n  - code: A\n    ingest: {{roots: [{tmp_path / 'in'}]}}\n    train: {{base: ACME}}\n",
    )
    trained = tmp_path / "home" / "bases" / "ACME" / "v1"
    _trained_base(trained)
    manifest = trained / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"declaration": "owned"', '"declaration": "licensed"'))
    assert problems(config) == [
        f"shows[0].train.base: {manifest} is refused: its seal does not match its content (the manifest was "
        "edited after it was written); restore it or retrain"
    ]
    manifest.write_text("{}")
    (line,) = problems(config)
    assert line.startswith(f"shows[0].train.base: {manifest} is refused: it has no seal")
    show = tmp_path / "home" / "bases" / "ACME" / "v2"
    save_model(show, ShowModel.fresh(["denoise"]), Manifest(show="A", version="v2"))
    assert problems(config) == [f"shows[0].train.base: {show} is a show model, not a base"]


def test_every_problem_is_one_line_with_its_key_path(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    config = write(
        tmp_path / "rushes.yaml",
        f"""\
max_jobz: 2
shows:
  - code: GOOD
    ingest:
      roots: [{tmp_path / "in"}, {tmp_path / "missing"}]
      stable_seconds: -1
    training: {{cron: "0 1 * *"}}
  - code: 9bad
  - code: OTHER
    training: {{cron: "99 1 * * *"}}
  - code: GOOD
""",
    )
    lines = problems(config)
    by_key = {line.split(": ", 1)[0]: line.split(": ", 1)[1] for line in lines}
    assert len(by_key) == len(lines) == 7, lines
    assert by_key["max_jobz"] == "unknown key (check the spelling)"
    assert by_key["shows[0].ingest.roots[1]"] == f"folder does not exist: {tmp_path / 'missing'}"
    assert "greater than or equal to 0" in by_key["shows[0].ingest.stable_seconds"]
    assert "five fields" in by_key["shows[0].training.cron"]
    assert "start with a letter" in by_key["shows[1].code"]
    assert "'99 1 * * *' is not a valid crontab line" in by_key["shows[2].training.cron"]
    assert by_key["shows[3].code"] == "show 'GOOD' is defined twice"
    assert all("\n" not in line for line in lines)


def test_a_budget_or_quiet_time_past_any_date_is_refused_by_config_check(tmp_path: Path) -> None:
    """`budget_seconds: .inf` and `quiet_minutes: 99999999999` passed the check, then failed every minute in the
    scheduler (OverflowError: date value out of range)."""
    config = write(
        tmp_path / "rushes.yaml",
        "shows:\n  - code: A\n    train: {budget_seconds: .inf}\n    training: {quiet_minutes: 99999999999}\n",
    )
    by_key = {line.split(": ", 1)[0]: line.split(": ", 1)[1] for line in problems(config)}
    assert "less than or equal to 2592000" in by_key["shows[0].train.budget_seconds"]
    assert "less than or equal to 43200" in by_key["shows[0].training.quiet_minutes"]


def test_duplicate_show_alone(tmp_path: Path) -> None:
    config = write(tmp_path / "rushes.yaml", "shows:\n  - code: A\n  - code: B\n  - code: A\n")
    assert problems(config) == ["shows[2].code: show 'A' is defined twice"]


def test_unreadable_files_are_one_line(tmp_path: Path) -> None:
    assert problems(tmp_path / "absent.yaml") == [
        f"{tmp_path / 'absent.yaml'}: cannot read the config file (No such file or directory)"
    ]
    assert problems(write(tmp_path / "broken.yaml", "shows: [\n")) == [
        f"{tmp_path / 'broken.yaml'}: not valid YAML at line 2 (expected the node content, but found '<stream end>')"
    ]
    assert problems(write(tmp_path / "tab.yaml", "shows:\n\t- code: A\n")) == [  # the usual cause, named
        f"{tmp_path / 'tab.yaml'}: not valid YAML at line 2: it is indented with a tab; indent YAML with spaces"
    ]
    regex = 'shows:\n  - code: A\n    ingest: {path_template: "{shot:sh\\d{3}}_{take}.{ext}"}\n'
    [said] = problems(write(tmp_path / "regex.yaml", regex))  # docs' template in the example's double quotes
    assert said.startswith(
        f"{tmp_path / 'regex.yaml'}: not valid YAML at line 3 (found unknown escape character"
    )
    assert said.endswith(
        "write a value holding backslashes (a template's regular expression, a Windows path) in single quotes "
        "('{shot:sh\\d{3}}_{take}.{ext}')"
    )
    assert problems(write(tmp_path / "list.yaml", "- a\n- b\n")) == [
        f"{tmp_path / 'list.yaml'}: the top level must be a mapping of keys"
    ]
    latin1 = tmp_path / "latin1.yaml"  # an editor's Latin-1: a traceback before
    latin1.write_bytes(b'shows:\n  - code: CAFE\n    name: "Caf\xe9 Noir"\n')
    assert problems(latin1) == [f"{latin1}: not UTF-8 text (byte 0xe9 on line 3): save it as UTF-8"]
    marked = tmp_path / "bom.yaml"  # a byte-order mark and Windows line ends are read
    marked.write_bytes(b'\xef\xbb\xbfshows:\r\n  - code: CAFE\r\n    name: "Caf\xc3\xa9"\r\n')
    assert [show.name for show in load_settings(marked).shows] == ["Café"]


def test_valid_crontab_lines_pass(tmp_path: Path) -> None:
    config = write(
        tmp_path / "rushes.yaml",
        "shows:\n  - code: A\n    training: {cron: '30 22 * * 1-5'}\n"
        "  - code: B\n    training: {cron: '0 1 * * 7'}\n",
    )
    assert [s.training.cron for s in load_settings(config).shows] == ["30 22 * * 1-5", "0 1 * * 7"]


# ---- `rushes config check` and `rushes config schema` --------------------------------------------------------


def test_config_check_through_the_console_entry(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    bad = write(
        tmp_path / "bad.yaml",
        f"shows:\n  - code: A\n    ingest:\n      roots: [{tmp_path / 'in'}, {tmp_path / 'gone'}]\n"
        "      stable_seconds: -5\n",
    )
    result = subprocess.run(
        [sys.executable, "-m", "daemon", "config", "check", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "RUSHES_HOME": str(tmp_path / "home")},
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert sorted(result.stderr.splitlines()) == [
        f"shows[0].ingest.roots[1]: folder does not exist: {tmp_path / 'gone'}",
        "shows[0].ingest.stable_seconds: Input should be greater than or equal to 0",
    ]
    assert not (tmp_path / "home").exists()  # checking a file creates nothing


def test_config_check_of_a_good_file(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    good = write(tmp_path / "good.yaml", f"shows:\n  - code: A\n    ingest: {{roots: [{tmp_path / 'in'}]}}\n")
    code, output = rushes("config", "check", str(good), env={"RUSHES_HOME": str(tmp_path / "home")})
    assert code == 0
    assert output.strip() == f"{good}: ok (1 show(s) in it, data in {tmp_path / 'home'})"


def test_config_check_without_a_file_checks_the_one_the_commands_use_or_the_environment(
    tmp_path: Path,
) -> None:
    (tmp_path / "in").mkdir()
    good = write(tmp_path / "good.yaml", f"shows:\n  - code: A\n    ingest: {{roots: [{tmp_path / 'in'}]}}\n")
    home = {"RUSHES_HOME": str(tmp_path / "home")}
    code, output = rushes("--config", str(good), "config", "check", env=home)
    assert code == 0 and output.strip() == f"{good}: ok (1 show(s) in it, data in {tmp_path / 'home'})"
    code, output = rushes("config", "check", env={**home, "RUSHES_TRACKER__POLL_INTERVAL": "often"})
    assert code == 1 and output.strip() == (
        "tracker.poll_interval: Input should be a valid number, unable to parse string as a number "
        "(set by RUSHES_TRACKER__POLL_INTERVAL)"
    )
    code, output = rushes("config", "check", env=home)
    assert code == 0 and output.strip().startswith("no config file, the defaults and the environment: ok")


def test_example_config_passes_config_check(tmp_path: Path) -> None:
    """`rushes config example` prints the example from the installed package (an install from the wheel has no
    repository and no config/ folder), and it passes `config check` as it is."""
    code, printed = rushes("config", "example")
    assert code == 0 and printed == EXAMPLE.read_text()
    example = tmp_path / "rushes.yaml"
    example.write_text(printed)
    code, output = rushes("config", "check", str(example), env={"RUSHES_HOME": str(tmp_path)})
    assert code == 0, output
    assert output.startswith(f"{example}: ok")


def test_the_example_config_made_a_kitsu_one_asks_kitsus_own_statuses(tmp_path: Path) -> None:
    """The example set published_status: rev (and version, approved, rejected) though those were the
    defaults: a Kitsu studio starting from it had Rushes look for ShotGrid's rev, apr and rej on Kitsu, since
    a status option set explicitly is used as it is, rather than Kitsu's wfa, approved and rejected."""
    from integrations.trackers.kitsu.statuses import KITSU_STATUS_DEFAULTS, Statuses

    example = EXAMPLE.read_text()
    assert "  kind: none" in example
    kitsu = tmp_path / "rushes.yaml"
    kitsu.write_text(example.replace("  kind: none", "  kind: kitsu", 1))
    options = load_settings(kitsu).tracker
    statuses = Statuses(None, options)  # type: ignore[arg-type]  # name_of reads the options alone
    assert {option: statuses.name_of(option) for option in KITSU_STATUS_DEFAULTS} == KITSU_STATUS_DEFAULTS


def test_committed_schema_matches_the_options() -> None:
    """config/rushes.schema.json is `rushes config schema`: regenerate it when an option changes with
    `.venv/bin/rushes config schema > config/rushes.schema.json`."""
    code, output = rushes("config", "schema")
    assert code == 0
    committed = (REPO / "config" / "rushes.schema.json").read_text()
    assert json.loads(output) == json.loads(committed), (
        "config/rushes.schema.json is stale: run `rushes config schema > config/rushes.schema.json`"
    )
    assert output == committed


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rushes:hunter2@db.studio.lan/rushes", "'rushes:***@db.studio.lan/rushes'"),
        ("postgres ql://rushes:hunter2@db/rushes", "'postgres ql://rushes:***@db/rushes'"),
    ],
)
def test_a_catalog_url_that_does_not_parse_is_named_without_its_password(
    tmp_path: Path, url: str, shown: str
) -> None:
    """A typo in RUSHES_CATALOG_URL (no scheme) used to print its password in `rushes config check`, in every
    command's error and in the daemon's journal."""
    env = {**os.environ, "RUSHES_HOME": str(tmp_path / "home"), "RUSHES_CATALOG_URL": url}
    for args in (("config", "check"), ("status", "--json")):
        result = subprocess.run(
            [sys.executable, "-m", "daemon", *args], capture_output=True, text=True, timeout=120, env=env
        )
        output = result.stdout + result.stderr
        assert result.returncode != 0 and "hunter2" not in output, output
        assert f"catalog_url: {shown} is not a database URL" in output


@pytest.mark.parametrize(
    "password", ["p@ssw0rd-SECRET", "p@ss:w/o%rd", "S3cr@t/x"], ids=["at", "at-colon-slash", "at-slash"]
)
def test_a_catalog_password_with_an_unescaped_at_colon_or_slash_is_refused_without_showing_it(
    tmp_path: Path, password: str
) -> None:
    """A DBA's password holding '@' was misread (the rest of it taken for the host, then printed in full by
    every command and the daemon's journal as "rushes:***@ssw0rd-SECRET@127.0.0.1"); one holding ':' and '/'
    said only "invalid literal for int() with base 10: 'w'"."""
    secret = password.partition("@")[2]
    env = {
        **os.environ,
        "RUSHES_HOME": str(tmp_path / "home"),
        "RUSHES_CATALOG_URL": f"postgresql+psycopg://rushes:{password}@127.0.0.1:55432/rushes",
    }
    for args in (("config", "check"), ("status",)):
        result = subprocess.run(
            [sys.executable, "-m", "daemon", *args], capture_output=True, text=True, timeout=120, env=env
        )
        output = result.stdout + result.stderr
        assert result.returncode != 0 and secret not in output and "Traceback" not in output, output
        assert "'postgresql+psycopg://rushes:***@127.0.0.1:55432/rushes' does not parse" in output, output
        assert "percent-encode the user name and password ('@' as %40, ':' as %3A, '/' as %2F" in output


def test_a_bad_value_from_the_environment_names_its_variable_not_a_key_the_file_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`RUSHES_TRACKER__POLL_INTERVAL=abc` was reported as "tracker.poll_interval: ..." alone, sending a CI check
    to a line the file does not have."""
    config = tmp_path / "rushes.yaml"
    config.write_text("tracker:\n  kind: shotgrid\n")
    monkeypatch.setenv("RUSHES_TRACKER__POLL_INTERVAL", "abc")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    (line,) = caught.value.problems
    assert line.startswith("tracker.poll_interval: Input should be a valid number")
    assert line.endswith("(set by RUSHES_TRACKER__POLL_INTERVAL)")
    monkeypatch.delenv("RUSHES_TRACKER__POLL_INTERVAL")
    config.write_text("tracker:\n  kind: shotgrid\n  poll_interval: abc\n")
    with pytest.raises(
        ConfigError, match=r"^tracker\.poll_interval: Input should be a valid number"
    ) as again:
        load_settings(config)
    assert "set by" not in str(again.value)  # the file's own


def test_what_rushes_writes_is_not_readable_by_other_users_under_a_terminals_umask(tmp_path: Path) -> None:
    """Started from a terminal (umask 022), the catalog, models, renders and logs folders used to be world-
    readable (0644 and 0755): any user on the box could copy unreleased footage and the catalog."""
    home = tmp_path / "home"
    result = subprocess.run(  # the umask set by a shell, as a terminal's: a preexec_fn forks this process,
        # whose gRPC threads (a Ray test before it in this worker) aborted the child in their fork handlers
        ["sh", "-c", 'umask 022 && exec "$0" -m daemon migrate', sys.executable],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "RUSHES_HOME": str(home)},
    )
    assert result.returncode == 0, result.stderr
    made = [home, *home.iterdir()]
    assert {"catalog.sqlite", "renders", "models", "logs"} <= {path.name for path in made}
    for path in made:
        assert path.stat().st_mode & 0o007 == 0, f"{path} is {oct(path.stat().st_mode & 0o777)}"
