"""The security limits of SMTP receipt, over real sockets, each with another client served
meanwhile: a DATA or command line with no end (memory), slowloris (session and DATA time),
idle sockets from one address (connections per client) and recipient probing.

The hostile clients are tests/support/smtp_hostile.py's, the same ones bench/reliability/fuzz.py
runs.
"""

from __future__ import annotations

import asyncio
import secrets
import smtplib
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest

from tests.support import Running, make_settings, serving, smtp_hostile
from tests.support.smtp import listed, live_box, wait_gate_idle

MIB = 1024 * 1024


def _status(name: str) -> int:
    """A /proc/self/status memory figure in bytes (VmRSS now, VmHWM the peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(name)


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS


async def served_from(svc: Running, source: str) -> None:
    """A normal sender at `source` gets a message through, and it is readable by the API."""
    box, key = await live_box(svc)
    subject = f"meanwhile {secrets.token_hex(4)}"
    raw = f"Subject: {subject}\r\nMessage-ID: {make_msgid()}\r\n\r\nhi\r\n".encode()

    def go() -> dict[str, Any]:
        with smtplib.SMTP("127.0.0.1", svc.smtp_port, timeout=10, source_address=(source, 0)) as s:
            return s.sendmail("sender@example.org", [box], raw)

    assert await asyncio.wait_for(asyncio.to_thread(go), 10) == {}
    assert [m["subject"] for m in await listed(svc, key, box)] == [subject]


async def hostile(fn: Any, *args: Any, bound: float = 120) -> Any:
    return await asyncio.wait_for(asyncio.to_thread(fn, *args), bound)


@pytest.fixture
async def service(tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    overrides = getattr(request, "param", {})
    async with serving(make_settings(tmp_path, **overrides)) as svc:
        yield svc


# --- finding 5: memory ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "mib"),
    [("data", 400), ("command", 64)],
    ids=["400 MiB DATA without CRLF", "64 MiB command line"],
)
async def test_a_line_without_end_is_counted_not_kept(
    service: Running, where: str, mib: int
) -> None:
    box, _ = await live_box(service)
    await served_from(service, "127.0.0.1")  # warm: the first message allocates caches
    _reset_peak()
    before = _status("VmRSS")
    attack = asyncio.create_task(
        hostile(
            smtp_hostile.flood_without_crlf,
            service.smtp_port,
            box if where == "data" else None,
            mib,
        )
    )
    while not attack.done():  # other clients are served all along
        await served_from(service, "127.0.0.2")
        await asyncio.sleep(0.2)
    out = await attack
    grew = _status("VmHWM") - before
    # The stated bound for a line: 256 KiB of DATA line or 1 KiB of command, plus what the
    # event loop reads at once; the whole test process may grow far less than the input.
    assert grew < 48 * MIB, f"peak RSS grew by {grew / MIB:.0f} MiB for {mib} MiB sent"
    assert out.sent == mib * MIB and not out.closed, out
    assert out.replies[0].startswith(b"500 5.5.2"), out.replies  # line too long
    assert out.replies[1].startswith(b"250"), out.replies  # and the session goes on
    await served_from(service, "127.0.0.1")


@pytest.mark.parametrize("service", [{"max_message_size": 4 * MIB}], indirect=True)
async def test_data_beyond_the_size_limit_is_dropped_and_answered_552(service: Running) -> None:
    box, key = await live_box(service)
    _reset_peak()
    before = _status("VmRSS")

    def oversize() -> tuple[int, int]:
        client = smtp_hostile.Client(service.smtp_port, timeout=60)
        try:
            client.start(box)
            line = b"y" * 998 + b"\r\n"
            block = line * (MIB // len(line))
            for _ in range(200):  # 200 MiB of well-formed lines
                client.sock.sendall(block)
            client.sock.sendall(b".\r\n")
            code = client.reply()[0]
            return code, client.command(b"NOOP")
        finally:
            client.close()

    attack = asyncio.create_task(hostile(oversize))
    while not attack.done():
        await served_from(service, "127.0.0.2")
        await asyncio.sleep(0.2)
    assert await attack == (552, 250)
    grew = _status("VmHWM") - before
    # Bound while receiving: 1.5 × the 4 MiB limit; the rest is dropped as it arrives.
    assert grew < 48 * MIB, f"peak RSS grew by {grew / MIB:.0f} MiB"
    assert await listed(service, key, box) == []


# --- finding 6: slowloris and connection exhaustion ---------------------------------------


@pytest.mark.parametrize(
    "service",
    [{"smtp_timeout": 1.0, "smtp_session_timeout": 4.0, "smtp_data_timeout": 2.0}],
    indirect=True,
)
async def test_one_byte_at_a_time_is_cut_off_by_the_session_and_data_bounds(
    service: Running,
) -> None:
    box, _ = await live_box(service)
    slow = [
        asyncio.create_task(hostile(smtp_hostile.trickle, service.smtp_port, None, 0.5, 20)),
        asyncio.create_task(hostile(smtp_hostile.trickle, service.smtp_port, box, 0.5, 20)),
    ]
    while not all(task.done() for task in slow):
        await served_from(service, "127.0.0.1")
        await asyncio.sleep(0.2)
    commands, data = [task.result() for task in slow]
    # Each byte came well inside the 1 s idle time-out, yet both were dropped.
    assert commands.closed and commands.seconds < 8, commands
    assert commands.replies[-1].startswith(b"421 4.4.2 Session time limit"), commands.replies
    assert b"250 2.0.0 OK" in commands.replies  # the slow NOOPs were answered until then
    assert data.closed and data.seconds < 6, data
    assert data.replies[-1].startswith(b"421 4.4.2 DATA time limit"), data.replies
    await wait_gate_idle(service)
    await served_from(service, "127.0.0.1")


async def test_a_thousand_idle_sockets_from_one_address_leave_room_for_others(
    service: Running,
) -> None:
    per_client = service.settings.max_smtp_connections_per_client
    held, out = await hostile(smtp_hostile.hold_connections, service.smtp_port, 1000)
    try:
        assert out.counts == {220: per_client, 421: 1000 - per_client}, out.counts
        assert out.replies[0].startswith(b"421 4.7.0 Too many connections from your address")
        await served_from(service, "127.0.0.2")  # another client is not refused
    finally:
        for client in held:
            client.close()
    await wait_gate_idle(service)
    await served_from(service, "127.0.0.1")  # the slots came back


# --- finding 12: recipient probing -------------------------------------------------------


async def test_five_thousand_recipient_probes_cannot_run(service: Running) -> None:
    box, _ = await live_box(service)
    domain = box.split("@")[1]
    per_session = service.settings.smtp_max_unknown_recipients
    per_client = service.settings.smtp_max_unknown_recipients_per_client
    attack = asyncio.create_task(
        hostile(smtp_hostile.probe_recipients, service.smtp_port, domain, 5000)
    )
    while not attack.done():
        await served_from(service, "127.0.0.2")
    out = await attack
    # Every session ended after `per_session` unknown recipients, and the address as a
    # whole got `per_client` answers: then each new session is told 421 at once.
    assert out.counts[550] == per_client, out.counts
    assert out.counts[421] == 30, out.counts  # one per session, all 30 sessions
    assert out.sent == per_client + 30 < 5000
    assert per_client % per_session == 0  # so the sessions before were cut at the limit
    await served_from(service, "127.0.0.2")
