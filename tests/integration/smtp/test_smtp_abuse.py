"""SMTP protocol abuse against a real server: what the client is told, and that it lives on.

Every test talks to a service it started (free ports, fresh SQLite file) over raw sockets,
where smtplib would be too polite to misbehave, asserts the replies a client sees, and then
proves the server still serves everyone else: a normal message to a live mailbox is
accepted and shows up through the API.

The socket dialogues block, so each runs in a thread (`asyncio.to_thread`) while the server
keeps running on the test's event loop.
"""

from __future__ import annotations

import asyncio
import smtplib
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.support import Running, make_settings, serving
from tests.support.smtp import (
    REPLY_LINE,
    Closed,
    RawSMTP,
    assert_still_serving,
    data_block,
    listed,
    live_box,
    message,
    only_message,
    open_data,
    read_one,
    run,
    send_data,
    subjects,
    wait_gate_idle,
)


@pytest.fixture
async def limited(tmp_path: Path) -> Any:
    """A service with small limits, started per test: 1 s idle timeout, 5 connections."""
    settings = make_settings(tmp_path, smtp_timeout=1.0, max_smtp_connections=5, max_recipients=100)
    async with serving(settings) as svc:
        yield svc


@pytest.fixture
async def live(running: Running) -> AsyncIterator[tuple[str, str]]:
    """(address, owner's API key) of a live mailbox. After the test, whatever it did to the
    server, a normal message to a live mailbox must still be accepted and show up."""
    yield await live_box(running)
    await assert_still_serving(running)


# The lines of one session for a given live mailbox: (label of the reply to keep, line);
# a line without a label must get 250.
Steps = Callable[[str], Sequence[tuple[str | None, bytes]]]


async def codes_and_nothing_stored(
    running: Running, live: tuple[str, str], steps: Steps
) -> dict[str, int]:
    """Send `steps(box)` for the live mailbox in one greeted session: the reply code of each
    labelled line (an unlabelled line must get 250). Asserts that nothing reached the
    mailbox."""
    box, key = live

    def dialogue() -> dict[str, int]:
        codes: dict[str, int] = {}
        with RawSMTP(running.smtp_port) as client:
            assert client.greeting() == 220
            for label, line in steps(box):
                code = client.command(line)
                if label is None:
                    assert code == 250, line
                else:
                    codes[label] = code
        return codes

    codes: dict[str, int] = await run(dialogue)
    assert await listed(running, key, box) == []
    return codes


# --- line lengths -------------------------------------------------------------------------


async def test_overlong_command_lines_get_500_and_the_session_goes_on(
    running: Running, live: tuple[str, str]
) -> None:
    box, key = live

    def dialogue() -> list[int]:
        with RawSMTP(running.smtp_port) as client:
            assert client.greeting() == 220
            codes = [client.command(b"NOOP " + b"x" * 600)]  # > 512 before EHLO
            assert client.ehlo()[0] == 250
            codes.append(client.command(b"MAIL FROM:<" + b"a" * 1000 + b"@example.org>"))
            codes.append(client.command(b"RCPT TO:<" + b"b" * 100_000 + b"@ephemail.test>"))
            # Beyond the 256 KiB buffer: the server must skip to the end of the line.
            codes.append(client.command(b"HELO " + b"h" * (1024 * 1024)))
            # The session still works: a full transaction on the same connection.
            assert client.deliver(box, message("after long lines")) == 250
            assert client.command(b"QUIT") == 221
            return codes

    codes = await run(dialogue)
    assert all(500 <= code < 600 for code in codes), codes
    assert await subjects(running, key, box) == ["after long lines"]


async def test_overlong_data_line_is_refused_not_a_crash(
    running: Running, live: tuple[str, str]
) -> None:
    box, key = live
    long_but_allowed = b"y" * (200 * 1024)
    too_long = b"z" * (300 * 1024)

    def dialogue() -> tuple[int, int, int]:
        with RawSMTP(running.smtp_port) as client:
            open_data(client, box)
            client.send(data_block(message("one long line", long_but_allowed + b"\r\n")))
            allowed = client.code()
            refused = client.deliver(box, message("too long a line", too_long + b"\r\n"))
            # A multi-megabyte line is drained too, without buffering it.
            huge = client.deliver(box, message("huge line", b"w" * (4 * 1024 * 1024) + b"\r\n"))
            assert client.command(b"NOOP") == 250
            return allowed, refused, huge

    allowed, refused, huge = await run(dialogue)
    assert allowed == 250
    assert 500 <= refused < 600 and 500 <= huge < 600
    (stored,) = await listed(running, key, box)
    assert stored["subject"] == "one long line"
    assert long_but_allowed.decode() in (await read_one(running, key, stored["id"]))["content"]


