#!/usr/bin/env python3
"""Webhook delay: from the SMTP `250` of a message to its webhook arriving at a receiver.

Starts `ephemail serve` (receivers on loopback allowed), registers an account webhook that
points at a small HTTP receiver in this process, then sends messages over one SMTP session
at a fixed, modest rate. For each message it notes the time its `250` came back and the
time its `message.received` POST arrived, and reports the delay's p50/p99/max. Every
message must arrive exactly once, or the run fails.

    python bench/webhook_delay.py                 # 400 messages at 20/s, 1 worker
    python bench/webhook_delay.py --write-doc     # ... and update docs/benchmarks.md
    python bench/webhook_delay.py --quick         # 40 messages: a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from email.message import EmailMessage
from email.policy import SMTP

import orjson

from lib.docs import BENCHMARKS, today, write_section
from lib.machine import loadavg, machine
from lib.server import raise_limits, running_server
from lib.smtp_client import SmtpConn
from lib.stats import percentile


class Receiver:
    """A minimal HTTP/1.1 receiver: reads each POST, notes its arrival, answers 204."""

    def __init__(self) -> None:
        self.arrived: dict[str, list[float]] = {}  # subject → arrival times
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length)
                now = time.time()
                event = orjson.loads(body)
                if event["type"] == "message.received":
                    self.arrived.setdefault(event["data"]["subject"], []).append(now)
                writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    def close(self) -> None:
        if self._server is not None:
            self._server.close()


def _message(to: str, subject: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "bench@example.org"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content("Your code is 123456\n")
    return msg.as_bytes(policy=SMTP)


async def measure(
    smtp_port: int, box: str, receiver: Receiver, count: int, rate: float
) -> list[float]:
    acked: dict[str, float] = {}
    conn = await SmtpConn.open(smtp_port, 60.0)
    start = time.monotonic()
    try:
        for n in range(count):
            await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
            subject = f"delay {n}"
            _, code, _ = await conn.send_raw(b"bench@example.org", box, _message(box, subject))
            if code != 250:
                raise SystemExit(f"message {n} refused with {code}")
            acked[subject] = time.time()
        await conn.quit()
    finally:
        conn.close()
    deadline = time.monotonic() + 60
    while len(receiver.arrived) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # a duplicate would arrive now
    missing = sorted(set(acked) - set(receiver.arrived))
    twice = sorted(s for s, times in receiver.arrived.items() if len(times) > 1)
    if missing or twice:
        raise SystemExit(f"lost {len(missing)}, delivered twice {len(twice)}: the run fails")
    return sorted(receiver.arrived[s][0] - acked[s] for s in acked)


def pct(values: list[float], q: float) -> float:
    return percentile(values, q) * 1000


async def run(args: argparse.Namespace) -> list[float]:
    receiver = Receiver()
    await receiver.start()
    extra = {"EPHEMAIL_WEBHOOK_ALLOW_PRIVATE": "true", "EPHEMAIL_LOG_LEVEL": "warning"}
    try:
        with running_server(args.workers, extra) as server:
            raise_limits(server)
            (box,) = await asyncio.to_thread(server.create_mailboxes, 1)
            with server.api() as http:
                http.post(
                    "/api/webhooks",
                    json={
                        "url": f"http://127.0.0.1:{receiver.port}/hook",
                        "events": ["message.received"],
                    },
                ).raise_for_status()
            return await measure(server.smtp_port, box, receiver, args.count, args.rate)
    finally:
        receiver.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=400, help="messages")
    parser.add_argument("--rate", type=float, default=20.0, help="messages per second")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="40 messages")
    parser.add_argument("--write-doc", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    if args.quick:
        args.count = 40
    delays = asyncio.run(run(args))
    load = loadavg()
    line = (
        f"{len(delays)} messages at {args.rate:g}/s, {args.workers} worker(s): "
        f"p50 {pct(delays, 0.5):.1f} ms, p99 {pct(delays, 0.99):.1f} ms, "
        f"max {delays[-1] * 1000:.1f} ms, mean {statistics.fmean(delays) * 1000:.1f} ms"
    )
    print(line)
    if args.write_doc:
        command = "python bench/webhook_delay.py " + " ".join(sys.argv[1:])
        body = (
            "## Webhook delay: SMTP `250` → webhook received\n\n"
            f"`{command.strip()}` on {machine()}, {today()}"
            f" (load average {load:.1f} at the end)\n\n"
            if load is not None
            else f"`{command.strip()}` on {machine()}, {today()}\n\n"
        ) + (
            "One SMTP session sends at a fixed rate to a mailbox with an account webhook; the "
            "receiver (in the bench process, on loopback) notes when each `message.received` "
            "arrives. Every message arrived exactly once.\n\n"
            f"| messages | rate | workers | p50 | p99 | max |\n|---|---|---|---|---|---|\n"
            f"| {len(delays)} | {args.rate:g}/s | {args.workers} | {pct(delays, 0.5):.1f} ms "
            f"| {pct(delays, 0.99):.1f} ms | {delays[-1] * 1000:.1f} ms |\n"
        )
        write_section(BENCHMARKS, "webhook-delay", body)


if __name__ == "__main__":
    main()
