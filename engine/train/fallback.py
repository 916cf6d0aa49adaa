"""A head that fell over keeps the weights of its best stretch of training instead of its last step's.

Why: a 2-hour base's denoise head trained well for 3,800 steps (running loss 0.016), then by step 4,100
was at 0.037, about what an untrained net scores, and stayed there for the 12,000 steps left; the version kept
its last weights, and show models grown from it lost 1.8 to 2.7 dB to models from scratch (docs/benchmarks.md,
"Denoise from the base: a head that fell over"). Two fresh runs of the same protocol and a replay of that run's
batches did not fall, so what set it off is not known; the gradient limit (engine.train.clipping) guards against
one cause, this against the outcome. The losses and the weights the caller keeps are in the checkpoint, so a
run resumed after a fall still finds the stretch before it (from an older Rushes' checkpoint it starts afresh). A head that keeps a
running average of its weights (engine.train.averaging) keeps the stretch's weights too: after a fall the
average is mostly of the wreck.

The running losses a run reports (every `progress_every` steps) are taken in windows of `window` reports, each
window's loss their median (one wild report does not make a window). The caller copies the head's weights as each
window starts and keeps that copy when the window turns out the best so far (`add` says when): the weights before
every step the window measured, so a fall that began late in the best window is not in them. At the head's end
it asks `fell()`: the last full window's loss is more than `ratio` times the best window's. A head that is
learning ends at or near its best window, so this says nothing of a healthy run; the loss of a head that fell
over stays far above it. The windows are of the loss on training batches, drawn alike through the run, so
their medians compare. Pure: the caller keeps the weights.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

WINDOW = 20  # reports a window (200 steps at the default progress_every of 10)
RATIO = 1.5  # the last window's loss over the best window's that says the head fell over


@dataclass
class BestStretch:
    """The best window of a head's running losses so far, and the last full one."""

    window: int = WINDOW
    ratio: float = RATIO
    pending: list[float] = field(default_factory=list)  # reports of the window being filled
    best: float | None = None  # the best full window's loss (the median of its reports)
    last: float | None = None  # the last full window's loss

    def add(self, loss: float) -> bool:
        """Note a reported running loss; True when it completes a window that is the best so far (the caller
        keeps the weights that window started from). `pending` is empty after a window ends."""
        self.pending.append(loss)
        if len(self.pending) < self.window:
            return False
        self.last = float(statistics.median(self.pending))
        self.pending = []
        if self.best is None or self.last < self.best:
            self.best = self.last
            return True
        return False

    def fell(self) -> bool:
        """Whether the head ended far above its best window (it fell over and did not come back)."""
        return self.best is not None and self.last is not None and self.last > self.ratio * self.best
