"""The catalog's tables as typed SQLAlchemy models. Every timestamp is timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from daemon.catalog.db import utcnow

# A name the tracker or a file's name gives (a shot, a take) is as long as they allow: unbounded on PostgreSQL
# (migration 0012), where a VARCHAR(200) refused a long one and with it the whole batch of requests polled beside
# it. SQLite never held to the length.
NAME = String(200).with_variant(Text(), "postgresql")

DAILY_KINDS = ("movie", "sequence")
DAILY_STATES = ("registered", "quarantined", "superseded", "removed")
JOB_STATES = ("queued", "running", "done", "dead")
FIX_STATES = ("open", "rendering", "rendered", "published", "approved", "rejected", "failed", "withdrawn")
PUBLICATION_STATES = ("pending", "published")
REVIEW_STATES = ("pending", "approved", "rejected")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC: timestamptz on PostgreSQL, naive UTC text on SQLite; always read back aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the catalog stores timezone-aware UTC times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Show(Timestamps, Base):
    __tablename__ = "shows"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    model_stale: Mapped[bool] = mapped_column(Boolean, default=False)
    promoted_version: Mapped[int | None] = mapped_column(Integer)
    # set when the show was wrapped (`rushes show wrap`): no daemon watches, trains or fixes it until reopened
    wrapped_at: Mapped[datetime | None] = mapped_column()
    wrap_note: Mapped[str | None] = mapped_column(Text)

    def __repr__(self) -> str:
        return f"<Show {self.code}>"


class Daily(Timestamps, Base):
    __tablename__ = "dailies"
    __table_args__ = (
        # At most one current (not superseded) row per path and show.
        Index(
            "uq_dailies_current_path",
            "show_id",
            "path",
            unique=True,
            sqlite_where=text("status != 'superseded'"),
            postgresql_where=text("status != 'superseded'"),
        ),
        Index("ix_dailies_show_shot", "show_id", "shot"),
        Index("ix_dailies_show_status", "show_id", "status"),
        # Content is identified by hash: at most one current row per content and show (copies are aliases).
        Index(
            "uq_dailies_current_content",
            "show_id",
            "content_hash",
            unique=True,
            sqlite_where=text("status != 'superseded' AND content_hash IS NOT NULL"),
            postgresql_where=text("status != 'superseded' AND content_hash IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(Text)  # a movie path, or a sequence pattern like /x/A010.####.exr
    root: Mapped[str] = mapped_column(Text, default="")  # the ingest root it was found under
    shot: Mapped[str | None] = mapped_column(NAME)
    take: Mapped[str | None] = mapped_column(String(64).with_variant(Text(), "postgresql"))
    kind: Mapped[str | None] = mapped_column(String(16))  # movie | sequence (None when unreadable)
    first_frame: Mapped[int | None] = mapped_column(Integer)
    last_frame: Mapped[int | None] = mapped_column(Integer)
    frame_count: Mapped[int | None] = mapped_column(Integer)
    fps: Mapped[str | None] = mapped_column(String(32))  # exact rational text, "24000/1001" or "25"
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    codec: Mapped[str | None] = mapped_column(String(64))
    pix_fmt: Mapped[str | None] = mapped_column(String(64))
    timecode: Mapped[str | None] = mapped_column(String(32))
    missing_frames: Mapped[list[Any]] = mapped_column(default=list)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    mtime: Mapped[float] = mapped_column(Float)  # seconds since the epoch, as os.stat gives it
    content_hash: Mapped[str | None] = mapped_column(String(128))
    # inode and ctime of the file(s) when hashed: content rewritten with size and mtime kept changes it
    change_stamp: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="registered")
    error: Mapped[str | None] = mapped_column(Text)  # one-line reason when quarantined or removed
    # set when a filmmaker excluded the daily from training (`rushes dailies exclude`); never trained on
    excluded_reason: Mapped[str | None] = mapped_column(Text)
    excluded_at: Mapped[datetime | None] = mapped_column()

    show: Mapped[Show] = relationship(lazy="joined", innerjoin=True)

    def __repr__(self) -> str:
        return f"<Daily {self.id} {self.status} {self.path}>"


class DailyAlias(Base):
    """Another path holding byte-identical content of a daily (a copy or a renamed duplicate)."""

    __tablename__ = "daily_aliases"
    __table_args__ = (UniqueConstraint("show_id", "path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"))
    daily_id: Mapped[int] = mapped_column(ForeignKey("dailies.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    mtime: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    daily: Mapped[Daily] = relationship(lazy="joined", innerjoin=True)

    def __repr__(self) -> str:
        return f"<DailyAlias {self.path} -> {self.daily_id}>"


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("show_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)  # 1, 2, ... per show
    parent_version: Mapped[int | None] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(Text)  # the folder with weights.safetensors + manifest.json
    promoted: Mapped[bool] = mapped_column(Boolean, default=False)
    promoted_at: Mapped[datetime | None] = mapped_column()
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    show: Mapped[Show] = relationship(lazy="joined", innerjoin=True)

    def __repr__(self) -> str:
        return f"<ModelVersion {self.show_id} v{self.version}>"


class Job(Timestamps, Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_state_run_after", "state", "run_after"),
        Index("ix_jobs_kind_state", "kind", "state"),  # the queue depths (/metrics, status) count from it
        # the ended jobs `rushes prune` has not emptied yet (daemon.catalog.jobs.prune_ended), not the years before
        Index(
            "ix_jobs_unpruned",
            "state",
            "finished_at",
            sqlite_where=text("pruned_at IS NULL"),
            postgresql_where=text("pruned_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # ingest | train | fix | publish | feedback ...
    key: Mapped[str] = mapped_column(String(300), unique=True)  # idempotency key
    show: Mapped[str | None] = mapped_column(String(32))  # a show code (plain text: jobs outlive shows)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    run_after: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires: Mapped[datetime | None] = mapped_column()
    heartbeat_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    finished_at: Mapped[datetime | None] = mapped_column()
    # while running: one line its worker writes as it goes (cleared when the job is claimed again)
    progress: Mapped[str | None] = mapped_column(Text)
    # when `rushes prune --yes` emptied the payload and result of this ended job (its key stays: never redone)
    pruned_at: Mapped[datetime | None] = mapped_column()

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.kind} {self.state} {self.key}>"


class FixRequest(Timestamps, Base):
    __tablename__ = "fix_requests"
    __table_args__ = (Index("ix_fix_requests_show_state", "show_id", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"))
    request_key: Mapped[str] = mapped_column(String(300), unique=True)  # the tracker's stable key
    shot: Mapped[str] = mapped_column(NAME)  # shot code
    shot_id: Mapped[str | None] = mapped_column(String(64))  # the tracker's shot id, as text
    task_id: Mapped[str | None] = mapped_column(String(64))  # the tracker's task id, as text
    kinds: Mapped[list[Any]] = mapped_column(default=list)  # e.g. ["interpolate", "regrade"]
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    note: Mapped[str | None] = mapped_column(Text)
    # the tracker's shot qualified by its sequence and episode, most specific first (Kitsu's E02_SQ01_SH020): how
    # its files are named where `shot` repeats; the answers name the shot by it
    qualified_codes: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    state: Mapped[str] = mapped_column(String(16), default="open")
    rejection_note: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)  # one-line reason when failed

    show: Mapped[Show] = relationship(lazy="joined", innerjoin=True)
    publications: Mapped[list[Publication]] = relationship(
        back_populates="fix_request", order_by="Publication.id", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<FixRequest {self.id} {self.shot} {self.state}>"


class Publication(Timestamps, Base):
    __tablename__ = "publications"
    __table_args__ = (Index("ix_publications_review", "review_status", "fix_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    fix_request_id: Mapped[int] = mapped_column(ForeignKey("fix_requests.id", ondelete="CASCADE"), index=True)
    fix_kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(300), unique=True)  # idempotency key of the tracker write
    tracker_version_id: Mapped[str | None] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    model_version: Mapped[int | None] = mapped_column(Integer)  # the show model version that rendered it
    source_path: Mapped[str | None] = mapped_column(Text)  # the daily it was rendered from ("before")
    # that daily's content hash as it was read: a plate delivered again under the same name is other content
    source_hash: Mapped[str | None] = mapped_column(String(128))
    movie_path: Mapped[str] = mapped_column(Text)  # the fixed review movie ("after")
    before_after_path: Mapped[str | None] = mapped_column(Text)
    extra_files: Mapped[dict[str, Any]] = mapped_column(default=dict)  # role -> path: frames, lut, otio ...
    review_status: Mapped[str] = mapped_column(String(16), default="pending")
    review_note: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column()
    reviewed_at: Mapped[datetime | None] = mapped_column()

    fix_request: Mapped[FixRequest] = relationship(
        back_populates="publications", lazy="joined", innerjoin=True
    )

    def __repr__(self) -> str:
        return f"<Publication {self.id} {self.fix_kind} {self.state}/{self.review_status}>"


class TrackerCursor(Base):
    __tablename__ = "tracker_cursors"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TrackerRead(Base):
    """How a daemon's last reads of the tracker went (daemon.catalog.tracker_reads), for `rushes status`."""

    __tablename__ = "tracker_reads"

    host: Mapped[str] = mapped_column(String(200), primary_key=True)  # the daemon's machine
    tracker: Mapped[str] = mapped_column(String(50))
    problem: Mapped[str | None] = mapped_column(Text, nullable=True)  # None: its reads go through
    since: Mapped[datetime]  # when the reads began to fail, or to go through
    read_at: Mapped[datetime | None] = mapped_column(nullable=True)  # its last good read
    checked_at: Mapped[datetime]  # its last round, whatever came of it (refreshed at least once a minute)


class UnfollowedRequest(Base):
    """A fix request read on a tracker project no show follows (daemon.catalog.unfollowed), for `rushes status`."""

    __tablename__ = "unfollowed_requests"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)  # the tracker's request key
    tracker: Mapped[str] = mapped_column(String(50))
    project: Mapped[str] = mapped_column(String(200))  # the project as the tracker names it (its code first)
    names: Mapped[list[Any]] = mapped_column(default=list)  # every name the project goes by: code, then name
    shot: Mapped[str] = mapped_column(String(200))  # the tracker's shot code
    seen_at: Mapped[datetime] = mapped_column(index=True)
