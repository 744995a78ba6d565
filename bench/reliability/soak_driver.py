"""The soak's load: one driver process's share of the simulated users and pollers.

`bench/reliability/soak.py` starts several of these processes (one asyncio loop can drive only
so much on one core) and gives each its share of the users, the pollers and the two rates. Every
interval, on a schedule all processes share, each sends a `Report` of what it did in that
interval; the parent adds them up. A driver never touches the server process: it only
knows its ports and the API key.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.queues import Queue
from typing import Any

from lib.http_client import HttpConn, HttpResponse, set_nodelay
from lib.smtp_client import SmtpConn, SmtpReplyError

MESSAGES_PER_INBOX = 20
POLL_EVERY = 5  # a user lists its inbox after every fifth message
TIMEOUT_S = 30.0
BACKOFF_S = 0.1  # after a mailbox could not be created
WIND_DOWN_S = 30.0  # after the deadline, users finish the inbox they are filling, this long
LATENCY_STEPS = 100  # histogram buckets per e-fold of latency: about 1 % wide
FINAL_TICK = 0


@dataclass(frozen=True)
class Target:
    """What a driver needs to know about the server (picklable, unlike the harness's Server)."""

    host: str
    http_port: int
    smtp_port: int
    admin_key: str


@dataclass(frozen=True)
class Share:
    """One driver process's part of the load, and the schedule all processes follow."""

    index: int
    users: int
    pollers: int
    smtp_rate: float
    api_rate: float
    duration: float
    interval: float


@dataclass
class Report:
    """What one driver did in one interval (tick 1, 2, …), or after the deadline (tick 0)."""

    proc: int
    tick: int
    smtp_sent: int
    api_calls: int
    inboxes: int
    errors: dict[str, int]
    latency: dict[int, int]  # API calls, histogram: latency_bucket() → count
    smtp_latency: dict[int, int]  # SMTP transactions (MAIL to the 250 after DATA), the same
    cpu_s: float


@dataclass
class Stats:
    """This interval's counts; `report()` hands them over and starts the next interval."""

    smtp_sent: int = 0
    api_calls: int = 0
    inboxes: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latency: Counter[int] = field(default_factory=Counter)
    smtp_latency: Counter[int] = field(default_factory=Counter)
    live: list[str] = field(default_factory=list)  # mailboxes being filled now
    cpu_mark: float = field(default_factory=time.process_time)

    def report(self, proc: int, tick: int) -> Report:
        cpu = time.process_time()
        report = Report(
            proc,
            tick,
            self.smtp_sent,
            self.api_calls,
            self.inboxes,
            dict(self.errors),
            dict(self.latency),
            dict(self.smtp_latency),
            cpu - self.cpu_mark,
        )
        self.smtp_sent = self.api_calls = self.inboxes = 0
        self.errors, self.latency, self.smtp_latency = Counter(), Counter(), Counter()
        self.cpu_mark = cpu
        return report


def latency_bucket(seconds: float) -> int:
    """Log-scale histogram bucket: a few bytes per interval to ship, whatever the rate."""
    return int(math.log(max(seconds, 1e-6) * 1e6) * LATENCY_STEPS)


def bucket_ms(bucket: int) -> float:
    return math.exp((bucket + 0.5) / LATENCY_STEPS) / 1000


def percentile_ms(histogram: Counter[int], q: float) -> float:
    total = histogram.total()
    if not total:
        return 0.0
    rank = min(total - 1, int(q * total))
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen > rank:
            return bucket_ms(bucket)
    return bucket_ms(max(histogram))


def tick_times(start: float, duration: float, interval: float) -> list[float]:
    """When the parent samples and every driver reports (monotonic clock, shared on Linux)."""
    count = max(1, math.ceil(duration / interval - 1e-9))
    return [min(start + k * interval, start + duration) for k in range(1, count + 1)]


class Bucket:
    """Paces operations at `rate` per second by handing out time slots.

    Each caller gets the next free slot and sleeps until it: one wake-up per operation however
    many callers wait (a polled token bucket wakes every waiter for every token). Slots up to
    `burst` seconds old may still be used, so a short stall of the driver is made up.
    """

    def __init__(self, rate: float, start: float, burst: float = 1.0) -> None:
        self.step = 1.0 / max(rate, 1e-9)
        self.next = start
        self.burst = burst

    async def take(self) -> None:
        now = time.monotonic()
        slot = max(self.next, now - self.burst)
        self.next = slot + self.step
        if slot > now:
            await asyncio.sleep(slot - now)

    def charge(self) -> None:
        """Count an operation that goes at once: those who `take()` after it wait longer."""
        self.next = max(self.next, time.monotonic() - self.burst) + self.step


class Mailer:
    """One reused SMTP connection that is reopened after a failure.

    A dropped connection or a refused command is one counted error, not a dead user; after
    any failure the connection is closed, as its transaction state is unknown.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: SmtpConn | None = None

    async def send(self, rcpt: str, message: bytes) -> str | None:
        """Deliver one message; the kind of error, or None when it was accepted with 250."""
        try:
            if self.conn is None:
                self.conn = await SmtpConn.open(self.port, TIMEOUT_S)
                set_nodelay(self.conn.writer)
            await self.conn.send_mail(rcpt, message, b"")
            return None
        except SmtpReplyError as exc:
            self.close()
            return f"SMTP {exc.stage} {exc.code}"
        except (OSError, EOFError) as exc:
            self.close()
            return f"SMTP {type(exc).__name__}"

    async def quit(self) -> None:
        if self.conn is not None:
            await self.conn.quit()
            self.conn = None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def api_conn(target: Target) -> HttpConn:
    headers = {"Authorization": f"Bearer {target.admin_key}", "Accept": "application/json"}
    return HttpConn(target.host, target.http_port, headers, TIMEOUT_S)


async def api(
    conn: HttpConn,
    bucket: Bucket,
    stats: Stats,
    method: str,
    path: str,
    label: str,
    allow_404: bool = False,
    paced: bool = True,
) -> HttpResponse | None:
    """One API call; None (and a counted error) unless it answered 2xx as due.

    Paced calls wait for their slot; the others (a user's own steps) go at once and only
    use up the rate, so that pollers take what is left of it.
    """
    if paced:
        await bucket.take()
    else:
        bucket.charge()
    started = time.perf_counter()
    try:
        response = await conn.request(method, path)
    except OSError as exc:
        stats.errors[f"{label} {type(exc).__name__}"] += 1
        return None
    stats.latency[latency_bucket(time.perf_counter() - started)] += 1
    stats.api_calls += 1
    if 200 <= response.status < 300:
        return response
    if not (allow_404 and response.status == 404):
        stats.errors[f"{label} {response.status}"] += 1
    return None


def message_for(n: int) -> bytes:
    return (
        b"From: Soak <soak@example.org>\r\nSubject: soak "
        + str(n).encode()
        + b"\r\nContent-Type: text/plain\r\n\r\n"
        + b"soak line of text\r\n" * 40
        + b".\r\n"
    )


MESSAGES = [message_for(i) for i in range(MESSAGES_PER_INBOX)]


async def fill_inbox(
    conn: HttpConn, mailer: Mailer, buckets: tuple[Bucket, Bucket], stats: Stats, address: str
) -> None:
    """Deliver the inbox's messages over SMTP, listing it now and then as a waiting test does."""
    smtp_bucket, api_bucket = buckets
    listing = f"/api/messages?email={address}"
    for i in range(MESSAGES_PER_INBOX):
        await smtp_bucket.take()
        started = time.perf_counter()
        error = await mailer.send(address, MESSAGES[i])
        if error is None:
            stats.smtp_latency[latency_bucket(time.perf_counter() - started)] += 1
            stats.smtp_sent += 1
        else:
            stats.errors[error] += 1
        if i % POLL_EVERY == POLL_EVERY - 1:
            await api(conn, api_bucket, stats, "GET", listing, "list", paced=False)


async def inbox_life(
    conn: HttpConn, mailer: Mailer, buckets: tuple[Bucket, Bucket], stats: Stats
) -> None:
    """Create a mailbox, fill it, check it holds every message, read one, delete it."""
    api_bucket = buckets[1]
    created = await api(conn, api_bucket, stats, "POST", "/api/emails", "create", paced=False)
    if created is None:
        await asyncio.sleep(BACKOFF_S)  # unpaced: do not hammer a server that refuses
        return
    address = str(created.json()["data"]["email"])
    stats.live.append(address)
    try:
        await fill_inbox(conn, mailer, buckets, stats, address)
        path = f"/api/messages?email={address}"
        listing = await api(conn, api_bucket, stats, "GET", path, "list", paced=False)
        if listing is not None:
            messages = listing.json()["messages"]
            if len(messages) != MESSAGES_PER_INBOX:
                stats.errors["inbox incomplete"] += 1
            elif messages:
                read = f"/api/messages/{messages[0]['id']}"
                await api(conn, api_bucket, stats, "GET", read, "read", paced=False)
    finally:
        stats.live.remove(address)
    delete = f"/api/emails/{address}"
    await api(conn, api_bucket, stats, "DELETE", delete, "delete", paced=False)
    stats.inboxes += 1


async def user_loop(
    target: Target, buckets: tuple[Bucket, Bucket], stats: Stats, deadline: float
) -> None:
    """One simulated user: inbox lives, back to back, until the deadline."""
    conn, mailer = api_conn(target), Mailer(target.smtp_port)
    try:
        while time.monotonic() < deadline:
            try:
                await inbox_life(conn, mailer, buckets, stats)
            except (KeyError, TypeError, ValueError) as exc:  # an answer of the wrong shape
                stats.errors[f"bad answer {type(exc).__name__}"] += 1
    finally:
        conn.close()
        await mailer.quit()


async def poller(target: Target, bucket: Bucket, stats: Stats, deadline: float) -> None:
    """A test suite waiting for its mail: polls the list of an inbox being filled."""
    conn = api_conn(target)
    n = 0
    try:
        while time.monotonic() < deadline:
            if not stats.live:
                await asyncio.sleep(0.05)
                continue
            n += 1
            address = stats.live[n % len(stats.live)]
            path = f"/api/messages?email={address}"
            # 404 is fine: the inbox's owner may have just deleted it.
            await api(conn, bucket, stats, "GET", path, "poll", allow_404=True)
    finally:
        conn.close()


async def drive(target: Target, share: Share, start: float, reports: Queue[Report]) -> None:
    """Run this share of the load and report every interval, then once more after the end."""
    stats = Stats()
    deadline = start + share.duration
    buckets = (Bucket(share.smtp_rate, start), Bucket(share.api_rate, start))
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    tasks = [
        asyncio.create_task(user_loop(target, buckets, stats, deadline)) for _ in range(share.users)
    ]
    tasks += [
        asyncio.create_task(poller(target, buckets[1], stats, deadline))
        for _ in range(share.pollers)
    ]
    for tick, at in enumerate(tick_times(start, share.duration, share.interval), 1):
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        reports.put(stats.report(share.index, tick))
    _, pending = await asyncio.wait(tasks, timeout=WIND_DOWN_S)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            stats.errors[f"driver {type(task.exception()).__name__}"] += 1
    reports.put(stats.report(share.index, FINAL_TICK))


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """uvloop when installed: its event loop costs less CPU per request than asyncio's."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def driver_main(
    target: Target, share: Share, start_pipe: Connection, reports: Queue[Report]
) -> None:
    """Entry of a driver process: say it is ready, wait for the common start time, drive."""
    start_pipe.send(share.index)
    start = float(start_pipe.recv())
    start_pipe.close()
    with contextlib.suppress(KeyboardInterrupt):
        run_loop(drive(target, share, start, reports))
