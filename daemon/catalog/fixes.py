"""Fix requests from the tracker (or the CLI) and the publications they lead to.

A fix request is inserted once per tracker request key. Each fix kind it asks for is published as one
tracker Version through an outbox row keyed by an idempotency key: `pending` until the tracker write
succeeded, then `published` with the tracker's version id. Supervisors' reviews come back onto the
publication; approved ones are the before/after example pairs later training runs may use.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session, selectinload

from daemon.catalog.db import insert_once, utcnow
from daemon.catalog.jobs import jobs_by_key
from daemon.catalog.models import FIX_STATES, REVIEW_STATES, FixRequest, Job, Publication, Show
from daemon.catalog.shows import require_show


def add_fix_request(
    s: Session,
    show: str,
    request_key: str,
    shot: str,
    kinds: Sequence[str],
    params: dict[str, Any] | None = None,
    *,
    task_id: int | str | None = None,
    shot_id: int | str | None = None,
    note: str | None = None,
    qualified_codes: Sequence[str] = (),
) -> tuple[FixRequest, bool]:
    """Record a fix request once per tracker request key -> (request, created). `shot` is what its dailies are
    matched by; `qualified_codes` only name the shot in answers (as its files would be named)."""
    existing = get_fix_request_by_key(s, request_key)
    if existing is not None:
        return existing, False
    request = FixRequest(
        show_id=require_show(s, show).id,
        request_key=request_key,
        shot=shot,
        shot_id=None if shot_id is None else str(shot_id),
        task_id=None if task_id is None else str(task_id),
        kinds=list(kinds),
        params=dict(params or {}),
        note=note,
        qualified_codes=list(qualified_codes),
        state="open",
    )
    return insert_once(s, request, lambda: get_fix_request_by_key(s, request_key))


def get_fix_request(s: Session, request_id: int) -> FixRequest | None:
    return s.get(FixRequest, request_id)


def get_fix_request_by_key(s: Session, request_key: str) -> FixRequest | None:
    return s.scalars(select(FixRequest).where(FixRequest.request_key == request_key)).one_or_none()


def codes_before(s: Session, show: str, shot_id: str | None, shot: str) -> list[str]:
    """The other codes the show's earlier fix requests on this tracker shot (`shot_id`) went by, newest first:
    the shot was renamed in the tracker since (editorial renumbered SH010 to SH015)."""
    if shot_id is None:
        return []
    query = (
        select(FixRequest.shot)
        .join(FixRequest.show)
        .where(Show.code == show, FixRequest.shot_id == shot_id, FixRequest.shot != shot)
        .order_by(FixRequest.id.desc())
    )
    return list(dict.fromkeys(s.scalars(query)))


def set_fix_state(
    s: Session, request_id: int, state: str, *, error: str | None = None, rejection_note: str | None = None
) -> FixRequest:
    """Move a fix request to `state` (open, rendering, rendered, published, approved, rejected, failed,
    withdrawn)."""
    if state not in FIX_STATES:
        raise ValueError(f"fix request state must be one of {', '.join(FIX_STATES)}, not {state!r}")
    request = _require(s, FixRequest, request_id)
    request.state = state
    if error is not None:
        request.error = " ".join(error.split())[:1000]
    if rejection_note is not None:
        request.rejection_note = rejection_note
    return request


def other_request_waits(s: Session, request: FixRequest) -> bool:
    """Whether another request on the same task is still to be done (open, rendering or rendered; not one a
    rejection reopened, which waits for nobody): the task's status is that request's too (the coordinator asked
    again, or added to the request, on Kitsu)."""
    if request.task_id is None:
        return False
    waiting = select(FixRequest.id).where(
        FixRequest.show_id == request.show_id,
        FixRequest.task_id == request.task_id,
        FixRequest.id != request.id,
        FixRequest.state.in_(("open", "rendering", "rendered")),
        FixRequest.rejection_note.is_(None),
    )
    return s.scalar(waiting.limit(1)) is not None


def newest_request_key(s: Session, request: FixRequest) -> str:
    """The tracker key of the newest request recorded on `request`'s task (its own where none is newer, or it has no
    task): a tracker that sees the task asked again after it knows a request Rushes has not read yet."""
    if request.task_id is None:
        return request.request_key
    newest = select(FixRequest.request_key).where(
        FixRequest.show_id == request.show_id, FixRequest.task_id == request.task_id
    )
    return s.scalar(newest.order_by(FixRequest.id.desc()).limit(1)) or request.request_key


def list_fix_requests(
    s: Session, show: str | None = None, state: str | None = None, limit: int | None = 100
) -> list[FixRequest]:
    """Fix requests, newest first, with their publications (one query for them all, not one a request: `rushes
    status` of 20 shows made 1,000 round trips to the catalog)."""
    query = select(FixRequest).options(selectinload(FixRequest.publications))
    if show is not None:
        query = query.join(FixRequest.show).where(Show.code == show)
    if state is not None:
        query = query.where(FixRequest.state == state)
    return list(s.scalars(query.order_by(FixRequest.id.desc()).limit(limit)))


def open_with_queued_fix(s: Session, limit: int = 50, task_id: str | None = None) -> list[FixRequest]:
    """The oldest `limit` requests still `open` (no fix job of theirs has started its render) with a tracker
    task (`task_id` only, when given) and a queued fix job, oldest first."""
    queued = {
        int(payload["request_id"])
        for payload in s.scalars(select(Job.payload).where(Job.kind == "fix", Job.state == "queued"))
    }
    if not queued:
        return []
    task = FixRequest.task_id.is_not(None) if task_id is None else FixRequest.task_id == task_id
    return list(
        s.scalars(
            select(FixRequest)
            .where(FixRequest.id.in_(queued), FixRequest.state == "open", task)
            .order_by(FixRequest.id)
            .limit(limit)
        )
    )


def spent_publications(s: Session, show: str, before: datetime) -> list[Publication]:
    """The show's publications whose renders nobody needs any more, since before `before`: rejected by a
    supervisor, or never published by a request that failed or was taken back. Approved ones (the example
    pairs training learns from), ones waiting for review, and ones of a failed request whose publish job
    is dead-lettered (`rushes jobs retry` publishes their files once the tracker is mended; the coordinator
    was told so) or retried and not done yet are never among them."""
    rejected = and_(Publication.review_status == "rejected", Publication.reviewed_at < before)
    unpublished = and_(
        Publication.state == "pending",
        Publication.updated_at < before,
        FixRequest.state.in_(("failed", "withdrawn")),
    )
    query = _publications_of(show).where(or_(rejected, unpublished)).order_by(Publication.id)
    spent = list(s.scalars(query).unique())
    retriable = _retriable_publications(s, [pub for pub in spent if pub.state == "pending"])
    return [pub for pub in spent if pub.id not in retriable]


def _retriable_publications(s: Session, pending: Sequence[Publication]) -> set[int]:
    """Which of these pending publications of failed requests have a publish job (keyed as they are) not done:
    dead-lettered, or retried by hand and waiting or running."""
    keys = [pub.key for pub in pending if pub.fix_request.state == "failed"]
    alive = {
        key for key, job in jobs_by_key(s, keys).items() if job.kind == "publish" and job.state != "done"
    }
    return {pub.id for pub in pending if pub.key in alive}


def add_publication(
    s: Session,
    request_id: int,
    fix_kind: str,
    key: str,
    movie_path: str,
    *,
    before_after_path: str | None = None,
    source_path: str | None = None,
    source_hash: str | None = None,
    model_version: int | None = None,
    extra_files: dict[str, str] | None = None,
) -> tuple[Publication, bool]:
    """Put a publication in the outbox once per idempotency key -> (publication, created)."""
    existing = get_publication_by_key(s, key)
    if existing is not None:
        return existing, False
    publication = Publication(
        fix_request_id=_require(s, FixRequest, request_id).id,
        fix_kind=fix_kind,
        key=key,
        movie_path=movie_path,
        before_after_path=before_after_path,
        source_path=source_path,
        source_hash=source_hash,
        model_version=model_version,
        extra_files=dict(extra_files or {}),
        state="pending",
        review_status="pending",
    )
    return insert_once(s, publication, lambda: get_publication_by_key(s, key))


def get_publication(s: Session, publication_id: int) -> Publication | None:
    return s.get(Publication, publication_id)


def get_publication_by_key(s: Session, key: str) -> Publication | None:
    return s.scalars(select(Publication).where(Publication.key == key)).one_or_none()


def publication_for_version(s: Session, tracker_version_id: int | str) -> Publication | None:
    """The publication that created this tracker Version."""
    return s.scalars(
        select(Publication).where(Publication.tracker_version_id == str(tracker_version_id))
    ).first()


def mark_published(s: Session, publication_id: int, tracker_version_id: int | str) -> Publication:
    """The tracker write succeeded: record the Version id it created."""
    publication = _require(s, Publication, publication_id)
    publication.state = "published"
    publication.tracker_version_id = str(tracker_version_id)
    publication.published_at = utcnow()
    return publication


def pending_publications(s: Session, limit: int | None = 100) -> list[Publication]:
    """The outbox: publications whose tracker write has not succeeded yet, oldest first."""
    return list(
        s.scalars(
            select(Publication).where(Publication.state == "pending").order_by(Publication.id).limit(limit)
        )
    )


def set_review(s: Session, publication_id: int, status: str, note: str | None = None) -> Publication:
    """Record a supervisor's review (pending, approved, rejected) of a published Version. An approval given or
    taken back marks the show's model stale: its next training window learns from the pair, or without it."""
    if status not in REVIEW_STATES:
        raise ValueError(f"review status must be one of {', '.join(REVIEW_STATES)}, not {status!r}")
    publication = _require(s, Publication, publication_id)
    if "approved" in (status, publication.review_status) and status != publication.review_status:
        publication.fix_request.show.model_stale = True
    publication.review_status = status
    publication.review_note = note
    publication.reviewed_at = utcnow()
    return publication


