"""`rushes train`'s progress when piped: a line when each stage starts (naming it, the head and the time
left), then one every `every` seconds even while a stage reports nothing (evaluation)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from daemon.cli.progress import TrainView
from engine.train import Stage


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_piped_progress_prints_each_stage_with_time_left_and_a_line_every_ten_seconds() -> None:
    sink = io.StringIO()
    clock = Clock()
    console = Console(file=sink, force_terminal=False, width=200)
    with TrainView("DEMO", console, every=10.0, clock=clock, ticking=False) as view:
        view.on_stage(Stage("decode", None, 120.0))
        clock.now += 5
        view.on_stage(Stage("train", "denoise", 115.0))
        view.on_loss("denoise", 10, 0.0123, 1.0)  # 0 s since the last line: not printed
        clock.now += 11
        view.on_loss("denoise", 20, 0.0101, 12.0)
        view.on_stage(Stage("evaluate", "denoise", 30.0))
        clock.now += 12
        view.tick()  # evaluation reports nothing: the periodic line still comes
        view.tick()  # and not twice within ten seconds
    assert sink.getvalue().splitlines() == [
        "training DEMO: decode, 2:00 left",
        "training DEMO: train denoise, 1:55 left",
        "training DEMO: train denoise step 20 loss 0.0101, 1:44 left",
        "training DEMO: evaluate denoise, 0:30 left",
        "training DEMO: evaluate denoise, 0:18 left",
    ]


def test_on_a_terminal_one_status_line_shows_the_stage_the_loss_and_the_time_counting_down() -> None:
    sink = io.StringIO()
    clock = Clock()
    console = Console(file=sink, force_terminal=True, width=100)
    with TrainView("DEMO", console, clock=clock, ticking=False) as view:
        view.on_stage(Stage("train", "upscale", 65.0))
        view.on_loss("upscale", 30, 0.02, 3.0)
        assert view.text() == "training DEMO: train upscale step 30 loss 0.0200, 1:05 left"
        clock.now += 5
        view.tick()
        assert view.text().endswith("1:00 left")


def test_piped_progress_says_nothing_before_the_first_stage() -> None:
    """`rushes train` that fails while setting up (no dailies) prints its one error line and nothing else,
    however long the setting up took."""
    sink = io.StringIO()
    clock = Clock()
    console = Console(file=sink, force_terminal=False, width=200)
    with TrainView("DEMO", console, every=10.0, clock=clock, ticking=False) as view:
        clock.now += 30
        view.tick()
    assert sink.getvalue() == ""


def test_a_piped_fix_says_every_10_seconds_how_many_frames_it_has_made_and_the_time_left() -> None:
    from daemon.cli.progress import CountedLines

    sink = io.StringIO()
    now = [0.0]
    lines = CountedLines("denoise with MYSHOW v1", 289, Console(file=sink, width=200), clock=lambda: now[0])
    for done, at in ((1, 2.0), (10, 9.9), (20, 15.0), (30, 19.0), (40, 25.0)):
        now[0] = at
        lines.count(done)
    assert sink.getvalue().splitlines() == [
        "denoise with MYSHOW v1: frame 20 of 289, about 3 min 22 s left",
        "denoise with MYSHOW v1: frame 40 of 289, about 2 min 36 s left",
    ]


def test_a_progress_bar_shows_a_file_name_with_brackets_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    """`rushes ingest` puts each file's name in its bar: `sh010_[a].mov` showed as `sh010_.mov`, and a name
    holding `[/b]` made the bar's refresh raise."""
    from daemon.cli import app

    screen = io.StringIO()
    monkeypatch.setattr(app, "err", Console(file=screen, force_terminal=True, width=100, markup=False))
    with app.counted_progress() as bar:
        bar.add_task("sh010_[a] [/b].mov", total=2)
        bar.refresh()
    assert "sh010_[a] [/b].mov" in screen.getvalue()
