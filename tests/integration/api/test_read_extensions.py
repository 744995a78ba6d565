"""Extensions for test suites over real HTTP and real SMTP: a message's codes and links
(`…/extract`) and its raw source (`…/raw`), for an API key and for an email_token."""

from __future__ import annotations

import hashlib

import httpx

from ephemail.store import messages as store
from tests.support import Running
from tests.support.extract_corpus import CASES

SIGNUP = next(case for case in CASES if case.name == "en_signup_alternative")


async def _user_box(running: Running) -> tuple[str, str]:
    email, key = await running.new_user()
    return key, await running.new_mailbox(email)


async def _only_message(client: httpx.AsyncClient, box: str) -> dict[str, object]:
    listing = (await client.get("/api/messages", params={"email": box})).json()
    (message,) = listing["messages"]
    assert isinstance(message, dict)
    return message


async def test_extract_gives_code_and_links_without_marking_the_message_seen(
    running: Running,
) -> None:
    key, box = await _user_box(running)
    await running.send(SIGNUP.raw, [box])
    async with running.client(key) as client:
        message_id = (await _only_message(client, box))["id"]
        before = int((await client.get("/api/domains")).headers["X-RateLimit-Used"])
        response = await client.get(f"/api/messages/{message_id}/extract")
        assert response.status_code == 200
        assert int(response.headers["X-RateLimit-Used"]) == before + 1  # counted like any 2xx
        body = response.json()
        assert body["status"] is True and body["data"]["id"] == message_id
        assert body["data"]["codes"][0]["code"] == "482913"
        assert "482913" in body["data"]["codes"][0]["context"]
        first = body["data"]["links"][0]
        assert first == {"url": SIGNUP.link, "text": "Confirm email", "kind": "verify"}
        assert body["data"]["links"][-1]["kind"] == "unsubscribe"
        assert (await _only_message(client, box))["is_seen"] is False


async def test_raw_is_the_exact_bytes_received_matching_the_stored_digest(
    running: Running,
) -> None:
    key, box = await _user_box(running)
    raw = (
        b"From: Shop <no-reply@shop.example>\r\nTo: " + box.encode() + b"\r\n"
        b"Subject: =?utf-8?q?Ihr_Code?=\r\nContent-Type: text/plain; charset=latin-1\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\nK\xf6de 4455\r\n..dot line\r\n  trailing \r\n"
    )
    await running.send(raw, [box])
    async with running.client(key) as client:
        message_id = (await _only_message(client, box))["id"]
        response = await client.get(f"/api/messages/{message_id}/raw")
    assert response.status_code == 200
    assert response.headers["content-type"] == "message/rfc822"
    assert response.headers["content-disposition"] == f'attachment; filename="{message_id}.eml"'
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content == raw  # smtplib dot-stuffed "..dot", the server undid it
    async with running.engine.connect() as conn:
        stored = await store.raw_message(conn, str(message_id))
    assert stored is not None
    assert hashlib.sha256(response.content).hexdigest() == stored[1]


async def test_someone_elses_or_a_missing_message_is_404_and_not_counted(
    running: Running,
) -> None:
    key, box = await _user_box(running)
    other_key, _ = await _user_box(running)
    await running.send(SIGNUP.raw, [box])
    async with running.client(key) as client:
        message_id = (await _only_message(client, box))["id"]
    async with running.client(other_key) as other:
        for tail in ("extract", "raw"):
            foreign = await other.get(f"/api/messages/{message_id}/{tail}")
            missing = await other.get(f"/api/messages/{'x' * 46}/{tail}")
            short = await other.get(f"/api/messages/nope/{tail}")
            for response in (foreign, missing, short):
                assert response.status_code == 404
                assert response.json() == {"status": False, "message": "Message not found."}
        assert int((await other.get("/api/domains")).headers["X-RateLimit-Used"]) == 1


async def test_token_routes_extract_and_raw_and_die_with_the_mailbox(running: Running) -> None:
    _, key = await running.new_user()
    async with running.client(key) as client:
        created = (await client.post("/api/emails")).json()["data"]
        box, token = created["email"], created["email_token"]
        await running.send(SIGNUP.raw, [box])
        message_id = (await _only_message(client, box))["id"]
        async with running.client() as anonymous:
            base = f"/api/token/{token}/messages/{message_id}"
            extracted = await anonymous.get(f"{base}/extract")
            assert extracted.status_code == 200
            assert extracted.json()["data"]["codes"][0]["code"] == "482913"
            assert "X-RateLimit-Used" in extracted.headers  # counted for the owner
            raw = await anonymous.get(f"{base}/raw")
            assert raw.status_code == 200 and b"482913" in raw.content
            assert (await client.delete(f"/api/emails/{box}")).status_code == 200
            for tail in ("extract", "raw"):
                dead = await anonymous.get(f"{base}/{tail}")
                assert dead.status_code == 404


async def test_extract_and_raw_are_documented_with_examples(running: Running) -> None:
    async with running.client() as client:
        spec = (await client.get("/api/openapi.json")).json()
    paths = spec["paths"]
    extract = paths["/api/messages/{message_id}/extract"]["get"]["responses"]["200"]
    assert extract["content"]["application/json"]["example"]["data"]["codes"]
    raw = paths["/api/messages/{message_id}/raw"]["get"]["responses"]["200"]
    assert "message/rfc822" in raw["content"]
    assert "/api/token/{email_token}/messages/{message_id}/extract" in paths
    assert "/api/token/{email_token}/messages/{message_id}/raw" in paths