def approved_pairs(s: Session, show: str, fix_kind: str | None = None) -> list[Publication]:
    """Approved publications of a show, oldest first: the before (source_path) / after (movie_path, extra
    files) example pairs a later training run may learn from."""
    query = _publications_of(show).where(
        Publication.review_status == "approved", Publication.state == "published"
    )
    if fix_kind is not None:
        query = query.where(Publication.fix_kind == fix_kind)
    return list(s.scalars(query.order_by(Publication.id)))


def rejected_of(s: Session, show: str, shot: str, fix_kind: str, source_hash: str) -> list[Publication]:
    """The show's publications of `fix_kind` on `shot` that a supervisor rejected, made of the daily content
    `source_hash`, newest first."""
    query = (
        _publications_of(show)
        .where(
            FixRequest.shot == shot,
            Publication.fix_kind == fix_kind,
            Publication.source_hash == source_hash,
            Publication.review_status == "rejected",
        )
        .order_by(Publication.id.desc())
    )
    return list(s.scalars(query).unique())


def in_review_from(s: Session, show: str, path: str, content_hash: str) -> list[Publication]:
    """The show's publications made of the daily at `path` as it was with content `content_hash` (any content,
    for a publication of an older Rushes, which recorded none), published and not reviewed yet. Oldest first."""
    query = (
        _publications_of(show)
        .where(
            Publication.source_path == path,
            or_(Publication.source_hash == content_hash, Publication.source_hash.is_(None)),
            Publication.state == "published",
            Publication.review_status == "pending",
        )
        .order_by(Publication.id)
    )
    return list(s.scalars(query).unique())


def made_from(publication: Publication, path: str, content_hash: str | None) -> bool:
    """Whether the fix was made of the daily at `path` with this content: by the content hash where both are
    known (a daily renamed or moved since is the same pictures; a plate delivered again under the same name is
    other content), else by path (a publication of an older Rushes, which recorded no content hash)."""
    if publication.source_hash is not None and content_hash is not None:
        return publication.source_hash == content_hash
    return publication.source_path == path


def _publications_of(show: str) -> Select[Publication]:
    """The show's publications, to filter further."""
    return select(Publication).join(Publication.fix_request).join(FixRequest.show).where(Show.code == show)


def _require(s: Session, model: type[Any], row_id: int) -> Any:
    row = s.get(model, row_id)
    if row is None:
        raise LookupError(f"no {model.__tablename__} row with id {row_id}")
    return row
