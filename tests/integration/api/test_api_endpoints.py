"""Every User API endpoint over real HTTP, its shape checked against the contract's examples."""

from __future__ import annotations

import smtplib
from urllib.parse import quote

import pytest
from sqlalchemy import func, select, update

from ephemail.store.schema import attachments, mailboxes, messages
from tests.support import Running
from tests.support.contract import (
    DELETE_EMAIL_EXAMPLE,
    DELETE_MESSAGE_EXAMPLE,
    DOMAINS_EXAMPLE,
    MAILBOX_EXAMPLE,
    MESSAGE_ONE_EXAMPLE,
    MESSAGES_EXAMPLE,
    assert_shape,
    rate,
)
from tests.support.samples import GREEK_NAME, rich_message


async def create_box(running: Running, key: str, **params: str) -> dict[str, object]:
    async with running.client(key) as client:
        response = await client.post("/api/emails", params=params)
    assert response.status_code == 200, response.text
    data: dict[str, object] = response.json()["data"]
    return data


async def test_domains_shape_and_types(running: Running) -> None:
    async with running.client(running.admin_key) as client:
        response = await client.get("/api/domains", params={"type": "free"})
        assert response.status_code == 200
        body = response.json()
        assert_shape(body, DOMAINS_EXAMPLE)
        assert body["data"]["requested_type"] == "free"
        assert body["data"]["domains"] == [
            {"domain": "ephemail.test", "type": "Free", "custom": False}
        ]
        everything = (await client.get("/api/domains")).json()["data"]
        assert everything["requested_type"] == "all"
        assert everything["allowed_types"] == ["free", "premium", "custom"]
        assert (await client.get("/api/domains", params={"type": "all"})).json()[
            "data"
        ] == everything


async def test_custom_domains_are_the_owners_only(running: Running) -> None:
    owner, owner_key = await running.new_user()
    _, other_key = await running.new_user()
    from ephemail.store.domains import add_domain

    async with running.engine.begin() as conn:
        await add_domain(conn, "mine.example", type_="custom", owner_email=owner)
    async with running.client(owner_key) as client:
        domains = (await client.get("/api/domains", params={"type": "custom"})).json()["data"]
    assert domains["domains"] == [{"domain": "mine.example", "type": "Custom", "custom": True}]
    async with running.client(other_key) as client:
        domains = (await client.get("/api/domains", params={"type": "custom"})).json()["data"]
        assert domains["domains"] == []
        refused = await client.post("/api/emails", json={"domain": "mine.example"})
    assert refused.status_code == 422  # as for a domain not served at all: nothing leaks


async def test_a_random_mailbox_never_lands_on_another_accounts_domain(running: Running) -> None:
    """The other user's plan allows custom domains: random choice still takes only its own."""
    from ephemail.store.domains import add_domain

    await running.roomy_default_plan()
    owner, _ = await running.new_user()
    other, other_key = await running.new_user()
    theirs = [f"theirs{i}.example" for i in range(8)]
    async with running.engine.begin() as conn:
        for name in theirs:
            await add_domain(conn, name, type_="custom", owner_email=owner)
        await add_domain(conn, "mine-too.example", type_="custom", owner_email=other)
    seen: set[str] = set()
    async with running.client(other_key) as client:
        for _ in range(200):
            response = await client.post("/api/emails")
            assert response.status_code == 200, response.text
            seen.add(response.json()["data"]["domain"])
    assert seen == {"ephemail.test", "mine-too.example"}, seen


async def test_create_mailbox_shape_and_lifetime(running: Running) -> None:
    async with running.client(running.admin_key) as client:
        response = await client.post("/api/emails")
    assert response.status_code == 200
    body = response.json()
    assert_shape(body, MAILBOX_EXAMPLE)
    data = body["data"]
    assert data["email"].endswith("@ephemail.test") and data["domain"] == "ephemail.test"
    assert 598 <= data["expires_in_seconds"] <= 600
    local = data["email"].split("@")[0]
    assert local.isalnum() and local == local.lower() and len(local) >= 10


async def test_create_mailbox_with_chosen_username_by_body_or_query(running: Running) -> None:
    async with running.client(running.admin_key) as client:
        by_body = await client.post(
            "/api/emails", json={"username": "Demo.One", "domain": "ephemail.test"}
        )
        by_query = await client.post("/api/emails", params={"username": "demo-two"})
        taken = await client.post("/api/emails", json={"username": "demo.one"})
    assert by_body.json()["data"]["email"] == "demo.one@ephemail.test"
    assert by_query.json()["data"]["email"] == "demo-two@ephemail.test"
    assert taken.status_code == 409
    assert taken.json()["status"] is False