# --- line endings and NUL -----------------------------------------------------------------


ODD_BUT_READABLE = {
    "bare LF line ends": (
        b"From: Lf Sender <lf@example.org>\nSubject: bare lf\n\nfirst line\nsecond line\n",
        ("bare lf", "lf@example.org", "second line"),
    ),
    "NUL bytes": (
        b"From: Nul\x00 Sender <nul@example.org>\r\nSubject: with\x00nul\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nbefore\x00after\r\n\x00\x00\x00\r\n",
        ("withnul", "nul@example.org", "beforeafter"),
    ),
}


@pytest.mark.parametrize("raw, expected", ODD_BUT_READABLE.values(), ids=ODD_BUT_READABLE.keys())
async def test_odd_bytes_are_stored_readable_and_without_nul(
    running: Running, live: tuple[str, str], raw: bytes, expected: tuple[str, str, str]
) -> None:
    box, key = live
    subject, sender, body_part = expected

    assert await send_data(running, box, data_block(raw)) == 250
    data = await only_message(running, key, box)
    for name in ("subject", "from", "from_email", "content"):
        assert "\x00" not in data[name], name
    assert (data["subject"], data["from_email"]) == (subject, sender)
    assert body_part in data["content"]


async def test_bare_lf_dot_does_not_end_data_so_nothing_is_smuggled(
    running: Running, live: tuple[str, str]
) -> None:
    box, key = live
    smuggled = (
        b"MAIL FROM:<evil@example.org>\r\nRCPT TO:<" + box.encode() + b">\r\nDATA\r\n"
        b"Subject: smuggled\r\n\r\nevil\r\n"
    )

    def dialogue() -> tuple[bool, int]:
        with RawSMTP(running.smtp_port) as client:
            open_data(client, box)
            client.send(b"Subject: carrier\r\n\r\nbody\n.\n" + smuggled)
            client.send(b"tail\r\n.\n\r.\r\n")  # neither LF.LF, CRLF.LF nor CR.CR ends DATA
            quiet = client.silent_for(0.5)
            client.send(b".\r\n")
            return quiet, client.code()

    quiet, code = await run(dialogue)
    assert quiet, "DATA ended at a bare-LF dot"
    assert code == 250
    (stored,) = await listed(running, key, box)
    assert stored["subject"] == "carrier"
    assert "smuggled" in stored["content"]


async def test_eight_bit_envelope_sender_is_stored_or_refused_up_front(
    running: Running, live: tuple[str, str]
) -> None:
    box, key = live

    def dialogue() -> tuple[int, int | None]:
        with RawSMTP(running.smtp_port) as client:
            assert client.greeting() == 220
            assert client.ehlo()[0] == 250
            mail = client.command(b"MAIL FROM:<\xff\xfe@example.org>")
            if mail != 250:
                return mail, None
            assert client.command(f"RCPT TO:<{box}>".encode()) == 250
            assert client.command(b"DATA") == 354
            client.send(data_block(message("eight bit sender")))
            return mail, client.code()

    mail, data = await run(dialogue)
    if mail == 250:
        assert data == 250
        assert await subjects(running, key, box) == ["eight bit sender"]
    else:
        assert 500 <= mail < 600


# --- pipelining and recipients ------------------------------------------------------------


async def test_pipelined_transaction_in_one_write(running: Running, live: tuple[str, str]) -> None:
    box, key = live
    script = (
        b"EHLO client.example\r\n"
        b"MAIL FROM:<sender@example.org>\r\n"
        b"RCPT TO:<" + box.encode() + b">\r\n"
        b"RCPT TO:<nobody@ephemail.test>\r\n"
        b"DATA\r\n" + data_block(message("pipelined one")) + b"MAIL FROM:<other@example.org>\r\n"
        b"RCPT TO:<" + box.encode() + b">\r\n"
        b"DATA\r\n" + data_block(message("pipelined two")) + b"NOOP\r\nQUIT\r\n"
    )

    def dialogue() -> list[int]:
        with RawSMTP(running.smtp_port) as client:
            assert client.greeting() == 220
            client.send(script)  # every command and both messages in a single write
            codes = [client.code() for _ in range(12)]
            closed, _ = client.wait_closed(5)
            assert closed
            return codes

    codes = await run(dialogue)
    assert codes == [250, 250, 250, 550, 354, 250, 250, 250, 354, 250, 250, 221]
    assert await subjects(running, key, box) == ["pipelined one", "pipelined two"]


