"""The ingest stage on its own: what a watcher found is queued once as an IngestJob, and running that job
catalogues the daily, skips it when it is unchanged, and quarantines what cannot be read, with its reason."""

from __future__ import annotations

import dataclasses
import errno
import os
from pathlib import Path

import pytest

from daemon.catalog import Catalog
from daemon.catalog import dailies as daily_repo
from daemon.catalog import jobs as job_repo
from daemon.catalog import shows as show_repo
from daemon.jobs.payloads import IngestJob
from daemon.stages.ingest import Ingestor, Outcome
from engine.media import MediaError
from integrations.ingest.candidates import Candidate, Rejected
from integrations.ingest.scan import FOLDER_UNREADABLE
from tests import footage
from tests.daemon.stages.conftest import SHOW


def candidate(path: Path, shot: str = "sh010") -> Candidate:
    st = path.stat()
    return Candidate(
        path=path,
        root=path.parent,
        kind="movie",
        files=(path,),
        size=st.st_size,
        mtime=st.st_mtime,
        shot=shot,
    )


def stamped(path: Path, shot: str = "sh010") -> Candidate:
    """The candidate as the watcher sees it, with its change stamp (inode and ctime: a chmod moves it)."""
    st = path.stat()
    return dataclasses.replace(candidate(path, shot), stamp=f"{st.st_ino}:{st.st_ctime_ns}")


def queued_ingest_jobs(catalog: Catalog) -> list[IngestJob]:
    with catalog.session(readonly=True) as s:
        return [IngestJob.from_json(j.payload) for j in job_repo.list_jobs(s, kind="ingest", limit=None)]


def test_a_file_found_twice_is_queued_once_and_its_job_reads_back_what_was_found(
    catalog: Catalog, tmp_path: Path
) -> None:
    found = candidate(footage.movie(tmp_path / "sh010_v1.mp4", n=4, size=(64, 48)))
    ingestor = Ingestor(catalog)
    ingestor.queue(SHOW, found)
    ingestor.queue(SHOW, found)  # a rescan finds it again, unchanged
    assert queued_ingest_jobs(catalog) == [IngestJob(SHOW, found)]


def test_running_the_job_catalogues_the_daily_once_and_marks_the_model_stale(
    catalog: Catalog, tmp_path: Path
) -> None:
    path = footage.movie(tmp_path / "sh010_v1.mp4", n=4, size=(64, 48))
    heard: list[Outcome] = []
    ingestor = Ingestor(catalog, [lambda _show, outcome: heard.append(outcome)])
    first = ingestor.run(IngestJob(SHOW, candidate(path)))
    again = ingestor.run(IngestJob(SHOW, candidate(path)))
    assert first["result"] == "registered" and again == {"result": "unchanged", "daily": first["daily"]}
    assert [o.result for o in heard] == ["registered", "unchanged"]
    with catalog.session(readonly=True) as s:
        [daily] = daily_repo.list_dailies(s, SHOW)
        assert (daily.shot, daily.frame_count, daily.width, daily.height) == ("sh010", 4, 64, 48)
        assert daily.content_hash
        show = show_repo.get_show(s, SHOW)
        assert show is not None and show.model_stale


def test_a_file_that_changed_is_catalogued_again(catalog: Catalog, tmp_path: Path) -> None:
    path = footage.movie(tmp_path / "sh010_v1.mp4", n=4, size=(64, 48))
    ingestor = Ingestor(catalog)
    ingestor.run(IngestJob(SHOW, candidate(path)))
    footage.movie(path, n=6, size=(64, 48))
    os.utime(path, (1e9, 1e9))
    assert ingestor.run(IngestJob(SHOW, candidate(path)))["result"] == "registered"
    with catalog.session(readonly=True) as s:
        assert [d.frame_count for d in daily_repo.list_dailies(s, SHOW)] == [6]


def test_unreadable_and_rejected_files_are_quarantined_with_their_reason(
    catalog: Catalog, tmp_path: Path
) -> None:
    text = tmp_path / "sh020_v1.mov"
    text.write_text("not a movie at all\n" * 10)
    odd = tmp_path / "readme.txt"
    odd.write_text("no shot in this name")
    ingestor = Ingestor(catalog)
    broken = ingestor.run(IngestJob(SHOW, candidate(text, "sh020")))
    rejected = ingestor.run(IngestJob(SHOW, Rejected(path=odd, reason="no shot matches the path template")))
    assert broken["result"] == rejected["result"] == "quarantined"
    with catalog.session(readonly=True) as s:
        reasons = {Path(d.path).name: d.error for d in daily_repo.quarantined(s, SHOW)}
    assert reasons["readme.txt"] == "no shot matches the path template"
    assert reasons["sh020_v1.mov"]


