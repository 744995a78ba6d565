"""The one asyncio SMTP client of the bench scripts: load for ingest and soak, raw for fuzz.

Modes: lockstep like smtp-source (`reuse`), the envelope in one write when the server offers
PIPELINING (`pipelined`), the envelope and the whole message as one BDAT chunk in one write
when it also offers CHUNKING (`chunked`, RFC 3030: one round trip a message), a connection
per message (`new`); and `send_raw`, which sends bytes
as they are (dot-stuffed, nothing else fixed) and returns the reply text. `BlockingSmtp` runs
the same client from a thread that has no event loop. `run_load` / `client_main` drive many
sessions from a separate process, so the client never shares an event loop with a server.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from lib.server import HOST

SENDER = "from@bench.test"
MODES = ("reuse", "pipelined", "chunked", "new")
MAX_REPLY_LINES = 100


class SmtpReplyError(Exception):
    """A reply other than the one the stage needs."""

    def __init__(self, stage: str, code: int) -> None:
        super().__init__(f"{stage} {code}")
        self.stage = stage
        self.code = code


def build_messages(size: int, mailboxes: Sequence[str]) -> list[bytes]:
    """One dot-stuffed message per mailbox of about `size` bytes, ending with CRLF.CRLF.

    The first header line is left out: each message gets its own Message-ID in front.
    """
    out: list[bytes] = []
    line = b"The quick brown fox jumps over the lazy dog; bench text for ephemail ingest.\r\n"
    for box in mailboxes:
        head = (
            f"From: Bench Sender <{SENDER}>\r\n"
            f"To: <{box}>\r\n"
            "Subject: ephemail ingest benchmark\r\n"
            "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n"
            "\r\n"
        ).encode()
        body_len = max(0, size - len(head) - 48)
        body = (line * (body_len // len(line) + 1))[:body_len]
        body = body[: body.rfind(b"\r\n") + 2] if b"\r\n" in body else b"x\r\n"
        out.append(head + body + b".\r\n")
    return out


@dataclasses.dataclass
class LoadState:
    total: int
    deadline: float
    claimed: int = 0
    delivered: int = 0
    connections: int = 0
    errors: Counter[str] = dataclasses.field(default_factory=Counter)
    latencies: list[float] = dataclasses.field(default_factory=list)

    def claim(self) -> int | None:
        if self.claimed >= self.total or time.monotonic() >= self.deadline:
            return None
        self.claimed += 1
        return self.claimed - 1


class SmtpConn:
    """One SMTP connection: in lockstep like smtp-source by default; with `pipelining`, MAIL,
    RCPT and DATA go out in one write when the server offers PIPELINING, as Postfix sends."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.timeout = timeout
        self.pipelining = False
        self.chunking = False
        self.extensions: set[bytes] = set()
        self.text = b""  # the text of the last reply's last line

    @classmethod
    async def open(
        cls, port: int, timeout: float, *, pipelining: bool = False, chunking: bool = False
    ) -> SmtpConn:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(HOST, port, limit=1 << 16), timeout
        )
        conn = cls(reader, writer, timeout)
        try:
            code = await conn.reply()
            if code != 220:
                raise SmtpReplyError("banner", code)
            code = await conn.command(b"EHLO bench.test\r\n", conn.extensions)
            if code != 250:
                raise SmtpReplyError("EHLO", code)
            conn.pipelining = pipelining and b"PIPELINING" in conn.extensions
            conn.chunking = chunking and conn.pipelining and b"CHUNKING" in conn.extensions
        except BaseException:
            conn.close()
            raise
        return conn

    async def reply(self, keywords: set[bytes] | None = None) -> int:
        # asyncio.timeout, not wait_for: wait_for wraps every read in a task of its own, and
        # this client shares the machine's two cores with the server it measures.
        async with asyncio.timeout(self.timeout):
            return await self._reply(keywords)

    async def _reply(self, keywords: set[bytes] | None) -> int:
        for _ in range(MAX_REPLY_LINES):
            line = await self.reader.readline()
            if not line:
                raise ConnectionResetError("server closed the connection")
            if keywords is not None:
                keywords.add(line[4:].split(None, 1)[0].upper() if line[4:].strip() else b"")
            if line[3:4] != b"-":
                self.text = line[4:].rstrip(b"\r\n")
                try:
                    return int(line[:3])
                except ValueError as exc:
                    raise ConnectionError(f"bad reply {line[:40]!r}") from exc
        raise ConnectionError("reply too long")

    async def command(self, data: bytes, keywords: set[bytes] | None = None) -> int:
        self.writer.write(data)
        if self.writer.transport.get_write_buffer_size() > 1 << 16:
            await asyncio.wait_for(self.writer.drain(), self.timeout)
        return await self.reply(keywords)

    async def send_mail(self, rcpt: str, message: bytes, message_id: bytes) -> None:
        """One transaction; raises SmtpReplyError with the stage that failed."""
        if self.chunking:
            await self._send_chunked(rcpt, message, message_id)
            return
        if self.pipelining:
            await self._send_pipelined(rcpt, message, message_id)
            return
        code = await self.command(b"MAIL FROM:<" + SENDER.encode() + b">\r\n")
        if code != 250:
            raise SmtpReplyError("MAIL", code)
        code = await self.command(b"RCPT TO:<" + rcpt.encode() + b">\r\n")
        if code != 250:
            raise SmtpReplyError("RCPT", code)
        code = await self.command(b"DATA\r\n")
        if code != 354:
            raise SmtpReplyError("DATA", code)
        code = await self.command(message_id + message)
        if code != 250:
            raise SmtpReplyError("DATA-end", code)

    async def _send_pipelined(self, rcpt: str, message: bytes, message_id: bytes) -> None:
        """RFC 2920: the envelope in one write, then every reply in order, then the body."""
        self.writer.write(
            b"MAIL FROM:<" + SENDER.encode() + b">\r\nRCPT TO:<" + rcpt.encode() + b">\r\nDATA\r\n"
        )
        codes = [await self.reply() for _ in range(3)]
        for stage, code, want in zip(("MAIL", "RCPT", "DATA"), codes, (250, 250, 354), strict=True):
            if code != want:
                if codes[2] == 354:  # DATA was accepted after all: end it empty, then report
                    await self.command(b".\r\n")
                raise SmtpReplyError(stage, code)
        code = await self.command(message_id + message)
        if code != 250:
            raise SmtpReplyError("DATA-end", code)

    async def _send_chunked(self, rcpt: str, message: bytes, message_id: bytes) -> None:
        """RFC 3030 with RFC 2920: MAIL, RCPT and `BDAT n LAST` with the message, one write.
        The bench's messages never have a line starting with a dot: dropping the final
        `.CRLF` leaves the message as it is."""
        raw = message_id + message[:-3]
        self.writer.write(
            b"MAIL FROM:<" + SENDER.encode() + b">\r\nRCPT TO:<" + rcpt.encode() + b">\r\n"
            + b"BDAT %d LAST\r\n" % len(raw) + raw
        )  # fmt: skip
        codes = [await self.reply() for _ in range(3)]
        for stage, code in zip(("MAIL", "RCPT", "BDAT"), codes, strict=True):
            if code != 250:
                raise SmtpReplyError(stage, code)

    async def send_raw(self, sender: bytes, rcpt: str, raw: bytes) -> tuple[str, int, bytes]:
        """`raw` as it is, dot-stuffed: (stage, code, text) of the first refusal, or
        ("DATA", code, text) of the reply to the end of data."""
        await self.command(b"RSET\r\n")
        for stage, line, want in (
            ("MAIL", b"MAIL FROM:<" + sender + b">", 250),
            ("RCPT", f"RCPT TO:<{rcpt}>".encode(), 250),
            ("DATA", b"DATA", 354),
        ):
            code = await self.command(line + b"\r\n")
            if code != want:
                return stage, code, self.text
        lines = raw.split(b"\r\n")
        block = b"\r\n".join(b"." + ln if ln.startswith(b".") else ln for ln in lines)
        if not block.endswith(b"\r\n"):
            block += b"\r\n"
        code = await self.command(block + b".\r\n")
        return "DATA", code, self.text

    async def quit(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.command(b"QUIT\r\n"), min(self.timeout, 5.0))
        self.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class BlockingSmtp:
    """An `SmtpConn` for a thread without an event loop (fuzz's threads also speak HTTP)."""

    def __init__(self, port: int, timeout: float = 60.0) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._conn = self._loop.run_until_complete(SmtpConn.open(port, timeout))
        except BaseException:
            self._loop.close()
            raise

    def send(self, sender: bytes, rcpt: str, raw: bytes) -> tuple[str, int, bytes]:
        return self._loop.run_until_complete(self._conn.send_raw(sender, rcpt, raw))

    def close(self) -> None:
        """QUIT (errors ignored), close, and let the transport finish before the loop goes."""
        with contextlib.suppress(Exception):
            self._loop.run_until_complete(self._conn.quit())
            self._loop.run_until_complete(asyncio.sleep(0))
        self._conn.close()
        self._loop.close()


