"""What `rushes train` shows while it runs: the stage (decode, train <head>, evaluate <head>, write), the
latest loss while a head trains, and the time left in the budget; and what `rushes fix` says, piped, of the
frames it has made (`CountedLines`; on a terminal it has a bar).

On a terminal one transient status line is rewritten in place. Piped (a log file, CI), it prints a plain
line on stderr when a stage starts and then every `every` seconds, so a long stage is never silent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import Progress, TaskID, TextColumn, TimeElapsedColumn

from daemon.jobs.progress import progress_line

if TYPE_CHECKING:
    from engine.train import Stage  # torch: only for the type


class CountedLines:
    """Piped (no progress bar), a plain line on stderr every `every_s` seconds while frames are counted:
    "denoise with SHOW v3: frame 120 of 289, about 2 min left". The clock is injected."""

    def __init__(
        self,
        label: str,
        total: int,
        console: Console,
        every_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label, self.total, self.console, self.every_s, self.clock = label, total, console, every_s, clock
        self.started = self.last = clock()

    def count(self, done: int) -> None:
        now = self.clock()
        if now - self.last < self.every_s:
            return
        self.last = now
        line = progress_line(done, max(self.total, done), now - self.started)
        self.console.print(f"{self.label}: {line}", highlight=False, markup=False)


def clock_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = round(seconds)
    return f", {s // 60}:{s % 60:02d} left"


class TrainView:
    def __init__(
        self,
        show: str,
        console: Console,
        every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        ticking: bool = True,
    ) -> None:
        self.show, self.console, self.every, self.clock = show, console, every, clock
        self.stage: Stage | None = None
        self.stage_at = clock()
        self.loss_text = ""
        self.last_line = float("-inf")
        self.bar: Progress | None = None
        self.task: TaskID | None = None
        self.ticking = ticking  # a thread calls tick() each second (tests call it themselves)
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.ticker = threading.Thread(target=self._tick_until_done, daemon=True)

    def __enter__(self) -> TrainView:
        if self.console.is_terminal:
            self.bar = Progress(
                TextColumn("{task.description}", markup=False),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self.bar.__enter__()
            self.task = self.bar.add_task(f"training {self.show}")
        if self.ticking:
            self.ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        if self.ticker.is_alive():
            self.ticker.join(timeout=5)
        if self.bar is not None:
            self.bar.__exit__(None, None, None)

    def _tick_until_done(self) -> None:
        """The time left counts down on a terminal; piped, a stage that reports nothing (evaluation)
        still gets a line every `every` seconds."""
        while not self.done.wait(1.0 if self.bar is not None else min(self.every, 1.0)):
            self.tick()

    def on_stage(self, stage: Stage) -> None:
        self.stage, self.stage_at, self.loss_text = stage, self.clock(), ""
        self._show(force=True)

    def on_loss(self, head: str, step: int, loss: float, _elapsed: float) -> None:
        self.loss_text = f" step {step} loss {loss:.4f}"
        self._show(force=False)

    def text(self) -> str:
        if self.stage is None:
            return f"training {self.show}"
        left = self.stage.left_s
        if left is not None:
            left = max(0.0, left - (self.clock() - self.stage_at))
        what = self.stage.name + (f" {self.stage.head}" if self.stage.head else "")
        return f"training {self.show}: {what}{self.loss_text}{clock_text(left)}"

    def _show(self, force: bool) -> None:
        with self.lock:
            self._show_locked(force)

    def _show_locked(self, force: bool) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, description=self.text())
            return
        now = self.clock()
        if force or now - self.last_line >= self.every:
            self.console.print(self.text(), highlight=False, markup=False)
            self.last_line = now

    def tick(self) -> None:
        """A periodic line while a stage runs without reporting (evaluation), when piped; none before the
        first stage (a command that fails while setting up prints its one error line and nothing else)."""
        if self.stage is not None:
            self._show(force=False)