async def test_ehlo_advertises_pipelining_and_keeps_the_other_extensions(running: Running) -> None:
    def extensions() -> dict[str, str]:
        with smtplib.SMTP("127.0.0.1", running.smtp_port, timeout=10) as client:
            client.ehlo("client.example")
            return dict(client.esmtp_features)

    features = await run(extensions)
    assert "pipelining" in features
    assert {"size", "8bitmime", "smtputf8"} <= set(features)
    assert int(features["size"]) == running.settings.max_message_size


async def test_thousands_of_recipients_get_452_beyond_the_limit(
    running: Running, live: tuple[str, str]
) -> None:
    box, key = live
    limit = running.settings.max_recipients
    local, domain = box.split("@")
    # One short of the unknown recipients that end a session as recipient probing (see
    # test_smtp_limits.py).
    probes = running.settings.smtp_max_unknown_recipients - 1
    unknown = [f"ghost{i}@{domain}" for i in range(probes)]
    known = [f"{local}+tag{i}@{domain}" for i in range(3000)]

    def dialogue() -> tuple[list[int], list[int], int, int]:
        with RawSMTP(running.smtp_port) as client:
            assert client.greeting() == 220
            assert client.ehlo()[0] == 250
            assert client.command(b"MAIL FROM:<sender@example.org>") == 250
            unknown_codes: list[int] = []
            known_codes: list[int] = []
            for batch, codes in ((unknown, unknown_codes), (known, known_codes)):
                for start in range(0, len(batch), 250):  # pipelined, 250 per write
                    chunk = batch[start : start + 250]
                    client.send(b"".join(f"RCPT TO:<{a}>\r\n".encode() for a in chunk))
                    codes.extend(client.code() for _ in chunk)
            assert client.command(b"DATA") == 354
            client.send(data_block(message("many recipients")))
            data = client.code()
            # The session is still usable after thousands of refusals.
            assert client.command(b"RSET") == 250
            return unknown_codes, known_codes, data, client.deliver(box, message("after the flood"))

    unknown_codes, known_codes, data, again = await run(dialogue)
    assert set(unknown_codes) == {550}
    assert known_codes[:limit] == [250] * limit
    assert set(known_codes[limit:]) == {452}
    assert (data, again) == (250, 250)
    # One copy per mailbox, however many aliases reached it.
    assert await subjects(running, key, box) == ["after the flood", "many recipients"]


# --- stalls and connection floods ---------------------------------------------------------


async def test_slow_client_stalling_mid_command_is_dropped(limited: Running) -> None:
    box, key = await live_box(limited)

    def stall(partial: bytes, in_data: bool) -> tuple[bool, bytes, float]:
        with RawSMTP(limited.smtp_port) as client:
            if in_data:
                open_data(client, box)
            else:
                assert client.greeting() == 220
            client.send(partial)  # ...and never the rest of the line
            started = time.monotonic()
            closed, received = client.wait_closed(timeout=6)
            return closed, received, time.monotonic() - started

    # Both stalls run while a normal client sends: it must not be held up by them.
    stalls = [
        asyncio.create_task(run(stall, b"MAIL FROM:<sender@exa", False)),
        asyncio.create_task(run(stall, b"Subject: half\r\n\r\nhalf a bo", True)),
    ]
    await asyncio.sleep(0.1)
    await assert_still_serving(limited)
    for closed, received, elapsed in await asyncio.gather(*stalls):
        assert closed, "a stalled client was never dropped"
        assert elapsed < 5
        for line in received.splitlines(keepends=True):
            assert REPLY_LINE.match(line), received  # a timeout reply, or nothing at all
    await wait_gate_idle(limited)
    assert await listed(limited, key, box) == []
    await assert_still_serving(limited)


async def test_a_slow_but_active_data_transfer_is_not_cut_off(limited: Running) -> None:
    box, key = await live_box(limited)

    def trickle() -> int:
        with RawSMTP(limited.smtp_port) as client:
            open_data(client, box)
            client.send(b"Subject: trickled\r\n\r\n")
            for number in range(8):  # 2 s in all, never idle for more than 0.25 s
                time.sleep(0.25)
                client.send(b"line %d\r\n" % number)
            client.send(b".\r\n")
            return client.code()

    try:
        code = await run(trickle)
    except (Closed, OSError):
        code = 0
    assert code == 250
    assert await subjects(limited, key, box) == ["trickled"]


