"""A listing's answer is bounded whatever the mailbox holds; the full body stays one GET away.

Large messages go in over real SMTP; the answers are read over real HTTP, through the hot
path and through the FastAPI route alone, which must give the same bytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from ephemail.api.app import create_api
from ephemail.api.reading import LISTING_CONTENT_CHARS, LISTING_MAX_BYTES
from tests.support import Running, make_settings, serving


def big_mail(to: str, lines: int, tag: str) -> bytes:
    """Plain text of `lines` numbered 80-byte lines, so a cut can be checked exactly."""
    body = "".join(f"{tag} {i:07d} " + "y" * (70 - len(tag)) + "\r\n" for i in range(lines))
    return f"From: a@example.org\r\nTo: {to}\r\nSubject: {tag}\r\n\r\n{body}".encode()


@pytest.fixture(params=["sqlite", "postgresql"])
async def service(
    request: pytest.FixtureRequest, tmp_path: Path, pg_url: str
) -> AsyncIterator[Running]:
    overrides = {} if request.param == "sqlite" else {"database_url": pg_url}
    async with serving(make_settings(tmp_path, **overrides)) as svc:
        yield svc


def route_only_client(running: Running, key: str) -> httpx.AsyncClient:
    """The same API without the hot path: every request goes through FastAPI's routes."""
    app = create_api(running.service.api_context, hot_path=False)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=running.base_url,
        headers={"Authorization": f"Bearer {key}", "Accept": "application/json"},
    )


async def listing(client: httpx.AsyncClient, box: str, **params: str) -> httpx.Response:
    return await client.get("/api/messages", params={"email": box, **params})


async def test_large_bodies_are_cut_in_the_listing_and_whole_when_read(service: Running) -> None:
    box = await service.new_mailbox("admin@localhost.localdomain")
    lines = 3 * 1024 * 1024 // 80  # 3 MiB of text each
    for tag in ("one", "two", "three"):
        assert await service.send(big_mail(box, lines, tag), [box]) == {}
    small = b"From: a@example.org\r\nSubject: small\r\n\r\nordinary mail\r\n"
    assert await service.send(small, [box]) == {}

    async with service.client(service.admin_key) as client:
        answer = await listing(client, box)
        assert answer.status_code == 200
        # Today's answer for these four is 9 MiB; bounded, it is four cut bodies.
        assert len(answer.content) < 3 * (LISTING_CONTENT_CHARS + 4096) + 4096
        body = answer.json()
        assert "next_before" not in body
        ordinary, *large = body["messages"]
        assert ordinary["subject"] == "small" and "content_truncated" not in ordinary
        assert ordinary["content"].strip() == "ordinary mail"
        assert [m["subject"] for m in large] == ["three", "two", "one"]
        for item in large:
            assert item["content_truncated"] is True
            assert len(item["content"]) == LISTING_CONTENT_CHARS
            whole = await client.get(f"/api/messages/{item['id']}")
            assert whole.status_code == 200
            content = whole.json()["data"]["content"]
            assert "content_truncated" not in whole.json()["data"]
            assert content.startswith(item["content"])
            assert content.count("\n") == lines and f"{item['subject']} {lines - 1:07d}" in content

    async with route_only_client(service, service.admin_key) as client:
        routed = await listing(client, box)
    async with service.client(service.admin_key) as client:
        hot = await listing(client, box)  # the same versions: seen flags changed above
    assert routed.status_code == hot.status_code == 200
    assert routed.content == hot.content


async def test_paging_with_limit_and_before(service: Running) -> None:
    box = await service.new_mailbox("admin@localhost.localdomain")
    other = await service.new_mailbox("admin@localhost.localdomain")
    for i in range(5):
        mail = f"From: a@example.org\r\nSubject: m{i}\r\n\r\nbody {i}\r\n".encode()
        assert await service.send(mail, [box]) == {}
    assert await service.send(b"Subject: elsewhere\r\n\r\nx\r\n", [other]) == {}

    async with service.client(service.admin_key) as client:
        everything = (await listing(client, box)).json()
        assert [m["subject"] for m in everything["messages"]] == [f"m{i}" for i in range(4, -1, -1)]
        assert "next_before" not in everything

        seen: list[str] = []
        before: dict[str, str] = {}
        pages = 0
        while True:
            page = (await listing(client, box, limit="2", **before)).json()
            pages += 1
            seen += [m["subject"] for m in page["messages"]]
            if "next_before" not in page:
                break
            assert page["next_before"] == page["messages"][-1]["id"]
            before = {"before": page["next_before"]}
        assert seen == [f"m{i}" for i in range(4, -1, -1)] and pages == 3

        for params, field in (
            ({"limit": "0"}, "limit"),
            ({"limit": "1001"}, "limit"),
            ({"before": "nope"}, "before"),
        ):
            refused = await listing(client, box, **params)
            assert refused.status_code == 422, params
            assert field in refused.json()["errors"]
        foreign = (await listing(client, other)).json()["messages"][0]["id"]
        refused = await listing(client, box, before=foreign)
        assert refused.status_code == 422 and "before" in refused.json()["errors"]
        assert (await listing(client, box, limit="abc")).status_code == 422

    async with (
        route_only_client(service, service.admin_key) as routed,
        service.client(service.admin_key) as hot,
    ):
        for params in ({"limit": "2"}, {"limit": "0"}, {"before": foreign}, {}):
            a, b = await listing(routed, box, **params), await listing(hot, box, **params)
            assert (a.status_code, a.content) == (b.status_code, b.content), params


async def test_a_listing_answer_stops_at_its_byte_bound(running: Running) -> None:
    """More cut bodies than fit in one answer: pages of at most LISTING_MAX_BYTES."""
    box = await running.new_mailbox("admin@localhost.localdomain")
    per_message = LISTING_CONTENT_CHARS + 2048
    count = LISTING_MAX_BYTES // LISTING_CONTENT_CHARS + 3
    mail = big_mail(box, per_message // 80, "fill")
    for _ in range(count):
        assert await running.send(mail, [box]) == {}

    async with running.client(running.admin_key) as client:
        first = await listing(client, box)
        assert first.status_code == 200
        assert len(first.content) <= LISTING_MAX_BYTES
        page = first.json()
        ids = [m["id"] for m in page["messages"]]
        assert 0 < len(ids) < count
        rest = (await listing(client, box, before=page["next_before"])).json()
        assert "next_before" not in rest
        ids += [m["id"] for m in rest["messages"]]
    assert len(ids) == len(set(ids)) == count


async def test_the_token_listing_is_bounded_too(running: Running) -> None:
    async with running.client(running.admin_key) as client:
        created = (await client.post("/api/emails")).json()["data"]
    box, token = created["email"], created["email_token"]
    lines = 2 * LISTING_CONTENT_CHARS // 80
    assert await running.send(big_mail(box, lines, "tok"), [box]) == {}

    async with running.client() as client:
        answer = await client.get(f"/api/token/{token}/messages")
        assert answer.status_code == 200
        (item,) = answer.json()["messages"]
        assert item["content_truncated"] is True
        assert len(item["content"]) == LISTING_CONTENT_CHARS
        whole = (await client.get(f"/api/token/{token}/messages/{item['id']}")).json()["data"]
        assert whole["content"].startswith(item["content"])
        assert whole["content"].count("\n") == lines
