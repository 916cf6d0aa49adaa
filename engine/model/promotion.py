"""The promotion rule, per head: a version is promoted with the heads that passed, never worse than the
classical tool.

Each head of a freshly trained version is judged on the held-out clips (`decide`):
- "trained": its PSNR beats its best classical baseline and is not worse (within `TOLERANCE_DB`) than the
  parent's on the same clips: the new weights are used;
- "parent": it did not pass, but the parent's weights for it beat the baseline on these same clips: the
  version keeps the parent's weights for that head;
- "baseline": neither beats the best classical baseline: fixes of that kind use the baseline tool
  (`engine.baselines.fallback` names and runs it), and say so.
A head that took no training step in its run (a budget that decoding and scoring used up) has its parent's
weights unchanged, or in a show's first version the fresh weights it started with: it is never "trained", so a
version in which no head trained is not promoted over its parent, and a first version's untrained heads use their
classical tools (its manifest would otherwise claim new weights learnt from clips no step saw).
A version is promoted when it has no parent (the first one: heads below their baseline fall back to it) or
when at least one head is "trained"; otherwise it is kept, and `Promotion.summary` names each head and its
margin in dB. `head_source` answers for a stored manifest which of the three a fix of a kind uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from engine.baselines.fallback import fallback_tool, label, recorded_tool

TOLERANCE_DB = 0.05  # evaluation noise allowed when comparing with the parent on the same clips

Source = Literal["trained", "parent", "baseline"]
Scores = Mapping[str, Mapping[str, float]]


def promotable(
    metrics: Scores, parent_metrics: Scores | None = None, tolerance_db: float = TOLERANCE_DB
) -> dict[str, bool]:
    """Per head: True when its PSNR on the held-out clips beats its best classical baseline and is not
    worse (within `tolerance_db`) than the parent's on the same clips. A head without a parent only needs
    to beat the baseline."""
    out: dict[str, bool] = {}
    for head, m in metrics.items():
        ours = m.get("psnr")
        if ours is None:
            out[head] = False
            continue
        beats_baseline = ours > m.get("baseline_best", float("-inf"))
        parent = (parent_metrics or {}).get(head, {}).get("psnr")
        not_worse = parent is None or ours >= parent - tolerance_db
        out[head] = bool(beats_baseline and not_worse)
    return out


def margin_db(scores: Mapping[str, float]) -> float | None:
    """The head's PSNR minus its best baseline's, in dB (None when either is missing)."""
    if "psnr" not in scores or "baseline_best" not in scores:
        return None
    return float(scores["psnr"] - scores["baseline_best"])


@dataclass(frozen=True)
class HeadVerdict:
    head: str
    source: Source
    margin_db: float | None  # the new weights' PSNR minus the best baseline's
    parent_db: float | None  # the new weights' PSNR minus the parent's on the same clips
    baseline: str  # the classical tool a fix falls back to (engine.baselines.fallback)
    best: str = ""  # the best-scoring baseline on the held-out clips, which the margin is against
    tolerance_db: float = TOLERANCE_DB  # how far below the parent new weights may score and still be used
    untrained: bool = False  # no training step in this run: its weights are the parent's

    def text(self) -> str:
        against = self.best or self.baseline
        margin = f"{self.margin_db:+.2f} dB vs {against}" if self.margin_db is not None else "unscored"
        if self.parent_db is not None:
            margin += f", {self.parent_db:+.2f} dB vs parent"
            if self.source == "trained" and self.parent_db < 0:
                margin += f" (within the {self.tolerance_db:.2f} dB of evaluation noise allowed)"
        use = {
            "trained": "new weights",
            "parent": "parent's weights",
            "baseline": f"{label(self.baseline)} (classical)",
        }
        took = " (no training step in this run)" if self.untrained else ""
        return f"{self.head} {margin}: uses {use[self.source]}{took}"


@dataclass(frozen=True)
class Promotion:
    heads: dict[str, HeadVerdict]
    promote: bool

    def sources(self, parent_version: str | None) -> dict[str, str]:
        """What the manifest records per head: "trained", "parent:<version>" or "baseline:<tool>"."""
        out = {}
        for name, v in self.heads.items():
            out[name] = {
                "trained": "trained",
                "parent": f"parent:{parent_version}",
                "baseline": f"baseline:{v.baseline}",
            }[v.source]
        return out

    def summary(self) -> str:
        return "; ".join(v.text() for v in self.heads.values())


def _best(scores: Mapping[str, float]) -> str:
    """The name of the best baseline score ("psnr_<name>" equal to "baseline_best"), or ""."""
    best = scores.get("baseline_best")
    named = [k[5:] for k, v in scores.items() if k.startswith("psnr_") and k != "psnr_base" and v == best]
    return named[0] if named else ""


def decide(
    metrics: Scores,
    parent_metrics: Scores | None = None,
    tolerance_db: float = TOLERANCE_DB,
    steps: Mapping[str, int] | None = None,
) -> Promotion:
    """Judge each head (see the module docstring); `parent_metrics` are the parent's scores on the same
    held-out clips (None or empty without a parent); `steps` the training steps each head took in this run
    (None: not known, every head counts as trained)."""
    passed = promotable(metrics, parent_metrics, tolerance_db)
    verdicts = {}
    for head, m in metrics.items():
        parent = (parent_metrics or {}).get(head, {})
        untrained = steps is not None and steps.get(head, 0) <= 0  # a first version's too: fresh weights
        if passed[head] and not untrained:
            source: Source = "trained"
        elif parent and (margin_db(parent) or 0.0) > 0.0:
            source = "parent"
        else:
            source = "baseline"
        parent_db = m["psnr"] - parent["psnr"] if "psnr" in m and "psnr" in parent else None
        verdicts[head] = HeadVerdict(
            head, source, margin_db(m), parent_db, fallback_tool(head, m), _best(m), tolerance_db, untrained
        )
    first = not parent_metrics
    return Promotion(verdicts, first or any(v.source == "trained" for v in verdicts.values()))


def head_source(sources: Mapping[str, str], metrics: Scores, head: str) -> str:
    """What a fix of `head` uses with a stored version: its recorded source, else (a version from before
    sources were recorded) "baseline:<tool>" when its scores are below its best baseline, else "trained"."""
    if head in sources:
        return sources[head]
    scores = metrics.get(head, {})
    margin = margin_db(scores)
    if margin is not None and margin <= 0.0:
        return f"baseline:{fallback_tool(head, scores)}"
    return "trained"


def fallback_note(sources: Mapping[str, str], metrics: Scores, head: str) -> str | None:
    """One sentence when a fix of `head` uses the classical tool instead of the show model, else None."""
    source = head_source(sources, metrics, head)
    if not source.startswith("baseline:"):
        return None
    tool = label(recorded_tool(source))
    scores = metrics.get(head, {})
    margin = margin_db(scores)
    against = label(_best(scores)) if _best(scores) else tool  # the margin is over the best baseline
    by = f" ({margin:+.2f} dB against it)".replace("-0.00", "+0.00") if margin is not None else ""
    used = tool if against == tool else f"its own classical base ({tool})"
    if margin is not None and margin > 0:  # it did beat it: it fell back for taking no training step (decide)
        return (
            f"The {head} head took no training step in this version (its training budget ran out first), so "
            f"this fix used {used} instead of the show model; a longer training budget trains it."
        )
    return (
        f"The {head} head did not beat the classical {against} on this show's held-out clips{by}: "
        f"this fix used {used} instead of the show model."
    )