async def test_sixth_connection_gets_421_and_slots_come_back(limited: Running) -> None:
    def flood() -> tuple[list[int], int, bytes]:
        held = [RawSMTP(limited.smtp_port) for _ in range(5)]
        try:
            greetings = [c.greeting() for c in held]
            with RawSMTP(limited.smtp_port) as sixth:
                code, text = sixth.reply()
                closed, _ = sixth.wait_closed(5)
                assert closed, "the refused connection was left open"
            return greetings, code, text
        finally:
            for c in held:
                c.close()

    greetings, code, text = await run(flood)
    assert greetings == [220] * 5
    assert code == 421, text
    await wait_gate_idle(limited)

    def reconnect() -> list[int]:
        clients = [RawSMTP(limited.smtp_port) for _ in range(5)]
        try:
            return [c.greeting() for c in clients]
        finally:
            for c in clients:
                c.close()

    assert await run(reconnect) == [220] * 5
    await wait_gate_idle(limited)
    await assert_still_serving(limited)


# --- commands that are not (or not yet) allowed -------------------------------------------


async def test_unknown_commands_get_500_and_a_flood_of_them_is_cut_off(running: Running) -> None:
    def dialogue() -> tuple[list[int], int, bool, int, int]:
        with RawSMTP(running.smtp_port) as client:
            assert client.greeting() == 220
            assert client.ehlo()[0] == 250
            expn = client.command(b"EXPN staff")  # known but not implemented
            turn = client.command(b"TURN")
            codes = [client.command(c) for c in (b"XYZZY", b"ETRN example.org", b"XEXCH50 10 2")]
            cut = client.command(b"FOO")
            closed, _ = client.wait_closed(5)
            return codes, cut, closed, expn, turn

    codes, cut, closed, expn, turn = await run(dialogue)
    assert expn == 502
    assert turn == 500
    assert codes == [500, 500, 500]
    assert cut == 502 and closed  # the fifth unknown command ends the session
    await assert_still_serving(running)


async def test_auth_is_never_accepted(running: Running, live: tuple[str, str]) -> None:
    box, key = live
    plain = b"AHVzZXIAc2VjcmV0"  # base64("\0user\0secret")

    def dialogue() -> dict[str, Any]:
        out: dict[str, Any] = {}
        with RawSMTP(running.smtp_port) as client:
            assert client.greeting() == 220
            out["before EHLO"] = client.command(b"AUTH PLAIN " + plain)
            _, features = client.ehlo()
            out["advertised"] = features
            out["PLAIN"] = client.command(b"AUTH PLAIN " + plain)
            out["LOGIN"] = client.command(b"AUTH LOGIN")
            # Had LOGIN prompted (334), this would be taken as the user name.
            out["next line"] = client.command(b"dXNlcg==")
            out["CRAM"] = client.command(b"AUTH CRAM-MD5")
            # Mid-transaction: the refused AUTH must not touch the envelope.
            assert client.command(b"MAIL FROM:<sender@example.org>") == 250
            assert client.command(f"RCPT TO:<{box}>".encode()) == 250
            out["mid transaction"] = client.command(b"AUTH PLAIN " + plain)
            assert client.command(b"DATA") == 354
            client.send(data_block(message("after auth attempts")))
            out["DATA"] = client.code()
        with RawSMTP(running.smtp_port) as client:
            assert client.greeting() == 220
            assert client.command(b"HELO client.example") == 250
            out["after HELO"] = client.command(b"AUTH PLAIN " + plain)
        return out

    out = await run(dialogue)
    assert b"AUTH" not in out["advertised"].upper()
    for name in ("before EHLO", "PLAIN", "LOGIN", "CRAM", "mid transaction", "after HELO"):
        assert 500 <= out[name] < 600, (name, out[name])  # never 235, never a 334 prompt
    assert out["next line"] == 500
    assert out["DATA"] == 250
    assert await subjects(running, key, box) == ["after auth attempts"]


async def test_starttls_without_tls_is_refused_and_the_session_continues(
    running: Running, live: tuple[str, str]
) -> None:
    box, key = live

    def dialogue() -> tuple[bytes, int, int, int]:
        with RawSMTP(running.smtp_port) as client:
            assert client.greeting() == 220
            _, features = client.ehlo()
            starttls = client.command(b"STARTTLS")
            with_arg = client.command(b"STARTTLS now")
            assert client.command(b"NOOP") == 250
            return (
                features,
                starttls,
                with_arg,
                client.deliver(box, message("plain text after starttls")),
            )

    features, starttls, with_arg, data = await run(dialogue)
    assert b"STARTTLS" not in features.upper()
    assert 400 <= starttls < 600 and starttls != 220
    assert 400 <= with_arg < 600
    assert data == 250
    assert await subjects(running, key, box) == ["plain text after starttls"]


