"""Three `ephemail serve` processes on one PostgreSQL database (and this machine's Redis, or
PostgreSQL alone): mail and events cross nodes, a revoked key is refused everywhere at once,
and the quota holds across them."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import select

from ephemail.store import accounts, mailboxes
from ephemail.store.bootstrap import ensure_defaults
from ephemail.store.db import create_engine, migrate_async
from ephemail.store.schema import api_keys
from tests.support.databases import REDIS_URL
from tests.support.events import box_stream, events, mail, next_event
from tests.support.plans import put_plan
from tests.support.ports import free_port

EPHEMAIL = str(Path(sys.executable).parent / "ephemail")
DOMAIN = "ephemail.test"


def free_ports(n: int) -> list[int]:
    return [free_port() for _ in range(n)]


@contextmanager
def serve_nodes(env: dict[str, str], tmp_path: Path, count: int) -> Iterator[list[tuple[int, str]]]:
    """(smtp port, base url) of `count` nodes, each its own `ephemail serve`."""
    procs: list[subprocess.Popen[bytes]] = []
    nodes: list[tuple[int, str]] = []
    try:
        for i in range(count):
            smtp, http = free_ports(2)
            node_env = {
                **env,
                "EPHEMAIL_DATA_DIR": str(tmp_path / f"node{i}"),
                # 3 × 13 connections at most: room for the suite's other PostgreSQL tests
                "EPHEMAIL_DB_POOL_SIZE": "4",
                "EPHEMAIL_SMTP_PORT": str(smtp),
                "EPHEMAIL_HTTP_PORT": str(http),
            }
            (tmp_path / f"node{i}").mkdir()
            log = (tmp_path / f"node{i}.log").open("wb")
            procs.append(
                subprocess.Popen([EPHEMAIL, "serve"], env=node_env, stdout=log, stderr=log)
            )
            nodes.append((smtp, f"http://127.0.0.1:{http}"))
        yield nodes
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def ready(base: str, key: str) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(300):
            try:
                answer = await client.get(
                    "/api/domains", headers={"Authorization": f"Bearer {key}"}
                )
                if answer.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"{base} did not start")


def send(port: int, to: str, subject: str) -> None:
    import smtplib

    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        assert smtp.sendmail("a@example.org", [to], mail(to, subject)) == {}


async def test_three_nodes_with_redis(
    tmp_path: Path,
    pg_url: str,
    redis_prefix: str,
) -> None:
    await three_nodes(tmp_path, pg_url, redis_prefix)


async def test_three_nodes_on_postgresql_alone(tmp_path: Path, pg_url: str) -> None:
    await three_nodes(tmp_path, pg_url, None)


async def three_nodes(tmp_path: Path, pg_url: str, prefix: str | None) -> None:
    env = {
        **os.environ,
        "EPHEMAIL_DATABASE_URL": pg_url,
        "EPHEMAIL_SECRET_KEY": secrets.token_urlsafe(32),
        "EPHEMAIL_DEFAULT_DOMAIN": DOMAIN,
        "EPHEMAIL_AUTH_CACHE_SECONDS": "300",  # a revocation must not wait for the cache
        "EPHEMAIL_LOG_LEVEL": "warning",
    }
    if prefix is not None:  # without it, `auto` must pick the SQL quota on PostgreSQL
        env["EPHEMAIL_REDIS_URL"] = REDIS_URL
        env["EPHEMAIL_REDIS_PREFIX"] = prefix
    await migrate_async(pg_url)
    engine = create_engine(pg_url)
    try:
        await ensure_defaults(engine, DOMAIN)
        async with engine.begin() as conn:
            await put_plan(conn, "tight", quota=1000, lifetime=3600, mailboxes=10)
            user = await accounts.create_user(conn, "user@example.org", plan_name="tight")
            _, key = await accounts.create_key(conn, "user@example.org")
            box = (await mailboxes.create_mailbox(conn, user)).address
            key_id = (await conn.execute(select(api_keys.c.id))).scalar_one()
            await put_plan(conn, "burst", quota=200, lifetime=3600, mailboxes=10)
            await accounts.create_user(conn, "burst@example.org", plan_name="burst")
            _, burst_key = await accounts.create_key(conn, "burst@example.org")
    finally:
        await engine.dispose()
    headers = {"Authorization": f"Bearer {key}"}
    with serve_nodes(env, tmp_path, 3) as nodes:
        for _, base in nodes:
            await ready(base, key)
        (smtp1, _), (_, base2), (smtp3, base3) = nodes[0], nodes[1], nodes[2]
        async with (
            httpx.AsyncClient(base_url=base2, headers=headers, timeout=30) as two,
            httpx.AsyncClient(base_url=base3, headers=headers, timeout=30) as three,
            box_stream(three, box) as response,
        ):
            stream = events(response)
            await asyncio.wait_for(anext(stream), 5)
            # mail to node 1: listed by node 2, pushed by node 3
            await asyncio.to_thread(send, smtp1, box, "to node one")
            pushed = await next_event(stream, within=5)
            assert pushed["data"]["subject"] == "to node one"
            listed = (await two.get("/api/messages", params={"email": box})).json()
            assert [m["subject"] for m in listed["messages"]] == ["to node one"]
            # wait on node 2 answers with mail delivered to node 3
            waiting = asyncio.create_task(
                two.get(
                    "/api/messages/wait",
                    params={"email": box, "timeout": 20, "since": pushed["id"]},
                )
            )
            await asyncio.sleep(0.3)
            await asyncio.to_thread(send, smtp3, box, "to node three")
            answer = await asyncio.wait_for(waiting, 10)
            assert answer.json()["data"]["subject"] == "to node three"
        # 300 concurrent requests over the three nodes against 200 remaining: exactly 200 pass
        burst_headers = {"Authorization": f"Bearer {burst_key}"}
        async with httpx.AsyncClient(headers=burst_headers, timeout=60) as client:
            statuses = await asyncio.gather(
                *(client.get(f"{nodes[i % 3][1]}/api/domains") for i in range(300))
            )
        codes = [r.status_code for r in statuses]
        assert codes.count(200) == 200 and codes.count(429) == 100, codes
        # revoked through the CLI: refused by node 3 within a second
        done = await asyncio.to_thread(
            subprocess.run,
            [EPHEMAIL, "key", "revoke", str(key_id)],
            env={**env, "EPHEMAIL_DATA_DIR": str(tmp_path / "node0")},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        revoked_at = time.monotonic()
        async with httpx.AsyncClient(base_url=base3, headers=headers) as three:
            while (await three.get("/api/domains")).status_code != 401:
                assert time.monotonic() - revoked_at < 1.0
                await asyncio.sleep(0.02)
