"""Options of the ingest watcher, owned here and composed by daemon.settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from integrations.ingest.templates import TemplateChoice

DEFAULT_IGNORE = (
    "*.part",
    "*.tmp",
    ".*",  # hidden files, rsync temp names, .DS_Store, .snapshot
    "*~",
    "*.crdownload",
    ".~*",
    "*.!sync",
    "*.filepart",  # WinSCP
    "*.partial",
    "*.aspx",  # Aspera
    "*.download",
)


class IngestRoot(BaseModel):
    """One folder that dailies land in (a plain string in YAML means a local folder)."""

    model_config = ConfigDict(extra="forbid")

    path: Path
    network: bool = Field(False, description="NFS/SMB mount: watch by polling instead of inotify.")

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, str | Path) else value

    @model_validator(mode="after")
    def _resolved(self) -> IngestRoot:
        # A folder missing now (an unmounted share, an archived show) is not an error here: the watcher scans
        # it at each reconcile and watches it once it is there. `rushes config check` and `rushes show add`
        # say when one is missing (daemon.settings.folder_problems).
        self.path = self.path.resolve()
        return self


class IngestOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roots: list[IngestRoot] = Field(default_factory=list)
    path_template: str | list[str] = Field(
        "{shot}_{take}.{ext}",
        description="Maps a movie path (relative to its root) to a shot and take, e.g. {show}/{date}/{shot}_{take}.{ext}; "
        "a list is tried in order (a naming change mid-show: the old names and the new).",
    )
    sequence_template: str | list[str] = Field(
        "{shot}/{shot}.####.{ext}",
        description="Maps an image sequence to a shot, e.g. {shot}/{shot}.####.exr (#### = frame number); "
        "a list is tried in order.",
    )
    stable_seconds: float = Field(5.0, ge=0, description="Size and mtime must hold this long before ingest.")
    poll_interval: float = Field(2.0, gt=0, description="Polling period for network roots, seconds.")
    reconcile_interval: float = Field(600.0, gt=0, description="Full rescan period, seconds.")
    ignore: list[str] = Field(default_factory=lambda: list(DEFAULT_IGNORE))

    @field_validator("path_template", mode="before")
    @classmethod
    def _movie_template(cls, value: Any) -> Any:
        TemplateChoice(_templates(value, "path_template"), sequence=False)
        return value

    @field_validator("sequence_template", mode="before")
    @classmethod
    def _sequence_template(cls, value: Any) -> Any:
        TemplateChoice(_templates(value, "sequence_template"), sequence=True)
        return value


def _templates(value: Any, name: str) -> str | list[str]:
    """A template, or a list of them (checked before pydantic's union, so a wrong one is named once)."""
    if isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        return value
    example = "{shot}/{shot}.####.{ext}" if name == "sequence_template" else "{shot}_{take}.{ext}"
    raise ValueError(f"{name} must be a template or a list of templates, e.g. {example}")