def _error_key(exc: BaseException) -> str:
    if isinstance(exc, SmtpReplyError):
        return f"{exc.stage} {exc.code}"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return type(exc).__name__


async def _transaction(
    state: LoadState, conn: SmtpConn, rcpt: str, message: bytes, message_id: bytes
) -> bool:
    """Send one message; True if the connection is still usable afterwards."""
    started = time.perf_counter()
    try:
        await conn.send_mail(rcpt, message, message_id)
    except SmtpReplyError as exc:
        state.errors[_error_key(exc)] += 1
        if exc.code == 421:
            return False
        try:  # a refused transaction: reset and go on over the same connection
            return await conn.command(b"RSET\r\n") == 250
        except (OSError, TimeoutError, ConnectionError):
            return False
    state.delivered += 1
    state.latencies.append(time.perf_counter() - started)
    return True


async def _session(
    state: LoadState,
    port: int,
    boxes: Sequence[str],
    messages: Sequence[bytes],
    mode: str,
    timeout: float,
    run_tag: str,
) -> None:
    conn: SmtpConn | None = None
    try:
        while (index := state.claim()) is not None:
            slot = index % len(boxes)
            message_id = f"Message-ID: <{index}.{run_tag}@bench.test>\r\n".encode()
            try:
                if conn is None:
                    conn = await SmtpConn.open(
                        port,
                        timeout,
                        pipelining=mode in ("pipelined", "chunked"),
                        chunking=mode == "chunked",
                    )
                    state.connections += 1
                usable = await _transaction(state, conn, boxes[slot], messages[slot], message_id)
            except (SmtpReplyError, OSError, TimeoutError, ConnectionError) as exc:
                state.errors[_error_key(exc)] += 1
                usable = False
            if conn is not None and (not usable or mode == "new"):
                if usable:
                    await conn.quit()
                else:
                    conn.close()
                conn = None
    finally:
        if conn is not None:
            await conn.quit()


