"""SMTP receipt over a real socket: who may receive, limits, and what gets stored."""

from __future__ import annotations

import asyncio
import hashlib
import smtplib
from pathlib import Path

import pytest
import zstandard
from sqlalchemy import select, update

from ephemail.store.schema import mailboxes, message_raw, messages
from tests.support import Running, make_settings, serving, start_service
from tests.support.smtp import live_box

SIMPLE = b"From: Ann <ann@example.org>\r\nSubject: hi\r\n\r\nhello\r\n"


async def stored(running: Running, address: str) -> list[dict[str, object]]:
    async with running.engine.connect() as conn:
        rows = await conn.execute(
            select(messages).where(messages.c.to_address == address).order_by(messages.c.seq)
        )
        return [dict(r._mapping) for r in rows]


async def test_message_is_committed_before_250(running: Running) -> None:
    box, _ = await live_box(running)
    refused = await running.send(SIMPLE, [box])
    assert refused == {}
    # No wait: 250 means the row is already there.
    rows = await stored(running, box)
    assert len(rows) == 1
    assert rows[0]["subject"] == "hi"
    assert rows[0]["from_email"] == "ann@example.org"
    assert len(str(rows[0]["id"])) == 46


async def test_raw_message_is_kept_compressed_and_intact(running: Running) -> None:
    box, _ = await live_box(running)
    body = b"From: a@example.org\r\nSubject: raw\r\n\r\n" + b"line of text\r\n" * 500
    await running.send(body, [box])
    (row,) = await stored(running, box)
    async with running.engine.connect() as conn:
        raw = (
            await conn.execute(select(message_raw).where(message_raw.c.message_id == row["id"]))
        ).one()
    original = zstandard.ZstdDecompressor().decompress(raw.data)
    assert len(raw.data) < len(original) / 4
    assert hashlib.sha256(original).hexdigest() == raw.sha256
    assert original.replace(b"\r\n", b"\n").strip() == body.replace(b"\r\n", b"\n").strip()


async def test_unknown_mailbox_is_refused_at_rcpt(running: Running) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
        await running.send(SIMPLE, ["nobody@ephemail.test"])
    assert info.value.recipients["nobody@ephemail.test"][0] == 550


async def test_foreign_domain_is_refused_so_nothing_relays(running: Running) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
        await running.send(SIMPLE, ["someone@gmail.com"])
    assert info.value.recipients["someone@gmail.com"][0] == 550


async def test_plus_tag_and_case_reach_the_mailbox(running: Running) -> None:
    box, _ = await live_box(running)
    local, domain = box.split("@")
    await running.send(SIMPLE, [f"{local.upper()}+newsletter@{domain.upper()}"])
    assert len(await stored(running, box)) == 1


async def test_one_copy_per_live_mailbox_and_unknown_ones_refused(running: Running) -> None:
    email, _ = await running.new_user()
    boxes = [await running.new_mailbox(email) for _ in range(3)]
    local, domain = boxes[0].split("@")
    recipients = [*boxes, f"{local}+again@{domain}", "ghost@ephemail.test"]
    refused = await running.send(SIMPLE, recipients)
    assert list(refused) == ["ghost@ephemail.test"]
    for box in boxes:
        rows = await stored(running, box)
        assert len(rows) == 1, box  # the +again alias does not make a second copy
        assert rows[0]["to_address"] == box
    ids = {str((await stored(running, b))[0]["id"]) for b in boxes}
    assert len(ids) == 3


async def test_many_recipients_beyond_the_limit_are_deferred(tmp_path: Path) -> None:
    async with serving(make_settings(tmp_path, max_recipients=5)) as svc:
        email, _ = await svc.new_user()
        boxes = [await svc.new_mailbox(email) for _ in range(7)]
        refused = await svc.send(SIMPLE, boxes)
        assert [code for code, _ in refused.values()] == [452, 452]
        counts = [len(await stored(svc, b)) for b in boxes]
        assert counts == [1, 1, 1, 1, 1, 0, 0]


async def test_oversize_message_gets_552(tmp_path: Path) -> None:
    async with serving(make_settings(tmp_path, max_message_size=10_000)) as svc:
        box, _ = await live_box(svc)
        big = (b"Subject: big\r\n\r\n" + b"x" * 76 + b"\r\n") * 200

        def undeclared_size() -> int:
            with smtplib.SMTP("127.0.0.1", svc.smtp_port, timeout=10) as smtp:
                smtp.ehlo()
                smtp.mail("a@example.org")  # no SIZE= declared: the limit bites at DATA
                smtp.rcpt(box)
                code, _ = smtp.data(big)
                smtp.sendmail("a@example.org", [box], SIMPLE)  # same session still works
                return code

        assert await asyncio.to_thread(undeclared_size) == 552
        with pytest.raises(smtplib.SMTPSenderRefused) as info:  # SIZE= declared: 552 at MAIL
            await svc.send(big, [box])
        assert info.value.smtp_code == 552
        rows = await stored(svc, box)
        assert [r["subject"] for r in rows] == ["hi"]


async def test_full_mailbox_answers_452(tmp_path: Path) -> None:
    async with serving(make_settings(tmp_path, mailbox_message_cap=2)) as svc:
        box, _ = await live_box(svc)
        await svc.send(SIMPLE, [box])
        await svc.send(SIMPLE, [box])
        with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
            await svc.send(SIMPLE, [box])
        assert info.value.recipients[box][0] == 452
        assert len(await stored(svc, box)) == 2


async def test_expired_mailbox_stops_receiving_at_once(running: Running) -> None:
    box, _ = await live_box(running)
    async with running.engine.begin() as conn:
        await conn.execute(update(mailboxes).where(mailboxes.c.address == box).values(expire_at=1))
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        await running.send(SIMPLE, [box])


async def test_missing_from_uses_envelope_sender(running: Running) -> None:
    box, _ = await live_box(running)
    await running.send(b"Subject: no from\r\n\r\nbody\r\n", [box], sender="bounce@lists.example")
    (row,) = await stored(running, box)
    assert row["from_email"] == "bounce@lists.example"
    assert row["envelope_from"] == "bounce@lists.example"


async def test_graceful_stop_refuses_new_mail_with_421(tmp_path: Path) -> None:
    svc = await start_service(make_settings(tmp_path))
    email, _ = await svc.new_user()
    box = await svc.new_mailbox(email)
    smtp = await asyncio.to_thread(smtplib.SMTP, "127.0.0.1", svc.smtp_port, timeout=10)
    await asyncio.to_thread(smtp.ehlo)
    svc.service.gate.closing = True  # what stop() sets before draining sessions
    code, _ = await asyncio.to_thread(smtp.mail, "a@example.org")
    assert code == 421
    with pytest.raises(smtplib.SMTPServerDisconnected):  # 421 closes the channel
        await asyncio.to_thread(smtp.noop)
    smtp.close()
    assert await stored(svc, box) == []
    await svc.service.stop(grace=1)
