"""CHUNKING (RFC 3030) over a real socket: a message sent as BDAT chunks is stored byte for
byte, read back through the API, and a chunk that never arrives is cut off like a DATA."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.support import Running, make_settings, serving
from tests.support.smtp import RawSMTP, live_box, only_message, wait_gate_idle

# Lines that DATA would have to dot-stuff, and no final CRLF: BDAT carries them as they are.
MESSAGE = (
    b"From: Ann <ann@example.org>\r\nSubject: in chunks\r\n\r\n"
    b".\r\n..leading dots stay\r\nthe last line has no line end"
)


async def test_a_message_in_chunks_is_stored_exactly_and_readable(running: Running) -> None:
    box, key = await live_box(running)
    first, rest = MESSAGE[:40], MESSAGE[40:]

    def send() -> list[int]:
        with RawSMTP(running.smtp_port) as client:
            assert client.greeting() == 220
            code, text = client.ehlo()
            assert code == 250 and b"CHUNKING" in text.split(b"\n")
            # Pipelined as a sending MTA does: MAIL, RCPT and the first chunk in one write.
            client.send(
                b"MAIL FROM:<ann@example.org>\r\n"
                + f"RCPT TO:<{box}>\r\n".encode()
                + b"BDAT %d\r\n%s" % (len(first), first)
            )
            codes = [client.code() for _ in range(3)]
            client.send(b"BDAT %d LAST\r\n%s" % (len(rest), rest))
            codes.append(client.code())
            codes.append(client.command(b"QUIT"))
            return codes

    assert await asyncio.to_thread(send) == [250, 250, 250, 250, 221]
    message = await only_message(running, key, box)
    assert message["subject"] == "in chunks"
    assert message["from_email"] == "ann@example.org"
    async with running.client(key) as client:
        raw = await client.get(f"/api/messages/{message['id']}/raw")
    assert raw.status_code == 200 and raw.content == MESSAGE


async def test_a_chunk_that_never_arrives_is_cut_off_by_the_data_time_limit(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, smtp_timeout=1.0, smtp_data_timeout=2.0)
    async with serving(settings) as svc:
        box, key = await live_box(svc)

        def stall() -> tuple[bytes, float]:
            with RawSMTP(svc.smtp_port) as client:
                client.greeting()
                client.ehlo()
                assert client.command(b"MAIL FROM:<a@example.org>") == 250
                assert client.command(f"RCPT TO:<{box}>".encode()) == 250
                client.send(b"BDAT 100000 LAST\r\n")
                started = time.monotonic()
                for _ in range(8):  # a trickle: every byte inside the idle time-out
                    client.send(b"x")
                    time.sleep(0.5)
                    closed, said = client.wait_closed(0.01)
                    if closed:
                        return said, time.monotonic() - started
                return b"", time.monotonic() - started

        said, seconds = await asyncio.to_thread(stall)
        assert said.startswith(b"421 4.4.2 DATA time limit"), said
        assert seconds < 4
        await wait_gate_idle(svc)
        assert await svc.send(b"Subject: after\r\n\r\nstill serving\r\n", [box]) == {}
        assert (await only_message(svc, key, box))["subject"] == "after"
