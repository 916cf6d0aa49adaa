"""The publish stage: a rendered fix in the outbox goes to the tracker as a Version, exactly once.

The outbox is the catalog's publications table plus a durable `publish` job per publication, both keyed by
the same idempotency key. The tracker adapter finds an existing Version by that key before creating one, so
a retry after a crash or an outage finishes the publish instead of repeating it.

A request withdrawn while its fix was made (the task moved out of the fix status by hand) is still published:
the work is done and harmless beside others, and the Version says what it is. But the task keeps the status
the coordinator gave it; only a task still asking for the fix moves to the published status.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemon.catalog import Catalog, fixes
from daemon.catalog import jobs as job_repo
from daemon.crashpoints import crash_point
from daemon.jobs.outcomes import Permanent, tracker_refusal
from daemon.jobs.payloads import PublishJob
from daemon.logs import get_logger
from daemon.settings import Settings
from daemon.shows import get_show
from daemon.stages.rendering import RenderedFiles
from daemon.stages.replaced_plates import notice_if_replaced
from integrations.trackers.base import Tracker, TrackerFatal, VersionSpec

log = get_logger("rushes.publish")


def version_code(shot: str, kind: str, request_id: int) -> str:
    return f"{shot}_rushes_{kind}_r{request_id}"


@dataclass(frozen=True)
class VersionFiles:
    """What the fix stage leaves in the outbox for this one, beside the movies (the publication's
    `extra_files`): the Version's code and description, the thumbnail, the OTIO file, the frame range,
    the regrade's LUT and the finishing deliverable."""

    code: str
    description: Path | None
    thumbnail: Path | None
    otio: Path | None
    first_frame: int
    last_frame: int
    cube: Path | None = None
    frames: str | None = None  # ProRes movie or EXR sequence pattern
    frame_count: int | None = None  # the review movie's frames (None in rows written before it was kept)

    @classmethod
    def of(cls, code: str, description: Path, files: RenderedFiles) -> VersionFiles:
        return cls(
            code,
            description,
            files.thumbnail,
            files.otio,
            files.first_frame,
            files.last_frame,
            files.cube,
            files.frames,
            files.frame_count,
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "code": self.code,
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
        }
        if self.frame_count is not None:
            data["frame_count"] = self.frame_count
        for name in ("description", "thumbnail", "otio", "cube", "frames"):
            value = getattr(self, name)
            if value is not None:
                data[name] = str(value)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VersionFiles:
        def path(name: str) -> Path | None:
            return Path(data[name]) if data.get(name) else None

        return cls(
            code=str(data.get("code") or ""),
            description=path("description"),
            thumbnail=path("thumbnail"),
            otio=path("otio"),
            first_frame=int(data.get("first_frame", 0)),  # rows written before 0.2 hold it as text
            last_frame=int(data.get("last_frame", 0)),
            cube=path("cube"),
            frames=data.get("frames"),
            frame_count=int(data["frame_count"]) if data.get("frame_count") is not None else None,
        )


# The trackers a request's key names as where it was asked ("shotgrid:event:1234", "kitsu:comment:...").
TRACKER_NAMES = ("shotgrid", "kitsu")


def asked_on(request_key: str) -> str:
    """The tracker a request was asked on, as its key names it ("shotgrid"), or "" for a key naming none."""
    asked = request_key.partition(":")[0]
    return asked if asked in TRACKER_NAMES else ""


def asked_elsewhere(request_key: str, tracker: Tracker) -> Permanent | None:
    """Why a request asked on another tracker than the daemon's (the studio moved from ShotGrid to Kitsu while it
    waited) is neither published nor answered there: its task and shot ids are the other tracker's. Its publish
    was retried as the tracker not answering ("ValueError: Wrong format"), and nothing said why."""
    asked = asked_on(request_key)
    if not asked or asked == tracker.name:
        return None
    return Permanent(
        f"fix request {request_key} was asked on {asked}, and this daemon's tracker is now {tracker.name}: its "
        f"task is not there, so nothing is sent for it; ask for the fix again on {tracker.name}"
    )


