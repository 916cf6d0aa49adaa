"""A year of a 20-show facility in one catalog: how long the listing commands, /metrics and the job queue take.

    .venv/bin/python bench/catalog_scale.py                        # SQLite: 50,000 dailies, 500,000 jobs
    .venv/bin/python bench/catalog_scale.py --dailies 5000 --jobs 50000 --postgres
    .venv/bin/python bench/catalog_scale.py --made-before --name catalog_scale_made_before  # no auto-vacuum

Fills a fresh catalog through the catalog's own tables (20 shows, `--dailies` dailies spread over them, 25
model versions and `--requests` fix requests a show, `--jobs` jobs of which all but a few dozen are done or
dead, as a year leaves them), then times, each as a fresh `rushes` process where it is a command:
`rushes status`, `rushes status --show S`, `rushes dailies list --show S`, `rushes jobs list`,
`rushes jobs list --state dead`, `rushes model list --show S`, `rushes prune` (listing only),
and in process: the daemon's /metrics and /readyz bodies, one claim of the job queue (median of 20), and the
queries behind them with SQLite's EXPLAIN QUERY PLAN. Then the job rows' retention: the catalog's size (the SQLite
file, or PostgreSQL's jobs table with its indexes), `rushes prune --yes` (the payloads of the jobs done over 30 days
ago emptied, the pages given back), the size after, and the next night's `rushes prune --yes`. Each job's payload
is what Rushes writes for its kind (an ingest job of a 150-frame sequence names every frame: 10.4 kB). Writes
bench/out/catalog_scale.json and .md with the load average beside every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import OUT, machine, md_table, write_json
from daemon.catalog import Catalog, Daily, FixRequest, Job, ModelVersion, Show, utcnow
from daemon.catalog import jobs as job_repo
from daemon.jobs.payloads import FixJob, IngestJob, PublishJob, TrainJob
from integrations.ingest.candidates import Candidate

SHOWS = 20
KINDS = ("ingest", "ingest", "ingest", "fix", "publish", "train")


@dataclass(frozen=True)
class Timing:
    what: str
    seconds: float
    rows_out: int  # lines printed (a command) or rows returned
    load: float


def fill(catalog: Catalog, dailies: int, jobs: int, requests: int, root: Path) -> list[str]:
    """Write the rows straight into the catalog's tables (the catalog's own models), in batches."""
    now = utcnow()
    codes = [f"SH{n:02d}" for n in range(SHOWS)]
    with catalog.session() as s:
        for code in codes:
            s.add(Show(code=code, name=code, config={}))
        s.flush()
        ids = {show.code: show.id for show in s.query(Show)}
    per_show = dailies // SHOWS
    rows: list[dict[str, Any]] = []
    for code in codes:
        for n in range(per_show):
            seq = n % 2 == 0
            rows.append(
                dict(
                    show_id=ids[code],
                    path=str(
                        root / code / f"sh{n:05d}" / (f"sh{n:05d}.####.exr" if seq else f"sh{n:05d}.mov")
                    ),
                    root=str(root / code),
                    shot=f"sh{n // 4:05d}",
                    take=str(n % 4),
                    kind="sequence" if seq else "movie",
                    first_frame=1001,
                    last_frame=1150,
                    frame_count=150,
                    fps="24",
                    width=16,
                    height=16,
                    missing_frames=[],
                    size_bytes=150_000,
                    mtime=1.7e9 + n,
                    content_hash=f"{code}-{n:08x}",
                    status="quarantined" if n % 97 == 0 else "registered",
                    error="truncated: only 2 of 6 frames are in the file" if n % 97 == 0 else None,
                    created_at=now,
                    updated_at=now,
                )
            )
    _batched(catalog, Daily, rows)
    versions = [
        dict(show_id=ids[c], version=v, path=str(root / c / "models" / f"v{v}"), promoted=v == 25, metrics={})
        for c in codes
        for v in range(1, 26)
    ]
    _batched(catalog, ModelVersion, versions)
    reqs = [
        dict(
            show_id=ids[c],
            request_key=f"{c}-req-{n}",
            shot=f"sh{n:05d}",
            kinds=["denoise"],
            params={},
            qualified_codes=[],
            state="published",
            created_at=now,
            updated_at=now,
        )
        for c in codes
        for n in range(requests // SHOWS)
    ]
    _batched(catalog, FixRequest, reqs)
    year = timedelta(days=365)
    rng = random.Random(1)
    job_rows = []
    for n in range(jobs):
        when = now - year + year * n / jobs
        live = n >= jobs - 40
        kind = KINDS[n % len(KINDS)]
        state = "queued" if live else ("dead" if n % 211 == 0 else "done")
        code = codes[rng.randrange(SHOWS)]
        payload, result = job_payload(kind, n, code)
        job_rows.append(
            dict(
                kind=kind,
                key=f"{kind}:{n}",
                show=code,
                payload=payload,
                state=state,
                attempts=1,
                max_attempts=5,
                run_after=when,
                last_error="Permanent: frames outside the shot" if state == "dead" else None,
                result=result if state == "done" else None,
                finished_at=None if live else when + timedelta(seconds=30),
                created_at=when,
                updated_at=when,
            )
        )
        if len(job_rows) == 20_000:  # a year of payloads is gigabytes: written as they are made
            _batched(catalog, Job, job_rows)
            job_rows = []
    _batched(catalog, Job, job_rows)
    return codes


def written_before(job: IngestJob) -> dict[str, Any]:
    """An ingest job's payload as every Rushes before revision 0009 wrote it, each frame by its path and number (the
    catalog a year of them left; now a sequence is written as its pattern and runs of frames)."""
    data = job.to_json()
    found = data["found"]
    found.pop("frame_runs", None)
    found["files"] = [str(f) for f in job.found.files]
    found["frames"] = list(getattr(job.found, "frames", ()))
    return data


def job_payload(kind: str, n: int, code: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """What Rushes writes for a job of `kind` (its payload, and its result when done): every other ingest is a
    150-frame sequence, named frame by frame as the watcher finds it (56-character paths)."""
    if kind == "ingest":
        root = Path(f"/mnt/dailies/{code}/20261206")
        if n % 2 == 0:
            frames = tuple(range(1001, 1151))
            folder = root / f"A{n:06d}"
            files = tuple(folder / f"A{n:06d}_comp.{f:04d}.exr" for f in frames)
            pattern = folder / f"A{n:06d}_comp.####.exr"
            found = Candidate(root, "sequence", pattern, files, 150 * 12_000_000, 1.7e9 + n, frames)
        else:
            movie = root / f"A{n:06d}_C001.mov"
            found = Candidate(root, "movie", movie, (movie,), 900_000_000, 1.7e9 + n)
        return written_before(IngestJob(code, found)), {"result": "registered", "daily": n}
    if kind == "fix":
        return FixJob(n, "denoise", f"shotgrid:Task:{n}").to_json(), {"publication": n}
    if kind == "publish":
        return PublishJob(n, f"shotgrid:Task:{n}", "denoise").to_json(), {"version": str(n)}
    return TrainJob(code, "window").to_json(), {"show": code, "version": n % 25, "promoted": False}


def _batched(catalog: Catalog, model: type[Any], rows: list[dict[str, Any]], size: int = 20_000) -> None:
    for start in range(0, len(rows), size):
        with catalog.session() as s:
            s.execute(insert(model), rows[start : start + size])


def timed(what: str, fn: Callable[[], int], repeat: int = 1) -> Timing:
    times, out = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return Timing(what, round(statistics.median(times), 3), out, os.getloadavg()[0])


def command(home: Path, config: Path, *args: str) -> Callable[[], int]:
    env = {**os.environ, "RUSHES_HOME": str(home), "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}

    def run() -> int:
        done = subprocess.run(
            [sys.executable, "-m", "daemon", "--config", str(config), *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"rushes {' '.join(args)} failed: {done.stderr[-2000:]}")
        return done.stdout.count("\n")

    return run


def payload_sizes() -> dict[str, int]:
    """The JSON of one 150-frame sequence's ingest payload, as written before and now."""
    payload, _ = job_payload("ingest", 0, "SH00")
    job = IngestJob.from_json(payload)
    return {"before": len(json.dumps(payload)), "now": len(json.dumps(job.to_json()))}


