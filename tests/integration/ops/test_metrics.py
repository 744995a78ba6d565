"""/metrics and /health over real HTTP and SMTP: the counters move as a user's traffic does."""

from __future__ import annotations

import asyncio
import os
import signal
import smtplib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import Running, serving, start_service
from tests.support.events import mail
from tests.support.plans import put_plan
from tests.support.receivers import Receiver
from tests.support.webhooks import hook_settings, register

Labels = dict[str, str]


async def scrape(running: Running, token: str | None = None) -> dict[tuple[str, frozenset], float]:  # type: ignore[type-arg]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=running.base_url) as client:
        response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "x-ratelimit-used" not in response.headers  # outside the API and its quota
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
async def observed(tmp_path: Path) -> AsyncIterator[Running]:
    async with serving(hook_settings(tmp_path)) as svc:
        yield svc


async def test_counters_follow_smtp_and_api_traffic(observed: Running) -> None:
    async with observed.engine.begin() as conn:
        await put_plan(conn, "tiny", quota=1, lifetime=600, mailboxes=5)
    email, key = await observed.new_user()
    box = await observed.new_mailbox(email)
    _, tiny_key = await observed.new_user(plan="tiny")
    receiver = await Receiver().start()
    try:
        hook = await register(observed, key, receiver.url, events=["message.received"])
        before = await scrape(observed)

        def send() -> dict[str, tuple[int, bytes]]:
            with smtplib.SMTP("127.0.0.1", observed.smtp_port) as smtp:
                return smtp.sendmail("s@example.org", [box, "nobody@ephemail.test"], mail(box))

        refused = await asyncio.to_thread(send)
        assert list(refused) == ["nobody@ephemail.test"]
        await receiver.wait_for(1)
        async with observed.client(key) as client:
            assert (await client.get("/api/domains")).status_code == 200
            assert (await client.get("/api/messages", params={"email": box})).status_code == 200
            assert (await client.get(f"/api/webhooks/{hook['id']}/deliveries")).status_code == 200
        async with observed.client("eph_not_a_key") as client:
            assert (await client.get("/api/domains")).status_code == 401
        async with observed.client(tiny_key) as client:
            assert (await client.get("/api/domains")).status_code == 200
            assert (await client.get("/api/domains")).status_code == 429
        after = await scrape(observed)
    finally:
        await receiver.stop()

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("ephemail_messages_received_total") == 1
    assert moved("ephemail_messages_refused_total", code="550") == 1
    assert moved("ephemail_smtp_sessions_total", result="accepted") == 1
    ok = {"route": "/api/domains", "method": "GET"}
    assert moved("ephemail_api_requests_total", **ok, status="200") == 2
    assert moved("ephemail_api_requests_total", **ok, status="401") == 1
    assert moved("ephemail_api_requests_total", **ok, status="429") == 1
    listing = {"route": "/api/messages", "method": "GET", "status": "200"}
    assert moved("ephemail_api_requests_total", **listing) == 1  # the hot path has its route
    deliveries = {"route": "/api/webhooks/{webhook_id}/deliveries", "method": "GET"}
    assert moved("ephemail_api_requests_total", **deliveries, status="200") == 1
    assert moved("ephemail_api_request_seconds_count", route="/api/domains") == 4
    assert moved("ephemail_quota_refusals_total") == 1
    assert moved("ephemail_webhook_deliveries_total", outcome="delivered") == 1
    assert moved("ephemail_webhook_delivery_seconds_count") == 1
    assert ("ephemail_webhook_outbox_depth", frozenset()) in after


async def test_a_metrics_token_closes_the_endpoint(tmp_path: Path) -> None:
    running = await start_service(hook_settings(tmp_path, metrics_token="s3cret-scraper"))
    try:
        async with httpx.AsyncClient(base_url=running.base_url) as client:
            assert (await client.get("/metrics")).status_code == 401
            wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401 and wrong.json()["status"] is False
        assert "ephemail_api_requests_total" in str(await scrape(running, "s3cret-scraper"))
    finally:
        await running.service.stop(grace=1)


async def test_health_names_the_part_that_is_down(observed: Running) -> None:
    async with httpx.AsyncClient(base_url=observed.base_url) as client:
        fine = await client.get("/health")
        assert fine.status_code == 200
        assert fine.json() == {
            "status": "ok",
            "checks": {"database": "ok", "commit_process": "ok"},
        }
        writer = observed.service.writer
        owned = writer._owned  # type: ignore[attr-defined]
        os.kill(owned.process.pid, signal.SIGKILL)
        await writer.lost.wait()
        down = await client.get("/health")
    assert down.status_code == 503
    body = down.json()
    assert body["status"] == "down" and body["down"] == ["commit_process"]
    assert body["checks"]["database"] == "ok"
