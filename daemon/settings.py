"""Settings: one YAML file plus RUSHES_* environment variables (the environment wins).

Each package owns the options of its own part (ingest, trackers, engine); this module composes them.
Secrets (the tracker script key, the webhook secret) come only from the environment or a secrets file, never from YAML,
and are never logged. The environment and secrets layers are read by daemon.settings_env; the YAML reader and the
crontab parser load only when a file or a show needs them, so a command's start pays for neither.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from daemon.settings_env import PREFIX, EnvValueError, environment_layer, merged, secrets_layer
from engine.options import TrainOptions
from integrations.executors.options import ExecutorOptions
from integrations.ingest.options import IngestOptions
from integrations.trackers.options import TrackerOptions

SHOW_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")


class ConfigError(Exception):
    """The configuration is wrong; `problems` holds one line per problem, each naming its key path. `settings`:
    the settings as read, where they validated and only the checks after it found problems (`rushes config
    check` then runs its own checks on them too, so that one run names every problem)."""

    def __init__(self, problems: list[str], settings: Settings | None = None) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
        self.settings = settings


class TrainingWindow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cron: str = Field("0 1 * * *", description="When the nightly training window opens (crontab syntax).")
    hours: float = Field(5.0, gt=0, le=24, description="How long the window stays open.")
    quiet_minutes: float = Field(
        0,
        ge=0,
        le=30 * 24 * 60,
        description="Also train this long after the last new daily landed (0: only in the window; at most 30 days).",
    )
    timezone: str | None = Field(
        None,
        description="The IANA time zone `cron` is read in (e.g. America/Vancouver); default: the zone of the "
        "machine whose daemon runs the scheduler.",
    )

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is not None:
            from daemon.crontab import zone_named  # APScheduler: only for a show that names a zone

            zone_named(value)  # ValueError: one line naming the zone and what to give
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError("cron needs five fields: minute hour day month weekday")
        return value  # the fields themselves are checked by load_settings (see show_problems)


DEFAULT_SOURCES = {"exr": "scene_linear"}  # EXR holds scene-linear light, whatever else a show lists


class ReviewColor(BaseModel):
    """How review pictures of scene-referred and HDR dailies are made viewable (OpenColorIO; engine.color)."""

    model_config = ConfigDict(extra="forbid")

    config: str | None = Field(
        None,
        description="An OCIO config file or built-in name (default: $OCIO, else ocio://studio-config-latest).",
    )
    display: str | None = Field(None, description="The OCIO display (default: the config's default display).")
    view: str | None = Field(None, description="The OCIO view (default: the display's default view).")
    sources: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_SOURCES),
        description="The colour space (or role) of each kind of daily, by file extension; a kind not listed "
        "(movies, DPX, PNG, JPEG by default) is display-referred and shown as it is; exr is scene_linear unless "
        "named (listing a camera's log movies keeps it so). The keys hlg and pq name "
        "the space of movies tagged with that HDR transfer, whose review pictures are tone-mapped to the display "
        "and view (default: the built-in config's Rec.2100 display spaces to its SDR view).",
    )

    @field_validator("sources")
    @classmethod
    def _extensions(cls, value: dict[str, str]) -> dict[str, str]:
        # ".EXR" is exr; a show listing only its camera's log movies ({mov: LogC}) used to drop exr's default,
        # its EXR plates then clipped at 1.0 in their review movies, as if display-encoded
        return DEFAULT_SOURCES | {key.lower().lstrip("."): space for key, space in value.items()}


class ShowConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="Short show code, e.g. MYSHOW.")
    name: str = ""
    ingest: IngestOptions = Field(default_factory=IngestOptions)
    output_root: Path | None = Field(
        None, description="Where renders go (default: <data_dir>/renders/<code>)."
    )
    training: TrainingWindow = Field(default_factory=TrainingWindow)
    train: TrainOptions = Field(default_factory=TrainOptions)
    tracker_project: str | None = Field(None, description="Project code or name in the tracker.")
    color: ReviewColor = Field(default_factory=ReviewColor)
    movie_first_frame: int = Field(
        0,
        ge=0,
        le=9_999_999,
        description="The number of a movie daily's first frame, as the show's tracker and review tools count "
        "it (e.g. 1001): fix requests name frames by it, and Versions and renders carry it. Image sequences "
        "keep their files' numbers.",
    )

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        if not SHOW_CODE.match(value):
            raise ValueError(
                "show code must start with a letter and hold only letters, digits, _ and - (max 32)"
            )
        return value


class HttpOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(9478, ge=0, le=65535)


def default_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "rushes"


class Settings(BaseModel):
    # Every option; `load_settings` lays the environment (RUSHES_*) and the secrets folder over the YAML file.
    # (No docstring: it would become the description of the committed JSON schema.)
    model_config = ConfigDict(extra="forbid")

    data_dir: Path = Field(
        default_factory=default_home, description="Catalog, models, renders, logs (RUSHES_HOME)."
    )
    catalog_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in data_dir.")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"
    http: HttpOptions = Field(default_factory=HttpOptions)
    tracker: TrackerOptions = Field(default_factory=TrackerOptions)
    shows: list[ShowConfig] = Field(default_factory=list)
    max_jobs: int = Field(2, ge=1, description="Train and fix jobs run at once (one GPU job at a time).")
    executor: ExecutorOptions = Field(default_factory=ExecutorOptions)
    max_jobs_per_show: int | None = Field(
        None,
        ge=1,
        description="Train and fix jobs of one show running at once across every daemon (default: no limit).",
    )
    job_lease_seconds: float | None = Field(
        None,
        ge=2,
        description="How long a daemon holds a job between heartbeats before other daemons may take it over "
        "(default: 60 s for ingest and publish, 120 s for train and fix).",
    )

    @field_validator("catalog_url")
    @classmethod
    def _catalog_url(cls, value: str | None) -> str | None:
        return None if value is None else check_catalog_url(value)

    @property
    def catalog(self) -> str:
        return self.catalog_url or f"sqlite:///{self.data_dir / 'catalog.sqlite'}"

    def show(self, code: str) -> ShowConfig | None:
        return next((s for s in self.shows if s.code == code), None)

    def renders_dir(self, show: ShowConfig) -> Path:
        return show.output_root or self.data_dir / "renders" / show.code

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"


CATALOG_BACKENDS = ("sqlite", "postgresql")
_ESCAPE_PASSWORD = (
    "percent-encode the user name and password ('@' as %40, ':' as %3A, '/' as %2F, '%' as %25)"
)


def check_catalog_url(value: str) -> str:
    """A catalog URL SQLAlchemy can parse, for SQLite or PostgreSQL (ValueError: one line saying what to use)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from daemon.catalog.db import safe_url

    hint = "use sqlite:////path/catalog.sqlite or postgresql+psycopg://user@host/database"
    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError(f"{safe_url(value)!r} is not a database URL; {hint}") from None
    except ValueError:  # "invalid literal for int()": a ':' or '/' in the password read as the port's
        raise ValueError(f"{safe_url(value)!r} does not parse: {_ESCAPE_PASSWORD}") from None
    if url.get_backend_name() == "postgresql" and "@" in f"{url.host}{url.database}":
        # an '@' in the password: the rest of it read as the host (and a '/' after it as the database's)
        raise ValueError(f"{safe_url(value)!r} does not parse: {_ESCAPE_PASSWORD}")
    if url.get_backend_name() not in CATALOG_BACKENDS:
        raise ValueError(f"{url.get_backend_name()!r} is not a catalog database Rushes supports; {hint}")
    return value