def catalog_bytes(catalog: Catalog) -> int:
    """The SQLite file with its WAL, or PostgreSQL's jobs table with its indexes and TOAST."""
    if catalog.dialect == "sqlite":
        file = Path(str(catalog.engine.url.database))
        wal = file.with_name(file.name + "-wal")
        return file.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    with catalog.engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_total_relation_size('jobs')")).scalar_one())


def plans(catalog: Catalog) -> dict[str, list[str]]:
    """SQLite's plan for the queue's hot queries."""
    if catalog.dialect != "sqlite":
        return {}
    queries = {
        "claim": "SELECT id FROM jobs WHERE ((state = 'queued' AND run_after <= :now) OR (state = 'running' AND "
        "lease_expires < :now)) ORDER BY CASE kind WHEN 'fix' THEN 0 WHEN 'publish' THEN 0 WHEN 'ingest' THEN 1 "
        "WHEN 'train' THEN 2 ELSE 3 END, run_after, id LIMIT 1",
        "counts": "SELECT kind, state, count(*) FROM jobs GROUP BY kind, state",
        "prune": "SELECT id FROM jobs WHERE state IN ('done', 'dead') AND finished_at < :now ORDER BY id",
        "prune job rows": "SELECT id FROM jobs WHERE state = 'done' AND finished_at < :now AND pruned_at IS NULL "
        "ORDER BY finished_at LIMIT 2000",
        "jobs list --show": "SELECT * FROM jobs WHERE show = 'SH01' ORDER BY id DESC LIMIT 50",
    }
    out: dict[str, list[str]] = {}
    with catalog.session(readonly=True) as s:
        for name, sql in queries.items():
            rows = s.execute(text("EXPLAIN QUERY PLAN " + sql), {"now": utcnow()}).all()
            out[name] = [str(row[-1]) for row in rows]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dailies", type=int, default=50_000)
    parser.add_argument("--jobs", type=int, default=500_000)
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument(
        "--postgres", action="store_true", help="a throw-away local PostgreSQL instead of SQLite"
    )
    parser.add_argument(
        "--made-before",
        action="store_true",
        help="SQLite: a catalog file an earlier Rushes made (no auto-vacuum); the prune then runs with --vacuum",
    )
    parser.add_argument("--name", default="catalog_scale")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rushes-catscale-"))
    home = work / "home"
    home.mkdir()
    server = None
    url = f"sqlite:///{home / 'catalog.sqlite'}"
    if args.postgres:
        from tests.servers.postgres import PostgresServer

        server = PostgresServer.start(work / "pg")
        url = server.create_database("catscale")
    elif args.made_before:  # a file with a table in it keeps auto_vacuum = NONE
        sqlite3.connect(home / "catalog.sqlite").execute("CREATE TABLE made_before (x)").connection.close()
    catalog = Catalog(url)
    catalog.migrate()
    started = time.perf_counter()
    codes = fill(catalog, args.dailies, args.jobs, args.requests, work / "dailies")
    fill_s = time.perf_counter() - started
    if catalog.dialect == "postgresql":  # as a year-old database is: its statistics gathered (autovacuum)
        with catalog.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    print(f"filled in {fill_s:.0f} s", flush=True)
    config = work / "rushes.yaml"
    shows = [{"code": c, "ingest": {"roots": [str(work / "dailies" / c)]}} for c in codes]
    config.write_text(yaml.safe_dump({"data_dir": str(home), "catalog_url": url, "shows": shows}))
    results: list[Timing] = []
    for label, cmd in (
        ("rushes status", ("status",)),
        ("rushes status --show SH01", ("status", "--show", "SH01")),
        ("rushes dailies list --show SH01", ("dailies", "list", "--show", "SH01")),
        ("rushes jobs list", ("jobs", "list")),
        ("rushes jobs list --state dead", ("jobs", "list", "--state", "dead")),
        ("rushes model list --show SH01", ("model", "list", "--show", "SH01")),
        ("rushes prune (listing)", ("prune",)),
    ):
        results.append(timed(label, command(home, config, *cmd)))
        print(results[-1], flush=True)

    def scrape() -> int:  # what /metrics reads from the catalog at each scrape (the daemon's queue depths)
        with catalog.session(readonly=True) as s:
            return len(job_repo.counts(s))

    results.append(timed("/metrics queue depths", scrape, repeat=3))
    print(results[-1], flush=True)

    def claim_once() -> int:
        with catalog.session() as s:
            job = job_repo.claim(s, "bench:1:lane", lease_s=60)
            if job is not None:
                job_repo.release(s, job.id, "bench:1:lane")
        return 1

    results.append(timed("claim one job", claim_once, repeat=20))
    print(results[-1], flush=True)
    sizes = {"after a year": catalog_bytes(catalog)}
    results.append(timed("rushes prune --yes (a year of job rows)", command(home, config, "prune", "--yes")))
    print(results[-1], flush=True)
    sizes["after the prune"] = catalog_bytes(catalog)
    if args.made_before:
        vacuumed = command(home, config, "prune", "--yes", "--vacuum")
        results.append(timed("rushes prune --yes --vacuum (daemons stopped)", vacuumed))
        print(results[-1], flush=True)
        sizes["after --vacuum"] = catalog_bytes(catalog)
    results.append(timed("rushes prune --yes (the next night)", command(home, config, "prune", "--yes")))
    print(results[-1], flush=True)
    results.append(timed("rushes jobs list (after the prune)", command(home, config, "jobs", "list")))
    print(results[-1], flush=True)
    results.append(timed("rushes status (after the prune)", command(home, config, "status")))
    print(results[-1], flush=True)
    print(sizes, flush=True)
    data = {
        "machine": machine(),
        "catalog": catalog.dialect,
        "dailies": args.dailies,
        "jobs": args.jobs,
        "requests": args.requests,
        "fill_s": round(fill_s, 1),
        "timings": [asdict(t) for t in results],
        "catalog_bytes": sizes,
        "sequence_ingest_payload_bytes": payload_sizes(),
        "plans": plans(catalog),
    }
    write_json(OUT / f"{args.name}.json", data)
    table = md_table(["what", "seconds", "lines/rows", "load"], [asdict(t).values() for t in results])
    sized = md_table(["catalog", "MB"], [(what, round(n / 1e6, 1)) for what, n in sizes.items()])
    (OUT / f"{args.name}.md").write_text(
        f"# {args.dailies:,} dailies, {args.jobs:,} jobs ({catalog.dialect})\n\n{table}\n\n{sized}\n"
    )
    print(table)
    catalog.dispose()
    if server is not None:
        server.stop()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