async def run_load(
    port: int,
    boxes: Sequence[str],
    size: int,
    total: int,
    sessions: int,
    mode: str,
    time_limit: float,
    timeout: float,
) -> dict[str, Any]:
    messages = build_messages(size, boxes)
    state = LoadState(total=total, deadline=time.monotonic() + time_limit)
    run_tag = f"{os.getpid()}.{time.time_ns()}"
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    tasks = [
        asyncio.create_task(_session(state, port, boxes, messages, mode, timeout, run_tag))
        for _ in range(sessions)
    ]
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    lat = sorted(state.latencies)

    def pct(q: float) -> float | None:
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else None

    return {
        "messages": total,
        "attempted": state.claimed,
        "delivered": state.delivered,
        "errors": dict(state.errors),
        "connections": state.connections,
        "elapsed": elapsed,
        "rate": state.delivered / elapsed if elapsed > 0 else 0.0,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": lat[-1] * 1000 if lat else None,
        "mean_ms": statistics.fmean(lat) * 1000 if lat else None,
        "client_cpu": time.process_time() - cpu0,
        "timed_out": state.claimed < total,
    }


def client_main(argv: Sequence[str]) -> int:
    """Entry of the load process: reads its job as JSON, prints its result as JSON."""
    job = json.loads(argv[0])
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    result = asyncio.run(
        run_load(
            int(job["port"]),
            list(job["boxes"]),
            int(job["size"]),
            int(job["messages"]),
            int(job["sessions"]),
            str(job["mode"]),
            float(job["time_limit"]),
            float(job["timeout"]),
        )
    )
    print(json.dumps(result))
    return 0
