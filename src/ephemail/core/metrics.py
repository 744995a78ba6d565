"""The service's Prometheus metrics, in one place (docs/metrics.md lists them).

With several processes (`serve` always runs its workers, and the SQLite commit process,
this way) prometheus_client's multiprocess mode is on: `PROMETHEUS_MULTIPROC_DIR` is set by
the supervisor before any of this is imported, every process writes its values to files
there, and the worker that answers a scrape sums them. In one process (tests, embedding)
the default registry is used.
"""

from __future__ import annotations

import os

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

SMTP_SESSIONS = Counter(
    "ephemail_smtp_sessions", "SMTP connections, by result: accepted or refused (421)", ["result"]
)
MESSAGES_RECEIVED = Counter(
    "ephemail_messages_received", "Message copies stored (one per mailbox) and acknowledged"
)
MESSAGES_REFUSED = Counter(
    "ephemail_messages_refused",
    "Recipients or messages refused, by the SMTP reply code",
    ["code"],
)
API_REQUESTS = Counter(
    "ephemail_api_requests",
    "HTTP requests, by route template, method and status",
    ["route", "method", "status"],
)
API_LATENCY = Histogram(
    "ephemail_api_request_seconds",
    "HTTP request time until the answer's first byte, by route template",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)
QUOTA_REFUSALS = Counter("ephemail_quota_refusals", "Requests refused with 429 by the quota")
WEBHOOK_DELIVERIES = Counter(
    "ephemail_webhook_deliveries",
    "Webhook delivery attempts by outcome: delivered, retry (failed, will retry), gave_up",
    ["outcome"],
)
WEBHOOK_LATENCY = Histogram(
    "ephemail_webhook_delivery_seconds",
    "Time of one webhook POST, whatever its outcome",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
WEBHOOK_OUTBOX = Gauge(
    "ephemail_webhook_outbox_depth",
    "Events waiting in the webhook outbox (due or waiting for a retry)",
    multiprocess_mode="max",
)
SWEPT_MAILBOXES = Counter("ephemail_sweeper_mailboxes", "Expired mailboxes deleted by the sweeper")
SWEEPS = Counter("ephemail_sweeper_runs", "Sweeper runs, by result", ["result"])
COMMIT_BATCH = Histogram(
    "ephemail_commit_batch_messages",
    "Messages per commit transaction of received mail",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
)


def exposition() -> bytes:
    """The text format: every process's values in multiprocess mode, else this process's."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)
