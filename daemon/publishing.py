"""The publish step: a rendered fix in the outbox goes to the tracker as a Version, exactly once.

The outbox is the catalog's publications table plus a durable `publish` job per publication, both keyed by
the same idempotency key. The tracker adapter finds an existing Version by that key before creating one, so
a retry after a crash or an outage finishes the publish instead of repeating it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from daemon.catalog import Catalog, Job, fixes
from daemon.crashpoints import crash_point
from daemon.logs import get_logger
from daemon.runner import Permanent
from daemon.settings import Settings
from daemon.shows import get_show
from integrations.trackers.base import Tracker, TrackerFatal, VersionSpec

log = get_logger("rushes.publish")


def publish_key(request_key: str, kind: str, round_: int = 0) -> str:
    return f"publish:{request_key}:{kind}" + (f":r{round_}" if round_ else "")


def version_code(shot: str, kind: str, request_id: int, round_: int = 0) -> str:
    return f"{shot}_rushes_{kind}_r{request_id}" + (f"_{round_ + 1}" if round_ else "")


def publish(settings: Settings, catalog: Catalog, tracker: Tracker | None, job: Job) -> dict[str, Any]:
    """Handler of `publish` jobs (payload: publication_id)."""
    if tracker is None:
        raise Permanent("no tracker is configured (tracker.kind is none): nothing to publish to")
    pub_id = int(job.payload["publication_id"])
    with catalog.session(readonly=True) as s:
        pub = fixes.get_publication(s, pub_id)
        if pub is None:
            raise Permanent(f"publication {pub_id} does not exist")
        show_code = pub.fix_request.show.code
    show = get_show(settings, catalog, show_code)
    with catalog.session(readonly=True) as s:
        pub = fixes.get_publication(s, pub_id)
        assert pub is not None
        request = pub.fix_request
        # No shortcut for an already published row: the adapter finds the Version by its key (and finishes a
        # half-done upload), and the task status below still has to be set if a crash came in between.
        files = dict(pub.extra_files or {})
        description = Path(files["description"]).read_text() if "description" in files else ""
        attachments = tuple(
            Path(p) for p in (pub.before_after_path, files.get("cube"), files.get("otio")) if p
        )
        spec = VersionSpec(
            idempotency_key=pub.key,
            project=show.tracker_project or show.code,
            shot_id=_id(request.shot_id),
            task_id=_id(request.task_id),
            code=str(files.get("code") or version_code(request.shot, pub.fix_kind, request.id)),
            description=description,
            movie_path=Path(pub.movie_path),
            first_frame=int(files.get("first_frame", 0)),
            last_frame=int(files.get("last_frame", 0)),
            frames_path=files.get("frames"),
            thumbnail_path=Path(files["thumbnail"]) if files.get("thumbnail") else None,
            attachments=attachments,
        )
        request_id, task_id = request.id, request.task_id
    for path in (spec.movie_path, *spec.attachments):
        if not path.exists():
            raise Permanent(f"rendered file {path} is missing: re-run the fix (rushes jobs retry)")
    try:
        published = tracker.publish_version(spec)
    except TrackerFatal as exc:
        raise Permanent(str(exc)) from exc
    crash_point("publish.sent")
    with catalog.session() as s:
        fixes.mark_published(s, pub_id, published.version_id)
        fresh = fixes.get_fix_request(s, request_id)
        assert fresh is not None
        kinds_published = {p.fix_kind for p in fresh.publications if p.state == "published"}
        done = all(p.state == "published" for p in fresh.publications) and set(fresh.kinds) <= kinds_published
        if done:
            fixes.set_fix_state(s, request_id, "published")
    if done and task_id:
        tracker.mark_published(_id(task_id))
    log.info("publish.done", version=published.version_id, created=published.created, code=spec.code)
    return {"version_id": str(published.version_id), "created": published.created}


def _id(value: str | None) -> int | str:
    if value is None:
        return ""
    return int(value) if value.isdigit() else value