def test_a_sequence_frame_the_daemon_may_not_read_is_named_with_what_mends_it() -> None:
    """A sequence's reason names its frame first ("frame 1005: ..."): the permission's mend was matched on the
    whole reason and so never said for a sequence."""
    from daemon.stages.ingest import media_reason

    assert media_reason("frame 1005: cannot read: permission denied") == (
        "frame 1005: cannot read: permission denied; let the daemon's user read it (chmod or chown), and it is "
        "ingested without a restart"
    )
    assert media_reason("frame 1005: truncated or corrupt EXR") == "frame 1005: truncated or corrupt EXR"


@pytest.mark.parametrize("error", ["media", "os"])
def test_a_file_quarantined_for_its_permissions_is_ingested_once_they_are_mended(
    catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: str
) -> None:
    """A daily copied with a mode the daemon's user cannot read (a DIT cart's umask 077) is quarantined with a
    reason that says what to do; the chmod that mends it keeps size and mtime, and used to leave the file
    quarantined for good, its old row read as the same file."""
    from daemon.stages import ingest as stage

    path = footage.movie(tmp_path / "sh010_v1.mp4", n=4, size=(64, 48))
    real_probe = stage.probe

    def denied(name: str, **kw: object) -> object:  # as the engine's readers say it, or the OS itself
        if error == "media":
            raise MediaError("cannot read: permission denied", name)
        raise PermissionError(errno.EACCES, "Permission denied", name)

    monkeypatch.setattr(stage, "probe", denied)
    path.chmod(0o000)
    ingestor = Ingestor(catalog)
    first = ingestor.run(IngestJob(SHOW, stamped(path)))
    assert first["result"] == "quarantined"
    with catalog.session(readonly=True) as s:
        [row] = daily_repo.quarantined(s, SHOW)
        assert row.error == (
            "cannot read: permission denied; let the daemon's user read it (chmod or chown), "
            "and it is ingested without a restart"
        )
    monkeypatch.setattr(stage, "probe", real_probe)
    path.chmod(0o644)
    mended = ingestor.run(IngestJob(SHOW, stamped(path)))
    assert mended["result"] == "registered"
    with catalog.session(readonly=True) as s:
        assert daily_repo.quarantined(s, SHOW) == []
        [daily] = daily_repo.list_dailies(s, SHOW)
        assert (daily.shot, daily.frame_count) == ("sh010", 4)


def test_a_file_quarantined_before_quarantines_kept_a_change_stamp_is_probed_again_once(
    catalog: Catalog, tmp_path: Path
) -> None:
    """A row an older Rushes quarantined has no change stamp, so a permission mended since would never be seen:
    the first scan that gives the file a stamp probes it again."""
    path = footage.movie(tmp_path / "sh010_v1.mp4", n=4, size=(64, 48))
    st = path.stat()
    with catalog.session() as s:
        daily_repo.quarantine(s, SHOW, str(path), st.st_size, st.st_mtime, "cannot read: permission denied")
    ingestor = Ingestor(catalog)
    assert ingestor.run(IngestJob(SHOW, candidate(path)))["result"] == "quarantined"  # no stamp: as it was
    assert ingestor.run(IngestJob(SHOW, stamped(path)))["result"] == "registered"


def test_a_folder_quarantined_as_unreadable_stops_being_listed_once_it_can_be_read(
    catalog: Catalog, tmp_path: Path
) -> None:
    """Its files are ingested on their own once its mode is mended (the watcher hears the chmod); the folder's
    own row used to stay listed for good, as the folder is still there."""
    folder = tmp_path / "sh190"
    folder.mkdir()
    text = tmp_path / "sh020_v1.mov"
    text.write_text("not a movie")
    with catalog.session() as s:
        daily_repo.quarantine(s, SHOW, str(folder), 0, 0.0, f"{FOLDER_UNREADABLE}: permission denied; ...")
        daily_repo.quarantine(s, SHOW, str(text), 11, 1.0, "not a media file (FFmpeg found no known format)")
    with catalog.session() as s:
        assert daily_repo.forget_gone_quarantined(s, SHOW) == [(str(folder), "folder readable again")]
    with catalog.session(readonly=True) as s:
        assert [row.path for row in daily_repo.quarantined(s, SHOW)] == [str(text)]
    assert daily_repo.FOLDER_UNREADABLE == FOLDER_UNREADABLE  # the catalog reads the scan's reason


