"""Hostile SMTP clients: the inputs of the security review, each bounded in time.

Plain blocking sockets, no SMTP library (a library would be too polite to misbehave). Each
function plays one attack against a server and returns what the attacker saw; the caller
decides what that must be. Used by tests/integration/smtp/test_smtp_limits.py (asserting the
limits) and by bench/fuzz.py's SMTP phase (a time bound per input, the server still serving).

- `flood_without_crlf`: after DATA (or in command mode), hundreds of MiB with no line end;
- `trickle`: one byte every few seconds, each resetting an idle timer (slowloris);
- `hold_connections`: many idle sockets from one client address;
- `probe_recipients`: thousands of RCPT TO for unknown mailboxes (username enumeration).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from tests.support.smtp import Closed, RawSMTP

MIB = 1024 * 1024


class Client(RawSMTP):
    """One raw SMTP connection that tolerates anything: a reply is its code and last line,
    unchecked, and closing never fails."""

    def close(self) -> None:
        with contextlib.suppress(OSError):
            super().close()

    def reply(self) -> tuple[int, bytes]:
        while True:
            line = self._line()[:-1]
            if line[3:4] != b"-":
                return int(line[:3]), line.rstrip(b"\r")

    def start(self, box: str | None = None) -> None:
        """Greeting, EHLO, and with `box` a transaction up to the 354."""
        assert self.reply()[0] == 220
        assert self.command(b"EHLO hostile.example") == 250
        if box is not None:
            assert self.command(b"MAIL FROM:<hostile@example.org>") == 250
            assert self.command(f"RCPT TO:<{box}>".encode()) == 250
            assert self.command(b"DATA") == 354


@dataclass
class Outcome:
    """What the attacker saw: the replies, whether the server hung up, and how long it took."""

    replies: list[bytes] = field(default_factory=list)
    closed: bool = False
    seconds: float = 0.0
    sent: int = 0
    counts: dict[int, int] = field(default_factory=dict)


@contextlib.contextmanager
def attack(client: Client, out: Outcome, began: float) -> Iterator[Client]:
    """One attacking session: the server hanging up ends it (and is recorded), the socket is
    closed whatever happens, and `out.seconds` counts from `began` to the end."""
    try:
        yield client
    except (Closed, OSError):
        out.closed = True
    finally:
        client.close()
        out.seconds = time.monotonic() - began


def flood_without_crlf(port: int, box: str | None, mib: int, chunk_mib: int = 1) -> Outcome:
    """`mib` MiB with no CR or LF, after DATA (with `box`) or as one command line; then the
    end of the line (and of the message) and a NOOP, to see the session survive."""
    began = time.monotonic()
    out = Outcome()
    with attack(Client(port, timeout=60), out, began) as client:
        client.start(box)
        block = b"x" * (chunk_mib * MIB)
        for _ in range(mib // chunk_mib):
            client.sock.sendall(block)
            out.sent += len(block)
        client.sock.sendall(b"\r\n.\r\n" if box else b"\r\n")
        out.replies.append(client.reply()[1])
        client.sock.sendall(b"NOOP\r\n")
        out.replies.append(client.reply()[1])
    return out


def trickle(port: int, box: str | None, interval: float, give_up: float) -> Outcome:
    """Send one byte every `interval` s (a NOOP spelt out slowly, or message text after
    DATA) until the server hangs up or `give_up` seconds pass."""
    began = time.monotonic()
    out = Outcome()
    with attack(Client(port, timeout=give_up + 5), out, began) as client:
        client.start(box)
        text = b"X-Slow: header\r\n" if box else b"NOOP\r\n"
        while time.monotonic() - began < give_up:
            for byte in text:
                client.sock.sendall(bytes([byte]))
                out.sent += 1
                closed, received = client.wait_closed(interval)
                if closed or received:
                    client.buffer = b""
                    out.replies.extend(line for line in received.splitlines() if line)
                if closed:
                    out.closed = True
                    return out
    return out


def hold_connections(
    port: int, count: int, source: str = "127.0.0.1"
) -> tuple[list[Client], Outcome]:
    """Open `count` connections from `source` and read each one's first reply; the caller
    closes the clients it gets back (the ones the server kept open)."""
    began = time.monotonic()
    out = Outcome()
    held: list[Client] = []
    for _ in range(count):
        client = Client(port, source=source, timeout=10)
        try:
            code, line = client.reply()
        except (Closed, OSError):
            code, line = 0, b""
        out.counts[code] = out.counts.get(code, 0) + 1
        if code == 220:
            held.append(client)
        else:
            out.replies.append(line)
            client.close()
    out.seconds = time.monotonic() - began
    return held, out


def probe_recipients(port: int, domain: str, probes: int, max_sessions: int = 30) -> Outcome:
    """Ask for `probes` unknown recipients, reconnecting whenever the server hangs up, for
    at most `max_sessions` sessions; `counts` holds the reply codes seen."""
    began = time.monotonic()
    out = Outcome()
    for _ in range(max_sessions):
        if out.sent >= probes:
            break
        with attack(Client(port, timeout=10), out, began) as client:
            client.start()
            assert client.command(b"MAIL FROM:<probe@example.org>") == 250
            while out.sent < probes:
                code = client.command(f"RCPT TO:<user{out.sent}@{domain}>".encode())
                out.sent += 1
                out.counts[code] = out.counts.get(code, 0) + 1
                if code == 421:
                    break
    return out


def run_all(port: int, box: str) -> list[tuple[str, float, str]]:
    """Every hostile input once against a server started with short bounds (idle 2 s,
    DATA 3 s, session 5 s), each followed by an ordinary message from another address
    (127.0.0.2) to the live mailbox `box`. Returns (input, seconds, problem or "")."""
    domain = box.split("@")[1]
    results: list[tuple[str, float, str]] = []

    def send_normal() -> bool:
        client = Client(port, source="127.0.0.2")
        try:
            client.start(box)
            client.sock.sendall(b"Subject: meanwhile\r\n\r\nhi\r\n.\r\n")
            return client.reply()[0] == 250
        except (Closed, OSError, AssertionError):
            return False
        finally:
            client.close()

    def check(
        name: str, bound: float, run: Callable[[], Outcome], ok: Callable[[Outcome], bool]
    ) -> None:
        began = time.monotonic()
        try:
            out = run()
            problem = "" if ok(out) else f"unexpected outcome {out.counts} {out.replies[-3:]}"
        except Exception as exc:  # a failure to report, not to stop the run
            problem = f"{type(exc).__name__}: {exc}"
        took = time.monotonic() - began
        if took > bound:
            problem = problem or f"took {took:.1f} s, bound {bound:.0f} s"
        if not send_normal():
            problem = problem or "an ordinary message was refused afterwards"
        results.append((name, took, problem))

    check(
        "DATA, 400 MiB without CRLF",
        120,
        lambda: flood_without_crlf(port, box, 400),
        lambda o: o.replies[:1] != [] and o.replies[0].startswith(b"500"),
    )
    check(
        "command line, 64 MiB without CRLF",
        60,
        lambda: flood_without_crlf(port, None, 64),
        lambda o: o.replies[:1] != [] and o.replies[0].startswith(b"500"),
    )
    check(
        "one byte every 0.5 s (commands)",
        15,
        lambda: trickle(port, None, 0.5, 12),
        lambda o: o.closed and o.replies[-1:] != [] and o.replies[-1].startswith(b"421"),
    )
    check(
        "one byte every 0.5 s (DATA)",
        15,
        lambda: trickle(port, box, 0.5, 12),
        lambda o: o.closed and o.replies[-1:] != [] and o.replies[-1].startswith(b"421"),
    )

    def flood() -> Outcome:
        held, out = hold_connections(port, 1000)
        try:
            if not send_normal():
                out.replies.append(b"other address refused")
        finally:
            for client in held:
                client.close()
        return out

    check(
        "1,000 idle sockets from one address",
        60,
        flood,
        lambda o: o.counts.get(421, 0) > 0 and b"other address refused" not in o.replies,
    )
    check(
        "5,000 unknown-recipient probes",
        60,
        lambda: probe_recipients(port, domain, 5000),
        lambda o: o.counts.get(550, 0) < 5000 and o.counts.get(421, 0) > 0,
    )
    return results