def publish(settings: Settings, catalog: Catalog, tracker: Tracker | None, job: PublishJob) -> dict[str, Any]:
    """Handler of `publish` jobs."""
    if tracker is None:
        raise Permanent("no tracker is configured (tracker.kind is none): nothing to publish to")
    if (elsewhere := asked_elsewhere(job.request_key, tracker)) is not None:
        raise elsewhere
    spec, request_id, task_id = version_spec(settings, catalog, job.publication_id)
    for path in (spec.movie_path, *spec.attachments):
        if not path.exists():
            raise Permanent(f"rendered file {path} is missing: re-run the fix (rushes jobs retry)")
    try:
        published = tracker.publish_version(spec)
    except TrackerFatal as exc:
        raise tracker_refusal(exc) from exc
    crash_point("publish.sent")
    done, answered, waits, newest = record_published(
        catalog, job.publication_id, request_id, published.version_id
    )
    if done and task_id and waits:  # its status is that request's too: moved on when the last one ends
        log.info("publish.task_kept", task=task_id, why="another request on the task is still to be done")
    elif done and task_id and not tracker.mark_published(tracker_id(task_id), answered, newest):
        why = "the task left the fix status while the fix was made, or was set to fix again (a new request)"
        log.info("publish.task_kept", task=task_id, why=why)
    log.info("publish.done", version=published.version_id, created=published.created, code=spec.code)
    return {"version_id": str(published.version_id), "created": published.created}


def version_spec(settings: Settings, catalog: Catalog, pub_id: int) -> tuple[VersionSpec, int, str | None]:
    """The Version to create for publication `pub_id`, with its request's id and tracker task."""
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
        # half-done upload), and the task status still has to be set if a crash came in between.
        files = VersionFiles.from_json(dict(pub.extra_files or {}))
        attachments = tuple(Path(p) for p in (pub.before_after_path, files.cube, files.otio) if p)
        spec = VersionSpec(
            idempotency_key=pub.key,
            project=show.tracker_project or show.code,
            shot_id=tracker_id(request.shot_id),
            task_id=tracker_id(request.task_id),
            code=files.code or version_code(request.shot, pub.fix_kind, request.id),
            description=files.description.read_text() if files.description else "",
            movie_path=Path(pub.movie_path),
            first_frame=files.first_frame,
            last_frame=files.last_frame,
            frames_path=files.frames,
            thumbnail_path=files.thumbnail,
            attachments=attachments,
            keep_status=fixes.other_request_waits(s, request),  # Kitsu: its comment must not move the task on
        )
        return spec, request.id, request.task_id


def record_published(
    catalog: Catalog, pub_id: int, request_id: int, version_id: int | str
) -> tuple[bool, bool, bool, str]:
    """Mark the publication published. Whether every kind of its request now is (the request is done), whether
    the request had failed before (answered on its task; one of its jobs retried by hand since), whether
    another request on its task is still to be done (asked again while this one rendered: the task stays in the
    fix status for it, as an answer leaves it; it was moved to review, and that request's failure left there),
    and the key of the newest request recorded on its task (the tracker keeps the task in fix when it was asked
    again after that one: a request not read yet)."""
    with catalog.session() as s:
        publication = fixes.mark_published(s, pub_id, version_id)
        notice_if_replaced(s, publication)  # its plate delivered again while it waited in the outbox
        fresh = fixes.get_fix_request(s, request_id)
        assert fresh is not None
        # failed still, or taken up again by a fix job retried by hand (rendering, rendered since): its answer is
        # a done job either way
        answered = fresh.state == "failed" or job_repo.answered(s, fresh.request_key)
        kinds_published = {p.fix_kind for p in fresh.publications if p.state == "published"}
        done = all(p.state == "published" for p in fresh.publications) and set(fresh.kinds) <= kinds_published
        if done:
            fixes.set_fix_state(s, request_id, "published")
        waits = fixes.other_request_waits(s, fresh)
        newest = fixes.newest_request_key(s, fresh)
    return done, answered, waits, newest


def tracker_id(value: str | None) -> int | str:
    """A tracker id as the catalog keeps it (text) back to the tracker's own: ShotGrid's are numbers."""
    if value is None:
        return ""
    return int(value) if value.isdigit() else value
