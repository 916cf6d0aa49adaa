"""The daemon's watchers on a full disk: queueing a found file fails with ENOSPC, the file is offered again
once there is space (no restart, no rescan), and `problem()` is what /readyz reports meanwhile."""

from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path

from daemon.catalog import Catalog
from daemon.catalog import jobs as job_repo
from daemon.settings import ShowConfig
from daemon.stages.ingest import Ingestor, ShowWatchers
from integrations.ingest.candidates import Found
from integrations.ingest.options import IngestOptions, IngestRoot
from tests import footage
from tests.daemon.stages.conftest import SHOW


def test_files_that_land_on_a_full_disk_are_queued_once_space_is_back(
    catalog: Catalog, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    options = IngestOptions(roots=[IngestRoot(path=inbox)], stable_seconds=0.3, reconcile_interval=3600)
    show = ShowConfig(code=SHOW, ingest=options)
    ingestor = Ingestor(catalog)
    full = threading.Event()
    full.set()
    refused: list[Path] = []

    def queue_job(show_code: str, found: Found) -> None:
        if full.is_set():  # the catalog's disk: SQLite cannot write the job row
            refused.append(found.path)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(catalog.url))
        ingestor.queue(show_code, found)

    watchers = ShowWatchers([show], queue_job, retry_seconds=0.2)
    watchers.start()
    try:
        names = [footage.movie(inbox / f"sh{i:03d}_1.mp4", n=3, size=(48, 32), seed=i) for i in range(3)]
        deadline = time.monotonic() + 20
        while set(refused) != set(names) and time.monotonic() < deadline:
            time.sleep(0.05)
        problem = watchers.problem()
        assert problem is not None and problem.startswith("disk full: No space left on device")
        full.clear()
        deadline = time.monotonic() + 20
        while not watchers.drained() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert watchers.problem() is None
    finally:
        watchers.stop()
    with catalog.session(readonly=True) as s:
        queued = sorted(j.payload["found"]["path"] for j in job_repo.list_jobs(s, kind="ingest", limit=None))
    assert queued == sorted(str(p) for p in names)  # each once
