"""Hostile files through `rushes ingest`: every bad one quarantined with its one-line reason, every good one
catalogued, nothing printed by native libraries, and the same content under two names catalogued once."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from daemon.catalog import Catalog
from daemon.catalog import dailies as daily_repo
from daemon.cli.main import _register, app
from engine.media import probe, read_frames_uint8
from tests import footage
from tests.homes import own_home
from tests.hostile import corpus

_register()
SHOW = "HX"


@pytest.fixture(autouse=True)
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return own_home(monkeypatch, tmp_path)


def rushes(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


@pytest.fixture
def catalog(home: Path) -> Iterator[Catalog]:
    cat = Catalog(f"sqlite:///{home / 'catalog.sqlite'}")
    yield cat
    cat.dispose()


def by_path(catalog: Catalog) -> dict[str, daily_repo.Daily]:
    with catalog.session() as s:
        return {d.path: d for d in daily_repo.list_dailies(s, SHOW, status=None) if d.status != "superseded"}


def test_one_batch_of_forty_bad_files_beside_good_ones(
    tmp_path: Path, catalog: Catalog, capfd: pytest.CaptureFixture[str]
) -> None:
    """Each bad file is quarantined with its expected one-line reason, on one stderr line; every good daily
    is registered; nothing reaches the terminal from OpenEXR or FFmpeg; a second run adds nothing."""
    root, scratch = tmp_path / "inbox", tmp_path / "scratch"
    root.mkdir()
    scratch.mkdir()
    good = corpus.make_good(root, scratch)
    bad = corpus.make_bad(root, scratch)
    assert len(bad) >= 38
    assert rushes("show", "add", SHOW, "--ingest", str(root))[0] == 0
    capfd.readouterr()

    code, output = rushes("ingest", str(root), "--show", SHOW)
    native = capfd.readouterr()
    assert code == 0, output
    assert "EXR_ERR" not in native.out + native.err and "Exception raised" not in native.out + native.err
    assert "Traceback" not in output
    rows = by_path(catalog)
    for path in good:
        assert rows[str(path)].status == "registered", (path, rows[str(path)].error)
    lines = output.splitlines()
    for name, (path, reason) in bad.items():
        row = rows.get(daily_repo.stored_path(str(path)))
        assert row is not None, f"{name}: not catalogued"
        assert row.status == "quarantined" and reason in (row.error or ""), (name, row.error)
        assert "\n" not in (row.error or "")
        shown = daily_repo.stored_path(str(path))
        assert sum(line.startswith(f"quarantined {shown}: ") for line in lines) == 1, name
    assert lines[-1].startswith(f"{len(good)} registered, 0 already catalogued, ")

    code, output = rushes("ingest", str(root), "--show", SHOW)  # again: nothing new, nothing doubled
    assert code == 0 and output.splitlines()[-1].startswith(f"0 registered, {len(good)} already catalogued")
    assert by_path(catalog).keys() == rows.keys()


def test_paths_named_on_the_command_line_that_cannot_be_ingested_are_one_line_each(
    tmp_path: Path, catalog: Catalog
) -> None:
    """A missing path, a FIFO and a symlink loop named beside a good movie: one line each, the movie ingested."""
    root = tmp_path / "inbox"
    good = footage.movie(root / "sh010_1.mp4", n=4, size=(64, 48))
    fifo, loop = root / "sh020_1.mov", root / "sh030_1.mov"
    os.mkfifo(fifo)
    os.symlink(loop, loop)
    assert rushes("show", "add", SHOW, "--ingest", str(root))[0] == 0
    code, output = rushes(
        "ingest", str(tmp_path / "nope.mov"), str(fifo), str(loop), str(good), "--show", SHOW
    )
    assert code == 0, output
    lines = output.splitlines()
    assert f"skipped {tmp_path / 'nope.mov'}: no such file or folder" in lines
    assert any(line.startswith(f"quarantined {fifo}: not a regular file (a FIFO)") for line in lines)
    assert any(line.startswith(f"quarantined {loop}: symlink loop") for line in lines)
    assert lines[-1] == "1 registered, 0 already catalogued, 2 quarantined"
    assert by_path(catalog)[str(good)].status == "registered"


def test_a_byte_identical_copy_is_an_alias_and_dailies_list_shows_it(
    tmp_path: Path, catalog: Catalog
) -> None:
    root = tmp_path / "inbox"
    first = footage.movie(root / "sh010_1.mp4", n=4, size=(64, 48))
    copy = root / "sh011_1.mp4"
    shutil.copy(first, copy)
    assert rushes("show", "add", SHOW, "--ingest", str(root))[0] == 0
    code, output = rushes("ingest", str(root), "--show", SHOW)
    assert code == 0 and output.splitlines()[-1] == "1 registered, 1 already catalogued, 0 quarantined"
    rows = by_path(catalog)
    assert list(rows) == [str(first)]
    code, output = rushes("dailies", "list", "--show", SHOW)
    assert code == 0
    daily_id = rows[str(first)].id
    assert output.splitlines() == [f"{daily_id}\tregistered\tsh010\t4\t{first}\tcopies: {copy}"]


def test_a_name_holding_a_line_break_or_a_tab_is_one_line_in_ingest_and_one_row_in_dailies_list(
    tmp_path: Path, catalog: Catalog
) -> None:
    """A name with a control character is quarantined; what the CLI prints of it stays on one line (a script
    reading `dailies list` splits rows at line breaks and fields at tabs)."""
    root = tmp_path / "inbox"
    footage.movie(root / "sh010_1.mp4", n=4, size=(64, 48))
    footage.movie(root / "sh0\n20_1.mp4", n=4, size=(64, 48))
    footage.movie(root / "sh0\t30_1.mp4", n=4, size=(64, 48))
    assert rushes("show", "add", SHOW, "--ingest", str(root))[0] == 0
    code, output = rushes("ingest", str(root), "--show", SHOW)
    assert code == 0, output
    lines = output.splitlines()
    assert lines[-1] == "1 registered, 0 already catalogued, 2 quarantined"
    assert sum(line.startswith(f"quarantined {root}/sh0\\n20_1.mp4: ") for line in lines) == 1, lines
    assert sum(line.startswith(f"quarantined {root}/sh0\\t30_1.mp4: ") for line in lines) == 1, lines
    code, output = rushes("dailies", "list", "--show", SHOW)
    assert code == 0
    rows = [line.split("\t") for line in output.splitlines()]
    assert len(rows) == 3 and all(len(row) == 6 for row in rows), rows
    assert {row[4] for row in rows} == {
        f"{root}/sh010_1.mp4",
        f"{root}/sh0\\n20_1.mp4",
        f"{root}/sh0\\t30_1.mp4",
    }


def test_content_rewritten_with_its_size_and_mtime_kept_is_hashed_again(
    tmp_path: Path, catalog: Catalog
) -> None:
    root = tmp_path / "inbox"
    clip = footage.movie(root / "sh010_1.mp4", n=4, size=(64, 48))
    assert rushes("show", "add", SHOW, "--ingest", str(root))[0] == 0
    assert rushes("ingest", str(clip), "--show", SHOW)[0] == 0
    before = by_path(catalog)[str(clip)]
    st = clip.stat()
    data = clip.read_bytes()
    assert b"Lavf" in data
    clip.write_bytes(data.replace(b"Lavf", b"Xavf", 1))  # same size, other bytes (the muxer's name tag)
    os.utime(clip, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the old mtime put back
    assert (clip.stat().st_size, clip.stat().st_mtime) == (st.st_size, st.st_mtime)
    code, output = rushes("ingest", str(clip), "--show", SHOW)
    assert code == 0 and output.splitlines()[-1] == "1 registered, 0 already catalogued, 0 quarantined"
    after = by_path(catalog)[str(clip)]
    assert after.id != before.id and after.content_hash != before.content_hash


def _phone_video(path: Path, degrees: int) -> np.ndarray:
    """A 64x32 (landscape-stored) H.264 movie whose display matrix turns it by `degrees`; returns its frames."""
    frames = (footage.frames(4, (64, 32)) * 255).astype(np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(24))
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv444p"
        stream.options = {"qp": "0"}
        stream.set_display_rotation(degrees)
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return frames


def test_a_phone_videos_rotation_is_reported_and_frames_come_out_upright(tmp_path: Path) -> None:
    path = tmp_path / "phone.mp4"
    _phone_video(path, 90)
    info = probe(path)
    assert (info.rotation, info.width, info.height) == (90, 32, 64)
    ours = next(read_frames_uint8(path, 0, 0)).rgb
    assert ours.shape == (64, 32, 3)
    # ffmpeg's own player logic (autorotate) is the reference for "upright"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(path),
            "-frames:v",
            "1",
            "-pix_fmt",
            "rgb24",
            str(tmp_path / "ref.png"),
        ],
        check=True,
    )
    with av.open(str(tmp_path / "ref.png")) as ref_file:
        reference = next(ref_file.decode(video=0)).to_ndarray(format="rgb24")
    assert reference.shape == ours.shape
    assert np.abs(ours.astype(int) - reference.astype(int)).mean() < 3.0
