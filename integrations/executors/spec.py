"""What an executor runs (`JobSpec`) and what it reports back (`JobOutcome`): plain JSON-friendly data.

The entry point is a dotted string, "package.module:function"; only the worker resolves it, so the
process that submits a job never imports the job's code.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ENTRY_POINT = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
MAX_ERROR_CHARS = 500
# Names of Rushes' secrets (the tracker's script key or Kitsu password, the webhook secret, the secrets folder):
# a job reads the catalog and files, never the tracker, so its worker is never handed them.
SECRET_NAME = re.compile(r"KEY|SECRET|PASSWORD|TOKEN", re.IGNORECASE)


def without_secrets(environ: dict[str, str]) -> dict[str, str]:
    """`environ` less Rushes' secrets (RUSHES_* names with KEY, SECRET, PASSWORD or TOKEN): what a job's worker
    process (and the codecs it runs) is handed."""
    return {k: v for k, v in environ.items() if not (k.startswith("RUSHES_") and SECRET_NAME.search(k))}


class InvalidJobSpec(ValueError):
    """A job spec is malformed (bad entry point, arguments that are not JSON, bad timeout)."""


class NotRetryable(Exception):
    """Raised by a job that can never succeed as asked (bad parameters, missing input): its outcome says
    `retryable=False`, so whoever queued it knows that running it again cannot help."""


def one_line(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """Collapse `text` to one line of at most `limit` characters (for `JobOutcome.error`)."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class JobSpec:
    """One job: which function to call in a worker, with which JSON arguments and resources."""

    id: str
    kind: str
    entry_point: str
    args: dict[str, Any] = field(default_factory=dict)
    needs_gpu: bool = False
    env: dict[str, str] = field(default_factory=dict)
    timeout_s: float | None = None
    log_path: str | None = None

    def __post_init__(self) -> None:
        if not self.id or not str(self.id).strip():
            raise InvalidJobSpec("job spec: id must not be empty")
        if not ENTRY_POINT.match(self.entry_point):
            raise InvalidJobSpec(
                f"job {self.id}: entry point {self.entry_point!r} must look like 'package.module:function'"
            )
        if not isinstance(self.args, dict) or not _is_json(self.args):
            raise InvalidJobSpec(
                f"job {self.id}: args must be a JSON object (strings, numbers, lists, dicts)"
            )
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in self.env.items()):
            raise InvalidJobSpec(f"job {self.id}: env must map strings to strings")
        if self.timeout_s is not None and not self.timeout_s > 0:
            raise InvalidJobSpec(f"job {self.id}: timeout_s must be positive (or None for no limit)")
        if isinstance(self.log_path, Path):
            object.__setattr__(self, "log_path", str(self.log_path))

    @property
    def module(self) -> str:
        return self.entry_point.split(":", 1)[0]

    @property
    def function(self) -> str:
        return self.entry_point.split(":", 1)[1]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSpec:
        try:
            return cls(**data)
        except TypeError as exc:
            raise InvalidJobSpec(f"job spec: {exc}") from exc

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidJobSpec(f"job spec: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
        if not isinstance(data, dict):
            raise InvalidJobSpec("job spec: the JSON must be an object")
        return cls.from_dict(data)


@dataclass(frozen=True)
class JobOutcome:
    """How a job ended. `error` is one line ("" when ok); `exit_code` is None where there was no process;
    `retryable` is False for a failure that running the job again cannot mend (the job raised NotRetryable)."""

    id: str
    ok: bool
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    exit_code: int | None = None
    duration_s: float = 0.0
    retryable: bool = True

    @classmethod
    def failed(
        cls,
        id: str,
        error: str,
        exit_code: int | None = None,
        duration_s: float = 0.0,
        retryable: bool = True,
    ) -> JobOutcome:
        return cls(
            id=id,
            ok=False,
            error=one_line(error),
            exit_code=exit_code,
            duration_s=duration_s,
            retryable=retryable,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobOutcome:
        return cls(
            id=str(data["id"]),
            ok=bool(data["ok"]),
            result=dict(data.get("result") or {}),
            error=one_line(data.get("error") or ""),
            exit_code=data.get("exit_code"),
            duration_s=float(data.get("duration_s") or 0.0),
            retryable=bool(data.get("retryable", True)),
        )

    @classmethod
    def from_json(cls, text: str) -> JobOutcome:
        return cls.from_dict(json.loads(text))
