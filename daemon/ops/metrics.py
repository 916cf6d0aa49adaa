"""Prometheus metrics of the daemon, in a registry of their own (never the global default one).

metrics = Metrics()
metrics.ingested("MYSHOW", "registered")
metrics.job_finished("fix", "ok", 12.5)
metrics.set_queue_source(lambda: catalog.queue_depths())   # [(kind, state, count), ...] at scrape time
body, content_type = metrics.render()
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Literal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from daemon.logs import get_logger

IngestResult = Literal["registered", "quarantined"]
QueueDepths = Iterable[tuple[str, str, float]]
JOB_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800)

log = get_logger("rushes.metrics")


class QueueDepthCollector(Collector):
    """`rushes_queue_depth{kind,state}`, read from a callback each time Prometheus scrapes."""

    def __init__(self) -> None:
        self.source: Callable[[], QueueDepths] | None = None

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "rushes_queue_depth", "Jobs in the durable queue.", labels=["kind", "state"]
        )
        if self.source is not None:
            try:
                for kind, state, count in self.source():
                    family.add_metric([kind, state], float(count))
            except Exception as exc:  # a scrape must never fail because the catalog is busy
                log.warning("queue depth unavailable", error=str(exc))
        yield family

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("rushes_queue_depth", "Jobs in the durable queue.", labels=["kind", "state"])


class Metrics:
    """Every metric the daemon exports; pass one instance around (it owns its registry)."""

    def __init__(self, registry: CollectorRegistry | None = None, process: bool = True) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.ingested_files = Counter(
            "rushes_ingested_files", "Files ingested, by show and result.", ["show", "result"], registry=r
        )
        self.job_duration = Histogram(
            "rushes_job_duration_seconds",
            "Job run time, by kind and outcome.",
            ["kind", "outcome"],
            buckets=JOB_BUCKETS,
            registry=r,
        )
        self.training_loss = Gauge(
            "rushes_training_loss", "Latest training loss, by show and head.", ["show", "head"], registry=r
        )
        self.eval_score = Gauge(
            "rushes_eval_score",
            "Latest held-out evaluation score, by show, head and metric (psnr, ssim).",
            ["show", "head", "metric"],
            registry=r,
        )
        self.tracker_errors = Counter(
            "rushes_tracker_errors",
            "Tracker call failures, by tracker and kind.",
            ["tracker", "kind"],
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "rushes_webhook_deliveries",
            "Flow webhook deliveries received, by result (accepted, refused, malformed, busy).",
            ["result"],
            registry=r,
        )
        self.queue = QueueDepthCollector()
        r.register(self.queue)
        if process:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)

    def ingested(self, show: str, result: IngestResult) -> None:
        self.ingested_files.labels(show=show, result=result).inc()

    def job_finished(self, kind: str, outcome: str, duration_s: float) -> None:
        self.job_duration.labels(kind=kind, outcome=outcome).observe(max(0.0, duration_s))

    def set_training_loss(self, show: str, head: str, loss: float) -> None:
        self.training_loss.labels(show=show, head=head).set(loss)

    def set_eval_score(self, show: str, head: str, value: float, metric: str = "psnr") -> None:
        self.eval_score.labels(show=show, head=head, metric=metric).set(value)

    def tracker_error(self, tracker: str, kind: str) -> None:
        self.tracker_errors.labels(tracker=tracker, kind=kind).inc()

    def webhook_delivery(self, result: str) -> None:
        self.webhook_deliveries.labels(result=result).inc()

    def set_queue_source(self, source: Callable[[], QueueDepths] | None) -> None:
        """`source()` returns (kind, state, count) rows; it is called at every scrape."""
        self.queue.source = source

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type, as served on /metrics."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
