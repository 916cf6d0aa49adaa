"""How large a training step's gradient may be: a limit that follows the head's own recent gradients.

Why: a base run's denoise head trained well for 3,800 steps (running loss 0.016), then by step 4,100 was
at 0.037, about what an untrained net scores, and never came back in the 12,000 steps left; show models grown
from it lost 1.8 to 2.7 dB to models from scratch (docs/benchmarks.md, "Denoise from the base: a head that fell
over"). One way a net falls like that under Adam: a batch whose gradient is far above the usual ones moves every
weight by up to about three times the learning rate in that one batch's direction, for the ten or so steps its
momentum remembers it. A replay of that run's own batches found no such batch and did not fall, so this is a
guard against one cause, not the found one; engine.train.fallback guards against the outcome.

So a step's gradient is scaled down to `factor` times the median norm of the head's last `window` steps
(after `warmup` steps, while a fresh net's norms settle). Normal steps stay under the limit and are left
alone (a 2,400 s denoise base: 33 of 16,625 steps limited); an outlier is cut to an ordinary size. The limit
follows the head (each head's norms have their own scale, and fall as it learns), so one setting serves every
head. A gradient that is not finite (inf or NaN) is not stepped on at all. Pure: the caller measures the norm
and scales.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field

FACTOR = 4.0  # limit = FACTOR x the median recent norm
WINDOW = 200  # steps the median is taken over
WARMUP = 50  # steps of a head before its gradients are limited


@dataclass
class NormLimit:
    """One head's gradient-norm limit: `limit()` before the step, `record(norm, limit)` after measuring it."""

    factor: float = FACTOR
    window: int = WINDOW
    warmup: int = WARMUP
    recent: deque[float] = field(default_factory=deque)  # the last `window` norms
    clipped: int = 0  # steps whose gradient was scaled down
    skipped: int = 0  # steps not taken: the gradient was not finite

    def __post_init__(self) -> None:
        self.recent = deque(self.recent, maxlen=self.window)

    def limit(self) -> float | None:
        """The largest gradient norm a step may take now; None while the head is warming up."""
        if len(self.recent) < self.warmup:
            return None
        return self.factor * statistics.median(self.recent)

    def record(self, norm: float, limit: float | None, overflow_expected: bool = False) -> bool:
        """Note a step's gradient norm (before any scaling) against the `limit()` it was held to; False when the
        step must not be taken. `overflow_expected`: a float16 run's gradient scaler overflows now and then by
        design, and skips that step itself, so it is not counted as skipped here."""
        if not math.isfinite(norm):
            self.skipped += 0 if overflow_expected else 1
            return False
        if limit is not None and norm > limit:
            self.clipped += 1
        self.recent.append(norm)
        return True
