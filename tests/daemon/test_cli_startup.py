"""The commands that need no model start without importing torch (nor the media readers): `rushes --help`,
`rushes status`, the listing commands and `rushes tracker check` run in a fresh interpreter that reports what
it imported and how it exited. Not timed (bench/cli_start.py times them): what is imported is what costs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "torchvision", "cv2", "av")

PROBE = """
import json, sys
heavy = set(json.loads(sys.argv[2]))
sys.argv = ["rushes", *json.loads(sys.argv[1])]
from daemon.cli.main import main
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
loaded = sorted({m.split(".")[0] for m in sys.modules} & heavy)
print("\\nLOADED " + json.dumps({"loaded": loaded, "code": code}))
"""


def probe(args: list[str], home: Path, heavy: tuple[str, ...] = HEAVY) -> tuple[list[str], int]:
    """What of `heavy` a fresh `rushes ARGS` imported, and its exit code."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUSHES_")}
    env.update(RUSHES_HOME=str(home), PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args), json.dumps(heavy)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    last = [line for line in result.stdout.splitlines() if line.startswith("LOADED ")]
    assert last, result.stdout + result.stderr
    found = json.loads(last[-1][len("LOADED ") :])
    return list(found["loaded"]), int(found["code"])


def loaded_heavy(args: list[str], home: Path, heavy: tuple[str, ...] = HEAVY) -> list[str]:
    return probe(args, home, heavy)[0]


@pytest.mark.parametrize("args", [["--help"], ["status"], ["tracker", "check"]], ids=" ".join)
def test_commands_that_need_no_model_do_not_import_torch_or_the_media_readers(
    args: list[str], tmp_path: Path
) -> None:
    assert loaded_heavy(args, tmp_path / "home") == []


def test_help_does_not_even_open_the_catalog_code(tmp_path: Path) -> None:
    """`rushes --help` needs no database: command modules import the catalog (SQLAlchemy) inside the
    commands, so listing them stays well under a second."""
    assert loaded_heavy(["--help"], tmp_path / "home", (*HEAVY, "sqlalchemy")) == []


def test_status_on_a_catalog_at_the_newest_schema_does_not_start_alembic(tmp_path: Path) -> None:
    """The first command creates the catalog (Alembic runs the migrations); later ones find it at the
    newest revision and leave Alembic and its migration scripts unimported."""
    home = tmp_path / "home"
    assert "alembic" in loaded_heavy(["status"], home, ("alembic",))
    assert loaded_heavy(["status"], home, (*HEAVY, "alembic")) == []


@pytest.fixture
def home_with_a_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home with show TST and a promoted model version v1 (a fresh denoise net, saved the real way)."""
    from daemon.catalog import models_repo
    from daemon.context import open_context
    from daemon.settings import load_settings
    from engine.model import Manifest, ShowModel, save_model

    home = tmp_path / "home"
    for name in [n for n in os.environ if n.startswith("RUSHES_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("RUSHES_HOME", str(home))
    ctx = open_context(load_settings(None))
    folder = ctx.settings.models_dir / "TST" / "v1"
    save_model(folder, ShowModel.fresh(["denoise"]), Manifest(show="TST", version="v1"))
    with ctx.catalog.session() as s:
        from daemon.catalog import shows as show_repo

        show_repo.ensure_show(s, "TST", "TST")
        models_repo.add_version(s, "TST", str(folder), version=1)
        models_repo.promote(s, "TST", 1)
    ctx.close()
    return home


READ_ONLY = [
    ["status"],
    ["show", "list"],
    ["dailies", "list", "--show", "TST"],
    ["model", "list"],
    ["model", "show", "1", "--show", "TST"],
    ["base", "list"],
    ["jobs", "list"],
    ["version"],
    ["config", "schema"],
]


@pytest.mark.parametrize("args", READ_ONLY, ids=" ".join)
def test_listing_and_showing_import_neither_torch_nor_the_media_readers_nor_alembic(
    args: list[str], home_with_a_model: Path
) -> None:
    """`rushes model list` and `model show` read and check the manifests (seals, weights' sha256) without
    torch: it alone took two seconds of their start."""
    loaded, code = probe(args, home_with_a_model, (*HEAVY, "alembic", "numpy", "yaml", "pydantic_settings"))
    assert code == 0
    assert loaded == []


def test_a_long_command_gets_the_garbage_collector_back_after_start_up(tmp_path: Path) -> None:
    """The CLI starts without the cyclic garbage collector (its imports make thousands of objects) and turns
    it back on by itself, so the daemon or a training never runs without it."""
    script = (
        "import gc, time\n"
        "from daemon.cli.main import START_UP_S, _quiet_start\n"
        "_quiet_start()  # what main() does first\n"
        "off = not gc.isenabled()\n"
        "deadline = time.monotonic() + START_UP_S + 30\n"
        "while not gc.isenabled() and time.monotonic() < deadline:\n    time.sleep(0.05)\n"
        "print('OFF', off, 'BACK', gc.isenabled())\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUSHES_")}
    env.update(RUSHES_HOME=str(tmp_path / "home"), PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert "OFF True BACK True" in result.stdout, result.stdout + result.stderr
