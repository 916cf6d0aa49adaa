"""Options of the show model's training and inference, owned here and composed by daemon.settings."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class TrainOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    budget_seconds: float = Field(
        600.0, gt=0, le=30 * 24 * 3600, description="Wall-clock training budget per run (at most 30 days)."
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: int = 0
    resolution: int = Field(256, ge=64, description="Short side of the training frames, pixels.")
    native_resolution: int = Field(
        1080,
        ge=0,
        description="Short side cap, pixels, of the frames the heads whose fixes depend on the scale (upscale) "
        "train and are scored on: the footage at its own size up to this. 0: at `resolution` like the others.",
    )
    holdout_fraction: float = Field(0.2, ge=0, lt=1)
    base: str | None = Field(
        None,
        description="A studio base model (`rushes base train --name NAME`) the show's first version starts "
        "from: NAME (its newest finished version) or NAME@v2 (that version, pinned); later versions start from "
        "their parent. None: from scratch.",
    )
    cpu_threads: int | None = Field(
        None,
        ge=1,
        description="CPU threads while training (torch's and OpenCV's, which draws the batches); default their "
        "own (the cores they see). On a machine "
        "busy with other work fewer threads train faster: 1 thread ran 15x more steps than 2 on two "
        "oversubscribed cores.",
    )

    @field_validator("base")
    @classmethod
    def _base_spec(cls, value: str | None) -> str | None:
        from engine.model.base import parse_spec  # no torch: `rushes config check` stays quick
        from engine.model.version import ModelError

        if value is not None:
            try:
                parse_spec(value)
            except ModelError as exc:
                raise ValueError(str(exc)) from None
        return value