def format_loc(loc: tuple[int | str, ...]) -> str:
    """('shows', 0, 'ingest', 'roots', 1) -> 'shows[0].ingest.roots[1]'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def validation_problems(error: ValidationError) -> list[str]:
    lines = []
    for item in error.errors():
        msg = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling)"
        elif item["type"] == "missing":
            msg = "required key is missing"
        loc = tuple(item["loc"])
        variable = _variable_setting(loc)  # not the file's: said, or a user reading the file for it is lost
        lines.append(f"{format_loc(loc)}: {msg}" + (f" (set by {variable})" if variable else ""))
    return lines


def _variable_setting(loc: tuple[int | str, ...]) -> str | None:
    """The RUSHES_* variable of the environment that sets the setting at `loc` (RUSHES_TRACKER__POLL_INTERVAL for
    tracker.poll_interval), None when none does; the environment wins over the file."""
    parts = [str(part).lower() for part in loc]
    for name in os.environ:
        if name.upper().startswith(PREFIX) and name[len(PREFIX) :].lower().split("__") == parts:
            return name
    return None


def read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        text = path.read_text(
            encoding="utf-8-sig"
        )  # whatever the locale; a leading byte-order mark is dropped
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the config file ({exc.strerror})"]) from exc
    except UnicodeDecodeError as exc:  # saved as Latin-1 or Windows-1252 by an editor
        line = exc.object[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} on line {line}): save it as UTF-8"]
        ) from exc
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML{_yaml_where(exc, text)}"]) from exc
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: the top level must be a mapping of keys"])
    return data


def _yaml_where(exc: Exception, text: str) -> str:
    """Where the YAML went wrong and what the parser found, with the usual cause named: a tab indenting."""
    mark = getattr(exc, "problem_mark", None)
    if mark is None:
        return ""
    lines = text.splitlines()
    line = lines[mark.line] if mark.line < len(lines) else ""
    indent = line[: len(line) - len(line.lstrip(" \t"))]
    if "\t" in indent:
        return f" at line {mark.line + 1}: it is indented with a tab; indent YAML with spaces"
    problem = getattr(exc, "problem", None)
    if problem and "unknown escape character" in str(problem):  # a template's `\d` in double quotes
        example = " ('{shot:sh\\d{3}}_{take}.{ext}')" if "{" in line else ""
        return (
            f" at line {mark.line + 1} ({problem}): in double quotes a backslash starts an escape; write a "
            f"value holding backslashes (a template's regular expression, a Windows path) in single quotes{example}"
        )
    return f" at line {mark.line + 1}" + (f" ({problem})" if problem else "")


def load_settings(
    path: Path | None = None, *, strict: bool = False, serves_webhook: bool = True, **overrides: Any
) -> Settings:
    """Load settings from an optional YAML file plus the environment; raise ConfigError with every problem.
    `strict` (`rushes config check`): an ingest folder that does not exist is a problem too; otherwise the
    daemon and the commands go on without it (one show's unmounted share must not stop the others).
    `serves_webhook=False` (a job's worker, handed no secrets, serves no webhook): `tracker.webhook` is left out."""
    data: dict[str, Any] = read_yaml(path) if path else {}
    tracker = data.get("tracker")
    if isinstance(tracker, dict) and "script_key" in tracker:
        raise ConfigError(
            ["tracker.script_key: secrets never go in YAML; set RUSHES_TRACKER__SCRIPT_KEY instead"]
        )
    webhook = tracker.get("webhook") if isinstance(tracker, dict) else None
    if isinstance(webhook, dict) and "secret" in webhook:
        raise ConfigError(
            ["tracker.webhook.secret: secrets never go in YAML; set RUSHES_TRACKER__WEBHOOK__SECRET instead"]
        )
    data.update(overrides)
    secrets = os.environ.get("RUSHES_SECRETS_DIR")
    if secrets and not Path(secrets).expanduser().is_dir():
        raise ConfigError(
            [f"RUSHES_SECRETS_DIR: {secrets} is not a folder: point it at the folder of secret files"]
        )
    try:  # the environment wins over the secrets folder, which wins over the file
        layers = secrets_layer(Settings, Path(secrets).expanduser()) if secrets else {}
        data = merged(merged(data, layers), environment_layer(Settings, os.environ))
    except EnvValueError as exc:
        raise ConfigError([str(exc)]) from None
    if not serves_webhook and isinstance(data.get("tracker"), dict):
        data["tracker"] = {key: value for key, value in data["tracker"].items() if key != "webhook"}
    folders = folder_problems(data.get("shows")) if strict else []
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(validation_problems(exc) + show_problems(data.get("shows")) + folders) from exc
    home = os.environ.get("RUSHES_HOME")
    if home:
        settings.data_dir = Path(home)
    settings.data_dir = settings.data_dir.expanduser().resolve()
    problems = (
        show_problems([show.model_dump() for show in settings.shows])
        + root_problems(settings.shows)
        + project_problems(settings.shows)
        + folders
        + (base_problems(settings) if strict else [])
    )
    if problems:
        raise ConfigError(problems, settings)
    return settings


def base_problems(settings: Settings) -> list[str]:
    """One line for each show whose `train.base` names no trained base under the data directory (or no such
    version, for NAME@v2), or one whose version's manifest is broken (edited, not sealed, not a base's): its
    first training would fail on it, at night. The weights are not hashed here (`rushes base show` does)."""
    from engine.model import ModelError
    from engine.model.base import check_base, parse_spec, version_folder

    lines = []
    for i, show in enumerate(settings.shows):
        if show.train.base:
            try:
                check_base(version_folder(settings.data_dir / "bases", *parse_spec(show.train.base)))
            except ModelError as exc:
                lines.append(f"shows[{i}].train.base: {exc}")
    return lines


def show_problems(shows: Any) -> list[str]:
    """One line for each show code defined a second time and each crontab line the scheduler would refuse,
    in a raw `shows` list (so that they are reported beside any other problem of the file)."""
    seen: set[str] = set()
    lines = []
    for i, show in enumerate(shows if isinstance(shows, list) else []):
        if not isinstance(show, dict):
            continue
        code = show.get("code")
        if isinstance(code, str) and code in seen:
            lines.append(f"shows[{i}].code: show {code!r} is defined twice")
        seen.add(str(code))
        training = show.get("training")
        cron = training.get("cron") if isinstance(training, dict) else None
        if isinstance(cron, str) and len(cron.split()) == 5:  # other shapes fail TrainingWindow already
            from daemon.crontab import crontab_trigger  # APScheduler: only for a show with a cron line

            try:
                crontab_trigger(cron, "UTC")  # the fields only: the zone is checked on its own
            except ValueError as exc:
                lines.append(f"shows[{i}].training.cron: {cron!r} is not a valid crontab line ({exc})")
    return lines


def shared_root(root: Path, code: str, theirs: Path) -> str | None:
    """The line saying that ingest folder `root` is show `code`'s folder `theirs`, or inside it, or holds it (a
    daily there would be catalogued for both shows: trained on by both, and a fix of one rendered from the
    other's plate); None when they are apart."""
    if root == theirs:
        where = "is"
    elif theirs in root.parents:
        where = "is inside"
    elif root in theirs.parents:
        where = "holds"
    else:
        return None
    return (
        f"{root} {where} show {code}'s ingest folder {theirs}: a daily there would belong to both shows; "
        "give each show a folder of its own"
    )


def shared_project(project: str, other: ShowConfig) -> str | None:
    """The line saying that show `other` follows tracker project `project` too (in any case: its
    `tracker_project`, else its code), so that the project's fix requests would all go to one of the two, fixed
    from that show's plates; None when it follows another."""
    if project.casefold() != (other.tracker_project or other.code).casefold():
        return None
    return (
        f"tracker project {project} is followed by show {other.code} too: a project's fix requests go to one "
        "show only, which would fix the other's shots from its own dailies; give each show its own "
        "tracker_project (one show can hold a whole series: its episodes' dailies in folders of their own)"
    )


def project_problems(shows: list[ShowConfig]) -> list[str]:
    """One line for each show following a tracker project that a show before it follows (a show defined twice
    is said as such: show_problems)."""
    lines = []
    for i, show in enumerate(shows):
        others = [other for other in shows[:i] if other.code != show.code]
        found = (shared_project(show.tracker_project or show.code, other) for other in others)
        lines += [f"shows[{i}].tracker_project: {line}" for line in found if line]
    return lines


def root_problems(shows: list[ShowConfig]) -> list[str]:
    """One line for each ingest folder of a show that is another show's, or inside it, or holds it."""
    lines = []
    for i, show in enumerate(shows):
        for j, root in enumerate(show.ingest.roots):
            for other in shows[:i]:
                found = (shared_root(root.path, other.code, theirs.path) for theirs in other.ingest.roots)
                lines += [f"shows[{i}].ingest.roots[{j}]: {line}" for line in found if line]
    return lines


def folder_problems(shows: Any) -> list[str]:
    """One line for each ingest folder of a raw `shows` list that does not exist (or is not a folder)."""
    lines = []
    for i, show in enumerate(shows if isinstance(shows, list) else []):
        ingest = show.get("ingest") if isinstance(show, dict) else None
        roots = ingest.get("roots") if isinstance(ingest, dict) else None
        for j, root in enumerate(roots if isinstance(roots, list) else []):
            path = root.get("path") if isinstance(root, dict) else root
            if isinstance(path, str | Path) and not Path(path).is_dir():
                lines.append(f"shows[{i}].ingest.roots[{j}]: folder does not exist: {path}")
    return lines


def json_schema() -> dict[str, Any]:
    return Settings.model_json_schema()
