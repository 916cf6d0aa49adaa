"""Hostile parameters and tampered state at the command line: each refusal is one line and a non-zero exit,
never a traceback, and the command refuses before doing anything with what it refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from daemon.catalog import Catalog
from daemon.catalog import dailies as daily_repo
from daemon.catalog.models_repo import add_version, promote
from daemon.cli.main import _register, app
from daemon.errors import USER_ERRORS
from engine.model import ClipRecord, Manifest, ShowModel, save_model
from engine.model.seal import sealed
from tests import footage
from tests.homes import own_home

_register()


@pytest.fixture(autouse=True)
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return own_home(monkeypatch, tmp_path)


def rushes(*args: str) -> tuple[int, list[str]]:
    """A command in-process; a user error escaping it is printed as the console entry (daemon.cli.main) does."""
    result = CliRunner().invoke(app, list(args))
    lines = [line for line in result.output.splitlines() if line.strip()]
    if isinstance(result.exception, USER_ERRORS):
        return 2, [*lines, f"error: {result.exception}"]
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, lines


def refused(args: list[str], *words: str) -> str:
    """Run a command that must refuse: exit 2, exactly one line, which holds `words`."""
    code, lines = rushes(*args)
    assert code != 0 and len(lines) == 1, lines
    assert all(word in lines[0] for word in words), lines[0]
    return lines[0]


# ---- tampered model versions -------------------------------------------------------------------------------


def _flip_weights_byte(folder: Path) -> None:
    data = bytearray((folder / "weights.safetensors").read_bytes())
    data[-3] ^= 0x40
    (folder / "weights.safetensors").write_bytes(bytes(data))


def _edit_manifest(change: Callable[[dict[str, object]], None]) -> Callable[[Path], None]:
    def tamper(folder: Path) -> None:
        manifest = json.loads((folder / "manifest.json").read_text())
        change(manifest)
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))

    return tamper


def _edit_clip_hash(manifest: dict[str, object]) -> None:
    clips = manifest["clips"]
    assert isinstance(clips, list)
    clips[0]["content_hash"] = "blake2b:" + "f" * 64


def _write(name: str, data: Callable[[], bytes]) -> Callable[[Path], None]:
    def tamper(folder: Path) -> None:
        (folder / name).write_bytes(data())

    return tamper


def _resealed(change: Callable[[dict[str, object]], None]) -> Callable[[Path], None]:
    """An edit by someone who also recomputes the manifest's seal: only the catalog's record catches it."""

    def tamper(folder: Path) -> None:
        manifest = json.loads((folder / "manifest.json").read_text())
        change(manifest)
        (folder / "manifest.json").write_text(json.dumps(sealed(manifest), indent=2))

    return tamper


def _pickle() -> bytes:
    import io

    buffer = io.BytesIO()
    torch.save({"x": torch.zeros(2)}, buffer)
    return buffer.getvalue()


TAMPERED: dict[str, tuple[Callable[[Path], None], str]] = {
    "flipped weights byte": (_flip_weights_byte, "does not match the sha256"),
    "edited weights hash": (
        _edit_manifest(lambda m: m.update(weights_sha256="0" * 64)),
        "seal does not match",
    ),
    "edited clip hash": (_edit_manifest(_edit_clip_hash), "seal does not match"),
    "edited score": (_edit_manifest(lambda m: m.update(seed=7)), "seal does not match"),
    "seal removed": (_edit_manifest(lambda m: m.pop("seal")), "has no seal"),
    "invalid manifest JSON": (_write("manifest.json", lambda: b'{"version": "v1",'), "not valid JSON"),
    "pickle named weights.safetensors": (_write("weights.safetensors", _pickle), "pickle"),
    "stray weights.pt": (_write("weights.pt", _pickle), "pickle files ['weights.pt']"),
    "edited clip hash, re-sealed": (_resealed(_edit_clip_hash), "not the one recorded when it was trained"),
}


def _promoted(home: Path, show: str) -> Path:
    """A show whose promoted v1 is a real (fresh) model version, saved and sealed by the engine."""
    assert rushes("show", "add", show)[0] == 0
    folder = home / "models" / show / "v1"
    clip = ClipRecord(id="daily:1", content_hash="blake2b:" + "a" * 64, frames=24)
    saved = save_model(folder, ShowModel.fresh(["denoise"]), Manifest(show=show, version="v1", clips=[clip]))
    catalog = Catalog(f"sqlite:///{home / 'catalog.sqlite'}")
    with catalog.session() as s:  # as training records it: the manifest's seal beside the scores
        add_version(s, show, str(folder), version=1, metrics={"seal": saved.manifest.seal})
        promote(s, show, 1)
    catalog.dispose()
    return folder


@pytest.mark.parametrize("case", list(TAMPERED))
def test_a_tampered_model_version_is_refused_in_one_line(case: str, home: Path, tmp_path: Path) -> None:
    tamper, words = TAMPERED[case]
    folder = _promoted(home, "MDL")
    assert rushes("model", "show", "1", "--show", "MDL")[0] == 0  # whole, it is shown
    tamper(folder)
    refused(["model", "show", "1", "--show", "MDL"], "model v1 of MDL is refused", words)
    source = footage.movie(tmp_path / "in.mp4", n=3, size=(48, 32))
    output = tmp_path / "out.mp4"
    refused(["fix", "--show", "MDL", "--kind", "denoise", "-i", str(source), "-o", str(output)], words)
    assert not output.exists()


def test_a_version_an_older_rushes_made_is_named_as_such_by_status_and_model_show(home: Path) -> None:
    """After an upgrade from a release before sealed manifests, its promoted version (no seal, none recorded)
    is not used: `rushes status` said `model v1` as though fixes used it, and `model show` said to restore it."""
    assert rushes("show", "add", "OLD")[0] == 0
    folder = home / "models" / "OLD" / "v1"
    save_model(folder, ShowModel.fresh(["denoise"]), Manifest(show="OLD", version="v1"))
    _edit_manifest(lambda m: m.pop("seal"))(folder)  # as the older release wrote it
    catalog = Catalog(f"sqlite:///{home / 'catalog.sqlite'}")
    with catalog.session() as s:  # and recorded it: no seal
        add_version(s, "OLD", str(folder), version=1)
        promote(s, "OLD", 1)
    catalog.dispose()

    code, lines = rushes("status")
    assert code == 0
    assert (
        "OLD  0 dailies, model v1, made by an older Rushes and not used (fixes use the classical tools until "
        "`rushes train --show OLD`)"
    ) in lines
    code, lines = rushes("model", "list", "--show", "OLD", "--json")
    listed = [(v["version"], v["outdated"], v["refused"]) for v in json.loads("\n".join(lines))]
    assert code == 0 and listed == [(1, True, None)]  # not used, and said so once: not also "refused"
    line = refused(["model", "show", "1", "--show", "OLD"], "model v1 of OLD is refused")
    assert line.endswith(
        "a Rushes older than this one made it (or the seal was deleted), and this one cannot "
        "use it: train a new version, which starts without it"
    )


# ---- settings, dailies commands and the daemon's --config -------------------------------------------------


def test_a_nonsense_catalog_url_fails_config_check_and_the_daemon_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "rushes.yaml"
    config.write_text("catalog_url: nonsense://x\n")
    code, lines = rushes("config", "check", str(config))
    assert code == 1 and lines == [
        "catalog_url: 'nonsense' is not a catalog database Rushes supports; use "
        "sqlite:////path/catalog.sqlite or postgresql+psycopg://user@host/database"
    ]
    spellings = (["daemon", "--config", str(config)], ["--config", str(config), "daemon"])  # both work
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "daemon", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for args in spellings
    ]
    for run in runs:  # through the real console entry, side by side
        _, stderr = run.communicate(timeout=120)
        assert run.returncode == 2 and "Traceback" not in stderr
        assert stderr.strip().splitlines() == [f"error: {lines[0]}"]
    config.write_text("catalog_url: postgresql+psycopg://rushes@db.example/rushes\n")
    assert rushes("config", "check", str(config))[0] == 0


def test_dailies_remove_and_requarantine_by_id_with_bad_ids_and_reasons_refused(
    home: Path, tmp_path: Path
) -> None:
    root = tmp_path / "inbox"
    first = footage.movie(root / "sh010_1.mp4", n=3, size=(48, 32), seed=1)
    second = footage.movie(root / "sh020_1.mp4", n=3, size=(48, 32), seed=2)
    assert rushes("show", "add", "DLY", "--ingest", str(root))[0] == 0
    assert rushes("ingest", str(root), "--show", "DLY")[0] == 0
    catalog = Catalog(f"sqlite:///{home / 'catalog.sqlite'}")
    with catalog.session() as s:
        ids = {d.path: d.id for d in daily_repo.list_dailies(s, "DLY")}
    one, two = ids[str(first)], ids[str(second)]
    refused(["dailies", "remove", "999"], "there is no daily 999")
    refused(["dailies", "requarantine", str(one), "--reason", "  "], "--reason is empty")
    refused(["dailies", "list", "--show", "DLY", "--status", "gone"], "--status 'gone'")
    refused(["dailies", "list", "--show", "NOPE"], "NOPE")
    code, lines = rushes("dailies", "remove", str(one), "--reason", "wrong show")
    assert code == 0 and lines == [f"daily {one} removed: sh010_1.mp4 is removed (wrong show)"]
    code, lines = rushes("dailies", "requarantine", str(two), "--reason", "training: cannot be decoded")
    assert code == 0 and lines == [
        f"daily {two} quarantined: sh020_1.mp4 is quarantined (training: cannot be decoded)"
    ]
    with catalog.session() as s:
        assert daily_repo.list_dailies(s, "DLY") == []  # training sees neither
    catalog.dispose()
    code, lines = rushes("ingest", str(root), "--show", "DLY")  # unchanged files stay out
    assert code == 0 and lines[-1] == "0 registered, 0 already catalogued, 2 quarantined"
    code, lines = rushes("dailies", "list", "--show", "DLY", "--status", "removed")
    assert code == 0 and lines == [f"{one}\tremoved\tsh010\t3\t{first}\twrong show"]
    code, lines = rushes("dailies", "list", "--show", "DLY", "--shot", "sh020")  # one shot's, of 20,000
    assert code == 0 and lines == [f"{two}\tquarantined\tsh020\t3\t{second}\ttraining: cannot be decoded"]
    code, lines = rushes("dailies", "list", "--show", "DLY", "--shot", "sh030")
    assert code == 0 and lines == ["no dailies of shot sh030 in DLY"]


@pytest.mark.parametrize(
    ("source", "output"),
    [
        ("sh010_1.mp4", "sh010_1.mp4"),
        ("sh010_1.mp4", "./sub/../sh010_1.mp4"),
        ("sq/sq.####.png", "sq/sq.%04d.png"),
        ("sq/sq.1001.png", "sq/sq.####.png"),
        ("sh010_1.mp4", "linked.mp4"),  # the same file by another name (or case, on a share that ignores it)
    ],
)
def test_a_fix_whose_output_is_its_input_is_refused_before_anything_is_read(
    source: str, output: str, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    footage.movie(tmp_path / "sh010_1.mp4", n=3, size=(48, 32))
    os.link(tmp_path / "sh010_1.mp4", tmp_path / "linked.mp4")
    footage.sequence(tmp_path / "sq", "sq", n=3, size=(48, 32))
    before = {p: p.read_bytes() for p in tmp_path.rglob("*.*") if p.is_file()}
    refused(
        ["fix", "--show", "ANY", "--kind", "denoise", "-i", source, "-o", output],
        "is the input",
        "never overwrites",
    )
    assert {p: p.read_bytes() for p in tmp_path.rglob("*.*") if p.is_file()} == before
