"""What a running bot counts, for Prometheus (``/metrics``): one registry per runtime, no process-wide state.

Answered rate = ``rrr_questions_total{answered="true"}`` / ``rrr_questions_total`` (a ratio of two counters is what
Prometheus computes best); the outbox backlog is read from the database at each scrape.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Counters and histograms of one bot process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.messages = Counter("rrr_messages", "Messages and clicks handled", ["platform", "kind"], registry=r)
        self.questions = Counter("rrr_questions", "Questions asked, by whether an answer cleared the threshold",
                                 ["answered"], registry=r)
        self.answer_seconds = Histogram("rrr_answer_seconds", "Time to answer a question (search and reply)",
                                        buckets=LATENCY_BUCKETS, registry=r)
        self.errors = Counter("rrr_errors", "Errors by kind: user errors (bad input, permission) and internal ones",
                              ["kind"], registry=r)
        self.outbox_backlog = Gauge("rrr_outbox_backlog", "Messages waiting in the outbox", ["platform"], registry=r)
        self.scheduler_leader = Gauge("rrr_scheduler_leader", "1 while this process runs the scheduler",
                                      registry=r)
        self.scheduler_lag = Gauge("rrr_scheduler_lag_seconds", "How long after its planned time the last "
                                   "scheduler job finished",
                                   registry=r)
        self._backlog: Callable[[], Mapping[str, int]] | None = None

    def read_backlog_with(self, source: Callable[[], Mapping[str, int]]) -> None:
        """Where the outbox backlog is read at each scrape (``StoredOutbox.backlog``)."""
        self._backlog = source

    @contextmanager
    def answering(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.answer_seconds.observe(time.perf_counter() - started)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric (reads the backlog first)."""
        if self._backlog is not None:
            try:
                backlog = self._backlog()
            except Exception:  # the database is down: report what we know, the errors show elsewhere
                backlog = {}
            self.outbox_backlog.clear()
            for platform, count in backlog.items():
                self.outbox_backlog.labels(platform=platform).set(count)
        from prometheus_client.exposition import generate_latest  # the exposition module is slow to import

        return generate_latest(self.registry)