async def test_list_and_read_messages_shape(running: Running) -> None:
    box = str((await create_box(running, running.admin_key))["email"])
    await running.send(rich_message(box), [box])
    await running.send(rich_message(box, "Second"), [box])
    async with running.client(running.admin_key) as client:
        listing = await client.get("/api/messages", params={"email": box})
        assert listing.status_code == 200
        body = listing.json()
        assert_shape(body, MESSAGES_EXAMPLE)
        assert body["mailbox"] == box
        newest, oldest = body["messages"]
        assert (newest["subject"], oldest["subject"]) == ("Second", "Welcome to Temp Mail")
        assert oldest["from"] == "Example Sender" and oldest["from_email"] == "hello@example.org"
        assert oldest["to"] == box and oldest["html"] is True
        assert oldest["content"].strip() == "<p>Hello from the inbox.</p>"
        assert oldest["is_seen"] is False
        names = [a["name"] for a in oldest["attachments"]]
        assert names == ["file.txt", GREEK_NAME]
        first = oldest["attachments"][0]
        assert (first["extension"], first["size"]) == ("txt", 91)
        assert (
            first["url"] == f"{running.base_url}/api/messages/{oldest['id']}/attachments/file.txt"
        )
        assert oldest["attachments"][1]["url"].endswith(quote(GREEK_NAME, safe=""))

        one = await client.get(f"/api/messages/{oldest['id']}")
        assert one.status_code == 200
        assert_shape(one.json(), MESSAGE_ONE_EXAMPLE)
        assert one.json()["data"]["is_seen"] is True  # the reading response already says so
        again = (await client.get("/api/messages", params={"email": box})).json()
        assert [m["is_seen"] for m in again["messages"]] == [False, True]


async def test_attachment_download_headers(running: Running) -> None:
    box = str((await create_box(running, running.admin_key))["email"])
    await running.send(rich_message(box), [box])
    async with running.client(running.admin_key) as client:
        (message,) = (await client.get("/api/messages", params={"email": box})).json()["messages"]
        url = message["attachments"][1]["url"]
        response = await client.get(url)
    assert response.status_code == 200
    assert response.content == b"%PDF-1.4 fake"
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-length"] == str(len(b"%PDF-1.4 fake"))
    assert response.headers["x-content-type-options"] == "nosniff"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=")
    assert f"filename*=UTF-8''{quote(GREEK_NAME, safe='')}" in disposition
    assert "\r" not in disposition and "\n" not in disposition
    rate(response.headers)


async def test_delete_message(running: Running) -> None:
    box = str((await create_box(running, running.admin_key))["email"])
    await running.send(rich_message(box), [box])
    async with running.client(running.admin_key) as client:
        (message,) = (await client.get("/api/messages", params={"email": box})).json()["messages"]
        response = await client.delete(f"/api/messages/{message['id']}")
        assert response.status_code == 200
        assert_shape(response.json(), DELETE_MESSAGE_EXAMPLE)
        assert response.json() == DELETE_MESSAGE_EXAMPLE
        assert (await client.get(f"/api/messages/{message['id']}")).status_code == 404
        assert (await client.delete(f"/api/messages/{message['id']}")).status_code == 404
        assert (await client.get("/api/messages", params={"email": box})).json()["messages"] == []


async def test_delete_mailbox_removes_messages_and_attachments(running: Running) -> None:
    box = str((await create_box(running, running.admin_key))["email"])
    await running.send(rich_message(box), [box])
    async with running.client(running.admin_key) as client:
        response = await client.delete(f"/api/emails/{box}")
        assert response.status_code == 200
        assert response.json() == DELETE_EMAIL_EXAMPLE
        assert (await client.get("/api/messages", params={"email": box})).status_code == 404
        assert (await client.delete(f"/api/emails/{box}")).status_code == 404
    async with running.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(messages))).scalar() == 0
        assert (await conn.execute(select(func.count()).select_from(attachments))).scalar() == 0
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        await running.send(b"Subject: late\r\n\r\nx\r\n", [box])


async def test_rename_keeps_messages_and_expiry_and_kills_old_address_and_token(
    running: Running,
) -> None:
    created = await create_box(running, running.admin_key)
    old, old_token = str(created["email"]), str(created["email_token"])
    await running.send(rich_message(old), [old])
    async with running.client(running.admin_key) as client:
        response = await client.post(f"/api/emails/{old}/renamed.box/ephemail.test")
        assert response.status_code == 200, response.text
        assert_shape(response.json(), MAILBOX_EXAMPLE)
        data = response.json()["data"]
        assert data["email"] == "renamed.box@ephemail.test"
        assert data["id"] == created["id"] and data["expire_at"] == created["expire_at"]
        assert data["email_token"] != old_token
        moved = (await client.get("/api/messages", params={"email": data["email"]})).json()
        assert [m["subject"] for m in moved["messages"]] == ["Welcome to Temp Mail"]
        assert (await client.get("/api/messages", params={"email": old})).status_code == 404
    async with running.client() as anonymous:
        assert (await anonymous.get(f"/api/token/{old_token}/messages")).status_code == 404
        fresh = await anonymous.get(f"/api/token/{data['email_token']}/messages")
        assert fresh.status_code == 200
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        await running.send(b"Subject: old\r\n\r\nx\r\n", [old])
    await running.send(b"Subject: new\r\n\r\nx\r\n", [data["email"]])


