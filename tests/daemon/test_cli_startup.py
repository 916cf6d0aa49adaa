"""The commands that need no model start without importing torch (nor the media readers): `rushes --help`,
`rushes status` and `rushes tracker check` run in a fresh interpreter that reports what it imported."""

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
try:
    main()
except SystemExit:
    pass
loaded = sorted({m.split(".")[0] for m in sys.modules} & heavy)
print("\\nLOADED " + json.dumps(loaded))
"""


def loaded_heavy(args: list[str], home: Path, heavy: tuple[str, ...] = HEAVY) -> list[str]:
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
    return list(json.loads(last[-1][len("LOADED ") :]))


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
