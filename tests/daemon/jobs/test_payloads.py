"""Typed job payloads: each reads back what it wrote, reads what earlier versions wrote, and names its job by
a key that is the same for the same work and different for different work."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from daemon.jobs.payloads import (
    AnswerJob,
    FixJob,
    IngestJob,
    PublishJob,
    TrainJob,
    TrainReport,
    publication_key,
)
from integrations.ingest.candidates import Candidate, Rejected

START = datetime(2025, 6, 2, 1, 0, tzinfo=UTC)


def candidate(size: int = 10, mtime: float = 1.0) -> Candidate:
    files = (Path("/in/sh010/sh010.1001.exr"), Path("/in/sh010/sh010.1002.exr"))
    return Candidate(
        root=Path("/in"),
        kind="sequence",
        path=Path("/in/sh010/sh010.####.exr"),
        files=files,
        size=size,
        mtime=mtime,
        frames=(1001, 1002),
        shot="sh010",
    )


def test_every_payload_reads_back_what_it_wrote() -> None:
    payloads = [
        IngestJob("DEMO", candidate()),
        IngestJob("DEMO", Rejected(Path("/in/x.txt"), "no shot matches")),
        FixJob(3, "denoise", "shotgrid:event:9"),
        PublishJob(4, "shotgrid:event:9", "denoise"),
        AnswerJob(3, "frames 100-110 lie outside the shot", "shotgrid:event:9", "interpolate"),
        TrainJob("DEMO", "window", deadline=START + timedelta(hours=5), window=START),
        TrainJob("DEMO", "quiet", deadline=START, daily=12),
    ]
    for payload in payloads:
        assert type(payload).from_json(payload.to_json()) == payload  # type: ignore[attr-defined]


def test_payloads_queued_by_earlier_versions_still_run() -> None:
    assert FixJob.from_json({"request_id": 3, "kind": "denoise"}) == FixJob(3, "denoise")
    assert PublishJob.from_json({"publication_id": 4}) == PublishJob(4)
    old = TrainJob.from_json({"show": "DEMO", "reason": "window", "deadline": START.isoformat()})
    assert old == TrainJob("DEMO", "window", deadline=START)


def test_keys_name_the_work() -> None:
    assert IngestJob("DEMO", candidate()).key() == IngestJob("DEMO", candidate()).key()
    assert IngestJob("DEMO", candidate(size=11)).key() != IngestJob("DEMO", candidate()).key()
    assert IngestJob("DEMO", candidate()).key() != IngestJob("OTHER", candidate()).key()
    assert FixJob(3, "denoise", "sg:1").key() == "fix:sg:1:denoise"
    assert (
        PublishJob(4, "sg:1", "denoise").key() == publication_key("sg:1", "denoise") == "publish:sg:1:denoise"
    )
    assert TrainJob("DEMO", "window", window=START).key() == "train:DEMO:20250602T0100"
    assert TrainJob("DEMO", "quiet", daily=12).key() == "train:DEMO:quiet:12"
    assert TrainJob("DEMO", "demo").key() == "train:DEMO:demo"
    assert AnswerJob(3, "why", "sg:1").key() == "answer:sg:1:request"  # the whole request: one answer
    assert AnswerJob(3, "why", "sg:1", "denoise").key() == "answer:sg:1:denoise"


def test_a_train_report_gives_its_scores_by_head_and_metric() -> None:
    report = TrainReport(
        "DEMO",
        version=2,
        promoted=True,
        metrics={"denoise": {"psnr": 31.5, "ssim": 0.91, "baseline_best": 29.0}, "upscale": {"psnr": 27.0}},
        losses={"denoise": 0.01},
    )
    assert report.scores() == [
        ("denoise", "psnr", 31.5),
        ("denoise", "ssim", 0.91),
        ("upscale", "psnr", 27.0),
    ]
    assert TrainReport.from_json(report.to_json()) == report


def test_a_sequence_ingest_payload_is_its_pattern_and_frame_runs_and_old_payloads_still_run() -> None:
    """An ingest job of a 150-frame sequence named every frame: 10 kB a job, gigabytes a year in the catalog."""
    folder = Path("/mnt/dailies/SH01/20261206/A000042")
    frames = (*range(1001, 1101), *range(1102, 1151))  # frame 1101 missing: two runs
    files = tuple(folder / f"A000042_comp.{n:04d}.exr" for n in frames)
    seq = Candidate(
        Path("/mnt/dailies/SH01"), "sequence", folder / "A000042_comp.####.exr", files, 9, 1.0, frames
    )
    job = IngestJob("SH01", seq)
    written = job.to_json()
    assert written["found"]["frame_runs"] == [[1001, 1100], [1102, 1150]]
    assert "files" not in written["found"] and len(json.dumps(written)) < 400
    assert IngestJob.from_json(written) == job and IngestJob.from_json(written).key() == job.key()
    older = {
        "show": "SH01",
        "type": "Candidate",
        "found": {**written["found"], "files": [str(f) for f in files]},
    }
    del older["found"]["frame_runs"]
    older["found"]["frames"] = list(frames)  # what every Rushes before wrote
    assert len(json.dumps(older)) > 9_000 and IngestJob.from_json(older) == job
    odd = replace(seq, files=(*files[:-1], folder / "A000042_comp_final.1150.exr"))  # not the pattern's names
    assert IngestJob.from_json(IngestJob("SH01", odd).to_json()) == IngestJob("SH01", odd)
    assert "files" in IngestJob("SH01", odd).to_json()["found"]
