"""`ephemail serve --workers 2`: whichever worker answers a scrape, it reports every
process's counts (prometheus_client's multiprocess mode), the commit process's included;
a worker's request counts reach the shared files within a second."""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support import free_port
from tests.support.cli import EPHEMAIL, environment, ok


def _values(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_every_worker_reports_the_sum_of_all_processes(tmp_path: Path) -> None:
    http_port, smtp_port = free_port(), free_port()
    env = environment(
        tmp_path, EPHEMAIL_HTTP_PORT=str(http_port), EPHEMAIL_SMTP_PORT=str(smtp_port)
    )
    proc = subprocess.Popen(
        [EPHEMAIL, "serve", "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{http_port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.2)
        box = ok(tmp_path, "mailbox", "create", "admin@localhost.localdomain").split()[0]
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as smtp:
            smtp.sendmail("s@example.org", [box], b"Subject: hi\r\n\r\nhello\r\n")
        requests = 20
        for _ in range(requests):  # new connections: they spread over both workers
            assert httpx.get(f"{base}/api/domains", timeout=5).status_code == 401
        unauthorised = (
            "ephemail_api_requests_total",
            frozenset({("route", "/api/domains"), ("method", "GET"), ("status", "401")}),
        )
        # Each worker adds its requests to the shared files within a second (or at once when
        # it answers the scrape itself); from then on, every scrape shows all of them.
        deadline = time.monotonic() + 10
        while _values(httpx.get(f"{base}/metrics", timeout=5).text).get(unauthorised) != requests:
            assert time.monotonic() < deadline, "the workers' counts never added up"
            time.sleep(0.2)
        for _ in range(6):
            values = _values(httpx.get(f"{base}/metrics", timeout=5).text)
            assert values[unauthorised] == requests
            assert values[("ephemail_messages_received_total", frozenset())] == 1
            assert values[("ephemail_commit_batch_messages_count", frozenset())] >= 1
        assert (tmp_path / "metrics").is_dir()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
