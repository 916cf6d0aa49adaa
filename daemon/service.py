"""`rushes daemon`: the composition root. It wires the stages (daemon.stages) to their sources and lanes.

Start-up: open the catalog (migrated) -> recover jobs a dead daemon of this host held -> health server ->
job lanes (ingest and publish on threads here, train and fix in worker processes through the executor) ->
ingest watchers (their first reconcile scan) -> scheduler (when this daemon leads) -> once that scan has been
ingested (or after waiting 120 s for it), the tracker poller (requests, then feedback) and the webhook worker
(tracker.webhook: Flow deliveries on the HTTP port, daemon.stages.webhooks), so a request made while the daemon
was down finds the daily that landed meanwhile -> READY=1 to systemd.
A job queued here (a file found, a fix request read) wakes the lanes at once; start-up waits on finished jobs,
not a timer. The main loop pings the systemd watchdog and keeps leadership current. SIGTERM or SIGINT stops everything: jobs in hand are
released (not counted as attempts) for the next start.
"""

from __future__ import annotations

import concurrent.futures
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from daemon.catalog import Catalog, CatalogError, Job, tracker_reads, utcnow
from daemon.catalog import jobs as job_repo
from daemon.catalog.models import JOB_STATES
from daemon.context import Context, open_context
from daemon.crashpoints import crash_point
from daemon.jobs import worker
from daemon.jobs.payloads import JOB_KINDS, AnswerJob, IngestJob, NoticeJob, PublishJob, TrainReport
from daemon.jobs.runner import Ended, Lane, LaneLoop, Running, in_process, in_worker, recover_orphans
from daemon.jobs.yielding import TrainingYields
from daemon.leader import Leadership
from daemon.logs import get_logger
from daemon.ops import notify
from daemon.ops.health import HealthServer, Readiness
from daemon.ops.metrics import Metrics
from daemon.scheduling.decisions import ScheduleError
from daemon.scheduling.polling import SLOW_ROUND_S, TrackerPoller
from daemon.scheduling.scheduler import Scheduler
from daemon.settings import Settings, ShowConfig
from daemon.shows import changed_shows, gone_shows, read_shows, wrapped_shows
from daemon.stages.answering import answer, job_ended
from daemon.stages.feedback import poll_reviews
from daemon.stages.ingest import Ingestor, Outcome, ShowWatchers
from daemon.stages.notices import post_notice
from daemon.stages.publishing import publish
from daemon.stages.requests import poll_fix_requests
from daemon.stages.webhooks import WebhookIntake
from daemon.stages.withdrawals import WHY as WITHDRAWN
from daemon.stages.withdrawals import WithdrawalCheck, withdrawn_at_claim
from daemon.status import unfollowed_note, unfollowed_records
from daemon.trackers import make_tracker
from integrations.executors.base import ExecutorUnavailable
from integrations.executors.build import build_executor
from integrations.executors.spec import JobOutcome
from integrations.ingest.candidates import Found
from integrations.trackers.base import Tracker, TrackerError, TrackerFatal

log = get_logger("rushes.daemon")

STALLED_AFTER_S = 300
FORGET_GONE_EVERY_S = 60.0  # how often quarantined files are checked for being renamed or deleted
GATE_TIMEOUT_S = (
    5.0  # the longest a fix job's start waits for the tracker to say whether its request still stands
)


def queue_depths(counts: Mapping[tuple[str, str], int]) -> list[tuple[str, str, float]]:
    """`rushes_queue_depth` of the jobs counted by (kind, state): every kind in every state, 0 where none is (a
    series that went away when the last job of its kind ended left `sum(rushes_queue_depth{state="queued"})` empty
    rather than 0, and dashboards gapped)."""
    pairs = dict.fromkeys([(kind, state) for kind in JOB_KINDS for state in JOB_STATES], 0) | dict(counts)
    return [(kind, state, float(n)) for (kind, state), n in pairs.items()]


