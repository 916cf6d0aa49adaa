"""The ingest stage end to end: real encoded media in, catalogued dailies (or quarantined files) out."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import pytest

from daemon.catalog import Catalog
from daemon.catalog import dailies as daily_repo
from daemon.cli.main import _register
from daemon.shows import add_show
from daemon.stages.ingest import Ingestor, Outcome, ShowWatchers
from integrations.ingest.candidates import Found
from integrations.ingest.options import IngestOptions, IngestRoot
from tests import footage
from tests.homes import rushes

_register()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RUSHES_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RUSHES_CONFIG", raising=False)
    return tmp_path / "home"


def status_json(show: str) -> dict:
    code, output = rushes("status", "--json", "--show", show)
    assert code == 0, output
    return json.loads(output)["shows"][0]


def test_ingest_720p_clip_registers_frames_fps_size_timecode(home: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    footage.movie(
        inbox / "sh010_2.mp4", n=30, size=(1280, 720), fps=Fraction(30000, 1001), timecode="01:02:03:04"
    )
    assert rushes("show", "add", "TST", "--ingest", str(inbox))[0] == 0
    code, output = rushes("ingest", str(inbox / "sh010_2.mp4"), "--show", "TST")
    assert code == 0, output
    assert "1 registered" in output
    (daily,) = status_json("TST")["dailies"]
    assert (daily["shot"], daily["take"], daily["kind"]) == ("sh010", "2", "movie")
    assert daily["frame_count"] == 30 and (daily["first_frame"], daily["last_frame"]) == (0, 29)
    assert Fraction(daily["fps"]) == Fraction(30000, 1001)
    assert (daily["width"], daily["height"]) == (1280, 720)
    assert daily["timecode"] == "01:02:03:04"
    assert daily["content_hash"].startswith("blake2b:")
    # Ingesting again changes nothing.
    code, output = rushes("ingest", str(inbox), "--show", "TST")
    assert "0 registered, 1 already catalogued" in output


@pytest.mark.parametrize("ext", ["png", "exr"])
def test_sequence_with_a_missing_frame_lists_its_hole(home: Path, tmp_path: Path, ext: str) -> None:
    inbox = tmp_path / "inbox"
    footage.sequence(inbox / "sh020", "sh020", first=1001, n=8, ext=ext, skip=(1005,))
    rushes("show", "add", "TST", "--ingest", str(inbox))
    code, output = rushes("ingest", str(inbox / "sh020" / f"sh020.1003.{ext}"), "--show", "TST")
    assert code == 0, output
    (daily,) = status_json("TST")["dailies"]
    assert daily["kind"] == "sequence" and daily["shot"] == "sh020"
    assert (daily["first_frame"], daily["last_frame"], daily["frame_count"]) == (1001, 1008, 7)
    assert daily["missing_frames"] == [1005]
    assert daily["path"].endswith(f"sh020.####.{ext}")


def test_a_sequence_numbered_without_padding_and_a_camcorders_mts_are_catalogued(
    home: Path, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    footage.sequence(inbox / "sh021", "sh021", first=8, n=5)
    for frame in (inbox / "sh021").iterdir():  # sh021.8.png ... sh021.12.png, as a renderer's $F writes them
        frame.rename(frame.with_name(f"sh021.{int(frame.name.split('.')[1])}.png"))
    footage.remuxed(footage.movie(tmp_path / "camcorder.mp4", n=6), inbox / "sh022_1.MTS")  # as AVCHD records
    rushes("show", "add", "TST", "--ingest", str(inbox))
    code, output = rushes("ingest", str(inbox), "--show", "TST")
    assert code == 0, output
    show = status_json("TST")
    assert show["quarantined"] == []
    sequence, movie = sorted(show["dailies"], key=lambda d: d["shot"])
    assert sequence["path"].endswith("sh021.@.png") and (sequence["first_frame"], sequence["last_frame"]) == (
        8,
        12,
    )
    assert (movie["shot"], movie["kind"], movie["frame_count"]) == ("sh022", "movie", 6)


def test_bad_files_are_quarantined_with_a_reason(home: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    good = footage.movie(inbox / "sh030_1.mp4")
    (inbox / "sh031_1.mov").write_bytes(b"this is not a movie" * 50)
    data = good.read_bytes()
    (inbox / "sh032_1.mp4").write_bytes(data[: len(data) // 3])
    (inbox / "sh033_1.mp4").write_bytes(b"")
    (inbox / "notes.pdf").write_bytes(b"%PDF-1.4")  # a sidecar: skipped silently
    (inbox / "sh034_1.zip").write_bytes(b"PK")
    rushes("show", "add", "TST", "--ingest", str(inbox))
    code, output = rushes("ingest", str(inbox), "--show", "TST")
    assert code == 0, output
    show = status_json("TST")
    assert [d["shot"] for d in show["dailies"]] == ["sh030"]
    reasons = {Path(d["path"]).name: d["reason"] for d in show["quarantined"]}
    assert set(reasons) == {"sh031_1.mov", "sh032_1.mp4", "sh033_1.mp4", "sh034_1.zip"}
    assert all(reason and "\n" not in reason for reason in reasons.values())
    assert "empty" in reasons["sh033_1.mp4"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daemon", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_errors_are_one_line(home: Path, tmp_path: Path) -> None:
    """The real console entry point: a user mistake is one line on stderr and a non-zero exit."""
    result = _cli("ingest", str(tmp_path), "--show", "NOPE")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "NOPE" in result.stderr
    assert "Traceback" not in result.stderr
    assert _cli("show", "add", "TST").returncode == 0
    result = _cli("ingest", str(tmp_path / "missing.mov"), "--show", "TST")
    assert result.returncode == 2 and "no such file" in result.stderr and "Traceback" not in result.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("shows:\n  - code: 1bad\n    ingest: {roots: [/does/not/exist]}\n")
    result = _cli("config", "check", str(bad))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert any(line.startswith("shows[0].code:") for line in lines)
    assert any(line.startswith("shows[0].ingest.roots[0]: folder does not exist") for line in lines)


class Handled:
    """Ingests what the watchers hand over and records each outcome by path, for the test to wait on."""

    def __init__(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor
        self.outcomes: dict[str, Outcome] = {}
        self._changed = threading.Condition()

    def __call__(self, show: str, found: Found) -> None:
        outcome = self.ingestor.handle(show, found)
        with self._changed:
            self.outcomes[outcome.path] = outcome
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float) -> bool:
        """True once `count` different files have been handled (False after `timeout` seconds)."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.outcomes) >= count, timeout)


