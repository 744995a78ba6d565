#!/usr/bin/env python3
"""The SMTP front's own cost per message, without sockets: what the front adds to a read.

Feeds our SMTP front (SmtpSession and the state machine, storing nothing, as
`null_smtp.py --impl ours`) and the bare receiver (`null_smtp.py --impl bare`, the least a
Python receiver can do) the segments Postfix `smtp-source` writes per message, one
`data_received` each, through a transport that only counts what is written. No kernel, no
event loop wake-ups: the difference between the two is the front's Python alone.

Time per message moves with the host (two- to threefold here); `--instructions` counts
instructions instead, under valgrind's callgrind, which gives the same count on a busy
or a quiet host: run twice (N and a few messages) and take the difference per message, so
start-up and imports fall out.

    python bench/smtp_front_cost.py                    # µs of CPU per message
    python bench/smtp_front_cost.py --instructions     # instructions per message
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from null_smtp import BareSmtp, null_session_factory

MODES = ("reuse", "new")
IMPLS = ("ours", "bare")


def message_segments(size: int) -> list[bytes]:
    """What smtp-source writes for one message, one write per lockstep step."""
    line = b"La de da de da 1 2 3 4 5 6 7 8 9 0 La de da de da 1 2 3 4 5 6 7 8 9 0 xyz\r\n"
    header = (
        b"From: <sender@client.test>\r\nTo: <box@null.test>\r\n"
        b"Subject: load test\r\nDate: Thu, 3 Dec 2026 12:00:00 +0000\r\n\r\n"
    )
    body = (line * (size // len(line) + 1))[:size]
    if not body.endswith(b"\r\n"):
        body = body[: body.rfind(b"\r\n") + 2]
    return [
        b"MAIL FROM:<sender@client.test>\r\n",
        b"RCPT TO:<box@null.test>\r\n",
        b"DATA\r\n",
        header + body + b".\r\n",
    ]


class CountingTransport:
    """Enough of an asyncio transport for a session: writes are counted, not sent."""

    def __init__(self) -> None:
        self.written = 0
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closed


class RecordingTransport(CountingTransport):
    """The same, keeping what was written: to check the receiver accepted every message."""

    def __init__(self) -> None:
        super().__init__()
        self.replies = bytearray()

    def write(self, data: bytes) -> None:
        super().write(data)
        self.replies += data


def session_factory(impl: str) -> Callable[[], Any]:
    return BareSmtp if impl == "bare" else null_session_factory()


def feed(
    impl: str, mode: str, messages: int, size: int, transport_class: type[CountingTransport]
) -> list[CountingTransport]:
    """Drive `messages` messages through the receiver; the transports it wrote to."""
    make = session_factory(impl)
    segments = message_segments(size)

    def connection(messages_in_it: int) -> CountingTransport:
        transport, session = transport_class(), make()
        session.connection_made(transport)
        session.data_received(b"EHLO client.test\r\n")
        for _ in range(messages_in_it):
            for segment in segments:
                session.data_received(segment)
        session.data_received(b"QUIT\r\n")
        session.connection_lost(None)
        return transport

    if mode == "reuse":
        return [connection(messages)]
    return [connection(1) for _ in range(messages)]


def check(impl: str, mode: str, size: int) -> None:
    """A few messages first: each must get its `250 … queued` and the session its 221."""
    transports = feed(impl, mode, 3, size, RecordingTransport)
    replies = b"".join(bytes(t.replies) for t in transports)  # type: ignore[attr-defined]
    if replies.count(b"queued as") != 3 or b"221 " not in replies:
        raise SystemExit(f"{impl} {mode}: not every message was accepted:\n{replies!r}")


async def run_in_loop(impl: str, mode: str, messages: int, size: int) -> float:
    """In a running loop, as a worker runs it (the front asks for the loop and its clock);
    the process CPU seconds the messages took."""
    check(impl, mode, size)
    started = time.process_time()
    feed(impl, mode, messages, size, CountingTransport)
    return time.process_time() - started


def run_once(impl: str, mode: str, messages: int, size: int) -> float:
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    return asyncio.run(run_in_loop(impl, mode, messages, size))


def instructions(impl: str, mode: str, messages: int, size: int) -> int:
    """Instructions callgrind counts for one whole run of this script (child process)."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={tmp}/out",
            sys.executable,
            __file__,
            "--child",
            "--impl",
            impl,
            "--mode",
            mode,
            "--messages",
            str(messages),
            "--size",
            str(size),
        ]
        done = subprocess.run(
            command, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"}
        )
        found = re.search(r"Collected : (\d+)", done.stderr)
        if done.returncode != 0 or not found:
            raise SystemExit(f"callgrind run failed:\n{done.stderr[-2000:]}")
        return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--impl", nargs="+", choices=IMPLS, default=list(IMPLS))
    parser.add_argument("--mode", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument(
        "--messages", "-n", type=int, default=0, help="default 20000; 2000 with --instructions"
    )
    parser.add_argument("--size", type=int, default=1024, help="message body octets (default 1024)")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions per message under valgrind's callgrind (needs valgrind)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_once(args.impl[0], args.mode[0], args.messages, args.size)
        return 0
    messages = args.messages or (2000 if args.instructions else 20000)
    if messages < 1:
        parser.error("--messages must be at least 1")
    baseline = max(1, messages // 20)
    unit = "instructions per message" if args.instructions else "µs of CPU per message"
    print(f"{args.size}-octet messages, {messages} per run, smtp-source's writes; {unit}")
    results: dict[tuple[str, str], float] = {}
    for mode in args.mode:
        for impl in args.impl:
            if args.instructions:
                many = instructions(impl, mode, messages, args.size)
                few = instructions(impl, mode, baseline, args.size)
                per = (many - few) / (messages - baseline)
                shown = f"{per:,.0f}"
            else:
                seconds = run_once(impl, mode, messages, args.size)
                per = seconds / messages * 1e6
                shown = f"{per:.1f}"
            results[(impl, mode)] = per
            print(f"  {impl:5} {mode:6} {shown}", flush=True)
        if ("ours", mode) in results and ("bare", mode) in results:
            ratio = results[("ours", mode)] / results[("bare", mode)]
            print(f"  ours / bare, {mode}: {ratio:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
