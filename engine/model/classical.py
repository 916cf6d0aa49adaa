"""The classical stand-in: what fixes a show with no trained model yet.

Before a show's first version is trained (its first day, or a show whose training failed), a fix still renders,
with the tool its head falls back to when it does not beat it (`engine.baselines.fallback`): the flow path of
interpolate, NL-means, Lanczos, temporal fill plus Telea, and the matched grade towards a reference. The stand-in is
a `ModelVersion` whose every head's source is that baseline and whose nets are fresh (each an exact no-op over
its classical base), so the fix path runs it as it runs a version's fallback; it has no folder, no weights and
no scores, and no version number. A regrade without a reference cannot stand in: with no reference it
restores the show's own look, which only a trained version has learned (`cannot_stand_in` says so).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.baselines.fallback import fallback_tool, label
from engine.model.manifest import Manifest
from engine.model.show import ShowModel
from engine.model.version import ModelVersion

CLASSICAL = "classical"  # the stand-in's version name (a trained version's is v1, v2, ...)


def classical_version(show: str, heads: tuple[str, ...], stands_in_for: str = "") -> ModelVersion:
    """The stand-in for `show` with fresh nets of `heads`, each fixing with its classical tool (a fix whose
    source is a baseline runs that tool, or a fresh net of its own: daemon.stages.fixing._run). `stands_in_for`:
    the promoted version an older Rushes made, which this one cannot use (kept in its config for the notes)."""
    names = list(heads)
    manifest = Manifest(
        show=show,
        version=CLASSICAL,
        heads=names,
        sources={head: f"baseline:{fallback_tool(head, {})}" for head in names},
        config={"stands_in_for": stands_in_for} if stands_in_for else {},
    )
    return ModelVersion(Path(), manifest, ShowModel.fresh(names))


def classical_note(head: str, show: str, stands_in_for: str = "") -> str:
    """The sentence a fix by the stand-in carries: which tool made it and when the show's model takes over."""
    tool = label(fallback_tool(head, {}))
    had = (
        f"Show {show}'s model {stands_in_for} was made by an older Rushes, which this one cannot use"
        if stands_in_for
        else f"Show {show} has no trained model yet"
    )
    return (
        f"{had}, so the classical {tool} made this fix; fixes use the show's "
        f"model once `rushes train --show {show}` or its nightly training has made one."
    )


def cannot_stand_in(
    head: str, params: Mapping[str, Any], show: str, reference: str = "reference="
) -> str | None:
    """One line when the stand-in cannot make a fix of `head` with `params`, else None; `reference` is how the
    reader names a reference (a request's `reference=`, `rushes fix`'s `--reference`)."""
    if head == "regrade" and params.get("reference") in (None, ""):
        return (
            f"regrade without {reference} restores show {show}'s own look, which only a trained model knows, and "
            f"{show} has none yet: name a reference frame to match with {reference}, or ask again once its first "
            f"model is trained (by its nightly training, or `rushes train --show {show}`)"
        )
    return None