def _write_slowly(data: bytes, path: Path, chunks: int = 4, pause: float = 0.4) -> None:
    step = max(1, len(data) // chunks)
    with path.open("wb") as f:
        for i in range(0, len(data), step):
            f.write(data[i : i + step])
            f.flush()
            time.sleep(pause)


def test_fifty_files_dropped_into_a_watched_folder(tmp_path: Path) -> None:
    """Movies and sequences, some written slowly in chunks, some corrupt: every good one registered exactly
    once, every bad one quarantined with a reason, and a restart adds nothing."""
    inbox, staging = tmp_path / "inbox", tmp_path / "staging"
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    catalog.migrate()
    show, _ = add_show(catalog, "TST", ingest=[inbox]) if inbox.mkdir() is None else (None, None)
    assert show is not None
    options = IngestOptions(roots=[IngestRoot(path=inbox)], stable_seconds=1.0, reconcile_interval=60)
    show = show.model_copy(update={"ingest": options})
    clip = footage.movie(staging / "clip.mp4", n=8).read_bytes()
    good_movies = [f"sh{i:03d}_1.mp4" for i in range(1, 26)]  # 25, each its own content (copies are aliases)
    clips = {
        name: footage.movie(staging / name, n=8, seed=i).read_bytes() for i, name in enumerate(good_movies)
    }
    good_seqs = [f"sq{i:03d}" for i in range(1, 11)]  # 10
    bad = {f"bd{i:03d}_1.mp4": clip[: len(clip) // 2] for i in range(1, 6)}  # 5 truncated
    bad |= {f"bz{i:03d}_1.mov": b"" for i in range(1, 6)}  # 5 empty
    bad |= {f"bt{i:03d}_1.mov": b"not a movie at all\n" * 40 for i in range(1, 6)}  # 5 text
    assert len(good_movies) + len(good_seqs) + len(bad) == 50
    for name in good_seqs:
        footage.sequence(staging / name, name, first=1001, n=4)

    first = Handled(Ingestor(catalog))
    watchers = ShowWatchers([show], first)
    watchers.start()
    try:
        writers = []
        for i, name in enumerate(good_movies):
            if i % 5 == 0:  # every fifth movie lands slowly, in chunks
                writers.append(threading.Thread(target=_write_slowly, args=(clips[name], inbox / name)))
            else:
                tmp = inbox / f"{name}.part"  # copied under a temp name, then renamed
                tmp.write_bytes(clips[name])
                os.replace(tmp, inbox / name)
        for name in good_seqs:
            dest = inbox / name
            dest.mkdir()
            for frame in sorted((staging / name).iterdir()):
                shutil.copy(frame, dest / frame.name)
        for name, data in bad.items():
            (inbox / name).write_bytes(data)
        for w in writers:
            w.start()
        for w in writers:
            w.join()
        assert first.wait_for(50, timeout=60), sorted(first.outcomes)
    finally:
        watchers.stop()

    with catalog.session() as s:
        rows = daily_repo.list_dailies(s, "TST", status=None)
    by_name = {Path(r.path).name if r.kind != "sequence" else Path(r.path).parent.name: r for r in rows}
    assert len(rows) == 50, sorted(by_name)
    for name in good_movies:
        row = by_name[name]
        assert row.status == "registered" and row.frame_count == 8, (name, row.error)
    for name in good_seqs:
        row = by_name[name]
        assert row.status == "registered" and row.frame_count == 4 and row.shot == name
    for name in bad:
        row = by_name[name]
        assert row.status == "quarantined" and row.error, name

    # A restart: the reconcile scan hands everything over again, and the catalog adds nothing.
    again = Handled(Ingestor(catalog))
    watchers = ShowWatchers([show], again)
    watchers.start()
    try:
        assert again.wait_for(50, timeout=30), sorted(again.outcomes)
    finally:
        watchers.stop()
    assert {o.result for o in again.outcomes.values()} <= {"unchanged", "quarantined"}
    with catalog.session() as s:
        assert len(daily_repo.list_dailies(s, "TST", status=None)) == 50
    catalog.dispose()
