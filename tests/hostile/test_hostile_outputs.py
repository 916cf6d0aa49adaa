"""Outputs of `rushes fix` are whole or absent: a failure mid-sequence leaves no frames, SIGTERM or Ctrl-C
mid-movie leaves neither the movie nor its temp file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from daemon.catalog import Catalog
from daemon.catalog.models_repo import add_version, promote
from daemon.catalog.shows import ensure_show
from daemon.cli.outputs import Carried, write_output
from engine.media import MediaError
from engine.model import Manifest, ShowModel, save_model
from tests import footage


def _frames(n: int, fail_after: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    for i, rgb in enumerate(footage.frames(n, (48, 32))):
        if fail_after is not None and i == fail_after:
            raise MediaError("the head failed on frame 2")
        yield 1001 + i, rgb


def test_a_sequence_fix_that_fails_midway_leaves_no_frames(tmp_path: Path) -> None:
    out = tmp_path / "fixed"
    with pytest.raises(MediaError, match="frame 2"):
        write_output(str(out / "sh010.####.png"), _frames(5, fail_after=2), Carried(Fraction(24)))
    assert list(out.iterdir()) == []  # neither frames 1001-1002 nor the hidden staging folder
    assert write_output(str(out / "sh010.####.png"), _frames(5), Carried(Fraction(24))) == 5
    assert sorted(p.name for p in out.iterdir()) == [f"sh010.{n}.png" for n in range(1001, 1006)]


def test_sigterm_while_a_sequence_is_put_in_place_lets_every_frame_in_then_says_the_fix_is_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a farm's SIGTERM between two of the frames' moves left the new fix's first frames among the old ones, and the
    # command said nothing had been written
    from daemon.cli import model as fix_cli
    from daemon.cli import outputs

    out = str(tmp_path / "sh010.####.png")
    assert write_output(out, _frames(6), Carried(Fraction(24))) == 6
    before = outputs.output_state(out)
    moved: list[str] = []
    real_replace = os.replace

    def replace_then_signalled(src: str | Path, dst: str | Path) -> None:
        real_replace(src, dst)
        if Path(dst).parent == tmp_path:  # a frame into place (not one into the hidden staging folder)
            moved.append(str(dst))
            if len(moved) == 1:
                signal.raise_signal(signal.SIGTERM)

    monkeypatch.setattr(outputs.os, "replace", replace_then_signalled)
    with pytest.raises(SystemExit) as stopped, outputs.terminate_cleanly():
        write_output(out, ((n, 255 - rgb) for n, rgb in _frames(4)), Carried(Fraction(24)))
    assert stopped.value.code == 143 and len(moved) == 4  # every frame moved, then the signal
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"sh010.{n}.png" for n in range(1001, 1005)]
    assert fix_cli._left(out, before).startswith(f"the fix was written whole to {out} before it stopped")
    assert fix_cli._left(out, outputs.output_state(out)).startswith(f"nothing was written to {out}")


@pytest.mark.parametrize(
    ("stop", "code", "said"),
    [
        (signal.SIGTERM, 143, ""),
        # Ctrl-C: it used to end without a word, leaving the artist to wonder what was left
        (signal.SIGINT, 130, "interrupted: nothing was written to"),
    ],
)
def test_a_fix_stopped_midway_leaves_neither_the_movie_nor_its_temp_file(
    tmp_path: Path, stop: signal.Signals, code: int, said: str
) -> None:
    home = tmp_path / "home"
    folder = home / "models" / "SIG" / "v1"
    save_model(folder, ShowModel.fresh(["denoise"]), Manifest(show="SIG", version="v1"))
    catalog = Catalog(f"sqlite:///{home / 'catalog.sqlite'}")
    catalog.migrate()
    with catalog.session() as s:
        ensure_show(s, "SIG")
        add_version(s, "SIG", str(folder), version=1)
        promote(s, "SIG", 1)
    catalog.dispose()
    source = footage.movie(tmp_path / "in.mp4", n=96, size=(96, 64))
    output = tmp_path / "out" / "fixed.mp4"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUSHES_")}
    fix = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daemon",
            "fix",
            "--show",
            "SIG",
            "--kind",
            "denoise",
            "-i",
            str(source),
            "-o",
            str(output),
        ],
        env={**env, "RUSHES_HOME": str(home)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # as a shell runs a job: nothing it signals reaches the test's own process
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and fix.poll() is None:
        if output.parent.is_dir() and any(p.name.endswith(".tmp") for p in output.parent.iterdir()):
            break
        time.sleep(0.02)
    assert fix.poll() is None, fix.communicate()
    fix.send_signal(stop)
    stdout, stderr = fix.communicate(timeout=60)
    assert fix.returncode == code and "Traceback" not in stderr
    assert said in " ".join((stdout + stderr).split())
    assert list(output.parent.iterdir()) == []
