"""Options of the tracker adapters, owned here and composed by daemon.settings."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

RESERVED_PATHS = ("/healthz", "/readyz", "/metrics")


class WebhookOptions(BaseModel):
    """Flow Production Tracking webhooks received on the daemon's HTTP port (off while `path` is empty)."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field("", description="Route on the daemon's HTTP port, e.g. /flow-webhook (empty: off).")
    secret: SecretStr | None = Field(
        None,
        description="Secret: only from RUSHES_TRACKER__WEBHOOK__SECRET or a secrets file, never from YAML.",
    )

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if value and (not value.startswith("/") or value.split("?")[0] != value or value in RESERVED_PATHS):
            raise ValueError(
                "the webhook path must start with / (no query) and not be /healthz, /readyz or /metrics"
            )
        return value

    @model_validator(mode="after")
    def _secret(self) -> WebhookOptions:
        if self.path and (self.secret is None or not self.secret.get_secret_value().strip()):
            raise ValueError(
                "a webhook path needs its secret: set RUSHES_TRACKER__WEBHOOK__SECRET "
                "(or the secrets file tracker__webhook__secret) to the secret entered on the Flow site"
            )
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.path)


class TrackerOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["none", "shotgrid", "kitsu"] = "none"
    url: str = Field(
        "", description="https://studio.shotgrid.autodesk.com, http://127.0.0.1:8765, or the Kitsu API URL."
    )
    script_name: str = Field("", description="ShotGrid script name (or Kitsu login e-mail).")
    script_key: SecretStr | None = Field(
        None, description="Secret: only from RUSHES_TRACKER__SCRIPT_KEY or a secrets file, never from YAML."
    )
    fix_status: str = Field("fix", description="Task status that means 'please fix'.")
    fix_field: str = Field("sg_rushes_fixes", description="Task field carrying the fix kinds and parameters.")
    published_status: str = Field("rev", description="Task status set once a fix is published.")
    failed_status: str = Field(
        "hld",
        description="Task status set when Rushes cannot do a fix request, beside a note on the task saying "
        "why (ShotGrid's On Hold; on Kitsu, left at this default, the stock 'todo').",
    )
    version_status: str = Field("rev", description="Status of a new Version (pending review).")
    approved_status: str = Field("apr", description="Version status that means approved.")
    rejected_status: str = Field("rej", description="Version status that means rejected.")
    omitted_status: str = Field(
        "omt",
        description="Shot status that means omitted from the cut: a fix asked on one of its tasks is answered, "
        "not made (ShotGrid; empty: never. On Kitsu a shot is out of the cut when cancelled).",
    )
    key_field: str = Field("sg_rushes_key", description="Version field holding the publish idempotency key.")
    poll_interval: float = Field(10.0, gt=0, description="Seconds between event polls.")
    timeout: float = Field(
        30.0,
        gt=0,
        description="Seconds one tracker call waits for its answer before it times out and is tried again (a "
        "ShotGrid upload: this plus its size at 256 KiB/s; a Kitsu upload: at least 600 s); a read still waiting "
        "after twice this (at least 60 s) is said by /readyz and rushes status.",
    )
    call_attempts: int | None = Field(
        None,
        ge=1,
        description="Calls in all for one tracker request that fails transiently (connection error, timeout, "
        "5xx), waiting 0.5 s, 1 s, 2 s ... between them, before its job gives up and tries again later "
        "(default: 6 on ShotGrid, 4 on Kitsu).",
    )
    webhook: WebhookOptions = Field(
        default_factory=WebhookOptions, description="Flow webhooks on the daemon's HTTP port (shotgrid only)."
    )

    @model_validator(mode="after")
    def _webhook_kind(self) -> TrackerOptions:
        if self.webhook.enabled and self.kind != "shotgrid":
            raise ValueError(
                "tracker.webhook receives Flow Production Tracking webhooks: set kind to shotgrid"
            )
        return self
