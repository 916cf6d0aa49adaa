"""The daemon's ingest path through a naming change mid-show: what its watchers find is queued as jobs once per
file state, so a daily quarantined by a template that no longer read its name must be queued again, and taken
back as the same daily, once the show's templates read it again (without a restart or touching the file)."""

from __future__ import annotations

from pathlib import Path

from daemon.catalog import Catalog
from daemon.catalog import dailies as daily_repo
from daemon.catalog import jobs as job_repo
from daemon.jobs.payloads import IngestJob
from daemon.stages.ingest import Ingestor
from integrations.ingest.options import IngestOptions
from integrations.ingest.scan import scan_root
from tests import footage
from tests.daemon.stages.conftest import SHOW

OLD = "{shot}_{take}.{ext}"
NEW = "{show}-{shot}-v{take}.{ext}"


def reconcile(catalog: Catalog, root: Path, templates: list[str]) -> None:
    """A reconcile scan of `root` under these templates, its finds queued and the jobs run, as the daemon does."""
    ingestor = Ingestor(catalog)
    for found in scan_root(root, IngestOptions(path_template=templates)):
        ingestor.queue(SHOW, found)
    while True:
        with catalog.session() as s:
            job = job_repo.claim(s, "test", ["ingest"], 60)
        if job is None:
            return
        result = ingestor.run(IngestJob.from_json(job.payload))
        with catalog.session() as s:
            job_repo.complete(s, job.id, "test", result)


def states(catalog: Catalog) -> dict[str, tuple[int, str, str | None]]:
    with catalog.session(readonly=True) as s:
        rows = daily_repo.list_dailies(s, SHOW, status=None)
        return {Path(d.path).name: (d.id, d.status, d.shot) for d in rows if d.status != "superseded"}


def test_a_daily_quarantined_by_a_template_change_is_ingested_again_once_the_templates_read_it(
    catalog: Catalog, tmp_path: Path
) -> None:
    root = tmp_path / "inbox"
    footage.movie(root / "sh020_1.mp4", n=4, size=(64, 48))
    reconcile(catalog, root, [OLD])
    [(daily, status, _)] = states(catalog).values()
    assert status == "registered"

    footage.movie(root / "DEMO-sh030-v002.mp4", n=4, size=(64, 48), photo="coffee")
    reconcile(catalog, root, [NEW])  # the new naming alone (rushes show add --quarantine-unread)
    assert states(catalog)["sh020_1.mp4"][1] == "quarantined"

    reconcile(catalog, root, [OLD, NEW])  # both namings: the daemon's scan after `rushes show add`

    found = states(catalog)
    assert found["sh020_1.mp4"] == (daily, "registered", "sh020")
    assert found["DEMO-sh030-v002.mp4"][1:] == ("registered", "sh030")
