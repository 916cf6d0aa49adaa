"""`rushes daemon`: ingest watchers, tracker pollers, the scheduler and the job runner in one process.

Start-up: open the catalog (migrated) -> health server -> enqueue a reconcile scan of every ingest root ->
watchers, pollers, scheduler (when this daemon leads), runner -> READY=1 to systemd once the first reconcile
scan is queued and ingested. The main loop pings the systemd watchdog and keeps metrics current. SIGTERM or
SIGINT stops everything: jobs in hand are released (not counted as attempts) for the next start.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import socket
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from daemon import fixing, training
from daemon.catalog import Job
from daemon.catalog import jobs as job_repo
from daemon.context import Context, open_context
from daemon.crashpoints import crash_point
from daemon.ingest import Ingestor, Outcome
from daemon.logs import get_logger
from daemon.ops import notify
from daemon.ops.health import HealthServer, Readiness
from daemon.ops.metrics import Metrics
from daemon.publishing import publish
from daemon.runner import Lane, LaneLoop, in_process, in_worker
from daemon.settings import Settings, ShowConfig
from daemon.shows import all_shows
from daemon.trackers import make_tracker
from daemon.tracking import poll_fix_requests, poll_reviews
from daemon.watching import ShowWatchers
from integrations.executors.base import ExecutorUnavailable
from integrations.executors.build import build_executor
from integrations.executors.spec import JobOutcome
from integrations.ingest.candidates import Candidate, Found, Rejected
from integrations.trackers.base import Tracker, TrackerError, TrackerFatal

log = get_logger("rushes.daemon")

_ = (fixing, training)  # their Permanent subclasses must be known here (see runner.is_permanent)


def found_payload(show: str, found: Found) -> dict[str, Any]:
    return {"show": show, "type": type(found).__name__, "found": _jsonable(asdict(found))}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def found_from(payload: dict[str, Any]) -> Found:
    data = dict(payload["found"])
    data["path"] = Path(data["path"])
    data["files"] = tuple(Path(f) for f in data.get("files", ()))
    if payload["type"] == "Rejected":
        return Rejected(**data)
    data["root"] = Path(data["root"])
    data["frames"] = tuple(data.get("frames", ()))
    return Candidate(**data)


def ingest_key(show: str, found: Found) -> str:
    if isinstance(found, Candidate):
        return f"ingest:{show}:{found.path}:{found.size}:{found.mtime}:{len(found.files)}"
    return f"ingest:{show}:{found.path}:rejected:{found.reason}"


class Daemon:
    def __init__(self, settings: Settings, config_path: Path | None = None) -> None:
        self.settings = settings
        self.config_path = config_path
        self.ctx: Context = open_context(settings)
        self.catalog = self.ctx.catalog
        self.metrics = Metrics()
        self.readiness = Readiness()
        self.shows: list[ShowConfig] = all_shows(settings, self.catalog)
        # Tracker clients are not thread-safe (shotgun_api3 shares one HTTP connection): the poller thread and
        # the publish lane (one job at a time) each get their own adapter.
        self.tracker: Tracker | None = make_tracker(settings.tracker)
        self.publisher: Tracker | None = make_tracker(settings.tracker)
        self.ingestor = Ingestor(self.catalog, [self._count_ingest])
        self.watchers = ShowWatchers(self.shows, self._enqueue_found)
        self.stop_event = threading.Event()
        self.health = HealthServer.from_settings(settings.http, self.metrics, self.readiness)
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="rushes-job")
        self.executor = build_executor(
            settings.executor, settings.max_jobs, settings.data_dir / "tmp" / "jobs"
        )
        base = {"config": str(config_path) if config_path else None}
        logs = str(settings.logs_dir)
        lease = settings.job_lease_seconds
        per_show = {"per_show": settings.max_jobs_per_show, "show_kinds": ["train", "fix"]}
        self.lanes = [
            Lane(
                self.catalog,
                "ingest",
                ["ingest"],
                in_process(self._pool, self._ingest_job),
                lease_s=lease or 60,
                on_done=self._done,
            ),
            Lane(
                self.catalog,
                "publish",
                ["publish"],
                in_process(self._pool, self._publish_job),
                lease_s=lease or 60,
                backoff=lambda n: min(300.0, 5.0 * 2 ** max(0, n - 1)),
                on_done=self._done,
            ),
            Lane(
                self.catalog,
                "train",
                ["train"],
                in_worker(self.executor, "daemon.worker_entry:train", base, logs, self._train_needs_gpu),
                lease_s=lease or 120,
                placement={"yield_to": ["fix"], **per_show},
                on_done=self._done,
            ),
            Lane(
                self.catalog,
                "fix",
                ["fix"],
                in_worker(self.executor, "daemon.worker_entry:fix", base, logs),
                concurrency=settings.max_jobs,
                lease_s=lease or 120,
                placement=per_show,
                on_done=self._done,
            ),
        ]
        self.loop = LaneLoop(self.lanes)
        self.scheduler: Any = None
        self.leadership: Any = None
        self._threads: list[threading.Thread] = []

    # ---- ingest ----------------------------------------------------------------------------------------

    def _enqueue_found(self, show: str, found: Found) -> None:
        with self.catalog.session() as s:
            job_repo.enqueue(s, "ingest", ingest_key(show, found), found_payload(show, found), show=show)
        crash_point("ingest.queued")

    def _ingest_job(self, job: Job) -> dict[str, Any]:
        outcome = self.ingestor.handle(str(job.payload["show"]), found_from(job.payload))
        crash_point("ingest.catalogued")
        return {"result": outcome.result, "daily": outcome.daily_id}

    def _count_ingest(self, show: str, outcome: Outcome) -> None:
        if outcome.result != "unchanged":
            self.metrics.ingested(show, outcome.result)

    def reconcile(self) -> None:
        """Rescan every ingest root now (through the stability gate; the catalog skips what it has)."""
        self.watchers.rescan()

    def _train_needs_gpu(self, job: Job) -> bool:
        """Training asks the executor for a GPU when its show trains on CUDA, or on "auto" where GPUs exist."""
        show = next((s for s in self.shows if s.code == job.show), None)
        device = show.train.device if show else "auto"
        return device == "cuda" or (device == "auto" and int(getattr(self.executor, "gpus", 0)) > 0)

    # ---- publish -----------------------------------------------------------------------------------------

    def _publish_job(self, job: Job) -> dict[str, Any]:
        crash_point("publish.start")
        try:
            result = publish(self.settings, self.catalog, self.publisher, job)
        except TrackerError as exc:
            if not isinstance(exc, TrackerFatal):
                self.metrics.tracker_error(self.publisher.name if self.publisher else "none", "publish")
            raise
        crash_point("publish.done")
        return result

    def _done(self, job: Job, outcome: JobOutcome) -> None:
        self.metrics.job_finished(job.kind, "ok" if outcome.ok else "failed", outcome.duration_s)
        if job.kind == "train" and outcome.ok and job.show:
            for head, scores in (outcome.result.get("metrics") or {}).items():
                for metric in ("psnr", "ssim"):
                    if metric in scores:
                        self.metrics.set_eval_score(job.show, head, float(scores[metric]), metric)
            for head, loss in (outcome.result.get("losses") or {}).items():
                self.metrics.set_training_loss(job.show, head, float(loss))

    # ---- tracker -----------------------------------------------------------------------------------------

    def _poll_tracker(self) -> None:
        assert self.tracker is not None
        wait = self.settings.tracker.poll_interval
        while not self.stop_event.is_set():
            try:
                fixes = poll_fix_requests(self.tracker, self.catalog, self.shows)
                crash_point("tracker.polled")
                poll_reviews(self.tracker, self.catalog)
                wait = self.settings.tracker.poll_interval
                if fixes.new:
                    log.info("tracker.fix_requests", new=fixes.new)
            except TrackerFatal as exc:
                self.metrics.tracker_error(self.tracker.name, "fatal")
                log.error("tracker.fatal", error=str(exc))
                wait = min(600.0, max(wait * 2, 60.0))
            except TrackerError as exc:
                self.metrics.tracker_error(self.tracker.name, "poll")
                log.warning("tracker.unavailable", error=str(exc))
                wait = min(300.0, wait * 2)
            except Exception as exc:
                log.error("tracker.poll_failed", error=str(exc), exc_info=True)
            self.stop_event.wait(wait)

    # ---- scheduler -----------------------------------------------------------------------------------------

    def _start_scheduler(self) -> None:
        try:
            from daemon.leader import Leadership
            from daemon.scheduling import Scheduler
        except ImportError:  # pragma: no cover - the scheduler module ships with the daemon
            return
        self.leadership = Leadership(self.catalog)
        self.scheduler = Scheduler(self.catalog, self.shows, on_reconcile=self.reconcile)

    def _lead(self) -> None:
        if self.leadership is None or self.scheduler is None:
            return
        if self.leadership.is_leader and not self.leadership.still_leading():
            log.warning("scheduler.leadership_lost")  # e.g. the PostgreSQL session holding the lock dropped
            self.scheduler.shutdown(wait=False)
        if not self.leadership.is_leader and self.leadership.try_acquire():
            log.info("scheduler.leader")
            self.scheduler.start()

    # ---- life cycle ----------------------------------------------------------------------------------------

    def _catalog_ok(self) -> bool:
        self.catalog.check()  # raises CatalogError with the reason, which /readyz shows
        return True

    def _executor_ok(self) -> bool:
        problem = self.executor.health()  # e.g. "cannot reach Ray at ray://...: ..."
        if problem:
            raise ExecutorUnavailable(problem)
        return True

    def _queue_depths(self) -> list[tuple[str, str, float]]:
        with self.catalog.session(readonly=True) as s:
            return [(kind, state, float(n)) for (kind, state), n in job_repo.counts(s).items()]

    def recover_orphans(self) -> int:
        """Jobs this host was running when its daemon died (the lease holder's process is gone) are failed
        as one attempt and queued again now, instead of waiting for their leases to run out."""
        host = socket.gethostname()
        recovered = 0
        with self.catalog.session() as s:
            for job in job_repo.list_jobs(s, state="running", limit=None):
                owner = job.lease_owner or ""
                parts = owner.split(":")
                if len(parts) < 2 or parts[0] != host or not parts[1].isdigit() or _alive(int(parts[1])):
                    continue
                job_repo.fail(s, job.id, owner, "the daemon running this job died; retrying", backoff=0)
                recovered += 1
        if recovered:
            log.warning("jobs.recovered", count=recovered)
        return recovered

    def start(self) -> None:
        self.recover_orphans()
        self.readiness.add("catalog", self._catalog_ok)
        self.readiness.add("executor", self._executor_ok)
        self.readiness.expect("first_reconcile")
        self.metrics.set_queue_source(self._queue_depths)
        self.health.start()
        self.loop.start()
        self.watchers.start()  # its first reconcile scan feeds the stability gate
        if self.tracker is not None:
            thread = threading.Thread(target=self._poll_tracker, name="rushes-tracker", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._start_scheduler()
        self._lead()
        self._wait_for_ingest()
        self.readiness.set("first_reconcile")
        notify.ready(f"watching {len(self.shows)} show(s)")
        log.info(
            "daemon.ready",
            shows=[s.code for s in self.shows],
            http=self.health.url,
            tracker=self.settings.tracker.kind,
        )

    def _wait_for_ingest(self, timeout: float = 120.0) -> None:
        """Until the first reconcile scan has passed the stability gate and been ingested (or `timeout`)."""
        deadline = time.monotonic() + timeout
        time.sleep(0.2)
        while time.monotonic() < deadline and not self.stop_event.is_set() and not self.watchers.drained():
            time.sleep(0.2)
        while time.monotonic() < deadline and not self.stop_event.is_set():
            with self.catalog.session(readonly=True) as s:
                waiting = sum(
                    n
                    for (kind, state), n in job_repo.counts(s).items()
                    if kind == "ingest" and state in ("queued", "running")
                )
            if waiting == 0:
                return
            time.sleep(0.2)

    def run_forever(self) -> None:
        interval = notify.watchdog_interval() or 5.0
        while not self.stop_event.wait(min(interval, 5.0)):
            notify.watchdog()
            self._lead()
            if time.monotonic() - self.loop.last_tick > 300:
                log.error("runner.stalled", seconds=round(time.monotonic() - self.loop.last_tick))

    def stop(self) -> None:
        notify.stopping("shutting down")
        self.stop_event.set()
        self.watchers.stop()
        if self.scheduler is not None and self.leadership is not None and self.leadership.is_leader:
            self.scheduler.shutdown()
            self.leadership.release()
        self.loop.stop(release=True)
        self.executor.shutdown(wait=False)
        self._pool.shutdown(wait=False, cancel_futures=True)
        for thread in self._threads:
            thread.join(timeout=10)
        self.health.stop()
        self.ctx.close()
        log.info("daemon.stopped")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_daemon(settings: Settings, config_path: Path | None = None) -> None:
    daemon = Daemon(settings, config_path)

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("daemon.signal", signal=signal.Signals(signum).name)
        daemon.stop_event.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        daemon.start()
        daemon.run_forever()
    finally:
        daemon.stop()
