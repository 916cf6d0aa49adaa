"""Which fixes in review were made of a plate delivered again since: the queue side of the notice stage.

A `notice` job (NoticeJob, posted by daemon.stages.notices) is queued in the transaction that learns of it: ingest
recording new content at a daily's path (`plate_delivered_again`: every fix of the old content published and not
reviewed yet), or a publish recording its Version (`notice_if_replaced`: a fix that was still in the outbox when
the plate changed). Catalog and payloads only, so both stages import it without the render stack.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from daemon.catalog import dailies as daily_repo
from daemon.catalog import fixes
from daemon.catalog.models import Publication
from daemon.jobs.payloads import TRACKER_ATTEMPTS, NoticeJob, queue
from daemon.logs import get_logger

log = get_logger("rushes.tracking")


def plate_delivered_again(s: Session, show: str, path: str, old_hash: str, new_hash: str) -> int:
    """Content `new_hash` now stands at `path` in place of `old_hash`: a notice for each publication made of the
    old content, published and not reviewed yet. How many were queued."""
    noticed = fixes.in_review_from(s, show, path, old_hash)
    for publication in noticed:
        _queue(s, show, publication, old_hash, new_hash)
    if noticed:
        log.warning("fix.plate_changed", show=show, path=path, publications=[p.id for p in noticed])
    return len(noticed)


def notice_if_replaced(s: Session, publication: Publication) -> bool:
    """`publication` was just published: a notice when its daily was delivered again while it waited in the
    outbox (its path holds other content than the fix was made of). Whether one was queued."""
    show = publication.fix_request.show.code
    made_of, path = publication.source_hash, publication.source_path
    if made_of is None or path is None:  # an older Rushes' publication: what it was made of is not known
        return False
    # the daily there now, or the one whose copy the file there now is
    now = daily_repo.current_daily(s, show, path) or daily_repo.alias_of(s, show, path)
    if now is None or now.status != "registered" or now.content_hash in (None, made_of):
        return False
    _queue(s, show, publication, made_of, now.content_hash)
    log.warning("fix.plate_changed", show=show, path=path, publications=[publication.id])
    return True


def _queue(s: Session, show: str, publication: Publication, old_hash: str, new_hash: str) -> None:
    job = NoticeJob(publication.id, old_hash, new_hash)
    queue(s, job, show=show, max_attempts=TRACKER_ATTEMPTS)  # waits out a tracker outage