def test_an_ingest_folder_whose_own_path_is_not_utf8_is_named_as_the_cause_and_refused_by_show_add(
    catalog: Catalog, tmp_path: Path
) -> None:
    """Every daily in a Latin-1 folder was quarantined "file name is not valid UTF-8; rename it": renaming the
    files, whose names were fine, mended nothing; `show add` had taken the folder without a word."""
    from daemon.settings import ConfigError
    from daemon.shows import add_show
    from integrations.ingest.candidates import BAD_FOLDER
    from integrations.ingest.options import IngestOptions
    from integrations.ingest.scan import scan_root

    root = Path(os.fsdecode(os.fsencode(tmp_path) + b"/Proj\xe9t_dailies"))
    footage.movie(root / "sh010_1.mov", n=4, size=(64, 48))
    [found] = scan_root(root, IngestOptions())
    assert isinstance(found, Rejected) and found.reason == BAD_FOLDER
    dated = Path(os.fsdecode(os.fsencode(tmp_path) + b"/in/Journ\xe9e_03"))  # a folder inside a good one
    footage.movie(dated / "sh020_1.mov", n=4, size=(64, 48))
    [inside] = scan_root(tmp_path / "in", IngestOptions())
    assert isinstance(inside, Rejected) and inside.reason == BAD_FOLDER
    with pytest.raises(ConfigError, match=r"folder .*Proj\\xe9t_dailies has a path that is not valid UTF-8"):
        add_show(catalog, "LAT", ingest=[root])


def test_names_that_are_not_utf8_are_queued_and_quarantined_once_each_on_both_catalogs(
    catalog_url: str, tmp_path: Path
) -> None:
    """The daemon's ingest job keyed and carried the raw name: every scan logged a UnicodeEncodeError traceback
    and the file never reached the catalog; a sequence in such a folder was one rejection per frame."""
    from integrations.ingest.candidates import BAD_FOLDER, BAD_NAME
    from integrations.ingest.options import IngestOptions
    from integrations.ingest.scan import scan_root

    root = tmp_path / "in"
    movie = Path(os.fsdecode(os.fsencode(root) + b"/sh020_\xe9.mov"))
    footage.movie(movie, n=4, size=(64, 48))
    folder = Path(os.fsdecode(os.fsencode(root) + b"/sh040\xe9"))
    footage.sequence(folder, "sh040", first=1001, n=5, size=(64, 48))
    found = scan_root(root, IngestOptions())
    assert all(isinstance(f, Rejected) for f in found)
    assert sorted(f.reason for f in found if isinstance(f, Rejected)) == [
        BAD_FOLDER,
        BAD_NAME,
    ]  # its folder's

    catalog = Catalog(catalog_url)
    catalog.migrate()
    try:
        with catalog.session() as s:
            show_repo.ensure_show(s, SHOW)
        ingestor = Ingestor(catalog)
        for item in found + found:  # a rescan finds them again
            ingestor.queue(SHOW, item)
        jobs = queued_ingest_jobs(catalog)
        assert sorted(jobs, key=IngestJob.key) == sorted(
            (IngestJob(SHOW, item) for item in found), key=IngestJob.key
        )
        assert [ingestor.run(job)["result"] for job in jobs] == ["quarantined", "quarantined"]
        with catalog.session(readonly=True) as s:
            rows = [(r.path, r.error, r.size_bytes) for r in daily_repo.quarantined(s, SHOW)]
        assert sorted(path for path, _, _ in rows) == sorted(
            daily_repo.stored_path(str(f.path)) for f in found
        )
        assert all(
            error in (BAD_NAME, BAD_FOLDER) and size > 0 for _, error, size in rows
        )  # the files' own sizes: read back
    finally:
        catalog.dispose()
