"""Options of the executors, owned here and composed by daemon.settings (as `executor:`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ExecutorOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["local", "ray"] = Field(
        default="local", description="local: worker subprocesses here; ray: a Ray cluster."
    )
    gpus: int | None = Field(
        default=None,
        ge=0,
        description="GPUs the local executor may use, one job each (default: the visible ones).",
    )
    grace_seconds: float = Field(
        default=10.0, gt=0, description="How long a cancelled job gets after SIGTERM before SIGKILL."
    )
    ray_address: str | None = Field(
        default=None, description="Ray cluster address, e.g. ray://ray-head:10001 or auto (kind: ray only)."
    )
    ray_task_retries: int = Field(
        default=1,
        ge=0,
        description="Times Ray reruns a task whose worker process or node died (kind: ray only).",
    )
    ray_reconnect_seconds: float = Field(
        default=10.0, gt=0, description="How often to try again while Ray is unreachable (kind: ray only)."
    )
    ray_call_timeout_seconds: float = Field(
        default=120.0,
        gt=0,
        description=(
            "Longest a call to Ray may take before the executor gives up on it: jobs in flight fail to be "
            "retried, /readyz names the call, and the executor reconnects (kind: ray only)."
        ),
    )
