"""Options of the show model's training and inference, owned here and composed by daemon.settings."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TrainOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    budget_seconds: float = Field(600.0, gt=0, description="Wall-clock training budget per run.")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    seed: int = 0
    resolution: int = Field(256, ge=64, description="Short side of the training frames, pixels.")
    holdout_fraction: float = Field(0.2, ge=0, lt=1)
