"""The requests stage: a coordinator's fix request in the tracker becomes a catalogued request and one
FixJob per fix kind; a request whose text could not be read (its `problems`, an unknown kind, no fix
named) runs nothing and is answered on its task instead (daemon.stages.answering).

Each poll stores what a batch caused (the requests and their jobs) and the batch's event cursor in ONE
catalog transaction, so a crash between the two neither loses nor repeats an event; the jobs' keys
(daemon.jobs.payloads.FixJob) make a request read twice one job per kind.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from daemon.catalog import Catalog, cursors, dailies, fixes, unfollowed, utcnow
from daemon.catalog import shows as show_repo
from daemon.catalog.models import FixRequest as FixRequestRow
from daemon.jobs.payloads import FixJob, queue
from daemon.logs import get_logger
from daemon.settings import ShowConfig
from daemon.shows import show_for
from daemon.stages import answering
from daemon.stages.request_params import unread_params
from daemon.stages.withdrawals import replace_unstarted
from daemon.trackers import FIX_KINDS
from integrations.trackers.base import FixRequest, Tracker

log = get_logger("rushes.tracking")


@dataclass
class PollResult:
    seen: int
    new: int


def poll_fix_requests(
    tracker: Tracker, catalog: Catalog, shows: list[ShowConfig], limit: int = 100
) -> PollResult:
    name = f"{tracker.name}:fix"
    with catalog.session() as s:
        cursor = cursors.get_cursor(s, name)
    batch = tracker.fix_requests_since(cursor, limit)
    with catalog.session() as s:
        new = record_fix_requests(s, batch.items, shows, tracker=tracker.name)
        if batch.cursor is not None and batch.cursor != cursor:
            cursors.set_cursor(s, name, batch.cursor)
    return PollResult(len(batch.items), new)


def record_fix_requests(
    s: Session, requests: Iterable[FixRequest], shows: list[ShowConfig], *, tracker: str
) -> int:
    """record_fix_request for each, each in a savepoint: one the catalog cannot hold (a NUL character in a name,
    which PostgreSQL refuses) is logged and left out, so it does not stop the others nor the cursor after them.
    How many were new."""
    new = 0
    for req in requests:
        cleaned = _without_nul(req)
        tries = (req,) if cleaned is None else (req, cleaned)  # answered on its task, its NULs left out
        for number, asked in enumerate(tries, 1):
            try:
                with s.begin_nested():
                    new += record_fix_request(s, asked, shows, tracker=tracker)
                break
            except DataError as exc:
                reason = str(exc.orig or exc).splitlines()[0]
                said = (
                    log.error if number == len(tries) else log.info
                )  # left out for good, or tried without NULs
                said("fix.unrecordable", key=req.key, project=req.project, shot=req.shot_code, reason=reason)
    return new


NUL_PROBLEM = (
    "the request holds a NUL character (in the shot's name or the request's text), which the catalog cannot "
    "keep: rename the shot, or write the request again, without it"
)


def _without_nul(req: FixRequest) -> FixRequest | None:
    """The request with its NUL characters left out of its text, and a problem saying so (it was logged and
    dropped: the task stayed in the fix status, nobody told); None when it has none."""

    def clean(text: str) -> str:
        return text.replace("\x00", "")

    texts = (req.project, *req.project_names, req.shot_code, req.note or "", *req.kinds, *req.problems)
    words = (*req.params, *req.params.values(), *req.qualified_codes, *req.shared_codes)
    if not any("\x00" in text for text in (*texts, *words)):
        return None
    return replace(
        req,
        project=clean(req.project),
        project_names=tuple(clean(name) for name in req.project_names),
        shot_code=clean(req.shot_code),
        note=None if req.note is None else clean(req.note),
        params={clean(k): clean(v) for k, v in req.params.items()},
        kinds=tuple(clean(kind) for kind in req.kinds),
        problems=(*(clean(p) for p in req.problems), NUL_PROBLEM),
        qualified_codes=tuple(clean(c) for c in req.qualified_codes),
        shared_codes=tuple(clean(c) for c in req.shared_codes),
    )


def record_fix_request(s: Session, req: FixRequest, shows: list[ShowConfig], *, tracker: str) -> int:
    """Catalog one request and queue a fix job per kind (same transaction as the caller's cursor). A request on a
    project no show follows is only remembered, for `rushes status` to say so: nobody answers its task, since
    another Rushes may follow that project (docs/operations.md). One on a wrapped show's project (`shows` may
    hold wrapped shows; the catalog says which, in this transaction) is answered on its task that the show is
    wrapped, and nothing is done."""
    show = show_for(req.project, shows, req.project_names)
    if show is not None and show.code in show_repo.wrapped_shows(s):
        return _answer_wrapped(s, req, show.code)
    if show is None:
        log.warning(
            "fix.unknown_project",
            project=req.project,
            names=list(req.project_names),
            shot=req.shot_code,
            key=req.key,
        )
        if any(
            kind in FIX_KINDS for kind in req.kinds
        ):  # a fix status that names none may be the studio's own
            names = req.project_names or (req.project,)
            unfollowed.record_unfollowed(s, tracker, req.key, req.project, names, req.shot_code, utcnow())
        return 0
    kinds = [k for k in req.kinds if k in FIX_KINDS]
    unknown = sorted(set(req.kinds) - set(FIX_KINDS))
    # the dailies' code for the shot: a name of its own qualified by its sequence (in any case), else the
    # tracker's own, in any case; a name another shot of the project goes by too is matched only to be refused
    qualified = dailies.shot_for(s, show.code, req.qualified_codes)
    shared = None if qualified else dailies.shot_for(s, show.code, req.shared_codes)
    bare = None if qualified or shared else dailies.shot_for(s, show.code, (req.shot_code,))
    shot = qualified or shared or bare or req.shot_code
    row, created = _recorded(s, req, show.code, shot, kinds)
    if not created:
        return 0
    if row.task_id is not None:
        for older in replace_unstarted(s, row, only_repeats=not req.replaces_earlier):
            log.info("fix.replaced", request=older, by=row.id, task=row.task_id)
    problems = list(req.problems)
    renamed = [shared_name(req, shared)] if shared is not None else []  # dailies by another shot's name too
    problems += renamed
    if kinds:
        problems += unread_params(kinds, req.params)
    if unknown:
        problems.append(f"unknown fix kind(s) {', '.join(unknown)} (use one of: {', '.join(FIX_KINDS)})")
    if not kinds and not problems:
        problems.append(f"no fix is named (use one of: {', '.join(FIX_KINDS)})")
    if problems:  # nothing is guessed: the coordinator is told what could not be read, on the task
        # dailies by a shared name alone: the files are to be named again, not the request corrected
        answering.refuse(s, row, "; ".join(problems), mended_elsewhere=bool(renamed) and problems == renamed)
        return 1
    for kind in kinds:
        queue(s, FixJob(row.id, kind, req.key), show=show.code)
    log.info(
        "fix.requested", show=show.code, shot=shot, tracker_shot=req.shot_code, kinds=kinds, params=req.params
    )
    return 1


def shared_name(req: FixRequest, name: str) -> str:
    """The answer to a request on a shot whose dailies go by `name`, a name other shots of the project go by
    too (SH010 in each sequence, SQ010_SH010 in each episode): Rushes cannot tell whose they are."""
    own = (
        f" by a name no other shot has ({req.qualified_codes[0]}_1.mov)"
        if req.qualified_codes
        else " apart, and give one of those shots another name in the tracker (or omit the one out of the cut)"
    )
    return (
        f"the project has more than one shot that the name {name} fits and this shot's dailies go by that name, "
        f"so Rushes cannot tell which are this shot's: name this shot's dailies{own}, then ask again"
    )


def _answer_wrapped(s: Session, req: FixRequest, show: str) -> int:
    """Record a request made on a wrapped show and answer it on its task: nothing is done; after the show is
    reopened, the coordinator asks again (a new request)."""
    row, created = _recorded(s, req, show, req.shot_code, [k for k in req.kinds if k in FIX_KINDS])
    if not created:
        return 0
    since = show_repo.wrapped_shows(s).get(show)
    when = f" since {since:%Y-%m-%d}" if since else ""
    answering.refuse(
        s,
        row,
        f"show {show} is wrapped in Rushes{when}, so nothing was done: once the pipeline team reopens it "
        f"(`rushes show reopen {show}`), set this task out of the fix status and back to ask again",
    )
    return 1


def _recorded(
    s: Session, req: FixRequest, show: str, shot: str, kinds: list[str]
) -> tuple[FixRequestRow, bool]:
    """The tracker's request in the catalog, once per its key -> (row, created)."""
    return fixes.add_fix_request(
        s,
        show,
        req.key,
        shot,
        kinds,
        req.params,
        task_id=req.task_id,
        shot_id=req.shot_id,
        note=req.note,
        qualified_codes=req.qualified_codes,
    )