class Daemon:
    def __init__(self, settings: Settings, config_path: Path | None = None) -> None:
        self.settings = settings
        self.config_path = config_path
        self.ctx: Context = open_context(settings)
        self.catalog = self.ctx.catalog
        if self.ctx.migrated_from is not None:  # an upgrade's new schema, or a new catalog: say so once
            log.info(
                "catalog.migrated",
                catalog=self.catalog.url,
                from_revision=self.ctx.migrated_from or None,
                to_revision=self.catalog.revision(),
            )
        if _never_worked(self.catalog):  # a first start, or a volume not mounted: only the admin can tell
            log.warning(
                "catalog.new",
                catalog=self.catalog.url,
                why="nothing has worked on this catalog yet (no job, no daily): expected on a first start, but on "
                "a host that had one its volume is not mounted (or catalog_url changed); then stop the daemon "
                "and mend that, or work done now is not in the real catalog",
            )
        self.metrics = Metrics()
        self.readiness = Readiness()
        # The shows; follow_shows adds those added since, in place (the poller and webhooks share the list).
        self._show_problems: dict[str, str] = {}
        # `shows`: those it works on (watched, scheduled); `followed`: those and the wrapped ones, whose tracker
        # projects the poller and webhooks still read, so that a request on a wrapped show is answered as such.
        self.followed: list[ShowConfig] = []
        self._let_go: set[str] = (
            set()
        )  # the shows wrapped while it runs (`show.reopened` when taken up again)
        self.shows: list[ShowConfig] = self._read_shows()
        # Tracker clients are not thread-safe (shotgun_api3 shares one HTTP connection): the poller thread and
        # the publish lane (one job at a time) each get their own adapter.
        self.tracker: Tracker | None = make_tracker(settings.tracker)
        self.publisher: Tracker | None = make_tracker(settings.tracker)
        self.ingestor = Ingestor(
            self.catalog,
            [self._count_ingest],
            first_frames={s.code: s.movie_first_frame for s in self.shows},
            roots={s.code: [root.path for root in s.ingest.roots] for s in self.shows},
        )
        self.stop_event = threading.Event()
        self._progress = threading.Condition()  # notified when a job ends (start-up waits on ingest)
        self.health = HealthServer.from_settings(settings.http, self.metrics, self.readiness)
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="rushes-job")
        self.executor = build_executor(
            settings.executor, settings.max_jobs, settings.data_dir / "tmp" / "jobs", warm=worker.WARM
        )
        self.loop = LaneLoop(self._lanes())
        self.watchers = ShowWatchers(self.shows, self._queue_found)
        self._forgot_at = time.monotonic()  # the start's reconcile checks them first
        self.withdrawals: WithdrawalCheck | None = None  # the poller's check of requests taken back
        self.poller = self._poller()
        self.webhooks = WebhookIntake.build(  # its own adapter too (tracker clients are not thread-safe)
            settings.tracker,
            make_tracker(settings.tracker),
            self.catalog,
            self.followed,
            self.loop.wake,
            self.metrics.webhook_delivery,
        )
        if self.webhooks is not None:
            self.health.add_route(self.webhooks.path, self.webhooks.receiver.receive)
        self.leadership = Leadership(self.catalog)
        self.scheduler = Scheduler(self.catalog, self.shows, on_reconcile=self.reconcile)

    def _lanes(self) -> list[Lane]:
        base = {"config": str(self.config_path) if self.config_path else None}
        logs = str(self.settings.logs_dir)

        lease = self.settings.job_lease_seconds
        per_show = {"per_show": self.settings.max_jobs_per_show, "show_kinds": ["train", "fix"]}

        def lane(kind: str, start: Any, kinds: list[str] | None = None, **options: Any) -> Lane:
            options.setdefault("lease_s", lease or (60 if kind in ("ingest", "publish") else 120))
            return Lane(self.catalog, kind, kinds or [kind], start, on_done=self._done, **options)

        train = lane(
            "train",
            in_worker(self.executor, worker.TRAIN, base, logs, self._train_needs_gpu),
            placement={"yield_to": ["fix"], **per_show},
            blocked=self.executor.health,
        )
        fix = lane(
            "fix",
            self._unless_withdrawn(in_worker(self.executor, worker.FIX, base, logs)),
            concurrency=self.settings.max_jobs,
            placement=per_show,
            on_dead=job_ended,  # a fix that ended for good: its request is answered on the task
            blocked=self.executor.health,
        )
        policy = TrainingYields(
            self.catalog, lambda: len(train.running) + len(fix.running), self.executor.capacity
        )
        train.admit, train.yields = policy.admit, policy.yields  # training yields to fixes
        return [
            lane(
                "ingest",
                in_process(self._pool, lambda job: self.ingestor.run(IngestJob.from_json(job.payload))),
            ),
            lane(  # everything that writes to the tracker: Versions, answers to requests not done, notices
                "publish",
                in_process(self._pool, self._tracker_job),
                kinds=["publish", "answer", "notice"],
                lease_s=lease or 60,
                on_dead=job_ended,  # a Version the tracker refused for good: its request is answered too
                backoff=lambda n: min(300.0, 5.0 * 2 ** max(0, n - 1)),
            ),
            train,
            fix,
        ]

    def _poller(self) -> TrackerPoller | None:
        tracker = self.tracker
        if tracker is None:
            return None

        def requests() -> None:
            fixes = poll_fix_requests(tracker, self.catalog, self.followed)
            crash_point("tracker.polled")
            if fixes.new:
                log.info("tracker.fix_requests", new=fixes.new)
                self.loop.wake()

        def feedback() -> None:
            poll_reviews(tracker, self.catalog)

        interval = self.settings.tracker.poll_interval
        self.withdrawals = WithdrawalCheck(tracker, self.catalog)
        polls: list[Callable[[], object]] = [requests, self.withdrawals, feedback]
        slow_after = max(SLOW_ROUND_S, 2 * self.settings.tracker.timeout)  # no answer for two calls' timeouts
        return TrackerPoller(
            tracker.name, polls, interval, self.metrics, self.stop_event, self._record_read, slow_after
        )

    def _record_read(self, problem: str | None) -> None:
        """Store how the tracker poller's last round went, for `rushes status` (one row per machine)."""
        assert self.tracker is not None
        try:
            with self.catalog.session() as s:
                tracker_reads.record_read(s, socket.gethostname(), self.tracker.name, problem, utcnow())
        except CatalogError as exc:  # the catalog's own outage is said by /readyz and the runner
            log.debug("tracker.read_not_recorded", error=str(exc))

    def _unfollowed_note(self) -> str | None:
        """/readyz's note on fix requests read on tracker projects no show follows (not a failure: another
        Rushes may follow them, and nothing here is down)."""
        with self.catalog.session(readonly=True) as s:
            return unfollowed_note(unfollowed_records(s, list(self.followed)))

    # ---- job handlers and their bookkeeping ---------------------------------------------------------------

    def _queue_found(self, show: str, found: Found) -> None:
        self.ingestor.queue(show, found)
        self.loop.wake()

    def _count_ingest(self, show: str, outcome: Outcome) -> None:
        if outcome.result != "unchanged":
            self.metrics.ingested(show, outcome.result)

    def reconcile(self) -> None:
        """Rescan every ingest root now (through the stability gate; the catalog skips what it has), and
        stop listing quarantined files that are gone."""
        self.watchers.rescan()
        self.forget_gone()

    def forget_gone_now_and_then(self) -> None:
        """A quarantined file renamed to a good name (or deleted) stops being listed within a minute, not at the
        next nightly reconcile: one stat per quarantined file."""
        now = time.monotonic()
        if now - self._forgot_at < FORGET_GONE_EVERY_S:
            return
        self._forgot_at = now
        self._forget_gone_unless_down()

    def _forget_gone_unless_down(self) -> None:
        try:
            self.forget_gone()
        except CatalogError as exc:  # the catalog is down: the runner and the poller say so; next minute
            log.debug("ingest.quarantine_check_skipped", error=str(exc))

    def forget_gone(self) -> None:
        from daemon.catalog.dailies import forget_gone_quarantined

        with self.catalog.session() as s:
            for path, why in forget_gone_quarantined(s):
                log.info("ingest.quarantine_cleared", path=path, reason=why)

    def _train_needs_gpu(self, job: Job) -> bool:
        """Training asks the executor for a GPU when its show trains on CUDA, or on "auto" where GPUs exist."""
        show = next((s for s in self.shows if s.code == job.show), None)
        device = show.train.device if show else "auto"
        return device == "cuda" or (device == "auto" and int(getattr(self.executor, "gpus", 0)) > 0)

    def _tracker_job(self, job: Job) -> dict[str, Any]:
        """A publish, answer or notice job, on the publish lane's own adapter."""
        crash_point(f"{job.kind}.start")
        try:
            if job.kind == AnswerJob.KIND:
                result = answer(self.settings, self.catalog, self.publisher, AnswerJob.from_json(job.payload))
            elif job.kind == NoticeJob.KIND:
                result = post_notice(
                    self.settings, self.catalog, self.publisher, NoticeJob.from_json(job.payload)
                )
            else:
                result = publish(
                    self.settings, self.catalog, self.publisher, PublishJob.from_json(job.payload)
                )
        except TrackerError as exc:
            if not isinstance(exc, TrackerFatal):
                self.metrics.tracker_error(self.publisher.name if self.publisher else "none", job.kind)
            raise
        crash_point(f"{job.kind}.done")
        return result

    def _unless_withdrawn(self, start: Callable[[Job], Running]) -> Callable[[Job], Running]:
        """The fix lane's start: a fix job whose request its coordinator took back since the last check ends
        with nothing made (withdrawn_at_claim), read through an adapter of its own that waits at most
        GATE_TIMEOUT_S and does not try again (the lanes' thread must not wait out a tracker that is away)."""
        if self.settings.tracker.kind == "none":
            return start
        options = self.settings.tracker.model_copy(
            update={"timeout": min(GATE_TIMEOUT_S, self.settings.tracker.timeout), "call_attempts": 1}
        )
        gate = make_tracker(options)

        def started(job: Job) -> Running:
            request_id = int(job.payload.get("request_id", 0))
            if gate is not None and withdrawn_at_claim(gate, self.catalog, job.id, request_id):
                return Ended(JobOutcome(str(job.id), True, {"withdrawn": WITHDRAWN}))
            return start(job)

        return started

    def _done(self, job: Job, outcome: JobOutcome) -> None:
        self.metrics.job_finished(job.kind, "ok" if outcome.ok else "failed", outcome.duration_s)
        if job.kind == "train" and outcome.ok and job.show:
            report = TrainReport.from_json(outcome.result)
            for head, metric, value in report.scores():
                self.metrics.set_eval_score(job.show, head, value, metric)
            for head, loss in report.losses.items():
                self.metrics.set_training_loss(job.show, head, loss)
        with self._progress:
            self._progress.notify_all()

    # ---- leadership --------------------------------------------------------------------------------------

    def _lead(self) -> None:
        if self.leadership.is_leader and not self.leadership.still_leading():
            log.warning("scheduler.leadership_lost")  # e.g. the PostgreSQL session holding the lock dropped
            self.scheduler.shutdown(wait=False)
        if not self.leadership.is_leader and self.leadership.try_acquire():
            log.info("scheduler.leader")
            self.scheduler.start()

    def _warn_if_sqlite_shared(self) -> None:
        """Say so when another daemon already holds this SQLite catalog's scheduler lock: SQLite is for one daemon
        (docs/operations.md), and two on one file ran side by side without a word."""
        if self.catalog.dialect == "sqlite" and not self.leadership.is_leader:
            log.warning(
                "daemon.sqlite_shared",
                catalog=self.catalog.url,
                problem="another daemon runs on this SQLite catalog; SQLite is for one daemon: stop one, or put "
                "the daemons on one PostgreSQL catalog (catalog_url)",
            )

    # ---- shows added while running -------------------------------------------------------------------------

    def follow_shows(self) -> None:
        """Take up the shows added or changed since the daemon started (`rushes show add` writes them to the
        catalog): their ingest folders are watched, their fix requests taken and their training scheduled,
        without a restart, and let go of the shows wrapped since. The poller and the webhook worker share
        `self.followed`, so it is changed in place."""
        try:
            fresh = self._read_shows()
        except Exception as exc:  # a catalog hiccup: the running shows go on
            self._show_problem("shows.unreadable", "", str(exc))
            return
        self._show_problems.pop("", None)  # read again: a later failure is said again
        for code in gone_shows(self.shows, fresh):
            self._drop_show(code)
        for show in changed_shows(self.shows, fresh):
            try:
                self.scheduler.update(show)  # a bad cron line is refused here, before anything changes
            except ScheduleError as exc:
                self._show_problem("show.refused", show.code, str(exc))
                continue
            self._show_problems.pop(show.code, None)
            known = next((i for i, s in enumerate(self.shows) if s.code == show.code), None)
            if known is None or self.shows[known].ingest != show.ingest:
                self.watchers.update(show)
            if known is None:
                self.shows.append(show)
            else:
                self.shows[known] = show
            self.ingestor.first_frames[show.code] = show.movie_first_frame
            self.ingestor.roots[show.code] = [root.path for root in show.ingest.roots]
            roots = [str(root.path) for root in show.ingest.roots]
            event = "show.updated" if known is not None else "show.added"
            if known is None and show.code in self._let_go:  # wrapped while it ran, reopened since
                self._let_go.discard(show.code)
                event = "show.reopened"
            log.info(event, show=show.code, ingest=roots)

    def _drop_show(self, code: str) -> None:
        """Stop working on a show wrapped while the daemon runs (`rushes show wrap`): its folders are no longer
        watched, its training no longer scheduled, its fix requests answered that it is wrapped (the poller reads
        `self.followed`); the other shows go on."""
        self._let_go.add(code)
        self.watchers.remove(code)
        self.scheduler.remove(code)
        self.shows[:] = [show for show in self.shows if show.code != code]
        self._show_problems.pop(code, None)
        log.info("show.wrapped", show=code)

    def _read_shows(self) -> list[ShowConfig]:
        """The shows the daemon works on (not the wrapped ones; `self.followed`, changed in place, gets those
        too); one whose stored options no longer validate is left out, said once (`show.invalid`)."""
        shows, invalid = read_shows(self.settings, self.catalog)
        for code, error in invalid.items():
            self._show_problem("show.invalid", code, "; ".join(error.problems))
        wrapped = wrapped_shows(self.catalog)
        self.followed[:] = shows
        return [show for show in shows if show.code not in wrapped]

    def _show_problem(self, event: str, show: str, problem: str) -> None:
        """Logged once per problem (the shows are read every few seconds)."""
        if self._show_problems.get(show) != problem:
            self._show_problems[show] = problem
            log.warning(event, show=show or None, error=problem)

    # ---- life cycle --------------------------------------------------------------------------------------

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
            return queue_depths(job_repo.counts(s))

    def recover_orphans(self) -> int:
        return recover_orphans(self.catalog, job_ended)

    def ready_checks(self) -> None:
        """What /readyz asks (the first reconcile's flag included, not ready until start sets it)."""
        self.readiness.add("catalog", self._catalog_ok)
        self.readiness.add("executor", self._executor_ok)
        self.readiness.add_reason(
            "ingest", self.watchers.problem
        )  # e.g. disk full: files wait to be re-offered
        if self.poller is not None:
            self.readiness.add_reason("tracker", self.poller.problem)  # e.g. a wrong key or a held read
            self.readiness.add_note("tracker_projects", self._unfollowed_note)  # said, but not a failure
        self.readiness.expect("first_reconcile")

    def start(self) -> None:
        self.recover_orphans()
        self.ready_checks()
        self.metrics.set_queue_source(self._queue_depths)
        self.health.start()
        self.loop.start()
        self.watchers.start()  # its first reconcile scan feeds the stability gate
        self._lead()
        self._warn_if_sqlite_shared()
        self._wait_for_ingest()
        # Fix requests only once what landed while the daemon was down is catalogued: a request made meanwhile
        # for a new daily was claimed before that daily's ingest job (fixes go first) and answered "no readable
        # daily" for good. Deliveries wait in the webhook queue (503 once full, so the site retries).
        if self.poller is not None:
            self.poller.start()
        if self.webhooks is not None:
            self.webhooks.worker.start()
        self._forget_gone_unless_down()
        self.readiness.set("first_reconcile")
        notify.ready(f"watching {len(self.shows)} show(s)")
        log.info(
            "daemon.ready",
            shows=[s.code for s in self.shows],
            http=self.health.url,
            tracker=self.settings.tracker.kind,
        )

    def _ingest_pending(self) -> bool:
        if not self.watchers.drained():
            return True
        try:
            with self.catalog.session(readonly=True) as s:
                counts = job_repo.counts(s)
        except CatalogError as exc:  # gone while starting (a PostgreSQL restart): wait on, as ingest does
            log.debug("daemon.start_waits_for_catalog", error=str(exc))
            return True
        return any(
            n for (kind, state), n in counts.items() if kind == "ingest" and state in ("queued", "running")
        )

    def _wait_for_ingest(self, timeout: float = 120.0, recheck_s: float = 0.5) -> None:
        """Until the first reconcile scan has passed the stability gate and been ingested (or `timeout`).
        Woken by every finished job; `recheck_s` bounds the wait for the stability gate, which has no event."""
        deadline = time.monotonic() + timeout
        with self._progress:
            while not self.stop_event.is_set() and self._ingest_pending():
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._progress.wait(min(left, recheck_s))

    def run_forever(self) -> None:
        interval = notify.watchdog_interval() or 5.0
        while not self.stop_event.wait(min(interval, 5.0)):
            notify.watchdog()
            self._lead()
            self.follow_shows()
            self.forget_gone_now_and_then()
            self.say_held_reads()
            if time.monotonic() - self.loop.last_tick > STALLED_AFTER_S:
                log.error("runner.stalled", seconds=round(time.monotonic() - self.loop.last_tick))

    def say_held_reads(self) -> None:
        """A tracker read waiting on a slow tracker, once, for `rushes status` (the poller's thread is the one
        waiting, so the main loop asks)."""
        if self.poller is not None:
            self.poller.report_waiting()

    def stop(self) -> None:
        notify.stopping("shutting down")
        self.stop_event.set()
        self.watchers.stop()
        if self.leadership.is_leader:
            self.scheduler.shutdown()
            self.leadership.release()
        self.loop.stop(release=True)
        self.executor.shutdown(wait=False)
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self.poller is not None:
            self.poller.join(timeout=10)
        if self.webhooks is not None:
            self.webhooks.worker.stop()
        self.health.stop()
        self.ctx.close()
        log.info("daemon.stopped")


def _never_worked(catalog: Catalog) -> bool:
    """Whether no daemon has worked on the catalog yet, nor any daily reached it: new, though a command made it
    (`rushes status` on an unmounted volume's mount point makes it as readily as the daemon)."""
    with catalog.session(readonly=True) as s:
        return job_repo.never_used(s)


def on_hangup(signum: int, _frame: Any) -> None:
    """SIGHUP, a reload by habit (`kill -HUP`, a log rotation's hook): said and ignored. It used to end the
    daemon without a line, a render with it, and systemd's on-failure takes that for a clean exit."""
    log.warning(
        "daemon.sighup_ignored",
        why="the config file is read at start only: restart the daemon to apply a change (logs go to stderr, "
        "so a log rotation needs no signal)",
    )


def install_signal_handlers(stop: threading.Event) -> None:
    """SIGTERM and SIGINT stop the daemon (its jobs given back); SIGHUP is ignored, said in the log."""

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("daemon.signal", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, on_hangup)


def run_daemon(settings: Settings, config_path: Path | None = None) -> None:
    daemon = Daemon(settings, config_path)
    install_signal_handlers(daemon.stop_event)
    try:
        daemon.start()
        daemon.run_forever()
    finally:
        daemon.stop()
