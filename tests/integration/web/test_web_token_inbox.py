"""The token inbox: one mailbox life, read-only, no account; dead after delete, rename and
expiry, each said as such; never a way into another mailbox."""

from __future__ import annotations

import httpx
import pytest

from tests.support import Running
from tests.support.events import events, next_event
from tests.support.reader import (
    delete,
    expire,
    hostile_message,
    message_ids,
    rename,
    text_message,
    token_of,
    web_mailbox,
)
from tests.support.web import new_web_user


async def _shared(running: Running) -> tuple[str, str, str, str]:
    """(owner, mailbox, token, message id)."""
    owner = await new_web_user(running)
    box = await web_mailbox(running, owner)
    await running.send(hostile_message(box, "http://remote.example"), [box])
    (mid,) = await message_ids(running, box)
    return owner, box, await token_of(running, box), mid


def _paths(token: str, mid: str) -> list[str]:
    base = f"/inbox/{token}"
    return [
        base,
        base + "/list",
        f"{base}/messages/{mid}",
        f"{base}/messages/{mid}/body",
        f"{base}/messages/{mid}/source",
        f"{base}/messages/{mid}/attachments/invoice.txt",
    ]


async def test_the_token_opens_its_mailbox_read_only_without_an_account(
    running: Running,
) -> None:
    _, box, token, mid = await _shared(running)
    async with httpx.AsyncClient(base_url=running.base_url) as anonymous:
        answers = [await anonymous.get(path) for path in _paths(token, mid)]
        inbox, _, message, frame, source, attachment = answers
        assert all(a.status_code == 200 for a in answers), [a.status_code for a in answers]
        assert box in inbox.text and "Shared inbox" in inbox.text
        assert "Your order has shipped" in inbox.text
        assert 'action="/mailboxes' not in inbox.text  # nothing to change from here
        assert f'href="/inbox/{token}/messages/{mid}"' in inbox.text
        assert "Track your parcel" in frame.text and "<script" not in frame.text
        assert "default-src 'none'" in frame.headers["content-security-policy"]
        assert "Subject: Your order has shipped" in source.text
        assert attachment.content == b"Invoice 42\n"
        assert attachment.headers["content-disposition"].startswith("attachment;")
        assert "Your order has shipped" in message.text
        listed = (await anonymous.get(f"/inbox/{token}/list")).text
    assert 'class="mail-item unread"' not in listed  # reading by token marks seen, as the API


async def test_a_token_never_reaches_another_mailbox(running: Running) -> None:
    _, _, token, _ = await _shared(running)
    _, _, _, other_mid = await _shared(running)
    async with httpx.AsyncClient(base_url=running.base_url) as anonymous:
        for path in _paths(token, other_mid)[2:]:
            answer = await anonymous.get(path)
            assert answer.status_code == 404, path
            assert "Your order" not in answer.text
        forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        assert (await anonymous.get(f"/inbox/{forged}")).status_code == 404


@pytest.mark.parametrize("ending", ["deleted", "renamed", "expired"])
async def test_a_token_inbox_dies_with_its_mailbox_life_and_says_why(
    running: Running, ending: str
) -> None:
    owner, box, token, mid = await _shared(running)
    local, domain = box.split("@")
    async with httpx.AsyncClient(base_url=running.base_url) as anonymous:
        assert (await anonymous.get(f"/inbox/{token}")).status_code == 200
        if ending == "deleted":
            await delete(running, owner, box)
        elif ending == "renamed":
            await rename(running, owner, box, "moved-" + local)
        else:
            await expire(running, box)
        said = "has expired" if ending == "expired" else f"was {ending}"
        for path in _paths(token, mid):
            answer = await anonymous.get(path)
            assert answer.status_code == 410, path
            assert f"This mailbox {said}" in answer.text, path
            assert "Your order" not in answer.text and "Invoice" not in answer.text
            assert "moved-" not in answer.text  # a rename does not tell the new address
        if ending == "renamed":  # the new life has a token of its own
            fresh = await token_of(running, f"moved-{local}@{domain}")
            assert (await anonymous.get(f"/inbox/{fresh}")).status_code == 200


async def test_the_token_stream_tells_new_mail(running: Running) -> None:
    _, box, token, _ = await _shared(running)
    async with (
        httpx.AsyncClient(base_url=running.base_url) as anonymous,
        anonymous.stream("GET", f"/inbox/{token}/events?since=0") as live,
    ):
        stream = events(live)
        assert (await next_event(stream))["event"] == "message.received"  # the one there
        await running.send(text_message(box, "Arrived live"), [box])
        event = await next_event(stream)
    assert event["data"]["subject"] == "Arrived live"
