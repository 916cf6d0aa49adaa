"""A write killed with SIGKILL leaves a hidden temp file; the next write of the same output removes it."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.media import MediaError
from engine.media.files import atomic_output, prepare_output, temp_name


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _leftover(out: Path, pid: int, host: str | None = None) -> Path:
    """The temp name `pid` (of this host, or of `host`) would have used for `out`."""
    name = temp_name(out).name.replace(f"-{os.getpid()}-", f"-{pid}-")
    if host is not None:
        this_host = name[len(f".{out.name}.") :].split("-", 1)[0]
        name = name.replace(f".{this_host}-", f".{host}-", 1)
    return out.with_name(name)


def test_a_temp_file_names_its_host_and_process(tmp_path: Path) -> None:
    name = temp_name(tmp_path / "shot.mp4").name
    assert name.startswith(".shot.mp4.") and name.endswith(".tmp")
    assert f"-{os.getpid()}-" in name


def test_the_next_write_removes_leftovers_of_dead_processes_and_keeps_live_and_foreign_ones(
    tmp_path: Path,
) -> None:
    out = tmp_path / "shot.mp4"
    dead = _leftover(out, _dead_pid())
    dead_folder = _leftover(out, _dead_pid())
    live = _leftover(out, os.getpid())
    foreign = _leftover(out, _dead_pid(), host="otherhost")
    other_output = _leftover(tmp_path / "other.mp4", _dead_pid())
    for path in (dead, live, foreign, other_output):
        path.write_bytes(b"partial")
    dead_folder.mkdir()
    (dead_folder / "shot.0001.exr").write_bytes(b"partial")

    prepare_output(out)

    assert not dead.exists() and not dead_folder.exists()
    assert live.exists() and foreign.exists() and other_output.exists()


def test_an_atomic_write_leaves_only_its_output(tmp_path: Path) -> None:
    out = tmp_path / "frame.png"
    _leftover(out, _dead_pid()).write_bytes(b"partial")
    with atomic_output(out) as tmp:
        tmp.write_bytes(b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frame.png"]


def test_a_name_with_glob_characters_is_swept_as_it_is_named(tmp_path: Path) -> None:
    """A shot named `SH**010` or `sh[a]010` (a tracker allows it) failed every write with "Invalid pattern", or
    never found its own leftovers."""
    for name in ("SH**010.mp4", "sh[a]010.mp4"):
        out = tmp_path / name
        dead = _leftover(out, _dead_pid())
        dead.write_bytes(b"partial")
        with atomic_output(out) as tmp:
            tmp.write_bytes(b"whole")
        assert not dead.exists() and out.read_bytes() == b"whole"


def test_a_legal_name_near_the_file_systems_limit_is_written_and_its_leftovers_swept(tmp_path: Path) -> None:
    """An output named with 125 Cyrillic letters (254 bytes, a legal name): its temp name passed 255 bytes and
    `rushes fix` ended in a traceback (File name too long)."""
    out = tmp_path / ("Ж" * 125 + ".mp4")
    assert len(out.name.encode()) == 254
    dead = _leftover(out, _dead_pid())
    assert len(dead.name.encode()) <= 255
    dead.write_bytes(b"partial")
    with atomic_output(out) as tmp:
        tmp.write_bytes(b"whole")
    assert out.read_bytes() == b"whole" and sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def test_a_leftover_a_release_before_the_shortening_named_whole_is_swept(tmp_path: Path) -> None:
    """A name a byte or two past the shortening's limit: an earlier release's temp name of it fit (its pid was
    short), and it would be left behind, a partial movie of gigabytes, when sought by its shortened name only."""
    host_part = temp_name(tmp_path / "x.mp4").name[len(".x.mp4.") :].rsplit("-", 2)[0]
    room = 255 - len(f"..{host_part}-{'9' * 7}-{'0' * 8}.tmp".encode())
    out = tmp_path / ("a" * (room + 1 - len(".mp4")) + ".mp4")
    older = out.with_name(f".{out.name}.{host_part}-{_dead_pid()}-deadbeef.tmp")
    assert len(older.name.encode()) <= 255 and temp_name(out).name != older.name[: len(temp_name(out).name)]
    older.write_bytes(b"partial")
    prepare_output(out)
    assert not older.exists()


def test_a_write_the_file_system_refuses_is_one_media_error_and_the_earlier_output_stays(
    tmp_path: Path,
) -> None:
    """A PNG sequence or still on a full disk, or in a folder that may not be written, ended `rushes fix` in an
    OSError traceback."""
    out = tmp_path / "frame.png"
    out.write_bytes(b"earlier")
    with pytest.raises(MediaError) as refused, atomic_output(out) as tmp:
        tmp.write_bytes(b"part")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert str(refused.value) == f"{out}: cannot write: No space left on device"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frame.png"] and out.read_bytes() == b"earlier"
