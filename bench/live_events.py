#!/usr/bin/env python3
"""Live events: the delay from an SMTP `250` to the SSE event and to the `wait` answer, and
what 1,000 open event streams cost.

Latency: `ephemail serve` on one node (SQLite) or N nodes (one PostgreSQL database, and
Redis when given), mail sent at a steady rate over real SMTP to node i, each mailbox
watched by an event stream and a `wait` long-poll on node i+1 (another node, when there are
several). For each message: t(event) − t(250) and t(wait answer) − t(250), p50 and p99.

Streams: one node, 1,000 event streams held open (raw sockets, read continuously), SMTP
ingest as fast as 8 pipelined connections go, beside the same ingest without streams;
memory per stream is the server's RSS growth over the streams it opened.

    python bench/live_events.py                                    # one node, SQLite
    python bench/live_events.py --nodes 3 \\
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/DB --redis-url redis://…
    python bench/live_events.py --streams 1000                     # the streams part
    python bench/live_events.py --quick                            # a smoke run, seconds
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import sys
import tempfile
import time
from asyncio.subprocess import Process
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import orjson

from lib.machine import machine
from lib.server import HOST, Server, raise_limits, server_env, start_server
from lib.smtp_client import SmtpConn
from lib.stats import percentile


def _mail(box: str, token: str) -> bytes:
    return (
        f"From: Bench <from@bench.test>\r\nTo: <{box}>\r\nSubject: {token}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nlive events bench\r\n.\r\n"
    ).encode()


@contextlib.contextmanager
def nodes(
    count: int, database_url: str, redis_url: str, extra: dict[str, str]
) -> Iterator[list[Server]]:
    """`count` servers on one database (each its own data directory), stopped on exit."""
    root = Path(tempfile.mkdtemp(prefix="ephemail-live-"))
    shared = {"EPHEMAIL_SECRET_KEY": secrets.token_urlsafe(32), **extra}
    if database_url:
        shared["EPHEMAIL_DATABASE_URL"] = database_url
    if redis_url:
        shared["EPHEMAIL_REDIS_URL"] = redis_url
        shared["EPHEMAIL_REDIS_PREFIX"] = f"bench-{secrets.token_hex(4)}"
    servers: list[Server] = []
    try:
        for i in range(count):
            data_dir = root / f"node{i}"
            data_dir.mkdir()
            servers.append(start_server(data_dir, server_env(data_dir, shared)))
        servers[0].admin_key = next((s.admin_key for s in servers if s.admin_key), "")
        servers[0].ensure_key()  # a database that was not fresh printed no first key
        yield servers
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
        if redis_url:  # leave a shared Redis as it was: this run's quota counters go
            import redis

            client = redis.Redis.from_url(redis_url)
            prefix = shared["EPHEMAIL_REDIS_PREFIX"]
            keys = list(client.scan_iter(f"{prefix}:*"))
            if keys:
                client.delete(*keys)
            client.close()


class SseReader:
    """One event stream on a raw socket: records when each subject token arrives."""

    def __init__(self, server: Server, box: str, key: str, seen: dict[str, float]) -> None:
        self.server, self.box, self.key, self.seen = server, box, key, seen
        self.writer: asyncio.StreamWriter | None = None
        self.task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    async def open(self) -> None:
        reader, writer = await asyncio.open_connection(HOST, self.server.http_port)
        self.writer = writer
        query = urlencode({"email": self.box})
        writer.write(
            f"GET /api/events?{query} HTTP/1.1\r\nHost: {HOST}\r\n"
            f"Authorization: Bearer {self.key}\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        self.task = asyncio.create_task(self._read(reader))
        await asyncio.wait_for(self.ready.wait(), 30)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 200 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError(f"stream refused: {head[:80]!r}")
        self.ready.set()
        while line := await reader.readline():  # chunk sizes and SSE lines alike
            if line.startswith(b"data: "):
                now = time.perf_counter()
                token = orjson.loads(line[6:]).get("subject", "")
                self.seen.setdefault(token, now)

    def close(self) -> None:
        if self.task:
            self.task.cancel()
        if self.writer:
            self.writer.close()


async def waiter(
    client: httpx.AsyncClient, box: str, seen: dict[str, float], stop: asyncio.Event
) -> None:
    """`wait` in a loop, each after the message the last one answered."""
    since = ""
    while not stop.is_set():
        params = {"email": box, "timeout": "5", **({"since": since} if since else {})}
        answer = await client.get("/api/messages/wait", params=params)
        if answer.status_code == 200:
            data = answer.json()["data"]
            seen.setdefault(data["subject"], time.perf_counter())
            since = data["id"]


SESSIONS_PER_NODE = 16


async def send_steady(
    servers: list[Server], boxes: list[str], rate: float, seconds: float, acked: dict[str, float]
) -> float:
    """Mail at `rate` per second, spread over connections to every node; t(250) per token.
    Returns the rate achieved (below `rate` when the servers could not keep up)."""
    # Enough sessions that the rate asked is reachable while each waits for its commit's
    # fsync (four per node held 200 msg/s down to ~100 on SQLite with FULL sync).
    conns = [
        await SmtpConn.open(s.smtp_port, 30, pipelining=True)
        for s in servers
        for _ in range(SESSIONS_PER_NODE)
    ]
    interval, start, i = 1.0 / rate, time.perf_counter(), 0
    pending: set[asyncio.Task[None]] = set()
    free = asyncio.Queue[SmtpConn]()
    for conn in conns:
        free.put_nowait(conn)

    async def one(n: int) -> None:
        conn = await free.get()
        token = f"t{n}-{secrets.token_hex(3)}"
        box = boxes[n % len(boxes)]
        await conn.send_mail(
            box, _mail(box, token), b"Message-ID: <%s@bench.test>\r\n" % token.encode()
        )
        acked[token] = time.perf_counter()
        free.put_nowait(conn)

    while time.perf_counter() - start < seconds:
        due = start + i * interval
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(i))
        pending.add(task)
        task.add_done_callback(pending.discard)
        i += 1
    await asyncio.gather(*pending)
    for conn in conns:
        await conn.quit()
    return len(acked) / (max(acked.values()) - start) if acked else 0.0


def _delays(acked: dict[str, float], seen: dict[str, float]) -> tuple[list[float], int]:
    got = [max(0.0, seen[t] - acked[t]) * 1000 for t in acked if t in seen]
    return got, len(acked) - len(got)


async def latency(args: argparse.Namespace) -> None:
    extra = {"EPHEMAIL_EVENTS_MAX_STREAMS": "1000"}
    with nodes(args.nodes, args.database_url, args.redis_url, extra) as servers:
        raise_limits(servers[0])
        boxes = servers[0].create_mailboxes(args.mailboxes)
        key = servers[0].admin_key
        on_event: dict[str, float] = {}
        on_wait: dict[str, float] = {}
        acked: dict[str, float] = {}
        # each mailbox watched on another node than the one its mail goes to (when n > 1)
        readers = [
            SseReader(servers[(i + 1) % len(servers)], box, key, on_event)
            for i, box in enumerate(boxes)
        ]
        for reader in readers:
            await reader.open()
        stop = asyncio.Event()
        clients = [
            httpx.AsyncClient(
                base_url=s.base_url,
                headers=s.api_headers | {"Authorization": f"Bearer {key}"},
                timeout=30,
            )
            for s in servers
        ]
        waiters = [
            asyncio.create_task(waiter(clients[(i + 1) % len(clients)], box, on_wait, stop))
            for i, box in enumerate(boxes)
        ]
        await asyncio.sleep(0.5)
        achieved = await send_steady(servers, boxes, args.rate, args.seconds, acked)
        await asyncio.sleep(2.0)  # the last events and answers
        stop.set()
        for reader in readers:
            reader.close()
        for task in waiters:
            task.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        for client in clients:
            await client.aclose()
    backend = (
        "SQLite"
        if not args.database_url
        else ("PostgreSQL + Redis" if args.redis_url else "PostgreSQL")
    )
    for what, seen in (("sse", on_event), ("wait", on_wait)):
        delays, missed = _delays(acked, seen)
        print(
            f"RESULT latency={what} nodes={args.nodes} backend={backend.replace(' ', '')} "
            f"rate={args.rate:g} achieved={achieved:.0f} sent={len(acked)} missed={missed} "
            f"p50_ms={percentile(delays, 0.5):.1f} p99_ms={percentile(delays, 0.99):.1f}"
        )


async def ingest(server: Server, boxes: list[str], count: int, connections: int) -> float:
    """Messages per second, `connections` pipelined sessions sending `count` in all."""
    left = list(range(count))

    async def session() -> None:
        conn = await SmtpConn.open(server.smtp_port, 60, pipelining=True)
        while left:
            n = left.pop()
            box = boxes[n % len(boxes)]
            await conn.send_mail(box, _mail(box, f"i{n}"), b"Message-ID: <i%d@bench.test>\r\n" % n)
        await conn.quit()

    started = time.perf_counter()
    await asyncio.gather(*(session() for _ in range(connections)))
    return count / (time.perf_counter() - started)


async def _holding(server: Server, key: str, count: int, boxes: list[str]) -> Process:
    """`count` streams on `boxes`, held by a process of their own (reading them must not slow
    the SMTP client down: what changes is only the server's work); returns once all are open."""
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--hold",
        f"{server.http_port}:{key}:{count}:{','.join(boxes)}",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert holder.stdout is not None
    line = await asyncio.wait_for(holder.stdout.readline(), 300)
    if not line.startswith(b"ready"):
        raise SystemExit(f"the stream holder failed: {line!r}")
    return holder


async def _release(holder: Process) -> None:
    assert holder.stdin is not None
    holder.stdin.close()
    await holder.wait()


async def streams(args: argparse.Namespace) -> None:
    """Ingest without streams; with N idle streams (mailboxes that get no mail); with N
    streams on the mailboxes the mail goes to (each message told to N/100 streams)."""
    extra = {"EPHEMAIL_EVENTS_MAX_STREAMS": str(args.streams + 10)}
    with nodes(1, args.database_url, args.redis_url, extra) as servers:
        server = servers[0]
        raise_limits(server)
        boxes = server.create_mailboxes(200)
        busy, idle = boxes[:100], boxes[100:]
        key = server.admin_key
        await ingest(server, busy, 200, 8)  # warm up
        without = await ingest(server, busy, args.messages, 8)
        before = server.rss()[0]
        holder = await _holding(server, key, args.streams, idle)
        await asyncio.sleep(1.0)
        after = server.rss()[0]
        with_idle = await ingest(server, busy, args.messages, 8)
        await _release(holder)
        await asyncio.sleep(1.0)
        holder = await _holding(server, key, args.streams, busy)
        with_busy = await ingest(server, busy, args.messages, 8)
        await _release(holder)
    per_stream = (after - before) / max(1, args.streams)
    print(
        f"RESULT streams={args.streams} rss_before_mib={before / 1024:.1f} "
        f"rss_after_mib={after / 1024:.1f} kib_per_stream={per_stream:.1f} "
        f"ingest_without={without:.0f} ingest_idle_streams={with_idle:.0f} "
        f"({(with_idle - without) / without * 100:+.1f}%) "
        f"ingest_watched={with_busy:.0f} ({(with_busy - without) / without * 100:+.1f}%, "
        f"{args.streams / len(busy):g} streams per mailbox)"
    )


async def hold(spec: str) -> None:
    """The stream-holding process: open the streams, say `ready`, read until stdin closes."""
    port, key, count, boxes = spec.split(":", 3)
    server = Server(Path("."), 0, int(port), None, {})  # type: ignore[arg-type]
    names = boxes.split(",")
    seen: dict[str, float] = {}
    readers = [SseReader(server, names[i % len(names)], key, seen) for i in range(int(count))]
    for chunk in range(0, len(readers), 100):
        await asyncio.gather(*(r.open() for r in readers[chunk : chunk + 100]))
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for reader in readers:
        reader.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--database-url", default="", help="PostgreSQL (needed for --nodes > 1)")
    parser.add_argument("--redis-url", default="", help="Redis for the bus and the quota")
    parser.add_argument("--rate", type=float, default=200.0, help="messages per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--mailboxes", type=int, default=0, help="default: rate / 2 (2 messages/s each)"
    )
    parser.add_argument("--streams", type=int, default=0, help="measure N open streams instead")
    parser.add_argument("--messages", type=int, default=3000, help="ingest run size (streams)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 s at 50/s, 50 streams")
    parser.add_argument("--hold", help=argparse.SUPPRESS)  # the stream-holding child process
    args = parser.parse_args()
    if args.hold:
        asyncio.run(hold(args.hold))
        return
    if args.nodes > 1 and not args.database_url:
        parser.error("several nodes need --database-url (PostgreSQL)")
    # A `wait` answers one message: each mailbox gets few enough that a new wait is always
    # in place when the next one comes, so the figure is the delay, not a backlog.
    args.mailboxes = args.mailboxes or max(5, int(args.rate / 2))
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    if args.quick:
        args.rate, args.seconds = 50.0, 2.0
        asyncio.run(latency(args))
        args.streams, args.messages = 50, 300
        asyncio.run(streams(args))
        return
    asyncio.run(streams(args) if args.streams else latency(args))


if __name__ == "__main__":
    main()
