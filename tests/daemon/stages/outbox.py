"""A rendered fix waiting in the outbox, made without rendering: what the publish and feedback tests start from."""

from __future__ import annotations

from pathlib import Path

from daemon.catalog import Catalog, fixes
from daemon.jobs.payloads import PublishJob
from daemon.stages.publishing import VersionFiles


def rendered_fix(
    catalog: Catalog,
    folder: Path,
    show: str,
    task_id: int,
    kinds: tuple[str, ...] = ("denoise",),
    shot_id: int = 7,
    rendered: tuple[str, ...] | None = None,
    key: str = "memory:event:1",
) -> list[PublishJob]:
    """A fix request for `kinds` on shot sh010 (task `task_id`, shot `shot_id` in the tracker), each kind of
    `rendered` (default: all of them) rendered into `folder` and in the outbox: the publish jobs the fix stage
    would have queued; `key`: the request's, naming the tracker it was asked on."""
    folder.mkdir(parents=True, exist_ok=True)
    jobs = []
    with catalog.session() as s:
        request, _ = fixes.add_fix_request(
            s, show, key, "sh010", list(kinds), task_id=task_id, shot_id=shot_id
        )
        for kind in kinds if rendered is None else rendered:
            movie, before_after = folder / f"{kind}.mp4", folder / f"{kind}_before_after.mp4"
            description = folder / f"{kind}.txt"
            for path in (movie, before_after):
                path.write_bytes(b"movie")
            description.write_text(f"Rushes fix: {kind} on sh010\n")
            outbox = VersionFiles(f"sh010_rushes_{kind}_r{request.id}", description, None, None, 1001, 1010)
            job = PublishJob(0, request.request_key, kind)
            pub, _ = fixes.add_publication(
                s,
                request.id,
                kind,
                job.key(),
                str(movie),
                before_after_path=str(before_after),
                model_version=1,
                extra_files=outbox.to_json(),
            )
            jobs.append(PublishJob(pub.id, request.request_key, kind))
        fixes.set_fix_state(s, request.id, "rendered" if rendered is None else "rendering")
    return jobs