async def test_token_routes_read_without_key_and_count_for_the_owner(running: Running) -> None:
    created = await create_box(running, running.admin_key)
    box, token = str(created["email"]), str(created["email_token"])
    await running.send(rich_message(box), [box])
    async with running.client(running.admin_key) as client:
        before = rate((await client.get("/api/domains")).headers)[1]
    async with running.client() as anonymous:
        listing = await anonymous.get(f"/api/token/{token}/messages")
        assert listing.status_code == 200
        assert_shape(listing.json(), MESSAGES_EXAMPLE)
        message = listing.json()["messages"][0]
        url = message["attachments"][0]["url"]
        assert url.startswith(f"{running.base_url}/api/token/{token}/messages/")
        assert (await anonymous.get(url)).content == b"x" * 91
        one = await anonymous.get(f"/api/token/{token}/messages/{message['id']}")
        assert_shape(one.json(), MESSAGE_ONE_EXAMPLE)
        assert rate(one.headers)[1] == before + 3  # listing, attachment, message
    async with running.client(running.admin_key) as client:
        after = rate((await client.get("/api/domains")).headers)[1]
    assert after == before + 4  # the owner's quota counts token and keyed requests alike


async def test_expired_mailbox_answers_404_and_sweeper_purges_it(running: Running) -> None:
    from ephemail.sweeper import sweep_once

    created = await create_box(running, running.admin_key)
    box, token = str(created["email"]), str(created["email_token"])
    await running.send(rich_message(box), [box])
    async with running.client(running.admin_key) as client:
        (message,) = (await client.get("/api/messages", params={"email": box})).json()["messages"]
    async with running.engine.begin() as conn:
        await conn.execute(update(mailboxes).where(mailboxes.c.address == box).values(expire_at=1))
    async with running.client(running.admin_key) as client:
        assert (await client.get("/api/messages", params={"email": box})).status_code == 404
        assert (await client.get(f"/api/messages/{message['id']}")).status_code == 404
        assert (await client.get(message["attachments"][0]["url"])).status_code == 404
        assert (await client.delete(f"/api/emails/{box}")).status_code == 404
    async with running.client() as anonymous:
        assert (await anonymous.get(f"/api/token/{token}/messages")).status_code == 404
    assert await sweep_once(running.engine, batch=1) == 1
    async with running.engine.connect() as conn:
        for table in (mailboxes, messages, attachments):
            assert (await conn.execute(select(func.count()).select_from(table))).scalar() == 0
    async with running.client(running.admin_key) as client:  # the address is free again
        again = await client.post("/api/emails", json={"username": box.split("@")[0]})
    assert again.status_code == 200


async def test_sweeper_works_in_batches(running: Running) -> None:
    from ephemail.sweeper import sweep_once

    email, _ = await running.new_user()
    for _ in range(7):
        await running.new_mailbox(email)
    async with running.engine.begin() as conn:
        await conn.execute(update(mailboxes).values(expire_at=1))
    assert await sweep_once(running.engine, batch=3) == 7


async def test_openapi_documents_every_route_with_models(running: Running) -> None:
    async with running.client() as client:
        spec = (await client.get("/api/openapi.json")).json()
        docs = await client.get("/api/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    paths = spec["paths"]
    expected = {
        ("/api/domains", "get"),
        ("/api/emails", "post"),
        ("/api/emails/{current_email}/{new_username}/{domain}", "post"),
        ("/api/emails/{email}", "delete"),
        ("/api/messages", "get"),
        ("/api/messages/{message_id}", "get"),
        ("/api/messages/{message_id}", "delete"),
        ("/api/messages/{message_id}/attachments/{name}", "get"),
        ("/api/token/{email_token}/messages", "get"),
        ("/api/token/{email_token}/messages/{message_id}", "get"),
        ("/api/token/{email_token}/messages/{message_id}/attachments/{name}", "get"),
    }
    documented = {(p, m) for p, ops in paths.items() for m in ops}
    assert expected <= documented
    for path, method in expected:
        responses = paths[path][method]["responses"]
        assert "404" in responses or path == "/api/emails" or path == "/api/domains", path
        assert "500" in responses, path
    message_schema = spec["components"]["schemas"]["MessageItem"]["properties"]
    assert {"from", "receivedAt", "is_seen", "attachments"} <= set(message_schema)