def nul_in_commands(box: str) -> list[tuple[str | None, bytes]]:
    return [
        ("HELO with NUL command", b"HE\x00LO client.example"),
        (None, b"EHLO client.example"),
        ("NOOP NUL", b"NOOP\x00"),
        ("MAIL NUL command", b"MA\x00IL FROM:<sender@example.org>"),
        (None, b"MAIL FROM:<sender@example.org>"),
        ("RCPT NUL in address", f"RCPT TO:<{box}\x00>".encode()),
        ("RCPT NUL local part", f"RCPT TO:<\x00{box}>".encode()),
        ("RCPT only NUL", b"RCPT TO:<\x00>"),
        ("DATA", b"DATA"),  # no recipient was accepted
    ]


def out_of_order(box: str) -> list[tuple[str | None, bytes]]:
    return [
        ("MAIL before EHLO", b"MAIL FROM:<sender@example.org>"),
        (None, b"EHLO client.example"),
        ("RCPT before MAIL", f"RCPT TO:<{box}>".encode()),
        ("DATA before MAIL", b"DATA"),
        (None, b"MAIL FROM:<sender@example.org>"),
        ("nested MAIL", b"MAIL FROM:<again@example.org>"),
        ("DATA before RCPT", b"DATA"),
        ("RCPT unknown", b"RCPT TO:<nobody@ephemail.test>"),
        ("DATA with only refused RCPTs", b"DATA"),
        (None, b"RSET"),
        ("RCPT after RSET", f"RCPT TO:<{box}>".encode()),
    ]


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        pytest.param(
            nul_in_commands,
            {
                "HELO with NUL command": [500],
                "NOOP NUL": [500],
                "MAIL NUL command": [500],
                "RCPT NUL in address": [550],
                "RCPT NUL local part": [550],
                "RCPT only NUL": range(500, 600),
                "DATA": [503],
            },
            id="nul-bytes-in-commands-are-refused",
        ),
        pytest.param(
            out_of_order,
            {
                "MAIL before EHLO": [503],
                "RCPT before MAIL": [503],
                "DATA before MAIL": [503],
                "nested MAIL": [503],
                "DATA before RCPT": [503],
                "RCPT unknown": [550],
                "DATA with only refused RCPTs": [503],
                "RCPT after RSET": [503],
            },
            id="commands-out-of-order-get-503",
        ),
    ],
)
async def test_refused_commands_get_their_codes_and_store_nothing(
    running: Running, live: tuple[str, str], steps: Steps, expected: dict[str, Sequence[int]]
) -> None:
    codes = await codes_and_nothing_stored(running, live, steps)
    assert codes.keys() == expected.keys()
    for label, allowed in expected.items():
        assert codes[label] in allowed, (label, codes[label])


# --- disconnects --------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["close", "reset"])
async def test_disconnect_in_the_middle_of_data_stores_nothing(
    running: Running, live: tuple[str, str], how: str
) -> None:
    box, key = live
    committed = running.service.writer.committed

    def dialogue() -> None:
        client = RawSMTP(running.smtp_port)
        open_data(client, box)
        client.send(b"Subject: half\r\n\r\n" + b"part of a body\r\n" * 2000)
        if how == "reset":
            client.reset()
        else:
            client.close()

    await run(dialogue)
    await wait_gate_idle(running)
    await asyncio.sleep(0.2)  # give a (wrong) late store the chance to show up
    assert running.service.writer.committed == committed
    assert await listed(running, key, box) == []


async def test_a_client_that_half_closes_after_pipelining_gets_every_reply(
    running: Running,
) -> None:
    box, key = await live_box(running)
    script = (
        b"EHLO client.example\r\nMAIL FROM:<sender@example.org>\r\nRCPT TO:<"
        + box.encode()
        + b">\r\nDATA\r\n"
        + data_block(message("sent then half-closed"))
        + b"NOOP\r\nQUIT\r\n"
    )

    def dialogue() -> list[int]:
        with RawSMTP(running.smtp_port) as client:
            assert client.greeting() == 220
            client.send(script)
            client.sock.shutdown(socket.SHUT_WR)  # nothing more from us; replies still due
            codes = [client.code() for _ in range(7)]
            closed, rest = client.wait_closed(5)
            assert closed and rest == b""
            return codes

    assert await run(dialogue) == [250, 250, 250, 354, 250, 250, 221]
    assert await subjects(running, key, box) == ["sent then half-closed"]
