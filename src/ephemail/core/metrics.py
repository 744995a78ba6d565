"""The service's Prometheus metrics, in one place (docs/metrics.md lists them).

With several processes (`ephemail serve` runs its workers, and the SQLite commit process,
this way) prometheus_client's multiprocess mode is on: the supervisor sets
`PROMETHEUS_MULTIPROC_DIR`, every process writes its values to files there, and the worker
that answers a scrape sums them. In one process (tests, embedding) the default registry is
used. The metrics are made at their first use in a process (`get()`), never at import: the
supervisor imports this module before it sets the directory and forks.

HTTP requests and SMTP sessions and messages are counted per event, and in multiprocess mode
every update of a prometheus value takes a lock, reads the pid and packs bytes into its file.
So they are counted in plain numbers (`RequestTally`, `SmtpTally`) and written to the metrics
in bulk: every second (`flush_tallies_every`), before this process answers a scrape, and when
the service stops. Another worker's last second may show in the next scrape rather than this
one.
"""

from __future__ import annotations

import asyncio
import os
from bisect import bisect_left

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
API_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
FLUSH_SECONDS = 1.0


class Metrics:
    def __init__(self) -> None:
        self.SMTP_SESSIONS = Counter(
            "ephemail_smtp_sessions",
            "SMTP connections, by result: accepted or refused (421)",
            ["result"],
        )
        self.MESSAGES_RECEIVED = Counter(
            "ephemail_messages_received",
            "Message copies stored (one per mailbox) and acknowledged with 250",
        )
        self.MESSAGES_REFUSED = Counter(
            "ephemail_messages_refused",
            "Recipients (RCPT) or messages (DATA) refused, by the SMTP reply code",
            ["code"],
        )
        self.API_REQUESTS = Counter(
            "ephemail_api_requests",
            "HTTP requests, by route template, method and status",
            ["route", "method", "status"],
        )
        self.API_LATENCY = Histogram(
            "ephemail_api_request_seconds",
            "HTTP request time until the answer's first byte, by route template",
            ["route"],
            buckets=API_LATENCY_BUCKETS,
        )
        self.QUOTA_REFUSALS = Counter(
            "ephemail_quota_refusals", "Requests refused with 429 by the monthly quota"
        )
        self.WEBHOOK_DELIVERIES = Counter(
            "ephemail_webhook_deliveries",
            "Webhook delivery attempts by outcome: delivered, retry, gave_up",
            ["outcome"],
        )
        self.WEBHOOK_LATENCY = Histogram(
            "ephemail_webhook_delivery_seconds",
            "Time of one webhook POST, whatever its outcome",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
        )
        self.WEBHOOK_OUTBOX = Gauge(
            "ephemail_webhook_outbox_depth",
            "Events waiting in the webhook outbox (due, in flight or waiting for a retry)",
            multiprocess_mode="max",
        )
        self.SWEPT_MAILBOXES = Counter(
            "ephemail_sweeper_mailboxes", "Expired mailboxes deleted by the sweeper"
        )
        self.SWEEPS = Counter("ephemail_sweeper_runs", "Sweeper runs, by result", ["result"])
        self.COMMIT_BATCH = Histogram(
            "ephemail_commit_batch_messages",
            "Messages per commit transaction of received mail",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
        )


class RequestTally:
    """HTTP requests of this process not yet in the metrics: plain ints and floats."""

    def __init__(self) -> None:
        self._bounds = (*API_LATENCY_BUCKETS, float("inf"))
        self._requests: dict[tuple[str, str, int], int] = {}
        # Per route: one count per histogram bucket (as Histogram.observe picks it), then
        # the sum of the seconds.
        self._latency: dict[str, list[float]] = {}

    def record(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        try:  # a series seen since the last flush: no call but the bisection
            self._requests[key] += 1
        except KeyError:
            self._requests[key] = 1
        try:
            row = self._latency[route]
        except KeyError:
            row = self._latency[route] = [0] * (len(self._bounds) + 1)
        row[bisect_left(self._bounds, seconds)] += 1
        row[-1] += seconds

    def flush(self) -> None:
        """Add what was counted since the last flush to the Prometheus metrics."""
        requests, self._requests = self._requests, {}
        latency, self._latency = self._latency, {}
        made = get()
        for key, count in requests.items():
            made.API_REQUESTS.labels(*key).inc(count)
        for route, row in latency.items():
            child = made.API_LATENCY.labels(route)
            # What `observe` does one value at a time: a bucket's count, and the sum.
            for bucket, seen in zip(child._buckets, row, strict=False):
                if seen:
                    bucket.inc(seen)
            child._sum.inc(row[-1])


class SmtpTally:
    """SMTP sessions and messages of this process not yet in the metrics."""

    def __init__(self) -> None:
        self._sessions: dict[str, int] = {}
        self._received = 0
        self._refused: dict[str, int] = {}

    def session(self, result: str) -> None:
        self._sessions[result] = self._sessions.get(result, 0) + 1

    def received(self, copies: int) -> None:
        self._received += copies

    def refused(self, code: str) -> None:
        self._refused[code] = self._refused.get(code, 0) + 1

    def flush(self) -> None:
        sessions, self._sessions = self._sessions, {}
        refused, self._refused = self._refused, {}
        received, self._received = self._received, 0
        made = get()
        for result, count in sessions.items():
            made.SMTP_SESSIONS.labels(result).inc(count)
        for code, count in refused.items():
            made.MESSAGES_REFUSED.labels(code).inc(count)
        if received:
            made.MESSAGES_RECEIVED.inc(received)


_made: Metrics | None = None
_tally: RequestTally | None = None
_smtp_tally: SmtpTally | None = None


def get() -> Metrics:
    """This process's metrics, made at the first call (in the mode the environment says)."""
    global _made
    if _made is None:
        # The mode decided now, not when prometheus_client was imported.
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
        _made = Metrics()
    return _made


def requests() -> RequestTally:
    """This process's request tally, made at the first call (after any fork)."""
    global _tally
    if _tally is None:
        _tally = RequestTally()
    return _tally


def smtp() -> SmtpTally:
    """This process's SMTP tally, made at the first call (after any fork)."""
    global _smtp_tally
    if _smtp_tally is None:
        _smtp_tally = SmtpTally()
    return _smtp_tally


def flush_tallies() -> None:
    """What this process counted since the last flush, into the metrics."""
    requests().flush()
    smtp().flush()


async def flush_tallies_every(seconds: float = FLUSH_SECONDS) -> None:
    """Until cancelled: the tallies into the metrics, so other workers' scrapes see them."""
    while True:
        await asyncio.sleep(seconds)
        flush_tallies()


def exposition() -> bytes:
    """The text format: every process's values in multiprocess mode, else this process's."""
    flush_tallies()  # this process's latest; a scrape before any traffic lists them all
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)
