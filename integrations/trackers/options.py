"""Options of the tracker adapters, owned here and composed by daemon.settings."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class TrackerOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["none", "shotgrid", "kitsu"] = "none"
    url: str = Field("", description="https://studio.shotgrid.autodesk.com, http://127.0.0.1:8765, or the Kitsu API URL.")
    script_name: str = Field("", description="ShotGrid script name (or Kitsu login e-mail).")
    script_key: SecretStr | None = Field(
        None, description="Secret: only from RUSHES_TRACKER__SCRIPT_KEY or a secrets file, never from YAML."
    )
    fix_status: str = Field("fix", description="Task status that means 'please fix'.")
    fix_field: str = Field("sg_rushes_fixes", description="Task field carrying the fix kinds and parameters.")
    published_status: str = Field("rev", description="Task status set once a fix is published.")
    version_status: str = Field("rev", description="Status of a new Version (pending review).")
    approved_status: str = Field("apr", description="Version status that means approved.")
    rejected_status: str = Field("rej", description="Version status that means rejected.")
    key_field: str = Field("sg_rushes_key", description="Version field holding the publish idempotency key.")
    poll_interval: float = Field(10.0, gt=0, description="Seconds between event polls.")
    timeout: float = Field(30.0, gt=0, description="Seconds before one tracker call times out.")
