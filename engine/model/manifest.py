"""manifest.json of a model version: what it was trained on, how, and how it scored."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FORMAT_VERSION = 2  # 2: sealed (engine.model.seal)


class ClipRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str  # the caller's name for the clip (catalog id, path)
    content_hash: str
    frames: int
    # frames (of this record's range) that start a new shot; nothing is learned across them
    cuts: list[int] = Field(default_factory=list)


class BaseRef(BaseModel):
    """The studio base version a show model grew from: enough to trace its weights to a declared corpus."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: str
    weights_sha256: str
    declaration: str  # the base corpus's ownership or licence statement
    folder: str = ""
    clips: int = 0  # how many corpus clips the base lists (trained on and held out)
    seal: str = ""  # the base manifest's seal (engine.model.seal) when the show version was made


class Exclusion(BaseModel):
    """A daily a filmmaker excluded from training, and why."""

    model_config = ConfigDict(extra="forbid")

    id: str
    content_hash: str = ""
    reason: str


class ExampleRecord(BaseModel):
    """An approved before/after pair trained on as a weighted example."""

    model_config = ConfigDict(extra="forbid")

    id: str
    head: str
    before_hash: str
    after_hash: str
    frames: int
    weight: float
    trained: bool = True  # False when this build's head cannot learn from such a pair (then only listed)
    label: str = ""  # how people know it, in the caller's words (the tracker Version it was published as)


class LeftOutPair(BaseModel):
    """An approved before/after pair this version did not learn from, and why (an excluded daily, files gone)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    head: str
    reason: str
    label: str = ""  # how people know it, in the caller's words (the tracker Version it was published as)


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format_version: int = FORMAT_VERSION
    show: str = ""
    version: str
    parent: str | None = None
    clips: list[ClipRecord] = Field(default_factory=list)  # training clips
    holdout: list[ClipRecord] = Field(default_factory=list)  # clips (or clip tails) used for evaluation only
    holdout_mode: str = "clips"  # "clips" (whole clips held out) or "tails" (the tail of every clip)
    heads: list[str] = Field(default_factory=list)
    config: dict[str, Any] = Field(default_factory=dict)  # per-head net configs and the training options
    seed: int = 0
    steps: dict[str, int] = Field(default_factory=dict)
    code_version: str = ""
    metrics: dict[str, dict[str, float]] = Field(default_factory=dict)  # this model on the held-out clips
    parent_metrics: dict[str, dict[str, float]] = Field(default_factory=dict)  # parent on the same clips
    promotable: dict[str, bool] = Field(default_factory=dict)
    # per head, what a fix uses: "trained", "parent:<version>" (the parent's weights, kept) or
    # "baseline:<tool>" (the classical tool; engine.model.promotion). Empty in versions made before.
    sources: dict[str, str] = Field(default_factory=dict)
    weights_sha256: str = ""
    # "show": a show's mini-model; "base": a studio base model trained on a declared corpus
    kind: Literal["show", "base"] = "show"
    declaration: str = ""  # base: the corpus's ownership or licence statement
    corpus: list[str] = Field(default_factory=list)  # base: the corpus folders as given
    # base: each corpus folder's own declaration (`declaration` joins them); empty in bases made before
    declarations: dict[str, str] = Field(default_factory=dict)
    skipped: list[Exclusion] = Field(default_factory=list)  # base: corpus files that cannot be read, and why
    base: BaseRef | None = None  # show: the base version its first version started from
    # show: why it was not grown from the promoted version (its lineage learned from a daily excluded since);
    # it started afresh from `base`, or from scratch, as a first version. "" when grown as usual.
    fresh_start: str = ""
    exclusions: list[Exclusion] = Field(default_factory=list)  # dailies left out, with the reasons
    examples: list[ExampleRecord] = Field(default_factory=list)  # approved pairs trained on
    # approved pairs left out, with the reasons; empty in versions made before they were listed
    pairs_left_out: list[LeftOutPair] = Field(default_factory=list)
    # The encoding its scene-linear (EXR) clips were read in (engine.media.working.WORKING_ENCODING); "" in
    # versions made before EXR clips were worked on in it: those saw their light clipped at 1.0, in 8 bits.
    scene_linear: str = ""
    created: datetime = Field(default_factory=lambda: datetime.now(UTC))
    parent_seal: str = ""  # the parent version's seal when this one was made (a hash chain over the lineage)
    seal: str = ""  # SHA-256 of everything above, written last (engine.model.seal)


def code_version(package_file: Path = Path(__file__)) -> str:
    """The installed `rushes` version, plus `git describe` when the engine runs from a Rushes checkout (never from
    an installed wheel: a virtual environment inside some other repository would record that one's commit)."""
    try:
        version = metadata.version("rushes")
    except metadata.PackageNotFoundError:
        version = "0+unknown"
    checkout = source_checkout(package_file)
    if checkout is None:
        return version
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=checkout,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        described = ""
    return f"{version}+{described}" if described else version


def source_checkout(package_file: Path) -> Path | None:
    """The checkout the engine runs from, given this module's path (engine/model/manifest.py): the folder above the
    packages when it holds the repository (.git and pyproject.toml); None for an installed package."""
    root = package_file.resolve().parents[2]
    return root if (root / ".git").exists() and (root / "pyproject.toml").is_file() else None
