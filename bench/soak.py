#!/usr/bin/env python3
"""Soak: SMTP and API traffic together, for a long time, at a fixed share of the maximum.

Simulated users each run the life of a temp inbox over and over: create a mailbox through the
API, receive 20 messages over SMTP while polling the list, read one, download nothing, delete
the mailbox. Token buckets hold SMTP and API traffic at the rates asked for (by default half of
the maxima in docs/benchmarks.md). Every interval the script samples the server's RSS and the
API latency; it fails on any error (non-2xx where a 2xx is due, 5xx, a refused message),
on memory growth beyond `--rss-growth-mib`, or when the p99 latency of the last third is more
than twice that of the first third (plus 5 ms of slack for a shared machine).

    python bench/soak.py                        # 30 minutes
    python bench/soak.py --duration 20 --quick  # the suite's short version
    python bench/soak.py --write-doc            # ... and record it in docs/reliability.md
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    RELIABILITY_PATH,
    Server,
    machine,
    raise_limits,
    running_server,
    today,
    write_doc_section_to,
)
from smtp_ingest import SmtpConn, SmtpReplyError

MESSAGES_PER_INBOX = 20
INTRO = "# Reliability\n\nHarnesses that show the service loses nothing and leaks nothing.\n"


class Bucket:
    """A token bucket: `take()` waits until the rate allows one more operation."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = 0.0
        self.last = time.monotonic()

    async def take(self) -> None:
        while True:
            now = time.monotonic()
            self.tokens = min(self.rate, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                return
            await asyncio.sleep((1 - self.tokens) / self.rate)


@dataclass
class Stats:
    smtp_sent: int = 0
    api_calls: int = 0
    inboxes: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # API, current interval
    live: list[str] = field(default_factory=list)  # mailboxes being filled now


@dataclass
class Sample:
    at: float
    rss_mib: float
    p50_ms: float
    p99_ms: float
    api_calls: int
    smtp_sent: int


async def api(
    client: httpx.AsyncClient, bucket: Bucket, stats: Stats, method: str, url: str
) -> httpx.Response | None:
    await bucket.take()
    started = time.perf_counter()
    try:
        response = await client.request(method, url)
    except httpx.HTTPError as exc:
        stats.errors[f"{method} {type(exc).__name__}"] += 1
        return None
    stats.latencies.append(time.perf_counter() - started)
    stats.api_calls += 1
    if response.status_code != 200:
        stats.errors[f"{method} {url.split('?')[0][:24]} {response.status_code}"] += 1
        return None
    return response


async def inbox_life(
    server: Server,
    client: httpx.AsyncClient,
    smtp: SmtpConn,
    buckets: tuple[Bucket, Bucket],
    stats: Stats,
    n: int,
) -> None:
    smtp_bucket, api_bucket = buckets
    created = await api(client, api_bucket, stats, "POST", "/api/emails")
    if created is None:
        return
    address = created.json()["data"]["email"]
    stats.live.append(address)
    body = (
        b"From: Soak <soak@example.org>\r\nSubject: soak "
        + str(n).encode()
        + b"\r\nContent-Type: text/plain\r\n\r\n"
        + b"soak line of text\r\n" * 40
        + b".\r\n"
    )
    for _ in range(MESSAGES_PER_INBOX):
        await smtp_bucket.take()
        try:
            await smtp.send_mail(address, body, b"")
            stats.smtp_sent += 1
        except SmtpReplyError as exc:
            stats.errors[f"SMTP {exc.stage} {exc.code}"] += 1
        if stats.smtp_sent % 5 == 0:
            await api(client, api_bucket, stats, "GET", f"/api/messages?email={address}")
    listing = await api(client, api_bucket, stats, "GET", f"/api/messages?email={address}")
    if listing is not None:
        messages = listing.json()["messages"]
        if len(messages) != MESSAGES_PER_INBOX:
            stats.errors["inbox incomplete"] += 1
        elif messages:
            await api(client, api_bucket, stats, "GET", f"/api/messages/{messages[0]['id']}")
    stats.live.remove(address)
    await api(client, api_bucket, stats, "DELETE", f"/api/emails/{address}")
    stats.inboxes += 1


async def poller(server: Server, bucket: Bucket, stats: Stats, deadline: float) -> None:
    """A test suite waiting for its mail: polls the list of an inbox being filled."""
    headers = {"Authorization": f"Bearer {server.admin_key}", "Accept": "application/json"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=30) as client:
        n = 0
        while time.monotonic() < deadline:
            if not stats.live:
                await asyncio.sleep(0.05)
                continue
            n += 1
            address = stats.live[n % len(stats.live)]
            await bucket.take()
            started = time.perf_counter()
            try:
                response = await client.get(f"/api/messages?email={address}")
            except httpx.HTTPError as exc:
                stats.errors[f"poll {type(exc).__name__}"] += 1
                continue
            stats.latencies.append(time.perf_counter() - started)
            stats.api_calls += 1
            # 404 is fine: the inbox's owner may have just deleted it.
            if response.status_code not in (200, 404):
                stats.errors[f"poll {response.status_code}"] += 1


async def user_loop(
    server: Server, buckets: tuple[Bucket, Bucket], stats: Stats, deadline: float, user: int
) -> None:
    headers = {"Authorization": f"Bearer {server.admin_key}", "Accept": "application/json"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=30) as client:
        smtp = await SmtpConn.open(server.smtp_port, 30.0)
        try:
            n = 0
            while time.monotonic() < deadline:
                await inbox_life(server, client, smtp, buckets, stats, user * 1_000_000 + n)
                n += 1
        finally:
            await smtp.quit()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def soak(server: Server, args: argparse.Namespace) -> list[Sample]:
    stats = Stats()
    buckets = (Bucket(args.smtp_rate), Bucket(args.api_rate))
    start = time.monotonic()
    deadline = start + args.duration
    users = [
        asyncio.create_task(user_loop(server, buckets, stats, deadline, u))
        for u in range(args.users)
    ]
    users += [
        asyncio.create_task(poller(server, buckets[1], stats, deadline))
        for _ in range(args.pollers)
    ]
    samples: list[Sample] = []
    while time.monotonic() < deadline:
        await asyncio.sleep(min(args.interval, max(0.0, deadline - time.monotonic())))
        lat, stats.latencies = stats.latencies, []
        samples.append(
            Sample(
                time.monotonic() - start,
                server.rss_mib(),
                percentile(lat, 0.5),
                percentile(lat, 0.99),
                stats.api_calls,
                stats.smtp_sent,
            )
        )
        s = samples[-1]
        print(
            f"{s.at:7.0f}s rss {s.rss_mib:6.1f} MiB  api p50 {s.p50_ms:6.2f} ms p99 "
            f"{s.p99_ms:6.2f} ms  api {s.api_calls}  smtp {s.smtp_sent}  inboxes "
            f"{stats.inboxes}  errors {sum(stats.errors.values())}"
            + (f" {dict(stats.errors)}" if stats.errors else ""),
            flush=True,
        )
    await asyncio.gather(*users, return_exceptions=True)
    if stats.errors:
        print("errors:", dict(stats.errors))
    args.stats = stats
    return samples


def verdict(samples: list[Sample], args: argparse.Namespace) -> list[str]:
    problems = [f"{n} × {what}" for what, n in args.stats.errors.items()]
    if len(samples) >= 3:
        third = max(1, len(samples) // 3)
        first, last = samples[:third], samples[-third:]
        base_rss = statistics.median(s.rss_mib for s in first)
        end_rss = max(s.rss_mib for s in last)
        if end_rss - base_rss > args.rss_growth_mib:
            problems.append(f"RSS grew {end_rss - base_rss:.0f} MiB (bound {args.rss_growth_mib})")
        early = statistics.median(s.p99_ms for s in first)
        late = statistics.median(s.p99_ms for s in last)
        if late > 2 * early + 5:
            problems.append(f"p99 latency grew from {early:.1f} ms to {late:.1f} ms")
    return problems


def doc(samples: list[Sample], args: argparse.Namespace, problems: list[str], command: str) -> str:
    elapsed = samples[-1].at if samples else 0.0
    last = samples[-1] if samples else None
    rates = (
        f"{last.smtp_sent / elapsed:,.0f} msg/s and {last.api_calls / elapsed:,.0f} req/s"
        if last and elapsed
        else "-"
    )
    rows = "\n".join(
        f"| {s.at:.0f} | {s.rss_mib:.1f} | {s.p50_ms:.2f} | {s.p99_ms:.2f} | {s.api_calls:,} | "
        f"{s.smtp_sent:,} |"
        for s in samples[:: max(1, len(samples) // 12)]
    )
    return f"""## Soak: SMTP and API together

{today()}, {machine()}. Command: `{command}`

{args.users} simulated users each create a mailbox, receive {MESSAGES_PER_INBOX} messages over
SMTP (one connection each, reused) while polling the list, read one message and delete the
mailbox, again and again, while {args.pollers} pollers list the inboxes being filled (as a
test suite waiting for its mail does). Target rates: {args.smtp_rate:g} msg/s SMTP and
{args.api_rate:g} req/s API; achieved {rates} over {elapsed:.0f} s,
{args.stats.inboxes:,} inbox lives.
Bounds: no error of any kind; RSS growth ≤ {args.rss_growth_mib} MiB from the first third
to the last; p99 of the last third ≤ 2 × the first third + 5 ms.

Result: **{"pass" if not problems else "FAIL: " + "; ".join(problems)}**

| s | RSS MiB | API p50 ms | API p99 ms | API calls | SMTP messages |
|---|---|---|---|---|---|
{rows}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=1800.0, help="seconds")
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--smtp-rate", type=float, default=500.0, help="messages per second")
    parser.add_argument("--api-rate", type=float, default=1000.0, help="requests per second")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--pollers", type=int, default=16, help="API clients polling inboxes")
    parser.add_argument("--rss-growth-mib", type=float, default=100.0)
    parser.add_argument("--quick", action="store_true", help="short run: 2 s samples")
    parser.add_argument("--write-doc", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.interval = min(args.interval, 2.0)
    env = {"EPHEMAIL_MAILBOX_MESSAGE_CAP": "1000"}
    with running_server(1, env) as server:
        raise_limits(server)
        samples = asyncio.run(soak(server, args))
    problems = verdict(samples, args)
    print(json.dumps({"pass": not problems, "problems": problems}))
    if args.write_doc:
        command = "python bench/soak.py " + " ".join(sys.argv[1:])
        write_doc_section_to(
            RELIABILITY_PATH, "soak", doc(samples, args, problems, command.strip()), INTRO
        )
    raise SystemExit(1 if problems else 0)


if __name__ == "__main__":
    main()
